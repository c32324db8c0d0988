/* proxyd.h: the daemon's one header: types in layer order, then prototypes grouped by file. */
#ifndef PROXYD_H
#define PROXYD_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <yaml.h>
#include <h2o.h>
#include <jansson.h>
#include <uv.h>
#include <curl/curl.h>

#define PD_SERVICE_NAME_MAX 63
#define PD_HOST_NAME_MAX 253    /* a DNS name without its trailing dot (RFC 1035 §2.3.4) */
#define PD_SERVICE_MAX_HOSTS 32 /* host names one service may claim; wildcards cover more */
#define PD_MAX_THREADS 256
#define PD_MAX_TIMEOUT_MS (24ULL * 3600 * 1000) /* longer timeouts are mistakes, and overflow timer arithmetic */

/*
 * Threads and the data they share.
 *
 * The main thread reads the settings and the registry, starts the workers, then
 * runs one loop for signals, the admin API and the change queue. Each worker
 * thread runs its own loop and h2o context.
 *
 * Shared by every thread:
 * - pd_config_t: built before any thread starts, read-only afterwards.
 * - pd_snapshot_t and its pd_service_t: immutable once built, with atomic
 *   reference counts. registry.c's mutex guards which snapshot is current;
 *   only change_queue.c publishes one, on the main thread. A worker keeps its
 *   own reference and takes a new one when registry_generation() (atomic) moves.
 * - the auth cache (auth_cache.c), under its own mutex; its decisions are
 *   immutable with atomic reference counts (auth.h).
 * - libh2o's globalconf: read-only once the workers start, except the body cap
 *   (max_request_entity_size), which body_limit.c stores atomically on publish.
 * - the statistics (stats.c): counters the workers add to with relaxed atomics;
 *   a record per service name, created and recycled on the main thread under
 *   stats.c's mutex and kept alive by an atomic reference count (each
 *   pd_service_t, and each tunnel, holds its name's record).
 *
 * Per worker, touched only from its own thread once it started (set up on the
 * main thread before): pd_worker_t with its h2o context and connections
 * (pd_client_guard_t); proxy.c's handler context with the worker's
 * pd_upstreams_t, pd_auth_worker_t and registry reference. The one exception is
 * the pd_auth_worker_t inbox, to which other workers post decisions under its mutex.
 *
 * Main thread only: pd_change_queue_t, pd_admin_t (with the /events clients) and
 * pd_registry_file_t, which libuv's thread pool uses while a write is in flight
 * and the loop leaves it be.
 */

/* ---- settings (config.c, config_yaml.c) ---- */

/* A listening address from the settings ("127.0.0.1:8080", "[::1]:8080", "*:8080"). */
typedef struct pd_listen {
    char *host; /* NULL for "*" (every address) */
    uint16_t port;
    char *unix_path; /* "unix:/run/proxyd/admin.sock": host and port unused */
} pd_listen_t;

/* An address block from the settings ("10.0.0.0/8", "::1"), in network byte order. */
typedef struct pd_cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    unsigned prefix; /* leading bits that must match */
} pd_cidr_t;

/* auth.vary: which parts of a request the auth service is shown and its decision
 * is keyed by, besides the credential, the service and the scheme. */
#define PD_AUTH_VARY_METHOD 0x1 /* X-Forwarded-Method */
#define PD_AUTH_VARY_PATH 0x2   /* X-Forwarded-Uri and X-Forwarded-Host */
#define PD_AUTH_VARY_CLIENT 0x4 /* X-Forwarded-For */
#define PD_AUTH_VARY_ALL (PD_AUTH_VARY_METHOD | PD_AUTH_VARY_PATH | PD_AUTH_VARY_CLIENT)
#define PD_AUTH_MAX_LISTED_HEADERS 16 /* names in auth.request_headers, and in auth.response_headers */

/* The settings file, validated; plain data, no runtime state. */
typedef struct pd_config {
    char *path;     /* the settings file itself */
    char *registry; /* services.yaml, resolved against the settings file's folder */
    pd_listen_t *listens;
    size_t num_listens;
    unsigned threads;
    uint64_t shutdown_timeout_ms; /* after SIGTERM, how long requests and tunnels in flight may still run */
    int log_level;                /* LOG_ERR, LOG_WARNING or LOG_INFO: lines below it are dropped */
    struct {
        uint64_t connect_timeout_ms;
        uint64_t io_timeout_ms;        /* longest silence from an upstream; a service's timeout overrides it */
        uint64_t websocket_timeout_ms; /* an idle tunnel is closed; a service's websocket_timeout overrides it */
        size_t buffer;                 /* response bytes held per request between upstream and client */
        size_t max_response_head;      /* status line and header fields of an upstream's response */
        size_t keepalive;              /* idle connections kept per origin and worker; 0: none */
    } upstream;
    pd_cidr_t *trusted_proxies; /* peers whose X-Forwarded-For is kept and appended to */
    size_t num_trusted_proxies;
    size_t max_request_body; /* default for services without their own max_request_body */
    struct {
        size_t max_headers;          /* request header fields, after HPACK decoding for HTTP/2 */
        size_t max_header_bytes;     /* names and values of those fields together */
        size_t max_target_bytes;     /* the request target (path and query) */
        int underscores_in_headers;  /* 0: header names with '_' are dropped (CGI maps them onto '-') */
        uint64_t request_timeout_ms; /* longest wait for progress while a request head or body arrives */
        size_t body_budget;          /* per worker: request bodies buffered at once */
        uint64_t send_timeout_ms;    /* longest wait for a client to take response bytes */
        uint64_t idle_timeout_ms;    /* an HTTP/1 keep-alive or HTTP/2 connection with no request is closed */
    } client;
    struct {
        int enabled; /* an admin: key was given */
        pd_listen_t listen;
        char *token_file; /* resolved against the settings file's folder */
        char *dashboard;  /* the dashboard's files; NULL: the folder proxyd was installed with */
    } admin;
    struct {
        int enabled;   /* an auth: key was given */
        char *service; /* the registry entry checks go to */
        uint64_t timeout_ms;
        uint64_t cache_ttl_ms;    /* 0: allows are not cached */
        uint64_t negative_ttl_ms; /* 0: denies are not cached */
        size_t cache_size;
        char **copy_headers; /* lower case */
        size_t num_copy_headers;
        char **request_headers; /* lower case: the client's fields shown to the auth service besides Authorization */
        size_t num_request_headers;
        char **response_headers; /* lower case: the auth service's fields relayed to the client on an allow */
        size_t num_response_headers;
        unsigned vary; /* PD_AUTH_VARY_*: the parts of a request a check is shown, and its decision keyed by */
    } auth;
} pd_config_t;

/* A parsed YAML document with the file it came from, for error messages. */
typedef struct pd_ydoc {
    const char *file;
    yaml_document_t doc;
} pd_ydoc_t;

/* ---- statistics (stats.c) ---- */

/* Service names with counters of their own; past that, services are not counted. */
#define PD_STATS_MAX_NAMES 4096
#define PD_STATS_LATENCY_BUCKETS 18

/* One service name's counters, cumulative since proxyd started (or since the
 * record was recycled for another name): never reset, so that readers take
 * differences, as Prometheus does. */
typedef struct pd_stats_counts {
    uint64_t requests;                          /* routed to the service, counted when routed */
    uint64_t responses[5];                      /* by status class 1xx..5xx, counted when the request ends */
    uint64_t latency[PD_STATS_LATENCY_BUCKETS]; /* response heads by time from request sent (stats_latency_bound) */
    uint64_t latency_sum_us;
    uint64_t tunnels_opened;
    uint64_t tunnels_closed;
} pd_stats_counts_t;

/* A reader's previous reading of a record, to turn counters into rates. */
typedef struct pd_stats_sample {
    pd_stats_counts_t counts;
    uint64_t tick; /* the reader's tick it was taken at; 0: never */
} pd_stats_sample_t;

typedef struct pd_stats pd_stats_t;

/* Forward auth's counters, one set for the whole daemon. */
enum {
    PD_STATS_AUTH_ALLOWS,       /* requests let through */
    PD_STATS_AUTH_DENIES,       /* requests answered with the auth service's 401, 403 or 3xx */
    PD_STATS_AUTH_FAILURES,     /* requests answered 503: no usable answer from the auth service */
    PD_STATS_AUTH_CACHE_HITS,   /* decisions taken from the cache */
    PD_STATS_AUTH_CACHE_MISSES, /* requests that waited for a check (their own or one running) */
    PD_STATS_AUTH_NUM
};

/* ---- the registry (service.c, registry.c, registry_*.c, change_queue.c) ---- */

/* A service's options as the file's long form and the admin API's body give them. */
typedef struct pd_service_opts {
    const char *url;
    uint64_t timeout_ms;
    int auth;
    int public;
    int allow_encoded_slash;
    int allow_encoded_nul;
    size_t max_request_body; /* 0: the settings' default */
    int preserve_host;
    uint64_t websocket_timeout_ms;
    char hosts[PD_SERVICE_MAX_HOSTS][PD_HOST_NAME_MAX + 1]; /* checked and in one form (host_name_normalize) */
    size_t num_hosts;
} pd_service_opts_t;

/* One registry entry, immutable once built; shared by snapshots and by the
 * requests in flight through its reference count. */
typedef struct pd_service {
    char *name;
    char *url;                     /* as written in services.yaml */
    h2o_url_t upstream;            /* scheme and authority to connect to; path is the base path without a trailing '/' */
    h2o_url_t location_match;      /* upstream URL with a trailing '/': Location headers under it are rewritten */
    char *path_prefix;             /* "/<name>/", what location_match is rewritten to */
    uint64_t timeout_ms;           /* 0: the settings' upstream io_timeout */
    int auth;                      /* 0: a public service, no forward-auth check ("auth: false") */
    int public;                    /* 1: routed through the front end even when it is the auth service */
    int allow_encoded_slash;       /* 1: "%2F" (and '\\', "%5C") may appear inside a path segment */
    int allow_encoded_nul;         /* 1: "%00" may appear in the path */
    size_t max_request_body;       /* 0: the settings' max_request_body */
    int preserve_host;             /* 1: the client's Host goes upstream instead of the URL's authority */
    uint64_t websocket_timeout_ms; /* 0: the settings' upstream websocket_timeout */
    char **hosts;                  /* "chat.example", "*.chat.example": routed here by Host */
    size_t num_hosts;              /* 0: none, reached by its name in the path only */
    pd_stats_t *stats;             /* its name's counters, held (stats.c) */
    int refcnt;                    /* atomic */
    char *buf;                     /* owns the strings that upstream and location_match point into */
} pd_service_t;

/* Why a snapshot was published. */
typedef enum {
    PD_PUBLISH_START,  /* the file as read at start */
    PD_PUBLISH_API,    /* admin PUT and DELETE */
    PD_PUBLISH_RELOAD, /* SIGHUP or POST /reload */
    PD_PUBLISH_EDIT,   /* the file, edited by hand, read before an admin change */
} pd_publish_cause_t;

/* One host name a service claims, as a snapshot indexes it. */
typedef struct pd_host_claim {
    const char *host;      /* "chat.example" or "*.chat.example", owned by `service` */
    pd_service_t *service; /* borrowed: the snapshot holds a reference */
    size_t order;          /* among all claims, services and their hosts in the order given */
    size_t index;          /* in service->hosts */
} pd_host_claim_t;

/* The registry as a whole at one moment: immutable, reference counted. Both lists
 * are searched by bisection, not hashed: glibc's hsearch hashes only the first 8
 * bytes of a key, so that names sharing them ("tenant-0001", "*.a.a.a...") made
 * building a snapshot quadratic and let one crafted Host walk all of them. */
typedef struct pd_snapshot {
    pd_service_t **services; /* sorted by name */
    size_t num_services;
    pd_host_claim_t *hosts; /* every service's hosts, sorted by host name, then order */
    size_t num_hosts;
    size_t wildcard_labels; /* the most labels after "*." of any wildcard: longer suffixes cannot match */
    uint64_t version;       /* set when published, like `cause` */
    pd_publish_cause_t cause;
    int refcnt; /* atomic */
} pd_snapshot_t;

/* Why snapshot_new() refused a list of services: two of them claim one host. */
typedef struct pd_host_conflict {
    const pd_service_t *first, *second; /* in the order given; borrowed from the caller's list */
    size_t second_host;                 /* the index of the host in second->hosts */
} pd_host_conflict_t;

/* The registry file and what proxyd last read from or wrote to it. */
typedef struct pd_registry_file {
    char *path;
    int seen_valid;
    dev_t seen_dev;
    ino_t seen_ino;
    off_t seen_size;
    struct timespec seen_mtime;
} pd_registry_file_t;

/* What became of a registry change (change_queue.c): the queue reports it through a
 * callback and knows nothing of HTTP. */
typedef enum { PD_CHANGE_PUT, PD_CHANGE_DELETE, PD_CHANGE_RELOAD } pd_change_kind_t;
typedef enum {
    PD_CHANGE_APPLIED,             /* written (or reloaded) and published as `version` */
    PD_CHANGE_STALE,               /* services.yaml changed on disk and the change could not be built on it */
    PD_CHANGE_NOT_FOUND,           /* a delete of a name the registry does not have */
    PD_CHANGE_PRECONDITION_FAILED, /* If-Match named another version, or If-None-Match: * found the service */
    PD_CHANGE_INVALID,             /* a reload found the file unusable */
    PD_CHANGE_HOST_CONFLICT,       /* a put would give a host another service claims */
    PD_CHANGE_WRITE_FAILED,        /* the file could not be written; the registry is unchanged */
} pd_change_status_t;
typedef struct pd_change_result {
    pd_change_kind_t kind;
    pd_change_status_t status;
    uint64_t version;            /* PD_CHANGE_APPLIED: the registry version the change created */
    int created;                 /* PD_CHANGE_APPLIED put: the name was new */
    const pd_service_t *service; /* PD_CHANGE_APPLIED put: borrowed during the callback */
    const char *message;         /* otherwise: why, for the operator; borrowed during the callback */
} pd_change_result_t;
typedef void (*pd_change_done_cb)(void *data, const pd_change_result_t *result);

/* The options of a request's or response's Connection fields: the fields they
 * name are hop-by-hop. Bounded, so that checking each field against them is. */
#define PD_MAX_CONNECTION_OPTIONS 64
typedef struct pd_connection_options {
    h2o_iovec_t names[PD_MAX_CONNECTION_OPTIONS];
    size_t num;
} pd_connection_options_t;

/* ---- the front end, per request and per worker ---- */

/* A request's path in its one canonical form (request_path.c), in the request's pool:
 * routed, shown to the auth service, in the cache key and sent upstream. A request
 * routed by its Host has no name: its whole path is the service's. */
typedef struct pd_path {
    h2o_iovec_t path;  /* "/weather/today", NUL-terminated; no query */
    h2o_iovec_t name;  /* "weather": the first segment, inside path; "" when routed by Host */
    h2o_iovec_t rest;  /* "/today": what follows the name, inside path; "" for "/weather"; all of path when routed by Host */
    int encoded_slash; /* an encoded slash or a backslash inside a segment */
    int encoded_nul;   /* "%00" */
} pd_path_t;

/* Where a routed request goes once it may, in req->pool: proxy.c fills it in, and
 * forward auth holds it until decided, then calls `forward` without naming proxy.c. */
typedef struct pd_route {
    pd_service_t *service; /* held by the request until it is freed */
    h2o_iovec_t rest;      /* the canonical path after "/<name>", or all of it when routed by Host */
    h2o_iovec_t query;     /* "?a=b" or "", without the key */
    h2o_iovec_t prefix;    /* what the service's URL is to the client: "/<name>/", or "/" when routed by Host */
    void (*forward)(h2o_req_t *req, const struct pd_route *route);
    void *data; /* the forwarder's per-worker state */
} pd_route_t;

typedef struct pd_worker pd_worker_t;

/* What a worker's shutdown waits for besides requests in flight (worker.c). */
typedef struct pd_drain_hook {
    size_t (*busy)(void *data);                   /* how many are still open */
    void (*cut_off)(void *data, unsigned worker); /* the grace period is over: close them */
    void *data;
} pd_drain_hook_t;
typedef struct pd_upstreams pd_upstreams_t;     /* upstream.h */
typedef struct pd_tunnels pd_tunnels_t;         /* upstream.h */
typedef struct pd_forwarder pd_forwarder_t;     /* forward.c */
typedef struct pd_auth_worker pd_auth_worker_t; /* auth.c; the auth subsystem's own types are in auth.h */

/* A client connection, kept by worker.c and watched by client_guard.c. */
typedef struct pd_client_guard pd_client_guard_t;
typedef struct pd_client {
    h2o_linklist_t link; /* in its worker's guard */
    uv_handle_t *handle; /* closing once libh2o let go of `sock` */
    h2o_socket_t *sock;  /* borrowed from libh2o while `handle` is not closing */
    int state;
    size_t seen_size; /* the request's buffered bytes at the last change */
    const char *seen_bytes;
    size_t seen_written; /* response bytes written when idleness was last seen to start */
    uint64_t since;      /* loop time of the last change */
} pd_client_t;

/* ---- the admin API ---- */

typedef struct pd_change_queue pd_change_queue_t;
typedef struct pd_admin pd_admin_t;
typedef struct pd_events pd_events_t;

/* The reader of the statistics behind /events (admin_snapshot.c). */
typedef struct pd_sampler {
    uint64_t tick;  /* readings taken */
    uint64_t at_ns; /* uv_hrtime() of the last one */
    uint64_t auth[PD_STATS_AUTH_NUM];
} pd_sampler_t;

/* ======== prototypes, lower layers first ======== */

/* log.c */
void log_init(const char *progname);
void log_set_level(int priority);
void log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* config.c */
void config_init(pd_config_t *conf);
void config_admin_defaults(pd_config_t *conf);
void config_auth_defaults(pd_config_t *conf);
void config_finish_defaults(pd_config_t *conf);
void config_free(pd_config_t *conf);
int config_parse_duration(const char *s, uint64_t *ms);
void config_format_duration(uint64_t ms, char *buf, size_t len);
int config_parse_size(const char *s, size_t *bytes);
void config_format_size(size_t bytes, char *buf, size_t len);
int config_parse_listen(const char *s, pd_listen_t *listen);
int config_parse_cidr(const char *s, pd_cidr_t *cidr);
int config_cidr_match(const pd_cidr_t *cidr, const struct sockaddr *sa);
char *config_resolve_path(const char *base_file, const char *path);
unsigned config_default_threads(void);

/* ydoc.c */
int ydoc_load(pd_ydoc_t *yd, const char *file, char *err, size_t errlen);
void ydoc_free(pd_ydoc_t *yd);
yaml_node_t *ydoc_root(pd_ydoc_t *yd);
yaml_node_t *ydoc_node(pd_ydoc_t *yd, int index);
const char *ydoc_scalar(yaml_node_t *node);
int ydoc_error(pd_ydoc_t *yd, yaml_node_t *node, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* config_yaml.c */
int config_load(pd_config_t *conf, const char *file, char *err, size_t errlen);

/* host_name.c */
int host_name_normalize(const char *text, size_t len, int allow_wildcard, char *out, const char **why);
int host_name_of_authority(h2o_iovec_t authority, char *out, h2o_iovec_t *port);
/* stats.c */
pd_stats_t *stats_for(const char *name);
pd_stats_t *stats_hold(pd_stats_t *s);
void stats_release(pd_stats_t *s);
int stats_counted(const pd_stats_t *s);
void stats_request(pd_stats_t *s);
void stats_response(pd_stats_t *s, int status);
void stats_latency(pd_stats_t *s, uint64_t ns);
void stats_tunnel_opened(pd_stats_t *s);
void stats_tunnel_closed(pd_stats_t *s);
void stats_auth(int counter);
void stats_auth_check(int failed, uint64_t now_ms);
uint64_t stats_auth_failed_check_ms(void);
size_t stats_latency_bucket(uint64_t us);
uint64_t stats_latency_bound(size_t i);
void stats_read(const pd_stats_t *s, pd_stats_counts_t *out);
void stats_auth_read(uint64_t out[PD_STATS_AUTH_NUM]);
const char *stats_name(const pd_stats_t *s);
pd_stats_sample_t *stats_sample(pd_stats_t *s);
double stats_quantile(const uint64_t buckets[PD_STATS_LATENCY_BUCKETS], uint64_t total, double q);
void stats_shutdown(void);

/* service.c */
int service_check_name(const char *name, char *err, size_t errlen);
void service_opts_init(pd_service_opts_t *opts);
#define PD_OPT_UNKNOWN (-2) /* service_opts_set: no option of that name */
int service_opts_set(pd_service_opts_t *opts, const char *key, const char *text, char *err, size_t errlen);
int service_opts_add_host(pd_service_opts_t *opts, const char *text, char *err, size_t errlen);
size_t service_each_option(const pd_service_t *service, void (*cb)(void *data, const char *key, const char *text, int is_bool),
                           void *data);
pd_service_t *service_new(const char *name, const pd_service_opts_t *opts, char *err, size_t errlen);
json_t *service_to_json(const pd_service_t *service);
void service_incref(pd_service_t *service);
void service_decref(pd_service_t *service);

/* registry.c */
pd_snapshot_t *snapshot_with(pd_snapshot_t *base, pd_service_t *put, const char *remove, pd_host_conflict_t *conflict);
pd_snapshot_t *snapshot_new(pd_service_t **services, size_t num_services, pd_host_conflict_t *conflict);
pd_service_t *snapshot_lookup(pd_snapshot_t *snap, const char *name, size_t len);
pd_service_t *snapshot_lookup_host(pd_snapshot_t *snap, const char *host, size_t len);
void snapshot_incref(pd_snapshot_t *snap);
void snapshot_decref(pd_snapshot_t *snap);
void registry_publish(pd_snapshot_t *snap, uint64_t version, pd_publish_cause_t cause);
pd_snapshot_t *registry_acquire(void);
uint64_t registry_generation(void);
void registry_watch(const char *name, void (*on_change)(void));
void registry_on_publish(void (*cb)(void *data, pd_snapshot_t *snap), void *data);
void registry_off_publish(void (*cb)(void *data, pd_snapshot_t *snap), void *data);
void registry_shutdown(void);

/* registry_yaml.c */
pd_snapshot_t *registry_yaml_load(const char *file, int *blank, char *err, size_t errlen);
int registry_yaml_write(FILE *fp, pd_snapshot_t *snap);

/* registry_file.c */
void registry_file_init(pd_registry_file_t *rf, const char *path);
void registry_file_free(pd_registry_file_t *rf);
pd_snapshot_t *registry_file_load(pd_registry_file_t *rf, char *err, size_t errlen);
int registry_file_save(pd_registry_file_t *rf, pd_snapshot_t *snap, char *err, size_t errlen);
int registry_file_changed(pd_registry_file_t *rf);
pd_snapshot_t *registry_file_reload(pd_registry_file_t *rf, char *err, size_t errlen);
pd_snapshot_t *registry_file_catch_up(pd_registry_file_t *rf, char *err, size_t errlen);
void registry_file_remove_stale(pd_registry_file_t *rf);

/* token.c */
char *token_load(const char *file, char *err, size_t errlen);
int token_equal(const char *expected, const char *given, size_t given_len);

/* change_queue.c */
pd_change_queue_t *change_queue_new(uv_loop_t *loop, pd_registry_file_t *rf, pd_snapshot_t *first);
void change_queue_free(pd_change_queue_t *q);
void change_queue_submit(pd_change_queue_t *q, pd_service_t *put, const char *remove, const char *if_match, int create_only,
                         pd_change_done_cb on_done, void *data);
void change_queue_reload(pd_change_queue_t *q, pd_change_done_cb on_done, void *data);
int change_queue_idle(pd_change_queue_t *q);
void change_queue_on_idle(pd_change_queue_t *q, void (*cb)(void *), void *data);

/* http_fields.c */
int http_field_is_hop_by_hop(const char *name, size_t len);
int http_field_is_proxy_owned(const char *name, size_t len);
int http_field_same_cgi_name(const char *name, size_t len, const char *lower);
int http_is_token(const char *s, size_t len);
h2o_iovec_t http_fields_join(h2o_mem_pool_t *pool, const h2o_headers_t *headers, const char *name, size_t len,
                             h2o_iovec_t separator);
int http_list_each(const char *list, size_t len, int (*each)(void *data, const char *s, size_t n), void *data);
int header_list_has(const char *list, size_t len, const char *token, size_t token_len);
int connection_options_add(pd_connection_options_t *o, const char *value, size_t len);
int connection_options_has(const pd_connection_options_t *o, const char *name, size_t len);

/* websocket.c */
#define PD_WEBSOCKET_ACCEPT_SIZE 29
int websocket_accept(h2o_iovec_t key, char accept[PD_WEBSOCKET_ACCEPT_SIZE]);

/* listen.c */
const char *listen_name(const pd_listen_t *addr, char *buf, size_t len);
const char *listen_names(const pd_listen_t *addrs, size_t num, char *buf, size_t len);
int listen_check_free(const char *what, const pd_listen_t *addr, char *err, size_t errlen);
int listen_open(const char *what, const pd_listen_t *addr, int reuseport, int **fds, size_t *num_fds, char *err, size_t errlen);

/* upstream.c (the engine's own interface is upstream.h) */
pd_upstreams_t *upstreams_new(h2o_context_t *ctx, const pd_config_t *conf);
void upstreams_close(pd_upstreams_t *ups);

/* client_guard.c */
void client_guard_configure(h2o_globalconf_t *globalconf, const pd_config_t *conf);
pd_client_guard_t *client_guard_new(uv_loop_t *loop, const pd_config_t *conf);
void client_guard_dispose(pd_client_guard_t *g);
void client_guard_add(pd_client_guard_t *g, pd_client_t *c, uv_handle_t *handle, h2o_socket_t *sock);
void client_guard_remove(pd_client_guard_t *g, pd_client_t *c);

/* worker.c */
int workers_start(const pd_config_t *conf, h2o_globalconf_t *globalconf, char *err, size_t errlen);
void workers_stop(void);
void workers_join(void);
int workers_listening(void);
void workers_register(h2o_pathconf_t *pathconf);
void worker_add_drain_hook(h2o_context_t *ctx, const pd_drain_hook_t *hook);

/* reply.c */
void reply_json(h2o_req_t *req, json_t *body);
void reply_error(h2o_req_t *req, int status, const char *reason, const char *message, const char *service);
void reply_log(h2o_req_t *req, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void reply_register(h2o_pathconf_t *pathconf);

/* request_path.c */
int request_path_canonicalize(h2o_mem_pool_t *pool, const char *raw, size_t len, int named, pd_path_t *path, const char **why);

/* request_target.c */
int request_target_origin_form(h2o_req_t *req, const char **why);

/* request_check.c */
int request_check(h2o_req_t *req, const pd_config_t *conf);

/* request_headers.c */
int request_headers_scrub(h2o_req_t *req, const pd_config_t *conf);

/* body_limit.c */
void body_limit_init(h2o_globalconf_t *globalconf, const pd_config_t *conf);
int body_limit_refuse(h2o_req_t *req, const pd_config_t *conf, const pd_service_t *service);

/* auth.c */
void auth_init(const pd_config_t *conf);
void auth_shutdown(void);
pd_auth_worker_t *auth_worker_new(h2o_context_t *ctx);
void auth_worker_dispose(pd_auth_worker_t *aw);
h2o_iovec_t auth_strip_key(h2o_req_t *req, h2o_iovec_t query, h2o_iovec_t *key);
void auth_strip_referer_key(h2o_req_t *req);
void auth_begin(pd_auth_worker_t *aw, h2o_req_t *req, const pd_route_t *route, pd_snapshot_t *snap, const pd_path_t *path,
                h2o_iovec_t key);

/* request_client.c */
h2o_iovec_t request_client_host(h2o_req_t *req);
h2o_iovec_t request_client_address(h2o_req_t *req, char *buf, size_t len);
int request_client_trusted(h2o_req_t *req, const pd_config_t *conf);
h2o_iovec_t request_client_forwarded_for(h2o_req_t *req);

/* forward.c */
pd_forwarder_t *forwarder_new(h2o_context_t *ctx, const pd_config_t *conf);
void forwarder_dispose(pd_forwarder_t *fw);
void forward_request(h2o_req_t *req, const pd_route_t *route);

/* proxy.c */
void proxy_register(h2o_pathconf_t *pathconf, const pd_config_t *conf);

/* admin_reply.c */
void admin_send_json(h2o_req_t *req, int status, const char *reason, json_t *body);
void admin_send_error(h2o_req_t *req, int status, const char *reason, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void admin_send_version(h2o_req_t *req, int status, const char *reason, json_t *body, uint64_t version);
void admin_send_method_not_allowed(h2o_req_t *req, const char *allow, const char *hint);
void admin_submit_change(h2o_req_t *req, pd_change_queue_t *changes, pd_service_t *put, const char *remove);
void admin_submit_reload(h2o_req_t *req, pd_change_queue_t *changes);

/* admin_snapshot.c */
json_t *admin_snapshot_take(pd_sampler_t *sampler, pd_snapshot_t *snap, int auth_enabled);
json_t *admin_snapshot_change(pd_snapshot_t *old, pd_snapshot_t *snap);

/* admin_health.c */
void admin_health(h2o_req_t *req);
void admin_ready(h2o_req_t *req, const char *auth_service);

/* admin_metrics.c */
void admin_metrics(h2o_req_t *req);

/* admin_events.c */
pd_events_t *admin_events_new(uv_loop_t *loop, const char *token, int auth_enabled);
void admin_events_accept(pd_events_t *ev, h2o_req_t *req, int authorized);
size_t admin_events_stop(pd_events_t *ev);
void admin_events_free(pd_events_t *ev);

/* admin_dashboard.c */
const char *admin_dashboard_dir(const pd_config_t *conf);
int admin_dashboard_check(const char *dir, char *err, size_t errlen);
void admin_dashboard_register(h2o_hostconf_t *hostconf, const char *dir);

/* admin_services.c */
void admin_services(h2o_req_t *req, pd_change_queue_t *changes, h2o_iovec_t name);

/* admin.c */
pd_admin_t *admin_start(uv_loop_t *loop, const pd_config_t *conf, pd_change_queue_t *changes, char *err, size_t errlen);
int admin_stop(pd_admin_t *admin);
void admin_free(pd_admin_t *admin);

#endif
