/* auth_check.c: one forward-auth check: the GET to the auth service, and its answer turned into a decision. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "auth.h"

#define AUTH_MAX_BODY (64 * 1024)
#define AUTH_MAX_HEADERS 100              /* more fail the check: a cap must not drop a copied header */
#define AUTH_MAX_HEADER_BYTES (64 * 1024) /* names and values of the kept fields together; more fail the check too */

/* A check in flight: the response as it arrives, and whom to tell the decision. */
typedef struct auth_check {
    CURL *easy;
    int final_head_done; /* the final (non-1xx) head ended: later header lines are trailers */
    pd_auth_decided_cb on_decided;
    void *data;
    struct curl_slist *headers;
    char *url;
    long status;
    pd_auth_header_t kept[AUTH_MAX_HEADERS];
    size_t num_kept;
    size_t kept_bytes;
    int too_many_headers;
    int too_many_header_bytes;
    int malformed_header; /* a line of a head that is not "token: value" */
    char *body;
    size_t body_len;
    int body_truncated;
    char *cache_control;
} auth_check_t;

static const pd_config_t *settings;

void auth_check_init(const pd_config_t *conf)
{
    settings = conf;
}

/* A denial is relayed to the client as the auth service sent it, minus what frames
 * or belongs to that one connection; an allow takes only copy_headers and
 * response_headers from it. */
static int wanted_header(const char *name)
{
    static const char *const hop_by_hop[] = {"connection",
                                             "keep-alive",
                                             "te",
                                             "trailer",
                                             "transfer-encoding",
                                             "upgrade",
                                             "proxy-connection",
                                             "proxy-authenticate",
                                             "content-length",
                                             "date",
                                             "server",
                                             NULL};
    size_t i;

    for (i = 0; hop_by_hop[i] != NULL; i++)
        if (strcmp(name, hop_by_hop[i]) == 0)
            return 0;
    return 1;
}

static void forget_kept(auth_check_t *check)
{
    size_t i;

    for (i = 0; i < check->num_kept; i++) {
        free(check->kept[i].name);
        free(check->kept[i].value);
    }
    check->num_kept = 0;
    check->kept_bytes = 0;
}

/* libcurl passes every head's lines here: 1xx interim heads, the final head, then
 * the trailers of a chunked body. Only the final head decides (issue 7): an X-User
 * in a 103 or in a trailer is never copied upstream. Returns 1 for a line to keep. */
static int in_final_head(auth_check_t *check, const char *line, size_t len)
{
    long status = 0;

    if (check->final_head_done)
        return 0;
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) { /* a new head: what an interim one said is dropped */
        forget_kept(check);
        return 0;
    }
    if (len <= 2 && (line[0] == '\r' || line[0] == '\n')) { /* the end of a head */
        curl_easy_getinfo(check->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200)
            check->final_head_done = 1;
        return 0;
    }
    return 1;
}

/* CURLOPT_HEADERFUNCTION: keeps the headers a decision may need, names in lower case. */
static size_t on_header(char *line, size_t size, size_t n, void *data)
{
    auth_check_t *check = data;
    size_t len = size * n, i;
    char *colon = memchr(line, ':', len), *name, *value;

    if (!in_final_head(check, line, len))
        return len;
    /* RFC 9112 §5.1, §5.2: a folded line, or a space before the colon, would reach
     * the client as a field it may take for another ("Content-Length : 9") */
    if (colon == NULL || !http_is_token(line, (size_t)(colon - line))) {
        check->malformed_header = 1;
        return len;
    }
    if (check->num_kept == AUTH_MAX_HEADERS) {
        check->too_many_headers = 1;
        return len;
    }
    if ((name = strndup(line, colon - line)) == NULL)
        fatal("%s", __func__);
    for (i = 0; name[i] != '\0'; i++)
        name[i] = tolower((unsigned char)name[i]);
    if (!wanted_header(name)) {
        free(name);
        return len;
    }
    for (colon++; colon < line + len && (*colon == ' ' || *colon == '\t'); colon++)
        ;
    i = line + len - colon;
    while (i > 0 && (colon[i - 1] == '\r' || colon[i - 1] == '\n' || colon[i - 1] == ' '))
        i--;
    if ((check->kept_bytes += strlen(name) + i) > AUTH_MAX_HEADER_BYTES) {
        check->too_many_header_bytes = 1;
        free(name);
        return len;
    }
    if ((value = strndup(colon, i)) == NULL)
        fatal("%s", __func__);
    check->kept[check->num_kept].name = name;
    check->kept[check->num_kept++].value = value;
    return len;
}

/* CURLOPT_WRITEFUNCTION: the body, up to AUTH_MAX_BODY (a deny relays it). */
static size_t on_body(char *chunk, size_t size, size_t n, void *data)
{
    auth_check_t *check = data;
    size_t len = size * n, take = len;

    if (check->body_len + take > AUTH_MAX_BODY) {
        take = AUTH_MAX_BODY - check->body_len;
        check->body_truncated = 1;
    }
    if (take != 0) {
        if ((check->body = realloc(check->body, check->body_len + take)) == NULL)
            fatal("%s", __func__);
        memcpy(check->body + check->body_len, chunk, take);
        check->body_len += take;
    }
    return len;
}

static pd_auth_decision_t *new_decision(int kind, int status)
{
    pd_auth_decision_t *d = calloc(1, sizeof(*d));

    if (d == NULL)
        fatal("%s", __func__);
    d->refcnt = 1;
    d->kind = kind;
    d->status = status;
    return d;
}

/* A 503 that says why, as printf formats it. */
pd_auth_decision_t *auth_decision_fail(const char *fmt, ...)
{
    pd_auth_decision_t *d = new_decision(PD_AUTH_FAIL, 503);
    va_list ap;
    int ret;

    va_start(ap, fmt);
    ret = vasprintf(&d->message, fmt, ap);
    va_end(ap);
    if (ret < 0)
        fatal("%s", __func__);
    return d;
}

/* Copies the kept headers that `keep` selects (all with NULL) into `*headers`. */
static void take_headers(auth_check_t *check, int (*keep)(const char *), pd_auth_header_t **headers, size_t *num)
{
    size_t i;

    if ((*headers = calloc(check->num_kept + 1, sizeof(**headers))) == NULL)
        fatal("%s", __func__);
    for (i = 0; i < check->num_kept; i++) {
        if (keep != NULL && !keep(check->kept[i].name))
            continue;
        if (((*headers)[*num].name = strdup(check->kept[i].name)) == NULL ||
            ((*headers)[*num].value = strdup(check->kept[i].value)) == NULL)
            fatal("%s", __func__);
        (*num)++;
    }
}

static int is_listed(const char *name, char *const *list, size_t num)
{
    size_t i;

    for (i = 0; i < num; i++)
        if (strcmp(name, list[i]) == 0)
            return 1;
    return 0;
}

static int is_copy_header(const char *name)
{
    return is_listed(name, settings->auth.copy_headers, settings->auth.num_copy_headers);
}

static int is_response_header(const char *name)
{
    return is_listed(name, settings->auth.response_headers, settings->auth.num_response_headers);
}

/* A decision that hands the client a cookie is made for that one client (a denial
 * relays every Set-Cookie, an allow those response_headers asks for). One whose
 * cookie reaches no client holds nothing for one client and may serve others. */
static int passes_cookie(const pd_auth_decision_t *d)
{
    size_t i;

    for (i = 0; i < d->num_client_headers; i++)
        if (strcmp(d->client_headers[i].name, "set-cookie") == 0)
            return 1;
    return 0;
}

/* A value we would put into the upstream request or the client's answer must not
 * carry a line break or another control character (header smuggling, RFC 9110 §5.5). */
static int has_control_char(auth_check_t *check)
{
    size_t i;
    const char *p;

    for (i = 0; i < check->num_kept; i++)
        for (p = check->kept[i].value; *p != '\0'; p++)
            if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
                return 1;
    return 0;
}

/* nginx auth_request's rules: 2xx allows; 401, 403 and 3xx go back to the client;
 * anything else, or no answer, fails closed. */
static pd_auth_decision_t *decide(auth_check_t *check, CURLcode result)
{
    pd_auth_decision_t *d;

    if (result == CURLE_OPERATION_TIMEDOUT)
        return auth_decision_fail("auth service timed out");
    if (result != CURLE_OK)
        return auth_decision_fail("auth service unavailable: %s", curl_easy_strerror(result));
    if (check->malformed_header)
        return auth_decision_fail("auth service sent a header line that is not a field name, a colon and a value");
    if (has_control_char(check))
        return auth_decision_fail("auth service sent a header with a control character");
    if (check->too_many_headers)
        return auth_decision_fail("auth service sent more than %d header fields", AUTH_MAX_HEADERS);
    if (check->too_many_header_bytes)
        return auth_decision_fail("auth service sent more than %dKiB of header fields", AUTH_MAX_HEADER_BYTES / 1024);
    if (check->status >= 200 && check->status <= 299) {
        d = new_decision(PD_AUTH_ALLOW, (int)check->status);
        take_headers(check, is_copy_header, &d->upstream_headers, &d->num_upstream_headers);
        take_headers(check, is_response_header, &d->client_headers, &d->num_client_headers);
        d->per_client = passes_cookie(d);
        return d;
    }
    if (check->status == 401 || check->status == 403 || (check->status >= 300 && check->status <= 399)) {
        /* relayed as it came, or not at all */
        if (check->body_truncated)
            return auth_decision_fail("auth service's denial is longer than %dKiB", AUTH_MAX_BODY / 1024);
        d = new_decision(PD_AUTH_DENY, (int)check->status);
        take_headers(check, NULL, &d->client_headers, &d->num_client_headers); /* a denial is relayed whole */
        d->per_client = passes_cookie(d);
        d->body = check->body;
        d->body_len = check->body_len;
        check->body = NULL;
        return d;
    }
    return auth_decision_fail("auth service answered %ld", check->status);
}

/* How long the decision may be reused: the settings, capped by the answer's Cache-Control. */
static uint64_t ttl_of(auth_check_t *check, pd_auth_decision_t *d)
{
    uint64_t ttl = d->kind == PD_AUTH_ALLOW  ? settings->auth.cache_ttl_ms
                   : d->kind == PD_AUTH_DENY ? settings->auth.negative_ttl_ms
                                             : 0;
    const char *cc = check->cache_control, *max_age;

    /* an answer that passes a cookie to the client is meant for that one client */
    if (d->per_client)
        return 0;
    if (cc == NULL || ttl == 0)
        return ttl;
    if (strcasestr(cc, "no-store") != NULL)
        return 0;
    if ((max_age = strcasestr(cc, "max-age=")) != NULL) {
        uint64_t seconds = strtoull(max_age + 8, NULL, 10);
        if (seconds * 1000 < ttl)
            ttl = seconds * 1000;
    }
    return ttl;
}

static void check_free(auth_check_t *check)
{
    forget_kept(check);
    curl_slist_free_all(check->headers);
    free(check->body);
    free(check->url);
    free(check);
}

static void on_check_done(void *data, CURL *easy, CURLcode result)
{
    auth_check_t *check = data;
    pd_auth_decision_t *d;
    size_t i;

    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &check->status);
    for (i = 0; i < check->num_kept; i++)
        if (strcmp(check->kept[i].name, "cache-control") == 0)
            check->cache_control = check->kept[i].value;
    d = decide(check, result);
    check->on_decided(check->data, d, ttl_of(check, d));
    curl_easy_cleanup(easy);
    check_free(check);
}

/* -1 for a value the auth service could not be shown as it is: it would decide on
 * something else than the cache key covers, so the check fails closed. */
static int add_header(auth_check_t *check, const char *name, h2o_iovec_t value)
{
    char *line;

    if (value.base == NULL)
        return 0;
    /* values come from parsed requests, but a header must never smuggle a line break */
    if (memchr(value.base, '\r', value.len) != NULL || memchr(value.base, '\n', value.len) != NULL ||
        memchr(value.base, '\0', value.len) != NULL)
        return -1;
    if (asprintf(&line, "%s: %.*s", name, (int)value.len, value.base) < 0)
        fatal("%s", __func__);
    check->headers = curl_slist_append(check->headers, line);
    free(line);
    return 0;
}

/* GET <auth URL>?key=<key>, with the other fields of `in` as headers, in its order. */
static CURL *new_check_request(auth_check_t *check, pd_service_t *auth_service, const pd_auth_input_t *in)
{
    CURL *easy = curl_easy_init();
    h2o_iovec_t key = {NULL, 0};
    size_t i;

    if (easy == NULL)
        fatalx("%s: curl_easy_init failed", __func__);
    check->easy = easy;
    for (i = 0; i < in->num_fields; i++) {
        const pd_auth_field_t *f = &in->fields[i];
        if (f->name == NULL) {
            key = f->value;
        } else if (add_header(check, f->name, f->value) != 0) {
            curl_easy_cleanup(easy);
            return NULL;
        }
    }
    if (asprintf(&check->url, "%s%s%.*s", auth_service->url, key.base != NULL ? "?key=" : "", (int)key.len,
                 key.base != NULL ? key.base : "") < 0)
        fatal("%s", __func__);
    check->headers = curl_slist_append(check->headers, "Expect:");
    curl_easy_setopt(easy, CURLOPT_URL, check->url);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, check->headers);
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_PROXY, ""); /* never through a proxy from the environment: the URL holds the key */
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)settings->auth.timeout_ms);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)settings->auth.timeout_ms);
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, check);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, check);
    return easy;
}

/* Asks `auth_service` about `in` for `service`; `on_decided` gets the decision (its
 * reference is handed over) and how long it may be reused, possibly before this returns. */
void auth_check_start(pd_auth_client_t *client, pd_service_t *auth_service, const pd_auth_input_t *in,
                      pd_auth_decided_cb on_decided, void *data)
{
    auth_check_t *check = calloc(1, sizeof(*check));
    CURL *easy;

    if (check == NULL)
        fatal("%s", __func__);
    check->on_decided = on_decided;
    check->data = data;
    if ((easy = new_check_request(check, auth_service, in)) == NULL) {
        on_decided(data, auth_decision_fail("a request header cannot be shown to the auth service as it is"), 0);
        check_free(check);
        return;
    }
    auth_client_start(client, easy, on_check_done, check);
}
