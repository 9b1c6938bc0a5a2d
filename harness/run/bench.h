#ifndef PB_BENCH_H
#define PB_BENCH_H

/* `posbench bench key=value ...`: see bench.c. Returns the exit status. */
int pb_bench_main(int argc, char **argv);
/* `posbench blas-peak threads=N`: self-test and sgemm peak of this process's
 * kernel (bench runs it under another kernel to measure MFU's denominator). */
int pb_bench_blas_peak_main(int argc, char **argv);

#endif
