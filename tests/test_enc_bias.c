/* Attention-bias encodings: alibi, t5, kerple_log, kerple_power, fire.
 * Closed forms (ALiBi slopes for H = 1..16, the T5 bucket table, KERPLE and
 * FIRE on toys), finite-difference checks of every backward, query blocks
 * against the full matrix, shifted positions, precision, option errors.
 *
 *   test_enc_bias              run the checks
 *   test_enc_bias --dump FILE  write cases (JSON lines) for
 *                              scripts/torch_enc/bias.py */
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "enc_test_util.h"
#include "gradcheck.h"

static int contains(const char *hay, const char *needle) {
    return strstr(hay, needle) != NULL;
}

/* bias[H][nq][nk], freshly allocated */
static float *bias_of(const pb_encoding *e, const float *params, const int *qpos, int nq,
                      const int *kpos, int nk) {
    float *b = malloc(sizeof(float) * (size_t)e->g.heads * nq * nk);
    e->type->bias_forward(e, params, qpos, nq, kpos, nk, b);
    return b;
}

static float *init_params(const pb_encoding *e, unsigned long seed) {
    float *p = calloc((size_t)e->n_params + 1, sizeof(float));
    if (e->type->init_params) {
        gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
        gsl_rng_set(r, seed);
        e->type->init_params(e, p, r);
        gsl_rng_free(r);
    }
    return p;
}

static void test_registry(void) {
    const char *names[] = {"alibi", "t5", "kerple_log", "kerple_power", "fire"};
    for (size_t i = 0; i < 5; i++) {
        const pb_encoding_type *t = pb_encoding_find(names[i]);
        CHECK(t != NULL, "%s is registered", names[i]);
        if (!t) continue;
        CHECK(t->sites == PB_ENC_BIAS && t->pos_dims == 1, "%s: bias site, 1D", names[i]);
        CHECK(t->bias_forward && t->bias_backward, "%s has both bias hooks", names[i]);
        CHECK(t->summary && t->reference && t->options_doc && t->options, "%s documented",
              names[i]);
    }
    char buf[1024];
    pb_encoding_list_names(buf, sizeof buf);
    CHECK(contains(buf, "alibi, t5, kerple_log, kerple_power, fire, abacus"),
          "registry order: %s", buf);
}

/* Expected slopes, written from the paper's description. */
static double expected_slope(int H, int h /* 0-based */) {
    int n = 1;
    while (2 * n <= H) n *= 2;
    if (h < n) return exp2(-8.0 * (h + 1) / n);
    int i = h - n; /* every other slope of the 2n set: 1-based index 2i+1 */
    return exp2(-8.0 * (2 * i + 1) / (2.0 * n));
}

static void test_alibi(void) {
    pb_error err;
    int q = 1, k = 0;
    for (int H = 1; H <= 16; H++) {
        pb_encoding e;
        CHECK(enc_make(&e, "alibi", enc_geom(16 * H, H, 1, 64), "", NULL, &err) == 0, "%s",
              err.msg);
        float *b = bias_of(&e, NULL, &q, 1, &k, 1);
        double worst = 0;
        for (int h = 0; h < H; h++)
            worst = fmax(worst, fabs(-b[h] - expected_slope(H, h)) / expected_slope(H, h));
        CHECK(worst < 1e-7, "alibi slopes H=%d (rel err %g)", H, worst);
        free(b);
        pb_encoding_destroy(&e);
    }
    /* The reference get_slopes(6) and get_slopes(12), hard-coded. */
    double s6[] = {0.25, 0.0625, 0.015625, 0.00390625, 0.5, 0.125};
    double s12_tail[] = {0.7071067811865476, 0.35355339059327384, 0.17677669529663692,
                         0.08838834764831849};
    pb_encoding e6, e12;
    enc_make(&e6, "alibi", enc_geom(12, 6, 1, 64), "", NULL, &err);
    enc_make(&e12, "alibi", enc_geom(12, 12, 1, 64), "", NULL, &err);
    float *b6 = bias_of(&e6, NULL, &q, 1, &k, 1), *b12 = bias_of(&e12, NULL, &q, 1, &k, 1);
    int ok = 1;
    for (int h = 0; h < 6; h++) ok &= fabs(-b6[h] - s6[h]) < 1e-8;
    for (int h = 0; h < 4; h++) ok &= fabs(-b12[8 + h] - s12_tail[h]) < 1e-7;
    CHECK(ok, "alibi slopes equal the reference get_slopes(6), get_slopes(12)");
    free(b6);
    free(b12);
    pb_encoding_destroy(&e6);
    pb_encoding_destroy(&e12);

    /* Values: causal -m (i - j); bidirectional -m |i - j|; positions as given. */
    pb_encoding ec, eb;
    enc_make(&ec, "alibi", enc_geom(8, 2, 1, 64), "", NULL, &err);
    enc_make(&eb, "alibi", enc_geom(8, 2, 0, 64), "", NULL, &err);
    int qp[] = {1005, 1009}, kp[] = {1000, 1005, 1012};
    float *bc = bias_of(&ec, NULL, qp, 2, kp, 3), *bb = bias_of(&eb, NULL, qp, 2, kp, 3);
    ok = 1;
    for (int h = 0; h < 2; h++)
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 3; b++) {
                double m = exp2(-8.0 * (h + 1) / 2), dd = qp[a] - kp[b];
                ok &= bc[h * 6 + a * 3 + b] == (float)(-m * dd);
                ok &= bb[h * 6 + a * 3 + b] == (float)(-m * fabs(dd));
            }
    CHECK(ok, "alibi values, causal and bidirectional, shifted positions");
    free(bc);
    free(bb);
    pb_encoding_destroy(&ec);
    pb_encoding_destroy(&eb);
}

/* The bucket formula as stated (T5 / HF _relative_position_bucket). */
static int expected_bucket(int rel /* key - query */, int causal) {
    if (causal) {
        int n = rel < 0 ? -rel : 0;
        if (n < 16) return n;
        long b = 16 + (long)floorl(logl(n / 16.0L) / logl(8.0L) * 16);
        return b < 31 ? (int)b : 31;
    }
    int off = rel > 0 ? 16 : 0, n = abs(rel);
    if (n < 8) return off + n;
    long b = 8 + (long)floorl(logl(n / 8.0L) / logl(16.0L) * 8);
    return off + (b < 15 ? (int)b : 15);
}

static void test_t5(void) {
    pb_error err;
    for (int causal = 1; causal >= 0; causal--) {
        pb_encoding e;
        CHECK(enc_make(&e, "t5", enc_geom(8, 2, causal, 64), "", NULL, &err) == 0, "%s",
              err.msg);
        CHECK(e.n_params == 2 * 32, "t5: n_params = H * buckets");
        float params[64];
        for (int h = 0; h < 2; h++)
            for (int k = 0; k < 32; k++) params[h * 32 + k] = (float)(k + 100 * h);
        /* query at 300, keys 0..600: rel = key - query in [-300, 300] */
        int q = 300, keys[601];
        for (int j = 0; j <= 600; j++) keys[j] = j;
        float *b = bias_of(&e, params, &q, 1, keys, 601);
        int bad = -1;
        for (int j = 0; j <= 600 && bad < 0; j++)
            if (b[j] != (float)expected_bucket(j - 300, causal) ||
                b[601 + j] != (float)(100 + expected_bucket(j - 300, causal)))
                bad = j;
        CHECK(bad < 0, "t5 %s bucket table for n = 0..300 (first mismatch at key %d: %g)",
              causal ? "causal" : "bidirectional", bad, bad >= 0 ? b[bad] : 0.0);
        /* Hugging Face's values at a few distances, hard-coded. */
        int ns[] = {0, 5, 15, 16, 17, 20, 23, 30, 45, 50, 64, 90, 100, 127, 128, 300};
        int hf_causal[] = {0, 5, 15, 16, 16, 17, 18, 20, 23, 24, 26, 29, 30, 31, 31, 31};
        int hf_before[] = {0, 5, 9, 10, 10, 10, 11, 11, 12, 13, 14, 14, 15, 15, 15, 15};
        int hf_after[] = {0, 21, 25, 26, 26, 26, 27, 27, 28, 29, 30, 30, 31, 31, 31, 31};
        int ok = 1;
        for (int i = 0; i < 16; i++) {
            ok &= b[300 - ns[i]] == (float)(causal ? hf_causal[i] : hf_before[i]);
            ok &= b[300 + ns[i]] == (float)(causal ? 0 : hf_after[i]);
        }
        CHECK(ok, "t5 %s buckets equal Hugging Face's", causal ? "causal" : "bidirectional");
        free(b);
        pb_encoding_destroy(&e);
    }
    pb_encoding e;
    CHECK(enc_make(&e, "t5", enc_geom(8, 2, 1, 64), "buckets=8,max_distance=20", NULL,
                   &err) == 0,
          "%s", err.msg);
    float params[16];
    for (int k = 0; k < 16; k++) params[k] = (float)k;
    int q = 40, keys[] = {40, 37, 36, 30, 25, 20, 0};
    float *b = bias_of(&e, params, &q, 1, keys, 7);
    /* B = 8, E = 4: n = 0, 3 exact; n = 4 -> 4; 10 -> 4 + floor(ln 2.5 / ln 5 * 4) = 6;
     * 15 -> 4 + floor(3.28) = 7; 20, 40 -> 7 */
    float want[] = {0, 3, 4, 6, 7, 7, 7};
    CHECK(memcmp(b, want, sizeof want) == 0, "t5 buckets=8 max_distance=20: %g %g %g %g",
          b[2], b[3], b[4], b[5]);
    free(b);
    pb_encoding_destroy(&e);
    CHECK(enc_make(&e, "t5", enc_geom(8, 2, 1, 64), "buckets=7", NULL, &err) == -1 &&
              contains(err.msg, "buckets=7"),
          "odd buckets rejected: %s", err.msg);
    CHECK(enc_make(&e, "t5", enc_geom(8, 2, 1, 64), "max_distance=16", NULL, &err) == -1 &&
              contains(err.msg, "max_distance=16"),
          "max_distance within the exact buckets rejected: %s", err.msg);
    CHECK(enc_make(&e, "t5", enc_geom(8, 2, 1, 64), "bucket=7", NULL, &err) == -1 &&
              contains(err.msg, "valid options: buckets, max_distance"),
          "unknown option lists valid ones: %s", err.msg);
}

static double softplus_inv(double r) {
    return log(expm1(r));
}

static void test_kerple(void) {
    pb_error err;
    pb_encoding e;
    /* options set the initial r1, r2 in every head */
    CHECK(enc_make(&e, "kerple_log", enc_geom(8, 2, 1, 64), "r1=1.5,r2=0.5", NULL, &err) == 0,
          "%s", err.msg);
    CHECK(e.n_params == 4, "kerple_log: 2 H params");
    float *p = init_params(&e, 1);
    CHECK_CLOSE(p[0], softplus_inv(1.5), 1e-6, "u1 = softplus^-1(r1)");
    /* head 1 gets other values to see the layout [u1[H], u2[H]] */
    p[1] = (float)softplus_inv(2.0);
    p[3] = (float)softplus_inv(0.25);
    int qp[] = {0, 7, 1010}, kp[] = {0, 3, 1000};
    float *b = bias_of(&e, p, qp, 3, kp, 3);
    double r1[] = {1.5, 2.0}, r2[] = {0.5, 0.25};
    int ok = 1;
    for (int h = 0; h < 2; h++)
        for (int a = 0; a < 3; a++)
            for (int c = 0; c < 3; c++) {
                double n = fabs((double)qp[a] - kp[c]);
                ok &= check_close(b[h * 9 + a * 3 + c], -r1[h] * log(1 + r2[h] * n), 1e-6);
            }
    CHECK(ok, "kerple_log = -r1 ln(1 + r2 |i-j|) on a toy");
    free(b);
    free(p);
    pb_encoding_destroy(&e);

    CHECK(enc_make(&e, "kerple_power", enc_geom(8, 2, 0, 64), "r1=0.5,r2=1.5", NULL,
                   &err) == 0,
          "%s", err.msg);
    p = init_params(&e, 1);
    CHECK_CLOSE(2.0 / (1.0 + exp(-p[2])), 1.5, 1e-6, "r2 = 2 sigmoid(a)");
    b = bias_of(&e, p, qp, 3, kp, 3);
    ok = 1;
    for (int h = 0; h < 2; h++)
        for (int a = 0; a < 3; a++)
            for (int c = 0; c < 3; c++) {
                double n = fabs((double)qp[a] - kp[c]);
                ok &= check_close(b[h * 9 + a * 3 + c], -0.5 * pow(n, 1.5), 1e-6);
            }
    CHECK(ok, "kerple_power = -r1 |i-j|^r2 on a toy");
    free(b);
    free(p);
    pb_encoding_destroy(&e);

    CHECK(enc_make(&e, "kerple_power", enc_geom(8, 2, 0, 64), "r2=2", NULL, &err) == -1 &&
              contains(err.msg, "r2=2"),
          "r2 = 2 is outside (0, 2): %s", err.msg);
    CHECK(enc_make(&e, "kerple_log", enc_geom(8, 2, 0, 64), "r1=-1", NULL, &err) == -1 &&
              contains(err.msg, "r1=-1"),
          "negative r1 rejected: %s", err.msg);
}

/* FIRE written out from the paper, with the documented parameter layout. */
static double fire_expected(const float *p, int hid, int H, int h, double qi, double kj,
                            int causal, double init_L) {
    const float *w1 = p, *b1 = p + hid, *w2 = p + 2 * hid, *b2 = w2 + H * hid;
    double c = fabs(b2[H]), L = fabs(b2[H + 1]) * init_L;
    double r = causal ? fmax(qi - kj, 0) : fabs(qi - kj);
    double z = log(c * r + 1) / (log(c * fmax(L, qi) + 1) + 1e-6);
    double out = b2[h];
    for (int k = 0; k < hid; k++) out += w2[h * hid + k] * fmax(w1[k] * z + b1[k], 0);
    return out;
}

static void test_fire(void) {
    pb_error err;
    for (int causal = 1; causal >= 0; causal--) {
        pb_encoding e;
        CHECK(enc_make(&e, "fire", enc_geom(12, 3, causal, 64), "hidden=5,init_L=6.5", NULL,
                       &err) == 0,
              "%s", err.msg);
        CHECK(e.n_params == 2 * 5 + 3 * 5 + 3 + 2, "fire n_params (%d)", e.n_params);
        float *p = init_params(&e, 3);
        CHECK(p[e.n_params - 2] == 0.1f && p[e.n_params - 1] == 1.0f, "fire: c = 0.1, l = 1");
        p[e.n_params - 2] = 0.3f; /* c */
        p[e.n_params - 1] = 0.8f; /* L = 5.2 */
        int qp[] = {0, 3, 9, 1004}, kp[] = {0, 2, 3, 9, 1000};
        float *b = bias_of(&e, p, qp, 4, kp, 5);
        double worst = 0;
        for (int h = 0; h < 3; h++)
            for (int a = 0; a < 4; a++)
                for (int c = 0; c < 5; c++)
                    worst = fmax(worst, fabs(b[h * 20 + a * 5 + c] -
                                             fire_expected(p, 5, 3, h, qp[a], kp[c], causal,
                                                           6.5)));
        CHECK(worst < 1e-5, "fire %s equals the formula (err %g)",
              causal ? "causal" : "bidirectional", worst);
        free(b);
        free(p);
        pb_encoding_destroy(&e);
    }
    pb_encoding e;
    CHECK(enc_make(&e, "fire", enc_geom(8, 2, 1, 64), "", NULL, &err) == 0, "%s", err.msg);
    CHECK(e.n_params == 2 * 32 + 2 * 32 + 2 + 2, "fire default hidden 32");
    pb_encoding_destroy(&e);
    CHECK(enc_make(&e, "fire", enc_geom(8, 2, 1, 64), "hidden=0", NULL, &err) == -1 &&
              contains(err.msg, "hidden=0"),
          "hidden=0 rejected: %s", err.msg);
    CHECK(enc_make(&e, "fire", enc_geom(8, 2, 1, 64), "init_c=0", NULL, &err) == -1 &&
              contains(err.msg, "init_c=0"),
          "init_c=0 rejected: %s", err.msg);
}

/* Gradient check: loss = sum w .* bias(params). */
typedef struct {
    const pb_encoding *e;
    const int *qpos, *kpos;
    int nq, nk;
    const float *w;
} bias_ctx;

static double bias_loss(void *vctx, const float *params) {
    bias_ctx *c = vctx;
    float *b = bias_of(c->e, params, c->qpos, c->nq, c->kpos, c->nk);
    double s = 0;
    size_t n = (size_t)c->e->g.heads * c->nq * c->nk;
    for (size_t i = 0; i < n; i++) s += (double)c->w[i] * b[i];
    free(b);
    return s;
}

static void check_bias_grad(const char *name, const char *spec, int causal,
                            double perturb) {
    pb_encoding e;
    pb_error err;
    int H = 3;
    if (enc_make(&e, name, enc_geom(12, H, causal, 16), spec, NULL, &err)) {
        CHECK(0, "%s: %s", name, err.msg);
        return;
    }
    float *p = init_params(&e, 17);
    unsigned long long s = 1234;
    /* move away from the initial values so every head differs */
    for (int i = 0; i < e.n_params; i++) p[i] += (float)enc_rand(&s, -perturb, perturb);
    int qp[] = {2, 5, 9, 14, 20, 33}, kp[] = {0, 2, 5, 9, 14, 20, 33, 40};
    int nq = 6, nk = 8;
    size_t n = (size_t)H * nq * nk;
    float *w = malloc(sizeof(float) * n), *g = calloc((size_t)e.n_params, sizeof(float));
    enc_fill(w, n, &s, -1, 1);
    e.type->bias_backward(&e, p, qp, nq, kp, nk, w, g);
    bias_ctx ctx = {&e, qp, kp, nq, nk, w};
    size_t worst;
    double ge = gradcheck_max_error(bias_loss, &ctx, p, g, (size_t)e.n_params, 1e-3, 1e-1,
                                    &worst);
    CHECK(ge < 2e-3, "%s (%s, %s) gradient: max rel err %g at param %zu (ana %g)", name,
          spec, causal ? "causal" : "bidirectional", ge, worst, (double)g[worst]);
    free(w);
    free(g);
    free(p);
    pb_encoding_destroy(&e);
}

/* alibi learn=1: slopes initialised to the fixed ones, same bias. */
static void test_alibi_learn(void) {
    for (int causal = 1; causal >= 0; causal--) {
        pb_encoding fixed, learn;
        pb_error err;
        CHECK(enc_make(&fixed, "alibi", enc_geom(12, 6, causal, 64), "", NULL, &err) == 0,
              "%s", err.msg);
        CHECK(enc_make(&learn, "alibi", enc_geom(12, 6, causal, 64), "learn=1", NULL, &err) == 0,
              "%s", err.msg);
        CHECK(fixed.n_params == 0 && learn.n_params == 6, "alibi learn=1 has H parameters");
        float *p = init_params(&learn, 5);
        int qp[] = {3, 9, 17}, kp[] = {0, 3, 9, 17, 30};
        float *a = bias_of(&fixed, NULL, qp, 3, kp, 5), *b = bias_of(&learn, p, qp, 3, kp, 5);
        int same = 1;
        for (int i = 0; i < 6 * 3 * 5; i++) same &= a[i] == b[i];
        CHECK(same, "alibi learn=1 at its initial slopes = alibi (%s)",
              causal ? "causal" : "bidirectional");
        free(a);
        free(b);
        free(p);
        pb_encoding_destroy(&fixed);
        pb_encoding_destroy(&learn);
    }
    pb_encoding e;
    pb_error err;
    CHECK(enc_make(&e, "alibi", enc_geom(8, 2, 1, 64), "learn=2", NULL, &err) == -1 &&
              contains(err.msg, "learn=2"),
          "alibi learn=2 rejected: %s", err.msg);
}

static void test_gradients(void) {
    for (int causal = 1; causal >= 0; causal--) {
        check_bias_grad("alibi", "learn=1", causal, 0.05);
        check_bias_grad("t5", "buckets=8,max_distance=20", causal, 0.1);
        check_bias_grad("kerple_log", "", causal, 0.5);
        check_bias_grad("kerple_power", "", causal, 0.5);
        check_bias_grad("fire", "hidden=6,init_L=7.5", causal, 0.1);
        check_bias_grad("fire", "hidden=4,init_L=40.5", causal, 0.1); /* L > every p_i */
    }
}

/* A block of queries against all keys gives the same rows as the full
 * matrix, and its backward the same gradient as the full one restricted to
 * those rows. */
static void test_query_blocks(void) {
    const char *names[] = {"alibi", "t5", "kerple_log", "kerple_power", "fire"};
    for (size_t i = 0; i < 5; i++)
        for (int causal = 1; causal >= 0; causal--) {
            pb_encoding e;
            pb_error err;
            int H = 2, T = 9, a0 = 3, m = 4;
            enc_make(&e, names[i], enc_geom(8, H, causal, 16), "", NULL, &err);
            float *p = init_params(&e, 5);
            int pos[9] = {100, 101, 102, 103, 104, 105, 106, 107, 108};
            float *full = bias_of(&e, p, pos, T, pos, T);
            float *blk = bias_of(&e, p, pos + a0, m, pos, T);
            int ok = 1;
            for (int h = 0; h < H; h++)
                for (int a = 0; a < m; a++)
                    for (int b = 0; b < T; b++)
                        ok &= blk[(h * m + a) * T + b] == full[(h * T + a0 + a) * T + b];
            CHECK(ok, "%s %s: query block == rows of the full matrix", names[i],
                  causal ? "causal" : "bidirectional");
            /* backward: block dbias vs full dbias zero outside the block */
            size_t nf = (size_t)H * T * T, nb = (size_t)H * m * T;
            float *dfull = calloc(nf, sizeof(float)), *dblk = malloc(sizeof(float) * nb);
            unsigned long long s = 77;
            enc_fill(dblk, nb, &s, -1, 1);
            for (int h = 0; h < H; h++)
                for (int a = 0; a < m; a++)
                    memcpy(dfull + (h * T + a0 + a) * T, dblk + (h * m + a) * T,
                           sizeof(float) * T);
            float *g1 = calloc((size_t)e.n_params + 1, sizeof(float));
            float *g2 = calloc((size_t)e.n_params + 1, sizeof(float));
            e.type->bias_backward(&e, p, pos, T, pos, T, dfull, g1);
            e.type->bias_backward(&e, p, pos + a0, m, pos, T, dblk, g2);
            double worst = 0;
            for (int k = 0; k < e.n_params; k++) worst = fmax(worst, fabs(g1[k] - g2[k]));
            CHECK(worst < 1e-5, "%s: block backward == full backward (err %g)", names[i],
                  worst);
            free(dfull);
            free(dblk);
            free(g1);
            free(g2);
            free(full);
            free(blk);
            free(p);
            pb_encoding_destroy(&e);
        }
}

/* Relative encodings see only p_i - p_j: shifting every position by 1000
 * changes nothing (FIRE is not shift-invariant: its normaliser reads p_i). */
static void test_shift_invariance(void) {
    const char *names[] = {"alibi", "t5", "kerple_log", "kerple_power"};
    for (size_t i = 0; i < 4; i++) {
        pb_encoding e;
        pb_error err;
        enc_make(&e, names[i], enc_geom(8, 2, 0, 16), "", NULL, &err);
        float *p = init_params(&e, 9);
        int pos[] = {0, 1, 2, 5, 8, 13}, shifted[6];
        for (int t = 0; t < 6; t++) shifted[t] = pos[t] + 1000;
        float *b0 = bias_of(&e, p, pos, 6, pos, 6), *b1 = bias_of(&e, p, shifted, 6, shifted, 6);
        CHECK(memcmp(b0, b1, sizeof(float) * 2 * 36) == 0, "%s: shift by 1000 changes nothing",
              names[i]);
        free(b0);
        free(b1);
        free(p);
        pb_encoding_destroy(&e);
    }
}

static void test_precision(void) {
    pb_precision prec;
    pb_format bf16;
    pb_error err;
    pb_precision_init(&prec);
    pb_format_parse("bf16", &bf16, &err);
    pb_precision_set(&prec, "positions", &bf16, &err);
    pb_encoding e;
    CHECK(enc_make(&e, "alibi", enc_geom(8, 2, 1, 64), "", &prec, &err) == 0, "%s", err.msg);
    int q = 257, k = 0;
    float *b = bias_of(&e, NULL, &q, 1, &k, 1);
    CHECK(b[0] == -0.0625f * 256, "bf16 positions: alibi (m = 1/16) sees 257 - 0 as 256 (%g)",
          b[0]);
    free(b);
    pb_encoding_destroy(&e);

    pb_precision_init(&prec);
    pb_precision_set(&prec, "tables", &bf16, &err);
    CHECK(enc_make(&e, "kerple_log", enc_geom(8, 2, 1, 64), "", &prec, &err) == 0, "%s",
          err.msg);
    float *p = init_params(&e, 1);
    q = 1000;
    b = bias_of(&e, p, &q, 1, &k, 1);
    CHECK(b[0] == pb_format_round(&bf16, b[0], 0, 0) && fabs(b[0] + log(1001)) < 0.05,
          "bf16 tables: kerple bias rounded to bf16 (%.9g)", b[0]);
    free(b);
    free(p);
    pb_encoding_destroy(&e);
}

/* Cases for scripts/torch_enc/bias.py: bias values and parameter gradients. */
static int dump_cases(const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return 1;
    }
    struct {
        const char *name, *spec;
        int heads, causal;
    } cases[] = {
        {"alibi", "", 4, 1},         {"alibi", "", 6, 0},
        {"t5", "", 3, 1},            {"t5", "", 3, 0},
        {"t5", "buckets=8,max_distance=20", 2, 1},
        {"kerple_log", "", 3, 1},    {"kerple_log", "r1=2,r2=0.3", 2, 0},
        {"kerple_power", "", 3, 1},  {"kerple_power", "r1=0.7,r2=1.6", 2, 0},
        {"fire", "", 4, 1},          {"fire", "hidden=8,init_L=3.5,init_c=0.4", 2, 0},
    };
    unsigned long long s = 2024;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        pb_encoding e;
        pb_error err;
        pb_geometry g = enc_geom(4 * cases[i].heads, cases[i].heads, cases[i].causal, 32);
        if (enc_make(&e, cases[i].name, g, cases[i].spec, NULL, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            fclose(f);
            return 1;
        }
        int nq = 5, nk = 9, qpos[5], kpos[9];
        for (int t = 0; t < nk; t++) kpos[t] = (int)enc_rand(&s, 0, 200);
        for (int t = 0; t < nq; t++) qpos[t] = (int)enc_rand(&s, 0, 200);
        float *params = init_params(&e, 8 + i);
        for (int k = 0; k < e.n_params; k++) params[k] += (float)enc_rand(&s, -0.2, 0.2);
        size_t n = (size_t)g.heads * nq * nk;
        float *out = bias_of(&e, params, qpos, nq, kpos, nk);
        float *dout = malloc(sizeof(float) * n);
        float *grad = calloc((size_t)e.n_params + 1, sizeof(float));
        enc_fill(dout, n, &s, -1, 1);
        e.type->bias_backward(&e, params, qpos, nq, kpos, nk, dout, grad);
        json_case_open(f, cases[i].name, cases[i].spec, &g);
        fprintf(f, "\"n_params\": %d, ", e.n_params);
        json_ints(f, "qpos", qpos, (size_t)nq);
        fprintf(f, ", ");
        json_ints(f, "kpos", kpos, (size_t)nk);
        fprintf(f, ", ");
        json_case_close(f, params, e.n_params, out, dout, n, grad);
        free(params);
        free(out);
        free(dout);
        free(grad);
        pb_encoding_destroy(&e);
    }
    return fclose(f) != 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--dump") == 0) return dump_cases(argv[2]);
    test_registry();
    test_alibi();
    test_t5();
    test_kerple();
    test_fire();
    test_alibi_learn();
    test_gradients();
    test_query_blocks();
    test_shift_invariance();
    test_precision();
    return check_summary("test_enc_bias");
}
