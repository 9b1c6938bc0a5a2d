/* QK-norm: an RMS norm of every head vector of q and of k, in place inside
 * qkv[N, 3d] (q at columns 0..d-1, k at d..2d-1, head h at h * d_head):
 *   x <- w * x * rstd,  rstd = 1 / sqrt(mean over the head of x^2 + eps)
 * with w [2, d_head] (q's weight, then k's; shared by the heads) or NULL
 * (no weight, as Llama 4). */
#ifndef PB_QK_NORM_H
#define PB_QK_NORM_H

/* xhat [N, 2d] (x * rstd) and rstd [N, 2H] are kept for backward unless
 * NULL. */
void pb_qknorm_forward(float *qkv, float *xhat, float *rstd, const float *w, int N, int d,
                       int H, float eps);
/* dqkv's q and k columns hold d(loss)/d(output) and are overwritten with
 * d(loss)/d(input); dw (when w is not NULL) gets d(loss)/d(w) added. */
void pb_qknorm_backward(float *dqkv, float *dw, const float *xhat, const float *rstd,
                        const float *w, int N, int d, int H);

#endif
