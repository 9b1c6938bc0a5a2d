/* A model's per-layer records and encoding groups (model.h): layers with the
 * same encoding and options share one instance and its parameters, so a
 * uniform model has one group, as before per-layer records existed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "model_internal.h"

pb_encoding *pb_model_group_encoding(const pb_model *m, int g) {
    return g == 0 ? (pb_encoding *)&m->enc : &m->more_enc[g - 1];
}

pb_encoding *pb_model_layer_encoding(const pb_model *m, int l, int *param_off) {
    int g = m->layer[l].group;
    if (param_off) *param_off = m->group_off[g];
    return pb_model_group_encoding(m, g);
}

void pb_model_free_layers(pb_model *m) {
    for (int g = 0; g < m->n_groups; g++) pb_encoding_destroy(pb_model_group_encoding(m, g));
    if (!m->n_groups) pb_encoding_destroy(&m->enc);
    free(m->spec);
    free(m->layer);
    free(m->more_enc);
    free(m->group_off);
    free(m->group_bias);
    free(m->bias_in_use);
    m->bias_in_use = NULL;
    m->spec = NULL;
    m->layer = NULL;
    m->more_enc = NULL;
    m->group_off = m->group_bias = NULL;
    m->n_groups = 0;
}

/* err's message prefixed with the layer (1-based, as in Lua) in a hybrid. */
static int layer_fail(const pb_model *m, int l, pb_error *err) {
    if (!m->hybrid) return -1;
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "%s", err->msg);
    return pb_fail(err, "model: layer %d: %s", l + 1, msg);
}

int pb_model_create_group_encoding(const pb_model *m, int g, const pb_opts *opts,
                                   pb_encoding *out, pb_error *err) {
    int l = 0;
    while (m->layer[l].group != g) l++;
    pb_geometry geo = {.d = m->cfg.d,
                       .heads = m->cfg.heads,
                       .d_head = m->cfg.d / m->cfg.heads,
                       .causal = m->cfg.causal,
                       .max_len = m->cfg.max_len};
    if (pb_encoding_create_named(out, m->spec[l].encoding, &geo, opts, &m->prec, err))
        return layer_fail(m, l, err);
    return 0;
}

/* What a layer may not combine (the host knows encodings by their sites
 * only). */
static int check_layer(const pb_model *m, int l, pb_error *err) {
    const pb_layer_spec *s = &m->spec[l];
    const pb_encoding *e = pb_model_layer_encoding(m, l, NULL);
    if (e->type->pos_dims != m->enc.type->pos_dims)
        return pb_fail(err, "model: layer %d: encoding '%s' takes %dD positions, layer 1's "
                            "'%s' %dD; every layer must take the same", l + 1, e->type->name,
                       e->type->pos_dims, m->enc.type->name, m->enc.type->pos_dims);
    if ((e->type->sites & PB_ENC_INPUT) && m->n_groups > 1)
        return pb_fail(err, "model: layer %d: encoding '%s' adds to the embedding, which all "
                            "layers share: it can only be every layer's encoding", l + 1,
                       e->type->name);
    if (s->span != PB_SPAN_GLOBAL && !m->cfg.causal)
        return pb_fail(err, "model: layer %d: window and chunk spans need a causal model", l + 1);
    if (s->span != PB_SPAN_GLOBAL && (e->type->sites & PB_ENC_BIAS) && e->n_params > 0)
        return pb_fail(err, "model: layer %d: encoding '%s' has a learnable bias, which a "
                            "window or chunk layer does not train; use it on global layers",
                       l + 1, e->type->name);
    if (s->temp == PB_TEMP_LOG && e->type->pos_dims != 1)
        return pb_fail(err, "model: layer %d: temperature rule 'log' needs 1D positions", l + 1);
    return 0;
}

int pb_model_build_layers(pb_model *m, pb_error *err) {
    pb_model_config *c = &m->cfg;
    int L = c->layers;
    if (c->n_specs && c->n_specs != L)
        return pb_fail(err, "model: %d layer records for %d layers", c->n_specs, L);
    m->spec = malloc(sizeof *m->spec * (size_t)L);
    m->layer = calloc((size_t)L, sizeof *m->layer);
    m->more_enc = calloc((size_t)L, sizeof *m->more_enc);
    m->group_off = calloc((size_t)L, sizeof *m->group_off);
    m->group_bias = calloc((size_t)L, sizeof *m->group_bias);
    m->bias_in_use = calloc((size_t)L, sizeof *m->bias_in_use);
    if (!m->spec || !m->layer || !m->more_enc || !m->group_off || !m->group_bias ||
        !m->bias_in_use)
        return pb_fail(err, "model: out of memory for %d layers", L);
    for (int l = 0; l < L; l++) {
        if (c->n_specs) m->spec[l] = c->specs[l];
        else pb_layer_spec_uniform(&m->spec[l], c->encoding, &c->enc_opts);
        m->hybrid |= !pb_layer_spec_plain(&m->spec[l]) ||
                     !pb_layer_spec_same_encoding(&m->spec[l], &m->spec[0]);
    }
    if (c->n_specs) { /* the model-level encoding is layer 1's */
        snprintf(c->encoding, sizeof c->encoding, "%s", m->spec[0].encoding);
        c->enc_opts = m->spec[0].enc_opts;
    }
    c->specs = m->spec;
    /* group_off holds each group's first layer until the encodings exist */
    int groups = 0;
    for (int l = 0; l < L; l++) {
        int g = 0;
        while (g < groups && !pb_layer_spec_same_encoding(&m->spec[l], &m->spec[m->group_off[g]]))
            g++;
        if (g == groups) m->group_off[groups++] = l;
        m->layer[l].group = g;
    }
    int off = 0;
    for (int g = 0; g < groups; g++) {
        int first = m->group_off[g];
        m->n_groups = g + 1; /* destroy frees what exists */
        if (pb_model_create_group_encoding(m, g, &m->spec[first].enc_opts,
                                           pb_model_group_encoding(m, g), err))
            return -1;
        m->group_off[g] = off;
        off += pb_model_group_encoding(m, g)->n_params;
    }
    for (int l = 0; l < L; l++)
        if (check_layer(m, l, err)) return -1;
    /* a bias table per group that has a global layer */
    m->n_bias_slots = 0;
    for (int g = 0; g < groups; g++) {
        m->group_bias[g] = -1;
        if (!(pb_model_group_encoding(m, g)->type->sites & PB_ENC_BIAS)) continue;
        for (int l = 0; l < L; l++)
            if (m->layer[l].group == g && m->spec[l].span == PB_SPAN_GLOBAL) {
                m->group_bias[g] = m->n_bias_slots++;
                break;
            }
    }
    return 0;
}

int pb_model_temperature_on(const pb_model *m, int l) {
    const pb_layer_spec *s = &m->spec[l];
    return s->temp != PB_TEMP_NONE && !(s->temp_eval_only && m->trained_forward && !m->inspecting);
}

/* Keys query t of a sequence of T sees in layer l. */
static int keys_seen(const pb_model *m, int l, int t, int T) {
    const pb_layer_spec *s = &m->spec[l];
    if (!m->cfg.causal) return T;
    if (s->span == PB_SPAN_WINDOW) return t + 1 < s->span_size ? t + 1 : s->span_size;
    if (s->span == PB_SPAN_CHUNK) return t % s->span_size + 1;
    return t + 1;
}

void pb_model_scale_queries(const pb_model *m, const pb_batch *b, int l, float *qkv) {
    int d = m->cfg.d, T = b->T;
    for (int r = 0; r < b->B; r++)
        for (int t = 0; t < T; t++) {
            int pos = b->pos[((size_t)r * T + t) * b->pos_dims];
            float f = pb_layer_temperature(&m->spec[l], pos, keys_seen(m, l, t, T));
            float *q = qkv + ((size_t)r * T + t) * 3 * d;
            for (int i = 0; i < d; i++) q[i] *= f;
        }
}

int pb_model_layer_key_lo(const pb_model *m, int l, int i) {
    const pb_layer_spec *s = &m->spec[l];
    if (s->span == PB_SPAN_WINDOW) return i - s->span_size + 1 > 0 ? i - s->span_size + 1 : 0;
    if (s->span == PB_SPAN_CHUNK) return i / s->span_size * s->span_size;
    return 0;
}

const float *pb_model_layer_probs(const pb_model *m, int l, int r, int h, int i, int *lo) {
    const pb_layer_spec *s = &m->spec[l];
    int T = m->T, H = m->cfg.heads;
    size_t row = ((size_t)r * H + h) * T + i;
    const float *att = m->acts.att + m->layer[l].att_off;
    *lo = pb_model_layer_key_lo(m, l, i);
    if (s->span == PB_SPAN_GLOBAL) return att + row * T;
    size_t K = (size_t)(s->span_size < T ? s->span_size : T);
    return att + row * K;
}
