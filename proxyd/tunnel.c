/* tunnel.c: upgraded connections (WebSocket and others): two sockets joined, bytes
 * copied both ways unchanged, each way reading only once the other side took the
 * last bytes; per worker, the open tunnels, for shutdown and accounting. */
#include <stdlib.h>
#include "upstream.h"

typedef struct tunnel tunnel_t;

/* One direction's source socket; its peer is the other end's. */
typedef struct tunnel_end {
    tunnel_t *tunnel;
    h2o_socket_t *sock;
    size_t writing; /* bytes of sock->input being written to the peer */
} tunnel_end_t;

struct tunnel {
    h2o_linklist_t link; /* in pd_tunnels_t */
    pd_tunnels_t *owner;
    tunnel_end_t end[2]; /* 0: the client, 1: the upstream */
    h2o_timeout_t *idle;
    h2o_timeout_entry_t idle_timer;
    uint64_t bytes[2]; /* copied from each end */
    pd_stats_t *stats; /* held: where the tunnel is counted */
};

struct pd_tunnels {
    h2o_linklist_t open;
    size_t count;
    uint64_t bytes; /* of the tunnels already closed */
};

pd_tunnels_t *tunnels_new(void)
{
    pd_tunnels_t *t = calloc(1, sizeof(*t));

    if (t == NULL)
        fatal("%s", __func__);
    h2o_linklist_init_anchor(&t->open);
    return t;
}

void tunnels_free(pd_tunnels_t *t)
{
    free(t);
}

size_t tunnels_count(pd_tunnels_t *t)
{
    return t->count;
}

uint64_t tunnels_bytes(pd_tunnels_t *t)
{
    uint64_t sum = t->bytes;
    h2o_linklist_t *node;

    for (node = t->open.next; node != &t->open; node = node->next) {
        tunnel_t *tunnel = H2O_STRUCT_FROM_MEMBER(tunnel_t, link, node);
        sum += tunnel->bytes[0] + tunnel->bytes[1];
    }
    return sum;
}

static void tunnel_close(tunnel_t *tunnel)
{
    h2o_linklist_unlink(&tunnel->link);
    tunnel->owner->count--;
    tunnel->owner->bytes += tunnel->bytes[0] + tunnel->bytes[1];
    if (h2o_timeout_is_linked(&tunnel->idle_timer))
        h2o_timeout_unlink(&tunnel->idle_timer);
    h2o_socket_close(tunnel->end[0].sock);
    h2o_socket_close(tunnel->end[1].sock);
    stats_tunnel_closed(tunnel->stats);
    stats_release(tunnel->stats);
    free(tunnel);
}

static void touch(tunnel_t *tunnel)
{
    if (h2o_timeout_is_linked(&tunnel->idle_timer))
        h2o_timeout_unlink(&tunnel->idle_timer);
    h2o_timeout_link(h2o_socket_get_loop(tunnel->end[0].sock), tunnel->idle, &tunnel->idle_timer);
}

static void on_read(h2o_socket_t *sock, const char *err);

static void on_written(h2o_socket_t *peer, const char *err)
{
    tunnel_end_t *to = peer->data, *from = &to->tunnel->end[to == &to->tunnel->end[0] ? 1 : 0];

    if (err != NULL) {
        tunnel_close(to->tunnel);
        return;
    }
    h2o_buffer_consume(&from->sock->input, from->writing);
    from->writing = 0;
    touch(from->tunnel);
    h2o_socket_read_start(from->sock, on_read);
}

/* Writes what `from` holds to its peer; `from` reads no more until that is done. */
static void forward(tunnel_end_t *from)
{
    tunnel_t *tunnel = from->tunnel;
    tunnel_end_t *to = &tunnel->end[from == &tunnel->end[0] ? 1 : 0];
    h2o_iovec_t buf = h2o_iovec_init(from->sock->input->bytes, from->sock->input->size);

    h2o_socket_read_stop(from->sock);
    from->writing = buf.len;
    tunnel->bytes[from == &tunnel->end[0] ? 0 : 1] += buf.len;
    touch(tunnel);
    h2o_socket_write(to->sock, &buf, 1, on_written);
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    tunnel_end_t *from = sock->data;

    if (err != NULL) {
        tunnel_close(from->tunnel);
        return;
    }
    if (sock->input->size != 0)
        forward(from);
}

static void on_idle(h2o_timeout_entry_t *entry)
{
    tunnel_close(H2O_STRUCT_FROM_MEMBER(tunnel_t, idle_timer, entry));
}

void tunnel_open(pd_tunnels_t *t, h2o_socket_t *client, h2o_socket_t *upstream, h2o_timeout_t *idle, pd_stats_t *stats)
{
    tunnel_t *tunnel = calloc(1, sizeof(*tunnel));
    int i;

    if (tunnel == NULL)
        fatal("%s", __func__);
    tunnel->owner = t;
    tunnel->idle = idle;
    tunnel->stats = stats;
    stats_tunnel_opened(stats);
    tunnel->idle_timer.cb = on_idle;
    tunnel->end[0].sock = client;
    tunnel->end[1].sock = upstream;
    h2o_linklist_insert(&t->open, &tunnel->link);
    t->count++;
    touch(tunnel);
    for (i = 0; i < 2; i++) {
        tunnel->end[i].tunnel = tunnel;
        tunnel->end[i].sock->data = &tunnel->end[i];
    }
    /* bytes that came with the handshake, either way, go first */
    for (i = 0; i < 2; i++) {
        if (tunnel->end[i].sock->input->size != 0)
            forward(&tunnel->end[i]);
        else
            h2o_socket_read_start(tunnel->end[i].sock, on_read);
    }
}

/* At the end of the shutdown grace period. */
void tunnels_close_all(pd_tunnels_t *t)
{
    while (!h2o_linklist_is_empty(&t->open))
        tunnel_close(H2O_STRUCT_FROM_MEMBER(tunnel_t, link, t->open.next));
}
