/* Multi-head attention core with the encoding's logit bias:
 *   s[h,a,b] = (q_a . k_b) * scale + bias[h, pos_a, pos_b],  masked, softmax
 * q, k, v live inside qkv[B,T,3d] (head h at columns h*d_h of each third), so
 * every per-head product is an sgemm with leading dimension 3d: no copies. */
#ifndef PB_ATTENTION_H
#define PB_ATTENTION_H

#include <stddef.h>

#include "../../encodings/encoding.h"
#include "../numerics/precision.h"

typedef struct pb_attn {
    int B, T, d, H, dh, causal;
    float scale;                 /* logit_scale / sqrt(d_h) */
    const pb_encoding *enc;      /* its bias hook is used when present */
    const float *enc_params;
    const int *pos;              /* [B,T,pos_dims] */
    int pos_dims;
    /* Precomputed bias: [H,T,T] when bias_shared, else [B,H,T,T]; NULL makes
     * the forward compute it per query block (long inference). */
    const float *bias;
    int bias_shared;
    const pb_precision *prec;
} pb_attn;

/* Query rows per block when probabilities are not kept. */
#define PB_ATTN_QBLOCK 128

/* Floats of per-thread scratch the forward (inference) and backward need. */
size_t pb_attention_scratch(int T, int H, int train);

/* atty[B,T,d] = softmax(s) v. att[B,H,T,T] keeps the probabilities for
 * backward (training), or is NULL (inference, blockwise, O(T) memory per
 * thread beyond the scratch). */
void pb_attention_forward(const pb_attn *a, float *atty, const float *qkv,
                          float *att, float *scratch);

/* From datty[B,T,d] and the saved att, write dqkv[B,T,3d] (overwrites) and,
 * when dbias is not NULL, add d(loss)/d(bias) into dbias[B,H,T,T]. */
void pb_attention_backward(const pb_attn *a, float *dqkv, float *dbias,
                           const float *datty, const float *qkv, const float *att,
                           float *scratch);

#endif
