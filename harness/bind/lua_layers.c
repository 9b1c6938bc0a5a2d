/* Lua binding: a model's per-layer records. pb.model's `layers` list and its
 * short forms (pattern, every, local_layer, global_layer) are flattened
 * here, one entry at a time; the engine parses and expands them
 * (model/layer_spec.c). Back to Lua: one table per layer. */
#include <math.h>
#include <string.h>

#include "lua_internal.h"
#include "lua_layers.h"

/* Each flattened entry is parsed over the model-level encoding and options. */
static void parse_entry(lua_State *L, int idx, const pb_model_config *c, pb_layer_spec *s,
                        const char *what) {
    if (!lua_istable(L, idx))
        luaL_error(L, "%s must be a table of layer settings, not a %s", what,
                   luaL_typename(L, idx));
    pb_opts o;
    pb_lua_to_opts(L, idx, &o, what);
    pb_layer_spec_uniform(s, c->encoding, &c->enc_opts);
    pb_error err;
    if (pb_layer_spec_parse(s, &o, what, &err)) pb_lua_raise(L, &err);
}

int pb_lua_layer_specs(lua_State *L, int idx, pb_model_config *c) {
    lua_getfield(L, idx, "layers");
    int list = lua_istable(L, -1);
    int n = list ? (int)luaL_len(L, -1) : c->layers;
    lua_getfield(L, idx, "pattern");
    lua_getfield(L, idx, "every");
    int has_pattern = !lua_isnil(L, -2), has_every = !lua_isnil(L, -1);
    lua_pop(L, 2);
    lua_getfield(L, idx, "local_layer");
    lua_getfield(L, idx, "global_layer");
    int has_sides = !lua_isnil(L, -2) || !lua_isnil(L, -1);
    lua_pop(L, 2);
    if (!list && !has_pattern && !has_every) {
        if (has_sides)
            luaL_error(L, "pb.model: local_layer and global_layer need pattern or every");
        lua_pop(L, 1);
        return 0;
    }
    if (list && (has_pattern || has_every))
        luaL_error(L, "pb.model: pattern and every expand a number of layers; with a "
                      "layers list, set each layer in it");
    if (n < 1 || n > 4096) luaL_error(L, "pb.model: %d layers (1..4096)", n);
    pb_layer_spec *specs = lua_newuserdatauv(L, sizeof *specs * (size_t)n, 0);
    lua_insert(L, -2); /* keep the userdata below `layers` */
    if (list) {
        for (int i = 0; i < n; i++) {
            char what[48];
            snprintf(what, sizeof what, "pb.model layers[%d]", i + 1);
            lua_geti(L, -1, i + 1);
            parse_entry(L, lua_gettop(L), c, &specs[i], what);
            lua_pop(L, 1);
        }
    } else {
        const char *pattern = has_pattern ? pb_lua_field_str(L, idx, "pattern", NULL, "pb.model")
                                          : NULL;
        int every = has_every ? pb_lua_field_int(L, idx, "every", 0, "pb.model") : 0;
        if (has_every && every < 1) luaL_error(L, "pb.model: every must be a positive integer");
        pb_opts lo, go;
        lua_getfield(L, idx, "local_layer");
        pb_lua_to_opts(L, -1, &lo, "pb.model local_layer");
        lua_getfield(L, idx, "global_layer");
        pb_lua_to_opts(L, -1, &go, "pb.model global_layer");
        lua_pop(L, 2);
        pb_error err;
        if (pb_layer_specs_pattern(specs, n, c->encoding, &c->enc_opts, pattern, every, &lo,
                                   &go, &err))
            pb_lua_raise(L, &err);
    }
    lua_pop(L, 1);
    c->layers = n;
    c->n_specs = n;
    c->specs = specs;
    return 1;
}

/* Options with dotted keys as nested tables, one level deep: "enc.base"
 * goes to t.enc.base, "enc.scaling.factor" to t.enc["scaling.factor"] (the
 * flat form pb.model's enc= has in a config). */
static void push_nested(lua_State *L, const pb_opts *o) {
    lua_newtable(L);
    for (int i = 0; i < o->n; i++) {
        const pb_opt *it = &o->items[i];
        const char *dot = strchr(it->key, '.');
        if (dot) {
            lua_pushlstring(L, it->key, (size_t)(dot - it->key));
            if (lua_rawget(L, -2) != LUA_TTABLE) {
                lua_pop(L, 1);
                lua_newtable(L);
                lua_pushlstring(L, it->key, (size_t)(dot - it->key));
                lua_pushvalue(L, -2);
                lua_rawset(L, -4);
            }
        }
        if (it->kind == PB_OPT_NUM && it->num == (double)(lua_Integer)it->num &&
            fabs(it->num) < 9e15)
            lua_pushinteger(L, (lua_Integer)it->num); /* window = 4, not 4.0 */
        else if (it->kind == PB_OPT_NUM) lua_pushnumber(L, it->num);
        else if (it->kind == PB_OPT_BOOL) lua_pushboolean(L, it->num != 0.0);
        else lua_pushstring(L, it->str);
        lua_setfield(L, -2, dot ? dot + 1 : it->key);
        if (dot) lua_pop(L, 1);
    }
}

void pb_lua_push_layer_specs(lua_State *L, const pb_model *m) {
    lua_createtable(L, m->cfg.layers, 0);
    for (int l = 0; l < m->cfg.layers; l++) {
        pb_opts o;
        pb_error err;
        if (pb_layer_spec_to_opts(&m->spec[l], &o, &err)) pb_lua_raise(L, &err);
        push_nested(L, &o);
        lua_rawseti(L, -2, l + 1);
    }
}
