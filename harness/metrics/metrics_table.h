/* Per-position vectors of an encoding, the raw material of the static
 * metrics (uniqueness, linear relation, smoothness, SNR, probes).
 *
 * PE(p), a row of width d, is what the encoding does to position p:
 *   input encodings   the vector added to the residual stream;
 *   q/k encodings     T(p) u for the fixed unit-norm u = (1, ..., 1) /
 *                     sqrt(d_head) in every head (heads concatenated), so a
 *                     rotation's PE has norm sqrt(H) at every position;
 *   bias encodings    none: they act on pairs only (an error says so);
 *   none              the zero vector.
 *
 * The metrics take a plain (encoding, params) pair: a trained model's
 * (&m->enc, m->params.enc) or an encoding made outside any model
 * (encodings/standalone.h: &se->enc, se->params). */
#ifndef PB_METRICS_TABLE_H
#define PB_METRICS_TABLE_H

#include "../../encodings/encoding.h"

/* out[n, d] = PE(pos[t]) for n positions (pos_dims ints each), handed to the
 * encoding as one sequence of length n (integer_norm divides by it). */
int pb_metric_table(pb_encoding *e, const float *params, const int *pos, int n,
                    float *out, pb_error *err);

/* The same for positions 0..n-1 (1D) or the row-major grid of width w over
 * n cells (2D: x = t mod w, y = t div w). */
int pb_metric_table_linear(pb_encoding *e, const float *params, int n, int w,
                           float *out, pb_error *err);

/* Property 1 across lengths: max |PE_n1(p) - PE_n2(p)| over p < min(n1, n2),
 * where PE_n is computed inside a sequence of length n. 0 when the encoding
 * of a position does not depend on the sequence it sits in. 1D only. */
int pb_metric_length_consistency(pb_encoding *e, const float *params, int n1, int n2,
                                 double *max_diff, pb_error *err);

#endif
