/* registry_file.c: services.yaml on disk: load, atomic save, and noticing edits made by hand. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "proxyd.h"

void registry_file_init(pd_registry_file_t *rf, const char *path)
{
    memset(rf, 0, sizeof(*rf));
    if ((rf->path = strdup(path)) == NULL)
        fatal("%s", __func__);
}

void registry_file_free(pd_registry_file_t *rf)
{
    free(rf->path);
}

static void remember(pd_registry_file_t *rf, const struct stat *st)
{
    rf->seen_valid = 1;
    rf->seen_dev = st->st_dev;
    rf->seen_ino = st->st_ino;
    rf->seen_size = st->st_size;
    rf->seen_mtime = st->st_mtim;
}

/* Whether the file is no longer the one proxyd last read or wrote (an operator edited it). */
int registry_file_changed(pd_registry_file_t *rf)
{
    struct stat st;

    if (stat(rf->path, &st) != 0)
        return 1;
    return !rf->seen_valid || st.st_dev != rf->seen_dev || st.st_ino != rf->seen_ino || st.st_size != rf->seen_size ||
           st.st_mtim.tv_sec != rf->seen_mtime.tv_sec || st.st_mtim.tv_nsec != rf->seen_mtime.tv_nsec;
}

/* The file as a new snapshot (version 0, one reference), or NULL with `err`. */
pd_snapshot_t *registry_file_load(pd_registry_file_t *rf, char *err, size_t errlen)
{
    struct stat st;
    int have_stat;
    pd_snapshot_t *snap;

    /* stat first: an edit racing the read then looks like a change next time, never the reverse */
    have_stat = stat(rf->path, &st) == 0;
    if ((snap = registry_load(rf->path, err, errlen)) != NULL && have_stat)
        remember(rf, &st);
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

/* `name: url`, or the long form `name: {url: ..., timeout: ..., auth: false}` when an option is set. */
static int emit_service(yaml_emitter_t *em, const pd_service_t *service)
{
    yaml_event_t ev;
    char timeout[32], size[32];
    int ok;

    if (!emit_scalar(em, service->name))
        return 0;
    if (service->timeout_ms == 0 && service->auth && !service->public && service->max_request_body == 0)
        return emit_scalar(em, service->url);
    yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_FLOW_MAPPING_STYLE);
    ok = yaml_emitter_emit(em, &ev) && emit_scalar(em, "url") && emit_scalar(em, service->url);
    if (ok && service->timeout_ms != 0) {
        config_format_duration(service->timeout_ms, timeout, sizeof(timeout));
        ok = emit_scalar(em, "timeout") && emit_scalar(em, timeout);
    }
    if (ok && !service->auth)
        ok = emit_scalar(em, "auth") && emit_scalar(em, "false");
    if (ok && service->public)
        ok = emit_scalar(em, "public") && emit_scalar(em, "true");
    if (ok && service->max_request_body != 0) {
        config_format_size(service->max_request_body, size, sizeof(size));
        ok = emit_scalar(em, "max_request_body") && emit_scalar(em, size);
    }
    yaml_mapping_end_event_initialize(&ev);
    return ok && yaml_emitter_emit(em, &ev);
}

/* The snapshot as YAML into `fp`, written by libyaml's emitter. */
static int emit_snapshot(FILE *fp, pd_snapshot_t *snap)
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

static int fsync_dir(const char *path)
{
    char *copy = strdup(path);
    int fd, ret = -1;

    if (copy == NULL)
        fatal("%s", __func__);
    if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
        ret = fsync(fd);
        close(fd);
    }
    free(copy);
    return ret;
}

/* Writes `snap` to a temporary file beside the registry, fsyncs it, renames it over
 * the registry and fsyncs the folder: a crash at any moment leaves the old file or
 * the new one, never a torn one. The registry file is untouched on failure. */
int registry_file_save(pd_registry_file_t *rf, pd_snapshot_t *snap, char *err, size_t errlen)
{
    char *tmp;
    struct stat st;
    FILE *fp = NULL;
    int fd, saved, created;

    if (asprintf(&tmp, "%s.XXXXXX", rf->path) < 0)
        fatal("%s", __func__);
    fd = mkstemp(tmp);
    created = fd != -1;
    if (fd == -1 || (fp = fdopen(fd, "w")) == NULL)
        goto fail;
    /* keep the operator's permissions on the file */
    if (stat(rf->path, &st) == 0)
        fchmod(fd, st.st_mode & 07777);
    else
        fchmod(fd, 0644);
    if (emit_snapshot(fp, snap) != 0) {
        errno = EIO; /* libyaml's emitter sets no errno */
        goto fail;
    }
    if (fflush(fp) != 0 || fsync(fd) != 0 || fstat(fd, &st) != 0)
        goto fail;
    saved = fclose(fp);
    fp = NULL;
    fd = -1;
    if (saved != 0)
        goto fail;
    if (rename(tmp, rf->path) != 0)
        goto fail;
    /* the file is replaced: from here on the change has happened, whatever follows */
    remember(rf, &st);
    if (fsync_dir(rf->path) != 0)
        log_warn("%s: fsync of its folder", rf->path);
    free(tmp);
    return 0;
fail:
    saved = errno;
    snprintf(err, errlen, "cannot write %s: %s", rf->path, strerror(saved));
    if (fp != NULL)
        fclose(fp);
    else if (fd != -1)
        close(fd);
    if (created)
        unlink(tmp);
    free(tmp);
    return -1;
}

/* SIGHUP and POST /reload: a valid file replaces the running registry in one step;
 * an invalid one changes nothing. Returns the new version, or 0 with `err`. */
uint64_t registry_file_reload(pd_registry_file_t *rf, char *err, size_t errlen)
{
    pd_snapshot_t *snap = registry_file_load(rf, err, errlen);
    uint64_t version;

    if (snap == NULL) {
        log_warnx("reload refused, the registry is unchanged: %s", err);
        return 0;
    }
    registry_publish(snap, 0);
    version = snap->version; /* safe: only this thread publishes */
    log_info("reloaded %s: %zu service%s, version %llu", rf->path, snap->num_services, snap->num_services == 1 ? "" : "s",
             (unsigned long long)version);
    if (snap->num_services == 0)
        log_warnx("%s is empty: every request now gets 404", rf->path);
    return version;
}
