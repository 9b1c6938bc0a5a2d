#include "opts.h"

#include <math.h>

#include <stdio.h>
#include <string.h>

void pb_opts_init(pb_opts *o) {
    memset(o, 0, sizeof *o);
}

static pb_opt *slot_for(pb_opts *o, const char *key, pb_error *err) {
    if (strlen(key) >= PB_OPT_KEY_LEN) {
        pb_fail(err, "option name '%s' is too long (at most %d characters)", key,
                PB_OPT_KEY_LEN - 1);
        return NULL;
    }
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->items[i].key, key) == 0) return &o->items[i];
    if (o->n == PB_OPTS_MAX) {
        pb_fail(err, "too many options (at most %d)", PB_OPTS_MAX);
        return NULL;
    }
    pb_opt *it = &o->items[o->n++];
    memset(it, 0, sizeof *it);
    strcpy(it->key, key);
    return it;
}

/* A number or a boolean (0 / 1) under key. */
static int set_scalar(pb_opts *o, const char *key, pb_opt_kind kind, double v, pb_error *err) {
    pb_opt *it = slot_for(o, key, err);
    if (!it) return -1;
    it->kind = kind;
    it->num = v;
    it->str[0] = 0;
    return 0;
}

int pb_opts_set_num(pb_opts *o, const char *key, double v, pb_error *err) {
    return set_scalar(o, key, PB_OPT_NUM, v, err);
}

int pb_opts_set_str(pb_opts *o, const char *key, const char *v, pb_error *err) {
    if (strlen(v) >= PB_OPT_STR_LEN)
        return pb_fail(err, "value of option '%s' is too long (at most %d characters)",
                       key, PB_OPT_STR_LEN - 1);
    pb_opt *it = slot_for(o, key, err);
    if (!it) return -1;
    it->kind = PB_OPT_STR;
    strcpy(it->str, v);
    return 0;
}

int pb_opts_set_bool(pb_opts *o, const char *key, int v, pb_error *err) {
    return set_scalar(o, key, PB_OPT_BOOL, v != 0, err);
}

int pb_opts_set_item(pb_opts *o, const char *key, const pb_opt *item, pb_error *err) {
    if (item->kind == PB_OPT_STR) return pb_opts_set_str(o, key, item->str, err);
    return set_scalar(o, key, item->kind, item->num, err);
}

int pb_opts_merge(pb_opts *dst, const pb_opts *src, pb_error *err) {
    for (int i = 0; i < src->n; i++) {
        const pb_opt *it = &src->items[i];
        if (pb_opts_set_item(dst, it->key, it, err)) return -1;
    }
    if (src->user) dst->user = src->user;
    return 0;
}

int pb_opts_merge_prefixed(pb_opts *dst, const pb_opts *src, const char *prefix,
                           pb_error *err) {
    for (int i = 0; i < src->n; i++) {
        const pb_opt *it = &src->items[i];
        char key[PB_OPT_KEY_LEN + 16];
        snprintf(key, sizeof key, "%s%s", prefix, it->key);
        if (pb_opts_set_item(dst, key, it, err)) return -1;
    }
    return 0;
}

const pb_opt *pb_opts_find(const pb_opts *o, const char *key) {
    if (!o) return NULL;
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->items[i].key, key) == 0) return &o->items[i];
    return NULL;
}

int pb_opts_has(const pb_opts *o, const char *key) {
    return pb_opts_find(o, key) != NULL;
}

int pb_opts_num(const pb_opts *o, const char *key, double dflt, double *out,
                const char *what, pb_error *err) {
    const pb_opt *it = pb_opts_find(o, key);
    if (!it) {
        *out = dflt;
        return 0;
    }
    if (it->kind == PB_OPT_STR)
        return pb_fail(err, "%s: option '%s' must be a number, got \"%s\"", what, key,
                       it->str);
    /* No option of an encoding, task or scheme means anything at NaN or
     * inf (YaRN's factor=inf gives NaN logits): refused here, once. */
    if (!isfinite(it->num))
        return pb_fail(err, "%s: option '%s' must be a finite number, got %s", what, key,
                       isnan(it->num) ? "nan" : it->num > 0 ? "inf" : "-inf");
    *out = it->num;
    return 0;
}

int pb_opts_num_in(const pb_opts *o, const char *key, double dflt, double lo, double hi,
                   int lo_open, double *out, const char *what, pb_error *err) {
    if (pb_opts_num(o, key, dflt, out, what, err)) return -1;
    double v = *out;
    if ((lo_open ? v > lo : v >= lo) && v <= hi) return 0;
    if (hi == HUGE_VAL)
        return pb_fail(err, "%s: option '%s' must be %s %g, got %g", what, key,
                       lo_open ? ">" : ">=", lo, v);
    return pb_fail(err, "%s: option '%s' must be in %s%g, %g], got %g", what, key,
                   lo_open ? "(" : "[", lo, hi, v);
}

int pb_opts_int(const pb_opts *o, const char *key, int dflt, int *out,
                const char *what, pb_error *err) {
    double v = dflt;
    if (pb_opts_num(o, key, dflt, &v, what, err)) return -1;
    if (!(v >= -2147483647.0 && v <= 2147483647.0) || v != (double)(int)v)
        return pb_fail(err, "%s: option '%s' must be an integer, got %g", what, key, v);
    *out = (int)v;
    return 0;
}

int pb_opts_bool(const pb_opts *o, const char *key, int dflt, int *out,
                 const char *what, pb_error *err) {
    const pb_opt *it = pb_opts_find(o, key);
    if (!it) {
        *out = dflt;
        return 0;
    }
    if (it->kind != PB_OPT_BOOL)
        return pb_fail(err, "%s: '%s' must be true or false", what, key);
    *out = it->num != 0.0;
    return 0;
}

int pb_opts_seed(const pb_opts *o, const char *key, unsigned long dflt, unsigned long *out,
                 const char *what, pb_error *err) {
    const pb_opt *it = pb_opts_find(o, key);
    if (!it) {
        *out = dflt;
        return 0;
    }
    if (it->kind != PB_OPT_NUM)
        return pb_fail(err, "%s: '%s' must be an integer in [0, " PB_SEED_MAX_TEXT "], got %s",
                       what, key, it->str);
    if (!pb_seed_valid(it->num))
        return pb_fail(err, "%s: '%s' must be an integer in [0, " PB_SEED_MAX_TEXT "], got %.14g",
                       what, key, it->num);
    *out = (unsigned long)it->num;
    return 0;
}

int pb_opts_str(const pb_opts *o, const char *key, const char *dflt,
                const char **out, const char *what, pb_error *err) {
    const pb_opt *it = pb_opts_find(o, key);
    if (!it) {
        *out = dflt;
        return 0;
    }
    if (it->kind != PB_OPT_STR)
        return pb_fail(err, "%s: option '%s' must be a string, got %g", what, key,
                       it->num);
    *out = it->str;
    return 0;
}

int pb_opts_check(const pb_opts *o, const char *const *valid, const char *what,
                  pb_error *err) {
    for (int i = 0; o && i < o->n; i++) {
        int known = 0;
        for (const char *const *v = valid; v && *v; v++)
            if (strcmp(*v, o->items[i].key) == 0) known = 1;
        if (known) continue;
        char list[512] = "";
        size_t used = 0;
        for (const char *const *v = valid; v && *v; v++) {
            int w = snprintf(list + used, sizeof list - used, "%s%s",
                             used ? ", " : "", *v);
            if (w < 0 || (size_t)w >= sizeof list - used) break;
            used += (size_t)w;
        }
        return pb_fail(err, "%s: unknown option '%s' (valid options: %s)", what,
                       o->items[i].key, used ? list : "none");
    }
    return 0;
}
