/* Pieces shared by model.c, model_forward.c and model_backward.c only. */
#ifndef PB_MODEL_INTERNAL_H
#define PB_MODEL_INTERNAL_H

#include "attention.h"
#include "model.h"

/* Pointers to one layer's activations for the last forward. */
typedef struct pb_layer_acts {
    float *xin, *ln1, *ln1_mean, *ln1_rstd, *qkv, *qk_in, *att, *atty, *res2;
    float *ln2, *ln2_mean, *ln2_rstd, *fch, *fch_gelu, *res3;
    float *qkn_xhat, *qkn_rstd; /* training with QK-norm only */
} pb_layer_acts;

void pb_model_layer_acts(const pb_model *m, int l, pb_layer_acts *a);
void pb_model_point_params(pb_params *p, float *mem, const pb_param_shape *s);
/* Attention settings of layer l for batch b (bias: the layer's table from
 * the last forward, when it keeps one). */
void pb_model_attn_setup(const pb_model *m, const pb_batch *b, int l, pb_attn *a);
/* The bias table of a group in acts.bias / acts.dbias, or NULL. */
float *pb_model_group_bias(const pb_model *m, float *base, int g);

/* model_layers.c: per-layer records and encoding groups from m->cfg (built
 * by pb_model_create, freed by pb_model_destroy). */
int pb_model_build_layers(pb_model *m, pb_error *err);
void pb_model_free_layers(pb_model *m);
/* Layer l's temperature applies in this forward (training or not). */
int pb_model_temperature_on(const pb_model *m, int l);
/* q rows of qkv [B,T,3d] times layer l's temperature of their query (its
 * backward is the same call on dqkv). */
void pb_model_scale_queries(const pb_model *m, const pb_batch *b, int l, float *qkv);
/* A fresh encoding of group g with options opts (m->prec). */
int pb_model_create_group_encoding(const pb_model *m, int g, const pb_opts *opts,
                                   pb_encoding *out, pb_error *err);
void pb_norm_forward(const pb_model *m, float *out, float *mean, float *rstd,
                     const float *x, const float *w, const float *b, int N);

#endif
