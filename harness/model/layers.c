#include "../core/parallel.h"
#include "layers.h"

#include "../core/kernels.h"

#include <math.h>
#include <omp.h>
#include <string.h>

/* Each loop hands its rows (or its share of the elements) to the kernel
 * set in use (core/kernels.h); the split depends only on sizes and the
 * thread count. */

void pb_layernorm_forward(float *out, float *mean, float *rstd, const float *x,
                          const float *w, const float *b, int N, int C) {
    const pb_kernels *k = pb_kernels_active();
#pragma omp parallel for schedule(static) if ((long)N * C >= PB_PAR_MIN_ELEMS)
    for (int n = 0; n < N; n++)
        k->layernorm_row(out + (long)n * C, x + (long)n * C, w, b, C, mean + n, rstd + n);
}

void pb_layernorm_backward(float *dx, float *dw, float *db, const float *dout,
                           const float *x, const float *w, const float *mean,
                           const float *rstd, int N, int C) {
    const pb_kernels *k = pb_kernels_active();
#pragma omp parallel if ((long)N * C >= PB_PAR_MIN_ELEMS)
    {
#pragma omp for schedule(static)
        for (int n = 0; n < N; n++)
            k->layernorm_row_backward(dx + (long)n * C, dout + (long)n * C, x + (long)n * C,
                                      w, mean[n], rstd[n], C);
        /* dw, db: each thread owns a block of columns and walks the rows in
         * order, so sums are contiguous (vectorised) and deterministic */
        int nt = omp_get_num_threads(), t = omp_get_thread_num();
        int lo = (int)((long)C * t / nt), hi = (int)((long)C * (t + 1) / nt);
        for (int n = 0; n < N; n++) {
            const float *gn = dout + (long)n * C, *xn = x + (long)n * C;
            float m = mean[n], s = rstd[n];
            for (int c = lo; c < hi; c++) {
                dw[c] += gn[c] * (xn[c] - m) * s;
                db[c] += gn[c];
            }
        }
    }
}

void pb_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w,
                        int N, int C) {
    const pb_kernels *k = pb_kernels_active();
#pragma omp parallel for schedule(static) if ((long)N * C >= PB_PAR_MIN_ELEMS)
    for (int n = 0; n < N; n++)
        k->rmsnorm_row(out + (long)n * C, x + (long)n * C, w, C, rstd + n);
}

void pb_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x,
                         const float *w, const float *rstd, int N, int C) {
    const pb_kernels *k = pb_kernels_active();
#pragma omp parallel if ((long)N * C >= PB_PAR_MIN_ELEMS)
    {
#pragma omp for schedule(static)
        for (int n = 0; n < N; n++)
            k->rmsnorm_row_backward(dx + (long)n * C, dout + (long)n * C, x + (long)n * C, w,
                                    rstd[n], C);
        int nt = omp_get_num_threads(), t = omp_get_thread_num();
        int lo = (int)((long)C * t / nt), hi = (int)((long)C * (t + 1) / nt);
        for (int n = 0; n < N; n++) {
            const float *gn = dout + (long)n * C, *xn = x + (long)n * C;
            float s = rstd[n];
            for (int c = lo; c < hi; c++) dw[c] += gn[c] * xn[c] * s;
        }
    }
}

/* Element-wise loops: one contiguous share per thread, starting at a
 * multiple of 16 elements (whole vectors); the last thread takes the rest.
 * Called inside the parallel region: the calling thread's [*lo, *lo + *len). */
#define SHARE(n, nt, t) ((n) * (t) / (nt) / 16 * 16)
static void thread_share(long n, long *lo, long *len) {
    int nt = omp_get_num_threads(), t = omp_get_thread_num();
    long hi = t + 1 == nt ? n : SHARE(n, nt, t + 1);
    *lo = SHARE(n, nt, t);
    *len = hi - *lo;
}

void pb_gelu_forward(float *out, const float *x, long n) {
    const pb_kernels *k = pb_kernels_active();
#pragma omp parallel if (n >= PB_PAR_MIN_ELEMS)
    {
        long lo, len;
        thread_share(n, &lo, &len);
        k->gelu_forward(out + lo, x + lo, len);
    }
}

void pb_gelu_backward(float *dx, const float *x, const float *dout, long n) {
    const pb_kernels *k = pb_kernels_active();
#pragma omp parallel if (n >= PB_PAR_MIN_ELEMS)
    {
        long lo, len;
        thread_share(n, &lo, &len);
        k->gelu_backward(dx + lo, x + lo, dout + lo, len);
    }
}

void pb_gelu_forward_keep(float *out, float *x, long n) {
    const pb_kernels *k = pb_kernels_active();
#pragma omp parallel if (n >= PB_PAR_MIN_ELEMS)
    {
        long lo, len;
        thread_share(n, &lo, &len);
        k->gelu_forward_keep(out + lo, x + lo, len);
    }
}

void pb_mul_forward(float *out, const float *a, const float *b, long n) {
    const pb_kernels *k = pb_kernels_active();
#pragma omp parallel if (n >= PB_PAR_MIN_ELEMS)
    {
        long lo, len;
        thread_share(n, &lo, &len);
        k->mul(out + lo, a + lo, b + lo, len);
    }
}

void pb_residual_forward(float *out, const float *a, const float *b, long n) {
    const pb_kernels *k = pb_kernels_active();
#pragma omp parallel if (n >= PB_PAR_MIN_ELEMS)
    {
        long lo, len;
        thread_share(n, &lo, &len);
        k->add(out + lo, a + lo, b + lo, len);
    }
}

double pb_crossentropy_forward(float *logits, float *losses, const int *targets,
                               const float *mask, int N, int V) {
    const pb_kernels *k = pb_kernels_active();
    double mask_sum = 0.0;
    for (int n = 0; n < N; n++) mask_sum += mask[n];
#pragma omp parallel for schedule(static) if ((long)N * V >= PB_PAR_MIN_ELEMS)
    for (int n = 0; n < N; n++) {
        float loss = k->xent_row(logits + (long)n * V, V, targets[n]);
        losses[n] = mask[n] != 0.0f ? loss : 0.0f;
    }
    return mask_sum;
}

void pb_crossentropy_backward(float *dlogits, const float *probs,
                              const int *targets, const float *mask, double mask_sum,
                              int N, int V) {
    float scale = mask_sum > 0 ? (float)(1.0 / mask_sum) : 0.0f;
#pragma omp parallel for schedule(static) if ((long)N * V >= PB_PAR_MIN_ELEMS)
    for (int n = 0; n < N; n++) {
        float *d = dlogits + (long)n * V;
        if (mask[n] == 0.0f) {
            memset(d, 0, sizeof(float) * V);
            continue;
        }
        float s = mask[n] * scale;
        const float *p = probs + (long)n * V;
        for (int v = 0; v < V; v++) d[v] = p[v] * s;
        d[targets[n]] -= s;
    }
}
