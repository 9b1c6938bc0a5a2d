/* Additive-input encodings: integer, integer_norm, binary, sinusoidal,
 * sinusoidal2d, learned, abacus. Closed forms, SNR facts, layouts, option
 * errors, shifted positions, precision sites, and finite-difference checks
 * of the learned tables' backward.
 *
 *   test_enc_additive              run the checks
 *   test_enc_additive --dump FILE  write cases (JSON lines) for
 *                                  scripts/torch_enc/additive.py */
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "enc_test_util.h"
#include "gradcheck.h"

/* PE rows of an input encoding: out[T, d] = 0 + PE(pos). */
static void pe_rows(const pb_encoding *e, const float *params, const int *pos, int T,
                    float *out) {
    memset(out, 0, sizeof(float) * (size_t)T * e->g.d);
    e->type->input_forward(e, params, pos, T, out);
}

static double norm_row(const float *x, int d) {
    double s = 0;
    for (int c = 0; c < d; c++) s += (double)x[c] * x[c];
    return sqrt(s);
}

static int contains(const char *hay, const char *needle) {
    return strstr(hay, needle) != NULL;
}

static void test_registry(void) {
    const char *names[] = {"integer", "integer_norm", "binary", "sinusoidal",
                           "learned", "abacus", "sinusoidal2d"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const pb_encoding_type *t = pb_encoding_find(names[i]);
        CHECK(t != NULL, "%s is registered", names[i]);
        if (!t) continue;
        CHECK(t->sites == PB_ENC_INPUT, "%s acts at the input", names[i]);
        CHECK(t->pos_dims == (strcmp(names[i], "sinusoidal2d") ? 1 : 2), "%s pos_dims",
              names[i]);
        CHECK(t->summary && t->reference && t->options_doc && t->options,
              "%s documents itself", names[i]);
        CHECK(t->input_forward && t->input_backward, "%s has both input hooks", names[i]);
    }
    char buf[1024];
    pb_encoding_list_names(buf, sizeof buf);
    CHECK(contains(buf, "none, integer, integer_norm, binary, sinusoidal, learned"),
          "registry order starts none, integer, ...: %s", buf);
}

static void test_integer(void) {
    pb_encoding e;
    pb_error err;
    int d = 6;
    CHECK(enc_make(&e, "integer", enc_geom(d, 2, 1, 64), "", NULL, &err) == 0, "%s", err.msg);
    CHECK(e.n_params == 0, "integer has no parameters");
    int pos[] = {0, 3, 1000, 7};
    float x[4 * 6];
    for (int i = 0; i < 24; i++) x[i] = 0.5f * i; /* adds onto existing values */
    e.type->input_forward(&e, NULL, pos, 4, x);
    int ok = 1;
    for (int t = 0; t < 4; t++)
        for (int c = 0; c < d; c++) ok &= x[t * d + c] == 0.5f * (t * d + c) + pos[t];
    CHECK(ok, "integer adds p to every component");
    /* SNR fact: ||PE(p)|| = p sqrt(d) */
    float row[6];
    for (int p = 0; p <= 4096; p += 512) {
        pe_rows(&e, NULL, &p, 1, row);
        CHECK_CLOSE(norm_row(row, d), p * sqrt((double)d), 1e-6, "||integer PE(p)||");
    }
    pb_encoding_destroy(&e);

    CHECK(enc_make(&e, "integer_norm", enc_geom(d, 2, 1, 64), "", NULL, &err) == 0, "%s",
          err.msg);
    int p4[] = {0, 1, 2, 3}, p8[] = {0, 1, 2, 3, 4, 5, 6, 7};
    float x4[4 * 6], x8[8 * 6];
    pe_rows(&e, NULL, p4, 4, x4);
    pe_rows(&e, NULL, p8, 8, x8);
    ok = 1;
    for (int t = 0; t < 4; t++)
        for (int c = 0; c < d; c++) ok &= x4[t * d + c] == (float)t / 4.0f;
    CHECK(ok, "integer_norm adds p / T");
    /* The same value stands for p = 2 at N = 4 and p = 4 at N = 8. */
    CHECK(memcmp(x4 + 2 * d, x8 + 4 * d, sizeof(float) * d) == 0,
          "integer_norm: PE(2 | N=4) == PE(4 | N=8) (not unique across N)");
    int shifted[] = {1000, 1001, 1002, 1003};
    pe_rows(&e, NULL, shifted, 4, x4);
    CHECK(x4[3 * d] == 1003.0f / 4.0f, "integer_norm reads positions as given");
    pb_encoding_destroy(&e);
}

static void test_binary(void) {
    pb_encoding e;
    pb_error err;
    float row[8];
    CHECK(enc_make(&e, "binary", enc_geom(8, 2, 1, 64), "bits=4,scale=1", NULL, &err) == 0,
          "%s", err.msg);
    int p = 5;
    pe_rows(&e, NULL, &p, 1, row);
    float want5[8] = {1, 0, 1, 0, 1, 0, 1, 0};
    CHECK(memcmp(row, want5, sizeof row) == 0, "binary p=5 bits=4: LSB first, tiled");
    p = 10;
    pe_rows(&e, NULL, &p, 1, row);
    float want10[8] = {0, 1, 0, 1, 0, 1, 0, 1};
    CHECK(memcmp(row, want10, sizeof row) == 0, "binary p=10 bits=4");
    CHECK(pb_encoding_prepare(&e, 16, &err) == 0, "16 positions fit 4 bits");
    CHECK(pb_encoding_prepare(&e, 17, &err) == -1 && contains(err.msg, "position 16") &&
              contains(err.msg, "bits=4"),
          "position 16 needs 5 bits: %s", err.msg);
    pb_encoding_destroy(&e);

    CHECK(enc_make(&e, "binary", enc_geom(8, 2, 1, 64), "bits=3,signed=1,scale=1", NULL, &err) == 0,
          "%s", err.msg);
    p = 6; /* 110b */
    pe_rows(&e, NULL, &p, 1, row);
    float want6[8] = {-1, 1, 1, -1, 1, 1, -1, 1};
    CHECK(memcmp(row, want6, sizeof row) == 0, "binary signed p=6 bits=3");
    pb_encoding_destroy(&e);

    /* Default bits = min(16, d), scale 1/sqrt(d); general layout on shifted positions. */
    int d = 40;
    CHECK(enc_make(&e, "binary", enc_geom(d, 4, 1, 64), "", NULL, &err) == 0, "%s", err.msg);
    int pos[] = {1000, 1001, 65535, 12345};
    float x[4 * 40];
    pe_rows(&e, NULL, pos, 4, x);
    int ok = 1;
    for (int t = 0; t < 4; t++)
        for (int c = 0; c < d; c++)
            ok &= x[t * d + c] == ((pos[t] >> (c % 16)) & 1 ? (float)(1 / sqrt(40.0)) : 0.0f);
    CHECK(ok, "binary default: component c = bit (c mod 16) / sqrt(d)");
    CHECK(pb_encoding_prepare(&e, 65536, &err) == 0, "65536 positions fit 16 bits");
    pb_encoding_destroy(&e);

    CHECK(enc_make(&e, "binary", enc_geom(8, 2, 1, 64), "bits=0", NULL, &err) == -1 &&
              contains(err.msg, "bits=0"),
          "bits=0 rejected: %s", err.msg);
    CHECK(enc_make(&e, "binary", enc_geom(8, 2, 1, 64), "bits=9", NULL, &err) == -1 &&
              contains(err.msg, "bits=9") && contains(err.msg, "d=8"),
          "bits > d rejected: %s", err.msg);
    CHECK(enc_make(&e, "binary", enc_geom(8, 2, 1, 64), "signed=2", NULL, &err) == -1 &&
              contains(err.msg, "signed=2"),
          "signed=2 rejected: %s", err.msg);
    CHECK(enc_make(&e, "binary", enc_geom(8, 2, 1, 64), "scale=0", NULL, &err) == -1 &&
              contains(err.msg, "option 'scale' must be > 0, got 0"),
          "scale=0 rejected: %s", err.msg);
}

static void test_sinusoidal(void) {
    pb_encoding e;
    pb_error err;
    int d = 8;
    CHECK(enc_make(&e, "sinusoidal", enc_geom(d, 2, 1, 64), "scale=1", NULL, &err) == 0, "%s",
          err.msg);
    float row[8];
    int p = 0;
    pe_rows(&e, NULL, &p, 1, row);
    float want0[8] = {0, 1, 0, 1, 0, 1, 0, 1};
    CHECK(memcmp(row, want0, sizeof row) == 0, "PE(0) = [0 1 0 1 ...]");
    p = 1;
    pe_rows(&e, NULL, &p, 1, row);
    /* w = 1, 0.1, 0.01, 0.001 for d = 8, base 10000 */
    CHECK_CLOSE(row[0], 0.8414709848, 1e-7, "sin(1)");
    CHECK_CLOSE(row[1], 0.5403023059, 1e-7, "cos(1)");
    CHECK_CLOSE(row[2], 0.0998334166, 1e-7, "sin(0.1)");
    CHECK_CLOSE(row[3], 0.9950041653, 1e-7, "cos(0.1)");
    CHECK_CLOSE(row[6], 0.0009999998, 1e-7, "sin(0.001)");
    int pos[] = {7, 1003, 2, 50000};
    float x[4 * 8];
    pe_rows(&e, NULL, pos, 4, x);
    double maxerr = 0;
    for (int t = 0; t < 4; t++)
        for (int k = 0; k < d / 2; k++) {
            long double w = powl(10.0L, -(long double)k); /* 10000^(-2k/8) */
            maxerr = fmax(maxerr, fabs((double)(x[t * d + 2 * k] - sinl(pos[t] * w))));
            maxerr = fmax(maxerr, fabs((double)(x[t * d + 2 * k + 1] - cosl(pos[t] * w))));
        }
    CHECK(maxerr < 1e-7, "sinusoidal matches the closed form (max err %g)", maxerr);
    /* ||PE(p)|| = sqrt(d/2), and PE(p) . PE(p+k) = sum_k cos(k w) for all p */
    double maxn = 0, maxdot = 0;
    for (int q = 0; q < 3000; q += 37) {
        int two[2] = {q, q + 5};
        float r2[16];
        pe_rows(&e, NULL, two, 2, r2);
        maxn = fmax(maxn, fabs(norm_row(r2, d) - 2.0));
        double dot = 0, want = 0;
        for (int c = 0; c < d; c++) dot += (double)r2[c] * r2[d + c];
        for (int k = 0; k < d / 2; k++) want += cos(5 * pow(10.0, -k));
        maxdot = fmax(maxdot, fabs(dot - want));
    }
    CHECK(maxn < 1e-6, "||sinusoidal PE(p)|| = sqrt(d/2) (max err %g)", maxn);
    CHECK(maxdot < 1e-5, "PE(p).PE(p+5) does not depend on p (max err %g)", maxdot);
    /* the default amplitude is 1/sqrt(d): the paper's table over sqrt(d) */
    pb_encoding dflt;
    CHECK(enc_make(&dflt, "sinusoidal", enc_geom(d, 2, 1, 64), "", NULL, &err) == 0, "%s",
          err.msg);
    float a[4 * 8];
    pe_rows(&dflt, NULL, pos, 4, a);
    pe_rows(&e, NULL, pos, 4, x);
    double worst = 0;
    for (int i = 0; i < 4 * d; i++) worst = fmax(worst, fabs(a[i] - x[i] / sqrt((double)d)));
    CHECK(worst < 1e-7, "sinusoidal default scale = 1/sqrt(d) (max err %g)", worst);
    pb_encoding_destroy(&dflt);
    pb_encoding_destroy(&e);

    CHECK(enc_make(&e, "sinusoidal", enc_geom(4, 2, 1, 64), "base=100,scale=1", NULL, &err) == 0,
          "%s", err.msg);
    p = 3;
    pe_rows(&e, NULL, &p, 1, row);
    CHECK_CLOSE(row[2], sin(3 * 0.1), 1e-7, "base=100: w_1 = 100^(-2/4)");
    pb_encoding_destroy(&e);

    CHECK(enc_make(&e, "sinusoidal", enc_geom(7, 1, 1, 64), "", NULL, &err) == -1 &&
              contains(err.msg, "d=7"),
          "odd d rejected: %s", err.msg);
    CHECK(enc_make(&e, "sinusoidal", enc_geom(8, 2, 1, 64), "base=0", NULL, &err) == -1 &&
              contains(err.msg, "option 'base' must be > 0, got 0"),
          "base=0 rejected: %s", err.msg);
    CHECK(enc_make(&e, "sinusoidal", enc_geom(8, 2, 1, 64), "base=-5", NULL, &err) == -1 &&
              contains(err.msg, "option 'base' must be > 0, got -5"),
          "negative base rejected: %s", err.msg);
    CHECK(enc_make(&e, "sinusoidal", enc_geom(8, 2, 1, 64), "base=big", NULL, &err) == -1 &&
              contains(err.msg, "base"),
          "string base rejected: %s", err.msg);
}

static void test_sinusoidal2d(void) {
    pb_encoding e;
    pb_error err;
    int d = 8;
    CHECK(enc_make(&e, "sinusoidal2d", enc_geom(d, 2, 0, 64), "", NULL, &err) == 0, "%s",
          err.msg);
    int pos[] = {3, 5, 1000, 2}; /* (x, y) pairs; default amplitude 1/sqrt(d) */
    float x[2 * 8];
    pe_rows(&e, NULL, pos, 2, x);
    /* width 4: w = 1, 10000^(-2/4) = 0.01 */
    double want[2][8];
    for (int t = 0; t < 2; t++)
        for (int axis = 0; axis < 2; axis++) {
            double v = pos[2 * t + axis];
            double w[2] = {1.0, 0.01};
            for (int k = 0; k < 2; k++) {
                want[t][axis * 4 + 2 * k] = sin(v * w[k]) / sqrt((double)d);
                want[t][axis * 4 + 2 * k + 1] = cos(v * w[k]) / sqrt((double)d);
            }
        }
    double maxerr = 0;
    for (int t = 0; t < 2; t++)
        for (int c = 0; c < d; c++) maxerr = fmax(maxerr, fabs(x[t * d + c] - want[t][c]));
    CHECK(maxerr < 1e-6, "sinusoidal2d: x code then y code, width d/2 (err %g)", maxerr);
    pb_encoding_destroy(&e);
    CHECK(enc_make(&e, "sinusoidal2d", enc_geom(6, 2, 0, 64), "", NULL, &err) == -1 &&
              contains(err.msg, "d=6") && contains(err.msg, "4"),
          "d not divisible by 4 rejected: %s", err.msg);
}

/* Gradient check of a learned table: loss = sum w .* (x + PE(pos)). */
typedef struct {
    const pb_encoding *e;
    const int *pos;
    int T;
    const float *w;
} table_ctx;

static double table_loss(void *vctx, const float *params) {
    table_ctx *c = vctx;
    int n = c->T * c->e->g.d;
    float *x = calloc((size_t)n, sizeof *x);
    c->e->type->input_forward(c->e, params, c->pos, c->T, x);
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)c->w[i] * x[i];
    free(x);
    return s;
}

static void check_table_grad(const char *name, const char *spec) {
    pb_encoding e;
    pb_error err;
    int d = 4;
    CHECK(enc_make(&e, name, enc_geom(d, 2, 1, 16), spec, NULL, &err) == 0, "%s", err.msg);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 7);
    float *params = calloc((size_t)e.n_params, sizeof(float));
    float *grad = calloc((size_t)e.n_params, sizeof(float));
    e.type->init_params(&e, params, rng);
    int pos[] = {3, 0, 3, 9, 1, 15}; /* repeats accumulate */
    int T = 6;
    float w[6 * 4];
    unsigned long long s = 11;
    enc_fill(w, (size_t)T * d, &s, -1, 1);
    CHECK(pb_encoding_prepare(&e, 16, &err) == 0, "%s", err.msg);
    e.type->input_backward(&e, params, pos, T, w, grad);
    table_ctx ctx = {&e, pos, T, w};
    size_t worst;
    double ge = gradcheck_max_error(table_loss, &ctx, params, grad, (size_t)e.n_params,
                                    1e-2, 1e-3, &worst);
    CHECK(ge < 1e-3, "%s: table gradient (max rel err %g at %zu)", name, ge, worst);
    /* Rows no position reads get no gradient; row 3 gets both uses. */
    CHECK(grad[2 * d] == 0.0f, "%s: unused row has zero gradient", name);
    CHECK_CLOSE(grad[3 * d + 1], (double)w[0 * d + 1] + w[2 * d + 1], 1e-6,
                "repeated position accumulates");
    /* Forward reads the row of the position. */
    float x[6 * 4];
    pe_rows(&e, params, pos, T, x);
    CHECK(memcmp(x + 3 * d, params + 9 * d, sizeof(float) * d) == 0, "%s: row 9 for p=9", name);
    free(params);
    free(grad);
    gsl_rng_free(rng);
    pb_encoding_destroy(&e);
}

static void test_learned(void) {
    pb_encoding e;
    pb_error err;
    check_table_grad("learned", "");
    check_table_grad("abacus", "size=16");

    CHECK(enc_make(&e, "learned", enc_geom(8, 2, 1, 256), "", NULL, &err) == 0, "%s", err.msg);
    CHECK(e.n_params == 256 * 8, "learned: default size = max_len (n_params %d)", e.n_params);
    CHECK(pb_encoding_prepare(&e, 256, &err) == 0, "positions < 256 fit");
    CHECK(pb_encoding_prepare(&e, 301, &err) == -1 &&
              contains(err.msg, "learned: position 300 is beyond the learned table (size 256)"),
          "beyond the table: %s", err.msg);
    /* Init: N(0, 0.02), the same bits for the same seed. */
    gsl_rng *r1 = gsl_rng_alloc(gsl_rng_mt19937), *r2 = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r1, 42);
    gsl_rng_set(r2, 42);
    float *a = malloc(sizeof(float) * 2048), *b = malloc(sizeof(float) * 2048);
    e.type->init_params(&e, a, r1);
    e.type->init_params(&e, b, r2);
    CHECK(memcmp(a, b, sizeof(float) * 2048) == 0, "same seed, same table");
    double m = 0, v = 0;
    for (int i = 0; i < 2048; i++) m += a[i];
    m /= 2048;
    for (int i = 0; i < 2048; i++) v += (a[i] - m) * (a[i] - m);
    CHECK(fabs(m) < 0.002 && fabs(sqrt(v / 2047) - 0.02) < 0.002,
          "init N(0, 0.02): mean %g std %g", m, sqrt(v / 2047));
    free(a);
    free(b);
    gsl_rng_free(r1);
    gsl_rng_free(r2);
    pb_encoding_destroy(&e);

    CHECK(enc_make(&e, "abacus", enc_geom(8, 2, 1, 32), "", NULL, &err) == 0, "%s", err.msg);
    CHECK(e.n_params == 128 * 8, "abacus: default size 128");
    CHECK(pb_encoding_prepare(&e, 201, &err) == -1 &&
              contains(err.msg, "abacus: position 200 is beyond the learned table (size 128)"),
          "abacus beyond the table: %s", err.msg);
    pb_encoding_destroy(&e);
    CHECK(enc_make(&e, "learned", enc_geom(8, 2, 1, 32), "size=0", NULL, &err) == -1 &&
              contains(err.msg, "size=0"),
          "size=0 rejected: %s", err.msg);
}

static void test_unknown_option(void) {
    pb_encoding e;
    pb_error err;
    CHECK(enc_make(&e, "sinusoidal", enc_geom(8, 2, 1, 64), "bsae=3", NULL, &err) == -1 &&
              contains(err.msg, "'bsae'") && contains(err.msg, "valid options: base"),
          "unknown option lists valid ones: %s", err.msg);
    CHECK(enc_make(&e, "binary", enc_geom(8, 2, 1, 64), "bit=3", NULL, &err) == -1 &&
              contains(err.msg, "bits, signed"),
          "binary lists bits, signed: %s", err.msg);
    CHECK(enc_make(&e, "integer", enc_geom(8, 2, 1, 64), "scale=3", NULL, &err) == -1 &&
              contains(err.msg, "valid options: none"),
          "integer takes no options: %s", err.msg);
}

/* Each row of a batch depends on its own position only, whatever the others. */
static void test_shifted_positions(void) {
    const char *names[] = {"integer", "binary", "sinusoidal", "learned"};
    for (size_t i = 0; i < 4; i++) {
        pb_encoding e;
        pb_error err;
        int d = 8;
        CHECK(enc_make(&e, names[i], enc_geom(d, 2, 1, 1100), "", NULL, &err) == 0, "%s",
              err.msg);
        float *params = calloc((size_t)e.n_params + 1, sizeof(float));
        unsigned long long s = 5;
        enc_fill(params, (size_t)e.n_params, &s, -1, 1);
        int pos[5] = {1000, 1001, 1002, 1050, 1099};
        float x[5 * 8], one[8];
        pe_rows(&e, params, pos, 5, x);
        int ok = 1;
        for (int t = 0; t < 5; t++) {
            pe_rows(&e, params, &pos[t], 1, one);
            ok &= memcmp(one, x + t * d, sizeof one) == 0;
        }
        CHECK(ok, "%s: positions shifted by 1000 read as given", names[i]);
        free(params);
        pb_encoding_destroy(&e);
    }
}

static void test_precision(void) {
    pb_precision prec;
    pb_format bf16;
    pb_error err;
    pb_precision_init(&prec);
    CHECK(pb_format_parse("bf16", &bf16, &err) == 0, "%s", err.msg);
    CHECK(pb_precision_set(&prec, "positions", &bf16, &err) == 0, "%s", err.msg);
    pb_encoding e;
    CHECK(enc_make(&e, "integer", enc_geom(4, 2, 1, 64), "", &prec, &err) == 0, "%s", err.msg);
    int pos[] = {256, 257};
    float x[8];
    pe_rows(&e, NULL, pos, 2, x);
    CHECK(x[0] == 256.0f && x[4] == 256.0f, "bf16 positions: 257 reads as 256 (%g)", x[4]);
    pb_encoding_destroy(&e);

    CHECK(enc_make(&e, "learned", enc_geom(4, 2, 1, 300), "", &prec, &err) == 0, "%s",
          err.msg);
    float *params = calloc((size_t)e.n_params, sizeof(float));
    for (int i = 0; i < e.n_params; i++) params[i] = (float)(i / 4);
    pe_rows(&e, params, pos, 2, x);
    CHECK(x[4] == 256.0f, "bf16 positions: p=257 reads row 256 (%g)", x[4]);
    free(params);
    pb_encoding_destroy(&e);

    pb_precision_init(&prec);
    CHECK(pb_precision_set(&prec, "tables", &bf16, &err) == 0, "%s", err.msg);
    CHECK(enc_make(&e, "sinusoidal", enc_geom(8, 2, 1, 64), "scale=1", &prec, &err) == 0, "%s",
          err.msg);
    float y[8];
    int p = 3;
    pe_rows(&e, NULL, &p, 1, y);
    int ok = 1;
    for (int c = 0; c < 8; c++) ok &= y[c] == pb_format_round(&bf16, y[c], 0, 0);
    CHECK(ok && fabsf(y[0] - sinf(3)) < 4e-3 && y[0] != sinf(3.0f),
          "bf16 tables: sin/cos values rounded to bf16 (%.9g)", y[0]);
    pb_encoding_destroy(&e);
}

/* Cases for scripts/torch_enc/additive.py: PE rows and table gradients. */
static int dump_cases(const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return 1;
    }
    struct {
        const char *name, *spec;
        int d, two_d;
    } cases[] = {
        {"integer", "", 8, 0},         {"integer_norm", "", 8, 0},
        {"binary", "bits=5", 12, 0},   {"binary", "bits=4,signed=1", 8, 0},
        {"sinusoidal", "", 16, 0},     {"sinusoidal", "base=500", 12, 0},
        {"learned", "", 8, 0},         {"learned", "size=40", 6, 0},
        {"abacus", "", 8, 0},          {"sinusoidal2d", "", 16, 1},
        {"sinusoidal2d", "base=100", 8, 1},
    };
    unsigned long long s = 99;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        pb_encoding e;
        pb_error err;
        pb_geometry g = enc_geom(cases[i].d, 2, 1, 32);
        if (enc_make(&e, cases[i].name, g, cases[i].spec, NULL, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            fclose(f);
            return 1;
        }
        int T = 7, pd = e.type->pos_dims;
        int pos[14];
        for (int t = 0; t < T * pd; t++) pos[t] = (int)enc_rand(&s, 0, 32);
        float *params = calloc((size_t)e.n_params + 1, sizeof(float));
        float *grad = calloc((size_t)e.n_params + 1, sizeof(float));
        enc_fill(params, (size_t)e.n_params, &s, -1, 1);
        float out[7 * 16], dout[7 * 16];
        pe_rows(&e, params, pos, T, out);
        enc_fill(dout, (size_t)T * g.d, &s, -1, 1);
        e.type->input_backward(&e, params, pos, T, dout, grad);
        json_case_open(f, cases[i].name, cases[i].spec, &g);
        fprintf(f, "\"n_params\": %d, \"T\": %d, \"pos_dims\": %d, ", e.n_params, T, pd);
        json_ints(f, "pos", pos, (size_t)T * pd);
        fprintf(f, ", ");
        json_case_close(f, params, e.n_params, out, dout, (size_t)T * g.d, grad);
        free(params);
        free(grad);
        pb_encoding_destroy(&e);
    }
    return fclose(f) != 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--dump") == 0) return dump_cases(argv[2]);
    test_registry();
    test_integer();
    test_binary();
    test_sinusoidal();
    test_sinusoidal2d();
    test_learned();
    test_unknown_option();
    test_shifted_positions();
    test_precision();
    return check_summary("test_enc_additive");
}
