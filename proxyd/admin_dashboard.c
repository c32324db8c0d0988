/* admin_dashboard.c: GET /dashboard on the admin listener: the dashboard's static files, with a strict Content-Security-Policy. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "proxyd.h"

#ifndef PROXYD_DASHBOARD_DIR
#define PROXYD_DASHBOARD_DIR "/usr/share/proxyd/dashboard"
#endif

/* The page holds no secret and needs no token; what it shows comes from /events
 * and the API, with the token the operator types in. Scripts and styles come from
 * its own files only, never inline, so injected markup cannot run; nothing is
 * cached, and no other site may frame it. */
static h2o_iovec_t csp_name = {H2O_STRLIT("content-security-policy")};
static h2o_iovec_t nosniff_name = {H2O_STRLIT("x-content-type-options")};
static h2o_iovec_t referrer_name = {H2O_STRLIT("referrer-policy")};
static h2o_headers_command_t headers[] = {
    {H2O_HEADERS_CMD_SET,
     &csp_name,
     {H2O_STRLIT("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
                 "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")}},
    {H2O_HEADERS_CMD_SET, &H2O_TOKEN_CACHE_CONTROL->buf, {H2O_STRLIT("no-store")}},
    {H2O_HEADERS_CMD_SET, &nosniff_name, {H2O_STRLIT("nosniff")}},
    {H2O_HEADERS_CMD_SET, &referrer_name, {H2O_STRLIT("no-referrer")}},
    {H2O_HEADERS_CMD_NULL, NULL, {NULL, 0}},
};

/* The settings' admin.dashboard, or the folder `make install` put the files in. */
const char *admin_dashboard_dir(const pd_config_t *conf)
{
    return conf->admin.dashboard != NULL ? conf->admin.dashboard : PROXYD_DASHBOARD_DIR;
}

/* 0 when `dir` holds the page, index.html. */
int admin_dashboard_check(const char *dir, char *err, size_t errlen)
{
    char path[4096];
    struct stat st;

    if ((size_t)snprintf(path, sizeof(path), "%s/index.html", dir) >= sizeof(path)) {
        snprintf(err, errlen, "admin dashboard %s: path too long", dir);
        return -1;
    }
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "admin dashboard %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "admin dashboard %s: not a file", path);
        return -1;
    }
    return 0;
}

/* libh2o's file handler opens the decoded path up to a NUL but takes the type
 * from its end: /dashboard/index.html%00.js was the page served as JavaScript. */
static int on_nul_in_path(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    if (memchr(req->path_normalized.base, '\0', req->path_normalized.len) == NULL)
        return -1; /* on to the file handler */
    h2o_send_error_404(req, "File Not Found", "not found", 0);
    return 0;
}

/* /dashboard/ and the files of `dir` beneath it; "/dashboard" is redirected there,
 * so that the page's relative links resolve. libh2o's file handler serves them:
 * types by extension, no directory listing, paths normalised before they are
 * looked up, so nothing outside `dir` is reachable. */
void admin_dashboard_register(h2o_hostconf_t *hostconf, const char *dir)
{
    static const char *index_files[] = {"index.html", NULL};
    h2o_pathconf_t *pathconf = h2o_config_register_path(hostconf, "/dashboard", 0);

    pathconf->error_log.emit_request_errors = 0;
    h2o_create_handler(pathconf, sizeof(h2o_handler_t))->on_req = on_nul_in_path;
    h2o_file_register(pathconf, dir, index_files, NULL, 0);
    h2o_headers_register(pathconf, headers);
}
