/* registry.c: immutable registry snapshots, lookup by name and by host, and the one current snapshot. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "proxyd.h"

/* The current snapshot. Workers keep their own reference and compare `generation`
 * (one atomic load per request) to notice a swap; taking a new reference happens
 * under the lock, so a swap can never free a snapshot between load and incref. */
static struct {
    pthread_mutex_t lock;
    pd_snapshot_t *current;
    uint64_t generation;
} registry = {PTHREAD_MUTEX_INITIALIZER, NULL, 0};

static int compare_names(const void *a, const void *b)
{
    return strcmp((*(pd_service_t *const *)a)->name, (*(pd_service_t *const *)b)->name);
}

static int compare_claims(const void *a, const void *b)
{
    const pd_host_claim_t *x = a, *y = b;
    int c = strcmp(x->host, y->host);

    return c != 0 ? c : (x->order > y->order) - (x->order < y->order);
}

/* Labels after the "*." of a wildcard ("*.chat.example": 2). */
static size_t wildcard_labels(const char *host)
{
    size_t n = 1;

    for (host += 2; *host != '\0'; host++)
        n += *host == '.';
    return n;
}

/* snap->hosts from every service's hosts. -1 with `conflict` when a host is claimed
 * by two services: the one whose second claim comes first in the order given, as
 * if the claims were indexed one by one. O(n log n) in the number of hosts. */
static int index_hosts(pd_snapshot_t *snap, pd_service_t **services, size_t num_services, pd_host_conflict_t *conflict)
{
    const pd_host_claim_t *second = NULL;
    size_t i, j, n = 0;

    for (i = 0; i < num_services; i++)
        n += services[i]->num_hosts;
    if ((snap->hosts = calloc(n + 1, sizeof(*snap->hosts))) == NULL)
        fatal("%s", __func__);
    for (i = 0, n = 0; i < num_services; i++) {
        for (j = 0; j < services[i]->num_hosts; j++, n++) {
            const char *host = services[i]->hosts[j];
            snap->hosts[n] = (pd_host_claim_t){host, services[i], n, j};
            if (host[0] == '*' && wildcard_labels(host) > snap->wildcard_labels)
                snap->wildcard_labels = wildcard_labels(host);
        }
    }
    snap->num_hosts = n;
    qsort(snap->hosts, n, sizeof(*snap->hosts), compare_claims);
    /* in a run of one host's claims, the first is the one that stands */
    for (i = 1; i < n; i++)
        if (strcmp(snap->hosts[i].host, snap->hosts[i - 1].host) == 0 && snap->hosts[i].service != snap->hosts[i - 1].service &&
            (second == NULL || snap->hosts[i].order < second->order))
            second = &snap->hosts[i];
    if (second == NULL)
        return 0;
    *conflict = (pd_host_conflict_t){second[-1].service, second->service, second->index};
    return -1;
}

/* A snapshot holding its own reference to each service; the caller keeps its
 * references. NULL when two services claim one host, which `conflict` then names
 * (NULL only for a list that cannot have one). */
pd_snapshot_t *snapshot_new(pd_service_t **services, size_t num_services, pd_host_conflict_t *conflict)
{
    pd_snapshot_t *snap;
    size_t i;

    if ((snap = calloc(1, sizeof(*snap))) == NULL)
        fatal("%s", __func__);
    if (index_hosts(snap, services, num_services, conflict) != 0) {
        free(snap->hosts);
        free(snap);
        return NULL;
    }
    snap->refcnt = 1;
    snap->num_services = num_services;
    if ((snap->services = calloc(num_services + 1, sizeof(*snap->services))) == NULL)
        fatal("%s", __func__);
    for (i = 0; i < num_services; i++) {
        service_incref(services[i]);
        snap->services[i] = services[i];
    }
    qsort(snap->services, num_services, sizeof(*snap->services), compare_names);
    return snap;
}

static int compare_name_key(const void *key, const void *service)
{
    return strcmp(key, (*(pd_service_t *const *)service)->name);
}

/* Borrowed: valid while the caller holds its reference to `snap`. */
pd_service_t *snapshot_lookup(pd_snapshot_t *snap, const char *name, size_t len)
{
    char key[PD_SERVICE_NAME_MAX + 1];
    pd_service_t **found;

    if (len == 0 || len > PD_SERVICE_NAME_MAX)
        return NULL;
    memcpy(key, name, len);
    key[len] = '\0';
    found = bsearch(key, snap->services, snap->num_services, sizeof(*snap->services), compare_name_key);
    return found != NULL ? *found : NULL;
}

static int compare_host_key(const void *key, const void *claim)
{
    return strcmp(key, ((const pd_host_claim_t *)claim)->host);
}

static pd_service_t *find_host(pd_snapshot_t *snap, const char *key)
{
    const pd_host_claim_t *claim = bsearch(key, snap->hosts, snap->num_hosts, sizeof(*snap->hosts), compare_host_key);

    return claim != NULL ? claim->service : NULL;
}

/* The service that claims `host` (in host_name_normalize's form, no wildcard), or
 * NULL; borrowed like snapshot_lookup's. The name itself wins, then the wildcard
 * with the longest suffix: for a.b.chat.example, *.b.chat.example, *.chat.example,
 * then *.example. A wildcard never matches its suffix alone. At most one search per
 * label, none for suffixes longer than any wildcard's, each comparing O(log n) keys
 * of at most 253 bytes: the work is bounded whatever the Host. */
pd_service_t *snapshot_lookup_host(pd_snapshot_t *snap, const char *host, size_t len)
{
    char key[PD_HOST_NAME_MAX + 1], *dot;
    pd_service_t *service;
    size_t labels = 1, i;

    if (len == 0 || len > PD_HOST_NAME_MAX)
        return NULL;
    memcpy(key, host, len);
    key[len] = '\0';
    if ((service = find_host(snap, key)) != NULL || snap->wildcard_labels == 0)
        return service;
    for (i = 0; i < len; i++)
        labels += key[i] == '.';
    /* "*" over the character before each dot, left to right: dot - 1 is then
     * "*.<suffix>", and what is overwritten lies left of every later suffix */
    for (dot = memchr(key, '.', len); dot != NULL; dot = strchr(dot + 1, '.')) {
        if (--labels > snap->wildcard_labels || dot == key)
            continue;
        dot[-1] = '*';
        if ((service = find_host(snap, dot - 1)) != NULL)
            return service;
    }
    return NULL;
}

void snapshot_incref(pd_snapshot_t *snap)
{
    __atomic_add_fetch(&snap->refcnt, 1, __ATOMIC_RELAXED);
}

void snapshot_decref(pd_snapshot_t *snap)
{
    size_t i;

    if (snap == NULL || __atomic_sub_fetch(&snap->refcnt, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (i = 0; i < snap->num_services; i++)
        service_decref(snap->services[i]);
    free(snap->hosts);
    free(snap->services);
    free(snap);
}

/* One entry whose changes someone must hear of (the auth service: its cache). */
static struct {
    const char *name;
    void (*on_change)(void);
} watched;

void registry_watch(const char *name, void (*on_change)(void))
{
    watched.name = name;
    watched.on_change = on_change;
}

static int watched_changed(pd_snapshot_t *old, pd_snapshot_t *snap)
{
    pd_service_t *a, *b;

    if (watched.name == NULL || old == NULL)
        return 0;
    a = snapshot_lookup(old, watched.name, strlen(watched.name));
    b = snapshot_lookup(snap, watched.name, strlen(watched.name));
    return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a->url, b->url) != 0);
}

/* Who must see every snapshot as it is published: body_limit.c (libh2o's body
 * cap) and the admin listener's /events. Main thread only, like publishing. */
#define MAX_SUBSCRIBERS 4
static struct subscriber {
    void (*cb)(void *data, pd_snapshot_t *snap);
    void *data;
} subscribers[MAX_SUBSCRIBERS];

/* `cb` sees the current snapshot now and every later one, under the registry's lock
 * so that it sees them in publish order; it must be quick and must not call back here. */
void registry_on_publish(void (*cb)(void *data, pd_snapshot_t *snap), void *data)
{
    size_t i;

    pthread_mutex_lock(&registry.lock);
    for (i = 0; i < MAX_SUBSCRIBERS && subscribers[i].cb != NULL; i++)
        ;
    if (i == MAX_SUBSCRIBERS)
        fatalx("%s: more than %d subscribers", __func__, MAX_SUBSCRIBERS);
    subscribers[i] = (struct subscriber){cb, data};
    if (registry.current != NULL)
        cb(data, registry.current);
    pthread_mutex_unlock(&registry.lock);
}

void registry_off_publish(void (*cb)(void *data, pd_snapshot_t *snap), void *data)
{
    size_t i;

    pthread_mutex_lock(&registry.lock);
    for (i = 0; i < MAX_SUBSCRIBERS; i++)
        if (subscribers[i].cb == cb && subscribers[i].data == data)
            subscribers[i] = (struct subscriber){NULL, NULL};
    pthread_mutex_unlock(&registry.lock);
}

/* Makes `snap` current, taking over the caller's reference; the next request on
 * every worker sees it. Its version is `version`, or the current one's + 1 when 0
 * (a batch of admin changes skips the versions of its intermediate states). */
void registry_publish(pd_snapshot_t *snap, uint64_t version, pd_publish_cause_t cause)
{
    pd_snapshot_t *old;
    size_t i;

    pthread_mutex_lock(&registry.lock);
    old = registry.current;
    snap->version = version != 0 ? version : old != NULL ? old->version + 1 : 1;
    snap->cause = cause;
    registry.current = snap;
    for (i = 0; i < MAX_SUBSCRIBERS; i++)
        if (subscribers[i].cb != NULL)
            subscribers[i].cb(subscribers[i].data, snap);
    __atomic_add_fetch(&registry.generation, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&registry.lock);
    if (watched_changed(old, snap))
        watched.on_change();
    snapshot_decref(old);
}

/* A new reference to the current snapshot; the caller releases it with snapshot_decref. */
pd_snapshot_t *registry_acquire(void)
{
    pd_snapshot_t *snap;

    pthread_mutex_lock(&registry.lock);
    snap = registry.current;
    snapshot_incref(snap);
    pthread_mutex_unlock(&registry.lock);
    return snap;
}

uint64_t registry_generation(void)
{
    return __atomic_load_n(&registry.generation, __ATOMIC_ACQUIRE);
}

void registry_shutdown(void)
{
    pthread_mutex_lock(&registry.lock);
    snapshot_decref(registry.current);
    registry.current = NULL;
    pthread_mutex_unlock(&registry.lock);
}

/* A new snapshot: `base` with `put` added or replacing its namesake, or without
 * the service named `remove`. Unchanged services are shared, not copied. NULL when
 * `put` claims a host another service has: `conflict` names both, `put` second. */
pd_snapshot_t *snapshot_with(pd_snapshot_t *base, pd_service_t *put, const char *remove, pd_host_conflict_t *conflict)
{
    const char *skip = put != NULL ? put->name : remove;
    pd_service_t **services;
    pd_snapshot_t *snap;
    size_t i, n = 0;

    if ((services = calloc(base->num_services + 1, sizeof(*services))) == NULL)
        fatal("%s", __func__);
    for (i = 0; i < base->num_services; i++)
        if (strcmp(base->services[i]->name, skip) != 0)
            services[n++] = base->services[i];
    if (put != NULL)
        services[n++] = put;
    snap = snapshot_new(services, n, conflict);
    free(services);
    return snap;
}
