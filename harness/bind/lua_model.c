/* Lua binding: models, tasks and the lists of encodings and tasks. */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "lua_encoding.h"
#include "lua_internal.h"
#include "lua_layers.h"
#include "lua_util.h"
#include "../model/positions.h"
#include "../model/model_checkpoint.h"

pb_model *pb_lua_check_model(lua_State *L, int idx) {
    pb_lua_model *u = luaL_checkudata(L, idx, PB_MODEL_MT);
    if (!u->alive) luaL_argerror(L, idx, "model has been closed");
    return &u->m;
}

pb_task *pb_lua_check_task(lua_State *L, int idx) {
    pb_lua_task *u = luaL_checkudata(L, idx, PB_TASK_MT);
    if (!u->alive) luaL_argerror(L, idx, "task has been closed");
    return &u->t;
}

static const char *const model_keys[] = {
    "vocab", "d", "heads", "layers", "ff", "norm", "causal", "tied", "encoding",
    "enc", "max_len", "seed", "positions", "precision", "pattern", "every", "local_layer",
    "global_layer", NULL};

/* Push a shallow copy of the table at idx. */
static void push_copy(lua_State *L, int idx) {
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_settable(L, -4);
    }
}

/* Pushes a model built from the config table at index 1, its encoding
 * options merged with enc_override (flattened, key by key: the same merge
 * as pb.eval's enc=) unless that is nil. The config, with enc= the merged
 * options when overridden, is kept as the userdata's user value so
 * model:config() and model:save() can return it. */
static int push_model(lua_State *L, int enc_override) {
    luaL_checktype(L, 1, LUA_TTABLE);
    pb_lua_check_keys(L, 1, model_keys, "pb.model");
    pb_model_config c;
    pb_model_config_defaults(&c);
    const char *what = "pb.model";
    c.vocab = pb_lua_field_int(L, 1, "vocab", c.vocab, what);
    c.d = pb_lua_field_int(L, 1, "d", c.d, what);
    c.heads = pb_lua_field_int(L, 1, "heads", c.heads, what);
    lua_getfield(L, 1, "layers");
    int layer_list = lua_istable(L, -1);
    lua_pop(L, 1);
    if (!layer_list) c.layers = pb_lua_field_int(L, 1, "layers", c.layers, what);
    /* Sizes are checked before anything is derived from them: ff = 4d
     * from d=0 or a huge d (a checkpoint may claim any) would be reported
     * instead of the size actually wrong. */
    const char *const size_names[] = {"vocab", "d", "heads", "layers"};
    const int sizes[] = {c.vocab, c.d, c.heads, c.layers};
    for (int i = 0; i < 4; i++)
        if (sizes[i] <= 0)
            luaL_error(L, "pb.model: '%s' must be positive, got %d", size_names[i], sizes[i]);
    int ff_given = lua_getfield(L, 1, "ff") != LUA_TNIL;
    lua_pop(L, 1);
    if (!ff_given && c.d > INT_MAX / 4)
        luaL_error(L, "pb.model: d=%d is too large for the default ff = 4*d; give ff", c.d);
    c.ff = pb_lua_field_int(L, 1, "ff", ff_given ? 0 : 4 * c.d, what);
    if (c.ff <= 0) luaL_error(L, "pb.model: 'ff' must be positive (leave it out for 4*d)");
    c.max_len = pb_lua_field_int(L, 1, "max_len", c.max_len, what);
    c.causal = pb_lua_field_bool(L, 1, "causal", c.causal, what);
    c.tied = pb_lua_field_bool(L, 1, "tied", c.tied, what);
    c.seed = pb_lua_field_seed(L, 1, "seed", c.seed, what);
    const char *norm = pb_lua_field_str(L, 1, "norm", "layernorm", what);
    if (strcmp(norm, "layernorm") == 0) c.norm = PB_NORM_LAYER;
    else if (strcmp(norm, "rmsnorm") == 0) c.norm = PB_NORM_RMS;
    else luaL_error(L, "pb.model: unknown norm '%s' (valid: layernorm, rmsnorm)", norm);
    const char *enc = pb_lua_field_str(L, 1, "encoding", NULL, what);
    if (enc && strlen(enc) >= sizeof c.encoding) luaL_error(L, "pb.model: encoding name too long");
    if (enc) strcpy(c.encoding, enc);
    lua_getfield(L, 1, "enc");
    pb_lua_to_opts(L, -1, &c.enc_opts, "pb.model enc");
    lua_pop(L, 1);
    pb_error err;
    if (!lua_isnoneornil(L, enc_override)) {
        pb_opts over;
        pb_lua_to_opts(L, enc_override, &over, "pb.load enc");
        if (pb_opts_merge(&c.enc_opts, &over, &err)) return pb_lua_raise(L, &err);
    }
    int per_layer = pb_lua_layer_specs(L, 1, &c);
    if (per_layer && !lua_isnoneornil(L, enc_override)) {
        /* to the layers whose encoding takes the keys, as pb.eval's enc= */
        pb_opts over;
        pb_lua_to_opts(L, enc_override, &over, "pb.load enc");
        if (pb_layer_specs_override((pb_layer_spec *)c.specs, c.n_specs, &over, &err))
            return pb_lua_raise(L, &err);
    }
    lua_getfield(L, 1, "positions");
    pb_lua_to_opts(L, -1, &c.pos_opts, "pb.model positions");
    lua_pop(L, 1);
    lua_getfield(L, 1, "precision");
    pb_lua_to_precision(L, -1, &c.prec);
    lua_pop(L, 1);

    pb_lua_model *u = lua_newuserdatauv(L, sizeof *u, 1);
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, PB_MODEL_MT);
    if (pb_model_create(&u->m, &c, &err)) return pb_lua_raise(L, &err);
    u->alive = 1;
    if (per_layer) { /* the config shows the expanded list */
        push_copy(L, 1);
        pb_lua_push_layer_specs(L, &u->m);
        lua_setfield(L, -2, "layers");
        static const char *const short_forms[] = {"pattern", "every", "local_layer",
                                                  "global_layer", NULL};
        for (int i = 0; short_forms[i]; i++) {
            lua_pushnil(L);
            lua_setfield(L, -2, short_forms[i]);
        }
    } else if (lua_isnoneornil(L, enc_override)) {
        lua_pushvalue(L, 1);
    } else { /* a shallow copy of the config with the merged options */
        push_copy(L, 1);
        pb_lua_push_opts(L, &c.enc_opts);
        lua_setfield(L, -2, "enc");
    }
    lua_setiuservalue(L, -2, 1);
    return 1;
}

/* pb.model{...} -> model */
static int l_model(lua_State *L) {
    lua_settop(L, 1);
    lua_pushnil(L); /* no override; the stack above it is push_model's */
    return push_model(L, 2);
}

/* core._model_from_checkpoint(config, enc_override) -> model: pb.load's
 * model, with its enc= override merged here like pb.eval's. */
static int l_model_from_checkpoint(lua_State *L) {
    lua_settop(L, 2);
    return push_model(L, 2);
}

static int l_model_gc(lua_State *L) {
    pb_lua_model *u = luaL_checkudata(L, 1, PB_MODEL_MT);
    if (u->alive) pb_model_destroy(&u->m);
    u->alive = 0;
    return 0;
}

static int l_model_tostring(lua_State *L) {
    pb_lua_model *u = luaL_checkudata(L, 1, PB_MODEL_MT);
    if (!u->alive) {
        lua_pushstring(L, "posbench model (closed)");
        return 1;
    }
    const pb_model_config *c = &u->m.cfg;
    lua_pushfstring(L, "posbench model: %s, d=%d heads=%d layers=%d ff=%d vocab=%d, %s, "
                       "%d parameters",
                    c->encoding, c->d, c->heads, c->layers, c->ff, c->vocab,
                    c->causal ? "causal" : "bidirectional", (int)u->m.n_params);
    return 1;
}

static int l_model_config(lua_State *L) {
    pb_lua_check_model(L, 1);
    lua_getiuservalue(L, 1, 1);
    return 1;
}

static int l_model_info(lua_State *L) {
    pb_model *m = pb_lua_check_model(L, 1);
    const pb_model_config *c = &m->cfg;
    lua_newtable(L);
    lua_pushinteger(L, (lua_Integer)m->n_params); lua_setfield(L, -2, "n_params");
    lua_pushinteger(L, m->enc.n_params); lua_setfield(L, -2, "encoding_params");
    lua_pushstring(L, c->encoding); lua_setfield(L, -2, "encoding");
    lua_pushinteger(L, c->vocab); lua_setfield(L, -2, "vocab");
    lua_pushinteger(L, c->d); lua_setfield(L, -2, "d");
    lua_pushinteger(L, c->heads); lua_setfield(L, -2, "heads");
    lua_pushinteger(L, c->d / c->heads); lua_setfield(L, -2, "d_head");
    lua_pushinteger(L, c->layers); lua_setfield(L, -2, "layers");
    pb_lua_push_layer_specs(L, m); lua_setfield(L, -2, "layer_specs");
    lua_pushboolean(L, m->hybrid); lua_setfield(L, -2, "hybrid");
    lua_pushinteger(L, m->n_groups); lua_setfield(L, -2, "encoding_groups");
    lua_pushinteger(L, c->ff); lua_setfield(L, -2, "ff");
    lua_pushinteger(L, c->max_len); lua_setfield(L, -2, "max_len");
    lua_pushboolean(L, c->causal); lua_setfield(L, -2, "causal");
    lua_pushboolean(L, c->tied); lua_setfield(L, -2, "tied");
    lua_pushstring(L, c->norm == PB_NORM_LAYER ? "layernorm" : "rmsnorm");
    lua_setfield(L, -2, "norm");
    pb_lua_push_opts(L, &c->enc_opts); lua_setfield(L, -2, "enc");
    pb_lua_push_opts(L, &c->pos_opts); lua_setfield(L, -2, "positions");
    lua_pushstring(L, pb_position_scheme_names[m->positions.scheme]);
    lua_setfield(L, -2, "position_scheme");
    lua_pushinteger(L, m->opt_step); lua_setfield(L, -2, "steps_trained");
    return 1;
}

/* model:params(name) -> flat array of a parameter tensor (for probes). */
static int l_model_param(lua_State *L) {
    pb_model *m = pb_lua_check_model(L, 1);
    const char *name = luaL_checkstring(L, 2);
    const float *base = m->param_mem;
    for (int i = 0; i < PB_N_PARAM_TENSORS; i++) {
        if (strcmp(pb_param_names[i], name) == 0) {
            size_t n = m->shapes[i].size;
            lua_createtable(L, (int)n, 0);
            for (size_t k = 0; k < n; k++) {
                lua_pushnumber(L, base[k]);
                lua_rawseti(L, -2, (lua_Integer)k + 1);
            }
            return 1;
        }
        base += m->shapes[i].size;
    }
    return luaL_argerror(L, 2, "unknown parameter name");
}

/* model:close() and <close>. Refused while an encoding callback runs: the
 * forward pass that called it may be using this very model (the finalizer,
 * __gc, never runs on a model in use, which is still referenced). */
static int l_model_close(lua_State *L) {
    luaL_checkudata(L, 1, PB_MODEL_MT);
    if (pb_lua_encoding_callbacks_running())
        return luaL_error(L, "model:close: cannot close a model inside an encoding callback "
                             "(it may be in use); close it after pb.train/pb.eval returns");
    return l_model_gc(L);
}

/* pb.task(name, {options}) -> task */
static int l_task(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    pb_opts o;
    pb_lua_to_opts(L, 2, &o, "pb.task options");
    pb_lua_task *u = lua_newuserdatauv(L, sizeof *u, 0);
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, PB_TASK_MT);
    pb_error err;
    if (pb_task_create(&u->t, name, &o, &err)) return pb_lua_raise(L, &err);
    u->alive = 1;
    return 1;
}

static int l_task_gc(lua_State *L) {
    pb_lua_task *u = luaL_checkudata(L, 1, PB_TASK_MT);
    if (u->alive) pb_task_destroy(&u->t);
    u->alive = 0;
    return 0;
}

static int l_task_info(lua_State *L) {
    pb_task *t = pb_lua_check_task(L, 1);
    lua_newtable(L);
    lua_pushstring(L, t->type->name); lua_setfield(L, -2, "name");
    lua_pushinteger(L, t->vocab); lua_setfield(L, -2, "vocab");
    lua_pushinteger(L, t->min_len); lua_setfield(L, -2, "min_len");
    lua_pushinteger(L, t->max_len); lua_setfield(L, -2, "max_len");
    lua_pushnumber(L, t->chance); lua_setfield(L, -2, "chance");
    lua_pushinteger(L, t->pos_dims); lua_setfield(L, -2, "pos_dims");
    lua_pushstring(L, t->type->summary); lua_setfield(L, -2, "summary");
    return 1;
}

static int l_task_close(lua_State *L) {
    luaL_checkudata(L, 1, PB_TASK_MT);
    if (pb_lua_encoding_callbacks_running())
        return luaL_error(L, "task:close: cannot close a task inside an encoding callback "
                             "(it may be in use)");
    return l_task_gc(L);
}

static int l_task_tostring(lua_State *L) {
    pb_lua_task *u = luaL_checkudata(L, 1, PB_TASK_MT);
    if (!u->alive) lua_pushstring(L, "posbench task (closed)");
    else
        lua_pushfstring(L, "posbench task %s: lengths %d..%d, %d tokens, chance %f",
                        u->t.type->name, u->t.min_len, u->t.max_len, u->t.vocab,
                        u->t.chance);
    return 1;
}

static void push_int_array(lua_State *L, const int *x, int n) {
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushinteger(L, x[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

/* task:sample(n, {seed=, causal=}) -> {tokens=, targets=, mask=} for one
 * problem: what the model would see. */
static int l_task_sample(lua_State *L) {
    pb_task *t = pb_lua_check_task(L, 1);
    /* Checked as a number first: luaL_checkinteger's "number has no
     * integer representation" names neither the argument nor the value. */
    double nd = lua_type(L, 2) == LUA_TNUMBER ? lua_tonumber(L, 2) : NAN;
    if (!(nd >= 1 && nd <= INT_MAX && nd == floor(nd)))
        return luaL_error(L, "task:sample(n): n (the problem size) must be a positive integer, "
                          "got %s", luaL_tolstring(L, 2, NULL));
    int n = (int)nd;
    static const char *const keys[] = {"seed", "causal", NULL};
    pb_lua_check_keys(L, 3, keys, "task:sample");
    unsigned long seed = pb_lua_field_seed(L, 3, "seed", 1, "task:sample");
    int causal = pb_lua_field_bool(L, 3, "causal", 1, "task:sample");
    pb_error err;
    int T = pb_task_model_len(t, n, causal, &err);
    if (T < 0) return pb_lua_raise(L, &err);
    pb_batch b;
    if (pb_batch_alloc(&b, 1, T, t->pos_dims, &err)) return pb_lua_raise(L, &err);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, seed);
    int rc = pb_task_fill_batch(t, rng, n, causal, 1, &b, &err);
    gsl_rng_free(rng);
    if (rc) {
        pb_batch_free(&b);
        return pb_lua_raise(L, &err);
    }
    lua_newtable(L);
    push_int_array(L, b.tokens, T); lua_setfield(L, -2, "tokens");
    push_int_array(L, b.targets, T); lua_setfield(L, -2, "targets");
    lua_createtable(L, T, 0);
    for (int i = 0; i < T; i++) {
        lua_pushnumber(L, b.mask[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "mask");
    pb_batch_free(&b);
    return 1;
}

static void push_encoding_row(lua_State *L, const pb_encoding_type *t) {
    lua_newtable(L);
    lua_pushstring(L, t->name); lua_setfield(L, -2, "name");
    lua_pushstring(L, t->summary ? t->summary : ""); lua_setfield(L, -2, "summary");
    lua_pushstring(L, t->reference ? t->reference : ""); lua_setfield(L, -2, "reference");
    lua_pushstring(L, t->options_doc ? t->options_doc : ""); lua_setfield(L, -2, "options");
    lua_pushinteger(L, t->pos_dims); lua_setfield(L, -2, "pos_dims");
    lua_pushboolean(L, pb_lua_encoding_is_lua(t)); lua_setfield(L, -2, "lua");
    lua_newtable(L);
    int k = 0;
    if (t->sites & PB_ENC_INPUT) { lua_pushstring(L, "input"); lua_rawseti(L, -2, ++k); }
    if (t->sites & PB_ENC_QK) { lua_pushstring(L, "qk"); lua_rawseti(L, -2, ++k); }
    if (t->sites & PB_ENC_BIAS) { lua_pushstring(L, "bias"); lua_rawseti(L, -2, ++k); }
    lua_setfield(L, -2, "sites");
}

/* Built-in encodings, then those registered at run time (lua = true). */
static int l_list_encodings(lua_State *L) {
    lua_newtable(L);
    int n = 0;
    for (int i = 0; pb_encoding_types[i]; i++) {
        push_encoding_row(L, pb_encoding_types[i]);
        lua_rawseti(L, -2, ++n);
    }
    for (int i = 0; pb_encoding_registered(i); i++) {
        push_encoding_row(L, pb_encoding_registered(i));
        lua_rawseti(L, -2, ++n);
    }
    return 1;
}

static int l_list_tasks(lua_State *L) {
    lua_newtable(L);
    for (int i = 0; pb_task_types[i]; i++) {
        const pb_task_type *t = pb_task_types[i];
        lua_newtable(L);
        lua_pushstring(L, t->name); lua_setfield(L, -2, "name");
        lua_pushstring(L, t->summary ? t->summary : ""); lua_setfield(L, -2, "summary");
        lua_pushstring(L, t->options_doc ? t->options_doc : ""); lua_setfield(L, -2, "options");
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* core._save(model, path, meta_json): parameters by name, atomically. */
static int l_model_save(lua_State *L) {
    pb_model *m = pb_lua_check_model(L, 1);
    const char *path = pb_lua_check_path(L, 2, "model:save");
    pb_error err;
    if (pb_model_save(m, path, luaL_checkstring(L, 3), &err)) return pb_lua_raise(L, &err);
    return 0;
}

/* A checkpoint read once by core._read_checkpoint: the meta goes to Lua,
 * the tensors stay here until core._load_params copies them. */
#define PB_CHECKPOINT_MT "posbench.checkpoint"

typedef struct lua_checkpoint {
    pb_tf_file f;
    int alive;
} lua_checkpoint;

static int l_checkpoint_gc(lua_State *L) {
    lua_checkpoint *u = luaL_checkudata(L, 1, PB_CHECKPOINT_MT);
    if (u->alive) pb_tf_free(&u->f);
    u->alive = 0;
    return 0;
}

/* core._read_checkpoint(path) -> meta JSON text, checkpoint */
static int l_read_checkpoint(lua_State *L) {
    const char *path = pb_lua_check_path(L, 1, "pb.load");
    lua_checkpoint *u = lua_newuserdatauv(L, sizeof *u, 0);
    memset(u, 0, sizeof *u);
    if (luaL_newmetatable(L, PB_CHECKPOINT_MT)) {
        lua_pushcfunction(L, l_checkpoint_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    pb_error err;
    if (pb_tf_read(path, &u->f, &err)) return pb_lua_raise(L, &err);
    u->alive = 1;
    lua_pushstring(L, u->f.meta_json);
    lua_insert(L, -2);
    return 2;
}

/* core._load_params(model, checkpoint, path, allow_nonfinite): see
 * pb_model_load_params; the checkpoint's tensors are released right after. */
static int l_model_load_params(lua_State *L) {
    pb_model *m = pb_lua_check_model(L, 1);
    lua_checkpoint *u = luaL_checkudata(L, 2, PB_CHECKPOINT_MT);
    const char *path = luaL_checkstring(L, 3);
    if (!u->alive) return luaL_error(L, "%s: checkpoint already released", path);
    pb_error err;
    if (pb_model_load_params(m, &u->f, path, lua_toboolean(L, 4), &err))
        return pb_lua_raise(L, &err);
    pb_tf_free(&u->f);  /* now, not at the next collection */
    u->alive = 0;
    return 0;
}

/* pb.precision_sites() -> names of the rounding sites, in computation order. */
static int l_precision_sites(lua_State *L) {
    lua_createtable(L, PB_SITE_COUNT, 0);
    for (int i = 0; i < PB_SITE_COUNT; i++) {
        lua_pushstring(L, pb_site_names[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static const luaL_Reg model_methods[] = {
    {"config", l_model_config},
    {"info", l_model_info},
    {"param", l_model_param},
    {"close", l_model_close},
    {NULL, NULL}};

static const luaL_Reg model_meta[] = {
    {"__gc", l_model_gc},
    {"__close", l_model_close},
    {"__tostring", l_model_tostring},
    {NULL, NULL}};

static const luaL_Reg task_methods[] = {
    {"info", l_task_info},
    {"sample", l_task_sample},
    {NULL, NULL}};

static const luaL_Reg task_meta[] = {
    {"__gc", l_task_gc},
    {"__close", l_task_close},
    {"__tostring", l_task_tostring},
    {NULL, NULL}};

static const luaL_Reg module_funcs[] = {
    {"model", l_model},
    {"task", l_task},
    {"list_encodings", l_list_encodings},
    {"list_tasks", l_list_tasks},
    {"precision_sites", l_precision_sites},
    {"_model_from_checkpoint", l_model_from_checkpoint},
    {"_save", l_model_save},
    {"_read_checkpoint", l_read_checkpoint},
    {"_load_params", l_model_load_params},
    {NULL, NULL}};

/* Creates the metatable and stores its method table in the module as
 * `field`, so posbench.lua can add methods written in Lua. */
static void new_class(lua_State *L, const char *name, const luaL_Reg *meta,
                      const luaL_Reg *methods, const char *field) {
    luaL_newmetatable(L, name);
    luaL_setfuncs(L, meta, 0);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_pushvalue(L, -1);
    lua_setfield(L, -4, field);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

void pb_lua_open_model(lua_State *L) {
    new_class(L, PB_MODEL_MT, model_meta, model_methods, "_model_methods");
    new_class(L, PB_TASK_MT, task_meta, task_methods, "_task_methods");
    luaL_setfuncs(L, module_funcs, 0);
}
