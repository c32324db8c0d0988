/* demo_page.c: a demo program's page (index.html, scripts, styles) served from a folder by libh2o's file handler. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "demo_server.h"

/* The folder's absolute path (caller frees), or NULL after saying why it cannot be the page's folder. */
char *demo_page_check(const char *dir)
{
    char *real = realpath(dir, NULL), index[PATH_MAX];
    struct stat st;

    if (real == NULL) {
        demo_warnx("--root %s: %s", dir, strerror(errno));
        return NULL;
    }
    if (stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
        demo_warnx("--root %s: not a folder", dir);
    } else if (snprintf(index, sizeof(index), "%s/index.html", real) >= (int)sizeof(index) || access(index, R_OK) != 0) {
        demo_warnx("--root %s: no readable index.html in it: is it the page's folder?", dir);
    } else {
        return real;
    }
    free(real);
    return NULL;
}

/* Serves root's files under pathconf. The types carry the charset so that no browser has to guess it. */
void demo_page_register(h2o_pathconf_t *pathconf, const char *root)
{
    h2o_mimemap_t *types = h2o_mimemap_create();

    h2o_mimemap_define_mimetype(types, "html", "text/html; charset=utf-8", NULL);
    h2o_mimemap_define_mimetype(types, "js", "text/javascript; charset=utf-8", NULL);
    h2o_mimemap_define_mimetype(types, "css", "text/css; charset=utf-8", NULL);
    /* libh2o resolves request paths before they reach a handler: no ".." leaves root */
    h2o_file_register(pathconf, root, NULL, types, 0);
    h2o_mem_release_shared(types); /* the file handler holds its own reference */
}
