/* service.c: one registry entry: name and URL validation, parsing, reference count. */
#include <ctype.h>
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
    snprintf(err, errlen, "invalid service name '%s': use 1 to %d of a-z, 0-9, '_' and '-', starting with a letter or digit",
             name, PD_SERVICE_NAME_MAX);
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

void service_opts_init(pd_service_opts_t *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->auth = 1;
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

/* One option by name, its value as text ("5s", "true"); the one table of options
 * for services.yaml's long form and the admin API's PUT body. */
int service_opts_set(pd_service_opts_t *opts, const char *key, const char *text, char *err, size_t errlen)
{
    if (strcmp(key, "url") == 0) {
        opts->url = text;
    } else if (strcmp(key, "timeout") == 0) {
        if (config_parse_duration(text, &opts->timeout_ms) != 0 || opts->timeout_ms == 0 || opts->timeout_ms > PD_MAX_TIMEOUT_MS)
            return snprintf(err, errlen, "timeout: '%s' is not a duration from 1ms to 24h: use 250ms, 5s or 2m", text), -1;
    } else if (strcmp(key, "auth") == 0) {
        return parse_bool(key, text, &opts->auth, err, errlen);
    } else if (strcmp(key, "public") == 0) {
        return parse_bool(key, text, &opts->public, err, errlen);
    } else if (strcmp(key, "allow_encoded_slash") == 0) {
        return parse_bool(key, text, &opts->allow_encoded_slash, err, errlen);
    } else if (strcmp(key, "allow_encoded_nul") == 0) {
        return parse_bool(key, text, &opts->allow_encoded_nul, err, errlen);
    } else if (strcmp(key, "max_request_body") == 0) {
        if (config_parse_size(text, &opts->max_request_body) != 0 || opts->max_request_body == 0)
            return snprintf(err, errlen, "max_request_body: '%s' is not a size: use 1048576, 512k, 64MiB or 1G", text), -1;
    } else {
        return snprintf(err, errlen,
                        "%s: unknown option (known: url, timeout, auth, public, max_request_body, allow_encoded_slash, "
                        "allow_encoded_nul)",
                        key),
               -1;
    }
    return 0;
}

/* The admin API's view: {"name", "url"} and the options that differ from the defaults. */
json_t *service_to_json(const pd_service_t *service)
{
    json_t *obj = json_pack("{s:s,s:s}", "name", service->name, "url", service->url);
    char timeout[32], size[32];

    if (service->timeout_ms != 0) {
        config_format_duration(service->timeout_ms, timeout, sizeof(timeout));
        json_object_set_new(obj, "timeout", json_string(timeout));
    }
    if (!service->auth)
        json_object_set_new(obj, "auth", json_false());
    if (service->public)
        json_object_set_new(obj, "public", json_true());
    if (service->allow_encoded_slash)
        json_object_set_new(obj, "allow_encoded_slash", json_true());
    if (service->allow_encoded_nul)
        json_object_set_new(obj, "allow_encoded_nul", json_true());
    if (service->max_request_body != 0) {
        config_format_size(service->max_request_body, size, sizeof(size));
        json_object_set_new(obj, "max_request_body", json_string(size));
    }
    return obj;
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
    service->timeout_ms = opts->timeout_ms;
    service->auth = opts->auth;
    service->public = opts->public;
    service->allow_encoded_slash = opts->allow_encoded_slash;
    service->allow_encoded_nul = opts->allow_encoded_nul;
    service->max_request_body = opts->max_request_body;
    if ((service->name = strdup(name)) == NULL || (service->url = strdup(url)) == NULL)
        fatal("%s", __func__);
    if (asprintf(&service->path_prefix, "/%s/", name) < 0)
        fatal("%s", __func__);
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
    if (__atomic_sub_fetch(&service->refcnt, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    free(service->name);
    free(service->url);
    free(service->path_prefix);
    free(service->buf);
    free(service);
}
