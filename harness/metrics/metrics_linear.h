/* Property 2 of the seed article: a simple (linear) relation between the
 * encodings of p and p + k.
 *
 *   linear residual   fit one matrix M_k with PE(p+k) ~= M_k PE(p) over all p
 *                     by least squares (gsl_multifit_linear, one output
 *                     component at a time); relative residual
 *                     ||PE(p+k) - M_k PE(p)||_F / ||PE(p+k)||_F. Sinusoids
 *                     give ~0 (M_k is a block rotation), bits do not.
 *   dot variance      mean and variance over p of PE(p) . PE(p+k): constant
 *                     (variance 0) when the product depends on k only.
 *   shift invariance  max |score(m+s, n+s) - score(m, n)| over random m, n
 *                     in [0, L) and shifts s in [1, S], where the position
 *                     score is <T(m) q, T(n) k> per head for q/k encodings
 *                     (random unit q, k per head), PE(m) . PE(n) for input
 *                     encodings and bias(h, m, n) for bias encodings. */
#ifndef PB_METRICS_LINEAR_H
#define PB_METRICS_LINEAR_H

#include <gsl/gsl_rng.h>

#include "../../encodings/encoding.h"

/* x[n, w]; needs n - k > w rows in the fit. */
int pb_metric_linear_residual(const float *x, int n, int w, int k, double *rel_residual,
                              pb_error *err);

/* mean and variance (population) of x_p . x_{p+k}, p = 0..n-k-1. */
int pb_metric_dot_variance(const float *x, int n, int w, int k, double *mean,
                           double *var, pb_error *err);

typedef struct pb_shift_result {
    double max_abs;    /* max |score change| */
    double max_score;  /* max |score| seen, for scale */
    double rel;        /* max_abs / max_score (0 when every score is 0) */
} pb_shift_result;

/* 2D encodings shift both coordinates by independent s. */
int pb_metric_shift_invariance(pb_encoding *e, const float *params, int L, int S,
                               int samples, gsl_rng *rng, pb_shift_result *r,
                               pb_error *err);

#endif
