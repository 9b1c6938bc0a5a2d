/* The backward pass: the forward of model_forward.c in reverse. Every
 * parameter gradient is ADDED to m->grads; rounding sites are treated as
 * the identity (straight-through). */
#include <string.h>

#include "../core/parallel.h"
#include "attention.h"
#include "linear.h"
#include "layers.h"
#include "model.h"
#include "model_internal.h"
#include "qk_norm.h"

static void norm_backward(const pb_model *m, float *dx, float *dw, float *db,
                          const float *dout, const float *x, const float *w,
                          const float *mean, const float *rstd, int N) {
    if (m->cfg.norm == PB_NORM_LAYER)
        pb_layernorm_backward(dx, dw, db, dout, x, w, mean, rstd, N, m->cfg.d);
    else
        pb_rmsnorm_backward(dx, dw, dout, x, w, rstd, N, m->cfg.d);
}

/* The encoding's q/k transform of layer l, backward. */
static void enc_qk_backward(pb_model *m, const pb_batch *b, int l, const float *qk_in,
                            float *dqkv) {
    int off;
    const pb_encoding *e = pb_model_layer_encoding(m, l, &off);
    if (!(e->type->sites & PB_ENC_QK)) return;
    int d = m->cfg.d, T = b->T, pd = b->pos_dims;
    const pb_encoding_type *t = e->type;
    const float *params = m->used.enc + off;
    float *dparams = m->grads.enc + off;
    if (e->n_params == 0) {
#pragma omp parallel for schedule(static) if ((long)b->B * T * d >= PB_PAR_MIN_ELEMS)
        for (int r = 0; r < b->B; r++) {
            const int *pos = b->pos + (size_t)r * T * pd;
            float *dx = dqkv + (size_t)r * T * 3 * d;
            t->qk_backward(e, params, pos, T, 0, NULL, 0, dx, 3 * d, NULL);
            t->qk_backward(e, params, pos, T, 1, NULL, 0, dx + d, 3 * d, NULL);
        }
        return;
    }
    /* Learnable transform: one sequence at a time, so dparams sums in order. */
    for (int r = 0; r < b->B; r++) {
        const int *pos = b->pos + (size_t)r * T * pd;
        const float *x = qk_in + (size_t)r * T * 3 * d;
        float *dx = dqkv + (size_t)r * T * 3 * d;
        t->qk_backward(e, params, pos, T, 0, x, 3 * d, dx, 3 * d, dparams);
        t->qk_backward(e, params, pos, T, 1, x + d, 3 * d, dx + d, 3 * d, dparams);
    }
}

/* transform_qk of model_forward.c in reverse: temperature, QK-norm after,
 * the encoding, QK-norm before. */
static void qk_backward(pb_model *m, const pb_batch *b, int l, const pb_layer_acts *a,
                        float *dqkv) {
    const pb_layer_spec *s = &m->spec[l];
    int d = m->cfg.d, H = m->cfg.heads, N = b->B * b->T;
    size_t woff = (size_t)l * 2 * (d / H);
    const float *w = s->qk_norm_weight ? m->used.qkn_w + woff : NULL;
    float *dw = s->qk_norm_weight ? m->grads.qkn_w + woff : NULL;
    if (pb_model_temperature_on(m, l)) pb_model_scale_queries(m, b, l, dqkv);
    if (s->qk_norm == PB_QKNORM_POST)
        pb_qknorm_backward(dqkv, dw, a->qkn_xhat, a->qkn_rstd, w, N, d, H);
    enc_qk_backward(m, b, l, a->qk_in, dqkv);
    if (s->qk_norm == PB_QKNORM_PRE)
        pb_qknorm_backward(dqkv, dw, a->qkn_xhat, a->qkn_rstd, w, N, d, H);
}

static void input_backward(pb_model *m, const pb_batch *b, const float *dx0) {
    int d = m->cfg.d, T = b->T, pd = b->pos_dims;
    float *dwte = m->grads.wte;
    /* Token rows repeat, so this scatter-add stays serial (deterministic). */
    for (int i = 0; i < b->B * T; i++) {
        float *row = dwte + (size_t)b->tokens[i] * d;
        const float *g = dx0 + (size_t)i * d;
        for (int c = 0; c < d; c++) row[c] += g[c];
    }
    if ((m->enc.type->sites & PB_ENC_INPUT) && m->enc.n_params > 0)
        for (int r = 0; r < b->B; r++)
            m->enc.type->input_backward(&m->enc, m->used.enc, b->pos + (size_t)r * T * pd,
                                        T, dx0 + (size_t)r * T * d, m->grads.enc);
}

static void bias_backward(pb_model *m, const pb_batch *b, int g) {
    float *db = pb_model_group_bias(m, m->acts.dbias, g);
    const pb_encoding *e = pb_model_group_encoding(m, g);
    if (!db || e->n_params == 0) return;
    int T = b->T, H = m->cfg.heads, pd = b->pos_dims;
    const float *params = m->used.enc + m->group_off[g];
    float *dparams = m->grads.enc + m->group_off[g];
    size_t per_row = (size_t)H * T * T;
    if (m->shared_pos) {
        /* Sum the rows into row 0 in a fixed order, then one hook call. */
#pragma omp parallel for schedule(static) if ((long)per_row * b->B >= PB_PAR_MIN_ELEMS)
        for (size_t i = 0; i < per_row; i++)
            for (int r = 1; r < b->B; r++) db[i] += db[(size_t)r * per_row + i];
        e->type->bias_backward(e, params, b->pos, T, b->pos, T, db, dparams);
        return;
    }
    for (int r = 0; r < b->B; r++) {
        const int *pos = b->pos + (size_t)r * T * pd;
        e->type->bias_backward(e, params, pos, T, pos, T, db + (size_t)r * per_row, dparams);
    }
}

int pb_model_backward(pb_model *m, const pb_batch *b, pb_error *err) {
    if (!m->trained_forward || m->B != b->B || m->T != b->T)
        return pb_fail(err, "model: backward needs a forward with gradients on this batch");
    const pb_model_config *c = &m->cfg;
    const pb_params *p = &m->used;
    pb_params *g = &m->grads;
    pb_acts *D = &m->dacts;
    int N = b->B * b->T, d = c->d, F = c->ff, V = c->vocab;
    size_t Nd = (size_t)N * d;
    if (m->acts.dbias) memset(m->acts.dbias, 0, m->act_sizes[PB_A_dbias] * sizeof(float));

    /* loss -> logits -> final norm; D->res3 carries d(loss)/d(residual). */
    pb_crossentropy_backward(D->logits, m->acts.logits, b->targets, b->mask, m->mask_sum,
                             N, V);
    pb_linear_backward(D->lnf, c->tied ? g->wte : g->head_w, NULL, D->logits,
                       m->acts.lnf, c->tied ? p->wte : p->head_w, N, d, V);
    pb_layer_acts last;
    pb_model_layer_acts(m, c->layers - 1, &last);
    memset(D->res3, 0, Nd * sizeof(float));
    norm_backward(m, D->res3, g->lnf_w, g->lnf_b, D->lnf, last.res3, p->lnf_w,
                  m->acts.lnf_mean, m->acts.lnf_rstd, N);

    for (int l = c->layers - 1; l >= 0; l--) {
        pb_layer_acts a;
        pb_attn attn;
        pb_model_layer_acts(m, l, &a);
        pb_model_attn_setup(m, b, l, &attn);
        int layer_norm = c->norm == PB_NORM_LAYER;
        /* MLP */
        pb_linear_backward(D->fch_gelu, g->fcp_w + (size_t)l * d * F, g->fcp_b + l * d,
                           D->res3, a.fch_gelu, p->fcp_w + (size_t)l * d * F, N, F, d);
        pb_mul_forward(D->fch, a.fch, D->fch_gelu, (long)N * F); /* a.fch: gelu' */
        pb_linear_backward(D->ln2, g->fc_w + (size_t)l * F * d, g->fc_b + l * F, D->fch,
                           a.ln2, p->fc_w + (size_t)l * F * d, N, d, F);
        norm_backward(m, D->res3, g->ln2_w + l * d, layer_norm ? g->ln2_b + l * d : NULL,
                      D->ln2, a.res2, p->ln2_w + l * d, a.ln2_mean, a.ln2_rstd, N);
        /* attention */
        pb_linear_backward(D->atty, g->proj_w + (size_t)l * d * d, g->proj_b + l * d,
                           D->res3, a.atty, p->proj_w + (size_t)l * d * d, N, d, d);
        pb_attention_backward(&attn, D->qkv,
                              attn.bias ? pb_model_group_bias(m, m->acts.dbias, m->layer[l].group)
                                        : NULL,
                              D->atty, a.qkv, a.att, m->acts.scratch);
        qk_backward(m, b, l, &a, D->qkv);
        pb_linear_backward(D->ln1, g->qkv_w + (size_t)l * 3 * d * d, g->qkv_b + l * 3 * d,
                           D->qkv, a.ln1, p->qkv_w + (size_t)l * 3 * d * d, N, d, 3 * d);
        norm_backward(m, D->res3, g->ln1_w + l * d, layer_norm ? g->ln1_b + l * d : NULL,
                      D->ln1, a.xin, p->ln1_w + l * d, a.ln1_mean, a.ln1_rstd, N);
    }
    input_backward(m, b, D->res3);
    for (int g = 0; g < m->n_groups; g++) bias_backward(m, b, g);
    for (int g = 0; g < m->n_groups; g++)
        if (pb_encoding_backward_end(pb_model_group_encoding(m, g), m->used.enc + m->group_off[g],
                                     m->grads.enc + m->group_off[g], err))
            return -1;
    pb_round_site(&m->prec, PB_SITE_GRADIENTS, m->grad_mem, m->n_params);
    return 0;
}
