/* ws_hub.c: WebSocket clients of one endpoint on libh2o's WebSocket API (wslay underneath), and bounded broadcasting to them.
 *
 * Why things are deferred: libh2o calls us from inside wslay_event_recv() of the client that sent a message, and
 * h2o_websocket_proceed() or h2o_websocket_close() on that client there would free the wslay context under wslay's feet.
 * So a broadcast only queues (wslay copies the message), and a zero-delay timer pushes the queues out and closes dropped
 * clients from the event loop, where no client is in the middle of a callback.
 *
 * What bounds a client: max_message per received message (wslay), max_rate messages a second, max_queue messages waiting
 * for it (a slow reader is dropped rather than buffered for), max_clients, and idle_timeout: a client that answers no ping
 * (or not our close frame) for that long is dropped, so a dead peer does not keep its place forever.
 *
 * Who may connect: a browser only from a page of the host it asked for (origin_allowed()), since it sends the user's
 * cookies with a handshake that any page opens. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "demo_server.h"
#include "ws_hub.h"

struct ws_client {
    ws_client_t *prev, *next; /* in hub->clients */
    ws_hub_t *hub;
    h2o_websocket_conn_t *conn; /* conn->sock is NULL until libh2o has sent the 101 */
    uint64_t id;
    uint64_t last_seen_ms; /* uv_now() of the last frame it sent, pongs included */
    double allowance;      /* messages it may still send: a token bucket refilled at max_rate a second ... */
    uint64_t allowance_ms; /* ... last at this uv_now() */
    int needs_flush;       /* messages queued since the last h2o_websocket_proceed() */
    int closing;           /* we sent a close frame: what comes before the peer's answer is ignored */
    int dropped;           /* nothing more is read, queued or sent; closed at the next flush */
    void *data;            /* hub->client_data_size zeroed bytes for the program; freed with the client */
};

uint64_t ws_client_id(const ws_client_t *client)
{
    return client->id;
}

void *ws_client_data(ws_client_t *client)
{
    return client->data;
}

static void on_flush(uv_timer_t *timer);

/* The client's queue goes out at the next loop iteration, outside any callback. */
static void want_flush(ws_client_t *client)
{
    client->needs_flush = 1;
    if (!uv_is_active((uv_handle_t *)&client->hub->flush_timer))
        uv_timer_start(&client->hub->flush_timer, on_flush, 0, 0);
}

static void unlink_and_free(ws_client_t *client)
{
    ws_hub_t *hub = client->hub;

    if (client->prev != NULL)
        client->prev->next = client->next;
    else
        hub->clients = client->next;
    if (client->next != NULL)
        client->next->prev = client->prev;
    --hub->num_clients;
    free(client->data);
    free(client);
}

/* Stops the client at once: no more reads, writes or queueing; on_flush closes it. */
static void drop(ws_client_t *client, const char *why)
{
    demo_warnx("%s: client %" PRIu64 " dropped: %s", client->hub->name, client->id, why);
    client->dropped = 1;
    ++client->hub->num_dropped;
    wslay_event_shutdown_read(client->conn->ws_ctx);
    wslay_event_shutdown_write(client->conn->ws_ctx);
    want_flush(client);
}

/* Closes the connection with a close frame (RFC 6455 7.1.7): reason is ASCII, cut at the 123 bytes a close frame holds.
 * wslay sends control frames first: messages still queued for the client are not sent. */
void ws_client_fail(ws_client_t *client, uint16_t code, const char *reason)
{
    size_t len = strlen(reason);

    demo_warnx("%s: client %" PRIu64 " closed with %u: %s", client->hub->name, client->id, code, reason);
    wslay_event_queue_close(client->conn->ws_ctx, code, (const uint8_t *)reason, len < 123 ? len : 123);
    /* Reading goes on until the peer answers (RFC 6455 7.1.1): closing with its messages unread would reset the
     * connection, and the peer might never see why. last_seen_ms stops here, so one that never answers is dropped
     * as silent. */
    client->closing = 1;
    want_flush(client);
}

static size_t queued(ws_client_t *client)
{
    return wslay_event_get_queued_msg_count(client->conn->ws_ctx);
}

void ws_hub_broadcast(ws_hub_t *hub, const char *text, size_t len)
{
    struct wslay_event_msg msg = {WSLAY_TEXT_FRAME, (const uint8_t *)text, len};
    ws_client_t *client;

    for (client = hub->clients; client != NULL; client = client->next) {
        if (client->dropped)
            continue;
        if (queued(client) >= hub->limits.max_queue) {
            drop(client, "too slow: its queue is full");
            continue;
        }
        /* fails only once the client is closing, when it takes nothing more */
        if (wslay_event_queue_msg(client->conn->ws_ctx, &msg) == 0)
            want_flush(client);
    }
}

/* Takes one message from the client's allowance; 0 when it had none left. */
static int within_rate(ws_client_t *client, uint64_t now)
{
    double rate = client->hub->limits.max_rate;

    client->allowance += (double)(now - client->allowance_ms) * rate / 1000;
    client->allowance_ms = now;
    if (client->allowance > rate)
        client->allowance = rate;
    if (client->allowance < 1)
        return 0;
    client->allowance -= 1;
    return 1;
}

/* Every client message ends here, control frames included; arg NULL: the connection is gone (libh2o's contract). */
static void on_ws_event(h2o_websocket_conn_t *conn, const struct wslay_event_on_msg_recv_arg *arg)
{
    ws_client_t *client = conn->data;
    ws_hub_t *hub = client->hub;
    uint64_t now;
    int rate_ok;

    if (arg == NULL) {
        h2o_websocket_close(conn);
        unlink_and_free(client);
        return;
    }
    if (client->dropped || client->closing)
        return;
    now = uv_now(hub->loop);
    rate_ok = wslay_is_ctrl_frame(arg->opcode) || within_rate(client, now);
    client->last_seen_ms = now;
    /* pings answered with pongs it never reads would pile up too */
    if (queued(client) > hub->limits.max_queue) {
        drop(client, "reads nothing it is sent");
    } else if (!rate_ok) {
        ws_client_fail(client, WSLAY_CODE_POLICY_VIOLATION, "too many messages a second");
    } else if (arg->opcode == WSLAY_BINARY_FRAME) {
        ws_client_fail(client, WSLAY_CODE_UNSUPPORTED_DATA, "text messages only");
    } else if (arg->opcode == WSLAY_TEXT_FRAME && hub->on_text != NULL) {
        hub->on_text(client, (const char *)arg->msg, arg->msg_length);
    }
}

/* Sends what was queued and closes dropped clients. proceed() may end in on_ws_event(NULL), which frees that client only. */
static void on_flush(uv_timer_t *timer)
{
    ws_hub_t *hub = timer->data;
    ws_client_t *client, *next;

    for (client = hub->clients; client != NULL; client = next) {
        next = client->next;
        if (client->conn->sock == NULL)
            continue; /* the 101 is still being sent: libh2o proceeds (and closes, once dropped) when it is */
        if (client->dropped) {
            h2o_websocket_close(client->conn);
            unlink_and_free(client);
        } else if (client->needs_flush) {
            client->needs_flush = 0;
            h2o_websocket_proceed(client->conn);
        }
    }
}

/* Drops clients silent for idle_timeout and pings the others, which answer with a pong. */
static void on_sweep(uv_timer_t *timer)
{
    ws_hub_t *hub = timer->data;
    struct wslay_event_msg ping = {WSLAY_PING, NULL, 0};
    uint64_t now = uv_now(hub->loop);
    ws_client_t *client;

    for (client = hub->clients; client != NULL; client = client->next) {
        if (client->dropped || client->conn->sock == NULL)
            continue;
        if (now - client->last_seen_ms >= hub->limits.idle_timeout_ms)
            drop(client, client->closing ? "no answer to our close frame" : "silent for too long");
        else if (wslay_event_queue_msg(client->conn->ws_ctx, &ping) == 0)
            want_flush(client);
    }
}

static void start_timers(ws_hub_t *hub, uv_loop_t *loop)
{
    uint64_t sweep_ms = hub->limits.idle_timeout_ms / 2;

    hub->loop = loop;
    uv_timer_init(loop, &hub->flush_timer);
    hub->flush_timer.data = hub;
    uv_timer_init(loop, &hub->sweep_timer);
    hub->sweep_timer.data = hub;
    uv_timer_start(&hub->sweep_timer, on_sweep, sweep_ms, sweep_ms);
}

/* The host[:port] the client asked for: behind proxyd its X-Forwarded-Host (proxyd sets it and removes clients' copies;
 * the Host is then the service's own address), else the Host. */
static h2o_iovec_t asked_host(h2o_req_t *req)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-forwarded-host"), -1);

    return i != -1 ? req->headers.entries[i].value : req->input.authority;
}

/* Cross-site WebSocket hijacking: a browser sends the user's cookies with the handshake of a WebSocket that any page
 * opens, and no CORS stands in the way, but it names the page's origin in Origin (RFC 6455 4.1, 10.2). A handshake with
 * an Origin must come from a page of the host it was made to: the origin's host[:port] equal to asked_host(), as
 * browsers write both (no default port). Clients other than browsers send none and pass. "null" (a data: URL, a
 * sandboxed frame), another scheme than http(s), a path or a second Origin field are refused. */
static int origin_allowed(h2o_req_t *req)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1);
    h2o_iovec_t origin, host;
    h2o_url_t url;

    if (i == -1)
        return 1;
    origin = req->headers.entries[i].value;
    if (h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), i) != -1 || h2o_url_parse(origin.base, origin.len, &url) != 0 ||
        url.path.len != 1)
        return 0;
    host = asked_host(req);
    return url.authority.len == host.len && strncasecmp(url.authority.base, host.base, host.len) == 0;
}

/* 0 for a handshake we take, else the status it gets (and why in *why). */
static int check_handshake(ws_hub_t *hub, h2o_req_t *req, const char **key, const char **why)
{
    ssize_t i;

    if (req->version >= 0x200) { /* libh2o upgrades HTTP/1 connections only (it asserts so) */
        *why = "WebSocket handshakes need HTTP/1.1";
        return 400;
    }
    if (h2o_is_websocket_handshake(req, key) != 0) {
        *why = "Sec-WebSocket-Key must be 24 characters (RFC 6455 4.1)";
        return 400;
    }
    if (*key == NULL) { /* RFC 6455 4.2.1: not a handshake */
        *why = "this is a WebSocket endpoint: connect with Upgrade: websocket";
        return 400;
    }
    i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("sec-websocket-version"), -1);
    if (i == -1 || !h2o_memis(req->headers.entries[i].value.base, req->headers.entries[i].value.len, H2O_STRLIT("13"))) {
        *why = "unsupported WebSocket version: this server speaks 13 (RFC 6455)";
        return 426;
    }
    if (!origin_allowed(req)) {
        *why = "Origin is not this page's host: pages of other sites may not open this WebSocket";
        return 403;
    }
    if (hub->num_clients >= hub->limits.max_clients) {
        *why = "too many clients";
        return 503;
    }
    return 0;
}

static ws_client_t *new_client(ws_hub_t *hub, uv_loop_t *loop)
{
    ws_client_t *client = h2o_mem_alloc(sizeof(*client));

    memset(client, 0, sizeof(*client));
    client->hub = hub;
    client->id = ++hub->next_client_id;
    client->last_seen_ms = uv_now(loop);
    client->allowance = hub->limits.max_rate; /* a full second's worth to start with */
    client->allowance_ms = client->last_seen_ms;
    client->data = calloc(1, hub->client_data_size != 0 ? hub->client_data_size : 1);
    if (client->data == NULL)
        h2o_fatal("out of memory");
    client->next = hub->clients;
    if (hub->clients != NULL)
        hub->clients->prev = client;
    hub->clients = client;
    ++hub->num_clients;
    return client;
}

/* Answers req: 101 and a new client of the hub, or an error (400 for a plain request, 403 from a page of another origin,
 * 503 when full). */
void ws_hub_accept(ws_hub_t *hub, h2o_req_t *req)
{
    const char *key, *why;
    int status = check_handshake(hub, req, &key, &why);
    ws_client_t *client;

    if (status != 0) {
        if (status == 426) { /* RFC 6455 4.2.2 names the version; RFC 9110 15.5.22 the upgrade */
            demo_add_header(req, "Sec-WebSocket-Version", h2o_iovec_init(H2O_STRLIT("13")));
            demo_add_header(req, "Upgrade", h2o_iovec_init(H2O_STRLIT("websocket"))); /* libh2o adds Connection */
        }
        if (status == 403)
            demo_warnx("%s: handshake refused: %s", hub->name, why);
        demo_send_error(req, status, why);
        return;
    }
    if (hub->loop == NULL)
        start_timers(hub, req->conn->ctx->loop);
    client = new_client(hub, hub->loop);
    client->conn = h2o_upgrade_to_websocket(req, key, client, on_ws_event);
    /* before the first read, which waits for the 101 to be sent */
    wslay_event_config_set_max_recv_msg_length(client->conn->ws_ctx, hub->limits.max_message);
}
