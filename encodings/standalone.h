/* An encoding outside any model: the object behind pb.encoding and the
 * encoding-name form of pb.metrics.*, for analysis, tests and plots.
 *
 * It owns what a model would otherwise hold for its encoding: the
 * precision its sites round to, the learnable parameters (initialised from
 * a seed) and the options it was made with. The metrics take a plain
 * (&se->enc, se->params) pair, exactly like a trained model's
 * (&m->enc, m->params.enc).
 *
 * Its settings arrive as one flat options list (one Lua table flattened by
 * the binding) mixing the encoding's own options with the outside-model
 * keys d, d_head, heads, causal, max_len, precision.* and seed;
 * pb_standalone_split separates them. */
#ifndef PB_STANDALONE_H
#define PB_STANDALONE_H

#include "encoding.h"

typedef struct pb_standalone_encoding {
    pb_encoding enc;
    pb_precision prec;   /* enc.prec points here: the object must not move */
    float *params;       /* [enc.n_params] learnable values */
    pb_opts opts;        /* the encoding's own options */
} pb_standalone_encoding;

/* What a flat settings list holds, split by owner. */
typedef struct pb_standalone_settings {
    pb_geometry g;
    pb_precision prec;
    unsigned long seed;
    pb_opts enc_opts;    /* everything else: the encoding's own options */
} pb_standalone_settings;

/* Splits settings. Geometry: d, heads, d_head from any two of them (or the
 * defaults d = 64, heads = 4), causal (true) and max_len (64, in
 * [1, max_pos]); seed (1) in [0, 2^32 - 1]. Errors start with what. */
int pb_standalone_split(const pb_opts *settings, int max_pos, const char *what,
                        pb_standalone_settings *out, pb_error *err);

/* Opens the encoding `name` with the split settings s. On failure se is
 * left closed; errors start with what. */
int pb_standalone_open(pb_standalone_encoding *se, const char *name,
                       const pb_standalone_settings *s, const char *what, pb_error *err);

/* pb_standalone_split then pb_standalone_open. */
int pb_standalone_open_settings(pb_standalone_encoding *se, const char *name,
                                const pb_opts *settings, int max_pos, const char *what,
                                pb_error *err);

/* Safe on a closed (zeroed) object and twice. */
void pb_standalone_close(pb_standalone_encoding *se);

#endif
