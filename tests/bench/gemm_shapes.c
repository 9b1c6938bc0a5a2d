/* The linear layers' three products at the model's shapes (configs A, B, C
 * of `make bench`: N = batch x T rows), one thread: OpenBLAS (pb_sgemm, as
 * the scalar and avx2 kernel sets run them) against the kernel set's own
 * GEMM (core/kernels.h), in GFLOP/s, best of 5. Not a test: a measurement
 * (`make bench-gemm`), interleaved so that a busy machine slows both alike.
 *
 *   forward  out[N,OC] = inp[N,C] W[OC,C]^T + b   (GEMM: W transposed first)
 *   dW       dW[OC,C] += dout[N,OC]^T inp[N,C]
 *   dinp     dinp[N,C] = dout[N,OC] W[OC,C] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../harness/core/blas.h"
#include "../../harness/core/kernels.h"
#include "../../harness/core/progress.h"

static float *filled(size_t n) {
    float *p = malloc(n * sizeof(float));
    if (!p) exit(1);
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

int main(void) {
    pb_blas_init();
    const pb_kernels *k = pb_kernels_active();
    if (!k->gemm) {
        printf("kernel set %s has no GEMM: nothing to compare\n", k->name);
        return 0;
    }
    /* config: N, d, ff, 3d */
    const struct { const char *name; int N, d; } cfg[] = {
        {"C", 32 * 32, 32}, {"B", 64 * 64, 64}, {"A", 32 * 128, 128}};
    printf("%-6s %-16s %9s %9s %9s %9s %9s %9s\n", "config", "N x OC x C", "fwd BLAS",
           "fwd own", "dW BLAS", "dW own", "dinp BLAS", "dinp own");
    for (unsigned c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        int d = cfg[c].d, shapes[4][2] = {{3 * d, d}, {d, d}, {4 * d, d}, {d, 4 * d}};
        for (int s = 0; s < 4; s++) {
            int N = cfg[c].N, OC = shapes[s][0], C = shapes[s][1];
            float *in = filled((size_t)N * C), *w = filled((size_t)OC * C);
            float *wt = filled((size_t)OC * C), *out = filled((size_t)N * OC);
            float *b = filled((size_t)OC), *dw = filled((size_t)OC * C);
            int reps = (int)(1e8 / (2.0 * N * OC * C)) + 1;
            double best[6] = {1e9, 1e9, 1e9, 1e9, 1e9, 1e9};
            for (int r = 0; r < 5; r++) {
                double t[7];
                t[0] = pb_now();
                for (int i = 0; i < reps; i++) {
                    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * OC, b, OC * sizeof(float));
                    pb_sgemm(0, 1, N, OC, C, 1.0f, in, C, w, C, 1.0f, out, OC);
                }
                t[1] = pb_now();
                for (int i = 0; i < reps; i++) {
                    for (int q = 0; q < C; q++)
                        for (int o = 0; o < OC; o++) wt[(size_t)q * OC + o] = w[(size_t)o * C + q];
                    k->gemm(N, OC, C, in, C, 1, wt, OC, out, OC, b, 0);
                }
                t[2] = pb_now();
                for (int i = 0; i < reps; i++)
                    pb_sgemm(1, 0, OC, C, N, 1.0f, out, OC, in, C, 1.0f, dw, C);
                t[3] = pb_now();
                for (int i = 0; i < reps; i++) k->gemm(OC, C, N, out, 1, OC, in, C, dw, C, NULL, 1);
                t[4] = pb_now();
                for (int i = 0; i < reps; i++)
                    pb_sgemm(0, 0, N, C, OC, 1.0f, out, OC, w, C, 0.0f, in, C);
                t[5] = pb_now();
                for (int i = 0; i < reps; i++) k->gemm(N, C, OC, out, OC, 1, w, C, in, C, NULL, 0);
                t[6] = pb_now();
                for (int j = 0; j < 6; j++)
                    if (t[j + 1] - t[j] < best[j]) best[j] = t[j + 1] - t[j];
            }
            double gf = 2.0 * N * OC * C * reps / 1e9;
            char shape[32];
            snprintf(shape, sizeof shape, "%dx%dx%d", N, OC, C);
            printf("%-6s %-16s", cfg[c].name, shape);
            for (int j = 0; j < 6; j++) printf(" %9.0f", gf / best[j]);
            printf("\n");
            free(in), free(w), free(wt), free(out), free(b), free(dw);
        }
    }
    printf("(GFLOP/s, one thread, kernel set %s, BLAS kernel %s)\n", k->name, pb_blas_kernel());
    return 0;
}
