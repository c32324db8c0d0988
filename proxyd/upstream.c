/* upstream.c: per worker thread, what every upstream exchange shares: one
 * h2o_timeout_t per duration and the TLS client context; the origins and their
 * pools are upstream_conn.c's. */
#include <stdlib.h>
#include <string.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include "upstream.h"

/* OpenSSL's verify callback: the chain is checked by OpenSSL, the name here.
 * libh2o 2.2.5 checks the name itself only when the handshake ends without bytes
 * left to send, which is never the case with TLS 1.3, so a certificate for any
 * other host would pass. The name is the one libh2o sent as SNI: the URL's host. */
static int verify_host(int preverified, X509_STORE_CTX *store)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    const char *name = ssl != NULL ? SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) : NULL;
    X509 *cert = X509_STORE_CTX_get_current_cert(store);
    int ip;

    if (!preverified || X509_STORE_CTX_get_error_depth(store) != 0)
        return preverified;
    if (name != NULL && cert != NULL) {
        ip = X509_check_ip_asc(cert, name, 0);
        if (ip == 1 || (ip == -2 && X509_check_host(cert, name, strlen(name), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1))
            return 1;
    }
    X509_STORE_CTX_set_error(store, X509_V_ERR_HOSTNAME_MISMATCH);
    return 0;
}

/* Upstream TLS verifies the peer against the system's CAs and the URL's host name. Reading the CA bundle takes a tenth of a second,
 * so every worker shares one context (OpenSSL's are thread-safe), made on the main thread by the first worker's set-up and freed
 * with the last reference. */
static SSL_CTX *client_ssl_ctx(void)
{
    static SSL_CTX *shared;

    if (shared == NULL) {
        if ((shared = SSL_CTX_new(TLS_client_method())) == NULL)
            fatalx("%s: SSL_CTX_new failed", __func__);
        SSL_CTX_set_min_proto_version(shared, TLS1_2_VERSION);
        SSL_CTX_set_default_verify_paths(shared);
        SSL_CTX_set_verify(shared, SSL_VERIFY_PEER, verify_host);
        return shared; /* the first reference */
    }
    SSL_CTX_up_ref(shared);
    return shared;
}

pd_upstreams_t *upstreams_new(h2o_context_t *ctx, const pd_config_t *conf)
{
    pd_upstreams_t *ups = calloc(1, sizeof(*ups));

    if (ups == NULL)
        fatal("%s", __func__);
    ups->ctx = ctx;
    ups->conf = conf;
    ups->ssl_ctx = client_ssl_ctx(); /* on the main thread, before the workers start */
    uv_idle_init(ctx->loop, &ups->closing[0]);
    uv_idle_init(ctx->loop, &ups->closing[1]);
    ups->closing[0].data = ups->closing[1].data = ups;
    return ups;
}

static void free_upstreams(pd_upstreams_t *ups)
{
    size_t i;

    for (i = 0; i < ups->timeouts.size; i++)
        free(ups->timeouts.entries[i]);
    free(ups->timeouts.entries);
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

/* Closes every timer, and frees `ups` once the loop has run their close callbacks.
 * Called once no client connection is left and the origins closed their idle
 * connections, so that nothing holds a timer entry. */
void upstreams_close(pd_upstreams_t *ups)
{
    size_t i;

    uv_close((uv_handle_t *)&ups->closing[0], on_first_closed);
    for (i = 0; i < ups->timeouts.size; i++)
        h2o_timeout_dispose(ups->ctx->loop, ups->timeouts.entries[i]);
}

/* A handful of durations (the settings' and the services' own): a scan is cheapest. */
h2o_timeout_t *upstreams_timeout(pd_upstreams_t *ups, uint64_t ms)
{
    h2o_timeout_t *timeout;
    size_t i;

    for (i = 0; i < ups->timeouts.size; i++)
        if (ups->timeouts.entries[i]->timeout == ms)
            return ups->timeouts.entries[i];
    if ((timeout = calloc(1, sizeof(*timeout))) == NULL)
        fatal("%s", __func__);
    h2o_timeout_init(ups->ctx->loop, timeout, ms);
    h2o_vector_reserve(NULL, &ups->timeouts, ups->timeouts.size + 1);
    ups->timeouts.entries[ups->timeouts.size++] = timeout;
    return timeout;
}

void upstreams_arm(pd_upstreams_t *ups, h2o_timeout_t *timeout, h2o_timeout_entry_t *entry)
{
    if (h2o_timeout_is_linked(entry))
        h2o_timeout_unlink(entry);
    h2o_timeout_link(ups->ctx->loop, timeout, entry);
}

void upstreams_disarm(h2o_timeout_entry_t *entry)
{
    if (h2o_timeout_is_linked(entry))
        h2o_timeout_unlink(entry);
}
