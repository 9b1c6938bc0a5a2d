/* A batch of sequences, all of the same length T (one problem size per
 * batch, so no key padding is ever needed; length varies between batches).
 *
 * tokens[b*T + t]  input token
 * targets[b*T + t] token the output at t must predict
 * mask[b*T + t]    1 where the loss and accuracy count (answer slots), else 0
 * pos[(b*T + t)*pos_dims + c]  positions, filled by a position scheme
 * place[b*T + t]   digit place within its number (Abacus), -1 elsewhere */
#ifndef PB_BATCH_H
#define PB_BATCH_H

#include "../core/pb_error.h"

typedef struct pb_batch {
    int B, T, pos_dims;
    int cap_B, cap_T;     /* allocated capacity */
    int *tokens;
    int *targets;
    float *mask;
    int *pos;
    int *place;
    int grid_w;           /* row width hint for the grid scheme (0: none) */
} pb_batch;

int pb_batch_alloc(pb_batch *b, int cap_B, int cap_T, int pos_dims, pb_error *err);
void pb_batch_free(pb_batch *b);

#endif
