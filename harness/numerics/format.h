/* Emulated number formats.
 *
 * Values stay in fp32 storage; a format rounds them to the nearest value it
 * can represent (with the chosen rounding, subnormal and overflow policy).
 * Names: fp32, bf16, fp16, e4m3, e5m2 and generic eXmY (e.g. e3m4, e8m7),
 * 1 sign bit, X exponent bits (bias 2^(X-1)-1), Y mantissa bits. */
#ifndef PB_FORMAT_H
#define PB_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "../core/pb_error.h"

typedef enum { PB_ROUND_RNE, PB_ROUND_RTZ, PB_ROUND_STOCHASTIC } pb_rounding;
typedef enum {
    PB_OVERFLOW_INF,      /* beyond the overflow threshold -> +-inf */
    PB_OVERFLOW_SATURATE, /* clamp to +-max finite */
    PB_OVERFLOW_NAN       /* -> NaN (E4M3 "fn" style) */
} pb_overflow;

typedef struct pb_format {
    char name[16];
    int exp_bits, man_bits;
    int bias;
    int is_identity;   /* fp32 with RNE: rounding is a no-op */
    pb_rounding rounding;
    pb_overflow overflow;
    int subnormals;    /* 1: kept; 0: flushed to signed zero */
    float max_finite, min_normal, min_subnormal;
} pb_format;

/* Parse a name and fill defaults (RNE, subnormals kept; overflow inf, except
 * e4m3 which has no inf and defaults to saturate). */
int pb_format_parse(const char *name, pb_format *f, pb_error *err);

/* Round one value. `stream` feeds stochastic rounding only: the random bits
 * are a hash of (stream, index), so results do not depend on thread count. */
float pb_format_round(const pb_format *f, float x, uint64_t stream, uint64_t index);
void pb_format_round_array(const pb_format *f, float *x, size_t n, uint64_t stream);
/* The same for x[0..n) being elements index0.. of a larger tensor, so that
 * pieces rounded separately draw independent stochastic bits. */
void pb_format_round_array_at(const pb_format *f, float *x, size_t n, uint64_t stream,
                              uint64_t index0);

/* Short description, e.g. "bf16: 1/8/7 bias 127 max 3.39e38". */
void pb_format_describe(const pb_format *f, char *buf, size_t len);

/* NULL-terminated list of the named formats, for `posbench list formats`. */
extern const char *const pb_format_names[];

#endif
