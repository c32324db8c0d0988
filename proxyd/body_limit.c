/* body_limit.c: request body limits per service: libh2o's own cap follows the registry, the handler answers 413. */
#include "proxyd.h"

/* libh2o 2.2.5 reads a whole body before any handler runs, and refuses one over
 * globalconf->max_request_entity_size (413 from the Content-Length, or while a
 * chunked body arrives). That cap must therefore be the largest limit in force:
 * the settings' default or a service's own max_request_body, whichever is larger.
 * A service with a smaller limit is enforced once its request reaches proxy.c. */
static struct {
    h2o_globalconf_t *globalconf;
    size_t default_limit;
} limits;

/* Under the registry's lock. Workers read the cap for each new request without a
 * lock (libh2o's own code); one aligned word store is all they can see half of. */
static void on_publish(void *data, pd_snapshot_t *snap)
{
    size_t cap = limits.default_limit, i;

    (void)data;
    for (i = 0; i < snap->num_services; i++)
        if (snap->services[i]->max_request_body > cap)
            cap = snap->services[i]->max_request_body;
    __atomic_store_n(&limits.globalconf->max_request_entity_size, cap, __ATOMIC_RELAXED);
}

/* Before the registry's first snapshot is published and the workers start: the cap follows every snapshot. */
void body_limit_init(h2o_globalconf_t *globalconf, const pd_config_t *conf)
{
    limits.globalconf = globalconf;
    limits.default_limit = conf->max_request_body;
    registry_on_publish(on_publish, NULL);
}

/* Answers 413 and returns 1 when `req`'s body is over `service`'s own limit. */
int body_limit_refuse(h2o_req_t *req, const pd_config_t *conf, const pd_service_t *service)
{
    size_t limit = service->max_request_body != 0 ? service->max_request_body : conf->max_request_body;

    if (req->entity.base == NULL || req->entity.len <= limit)
        return 0;
    /* libh2o read the whole body: an HTTP/1 connection stays usable */
    reply_error(req, 413, "Request Entity Too Large", "request body too large", service->name);
    return 1;
}
