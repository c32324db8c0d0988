/* ws_hub.h: a set of WebSocket clients (a chat room, a stream's watchers) and bounded broadcasting to them. */
#ifndef WS_HUB_H
#define WS_HUB_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include <h2o.h>
#include <h2o/websocket.h>

typedef struct ws_client ws_client_t;

/* Called for each text message a client sends (valid UTF-8, at most max_message bytes: wslay checks both);
 * text is borrowed for the call. Runs inside the client's receive: it may broadcast and ws_client_fail(). */
typedef void (*ws_hub_text_cb)(ws_client_t *client, const char *text, size_t len);

/* Limits that keep one client from costing the others time or memory. */
typedef struct ws_hub_limits {
    size_t max_clients;       /* more handshakes get 503 */
    size_t max_message;       /* bytes of one received message; a longer one closes the connection with 1009 */
    size_t max_queue;         /* messages waiting for one client; one more and the client is dropped as too slow */
    uint64_t idle_timeout_ms; /* a client that sends nothing, not even the pong to our pings, for this long is dropped */
    /* messages a second from one client, in bursts of as many; a faster one is closed with 1008. libh2o 2.2.5 writes one
     * frame (in two writes) per loop iteration and client, so a sender that outpaced that would fill every queue */
    unsigned max_rate; /* at least 1 */
} ws_hub_limits_t;

/* One hub per endpoint, a static of its program: the name and limits are set there, the rest is the hub's own. */
typedef struct ws_hub {
    const char *name; /* "chat", "watchers": in log lines */
    ws_hub_limits_t limits;
    ws_hub_text_cb on_text;  /* NULL: text messages are ignored */
    size_t client_data_size; /* bytes of zeroed per-client state for the program (ws_client_data) */
    /* the hub's own state */
    ws_client_t *clients; /* doubly linked, newest first */
    size_t num_clients;
    uint64_t next_client_id;
    uint64_t num_dropped;   /* clients dropped as too slow */
    uv_loop_t *loop;        /* NULL until the first client: then the timers run on it */
    uv_timer_t flush_timer; /* sends and closes outside any client's callback */
    uv_timer_t sweep_timer; /* pings clients and drops the silent ones, every idle_timeout_ms / 2 */
} ws_hub_t;

/* ws_hub.c */
void ws_hub_accept(ws_hub_t *hub, h2o_req_t *req);
void ws_hub_broadcast(ws_hub_t *hub, const char *text, size_t len);
uint64_t ws_client_id(const ws_client_t *client);
void *ws_client_data(ws_client_t *client);
void ws_client_fail(ws_client_t *client, uint16_t code, const char *reason);

#endif
