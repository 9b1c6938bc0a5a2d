/* The linear (fully connected) layer, a forward/backward pair built on
 * pb_sgemm. Each product is split into row blocks, one per OpenMP thread,
 * with a fixed split for a fixed thread count (blas.h explains why). */
#ifndef PB_LINEAR_H
#define PB_LINEAR_H

/* out[N,OC] = inp[N,C] @ w[OC,C]^T (+ bias[OC]); parallel over rows. */
void pb_linear_forward(float *out, const float *inp, const float *w,
                       const float *bias, int N, int C, int OC);
/* dinp[N,C]  = dout[N,OC] @ w[OC,C]  (overwritten; skipped when NULL)
 * dw[OC,C]  += dout^T @ inp;  dbias[OC] += column sums of dout (when not NULL) */
void pb_linear_backward(float *dinp, float *dw, float *dbias, const float *dout,
                        const float *inp, const float *w, int N, int C, int OC);

#endif
