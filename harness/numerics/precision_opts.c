/* Precision settings from an options list (see precision_opts.h). */
#include "precision_opts.h"

#include <stdio.h>
#include <string.h>

#include "format_policy.h"

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

/* Index of a policy field in pb_format_policies, or -1. */
static int policy_index(const char *field) {
    for (int k = 0; pb_format_policies[k]; k++)
        if (strcmp(field, pb_format_policies[k]) == 0) return k;
    return -1;
}

/* The table form of one site: format= and the policies among o's keys. */
static int parse_fields(const pb_opts *o, const char *prefix, const char *site,
                        pb_format *f, pb_error *err) {
    const pb_opt *fmt = NULL, *policy[3] = {NULL, NULL, NULL};
    for (int i = 0; i < o->n; i++) {
        char s[SITE_LEN];
        const char *field;
        if (!split_key(o->items[i].key, prefix, s, &field) || strcmp(s, site) != 0 || !field)
            continue;
        int k = policy_index(field);
        if (strcmp(field, "format") == 0) fmt = &o->items[i];
        else if (k >= 0) policy[k] = &o->items[i];
        else
            return pb_fail(err, "precision.%s: unknown option '%s' (valid options: format, "
                                "rounding, overflow, subnormals)", site, field);
    }
    if (!fmt) return pb_fail(err, "precision.%s: needs format=", site);
    const char *name = str_of(fmt, site, "format", err);
    if (!name) return -1;
    pb_error perr;
    if (pb_format_parse(name, f, &perr)) return pb_fail(err, "precision.%s: %s", site, perr.msg);
    char what[SITE_LEN + 16];
    snprintf(what, sizeof what, "precision.%s", site);
    for (int k = 0; pb_format_policies[k]; k++)
        if (policy[k] && pb_format_set_policy(f, pb_format_policies[k], policy[k], what, err))
            return -1;
    return pb_format_check_policies(f, what, err);
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
