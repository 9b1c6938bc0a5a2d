/* pb.metrics of a trained model on a batch of a task (relative deviation,
 * logit terms, position share, frequency usage) and model:forward. */
#include <string.h>

#include "lua_internal.h"
#include "lua_metrics_internal.h"
#include "lua_util.h"
#include "../metrics/metrics_attention.h"
#include "../metrics/metrics_decompose.h"
#include "../model/model_tokens.h"
#include "../run/train.h"

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
    if (pb_draw_batch_seeded(m, t, PB_SPLIT_TEST, seed, n, B, &u->b, &err))
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
    double *per = pb_lua_scratch(L, sizeof(double) * 2 * (size_t)layers);
    pb_model_saved s;
    override_precision(L, 3, m, &s);
    double D, Dl;
    pb_error err;
    int rc = pb_metric_relative_deviation(m, b, d1, d2, &D, &Dl, per, per + layers, &err);
    pb_model_restore(m, &s);
    if (rc) luaL_error(L, "%s: %s", what, err.msg);
    lua_newtable(L);
    pb_lua_set_num(L, "D", D);
    pb_lua_set_num(L, "D_logit", Dl);
    pb_lua_push_doubles(L, per, layers);
    lua_setfield(L, -2, "per_layer");
    pb_lua_push_doubles(L, per + layers, layers);
    lua_setfield(L, -2, "per_layer_logit");
    return 1;
}

static void push_terms(lua_State *L, const pb_logit_terms *t) {
    lua_newtable(L);
    for (int k = 0; k < PB_N_TERMS; k++) {
        pb_lua_set_num(L, pb_term_names[k], t->share[k]);
    }
    lua_newtable(L);
    for (int k = 0; k < PB_N_TERMS; k++) pb_lua_set_num(L, pb_term_names[k], t->var[k]);
    lua_setfield(L, -2, "var");
    pb_lua_set_num(L, "var_logit", t->var_logit);
}

static int l_logit_terms(lua_State *L) {
    const char *what = "pb.metrics.logit_terms";
    static const char *const keys[] = {"length", "batch", "seed", NULL};
    pb_task *t;
    pb_model *m = check_model_task(L, what, keys, 0, &t);
    pb_batch *b = task_batch(L, m, t, 3, what);
    int H = m->cfg.heads;
    pb_logit_terms *out = pb_lua_scratch(L, sizeof(pb_logit_terms) * (size_t)(H + 1));
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
    double *share = pb_lua_scratch(L, sizeof(double) * (size_t)layers * H);
    pb_model_saved s;
    if (!lua_isnil(L, 3)) override_precision(L, 3, m, &s);
    else memset(&s, 0, sizeof s);
    pb_error err;
    int rc = pb_metric_position_share(m, b, share, &err);
    pb_model_restore(m, &s);
    if (rc) luaL_error(L, "%s: %s", what, err.msg);
    pb_lua_push_layer_heads(L, share, layers, H);
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
    double *U = pb_lua_scratch(L, sizeof(double) * (size_t)layers * H * (np ? np : 1));
    pb_error err;
    if (pb_metric_frequency_usage(m, b, which[0] == 'k', U, &err))
        luaL_error(L, "%s: %s", what, err.msg);
    lua_createtable(L, layers, 0);
    for (int l = 0; l < layers; l++) {
        lua_createtable(L, H, 0);
        for (int h = 0; h < H; h++) {
            pb_lua_push_doubles(L, U + ((size_t)l * H + h) * np, np);
            lua_rawseti(L, -2, h + 1);
        }
        lua_rawseti(L, -2, l + 1);
    }
    return 1;
}

/* model:forward(tokens, {positions=}) -> {hidden=, logits=} */
int pb_lua_model_forward(lua_State *L) {
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
    int *tok = pb_lua_scratch(L, sizeof(int) * (size_t)T * (1 + pd));
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
    float *hidden = pb_lua_scratch(L, sizeof(float) * (size_t)T * (d + V));
    float *logits = hidden + (size_t)T * d;
    pb_error err;
    if (pb_model_forward_tokens(m, tok, pos, T, hidden, logits, &err))
        luaL_error(L, "%s: %s", what, err.msg);
    lua_newtable(L);
    pb_lua_push_rows(L, hidden, T, d);
    lua_setfield(L, -2, "hidden");
    pb_lua_push_rows(L, logits, T, V);
    lua_setfield(L, -2, "logits");
    return 1;
}

const luaL_Reg pb_lua_metrics_model_funcs[] = {
    {"relative_deviation", l_relative_deviation},
    {"logit_terms", l_logit_terms},
    {"position_share", l_position_share},
    {"frequency_usage", l_frequency_usage},
    {NULL, NULL}};
