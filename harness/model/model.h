/* The tiny transformer: token embedding, positional encoding (any plugin),
 * N pre-norm blocks (multi-head attention + GELU MLP), final norm, LM head.
 * docs/model.md states every operation exactly.
 *
 * Memory follows llm.c: parameters, gradients, optimiser moments and
 * activations each live in one allocation, addressed through structs of
 * pointers generated from one X-macro list. Nothing is allocated inside a
 * training step: pb_model_reserve() sizes the activations for the largest
 * batch beforehand. */
#ifndef PB_MODEL_H
#define PB_MODEL_H

#include <stddef.h>

#include "../../encodings/encoding.h"
#include "batch.h"
#include "layer_spec.h"
#include "../core/opts.h"
#include "../core/pb_error.h"
#include "positions.h"
#include "../numerics/precision.h"

typedef enum { PB_NORM_LAYER, PB_NORM_RMS } pb_norm_kind;

typedef struct pb_model_config {
    int vocab, d, heads, layers, ff, max_len;
    int causal, tied;
    pb_norm_kind norm;
    char encoding[64];
    pb_opts enc_opts;      /* options of the encoding (flattened) */
    pb_opts pos_opts;      /* position scheme options */
    pb_precision prec;     /* rounding sites (every site fp32 by default) */
    unsigned long seed;    /* weights and encoding streams (core/streams.h) */
    /* Per-layer records (layer_spec.h): n_specs == layers, or 0 for a
     * uniform model of `encoding` / `enc_opts`. The caller's array; the
     * model keeps its own copy (and points here at it). */
    int n_specs;
    const pb_layer_spec *specs;
} pb_model_config;

/* Parameter tensors, in buffer order (docs/model.md). */
#define PB_PARAM_TENSORS(X) \
    X(wte) X(enc) X(ln1_w) X(ln1_b) X(qkv_w) X(qkv_b) X(proj_w) X(proj_b)      \
    X(ln2_w) X(ln2_b) X(fc_w) X(fc_b) X(fcp_w) X(fcp_b) X(lnf_w) X(lnf_b)      \
    X(head_w) X(qkn_w)

enum {
#define X(name) PB_P_##name,
    PB_PARAM_TENSORS(X)
#undef X
    PB_N_PARAM_TENSORS
};

typedef struct pb_params {
#define X(name) float *name;
    PB_PARAM_TENSORS(X)
#undef X
} pb_params;

extern const char *const pb_param_names[PB_N_PARAM_TENSORS];

typedef struct pb_param_shape {
    int ndim;
    int shape[3];
    size_t size;
    int decay;             /* weight decay applies (weight matrices) */
} pb_param_shape;

/* Activation tensors for one forward pass. Per-layer tensors hold `layers`
 * slices when gradients are wanted; inference reuses slice 0 for every
 * layer. */
#define PB_ACT_TENSORS(X)                                                      \
    X(x0)       /* [B,T,d] embedded input (+ additive encoding) */             \
    X(ln1)      /* [L,B,T,d] */                                                \
    X(ln1_mean) /* [L,B,T] */                                                  \
    X(ln1_rstd) /* [L,B,T] */                                                  \
    X(qkv)      /* [L,B,T,3d] q,k after the encoding transform, v */          \
    X(qk_in)    /* [L,B,T,3d] q,k before it (learnable qk encodings only) */  \
    X(att)      /* [L,B,H,T,T] softmax probabilities (training only) */        \
    X(atty)     /* [L,B,T,d] attention output before the projection */        \
    X(res2)     /* [L,B,T,d] residual after attention */                      \
    X(ln2)      /* [L,B,T,d] */                                                \
    X(ln2_mean) /* [L,B,T] */                                                  \
    X(ln2_rstd) /* [L,B,T] */                                                  \
    X(fch)      /* [L,B,T,F] GELU input; gelu' of it after training */         \
    X(fch_gelu) /* [L,B,T,F] */                                                \
    X(res3)     /* [L,B,T,d] residual after the MLP = next layer's input */    \
    X(lnf)      /* [B,T,d] */                                                  \
    X(lnf_mean) /* [B,T] */                                                    \
    X(lnf_rstd) /* [B,T] */                                                    \
    X(logits)   /* [B,T,V] logits, turned into probabilities by the loss */   \
    X(losses)   /* [B,T] per-token cross-entropy (0 where mask is 0) */        \
    X(bias)     /* [B or 1,H,T,T] encoding bias (bias encodings, training) */ \
    X(dbias)    /* [B or 1,H,T,T] its gradient */                              \
    X(qkn_xhat) /* [L,B,T,2d] q,k after the QK-norm, before its weight */      \
    X(qkn_rstd) /* [L,B,T,2H] its reciprocal RMS per head */                   \
    X(scratch)  /* per-thread attention work space */

enum {
#define X(name) PB_A_##name,
    PB_ACT_TENSORS(X)
#undef X
    PB_N_ACT_TENSORS
};

typedef struct pb_acts {
#define X(name) float *name;
    PB_ACT_TENSORS(X)
#undef X
} pb_acts;

/* A layer's place in the model: its encoding group (layers with the same
 * encoding and options share one instance and its parameters, as every
 * layer of a uniform model does) and its training-layout attention slice. */
typedef struct pb_model_layer {
    int group;
    size_t att_off;             /* floats into acts.att (training layout) */
} pb_model_layer;

typedef struct pb_model {
    pb_model_config cfg;
    pb_encoding enc;            /* group 0: the encoding of layer 0 (of every
                                 * layer in a uniform model) */
    pb_positions positions;
    pb_precision prec;          /* in use: cfg.prec, or an evaluation's override
                                 * (the encoding points here) */
    pb_layer_spec *spec;        /* [layers], expanded (cfg.specs points here) */
    pb_model_layer *layer;      /* [layers] */
    int n_groups;               /* distinct encodings */
    pb_encoding *more_enc;      /* groups 1..n_groups-1 */
    int *group_off;             /* [n_groups] offset of its parameters in enc */
    int *group_bias;            /* [n_groups] slot in acts.bias, or -1 */
    int n_bias_slots, hybrid;   /* hybrid: some layer differs from uniform */
    const float **bias_in_use;  /* [n_groups] the last forward's bias tables */

    pb_param_shape shapes[PB_N_PARAM_TENSORS];
    size_t n_params;
    float *param_mem, *grad_mem, *m_mem, *v_mem;
    float *weights_lp;          /* weights rounded for the `weights` site */
    pb_params params, grads, used; /* `used`: what forward reads */
    int opt_step;               /* AdamW updates done */

    /* Activations (and their gradients) for up to cap_B x cap_T, train or
     * inference layout. */
    int cap_B, cap_T, cap_train, n_threads;
    size_t act_sizes[PB_N_ACT_TENSORS];
    float *act_mem, *dact_mem;
    pb_acts acts, dacts;

    /* Results of the last forward. */
    int B, T, trained_forward, shared_pos;
    int inspecting;             /* the last forward was pb_model_forward_inspect */
    float loss;
    double mask_sum;            /* answer tokens in the last batch */
} pb_model;

/* Validate the config (sizes, encoding, positions) and build a model with
 * freshly initialised parameters. On failure m is left empty. */
int pb_model_create(pb_model *m, const pb_model_config *cfg, pb_error *err);
void pb_model_destroy(pb_model *m);
void pb_model_config_defaults(pb_model_config *cfg);

/* Make room for batches up to B x T; train selects the layout that keeps
 * every layer's activations for backward. Allocates only when growing. */
int pb_model_reserve(pb_model *m, int B, int T, int train, pb_error *err);

/* Forward on batch (positions already filled). want_grad keeps what backward
 * needs. Sets m->loss (mean cross-entropy over mask) and per-token losses,
 * and leaves probabilities in acts.logits. */
int pb_model_forward(pb_model *m, const pb_batch *b, int want_grad, pb_error *err);
/* A forward that keeps every layer's activations for reading (diagnostics,
 * attention metrics): an evaluation, so evaluation-only settings (a
 * temperature with at = "eval") apply, as in pb_model_forward without
 * gradients. */
int pb_model_forward_inspect(pb_model *m, const pb_batch *b, pb_error *err);
/* Backward of the last forward (which must have had want_grad); adds into
 * the parameter gradients. */
int pb_model_backward(pb_model *m, const pb_batch *b, pb_error *err);
void pb_model_zero_grad(pb_model *m);

/* The encoding of layer l and the offset of its parameters in params.enc. */
pb_encoding *pb_model_layer_encoding(const pb_model *m, int l, int *param_off);
/* First key query i sees in layer l (0 for a global layer). */
int pb_model_layer_key_lo(const pb_model *m, int l, int i);
/* Probabilities of query i (sequence r, head h) in layer l of the last
 * forward with gradients: keys *lo .. (causal ? i : T - 1), whatever the
 * layer's storage (a T x T row, or its band for a window or chunk). */
const float *pb_model_layer_probs(const pb_model *m, int l, int r, int h, int i, int *lo);
/* The encoding instance of group g (group 0 is m->enc). */
pb_encoding *pb_model_group_encoding(const pb_model *m, int g);

/* Swap in another encoding object (same n_params) — used to evaluate with
 * different options (RoPE scaling) or precision. Returns the old one. */
int pb_model_set_encoding(pb_model *m, const char *name, const pb_opts *opts,
                          pb_encoding *old, pb_error *err);

/* The model's rounding sites (cfg.prec and the ones in use); the encoding is
 * rebuilt so its caches see them. (model_settings.c) */
int pb_model_set_precision(pb_model *m, const pb_precision *prec, pb_error *err);

/* Settings for some evaluations only; NULL fields keep the model's own. */
typedef struct pb_model_override {
    const pb_opts *enc;         /* encoding options, merged over cfg.enc_opts */
    const pb_opts *positions;   /* another position scheme */
    const pb_precision *prec;   /* other rounding sites */
} pb_model_override;

/* What pb_model_restore puts back. */
typedef struct pb_model_saved {
    pb_precision prec;
    pb_positions positions;
    pb_encoding enc;
    pb_encoding *more_enc;      /* the other groups' (hybrid models) */
    int active, swapped;
} pb_model_saved;

/* Apply o until pb_model_restore(m, s); the encoding is rebuilt when its
 * options or the precision change. On failure the model is as before and
 * restoring is a no-op. (model_settings.c) */
int pb_model_apply_override(pb_model *m, const pb_model_override *o, pb_model_saved *s,
                            pb_error *err);
void pb_model_restore(pb_model *m, pb_model_saved *s);

#endif
