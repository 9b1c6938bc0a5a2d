/* The kernel sets (harness/core/kernels.h) against the scalar reference, on
 * every length from 1 to 70 (whole registers, partial ones, several groups)
 * and inputs that reach the edges (GELU far out on both sides, softmax rows
 * with large logits, masked tails):
 *  - element-wise kernels (GELU forward and backward, the forward that keeps
 *    GELU's derivative, add, mul, RoPE's pair rotation, AdamW) give the
 *    scalar set's bits exactly;
 *  - row kernels (norms, softmax, its backward, the loss, sums of squares)
 *    agree to float tolerance, and the avx2 and avx512 sets agree with each
 *    other bit for bit (both sum over the same 16 lanes);
 *  - softmax writes 0 beyond `valid` up to n, and the loss is finite where
 *    p[target] underflows;
 *  - the GEMM (sets that have one) against a double-precision product, in
 *    its three starts (zero, bias, C itself) and with A transposed, on
 *    shapes with partial row and register blocks and K beyond one chunk;
 *    its bits do not depend on how the rows are split (threads);
 *  - POSBENCH_KERNELS names are checked (unknown names are refused).
 * Sets this CPU cannot run are reported as skipped. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../harness/core/kernels.h"
#include "check.h"

#define MAXN 70

static unsigned long long rng = 88172645463325252ull;
static float uniform(float lo, float hi) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return lo + (hi - lo) * (float)((rng >> 40) / (double)(1ull << 24));
}

static void fill(float *x, int n, float lo, float hi) {
    for (int i = 0; i < n; i++) x[i] = uniform(lo, hi);
}

static int same_bits(const float *a, const float *b, int n) {
    return memcmp(a, b, sizeof(float) * (size_t)n) == 0;
}

static float max_rel(const float *a, const float *b, int n) {
    float worst = 0.0f;
    for (int i = 0; i < n; i++) {
        float scale = fabsf(a[i]) > 1.0f ? fabsf(a[i]) : 1.0f;
        float e = fabsf(a[i] - b[i]) / scale;
        if (!(e <= worst)) worst = e; /* NaN counts as worst */
    }
    return worst;
}

#define TOL 2e-6f

/* RoPE's per-pair formula, one pair per call: a loop of these would let the
 * compiler fuse the alternating subtract and add into vfmaddsub (GCC 12
 * does, even in ISO C mode), which rounds differently. */
__attribute__((noinline)) static void rot_ref(float a, float b, float c, float sk, float *out) {
    out[0] = a * c - b * sk;
    out[1] = a * sk + b * c;
}

static void elementwise_scalar_keep(const pb_kernels *s) {
    float x[MAXN], g[MAXN], keep[MAXN], out[MAXN], fwd[MAXN], bwd[MAXN];
    fill(x, MAXN, -12.0f, 12.0f);
    fill(g, MAXN, -1.0f, 1.0f);
    memcpy(keep, x, sizeof x);
    s->gelu_forward_keep(out, keep, MAXN);
    s->mul(keep, keep, g, MAXN);
    s->gelu_forward(fwd, x, MAXN);
    s->gelu_backward(bwd, x, g, MAXN);
    CHECK(same_bits(out, fwd, MAXN) && same_bits(keep, bwd, MAXN),
          "scalar gelu_forward_keep: bits differ from forward/backward");
}

static void elementwise(const pb_kernels *k, const pb_kernels *s) {
    /* the scalar set keeps the derivative with the same bits too */
    if (k == &pb_kernels_avx2) elementwise_scalar_keep(s);
    float x[MAXN], g[MAXN], a[MAXN], b[MAXN];
    for (int n = 1; n <= MAXN; n++) {
        fill(x, n, -12.0f, 12.0f);
        if (n > 2) x[0] = 0.0f, x[1] = -100.0f, x[2] = 100.0f;
        fill(g, n, -1.0f, 1.0f);
        s->gelu_forward(a, x, n);
        k->gelu_forward(b, x, n);
        CHECK(same_bits(a, b, n), "%s gelu_forward n=%d: bits differ", k->name, n);
        s->gelu_backward(a, x, g, n);
        k->gelu_backward(b, x, g, n);
        CHECK(same_bits(a, b, n), "%s gelu_backward n=%d: bits differ", k->name, n);
        s->add(a, x, g, n);
        k->add(b, x, g, n);
        CHECK(same_bits(a, b, n), "%s add n=%d: bits differ", k->name, n);
        s->mul(a, x, g, n);
        k->mul(b, x, g, n);
        CHECK(same_bits(a, b, n), "%s mul n=%d: bits differ", k->name, n);
        /* pair rotation: the scalar set's bits, and those of RoPE's
         * per-pair formula a c - b s, b c + a s (both directions) */
        if (n % 2 == 0) {
            float c2[MAXN], s2[MAXN], ref[MAXN];
            for (int i = 0; i < n; i += 2) {
                float ang = uniform(-3.0f, 3.0f);
                c2[i] = c2[i + 1] = cosf(ang);
                s2[i] = -sinf(ang);
                s2[i + 1] = sinf(ang);
            }
            for (int sg = -1; sg <= 1; sg += 2) {
                memcpy(a, x, sizeof x);
                memcpy(b, x, sizeof x);
                s->rotate_pairs(a, c2, s2, n, (float)sg);
                k->rotate_pairs(b, c2, s2, n, (float)sg);
                for (int i = 0; i < n; i += 2)
                    rot_ref(x[i], x[i + 1], c2[i], (float)sg * s2[i + 1], ref + i);
                CHECK(same_bits(a, b, n) && same_bits(a, ref, n),
                      "%s rotate_pairs n=%d sgn=%d: bits differ", k->name, n, sg);
            }
        }
        /* forward keeping the derivative: gelu_forward's output, and x
         * times dout is gelu_backward's, bit for bit */
        float keep[MAXN], fwd[MAXN], bwd[MAXN];
        memcpy(keep, x, sizeof x);
        k->gelu_forward_keep(b, keep, n);
        s->gelu_forward(fwd, x, n);
        s->gelu_backward(bwd, x, g, n);
        k->mul(keep, keep, g, n);
        CHECK(same_bits(b, fwd, n) && same_bits(keep, bwd, n),
              "%s gelu_forward_keep n=%d: bits differ from forward/backward", k->name, n);

        float p0[MAXN], m0[MAXN], v0[MAXN], p1[MAXN], m1[MAXN], v1[MAXN];
        fill(p0, n, -1.0f, 1.0f);
        fill(m0, n, -0.1f, 0.1f);
        fill(v0, n, 0.0f, 0.01f);
        memcpy(p1, p0, sizeof p0);
        memcpy(m1, m0, sizeof m0);
        memcpy(v1, v0, sizeof v0);
        pb_adamw_coef c = {.gscale = 0.7f, .decay = 1e-5f, .lr = 1e-3f, .b1 = 0.9f,
                           .b2 = 0.999f, .bc1 = 0.19f, .bc2 = 0.002f, .eps = 1e-8f};
        s->adamw(p0, g, m0, v0, (size_t)n, &c);
        k->adamw(p1, g, m1, v1, (size_t)n, &c);
        CHECK(same_bits(p0, p1, n) && same_bits(m0, m1, n) && same_bits(v0, v1, n),
              "%s adamw n=%d: bits differ", k->name, n);
    }
}

static void rows(const pb_kernels *k, const pb_kernels *s) {
    float x[MAXN], w[MAXN], bb[MAXN], d[MAXN], a[MAXN], b[MAXN];
    float ma, ra, mb, rb;
    for (int n = 1; n <= MAXN; n++) {
        fill(x, n, -3.0f, 5.0f);
        fill(w, n, 0.5f, 1.5f);
        fill(bb, n, -0.5f, 0.5f);
        fill(d, n, -1.0f, 1.0f);
        s->layernorm_row(a, x, w, bb, n, &ma, &ra);
        k->layernorm_row(b, x, w, bb, n, &mb, &rb);
        CHECK(max_rel(a, b, n) <= 8 * TOL && check_close(ma, mb, TOL) &&
              check_close(ra, rb, 8 * TOL),
              "%s layernorm_row n=%d: error %g", k->name, n, max_rel(a, b, n));
        fill(a, n, -1.0f, 1.0f);
        memcpy(b, a, sizeof a);
        s->layernorm_row_backward(a, d, x, w, ma, ra, n);
        k->layernorm_row_backward(b, d, x, w, ma, ra, n);
        CHECK(max_rel(a, b, n) <= 8 * TOL, "%s layernorm_row_backward n=%d: error %g", k->name,
              n, max_rel(a, b, n));
        s->rmsnorm_row(a, x, w, n, &ra);
        k->rmsnorm_row(b, x, w, n, &rb);
        CHECK(max_rel(a, b, n) <= 8 * TOL && check_close(ra, rb, 8 * TOL),
              "%s rmsnorm_row n=%d: error %g", k->name, n, max_rel(a, b, n));
        fill(a, n, -1.0f, 1.0f);
        memcpy(b, a, sizeof a);
        s->rmsnorm_row_backward(a, d, x, w, ra, n);
        k->rmsnorm_row_backward(b, d, x, w, ra, n);
        CHECK(max_rel(a, b, n) <= 8 * TOL, "%s rmsnorm_row_backward n=%d: error %g", k->name, n,
              max_rel(a, b, n));

        /* softmax over the first `valid`, zeros after; large logits too */
        for (int valid = 1; valid <= n; valid += (n > 20 ? 7 : 1)) {
            fill(a, n, -30.0f, 30.0f);
            a[0] = 80.0f;
            for (int j = valid; j < n; j++) a[j] = 1e30f; /* must not take part */
            memcpy(b, a, sizeof a);
            s->softmax_row(a, valid, n);
            k->softmax_row(b, valid, n);
            int zeros = 1;
            for (int j = valid; j < n; j++) zeros &= b[j] == 0.0f;
            CHECK(zeros && max_rel(a, b, n) <= 4 * TOL, "%s softmax_row n=%d valid=%d: error %g",
                  k->name, n, valid, max_rel(a, b, n));
            float p[MAXN];
            memcpy(p, a, sizeof p);
            fill(a, n, -1.0f, 1.0f);
            memcpy(b, a, sizeof a);
            s->softmax_row_backward(a, p, valid, n);
            k->softmax_row_backward(b, p, valid, n);
            zeros = 1;
            for (int j = valid; j < n; j++) zeros &= b[j] == 0.0f;
            CHECK(zeros && max_rel(a, b, n) <= 4 * TOL,
                  "%s softmax_row_backward n=%d valid=%d: error %g", k->name, n, valid,
                  max_rel(a, b, n));
        }

        fill(a, n, -8.0f, 8.0f);
        int target = n / 2;
        if (n > 3) a[target] = -200.0f, a[0] = 20.0f; /* p[target] underflows */
        memcpy(b, a, sizeof a);
        float la = s->xent_row(a, n, target), lb = k->xent_row(b, n, target);
        CHECK(isfinite(lb) && check_close(la, lb, 4 * TOL) && max_rel(a, b, n) <= 4 * TOL,
              "%s xent_row n=%d: loss %.9g vs %.9g, probabilities %g", k->name, n, la, lb,
              max_rel(a, b, n));

        double qa = s->sum_squares(x, (size_t)n), qb = k->sum_squares(x, (size_t)n);
        CHECK(fabs(qa - qb) <= 1e-12 * qa, "%s sum_squares n=%d: %.17g vs %.17g", k->name, n,
              qa, qb);
    }
}

/* avx2 and avx512 sum over the same lanes: identical bits. */
static void vector_sets_agree(void) {
    const pb_kernels *k2 = &pb_kernels_avx2, *k5 = &pb_kernels_avx512;
    float x[MAXN], w[MAXN], bb[MAXN], a[MAXN], b[MAXN];
    for (int n = 1; n <= MAXN; n++) {
        float ma, ra, mb, rb;
        fill(x, n, -3.0f, 5.0f);
        fill(w, n, 0.5f, 1.5f);
        fill(bb, n, -0.5f, 0.5f);
        k2->layernorm_row(a, x, w, bb, n, &ma, &ra);
        k5->layernorm_row(b, x, w, bb, n, &mb, &rb);
        CHECK(same_bits(a, b, n) && ma == mb && ra == rb, "layernorm_row n=%d: avx2 != avx512",
              n);
        memcpy(a, x, sizeof x);
        memcpy(b, x, sizeof x);
        k2->softmax_row(a, n - n / 3, n);
        k5->softmax_row(b, n - n / 3, n);
        CHECK(same_bits(a, b, n), "softmax_row n=%d: avx2 != avx512", n);
        memcpy(a, x, sizeof x);
        memcpy(b, x, sizeof x);
        CHECK(k2->xent_row(a, n, 0) == k5->xent_row(b, n, 0) && same_bits(a, b, n),
              "xent_row n=%d: avx2 != avx512", n);
        CHECK(k2->sum_squares(x, (size_t)n) == k5->sum_squares(x, (size_t)n),
              "sum_squares n=%d: avx2 != avx512", n);
    }
}

/* C = init + A B against double; A(m,k) = A[m*sam + k*sak]. B and C sit in
 * rows wider than N (ldb = N + 5, ldc = N + 7) whose padding must stay as
 * it was: the masked last columns neither spill nor clobber. */
static void gemm_case(const pb_kernels *k, int M, int N, int K, int transposed, int init) {
    const long ldb = N + 5, ldc = N + 7;
    const size_t nc = (size_t)M * ldc;
    float *A = malloc(sizeof(float) * (size_t)M * K), *B = malloc(sizeof(float) * (size_t)K * ldb);
    float *C = malloc(sizeof(float) * nc), *C2 = malloc(sizeof(float) * nc);
    float *bias = malloc(sizeof(float) * (size_t)N);
    fill(A, M * K, -1.0f, 1.0f);
    fill(B, K * (int)ldb, -1.0f, 1.0f);
    fill(C, (int)nc, -1.0f, 1.0f);
    fill(bias, N, -1.0f, 1.0f);
    memcpy(C2, C, sizeof(float) * nc);
    long sam = transposed ? 1 : K, sak = transposed ? M : 1;
    int rc = k->gemm(M, N, K, A, sam, sak, B, ldb, C, ldc, init == 1 ? bias : NULL, init == 2);
    CHECK(rc == 0, "%s gemm %dx%dx%d: refused", k->name, M, N, K);
    double worst = 0;
    int padding_kept = 1;
    for (int m = 0; m < M; m++) {
        for (int n = 0; n < N; n++) {
            double ref = init == 2 ? C2[m * ldc + n] : init == 1 ? bias[n] : 0.0;
            double mag = fabs(ref);
            for (int q = 0; q < K; q++) {
                double t = (double)A[m * sam + q * sak] * B[q * ldb + n];
                ref += t;
                mag += fabs(t);
            }
            /* the bound of a K-term float sum: K u sum |terms|, u = 2^-24 */
            double e = fabs(ref - C[m * ldc + n]) / ((K + 1) * 0x1p-24 * mag);
            if (!(e <= worst)) worst = e;
        }
        padding_kept &= same_bits(C + m * ldc + N, C2 + m * ldc + N, (int)(ldc - N));
    }
    CHECK(worst <= 1.0, "%s gemm %dx%dx%d transposed=%d init=%d: error %g of the bound", k->name,
          M, N, K, transposed, init, worst);
    CHECK(padding_kept, "%s gemm %dx%dx%d: columns past N written", k->name, M, N, K);
    /* rows split in two parts (as two threads would): the same bits */
    if (init == 2) memcpy(C, C2, sizeof(float) * nc);
    float *C3 = malloc(sizeof(float) * nc);
    memcpy(C3, C2, sizeof(float) * nc);
    int half = M / 3;
    k->gemm(M, N, K, A, sam, sak, B, ldb, C, ldc, init == 1 ? bias : NULL, init == 2);
    k->gemm(half, N, K, A, sam, sak, B, ldb, C3, ldc, init == 1 ? bias : NULL, init == 2);
    k->gemm(M - half, N, K, A + half * sam, sam, sak, B, ldb, C3 + (size_t)half * ldc, ldc,
            init == 1 ? bias : NULL, init == 2);
    CHECK(same_bits(C, C3, (int)nc), "%s gemm %dx%dx%d: row split changes bits", k->name, M, N,
          K);
    /* the first N - 3 columns alone: the same bits (an element's value
     * depends on its own chain over k, not on the width around it) */
    if (N > 3) {
        memcpy(C3, C2, sizeof(float) * nc);
        k->gemm(M, N - 3, K, A, sam, sak, B, ldb, C3, ldc, init == 1 ? bias : NULL, init == 2);
        int same = 1;
        for (int m = 0; m < M; m++) same &= same_bits(C + m * ldc, C3 + m * ldc, N - 3);
        CHECK(same, "%s gemm %dx%dx%d: narrower N changes bits", k->name, M, N, K);
    }
    free(A), free(B), free(C), free(C2), free(C3), free(bias);
}

static void gemm(const pb_kernels *k) {
    if (!k->gemm) {
        printf("%s: no GEMM (BLAS is used)\n", k->name);
        return;
    }
    /* (64, 128, 600), (33, 200, 9) and (30, 300, 520) take the packed B
     * panel (M >= 24, ldb > 128), the last two with a masked last register;
     * their row splits compare it with the unpacked path */
    const int shapes[][3] = {{1, 16, 1}, {7, 16, 5}, {13, 48, 33}, {6, 96, 32}, {25, 80, 300},
                             {64, 128, 600}, {5, 64, 1}, {3, 70, 260}, {33, 200, 9},
                             {30, 300, 520}};
    for (unsigned i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int transposed = 0; transposed < 2; transposed++)
            for (int init = 0; init < 3; init++)
                gemm_case(k, shapes[i][0], shapes[i][1], shapes[i][2], transposed, init);
    /* the attention's odd shapes: T and d_h in 1..40 (sizes 8, 9, 10, 14,
     * 17, 33 among them), products in both layouts of A */
    const int sizes[] = {1, 2, 5, 6, 7, 8, 9, 10, 14, 15, 16, 17, 31, 33, 40};
    const int ns = (int)(sizeof sizes / sizeof sizes[0]);
    for (int im = 0; im < ns; im++)
        for (int in = 0; in < ns; in++)
            for (int ik = 0; ik < ns; ik += 2)
                for (int transposed = 0; transposed < 2; transposed++)
                    gemm_case(k, sizes[im], sizes[in], sizes[ik], transposed,
                              (im + in + ik) % 3);
}

/* A vector set against the scalar one, where the CPU has it. -> had it */
static int check_set(const char *name, const char *isa, const pb_kernels *k) {
    char msg[256];
    if (pb_kernels_use(name, msg, sizeof msg) != 0) {
        printf("skip: this CPU has no %s\n", isa);
        return 0;
    }
    elementwise(k, &pb_kernels_scalar);
    rows(k, &pb_kernels_scalar);
    gemm(k);
    return 1;
}

int main(void) {
    char msg[256];
    int have2 = check_set("avx2", "AVX2", &pb_kernels_avx2);
    int have5 = check_set("avx512", "AVX-512", &pb_kernels_avx512);
    if (have2 && have5) vector_sets_agree();

    CHECK(pb_kernels_use("scalar", msg, sizeof msg) == 0 &&
              !strcmp(pb_kernels_active()->name, "scalar"),
          "scalar set must always be available");
    CHECK(pb_kernels_use("avx3", msg, sizeof msg) == -1 && strstr(msg, "avx3"),
          "unknown kernel set refused: %s", msg);
    CHECK(pb_kernels_use("auto", msg, sizeof msg) == 0, "auto: %s", msg);
    return check_summary("test_kernels");
}
