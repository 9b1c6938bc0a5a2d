/* Which kernel set runs (kernels.h): the CPU's widest unless
 * POSBENCH_KERNELS names one. */
#include "kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const pb_kernels *active;

float *pb_kernels_buffer(int slot, size_t n) {
    static _Thread_local float *buf[4];
    static _Thread_local size_t cap[4];
    if (slot < 0 || slot > 3) return NULL;
    if (n > cap[slot]) {
        float *p = realloc(buf[slot], n * sizeof(float));
        if (!p) return NULL;
        buf[slot] = p;
        cap[slot] = n;
    }
    return buf[slot];
}

static const pb_kernels *widest(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("fma"))
        return &pb_kernels_avx512;
    if (__builtin_cpu_supports("avx2")) return &pb_kernels_avx2;
#endif
    return &pb_kernels_scalar;
}

static int runs(const pb_kernels *k) {
    const pb_kernels *w = widest();
    return k == &pb_kernels_scalar || k == w ||
           (k == &pb_kernels_avx2 && w == &pb_kernels_avx512);
}

const pb_kernels *pb_kernels_active(void) {
    const pb_kernels *k = __atomic_load_n(&active, __ATOMIC_ACQUIRE);
    if (!k) {
        /* POSBENCH_KERNELS applies to every program (tests included); the
         * command line has refused a bad value at start-up, others get the
         * widest set */
        char msg[256];
        if (pb_kernels_from_env(msg, sizeof msg)) pb_kernels_use("auto", msg, sizeof msg);
        k = __atomic_load_n(&active, __ATOMIC_ACQUIRE);
    }
    return k;
}

int pb_kernels_use(const char *name, char *msg, size_t len) {
    const pb_kernels *k = NULL;
    if (!strcmp(name, "auto")) k = widest();
    else if (!strcmp(name, "scalar")) k = &pb_kernels_scalar;
    else if (!strcmp(name, "avx2")) k = &pb_kernels_avx2;
    else if (!strcmp(name, "avx512")) k = &pb_kernels_avx512;
    else {
        snprintf(msg, len, "unknown kernel set '%s' (valid: auto, scalar, avx2, avx512)", name);
        return -1;
    }
    if (!runs(k)) {
        snprintf(msg, len, "kernel set '%s' needs CPU features this machine lacks "
                           "(its widest is '%s')", name, widest()->name);
        return -1;
    }
    __atomic_store_n(&active, k, __ATOMIC_RELEASE);
    return 0;
}

int pb_kernels_from_env(char *msg, size_t len) {
    const char *v = getenv("POSBENCH_KERNELS");
    if (!v || !*v) v = "auto";
    if (len == 0) return pb_kernels_use(v, NULL, 0);
    int used = snprintf(msg, len, "POSBENCH_KERNELS=%s: ", v);
    size_t u = used < 0 ? 0 : (size_t)used < len ? (size_t)used : len - 1;
    return pb_kernels_use(v, msg + u, len - u);
}
