/* admin_reply.c: the admin API's JSON answers, and the change queue's results turned into HTTP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proxyd.h"

void admin_send_json(h2o_req_t *req, int status, const char *reason, json_t *body)
{
    req->res.status = status;
    req->res.reason = reason;
    reply_json(req, body);
}

/* {"error": message, "field": field}; field is omitted when NULL. */
void admin_send_error(h2o_req_t *req, int status, const char *reason, const char *field, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    json_t *body;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    body = json_pack("{s:s}", "error", msg);
    if (field != NULL)
        json_object_set_new(body, "field", json_string(field));
    log_warnx("admin %.*s %.*s: %d %s", (int)req->method.len, req->method.base, (int)req->path_normalized.len,
              req->path_normalized.base, status, msg);
    admin_send_json(req, status, reason, body);
}

/* Answers with the registry version as the ETag, so clients can send it back in If-Match. */
void admin_send_version(h2o_req_t *req, int status, const char *reason, json_t *body, uint64_t version)
{
    char etag[32];
    int len = snprintf(etag, sizeof(etag), "\"%llu\"", (unsigned long long)version);

    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, NULL, h2o_strdup(&req->pool, etag, len).base, len);
    if (body == NULL) {
        req->res.status = status;
        req->res.reason = reason;
        h2o_send_inline(req, "", 0);
        return;
    }
    admin_send_json(req, status, reason, body);
}

/* 405 with the Allow header RFC 9110 section 15.5.6 requires; `hint` (or NULL) says more. */
void admin_send_method_not_allowed(h2o_req_t *req, const char *allow, const char *hint)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, allow, strlen(allow));
    admin_send_error(req, 405, "Method Not Allowed", NULL, "method not allowed: use %s%s%s", allow, hint != NULL ? "; " : "",
                     hint != NULL ? hint : "");
}

/* A request waiting for its change's result. The change outlives the request if the
 * client goes away (an accepted change is applied either way): then only the answer
 * is dropped. Freed by on_change_done, which the queue always calls. */
typedef struct pending {
    h2o_req_t *req;        /* NULL once the client went away */
    struct pending **slot; /* in req->pool: how the request's end reaches us */
} pending_t;

static void on_req_gone(void *p)
{
    pending_t *pending = *(pending_t **)p;

    if (pending != NULL)
        pending->req = NULL;
}

static pending_t *pending_new(h2o_req_t *req)
{
    pending_t *pending = calloc(1, sizeof(*pending));

    if (pending == NULL)
        fatal("%s", __func__);
    pending->req = req;
    pending->slot = h2o_mem_alloc_shared(&req->pool, sizeof(*pending->slot), on_req_gone);
    *pending->slot = pending;
    return pending;
}

static void send_applied(h2o_req_t *req, const pd_change_result_t *r)
{
    switch (r->kind) {
    case PD_CHANGE_DELETE:
        admin_send_version(req, 204, "No Content", NULL, r->version);
        break;
    case PD_CHANGE_PUT:
        admin_send_version(req, r->created ? 201 : 200, r->created ? "Created" : "OK", service_to_json(r->service), r->version);
        break;
    case PD_CHANGE_RELOAD:
        admin_send_version(req, 200, "OK", json_pack("{s:s,s:I}", "status", "reloaded", "version", (json_int_t)r->version),
                           r->version);
        break;
    }
}

static void send_result(h2o_req_t *req, const pd_change_result_t *r)
{
    switch (r->status) {
    case PD_CHANGE_APPLIED:
        send_applied(req, r);
        break;
    case PD_CHANGE_STALE:
        admin_send_error(req, 409, "Conflict", NULL, "%s", r->message);
        break;
    case PD_CHANGE_NOT_FOUND:
        admin_send_error(req, 404, "Not Found", NULL, "%s", r->message);
        break;
    case PD_CHANGE_PRECONDITION_FAILED:
        admin_send_error(req, 412, "Precondition Failed", NULL, "%s", r->message);
        break;
    case PD_CHANGE_INVALID:
        admin_send_error(req, 400, "Bad Request", NULL, "%s", r->message);
        break;
    case PD_CHANGE_HOST_CONFLICT:
        admin_send_error(req, 409, "Conflict", "hosts", "%s", r->message);
        break;
    case PD_CHANGE_WRITE_FAILED:
        admin_send_error(req, 500, "Internal Server Error", NULL, "%s", r->message);
        break;
    }
}

static void on_change_done(void *data, const pd_change_result_t *result)
{
    pending_t *pending = data;

    if (pending->req != NULL) {
        *pending->slot = NULL;
        send_result(pending->req, result);
    }
    free(pending);
}

/* PUT (`put`, whose reference is taken over) or DELETE (`remove`), answered once
 * written. If-Match: "N" applies it only at registry version N; If-None-Match: *
 * (RFC 9110 13.1.2) applies a PUT only when it creates the service, so that a form
 * meant to add one never replaces another. */
void admin_submit_change(h2o_req_t *req, pd_change_queue_t *changes, pd_service_t *put, const char *remove)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_IF_MATCH, -1);
    ssize_t n = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, -1);
    const char *if_match =
        i == -1 ? NULL : h2o_strdup(&req->pool, req->headers.entries[i].value.base, req->headers.entries[i].value.len).base;

    if (n != -1 &&
        (put == NULL || !h2o_memis(req->headers.entries[n].value.base, req->headers.entries[n].value.len, H2O_STRLIT("*")))) {
        if (put != NULL)
            service_decref(put);
        admin_send_error(req, 400, "Bad Request", NULL, "If-None-Match: only * is supported, on PUT (create, never replace)");
        return;
    }
    change_queue_submit(changes, put, remove, if_match, n != -1, on_change_done, pending_new(req));
}

void admin_submit_reload(h2o_req_t *req, pd_change_queue_t *changes)
{
    change_queue_reload(changes, on_change_done, pending_new(req));
}
