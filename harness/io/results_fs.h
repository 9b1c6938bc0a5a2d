/* Every file operation in a results directory: reads, writes, removals,
 * listings, directories, logs and run locks. A results directory may come
 * from elsewhere (copied, unpacked, moved), so nothing in it is trusted:
 *   - symbolic links are never followed below the results root (O_NOFOLLOW
 *     on the last component, lstat on every one before it);
 *   - only regular files are read, written over, appended to or removed
 *     (a FIFO, a device or a directory in a file's place is an error, and
 *     is never opened in a way that could block);
 *   - the root is a boundary: a path outside it, or with '.' or '..'
 *     components, is refused before anything is created or deleted.
 * The root itself may be a symbolic link (the caller's choice, e.g.
 * results -> /scratch/results). A NULL root means "not in a results
 * directory" (a checkpoint or corpus named by a script): symbolic links are
 * followed, but only regular files are read.
 * The checks are made on the tree as found; they guard against what a
 * results directory holds, not against a concurrent writer of it, who
 * could change the results anyway. Errors name the path and the reason. */
#ifndef PB_RESULTS_FS_H
#define PB_RESULTS_FS_H

#include <dirent.h>
#include <stddef.h>
#include <sys/stat.h>

#include "../core/pb_error.h"

/* What lstat finds at a path (a symbolic link is reported as such). */
typedef enum {
    PB_RFS_MISSING,
    PB_RFS_FILE,
    PB_RFS_DIR,
    PB_RFS_LINK,
    PB_RFS_OTHER, /* FIFO, device, socket */
    PB_RFS_ERROR  /* lstat failed for another reason than ENOENT/ENOTDIR */
} pb_rfs_kind;

/* lstat; st may be NULL. */
pb_rfs_kind pb_rfs_lstat(const char *path, struct stat *st);

/* "missing", "a regular file", "a directory", "a symbolic link", ... */
const char *pb_rfs_kind_name(pb_rfs_kind k);

/* path is root or below it (no '.' or '..' component), and every existing
 * component below root but the last is a directory, not a symbolic link.
 * *last (may be NULL) is the kind of the last component; the caller
 * decides what it may be. */
int pb_rfs_check(const char *root, const char *path, pb_rfs_kind *last, pb_error *err);

/* mkdir -p of dir: root as pb_mkdir_p does it, the components below root
 * without following a symbolic link (one in the way is an error). */
int pb_rfs_mkdir(const char *root, const char *dir, pb_error *err);

/* pb_write_atomic of path below root; the target must be absent or a
 * regular file. */
int pb_rfs_write(const char *root, const char *path, const void *data, size_t len,
                 pb_error *err);

/* A regular file below root opened for appending (created when absent);
 * returns the fd (close-on-exec), or -1. */
int pb_rfs_open_append(const char *root, const char *path, pb_error *err);

/* Removes the regular file path below root; absent is fine. Anything else
 * (a directory, a symbolic link, a FIFO) is left alone and reported. */
int pb_rfs_remove(const char *root, const char *path, pb_error *err);

/* Opens a regular file for reading without blocking on a FIFO or device;
 * returns the fd (blocking mode, close-on-exec), or -1. root: see above. */
int pb_rfs_open_read(const char *root, const char *path, pb_error *err);

/* The whole regular file into *data (malloc'ed, NUL-terminated, *len
 * bytes). */
int pb_rfs_read(const char *root, const char *path, char **data, size_t *len, pb_error *err);

/* A directory below root opened for listing (not through a symbolic link);
 * NULL with err on failure. closedir() it. */
DIR *pb_rfs_opendir(const char *root, const char *dir, pb_error *err);

/* Refuses an existing target that is not a regular file (a device, FIFO,
 * directory or symbolic link would be replaced by a rename). */
int pb_rfs_check_target(const char *path, pb_error *err);

/* Run-directory locks ------------------------------------------------- */

/* What a lock operation found. */
typedef enum { PB_LOCK_TAKEN, PB_LOCK_BUSY, PB_LOCK_FREE, PB_LOCK_ERROR } pb_lock_result;

/* An exclusive flock on the lock file path (below root), which holds text
 * (who owns it) while held. TAKEN: *fd is the lock, prev holds what the
 * file held before (a dead holder's text, or ""). BUSY: prev holds the
 * live holder's text. ERROR: err says why (a symbolic link or any
 * non-regular file in the lock's place is one). The kernel drops a flock
 * when its process dies, so a lock file left by a dead process is simply
 * taken over. */
pb_lock_result pb_lock_acquire(const char *root, const char *path, const char *text,
                               size_t text_len, int *fd, char *prev, size_t prev_cap,
                               pb_error *err);

/* Who holds the lock, without taking it or writing anything: FREE (no
 * file, or nobody holds it), BUSY (prev: the holder's text) or ERROR. */
pb_lock_result pb_lock_peek(const char *root, const char *path, char *prev, size_t prev_cap,
                            pb_error *err);

/* Removes the lock file (when it is still the one fd locks), then releases
 * the lock (in that order, so a waiter never locks a file that is about to
 * disappear unnoticed). */
void pb_lock_release(int fd, const char *path);

#endif
