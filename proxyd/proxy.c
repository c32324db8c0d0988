/* proxy.c: the front-end handler: find the service in the registry, then hand the request to libh2o's proxy. */
#include <string.h>
#include "proxyd.h"

/* The request keeps its service alive until it is freed: a registry swap while it is
 * in flight must not free the URL and Location rewrite data libh2o still reads. */
static void on_service_ref_dispose(void *p)
{
    service_decref(*(pd_service_t **)p);
}

static void hold_service(h2o_req_t *req, pd_service_t *service)
{
    pd_service_t **ref = h2o_mem_alloc_shared(&req->pool, sizeof(*ref), on_service_ref_dispose);

    service_incref(service);
    *ref = service;
}

/* Client-supplied copies would be trusted upstream: they are replaced, not appended to. */
static void set_forwarded_headers(h2o_req_t *req, pd_service_t *service)
{
    /* without a Host header (HTTP/1.0) libh2o fills in the host configuration's name, which is not the client's */
    ssize_t forged;

    if (req->input.authority.base != req->hostconf->authority.hostport.base)
        h2o_set_header_by_str(&req->pool, &req->headers, H2O_STRLIT("x-forwarded-host"), 0, req->input.authority.base,
                              req->input.authority.len, 1);
    else if ((forged = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-forwarded-host"), -1)) != -1)
        h2o_delete_header(&req->headers, forged);
    h2o_set_header_by_str(&req->pool, &req->headers, H2O_STRLIT("x-forwarded-prefix"), 0, service->path_prefix,
                          strlen(service->path_prefix) - 1, 1);
}

/* The client's own bytes from normalised offset `normalized_end` up to the query:
 * percent-encoding goes upstream as the client sent it (h2o's normalised path is decoded). */
static h2o_iovec_t raw_rest(h2o_req_t *req, size_t normalized_end)
{
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    size_t at = req->norm_indexes != NULL ? req->norm_indexes[normalized_end - 1] : normalized_end;

    if (at > path_len)
        at = path_len;
    return h2o_iovec_init(req->path.base + at, path_len - at);
}

/* Upstream path: the service's base path, the rest of the path as sent, then `query`. */
static h2o_iovec_t upstream_path(h2o_req_t *req, pd_service_t *service, h2o_iovec_t rest, h2o_iovec_t query)
{
    h2o_iovec_t slash = h2o_iovec_init("", 0);

    /* "/weather%2Fx" normalises to "/weather/x": the raw rest then lacks its slash */
    if (rest.len == 0 || rest.base[0] != '/')
        slash = h2o_iovec_init(H2O_STRLIT("/"));
    return h2o_concat(&req->pool, service->upstream.path, slash, rest, query);
}

static h2o_iovec_t query_of(h2o_req_t *req)
{
    if (req->query_at == SIZE_MAX)
        return h2o_iovec_init("", 0);
    return h2o_iovec_init(req->path.base + req->query_at, req->path.len - req->query_at);
}

/* Hands `req` to libh2o's proxy. `rest` is the path after "/<name>" as the client
 * sent it, `query` the query string to send ("?a=b" or ""). The request must hold
 * `service` (hold_service). */
void proxy_forward(h2o_req_t *req, pd_worker_t *worker, pd_service_t *service, h2o_iovec_t rest, h2o_iovec_t query)
{
    h2o_req_overrides_t *overrides = h2o_mem_alloc_pool(&req->pool, sizeof(*overrides));
    pd_upstreams_t *ups = worker_upstreams(worker);

    memset(overrides, 0, sizeof(*overrides));
    overrides->client_ctx = upstreams_client(ups, service->timeout_ms);
    overrides->socketpool = upstreams_pool(ups, &service->upstream);
    overrides->location_rewrite.match = &service->location_match;
    overrides->location_rewrite.path_prefix = h2o_iovec_init(service->path_prefix, strlen(service->path_prefix));
    set_forwarded_headers(req, service);
    /* is_delegated = 0: upstream redirects go back to the client instead of being followed */
    h2o_reprocess_request(req, req->method, service->upstream.scheme, service->upstream.authority,
                          upstream_path(req, service, rest, query), overrides, 0);
}

/* "/weather" alone: the service's root is "/weather/", as nginx does for a location with a slash. */
static void redirect_to_root(h2o_req_t *req, h2o_iovec_t name)
{
    h2o_iovec_t query = h2o_iovec_init("", 0), location;

    if (req->query_at != SIZE_MAX)
        query = h2o_iovec_init(req->path.base + req->query_at, req->path.len - req->query_at);
    location = h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT("/")), name, h2o_iovec_init(H2O_STRLIT("/")), query);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL, location.base, location.len);
    req->res.status = 301;
    req->res.reason = "Moved Permanently";
    /* like every answer proxyd makes itself, JSON rather than libh2o's HTML */
    json_send(req, json_pack("{s:s%}", "location", location.base, location.len));
}

typedef struct proxy_handler {
    h2o_handler_t super;
    const pd_config_t *conf;
} proxy_handler_t;

/* The auth service's own entry is reachable through the front end only when it says public: true. */
static int is_hidden_auth_service(const pd_config_t *conf, pd_service_t *service)
{
    return conf->auth.enabled && strcmp(service->name, conf->auth.service) == 0 && !service->public;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    const pd_config_t *conf = ((proxy_handler_t *)self)->conf;
    pd_worker_t *worker = worker_of(req->conn->ctx);
    /* normalised: "/a/../weather/today" is "/weather/today", never a path under "a" */
    h2o_iovec_t path = req->path_normalized, name, rest;
    const char *slash;
    pd_service_t *service;

    worker_track_request(worker, req);
    name = h2o_iovec_init(path.base + 1, path.len - 1);
    if ((slash = memchr(name.base, '/', name.len)) != NULL)
        name.len = slash - name.base;
    rest = h2o_iovec_init(name.base + name.len, path.base + path.len - (name.base + name.len));
    if ((service = snapshot_lookup(worker_snapshot(worker), name.base, name.len)) == NULL ||
        is_hidden_auth_service(conf, service)) {
        const char *shown = h2o_strdup(&req->pool, name.base, name.len).base;
        char why[256];
        /* a name that cannot be a service is not echoed into logs and answers */
        json_error_send(req, 404, "Not Found", "unknown service",
                        service_check_name(shown, why, sizeof(why)) == 0 ? shown : NULL);
        return 0;
    }
    if (body_limit_refuse(req, conf, service))
        return 0;
    if (rest.len == 0) {
        redirect_to_root(req, name);
        return 0;
    }
    hold_service(req, service);
    if (!conf->auth.enabled) {
        proxy_forward(req, worker, service, raw_rest(req, 1 + name.len), query_of(req));
        return 0;
    }
    if (strcmp(service->name, conf->auth.service) == 0) { /* public: true; the key is meant for it */
        proxy_forward(req, worker, service, raw_rest(req, 1 + name.len), query_of(req));
        return 0;
    }
    h2o_iovec_t key, query = auth_scrub_request(req, &key);
    if (service->auth)
        auth_begin(req, worker, service, raw_rest(req, 1 + name.len), query, key); /* forwards once allowed */
    else
        proxy_forward(req, worker, service, raw_rest(req, 1 + name.len), query);
    return 0;
}

void proxy_register(h2o_pathconf_t *pathconf, const pd_config_t *conf)
{
    proxy_handler_t *handler = (proxy_handler_t *)h2o_create_handler(pathconf, sizeof(*handler));

    handler->super.on_req = on_req;
    handler->conf = conf;
}
