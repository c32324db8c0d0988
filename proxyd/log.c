/* log.c: messages for the operator on stderr; the *x variants omit strerror. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include "proxyd.h"

static const char *progname = "proxyd";
static int max_priority = LOG_INFO; /* log_level: lines of a lower priority (a larger number) are dropped */
/* "<3>", "<4>", "<6>" before each line, as sd-daemon(3) describes: the journal
 * (and anything else reading stderr through a pipe or file) learns each line's
 * priority from it; on a terminal it would only be noise. */
static int priority_prefix;

/* Every byte a client could have sent is printable once logged: a request path
 * with CR/LF must not forge a log line, nor an escape sequence reach a terminal
 * (issue 7). Backslashes are doubled so that the escaping can be undone. */
static void escape(const char *in, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    for (; *in != '\0' && o + 5 < outlen; in++) {
        unsigned char c = *in;
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out[o++] = c;
        } else if (c == '\\') {
            out[o++] = '\\';
            out[o++] = '\\';
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

static void vlog(int priority, const char *level, int with_errno, const char *fmt, va_list ap)
{
    char raw[1024], msg[4 * sizeof(raw)], prefix[8] = "";
    int saved_errno = errno;

    if (priority > max_priority)
        return;
    if (priority_prefix)
        snprintf(prefix, sizeof(prefix), "<%d>", priority);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    escape(raw, msg, sizeof(msg));
    if (with_errno)
        fprintf(stderr, "%s%s: %s%s: %s\n", prefix, progname, level, msg, strerror(saved_errno));
    else
        fprintf(stderr, "%s%s: %s%s\n", prefix, progname, level, msg);
}

void log_init(const char *name)
{
    progname = name;
    priority_prefix = !isatty(STDERR_FILENO);
}

/* `priority`: LOG_ERR, LOG_WARNING or LOG_INFO, from the log_level setting. */
void log_set_level(int priority)
{
    max_priority = priority;
}

/* An error proxyd goes on after, or reports before it exits by itself. */
void log_errorx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_ERR, "", 0, fmt, ap);
    va_end(ap);
}

void log_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_INFO, "", 0, fmt, ap);
    va_end(ap);
}

void log_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_WARNING, "warning: ", 1, fmt, ap);
    va_end(ap);
}

void log_warnx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_WARNING, "warning: ", 0, fmt, ap);
    va_end(ap);
}

void fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_ERR, "fatal: ", 1, fmt, ap);
    va_end(ap);
    exit(1);
}

void fatalx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_ERR, "fatal: ", 0, fmt, ap);
    va_end(ap);
    exit(1);
}
