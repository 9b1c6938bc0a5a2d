/* Emulated number formats: round fp32 values to a narrower format, keeping
 * fp32 storage.
 *
 * Everything works on the fp32 bit pattern. For a value in the target's
 * normal range, rounding is integer arithmetic on the magnitude bits: drop
 * d = 23 - M mantissa bits, and a carry out of the mantissa moves into the
 * exponent, which is exactly what rounding up to the next binade needs.
 * Below the target's min normal the quantum is fixed (2^(emin-M)): single
 * values take a path on the explicit significand (round_small), arrays a
 * branch-free variable mask (round_array_det). For 8 exponent bits (bf16,
 * e8mY) the fp32 subnormal encoding already has the target's subnormal
 * quantum, so the plain mask covers every finite value.
 *
 * Conventions (not all formats agree, so they are spelled out here):
 * - Generic eXmY is IEEE-like: the top exponent field is reserved for inf
 *   and NaN, so max = 2^bias * (2 - 2^-M). e5m2, fp16, bf16 and fp32 are
 *   the same rule. e4m3 alone is OCP "fn": no inf, only S.1111.111 is NaN,
 *   so max = 2^8 * 1.75 = 448.
 * - Overflow: a finite value whose magnitude after rounding exceeds max goes
 *   to +-inf, +-max or NaN by the policy. Round-toward-zero with the inf
 *   policy gives +-max, as IEEE 754 does. An infinite input gives +-inf,
 *   +-max or NaN by the policy. NaN in gives a quiet NaN (sign kept) out.
 * - Ties go to the even encoding. With no mantissa bits (eXm0) a tie lies
 *   between two binades, 1.5 * 2^e, and goes to the even exponent field.
 * - Flushing subnormals: the value is first rounded on the subnormal grid,
 *   then a result below min normal becomes zero of the input's sign. So a
 *   value just below min normal that rounds up to it survives ("tininess
 *   after rounding").
 * - Stochastic rounding adds uniform random bits below the kept mantissa
 *   before truncating, so it rounds up with probability (distance to the
 *   lower neighbour) / quantum: unbiased. The bits are splitmix64 of
 *   (stream, index). Below a quantum of 2^62 fp32-ulps the chance of
 *   rounding up is under 2^-38 and is taken as zero. */
#include "format.h"

#include <omp.h>

#include <stdio.h>
#include <string.h>

const char *const pb_format_names[] = {"fp32", "bf16", "fp16", "e4m3", "e5m2", NULL};

static const char *const rounding_names[] = {"rne", "rtz", "stochastic"};
static const char *const overflow_names[] = {"inf", "saturate", "nan"};

#define FORMAT_CHOICES                                                         \
    "fp32, bf16, fp16, e4m3, e5m2, or eXmY with X exponent bits 2..8 and Y "   \
    "mantissa bits 0..23 (e.g. e3m4, e8m7)"

#define F32_INF 0x7f800000u
#define F32_QNAN 0x7fc00000u
#define F32_SIGN 0x80000000u

/* Union punning (defined in C11); unlike memcpy it lets gcc vectorise. */
typedef union { float f; uint32_t u; } pun;
static inline uint32_t f2u(float x) { return (pun){.f = x}.u; }
static inline float u2f(uint32_t u) { return (pun){.u = u}.f; }

/* ---- random bits: splitmix64, indexed so any element can be drawn alone */

#define GOLDEN 0x9e3779b97f4a7c15ull

static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The index-th output of splitmix64 seeded with mix64(stream + GOLDEN). */
static inline uint64_t stream_key(uint64_t stream) { return mix64(stream + GOLDEN); }
static inline uint64_t random_bits(uint64_t key, uint64_t index) {
    return mix64(key + GOLDEN * (index + 1));
}

/* ---- parsing */

static float pow2f(int e) {  /* 2^e for -149 <= e <= 127, built from bits */
    if (e >= -126) return u2f((uint32_t)(e + 127) << 23);
    return u2f(1u << (e + 149));
}

static void fill(pb_format *f, const char *name, int E, int M, int fn) {
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    f->exp_bits = E;
    f->man_bits = M;
    f->bias = (1 << (E - 1)) - 1;
    f->rounding = PB_ROUND_RNE;
    f->overflow = fn ? PB_OVERFLOW_SATURATE : PB_OVERFLOW_INF;
    f->subnormals = 1;
    int emin = 1 - f->bias;
    int emax = fn ? f->bias + 1 : f->bias;          /* fn uses the top binade */
    uint32_t top_man = fn ? (1u << M) - 2 : (1u << M) - 1;  /* fn: all-ones is NaN */
    f->max_finite = u2f((uint32_t)(emax + 127) << 23 | top_man << (23 - M));
    f->min_normal = pow2f(emin);
    f->min_subnormal = pow2f(emin - M);
    f->is_identity = E == 8 && M == 23;
}

/* "eXmY" with 1-2 digit numbers; returns 0 and sets *E, *M when it matches
 * the shape (range is checked by the caller). */
static int parse_exmy(const char *s, int *E, int *M) {
    int v[2] = {0, 0};
    const char lead[2] = {'e', 'm'};
    for (int k = 0; k < 2; k++) {
        if (*s++ != lead[k]) return -1;
        int digits = 0;
        while (*s >= '0' && *s <= '9' && digits < 3) {
            v[k] = v[k] * 10 + (*s++ - '0');
            digits++;
        }
        if (digits == 0 || digits > 2) return -1;
    }
    if (*s) return -1;
    *E = v[0];
    *M = v[1];
    return 0;
}

int pb_format_parse(const char *name, pb_format *f, pb_error *err) {
    static const struct { const char *name; int E, M, fn; } named[] = {
        {"fp32", 8, 23, 0}, {"bf16", 8, 7, 0}, {"fp16", 5, 10, 0},
        {"e4m3", 4, 3, 1},  {"e5m2", 5, 2, 0},
    };
    if (!name) return pb_fail(err, "number format: no name given; valid: " FORMAT_CHOICES);
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (strcmp(name, named[i].name) == 0) {
            fill(f, name, named[i].E, named[i].M, named[i].fn);
            return 0;
        }
    int E, M;
    if (parse_exmy(name, &E, &M))
        return pb_fail(err, "unknown number format '%s'; valid: " FORMAT_CHOICES, name);
    if (E < 2 || E > 8)
        return pb_fail(err, "number format '%s': %d exponent bits is out of range 2..8; "
                       "valid: " FORMAT_CHOICES, name, E);
    if (M > 23)
        return pb_fail(err, "number format '%s': %d mantissa bits is out of range 0..23; "
                       "valid: " FORMAT_CHOICES, name, M);
    char canon[16];
    snprintf(canon, sizeof canon, "e%dm%d", E, M);
    fill(f, canon, E, M, strcmp(canon, "e4m3") == 0);
    return 0;
}

/* ---- rounding */

/* Everything the inner loop needs, derived once from a pb_format. */
typedef struct {
    uint32_t d;           /* mantissa bits dropped in the normal range: 23 - M */
    uint32_t mask;        /* (1 << d) - 1 */
    uint32_t slow_below;  /* magnitudes below this take the significand path */
    uint32_t min_normal;  /* bits of min normal */
    uint32_t max;         /* bits of max finite */
    uint32_t on_overflow; /* magnitude bits for a finite overflow */
    uint32_t on_inf;      /* magnitude bits for an infinite input */
    int sub_exp;          /* exponent of the subnormal quantum: emin - M */
    int flush;
    uint64_t key;
} params;

static params make_params(const pb_format *f, uint64_t stream) {
    params p;
    p.d = (uint32_t)(23 - f->man_bits);
    p.mask = (1u << p.d) - 1;
    p.min_normal = f2u(f->min_normal);
    p.slow_below = f->exp_bits == 8 ? 0 : p.min_normal;
    p.max = f2u(f->max_finite);
    p.sub_exp = 1 - f->bias - f->man_bits;
    p.flush = !f->subnormals;
    switch (f->overflow) {
    case PB_OVERFLOW_SATURATE: p.on_overflow = p.on_inf = p.max; break;
    case PB_OVERFLOW_NAN: p.on_overflow = p.on_inf = F32_QNAN; break;
    default:
        p.on_inf = F32_INF;
        p.on_overflow = f->rounding == PB_ROUND_RTZ ? p.max : F32_INF;
        break;
    }
    p.key = stream_key(stream);
    return p;
}

/* Magnitude a (finite, below the target's min normal, E < 8) rounded onto
 * the subnormal grid q * 2^sub_exp; returns fp32 magnitude bits. */
static uint32_t round_small(const params *p, uint32_t a, pb_rounding mode, uint64_t index) {
    uint32_t ef = a >> 23;
    uint64_t sig = a & 0x7fffffu;
    if (ef) sig |= 1u << 23;
    else ef = 1;
    /* a = sig * 2^(ef - 150); drop d bits to reach the quantum 2^sub_exp */
    int d = p->sub_exp + 150 - (int)ef;   /* >= 24 - M >= 1 here */
    if (d > 62) return 0;
    uint64_t q;
    if (mode == PB_ROUND_RNE)
        q = (sig + ((1ull << (d - 1)) - 1) + ((sig >> d) & 1)) >> d;
    else if (mode == PB_ROUND_RTZ)
        q = sig >> d;
    else
        q = (sig + (random_bits(p->key, index) >> (64 - d))) >> d;
    if (q == 0) return 0;
    /* q <= 2^M <= 2^23 and 2^sub_exp >= 2^-85 (E < 8): an fp32 normal */
    int top = 63 - __builtin_clzll(q);
    return (uint32_t)(top + p->sub_exp + 127) << 23 |
           ((uint32_t)(q << (23 - top)) & 0x7fffffu);
}

static inline uint32_t round_bits(const params *p, uint32_t u, pb_rounding mode,
                                  uint64_t index) {
    uint32_t sign = u & F32_SIGN, a = u ^ sign, r;
    if (a >= F32_INF) return sign | (a > F32_INF ? F32_QNAN : p->on_inf);
    if (a < p->slow_below) {
        r = round_small(p, a, mode, index);
    } else if (mode == PB_ROUND_RNE) {
        r = p->d ? (a + (p->mask >> 1) + ((a >> p->d) & 1)) & ~p->mask : a;
    } else if (mode == PB_ROUND_RTZ) {
        r = a & ~p->mask;
    } else {
        r = p->d ? (a + (uint32_t)(random_bits(p->key, index) >> (64 - p->d))) & ~p->mask
                 : a;
    }
    if (r > p->max) r = p->on_overflow;
    else if (p->flush && r < p->min_normal) r = 0;
    return sign | r;
}

float pb_format_round(const pb_format *f, float x, uint64_t stream, uint64_t index) {
    if (f->is_identity && f->rounding == PB_ROUND_RNE && f->subnormals &&
        f->overflow == PB_OVERFLOW_INF)
        return x;
    params p = make_params(f, stream);
    return u2f(round_bits(&p, f2u(x), f->rounding, index));
}

/* 8 exponent bits, RNE, subnormals kept, overflow to inf: one add and mask
 * per element (a carry past max lands exactly on the inf pattern). */
static void round_e8_rne(float *x, size_t n, uint32_t d) {
    if (d == 0) return;  /* e8m23 is fp32 */
    uint32_t mask = (1u << d) - 1, half = mask >> 1;
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        uint32_t u = f2u(x[i]);
        uint32_t r = (u + half + ((u >> d) & 1)) & ~mask;
        x[i] = u2f((u & 0x7fffffffu) > F32_INF ? (u & F32_SIGN) | F32_QNAN : r);
    }
}

/* RNE or RTZ over an array with no branches, so the loop vectorises: the
 * normal-range and the below-min-normal results are both computed and one
 * is selected. Same results as round_bits (the tests compare them).
 * Below min normal, a value with fp32 exponent field ef has k = sub_exp +
 * 150 - ef bits under the quantum. For k <= 23 the implicit bit is a
 * multiple of the quantum, so rounding the magnitude bits with a k-bit mask
 * is exact, carries included. For k >= 24 the value is below the quantum:
 * nearest gives the quantum above half of it and 0 otherwise (a tie goes to
 * the even 0), toward-zero gives 0. */
static void round_array_det(const params *p, float *x, size_t n, int rtz) {
    const uint32_t d = p->d, mask = p->mask, half = rtz ? 0 : mask >> 1;
    const uint32_t odd_bit = !rtz && d ? 1 : 0, slow_below = p->slow_below;
    const uint32_t nearest = rtz ? 0 : ~0u;  /* a mask, not a branch, in the loop */
    const uint32_t max = p->max, on_overflow = p->on_overflow, on_inf = p->on_inf;
    const uint32_t flush_below = p->flush ? p->min_normal : 0;
    const int sub_exp = p->sub_exp < -148 ? -148 : p->sub_exp;  /* E = 8: unused */
    const uint32_t quantum = f2u(pow2f(sub_exp)), half_quantum = f2u(pow2f(sub_exp - 1));
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        uint32_t u = f2u(x[i]), sign = u & F32_SIGN, a = u ^ sign;
        uint32_t big = (a + half + ((a >> d) & odd_bit)) & ~mask;
        int k = sub_exp + 150 - (int)(a >> 23);
        uint32_t kc = (uint32_t)(k < 1 ? 1 : k > 23 ? 23 : k), mk = (1u << kc) - 1;
        uint32_t odd = ((a | 1u << 23) >> kc) & 1;   /* k = 23: the implicit bit */
        uint32_t mid = (a + ((mk >> 1) & nearest) + (odd & nearest)) & ~mk;
        uint32_t tiny = a > half_quantum ? quantum & nearest : 0;
        uint32_t r = a >= slow_below ? big : k <= 23 ? mid : tiny;
        r = r > max ? on_overflow : r;
        r = r < flush_below ? 0 : r;
        r = a == F32_INF ? on_inf : r;
        r = a > F32_INF ? F32_QNAN : r;
        x[i] = u2f(sign | r);
    }
}

/* One thread's share: x[0..n) are elements i0.. of the whole array (the
 * index feeds stochastic rounding, so splits do not change results). */
static void round_span(const pb_format *f, const params *p, float *x, size_t n, size_t i0) {
    int plain = f->rounding == PB_ROUND_RNE && f->subnormals && f->overflow == PB_OVERFLOW_INF;
    if (plain && f->exp_bits == 8) {
        round_e8_rne(x, n, (uint32_t)(23 - f->man_bits));
    } else if (f->rounding != PB_ROUND_STOCHASTIC) {
        round_array_det(p, x, n, f->rounding == PB_ROUND_RTZ);
    } else {
        for (size_t i = 0; i < n; i++)
            x[i] = u2f(round_bits(p, f2u(x[i]), PB_ROUND_STOCHASTIC, i0 + i));
    }
}

/* Large arrays are split across threads here, once; small ones (a row of
 * logits, called thousands of times per step, often from inside the
 * model's own parallel loops) are rounded in the calling thread, with no
 * team to start. */
void pb_format_round_array(const pb_format *f, float *x, size_t n, uint64_t stream) {
    pb_format_round_array_at(f, x, n, stream, 0);
}

void pb_format_round_array_at(const pb_format *f, float *x, size_t n, uint64_t stream,
                              uint64_t index0) {
    int plain = f->rounding == PB_ROUND_RNE && f->subnormals && f->overflow == PB_OVERFLOW_INF;
    if (plain && f->is_identity) return;
    params p = make_params(f, stream);
    if (n < 65536 || omp_in_parallel()) {
        round_span(f, &p, x, n, index0);
        return;
    }
#pragma omp parallel
    {
        size_t nt = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
        size_t lo = n * t / nt, hi = n * (t + 1) / nt;
        round_span(f, &p, x + lo, hi - lo, index0 + lo);
    }
}

void pb_format_describe(const pb_format *f, char *buf, size_t len) {
    int r = (int)f->rounding, o = (int)f->overflow;
    if (r < 0 || r > 2) r = 0;
    if (o < 0 || o > 2) o = 0;
    snprintf(buf, len,
             "%s: 1/%d/%d bias %d max %.5g min normal %.3g min subnormal %.3g, %s, "
             "overflow %s, subnormals %s",
             f->name, f->exp_bits, f->man_bits, f->bias, (double)f->max_finite,
             (double)f->min_normal, (double)f->min_subnormal, rounding_names[r],
             overflow_names[o], f->subnormals ? "kept" : "flushed");
}
