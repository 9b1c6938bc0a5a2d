/* QK-norm (qk_norm.h). */
#include "qk_norm.h"

#include <math.h>
#include <string.h>

#include "../core/parallel.h"

void pb_qknorm_forward(float *qkv, float *xhat, float *rstd, const float *w, int N, int d,
                       int H, float eps) {
    const int dh = d / H;
#pragma omp parallel for schedule(static) if ((long)N * d >= PB_PAR_MIN_ELEMS)
    for (int n = 0; n < N; n++) {
        for (int v = 0; v < 2 * H; v++) { /* v < H: heads of q, then of k */
            float *x = qkv + (size_t)n * 3 * d + (size_t)v * dh;
            const float *wv = w ? w + (v < H ? 0 : dh) : NULL;
            double ss = 0.0;
            for (int i = 0; i < dh; i++) ss += (double)x[i] * x[i];
            float r = (float)(1.0 / sqrt(ss / dh + eps));
            if (rstd) rstd[(size_t)n * 2 * H + v] = r;
            for (int i = 0; i < dh; i++) {
                float xh = x[i] * r;
                if (xhat) xhat[(size_t)n * 2 * d + (size_t)v * dh + i] = xh;
                x[i] = wv ? wv[i] * xh : xh;
            }
        }
    }
}

void pb_qknorm_backward(float *dqkv, float *dw, const float *xhat, const float *rstd,
                        const float *w, int N, int d, int H) {
    const int dh = d / H;
    if (dw) /* serial over tokens: the sum keeps its order */
        for (int n = 0; n < N; n++)
            for (int v = 0; v < 2 * H; v++) {
                const float *g = dqkv + (size_t)n * 3 * d + (size_t)v * dh;
                const float *xh = xhat + (size_t)n * 2 * d + (size_t)v * dh;
                float *dwv = dw + (v < H ? 0 : dh);
                for (int i = 0; i < dh; i++) dwv[i] += g[i] * xh[i];
            }
#pragma omp parallel for schedule(static) if ((long)N * d >= PB_PAR_MIN_ELEMS)
    for (int n = 0; n < N; n++) {
        for (int v = 0; v < 2 * H; v++) {
            float *g = dqkv + (size_t)n * 3 * d + (size_t)v * dh;
            const float *xh = xhat + (size_t)n * 2 * d + (size_t)v * dh;
            const float *wv = w ? w + (v < H ? 0 : dh) : NULL;
            float r = rstd[(size_t)n * 2 * H + v];
            double dot = 0.0;
            for (int i = 0; i < dh; i++) {
                if (wv) g[i] *= wv[i];
                dot += (double)g[i] * xh[i];
            }
            float mean = (float)(dot / dh);
            for (int i = 0; i < dh; i++) g[i] = r * (g[i] - xh[i] * mean);
        }
    }
}
