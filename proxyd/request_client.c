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

/* The client's address as text in `buf`, or {NULL, 0}. */
h2o_iovec_t request_client_address(h2o_req_t *req, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sslen = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    const void *addr = ss.ss_family == AF_INET6 ? (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
                                                : (void *)&((struct sockaddr_in *)&ss)->sin_addr;

    if (sslen == 0 || inet_ntop(ss.ss_family, addr, buf, len) == NULL)
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
