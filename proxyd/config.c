/* config.c: the settings struct: every default (as proxyd.yaml(5) states them), value parsers, free. No I/O. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "proxyd.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_IO_TIMEOUT_MS 30000
#define DEFAULT_WEBSOCKET_TIMEOUT_MS (5 * 60 * 1000)
#define DEFAULT_UPSTREAM_BUFFER (64 * 1024)
#define DEFAULT_MAX_RESPONSE_HEAD (64 * 1024)
#define DEFAULT_KEEPALIVE 64
#define DEFAULT_SEND_TIMEOUT_MS 60000          /* nginx's send_timeout */
#define DEFAULT_MAX_REQUEST_BODY (1024 * 1024) /* nginx's client_max_body_size */
#define DEFAULT_MAX_HEADERS 100                /* libh2o's own cap for HTTP/1 (H2O_MAX_HEADERS) */
#define DEFAULT_MAX_HEADER_BYTES (64 * 1024)
#define DEFAULT_MAX_TARGET_BYTES (8 * 1024) /* nginx's large_client_header_buffers */
#define DEFAULT_REQUEST_TIMEOUT_MS 10000
#define DEFAULT_IDLE_TIMEOUT_MS 10000 /* libh2o's own default for both HTTP/1 and HTTP/2 */
#define DEFAULT_BODY_BUDGET (64 * 1024 * 1024)
#define DEFAULT_SHUTDOWN_TIMEOUT_MS 10000
#define DEFAULT_LISTEN "127.0.0.1:8080"
#define DEFAULT_REGISTRY "services.yaml"
#define DEFAULT_ADMIN_LISTEN "127.0.0.1:8081"
#define DEFAULT_ADMIN_TOKEN_FILE "admin.token"
#define DEFAULT_AUTH_SERVICE "auth" /* checks go to the registry entry "auth" */
#define DEFAULT_AUTH_TIMEOUT_MS 2000
#define DEFAULT_AUTH_CACHE_TTL_MS 30000
#define DEFAULT_AUTH_NEGATIVE_TTL_MS 5000
#define DEFAULT_AUTH_CACHE_SIZE 100000

void config_init(pd_config_t *conf)
{
    memset(conf, 0, sizeof(*conf));
    conf->threads = config_default_threads();
    conf->shutdown_timeout_ms = DEFAULT_SHUTDOWN_TIMEOUT_MS;
    conf->log_level = LOG_INFO;
    conf->upstream.connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    conf->upstream.io_timeout_ms = DEFAULT_IO_TIMEOUT_MS;
    conf->upstream.websocket_timeout_ms = DEFAULT_WEBSOCKET_TIMEOUT_MS;
    conf->upstream.buffer = DEFAULT_UPSTREAM_BUFFER;
    conf->upstream.max_response_head = DEFAULT_MAX_RESPONSE_HEAD;
    conf->upstream.keepalive = DEFAULT_KEEPALIVE;
    conf->client.send_timeout_ms = DEFAULT_SEND_TIMEOUT_MS;
    conf->max_request_body = DEFAULT_MAX_REQUEST_BODY;
    conf->client.max_headers = DEFAULT_MAX_HEADERS;
    conf->client.max_header_bytes = DEFAULT_MAX_HEADER_BYTES;
    conf->client.max_target_bytes = DEFAULT_MAX_TARGET_BYTES;
    conf->client.request_timeout_ms = DEFAULT_REQUEST_TIMEOUT_MS;
    conf->client.idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
    conf->client.body_budget = DEFAULT_BODY_BUDGET;
}

/* An admin: block was given: its keys' defaults. conf->path must be set. */
void config_admin_defaults(pd_config_t *conf)
{
    conf->admin.enabled = 1;
    if (config_parse_listen(DEFAULT_ADMIN_LISTEN, &conf->admin.listen) != 0)
        fatal("%s", __func__);
    conf->admin.token_file = config_resolve_path(conf->path, DEFAULT_ADMIN_TOKEN_FILE);
}

/* An auth: block was given: its keys' defaults. */
void config_auth_defaults(pd_config_t *conf)
{
    conf->auth.enabled = 1;
    if ((conf->auth.service = strdup(DEFAULT_AUTH_SERVICE)) == NULL)
        fatal("%s", __func__);
    conf->auth.timeout_ms = DEFAULT_AUTH_TIMEOUT_MS;
    conf->auth.cache_ttl_ms = DEFAULT_AUTH_CACHE_TTL_MS;
    conf->auth.negative_ttl_ms = DEFAULT_AUTH_NEGATIVE_TTL_MS;
    conf->auth.cache_size = DEFAULT_AUTH_CACHE_SIZE;
    conf->auth.vary = PD_AUTH_VARY_ALL; /* every check is about one request */
}

/* After the file was read: the defaults of lists and paths it did not give. */
void config_finish_defaults(pd_config_t *conf)
{
    if (conf->num_listens == 0) {
        conf->listens = calloc(1, sizeof(*conf->listens));
        if (conf->listens == NULL || config_parse_listen(DEFAULT_LISTEN, conf->listens) != 0)
            fatal("%s", __func__);
        conf->num_listens = 1;
    }
    if (conf->registry == NULL)
        conf->registry = config_resolve_path(conf->path, DEFAULT_REGISTRY);
}

static void free_names(char **names, size_t num)
{
    size_t i;

    for (i = 0; i < num; i++)
        free(names[i]);
    free(names);
}

void config_free(pd_config_t *conf)
{
    size_t i;

    for (i = 0; i < conf->num_listens; i++)
        free(conf->listens[i].host);
    free(conf->admin.listen.host);
    free(conf->admin.listen.unix_path);
    free(conf->admin.token_file);
    free(conf->admin.dashboard);
    free(conf->auth.service);
    free_names(conf->auth.copy_headers, conf->auth.num_copy_headers);
    free_names(conf->auth.request_headers, conf->auth.num_request_headers);
    free_names(conf->auth.response_headers, conf->auth.num_response_headers);
    free(conf->listens);
    free(conf->trusted_proxies);
    free(conf->path);
    free(conf->registry);
    memset(conf, 0, sizeof(*conf));
}

unsigned config_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    if (n < 1)
        return 1;
    return n > PD_MAX_THREADS ? PD_MAX_THREADS : (unsigned)n;
}

/* Reads a whole non-negative decimal number; returns where it stopped, or NULL. */
static const char *parse_number(const char *s, uint64_t *value)
{
    char *end;

    if (!isdigit((unsigned char)*s))
        return NULL;
    errno = 0;
    *value = strtoull(s, &end, 10);
    if (errno != 0)
        return NULL;
    return end;
}

/* A number followed by one of `units`, scaled; -1 for an unknown unit or an overflow past `max`. */
typedef struct unit {
    const char *name;
    uint64_t scale;
} unit_t;

static int parse_with_unit(const char *s, const unit_t *units, size_t num_units, uint64_t max, uint64_t *out)
{
    uint64_t n;
    const char *unit;
    size_t i;

    if ((unit = parse_number(s, &n)) == NULL)
        return -1;
    for (i = 0; i < num_units; i++) {
        if (strcmp(unit, units[i].name) == 0) {
            if (n > max / units[i].scale)
                return -1;
            *out = n * units[i].scale;
            return 0;
        }
    }
    return -1;
}

/* "250ms", "5s", "2m", "1h"; a unit is required so that "5" is not misread. */
int config_parse_duration(const char *s, uint64_t *ms)
{
    static const unit_t units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};

    return parse_with_unit(s, units, sizeof(units) / sizeof(units[0]), UINT64_MAX, ms);
}

/* "5s" or "250ms": the shortest exact form config_parse_duration() reads back. */
void config_format_duration(uint64_t ms, char *buf, size_t len)
{
    if (ms % 1000 == 0)
        snprintf(buf, len, "%llus", (unsigned long long)(ms / 1000));
    else
        snprintf(buf, len, "%llums", (unsigned long long)ms);
}

/* "1048576", "512k", "64MiB", "1G": binary units, as nginx's client_max_body_size. */
int config_parse_size(const char *s, size_t *bytes)
{
    static const unit_t units[] = {{"", 1},        {"k", 1 << 10},   {"K", 1 << 10},   {"KiB", 1 << 10}, {"KB", 1 << 10},
                                   {"m", 1 << 20}, {"M", 1 << 20},   {"MiB", 1 << 20}, {"MB", 1 << 20},  {"g", 1 << 30},
                                   {"G", 1 << 30}, {"GiB", 1 << 30}, {"GB", 1 << 30}};
    uint64_t n;

    if (parse_with_unit(s, units, sizeof(units) / sizeof(units[0]), SIZE_MAX, &n) != 0)
        return -1;
    *bytes = (size_t)n;
    return 0;
}
/* "2MiB" or "1536KiB": the shortest exact form config_parse_size() reads back. */
void config_format_size(size_t bytes, char *buf, size_t len)
{
    static const char *const units[] = {"", "KiB", "MiB", "GiB"};
    size_t i = 0;

    while (i < 3 && bytes != 0 && bytes % 1024 == 0) {
        bytes /= 1024;
        i++;
    }
    snprintf(buf, len, "%zu%s", bytes, units[i]);
}

/* "127.0.0.1:8080", "[::1]:8080", "*:8080", "localhost:8080", and "unix:/path" for the admin API. */
int config_parse_listen(const char *s, pd_listen_t *listen)
{
    const char *colon, *host = s;
    size_t host_len;
    uint64_t port;
    const char *end;

    memset(listen, 0, sizeof(*listen));
    if (strncmp(s, "unix:", 5) == 0) {
        if (s[5] != '/' || strlen(s + 5) >= 108) /* sun_path */
            return -1;
        if ((listen->unix_path = strdup(s + 5)) == NULL)
            fatal("%s", __func__);
        return 0;
    }
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        host = s + 1;
        host_len = close - host;
        colon = close + 1;
    } else {
        if ((colon = strrchr(s, ':')) == NULL || memchr(s, ':', colon - s) != NULL)
            return -1;
        host_len = colon - s;
    }
    if ((end = parse_number(colon + 1, &port)) == NULL || *end != '\0' || port == 0 || port > 65535 || host_len == 0)
        return -1;
    listen->port = (uint16_t)port;
    if (host_len == 1 && *host == '*') {
        listen->host = NULL;
        return 0;
    }
    if ((listen->host = strndup(host, host_len)) == NULL)
        fatal("%s", __func__);
    return 0;
}

/* Relative paths in the settings are relative to the settings file's folder. Caller frees. */
char *config_resolve_path(const char *base_file, const char *path)
{
    const char *slash = strrchr(base_file, '/');
    char *resolved;

    if (path[0] == '/' || slash == NULL) {
        resolved = strdup(path);
    } else if (asprintf(&resolved, "%.*s/%s", (int)(slash - base_file), base_file, path) < 0) {
        resolved = NULL;
    }
    if (resolved == NULL)
        fatal("%s", __func__);
    return resolved;
}

/* "10.0.0.0/8", "fd00::/8", or one address ("127.0.0.1", "::1"); host bits must be zero. */
int config_parse_cidr(const char *s, pd_cidr_t *cidr)
{
    const char *slash = strchr(s, '/');
    char host[INET6_ADDRSTRLEN];
    size_t host_len = slash != NULL ? (size_t)(slash - s) : strlen(s), max_bits, i;
    uint64_t prefix;
    const char *end;

    memset(cidr, 0, sizeof(*cidr));
    if (host_len == 0 || host_len >= sizeof(host))
        return -1;
    memcpy(host, s, host_len);
    host[host_len] = '\0';
    if (inet_pton(AF_INET, host, cidr->addr) == 1)
        cidr->family = AF_INET, max_bits = 32;
    else if (inet_pton(AF_INET6, host, cidr->addr) == 1)
        cidr->family = AF_INET6, max_bits = 128;
    else
        return -1;
    prefix = max_bits;
    if (slash != NULL && ((end = parse_number(slash + 1, &prefix)) == NULL || *end != '\0' || prefix > max_bits))
        return -1;
    cidr->prefix = (unsigned)prefix;
    for (i = prefix; i < max_bits; i++)
        if (cidr->addr[i / 8] & (0x80 >> (i % 8)))
            return -1;
    return 0;
}

/* Whether `sa` lies in `cidr`; an IPv4-mapped IPv6 peer ("::ffff:10.1.2.3") counts as IPv4. */
int config_cidr_match(const pd_cidr_t *cidr, const struct sockaddr *sa)
{
    const unsigned char *addr;
    unsigned i;

    if (sa->sa_family == AF_INET && cidr->family == AF_INET) {
        addr = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (cidr->family == AF_INET6)
            addr = a6->s6_addr;
        else if (IN6_IS_ADDR_V4MAPPED(a6))
            addr = a6->s6_addr + 12;
        else
            return 0;
    } else {
        return 0;
    }
    for (i = 0; i < cidr->prefix; i++)
        if ((addr[i / 8] ^ cidr->addr[i / 8]) & (0x80 >> (i % 8)))
            return 0;
    return 1;
}
