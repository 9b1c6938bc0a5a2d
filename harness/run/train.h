/* Training and evaluation loops over a task. */
#ifndef PB_TRAIN_H
#define PB_TRAIN_H

#include <gsl/gsl_rng.h>

#include "../model/adamw.h"
#include "../model/model.h"
#include "../core/progress.h"
#include "../tasks/task.h"

/* Which draws a batch serves: each split reads its problems and its
 * positions from two streams of its own (core/streams.h), so the position
 * scheme's randomness never shifts the problems. train also turns on the
 * scheme's training-time randomisation (random shifts, abacus offsets). */
typedef enum { PB_SPLIT_TRAIN, PB_SPLIT_TEST, PB_SPLIT_VALID } pb_split;

/* "test" or "valid" (the splits an evaluation may ask for); anything else is
 * an error naming the valid splits. */
int pb_eval_split_parse(const char *name, pb_split *out, pb_error *err);

typedef struct pb_draw_streams {
    gsl_rng *problems;    /* problem sizes and problems */
    gsl_rng *positions;   /* the position scheme's draws */
    int training;
} pb_draw_streams;

/* Opens the two generators of split for the user's seed; close with
 * pb_draw_streams_close (also after a failed open). */
int pb_draw_streams_open(pb_draw_streams *s, pb_split split, unsigned long seed,
                         pb_error *err);
void pb_draw_streams_close(pb_draw_streams *s);

/* Rows [0, B) of batch: problems of size n drawn from task, with positions
 * from the model's scheme. The one way anything draws a batch for a model. */
int pb_draw_batch(const pb_model *m, const pb_task *task, pb_draw_streams *s, int n, int B,
                  pb_batch *batch, pb_error *err);
/* The same from fresh streams of split for seed (batch allocated by the
 * caller for B x T). */
int pb_draw_batch_seeded(const pb_model *m, const pb_task *task, pb_split split,
                         unsigned long seed, int n, int B, pb_batch *batch, pb_error *err);

typedef struct pb_train_opts {
    int steps, batch;
    pb_adamw opt;
    unsigned long seed;   /* train_data and train_positions streams */
    int progress;         /* 0: silent; 1: progress on stderr */
    const char *label;    /* shown in progress lines */
} pb_train_opts;

typedef struct pb_train_log {
    float *losses;        /* [steps] training loss of each step */
    float *grad_norms;    /* [steps] */
    double final_loss;    /* mean loss of the last 5% of the steps (at least 1) */
    double seconds, tokens_per_s;
} pb_train_log;

/* Train for o->steps steps; each step draws one problem size uniformly from
 * the task's [min_len, max_len] for the whole batch (from the train_data
 * stream, before the step's problems). log arrays must hold
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

/* Evaluate `samples` problems of size n drawn from split's streams for
 * seed (PB_SPLIT_TEST or PB_SPLIT_VALID). Decoder exact match under teacher
 * forcing equals greedy autoregressive exact match: the greedy decode is
 * right iff every argmax given the true prefix is right. */
int pb_eval_length(pb_model *m, const pb_task *task, int n, int samples, pb_split split,
                   unsigned long seed, pb_eval_result *r, pb_error *err);

#endif
