/* reply.c: every answer proxyd makes itself is JSON; its errors are {"error": ..., "service": ...} and logged. */
#include <stdarg.h>
#include <string.h>
#include <jansson.h>
#include "proxyd.h"

/* Replaces whatever body libh2o generated with ours. */
typedef struct json_ostream {
    h2o_ostream_t super;
    h2o_iovec_t body;
    int body_sent;
} json_ostream_t;

/* `obj` as compact JSON text in req->pool; the reference to `obj` is taken over. */
static h2o_iovec_t json_in_pool(h2o_req_t *req, json_t *obj)
{
    char *text = json_dumps(obj, JSON_COMPACT);
    h2o_iovec_t copy;

    json_decref(obj);
    if (text == NULL)
        fatalx("%s: json_dumps failed", __func__);
    copy = h2o_strdup(&req->pool, text, strlen(text));
    free(text);
    return copy;
}

/* "{"error": message, "service": service}" in req->pool; service is omitted when NULL. */
static h2o_iovec_t build_body(h2o_req_t *req, const char *message, const char *service)
{
    json_t *obj = json_pack("{s:s}", "error", message);

    if (service != NULL)
        json_object_set_new(obj, "service", json_string(service));
    return json_in_pool(req, obj);
}

/* One warning about `req`: "GET /weather/today: <what>". The query string, which
 * may hold the key, is never logged. */
void reply_log(h2o_req_t *req, const char *fmt, ...)
{
    char what[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    log_warnx("%.*s %.*s: %s", (int)req->input.method.len, req->input.method.base,
              (int)(req->input.query_at != SIZE_MAX ? req->input.query_at : req->input.path.len), req->input.path.base, what);
}

static void log_error(h2o_req_t *req, int status, const char *message, const char *service)
{
    reply_log(req, "%d %s%s%s", status, message, service != NULL ? ", service " : "", service != NULL ? service : "");
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
    h2o_iovec_t copy = json_in_pool(req, body);

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

#define HANDLED_MARK "proxyd.handled"

/* The first handler of every request marks it: what the filter sees unmarked was
 * answered by libh2o's front end before any handler ran (an unparsable request,
 * a body over the cap), in text/plain; everything after is proxyd's own, the
 * auth service's or a service's, and passes untouched. */
static int on_req_mark(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    h2o_vector_reserve(&req->pool, &req->env, req->env.size + 2);
    req->env.entries[req->env.size++] = h2o_iovec_init(H2O_STRLIT(HANDLED_MARK));
    req->env.entries[req->env.size++] = h2o_iovec_init(H2O_STRLIT("1"));
    return -1;
}

static int was_handled(h2o_req_t *req)
{
    size_t i;

    for (i = 0; i + 1 < req->env.size; i += 2)
        if (h2o_memis(req->env.entries[i].base, req->env.entries[i].len, H2O_STRLIT(HANDLED_MARK)))
            return 1;
    return 0;
}

/* An error libh2o answered before any handler ran, in proxyd's JSON. */
static int classify(h2o_req_t *req, int *status, const char **reason, const char **message)
{
    if (req->res.status < 400 || was_handled(req))
        return 0;
    *status = req->res.status, *reason = req->res.reason;
    *message = req->res.status == 413 ? "request body too large" : req->res.reason;
    return 1;
}

static void on_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    const char *reason, *message;
    int status;
    json_ostream_t *os;

    (void)self;
    if (classify(req, &status, &reason, &message)) {
        os = (json_ostream_t *)h2o_add_ostream(req, sizeof(*os), slot);
        os->body = build_body(req, message, NULL);
        os->body_sent = 0;
        os->super.do_send = on_send;
        log_error(req, status, message, NULL);
        set_json_headers(req, status, reason, os->body.len, 1);
        slot = &os->super.next;
    }
    h2o_setup_next_ostream(req, slot);
}

/* Before any other handler is registered on `pathconf`: the mark must come first. */
void reply_register(h2o_pathconf_t *pathconf)
{
    h2o_handler_t *handler = h2o_create_handler(pathconf, sizeof(*handler));
    h2o_filter_t *filter = h2o_create_filter(pathconf, sizeof(*filter));

    handler->on_req = on_req_mark;

    filter->on_setup_ostream = on_setup_ostream;
}
