/* request_path.c: the one canonical path of a request: what is routed, shown to the auth service, cached and sent upstream. */
#include <string.h>
#include "proxyd.h"

/* Issue 7: a path that means one thing to proxyd and another to the service is an
 * auth bypass ("/docs//../internal" routed to docs, served by nginx as /internal).
 * So the path is put into one form before anything looks at it (RFC 3986 §6.2.2):
 * - %XX of an unreserved character is decoded, every other %XX kept in upper case;
 *   a malformed %XX is an error;
 * - bytes that may not appear raw in a path (non-ASCII, '"', '<', '#', ...) are
 *   percent-encoded; a space or control character is an error;
 * - empty segments ("//") are merged;
 * - "." and ".." are resolved, also written as "%2e%2e" or followed by an encoded
 *   slash ("..%2f"); a ".." that would leave the service's root is an error: that
 *   is "/<service>/" when the first segment names the service, "/" when the Host does;
 * - "..;x" (a dot-segment with parameters, which Tomcat treats as "..") is an error;
 * - an encoded slash or backslash that is not next to a dot-segment stays encoded
 *   inside its segment, and an encoded NUL stays "%00": both are flagged, and only
 *   a service that opts in accepts them.
 * Every step is one pass over the input: the work is linear in its length. */

typedef struct piece {
    const char *raw; /* between two separators, as sent */
    size_t len;
    int dot; /* 1: ".", 2: "..", after decoding; 0: neither */
} piece_t;

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int is_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

/* Characters RFC 3986 allows raw in a path segment besides unreserved ones. */
static int is_path_delim(unsigned char c)
{
    return c != '\0' && strchr("!$&'()*+,;=:@", c) != NULL;
}

/* "%2F" or "%2f" at p (with `end` the end of the input). */
static int is_encoded_slash(const char *p, const char *end)
{
    return end - p >= 3 && p[0] == '%' && p[1] == '2' && (p[2] == 'F' || p[2] == 'f');
}

/* Appends the canonical form of `p[0..len)` to `out`; sets flags; -1 on bad input. */
static int canon_piece(const char *p, size_t len, h2o_iovec_t *out, pd_path_t *path, const char **why)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = p[i];
        if (c == '%') {
            int hi, lo;
            if (len - i < 3 || (hi = hex_value(p[i + 1])) < 0 || (lo = hex_value(p[i + 2])) < 0) {
                *why = "invalid percent-encoding in path";
                return -1;
            }
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
            /* never valid UTF-8: an overlong '.' or '/' to a lenient decoder */
            if (c == 0xc0 || c == 0xc1) {
                *why = "overlong UTF-8 in path";
                return -1;
            }
            if (is_unreserved(c)) {
                out->base[out->len++] = c;
                continue;
            }
            if (c == 0)
                path->encoded_nul = 1;
            else if (c == '\\')
                path->encoded_slash = 1;
        } else if (c <= 0x20 || c == 0x7f) {
            *why = "space or control character in path";
            return -1;
        } else if (is_unreserved(c) || is_path_delim(c)) {
            out->base[out->len++] = c;
            continue;
        } else if (c == '\\') {
            path->encoded_slash = 1; /* a separator to some servers */
        }
        out->base[out->len++] = '%';
        out->base[out->len++] = hex[c >> 4];
        out->base[out->len++] = hex[c & 15];
    }
    return 0;
}

/* 1 for ".", 2 for "..", after decoding "%2e"; -1 for a dot-segment with parameters. */
static int dot_kind(const char *p, size_t len)
{
    size_t i, dots = 0;

    for (i = 0; i < len && dots <= 2;) {
        if (p[i] == '.') {
            i++;
        } else if (len - i >= 3 && p[i] == '%' && p[i + 1] == '2' && (p[i + 2] == 'e' || p[i + 2] == 'E')) {
            i += 3;
        } else {
            break;
        }
        dots++;
    }
    if (dots == 0 || dots > 2)
        return 0;
    if (i == len)
        return (int)dots;
    return p[i] == ';' ? -1 : 0;
}

/* Walks the raw path piece by piece: pieces are split at '/' and at "%2F". */
typedef struct splitter {
    const char *at, *end;
    int done;
    int encoded_sep; /* the piece just returned was preceded by "%2F" */
    int next_encoded;
} splitter_t;

static int next_piece(splitter_t *sp, piece_t *pc)
{
    const char *p;

    if (sp->done)
        return 0;
    for (p = sp->at; p < sp->end && *p != '/' && !is_encoded_slash(p, sp->end); p++)
        ;
    pc->raw = sp->at;
    pc->len = p - sp->at;
    pc->dot = dot_kind(sp->at, p - sp->at);
    sp->encoded_sep = sp->next_encoded;
    if (p == sp->end) {
        sp->done = 1;
    } else {
        sp->next_encoded = *p != '/';
        sp->at = p + (*p == '/' ? 1 : 3);
    }
    return 1;
}

/* "/" that starts a new segment in `out`. */
static void start_segment(h2o_iovec_t *out, size_t *depth)
{
    out->base[out->len++] = '/';
    (*depth)++;
}

/* Drops the last segment of `out`: its '/' is the last one, since an encoded
 * slash inside a segment is written "%2F". Each byte is scanned back at most once. */
static void drop_segment(h2o_iovec_t *out, size_t *depth)
{
    while (out->base[--out->len] != '/')
        ;
    (*depth)--;
}

/* Sets path->name and path->rest: "/weather/today" is "weather" and "/today"; when
 * the path names no service, "" and all of it. */
static void split_name(pd_path_t *path, int named)
{
    const char *slash;

    if (!named) {
        path->name = h2o_iovec_init(path->path.base, 0);
        path->rest = path->path;
        return;
    }
    slash = memchr(path->path.base + 1, '/', path->path.len - 1);
    path->name =
        h2o_iovec_init(path->path.base + 1, (slash != NULL ? slash : path->path.base + path->path.len) - path->path.base - 1);
    path->rest = h2o_iovec_init(path->name.base + path->name.len, path->path.len - 1 - path->name.len);
}

/* Canonicalises `raw` (the path as sent, without its query) into `path`, in `pool`;
 * with `named`, its first segment names the service (prefix routing), otherwise the
 * whole path is the service's (routed by Host). Returns 0, or -1 with `why` set:
 * the request is then answered with 400. Memory:
 * the output only (3 * len + 2 bytes); time: linear in len. The encoded-slash and
 * NUL flags stay set even when ".." drops the segment that carried them: stricter
 * than needed, never looser. */
int request_path_canonicalize(h2o_mem_pool_t *pool, const char *raw, size_t len, int named, pd_path_t *path, const char **why)
{
    splitter_t sp = {raw + 1, raw + len, 0, 0, 0};
    piece_t pc, prev = {NULL, 0, 0};
    size_t depth = 0, root_depth = named ? 1 : 0;
    h2o_iovec_t out;
    int in_segment = 0, ends_with_slash = 0;

    memset(path, 0, sizeof(*path));
    if (len == 0 || raw[0] != '/') {
        *why = "not an absolute path";
        return -1;
    }
    out = h2o_iovec_init(h2o_mem_alloc_pool(pool, 3 * len + 2), 0);
    for (; next_piece(&sp, &pc); prev = pc) {
        if (pc.dot < 0) {
            *why = "dot-segment with parameters in path";
            return -1;
        }
        /* an encoded slash beside a dot-segment separates ("..%2f" is "../"); elsewhere it is part of a segment */
        if (sp.encoded_sep && pc.dot == 0 && prev.dot == 0) {
            path->encoded_slash = 1;
            if (!in_segment)
                start_segment(&out, &depth);
            memcpy(out.base + out.len, "%2F", 3);
            out.len += 3;
        } else if (pc.dot == 2) {
            if (depth <= root_depth) { /* would leave "/<service>/", or "/" */
                *why = "path climbs above its service";
                return -1;
            }
            drop_segment(&out, &depth);
            in_segment = 0, ends_with_slash = 1;
            continue;
        } else if (pc.dot == 1 || pc.len == 0) {
            in_segment = 0, ends_with_slash = 1;
            continue;
        } else {
            start_segment(&out, &depth);
        }
        if (canon_piece(pc.raw, pc.len, &out, path, why) != 0)
            return -1;
        in_segment = 1, ends_with_slash = 0;
    }
    if (ends_with_slash || out.len == 0)
        out.base[out.len++] = '/';
    out.base[out.len] = '\0';
    path->path = out;
    split_name(path, named);
    return 0;
}
