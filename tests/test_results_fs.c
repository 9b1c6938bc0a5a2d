/* io/results_fs.h: run-directory locks (taken, busy with the holder's text,
 * taken over from a dead holder, looked at without writing), and the rules
 * of a results directory: no symbolic link followed below the root, only
 * regular files read, written over, appended to or removed, nothing outside
 * the root. Every case that must be refused also checks that the file it
 * would have hit is unchanged. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../harness/io/atomic_file.h"
#include "../harness/io/results_fs.h"
#include "check.h"

static char dir[] = "/tmp/pb_test_rfs.XXXXXX";
static char root[300], outside[300];

static void path_in(char *out, size_t cap, const char *base, const char *name) {
    snprintf(out, cap, "%s/%s", base, name);
}

static void put(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static int file_is(const char *path, const char *text) {
    char buf[4096] = "";
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strcmp(buf, text) == 0;
}

static void check_locks(void) {
    char path[400], prev[256];
    path_in(path, sizeof path, root, "run.lock");
    pb_error err;
    int a = -1, b = -1;
    CHECK(pb_lock_peek(root, path, prev, sizeof prev, &err) == PB_LOCK_FREE,
          "no lock file: free");
    CHECK(pb_lock_acquire(root, path, "holder a\n", 9, &a, prev, sizeof prev, &err) ==
                  PB_LOCK_TAKEN && prev[0] == '\0',
          "a free lock is taken, with no previous text");
    CHECK(pb_lock_acquire(root, path, "holder b\n", 9, &b, prev, sizeof prev, &err) ==
                  PB_LOCK_BUSY && strcmp(prev, "holder a\n") == 0,
          "a held lock is busy and names its holder: '%s'", prev);
    CHECK(pb_lock_peek(root, path, prev, sizeof prev, &err) == PB_LOCK_BUSY &&
              strcmp(prev, "holder a\n") == 0 && file_is(path, "holder a\n"),
          "peek names the holder and writes nothing: '%s'", prev);
    pb_lock_release(a, path);
    CHECK(access(path, F_OK) != 0, "release removes the lock file");
    CHECK(pb_lock_acquire(root, path, "holder b\n", 9, &b, prev, sizeof prev, &err) ==
              PB_LOCK_TAKEN,
          "a released lock can be taken");
    pb_lock_release(b, path);

    /* a lock file whose writer died: no flock on it, its text remains */
    put(path, "pid 999999 (dead)\n");
    CHECK(pb_lock_peek(root, path, prev, sizeof prev, &err) == PB_LOCK_FREE &&
              file_is(path, "pid 999999 (dead)\n"),
          "a dead holder's lock is free to peek, and left as it was");
    CHECK(pb_lock_acquire(root, path, "c\n", 2, &a, prev, sizeof prev, &err) == PB_LOCK_TAKEN &&
              strcmp(prev, "pid 999999 (dead)\n") == 0,
          "a dead holder's lock is taken over and its text returned: '%s'", prev);
    CHECK(file_is(path, "c\n"), "the file now holds the new text");
    pb_lock_release(a, path);

    char missing[400];
    path_in(missing, sizeof missing, root, "no/such/dir/run.lock");
    CHECK(pb_lock_acquire(root, missing, "x", 1, &a, prev, sizeof prev, &err) == PB_LOCK_ERROR &&
              strstr(err.msg, missing),
          "an impossible lock names the path: %s", err.msg);

    /* a lock that is a symbolic link: neither taking nor looking writes
     * through it */
    char victim[400], link[400];
    path_in(victim, sizeof victim, outside, "precious");
    put(victim, "keep me\n");
    path_in(link, sizeof link, root, "link.lock");
    CHECK(symlink(victim, link) == 0, "symlink: %s", strerror(errno));
    CHECK(pb_lock_acquire(root, link, "x\n", 2, &a, prev, sizeof prev, &err) == PB_LOCK_ERROR &&
              strstr(err.msg, "symbolic link"),
          "a symlinked lock is refused: %s", err.msg);
    CHECK(pb_lock_peek(root, link, prev, sizeof prev, &err) == PB_LOCK_ERROR &&
              strstr(err.msg, "symbolic link"),
          "and not looked through: %s", err.msg);
    CHECK(file_is(victim, "keep me\n"), "its target is unchanged");

    char fifo[400];
    path_in(fifo, sizeof fifo, root, "fifo.lock");
    CHECK(mkfifo(fifo, 0600) == 0, "mkfifo");
    CHECK(pb_lock_acquire(root, fifo, "x\n", 2, &a, prev, sizeof prev, &err) == PB_LOCK_ERROR &&
              strstr(err.msg, "FIFO"),
          "a FIFO in the lock's place is refused (without blocking): %s", err.msg);
}

static void check_paths(void) {
    pb_error err;
    pb_rfs_kind k;
    char p[400], link[400];
    CHECK(pb_rfs_check(root, outside, &k, &err) == -1 && strstr(err.msg, "outside"),
          "a path outside the root: %s", err.msg);
    path_in(p, sizeof p, root, "a/../../x");
    CHECK(pb_rfs_check(root, p, &k, &err) == -1 && strstr(err.msg, "'..'"),
          "'..' is refused: %s", err.msg);
    path_in(p, sizeof p, root, "new/deeper/file");
    CHECK(pb_rfs_check(root, p, &k, &err) == 0 && k == PB_RFS_MISSING, "missing is fine");

    /* a directory below the root that is a link to elsewhere */
    path_in(link, sizeof link, root, "linked");
    CHECK(symlink(outside, link) == 0, "symlink");
    path_in(p, sizeof p, root, "linked/run/config.json");
    CHECK(pb_rfs_check(root, p, &k, &err) == -1 && strstr(err.msg, "symbolic link"),
          "a symlinked directory is not followed: %s", err.msg);
    CHECK(pb_rfs_mkdir(root, p, &err) == -1 && strstr(err.msg, "symbolic link"),
          "mkdir through it is refused: %s", err.msg);
    char made[400];
    path_in(made, sizeof made, outside, "run");
    CHECK(access(made, F_OK) != 0, "and nothing was created outside the root");
    CHECK(pb_rfs_write(root, p, "x", 1, &err) == -1, "nor written there");
    CHECK(pb_rfs_opendir(root, link, &err) == NULL && strstr(err.msg, "symbolic link"),
          "nor listed: %s", err.msg);

    path_in(p, sizeof p, root, "exp/run");
    CHECK(pb_rfs_mkdir(root, p, &err) == 0, "mkdir below the root: %s", err.msg);
    DIR *d = pb_rfs_opendir(root, p, &err);
    CHECK(d != NULL, "a real directory is listed: %s", err.msg);
    if (d) closedir(d);
}

static void check_files(void) {
    pb_error err;
    char p[400], victim[400], link[400], fifo[400], sub[400];
    path_in(victim, sizeof victim, outside, "target");
    put(victim, "outside\n");

    path_in(p, sizeof p, root, "exp/run/summary.json");
    CHECK(pb_rfs_write(root, p, "{}\n", 3, &err) == 0 && file_is(p, "{}\n"), "write: %s", err.msg);
    char *text = NULL;
    size_t len = 0;
    CHECK(pb_rfs_read(root, p, &text, &len, &err) == 0 && len == 3 && strcmp(text, "{}\n") == 0,
          "read it back: %s", err.msg);
    free(text);

    path_in(link, sizeof link, root, "exp/run/metrics.jsonl");
    CHECK(symlink(victim, link) == 0, "symlink");
    CHECK(pb_rfs_write(root, link, "x", 1, &err) == -1 && strstr(err.msg, "symbolic link"),
          "writing over a symlink is refused: %s", err.msg);
    CHECK(pb_rfs_open_append(root, link, &err) < 0 && strstr(err.msg, "symbolic link"),
          "appending through one too (a worker's log): %s", err.msg);
    CHECK(pb_rfs_read(root, link, &text, &len, &err) == -1 && strstr(err.msg, "symbolic link"),
          "and reading through one: %s", err.msg);
    CHECK(pb_rfs_remove(root, link, &err) == -1 && strstr(err.msg, "left alone"),
          "a symlink is not removed: %s", err.msg);
    CHECK(file_is(victim, "outside\n"), "the link's target is unchanged");

    path_in(fifo, sizeof fifo, root, "exp/run/fifo.json");
    CHECK(mkfifo(fifo, 0600) == 0, "mkfifo");
    CHECK(pb_rfs_read(root, fifo, &text, &len, &err) == -1 && strstr(err.msg, "FIFO"),
          "a FIFO is not read (no hang): %s", err.msg);
    CHECK(pb_rfs_read(NULL, fifo, &text, &len, &err) == -1 && strstr(err.msg, "FIFO"),
          "not even outside a results directory: %s", err.msg);
    CHECK(pb_write_atomic(fifo, "x", 1, &err) == -1 && strstr(err.msg, "not a regular file"),
          "write_atomic does not replace a FIFO: %s", err.msg);
    struct stat st;
    CHECK(lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode), "the FIFO is still there");
    CHECK(pb_rfs_remove(root, fifo, &err) == -1, "nor is it removed");

    path_in(sub, sizeof sub, root, "exp/run/dir.json");
    CHECK(mkdir(sub, 0700) == 0, "mkdir");
    CHECK(pb_rfs_read(root, sub, &text, &len, &err) == -1 && strstr(err.msg, "directory"),
          "a directory in a file's place is not read: %s", err.msg);
    CHECK(pb_write_atomic(sub, "x", 1, &err) == -1 && strstr(err.msg, "directory"),
          "nor written over: %s", err.msg);
    CHECK(pb_rfs_remove(root, sub, &err) == -1 && access(sub, F_OK) == 0,
          "nor removed: %s", err.msg);

    /* outside results directories, a link to a regular file is followed */
    char outlink[400];
    path_in(outlink, sizeof outlink, outside, "link");
    CHECK(symlink(victim, outlink) == 0, "symlink");
    CHECK(pb_rfs_read(NULL, outlink, &text, &len, &err) == 0 && strcmp(text, "outside\n") == 0,
          "a script's own link to a checkpoint or corpus is read: %s", err.msg);
    free(text);

    CHECK(pb_rfs_remove(root, p, &err) == 0 && access(p, F_OK) != 0, "remove: %s", err.msg);
    CHECK(pb_rfs_remove(root, p, &err) == 0, "removing what is gone is fine");

    path_in(p, sizeof p, root, "no/such/dir/worker.log");
    CHECK(pb_rfs_open_append(root, p, &err) < 0 && strstr(err.msg, p),
          "a log that cannot be opened is named: %s", err.msg);
}

int main(void) {
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    path_in(root, sizeof root, dir, "results");
    path_in(outside, sizeof outside, dir, "elsewhere");
    if (mkdir(root, 0700) || mkdir(outside, 0700)) {
        perror("mkdir");
        return 1;
    }
    check_locks();
    check_paths();
    check_files();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_summary("test_results_fs");
}
