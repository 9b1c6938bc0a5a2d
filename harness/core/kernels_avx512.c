/* The vector kernel set for AVX-512 (kernels_vec.h), compiled for it
 * whatever the build's target: chosen at run time only on CPUs that have
 * it (kernels.c). */
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw,fma")
#include "kernels.h"

#include <immintrin.h>

#define KSET pb_kernels_avx512
#define KSET_GEMM 1
#define KSET_NAME "avx512"

#define VW 16
#define VSQRT(x) ((vf)_mm512_sqrt_ps((__m512)(x)))

#define VFMA(a, b, c) ((vf)_mm512_fmadd_ps((__m512)(a), (__m512)(b), (__m512)(c)))
/* the first n (1..16) lanes: loads read nothing past them (no fault at
 * the end of a buffer), stores leave the rest of the row alone */
#define LANES(n) ((__mmask16)((1u << (n)) - 1u))
#define VLD_N(p, n) ((vf)_mm512_maskz_loadu_ps(LANES(n), (p)))
#define VST_N(p, v, n) _mm512_mask_storeu_ps((p), LANES(n), (__m512)(v))
#define MR 6
#define NRV 4

#include "kernels_vec.h"
