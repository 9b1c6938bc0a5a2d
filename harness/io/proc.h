/* Processes and locks for sweeps: start a worker with its output appended to
 * a log, wait for workers, and hold an exclusive lock on a run directory.
 * Errors name the path and the system's reason. */
#ifndef PB_PROC_H
#define PB_PROC_H

#include <stddef.h>
#include <sys/types.h>

#include "../core/pb_error.h"

/* Runs argv[0] (a path; argv NULL-terminated) with stdout and stderr
 * appended to log_path and stdin from /dev/null. The child gets SIGTERM
 * when this process dies, so a worker ends with its sweep (its run stays
 * unfinished and is redone by the next sweep). Returns the pid, or -1. */
pid_t pb_spawn(const char *const *argv, const char *log_path, pb_error *err);

/* Waits for the child want (-1: any). Returns its pid and sets *code to its
 * exit status, or 128 + the signal that ended it; 0 when nothing finished
 * (nohang) or no child is left. */
pid_t pb_wait_child(pid_t want, int nohang, int *code);

/* What pb_lock_acquire found. */
typedef enum { PB_LOCK_TAKEN, PB_LOCK_BUSY, PB_LOCK_ERROR } pb_lock_result;

/* An exclusive flock on path, which holds text (who owns it) while held.
 * TAKEN: *fd is the lock, prev holds what the file held before (a dead
 * holder's text, or ""). BUSY: prev holds the live holder's text. ERROR:
 * err says why. The kernel drops a flock when its process dies, so a lock
 * file left by a dead process is simply taken over. */
pb_lock_result pb_lock_acquire(const char *path, const char *text, size_t text_len, int *fd,
                               char *prev, size_t prev_cap, pb_error *err);

/* Removes the lock file, then releases the lock (in that order, so a
 * waiter never locks a file that is about to disappear unnoticed). */
void pb_lock_release(int fd, const char *path);

#endif
