/* upstream_exchange.c: one HTTP/1.1 request to an origin and its response: strict
 * framing, body bytes handed on only as fast as the consumer takes them, a
 * deadline on every wait, and one retry on a fresh connection when a reused one
 * failed before answering. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include "upstream.h"

enum { X_CONNECTING, X_HEAD, X_BODY, X_DONE };

struct pd_exchange {
    pd_upstreams_t *ups;
    pd_exchange_req_t req;
    pd_exchange_callbacks_t cb;
    void *data;
    int state;
    pd_connect_t *connecting;
    pd_upconn_t *conn;
    h2o_timeout_t *io_timeout;
    h2o_timeout_entry_t io_timer;
    int retried;
    int writing;
    int switch_waits;  /* a 101 came while the request was still being written */
    int got_bytes;     /* a response byte arrived on this connection */
    size_t prev_len;   /* input already searched for the end of the head */
    size_t head_bytes; /* interim (1xx) heads skipped so far */
    size_t head_len;   /* the final head, at the input's start while the consumer reads it */
    int keepalive;     /* the origin lets the connection serve another request */
    pd_framing_t framing;
    size_t remaining;                   /* PD_BODY_LENGTH: body bytes still to come */
    struct phr_chunked_decoder chunked; /* PD_BODY_CHUNKED */
    h2o_buffer_t *sending;              /* body bytes the consumer holds until exchange_proceed() */
    int eof;                            /* the origin ended the connection */
    const char *pending_why;            /* a failure seen while the consumer held bytes */
    pd_upstream_error_t pending_error;
    int in_callback;
    int gone; /* cancelled or detached during a callback: freed once it returns */
};

static void process_body(pd_exchange_t *x);
static void on_read(h2o_socket_t *sock, const char *err);
static void on_connected(void *data, pd_upconn_t *conn, int timed_out, const char *err);

static void destroy(pd_exchange_t *x)
{
    upstreams_disarm(&x->io_timer);
    if (x->connecting != NULL)
        upconn_connect_cancel(x->connecting);
    if (x->conn != NULL)
        upconn_close(x->conn);
    if (x->sending != NULL)
        h2o_buffer_dispose(&x->sending);
    free(x);
}

static void fail(pd_exchange_t *x, pd_upstream_error_t error, const char *why)
{
    int after_head = x->state == X_BODY;

    x->state = X_DONE;
    x->in_callback++;
    x->cb.on_error(x->data, error, why, after_head);
    destroy(x);
}

static void arm_io(pd_exchange_t *x)
{
    upstreams_arm(x->ups, x->io_timeout, &x->io_timer);
}

static void connect_fresh(pd_exchange_t *x)
{
    x->state = X_CONNECTING;
    x->connecting = upconn_connect(x->req.origin, x->req.connect_timeout_ms, on_connected, x);
}

/* Nothing came back on the connection. A reused one may simply have been closed
 * by the origin as it was taken from the pool: an idempotent request whose body is
 * in hand is sent once more, on a new connection. */
static void failed_before_response(pd_exchange_t *x, pd_upstream_error_t error, const char *why)
{
    if (x->conn->reused && x->req.idempotent && !x->retried) {
        x->retried = 1;
        upstreams_disarm(&x->io_timer);
        upconn_close(x->conn);
        x->conn = NULL;
        connect_fresh(x);
        return;
    }
    fail(x, error, why);
}

/* ---- the response head ---- */

static int wants_keepalive(int minor_version, const struct phr_header *headers, size_t num_headers)
{
    int keepalive = minor_version >= 1;
    size_t i;

    for (i = 0; i < num_headers; i++) {
        if (!header_name_is(&headers[i], "connection", 10))
            continue;
        if (header_list_has(headers[i].value, headers[i].value_len, "close", 5))
            return 0;
        if (header_list_has(headers[i].value, headers[i].value_len, "keep-alive", 10))
            keepalive = 1;
    }
    return keepalive;
}

/* NULL, or why a 101 does not show that the origin switched as asked: to a
 * protocol the client offered and, for a WebSocket, answering its key. */
static const char *check_switch(pd_exchange_t *x, const struct phr_header *headers, size_t num_headers)
{
    int offered = 0, accepted = 0;
    size_t i;

    for (i = 0; i < num_headers; i++) {
        const struct phr_header *h = &headers[i];
        if (header_name_is(h, "upgrade", 7))
            offered =
                h->value_len != 0 && header_list_has(x->req.upgrade_offer.base, x->req.upgrade_offer.len, h->value, h->value_len);
        else if (header_name_is(h, "sec-websocket-accept", 20) && x->req.upgrade_accept.base != NULL)
            accepted = h2o_memis(h->value, h->value_len, x->req.upgrade_accept.base, x->req.upgrade_accept.len);
    }
    if (!offered)
        return "101 Switching Protocols without Upgrade to a protocol the client offered";
    if (x->req.upgrade_accept.base != NULL && !accepted)
        return "101 Switching Protocols without the WebSocket handshake's Sec-WebSocket-Accept";
    return NULL;
}

/* Hands the head to the consumer; 1 if the exchange goes on. */
static int deliver_head(pd_exchange_t *x, int status, h2o_iovec_t reason, const struct phr_header *headers, size_t num_headers,
                        const pd_connection_options_t *connection)
{
    pd_exchange_head_t head = {status, reason, headers, num_headers, x->framing, connection};

    x->in_callback++;
    x->cb.on_head(x->data, &head);
    x->in_callback--;
    if (x->gone) {
        destroy(x);
        return 0;
    }
    /* consuming it all would free the buffer the fields point into: only now */
    h2o_buffer_consume(&x->conn->sock->input, x->head_len);
    x->head_len = 0;
    return 1;
}

/* Parses what the input holds; more is read while the head is incomplete. */
static void parse_head(pd_exchange_t *x)
{
    size_t max_head = x->ups->conf->upstream.max_response_head;
    struct phr_header headers[PD_MAX_RESPONSE_HEADERS + 1];
    pd_connection_options_t connection; /* only its count needs clearing */
    h2o_buffer_t *in;
    const char *msg, *why;
    size_t msg_len, num_headers;
    int minor_version, status, len;

    for (;;) {
        in = x->conn->sock->input;
        num_headers = PD_MAX_RESPONSE_HEADERS + 1;
        len = phr_parse_response(in->bytes, in->size, &minor_version, &status, &msg, &msg_len, headers, &num_headers, x->prev_len);
        if (len == -2) {
            if (x->head_bytes + in->size > max_head)
                return fail(x, PD_UPSTREAM_INVALID, "response head larger than upstream.max_response_head");
            x->prev_len = in->size; /* picohttpparser looks for the end of the head only in what is new */
            arm_io(x);
            return;
        }
        if (len == -1)
            return fail(x, PD_UPSTREAM_INVALID, "malformed response head, or more than 100 header fields");
        if (x->head_bytes + (size_t)len > max_head)
            return fail(x, PD_UPSTREAM_INVALID, "response head larger than upstream.max_response_head");
        if (num_headers > PD_MAX_RESPONSE_HEADERS)
            return fail(x, PD_UPSTREAM_INVALID, "more than 100 header fields");
        x->prev_len = 0;
        if (status >= 100 && status < 200 && status != 101) {
            /* interim responses (100 Continue, 103 Early Hints) are not relayed */
            x->head_bytes += (size_t)len;
            h2o_buffer_consume(&x->conn->sock->input, (size_t)len);
            continue;
        }
        break;
    }
    if (status == 101 && !x->req.upgrade)
        return fail(x, PD_UPSTREAM_INVALID, "101 Switching Protocols to a request without Upgrade");
    if (status == 101 && (why = check_switch(x, headers, num_headers)) != NULL)
        return fail(x, PD_UPSTREAM_INVALID, why);
    if (status == 101 && x->writing) {
        /* the origin switches before it read the body (RFC 9110 §7.8: the body is still
         * read by HTTP/1 rules); the socket can go to a tunnel only once no write of ours
         * is pending on it, and the bytes written are the request's, freed with it */
        x->switch_waits = 1;
        h2o_socket_read_stop(x->conn->sock);
        arm_io(x);
        return;
    }
    connection.num = 0;
    if ((why = framing_of_response(status, x->req.is_head, headers, num_headers, &x->framing, &connection)) != NULL)
        return fail(x, PD_UPSTREAM_INVALID, why);
    x->keepalive = wants_keepalive(minor_version, headers, num_headers);
    x->remaining = x->framing.length;
    x->state = X_BODY;
    x->head_len = (size_t)len;
    upstreams_disarm(&x->io_timer);
    if (!deliver_head(x, status, h2o_iovec_init(msg, msg_len), headers, num_headers, &connection))
        return;
    process_body(x);
}

/* ---- the body ---- */

/* The last bytes, then the connection goes back to the pool if it may. */
static void deliver_final(pd_exchange_t *x, size_t len)
{
    pd_upconn_t *conn = x->conn;

    x->conn = NULL;
    x->state = X_DONE;
    upstreams_disarm(&x->io_timer);
    x->in_callback++;
    x->cb.on_body(x->data, h2o_iovec_init(conn->sock->input->bytes, len), 1);
    h2o_buffer_consume(&conn->sock->input, len);
    if (x->keepalive && !x->eof && !x->writing)
        upconn_release(conn);
    else
        upconn_close(conn);
    destroy(x);
}

static void read_more(pd_exchange_t *x)
{
    h2o_socket_t *sock = x->conn->sock;
    size_t held = sock->input->size + (x->sending != NULL ? x->sending->size : 0);

    if (x->eof || held >= x->ups->conf->upstream.buffer) {
        /* the consumer has enough; the origin's silence is not ours to time */
        h2o_socket_read_stop(sock);
        upstreams_disarm(&x->io_timer);
        return;
    }
    if (!h2o_socket_is_reading(sock))
        h2o_socket_read_start(sock, on_read);
    if (!h2o_timeout_is_linked(&x->io_timer))
        arm_io(x);
}

/* Moves the input's bytes to the consumer; reading goes on into a new buffer
 * while the two together stay under upstream.buffer. */
static void hand_out(pd_exchange_t *x)
{
    h2o_socket_t *sock = x->conn->sock;

    x->sending = sock->input;
    h2o_buffer_init(&sock->input, &h2o_socket_buffer_prototype);
    x->in_callback++;
    x->cb.on_body(x->data, h2o_iovec_init(x->sending->bytes, x->sending->size), 0);
    x->in_callback--;
    if (x->gone) {
        destroy(x);
        return;
    }
    read_more(x);
}

static void process_body(pd_exchange_t *x)
{
    h2o_buffer_t *in = x->conn->sock->input;
    size_t len;
    ssize_t ret;

    if (x->sending != NULL)
        return; /* the consumer still holds bytes */
    if (x->pending_why != NULL)
        return fail(x, x->pending_error, x->pending_why);
    switch (x->framing.kind) {
    case PD_BODY_NONE:
        if (in->size != 0)
            return fail(x, PD_UPSTREAM_INVALID, "data after a response without a body");
        return deliver_final(x, 0);
    case PD_BODY_LENGTH:
        if (in->size > x->remaining)
            return fail(x, PD_UPSTREAM_INVALID, "body longer than its Content-Length");
        if (in->size == x->remaining)
            return deliver_final(x, in->size);
        if (x->eof)
            return fail(x, PD_UPSTREAM_INVALID, "connection closed before the end of the body");
        x->remaining -= in->size;
        break;
    case PD_BODY_CHUNKED:
        /* decodes in place; everything the input held is either decoded or kept in
         * the decoder's state. An empty input may be libh2o's shared empty buffer,
         * which is not ours to write to. */
        len = 0;
        ret = -2;
        if (in->size != 0) {
            len = in->size;
            if ((ret = phr_decode_chunked(&x->chunked, in->bytes, &len)) == -1)
                return fail(x, PD_UPSTREAM_INVALID, "malformed chunked encoding");
            in->size = len;
        }
        if (ret > 0)
            return fail(x, PD_UPSTREAM_INVALID, "data after the last chunk");
        if (ret == 0)
            return deliver_final(x, len);
        if (x->eof)
            return fail(x, PD_UPSTREAM_INVALID, "connection closed before the last chunk");
        break;
    case PD_BODY_CLOSE:
        if (x->eof)
            return deliver_final(x, in->size);
        break;
    }
    if (in->size != 0) {
        hand_out(x);
        return;
    }
    read_more(x);
}

void exchange_proceed(pd_exchange_t *x)
{
    h2o_buffer_dispose(&x->sending);
    x->sending = NULL;
    process_body(x);
}

/* ---- reading and writing ---- */

static void on_read(h2o_socket_t *sock, const char *err)
{
    pd_exchange_t *x = sock->data;

    if (sock->input->size != 0)
        x->got_bytes = 1;
    if (x->state == X_HEAD) {
        if (err == NULL)
            return parse_head(x);
        if (!x->got_bytes)
            return failed_before_response(x, PD_UPSTREAM_CLOSED, "closed");
        return fail(x, PD_UPSTREAM_INVALID, "connection closed within the response head");
    }
    if (err != NULL) {
        x->eof = 1;
        h2o_socket_read_stop(sock);
        upstreams_disarm(&x->io_timer);
    } else {
        arm_io(x); /* io_timeout is the longest silence between reads */
    }
    if (x->sending != NULL)
        read_more(x); /* stops reading once upstream.buffer is held */
    else
        process_body(x);
}

static void on_written(h2o_socket_t *sock, const char *err)
{
    pd_exchange_t *x = sock->data;

    x->writing = 0;
    if (err != NULL && !x->got_bytes && x->state == X_HEAD)
        return failed_before_response(x, PD_UPSTREAM_CLOSED, "closed while the request was sent");
    if (x->switch_waits) {
        x->switch_waits = 0;
        if (err != NULL)
            return fail(x, PD_UPSTREAM_CLOSED, "closed while the request was sent");
        return parse_head(x); /* the 101 is still at the input's start */
    }
    /* after an early answer (a 413, say) the rest of the request does not matter */
    if (x->state == X_HEAD)
        arm_io(x);
}

static void on_io_timeout(h2o_timeout_entry_t *entry)
{
    pd_exchange_t *x = H2O_STRUCT_FROM_MEMBER(pd_exchange_t, io_timer, entry);

    if (x->sending != NULL) {
        /* reported once the consumer gave back what it holds */
        x->pending_error = PD_UPSTREAM_TIMEOUT;
        x->pending_why = "timed out";
        h2o_socket_read_stop(x->conn->sock);
        return;
    }
    fail(x, PD_UPSTREAM_TIMEOUT, "timed out");
}

static void send_request(pd_exchange_t *x)
{
    h2o_iovec_t bufs[2] = {x->req.head, x->req.body};
    h2o_socket_t *sock = x->conn->sock;

    sock->data = x;
    x->state = X_HEAD;
    x->got_bytes = 0;
    x->prev_len = 0;
    x->head_bytes = 0;
    x->writing = 1;
    h2o_socket_write(sock, bufs, x->req.body.len != 0 ? 2 : 1, on_written);
    /* read at once: an origin may answer (and close) before it read the whole body */
    h2o_socket_read_start(sock, on_read);
    arm_io(x);
}

static void on_connected(void *data, pd_upconn_t *conn, int timed_out, const char *err)
{
    pd_exchange_t *x = data;

    x->connecting = NULL;
    if (conn == NULL) {
        if (timed_out)
            return fail(x, PD_UPSTREAM_CONNECT_TIMEOUT, "connect timed out");
        return fail(x, PD_UPSTREAM_CONNECT_FAILED, err);
    }
    x->conn = conn;
    send_request(x);
}

pd_exchange_t *exchange_start(pd_upstreams_t *ups, const pd_exchange_req_t *req, const pd_exchange_callbacks_t *cb, void *data)
{
    pd_exchange_t *x = calloc(1, sizeof(*x));

    if (x == NULL)
        fatal("%s", __func__);
    x->ups = ups;
    x->req = *req;
    x->cb = *cb;
    x->data = data;
    x->io_timeout = upstreams_timeout(ups, req->io_timeout_ms);
    x->io_timer.cb = on_io_timeout;
    x->chunked.consume_trailer = 1; /* trailers are dropped: a client may not expect them */
    if ((x->conn = upconn_take_idle(req->origin)) != NULL)
        send_request(x);
    else
        connect_fresh(x);
    return x;
}

void exchange_cancel(pd_exchange_t *x)
{
    if (x->in_callback) {
        x->gone = 1;
        return;
    }
    destroy(x);
}

h2o_socket_t *exchange_detach(pd_exchange_t *x)
{
    h2o_socket_t *sock = x->conn->sock;

    assert(!x->writing); /* the write callback would find the tunnel's data */
    upstreams_disarm(&x->io_timer);
    h2o_socket_read_stop(sock);
    h2o_buffer_consume(&sock->input, x->head_len); /* what is left came after the head: the tunnel's */
    x->head_len = 0;
    sock->data = NULL;
    upconn_steal(x->conn);
    x->conn = NULL;
    exchange_cancel(x);
    return sock;
}
