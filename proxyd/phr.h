/* phr.h: picohttpparser's interface. libh2o 2.2.5 exports the parser (nm -D libh2o.so)
 * but Debian's libh2o-dev does not install its header, so its declarations are here. */
#ifndef PROXYD_PHR_H
#define PROXYD_PHR_H

#include <stddef.h>
#include <sys/types.h>

struct phr_header {
    const char *name; /* NULL for an obs-folded continuation line */
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* Returns the length of the head, -1 for a parse error, -2 for an incomplete head. */
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len, const char **path, size_t *path_len,
                      int *minor_version, struct phr_header *headers, size_t *num_headers, size_t last_len);

/* Same, for a response's status line and fields. */
int phr_parse_response(const char *buf, size_t len, int *minor_version, int *status, const char **msg, size_t *msg_len,
                       struct phr_header *headers, size_t *num_headers, size_t last_len);

/* Zero-filled before the first call. */
struct phr_chunked_decoder {
    size_t bytes_left_in_chunk;
    char consume_trailer; /* 1: the trailer section is consumed too */
    char _hex_count;
    char _state;
};

/* Decodes chunked data in place: *bufsz becomes the decoded length. Returns -2
 * while incomplete (all input was consumed), -1 on error, else the number of
 * bytes left after the end of the body. */
ssize_t phr_decode_chunked(struct phr_chunked_decoder *decoder, char *buf, size_t *bufsz);

#endif
