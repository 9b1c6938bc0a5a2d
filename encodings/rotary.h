/* Shared pieces of the rotary encodings (rope, xpos, rope2d_*): the pair
 * rotation kernels and the rounding of positions, angles and cos/sin values
 * at their precision sites.
 *
 * Rotation convention (every rotary encoding in posbench): a pair (a, b) of
 * a head vector is rotated counter-clockwise by phi = pos * theta_k,
 *
 *     a' = a cos(phi) - b sin(phi)
 *     b' = a sin(phi) + b cos(phi)
 *
 * i.e. (a + i b) * e^(i phi). q and k use the same rotation, so
 * q'.k' = sum_k Re[(q_a + i q_b) conj(k_a + i k_b) e^(i (pos_q - pos_k) theta_k)]
 * depends on positions only through pos_q - pos_k. The backward pass is the
 * transpose, a rotation by -phi, built from the same (rounded) table.
 *
 * Precision sites (harness/numerics/precision.h): the position is rounded at
 * `positions`, the angle pos * theta (computed in double) at `angles` before
 * cos/sin are taken, and cos/sin (or any table value) at `tables`. Rounding
 * the angle to bf16/fp16 reproduces the GPT-NeoX #1003 failure: distant
 * positions get the same angle. Rounding is straight-through in backward. */
#ifndef PB_ROTARY_H
#define PB_ROTARY_H

#include <math.h>

#include "../harness/core/pb_error.h"
#include "../harness/numerics/precision.h"

/* Largest number of rotated pairs per head: bounds the stack buffers used
 * for positions outside a prepared table (d_head <= 2 * this). */
#define PB_ROT_MAX_PAIRS 256

static inline int pb_rot_site_active(const pb_precision *prec, pb_site s) {
    return prec && prec->active[s];
}

/* A position as the encoding reads it. */
static inline double pb_rot_position(const pb_precision *prec, double pos) {
    if (!pb_rot_site_active(prec, PB_SITE_POSITIONS)) return pos;
    return (double)pb_round_site1(prec, PB_SITE_POSITIONS, (float)pos);
}

/* An angle pos * theta: kept in double unless the `angles` site is active,
 * then it becomes a float rounded to the site's format. */
static inline double pb_rot_angle(const pb_precision *prec, double angle) {
    if (!pb_rot_site_active(prec, PB_SITE_ANGLES)) return angle;
    return (double)pb_round_site1(prec, PB_SITE_ANGLES, (float)angle);
}

/* A table value (cos, sin, or an xPos-scaled cos/sin) as stored. */
static inline float pb_rot_table(const pb_precision *prec, double v) {
    return pb_round_site1(prec, PB_SITE_TABLES, (float)v);
}

/* cos and sin of an angle, rounded at the `angles` and `tables` sites. */
static inline void pb_rot_cos_sin(const pb_precision *prec, double angle, float *c,
                                  float *sn) {
    double a = pb_rot_angle(prec, angle);
    *c = pb_rot_table(prec, cos(a));
    *sn = pb_rot_table(prec, sin(a));
}

/* Rotate n interleaved pairs (x[2k], x[2k+1]) by (c[k], sgn * s[k]);
 * sgn = +1 is the forward rotation, -1 its transpose. */
static inline void pb_rot_interleaved(float *restrict x, const float *restrict c,
                                      const float *restrict s, int n, float sgn) {
    for (int k = 0; k < n; k++) {
        float a = x[2 * k], b = x[2 * k + 1], sk = sgn * s[k];
        x[2 * k] = a * c[k] - b * sk;
        x[2 * k + 1] = a * sk + b * c[k];
    }
}

/* Rotate n half-split pairs (x[k], x[k + half]) likewise (GPT-NeoX). */
static inline void pb_rot_half(float *restrict x, const float *restrict c,
                               const float *restrict s, int n, int half, float sgn) {
    float *restrict y = x + half;
    for (int k = 0; k < n; k++) {
        float a = x[k], b = y[k], sk = sgn * s[k];
        x[k] = a * c[k] - b * sk;
        y[k] = a * sk + b * c[k];
    }
}

/* d_head of a rotary encoding: even (whole pairs) and at most
 * 2 * PB_ROT_MAX_PAIRS. what names the encoding in the message. */
int pb_rot_check_d_head(int d_head, const char *what, pb_error *err);

/* c[k], sn[k] = cos, sin of pos * theta[k] for k < n, with the position,
 * the angle and the values rounded at their sites. */
void pb_rot_row(const pb_precision *prec, int pos, const double *theta, int n, float *c,
                float *sn);

/* Rows of pb_rot_row for positions 0..len-1, built by prepare(). */
typedef struct pb_rot_cache {
    float *cos_tab, *sin_tab; /* [len][n] */
    int len;
} pb_rot_cache;

/* Replaces the cache by rows 0..max_pos-1 of theta[0..n); on failure the old
 * cache stays and the message names the encoding (what). */
int pb_rot_cache_build(pb_rot_cache *rc, const pb_precision *prec, const double *theta,
                       int n, int max_pos, const char *what, pb_error *err);

/* The row of pos: from the cache, or computed into cbuf/sbuf (same bits)
 * when pos lies outside it. */
void pb_rot_cache_row(const pb_rot_cache *rc, const pb_precision *prec,
                      const double *theta, int n, int pos, float *cbuf, float *sbuf,
                      const float **c, const float **sn);

void pb_rot_cache_free(pb_rot_cache *rc);

#endif
