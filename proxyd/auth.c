/* auth.c: forward auth on the request side: scrub, look up or join a check, wait, then forward or answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "auth.h"

/* Per worker: its curl multi handle and the inbox for decisions made on other workers.
 * Created and listed on the main thread before the workers start; disposed by its
 * worker, freed by auth_shutdown() once every worker stopped. */
struct pd_auth_worker {
    h2o_context_t *ctx;
    pd_auth_worker_t *next; /* in `auth_workers` */
    int disposed;
    EVP_MD_CTX *md; /* reused for every digest: allocating one each time costs more than hashing */
    pd_auth_client_t *client;
    /* decisions made on other workers for this worker's requests; once `closed`
     * (this worker stopped) a late decision is dropped by its sender instead */
    struct {
        pthread_mutex_t lock;
        h2o_linklist_t waiters;
        uv_async_t wakeup;
        int closed;
    } inbox;
};

/* A request waiting for a decision. Owned by its worker's thread once the decision
 * is handed to it; `req` becomes NULL when the client goes away first. */
typedef struct auth_waiter {
    h2o_linklist_t link; /* in the cache entry's list, then in an inbox */
    pd_auth_worker_t *aw;
    h2o_req_t *req;
    struct auth_waiter **slot;    /* in req->pool */
    const pd_route_t *route;      /* in req->pool: where the request goes once allowed */
    pd_auth_input_t in;           /* what its check shows the auth service; the values in req->pool */
    pd_auth_decision_t *decision; /* NULL when handed back: the check's answer was for another client */
} auth_waiter_t;

/* A check this worker leads, for the cache entry `entry`. */
typedef struct auth_lead {
    pd_auth_worker_t *aw;
    pd_auth_entry_t *entry;
} auth_lead_t;

static const pd_config_t *settings;
static pd_auth_worker_t *auth_workers; /* every worker's, for auth_shutdown() */
static EVP_MD *sha256;                 /* fetched once: OpenSSL 3's implicit fetch per digest costs more than the digest */

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

void auth_init(const pd_config_t *conf)
{
    settings = conf;
    auth_check_init(conf);
    if ((sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
        fatalx("%s: no SHA-256 in OpenSSL", __func__);
    auth_cache_init(conf->auth.cache_size);
    registry_watch(conf->auth.service, auth_cache_clear);
}

/* ---- the request side ---- */

/* Adds `headers` (from a decision, shared) to `list`, copied into req->pool. */
static void add_headers(h2o_req_t *req, h2o_headers_t *list, const pd_auth_header_t *headers, size_t num)
{
    size_t i;

    for (i = 0; i < num; i++) {
        h2o_iovec_t name = h2o_strdup(&req->pool, headers[i].name, strlen(headers[i].name));
        h2o_iovec_t value = h2o_strdup(&req->pool, headers[i].value, strlen(headers[i].value));
        h2o_add_header_by_str(&req->pool, list, name.base, name.len, 1, NULL, value.base, value.len);
    }
}

/* copy_headers go into the request; response_headers into whatever answer the
 * client then gets (the service's, a 101, or proxyd's own error), before the
 * service's own fields. */
static void apply_allow(auth_waiter_t *w, pd_auth_decision_t *d)
{
    h2o_req_t *req = w->req;

    add_headers(req, &req->headers, d->upstream_headers, d->num_upstream_headers);
    add_headers(req, &req->res.headers, d->client_headers, d->num_client_headers);
    w->route->forward(req, w->route);
}

static void apply_deny(h2o_req_t *req, pd_auth_decision_t *d)
{
    h2o_iovec_t body = h2o_strdup(&req->pool, d->body != NULL ? d->body : "", d->body_len);

    req->res.status = d->status;
    req->res.content_length = body.len;
    req->res.reason = d->status == 401 ? "Unauthorized" : d->status == 403 ? "Forbidden" : "Redirect";
    add_headers(req, &req->res.headers, d->client_headers, d->num_client_headers);
    h2o_send_inline(req, body.base, body.len);
}

static void check_alone(auth_waiter_t *w);

/* On the waiter's own thread: answer or forward, then free it; or, handed back
 * without a decision, ask the auth service again for this request alone. */
static void resume(auth_waiter_t *w)
{
    pd_auth_decision_t *d = w->decision;

    if (d == NULL && w->req != NULL) {
        check_alone(w);
        return;
    }
    if (d != NULL)
        stats_auth(d->kind == PD_AUTH_ALLOW  ? PD_STATS_AUTH_ALLOWS
                   : d->kind == PD_AUTH_DENY ? PD_STATS_AUTH_DENIES
                                             : PD_STATS_AUTH_FAILURES);
    if (w->req != NULL) {
        *w->slot = NULL;
        if (d->kind == PD_AUTH_ALLOW)
            apply_allow(w, d);
        else if (d->kind == PD_AUTH_DENY)
            apply_deny(w->req, d);
        else
            reply_error(w->req, 503, "Service Unavailable", d->message, w->route->service->name);
    }
    auth_decision_decref(d);
    free(w);
}

/* Moves what the inbox holds into `into` (a fresh anchor). */
static void take_inbox(pd_auth_worker_t *aw, h2o_linklist_t *into)
{
    h2o_linklist_init_anchor(into);
    pthread_mutex_lock(&aw->inbox.lock);
    h2o_linklist_insert_list(into, &aw->inbox.waiters);
    pthread_mutex_unlock(&aw->inbox.lock);
}

static auth_waiter_t *pop(h2o_linklist_t *list)
{
    auth_waiter_t *w;

    if (h2o_linklist_is_empty(list))
        return NULL;
    w = H2O_STRUCT_FROM_MEMBER(auth_waiter_t, link, list->next);
    h2o_linklist_unlink(&w->link);
    return w;
}

/* A waiter whose request can no longer be answered. */
static void drop(auth_waiter_t *w)
{
    auth_decision_decref(w->decision);
    free(w);
}

static void on_inbox(uv_async_t *async)
{
    h2o_linklist_t waiters;
    auth_waiter_t *w;

    take_inbox(async->data, &waiters);
    while ((w = pop(&waiters)) != NULL)
        resume(w);
}

/* Hands a waiter to its own worker. A stopped worker has no request left that could
 * use it (it stops once its requests are done), so the waiter is dropped. */
static void post(auth_waiter_t *w)
{
    pd_auth_worker_t *aw = w->aw;
    int closed;

    pthread_mutex_lock(&aw->inbox.lock);
    if (!(closed = aw->inbox.closed)) {
        h2o_linklist_insert(&aw->inbox.waiters, &w->link);
        uv_async_send(&aw->inbox.wakeup);
    }
    pthread_mutex_unlock(&aw->inbox.lock);
    if (closed)
        drop(w);
}

/* Hands `d` to every waiter: at once on this thread, through its inbox on the others.
 * A per-client decision (it passes a cookie) goes to the first waiter only, the request
 * the check was started for; the others are handed back without one. */
static void dispatch(pd_auth_worker_t *self, h2o_linklist_t *waiters, pd_auth_decision_t *d)
{
    auth_waiter_t *w;
    int first = 1;

    while ((w = pop(waiters)) != NULL) {
        w->decision = first || !d->per_client ? d : NULL;
        if (w->decision != NULL)
            auth_decision_incref(d);
        first = 0;
        if (w->aw == self)
            resume(w);
        else
            post(w);
    }
}

static void on_req_gone(void *p)
{
    auth_waiter_t *w = *(auth_waiter_t **)p;

    if (w != NULL)
        w->req = NULL;
}

/* ---- credentials ---- */

/* `query` ("?a=b&key=k" or "") without its key parameters, kept byte for byte
 * otherwise; *key is the first key's value as sent, or {NULL, 0}. */
h2o_iovec_t auth_strip_key(h2o_req_t *req, h2o_iovec_t query, h2o_iovec_t *key)
{
    h2o_iovec_t out = h2o_iovec_init(h2o_mem_alloc_pool(&req->pool, query.len + 1), 0);
    const char *p, *end = query.base + query.len;

    *key = h2o_iovec_init(NULL, 0);
    if (query.len == 0)
        return query;
    for (p = query.base + 1; p < end;) {
        const char *amp = memchr(p, '&', end - p), *stop = amp != NULL ? amp : end;
        size_t len = stop - p;
        if (len >= 3 && memcmp(p, "key", 3) == 0 && (len == 3 || p[3] == '=')) {
            if (key->base == NULL)
                *key = h2o_iovec_init(len > 4 ? p + 4 : "", len > 4 ? len - 4 : 0);
        } else if (len != 0) {
            char separator = out.len == 0 ? '?' : '&';
            out.base[out.len++] = separator;
            memcpy(out.base + out.len, p, len);
            out.len += len;
        }
        p = stop + 1;
    }
    return out;
}

/* A browser that logged in with ?key= names that URL in the Referer of what the page then loads (its scripts, styles
 * and images: Chromium sends the whole URL to the page's own origin; not its WebSocket handshakes) and of a link followed
 * from it: the key is removed there as from the query. Each Referer field is read once. */
void auth_strip_referer_key(h2o_req_t *req)
{
    ssize_t i = -1;

    while ((i = h2o_find_header(&req->headers, H2O_TOKEN_REFERER, i)) != -1) {
        h2o_iovec_t *value = &req->headers.entries[i].value, key, query;
        const char *q = memchr(value->base, '?', value->len);

        if (q == NULL)
            continue;
        query = auth_strip_key(req, h2o_iovec_init(q, value->base + value->len - q), &key);
        if (key.base != NULL)
            *value = h2o_concat(&req->pool, h2o_iovec_init(value->base, q - value->base), query);
    }
}

/* ---- the decision ---- */

/* The check `entry` is decided: the cache learns it and every waiting request gets it. */
static void decided(pd_auth_worker_t *aw, pd_auth_entry_t *entry, pd_auth_decision_t *d, uint64_t ttl)
{
    h2o_linklist_t waiters;

    h2o_linklist_init_anchor(&waiters);
    auth_cache_complete(entry, d, ttl, now_ms(), &waiters);
    dispatch(aw, &waiters, d);
    auth_decision_decref(d);
}

/* auth_check.c's on_decided, on the leading worker's thread. */
static void on_check_decided(void *data, pd_auth_decision_t *d, uint64_t ttl)
{
    auth_lead_t *lead = data;

    stats_auth_check(d->kind == PD_AUTH_FAIL, now_ms()); /* for /ready */
    decided(lead->aw, lead->entry, d, ttl);
    free(lead);
}

/* The leader of a new check: ask the auth service `snap` names (the registry this
 * request was routed with). */
static void start_check(pd_auth_worker_t *aw, pd_auth_entry_t *entry, pd_snapshot_t *snap, const pd_auth_input_t *in)
{
    const char *name = settings->auth.service;
    pd_service_t *auth_service = snapshot_lookup(snap, name, strlen(name));
    auth_lead_t *lead;

    if (auth_service == NULL) {
        decided(aw, entry, auth_decision_fail("auth service '%s' is not in the registry", name), 0);
        return;
    }
    if ((lead = malloc(sizeof(*lead))) == NULL)
        fatal("%s", __func__);
    *lead = (auth_lead_t){aw, entry};
    auth_check_start(aw->client, auth_service, in, on_check_decided, lead);
}

/* A request that waited on a check whose answer passed a cookie to another client:
 * its own check, shared with no one. The registry is the current one: the one it
 * was routed with may be gone by now. */
static void check_alone(auth_waiter_t *w)
{
    pd_snapshot_t *snap = registry_acquire();

    start_check(w->aw, auth_cache_private(&w->link), snap, &w->in);
    snapshot_decref(snap);
}

/* Holds `req` until the auth service (or the cache) decides; then it is handed on
 * through route->forward, or answered with the denial or a 503. `route` (in
 * req->pool) carries the query without the key (auth_strip_key()); `path` is the
 * canonical path; `snap` is the registry the request was routed with, borrowed. */
void auth_begin(pd_auth_worker_t *aw, h2o_req_t *req, const pd_route_t *route, pd_snapshot_t *snap, const pd_path_t *path,
                h2o_iovec_t key)
{
    auth_waiter_t *w = calloc(1, sizeof(*w));
    unsigned char digest[PD_AUTH_DIGEST_LEN];
    pd_auth_decision_t *hit = NULL;
    pd_auth_entry_t *lead = NULL;

    if (w == NULL)
        fatal("%s", __func__);
    w->aw = aw;
    w->req = req;
    w->route = route;
    w->slot = h2o_mem_alloc_shared(&req->pool, sizeof(*w->slot), on_req_gone);
    *w->slot = w;
    auth_input_build(&w->in, req, settings, route, path, key);
    auth_input_digest(&w->in, aw->md, sha256, &req->pool, digest);
    switch (auth_cache_lookup(digest, now_ms(), &w->link, &hit, &lead)) {
    case PD_AUTH_CACHE_HIT:
        stats_auth(PD_STATS_AUTH_CACHE_HITS);
        w->decision = hit;
        resume(w);
        break;
    case PD_AUTH_CACHE_LEAD:
        stats_auth(PD_STATS_AUTH_CACHE_MISSES);
        start_check(aw, lead, snap, &w->in);
        break;
    default: /* PD_AUTH_CACHE_WAIT: a check for the very same request is running */
        stats_auth(PD_STATS_AUTH_CACHE_MISSES);
        break;
    }
}

pd_auth_worker_t *auth_worker_new(h2o_context_t *ctx)
{
    pd_auth_worker_t *aw = calloc(1, sizeof(*aw));

    if (aw == NULL)
        fatal("%s", __func__);
    aw->ctx = ctx;
    if ((aw->md = EVP_MD_CTX_new()) == NULL)
        fatalx("%s: EVP_MD_CTX_new failed", __func__);
    aw->client = auth_client_new(ctx->loop);
    pthread_mutex_init(&aw->inbox.lock, NULL);
    h2o_linklist_init_anchor(&aw->inbox.waiters);
    uv_async_init(ctx->loop, &aw->inbox.wakeup, on_inbox);
    aw->inbox.wakeup.data = aw;
    aw->next = auth_workers;
    auth_workers = aw;
    return aw;
}

/* After its loop stopped: no more decisions are accepted, the checks this worker
 * leads end (their waiters elsewhere get a 503), and what arrived is dropped. */
void auth_worker_dispose(pd_auth_worker_t *aw)
{
    h2o_linklist_t late;
    auth_waiter_t *w;

    pthread_mutex_lock(&aw->inbox.lock);
    aw->inbox.closed = 1;
    pthread_mutex_unlock(&aw->inbox.lock);
    auth_client_dispose(aw->client);
    take_inbox(aw, &late);
    while ((w = pop(&late)) != NULL)
        drop(w);
    uv_close((uv_handle_t *)&aw->inbox.wakeup, NULL);
    aw->disposed = 1;
}

/* After every worker thread stopped: until then another worker may still post a late
 * decision to a stopped one's (closed) inbox. Empties the cache too. A worker that skipped its teardown
 * (connections still open at exit) still owns its part, which stays allocated. */
void auth_shutdown(void)
{
    pd_auth_worker_t *aw, **link = &auth_workers;

    while ((aw = *link) != NULL) {
        if (!aw->disposed) {
            link = &aw->next;
            continue;
        }
        *link = aw->next;
        auth_client_free(aw->client);
        EVP_MD_CTX_free(aw->md);
        pthread_mutex_destroy(&aw->inbox.lock);
        free(aw);
    }
    auth_cache_clear();
}
