/* Processes for sweeps: start a worker with its output going to a log and
 * wait for workers. (Run-directory locks and logs are files of a results
 * directory: results_fs.h.) Errors name the program and the reason. */
#ifndef PB_PROC_H
#define PB_PROC_H

#include <sys/types.h>

#include "../core/pb_error.h"

/* Runs argv[0] (a path; argv NULL-terminated) with stdout and stderr
 * going to log_fd (opened by the caller, e.g. pb_rfs_open_append) and
 * stdin from /dev/null. The child gets SIGTERM
 * when this process dies, so a worker ends with its sweep (its run stays
 * unfinished and is redone by the next sweep). Returns the pid, or -1. */
pid_t pb_spawn(const char *const *argv, int log_fd, pb_error *err);

/* Waits for the child want (-1: any). Returns its pid and sets *code to its
 * exit status, or 128 + the signal that ended it; 0 when nothing finished
 * (nohang) or no child is left. */
pid_t pb_wait_child(pid_t want, int nohang, int *code);

#endif
