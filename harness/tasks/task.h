/* Tasks: seeded generators of sequences with answer slots.
 *
 * A task writes one problem of size n as a full sequence seq[0..S) with
 * S = seq_len(n), marks which elements are answers, and (for digit tasks)
 * each digit's place in its number. Token 0 is reserved as BLANK in every
 * task. pb_task_fill_batch turns problems into model inputs for either
 * protocol:
 *   decoder (causal):        tokens = seq[0..S-1), targets = seq[1..S),
 *                            mask = is_answer[1..S)              -> T = S - 1
 *   encoder (bidirectional): tokens = seq with answers replaced by BLANK,
 *                            targets = seq, mask = is_answer     -> T = S
 *
 * "length" everywhere in the API means the problem size n (for copy, the
 * number of symbols to copy), which is what extrapolation studies vary. */
#ifndef PB_TASK_H
#define PB_TASK_H

#include <gsl/gsl_rng.h>

#include "../model/batch.h"
#include "../core/opts.h"
#include "../core/pb_error.h"

#define PB_TOKEN_BLANK 0

typedef struct pb_task_type pb_task_type;

typedef struct pb_task {
    const pb_task_type *type;
    int vocab;        /* tokens used, including BLANK and separators */
    int min_len, max_len; /* training range of problem sizes */
    double chance;    /* per answer-token accuracy of the best blind guess */
    int pos_dims;     /* 1, or 2 for grid tasks */
    int grid_w;       /* row width for 2D tasks (0 where it depends on the
                         size: type->grid_width), else 0 */
    void *state;
} pb_task;

struct pb_task_type {
    const char *name;
    const char *summary;
    const char *options_doc;
    const char *const *options; /* valid option keys, NULL-terminated */
    /* Parse options (min_len, max_len, vocab, seed-independent settings). */
    int (*create)(pb_task *t, const pb_opts *o, pb_error *err);
    void (*destroy)(pb_task *t);
    /* Full sequence length for problem size n; -1 with err if n is invalid. */
    int (*seq_len)(const pb_task *t, int n, pb_error *err);
    /* Write one problem of size n: seq[S], is_answer[S], place[S] (place is
     * pre-filled with -1). */
    int (*sample)(const pb_task *t, gsl_rng *rng, int n, int *seq,
                  float *is_answer, int *place, pb_error *err);
    /* Row width of 2D problems of size n (NULL: grid_w for every size). */
    int (*grid_width)(const pb_task *t, int n);
};

extern const pb_task_type *const pb_task_types[];
const pb_task_type *pb_task_find(const char *name);
void pb_task_list_names(char *buf, size_t len);

int pb_task_create(pb_task *t, const char *name, const pb_opts *o, pb_error *err);
void pb_task_destroy(pb_task *t);

/* Model sequence length T for problem size n under a protocol. */
int pb_task_model_len(const pb_task *t, int n, int causal, pb_error *err);
/* Fill rows [0, B) of batch with problems of size n (positions untouched). */
int pb_task_fill_batch(const pb_task *t, gsl_rng *rng, int n, int causal,
                       int B, pb_batch *batch, pb_error *err);

#endif
