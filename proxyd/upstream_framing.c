/* upstream_framing.c: how an upstream response's body is framed, strictly as RFC
 * 9112 §6 says; anything ambiguous is refused rather than guessed at, since a
 * guess that differs from the client's is a desynchronised connection. */
#include <string.h>
#include <strings.h>
#include "upstream.h"

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

int header_name_is(const struct phr_header *h, const char *lower, size_t len)
{
    return h->name_len == len && strncasecmp(h->name, lower, len) == 0;
}

#define MAX_LENGTH_DIGITS 18 /* below 2^63 whatever the digits */

/* Content-Length: every element of every field one decimal, all the same. */
struct length_state {
    int seen;
    size_t value;
};

static int add_length(void *data, const char *s, size_t n)
{
    struct length_state *st = data;
    size_t i, value = 0;

    for (i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return -1;
    if (n > MAX_LENGTH_DIGITS)
        return -3;
    for (i = 0; i < n; i++)
        value = value * 10 + (size_t)(s[i] - '0');
    if (st->seen && st->value != value)
        return -2;
    st->seen = 1;
    st->value = value;
    return 0;
}

/* Transfer-Encoding: exactly one coding, chunked. Codings before it would reach
 * the client undecoded under a name that is hop-by-hop, so they are refused too. */
struct coding_state {
    size_t count;
    int chunked_last;
};

static int add_coding(void *data, const char *s, size_t n)
{
    struct coding_state *st = data;

    st->count++;
    st->chunked_last = n == 7 && strncasecmp(s, "chunked", 7) == 0;
    return 0;
}

/* An empty Content-Length value would otherwise read as "no element". */
static int is_blank(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!is_ows(s[i]))
            return 0;
    return 1;
}

const char *framing_of_response(int status, int is_head, const struct phr_header *headers, size_t num_headers,
                                pd_framing_t *framing, pd_connection_options_t *options)
{
    struct length_state length = {0, 0};
    struct coding_state coding = {0, 0};
    int has_length = 0, has_coding = 0, ret;
    size_t i;

    if (status < 100 || status > 599)
        return "status code out of range";
    for (i = 0; i < num_headers; i++) {
        const struct phr_header *h = &headers[i];
        if (h->name == NULL)
            return "folded header line (obs-fold)";
        if (h->name_len == 0)
            return "header field without a name";
        if (header_name_is(h, "content-length", 14)) {
            has_length = 1;
            if (is_blank(h->value, h->value_len))
                return "empty Content-Length";
            if ((ret = http_list_each(h->value, h->value_len, add_length, &length)) != 0)
                return ret == -2   ? "conflicting Content-Length values"
                       : ret == -3 ? "Content-Length too large"
                                   : "Content-Length is not a decimal number";
        } else if (header_name_is(h, "connection", 10)) {
            if (connection_options_add(options, h->value, h->value_len) != 0)
                return "more than 64 Connection options";
        } else if (header_name_is(h, "transfer-encoding", 17)) {
            has_coding = 1;
            http_list_each(h->value, h->value_len, add_coding, &coding);
        }
    }
    if (has_length && !length.seen)
        return "empty Content-Length";
    if (has_length && has_coding)
        return "both Transfer-Encoding and Content-Length";
    if (has_coding && (coding.count != 1 || !coding.chunked_last))
        return "Transfer-Encoding other than chunked";
    /* RFC 9112 §6.3: these have no body whatever the head says */
    if (is_head || status < 200 || status == 204 || status == 304) {
        framing->kind = PD_BODY_NONE;
        framing->length = has_length ? length.value : SIZE_MAX; /* a HEAD response's length is the client's to see */
        return NULL;
    }
    if (has_coding) {
        framing->kind = PD_BODY_CHUNKED;
    } else if (has_length) {
        framing->kind = PD_BODY_LENGTH;
        framing->length = length.value;
    } else {
        framing->kind = PD_BODY_CLOSE;
    }
    return NULL;
}
