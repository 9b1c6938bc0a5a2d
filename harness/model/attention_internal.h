/* Row operations shared by attention.c and attention_local.c. */
#ifndef PB_ATTENTION_INTERNAL_H
#define PB_ATTENTION_INTERNAL_H

#include <math.h>

#include "../core/kernels.h"

/* Masked, numerically stable softmax of one row of n scores in place; the
 * first `valid` entries take part, the rest become 0 (the kernel set's). */
static inline void pb_softmax_row(float *row, int valid, int n) {
    pb_kernels_active()->softmax_row(row, valid, n);
}

/* Softmax backward of one row: ds = p * (ds - sum_j p ds) on the first
 * `valid` entries, 0 up to n. */
static inline void pb_softmax_row_backward(float *ds, const float *p, int valid, int n) {
    pb_kernels_active()->softmax_row_backward(ds, p, valid, n);
}

/* x <- c tanh(x / c) on n entries. */
static inline void pb_softcap_row(float *x, int n, float c) {
    for (int j = 0; j < n; j++) x[j] = c * tanhf(x[j] / c);
}

/* dS *= d cap / d x, from the capped logits y: 1 - (y / c)^2. */
static inline void pb_softcap_grad_row(float *ds, const float *y, int n, float c) {
    for (int j = 0; j < n; j++) {
        float t = y[j] / c;
        ds[j] *= 1.0f - t * t;
    }
}

#endif
