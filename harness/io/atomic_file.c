/* Atomic file writes (atomic_file.h): temporary file, fsync, rename. */
#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "results_fs.h"

static int write_all(int fd, const void *data, size_t len) {
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Makes the rename itself durable; a failure here cannot tear the file, so
 * it is not reported. */
static void fsync_parent_dir(const char *path) {
    char *copy = strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(copy);
}

int pb_write_atomic(const char *path, const void *data, size_t len, pb_error *err) {
    static atomic_uint counter;
    if (!path || !*path) return pb_fail(err, "pb_write_atomic: empty path");
    if (len > 0 && !data) return pb_fail(err, "%s: no data to write", path);
    /* rename() would replace a device, FIFO, directory or link: refused. */
    if (pb_rfs_check_target(path, err)) return -1;

    /* Temporary name in the same directory, so rename() stays on one file
     * system and is atomic. O_EXCL guards against a name already in use. */
    size_t tlen = strlen(path) + 48;
    char *tmp = malloc(tlen);
    if (!tmp) return pb_fail(err, "%s: out of memory", path);
    int fd = -1;
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(tmp, tlen, "%s.tmp.%ld.%u", path, (long)getpid(),
                 atomic_fetch_add(&counter, 1u));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST) break;
    }
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return pb_fail(err, "%s: cannot create temporary file: %s", path, strerror(e));
    }

    const char *what = NULL;
    if (write_all(fd, data, len) != 0) what = "write failed";
    else if (fsync(fd) != 0) what = "fsync failed";
    int e = what ? errno : 0;
    if (close(fd) != 0 && !what) {
        what = "close failed";
        e = errno;
    }
    if (!what && rename(tmp, path) != 0) {
        what = "rename failed";
        e = errno;
    }
    if (what) {
        unlink(tmp);
        free(tmp);
        return pb_fail(err, "%s: %s: %s", path, what, strerror(e));
    }
    free(tmp);
    fsync_parent_dir(path);
    return 0;
}
