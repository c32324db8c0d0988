/* log.c: messages for the operator on stderr; the *x variants omit strerror. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proxyd.h"

static const char *progname = "proxyd";

static void vlog(const char *level, int with_errno, const char *fmt, va_list ap)
{
    char msg[1024];
    int saved_errno = errno;

    vsnprintf(msg, sizeof(msg), fmt, ap);
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
