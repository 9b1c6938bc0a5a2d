/* The forward pass (docs/model.md). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../core/parallel.h"
#include "attention.h"
#include "linear.h"
#include "layers.h"
#include "model.h"
#include "model_internal.h"
#include "qk_norm.h"

/* Largest position coordinate in the batch, plus one. */
static int batch_max_pos(const pb_batch *b) {
    int mx = 0;
    size_t n = (size_t)b->B * b->T * b->pos_dims;
    for (size_t i = 0; i < n; i++) mx = b->pos[i] > mx ? b->pos[i] : mx;
    return mx + 1;
}

static int positions_shared(const pb_batch *b) {
    size_t row = (size_t)b->T * b->pos_dims;
    for (int r = 1; r < b->B; r++)
        if (memcmp(b->pos, b->pos + r * row, row * sizeof(int)) != 0) return 0;
    return 1;
}

static int check_batch(const pb_model *m, const pb_batch *b, pb_error *err) {
    if (b->B <= 0 || b->T <= 0)
        return pb_fail(err, "model: empty batch (%d x %d)", b->B, b->T);
    if (b->pos_dims != m->enc.type->pos_dims)
        return pb_fail(err, "model: encoding '%s' needs %dD positions, the batch has %dD",
                       m->enc.type->name, m->enc.type->pos_dims, b->pos_dims);
    size_t n = (size_t)b->B * b->T;
    for (size_t i = 0; i < n; i++) {
        if (b->tokens[i] < 0 || b->tokens[i] >= m->cfg.vocab ||
            b->targets[i] < 0 || b->targets[i] >= m->cfg.vocab)
            return pb_fail(err, "model: token %d is outside the model's vocab of %d",
                           b->tokens[i] < 0 || b->tokens[i] >= m->cfg.vocab
                               ? b->tokens[i] : b->targets[i],
                           m->cfg.vocab);
    }
    for (size_t i = 0; i < n * b->pos_dims; i++)
        if (b->pos[i] < 0)
            return pb_fail(err, "model: negative position %d", b->pos[i]);
    return 0;
}

/* With the `weights` precision site on, forward reads a rounded copy. */
static int select_weights(pb_model *m, pb_error *err) {
    if (!m->prec.active[PB_SITE_WEIGHTS]) {
        m->used = m->params;
        return 0;
    }
    if (!m->weights_lp) {
        m->weights_lp = malloc(m->n_params * sizeof(float));
        if (!m->weights_lp) return pb_fail(err, "model: out of memory for weights copy");
    }
    memcpy(m->weights_lp, m->param_mem, m->n_params * sizeof(float));
    pb_round_site(&m->prec, PB_SITE_WEIGHTS, m->weights_lp, m->n_params);
    pb_model_point_params(&m->used, m->weights_lp, m->shapes);
    return 0;
}

/* Round a [N, width] column range of a [N, ld] matrix at a site. */
static void round_columns(const pb_precision *p, pb_site s, float *x, int N, int ld,
                          int col0, int width) {
    if (!p->active[s]) return;
    for (int n = 0; n < N; n++)
        pb_round_site_at(p, s, x + (size_t)n * ld + col0, (size_t)width,
                         (uint64_t)n * ld + col0);
}

void pb_model_layer_acts(const pb_model *m, int l, pb_layer_acts *a) {
    const pb_acts *A = &m->acts;
    size_t BT = (size_t)m->B * m->T, d = (size_t)m->cfg.d, F = (size_t)m->cfg.ff;
    size_t li = m->trained_forward ? (size_t)l : 0;
    a->ln1 = A->ln1 + li * BT * d;
    a->ln1_mean = A->ln1_mean + li * BT;
    a->ln1_rstd = A->ln1_rstd + li * BT;
    a->qkv = A->qkv + li * BT * 3 * d;
    a->qk_in = A->qk_in ? A->qk_in + li * BT * 3 * d : NULL;
    a->att = A->att ? A->att + m->layer[l].att_off : NULL;
    a->atty = A->atty + li * BT * d;
    a->res2 = A->res2 + li * BT * d;
    a->ln2 = A->ln2 + li * BT * d;
    a->ln2_mean = A->ln2_mean + li * BT;
    a->ln2_rstd = A->ln2_rstd + li * BT;
    a->fch = A->fch + li * BT * F;
    a->fch_gelu = A->fch_gelu + li * BT * F;
    a->res3 = A->res3 + li * BT * d;
    a->qkn_xhat = A->qkn_xhat ? A->qkn_xhat + li * BT * 2 * d : NULL;
    a->qkn_rstd = A->qkn_rstd ? A->qkn_rstd + li * BT * 2 * (size_t)m->cfg.heads : NULL;
    a->xin = l == 0 ? A->x0 : A->res3 + (m->trained_forward ? (size_t)(l - 1) : 0) * BT * d;
}

void pb_norm_forward(const pb_model *m, float *out, float *mean, float *rstd,
                     const float *x, const float *w, const float *b, int N) {
    if (m->cfg.norm == PB_NORM_LAYER)
        pb_layernorm_forward(out, mean, rstd, x, w, b, N, m->cfg.d);
    else
        pb_rmsnorm_forward(out, rstd, x, w, N, m->cfg.d);
}

float *pb_model_group_bias(const pb_model *m, float *base, int g) {
    int slot = m->group_bias[g];
    if (!base || slot < 0) return NULL;
    size_t per = (base == m->acts.bias ? m->act_sizes[PB_A_bias] : m->act_sizes[PB_A_dbias]) /
                 (size_t)m->n_bias_slots;
    return base + (size_t)slot * per;
}

void pb_model_attn_setup(const pb_model *m, const pb_batch *b, int l, pb_attn *a) {
    const pb_model_config *c = &m->cfg;
    const pb_layer_spec *s = &m->spec[l];
    int off;
    const pb_encoding *e = pb_model_layer_encoding(m, l, &off);
    a->B = b->B;
    a->T = b->T;
    a->d = c->d;
    a->H = c->heads;
    a->dh = c->d / c->heads;
    a->causal = c->causal;
    a->scale = e->logit_scale / sqrtf((float)a->dh);
    a->enc = e;
    a->enc_params = m->used.enc + off;
    a->pos = b->pos;
    a->pos_dims = b->pos_dims;
    a->bias = s->span == PB_SPAN_GLOBAL ? m->bias_in_use[m->layer[l].group] : NULL;
    a->bias_shared = m->shared_pos;
    a->prec = &m->prec;
    a->span = s->span;
    a->span_size = s->span_size;
    a->softcap = (float)s->softcap;
}

/* A group's bias depends on positions only, not on the layer: compute it
 * once per forward, once for the batch when all rows share positions.
 * NULL when attention must compute it blockwise instead (inference with
 * per-row positions, a table too large to keep, or no global layer). */
static const float *compute_bias(pb_model *m, const pb_batch *b, int g) {
    const pb_encoding *e = pb_model_group_encoding(m, g);
    float *table = pb_model_group_bias(m, m->acts.bias, g);
    if (!(e->type->sites & PB_ENC_BIAS) || !table) return NULL;
    if (!m->trained_forward && !m->shared_pos) return NULL;
    int T = b->T, H = m->cfg.heads, pd = b->pos_dims;
    int rows = m->shared_pos ? 1 : b->B;
    for (int r = 0; r < rows; r++) {
        const int *pos = b->pos + (size_t)r * T * pd;
        float *out = table + (size_t)r * H * T * T;
        e->type->bias_forward(e, m->used.enc + m->group_off[g], pos, T, pos, T, out);
        pb_round_site(&m->prec, PB_SITE_TABLES, out, (size_t)H * T * T);
    }
    return table;
}

static void embed(pb_model *m, const pb_batch *b) {
    int d = m->cfg.d, T = b->T, pd = b->pos_dims;
    float *x0 = m->acts.x0;
    const float *wte = m->used.wte;
#pragma omp parallel for schedule(static) if ((long)b->B * T * d >= PB_PAR_MIN_ELEMS)
    for (int r = 0; r < b->B; r++) {
        for (int t = 0; t < T; t++)
            memcpy(x0 + ((size_t)r * T + t) * d, wte + (size_t)b->tokens[r * T + t] * d,
                   d * sizeof(float));
        if (m->enc.type->sites & PB_ENC_INPUT)
            m->enc.type->input_forward(&m->enc, m->used.enc, b->pos + (size_t)r * T * pd,
                                       T, x0 + (size_t)r * T * d);
    }
    pb_round_site(&m->prec, PB_SITE_ACTIVATIONS, x0, (size_t)b->B * T * d);
}

/* q, k of layer l: rounding sites, QK-norm before or after the encoding's
 * transform, then the layer's temperature on q. */
static void transform_qk(pb_model *m, const pb_batch *b, int l, pb_layer_acts *a) {
    const pb_layer_spec *s = &m->spec[l];
    int d = m->cfg.d, H = m->cfg.heads, T = b->T, pd = b->pos_dims, N = b->B * T, off;
    float *qkv = a->qkv;
    const pb_encoding *e = pb_model_layer_encoding(m, l, &off);
    const float *w = s->qk_norm_weight ? m->used.qkn_w + (size_t)l * 2 * (d / H) : NULL;
    round_columns(&m->prec, PB_SITE_QK_PRE, qkv, N, 3 * d, 0, 2 * d);
    round_columns(&m->prec, PB_SITE_VALUES, qkv, N, 3 * d, 2 * d, d);
    if (s->qk_norm == PB_QKNORM_PRE)
        pb_qknorm_forward(qkv, a->qkn_xhat, a->qkn_rstd, w, N, d, H, (float)s->qk_norm_eps);
    if (e->type->sites & PB_ENC_QK) {
        if (a->qk_in) memcpy(a->qk_in, qkv, (size_t)N * 3 * d * sizeof(float));
        const float *params = m->used.enc + off;
#pragma omp parallel for schedule(static) if ((long)N * d >= PB_PAR_MIN_ELEMS)
        for (int r = 0; r < b->B; r++) {
            float *x = qkv + (size_t)r * T * 3 * d;
            const int *pos = b->pos + (size_t)r * T * pd;
            e->type->qk_forward(e, params, pos, T, 0, x, 3 * d);
            e->type->qk_forward(e, params, pos, T, 1, x + d, 3 * d);
        }
    }
    if (s->qk_norm == PB_QKNORM_POST)
        pb_qknorm_forward(qkv, a->qkn_xhat, a->qkn_rstd, w, N, d, H, (float)s->qk_norm_eps);
    round_columns(&m->prec, PB_SITE_QK_POST, qkv, N, 3 * d, 0, 2 * d);
    if (pb_model_temperature_on(m, l)) pb_model_scale_queries(m, b, l, qkv);
}

static int forward(pb_model *m, const pb_batch *b, int want_grad, int inspect, pb_error *err);

int pb_model_forward(pb_model *m, const pb_batch *b, int want_grad, pb_error *err) {
    return forward(m, b, want_grad, 0, err);
}

int pb_model_forward_inspect(pb_model *m, const pb_batch *b, pb_error *err) {
    return forward(m, b, 1, 1, err);
}

static int forward(pb_model *m, const pb_batch *b, int want_grad, int inspect, pb_error *err) {
    if (check_batch(m, b, err)) return -1;
    if (pb_model_reserve(m, b->B, b->T, want_grad, err)) return -1;
    int max_pos = batch_max_pos(b);
    for (int g = 0; g < m->n_groups; g++)
        if (pb_encoding_prepare(pb_model_group_encoding(m, g), max_pos, err)) return -1;
    if (select_weights(m, err)) return -1;
    for (int g = 0; g < m->n_groups; g++) {
        pb_encoding *e = pb_model_group_encoding(m, g);
        if (pb_encoding_refresh(e, m->used.enc + m->group_off[g], err)) return -1;
    }
    /* Stochastic rounding draws fresh bits after every update, the same
     * bits for the same seed and step. */
    m->prec.stream = (uint64_t)m->cfg.seed * 0x9e3779b97f4a7c15ull + (uint64_t)m->opt_step;
    const pb_model_config *c = &m->cfg;
    const pb_params *p = &m->used;
    int N = b->B * b->T, d = c->d, F = c->ff, V = c->vocab;
    m->B = b->B;
    m->T = b->T;
    m->trained_forward = want_grad ? 1 : 0;
    m->inspecting = inspect;
    m->shared_pos = positions_shared(b);

    embed(m, b);
    for (int g = 0; g < m->n_groups; g++) m->bias_in_use[g] = compute_bias(m, b, g);
    for (int l = 0; l < c->layers; l++) {
        pb_layer_acts a;
        pb_attn attn;
        pb_model_layer_acts(m, l, &a);
        pb_model_attn_setup(m, b, l, &attn);
        pb_norm_forward(m, a.ln1, a.ln1_mean, a.ln1_rstd, a.xin, p->ln1_w + l * d,
                        c->norm == PB_NORM_LAYER ? p->ln1_b + l * d : NULL, N);
        pb_linear_forward(a.qkv, a.ln1, p->qkv_w + (size_t)l * 3 * d * d,
                          p->qkv_b + l * 3 * d, N, d, 3 * d);
        transform_qk(m, b, l, &a);
        pb_attention_forward(&attn, a.atty, a.qkv, a.att, m->acts.scratch);
        pb_linear_forward(a.res2, a.atty, p->proj_w + (size_t)l * d * d, p->proj_b + l * d,
                          N, d, d);
        pb_residual_forward(a.res2, a.res2, a.xin, (long)N * d);
        pb_norm_forward(m, a.ln2, a.ln2_mean, a.ln2_rstd, a.res2, p->ln2_w + l * d,
                        c->norm == PB_NORM_LAYER ? p->ln2_b + l * d : NULL, N);
        pb_linear_forward(a.fch, a.ln2, p->fc_w + (size_t)l * F * d, p->fc_b + l * F, N, d,
                          F);
        if (want_grad) /* a.fch becomes GELU's derivative for the backward */
            pb_gelu_forward_keep(a.fch_gelu, a.fch, (long)N * F);
        else
            pb_gelu_forward(a.fch_gelu, a.fch, (long)N * F);
        pb_linear_forward(a.res3, a.fch_gelu, p->fcp_w + (size_t)l * d * F,
                          p->fcp_b + l * d, N, F, d);
        pb_residual_forward(a.res3, a.res3, a.res2, (long)N * d);
        pb_round_site(&m->prec, PB_SITE_ACTIVATIONS, a.res3, (size_t)N * d);
    }
    pb_layer_acts last;
    pb_model_layer_acts(m, c->layers - 1, &last);
    pb_norm_forward(m, m->acts.lnf, m->acts.lnf_mean, m->acts.lnf_rstd, last.res3,
                    p->lnf_w, c->norm == PB_NORM_LAYER ? p->lnf_b : NULL, N);
    pb_linear_forward(m->acts.logits, m->acts.lnf, c->tied ? p->wte : p->head_w, NULL,
                      N, d, V);
    double mask_sum = pb_crossentropy_forward(m->acts.logits, m->acts.losses,
                                              b->targets, b->mask, N, V);
    double total = 0.0;
    for (int i = 0; i < N; i++) total += (double)b->mask[i] * m->acts.losses[i];
    m->mask_sum = mask_sum;
    m->loss = mask_sum > 0 ? (float)(total / mask_sum) : 0.0f;
    return 0;
}
