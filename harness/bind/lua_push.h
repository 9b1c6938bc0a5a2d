/* Results as Lua tables: the small builders every binding file uses to push
 * what the engine returned. Each pushes one value (or sets one field of the
 * table at the stack top). */
#ifndef PB_LUA_PUSH_H
#define PB_LUA_PUSH_H

#include <lua.h>

/* x[0..n) as an array. */
void pb_lua_push_doubles(lua_State *L, const double *x, int n);
/* n rows of width w as an array of arrays. */
void pb_lua_push_rows(lua_State *L, const float *x, int n, int w);
/* x[layers][heads] as {{h1, h2, ...} per layer}. */
void pb_lua_push_layer_heads(lua_State *L, const double *x, int layers, int heads);
/* t[k] = v for the table t at the stack top. */
void pb_lua_set_num(lua_State *L, const char *k, double v);
void pb_lua_set_int(lua_State *L, const char *k, long v);

#endif
