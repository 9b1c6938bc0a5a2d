/* Generic encoding lifecycle: option checking, create/destroy, prepare. */
#include "encoding.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Types registered at run time, in registration order. A fixed table keeps
 * this file free of allocation; unregistering closes the gap. */
#define PB_MAX_REGISTERED_ENCODINGS 256
static const pb_encoding_type *registered[PB_MAX_REGISTERED_ENCODINGS];
static int n_registered;

const pb_encoding_type *pb_encoding_registered(int i) {
    return i >= 0 && i < n_registered ? registered[i] : NULL;
}

const pb_encoding_type *pb_encoding_find(const char *name) {
    for (int i = 0; pb_encoding_types[i]; i++)
        if (strcmp(pb_encoding_types[i]->name, name) == 0) return pb_encoding_types[i];
    for (int i = 0; i < n_registered; i++)
        if (strcmp(registered[i]->name, name) == 0) return registered[i];
    return NULL;
}

int pb_encoding_register(const pb_encoding_type *t, pb_error *err) {
    if (!t || !t->name || !t->name[0])
        return pb_fail(err, "encoding registry: a type needs a name");
    const pb_encoding_type *old = pb_encoding_find(t->name);
    if (old) {
        int builtin = 1;
        for (int i = 0; i < n_registered; i++) builtin &= registered[i] != old;
        return pb_fail(err, "an encoding named '%s' already exists (%s); choose another "
                            "name",
                       t->name, builtin ? "built-in" : "registered earlier");
    }
    if (n_registered == PB_MAX_REGISTERED_ENCODINGS)
        return pb_fail(err, "encoding registry: cannot register '%s', the table of %d "
                            "registered encodings is full",
                       t->name, PB_MAX_REGISTERED_ENCODINGS);
    registered[n_registered++] = t;
    return 0;
}

void pb_encoding_unregister(const pb_encoding_type *t) {
    for (int i = 0; i < n_registered; i++) {
        if (registered[i] != t) continue;
        memmove(registered + i, registered + i + 1,
                sizeof registered[0] * (size_t)(n_registered - i - 1));
        n_registered--;
        return;
    }
}

static int append_name(char *buf, size_t len, size_t *used, const char *name) {
    int w = snprintf(buf + *used, len - *used, "%s%s", *used ? ", " : "", name);
    if (w < 0 || (size_t)w >= len - *used) return -1;
    *used += (size_t)w;
    return 0;
}

void pb_encoding_list_names(char *buf, size_t len) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; pb_encoding_types[i]; i++)
        if (append_name(buf, len, &used, pb_encoding_types[i]->name)) return;
    for (int i = 0; i < n_registered; i++)
        if (append_name(buf, len, &used, registered[i]->name)) return;
}

int pb_encoding_create(pb_encoding *e, const pb_encoding_type *type,
                       const pb_geometry *g, const pb_opts *o,
                       const pb_precision *prec, pb_error *err) {
    memset(e, 0, sizeof *e);
    e->type = type;
    e->g = *g;
    e->logit_scale = 1.0f;
    e->prec = prec;
    char what[96];
    snprintf(what, sizeof what, "encoding '%s'", type->name);
    if (pb_opts_check(o, type->options, what, err)) return -1;
    if (type->create && type->create(e, o, err)) {
        pb_encoding_destroy(e);
        return -1;
    }
    return 0;
}

int pb_encoding_create_named(pb_encoding *e, const char *name,
                             const pb_geometry *g, const pb_opts *o,
                             const pb_precision *prec, pb_error *err) {
    const pb_encoding_type *type = pb_encoding_find(name);
    if (!type) {
        char names[1024];
        pb_encoding_list_names(names, sizeof names);
        memset(e, 0, sizeof *e);
        return pb_fail(err, "unknown encoding '%s' (valid encodings: %s)", name, names);
    }
    return pb_encoding_create(e, type, g, o, prec, err);
}

void pb_encoding_destroy(pb_encoding *e) {
    if (e->type && e->type->destroy) e->type->destroy(e);
    memset(e, 0, sizeof *e);
}

int pb_encoding_prepare(pb_encoding *e, int max_pos, pb_error *err) {
    if (max_pos == e->prepared_len || (max_pos < e->prepared_len && !e->length_dependent))
        return 0;
    if (e->type->prepare && e->type->prepare(e, max_pos, err)) return -1;
    e->prepared_len = max_pos;
    return 0;
}

int pb_encoding_refresh(pb_encoding *e, const float *params, pb_error *err) {
    return e->type->refresh ? e->type->refresh(e, params, err) : 0;
}

int pb_encoding_backward_end(const pb_encoding *e, const float *params, float *dparams,
                             pb_error *err) {
    return e->type->backward_end ? e->type->backward_end(e, params, dparams, err) : 0;
}

void pb_encoding_pair_dims(const pb_encoding *e, int *a, int *b) {
    if (e->type->pair_dims) {
        e->type->pair_dims(e, a, b);
        return;
    }
    for (int k = 0; k < e->g.d_head / 2; k++) {
        a[k] = 2 * k;
        b[k] = 2 * k + 1;
    }
}
