/* 2D rotary embeddings for grids (Heo et al. 2024, "Rotary Position
 * Embedding for Vision Transformer"; layout as in their rope-vit code).
 * Positions come in pairs pos[2t] = x, pos[2t+1] = y. Pairs are interleaved
 * (2j, 2j+1) and rotate as in rotary.h (a' = a cos - b sin).
 *
 * rope2d_axial: with n = d_head/4 and theta_k = base^(-4k/d_head)
 * (base = 100):
 *
 *   dim:  0 1 | 2 3 | ... | 2n-2 2n-1 | 2n 2n+1 | ... | 4n-2 4n-1
 *         pair k < n: angle x*theta_k  | pair n+k: angle y*theta_k
 *
 * rope2d_mixed: pair j of head h rotates by x*fx[h][j] + y*fy[h][j] with
 * learnable frequencies in the model's parameter buffer, layout
 * [2][H][d_head/2] (c = 0: fx, c = 1: fy), as rope-vit's `freqs`. Init as
 * rope-vit's init_random_2d_freqs: per head a direction a ~ U[0, 2 pi);
 * pairs j < n get magnitude m_j = base^(-4j/d_head) along a, pairs n + j
 * the same magnitudes along a + pi/2; base = 10 (rope-vit's RoPE-Mixed
 * setting). Its cos/sin depend on the parameters: refresh() tabulates them
 * once per forward for every grid cell below prepared_len, keyed by a copy
 * of the parameters, and the hooks fall back to computing them when the
 * copy differs (probes) or a position lies outside the table. */
#include "encoding.h"
#include "rotary.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rope2d_state {
    double base;
    int n4;                    /* d_head / 4 */
    double *theta;             /* axial: [n4] */
    pb_rot_cache cache;        /* axial: [len][n4], by coordinate value */
    /* mixed: cos/sin for cells x, y < mix_len: [y][x][H][d_head/2] */
    float *mix_cos, *mix_sin, *mix_params;
    int mix_len;
} rope2d_state;

/* Cells beyond this many table entries are computed on the fly. */
#define MIX_TABLE_MAX (1L << 24)

static const char *const rope2d_options[] = {"base", NULL};

static void rope2d_destroy(pb_encoding *e) {
    rope2d_state *s = e->state;
    if (!s) return;
    free(s->theta);
    pb_rot_cache_free(&s->cache);
    free(s->mix_cos);
    free(s->mix_sin);
    free(s->mix_params);
    free(s);
    e->state = NULL;
}

static int rope2d_create_common(pb_encoding *e, const pb_opts *o, double base_default,
                                pb_error *err) {
    char what[64];
    snprintf(what, sizeof what, "encoding '%s'", e->type->name);
    int dh = e->g.d_head;
    if (dh <= 0 || dh % 4)
        return pb_fail(err, "%s: d_head must be divisible by 4 (x and y halves of "
                       "rotary pairs), got %d", what, dh);
    if (pb_rot_check_d_head(dh, what, err)) return -1;
    rope2d_state *s = calloc(1, sizeof *s);
    if (!s) return pb_fail(err, "%s: out of memory", what);
    e->state = s;
    if (pb_opts_num_in(o, "base", base_default, 0.0, HUGE_VAL, 1, &s->base, what, err))
        return -1;
    s->n4 = dh / 4;
    s->theta = malloc(sizeof(double) * (size_t)s->n4);
    if (!s->theta) return pb_fail(err, "%s: out of memory", what);
    for (int k = 0; k < s->n4; k++) s->theta[k] = pow(s->base, -4.0 * k / dh);
    return 0;
}

/* ---- rope2d_axial ---- */

static int axial_create(pb_encoding *e, const pb_opts *o, pb_error *err) {
    return rope2d_create_common(e, o, 100.0, err);
}

static int axial_prepare(pb_encoding *e, int max_pos, pb_error *err) {
    rope2d_state *s = e->state;
    return pb_rot_cache_build(&s->cache, e->prec, s->theta, s->n4, max_pos,
                              "encoding 'rope2d_axial'", err);
}

static void axial_apply(const pb_encoding *e, const int *pos, int T, float *x, int stride,
                        float sgn) {
    const rope2d_state *s = e->state;
    int H = e->g.heads, dh = e->g.d_head, n = s->n4;
    float buf[4][PB_ROT_MAX_PAIRS / 2];
    for (int t = 0; t < T; t++) {
        const float *cx, *sx, *cy, *sy;
        pb_rot_cache_row(&s->cache, e->prec, s->theta, n, pos[2 * t], buf[0], buf[1], &cx,
                         &sx);
        pb_rot_cache_row(&s->cache, e->prec, s->theta, n, pos[2 * t + 1], buf[2], buf[3],
                         &cy, &sy);
        float *xt = x + (size_t)t * stride;
        for (int h = 0; h < H; h++) {
            pb_rot_interleaved(xt + h * dh, cx, sx, n, sgn);
            pb_rot_interleaved(xt + h * dh + 2 * n, cy, sy, n, sgn);
        }
    }
}

static void axial_qk_forward(const pb_encoding *e, const float *params, const int *pos,
                             int T, int is_key, float *x, int stride) {
    (void)params;
    (void)is_key;
    axial_apply(e, pos, T, x, stride, 1.0f);
}

static void axial_qk_backward(const pb_encoding *e, const float *params, const int *pos,
                              int T, int is_key, const float *x_in, int in_stride,
                              float *dx, int dstride, float *dparams) {
    (void)params;
    (void)is_key;
    (void)x_in;
    (void)in_stride;
    (void)dparams;
    axial_apply(e, pos, T, dx, dstride, -1.0f);
}

const pb_encoding_type pb_enc_rope2d_axial = {
    .name = "rope2d_axial",
    .summary = "2D RoPE, axial: half of each head's pairs rotate by x*theta_k, half "
               "by y*theta_k",
    .reference = "Heo et al. 2024 (RoPE for ViT)",
    .options_doc = "base=100",
    .options = rope2d_options,
    .sites = PB_ENC_QK,
    .pos_dims = 2,
    .create = axial_create,
    .destroy = rope2d_destroy,
    .prepare = axial_prepare,
    .qk_forward = axial_qk_forward,
    .qk_backward = axial_qk_backward,
};

/* ---- rope2d_mixed ---- */

static int mixed_create(pb_encoding *e, const pb_opts *o, pb_error *err) {
    if (rope2d_create_common(e, o, 10.0, err)) return -1;
    if (e->g.heads * (e->g.d_head / 2) > PB_ROT_MAX_PAIRS * 16)
        return pb_fail(err, "encoding 'rope2d_mixed': width d=%d exceeds the maximum %d",
                       e->g.d, 2 * PB_ROT_MAX_PAIRS * 16);
    e->n_params = 2 * e->g.heads * (e->g.d_head / 2);
    return 0;
}

static void mixed_init_params(const pb_encoding *e, float *params, gsl_rng *rng) {
    const rope2d_state *s = e->state;
    int H = e->g.heads, n2 = e->g.d_head / 2, n = s->n4;
    float *fx = params, *fy = params + (size_t)H * n2;
    for (int h = 0; h < H; h++) {
        double a = 2.0 * M_PI * gsl_rng_uniform(rng);
        for (int k = 0; k < n; k++) {
            double m = s->theta[k];
            fx[h * n2 + k] = (float)(m * cos(a));
            fy[h * n2 + k] = (float)(m * sin(a));
            fx[h * n2 + n + k] = (float)(m * cos(a + M_PI / 2));
            fy[h * n2 + n + k] = (float)(m * sin(a + M_PI / 2));
        }
    }
}

/* cos/sin of x*fx[j] + y*fy[j] for the n2 pairs of one head. */
static void mixed_row(const pb_precision *prec, double px, double py, const float *fx,
                      const float *fy, int n2, float *c, float *sn) {
    for (int j = 0; j < n2; j++)
        pb_rot_cos_sin(prec, px * fx[j] + py * fy[j], c + j, sn + j);
}

static int mixed_refresh(pb_encoding *e, const float *params, pb_error *err) {
    (void)err;
    rope2d_state *s = e->state;
    int H = e->g.heads, n2 = e->g.d_head / 2, len = e->prepared_len;
    long per_cell = (long)H * n2, cells = (long)len * len;
    if (len <= 0 || cells * per_cell > MIX_TABLE_MAX) {
        s->mix_len = 0;
        return 0;
    }
    if (len != s->mix_len || !s->mix_cos) {
        free(s->mix_cos);
        free(s->mix_sin);
        s->mix_cos = malloc(sizeof(float) * (size_t)(cells * per_cell));
        s->mix_sin = malloc(sizeof(float) * (size_t)(cells * per_cell));
        if (!s->mix_params) s->mix_params = malloc(sizeof(float) * (size_t)(2 * per_cell));
        s->mix_len = 0;
        if (!s->mix_cos || !s->mix_sin || !s->mix_params) return 0; /* compute on the fly */
    }
    const float *fx = params, *fy = params + per_cell;
    for (int y = 0; y < len; y++)
        for (int x = 0; x < len; x++) {
            long cell = ((long)y * len + x) * per_cell;
            double px = pb_rot_position(e->prec, x), py = pb_rot_position(e->prec, y);
            for (int h = 0; h < H; h++)
                mixed_row(e->prec, px, py, fx + h * n2, fy + h * n2, n2,
                          s->mix_cos + cell + h * n2, s->mix_sin + cell + h * n2);
        }
    memcpy(s->mix_params, params, sizeof(float) * (size_t)(2 * per_cell));
    s->mix_len = len;
    return 0;
}

/* cos/sin of every pair of every head for token t: from the table when it
 * was built for these parameters and covers the cell, else computed. */
static void mixed_token(const pb_encoding *e, const float *params, int table_ok,
                        const int *pos, float *c, float *sn, const float **cp,
                        const float **sp) {
    const rope2d_state *s = e->state;
    int H = e->g.heads, n2 = e->g.d_head / 2;
    int x = pos[0], y = pos[1];
    if (table_ok && x >= 0 && y >= 0 && x < s->mix_len && y < s->mix_len) {
        long cell = ((long)y * s->mix_len + x) * H * n2;
        *cp = s->mix_cos + cell;
        *sp = s->mix_sin + cell;
        return;
    }
    const float *fx = params, *fy = params + (size_t)H * n2;
    double px = pb_rot_position(e->prec, x), py = pb_rot_position(e->prec, y);
    for (int h = 0; h < H; h++)
        mixed_row(e->prec, px, py, fx + h * n2, fy + h * n2, n2, c + h * n2, sn + h * n2);
    *cp = c;
    *sp = sn;
}

static int mixed_table_ok(const pb_encoding *e, const float *params) {
    const rope2d_state *s = e->state;
    return s->mix_len > 0 &&
           memcmp(s->mix_params, params, sizeof(float) * (size_t)e->n_params) == 0;
}

static void mixed_qk_forward(const pb_encoding *e, const float *params, const int *pos,
                             int T, int is_key, float *x, int stride) {
    (void)is_key;
    int H = e->g.heads, dh = e->g.d_head, n2 = dh / 2;
    float c[PB_ROT_MAX_PAIRS * 16], sn[PB_ROT_MAX_PAIRS * 16];
    const float *cp, *sp;
    int table_ok = mixed_table_ok(e, params);
    for (int t = 0; t < T; t++) {
        mixed_token(e, params, table_ok, pos + 2 * t, c, sn, &cp, &sp);
        for (int h = 0; h < H; h++)
            pb_rot_interleaved(x + (size_t)t * stride + h * dh, cp + h * n2, sp + h * n2,
                               n2, 1.0f);
    }
}

/* y = R(phi) x with phi_j = x fx_j + y fy_j. Per pair (a, b) -> (ya, yb):
 *   d(input)  = R^T dy
 *   dphi      = dya * d(ya)/dphi + dyb * d(yb)/dphi = -dya * yb + dyb * ya
 *   dfx_j    += dphi * x,  dfy_j += dphi * y       (angle rounding: identity) */
static void mixed_qk_backward(const pb_encoding *e, const float *params, const int *pos,
                              int T, int is_key, const float *x_in, int in_stride,
                              float *dx, int dstride, float *dparams) {
    (void)is_key;
    int H = e->g.heads, dh = e->g.d_head, n2 = dh / 2;
    const float *fx = params, *fy = params + (size_t)H * n2;
    float *dfx = dparams, *dfy = dparams + (size_t)H * n2;
    float cbuf[PB_ROT_MAX_PAIRS * 16], sbuf[PB_ROT_MAX_PAIRS * 16];
    const float *ct, *st;
    int table_ok = mixed_table_ok(e, params);
    (void)fx;
    (void)fy;
    for (int t = 0; t < T; t++) {
        double px = pb_rot_position(e->prec, pos[2 * t]);
        double py = pb_rot_position(e->prec, pos[2 * t + 1]);
        mixed_token(e, params, table_ok, pos + 2 * t, cbuf, sbuf, &ct, &st);
        for (int h = 0; h < H; h++) {
            const float *c = ct + h * n2, *sn = st + h * n2;
            const float *xi = x_in + (size_t)t * in_stride + h * dh;
            float *g = dx + (size_t)t * dstride + h * dh;
            for (int j = 0; j < n2; j++) {
                float a = xi[2 * j], b = xi[2 * j + 1];
                float ga = g[2 * j], gb = g[2 * j + 1];
                float ya = a * c[j] - b * sn[j], yb = a * sn[j] + b * c[j];
                double dphi = (double)gb * ya - (double)ga * yb;
                dfx[h * n2 + j] += (float)(dphi * px);
                dfy[h * n2 + j] += (float)(dphi * py);
                g[2 * j] = ga * c[j] + gb * sn[j];
                g[2 * j + 1] = gb * c[j] - ga * sn[j];
            }
        }
    }
}

const pb_encoding_type pb_enc_rope2d_mixed = {
    .name = "rope2d_mixed",
    .summary = "2D RoPE, mixed: pair j of head h rotates by x*fx[h][j] + y*fy[h][j], "
               "learnable frequencies",
    .reference = "Heo et al. 2024 (RoPE for ViT, RoPE-Mixed)",
    .options_doc = "base=10 (initial frequency magnitudes base^(-4k/d_head))",
    .options = rope2d_options,
    .sites = PB_ENC_QK,
    .pos_dims = 2,
    .create = mixed_create,
    .destroy = rope2d_destroy,
    .init_params = mixed_init_params,
    .refresh = mixed_refresh,
    .qk_forward = mixed_qk_forward,
    .qk_backward = mixed_qk_backward,
};
