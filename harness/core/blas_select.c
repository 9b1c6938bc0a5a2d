#include "blas_select.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ENV_AUTO "POSBENCH_BLAS_AUTO"
#define ENV_STATE "POSBENCH_BLAS_STATE"
#define ENV_CORETYPE "OPENBLAS_CORETYPE"

void pb_cpu_detect(pb_cpu_features *f) {
    /* libgcc's cpuid reading also checks that the OS saves the wider
     * registers (XGETBV), so a feature listed here is usable. */
    __builtin_cpu_init();
    *f = (pb_cpu_features){
        .sse2 = __builtin_cpu_supports("sse2"),
        .avx = __builtin_cpu_supports("avx"),
        .fma = __builtin_cpu_supports("fma"),
        .avx2 = __builtin_cpu_supports("avx2"),
        .avx512f = __builtin_cpu_supports("avx512f"),
        .avx512bw = __builtin_cpu_supports("avx512bw"),
        .avx512dq = __builtin_cpu_supports("avx512dq"),
        .avx512vl = __builtin_cpu_supports("avx512vl"),
#if __GNUC__ >= 12
        .avx512_bf16 = __builtin_cpu_supports("avx512bf16"),
#endif
    };
}

void pb_cpu_features_str(const pb_cpu_features *f, char *out, size_t len) {
    static const char *names[] = {"sse2", "avx", "fma", "avx2", "avx512f",
                                  "avx512bw", "avx512dq", "avx512vl", "avx512_bf16"};
    const int have[] = {f->sse2, f->avx, f->fma, f->avx2, f->avx512f,
                        f->avx512bw, f->avx512dq, f->avx512vl, f->avx512_bf16};
    size_t used = 0;
    out[0] = 0;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (!have[i]) continue;
        int n = snprintf(out + used, len - used, "%s%s", used ? " " : "", names[i]);
        if (n < 0 || (size_t)n >= len - used) break;
        used += (size_t)n;
    }
}

/* OpenBLAS 0.3.x x86-64 core names by the widest SIMD their sgemm uses. */
int pb_blas_core_tier(const char *core) {
    static const char *avx512[] = {"SkylakeX", "Cooperlake", "SapphireRapids", NULL};
    static const char *avx2[] = {"Haswell", "Zen", NULL};
    static const char *avx[] = {"Sandybridge", "Bulldozer", "Piledriver", "Steamroller",
                                "Excavator", NULL};
    const char **tiers[] = {avx, avx2, avx512};
    if (!core) return 0;
    for (int t = 2; t >= 0; t--)
        for (const char **n = tiers[t]; *n; n++)
            if (strcasecmp(core, *n) == 0) return t + 1;
    return 0;
}

const char *pb_blas_best_core(const pb_cpu_features *f) {
    if (f->avx512f && f->avx512bw && f->avx512dq && f->avx512vl) return "SkylakeX";
    if (f->avx2 && f->fma) return "Haswell";
    if (f->avx) return "Sandybridge";
    return NULL;
}

/* "kind:ours:library's" -> 1 when state has that kind. */
static int parse_state(const char *state, const char *kind, char *ours, char *lib) {
    char k[16];
    if (!state || sscanf(state, "%15[^:]:%31[^:]:%31s", k, ours, lib) != 3) return 0;
    return strcmp(k, kind) == 0;
}

void pb_blas_decide(const pb_blas_inputs *in, pb_blas_decision *out) {
    char ours[32], lib[32];
    const char *have = in->library_core ? in->library_core : "unknown";
    memset(out, 0, sizeof *out);
    out->action = PB_BLAS_KEEP;
    if (parse_state(in->state, "selected", ours, lib) && in->user_coretype &&
        strcasecmp(in->user_coretype, ours) == 0) {
        if (in->selftest_ok) {
            snprintf(out->why, sizeof out->why,
                     "%s, selected by posbench from the CPU's features (the library chose "
                     "%s); self-test passed", ours, lib);
        } else {
            out->action = PB_BLAS_FALLBACK;
            snprintf(out->why, sizeof out->why,
                     "%s failed posbench's sgemm self-test: back to the library's %s", ours,
                     lib);
        }
        return;
    }
    if (parse_state(in->state, "fallback", ours, lib) && !in->user_coretype) {
        snprintf(out->why, sizeof out->why,
                 "%s, the library's choice (posbench's %s failed the sgemm self-test)", have,
                 ours);
        return;
    }
    if (in->user_coretype) {
        snprintf(out->why, sizeof out->why,
                 "%s, set by OPENBLAS_CORETYPE=%s in the environment (never overridden)", have,
                 in->user_coretype);
        return;
    }
    if (in->auto_setting && strcmp(in->auto_setting, "0") == 0) {
        snprintf(out->why, sizeof out->why,
                 "%s, the library's choice (selection off: POSBENCH_BLAS_AUTO=0)", have);
        return;
    }
    const char *best = pb_blas_best_core(&in->cpu);
    int tier = pb_blas_core_tier(have);
    /* Only a generic fallback is replaced: an AVX2 or wider kernel that the
     * library picked on purpose (e.g. Zen) is its call to make. */
    if (best && tier <= 1 && pb_blas_core_tier(best) > tier) {
        out->action = PB_BLAS_SELECT;
        snprintf(out->core, sizeof out->core, "%s", best);
        snprintf(out->why, sizeof out->why,
                 "%s is generic on a CPU that supports %s: selecting %s", have, best, best);
        return;
    }
    snprintf(out->why, sizeof out->why, "%s, the library's choice (suits this CPU)", have);
}

/* Deterministic values in [-1, 1). */
static float lcg(unsigned *s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) * (1.0 / 8388608.0)) - 1.0f;
}

static int check_shape(pb_sgemm_fn sgemm, int ta, int tb, int M, int N, int K, float alpha,
                       float beta, char *msg, size_t len) {
    int lda = ta ? M : K, ldb = tb ? K : N; /* row-major, tight */
    size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
    float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B),
          *C = malloc(nc * sizeof *C), *C0 = malloc(nc * sizeof *C0);
    int rc = 0;
    if (!A || !B || !C || !C0) {
        snprintf(msg, len, "out of memory");
        rc = -1;
        goto done;
    }
    unsigned seed = (unsigned)(M * 7919 + N * 104729 + K * 31 + ta * 2 + tb);
    for (size_t i = 0; i < na; i++) A[i] = lcg(&seed);
    for (size_t i = 0; i < nb; i++) B[i] = lcg(&seed);
    for (size_t i = 0; i < nc; i++) C[i] = C0[i] = lcg(&seed);
    sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, N);
    for (int i = 0; i < M && !rc; i++) {
        for (int j = 0; j < N; j++) {
            double ref = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                ref += a * b;
                mag += fabs(a * b);
            }
            double c0 = C0[(size_t)i * N + j];
            ref = alpha * ref + beta * c0;
            /* a few float roundings per term of the sum, however it is ordered */
            double tol = 4.0 * (K + 2) * FLT_EPSILON * (fabs(alpha) * mag + fabs(beta * c0)) +
                         1e-30;
            double got = C[(size_t)i * N + j];
            if (!(fabs(got - ref) <= tol)) {
                snprintf(msg, len,
                         "sgemm %c%c M=%d N=%d K=%d alpha=%g beta=%g: C[%d,%d]=%.9g, "
                         "double-precision product %.9g",
                         ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, beta, i, j, got, ref);
                rc = -1;
                break;
            }
        }
    }
done:
    free(A); free(B); free(C); free(C0);
    return rc;
}

int pb_blas_selftest(pb_sgemm_fn sgemm, char *msg, size_t len) {
    /* odd sizes hit every kernel's edge blocks; 64 and 130 its main loops */
    static const int shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 33, 9}, {64, 64, 64},
                                    {100, 37, 130}, {129, 65, 257}};
    static const float ab[][2] = {{1.0f, 0.0f}, {0.5f, 2.0f}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int t = 0; t < 4; t++)
            for (int k = 0; k < 2; k++)
                if (check_shape(sgemm, t & 1, t >> 1, shapes[s][0], shapes[s][1],
                                shapes[s][2], ab[k][0], ab[k][1], msg, len))
                    return -1;
    return 0;
}

static char selection[256] = "not checked";

const char *pb_blas_selection(void) { return selection; }

static void reexec(char **argv) {
    fflush(NULL);
    execv("/proc/self/exe", argv);
    /* still here: carry on with the kernel we have */
    fprintf(stderr, "posbench: warning: could not re-execute to change the BLAS kernel\n");
}

void pb_blas_select_at_startup(char **argv) {
    pb_blas_inputs in = {
        .user_coretype = getenv(ENV_CORETYPE),
        .auto_setting = getenv(ENV_AUTO),
        .state = getenv(ENV_STATE),
        .library_core = pb_blas_kernel(),
    };
    pb_cpu_detect(&in.cpu);
    char ours[32], lib[32], msg[256] = "";
    if (parse_state(in.state, "selected", ours, lib) && in.user_coretype &&
        strcasecmp(in.user_coretype, ours) == 0)
        in.selftest_ok = pb_blas_selftest(pb_sgemm, msg, sizeof msg) == 0;
    pb_blas_decision d;
    pb_blas_decide(&in, &d);
    snprintf(selection, sizeof selection, "%s", d.why);
    char state[96];
    switch (d.action) {
    case PB_BLAS_SELECT:
        snprintf(state, sizeof state, "selected:%s:%s", d.core, in.library_core);
        setenv(ENV_CORETYPE, d.core, 1);
        setenv(ENV_STATE, state, 1);
        reexec(argv);
        unsetenv(ENV_CORETYPE); /* exec failed: keep the library's kernel */
        unsetenv(ENV_STATE);
        break;
    case PB_BLAS_FALLBACK:
        fprintf(stderr, "posbench: warning: BLAS kernel %s failed the self-test (%s); "
                        "using the library's own choice %s\n", ours, msg, lib);
        snprintf(state, sizeof state, "fallback:%s:%s", ours, lib);
        unsetenv(ENV_CORETYPE);
        setenv(ENV_STATE, state, 1);
        reexec(argv);
        break;
    default:
        break;
    }
}
