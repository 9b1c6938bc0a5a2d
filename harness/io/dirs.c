/* Directories for results (dirs.h). */
#include "dirs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* One directory; an existing directory is fine, an existing file is not. */
static int make_dir(const char *dir, pb_error *err) {
    if (mkdir(dir, 0777) == 0) return 0;
    int e = errno;
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return 0;
        return pb_fail(err, "mkdir_p: '%s' exists and is not a directory", dir);
    }
    return pb_fail(err, "mkdir_p: cannot create '%s': %s", dir, strerror(e));
}

int pb_mkdir_p(const char *path, pb_error *err) {
    size_t len = strlen(path);
    if (!len) return pb_fail(err, "mkdir_p: empty path");
    char *buf = malloc(len + 1);
    if (!buf) return pb_fail(err, "mkdir_p: out of memory");
    memcpy(buf, path, len + 1);
    int rc = 0;
    for (size_t i = 1; i < len && !rc; i++) {
        if (buf[i] != '/' || buf[i - 1] == '/') continue;
        buf[i] = '\0';
        rc = make_dir(buf, err);
        buf[i] = '/';
    }
    if (!rc) rc = make_dir(buf, err);
    free(buf);
    return rc;
}
