/* auth_cache.c: forward-auth decisions for all workers, keyed by SHA-256 of what the auth service was shown; checks coalesced. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>
#include "auth.h"

/* One digest of what a check shows the auth service (auth_input.c): a decision until
 * it expires, or a check running with the requests that wait for it. Only the
 * digest is kept, never the key. */
struct pd_auth_entry {
    unsigned char digest[PD_AUTH_DIGEST_LEN];
    UT_hash_handle hh;
    pd_auth_decision_t *decision; /* NULL while the check runs */
    uint64_t expires_at;          /* monotonic ms */
    h2o_linklist_t waiters;       /* requests waiting for the running check */
    int detached;                 /* not in the table: a clear dropped it while its check ran, or a private check */
};

/* Guarded by `lock`; the table is in least-recently-used order (uthash keeps insertion order). */
static struct {
    pthread_mutex_t lock;
    pd_auth_entry_t *table;
    size_t limit;
} cache = {PTHREAD_MUTEX_INITIALIZER, NULL, 100000};

void auth_cache_init(size_t limit)
{
    cache.limit = limit;
}

void auth_decision_incref(pd_auth_decision_t *d)
{
    __atomic_add_fetch(&d->refcnt, 1, __ATOMIC_RELAXED);
}

static void free_headers(pd_auth_header_t *headers, size_t num)
{
    size_t i;

    for (i = 0; i < num; i++) {
        free(headers[i].name);
        free(headers[i].value);
    }
    free(headers);
}

void auth_decision_decref(pd_auth_decision_t *d)
{
    if (d == NULL || __atomic_sub_fetch(&d->refcnt, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    free_headers(d->upstream_headers, d->num_upstream_headers);
    free_headers(d->client_headers, d->num_client_headers);
    free(d->body);
    free(d->message);
    free(d);
}

static void entry_free(pd_auth_entry_t *e)
{
    auth_decision_decref(e->decision);
    free(e);
}

/* Oldest first, and never an entry whose check is still running. */
static void evict(void)
{
    pd_auth_entry_t *e, *next;

    HASH_ITER(hh, cache.table, e, next)
    {
        if (HASH_COUNT(cache.table) <= cache.limit)
            break;
        if (e->decision == NULL)
            continue;
        HASH_DEL(cache.table, e);
        entry_free(e);
    }
}

/* PD_AUTH_CACHE_HIT: *hit holds a reference to the decision. PD_AUTH_CACHE_WAIT: `waiter`
 * was queued on the running check. PD_AUTH_CACHE_LEAD: `waiter` was queued on a new
 * check that the caller must run and end with auth_cache_complete(*lead, ...). */
int auth_cache_lookup(const unsigned char *digest, uint64_t now, h2o_linklist_t *waiter, pd_auth_decision_t **hit,
                      pd_auth_entry_t **lead)
{
    pd_auth_entry_t *e;
    int ret;

    pthread_mutex_lock(&cache.lock);
    HASH_FIND(hh, cache.table, digest, PD_AUTH_DIGEST_LEN, e);
    if (e != NULL && e->decision != NULL && e->expires_at > now) {
        HASH_DEL(cache.table, e); /* to the most recent end */
        HASH_ADD(hh, cache.table, digest, PD_AUTH_DIGEST_LEN, e);
        auth_decision_incref(*hit = e->decision);
        ret = PD_AUTH_CACHE_HIT;
    } else if (e != NULL && e->decision == NULL) {
        h2o_linklist_insert(&e->waiters, waiter);
        ret = PD_AUTH_CACHE_WAIT;
    } else {
        if (e == NULL) {
            if ((e = calloc(1, sizeof(*e))) == NULL)
                fatal("%s", __func__);
            memcpy(e->digest, digest, PD_AUTH_DIGEST_LEN);
            h2o_linklist_init_anchor(&e->waiters);
            HASH_ADD(hh, cache.table, digest, PD_AUTH_DIGEST_LEN, e);
            evict();
        } else { /* expired */
            auth_decision_decref(e->decision);
            e->decision = NULL;
        }
        h2o_linklist_insert(&e->waiters, waiter);
        *lead = e;
        ret = PD_AUTH_CACHE_LEAD;
    }
    pthread_mutex_unlock(&cache.lock);
    return ret;
}

/* Ends the check `e`: its waiters move to `waiters`, and `d` is remembered for
 * `ttl_ms` (0: not at all, as for errors). */
void auth_cache_complete(pd_auth_entry_t *e, pd_auth_decision_t *d, uint64_t ttl_ms, uint64_t now, h2o_linklist_t *waiters)
{
    pthread_mutex_lock(&cache.lock);
    h2o_linklist_insert_list(waiters, &e->waiters);
    if (e->detached) {
        entry_free(e);
    } else if (ttl_ms == 0) {
        HASH_DEL(cache.table, e);
        entry_free(e);
    } else {
        auth_decision_incref(e->decision = d);
        e->expires_at = now + ttl_ms;
        evict();
    }
    pthread_mutex_unlock(&cache.lock);
}

/* A check for `waiter` alone, outside the table: no other request joins it and its
 * decision is not kept. End it with auth_cache_complete() as any other. */
pd_auth_entry_t *auth_cache_private(h2o_linklist_t *waiter)
{
    pd_auth_entry_t *e = calloc(1, sizeof(*e));

    if (e == NULL)
        fatal("%s", __func__);
    h2o_linklist_init_anchor(&e->waiters);
    h2o_linklist_insert(&e->waiters, waiter);
    e->detached = 1;
    return e;
}

/* Forgets every decision (the auth entry changed). Checks still running finish for
 * their waiters, but new requests start new checks. */
void auth_cache_clear(void)
{
    pd_auth_entry_t *e, *next;

    pthread_mutex_lock(&cache.lock);
    HASH_ITER(hh, cache.table, e, next)
    {
        HASH_DEL(cache.table, e);
        if (e->decision == NULL)
            e->detached = 1; /* its leader frees it in auth_cache_complete */
        else
            entry_free(e);
    }
    pthread_mutex_unlock(&cache.lock);
}
