/* request_headers.c: the client's headers as a service may see them: what only proxyd or the auth service sets is removed, in one
 * pass. */
#include <string.h>
#include "proxyd.h"

/* Compares a header name the way CGI, WSGI, PHP and Rack see it, `lower` being
 * one of the configured lists' lower-case names. */
static int is_listed(const h2o_iovec_t *name, const char *const *list, size_t count)
{
    size_t i;

    for (i = 0; i < count; i++)
        if (http_field_same_cgi_name(name->base, name->len, list[i]))
            return 1;
    return 0;
}

static int is_dropped(const h2o_header_t *h, const pd_config_t *conf, int trusted)
{
    int has_underscore = memchr(h->name->base, '_', h->name->len) != NULL;

    /* nginx's underscores_in_headers off: X_User would reach a CGI app as HTTP_X_USER */
    if (!conf->client.underscores_in_headers && has_underscore)
        return 1;
    /* the auth service is shown a request_headers field only as listed (never with
     * '_'); X_Api_Key next to X-Api-Key would reach a CGI app as the same variable */
    if (has_underscore && is_listed(h->name, (const char *const *)conf->auth.request_headers, conf->auth.num_request_headers))
        return 1;
    /* a trusted proxy's list is kept, and the peer appended to it (forward.c) */
    if (trusted && h->name == &H2O_TOKEN_X_FORWARDED_FOR->buf)
        return 0;
    return http_field_is_proxy_owned(h->name->base, h->name->len) ||
           is_listed(h->name, (const char *const *)conf->auth.copy_headers, conf->auth.num_copy_headers);
}

/* The options of the client's Connection fields; -1 for more than a client needs. */
static int client_connection_options(h2o_req_t *req, pd_connection_options_t *options)
{
    ssize_t i = -1;

    options->num = 0;
    while ((i = h2o_find_header(&req->headers, H2O_TOKEN_CONNECTION, i)) != -1)
        if (connection_options_add(options, req->headers.entries[i].value.base, req->headers.entries[i].value.len) != 0)
            return -1;
    return 0;
}

/* Removes from `req` every header a client may not set (issue 7), and those its
 * Connection names (hop-by-hop, RFC 9110 §7.6.1), before proxyd and the auth
 * service add theirs, which a client must not be able to name away. A new list is
 * built in one pass, since deleting one by one is quadratic in the header count.
 * -1 when the Connection fields name more options than a client needs. */
int request_headers_scrub(h2o_req_t *req, const pd_config_t *conf)
{
    h2o_headers_t kept = {NULL, 0, 0};
    int trusted = request_client_trusted(req, conf);
    pd_connection_options_t options;
    size_t i;

    if (client_connection_options(req, &options) != 0)
        return -1;
    h2o_vector_reserve(&req->pool, &kept, req->headers.size);
    for (i = 0; i < req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (is_dropped(h, conf, trusted) || connection_options_has(&options, h->name->base, h->name->len))
            continue;
        kept.entries[kept.size++] = *h;
    }
    req->headers = kept;
    return 0;
}
