/* Learned absolute tables: x[t, :] += E[pos[t], :].
 *
 *   learned:  GPT-2's position table, E[size, d], size = option size
 *             (default max_len). Positions >= size have no row: prepare()
 *             fails rather than invent one.
 *   abacus:   the same table indexed by a digit's place within its number
 *             (McLeish et al. 2024). The harness's "abacus" position scheme
 *             supplies place + a random offset in [0, 100) while training, so
 *             size must cover 100 + the longest number (default 128).
 *
 * Parameters: E[size][d] row-major (row p = position p), init N(0, 0.02).
 * Precision: the position is rounded at PB_SITE_POSITIONS before it indexes
 * the table (a rounded index picks a neighbour's row, as a low-precision
 * position id would), table values at PB_SITE_TABLES (straight-through in
 * backward). Indices outside the table are clamped to it: the hooks cannot
 * fail, prepare() is where an out-of-range position is reported. */
#include "encoding.h"

#include <gsl/gsl_randist.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    int size;
} learned_state;

static const char *const learned_options[] = {"size", NULL};

static int table_create(pb_encoding *e, const pb_opts *o, int dflt_size,
                        pb_error *err) {
    const char *name = e->type->name;
    char what[64];
    snprintf(what, sizeof what, "encoding '%s'", name);
    learned_state *s = calloc(1, sizeof *s);
    if (!s) return pb_fail(err, "%s: out of memory", name);
    e->state = s;
    if (pb_opts_int(o, "size", dflt_size, &s->size, what, err)) return -1;
    if (s->size < 1)
        return pb_fail(err, "%s: option size=%d must be at least 1%s", name, s->size,
                       pb_opts_has(o, "size") ? "" : " (it defaults to the model's max_len)");
    if ((long)s->size * e->g.d > 1L << 30)
        return pb_fail(err, "%s: option size=%d makes a table of more than 2^30 floats",
                       name, s->size);
    e->n_params = s->size * e->g.d;
    e->table_rows = s->size;
    return 0;
}

static int learned_create(pb_encoding *e, const pb_opts *o, pb_error *err) {
    return table_create(e, o, e->g.max_len, err);
}

static int abacus_create(pb_encoding *e, const pb_opts *o, pb_error *err) {
    return table_create(e, o, 128, err);
}

static void table_destroy(pb_encoding *e) {
    free(e->state);
    e->state = NULL;
}

static void table_init_params(const pb_encoding *e, float *params, gsl_rng *rng) {
    for (int i = 0; i < e->n_params; i++) params[i] = (float)gsl_ran_gaussian(rng, 0.02);
}

static int table_prepare(pb_encoding *e, int max_pos, pb_error *err) {
    const learned_state *s = e->state;
    if (max_pos > s->size)
        return pb_fail(err,
                       "%s: position %d is beyond the learned table (size %d): a learned "
                       "table has no row for positions >= size; raise option size or keep "
                       "positions below %d",
                       e->type->name, max_pos - 1, s->size, s->size);
    return 0;
}

/* Row of the table that position p reads (after rounding, clamped). */
static int table_row(const pb_encoding *e, int p) {
    const learned_state *s = e->state;
    float r = pb_round_site1(e->prec, PB_SITE_POSITIONS, (float)p);
    if (!(r >= 0.0f)) return 0; /* negative or NaN */
    if (r >= (float)(s->size - 1)) return s->size - 1;
    return (int)r;
}

/* x[T, d] += E[row(pos[t]), :] */
static void table_input_forward(const pb_encoding *e, const float *params,
                                const int *pos, int T, float *x) {
    int d = e->g.d;
    for (int t = 0; t < T; t++) {
        const float *row = params + (size_t)table_row(e, pos[t]) * d;
        float *xt = x + (size_t)t * d;
        for (int c = 0; c < d; c++) xt[c] += pb_round_site1(e->prec, PB_SITE_TABLES, row[c]);
    }
}

/* dE[row(pos[t]), :] += dx[t, :] */
static void table_input_backward(const pb_encoding *e, const float *params,
                                 const int *pos, int T, const float *dx,
                                 float *dparams) {
    (void)params;
    int d = e->g.d;
    for (int t = 0; t < T; t++) {
        float *drow = dparams + (size_t)table_row(e, pos[t]) * d;
        const float *dxt = dx + (size_t)t * d;
        for (int c = 0; c < d; c++) drow[c] += dxt[c];
    }
}

const pb_encoding_type pb_enc_learned = {
    .name = "learned",
    .summary = "learned absolute table E[size, d] (GPT-2); positions >= size have no row",
    .reference = "Radford et al. 2019 (GPT-2); Gehring et al. 2017",
    .options_doc = "size=max_len  (rows of the table; params E[size][d], init N(0, 0.02))",
    .options = learned_options,
    .sites = PB_ENC_INPUT,
    .pos_dims = 1,
    .create = learned_create,
    .destroy = table_destroy,
    .init_params = table_init_params,
    .prepare = table_prepare,
    .input_forward = table_input_forward,
    .input_backward = table_input_backward,
};

const pb_encoding_type pb_enc_abacus = {
    .name = "abacus",
    .summary = "learned table indexed by a digit's place in its number "
               "(with positions = {scheme = \"abacus\"})",
    .reference = "McLeish et al. 2024, Transformers Can Do Arithmetic with the Right Embeddings",
    .options_doc = "size=128  (rows; must exceed the largest offset (100) + digits per "
                   "number; params E[size][d], init N(0, 0.02))",
    .options = learned_options,
    .sites = PB_ENC_INPUT,
    .pos_dims = 1,
    .create = abacus_create,
    .destroy = table_destroy,
    .init_params = table_init_params,
    .prepare = table_prepare,
    .input_forward = table_input_forward,
    .input_backward = table_input_backward,
};
