/* The vector kernel set for AVX-512 (kernels_vec.h), compiled for it
 * whatever the build's target: chosen at run time only on CPUs that have
 * it (kernels.c). */
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw")
#include "kernels.h"

#include <immintrin.h>

#define KSET pb_kernels_avx512
#define KSET_NAME "avx512"

#define VW 16
#define VSQRT(x) ((vf)_mm512_sqrt_ps((__m512)(x)))

#include "kernels_vec.h"
