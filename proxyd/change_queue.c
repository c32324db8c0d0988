/* change_queue.c: registry changes (admin PUT/DELETE, reload) in arrival order, written to services.yaml off the loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proxyd.h"

typedef enum { OP_PUT, OP_DELETE, OP_RELOAD } op_kind_t;

/* Writes of one batch that may find services.yaml edited by hand before it is
 * answered with 409: each time, the edit is read and the batch applied on top. */
#define MAX_WRITE_ATTEMPTS 3

/* One submitted change. It outlives its request if the client goes away: a change
 * that was accepted is applied either way, only the answer is dropped. */
typedef struct op {
    h2o_linklist_t link;
    op_kind_t kind;
    h2o_req_t *req;        /* NULL once the client went away, or for SIGHUP */
    struct op **req_slot;  /* in req->pool: how the request's end reaches us */
    pd_service_t *put;     /* OP_PUT: owned reference */
    char *name;            /* OP_PUT and OP_DELETE */
    char *if_match;        /* the If-Match header's value, or NULL */
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

pd_change_queue_t *change_queue_new(uv_loop_t *loop, pd_registry_file_t *rf)
{
    pd_change_queue_t *q = calloc(1, sizeof(*q));

    if (q == NULL)
        fatal("%s", __func__);
    q->loop = loop;
    q->rf = rf;
    h2o_linklist_init_anchor(&q->waiting);
    h2o_linklist_init_anchor(&q->writing);
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

static void on_req_gone(void *p)
{
    op_t *op = *(op_t **)p;

    if (op != NULL)
        op->req = NULL;
}

static void finish(op_t *op)
{
    if (op->req_slot != NULL && op->req != NULL)
        *op->req_slot = NULL;
    h2o_linklist_unlink(&op->link);
    if (op->put != NULL)
        service_decref(op->put);
    free(op->name);
    free(op->if_match);
    free(op);
}

static void submit(pd_change_queue_t *q, op_t *op, h2o_req_t *req)
{
    ssize_t i;

    op->req = req;
    if (req != NULL) {
        op->req_slot = h2o_mem_alloc_shared(&req->pool, sizeof(*op->req_slot), on_req_gone);
        *op->req_slot = op;
        if ((i = h2o_find_header(&req->headers, H2O_TOKEN_IF_MATCH, -1)) != -1 &&
            (op->if_match = strndup(req->headers.entries[i].value.base, req->headers.entries[i].value.len)) == NULL)
            fatal("%s", __func__);
    }
    h2o_linklist_insert(&q->waiting, &op->link);
    if (h2o_linklist_is_empty(&q->writing))
        start_batch(q);
}

/* PUT (`put`, whose reference is taken over) or DELETE (`remove`). */
void change_queue_submit(pd_change_queue_t *q, h2o_req_t *req, pd_service_t *put, const char *remove)
{
    op_t *op = calloc(1, sizeof(*op));

    if (op == NULL || (op->name = strdup(put != NULL ? put->name : remove)) == NULL)
        fatal("%s", __func__);
    op->kind = put != NULL ? OP_PUT : OP_DELETE;
    op->put = put;
    submit(q, op, req);
}

/* POST /reload (req) or SIGHUP (req == NULL): re-read the file, in turn with the changes. */
void change_queue_reload(pd_change_queue_t *q, h2o_req_t *req)
{
    op_t *op = calloc(1, sizeof(*op));

    if (op == NULL)
        fatal("%s", __func__);
    op->kind = OP_RELOAD;
    submit(q, op, req);
}

/* If-Match: "N" (or N, or *) holds when the registry is at version N. */
static int if_match_holds(const char *if_match, uint64_t version)
{
    char quoted[32];

    if (if_match == NULL || strcmp(if_match, "*") == 0)
        return 1;
    snprintf(quoted, sizeof(quoted), "\"%llu\"", (unsigned long long)version);
    return strcmp(if_match, quoted) == 0 || (strlen(if_match) == strlen(quoted) - 2 && strncmp(if_match, quoted + 1, strlen(if_match)) == 0);
}

/* The answer to a change that was written (0), refused for edits on disk (1) or whose write failed (-1). */
static void answer_written(pd_change_queue_t *q, op_t *op, int result)
{
    if (result != 0) {
        if (op->req != NULL && result == 1)
            admin_send_error(op->req, 409, "Conflict", NULL, "%s; the registry is unchanged, try again", q->err);
        else if (op->req != NULL)
            admin_send_error(op->req, 500, "Internal Server Error", NULL, "%s; the registry is unchanged", q->err);
        return;
    }
    log_info("admin: %s %s, registry version %llu", op->kind == OP_DELETE ? "deleted" : op->existed ? "replaced" : "created",
             op->name, (unsigned long long)op->version);
    if (op->req == NULL)
        return;
    if (op->kind == OP_DELETE)
        admin_send_version(op->req, 204, "No Content", NULL, op->version);
    else
        admin_send_version(op->req, op->existed ? 200 : 201, op->existed ? "OK" : "Created", service_to_json(op->put), op->version);
}

static void run_reload(pd_change_queue_t *q, op_t *op)
{
    char err[1024];
    uint64_t version = registry_file_reload(q->rf, err, sizeof(err));

    if (op->req == NULL)
        return;
    if (version == 0)
        admin_send_error(op->req, 400, "Bad Request", NULL, "reload refused, the registry is unchanged: %s", err);
    else
        admin_send_version(op->req, 200, "OK", json_pack("{s:s,s:I}", "status", "reloaded", "version", (json_int_t)version),
                           version);
}

/* An operator's edit on disk is read before API changes are applied over it, so the
 * API never writes back a stale copy (see proxyd(8)). 0, or -1 when it is invalid,
 * blank or drops every service: then the API answers 409 and leaves it be. */
static int catch_up_with_file(pd_change_queue_t *q)
{
    char err[1024];

    if (!registry_file_changed(q->rf))
        return 0;
    log_info("%s changed on disk: reading it before the API change", q->rf->path);
    if (registry_file_catch_up(q->rf, err, sizeof(err)) != 0)
        return 0;
    snprintf(q->err, sizeof(q->err), "%s changed on disk and cannot be built on; fix it or reload: %s", q->rf->path, err);
    return -1;
}

static op_t *first_waiting(pd_change_queue_t *q)
{
    return h2o_linklist_is_empty(&q->waiting) ? NULL : H2O_STRUCT_FROM_MEMBER(op_t, link, q->waiting.next);
}

static void refuse(op_t *op, int status, const char *reason, const char *fmt, const char *arg)
{
    if (op->req != NULL)
        admin_send_error(op->req, status, reason, NULL, fmt, arg);
    finish(op);
}

/* Applies the waiting changes up to the next reload to the running registry's
 * copy; returns the new snapshot, or NULL when every one of them was refused. */
static pd_snapshot_t *apply_waiting(pd_change_queue_t *q, uint64_t *version)
{
    pd_snapshot_t *snap = registry_acquire(), *next;
    op_t *op;
    char why[64];

    *version = snap->version;
    while ((op = first_waiting(q)) != NULL && op->kind != OP_RELOAD) {
        op->existed = snapshot_lookup(snap, op->name, strlen(op->name)) != NULL;
        if (!if_match_holds(op->if_match, *version)) {
            snprintf(why, sizeof(why), "%llu", (unsigned long long)*version);
            refuse(op, 412, "Precondition Failed", "the registry is at version %s, not the one in If-Match", why);
        } else if (op->kind == OP_DELETE && !op->existed) {
            refuse(op, 404, "Not Found", "no service named '%s'", op->name);
        } else {
            next = snapshot_with(snap, op->put, op->kind == OP_DELETE ? op->name : NULL);
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
        registry_publish(q->next, q->next_version); /* memory follows the file, never leads it */
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
        answer_written(q, op, result);
        finish(op);
    }
    start_batch(q);
}

/* Runs what waits, in order: reloads at once, then the changes up to the next
 * reload as one write. Called whenever no write is in flight. */
static void start_batch(pd_change_queue_t *q)
{
    op_t *op;

    while ((op = first_waiting(q)) != NULL) {
        if (op->kind == OP_RELOAD) {
            run_reload(q, op);
            finish(op);
            continue;
        }
        if (catch_up_with_file(q) != 0) {
            while ((op = first_waiting(q)) != NULL && op->kind != OP_RELOAD)
                refuse(op, 409, "Conflict", "%s", q->err);
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
