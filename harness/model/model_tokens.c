/* One sequence through a model (see model_tokens.h). */
#include "model_tokens.h"

#include <string.h>

#include "linear.h"

int pb_model_forward_tokens(pb_model *m, const int *tokens, const int *pos, int T,
                            float *hidden, float *logits, pb_error *err) {
    int pd = m->enc.type->pos_dims, d = m->cfg.d, V = m->cfg.vocab;
    if (T < 1) return pb_fail(err, "model forward: need at least one token");
    pb_batch b;
    if (pb_batch_alloc(&b, 1, T, pd, err)) return -1;
    b.B = 1;
    b.T = T;
    memcpy(b.tokens, tokens, sizeof(int) * (size_t)T);
    memcpy(b.targets, tokens, sizeof(int) * (size_t)T); /* mask 0: no loss */
    memcpy(b.pos, pos, sizeof(int) * (size_t)T * pd);
    int rc = pb_model_forward(m, &b, 0, err);
    if (!rc) {
        if (hidden) memcpy(hidden, m->acts.lnf, sizeof(float) * (size_t)T * d);
        /* the loss turned acts.logits into probabilities: recompute them */
        if (logits)
            pb_linear_forward(logits, m->acts.lnf, m->cfg.tied ? m->used.wte : m->used.head_w,
                              NULL, T, d, V);
    }
    pb_batch_free(&b);
    return rc;
}
