/* Generic encoding lifecycle: option checking, create/destroy, prepare. */
#include "encoding.h"

#include <stdio.h>
#include <string.h>

const pb_encoding_type *pb_encoding_find(const char *name) {
    for (int i = 0; pb_encoding_types[i]; i++)
        if (strcmp(pb_encoding_types[i]->name, name) == 0) return pb_encoding_types[i];
    return NULL;
}

void pb_encoding_list_names(char *buf, size_t len) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; pb_encoding_types[i]; i++) {
        int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "",
                         pb_encoding_types[i]->name);
        if (w < 0 || (size_t)w >= len - used) break;
        used += (size_t)w;
    }
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
    if (max_pos <= e->prepared_len) return 0;
    if (e->type->prepare && e->type->prepare(e, max_pos, err)) return -1;
    e->prepared_len = max_pos;
    return 0;
}
