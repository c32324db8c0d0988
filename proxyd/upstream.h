/* upstream.h: proxyd's own HTTP/1.1 client to services: connections and their pools,
 * one request/response exchange at a time, and tunnels for upgraded connections.
 * Used by forward.c; it knows nothing of h2o_req_t, services or the registry. */
#ifndef PROXYD_UPSTREAM_H
#define PROXYD_UPSTREAM_H

#include "proxyd.h"
#include "phr.h"

/* ---- per worker (upstream.c) ---- */

/* Owned by one worker (in proxy.c's handler context) and used on its thread only. */
struct pd_upstreams {
    h2o_context_t *ctx;
    const pd_config_t *conf;
    SSL_CTX *ssl_ctx;
    H2O_VECTOR(struct pd_origin *) origins;
    H2O_VECTOR(h2o_timeout_t *) timeouts;
    uv_idle_t closing[2]; /* never started: closed one after the other to free the struct late enough */
};

/* The h2o_timeout_t of this worker that fires `ms` after an entry is linked. */
h2o_timeout_t *upstreams_timeout(pd_upstreams_t *ups, uint64_t ms);
/* (Re)starts `entry` on `timeout`. */
void upstreams_arm(pd_upstreams_t *ups, h2o_timeout_t *timeout, h2o_timeout_entry_t *entry);
void upstreams_disarm(h2o_timeout_entry_t *entry);

/* ---- connections and keep-alive pools (upstream_conn.c) ---- */

/* One origin (scheme, host, port) and the idle connections kept for it. */
typedef struct pd_origin {
    pd_upstreams_t *ups;
    int tls;
    char *host; /* for DNS, SNI and certificate checks */
    char port[6];
    struct sockaddr_storage addr; /* the host as an IP literal; ss_family 0 for a name */
    socklen_t addr_len;
    h2o_linklist_t idle; /* pd_upconn_t, most recently used first */
    size_t num_idle;
} pd_origin_t;

/* A connection to an origin: in its pool while idle, else owned by one exchange. */
typedef struct pd_upconn {
    h2o_socket_t *sock;
    pd_origin_t *origin;
    h2o_linklist_t idle_link;
    h2o_timeout_entry_t idle_timer;
    int reused; /* it served an exchange before: a failure may be the origin closing it */
} pd_upconn_t;

/* The result of upconn_connect: a connection, or NULL and why. */
typedef void (*pd_upconn_cb)(void *data, pd_upconn_t *conn, int timed_out, const char *err);
typedef struct pd_connect pd_connect_t;

pd_origin_t *origin_get(pd_upstreams_t *ups, const h2o_url_t *url);
void origins_free(pd_upstreams_t *ups);
/* An idle connection from the pool, or NULL. */
pd_upconn_t *upconn_take_idle(pd_origin_t *origin);
/* Connects (DNS, TCP, TLS) within `timeout_ms`; cb runs later, never from inside. */
pd_connect_t *upconn_connect(pd_origin_t *origin, uint64_t timeout_ms, pd_upconn_cb cb, void *data);
void upconn_connect_cancel(pd_connect_t *c);
/* Back into the pool after a complete exchange, or closed if the pool is full. */
void upconn_release(pd_upconn_t *conn);
void upconn_close(pd_upconn_t *conn);
/* Takes the socket out of `conn` (a tunnel owns it from now on) and frees `conn`. */
h2o_socket_t *upconn_steal(pd_upconn_t *conn);

/* ---- response framing (upstream_framing.c) ---- */

#define PD_MAX_RESPONSE_HEADERS 100
typedef enum { PD_BODY_NONE, PD_BODY_LENGTH, PD_BODY_CHUNKED, PD_BODY_CLOSE } pd_body_kind_t;
typedef struct pd_framing {
    pd_body_kind_t kind;
    size_t length; /* PD_BODY_LENGTH; PD_BODY_NONE: the Content-Length given, or SIZE_MAX */
} pd_framing_t;
/* How the body of a response with `status` to a request (HEAD or not) is framed,
 * and the options its Connection fields name (`options->num` zeroed by the caller);
 * NULL, or why the head is not acceptable (RFC 9112 §6). */
const char *framing_of_response(int status, int is_head, const struct phr_header *headers, size_t num_headers,
                                pd_framing_t *framing, pd_connection_options_t *options);
/* A header name compared without regard to case. */
int header_name_is(const struct phr_header *h, const char *lower, size_t len);

/* ---- one request and its response (upstream_exchange.c) ---- */

typedef struct pd_exchange pd_exchange_t;

typedef enum {
    PD_UPSTREAM_CONNECT_FAILED,  /* 502 */
    PD_UPSTREAM_CONNECT_TIMEOUT, /* 504 */
    PD_UPSTREAM_TIMEOUT,         /* 504: silence beyond io_timeout */
    PD_UPSTREAM_CLOSED,          /* 502: the connection ended before a response byte */
    PD_UPSTREAM_INVALID,         /* 502: the response breaks HTTP/1.1 framing */
} pd_upstream_error_t;

typedef struct pd_exchange_head {
    int status;
    h2o_iovec_t reason;
    const struct phr_header *headers; /* borrowed for the callback */
    size_t num_headers;
    pd_framing_t framing;
    const pd_connection_options_t *connection; /* the fields named hop-by-hop by Connection */
} pd_exchange_head_t;

/* The consumer's side. No callback may cancel the exchange; after on_error, or
 * on_body with `final`, the exchange is gone. */
typedef struct pd_exchange_callbacks {
    /* The response head (never a 1xx other than an expected 101). After a 101 the
     * consumer must call exchange_detach() before returning. */
    void (*on_head)(void *data, const pd_exchange_head_t *head);
    /* Body bytes: valid until exchange_proceed(), which the consumer calls once it
     * is done with them; with `final` they are the last ones and valid only during
     * the call. */
    void (*on_body)(void *data, h2o_iovec_t bytes, int final);
    /* The exchange failed; `after_head`: on_head had run. */
    void (*on_error)(void *data, pd_upstream_error_t error, const char *why, int after_head);
} pd_exchange_callbacks_t;

typedef struct pd_exchange_req {
    pd_origin_t *origin;
    h2o_iovec_t head;           /* request line and header fields up to the empty line, kept by the caller */
    h2o_iovec_t body;           /* kept by the caller until the exchange ends */
    int is_head;                /* HEAD: no response body whatever the head says */
    int idempotent;             /* may be sent again on a fresh connection */
    int upgrade;                /* a 101 is a valid answer, if it names one of upgrade_offer */
    h2o_iovec_t upgrade_offer;  /* the client's Upgrade: the protocols it offered */
    h2o_iovec_t upgrade_accept; /* a WebSocket handshake: the 101's Sec-WebSocket-Accept must be this */
    uint64_t connect_timeout_ms;
    uint64_t io_timeout_ms;
} pd_exchange_req_t;

pd_exchange_t *exchange_start(pd_upstreams_t *ups, const pd_exchange_req_t *req, const pd_exchange_callbacks_t *cb, void *data);
void exchange_proceed(pd_exchange_t *x);
/* Abandons the exchange: no callback runs again; the connection is closed. */
void exchange_cancel(pd_exchange_t *x);
/* After a 101: the upstream socket, bytes after the head still in its input; frees `x`. */
h2o_socket_t *exchange_detach(pd_exchange_t *x);

/* ---- message heads between client and service (forward_fields.c) ---- */

h2o_iovec_t forward_request_head(h2o_req_t *req, const pd_route_t *route, int upgrade);
void forward_response_fields(h2o_req_t *req, const pd_service_t *service, h2o_iovec_t prefix, const pd_exchange_head_t *head);
int forward_expected_accept(h2o_req_t *req, h2o_iovec_t *accept);

/* ---- tunnels (tunnel.c) ---- */

pd_tunnels_t *tunnels_new(void);
void tunnels_free(pd_tunnels_t *t);
size_t tunnels_count(pd_tunnels_t *t);
uint64_t tunnels_bytes(pd_tunnels_t *t);
/* Joins two sockets: bytes flow both ways unchanged until either side ends or
 * nothing moved for the timeout. Takes both sockets and the hold on `stats` over:
 * the tunnel is counted there as opened now and as closed when it ends. */
void tunnel_open(pd_tunnels_t *t, h2o_socket_t *client, h2o_socket_t *upstream, h2o_timeout_t *idle, pd_stats_t *stats);
void tunnels_close_all(pd_tunnels_t *t);

#endif
