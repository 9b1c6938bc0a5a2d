/* Binary positions: the bits of p added to the residual stream.
 *
 * Layout (bit 0 = least significant bit of p):
 *
 *   component c gets bit (c mod bits) of p,   c = 0..d-1
 *
 * so the code p = b_{bits-1} ... b_1 b_0 fills the first `bits` components
 * LSB first and is then tiled until d is full:
 *
 *   d = 8, bits = 4, p = 5 = 0101b  ->  [1 0 1 0 | 1 0 1 0]
 *
 * A bit adds 0 or `scale`, or -scale or +scale with signed=1 (zero-mean,
 * like a +-1 code). scale defaults to 1/sqrt(d), as sinusoidal's amplitude
 * (docs/model.md); scale=1 adds the bits themselves.
 * Positions >= 2^bits would repeat a code, so prepare() refuses them.
 *
 * Precision: the position is rounded at PB_SITE_POSITIONS before its bits are
 * taken; the added values (0, +-scale) are rounded at PB_SITE_TABLES. */
#include "encoding.h"

#include <math.h>
#include <stdlib.h>

#define BINARY_MAX_BITS 30

typedef struct {
    int bits;
    int is_signed;
    double scale;
} binary_state;

static const char *const binary_options[] = {"bits", "signed", "scale", NULL};

static int binary_create(pb_encoding *e, const pb_opts *o, pb_error *err) {
    binary_state *s = calloc(1, sizeof *s);
    if (!s) return pb_fail(err, "binary: out of memory");
    e->state = s;
    int d = e->g.d;
    int dflt = d < 16 ? d : 16;
    double sgn;
    if (pb_opts_int(o, "bits", dflt, &s->bits, "encoding 'binary'", err)) return -1;
    if (pb_opts_num(o, "signed", 0, &sgn, "encoding 'binary'", err)) return -1;
    if (pb_opts_num_in(o, "scale", 1.0 / sqrt((double)d), 0.0, HUGE_VAL, 1, &s->scale,
                       "encoding 'binary'", err))
        return -1;
    if (s->bits < 1 || s->bits > BINARY_MAX_BITS)
        return pb_fail(err, "binary: option bits=%d must be in [1, %d]", s->bits,
                       BINARY_MAX_BITS);
    if (s->bits > d)
        return pb_fail(err,
                       "binary: option bits=%d exceeds the width d=%d (bits >= d would "
                       "never reach a component); use bits <= %d",
                       s->bits, d, d);
    if (sgn != 0 && sgn != 1)
        return pb_fail(err, "binary: option signed=%g must be a boolean (0/1)", sgn);
    s->is_signed = (int)sgn;
    return 0;
}

static void binary_destroy(pb_encoding *e) {
    free(e->state);
    e->state = NULL;
}

static int binary_prepare(pb_encoding *e, int max_pos, pb_error *err) {
    const binary_state *s = e->state;
    long limit = 1L << s->bits;
    if (max_pos > limit)
        return pb_fail(err,
                       "binary: position %d needs more than bits=%d bits (positions >= "
                       "%ld would repeat a code); raise option bits (at most d=%d)",
                       max_pos - 1, s->bits, limit, e->g.d);
    return 0;
}

/* Integer code of a (rounded) position; non-finite or negative -> 0. */
static unsigned long position_code(float p) {
    if (!(p >= 0.0f) || isinf(p)) return 0;
    if (p >= 2147483647.0f) return 2147483647UL;
    return (unsigned long)p;
}

static void binary_input_forward(const pb_encoding *e, const float *params,
                                 const int *pos, int T, float *x) {
    (void)params;
    const binary_state *s = e->state;
    int d = e->g.d;
    float hi = pb_round_site1(e->prec, PB_SITE_TABLES, (float)s->scale);
    float lo = s->is_signed ? -hi : 0.0f;
    for (int t = 0; t < T; t++) {
        unsigned long code =
            position_code(pb_round_site1(e->prec, PB_SITE_POSITIONS, (float)pos[t]));
        float *xt = x + (size_t)t * d;
        for (int c = 0; c < d; c++) xt[c] += (code >> (c % s->bits)) & 1UL ? hi : lo;
    }
}

static void binary_input_backward(const pb_encoding *e, const float *params,
                                  const int *pos, int T, const float *dx,
                                  float *dparams) {
    (void)e, (void)params, (void)pos, (void)T, (void)dx, (void)dparams;
}

const pb_encoding_type pb_enc_binary = {
    .name = "binary",
    .summary = "bits of p added to the components, LSB first, tiled to fill d",
    .reference = "\"You could have designed state of the art positional encoding\" (HF blog 2024)",
    .options_doc = "bits=min(16,d) signed=0 scale=1/sqrt(d)  (component c gets bit c mod "
                   "bits of p, bit 0 = LSB, times scale; signed=1 maps bits {0,1} to "
                   "{-scale,+scale})",
    .options = binary_options,
    .sites = PB_ENC_INPUT,
    .pos_dims = 1,
    .create = binary_create,
    .destroy = binary_destroy,
    .prepare = binary_prepare,
    .input_forward = binary_input_forward,
    .input_backward = binary_input_backward,
};
