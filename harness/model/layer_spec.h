/* One layer's positional design: its encoding (and options), the keys its
 * queries see (span), a temperature on its queries, QK-norm and logit
 * soft-capping. A model holds one record per layer (docs/hybrids.md);
 * `layers = N` is N identical records of the model's encoding, global,
 * with none of the rest. The records come from option lists (the binding
 * flattens each Lua entry), and the short forms `pattern` and `every`
 * expand to the list here, once. */
#ifndef PB_LAYER_SPEC_H
#define PB_LAYER_SPEC_H

#include "../../encodings/encoding.h"
#include "../core/opts.h"
#include "../core/pb_error.h"

typedef enum { PB_SPAN_GLOBAL, PB_SPAN_WINDOW, PB_SPAN_CHUNK } pb_span_kind;
/* Temperature rules: q(p) is multiplied by
 *   const:  scale
 *   log:    1 + scale * log(floor((pos + 1) / floor_scale) + 1)   (Llama 4)
 *   length: scale * log(n), n = keys query p sees                  (SSMax) */
typedef enum { PB_TEMP_NONE, PB_TEMP_CONST, PB_TEMP_LOG, PB_TEMP_LENGTH } pb_temp_rule;
typedef enum { PB_QKNORM_NONE, PB_QKNORM_PRE, PB_QKNORM_POST } pb_qknorm_kind;

typedef struct pb_layer_spec {
    char encoding[64];
    pb_opts enc_opts;
    pb_span_kind span;
    int span_size;          /* W or C; 0 for global */
    pb_temp_rule temp;
    double temp_scale, temp_floor;
    int temp_eval_only;     /* 1: only in forwards without gradients */
    pb_qknorm_kind qk_norm; /* before or after the encoding's q/k transform */
    int qk_norm_weight;     /* learnable per-dim weight of q and of k */
    double qk_norm_eps;
    double softcap;         /* c of c * tanh(logit / c); 0 = off */
} pb_layer_spec;

/* The record of a layer of a uniform model. */
void pb_layer_spec_uniform(pb_layer_spec *s, const char *encoding, const pb_opts *enc_opts);

/* Parse one layer entry (keys: encoding, enc.*, window, chunk,
 * temperature.{rule,scale,floor_scale,at}, qk_norm, qk_norm_weight,
 * qk_norm_eps, softcap) over the defaults in *s (an entry without
 * `encoding` keeps the default encoding and merges its enc.* over the
 * default options; one with `encoding` takes only its own). `what` names
 * the entry in errors, e.g. "pb.model layers[3]". */
int pb_layer_spec_parse(pb_layer_spec *s, const pb_opts *o, const char *what, pb_error *err);

/* The list for a short form: layer i (0-based) is global when
 *   pattern "a:b": i % (a + b) >= a       every k: (i + 1) % k == 0
 * and local otherwise; local_o / global_o are parsed over the uniform
 * record of (encoding, enc_opts). Exactly one of pattern / every (> 0). */
int pb_layer_specs_pattern(pb_layer_spec *out, int layers, const char *encoding,
                           const pb_opts *enc_opts, const char *pattern, int every,
                           const pb_opts *local_o, const pb_opts *global_o, pb_error *err);

/* The canonical entry of s, as options (the keys pb_layer_spec_parse reads,
 * only those that differ from a uniform layer, encoding and enc.* always). */
int pb_layer_spec_to_opts(const pb_layer_spec *s, pb_opts *o, pb_error *err);

/* Merge over into the options of every record whose encoding takes all
 * its keys (the rule of pb.eval's enc= on a per-layer model); fails when
 * none does. */
int pb_layer_specs_override(pb_layer_spec *s, int n, const pb_opts *over, pb_error *err);
/* Encoding type t (NULL: unknown) takes every key of o. */
int pb_encoding_type_takes(const pb_encoding_type *t, const pb_opts *o);

/* Same encoding and options (order of options ignored). */
int pb_layer_spec_same_encoding(const pb_layer_spec *a, const pb_layer_spec *b);

/* The span is global and nothing else is set: the layer of a uniform model. */
int pb_layer_spec_plain(const pb_layer_spec *s);

/* The multiplier of query t at position pos (temperature rule; 1 when none)
 * for a layer whose query t sees n_keys keys. */
float pb_layer_temperature(const pb_layer_spec *s, int pos, int n_keys);

#endif
