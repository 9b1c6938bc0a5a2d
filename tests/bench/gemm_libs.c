/* The linear layers' three products at the model's shapes (configs A, B, C
 * of `make bench`), one thread, through five GEMMs: the kernel set's own
 * (core/kernels.h), OpenBLAS (pb_sgemm), oneDNN's matmul primitive,
 * libxsmm's JIT kernels and BLIS (bli_sgemm). GFLOP/s, best of 5 after a
 * warm-up, the libraries interleaved per shape so that a busy machine slows
 * them alike. Not a test and not part of the engine: a measurement
 * (`make bench-gemm-libs`, docs/model.md, Speed). Same layouts as
 * gemm_shapes.c, all row-major:
 *
 *   forward  out[N,OC] = inp[N,C] W[OC,C]^T + b
 *   dW       dW[OC,C] += dout[N,OC]^T inp[N,C]
 *   dinp     dinp[N,C] = dout[N,OC] W[OC,C]
 *
 * Each library gets the operands as the engine holds them. The own GEMM and
 * libxsmm have no transposed-A form, so their forward transposes W first
 * (inside the timing, as the engine does); libxsmm's kernels are generated
 * for a block of 64 rows of N (forward, dinp) or 256 of the summed N (dW)
 * and called over the blocks (its JIT is made for small matrices). BLIS 0.9
 * does not know every CPU and falls back to its generic kernels then (the
 * first line says which configuration it chose); BLIS_ARCH_TYPE=0 makes it
 * use its skx (AVX-512) kernels. Each result is checked against the own
 * GEMM's: max |x - own| / max |own|. A library that fails is reported and
 * left out, not fatal. */
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <blis.h>
#include <libxsmm.h>
#include <oneapi/dnnl/dnnl.h>

#include "../../harness/core/blas.h"
#include "../../harness/core/kernels.h"
#include "../../harness/core/progress.h"

enum { FWD, DW, DINP, NPROD };
enum { OWN, OPENBLAS, ONEDNN, XSMM, BLIS, NLIB };
static const char *const lib_name[NLIB] = {"own", "OpenBLAS", "oneDNN", "libxsmm", "BLIS"};
static const char *const prod_name[NPROD] = {"forward", "dW", "dinp"};

/* One shape's operands; out doubles as dout (the backward's input). */
typedef struct {
    int N, OC, C;
    float *inp, *w, *wt, *out, *b, *dw, *dinp;
} operands;

/* libxsmm: one generated kernel called over blocks of n (and of k). */
typedef struct {
    libxsmm_smmfunction f;
    int m, n, k, nb, kb, transb;
    long lda, ldb, ldc;
} xsmm_plan;

typedef struct {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_t prim[NPROD];
    xsmm_plan xsmm[NPROD];
    int ok[NLIB][NPROD];
} lib_state;

static float *filled(size_t n, unsigned seed) {
    float *p = malloc(n * sizeof(float));
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(((i + seed) * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

/* The largest divisor of n that is at most want. */
static int block(int n, int want) {
    int b = n < want ? n : want;
    while (n % b) b--;
    return b;
}

static void bias_rows(const operands *o) {
    for (int n = 0; n < o->N; n++) memcpy(o->out + (size_t)n * o->OC, o->b, o->OC * sizeof(float));
}

static void transpose_w(const operands *o) {
    for (int q = 0; q < o->C; q++)
        for (int r = 0; r < o->OC; r++) o->wt[(size_t)q * o->OC + r] = o->w[(size_t)r * o->C + q];
}

/* ---- oneDNN: one matmul primitive per product, plain row-major layouts. */

static int dnnl_md(dnnl_memory_desc_t *md, long rows, long cols, long rs, long cs) {
    dnnl_dims_t dims = {rows, cols}, strides = {rs, cs};
    return dnnl_memory_desc_init_by_strides(md, 2, dims, dnnl_f32, strides) == dnnl_success;
}

static int dnnl_prepare(lib_state *L, const operands *o, int p) {
    long N = o->N, OC = o->OC, C = o->C;
    dnnl_memory_desc_t src, wei, bias, dst;
    int ok;
    if (p == FWD)
        ok = dnnl_md(&src, N, C, C, 1) && dnnl_md(&wei, C, OC, 1, C) && dnnl_md(&bias, 1, OC, OC, 1) &&
             dnnl_md(&dst, N, OC, OC, 1);
    else if (p == DW)
        ok = dnnl_md(&src, OC, N, 1, OC) && dnnl_md(&wei, N, C, C, 1) && dnnl_md(&dst, OC, C, C, 1);
    else
        ok = dnnl_md(&src, N, OC, OC, 1) && dnnl_md(&wei, OC, C, C, 1) && dnnl_md(&dst, N, C, C, 1);
    if (!ok) return 0;
    dnnl_matmul_desc_t desc;
    if (dnnl_matmul_desc_init(&desc, &src, &wei, p == FWD ? &bias : NULL, &dst) != dnnl_success)
        return 0;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    if (p == DW) { /* dW accumulates: a sum post-op */
        if (dnnl_primitive_attr_create(&attr) != dnnl_success || dnnl_post_ops_create(&po) != dnnl_success ||
            dnnl_post_ops_append_sum(po, 1.0f) != dnnl_success ||
            dnnl_primitive_attr_set_post_ops(attr, po) != dnnl_success)
            return 0;
    }
    dnnl_primitive_desc_t pd;
    dnnl_status_t st = dnnl_primitive_desc_create(&pd, &desc, attr, L->engine, NULL);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success) return 0;
    const char *impl = "?";
    static char last[64];
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    if (strcmp(impl, last)) /* which oneDNN kernel, when it changes */
        printf("  (oneDNN %s: %s)\n", prod_name[p], impl), snprintf(last, sizeof last, "%s", impl);
    st = dnnl_primitive_create(&L->prim[p], pd);
    dnnl_primitive_desc_destroy(pd);
    return st == dnnl_success;
}

/* Memory objects wrap the caller's arrays (no copies); made per call, as
 * the engine's pointers would change from layer to layer. */
static void dnnl_run(lib_state *L, const operands *o, int p) {
    const_dnnl_primitive_desc_t pd;
    dnnl_primitive_get_primitive_desc(L->prim[p], &pd);
    static const int arg[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST};
    static const dnnl_query_t q[4] = {dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_weights_md,
                                      dnnl_query_dst_md};
    float *ptr[NPROD][4] = {{o->inp, o->w, o->b, o->out}, /* W^T through strides */
                            {o->out, o->inp, NULL, o->dw},
                            {o->out, o->w, NULL, o->dinp}};
    dnnl_exec_arg_t args[4];
    dnnl_memory_t mem[4];
    int n = 0;
    for (int i = 0; i < 4; i++) {
        if (!ptr[p][i]) continue;
        const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, q[i], i == 2 ? 1 : 0);
        dnnl_memory_create(&mem[n], md, L->engine, ptr[p][i]);
        args[n].arg = arg[i];
        args[n].memory = mem[n];
        n++;
    }
    dnnl_primitive_execute(L->prim[p], L->stream, n, args);
    dnnl_stream_wait(L->stream);
    for (int i = 0; i < n; i++) dnnl_memory_destroy(mem[i]);
}

/* ---- libxsmm (column-major): the row-major C[M,N] = A B is C^T = B^T A^T.
 * forward  out^T[OC,N]  = wt^T[OC,C] inp^T[C,N]     (beta 1 over the bias)
 * dW       dW^T[C,OC]  += inp^T[C,N] (dout^T[OC,N])^T (transposed B)
 * dinp     dinp^T[C,N]  = W^T[C,OC] dout^T[OC,N]     (beta 0) */

static int xsmm_prepare(lib_state *L, const operands *o, int p) {
    xsmm_plan *x = &L->xsmm[p];
    int N = o->N, OC = o->OC, C = o->C;
    if (p == FWD) *x = (xsmm_plan){NULL, OC, N, C, block(N, 64), C, 0, OC, C, OC};
    else if (p == DW) *x = (xsmm_plan){NULL, C, OC, N, OC, block(N, 256), 1, C, OC, C};
    else *x = (xsmm_plan){NULL, C, N, OC, block(N, 64), OC, 0, C, OC, C};
    libxsmm_blasint lda = x->lda, ldb = x->ldb, ldc = x->ldc;
    float alpha = 1.0f, beta = p == DINP ? 0.0f : 1.0f;
    int flags = x->transb ? LIBXSMM_GEMM_FLAG_TRANS_B : LIBXSMM_GEMM_FLAG_NONE, prefetch = 0;
    x->f = libxsmm_smmdispatch(x->m, x->nb, x->kb, &lda, &ldb, &ldc, &alpha, &beta, &flags, &prefetch);
    return x->f != NULL;
}

static void xsmm_run(const xsmm_plan *x, const float *a, const float *b, float *c) {
    for (int j = 0; j < x->n; j += x->nb)
        for (int kk = 0; kk < x->k; kk += x->kb) {
            const float *bb = x->transb ? b + kk * x->ldb + j : b + j * x->ldb + kk;
            x->f(a + kk * x->lda, bb, c + j * x->ldc);
        }
}

/* ---- the five libraries on product p. */

static void run(lib_state *L, const pb_kernels *k, const operands *o, int lib, int p) {
    int N = o->N, OC = o->OC, C = o->C;
    float one = 1.0f, zero = 0.0f;
    switch (lib * NPROD + p) {
    case OWN * NPROD + FWD:
        transpose_w(o);
        k->gemm(N, OC, C, o->inp, C, 1, o->wt, OC, o->out, OC, o->b, 0);
        break;
    case OWN * NPROD + DW: k->gemm(OC, C, N, o->out, 1, OC, o->inp, C, o->dw, C, NULL, 1); break;
    case OWN * NPROD + DINP: k->gemm(N, C, OC, o->out, OC, 1, o->w, C, o->dinp, C, NULL, 0); break;
    case OPENBLAS * NPROD + FWD:
        bias_rows(o);
        pb_sgemm(0, 1, N, OC, C, 1.0f, o->inp, C, o->w, C, 1.0f, o->out, OC);
        break;
    case OPENBLAS * NPROD + DW: pb_sgemm(1, 0, OC, C, N, 1.0f, o->out, OC, o->inp, C, 1.0f, o->dw, C); break;
    case OPENBLAS * NPROD + DINP: pb_sgemm(0, 0, N, C, OC, 1.0f, o->out, OC, o->w, C, 0.0f, o->dinp, C); break;
    case ONEDNN * NPROD + FWD:
    case ONEDNN * NPROD + DW:
    case ONEDNN * NPROD + DINP: dnnl_run(L, o, p); break;
    case XSMM * NPROD + FWD:
        bias_rows(o);
        transpose_w(o);
        xsmm_run(&L->xsmm[p], o->wt, o->inp, o->out);
        break;
    case XSMM * NPROD + DW: xsmm_run(&L->xsmm[p], o->inp, o->out, o->dw); break;
    case XSMM * NPROD + DINP: xsmm_run(&L->xsmm[p], o->w, o->out, o->dinp); break;
    /* BLIS takes any row and column strides: W^T and dout^T are views. */
    case BLIS * NPROD + FWD:
        bias_rows(o);
        bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, N, OC, C, &one, o->inp, C, 1, o->w, 1, C, &one, o->out,
                  OC, 1);
        break;
    case BLIS * NPROD + DW:
        bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, OC, C, N, &one, o->out, 1, OC, o->inp, C, 1, &one, o->dw,
                  C, 1);
        break;
    case BLIS * NPROD + DINP:
        bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, N, C, OC, &one, o->out, OC, 1, o->w, C, 1, &zero,
                  o->dinp, C, 1);
        break;
    }
    /* libxsmm's JIT kernels return with the upper halves of the vector
     * registers in use; legacy-SSE code after them (BLIS's generic kernels)
     * then ran 3-5x slower here. A compiled caller of AVX code clears them. */
    _mm256_zeroupper();
}

/* dout (kept in out) with the same values for every library. */
static void fill_dout(const operands *o) {
    for (size_t i = 0; i < (size_t)o->N * o->OC; i++) o->out[i] = (float)((i * 40503u) % 997) / 997.0f - 0.5f;
}

/* The product's result array and its length. */
static float *result(const operands *o, int p, size_t *n) {
    *n = p == FWD ? (size_t)o->N * o->OC : p == DW ? (size_t)o->OC * o->C : (size_t)o->N * o->C;
    return p == FWD ? o->out : p == DW ? o->dw : o->dinp;
}

/* Runs each library once on fresh operands and compares with the own GEMM;
 * a difference above 1e-4 of the largest entry marks the library failed. */
static void check(lib_state *L, const pb_kernels *k, const operands *o, double diff[NLIB][NPROD]) {
    size_t nd = (size_t)o->OC * o->C;
    float *dw0 = malloc(nd * sizeof(float)), *ref[NPROD] = {0};
    if (!dw0) exit(1);
    memcpy(dw0, o->dw, nd * sizeof(float));
    for (int lib = 0; lib < NLIB; lib++)
        for (int p = 0; p < NPROD; p++) {
            if (!L->ok[lib][p]) continue;
            if (p == DW) memcpy(o->dw, dw0, nd * sizeof(float));
            if (p != FWD) fill_dout(o); /* not the forward's output, which differs by library */
            size_t n;
            float *r = result(o, p, &n);
            run(L, k, o, lib, p);
            if (lib == OWN) {
                ref[p] = malloc(n * sizeof(float));
                if (!ref[p]) exit(1);
                memcpy(ref[p], r, n * sizeof(float));
                diff[lib][p] = 0;
                continue;
            }
            double dmax = 0, rmax = 0;
            for (size_t i = 0; i < n; i++) {
                dmax = fmax(dmax, fabs((double)r[i] - ref[p][i]));
                rmax = fmax(rmax, fabs((double)ref[p][i]));
            }
            diff[lib][p] = rmax > 0 ? dmax / rmax : dmax;
            if (!(diff[lib][p] <= 1e-4)) L->ok[lib][p] = 0;
        }
    for (int p = 0; p < NPROD; p++) free(ref[p]);
    free(dw0);
}

int main(void) {
    pb_blas_init();
    omp_set_num_threads(1);
    bli_thread_set_num_threads(1);
    libxsmm_init();
    const pb_kernels *k = pb_kernels_active();
    if (!k->gemm) {
        printf("kernel set %s has no GEMM: nothing to compare\n", k->name);
        return 0;
    }
    lib_state L = {0};
    int have_dnnl = dnnl_engine_create(&L.engine, dnnl_cpu, 0) == dnnl_success &&
                    dnnl_stream_create(&L.stream, L.engine, dnnl_stream_default_flags) == dnnl_success;
    const dnnl_version_t *v = dnnl_version();
    printf("OpenBLAS kernel %s; oneDNN %d.%d.%d%s; libxsmm %s, target %s; BLIS %s, configuration %s\n",
           pb_blas_kernel(), v->major, v->minor, v->patch, have_dnnl ? "" : " (no CPU engine)",
           LIBXSMM_VERSION, libxsmm_get_target_arch(), bli_info_get_version_str(),
           bli_arch_string(bli_arch_query_id()));

    /* config: N = batch x T rows, d; the layers' (OC, C): qkv, proj, fc, fc2 */
    const struct { const char *name; int N, d; } cfg[] = {
        {"C", 32 * 32, 32}, {"B", 64 * 64, 64}, {"A", 32 * 128, 128}};
    double worst[NLIB] = {0};
    int failed[NLIB] = {0};
    printf("%-6s %-14s %-8s", "config", "N x OC x C", "product");
    for (int lib = 0; lib < NLIB; lib++) printf(" %9s", lib_name[lib]);
    printf("\n");
    for (unsigned c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        int d = cfg[c].d, shapes[4][2] = {{3 * d, d}, {d, d}, {4 * d, d}, {d, 4 * d}};
        for (int s = 0; s < 4; s++) {
            operands o = {cfg[c].N, shapes[s][0], shapes[s][1], NULL, NULL, NULL, NULL, NULL, NULL, NULL};
            size_t nc = (size_t)o.N * o.C, no = (size_t)o.N * o.OC, nw = (size_t)o.OC * o.C;
            o.inp = filled(nc, 1), o.w = filled(nw, 2), o.wt = filled(nw, 3), o.out = filled(no, 4);
            o.b = filled(o.OC, 5), o.dw = filled(nw, 6), o.dinp = filled(nc, 7);
            for (int p = 0; p < NPROD; p++) {
                L.ok[OWN][p] = L.ok[OPENBLAS][p] = L.ok[BLIS][p] = 1;
                L.ok[ONEDNN][p] = have_dnnl && dnnl_prepare(&L, &o, p);
                L.ok[XSMM][p] = xsmm_prepare(&L, &o, p);
            }
            double diff[NLIB][NPROD];
            check(&L, k, &o, diff);
            for (int lib = 0; lib < NLIB; lib++)
                for (int p = 0; p < NPROD; p++) {
                    if (L.ok[lib][p]) worst[lib] = fmax(worst[lib], diff[lib][p]);
                    else failed[lib]++;
                }
            int reps = (int)(2e8 / (2.0 * o.N * o.OC * o.C)) + 1;
            double best[NLIB][NPROD];
            for (int round = -1; round < 5; round++) /* round -1: the warm-up */
                for (int p = 0; p < NPROD; p++)
                    for (int lib = 0; lib < NLIB; lib++) {
                        if (!L.ok[lib][p]) continue;
                        double t0 = pb_now();
                        for (int i = 0; i < reps; i++) run(&L, k, &o, lib, p);
                        double t = pb_now() - t0;
                        if (round <= 0 || t < best[lib][p]) best[lib][p] = t;
                    }
            double gf = 2.0 * o.N * o.OC * o.C * reps / 1e9;
            char shape[32];
            snprintf(shape, sizeof shape, "%dx%dx%d", o.N, o.OC, o.C);
            for (int p = 0; p < NPROD; p++) {
                printf("%-6s %-14s %-8s", cfg[c].name, shape, prod_name[p]);
                for (int lib = 0; lib < NLIB; lib++)
                    if (L.ok[lib][p]) printf(" %9.0f", gf / best[lib][p]);
                    else printf(" %9s", "failed");
                printf("\n");
            }
            fflush(stdout);
            for (int p = 0; p < NPROD; p++)
                if (L.prim[p]) dnnl_primitive_destroy(L.prim[p]), L.prim[p] = NULL;
            free(o.inp), free(o.w), free(o.wt), free(o.out), free(o.b), free(o.dw), free(o.dinp);
        }
    }
    printf("(GFLOP/s, one thread, kernel set %s)\nmax |x - own| / max |own| over all shapes:", k->name);
    for (int lib = 1; lib < NLIB; lib++) {
        printf(" %s %.1e", lib_name[lib], worst[lib]);
        if (failed[lib]) printf(" (%d products failed: not built or off by more than 1e-4)", failed[lib]);
    }
    printf("\n");
    if (L.stream) dnnl_stream_destroy(L.stream);
    if (L.engine) dnnl_engine_destroy(L.engine);
    libxsmm_finalize();
    return 0;
}
