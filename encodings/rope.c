/* RoPE (Su et al., RoFormer) with pairing choice, partial rotation
 * (GPT-NeoX), p-RoPE (Barbero et al. 2024) and context-extension scalings
 * (rope_scaling.c: PI, NTK, dynamic NTK, YaRN).
 *
 * Each head vector's first d_rot = floor(fraction * d_head / 2) * 2 dims
 * form n = d_rot/2 pairs; pair k rotates by pos * theta_k,
 * theta_k = base^(-2k/d_rot) (then scaled). The other d_head - d_rot dims
 * pass through. Rotation direction: see rotary.h (a' = a cos - b sin,
 * b' = a sin + b cos, same for q and k).
 *
 *   pairing = interleaved (RoFormer, llama)     pairing = half (GPT-NeoX, HF)
 *
 *   dim:  0  1  2  3  4  5 | tail               dim:  0  1  2  3  4  5 | tail
 *         a0 b0 a1 b1 a2 b2 | ....                    a0 a1 a2 b0 b1 b2 | ....
 *         \__/  \__/  \__/                            |  |  |  |  |  |
 *         k=0   k=1   k=2                             |  |  +--|--|--+ k=2
 *                                                     |  +-----|--+    k=1
 *                                                     +--------+       k=0
 *
 * The two pairings are the same encoding up to a permutation of the head
 * dims; they differ only in which learned q/k dims get which frequency.
 *
 * p-RoPE: with the n frequencies ordered high to low (k = 0 highest), pairs
 * k >= round(p * n) get theta = 0 and are left untouched.
 *
 * Caches: prepare(max_pos) builds cos/sin tables [max_pos][n_keep] in double,
 * rounded at the positions/angles/tables sites (rotary.h). A position outside
 * the table is computed on the fly with the same code (same bits). */
#include "encoding.h"
#include "rope_scaling.h"
#include "rotary.h"

#include "../harness/core/kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rope_state {
    double base;
    int half;              /* 1: pairing = half */
    int d_rot, n_pairs;    /* rotated dims, d_rot / 2 */
    int n_keep;            /* pairs with theta != 0 (p-RoPE) */
    pb_rope_scaling scaling;
    double *theta;         /* [n_pairs] effective frequencies */
    pb_rot_cache cache;    /* [len][n_keep] */
    /* The cache laid out per element of a whole token row (every head):
     * row_c[pos][h*d_head + 2k + j] = cos, row_s = (-sin, +sin) for j = 0, 1,
     * for the kernel sets' pair rotation (core/kernels.h). Built by prepare
     * for interleaved pairs rotating every dim (the default); row_len 0
     * otherwise or when memory is short (the per-pair loop then runs). */
    float *row_c, *row_s;
    int row_len;
} rope_state;

static const char *const rope_options[] = {
    "base", "pairing", "fraction", "p", PB_ROPE_SCALING_OPTION_KEYS, NULL};

static void rope_destroy(pb_encoding *e) {
    rope_state *s = e->state;
    if (!s) return;
    free(s->theta);
    pb_rot_cache_free(&s->cache);
    free(s->row_c);
    free(s->row_s);
    free(s);
    e->state = NULL;
}

static int rope_create(pb_encoding *e, const pb_opts *o, pb_error *err) {
    const char *what = "encoding 'rope'";
    int dh = e->g.d_head;
    if (pb_rot_check_d_head(dh, what, err)) return -1;
    rope_state *s = calloc(1, sizeof *s);
    if (!s) return pb_fail(err, "%s: out of memory", what);
    e->state = s;

    double fraction, p;
    const char *pairing;
    if (pb_opts_num_in(o, "base", 10000.0, 0.0, HUGE_VAL, 1, &s->base, what, err) ||
        pb_opts_str(o, "pairing", "interleaved", &pairing, what, err) ||
        pb_opts_num_in(o, "fraction", 1.0, 0.0, 1.0, 1, &fraction, what, err) ||
        pb_opts_num_in(o, "p", 1.0, 0.0, 1.0, 1, &p, what, err))
        return -1;
    if (strcmp(pairing, "interleaved") == 0) s->half = 0;
    else if (strcmp(pairing, "half") == 0) s->half = 1;
    else
        return pb_fail(err, "%s: unknown pairing '%s' (valid: interleaved, half)", what,
                       pairing);
    s->d_rot = (int)floor(fraction * dh / 2.0) * 2;
    if (s->d_rot < 2)
        return pb_fail(err, "%s: fraction = %g rotates no pair of d_head = %d dims", what,
                       fraction, dh);
    s->n_pairs = s->d_rot / 2;
    s->n_keep = (int)floor(p * s->n_pairs + 0.5);

    if (pb_rope_scaling_parse(&s->scaling, o, s->d_rot, e->g.max_len, what, err))
        return -1;
    e->logit_scale = (float)pb_rope_scaling_logit_scale(&s->scaling);

    s->theta = malloc(sizeof(double) * (size_t)s->n_pairs);
    if (!s->theta) return pb_fail(err, "%s: out of memory", what);
    /* Until prepare() sees a length, dynamic_ntk uses s_eff = 1. */
    e->length_dependent = s->scaling.type == PB_ROPE_SCALE_DYNAMIC_NTK;
    pb_rope_scaling_thetas(&s->scaling, s->base, s->d_rot, 0, s->theta);
    return 0;
}

/* row_c / row_s from the cache (same values, so the same bits as the
 * per-pair loop: a c - b s and b c + a s computed as a c + b (-s) and
 * b c + a s). */
static void build_rows(pb_encoding *e) {
    rope_state *s = e->state;
    int dh = e->g.d_head, d = e->g.heads * dh, n = s->n_keep, len = s->cache.len;
    s->row_len = 0;
    size_t need = (size_t)len * d;
    /* at most 16 MB per table (T = 8192 at d = 512): beyond, the per-pair
     * loop, which needs no copy */
    if (s->half || 2 * n != dh || len <= 0 || need > ((size_t)1 << 22)) return;
    float *c = realloc(s->row_c, need * sizeof(float));
    if (c) s->row_c = c;
    float *sn = c ? realloc(s->row_s, need * sizeof(float)) : NULL;
    if (sn) s->row_s = sn;
    if (!c || !sn) return;
    for (int p = 0; p < len; p++)
        for (int h = 0; h < e->g.heads; h++)
            for (int k = 0; k < n; k++) {
                size_t at = (size_t)p * d + (size_t)h * dh + 2 * (size_t)k;
                float cv = s->cache.cos_tab[(size_t)p * n + k];
                float sv = s->cache.sin_tab[(size_t)p * n + k];
                c[at] = c[at + 1] = cv;
                sn[at] = -sv;
                sn[at + 1] = sv;
            }
    s->row_len = len;
}

static int rope_prepare(pb_encoding *e, int max_pos, pb_error *err) {
    rope_state *s = e->state;
    /* dynamic_ntk: the sequence length l is max_pos (largest position + 1);
     * the encoding is length-dependent, so this reruns for every new l. */
    if (s->scaling.type == PB_ROPE_SCALE_DYNAMIC_NTK)
        pb_rope_scaling_thetas(&s->scaling, s->base, s->d_rot, max_pos, s->theta);
    if (pb_rot_cache_build(&s->cache, e->prec, s->theta, s->n_keep, max_pos,
                           "encoding 'rope'", err))
        return -1;
    build_rows(e);
    return 0;
}

/* x[t*stride + h*d_head + i] for every token t and head h, rotated by
 * +phi (sgn = 1, forward) or -phi (sgn = -1, backward). */
static void rope_apply(const pb_encoding *e, const int *pos, int T, float *x,
                       int stride, float sgn) {
    const rope_state *s = e->state;
    int H = e->g.heads, dh = e->g.d_head, n = s->n_keep;
    if (n == 0) return;
    float cbuf[PB_ROT_MAX_PAIRS], sbuf[PB_ROT_MAX_PAIRS];
    const pb_kernels *k = pb_kernels_active();
    int d = H * dh;
    for (int t = 0; t < T; t++) {
        if (pos[t] >= 0 && pos[t] < s->row_len) { /* the whole row at once */
            k->rotate_pairs(x + (size_t)t * stride, s->row_c + (size_t)pos[t] * d,
                            s->row_s + (size_t)pos[t] * d, d, sgn);
            continue;
        }
        const float *c, *sn;
        pb_rot_cache_row(&s->cache, e->prec, s->theta, n, pos[t], cbuf, sbuf, &c, &sn);
        float *xt = x + (size_t)t * stride;
        for (int h = 0; h < H; h++) {
            if (s->half) pb_rot_half(xt + h * dh, c, sn, n, s->n_pairs, sgn);
            else pb_rot_interleaved(xt + h * dh, c, sn, n, sgn);
        }
    }
}

static void rope_qk_forward(const pb_encoding *e, const float *params, const int *pos,
                            int T, int is_key, float *x, int stride) {
    (void)params;
    (void)is_key;
    rope_apply(e, pos, T, x, stride, 1.0f);
}

/* The transform is a rotation: d(input) = R^T d(output). */
static void rope_qk_backward(const pb_encoding *e, const float *params, const int *pos,
                             int T, int is_key, const float *x_in, int in_stride,
                             float *dx, int dstride, float *dparams) {
    (void)params;
    (void)is_key;
    (void)x_in;
    (void)in_stride;
    (void)dparams;
    rope_apply(e, pos, T, dx, dstride, -1.0f);
}

/* Pair k < n_pairs: (2k, 2k + 1) or (k, k + n_pairs) (half); the tail dims
 * beyond d_rot pass through in interleaved pairs. */
static void rope_pair_dims(const pb_encoding *e, int *a, int *b) {
    const rope_state *s = e->state;
    for (int k = 0; k < e->g.d_head / 2; k++) {
        int half = s->half && k < s->n_pairs;
        a[k] = half ? k : 2 * k;
        b[k] = half ? k + s->n_pairs : 2 * k + 1;
    }
}

const pb_encoding_type pb_enc_rope = {
    .name = "rope",
    .summary = "rotary position embedding (RoPE): rotate q/k pairs by pos*theta_k; "
               "partial, p-RoPE, PI/NTK/dynamic-NTK/YaRN scaling",
    .reference = "Su et al. 2021 (RoFormer); GPT-NeoX partial rotary; Barbero et al. "
                 "2024 (p-RoPE); Chen et al. 2023 (PI); bloc97 (NTK); Peng et al. "
                 "2023 (YaRN)",
    .options_doc = "base=10000 pairing=interleaved|half fraction=1 p=1 "
                   "scaling={type=none|pi|ntk|dynamic_ntk|yarn, factor=1, "
                   "original_len=max_len, beta_fast=32, beta_slow=1, ramp=code|paper, "
                   "attn_factor=0.1*ln(factor)+1}",
    .options = rope_options,
    .sites = PB_ENC_QK,
    .pos_dims = 1,
    .create = rope_create,
    .destroy = rope_destroy,
    .prepare = rope_prepare,
    .qk_forward = rope_qk_forward,
    .qk_backward = rope_qk_backward,
    .pair_dims = rope_pair_dims,
};
