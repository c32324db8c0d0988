/* request_check.c: what a request must pass before proxyd does any work for it: header limits, framing, method and target syntax.
 */
#include <string.h>
#include <strings.h>
#include "phr.h"
#include "proxyd.h"

/* RFC 9110 §5.6.2: a method is a token. */
static int is_token(h2o_iovec_t s)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    size_t i;

    if (s.len == 0)
        return 0;
    for (i = 0; i < s.len; i++)
        if (s.base[i] == '\0' || strchr(tchar, s.base[i]) == NULL)
            return 0;
    return 1;
}

/* An HTTP/2 :path may carry what an HTTP/1 request line cannot; the upstream
 * request line is HTTP/1, so a space or control character would split it. */
static int has_space_or_control(h2o_iovec_t s)
{
    size_t i;

    for (i = 0; i < s.len; i++)
        if ((unsigned char)s.base[i] <= 0x20 || s.base[i] == 0x7f)
            return 1;
    return 0;
}

static int reject(h2o_req_t *req, int status, const char *reason, const char *message)
{
    /* the bytes after a request we refuse are not trusted to be the next request (RFC 9112 §6.3, §11.2) */
    req->http1_is_persistent = 0;
    reply_error(req, status, reason, message, NULL);
    return -1;
}

/* Issue 7: libh2o 2.2.5 applies no limit to HTTP/2 headers after HPACK decoding,
 * and its proxy merges repeated Cookie headers in quadratic time: the limits are
 * enforced here, in one pass, before anything else looks at the headers. */
static int check_headers(h2o_req_t *req, const pd_config_t *conf)
{
    size_t i, bytes = 0;

    if (req->headers.size > conf->client.max_headers)
        return reject(req, 431, "Request Header Fields Too Large", "too many header fields");
    for (i = 0; i < req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        /* picohttpparser reports an obs-folded line (RFC 9112 §5.2) as a field without a name */
        if (h->name->len == 0)
            return reject(req, 400, "Bad Request", "folded or nameless header field");
        bytes += h->name->len + h->value.len;
    }
    if (bytes > conf->client.max_header_bytes)
        return reject(req, 431, "Request Header Fields Too Large", "header fields too large");
    return 0;
}

/* Content-Length and Transfer-Encoding of an HTTP/1 request as sent: libh2o keeps
 * them out of req->headers and acts on one of them, so the head is read again. */
static int check_http1_framing(h2o_req_t *req)
{
    struct phr_header headers[H2O_MAX_HEADERS];
    size_t num_headers = H2O_MAX_HEADERS, i, method_len, path_len, head_len;
    const char *method, *path, *content_length = NULL;
    size_t content_length_len = 0;
    int minor_version, num_te = 0;
    h2o_socket_t *sock;

    if (req->version >= 0x200 || req->entity.base == NULL)
        return 0; /* no body, no framing to disagree about */
    if (req->conn->callbacks->get_socket == NULL || (sock = req->conn->callbacks->get_socket(req->conn)) == NULL)
        return reject(req, 400, "Bad Request", "request framing cannot be checked");
    /* libh2o 2.2.5 reads a request from the start of the input buffer and leaves
     * it there, head then body, until the response is done */
    head_len = req->entity.base - sock->input->bytes;
    if (req->entity.base < sock->input->bytes || head_len > sock->input->size ||
        phr_parse_request(sock->input->bytes, head_len, &method, &method_len, &path, &path_len, &minor_version, headers,
                          &num_headers, 0) != (int)head_len)
        return reject(req, 400, "Bad Request", "request framing cannot be checked");
    for (i = 0; i < num_headers; i++) {
        if (headers[i].name_len == 17 && strncasecmp(headers[i].name, "transfer-encoding", 17) == 0) {
            num_te++;
        } else if (headers[i].name_len == 14 && strncasecmp(headers[i].name, "content-length", 14) == 0) {
            /* identical repeats may be folded into one (RFC 9112 §6.3 item 5) */
            if (content_length != NULL &&
                (content_length_len != headers[i].value_len || memcmp(content_length, headers[i].value, content_length_len) != 0))
                return reject(req, 400, "Bad Request", "conflicting Content-Length");
            content_length = headers[i].value;
            content_length_len = headers[i].value_len;
        }
    }
    /* RFC 9112 §6.1: both at once is a smuggling attempt; the connection is closed */
    if (num_te != 0 && content_length != NULL)
        return reject(req, 400, "Bad Request", "both Transfer-Encoding and Content-Length");
    if (num_te > 1)
        return reject(req, 400, "Bad Request", "repeated Transfer-Encoding");
    /* RFC 9112 §6.1: an HTTP/1.0 peer cannot mean chunked; its framing is faulty */
    if (num_te != 0 && minor_version == 0)
        return reject(req, 400, "Bad Request", "Transfer-Encoding in an HTTP/1.0 request");
    return 0;
}

/* libh2o 2.2.5 turns an HTTP/1 request with "Upgrade: h2c" into HTTP/2 stream 1
 * after reading its body by HTTP/1's rules, so check_http1_framing() never sees
 * it (h2c smuggling). It still carries its HTTP2-Settings header. Without a body
 * there is no framing to disagree about; with one, it is refused. */
static int is_h2c_upgrade_with_body(h2o_req_t *req)
{
    return req->version >= 0x200 && req->entity.base != NULL && h2o_find_header(&req->headers, H2O_TOKEN_HTTP2_SETTINGS, -1) != -1;
}

/* The auth service is shown one Authorization; a service that read another would
 * act on a credential nobody checked. */
static int has_repeated_authorization(h2o_req_t *req)
{
    ssize_t first = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);

    return first != -1 && h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, first) != -1;
}

/* 0 when `req` may go on; otherwise it has been answered (400, 414 or 431) and -1 is returned. */
int request_check(h2o_req_t *req, const pd_config_t *conf)
{
    /* first: the path's canonical form takes memory in proportion to its length */
    if (req->input.path.len > conf->client.max_target_bytes)
        return reject(req, 414, "URI Too Long", "request target too long");
    if (check_headers(req, conf) != 0)
        return -1;
    if (!is_token(req->input.method))
        return reject(req, 400, "Bad Request", "invalid method");
    if (has_space_or_control(req->input.path))
        return reject(req, 400, "Bad Request", "space or control character in the request target");
    /* RFC 9112 §3.2: a request target has no fragment; the auth service and the
     * service could disagree on where the query ends */
    if (memchr(req->input.path.base, '#', req->input.path.len) != NULL)
        return reject(req, 400, "Bad Request", "fragment in the request target");
    if (has_repeated_authorization(req))
        return reject(req, 400, "Bad Request", "repeated Authorization");
    if (is_h2c_upgrade_with_body(req))
        return reject(req, 400, "Bad Request", "request body in an h2c upgrade");
    return check_http1_framing(req);
}
