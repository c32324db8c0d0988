/* request_target.c: an absolute-form request target made origin-form, its authority the request's host. */
#include <string.h>
#include <strings.h>
#include "proxyd.h"

/* The length of "http://" or "https://" (any case, RFC 3986 §3.1) at the start of `target`, or 0. */
static size_t scheme_len(h2o_iovec_t target)
{
    if (target.len >= 7 && strncasecmp(target.base, "http://", 7) == 0)
        return 7;
    if (target.len >= 8 && strncasecmp(target.base, "https://", 8) == 0)
        return 8;
    return 0;
}

/* RFC 9112 §3.2.2: a server must accept "GET http://chat.example/x HTTP/1.1" and take
 * the host from the target, ignoring Host. libh2o 2.2.5 keeps such a target as the
 * path and the Host field as the authority, so a request could be routed by one
 * host while the auth service is shown another. Here, before anything reads them,
 * req->input.authority becomes the target's and req->input.path its path and query:
 * routing, the auth service, X-Forwarded-Host and Location rewriting then all see
 * one host. Other targets are left for request_path_canonicalize() to judge.
 * 0, or -1 with `why` for an absolute-form target without a host or with userinfo
 * (RFC 9110 §4.2.4). */
int request_target_origin_form(h2o_req_t *req, const char **why)
{
    h2o_iovec_t target = req->input.path, authority, rest;
    size_t skip = scheme_len(target), i;

    if (skip == 0)
        return 0;
    for (i = skip; i < target.len && target.base[i] != '/' && target.base[i] != '?'; i++)
        ;
    authority = h2o_iovec_init(target.base + skip, i - skip);
    rest = h2o_iovec_init(target.base + i, target.len - i);
    if (authority.len == 0 || memchr(authority.base, '@', authority.len) != NULL) {
        *why = authority.len == 0 ? "absolute-form request target without a host" : "user information in the request target";
        return -1;
    }
    req->input.authority = h2o_strdup(&req->pool, authority.base, authority.len);
    /* "http://chat.example" and "http://chat.example?x" ask for the root (RFC 9112 §3.2.1) */
    if (rest.len == 0 || rest.base[0] == '?')
        req->input.path = h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT("/")), rest);
    else
        req->input.path = h2o_strdup(&req->pool, rest.base, rest.len);
    return 0;
}
