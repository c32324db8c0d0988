/* listen.c: the listening sockets of the front end and the admin API, opened before any thread starts so that bind errors stop
 * start-up. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "proxyd.h"

static void add_fd(int **fds, size_t *num_fds, int fd)
{
    if ((*fds = realloc(*fds, (*num_fds + 1) * sizeof(**fds))) == NULL)
        fatal("%s", __func__);
    (*fds)[(*num_fds)++] = fd;
}

/* A unix socket only its owner may use; a socket file left by an earlier run is replaced. */
static int open_unix(const char *what, const char *path, int **fds, size_t *num_fds, char *err, size_t errlen)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(ENAMETOOLONG));
        return -1;
    }
    strcpy(sun.sun_path, path);
    unlink(path);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
        goto fail;
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || chmod(path, 0600) != 0 || listen(fd, SOMAXCONN) != 0) {
        close(fd);
        goto fail;
    }
    add_fd(fds, num_fds, fd);
    return 0;
fail:
    snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
    return -1;
}

/* The addresses `addr` names ("localhost" may be both 127.0.0.1 and ::1); 0, or -1 with `err` set. */
static int resolve(const char *what, const pd_listen_t *addr, struct addrinfo **res, char *err, size_t errlen)
{
    struct addrinfo hints = {0};
    char port[8];
    int gai;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%u", addr->port);
    if ((gai = getaddrinfo(addr->host, port, &hints, res)) != 0) {
        snprintf(err, errlen, "%s %s:%u: %s", what, addr->host != NULL ? addr->host : "*", addr->port, gai_strerror(gai));
        return -1;
    }
    return 0;
}

/* Whether a process accepts connections on the unix socket `path`. A file left by
 * an earlier run refuses them and may be replaced (open_unix); a live one may not:
 * its owner would lose it. Non-blocking: a full backlog (EAGAIN) is a live one too. */
static int unix_in_use(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd, used;

    if (strlen(path) >= sizeof(sun.sun_path) || (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
        return 0;
    strcpy(sun.sun_path, path);
    used = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 || errno == EAGAIN;
    close(fd);
    return used;
}

/* `addr` as an operator wrote it, for the log: "127.0.0.1:8081", "[::1]:8081",
 * "*:8081" or "unix:/run/proxyd/admin.sock". */
const char *listen_name(const pd_listen_t *addr, char *buf, size_t len)
{
    if (addr->unix_path != NULL)
        snprintf(buf, len, "unix:%s", addr->unix_path);
    else if (addr->host != NULL && strchr(addr->host, ':') != NULL)
        snprintf(buf, len, "[%s]:%u", addr->host, addr->port);
    else
        snprintf(buf, len, "%s:%u", addr->host != NULL ? addr->host : "*", addr->port);
    return buf;
}

/* The `num` addresses of `addrs` as listen_name() writes them, joined by ", ";
 * cut short with "..." when `len` is too small for all of them. */
const char *listen_names(const pd_listen_t *addrs, size_t num, char *buf, size_t len)
{
    char one[512];
    size_t i, used = 0;

    buf[0] = '\0';
    for (i = 0; i < num; i++) {
        int n = snprintf(buf + used, len - used, "%s%s", i > 0 ? ", " : "", listen_name(&addrs[i], one, sizeof(one)));
        if (n < 0 || (size_t)n >= len - used) {
            if (len >= 4)
                strcpy(buf + len - 4, "...");
            break;
        }
        used += (size_t)n;
    }
    return buf;
}

/* Whether nobody listens on `addr` yet. The workers' sockets share their port with
 * SO_REUSEPORT, which would also let them share it with another process of the
 * same user (a second proxyd started by mistake), the kernel then splitting
 * connections between the two; a socket without it cannot bind next to one. */
int listen_check_free(const char *what, const pd_listen_t *addr, char *err, size_t errlen)
{
    struct addrinfo *res, *ai;
    int fd, on = 1, ret = 0;

    if (addr->unix_path != NULL) {
        if (!unix_in_use(addr->unix_path))
            return 0;
        snprintf(err, errlen, "%s %s: %s (another process listens there)", what, addr->unix_path, strerror(EADDRINUSE));
        return -1;
    }
    if (resolve(what, addr, &res, err, errlen) != 0)
        return -1;
    for (ai = res; ai != NULL && ret == 0; ai = ai->ai_next) {
        if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol)) == -1)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)); /* connections in TIME_WAIT are no listener */
        if (ai->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno == EADDRINUSE) {
            snprintf(err, errlen, "%s %s:%u: %s (another process listens there)", what, addr->host != NULL ? addr->host : "*",
                     addr->port, strerror(errno));
            ret = -1;
        }
        close(fd);
    }
    freeaddrinfo(res);
    return ret;
}

/* Opens a socket for every address `addr` resolves to ("localhost" may be both
 * 127.0.0.1 and ::1), or a unix socket, and appends them to *fds. `reuseport`: one
 * socket per worker on the same address, the kernel spreading connections over
 * them. `what` starts error messages ("listen", "admin listen"). */
int listen_open(const char *what, const pd_listen_t *addr, int reuseport, int **fds, size_t *num_fds, char *err, size_t errlen)
{
    struct addrinfo *res, *ai;
    int fd, on = 1;

    if (addr->unix_path != NULL)
        return open_unix(what, addr->unix_path, fds, num_fds, err, errlen);
    if (resolve(what, addr, &res, err, errlen) != 0)
        return -1;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol)) == -1)
            goto fail;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
        if (reuseport)
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
        if (ai->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
            close(fd);
            goto fail;
        }
        add_fd(fds, num_fds, fd);
    }
    freeaddrinfo(res);
    return 0;
fail:
    snprintf(err, errlen, "%s %s:%u: %s", what, addr->host != NULL ? addr->host : "*", addr->port, strerror(errno));
    freeaddrinfo(res);
    return -1;
}
