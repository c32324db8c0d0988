/* admin_metrics.c: GET /metrics, the statistics in the Prometheus text exposition format 0.0.4. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proxyd.h"

/* https://prometheus.io/docs/instrumenting/exposition_formats/: a label value
 * escapes backslash, double quote and line feed. Service names cannot hold any
 * of them (service_check_name), but the format must not depend on that. */
static void put_label_value(FILE *out, const char *value)
{
    for (; *value != '\0'; value++) {
        if (*value == '\\')
            fputs("\\\\", out);
        else if (*value == '"')
            fputs("\\\"", out);
        else if (*value == '\n')
            fputs("\\n", out);
        else
            fputc(*value, out);
    }
}

static void put_family(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* `name{service="..."` : the caller adds any other label and the closing brace. */
static void put_service_sample(FILE *out, const char *name, const pd_service_t *service)
{
    fprintf(out, "%s{service=\"", name);
    put_label_value(out, service->name);
    fputc('"', out);
}

static void put_requests(FILE *out, pd_service_t *const *services, const pd_stats_counts_t *counts, size_t n)
{
    static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    size_t i, c;

    put_family(out, "proxyd_requests_total", "counter", "Requests routed to a service.");
    for (i = 0; i < n; i++) {
        put_service_sample(out, "proxyd_requests_total", services[i]);
        fprintf(out, "} %llu\n", (unsigned long long)counts[i].requests);
    }
    put_family(out, "proxyd_responses_total", "counter", "Requests to a service that ended with a response, by status class.");
    for (i = 0; i < n; i++)
        for (c = 0; c < 5; c++) {
            put_service_sample(out, "proxyd_responses_total", services[i]);
            fprintf(out, ",class=\"%s\"} %llu\n", classes[c], (unsigned long long)counts[i].responses[c]);
        }
}

/* Prometheus buckets are cumulative; stats.c's are not. Bounds are whole
 * microseconds, so six decimals of a second are exact. */
static void put_latency(FILE *out, pd_service_t *const *services, const pd_stats_counts_t *counts, size_t n)
{
    size_t i, b;

    put_family(out, "proxyd_upstream_latency_seconds", "histogram",
               "Time from sending a request to a service to its response head.");
    for (i = 0; i < n; i++) {
        uint64_t cumulative = 0;
        for (b = 0; b < PD_STATS_LATENCY_BUCKETS; b++) {
            cumulative += counts[i].latency[b];
            put_service_sample(out, "proxyd_upstream_latency_seconds_bucket", services[i]);
            if (b + 1 < PD_STATS_LATENCY_BUCKETS)
                fprintf(out, ",le=\"%.6f\"} %llu\n", (double)stats_latency_bound(b) / 1e6, (unsigned long long)cumulative);
            else
                fprintf(out, ",le=\"+Inf\"} %llu\n", (unsigned long long)cumulative);
        }
        put_service_sample(out, "proxyd_upstream_latency_seconds_sum", services[i]);
        fprintf(out, "} %.6f\n", (double)counts[i].latency_sum_us / 1e6);
        put_service_sample(out, "proxyd_upstream_latency_seconds_count", services[i]);
        fprintf(out, "} %llu\n", (unsigned long long)cumulative);
    }
}

static void put_tunnels(FILE *out, pd_service_t *const *services, const pd_stats_counts_t *counts, size_t n)
{
    size_t i;

    put_family(out, "proxyd_tunnels_open", "gauge", "WebSocket and upgraded connections to a service open now.");
    for (i = 0; i < n; i++) {
        uint64_t open =
            counts[i].tunnels_opened > counts[i].tunnels_closed ? counts[i].tunnels_opened - counts[i].tunnels_closed : 0;
        put_service_sample(out, "proxyd_tunnels_open", services[i]);
        fprintf(out, "} %llu\n", (unsigned long long)open);
    }
}

static void put_auth(FILE *out)
{
    uint64_t auth[PD_STATS_AUTH_NUM];

    stats_auth_read(auth);
    put_family(out, "proxyd_auth_requests_total", "counter", "Requests decided by forward auth, by the decision applied.");
    fprintf(out, "proxyd_auth_requests_total{result=\"allow\"} %llu\n", (unsigned long long)auth[PD_STATS_AUTH_ALLOWS]);
    fprintf(out, "proxyd_auth_requests_total{result=\"deny\"} %llu\n", (unsigned long long)auth[PD_STATS_AUTH_DENIES]);
    fprintf(out, "proxyd_auth_requests_total{result=\"fail\"} %llu\n", (unsigned long long)auth[PD_STATS_AUTH_FAILURES]);
    put_family(out, "proxyd_auth_cache_hits_total", "counter", "Forward-auth decisions taken from the cache.");
    fprintf(out, "proxyd_auth_cache_hits_total %llu\n", (unsigned long long)auth[PD_STATS_AUTH_CACHE_HITS]);
    put_family(out, "proxyd_auth_cache_misses_total", "counter", "Requests that waited for a forward-auth check.");
    fprintf(out, "proxyd_auth_cache_misses_total %llu\n", (unsigned long long)auth[PD_STATS_AUTH_CACHE_MISSES]);
}

/* The services of `snap` that have counters of their own, with a reading of each. */
static size_t read_services(pd_snapshot_t *snap, pd_service_t **services, pd_stats_counts_t *counts)
{
    size_t i, n = 0;

    for (i = 0; i < snap->num_services; i++) {
        if (!stats_counted(snap->services[i]->stats)) /* past PD_STATS_MAX_NAMES */
            continue;
        services[n] = snap->services[i];
        stats_read(services[n]->stats, &counts[n]);
        n++;
    }
    return n;
}

static void write_metrics(FILE *out, pd_snapshot_t *snap)
{
    pd_service_t **services = calloc(snap->num_services + 1, sizeof(*services));
    pd_stats_counts_t *counts = calloc(snap->num_services + 1, sizeof(*counts));
    size_t n;

    if (services == NULL || counts == NULL)
        fatal("%s", __func__);
    n = read_services(snap, services, counts);
    put_requests(out, services, counts, n);
    put_latency(out, services, counts, n);
    put_tunnels(out, services, counts, n);
    put_auth(out);
    put_family(out, "proxyd_registry_version", "gauge", "The version of the registry in use.");
    fprintf(out, "proxyd_registry_version %llu\n", (unsigned long long)snap->version);
    free(services);
    free(counts);
}

/* The services of the registry in use; counters of a deleted service are not
 * shown, as a scrape of a process that no longer has the series. */
void admin_metrics(h2o_req_t *req)
{
    pd_snapshot_t *snap = registry_acquire();
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    if (out == NULL)
        fatal("%s", __func__);
    write_metrics(out, snap);
    snapshot_decref(snap);
    if (fclose(out) != 0)
        fatal("%s", __func__);
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain; version=0.0.4; charset=utf-8"));
    h2o_send_inline(req, text, len); /* copies */
    free(text);
}
