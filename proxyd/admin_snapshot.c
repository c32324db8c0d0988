/* admin_snapshot.c: what /events sends: the counters turned into rates once a second, and each registry change as a difference. */
#include <string.h>
#include "proxyd.h"

/* A rate, share or latency that the interval cannot tell: null in JSON. */
#define UNKNOWN (-1.0)

static json_t *number_or_null(double v)
{
    return v < 0 ? json_null() : json_real(v);
}

/* now - before, counter by counter; a counter read before one it depends on
 * (stats_read() is not one instant) never makes a difference negative. */
static void difference(const pd_stats_counts_t *now, const pd_stats_counts_t *before, pd_stats_counts_t *d)
{
    const uint64_t *a = (const uint64_t *)now, *b = (const uint64_t *)before;
    uint64_t *out = (uint64_t *)d;
    size_t i;

    for (i = 0; i < sizeof(*d) / sizeof(uint64_t); i++)
        out[i] = a[i] > b[i] ? a[i] - b[i] : 0;
}

static uint64_t sum(const uint64_t *v, size_t n)
{
    uint64_t total = 0;
    size_t i;

    for (i = 0; i < n; i++)
        total += v[i];
    return total;
}

static json_t *classes_json(const uint64_t responses[5])
{
    return json_pack("{s:I,s:I,s:I,s:I,s:I}", "1xx", (json_int_t)responses[0], "2xx", (json_int_t)responses[1], "3xx",
                     (json_int_t)responses[2], "4xx", (json_int_t)responses[3], "5xx", (json_int_t)responses[4]);
}

/* Requests per second, the 5xx share of responses and the latency quantiles of
 * the interval `d` covers, `seconds` long. */
static void add_rates(json_t *obj, const pd_stats_counts_t *d, double seconds)
{
    uint64_t responses = sum(d->responses, 5), heads = sum(d->latency, PD_STATS_LATENCY_BUCKETS);
    double p50 = stats_quantile(d->latency, heads, 0.5), p99 = stats_quantile(d->latency, heads, 0.99);

    json_object_set_new(obj, "rps", json_real((double)d->requests / seconds));
    json_object_set_new(obj, "error_rate", number_or_null(responses != 0 ? (double)d->responses[4] / (double)responses : UNKNOWN));
    json_object_set_new(obj, "p50_ms", number_or_null(p50 < 0 ? UNKNOWN : p50 / 1000));
    json_object_set_new(obj, "p99_ms", number_or_null(p99 < 0 ? UNKNOWN : p99 / 1000));
}

static void add_unknown_rates(json_t *obj)
{
    static const char *const keys[] = {"rps", "error_rate", "p50_ms", "p99_ms"};
    size_t i;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        json_object_set_new(obj, keys[i], json_null());
}

/* One service: its entry, its counters since start and its rates since the
 * sampler's previous tick. Rates are null when that tick did not read this
 * record (a service just added, or added back). */
static json_t *service_json(pd_sampler_t *sampler, pd_service_t *service, double seconds)
{
    json_t *obj = service_to_json(service); /* the registry entry as the admin API shows it, hosts included */
    pd_stats_counts_t now, d;
    pd_stats_sample_t *prev;

    if (!stats_counted(service->stats)) { /* past PD_STATS_MAX_NAMES */
        add_unknown_rates(obj);
        json_object_set_new(obj, "tunnels", json_null());
        json_object_set_new(obj, "totals", json_null());
        return obj;
    }
    stats_read(service->stats, &now);
    prev = stats_sample(service->stats);
    difference(&now, &prev->counts, &d);
    if (prev->tick != 0 && prev->tick + 1 == sampler->tick && seconds > 0)
        add_rates(obj, &d, seconds);
    else
        add_unknown_rates(obj);
    prev->counts = now;
    prev->tick = sampler->tick;
    json_object_set_new(
        obj, "tunnels",
        json_integer(now.tunnels_opened > now.tunnels_closed ? (json_int_t)(now.tunnels_opened - now.tunnels_closed) : 0));
    json_object_set_new(obj, "totals",
                        json_pack("{s:I,s:o,s:I,s:I}", "requests", (json_int_t)now.requests, "responses",
                                  classes_json(now.responses), "tunnels", (json_int_t)now.tunnels_opened, "latency_sum_ms",
                                  (json_int_t)(now.latency_sum_us / 1000)));
    return obj;
}

static json_t *auth_json(pd_sampler_t *sampler, int enabled, double seconds)
{
    uint64_t now[PD_STATS_AUTH_NUM], d[PD_STATS_AUTH_NUM];
    json_t *obj;
    size_t i;

    stats_auth_read(now);
    for (i = 0; i < PD_STATS_AUTH_NUM; i++)
        d[i] = now[i] > sampler->auth[i] ? now[i] - sampler->auth[i] : 0;
    memcpy(sampler->auth, now, sizeof(now));
    obj = json_pack("{s:b,s:I,s:I,s:I,s:I,s:I}", "enabled", enabled, "allows", (json_int_t)now[PD_STATS_AUTH_ALLOWS], "denies",
                    (json_int_t)now[PD_STATS_AUTH_DENIES], "failures", (json_int_t)now[PD_STATS_AUTH_FAILURES], "cache_hits",
                    (json_int_t)now[PD_STATS_AUTH_CACHE_HITS], "cache_misses", (json_int_t)now[PD_STATS_AUTH_CACHE_MISSES]);
    if (sampler->tick == 1 || seconds <= 0) {
        json_object_set_new(obj, "allows_per_s", json_null());
        json_object_set_new(obj, "denies_per_s", json_null());
        json_object_set_new(obj, "cache_hit_rate", json_null());
        return obj;
    }
    json_object_set_new(obj, "allows_per_s", json_real((double)d[PD_STATS_AUTH_ALLOWS] / seconds));
    json_object_set_new(obj, "denies_per_s", json_real((double)d[PD_STATS_AUTH_DENIES] / seconds));
    json_object_set_new(obj, "cache_hit_rate",
                        number_or_null(d[PD_STATS_AUTH_CACHE_HITS] + d[PD_STATS_AUTH_CACHE_MISSES] != 0
                                           ? (double)d[PD_STATS_AUTH_CACHE_HITS] /
                                                 (double)(d[PD_STATS_AUTH_CACHE_HITS] + d[PD_STATS_AUTH_CACHE_MISSES])
                                           : UNKNOWN));
    return obj;
}

/* {"type": "snapshot", ...}: every service of `snap` and forward auth, read now.
 * Each call is one tick of `sampler`, whose previous reading the rates are taken
 * against; one sampler in the process, since each record keeps one reading. */
json_t *admin_snapshot_take(pd_sampler_t *sampler, pd_snapshot_t *snap, int auth_enabled)
{
    uint64_t now_ns = uv_hrtime();
    struct timespec wall;
    double seconds = sampler->at_ns != 0 ? (double)(now_ns - sampler->at_ns) / 1e9 : 0;
    json_t *services = json_array();
    size_t i;

    clock_gettime(CLOCK_REALTIME, &wall);
    sampler->tick++;
    sampler->at_ns = now_ns;
    for (i = 0; i < snap->num_services; i++)
        json_array_append_new(services, service_json(sampler, snap->services[i], seconds));
    return json_pack("{s:s,s:I,s:f,s:I,s:o,s:o}", "type", "snapshot", "time_ms",
                     (json_int_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000, "interval_s", seconds, "version",
                     (json_int_t)snap->version, "services", services, "auth", auth_json(sampler, auth_enabled, seconds));
}

static const char *cause_name(pd_publish_cause_t cause)
{
    switch (cause) {
    case PD_PUBLISH_START:
        return "start";
    case PD_PUBLISH_API:
        return "api";
    case PD_PUBLISH_RELOAD:
        return "reload";
    case PD_PUBLISH_EDIT:
        return "edit";
    }
    return "unknown";
}

static int same_settings(const pd_service_t *a, const pd_service_t *b)
{
    json_t *ja, *jb;
    int same;

    if (a == b)
        return 1;
    ja = service_to_json(a);
    jb = service_to_json(b);
    same = json_equal(ja, jb);
    json_decref(ja);
    json_decref(jb);
    return same;
}

/* {"type": "registry", "cause": ..., "version": N, "added": [...], "changed": [...],
 * "removed": [...]}: from `old` to `snap`, one merge of their sorted lists. A
 * reload that rebuilt a service with the same settings does not change it. */
json_t *admin_snapshot_change(pd_snapshot_t *old, pd_snapshot_t *snap)
{
    json_t *added = json_array(), *changed = json_array(), *removed = json_array();
    size_t i = 0, j = 0;

    while (i < old->num_services || j < snap->num_services) {
        int cmp = i == old->num_services    ? 1
                  : j == snap->num_services ? -1
                                            : strcmp(old->services[i]->name, snap->services[j]->name);
        if (cmp < 0) {
            json_array_append_new(removed, json_string(old->services[i++]->name));
        } else if (cmp > 0) {
            json_array_append_new(added, json_string(snap->services[j++]->name));
        } else {
            if (!same_settings(old->services[i], snap->services[j]))
                json_array_append_new(changed, json_string(snap->services[j]->name));
            i++, j++;
        }
    }
    return json_pack("{s:s,s:s,s:I,s:I,s:o,s:o,s:o}", "type", "registry", "cause", cause_name(snap->cause), "version",
                     (json_int_t)snap->version, "services", (json_int_t)snap->num_services, "added", added, "changed", changed,
                     "removed", removed);
}
