/* forward.c: a routed, allowed request sent to its service through proxyd's own
 * upstream engine, and the answer relayed: head, body as fast as the client takes
 * it, or a tunnel after 101. Errors are answered here, where they are decided. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "upstream.h"
#include <h2o/http1.h> /* h2o_http1_upgrade; needs h2o.h first */

/* Per worker, in proxy.c's handler context. */
struct pd_forwarder {
    const pd_config_t *conf;
    pd_upstreams_t *upstreams;
    pd_tunnels_t *tunnels; /* upgraded connections: the worker's shutdown waits for them */
};

/* One forwarded request, in its pool: lives until the request is freed. */
typedef struct forward {
    h2o_generator_t super;
    h2o_req_t *req;
    pd_forwarder_t *fw;
    pd_service_t *service; /* held by the request (proxy.c) */
    h2o_iovec_t prefix;    /* the route's: where Location headers under the service's URL point */
    pd_exchange_t *x;      /* NULL once the exchange ended */
    h2o_timeout_entry_t send_timer;
    uint64_t started_ns; /* uv_hrtime() when the exchange started: the response head's latency counts from here */
} forward_t;

/* The joined halves of an upgrade while libh2o writes the 101 to the client. */
typedef struct upgrade {
    h2o_socket_t *upstream;
    pd_tunnels_t *tunnels;
    h2o_timeout_t *idle;
    pd_stats_t *stats; /* the service's counters, held for the tunnel */
} upgrade_t;

static size_t tunnels_open(void *data)
{
    return tunnels_count(((pd_forwarder_t *)data)->tunnels);
}

static void close_tunnels(void *data, unsigned worker)
{
    pd_forwarder_t *fw = data;
    size_t open = tunnels_count(fw->tunnels);

    if (open != 0)
        log_info("worker %u: grace period over: closing %zu tunnels (%llu bytes relayed by this worker's tunnels)", worker, open,
                 (unsigned long long)tunnels_bytes(fw->tunnels));
    tunnels_close_all(fw->tunnels);
}

/* Per worker, from proxy.c's on_context_init (on the main thread). */
pd_forwarder_t *forwarder_new(h2o_context_t *ctx, const pd_config_t *conf)
{
    pd_forwarder_t *fw = calloc(1, sizeof(*fw));
    pd_drain_hook_t hook = {tunnels_open, close_tunnels, NULL};

    if (fw == NULL)
        fatal("%s", __func__);
    fw->conf = conf;
    fw->upstreams = upstreams_new(ctx, conf);
    fw->tunnels = tunnels_new();
    hook.data = fw;
    worker_add_drain_hook(ctx, &hook);
    return fw;
}

/* Once no client connection is left, so no tunnel either (see upstreams_close). */
void forwarder_dispose(pd_forwarder_t *fw)
{
    origins_free(fw->upstreams);
    upstreams_close(fw->upstreams);
    tunnels_free(fw->tunnels);
    free(fw);
}

/* The client's descriptor under libh2o's HTTP/1 connection or HTTP/2 session, or -1. */
static int client_fd(h2o_req_t *req)
{
    h2o_socket_t *sock = req->conn->callbacks->get_socket != NULL ? req->conn->callbacks->get_socket(req->conn) : NULL;

    return sock != NULL ? h2o_socket_get_fd(sock) : -1;
}

/* With SO_LINGER 0 the close that libh2o makes sends a reset, and unsent bytes go. */
static void reset_on_close(int fd)
{
    struct linger reset = {1, 0};

    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
}

/* A client that takes nothing for client.send_timeout is cut off: libh2o has no
 * call for that, so the socket is shut down under it and libh2o's next write or
 * read fails; the request is then freed and its exchange cancelled. */
static void disconnect_client(h2o_req_t *req)
{
    int fd = client_fd(req);

    if (fd == -1)
        return;
    reset_on_close(fd); /* no lingering with unsent bytes the client never reads */
    shutdown(fd, SHUT_RDWR);
}

static void on_send_timeout(h2o_timeout_entry_t *entry)
{
    forward_t *f = H2O_STRUCT_FROM_MEMBER(forward_t, send_timer, entry);

    reply_log(f->req, "the client took no response bytes for %llums: disconnected, service %s",
              (unsigned long long)f->fw->conf->client.send_timeout_ms, f->service->name);
    disconnect_client(f->req);
}

static void send_body(forward_t *f, h2o_iovec_t *bufs, size_t num, h2o_send_state_t state)
{
    pd_upstreams_t *ups = f->fw->upstreams;

    upstreams_arm(ups, upstreams_timeout(ups, f->fw->conf->client.send_timeout_ms), &f->send_timer);
    h2o_send(f->req, bufs, num, state);
}

static void on_proceed(h2o_generator_t *self, h2o_req_t *req)
{
    forward_t *f = (forward_t *)self;

    (void)req;
    upstreams_disarm(&f->send_timer);
    if (f->x != NULL)
        exchange_proceed(f->x);
}

static void on_stop(h2o_generator_t *self, h2o_req_t *req)
{
    forward_t *f = (forward_t *)self;

    (void)req;
    if (f->x != NULL) {
        exchange_cancel(f->x);
        f->x = NULL;
    }
}

static void on_upgraded(void *data, h2o_socket_t *client, size_t reqsize)
{
    upgrade_t *u = data;

    if (client == NULL) {
        h2o_socket_close(u->upstream); /* the 101 did not reach the client */
        stats_release(u->stats);
    } else {
        h2o_buffer_consume(&client->input, reqsize); /* the request itself; what follows is the tunnel's */
        tunnel_open(u->tunnels, client, u->upstream, u->idle, u->stats);
    }
    free(u);
}

/* 101 from the service: relay it, then join the sockets. libh2o frees the request
 * (and `f` with it) once the 101 is written. */
static void start_tunnel(forward_t *f, const pd_exchange_head_t *head)
{
    h2o_req_t *req = f->req;
    pd_upstreams_t *ups = f->fw->upstreams;
    uint64_t idle_ms =
        f->service->websocket_timeout_ms != 0 ? f->service->websocket_timeout_ms : f->fw->conf->upstream.websocket_timeout_ms;
    upgrade_t *u = calloc(1, sizeof(*u));
    size_t i;

    if (u == NULL)
        fatal("%s", __func__);
    for (i = 0; i < head->num_headers; i++)
        if (header_name_is(&head->headers[i], "upgrade", 7))
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_UPGRADE, NULL,
                           h2o_strdup(&req->pool, head->headers[i].value, head->headers[i].value_len).base,
                           head->headers[i].value_len);
    u->upstream = exchange_detach(f->x);
    f->x = NULL;
    u->tunnels = f->fw->tunnels;
    u->idle = upstreams_timeout(ups, idle_ms);
    u->stats = stats_hold(f->service->stats); /* the tunnel outlives the request and its hold on the service */
    h2o_http1_upgrade(req, NULL, 0, on_upgraded, u);
}

static void on_head(void *data, const pd_exchange_head_t *head)
{
    forward_t *f = data;
    h2o_req_t *req = f->req;

    stats_latency(f->service->stats, uv_hrtime() - f->started_ns);
    req->res.status = head->status;
    req->res.reason = h2o_strdup(&req->pool, head->reason.base, head->reason.len).base;
    forward_response_fields(req, f->service, f->prefix, head);
    if (head->status == 101) {
        start_tunnel(f, head);
        return;
    }
    if (head->framing.kind == PD_BODY_LENGTH || (head->framing.kind == PD_BODY_NONE && head->framing.length != SIZE_MAX))
        req->res.content_length = head->framing.length;
    f->super.proceed = on_proceed;
    f->super.stop = on_stop;
    h2o_start_response(req, &f->super);
}

static void on_body(void *data, h2o_iovec_t bytes, int final)
{
    forward_t *f = data;
    h2o_iovec_t buf = bytes;

    if (!final) {
        send_body(f, &buf, 1, H2O_SEND_STATE_IN_PROGRESS);
        return;
    }
    f->x = NULL; /* the exchange ends with this call */
    /* libh2o keeps the bytes of a final send until the request is freed */
    if (buf.len != 0)
        buf = h2o_strdup(&f->req->pool, bytes.base, bytes.len);
    send_body(f, &buf, buf.len != 0 ? 1 : 0, H2O_SEND_STATE_FINAL);
}

static void on_error(void *data, pd_upstream_error_t error, const char *why, int after_head)
{
    forward_t *f = data;
    h2o_req_t *req = f->req;
    const char *message;
    int status = 502, fd;

    f->x = NULL;
    switch (error) {
    case PD_UPSTREAM_CONNECT_FAILED:
        message =
            h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT("upstream connection failed: ")), h2o_iovec_init(why, strlen(why)))
                .base;
        break;
    case PD_UPSTREAM_CONNECT_TIMEOUT:
        status = 504, message = "upstream connect timed out";
        break;
    case PD_UPSTREAM_TIMEOUT:
        status = 504, message = "upstream timed out";
        break;
    case PD_UPSTREAM_CLOSED:
        message = "upstream closed the connection before responding";
        break;
    default:
        message =
            h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT("invalid response from upstream: ")), h2o_iovec_init(why, strlen(why)))
                .base;
        break;
    }
    if (!after_head) {
        reply_error(req, status, status == 504 ? "Gateway Timeout" : "Bad Gateway", message, f->service->name);
        return;
    }
    reply_log(req, "%s after the response started, client connection closed, service %s", message, f->service->name);
    /* HTTP/1: libh2o chunks only a 200 to an HTTP/1.1 client; any other body of unknown
     * length, and every one to an HTTP/1.0 client, ends with the connection, and an
     * orderly close would make the cut body look complete. A reset cannot. */
    if (req->version < 0x200 && (fd = client_fd(req)) != -1)
        reset_on_close(fd);
    send_body(f, NULL, 0, H2O_SEND_STATE_ERROR);
}

static const pd_exchange_callbacks_t callbacks = {on_head, on_body, on_error};

static void on_forward_dispose(void *p)
{
    forward_t *f = p;

    upstreams_disarm(&f->send_timer);
    if (f->x != NULL)
        exchange_cancel(f->x);
}

static int is_idempotent(h2o_iovec_t method)
{
    static const char *const methods[] = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", NULL};
    size_t i;

    for (i = 0; methods[i] != NULL; i++)
        if (h2o_memis(method.base, method.len, methods[i], strlen(methods[i])))
            return 1;
    return 0;
}

/* pd_route_t's forward: route->data is the worker's pd_forwarder_t, and the request
 * holds route->service until it is freed. */
void forward_request(h2o_req_t *req, const pd_route_t *route)
{
    pd_forwarder_t *fw = route->data;
    pd_service_t *service = route->service;
    int upgrade = req->upgrade.base != NULL && req->version < 0x200;
    pd_exchange_req_t xreq;
    forward_t *f;

    memset(&xreq, 0, sizeof(xreq));
    if (upgrade && forward_expected_accept(req, &xreq.upgrade_accept) != 0) {
        req->http1_is_persistent = 0;
        reply_error(req, 400, "Bad Request", "WebSocket handshake without one valid Sec-WebSocket-Key", service->name);
        return;
    }
    f = h2o_mem_alloc_shared(&req->pool, sizeof(*f), on_forward_dispose);
    memset(f, 0, sizeof(*f));
    f->req = req;
    f->fw = fw;
    f->service = service;
    f->prefix = route->prefix;
    f->send_timer.cb = on_send_timeout;
    xreq.origin = origin_get(fw->upstreams, &service->upstream);
    xreq.head = forward_request_head(req, route, upgrade);
    xreq.body = req->entity.base != NULL ? req->entity : h2o_iovec_init(NULL, 0);
    xreq.is_head = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
    xreq.idempotent = is_idempotent(req->method);
    xreq.upgrade = upgrade;
    xreq.upgrade_offer = req->upgrade;
    xreq.connect_timeout_ms = fw->conf->upstream.connect_timeout_ms;
    xreq.io_timeout_ms = service->timeout_ms != 0 ? service->timeout_ms : fw->conf->upstream.io_timeout_ms;
    f->started_ns = uv_hrtime();
    f->x = exchange_start(fw->upstreams, &xreq, &callbacks, f);
}
