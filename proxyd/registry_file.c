/* registry_file.c: services.yaml on disk: load, atomic save, and noticing edits made by hand. */
#include <dirent.h>
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

/* Whether `st` is the file proxyd last read or wrote. */
static int is_seen(const pd_registry_file_t *rf, const struct stat *st)
{
    return rf->seen_valid && st->st_dev == rf->seen_dev && st->st_ino == rf->seen_ino && st->st_size == rf->seen_size &&
           st->st_mtim.tv_sec == rf->seen_mtime.tv_sec && st->st_mtim.tv_nsec == rf->seen_mtime.tv_nsec;
}

/* Whether the file is no longer the one proxyd last read or wrote (an operator edited it). */
int registry_file_changed(pd_registry_file_t *rf)
{
    struct stat st;

    return stat(rf->path, &st) != 0 || !is_seen(rf, &st);
}

/* The file as a new snapshot (version 0, one reference), or NULL with `err`; `st`
 * is what the file was before it was read. stat first: an edit racing the read
 * then looks like a change next time, never the reverse. */
static pd_snapshot_t *read_file(pd_registry_file_t *rf, struct stat *st, int *blank, char *err, size_t errlen)
{
    if (stat(rf->path, st) != 0) {
        snprintf(err, errlen, "%s: %s", rf->path, strerror(errno));
        return NULL;
    }
    return registry_yaml_load(rf->path, blank, err, errlen);
}

/* Start-up: a blank file is a registry without services. */
pd_snapshot_t *registry_file_load(pd_registry_file_t *rf, char *err, size_t errlen)
{
    struct stat st;
    int blank;
    pd_snapshot_t *snap;

    if ((snap = read_file(rf, &st, &blank, err, errlen)) != NULL)
        remember(rf, &st);
    return snap;
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

/* Whether `name` is one of write_temp's files for the registry named `base`: `base`,
 * a dot and the six letters or digits mkstemp puts in place of XXXXXX. */
static int is_temp_name(const char *name, const char *base)
{
    static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    size_t len = strlen(base);

    return strncmp(name, base, len) == 0 && name[len] == '.' && strlen(name + len + 1) == 6 && strspn(name + len + 1, chars) == 6;
}

static void remove_stale_in(DIR *dir, const char *folder, const char *base)
{
    struct dirent *de;
    struct stat st;

    while ((de = readdir(dir)) != NULL) {
        if (!is_temp_name(de->d_name, base) || fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        if (unlinkat(dirfd(dir), de->d_name, 0) == 0)
            log_info("removed %s/%s, left by an interrupted write", folder, de->d_name);
        else
            log_warn("%s/%s: left by an interrupted write, cannot be removed", folder, de->d_name);
    }
}

/* Removes the temporary files that writes cut short (kill -9, a power cut) left
 * beside the registry (gate item 15). At start only, before any write of this
 * process could be in flight; only regular files named as write_temp names them. */
void registry_file_remove_stale(pd_registry_file_t *rf)
{
    char *folder_copy = strdup(rf->path), *base_copy = strdup(rf->path);
    const char *folder, *base;
    DIR *dir;

    if (folder_copy == NULL || base_copy == NULL)
        fatal("%s", __func__);
    folder = dirname(folder_copy);
    base = basename(base_copy);
    if ((dir = opendir(folder)) != NULL) {
        remove_stale_in(dir, folder, base);
        closedir(dir);
    } else {
        log_warn("%s: cannot look for temporary files left by interrupted writes", folder);
    }
    free(folder_copy);
    free(base_copy);
}

/* Writes `snap` to a new temporary file beside the registry and fsyncs it. Returns
 * its name (caller frees) with what it is in `st`, or NULL with errno. */
static char *write_temp(pd_registry_file_t *rf, pd_snapshot_t *snap, struct stat *st)
{
    char *tmp;
    FILE *fp = NULL;
    int fd, saved, created;

    if (asprintf(&tmp, "%s.XXXXXX", rf->path) < 0) /* is_temp_name knows this pattern */
        fatal("%s", __func__);
    fd = mkstemp(tmp);
    created = fd != -1;
    if (fd == -1 || (fp = fdopen(fd, "w")) == NULL)
        goto fail;
    /* keep the operator's permissions on the file */
    if (stat(rf->path, st) == 0)
        fchmod(fd, st->st_mode & 07777);
    else
        fchmod(fd, 0644);
    if (registry_yaml_write(fp, snap) != 0) {
        errno = EIO; /* libyaml's emitter sets no errno */
        goto fail;
    }
    if (fflush(fp) != 0 || fsync(fd) != 0 || fstat(fd, st) != 0)
        goto fail;
    saved = fclose(fp);
    fp = NULL;
    fd = -1;
    if (saved != 0)
        goto fail;
    return tmp;
fail:
    saved = errno;
    if (fp != NULL)
        fclose(fp);
    else if (fd != -1)
        close(fd);
    if (created)
        unlink(tmp);
    free(tmp);
    errno = saved;
    return NULL;
}

/* Puts `tmp` in place of the registry, unless the registry is no longer the file
 * proxyd last read or wrote: an operator's edit landed since (gate item 14).
 * Checked twice: before, which catches nearly every edit with nothing shown to
 * anyone, and after the two files traded names in one step, on the one swapped
 * out, which catches an edit renamed into place between the check and the swap;
 * that one is swapped back. 0: replaced, `tmp` removed; 1: the edit is in place,
 * `tmp` holds proxyd's file; -1 with errno: the same; -2: `tmp` holds the edit. */
static int replace_unless_edited(pd_registry_file_t *rf, const char *tmp)
{
    struct stat st;

    if (registry_file_changed(rf))
        return 1;
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, rf->path, RENAME_EXCHANGE) != 0) {
        /* a file system without the exchange, or the registry just removed: only
         * an edit renamed into place between the check and here can be lost */
        return errno == EINVAL || errno == ENOSYS ? rename(tmp, rf->path) : errno == ENOENT ? 1 : -1;
    }
    if (lstat(tmp, &st) == 0 && is_seen(rf, &st)) {
        unlink(tmp);
        return 0;
    }
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, rf->path, RENAME_EXCHANGE) != 0) {
        log_warn("%s was edited during an admin write and cannot be put back: the edit is in %s", rf->path, tmp);
        return -2;
    }
    return 1;
}

/* Writes `snap` to a temporary file, fsyncs it, puts it in place of the registry
 * and fsyncs the folder: a crash at any moment leaves the old file or the new
 * one, never a torn one. Returns 0; 1 when the file changed on disk since proxyd
 * last read or wrote it, which is then left as it is; or -1 with `err`. The
 * registry file is untouched unless 0 is returned. */
int registry_file_save(pd_registry_file_t *rf, pd_snapshot_t *snap, char *err, size_t errlen)
{
    char *tmp;
    struct stat st;
    int ret;

    if ((tmp = write_temp(rf, snap, &st)) == NULL) {
        snprintf(err, errlen, "cannot write %s: %s", rf->path, strerror(errno));
        return -1;
    }
    if ((ret = replace_unless_edited(rf, tmp)) == 0) {
        /* the file is replaced: from here on the change has happened, whatever follows */
        remember(rf, &st);
        if (fsync_dir(rf->path) != 0)
            log_warn("%s: fsync of its folder", rf->path);
    } else if (ret == 1) {
        snprintf(err, errlen, "%s changed on disk during the write and was not overwritten", rf->path);
    } else {
        snprintf(err, errlen, "cannot write %s: %s", rf->path, ret == -2 ? "an edit on disk is in the way" : strerror(errno));
    }
    if (ret != 0 && ret != -2)
        unlink(tmp);
    free(tmp);
    return ret < 0 ? -1 : ret;
}

static size_t running_services(void)
{
    pd_snapshot_t *snap = registry_acquire();
    size_t n = snap->num_services;

    snapshot_decref(snap);
    return n;
}

/* Why a file read while running is not applied, or NULL. A blank file is what an
 * editor or a tool rewriting in place leaves for an instant, and never what proxyd
 * writes (no services is `{}`): once running it is never a registry ("Close the
 * holes in the gate", item 13). Nor does an API change build on a hand edit that
 * drops every running service: that takes a reload. */
static const char *refusal(pd_snapshot_t *snap, int blank, int catch_up)
{
    if (blank)
        return "is empty (being rewritten?); write {} for a registry without services";
    if (catch_up && snap->num_services == 0 && running_services() != 0)
        return "has no services; an API change does not build on that, a reload empties the registry";
    return NULL;
}

/* The file read again while running, as a new snapshot for the caller to publish;
 * NULL with `err` for a file that is invalid or refused, which changes nothing. */
static pd_snapshot_t *reread(pd_registry_file_t *rf, int catch_up, char *err, size_t errlen)
{
    struct stat st;
    int blank;
    const char *why;
    pd_snapshot_t *snap = read_file(rf, &st, &blank, err, errlen);

    if (snap != NULL && (why = refusal(snap, blank, catch_up)) != NULL) {
        snprintf(err, errlen, "%s %s", rf->path, why);
        snapshot_decref(snap);
        snap = NULL;
    }
    if (snap == NULL) {
        log_warnx("reload refused, the registry is unchanged: %s", err);
        return NULL;
    }
    remember(rf, &st);
    return snap;
}

/* SIGHUP and POST /reload. */
pd_snapshot_t *registry_file_reload(pd_registry_file_t *rf, char *err, size_t errlen)
{
    return reread(rf, 0, err, errlen);
}

/* Before an API change, when the file was edited by hand. */
pd_snapshot_t *registry_file_catch_up(pd_registry_file_t *rf, char *err, size_t errlen)
{
    return reread(rf, 1, err, errlen);
}
