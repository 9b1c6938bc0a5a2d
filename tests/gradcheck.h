/* Central-difference gradient checking in double precision.
 *
 * The function under test maps a parameter vector to a scalar loss computed
 * in float; we perturb each parameter by +-h in float and compare
 * (f(x+h) - f(x-h)) / 2h with the analytic gradient. */
#ifndef PB_GRADCHECK_H
#define PB_GRADCHECK_H

#include <math.h>
#include <stddef.h>

typedef double (*gradcheck_fn)(void *ctx, const float *x);

/* Returns the maximum error over x[0..n) measured as
 * |num - ana| / max(abs_floor, |num| + |ana|) — a relative error that does not
 * blow up for gradients that are zero. x is restored on return. */
static inline double gradcheck_max_error(gradcheck_fn f, void *ctx, float *x,
                                         const float *analytic, size_t n,
                                         double h, double abs_floor,
                                         size_t *worst_index) {
    double worst = 0.0;
    if (worst_index) *worst_index = 0;
    for (size_t i = 0; i < n; i++) {
        float saved = x[i];
        x[i] = (float)(saved + h);
        double fp = f(ctx, x);
        x[i] = (float)(saved - h);
        double fm = f(ctx, x);
        double step = (double)(float)(saved + h) - (double)(float)(saved - h);
        x[i] = saved;
        double num = (fp - fm) / step;
        double denom = fabs(num) + fabs((double)analytic[i]);
        if (denom < abs_floor) denom = abs_floor;
        double e = fabs(num - (double)analytic[i]) / denom;
        if (e > worst) {
            worst = e;
            if (worst_index) *worst_index = i;
        }
    }
    return worst;
}

#endif
