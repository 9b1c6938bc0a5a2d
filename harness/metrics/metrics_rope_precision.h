/* Static low-precision metrics of rotary angles: what casting the position,
 * the angle or the cos/sin table to a number format does to RoPE, with no
 * model involved (the GPT-NeoX #1003 failure class).
 *
 * Frequencies theta_k, k = 0..n-1 (RoPE: theta_k = base^(-2k/d_head), k = 0
 * the highest). For position p the exact angle is p * theta_k (double). A
 * format f acts at one site:
 *
 *   positions  p' = f(p);                 angle = p' theta_k, cos/sin exact
 *   angles     angle = f(p theta_k);      cos/sin exact
 *   tables     angle exact;               c = f(cos), s = f(sin)
 *   qk_post    angle, cos, sin exact;     the rotated q and k rounded to f
 *              (drift only)
 *
 * f(x) rounds the fp32 value of x (x is first rounded to fp32, as the
 * tensor would be stored), so "fp32" means fp32 storage, not exactness.
 *
 *   distinct positions  how many of 0..L-1 keep a distinct site value
 *                       (positions: f(p); angles: the vector of f(p theta_k)
 *                       over k; tables: the vector of (c, s)); per frequency
 *                       as well
 *   phase error         max over p < L of |wrap(angle_used - p theta_k)|,
 *                       angle_used = atan2(s, c) for tables; per frequency
 *                       and per position (max over k)
 *   drift               for random unit q, k (seeded) and offset m:
 *                       dev(p) = |<R(p+m) q, R(p) k> - s_exact(m)| with the
 *                       format at the site, averaged over `samples` (q, k)
 *                       pairs; exact RoPE gives 0 for every p (the relative
 *                       property), so dev(p) shows how the format breaks it
 *                       as the absolute position grows. */
#ifndef PB_METRICS_ROPE_PRECISION_H
#define PB_METRICS_ROPE_PRECISION_H

#include <gsl/gsl_rng.h>

#include "../numerics/format.h"
#include "../numerics/precision.h"

/* theta[n] = base^(-2k/d_head), n = d_head / 2. */
int pb_rope_thetas(int d_head, double base, double *theta, pb_error *err);

/* count = distinct among 0..L-1; per_freq[n] (may be NULL; positions site:
 * every entry equals count). Sites: positions, angles, tables. */
int pb_metric_rope_distinct(const pb_format *f, pb_site site, const double *theta,
                            int n, int L, long *count, long *per_freq, pb_error *err);

/* max phase error; per_freq[n] and per_pos[L] may be NULL. */
int pb_metric_rope_phase_error(const pb_format *f, pb_site site, const double *theta,
                               int n, int L, double *max_err, double *per_freq,
                               double *per_pos, pb_error *err);

/* dev[i] for positions pos[i], i < np; the samples pairs q, k are drawn
 * from rng (unit norm over the 2n components). */
int pb_metric_rope_drift(const pb_format *f, pb_site site, const double *theta, int n,
                         int offset, const int *pos, int np, int samples, gsl_rng *rng,
                         double *dev, pb_error *err);

#endif
