/* auth.h: the forward-auth subsystem's own types and prototypes, for auth*.c only. */
#ifndef PROXYD_AUTH_H
#define PROXYD_AUTH_H

#include <openssl/evp.h>
#include "proxyd.h"

/* What the auth service decided for what it was shown (pd_auth_input_t): immutable,
 * shared by the cache and the requests it is applied to. */
#define PD_AUTH_DIGEST_LEN 32
typedef struct pd_auth_header {
    char *name; /* lower case */
    char *value;
} pd_auth_header_t;
typedef struct pd_auth_decision {
    int refcnt; /* atomic */
    enum { PD_AUTH_ALLOW, PD_AUTH_DENY, PD_AUTH_FAIL } kind;
    int status;                         /* PD_AUTH_DENY: relayed to the client */
    pd_auth_header_t *upstream_headers; /* ALLOW: copy_headers' values, added to the request sent to the service */
    size_t num_upstream_headers;
    pd_auth_header_t *client_headers; /* ALLOW: response_headers' values; DENY: all but the hop-by-hop ones; both
                                       * added to the client's answer */
    size_t num_client_headers;
    int per_client; /* it passes a Set-Cookie to the client: made for one client, so never cached,
                     * nor given to another request that waited on the same check */
    char *body;     /* PD_AUTH_DENY */
    size_t body_len;
    char *message; /* PD_AUTH_FAIL: why, for the 503 */
} pd_auth_decision_t;
typedef struct pd_auth_entry pd_auth_entry_t;
enum { PD_AUTH_CACHE_HIT, PD_AUTH_CACHE_WAIT, PD_AUTH_CACHE_LEAD };

/* auth_client.c */
typedef struct pd_auth_client pd_auth_client_t;
pd_auth_client_t *auth_client_new(uv_loop_t *loop);
void auth_client_start(pd_auth_client_t *client, CURL *easy, void (*on_done)(void *, CURL *, CURLcode), void *data);
void auth_client_dispose(pd_auth_client_t *client);
void auth_client_free(pd_auth_client_t *client);

/* auth_cache.c */
void auth_cache_init(size_t limit);
void auth_decision_incref(pd_auth_decision_t *d);
void auth_decision_decref(pd_auth_decision_t *d);
int auth_cache_lookup(const unsigned char *digest, uint64_t now, h2o_linklist_t *waiter, pd_auth_decision_t **hit,
                      pd_auth_entry_t **lead);
void auth_cache_complete(pd_auth_entry_t *e, pd_auth_decision_t *d, uint64_t ttl_ms, uint64_t now, h2o_linklist_t *waiters);
pd_auth_entry_t *auth_cache_private(h2o_linklist_t *waiter);
void auth_cache_clear(void);

/* One thing a check shows the auth service: a header field, or (name NULL) the key,
 * which goes into the URL's query as ?key=. */
typedef struct pd_auth_field {
    const char *name;  /* as sent: "X-Forwarded-Uri", or a request_headers name */
    h2o_iovec_t value; /* {NULL, 0}: the request has none, nothing is sent */
} pd_auth_field_t;

/* What a check shows the auth service, as one list built once per request from
 * auth.vary and auth.request_headers (auth_input.c). The request to the auth service
 * (auth_check.c) and the digest that names the check and keys its decision both walk
 * this list, so they cannot differ: a decision is reused only for what the auth
 * service was shown. The values are in the request's pool. */
#define PD_AUTH_MAX_FIELDS (8 + PD_AUTH_MAX_LISTED_HEADERS)
typedef struct pd_auth_input {
    pd_auth_field_t fields[PD_AUTH_MAX_FIELDS];
    size_t num_fields;
} pd_auth_input_t;

/* auth_input.c */
void auth_input_build(pd_auth_input_t *in, h2o_req_t *req, const pd_config_t *conf, const pd_route_t *route, const pd_path_t *path,
                      h2o_iovec_t key);
void auth_input_digest(const pd_auth_input_t *in, EVP_MD_CTX *md, const EVP_MD *sha256, h2o_mem_pool_t *pool,
                       unsigned char digest[PD_AUTH_DIGEST_LEN]);

/* auth_check.c: reports each decision through on_decided */
typedef void (*pd_auth_decided_cb)(void *data, pd_auth_decision_t *d, uint64_t ttl_ms);
void auth_check_init(const pd_config_t *conf);
pd_auth_decision_t *auth_decision_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void auth_check_start(pd_auth_client_t *client, pd_service_t *auth_service, const pd_auth_input_t *in,
                      pd_auth_decided_cb on_decided, void *data);

#endif
