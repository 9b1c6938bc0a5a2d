/* Model construction, memory layout and initialisation. The forward and
 * backward passes are in model_forward.c and model_backward.c. */
#include "model.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "../core/streams.h"
#include "model_internal.h"

const char *const pb_param_names[PB_N_PARAM_TENSORS] = {
#define X(name) #name,
    PB_PARAM_TENSORS(X)
#undef X
};

void pb_model_config_defaults(pb_model_config *c) {
    memset(c, 0, sizeof *c);
    c->vocab = 16;
    c->d = 64;
    c->heads = 4;
    c->layers = 2;
    c->ff = 0; /* 0: 4d */
    c->max_len = 64;
    c->causal = 1;
    c->tied = 1;
    c->norm = PB_NORM_LAYER;
    strcpy(c->encoding, pb_encoding_default);
    pb_precision_init(&c->prec);
    c->seed = 1;
}

static void set_shape(pb_param_shape *s, int decay, int ndim, int a, int b, int c) {
    s->ndim = ndim;
    s->shape[0] = a;
    s->shape[1] = b;
    s->shape[2] = c;
    s->size = (size_t)a * (ndim > 1 ? (size_t)b : 1) * (ndim > 2 ? (size_t)c : 1);
    s->decay = decay;
}

static void param_shapes(const pb_model_config *c, int n_enc, int qkn, pb_param_shape *s) {
    int V = c->vocab, d = c->d, L = c->layers, F = c->ff;
    int nb = c->norm == PB_NORM_LAYER; /* rmsnorm has no bias */
    set_shape(&s[PB_P_wte], 1, 2, V, d, 0);
    set_shape(&s[PB_P_enc], 0, 1, n_enc, 0, 0);
    set_shape(&s[PB_P_ln1_w], 0, 2, L, d, 0);
    set_shape(&s[PB_P_ln1_b], 0, 2, L, d * nb, 0);
    set_shape(&s[PB_P_qkv_w], 1, 3, L, 3 * d, d);
    set_shape(&s[PB_P_qkv_b], 0, 2, L, 3 * d, 0);
    set_shape(&s[PB_P_proj_w], 1, 3, L, d, d);
    set_shape(&s[PB_P_proj_b], 0, 2, L, d, 0);
    set_shape(&s[PB_P_ln2_w], 0, 2, L, d, 0);
    set_shape(&s[PB_P_ln2_b], 0, 2, L, d * nb, 0);
    set_shape(&s[PB_P_fc_w], 1, 3, L, F, d);
    set_shape(&s[PB_P_fc_b], 0, 2, L, F, 0);
    set_shape(&s[PB_P_fcp_w], 1, 3, L, d, F);
    set_shape(&s[PB_P_fcp_b], 0, 2, L, d, 0);
    set_shape(&s[PB_P_lnf_w], 0, 1, d, 0, 0);
    set_shape(&s[PB_P_lnf_b], 0, 1, d * nb, 0, 0);
    set_shape(&s[PB_P_head_w], 1, 2, c->tied ? 0 : V, d, 0);
    set_shape(&s[PB_P_qkn_w], 0, 3, qkn ? L : 0, 2, d / c->heads);
}

/* Point the struct's fields at consecutive slices of mem. */
void pb_model_point_params(pb_params *p, float *mem, const pb_param_shape *s) {
    float **fields[PB_N_PARAM_TENSORS] = {
#define X(name) &p->name,
        PB_PARAM_TENSORS(X)
#undef X
    };
    for (int i = 0; i < PB_N_PARAM_TENSORS; i++) {
        *fields[i] = mem;
        mem += s[i].size;
    }
}

static int check_config(const pb_model_config *c, pb_error *err) {
    if (c->vocab <= 0 || c->d <= 0 || c->heads <= 0 || c->layers <= 0 ||
        c->ff <= 0 || c->max_len <= 0)
        return pb_fail(err,
                       "model: sizes must be positive (vocab=%d d=%d heads=%d "
                       "layers=%d ff=%d max_len=%d)",
                       c->vocab, c->d, c->heads, c->layers, c->ff, c->max_len);
    if (c->d % c->heads != 0)
        return pb_fail(err, "model: d=%d is not divisible by heads=%d", c->d,
                       c->heads);
    /* Keep every buffer index well inside int/size_t arithmetic. */
    if ((double)c->vocab * c->d > 1e9 || (double)c->d * c->ff * c->layers > 1e9 ||
        c->max_len > (1 << 20))
        return pb_fail(err, "model: impossible size (vocab*d, d*ff*layers or max_len "
                            "too large)");
    return 0;
}

static void init_normal(float *x, size_t n, double sd, gsl_rng *rng) {
    for (size_t i = 0; i < n; i++) x[i] = (float)gsl_ran_gaussian(rng, sd);
}

static void fill(float *x, size_t n, float v) {
    for (size_t i = 0; i < n; i++) x[i] = v;
}

/* Shared weights come from the "weights" stream in a fixed order and the
 * encoding's own parameters from the "encoding" stream (core/streams.h):
 * models built with one seed share every shared weight whatever their
 * encoding. */
static int init_params(pb_model *m, pb_error *err) {
    const pb_param_shape *s = m->shapes;
    pb_params *p = &m->params;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!rng) return pb_fail(err, "model: out of memory for a generator");
    gsl_rng_set(rng, pb_stream_seed(m->cfg.seed, PB_STREAM_WEIGHTS));
    double sd = 0.02, sd_out = 0.02 / sqrt(2.0 * m->cfg.layers);
    init_normal(p->wte, s[PB_P_wte].size, sd, rng);
    fill(p->ln1_w, s[PB_P_ln1_w].size, 1.0f);
    init_normal(p->qkv_w, s[PB_P_qkv_w].size, sd, rng);
    init_normal(p->proj_w, s[PB_P_proj_w].size, sd_out, rng);
    fill(p->ln2_w, s[PB_P_ln2_w].size, 1.0f);
    init_normal(p->fc_w, s[PB_P_fc_w].size, sd, rng);
    init_normal(p->fcp_w, s[PB_P_fcp_w].size, sd_out, rng);
    fill(p->lnf_w, s[PB_P_lnf_w].size, 1.0f);
    init_normal(p->head_w, s[PB_P_head_w].size, sd, rng);
    fill(p->qkn_w, s[PB_P_qkn_w].size, 1.0f);
    /* Each layer group's encoding parameters from the encoding stream, so
     * that the shared weights above do not depend on the encodings. */
    gsl_rng_set(rng, pb_stream_seed(m->cfg.seed, PB_STREAM_ENCODING));
    for (int g = 0; g < m->n_groups; g++) {
        const pb_encoding *e = pb_model_group_encoding(m, g);
        if (e->n_params && e->type->init_params)
            e->type->init_params(e, p->enc + m->group_off[g], rng);
    }
    gsl_rng_free(rng); /* biases were zeroed by calloc */
    return 0;
}

int pb_model_create(pb_model *m, const pb_model_config *cfg, pb_error *err) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    if (m->cfg.ff == 0) m->cfg.ff = 4 * m->cfg.d;
    if (check_config(&m->cfg, err)) return -1;
    m->prec = m->cfg.prec;
    if (pb_model_build_layers(m, err)) {
        pb_model_destroy(m);
        return -1;
    }
    if (pb_positions_create(&m->positions, &m->cfg.pos_opts, m->enc.type->pos_dims,
                            err)) {
        pb_model_destroy(m);
        return -1;
    }
    int n_enc = 0, qkn = 0;
    for (int g = 0; g < m->n_groups; g++) n_enc += pb_model_group_encoding(m, g)->n_params;
    for (int l = 0; l < m->cfg.layers; l++) qkn |= m->spec[l].qk_norm_weight;
    param_shapes(&m->cfg, n_enc, qkn, m->shapes);
    for (int i = 0; i < PB_N_PARAM_TENSORS; i++) m->n_params += m->shapes[i].size;
    m->param_mem = calloc(m->n_params, sizeof(float));
    m->grad_mem = calloc(m->n_params, sizeof(float));
    if (!m->param_mem || !m->grad_mem) {
        size_t n = m->n_params;  /* destroy clears it */
        pb_model_destroy(m);
        return pb_fail(err, "model: out of memory for %zu parameters", n);
    }
    pb_model_point_params(&m->params, m->param_mem, m->shapes);
    pb_model_point_params(&m->grads, m->grad_mem, m->shapes);
    m->used = m->params;
    if (init_params(m, err)) {
        pb_model_destroy(m);
        return -1;
    }
    return 0;
}

void pb_model_destroy(pb_model *m) {
    pb_model_free_layers(m);
    free(m->param_mem);
    free(m->grad_mem);
    free(m->m_mem);
    free(m->v_mem);
    free(m->weights_lp);
    free(m->act_mem);
    free(m->dact_mem);
    memset(m, 0, sizeof *m);
}

void pb_model_zero_grad(pb_model *m) {
    memset(m->grad_mem, 0, m->n_params * sizeof(float));
}

/* Activation sizes for B x T. Inference keeps one layer's slice; the
 * gradient buffers (dacts) also keep one slice and none of the attention or
 * bias tensors that backward rebuilds in scratch. */
static void act_sizes(pb_model *m, int B, int T, int train, int grads, size_t *s) {
    const pb_model_config *c = &m->cfg;
    size_t BT = (size_t)B * T, d = (size_t)c->d, H = (size_t)c->heads;
    size_t L = (train && !grads) ? (size_t)c->layers : 1;
    size_t TT = (size_t)T * T;
    int keep_qk_in = 0, learned_bias = 0, qkn = 0;
    for (int g = 0; g < m->n_groups; g++) {
        const pb_encoding *e = pb_model_group_encoding(m, g);
        keep_qk_in |= (e->type->sites & PB_ENC_QK) && e->n_params > 0;
        learned_bias |= m->group_bias[g] >= 0 && e->n_params > 0;
    }
    size_t att = 0, scratch = 0;
    for (int l = 0; l < c->layers; l++) {
        pb_attn a = {.T = T, .H = (int)H, .span = m->spec[l].span,
                     .span_size = m->spec[l].span_size, .softcap = (float)m->spec[l].softcap};
        m->layer[l].att_off = att;
        att += (size_t)B * H * pb_attention_probs(&a);
        size_t sc = pb_attention_scratch_for(&a, train);
        scratch = sc > scratch ? sc : scratch;
        qkn |= m->spec[l].qk_norm != PB_QKNORM_NONE;
    }
    memset(s, 0, sizeof(size_t) * PB_N_ACT_TENSORS);
    s[PB_A_x0] = BT * d;
    s[PB_A_ln1] = L * BT * d;
    s[PB_A_qkv] = L * BT * 3 * d;
    s[PB_A_atty] = L * BT * d;
    s[PB_A_res2] = L * BT * d;
    s[PB_A_ln2] = L * BT * d;
    s[PB_A_fch] = L * BT * (size_t)c->ff;
    s[PB_A_fch_gelu] = L * BT * (size_t)c->ff;
    s[PB_A_res3] = L * BT * d;
    s[PB_A_lnf] = BT * d;
    s[PB_A_logits] = BT * (size_t)c->vocab;
    if (grads) return;
    s[PB_A_ln1_mean] = s[PB_A_ln1_rstd] = L * BT;
    s[PB_A_ln2_mean] = s[PB_A_ln2_rstd] = L * BT;
    s[PB_A_lnf_mean] = s[PB_A_lnf_rstd] = BT;
    s[PB_A_losses] = BT;
    if (train && keep_qk_in) s[PB_A_qk_in] = L * BT * 3 * d;
    if (train) s[PB_A_att] = att;
    if (train && qkn) s[PB_A_qkn_xhat] = L * BT * 2 * d;
    if (train && qkn) s[PB_A_qkn_rstd] = L * BT * 2 * H;
    /* one table per bias group with a global layer (one in a uniform model) */
    size_t slots = (size_t)m->n_bias_slots;
    if (slots) s[PB_A_bias] = slots * (train ? (size_t)B * H * TT : (H * TT <= (1u << 22) ? H * TT : 0));
    if (slots && train && learned_bias) s[PB_A_dbias] = slots * (size_t)B * H * TT;
    s[PB_A_scratch] = (size_t)omp_get_max_threads() * scratch;
}

static int alloc_acts(float **mem, pb_acts *a, const size_t *s, pb_error *err) {
    size_t total = 0;
    for (int i = 0; i < PB_N_ACT_TENSORS; i++) total += s[i];
    free(*mem);
    *mem = malloc((total ? total : 1) * sizeof(float));
    if (!*mem)
        return pb_fail(err, "model: out of memory for activations (%.1f MB)",
                       total * 4.0 / 1e6);
    float **fields[PB_N_ACT_TENSORS] = {
#define X(name) &a->name,
        PB_ACT_TENSORS(X)
#undef X
    };
    float *p = *mem;
    for (int i = 0; i < PB_N_ACT_TENSORS; i++) {
        *fields[i] = s[i] ? p : NULL;
        p += s[i];
    }
    return 0;
}

int pb_model_reserve(pb_model *m, int B, int T, int train, pb_error *err) {
    if (B <= 0 || T <= 0)
        return pb_fail(err, "model: impossible batch %d x %d", B, T);
    train = train ? 1 : 0;
    if (m->act_mem && B <= m->cap_B && T <= m->cap_T && train == m->cap_train &&
        omp_get_max_threads() == m->n_threads)
        return 0;
    /* Grow to the larger of what we had and what is asked, same layout. */
    if (train == m->cap_train) {
        B = B > m->cap_B ? B : m->cap_B;
        T = T > m->cap_T ? T : m->cap_T;
    }
    size_t s[PB_N_ACT_TENSORS];
    act_sizes(m, B, T, train, 0, s);
    if (alloc_acts(&m->act_mem, &m->acts, s, err)) return -1;
    memcpy(m->act_sizes, s, sizeof s);
    if (train) {
        act_sizes(m, B, T, train, 1, s);
        if (alloc_acts(&m->dact_mem, &m->dacts, s, err)) return -1;
    } else {
        free(m->dact_mem);
        m->dact_mem = NULL;
        memset(&m->dacts, 0, sizeof m->dacts);
    }
    m->cap_B = B;
    m->cap_T = T;
    m->cap_train = train;
    m->n_threads = omp_get_max_threads();
    return 0;
}

int pb_model_set_encoding(pb_model *m, const char *name, const pb_opts *opts,
                          pb_encoding *old, pb_error *err) {
    pb_encoding fresh;
    pb_geometry g = m->enc.g;
    if (pb_encoding_create_named(&fresh, name, &g, opts, &m->prec, err)) return -1;
    if (fresh.n_params != m->enc.n_params || fresh.type->sites != m->enc.type->sites) {
        int n = fresh.n_params;
        pb_encoding_destroy(&fresh);
        return pb_fail(err,
                       "model: encoding '%s' with these options does not fit the "
                       "trained model (%d parameters instead of %d, or other sites)",
                       name, n, m->enc.n_params);
    }
    *old = m->enc;
    m->enc = fresh;
    /* Activation sizes depend on the encoding's sites only, which match. */
    return 0;
}
