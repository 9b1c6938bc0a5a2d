/* Learnable callback encodings (encodings/callback_learn.c) with a host
 * written in C: closed-form functions of known gradient, so the encoding
 * half is checked on its own (distinct arguments, tables, the upstream
 * gradient gathered per argument, backward_end) apart from the Lua host. */
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../encodings/callback.h"
#include "check.h"
#include "enc_test_util.h"
#include "gradcheck.h"

enum { H = 3, D = 12, P = 9 };

static const pb_cb_type *cb(const pb_encoding *e) { return (const pb_cb_type *)e->type; }

/* The closed forms, f(args, params), and their gradients:
 *   bias:      -a_h |i - j| + b_h i   (relative: called with (h, r, 0): -a_h |r| + b_h r)
 *   theta:     theta_k = t_k
 *   angle:     angle(pos, k) = w_k ln(1 + pos)
 *   table:     value(pos, i) = u_i pos + c_i */
static int n_params_of(const pb_encoding *e) {
    switch (cb(e)->form) {
    case PB_CB_BIAS: return 2 * H;
    case PB_CB_TABLE: return 2 * D;
    default: return e->g.d_head / 2;
    }
}

static double value_of(const pb_encoding *e, const float *p, const double *a, float *g,
                       double seed) {
    int k;
    switch (cb(e)->form) {
    case PB_CB_BIAS: {
        int h = (int)a[0] - 1;
        double r = a[1] - a[2], x = a[1] * !cb(e)->relative + r * cb(e)->relative;
        if (g) g[h] += (float)(seed * -fabs(r)), g[H + h] += (float)(seed * x);
        return -p[h] * fabs(r) + p[H + h] * x;
    }
    case PB_CB_TABLE:
        k = (int)a[1];
        if (g) g[k] += (float)(seed * a[0]), g[D + k] += (float)seed;
        return p[k] * a[0] + p[D + k];
    case PB_CB_THETA:
        k = (int)a[0];
        if (g) g[k] += (float)seed;
        return p[k];
    default:
        k = (int)a[1];
        if (g) g[k] += (float)(seed * log1p(a[0]));
        return p[k] * log1p(a[0]);
    }
}

static int host_learn(const pb_encoding *e, pb_cb_request *r, pb_error *err) {
    (void)err;
    switch (r->op) {
    case PB_CB_LAYOUT: r->n_params = n_params_of(e); return 0;
    case PB_CB_INIT:
        for (int i = 0; i < r->n_params; i++) r->params[i] = (float)(0.1 + gsl_rng_uniform(r->rng));
        return 0;
    case PB_CB_EVAL:
        for (int c = 0; c < r->n_calls; c++) r->values[c] = value_of(e, r->params, r->args + 3 * c, NULL, 0);
        return 0;
    default: {
        float *g = calloc((size_t)r->n_params, sizeof(float));
        for (int c = 0; c < r->n_calls; c++) value_of(e, r->params, r->args + 3 * c, g, r->seeds[c]);
        for (int i = 0; i < r->n_params; i++) r->dparams[i] = g[i];
        free(g);
        return 0;
    }
    }
}

static int host_run(const pb_encoding *e, pb_cb_fill fill, void *job, pb_error *err) {
    (void)e, (void)fill, (void)job;
    return pb_fail(err, "not a fixed encoding");
}

static const pb_cb_host host = {.run = host_run, .learn = host_learn};
static const char *const no_options[] = {NULL};

static int make(pb_encoding *e, pb_cb_type *t, pb_cb_form form, int relative, int causal,
                float **params) {
    pb_cb_type_init(t, form, &host, 1, relative);
    t->type.name = "c_learn";
    t->type.options = no_options;
    pb_geometry g = enc_geom(D, H, causal, 16);
    pb_opts o;
    pb_opts_init(&o);
    pb_error err;
    if (pb_encoding_create(e, &t->type, &g, &o, NULL, &err)) {
        CHECK(0, "create: %s", err.msg);
        return -1;
    }
    *params = calloc((size_t)e->n_params, sizeof(float));
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    e->type->init_params(e, *params, rng);
    gsl_rng_free(rng);
    if (pb_encoding_prepare(e, P, &err) || pb_encoding_refresh(e, *params, &err)) {
        CHECK(0, "prepare/refresh: %s", err.msg);
        return -1;
    }
    return 0;
}

/* One forward of the form at fixed positions into out (refreshed first). */
typedef struct {
    pb_encoding *e;
    const float *w;    /* upstream gradient / loss weights */
    const float *x_in; /* qk input [T][D] */
} fctx;

static const int qpos[] = {1, 4, 8, 8}, kpos[] = {0, 1, 4, 7, 8};
static const int tpos[] = {0, 3, 5, 5, 8};
enum { NQ = 4, NK = 5, T = 5 };

static size_t out_size(const pb_encoding *e) {
    return cb(e)->form == PB_CB_BIAS ? (size_t)H * NQ * NK : (size_t)T * D;
}

static void forward(pb_encoding *e, const float *params, const float *x_in, float *out) {
    pb_error err;
    pb_encoding_refresh(e, params, &err);
    switch (cb(e)->form) {
    case PB_CB_BIAS: e->type->bias_forward(e, params, qpos, NQ, kpos, NK, out); return;
    case PB_CB_TABLE:
        memset(out, 0, sizeof(float) * T * D);
        e->type->input_forward(e, params, tpos, T, out);
        return;
    default:
        memcpy(out, x_in, sizeof(float) * T * D);
        e->type->qk_forward(e, params, tpos, T, 0, out, D);
    }
}

static double loss(void *vc, const float *params) {
    fctx *c = vc;
    size_t n = out_size(c->e);
    float *out = malloc(sizeof(float) * n);
    forward(c->e, params, c->x_in, out);
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)c->w[i] * out[i];
    free(out);
    return s;
}

static void check_form(pb_cb_form form, int relative, int causal) {
    const char *what = pb_cb_form_names[form];
    pb_cb_type t;
    pb_encoding e;
    float *p = NULL;
    if (make(&e, &t, form, relative, causal, &p)) return;
    CHECK(e.n_params == n_params_of(&e), "%s: n_params from the host's layout", what);
    unsigned long long s = 99;
    size_t n = out_size(&e);
    float *w = malloc(sizeof(float) * n), *x = malloc(sizeof(float) * T * D);
    float *out = malloc(sizeof(float) * n), *g = calloc((size_t)e.n_params, sizeof(float));
    enc_fill(w, n, &s, -1, 1);
    enc_fill(x, (size_t)T * D, &s, -1, 1);

    /* values: the closed form at every read entry (bias: masked pairs skipped) */
    forward(&e, p, x, out);
    int ok = 1;
    if (form == PB_CB_BIAS) {
        for (int h = 0; h < H; h++)
            for (int a = 0; a < NQ; a++)
                for (int b = 0; b < NK; b++) {
                    if (causal && kpos[b] > qpos[a]) continue;
                    double args[3] = {h + 1, relative ? qpos[a] - kpos[b] : qpos[a],
                                      relative ? 0 : kpos[b]};
                    ok &= out[((size_t)h * NQ + a) * NK + b] == (float)value_of(&e, p, args, NULL, 0);
                }
        CHECK(ok, "bias (relative=%d causal=%d): the host's values by position pair", relative,
              causal);
    } else if (form == PB_CB_TABLE) {
        for (int t2 = 0; t2 < T; t2++)
            for (int i = 0; i < D; i++) {
                double args[3] = {tpos[t2], i, D};
                ok &= out[t2 * D + i] == (float)value_of(&e, p, args, NULL, 0);
            }
        CHECK(ok, "table: the host's values by position");
    }

    /* tables belong to the parameters they were refreshed for */
    float *q = malloc(sizeof(float) * (size_t)e.n_params);
    memcpy(q, p, sizeof(float) * (size_t)e.n_params);
    q[0] += 0.5f;
    if (form == PB_CB_BIAS) e.type->bias_forward(&e, q, qpos, NQ, kpos, NK, out);
    else if (form == PB_CB_TABLE) memset(out, 0, sizeof(float) * n), e.type->input_forward(&e, q, tpos, T, out);
    else memcpy(out, x, sizeof(float) * n), e.type->qk_forward(&e, q, tpos, T, 0, out, D);
    CHECK(isnan(out[0]), "%s: hooks given other parameters than refreshed write NaN", what);

    /* gradient: backward hooks gather, backward_end hands over */
    forward(&e, p, x, out);
    pb_error err;
    if (form == PB_CB_BIAS) {
        e.type->bias_backward(&e, p, qpos, NQ, kpos, NK, w, g);
    } else if (form == PB_CB_TABLE) {
        e.type->input_backward(&e, p, tpos, T, w, g);
    } else {
        float *dx = malloc(sizeof(float) * n);
        memcpy(dx, w, sizeof(float) * n);
        e.type->qk_backward(&e, p, tpos, T, 0, x, D, dx, D, g);
        free(dx);
    }
    int zero = 1;
    for (int i = 0; i < e.n_params; i++) zero &= g[i] == 0;
    CHECK(zero, "%s: backward hooks leave dparams to backward_end", what);
    CHECK(pb_encoding_backward_end(&e, p, g, &err) == 0, "%s: backward_end: %s", what, err.msg);
    fctx c = {&e, w, x};
    size_t worst;
    double ge = gradcheck_max_error(loss, &c, p, g, (size_t)e.n_params, 1e-3, 1e-1, &worst);
    CHECK(ge < 2e-3, "%s (relative=%d causal=%d) gradient: max rel err %g at param %zu", what,
          relative, causal, ge, worst);
    /* backward_end cleared its buffer: a second call adds nothing */
    memset(g, 0, sizeof(float) * (size_t)e.n_params);
    pb_encoding_backward_end(&e, p, g, &err);
    zero = 1;
    for (int i = 0; i < e.n_params; i++) zero &= g[i] == 0;
    CHECK(zero, "%s: backward_end clears the gathered gradient", what);
    free(q);
    free(w);
    free(x);
    free(out);
    free(g);
    free(p);
    pb_encoding_destroy(&e);
}

int main(void) {
    for (int causal = 1; causal >= 0; causal--) {
        check_form(PB_CB_BIAS, 1, causal);
        check_form(PB_CB_BIAS, 0, causal);
    }
    check_form(PB_CB_TABLE, 0, 1);
    check_form(PB_CB_THETA, 0, 1);
    check_form(PB_CB_ANGLE, 0, 1);
    return check_summary("test_enc_callback_learn");
}
