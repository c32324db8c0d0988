/* t/unit/framing.c: how upstream responses are framed, and which heads are refused (upstream_framing.c). */
#include <stdlib.h>
#include <string.h>
#include "upstream.h"
#include "tap.h"

/* Parses "Name: value\r\n..." with picohttpparser as the engine does, then frames it. */
static const char *frame(int status, int is_head, const char *fields, pd_framing_t *framing)
{
    char head[2048];
    struct phr_header headers[PD_MAX_RESPONSE_HEADERS + 1];
    size_t num_headers = PD_MAX_RESPONSE_HEADERS + 1, msg_len;
    const char *msg;
    int minor, parsed_status, len;
    pd_connection_options_t options;

    snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\n%s\r\n", status, fields);
    len = phr_parse_response(head, strlen(head), &minor, &parsed_status, &msg, &msg_len, headers, &num_headers, 0);
    if (len <= 0)
        return "picohttpparser refused it";
    memset(framing, 0, sizeof(*framing));
    memset(&options, 0, sizeof(options));
    return framing_of_response(parsed_status, is_head, headers, num_headers, framing, &options);
}

static void expect_length(const char *fields, size_t length)
{
    pd_framing_t f;
    const char *why = frame(200, 0, fields, &f);

    ok(why == NULL && f.kind == PD_BODY_LENGTH && f.length == length, "%s: a body of %zu bytes (%s)", fields, length,
       why != NULL ? why : "ok");
}

static void expect_refused(const char *fields, const char *reason)
{
    pd_framing_t f;
    const char *why = frame(200, 0, fields, &f);

    ok(why != NULL && strstr(why, reason) != NULL, "%s: refused, '%s' (%s)", fields, reason, why != NULL ? why : "accepted");
}

static void test_content_length(void)
{
    expect_length("Content-Length: 5\r\n", 5);
    expect_length("Content-Length: 0\r\n", 0);
    expect_length("Content-Length: 5, 5\r\n", 5);
    expect_length("Content-Length: 5\r\nContent-Length: 5\r\n", 5);
    expect_length("Content-Length: 5 \r\n", 5);
    expect_length("Content-Length: 123456789012345678\r\n", 123456789012345678ULL);
    expect_refused("Content-Length: -1\r\n", "not a decimal");
    expect_refused("Content-Length: +5\r\n", "not a decimal");
    expect_refused("Content-Length: 5x\r\n", "not a decimal");
    expect_refused("Content-Length: 0x5\r\n", "not a decimal");
    expect_refused("Content-Length: 5 5\r\n", "not a decimal");
    expect_refused("Content-Length: \r\n", "empty");
    expect_refused("Content-Length: ,\r\n", "empty");
    expect_refused("Content-Length: 5, 6\r\n", "conflicting");
    expect_refused("Content-Length: 5\r\nContent-Length: 6\r\n", "conflicting");
    expect_refused("Content-Length: 99999999999999999999\r\n", "too large");
    expect_refused("Content-Length: 1234567890123456789\r\n", "too large");
}

static void test_transfer_encoding(void)
{
    pd_framing_t f;
    const char *ok_codings[] = {"chunked", "Chunked", "CHUNKED", "chunked ", " chunked"};
    const char *bad_codings[] = {"gzip, chunked", "chunked, chunked", "identity", "chunked, gzip", "x", "chunked;q=1", ""};
    char fields[128];
    size_t i;

    for (i = 0; i < sizeof(ok_codings) / sizeof(ok_codings[0]); i++) {
        snprintf(fields, sizeof(fields), "Transfer-Encoding: %s\r\n", ok_codings[i]);
        ok(frame(200, 0, fields, &f) == NULL && f.kind == PD_BODY_CHUNKED, "Transfer-Encoding '%s' is chunked", ok_codings[i]);
    }
    for (i = 0; i < sizeof(bad_codings) / sizeof(bad_codings[0]); i++) {
        snprintf(fields, sizeof(fields), "Transfer-Encoding: %s\r\n", bad_codings[i]);
        expect_refused(fields, "other than chunked");
    }
    expect_refused("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "other than chunked");
    expect_refused("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "both");
    expect_refused("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "both");
}

static void test_no_body(void)
{
    pd_framing_t f;

    ok(frame(204, 0, "Content-Length: 5\r\n", &f) == NULL && f.kind == PD_BODY_NONE, "204 has no body");
    ok(frame(304, 0, "Transfer-Encoding: chunked\r\n", &f) == NULL && f.kind == PD_BODY_NONE, "304 has no body");
    ok(frame(200, 1, "Content-Length: 5\r\n", &f) == NULL && f.kind == PD_BODY_NONE && f.length == 5,
       "a HEAD response has no body, and keeps its length");
    ok(frame(200, 1, "", &f) == NULL && f.kind == PD_BODY_NONE && f.length == SIZE_MAX, "a HEAD response without a length");
    ok(frame(101, 0, "Upgrade: websocket\r\n", &f) == NULL && f.kind == PD_BODY_NONE, "101 has no body");
    ok(frame(200, 0, "X: y\r\n", &f) == NULL && f.kind == PD_BODY_CLOSE, "neither length nor chunked: until the close");
    ok(frame(200, 1, "Content-Length: -1\r\n", &f) != NULL, "a HEAD response's bad length is still refused");
}

static void test_heads(void)
{
    pd_framing_t f;
    char fields[4096];
    size_t i, len = 0;

    ok(frame(99, 0, "", &f) != NULL, "status 99 is refused");
    ok(frame(600, 0, "", &f) != NULL, "status 600 is refused");
    ok(frame(599, 0, "Content-Length: 0\r\n", &f) == NULL, "status 599 is accepted");
    expect_refused("X: a\r\n b\r\n", "folded");
    for (i = 0; i < PD_MAX_RESPONSE_HEADERS; i++)
        len += (size_t)snprintf(fields + len, sizeof(fields) - len, "X-%zu: y\r\n", i);
    ok(frame(200, 0, fields, &f) == NULL, "100 header fields are accepted");
    len = (size_t)snprintf(fields, sizeof(fields), "Content-Length: 0\r\nConnection: ");
    for (i = 0; i < PD_MAX_CONNECTION_OPTIONS; i++)
        len += (size_t)snprintf(fields + len, sizeof(fields) - len, "o%zu,", i);
    snprintf(fields + len, sizeof(fields) - len, "\r\n");
    ok(frame(200, 0, fields, &f) == NULL, "64 Connection options are accepted");
    snprintf(fields + len, sizeof(fields) - len, "one-more\r\n");
    expect_refused(fields, "more than 64 Connection options");
}

static void test_lists(void)
{
    ok(header_list_has(H2O_STRLIT("keep-alive, Upgrade"), H2O_STRLIT("upgrade")), "a list element, any case");
    ok(header_list_has(H2O_STRLIT(" close "), H2O_STRLIT("close")), "spaces around an element");
    ok(!header_list_has(H2O_STRLIT("closed"), H2O_STRLIT("close")), "a longer element is another");
    ok(!header_list_has(H2O_STRLIT(""), H2O_STRLIT("close")), "an empty list");
    ok(header_list_has(H2O_STRLIT(",,close,,"), H2O_STRLIT("close")), "empty elements are skipped");
}

int main(void)
{
    test_content_length();
    test_transfer_encoding();
    test_no_body();
    test_heads();
    test_lists();
    return done_testing();
}
