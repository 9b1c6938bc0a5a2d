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

#endif
