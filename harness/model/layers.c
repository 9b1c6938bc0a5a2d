#include "../core/parallel.h"
#include "layers.h"

#include "../core/fastmath.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#define NORM_EPS 1e-5f

void pb_layernorm_forward(float *out, float *mean, float *rstd, const float *x,
                          const float *w, const float *b, int N, int C) {
#pragma omp parallel for schedule(static) if ((long)N * C >= PB_PAR_MIN_ELEMS)
    for (int n = 0; n < N; n++) {
        const float *xn = x + (long)n * C;
        float m = 0.0f, v = 0.0f;
        for (int c = 0; c < C; c++) m += xn[c];
        m /= C;
        for (int c = 0; c < C; c++) v += (xn[c] - m) * (xn[c] - m);
        v /= C;
        float s = 1.0f / sqrtf(v + NORM_EPS);
        float *on = out + (long)n * C;
        for (int c = 0; c < C; c++) on[c] = (xn[c] - m) * s * w[c] + b[c];
        mean[n] = m;
        rstd[n] = s;
    }
}

void pb_layernorm_backward(float *dx, float *dw, float *db, const float *dout,
                           const float *x, const float *w, const float *mean,
                           const float *rstd, int N, int C) {
#pragma omp parallel if ((long)N * C >= PB_PAR_MIN_ELEMS)
    {
#pragma omp for schedule(static)
        for (int n = 0; n < N; n++) {
            const float *xn = x + (long)n * C, *gn = dout + (long)n * C;
            float m = mean[n], s = rstd[n], g_mean = 0.0f, gx_mean = 0.0f;
            for (int c = 0; c < C; c++) {
                float g = gn[c] * w[c];
                g_mean += g;
                gx_mean += g * (xn[c] - m) * s;
            }
            g_mean /= C;
            gx_mean /= C;
            float *dn = dx + (long)n * C;
            for (int c = 0; c < C; c++) {
                float xhat = (xn[c] - m) * s;
                dn[c] += (gn[c] * w[c] - g_mean - xhat * gx_mean) * s;
            }
        }
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
#pragma omp parallel for schedule(static) if ((long)N * C >= PB_PAR_MIN_ELEMS)
    for (int n = 0; n < N; n++) {
        const float *xn = x + (long)n * C;
        float ss = 0.0f;
        for (int c = 0; c < C; c++) ss += xn[c] * xn[c];
        float s = 1.0f / sqrtf(ss / C + NORM_EPS);
        float *on = out + (long)n * C;
        for (int c = 0; c < C; c++) on[c] = xn[c] * s * w[c];
        rstd[n] = s;
    }
}

void pb_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x,
                         const float *w, const float *rstd, int N, int C) {
#pragma omp parallel if ((long)N * C >= PB_PAR_MIN_ELEMS)
    {
#pragma omp for schedule(static)
        for (int n = 0; n < N; n++) {
            const float *xn = x + (long)n * C, *gn = dout + (long)n * C;
            float s = rstd[n], gx = 0.0f;
            for (int c = 0; c < C; c++) gx += gn[c] * w[c] * xn[c];
            gx /= C;
            float *dn = dx + (long)n * C;
            for (int c = 0; c < C; c++)
                dn[c] += s * gn[c] * w[c] - s * s * s * xn[c] * gx;
        }
        int nt = omp_get_num_threads(), t = omp_get_thread_num();
        int lo = (int)((long)C * t / nt), hi = (int)((long)C * (t + 1) / nt);
        for (int n = 0; n < N; n++) {
            const float *gn = dout + (long)n * C, *xn = x + (long)n * C;
            float s = rstd[n];
            for (int c = lo; c < hi; c++) dw[c] += gn[c] * xn[c] * s;
        }
    }
}

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */

void pb_gelu_forward(float *out, const float *x, long n) {
#pragma omp parallel for schedule(static) if (n >= PB_PAR_MIN_ELEMS)
    for (long i = 0; i < n; i++) {
        float v = x[i];
        out[i] = 0.5f * v * (1.0f + pb_tanhf(GELU_K * (v + 0.044715f * v * v * v)));
    }
}

void pb_gelu_backward(float *dx, const float *x, const float *dout, long n) {
#pragma omp parallel for schedule(static) if (n >= PB_PAR_MIN_ELEMS)
    for (long i = 0; i < n; i++) {
        float v = x[i];
        float u = GELU_K * (v + 0.044715f * v * v * v);
        float t = pb_tanhf(u);
        float sech2 = 1.0f - t * t;
        float local = 0.5f * (1.0f + t) +
                      0.5f * v * sech2 * GELU_K * (1.0f + 3.0f * 0.044715f * v * v);
        dx[i] = local * dout[i];
    }
}

void pb_residual_forward(float *out, const float *a, const float *b, long n) {
#pragma omp parallel for schedule(static) if (n >= PB_PAR_MIN_ELEMS)
    for (long i = 0; i < n; i++) out[i] = a[i] + b[i];
}

double pb_crossentropy_forward(float *logits, float *losses, const int *targets,
                               const float *mask, int N, int V) {
    double mask_sum = 0.0;
    for (int n = 0; n < N; n++) mask_sum += mask[n];
#pragma omp parallel for schedule(static) if ((long)N * V >= PB_PAR_MIN_ELEMS)
    for (int n = 0; n < N; n++) {
        float *row = logits + (long)n * V;
        float mx = row[0];
        for (int v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
        float shifted_target = row[targets[n]] - mx;
        double sum = 0.0;
        for (int v = 0; v < V; v++) {
            row[v] = pb_expf(row[v] - mx);
            sum += row[v];
        }
        float inv = (float)(1.0 / sum);
        for (int v = 0; v < V; v++) row[v] *= inv;
        /* log-sum-exp form: exact even when p[target] underflows */
        losses[n] = mask[n] != 0.0f ? (float)log(sum) - shifted_target : 0.0f;
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
