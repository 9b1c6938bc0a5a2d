/* Sinusoidal positions (Vaswani et al. 2017), in 1D and 2D.
 *
 *   sinusoidal:    PE(p, 2k) = sin(p w_k), PE(p, 2k+1) = cos(p w_k),
 *                  w_k = base^(-2k/d), k = 0..d/2-1
 *                  ||PE(p)|| = sqrt(d/2) for every p (bounded, unlike integer)
 *   sinusoidal2d:  positions (x, y); components [0, d/2) hold the 1D code of
 *                  x with width d/2 (w_k = base^(-2k/(d/2))), components
 *                  [d/2, d) the same code of y.
 *
 * Amplitude: option `scale`, default 1/sqrt(d) (d = the model width). The
 * Transformer (Vaswani et al. 2017, section 3.4) adds the unit-amplitude
 * table to token embeddings multiplied by sqrt(d); this model keeps its
 * token embeddings unscaled, so the table is divided by sqrt(d) instead:
 * the same sum up to one factor sqrt(d) on the whole input, which the first
 * pre-norm removes, and the same token-to-position ratio (docs/model.md).
 * scale=1 is the table as the paper writes it.
 *
 * Angles are formed in double. Precision: the position is rounded at
 * PB_SITE_POSITIONS, the angle p w_k at PB_SITE_ANGLES (when that site is
 * active), and sin/cos at PB_SITE_TABLES. Values are computed on the fly, so
 * any position works without prepare(). */
#include "encoding.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    double base;
    double scale;  /* amplitude: default 1/sqrt(d), see above */
    int width;     /* components per coordinate: d (1D) or d/2 (2D) */
    double *freq;  /* [width/2] w_k */
} sinusoidal_state;

static const char *const sinusoidal_options[] = {"base", "scale", NULL};

static int sinusoidal_setup(pb_encoding *e, const pb_opts *o, int dims,
                            pb_error *err) {
    const char *name = e->type->name;
    char what[64];
    snprintf(what, sizeof what, "encoding '%s'", name);
    sinusoidal_state *s = calloc(1, sizeof *s);
    if (!s) return pb_fail(err, "%s: out of memory", name);
    e->state = s;
    int d = e->g.d;
    if (dims == 1 && d % 2 != 0)
        return pb_fail(err, "%s: the width d=%d must be even (sin/cos pairs)", name, d);
    if (dims == 2 && d % 4 != 0)
        return pb_fail(err,
                       "%s: the width d=%d must be divisible by 4 (a sin/cos half for "
                       "each of x and y)",
                       name, d);
    if (pb_opts_num_in(o, "base", 10000.0, 0.0, HUGE_VAL, 1, &s->base, what, err) ||
        pb_opts_num_in(o, "scale", 1.0 / sqrt((double)d), 0.0, HUGE_VAL, 1, &s->scale, what,
                       err))
        return -1;
    s->width = d / dims;
    int nf = s->width / 2;
    s->freq = malloc((size_t)nf * sizeof *s->freq);
    if (!s->freq) return pb_fail(err, "%s: out of memory", name);
    for (int k = 0; k < nf; k++)
        s->freq[k] = pow(s->base, -2.0 * k / (double)s->width);
    return 0;
}

static int sinusoidal_create(pb_encoding *e, const pb_opts *o, pb_error *err) {
    return sinusoidal_setup(e, o, 1, err);
}

static int sinusoidal2d_create(pb_encoding *e, const pb_opts *o, pb_error *err) {
    return sinusoidal_setup(e, o, 2, err);
}

static void sinusoidal_destroy(pb_encoding *e) {
    sinusoidal_state *s = e->state;
    if (s) free(s->freq);
    free(s);
    e->state = NULL;
}

/* xt[0, width) += code of one coordinate p. */
static void add_code(const pb_encoding *e, const sinusoidal_state *s, int p_int,
                     float *xt) {
    const pb_precision *prec = e->prec;
    int round_angles = prec && prec->active[PB_SITE_ANGLES];
    double p = pb_round_site1(prec, PB_SITE_POSITIONS, (float)p_int);
    for (int k = 0; k < s->width / 2; k++) {
        double a = p * s->freq[k];
        if (round_angles) a = pb_round_site1(prec, PB_SITE_ANGLES, (float)a);
        xt[2 * k] += pb_round_site1(prec, PB_SITE_TABLES, (float)(s->scale * sin(a)));
        xt[2 * k + 1] += pb_round_site1(prec, PB_SITE_TABLES, (float)(s->scale * cos(a)));
    }
}

static void sinusoidal_input_forward(const pb_encoding *e, const float *params,
                                     const int *pos, int T, float *x) {
    (void)params;
    const sinusoidal_state *s = e->state;
    for (int t = 0; t < T; t++) add_code(e, s, pos[t], x + (size_t)t * e->g.d);
}

/* pos[t*2 + 0] = x, pos[t*2 + 1] = y. */
static void sinusoidal2d_input_forward(const pb_encoding *e, const float *params,
                                       const int *pos, int T, float *x) {
    (void)params;
    const sinusoidal_state *s = e->state;
    for (int t = 0; t < T; t++) {
        float *xt = x + (size_t)t * e->g.d;
        add_code(e, s, pos[2 * t], xt);
        add_code(e, s, pos[2 * t + 1], xt + s->width);
    }
}

static void sinusoidal_input_backward(const pb_encoding *e, const float *params,
                                      const int *pos, int T, const float *dx,
                                      float *dparams) {
    (void)e, (void)params, (void)pos, (void)T, (void)dx, (void)dparams;
}

const pb_encoding_type pb_enc_sinusoidal = {
    .name = "sinusoidal",
    .summary = "PE(p,2k) = sin(p w_k), PE(p,2k+1) = cos(p w_k), w_k = base^(-2k/d)",
    .reference = "Vaswani et al. 2017, Attention Is All You Need",
    .options_doc = "base=10000 scale=1/sqrt(d) (amplitude; 1 = the paper's table)  "
                   "(d must be even)",
    .options = sinusoidal_options,
    .sites = PB_ENC_INPUT,
    .pos_dims = 1,
    .create = sinusoidal_create,
    .destroy = sinusoidal_destroy,
    .input_forward = sinusoidal_input_forward,
    .input_backward = sinusoidal_input_backward,
};

const pb_encoding_type pb_enc_sinusoidal2d = {
    .name = "sinusoidal2d",
    .summary = "2D sinusoidal: first half of d encodes x, second half y (width d/2 each)",
    .reference = "Vaswani et al. 2017, one code per axis (the 2D form used by DETR and MAE)",
    .options_doc = "base=10000 scale=1/sqrt(d)  (d must be divisible by 4; positions "
                   "(x, y))",
    .options = sinusoidal_options,
    .sites = PB_ENC_INPUT,
    .pos_dims = 2,
    .create = sinusoidal2d_create,
    .destroy = sinusoidal_destroy,
    .input_forward = sinusoidal2d_input_forward,
    .input_backward = sinusoidal_input_backward,
};
