/* The model's element-wise and row kernels (GELU, norms, softmax, the
 * loss's softmax, RoPE's pair rotation, AdamW, sums of squares) and, in the
 * AVX-512 set, a GEMM, in three kernel sets chosen once at run time:
 * "avx512" and "avx2" (one source, kernels_vec.h, compiled for each
 * instruction set, so a PORTABLE=1 build keeps them) and "scalar"
 * (kernels_scalar.c, the reference loops). The choice is the CPU's widest
 * set unless POSBENCH_KERNELS=scalar|avx2|avx512|auto says otherwise.
 *
 * Bits (docs/model.md, "Kernel sets"): element-wise kernels compute the
 * same operations in the same order in every set, so their results are
 * identical. Row sums (norm means and variances, softmax and loss sums,
 * the softmax backward's dot product, the gradient norm) are split over 16
 * lanes (element j into lane j mod 16, lanes combined pairwise) in both
 * vector sets and run left to right in the scalar set: avx512 and avx2
 * agree bit for bit on them, scalar to float rounding. The AVX-512 set's
 * GEMM (fused multiply-adds, any shape) replaces BLAS in the linear layers
 * and every attention product of training: its results differ from BLAS's
 * in the last bits. */
#ifndef PB_KERNELS_H
#define PB_KERNELS_H

#include <stddef.h>

/* One AdamW update's constants (docs/model.md, Optimiser). */
typedef struct pb_adamw_coef {
    float gscale, decay, lr, b1, b2, bc1, bc2, eps;
} pb_adamw_coef;

typedef struct pb_kernels {
    const char *name;
    /* out = gelu(x), tanh approximation */
    void (*gelu_forward)(float *out, const float *x, long n);
    /* dx = gelu'(x) * dout */
    void (*gelu_backward)(float *dx, const float *x, const float *dout, long n);
    /* out = gelu(x) and x = gelu'(x) in one pass (training: the backward
     * then multiplies); the same bits as gelu_forward and gelu_backward */
    void (*gelu_forward_keep)(float *out, float *x, long n);
    /* out = a + b */
    void (*add)(float *out, const float *a, const float *b, long n);
    /* out = a * b */
    void (*mul)(float *out, const float *a, const float *b, long n);
    /* Rotate the pairs (x[2k], x[2k+1]) of n floats (n even):
     * x[i] = x[i] c[i] + x[i^1] (sgn s[i]), with c and s laid out per
     * element (RoPE's tables: c = (cos, cos), s = (-sin, sin) per pair) */
    void (*rotate_pairs)(float *x, const float *c, const float *s, int n, float sgn);
    /* one row of C: out = (x - mean) * rstd * w + b */
    void (*layernorm_row)(float *out, const float *x, const float *w, const float *b, int C,
                          float *mean, float *rstd);
    /* dx += d(loss)/dx of one row, from dout */
    void (*layernorm_row_backward)(float *dx, const float *dout, const float *x,
                                   const float *w, float mean, float rstd, int C);
    /* out = x * rstd * w, rstd = 1 / sqrt(mean(x^2) + eps) */
    void (*rmsnorm_row)(float *out, const float *x, const float *w, int C, float *rstd);
    void (*rmsnorm_row_backward)(float *dx, const float *dout, const float *x,
                                 const float *w, float rstd, int C);
    /* Softmax of the first `valid` of n entries in place, the rest set to 0. */
    void (*softmax_row)(float *row, int valid, int n);
    /* ds = p * (ds - sum_j p ds) on the first `valid` entries, 0 beyond (n). */
    void (*softmax_row_backward)(float *ds, const float *p, int valid, int n);
    /* Logits row of V in place to probabilities; returns -log p[target]
     * computed as log(sum exp) - (row[target] - max). */
    float (*xent_row)(float *row, int V, int target);
    /* AdamW update of n parameters (docs/model.md). */
    void (*adamw)(float *p, const float *g, float *m, float *v, size_t n,
                  const pb_adamw_coef *c);
    /* sum of x[i]^2 in double */
    double (*sum_squares)(const float *x, size_t n);
    /* C[M,N] = init + A B, A(m,k) = A[m*sam + k*sak], B row-major [K, ldb],
     * C row-major [M, ldc]; init is C itself (add), else bias[N] on every
     * row (bias), else 0. Each C element is summed over k in order with
     * fused multiply-adds, whatever M, N, K (the last columns under a
     * mask), so an element's bits depend on its k chain only. Returns 0;
     * NULL in the scalar and avx2 sets (BLAS then). */
    int (*gemm)(int M, int N, int K, const float *A, long sam, long sak, const float *B,
                long ldb, float *C, long ldc, const float *bias, int add);
} pb_kernels;

/* A buffer of at least n floats owned by the calling thread, kept and
 * grown as needed (no allocation once warm); slot 0..3 names independent
 * buffers. NULL when out of memory. Its contents are the caller's. */
float *pb_kernels_buffer(int slot, size_t n);

/* The kernel set in use (chosen on first call). */
const pb_kernels *pb_kernels_active(void);
/* Switch to the set named "scalar", "avx2", "avx512" or "auto" (the
 * widest this CPU runs). Returns 0, or -1 with a message in msg when the
 * name is unknown or the CPU lacks the set. Not thread-safe: call between
 * computations. */
int pb_kernels_use(const char *name, char *msg, size_t len);
/* The choice POSBENCH_KERNELS asks for: 0, or -1 with a message (the
 * command line refuses to start then). Called once at start-up. */
int pb_kernels_from_env(char *msg, size_t len);

extern const pb_kernels pb_kernels_scalar, pb_kernels_avx2, pb_kernels_avx512;

#endif
