/* t/unit/stats.c: the counters' records per service name, the latency buckets and the quantile estimate (stats.c). */
#include <stdio.h>
#include <string.h>
#include "proxyd.h"
#include "tap.h"

static void test_buckets(void)
{
    static const struct {
        uint64_t us;
        size_t bucket;
    } cases[] = {{0, 0},        {255, 0},
                 {256, 1},      {511, 1},
                 {512, 2},      {1000, 2},
                 {1024, 3},     {(1 << 24) - 1, 16},
                 {1 << 24, 17}, {UINT64_MAX / 1000, 17}};
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        is_u64(stats_latency_bucket(cases[i].us), cases[i].bucket, "%llu us is in bucket %zu", (unsigned long long)cases[i].us,
               cases[i].bucket);
    is_u64(stats_latency_bound(0), 256, "bucket 0 ends at 256 us");
    is_u64(stats_latency_bound(16), 1 << 24, "bucket 16 ends at 2^24 us");
    is_u64(stats_latency_bound(17), UINT64_MAX, "the last bucket has no end");
    for (i = 1; i + 1 < PD_STATS_LATENCY_BUCKETS; i++)
        if (!ok(stats_latency_bucket(stats_latency_bound(i) - 1) == i && stats_latency_bucket(stats_latency_bound(i)) == i + 1,
                "bucket %zu ends where the next begins", i))
            break;
}

static void test_quantiles(void)
{
    uint64_t b[PD_STATS_LATENCY_BUCKETS] = {0};

    ok(stats_quantile(b, 0, 0.5) == -1, "no responses: no quantile");
    b[3] = 10; /* [1024, 2048) us */
    ok(stats_quantile(b, 10, 0.5) == 1536, "p50 of 10 in [1024, 2048): 1536 us, interpolated");
    ok(stats_quantile(b, 10, 0.99) > 2037 && stats_quantile(b, 10, 0.99) < 2038, "p99: 2037.76 us");
    b[0] = 90; /* 90 fast ones, 10 slow */
    ok(stats_quantile(b, 100, 0.5) < 256, "p50 among 90 fast and 10 slow: in the first bucket");
    ok(stats_quantile(b, 100, 0.99) >= 1024 && stats_quantile(b, 100, 0.99) < 2048, "p99: in the slow bucket");
    memset(b, 0, sizeof(b));
    b[PD_STATS_LATENCY_BUCKETS - 1] = 5;
    is_u64((uint64_t)stats_quantile(b, 5, 0.5), 1 << 24, "the open last bucket: its lower bound");
}

static void test_counting(void)
{
    pd_stats_t *a = stats_for("weather"), *b = stats_for("weather"), *c = stats_for("news");
    pd_stats_counts_t counts;

    ok(a == b, "one record per name");
    ok(a != c, "another name, another record");
    ok(stats_counted(a), "counted");
    is_str(stats_name(a), "weather", "the record knows its name");
    stats_request(a);
    stats_request(a);
    stats_response(a, 200);
    stats_response(a, 101);
    stats_response(a, 502);
    stats_response(a, 0);   /* the client left before any answer */
    stats_response(a, 600); /* no class */
    stats_latency(a, 300000);
    stats_tunnel_opened(a);
    stats_tunnel_opened(a);
    stats_tunnel_closed(a);
    stats_read(a, &counts);
    is_u64(counts.requests, 2, "requests");
    ok(counts.responses[0] == 1 && counts.responses[1] == 1 && counts.responses[2] == 0 && counts.responses[3] == 0 &&
           counts.responses[4] == 1,
       "responses by class; 0 and 600 are none");
    is_u64(counts.latency[stats_latency_bucket(300)], 1, "latency in its bucket");
    is_u64(counts.latency_sum_us, 300, "latency sum in us");
    ok(counts.tunnels_opened == 2 && counts.tunnels_closed == 1, "tunnels opened and closed");
    stats_release(b);
    stats_read(stats_for("weather"), &counts);
    is_u64(counts.requests, 2, "a name's counters survive its services");
    stats_release(a);
    stats_release(a);
    stats_release(c);
}

static void test_bound(void)
{
    static pd_stats_t *held[PD_STATS_MAX_NAMES];
    pd_stats_counts_t counts;
    pd_stats_t *extra, *again;
    char name[32];
    size_t i, n = 0;

    /* "weather" and "news" are in the table, unheld: the first names past the bound take their places */
    for (i = 0; n < PD_STATS_MAX_NAMES; i++) {
        snprintf(name, sizeof(name), "n%zu", i);
        if (!stats_counted(held[n] = stats_for(name)))
            break;
        n++;
    }
    is_u64(n, PD_STATS_MAX_NAMES, "%d names are counted, recycling the unheld ones", PD_STATS_MAX_NAMES);
    if (n != PD_STATS_MAX_NAMES)
        return;
    extra = stats_for("extra");
    ok(!stats_counted(extra), "past the bound with every record held: not counted");
    stats_request(extra);
    stats_release(extra);
    stats_request(held[7]);
    stats_release(held[7]);
    again = stats_for("extra");
    ok(stats_counted(again) && again == held[7], "a record nobody holds is recycled for a new name");
    stats_read(again, &counts);
    is_u64(counts.requests, 0, "with its counters cleared");
    is_str(stats_name(again), "extra", "and the new name");
    stats_release(again);
    for (i = 0; i < n; i++)
        if (i != 7)
            stats_release(held[i]);
    stats_shutdown();
}

int main(void)
{
    test_buckets();
    test_quantiles();
    test_counting();
    test_bound();
    return done_testing();
}
