/* auth.c: demo forward-auth service: key=supersecret is allowed (and logs a browser in with a session cookie), key=forbidden
 * refused, key=redirect sent to /login, anything else unauthorized. */
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include "demo_server.h"

#define SESSION_COOKIE "demo_session"
#define SESSION_ATTRIBUTES "; Path=/; HttpOnly; SameSite=Lax"

static unsigned delay_ms;
static int fail_all;
static const char *cache_control; /* --cache-control: sent with every answer */
static const char *allow_prefix;  /* --allow-prefix: the only X-Forwarded-Uri prefix a good key may reach */
static json_t *last_request;      /* {"path": ..., "headers": {...}} of the last checked request, for GET /last */
static char session[33];          /* the one session a login hands out: 128 random bits in hex, made at start */

static int on_delay_option(const char *arg)
{
    return demo_parse_ms(arg, strlen(arg), &delay_ms);
}

static int on_fail_option(const char *arg)
{
    (void)arg;
    fail_all = 1;
    return 0;
}

static int on_cache_control_option(const char *arg)
{
    cache_control = arg;
    return 0;
}

static int on_allow_prefix_option(const char *arg)
{
    allow_prefix = arg;
    return 0;
}

/* A path policy, as auth services keep them: with --allow-prefix, a good key opens
 * only the paths under that prefix. */
static int uri_allowed(h2o_req_t *req)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-forwarded-uri"), -1);
    h2o_iovec_t uri;

    if (allow_prefix == NULL)
        return 1;
    if (i == -1)
        return 0;
    uri = req->headers.entries[i].value;
    return uri.len >= strlen(allow_prefix) && memcmp(uri.base, allow_prefix, strlen(allow_prefix)) == 0;
}

/* "Authorization: Bearer <key>" (RFC 6750 2.1). */
static int find_bearer(h2o_req_t *req, h2o_iovec_t *key)
{
    ssize_t i;
    h2o_iovec_t v;

    if ((i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1)) == -1)
        return -1;
    v = req->headers.entries[i].value;
    if (v.len < 7 || !h2o_lcstris(v.base, 7, H2O_STRLIT("bearer ")))
        return -1;
    *key = h2o_str_stripws(v.base + 7, v.len - 7);
    return 0;
}

/* The first SESSION_COOKIE in the Cookie fields ("a=1; demo_session=..."), as most
 * frameworks take it (RFC 6265 5.4 sends one "; "-separated list). -1 without one. */
static int find_session_cookie(h2o_req_t *req, h2o_iovec_t *value)
{
    ssize_t i = -1;

    while ((i = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, i)) != -1) {
        h2o_iovec_t list = req->headers.entries[i].value, pair;
        const char *p = list.base, *end = list.base + list.len;
        while (p < end) {
            const char *semi = memchr(p, ';', end - p), *stop = semi != NULL ? semi : end;
            pair = h2o_str_stripws(p, stop - p);
            if (pair.len > sizeof(SESSION_COOKIE) - 1 && memcmp(pair.base, SESSION_COOKIE "=", sizeof(SESSION_COOKIE)) == 0) {
                *value = h2o_iovec_init(pair.base + sizeof(SESSION_COOKIE), pair.len - sizeof(SESSION_COOKIE));
                return 0;
            }
            p = stop + 1;
        }
    }
    return -1;
}

static int session_matches(h2o_iovec_t value)
{
    return value.len == strlen(session) && CRYPTO_memcmp(value.base, session, value.len) == 0;
}

static void record_last(h2o_req_t *req)
{
    json_decref(last_request);
    last_request = json_pack("{s:s%, s:o}", "path", req->input.path.base, req->input.path.len, "headers", demo_headers_json(req));
}

static void send_last(h2o_req_t *req)
{
    if (last_request == NULL) {
        demo_send_json(req, 200, json_pack("{s:n, s:{}}", "path", "headers"));
        return;
    }
    demo_send_json(req, 200, json_incref(last_request));
}

/* X-Demo-Cache-Control: VALUE comes back as Cache-Control: VALUE, so tests choose how long an answer may be cached. */
static void echo_cache_control(h2o_req_t *req)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-demo-cache-control"), -1);

    if (i != -1)
        demo_add_header(req, "Cache-Control", req->headers.entries[i].value);
    else if (cache_control != NULL)
        demo_add_header(req, "Cache-Control", h2o_iovec_init(cache_control, strlen(cache_control)));
}

static int key_is(h2o_iovec_t key, const char *value)
{
    return h2o_memis(key.base, key.len, value, strlen(value));
}

static void send_unauthorized(h2o_req_t *req)
{
    demo_add_header(req, "WWW-Authenticate", h2o_iovec_init(H2O_STRLIT("Bearer realm=\"proxyd-demo\"")));
    demo_send_error(req, 401, "unauthorized");
}

/* `login`: the key came in the query, as a browser's first visit brings it; the
 * answer then also sets the session cookie, so the key is needed only once. */
static void send_allowed(h2o_req_t *req, int login)
{
    if (login)
        demo_add_header(req, "Set-Cookie",
                        h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT(SESSION_COOKIE "=")),
                                   h2o_iovec_init(session, strlen(session)), h2o_iovec_init(H2O_STRLIT(SESSION_ATTRIBUTES))));
    demo_add_header(req, "X-User", h2o_iovec_init(H2O_STRLIT("workshop")));
    demo_send_json(req, 200, json_pack("{s:s, s:s}", "status", "allowed", "user", "workshop"));
}

static void answer_key(h2o_req_t *req, h2o_iovec_t key, int login)
{
    if (!(key_is(key, "supersecret") || key_is(key, "forbidden") || key_is(key, "redirect"))) {
        send_unauthorized(req);
    } else if (key_is(key, "forbidden") || !uri_allowed(req)) {
        demo_send_error(req, 403, "forbidden");
    } else if (key_is(key, "redirect")) { /* a login page, as auth services send browsers */
        demo_add_header(req, "Location", h2o_iovec_init(H2O_STRLIT("/login")));
        demo_send_json(req, 302, json_pack("{s:s}", "location", "/login"));
    } else {
        send_allowed(req, login);
    }
}

/* A session cookie that is not this run's is cleared in the browser as it is refused. */
static void answer_cookie(h2o_req_t *req, h2o_iovec_t value)
{
    if (!session_matches(value)) {
        demo_add_header(req, "Set-Cookie", h2o_iovec_init(H2O_STRLIT(SESSION_COOKIE "=; Max-Age=0" SESSION_ATTRIBUTES)));
        send_unauthorized(req);
    } else if (!uri_allowed(req)) {
        demo_send_error(req, 403, "forbidden");
    } else {
        send_allowed(req, 0);
    }
}

/* The credential: the key query parameter, else "Authorization: Bearer <key>",
 * else the session cookie. */
static void on_delay_over(h2o_req_t *req, void *data)
{
    h2o_iovec_t credential;

    (void)data;
    echo_cache_control(req);
    if (fail_all)
        demo_send_error(req, 500, "internal error");
    else if (demo_query_param(req, "key", &credential) == 0)
        answer_key(req, credential, 1);
    else if (find_bearer(req, &credential) == 0)
        answer_key(req, credential, 0);
    else if (find_session_cookie(req, &credential) == 0)
        answer_cookie(req, credential);
    else
        send_unauthorized(req);
}

static int on_request(h2o_req_t *req)
{
    if (demo_path_is(req, "/last")) {
        send_last(req);
        return 0;
    }
    record_last(req);
    demo_defer(req, delay_ms, on_delay_over, NULL);
    return 0;
}

static const demo_option_t options[] = {
    {"delay", 'd', "MS", "delay every answer by MS milliseconds", on_delay_option},
    {"fail", 0, NULL, "answer 500 to every check (GET /count and GET /last still work)", on_fail_option},
    {"cache-control", 0, "VALUE", "send Cache-Control: VALUE with every answer", on_cache_control_option},
    {"allow-prefix", 0, "PREFIX",
     "allow a good key only where X-Forwarded-Uri starts with PREFIX, end it with a slash (403 elsewhere)", on_allow_prefix_option},
    {NULL, 0, NULL, NULL, NULL},
};

static const demo_server_t auth = {"auth", "127.0.0.1:9002", options, on_request, NULL};

int main(int argc, char **argv)
{
    unsigned char bits[16];

    if (RAND_bytes(bits, sizeof(bits)) != 1) {
        demo_warnx("no random bytes for the session");
        return 1;
    }
    h2o_hex_encode(session, bits, sizeof(bits));
    return demo_main(&auth, argc, argv);
}
