/* upstream.c: per worker thread, keepalive socket pools per upstream origin and client contexts per timeout. */
#include <stdlib.h>
#include <string.h>
#include <openssl/ssl.h>
#include "proxyd.h"

/* Idle upstream connections are closed after this long: well below the
 * keepalive timeouts of common servers (nginx 75s, h2o 10s, Node 5s), so that a
 * reused socket is rarely one the upstream is closing at that moment. */
#define POOL_IDLE_TIMEOUT_MS 2000

typedef struct pool_entry {
    const h2o_url_scheme_t *scheme;
    char *host;
    uint16_t port;
    h2o_socketpool_t pool;
} pool_entry_t;

typedef struct client_entry {
    uint64_t timeout_ms;
    h2o_timeout_t io_timeout;
    h2o_http1client_ctx_t client;
} client_entry_t;

/* Owned by one worker and touched only from its thread. Pools are kept for the
 * life of the worker: their number is bounded by the distinct upstream origins
 * ever configured, and an unused pool holds no socket once its idle timer fired. */
struct pd_upstreams {
    h2o_context_t *ctx;
    uv_idle_t closing[2]; /* never started: closed one after the other to free `ups` late enough */
    uint64_t default_timeout_ms;
    SSL_CTX *ssl_ctx;
    H2O_VECTOR(pool_entry_t *) pools;
    H2O_VECTOR(client_entry_t *) clients;
};

/* Upstream TLS verifies the peer against the system's CAs; h2o checks the host name. */
static SSL_CTX *new_client_ssl_ctx(void)
{
    SSL_CTX *ssl_ctx = SSL_CTX_new(TLS_client_method());

    if (ssl_ctx == NULL)
        fatalx("%s: SSL_CTX_new failed", __func__);
    SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION);
    SSL_CTX_set_default_verify_paths(ssl_ctx);
    SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER, NULL);
    return ssl_ctx;
}

pd_upstreams_t *upstreams_new(h2o_context_t *ctx, const pd_config_t *conf)
{
    pd_upstreams_t *ups = calloc(1, sizeof(*ups));

    if (ups == NULL)
        fatal("%s", __func__);
    ups->ctx = ctx;
    ups->default_timeout_ms = conf->upstream.io_timeout_ms;
    ups->ssl_ctx = new_client_ssl_ctx();
    uv_idle_init(ctx->loop, &ups->closing[0]);
    uv_idle_init(ctx->loop, &ups->closing[1]);
    ups->closing[0].data = ups->closing[1].data = ups;
    return ups;
}

static void free_upstreams(pd_upstreams_t *ups)
{
    size_t i;

    for (i = 0; i < ups->pools.size; i++) {
        free(ups->pools.entries[i]->host);
        free(ups->pools.entries[i]);
    }
    for (i = 0; i < ups->clients.size; i++)
        free(ups->clients.entries[i]);
    free(ups->pools.entries);
    free(ups->clients.entries);
    SSL_CTX_free(ups->ssl_ctx);
    free(ups);
}

static void on_closed(uv_handle_t *handle)
{
    free_upstreams(handle->data);
}

/* Runs in the loop turn in which the timers closed by upstreams_close() finish
 * closing: only once that turn is over may the memory they are embedded in go. */
static void on_first_closed(uv_handle_t *handle)
{
    pd_upstreams_t *ups = handle->data;

    uv_close((uv_handle_t *)&ups->closing[1], on_closed);
}

/* Closes every idle upstream socket and timer and frees `ups` once the loop has run
 * their close callbacks: the pools' and clients' timers are embedded in its memory.
 * Called once no client connection is left, so that no request holds a pool's socket. */
void upstreams_close(pd_upstreams_t *ups)
{
    size_t i;

    uv_close((uv_handle_t *)&ups->closing[0], on_first_closed);
    for (i = 0; i < ups->pools.size; i++)
        h2o_socketpool_dispose(&ups->pools.entries[i]->pool);
    for (i = 0; i < ups->clients.size; i++)
        h2o_timeout_dispose(ups->ctx->loop, &ups->clients.entries[i]->io_timeout);
}

static pool_entry_t *new_pool(pd_upstreams_t *ups, const h2o_url_t *url)
{
    pool_entry_t *entry = calloc(1, sizeof(*entry));

    if (entry == NULL || (entry->host = strndup(url->host.base, url->host.len)) == NULL)
        fatal("%s", __func__);
    entry->scheme = url->scheme;
    entry->port = h2o_url_get_port(url);
    /* capacity is ignored by libh2o 2.2.5; the pool grows as needed */
    h2o_socketpool_init_by_hostport(&entry->pool, url->host, entry->port, url->scheme == &H2O_URL_SCHEME_HTTPS, SIZE_MAX);
    h2o_socketpool_set_timeout(&entry->pool, ups->ctx->loop, POOL_IDLE_TIMEOUT_MS);
    h2o_vector_reserve(NULL, &ups->pools, ups->pools.size + 1);
    ups->pools.entries[ups->pools.size++] = entry;
    return entry;
}

/* The keepalive pool for the url's origin; a handful of origins, so a scan is cheapest. */
h2o_socketpool_t *upstreams_pool(pd_upstreams_t *ups, const h2o_url_t *url)
{
    uint16_t port = h2o_url_get_port(url);
    size_t i;

    for (i = 0; i < ups->pools.size; i++) {
        pool_entry_t *entry = ups->pools.entries[i];
        if (entry->scheme == url->scheme && entry->port == port && strlen(entry->host) == url->host.len &&
            memcmp(entry->host, url->host.base, url->host.len) == 0)
            return &entry->pool;
    }
    return &new_pool(ups, url)->pool;
}

/* The client context whose I/O timeout is `timeout_ms` (0: the settings' io_timeout). */
h2o_http1client_ctx_t *upstreams_client(pd_upstreams_t *ups, uint64_t timeout_ms)
{
    client_entry_t *entry;
    size_t i;

    if (timeout_ms == 0)
        timeout_ms = ups->default_timeout_ms;
    for (i = 0; i < ups->clients.size; i++)
        if (ups->clients.entries[i]->timeout_ms == timeout_ms)
            return &ups->clients.entries[i]->client;
    if ((entry = calloc(1, sizeof(*entry))) == NULL)
        fatal("%s", __func__);
    entry->timeout_ms = timeout_ms;
    h2o_timeout_init(ups->ctx->loop, &entry->io_timeout, timeout_ms);
    entry->client.loop = ups->ctx->loop;
    entry->client.getaddr_receiver = &ups->ctx->receivers.hostinfo_getaddr;
    entry->client.io_timeout = &entry->io_timeout;
    entry->client.ssl_ctx = ups->ssl_ctx;
    h2o_vector_reserve(NULL, &ups->clients, ups->clients.size + 1);
    ups->clients.entries[ups->clients.size++] = entry;
    return &entry->client;
}
