/* Choosing the BLAS kernel: OpenBLAS picks its kernels from the CPU's model
 * number, and on CPUs it does not know (cloud VMs often hide the model) it
 * falls back to generic SSE kernels that run 3-4x slower. posbench reads the
 * CPU's SIMD features instead and, when the library's choice is generic but
 * the CPU supports a better kernel, re-executes itself once with
 * OPENBLAS_CORETYPE set, before anything else runs. The new kernel must pass
 * a self-test (sgemm against a double-precision product); if it does not,
 * posbench re-executes once more with the library's own choice and warns.
 *
 * A user's OPENBLAS_CORETYPE is never overridden, and POSBENCH_BLAS_AUTO=0
 * turns the selection off. The decision is a pure function of its inputs
 * (pb_blas_decide) so that it can be tested with made-up CPUs. */
#ifndef PB_BLAS_SELECT_H
#define PB_BLAS_SELECT_H

#include <stddef.h>

#include "blas.h"

typedef struct pb_cpu_features {
    int sse2, avx, fma, avx2, avx512f, avx512bw, avx512dq, avx512vl, avx512_bf16;
} pb_cpu_features;

/* The running CPU's features (cpuid, with the OS's register support). */
void pb_cpu_detect(pb_cpu_features *f);
/* "avx2 fma avx512f ..." : the features posbench's choice depends on. */
void pb_cpu_features_str(const pb_cpu_features *f, char *out, size_t len);

/* Kernel tiers: 0 generic (SSE), 1 AVX, 2 AVX2+FMA, 3 AVX-512. Unknown
 * names count as generic. */
int pb_blas_core_tier(const char *core);
/* The OpenBLAS kernel for the best tier the CPU supports (AVX-512
 * F/BW/DQ/VL -> SkylakeX, AVX2+FMA -> Haswell, AVX -> Sandybridge), or NULL. */
const char *pb_blas_best_core(const pb_cpu_features *f);

typedef enum {
    PB_BLAS_KEEP,      /* nothing to do: use the library's kernel */
    PB_BLAS_SELECT,    /* set OPENBLAS_CORETYPE=core and re-execute */
    PB_BLAS_VERIFY,    /* selected by us: run the self-test */
    PB_BLAS_FALLBACK,  /* self-test failed: unset it and re-execute */
} pb_blas_action;

/* What the process knows at start-up. */
typedef struct pb_blas_inputs {
    const char *user_coretype;  /* OPENBLAS_CORETYPE, NULL when unset */
    const char *auto_setting;   /* POSBENCH_BLAS_AUTO, NULL when unset */
    const char *state;          /* POSBENCH_BLAS_STATE (set by posbench), or NULL */
    const char *library_core;   /* the kernel the library runs now */
    pb_cpu_features cpu;
    int selftest_ok;            /* only read when state says "selected" */
} pb_blas_inputs;

typedef struct pb_blas_decision {
    pb_blas_action action;
    char core[32];    /* SELECT: the kernel to set */
    char why[256];    /* one line for `posbench info` and config.json */
} pb_blas_decision;

/* The state marker posbench passes to its re-executed self:
 * "selected:<ours>:<library's>" or "fallback:<ours>:<library's>". */
void pb_blas_decide(const pb_blas_inputs *in, pb_blas_decision *out);

/* sgemm against a double-precision product on shapes that exercise every
 * transpose mode, edge blocks and alpha/beta: 0 when all agree, else -1
 * with the first disagreement in msg. */
typedef void (*pb_sgemm_fn)(int trans_a, int trans_b, int M, int N, int K, float alpha,
                            const float *A, int lda, const float *B, int ldb, float beta,
                            float *C, int ldc);
int pb_blas_selftest(pb_sgemm_fn sgemm, char *msg, size_t len);

/* Runs first in main: may replace the process (execv) and does not return
 * then. Afterwards pb_blas_selection() says what happened. */
void pb_blas_select_at_startup(char **argv);
const char *pb_blas_selection(void);

#endif
