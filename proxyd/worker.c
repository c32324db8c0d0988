/* worker.c: worker threads, each with its own libuv loop, h2o context and SO_REUSEPORT listeners. */
#include <sys/socket.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include "proxyd.h"

#define DRAIN_CHECK_MS 50

struct pd_worker {
    unsigned id;
    pthread_t thread;
    uv_loop_t loop;
    h2o_context_t ctx; /* worker_of() finds the worker from it */
    h2o_accept_ctx_t accept_ctx;
    int *listen_fds; /* opened by the main thread so that bind errors stop start-up */
    uv_tcp_t *listeners;
    size_t num_listeners;
    uv_async_t stop_async;
    uv_timer_t drain_timer;
    uint64_t shutdown_timeout_ms; /* the grace period requests and tunnels in flight get after SIGTERM */
    uint64_t drain_deadline;
    size_t num_conns;    /* client connections open */
    size_t num_requests; /* requests between the counting handler and the end of their response */
    pd_client_guard_t *guard;
    H2O_VECTOR(pd_drain_hook_t) drain_hooks; /* work besides requests that shutdown waits for */
    int cut_off;                             /* the grace period ended: what is still open is being closed */
};

static pd_worker_t *workers;
static size_t num_workers;
static int listening; /* main thread: from workers_start() to workers_stop() */

static pd_worker_t *worker_of(h2o_context_t *ctx)
{
    return (pd_worker_t *)((char *)ctx - offsetof(pd_worker_t, ctx));
}

/* Work that outlives its request (a tunnel after a 101) and that shutdown must wait
 * for, then cut off: a handler registers it here from on_context_init. */
void worker_add_drain_hook(h2o_context_t *ctx, const pd_drain_hook_t *hook)
{
    pd_worker_t *worker = worker_of(ctx);

    h2o_vector_reserve(NULL, &worker->drain_hooks, worker->drain_hooks.size + 1);
    worker->drain_hooks.entries[worker->drain_hooks.size++] = *hook;
}

static size_t busy_hooks(pd_worker_t *worker)
{
    size_t i, busy = 0;

    for (i = 0; i < worker->drain_hooks.size; i++)
        busy += worker->drain_hooks.entries[i].busy(worker->drain_hooks.entries[i].data);
    return busy;
}

static void on_request_done(void *p)
{
    (*(pd_worker_t **)p)->num_requests--;
}

/* Counts `req` as in flight until its memory is freed, for the graceful shutdown,
 * then lets the next handler answer it. */
static int on_req_count(h2o_handler_t *self, h2o_req_t *req)
{
    pd_worker_t *worker = worker_of(req->conn->ctx);
    pd_worker_t **slot = h2o_mem_alloc_shared(&req->pool, sizeof(*slot), on_request_done);

    (void)self;
    *slot = worker;
    worker->num_requests++;
    return -1;
}

/* The request counter, ahead of the handler that answers on `pathconf`. */
void workers_register(h2o_pathconf_t *pathconf)
{
    h2o_handler_t *handler = h2o_create_handler(pathconf, sizeof(*handler));

    handler->on_req = on_req_count;
}

/* A client connection's libuv handle; h2o takes over handle.data, so the worker sits beside it. */
typedef struct client_conn {
    uv_tcp_t tcp;
    pd_worker_t *worker;
    pd_client_t client;
} client_conn_t;

static void on_conn_close(uv_handle_t *handle)
{
    client_conn_t *conn = (client_conn_t *)handle;

    client_guard_remove(conn->worker->guard, &conn->client);
    conn->worker->num_conns--;
    free(conn);
}

static void on_accept(uv_stream_t *listener, int status)
{
    pd_worker_t *worker = listener->data;
    client_conn_t *conn;
    h2o_socket_t *sock;

    if (status != 0)
        return;
    if ((conn = malloc(sizeof(*conn))) == NULL)
        fatal("%s", __func__);
    uv_tcp_init(listener->loop, &conn->tcp);
    conn->worker = worker;
    if (uv_accept(listener, (uv_stream_t *)&conn->tcp) != 0) {
        uv_close((uv_handle_t *)&conn->tcp, (uv_close_cb)free);
        return;
    }
    uv_tcp_nodelay(&conn->tcp, 1);
    worker->num_conns++;
    sock = h2o_uv_socket_create((uv_stream_t *)&conn->tcp, on_conn_close);
    h2o_accept(&worker->accept_ctx, sock);
    client_guard_add(worker->guard, &conn->client, (uv_handle_t *)&conn->tcp, sock);
}

static void on_drain_check(uv_timer_t *timer)
{
    pd_worker_t *worker = timer->data;
    size_t i;

    /* libh2o 2.2.5 closes an HTTP/1 keepalive connection only when its next
     * response ends, so idle ones are not waited for: the process exit closes them */
    if ((worker->num_requests == 0 && busy_hooks(worker) == 0) || worker->cut_off) {
        uv_stop(&worker->loop);
        return;
    }
    if (uv_now(&worker->loop) < worker->drain_deadline)
        return;
    /* closed now; the next check, when their sockets have closed, stops the loop */
    for (i = 0; i < worker->drain_hooks.size; i++)
        worker->drain_hooks.entries[i].cut_off(worker->drain_hooks.entries[i].data, worker->id);
    worker->cut_off = 1;
}

/* SIGTERM: stop accepting, let h2o close idle connections, wait for the rest. */
static void on_stop(uv_async_t *async)
{
    pd_worker_t *worker = async->data;
    size_t i;

    for (i = 0; i < worker->num_listeners; i++)
        uv_close((uv_handle_t *)&worker->listeners[i], NULL);
    h2o_context_request_shutdown(&worker->ctx);
    worker->drain_deadline = uv_now(&worker->loop) + worker->shutdown_timeout_ms;
    uv_timer_start(&worker->drain_timer, on_drain_check, 0, DRAIN_CHECK_MS);
}

static void start_listeners(pd_worker_t *worker)
{
    size_t i;

    if ((worker->listeners = calloc(worker->num_listeners, sizeof(*worker->listeners))) == NULL)
        fatal("%s", __func__);
    for (i = 0; i < worker->num_listeners; i++) {
        uv_tcp_t *listener = &worker->listeners[i];
        int r;
        uv_tcp_init(&worker->loop, listener);
        listener->data = worker;
        if ((r = uv_tcp_open(listener, worker->listen_fds[i])) != 0 ||
            (r = uv_listen((uv_stream_t *)listener, SOMAXCONN, on_accept)) != 0)
            fatalx("%s: %s", __func__, uv_strerror(r));
    }
}

static void worker_teardown(pd_worker_t *worker)
{
    uv_close((uv_handle_t *)&worker->stop_async, NULL);
    uv_close((uv_handle_t *)&worker->drain_timer, NULL);
    client_guard_dispose(worker->guard);
    /* h2o_context_request_shutdown() arms HTTP/2's one-second GOAWAY timer even
     * with no HTTP/2 connection; disposing a timeout with a linked entry aborts */
    if (h2o_timeout_is_linked(&worker->ctx.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&worker->ctx.http2._graceful_shutdown_timeout);
    h2o_context_dispose(&worker->ctx); /* the handlers' per-worker state (proxy.c) goes with it */
    free(worker->drain_hooks.entries);
    /* let the closed handles' callbacks run before their memory goes */
    uv_run(&worker->loop, UV_RUN_DEFAULT);
    free(worker->listeners);
    free(worker->listen_fds);
    if (uv_loop_close(&worker->loop) != 0)
        log_warnx("worker %u: handles left open at exit", worker->id);
}

static void *worker_main(void *arg)
{
    pd_worker_t *worker = arg;

    uv_run(&worker->loop, UV_RUN_DEFAULT);
    /* libh2o cannot close a connection from outside, and disposing a context
     * under open connections aborts: with some still open, the exit closes them */
    if (worker->num_conns == 0)
        worker_teardown(worker);
    else
        log_info("worker %u: closing %zu connections at exit%s", worker->id, worker->num_conns,
                 worker->num_requests != 0 ? ", cutting off requests still running after the grace period" : "");
    return NULL;
}

/* Everything a worker needs is set up here, on the main thread, before the thread starts. */
static void worker_init(pd_worker_t *worker, unsigned id, const pd_config_t *conf, h2o_globalconf_t *globalconf)
{
    worker->id = id;
    uv_loop_init(&worker->loop);
    h2o_context_init(&worker->ctx, &worker->loop, globalconf);
    worker->accept_ctx.ctx = &worker->ctx;
    worker->accept_ctx.hosts = globalconf->hosts;
    uv_async_init(&worker->loop, &worker->stop_async, on_stop);
    worker->stop_async.data = worker;
    uv_timer_init(&worker->loop, &worker->drain_timer);
    worker->drain_timer.data = worker;
    worker->shutdown_timeout_ms = conf->shutdown_timeout_ms;
    worker->guard = client_guard_new(&worker->loop, conf);
}

static int open_worker_listeners(pd_worker_t *worker, const pd_config_t *conf, char *err, size_t errlen)
{
    size_t i;

    for (i = 0; i < conf->num_listens; i++)
        if (listen_open("listen", &conf->listens[i], 1, &worker->listen_fds, &worker->num_listeners, err, errlen) != 0)
            return -1;
    return 0;
}

int workers_start(const pd_config_t *conf, h2o_globalconf_t *globalconf, char *err, size_t errlen)
{
    unsigned i;

    num_workers = conf->threads;
    if ((workers = calloc(num_workers, sizeof(*workers))) == NULL)
        fatal("%s", __func__);
    for (i = 0; i < num_workers; i++)
        if (open_worker_listeners(&workers[i], conf, err, errlen) != 0)
            return -1;
    for (i = 0; i < num_workers; i++) {
        worker_init(&workers[i], i, conf, globalconf);
        start_listeners(&workers[i]);
        if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0)
            fatal("%s: pthread_create", __func__);
    }
    listening = 1;
    return 0;
}

void workers_stop(void)
{
    size_t i;

    listening = 0;
    for (i = 0; i < num_workers; i++)
        uv_async_send(&workers[i].stop_async);
}

/* 1 while the workers accept connections: what /ready reports; main thread. */
int workers_listening(void)
{
    return listening;
}

void workers_join(void)
{
    size_t i;

    for (i = 0; i < num_workers; i++)
        pthread_join(workers[i].thread, NULL);
    /* `workers` stays allocated: a worker that skipped its teardown still owns its connections */
}
