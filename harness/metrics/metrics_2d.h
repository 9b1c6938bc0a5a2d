/* Property 5 for 2D encodings: is the position score (metrics_score.h) of
 * query a = (x1, y1) and key b = (x2, y2) a function of (dx, dy) only, and
 * does it split into an x part plus a y part?
 *
 * For every offset (dx, dy) in [-D, D]^2 the score is taken at `bases`
 * random key positions b (with a = b + (dx, dy), both on a G x G grid):
 *
 *   rel_var    mean over offsets of the variance of the score at fixed
 *              (dx, dy), divided by the variance of all scores: 0 when the
 *              score is relative
 *   split_err  f(dx, dy) = mean score; the best additive fit
 *              g(dx) + h(dy) (row mean + column mean - grand mean, exact
 *              least squares on a full grid); ||f - fit|| / ||f - mean||.
 *              0 for axial RoPE (x and y pairs rotate separately), > 0 when
 *              a pair mixes x and y (RoPE-Mixed). Averaged over heads. */
#ifndef PB_METRICS_2D_H
#define PB_METRICS_2D_H

#include <gsl/gsl_rng.h>

#include "../../encodings/encoding.h"

typedef struct pb_sep_result {
    double var_fixed;   /* mean within-offset variance */
    double var_total;   /* variance of every score */
    double rel_var;     /* var_fixed / var_total */
    double split_err;
} pb_sep_result;

int pb_metric_separability(pb_encoding *e, const float *params, int grid, int max_d,
                           int bases, gsl_rng *rng, pb_sep_result *r, pb_error *err);

#endif
