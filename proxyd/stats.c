/* stats.c: cumulative counters per service name and for forward auth, added to by the workers, read by the admin listener. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>
#include "proxyd.h"

/* The latency histogram's buckets are powers of two in microseconds: bucket 0
 * holds what took less than 2^8 us (256 us), bucket i [2^(7+i), 2^(8+i)) us, and
 * the last one everything from 2^24 us (16.8 s) on. Finding one is a count of
 * leading zeros, not a search. */
#define FIRST_BUCKET_SHIFT 8

/* One service name's record. Workers reach it through pd_service_t.stats and only
 * add to `counts`; the main thread creates, names and recycles records. */
struct pd_stats {
    pd_stats_counts_t counts; /* relaxed atomics */
    int refcnt;               /* atomic: the services, requests and tunnels that point here */
    pd_stats_sample_t sample; /* main thread only: the admin listener's last reading */
    char name[PD_SERVICE_NAME_MAX + 1];
    UT_hash_handle hh;
};

/* The names seen, bounded: a record whose name no service uses any more is
 * recycled for a new name once the table is full; past that, services share
 * `uncounted`, which nothing reports. */
static struct {
    pthread_mutex_t lock; /* the table and names; never taken by the workers */
    pd_stats_t *table;
    size_t count;
    uint64_t auth[PD_STATS_AUTH_NUM]; /* relaxed atomics */
    uint64_t auth_failed_check_ms;    /* relaxed atomic: when the latest check failed (uv_hrtime in ms); 0: it did not */
} stats = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, {0}, 0};

static pd_stats_t uncounted = {.refcnt = 1};

static void add(uint64_t *counter, uint64_t n)
{
    __atomic_add_fetch(counter, n, __ATOMIC_RELAXED);
}

static pd_stats_t *recycle_unused(void)
{
    pd_stats_t *s, *next;

    HASH_ITER(hh, stats.table, s, next)
    {
        if (__atomic_load_n(&s->refcnt, __ATOMIC_ACQUIRE) != 0)
            continue;
        HASH_DEL(stats.table, s);
        memset(s, 0, sizeof(*s));
        return s;
    }
    return NULL;
}

/* The record of `name` with a new reference: its counters survive every edit of
 * the service and its deletion, until the table needs the room. */
pd_stats_t *stats_for(const char *name)
{
    size_t len = strnlen(name, PD_SERVICE_NAME_MAX + 1);
    pd_stats_t *s;

    if (len > PD_SERVICE_NAME_MAX)
        return stats_hold(&uncounted);
    pthread_mutex_lock(&stats.lock);
    HASH_FIND(hh, stats.table, name, len, s);
    if (s == NULL) {
        if (stats.count < PD_STATS_MAX_NAMES) {
            if ((s = calloc(1, sizeof(*s))) == NULL)
                fatal("%s", __func__);
            stats.count++;
        } else {
            s = recycle_unused();
        }
        if (s != NULL) {
            memcpy(s->name, name, len);
            HASH_ADD(hh, stats.table, name, len, s);
        }
    }
    if (s == NULL)
        s = &uncounted;
    stats_hold(s);
    pthread_mutex_unlock(&stats.lock);
    return s;
}

pd_stats_t *stats_hold(pd_stats_t *s)
{
    __atomic_add_fetch(&s->refcnt, 1, __ATOMIC_RELAXED);
    return s;
}

/* From any thread. A record nobody holds stays in the table with its counters. */
void stats_release(pd_stats_t *s)
{
    __atomic_sub_fetch(&s->refcnt, 1, __ATOMIC_RELEASE);
}

/* 0 for the record of names past PD_STATS_MAX_NAMES, whose counters mean nothing. */
int stats_counted(const pd_stats_t *s)
{
    return s != &uncounted;
}

/* ---- the workers' side: one relaxed atomic add each ---- */

void stats_request(pd_stats_t *s)
{
    add(&s->counts.requests, 1);
}

/* The status a request to the service ended with; 0 (no answer at all) is not a response. */
void stats_response(pd_stats_t *s, int status)
{
    unsigned class = (unsigned)status / 100;

    if (class >= 1 && class <= 5)
        add(&s->counts.responses[class - 1], 1);
}

size_t stats_latency_bucket(uint64_t us)
{
    size_t i;

    if (us < (1u << FIRST_BUCKET_SHIFT))
        return 0;
    i = (size_t)(64 - __builtin_clzll(us)) - FIRST_BUCKET_SHIFT;
    return i < PD_STATS_LATENCY_BUCKETS ? i : PD_STATS_LATENCY_BUCKETS - 1;
}

/* The upper bound of bucket `i` in microseconds; UINT64_MAX for the last. */
uint64_t stats_latency_bound(size_t i)
{
    return i + 1 < PD_STATS_LATENCY_BUCKETS ? (uint64_t)1 << (FIRST_BUCKET_SHIFT + i) : UINT64_MAX;
}

/* From sending the request to the service to its response head. */
void stats_latency(pd_stats_t *s, uint64_t ns)
{
    uint64_t us = ns / 1000;

    add(&s->counts.latency[stats_latency_bucket(us)], 1);
    add(&s->counts.latency_sum_us, us);
}

void stats_tunnel_opened(pd_stats_t *s)
{
    add(&s->counts.tunnels_opened, 1);
}

void stats_tunnel_closed(pd_stats_t *s)
{
    add(&s->counts.tunnels_closed, 1);
}

void stats_auth(int counter)
{
    add(&stats.auth[counter], 1);
}

/* A check the auth service answered (or failed to) at `now_ms`; cached decisions are not checks. */
void stats_auth_check(int failed, uint64_t now_ms)
{
    __atomic_store_n(&stats.auth_failed_check_ms, failed ? now_ms : 0, __ATOMIC_RELAXED);
}

/* ---- the readers' side (main thread) ---- */

static void load_all(const uint64_t *from, uint64_t *to, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        to[i] = __atomic_load_n(&from[i], __ATOMIC_RELAXED);
}

/* Each counter as it is now; they are not read at one instant, so a response may
 * show up before its request: readers clamp differences at zero. */
void stats_read(const pd_stats_t *s, pd_stats_counts_t *out)
{
    load_all((const uint64_t *)&s->counts, (uint64_t *)out, sizeof(*out) / sizeof(uint64_t));
}

void stats_auth_read(uint64_t out[PD_STATS_AUTH_NUM])
{
    load_all(stats.auth, out, PD_STATS_AUTH_NUM);
}

/* When the latest check failed, or 0 when it did not (or none was made). */
uint64_t stats_auth_failed_check_ms(void)
{
    return __atomic_load_n(&stats.auth_failed_check_ms, __ATOMIC_RELAXED);
}

const char *stats_name(const pd_stats_t *s)
{
    return s->name;
}

/* The admin listener's previous reading of `s`, kept with it; main thread only. */
pd_stats_sample_t *stats_sample(pd_stats_t *s)
{
    return &s->sample;
}

/* The latency below which a fraction `q` of the `total` responses in `buckets`
 * fell, in microseconds, interpolated within its bucket as Prometheus's
 * histogram_quantile() does; the last bucket has no upper bound, so its lower
 * one is the estimate. -1 when total is 0. */
double stats_quantile(const uint64_t buckets[PD_STATS_LATENCY_BUCKETS], uint64_t total, double q)
{
    double rank = q * (double)total, seen = 0, lower = 0;
    size_t i;

    if (total == 0)
        return -1;
    for (i = 0; i < PD_STATS_LATENCY_BUCKETS; i++) {
        double upper = (double)stats_latency_bound(i);
        if (buckets[i] != 0 && seen + (double)buckets[i] >= rank) {
            if (i + 1 == PD_STATS_LATENCY_BUCKETS)
                return lower;
            return lower + (upper - lower) * (rank - seen) / (double)buckets[i];
        }
        seen += (double)buckets[i];
        lower = upper;
    }
    return lower;
}

/* At exit: the records no service holds any more. Those still held (a worker
 * that could not finish) stay reachable from the table. */
void stats_shutdown(void)
{
    pd_stats_t *s, *next;

    pthread_mutex_lock(&stats.lock);
    HASH_ITER(hh, stats.table, s, next)
    {
        if (__atomic_load_n(&s->refcnt, __ATOMIC_ACQUIRE) != 0)
            continue;
        HASH_DEL(stats.table, s);
        stats.count--;
        free(s);
    }
    pthread_mutex_unlock(&stats.lock);
}
