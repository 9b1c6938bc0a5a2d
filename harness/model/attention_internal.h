/* Row operations shared by attention.c and attention_local.c. */
#ifndef PB_ATTENTION_INTERNAL_H
#define PB_ATTENTION_INTERNAL_H

#include <math.h>

#include "../core/fastmath.h"

/* Masked, numerically stable softmax of one row of n scores in place; the
 * first `valid` entries take part, the rest become 0. */
static inline void pb_softmax_row(float *row, int valid, int n) {
    float mx = -INFINITY;
    for (int j = 0; j < valid; j++) mx = row[j] > mx ? row[j] : mx;
    float sum = 0.0f;
    for (int j = 0; j < valid; j++) {
        row[j] = pb_expf(row[j] - mx);
        sum += row[j];
    }
    float inv = 1.0f / sum;
    for (int j = 0; j < valid; j++) row[j] *= inv;
    for (int j = valid; j < n; j++) row[j] = 0.0f;
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
