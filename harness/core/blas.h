/* The BLAS: start-up, what it is, and a single-threaded sgemm. blas.c is
 * the only file that sees <cblas.h> (it clashes with GSL's BLAS header).
 *
 * Threading: OpenBLAS is pinned to one thread and OpenMP does all the
 * parallelism: callers (the linear layer, model/linear.h; attention) split
 * each product into row blocks that every thread multiplies with its own
 * pb_sgemm. One threading layer means no oversubscription, and a fixed split
 * means bit-identical results for a fixed thread count. */
#ifndef PB_BLAS_H
#define PB_BLAS_H

/* Pin OpenBLAS to one thread; call once at start-up. */
void pb_blas_init(void);
/* The build description of the BLAS in use ("OpenBLAS 0.3.21 ... Haswell"). */
const char *pb_blas_name(void);
/* The kernel set the BLAS runs on this CPU (OpenBLAS's core name). */
const char *pb_blas_kernel(void);

/* Single-threaded row-major sgemm for use inside parallel loops:
 * C[M,N] = alpha * op(A) op(B) + beta * C. */
void pb_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc);

#endif
