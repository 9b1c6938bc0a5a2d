/* BLAS kernel selection: the decision for made-up CPUs and library choices,
 * a user's setting winning, the self-test catching a wrong sgemm and the
 * decision falling back, and the real sgemm passing the self-test. */
#include <stdio.h>
#include <string.h>

#include "../harness/core/blas_select.h"
#include "check.h"

static const pb_cpu_features avx512 = {.sse2 = 1, .avx = 1, .fma = 1, .avx2 = 1,
                                       .avx512f = 1, .avx512bw = 1, .avx512dq = 1,
                                       .avx512vl = 1};
static const pb_cpu_features avx2 = {.sse2 = 1, .avx = 1, .fma = 1, .avx2 = 1};
static const pb_cpu_features sse = {.sse2 = 1};

static pb_blas_decision decide(const char *user, const char *autoset, const char *state,
                               const char *lib, pb_cpu_features cpu, int selftest_ok) {
    pb_blas_inputs in = {user, autoset, state, lib, cpu, selftest_ok};
    pb_blas_decision d;
    pb_blas_decide(&in, &d);
    return d;
}

static void test_tiers(void) {
    CHECK(pb_blas_core_tier("Prescott") == 0, "Prescott is generic");
    CHECK(pb_blas_core_tier("Core2") == 0, "Core2 is generic");
    CHECK(pb_blas_core_tier("nonsense") == 0, "unknown names are generic");
    CHECK(pb_blas_core_tier(NULL) == 0, "no name is generic");
    CHECK(pb_blas_core_tier("Sandybridge") == 1, "Sandybridge is AVX");
    CHECK(pb_blas_core_tier("Haswell") == 2 && pb_blas_core_tier("Zen") == 2, "AVX2 kernels");
    CHECK(pb_blas_core_tier("SkylakeX") == 3 && pb_blas_core_tier("cooperlake") == 3,
          "AVX-512 kernels (any case)");
    CHECK(!strcmp(pb_blas_best_core(&avx512), "SkylakeX"), "AVX-512 F/BW/DQ/VL -> SkylakeX");
    pb_cpu_features partial = avx512;
    partial.avx512vl = 0;
    CHECK(!strcmp(pb_blas_best_core(&partial), "Haswell"), "AVX-512 without VL -> Haswell");
    CHECK(!strcmp(pb_blas_best_core(&avx2), "Haswell"), "AVX2 + FMA -> Haswell");
    pb_cpu_features nofma = avx2;
    nofma.fma = 0;
    CHECK(!strcmp(pb_blas_best_core(&nofma), "Sandybridge"), "AVX2 without FMA -> AVX");
    CHECK(pb_blas_best_core(&sse) == NULL, "SSE only: no better kernel");
}

static void test_decisions(void) {
    /* the hidden-model Xeon: generic fallback on an AVX-512 CPU */
    pb_blas_decision d = decide(NULL, NULL, NULL, "Prescott", avx512, 0);
    CHECK(d.action == PB_BLAS_SELECT && !strcmp(d.core, "SkylakeX"),
          "Prescott on AVX-512 selects SkylakeX (%d %s)", d.action, d.core);
    d = decide(NULL, "1", NULL, "Core2", avx2, 0);
    CHECK(d.action == PB_BLAS_SELECT && !strcmp(d.core, "Haswell"),
          "Core2 on AVX2 selects Haswell");
    d = decide(NULL, NULL, NULL, "Sandybridge", avx512, 0);
    CHECK(d.action == PB_BLAS_SELECT && !strcmp(d.core, "SkylakeX"),
          "an AVX-only fallback on AVX-512 is replaced");
    /* the library's own good choices stand */
    d = decide(NULL, NULL, NULL, "Zen", avx512, 0);
    CHECK(d.action == PB_BLAS_KEEP, "Zen on AVX-512 is the library's call");
    d = decide(NULL, NULL, NULL, "Cooperlake", avx512, 0);
    CHECK(d.action == PB_BLAS_KEEP, "Cooperlake kept");
    d = decide(NULL, NULL, NULL, "Prescott", sse, 0);
    CHECK(d.action == PB_BLAS_KEEP, "generic on an SSE-only CPU is right");
    /* the user wins; the switch turns selection off */
    d = decide("Prescott", NULL, NULL, "Prescott", avx512, 0);
    CHECK(d.action == PB_BLAS_KEEP && strstr(d.why, "OPENBLAS_CORETYPE=Prescott"),
          "explicit OPENBLAS_CORETYPE is never overridden: %s", d.why);
    d = decide(NULL, "0", NULL, "Prescott", avx512, 0);
    CHECK(d.action == PB_BLAS_KEEP && strstr(d.why, "POSBENCH_BLAS_AUTO=0"),
          "POSBENCH_BLAS_AUTO=0 turns selection off: %s", d.why);
    /* after the re-execution: the self-test decides */
    d = decide("SkylakeX", NULL, "selected:SkylakeX:Prescott", "SkylakeX", avx512, 1);
    CHECK(d.action == PB_BLAS_KEEP && strstr(d.why, "self-test passed") &&
              strstr(d.why, "Prescott"),
          "a passing self-test keeps the selection: %s", d.why);
    d = decide("SkylakeX", NULL, "selected:SkylakeX:Prescott", "SkylakeX", avx512, 0);
    CHECK(d.action == PB_BLAS_FALLBACK, "a failing self-test falls back");
    d = decide(NULL, NULL, "fallback:SkylakeX:Prescott", "Prescott", avx512, 0);
    CHECK(d.action == PB_BLAS_KEEP && strstr(d.why, "failed"),
          "after the fallback the library's choice stays, and says why: %s", d.why);
    /* a marker inherited into a shell where the user then set another kernel */
    d = decide("Haswell", NULL, "selected:SkylakeX:Prescott", "Haswell", avx512, 0);
    CHECK(d.action == PB_BLAS_KEEP && strstr(d.why, "never overridden"),
          "a user setting that differs from posbench's marker is the user's");
    d = decide(NULL, NULL, "garbage", "Prescott", avx512, 0);
    CHECK(d.action == PB_BLAS_SELECT, "a malformed marker is ignored");
}

/* Row-major reference sgemm in float, and broken variants of it. */
static int broken_mode;
static void slow_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                       int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = 0;
            for (int k = 0; k < K; k++) {
                /* mode 2: ignores trans_b, as a kernel with one layout bug
                 * would (wrapped, so that the wrong reads stay inside B) */
                int tbx = broken_mode == 2 ? 0 : tb;
                float a = ta ? A[k * lda + i] : A[i * lda + k];
                float b = B[(tbx ? j * ldb + k : k * ldb + j) % (K * N)];
                s += a * b;
            }
            C[i * ldc + j] = alpha * s + beta * C[i * ldc + j];
            /* mode 1: a wrong edge element on odd shapes */
            if (broken_mode == 1 && i == M - 1 && j == N - 1 && (M & 1)) C[i * ldc + j] *= 1.001f;
        }
}

static void test_selftest(void) {
    char msg[256];
    broken_mode = 0;
    CHECK(pb_blas_selftest(slow_sgemm, msg, sizeof msg) == 0, "a correct sgemm passes: %s", msg);
    broken_mode = 1;
    CHECK(pb_blas_selftest(slow_sgemm, msg, sizeof msg) != 0 && strstr(msg, "double-precision"),
          "a 0.1%% error in one edge element fails: %s", msg);
    broken_mode = 2;
    CHECK(pb_blas_selftest(slow_sgemm, msg, sizeof msg) != 0 && strstr(msg, "NT"),
          "a transpose bug fails, naming the mode: %s", msg);
    broken_mode = 0;
    CHECK(pb_blas_selftest(pb_sgemm, msg, sizeof msg) == 0,
          "this process's BLAS (%s) passes: %s", pb_blas_kernel(), msg);
}

static void test_features_string(void) {
    char s[160];
    pb_cpu_features_str(&avx512, s, sizeof s);
    CHECK(strstr(s, "avx512vl") && strstr(s, "fma"), "features listed: %s", s);
    pb_cpu_features f;
    pb_cpu_detect(&f);
    CHECK(f.sse2, "every x86-64 CPU has SSE2");
}

int main(void) {
    test_tiers();
    test_decisions();
    test_selftest();
    test_features_string();
    return check_summary("test_blas_select");
}
