/* Multi-head attention core with the encoding's logit bias:
 *   s[h,a,b] = cap((q_a . k_b) * scale + bias[h, pos_a, pos_b]),  masked, softmax
 * where cap(x) = c tanh(x / c) when softcap c > 0 (else x). The span says
 * which keys query a sees: all (global; causal: b <= a), a window
 * (a - W < b <= a) or its chunk (b / C == a / C, b <= a). A window or
 * chunk bounds the key loop (attention_local.c): O(T W) work and memory,
 * probabilities kept as a band [B,H,T,K], K = min(W or C, T), entry j of
 * row a being key lo(a) + j.
 * q, k, v live inside qkv[B,T,3d] (head h at columns h*d_h of each third), so
 * every per-head product is an sgemm with leading dimension 3d: no copies. */
#ifndef PB_ATTENTION_H
#define PB_ATTENTION_H

#include <stddef.h>

#include "../../encodings/encoding.h"
#include "../numerics/precision.h"
#include "layer_spec.h"

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
    pb_span_kind span;           /* global unless set (needs causal) */
    int span_size;               /* W or C */
    float softcap;               /* 0: none */
} pb_attn;

/* Query rows per block when probabilities are not kept. */
#define PB_ATTN_QBLOCK 128

/* Floats of per-thread scratch the forward (inference) and backward need
 * for global attention without soft-capping. */
size_t pb_attention_scratch(int T, int H, int train);
/* The same for the span and soft-capping of a (its T and H). */
size_t pb_attention_scratch_for(const pb_attn *a, int train);
/* Floats of kept probabilities per (sequence, head): T * T, or T * K for a
 * window or chunk. */
size_t pb_attention_probs(const pb_attn *a);
/* First key query i sees. */
int pb_attention_key_lo(const pb_attn *a, int i);

/* atty[B,T,d] = softmax(s) v. att[B,H,T,T] (band for a window or chunk) keeps the probabilities for
 * backward (training), or is NULL (inference, blockwise, O(T) memory per
 * thread beyond the scratch). */
void pb_attention_forward(const pb_attn *a, float *atty, const float *qkv,
                          float *att, float *scratch);

/* From datty[B,T,d] and the saved att, write dqkv[B,T,3d] (overwrites) and,
 * when dbias is not NULL, add d(loss)/d(bias) into dbias[B,H,T,T]. */
void pb_attention_backward(const pb_attn *a, float *dqkv, float *dbias,
                           const float *datty, const float *qkv, const float *att,
                           float *scratch);


/* The window and chunk spans (attention_local.c), called by the two above. */
void pb_attention_local_forward(const pb_attn *a, float *atty, const float *qkv,
                                float *att, float *scratch);
void pb_attention_local_backward(const pb_attn *a, float *dqkv, const float *datty,
                                 const float *qkv, const float *att, float *scratch);

#endif
