/* Worker processes for sweeps (proc.h). */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

pid_t pb_spawn(const char *const *argv, int log_fd, pb_error *err) {
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        return pb_fail(err, "spawn: fork failed for '%s': %s", argv[0], strerror(e));
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(143); /* the parent died before prctl */
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0) dup2(null, 0);
        dup2(log_fd, 1);
        dup2(log_fd, 2);
        execv(argv[0], (char *const *)argv);
        dprintf(2, "spawn: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
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
