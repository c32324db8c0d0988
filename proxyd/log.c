/* log.c: messages for the operator on stderr; the *x variants omit strerror. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proxyd.h"

static const char *progname = "proxyd";

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

static void vlog(const char *level, int with_errno, const char *fmt, va_list ap)
{
    char raw[1024], msg[4 * sizeof(raw)];
    int saved_errno = errno;

    vsnprintf(raw, sizeof(raw), fmt, ap);
    escape(raw, msg, sizeof(msg));
    if (with_errno)
        fprintf(stderr, "%s: %s%s: %s\n", progname, level, msg, strerror(saved_errno));
    else
        fprintf(stderr, "%s: %s%s\n", progname, level, msg);
}

void log_init(const char *name)
{
    progname = name;
}

void log_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog("", 0, fmt, ap);
    va_end(ap);
}

void log_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog("warning: ", 1, fmt, ap);
    va_end(ap);
}

void log_warnx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog("warning: ", 0, fmt, ap);
    va_end(ap);
}

void fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog("fatal: ", 1, fmt, ap);
    va_end(ap);
    exit(1);
}

void fatalx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog("fatal: ", 0, fmt, ap);
    va_end(ap);
    exit(1);
}
