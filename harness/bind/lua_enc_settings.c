/* Geometry keys of an encoding built outside a model: see lua_enc_settings.h. */
#include "lua_enc_settings.h"

#include <string.h>

#include "lua_internal.h"

static const char *const geometry_keys[] = {"d", "d_head", "heads", "causal", "max_len",
                                            "precision", "seed", NULL};

static int is_geometry_key(const char *k) {
    for (const char *const *p = geometry_keys; *p; p++)
        if (strcmp(*p, k) == 0) return 1;
    return 0;
}

void pb_lua_push_enc_options(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    lua_newtable(L);
    int out = lua_gettop(L);
    if (lua_isnoneornil(L, idx)) return;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) == LUA_TSTRING && is_geometry_key(lua_tostring(L, -2))) {
            lua_pop(L, 1);
            continue;
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_settable(L, out);
    }
}

pb_geometry pb_lua_to_geometry(lua_State *L, int idx, int max_pos, const char *what) {
    int d = pb_lua_field_int(L, idx, "d", 0, what);
    int dh = pb_lua_field_int(L, idx, "d_head", 0, what);
    int heads = pb_lua_field_int(L, idx, "heads", 0, what);
    if (d < 0 || dh < 0 || heads < 0)
        luaL_error(L, "%s: d, d_head and heads must be positive", what);
    if (!heads) heads = (d && dh && d % dh == 0) ? d / dh : 4;
    if (!d) d = dh ? dh * heads : 64;
    if (!dh) {
        if (d % heads) luaL_error(L, "%s: d=%d is not divisible by heads=%d", what, d, heads);
        dh = d / heads;
    }
    if (d != dh * heads)
        luaL_error(L, "%s: d=%d, d_head=%d and heads=%d do not fit (d = d_head * heads)",
                   what, d, dh, heads);
    pb_geometry g = {.d = d, .heads = heads, .d_head = dh,
                     .causal = pb_lua_field_bool(L, idx, "causal", 1, what),
                     .max_len = pb_lua_field_int(L, idx, "max_len", 64, what)};
    if (g.max_len <= 0 || g.max_len > max_pos)
        luaL_error(L, "%s: max_len=%d must be in [1, %d]", what, g.max_len, max_pos);
    return g;
}

void pb_lua_geometry_precision(lua_State *L, int idx, pb_precision *prec) {
    if (lua_isnoneornil(L, idx)) lua_pushnil(L);
    else lua_getfield(L, idx, "precision");
    pb_lua_to_precision(L, -1, prec);
    lua_pop(L, 1);
}
