/* xPos (Sun et al. 2022, "A Length-Extrapolatable Transformer"): RoPE
 * (interleaved pairs, base 10000) times a per-pair exponential scale,
 *
 *     q~(n) = zeta_k^( n/gamma) R(n theta_k) q     (pair k of query at n)
 *     k~(m) = zeta_k^(-m/gamma) R(m theta_k) k     (pair k of key at m)
 *     zeta_k = (2k/d_head + 0.4) / 1.4,  gamma = scale_base (512)
 *
 * so q~.k~ weights pair k by zeta_k^((n-m)/gamma) < 1: distant keys decay.
 * This matches torchscale's XPOS module (scale = (arange(0, d, 2) + 0.4 d) /
 * (1.4 d), q with downscale=False, k with downscale=True, the scale folded
 * into cos and sin), except one detail: torchscale centres the exponent,
 * using n - ceil(T/2) for a length-T sequence (its min_pos = -T // 2 in
 * Python, i.e. floor(-T/2) = -ceil(T/2)). The centre cancels in q~.k~;
 * here the exponent uses the absolute position, as in the paper, so
 * zeta^(-m/gamma) grows without bound with m and overflows low-precision
 * tables (fp16 max 65504 at m ~ 5650 for k = 0) — a behaviour worth
 * measuring.
 *
 * Tables (prepare): cos/sin already multiplied by the q-side and by the
 * k-side scale, [max_pos][d_head/2] each, rounded at the `tables` site. */
#include "encoding.h"
#include "rotary.h"

#include <math.h>
#include <stdlib.h>

typedef struct xpos_state {
    int n_pairs;
    double gamma;
    double *theta, *zeta;     /* [n_pairs] */
    float *tab;               /* [tab_len][4][n_pairs]: q cos, q sin, k cos, k sin */
    int tab_len;
} xpos_state;

static const char *const xpos_options[] = {"scale_base", NULL};

static void xpos_destroy(pb_encoding *e) {
    xpos_state *s = e->state;
    if (!s) return;
    free(s->theta);
    free(s->zeta);
    free(s->tab);
    free(s);
    e->state = NULL;
}

static int xpos_create(pb_encoding *e, const pb_opts *o, pb_error *err) {
    const char *what = "encoding 'xpos'";
    int dh = e->g.d_head;
    if (pb_rot_check_d_head(dh, what, err)) return -1;
    xpos_state *s = calloc(1, sizeof *s);
    if (!s) return pb_fail(err, "%s: out of memory", what);
    e->state = s;
    if (pb_opts_num_in(o, "scale_base", 512.0, 0.0, HUGE_VAL, 1, &s->gamma, what, err))
        return -1;
    s->n_pairs = dh / 2;
    s->theta = malloc(sizeof(double) * (size_t)s->n_pairs);
    s->zeta = malloc(sizeof(double) * (size_t)s->n_pairs);
    if (!s->theta || !s->zeta) return pb_fail(err, "%s: out of memory", what);
    for (int k = 0; k < s->n_pairs; k++) {
        s->theta[k] = pow(10000.0, -2.0 * k / dh);
        s->zeta[k] = (2.0 * k / dh + 0.4) / 1.4;
    }
    return 0;
}

/* row[0..n): q cos, [n..2n): q sin, [2n..3n): k cos, [3n..4n): k sin. */
static void xpos_row(const xpos_state *s, const pb_precision *prec, int pos, float *row) {
    int n = s->n_pairs;
    double p = pb_rot_position(prec, pos);
    for (int k = 0; k < n; k++) {
        double a = pb_rot_angle(prec, p * s->theta[k]);
        double c = cos(a), sn = sin(a);
        double up = pow(s->zeta[k], p / s->gamma), down = pow(s->zeta[k], -p / s->gamma);
        row[k] = pb_rot_table(prec, c * up);
        row[n + k] = pb_rot_table(prec, sn * up);
        row[2 * n + k] = pb_rot_table(prec, c * down);
        row[3 * n + k] = pb_rot_table(prec, sn * down);
    }
}

static int xpos_prepare(pb_encoding *e, int max_pos, pb_error *err) {
    xpos_state *s = e->state;
    size_t row = 4 * (size_t)s->n_pairs;
    float *tab = malloc(sizeof(float) * row * (size_t)max_pos);
    if (!tab)
        return pb_fail(err, "encoding 'xpos': out of memory for a %d-position table",
                       max_pos);
    for (int p = 0; p < max_pos; p++) xpos_row(s, e->prec, p, tab + (size_t)p * row);
    free(s->tab);
    s->tab = tab;
    s->tab_len = max_pos;
    return 0;
}

/* Forward (sgn = 1): x <- scale * R x. Backward (sgn = -1): dx <- scale * R^T dx,
 * the transpose of the same matrix. */
static void xpos_apply(const pb_encoding *e, const int *pos, int T, int is_key, float *x,
                       int stride, float sgn) {
    const xpos_state *s = e->state;
    int H = e->g.heads, dh = e->g.d_head, n = s->n_pairs;
    float buf[4 * PB_ROT_MAX_PAIRS];
    for (int t = 0; t < T; t++) {
        const float *row = buf;
        int p = pos[t];
        if (p >= 0 && p < s->tab_len) row = s->tab + (size_t)p * 4 * n;
        else xpos_row(s, e->prec, p, buf);
        const float *c = row + (is_key ? 2 * n : 0), *sn = c + n;
        float *xt = x + (size_t)t * stride;
        for (int h = 0; h < H; h++) pb_rot_interleaved(xt + h * dh, c, sn, n, sgn);
    }
}

static void xpos_qk_forward(const pb_encoding *e, const float *params, const int *pos,
                            int T, int is_key, float *x, int stride) {
    (void)params;
    xpos_apply(e, pos, T, is_key, x, stride, 1.0f);
}

static void xpos_qk_backward(const pb_encoding *e, const float *params, const int *pos,
                             int T, int is_key, const float *x_in, int in_stride,
                             float *dx, int dstride, float *dparams) {
    (void)params;
    (void)x_in;
    (void)in_stride;
    (void)dparams;
    xpos_apply(e, pos, T, is_key, dx, dstride, -1.0f);
}

const pb_encoding_type pb_enc_xpos = {
    .name = "xpos",
    .summary = "RoPE with a per-pair exponential decay zeta_k^((i-j)/gamma) split "
               "between q (zeta^(i/gamma)) and k (zeta^(-j/gamma))",
    .reference = "Sun et al. 2022 (xPos, torchscale)",
    .options_doc = "scale_base=512",
    .options = xpos_options,
    .sites = PB_ENC_QK,
    .pos_dims = 1,
    .create = xpos_create,
    .destroy = xpos_destroy,
    .prepare = xpos_prepare,
    .qk_forward = xpos_qk_forward,
    .qk_backward = xpos_qk_backward,
};
