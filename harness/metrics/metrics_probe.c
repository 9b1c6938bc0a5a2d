/* Noise-injection linear probe (see metrics_probe.h). */
#include "metrics_probe.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One noisy sample into f[d+1] (last feature is the constant 1). */
static void draw(const float *table, int n_pos, const float *emb, int vocab, int d,
                 double sd, gsl_rng *rng, double *f, int *p, int *v) {
    *p = (int)gsl_rng_uniform_int(rng, (unsigned long)n_pos);
    *v = (int)gsl_rng_uniform_int(rng, (unsigned long)vocab);
    const float *a = table + (size_t)*p * d, *b = emb + (size_t)*v * d;
    for (int i = 0; i < d; i++) f[i] = (double)a[i] + b[i] + gsl_ran_gaussian_ziggurat(rng, sd);
    f[d] = 1.0;
}

/* E||e_v + PE(p)||^2 / d over uniform p, v, in closed form. */
static double signal_power(const float *table, int n_pos, const float *emb, int vocab,
                           int d) {
    double pp = 0.0, ee = 0.0, cross = 0.0;
    double *mp = calloc((size_t)d, sizeof(double)), *me = calloc((size_t)d, sizeof(double));
    if (!mp || !me) {
        free(mp);
        free(me);
        return NAN;
    }
    for (int p = 0; p < n_pos; p++)
        for (int i = 0; i < d; i++) {
            double x = table[(size_t)p * d + i];
            pp += x * x;
            mp[i] += x / n_pos;
        }
    for (int v = 0; v < vocab; v++)
        for (int i = 0; i < d; i++) {
            double x = emb[(size_t)v * d + i];
            ee += x * x;
            me[i] += x / vocab;
        }
    for (int i = 0; i < d; i++) cross += mp[i] * me[i];
    free(mp);
    free(me);
    return (pp / n_pos + ee / vocab + 2.0 * cross) / d;
}

/* Solve A W = B for the C columns of B (each [D]) in place; A is factored. */
static int solve_columns(gsl_matrix *A, double *B, int D, int C) {
    gsl_vector_view col;
    for (int c = 0; c < C; c++) {
        col = gsl_vector_view_array(B + (size_t)c * D, (size_t)D);
        if (gsl_linalg_cholesky_svx(A, &col.vector)) return -1;
    }
    return 0;
}

static int argmax_score(const double *W, int D, int C, const double *f) {
    int best = 0;
    double bs = -INFINITY;
    for (int c = 0; c < C; c++) {
        const double *w = W + (size_t)c * D;
        double s = 0.0;
        for (int i = 0; i < D; i++) s += w[i] * f[i];
        if (s > bs) {
            bs = s;
            best = c;
        }
    }
    return best;
}

int pb_metric_probe_embeddings(float *emb, size_t n, double sd, unsigned long seed,
                               pb_error *err) {
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!rng) return pb_fail(err, "noise probe: out of memory for a generator");
    gsl_rng_set(rng, seed ^ 0x9e3779b9UL);
    for (size_t i = 0; i < n; i++) {
        double u1 = gsl_rng_uniform_pos(rng), u2 = gsl_rng_uniform(rng);
        emb[i] = (float)(sd * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
    }
    gsl_rng_free(rng);
    return 0;
}

int pb_metric_noise_probe(const float *table, int n_pos, const float *emb, int vocab,
                          int d, const pb_probe_opts *o, gsl_rng *rng,
                          pb_probe_result *r, pb_error *err) {
    if (n_pos < 2 || vocab < 1 || d < 1 || o->n_train < 1 || o->n_test < 1)
        return pb_fail(err, "noise probe: need >= 2 positions, >= 1 token, d >= 1 and "
                            "train/test samples >= 1 (got %d, %d, %d, %d, %d)",
                       n_pos, vocab, d, o->n_train, o->n_test);
    if (!(o->ridge >= 0.0))
        return pb_fail(err, "noise probe: ridge must be >= 0, got %g", o->ridge);
    memset(r, 0, sizeof *r);
    int D = d + 1;
    r->signal_power = signal_power(table, n_pos, emb, vocab, d);
    r->noise_sd = sqrt(r->signal_power / pow(10.0, o->snr_db / 10.0));
    if (!isfinite(r->noise_sd))
        return pb_fail(err, "noise probe: noise level is not finite (snr_db = %g, "
                            "signal power %g)", o->snr_db, r->signal_power);
    gsl_matrix *A = gsl_matrix_calloc((size_t)D, (size_t)D);
    double *Bp = calloc((size_t)D * n_pos, sizeof(double));
    double *Bv = calloc((size_t)D * vocab, sizeof(double));
    double *Br = calloc((size_t)D, sizeof(double));
    double *f = malloc(sizeof(double) * (size_t)D);
    int rc = -1;
    if (!A || !Bp || !Bv || !Br || !f) {
        pb_fail(err, "noise probe: out of memory (%d positions, %d tokens)", n_pos, vocab);
        goto done;
    }
    /* Normal equations, accumulated sample by sample: A = X^T X, B = X^T Y. */
    for (int s = 0; s < o->n_train; s++) {
        int p, v;
        draw(table, n_pos, emb, vocab, d, r->noise_sd, rng, f, &p, &v);
        for (int i = 0; i < D; i++) {
            double *row = gsl_matrix_ptr(A, (size_t)i, 0);
            for (int j = 0; j <= i; j++) row[j] += f[i] * f[j];
            Bp[(size_t)p * D + i] += f[i];
            Bv[(size_t)v * D + i] += f[i];
            Br[i] += f[i] * p;
        }
    }
    double tr = 0.0;
    for (int i = 0; i < D; i++) tr += gsl_matrix_get(A, (size_t)i, (size_t)i);
    double lambda = o->ridge * tr / D;
    for (int i = 0; i < D; i++) {
        for (int j = 0; j < i; j++) gsl_matrix_set(A, (size_t)j, (size_t)i, gsl_matrix_get(A, (size_t)i, (size_t)j));
        *gsl_matrix_ptr(A, (size_t)i, (size_t)i) += lambda > 0.0 ? lambda : 1e-12 * (tr > 0 ? tr : 1.0);
    }
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    int st = gsl_linalg_cholesky_decomp1(A);
    if (!st) st = solve_columns(A, Bp, D, n_pos);
    if (!st) st = solve_columns(A, Bv, D, vocab);
    if (!st) st = solve_columns(A, Br, D, 1);
    gsl_set_error_handler(old);
    if (st) {
        pb_fail(err, "noise probe: the normal equations are singular; raise ridge "
                     "(now %g)", o->ridge);
        goto done;
    }
    long ok_p = 0, ok_v = 0, ok_r = 0;
    for (int s = 0; s < o->n_test; s++) {
        int p, v;
        draw(table, n_pos, emb, vocab, d, r->noise_sd, rng, f, &p, &v);
        ok_p += argmax_score(Bp, D, n_pos, f) == p;
        ok_v += argmax_score(Bv, D, vocab, f) == v;
        double ph = 0.0;
        for (int i = 0; i < D; i++) ph += Br[i] * f[i];
        ok_r += fabs(ph - p) < 0.5;
    }
    r->pos_acc = (double)ok_p / o->n_test;
    r->tok_acc = (double)ok_v / o->n_test;
    r->pos_reg_acc = (double)ok_r / o->n_test;
    rc = 0;
done:
    if (A) gsl_matrix_free(A);
    free(Bp);
    free(Bv);
    free(Br);
    free(f);
    return rc;
}
