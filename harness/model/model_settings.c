/* Changing a built model's settings: its precision (part of the config),
 * and temporary overrides for an evaluation (model.h). */
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "model_internal.h"

/* Rebuild every group's encoding (its caches read m->prec) with its own
 * options merged with over (NULL: none), keeping the old objects in *old
 * and old_more[0 .. n_groups-2]. In a hybrid model over goes to the groups
 * whose encoding takes all its keys, and must fit one of them. */
static int rebuild(pb_model *m, const pb_opts *over, pb_encoding *old, pb_encoding *old_more,
                   pb_error *err) {
    if (m->n_groups == 1) {
        pb_opts merged = m->cfg.enc_opts;
        if (over && pb_opts_merge(&merged, over, err)) return -1;
        return pb_model_set_encoding(m, m->cfg.encoding, &merged, old, err);
    }
    int n = m->n_groups, taken = 0;
    pb_encoding *fresh = calloc((size_t)n, sizeof *fresh);
    if (!fresh) return pb_fail(err, "model: out of memory");
    int g = 0;
    for (; g < n; g++) {
        const pb_encoding *cur = pb_model_group_encoding(m, g);
        int l = 0;
        while (m->layer[l].group != g) l++;
        pb_opts opts = m->spec[l].enc_opts;
        if (over && pb_encoding_type_takes(cur->type, over)) {
            taken++;
            if (pb_opts_merge(&opts, over, err)) break;
        }
        if (pb_model_create_group_encoding(m, g, &opts, &fresh[g], err)) break;
        if (fresh[g].n_params != cur->n_params || fresh[g].type->sites != cur->type->sites) {
            pb_fail(err, "model: layer %d: encoding '%s' with these options does not fit the "
                         "trained model", l + 1, cur->type->name);
            pb_encoding_destroy(&fresh[g]);
            break;
        }
    }
    if (g == n && over && over->n && !taken) {
        pb_fail(err, "model: no layer's encoding takes the option '%s'", over->items[0].key);
    } else if (g == n) {
        *old = m->enc;
        m->enc = fresh[0];
        for (int k = 1; k < n; k++) {
            old_more[k - 1] = m->more_enc[k - 1];
            m->more_enc[k - 1] = fresh[k];
        }
        free(fresh);
        return 0;
    }
    for (int k = 0; k < g && k < n; k++) pb_encoding_destroy(&fresh[k]);
    free(fresh);
    return -1;
}

int pb_model_set_precision(pb_model *m, const pb_precision *prec, pb_error *err) {
    pb_precision before = m->prec;
    pb_encoding old;
    pb_encoding *old_more = calloc((size_t)m->n_groups, sizeof *old_more);
    if (!old_more) return pb_fail(err, "model: out of memory");
    m->prec = *prec;
    if (rebuild(m, NULL, &old, old_more, err)) {
        m->prec = before;
        free(old_more);
        return -1;
    }
    pb_encoding_destroy(&old);
    for (int g = 1; g < m->n_groups; g++) pb_encoding_destroy(&old_more[g - 1]);
    free(old_more);
    m->cfg.prec = *prec;
    return 0;
}

int pb_model_apply_override(pb_model *m, const pb_model_override *o, pb_model_saved *s,
                            pb_error *err) {
    memset(s, 0, sizeof *s);
    if (o->enc && m->n_groups == 1) { /* the merge's own errors first, as always */
        pb_opts merged = m->cfg.enc_opts;
        if (pb_opts_merge(&merged, o->enc, err)) return -1;
    }
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
        s->more_enc = calloc((size_t)m->n_groups, sizeof *s->more_enc);
        if (!s->more_enc || rebuild(m, o->enc, &s->enc, s->more_enc, err)) {
            if (!s->more_enc) pb_fail(err, "model: out of memory");
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
        for (int g = 1; g < m->n_groups; g++) {
            pb_encoding_destroy(&m->more_enc[g - 1]);
            m->more_enc[g - 1] = s->more_enc[g - 1];
        }
    }
    free(s->more_enc);
    s->more_enc = NULL;
    m->prec = s->prec;
    m->positions = s->positions;
    s->active = s->swapped = 0;
}
