/* exp and tanh written so that loops calling them vectorise (libm's calls
 * do not): range reduction to [-ln2/2, ln2/2] and a degree-6 polynomial,
 * relative error below 2e-7 over the float range; results are identical on
 * every run (no table lookups, no rounding-mode dependence). */
#ifndef PB_FASTMATH_H
#define PB_FASTMATH_H

#include <stdint.h>
#include <string.h>

static inline float pb_expf(float x) {
    /* below -87.3 the result would be subnormal: return the same tiny
     * normal value instead (softmax and GELU never care); above 88.7 (inf
     * included) the largest. The clamp is written so that NaN takes a
     * bound too: converting NaN to an integer below is undefined; the NaN
     * itself is returned at the end. */
    float c = x < 88.7f ? x : 88.7f;
    c = c > -87.3f ? c : -87.3f;
    float nan_in = x;
    x = c;
    /* round to nearest by the 1.5 * 2^23 trick: floorf would need
     * -fno-trapping-math to vectorise */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return nan_in == nan_in ? p * scale : nan_in;
}

/* tanh(u) = 1 - 2 / (exp(2u) + 1); absolute error below 3e-7. */
static inline float pb_tanhf(float u) {
    return 1.0f - 2.0f / (pb_expf(2.0f * u) + 1.0f);
}

#endif
