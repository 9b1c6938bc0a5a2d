#include "../core/parallel.h"
#include "linear.h"

#include <omp.h>

#include "../core/blas.h"

/* Rows [lo, hi) of n split into nt near-equal parts. */
static void split(int n, int nt, int t, int *lo, int *hi) {
    *lo = (int)((long)n * t / nt);
    *hi = (int)((long)n * (t + 1) / nt);
}

void pb_linear_forward(float *out, const float *inp, const float *w,
                       const float *bias, int N, int C, int OC) {
#pragma omp parallel if (2.0 * N * C * OC >= PB_PAR_MIN_FLOPS)
    {
        int lo, hi;
        split(N, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        if (hi > lo) {
            if (bias) {
                for (int n = lo; n < hi; n++)
                    for (int o = 0; o < OC; o++) out[(long)n * OC + o] = bias[o];
            }
            pb_sgemm(0, 1, hi - lo, OC, C, 1.0f, inp + (long)lo * C, C, w, C,
                     bias ? 1.0f : 0.0f, out + (long)lo * OC, OC);
        }
    }
}

void pb_linear_backward(float *dinp, float *dw, float *dbias, const float *dout,
                        const float *inp, const float *w, int N, int C, int OC) {
#pragma omp parallel if (4.0 * N * C * OC >= PB_PAR_MIN_FLOPS)
    {
        int nt = omp_get_num_threads(), t = omp_get_thread_num(), lo, hi;
        if (dinp) {
            split(N, nt, t, &lo, &hi);
            pb_sgemm(0, 0, hi - lo, C, OC, 1.0f, dout + (long)lo * OC, OC, w, C, 0.0f,
                     dinp + (long)lo * C, C);
        }
        /* Weight rows are split between threads, so each reduction over N
         * runs in one thread in a fixed order. */
        split(OC, nt, t, &lo, &hi);
        pb_sgemm(1, 0, hi - lo, C, N, 1.0f, dout + lo, OC, inp, C, 1.0f,
                 dw + (long)lo * C, C);
        if (dbias) /* row by row: contiguous, vectorised, same order */
            for (int n = 0; n < N; n++)
                for (int o = lo; o < hi; o++) dbias[o] += dout[(long)n * OC + o];
    }
}
