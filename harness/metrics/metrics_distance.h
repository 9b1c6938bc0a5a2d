/* Distances between the rows of a per-position table x[n, w] (row p =
 * PE(p)): uniqueness (Property 1), exact collisions after casting to a
 * format, and step smoothness. Sums are in double. */
#ifndef PB_METRICS_DISTANCE_H
#define PB_METRICS_DISTANCE_H

#include "../core/pb_error.h"

/* min over p < q of ||x_p - x_q|| (Euclidean); the pair in *ip, *iq (either
 * may be NULL). O(n^2 w); n >= 2. */
double pb_metric_min_distance(const float *x, int n, int w, int *ip, int *iq);

/* min over p with |p - r| >= gap (gap >= 1) of ||x_p - x_r||: how close the
 * encoding comes back to position r once it has moved away (O(n w)); the
 * minimiser in *ip (may be NULL; -1 and +inf when no p qualifies). */
double pb_metric_nearest_to(const float *x, int n, int w, int r, int gap, int *ip);

/* Number of distinct rows, compared bit for bit (with -0 equal to +0): how
 * many positions keep an encoding of their own. Returns -1 with err when
 * out of memory. */
long pb_metric_distinct_rows(const float *x, int n, int w, pb_error *err);

/* step[p] = ||x_{p+1} - x_p|| for p = 0..n-2: the jump the input makes from
 * one position to the next (binary codes jump, sinusoids move evenly). */
void pb_metric_steps(const float *x, int n, int w, double *step);

#endif
