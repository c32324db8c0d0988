/* upstream_conn.c: connections to one origin: connecting (DNS, TCP, TLS) within a
 * deadline, and the keep-alive pool of idle ones, per worker. */
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netdb.h>
#include "upstream.h"

/* Idle connections are closed after this long: well below the keep-alive
 * timeouts of common servers (nginx 75s, h2o 10s, Node 5s), so that a reused
 * connection is rarely one the origin is closing at that moment. */
#define IDLE_TIMEOUT_MS 2000

struct pd_connect {
    pd_origin_t *origin;
    pd_upconn_cb cb;
    void *data;
    h2o_hostinfo_getaddr_req_t *getaddr; /* while resolving */
    h2o_socket_t *sock;                  /* while connecting or in the TLS handshake */
    h2o_timeout_entry_t deadline;
    const char *failed; /* connecting failed at once; reported from the loop */
};

static void set_literal_address(pd_origin_t *origin)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&origin->addr;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&origin->addr;
    uint16_t port = (uint16_t)atoi(origin->port);

    if (inet_pton(AF_INET, origin->host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        origin->addr_len = sizeof(*sin);
    } else if (inet_pton(AF_INET6, origin->host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        origin->addr_len = sizeof(*sin6);
    }
}

static pd_origin_t *new_origin(pd_upstreams_t *ups, const h2o_url_t *url)
{
    pd_origin_t *origin = calloc(1, sizeof(*origin));
    h2o_iovec_t host = url->host;

    if (origin == NULL)
        fatal("%s", __func__);
    /* h2o_url_t keeps the brackets of an IPv6 literal */
    if (host.len >= 2 && host.base[0] == '[')
        host = h2o_iovec_init(host.base + 1, host.len - 2);
    if ((origin->host = strndup(host.base, host.len)) == NULL)
        fatal("%s", __func__);
    origin->ups = ups;
    origin->tls = url->scheme == &H2O_URL_SCHEME_HTTPS;
    snprintf(origin->port, sizeof(origin->port), "%u", (unsigned)h2o_url_get_port(url));
    h2o_linklist_init_anchor(&origin->idle);
    set_literal_address(origin);
    h2o_vector_reserve(NULL, &ups->origins, ups->origins.size + 1);
    ups->origins.entries[ups->origins.size++] = origin;
    return origin;
}

/* The origin of `url`. Origins are kept for the life of the worker: their number
 * is bounded by the distinct origins ever configured, and an unused one holds no
 * connection once its idle ones timed out. */
pd_origin_t *origin_get(pd_upstreams_t *ups, const h2o_url_t *url)
{
    int tls = url->scheme == &H2O_URL_SCHEME_HTTPS;
    char port[6];
    size_t i;

    snprintf(port, sizeof(port), "%u", (unsigned)h2o_url_get_port(url));
    for (i = 0; i < ups->origins.size; i++) {
        pd_origin_t *o = ups->origins.entries[i];
        size_t len = strlen(o->host);
        h2o_iovec_t host = url->host;
        if (host.len >= 2 && host.base[0] == '[')
            host = h2o_iovec_init(host.base + 1, host.len - 2);
        if (o->tls == tls && strcmp(o->port, port) == 0 && len == host.len && memcmp(o->host, host.base, len) == 0)
            return o;
    }
    return new_origin(ups, url);
}

/* ---- the pool ---- */

/* The socket keeps reading: whoever takes the connection installs its own read
 * callback (h2o_socket_read_start on a reading socket only swaps it), which saves
 * two epoll_ctl calls per request. */
static void unlink_idle(pd_upconn_t *conn)
{
    h2o_linklist_unlink(&conn->idle_link);
    conn->origin->num_idle--;
    upstreams_disarm(&conn->idle_timer);
}

void upconn_close(pd_upconn_t *conn)
{
    h2o_socket_close(conn->sock);
    free(conn);
}

/* An idle connection that is readable was closed by the origin, or sent bytes
 * no request asked for: either way it cannot serve another request. */
static void on_idle_event(h2o_socket_t *sock, const char *err)
{
    pd_upconn_t *conn = sock->data;

    /* TLS records that carry no data (a late session ticket) wake us up too */
    if (err == NULL && sock->input->size == 0)
        return;
    unlink_idle(conn);
    upconn_close(conn);
}

static void on_idle_timeout(h2o_timeout_entry_t *entry)
{
    pd_upconn_t *conn = H2O_STRUCT_FROM_MEMBER(pd_upconn_t, idle_timer, entry);

    unlink_idle(conn);
    upconn_close(conn);
}

void upconn_release(pd_upconn_t *conn)
{
    pd_origin_t *origin = conn->origin;

    if (origin->num_idle >= origin->ups->conf->upstream.keepalive || conn->sock->input->size != 0 ||
        h2o_socket_is_writing(conn->sock)) {
        upconn_close(conn);
        return;
    }
    conn->reused = 1;
    conn->sock->data = conn;
    h2o_linklist_insert(origin->idle.next, &conn->idle_link); /* first: reused first */
    origin->num_idle++;
    conn->idle_timer.cb = on_idle_timeout;
    upstreams_arm(origin->ups, upstreams_timeout(origin->ups, IDLE_TIMEOUT_MS), &conn->idle_timer);
    h2o_socket_read_start(conn->sock, on_idle_event);
}

pd_upconn_t *upconn_take_idle(pd_origin_t *origin)
{
    pd_upconn_t *conn;

    if (h2o_linklist_is_empty(&origin->idle))
        return NULL;
    conn = H2O_STRUCT_FROM_MEMBER(pd_upconn_t, idle_link, origin->idle.next);
    unlink_idle(conn);
    return conn;
}

/* Closes every idle connection and frees the origins: before upstreams_close(),
 * whose timers the idle connections are linked to. */
void origins_free(pd_upstreams_t *ups)
{
    pd_upconn_t *conn;
    size_t i;

    for (i = 0; i < ups->origins.size; i++) {
        pd_origin_t *origin = ups->origins.entries[i];
        while ((conn = upconn_take_idle(origin)) != NULL)
            upconn_close(conn);
        free(origin->host);
        free(origin);
    }
    free(ups->origins.entries);
    memset(&ups->origins, 0, sizeof(ups->origins));
}

h2o_socket_t *upconn_steal(pd_upconn_t *conn)
{
    h2o_socket_t *sock = conn->sock;

    free(conn);
    return sock;
}

/* ---- connecting ---- */

static void connect_done(pd_connect_t *c, h2o_socket_t *sock, int timed_out, const char *err)
{
    pd_upconn_t *conn = NULL;

    upstreams_disarm(&c->deadline);
    if (sock != NULL) {
        if ((conn = calloc(1, sizeof(*conn))) == NULL)
            fatal("%s", __func__);
        conn->sock = sock;
        conn->origin = c->origin;
        sock->data = conn;
    }
    c->cb(c->data, conn, timed_out, err);
    free(c);
}

static void on_handshake(h2o_socket_t *sock, const char *err)
{
    pd_connect_t *c = sock->data;

    c->sock = NULL;
    if (err != NULL) {
        h2o_socket_close(sock);
        connect_done(c, NULL, 0, err);
        return;
    }
    connect_done(c, sock, 0, NULL);
}

static void on_connect(h2o_socket_t *sock, const char *err)
{
    pd_connect_t *c = sock->data;

    if (err != NULL) {
        c->sock = NULL;
        h2o_socket_close(sock);
        connect_done(c, NULL, 0, err);
        return;
    }
    if (c->origin->tls) {
        h2o_socket_ssl_handshake(sock, c->origin->ups->ssl_ctx, c->origin->host, on_handshake);
        return;
    }
    c->sock = NULL;
    connect_done(c, sock, 0, NULL);
}

static void on_failed_at_once(h2o_timeout_entry_t *entry)
{
    pd_connect_t *c = H2O_STRUCT_FROM_MEMBER(pd_connect_t, deadline, entry);

    connect_done(c, NULL, 0, c->failed);
}

static void connect_to(pd_connect_t *c, struct sockaddr *addr, socklen_t len)
{
    pd_upstreams_t *ups = c->origin->ups;

    if ((c->sock = h2o_socket_connect(ups->ctx->loop, addr, len, on_connect)) == NULL) {
        /* the caller may still be inside upconn_connect(): report from the loop */
        c->failed = "connection failed";
        c->deadline.cb = on_failed_at_once;
        upstreams_arm(ups, upstreams_timeout(ups, 0), &c->deadline);
        return;
    }
    c->sock->data = c;
}

static void on_getaddr(h2o_hostinfo_getaddr_req_t *req, const char *errstr, struct addrinfo *res, void *data)
{
    pd_connect_t *c = data;

    (void)req;
    c->getaddr = NULL;
    if (errstr != NULL) {
        connect_done(c, NULL, 0, errstr);
        return;
    }
    connect_to(c, res->ai_addr, res->ai_addrlen);
}

static void on_deadline(h2o_timeout_entry_t *entry)
{
    pd_connect_t *c = H2O_STRUCT_FROM_MEMBER(pd_connect_t, deadline, entry);

    if (c->getaddr != NULL)
        h2o_hostinfo_getaddr_cancel(c->getaddr);
    if (c->sock != NULL)
        h2o_socket_close(c->sock);
    connect_done(c, NULL, 1, "connect timed out");
}

pd_connect_t *upconn_connect(pd_origin_t *origin, uint64_t timeout_ms, pd_upconn_cb cb, void *data)
{
    pd_upstreams_t *ups = origin->ups;
    pd_connect_t *c = calloc(1, sizeof(*c));

    if (c == NULL)
        fatal("%s", __func__);
    c->origin = origin;
    c->cb = cb;
    c->data = data;
    c->deadline.cb = on_deadline;
    upstreams_arm(ups, upstreams_timeout(ups, timeout_ms), &c->deadline);
    if (origin->addr_len == 0) {
        c->getaddr = h2o_hostinfo_getaddr(&ups->ctx->receivers.hostinfo_getaddr, h2o_iovec_init(origin->host, strlen(origin->host)),
                                          h2o_iovec_init(origin->port, strlen(origin->port)), AF_UNSPEC, SOCK_STREAM, IPPROTO_TCP,
                                          AI_ADDRCONFIG | AI_NUMERICSERV, on_getaddr, c);
        return c;
    }
    connect_to(c, (struct sockaddr *)&origin->addr, origin->addr_len);
    return c;
}

void upconn_connect_cancel(pd_connect_t *c)
{
    upstreams_disarm(&c->deadline);
    if (c->getaddr != NULL)
        h2o_hostinfo_getaddr_cancel(c->getaddr);
    if (c->sock != NULL)
        h2o_socket_close(c->sock);
    free(c);
}
