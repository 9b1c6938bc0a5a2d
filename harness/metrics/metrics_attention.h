/* Metrics read from a model's attention.
 *
 *   logits            pre-softmax logits of one layer, recomputed from the
 *                     q, k the last forward kept (acts.qkv, after the
 *                     encoding and the qk_post site), exactly as attention
 *                     forms them: q.k / sqrt(d_h) * logit_scale + bias,
 *                     rounded at the logits site
 *   relative deviation (Wang et al. 2024, arXiv 2411.13476): run the same
 *                     tokens at positions t + D1 and t + D2 and compare
 *                     attention maps,
 *                       D = sum_layers sum_heads sum_j n_j sum_{i>=j} |A_ij(D1) - A_ij(D2)|
 *                     with n_j = 1/(T - j) for 0-based key j (the paper's
 *                     1/(L - j + 1) with 1-based j): a mean over the rows
 *                     that see key j. D_logit is the same sum over the
 *                     first key column's pre-softmax logits, n_0 = 1/T.
 *                     Bidirectional models sum over every row i, n_j = 1/T.
 *                     Both are averaged over the batch. An encoding with the
 *                     relative property gives D = 0 in exact arithmetic.
 *   position share    per layer and head: f(m) = mean logit over pairs with
 *                     i - j = m; share = Var(f) / Var(A), variances over
 *                     every unmasked pair of the batch (the part of the
 *                     logit's variance that the offset alone explains)
 *   frequency usage   (Barbero et al. 2024) U_k = mean over tokens of
 *                     ||q^(k)||, the norm of q's k-th rotary pair (k = 0 the
 *                     highest frequency), per layer and head; rotation keeps
 *                     pair norms, so the rotated q of acts.qkv serves. Pairs
 *                     follow the encoding's own layout (its pair_dims hook,
 *                     e.g. RoPE's interleaved or half pairing, with the dims
 *                     a partial RoPE leaves alone as consecutive pairs);
 *                     encodings without one use interleaved pairs. */
#ifndef PB_METRICS_ATTENTION_H
#define PB_METRICS_ATTENTION_H

#include "../model/model.h"

/* out[B, H, T, T] for layer l of the last forward, which must have been
 * run with want_grad = 1 (every layer kept). Masked entries are 0. */
int pb_metric_attention_logits(const pb_model *m, const pb_batch *b, int layer,
                               float *out, pb_error *err);

/* b holds tokens (its positions are overwritten with t + D). D_layer
 * [layers] and D_logit_layer [layers] may be NULL. 1D encodings only. */
int pb_metric_relative_deviation(pb_model *m, pb_batch *b, int d1, int d2, double *D,
                                 double *D_logit, double *D_layer,
                                 double *D_logit_layer, pb_error *err);

/* share[layers * H] (layer-major); b's positions are used as they are. */
int pb_metric_position_share(pb_model *m, const pb_batch *b, double *share,
                             pb_error *err);

/* U[layers * H * d_head/2]; which = 0 for q, 1 for k. */
int pb_metric_frequency_usage(pb_model *m, const pb_batch *b, int which, double *U,
                              pb_error *err);

#endif
