/* service.c: one registry entry: name, URL and host validation, parsing, reference count. */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proxyd.h"

/* [a-z0-9][a-z0-9_-]{0,62}: safe as a path segment, a log field and a YAML key. */
int service_check_name(const char *name, char *err, size_t errlen)
{
    size_t i, len = strlen(name);

    if (len == 0 || len > PD_SERVICE_NAME_MAX)
        goto bad;
    for (i = 0; i < len; i++) {
        char c = name[i];
        if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || (i != 0 && (c == '_' || c == '-'))))
            goto bad;
    }
    return 0;
bad:
    snprintf(err, errlen, "invalid service name '%s': use 1 to %d of a-z, 0-9, '_' and '-', starting with a letter or digit", name,
             PD_SERVICE_NAME_MAX);
    return -1;
}

static int check_url_text(const char *url, char *err, size_t errlen)
{
    const char *p;

    for (p = url; *p != '\0'; p++) {
        if (!isgraph((unsigned char)*p)) {
            snprintf(err, errlen, "invalid URL '%s': it contains a space or control character", url);
            return -1;
        }
    }
    if (strpbrk(url, "?#") != NULL) {
        snprintf(err, errlen, "invalid URL '%s': a base URL has no query or fragment", url);
        return -1;
    }
    if (strchr(url, '@') != NULL) {
        snprintf(err, errlen, "invalid URL '%s': credentials in the URL are not supported", url);
        return -1;
    }
    return 0;
}

/* Parses `url` into service->upstream and service->location_match, both pointing into service->buf. */
static int parse_url(pd_service_t *service, const char *url, char *err, size_t errlen)
{
    h2o_url_t parsed;
    size_t base_len;

    if (check_url_text(url, err, errlen) != 0)
        return -1;
    if (h2o_url_parse(url, strlen(url), &parsed) != 0 || parsed.host.len == 0 || h2o_url_get_port(&parsed) == 0) {
        snprintf(err, errlen, "invalid URL '%s': expected http:// or https://, a host, an optional port and path", url);
        return -1;
    }
    base_len = parsed.path.len;
    while (base_len > 0 && parsed.path.base[base_len - 1] == '/')
        base_len--;
    /* buf holds "<scheme>://<authority><base>/": location_match uses all of it, upstream all but the '/' */
    if (asprintf(&service->buf, "%s://%.*s%.*s/", parsed.scheme->name.base, (int)parsed.authority.len, parsed.authority.base,
                 (int)base_len, parsed.path.base) < 0)
        fatal("%s", __func__);
    if (h2o_url_parse(service->buf, strlen(service->buf), &service->location_match) != 0)
        fatalx("%s: cannot parse normalised URL %s", __func__, service->buf);
    service->upstream = service->location_match;
    service->upstream.path.len--;
    return 0;
}

/* The one table of service options: services.yaml's long form and the admin API's
 * PUT body are parsed with it, services.yaml is written and the API's JSON made
 * from it. Each row names the field in the options and in the built service. */
typedef enum { OPT_URL, OPT_DURATION, OPT_BOOL, OPT_SIZE, OPT_HOSTS } opt_type_t;
static const struct service_option {
    const char *name;
    opt_type_t type;
    size_t opts_field;    /* in pd_service_opts_t */
    size_t service_field; /* in pd_service_t */
    int default_bool;     /* OPT_BOOL; the others default to 0 (the settings' value) */
} options[] = {
    {"url", OPT_URL, offsetof(pd_service_opts_t, url), offsetof(pd_service_t, url), 0},
    {"timeout", OPT_DURATION, offsetof(pd_service_opts_t, timeout_ms), offsetof(pd_service_t, timeout_ms), 0},
    {"auth", OPT_BOOL, offsetof(pd_service_opts_t, auth), offsetof(pd_service_t, auth), 1},
    {"public", OPT_BOOL, offsetof(pd_service_opts_t, public), offsetof(pd_service_t, public), 0},
    {"max_request_body", OPT_SIZE, offsetof(pd_service_opts_t, max_request_body), offsetof(pd_service_t, max_request_body), 0},
    {"allow_encoded_slash", OPT_BOOL, offsetof(pd_service_opts_t, allow_encoded_slash), offsetof(pd_service_t, allow_encoded_slash),
     0},
    {"allow_encoded_nul", OPT_BOOL, offsetof(pd_service_opts_t, allow_encoded_nul), offsetof(pd_service_t, allow_encoded_nul), 0},
    {"preserve_host", OPT_BOOL, offsetof(pd_service_opts_t, preserve_host), offsetof(pd_service_t, preserve_host), 0},
    {"websocket_timeout", OPT_DURATION, offsetof(pd_service_opts_t, websocket_timeout_ms),
     offsetof(pd_service_t, websocket_timeout_ms), 0},
    {"hosts", OPT_HOSTS, offsetof(pd_service_opts_t, hosts), offsetof(pd_service_t, hosts), 0}, /* service_opts_add_host */
};
#define NUM_OPTIONS (sizeof(options) / sizeof(options[0]))
#define FIELD(type, base, offset) ((type *)((char *)(base) + (offset)))

void service_opts_init(pd_service_opts_t *opts)
{
    size_t i;

    memset(opts, 0, sizeof(*opts));
    for (i = 0; i < NUM_OPTIONS; i++)
        if (options[i].type == OPT_BOOL)
            *FIELD(int, opts, options[i].opts_field) = options[i].default_bool;
}

static int parse_bool(const char *key, const char *text, int *value, char *err, size_t errlen)
{
    if (strcmp(text, "true") == 0)
        *value = 1;
    else if (strcmp(text, "false") == 0)
        *value = 0;
    else
        return snprintf(err, errlen, "%s: '%s' is not true or false", key, text), -1;
    return 0;
}

static int parse_option(const struct service_option *o, pd_service_opts_t *opts, const char *text, char *err, size_t errlen)
{
    uint64_t *ms;
    size_t *bytes;

    switch (o->type) {
    case OPT_URL:
        *FIELD(const char *, opts, o->opts_field) = text;
        return 0;
    case OPT_DURATION:
        ms = FIELD(uint64_t, opts, o->opts_field);
        if (config_parse_duration(text, ms) != 0 || *ms == 0 || *ms > PD_MAX_TIMEOUT_MS)
            return snprintf(err, errlen, "%s: '%s' is not a duration from 1ms to 24h: use 250ms, 5s or 2m", o->name, text), -1;
        return 0;
    case OPT_BOOL:
        return parse_bool(o->name, text, FIELD(int, opts, o->opts_field), err, errlen);
    case OPT_SIZE:
        bytes = FIELD(size_t, opts, o->opts_field);
        if (config_parse_size(text, bytes) != 0 || *bytes == 0)
            return snprintf(err, errlen, "%s: '%s' is not a size: use 1048576, 512k, 64MiB or 1G", o->name, text), -1;
        return 0;
    case OPT_HOSTS:
        return snprintf(err, errlen, "%s: expected a list of host names, like [chat.example.com]", o->name), -1;
    }
    return -1;
}

/* One option by name, its value as text ("5s", "true"). 0; -1 for a bad value;
 * PD_OPT_UNKNOWN for a name that is no option. `err` says why. */
int service_opts_set(pd_service_opts_t *opts, const char *key, const char *text, char *err, size_t errlen)
{
    size_t i, len;

    for (i = 0; i < NUM_OPTIONS; i++)
        if (strcmp(key, options[i].name) == 0)
            return parse_option(&options[i], opts, text, err, errlen);
    len = (size_t)snprintf(err, errlen, "%s: unknown option (known:", key);
    for (i = 0; i < NUM_OPTIONS && len < errlen; i++)
        len += (size_t)snprintf(err + len, errlen - len, "%s %s", i == 0 ? "" : ",", options[i].name);
    if (len < errlen)
        snprintf(err + len, errlen - len, ")");
    return PD_OPT_UNKNOWN;
}

/* Adds one host name of the `hosts` list, checked and in host_name_normalize's
 * form; a name listed twice (in any spelling) is an error. 0, or -1 with `err`. */
int service_opts_add_host(pd_service_opts_t *opts, const char *text, char *err, size_t errlen)
{
    char *host = opts->hosts[opts->num_hosts];
    const char *why;
    size_t i;

    if (opts->num_hosts == PD_SERVICE_MAX_HOSTS)
        return snprintf(err, errlen, "hosts: more than %d host names; a wildcard (*.example.com) covers many",
                        PD_SERVICE_MAX_HOSTS),
               -1;
    if (host_name_normalize(text, strlen(text), 1, host, &why) < 0)
        return snprintf(err, errlen, "hosts: '%.300s' is not a host name: %s", text, why), -1;
    for (i = 0; i < opts->num_hosts; i++)
        if (strcmp(opts->hosts[i], host) == 0)
            return snprintf(err, errlen, "hosts: '%s' is listed twice", host), -1;
    opts->num_hosts++;
    return 0;
}

/* Calls `cb` with each option of `service` other than url and hosts that differs
 * from its default, as text, in the table's order; returns how many there are (cb
 * may be NULL). */
size_t service_each_option(const pd_service_t *service, void (*cb)(void *data, const char *key, const char *text, int is_bool),
                           void *data)
{
    char text[32];
    size_t i, n = 0;

    for (i = 0; i < NUM_OPTIONS; i++) {
        const struct service_option *o = &options[i];
        switch (o->type) {
        case OPT_URL:
        case OPT_HOSTS:
            continue;
        case OPT_DURATION:
            if (*FIELD(const uint64_t, service, o->service_field) == 0)
                continue;
            config_format_duration(*FIELD(const uint64_t, service, o->service_field), text, sizeof(text));
            break;
        case OPT_BOOL:
            if (*FIELD(const int, service, o->service_field) == o->default_bool)
                continue;
            strcpy(text, *FIELD(const int, service, o->service_field) ? "true" : "false");
            break;
        case OPT_SIZE:
            if (*FIELD(const size_t, service, o->service_field) == 0)
                continue;
            config_format_size(*FIELD(const size_t, service, o->service_field), text, sizeof(text));
            break;
        }
        if (cb != NULL)
            cb(data, o->name, text, o->type == OPT_BOOL);
        n++;
    }
    return n;
}

static void add_json_option(void *obj, const char *key, const char *text, int is_bool)
{
    json_object_set_new(obj, key, is_bool ? json_boolean(strcmp(text, "true") == 0) : json_string(text));
}

/* The admin API's view: {"name", "url"}, "hosts" when there are any, and the
 * options that differ from the defaults. */
json_t *service_to_json(const pd_service_t *service)
{
    json_t *obj = json_pack("{s:s,s:s}", "name", service->name, "url", service->url), *hosts;
    size_t i;

    if (service->num_hosts != 0) {
        hosts = json_array();
        for (i = 0; i < service->num_hosts; i++)
            json_array_append_new(hosts, json_string(service->hosts[i]));
        json_object_set_new(obj, "hosts", hosts);
    }
    service_each_option(service, add_json_option, obj);
    return obj;
}

/* Copies the options other than url and hosts into the service, row by row. */
static void copy_options(pd_service_t *service, const pd_service_opts_t *opts)
{
    size_t i;

    for (i = 0; i < NUM_OPTIONS; i++) {
        const struct service_option *o = &options[i];
        switch (o->type) {
        case OPT_URL:
        case OPT_HOSTS:
            break;
        case OPT_DURATION:
            *FIELD(uint64_t, service, o->service_field) = *FIELD(const uint64_t, opts, o->opts_field);
            break;
        case OPT_BOOL:
            *FIELD(int, service, o->service_field) = *FIELD(const int, opts, o->opts_field);
            break;
        case OPT_SIZE:
            *FIELD(size_t, service, o->service_field) = *FIELD(const size_t, opts, o->opts_field);
            break;
        }
    }
}

static void copy_hosts(pd_service_t *service, const pd_service_opts_t *opts)
{
    size_t i;

    if ((service->hosts = calloc(opts->num_hosts + 1, sizeof(*service->hosts))) == NULL)
        fatal("%s", __func__);
    for (i = 0; i < opts->num_hosts; i++)
        if ((service->hosts[i] = strdup(opts->hosts[i])) == NULL)
            fatal("%s", __func__);
    service->num_hosts = opts->num_hosts;
}

/* A new service with one reference, or NULL with `err` set. */
pd_service_t *service_new(const char *name, const pd_service_opts_t *opts, char *err, size_t errlen)
{
    pd_service_t *service;
    const char *url = opts->url;

    if (url == NULL) {
        snprintf(err, errlen, "url: required");
        return NULL;
    }
    if (service_check_name(name, err, errlen) != 0)
        return NULL;
    if ((service = calloc(1, sizeof(*service))) == NULL)
        fatal("%s", __func__);
    service->refcnt = 1;
    copy_options(service, opts);
    copy_hosts(service, opts);
    if ((service->name = strdup(name)) == NULL || (service->url = strdup(url)) == NULL)
        fatal("%s", __func__);
    if (asprintf(&service->path_prefix, "/%s/", name) < 0)
        fatal("%s", __func__);
    /* on the main thread, where services are built: requests find their counters without a lookup */
    service->stats = stats_for(name);
    if (parse_url(service, url, err, errlen) != 0) { /* "invalid URL '...'" */
        service_decref(service);
        return NULL;
    }
    return service;
}

void service_incref(pd_service_t *service)
{
    __atomic_add_fetch(&service->refcnt, 1, __ATOMIC_RELAXED);
}

void service_decref(pd_service_t *service)
{
    size_t i;

    if (__atomic_sub_fetch(&service->refcnt, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (i = 0; i < service->num_hosts; i++)
        free(service->hosts[i]);
    free(service->hosts);
    free(service->name);
    free(service->url);
    free(service->path_prefix);
    free(service->buf);
    stats_release(service->stats);
    free(service);
}
