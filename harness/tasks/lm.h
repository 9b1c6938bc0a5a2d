/* Character-level language modelling (task 'lm'): what the evaluator needs
 * to walk the corpus deterministically for perplexity against length
 * (protocol (c)).
 *
 * A window of size n is n + 1 consecutive corpus tokens c[o .. o+n]: the
 * decoder reads c[o .. o+n) and predicts c[o+1 .. o+n], so n is both the
 * model length T and the number of predictions. Non-overlapping evaluation
 * takes o = 0, n, 2n, ... while o + n < pb_lm_corpus_len (each token after
 * the first is predicted once); sliding windows take o = 0, s, 2s, ... and
 * score only the last s predictions of each window after the first. */
#ifndef PB_TASKS_LM_H
#define PB_TASKS_LM_H

#include "task.h"

/* Corpus length in tokens (characters); -1 when t is not an 'lm' task. */
long pb_lm_corpus_len(const pb_task *t);

/* Writes the window of size n at offset o, seq[0..n] (n + 1 tokens, the
 * task's seq_len(n)). Fails naming o, n and the corpus length when
 * o < 0 or o + n >= pb_lm_corpus_len(t). */
int pb_lm_window(const pb_task *t, long offset, int n, int *seq, pb_error *err);

/* The byte a token id stands for, or -1 for BLANK and ids out of range. */
int pb_lm_token_byte(const pb_task *t, int token);

#endif
