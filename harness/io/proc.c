/* Processes and locks for sweeps (proc.h). */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

pid_t pb_spawn(const char *const *argv, const char *log_path, pb_error *err) {
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (fd < 0)
        return pb_fail(err, "spawn: cannot open log '%s': %s", log_path, strerror(errno));
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fd);
        return pb_fail(err, "spawn: fork failed for '%s': %s", argv[0], strerror(e));
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(143); /* the parent died before prctl */
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0) dup2(null, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], (char *const *)argv);
        dprintf(2, "spawn: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fd);
    return pid;
}

pid_t pb_wait_child(pid_t want, int nohang, int *code) {
    int status = 0;
    pid_t pid;
    do pid = waitpid(want, &status, nohang ? WNOHANG : 0);
    while (pid < 0 && errno == EINTR);
    if (pid <= 0) return 0;
    if (WIFEXITED(status)) *code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status)) *code = 128 + WTERMSIG(status);
    else *code = 255;
    return pid;
}

/* The file's text from offset 0 into buf (NUL-terminated, "" on failure). */
static void read_text(int fd, char *buf, size_t cap) {
    ssize_t n = pread(fd, buf, cap - 1, 0);
    buf[n > 0 ? (size_t)n : 0] = '\0';
}

pb_lock_result pb_lock_acquire(const char *path, const char *text, size_t text_len, int *fd,
                               char *prev, size_t prev_cap, pb_error *err) {
    prev[0] = '\0';
    for (int attempt = 0; attempt < 20; attempt++) {
        int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (f < 0) {
            pb_fail(err, "lock: cannot open '%s': %s", path, strerror(errno));
            return PB_LOCK_ERROR;
        }
        if (flock(f, LOCK_EX | LOCK_NB) != 0) {
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
        if (fstat(f, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
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

void pb_lock_release(int fd, const char *path) {
    unlink(path);
    close(fd);
}
