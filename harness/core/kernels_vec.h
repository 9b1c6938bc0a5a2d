/* The vector kernel set, written once with GCC vector types and included
 * by kernels_avx512.c and kernels_avx2.c, each compiled for its instruction
 * set (kernels.h). A template, not an interface: no include guard, and no
 * other file includes it. The includer defines KSET (the table's name),
 * KSET_NAME (its printed name), VW (floats per register), VSQRT(vf), and
 * KSET_GEMM: 1 to include the GEMM, with VFMA(a, b, c) (a * b + c, one
 * rounding), VLD_N(p, n) and VST_N(p, v, n) (the first n lanes, masked:
 * the others read as 0 and left untouched) and its block of MR rows by
 * NRV registers.
 *
 * Element-wise formulas are the scalar set's, operation for operation,
 * without fused multiply-adds (the build's ISO C mode keeps contraction
 * off; tests/test_kernels.c checks the bits), so they give the same bits.
 * The GEMM is the exception: it fuses explicitly (VFMA). Row sums put
 * element j into lane j mod 16 and combine the lanes pairwise (hsum), the
 * same in both vector sets. */
#include <math.h>
#include <stdint.h>
#include <string.h>

/* W: lanes of a row sum, the same in every vector set; VW: floats per
 * register (the includer's); NV registers make one group of W lanes. */
#define W 16
#define NV (W / VW)
typedef float vf __attribute__((vector_size(4 * VW)));
typedef int32_t vi __attribute__((vector_size(4 * VW)));

#define NORM_EPS 1e-5f
#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */

static inline vf ld(const float *p) {
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void st(float *p, vf v) { memcpy(p, &v, sizeof v); }

/* x in every lane: one broadcast (from memory when x is loaded). x - 0
 * is x for every x, -0 included, so the compiler drops the subtraction.
 * 0 + x is not x for x = -0, so that form kept an add on the FP pipes per
 * call: in the GEMM, one per row per k beside the FMAs. */
static inline vf splat(float x) { return x - (vf){0}; }

/* k of the VW lanes loaded from p, the others `fill` (k < VW reads k only) */
static inline vf ld_n(const float *p, long k, float fill) {
    if (k >= VW) return ld(p);
    float t[VW];
    for (int i = 0; i < VW; i++) t[i] = i < k ? p[i] : fill;
    return ld(t);
}

static inline void st_n(float *p, vf v, long k) {
    if (k >= VW) {
        st(p, v);
        return;
    }
    if (k <= 0) return;
    float t[VW];
    st(t, v);
    memcpy(p, t, sizeof(float) * (size_t)k);
}

/* lanes where m is set take a, the others b */
static inline vf sel(vi m, vf a, vf b) { return (vf)((m & (vi)a) | (~m & (vi)b)); }

/* lanes i < k set */
static inline vi below(long k) {
    static const int32_t iota[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    vi idx;
    memcpy(&idx, iota, sizeof idx);
    vi kk = (vi){0} + (int32_t)(k < VW ? (k > 0 ? k : 0) : VW);
    return idx < kk;
}

static inline vf vmax(vf a, vf b) { return sel(b > a, b, a); }

/* The W lanes of acc[0..NV-1] (lane u*VW + i is acc[u][i]) combined
 * pairwise in registers: lane i with lane i + 8, then i + 4, i + 2, i + 1. */
#if VW == 16
#define FOLD8(s, op) s = op(s, __builtin_shuffle(s, (vi){8, 9, 10, 11, 12, 13, 14, 15, \
                                                      8, 9, 10, 11, 12, 13, 14, 15}))
#define M4 (vi){4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7}
#define M2 (vi){2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3}
#define M1 (vi){1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}
#elif VW == 8
#define M4 (vi){4, 5, 6, 7, 4, 5, 6, 7}
#define M2 (vi){2, 3, 2, 3, 2, 3, 2, 3}
#define M1 (vi){1, 1, 1, 1, 1, 1, 1, 1}
#else
#error "VW must be 8 or 16"
#endif
static inline vf vadd(vf a, vf b) { return a + b; }

static inline float hsum(const vf *acc) {
#if VW == 16
    vf s = acc[0];
    FOLD8(s, vadd);
#else
    vf s = acc[0] + acc[1];
#endif
    s += __builtin_shuffle(s, M4);
    s += __builtin_shuffle(s, M2);
    s += __builtin_shuffle(s, M1);
    return s[0];
}

static inline float hmax(const vf *acc) {
#if VW == 16
    vf s = acc[0];
    FOLD8(s, vmax);
#else
    vf s = vmax(acc[0], acc[1]);
#endif
    s = vmax(s, __builtin_shuffle(s, M4));
    s = vmax(s, __builtin_shuffle(s, M2));
    s = vmax(s, __builtin_shuffle(s, M1));
    return s[0];
}

/* pb_expf of fastmath.h, lane by lane */
static inline vf vexp(vf x) {
    vf nan_in = x;
    vf hi = splat(88.7f), lo = splat(-87.3f);
    vf c = sel(x < hi, x, hi);
    c = sel(c > lo, c, lo);
    x = c;
    vf n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    vf r = x - n * 0.693359375f + n * 2.12194440e-4f;
    vf p = splat(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    vi bits = (__builtin_convertvector(n, vi) + 127) << 23;
    return sel(nan_in == nan_in, p * (vf)bits, nan_in);
}

static inline vf vtanh(vf u) { return 1.0f - 2.0f / (vexp(2.0f * u) + 1.0f); }

static void gelu_forward(float *out, const float *x, long n) {
    for (long i = 0; i < n; i += VW) {
        vf v = ld_n(x + i, n - i, 0.0f);
        st_n(out + i, 0.5f * v * (1.0f + vtanh(GELU_K * (v + 0.044715f * v * v * v))), n - i);
    }
}

static void gelu_backward(float *dx, const float *x, const float *dout, long n) {
    for (long i = 0; i < n; i += VW) {
        vf v = ld_n(x + i, n - i, 0.0f);
        vf u = GELU_K * (v + 0.044715f * v * v * v);
        vf t = vtanh(u);
        vf sech2 = 1.0f - t * t;
        vf local = 0.5f * (1.0f + t) +
                   0.5f * v * sech2 * GELU_K * (1.0f + 3.0f * 0.044715f * v * v);
        st_n(dx + i, local * ld_n(dout + i, n - i, 0.0f), n - i);
    }
}

static void gelu_forward_keep(float *out, float *x, long n) {
    for (long i = 0; i < n; i += VW) {
        vf v = ld_n(x + i, n - i, 0.0f);
        vf t = vtanh(GELU_K * (v + 0.044715f * v * v * v));
        st_n(out + i, 0.5f * v * (1.0f + t), n - i);
        vf sech2 = 1.0f - t * t;
        st_n(x + i,
             0.5f * (1.0f + t) + 0.5f * v * sech2 * GELU_K * (1.0f + 3.0f * 0.044715f * v * v),
             n - i);
    }
}

static void add(float *out, const float *a, const float *b, long n) {
    for (long i = 0; i < n; i += VW)
        st_n(out + i, ld_n(a + i, n - i, 0.0f) + ld_n(b + i, n - i, 0.0f), n - i);
}

static void mul(float *out, const float *a, const float *b, long n) {
    for (long i = 0; i < n; i += VW)
        st_n(out + i, ld_n(a + i, n - i, 0.0f) * ld_n(b + i, n - i, 0.0f), n - i);
}

static void rotate_pairs(float *x, const float *c, const float *s, int n, float sgn) {
#if VW == 16
    const vi swap = {1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14};
#else
    const vi swap = {1, 0, 3, 2, 5, 4, 7, 6};
#endif
    for (int i = 0; i < n; i += VW) {
        long k = n - i;
        vf v = ld_n(x + i, k, 0.0f);
        vf sw = __builtin_shuffle(v, swap);
        st_n(x + i, v * ld_n(c + i, k, 0.0f) + sw * (ld_n(s + i, k, 0.0f) * sgn), k);
    }
}

/* Row sums: groups of W elements, register u of a group adding into acc[u]
 * (element j into lane j mod W); lanes past the end add 0. */

static void layernorm_row(float *out, const float *x, const float *w, const float *b,
                          int C, float *mean, float *rstd) {
    vf acc[NV] = {{0}};
    for (int c = 0; c < C; c += W)
        for (int u = 0; u < NV; u++) acc[u] += ld_n(x + c + u * VW, C - c - u * VW, 0.0f);
    float m = hsum(acc) / C;
    for (int u = 0; u < NV; u++) acc[u] = (vf){0};
    for (int c = 0; c < C; c += W)
        for (int u = 0; u < NV; u++) {
            long k = C - c - u * VW;
            vf dv = ld_n(x + c + u * VW, k, 0.0f) - m;
            acc[u] += sel(below(k), dv * dv, (vf){0});
        }
    float v = hsum(acc) / C;
    float s = 1.0f / sqrtf(v + NORM_EPS);
    for (int c = 0; c < C; c += VW) {
        long k = C - c;
        st_n(out + c, (ld_n(x + c, k, 0.0f) - m) * s * ld_n(w + c, k, 0.0f) + ld_n(b + c, k, 0.0f),
             k);
    }
    *mean = m;
    *rstd = s;
}

static void layernorm_row_backward(float *dx, const float *dout, const float *x,
                                   const float *w, float m, float s, int C) {
    vf ga[NV] = {{0}}, gxa[NV] = {{0}};
    for (int c = 0; c < C; c += W)
        for (int u = 0; u < NV; u++) {
            int o = c + u * VW;
            long k = C - o;
            vf g = ld_n(dout + o, k, 0.0f) * ld_n(w + o, k, 0.0f);
            ga[u] += g;
            gxa[u] += sel(below(k), g * (ld_n(x + o, k, 0.0f) - m) * s, (vf){0});
        }
    float g_mean = hsum(ga) / C, gx_mean = hsum(gxa) / C;
    for (int c = 0; c < C; c += VW) {
        long k = C - c;
        vf xhat = (ld_n(x + c, k, 0.0f) - m) * s;
        vf g = ld_n(dout + c, k, 0.0f) * ld_n(w + c, k, 0.0f);
        st_n(dx + c, ld_n(dx + c, k, 0.0f) + (g - g_mean - xhat * gx_mean) * s, k);
    }
}

static void rmsnorm_row(float *out, const float *x, const float *w, int C, float *rstd) {
    vf acc[NV] = {{0}};
    for (int c = 0; c < C; c += W)
        for (int u = 0; u < NV; u++) {
            vf xv = ld_n(x + c + u * VW, C - c - u * VW, 0.0f);
            acc[u] += xv * xv;
        }
    float s = 1.0f / sqrtf(hsum(acc) / C + NORM_EPS);
    for (int c = 0; c < C; c += VW) {
        long k = C - c;
        st_n(out + c, ld_n(x + c, k, 0.0f) * s * ld_n(w + c, k, 0.0f), k);
    }
    *rstd = s;
}

static void rmsnorm_row_backward(float *dx, const float *dout, const float *x,
                                 const float *w, float s, int C) {
    vf acc[NV] = {{0}};
    for (int c = 0; c < C; c += W)
        for (int u = 0; u < NV; u++) {
            int o = c + u * VW;
            long k = C - o;
            acc[u] += ld_n(dout + o, k, 0.0f) * ld_n(w + o, k, 0.0f) * ld_n(x + o, k, 0.0f);
        }
    float gx = hsum(acc) / C;
    for (int c = 0; c < C; c += VW) {
        long k = C - c;
        vf g = ld_n(dout + c, k, 0.0f), xv = ld_n(x + c, k, 0.0f);
        st_n(dx + c, ld_n(dx + c, k, 0.0f) + (s * g * ld_n(w + c, k, 0.0f) - s * s * s * xv * gx),
             k);
    }
}

/* Rows are n long: a register inside [0, n) is read and written whole;
 * only the first `valid` elements count. */

/* The largest of row[0 .. valid). */
static float row_max(const float *row, int valid, int n) {
    vf acc[NV];
    for (int u = 0; u < NV; u++) acc[u] = splat(-INFINITY);
    for (int j = 0; j < valid; j += W)
        for (int u = 0; u < NV; u++) {
            int o = j + u * VW;
            acc[u] = vmax(acc[u], sel(below(valid - o), ld_n(row + o, n - o, 0.0f),
                                      splat(-INFINITY)));
        }
    return hmax(acc);
}

/* row[j] = exp(row[j] - mx) for j < valid, and 0 in a register's lanes at
 * or beyond valid; returns their sum (the softmax's and the loss's). */
static float exp_shifted_sum(float *row, float mx, int valid, int n) {
    vf acc[NV] = {{0}};
    for (int j = 0; j < valid; j += W)
        for (int u = 0; u < NV; u++) {
            int o = j + u * VW;
            vf e = sel(below(valid - o), vexp(ld_n(row + o, n - o, 0.0f) - mx), (vf){0});
            acc[u] += e;
            st_n(row + o, e, n - o);
        }
    return hsum(acc);
}

/* Lanes at or beyond `valid` become 0, as the softmax requires. */
static void softmax_row(float *row, int valid, int n) {
    float inv = 1.0f / exp_shifted_sum(row, row_max(row, valid, n), valid, n);
    int j = 0;
    for (; j < valid; j += VW) st_n(row + j, ld_n(row + j, n - j, 0.0f) * inv, n - j);
    for (; j < n; j++) row[j] = 0.0f;
}

static void softmax_row_backward(float *ds, const float *p, int valid, int n) {
    vf acc[NV] = {{0}};
    for (int j = 0; j < valid; j += W)
        for (int u = 0; u < NV; u++) {
            int o = j + u * VW;
            acc[u] += sel(below(valid - o), ld_n(p + o, n - o, 0.0f) * ld_n(ds + o, n - o, 0.0f),
                          (vf){0});
        }
    float dot = hsum(acc);
    int j = 0;
    for (; j < valid; j += VW) {
        vf r = ld_n(p + j, n - j, 0.0f) * (ld_n(ds + j, n - j, 0.0f) - dot);
        st_n(ds + j, sel(below(valid - j), r, (vf){0}), n - j);
    }
    for (; j < n; j++) ds[j] = 0.0f;
}

static float xent_row(float *row, int V, int target) {
    float mx = row_max(row, V, V);
    float shifted_target = row[target] - mx;
    double sum = exp_shifted_sum(row, mx, V, V);
    float inv = (float)(1.0 / sum);
    for (int v = 0; v < V; v += VW) st_n(row + v, ld_n(row + v, V - v, 0.0f) * inv, V - v);
    return (float)log(sum) - shifted_target;
}

static void adamw(float *p, const float *g, float *m, float *v, size_t n,
                  const pb_adamw_coef *c) {
    for (size_t i = 0; i < n; i += VW) {
        long k = (long)(n - i);
        vf gi = ld_n(g + i, k, 0.0f) * c->gscale;
        vf pv = ld_n(p + i, k, 0.0f);
        pv -= c->decay * pv;
        vf mv = c->b1 * ld_n(m + i, k, 0.0f) + (1.0f - c->b1) * gi;
        vf vv = c->b2 * ld_n(v + i, k, 0.0f) + (1.0f - c->b2) * gi * gi;
        pv -= c->lr * (mv / c->bc1) / (VSQRT(vv / c->bc2) + c->eps);
        st_n(p + i, pv, k);
        st_n(m + i, mv, k);
        st_n(v + i, vv, k);
    }
}

/* In double, element j into lane j mod W (the compiler vectorises the
 * fixed inner loop at its register width). */
static double sum_squares(const float *x, size_t n) {
    double t[W] = {0};
    size_t i = 0;
    for (; i + W <= n; i += W)
        for (int l = 0; l < W; l++) t[l] += (double)x[i + l] * x[i + l];
    for (size_t l = 0; i + l < n; l++) t[l] += (double)x[i + l] * x[i + l];
    for (int h = W / 2; h >= 1; h /= 2)
        for (int l = 0; l < h; l++) t[l] += t[l + h];
    return t[0];
}

#if KSET_GEMM
/* C[M,N] = init + A B with A(m,k) = A[m*sam + k*sak] and B row-major
 * [K, ldb], in blocks of mr <= MR rows x nv registers, the last register
 * holding `tail` (1..VW) columns: its B columns come from Bl (rows ldl
 * apart: B itself, or a copy padded to VW), its C columns are loaded and
 * stored under a mask (VLD_N, VST_N: the includer's), so any N is taken
 * without touching memory past it. (Masked loads inside the k loop would
 * make the compiler store the accumulators on every step.) Every C
 * element is one chain of fused multiply-adds over k = 0..K-1 from its
 * initial value, so the result depends neither on the blocking, nor on the
 * register width, nor on N or M. */
static inline __attribute__((always_inline)) void gemm_block(
    const int mr, const int nv, int tail, int K, const float *A, long sam, long sak,
    const float *B, long ldb, const float *Bl, long ldl, float *C, long ldc, const float *bias,
    int add) {
    vf acc[MR][NRV];
    const int l = nv - 1; /* the register under a mask */
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) {
            const float *p = add ? C + r * ldc + v * VW : bias ? bias + v * VW : NULL;
            acc[r][v] = !p ? (vf){0} : v < l ? ld(p) : VLD_N(p, tail);
        }
    for (int k = 0; k < K; k++) {
        vf bv[NRV];
        for (int v = 0; v < nv; v++) bv[v] = v < l ? ld(B + k * ldb + v * VW) : ld(Bl + k * ldl);
        for (int r = 0; r < mr; r++) {
            vf av = splat(A[r * sam + k * sak]);
            for (int v = 0; v < nv; v++) acc[r][v] = VFMA(av, bv[v], acc[r][v]);
        }
    }
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) {
            if (v < l)
                st(C + r * ldc + v * VW, acc[r][v]);
            else
                VST_N(C + r * ldc + v * VW, acc[r][v], tail);
        }
}

/* nv = 1..NRV registers wide, mr = 1..MR rows: each block of constant
 * shape its own function (the compiler unrolls it fully and keeps its
 * accumulators in registers; one function with every case inlined spilled
 * them). */
typedef void gemm_fn(int tail, int K, const float *A, long sam, long sak, const float *B,
                     long ldb, const float *Bl, long ldl, float *C, long ldc,
                     const float *bias, int add);
#define GEMM_FN(mr, nv)                                                                    \
    static void gemm_##mr##x##nv(int tail, int K, const float *A, long sam, long sak,      \
                                 const float *B, long ldb, const float *Bl, long ldl,     \
                                 float *C, long ldc, const float *bias, int add) {        \
        gemm_block(mr, nv, tail, K, A, sam, sak, B, ldb, Bl, ldl, C, ldc, bias, add);      \
    }
#define GEMM_FNS(mr) GEMM_FN(mr, 1) GEMM_FN(mr, 2) GEMM_FN(mr, 3) GEMM_FN(mr, 4)
#if NRV != 4 || MR != 6
#error "the GEMM's block table is written for MR = 6, NRV = 4"
#endif
GEMM_FNS(1) GEMM_FNS(2) GEMM_FNS(3) GEMM_FNS(4) GEMM_FNS(5) GEMM_FNS(6)
#define GEMM_ROW(mr) {gemm_##mr##x1, gemm_##mr##x2, gemm_##mr##x3, gemm_##mr##x4}
static gemm_fn *const gemm_blocks[MR][NRV] = {GEMM_ROW(1), GEMM_ROW(2), GEMM_ROW(3),
                                              GEMM_ROW(4), GEMM_ROW(5), GEMM_ROW(6)};

/* k in chunks of GEMM_KC: a chunk of B stays in cache while every row
 * block passes over it; each chunk continues the chains from C (stored and
 * reloaded exactly), so the chunking does not change a bit. */
#define GEMM_KC 256

/* B's panel for one (k0, n0) when M spans several row blocks: kc rows of
 * nv registers, contiguous, the last register zero-padded. Rows of B ldb
 * floats apart fall into the same cache sets when ldb is near a multiple
 * of 512 (the model's widths are), so every block would fetch the panel
 * again from L2; the copy keeps it in L1 and in few pages. Not below
 * GEMM_PACK_M rows (attention at small T), where the copy costs about as
 * much as the product, nor for narrow B (ldb <= GEMM_PACK_LDB), whose
 * panel is already near contiguous. The copy changes no arithmetic. */
#define GEMM_PACK_M (4 * MR)
#define GEMM_PACK_LDB (2 * NRV * VW)
static _Thread_local float gemm_panel[GEMM_KC * NRV * VW] __attribute__((aligned(64)));

static int gemm(int M, int N, int K, const float *A, long sam, long sak, const float *B,
                long ldb, float *C, long ldc, const float *bias, int add) {
    if (M <= 0 || N <= 0) return 0;
    float pad[GEMM_KC * VW]; /* the last register's B columns, zero-padded */
    for (int k0 = 0; k0 < K || k0 == 0; k0 += GEMM_KC) {
        int kc = K - k0 < GEMM_KC ? K - k0 : GEMM_KC;
        int first = k0 == 0;
        const float *Ak = A + (long)k0 * sak, *Bk = B + (long)k0 * ldb;
        for (int n0 = 0; n0 < N; n0 += NRV * VW) {
            int cols = N - n0 < NRV * VW ? N - n0 : NRV * VW;
            int nv = (cols + VW - 1) / VW, tail = cols - (nv - 1) * VW;
            const float *Bn = Bk + n0, *Bl = Bk + n0 + (nv - 1) * VW;
            long ldn = ldb, ldl = ldb;
            if (M >= GEMM_PACK_M && ldb > GEMM_PACK_LDB) {
                const int w = nv * VW;
                for (int k = 0; k < kc; k++) {
                    for (int v = 0; v < nv - 1; v++)
                        st(gemm_panel + k * w + v * VW, ld(Bn + k * ldb + v * VW));
                    st(gemm_panel + k * w + (nv - 1) * VW, VLD_N(Bl + k * ldb, tail));
                }
                Bn = gemm_panel, ldn = w, Bl = gemm_panel + (nv - 1) * VW, ldl = w;
            } else if (tail < VW) {
                for (int k = 0; k < kc; k++) st(pad + k * VW, VLD_N(Bl + k * ldb, tail));
                Bl = pad, ldl = VW;
            }
            const float *bn = first && bias ? bias + n0 : NULL;
            int ad = first ? add : 1;
            for (int m0 = 0; m0 < M; m0 += MR) {
                int mr = M - m0 < MR ? M - m0 : MR;
                gemm_blocks[mr - 1][nv - 1](tail, kc, Ak + m0 * sam, sam, sak, Bn, ldn, Bl, ldl,
                                            C + m0 * ldc + n0, ldc, bn, ad);
            }
        }
    }
    return 0;
}

#endif

const pb_kernels KSET = {
    .name = KSET_NAME,
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
#if KSET_GEMM
    .gemm = gemm,
#endif
};
