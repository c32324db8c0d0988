/* noise.c: demo live noise meter: producers send sound-level readings to /sensor, and /live streams every reading, in order,
 * to every watcher; the page is a watcher (index.html) and a producer (producer.html). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "demo_server.h"
#include "ws_hub.h"

/* What a producer sends, ten times a second: {"seq": 17, "level": 0.42, "source": "mic"}. */
struct reading {
    json_int_t seq;     /* counts up on each connection */
    double level;       /* RMS of the samples, 0..1 */
    const char *source; /* "mic", "generated" or "unknown" (not sent): a literal */
};

/* Per producer connection (its ws_client_data). */
struct producer {
    json_int_t last_seq;
    int has_seq;
};

static void on_reading(ws_client_t *client, const char *text, size_t len);

static ws_hub_t producers = {
    .name = "producers",
    .limits = {.max_clients = 8, .max_message = 1024, .max_queue = 64, .idle_timeout_ms = 60000, .max_rate = 50},
    .on_text = on_reading,
    .client_data_size = sizeof(struct producer),
};
/* watchers only listen: what they send is read (pongs keep them alive) and ignored */
static ws_hub_t watchers = {
    .name = "watchers",
    .limits = {.max_clients = 100, .max_message = 1024, .max_queue = 64, .idle_timeout_ms = 60000, .max_rate = 10},
};
static uint64_t num_readings;

/* A close frame's reason is ASCII here: jansson quotes the offending input in its messages. */
static void make_ascii(char *s)
{
    for (; *s != '\0'; ++s)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            *s = '?';
}

/* Fields other than these three are ignored, so that producers may send more. */
static const char *check_fields(json_t *root, struct reading *r)
{
    json_t *seq = json_object_get(root, "seq"), *level = json_object_get(root, "level"), *source = json_object_get(root, "source");

    if (!json_is_integer(seq) || json_integer_value(seq) < 0)
        return "seq must be a whole number, 0 or more";
    if (!json_is_number(level) || !(json_number_value(level) >= 0 && json_number_value(level) <= 1))
        return "level must be a number from 0 to 1";
    r->seq = json_integer_value(seq);
    r->level = json_number_value(level);
    if (source == NULL)
        r->source = "unknown";
    else if (json_is_string(source) && strcmp(json_string_value(source), "mic") == 0)
        r->source = "mic";
    else if (json_is_string(source) && strcmp(json_string_value(source), "generated") == 0)
        r->source = "generated";
    else
        return "source must be \"mic\" or \"generated\"";
    return NULL;
}

/* 0, or -1 with the problem in why (ASCII, for a close frame). */
static int parse_reading(const char *text, size_t len, struct reading *r, char *why, size_t why_size)
{
    json_error_t err;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    const char *problem;

    if (root == NULL) {
        snprintf(why, why_size, "not JSON: %.80s at column %d", err.text, err.column);
        make_ascii(why);
        return -1;
    }
    problem = json_is_object(root) ? check_fields(root, r) : "a reading is an object: {\"seq\": 1, \"level\": 0.5}";
    json_decref(root);
    if (problem != NULL) {
        snprintf(why, why_size, "%s", problem);
        return -1;
    }
    return 0;
}

/* Every watcher gets the reading with its number among all readings (n) and its producer's connection. */
static void relay(ws_client_t *client, const struct reading *r)
{
    json_t *out = json_pack("{s:I, s:I, s:I, s:f, s:s}", "n", (json_int_t)++num_readings, "producer",
                            (json_int_t)ws_client_id(client), "seq", r->seq, "level", r->level, "source", r->source);
    char *text = out != NULL ? json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;

    json_decref(out);
    if (text == NULL)
        h2o_fatal("out of memory");
    ws_hub_broadcast(&watchers, text, strlen(text));
    free(text);
}

/* A bad reading, or one out of order, closes the producer's connection with 1007 and the reason. */
static void on_reading(ws_client_t *client, const char *text, size_t len)
{
    struct producer *p = ws_client_data(client);
    struct reading r;
    char why[124]; /* a close frame's reason holds 123 bytes */

    if (parse_reading(text, len, &r, why, sizeof(why)) != 0) {
        ws_client_fail(client, WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA, why);
        return;
    }
    if (p->has_seq && r.seq <= p->last_seq) {
        snprintf(why, sizeof(why), "seq %" JSON_INTEGER_FORMAT " after %" JSON_INTEGER_FORMAT ": seq must count up", r.seq,
                 p->last_seq);
        ws_client_fail(client, WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA, why);
        return;
    }
    p->has_seq = 1;
    p->last_seq = r.seq;
    relay(client, &r);
}

static void send_stats(h2o_req_t *req)
{
    demo_send_json(req, 200,
                   json_pack("{s:I, s:I, s:I, s:I}", "producers", (json_int_t)producers.num_clients, "watchers",
                             (json_int_t)watchers.num_clients, "readings", (json_int_t)num_readings, "dropped",
                             (json_int_t)(producers.num_dropped + watchers.num_dropped)));
}

/* /sensor, /live and /stats; everything else is the page's. */
static int on_request(h2o_req_t *req)
{
    if (demo_path_is(req, "/sensor"))
        ws_hub_accept(&producers, req);
    else if (demo_path_is(req, "/live"))
        ws_hub_accept(&watchers, req);
    else if (demo_path_is(req, "/stats"))
        send_stats(req);
    else
        return -1;
    return 0;
}

static int on_max_watchers(const char *arg)
{
    return demo_parse_count(arg, 1, 100000, &watchers.limits.max_clients);
}

static int on_max_producers(const char *arg)
{
    return demo_parse_count(arg, 1, 1000, &producers.limits.max_clients);
}

static int on_max_queue(const char *arg)
{
    return demo_parse_count(arg, 1, 100000, &watchers.limits.max_queue);
}

static int on_max_rate(const char *arg)
{
    size_t rate;

    if (demo_parse_count(arg, 1, 1000000, &rate) != 0)
        return -1;
    producers.limits.max_rate = (unsigned)rate;
    return 0;
}

static int on_idle_timeout(const char *arg)
{
    unsigned ms;

    if (demo_parse_ms(arg, strlen(arg), &ms) != 0 || ms < 100)
        return -1;
    producers.limits.idle_timeout_ms = watchers.limits.idle_timeout_ms = ms;
    return 0;
}

static const demo_option_t options[] = {
    {"max-watchers", 0, "N", "at most N watchers on /live; more get 503 (default 100)", on_max_watchers},
    {"max-producers", 0, "N", "at most N producers on /sensor; more get 503 (default 8)", on_max_producers},
    {"max-queue", 0, "N", "readings waiting for one watcher; one more drops it as too slow (default 64)", on_max_queue},
    {"max-rate", 0, "N", "readings a second from one producer (10 expected); more close it with 1008 (default 50)", on_max_rate},
    {"idle-timeout", 0, "MS", "drop a client that answers no ping for MS milliseconds (default 60000)", on_idle_timeout},
    {NULL, 0, NULL, NULL, NULL},
};

static const demo_server_t noise = {"noise", "127.0.0.1:9004", options, on_request, "demo/www/noise"};

int main(int argc, char **argv)
{
    return demo_main(&noise, argc, argv);
}
