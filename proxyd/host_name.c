/* host_name.c: host names: those a service claims, checked and put in one form, and the name a request's Host routes by. */
#include <string.h>
#include "proxyd.h"

#define LABEL_MAX 63 /* RFC 1035 §2.3.4 */

static int is_label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* Checks the label out[start..end) of a name being copied; NULL when it is good. */
static const char *check_label(const char *out, size_t start, size_t end)
{
    if (end == start)
        return "an empty label";
    if (end - start > LABEL_MAX)
        return "a label longer than 63 characters";
    if (out[start] == '-' || out[end - 1] == '-')
        return "a label that starts or ends with '-'";
    return NULL;
}

/* Copies `text[0..len)` into `out` (PD_HOST_NAME_MAX + 1 bytes) in the one form
 * names are compared in: lower case, without the trailing dot that makes a DNS name
 * absolute. A name is labels of 1 to 63 letters, digits and '-', not at either end
 * of a label (RFC 1123 §2.1), at most 253 characters; an IPv4 address passes as one.
 * With `allow_wildcard`, the first label may be "*" (as a whole): "*.chat.example".
 * Returns the length, or -1 with `why`. One pass; `len` is checked first, so a huge
 * input costs nothing. */
int host_name_normalize(const char *text, size_t len, int allow_wildcard, char *out, const char **why)
{
    size_t i, start = 0, n = 0;

    if (len != 0 && text[len - 1] == '.')
        len--;
    if (len == 0 || len > PD_HOST_NAME_MAX) {
        *why = len == 0 ? "an empty name" : "longer than 253 characters";
        return -1;
    }
    if (allow_wildcard && len >= 2 && text[0] == '*' && text[1] == '.') {
        memcpy(out, "*.", 2);
        i = start = n = 2;
    } else {
        i = 0;
    }
    for (; i < len; i++) {
        char c = text[i] >= 'A' && text[i] <= 'Z' ? (char)(text[i] - 'A' + 'a') : text[i];
        if (c == '.') {
            if ((*why = check_label(out, start, n)) != NULL)
                return -1;
            start = n + 1;
        } else if (!is_label_char(c)) {
            *why = allow_wildcard ? "use letters, digits, '-' and '.', and '*' only as the whole first label"
                                  : "use letters, digits, '-' and '.'";
            return -1;
        }
        out[n++] = c;
    }
    if ((*why = check_label(out, start, n)) != NULL)
        return -1;
    out[n] = '\0';
    return (int)n;
}

/* RFC 3986 §3.2.2: what a reg-name, or the inside of an IP-literal's brackets (with
 * ':'), may hold: unreserved and sub-delims. Never '@', '/', '?', '#', '[' or ']': a
 * host holding one is read as another host by URL parsers. Nor the pct-encoded
 * form RFC 3986 allows: no name needs it, and WHATWG URL parsers decode it
 * ("%63hat.example" is chat.example to them, not to the routing). */
static int is_host_char(char c, int in_brackets)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("-._~!$&'()*+,;=", c) != NULL) || (in_brackets && c == ':');
}

/* Splits an authority into host and port ("" when none): -1 unless it is
 * host [":" port] (RFC 3986 §3.2.2, §3.2.3), the host a reg-name or an IP-literal. */
static int split_authority(h2o_iovec_t authority, h2o_iovec_t *host, h2o_iovec_t *port)
{
    int in_brackets = authority.len != 0 && authority.base[0] == '[';
    size_t i = in_brackets;

    for (; i < authority.len && is_host_char(authority.base[i], in_brackets); i++)
        ;
    if (in_brackets && (i == authority.len || authority.base[i++] != ']'))
        return -1;
    *host = h2o_iovec_init(authority.base, i);
    if (i < authority.len && authority.base[i++] != ':')
        return -1;
    *port = h2o_iovec_init(authority.base + i, authority.len - i);
    for (; i < authority.len; i++) /* port = *DIGIT */
        if (authority.base[i] < '0' || authority.base[i] > '9')
            return -1;
    return host->len != 0 || authority.len == 0 ? 0 : -1;
}

/* The name a request is routed by, from its authority ("Chat.Example:8080",
 * "chat.example.", "[::1]:8080"), into `out` (PD_HOST_NAME_MAX + 1 bytes): the host
 * in host_name_normalize's form, and its port in `port` ("" when none). 0 when there
 * is none to route by: no authority, an IPv6 literal (services cannot claim one), or
 * a host that is no valid name (a '*' among them: "*.chat.example" is not a name a
 * client may ask for). -1 when the authority is not host[:port] at all. Whitespace
 * around it, which libh2o 2.2.5 keeps, is not part of it (RFC 9110 §5.5). Linear in
 * the authority's length. */
int host_name_of_authority(h2o_iovec_t authority, char *out, h2o_iovec_t *port)
{
    h2o_iovec_t host;
    const char *why;
    int n;

    *port = h2o_iovec_init("", 0);
    if (authority.base == NULL)
        return 0;
    authority = h2o_str_stripws(authority.base, authority.len);
    if (split_authority(authority, &host, port) != 0)
        return -1;
    if (host.len == 0 || host.base[0] == '[')
        return 0;
    n = host_name_normalize(host.base, host.len, 0, out, &why);
    return n < 0 ? 0 : n;
}
