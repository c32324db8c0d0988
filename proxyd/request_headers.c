/* request_headers.c: the client's headers as a service may see them: what only proxyd or the auth service sets is removed, in one
 * pass. */
#include <string.h>
#include "proxyd.h"

/* Connection fields looked at; more than a few is no real client. */
#define PD_MAX_CONNECTION_FIELDS 8

/* Set by proxyd itself (or by the auth service's answer): a client's copy would be
 * trusted upstream. X-Forwarded-Method/-Uri/-Service are what proxyd shows the auth
 * service; a service that is itself an auth service must not be fooled by them.
 * X-Original-URL, X-Rewrite-URL and the method overrides make some frameworks
 * (Symfony, Zend, Rails middleware) route to another path or method than the one
 * the auth service allowed; Proxy is httpoxy (CVE-2016-5385). */
static const char *const proxy_owned[] = {"forwarded",
                                          "x-real-ip",
                                          "x-forwarded-for",
                                          "x-forwarded-host",
                                          "x-forwarded-proto",
                                          "x-forwarded-port",
                                          "x-forwarded-prefix",
                                          "x-forwarded-server",
                                          "x-forwarded-method",
                                          "x-forwarded-uri",
                                          "x-forwarded-service",
                                          "x-original-url",
                                          "x-rewrite-url",
                                          "x-http-method-override",
                                          "x-http-method",
                                          "x-method-override",
                                          "proxy",
                                          NULL};

/* Compares a header name the way CGI, WSGI, PHP and Rack see it (HTTP_X_USER):
 * case-insensitive, with '-' and '_' alike. `lower` is lower case, with '-'. */
static int same_cgi_name(const h2o_iovec_t *name, const char *lower)
{
    size_t i;

    for (i = 0; i < name->len; i++) {
        char c = name->base[i];
        if (c == '_')
            c = '-';
        else if (c >= 'A' && c <= 'Z')
            c += 'a' - 'A';
        if (lower[i] == '\0' || (lower[i] == '_' ? '-' : lower[i]) != c)
            return 0;
    }
    return lower[i] == '\0';
}

static int is_listed(const h2o_iovec_t *name, const char *const *list, size_t count)
{
    size_t i;

    for (i = 0; i < count && list[i] != NULL; i++)
        if (same_cgi_name(name, list[i]))
            return 1;
    return 0;
}

/* The client's Connection fields, gathered first so that the scrub stays one pass. */
typedef struct nominations {
    const h2o_iovec_t *values[PD_MAX_CONNECTION_FIELDS];
    size_t num;
} nominations_t;

/* RFC 9110 §7.6.1: the fields a client's Connection names are for proxyd alone. They
 * go here, before proxyd and the auth service add their own, which a client that
 * names X-User or X-Forwarded-Host must not be able to strip on their way upstream. */
static int is_nominated(const h2o_header_t *h, const nominations_t *n)
{
    size_t i;

    for (i = 0; i < n->num; i++)
        if (h2o_contains_token(n->values[i]->base, n->values[i]->len, h->name->base, h->name->len, ','))
            return 1;
    return 0;
}

static int is_dropped(const h2o_header_t *h, const pd_config_t *conf, int trusted, const nominations_t *n)
{
    if (is_nominated(h, n))
        return 1;
    /* nginx's underscores_in_headers off: X_User would reach a CGI app as HTTP_X_USER */
    if (!conf->client.underscores_in_headers && memchr(h->name->base, '_', h->name->len) != NULL)
        return 1;
    /* a trusted proxy's list is kept, and the peer appended to it (forward.c) */
    if (trusted && h->name == &H2O_TOKEN_X_FORWARDED_FOR->buf)
        return 0;
    return is_listed(h->name, proxy_owned, SIZE_MAX) ||
           is_listed(h->name, (const char *const *)conf->auth.copy_headers, conf->auth.num_copy_headers);
}

/* Removes from `req` every header a client may not set (issue 7): a new list is
 * built in one pass, since deleting one by one is quadratic in the header count. */
void request_headers_scrub(h2o_req_t *req, const pd_config_t *conf)
{
    h2o_headers_t kept = {NULL, 0, 0};
    int trusted = request_client_trusted(req, conf);
    nominations_t n = {{NULL}, 0};
    size_t i;

    for (i = 0; i < req->headers.size && n.num < PD_MAX_CONNECTION_FIELDS; i++)
        if (req->headers.entries[i].name == &H2O_TOKEN_CONNECTION->buf)
            n.values[n.num++] = &req->headers.entries[i].value;
    h2o_vector_reserve(&req->pool, &kept, req->headers.size);
    for (i = 0; i < req->headers.size; i++)
        if (!is_dropped(&req->headers.entries[i], conf, trusted, &n))
            kept.entries[kept.size++] = req->headers.entries[i];
    req->headers = kept;
}
