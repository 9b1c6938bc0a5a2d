/* Changing a built model's settings: its precision (part of the config),
 * and temporary overrides for an evaluation (model.h). */
#include <string.h>

#include "model.h"

/* Rebuild the encoding with options opts (its caches read m->prec), keeping
 * the old object in *old. */
static int rebuild_encoding(pb_model *m, const pb_opts *opts, pb_encoding *old,
                            pb_error *err) {
    return pb_model_set_encoding(m, m->cfg.encoding, opts, old, err);
}

int pb_model_set_precision(pb_model *m, const pb_precision *prec, pb_error *err) {
    pb_precision before = m->prec;
    pb_encoding old;
    m->prec = *prec;
    if (rebuild_encoding(m, &m->cfg.enc_opts, &old, err)) {
        m->prec = before;
        return -1;
    }
    pb_encoding_destroy(&old);
    m->cfg.prec = *prec;
    return 0;
}

int pb_model_apply_override(pb_model *m, const pb_model_override *o, pb_model_saved *s,
                            pb_error *err) {
    memset(s, 0, sizeof *s);
    pb_opts merged = m->cfg.enc_opts;
    if (o->enc && pb_opts_merge(&merged, o->enc, err)) return -1;
    pb_positions positions = m->positions;
    if (o->positions &&
        pb_positions_create(&positions, o->positions, m->enc.type->pos_dims, err))
        return -1;
    s->prec = m->prec;
    s->positions = m->positions;
    s->active = 1;
    m->positions = positions;
    if (o->prec) m->prec = *o->prec;
    if (o->enc || o->prec) {
        if (rebuild_encoding(m, &merged, &s->enc, err)) {
            pb_model_restore(m, s);
            return -1;
        }
        s->swapped = 1;
    }
    return 0;
}

void pb_model_restore(pb_model *m, pb_model_saved *s) {
    if (!s->active) return;
    if (s->swapped) {
        pb_encoding_destroy(&m->enc);
        m->enc = s->enc;
    }
    m->prec = s->prec;
    m->positions = s->positions;
    s->active = s->swapped = 0;
}
