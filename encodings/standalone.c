/* An encoding outside any model (see standalone.h). */
#include "standalone.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../harness/core/streams.h"
#include "../harness/numerics/precision_opts.h"

/* The keys of the object itself rather than the encoding's. */
static const char *const own_keys[] = {"d", "d_head", "heads", "causal", "max_len",
                                       "precision", "seed", NULL};

/* A key of the object itself: one of pb_standalone_keys, or a precision
 * site ("precision.angles", "precision.angles.format", ...). */
static int is_own_key(const char *k) {
    if (strncmp(k, "precision.", 10) == 0) return 1;
    for (const char *const *p = own_keys; *p; p++)
        if (strcmp(*p, k) == 0) return 1;
    return 0;
}

/* d, heads, d_head from any two of them, or the defaults. */
static int read_geometry(const pb_opts *o, int max_pos, pb_geometry *g, const char *what,
                         pb_error *err) {
    int d, dh, heads;
    if (pb_opts_int(o, "d", 0, &d, what, err) || pb_opts_int(o, "d_head", 0, &dh, what, err) ||
        pb_opts_int(o, "heads", 0, &heads, what, err))
        return -1;
    if (d < 0 || dh < 0 || heads < 0)
        return pb_fail(err, "%s: d, d_head and heads must be positive", what);
    if (!heads) heads = (d && dh && d % dh == 0) ? d / dh : 4;
    if (!d) d = dh ? dh * heads : 64;
    if (!dh) {
        if (d % heads)
            return pb_fail(err, "%s: d=%d is not divisible by heads=%d", what, d, heads);
        dh = d / heads;
    }
    if (d != dh * heads)
        return pb_fail(err, "%s: d=%d, d_head=%d and heads=%d do not fit (d = d_head * heads)",
                       what, d, dh, heads);
    *g = (pb_geometry){.d = d, .heads = heads, .d_head = dh};
    if (pb_opts_bool(o, "causal", 1, &g->causal, what, err) ||
        pb_opts_int(o, "max_len", 64, &g->max_len, what, err))
        return -1;
    if (g->max_len <= 0 || g->max_len > max_pos)
        return pb_fail(err, "%s: max_len=%d must be in [1, %d]", what, g->max_len, max_pos);
    return 0;
}

/* What a flat settings list holds, split by owner. */
typedef struct split_settings {
    pb_geometry g;
    pb_precision prec;
    unsigned long seed;
    pb_opts enc_opts;    /* everything else: the encoding's own options */
} split_settings;

static int split(const pb_opts *settings, int max_pos, const char *what, split_settings *out,
                 pb_error *err) {
    memset(out, 0, sizeof *out);
    pb_opts_init(&out->enc_opts);
    pb_precision_init(&out->prec);
    pb_opts empty;
    pb_opts_init(&empty);
    const pb_opts *o = settings ? settings : &empty;
    if (pb_opts_has(o, "precision"))
        return pb_fail(err, "%s: precision must be a table {site = format, ...}", what);
    for (int i = 0; i < o->n; i++) {
        const pb_opt *it = &o->items[i];
        if (is_own_key(it->key)) continue;
        if (pb_opts_set_item(&out->enc_opts, it->key, it, err)) return -1;
    }
    out->enc_opts.user = o->user;
    if (read_geometry(o, max_pos, &out->g, what, err) ||
        pb_opts_seed(o, "seed", 1, &out->seed, what, err))
        return -1;
    if (pb_precision_from_opts(&out->prec, o, "precision.", err)) return pb_prefix(err, "%s", what);
    return 0;
}

/* Creates the encoding and its parameters, initialised from the seed's
 * "encoding" stream (core/streams.h) as a model initialises them, so a
 * probe and a model built with one seed hold the same parameters. */
static int create(pb_standalone_encoding *se, const char *name, const pb_geometry *g,
                  unsigned long seed, pb_error *err) {
    if (pb_encoding_create_named(&se->enc, name, g, &se->opts, &se->prec, err)) return -1;
    int n = se->enc.n_params;
    se->params = calloc(n > 0 ? (size_t)n : 1, sizeof(float));
    if (!se->params)
        return pb_fail(err, "encoding '%s': out of memory for %d parameters", name, n);
    if (n > 0 && se->enc.type->init_params) {
        gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
        if (!rng) return pb_fail(err, "encoding '%s': out of memory for a generator", name);
        gsl_rng_set(rng, pb_stream_seed(seed, PB_STREAM_ENCODING));
        se->enc.type->init_params(&se->enc, se->params, rng);
        gsl_rng_free(rng);
    }
    return 0;
}

int pb_standalone_open(pb_standalone_encoding *se, const char *name, const pb_opts *settings,
                       int max_pos, const char *what, pb_error *err) {
    memset(se, 0, sizeof *se);
    split_settings s;
    if (split(settings, max_pos, what, &s, err)) return -1;
    se->prec = s.prec;
    se->opts = s.enc_opts;
    pb_error eerr;
    if (create(se, name, &s.g, s.seed, &eerr)) {
        pb_standalone_close(se);
        /* the encoding lists its own options; the object's keys are named here */
        if (strstr(eerr.msg, "unknown option"))
            return pb_fail(err, "%s: %s; outside a model an encoding also takes d, d_head, "
                                "heads, causal, max_len, precision, seed", what, eerr.msg);
        return pb_fail(err, "%s: %s", what, eerr.msg);
    }
    return 0;
}

void pb_standalone_close(pb_standalone_encoding *se) {
    if (se->enc.type) pb_encoding_destroy(&se->enc);
    free(se->params);
    memset(se, 0, sizeof *se);
}
