/* config_yaml.c: the settings file (proxyd.yaml) -> pd_config_t, errors with file:line:column. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include "proxyd.h"

typedef struct parse_ctx {
    pd_ydoc_t *yd;
    pd_config_t *conf;
    char *err;
    size_t errlen;
} parse_ctx_t;

/* One row per key: the name and the function that validates and stores its value. */
typedef struct key_rule {
    const char *name;
    int (*set)(parse_ctx_t *pc, const char *key, yaml_node_t *value);
} key_rule_t;

static int walk_mapping(parse_ctx_t *pc, const char *section, yaml_node_t *node, const key_rule_t *rules);

static const char *expect_scalar(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    const char *s = ydoc_scalar(value);

    if (s == NULL || *s == '\0')
        ydoc_error(pc->yd, value, pc->err, pc->errlen, "%s: expected a value, not %s", key,
                   s == NULL ? "a list or mapping" : "nothing");
    return s != NULL && *s != '\0' ? s : NULL;
}

static int add_listen(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    pd_config_t *conf = pc->conf;
    const char *s;

    if ((s = expect_scalar(pc, key, value)) == NULL)
        return -1;
    if ((conf->listens = realloc(conf->listens, (conf->num_listens + 1) * sizeof(*conf->listens))) == NULL)
        fatal("%s", __func__);
    if (config_parse_listen(s, &conf->listens[conf->num_listens]) != 0 || conf->listens[conf->num_listens].unix_path != NULL) {
        free(conf->listens[conf->num_listens].unix_path);
        return ydoc_error(pc->yd, value, pc->err, pc->errlen,
                          "%s: '%s' is not an address: use 127.0.0.1:8080, \"[::1]:8080\" or \"*:8080\"", key, s);
    }
    conf->num_listens++;
    return 0;
}

/* A key that takes one value or a list of them: `add` for each. */
static int each_value(parse_ctx_t *pc, const char *key, yaml_node_t *value,
                      int (*add)(parse_ctx_t *pc, const char *key, yaml_node_t *value))
{
    yaml_node_item_t *item;

    if (value->type != YAML_SEQUENCE_NODE)
        return add(pc, key, value);
    for (item = value->data.sequence.items.start; item < value->data.sequence.items.top; item++)
        if (add(pc, key, ydoc_node(pc->yd, *item)) != 0)
            return -1;
    return 0;
}

static int set_listen(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    if (value->type == YAML_SEQUENCE_NODE && value->data.sequence.items.start == value->data.sequence.items.top)
        return ydoc_error(pc->yd, value, pc->err, pc->errlen, "%s: the list is empty", key);
    return each_value(pc, key, value, add_listen);
}

/* A whole number from `min` to `max`, as decimal digits only. */
static int set_whole(parse_ctx_t *pc, const char *key, yaml_node_t *value, unsigned long long min, unsigned long long max,
                     unsigned long long *n)
{
    const char *s;
    char *end;

    if ((s = expect_scalar(pc, key, value)) == NULL)
        return -1;
    *n = strtoull(s, &end, 10);
    if (*s == '-' || *end != '\0' || *n < min || *n > max)
        return ydoc_error(pc->yd, value, pc->err, pc->errlen, "%s: '%s' is not a whole number from %llu to %llu", key, s, min, max);
    return 0;
}

static int set_threads(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    unsigned long long n;

    if (set_whole(pc, key, value, 1, PD_MAX_THREADS, &n) != 0)
        return -1;
    pc->conf->threads = (unsigned)n;
    return 0;
}

static int set_log_level(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    static const struct {
        const char *name;
        int priority;
    } levels[] = {{"error", LOG_ERR}, {"warning", LOG_WARNING}, {"info", LOG_INFO}};
    const char *s;
    size_t i;

    if ((s = expect_scalar(pc, key, value)) == NULL)
        return -1;
    for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        if (strcmp(s, levels[i].name) == 0) {
            pc->conf->log_level = levels[i].priority;
            return 0;
        }
    }
    return ydoc_error(pc->yd, value, pc->err, pc->errlen, "%s: '%s' is not error, warning or info", key, s);
}

static int set_registry(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    const char *s;

    if ((s = expect_scalar(pc, key, value)) == NULL)
        return -1;
    free(pc->conf->registry);
    pc->conf->registry = config_resolve_path(pc->conf->path, s);
    return 0;
}

static int set_duration(parse_ctx_t *pc, const char *key, yaml_node_t *value, uint64_t *ms)
{
    const char *s;

    if ((s = expect_scalar(pc, key, value)) == NULL)
        return -1;
    if (config_parse_duration(s, ms) != 0 || *ms == 0 || *ms > PD_MAX_TIMEOUT_MS)
        return ydoc_error(pc->yd, value, pc->err, pc->errlen, "%s: '%s' is not a duration from 1ms to 24h: use 250ms, 5s or 2m",
                          key, s);
    return 0;
}

static int set_connect_timeout(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    return set_duration(pc, key, value, &pc->conf->upstream.connect_timeout_ms);
}

static int set_io_timeout(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    return set_duration(pc, key, value, &pc->conf->upstream.io_timeout_ms);
}

static int set_size(parse_ctx_t *pc, const char *key, yaml_node_t *value, size_t *bytes)
{
    const char *s;

    if ((s = expect_scalar(pc, key, value)) == NULL)
        return -1;
    if (config_parse_size(s, bytes) != 0 || *bytes == 0)
        return ydoc_error(pc->yd, value, pc->err, pc->errlen, "%s: '%s' is not a size: use 1048576, 512k, 64MiB or 1G", key, s);
    return 0;
}

static int set_bool(parse_ctx_t *pc, const char *key, yaml_node_t *value, int *flag)
{
    const char *s;

    if ((s = expect_scalar(pc, key, value)) == NULL)
        return -1;
    if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
        *flag = strcmp(s, "true") == 0;
        return 0;
    }
    return ydoc_error(pc->yd, value, pc->err, pc->errlen, "%s: '%s' is not true or false", key, s);
}

static int set_client_max_headers(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    unsigned long long n;

    /* HTTP/1 requests with more fields are refused by libh2o itself (H2O_MAX_HEADERS) */
    if (set_whole(pc, key, value, 1, H2O_MAX_HEADERS, &n) != 0)
        return -1;
    pc->conf->client.max_headers = (size_t)n;
    return 0;
}

static int set_client_max_header_bytes(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    return set_size(pc, key, value, &pc->conf->client.max_header_bytes);
}

static int set_client_max_target_bytes(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    return set_size(pc, key, value, &pc->conf->client.max_target_bytes);
}

static int set_client_underscores(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    return set_bool(pc, key, value, &pc->conf->client.underscores_in_headers);
}

static int set_client_request_timeout(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    return set_duration(pc, key, value, &pc->conf->client.request_timeout_ms);
}

static int set_client_idle_timeout(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    return set_duration(pc, key, value, &pc->conf->client.idle_timeout_ms);
}

static int set_client_body_budget(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    return set_size(pc, key, value, &pc->conf->client.body_budget);
}

static int set_client_send_timeout(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    return set_duration(pc, key, value, &pc->conf->client.send_timeout_ms);
}

static const key_rule_t client_rules[] = {{"send_timeout", set_client_send_timeout},
                                          {"max_headers", set_client_max_headers},
                                          {"max_header_bytes", set_client_max_header_bytes},
                                          {"max_target_bytes", set_client_max_target_bytes},
                                          {"underscores_in_headers", set_client_underscores},
                                          {"request_timeout", set_client_request_timeout},
                                          {"idle_timeout", set_client_idle_timeout},
                                          {"body_budget", set_client_body_budget},
                                          {NULL, NULL}};

static int set_client(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    return walk_mapping(pc, key, value, client_rules);
}

static int set_max_request_body(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    return set_size(pc, key, value, &pc->conf->max_request_body);
}

static int set_websocket_timeout(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    return set_duration(pc, key, value, &pc->conf->upstream.websocket_timeout_ms);
}

static int set_upstream_buffer(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    return set_size(pc, key, value, &pc->conf->upstream.buffer);
}

static int set_max_response_head(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    /* below 1 KiB even a plain answer's head would not fit */
    if (set_size(pc, key, value, &pc->conf->upstream.max_response_head) != 0)
        return -1;
    if (pc->conf->upstream.max_response_head < 1024)
        return ydoc_error(pc->yd, value, pc->err, pc->errlen, "%s: at least 1KiB", key);
    return 0;
}

static int set_keepalive(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    unsigned long long n;

    if (set_whole(pc, key, value, 0, 100000, &n) != 0)
        return -1;
    pc->conf->upstream.keepalive = (size_t)n;
    return 0;
}

static const key_rule_t upstream_rules[] = {{"connect_timeout", set_connect_timeout},
                                            {"io_timeout", set_io_timeout},
                                            {"websocket_timeout", set_websocket_timeout},
                                            {"buffer", set_upstream_buffer},
                                            {"max_response_head", set_max_response_head},
                                            {"keepalive", set_keepalive},
                                            {NULL, NULL}};

static int set_upstream(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    return walk_mapping(pc, key, value, upstream_rules);
}

static int set_admin_listen(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    const char *s;

    if ((s = expect_scalar(pc, key, value)) == NULL)
        return -1;
    free(pc->conf->admin.listen.host);
    free(pc->conf->admin.listen.unix_path);
    if (config_parse_listen(s, &pc->conf->admin.listen) != 0)
        return ydoc_error(pc->yd, value, pc->err, pc->errlen,
                          "%s: '%s' is not an address: use 127.0.0.1:8081 or unix:/run/proxyd/admin.sock", key, s);
    return 0;
}

static int set_admin_token_file(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    const char *s;

    if ((s = expect_scalar(pc, key, value)) == NULL)
        return -1;
    free(pc->conf->admin.token_file);
    pc->conf->admin.token_file = config_resolve_path(pc->conf->path, s);
    return 0;
}

static int set_admin_dashboard(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    const char *s;

    if ((s = expect_scalar(pc, key, value)) == NULL)
        return -1;
    free(pc->conf->admin.dashboard);
    pc->conf->admin.dashboard = config_resolve_path(pc->conf->path, s);
    return 0;
}

static const key_rule_t admin_rules[] = {
    {"listen", set_admin_listen}, {"token_file", set_admin_token_file}, {"dashboard", set_admin_dashboard}, {NULL, NULL}};

static int set_admin(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    config_admin_defaults(pc->conf);
    return walk_mapping(pc, key, value, admin_rules);
}

static int set_auth_service(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    const char *s;
    char why[256];

    if ((s = expect_scalar(pc, key, value)) == NULL)
        return -1;
    if (service_check_name(s, why, sizeof(why)) != 0)
        return ydoc_error(pc->yd, value, pc->err, pc->errlen, "%s: %s", key, why);
    free(pc->conf->auth.service);
    if ((pc->conf->auth.service = strdup(s)) == NULL)
        fatal("%s", __func__);
    return 0;
}

/* A duration where 0 (without a unit) turns the feature off. */
static int set_ttl(parse_ctx_t *pc, const char *key, yaml_node_t *value, uint64_t *ms)
{
    const char *s;

    if ((s = expect_scalar(pc, key, value)) == NULL)
        return -1;
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    if (config_parse_duration(s, ms) != 0)
        return ydoc_error(pc->yd, value, pc->err, pc->errlen, "%s: '%s' is not a duration: use 0, 250ms, 5s or 2m", key, s);
    return 0;
}

static int set_auth_timeout(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    return set_duration(pc, key, value, &pc->conf->auth.timeout_ms);
}

static int set_auth_cache_ttl(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    return set_ttl(pc, key, value, &pc->conf->auth.cache_ttl_ms);
}

static int set_auth_negative_ttl(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    return set_ttl(pc, key, value, &pc->conf->auth.negative_ttl_ms);
}

static int set_auth_cache_size(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    unsigned long long n;

    if (set_whole(pc, key, value, 1, 100000000, &n) != 0)
        return -1;
    pc->conf->auth.cache_size = (size_t)n;
    return 0;
}

/* A header name as RFC 9110 allows (a token), in lower case for h2o's lookups; the
 * caller frees it. NULL after an error. */
static char *header_name(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    const char *s;
    char *name;
    size_t i;

    if ((s = expect_scalar(pc, key, value)) == NULL)
        return NULL;
    if (strspn(s, "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") != strlen(s)) {
        ydoc_error(pc->yd, value, pc->err, pc->errlen, "%s: '%s' is not a header name", key, s);
        return NULL;
    }
    if ((name = strdup(s)) == NULL)
        fatal("%s", __func__);
    for (i = 0; name[i] != '\0'; i++)
        name[i] = tolower((unsigned char)name[i]);
    return name;
}

/* Whether `names` holds `name`, also spelt with '_' for '-' (as CGI reads it). */
static int has_name(char **names, size_t num, const char *name)
{
    size_t i;

    for (i = 0; i < num; i++)
        if (http_field_same_cgi_name(name, strlen(name), names[i]))
            return 1;
    return 0;
}

/* One of auth's lists of header names. */
typedef struct name_list {
    char ***names;
    size_t *num;
    size_t max;                                               /* 0: no bound */
    const char *(*refuse)(parse_ctx_t *pc, const char *name); /* why this list cannot hold `name`, or NULL */
} name_list_t;

/* Appends the name `value` gives to `list`, or says why it cannot be there. */
static int add_name(parse_ctx_t *pc, const char *key, yaml_node_t *value, const name_list_t *list)
{
    char *name = header_name(pc, key, value);
    const char *why;
    int ret = 0;

    if (name == NULL)
        return -1;
    if ((why = list->refuse(pc, name)) != NULL)
        ret = ydoc_error(pc->yd, value, pc->err, pc->errlen, "%s: '%s' %s", key, ydoc_scalar(value), why);
    else if (has_name(*list->names, *list->num, name))
        ret = ydoc_error(pc->yd, value, pc->err, pc->errlen, "%s: '%s' is listed twice", key, ydoc_scalar(value));
    else if (list->max != 0 && *list->num == list->max)
        ret = ydoc_error(pc->yd, value, pc->err, pc->errlen, "%s: more than %zu names", key, list->max);
    if (ret != 0) {
        free(name);
        return -1;
    }
    if ((*list->names = realloc(*list->names, (*list->num + 1) * sizeof(char *))) == NULL)
        fatal("%s", __func__);
    (*list->names)[(*list->num)++] = name;
    return 0;
}

/* A key that takes one name or a list of them. */
static int set_names(parse_ctx_t *pc, const char *key, yaml_node_t *value, const name_list_t *list)
{
    yaml_node_item_t *item;

    if (value->type != YAML_SEQUENCE_NODE)
        return add_name(pc, key, value, list);
    for (item = value->data.sequence.items.start; item < value->data.sequence.items.top; item++)
        if (add_name(pc, key, ydoc_node(pc->yd, *item), list) != 0)
            return -1;
    return 0;
}

static const char *refuse_copy_header(parse_ctx_t *pc, const char *name)
{
    /* these frame or route the request: taking them from the auth service would let it break both */
    if (strcmp(name, "host") == 0 || strcmp(name, "content-length") == 0 || strcmp(name, "transfer-encoding") == 0 ||
        strcmp(name, "connection") == 0 || strcmp(name, "upgrade") == 0 || strcmp(name, "te") == 0)
        return "cannot be copied from the auth service";
    if (has_name(pc->conf->auth.request_headers, pc->conf->auth.num_request_headers, name))
        return "is in auth.request_headers: a client's copy is removed before the check";
    return NULL;
}

static int set_auth_copy_headers(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    name_list_t list = {&pc->conf->auth.copy_headers, &pc->conf->auth.num_copy_headers, 0, refuse_copy_header};

    return set_names(pc, key, value, &list);
}

/* What the auth service is shown of the client's request besides Authorization:
 * never a field proxyd sets for it, and never one that a client cannot send. */
static const char *refuse_request_header(parse_ctx_t *pc, const char *name)
{
    if (strcmp(name, "authorization") == 0)
        return "is always passed to the auth service";
    if (http_field_is_proxy_owned(name, strlen(name)) || strncmp(name, "x-forwarded-", 12) == 0 || strcmp(name, "host") == 0 ||
        strcmp(name, "expect") == 0)
        return "is set by proxyd, not taken from the client";
    if (http_field_is_hop_by_hop(name, strlen(name)))
        return "is hop-by-hop or framing: it belongs to the client's connection";
    if (strchr(name, '_') != NULL)
        return "has a '_': servers that read headers as CGI variables take it for '-'";
    if (has_name(pc->conf->auth.copy_headers, pc->conf->auth.num_copy_headers, name))
        return "is in auth.copy_headers: a client's copy is removed before the check";
    return NULL;
}

static int set_auth_request_headers(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    name_list_t list = {&pc->conf->auth.request_headers, &pc->conf->auth.num_request_headers, PD_AUTH_MAX_LISTED_HEADERS,
                        refuse_request_header};

    return set_names(pc, key, value, &list);
}

/* What an allow adds to the client's answer: never a field that frames it or that
 * describes the service's body. */
static const char *refuse_response_header(parse_ctx_t *pc, const char *name)
{
    (void)pc;
    if (http_field_is_hop_by_hop(name, strlen(name)))
        return "is hop-by-hop or framing: it belongs to one connection";
    if (strncmp(name, "content-", 8) == 0)
        return "describes the service's body";
    if (strcmp(name, "date") == 0 || strcmp(name, "server") == 0 || strcmp(name, "location") == 0)
        return "is the service's or proxyd's own";
    return NULL;
}

static int set_auth_response_headers(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    name_list_t list = {&pc->conf->auth.response_headers, &pc->conf->auth.num_response_headers, PD_AUTH_MAX_LISTED_HEADERS,
                        refuse_response_header};

    return set_names(pc, key, value, &list);
}

/* The names auth.vary takes, each a part of the request. */
static const struct vary_part {
    const char *name;
    unsigned flag;
} vary_parts[] = {{"method", PD_AUTH_VARY_METHOD}, {"path", PD_AUTH_VARY_PATH}, {"client", PD_AUTH_VARY_CLIENT}, {NULL, 0}};

static int add_vary(parse_ctx_t *pc, const char *key, yaml_node_t *value, unsigned *vary)
{
    const struct vary_part *part;
    const char *s;

    if ((s = expect_scalar(pc, key, value)) == NULL)
        return -1;
    for (part = vary_parts; part->name != NULL && strcmp(part->name, s) != 0; part++)
        ;
    if (part->name == NULL)
        return ydoc_error(pc->yd, value, pc->err, pc->errlen, "%s: '%s' is not method, path or client", key, s);
    if (*vary & part->flag)
        return ydoc_error(pc->yd, value, pc->err, pc->errlen, "%s: '%s' is listed twice", key, s);
    *vary |= part->flag;
    return 0;
}

static int set_auth_vary(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    yaml_node_item_t *item;
    unsigned vary = 0;

    if (value->type != YAML_SEQUENCE_NODE)
        return ydoc_error(pc->yd, value, pc->err, pc->errlen, "%s: expected a list such as [method, path, client] or []", key);
    for (item = value->data.sequence.items.start; item < value->data.sequence.items.top; item++)
        if (add_vary(pc, key, ydoc_node(pc->yd, *item), &vary) != 0)
            return -1;
    pc->conf->auth.vary = vary;
    return 0;
}

static const key_rule_t auth_rules[] = {{"service", set_auth_service},
                                        {"timeout", set_auth_timeout},
                                        {"cache_ttl", set_auth_cache_ttl},
                                        {"negative_ttl", set_auth_negative_ttl},
                                        {"cache_size", set_auth_cache_size},
                                        {"copy_headers", set_auth_copy_headers},
                                        {"request_headers", set_auth_request_headers},
                                        {"response_headers", set_auth_response_headers},
                                        {"vary", set_auth_vary},
                                        {NULL, NULL}};

static int set_auth(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    config_auth_defaults(pc->conf);
    return walk_mapping(pc, key, value, auth_rules);
}

static int add_trusted_proxy(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    pd_config_t *conf = pc->conf;
    const char *s;

    if ((s = expect_scalar(pc, key, value)) == NULL)
        return -1;
    if ((conf->trusted_proxies = realloc(conf->trusted_proxies, (conf->num_trusted_proxies + 1) * sizeof(pd_cidr_t))) == NULL)
        fatal("%s", __func__);
    if (config_parse_cidr(s, &conf->trusted_proxies[conf->num_trusted_proxies]) != 0)
        return ydoc_error(pc->yd, value, pc->err, pc->errlen,
                          "%s: '%s' is not an address or CIDR block: use 10.0.0.0/8, 192.0.2.7 or fd00::/8 (host bits zero)", key,
                          s);
    conf->num_trusted_proxies++;
    return 0;
}

static int set_trusted_proxies(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    return each_value(pc, key, value, add_trusted_proxy);
}

static int set_shutdown_timeout(parse_ctx_t *pc, const char *key, yaml_node_t *value)
{
    return set_duration(pc, key, value, &pc->conf->shutdown_timeout_ms);
}

static const key_rule_t top_rules[] = {{"trusted_proxies", set_trusted_proxies},
                                       {"listen", set_listen},
                                       {"threads", set_threads},
                                       {"shutdown_timeout", set_shutdown_timeout},
                                       {"registry", set_registry},
                                       {"log_level", set_log_level},
                                       {"upstream", set_upstream},
                                       {"max_request_body", set_max_request_body},
                                       {"client", set_client},
                                       {"admin", set_admin},
                                       {"auth", set_auth},
                                       {NULL, NULL}};

static const key_rule_t *find_rule(const key_rule_t *rules, const char *name)
{
    for (; rules->name != NULL; rules++)
        if (strcmp(rules->name, name) == 0)
            return rules;
    return NULL;
}

/* Applies `rules` to each key of a mapping; unknown and repeated keys are errors. */
static int walk_mapping(parse_ctx_t *pc, const char *section, yaml_node_t *node, const key_rule_t *rules)
{
    yaml_node_pair_t *pair, *prev;
    char qualified[128];

    if (node->type != YAML_MAPPING_NODE)
        return ydoc_error(pc->yd, node, pc->err, pc->errlen, "%s: expected a mapping of keys to values",
                          section != NULL ? section : "settings");
    for (pair = node->data.mapping.pairs.start; pair < node->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = ydoc_node(pc->yd, pair->key);
        const char *name = ydoc_scalar(k);
        const key_rule_t *rule;

        if (name == NULL)
            return ydoc_error(pc->yd, k, pc->err, pc->errlen, "keys must be plain names");
        for (prev = node->data.mapping.pairs.start; prev < pair; prev++)
            if (strcmp(ydoc_scalar(ydoc_node(pc->yd, prev->key)), name) == 0)
                return ydoc_error(pc->yd, k, pc->err, pc->errlen, "%s: repeated key", name);
        snprintf(qualified, sizeof(qualified), "%s%s%s", section != NULL ? section : "", section != NULL ? "." : "", name);
        if ((rule = find_rule(rules, name)) == NULL)
            return ydoc_error(pc->yd, k, pc->err, pc->errlen, "%s: unknown key", qualified);
        if (rule->set(pc, qualified, ydoc_node(pc->yd, pair->value)) != 0)
            return -1;
    }
    return 0;
}

/* Fills `conf` from `file`; on error `conf` holds partial values and must still be freed. */
int config_load(pd_config_t *conf, const char *file, char *err, size_t errlen)
{
    pd_ydoc_t yd;
    parse_ctx_t pc = {&yd, conf, err, errlen};
    yaml_node_t *root;
    int ret = 0;

    conf->path = strdup(file);
    if (conf->path == NULL)
        fatal("%s", __func__);
    if (ydoc_load(&yd, file, err, errlen) != 0)
        return -1;
    if ((root = ydoc_root(&yd)) != NULL)
        ret = walk_mapping(&pc, NULL, root, top_rules);
    ydoc_free(&yd);
    if (ret != 0)
        return -1;
    config_finish_defaults(conf);
    return 0;
}
