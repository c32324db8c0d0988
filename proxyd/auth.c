/* auth.c: forward auth: every request for a checked service waits for the auth service's decision (or the cache's). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "proxyd.h"

#define AUTH_MAX_BODY (64 * 1024)
#define AUTH_MAX_HEADERS 32

/* Per worker: its curl multi handle and the inbox for decisions made on other workers. */
struct pd_auth_worker {
    h2o_context_t *ctx;
    EVP_MD_CTX *md; /* reused for every digest: allocating one each time costs more than hashing */
    pd_auth_client_t *client;
    /* decisions made on other workers for this worker's requests; once `closed`
     * (this worker stopped) a late decision is dropped by its sender instead */
    struct {
        pthread_mutex_t lock;
        h2o_linklist_t waiters;
        uv_async_t wakeup;
        int closed;
    } inbox;
};

/* A request waiting for a decision. Owned by its worker's thread once the decision
 * is handed to it; `req` becomes NULL when the client goes away first. */
typedef struct auth_waiter {
    h2o_linklist_t link; /* in the cache entry's list, then in an inbox */
    pd_auth_worker_t *aw;
    pd_worker_t *worker;
    h2o_req_t *req;
    struct auth_waiter **slot; /* in req->pool */
    pd_service_t *service;     /* borrowed: the request holds it */
    h2o_iovec_t rest, query;   /* in req->pool; query without the key */
    pd_auth_decision_t *decision;
} auth_waiter_t;

/* The leader's transfer: the response as it arrives. */
typedef struct auth_check {
    pd_auth_entry_t *entry;
    pd_auth_worker_t *aw;
    struct curl_slist *headers;
    char *url;
    long status;
    pd_auth_header_t kept[AUTH_MAX_HEADERS];
    size_t num_kept;
    char *body;
    size_t body_len;
    char *cache_control;
} auth_check_t;

static const pd_config_t *settings;
static EVP_MD *sha256; /* fetched once: OpenSSL 3's implicit fetch per digest costs more than the digest */

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

void auth_init(const pd_config_t *conf)
{
    settings = conf;
    if ((sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
        fatalx("%s: no SHA-256 in OpenSSL", __func__);
    auth_cache_init(conf->auth.cache_size);
    registry_watch(conf->auth.service, auth_cache_clear);
}

/* ---- the request side ---- */

static h2o_iovec_t strip_key(h2o_req_t *req, h2o_iovec_t *key);

/* Every request, checked or not (auth: false), loses the client's copies of the
 * headers the auth service vouches for, and its key: no service sees either. */
h2o_iovec_t auth_scrub_request(h2o_req_t *req, h2o_iovec_t *key)
{
    size_t i;
    ssize_t at;

    for (i = 0; i < settings->auth.num_copy_headers; i++) {
        const char *name = settings->auth.copy_headers[i];
        while ((at = h2o_find_header_by_str(&req->headers, name, strlen(name), -1)) != -1)
            h2o_delete_header(&req->headers, at);
    }
    return strip_key(req, key);
}

static void apply_allow(auth_waiter_t *w, pd_auth_decision_t *d)
{
    h2o_req_t *req = w->req;
    size_t i;

    for (i = 0; i < d->num_headers; i++) {
        h2o_iovec_t name = h2o_strdup(&req->pool, d->headers[i].name, strlen(d->headers[i].name));
        h2o_iovec_t value = h2o_strdup(&req->pool, d->headers[i].value, strlen(d->headers[i].value));
        h2o_add_header_by_str(&req->pool, &req->headers, name.base, name.len, 0, NULL, value.base, value.len);
    }
    proxy_forward(req, w->worker, w->service, w->rest, w->query);
}

static void apply_deny(h2o_req_t *req, pd_auth_decision_t *d)
{
    size_t i;
    h2o_iovec_t body = h2o_strdup(&req->pool, d->body != NULL ? d->body : "", d->body_len);

    req->res.status = d->status;
    req->res.content_length = body.len;
    req->res.reason = d->status == 401 ? "Unauthorized" : d->status == 403 ? "Forbidden" : "Redirect";
    for (i = 0; i < d->num_headers; i++) {
        h2o_iovec_t name = h2o_strdup(&req->pool, d->headers[i].name, strlen(d->headers[i].name));
        h2o_iovec_t value = h2o_strdup(&req->pool, d->headers[i].value, strlen(d->headers[i].value));
        h2o_add_header_by_str(&req->pool, &req->res.headers, name.base, name.len, 1, NULL, value.base, value.len);
    }
    h2o_send_inline(req, body.base, body.len);
}

/* On the waiter's own thread: answer or forward, then free it. */
static void resume(auth_waiter_t *w)
{
    pd_auth_decision_t *d = w->decision;

    if (w->req != NULL) {
        *w->slot = NULL;
        if (d->kind == AUTH_ALLOW)
            apply_allow(w, d);
        else if (d->kind == AUTH_DENY)
            apply_deny(w->req, d);
        else
            json_error_send(w->req, 503, "Service Unavailable", d->message, w->service->name);
    }
    auth_decision_decref(d);
    free(w);
}

static void on_inbox(uv_async_t *async)
{
    pd_auth_worker_t *aw = async->data;
    h2o_linklist_t waiters;

    h2o_linklist_init_anchor(&waiters);
    pthread_mutex_lock(&aw->inbox.lock);
    h2o_linklist_insert_list(&waiters, &aw->inbox.waiters);
    pthread_mutex_unlock(&aw->inbox.lock);
    while (!h2o_linklist_is_empty(&waiters)) {
        auth_waiter_t *w = H2O_STRUCT_FROM_MEMBER(auth_waiter_t, link, waiters.next);
        h2o_linklist_unlink(&w->link);
        resume(w);
    }
}

/* Hands a waiter to its own worker. A stopped worker has no request left that could
 * use it (it stops once its requests are done), so the waiter is dropped. */
static void post(auth_waiter_t *w)
{
    pd_auth_worker_t *aw = w->aw;
    int closed;

    pthread_mutex_lock(&aw->inbox.lock);
    if (!(closed = aw->inbox.closed)) {
        h2o_linklist_insert(&aw->inbox.waiters, &w->link);
        uv_async_send(&aw->inbox.wakeup);
    }
    pthread_mutex_unlock(&aw->inbox.lock);
    if (closed) {
        auth_decision_decref(w->decision);
        free(w);
    }
}

/* Hands `d` to every waiter: at once on this thread, through its inbox on the others. */
static void dispatch(pd_auth_worker_t *self, h2o_linklist_t *waiters, pd_auth_decision_t *d)
{
    while (!h2o_linklist_is_empty(waiters)) {
        auth_waiter_t *w = H2O_STRUCT_FROM_MEMBER(auth_waiter_t, link, waiters->next);
        h2o_linklist_unlink(&w->link);
        auth_decision_incref(w->decision = d);
        if (w->aw == self)
            resume(w);
        else
            post(w);
    }
}

static void on_req_gone(void *p)
{
    auth_waiter_t *w = *(auth_waiter_t **)p;

    if (w != NULL)
        w->req = NULL;
}

/* ---- credentials ---- */

/* The query without its key parameters (kept byte for byte otherwise); *key is the
 * first key's value as sent, or {NULL, 0}. */
static h2o_iovec_t strip_key(h2o_req_t *req, h2o_iovec_t *key)
{
    h2o_iovec_t out = h2o_iovec_init(h2o_mem_alloc_pool(&req->pool, req->path.len + 1), 0);
    const char *p, *end = req->path.base + req->path.len;

    *key = h2o_iovec_init(NULL, 0);
    if (req->query_at == SIZE_MAX)
        return h2o_iovec_init("", 0);
    for (p = req->path.base + req->query_at + 1; p < end;) {
        const char *amp = memchr(p, '&', end - p), *stop = amp != NULL ? amp : end;
        size_t len = stop - p;
        if (len >= 3 && memcmp(p, "key", 3) == 0 && (len == 3 || p[3] == '=')) {
            if (key->base == NULL)
                *key = h2o_iovec_init(len > 4 ? p + 4 : "", len > 4 ? len - 4 : 0);
        } else if (len != 0) {
            char separator = out.len == 0 ? '?' : '&';
            out.base[out.len++] = separator;
            memcpy(out.base + out.len, p, len);
            out.len += len;
        }
        p = stop + 1;
    }
    return out;
}

static h2o_iovec_t header_value(h2o_req_t *req, const h2o_token_t *token)
{
    ssize_t i = h2o_find_header(&req->headers, token, -1);

    return i == -1 ? h2o_iovec_init(NULL, 0) : req->headers.entries[i].value;
}

/* What a check is asked and the digest that names it: the auth service decides for
 * this credential, service, method, path and client, so a decision is reused (or a
 * running check shared) only for the very same request. The key is never kept. */
typedef struct check_input {
    h2o_iovec_t key, authorization, method, uri, client;
} check_input_t;

static void digest_of(EVP_MD_CTX *md, h2o_req_t *req, const check_input_t *in, const char *service, unsigned char *out)
{
    h2o_iovec_t sep = h2o_iovec_init("\0", 1);
    h2o_iovec_t input = h2o_concat(&req->pool, h2o_iovec_init(in->key.base != NULL ? "k" : "-", 1), in->key, sep,
                                   h2o_iovec_init(in->authorization.base != NULL ? "a" : "-", 1), in->authorization, sep,
                                   h2o_iovec_init(service, strlen(service)), sep, in->method, sep, in->uri, sep, in->client);

    if (!EVP_DigestInit_ex2(md, sha256, NULL) || !EVP_DigestUpdate(md, input.base, input.len) ||
        !EVP_DigestFinal_ex(md, out, NULL))
        fatalx("%s: SHA-256 failed", __func__);
    OPENSSL_cleanse(input.base, input.len);
}

/* ---- the check ---- */

static int wanted_header(const char *name)
{
    size_t i;

    if (strcmp(name, "www-authenticate") == 0 || strcmp(name, "location") == 0 || strcmp(name, "content-type") == 0 ||
        strcmp(name, "cache-control") == 0)
        return 1;
    for (i = 0; i < settings->auth.num_copy_headers; i++)
        if (strcmp(name, settings->auth.copy_headers[i]) == 0)
            return 1;
    return 0;
}

/* CURLOPT_HEADERFUNCTION: keeps the headers a decision may need, names in lower case. */
static size_t on_header(char *line, size_t size, size_t n, void *data)
{
    auth_check_t *check = data;
    size_t len = size * n, i;
    char *colon = memchr(line, ':', len), *name, *value;

    if (colon == NULL || check->num_kept == AUTH_MAX_HEADERS)
        return len;
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

    if (check->body_len + take > AUTH_MAX_BODY)
        take = AUTH_MAX_BODY - check->body_len;
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

static pd_auth_decision_t *fail(const char *fmt, const char *arg)
{
    pd_auth_decision_t *d = new_decision(AUTH_FAIL, 503);

    if (asprintf(&d->message, fmt, arg) < 0)
        fatal("%s", __func__);
    return d;
}

/* Moves the kept headers that `keep` selects into the decision. */
static void take_headers(pd_auth_decision_t *d, auth_check_t *check, int (*keep)(const char *))
{
    size_t i;

    if ((d->headers = calloc(check->num_kept + 1, sizeof(*d->headers))) == NULL)
        fatal("%s", __func__);
    for (i = 0; i < check->num_kept; i++) {
        if (check->kept[i].name == NULL || !keep(check->kept[i].name))
            continue;
        d->headers[d->num_headers++] = check->kept[i];
        check->kept[i].name = check->kept[i].value = NULL;
    }
}

static int is_copy_header(const char *name)
{
    return strcmp(name, "cache-control") != 0 && strcmp(name, "www-authenticate") != 0 && strcmp(name, "location") != 0 &&
           strcmp(name, "content-type") != 0;
}

static int is_relayed_header(const char *name)
{
    return strcmp(name, "www-authenticate") == 0 || strcmp(name, "location") == 0 || strcmp(name, "content-type") == 0;
}

/* A value we would put into the upstream request or the client's answer must not
 * carry a line break or another control character (header smuggling). */
static int has_control_char(auth_check_t *check)
{
    size_t i;
    const char *p;

    for (i = 0; i < check->num_kept; i++)
        for (p = check->kept[i].value; *p != '\0'; p++)
            if ((unsigned char)*p < 0x20 && *p != '\t')
                return 1;
    return 0;
}

/* nginx auth_request's rules: 2xx allows; 401, 403 and 3xx go back to the client;
 * anything else, or no answer, fails closed. */
static pd_auth_decision_t *decide(auth_check_t *check, CURLcode result)
{
    pd_auth_decision_t *d;

    if (result == CURLE_OPERATION_TIMEDOUT)
        return fail("auth service timed out%s", "");
    if (result != CURLE_OK)
        return fail("auth service unavailable: %s", curl_easy_strerror(result));
    if (has_control_char(check))
        return fail("auth service sent a header with a control character%s", "");
    if (check->status >= 200 && check->status <= 299) {
        d = new_decision(AUTH_ALLOW, (int)check->status);
        take_headers(d, check, is_copy_header);
        return d;
    }
    if (check->status == 401 || check->status == 403 || (check->status >= 300 && check->status <= 399)) {
        d = new_decision(AUTH_DENY, (int)check->status);
        take_headers(d, check, is_relayed_header);
        d->body = check->body;
        d->body_len = check->body_len;
        check->body = NULL;
        return d;
    }
    char status[16];
    snprintf(status, sizeof(status), "%ld", check->status);
    return fail("auth service answered %s", status);
}

/* How long the decision may be reused: the settings, capped by the answer's Cache-Control. */
static uint64_t ttl_of(auth_check_t *check, pd_auth_decision_t *d)
{
    uint64_t ttl = d->kind == AUTH_ALLOW ? settings->auth.cache_ttl_ms : d->kind == AUTH_DENY ? settings->auth.negative_ttl_ms : 0;
    const char *cc = check->cache_control, *max_age;

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
    size_t i;

    for (i = 0; i < check->num_kept; i++) {
        free(check->kept[i].name);
        free(check->kept[i].value);
    }
    curl_slist_free_all(check->headers);
    free(check->body);
    free(check->url);
    free(check);
}

static void finish_check(pd_auth_worker_t *aw, pd_auth_entry_t *entry, pd_auth_decision_t *d, uint64_t ttl)
{
    h2o_linklist_t waiters;

    h2o_linklist_init_anchor(&waiters);
    auth_cache_complete(entry, d, ttl, now_ms(), &waiters);
    dispatch(aw, &waiters, d);
    auth_decision_decref(d);
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
    finish_check(check->aw, check->entry, d, ttl_of(check, d));
    curl_easy_cleanup(easy);
    check_free(check);
}

static void add_header(auth_check_t *check, const char *name, h2o_iovec_t value)
{
    char *line;

    /* values come from parsed requests, but a header must never smuggle a line break */
    if (value.base == NULL || memchr(value.base, '\r', value.len) != NULL || memchr(value.base, '\n', value.len) != NULL)
        return;
    if (asprintf(&line, "%s: %.*s", name, (int)value.len, value.base) < 0)
        fatal("%s", __func__);
    check->headers = curl_slist_append(check->headers, line);
    free(line);
}

static h2o_iovec_t client_address(h2o_req_t *req, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sslen = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    const void *addr = ss.ss_family == AF_INET6 ? (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
                                                : (void *)&((struct sockaddr_in *)&ss)->sin_addr;

    if (sslen == 0 || inet_ntop(ss.ss_family, addr, buf, len) == NULL)
        return h2o_iovec_init(NULL, 0);
    return h2o_iovec_init(buf, strlen(buf));
}

/* GET <auth URL>?key=<key> with the client's Authorization and where the request was going. */
static CURL *new_check_request(auth_check_t *check, pd_service_t *service, pd_service_t *auth_service, const check_input_t *in,
                               h2o_iovec_t host)
{
    CURL *easy = curl_easy_init();

    if (easy == NULL)
        fatalx("%s: curl_easy_init failed", __func__);
    if (asprintf(&check->url, "%s%s%.*s", auth_service->url, in->key.base != NULL ? "?key=" : "", (int)in->key.len,
                 in->key.base != NULL ? in->key.base : "") < 0)
        fatal("%s", __func__);
    add_header(check, "Authorization", in->authorization);
    add_header(check, "X-Forwarded-Method", in->method);
    add_header(check, "X-Forwarded-Uri", in->uri);
    add_header(check, "X-Forwarded-Host", host);
    add_header(check, "X-Forwarded-For", in->client);
    add_header(check, "X-Forwarded-Service", h2o_iovec_init(service->name, strlen(service->name)));
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

/* The leader of a new check: ask the auth service the registry names now. */
static void start_check(pd_auth_worker_t *aw, pd_auth_entry_t *entry, auth_waiter_t *w, const check_input_t *in)
{
    const char *name = settings->auth.service;
    pd_service_t *auth_service = snapshot_lookup(worker_snapshot(w->worker), name, strlen(name));
    auth_check_t *check;

    if (auth_service == NULL) {
        finish_check(aw, entry, fail("auth service '%s' is not in the registry", name), 0);
        return;
    }
    if ((check = calloc(1, sizeof(*check))) == NULL)
        fatal("%s", __func__);
    check->entry = entry;
    check->aw = aw;
    auth_client_start(aw->client, new_check_request(check, w->service, auth_service, in, w->req->input.authority),
                      on_check_done, check);
}

/* Holds `req` until the auth service (or the cache) decides; then it is forwarded
 * with proxy_forward(), or answered with the denial or a 503. `rest` and `query`
 * are what goes upstream (auth_scrub_request() took the key out of `query`). */
void auth_begin(h2o_req_t *req, pd_worker_t *worker, pd_service_t *service, h2o_iovec_t rest, h2o_iovec_t query, h2o_iovec_t key)
{
    pd_auth_worker_t *aw = worker_auth(worker);
    auth_waiter_t *w = calloc(1, sizeof(*w));
    unsigned char digest[PD_AUTH_DIGEST_LEN];
    pd_auth_decision_t *hit = NULL;
    pd_auth_entry_t *lead = NULL;
    char addr[INET6_ADDRSTRLEN];
    check_input_t in;

    if (w == NULL)
        fatal("%s", __func__);
    w->aw = aw;
    w->worker = worker;
    w->req = req;
    w->service = service;
    w->rest = rest;
    w->query = query;
    w->slot = h2o_mem_alloc_shared(&req->pool, sizeof(*w->slot), on_req_gone);
    *w->slot = w;
    /* the URI as routed: "/<service>" and the rest as sent, so a path that normalises
     * into another service is never shown to the auth service under the first one */
    in = (check_input_t){key, header_value(req, H2O_TOKEN_AUTHORIZATION), req->method,
                         h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT("/")), h2o_iovec_init(service->name, strlen(service->name)),
                                    rest, query),
                         client_address(req, addr, sizeof(addr))};
    digest_of(aw->md, req, &in, service->name, digest);
    switch (auth_cache_lookup(digest, now_ms(), &w->link, &hit, &lead)) {
    case AUTH_CACHE_HIT:
        w->decision = hit;
        resume(w);
        break;
    case AUTH_CACHE_LEAD:
        start_check(aw, lead, w, &in);
        break;
    default: /* AUTH_CACHE_WAIT: a check for the very same request is running */
        break;
    }
}

pd_auth_worker_t *auth_worker_new(h2o_context_t *ctx)
{
    pd_auth_worker_t *aw = calloc(1, sizeof(*aw));

    if (aw == NULL)
        fatal("%s", __func__);
    aw->ctx = ctx;
    if ((aw->md = EVP_MD_CTX_new()) == NULL)
        fatalx("%s: EVP_MD_CTX_new failed", __func__);
    aw->client = auth_client_new(ctx->loop);
    pthread_mutex_init(&aw->inbox.lock, NULL);
    h2o_linklist_init_anchor(&aw->inbox.waiters);
    uv_async_init(ctx->loop, &aw->inbox.wakeup, on_inbox);
    aw->inbox.wakeup.data = aw;
    return aw;
}

/* After its loop stopped: no more decisions are accepted, the checks this worker
 * leads end (their waiters elsewhere get a 503), and what arrived is dropped. */
void auth_worker_dispose(pd_auth_worker_t *aw)
{
    h2o_linklist_t late;

    pthread_mutex_lock(&aw->inbox.lock);
    aw->inbox.closed = 1;
    pthread_mutex_unlock(&aw->inbox.lock);
    auth_client_dispose(aw->client);
    h2o_linklist_init_anchor(&late);
    pthread_mutex_lock(&aw->inbox.lock);
    h2o_linklist_insert_list(&late, &aw->inbox.waiters);
    pthread_mutex_unlock(&aw->inbox.lock);
    while (!h2o_linklist_is_empty(&late)) {
        auth_waiter_t *w = H2O_STRUCT_FROM_MEMBER(auth_waiter_t, link, late.next);
        h2o_linklist_unlink(&w->link);
        auth_decision_decref(w->decision);
        free(w);
    }
    uv_close((uv_handle_t *)&aw->inbox.wakeup, NULL);
}

void auth_worker_free(pd_auth_worker_t *aw)
{
    auth_client_free(aw->client);
    EVP_MD_CTX_free(aw->md);
    pthread_mutex_destroy(&aw->inbox.lock);
    free(aw);
}
