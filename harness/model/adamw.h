/* AdamW with linear warmup, cosine decay and global-norm clipping, exactly
 * as docs/model.md states (and torch.optim.AdamW computes). */
#ifndef PB_ADAMW_H
#define PB_ADAMW_H

#include "model.h"

/* Largest learning rate pb_adamw_check accepts. */
#define PB_ADAMW_MAX_LR 10.0

typedef struct pb_adamw {
    float lr, b1, b2, eps, wd, clip, min_lr_ratio;
    int warmup, steps;   /* schedule length (total updates) */
} pb_adamw;

void pb_adamw_defaults(pb_adamw *o);
/* Sets the float option `name` (lr, wd, clip, b1, b2, eps, min_lr_ratio)
 * from a double, refusing NaN, inf, values beyond float range and non-zero
 * values that round to 0 in float, by name. The range checks are
 * pb_adamw_check's. */
int pb_adamw_set(pb_adamw *o, const char *name, double v, pb_error *err);
/* Every option finite and in range; errors name the option. */
int pb_adamw_check(const pb_adamw *o, pb_error *err);
/* Learning rate of update t (0-based). */
float pb_adamw_lr(const pb_adamw *o, int t);
/* Forget moments and the step count (a fresh optimiser). */
int pb_adamw_reset(pb_model *m, pb_error *err);
/* One update with the model's gradients; returns the pre-clip gradient norm. */
float pb_adamw_step(pb_model *m, const pb_adamw *o);

#endif
