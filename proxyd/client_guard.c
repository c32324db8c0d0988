/* client_guard.c: per worker, clients still sending a request: 408 without progress, 503 over the body budget, idle close. */
#include <string.h>
#include <sys/socket.h>
#include "proxyd.h"

/* libh2o 2.2.5 hands a request over only with its whole body, and its own
 * HTTP/1 request timer is neither reset by body data nor answered (a silent
 * close). So proxyd looks at its client connections from outside, a few times a
 * second: the bytes libh2o has buffered for a request it is still reading, and
 * when they last grew. libh2o closes an HTTP/1 connection whose read ends, and
 * writes nothing while it reads a request, so a connection is ended by writing a
 * short answer on its descriptor and shutting it down: libh2o's next read sees
 * the end and frees everything as for any client that went away. */

#define SWEEP_MS 100
#define MIN_SWEEP_MS 10
#define LIBH2O_REQUEST_CAP_MS (3600 * 1000)
#define DRAIN_CHUNK 65536

enum { CLIENT_OTHER, CLIENT_IDLE, CLIENT_RECEIVING, CLIENT_ENDED };

struct pd_client_guard {
    uv_timer_t sweep; /* runs while there are clients */
    h2o_linklist_t clients;
    uint64_t interval_ms;
    uint64_t request_timeout_ms;
    uint64_t idle_timeout_ms;
    size_t body_budget;
    h2o_socket_cb http1_reader; /* libh2o's HTTP/1 request reader, learnt at the first accept */
    pd_client_t **receivers;    /* scratch for the budget: clients that may be ended */
    size_t receivers_cap;
};

/* libh2o's own HTTP/1 request timer, which also runs while a keep-alive
 * connection waits for its next request, becomes a last resort that never cuts a
 * request still making progress within reason, nor an idle connection early;
 * proxyd's sweep does the rest. HTTP/2 connections keep libh2o's idle timer. */
void client_guard_configure(h2o_globalconf_t *globalconf, const pd_config_t *conf)
{
    uint64_t cap = LIBH2O_REQUEST_CAP_MS;

    if (cap < 2 * conf->client.request_timeout_ms)
        cap = 2 * conf->client.request_timeout_ms;
    if (cap < 2 * conf->client.idle_timeout_ms)
        cap = 2 * conf->client.idle_timeout_ms;
    globalconf->http1.req_timeout = cap;
    globalconf->http2.idle_timeout = conf->client.idle_timeout_ms;
}

/* How often the sweep runs: a 408 or an idle close comes at most a quarter of its timeout late. */
static uint64_t sweep_interval(const pd_config_t *conf)
{
    uint64_t interval = SWEEP_MS;

    if (interval > conf->client.request_timeout_ms / 4)
        interval = conf->client.request_timeout_ms / 4;
    if (interval > conf->client.idle_timeout_ms / 4)
        interval = conf->client.idle_timeout_ms / 4;
    return interval < MIN_SWEEP_MS ? MIN_SWEEP_MS : interval;
}

pd_client_guard_t *client_guard_new(uv_loop_t *loop, const pd_config_t *conf)
{
    pd_client_guard_t *g;

    if ((g = calloc(1, sizeof(*g))) == NULL)
        fatal("%s", __func__);
    uv_timer_init(loop, &g->sweep);
    g->sweep.data = g;
    h2o_linklist_init_anchor(&g->clients);
    g->request_timeout_ms = conf->client.request_timeout_ms;
    g->idle_timeout_ms = conf->client.idle_timeout_ms;
    g->body_budget = conf->client.body_budget;
    g->interval_ms = sweep_interval(conf);
    return g;
}

static void on_sweep_closed(uv_handle_t *handle)
{
    pd_client_guard_t *g = handle->data;

    free(g->receivers);
    free(g);
}

/* With no client left; the memory goes once the loop has run the close. */
void client_guard_dispose(pd_client_guard_t *g)
{
    uv_close((uv_handle_t *)&g->sweep, on_sweep_closed);
}

static void on_sweep(uv_timer_t *timer);

/* Right after h2o_accept(): `handle` is the connection's libuv handle, which
 * closes when libh2o lets go of `sock`; remove `c` in its close callback. */
void client_guard_add(pd_client_guard_t *g, pd_client_t *c, uv_handle_t *handle, h2o_socket_t *sock)
{
    memset(c, 0, sizeof(*c));
    c->handle = handle;
    c->sock = sock;
    /* no public call tells whether libh2o waits for a request; its read callback
     * does: h2o_accept() of a plain connection has just installed the HTTP/1 one */
    if (g->http1_reader == NULL)
        g->http1_reader = sock->_cb.read;
    h2o_linklist_insert(&g->clients, &c->link);
    if (!uv_is_active((uv_handle_t *)&g->sweep))
        uv_timer_start(&g->sweep, on_sweep, g->interval_ms, g->interval_ms);
}

void client_guard_remove(pd_client_guard_t *g, pd_client_t *c)
{
    h2o_linklist_unlink(&c->link);
    if (h2o_linklist_is_empty(&g->clients))
        uv_timer_stop(&g->sweep);
}

/* Bytes the connection's read buffer holds in memory or in its temporary file. */
static size_t held_bytes(pd_client_t *c)
{
    return c->sock->input->bytes != NULL ? c->sock->input->capacity : 0;
}

/* HTTP/1 waiting for (more of) a request head or body. libh2o installs that
 * reader only then, and never writes meanwhile: 100 Continue is written with
 * reading stopped, responses after the request was read. */
static int is_reading_request(pd_client_guard_t *g, pd_client_t *c)
{
    return c->sock->_cb.read == g->http1_reader && c->sock->_cb.write == NULL;
}

/* Bytes that arrived but libuv has not read yet count as progress. */
static int has_unread_bytes(int fd)
{
    char byte;

    return recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

/* Ends a connection libh2o is reading a request from, answering `status` first
 * unless it is 0. After the shutdown, data the client still sends is answered by
 * the kernel with a reset (the connection is half closed both ways), and what was
 * already queued is read and dropped here: libh2o's next read finds the end, and
 * never the rest of a request to hand to the handler. */
static void end_client(pd_client_t *c, int status, const char *reason, const char *message)
{
    static char drain[DRAIN_CHUNK];
    int fd = h2o_socket_get_fd(c->sock);
    char res[512];
    int len;

    c->state = CLIENT_ENDED;
    if (fd == -1)
        return;
    if (status != 0) {
        char body[128];
        int body_len = snprintf(body, sizeof(body), "{\"error\":\"%s\"}", message);
        len = snprintf(res, sizeof(res),
                       "HTTP/1.1 %d %s\r\nserver: proxyd\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                       "connection: close\r\n\r\n%s",
                       status, reason, body_len, body);
        (void)send(fd, res, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL); /* best effort: the client may be gone */
    }
    shutdown(fd, SHUT_RDWR);
    while (recv(fd, drain, sizeof(drain), MSG_DONTWAIT) > 0)
        ;
}

/* An idle keep-alive connection (or one that never sent a byte) is closed
 * quietly after client.idle_timeout, as libh2o's own timer did. A request
 * answered between two sweeps is seen by the bytes written. */
static void track_idle(pd_client_guard_t *g, pd_client_t *c, uint64_t now)
{
    if (c->state != CLIENT_IDLE || c->sock->bytes_written != c->seen_written) {
        c->state = CLIENT_IDLE;
        c->seen_written = c->sock->bytes_written;
        c->since = now;
    } else if (now - c->since >= g->idle_timeout_ms && !has_unread_bytes(h2o_socket_get_fd(c->sock))) {
        end_client(c, 0, NULL, NULL);
    }
}

/* Progress is any change of the buffered request: more bytes, or another buffer. */
static void track_receiving(pd_client_guard_t *g, pd_client_t *c, uint64_t now)
{
    h2o_buffer_t *input = c->sock->input;

    if (c->state != CLIENT_RECEIVING || input->size != c->seen_size || input->bytes != c->seen_bytes) {
        c->state = CLIENT_RECEIVING;
        c->seen_size = input->size;
        c->seen_bytes = input->bytes;
        c->since = now;
    } else if (now - c->since >= g->request_timeout_ms) {
        if (has_unread_bytes(h2o_socket_get_fd(c->sock))) {
            c->since = now;
            return;
        }
        log_warnx("client sent %zu bytes of a request, then nothing for %llums: 408", input->size,
                  (unsigned long long)(now - c->since));
        end_client(c, 408, "Request Timeout", "request timeout");
    }
}

static void remember_receiver(pd_client_guard_t *g, pd_client_t *c, size_t n)
{
    if (n == g->receivers_cap) {
        g->receivers_cap = g->receivers_cap != 0 ? g->receivers_cap * 2 : 64;
        if ((g->receivers = realloc(g->receivers, g->receivers_cap * sizeof(*g->receivers))) == NULL)
            fatal("%s", __func__);
    }
    g->receivers[n] = c;
}

static int compare_held(const void *a, const void *b)
{
    size_t x = held_bytes(*(pd_client_t *const *)a), y = held_bytes(*(pd_client_t *const *)b);

    return x < y ? 1 : x > y ? -1 : 0;
}

/* Over the budget: the largest requests still arriving are refused until the rest fit. */
static void shed(pd_client_guard_t *g, size_t num_receivers, size_t held)
{
    size_t i;

    qsort(g->receivers, num_receivers, sizeof(*g->receivers), compare_held);
    for (i = 0; i < num_receivers && held > g->body_budget; i++) {
        size_t bytes = held_bytes(g->receivers[i]);
        log_warnx("request bodies held by this worker: %zu bytes, over client.body_budget: 503 for one of %zu bytes", held, bytes);
        end_client(g->receivers[i], 503, "Service Unavailable", "request body budget exceeded");
        held -= bytes;
    }
}

static void on_sweep(uv_timer_t *timer)
{
    pd_client_guard_t *g = timer->data;
    uint64_t now = uv_now(timer->loop);
    size_t held = 0, num_receivers = 0;
    h2o_linklist_t *node;

    for (node = g->clients.next; node != &g->clients; node = node->next) {
        pd_client_t *c = H2O_STRUCT_FROM_MEMBER(pd_client_t, link, node);
        if (uv_is_closing(c->handle) || c->state == CLIENT_ENDED)
            continue; /* libh2o let go of it, or will at its next read */
        if (!is_reading_request(g, c)) {
            c->state = CLIENT_OTHER; /* in the handler, writing a response, HTTP/2, a tunnel */
            held += held_bytes(c);   /* an HTTP/1 body stays in the read buffer until its response ends */
            continue;
        }
        if (c->sock->input->size == 0)
            track_idle(g, c, now);
        else
            track_receiving(g, c, now);
        if (c->state == CLIENT_RECEIVING) {
            held += held_bytes(c);
            remember_receiver(g, c, num_receivers++);
        }
    }
    if (held > g->body_budget)
        shed(g, num_receivers, held);
}
