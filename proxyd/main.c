/* main.c: command line, -t, signals, starting and stopping the worker loops. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include <openssl/crypto.h>
#include <sys/resource.h>
#include "proxyd.h"

#ifndef PROXYD_CONFIG_FILE
#define PROXYD_CONFIG_FILE "/etc/proxyd/proxyd.yaml"
#endif

/* Bodies above this spill from memory into temporary files (h2o's buffer mmap). */
#define BODY_SPILL_THRESHOLD (1024 * 1024)

static void usage(FILE *out)
{
    fprintf(out,
            "usage: proxyd [-t] [-c file]\n"
            "  -c, --config FILE  settings file (default %s)\n"
            "  -t, --test         check the settings and the registry, then exit\n"
            "  -V, --version      print the version and exit\n"
            "  -h, --help         print this help and exit\n",
            PROXYD_CONFIG_FILE);
}

/* With auth on, every request is checked by the registry entry auth.service
 * names; without that entry each would be refused with a 503, so proxyd does not
 * start. A later reload or admin change that drops the entry fails closed the same way. */
static int check_auth_service(const pd_config_t *conf, pd_snapshot_t *snap, char *err, size_t errlen)
{
    if (!conf->auth.enabled || snapshot_lookup(snap, conf->auth.service, strlen(conf->auth.service)) != NULL)
        return 0;
    snprintf(err, errlen, "%s: auth.service '%s' is not an entry of the registry %s: every request would be refused (503)",
             conf->path, conf->auth.service, conf->registry);
    return -1;
}

/* Reads both files and the admin token; prints the first error. */
static int load_all(pd_config_t *conf, const char *file, pd_registry_file_t *rf, pd_snapshot_t **snap)
{
    char err[1024], *token;

    if (config_load(conf, file, err, sizeof(err)) != 0)
        goto fail;
    registry_file_init(rf, conf->registry);
    if ((*snap = registry_file_load(rf, err, sizeof(err))) == NULL)
        goto fail;
    if (check_auth_service(conf, *snap, err, sizeof(err)) != 0)
        goto fail;
    if (conf->admin.enabled) {
        if ((token = token_load(conf->admin.token_file, err, sizeof(err))) == NULL)
            goto fail;
        OPENSSL_cleanse(token, strlen(token));
        free(token);
        if (conf->admin.dashboard != NULL && admin_dashboard_check(conf->admin.dashboard, err, sizeof(err)) != 0)
            goto fail;
    }
    return 0;
fail:
    log_errorx("%s", err);
    return -1;
}

/* A second proxyd started by mistake on the same addresses stops here, before it
 * touches what the running one owns: the registry's temporary files (an admin
 * write in flight) and the admin socket file, which open_unix would replace. */
static void check_addresses_free(const pd_config_t *conf)
{
    char err[1024];
    size_t i;

    for (i = 0; i < conf->num_listens; i++)
        if (listen_check_free("listen", &conf->listens[i], err, sizeof(err)) != 0)
            fatalx("%s", err);
    if (conf->admin.enabled && listen_check_free("admin listen", &conf->admin.listen, err, sizeof(err)) != 0)
        fatalx("%s", err);
}

static void setup_h2o(h2o_globalconf_t *globalconf, const pd_config_t *conf)
{
    h2o_hostconf_t *hostconf;
    static char spill_template[1024];
    const char *tmpdir = getenv("TMPDIR");

    h2o_config_init(globalconf);
    globalconf->server_name = h2o_iovec_init(H2O_STRLIT("proxyd"));
    body_limit_init(globalconf, conf);        /* max_request_entity_size */
    client_guard_configure(globalconf, conf); /* http1.req_timeout */
    snprintf(spill_template, sizeof(spill_template), "%s/proxyd.body.XXXXXX", tmpdir != NULL ? tmpdir : "/tmp");
    h2o_socket_buffer_mmap_settings.threshold = BODY_SPILL_THRESHOLD;
    strcpy(h2o_socket_buffer_mmap_settings.fn_template, spill_template);
    /* one catch-all host and path: every request reaches proxy.c, every error reply.c */
    hostconf = h2o_config_register_host(globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    /* reply.c logs failures without the query string, which may hold credentials */
    hostconf->fallback_path.error_log.emit_request_errors = 0;
    reply_register(&hostconf->fallback_path);   /* first: marks requests that reached the handlers */
    workers_register(&hostconf->fallback_path); /* counts requests in flight, then passes them on */
    proxy_register(&hostconf->fallback_path, conf);
}

/* Each client connection takes a descriptor, each tunnel or upstream request one
 * more: the soft limit (often 1024) goes up to the hard one, as nginx's
 * worker_rlimit_nofile and HAProxy do. */
static void raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        log_warn("setrlimit(RLIMIT_NOFILE)");
}

static void on_changes_done(void *loop)
{
    uv_stop(loop);
}

static void on_signal(uv_signal_t *handle, int signum)
{
    pd_change_queue_t *changes = handle->data;

    static int stopping;

    if (signum == SIGHUP) {
        change_queue_reload(changes, NULL, NULL);
        return;
    }
    if (stopping++)
        return; /* already draining: a second Ctrl-C changes nothing */
    log_info("%s: stopping", strsignal(signum));
    workers_stop();
    /* a change being written is finished and answered first */
    change_queue_on_idle(changes, on_changes_done, handle->loop);
}

/* The start line: where proxyd can be reached and what it serves, for an
 * operator reading the log after a restart. */
static void log_started(const pd_config_t *conf, int admin_on)
{
    char listens[1024], admin[512];

    log_info("listening on %s with %u thread%s; admin API %s%s; registry %s",
             listen_names(conf->listens, conf->num_listens, listens, sizeof(listens)), conf->threads, conf->threads == 1 ? "" : "s",
             admin_on ? "on " : "off", admin_on ? listen_name(&conf->admin.listen, admin, sizeof(admin)) : "", conf->registry);
}

/* Runs until SIGTERM or SIGINT; SIGHUP re-reads the registry. The handlers are in
 * place before the first listener opens, so an early SIGHUP cannot kill proxyd.
 * The admin API shares this loop, so registry changes happen one at a time. */
static void run(const pd_config_t *conf, h2o_globalconf_t *globalconf, pd_registry_file_t *rf, pd_snapshot_t *snap)
{
    static const int signums[] = {SIGTERM, SIGINT, SIGHUP};
    /* static: when admin connections are still open at exit, all of this stays in
     * use until the process ends, and must stay reachable */
    static uv_signal_t signals[3];
    static uv_loop_t loop;
    static pd_change_queue_t *changes;
    static pd_admin_t *admin;
    char err[1024];
    size_t i;
    int admin_released = 1;

    uv_loop_init(&loop);
    changes = change_queue_new(&loop, rf, snap); /* publishes `snap` */
    for (i = 0; i < 3; i++) {
        uv_signal_init(&loop, &signals[i]);
        signals[i].data = changes;
        uv_signal_start(&signals[i], on_signal, signums[i]);
    }
    if (conf->admin.enabled && (admin = admin_start(&loop, conf, changes, err, sizeof(err))) == NULL)
        fatalx("%s", err);
    if (workers_start(conf, globalconf, err, sizeof(err)) != 0)
        fatalx("%s", err);
    log_started(conf, admin != NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    workers_join();
    if (admin != NULL)
        admin_released = admin_stop(admin);
    for (i = 0; i < 3; i++)
        uv_close((uv_handle_t *)&signals[i], NULL);
    if (!admin_released)
        return; /* admin connections still hold the loop: the exit closes them */
    uv_run(&loop, UV_RUN_DEFAULT);
    if (admin != NULL)
        admin_free(admin);
    change_queue_free(changes);
    uv_loop_close(&loop);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"test", no_argument, NULL, 't'},
                                             {"version", no_argument, NULL, 'V'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *file = PROXYD_CONFIG_FILE;
    int ch, test_only = 0;
    pd_config_t conf;
    pd_snapshot_t *snap = NULL;
    pd_registry_file_t rf;
    h2o_globalconf_t globalconf;

    log_init("proxyd");
    while ((ch = getopt_long(argc, argv, "c:tVh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            file = optarg;
            break;
        case 't':
            test_only = 1;
            break;
        case 'V':
            printf("proxyd %s\n", PACKAGE_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 1;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 1;
    }
    config_init(&conf);
    if (load_all(&conf, file, &rf, &snap) != 0)
        return 1;
    log_set_level(conf.log_level);
    if (test_only) {
        printf("proxyd: %s and %s: configuration OK (%zu service%s)\n", file, conf.registry, snap->num_services,
               snap->num_services == 1 ? "" : "s");
        snapshot_decref(snap);
        stats_shutdown();
        registry_file_free(&rf);
        config_free(&conf);
        return 0;
    }
    check_addresses_free(&conf);
    registry_file_remove_stale(&rf);
    raise_fd_limit();
    signal(SIGPIPE, SIG_IGN);
    signal(SIGUSR1, SIG_IGN); /* logrotate's habit; proxyd logs to stderr and has nothing to reopen */
    signal(SIGUSR2, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        fatalx("curl_global_init failed");
    if (conf.auth.enabled)
        auth_init(&conf);
    else
        log_warnx("no auth: key in %s: forward auth is off, requests reach services unchecked", file);
    if (snap->num_services == 0)
        log_warnx("%s has no services: every request gets 404 until one is added", conf.registry);
    setup_h2o(&globalconf, &conf);
    run(&conf, &globalconf, &rf, snap);
    auth_shutdown(); /* every worker stopped: no late decision can be posted any more; empties the cache */
    registry_shutdown();
    stats_shutdown(); /* after the last service was let go */
    h2o_config_dispose(&globalconf);
    registry_file_free(&rf);
    config_free(&conf);
    curl_global_cleanup();
    return 0;
}
