/* io/proc.h: worker processes (log capture, exit codes, signals, a missing
 * program); io/dirs.h: mkdir -p. (Locks and logs: test_results_fs.c.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../harness/io/dirs.h"
#include "../harness/io/proc.h"
#include "../harness/io/results_fs.h"
#include "check.h"

static char dir[] = "/tmp/pb_test_proc.XXXXXX";

static void path_in(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", dir, name);
}

static int file_has(const char *path, const char *needle) {
    char buf[4096] = "";
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strstr(buf, needle) != NULL;
}

static void check_spawn(void) {
    char log[256];
    path_in(log, sizeof log, "worker.log");
    pb_error err;
    int code = -1;
    int fd = pb_rfs_open_append(dir, log, &err);
    CHECK(fd >= 0, "log: %s", err.msg);
    const char *ok[] = {"/bin/sh", "-c", "echo out; echo err >&2; read x; exit 3", NULL};
    pid_t pid = pb_spawn(ok, fd, &err);
    CHECK(pid > 0, "spawn: %s", err.msg);
    CHECK(pb_wait_child(pid, 0, &code) == pid && code == 3, "exit status 3 (got %d)", code);
    CHECK(file_has(log, "out\n") && file_has(log, "err\n"), "stdout and stderr go to the log");
    CHECK(pb_wait_child(-1, 1, &code) == 0, "no child left: nothing to wait for");

    const char *killed[] = {"/bin/sh", "-c", "kill -9 $$", NULL};
    pid = pb_spawn(killed, fd, &err);
    CHECK(pb_wait_child(pid, 0, &code) == pid && code == 128 + 9, "signal 9 is 137 (got %d)", code);

    const char *missing[] = {"/no/such/program", NULL};
    pid = pb_spawn(missing, fd, &err);
    CHECK(pb_wait_child(pid, 0, &code) == pid && code == 127 &&
              file_has(log, "cannot run /no/such/program"),
          "a missing program exits 127 and says why in the log (got %d)", code);

    close(fd);
}

static void check_dirs(void) {
    char path[300], file[300];
    pb_error err;
    path_in(path, sizeof path, "a//b/c/");
    CHECK(pb_mkdir_p(path, &err) == 0, "mkdir -p with doubled and trailing slashes: %s", err.msg);
    path_in(path, sizeof path, "a/b/c");
    struct stat st;
    CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode), "every component exists");
    CHECK(pb_mkdir_p(path, &err) == 0, "an existing directory is fine");
    path_in(file, sizeof file, "a/file");
    FILE *f = fopen(file, "w");
    if (f) fclose(f);
    path_in(path, sizeof path, "a/file/d");
    CHECK(pb_mkdir_p(path, &err) == -1 && strstr(err.msg, "exists and is not a directory") &&
              strstr(err.msg, file),
          "a file in the way is named: %s", err.msg);
    CHECK(pb_mkdir_p("", &err) == -1 && strstr(err.msg, "empty path"), "an empty path");
}

int main(void) {
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    check_spawn();
    check_dirs();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_summary("test_proc");
}
