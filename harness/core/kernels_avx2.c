/* The vector kernel set for AVX2 (kernels_vec.h, 8 floats per register,
 * row sums over the same 16 lanes as AVX-512), compiled for it whatever the
 * build's target; chosen at run time only on CPUs that have it (kernels.c).
 * no-avx512f: a -march=native build must not lend it AVX-512. No GEMM here:
 * at the model's shapes it was no faster than OpenBLAS's AVX2 kernel
 * (docs/model.md), which this set keeps. */
#pragma GCC target("avx2,no-avx512f")
#include "kernels.h"

#include <immintrin.h>

#define KSET pb_kernels_avx2
#define KSET_GEMM 0
#define KSET_NAME "avx2"

#define VW 8
#define VSQRT(x) ((vf)_mm256_sqrt_ps((__m256)(x)))

#include "kernels_vec.h"
