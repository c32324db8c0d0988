/* admin_services.c: GET of registry entries; PUT and DELETE validated like the file, then queued in change_queue.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proxyd.h"

static int method_is(h2o_req_t *req, const char *method)
{
    return h2o_memis(req->method.base, req->method.len, method, strlen(method));
}

static void list_services(h2o_req_t *req)
{
    pd_snapshot_t *snap = registry_acquire();
    json_t *services = json_object();
    size_t i;

    for (i = 0; i < snap->num_services; i++) {
        json_t *entry = service_to_json(snap->services[i]);
        json_object_del(entry, "name"); /* it is the key here */
        json_object_set_new(services, snap->services[i]->name, entry);
    }
    admin_send_version(req, 200, "OK", json_pack("{s:I,s:o}", "version", (json_int_t)snap->version, "services", services),
                       snap->version);
    snapshot_decref(snap);
}

static void get_service(h2o_req_t *req, const char *name)
{
    pd_snapshot_t *snap = registry_acquire();
    pd_service_t *service = snapshot_lookup(snap, name, strlen(name));

    if (service == NULL)
        admin_send_error(req, 404, "Not Found", NULL, "no service named '%s'", name);
    else
        admin_send_version(req, 200, "OK", service_to_json(service), snap->version);
    snapshot_decref(snap);
}

/* "hosts": ["chat.example", "*.chat.example"]: 0, or -1 once answered with 400. */
static int hosts_from_json(h2o_req_t *req, json_t *list, pd_service_opts_t *opts)
{
    char why[512];
    json_t *value;
    size_t i;

    if (!json_is_array(list))
        goto not_strings;
    json_array_foreach(list, i, value)
    {
        if (!json_is_string(value))
            goto not_strings;
        if (service_opts_add_host(opts, json_string_value(value), why, sizeof(why)) != 0) {
            admin_send_error(req, 400, "Bad Request", "hosts", "%s", why);
            return -1;
        }
    }
    return 0;
not_strings:
    admin_send_error(req, 400, "Bad Request", "hosts", "hosts: must be an array of strings, like [\"chat.example.com\"]");
    return -1;
}

/* The PUT body, {"url": "...", "hosts": [...], "timeout": "5s", "auth": false}: the
 * file's long-form options, each checked by service.c; errors name the field. */
static pd_service_t *service_from_body(h2o_req_t *req, const char *name)
{
    json_error_t jerr;
    json_t *body = json_loadb(req->entity.base != NULL ? req->entity.base : "", req->entity.len, JSON_REJECT_DUPLICATES, &jerr);
    pd_service_opts_t opts;
    const char *key, *text;
    json_t *value;
    char why[512];
    pd_service_t *service = NULL;

    if (body == NULL || !json_is_object(body)) {
        admin_send_error(req, 400, "Bad Request", NULL, "the body must be a JSON object like {\"url\": \"http://...\"}%s%s",
                         body == NULL ? ": " : "", body == NULL ? jerr.text : "");
        goto out;
    }
    service_opts_init(&opts);
    json_object_foreach(body, key, value)
    {
        if (strcmp(key, "hosts") == 0) {
            if (hosts_from_json(req, value, &opts) != 0)
                goto out;
            continue;
        }
        if (json_is_string(value))
            text = json_string_value(value);
        else if (json_is_boolean(value))
            text = json_is_true(value) ? "true" : "false";
        else
            text = NULL;
        if (text == NULL) {
            admin_send_error(req, 400, "Bad Request", key, "%s: must be a string or a boolean", key);
            goto out;
        }
        if (service_opts_set(&opts, key, text, why, sizeof(why)) != 0) {
            admin_send_error(req, 400, "Bad Request", key, "%s", why);
            goto out;
        }
    }
    if (opts.url == NULL)
        admin_send_error(req, 400, "Bad Request", "url", "url: required");
    else if ((service = service_new(name, &opts, why, sizeof(why))) == NULL) /* the name was checked: the URL is bad */
        admin_send_error(req, 400, "Bad Request", "url", "url: %s", why);
out:
    json_decref(body);
    return service;
}

/* /services (name.len == 0) and /services/<name>. */
void admin_services(h2o_req_t *req, pd_change_queue_t *changes, h2o_iovec_t name_iov)
{
    char *name = h2o_strdup(&req->pool, name_iov.base, name_iov.len).base;
    char why[256];
    pd_service_t *service;

    if (name_iov.len == 0) {
        if (method_is(req, "GET"))
            list_services(req);
        else
            admin_send_method_not_allowed(req, "GET", "PUT and DELETE go to /services/<name>");
        return;
    }
    if (strlen(name) != name_iov.len) {
        admin_send_error(req, 400, "Bad Request", "name", "name: contains a NUL byte");
    } else if (service_check_name(name, why, sizeof(why)) != 0) {
        admin_send_error(req, 400, "Bad Request", "name", "name: %s", why);
    } else if (method_is(req, "GET")) {
        get_service(req, name);
    } else if (method_is(req, "PUT")) {
        if ((service = service_from_body(req, name)) != NULL)
            admin_submit_change(req, changes, service, NULL);
    } else if (method_is(req, "DELETE")) {
        admin_submit_change(req, changes, NULL, name);
    } else {
        admin_send_method_not_allowed(req, "GET, PUT, DELETE", NULL);
    }
}
