/* Linear relation and shift invariance (see metrics_linear.h). */
#include "metrics_linear.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_multifit.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_score.h"

int pb_metric_linear_residual(const float *x, int n, int w, int k, double *rel_residual,
                              pb_error *err) {
    int rows = n - k;
    if (k < 1 || rows <= w)
        return pb_fail(err,
                       "linear residual: need offset k >= 1 and more fitted rows than "
                       "columns (n - k = %d, width %d); use more positions",
                       rows, w);
    gsl_matrix *X = gsl_matrix_alloc((size_t)rows, (size_t)w);
    gsl_vector *y = gsl_vector_alloc((size_t)rows);
    gsl_vector *c = gsl_vector_alloc((size_t)w);
    gsl_matrix *cov = gsl_matrix_alloc((size_t)w, (size_t)w);
    gsl_multifit_linear_workspace *ws = gsl_multifit_linear_alloc((size_t)rows, (size_t)w);
    int rc = 0;
    if (!X || !y || !c || !cov || !ws) {
        rc = pb_fail(err, "linear residual: out of memory for a %d x %d fit", rows, w);
        goto done;
    }
    for (int p = 0; p < rows; p++)
        for (int i = 0; i < w; i++) gsl_matrix_set(X, (size_t)p, (size_t)i, x[(size_t)p * w + i]);
    double chisq_sum = 0.0, norm_sum = 0.0;
    for (int j = 0; j < w; j++) {
        double yy = 0.0;
        for (int p = 0; p < rows; p++) {
            double v = x[(size_t)(p + k) * w + j];
            gsl_vector_set(y, (size_t)p, v);
            yy += v * v;
        }
        norm_sum += yy;
        if (yy == 0.0) continue; /* an all-zero target column is fitted exactly */
        double chisq;
        /* GSL's default handler aborts; library code reports instead */
        gsl_error_handler_t *old = gsl_set_error_handler_off();
        int st = gsl_multifit_linear(X, y, c, cov, &chisq, ws);
        gsl_set_error_handler(old);
        if (st) {
            rc = pb_fail(err, "linear residual: least-squares fit failed (column %d)", j);
            goto done;
        }
        chisq_sum += chisq;
    }
    *rel_residual = norm_sum > 0.0 ? sqrt(chisq_sum / norm_sum) : 0.0;
done:
    gsl_matrix_free(X);
    gsl_vector_free(y);
    gsl_vector_free(c);
    gsl_matrix_free(cov);
    if (ws) gsl_multifit_linear_free(ws);
    return rc;
}

int pb_metric_dot_variance(const float *x, int n, int w, int k, double *mean,
                           double *var, pb_error *err) {
    int rows = n - k;
    if (k < 0 || rows < 1)
        return pb_fail(err, "dot variance: offset k = %d leaves no pair among %d rows", k, n);
    double s = 0.0, ss = 0.0;
    for (int p = 0; p < rows; p++) {
        const float *a = x + (size_t)p * w, *b = x + (size_t)(p + k) * w;
        double dot = 0.0;
        for (int i = 0; i < w; i++) dot += (double)a[i] * b[i];
        s += dot;
        ss += dot * dot;
    }
    double m = s / rows;
    double v = ss / rows - m * m;
    *mean = m;
    *var = v > 0.0 ? v : 0.0;
    return 0;
}

int pb_metric_shift_invariance(pb_encoding *e, const float *params, int L, int S,
                               int samples, gsl_rng *rng, pb_shift_result *r,
                               pb_error *err) {
    if (L < 1 || S < 1 || samples < 1)
        return pb_fail(err, "shift invariance: length, shift and samples must be >= 1 "
                            "(got %d, %d, %d)", L, S, samples);
    memset(r, 0, sizeof *r);
    pb_pos_score c;
    if (pb_pos_score_init(&c, e, params, L + S, rng, err)) return -1;
    double *s = malloc(sizeof(double) * 2 * (size_t)c.H);
    int rc = -1;
    if (!s) {
        pb_fail(err, "shift invariance: out of memory");
        goto done;
    }
    for (int it = 0; it < samples; it++) {
        int a[2], b[2], a2[2], b2[2];
        for (int j = 0; j < c.pd; j++) {
            int sh = 1 + (int)gsl_rng_uniform_int(rng, (unsigned long)S);
            a[j] = (int)gsl_rng_uniform_int(rng, (unsigned long)L);
            b[j] = (int)gsl_rng_uniform_int(rng, (unsigned long)L);
            a2[j] = a[j] + sh;
            b2[j] = b[j] + sh;
        }
        if (pb_pos_score_eval(&c, a, b, s, err) || pb_pos_score_eval(&c, a2, b2, s + c.H, err))
            goto done;
        for (int h = 0; h < c.H; h++) {
            double diff = fabs(s[c.H + h] - s[h]);
            if (diff > r->max_abs || diff != diff) r->max_abs = diff;
            if (fabs(s[h]) > r->max_score) r->max_score = fabs(s[h]);
            if (fabs(s[c.H + h]) > r->max_score) r->max_score = fabs(s[c.H + h]);
        }
    }
    r->rel = r->max_score > 0.0 ? r->max_abs / r->max_score : 0.0;
    rc = 0;
done:
    pb_pos_score_free(&c);
    free(s);
    return rc;
}
