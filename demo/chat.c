/* chat.c: demo chat room: its page, and /chatsocket, a WebSocket that sends every text message to every client, the sender
 * included. */
#include <string.h>
#include "demo_server.h"
#include "ws_hub.h"

static void on_chat_text(ws_client_t *client, const char *text, size_t len);

static ws_hub_t room = {
    .name = "room",
    .limits = {.max_clients = 100, .max_message = 4096, .max_queue = 64, .idle_timeout_ms = 60000, .max_rate = 20},
    .on_text = on_chat_text,
};
static uint64_t num_messages;

/* Messages go out as they came: wslay has checked that they are UTF-8 and within max_message. */
static void on_chat_text(ws_client_t *client, const char *text, size_t len)
{
    (void)client;
    ++num_messages;
    ws_hub_broadcast(&room, text, len);
}

static void send_stats(h2o_req_t *req)
{
    demo_send_json(req, 200,
                   json_pack("{s:I, s:I, s:I}", "clients", (json_int_t)room.num_clients, "messages", (json_int_t)num_messages,
                             "dropped", (json_int_t)room.num_dropped));
}

/* /chatsocket and /stats; everything else is the page's. */
static int on_request(h2o_req_t *req)
{
    if (demo_path_is(req, "/chatsocket")) {
        ws_hub_accept(&room, req);
        return 0;
    }
    if (demo_path_is(req, "/stats")) {
        send_stats(req);
        return 0;
    }
    return -1;
}

static int on_max_clients(const char *arg)
{
    return demo_parse_count(arg, 1, 100000, &room.limits.max_clients);
}

static int on_max_message(const char *arg)
{
    return demo_parse_count(arg, 1, 1 << 20, &room.limits.max_message);
}

static int on_max_queue(const char *arg)
{
    return demo_parse_count(arg, 1, 100000, &room.limits.max_queue);
}

static int on_max_rate(const char *arg)
{
    size_t rate;

    if (demo_parse_count(arg, 1, 1000000, &rate) != 0)
        return -1;
    room.limits.max_rate = (unsigned)rate;
    return 0;
}

static int on_idle_timeout(const char *arg)
{
    unsigned ms;

    if (demo_parse_ms(arg, strlen(arg), &ms) != 0 || ms < 100)
        return -1;
    room.limits.idle_timeout_ms = ms;
    return 0;
}

static const demo_option_t options[] = {
    {"max-clients", 0, "N", "at most N connected clients; more get 503 (default 100)", on_max_clients},
    {"max-message", 0, "BYTES", "longest message; a longer one closes its connection with 1009 (default 4096)", on_max_message},
    {"max-queue", 0, "N", "messages waiting for one client; one more drops it as too slow (default 64)", on_max_queue},
    {"max-rate", 0, "N", "messages a second from one client; more close it with 1008 (default 20)", on_max_rate},
    {"idle-timeout", 0, "MS", "drop a client that answers no ping for MS milliseconds (default 60000)", on_idle_timeout},
    {NULL, 0, NULL, NULL, NULL},
};

static const demo_server_t chat = {"chat", "127.0.0.1:9003", options, on_request, "demo/www/chat"};

int main(int argc, char **argv)
{
    return demo_main(&chat, argc, argv);
}
