#ifndef PB_BENCH_H
#define PB_BENCH_H

/* `posbench bench key=value ...`: see bench.c. Returns the exit status. */
int pb_bench_main(int argc, char **argv);

#endif
