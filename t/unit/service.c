/* t/unit/service.c: service names, the option table and base URLs (service.c). */
#include <stdlib.h>
#include <string.h>
#include "proxyd.h"
#include "tap.h"

static void test_names(void)
{
    static const char *const good[] = {"weather", "a", "0", "0abc", "a_b-c", "a-", "auth2"};
    static const char *const bad[] = {"",    "Weather", "-weather", "_weather",          "a.b",
                                      "a/b", "a b",     "a:b",      "\xc3\xa9t\xc3\xa9", "a%2f"};
    char name[PD_SERVICE_NAME_MAX + 2], err[256];
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ok(service_check_name(good[i], err, sizeof(err)) == 0, "name '%s' is valid", good[i]);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char expected[64];
        snprintf(expected, sizeof(expected), "invalid service name '%s'", bad[i]);
        ok(service_check_name(bad[i], err, sizeof(err)) == -1, "name '%s' is refused", bad[i]);
        ok(strncmp(err, expected, strlen(expected)) == 0, "name '%s': the message names it (%s)", bad[i], err);
    }
    memset(name, 'a', sizeof(name));
    name[PD_SERVICE_NAME_MAX] = '\0';
    ok(service_check_name(name, err, sizeof(err)) == 0, "a name of %d characters is valid", PD_SERVICE_NAME_MAX);
    name[PD_SERVICE_NAME_MAX] = 'a';
    name[PD_SERVICE_NAME_MAX + 1] = '\0';
    ok(service_check_name(name, err, sizeof(err)) == -1, "a name of %d characters is refused", PD_SERVICE_NAME_MAX + 1);
}

/* Sets one option on fresh defaults; returns what service_opts_set returned, the message in err. */
static int set_one(pd_service_opts_t *opts, const char *key, const char *text, char *err, size_t errlen)
{
    service_opts_init(opts);
    err[0] = '\0';
    return service_opts_set(opts, key, text, err, errlen);
}

static void test_options(void)
{
    pd_service_opts_t opts;
    char err[256];

    service_opts_init(&opts);
    ok(opts.url == NULL && opts.timeout_ms == 0 && opts.auth == 1 && opts.public == 0 && opts.allow_encoded_slash == 0 &&
           opts.allow_encoded_nul == 0 && opts.max_request_body == 0,
       "defaults: no URL, settings' timeout and body limit, auth on, not public, no encoded slash or NUL");

    ok(set_one(&opts, "url", "http://127.0.0.1:9001", err, sizeof(err)) == 0, "url is set");
    is_str(opts.url, "http://127.0.0.1:9001", "url is kept as given");

    ok(set_one(&opts, "timeout", "5s", err, sizeof(err)) == 0 && opts.timeout_ms == 5000, "timeout 5s is 5000 ms");
    ok(set_one(&opts, "timeout", "1ms", err, sizeof(err)) == 0 && opts.timeout_ms == 1, "timeout 1ms is the least");
    ok(set_one(&opts, "timeout", "24h", err, sizeof(err)) == 0 && opts.timeout_ms == 86400000, "timeout 24h is the most");
    ok(set_one(&opts, "timeout", "0s", err, sizeof(err)) == -1, "timeout 0s is refused");
    ok(set_one(&opts, "timeout", "86400001ms", err, sizeof(err)) == -1, "timeout over 24h is refused");
    ok(set_one(&opts, "timeout", "soon", err, sizeof(err)) == -1, "timeout 'soon' is refused");
    is_str(err, "timeout: 'soon' is not a duration from 1ms to 24h: use 250ms, 5s or 2m", "timeout: the message");

    ok(set_one(&opts, "auth", "false", err, sizeof(err)) == 0 && opts.auth == 0, "auth: false");
    ok(set_one(&opts, "auth", "true", err, sizeof(err)) == 0 && opts.auth == 1, "auth: true");
    ok(set_one(&opts, "auth", "yes", err, sizeof(err)) == -1 && opts.auth == 1, "auth: yes is refused, the value kept");
    is_str(err, "auth: 'yes' is not true or false", "auth: the message");
    ok(set_one(&opts, "public", "true", err, sizeof(err)) == 0 && opts.public == 1, "public: true");
    ok(set_one(&opts, "public", "1", err, sizeof(err)) == -1, "public: 1 is refused");
    ok(set_one(&opts, "allow_encoded_slash", "true", err, sizeof(err)) == 0 && opts.allow_encoded_slash == 1,
       "allow_encoded_slash: true");
    ok(set_one(&opts, "allow_encoded_slash", "True", err, sizeof(err)) == -1, "allow_encoded_slash: True is refused");
    ok(set_one(&opts, "allow_encoded_nul", "true", err, sizeof(err)) == 0 && opts.allow_encoded_nul == 1,
       "allow_encoded_nul: true");
    ok(set_one(&opts, "allow_encoded_nul", "", err, sizeof(err)) == -1, "allow_encoded_nul: '' is refused");

    ok(set_one(&opts, "max_request_body", "2MiB", err, sizeof(err)) == 0 && opts.max_request_body == 2 << 20,
       "max_request_body 2MiB");
    ok(set_one(&opts, "max_request_body", "1", err, sizeof(err)) == 0 && opts.max_request_body == 1, "max_request_body 1");
    ok(set_one(&opts, "max_request_body", "0", err, sizeof(err)) == -1, "max_request_body 0 is refused");
    ok(set_one(&opts, "max_request_body", "lots", err, sizeof(err)) == -1, "max_request_body 'lots' is refused");
    is_str(err, "max_request_body: 'lots' is not a size: use 1048576, 512k, 64MiB or 1G", "max_request_body: the message");

    ok(set_one(&opts, "retries", "3", err, sizeof(err)) == PD_OPT_UNKNOWN, "an unknown option is refused as unknown");
    ok(strncmp(err, "retries: unknown option (known: url, timeout, auth, public, max_request_body,", 72) == 0,
       "an unknown option: the message lists the known ones (%s)", err);
    ok(set_one(&opts, "URL", "http://x", err, sizeof(err)) == PD_OPT_UNKNOWN, "option names are case-sensitive");
}

/* A service from a URL alone; NULL with err set when refused. */
static pd_service_t *new_with_url(const char *name, const char *url, char *err, size_t errlen)
{
    pd_service_opts_t opts;

    service_opts_init(&opts);
    opts.url = url;
    err[0] = '\0';
    return service_new(name, &opts, err, errlen);
}

static int iovec_is(h2o_iovec_t got, const char *expected)
{
    return got.len == strlen(expected) && memcmp(got.base, expected, got.len) == 0;
}

static void test_urls(void)
{
    static const struct {
        const char *url, *authority, *path, *match; /* path: upstream's base path; match: the Location prefix */
        unsigned port;
    } good[] = {{"http://127.0.0.1:9001", "127.0.0.1:9001", "", "http://127.0.0.1:9001/", 9001},
                {"http://127.0.0.1:9001/", "127.0.0.1:9001", "", "http://127.0.0.1:9001/", 9001},
                {"http://example.com/api/v1/", "example.com", "/api/v1", "http://example.com/api/v1/", 80},
                {"http://example.com/api//", "example.com", "/api", "http://example.com/api/", 80},
                {"https://example.com", "example.com", "", "https://example.com/", 443},
                {"http://[::1]:8080/x", "[::1]:8080", "/x", "http://[::1]:8080/x/", 8080}};
    static const struct {
        const char *url, *why;
    } bad[] = {{"ftp://127.0.0.1:9001", "expected http:// or https://"},
               {"127.0.0.1:9001", "expected http:// or https://"},
               {"http://127.0.0.1:99999", "expected http:// or https://"},
               {"http://", "expected http:// or https://"},
               {"http://:80/", "expected http:// or https://"},
               {"http://h/?x=1", "no query or fragment"},
               {"http://h/#top", "no query or fragment"},
               {"http://user@h/", "credentials"},
               {"http://user:pw@h/", "credentials"},
               {"http://h/a b", "space or control character"},
               {"http://h/a\x01", "space or control character"},
               {"http://h/\x7f", "space or control character"},
               {"", "expected http:// or https://"}};
    pd_service_opts_t opts;
    pd_service_t *s;
    char err[256];
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!ok((s = new_with_url("weather", good[i].url, err, sizeof(err))) != NULL, "URL '%s' is read (%s)", good[i].url, err))
            continue;
        is_str(s->url, good[i].url, "'%s': kept as written", good[i].url);
        ok(iovec_is(s->upstream.authority, good[i].authority), "'%s': authority %s", good[i].url, good[i].authority);
        ok(iovec_is(s->upstream.path, good[i].path), "'%s': base path '%s'", good[i].url, good[i].path);
        is_u64(h2o_url_get_port(&s->upstream), good[i].port, "'%s': port %u", good[i].url, good[i].port);
        is_str(s->buf, good[i].match, "'%s': Location headers under %s are rewritten", good[i].url, good[i].match);
        ok(iovec_is(s->location_match.path, strchr(good[i].match + 8, '/')), "'%s': the match's path ends in '/'", good[i].url);
        is_str(s->path_prefix, "/weather/", "'%s': rewritten to /weather/", good[i].url);
        service_decref(s);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ok(new_with_url("weather", bad[i].url, err, sizeof(err)) == NULL, "URL '%s' is refused", bad[i].url);
        ok(strstr(err, bad[i].why) != NULL && strncmp(err, "invalid URL '", 13) == 0, "URL '%s': %s (%s)", bad[i].url, bad[i].why,
           err);
    }

    service_opts_init(&opts);
    ok(service_new("weather", &opts, err, sizeof(err)) == NULL, "a service needs a URL");
    is_str(err, "url: required", "no URL: the message");
    ok(new_with_url("Weather", "http://h/", err, sizeof(err)) == NULL, "a service needs a valid name");
    ok(strncmp(err, "invalid service name 'Weather'", 30) == 0, "a bad name: the message");
}

/* service_to_json() as compact text with sorted keys; caller frees. */
static char *json_text(const pd_service_t *s)
{
    json_t *obj = service_to_json(s);
    char *text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);

    json_decref(obj);
    return text;
}

static void test_service_fields(void)
{
    pd_service_opts_t opts;
    pd_service_t *s;
    char err[256], *json;

    service_opts_init(&opts);
    opts.url = "http://127.0.0.1:9001";
    ok((s = service_new("weather", &opts, err, sizeof(err))) != NULL, "a service with defaults");
    is_u64(s->refcnt, 1, "a new service holds one reference");
    json = json_text(s);
    is_str(json, "{\"name\":\"weather\",\"url\":\"http://127.0.0.1:9001\"}", "JSON of defaults: name and URL only");
    free(json);
    service_incref(s);
    is_u64(s->refcnt, 2, "incref adds a reference");
    service_decref(s);
    is_u64(s->refcnt, 1, "decref drops it");
    service_decref(s);

    ok(service_opts_set(&opts, "timeout", "1500ms", err, sizeof(err)) == 0 &&
           service_opts_set(&opts, "auth", "false", err, sizeof(err)) == 0 &&
           service_opts_set(&opts, "public", "true", err, sizeof(err)) == 0 &&
           service_opts_set(&opts, "allow_encoded_slash", "true", err, sizeof(err)) == 0 &&
           service_opts_set(&opts, "allow_encoded_nul", "true", err, sizeof(err)) == 0 &&
           service_opts_set(&opts, "max_request_body", "1536k", err, sizeof(err)) == 0,
       "every option set");
    ok((s = service_new("weather", &opts, err, sizeof(err))) != NULL, "a service with every option");
    ok(s->timeout_ms == 1500 && s->auth == 0 && s->public == 1 && s->allow_encoded_slash == 1 && s->allow_encoded_nul == 1 &&
           s->max_request_body == 1536 * 1024,
       "the options reach the service");
    json = json_text(s);
    is_str(json,
           "{\"allow_encoded_nul\":true,\"allow_encoded_slash\":true,\"auth\":false,\"max_request_body\":\"1536KiB\","
           "\"name\":\"weather\",\"public\":true,\"timeout\":\"1500ms\",\"url\":\"http://127.0.0.1:9001\"}",
           "JSON of every option: each in the form services.yaml reads back");
    free(json);
    service_decref(s);
}

int main(void)
{
    test_names();
    test_options();
    test_urls();
    test_service_fields();
    return done_testing();
}
