/* File operations in a results directory (results_fs.h). */
#include "results_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"
#include "dirs.h"

static const char *mode_name(mode_t m) {
    if (S_ISREG(m)) return "a regular file";
    if (S_ISDIR(m)) return "a directory";
    if (S_ISLNK(m)) return "a symbolic link";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

pb_rfs_kind pb_rfs_lstat(const char *path, struct stat *st) {
    struct stat s;
    if (!st) st = &s;
    if (lstat(path, st) != 0) return errno == ENOENT || errno == ENOTDIR ? PB_RFS_MISSING : PB_RFS_ERROR;
    if (S_ISREG(st->st_mode)) return PB_RFS_FILE;
    if (S_ISDIR(st->st_mode)) return PB_RFS_DIR;
    if (S_ISLNK(st->st_mode)) return PB_RFS_LINK;
    return PB_RFS_OTHER;
}

const char *pb_rfs_kind_name(pb_rfs_kind k) {
    switch (k) {
    case PB_RFS_MISSING: return "missing";
    case PB_RFS_FILE: return "a regular file";
    case PB_RFS_DIR: return "a directory";
    case PB_RFS_LINK: return "a symbolic link";
    case PB_RFS_OTHER: return "a special file (FIFO, device or socket)";
    default: return "unreadable";
    }
}

/* Length of root without trailing slashes ("/" stays 1; "." is 0: every
 * relative path is below it, as util.join(".", x) gives x). */
static size_t root_len(const char *root) {
    size_t n = strlen(root);
    if (strcmp(root, ".") == 0) return 0;
    while (n > 1 && root[n - 1] == '/') n--;
    return n;
}

/* Walks the components of path below root: each must not be '.' or '..';
 * each existing one before the last must be a directory (not a link).
 * create: missing components are made directories (the last one too). */
static int walk(const char *root, const char *path, int create, pb_rfs_kind *last,
                pb_error *err) {
    if (!root || !*root) return pb_fail(err, "results: empty results root");
    if (!path || !*path) return pb_fail(err, "results: empty path");
    size_t rl = root_len(root);
    if (rl == 0 ? path[0] == '/'
                : strncmp(path, root, rl) != 0 || (path[rl] != '\0' && path[rl] != '/' && rl > 1))
        return pb_fail(err, "results: '%s' is outside the results root '%s'", path, root);
    if (last) *last = PB_RFS_MISSING;
    char *buf = strdup(path);
    if (!buf) return pb_fail(err, "results: out of memory");
    size_t i = rl, n = strlen(buf);
    if (rl == 0 && buf[0] == '.' && buf[1] == '/') i = 2; /* "./x" below "." */
    if (i == n) { /* the root itself: the caller's choice, links included */
        struct stat st;
        pb_rfs_kind k = stat(buf, &st) != 0 ? PB_RFS_MISSING : S_ISDIR(st.st_mode) ? PB_RFS_DIR
                                                                                 : PB_RFS_OTHER;
        if (create && k == PB_RFS_MISSING) {
            free(buf);
            return pb_mkdir_p(path, err);
        }
        if (last) *last = k;
        free(buf);
        return 0;
    }
    int rc = 0;
    for (size_t j = i; j < n; j++) { /* '.' and '..' anywhere, even below a missing part */
        if (buf[j] != '.' || (j > i && buf[j - 1] != '/')) continue;
        size_t e = j + 1 + (buf[j + 1] == '.');
        if (buf[e] == '\0' || buf[e] == '/') {
            free(buf);
            return pb_fail(err, "results: '%s' has a '.' or '..' component", path);
        }
    }
    while (i < n && !rc) {
        while (i < n && buf[i] == '/') i++;
        if (i == n) break;
        size_t end = i;
        while (end < n && buf[end] != '/') end++;
        size_t next = end;
        while (next < n && buf[next] == '/') next++;
        int is_last = next == n;
        char saved = buf[end];
        buf[end] = '\0';
        struct stat st;
        pb_rfs_kind k = pb_rfs_lstat(buf, &st);
        if (create && k == PB_RFS_MISSING) {
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                rc = pb_fail(err, "results: cannot create '%s': %s", buf, strerror(errno));
            k = rc ? k : pb_rfs_lstat(buf, &st);
        }
        if (rc) break;
        if (k == PB_RFS_ERROR) {
            rc = pb_fail(err, "results: cannot inspect '%s': %s", buf, strerror(errno));
        } else if (is_last && !create) {
            if (last) *last = k;
        } else if (k == PB_RFS_MISSING) {
            break; /* nothing below exists either */
        } else if (k == PB_RFS_LINK) {
            rc = pb_fail(err, "results: '%s' is a symbolic link; links are not followed in a "
                              "results directory (root '%s')", buf, root);
        } else if (k != PB_RFS_DIR) {
            rc = pb_fail(err, "results: '%s' is %s, not a directory", buf, mode_name(st.st_mode));
        }
        buf[end] = saved;
        i = end;
    }
    free(buf);
    return rc;
}

int pb_rfs_check(const char *root, const char *path, pb_rfs_kind *last, pb_error *err) {
    return walk(root, path, 0, last, err);
}

int pb_rfs_mkdir(const char *root, const char *dir, pb_error *err) {
    if (root && *root && strcmp(root, ".") != 0) {
        struct stat st;
        if (stat(root, &st) != 0 && pb_mkdir_p(root, err)) return -1;
    }
    return walk(root, dir, 1, NULL, err);
}

/* path below root whose last component is absent or a regular file. */
static int check_file(const char *root, const char *path, int missing_ok, pb_error *err) {
    pb_rfs_kind k;
    if (walk(root, path, 0, &k, err)) return -1;
    if (k == PB_RFS_FILE || (k == PB_RFS_MISSING && missing_ok)) return 0;
    if (k == PB_RFS_MISSING) return pb_fail(err, "'%s': no such file", path);
    if (k == PB_RFS_LINK)
        return pb_fail(err, "'%s' is a symbolic link; links are not followed in a results "
                            "directory (root '%s')", path, root);
    return pb_fail(err, "'%s' is %s, not a regular file: refused", path, pb_rfs_kind_name(k));
}

int pb_rfs_check_target(const char *path, pb_error *err) {
    struct stat st;
    pb_rfs_kind k = pb_rfs_lstat(path, &st);
    if (k == PB_RFS_MISSING || k == PB_RFS_FILE) return 0;
    if (k == PB_RFS_ERROR) return pb_fail(err, "%s: cannot inspect: %s", path, strerror(errno));
    return pb_fail(err, "%s exists and is %s, not a regular file: refused (writing would "
                        "replace it)", path, mode_name(st.st_mode));
}

int pb_rfs_write(const char *root, const char *path, const void *data, size_t len,
                 pb_error *err) {
    if (check_file(root, path, 1, err)) return -1;
    return pb_write_atomic(path, data, len, err);
}

/* After open(O_NONBLOCK): the fd must be a regular file; back to blocking
 * mode. Closes fd and fails otherwise. */
static int regular_fd(int fd, const char *path, pb_error *err) {
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return pb_fail(err, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return pb_fail(err, "%s is %s, not a regular file: refused", path, mode_name(st.st_mode));
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

static int open_error(const char *path, const char *what, int e, pb_error *err) {
    if (e == ELOOP)
        return pb_fail(err, "%s: cannot %s: it is a symbolic link (not followed in a results "
                            "directory)", path, what);
    return pb_fail(err, "%s: cannot %s: %s", path, what, strerror(e));
}

int pb_rfs_open_append(const char *root, const char *path, pb_error *err) {
    if (check_file(root, path, 1, err)) return -1;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0666);
    if (fd < 0) return open_error(path, "open for appending", errno, err);
    return regular_fd(fd, path, err);
}

int pb_rfs_remove(const char *root, const char *path, pb_error *err) {
    pb_rfs_kind k;
    if (walk(root, path, 0, &k, err)) return -1;
    if (k == PB_RFS_MISSING) return 0;
    if (k != PB_RFS_FILE)
        return pb_fail(err, "'%s' is %s, not a regular file: left alone", path, pb_rfs_kind_name(k));
    if (unlink(path) != 0 && errno != ENOENT)
        return pb_fail(err, "cannot remove '%s': %s", path, strerror(errno));
    return 0;
}

int pb_rfs_open_read(const char *root, const char *path, pb_error *err) {
    int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC;
    if (root) {
        if (check_file(root, path, 0, err)) return -1;
        flags |= O_NOFOLLOW;
    } else {
        /* Refuse a FIFO or device before opening it: opening has effects. */
        struct stat st;
        if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
            return pb_fail(err, "%s is %s, not a regular file: refused", path, mode_name(st.st_mode));
    }
    int fd = open(path, flags);
    if (fd < 0) return open_error(path, "open", errno, err);
    return regular_fd(fd, path, err);
}

int pb_rfs_read(const char *root, const char *path, char **data, size_t *len, pb_error *err) {
    *data = NULL;
    *len = 0;
    int fd = pb_rfs_open_read(root, path, err);
    if (fd < 0) return -1;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            close(fd);
            return pb_fail(err, "%s: out of memory", path);
        }
        if (n + 1 >= cap) {
            char *b = realloc(buf, cap * 2);
            if (!b) free(buf);
            buf = b;
            cap *= 2;
            continue;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return pb_fail(err, "%s: read failed: %s", path, strerror(e));
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

DIR *pb_rfs_opendir(const char *root, const char *dir, pb_error *err) {
    pb_rfs_kind k;
    if (walk(root, dir, 0, &k, err)) return NULL;
    if (k == PB_RFS_LINK)
        return pb_fail(err, "results: '%s' is a symbolic link; links are not followed in a "
                            "results directory (root '%s')", dir, root), NULL;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return open_error(dir, "list", errno, err), NULL;
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return pb_fail(err, "%s: cannot list: %s", dir, strerror(e)), NULL;
    }
    return d;
}

/* Locks ------------------------------------------------------------------ */

/* The file's text from offset 0 into buf (NUL-terminated, "" on failure). */
static void read_text(int fd, char *buf, size_t cap) {
    ssize_t n = pread(fd, buf, cap - 1, 0);
    buf[n > 0 ? (size_t)n : 0] = '\0';
}

/* An exclusive flock, retried for a few milliseconds: a peeker holds a
 * shared lock for microseconds and must not look like a holder. */
static int flock_exclusive(int fd) {
    for (int i = 0;; i++) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) return 0;
        if (errno != EWOULDBLOCK || i >= 10) return -1;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
}

pb_lock_result pb_lock_acquire(const char *root, const char *path, const char *text,
                               size_t text_len, int *fd, char *prev, size_t prev_cap,
                               pb_error *err) {
    prev[0] = '\0';
    if (check_file(root, path, 1, err)) return PB_LOCK_ERROR;
    for (int attempt = 0; attempt < 20; attempt++) {
        int f = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0666);
        if (f < 0) {
            open_error(path, "open the lock", errno, err);
            return PB_LOCK_ERROR;
        }
        if (regular_fd(f, path, err) < 0) return PB_LOCK_ERROR;
        if (flock_exclusive(f) != 0) {
            int e = errno;
            read_text(f, prev, prev_cap);
            close(f);
            if (e == EWOULDBLOCK) return PB_LOCK_BUSY;
            pb_fail(err, "lock '%s': %s", path, strerror(e));
            return PB_LOCK_ERROR;
        }
        /* A holder may have unlinked the file between our open and our
         * flock: then the lock we hold is on a file nobody else sees. */
        struct stat a, b;
        if (fstat(f, &a) == 0 && lstat(path, &b) == 0 && a.st_ino == b.st_ino &&
            a.st_dev == b.st_dev) {
            read_text(f, prev, prev_cap); /* a dead holder's text */
            if (ftruncate(f, 0) != 0 || pwrite(f, text, text_len, 0) != (ssize_t)text_len) {
                pb_fail(err, "lock: cannot write '%s': %s", path, strerror(errno));
                close(f);
                return PB_LOCK_ERROR;
            }
            *fd = f;
            return PB_LOCK_TAKEN;
        }
        close(f);
    }
    pb_fail(err, "lock '%s': the lock file keeps changing", path);
    return PB_LOCK_ERROR;
}

pb_lock_result pb_lock_peek(const char *root, const char *path, char *prev, size_t prev_cap,
                            pb_error *err) {
    prev[0] = '\0';
    if (check_file(root, path, 1, err)) return PB_LOCK_ERROR;
    int f = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (f < 0) {
        if (errno == ENOENT) return PB_LOCK_FREE;
        open_error(path, "open the lock", errno, err);
        return PB_LOCK_ERROR;
    }
    if (regular_fd(f, path, err) < 0) return PB_LOCK_ERROR;
    pb_lock_result r = PB_LOCK_FREE;
    if (flock(f, LOCK_SH | LOCK_NB) == 0) {
        flock(f, LOCK_UN);
    } else if (errno == EWOULDBLOCK) {
        read_text(f, prev, prev_cap);
        r = PB_LOCK_BUSY;
    } else {
        pb_fail(err, "lock '%s': %s", path, strerror(errno));
        r = PB_LOCK_ERROR;
    }
    close(f);
    return r;
}

void pb_lock_release(int fd, const char *path) {
    struct stat a, b;
    if (fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
        unlink(path);
    close(fd);
}
