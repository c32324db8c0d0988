/* t/unit/request_path.c: the canonical request path (request_path.c, issue 7), under "/<service>/" or, routed by Host, under "/".
 */
#include <stdio.h>
#include <string.h>
#include "proxyd.h"
#include "tap.h"

/* What request_path_canonicalize() makes of `raw`: the path, or "error: <why>". */
static const char *canon(h2o_mem_pool_t *pool, const char *raw, pd_path_t *path)
{
    const char *why = NULL;
    static char buf[256];

    if (request_path_canonicalize(pool, raw, strlen(raw), 1, path, &why) != 0) {
        snprintf(buf, sizeof(buf), "error: %s", why);
        return buf;
    }
    return path->path.base;
}

/* Each raw path and its canonical form; flags: 'S' an encoded slash, 'N' an encoded NUL. */
static const struct {
    const char *raw, *canonical, *flags;
} cases[] = {
    /* plain paths and trailing slashes */
    {"/weather/today", "/weather/today", ""},
    {"/weather", "/weather", ""},
    {"/weather/", "/weather/", ""},
    {"/", "/", ""},
    {"/weather/today/", "/weather/today/", ""},
    {"/weather/today//", "/weather/today/", ""},
    {"/weather/today/.", "/weather/today/", ""},
    {"/weather/a/..", "/weather/", ""},
    {"//weather//today", "/weather/today", ""},
    {"/weather/...", "/weather/...", ""},
    {"/weather/a..b/.c", "/weather/a..b/.c", ""},
    /* dot-segments, raw and encoded */
    {"/weather/./today", "/weather/today", ""},
    {"/weather/a/../today", "/weather/today", ""},
    {"/weather/a/b/../../today", "/weather/today", ""},
    {"/weather/a/%2e%2e/today", "/weather/today", ""},
    {"/weather/a/%2E./today", "/weather/today", ""},
    {"/weather/a/.%2e/today", "/weather/today", ""},
    {"/weather/%2e/today", "/weather/today", ""},
    /* climbing above the service */
    {"/weather/..", "error: path climbs above its service", ""},
    {"/weather/../admin", "error: path climbs above its service", ""},
    {"/..", "error: path climbs above its service", ""},
    {"/weather/a/../../admin", "error: path climbs above its service", ""},
    {"/weather/%2e%2e/admin", "error: path climbs above its service", ""},
    {"/docs//../internal", "error: path climbs above its service", ""},
    {"/weather/%2f..%2fadmin", "error: path climbs above its service", ""},
    {"/weather/..%2fadmin", "error: path climbs above its service", ""},
    /* dot-segments with parameters (Tomcat's "..;") */
    {"/weather/..;x/admin", "error: dot-segment with parameters in path", ""},
    {"/weather/.;x/admin", "error: dot-segment with parameters in path", ""},
    {"/weather/%2e%2e;/admin", "error: dot-segment with parameters in path", ""},
    {"/weather/a;x/b", "/weather/a;x/b", ""},
    /* encoded slashes: beside a dot-segment a separator, elsewhere inside the segment and flagged */
    {"/weather/a%2Fb", "/weather/a%2Fb", "S"},
    {"/weather/a%2fb", "/weather/a%2Fb", "S"},
    {"/weather/a/..%2fb", "/weather/b", ""},
    {"/weather/a/.%2Fb", "/weather/a/b", ""},
    {"/weather/x/%2e%2e%2fadmin", "/weather/admin", ""},
    {"/weather/a..%2fb", "/weather/a..%2Fb", "S"},
    {"/weather/a%2F..", "/weather/", ""},
    {"/weather/a%2Fb/../c", "/weather/c", "S"},
    {"/weather/%2Fa", "/weather/%2Fa", "S"},
    {"/weather/a%5Cb", "/weather/a%5Cb", "S"},
    {"/weather/a\\b", "/weather/a%5Cb", "S"},
    /* %00 */
    {"/weather/a%00b", "/weather/a%00b", "N"},
    {"/weather/%00", "/weather/%00", "N"},
    /* percent-encoding: unreserved decoded, the rest kept in upper case, bad input refused */
    {"/weather/%7Euser/%41%62c", "/weather/~user/Abc", ""},
    {"/weather/a%2ab%3F", "/weather/a%2Ab%3F", ""},
    {"/weather/%zz", "error: invalid percent-encoding in path", ""},
    {"/weather/%4", "error: invalid percent-encoding in path", ""},
    {"/weather/%", "error: invalid percent-encoding in path", ""},
    /* UTF-8: valid sequences kept encoded, overlong ones refused */
    {"/weather/%C3%A9t%c3%a9", "/weather/%C3%A9t%C3%A9", ""},
    {"/weather/\xc3\xa9", "/weather/%C3%A9", ""},
    {"/weather/%c0%ae%c0%ae/admin", "error: overlong UTF-8 in path", ""},
    {"/weather/%C0%AF", "error: overlong UTF-8 in path", ""},
    {"/weather/%c1%9c", "error: overlong UTF-8 in path", ""},
    {"/weather/\xc0\xae", "/weather/%C0%AE", ""},
    /* characters that may not appear raw */
    {"/weather/a\"b<c>", "/weather/a%22b%3Cc%3E", ""},
    {"/weather/a b", "error: space or control character in path", ""},
    {"/weather/a\tb", "error: space or control character in path", ""},
    {"/weather/a\x7f", "error: space or control character in path", ""},
    {"/weather/!$&'()*+,;=:@", "/weather/!$&'()*+,;=:@", ""},
    /* not a path */
    {"", "error: not an absolute path", ""},
    {"weather/today", "error: not an absolute path", ""},
    {"*", "error: not an absolute path", ""},
};

static void test_cases(h2o_mem_pool_t *pool)
{
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pd_path_t path;
        const char *got = canon(pool, cases[i].raw, &path);
        is_str(got, cases[i].canonical, "'%s' is '%s'", cases[i].raw, cases[i].canonical);
        if (strncmp(cases[i].canonical, "error: ", 7) == 0)
            continue;
        ok(path.encoded_slash == (strchr(cases[i].flags, 'S') != NULL), "'%s': encoded slash flag %s", cases[i].raw,
           strchr(cases[i].flags, 'S') ? "set" : "clear");
        ok(path.encoded_nul == (strchr(cases[i].flags, 'N') != NULL), "'%s': encoded NUL flag %s", cases[i].raw,
           strchr(cases[i].flags, 'N') ? "set" : "clear");
    }
}

/* The service name and the rest, as the router sees them. */
static void test_split(h2o_mem_pool_t *pool)
{
    static const struct {
        const char *raw, *name, *rest;
    } split[] = {{"/weather/today", "weather", "/today"},
                 {"/weather", "weather", ""},
                 {"/weather/", "weather", "/"},
                 {"/", "", ""},
                 {"/w/a/b/", "w", "/a/b/"},
                 {"/weather/a/..", "weather", "/"},
                 {"/weather%2Fx/y", "weather%2Fx", "/y"},
                 {"/%77eather/x", "weather", "/x"}};
    size_t i;

    for (i = 0; i < sizeof(split) / sizeof(split[0]); i++) {
        pd_path_t path;
        char name[64], rest[64];
        canon(pool, split[i].raw, &path);
        snprintf(name, sizeof(name), "%.*s", (int)path.name.len, path.name.base);
        snprintf(rest, sizeof(rest), "%.*s", (int)path.rest.len, path.rest.base);
        is_str(name, split[i].name, "'%s': service '%s'", split[i].raw, split[i].name);
        is_str(rest, split[i].rest, "'%s': rest '%s'", split[i].raw, split[i].rest);
    }
}

/* Routed by Host: the whole path is the service's, and its root is "/". */
static void test_host_root(h2o_mem_pool_t *pool)
{
    static const struct {
        const char *raw, *canonical;
    } host_cases[] = {{"/", "/"},
                      {"/chatsocket", "/chatsocket"},
                      {"/static/../chatsocket", "/chatsocket"},
                      {"/static/chat.js", "/static/chat.js"},
                      {"/a/..", "/"},
                      {"/a/b/../..", "/"},
                      {"//a/./b/", "/a/b/"},
                      {"/..", "error: path climbs above its service"},
                      {"/../chat", "error: path climbs above its service"},
                      {"/a/../..", "error: path climbs above its service"},
                      {"/a/%2e%2e/%2E%2E/x", "error: path climbs above its service"},
                      {"/..%2fx", "error: path climbs above its service"},
                      {"/a/..;x", "error: dot-segment with parameters in path"}};
    size_t i;

    for (i = 0; i < sizeof(host_cases) / sizeof(host_cases[0]); i++) {
        const char *why = NULL, *got;
        char buf[256];
        pd_path_t path;
        if (request_path_canonicalize(pool, host_cases[i].raw, strlen(host_cases[i].raw), 0, &path, &why) != 0) {
            snprintf(buf, sizeof(buf), "error: %s", why);
            got = buf;
        } else {
            got = path.path.base;
            ok(path.name.len == 0 && path.rest.base == path.path.base && path.rest.len == path.path.len,
               "'%s' by Host: no name, the rest is the whole path", host_cases[i].raw);
        }
        is_str(got, host_cases[i].canonical, "'%s' by Host is '%s'", host_cases[i].raw, host_cases[i].canonical);
    }
}

/* The output never outgrows the 3 * len + 2 bytes it is given: every byte encoded. */
static void test_worst_case(h2o_mem_pool_t *pool)
{
    char raw[1 + 3 * 100 + 1], expected[1 + 3 * 100 * 3 + 1];
    pd_path_t path;
    size_t i;

    strcpy(raw, "/w");
    strcpy(expected, "/w");
    for (i = 0; i < 100; i++) {
        strcat(raw, "/\xff");
        strcat(expected, "/%FF");
    }
    is_str(canon(pool, raw, &path), expected, "100 segments of one non-ASCII byte each are encoded");
    ok(path.path.len == strlen(expected) && path.path.base[path.path.len] == '\0', "the path is NUL-terminated at its length");
}

int main(void)
{
    h2o_mem_pool_t pool;

    h2o_mem_init_pool(&pool);
    test_cases(&pool);
    test_split(&pool);
    test_host_root(&pool);
    test_worst_case(&pool);
    h2o_mem_clear_pool(&pool);
    return done_testing();
}
