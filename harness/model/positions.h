/* Position schemes: how the positions handed to an encoding are made.
 *
 *   linear  pos[t] = t + offset                        (default; offset=0)
 *   shift   pos[t] = t + shift  (shift fixed, or random in [0, shift_max] per
 *           sequence while training when shift_max > 0)
 *   random  per sequence a sorted random subset of [0, max_pos) (Ruoss et
 *           al. 2023), at training and test time
 *   abacus  pos[t] = digit place (batch->place) + offset, offset random in
 *           [0, max_offset) while training, one per batch (offset="batch",
 *           default, as the authors' code) or per sequence
 *           (offset="sequence"), and 0 at evaluation; 0 for non-digits
 *           (McLeish et al. 2024)
 *   grid    2D: (t mod w, t div w), w from the option `width` or the task */
#ifndef PB_POSITIONS_H
#define PB_POSITIONS_H

#include <gsl/gsl_rng.h>

#include "batch.h"
#include "../core/opts.h"
#include "../core/pb_error.h"

typedef enum {
    PB_POS_LINEAR, PB_POS_SHIFT, PB_POS_RANDOM, PB_POS_ABACUS, PB_POS_GRID
} pb_pos_scheme;

typedef struct pb_positions {
    pb_pos_scheme scheme;
    int pos_dims;
    int offset;      /* linear, shift */
    int shift_max;   /* shift: random shift range while training */
    int max_pos;     /* random: L_max */
    int max_offset;  /* abacus */
    int offset_per_sequence; /* abacus: 1 = a new offset per sequence */
    int width;       /* grid: 0 = take from the batch */
} pb_positions;

extern const char *const pb_position_scheme_names[];

/* Parse {scheme=..., ...}. pos_dims is what the encoding needs; a mismatch
 * (e.g. a 2D encoding with a 1D scheme) is an error naming both. */
int pb_positions_create(pb_positions *p, const pb_opts *o, int pos_dims,
                        pb_error *err);
/* Fill batch->pos for rows [0, B) of length T. training selects the
 * training-time randomisation (shift, abacus offsets). */
int pb_positions_fill(const pb_positions *p, pb_batch *b, gsl_rng *rng,
                      int training, pb_error *err);

#endif
