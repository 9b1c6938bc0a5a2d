/* The scalar kernel set: the reference loops, row sums left to right
 * (kernels.h). POSBENCH_KERNELS=scalar selects it; the vector sets are
 * tested against it (tests/test_kernels.c). */
#include "kernels.h"

#include <math.h>

#include "fastmath.h"

#define NORM_EPS 1e-5f
#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */

static void gelu_forward(float *out, const float *x, long n) {
    for (long i = 0; i < n; i++) {
        float v = x[i];
        out[i] = 0.5f * v * (1.0f + pb_tanhf(GELU_K * (v + 0.044715f * v * v * v)));
    }
}

static void gelu_backward(float *dx, const float *x, const float *dout, long n) {
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

static void gelu_forward_keep(float *out, float *x, long n) {
    for (long i = 0; i < n; i++) {
        float v = x[i];
        float t = pb_tanhf(GELU_K * (v + 0.044715f * v * v * v));
        out[i] = 0.5f * v * (1.0f + t);
        float sech2 = 1.0f - t * t;
        x[i] = 0.5f * (1.0f + t) + 0.5f * v * sech2 * GELU_K * (1.0f + 3.0f * 0.044715f * v * v);
    }
}

static void add(float *out, const float *a, const float *b, long n) {
    for (long i = 0; i < n; i++) out[i] = a[i] + b[i];
}

static void mul(float *out, const float *a, const float *b, long n) {
    for (long i = 0; i < n; i++) out[i] = a[i] * b[i];
}

static void rotate_pairs(float *x, const float *c, const float *s, int n, float sgn) {
    for (int i = 0; i < n; i += 2) {
        float a = x[i], b = x[i + 1];
        x[i] = a * c[i] + b * (sgn * s[i]);
        x[i + 1] = b * c[i + 1] + a * (sgn * s[i + 1]);
    }
}

static void layernorm_row(float *out, const float *x, const float *w, const float *b,
                          int C, float *mean, float *rstd) {
    float m = 0.0f, v = 0.0f;
    for (int c = 0; c < C; c++) m += x[c];
    m /= C;
    for (int c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
    v /= C;
    float s = 1.0f / sqrtf(v + NORM_EPS);
    for (int c = 0; c < C; c++) out[c] = (x[c] - m) * s * w[c] + b[c];
    *mean = m;
    *rstd = s;
}

static void layernorm_row_backward(float *dx, const float *dout, const float *x,
                                   const float *w, float m, float s, int C) {
    float g_mean = 0.0f, gx_mean = 0.0f;
    for (int c = 0; c < C; c++) {
        float g = dout[c] * w[c];
        g_mean += g;
        gx_mean += g * (x[c] - m) * s;
    }
    g_mean /= C;
    gx_mean /= C;
    for (int c = 0; c < C; c++) {
        float xhat = (x[c] - m) * s;
        dx[c] += (dout[c] * w[c] - g_mean - xhat * gx_mean) * s;
    }
}

static void rmsnorm_row(float *out, const float *x, const float *w, int C, float *rstd) {
    float ss = 0.0f;
    for (int c = 0; c < C; c++) ss += x[c] * x[c];
    float s = 1.0f / sqrtf(ss / C + NORM_EPS);
    for (int c = 0; c < C; c++) out[c] = x[c] * s * w[c];
    *rstd = s;
}

static void rmsnorm_row_backward(float *dx, const float *dout, const float *x,
                                 const float *w, float s, int C) {
    float gx = 0.0f;
    for (int c = 0; c < C; c++) gx += dout[c] * w[c] * x[c];
    gx /= C;
    for (int c = 0; c < C; c++) dx[c] += s * dout[c] * w[c] - s * s * s * x[c] * gx;
}

static void softmax_row(float *row, int valid, int n) {
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

static void softmax_row_backward(float *ds, const float *p, int valid, int n) {
    float dot = 0.0f;
    for (int j = 0; j < valid; j++) dot += p[j] * ds[j];
    for (int j = 0; j < valid; j++) ds[j] = p[j] * (ds[j] - dot);
    for (int j = valid; j < n; j++) ds[j] = 0.0f;
}

static float xent_row(float *row, int V, int target) {
    float mx = row[0];
    for (int v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
    float shifted_target = row[target] - mx;
    double sum = 0.0;
    for (int v = 0; v < V; v++) {
        row[v] = pb_expf(row[v] - mx);
        sum += row[v];
    }
    float inv = (float)(1.0 / sum);
    for (int v = 0; v < V; v++) row[v] *= inv;
    /* log-sum-exp form: exact even when p[target] underflows */
    return (float)log(sum) - shifted_target;
}

static void adamw(float *p, const float *g, float *m, float *v, size_t n,
                  const pb_adamw_coef *c) {
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] * c->gscale;
        p[i] -= c->decay * p[i];
        m[i] = c->b1 * m[i] + (1.0f - c->b1) * gi;
        v[i] = c->b2 * v[i] + (1.0f - c->b2) * gi * gi;
        p[i] -= c->lr * (m[i] / c->bc1) / (sqrtf(v[i] / c->bc2) + c->eps);
    }
}

static double sum_squares(const float *x, size_t n) {
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    return ss;
}

const pb_kernels pb_kernels_scalar = {
    .name = "scalar",
    .gelu_forward = gelu_forward,
    .gelu_backward = gelu_backward,
    .gelu_forward_keep = gelu_forward_keep,
    .add = add,
    .mul = mul,
    .rotate_pairs = rotate_pairs,
    .layernorm_row = layernorm_row,
    .layernorm_row_backward = layernorm_row_backward,
    .rmsnorm_row = rmsnorm_row,
    .rmsnorm_row_backward = rmsnorm_row_backward,
    .softmax_row = softmax_row,
    .softmax_row_backward = softmax_row_backward,
    .xent_row = xent_row,
    .adamw = adamw,
    .sum_squares = sum_squares,
};
