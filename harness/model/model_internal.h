/* Pieces shared by model.c, model_forward.c and model_backward.c only. */
#ifndef PB_MODEL_INTERNAL_H
#define PB_MODEL_INTERNAL_H

#include "attention.h"
#include "model.h"

/* Pointers to one layer's activations for the last forward. */
typedef struct pb_layer_acts {
    float *xin, *ln1, *ln1_mean, *ln1_rstd, *qkv, *qk_in, *att, *atty, *res2;
    float *ln2, *ln2_mean, *ln2_rstd, *fch, *fch_gelu, *res3;
} pb_layer_acts;

void pb_model_layer_acts(const pb_model *m, int l, pb_layer_acts *a);
void pb_model_point_params(pb_params *p, float *mem, const pb_param_shape *s);
void pb_model_attn_setup(const pb_model *m, const pb_batch *b, pb_attn *a);
void pb_norm_forward(const pb_model *m, float *out, float *mean, float *rstd,
                     const float *x, const float *w, const float *b, int N);

#endif
