/* Finite-difference checks of every layer's backward, one layer at a time:
 * layernorm, rmsnorm, gelu, crossentropy, linear and attention (causal and
 * bidirectional, with and without an ALiBi bias, at T = 5 and T = 16).
 *
 * Each layer's loss is L = sum_i r_i * out_i for a fixed random r, summed in
 * double, so its analytic gradient is the backward with dout = r (the
 * crossentropy loss is the model's: the masked mean of -log p[target]).
 * Every input element and parameter is perturbed by +-h in float and the
 * central difference compared with the backward through
 * |num - ana| / max(|num| + |ana|, FLOOR) (tests/gradcheck.h).
 *
 * The tolerance must also catch a real bug, so each check is repeated with the
 * analytic gradient scaled by 1.02 and that must fail it. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../encodings/encoding.h"
#include "../harness/model/attention.h"
#include "../harness/core/blas.h"
#include "../harness/model/layers.h"
#include "../harness/model/linear.h"
#include "check.h"
#include "enc_test_util.h"
#include "gradcheck.h"

/* Measured (h, FLOOR) -> worst error over all layers: (1e-2, 1e-1) 1.6e-4,
 * (1e-2, 1e-2) 1.4e-3, (3e-3, 1e-1) 4.9e-4, (1e-3, 1e-1) 1.3e-3. The error is
 * float rounding of the forward divided by 2h, not truncation, so the larger
 * step wins; FLOOR = 0.1 (gradients here are of order 0.1..1) keeps the
 * rounding on near-zero gradients from counting as relative error. A gradient
 * 2% off gives about 0.02 / 2.02 = 1e-2, five times TOL; clean code stays
 * more than ten times below it. */
#ifndef H_STEP
#define H_STEP 1e-2
#endif
#ifndef FLOOR
#define FLOOR 1e-1
#endif
#define TOL 2e-3
#define BAD_SCALE 1.02f

static unsigned long long seed = 0x9E3779B97F4A7C15ull;

/* sum_i r_i * out_i in double */
static double dot_r(const float *r, const float *out, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)r[i] * out[i];
    return s;
}

/* The loss callbacks recompute the forward from buffers in ctx; gradcheck
 * perturbs one of those buffers in place, so the x argument is unused. */

/* Check one gradient and that it would fail if 2% off. */
static void check_grad(const char *what, gradcheck_fn f, void *ctx, float *x,
                       const float *ana, size_t n) {
    size_t worst;
    double e = gradcheck_max_error(f, ctx, x, ana, n, H_STEP, FLOOR, &worst);
    float *bad = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) bad[i] = ana[i] * BAD_SCALE;
    double eb = gradcheck_max_error(f, ctx, x, bad, n, H_STEP, FLOOR, NULL);
    printf("  %-28s max rel error %.2e, 2%% off: %.2e (n = %zu)\n", what, e, eb, n);
    CHECK(e < TOL, "%s: max rel error %.3g at %zu (tol %g)", what, e, worst, TOL);
    CHECK(eb > TOL, "%s: a 2%% error goes unnoticed (%.3g)", what, eb);
    free(bad);
}

/* ---- layernorm and rmsnorm: out[N,C] ---- */

enum { N = 5, C = 6 };

typedef struct {
    int rms;
    float x[N * C], w[C], b[C], r[N * C];
} norm_ctx;

static double norm_loss(void *vctx, const float *unused) {
    (void)unused;
    norm_ctx *c = vctx;
    float out[N * C], mean[N], rstd[N];
    if (c->rms)
        pb_rmsnorm_forward(out, rstd, c->x, c->w, N, C);
    else
        pb_layernorm_forward(out, mean, rstd, c->x, c->w, c->b, N, C);
    return dot_r(c->r, out, N * C);
}

static void test_norm(int rms) {
    const char *name = rms ? "rmsnorm" : "layernorm";
    printf("%s\n", name);
    norm_ctx c;
    c.rms = rms;
    enc_fill(c.x, N * C, &seed, -2, 2);
    enc_fill(c.w, C, &seed, 0.5, 1.5);
    enc_fill(c.b, C, &seed, -0.5, 0.5);
    enc_fill(c.r, N * C, &seed, -1, 1);
    float out[N * C], mean[N], rstd[N];
    /* backward adds: start from a known offset and subtract it again */
    float dx[N * C], dw[C], db[C];
    for (int i = 0; i < N * C; i++) dx[i] = 1.0f;
    for (int i = 0; i < C; i++) dw[i] = db[i] = 1.0f;
    if (rms) {
        pb_rmsnorm_forward(out, rstd, c.x, c.w, N, C);
        pb_rmsnorm_backward(dx, dw, c.r, c.x, c.w, rstd, N, C);
    } else {
        pb_layernorm_forward(out, mean, rstd, c.x, c.w, c.b, N, C);
        pb_layernorm_backward(dx, dw, db, c.r, c.x, c.w, mean, rstd, N, C);
    }
    for (int i = 0; i < N * C; i++) dx[i] -= 1.0f;
    for (int i = 0; i < C; i++) dw[i] -= 1.0f, db[i] -= 1.0f;
    char what[64];
    snprintf(what, sizeof what, "%s dx", name);
    check_grad(what, norm_loss, &c, c.x, dx, N * C);
    snprintf(what, sizeof what, "%s dw", name);
    check_grad(what, norm_loss, &c, c.w, dw, C);
    if (!rms) check_grad("layernorm db", norm_loss, &c, c.b, db, C);
}

/* ---- gelu: out[n] ---- */

typedef struct {
    float x[N * C], r[N * C];
} gelu_ctx;

static double gelu_loss(void *vctx, const float *unused) {
    (void)unused;
    gelu_ctx *c = vctx;
    float out[N * C];
    pb_gelu_forward(out, c->x, N * C);
    return dot_r(c->r, out, N * C);
}

static void test_gelu(void) {
    printf("gelu\n");
    gelu_ctx c;
    enc_fill(c.x, N * C, &seed, -3, 3);
    enc_fill(c.r, N * C, &seed, -1, 1);
    float dx[N * C];
    for (int i = 0; i < N * C; i++) dx[i] = 7.0f; /* backward overwrites */
    pb_gelu_backward(dx, c.x, c.r, N * C);
    check_grad("gelu dx", gelu_loss, &c, c.x, dx, N * C);
}

/* ---- crossentropy: loss = sum mask * (-log p[target]) / sum mask ---- */

enum { V = 7 };

typedef struct {
    float logits[N * V], mask[N];
    int targets[N];
} ce_ctx;

static double ce_loss(void *vctx, const float *unused) {
    (void)unused;
    ce_ctx *c = vctx;
    float probs[N * V], losses[N];
    memcpy(probs, c->logits, sizeof probs); /* the forward works in place */
    double ms = pb_crossentropy_forward(probs, losses, c->targets, c->mask, N, V);
    double s = 0.0;
    for (int n = 0; n < N; n++) s += (double)c->mask[n] * losses[n];
    return s / ms;
}

static void test_crossentropy(void) {
    printf("crossentropy\n");
    ce_ctx c;
    enc_fill(c.logits, N * V, &seed, -3, 3);
    const float mask[N] = {1, 0, 1, 1, 0};
    const int targets[N] = {2, 0, 6, 2, 5};
    memcpy(c.mask, mask, sizeof mask);
    memcpy(c.targets, targets, sizeof targets);
    float probs[N * V], losses[N], dlogits[N * V];
    memcpy(probs, c.logits, sizeof probs);
    double ms = pb_crossentropy_forward(probs, losses, c.targets, c.mask, N, V);
    CHECK(ms == 3.0, "crossentropy: mask sum %g, expected 3", ms);
    pb_crossentropy_backward(dlogits, probs, c.targets, c.mask, ms, N, V);
    int masked_zero = 1;
    for (int n = 0; n < N; n++)
        for (int v = 0; v < V; v++)
            if (c.mask[n] == 0 && dlogits[n * V + v] != 0.0f) masked_zero = 0;
    CHECK(masked_zero, "crossentropy: masked rows get exactly zero gradient");
    check_grad("crossentropy dlogits", ce_loss, &c, c.logits, dlogits, N * V);
}

/* ---- linear: out[N,OC] = inp[N,C] @ w[OC,C]^T + bias[OC] ---- */

enum { OC = 4 };

typedef struct {
    float inp[N * C], w[OC * C], bias[OC], r[N * OC];
} lin_ctx;

static double lin_loss(void *vctx, const float *unused) {
    (void)unused;
    lin_ctx *c = vctx;
    float out[N * OC];
    pb_linear_forward(out, c->inp, c->w, c->bias, N, C, OC);
    return dot_r(c->r, out, N * OC);
}

static void test_linear(void) {
    printf("linear\n");
    lin_ctx c;
    enc_fill(c.inp, N * C, &seed, -1, 1);
    enc_fill(c.w, OC * C, &seed, -1, 1);
    enc_fill(c.bias, OC, &seed, -1, 1);
    enc_fill(c.r, N * OC, &seed, -1, 1);
    float dinp[N * C], dw[OC * C], dbias[OC];
    for (int i = 0; i < N * C; i++) dinp[i] = 7.0f; /* overwritten */
    for (int i = 0; i < OC * C; i++) dw[i] = 1.0f;  /* added into */
    for (int i = 0; i < OC; i++) dbias[i] = 1.0f;
    pb_linear_backward(dinp, dw, dbias, c.r, c.inp, c.w, N, C, OC);
    for (int i = 0; i < OC * C; i++) dw[i] -= 1.0f;
    for (int i = 0; i < OC; i++) dbias[i] -= 1.0f;
    check_grad("linear dinp", lin_loss, &c, c.inp, dinp, N * C);
    check_grad("linear dw", lin_loss, &c, c.w, dw, OC * C);
    check_grad("linear dbias", lin_loss, &c, c.bias, dbias, OC);
}

/* ---- attention: atty[B,T,d] from qkv[B,T,3d] (+ bias[H,T,T]) ---- */

/* Geometries where the AVX-512 kernel set's GEMM takes every product under
 * a mask for the last columns (the other sets use BLAS): T = 16, d_h = 8
 * (narrow heads at T >= 16: dV and dK computed transposed, T wide); T = 5,
 * d_h = 4, T = 10, d_h = 8 and T = 9, d_h = 17 (computed directly). */
enum { MAXB = 2, MAXT = 16, MAXH = 2, MAXDH = 17, MAXD = MAXH * MAXDH };
static int AB = 2, AT = 5, AH = 2, ADH = 4;
#define AD (AH * ADH)

typedef struct {
    pb_attn a;
    float qkv[MAXB * MAXT * 3 * MAXD], r[MAXB * MAXT * MAXD];
    float bias[MAXH * MAXT * MAXT];
    float att[MAXB * MAXH * MAXT * MAXT];
    float *scratch;
} attn_ctx;

static double attn_loss(void *vctx, const float *unused) {
    (void)unused;
    attn_ctx *c = vctx;
    float atty[MAXB * MAXT * MAXD];
    pb_attention_forward(&c->a, atty, c->qkv, c->att, c->scratch);
    return dot_r(c->r, atty, AB * AT * AD);
}

static void test_attention(int causal, int alibi) {
    char name[64];
    snprintf(name, sizeof name, "attention %s%s T=%d", causal ? "causal" : "bidirectional",
             alibi ? " alibi" : "", AT);
    printf("%s\n", name);
    static attn_ctx c;
    memset(&c, 0, sizeof c);
    int pos[MAXB * MAXT];
    for (int b = 0; b < AB; b++)
        for (int t = 0; t < AT; t++) pos[b * AT + t] = t;
    pb_encoding enc;
    pb_error err;
    int have_enc = 0;
    if (alibi) {
        pb_geometry g = enc_geom(AD, AH, causal, AT);
        int rc = enc_make(&enc, "alibi", g, "", NULL, &err);
        if (!rc) rc = pb_encoding_prepare(&enc, AT, &err);
        CHECK(rc == 0, "alibi: %s", rc ? err.msg : "");
        if (rc) return;
        have_enc = 1;
        /* as the model does: one bias table for the batch */
        enc.type->bias_forward(&enc, NULL, pos, AT, pos, AT, c.bias);
        CHECK(c.bias[AT] != 0.0f, "alibi: the bias is not all zero");
    }
    c.a = (pb_attn){.B = AB, .T = AT, .d = AD, .H = AH, .dh = ADH, .causal = causal,
                    .scale = 1.0f / sqrtf((float)ADH), .enc = have_enc ? &enc : NULL,
                    .enc_params = NULL, .pos = pos, .pos_dims = 1,
                    .bias = have_enc ? c.bias : NULL, .bias_shared = 1, .prec = NULL};
    size_t scratch_n = pb_attention_scratch(AT, AH, 1) * (size_t)omp_get_max_threads();
    c.scratch = calloc(scratch_n, sizeof(float));
    /* logits of order one, so softmax is neither flat nor saturated */
    enc_fill(c.qkv, AB * AT * 3 * AD, &seed, -1.5, 1.5);
    enc_fill(c.r, AB * AT * AD, &seed, -1, 1);
    static float atty[MAXB * MAXT * MAXD], dqkv[MAXB * MAXT * 3 * MAXD];
    static float dbias[MAXB * MAXH * MAXT * MAXT];
    memset(dbias, 0, sizeof dbias);
    for (int i = 0; i < AB * AT * 3 * AD; i++) dqkv[i] = 7.0f; /* overwritten */
    pb_attention_forward(&c.a, atty, c.qkv, c.att, c.scratch);
    pb_attention_backward(&c.a, dqkv, have_enc ? dbias : NULL, c.r, c.qkv, c.att,
                          c.scratch);
    char what[96];
    snprintf(what, sizeof what, "%s dqkv", name + 10);
    check_grad(what, attn_loss, &c, c.qkv, dqkv, AB * AT * 3 * AD);
    if (have_enc) {
        /* the shared table feeds every batch row: its gradient is the sum */
        static float dshared[MAXH * MAXT * MAXT];
        memset(dshared, 0, sizeof dshared);
        for (int b = 0; b < AB; b++)
            for (int i = 0; i < AH * AT * AT; i++) dshared[i] += dbias[b * AH * AT * AT + i];
        snprintf(what, sizeof what, "%s dbias", name + 10);
        check_grad(what, attn_loss, &c, c.bias, dshared, AH * AT * AT);
        pb_encoding_destroy(&enc);
    }
    free(c.scratch);
}

int main(void) {
    pb_blas_init();
    test_norm(0);
    test_norm(1);
    test_gelu();
    test_crossentropy();
    test_linear();
    for (int causal = 0; causal <= 1; causal++)
        for (int alibi = 0; alibi <= 1; alibi++) test_attention(causal, alibi);
    const int geometry[][2] = {{16, 8}, {10, 8}, {9, 17}};
    for (int g = 0; g < 3; g++) {
        AT = geometry[g][0], ADH = geometry[g][1];
        for (int causal = 0; causal <= 1; causal++) test_attention(causal, causal);
    }
    return check_summary("test_layers");
}
