/* `posbench bench`: training throughput of next-token prediction on random
 * tokens at exactly T tokens per sequence, the model's FLOP rate against the
 * sgemm peak measured on the same cores, and peak memory. Prints key=value
 * lines, `tokens_per_s=` last (scripts/bench.sh parses them). */
#include "bench.h"

#include <gsl/gsl_rng.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../model/adamw.h"
#include "../core/blas.h"
#include "../core/blas_info.h"
#include "../core/blas_select.h"
#include "../core/kernels.h"
#include "../model/linear.h"
#include "../model/model.h"
#include "../core/parallel.h"
#include "../model/positions.h"
#include "../numerics/format.h"
#include "../numerics/precision.h"
#include "train.h"

typedef struct bench_cfg {
    int d, layers, heads, T, batch, vocab, steps, warmup, threads;
    int eval;             /* 1: forward only, no gradients (inference) */
    char encoding[64];
    char precision[256];  /* "site:format,site:format" */
} bench_cfg;

static int parse(bench_cfg *c, int argc, char **argv) {
    *c = (bench_cfg){.d = 128, .layers = 4, .heads = 4, .T = 128, .batch = 32,
                     .vocab = 64, .steps = 20, .warmup = 3, .threads = 0};
    strcpy(c->encoding, pb_encoding_default);
    for (int i = 0; i < argc; i++) {
        char key[32];
        const char *eq = strchr(argv[i], '=');
        if (!eq || eq - argv[i] >= (long)sizeof key) {
            fprintf(stderr, "posbench bench: argument '%s' is not key=value\n", argv[i]);
            return -1;
        }
        memcpy(key, argv[i], (size_t)(eq - argv[i]));
        key[eq - argv[i]] = 0;
        const char *v = eq + 1;
        int *target = NULL;
        if (!strcmp(key, "d")) target = &c->d;
        else if (!strcmp(key, "layers")) target = &c->layers;
        else if (!strcmp(key, "heads")) target = &c->heads;
        else if (!strcmp(key, "T")) target = &c->T;
        else if (!strcmp(key, "batch")) target = &c->batch;
        else if (!strcmp(key, "vocab")) target = &c->vocab;
        else if (!strcmp(key, "steps")) target = &c->steps;
        else if (!strcmp(key, "warmup")) target = &c->warmup;
        else if (!strcmp(key, "threads")) target = &c->threads;
        else if (!strcmp(key, "eval")) target = &c->eval;
        else if (!strcmp(key, "encoding")) {
            snprintf(c->encoding, sizeof c->encoding, "%s", v);
            continue;
        } else if (!strcmp(key, "precision")) {
            snprintf(c->precision, sizeof c->precision, "%s", v);
            continue;
        } else {
            fprintf(stderr, "posbench bench: unknown key '%s' (valid: d, layers, heads, T, "
                            "batch, vocab, encoding, precision, eval, steps, warmup, "
                            "threads)\n", key);
            return -1;
        }
        char *end;
        long n = strtol(v, &end, 10);
        if (*end || n < 0 || n > 1 << 24) {
            fprintf(stderr, "posbench bench: %s=%s is not a valid count\n", key, v);
            return -1;
        }
        if (target == &c->threads && n != 0 && !pb_threads_ok(n)) {
            fprintf(stderr, "posbench bench: threads=%s is out of range (threads must be in "
                            PB_THREADS_RANGE ", or 0 for the default)\n", v);
            return -1;
        }
        *target = (int)n;
    }
    if (c->steps <= 0) {
        fprintf(stderr, "posbench bench: steps must be positive\n");
        return -1;
    }
    return 0;
}

/* "qk_post:bf16,logits:bf16" -> precision sites. */
static int parse_precision(const char *spec, pb_precision *p, pb_error *err) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *item = strtok(buf, ","); item; item = strtok(NULL, ",")) {
        char *colon = strchr(item, ':');
        if (!colon) return pb_fail(err, "precision: '%s' is not site:format", item);
        *colon = 0;
        pb_format f;
        if (pb_format_parse(colon + 1, &f, err) || pb_precision_set(p, item, &f, err))
            return -1;
    }
    return 0;
}

/* GFLOP/s of one large product split over the threads, as the model's
 * linear layers are: the best of a few repetitions. */
static double linear_peak(void) {
    int N = 2048, C = 512, OC = 1024, reps = 5;
    float *a = calloc((size_t)N * C, 4), *w = calloc((size_t)OC * C, 4),
          *o = calloc((size_t)N * OC, 4);
    if (!a || !w || !o) { free(a); free(w); free(o); return 0; }
    for (size_t i = 0; i < (size_t)N * C; i++) a[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t)OC * C; i++) w[i] = (float)(i % 5) * 0.1f;
    pb_linear_forward(o, a, w, NULL, N, C, OC);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = pb_now();
        pb_linear_forward(o, a, w, NULL, N, C, OC);
        double dt = pb_now() - t0;
        best = dt < best ? dt : best;
    }
    free(a); free(w); free(o);
    return 2.0 * N * C * OC / best / 1e9;
}

/* The larger of the BLAS product's peak and, when the kernel set has its
 * own GEMM (core/kernels.h), that GEMM's: MFU is measured against the
 * faster of the two, so it cannot exceed 1 by comparing against the slower.
 * *own gets the kernel set's GEMM peak (0 without one). */
static double sgemm_peak_both(double *own) {
    const pb_kernels *k = pb_kernels_active();
    char msg[256];
    *own = k->gemm ? linear_peak() : 0;
    if (k->gemm && pb_kernels_use("scalar", msg, sizeof msg) != 0) return *own;
    double blas = linear_peak();
    if (k->gemm) pb_kernels_use(k->name, msg, sizeof msg);
    return blas > *own ? blas : *own;
}

static double sgemm_peak(void) {
    double own;
    return sgemm_peak_both(&own);
}

/* `posbench blas-peak threads=N` (internal): the sgemm peak of the kernel
 * this process runs, after the self-test. bench starts it with another
 * OPENBLAS_CORETYPE to measure a kernel it does not run itself. */
int pb_bench_blas_peak_main(int argc, char **argv) {
    int threads = argc > 0 && !strncmp(argv[0], "threads=", 8) ? atoi(argv[0] + 8) : 0;
    pb_blas_init();
    if (threads > 0) omp_set_num_threads(threads);
    char msg[256];
    printf("kernel=%s\n", pb_blas_kernel());
    if (pb_blas_selftest(pb_sgemm, msg, sizeof msg)) {
        printf("selftest=%s\n", msg);
        return 1;
    }
    printf("selftest=ok\nsgemm_gflops=%.2f\n", sgemm_peak());
    return 0;
}

/* The peak of `kernel` measured in a child process (a kernel is fixed for
 * the life of a process); 0 when it cannot run or fails the self-test. */
static double child_peak(const char *kernel, int threads, char *note, size_t len) {
    int fd[2];
    snprintf(note, len, "not measured");
    if (pipe(fd)) return 0;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) { close(fd[0]); close(fd[1]); return 0; }
    if (pid == 0) {
        char arg[32];
        snprintf(arg, sizeof arg, "threads=%d", threads);
        dup2(fd[1], STDOUT_FILENO);
        close(fd[0]); close(fd[1]);
        setenv("OPENBLAS_CORETYPE", kernel, 1);
        setenv("POSBENCH_BLAS_AUTO", "0", 1);
        unsetenv("POSBENCH_BLAS_STATE");
        execl("/proc/self/exe", "posbench", "blas-peak", arg, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char out[1024] = "", line[512];
    FILE *f = fdopen(fd[0], "r");
    while (f && fgets(line, sizeof line, f)) strncat(out, line, sizeof out - strlen(out) - 1);
    if (f) fclose(f); else close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    double gflops = 0;
    const char *g = strstr(out, "sgemm_gflops=");
    const char *t = strstr(out, "selftest=");
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && g) {
        gflops = atof(g + 13);
        snprintf(note, len, "measured");
    } else if (t) {
        snprintf(note, len, "%.*s", (int)strcspn(t, "\n"), t);
    } else {
        snprintf(note, len, "the child process failed (status %d)", status);
    }
    return gflops;
}

int pb_bench_main(int argc, char **argv) {
    bench_cfg c;
    if (parse(&c, argc, argv)) return 2;
    pb_blas_init();
    if (c.threads > 0) omp_set_num_threads(c.threads);
    pb_model_config mc;
    pb_model_config_defaults(&mc);
    mc.vocab = c.vocab; mc.d = c.d; mc.heads = c.heads; mc.layers = c.layers;
    mc.ff = 4 * c.d; mc.max_len = c.T;
    snprintf(mc.encoding, sizeof mc.encoding, "%s", c.encoding);
    pb_model m;
    pb_error err;
    pb_batch b;
    const pb_encoding_type *et = pb_encoding_find(c.encoding);
    if (et && et->pos_dims == 2) { /* 2D encodings read a 16-wide grid */
        pb_opts_set_str(&mc.pos_opts, "scheme", "grid", &err);
        pb_opts_set_num(&mc.pos_opts, "width", 16, &err);
    }
    if (parse_precision(c.precision, &mc.prec, &err) || pb_model_create(&m, &mc, &err)) {
        fprintf(stderr, "posbench bench: %s\n", err.msg);
        return 1;
    }
    if (pb_batch_alloc(&b, c.batch, c.T, m.enc.type->pos_dims, &err) ||
        pb_adamw_reset(&m, &err)) {
        fprintf(stderr, "posbench bench: %s\n", err.msg);
        pb_model_destroy(&m);
        return 1;
    }
    b.B = c.batch; b.T = c.T;
    pb_draw_streams streams; /* seed 1's training streams: tokens, positions */
    if (pb_draw_streams_open(&streams, PB_SPLIT_TRAIN, 1, &err)) {
        fprintf(stderr, "posbench bench: %s\n", err.msg);
        pb_draw_streams_close(&streams);
        pb_batch_free(&b);
        pb_model_destroy(&m);
        return 1;
    }
    gsl_rng *rng = streams.problems;
    pb_adamw opt;
    pb_adamw_defaults(&opt);
    opt.steps = c.warmup + c.steps;
    int rc = 0;
    double t0 = 0;
    for (int s = 0; s < c.warmup + c.steps && rc == 0; s++) {
        if (s == c.warmup) t0 = pb_now();
        /* random tokens; next-token targets; every position counts */
        for (int i = 0; i < b.B * b.T; i++) b.tokens[i] = (int)gsl_rng_uniform_int(rng, c.vocab);
        for (int i = 0; i < b.B * b.T; i++) {
            b.targets[i] = (i + 1) % b.T ? b.tokens[i + 1] : (int)gsl_rng_uniform_int(rng, c.vocab);
            b.mask[i] = 1.0f;
        }
        rc = pb_positions_fill(&m.positions, &b, streams.positions, 1, &err);
        if (!rc && c.eval) {
            rc = pb_model_forward(&m, &b, 0, &err);
            continue;
        }
        pb_model_zero_grad(&m);
        if (!rc) rc = pb_model_forward(&m, &b, 1, &err);
        if (!rc) rc = pb_model_backward(&m, &b, &err);
        if (!rc) pb_adamw_step(&m, &opt);
    }
    double dt = pb_now() - t0;
    pb_draw_streams_close(&streams);
    if (rc) {
        fprintf(stderr, "posbench bench: %s\n", err.msg);
    } else {
        double tokens = (double)c.steps * c.batch * c.T;
        double d = c.d, F = 4.0 * c.d, L = c.layers;
        /* 6 x matmul parameters per token (forward + backward), plus the
         * attention products QK^T and PV over the full T x T square. */
        double flops_per_token = 6.0 * (L * (3 * d * d + d * d + 2 * d * F) + c.vocab * d) +
                                 12.0 * L * c.T * d;
        if (c.eval) flops_per_token /= 3; /* forward only */
        double gflops = flops_per_token * tokens / dt / 1e9;
        /* MFU's denominator: the best kernel the CPU supports, whether or
         * not this process may run it (a user's OPENBLAS_CORETYPE holds). */
        pb_blas_info info;
        pb_blas_info_get(&info);
        double own_gemm = 0;
        double peak_in_use = c.eval ? 0 : sgemm_peak_both(&own_gemm), peak_best = 0;
        const char *peak_kernel = info.kernel;
        char note[256] = "the kernel in use is the best";
        if (!c.eval && pb_blas_core_tier(info.best_kernel) > pb_blas_core_tier(info.kernel))
            peak_best = child_peak(info.best_kernel, omp_get_max_threads(), note, sizeof note);
        if (peak_best > peak_in_use) peak_kernel = info.best_kernel;
        double peak = peak_best > peak_in_use ? peak_best : peak_in_use;
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        printf("config=d%d_L%d_H%d_T%d_B%d_V%d_%s%s%s%s\n", c.d, c.layers, c.heads, c.T,
               c.batch, c.vocab, c.encoding, c.precision[0] ? "_" : "", c.precision,
               c.eval ? "_eval" : "");
        printf("threads=%d\n", omp_get_max_threads());
        printf("step_ms=%.3f\n", dt / c.steps * 1e3);
        printf("flops_per_token=%.0f\n", flops_per_token);
        printf("flop_formula=6*(L*(4d^2+2d*ff)+V*d)+12*L*T*d\n");
        printf("model_gflops=%.2f\n", gflops);
        pb_blas_info_print(stdout, &info);
        printf("sgemm_gflops=%.2f\n", peak_in_use);
        printf("kernels_gemm_gflops=%.2f\n", own_gemm);
        printf("peak_kernel=%s\n", peak_kernel);
        printf("peak_gflops=%.2f\n", peak);
        printf("best_kernel_peak=%s\n", note);
        printf("mfu=%.3f\n", peak > 0 ? gflops / peak : 0);
        /* against the kernel this process runs (what a pinned kernel allows) */
        printf("mfu_in_use=%.3f\n", peak_in_use > 0 ? gflops / peak_in_use : 0);
        printf("peak_rss_mb=%.1f\n", ru.ru_maxrss / 1024.0);
        printf("tokens_per_s=%.1f\n", tokens / dt);
    }
    pb_batch_free(&b);
    pb_model_destroy(&m);
    return rc ? 1 : 0;
}
