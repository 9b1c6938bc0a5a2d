#include "blas.h"

#include <cblas.h>

void pb_blas_init(void) {
    openblas_set_num_threads(1);
}

const char *pb_blas_name(void) {
    return openblas_get_config();
}

const char *pb_blas_kernel(void) {
    return openblas_get_corename();
}

void pb_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb,
                beta, C, ldc);
}
