/* Rotary encodings (rope, xpos, rope2d_axial, rope2d_mixed): backward by
 * finite differences, the relative-position properties, pairings, partial
 * and p-RoPE, the scalings against closed forms, precision sites, errors. */
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../encodings/encoding.h"
#include "check.h"
#include "gradcheck.h"

static gsl_rng *rng;

static double urand(void) { return 2.0 * gsl_rng_uniform(rng) - 1.0; }
static void fill(float *x, int n) {
    for (int i = 0; i < n; i++) x[i] = (float)urand();
}

/* "key=value key=value": numbers when the value parses as one. */
static pb_opts opts_from(const char *spec) {
    pb_opts o;
    pb_opts_init(&o);
    char buf[512];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " ")) {
        char *eq = strchr(tok, '=');
        if (!eq) continue;
        *eq = 0;
        char *end;
        double v = strtod(eq + 1, &end);
        if (end != eq + 1 && *end == 0) pb_opts_set_num(&o, tok, v, NULL);
        else pb_opts_set_str(&o, tok, eq + 1, NULL);
    }
    return o;
}

static int make_prec(pb_encoding *e, const char *name, int H, int dh, int max_len,
                     const char *spec, const pb_precision *prec, pb_error *err) {
    pb_geometry g = {.d = H * dh, .heads = H, .d_head = dh, .causal = 1, .max_len = max_len};
    pb_opts o = opts_from(spec);
    return pb_encoding_create_named(e, name, &g, &o, prec, err);
}

/* Create (or report why not) an encoding with max_len 64 and no rounding. */
static int make(pb_encoding *e, const char *name, int H, int dh, const char *spec) {
    pb_error err = {{0}};
    int rc = make_prec(e, name, H, dh, 64, spec, NULL, &err);
    CHECK(rc == 0, "create %s {%s}: %s", name, spec, err.msg);
    return rc;
}

static void prepare(pb_encoding *e, int max_pos) {
    pb_error err = {{0}};
    CHECK(pb_encoding_prepare(e, max_pos, &err) == 0, "prepare %d: %s", max_pos, err.msg);
}

/* Rotate one token (all heads) at position pos / (x, y). */
static void rot1(const pb_encoding *e, const float *params, const int *pos, int is_key,
                 float *x) {
    e->type->qk_forward(e, params, pos, 1, is_key, x, e->g.d);
}

static double dot(const float *a, const float *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* ------------------------------------------------------------------ */
/* Backward vs central differences. The buffer has a gap between tokens
 * (stride > d) that the hooks must leave alone; the loss covers it too. */

typedef struct {
    const pb_encoding *e;
    float *params;
    const int *pos;
    int T, is_key, stride;
    const float *w;   /* loss = sum w * forward(x) */
    float *x_fixed;   /* for the parameter check */
} gc_ctx;

static double loss_of(const gc_ctx *c, const float *x, const float *params) {
    int n = c->T * c->stride;
    float *y = malloc(sizeof(float) * n);
    memcpy(y, x, sizeof(float) * n);
    c->e->type->qk_forward(c->e, params, c->pos, c->T, c->is_key, y, c->stride);
    double l = dot(y, c->w, n);
    free(y);
    return l;
}
static double loss_x(void *ctx, const float *x) {
    gc_ctx *c = ctx;
    return loss_of(c, x, c->params);
}
static double loss_params(void *ctx, const float *p) {
    gc_ctx *c = ctx;
    return loss_of(c, c->x_fixed, p);
}

static void gradcheck_enc(const char *name, int H, int dh, const char *spec, int pos_max,
                          int prepared) {
    pb_encoding e;
    if (make(&e, name, H, dh, spec)) return;
    if (prepared) prepare(&e, prepared);
    int T = 5, pd = e.type->pos_dims, stride = e.g.d + 3, n = T * stride;
    int pos[10];
    for (int i = 0; i < T * pd; i++) pos[i] = (int)gsl_rng_uniform_int(rng, pos_max);
    float *params = calloc(e.n_params + 1, sizeof(float));
    if (e.type->init_params) e.type->init_params(&e, params, rng);
    float *x = malloc(sizeof(float) * n), *w = malloc(sizeof(float) * n);
    float *g = malloc(sizeof(float) * n), *dp = calloc(e.n_params + 1, sizeof(float));
    for (int is_key = 0; is_key < 2; is_key++) {
        fill(x, n);
        fill(w, n);
        memcpy(g, w, sizeof(float) * n);
        memset(dp, 0, sizeof(float) * (e.n_params + 1));
        e.type->qk_backward(&e, params, pos, T, is_key, x, stride, g, stride, dp);
        gc_ctx c = {&e, params, pos, T, is_key, stride, w, x};
        size_t worst;
        /* linear in x: a large step has no truncation error, less float noise */
        double err = gradcheck_max_error(loss_x, &c, x, g, n, 0.25, 1e-2, &worst);
        CHECK(err < 1e-3, "%s {%s} is_key=%d: d/dx error %g at %zu", name, spec, is_key,
              err, worst);
        if (e.n_params) {
            err = gradcheck_max_error(loss_params, &c, params, dp, e.n_params, 2e-3, 1e-3,
                                      &worst);
            CHECK(err < 1e-2, "%s {%s} is_key=%d: d/dparams error %g at %zu", name, spec,
                  is_key, err, worst);
        }
    }
    free(x);
    free(w);
    free(g);
    free(dp);
    free(params);
    pb_encoding_destroy(&e);
}

static void test_gradients(void) {
    gradcheck_enc("rope", 2, 8, "", 100, 64);
    gradcheck_enc("rope", 2, 8, "", 5000, 64); /* positions beyond the table */
    gradcheck_enc("rope", 2, 12, "pairing=half fraction=0.7 p=0.75", 100, 64);
    gradcheck_enc("rope", 2, 16, "scaling.type=yarn scaling.factor=4 scaling.original_len=512",
                  300, 512);
    gradcheck_enc("xpos", 2, 8, "", 1500, 2000);
    gradcheck_enc("rope2d_axial", 2, 8, "", 20, 32);
    gradcheck_enc("rope2d_mixed", 2, 8, "", 4, 0);
}

/* ------------------------------------------------------------------ */

/* q'(i).k'(j) for one head (H = 1) of encoding e. */
static double logit1(const pb_encoding *e, const float *params, const float *q,
                     const float *k, const int *pi, const int *pj) {
    int d = e->g.d;
    float qq[512], kk[512];
    memcpy(qq, q, sizeof(float) * d);
    memcpy(kk, k, sizeof(float) * d);
    rot1(e, params, pi, 0, qq);
    rot1(e, params, pj, 1, kk);
    return dot(qq, kk, d);
}

/* Logits unchanged by a common shift of i and j, positions up to 4096. */
static void check_shift(const char *spec) {
    pb_encoding e;
    int dh = 64;
    if (make(&e, "rope", 1, dh, spec)) return;
    prepare(&e, 4097);
    float q[64], k[64];
    double worst = 0;
    for (int trial = 0; trial < 300; trial++) {
        fill(q, dh);
        fill(k, dh);
        int i = (int)gsl_rng_uniform_int(rng, 2048), j = (int)gsl_rng_uniform_int(rng, 2048);
        int s = (int)gsl_rng_uniform_int(rng, 2049);
        int i2 = i + s, j2 = j + s;
        double a = logit1(&e, NULL, q, k, &i, &j), b = logit1(&e, NULL, q, k, &i2, &j2);
        double rel = fabs(a - b) / sqrt(dot(q, q, dh) * dot(k, k, dh));
        if (rel > worst) worst = rel;
    }
    CHECK(worst <= 1e-5, "rope {%s}: shift changes logits by %g relative", spec, worst);
    pb_encoding_destroy(&e);
}

static void test_shift_invariance(void) {
    check_shift("");
    check_shift("pairing=half");
    check_shift("fraction=0.25 p=0.5");
    check_shift("scaling.type=pi scaling.factor=4");
    check_shift("scaling.type=ntk scaling.factor=8");
    check_shift("scaling.type=yarn scaling.factor=16 scaling.original_len=256");
}

/* Each head's norm is preserved (rope variants, axial, mixed). */
static void check_norms(const char *name, const char *spec, int max_pos) {
    pb_encoding e;
    int H = 3, dh = 16, d = H * dh;
    if (make(&e, name, H, dh, spec)) return;
    float *params = calloc(e.n_params + 1, sizeof(float));
    if (e.type->init_params) e.type->init_params(&e, params, rng);
    prepare(&e, max_pos);
    double worst = 0;
    for (int trial = 0; trial < 50; trial++) {
        float x[48], y[48];
        int pos[2] = {(int)gsl_rng_uniform_int(rng, max_pos),
                      (int)gsl_rng_uniform_int(rng, max_pos)};
        fill(x, d);
        memcpy(y, x, sizeof x);
        rot1(&e, params, pos, trial % 2, y);
        for (int h = 0; h < H; h++) {
            double nx = sqrt(dot(x + h * dh, x + h * dh, dh));
            double ny = sqrt(dot(y + h * dh, y + h * dh, dh));
            if (fabs(nx - ny) / nx > worst) worst = fabs(nx - ny) / nx;
        }
    }
    CHECK(worst < 1e-6, "%s {%s}: rotation changes a head norm by %g", name, spec, worst);
    free(params);
    pb_encoding_destroy(&e);
}

static void test_norms(void) {
    check_norms("rope", "", 4096);
    check_norms("rope", "pairing=half fraction=0.5", 4096);
    check_norms("rope", "scaling.type=dynamic_ntk scaling.factor=4", 4096);
    check_norms("rope2d_axial", "", 64);
    check_norms("rope2d_mixed", "", 64);
}

/* interleaved(x) and half(P x) agree under P: half[k] = inter[2k],
 * half[n + k] = inter[2k + 1] over the rotated dims; the tail stays. */
static void check_pairings(int dh, const char *extra, int d_rot) {
    char s1[128], s2[128];
    snprintf(s1, sizeof s1, "pairing=interleaved %s", extra);
    snprintf(s2, sizeof s2, "pairing=half %s", extra);
    pb_encoding a, b;
    if (make(&a, "rope", 1, dh, s1) || make(&b, "rope", 1, dh, s2)) return;
    prepare(&a, 3000);
    prepare(&b, 3000);
    int n = d_rot / 2;
    double worst = 0;
    for (int trial = 0; trial < 20; trial++) {
        float x[64], y[64], px[64], py[64];
        int pos = (int)gsl_rng_uniform_int(rng, 3000);
        fill(x, dh);
        memcpy(y, x, sizeof(float) * dh);
        for (int i = 0; i < dh; i++) px[i] = x[i];
        for (int k = 0; k < n; k++) {
            px[k] = x[2 * k];
            px[n + k] = x[2 * k + 1];
        }
        rot1(&a, NULL, &pos, 0, y);
        rot1(&b, NULL, &pos, 0, px);
        for (int i = 0; i < dh; i++) py[i] = y[i];
        for (int k = 0; k < n; k++) {
            py[k] = y[2 * k];
            py[n + k] = y[2 * k + 1];
        }
        for (int i = 0; i < dh; i++)
            if (fabs(px[i] - py[i]) > worst) worst = fabs(px[i] - py[i]);
    }
    CHECK(worst < 1e-6, "pairings {%s} differ by %g after the permutation", extra, worst);
    pb_encoding_destroy(&a);
    pb_encoding_destroy(&b);
}

static void test_pairings(void) {
    check_pairings(32, "", 32);
    check_pairings(32, "fraction=0.5", 16);
    check_pairings(20, "fraction=0.3", 6); /* floor(0.3*20/2)*2 = 6 */
}

/* fraction: the first d_rot dims rotate exactly like a d_head = d_rot RoPE,
 * the tail is untouched. */
static void test_partial(void) {
    for (int half = 0; half < 2; half++) {
        pb_encoding e, full;
        const char *pairing = half ? "pairing=half" : "pairing=interleaved";
        char spec[96];
        snprintf(spec, sizeof spec, "%s fraction=0.25", pairing);
        if (make(&e, "rope", 1, 40, spec) || make(&full, "rope", 1, 10, pairing)) return;
        int ok = 1;
        for (int trial = 0; trial < 20; trial++) {
            float x[40], y[40], z[10];
            int pos = (int)gsl_rng_uniform_int(rng, 5000);
            fill(x, 40);
            memcpy(y, x, sizeof x);
            memcpy(z, x, sizeof z);
            rot1(&e, NULL, &pos, trial % 2, y);
            rot1(&full, NULL, &pos, trial % 2, z);
            for (int i = 0; i < 10; i++) ok &= y[i] == z[i];
            for (int i = 10; i < 40; i++) ok &= y[i] == x[i];
        }
        CHECK(ok, "partial rotation (%s): head differs from a d_rot RoPE or tail moved",
              pairing);
        pb_encoding_destroy(&e);
        pb_encoding_destroy(&full);
    }
}

/* p-RoPE: pairs k >= round(p n) untouched; the others as plain RoPE. */
static void check_p(double p, int keep, int half) {
    pb_encoding e, plain;
    char spec[96];
    const char *pairing = half ? "pairing=half" : "pairing=interleaved";
    snprintf(spec, sizeof spec, "%s p=%g", pairing, p);
    if (make(&e, "rope", 2, 16, spec) || make(&plain, "rope", 2, 16, pairing)) return;
    prepare(&e, 100);
    int ok = 1;
    for (int pos = 1; pos < 3000; pos += 97) {
        float x[32], y[32], z[32];
        fill(x, 32);
        memcpy(y, x, sizeof x);
        memcpy(z, x, sizeof x);
        rot1(&e, NULL, &pos, 0, y);
        rot1(&plain, NULL, &pos, 0, z);
        for (int h = 0; h < 2; h++)
            for (int k = 0; k < 8; k++) {
                int ia = h * 16 + (half ? k : 2 * k), ib = ia + (half ? 8 : 1);
                if (k < keep) ok &= y[ia] == z[ia] && y[ib] == z[ib];
                else ok &= y[ia] == x[ia] && y[ib] == x[ib];
            }
    }
    CHECK(ok, "p-RoPE p=%g %s: expected %d rotated pairs of 8", p, pairing, keep);
    pb_encoding_destroy(&e);
    pb_encoding_destroy(&plain);
}

static void test_p_rope(void) {
    check_p(0.6, 5, 0); /* round(4.8) */
    check_p(0.5, 4, 1);
    check_p(0.3, 2, 0); /* round(2.4) */
    check_p(1.0, 8, 1);
}

/* Max |a - b| over a head after rotating the same x by encodings a at pa
 * and b at pb. */
static double rot_diff(const pb_encoding *a, int pa, const pb_encoding *b, int pb_) {
    float x[64], y[64], z[64];
    int d = a->g.d;
    fill(x, d);
    memcpy(y, x, sizeof(float) * d);
    memcpy(z, x, sizeof(float) * d);
    rot1(a, NULL, &pa, 0, y);
    rot1(b, NULL, &pb_, 0, z);
    double w = 0;
    for (int i = 0; i < d; i++)
        if (fabs(y[i] - z[i]) > w) w = fabs(y[i] - z[i]);
    return w;
}

/* PI at factor s equals plain RoPE at positions p/s. */
static void test_pi(void) {
    pb_encoding pi4, pi_half, plain;
    if (make(&pi4, "rope", 1, 32, "scaling.type=pi scaling.factor=4") ||
        make(&pi_half, "rope", 1, 32, "scaling.type=pi scaling.factor=0.5") ||
        make(&plain, "rope", 1, 32, ""))
        return;
    prepare(&pi4, 4096);
    prepare(&pi_half, 2048);
    prepare(&plain, 4096);
    double w = 0;
    for (int m = 0; m < 1024; m += 37) {
        double a = rot_diff(&pi4, 4 * m, &plain, m), b = rot_diff(&pi_half, m, &plain, 2 * m);
        if (a > w) w = a;
        if (b > w) w = b;
    }
    CHECK(w < 1e-6, "PI: differs from RoPE at p/s by %g", w);
    pb_encoding_destroy(&pi4);
    pb_encoding_destroy(&pi_half);
    pb_encoding_destroy(&plain);
}

/* NTK: base' = base s^(d/(d-2)); dynamic: s_eff = max(1, s l/L - (s-1)). */
static void test_ntk(void) {
    int dh = 32;
    char spec[96];
    pb_encoding ntk, ref, dyn;
    if (make(&ntk, "rope", 1, dh, "scaling.type=ntk scaling.factor=4")) return;
    snprintf(spec, sizeof spec, "base=%.17g", 10000.0 * pow(4.0, dh / (dh - 2.0)));
    if (make(&ref, "rope", 1, dh, spec)) return;
    double w = 0;
    for (int pos = 0; pos < 4000; pos += 131) {
        double a = rot_diff(&ntk, pos, &ref, pos);
        if (a > w) w = a;
    }
    CHECK(w < 1e-5, "NTK: differs from RoPE with base' by %g", w);
    pb_encoding_destroy(&ref);

    /* max_len (L) = 64, s = 2: at l = 64 plain; at l = 256, s_eff = 7. */
    pb_encoding plain;
    if (make(&dyn, "rope", 1, dh, "scaling.type=dynamic_ntk scaling.factor=2") ||
        make(&plain, "rope", 1, dh, ""))
        return;
    prepare(&dyn, 64);
    w = 0;
    for (int pos = 0; pos < 64; pos += 7) {
        double a = rot_diff(&dyn, pos, &plain, pos);
        if (a > w) w = a;
    }
    CHECK(w == 0, "dynamic NTK at l = L: differs from plain RoPE by %g", w);
    prepare(&dyn, 256);
    snprintf(spec, sizeof spec, "base=%.17g", 10000.0 * pow(7.0, dh / (dh - 2.0)));
    if (make(&ref, "rope", 1, dh, spec)) return;
    w = 0;
    for (int pos = 0; pos < 256; pos += 7) {
        double a = rot_diff(&dyn, pos, &ref, pos);
        if (a > w) w = a;
    }
    CHECK(w < 1e-5, "dynamic NTK at l = 4L: differs from base*7^(d/(d-2)) by %g", w);
    pb_encoding_destroy(&ref);
    pb_encoding_destroy(&plain);
    pb_encoding_destroy(&dyn);
    pb_encoding_destroy(&ntk);
}

/* theta'_k read back from the rotation of (1, 0) at position 1. */
static double theta_of(const pb_encoding *e, int k) {
    float x[64] = {0};
    int pos = 1;
    x[2 * k] = 1;
    rot1(e, NULL, &pos, 0, x);
    return atan2(x[2 * k + 1], x[2 * k]);
}

/* YaRN with ramp=paper: high frequencies (r >= beta_fast) unchanged, low
 * ones (r <= beta_slow) divided by s, the ramp in r between; logits scaled
 * by (0.1 ln s + 1)^2. The default ramp (the authors' code) is checked
 * against their formula in tests/torch/test_yarn.py; here its shape. */
static void test_yarn(void) {
    int dh = 32, L = 4096;
    double s = 8;
    pb_encoding e, plain;
    if (make(&e, "rope", 1, dh,
             "scaling.type=yarn scaling.factor=8 scaling.original_len=4096 "
             "scaling.ramp=paper") ||
        make(&plain, "rope", 1, dh, ""))
        return;
    int n_high = 0, n_low = 0, n_mid = 0;
    for (int k = 0; k < dh / 2; k++) {
        double th = pow(10000.0, -2.0 * k / dh), r = L * th / (2 * M_PI);
        double got = theta_of(&e, k);
        CHECK_CLOSE(theta_of(&plain, k), th, 1e-6, "plain theta_k");
        if (r >= 32) {
            n_high++;
            CHECK(fabs(got - th) <= 1e-6 * th, "YaRN k=%d (r=%g): %g, want theta %g", k, r,
                  got, th);
        } else if (r <= 1) {
            n_low++;
            CHECK(fabs(got - th / s) <= 1e-6 * th, "YaRN k=%d (r=%g): %g, want theta/s %g",
                  k, r, got, th / s);
        } else {
            n_mid++;
            double g = (r - 1) / 31;
            double want = (1 - g) * th / s + g * th;
            CHECK(fabs(got - want) <= 1e-6 * th, "YaRN k=%d ramp: %g vs %g", k, got, want);
            CHECK(got > th / s && got < th, "YaRN k=%d ramp not between", k);
        }
    }
    CHECK(n_high && n_low && n_mid, "YaRN test covers all regimes (%d %d %d)", n_high,
          n_low, n_mid);
    double ms = 0.1 * log(s) + 1;
    CHECK_CLOSE(e.logit_scale, ms * ms, 1e-6, "YaRN logit_scale");
    CHECK(plain.logit_scale == 1.0f, "plain logit_scale %g", plain.logit_scale);
    pb_encoding_destroy(&e);
    /* default ramp: pairs below floor(c(32)) keep theta, above ceil(c(1))
     * get theta/s, linear in k between; c(beta) = d ln(L/(2 pi beta))/(2 ln base) */
    if (make(&e, "rope", 1, dh, "scaling.type=yarn scaling.factor=8 scaling.original_len=4096"))
        return;
    double c_fast = dh * log(L / (2 * M_PI * 32)) / (2 * log(10000.0));
    double c_slow = dh * log(L / (2 * M_PI * 1)) / (2 * log(10000.0));
    double lo = floor(c_fast), hi = ceil(c_slow);
    for (int k = 0; k < dh / 2; k++) {
        double th = pow(10000.0, -2.0 * k / dh), up = (k - lo) / (hi - lo);
        up = up < 0 ? 0 : up > 1 ? 1 : up;
        double want = up * th / s + (1 - up) * th;
        CHECK(fabs(theta_of(&e, k) - want) <= 1e-6 * th, "YaRN code ramp k=%d: %g vs %g", k,
              theta_of(&e, k), want);
    }
    CHECK_CLOSE(e.logit_scale, pow(0.1 * log(s) + 1, 2), 1e-6, "YaRN logit_scale (code ramp)");
    pb_encoding_destroy(&e);
    if (make(&e, "rope", 1, dh, "scaling.type=yarn scaling.factor=8 scaling.attn_factor=1.5"))
        return;
    CHECK_CLOSE(e.logit_scale, 2.25, 1e-7, "YaRN attn_factor override");
    pb_encoding_destroy(&e);
    if (make(&e, "rope", 1, dh, "scaling.type=pi scaling.factor=8")) return;
    CHECK(e.logit_scale == 1.0f, "PI logit_scale %g", e.logit_scale);
    pb_encoding_destroy(&e);
    pb_encoding_destroy(&plain);
}

/* ------------------------------------------------------------------ */
/* xPos: pair k of q at i is zeta_k^(i/g) R q, of k at j zeta_k^(-j/g) R k,
 * so their product depends on i - j only. */
static void test_xpos(void) {
    int dh = 16, n = dh / 2;
    pb_encoding e, rope;
    if (make(&e, "xpos", 1, dh, "scale_base=256") || make(&rope, "rope", 1, dh, "")) return;
    prepare(&e, 2048);
    double worst_scale = 0, worst_rope = 0;
    for (int trial = 0; trial < 40; trial++) {
        int i = (int)gsl_rng_uniform_int(rng, 3000), j = (int)gsl_rng_uniform_int(rng, 3000);
        float x[16], q[16], k[16], r[16];
        fill(x, dh);
        memcpy(q, x, sizeof x);
        memcpy(k, x, sizeof x);
        memcpy(r, x, sizeof x);
        rot1(&e, NULL, &i, 0, q);
        rot1(&e, NULL, &j, 1, k);
        rot1(&rope, NULL, &i, 0, r);
        for (int p = 0; p < n; p++) {
            double zeta = (2.0 * p / dh + 0.4) / 1.4;
            double nx = hypot(x[2 * p], x[2 * p + 1]);
            double sq = hypot(q[2 * p], q[2 * p + 1]) / nx, sk = hypot(k[2 * p], k[2 * p + 1]) / nx;
            double want = pow(zeta, (i - j) / 256.0);
            double e1 = fabs(sq * sk - want) / want;
            if (e1 > worst_scale) worst_scale = e1;
            double up = pow(zeta, i / 256.0);
            for (int c = 0; c < 2; c++) {
                double e2 = fabs(q[2 * p + c] - up * r[2 * p + c]) / (up * nx);
                if (e2 > worst_rope) worst_rope = e2;
            }
        }
    }
    CHECK(worst_scale < 1e-5, "xPos: q scale * k scale != zeta^((i-j)/g) by %g", worst_scale);
    CHECK(worst_rope < 1e-5, "xPos: q != zeta^(i/g) RoPE(q) by %g", worst_rope);

    /* logits under a common shift, relative to sum_k |q_k||k_k| zeta^((i-j)/g) */
    double worst = 0;
    for (int trial = 0; trial < 100; trial++) {
        float q[16], k[16];
        fill(q, dh);
        fill(k, dh);
        int i = (int)gsl_rng_uniform_int(rng, 1024), j = (int)gsl_rng_uniform_int(rng, 1024);
        int s = (int)gsl_rng_uniform_int(rng, 1024), i2 = i + s, j2 = j + s;
        double mag = 0;
        for (int p = 0; p < n; p++)
            mag += hypot(q[2 * p], q[2 * p + 1]) * hypot(k[2 * p], k[2 * p + 1]) *
                   pow((2.0 * p / dh + 0.4) / 1.4, (i - j) / 256.0);
        double a = logit1(&e, NULL, q, k, &i, &j), b = logit1(&e, NULL, q, k, &i2, &j2);
        if (fabs(a - b) / mag > worst) worst = fabs(a - b) / mag;
    }
    CHECK(worst < 1e-5, "xPos: shift changes logits by %g relative", worst);
    pb_encoding_destroy(&e);
    pb_encoding_destroy(&rope);
}

/* ------------------------------------------------------------------ */
/* 2D: logits depend on (dx, dy) only; axial = x-only then y-only rotation;
 * mixed with axial frequencies equals axial. */
static void test_2d(void) {
    int H = 2, dh = 16, d = H * dh, n2 = dh / 2, n4 = dh / 4;
    const char *names[2] = {"rope2d_axial", "rope2d_mixed"};
    for (int which = 0; which < 2; which++) {
        pb_encoding e;
        if (make(&e, names[which], H, dh, "")) return;
        float *params = calloc(e.n_params + 1, sizeof(float));
        if (e.type->init_params) e.type->init_params(&e, params, rng);
        prepare(&e, 200);
        double worst = 0;
        for (int trial = 0; trial < 100; trial++) {
            float q[32], k[32], q1[32], k1[32], q2[32], k2[32];
            fill(q, d);
            fill(k, d);
            int pi[2], pj[2], ax = (int)gsl_rng_uniform_int(rng, 100),
                              ay = (int)gsl_rng_uniform_int(rng, 100);
            for (int c = 0; c < 2; c++) {
                pi[c] = (int)gsl_rng_uniform_int(rng, 100);
                pj[c] = (int)gsl_rng_uniform_int(rng, 100);
            }
            int pi2[2] = {pi[0] + ax, pi[1] + ay}, pj2[2] = {pj[0] + ax, pj[1] + ay};
            memcpy(q1, q, sizeof q);
            memcpy(q2, q, sizeof q);
            memcpy(k1, k, sizeof k);
            memcpy(k2, k, sizeof k);
            rot1(&e, params, pi, 0, q1);
            rot1(&e, params, pj, 1, k1);
            rot1(&e, params, pi2, 0, q2);
            rot1(&e, params, pj2, 1, k2);
            for (int h = 0; h < H; h++) {
                double a = dot(q1 + h * dh, k1 + h * dh, dh), b = dot(q2 + h * dh, k2 + h * dh, dh);
                double rel = fabs(a - b) / sqrt(dot(q + h * dh, q + h * dh, dh) *
                                                dot(k + h * dh, k + h * dh, dh));
                if (rel > worst) worst = rel;
            }
        }
        CHECK(worst < 1e-5, "%s: logits change under a common (dx, dy) shift by %g",
              names[which], worst);

        /* R(x, y) = R(0, y) R(x, 0) */
        double wc = 0;
        for (int trial = 0; trial < 30; trial++) {
            float x[32], y[32];
            int p[2] = {(int)gsl_rng_uniform_int(rng, 200), (int)gsl_rng_uniform_int(rng, 200)};
            int px[2] = {p[0], 0}, py[2] = {0, p[1]};
            fill(x, d);
            memcpy(y, x, sizeof x);
            rot1(&e, params, p, 0, x);
            rot1(&e, params, px, 0, y);
            rot1(&e, params, py, 0, y);
            for (int i = 0; i < d; i++)
                if (fabs(x[i] - y[i]) > wc) wc = fabs(x[i] - y[i]);
        }
        CHECK(wc < (which ? 1e-5 : 1e-7), "%s: R(x,y) != R(0,y) R(x,0) by %g", names[which],
              wc);
        free(params);
        pb_encoding_destroy(&e);
    }

    /* mixed with frequencies fx = (m, 0), fy = (0, m) is axial */
    pb_encoding ax, mx;
    if (make(&ax, "rope2d_axial", H, dh, "base=10") || make(&mx, "rope2d_mixed", H, dh, ""))
        return;
    float params[32] = {0};
    for (int h = 0; h < H; h++)
        for (int k = 0; k < n4; k++) {
            params[h * n2 + k] = (float)pow(10.0, -4.0 * k / dh);
            params[H * n2 + h * n2 + n4 + k] = (float)pow(10.0, -4.0 * k / dh);
        }
    double w = 0;
    for (int trial = 0; trial < 30; trial++) {
        float x[32], y[32];
        int p[2] = {(int)gsl_rng_uniform_int(rng, 64), (int)gsl_rng_uniform_int(rng, 64)};
        fill(x, d);
        memcpy(y, x, sizeof x);
        rot1(&ax, NULL, p, 0, x);
        rot1(&mx, params, p, 0, y);
        for (int i = 0; i < d; i++)
            if (fabs(x[i] - y[i]) > w) w = fabs(x[i] - y[i]);
    }
    CHECK(w < 1e-5, "rope2d_mixed with axial frequencies differs from axial by %g", w);
    CHECK(mx.n_params == 2 * H * n2, "rope2d_mixed n_params %d", mx.n_params);

    /* init: per head, pair k and n4+k have magnitude base^(-4k/d_head) and
     * orthogonal directions; same seed, same bits */
    float p1[32], p2[32];
    gsl_rng *r1 = gsl_rng_alloc(gsl_rng_mt19937), *r2 = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r1, 7);
    gsl_rng_set(r2, 7);
    mx.type->init_params(&mx, p1, r1);
    mx.type->init_params(&mx, p2, r2);
    CHECK(memcmp(p1, p2, sizeof p1) == 0, "rope2d_mixed init not deterministic");
    for (int h = 0; h < H; h++)
        for (int k = 0; k < n4; k++) {
            double m = pow(10.0, -4.0 * k / dh);
            double ax_ = p1[h * n2 + k], ay_ = p1[H * n2 + h * n2 + k];
            double bx = p1[h * n2 + n4 + k], by = p1[H * n2 + h * n2 + n4 + k];
            CHECK_CLOSE(hypot(ax_, ay_), m, 1e-6, "mixed init magnitude");
            CHECK_CLOSE(hypot(bx, by), m, 1e-6, "mixed init magnitude (second half)");
            CHECK(fabs(ax_ * bx + ay_ * by) < 1e-6, "mixed init directions not orthogonal");
        }
    gsl_rng_free(r1);
    gsl_rng_free(r2);
    pb_encoding_destroy(&ax);
    pb_encoding_destroy(&mx);
}

/* ------------------------------------------------------------------ */
/* Positions outside the prepared table give the same bits as inside. */
static void test_table_fallback(void) {
    const char *names[3] = {"rope", "xpos", "rope2d_axial"};
    for (int w = 0; w < 3; w++) {
        pb_encoding small, big;
        if (make(&small, names[w], 2, 16, "") || make(&big, names[w], 2, 16, "")) return;
        prepare(&small, 8);
        prepare(&big, 3000);
        int ok = 1;
        for (int trial = 0; trial < 20; trial++) {
            float x[32], y[32];
            int p[2] = {(int)gsl_rng_uniform_int(rng, 3000), (int)gsl_rng_uniform_int(rng, 3000)};
            fill(x, 32);
            memcpy(y, x, sizeof x);
            rot1(&small, NULL, p, trial % 2, x);
            rot1(&big, NULL, p, trial % 2, y);
            ok &= memcmp(x, y, sizeof x) == 0;
        }
        CHECK(ok, "%s: on-the-fly rows differ from the table", names[w]);
        pb_encoding_destroy(&small);
        pb_encoding_destroy(&big);
    }
}

/* Angles rounded to bf16 collide (GPT-NeoX #1003): theta_0 = 1, so the
 * angles 256 and 257 are both 256; fp32 keeps them apart. Tables rounded to
 * bf16 hold bf16 values. */
static void test_precision(void) {
    pb_precision prec;
    pb_format bf16;
    pb_error err = {{0}};
    pb_precision_init(&prec);
    CHECK(pb_format_parse("bf16", &bf16, &err) == 0, "bf16: %s", err.msg);
    pb_encoding plain, e;
    if (make(&plain, "rope", 1, 16, "")) return;
    for (int site = 0; site < 3; site++) {
        const char *names[3] = {"angles", "positions", "tables"};
        pb_precision_init(&prec);
        CHECK(pb_precision_set(&prec, names[site], &bf16, &err) == 0, "%s", err.msg);
        CHECK(make_prec(&e, "rope", 1, 16, 64, "", &prec, &err) == 0, "%s", err.msg);
        prepare(&e, 300);
        float a[16] = {1}, b[16] = {1}, c[16] = {1};
        int p256 = 256, p257 = 257;
        rot1(&e, NULL, &p256, 0, a);
        rot1(&e, NULL, &p257, 0, b);
        rot1(&plain, NULL, &p257, 0, c);
        if (site < 2) {
            CHECK(a[0] == b[0] && a[1] == b[1], "bf16 %s: 256 and 257 should collide", names[site]);
            CHECK(a[0] != c[0], "bf16 %s: 257 should differ from fp32", names[site]);
        } else {
            uint32_t bits0, bits1;
            memcpy(&bits0, &b[0], 4);
            memcpy(&bits1, &b[1], 4);
            CHECK((bits0 & 0xffff) == 0 && (bits1 & 0xffff) == 0,
                  "bf16 tables: cos/sin not bf16 values (%g %g)", b[0], b[1]);
            CHECK(fabs(b[0] - c[0]) < 1e-2 && a[0] != b[0], "bf16 tables: values off");
        }
        pb_encoding_destroy(&e);
    }
    pb_encoding_destroy(&plain);
}

/* ------------------------------------------------------------------ */
/* Bad options fail with a message naming the option and the value. */
static void expect_error(const char *name, int dh, const char *spec, const char *want1,
                         const char *want2) {
    pb_encoding e;
    pb_error err = {{0}};
    int rc = make_prec(&e, name, 2, dh, 64, spec, NULL, &err);
    CHECK(rc == -1, "%s d_head=%d {%s} should fail", name, dh, spec);
    if (rc == 0) {
        pb_encoding_destroy(&e);
        return;
    }
    CHECK(strstr(err.msg, want1) && strstr(err.msg, want2),
          "%s {%s}: message \"%s\" lacks '%s' / '%s'", name, spec, err.msg, want1, want2);
}

static void test_errors(void) {
    expect_error("rope", 7, "", "d_head", "7");
    expect_error("xpos", 9, "", "d_head", "9");
    expect_error("rope2d_axial", 6, "", "divisible by 4", "6");
    expect_error("rope2d_mixed", 10, "", "divisible by 4", "10");
    expect_error("rope", 8, "p=0", "'p'", "0");
    expect_error("rope", 8, "p=1.5", "'p'", "1.5");
    expect_error("rope", 8, "fraction=0", "'fraction'", "0");
    expect_error("rope", 8, "fraction=2", "'fraction'", "2");
    expect_error("rope", 8, "fraction=0.1", "fraction", "0.1");
    expect_error("rope", 8, "base=0", "'base'", "0");
    expect_error("rope", 8, "base=-3", "'base'", "-3");
    expect_error("rope", 8, "pairing=zigzag", "zigzag", "interleaved, half");
    expect_error("rope", 8, "scaling.type=linear", "'linear'", "pi, ntk, dynamic_ntk, yarn");
    expect_error("rope", 8, "scaling.type=pi scaling.factor=0", "scaling.factor", "0");
    expect_error("rope", 8, "scaling.type=yarn scaling.factor=-2", "scaling.factor", "-2");
    expect_error("rope", 8, "scaling.factor=2", "scaling.factor", "scaling.type");
    expect_error("rope", 8, "scaling.type=pi scaling.beta_fast=8", "scaling.beta_fast", "yarn");
    expect_error("rope", 8, "scaling.type=yarn scaling.beta_fast=1", "beta_fast", "beta_slow");
    expect_error("rope", 8, "scaling.type=yarn scaling.ramp=exact", "scaling.ramp", "code, paper");
    expect_error("rope", 8, "scaling.type=ntk scaling.ramp=paper", "scaling.ramp", "yarn");
    expect_error("rope", 8, "scaling.type=ntk scaling.factor=2 fraction=0.25", "ntk", "d_rot = 2");
    expect_error("rope", 8, "scaling.tpye=pi", "scaling.tpye", "scaling.type");
    expect_error("xpos", 8, "scale_base=0", "scale_base", "0");
    expect_error("rope2d_axial", 8, "base=0", "'base'", "0");
}

int main(void) {
    rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 1234);
    test_gradients();
    test_shift_invariance();
    test_norms();
    test_pairings();
    test_partial();
    test_p_rope();
    test_pi();
    test_ntk();
    test_yarn();
    test_xpos();
    test_2d();
    test_table_fallback();
    test_precision();
    test_errors();
    gsl_rng_free(rng);
    return check_summary("test_enc_rotary");
}
