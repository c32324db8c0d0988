/* registry_yaml.c: services.yaml <-> a registry snapshot: read with errors at file:line:column, and written. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proxyd.h"

/* `hosts: [chat.example, "*.chat.example"]`: each name checked where it stands. */
static int parse_hosts(pd_ydoc_t *yd, const char *name, yaml_node_t *list, pd_service_opts_t *opts, char *err, size_t errlen)
{
    yaml_node_item_t *item;
    char why[512];

    if (list->type != YAML_SEQUENCE_NODE)
        return ydoc_error(yd, list, err, errlen, "%s.hosts: expected a list of host names, like [chat.example.com]", name);
    for (item = list->data.sequence.items.start; item < list->data.sequence.items.top; item++) {
        yaml_node_t *v = ydoc_node(yd, *item);
        const char *host = ydoc_scalar(v);
        if (host == NULL)
            return ydoc_error(yd, v, err, errlen, "%s.hosts: expected a host name, not a list or mapping", name);
        if (service_opts_add_host(opts, host, why, sizeof(why)) != 0)
            return ydoc_error(yd, v, err, errlen, "%s.%s", name, why);
    }
    return 0;
}

/* `name: {url: ..., timeout: 5s, auth: false}`: the options of service.c's table. */
static int parse_long_form(pd_ydoc_t *yd, const char *name, yaml_node_t *node, pd_service_opts_t *opts, char *err, size_t errlen)
{
    yaml_node_pair_t *pair;
    char why[256];
    int r, hosts_seen = 0;

    for (pair = node->data.mapping.pairs.start; pair < node->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = ydoc_node(yd, pair->key), *v = ydoc_node(yd, pair->value);
        const char *key = ydoc_scalar(k), *value = ydoc_scalar(v);

        if (key == NULL)
            return ydoc_error(yd, k, err, errlen, "%s: option names must be plain names", name);
        if (strcmp(key, "hosts") == 0) {
            if (hosts_seen++)
                return ydoc_error(yd, k, err, errlen, "%s.hosts: given twice", name);
            if (parse_hosts(yd, name, v, opts, err, errlen) != 0)
                return -1;
            continue;
        }
        if (value == NULL)
            return ydoc_error(yd, v, err, errlen, "%s.%s: expected a value, not a list or mapping", name, key);
        if ((r = service_opts_set(opts, key, value, why, sizeof(why))) != 0)
            return ydoc_error(yd, r == PD_OPT_UNKNOWN ? k : v, err, errlen, "%s.%s", name, why);
    }
    if (opts->url == NULL)
        return ydoc_error(yd, node, err, errlen, "%s: the url option is missing", name);
    return 0;
}

/* One `name: url` or `name: {url: ...}` pair -> a service with one reference. */
static pd_service_t *parse_entry(pd_ydoc_t *yd, yaml_node_pair_t *pair, char *err, size_t errlen)
{
    yaml_node_t *k = ydoc_node(yd, pair->key), *v = ydoc_node(yd, pair->value);
    const char *name = ydoc_scalar(k);
    pd_service_opts_t opts;
    char why[256];
    pd_service_t *service;

    if (name == NULL)
        return ydoc_error(yd, k, err, errlen, "service names must be plain names"), NULL;
    if (service_check_name(name, why, sizeof(why)) != 0)
        return ydoc_error(yd, k, err, errlen, "%s", why), NULL;
    service_opts_init(&opts);
    if (v->type == YAML_MAPPING_NODE) {
        if (parse_long_form(yd, name, v, &opts, err, errlen) != 0)
            return NULL;
    } else if ((opts.url = ydoc_scalar(v)) == NULL || *opts.url == '\0') {
        return ydoc_error(yd, v, err, errlen, "%s: expected a URL or a mapping with url", name), NULL;
    }
    if ((service = service_new(name, &opts, why, sizeof(why))) == NULL)
        ydoc_error(yd, v, err, errlen, "%s: %s", name, why);
    return service;
}

typedef struct named_pair {
    const char *name;
    yaml_node_pair_t *pair;
} named_pair_t;

/* By name, then by position in the file: the second of two equal names sorts after the first. */
static int compare_named(const void *a, const void *b)
{
    const named_pair_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    return c != 0 ? c : (x->pair > y->pair) - (x->pair < y->pair);
}

/* A name given twice is an error at its second place. Sorted, not compared pair by
 * pair: a registry of 100,000 services is read in O(n log n). */
static int check_unique(pd_ydoc_t *yd, yaml_node_t *root, char *err, size_t errlen)
{
    size_t n = root->data.mapping.pairs.top - root->data.mapping.pairs.start, i;
    named_pair_t *names = calloc(n + 1, sizeof(*names));
    int ret = 0;

    if (names == NULL)
        fatal("%s", __func__);
    for (i = 0; i < n; i++) {
        names[i].pair = root->data.mapping.pairs.start + i;
        names[i].name = ydoc_scalar(ydoc_node(yd, names[i].pair->key));
    }
    qsort(names, n, sizeof(*names), compare_named);
    for (i = 1; i < n && ret == 0; i++)
        if (strcmp(names[i - 1].name, names[i].name) == 0)
            ret = ydoc_error(yd, ydoc_node(yd, names[i].pair->key), err, errlen, "%s: service defined twice", names[i].name);
    free(names);
    return ret;
}

/* Where the service of `pair` lists its host number `index`: the item of its hosts
 * list, read as parse_hosts read it (one host per item). */
static yaml_node_t *host_node(pd_ydoc_t *yd, yaml_node_pair_t *pair, size_t index)
{
    yaml_node_t *v = ydoc_node(yd, pair->value), *list;
    yaml_node_pair_t *p;

    for (p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        const char *key = ydoc_scalar(ydoc_node(yd, p->key));
        if (key == NULL || strcmp(key, "hosts") != 0)
            continue;
        list = ydoc_node(yd, p->value);
        if (index < (size_t)(list->data.sequence.items.top - list->data.sequence.items.start))
            return ydoc_node(yd, list->data.sequence.items.start[index]);
    }
    return v;
}

/* A host claimed by two services: an error at the second claim, naming both. */
static int host_conflict(pd_ydoc_t *yd, yaml_node_t *root, pd_service_t **services, const pd_host_conflict_t *c, char *err,
                         size_t errlen)
{
    size_t i;

    for (i = 0; services[i] != c->second; i++) /* services[i] came from pair i */
        ;
    return ydoc_error(yd, host_node(yd, root->data.mapping.pairs.start + i, c->second_host), err, errlen,
                      "%s.hosts: '%s' is claimed by both %s and %s", c->second->name, c->second->hosts[c->second_host],
                      c->first->name, c->second->name);
}

static pd_snapshot_t *parse_services(pd_ydoc_t *yd, yaml_node_t *root, char *err, size_t errlen)
{
    yaml_node_pair_t *pair;
    pd_service_t **services;
    pd_host_conflict_t conflict;
    size_t n = 0, i;
    pd_snapshot_t *snap = NULL;

    if (root->type != YAML_MAPPING_NODE)
        return ydoc_error(yd, root, err, errlen, "expected a mapping of service names to URLs"), NULL;
    if ((services = calloc(root->data.mapping.pairs.top - root->data.mapping.pairs.start + 1, sizeof(*services))) == NULL)
        fatal("%s", __func__);
    for (pair = root->data.mapping.pairs.start; pair < root->data.mapping.pairs.top; pair++) {
        if ((services[n] = parse_entry(yd, pair, err, errlen)) == NULL)
            goto out;
        n++;
    }
    if (check_unique(yd, root, err, errlen) != 0)
        goto out;
    if ((snap = snapshot_new(services, n, &conflict)) == NULL)
        host_conflict(yd, root, services, &conflict, err, errlen);
out:
    for (i = 0; i <= n && services[i] != NULL; i++)
        service_decref(services[i]);
    free(services);
    return snap;
}

/* A new snapshot (one reference, version 0) from `file`, or NULL with `err` set.
 * `blank` tells a file with no YAML document at all (empty, or comments only),
 * read as no services, from one that says so with `{}`. */
pd_snapshot_t *registry_yaml_load(const char *file, int *blank, char *err, size_t errlen)
{
    pd_ydoc_t yd;
    yaml_node_t *root;
    pd_snapshot_t *snap;

    if (ydoc_load(&yd, file, err, errlen) != 0)
        return NULL;
    *blank = (root = ydoc_root(&yd)) == NULL;
    if (*blank)
        snap = snapshot_new(NULL, 0, NULL);
    else
        snap = parse_services(&yd, root, err, errlen);
    ydoc_free(&yd);
    return snap;
}

static int on_emitter_write(void *data, unsigned char *buffer, size_t size)
{
    FILE *fp = data;

    return fwrite(buffer, 1, size, fp) == size;
}

static int emit_scalar(yaml_emitter_t *em, const char *value)
{
    yaml_event_t ev;

    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)value, -1, 1, 1, YAML_ANY_SCALAR_STYLE);
    return yaml_emitter_emit(em, &ev);
}

/* What service_each_option() hands emit_option(). */
typedef struct emit_state {
    yaml_emitter_t *em;
    int ok;
} emit_state_t;

static void emit_option(void *data, const char *key, const char *text, int is_bool)
{
    emit_state_t *st = data;

    (void)is_bool; /* "true" and "false" read back as booleans */
    st->ok = st->ok && emit_scalar(st->em, key) && emit_scalar(st->em, text);
}

/* `hosts: [chat.example, '*.chat.example']`; the emitter quotes what needs it. */
static int emit_hosts(yaml_emitter_t *em, const pd_service_t *service)
{
    yaml_event_t ev;
    size_t i;
    int ok;

    if (service->num_hosts == 0)
        return 1;
    yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_FLOW_SEQUENCE_STYLE);
    ok = emit_scalar(em, "hosts") && yaml_emitter_emit(em, &ev);
    for (i = 0; ok && i < service->num_hosts; i++)
        ok = emit_scalar(em, service->hosts[i]);
    yaml_sequence_end_event_initialize(&ev);
    return ok && yaml_emitter_emit(em, &ev);
}

/* `name: url`, or the long form `name: {url: ..., hosts: [...], timeout: ..., auth: false}`
 * when hosts or an option are set. */
static int emit_service(yaml_emitter_t *em, const pd_service_t *service)
{
    yaml_event_t ev;
    emit_state_t st = {em, 1};

    if (!emit_scalar(em, service->name))
        return 0;
    if (service->num_hosts == 0 && service_each_option(service, NULL, NULL) == 0)
        return emit_scalar(em, service->url);
    yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_FLOW_MAPPING_STYLE);
    st.ok = yaml_emitter_emit(em, &ev) && emit_scalar(em, "url") && emit_scalar(em, service->url) && emit_hosts(em, service);
    service_each_option(service, emit_option, &st);
    yaml_mapping_end_event_initialize(&ev);
    return st.ok && yaml_emitter_emit(em, &ev);
}

/* The snapshot as YAML into `fp`, written by libyaml's emitter: what
 * registry_yaml_load() reads back as the same services. 0, or -1. */
int registry_yaml_write(FILE *fp, pd_snapshot_t *snap)
{
    yaml_emitter_t em;
    yaml_event_t ev;
    size_t i;
    int ok;

    yaml_emitter_initialize(&em);
    yaml_emitter_set_output(&em, on_emitter_write, fp);
    yaml_emitter_set_unicode(&em, 1);
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    ok = yaml_emitter_emit(&em, &ev);
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    ok = ok && yaml_emitter_emit(&em, &ev);
    yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
    ok = ok && yaml_emitter_emit(&em, &ev);
    for (i = 0; ok && i < snap->num_services; i++)
        ok = emit_service(&em, snap->services[i]);
    yaml_mapping_end_event_initialize(&ev);
    ok = ok && yaml_emitter_emit(&em, &ev);
    yaml_document_end_event_initialize(&ev, 1);
    ok = ok && yaml_emitter_emit(&em, &ev);
    yaml_stream_end_event_initialize(&ev);
    ok = ok && yaml_emitter_emit(&em, &ev);
    yaml_emitter_delete(&em);
    return ok ? 0 : -1;
}
