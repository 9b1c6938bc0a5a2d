/* T5 relative position bias (Raffel et al. 2020): a learned scalar per head
 * and distance bucket.
 *
 *   bias[h, i, j] = b[h, bucket(p_j - p_i)]
 *
 * bucket() is Hugging Face T5's _relative_position_bucket with
 * relative_position = p_j - p_i (key minus query):
 *   causal:         n = max(p_i - p_j, 0), B = buckets
 *   bidirectional:  n = |p_i - p_j|, B = buckets / 2, and keys after the
 *                   query (p_j > p_i) use buckets B..2B-1
 *   then with E = B / 2 (exact buckets):
 *     bucket = n                                                   if n < E
 *            = min(B-1, E + trunc(ln(n/E) / ln(max_distance/E) * (B-E)))  else
 *   evaluated in float32 exactly as HF does (see log_bucket).
 * Defaults 32 buckets, max_distance 128: causal buckets 0..15 are exact and
 * every n >= 128 shares bucket 31.
 *
 * Parameters: b[H][buckets] row-major, init N(0, 0.02). The bucket of every
 * n <= max_distance is tabulated at create() (all larger n share the last).
 * Precision: positions are rounded at PB_SITE_POSITIONS, the table values at
 * PB_SITE_TABLES (straight-through in backward). */
#include "encoding.h"

#include <gsl/gsl_randist.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>

typedef struct {
    int buckets;       /* total per head */
    int max_distance;
    int bidirectional;
    int *bucket_of;    /* [max_distance + 1]: bucket of distance n (one direction) */
} t5_state;

static const char *const t5_options[] = {"buckets", "max_distance", NULL};

/* Bucket of distance n >= 0 among B buckets for one direction, in float32
 * and truncated as HF (and Mesh TensorFlow) compute it: exact arithmetic
 * would move some distances whose value is near a whole number by one
 * bucket. Only the constant ln(max_distance/E) is taken in double, as
 * Python's math.log does, then rounded to float. */
static int log_bucket(long n, int B, int max_distance) {
    int E = B / 2;
    if (n < E) return (int)n;
    float ratio = (float)n / (float)E;
    float v = logf(ratio) / (float)log((double)max_distance / E) * (float)(B - E);
    long b = E + (long)v;
    return b < B - 1 ? (int)b : B - 1;
}

static int t5_create(pb_encoding *e, const pb_opts *o, pb_error *err) {
    t5_state *s = calloc(1, sizeof *s);
    if (!s) return pb_fail(err, "t5: out of memory");
    e->state = s;
    if (pb_opts_int(o, "buckets", 32, &s->buckets, "encoding 't5'", err)) return -1;
    if (pb_opts_int(o, "max_distance", 128, &s->max_distance, "encoding 't5'", err))
        return -1;
    if (s->buckets < 4 || s->buckets % 2 != 0 || s->buckets > 4096)
        return pb_fail(err, "t5: option buckets=%d must be even and in [4, 4096]",
                       s->buckets);
    /* Per direction: B = buckets (causal) or buckets/2, E = B/2 exact buckets;
     * the log part needs max_distance > E. */
    s->bidirectional = !e->g.causal;
    int B = s->bidirectional ? s->buckets / 2 : s->buckets;
    if (s->max_distance <= B / 2 || s->max_distance > 1 << 24)
        return pb_fail(err,
                       "t5: option max_distance=%d must exceed the %d exact buckets "
                       "(buckets=%d, %s) and be at most 2^24",
                       s->max_distance, B / 2, s->buckets,
                       s->bidirectional ? "bidirectional" : "causal");
    s->bucket_of = malloc((size_t)(s->max_distance + 1) * sizeof *s->bucket_of);
    if (!s->bucket_of) return pb_fail(err, "t5: out of memory");
    for (int n = 0; n <= s->max_distance; n++)
        s->bucket_of[n] = log_bucket(n, B, s->max_distance);
    /* heads can be as large as d: the product must fit n_params (int). */
    if ((long long)e->g.heads * s->buckets > INT_MAX)
        return pb_fail(err, "t5: heads*buckets = %d*%d parameters is too many", e->g.heads,
                       s->buckets);
    e->n_params = e->g.heads * s->buckets;
    e->n_buckets = s->buckets;
    return 0;
}

static void t5_destroy(pb_encoding *e) {
    t5_state *s = e->state;
    if (s) free(s->bucket_of);
    free(s);
    e->state = NULL;
}

static void t5_init_params(const pb_encoding *e, float *params, gsl_rng *rng) {
    for (int i = 0; i < e->n_params; i++) params[i] = (float)gsl_ran_gaussian(rng, 0.02);
}

/* Bucket of the pair (query position pq, key position pk), both rounded. */
static int t5_bucket(const t5_state *s, float pq, float pk) {
    float rel = pk - pq;
    int offset = 0;
    double n;
    if (s->bidirectional) {
        if (rel > 0) offset = s->buckets / 2;
        n = fabs((double)rel);
    } else {
        n = rel < 0 ? -(double)rel : 0.0;
    }
    if (!(n <= s->max_distance)) n = s->max_distance; /* far, inf or NaN */
    return offset + s->bucket_of[(long)n];
}

static int t5_bucket_hook(const pb_encoding *e, int qpos, int kpos) {
    return t5_bucket(e->state, (float)qpos, (float)kpos);
}

/* bias[H][nq][nk] = b[h][bucket] */
static void t5_bias_forward(const pb_encoding *e, const float *params,
                            const int *qpos, int nq, const int *kpos, int nk,
                            float *bias) {
    const t5_state *s = e->state;
    int H = e->g.heads, nb = s->buckets;
    size_t plane = (size_t)nq * nk;
    for (int a = 0; a < nq; a++) {
        float pq = pb_round_site1(e->prec, PB_SITE_POSITIONS, (float)qpos[a]);
        for (int b = 0; b < nk; b++) {
            float pk = pb_round_site1(e->prec, PB_SITE_POSITIONS, (float)kpos[b]);
            int k = t5_bucket(s, pq, pk);
            for (int h = 0; h < H; h++)
                bias[h * plane + (size_t)a * nk + b] =
                    pb_round_site1(e->prec, PB_SITE_TABLES, params[h * nb + k]);
        }
    }
}

/* db[h][bucket] += dbias[h][a][b] */
static void t5_bias_backward(const pb_encoding *e, const float *params,
                             const int *qpos, int nq, const int *kpos, int nk,
                             const float *dbias, float *dparams) {
    (void)params;
    const t5_state *s = e->state;
    int H = e->g.heads, nb = s->buckets;
    size_t plane = (size_t)nq * nk;
    for (int a = 0; a < nq; a++) {
        float pq = pb_round_site1(e->prec, PB_SITE_POSITIONS, (float)qpos[a]);
        for (int b = 0; b < nk; b++) {
            float pk = pb_round_site1(e->prec, PB_SITE_POSITIONS, (float)kpos[b]);
            int k = t5_bucket(s, pq, pk);
            for (int h = 0; h < H; h++)
                dparams[h * nb + k] += dbias[h * plane + (size_t)a * nk + b];
        }
    }
}

const pb_encoding_type pb_enc_t5 = {
    .name = "t5",
    .summary = "learned bias per head and log-spaced distance bucket (T5 relative bias)",
    .reference = "Raffel et al. 2020 (T5); bucket as HF transformers _relative_position_bucket",
    .options_doc = "buckets=32 max_distance=128  (bidirectional: half the buckets per "
                   "direction; params b[H][buckets], init N(0, 0.02))",
    .options = t5_options,
    .sites = PB_ENC_BIAS,
    .pos_dims = 1,
    .create = t5_create,
    .destroy = t5_destroy,
    .init_params = t5_init_params,
    .bias_forward = t5_bias_forward,
    .bias_backward = t5_bias_backward,
    .bucket = t5_bucket_hook,
};
