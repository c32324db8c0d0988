/* request_check.c: what a request must pass before proxyd does any work for it: header limits, its head, method, target syntax. */
#include <string.h>
#include <strings.h>
#include "phr.h"
#include "proxyd.h"

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

/* An HTTP/1 request's head as sent, parsed again into `headers`: libh2o keeps
 * Content-Length and Transfer-Encoding out of req->headers and acts on one of them,
 * and keeps only the last Host field. 0, or -1 when it cannot be found. */
static int reparse_http1_head(h2o_req_t *req, struct phr_header *headers, size_t *num_headers, int *minor_version)
{
    const char *method, *path;
    size_t method_len, path_len, len;
    h2o_socket_t *sock;
    int head_len;

    if (req->conn->callbacks->get_socket == NULL || (sock = req->conn->callbacks->get_socket(req->conn)) == NULL)
        return -1;
    /* libh2o 2.2.5 reads a request from the start of the input buffer and leaves
     * it there, head then body, until the response is done; without a body, the
     * parser stops at the end of the head, whatever follows it */
    len = req->entity.base != NULL ? (size_t)(req->entity.base - sock->input->bytes) : sock->input->size;
    if (req->entity.base != NULL && (req->entity.base < sock->input->bytes || len > sock->input->size))
        return -1;
    head_len =
        phr_parse_request(sock->input->bytes, len, &method, &method_len, &path, &path_len, minor_version, headers, num_headers, 0);
    /* the very head libh2o parsed: the same request line, and up to the body */
    if (head_len <= 0 || !h2o_memis(method, method_len, req->input.method.base, req->input.method.len) ||
        !h2o_memis(path, path_len, req->input.path.base, req->input.path.len) ||
        (req->entity.base != NULL && (size_t)head_len != len))
        return -1;
    return 0;
}

static int is_field(const struct phr_header *h, const char *lower, size_t len)
{
    return h->name_len == len && strncasecmp(h->name, lower, len) == 0;
}

/* The fields of an HTTP/1 head that libh2o does not let through as sent: repeated
 * Host fields, which RFC 9112 §3.2 refuses (libh2o routes by the last, a proxy in
 * front may have by the first), then the body's framing (request smuggling). */
static int check_http1_head(h2o_req_t *req)
{
    struct phr_header headers[H2O_MAX_HEADERS];
    size_t num_headers = H2O_MAX_HEADERS, i, content_length_len = 0;
    const char *content_length = NULL;
    int minor_version, num_te = 0, num_host = 0;

    if (reparse_http1_head(req, headers, &num_headers, &minor_version) != 0)
        return reject(req, 400, "Bad Request", "request head cannot be checked");
    for (i = 0; i < num_headers; i++) {
        if (is_field(&headers[i], "host", 4)) {
            num_host++;
        } else if (is_field(&headers[i], "transfer-encoding", 17)) {
            num_te++;
        } else if (is_field(&headers[i], "content-length", 14)) {
            /* identical repeats may be folded into one (RFC 9112 §6.3 item 5) */
            if (content_length != NULL &&
                (content_length_len != headers[i].value_len || memcmp(content_length, headers[i].value, content_length_len) != 0))
                return reject(req, 400, "Bad Request", "conflicting Content-Length");
            content_length = headers[i].value;
            content_length_len = headers[i].value_len;
        }
    }
    if (num_host > 1)
        return reject(req, 400, "Bad Request", "repeated Host");
    if (req->entity.base == NULL)
        return 0; /* no body, no framing to disagree about */
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
 * after reading its body by HTTP/1's rules, so check_http1_head() never sees
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
    if (!http_is_token(req->input.method.base, req->input.method.len))
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
    return req->version < 0x200 ? check_http1_head(req) : 0;
}
