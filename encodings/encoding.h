/* The positional-encoding plugin interface.
 *
 * An encoding acts at up to three sites of the model, each optional, each
 * with a backward pass:
 *
 *   1. input:  x[t, :] += PE(pos[t])                       (integer, sinusoidal, learned, ...)
 *   2. qk:     q[t], k[t] -> T(pos[t]) q[t], T'(pos[t]) k[t] per head (RoPE family, xPos)
 *   3. bias:   logit[h, i, j] += bias(h, pos[i], pos[j])   (ALiBi, T5, KERPLE, FIRE)
 *
 * Positions are data: every hook receives an explicit position array (one
 * int per token, or pos_dims ints per token for 2D encodings: pos[t*pos_dims
 * + c], c = 0 is x, c = 1 is y). Shifted, scaled, random, digit and grid
 * positions are made by position schemes (harness/model/positions.h), never by
 * encodings.
 *
 * Conventions shared by all encodings:
 *   - logits are q.k / sqrt(d_head) * logit_scale, and the bias is added
 *     after that scale;
 *   - heads are 0-based in C (h = 0..H-1) and 1-based in Lua;
 *   - a head vector occupies d_head consecutive floats, head h of token t at
 *     x[t*stride + h*d_head];
 *   - learnable parameters live in the model's parameter buffer: an encoding
 *     says how many it needs (n_params) and the model hands it a pointer to
 *     them; backward hooks ADD into dparams.
 *
 * Threading: the model may call input/qk forward hooks for different
 * sequences from different threads at once, so hooks only read e->state
 * (caches are built by prepare(), which runs single-threaded outside the
 * training step). Backward hooks of encodings with n_params > 0 are called
 * one at a time.
 *
 * The registry (encodings/registry.c) is a NULL-terminated list of types, like
 * gsl_rng_types. Adding an encoding = one file here + one line there. */
#ifndef PB_ENCODING_H
#define PB_ENCODING_H

#include <gsl/gsl_rng.h>
#include <math.h>

#include "../harness/core/opts.h"
#include "../harness/core/pb_error.h"
#include "../harness/numerics/precision.h"

enum {
    PB_ENC_INPUT = 1u << 0,
    PB_ENC_QK = 1u << 1,
    PB_ENC_BIAS = 1u << 2
};

typedef struct pb_geometry {
    int d;        /* model width */
    int heads;    /* H */
    int d_head;   /* d / H */
    int causal;   /* 1: decoder mask; 0: bidirectional */
    int max_len;  /* training length the model was built for (tables, PI) */
} pb_geometry;

typedef struct pb_encoding_type pb_encoding_type;

typedef struct pb_encoding {
    const pb_encoding_type *type;
    pb_geometry g;
    int n_params;           /* learnable floats in the model's buffer */
    float logit_scale;      /* extra factor on 1/sqrt(d_head); 1 except YaRN */
    int prepared_len;       /* prepare() has run for positions < prepared_len */
    int length_dependent;   /* set by create(): the tables depend on the
                             * sequence length itself (dynamic NTK), so
                             * prepare() reruns whenever max_pos changes */
    const pb_precision *prec; /* sites positions/angles/tables; may be NULL */
    /* What the host may know about the encoding without knowing which one it
     * is (diagnostics, metrics); create() sets those that apply, 0 = none. */
    int table_rows;         /* a table with one row per position 0..table_rows-1:
                             * later positions have no row */
    int n_buckets;          /* a bias with one value per head and bucket of a
                             * position pair: type->bucket() gives the bucket */
    void *state;            /* type-specific: parsed options and caches */
} pb_encoding;

struct pb_encoding_type {
    const char *name;
    const char *summary;     /* one line: what it is */
    const char *reference;   /* paper or source */
    const char *options_doc; /* e.g. "base=10000 pairing=interleaved|half" */
    const char *const *options; /* valid option keys, NULL-terminated */
    unsigned sites;          /* PB_ENC_INPUT | PB_ENC_QK | PB_ENC_BIAS */
    int pos_dims;            /* 1, or 2 for 2D encodings */

    /* Parse and validate options (e->g and e->prec are already set), set
     * n_params and logit_scale, allocate state. On failure return -1 with a
     * message naming the option; destroy() is still called. */
    int (*create)(pb_encoding *e, const pb_opts *o, pb_error *err);
    void (*destroy)(pb_encoding *e);
    /* Initial values of the learnable parameters (may be NULL when
     * n_params == 0). */
    void (*init_params)(const pb_encoding *e, float *params, gsl_rng *rng);
    /* Build caches for every position coordinate in [0, max_pos). Fails if
     * the encoding cannot represent such positions (e.g. beyond a learned
     * table). May be NULL. */
    int (*prepare)(pb_encoding *e, int max_pos, pb_error *err);
    /* Rebuild caches that depend on the learnable parameters (e.g. cos/sin
     * of learned frequencies). Called single-threaded once per forward,
     * after prepare() (pb_encoding_refresh). A built-in's hooks give the
     * same result without it (the cache is a shortcut); a callback encoding
     * with parameters evaluates its host function here, and its hooks write
     * NaN for parameters they were not refreshed for. May be NULL. */
    int (*refresh)(pb_encoding *e, const float *params, pb_error *err);

    /* x[T, d] += PE(pos). */
    void (*input_forward)(const pb_encoding *e, const float *params,
                          const int *pos, int T, float *x);
    void (*input_backward)(const pb_encoding *e, const float *params,
                           const int *pos, int T, const float *dx,
                           float *dparams);

    /* Transform every head of q (is_key = 0) or k (is_key = 1) in place:
     * x[t*stride + h*d_head + i]. */
    void (*qk_forward)(const pb_encoding *e, const float *params,
                       const int *pos, int T, int is_key, float *x, int stride);
    /* dx holds d(loss)/d(output) and is overwritten with d(loss)/d(input);
     * x_in is the input the forward saw (for learnable transforms). */
    void (*qk_backward)(const pb_encoding *e, const float *params,
                        const int *pos, int T, int is_key, const float *x_in,
                        int in_stride, float *dx, int dstride, float *dparams);

    /* bias[h, a, b] = bias(h, qpos[a], kpos[b]) for a < nq, b < nk
     * (overwrites; layout [H][nq][nk]). The model adds it to the scaled
     * logits; masked entries are ignored. */
    void (*bias_forward)(const pb_encoding *e, const float *params,
                         const int *qpos, int nq, const int *kpos, int nk,
                         float *bias);
    void (*bias_backward)(const pb_encoding *e, const float *params,
                          const int *qpos, int nq, const int *kpos, int nk,
                          const float *dbias, float *dparams);

    /* Called once after every backward hook of one backward pass has run
     * (single-threaded): an encoding that only gathered upstream gradients
     * in its hooks (callback encodings with parameters) ADDS the parameter
     * gradients into dparams here. May be NULL. */
    int (*backward_end)(const pb_encoding *e, const float *params, float *dparams,
                        pb_error *err);

    /* Optional descriptions for the host (NULL = does not apply). */
    /* Rotary pair layout: the dims a[k], b[k] of pair k of a head vector,
     * k < d_head / 2 (pairs that do not rotate included). NULL: interleaved
     * pairs (2k, 2k + 1). */
    void (*pair_dims)(const pb_encoding *e, int *a, int *b);
    /* Bucket in [0, e->n_buckets) of the pair (qpos, kpos), positions taken
     * as given (no rounding site). Required when create() sets n_buckets. */
    int (*bucket)(const pb_encoding *e, int qpos, int kpos);
};

/* Registry: NULL-terminated list of every built-in type. */
extern const pb_encoding_type *const pb_encoding_types[];
/* Name of the encoding a model gets when its config names none. */
extern const char pb_encoding_default[];
/* A built-in or registered type by name, or NULL. */
const pb_encoding_type *pb_encoding_find(const char *name);
/* "none, integer, ..." (built-in, then registered) into buf, for error
 * messages. */
void pb_encoding_list_names(char *buf, size_t len);

/* Types added at run time (encodings defined in Lua, harness/bind/lua_encoding.c).
 * The caller owns *t and keeps it alive until pb_encoding_unregister(t).
 * Fails when the name is taken (built-in or registered) or the table of
 * registered types is full. Not thread-safe: register from one thread, before
 * models that use the type are built. */
int pb_encoding_register(const pb_encoding_type *t, pb_error *err);
void pb_encoding_unregister(const pb_encoding_type *t);
/* The i-th registered type (0-based), NULL past the end. */
const pb_encoding_type *pb_encoding_registered(int i);

/* Create an encoding of a registered (or given) type for geometry g.
 * Checks option names against type->options first. On failure returns -1,
 * and e is left destroyed. */
int pb_encoding_create(pb_encoding *e, const pb_encoding_type *type,
                       const pb_geometry *g, const pb_opts *o,
                       const pb_precision *prec, pb_error *err);
int pb_encoding_create_named(pb_encoding *e, const char *name,
                             const pb_geometry *g, const pb_opts *o,
                             const pb_precision *prec, pb_error *err);
void pb_encoding_destroy(pb_encoding *e);
/* An encoding outside any model (probes, metrics) is a
 * pb_standalone_encoding (standalone.h). */
/* Calls type->prepare when max_pos exceeds what was prepared (or differs
 * from it, for length-dependent encodings). */
int pb_encoding_prepare(pb_encoding *e, int max_pos, pb_error *err);
/* type->refresh, when the type has one. */
int pb_encoding_refresh(pb_encoding *e, const float *params, pb_error *err);
/* type->backward_end, when the type has one. */
int pb_encoding_backward_end(const pb_encoding *e, const float *params, float *dparams,
                             pb_error *err);
/* The attention logit of a query/key pair whose (transformed) head vectors
 * have dot product dot, with bias the encoding's bias of the pair (0 if
 * none): the convention at the top of this file, in double. */
static inline double pb_encoding_logit(const pb_encoding *e, double dot, double bias) {
    return dot / sqrt((double)e->g.d_head) * (double)e->logit_scale + bias;
}

/* type->pair_dims, or the interleaved layout when the type has none. */
void pb_encoding_pair_dims(const pb_encoding *e, int *a, int *b);

#endif
