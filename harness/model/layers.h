/* Element-wise and row-wise layers, each a forward/backward pair.
 * Shapes in comments: N = number of rows (B*T), C = row width. */
#ifndef PB_LAYERS_H
#define PB_LAYERS_H

/* out[N,C] = (x - mean) * rstd * w + b; saves mean[N], rstd[N]. */
void pb_layernorm_forward(float *out, float *mean, float *rstd, const float *x,
                          const float *w, const float *b, int N, int C);
/* dx += ..., dw += ..., db += ... (dw/db reduced in a fixed order) */
void pb_layernorm_backward(float *dx, float *dw, float *db, const float *dout,
                           const float *x, const float *w, const float *mean,
                           const float *rstd, int N, int C);

/* out[N,C] = x * rstd * w with rstd = 1/sqrt(mean(x^2) + eps); mean unused. */
void pb_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w,
                        int N, int C);
void pb_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x,
                         const float *w, const float *rstd, int N, int C);

/* GELU, tanh approximation. */
void pb_gelu_forward(float *out, const float *x, long n);
/* dx = gelu'(x) * dout (overwrites) */
void pb_gelu_backward(float *dx, const float *x, const float *dout, long n);
/* Training: out = gelu(x) and x becomes gelu'(x), which pb_mul_forward
 * then turns into dx = gelu'(x) * dout: the tanh is computed once. */
void pb_gelu_forward_keep(float *out, float *x, long n);

/* out = a * b */
void pb_mul_forward(float *out, const float *a, const float *b, long n);

/* out = a + b */
void pb_residual_forward(float *out, const float *a, const float *b, long n);

/* Softmax cross-entropy over rows of logits[N,V], in place: logits become
 * probabilities. losses[n] = -log p[target] where mask[n] != 0, else 0.
 * Returns the sum of mask. */
double pb_crossentropy_forward(float *logits, float *losses, const int *targets,
                               const float *mask, int N, int V);
/* dlogits[N,V] = (p - onehot) * mask / mask_sum. */
void pb_crossentropy_backward(float *dlogits, const float *probs,
                              const int *targets, const float *mask, double mask_sum,
                              int N, int V);

#endif
