/* Checkpoints (model_checkpoint.h). */
#include "model_checkpoint.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int pb_model_save(const pb_model *m, const char *path, const char *meta_json, pb_error *err) {
    pb_tf_entry e[PB_N_PARAM_TENSORS];
    int n = 0;
    const float *mem = m->param_mem;
    for (int i = 0; i < PB_N_PARAM_TENSORS; i++) {
        const pb_param_shape *s = &m->shapes[i];
        if (s->size) {
            pb_tf_entry *x = &e[n++];
            memset(x, 0, sizeof *x);
            snprintf(x->name, sizeof x->name, "%s", pb_param_names[i]);
            x->dtype = PB_TF_F32;
            x->ndim = s->ndim;
            for (int k = 0; k < s->ndim; k++) x->shape[k] = s->shape[k];
            x->data = mem;
        }
        mem += s->size;
    }
    return pb_tf_write(path, meta_json, e, n, err);
}

static void shape_text(char *buf, size_t len, int ndim, const int64_t *shape) {
    int w = snprintf(buf, len, "[");
    for (int k = 0; k < ndim && w >= 0 && (size_t)w < len; k++)
        w += snprintf(buf + w, len - (size_t)w, k ? ",%lld" : "%lld", (long long)shape[k]);
    if (w >= 0 && (size_t)w < len) snprintf(buf + w, len - (size_t)w, "]");
}

/* The tensor of f for parameter i, checked; NULL with err when it fails. */
static const pb_tf_entry *checked_tensor(const pb_model *m, int i, const pb_tf_file *f,
                                         const char *path, int allow_nonfinite,
                                         pb_error *err) {
    const pb_param_shape *s = &m->shapes[i];
    const char *name = pb_param_names[i];
    const pb_tf_entry *x = pb_tf_find(f, name);
    if (!x) return pb_fail(err, "%s: parameter '%s' is missing", path, name), NULL;
    if (x->dtype != PB_TF_F32)
        return pb_fail(err, "%s: parameter '%s' is not float32", path, name), NULL;
    int64_t shape[PB_TF_MAX_DIMS];
    for (int k = 0; k < s->ndim; k++) shape[k] = s->shape[k];
    int same = x->ndim == s->ndim;
    for (int k = 0; same && k < s->ndim; k++) same = x->shape[k] == shape[k];
    if (!same) {
        char want[64], got[64];
        shape_text(want, sizeof want, s->ndim, shape);
        shape_text(got, sizeof got, x->ndim, x->shape);
        return pb_fail(err, "%s: parameter '%s' has shape %s, but the model's config gives %s",
                       path, name, got, want), NULL;
    }
    const float *v = x->data;
    for (size_t k = 0; !allow_nonfinite && k < s->size; k++)
        if (!isfinite(v[k]))
            return pb_fail(err, "%s: parameter '%s' holds %s at element %d; pass "
                                "{allow_nonfinite = true} to load it anyway", path, name,
                           isnan(v[k]) ? "nan" : v[k] > 0 ? "inf" : "-inf", (int)k), NULL;
    return x;
}

int pb_model_load_params(pb_model *m, const pb_tf_file *f, const char *path,
                         int allow_nonfinite, pb_error *err) {
    const pb_tf_entry *found[PB_N_PARAM_TENSORS] = {0};
    for (int i = 0; i < PB_N_PARAM_TENSORS; i++)
        if (m->shapes[i].size &&
            !(found[i] = checked_tensor(m, i, f, path, allow_nonfinite, err)))
            return -1;
    for (int j = 0; j < f->n; j++) {
        int known = 0;
        for (int i = 0; i < PB_N_PARAM_TENSORS; i++) known |= found[i] == &f->entries[j];
        if (!known)
            return pb_fail(err, "%s: tensor '%s' is not a parameter of the model its config "
                                "builds", path, f->entries[j].name);
    }
    float *mem = m->param_mem;
    for (int i = 0; i < PB_N_PARAM_TENSORS; i++) {
        if (found[i]) memcpy(mem, found[i]->data, m->shapes[i].size * sizeof(float));
        mem += m->shapes[i].size;
    }
    return 0;
}
