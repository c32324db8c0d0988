/* token.c: the admin API's bearer token: read from a private file, compared in constant time. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "proxyd.h"

#define TOKEN_MAX 4096

/* Reads the file's first line; refuses a missing, empty or group/other-readable
 * file, so that a token is never accepted from a file others can read. Caller
 * frees with token_free(). */
char *token_load(const char *file, char *err, size_t errlen)
{
    char buf[TOKEN_MAX + 2];
    struct stat st;
    ssize_t n;
    int fd;

    if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "admin token file %s: %s", file, strerror(errno));
        if (fd != -1)
            close(fd);
        return NULL;
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        snprintf(err, errlen, "admin token file %s: readable by group or others (mode %03o): chmod 600 it", file,
                 (unsigned)(st.st_mode & 0777));
        close(fd);
        return NULL;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0) {
        snprintf(err, errlen, "admin token file %s: %s", file, strerror(errno));
        return NULL;
    }
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (buf[0] == '\0' || strlen(buf) > TOKEN_MAX) {
        snprintf(err, errlen, "admin token file %s: %s", file, buf[0] == '\0' ? "empty" : "token longer than 4096 bytes");
        OPENSSL_cleanse(buf, sizeof(buf));
        return NULL;
    }
    char *token = strdup(buf);
    OPENSSL_cleanse(buf, sizeof(buf));
    if (token == NULL)
        fatal("%s", __func__);
    return token;
}

/* Constant time in the token's contents, so the answer's timing does not leak it. */
int token_equal(const char *expected, const char *given, size_t given_len)
{
    size_t len = strlen(expected);

    if (given_len != len)
        return 0;
    return CRYPTO_memcmp(expected, given, len) == 0;
}
