/* Lua binding of the metrics: pb.metrics.* and model:forward.
 *
 * Encoding metrics take the encoding either as a model (its encoding and
 * trained parameters) or as a name with the options pb.encoding takes:
 *
 *   pb.metrics.F(model, opts)
 *   pb.metrics.F(name, {enc options..., d=64, heads=4, d_head=, causal=,
 *                       max_len=64, precision=, seed=1}, opts)
 *
 *   table(E, {length=256, width=, format=})        -> rows PE(p) (2D: grid
 *                                                     cells, row-major, width)
 *   min_distance(E, {length=, format=})            -> {distance=, p=, q=}
 *   nearest(E, {length=, row=0, gap=1, format=})   -> {distance=, p=}: the closest
 *                                                     position at least `gap` away
 *   distinct(E, {length=, format=})                -> count of distinct rows
 *   steps(E, {length=, format=})                   -> ||PE(p+1) - PE(p)||, p = 0..
 *   length_consistency(E, {length=, other=})       -> max |PE_n1(p) - PE_n2(p)|
 *   linear_residual(E, {length=, k=1})             -> relative residual
 *   dot_variance(E, {length=, k=1})                -> {mean=, var=}
 *   shift_invariance(E, {length=, shift=, samples=200, seed=1})
 *                                                  -> {max_abs=, max_score=, rel=}
 *   snr(E, {length=, e_norm=1})                    -> SNR(p), p = 0..
 *   noise_probe(E, {snr_db=, positions=64, vocab=32, emb_sd=0.02, embeddings=,
 *                   train=20000, test=4000, ridge=1e-3, seed=1})
 *                                                  -> {position=, token=,
 *                                                      position_regression=, noise_sd=}
 *   separability(E, {grid=16, max_d=4, bases=16, seed=1})
 *                                                  -> {rel_var=, split_error=, ...}
 *
 * RoPE angles without a model (metrics_rope_precision.h):
 *   rope_distinct{format=, site="angles", length=, d_head=64, base=10000}
 *                                                  -> {count=, per_freq={...}}
 *   rope_phase_error{..., per_position=false}      -> {max=, per_freq=, per_position=}
 *   rope_drift{format=, site=, offset=1, positions={...} | length=, stride=1,
 *              samples=16, d_head=, base=, seed=}  -> {positions=, deviation=, max=}
 *   decay_bound{d=, base=10000, distances={...}}   -> bound per distance
 *
 * Trained models (a batch of `batch` problems of size `length` from task):
 *   relative_deviation(model, task, {d1=0, d2=, length=, batch=8, seed=1,
 *                      precision=})                -> {D=, D_logit=, per_layer=,
 *                                                      per_layer_logit=}
 *   logit_terms(model, task, {length=, batch=, seed=})
 *                                                  -> {all = {word_word=, ...,
 *                                                      var_logit=}, heads = {...}}
 *   position_share(model, task, {..., precision=}) -> {{per head} per layer}
 *   frequency_usage(model, task, {..., which="q"}) -> {{{per pair} per head} per layer}
 *
 *   model:forward(tokens, {positions=})            -> {hidden = rows, logits = rows}
 *
 * Positions are 0-based; layers, heads and pairs are 1-based in results. */
#include "lua_metrics.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lua_enc_settings.h"
#include "lua_internal.h"
#include "lua_util.h"
#include "../metrics/metrics_2d.h"
#include "../metrics/metrics_attention.h"
#include "../metrics/metrics_decay.h"
#include "../metrics/metrics_decompose.h"
#include "../metrics/metrics_distance.h"
#include "../model/model_tokens.h"
#include "../metrics/metrics_linear.h"
#include "../metrics/metrics_probe.h"
#include "../metrics/metrics_rope_precision.h"
#include "../metrics/metrics_snr.h"
#include "../metrics/metrics_table.h"
#include "../run/train.h"

#define METRIC_ENC_MT "posbench.metric_encoding"
#define MAX_METRIC_POS (1 << 20)

/* ---- results --------------------------------------------------------------- */

static void push_doubles(lua_State *L, const double *x, int n) {
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushnumber(L, x[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

static void push_rows(lua_State *L, const float *x, int n, int w) {
    lua_createtable(L, n, 0);
    for (int r = 0; r < n; r++) {
        lua_createtable(L, w, 0);
        for (int i = 0; i < w; i++) {
            lua_pushnumber(L, x[(size_t)r * w + i]);
            lua_rawseti(L, -2, i + 1);
        }
        lua_rawseti(L, -2, r + 1);
    }
}

static void set_num(lua_State *L, const char *k, double v) {
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

/* Scratch memory owned by the Lua stack, so a raised error frees it. */
static void *scratch(lua_State *L, size_t bytes) {
    return lua_newuserdatauv(L, bytes ? bytes : 1, 0);
}

/* ---- the encoding argument ------------------------------------------------- */

typedef struct metric_enc_ud {
    pb_metric_enc me;
    int alive;
} metric_enc_ud;

static int l_metric_enc_gc(lua_State *L) {
    metric_enc_ud *u = luaL_checkudata(L, 1, METRIC_ENC_MT);
    if (u->alive) pb_metric_enc_close(&u->me);
    u->alive = 0;
    return 0;
}

typedef struct enc_arg {
    pb_encoding *e;
    const float *params;
    int opts;          /* stack index of the metric's options (may be none) */
    int max_len;       /* default length */
} enc_arg;

/* (model, opts) or (name, enc_opts, opts), opts holding only keys; leaves a
 * userdata on the stack in the second case. */
static enc_arg check_enc(lua_State *L, const char *what, const char *const *keys) {
    enc_arg a;
    memset(&a, 0, sizeof a);
    if (luaL_testudata(L, 1, PB_MODEL_MT)) {
        pb_model *m = pb_lua_check_model(L, 1);
        a.e = &m->enc;
        a.params = m->params.enc;
        a.opts = 2;
        a.max_len = m->cfg.max_len;
        if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
        pb_lua_check_keys(L, a.opts, keys, what);
        return a;
    }
    if (lua_type(L, 1) != LUA_TSTRING)
        luaL_error(L, "%s: argument 1 must be a model or an encoding name, got a %s", what,
                   luaL_typename(L, 1));
    const char *name = lua_tostring(L, 1);
    if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
    if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    pb_lua_push_enc_options(L, 2); /* 4 */
    pb_geometry g = pb_lua_to_geometry(L, 2, MAX_METRIC_POS, what);
    unsigned long seed = pb_lua_field_seed(L, 2, "seed", 1, what);
    pb_opts opts;
    pb_lua_to_opts(L, 4, &opts, what);
    pb_precision prec;
    pb_lua_geometry_precision(L, 2, &prec);
    metric_enc_ud *u = lua_newuserdatauv(L, sizeof *u, 0); /* 5 */
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, METRIC_ENC_MT);
    pb_error err;
    if (pb_metric_enc_open(&u->me, name, &opts, &g, &prec, seed, &err))
        luaL_error(L, "%s: %s", what, err.msg);
    u->alive = 1;
    a.e = &u->me.enc;
    a.params = u->me.params;
    a.opts = 3;
    a.max_len = g.max_len;
    pb_lua_check_keys(L, a.opts, keys, what);
    return a;
}

/* ---- option helpers ---------------------------------------------------------- */

/* format=NAME at opts; 0 when absent. */
static int read_format(lua_State *L, int idx, const char *key, pb_format *f,
                       const char *what) {
    const char *name = pb_lua_field_str(L, idx, key, NULL, what);
    if (!name) return 0;
    pb_error err;
    if (pb_format_parse(name, f, &err)) luaL_error(L, "%s: %s: %s", what, key, err.msg);
    return 1;
}

static int read_length(lua_State *L, const enc_arg *a, const char *what, int min) {
    int n = pb_lua_field_int(L, a->opts, "length", a->max_len, what);
    if (n < min || n > MAX_METRIC_POS)
        luaL_error(L, "%s: length=%d must be in [%d, %d]", what, n, min, MAX_METRIC_POS);
    return n;
}

/* The caller frees it; nothing between allocation and gsl_rng_free may
 * raise a Lua error. */
static gsl_rng *new_rng(lua_State *L, unsigned long seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r) luaL_error(L, "out of memory for a random generator");
    gsl_rng_set(r, seed);
    return r;
}

/* The table of n positions (2D: grid cells, row-major, width= columns;
 * format-rounded when format= is given), as stack-owned scratch. Metrics
 * without width/format among their keys get the defaults. */
static float *table_of(lua_State *L, const enc_arg *a, int n, const char *what) {
    int d = a->e->g.d;
    int width = pb_lua_field_int(L, a->opts, "width", 0, what);
    float *x = scratch(L, sizeof(float) * (size_t)n * d);
    pb_error err;
    if (a->e->type->pos_dims == 2 && width <= 0) width = (int)ceil(sqrt((double)n));
    if (pb_metric_table_linear(a->e, a->params, n, width, x, &err))
        luaL_error(L, "%s: %s", what, err.msg);
    pb_format f;
    if (read_format(L, a->opts, "format", &f, what))
        pb_format_round_array(&f, x, (size_t)n * d, 0);
    return x;
}

/* ---- encoding metrics --------------------------------------------------------- */

static int l_table(lua_State *L) {
    const char *what = "pb.metrics.table";
    static const char *const keys[] = {"length", "width", "format", NULL};
    enc_arg a = check_enc(L, what, keys);
    int n = read_length(L, &a, what, 1);
    float *x = table_of(L, &a, n, what);
    push_rows(L, x, n, a.e->g.d);
    return 1;
}

static int l_min_distance(lua_State *L) {
    const char *what = "pb.metrics.min_distance";
    static const char *const keys[] = {"length", "width", "format", NULL};
    enc_arg a = check_enc(L, what, keys);
    int n = read_length(L, &a, what, 2);
    float *x = table_of(L, &a, n, what);
    int p, q;
    double dist = pb_metric_min_distance(x, n, a.e->g.d, &p, &q);
    lua_newtable(L);
    set_num(L, "distance", dist);
    lua_pushinteger(L, p);
    lua_setfield(L, -2, "p");
    lua_pushinteger(L, q);
    lua_setfield(L, -2, "q");
    return 1;
}

static int l_nearest(lua_State *L) {
    const char *what = "pb.metrics.nearest";
    static const char *const keys[] = {"length", "width", "format", "row", "gap", NULL};
    enc_arg a = check_enc(L, what, keys);
    int n = read_length(L, &a, what, 2);
    int r = pb_lua_field_int(L, a.opts, "row", 0, what);
    int gap = pb_lua_field_int(L, a.opts, "gap", 1, what);
    if (r < 0 || r >= n) luaL_error(L, "%s: row=%d must be in [0, length)", what, r);
    if (gap < 1) luaL_error(L, "%s: gap=%d must be >= 1", what, gap);
    float *x = table_of(L, &a, n, what);
    int p;
    double dist = pb_metric_nearest_to(x, n, a.e->g.d, r, gap, &p);
    lua_newtable(L);
    set_num(L, "distance", dist);
    lua_pushinteger(L, p);
    lua_setfield(L, -2, "p");
    return 1;
}

static int l_distinct(lua_State *L) {
    const char *what = "pb.metrics.distinct";
    static const char *const keys[] = {"length", "width", "format", NULL};
    enc_arg a = check_enc(L, what, keys);
    int n = read_length(L, &a, what, 1);
    float *x = table_of(L, &a, n, what);
    pb_error err;
    long c = pb_metric_distinct_rows(x, n, a.e->g.d, &err);
    if (c < 0) luaL_error(L, "%s: %s", what, err.msg);
    lua_pushinteger(L, c);
    return 1;
}

static int l_steps(lua_State *L) {
    const char *what = "pb.metrics.steps";
    static const char *const keys[] = {"length", "width", "format", NULL};
    enc_arg a = check_enc(L, what, keys);
    int n = read_length(L, &a, what, 2);
    float *x = table_of(L, &a, n, what);
    double *s = scratch(L, sizeof(double) * (size_t)(n - 1));
    pb_metric_steps(x, n, a.e->g.d, s);
    push_doubles(L, s, n - 1);
    return 1;
}

static int l_length_consistency(lua_State *L) {
    const char *what = "pb.metrics.length_consistency";
    static const char *const keys[] = {"length", "other", NULL};
    enc_arg a = check_enc(L, what, keys);
    int n = read_length(L, &a, what, 1);
    int other = pb_lua_field_int(L, a.opts, "other", 2 * n, what);
    if (other < 1 || other > MAX_METRIC_POS)
        luaL_error(L, "%s: other=%d must be in [1, %d]", what, other, MAX_METRIC_POS);
    double mx;
    pb_error err;
    if (pb_metric_length_consistency(a.e, a.params, n, other, &mx, &err))
        luaL_error(L, "%s: %s", what, err.msg);
    lua_pushnumber(L, mx);
    return 1;
}

static int l_linear_residual(lua_State *L) {
    const char *what = "pb.metrics.linear_residual";
    static const char *const keys[] = {"length", "k", "format", NULL};
    enc_arg a = check_enc(L, what, keys);
    int n = read_length(L, &a, what, 2);
    int k = pb_lua_field_int(L, a.opts, "k", 1, what);
    float *x = table_of(L, &a, n, what);
    double r;
    pb_error err;
    if (pb_metric_linear_residual(x, n, a.e->g.d, k, &r, &err))
        luaL_error(L, "%s: %s", what, err.msg);
    lua_pushnumber(L, r);
    return 1;
}

static int l_dot_variance(lua_State *L) {
    const char *what = "pb.metrics.dot_variance";
    static const char *const keys[] = {"length", "k", "format", NULL};
    enc_arg a = check_enc(L, what, keys);
    int n = read_length(L, &a, what, 2);
    int k = pb_lua_field_int(L, a.opts, "k", 1, what);
    float *x = table_of(L, &a, n, what);
    double mean, var;
    pb_error err;
    if (pb_metric_dot_variance(x, n, a.e->g.d, k, &mean, &var, &err))
        luaL_error(L, "%s: %s", what, err.msg);
    lua_newtable(L);
    set_num(L, "mean", mean);
    set_num(L, "var", var);
    return 1;
}

static int l_shift_invariance(lua_State *L) {
    const char *what = "pb.metrics.shift_invariance";
    static const char *const keys[] = {"length", "shift", "samples", "seed", NULL};
    enc_arg a = check_enc(L, what, keys);
    int n = read_length(L, &a, what, 1);
    int S = pb_lua_field_int(L, a.opts, "shift", n, what);
    int samples = pb_lua_field_int(L, a.opts, "samples", 200, what);
    unsigned long seed = pb_lua_field_seed(L, a.opts, "seed", 1, what);
    if (S < 1 || S > MAX_METRIC_POS || samples < 1)
        luaL_error(L, "%s: shift must be in [1, %d] and samples >= 1", what, MAX_METRIC_POS);
    gsl_rng *rng = new_rng(L, seed);
    pb_shift_result r;
    pb_error err;
    int rc = pb_metric_shift_invariance(a.e, a.params, n, S, samples, rng, &r, &err);
    gsl_rng_free(rng);
    if (rc) luaL_error(L, "%s: %s", what, err.msg);
    lua_newtable(L);
    set_num(L, "max_abs", r.max_abs);
    set_num(L, "max_score", r.max_score);
    set_num(L, "rel", r.rel);
    return 1;
}

static int l_snr(lua_State *L) {
    const char *what = "pb.metrics.snr";
    static const char *const keys[] = {"length", "e_norm", "format", NULL};
    enc_arg a = check_enc(L, what, keys);
    int n = read_length(L, &a, what, 1);
    double e_norm = pb_lua_field_num(L, a.opts, "e_norm", 1.0, what);
    float *x = table_of(L, &a, n, what);
    double *s = scratch(L, sizeof(double) * (size_t)n);
    pb_metric_snr(x, n, a.e->g.d, e_norm, s);
    push_doubles(L, s, n);
    return 1;
}

/* embeddings = rows (vocab x d) or nil: N(0, emb_sd) drawn from rng. */
static float *probe_embeddings(lua_State *L, int opts, int d, int *vocab, double sd,
                               unsigned long seed, const char *what) {
    lua_getfield(L, opts, "embeddings");
    int given = lua_istable(L, -1);
    if (given) *vocab = (int)luaL_len(L, -1);
    if (*vocab < 1) luaL_error(L, "%s: need at least one token (vocab=%d)", what, *vocab);
    float *e = scratch(L, sizeof(float) * (size_t)*vocab * d);
    lua_insert(L, -2);
    if (given) {
        for (int v = 0; v < *vocab; v++) {
            lua_geti(L, -1, v + 1);
            if (!lua_istable(L, -1) || luaL_len(L, -1) != d)
                luaL_error(L, "%s: embeddings[%d] must be a row of d=%d numbers", what, v + 1, d);
            for (int i = 0; i < d; i++) {
                lua_geti(L, -1, i + 1);
                e[(size_t)v * d + i] = (float)luaL_checknumber(L, -1);
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
    } else {
        pb_error err;
        if (pb_metric_probe_embeddings(e, (size_t)*vocab * d, sd, seed, &err))
            luaL_error(L, "%s: %s", what, err.msg);
    }
    lua_pop(L, 1);
    return e;
}

static int l_noise_probe(lua_State *L) {
    const char *what = "pb.metrics.noise_probe";
    static const char *const keys[] = {"snr_db", "positions", "vocab", "emb_sd", "embeddings",
                                       "train", "test", "ridge", "seed", NULL};
    enc_arg a = check_enc(L, what, keys);
    if (lua_isnoneornil(L, a.opts)) luaL_error(L, "%s: options {snr_db=...} are required", what);
    int n_pos = pb_lua_field_int(L, a.opts, "positions", 64, what);
    int vocab = pb_lua_field_int(L, a.opts, "vocab", 32, what);
    double sd = pb_lua_field_num(L, a.opts, "emb_sd", 0.02, what);
    unsigned long seed = pb_lua_field_seed(L, a.opts, "seed", 1, what);
    pb_probe_opts o = {
        .n_train = pb_lua_field_int(L, a.opts, "train", 20000, what),
        .n_test = pb_lua_field_int(L, a.opts, "test", 4000, what),
        .snr_db = pb_lua_field_num(L, a.opts, "snr_db", NAN, what),
        .ridge = pb_lua_field_num(L, a.opts, "ridge", 1e-3, what),
    };
    if (o.snr_db != o.snr_db) luaL_error(L, "%s: snr_db= is required", what);
    if (n_pos < 2 || n_pos > MAX_METRIC_POS) luaL_error(L, "%s: positions must be in [2, %d]", what, MAX_METRIC_POS);
    int d = a.e->g.d;
    float *table = table_of(L, &a, n_pos, what);
    float *emb = probe_embeddings(L, a.opts, d, &vocab, sd, seed, what);
    gsl_rng *rng = new_rng(L, seed);
    pb_probe_result r;
    pb_error err;
    int rc = pb_metric_noise_probe(table, n_pos, emb, vocab, d, &o, rng, &r, &err);
    gsl_rng_free(rng);
    if (rc) luaL_error(L, "%s: %s", what, err.msg);
    lua_newtable(L);
    set_num(L, "position", r.pos_acc);
    set_num(L, "token", r.tok_acc);
    set_num(L, "position_regression", r.pos_reg_acc);
    set_num(L, "noise_sd", r.noise_sd);
    set_num(L, "signal_power", r.signal_power);
    set_num(L, "position_chance", 1.0 / n_pos);
    set_num(L, "token_chance", 1.0 / vocab);
    return 1;
}

static int l_separability(lua_State *L) {
    const char *what = "pb.metrics.separability";
    static const char *const keys[] = {"grid", "max_d", "bases", "seed", NULL};
    enc_arg a = check_enc(L, what, keys);
    int grid = pb_lua_field_int(L, a.opts, "grid", 16, what);
    int max_d = pb_lua_field_int(L, a.opts, "max_d", 4, what);
    int bases = pb_lua_field_int(L, a.opts, "bases", 16, what);
    unsigned long seed = pb_lua_field_seed(L, a.opts, "seed", 1, what);
    if (grid < 2 || grid > 4096) luaL_error(L, "%s: grid must be in [2, 4096]", what);
    gsl_rng *rng = new_rng(L, seed);
    pb_sep_result r;
    pb_error err;
    int rc = pb_metric_separability(a.e, a.params, grid, max_d, bases, rng, &r, &err);
    gsl_rng_free(rng);
    if (rc) luaL_error(L, "%s: %s", what, err.msg);
    lua_newtable(L);
    set_num(L, "rel_var", r.rel_var);
    set_num(L, "split_error", r.split_err);
    set_num(L, "var_fixed", r.var_fixed);
    set_num(L, "var_total", r.var_total);
    return 1;
}

/* ---- RoPE angles in a format ---------------------------------------------------- */

typedef struct rope_args {
    pb_format f;
    pb_site site;
    int L, n;
    double *theta;
} rope_args;

static pb_site parse_site(lua_State *L, const char *name, int allow_qk, const char *what) {
    static const pb_site sites[] = {PB_SITE_POSITIONS, PB_SITE_ANGLES, PB_SITE_TABLES,
                                    PB_SITE_QK_POST};
    for (int i = 0; i < (allow_qk ? 4 : 3); i++)
        if (strcmp(name, pb_site_names[sites[i]]) == 0) return sites[i];
    return (pb_site)luaL_error(L, "%s: site '%s' is not one of positions, angles, tables%s",
                               what, name, allow_qk ? ", qk_post" : "");
}

static rope_args rope_common(lua_State *L, const char *what, int allow_qk,
                             const char *const *keys) {
    luaL_checktype(L, 1, LUA_TTABLE);
    pb_lua_check_keys(L, 1, keys, what);
    rope_args r;
    if (!read_format(L, 1, "format", &r.f, what)) luaL_error(L, "%s: format= is required", what);
    r.site = parse_site(L, pb_lua_field_str(L, 1, "site", "angles", what), allow_qk, what);
    r.L = pb_lua_field_int(L, 1, "length", 65536, what);
    if (r.L < 1 || r.L > (1 << 24)) luaL_error(L, "%s: length must be in [1, 2^24]", what);
    int dh = pb_lua_field_int(L, 1, "d_head", 64, what);
    double base = pb_lua_field_num(L, 1, "base", 10000.0, what);
    if (dh < 2 || dh % 2 || dh > 8192) luaL_error(L, "%s: d_head must be even, in [2, 8192]", what);
    r.n = dh / 2;
    r.theta = scratch(L, sizeof(double) * (size_t)r.n);
    pb_error err;
    if (pb_rope_thetas(dh, base, r.theta, &err)) luaL_error(L, "%s: %s", what, err.msg);
    return r;
}

static int l_rope_distinct(lua_State *L) {
    const char *what = "pb.metrics.rope_distinct";
    static const char *const keys[] = {"format", "site", "length", "d_head", "base", NULL};
    rope_args r = rope_common(L, what, 0, keys);
    long *per = scratch(L, sizeof(long) * (size_t)r.n);
    long count;
    pb_error err;
    if (pb_metric_rope_distinct(&r.f, r.site, r.theta, r.n, r.L, &count, per, &err))
        luaL_error(L, "%s: %s", what, err.msg);
    lua_newtable(L);
    lua_pushinteger(L, count);
    lua_setfield(L, -2, "count");
    lua_createtable(L, r.n, 0);
    for (int k = 0; k < r.n; k++) {
        lua_pushinteger(L, per[k]);
        lua_rawseti(L, -2, k + 1);
    }
    lua_setfield(L, -2, "per_freq");
    return 1;
}

static int l_rope_phase_error(lua_State *L) {
    const char *what = "pb.metrics.rope_phase_error";
    static const char *const keys[] = {"format", "site", "length", "d_head", "base",
                                       "per_position", NULL};
    rope_args r = rope_common(L, what, 0, keys);
    int want_pos = pb_lua_field_bool(L, 1, "per_position", 0, what);
    double *per = scratch(L, sizeof(double) * (size_t)r.n);
    double *pp = want_pos ? scratch(L, sizeof(double) * (size_t)r.L) : NULL;
    double mx;
    pb_error err;
    if (pb_metric_rope_phase_error(&r.f, r.site, r.theta, r.n, r.L, &mx, per, pp, &err))
        luaL_error(L, "%s: %s", what, err.msg);
    lua_newtable(L);
    set_num(L, "max", mx);
    push_doubles(L, per, r.n);
    lua_setfield(L, -2, "per_freq");
    if (pp) {
        push_doubles(L, pp, r.L);
        lua_setfield(L, -2, "per_position");
    }
    return 1;
}

static int l_rope_drift(lua_State *L) {
    const char *what = "pb.metrics.rope_drift";
    static const char *const keys[] = {"format", "site", "length", "d_head", "base", "offset",
                                       "positions", "stride", "samples", "seed", NULL};
    rope_args r = rope_common(L, what, 1, keys);
    int offset = pb_lua_field_int(L, 1, "offset", 1, what);
    int samples = pb_lua_field_int(L, 1, "samples", 16, what);
    if (samples < 1 || samples > 100000) luaL_error(L, "%s: samples must be in [1, 100000]", what);
    int stride = pb_lua_field_int(L, 1, "stride", 1, what);
    unsigned long seed = pb_lua_field_seed(L, 1, "seed", 1, what);
    if (stride < 1) luaL_error(L, "%s: stride must be >= 1", what);
    if (offset < 0 || offset > (1 << 24)) luaL_error(L, "%s: offset must be in [0, 2^24]", what);
    int np;
    int *pos;
    lua_getfield(L, 1, "positions");
    if (lua_istable(L, -1)) {
        np = (int)luaL_len(L, -1);
        pos = scratch(L, sizeof(int) * (size_t)(np ? np : 1));
        for (int i = 0; i < np; i++) {
            lua_geti(L, -2, i + 1);
            int ok;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            if (!ok || v < 0 || v > (1 << 24))
                luaL_error(L, "%s: positions[%d] must be an integer in [0, 2^24]", what, i + 1);
            pos[i] = (int)v;
            lua_pop(L, 1);
        }
    } else {
        np = (r.L + stride - 1) / stride;
        pos = scratch(L, sizeof(int) * (size_t)np);
        for (int i = 0; i < np; i++) pos[i] = i * stride;
    }
    double *dev = scratch(L, sizeof(double) * (size_t)(np ? np : 1));
    gsl_rng *rng = new_rng(L, seed);
    pb_error err;
    int rc = pb_metric_rope_drift(&r.f, r.site, r.theta, r.n, offset, pos, np, samples, rng,
                                  dev, &err);
    gsl_rng_free(rng);
    if (rc) luaL_error(L, "%s: %s", what, err.msg);
    double mx = 0.0;
    for (int i = 0; i < np; i++) mx = dev[i] > mx ? dev[i] : mx;
    lua_newtable(L);
    lua_createtable(L, np, 0);
    for (int i = 0; i < np; i++) {
        lua_pushinteger(L, pos[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "positions");
    push_doubles(L, dev, np);
    lua_setfield(L, -2, "deviation");
    set_num(L, "max", mx);
    return 1;
}

static int l_decay_bound(lua_State *L) {
    const char *what = "pb.metrics.decay_bound";
    luaL_checktype(L, 1, LUA_TTABLE);
    static const char *const keys[] = {"d", "base", "distances", NULL};
    pb_lua_check_keys(L, 1, keys, what);
    int d = pb_lua_field_int(L, 1, "d", 128, what);
    double base = pb_lua_field_num(L, 1, "base", 10000.0, what);
    if (d < 2 || d > 1 << 16) luaL_error(L, "%s: d must be in [2, 65536]", what);
    lua_getfield(L, 1, "distances");
    if (!lua_istable(L, -1)) luaL_error(L, "%s: distances={...} is required", what);
    int n = (int)luaL_len(L, -1);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_geti(L, -2, i + 1);
        double r = luaL_checknumber(L, -1);
        lua_pop(L, 1);
        lua_pushnumber(L, pb_metric_decay_bound(d, base, r));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* ---- trained models ------------------------------------------------------------ */

/* precision= of the table at idx (if given) for one metric, until
 * pb_model_restore (the engine rebuilds the encoding for it). */
static void override_precision(lua_State *L, int idx, pb_model *m, pb_model_saved *s) {
    memset(s, 0, sizeof *s);
    lua_getfield(L, idx, "precision");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    pb_precision prec;
    pb_lua_to_precision(L, -1, &prec);
    lua_pop(L, 1);
    pb_model_override o = {.prec = &prec};
    pb_error err;
    if (pb_model_apply_override(m, &o, s, &err)) pb_lua_raise(L, &err);
}

/* A batch of B problems of size n (positions from the model's scheme,
 * evaluation mode), owned by a stack userdata so errors free it. */
typedef struct batch_ud {
    pb_batch b;
} batch_ud;

static int l_batch_gc(lua_State *L) {
    batch_ud *u = lua_touserdata(L, 1);
    if (u) pb_batch_free(&u->b);
    return 0;
}

static pb_batch *task_batch(lua_State *L, pb_model *m, pb_task *t, int opts,
                            const char *what) {
    int n = pb_lua_field_int(L, opts, "length", t->max_len, what);
    int B = pb_lua_field_int(L, opts, "batch", 8, what);
    unsigned long seed = pb_lua_field_seed(L, opts, "seed", 1, what);
    if (B < 1 || B > 4096) luaL_error(L, "%s: batch must be in [1, 4096]", what);
    batch_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
    memset(u, 0, sizeof *u);
    lua_newtable(L);
    lua_pushcfunction(L, l_batch_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    pb_error err;
    int T = pb_task_model_len(t, n, m->cfg.causal, &err);
    if (T < 0 || pb_batch_alloc(&u->b, B, T, t->pos_dims, &err)) pb_lua_raise(L, &err);
    if (pb_draw_batch_seeded(m, t, seed, n, B, 0, &u->b, &err))
        luaL_error(L, "%s: %s", what, err.msg);
    return &u->b;
}

/* (model, task, opts) with opts holding only keys; opts may be absent
 * unless required. */
static pb_model *check_model_task(lua_State *L, const char *what, const char *const *keys,
                                  int opts_required, pb_task **t) {
    pb_model *m = pb_lua_check_model(L, 1);
    *t = pb_lua_check_task(L, 2);
    if (opts_required || !lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    pb_lua_check_keys(L, 3, keys, what);
    return m;
}

static void push_layer_heads(lua_State *L, const double *x, int layers, int heads) {
    lua_createtable(L, layers, 0);
    for (int l = 0; l < layers; l++) {
        push_doubles(L, x + (size_t)l * heads, heads);
        lua_rawseti(L, -2, l + 1);
    }
}

static int l_relative_deviation(lua_State *L) {
    const char *what = "pb.metrics.relative_deviation";
    static const char *const keys[] = {"d1", "d2", "length", "batch", "seed", "precision", NULL};
    pb_task *t;
    pb_model *m = check_model_task(L, what, keys, 1, &t);
    int d1 = pb_lua_field_int(L, 3, "d1", 0, what);
    int d2 = pb_lua_field_int(L, 3, "d2", -1, what);
    if (d2 < 0) luaL_error(L, "%s: d2= (a shift >= 0) is required", what);
    if (d1 < 0 || d1 > MAX_METRIC_POS || d2 > MAX_METRIC_POS)
        luaL_error(L, "%s: shifts must be in [0, %d]", what, MAX_METRIC_POS);
    pb_batch *b = task_batch(L, m, t, 3, what);
    int layers = m->cfg.layers;
    double *per = scratch(L, sizeof(double) * 2 * (size_t)layers);
    pb_model_saved s;
    override_precision(L, 3, m, &s);
    double D, Dl;
    pb_error err;
    int rc = pb_metric_relative_deviation(m, b, d1, d2, &D, &Dl, per, per + layers, &err);
    pb_model_restore(m, &s);
    if (rc) luaL_error(L, "%s: %s", what, err.msg);
    lua_newtable(L);
    set_num(L, "D", D);
    set_num(L, "D_logit", Dl);
    push_doubles(L, per, layers);
    lua_setfield(L, -2, "per_layer");
    push_doubles(L, per + layers, layers);
    lua_setfield(L, -2, "per_layer_logit");
    return 1;
}

static void push_terms(lua_State *L, const pb_logit_terms *t) {
    lua_newtable(L);
    for (int k = 0; k < PB_N_TERMS; k++) {
        set_num(L, pb_term_names[k], t->share[k]);
    }
    lua_newtable(L);
    for (int k = 0; k < PB_N_TERMS; k++) set_num(L, pb_term_names[k], t->var[k]);
    lua_setfield(L, -2, "var");
    set_num(L, "var_logit", t->var_logit);
}

static int l_logit_terms(lua_State *L) {
    const char *what = "pb.metrics.logit_terms";
    static const char *const keys[] = {"length", "batch", "seed", NULL};
    pb_task *t;
    pb_model *m = check_model_task(L, what, keys, 0, &t);
    pb_batch *b = task_batch(L, m, t, 3, what);
    int H = m->cfg.heads;
    pb_logit_terms *out = scratch(L, sizeof(pb_logit_terms) * (size_t)(H + 1));
    pb_error err;
    if (pb_metric_logit_terms(m, b, out, &err)) luaL_error(L, "%s: %s", what, err.msg);
    lua_newtable(L);
    push_terms(L, &out[H]);
    lua_setfield(L, -2, "all");
    lua_createtable(L, H, 0);
    for (int h = 0; h < H; h++) {
        push_terms(L, &out[h]);
        lua_rawseti(L, -2, h + 1);
    }
    lua_setfield(L, -2, "heads");
    return 1;
}

static int l_position_share(lua_State *L) {
    const char *what = "pb.metrics.position_share";
    static const char *const keys[] = {"length", "batch", "seed", "precision", NULL};
    pb_task *t;
    pb_model *m = check_model_task(L, what, keys, 0, &t);
    pb_batch *b = task_batch(L, m, t, 3, what);
    int layers = m->cfg.layers, H = m->cfg.heads;
    double *share = scratch(L, sizeof(double) * (size_t)layers * H);
    pb_model_saved s;
    if (!lua_isnil(L, 3)) override_precision(L, 3, m, &s);
    else memset(&s, 0, sizeof s);
    pb_error err;
    int rc = pb_metric_position_share(m, b, share, &err);
    pb_model_restore(m, &s);
    if (rc) luaL_error(L, "%s: %s", what, err.msg);
    push_layer_heads(L, share, layers, H);
    return 1;
}

static int l_frequency_usage(lua_State *L) {
    const char *what = "pb.metrics.frequency_usage";
    static const char *const keys[] = {"length", "batch", "seed", "which", NULL};
    pb_task *t;
    pb_model *m = check_model_task(L, what, keys, 0, &t);
    const char *which = pb_lua_field_str(L, 3, "which", "q", what);
    if (strcmp(which, "q") != 0 && strcmp(which, "k") != 0)
        luaL_error(L, "%s: which must be \"q\" or \"k\", got '%s'", what, which);
    pb_batch *b = task_batch(L, m, t, 3, what);
    int layers = m->cfg.layers, H = m->cfg.heads, np = m->cfg.d / H / 2;
    double *U = scratch(L, sizeof(double) * (size_t)layers * H * (np ? np : 1));
    pb_error err;
    if (pb_metric_frequency_usage(m, b, which[0] == 'k', U, &err))
        luaL_error(L, "%s: %s", what, err.msg);
    lua_createtable(L, layers, 0);
    for (int l = 0; l < layers; l++) {
        lua_createtable(L, H, 0);
        for (int h = 0; h < H; h++) {
            push_doubles(L, U + ((size_t)l * H + h) * np, np);
            lua_rawseti(L, -2, h + 1);
        }
        lua_rawseti(L, -2, l + 1);
    }
    return 1;
}

/* model:forward(tokens, {positions=}) -> {hidden=, logits=} */
static int l_model_forward(lua_State *L) {
    const char *what = "model:forward";
    pb_model *m = pb_lua_check_model(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    static const char *const keys[] = {"positions", NULL};
    pb_lua_check_keys(L, 3, keys, what);
    int T = (int)luaL_len(L, 2), pd = m->enc.type->pos_dims;
    int d = m->cfg.d, V = m->cfg.vocab;
    if (T < 1 || T > MAX_METRIC_POS) luaL_error(L, "%s: need 1..%d tokens", what, MAX_METRIC_POS);
    int *tok = scratch(L, sizeof(int) * (size_t)T * (1 + pd));
    int *pos = tok + T;
    for (int t = 0; t < T; t++) {
        lua_geti(L, 2, t + 1);
        int ok;
        lua_Integer v = lua_tointegerx(L, -1, &ok);
        if (!ok || v < 0 || v >= V)
            luaL_error(L, "%s: tokens[%d] must be an integer in [0, %d)", what, t + 1, V);
        tok[t] = (int)v;
        lua_pop(L, 1);
    }
    if (lua_isnil(L, 3)) lua_pushnil(L);
    else lua_getfield(L, 3, "positions");
    int given = lua_istable(L, -1);
    for (int t = 0; t < T; t++) {
        if (!given) {
            if (pd == 1) pos[t] = t;
            else luaL_error(L, "%s: 2D encoding '%s' needs positions={{x, y}, ...}", what,
                            m->enc.type->name);
            continue;
        }
        lua_geti(L, -1, t + 1);
        if (pd == 1) {
            int ok;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            if (!ok || v < 0 || v >= MAX_METRIC_POS)
                luaL_error(L, "%s: positions[%d] must be an integer in [0, %d)", what, t + 1,
                           MAX_METRIC_POS);
            pos[t] = (int)v;
        } else {
            if (!lua_istable(L, -1)) luaL_error(L, "%s: positions[%d] must be {x, y}", what, t + 1);
            for (int c = 0; c < 2; c++) {
                lua_geti(L, -1, c + 1);
                int ok;
                lua_Integer v = lua_tointegerx(L, -1, &ok);
                if (!ok || v < 0 || v >= MAX_METRIC_POS)
                    luaL_error(L, "%s: positions[%d] must hold integers in [0, %d)", what,
                               t + 1, MAX_METRIC_POS);
                pos[t * 2 + c] = (int)v;
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    float *hidden = scratch(L, sizeof(float) * (size_t)T * (d + V));
    float *logits = hidden + (size_t)T * d;
    pb_error err;
    if (pb_model_forward_tokens(m, tok, pos, T, hidden, logits, &err))
        luaL_error(L, "%s: %s", what, err.msg);
    lua_newtable(L);
    push_rows(L, hidden, T, d);
    lua_setfield(L, -2, "hidden");
    push_rows(L, logits, T, V);
    lua_setfield(L, -2, "logits");
    return 1;
}

static const luaL_Reg metric_funcs[] = {
    {"table", l_table},
    {"min_distance", l_min_distance},
    {"nearest", l_nearest},
    {"distinct", l_distinct},
    {"steps", l_steps},
    {"length_consistency", l_length_consistency},
    {"linear_residual", l_linear_residual},
    {"dot_variance", l_dot_variance},
    {"shift_invariance", l_shift_invariance},
    {"snr", l_snr},
    {"noise_probe", l_noise_probe},
    {"separability", l_separability},
    {"rope_distinct", l_rope_distinct},
    {"rope_phase_error", l_rope_phase_error},
    {"rope_drift", l_rope_drift},
    {"decay_bound", l_decay_bound},
    {"relative_deviation", l_relative_deviation},
    {"logit_terms", l_logit_terms},
    {"position_share", l_position_share},
    {"frequency_usage", l_frequency_usage},
    {NULL, NULL}};

void pb_lua_open_metrics(lua_State *L) {
    luaL_newmetatable(L, METRIC_ENC_MT);
    lua_pushcfunction(L, l_metric_enc_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    lua_newtable(L);
    luaL_setfuncs(L, metric_funcs, 0);
    lua_setfield(L, -2, "metrics");
    lua_getfield(L, -1, "_model_methods");
    if (lua_istable(L, -1)) {
        lua_pushcfunction(L, l_model_forward);
        lua_setfield(L, -2, "forward");
    }
    lua_pop(L, 1);
}
