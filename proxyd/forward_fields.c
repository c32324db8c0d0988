/* forward_fields.c: what proxyd changes in a message's head between client and
 * service, both ways: the request line and fields sent upstream, the fields of the
 * answer relayed, and the WebSocket proof a 101 must carry. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "upstream.h"

static void append(char **dst, const char *s, size_t len)
{
    memcpy(*dst, s, len);
    *dst += len;
}

#define APPEND_LIT(dst, lit) append(dst, lit, sizeof(lit) - 1)

static void append_field(char **dst, const char *name, size_t name_len, h2o_iovec_t value)
{
    append(dst, name, name_len);
    APPEND_LIT(dst, ": ");
    append(dst, value.base, value.len);
    APPEND_LIT(dst, "\r\n");
}

static int has_request_body(h2o_req_t *req)
{
    return req->entity.base != NULL || h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")) ||
           h2o_memis(req->method.base, req->method.len, H2O_STRLIT("PUT")) ||
           h2o_memis(req->method.base, req->method.len, H2O_STRLIT("PATCH"));
}

static h2o_iovec_t upstream_host(h2o_req_t *req, const pd_service_t *service)
{
    h2o_iovec_t host = request_client_host(req);

    return service->preserve_host && host.base != NULL ? host : service->upstream.authority;
}

/* Request line and fields, in one pass: what a client may not set, and what its
 * Connection named, was removed by request_headers_scrub() before the auth check. */
h2o_iovec_t forward_request_head(h2o_req_t *req, const pd_route_t *route, int upgrade)
{
    const pd_service_t *service = route->service;
    h2o_iovec_t host = upstream_host(req, service), xff = request_client_forwarded_for(req);
    const h2o_url_scheme_t *scheme = req->input.scheme;
    char length[32], *buf, *dst;
    size_t i, size;

    size = req->method.len + service->upstream.path.len + route->rest.len + route->query.len + host.len + xff.len + 256 +
           req->upgrade.len;
    for (i = 0; i < req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        size += h->name->len + h->value.len + 4;
    }
    dst = buf = h2o_mem_alloc_pool(&req->pool, size);
    append(&dst, req->method.base, req->method.len);
    APPEND_LIT(&dst, " ");
    append(&dst, service->upstream.path.base, service->upstream.path.len);
    append(&dst, route->rest.base, route->rest.len);
    append(&dst, route->query.base, route->query.len);
    APPEND_LIT(&dst, " HTTP/1.1\r\n");
    append_field(&dst, H2O_STRLIT("host"), host);
    for (i = 0; i < req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (http_field_is_hop_by_hop(h->name->base, h->name->len) || h->name == &H2O_TOKEN_X_FORWARDED_FOR->buf)
            continue;
        append_field(&dst, h->orig_name != NULL ? h->orig_name : h->name->base, h->name->len, h->value);
    }
    append_field(&dst, H2O_STRLIT("x-forwarded-for"), xff);
    append_field(&dst, H2O_STRLIT("x-forwarded-proto"), scheme->name);
    if (upgrade) {
        APPEND_LIT(&dst, "connection: upgrade\r\n");
        append_field(&dst, H2O_STRLIT("upgrade"), req->upgrade);
    }
    if (has_request_body(req))
        append_field(&dst, H2O_STRLIT("content-length"),
                     h2o_iovec_init(length, (size_t)snprintf(length, sizeof(length), "%zu", req->entity.len)));
    APPEND_LIT(&dst, "\r\n");
    return h2o_iovec_init(buf, (size_t)(dst - buf));
}

/* A Location under the service's URL points at the same place through proxyd,
 * as the client addressed it: under `prefix`, "/<name>/" or "/" for a request
 * routed by Host. */
static h2o_iovec_t rewrite_location(h2o_req_t *req, const pd_service_t *service, h2o_iovec_t prefix, h2o_iovec_t value)
{
    const char *match = service->buf; /* "<scheme>://<authority><base>/" */
    size_t match_len = strlen(match);
    h2o_iovec_t host = request_client_host(req), rest;

    if (value.len < match_len || strncasecmp(value.base, match, match_len) != 0)
        return h2o_strdup(&req->pool, value.base, value.len);
    rest = h2o_iovec_init(value.base + match_len, value.len - match_len);
    if (host.base == NULL)
        return h2o_concat(&req->pool, prefix, rest);
    return h2o_concat(&req->pool, req->input.scheme->name, h2o_iovec_init(H2O_STRLIT("://")), host, prefix, rest);
}

/* The origin's fields minus the hop-by-hop ones; libh2o writes its own Date and Server. */
void forward_response_fields(h2o_req_t *req, const pd_service_t *service, h2o_iovec_t prefix, const pd_exchange_head_t *head)
{
    size_t i;

    for (i = 0; i < head->num_headers; i++) {
        const struct phr_header *h = &head->headers[i];
        h2o_iovec_t name, value;
        if (http_field_is_hop_by_hop(h->name, h->name_len) || connection_options_has(head->connection, h->name, h->name_len) ||
            header_name_is(h, "date", 4) || header_name_is(h, "server", 6))
            continue;
        if (header_name_is(h, "location", 8))
            value = rewrite_location(req, service, prefix, h2o_iovec_init(h->value, h->value_len));
        else
            value = h2o_strdup(&req->pool, h->value, h->value_len);
        name = h2o_strdup(&req->pool, h->name, h->name_len);
        h2o_strtolower(name.base, name.len);
        h2o_add_header_by_str(&req->pool, &req->res.headers, name.base, name.len, 1, NULL, value.base, value.len);
    }
}

/* A WebSocket handshake's expected Sec-WebSocket-Accept into `accept` (from the
 * request's pool); 0 for another upgrade, -1 for a handshake without a valid key. */
int forward_expected_accept(h2o_req_t *req, h2o_iovec_t *accept)
{
    ssize_t i = -1, found = -1;
    char buf[PD_WEBSOCKET_ACCEPT_SIZE];

    *accept = h2o_iovec_init(NULL, 0);
    if (!h2o_lcstris(req->upgrade.base, req->upgrade.len, H2O_STRLIT("websocket")))
        return 0;
    while ((i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("sec-websocket-key"), i)) != -1) {
        if (found != -1)
            return -1; /* two keys: which one the service answers is anyone's guess */
        found = i;
    }
    if (found == -1 || websocket_accept(req->headers.entries[found].value, buf) != 0)
        return -1;
    *accept = h2o_strdup(&req->pool, buf, strlen(buf));
    return 0;
}
