/* Lua binding of the extrapolation helpers: pb.diagnose and peak memory. */
#ifndef PB_LUA_DIAG_H
#define PB_LUA_DIAG_H

#include <lua.h>

/* Adds diagnose and peak_rss_kb to the table at the stack top. */
void pb_lua_open_diag(lua_State *L);

#endif
