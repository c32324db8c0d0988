/* auth.h: the forward-auth subsystem's own types and prototypes, for auth*.c only. */
#ifndef PROXYD_AUTH_H
#define PROXYD_AUTH_H

#include "proxyd.h"

/* What the auth service decided for one (credential, service): immutable, shared
 * by the cache and the requests it is applied to. */
#define PD_AUTH_DIGEST_LEN 32
typedef struct pd_auth_header {
    char *name; /* lower case */
    char *value;
} pd_auth_header_t;
typedef struct pd_auth_decision {
    int refcnt; /* atomic */
    enum { PD_AUTH_ALLOW, PD_AUTH_DENY, PD_AUTH_FAIL } kind;
    int status;                /* PD_AUTH_DENY: relayed to the client */
    pd_auth_header_t *headers; /* ALLOW: copy_headers' values; DENY: WWW-Authenticate, Location, Content-Type */
    size_t num_headers;
    char *body; /* PD_AUTH_DENY */
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
void auth_cache_clear(void);

/* What a check shows the auth service. Everything in it is in the digest that names
 * the check and its decision: a decision is reused only for what the auth service
 * was shown (issue 7). */
typedef struct pd_auth_input {
    h2o_iovec_t key, authorization, method, uri, client, host;
} pd_auth_input_t;

/* auth_check.c: reports each decision through on_decided */
typedef void (*pd_auth_decided_cb)(void *data, pd_auth_decision_t *d, uint64_t ttl_ms);
void auth_check_init(const pd_config_t *conf);
pd_auth_decision_t *auth_decision_fail(const char *fmt, const char *arg);
void auth_check_start(pd_auth_client_t *client, pd_service_t *service, pd_service_t *auth_service, const pd_auth_input_t *in,
                      pd_auth_decided_cb on_decided, void *data);

#endif
