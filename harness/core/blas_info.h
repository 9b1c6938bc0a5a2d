/* What explains a run's speed after the fact: the BLAS build, the kernel it
 * runs, how that kernel was chosen, the CPU's SIMD features, and posbench's
 * own element-wise kernel set (core/kernels.h). Printed by
 * `posbench info` and `posbench bench`, and stored in every run's
 * config.json (machine block). */
#ifndef PB_BLAS_INFO_H
#define PB_BLAS_INFO_H

#include <stdio.h>

typedef struct pb_blas_info {
    const char *library;    /* e.g. "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ..." */
    const char *kernel;     /* e.g. "Haswell" */
    const char *selection;  /* how the kernel was chosen, one line */
    const char *best_kernel;/* the widest kernel the CPU supports, or "none" */
    const char *kernels;    /* posbench's own kernel set in use (kernels.h) */
    char cpu_model[128];    /* /proc/cpuinfo's model name (may be generic on VMs) */
    char cpu_features[160]; /* "sse2 avx fma avx2 avx512f ..." */
} pb_blas_info;

void pb_blas_info_get(pb_blas_info *info);
/* key=value lines with the given prefix (e.g. "blas_"). */
void pb_blas_info_print(FILE *out, const pb_blas_info *info);

#endif
