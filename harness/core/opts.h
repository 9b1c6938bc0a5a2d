/* Options: a flat list of key -> number | string, filled from a Lua table.
 *
 * Nested tables are flattened with dotted keys, so the Lua option
 * `scaling = {type = "yarn", factor = 4}` arrives as "scaling.type" = "yarn"
 * and "scaling.factor" = 4. Booleans keep their kind (value 0 / 1), so a
 * reader of a boolean can refuse a number; readers of numbers take them as
 * 0 / 1. Encodings,
 * tasks and position schemes read their options through this list, which
 * keeps them free of Lua and lets unknown keys be reported in one place. */
#ifndef PB_OPTS_H
#define PB_OPTS_H

#include "pb_error.h"

#define PB_OPTS_MAX 48
#define PB_OPT_KEY_LEN 64
#define PB_OPT_STR_LEN 128

typedef enum { PB_OPT_NUM, PB_OPT_STR, PB_OPT_BOOL } pb_opt_kind;

typedef struct pb_opt {
    char key[PB_OPT_KEY_LEN];
    pb_opt_kind kind;
    double num;
    char str[PB_OPT_STR_LEN];
} pb_opt;

typedef struct pb_opts {
    int n;
    pb_opt items[PB_OPTS_MAX];
    /* Opaque extra payload for encodings defined in Lua (see
     * harness/bind/lua_encoding.c); NULL for every built-in. */
    void *user;
} pb_opts;

void pb_opts_init(pb_opts *o);
/* Add or replace a key. Return -1 (with err) when the list is full or a
 * key/string is too long. */
int pb_opts_set_num(pb_opts *o, const char *key, double v, pb_error *err);
int pb_opts_set_str(pb_opts *o, const char *key, const char *v, pb_error *err);
int pb_opts_set_bool(pb_opts *o, const char *key, int v, pb_error *err);
/* Add or replace key with the kind and value of item. */
int pb_opts_set_item(pb_opts *o, const char *key, const pb_opt *item, pb_error *err);
/* Copy every item of src into dst, replacing keys dst already has. */
int pb_opts_merge(pb_opts *dst, const pb_opts *src, pb_error *err);
/* The same with every key of src prefixed (e.g. "scaling."): a group of
 * options given as its own table. */
int pb_opts_merge_prefixed(pb_opts *dst, const pb_opts *src, const char *prefix,
                           pb_error *err);

const pb_opt *pb_opts_find(const pb_opts *o, const char *key);
int pb_opts_has(const pb_opts *o, const char *key);

/* Typed getters. They fail (return -1 with a message naming `what` and the
 * key) when the key holds the wrong kind; a missing key yields the default. */
int pb_opts_num(const pb_opts *o, const char *key, double dflt, double *out,
                const char *what, pb_error *err);
/* pb_opts_num refuses NaN and inf for every key. pb_opts_num_in also
 * checks the range: lo < v (lo_open) or lo <= v, and v <= hi (HUGE_VAL: no
 * upper bound), failing with "what: option 'key' must be in [lo, hi], got v"
 * or "must be > lo". The one check of an encoding's numeric options. */
int pb_opts_num_in(const pb_opts *o, const char *key, double dflt, double lo, double hi,
                   int lo_open, double *out, const char *what, pb_error *err);
int pb_opts_int(const pb_opts *o, const char *key, int dflt, int *out,
                const char *what, pb_error *err);
int pb_opts_str(const pb_opts *o, const char *key, const char *dflt,
                const char **out, const char *what, pb_error *err);
/* A boolean option: anything else (a number included) fails with
 * "what: 'key' must be true or false". */
int pb_opts_bool(const pb_opts *o, const char *key, int dflt, int *out,
                 const char *what, pb_error *err);

/* Seeds are integers in [0, PB_SEED_MAX]. The generator (MT19937) uses 32
 * bits of its seed, so a wider range would make distinct seeds equal. */
#define PB_SEED_MAX 4294967295.0
#define PB_SEED_MAX_TEXT "4294967295"
/* v is a valid seed: compared as a double before any conversion, so NaN,
 * inf, -1 and 1.5 fail instead of wrapping or truncating. */
static inline int pb_seed_valid(double v) {
    return v >= 0.0 && v <= PB_SEED_MAX && v == (double)(unsigned long)v;
}
/* The seed at key (dflt when missing); fails with "what: 'key' must be an
 * integer in [0, 4294967295], got X". */
int pb_opts_seed(const pb_opts *o, const char *key, unsigned long dflt, unsigned long *out,
                 const char *what, pb_error *err);

/* Fails on the first key that is not in the NULL-terminated `valid` list,
 * naming it and listing the valid keys. `what` names the owner, e.g.
 * "encoding 'rope'". */
int pb_opts_check(const pb_opts *o, const char *const *valid, const char *what,
                  pb_error *err);

#endif
