/* Noise-injection linear probe: how well can a linear read-out recover the
 * position (and the token) from an input x = e_v + PE(p) + noise?
 *
 * Samples draw p uniformly from 0..n_pos-1 and v from 0..vocab-1; the noise
 * is Gaussian, i.i.d. per component, with variance sigma^2 set by the
 * signal-to-noise ratio of the whole clean input:
 *
 *   snr_db = 10 log10( E||e_v + PE(p)||^2 / (d sigma^2) )
 *
 * (noise proportional to the input's magnitude, as rounding noise is). Each
 * probe is ridge regression onto one-hot targets (one-vs-all) with features
 * [x, 1], lambda = ridge * trace(X^T X) / (d + 1), solved by Cholesky
 * (GSL); the prediction is the argmax. A third probe regresses the position
 * itself (least squares onto p, same ridge) and counts |p_hat - p| < 1/2:
 * a one-vs-all linear read-out cannot pick classes off a scalar ramp such
 * as the integer encoding, a regression can. Accuracy is on fresh test
 * samples. */
#ifndef PB_METRICS_PROBE_H
#define PB_METRICS_PROBE_H

#include <gsl/gsl_rng.h>

#include "../core/pb_error.h"

typedef struct pb_probe_opts {
    int n_train, n_test;
    double snr_db;
    double ridge;
} pb_probe_opts;

typedef struct pb_probe_result {
    double pos_acc, tok_acc;     /* test accuracy of the one-vs-all probes */
    double pos_reg_acc;          /* position regression: |p_hat - p| < 1/2 */
    double noise_sd;             /* sigma */
    double signal_power;         /* E||x_clean||^2 / d */
} pb_probe_result;

/* emb[n] ~ N(0, sd) from a generator seeded with seed ^ 0x9e3779b9: the
 * probe's default token embeddings. Box-Muller on gsl_rng_uniform_pos /
 * gsl_rng_uniform, which earlier results were drawn with (gsl_ran_gaussian
 * would give other bits). */
int pb_metric_probe_embeddings(float *emb, size_t n, double sd, unsigned long seed,
                               pb_error *err);

/* table[n_pos, d] (PE rows), emb[vocab, d] (token embeddings). */
int pb_metric_noise_probe(const float *table, int n_pos, const float *emb, int vocab,
                          int d, const pb_probe_opts *o, gsl_rng *rng,
                          pb_probe_result *r, pb_error *err);

#endif
