/* Precision settings from an options list (see precision_opts.h). */
#include "precision_opts.h"

#include <string.h>

#define SITE_LEN 32

/* The site part of key (after prefix, up to the first '.'), or NULL when
 * key does not start with prefix. *field is what follows the '.', or NULL. */
static int split_key(const char *key, const char *prefix, char *site, const char **field) {
    size_t plen = strlen(prefix);
    if (strncmp(key, prefix, plen) != 0) return 0;
    const char *rest = key + plen, *dot = strchr(rest, '.');
    size_t n = dot ? (size_t)(dot - rest) : strlen(rest);
    if (n >= SITE_LEN) n = SITE_LEN - 1; /* too long for any site: pb_precision_set refuses it */
    memcpy(site, rest, n);
    site[n] = '\0';
    *field = dot ? dot + 1 : NULL;
    return 1;
}

static const char *str_of(const pb_opt *it, const char *site, const char *field,
                          pb_error *err) {
    if (it->kind == PB_OPT_STR) return it->str;
    pb_fail(err, "precision.%s: '%s' must be a string, got %g", site, field, it->num);
    return NULL;
}

/* The table form of one site: its fields among o's keys. */
static int parse_fields(const pb_opts *o, const char *prefix, const char *site,
                        pb_format *f, pb_error *err) {
    const pb_opt *fmt = NULL, *rnd = NULL, *ovf = NULL, *sub = NULL;
    for (int i = 0; i < o->n; i++) {
        char s[SITE_LEN];
        const char *field;
        if (!split_key(o->items[i].key, prefix, s, &field) || strcmp(s, site) != 0 || !field)
            continue;
        const pb_opt *it = &o->items[i];
        if (strcmp(field, "format") == 0) fmt = it;
        else if (strcmp(field, "rounding") == 0) rnd = it;
        else if (strcmp(field, "overflow") == 0) ovf = it;
        else if (strcmp(field, "subnormals") == 0) sub = it;
        else
            return pb_fail(err, "precision.%s: unknown option '%s' (valid options: format, "
                                "rounding, overflow, subnormals)", site, field);
    }
    if (!fmt) return pb_fail(err, "precision.%s: needs format=", site);
    const char *name = str_of(fmt, site, "format", err);
    if (!name) return -1;
    pb_error perr;
    if (pb_format_parse(name, f, &perr)) return pb_fail(err, "precision.%s: %s", site, perr.msg);
    if (rnd) {
        const char *r = str_of(rnd, site, "rounding", err);
        if (!r) return -1;
        if (strcmp(r, "rne") == 0) f->rounding = PB_ROUND_RNE;
        else if (strcmp(r, "rtz") == 0) f->rounding = PB_ROUND_RTZ;
        else if (strcmp(r, "stochastic") == 0) f->rounding = PB_ROUND_STOCHASTIC;
        else return pb_fail(err, "precision.%s: unknown rounding '%s' (valid: rne, rtz, "
                                 "stochastic)", site, r);
    }
    if (ovf) {
        const char *v = str_of(ovf, site, "overflow", err);
        if (!v) return -1;
        if (strcmp(v, "inf") == 0) f->overflow = PB_OVERFLOW_INF;
        else if (strcmp(v, "saturate") == 0) f->overflow = PB_OVERFLOW_SATURATE;
        else if (strcmp(v, "nan") == 0) f->overflow = PB_OVERFLOW_NAN;
        else return pb_fail(err, "precision.%s: unknown overflow '%s' (valid: inf, saturate, "
                                 "nan)", site, v);
    }
    if (sub) {
        /* booleans arrive as 0 / 1 */
        if (sub->kind != PB_OPT_NUM || (sub->num != 0.0 && sub->num != 1.0))
            return pb_fail(err, "precision.%s: 'subnormals' must be true or false", site);
        f->subnormals = sub->num != 0.0;
    }
    if (f->rounding != PB_ROUND_RNE) f->is_identity = 0;
    return 0;
}

/* One site, given either as a format name or as a table of fields. */
static int parse_site(const pb_opts *o, const char *prefix, const char *site,
                      pb_format *f, pb_error *err) {
    const pb_opt *bare = NULL;
    int fields = 0;
    for (int i = 0; i < o->n; i++) {
        char s[SITE_LEN];
        const char *field;
        if (!split_key(o->items[i].key, prefix, s, &field) || strcmp(s, site) != 0) continue;
        if (field) fields++;
        else bare = &o->items[i];
    }
    if (bare && fields)
        return pb_fail(err, "precision.%s: give a format name or a table, not both", site);
    if (!bare) return parse_fields(o, prefix, site, f, err);
    if (bare->kind != PB_OPT_STR)
        return pb_fail(err, "precision.%s: expected a format name or table, got a number",
                       site);
    pb_error perr;
    if (pb_format_parse(bare->str, f, &perr))
        return pb_fail(err, "precision.%s: %s", site, perr.msg);
    return 0;
}

int pb_precision_from_opts(pb_precision *p, const pb_opts *o, const char *prefix,
                           pb_error *err) {
    pb_precision_init(p);
    for (int i = 0; o && i < o->n; i++) {
        char site[SITE_LEN];
        const char *field;
        if (!split_key(o->items[i].key, prefix, site, &field)) continue;
        /* each site once: at the first of its keys */
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) {
            char s[SITE_LEN];
            const char *fj;
            seen = split_key(o->items[j].key, prefix, s, &fj) && strcmp(s, site) == 0;
        }
        if (seen) continue;
        pb_format f;
        if (parse_site(o, prefix, site, &f, err)) return -1;
        pb_error serr;
        if (pb_precision_set(p, site, &f, &serr)) return pb_fail(err, "precision: %s", serr.msg);
    }
    return 0;
}
