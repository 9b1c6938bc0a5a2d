/* Internal to the task files (task.c, tasks_*.c): the built-in task types
 * and the option and size checks they share, so every task reports a bad
 * option or problem size with the same wording. */
#ifndef PB_TASK_COMMON_H
#define PB_TASK_COMMON_H

#include "task.h"

/* Largest full sequence a task may produce (keeps index arithmetic in int). */
#define PB_TASK_MAX_SEQ (1 << 24)

extern const pb_task_type pb_task_copy, pb_task_reverse, pb_task_duplicate,
    pb_task_sort, pb_task_add, pb_task_recall, pb_task_induction,
    pb_task_missing_duplicate, pb_task_parity, pb_task_modular, pb_task_grid2d,
    pb_task_lm;

/* Reads min_len / max_len (defaults dflt_min / dflt_max) into t, checking
 * lowest <= min_len <= max_len. */
int pb_task_parse_lengths(pb_task *t, const pb_opts *o, int lowest, int dflt_min,
                          int dflt_max, pb_error *err);

/* Reads an integer option and checks lo <= value <= hi. */
int pb_task_parse_int(const pb_task *t, const pb_opts *o, const char *key,
                      int dflt, int lo, int hi, int *out, pb_error *err);

/* A type's destroy for a task whose state is one calloc'd block. */
void pb_task_free_state(pb_task *t);

/* Checks a problem size n >= lowest and a sequence length S (computed in
 * long long by the caller) <= PB_TASK_MAX_SEQ; returns S as int or -1. */
int pb_task_check_size(const pb_task *t, int n, int lowest, long long S,
                       pb_error *err);

#endif
