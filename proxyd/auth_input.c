/* auth_input.c: what a check shows the auth service: one list of fields, walked by the check's request and the cache's digest. */
#include <string.h>
#include <openssl/crypto.h>
#include "auth.h"

/* The request a list is built from. */
typedef struct source {
    h2o_req_t *req;
    const pd_route_t *route;
    const pd_path_t *path;
    h2o_iovec_t key;
} source_t;

static h2o_iovec_t key_of(const source_t *src)
{
    return src->key;
}

/* The first Authorization field, as the credential is always one field. */
static h2o_iovec_t authorization_of(const source_t *src)
{
    ssize_t i = h2o_find_header(&src->req->headers, H2O_TOKEN_AUTHORIZATION, -1);

    return i == -1 ? h2o_iovec_init(NULL, 0) : src->req->headers.entries[i].value;
}

static h2o_iovec_t service_of(const source_t *src)
{
    return h2o_iovec_init(src->route->service->name, strlen(src->route->service->name));
}

/* As the service is told in its own X-Forwarded-Proto (forward_fields.c). */
static h2o_iovec_t proto_of(const source_t *src)
{
    return src->req->input.scheme->name;
}

static h2o_iovec_t method_of(const source_t *src)
{
    return src->req->method;
}

/* The one canonical path with the query without the key: what is routed
 * is what the auth service sees. */
static h2o_iovec_t uri_of(const source_t *src)
{
    return h2o_concat(&src->req->pool, src->path->path, src->route->query);
}

static h2o_iovec_t host_of(const source_t *src)
{
    return request_client_host(src->req);
}

/* As the service is told in its own X-Forwarded-For: behind trusted_proxies, the
 * peer alone would be the same proxy for every client. */
static h2o_iovec_t client_of(const source_t *src)
{
    return request_client_forwarded_for(src->req);
}

/* What the auth service is shown, in this order. `vary` 0: always; otherwise only when
 * auth.vary names that part. The row without a value stands for auth.request_headers. */
static const struct shown_part {
    const char *name; /* NULL: the key */
    unsigned vary;
    h2o_iovec_t (*value)(const source_t *src);
} shown_parts[] = {
    {NULL, 0, key_of},
    {"Authorization", 0, authorization_of},
    {"", 0, NULL}, /* auth.request_headers */
    {"X-Forwarded-Service", 0, service_of},
    {"X-Forwarded-Proto", 0, proto_of},
    {"X-Forwarded-Method", PD_AUTH_VARY_METHOD, method_of},
    {"X-Forwarded-Uri", PD_AUTH_VARY_PATH, uri_of},
    {"X-Forwarded-Host", PD_AUTH_VARY_PATH, host_of},
    {"X-Forwarded-For", PD_AUTH_VARY_CLIENT, client_of},
};

_Static_assert(sizeof(shown_parts) / sizeof(shown_parts[0]) - 1 + PD_AUTH_MAX_LISTED_HEADERS <= PD_AUTH_MAX_FIELDS,
               "pd_auth_input_t holds every field a check can show");

/* Every field of the client's named `name` (lower case) as one value; Cookie
 * joined with "; " (RFC 6265 §5.4, as HTTP/2 splits it), others with ", ". */
static h2o_iovec_t joined_value(h2o_req_t *req, const char *name)
{
    h2o_iovec_t separator = strcmp(name, "cookie") == 0 ? h2o_iovec_init(H2O_STRLIT("; ")) : h2o_iovec_init(H2O_STRLIT(", "));

    return http_fields_join(&req->pool, &req->headers, name, strlen(name), separator);
}

static void add_field(pd_auth_input_t *in, const char *name, h2o_iovec_t value)
{
    in->fields[in->num_fields++] = (pd_auth_field_t){name, value};
}

/* Fills `in` from the request: the key (`key`, as sent, or {NULL, 0}), the fields
 * auth.vary names, and the client's auth.request_headers. */
void auth_input_build(pd_auth_input_t *in, h2o_req_t *req, const pd_config_t *conf, const pd_route_t *route, const pd_path_t *path,
                      h2o_iovec_t key)
{
    source_t src = {req, route, path, key};
    size_t i, j;

    in->num_fields = 0;
    for (i = 0; i < sizeof(shown_parts) / sizeof(shown_parts[0]); i++) {
        const struct shown_part *part = &shown_parts[i];
        if (part->vary != 0 && (conf->auth.vary & part->vary) == 0)
            continue;
        if (part->value != NULL) {
            add_field(in, part->name, part->value(&src));
            continue;
        }
        for (j = 0; j < conf->auth.num_request_headers; j++)
            add_field(in, conf->auth.request_headers[j], joined_value(req, conf->auth.request_headers[j]));
    }
}

/* Appends one field as its place in the list, whether it is present, its length and
 * its bytes: no two different lists share an encoding, whatever bytes the values
 * hold. The place stands for the name: the settings fix which names a list has, in
 * which order, for the daemon's lifetime. */
static char *put_field(char *p, size_t place, h2o_iovec_t value)
{
    uint64_t len = value.len;

    *p++ = (char)place;
    *p++ = value.base != NULL;
    memcpy(p, &len, sizeof(len));
    p += sizeof(len);
    if (value.len != 0)
        memcpy(p, value.base, value.len);
    return p + value.len;
}

#define ENCODED_SIZE(len) (2 + sizeof(uint64_t) + (len))
_Static_assert(PD_AUTH_MAX_FIELDS <= 255, "a field's place fits in one byte");

/* The SHA-256 of every field, in one buffer and one digest update: OpenSSL's
 * per-call overhead is larger than the hashing, and the names would double the
 * blocks hashed. The key is never kept. */
void auth_input_digest(const pd_auth_input_t *in, EVP_MD_CTX *md, const EVP_MD *sha256, h2o_mem_pool_t *pool,
                       unsigned char digest[PD_AUTH_DIGEST_LEN])
{
    size_t i, total = 0;
    char *buf, *p;

    for (i = 0; i < in->num_fields; i++)
        total += ENCODED_SIZE(in->fields[i].value.len);
    p = buf = h2o_mem_alloc_pool(pool, total);
    for (i = 0; i < in->num_fields; i++)
        p = put_field(p, i, in->fields[i].value);
    if (!EVP_DigestInit_ex2(md, sha256, NULL) || !EVP_DigestUpdate(md, buf, total) || !EVP_DigestFinal_ex(md, digest, NULL))
        fatalx("%s: SHA-256 failed", __func__);
    OPENSSL_cleanse(buf, total); /* it holds the key */
}
