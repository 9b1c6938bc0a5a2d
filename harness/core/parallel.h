/* When a loop is worth splitting across threads. Below these sizes the cost
 * of waking the team (and, on a busy machine, of waiting for a descheduled
 * thread at the barrier) exceeds the work. Partitions depend only on sizes
 * and the thread count, so results stay bit-identical for a fixed count. */
#ifndef PB_PARALLEL_H
#define PB_PARALLEL_H

#define PB_PAR_MIN_ELEMS 32768L     /* element-wise and row-wise loops */
#define PB_PAR_MIN_FLOPS 2000000.0  /* matrix products */

/* Most threads pb.threads(n) and `bench threads=n` accept: one limit for
 * both, well below the point where creating the team could fail (which
 * libgomp answers with a crash, not an error). */
#define PB_MAX_THREADS 256
#define PB_THREADS_RANGE "1..256"
static inline int pb_threads_ok(long long n) { return n >= 1 && n <= PB_MAX_THREADS; }

/* OMP_NUM_THREADS as libgomp reads it ("n" or a nesting list "n,m,..."):
 * 1 when every count is within the limit (or the variable is unset or
 * empty). libgomp sizes the first team from it before any pb.threads call,
 * so the command line checks it at start-up (harness/cli/main.c). */
static inline int pb_omp_env_ok(const char *v) {
    if (!v) return 1;
    const char *p = v;
    while (*p == ' ' || *p == '\t') p++;
    if (!*p) return 1;
    for (;;) {
        long long n = 0;
        int digits = 0;
        while (*p == ' ' || *p == '\t') p++;
        for (; *p >= '0' && *p <= '9'; p++, digits++)
            if (n <= PB_MAX_THREADS) n = n * 10 + (*p - '0');
        while (*p == ' ' || *p == '\t') p++;
        if (!digits || !pb_threads_ok(n)) return 0;
        if (!*p) return 1;
        if (*p++ != ',') return 0;
    }
}

#endif
