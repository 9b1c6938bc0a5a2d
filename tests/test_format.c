/* Emulated number formats, precision sites and their Lua binding.
 *
 * The bit-level rounding in harness/numerics/format.c is checked against the facts in
 * the format tables and against an independent reference that rounds in
 * double arithmetic (frexp / nearbyint / ldexp), for every eXmY.
 *
 *   test_format                          run the tests
 *   test_format --round NAME IN OUT [rne|rtz|stochastic] [inf|saturate|nan]
 *                                        round raw little-endian float32 from
 *                                        IN into OUT (used by tests/torch) */
#include <float.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../harness/numerics/format.h"
#include "../harness/bind/lua_format.h"
#include "../harness/numerics/precision.h"
#include "check.h"

static uint32_t f2u(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static float u2f(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* same bits, or both NaN */
static int same(float a, float b) {
    return (isnan(a) && isnan(b)) || f2u(a) == f2u(b);
}

static uint64_t rng_state = 0x1234567887654321ull;
static uint64_t rng_next(void) {  /* xorshift64*: test data only */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static pb_format fmt(const char *name) {
    pb_format f;
    pb_error err;
    if (pb_format_parse(name, &f, &err)) {
        fprintf(stderr, "cannot parse %s: %s\n", name, err.msg);
        memset(&f, 0, sizeof f);
    }
    return f;
}

/* Rounds one value through both entry points (single value and array, which
 * take different code paths) and insists they agree. */
static float rnd_with(const char *name, float x, pb_rounding r, pb_overflow o, int sub) {
    pb_format f = fmt(name);
    f.rounding = r;
    f.overflow = o;
    f.subnormals = sub;
    float one = pb_format_round(&f, x, 0, 0), arr[1] = {x};
    pb_format_round_array(&f, arr, 1, 0);
    CHECK(same(one, arr[0]), "%s: %a rounds to %a alone but %a in an array", name, x, one,
          arr[0]);
    return one;
}

static float rnd(const char *name, float x) {
    pb_format f = fmt(name);
    return rnd_with(name, x, f.rounding, f.overflow, f.subnormals);
}

/* ---- independent reference: round |x| to q * 2^(max(e, emin) - M) in
 * double, with mode 0 = nearest even, 1 = toward zero, 2 = away from zero */
static double ref_round(const pb_format *f, int fn, double x, int mode) {
    int E = f->exp_bits, M = f->man_bits;
    int bias = (1 << (E - 1)) - 1, emin = 1 - bias, emax = fn ? bias + 1 : bias;
    double maxv = ldexp(2.0 - ldexp(1.0, fn ? -(M - 1) : -M), emax);
    double ovf = f->overflow == PB_OVERFLOW_SATURATE ? maxv
                 : f->overflow == PB_OVERFLOW_NAN    ? NAN
                                                     : INFINITY;
    if (isnan(x)) return NAN;
    if (isinf(x)) return isnan(ovf) ? NAN : copysign(ovf, x);
    if (x == 0) return x;
    double a = fabs(x);
    int e;
    frexp(a, &e);
    int ex = e - 1 < emin ? emin : e - 1;
    double quantum = ldexp(1.0, ex - M);
    double q = a / quantum, exact = q;
    q = mode == 0 ? nearbyint(q) : mode == 1 ? trunc(q) : ceil(q);
    /* no mantissa bits: 1.5 * 2^ex ties between two binades, and "even" is
     * the even exponent field */
    if (M == 0 && mode == 0 && exact == 1.5) q = (ex + bias) % 2 == 0 ? 1 : 2;
    double r = q * quantum;
    if (r > maxv) {
        if (f->overflow == PB_OVERFLOW_INF && mode == 1) r = maxv;
        else if (isnan(ovf)) return NAN;
        else r = ovf;
    } else if (!f->subnormals && r < ldexp(1.0, emin)) {
        r = 0;
    }
    return copysign(r, x);
}

/* ---- facts from the format table */

static void test_parse(void) {
    pb_format f;
    pb_error err;
    CHECK(pb_format_parse("fp32", &f, &err) == 0 && f.is_identity == 1, "fp32 is identity");
    CHECK(f.max_finite == FLT_MAX && f.min_subnormal == ldexpf(1, -149), "fp32 limits");
    f = fmt("bf16");
    CHECK(f.exp_bits == 8 && f.man_bits == 7 && f.bias == 127 && !f.is_identity, "bf16 shape");
    CHECK(f2u(f.max_finite) == 0x7f7f0000u && f.min_normal == ldexpf(1, -126) &&
              f.min_subnormal == ldexpf(1, -133), "bf16 limits");
    f = fmt("fp16");
    CHECK(f.bias == 15 && f.max_finite == 65504.0f && f.min_normal == ldexpf(1, -14) &&
              f.min_subnormal == ldexpf(1, -24), "fp16 limits");
    CHECK(f.rounding == PB_ROUND_RNE && f.overflow == PB_OVERFLOW_INF && f.subnormals,
          "fp16 defaults");
    f = fmt("e4m3");
    CHECK(f.bias == 7 && f.max_finite == 448.0f && f.min_normal == ldexpf(1, -6) &&
              f.min_subnormal == ldexpf(1, -9), "e4m3 limits");
    CHECK(f.overflow == PB_OVERFLOW_SATURATE, "e4m3 defaults to saturate");
    f = fmt("e5m2");
    CHECK(f.bias == 15 && f.max_finite == 57344.0f && f.min_normal == ldexpf(1, -14) &&
              f.min_subnormal == ldexpf(1, -16) && f.overflow == PB_OVERFLOW_INF,
          "e5m2 limits");
    f = fmt("e3m4");
    CHECK(strcmp(f.name, "e3m4") == 0 && f.bias == 3 && f.max_finite == 15.5f &&
              f.min_normal == 0.25f && f.min_subnormal == ldexpf(1, -6),
          "e3m4 limits (IEEE-like: top exponent reserved)");
    f = fmt("e8m7");
    CHECK(f2u(f.max_finite) == 0x7f7f0000u && f.overflow == PB_OVERFLOW_INF, "e8m7 = bf16");
    f = fmt("e2m0");
    CHECK(f.max_finite == 2.0f && f.min_normal == 1.0f && f.min_subnormal == 1.0f, "e2m0");

    const char *bad[] = {"e9m2", "e1m3", "e4m24", "fp64", "e4m", "", "E4M3", "e4m3x", "bf"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = 0;
        int rc = pb_format_parse(bad[i], &f, &err);
        char quoted[32];
        snprintf(quoted, sizeof quoted, "'%s'", bad[i]);
        CHECK(rc == -1 && strstr(err.msg, quoted) && strstr(err.msg, "eXmY") &&
                  strstr(err.msg, "bf16"),
              "parse '%s' must fail naming it and the valid forms: %s", bad[i], err.msg);
    }
    CHECK(pb_format_parse(NULL, &f, NULL) == -1, "NULL name");

    char buf[256];
    f = fmt("bf16");
    pb_format_describe(&f, buf, sizeof buf);
    CHECK(strncmp(buf, "bf16: 1/8/7 bias 127 max 3.3895e+38 ", 36) == 0, "describe: %s", buf);
    int n = 0;
    while (pb_format_names[n]) n++;
    CHECK(n == 5 && strcmp(pb_format_names[0], "fp32") == 0 &&
              strcmp(pb_format_names[4], "e5m2") == 0, "pb_format_names");
}

static void test_facts(void) {
    CHECK(rnd("bf16", 256) == 256 && rnd("bf16", 257) == 256 && rnd("bf16", 258) == 258,
          "bf16 integers");
    CHECK(rnd("bf16", 259) == 260, "bf16 259 -> 260 (tie to even)");
    CHECK(rnd("fp16", 2048) == 2048 && rnd("fp16", 2049) == 2048 && rnd("fp16", 2051) == 2052,
          "fp16 integers");
    CHECK(rnd("fp16", 65519) == 65504, "fp16 65519 -> 65504: %g", rnd("fp16", 65519));
    CHECK(isinf(rnd("fp16", 65520)) && rnd("fp16", -65520) < 0, "fp16 65520 -> inf");
    CHECK(rnd("fp16", nextafterf(65520, 0)) == 65504, "fp16 just below 65520");
    CHECK(rnd("e4m3", 464) == 448 && rnd("e4m3", 1e6f) == 448 && rnd("e4m3", -1e6f) == -448,
          "e4m3 saturates to 448");
    CHECK(rnd("e4m3", INFINITY) == 448 && rnd("e4m3", -INFINITY) == -448, "e4m3 sat inf");
    CHECK(rnd_with("e4m3", 464, PB_ROUND_RNE, PB_OVERFLOW_NAN, 1) == 448 &&
              isnan(rnd_with("e4m3", 465, PB_ROUND_RNE, PB_OVERFLOW_NAN, 1)) &&
              isnan(rnd_with("e4m3", INFINITY, PB_ROUND_RNE, PB_OVERFLOW_NAN, 1)),
          "e4m3 NaN policy: 464 -> 448, 465 -> NaN, inf -> NaN");
    CHECK(rnd("e4m3", 240) == 240 && rnd("e4m3", 256) == 256 && rnd("e4m3", 17) == 16 &&
              rnd("e4m3", 19) == 20, "e4m3 uses the top binade (fn)");
    CHECK(rnd("e5m2", 57344) == 57344 && rnd("e5m2", 61439) == 57344, "e5m2 max");
    CHECK(isinf(rnd("e5m2", 61440)), "e5m2 61440 -> inf");
    CHECK(rnd_with("e5m2", 61440, PB_ROUND_RNE, PB_OVERFLOW_SATURATE, 1) == 57344 &&
              rnd_with("e5m2", INFINITY, PB_ROUND_RNE, PB_OVERFLOW_SATURATE, 1) == 57344,
          "e5m2 saturate");
    CHECK(isinf(rnd("bf16", FLT_MAX)) && isinf(rnd("bf16", INFINITY)) &&
              f2u(rnd("bf16", u2f(0x7f7f7fffu))) == 0x7f7f0000u,
          "bf16 overflow");

    /* smallest subnormals and ties around them */
    CHECK(rnd("fp16", ldexpf(1, -24)) == ldexpf(1, -24), "fp16 min subnormal exact");
    CHECK(rnd("fp16", ldexpf(1, -25)) == 0, "fp16 2^-25 ties to 0");
    CHECK(rnd("fp16", ldexpf(1.001f, -25)) == ldexpf(1, -24), "fp16 above half min sub");
    CHECK(rnd("fp16", ldexpf(3, -25)) == ldexpf(2, -24), "fp16 3*2^-25 ties to even");
    CHECK(rnd("e4m3", ldexpf(1, -9)) == ldexpf(1, -9) && rnd("e4m3", ldexpf(1, -10)) == 0 &&
              rnd("e4m3", ldexpf(1.5f, -10)) == ldexpf(1, -9), "e4m3 min subnormal");
    CHECK(rnd("e5m2", ldexpf(1, -16)) == ldexpf(1, -16) && rnd("e5m2", ldexpf(1, -17)) == 0,
          "e5m2 min subnormal");
    CHECK(rnd("bf16", ldexpf(1, -133)) == ldexpf(1, -133) && rnd("bf16", ldexpf(1, -134)) == 0 &&
              rnd("bf16", ldexpf(3, -134)) == ldexpf(2, -133), "bf16 min subnormal");
    CHECK(rnd("fp16", ldexpf(1023, -24)) == ldexpf(1023, -24) &&
              rnd("fp16", ldexpf(1023.5f, -24)) == ldexpf(1, -14),
          "fp16 largest subnormal rounds up into min normal");

    /* ties to even in the normal range */
    CHECK(rnd("bf16", 1 + ldexpf(1, -8)) == 1, "bf16 tie down");
    CHECK(rnd("bf16", 1 + ldexpf(3, -8)) == 1 + ldexpf(1, -6), "bf16 tie up");
    CHECK(rnd("fp16", -(1 + ldexpf(1, -11))) == -1, "fp16 negative tie");
    CHECK(rnd("bf16", 1 + ldexpf(1, -8) + ldexpf(1, -20)) == 1 + ldexpf(1, -7),
          "bf16 just above a tie");

    /* toward zero */
    CHECK(rnd_with("bf16", 257.9f, PB_ROUND_RTZ, PB_OVERFLOW_INF, 1) == 256 &&
              rnd_with("bf16", -257.9f, PB_ROUND_RTZ, PB_OVERFLOW_INF, 1) == -256,
          "bf16 rtz");
    CHECK(rnd_with("fp16", 70000, PB_ROUND_RTZ, PB_OVERFLOW_INF, 1) == 65504 &&
              isinf(rnd_with("fp16", INFINITY, PB_ROUND_RTZ, PB_OVERFLOW_INF, 1)),
          "fp16 rtz overflows to max (IEEE), inf stays inf");
    CHECK(rnd_with("fp16", ldexpf(1.9f, -24), PB_ROUND_RTZ, PB_OVERFLOW_INF, 1) ==
              ldexpf(1, -24), "fp16 rtz subnormal");

    /* flushing subnormals (after rounding) */
    float z = rnd_with("fp16", -ldexpf(1, -24), PB_ROUND_RNE, PB_OVERFLOW_INF, 0);
    CHECK(z == 0 && signbit(z), "fp16 flush keeps the sign");
    CHECK(rnd_with("fp16", ldexpf(1, -14), PB_ROUND_RNE, PB_OVERFLOW_INF, 0) == ldexpf(1, -14),
          "fp16 flush keeps min normal");
    CHECK(rnd_with("fp16", ldexpf(1, -14) * (1 - ldexpf(1, -13)), PB_ROUND_RNE,
                   PB_OVERFLOW_INF, 0) == ldexpf(1, -14),
          "fp16 flush: rounds up to min normal first");
    CHECK(rnd_with("fp16", ldexpf(1, -15), PB_ROUND_RNE, PB_OVERFLOW_INF, 0) == 0,
          "fp16 flush");
    CHECK(rnd_with("bf16", ldexpf(1, -130), PB_ROUND_RNE, PB_OVERFLOW_INF, 0) == 0 &&
              rnd_with("fp32", ldexpf(1, -130), PB_ROUND_RNE, PB_OVERFLOW_INF, 0) == 0 &&
              rnd_with("e4m3", ldexpf(1, -7), PB_ROUND_RNE, PB_OVERFLOW_SATURATE, 0) == 0,
          "flush bf16, fp32, e4m3");

    /* NaN and infinities */
    const char *all[] = {"fp32", "bf16", "fp16", "e4m3", "e5m2", "e3m4", "e2m0", "e8m0"};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        CHECK(isnan(rnd(all[i], NAN)) && isnan(rnd(all[i], -NAN)) &&
                  isnan(rnd(all[i], u2f(0x7f800001u))) && isnan(rnd(all[i], u2f(0xff800001u))),
              "%s: NaN in -> NaN out", all[i]);
        CHECK(rnd(all[i], 0.0f) == 0 && signbit(rnd(all[i], -0.0f)), "%s: signed zero", all[i]);
    }
    const char *ieee[] = {"bf16", "fp16", "e5m2", "e3m4"};
    for (size_t i = 0; i < sizeof ieee / sizeof ieee[0]; i++) {
        pb_format f = fmt(ieee[i]);
        CHECK(rnd(ieee[i], INFINITY) == INFINITY && rnd(ieee[i], -INFINITY) == -INFINITY,
              "%s: inf policy", ieee[i]);
        CHECK(rnd_with(ieee[i], -INFINITY, PB_ROUND_RNE, PB_OVERFLOW_SATURATE, 1) ==
                  -f.max_finite, "%s: saturate inf", ieee[i]);
        CHECK(isnan(rnd_with(ieee[i], INFINITY, PB_ROUND_RNE, PB_OVERFLOW_NAN, 1)),
              "%s: nan policy", ieee[i]);
    }
}

/* ---- every eXmY against the double reference, plus idempotence */

static float sample_for(const pb_format *f) {
    uint64_t r = rng_next();
    if (r & 1) return u2f((uint32_t)(r >> 32));   /* any bit pattern */
    if ((r & 0x30) == 0x30) {                     /* near the overflow threshold */
        uint32_t k = (uint32_t)(r >> 40) & 0xffff;
        uint32_t u = f2u(f->max_finite) + (k & 0x7fff) * (k & 0x8000 ? 1 : 0xffffffffu);
        return (r & 2) ? -u2f(u) : u2f(u);
    }
    if ((r & 0x30) == 0x20) {                     /* a tie on the subnormal grid */
        int bits = f->man_bits < 22 ? f->man_bits : 22;
        uint64_t j = (r >> 40) & ((1ull << bits) - 1);
        float v = ldexpf((float)(2 * j + 1), 1 - f->bias - f->man_bits - 1);
        return (r & 2) ? -v : v;
    }
    /* a value near the format's range: exponent in [emin-M-2, emax+1] */
    int emin = 1 - f->bias, lo = emin - f->man_bits - 2, hi = f->bias + 2;
    if (lo < -149) lo = -149;
    int e = lo + (int)((r >> 8) % (uint64_t)(hi - lo + 1));
    float m = 1.0f + (float)((r >> 40) & 0xffffff) * ldexpf(1, -24);
    float v = ldexpf(m, e);
    if ((r & 4) && f->man_bits < 23) {  /* an exact tie between two normals */
        uint32_t half = 1u << (22 - f->man_bits);
        v = u2f((f2u(v) & ~(2 * half - 1)) | half);
    }
    return (r & 2) ? -v : v;
}

static void test_reference_sweep(void) {
    enum { N = 6000 };
    static float in[N], out[N];
    int bad_ref = 0, bad_single = 0, bad_idem = 0, bad_mono = 0, bad_sr = 0;
    for (int E = 2; E <= 8; E++)
        for (int M = 0; M <= 23; M++) {
            char name[32];
            snprintf(name, sizeof name, "e%dm%d", E, M);
            pb_format base = fmt(name), rne = base;
            int fn = E == 4 && M == 3;
            for (int variant = 0; variant < 8; variant++) {
                pb_format f = base;
                f.rounding = (pb_rounding)(variant % 3);
                f.subnormals = (variant / 3) % 2 == 0;
                f.overflow = variant == 6 ? PB_OVERFLOW_SATURATE
                             : variant == 7 ? PB_OVERFLOW_NAN
                             : fn           ? PB_OVERFLOW_SATURATE
                                            : PB_OVERFLOW_INF;
                for (int i = 0; i < N; i++) in[i] = out[i] = sample_for(&f);
                uint64_t stream = (uint64_t)variant * 977 + (uint64_t)E * 31 + (uint64_t)M;
                pb_format_round_array(&f, out, N, stream);
                for (int i = 0; i < N; i++) {
                    float one = pb_format_round(&f, in[i], stream, (uint64_t)i);
                    if (!same(one, out[i]) && bad_single++ < 5)
                        fprintf(stderr, "%s v%d: array %a vs single %a for %a\n", name,
                                variant, out[i], one, in[i]);
                    if (f.rounding == PB_ROUND_STOCHASTIC) {
                        float lo = (float)ref_round(&f, fn, in[i], 1);
                        float hi = (float)ref_round(&f, fn, in[i], 2);
                        if (!same(out[i], lo) && !same(out[i], hi) && bad_sr++ < 5)
                            fprintf(stderr, "%s v%d: stochastic %a not in {%a, %a} for %a\n",
                                    name, variant, out[i], lo, hi, in[i]);
                    } else {
                        float ref = (float)ref_round(&f, fn, in[i], f.rounding == PB_ROUND_RTZ);
                        if (!same(out[i], ref) && bad_ref++ < 5)
                            fprintf(stderr, "%s v%d: %a -> %a, reference %a\n", name,
                                    variant, in[i], out[i], ref);
                    }
                    /* outputs are representable: rounding them again changes nothing */
                    float again = pb_format_round(&rne, out[i], 0, 0);
                    if (!isinf(out[i]) && !same(again, out[i]) && bad_idem++ < 5)
                        fprintf(stderr, "%s v%d: not idempotent %a -> %a\n", name, variant,
                                out[i], again);
                }
            }
            /* monotone over an ascending sweep of positive floats */
            for (int mode = 0; mode < 2; mode++) {
                pb_format f = base;
                f.rounding = (pb_rounding)mode;
                float prev = 0;
                for (uint32_t u = 0; u < 0x7f800000u; u += 104729u) {
                    float y = pb_format_round(&f, u2f(u), 0, 0);
                    if (y < prev && bad_mono++ < 5)
                        fprintf(stderr, "%s mode %d: not monotone at %a: %a < %a\n", name,
                                mode, u2f(u), y, prev);
                    prev = y;
                }
            }
        }
    CHECK(bad_ref == 0, "reference mismatches: %d", bad_ref);
    CHECK(bad_single == 0, "array vs single mismatches: %d", bad_single);
    CHECK(bad_sr == 0, "stochastic results outside the two neighbours: %d", bad_sr);
    CHECK(bad_idem == 0, "non-idempotent results: %d", bad_idem);
    CHECK(bad_mono == 0, "monotonicity violations: %d", bad_mono);
}

/* ---- stochastic rounding: unbiased in the mean, deterministic per stream */

static void check_unbiased(const char *name, float x, int flush) {
    enum { N = 200000 };
    static float buf[N];
    pb_format f = fmt(name);
    f.rounding = PB_ROUND_STOCHASTIC;
    f.subnormals = !flush;
    for (int i = 0; i < N; i++) buf[i] = x;
    pb_format_round_array(&f, buf, N, 42);
    double mean = 0;
    for (int i = 0; i < N; i++) mean += buf[i];
    mean /= N;
    /* per-draw standard deviation <= quantum / 2 */
    double q = ldexp(1.0, ilogb(x) - f.man_bits);
    if (fabs(x) < f.min_normal) q = f.min_subnormal;
    double tol = 5 * 0.5 * q / sqrt((double)N);
    CHECK(fabs(mean - x) <= tol, "%s stochastic mean %.9g vs %.9g (tol %.3g)", name, mean,
          (double)x, tol);
}

static void test_stochastic(void) {
    check_unbiased("bf16", 1.0f + 0.3f * ldexpf(1, -7), 0);
    check_unbiased("bf16", -3.7f, 0);
    check_unbiased("fp16", 0.1f, 0);
    check_unbiased("fp16", ldexpf(0.37f, -20), 0);        /* subnormal path */
    check_unbiased("e4m3", 0.03f, 0);
    check_unbiased("e4m3", ldexpf(1.3f, -9), 0);          /* below min subnormal */
    check_unbiased("e5m2", 1000.0f, 0);
    check_unbiased("e3m4", 3.3f, 0);
    check_unbiased("bf16", ldexpf(0.7f, -130), 0);        /* fp32 subnormal in */

    enum { N = 1000 };
    float a[N], b[N], c[N];
    pb_format f = fmt("bf16");
    f.rounding = PB_ROUND_STOCHASTIC;
    for (int i = 0; i < N; i++) a[i] = b[i] = c[i] = 1.0f + 0.5f * ldexpf(1, -7);
    pb_format_round_array(&f, a, N, 7);
    pb_format_round_array(&f, b, N, 7);
    pb_format_round_array(&f, c, N, 8);
    CHECK(memcmp(a, b, sizeof a) == 0, "stochastic rounding is deterministic per stream");
    CHECK(memcmp(a, c, sizeof a) != 0, "other streams give other draws");
    int ups = 0;
    for (int i = 0; i < N; i++) ups += a[i] > 1.0f;
    CHECK(ups > 400 && ups < 600, "about half round up: %d of %d", ups, N);

    /* large arrays may run threaded: the result must not change */
    enum { BIG = 300000 };
    float *x = malloc(BIG * sizeof *x), *y = malloc(BIG * sizeof *y);
    if (x && y) {
        for (int i = 0; i < BIG; i++) x[i] = y[i] = sample_for(&f);
        pb_format_round_array(&f, x, BIG, 99);
        int diff = 0;
        for (int i = 0; i < BIG; i++) diff += !same(x[i], pb_format_round(&f, y[i], 99, (uint64_t)i));
        CHECK(diff == 0, "threaded array matches element by element: %d differ", diff);
    }
    free(x);
    free(y);
}

/* ---- precision sites */

static void test_precision(void) {
    pb_precision p;
    pb_error err;
    pb_precision_init(&p);
    CHECK(!pb_precision_any(&p) && !pb_precision_any(NULL), "fresh precision is all fp32");
    const char *expect[] = {"positions", "angles", "tables", "qk_pre", "qk_post", "logits",
                            "probs", "values", "activations", "weights", "gradients"};
    int order_ok = PB_SITE_COUNT == 11;
    for (int s = 0; s < PB_SITE_COUNT && order_ok; s++)
        order_ok = strcmp(pb_site_names[s], expect[s]) == 0;
    CHECK(order_ok, "site names in enum order");

    pb_format bf = fmt("bf16");
    CHECK(pb_precision_set(&p, "angles", &bf, &err) == 0 && p.active[PB_SITE_ANGLES] &&
              pb_precision_any(&p), "set angles to bf16");
    err.msg[0] = 0;
    CHECK(pb_precision_set(&p, "angle", &bf, &err) == -1 && strstr(err.msg, "'angle'") &&
              strstr(err.msg, "qk_post") && strstr(err.msg, "gradients"),
          "unknown site names the valid ones: %s", err.msg);

    float x[3] = {257, 1000.5f, 3};
    pb_round_site(&p, PB_SITE_ANGLES, x, 3);
    CHECK(x[0] == 256 && x[1] == 1000 && x[2] == 3, "angles rounded to bf16");
    x[0] = 257;
    pb_round_site(&p, PB_SITE_LOGITS, x, 1);
    pb_round_site(NULL, PB_SITE_ANGLES, x, 1);
    CHECK(x[0] == 257, "inactive site and NULL precision are no-ops");
    CHECK(pb_round_site1(&p, PB_SITE_ANGLES, 257) == 256 &&
              pb_round_site1(&p, PB_SITE_QK_PRE, 257) == 257 &&
              pb_round_site1(NULL, PB_SITE_ANGLES, 257) == 257, "pb_round_site1");

    pb_format fp32 = fmt("fp32");
    CHECK(pb_precision_set(&p, "angles", &fp32, &err) == 0 && !p.active[PB_SITE_ANGLES] &&
              !pb_precision_any(&p), "fp32 deactivates a site");

    /* stochastic rounding per site: deterministic, and sites draw differently */
    pb_format sr = fmt("bf16");
    sr.rounding = PB_ROUND_STOCHASTIC;
    pb_precision_set(&p, "values", &sr, &err);
    pb_precision_set(&p, "probs", &sr, &err);
    enum { N = 256 };
    float a[N], b[N], c[N];
    for (int i = 0; i < N; i++) a[i] = b[i] = c[i] = 1.0f + 0.5f * ldexpf(1, -7);
    p.stream = 5;
    pb_round_site(&p, PB_SITE_VALUES, a, N);
    pb_round_site(&p, PB_SITE_VALUES, b, N);
    pb_round_site(&p, PB_SITE_PROBS, c, N);
    CHECK(memcmp(a, b, sizeof a) == 0, "site rounding is deterministic");
    CHECK(memcmp(a, c, sizeof a) != 0, "sites draw from different streams");
}

/* ---- Lua binding */

static int l_check(lua_State *L) {
    CHECK(lua_toboolean(L, 1), "lua: %s", luaL_optstring(L, 2, "?"));
    return 0;
}

static const char *lua_tests =
    "local pb = ...\n"
    "local f = pb.format('bf16')\n"
    "check(f:round(257) == 256, 'bf16 257')\n"
    "local t = f:round({257, 1, 2049})\n"
    "check(#t == 3 and t[1] == 256 and t[2] == 1 and t[3] == 2048, 'array round')\n"
    "local e = pb.format('e4m3', {overflow = 'nan'})\n"
    "check(e:round(465) ~= e:round(465) and e:round(464) == 448, 'e4m3 nan policy')\n"
    "check(pb.format('e4m3'):round(1e6) == 448, 'e4m3 saturates')\n"
    "local i = pb.format('fp16'):info()\n"
    "check(i.name == 'fp16' and i.exp_bits == 5 and i.man_bits == 10 and i.bias == 15, 'info shape')\n"
    "check(i.max == 65504 and i.min_normal == 2^-14 and i.min_subnormal == 2^-24, 'info limits')\n"
    "check(i.rounding == 'rne' and i.overflow == 'inf' and i.subnormals == true, 'info policy')\n"
    "local g = pb.format('e3m4', {rounding = 'rtz', overflow = 'saturate', subnormals = false})\n"
    "local gi = g:info()\n"
    "check(gi.rounding == 'rtz' and gi.overflow == 'saturate' and gi.subnormals == false, 'options')\n"
    "check(g:round(100) == 15.5 and g:round(0.3) == 19/64 and g:round(0.2) == 0, 'options apply')\n"
    "check(tostring(f):find('bf16: 1/8/7', 1, true) ~= nil, 'tostring')\n"
    "local fs = pb.formats()\n"
    "check(#fs == 6 and fs[1].name == 'fp32' and fs[4].name == 'e4m3' and fs[6].name == 'eXmY', 'formats')\n"
    "check(fs[2].description:find('bf16', 1, true) ~= nil, 'format description')\n"
    "local function err(pattern, ...)\n"
    "  local ok, msg = pcall(...)\n"
    "  check(not ok and tostring(msg):find(pattern, 1, true) ~= nil,\n"
    "        'error ' .. pattern .. ' got ' .. tostring(msg))\n"
    "end\n"
    "err('e9m2', pb.format, 'e9m2')\n"
    "err('eXmY', pb.format, 'fp64')\n"
    "err('overflw', pb.format, 'bf16', {overflw = 'inf'})\n"
    "err('valid options', pb.format, 'bf16', {overflw = 'inf'})\n"
    "err('stochastic', pb.format, 'bf16', {rounding = 'nearest'})\n"
    "err('nearest', pb.format, 'bf16', {rounding = 'nearest'})\n"
    "err('infinity', pb.format, 'e4m3', {overflow = 'inf'})\n"
    "err('subnormals', pb.format, 'bf16', {subnormals = 1})\n"
    "err('seed', pb.format, 'bf16', {seed = 1.5})\n"
    "err('element 2', f.round, f, {1, 'x'})\n"
    "err('table', pb.format, 'bf16', 3)\n"
    "local x = {}\n"
    "for k = 1, 4000 do x[k] = 1 + 0.25 * 2^-7 end\n"
    "local s1 = pb.format('bf16', {rounding = 'stochastic', seed = 3}):round(x)\n"
    "local s2 = pb.format('bf16', {rounding = 'stochastic', seed = 3}):round(x)\n"
    "local s3 = pb.format('bf16', {rounding = 'stochastic', seed = 4}):round(x)\n"
    "local same, other, mean = true, false, 0\n"
    "for k = 1, #x do\n"
    "  same = same and s1[k] == s2[k]; other = other or s1[k] ~= s3[k]; mean = mean + s1[k]\n"
    "end\n"
    "mean = mean / #x\n"
    "check(same and other, 'seeded stochastic rounding')\n"
    "check(math.abs(mean - x[1]) < 5 * 0.5 * 2^-7 / math.sqrt(#x), 'lua stochastic mean')\n"
    "local sc = pb.format('bf16', {rounding = 'stochastic', seed = 3})\n"
    "local first, second = sc:round(x[1]), sc:round(x[1])\n"
    "check(first == s1[1] and second == s1[2], 'scalar calls advance the stream')\n";

static void test_lua(void) {
    lua_State *L = luaL_newstate();
    if (!L) {
        CHECK(0, "cannot create a Lua state");
        return;
    }
    luaL_openlibs(L);
    lua_pushcfunction(L, l_check);
    lua_setglobal(L, "check");
    lua_newtable(L);
    int top = lua_gettop(L);
    pb_lua_open_format(L);
    CHECK(lua_gettop(L) == top, "pb_lua_open_format leaves the stack as it was");
    if (luaL_loadstring(L, lua_tests) != LUA_OK) {
        CHECK(0, "lua tests do not compile: %s", lua_tostring(L, -1));
    } else {
        lua_pushvalue(L, top);
        if (lua_pcall(L, 1, 0, 0) != LUA_OK)
            CHECK(0, "lua tests raised: %s", lua_tostring(L, -1));
    }
    lua_close(L);
}

/* ---- --round mode for the PyTorch comparison */

static int round_file(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s --round NAME IN OUT [rne|rtz|stochastic] "
                        "[inf|saturate|nan]\n", argv[0]);
        return 2;
    }
    pb_format f;
    pb_error err;
    if (pb_format_parse(argv[2], &f, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    for (int i = 5; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "rne")) f.rounding = PB_ROUND_RNE;
        else if (!strcmp(a, "rtz")) f.rounding = PB_ROUND_RTZ;
        else if (!strcmp(a, "stochastic")) f.rounding = PB_ROUND_STOCHASTIC;
        else if (!strcmp(a, "inf")) f.overflow = PB_OVERFLOW_INF;
        else if (!strcmp(a, "saturate")) f.overflow = PB_OVERFLOW_SATURATE;
        else if (!strcmp(a, "nan")) f.overflow = PB_OVERFLOW_NAN;
        else {
            fprintf(stderr, "unknown option '%s' (rne, rtz, stochastic, inf, saturate, nan)\n", a);
            return 2;
        }
    }
    FILE *in = fopen(argv[3], "rb");
    if (!in) {
        perror(argv[3]);
        return 1;
    }
    fseek(in, 0, SEEK_END);
    long bytes = ftell(in);
    fseek(in, 0, SEEK_SET);
    size_t n = bytes > 0 ? (size_t)bytes / 4 : 0;
    float *x = malloc(n ? n * 4 : 4);
    if (!x || fread(x, 4, n, in) != n) {
        fprintf(stderr, "%s: cannot read %zu floats\n", argv[3], n);
        fclose(in);
        free(x);
        return 1;
    }
    fclose(in);
    pb_format_round_array(&f, x, n, 0);  /* raw floats: assumes a little-endian host */
    FILE *out = fopen(argv[4], "wb");
    int ok = out && fwrite(x, 4, n, out) == n;
    if (out && fclose(out)) ok = 0;
    free(x);
    if (!ok) {
        perror(argv[4]);
        return 1;
    }
    return 0;
}

/* Pieces of one tensor rounded separately with their element offsets draw
 * the same bits as the whole tensor rounded at once, and pieces at other
 * offsets draw other bits (rows of logits must not share their noise). */
static void test_offsets(void) {
    pb_format f;
    pb_error err;
    pb_format_parse("bf16", &f, &err);
    f.rounding = PB_ROUND_STOCHASTIC;
    f.is_identity = 0;
    enum { N = 256, ROW = 64 };
    float whole[N], pieces[N];
    for (int i = 0; i < N; i++) whole[i] = pieces[i] = 1.0f + 1.0f / 256.0f; /* a tie */
    pb_format_round_array(&f, whole, N, 99);
    for (int r = 0; r < N / ROW; r++)
        pb_format_round_array_at(&f, pieces + r * ROW, ROW, 99, (uint64_t)r * ROW);
    CHECK(memcmp(whole, pieces, sizeof whole) == 0,
          "pieces rounded at their offsets equal the whole tensor rounded at once");
    int same_rows = 1;
    for (int i = 0; i < ROW; i++) same_rows &= whole[i] == whole[ROW + i];
    CHECK(!same_rows, "two rows of equal values draw different stochastic bits");
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--round") == 0) return round_file(argc, argv);
    test_offsets();
    test_parse();
    test_facts();
    test_reference_sweep();
    test_stochastic();
    test_precision();
    test_lua();
    return check_summary("test_format");
}
