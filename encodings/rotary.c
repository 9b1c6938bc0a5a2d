/* The parts of the rotary encodings (rope, rope2d_axial, xpos) that are not
 * small enough to inline: the d_head check and the cos/sin cache of
 * pos * theta_k. Conventions and precision sites: rotary.h. */
#include "rotary.h"

#include <stdlib.h>

int pb_rot_check_d_head(int d_head, const char *what, pb_error *err) {
    if (d_head <= 0 || d_head % 2)
        return pb_fail(err, "%s: d_head must be even for rotary pairs, got %d", what,
                       d_head);
    if (d_head / 2 > PB_ROT_MAX_PAIRS)
        return pb_fail(err, "%s: d_head %d exceeds the rotary maximum %d", what, d_head,
                       2 * PB_ROT_MAX_PAIRS);
    return 0;
}

void pb_rot_row(const pb_precision *prec, int pos, const double *theta, int n, float *c,
                float *sn) {
    double p = pb_rot_position(prec, pos);
    for (int k = 0; k < n; k++) pb_rot_cos_sin(prec, p * theta[k], c + k, sn + k);
}

int pb_rot_cache_build(pb_rot_cache *rc, const pb_precision *prec, const double *theta,
                       int n, int max_pos, const char *what, pb_error *err) {
    size_t cells = (size_t)max_pos * (size_t)n;
    float *c = malloc(sizeof(float) * (cells ? cells : 1));
    float *sn = malloc(sizeof(float) * (cells ? cells : 1));
    if (!c || !sn) {
        free(c);
        free(sn);
        return pb_fail(err, "%s: out of memory for a %d-position table", what, max_pos);
    }
    for (int p = 0; p < max_pos; p++)
        pb_rot_row(prec, p, theta, n, c + (size_t)p * n, sn + (size_t)p * n);
    pb_rot_cache_free(rc);
    rc->cos_tab = c;
    rc->sin_tab = sn;
    rc->len = max_pos;
    return 0;
}

void pb_rot_cache_row(const pb_rot_cache *rc, const pb_precision *prec,
                      const double *theta, int n, int pos, float *cbuf, float *sbuf,
                      const float **c, const float **sn) {
    if (pos >= 0 && pos < rc->len) {
        *c = rc->cos_tab + (size_t)pos * n;
        *sn = rc->sin_tab + (size_t)pos * n;
    } else {
        pb_rot_row(prec, pos, theta, n, cbuf, sbuf);
        *c = cbuf;
        *sn = sbuf;
    }
}

void pb_rot_cache_free(pb_rot_cache *rc) {
    free(rc->cos_tab);
    free(rc->sin_tab);
    rc->cos_tab = rc->sin_tab = NULL;
    rc->len = 0;
}
