/* Per-layer attention settings, one piece at a time:
 *  - a window or chunk equals full attention under the equivalent mask:
 *    the kernel against a masked reference written here in double
 *    (allowed(i, j) from the definitions, not from the kernel's key_lo),
 *    with and without soft-capping and an ALiBi bias, at several T;
 *  - the backward of the window, chunk and soft-cap paths, and of QK-norm
 *    (with and without its weight), against central finite differences;
 *  - the temperature rules equal their formulas at a few positions.
 * Gradient checks follow tests/test_layers.c: L = sum r * out, and each
 * check must fail with the gradient 2% off. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../encodings/encoding.h"
#include "../harness/core/blas.h"
#include "../harness/model/attention.h"
#include "../harness/model/layer_spec.h"
#include "../harness/model/qk_norm.h"
#include "check.h"
#include "enc_test_util.h"
#include "gradcheck.h"

#define H_STEP 1e-2
#define FLOOR 1e-1
#define TOL 2e-3
#define BAD_SCALE 1.02f

static unsigned long long seed = 0x2545F4914F6CDD1Dull;

static double dot_r(const float *r, const float *out, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)r[i] * out[i];
    return s;
}

static void check_grad(const char *what, gradcheck_fn f, void *ctx, float *x,
                       const float *ana, size_t n) {
    size_t worst;
    double e = gradcheck_max_error(f, ctx, x, ana, n, H_STEP, FLOOR, &worst);
    float *bad = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) bad[i] = ana[i] * BAD_SCALE;
    double eb = gradcheck_max_error(f, ctx, x, bad, n, H_STEP, FLOOR, NULL);
    printf("  %-34s max rel error %.2e, 2%% off: %.2e (n = %zu)\n", what, e, eb, n);
    CHECK(e < TOL, "%s: max rel error %.3g at %zu (tol %g)", what, e, worst, TOL);
    CHECK(eb > TOL, "%s: a 2%% error goes unnoticed (%.3g)", what, eb);
    free(bad);
}

/* Query i may see key j: from the definitions (docs/hybrids.md). */
static int allowed(pb_span_kind span, int size, int i, int j) {
    if (j > i) return 0;
    if (span == PB_SPAN_WINDOW) return j > i - size;
    if (span == PB_SPAN_CHUNK) return j / size == i / size;
    return 1;
}

enum { B = 2, H = 2, DH = 4, D = H * DH, TMAX = 23 };

/* atty of the masked reference, in double. */
static void reference(const pb_attn *a, const float *qkv, const float *bias, double *out) {
    int T = a->T, C3 = 3 * D;
    double s[TMAX];
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++) {
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < T; j++) {
                    if (!allowed(a->span, a->span_size, i, j)) continue;
                    double dot = 0;
                    for (int k = 0; k < DH; k++)
                        dot += (double)qkv[(b * T + i) * C3 + h * DH + k] *
                               qkv[(b * T + j) * C3 + D + h * DH + k];
                    double x = dot * a->scale + (bias ? bias[(h * T + i) * T + j] : 0);
                    if (a->softcap > 0) x = a->softcap * tanh(x / a->softcap);
                    s[j] = x;
                    mx = x > mx ? x : mx;
                }
                for (int j = 0; j < T; j++)
                    if (allowed(a->span, a->span_size, i, j)) sum += exp(s[j] - mx);
                for (int k = 0; k < DH; k++) {
                    double y = 0;
                    for (int j = 0; j < T; j++)
                        if (allowed(a->span, a->span_size, i, j))
                            y += exp(s[j] - mx) / sum * qkv[(b * T + j) * C3 + 2 * D + h * DH + k];
                    out[(b * T + i) * D + h * DH + k] = y;
                }
            }
}

typedef struct {
    pb_attn a;
    float qkv[B * TMAX * 3 * D], r[B * TMAX * D], att[B * H * TMAX * TMAX];
    float *scratch;
} attn_ctx;

static double attn_loss(void *vctx, const float *unused) {
    (void)unused;
    attn_ctx *c = vctx;
    float atty[B * TMAX * D];
    pb_attention_forward(&c->a, atty, c->qkv, c->att, c->scratch);
    return dot_r(c->r, atty, (size_t)B * c->a.T * D);
}

static void test_span(pb_span_kind span, int size, int T, float softcap, int alibi, int grads) {
    const char *kind = span == PB_SPAN_WINDOW ? "window" : span == PB_SPAN_CHUNK ? "chunk"
                                                                                : "global";
    char name[96];
    snprintf(name, sizeof name, "%s %d T=%d%s%s", kind, size, T, softcap > 0 ? " softcap" : "",
             alibi ? " alibi" : "");
    static attn_ctx c;
    memset(&c, 0, sizeof c);
    int pos[B * TMAX];
    for (int i = 0; i < B * T; i++) pos[i] = i % T;
    pb_encoding enc;
    pb_error err;
    float bias[H * TMAX * TMAX];
    if (alibi) {
        int rc = enc_make(&enc, "alibi", enc_geom(D, H, 1, T), "", NULL, &err);
        if (!rc) rc = pb_encoding_prepare(&enc, T, &err);
        CHECK(rc == 0, "alibi: %s", rc ? err.msg : "");
        if (rc) return;
        enc.type->bias_forward(&enc, NULL, pos, T, pos, T, bias);
    }
    c.a = (pb_attn){.B = B, .T = T, .d = D, .H = H, .dh = DH, .causal = 1,
                    .scale = 1.0f / sqrtf((float)DH), .enc = alibi ? &enc : NULL,
                    .pos = pos, .pos_dims = 1, .bias = alibi ? bias : NULL, .bias_shared = 1,
                    .span = span, .span_size = size, .softcap = softcap};
    size_t per = pb_attention_scratch_for(&c.a, 1), per_inf = pb_attention_scratch_for(&c.a, 0);
    c.scratch = calloc((per > per_inf ? per : per_inf) * (size_t)omp_get_max_threads(),
                       sizeof(float));
    enc_fill(c.qkv, (size_t)B * T * 3 * D, &seed, -1.5, 1.5);
    enc_fill(c.r, (size_t)B * T * D, &seed, -1, 1);
    double want[B * TMAX * D];
    reference(&c.a, c.qkv, alibi ? bias : NULL, want);
    float got[B * TMAX * D], got_inf[B * TMAX * D];
    pb_attention_forward(&c.a, got, c.qkv, c.att, c.scratch);
    pb_attention_forward(&c.a, got_inf, c.qkv, NULL, c.scratch); /* inference path */
    double worst = 0, worst_inf = 0;
    for (int i = 0; i < B * T * D; i++) {
        worst = fmax(worst, fabs(got[i] - want[i]));
        worst_inf = fmax(worst_inf, fabs(got_inf[i] - want[i]));
    }
    printf("%-32s masked reference: max |diff| %.2e (training), %.2e (inference)\n", name,
           worst, worst_inf);
    CHECK(worst < 1e-5 && worst_inf < 1e-5, "%s: differs from the masked reference by %.3g / %.3g",
          name, worst, worst_inf);
    if (grads) {
        float dqkv[B * TMAX * 3 * D];
        for (int i = 0; i < B * T * 3 * D; i++) dqkv[i] = 7.0f; /* overwritten */
        pb_attention_forward(&c.a, got, c.qkv, c.att, c.scratch);
        pb_attention_backward(&c.a, dqkv, NULL, c.r, c.qkv, c.att, c.scratch);
        check_grad(name, attn_loss, &c, c.qkv, dqkv, (size_t)B * T * 3 * D);
    }
    if (alibi) pb_encoding_destroy(&enc);
    free(c.scratch);
}

/* ---- QK-norm ---- */

enum { QN = 5 };

typedef struct {
    float qkv[QN * 3 * D], w[2 * DH], r[QN * 3 * D];
    int weighted;
} qkn_ctx;

static double qkn_loss(void *vctx, const float *unused) {
    (void)unused;
    qkn_ctx *c = vctx;
    float y[QN * 3 * D];
    memcpy(y, c->qkv, sizeof y);
    pb_qknorm_forward(y, NULL, NULL, c->weighted ? c->w : NULL, QN, D, H, 1e-6f);
    return dot_r(c->r, y, QN * 3 * D);
}

static void test_qknorm(int weighted) {
    qkn_ctx c;
    c.weighted = weighted;
    enc_fill(c.qkv, QN * 3 * D, &seed, -2, 2);
    enc_fill(c.w, 2 * DH, &seed, 0.5, 1.5);
    enc_fill(c.r, QN * 3 * D, &seed, -1, 1);
    float y[QN * 3 * D], xhat[QN * 2 * D], rstd[QN * 2 * H], dw[2 * DH] = {0};
    memcpy(y, c.qkv, sizeof y);
    pb_qknorm_forward(y, xhat, rstd, weighted ? c.w : NULL, QN, D, H, 1e-6f);
    /* each normalised head has mean square w^2 (1 without the weight) */
    double ms = 0;
    for (int i = 0; i < DH; i++) ms += (double)y[i] * y[i] / (weighted ? c.w[i] * c.w[i] : 1);
    CHECK(fabs(ms / DH - 1) < 1e-5, "qk-norm: head 0 has mean square %.6g", ms / DH);
    float g[QN * 3 * D];
    memcpy(g, c.r, sizeof g);
    pb_qknorm_backward(g, weighted ? dw : NULL, xhat, rstd, weighted ? c.w : NULL, QN, D, H);
    /* v is untouched: its gradient is r itself */
    for (int n = 0; n < QN; n++)
        for (int i = 2 * D; i < 3 * D; i++) g[n * 3 * D + i] = c.r[n * 3 * D + i];
    check_grad(weighted ? "qk-norm dqkv (weight)" : "qk-norm dqkv", qkn_loss, &c, c.qkv, g,
               QN * 3 * D);
    if (weighted) check_grad("qk-norm dw", qkn_loss, &c, c.w, dw, 2 * DH);
}

/* ---- temperature rules ---- */

static void test_temperature(void) {
    pb_layer_spec s;
    pb_opts none;
    pb_opts_init(&none);
    pb_layer_spec_uniform(&s, "none", &none);
    s.temp = PB_TEMP_LOG;
    s.temp_scale = 0.1;
    s.temp_floor = 8192;
    /* Llama 4: 1 + attn_scale * log(floor((p + 1) / floor_scale) + 1) */
    int ps[] = {0, 8190, 8191, 16383, 100000};
    double want[] = {1.0, 1.0, 1 + 0.1 * log(2.0), 1 + 0.1 * log(3.0), 1 + 0.1 * log(13.0)};
    for (int i = 0; i < 5; i++)
        CHECK_CLOSE(pb_layer_temperature(&s, ps[i], 1), want[i], 1e-6, "temperature log");
    s.temp = PB_TEMP_LENGTH;
    s.temp_scale = 0.5;
    CHECK_CLOSE(pb_layer_temperature(&s, 7, 64), 0.5 * log(64.0), 1e-6, "temperature length");
    s.temp = PB_TEMP_CONST;
    s.temp_scale = 1.25;
    CHECK_CLOSE(pb_layer_temperature(&s, 3, 4), 1.25, 0, "temperature const");
}

int main(void) {
    pb_blas_init();
    int Ts[] = {1, 7, 23};
    for (int k = 0; k < 3; k++) {
        int T = Ts[k];
        test_span(PB_SPAN_WINDOW, 1, T, 0, 0, 0);
        test_span(PB_SPAN_WINDOW, 3, T, 0, 0, 0);
        test_span(PB_SPAN_WINDOW, 5, T, 4.0f, 1, 0);
        test_span(PB_SPAN_WINDOW, 64, T, 0, 0, 0);
        test_span(PB_SPAN_CHUNK, 1, T, 0, 0, 0);
        test_span(PB_SPAN_CHUNK, 4, T, 0, 1, 0);
        test_span(PB_SPAN_CHUNK, 7, T, 2.5f, 0, 0);
        test_span(PB_SPAN_CHUNK, 64, T, 0, 0, 0);
        test_span(PB_SPAN_GLOBAL, 0, T, 3.0f, 1, 0);
    }
    printf("gradients\n");
    test_span(PB_SPAN_WINDOW, 3, 9, 0, 0, 1);
    test_span(PB_SPAN_WINDOW, 4, 9, 2.0f, 1, 1);
    test_span(PB_SPAN_CHUNK, 4, 9, 0, 0, 1);
    test_span(PB_SPAN_CHUNK, 3, 9, 2.0f, 1, 1);
    test_span(PB_SPAN_GLOBAL, 0, 9, 2.0f, 1, 1);
    test_qknorm(0);
    test_qknorm(1);
    test_temperature();
    return check_summary("test_spans");
}
