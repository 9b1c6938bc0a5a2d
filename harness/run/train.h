/* Training and evaluation loops over a task. */
#ifndef PB_TRAIN_H
#define PB_TRAIN_H

#include <gsl/gsl_rng.h>

#include "../model/adamw.h"
#include "../model/model.h"
#include "../core/progress.h"
#include "../tasks/task.h"

/* Rows [0, B) of batch: problems of size n drawn from task, with positions
 * from the model's scheme (training: its training-time randomisation, e.g.
 * random shifts). The one way anything draws a batch for a model. */
int pb_draw_batch(const pb_model *m, const pb_task *task, gsl_rng *rng, int n, int B,
                  int training, pb_batch *batch, pb_error *err);
/* The same from a fresh generator seeded with seed (batch allocated by the
 * caller for B x T). */
int pb_draw_batch_seeded(const pb_model *m, const pb_task *task, unsigned long seed, int n,
                         int B, int training, pb_batch *batch, pb_error *err);

typedef struct pb_train_opts {
    int steps, batch;
    pb_adamw opt;
    unsigned long seed;   /* data and position randomness */
    int progress;         /* 0: silent; 1: progress on stderr */
    const char *label;    /* shown in progress lines */
} pb_train_opts;

typedef struct pb_train_log {
    float *losses;        /* [steps] training loss of each step */
    float *grad_norms;    /* [steps] */
    double seconds, tokens_per_s;
} pb_train_log;

/* Train for o->steps steps; each step draws one problem size uniformly from
 * the task's [min_len, max_len] for the whole batch. log arrays must hold
 * o->steps floats. A non-finite loss stops training with an error naming
 * the step. */
int pb_train(pb_model *m, const pb_task *task, const pb_train_opts *o,
             pb_train_log *log, pb_error *err);

typedef struct pb_eval_result {
    int length;           /* problem size */
    int seq_len;          /* model sequence length T */
    double accuracy;      /* per answer token */
    double exact;         /* per sequence: every answer token right */
    double loss;          /* mean cross-entropy per answer token */
    long tokens, sequences;
} pb_eval_result;

/* Evaluate `samples` problems of size n. Decoder exact match under teacher
 * forcing equals greedy autoregressive exact match: the greedy decode is
 * right iff every argmax given the true prefix is right. */
int pb_eval_length(pb_model *m, const pb_task *task, int n, int samples,
                   unsigned long seed, pb_eval_result *r, pb_error *err);

#endif
