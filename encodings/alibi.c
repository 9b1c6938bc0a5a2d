/* ALiBi (Press et al. 2022): a fixed linear penalty on distance per head.
 *
 *   causal:         bias[h, i, j] = -m_h (p_i - p_j)
 *   bidirectional:  bias[h, i, j] = -m_h |p_i - p_j|
 *
 * Slopes (0-based head h; the paper's 1-based h' = h + 1): for H a power of
 * two, m_h = 2^(-8 (h+1) / H). Otherwise, with n the largest power of two
 * below H: the n slopes of n, then the slopes of 2n at indices 0, 2, 4, ...
 * (2^(-8 (2i+1) / 2n)) until there are H -- as the reference
 * implementation's get_slopes() does.
 *
 * Option learn=1 makes the slopes parameters (params m[H], initialised to
 * the slopes above; the bias stays linear in them), as in the learned-slope
 * variants of the ALiBi paper's discussion.
 *
 * Precision: positions are rounded at PB_SITE_POSITIONS, the finished bias
 * at PB_SITE_TABLES (a bias tensor kept in low precision; straight-through
 * in backward). No parameters unless learn=1. */
#include "encoding.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    float *slopes; /* [H] */
    int learn;     /* slopes are the parameters */
} alibi_state;

static const char *const alibi_options[] = {"learn", NULL};

/* The n slopes of a power of two n: 2^(-8 (i+1) / n), i = 0..n-1. */
static double power_of_two_slope(int n, int i) {
    return pow(2.0, -8.0 * (i + 1) / n);
}

static void alibi_slopes(int H, float *m) {
    int n = 1;
    while (n * 2 <= H) n *= 2;
    for (int h = 0; h < n; h++) m[h] = (float)power_of_two_slope(n, h);
    for (int h = n; h < H; h++) m[h] = (float)power_of_two_slope(2 * n, 2 * (h - n));
}

static int alibi_create(pb_encoding *e, const pb_opts *o, pb_error *err) {
    if (e->g.heads < 1)
        return pb_fail(err, "alibi: needs at least one head (heads=%d)", e->g.heads);
    alibi_state *s = calloc(1, sizeof *s);
    if (!s) return pb_fail(err, "alibi: out of memory");
    e->state = s;
    s->slopes = malloc((size_t)e->g.heads * sizeof *s->slopes);
    if (!s->slopes) return pb_fail(err, "alibi: out of memory");
    alibi_slopes(e->g.heads, s->slopes);
    if (pb_opts_int(o, "learn", 0, &s->learn, "encoding 'alibi'", err)) return -1;
    if (s->learn != 0 && s->learn != 1)
        return pb_fail(err, "alibi: option learn=%d must be 0 (fixed slopes) or 1 (learned)",
                       s->learn);
    if (s->learn) e->n_params = e->g.heads;
    return 0;
}

static void alibi_init_params(const pb_encoding *e, float *params, gsl_rng *rng) {
    (void)rng;
    const alibi_state *s = e->state;
    if (!s->learn) return; /* no parameters */
    for (int h = 0; h < e->g.heads; h++) params[h] = s->slopes[h];
}

/* The query-key distance the bias is linear in. */
static float alibi_distance(const pb_encoding *e, int qp, int kp) {
    float dist = pb_round_site1(e->prec, PB_SITE_POSITIONS, (float)qp) -
                 pb_round_site1(e->prec, PB_SITE_POSITIONS, (float)kp);
    return e->g.causal ? dist : fabsf(dist);
}

static void alibi_destroy(pb_encoding *e) {
    alibi_state *s = e->state;
    if (s) free(s->slopes);
    free(s);
    e->state = NULL;
}

/* bias[H][nq][nk] */
static void alibi_bias_forward(const pb_encoding *e, const float *params,
                               const int *qpos, int nq, const int *kpos, int nk,
                               float *bias) {
    const alibi_state *s = e->state;
    const float *m = s->learn ? params : s->slopes;
    int H = e->g.heads;
    size_t plane = (size_t)nq * nk;
    for (int a = 0; a < nq; a++)
        for (int b = 0; b < nk; b++) {
            float dist = alibi_distance(e, qpos[a], kpos[b]);
            for (int h = 0; h < H; h++) bias[h * plane + (size_t)a * nk + b] = -m[h] * dist;
        }
    pb_round_site(e->prec, PB_SITE_TABLES, bias, (size_t)H * plane);
}

/* learn=1: dm[h] += sum -dist dbias (computed in double). */
static void alibi_bias_backward(const pb_encoding *e, const float *params,
                                const int *qpos, int nq, const int *kpos, int nk,
                                const float *dbias, float *dparams) {
    (void)params;
    const alibi_state *s = e->state;
    if (!s->learn || !dparams) return;
    size_t plane = (size_t)nq * nk;
    for (int h = 0; h < e->g.heads; h++) {
        double g = 0;
        for (int a = 0; a < nq; a++)
            for (int b = 0; b < nk; b++) {
                double db = dbias[h * plane + (size_t)a * nk + b];
                if (db != 0) g -= db * alibi_distance(e, qpos[a], kpos[b]);
            }
        dparams[h] += (float)g;
    }
}

const pb_encoding_type pb_enc_alibi = {
    .name = "alibi",
    .summary = "logit += -m_h (i - j) (causal) or -m_h |i - j|; fixed geometric slopes",
    .reference = "Press et al. 2022, Train Short, Test Long (ALiBi)",
    .options_doc = "learn=0  (1: the slopes are learned, params m[H] initialised to them)",
    .options = alibi_options,
    .sites = PB_ENC_BIAS,
    .pos_dims = 1,
    .create = alibi_create,
    .destroy = alibi_destroy,
    .init_params = alibi_init_params,
    .bias_forward = alibi_bias_forward,
    .bias_backward = alibi_bias_backward,
};
