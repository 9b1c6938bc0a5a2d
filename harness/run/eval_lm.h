/* Perplexity against evaluation length for the 'lm' task (protocol (c),
 * Press et al. 2022): the corpus is walked deterministically in windows of
 * n tokens (lm.h describes a window).
 *
 *   nonoverlap  windows at offsets 0, n, 2n, ...; every prediction of every
 *               window is scored, so each scored token saw on average n/2
 *               tokens of context.
 *   sliding     windows at offsets 0, s, 2s, ... (stride s <= n); the first
 *               window scores all n predictions, every later one only its
 *               last s, so each corpus token is scored once and (after the
 *               first window) with at least n - s tokens of context.
 *
 * Windows are taken while they fit in the corpus (offset + n < corpus
 * length). max_tokens > 0 stops the walk after the first window that brings
 * the scored predictions to max_tokens or more (at least one window is
 * always scored). */
#ifndef PB_EVAL_LM_H
#define PB_EVAL_LM_H

#include "../model/model.h"
#include "../tasks/task.h"

typedef enum { PB_LM_NONOVERLAP, PB_LM_SLIDING } pb_lm_window_kind;

typedef struct pb_lm_eval_opts {
    pb_lm_window_kind window;
    int stride;             /* sliding: s in [1, n]; 0 means n / 2 (at least 1);
                               nonoverlap: 0 (windows step by their length) */
    long max_tokens;        /* 0: the whole corpus */
    unsigned long seed;     /* only for position schemes that draw at test time */
} pb_lm_eval_opts;

typedef struct pb_lm_eval_result {
    int length;             /* window n = model sequence length T */
    int stride;             /* offsets step (n for nonoverlap) */
    long windows;           /* windows evaluated */
    long tokens;            /* predictions scored */
    double loss;            /* mean cross-entropy per scored prediction (nats) */
    double ppl;             /* exp(loss) */
    double accuracy;        /* argmax == next token, over scored predictions */
} pb_lm_eval_result;

/* The window kind named s ("nonoverlap" or "sliding"); -1 with err naming
 * the valid choices otherwise. */
int pb_lm_window_parse(const char *s, pb_lm_window_kind *out, pb_error *err);

/* Checks the options before any window length is known: stride_set says
 * the caller named a stride (0 included), which must then be positive and
 * go with window sliding; max_tokens must be >= 0. -1 with err otherwise. */
int pb_lm_eval_opts_check(const pb_lm_eval_opts *o, int stride_set, pb_error *err);

/* Evaluate window length n over the corpus of an 'lm' task with a causal
 * model. The model's position scheme fills positions as at test time.
 * o is checked as by pb_lm_eval_opts_check (a stride of 0 counts as none). */
int pb_eval_lm(pb_model *m, const pb_task *task, int n, const pb_lm_eval_opts *o,
               pb_lm_eval_result *r, pb_error *err);

#endif
