/* T5 buckets against HF transformers' _relative_position_bucket, for every
 * setting: num_buckets 4..64 (even), max_distance up to 1024, causal and
 * bidirectional, every relative position in [-4096, 4096].
 *
 * The reference below is written out from HF's formula (float32 tensors,
 * the constant math.log(max_distance / max_exact) taken in double, .to(long)
 * truncation); tests/torch/test_t5_buckets.py checks the same settings
 * against torch's own float32 arithmetic. */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "enc_test_util.h"

#define MAX_REL 4096

/* ---- reference: HF T5Attention._relative_position_bucket, in float32 ---- */

/* torch.log(relative_position.float() / max_exact) for every max_exact and
 * distance, computed once: it does not depend on max_distance. */
static float hf_log_scaled[33][MAX_REL + 1];

static void hf_log_init(void) {
    for (int max_exact = 1; max_exact <= 32; max_exact++)
        for (int n = max_exact; n <= MAX_REL; n++) {
            float rp = (float)n;                          /* .float() */
            float scaled = rp / (float)max_exact;         /* tensor / int */
            hf_log_scaled[max_exact][n] = logf(scaled);   /* torch.log */
        }
}

static long hf_relative_position_bucket(long relative_position, int bidirectional,
                                        int num_buckets, int max_distance) {
    long relative_buckets = 0;
    if (bidirectional) {
        num_buckets /= 2;
        relative_buckets += relative_position > 0 ? num_buckets : 0;
        relative_position = labs(relative_position);
    } else {
        relative_position = relative_position < 0 ? -relative_position : 0;
    }
    int max_exact = num_buckets / 2;
    if (relative_position < max_exact) return relative_buckets + relative_position;
    float lg = hf_log_scaled[max_exact][relative_position];
    double denom = log((double)max_distance / max_exact); /* math.log: double */
    float v = lg / (float)denom;                      /* tensor / python float */
    v = v * (float)(num_buckets - max_exact);         /* tensor * int */
    long large = max_exact + (long)v;                 /* .to(torch.long) */
    if (large > num_buckets - 1) large = num_buckets - 1;
    return relative_buckets + large;
}

/* posbench's bucket for each key 0..2*MAX_REL with the query at MAX_REL:
 * rel = key - query covers [-MAX_REL, MAX_REL] (causal: [-MAX_REL, 16], as
 * every later key shares bucket 0). The bias of bucket k is k. */
static int check_setting(int buckets, int max_distance, int causal, float *params,
                         const int *keys, float *bias, long *first_bad) {
    pb_encoding e;
    pb_error err;
    char spec[64];
    snprintf(spec, sizeof spec, "buckets=%d,max_distance=%d", buckets, max_distance);
    if (enc_make(&e, "t5", enc_geom(8, 1, causal, 64), spec, NULL, &err)) {
        fprintf(stderr, "t5 %s: %s\n", spec, err.msg);
        return 0;
    }
    int q = MAX_REL, nk = causal ? MAX_REL + 17 : 2 * MAX_REL + 1;
    e.type->bias_forward(&e, params, &q, 1, keys, nk, bias);
    pb_encoding_destroy(&e);
    for (int j = 0; j < nk; j++) {
        long rel = keys[j] - q;
        if (bias[j] != (float)hf_relative_position_bucket(rel, !causal, buckets, max_distance)) {
            *first_bad = rel;
            return 0;
        }
    }
    return 1;
}

/* Under the sanitizers (about 10x slower) every 5th max_distance. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define MD_STRIDE 5
#else
#define MD_STRIDE 1
#endif

static void test_exhaustive(void) {
    float params[64];
    for (int k = 0; k < 64; k++) params[k] = (float)k;
    int *keys = malloc(sizeof(int) * (2 * MAX_REL + 1));
    float *bias = malloc(sizeof(float) * (2 * MAX_REL + 1));
    for (int j = 0; j <= 2 * MAX_REL; j++) keys[j] = j;
    for (int causal = 1; causal >= 0; causal--) {
        long settings = 0, bad = 0;
        for (int buckets = 4; buckets <= 64; buckets += 2) {
            int E = (causal ? buckets : buckets / 2) / 2;
            for (int md = E + 1; md <= 1024; md += MD_STRIDE) {
                long rel = 0;
                settings++;
                if (!check_setting(buckets, md, causal, params, keys, bias, &rel) &&
                    bad++ < 5)
                    fprintf(stderr, "  %s buckets=%d max_distance=%d: first mismatch at "
                                    "relative position %ld\n",
                            causal ? "causal" : "bidirectional", buckets, md, rel);
            }
        }
        CHECK(bad == 0, "t5 %s: %ld of %ld settings differ from HF's buckets",
              causal ? "causal" : "bidirectional", bad, settings);
    }
    free(keys);
    free(bias);
}

/* The cases that once landed one bucket off (value at or near a whole number). */
static void test_known_cases(void) {
    struct { int causal, buckets, max_distance, n, bucket; } cases[] = {
        {1, 10, 160, 10, 6},  {1, 10, 160, 20, 7},  {1, 10, 160, 80, 9},
        {1, 10, 160, 5, 5},   {1, 32, 128, 16, 16}, {1, 32, 128, 127, 31},
    };
    float params[64];
    for (int k = 0; k < 64; k++) params[k] = (float)k;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        pb_encoding e;
        pb_error err;
        char spec[64];
        snprintf(spec, sizeof spec, "buckets=%d,max_distance=%d", cases[c].buckets,
                 cases[c].max_distance);
        CHECK(enc_make(&e, "t5", enc_geom(8, 1, cases[c].causal, 64), spec, NULL, &err) == 0,
              "%s", err.msg);
        int q = 1000, k = 1000 - cases[c].n;
        float b;
        e.type->bias_forward(&e, params, &q, 1, &k, 1, &b);
        CHECK(b == (float)cases[c].bucket, "t5 %s n=%d: bucket %g, HF %d", spec, cases[c].n,
              b, cases[c].bucket);
        pb_encoding_destroy(&e);
    }
}

int main(void) {
    hf_log_init();
    test_known_cases();
    test_exhaustive();
    return check_summary("test_enc_t5");
}
