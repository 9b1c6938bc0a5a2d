/* One sequence through a model, for probes that look at its outputs (the
 * seed article's "dog chased another dog" check). */
#ifndef PB_METRICS_FORWARD_H
#define PB_METRICS_FORWARD_H

#include "model.h"

/* Forward tokens[T] at positions pos[T * pos_dims] (inference layout).
 * hidden[T, d] gets the final norm's output, logits[T, V] the pre-softmax
 * logits; either may be NULL. */
int pb_model_forward_tokens(pb_model *m, const int *tokens, const int *pos, int T,
                            float *hidden, float *logits, pb_error *err);

#endif
