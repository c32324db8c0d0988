/* admin_events.c: GET /events on the admin listener, a WebSocket: the statistics every second, each registry change at once. */
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <openssl/crypto.h>
#include <h2o/websocket.h>
#include "proxyd.h"

#define TICK_MS 1000
#define MAX_CLIENTS 64
#define MAX_UNAUTHENTICATED 16   /* of MAX_CLIENTS: without a token yet, so that they cannot take every place */
#define AUTH_TIMEOUT_MS 5000     /* for the first message's token */
#define CLOSE_TIMEOUT_MS 2000    /* for the client's answer to our close frame */
#define MAX_CLIENT_MESSAGE 16384 /* a client sends only its token: more is closed with 1009 */
#define MAX_QUEUED_MESSAGES 16   /* a client this far behind is dropped */
#define MAX_QUEUED_BYTES (512 * 1024)
#define MAX_DRAINED (256 * 1024) /* unread bytes dropped at close, so that the close is a FIN */
#define SUBPROTOCOL "proxyd-events"
#define BEARER_PREFIX "bearer." /* "bearer.<token>": the token as a subprotocol, for browsers, which cannot send headers */

/* One WebSocket client; freed when its connection is. */
typedef struct events_client {
    h2o_linklist_t link; /* in pd_events_t.clients */
    pd_events_t *events;
    h2o_websocket_conn_t *conn; /* conn->sock is NULL until libh2o wrote the 101 */
    int authenticated;
    int closing;                  /* our close frame is queued: nothing more is sent */
    h2o_timeout_entry_t deadline; /* for the token, then for the close */
} events_client_t;

/* Main thread only, owned by pd_admin_t. */
struct pd_events {
    uv_loop_t *loop;
    const char *token; /* the admin's, borrowed */
    int auth_enabled;
    h2o_linklist_t clients;
    size_t num_clients;
    size_t num_unauthenticated;
    h2o_timeout_t auth_timeout;
    h2o_timeout_t close_timeout;
    uv_timer_t tick;
    uv_async_t changed;                    /* wakes the loop for what `published` holds */
    H2O_VECTOR(pd_snapshot_t *) published; /* held, in publish order, not yet reported */
    pd_snapshot_t *reported;               /* held: the registry as the last event described it */
    pd_sampler_t sampler;
    char *last_snapshot; /* the last tick's message, sent to clients as they join */
};

static size_t num_listening(pd_events_t *ev)
{
    return ev->num_clients - ev->num_unauthenticated;
}

static void client_free(events_client_t *c)
{
    pd_events_t *ev = c->events;

    h2o_linklist_unlink(&c->link);
    if (h2o_timeout_is_linked(&c->deadline))
        h2o_timeout_unlink(&c->deadline);
    ev->num_clients--;
    if (!c->authenticated)
        ev->num_unauthenticated--;
    free(c);
}

/* The connection and the client together; never from inside libh2o's websocket code. */
static void client_close_now(events_client_t *c)
{
    h2o_websocket_conn_t *conn = c->conn;

    client_free(c);
    h2o_websocket_close(conn);
}

/* Queues `text`; libh2o sends it on its next proceed. */
static void queue_text(events_client_t *c, const char *text, size_t len)
{
    struct wslay_event_msg msg = {WSLAY_TEXT_FRAME, (const uint8_t *)text, len};

    wslay_event_queue_msg(c->conn->ws_ctx, &msg);
}

/* Queues a close frame; the client has CLOSE_TIMEOUT_MS to answer it. */
static void refuse(events_client_t *c, uint16_t code, const char *reason)
{
    pd_events_t *ev = c->events;

    c->closing = 1;
    wslay_event_queue_close(c->conn->ws_ctx, code, (const uint8_t *)reason, strlen(reason));
    if (h2o_timeout_is_linked(&c->deadline))
        h2o_timeout_unlink(&c->deadline);
    h2o_timeout_link(ev->loop, &ev->close_timeout, &c->deadline);
}

/* Hello and the latest snapshot, queued: the caller is inside libh2o's proceed, or
 * before the 101 was written, after which libh2o proceeds by itself. */
static void welcome(events_client_t *c)
{
    pd_events_t *ev = c->events;
    char hello[128];
    int len = snprintf(hello, sizeof(hello), "{\"type\":\"hello\",\"interval_ms\":%d,\"version\":%llu}", TICK_MS,
                       (unsigned long long)(ev->reported != NULL ? ev->reported->version : 0));

    queue_text(c, hello, (size_t)len);
    if (ev->last_snapshot != NULL)
        queue_text(c, ev->last_snapshot, strlen(ev->last_snapshot));
}

static void authenticate(events_client_t *c)
{
    c->authenticated = 1;
    c->events->num_unauthenticated--;
    if (h2o_timeout_is_linked(&c->deadline))
        h2o_timeout_unlink(&c->deadline);
    welcome(c);
}

/* {"token": "..."}: the one message a client without a token may send. The bytes
 * are wiped either way: they may hold the token, or a near miss of it. */
static int first_message_authorizes(pd_events_t *ev, const struct wslay_event_on_msg_recv_arg *arg)
{
    json_t *msg = NULL, *token;
    int ok = 0;

    if (arg->opcode == WSLAY_TEXT_FRAME)
        msg = json_loadb((const char *)arg->msg, arg->msg_length, JSON_REJECT_DUPLICATES, NULL);
    if (msg != NULL && json_is_object(msg) && json_is_string(token = json_object_get(msg, "token"))) {
        ok = token_equal(ev->token, json_string_value(token), json_string_length(token));
        OPENSSL_cleanse((char *)json_string_value(token), json_string_length(token));
    }
    json_decref(msg);
    OPENSSL_cleanse((uint8_t *)arg->msg, arg->msg_length);
    return ok;
}

/* A client with this much still waiting to be sent reads slower than we write,
 * or not at all. The message being written is not counted: one snapshot larger
 * than MAX_QUEUED_BYTES (a large registry) does not make every client late. */
static int is_behind(events_client_t *c)
{
    return wslay_event_get_queued_msg_count(c->conn->ws_ctx) >= MAX_QUEUED_MESSAGES ||
           wslay_event_get_queued_msg_length(c->conn->ws_ctx) >= MAX_QUEUED_BYTES;
}

/* Bytes the client sent that nobody will read make the kernel answer the close
 * with a reset, and a reset can destroy our close frame before the client read it:
 * wslay stops reading once a message is over MAX_CLIENT_MESSAGE, mid-message. So
 * what is there is read and dropped first, up to a bound. */
static void drain(h2o_socket_t *sock)
{
    int fd = sock != NULL ? h2o_socket_get_fd(sock) : -1;
    char buf[4096];
    size_t total = 0;
    ssize_t n;

    while (fd != -1 && total < MAX_DRAINED && (n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
        total += (size_t)n;
}

/* libh2o's callback, from inside its proceed: a message, or NULL once the connection ended. */
static void on_message(h2o_websocket_conn_t *conn, const struct wslay_event_on_msg_recv_arg *arg)
{
    events_client_t *c = conn->data;

    if (arg == NULL) {
        client_free(c);
        drain(conn->sock);
        h2o_websocket_close(conn); /* libh2o touches conn no more after this callback */
        return;
    }
    /* wslay queues a pong for every ping before we see it: a client that pings and
     * never reads would pile them up, with or without a token */
    if (!c->closing && is_behind(c)) {
        log_warnx("admin /events: a client fell %zu messages behind, pinging: dropped",
                  wslay_event_get_queued_msg_count(c->conn->ws_ctx));
        refuse(c, WSLAY_CODE_POLICY_VIOLATION, "too far behind");
        wslay_event_shutdown_read(c->conn->ws_ctx); /* nor are its pings read any more */
        return;
    }
    /* an authenticated client has nothing to say: its messages (and every ping, which wslay answers) are ignored */
    if (c->authenticated || c->closing || (arg->opcode != WSLAY_TEXT_FRAME && arg->opcode != WSLAY_BINARY_FRAME))
        return;
    if (first_message_authorizes(c->events, arg)) {
        authenticate(c);
        return;
    }
    log_warnx("admin /events: first message without the admin token: closed");
    refuse(c, WSLAY_CODE_POLICY_VIOLATION, "a valid admin token is required");
}

/* The token's time, or the close's, is up. */
static void on_deadline(h2o_timeout_entry_t *entry)
{
    events_client_t *c = H2O_STRUCT_FROM_MEMBER(events_client_t, deadline, entry);
    h2o_websocket_conn_t *conn = c->conn;

    if (conn->sock == NULL) { /* the 101 is still being written: try again later */
        h2o_timeout_link(c->events->loop, c->closing ? &c->events->close_timeout : &c->events->auth_timeout, &c->deadline);
        return;
    }
    if (c->closing) {
        client_close_now(c);
        return;
    }
    log_warnx("admin /events: no token within %d s: closed", AUTH_TIMEOUT_MS / 1000);
    refuse(c, WSLAY_CODE_POLICY_VIOLATION, "no admin token within 5 seconds");
    h2o_websocket_proceed(conn); /* may free c */
}

/* Sends `text` to every authenticated client; one that fell behind is dropped. */
static void broadcast(pd_events_t *ev, const char *text)
{
    size_t len = strlen(text);
    h2o_linklist_t *node, *next;

    for (node = ev->clients.next; node != &ev->clients; node = next) {
        events_client_t *c = H2O_STRUCT_FROM_MEMBER(events_client_t, link, node);
        next = node->next; /* proceed may free c, never another client */
        if (!c->authenticated || c->closing)
            continue;
        if (c->conn->sock != NULL && is_behind(c)) {
            log_warnx("admin /events: a client fell %zu messages (%zu bytes) behind: dropped",
                      wslay_event_get_queued_msg_count(c->conn->ws_ctx), wslay_event_get_queued_msg_length(c->conn->ws_ctx));
            client_close_now(c);
            continue;
        }
        queue_text(c, text, len);
        if (c->conn->sock != NULL)
            h2o_websocket_proceed(c->conn);
    }
}

static void send_json(pd_events_t *ev, json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT | JSON_REAL_PRECISION(6));

    json_decref(msg);
    if (text == NULL)
        fatalx("%s: json_dumps failed", __func__);
    broadcast(ev, text);
    free(text);
}

/* The registry changes published since the last call, each as one event, in order. */
static void report_changes(pd_events_t *ev)
{
    size_t i;

    for (i = 0; i < ev->published.size; i++) {
        pd_snapshot_t *snap = ev->published.entries[i];
        if (num_listening(ev) != 0)
            send_json(ev, admin_snapshot_change(ev->reported, snap));
        snapshot_decref(ev->reported);
        ev->reported = snap;
    }
    ev->published.size = 0;
}

static void on_changed(uv_async_t *async)
{
    report_changes(async->data);
}

/* Under the registry's lock, on the main thread (change_queue.c publishes): the
 * snapshot is only kept, and reported once the loop comes back to us. */
static void on_publish(void *data, pd_snapshot_t *snap)
{
    pd_events_t *ev = data;

    snapshot_incref(snap);
    if (ev->reported == NULL) { /* the registry as it is when we subscribe */
        ev->reported = snap;
        return;
    }
    h2o_vector_reserve(NULL, &ev->published, ev->published.size + 1);
    ev->published.entries[ev->published.size++] = snap;
    uv_async_send(&ev->changed);
}

/* Every second, clients or not: the counters are read at each tick, so that the
 * rates a joining client sees cover one second. */
static void on_tick(uv_timer_t *timer)
{
    pd_events_t *ev = timer->data;
    pd_snapshot_t *snap;
    json_t *msg;

    report_changes(ev); /* a change goes out before the snapshot that shows it */
    snap = registry_acquire();
    msg = admin_snapshot_take(&ev->sampler, snap, ev->auth_enabled);
    snapshot_decref(snap);
    free(ev->last_snapshot);
    if ((ev->last_snapshot = json_dumps(msg, JSON_COMPACT | JSON_REAL_PRECISION(6))) == NULL)
        fatalx("%s: json_dumps failed", __func__);
    json_decref(msg);
    broadcast(ev, ev->last_snapshot);
}

pd_events_t *admin_events_new(uv_loop_t *loop, const char *token, int auth_enabled)
{
    pd_events_t *ev = calloc(1, sizeof(*ev));

    if (ev == NULL)
        fatal("%s", __func__);
    ev->loop = loop;
    ev->token = token;
    ev->auth_enabled = auth_enabled;
    h2o_linklist_init_anchor(&ev->clients);
    h2o_timeout_init(loop, &ev->auth_timeout, AUTH_TIMEOUT_MS);
    h2o_timeout_init(loop, &ev->close_timeout, CLOSE_TIMEOUT_MS);
    uv_async_init(loop, &ev->changed, on_changed);
    ev->changed.data = ev;
    uv_timer_init(loop, &ev->tick);
    ev->tick.data = ev;
    uv_timer_start(&ev->tick, on_tick, TICK_MS, TICK_MS);
    registry_on_publish(on_publish, ev);
    return ev;
}

/* ---- the handshake ---- */

/* What the client's Sec-WebSocket-Protocol fields offered. */
typedef struct offer {
    int any;           /* at least one subprotocol */
    int events;        /* SUBPROTOCOL among them */
    size_t bearers;    /* "bearer.<token>" elements */
    h2o_iovec_t token; /* the last one's token */
} offer_t;

static int on_subprotocol(void *data, const char *s, size_t n)
{
    offer_t *o = data;

    o->any = 1;
    if (n == sizeof(SUBPROTOCOL) - 1 && memcmp(s, SUBPROTOCOL, n) == 0) {
        o->events = 1;
    } else if (n > sizeof(BEARER_PREFIX) - 1 && strncasecmp(s, BEARER_PREFIX, sizeof(BEARER_PREFIX) - 1) == 0) {
        o->bearers++;
        o->token = h2o_iovec_init(s + sizeof(BEARER_PREFIX) - 1, n - (sizeof(BEARER_PREFIX) - 1));
    }
    return 0;
}

/* Every Sec-WebSocket-Protocol field, each element once: linear in the header's size. */
static void read_offer(h2o_req_t *req, offer_t *o)
{
    ssize_t i = -1;

    memset(o, 0, sizeof(*o));
    while ((i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("sec-websocket-protocol"), i)) != -1)
        http_list_each(req->headers.entries[i].value.base, req->headers.entries[i].value.len, on_subprotocol, o);
}

/* A WebSocket handshake over HTTP/1.1 (RFC 6455 §4.2.1) whose key is the base64 of 16 bytes; *key points at it. */
static int is_handshake(h2o_req_t *req, const char **key)
{
    char accept[PD_WEBSOCKET_ACCEPT_SIZE];

    if (req->version != 0x101 || h2o_is_websocket_handshake(req, key) != 0 || *key == NULL)
        return 0;
    return websocket_accept(h2o_iovec_init(*key, 24), accept) == 0;
}

static int version_is_13(h2o_req_t *req)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("sec-websocket-version"), -1);

    return i != -1 && h2o_memis(req->headers.entries[i].value.base, req->headers.entries[i].value.len, H2O_STRLIT("13"));
}

/* The refusals before the upgrade, as the rest of the admin API answers; 0 when the
 * request may become a client. `*authorized` is set by a valid bearer subprotocol. */
static int refused(pd_events_t *ev, h2o_req_t *req, const offer_t *o, int *authorized)
{
    if (o->bearers > 1 || (o->bearers == 1 && !o->events)) {
        admin_send_error(req, 400, "Bad Request", NULL, "offer the subprotocol %s with one bearer.<token>", SUBPROTOCOL);
    } else if (o->any && !o->events) {
        admin_send_error(req, 400, "Bad Request", NULL, "the subprotocol of /events is %s", SUBPROTOCOL);
    } else if (o->bearers == 1 && !token_equal(ev->token, o->token.base, o->token.len)) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
                       H2O_STRLIT("Bearer realm=\"proxyd-admin\""));
        admin_send_error(req, 401, "Unauthorized", NULL, "the admin token in the bearer subprotocol is not valid");
    } else if (ev->num_clients >= MAX_CLIENTS ||
               (!*authorized && o->bearers == 0 && ev->num_unauthenticated >= MAX_UNAUTHENTICATED)) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, H2O_STRLIT("5"));
        admin_send_error(req, 503, "Service Unavailable", NULL, "too many /events clients (at most %d)", MAX_CLIENTS);
    } else {
        *authorized |= o->bearers == 1;
        return 0;
    }
    return 1;
}

static events_client_t *client_new(pd_events_t *ev, int authorized)
{
    events_client_t *c = calloc(1, sizeof(*c));

    if (c == NULL)
        fatal("%s", __func__);
    c->events = ev;
    c->authenticated = authorized;
    c->deadline.cb = on_deadline;
    h2o_linklist_insert(&ev->clients, &c->link);
    ev->num_clients++;
    if (!authorized)
        ev->num_unauthenticated++;
    return c;
}

/* GET /events. The token comes as the subprotocol "bearer.<token>" next to
 * SUBPROTOCOL, in Authorization (`authorized`: admin.c checked it), or as the first
 * message; never from the URL. The answer names SUBPROTOCOL only: the token is
 * never sent back. */
void admin_events_accept(pd_events_t *ev, h2o_req_t *req, int authorized)
{
    const char *key;
    events_client_t *c;
    offer_t offer;

    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        admin_send_method_not_allowed(req, "GET", "/events is a WebSocket");
        return;
    }
    if (!is_handshake(req, &key)) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_UPGRADE, NULL, H2O_STRLIT("websocket"));
        admin_send_error(req, 426, "Upgrade Required", NULL, "/events is a WebSocket: send an HTTP/1.1 WebSocket handshake");
        return;
    }
    if (!version_is_13(req)) {
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("sec-websocket-version"), 0, NULL, H2O_STRLIT("13"));
        admin_send_error(req, 426, "Upgrade Required", NULL, "WebSocket version 13 only");
        return;
    }
    read_offer(req, &offer);
    if (refused(ev, req, &offer, &authorized))
        return;
    if (offer.events)
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("sec-websocket-protocol"), 0, NULL,
                              H2O_STRLIT(SUBPROTOCOL));
    c = client_new(ev, authorized);
    c->conn = h2o_upgrade_to_websocket(req, key, c, on_message);
    wslay_event_config_set_max_recv_msg_length(c->conn->ws_ctx, MAX_CLIENT_MESSAGE);
    if (authorized)
        welcome(c);
    else
        h2o_timeout_link(ev->loop, &ev->auth_timeout, &c->deadline);
}

/* At shutdown: stops the ticks and the registry's reports, and closes every client
 * whose connection is open; returns how many were closed (their sockets finish
 * closing on the next loop run). A client whose 101 is still being written stays
 * to the process exit. */
size_t admin_events_stop(pd_events_t *ev)
{
    h2o_linklist_t *node, *next;
    size_t closed = 0;

    registry_off_publish(on_publish, ev);
    uv_close((uv_handle_t *)&ev->tick, NULL);
    uv_close((uv_handle_t *)&ev->changed, NULL);
    for (node = ev->clients.next; node != &ev->clients; node = next) {
        events_client_t *c = H2O_STRUCT_FROM_MEMBER(events_client_t, link, node);
        next = node->next;
        if (c->conn->sock != NULL) {
            client_close_now(c);
            closed++;
        } else if (h2o_timeout_is_linked(&c->deadline)) {
            h2o_timeout_unlink(&c->deadline);
        }
    }
    h2o_timeout_dispose(ev->loop, &ev->auth_timeout);
    h2o_timeout_dispose(ev->loop, &ev->close_timeout);
    return closed;
}

/* Once the loop ran the close callbacks of admin_events_stop(). */
void admin_events_free(pd_events_t *ev)
{
    size_t i;

    for (i = 0; i < ev->published.size; i++)
        snapshot_decref(ev->published.entries[i]);
    free(ev->published.entries);
    snapshot_decref(ev->reported);
    free(ev->last_snapshot);
    free(ev);
}
