/* demo_server.h: the skeleton shared by the demo services and the test upstream. */
#ifndef DEMO_SERVER_H
#define DEMO_SERVER_H

#include <stddef.h>
#include <jansson.h>
#include <h2o.h>

/* An option a program adds to -l/--listen and -h/--help. */
typedef struct demo_option {
    const char *long_name; /* NULL ends the table */
    int short_name;        /* 0: long form only */
    const char *arg_name;  /* NULL: a flag without argument */
    const char *help;
    int (*apply)(const char *arg); /* 0 or -1 (the program then exits 2); arg is NULL for flags */
} demo_option_t;

/* What a program is: its name, default address, its request handler and its page. */
typedef struct demo_server {
    const char *name;           /* "weather": log prefix and usage */
    const char *default_listen; /* NULL: -l is required */
    const demo_option_t *options;
    /* every request but the /count endpoints: returns 0 once it responded, or -1 to leave the request to the files
     * of the page (404 for a program without one) */
    int (*on_request)(h2o_req_t *req);
    /* NULL, or the page's folder in the source tree, for -h: the program then requires -r/--root DIR and serves the
     * page's files (index.html, scripts, styles) from DIR */
    const char *page_folder;
} demo_server_t;

typedef void (*demo_deferred_cb)(h2o_req_t *req, void *data);

/* demo_server.c */
int demo_main(const demo_server_t *server, int argc, char **argv);
void demo_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int demo_parse_ms(const char *s, size_t len, unsigned *ms);
int demo_parse_count(const char *arg, size_t min, size_t max, size_t *value);
int demo_path_is(h2o_req_t *req, const char *path);
int demo_method_is(h2o_req_t *req, const char *method);
int demo_query_param(h2o_req_t *req, const char *name, h2o_iovec_t *value);
json_t *demo_headers_json(h2o_req_t *req);
void demo_add_header(h2o_req_t *req, const char *name, h2o_iovec_t value);
void demo_send_json(h2o_req_t *req, int status, json_t *body);
void demo_send_error(h2o_req_t *req, int status, const char *message);
void demo_defer(h2o_req_t *req, unsigned ms, demo_deferred_cb cb, void *data);

/* demo_page.c */
char *demo_page_check(const char *dir);
void demo_page_register(h2o_pathconf_t *pathconf, const char *root);

#endif
