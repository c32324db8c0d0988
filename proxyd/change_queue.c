/* change_queue.c: registry changes (admin PUT/DELETE, reload) in arrival order, written to services.yaml off the loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proxyd.h"

/* Writes of one batch that may find services.yaml edited by hand before it is
 * answered with 409: each time, the edit is read and the batch applied on top. */
#define MAX_WRITE_ATTEMPTS 3

/* One submitted change. A change that was accepted is applied even if whoever
 * submitted it no longer waits: only its on_done decides what to do with the result. */
typedef struct op {
    h2o_linklist_t link;
    pd_change_kind_t kind;
    pd_change_done_cb on_done; /* NULL: nobody waits for the result (SIGHUP) */
    void *data;
    pd_service_t *put; /* PD_CHANGE_PUT: owned reference */
    char *name;        /* PD_CHANGE_PUT and PD_CHANGE_DELETE */
    char *if_match;    /* the If-Match header's value, or NULL */
    int create_only;   /* If-None-Match: *: a put that would replace a service is refused */
    int existed;
    uint64_t version; /* the registry version this change creates */
} op_t;

/* Owned by the main thread. At most one write is in flight: the changes that
 * arrive meanwhile wait, and are written together by the next one. */
struct pd_change_queue {
    uv_loop_t *loop;
    pd_registry_file_t *rf; /* touched by the write thread only while `writing` is not empty */
    h2o_linklist_t waiting;
    h2o_linklist_t writing;
    pd_snapshot_t *next; /* what the write in flight puts into the file */
    uint64_t next_version;
    uv_work_t work;
    int write_result;   /* registry_file_save's */
    int write_attempts; /* of the batch in `writing` */
    char err[2048];     /* why the last write or catch-up failed */
    void (*on_idle)(void *);
    void *on_idle_data;
};

static void start_batch(pd_change_queue_t *q);

/* The one place a new registry is published (registry.c swaps it in): at start,
 * after the file was read again, and after a write. Only the main thread's loop
 * calls it, so the version read back is the one just published. */
static uint64_t publish(pd_snapshot_t *snap, uint64_t version, pd_publish_cause_t cause)
{
    registry_publish(snap, version, cause);
    return snap->version;
}

/* The file as read again (SIGHUP, POST /reload, an edit caught up with) made current. */
static uint64_t publish_reread(pd_change_queue_t *q, pd_snapshot_t *snap, pd_publish_cause_t cause)
{
    size_t n = snap->num_services;
    uint64_t version = publish(snap, 0, cause);

    log_info("reloaded %s: %zu service%s, version %llu", q->rf->path, n, n == 1 ? "" : "s", (unsigned long long)version);
    if (n == 0)
        log_warnx("%s has no services: every request now gets 404", q->rf->path);
    return version;
}

/* A queue for `rf`, whose contents `first` (its reference is taken over) become the
 * running registry before any worker starts. */
pd_change_queue_t *change_queue_new(uv_loop_t *loop, pd_registry_file_t *rf, pd_snapshot_t *first)
{
    pd_change_queue_t *q = calloc(1, sizeof(*q));

    if (q == NULL)
        fatal("%s", __func__);
    q->loop = loop;
    q->rf = rf;
    h2o_linklist_init_anchor(&q->waiting);
    h2o_linklist_init_anchor(&q->writing);
    publish(first, 0, PD_PUBLISH_START);
    return q;
}

void change_queue_free(pd_change_queue_t *q)
{
    free(q);
}

int change_queue_idle(pd_change_queue_t *q)
{
    return h2o_linklist_is_empty(&q->waiting) && h2o_linklist_is_empty(&q->writing);
}

/* `cb` runs once nothing is waiting or being written (at once if that is now). */
void change_queue_on_idle(pd_change_queue_t *q, void (*cb)(void *), void *data)
{
    if (change_queue_idle(q)) {
        cb(data);
        return;
    }
    q->on_idle = cb;
    q->on_idle_data = data;
}

static void finish(op_t *op)
{
    h2o_linklist_unlink(&op->link);
    if (op->put != NULL)
        service_decref(op->put);
    free(op->name);
    free(op->if_match);
    free(op);
}

/* Hands `result` to whoever submitted `op`, then frees it. */
static void report(op_t *op, const pd_change_result_t *result)
{
    if (op->on_done != NULL)
        op->on_done(op->data, result);
    finish(op);
}

static void submit(pd_change_queue_t *q, op_t *op, pd_change_done_cb on_done, void *data)
{
    op->on_done = on_done;
    op->data = data;
    h2o_linklist_insert(&q->waiting, &op->link);
    if (h2o_linklist_is_empty(&q->writing))
        start_batch(q);
}

/* PUT (`put`, whose reference is taken over) or DELETE (`remove`), applied only
 * while the registry is at the version `if_match` names (NULL: any) and, with
 * `create_only`, only when no service has the put's name. `on_done` gets the
 * result once it is known, on this loop. */
void change_queue_submit(pd_change_queue_t *q, pd_service_t *put, const char *remove, const char *if_match, int create_only,
                         pd_change_done_cb on_done, void *data)
{
    op_t *op = calloc(1, sizeof(*op));

    if (op == NULL || (op->name = strdup(put != NULL ? put->name : remove)) == NULL ||
        (if_match != NULL && (op->if_match = strdup(if_match)) == NULL))
        fatal("%s", __func__);
    op->kind = put != NULL ? PD_CHANGE_PUT : PD_CHANGE_DELETE;
    op->put = put;
    op->create_only = create_only;
    submit(q, op, on_done, data);
}

/* POST /reload or SIGHUP (on_done == NULL): re-read the file, in turn with the changes. */
void change_queue_reload(pd_change_queue_t *q, pd_change_done_cb on_done, void *data)
{
    op_t *op = calloc(1, sizeof(*op));

    if (op == NULL)
        fatal("%s", __func__);
    op->kind = PD_CHANGE_RELOAD;
    submit(q, op, on_done, data);
}

/* If-Match: "N" (or N, or *) holds when the registry is at version N. */
static int if_match_holds(const char *if_match, uint64_t version)
{
    char quoted[32];

    if (if_match == NULL || strcmp(if_match, "*") == 0)
        return 1;
    snprintf(quoted, sizeof(quoted), "\"%llu\"", (unsigned long long)version);
    return strcmp(if_match, quoted) == 0 ||
           (strlen(if_match) == strlen(quoted) - 2 && strncmp(if_match, quoted + 1, strlen(if_match)) == 0);
}

/* The result of a change that was written (0), refused for edits on disk (1) or whose write failed (-1). */
static void report_written(pd_change_queue_t *q, op_t *op, int written)
{
    pd_change_result_t result = {.kind = op->kind};
    char msg[sizeof(q->err) + 64];

    if (written != 0) {
        result.status = written == 1 ? PD_CHANGE_STALE : PD_CHANGE_WRITE_FAILED;
        snprintf(msg, sizeof(msg), "%s; the registry is unchanged%s", q->err, written == 1 ? ", try again" : "");
        result.message = msg;
        report(op, &result);
        return;
    }
    log_info("admin: %s %s, registry version %llu",
             op->kind == PD_CHANGE_DELETE ? "deleted"
             : op->existed                ? "replaced"
                                          : "created",
             op->name, (unsigned long long)op->version);
    result.status = PD_CHANGE_APPLIED;
    result.version = op->version;
    result.created = !op->existed;
    result.service = op->put;
    report(op, &result);
}

static void run_reload(pd_change_queue_t *q, op_t *op)
{
    char err[1024], msg[sizeof(err) + 64];
    pd_change_result_t result = {.kind = PD_CHANGE_RELOAD, .status = PD_CHANGE_APPLIED};
    pd_snapshot_t *snap = registry_file_reload(q->rf, err, sizeof(err));

    if (snap != NULL) {
        result.version = publish_reread(q, snap, PD_PUBLISH_RELOAD);
    } else {
        result.status = PD_CHANGE_INVALID;
        snprintf(msg, sizeof(msg), "reload refused, the registry is unchanged: %s", err);
        result.message = msg;
    }
    report(op, &result);
}

/* An operator's edit on disk is read before API changes are applied over it, so the
 * API never writes back a stale copy (see proxyd(8)). 0, or -1 when it is invalid,
 * blank or drops every service: then the API answers 409 and leaves it be. */
static int catch_up_with_file(pd_change_queue_t *q)
{
    char err[1024];
    pd_snapshot_t *snap;

    if (!registry_file_changed(q->rf))
        return 0;
    log_info("%s changed on disk: reading it before the API change", q->rf->path);
    if ((snap = registry_file_catch_up(q->rf, err, sizeof(err))) != NULL) {
        publish_reread(q, snap, PD_PUBLISH_EDIT);
        return 0;
    }
    snprintf(q->err, sizeof(q->err), "%s changed on disk and cannot be built on; fix it or reload: %s", q->rf->path, err);
    return -1;
}

static op_t *first_waiting(pd_change_queue_t *q)
{
    return h2o_linklist_is_empty(&q->waiting) ? NULL : H2O_STRUCT_FROM_MEMBER(op_t, link, q->waiting.next);
}

static void refuse(op_t *op, pd_change_status_t status, const char *message)
{
    pd_change_result_t result = {.kind = op->kind, .status = status, .message = message};

    report(op, &result);
}

/* A put that would give a host to two services is refused, naming both. */
static void refuse_conflict(op_t *op, const pd_host_conflict_t *c)
{
    char why[PD_HOST_NAME_MAX + 2 * PD_SERVICE_NAME_MAX + 128];

    snprintf(why, sizeof(why), "hosts: '%s' is claimed by both %s and %s; the registry is unchanged",
             c->second->hosts[c->second_host], c->first->name, c->second->name);
    refuse(op, PD_CHANGE_HOST_CONFLICT, why);
}

/* Applies the waiting changes up to the next reload to the running registry's
 * copy; returns the new snapshot, or NULL when every one of them was refused. A
 * host conflict is checked here, against the registry the change applies to. */
static pd_snapshot_t *apply_waiting(pd_change_queue_t *q, uint64_t *version)
{
    pd_snapshot_t *snap = registry_acquire(), *next;
    pd_host_conflict_t conflict;
    op_t *op;
    char why[PD_SERVICE_NAME_MAX + 128];

    *version = snap->version;
    while ((op = first_waiting(q)) != NULL && op->kind != PD_CHANGE_RELOAD) {
        op->existed = snapshot_lookup(snap, op->name, strlen(op->name)) != NULL;
        if (!if_match_holds(op->if_match, *version)) {
            snprintf(why, sizeof(why), "the registry is at version %llu, not the one in If-Match", (unsigned long long)*version);
            refuse(op, PD_CHANGE_PRECONDITION_FAILED, why);
        } else if (op->create_only && op->existed) {
            snprintf(why, sizeof(why), "a service named '%s' exists already (If-None-Match: *)", op->name);
            refuse(op, PD_CHANGE_PRECONDITION_FAILED, why);
        } else if (op->kind == PD_CHANGE_DELETE && !op->existed) {
            snprintf(why, sizeof(why), "no service named '%s'", op->name);
            refuse(op, PD_CHANGE_NOT_FOUND, why);
        } else if ((next = snapshot_with(snap, op->put, op->kind == PD_CHANGE_DELETE ? op->name : NULL, &conflict)) == NULL) {
            refuse_conflict(op, &conflict);
        } else {
            snapshot_decref(snap);
            snap = next;
            op->version = ++*version;
            h2o_linklist_unlink(&op->link);
            h2o_linklist_insert(&q->writing, &op->link);
        }
    }
    if (h2o_linklist_is_empty(&q->writing)) {
        snapshot_decref(snap);
        return NULL;
    }
    return snap;
}

/* Runs on libuv's thread pool: the only blocking part, the write and its fsyncs. */
static void on_write(uv_work_t *work)
{
    pd_change_queue_t *q = work->data;

    q->write_result = registry_file_save(q->rf, q->next, q->err, sizeof(q->err));
}

static size_t count_writing(pd_change_queue_t *q)
{
    h2o_linklist_t *node;
    size_t n = 0;

    for (node = q->writing.next; node != &q->writing; node = node->next)
        n++;
    return n;
}

/* The batch's write found services.yaml edited by hand and left it (gate item 14):
 * its changes go back to the head of the queue, so that the next batch reads the
 * edit and applies them again on top of it. 0 once out of attempts. */
static int retry_after_edit(pd_change_queue_t *q)
{
    h2o_linklist_t *head = q->waiting.next;
    size_t n = count_writing(q);

    if (++q->write_attempts >= MAX_WRITE_ATTEMPTS) {
        log_warnx("%s: %zu admin change%s refused with 409, the file kept changing during %d writes", q->rf->path, n,
                  n == 1 ? "" : "s", q->write_attempts);
        return 0;
    }
    log_warnx("%s changed on disk during an admin write: not overwritten; reading it and applying %zu change%s again", q->rf->path,
              n, n == 1 ? "" : "s");
    while (!h2o_linklist_is_empty(&q->writing)) {
        h2o_linklist_t *node = q->writing.next;
        h2o_linklist_unlink(node);
        h2o_linklist_insert(head, node); /* before the changes that came meanwhile, in order */
    }
    return 1;
}

static void on_written(uv_work_t *work, int status)
{
    pd_change_queue_t *q = work->data;
    int result = status == 0 ? q->write_result : -1;

    if (result == 0)
        publish(q->next, q->next_version, PD_PUBLISH_API); /* memory follows the file, never leads it */
    else
        snapshot_decref(q->next);
    q->next = NULL;
    if (result == 1 && retry_after_edit(q)) {
        start_batch(q);
        return;
    }
    q->write_attempts = 0;
    while (!h2o_linklist_is_empty(&q->writing)) {
        op_t *op = H2O_STRUCT_FROM_MEMBER(op_t, link, q->writing.next);
        report_written(q, op, result);
    }
    start_batch(q);
}

/* Runs what waits, in order: reloads at once, then the changes up to the next
 * reload as one write. Called whenever no write is in flight. */
static void start_batch(pd_change_queue_t *q)
{
    op_t *op;

    while ((op = first_waiting(q)) != NULL) {
        if (op->kind == PD_CHANGE_RELOAD) {
            run_reload(q, op);
            continue;
        }
        if (catch_up_with_file(q) != 0) {
            while ((op = first_waiting(q)) != NULL && op->kind != PD_CHANGE_RELOAD)
                refuse(op, PD_CHANGE_STALE, q->err);
            continue;
        }
        if ((q->next = apply_waiting(q, &q->next_version)) == NULL)
            continue;
        q->work.data = q;
        uv_queue_work(q->loop, &q->work, on_write, on_written);
        return;
    }
    if (q->on_idle != NULL) {
        void (*cb)(void *) = q->on_idle;
        q->on_idle = NULL;
        cb(q->on_idle_data);
    }
}
