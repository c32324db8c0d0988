/* http_fields.c: facts about header fields: the hop-by-hop ones, the ones only proxyd
 * sets, values that are comma-separated lists (RFC 9110 §5.6.1), and the options a
 * Connection field names: each such field is hop-by-hop. */
#include <string.h>
#include <strings.h>
#include "proxyd.h"

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Hop-by-hop fields (RFC 9110 §7.6.1), and the framing and routing ones proxyd
 * writes itself (Host, Content-Length): never copied from one message to another.
 * By length first, since this runs for every field of every request and response. */
int http_field_is_hop_by_hop(const char *name, size_t len)
{
#define IS(lit) (len == sizeof(lit) - 1 && strncasecmp(name, lit, len) == 0)
    switch (len) {
    case 2:
        return IS("te");
    case 4:
        return IS("host");
    case 7:
        return IS("upgrade") || IS("trailer");
    case 10:
        return IS("connection") || IS("keep-alive");
    case 14:
        return IS("content-length");
    case 16:
        return IS("proxy-connection");
    case 17:
        return IS("transfer-encoding");
    case 18:
        return IS("proxy-authenticate");
    case 19:
        return IS("proxy-authorization");
    default:
        return 0;
    }
#undef IS
}

/* Set by proxyd itself (or by the auth service's answer): a client's copy would be
 * trusted upstream. X-Forwarded-Method/-Uri/-Service/-Proto are what proxyd shows the
 * auth service; a service that is itself an auth service must not be fooled by them.
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
int http_field_same_cgi_name(const char *name, size_t len, const char *lower)
{
    size_t i;

    for (i = 0; i < len; i++) {
        char c = name[i];
        if (c == '_')
            c = '-';
        else if (c >= 'A' && c <= 'Z')
            c += 'a' - 'A';
        if (lower[i] == '\0' || (lower[i] == '_' ? '-' : lower[i]) != c)
            return 0;
    }
    return lower[i] == '\0';
}

/* Fields only proxyd sets (proxy_owned), however a client spells them. Every such
 * name begins with f, p or x: most fields (Accept, Cookie, User-Agent) are passed
 * over without a comparison. */
int http_field_is_proxy_owned(const char *name, size_t len)
{
    char c = len != 0 ? (char)(name[0] | 0x20) : '\0';
    size_t i;

    if (c != 'f' && c != 'p' && c != 'x')
        return 0;
    for (i = 0; proxy_owned[i] != NULL; i++)
        if (http_field_same_cgi_name(name, len, proxy_owned[i]))
            return 1;
    return 0;
}

/* Every field of `headers` named `name` (lower case) as one value, joined with
 * `separator` as RFC 9110 §5.3 combines them; {NULL, 0} when there is none. One
 * allocation from `pool`: joining field by field copied the value so far each
 * time, and 99 HPACK-indexed Cookie fields of 650 bytes made 3 MB of one 64 KB
 * request. Linear in the fields, which request_check() bounded. */
h2o_iovec_t http_fields_join(h2o_mem_pool_t *pool, const h2o_headers_t *headers, const char *name, size_t len,
                             h2o_iovec_t separator)
{
    ssize_t i, first = h2o_find_header_by_str(headers, name, len, -1);
    size_t total = 0, num = 0;
    h2o_iovec_t joined;

    for (i = first; i != -1; i = h2o_find_header_by_str(headers, name, len, i)) {
        total += headers->entries[i].value.len;
        num++;
    }
    if (num < 2)
        return num == 0 ? h2o_iovec_init(NULL, 0) : headers->entries[first].value;
    joined = h2o_iovec_init(h2o_mem_alloc_pool(pool, total + (num - 1) * separator.len), 0);
    for (i = first; i != -1; i = h2o_find_header_by_str(headers, name, len, i)) {
        h2o_iovec_t value = headers->entries[i].value;
        if (i != first) {
            memcpy(joined.base + joined.len, separator.base, separator.len);
            joined.len += separator.len;
        }
        memcpy(joined.base + joined.len, value.base, value.len);
        joined.len += value.len;
    }
    return joined;
}

/* RFC 9110 §5.6.2: a token, as a method or a field name must be. */
int http_is_token(const char *s, size_t len)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    size_t i;

    if (len == 0)
        return 0;
    for (i = 0; i < len; i++)
        if (s[i] == '\0' || strchr(tchar, s[i]) == NULL)
            return 0;
    return 1;
}

/* Calls `each` with every element of a comma-separated list, OWS trimmed, empty
 * elements skipped; stops at a non-zero return and returns it. */
int http_list_each(const char *list, size_t len, int (*each)(void *data, const char *s, size_t n), void *data)
{
    size_t i = 0;

    while (i < len) {
        size_t start, end;
        int ret;
        while (i < len && (is_ows(list[i]) || list[i] == ','))
            i++;
        start = i;
        while (i < len && list[i] != ',')
            i++;
        end = i;
        while (end > start && is_ows(list[end - 1]))
            end--;
        if (end > start && (ret = each(data, list + start, end - start)) != 0)
            return ret;
    }
    return 0;
}

struct token_match {
    const char *token;
    size_t len;
};

static int is_match(void *data, const char *s, size_t n)
{
    struct token_match *m = data;

    return n == m->len && strncasecmp(s, m->token, n) == 0;
}

int header_list_has(const char *list, size_t len, const char *token, size_t token_len)
{
    struct token_match m = {token, token_len};

    return http_list_each(list, len, is_match, &m);
}

static int add_option(void *data, const char *s, size_t n)
{
    pd_connection_options_t *o = data;

    if (o->num == PD_MAX_CONNECTION_OPTIONS)
        return -1;
    o->names[o->num++] = h2o_iovec_init(s, n);
    return 0;
}

/* Adds the options one Connection field names; -1 past PD_MAX_CONNECTION_OPTIONS,
 * which keeps the check of every other field against them bounded. */
int connection_options_add(pd_connection_options_t *o, const char *value, size_t len)
{
    return http_list_each(value, len, add_option, o);
}

int connection_options_has(const pd_connection_options_t *o, const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < o->num; i++)
        if (o->names[i].len == len && strncasecmp(o->names[i].base, name, len) == 0)
            return 1;
    return 0;
}
