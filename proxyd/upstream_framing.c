/* upstream_framing.c: how an upstream response's body is framed, strictly as RFC
 * 9112 §6 says; anything ambiguous is refused rather than guessed at, since a
 * guess that differs from the client's is a desynchronised connection. */
#include <string.h>
#include <strings.h>
#include "upstream.h"

#define MAX_LENGTH_DIGITS 18 /* below 2^63 whatever the digits */

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

int header_name_is(const struct phr_header *h, const char *lower, size_t len)
{
    return h->name_len == len && strncasecmp(h->name, lower, len) == 0;
}

/* Calls `each` with every element of a comma-separated list, OWS trimmed, empty
 * elements skipped (RFC 9110 §5.6.1); stops at a non-zero return and returns it. */
static int each_element(const char *list, size_t len, int (*each)(void *data, const char *s, size_t n), void *data)
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

static int is_token(void *data, const char *s, size_t n)
{
    struct token_match *m = data;

    return n == m->len && strncasecmp(s, m->token, n) == 0;
}

int header_list_has(const char *list, size_t len, const char *token, size_t token_len)
{
    struct token_match m = {token, token_len};

    return each_element(list, len, is_token, &m);
}

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
                                pd_framing_t *framing)
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
            if ((ret = each_element(h->value, h->value_len, add_length, &length)) != 0)
                return ret == -2   ? "conflicting Content-Length values"
                       : ret == -3 ? "Content-Length too large"
                                   : "Content-Length is not a decimal number";
        } else if (header_name_is(h, "transfer-encoding", 17)) {
            has_coding = 1;
            each_element(h->value, h->value_len, add_coding, &coding);
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
