/* reply.c: every answer proxyd makes itself is JSON; its errors are {"error": ..., "service": ...} and logged. */
#include <string.h>
#include <jansson.h>
#include "proxyd.h"

/* The module name libh2o 2.2.5's proxy logs its own upstream failures under. */
#define H2O_PROXY_MODULE "lib/core/proxy.c"

/* Replaces whatever body libh2o generated with ours. */
typedef struct json_ostream {
    h2o_ostream_t super;
    h2o_iovec_t body;
    int body_sent;
} json_ostream_t;

/* "{"error": message, "service": service}" in req->pool; service is omitted when NULL. */
static h2o_iovec_t build_body(h2o_req_t *req, const char *message, const char *service)
{
    json_t *obj = json_pack("{s:s}", "error", message);
    char *text;
    h2o_iovec_t body;

    if (service != NULL)
        json_object_set_new(obj, "service", json_string(service));
    text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (text == NULL)
        fatalx("%s: json_dumps failed", __func__);
    body = h2o_strdup(&req->pool, text, strlen(text));
    free(text);
    return body;
}

static void log_error(h2o_req_t *req, int status, const char *message, const char *service)
{
    log_warnx("%.*s %.*s: %d %s%s%s", (int)req->input.method.len, req->input.method.base,
              (int)(req->input.query_at != SIZE_MAX ? req->input.query_at : req->input.path.len), req->input.path.base, status,
              message, service != NULL ? ", service " : "", service != NULL ? service : "");
}

/* Keeps headers the caller added (WWW-Authenticate, Allow); `reset` drops libh2o's own. */
static void set_json_headers(h2o_req_t *req, int status, const char *reason, size_t len, int reset)
{
    req->res.status = status;
    req->res.reason = reason;
    req->res.content_length = len;
    if (reset)
        memset(&req->res.headers, 0, sizeof(req->res.headers));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
}

/* Sends `body` (its reference is taken over) with the status and headers already set. */
void reply_json(h2o_req_t *req, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    h2o_iovec_t copy;

    json_decref(body);
    if (text == NULL)
        fatalx("%s: json_dumps failed", __func__);
    copy = h2o_strdup(&req->pool, text, strlen(text));
    free(text);
    req->res.content_length = copy.len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    h2o_send_inline(req, copy.base, copy.len);
}

void reply_error(h2o_req_t *req, int status, const char *reason, const char *message, const char *service)
{
    h2o_iovec_t body = build_body(req, message, service);

    log_error(req, status, message, service);
    set_json_headers(req, status, reason, body.len, 0);
    h2o_send_inline(req, body.base, body.len);
}

static void on_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *inbufs, size_t inbufcnt, h2o_send_state_t state)
{
    json_ostream_t *os = (json_ostream_t *)self;

    (void)inbufs;
    (void)inbufcnt;
    if (os->body_sent) {
        h2o_ostream_send_next(&os->super, req, NULL, 0, state);
        return;
    }
    os->body_sent = 1;
    h2o_ostream_send_next(&os->super, req, &os->body, 1, state);
}

/* The message libh2o's proxy logged for a failure of its own (NULL if the upstream answered). */
static const char *proxy_failure(h2o_req_t *req)
{
    size_t i;

    for (i = 0; i < req->error_logs.size; i++)
        if (strcmp(req->error_logs.entries[i].module, H2O_PROXY_MODULE) == 0)
            return h2o_strdup(&req->pool, req->error_logs.entries[i].msg.base, req->error_logs.entries[i].msg.len).base;
    return NULL;
}

/* The service a proxied request went to, from its Location rewrite prefix "/<name>/". */
static const char *proxied_service(h2o_req_t *req)
{
    h2o_iovec_t prefix = req->overrides->location_rewrite.path_prefix;

    return prefix.len > 2 ? h2o_strdup(&req->pool, prefix.base + 1, prefix.len - 2).base : NULL;
}

/* libh2o's own error pages are text/plain; ours and most upstreams' are not. */
static int is_text_plain(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);

    return i != -1 && req->res.headers.entries[i].value.len >= 10 &&
           memcmp(req->res.headers.entries[i].value.base, "text/plain", 10) == 0;
}

/* Decides whether the response is an error libh2o made itself: a proxy failure
 * (502, or 504 for a timeout), or a protocol error answered before any handler
 * ran (400, 413...). Upstream responses and our own JSON pass through. */
static int classify(h2o_req_t *req, int *status, const char **reason, const char **message, const char **service)
{
    const char *failure;

    if (req->overrides != NULL) {
        if (req->res.status != 502 || (failure = proxy_failure(req)) == NULL)
            return 0;
        *service = proxied_service(req);
        /* the one place a message is matched: libh2o 2.2.5's proxy hands on its
         * http1client's error only as this text (lib/common/http1client.c) */
        if (strcmp(failure, "I/O timeout") == 0) {
            *status = 504, *reason = "Gateway Timeout", *message = "upstream timed out";
        } else {
            *status = 502, *reason = "Bad Gateway";
            *message = h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT("upstream unavailable: ")),
                                  h2o_iovec_init(failure, strlen(failure)))
                           .base;
        }
        return 1;
    }
    if (req->res.status < 400 || !is_text_plain(req))
        return 0;
    *status = req->res.status, *reason = req->res.reason, *service = NULL;
    *message = req->res.status == 413 ? "request body too large" : req->res.reason;
    return 1;
}

static void on_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    const char *reason, *message, *service = NULL;
    int status;
    json_ostream_t *os;

    (void)self;
    if (classify(req, &status, &reason, &message, &service)) {
        os = (json_ostream_t *)h2o_add_ostream(req, sizeof(*os), slot);
        os->body = build_body(req, message, service);
        os->body_sent = 0;
        os->super.do_send = on_send;
        log_error(req, status, message, service);
        set_json_headers(req, status, reason, os->body.len, 1);
        slot = &os->super.next;
    }
    h2o_setup_next_ostream(req, slot);
}

void reply_register(h2o_pathconf_t *pathconf)
{
    h2o_filter_t *filter = h2o_create_filter(pathconf, sizeof(*filter));

    filter->on_setup_ostream = on_setup_ostream;
}
