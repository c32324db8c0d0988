/* t/unit/config.c: the value parsers of config.c (durations, sizes, listen addresses and their names for the log,
 * trusted_proxies' CIDR blocks) and config_load's auth lists (request_headers, response_headers, vary). */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "proxyd.h"
#include "tap.h"

static void test_parse_duration(void)
{
    static const struct {
        const char *text;
        uint64_t ms;
    } good[] = {{"250ms", 250},
                {"5s", 5000},
                {"2m", 120000},
                {"1h", 3600000},
                {"0s", 0},
                {"0ms", 0},
                {"007s", 7000},
                {"18446744073709551615ms", UINT64_MAX},
                {"18446744073709551s", 18446744073709551000ULL}};
    static const char *const bad[] = {"",
                                      "5",
                                      "s",
                                      "-1s",
                                      "+5s",
                                      " 5s",
                                      "5s ",
                                      "5 s",
                                      "5S",
                                      "5sec",
                                      "1d",
                                      "1.5s",
                                      "0x10s",
                                      "5msx",
                                      "ms5",
                                      "18446744073709551616ms",
                                      "18446744073709552s",
                                      "5124095576030432h"};
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        uint64_t ms = 42;
        ok(config_parse_duration(good[i].text, &ms) == 0, "duration '%s' is read", good[i].text);
        is_u64(ms, good[i].ms, "duration '%s' is %llu ms", good[i].text, (unsigned long long)good[i].ms);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t ms = 42;
        ok(config_parse_duration(bad[i], &ms) == -1, "duration '%s' is refused", bad[i]);
        is_u64(ms, 42, "a refused duration '%s' leaves the value alone", bad[i]);
    }
}

static void test_format_duration(void)
{
    static const struct {
        uint64_t ms;
        const char *text;
    } cases[] = {{0, "0s"},        {1, "1ms"},     {250, "250ms"},       {1000, "1s"},
                 {1500, "1500ms"}, {60000, "60s"}, {86400000, "86400s"}, {UINT64_MAX, "18446744073709551615ms"}};
    char buf[32], small[3];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t back = 0;
        config_format_duration(cases[i].ms, buf, sizeof(buf));
        is_str(buf, cases[i].text, "%llu ms is written '%s'", (unsigned long long)cases[i].ms, cases[i].text);
        ok(config_parse_duration(buf, &back) == 0 && back == cases[i].ms, "'%s' reads back as %llu ms", buf,
           (unsigned long long)cases[i].ms);
    }
    config_format_duration(250, small, sizeof(small));
    is_str(small, "25", "a short buffer is truncated and NUL-terminated");
}

static void test_parse_size(void)
{
    static const struct {
        const char *text;
        size_t bytes;
    } good[] = {{"0", 0},
                {"1048576", 1048576},
                {"512k", 512 * 1024},
                {"512K", 512 * 1024},
                {"1KiB", 1024},
                {"1KB", 1024},
                {"64m", 64 << 20},
                {"64M", 64 << 20},
                {"64MiB", 64 << 20},
                {"64MB", 64 << 20},
                {"1g", 1 << 30},
                {"1G", 1 << 30},
                {"1GiB", 1 << 30},
                {"1GB", 1 << 30},
                {"17179869183G", (size_t)17179869183ULL << 30},
                {"18446744073709551615", SIZE_MAX}};
    static const char *const bad[] = {"",     "k",    "-1",   "+1",           " 1k",
                                      "1k ",  "1 k",  "1.5M", "1T",           "1kb",
                                      "1Kib", "1mib", "0x10", "17179869184G", "18446744073709551616"};
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        size_t bytes = 42;
        ok(config_parse_size(good[i].text, &bytes) == 0, "size '%s' is read", good[i].text);
        is_u64(bytes, good[i].bytes, "size '%s' is %zu bytes", good[i].text, good[i].bytes);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t bytes = 42;
        ok(config_parse_size(bad[i], &bytes) == -1, "size '%s' is refused", bad[i]);
        is_u64(bytes, 42, "a refused size '%s' leaves the value alone", bad[i]);
    }
}

static void test_format_size(void)
{
    static const struct {
        size_t bytes;
        const char *text;
    } cases[] = {{0, "0"},
                 {1, "1"},
                 {1023, "1023"},
                 {1024, "1KiB"},
                 {1536 * 1024, "1536KiB"},
                 {2 << 20, "2MiB"},
                 {(size_t)1 << 30, "1GiB"},
                 {(size_t)1 << 40, "1024GiB"},
                 {1025, "1025"}};
    char buf[32];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t back = 0;
        config_format_size(cases[i].bytes, buf, sizeof(buf));
        is_str(buf, cases[i].text, "%zu bytes are written '%s'", cases[i].bytes, cases[i].text);
        ok(config_parse_size(buf, &back) == 0 && back == cases[i].bytes, "'%s' reads back as %zu bytes", buf, cases[i].bytes);
    }
}

static void test_parse_listen(void)
{
    static const struct {
        const char *text;
        const char *host; /* NULL: every address */
        unsigned port;
    } good[] = {
        {"127.0.0.1:8080", "127.0.0.1", 8080}, {"[::1]:8080", "::1", 8080},         {"*:8081", NULL, 8081},
        {"localhost:1", "localhost", 1},       {"0.0.0.0:65535", "0.0.0.0", 65535}, {"[fe80::1%lo]:443", "fe80::1%lo", 443}};
    static const char *const bad[] = {"",         "8080",    ":8080",      "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
                                      "host:80x", "host:-1", "host:+80",   "::1:8080",   "[::1]8080",   "[::1",
                                      "[]:80",    "unix:",   "unix:rel/a", "[::1]:",     "a:b:80"};
    char long_unix[128];
    pd_listen_t l;
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ok(config_parse_listen(good[i].text, &l) == 0, "listen '%s' is read", good[i].text);
        is_str(l.host, good[i].host, "listen '%s': host", good[i].text);
        is_u64(l.port, good[i].port, "listen '%s': port", good[i].text);
        ok(l.unix_path == NULL, "listen '%s': not a unix socket", good[i].text);
        free(l.host);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ok(config_parse_listen(bad[i], &l) == -1, "listen '%s' is refused", bad[i]);
        free(l.host);
        free(l.unix_path);
    }

    ok(config_parse_listen("unix:/run/proxyd/admin.sock", &l) == 0, "a unix socket is read");
    is_str(l.unix_path, "/run/proxyd/admin.sock", "unix socket: its path");
    ok(l.host == NULL && l.port == 0, "unix socket: no host or port");
    free(l.unix_path);

    /* sun_path holds 108 bytes with the NUL */
    memset(long_unix, 'a', sizeof(long_unix));
    memcpy(long_unix, "unix:/", 6);
    long_unix[5 + 107] = '\0';
    ok(config_parse_listen(long_unix, &l) == 0, "a unix socket path of 107 bytes is read");
    free(l.unix_path);
    long_unix[5 + 107] = 'a';
    long_unix[5 + 108] = '\0';
    ok(config_parse_listen(long_unix, &l) == -1, "a unix socket path of 108 bytes is refused");
}

/* The start line's list of addresses: as written, joined, cut short with "..." rather than overflowing. */
static void test_listen_names(void)
{
    static const char *const texts[] = {"127.0.0.1:8080", "[::1]:8080", "*:8081", "unix:/run/proxyd/admin.sock"};
    pd_listen_t addrs[4];
    char buf[128], small[20];
    size_t i;

    for (i = 0; i < 4; i++)
        config_parse_listen(texts[i], &addrs[i]);
    is_str(listen_names(addrs, 1, buf, sizeof(buf)), "127.0.0.1:8080", "one address");
    is_str(listen_names(addrs, 4, buf, sizeof(buf)), "127.0.0.1:8080, [::1]:8080, *:8081, unix:/run/proxyd/admin.sock",
           "four, each as written, joined by \", \"");
    is_str(listen_names(addrs, 0, buf, sizeof(buf)), "", "none: empty");
    is_str(listen_names(addrs, 4, small, sizeof(small)), "127.0.0.1:8080, ...", "too long for the buffer: cut short with ...");
    is_str(listen_names(addrs, 1, small, 15), "127.0.0.1:8080", "exactly fitting: not cut");
    is_str(listen_names(addrs, 1, small, 14), "127.0.0.1:...", "one byte short: cut");
    for (i = 0; i < 4; i++) {
        free(addrs[i].host);
        free(addrs[i].unix_path);
    }
}

static void test_parse_cidr(void)
{
    static const struct {
        const char *text;
        int family;
        unsigned prefix;
    } good[] = {{"10.0.0.0/8", AF_INET, 8},
                {"127.0.0.1", AF_INET, 32},
                {"192.0.2.7/32", AF_INET, 32},
                {"192.168.0.0/23", AF_INET, 23},
                {"0.0.0.0/0", AF_INET, 0},
                {"10.0.0.0/08", AF_INET, 8},
                {"::1", AF_INET6, 128},
                {"fd00::/8", AF_INET6, 8},
                {"2001:db8::/32", AF_INET6, 32},
                {"::/0", AF_INET6, 0},
                {"::ffff:10.0.0.0/104", AF_INET6, 104},
                /* the longest text form of an address, 45 bytes */
                {"0000:0000:0000:0000:0000:ffff:255.255.255.255/128", AF_INET6, 128}};
    static const char *const bad[] = {"",
                                      "/8",
                                      "10.0.0.0/",
                                      "10.0.0.1/8",
                                      "192.168.1.0/23",
                                      "10.0.0.0/33",
                                      "::1/129",
                                      "fd00::1/8",
                                      "10.0.0.0/-1",
                                      "10.0.0.0/+8",
                                      "10.0.0.0/8x",
                                      "10.0.0.0/8/8",
                                      "10.0.0.0 /8",
                                      " 10.0.0.0/8",
                                      "10.0.0",
                                      "10.0.0.256",
                                      "localhost",
                                      "10.0.0.0/99999999999999999999",
                                      "10.0.0.0/8                                                            "
                                      "                                                                      ",
                                      "fe80::1%lo"};
    pd_cidr_t c;
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ok(config_parse_cidr(good[i].text, &c) == 0, "CIDR '%s' is read", good[i].text);
        is_u64((uint64_t)c.family, (uint64_t)good[i].family, "CIDR '%s': family", good[i].text);
        is_u64(c.prefix, good[i].prefix, "CIDR '%s': prefix /%u", good[i].text, good[i].prefix);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ok(config_parse_cidr(bad[i], &c) == -1, "CIDR '%s' is refused", bad[i]);
}

/* Whether `addr` (v4 or v6 text) lies in the block `cidr`, through a sockaddr as accept() gives it. */
static int match(const char *cidr, const char *addr)
{
    pd_cidr_t c;
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;

    if (config_parse_cidr(cidr, &c) != 0)
        return -1;
    memset(&sin, 0, sizeof(sin));
    memset(&sin6, 0, sizeof(sin6));
    if (inet_pton(AF_INET, addr, &sin.sin_addr) == 1) {
        sin.sin_family = AF_INET;
        return config_cidr_match(&c, (struct sockaddr *)&sin);
    }
    if (inet_pton(AF_INET6, addr, &sin6.sin6_addr) == 1) {
        sin6.sin6_family = AF_INET6;
        return config_cidr_match(&c, (struct sockaddr *)&sin6);
    }
    return -1;
}

static void test_cidr_match(void)
{
    static const struct {
        const char *cidr, *addr;
        int in;
    } cases[] = {{"10.0.0.0/8", "10.1.2.3", 1},
                 {"10.0.0.0/8", "10.255.255.255", 1},
                 {"10.0.0.0/8", "11.0.0.0", 0},
                 {"10.0.0.0/8", "9.255.255.255", 0},
                 {"127.0.0.1", "127.0.0.1", 1},
                 {"127.0.0.1", "127.0.0.2", 0},
                 {"127.0.0.0/8", "127.0.0.1", 1},
                 {"192.168.0.0/23", "192.168.1.255", 1},
                 {"192.168.0.0/23", "192.168.2.0", 0},
                 {"192.168.0.0/31", "192.168.0.1", 1},
                 {"192.168.0.0/31", "192.168.0.2", 0},
                 {"0.0.0.0/0", "203.0.113.9", 1},
                 {"::1", "::1", 1},
                 {"::1", "::2", 0},
                 {"::1", "127.0.0.1", 0},
                 {"fd00::/8", "fd12:3456::1", 1},
                 {"fd00::/8", "fe80::1", 0},
                 {"2001:db8::/33", "2001:db8:7fff::1", 1},
                 {"2001:db8::/33", "2001:db8:8000::1", 0},
                 {"::/0", "2001:db8::1", 1},
                 {"::/0", "10.0.0.1", 0},
                 /* a dual-stack listener sees IPv4 peers as IPv4-mapped IPv6 addresses */
                 {"10.0.0.0/8", "::ffff:10.1.2.3", 1},
                 {"10.0.0.0/8", "::ffff:11.1.2.3", 0},
                 {"127.0.0.1", "::ffff:127.0.0.1", 1},
                 {"0.0.0.0/0", "2001:db8::1", 0},
                 {"10.0.0.0/8", "::10.1.2.3", 0}};
    struct sockaddr_un sun;
    pd_cidr_t c;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ok(match(cases[i].cidr, cases[i].addr) == cases[i].in, "%s %s %s", cases[i].addr, cases[i].in ? "is in" : "is not in",
           cases[i].cidr);
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    ok(config_parse_cidr("0.0.0.0/0", &c) == 0 && config_cidr_match(&c, (struct sockaddr *)&sun) == 0,
       "a unix socket peer is in no block");
    ok(config_parse_cidr("::/0", &c) == 0 && config_cidr_match(&c, (struct sockaddr *)&sun) == 0, "not even in ::/0");
}

/* ---- config_load: the auth section's lists of header names and vary ---- */

static char tmp_dir[] = "/tmp/proxyd-unit-XXXXXX";

static void remove_tmp_dir(void)
{
    char file[sizeof(tmp_dir) + 16];

    snprintf(file, sizeof(file), "%s/proxyd.yaml", tmp_dir);
    unlink(file);
    rmdir(tmp_dir);
}

/* Loads `yaml` as a settings file into `conf` (freed by the caller); 0 or -1 with `err`. */
static int load(const char *yaml, pd_config_t *conf, char *err, size_t errlen)
{
    char file[sizeof(tmp_dir) + 16];
    FILE *fp;

    snprintf(file, sizeof(file), "%s/proxyd.yaml", tmp_dir);
    if ((fp = fopen(file, "w")) == NULL || fputs(yaml, fp) == EOF || fclose(fp) != 0)
        return -1;
    config_init(conf);
    return config_load(conf, file, err, errlen);
}

/* The error `yaml` gets, without the file name ("3:9: auth.vary: ..."), in `buf`. */
static const char *load_error(const char *yaml, char *buf, size_t len)
{
    pd_config_t conf;
    char err[512] = "";
    const char *after;

    if (load(yaml, &conf, err, sizeof(err)) == 0) {
        config_free(&conf);
        return "(accepted)";
    }
    config_free(&conf);
    after = strstr(err, "proxyd.yaml:");
    snprintf(buf, len, "%s", after != NULL ? after + strlen("proxyd.yaml:") : err);
    return buf;
}

static void test_auth_lists(void)
{
    pd_config_t conf;
    char err[512] = "";

    ok(load("auth:\n  service: auth\n", &conf, err, sizeof(err)) == 0, "an auth section without lists: %s", err);
    is_u64(conf.auth.vary, PD_AUTH_VARY_METHOD | PD_AUTH_VARY_PATH | PD_AUTH_VARY_CLIENT, "vary defaults to method, path, client");
    is_u64(conf.auth.num_request_headers + conf.auth.num_response_headers, 0, "no request_headers or response_headers");
    config_free(&conf);

    ok(load("auth:\n  request_headers: [Cookie, X-Api-Key]\n  response_headers: Set-Cookie\n  vary: [path]\n", &conf, err,
            sizeof(err)) == 0,
       "request_headers, response_headers (one name) and vary: %s", err);
    is_u64(conf.auth.num_request_headers, 2, "two request_headers");
    is_str(conf.auth.num_request_headers == 2 ? conf.auth.request_headers[0] : "", "cookie", "kept in lower case");
    is_str(conf.auth.num_request_headers == 2 ? conf.auth.request_headers[1] : "", "x-api-key", "in their order");
    is_u64(conf.auth.num_response_headers, 1, "one response_headers name");
    is_str(conf.auth.num_response_headers == 1 ? conf.auth.response_headers[0] : "", "set-cookie", "in lower case");
    is_u64(conf.auth.vary, PD_AUTH_VARY_PATH, "vary: [path]");
    config_free(&conf);

    ok(load("auth:\n  vary: []\n", &conf, err, sizeof(err)) == 0, "vary: [] is accepted: %s", err);
    is_u64(conf.auth.vary, 0, "and varies by nothing");
    config_free(&conf);
    ok(load("auth:\n  vary:\n    - client\n    - method\n", &conf, err, sizeof(err)) == 0, "vary as a block list: %s", err);
    is_u64(conf.auth.vary, PD_AUTH_VARY_METHOD | PD_AUTH_VARY_CLIENT, "method and client");
    config_free(&conf);
}

static void test_auth_list_errors(void)
{
    static const struct {
        const char *yaml;
        const char *error;
    } cases[] = {
        {"auth:\n  vary: method\n", "2:9: auth.vary: expected a list such as [method, path, client] or []"},
        {"auth:\n  vary: {method: true}\n", "2:9: auth.vary: expected a list such as [method, path, client] or []"},
        {"auth:\n  vary: [method, host]\n", "2:18: auth.vary: 'host' is not method, path or client"},
        {"auth:\n  vary: [Method]\n", "2:10: auth.vary: 'Method' is not method, path or client"},
        {"auth:\n  vary: [path, client, path]\n", "2:24: auth.vary: 'path' is listed twice"},
        {"auth:\n  vary: [[path]]\n", "2:10: auth.vary: expected a value, not a list or mapping"},
        {"auth:\n  vary: ['']\n", "2:10: auth.vary: expected a value, not nothing"},
        {"auth:\n  request_headers: [\"X Api\"]\n", "2:21: auth.request_headers: 'X Api' is not a header name"},
        {"auth:\n  request_headers: [\"Cookie:\"]\n", "2:21: auth.request_headers: 'Cookie:' is not a header name"},
        {"auth:\n  request_headers: [Authorization]\n",
         "2:21: auth.request_headers: 'Authorization' is always passed to the auth service"},
        {"auth:\n  request_headers: [X-Forwarded-Uri]\n",
         "2:21: auth.request_headers: 'X-Forwarded-Uri' is set by proxyd, not taken from the client"},
        {"auth:\n  request_headers: [X-Forwarded-Anything]\n",
         "2:21: auth.request_headers: 'X-Forwarded-Anything' is set by proxyd, not taken from the client"},
        {"auth:\n  request_headers: [x_forwarded_for]\n",
         "2:21: auth.request_headers: 'x_forwarded_for' is set by proxyd, not taken from the client"},
        {"auth:\n  request_headers: [Forwarded]\n",
         "2:21: auth.request_headers: 'Forwarded' is set by proxyd, not taken from the client"},
        {"auth:\n  request_headers: [Host]\n", "2:21: auth.request_headers: 'Host' is set by proxyd, not taken from the client"},
        {"auth:\n  request_headers: [Expect]\n",
         "2:21: auth.request_headers: 'Expect' is set by proxyd, not taken from the client"},
        {"auth:\n  request_headers: [Connection]\n",
         "2:21: auth.request_headers: 'Connection' is hop-by-hop or framing: it belongs to the client's connection"},
        {"auth:\n  request_headers: [Content-Length]\n",
         "2:21: auth.request_headers: 'Content-Length' is hop-by-hop or framing: it belongs to the client's connection"},
        {"auth:\n  request_headers: [Proxy-Authorization]\n",
         "2:21: auth.request_headers: 'Proxy-Authorization' is hop-by-hop or framing: it belongs to the client's connection"},
        {"auth:\n  request_headers: [X_Api_Key]\n",
         "2:21: auth.request_headers: 'X_Api_Key' has a '_': servers that read headers as CGI variables take it for '-'"},
        {"auth:\n  request_headers: [Cookie, cookie]\n", "2:29: auth.request_headers: 'cookie' is listed twice"},
        {"auth:\n  copy_headers: [X-User]\n  request_headers: [X-User]\n",
         "3:21: auth.request_headers: 'X-User' is in auth.copy_headers: a client's copy is removed before the check"},
        {"auth:\n  request_headers: [X-User]\n  copy_headers: [x-user]\n",
         "3:18: auth.copy_headers: 'x-user' is in auth.request_headers: a client's copy is removed before the check"},
        {"auth:\n  request_headers: [A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P, Q]\n",
         "2:69: auth.request_headers: more than 16 names"},
        {"auth:\n  request_headers: {Cookie: 1}\n", "2:20: auth.request_headers: expected a value, not a list or mapping"},
        {"auth:\n  response_headers: [Content-Length]\n",
         "2:22: auth.response_headers: 'Content-Length' is hop-by-hop or framing: it belongs to one connection"},
        {"auth:\n  response_headers: [Transfer-Encoding]\n",
         "2:22: auth.response_headers: 'Transfer-Encoding' is hop-by-hop or framing: it belongs to one connection"},
        {"auth:\n  response_headers: [Content-Type]\n", "2:22: auth.response_headers: 'Content-Type' describes the service's body"},
        {"auth:\n  response_headers: [Date]\n", "2:22: auth.response_headers: 'Date' is the service's or proxyd's own"},
        {"auth:\n  response_headers: [Location]\n", "2:22: auth.response_headers: 'Location' is the service's or proxyd's own"},
        {"auth:\n  response_headers: [Set-Cookie, set-cookie]\n", "2:34: auth.response_headers: 'set-cookie' is listed twice"},
        {"auth:\n  response_headers: [\"Set Cookie\"]\n", "2:22: auth.response_headers: 'Set Cookie' is not a header name"},
        {"auth:\n  copy_headers: [X-User, X-User]\n", "2:26: auth.copy_headers: 'X-User' is listed twice"},
    };
    char buf[512];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        is_str(load_error(cases[i].yaml, buf, sizeof(buf)), cases[i].error, "refused with file:line:column: %s", cases[i].error);
}

int main(void)
{
    test_parse_duration();
    test_format_duration();
    test_parse_size();
    test_format_size();
    test_parse_listen();
    test_listen_names();
    test_parse_cidr();
    test_cidr_match();
    if (mkdtemp(tmp_dir) == NULL)
        return 1;
    test_auth_lists();
    test_auth_list_errors();
    remove_tmp_dir();
    return done_testing();
}
