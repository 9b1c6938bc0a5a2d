/* pb.metrics of an encoding's per-position vectors: tables, distances,
 * linear relations, shift invariance, SNR, the noise probe and 2D
 * separability. The encoding is a model's or one opened by name (see
 * lua_metrics.c for the calling forms). */
#include <math.h>
#include <string.h>

#include "lua_internal.h"
#include "lua_metrics_internal.h"
#include "lua_util.h"
#include "../metrics/metrics_2d.h"
#include "../metrics/metrics_distance.h"
#include "../metrics/metrics_linear.h"
#include "../metrics/metrics_probe.h"
#include "../metrics/metrics_snr.h"
#include "../metrics/metrics_table.h"

/* ---- the encoding argument ------------------------------------------------- */

typedef struct enc_arg {
    pb_encoding *e;
    const float *params;
    int opts;          /* stack index of the metric's options (may be none) */
    int max_len;       /* default length */
} enc_arg;

/* (model, opts) or (name, settings, opts), opts holding only keys (and, for
 * a model, layer = the layer whose encoding is measured, 1 by default). A
 * name opens a pb.encoding object, left on the stack for the call. */
static enc_arg check_enc(lua_State *L, const char *what, const char *const *keys) {
    enc_arg a;
    memset(&a, 0, sizeof a);
    if (luaL_testudata(L, 1, PB_MODEL_MT)) {
        pb_model *m = pb_lua_check_model(L, 1);
        a.opts = 2;
        a.max_len = m->cfg.max_len;
        if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
        const char *with_layer[40];
        int n = 0;
        while (keys[n] && n < 38) with_layer[n] = keys[n], n++;
        with_layer[n++] = "layer";
        with_layer[n] = NULL;
        pb_lua_check_keys(L, a.opts, with_layer, what);
        int layer = pb_lua_field_int(L, a.opts, "layer", 1, what), off;
        if (layer < 1 || layer > m->cfg.layers)
            luaL_error(L, "%s: layer=%d is outside 1..%d", what, layer, m->cfg.layers);
        a.e = pb_model_layer_encoding(m, layer - 1, &off);
        a.params = m->params.enc + off;
        return a;
    }
    if (lua_type(L, 1) != LUA_TSTRING)
        luaL_error(L, "%s: argument 1 must be a model or an encoding name, got a %s", what,
                   luaL_typename(L, 1));
    if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    pb_standalone_encoding *se =
        pb_lua_push_encoding(L, lua_tostring(L, 1), 2, MAX_METRIC_POS, what); /* 4 */
    a.e = &se->enc;
    a.params = se->params;
    a.opts = 3;
    a.max_len = se->enc.g.max_len;
    pb_lua_check_keys(L, a.opts, keys, what);
    return a;
}

/* ---- option helpers ---------------------------------------------------------- */

static int read_length(lua_State *L, const enc_arg *a, const char *what, int min) {
    int n = pb_lua_field_int(L, a->opts, "length", a->max_len, what);
    if (n < min || n > MAX_METRIC_POS)
        luaL_error(L, "%s: length=%d must be in [%d, %d]", what, n, min, MAX_METRIC_POS);
    return n;
}

/* The table of n positions (2D: grid cells, row-major, width= columns;
 * format-rounded when format= is given), as stack-owned scratch. Metrics
 * without width/format among their keys get the defaults. */
static float *table_of(lua_State *L, const enc_arg *a, int n, const char *what) {
    int d = a->e->g.d;
    int width = pb_lua_field_int(L, a->opts, "width", 0, what);
    float *x = pb_lua_scratch(L, sizeof(float) * (size_t)n * d);
    pb_error err;
    if (a->e->type->pos_dims == 2 && width <= 0) width = (int)ceil(sqrt((double)n));
    if (pb_metric_table_linear(a->e, a->params, n, width, x, &err))
        luaL_error(L, "%s: %s", what, err.msg);
    pb_format f;
    if (pb_lua_read_format(L, a->opts, "format", &f, what))
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
    pb_lua_push_rows(L, x, n, a.e->g.d);
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
    pb_lua_set_num(L, "distance", dist);
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
    pb_lua_set_num(L, "distance", dist);
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
    double *s = pb_lua_scratch(L, sizeof(double) * (size_t)(n - 1));
    pb_metric_steps(x, n, a.e->g.d, s);
    pb_lua_push_doubles(L, s, n - 1);
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
    pb_lua_set_num(L, "mean", mean);
    pb_lua_set_num(L, "var", var);
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
    gsl_rng *rng = pb_lua_new_rng(L, seed);
    pb_shift_result r;
    pb_error err;
    int rc = pb_metric_shift_invariance(a.e, a.params, n, S, samples, rng, &r, &err);
    gsl_rng_free(rng);
    if (rc) luaL_error(L, "%s: %s", what, err.msg);
    lua_newtable(L);
    pb_lua_set_num(L, "max_abs", r.max_abs);
    pb_lua_set_num(L, "max_score", r.max_score);
    pb_lua_set_num(L, "rel", r.rel);
    return 1;
}

static int l_snr(lua_State *L) {
    const char *what = "pb.metrics.snr";
    static const char *const keys[] = {"length", "e_norm", "format", NULL};
    enc_arg a = check_enc(L, what, keys);
    int n = read_length(L, &a, what, 1);
    double e_norm = pb_lua_field_num(L, a.opts, "e_norm", 1.0, what);
    float *x = table_of(L, &a, n, what);
    double *s = pb_lua_scratch(L, sizeof(double) * (size_t)n);
    pb_metric_snr(x, n, a.e->g.d, e_norm, s);
    pb_lua_push_doubles(L, s, n);
    return 1;
}

/* embeddings = rows (vocab x d) or nil: N(0, emb_sd) drawn from rng. */
static float *probe_embeddings(lua_State *L, int opts, int d, int *vocab, double sd,
                               unsigned long seed, const char *what) {
    lua_getfield(L, opts, "embeddings");
    int given = lua_istable(L, -1);
    if (given) *vocab = (int)luaL_len(L, -1);
    if (*vocab < 1) luaL_error(L, "%s: need at least one token (vocab=%d)", what, *vocab);
    float *e = pb_lua_scratch(L, sizeof(float) * (size_t)*vocab * d);
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
    gsl_rng *rng = pb_lua_new_rng(L, seed);
    pb_probe_result r;
    pb_error err;
    int rc = pb_metric_noise_probe(table, n_pos, emb, vocab, d, &o, rng, &r, &err);
    gsl_rng_free(rng);
    if (rc) luaL_error(L, "%s: %s", what, err.msg);
    lua_newtable(L);
    pb_lua_set_num(L, "position", r.pos_acc);
    pb_lua_set_num(L, "token", r.tok_acc);
    pb_lua_set_num(L, "position_regression", r.pos_reg_acc);
    pb_lua_set_num(L, "noise_sd", r.noise_sd);
    pb_lua_set_num(L, "signal_power", r.signal_power);
    pb_lua_set_num(L, "position_chance", 1.0 / n_pos);
    pb_lua_set_num(L, "token_chance", 1.0 / vocab);
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
    gsl_rng *rng = pb_lua_new_rng(L, seed);
    pb_sep_result r;
    pb_error err;
    int rc = pb_metric_separability(a.e, a.params, grid, max_d, bases, rng, &r, &err);
    gsl_rng_free(rng);
    if (rc) luaL_error(L, "%s: %s", what, err.msg);
    lua_newtable(L);
    pb_lua_set_num(L, "rel_var", r.rel_var);
    pb_lua_set_num(L, "split_error", r.split_err);
    pb_lua_set_num(L, "var_fixed", r.var_fixed);
    pb_lua_set_num(L, "var_total", r.var_total);
    return 1;
}

const luaL_Reg pb_lua_metrics_encoding_funcs[] = {
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
    {NULL, NULL}};
