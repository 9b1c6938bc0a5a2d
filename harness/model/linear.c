#include "../core/parallel.h"
#include "linear.h"

#include <omp.h>

#include "../core/blas.h"
#include "../core/kernels.h"

/* The kernel set's GEMM (core/kernels.h) when it has one and the output
 * width is a multiple of 16, else BLAS. Either way every thread owns its
 * rows, so results are fixed for a fixed thread count; with the kernel
 * set's GEMM they do not depend on the thread count either. */
static const pb_kernels *gemm_for(int width) {
    const pb_kernels *k = pb_kernels_active();
    return k->gemm && width % 16 == 0 ? k : NULL;
}

/* w[OC,C] transposed to [C,OC] for the forward's GEMM, in the calling
 * thread's buffer (kernels.h). */
static const float *transposed(const float *w, int OC, int C) {
    float *buf = pb_kernels_buffer(0, (size_t)OC * C);
    if (!buf) return NULL;
    for (int c = 0; c < C; c++) /* contiguous writes, strided reads */
        for (int o = 0; o < OC; o++) buf[(size_t)c * OC + o] = w[(size_t)o * C + c];
    return buf;
}

/* Rows [lo, hi) of n split into nt near-equal parts. */
static void split(int n, int nt, int t, int *lo, int *hi) {
    *lo = (int)((long)n * t / nt);
    *hi = (int)((long)n * (t + 1) / nt);
}

void pb_linear_forward(float *out, const float *inp, const float *w,
                       const float *bias, int N, int C, int OC) {
    const pb_kernels *k = gemm_for(OC);
    const float *wt = k ? transposed(w, OC, C) : NULL;
#pragma omp parallel if (2.0 * N * C * OC >= PB_PAR_MIN_FLOPS)
    {
        int lo, hi;
        split(N, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        if (hi > lo && wt) {
            k->gemm(hi - lo, OC, C, inp + (long)lo * C, C, 1, wt, OC, out + (long)lo * OC, OC,
                    bias, 0);
        } else if (hi > lo) {
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
    const pb_kernels *k = gemm_for(C);
#pragma omp parallel if (4.0 * N * C * OC >= PB_PAR_MIN_FLOPS)
    {
        int nt = omp_get_num_threads(), t = omp_get_thread_num(), lo, hi;
        if (dinp) {
            split(N, nt, t, &lo, &hi);
            if (k)
                k->gemm(hi - lo, C, OC, dout + (long)lo * OC, OC, 1, w, C, dinp + (long)lo * C, C,
                        NULL, 0);
            else
                pb_sgemm(0, 0, hi - lo, C, OC, 1.0f, dout + (long)lo * OC, OC, w, C, 0.0f,
                         dinp + (long)lo * C, C);
        }
        /* Weight rows are split between threads, so each reduction over N
         * runs in one thread in a fixed order. */
        split(OC, nt, t, &lo, &hi);
        if (k)
            k->gemm(hi - lo, C, N, dout + lo, 1, OC, inp, C, dw + (long)lo * C, C, NULL, 1);
        else
            pb_sgemm(1, 0, hi - lo, C, N, 1.0f, dout + lo, OC, inp, C, 1.0f, dw + (long)lo * C,
                     C);
        if (dbias) /* row by row: contiguous, vectorised, same order */
            for (int n = 0; n < N; n++)
                for (int o = lo; o < hi; o++) dbias[o] += dout[(long)n * OC + o];
    }
}
