/* t/unit/service.c: service names, the option table and base URLs (service.c); host names (host_name.c) and the host index
 * (registry.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/* A name of `labels` labels of `label_len` letters each, joined by dots. */
static char *repeat_labels(char *buf, size_t labels, size_t label_len)
{
    size_t i, n = 0;

    for (i = 0; i < labels; i++) {
        if (i != 0)
            buf[n++] = '.';
        memset(buf + n, 'a', label_len);
        n += label_len;
    }
    buf[n] = '\0';
    return buf;
}

static void test_host_names(void)
{
    static const struct {
        const char *text, *normal;
    } good[] = {{"chat.localhost", "chat.localhost"},
                {"Chat.LocalHost.", "chat.localhost"},
                {"*.chat.example", "*.chat.example"},
                {"*.Example.", "*.example"},
                {"127.0.0.1", "127.0.0.1"},
                {"a-b.c0", "a-b.c0"},
                {"x", "x"},
                {"0-0.9", "0-0.9"},
                {"xn--bcher-kva.example", "xn--bcher-kva.example"}};
    static const struct {
        const char *text, *why;
    } bad[] = {{"", "an empty name"},
               {".", "an empty name"},
               {"*", "use letters, digits, '-' and '.', and '*' only as the whole first label"},
               {"*.", "use letters, digits"},
               {"*..", "an empty label"},
               {"a..b", "an empty label"},
               {".a", "an empty label"},
               {"a.b..", "an empty label"},
               {"-a.b", "a label that starts or ends with '-'"},
               {"a-.b", "a label that starts or ends with '-'"},
               {"a.b-", "a label that starts or ends with '-'"},
               {"a_b.c", "use letters, digits"},
               {"a b", "use letters, digits"},
               {"*.*.b", "use letters, digits"},
               {"a.*.b", "use letters, digits"},
               {"a*.b", "use letters, digits"},
               {"*a.b", "use letters, digits"},
               {"[::1]", "use letters, digits"},
               {"a:80", "use letters, digits"},
               {"\xc3\xa9t\xc3\xa9.example", "use letters, digits"},
               {"a/b", "use letters, digits"}};
    char out[PD_HOST_NAME_MAX + 1], text[PD_HOST_NAME_MAX + 70];
    const char *why;
    size_t i;
    int n;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        n = host_name_normalize(good[i].text, strlen(good[i].text), 1, out, &why);
        ok(n == (int)strlen(good[i].normal) && strcmp(out, good[i].normal) == 0, "host '%s' is '%s'", good[i].text, good[i].normal);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = "";
        ok(host_name_normalize(bad[i].text, strlen(bad[i].text), 1, out, &why) == -1 &&
               strncmp(why, bad[i].why, strlen(bad[i].why)) == 0,
           "host '%s' is refused: %s (%s)", bad[i].text, bad[i].why, why);
    }
    ok(host_name_normalize("*.chat.example", 14, 0, out, &why) == -1, "a wildcard only where wildcards are allowed");
    ok(host_name_normalize(repeat_labels(text, 1, 63), 63, 1, out, &why) == 63, "a label of 63 characters");
    ok(host_name_normalize(repeat_labels(text, 1, 64), 64, 1, out, &why) == -1 &&
           strcmp(why, "a label longer than 63 characters") == 0,
       "a label of 64 characters is refused");
    repeat_labels(text, 4, 63); /* 255 characters */
    text[253] = '\0';           /* "...aaa.a": 253 */
    ok(host_name_normalize(text, 253, 1, out, &why) == 253, "a name of 253 characters");
    strcat(text, ".");
    ok(host_name_normalize(text, 254, 1, out, &why) == 253, "and with its trailing dot");
    text[253] = 'a';
    ok(host_name_normalize(text, 254, 1, out, &why) == -1 && strcmp(why, "longer than 253 characters") == 0,
       "a name of 254 characters is refused");
}

static void test_request_hosts(void)
{
    static const struct {
        const char *authority, *name, *port; /* name "": not routed by Host; NULL: not host[:port] at all */
    } cases[] = {{"chat.localhost", "chat.localhost", ""},
                 {"chat.localhost:8080", "chat.localhost", "8080"},
                 {"CHAT.LocalHost.:8080", "chat.localhost", "8080"},
                 {"chat.localhost:", "chat.localhost", ""},
                 {" chat.localhost \t", "chat.localhost", ""},
                 {"127.0.0.1:8080", "127.0.0.1", "8080"},
                 {"[::1]:8080", "", "8080"},
                 {"[::1]", "", ""},
                 {"[v1.x]", "", ""},
                 {"*.chat.localhost", "", ""},
                 {"a_b.chat.localhost", "", ""},
                 {"a..chat.localhost", "", ""},
                 {"", "", ""},
                 {" ", "", ""},
                 {"chat.localhost:80x", NULL, NULL},
                 {"chat.localhost:80:80", NULL, NULL},
                 {"user@chat.localhost", NULL, NULL},
                 {"chat.localhost/x", NULL, NULL},
                 {"chat.localhost?", NULL, NULL},
                 {"chat.localhost#", NULL, NULL},
                 {"%63hat.localhost", NULL, NULL},
                 {"[::1%25lo]", NULL, NULL},
                 {"a b", NULL, NULL},
                 {"\xc3\xa9t\xc3\xa9.example", NULL, NULL},
                 {"[::1", NULL, NULL},
                 {"[::1]x", NULL, NULL},
                 {"[a@b]", NULL, NULL},
                 {":8080", NULL, NULL}};
    char out[PD_HOST_NAME_MAX + 1], big[4096];
    h2o_iovec_t port;
    size_t i;
    int n;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        n = host_name_of_authority(h2o_iovec_init(cases[i].authority, strlen(cases[i].authority)), out, &port);
        if (cases[i].name == NULL) {
            ok(n == -1, "Host '%s' is not host[:port]", cases[i].authority);
            continue;
        }
        ok(n == (int)strlen(cases[i].name) && (n == 0 || strcmp(out, cases[i].name) == 0) &&
               h2o_memis(port.base, port.len, cases[i].port, strlen(cases[i].port)),
           "Host '%s' routes as '%s', port '%s'", cases[i].authority, cases[i].name, cases[i].port);
    }
    ok(host_name_of_authority(h2o_iovec_init(NULL, 0), out, &port) == 0, "no Host: no name");
    repeat_labels(big, 2000, 1);
    ok(host_name_of_authority(h2o_iovec_init(big, strlen(big)), out, &port) == 0, "a Host of 2000 labels is no name");
}

static void test_host_options(void)
{
    pd_service_opts_t opts;
    pd_service_t *s;
    char err[512], name[16], *json;
    json_t *obj;
    size_t i;

    service_opts_init(&opts);
    ok(opts.num_hosts == 0, "no hosts by default");
    ok(service_opts_add_host(&opts, "Chat.Example.", err, sizeof(err)) == 0 && opts.num_hosts == 1 &&
           strcmp(opts.hosts[0], "chat.example") == 0,
       "a host is kept in one form");
    ok(service_opts_add_host(&opts, "chat.example", err, sizeof(err)) == -1, "the same host again is refused");
    is_str(err, "hosts: 'chat.example' is listed twice", "listed twice: the message");
    ok(service_opts_add_host(&opts, "chat_room.example", err, sizeof(err)) == -1 && opts.num_hosts == 1, "a bad host is refused");
    is_str(err,
           "hosts: 'chat_room.example' is not a host name: use letters, digits, '-' and '.', and '*' only as the whole first label",
           "a bad host: the message names it and says why");
    ok(service_opts_set(&opts, "hosts", "chat.example", err, sizeof(err)) == -1, "hosts as one scalar is refused");
    is_str(err, "hosts: expected a list of host names, like [chat.example.com]", "hosts as one scalar: the message");
    ok(service_opts_add_host(&opts, "*.chat.example", err, sizeof(err)) == 0, "a wildcard beside its own suffix");
    for (i = opts.num_hosts; i < PD_SERVICE_MAX_HOSTS; i++) {
        snprintf(name, sizeof(name), "h%zu.example", i);
        service_opts_add_host(&opts, name, err, sizeof(err));
    }
    ok(opts.num_hosts == PD_SERVICE_MAX_HOSTS, "%d hosts", PD_SERVICE_MAX_HOSTS);
    ok(service_opts_add_host(&opts, "one-more.example", err, sizeof(err)) == -1 && opts.num_hosts == PD_SERVICE_MAX_HOSTS,
       "one more is refused");
    ok(strncmp(err, "hosts: more than 32 host names", 30) == 0, "too many: the message (%s)", err);

    service_opts_init(&opts);
    opts.url = "http://127.0.0.1:9001";
    service_opts_add_host(&opts, "chat.example", err, sizeof(err));
    service_opts_add_host(&opts, "*.Chat.Example", err, sizeof(err));
    service_opts_set(&opts, "timeout", "5s", err, sizeof(err));
    ok((s = service_new("chat", &opts, err, sizeof(err))) != NULL && s->num_hosts == 2 &&
           strcmp(s->hosts[0], "chat.example") == 0 && strcmp(s->hosts[1], "*.chat.example") == 0,
       "the service gets the hosts in order");
    obj = service_to_json(s);
    json = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    is_str(
        json,
        "{\"name\":\"chat\",\"url\":\"http://127.0.0.1:9001\",\"hosts\":[\"chat.example\",\"*.chat.example\"],\"timeout\":\"5s\"}",
        "JSON: hosts after the url");
    free(json);
    service_decref(s);
}

/* A service named `name` claiming the hosts of the NULL-terminated list. */
static pd_service_t *service_with_hosts(const char *name, const char *const *hosts)
{
    pd_service_opts_t opts;
    char err[512];

    service_opts_init(&opts);
    opts.url = "http://127.0.0.1:9001";
    for (; *hosts != NULL; hosts++)
        if (service_opts_add_host(&opts, *hosts, err, sizeof(err)) != 0)
            fprintf(stderr, "# %s\n", err);
    return service_new(name, &opts, err, sizeof(err));
}

static const char *host_owner(pd_snapshot_t *snap, const char *host)
{
    pd_service_t *s = snapshot_lookup_host(snap, host, strlen(host));

    return s != NULL ? s->name : "(none)";
}

static void test_host_index(void)
{
    static const char *const a_hosts[] = {"chat.example", NULL}, *const b_hosts[] = {"*.chat.example", NULL},
                             *const c_hosts[] = {"*.b.chat.example", NULL},
                             *const d_hosts[] = {"x.b.chat.example", "*.example", NULL}, *const e_hosts[] = {"Chat.Example.", NULL};
    static const struct {
        const char *host, *owner;
    } lookups[] = {{"chat.example", "a"},          {"q.chat.example", "b"},     {"b.chat.example", "b"},
                   {"z.b.chat.example", "c"},      {"y.z.b.chat.example", "c"}, {"x.b.chat.example", "d"},
                   {"y.x.b.chat.example", "c"},    {"other.example", "d"},      {"example", "(none)"},
                   {"chat.example.org", "(none)"}, {"hat.example", "d"},        {"", "(none)"}};
    pd_service_t *services[] = {service_with_hosts("a", a_hosts), service_with_hosts("b", b_hosts),
                                service_with_hosts("c", c_hosts), service_with_hosts("d", d_hosts)},
                 *e = service_with_hosts("e", e_hosts), *a_taking_b = service_with_hosts("a", b_hosts),
                 *a_again = service_with_hosts("a", a_hosts), *a_and_e[] = {services[0], e};
    pd_host_conflict_t conflict = {NULL, NULL, 0};
    pd_snapshot_t *snap = snapshot_new(services, 4, &conflict), *next;
    char many[PD_HOST_NAME_MAX + 1];
    size_t i;

    ok(snap != NULL && snap->num_hosts == 5 && snap->wildcard_labels == 3,
       "four services with different hosts: five hosts indexed, wildcards of up to 3 labels");
    for (i = 0; i < sizeof(lookups) / sizeof(lookups[0]); i++)
        is_str(host_owner(snap, lookups[i].host), lookups[i].owner, "'%s' goes to %s", lookups[i].host, lookups[i].owner);
    repeat_labels(many, 120, 1); /* a.a.a...: 239 characters */
    strcat(many, ".chat.example");
    is_str(host_owner(snap, many), "b", "a host of 122 labels finds its wildcard");

    ok(snapshot_with(snap, e, NULL, &conflict) == NULL, "a service claiming another's host (in another spelling) is refused");
    ok(conflict.first == services[0] && conflict.second == e && conflict.second_host == 0,
       "the conflict names both, the new one second");
    ok(snapshot_with(snap, a_taking_b, NULL, &conflict) == NULL && conflict.first == services[1],
       "a replacement that takes another's host is refused");
    ok((next = snapshot_with(snap, a_again, NULL, &conflict)) != NULL, "a replacement keeping its own host is not a conflict");
    snapshot_decref(next);
    ok(snapshot_new(a_and_e, 2, &conflict) == NULL && conflict.first == services[0] && conflict.second == e,
       "snapshot_new refuses a host claimed twice, naming the first claim first");
    snapshot_decref(snap);
    for (i = 0; i < 4; i++)
        service_decref(services[i]);
    service_decref(e);
    service_decref(a_taking_b);
    service_decref(a_again);
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* Names that share a long prefix ("service-0001", "*.a.a.a.a..."), as registries of
 * many tenants have: a hash of their first bytes only (glibc's hsearch) put them all
 * in one chain, so that building a snapshot took minutes and one crafted Host walked
 * every one of them per label. */
static void test_shared_prefixes(void)
{
    enum { NUM_SERVICES = 1000 };
    pd_service_t *services[NUM_SERVICES];
    const char *hosts[PD_SERVICE_MAX_HOSTS + 1];
    char names[PD_SERVICE_MAX_HOSTS][PD_HOST_NAME_MAX + 1], name[32], probe[PD_HOST_NAME_MAX + 1];
    struct timespec start;
    pd_host_conflict_t conflict;
    pd_snapshot_t *snap;
    size_t i, j, found = 0;

    for (i = 0; i < NUM_SERVICES; i++) {
        for (j = 0; j < PD_SERVICE_MAX_HOSTS; j++) {
            repeat_labels(names[j], 1 + (i * PD_SERVICE_MAX_HOSTS + j) % 100, 1); /* "a.a.a" */
            snprintf(names[j] + strlen(names[j]), 32, ".s%zuh%zu.example", i, j);
            memmove(names[j] + 2, names[j], strlen(names[j]) + 1);
            memcpy(names[j], "*.", 2);
            hosts[j] = names[j];
        }
        hosts[j] = NULL;
        snprintf(name, sizeof(name), "service-%05zu", i);
        services[i] = service_with_hosts(name, hosts);
    }
    clock_gettime(CLOCK_MONOTONIC, &start);
    snap = snapshot_new(services, NUM_SERVICES, &conflict);
    ok(snap != NULL && snap->num_hosts == NUM_SERVICES * PD_SERVICE_MAX_HOSTS, "%d wildcards sharing their first bytes",
       NUM_SERVICES * PD_SERVICE_MAX_HOSTS);
    ok(seconds_since(&start) < 2, "indexed in %.3f s", seconds_since(&start));
    repeat_labels(probe, 120, 1); /* a.a.a...: each suffix shares the wildcards' first bytes, none is claimed */
    strcat(probe, ".x");
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (i = 0; i < 1000; i++) {
        found += snapshot_lookup_host(snap, probe, strlen(probe)) != NULL;
        found += snapshot_lookup(snap, "service-zzzzz", 13) != NULL;
    }
    ok(found == 0 && seconds_since(&start) < 2, "1000 such hosts and names looked up in %.3f s", seconds_since(&start));
    is_str(host_owner(snap, "x.a.s0h0.example"), "service-00000", "a wildcard is still found");
    ok(snapshot_lookup(snap, "service-00999", 13) == services[999], "and a name");
    snapshot_decref(snap);
    for (i = 0; i < NUM_SERVICES; i++)
        service_decref(services[i]);
}

int main(void)
{
    test_names();
    test_options();
    test_urls();
    test_service_fields();
    test_host_names();
    test_request_hosts();
    test_host_options();
    test_host_index();
    test_shared_prefixes();
    return done_testing();
}
