/* Integer positions added to every component (the article's first strawmen).
 *
 *   integer:       x[t, c] += p            ||PE(p)|| = p sqrt(d): the position
 *                                          swamps the token signal (low SNR)
 *   integer_norm:  x[t, c] += p / N        N = T, the length of the sequence the
 *                                          hook is given: bounded, but the same
 *                                          p / N means different p for different
 *                                          N (uniqueness across lengths is lost)
 *
 * Both add the same value to every component, and LayerNorm subtracts the
 * mean, so under norm = "layernorm" they are exactly NoPE; their effect (and
 * the SNR problem) shows with norm = "rmsnorm".
 *
 * Precision: the position is rounded at PB_SITE_POSITIONS, the added value at
 * PB_SITE_TABLES. No parameters: the backward hooks have nothing to do (the
 * model passes dx straight through an addition). */
#include "encoding.h"

static const char *const integer_options[] = {NULL};

/* x[T, d] += value(t) on every component. */
static void add_rows(const pb_encoding *e, const int *pos, int T, float *x,
                     int normalise) {
    int d = e->g.d;
    for (int t = 0; t < T; t++) {
        float p = pb_round_site1(e->prec, PB_SITE_POSITIONS, (float)pos[t]);
        float v = normalise ? p / (float)T : p;
        v = pb_round_site1(e->prec, PB_SITE_TABLES, v);
        float *xt = x + (size_t)t * d;
        for (int c = 0; c < d; c++) xt[c] += v;
    }
}

static void integer_input_forward(const pb_encoding *e, const float *params,
                                  const int *pos, int T, float *x) {
    (void)params;
    add_rows(e, pos, T, x, 0);
}

static void integer_norm_input_forward(const pb_encoding *e, const float *params,
                                       const int *pos, int T, float *x) {
    (void)params;
    add_rows(e, pos, T, x, 1);
}

static void no_params_input_backward(const pb_encoding *e, const float *params,
                                     const int *pos, int T, const float *dx,
                                     float *dparams) {
    (void)e, (void)params, (void)pos, (void)T, (void)dx, (void)dparams;
}

const pb_encoding_type pb_enc_integer = {
    .name = "integer",
    .summary = "x_p += p on every component: ||PE(p)|| = p sqrt(d) swamps the tokens",
    .reference = "\"You could have designed state of the art positional encoding\" (HF blog 2024)",
    .options_doc = "",
    .options = integer_options,
    .sites = PB_ENC_INPUT,
    .pos_dims = 1,
    .input_forward = integer_input_forward,
    .input_backward = no_params_input_backward,
};

const pb_encoding_type pb_enc_integer_norm = {
    .name = "integer_norm",
    .summary = "x_p += p / N with N the sequence length: bounded, but not unique across N",
    .reference = "\"You could have designed state of the art positional encoding\" (HF blog 2024)",
    .options_doc = "",
    .options = integer_options,
    .sites = PB_ENC_INPUT,
    .pos_dims = 1,
    .input_forward = integer_norm_input_forward,
    .input_backward = no_params_input_backward,
};
