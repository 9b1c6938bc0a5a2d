/* The position score of a pair of positions (a, b): what an encoding alone
 * contributes to the attention logit of query a and key b, per head.
 *
 *   q/k encodings    <T(a) q_h, T(b) k_h> for fixed random unit q_h, k_h
 *   input encodings  PE(a) . PE(b) (the position-position term; same for
 *                    every head)
 *   bias encodings   bias(h, a, b)
 *   none             0
 *
 * Used by the shift-invariance and 2D separability metrics. */
#ifndef PB_METRICS_SCORE_H
#define PB_METRICS_SCORE_H

#include <gsl/gsl_rng.h>

#include "../../encodings/encoding.h"

typedef struct pb_pos_score {
    pb_encoding *e;
    const float *params;
    int H, dh, d, pd;
    float *mem;          /* q, k, qa, kb, bias */
    float *q, *k, *qa, *kb, *bias;
    float *table;        /* 1D input encodings: PE(0..n_table-1), one sequence */
    int n_table;
} pb_pos_score;

/* Draws q and k from rng; prepares the encoding for coordinates < max_pos. */
int pb_pos_score_init(pb_pos_score *c, pb_encoding *e, const float *params, int max_pos,
                      gsl_rng *rng, pb_error *err);
/* s[H] for positions a, b (pos_dims ints each, < max_pos). */
int pb_pos_score_eval(pb_pos_score *c, const int *a, const int *b, double *s,
                      pb_error *err);
void pb_pos_score_free(pb_pos_score *c);

#endif
