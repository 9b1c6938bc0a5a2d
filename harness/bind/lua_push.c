/* Results as Lua tables (lua_push.h). */
#include "lua_push.h"

#include <stddef.h>

void pb_lua_push_doubles(lua_State *L, const double *x, int n) {
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushnumber(L, x[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

void pb_lua_push_rows(lua_State *L, const float *x, int n, int w) {
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

void pb_lua_push_layer_heads(lua_State *L, const double *x, int layers, int heads) {
    lua_createtable(L, layers, 0);
    for (int l = 0; l < layers; l++) {
        pb_lua_push_doubles(L, x + (size_t)l * heads, heads);
        lua_rawseti(L, -2, l + 1);
    }
}

void pb_lua_set_num(lua_State *L, const char *k, double v) {
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

void pb_lua_set_int(lua_State *L, const char *k, long v) {
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, k);
}
