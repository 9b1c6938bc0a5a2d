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
 * keys d, d_head, heads, causal, max_len, precision.* and seed. */
#ifndef PB_STANDALONE_H
#define PB_STANDALONE_H

#include "encoding.h"

typedef struct pb_standalone_encoding {
    pb_encoding enc;
    pb_precision prec;   /* enc.prec points here: the object must not move */
    float *params;       /* [enc.n_params] learnable values */
    pb_opts opts;        /* the encoding's own options */
} pb_standalone_encoding;

/* Opens the encoding `name` from a flat settings list, split by owner:
 * geometry d, heads, d_head from any two of them (or the defaults d = 64,
 * heads = 4), causal (true) and max_len (64, in [1, max_pos]); precision.*;
 * seed (1) in [0, 2^32 - 1]; everything else is the encoding's own options.
 * On failure se is left closed; errors start with what. */
int pb_standalone_open(pb_standalone_encoding *se, const char *name, const pb_opts *settings,
                       int max_pos, const char *what, pb_error *err);

/* Safe on a closed (zeroed) object and twice. */
void pb_standalone_close(pb_standalone_encoding *se);

#endif
