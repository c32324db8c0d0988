/* admin_health.c: GET /health (the process answers) and GET /ready (it can serve), both without the token. */
#include <string.h>
#include "proxyd.h"

/* A failed check makes /ready answer 503 for this long unless a later check
 * succeeds: long enough for a load balancer to see it, short enough that a
 * proxyd taken out of rotation (which then gets no traffic that would check
 * again) is put back to try. */
#define READY_AUTH_FAILURE_MS 10000

/* Liveness: nothing about the registry or the settings, since anyone may ask. */
void admin_health(h2o_req_t *req)
{
    admin_send_json(req, 200, "OK", json_pack("{s:s}", "status", "ok"));
}

/* Why proxyd cannot serve now, or NULL. The registry is loaded before the first
 * listener opens (main.c), so listening implies it. */
static const char *not_ready_reason(const char *auth_service)
{
    pd_snapshot_t *snap;
    uint64_t failed_ms;
    int present;

    if (!workers_listening())
        return "not listening: starting or stopping";
    if (auth_service == NULL)
        return NULL;
    snap = registry_acquire();
    present = snapshot_lookup(snap, auth_service, strlen(auth_service)) != NULL;
    snapshot_decref(snap);
    if (!present)
        return "forward auth is on and its service is not in the registry";
    failed_ms = stats_auth_failed_check_ms();
    if (failed_ms != 0 && uv_hrtime() / 1000000 - failed_ms < READY_AUTH_FAILURE_MS)
        return "the latest forward-auth check failed";
    return NULL;
}

/* Readiness: 200, or 503 with the reason; the reasons name no service and no
 * address. `auth_service` is forward auth's service name, NULL when it is off.
 * Not logged: probes come every few seconds. */
void admin_ready(h2o_req_t *req, const char *auth_service)
{
    const char *reason = not_ready_reason(auth_service);

    if (reason == NULL)
        admin_send_json(req, 200, "OK", json_pack("{s:s}", "status", "ready"));
    else
        admin_send_json(req, 503, "Service Unavailable", json_pack("{s:s,s:s}", "status", "not ready", "reason", reason));
}
