#include "batch.h"

#include <stdlib.h>
#include <string.h>

int pb_batch_alloc(pb_batch *b, int cap_B, int cap_T, int pos_dims, pb_error *err) {
    memset(b, 0, sizeof *b);
    if (cap_B <= 0 || cap_T <= 0 || pos_dims < 1 || pos_dims > 2)
        return pb_fail(err, "batch: impossible size %d x %d (pos_dims %d)", cap_B, cap_T,
                       pos_dims);
    size_t n = (size_t)cap_B * (size_t)cap_T;
    b->tokens = calloc(n, sizeof *b->tokens);
    b->targets = calloc(n, sizeof *b->targets);
    b->mask = calloc(n, sizeof *b->mask);
    b->pos = calloc(n * (size_t)pos_dims, sizeof *b->pos);
    b->place = calloc(n, sizeof *b->place);
    if (!b->tokens || !b->targets || !b->mask || !b->pos || !b->place) {
        pb_batch_free(b);
        return pb_fail(err, "batch: out of memory for %d x %d", cap_B, cap_T);
    }
    b->cap_B = cap_B;
    b->cap_T = cap_T;
    b->pos_dims = pos_dims;
    return 0;
}

void pb_batch_free(pb_batch *b) {
    free(b->tokens);
    free(b->targets);
    free(b->mask);
    free(b->pos);
    free(b->place);
    memset(b, 0, sizeof *b);
}
