/* demo_server.c: command line, listener, h2o setup, JSON replies, request counter and signals for the demo servers. */
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include "demo_server.h"

#define MAX_OPTIONS 16
#define OPT_LOG_REQUESTS 1   /* --log-requests has no short form; getopt_long returns this value for it */
#define MAX_DELAY_MS 3600000 /* an hour: anything longer is a typo */

/* A pending delayed answer. It lives in the request's pool, so it goes away
 * with the request; the timer is allocated apart because libuv still holds it
 * until on_timer_closed, which may run after the pool is freed. */
struct deferred {
    uv_timer_t *timer;
    h2o_req_t *req;
    demo_deferred_cb cb;
    void *data;
};

static const demo_server_t *server;
static uv_loop_t *loop;
static h2o_globalconf_t config;
static h2o_context_t ctx;
static h2o_accept_ctx_t accept_ctx;
static uv_tcp_t listener;
static uv_signal_t sigterm_watcher, sigint_watcher;
static uint64_t num_requests;
static char *page_root;  /* -r: the page's folder, resolved; NULL for a program without a page */
static int log_requests; /* --log-requests: each request's line and header fields go to stderr */

void demo_warnx(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", server != NULL ? server->name : "demo");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static const char *reason_phrase(int status)
{
    static const struct {
        int status;
        const char *reason;
    } table[] = {{200, "OK"},
                 {201, "Created"},
                 {204, "No Content"},
                 {301, "Moved Permanently"},
                 {302, "Found"},
                 {304, "Not Modified"},
                 {400, "Bad Request"},
                 {401, "Unauthorized"},
                 {403, "Forbidden"},
                 {404, "Not Found"},
                 {405, "Method Not Allowed"},
                 {426, "Upgrade Required"},
                 {500, "Internal Server Error"},
                 {502, "Bad Gateway"},
                 {503, "Service Unavailable"},
                 {504, "Gateway Timeout"}};
    size_t i;

    for (i = 0; i != sizeof(table) / sizeof(table[0]); ++i)
        if (table[i].status == status)
            return table[i].reason;
    return status < 400 ? "OK" : "Error";
}

int demo_parse_ms(const char *s, size_t len, unsigned *ms)
{
    size_t v = h2o_strtosize(s, len);

    if (v == SIZE_MAX || v > MAX_DELAY_MS)
        return -1;
    *ms = (unsigned)v;
    return 0;
}

/* A whole number from min to max, for limits given on the command line; 0 or -1. */
int demo_parse_count(const char *arg, size_t min, size_t max, size_t *value)
{
    size_t v = h2o_strtosize(arg, strlen(arg));

    if (v == SIZE_MAX || v < min || v > max)
        return -1;
    *value = v;
    return 0;
}

int demo_path_is(h2o_req_t *req, const char *path)
{
    return h2o_memis(req->path_normalized.base, req->path_normalized.len, path, strlen(path));
}

int demo_method_is(h2o_req_t *req, const char *method)
{
    return h2o_memis(req->method.base, req->method.len, method, strlen(method));
}

/* Decodes %XX and '+' (application/x-www-form-urlencoded); malformed escapes stay as they are. */
static h2o_iovec_t url_decode(h2o_mem_pool_t *pool, const char *s, size_t len)
{
    char *dst = h2o_mem_alloc_pool(pool, len + 1);
    size_t i, n = 0;

    for (i = 0; i < len; ++i) {
        if (s[i] == '%' && i + 2 < len && h2o_hex_decode(dst + n, s + i + 1, 2) == 0) {
            i += 2;
        } else {
            dst[n] = s[i] == '+' ? ' ' : s[i];
        }
        ++n;
    }
    dst[n] = '\0';
    return h2o_iovec_init(dst, n);
}

int demo_query_param(h2o_req_t *req, const char *name, h2o_iovec_t *value)
{
    const char *p, *end, *amp, *eq;
    size_t name_len = strlen(name);

    if (req->query_at == SIZE_MAX)
        return -1;
    end = req->path.base + req->path.len;
    for (p = req->path.base + req->query_at + 1; p < end; p = amp + 1) {
        if ((amp = memchr(p, '&', end - p)) == NULL)
            amp = end;
        if ((eq = memchr(p, '=', amp - p)) == NULL)
            eq = amp;
        if (h2o_memis(p, eq - p, name, name_len)) {
            *value = eq == amp ? url_decode(&req->pool, "", 0) : url_decode(&req->pool, eq + 1, amp - eq - 1);
            return 0;
        }
    }
    return -1;
}

/* Adds name: value to obj, joining a repeated header with ", " (RFC 9110 5.3). */
static void add_header_json(json_t *obj, const char *name, h2o_iovec_t value)
{
    json_t *prev = json_object_get(obj, name), *joined;
    const char *prev_str;

    if (prev == NULL) {
        /* NULL for a value that is not UTF-8: such a header is left out */
        json_object_set_new(obj, name, json_stringn(value.base, value.len));
        return;
    }
    prev_str = json_string_value(prev);
    joined = json_sprintf("%s, %.*s", prev_str, (int)value.len, value.base);
    json_object_set_new(obj, name, joined);
}

json_t *demo_headers_json(h2o_req_t *req)
{
    json_t *obj = json_object();
    size_t i;

    /* h2o moves the Host header of HTTP/1 requests into the authority */
    if (h2o_find_header(&req->headers, H2O_TOKEN_HOST, -1) == -1)
        add_header_json(obj, "host", req->input.authority);
    for (i = 0; i != req->headers.size; ++i) {
        h2o_header_t *h = req->headers.entries + i;
        h2o_iovec_t name = h2o_strdup(&req->pool, h->name->base, h->name->len);
        h2o_strtolower(name.base, name.len);
        add_header_json(obj, name.base, h->value);
    }
    return obj;
}

/* Adds a response header, sent spelt as name ("Content-Type"); value must outlive the response (req->pool or a literal). */
void demo_add_header(h2o_req_t *req, const char *name, h2o_iovec_t value)
{
    h2o_iovec_t lc = h2o_strdup(&req->pool, name, strlen(name));

    h2o_strtolower(lc.base, lc.len); /* h2o's tokens are lowercase */
    h2o_add_header_by_str(&req->pool, &req->res.headers, lc.base, lc.len, 1, name, value.base, value.len);
}

/* Answers status with body serialised; takes the reference to body. */
void demo_send_json(h2o_req_t *req, int status, json_t *body)
{
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;

    json_decref(body);
    if (text == NULL) {
        demo_warnx("cannot build a JSON response");
        status = 500;
        text = strdup("{\"error\":\"internal error\"}");
        if (text == NULL)
            h2o_fatal("out of memory");
    }
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    if (status == 204 || status == 304) {
        /* no body, and no Content-Length for 204 (RFC 9110 8.6, 15.3.5, 15.4.5) */
        h2o_send_inline(req, "", 0);
    } else {
        req->res.content_length = strlen(text);
        demo_add_header(req, "Content-Type", h2o_iovec_init(H2O_STRLIT("application/json")));
        h2o_send_inline(req, text, req->res.content_length); /* copies text into req->pool */
    }
    free(text);
}

void demo_send_error(h2o_req_t *req, int status, const char *message)
{
    demo_send_json(req, status, json_pack("{s:s}", "error", message));
}

static void on_timer_closed(uv_handle_t *handle)
{
    free(handle);
}

static void on_deferred_timer(uv_timer_t *timer)
{
    struct deferred *d = timer->data;

    d->cb(d->req, d->data);
}

/* The request is going away (answered or abandoned): the timer must not fire any more. */
static void on_deferred_dispose(void *p)
{
    struct deferred *d = p;

    uv_timer_stop(d->timer);
    d->timer->data = NULL;
    uv_close((uv_handle_t *)d->timer, on_timer_closed);
}

/* Calls cb(req, data) after ms without blocking the loop; data must live as long as req. */
void demo_defer(h2o_req_t *req, unsigned ms, demo_deferred_cb cb, void *data)
{
    struct deferred *d;

    if (ms == 0) {
        cb(req, data);
        return;
    }
    d = h2o_mem_alloc_shared(&req->pool, sizeof(*d), on_deferred_dispose);
    d->timer = h2o_mem_alloc(sizeof(*d->timer));
    d->req = req;
    d->cb = cb;
    d->data = data;
    uv_timer_init(loop, d->timer);
    d->timer->data = d;
    uv_timer_start(d->timer, on_deferred_timer, ms, 0);
}

static void send_count(h2o_req_t *req)
{
    demo_send_json(req, 200, json_pack("{s:I}", "requests", (json_int_t)num_requests));
}

/* GET /count, DELETE /count and POST /count/reset; returns -1 for any other path. */
static int handle_count(h2o_req_t *req)
{
    int is_count = demo_path_is(req, "/count"), is_reset = demo_path_is(req, "/count/reset");

    if (!is_count && !is_reset)
        return -1;
    if (is_count && (demo_method_is(req, "GET") || demo_method_is(req, "HEAD"))) {
        send_count(req);
    } else if ((is_count && demo_method_is(req, "DELETE")) || (is_reset && demo_method_is(req, "POST"))) {
        num_requests = 0;
        send_count(req);
    } else {
        demo_add_header(req, "Allow",
                        is_count ? h2o_iovec_init(H2O_STRLIT("GET, HEAD, DELETE")) : h2o_iovec_init(H2O_STRLIT("POST")));
        demo_send_error(req, 405, "method not allowed");
    }
    return 0;
}

/* What reached the service, for tests that must show something did not (a credential the proxy was to remove):
 * method, target as received, and every header field as JSON on one line. */
static void log_request(h2o_req_t *req)
{
    json_t *headers = demo_headers_json(req);
    char *text = json_dumps(headers, JSON_COMPACT);

    demo_warnx("request: %.*s %.*s %s", (int)req->method.len, req->method.base, (int)req->path.len, req->path.base,
               text != NULL ? text : "{}");
    free(text);
    json_decref(headers);
}

/* -1 hands the request to the next handler: the page's files when there is a page, else libh2o's 404. */
static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    if (log_requests)
        log_request(req);
    if (handle_count(req) == 0)
        return 0;
    ++num_requests;
    return server->on_request(req);
}

static void on_conn_closed(uv_handle_t *handle)
{
    free(handle);
}

static void on_connection(uv_stream_t *listen_stream, int status)
{
    uv_tcp_t *conn;

    if (status != 0) {
        demo_warnx("accept: %s", uv_strerror(status));
        return;
    }
    conn = h2o_mem_alloc(sizeof(*conn));
    uv_tcp_init(listen_stream->loop, conn);
    if (uv_accept(listen_stream, (uv_stream_t *)conn) != 0) {
        uv_close((uv_handle_t *)conn, on_conn_closed);
        return;
    }
    uv_tcp_nodelay(conn, 1);
    h2o_accept(&accept_ctx, h2o_uv_socket_create((uv_stream_t *)conn, on_conn_closed));
}

static void on_signal(uv_signal_t *watcher, int signum)
{
    (void)signum;
    uv_stop(watcher->loop);
}

/* Splits "HOST:PORT" or "[V6]:PORT" and resolves it; 0 or -1. */
static int resolve_listen(const char *arg, struct sockaddr_storage *ss)
{
    char host[256];
    const char *colon = strrchr(arg, ':'), *hstart = arg, *hend;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *res;
    int err;

    if (colon == NULL || h2o_strtosize(colon + 1, strlen(colon + 1)) > 65535)
        return -1;
    hend = colon;
    if (*arg == '[') {
        if (colon[-1] != ']')
            return -1;
        ++hstart;
        --hend;
    }
    if (hend <= hstart || (size_t)(hend - hstart) >= sizeof(host))
        return -1;
    snprintf(host, sizeof(host), "%.*s", (int)(hend - hstart), hstart);
    if ((err = getaddrinfo(host, colon + 1, &hints, &res)) != 0) {
        demo_warnx("%s: %s", arg, gai_strerror(err));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

/* Formats the bound address (port 0 becomes the port the kernel chose). */
static void log_listening(void)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char host[INET6_ADDRSTRLEN];
    int port;

    uv_tcp_getsockname(&listener, (struct sockaddr *)&ss, &len);
    if (ss.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof(host));
        port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        fprintf(stderr, "%s: listening on [%s]:%d\n", server->name, host, port);
    } else {
        uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof(host));
        port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        fprintf(stderr, "%s: listening on %s:%d\n", server->name, host, port);
    }
}

static int start_listening(const char *addr)
{
    struct sockaddr_storage ss;
    int err;

    if (resolve_listen(addr, &ss) != 0) {
        demo_warnx("invalid listen address: %s (expected HOST:PORT or [V6]:PORT)", addr);
        return -1;
    }
    uv_tcp_init(loop, &listener);
    if ((err = uv_tcp_bind(&listener, (struct sockaddr *)&ss, 0)) != 0 ||
        (err = uv_listen((uv_stream_t *)&listener, SOMAXCONN, on_connection)) != 0) {
        demo_warnx("cannot listen on %s: %s", addr, uv_strerror(err));
        return -1;
    }
    log_listening();
    return 0;
}

static void setup_h2o(void)
{
    h2o_hostconf_t *hostconf;
    h2o_pathconf_t *pathconf;
    h2o_handler_t *handler;

    h2o_config_init(&config);
    config.server_name = h2o_iovec_init(server->name, strlen(server->name));
    hostconf = h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    pathconf = h2o_config_register_path(hostconf, "/", 0);
    handler = h2o_create_handler(pathconf, sizeof(*handler));
    handler->on_req = on_req;
    if (page_root != NULL)
        demo_page_register(pathconf, page_root); /* after on_req: it gets what on_request leaves */
    h2o_context_init(&ctx, loop, &config);
    accept_ctx.ctx = &ctx;
    accept_ctx.hosts = config.hosts;
}

static void usage(FILE *fp)
{
    const demo_option_t *o;
    char left[64];

    fprintf(fp, "usage: %s [-l HOST:PORT] [options]\n", server->name);
    fprintf(fp, "  -l, --listen HOST:PORT  address to listen on, [V6]:PORT for IPv6 (%s%s)\n",
            server->default_listen != NULL ? "default " : "required", server->default_listen != NULL ? server->default_listen : "");
    if (server->page_folder != NULL)
        fprintf(fp, "  -r, --root DIR          the folder of the page's files (required: %s in the source tree)\n",
                server->page_folder);
    for (o = server->options; o != NULL && o->long_name != NULL; ++o) {
        snprintf(left, sizeof(left), "%c%c%s--%s%s%s", o->short_name ? '-' : ' ', o->short_name ? o->short_name : ' ',
                 o->short_name ? ", " : "  ", o->long_name, o->arg_name ? " " : "", o->arg_name ? o->arg_name : "");
        fprintf(fp, "  %-22s  %s\n", left, o->help);
    }
    fprintf(fp, "  --log-requests          print each request's method, target and header fields (all of them) to stderr\n");
    fprintf(fp, "  -h, --help              this help\n");
}

/* Fills the getopt tables from the program's own options; extra options without
 * a short form get values from 256 on. */
static void build_getopt(struct option *longopts, char *shortopts)
{
    const demo_option_t *o;
    size_t n = 0;

    longopts[n++] = (struct option){"listen", required_argument, NULL, 'l'};
    longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[n++] = (struct option){"log-requests", no_argument, NULL, OPT_LOG_REQUESTS};
    strcpy(shortopts, "l:h");
    if (server->page_folder != NULL) {
        longopts[n++] = (struct option){"root", required_argument, NULL, 'r'};
        strcat(shortopts, "r:");
    }
    for (o = server->options; o != NULL && o->long_name != NULL && n < MAX_OPTIONS; ++o, ++n) {
        int val = o->short_name ? o->short_name : 256 + (int)(o - server->options);
        longopts[n] = (struct option){o->long_name, o->arg_name ? required_argument : no_argument, NULL, val};
        if (o->short_name) {
            char s[3] = {(char)o->short_name, o->arg_name ? ':' : '\0', '\0'};
            strcat(shortopts, s);
        }
    }
    longopts[n] = (struct option){NULL, 0, NULL, 0};
}

static const demo_option_t *find_option(int val)
{
    const demo_option_t *o;

    for (o = server->options; o != NULL && o->long_name != NULL; ++o)
        if (o->short_name ? o->short_name == val : 256 + (int)(o - server->options) == val)
            return o;
    return NULL;
}

/* Returns the listen address, or NULL after printing why (the caller exits 2). */
static const char *parse_args(int argc, char **argv)
{
    struct option longopts[MAX_OPTIONS + 1];
    char shortopts[3 * MAX_OPTIONS + 4];
    const char *listen_addr = server->default_listen;
    const demo_option_t *o;
    int ch;

    build_getopt(longopts, shortopts);
    while ((ch = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        if (ch == 'l') {
            listen_addr = optarg;
        } else if (ch == 'r' && server->page_folder != NULL) {
            free(page_root);
            if ((page_root = demo_page_check(optarg)) == NULL)
                return NULL;
        } else if (ch == OPT_LOG_REQUESTS) {
            log_requests = 1;
        } else if (ch == 'h') {
            usage(stdout);
            exit(0);
        } else if ((o = find_option(ch)) != NULL) {
            if (o->apply(o->arg_name ? optarg : NULL) != 0) {
                demo_warnx("invalid value for --%s: %s", o->long_name, optarg);
                return NULL;
            }
        } else {
            usage(stderr);
            return NULL;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return NULL;
    }
    if (listen_addr == NULL) {
        demo_warnx("-l HOST:PORT is required (see -h)");
        return NULL;
    }
    if (server->page_folder != NULL && page_root == NULL) {
        demo_warnx("-r DIR is required: the folder of the page (%s in the source tree)", server->page_folder);
        return NULL;
    }
    return listen_addr;
}

/* Runs the server until SIGTERM or SIGINT; returns the exit status. */
int demo_main(const demo_server_t *srv, int argc, char **argv)
{
    const char *listen_addr;

    server = srv;
    if ((listen_addr = parse_args(argc, argv)) == NULL)
        return 2;
    signal(SIGPIPE, SIG_IGN); /* a client that went away must not kill us: writes fail with EPIPE instead */
    loop = uv_default_loop();
    setup_h2o();
    if (start_listening(listen_addr) != 0)
        return 1;
    uv_signal_init(loop, &sigterm_watcher);
    uv_signal_start(&sigterm_watcher, on_signal, SIGTERM);
    uv_signal_init(loop, &sigint_watcher);
    uv_signal_start(&sigint_watcher, on_signal, SIGINT);
    uv_run(loop, UV_RUN_DEFAULT);
    /* stopped by a signal: the process ends here, so open connections and timers are left to the kernel */
    return 0;
}
