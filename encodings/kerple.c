/* KERPLE (Chi et al. 2022): conditionally positive definite kernels of the
 * distance, learned per head.
 *
 *   kerple_log:    bias[h, i, j] = -r1_h ln(1 + r2_h |p_i - p_j|),  r1, r2 > 0
 *   kerple_power:  bias[h, i, j] = -r1_h |p_i - p_j|^r2_h,           r1 > 0, 0 < r2 <= 2
 *
 * The same |p_i - p_j| serves causal and bidirectional models (the causal
 * mask hides j > i).
 *
 * Parametrisation: the parameters are unconstrained and mapped so the
 * constraints hold by construction (the paper clamps instead):
 *   kerple_log:    params [u1[H], u2[H]], r1 = softplus(u1), r2 = softplus(u2)
 *   kerple_power:  params [u1[H], a[H]],  r1 = softplus(u1), r2 = 2 sigmoid(a)
 * init: r1 = r2 = 1 (u = ln(e - 1), a = 0) in every head, options r1 and r2
 * change that.
 *
 * Computed in double. Precision: positions are rounded at
 * PB_SITE_POSITIONS, the finished bias at PB_SITE_TABLES (straight-through). */
#include "encoding.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define KERPLE_MAX_HEADS 1024

typedef struct {
    double init_u1, init_u2; /* unconstrained initial values */
} kerple_state;

static const char *const kerple_options[] = {"r1", "r2", NULL};

static double softplus(double u) {
    return u > 0 ? u + log1p(exp(-u)) : log1p(exp(u));
}
static double sigmoid(double u) {
    return 1.0 / (1.0 + exp(-u));
}

static int kerple_create(pb_encoding *e, const pb_opts *o, int power, pb_error *err) {
    const char *name = e->type->name;
    char what[64];
    snprintf(what, sizeof what, "encoding '%s'", name);
    kerple_state *s = calloc(1, sizeof *s);
    if (!s) return pb_fail(err, "%s: out of memory", name);
    e->state = s;
    if (e->g.heads < 1 || e->g.heads > KERPLE_MAX_HEADS)
        return pb_fail(err, "%s: heads=%d must be in [1, %d]", name, e->g.heads,
                       KERPLE_MAX_HEADS);
    double r1, r2;
    if (pb_opts_num(o, "r1", 1.0, &r1, what, err)) return -1;
    if (pb_opts_num(o, "r2", 1.0, &r2, what, err)) return -1;
    if (!(r1 > 0) || isinf(r1))
        return pb_fail(err, "%s: option r1=%g must be a positive number", name, r1);
    if (power ? !(r2 > 0 && r2 < 2) : !(r2 > 0) || isinf(r2))
        return pb_fail(err, "%s: option r2=%g must be %s", name, r2,
                       power ? "in (0, 2) (r2 = 2 sigmoid(a) never reaches 2)"
                             : "a positive number");
    s->init_u1 = log(expm1(r1));
    s->init_u2 = power ? log(r2 / (2 - r2)) : log(expm1(r2));
    e->n_params = 2 * e->g.heads;
    return 0;
}

static int kerple_log_create(pb_encoding *e, const pb_opts *o, pb_error *err) {
    return kerple_create(e, o, 0, err);
}
static int kerple_power_create(pb_encoding *e, const pb_opts *o, pb_error *err) {
    return kerple_create(e, o, 1, err);
}

static void kerple_destroy(pb_encoding *e) {
    free(e->state);
    e->state = NULL;
}

static void kerple_init_params(const pb_encoding *e, float *params, gsl_rng *rng) {
    (void)rng;
    const kerple_state *s = e->state;
    int H = e->g.heads;
    for (int h = 0; h < H; h++) {
        params[h] = (float)s->init_u1;
        params[H + h] = (float)s->init_u2;
    }
}

/* Per-head constrained values from the parameters. */
static void kerple_coefs(const pb_encoding *e, const float *params, int power,
                         double *r1, double *r2) {
    int H = e->g.heads;
    for (int h = 0; h < H; h++) {
        r1[h] = softplus(params[h]);
        r2[h] = power ? 2.0 * sigmoid(params[H + h]) : softplus(params[H + h]);
    }
}

static double pair_distance(const pb_encoding *e, int qp, int kp) {
    float pq = pb_round_site1(e->prec, PB_SITE_POSITIONS, (float)qp);
    float pk = pb_round_site1(e->prec, PB_SITE_POSITIONS, (float)kp);
    return fabs((double)pq - (double)pk);
}

/* bias[H][nq][nk] */
static void kerple_forward(const pb_encoding *e, const float *params, int power,
                           const int *qpos, int nq, const int *kpos, int nk,
                           float *bias) {
    double r1[KERPLE_MAX_HEADS], r2[KERPLE_MAX_HEADS];
    kerple_coefs(e, params, power, r1, r2);
    int H = e->g.heads;
    size_t plane = (size_t)nq * nk;
    for (int a = 0; a < nq; a++)
        for (int b = 0; b < nk; b++) {
            double n = pair_distance(e, qpos[a], kpos[b]);
            for (int h = 0; h < H; h++)
                bias[h * plane + (size_t)a * nk + b] =
                    (float)(power ? -r1[h] * pow(n, r2[h]) : -r1[h] * log1p(r2[h] * n));
        }
    pb_round_site(e->prec, PB_SITE_TABLES, bias, (size_t)H * plane);
}

/* du1[h] += sum dbias * d(bias)/d(r1) * r1'(u1), likewise for r2. */
static void kerple_backward(const pb_encoding *e, const float *params, int power,
                            const int *qpos, int nq, const int *kpos, int nk,
                            const float *dbias, float *dparams) {
    double r1[KERPLE_MAX_HEADS], r2[KERPLE_MAX_HEADS];
    kerple_coefs(e, params, power, r1, r2);
    int H = e->g.heads;
    size_t plane = (size_t)nq * nk;
    for (int h = 0; h < H; h++) {
        double dr1 = 0, dr2 = 0;
        for (int a = 0; a < nq; a++)
            for (int b = 0; b < nk; b++) {
                double g = dbias[h * plane + (size_t)a * nk + b];
                if (g == 0) continue;
                double n = pair_distance(e, qpos[a], kpos[b]);
                if (power) {
                    if (n <= 0) continue; /* 0^r2 = 0: no gradient */
                    double nr = pow(n, r2[h]);
                    dr1 -= g * nr;
                    dr2 -= g * r1[h] * nr * log(n);
                } else {
                    dr1 -= g * log1p(r2[h] * n);
                    dr2 -= g * r1[h] * n / (1.0 + r2[h] * n);
                }
            }
        double s2 = sigmoid(params[H + h]);
        dparams[h] += (float)(dr1 * sigmoid(params[h]));
        dparams[H + h] += (float)(power ? dr2 * 2.0 * s2 * (1.0 - s2) : dr2 * s2);
    }
}

static void kerple_log_bias_forward(const pb_encoding *e, const float *params,
                                    const int *qpos, int nq, const int *kpos, int nk,
                                    float *bias) {
    kerple_forward(e, params, 0, qpos, nq, kpos, nk, bias);
}
static void kerple_log_bias_backward(const pb_encoding *e, const float *params,
                                     const int *qpos, int nq, const int *kpos, int nk,
                                     const float *dbias, float *dparams) {
    kerple_backward(e, params, 0, qpos, nq, kpos, nk, dbias, dparams);
}
static void kerple_power_bias_forward(const pb_encoding *e, const float *params,
                                      const int *qpos, int nq, const int *kpos, int nk,
                                      float *bias) {
    kerple_forward(e, params, 1, qpos, nq, kpos, nk, bias);
}
static void kerple_power_bias_backward(const pb_encoding *e, const float *params,
                                       const int *qpos, int nq, const int *kpos, int nk,
                                       const float *dbias, float *dparams) {
    kerple_backward(e, params, 1, qpos, nq, kpos, nk, dbias, dparams);
}

const pb_encoding_type pb_enc_kerple_log = {
    .name = "kerple_log",
    .summary = "logit += -r1 ln(1 + r2 |i - j|), r1, r2 > 0 learned per head",
    .reference = "Chi et al. 2022, KERPLE: Kernelized Relative Positional Embedding",
    .options_doc = "r1=1 r2=1  (initial values; params [u1[H], u2[H]], r = softplus(u))",
    .options = kerple_options,
    .sites = PB_ENC_BIAS,
    .pos_dims = 1,
    .create = kerple_log_create,
    .destroy = kerple_destroy,
    .init_params = kerple_init_params,
    .bias_forward = kerple_log_bias_forward,
    .bias_backward = kerple_log_bias_backward,
};

const pb_encoding_type pb_enc_kerple_power = {
    .name = "kerple_power",
    .summary = "logit += -r1 |i - j|^r2, r1 > 0, 0 < r2 <= 2 learned per head",
    .reference = "Chi et al. 2022, KERPLE: Kernelized Relative Positional Embedding",
    .options_doc = "r1=1 r2=1  (initial values; params [u1[H], a[H]], r1 = softplus(u1), "
                   "r2 = 2 sigmoid(a))",
    .options = kerple_options,
    .sites = PB_ENC_BIAS,
    .pos_dims = 1,
    .create = kerple_power_create,
    .destroy = kerple_destroy,
    .init_params = kerple_init_params,
    .bias_forward = kerple_power_bias_forward,
    .bias_backward = kerple_power_bias_backward,
};
