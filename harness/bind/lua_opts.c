/* Lua tables -> option lists, precision settings and typed fields. */
#include <stdio.h>
#include <string.h>

#include "lua_internal.h"
#include "../numerics/precision_opts.h"

int pb_lua_raise(lua_State *L, const pb_error *err) {
    return luaL_error(L, "%s", err->msg);
}

static void flatten(lua_State *L, int idx, const char *prefix, pb_opts *o,
                    const char *what, int depth) {
    idx = lua_absindex(L, idx);
    if (depth > 4) luaL_error(L, "%s: options nested too deeply", what);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "%s: option names must be strings (got a %s key)", what,
                       luaL_typename(L, -2));
        char key[2 * PB_OPT_KEY_LEN];
        int w = snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "",
                         lua_tostring(L, -2));
        if (w < 0 || w >= PB_OPT_KEY_LEN)
            luaL_error(L, "%s: option name '%s%s%s' is too long", what, prefix,
                       *prefix ? "." : "", lua_tostring(L, -2));
        pb_error err;
        int rc = 0;
        switch (lua_type(L, -1)) {
        case LUA_TNUMBER: rc = pb_opts_set_num(o, key, lua_tonumber(L, -1), &err); break;
        case LUA_TBOOLEAN: rc = pb_opts_set_bool(o, key, lua_toboolean(L, -1), &err); break;
        case LUA_TSTRING: rc = pb_opts_set_str(o, key, lua_tostring(L, -1), &err); break;
        case LUA_TTABLE: flatten(L, -1, key, o, what, depth + 1); break;
        default:
            luaL_error(L, "%s: option '%s' must be a number, boolean, string or table, "
                          "not a %s", what, key, luaL_typename(L, -1));
        }
        if (rc) luaL_error(L, "%s: %s", what, err.msg);
        lua_pop(L, 1);
    }
}

void pb_lua_to_opts(lua_State *L, int idx, pb_opts *o, const char *what) {
    pb_opts_init(o);
    if (lua_isnoneornil(L, idx)) return;
    if (!lua_istable(L, idx))
        luaL_error(L, "%s must be a table, not a %s", what, luaL_typename(L, idx));
    flatten(L, idx, "", o, what, 0);
}

void pb_lua_push_opts(lua_State *L, const pb_opts *o) {
    lua_createtable(L, 0, o->n);
    for (int i = 0; i < o->n; i++) {
        const pb_opt *it = &o->items[i];
        if (it->kind == PB_OPT_NUM) lua_pushnumber(L, it->num);
        else if (it->kind == PB_OPT_BOOL) lua_pushboolean(L, it->num != 0.0);
        else lua_pushstring(L, it->str);
        lua_setfield(L, -2, o->items[i].key);
    }
}

static int push_field(lua_State *L, int idx, const char *key) {
    if (lua_isnoneornil(L, idx)) return 0;
    lua_getfield(L, idx, key);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    return 1;
}

int pb_lua_field_int(lua_State *L, int idx, const char *key, int dflt, const char *what) {
    if (!push_field(L, idx, key)) return dflt;
    int ok;
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    if (!ok)
        luaL_error(L, "%s: '%s' must be an integer, got %s", what, key,
                   luaL_tolstring(L, -1, NULL));
    if (v < -2147483647 || v > 2147483647)
        luaL_error(L, "%s: '%s' = %s is out of range (|value| <= 2147483647)", what, key,
                   luaL_tolstring(L, -1, NULL));
    lua_pop(L, 1);
    return (int)v;
}

double pb_lua_field_num(lua_State *L, int idx, const char *key, double dflt,
                        const char *what) {
    if (!push_field(L, idx, key)) return dflt;
    int ok;
    double v = lua_tonumberx(L, -1, &ok);
    if (!ok)
        luaL_error(L, "%s: '%s' must be a number, got %s", what, key,
                   luaL_tolstring(L, -1, NULL));
    lua_pop(L, 1);
    return v;
}

int pb_lua_field_bool(lua_State *L, int idx, const char *key, int dflt, const char *what) {
    if (!push_field(L, idx, key)) return dflt;
    if (!lua_isboolean(L, -1))
        luaL_error(L, "%s: '%s' must be true or false, got %s", what, key,
                   luaL_tolstring(L, -1, NULL));
    int v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

const char *pb_lua_field_str(lua_State *L, int idx, const char *key, const char *dflt,
                             const char *what) {
    if (!push_field(L, idx, key)) return dflt;
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "%s: '%s' must be a string, got %s", what, key,
                   luaL_tolstring(L, -1, NULL));
    const char *s = lua_tostring(L, -1);
    lua_pop(L, 1); /* still referenced by the table */
    return s;
}

void pb_lua_check_keys(lua_State *L, int idx, const char *const *valid, const char *what) {
    if (lua_isnoneornil(L, idx)) return;
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: expected a table, got a %s", what, luaL_typename(L, idx));
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        int known = 0;
        for (const char *const *v = valid; k && *v; v++) known |= strcmp(*v, k) == 0;
        if (!known) {
            if (!k) k = luaL_tolstring(L, -1, NULL); /* a non-string key, as text */
            luaL_Buffer b;
            luaL_buffinit(L, &b);
            for (const char *const *v = valid; *v; v++) {
                if (v != valid) luaL_addstring(&b, ", ");
                luaL_addstring(&b, *v);
            }
            luaL_pushresult(&b);
            luaL_error(L, "%s: unknown option '%s' (valid options: %s)", what, k,
                       lua_tostring(L, -1));
        }
    }
}

void pb_lua_to_precision(lua_State *L, int idx, pb_precision *p) {
    pb_opts o;
    pb_lua_to_opts(L, idx, &o, "precision");
    pb_error err;
    if (pb_precision_from_opts(p, &o, "", &err)) pb_lua_raise(L, &err);
}
