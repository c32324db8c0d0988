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
