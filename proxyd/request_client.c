/* request_client.c: who the client is, as forwarding headers and the auth service are told. */
#include <string.h>
#include <arpa/inet.h>
#include "proxyd.h"

/* The client's Host, or {NULL, 0}: without a Host header (HTTP/1.0) libh2o fills
 * in the host configuration's name, which is not the client's. */
h2o_iovec_t request_client_host(h2o_req_t *req)
{
    if (req->input.authority.base == req->hostconf->authority.hostport.base)
        return h2o_iovec_init(NULL, 0);
    return req->input.authority;
}

/* "a.b.c.d" into buf (16 bytes at least): inet_ntop costs a tenth of a request. */
static size_t format_ipv4(const unsigned char *a, char *buf)
{
    char *p = buf;
    int i;

    for (i = 0; i < 4; i++) {
        unsigned v = a[i];
        if (v >= 100)
            *p++ = (char)('0' + v / 100);
        if (v >= 10)
            *p++ = (char)('0' + v / 10 % 10);
        *p++ = (char)('0' + v % 10);
        *p++ = i < 3 ? '.' : '\0';
    }
    return (size_t)(p - buf - 1);
}

/* The client's address as text in `buf` (INET6_ADDRSTRLEN bytes), or {NULL, 0}. */
h2o_iovec_t request_client_address(h2o_req_t *req, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sslen = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);

    if (sslen == 0)
        return h2o_iovec_init(NULL, 0);
    if (ss.ss_family == AF_INET && len >= INET_ADDRSTRLEN)
        return h2o_iovec_init(buf, format_ipv4((const unsigned char *)&((struct sockaddr_in *)&ss)->sin_addr, buf));
    if (ss.ss_family != AF_INET6 || inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, buf, len) == NULL)
        return h2o_iovec_init(NULL, 0);
    return h2o_iovec_init(buf, strlen(buf));
}

/* Whether the peer is one of the settings' trusted_proxies: its X-Forwarded-For is kept. */
int request_client_trusted(h2o_req_t *req, const pd_config_t *conf)
{
    struct sockaddr_storage ss;
    size_t i;

    if (conf->num_trusted_proxies == 0 || req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss) == 0)
        return 0;
    for (i = 0; i < conf->num_trusted_proxies; i++)
        if (config_cidr_match(&conf->trusted_proxies[i], (struct sockaddr *)&ss))
            return 1;
    return 0;
}

/* X-Forwarded-For as the service and the auth service are told: the trusted
 * proxies' list (request_headers_scrub() kept it only from one of them), then the
 * peer. In req->pool. */
h2o_iovec_t request_client_forwarded_for(h2o_req_t *req)
{
    char buf[INET6_ADDRSTRLEN];
    h2o_iovec_t peer = request_client_address(req, buf, sizeof(buf)), list;

    if (peer.base == NULL)
        peer = h2o_iovec_init(H2O_STRLIT("unknown"));
    list = http_fields_join(&req->pool, &req->headers, H2O_STRLIT("x-forwarded-for"), h2o_iovec_init(H2O_STRLIT(", ")));
    if (list.base == NULL)
        return h2o_strdup(&req->pool, peer.base, peer.len);
    return h2o_concat(&req->pool, list, h2o_iovec_init(H2O_STRLIT(", ")), peer);
}
