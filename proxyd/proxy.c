/* proxy.c: the front-end handler: find the service by Host or path in the registry, check the request, forward it (forward.c). */
#include <stdlib.h>
#include <string.h>
#include "proxyd.h"

typedef struct proxy_handler {
    h2o_handler_t super;
    const pd_config_t *conf;
} proxy_handler_t;

/* Per worker, as libh2o's handler context: made by on_context_init on the main thread
 * before the worker starts, then touched only from the worker's thread. */
typedef struct proxy_worker {
    pd_forwarder_t *forwarder;
    pd_auth_worker_t *auth;  /* NULL without forward auth */
    pd_snapshot_t *snapshot; /* this worker's reference to the registry */
    uint64_t generation;     /* of `snapshot` */
} proxy_worker_t;

/* The current registry, borrowed until this worker's next request; one atomic load
 * when nothing changed. */
static pd_snapshot_t *current_snapshot(proxy_worker_t *pw)
{
    uint64_t generation = registry_generation();

    if (generation != pw->generation) {
        snapshot_decref(pw->snapshot);
        pw->snapshot = registry_acquire();
        pw->generation = generation;
    }
    return pw->snapshot;
}

/* A request routed to a service, in its pool until it is freed. */
typedef struct service_ref {
    pd_service_t *service;
    h2o_req_t *req;
} service_ref_t;

/* The request ends: its status is counted for the service (0 when the client left
 * before any answer), and its hold on the service is let go. */
static void on_service_ref_dispose(void *p)
{
    service_ref_t *ref = p;

    stats_response(ref->service->stats, ref->req->res.status);
    service_decref(ref->service);
}

/* The request keeps its service alive until it is freed: a registry swap while it is
 * in flight must not free the URL and Location rewrite data the forwarder reads.
 * From here on the request counts as one to the service, whatever answers it. */
static void hold_service(h2o_req_t *req, pd_service_t *service)
{
    service_ref_t *ref = h2o_mem_alloc_shared(&req->pool, sizeof(*ref), on_service_ref_dispose);

    service_incref(service);
    ref->service = service;
    ref->req = req;
    stats_request(service->stats);
}

/* proxyd's own forwarding headers; request_headers_scrub() removed the client's copies.
 * forward.c adds X-Forwarded-For and X-Forwarded-Proto. A request routed by its
 * Host has no prefix to tell the service about. */
static void set_forwarded_headers(h2o_req_t *req, h2o_iovec_t prefix)
{
    h2o_iovec_t host = request_client_host(req);

    if (host.base != NULL)
        h2o_add_header_by_str(&req->pool, &req->headers, H2O_STRLIT("x-forwarded-host"), 0, NULL, host.base, host.len);
    if (prefix.len > 1)
        h2o_add_header_by_str(&req->pool, &req->headers, H2O_STRLIT("x-forwarded-prefix"), 0, NULL, prefix.base, prefix.len - 1);
}

/* "/weather" alone: the service's root is "/weather/", as nginx does for a location with a slash. */
static void redirect_to_root(h2o_req_t *req, h2o_iovec_t name, h2o_iovec_t query)
{
    h2o_iovec_t location = h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT("/")), name, h2o_iovec_init(H2O_STRLIT("/")), query);

    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL, location.base, location.len);
    req->res.status = 301;
    req->res.reason = "Moved Permanently";
    /* like every answer proxyd makes itself, JSON rather than libh2o's HTML */
    reply_json(req, json_pack("{s:s%}", "location", location.base, location.len));
}

/* The auth service's own entry is reachable through the front end only when it says public: true. */
static int is_hidden_auth_service(const pd_config_t *conf, pd_service_t *service)
{
    return conf->auth.enabled && strcmp(service->name, conf->auth.service) == 0 && !service->public;
}

/* The service the request's host claims (hosts: in services.yaml) in `service`, or
 * NULL; -1 when the host is not host[:port] and the request has been answered (400).
 * A claimed host becomes the request's authority in its one form, port kept, as a
 * path gets its canonical form: the auth service, X-Forwarded-Host, Location
 * rewriting and a preserved Host then show the spelling the request was routed by,
 * not "CHAT.example.". */
static int lookup_host(h2o_req_t *req, pd_snapshot_t *snap, pd_service_t **service)
{
    char name[PD_HOST_NAME_MAX + 1];
    h2o_iovec_t port;
    int len = host_name_of_authority(request_client_host(req), name, &port);

    *service = NULL;
    if (len < 0) {
        req->http1_is_persistent = 0;
        reply_error(req, 400, "Bad Request", "invalid host", NULL);
        return -1;
    }
    if (len == 0 || snap->num_hosts == 0 || (*service = snapshot_lookup_host(snap, name, len)) == NULL)
        return 0;
    if (port.len == 0)
        req->input.authority = h2o_strdup(&req->pool, name, len);
    else
        req->input.authority = h2o_concat(&req->pool, h2o_iovec_init(name, len), h2o_iovec_init(H2O_STRLIT(":")), port);
    return 0;
}

/* The registry entry the request goes to, or NULL when it has been answered (400,
 * 404). By Host first, with the whole path; else by the first segment of the
 * path. `raw` is the path as sent, without its query; `path` gets its canonical
 * form and `prefix` what the service's URL is to the client. */
static pd_service_t *route(h2o_req_t *req, const pd_config_t *conf, pd_snapshot_t *snap, h2o_iovec_t raw, pd_path_t *path,
                           h2o_iovec_t *prefix)
{
    pd_service_t *service;
    const char *why, *shown;
    char name_error[256]; /* why `shown` is no name: not shown either */

    if (lookup_host(req, snap, &service) != 0)
        return NULL;
    if (request_path_canonicalize(&req->pool, raw.base, raw.len, service == NULL, path, &why) != 0) {
        reply_error(req, 400, "Bad Request", why, NULL);
        return NULL;
    }
    if (service != NULL) {
        *prefix = h2o_iovec_init(H2O_STRLIT("/"));
        if (!is_hidden_auth_service(conf, service))
            return service;
        reply_error(req, 404, "Not Found", "unknown service", NULL);
        return NULL;
    }
    service = snapshot_lookup(snap, path->name.base, path->name.len);
    if (service != NULL && !is_hidden_auth_service(conf, service)) {
        *prefix = h2o_iovec_init(service->path_prefix, strlen(service->path_prefix));
        return service;
    }
    /* a name that cannot be a service is not echoed into logs and answers */
    shown = h2o_strdup(&req->pool, path->name.base, path->name.len).base;
    reply_error(req, 404, "Not Found", "unknown service",
                service_check_name(shown, name_error, sizeof(name_error)) == 0 ? shown : NULL);
    return NULL;
}

/* Encoded slashes and NULs mean different things to different servers (issue 7). */
static int encoding_allowed(h2o_req_t *req, pd_service_t *service, const pd_path_t *path)
{
    if (path->encoded_slash && !service->allow_encoded_slash) {
        reply_error(req, 400, "Bad Request", "encoded slash or backslash in path", service->name);
        return 0;
    }
    if (path->encoded_nul && !service->allow_encoded_nul) {
        reply_error(req, 400, "Bad Request", "encoded NUL in path", service->name);
        return 0;
    }
    return 1;
}

/* What request_check() leaves for a request's head: the method, and the target's form. */
static int target_allowed(h2o_req_t *req)
{
    const char *why;

    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("CONNECT"))) {
        /* RFC 8441's WebSocket over HTTP/2 is a CONNECT; libh2o 2.2.5 has no extended CONNECT */
        reply_error(req, 501, "Not Implemented",
                    req->version >= 0x200 ? "WebSocket and other upgrades need HTTP/1.1" : "CONNECT is not supported", NULL);
        return 0;
    }
    if (request_target_origin_form(req, &why) != 0) {
        req->http1_is_persistent = 0;
        reply_error(req, 400, "Bad Request", why, NULL);
        return 0;
    }
    return 1;
}

/* Forward auth, unless it is off, the service opted out or is the auth service itself. */
static void check_then_forward(h2o_req_t *req, const pd_config_t *conf, proxy_worker_t *pw, pd_route_t *to, const pd_path_t *path)
{
    h2o_iovec_t key;

    /* without forward auth, and for the auth service itself (public: true), the key is the service's */
    if (!conf->auth.enabled || strcmp(to->service->name, conf->auth.service) == 0) {
        forward_request(req, to);
        return;
    }
    to->query = auth_strip_key(req, to->query, &key); /* no service ever sees the key: not in the query ... */
    auth_strip_referer_key(req);                      /* ... nor in the URL of the page that asked */
    if (to->service->auth)
        auth_begin(pw->auth, req, to, pw->snapshot, path, key); /* forwards once allowed */
    else
        forward_request(req, to);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    const pd_config_t *conf = ((proxy_handler_t *)self)->conf;
    proxy_worker_t *pw = h2o_context_get_handler_context(req->conn->ctx, self);
    const char *q;
    size_t path_len;
    h2o_iovec_t query, prefix;
    pd_service_t *service;
    pd_route_t *to;
    pd_path_t path;

    if (request_check(req, conf) != 0 || !target_allowed(req))
        return 0;
    q = memchr(req->input.path.base, '?', req->input.path.len);
    path_len = q != NULL ? (size_t)(q - req->input.path.base) : req->input.path.len;
    query = h2o_iovec_init(q != NULL ? q : "", req->input.path.len - path_len);
    service = route(req, conf, current_snapshot(pw), h2o_iovec_init(req->input.path.base, path_len), &path, &prefix);
    if (service == NULL)
        return 0;
    hold_service(req, service);
    if (body_limit_refuse(req, conf, service))
        return 0;
    if (path.name.len != 0 && path.rest.len == 0) {
        redirect_to_root(req, path.name, query);
        return 0;
    }
    if (!encoding_allowed(req, service, &path))
        return 0;
    if (request_headers_scrub(req, conf) != 0) {
        req->http1_is_persistent = 0;
        reply_error(req, 400, "Bad Request", "more than 64 Connection options", NULL);
        return 0;
    }
    set_forwarded_headers(req, prefix);
    to = h2o_mem_alloc_pool(&req->pool, sizeof(*to));
    *to = (pd_route_t){service, path.rest, query, prefix, forward_request, pw->forwarder};
    check_then_forward(req, conf, pw, to, &path);
    return 0;
}

static void on_context_init(h2o_handler_t *self, h2o_context_t *ctx)
{
    const pd_config_t *conf = ((proxy_handler_t *)self)->conf;
    proxy_worker_t *pw = calloc(1, sizeof(*pw));

    if (pw == NULL)
        fatal("%s", __func__);
    pw->forwarder = forwarder_new(ctx, conf);
    if (conf->auth.enabled)
        pw->auth = auth_worker_new(ctx);
    pw->generation = registry_generation();
    pw->snapshot = registry_acquire();
    h2o_context_set_handler_context(ctx, self, pw);
}

/* From h2o_context_dispose(), once the worker's loop stopped with no connection left. */
static void on_context_dispose(h2o_handler_t *self, h2o_context_t *ctx)
{
    proxy_worker_t *pw = h2o_context_get_handler_context(ctx, self);

    snapshot_decref(pw->snapshot);
    forwarder_dispose(pw->forwarder);
    if (pw->auth != NULL)
        auth_worker_dispose(pw->auth);
    free(pw);
}

void proxy_register(h2o_pathconf_t *pathconf, const pd_config_t *conf)
{
    proxy_handler_t *handler = (proxy_handler_t *)h2o_create_handler(pathconf, sizeof(*handler));

    handler->super.on_context_init = on_context_init;
    handler->super.on_context_dispose = on_context_dispose;
    handler->super.on_req = on_req;
    handler->conf = conf;
}
