/* Four-term logit decomposition for additive encodings (Ke et al. 2021,
 * TUPE), on a model's first layer.
 *
 * With x = e + p (token embedding + PE), the first norm is linear once its
 * statistics (mean, rstd of the actual x) are fixed, so
 *   h = (e - mean(e)) rstd g + (p - mean(p)) rstd g + beta     (layernorm)
 *   h = e rstd g + p rstd g                                   (rmsnorm)
 * and q = q_w + q_p, k = k_w + k_p with q_w = h_w W_q^T + (beta W_q^T + b_q)
 * (constant terms go with the word part) and q_p = h_p W_q^T. The logit
 * (scaled as attention scales it) splits into
 *   word-word q_w.k_w, word-position q_w.k_p, position-word q_p.k_w,
 *   position-position q_p.k_p.
 * Each term's variance over every unmasked (i, j) pair of the batch, and
 * its share of the sum of the four variances, per head and pooled over
 * heads. Computed in fp32 from the parameters (precision sites ignored). */
#ifndef PB_METRICS_DECOMPOSE_H
#define PB_METRICS_DECOMPOSE_H

#include "../model/model.h"

enum { PB_TERM_WW, PB_TERM_WP, PB_TERM_PW, PB_TERM_PP, PB_N_TERMS };
extern const char *const pb_term_names[PB_N_TERMS]; /* "word_word", ... */

typedef struct pb_logit_terms {
    double var[PB_N_TERMS];
    double share[PB_N_TERMS];
    double var_logit;   /* variance of the whole logit (sum of the terms) */
} pb_logit_terms;

/* out[H + 1]: heads 0..H-1, then every head pooled. Input encodings (and
 * none) only; b's tokens and positions are used as they are. */
int pb_metric_logit_terms(pb_model *m, const pb_batch *b, pb_logit_terms *out,
                          pb_error *err);

#endif
