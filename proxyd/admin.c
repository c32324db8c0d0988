/* admin.c: the admin HTTP API's listener, bearer-token check and routing, on the main thread's loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "proxyd.h"

/* Admin bodies are small JSON documents; more is a mistake or an attack. */
#define ADMIN_MAX_BODY (64 * 1024)

/* A listener or a connection: TCP, or a unix socket. */
typedef union admin_stream {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
} admin_stream_t;

/* Owned by the main thread, whose loop also runs SIGHUP; changes go through one
 * queue (change_queue.c), which is what serialises them. */
struct pd_admin {
    uv_loop_t *loop;
    h2o_globalconf_t globalconf;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    admin_stream_t *listeners; /* one per address the listen entry resolves to */
    size_t num_listeners;
    char *unix_path;    /* the socket file to remove at exit, or NULL */
    char *token;        /* wiped before it is freed */
    char *auth_service; /* forward auth's service for /ready; NULL when auth is off */
    pd_change_queue_t *changes;
    pd_events_t *events; /* GET /events */
    size_t num_conns;
};

typedef struct admin_handler {
    h2o_handler_t super;
    pd_admin_t *admin;
} admin_handler_t;

typedef struct admin_conn {
    admin_stream_t stream;
    pd_admin_t *admin;
} admin_conn_t;

static int has_authorization(h2o_req_t *req)
{
    return h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1) != -1;
}

/* Authorization: Bearer <token>, compared in constant time. */
static int authorized(pd_admin_t *admin, h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    h2o_iovec_t value;

    if (i == -1)
        return 0;
    value = req->headers.entries[i].value;
    if (value.len < 7 || !h2o_lcstris(value.base, 7, H2O_STRLIT("bearer ")))
        return 0;
    return token_equal(admin->token, value.base + 7, value.len - 7);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    pd_admin_t *admin = ((admin_handler_t *)self)->admin;
    /* the path as sent, not libh2o's decoded one: "/services/weather%00junk" must
     * not become "weather" (issue 7); service names never need decoding */
    const char *q = memchr(req->input.path.base, '?', req->input.path.len);
    h2o_iovec_t path = h2o_iovec_init(req->input.path.base, q != NULL ? (size_t)(q - req->input.path.base) : req->input.path.len);

    /* a WebSocket from a browser cannot send Authorization: /events takes the token its own ways */
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/events")) && !has_authorization(req)) {
        admin_events_accept(admin->events, req, 0);
        return 0;
    }
    /* probes carry no secret: liveness and readiness answer anyone, and say nothing secret */
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/health")) || h2o_memis(path.base, path.len, H2O_STRLIT("/ready"))) {
        if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")))
            admin_send_method_not_allowed(req, "GET", NULL);
        else if (path.len == 7)
            admin_health(req);
        else
            admin_ready(req, admin->auth_service);
        return 0;
    }
    if (!authorized(admin, req)) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
                       H2O_STRLIT("Bearer realm=\"proxyd-admin\""));
        admin_send_error(req, 401, "Unauthorized", NULL, "a valid Authorization: Bearer token is required");
        return 0;
    }
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/metrics"))) {
        if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")))
            admin_send_method_not_allowed(req, "GET", NULL);
        else
            admin_metrics(req);
    } else if (h2o_memis(path.base, path.len, H2O_STRLIT("/reload"))) {
        if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")))
            admin_send_method_not_allowed(req, "POST", NULL);
        else
            admin_submit_reload(req, admin->changes);
    } else if (h2o_memis(path.base, path.len, H2O_STRLIT("/events"))) {
        admin_events_accept(admin->events, req, 1);
    } else if (h2o_memis(path.base, path.len, H2O_STRLIT("/services"))) {
        admin_services(req, admin->changes, h2o_iovec_init(NULL, 0));
    } else if (path.len > 10 && memcmp(path.base, "/services/", 10) == 0) {
        admin_services(req, admin->changes, h2o_iovec_init(path.base + 10, path.len - 10));
    } else {
        admin_send_error(
            req, 404, "Not Found", NULL,
            "no such endpoint: use /services, /services/<name>, /reload, /health, /ready, /metrics, /events or /dashboard");
    }
    return 0;
}

static void on_conn_close(uv_handle_t *handle)
{
    admin_conn_t *conn = (admin_conn_t *)handle;

    conn->admin->num_conns--;
    free(conn);
}

static void on_accept(uv_stream_t *listener, int status)
{
    pd_admin_t *admin = listener->data;
    admin_conn_t *conn;

    if (status != 0)
        return;
    if ((conn = calloc(1, sizeof(*conn))) == NULL)
        fatal("%s", __func__);
    conn->admin = admin;
    if (admin->unix_path != NULL)
        uv_pipe_init(admin->loop, &conn->stream.pipe, 0);
    else
        uv_tcp_init(admin->loop, &conn->stream.tcp);
    if (uv_accept(listener, (uv_stream_t *)&conn->stream) != 0) {
        uv_close((uv_handle_t *)&conn->stream, (uv_close_cb)free);
        return;
    }
    admin->num_conns++;
    h2o_accept(&admin->accept_ctx, h2o_uv_socket_create((uv_stream_t *)&conn->stream, on_conn_close));
}

/* listen.c opens the sockets (a unix one only its owner may use); libuv listens on them. */
static int open_listeners(pd_admin_t *admin, const pd_listen_t *addr, char *err, size_t errlen)
{
    int *fds = NULL, r = 0;
    size_t i, num_fds = 0;

    if (listen_open("admin listen", addr, 0, &fds, &num_fds, err, errlen) != 0)
        return -1;
    if (addr->unix_path != NULL && (admin->unix_path = strdup(addr->unix_path)) == NULL)
        fatal("%s", __func__);
    if ((admin->listeners = calloc(num_fds, sizeof(*admin->listeners))) == NULL)
        fatal("%s", __func__);
    for (i = 0; i < num_fds && r == 0; i++, admin->num_listeners++) {
        admin_stream_t *l = &admin->listeners[i];
        if (admin->unix_path != NULL) {
            uv_pipe_init(admin->loop, &l->pipe, 0);
            r = uv_pipe_open(&l->pipe, fds[i]);
        } else {
            uv_tcp_init(admin->loop, &l->tcp);
            r = uv_tcp_open(&l->tcp, fds[i]);
        }
        l->tcp.data = admin;
        if (r == 0)
            r = uv_listen((uv_stream_t *)l, 64, on_accept);
    }
    free(fds);
    if (r != 0) {
        snprintf(err, errlen, "admin listen: %s", uv_strerror(r));
        return -1;
    }
    return 0;
}

static void setup_h2o(pd_admin_t *admin, const char *dashboard)
{
    h2o_hostconf_t *hostconf;
    admin_handler_t *handler;

    h2o_config_init(&admin->globalconf);
    admin->globalconf.server_name = h2o_iovec_init(H2O_STRLIT("proxyd"));
    admin->globalconf.max_request_entity_size = ADMIN_MAX_BODY;
    hostconf = h2o_config_register_host(&admin->globalconf, h2o_iovec_init(H2O_STRLIT("admin")), 65535);
    admin_dashboard_register(hostconf, dashboard); /* its own path: the page needs no token */
    hostconf->fallback_path.error_log.emit_request_errors = 0;
    reply_register(&hostconf->fallback_path); /* first: marks requests that reached the handler */
    handler = (admin_handler_t *)h2o_create_handler(&hostconf->fallback_path, sizeof(*handler));
    handler->super.on_req = on_req;
    handler->admin = admin;
    h2o_context_init(&admin->ctx, admin->loop, &admin->globalconf);
    admin->accept_ctx.ctx = &admin->ctx;
    admin->accept_ctx.hosts = admin->globalconf.hosts;
}

/* RFC 6455 §4.1: a subprotocol is an RFC 7230 token; a browser refuses to offer
 * anything else, so another token can only come as /events' first message. */
static void check_token_charset(const char *token)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    if (token[strspn(token, tchar)] != '\0')
        log_info("the admin token holds characters a WebSocket subprotocol cannot: /events clients send it as their first "
                 "message");
}

/* The dashboard's folder: one the settings name must hold the page; the one proxyd
 * was installed with may be missing (a build that was never installed). */
static int check_dashboard(const pd_config_t *conf, char *err, size_t errlen)
{
    char why[1024];

    if (admin_dashboard_check(admin_dashboard_dir(conf), why, sizeof(why)) == 0)
        return 0;
    if (conf->admin.dashboard != NULL) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    log_warnx("%s: GET /dashboard answers 404", why);
    return 0;
}

/* The admin listener on `loop` (the main thread's), or NULL with `err`. */
pd_admin_t *admin_start(uv_loop_t *loop, const pd_config_t *conf, pd_change_queue_t *changes, char *err, size_t errlen)
{
    pd_admin_t *admin = calloc(1, sizeof(*admin));

    if (admin == NULL)
        fatal("%s", __func__);
    admin->loop = loop;
    admin->changes = changes;
    /* on error the process exits: nothing here is worth unwinding */
    if ((admin->token = token_load(conf->admin.token_file, err, errlen)) == NULL || check_dashboard(conf, err, errlen) != 0 ||
        open_listeners(admin, &conf->admin.listen, err, errlen) != 0)
        return NULL;
    check_token_charset(admin->token);
    setup_h2o(admin, admin_dashboard_dir(conf));
    admin->events = admin_events_new(loop, admin->token, conf->auth.enabled);
    if (conf->auth.enabled && (admin->auth_service = strdup(conf->auth.service)) == NULL)
        fatal("%s", __func__);
    return admin;
}

/* Closes the listener, the /events clients and, with no other connection open,
 * the h2o context. Returns 1 when admin_free() may follow once the loop has run
 * the close callbacks, 0 when connections were still open: libh2o cannot close
 * them from outside, so the process exit does, and nothing is freed. */
int admin_stop(pd_admin_t *admin)
{
    size_t i, closing;

    for (i = 0; i < admin->num_listeners; i++)
        uv_close((uv_handle_t *)&admin->listeners[i], NULL);
    if (admin->unix_path != NULL)
        unlink(admin->unix_path);
    closing = admin_events_stop(admin->events); /* their sockets are closed on the next loop run */
    if (admin->num_conns != closing)
        return 0;
    if (h2o_timeout_is_linked(&admin->ctx.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&admin->ctx.http2._graceful_shutdown_timeout);
    h2o_context_dispose(&admin->ctx);
    return 1;
}

void admin_free(pd_admin_t *admin)
{
    admin_events_free(admin->events);
    h2o_config_dispose(&admin->globalconf);
    OPENSSL_cleanse(admin->token, strlen(admin->token));
    free(admin->token);
    free(admin->auth_service);
    free(admin->unix_path);
    free(admin->listeners);
    free(admin);
}
