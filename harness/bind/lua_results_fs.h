/* File operations in a results directory for the Lua library (core._rfs). */
#ifndef PB_LUA_RESULTS_FS_H
#define PB_LUA_RESULTS_FS_H

#include <lua.h>

/* Adds the table `_rfs` to the module table at the stack top. */
int pb_lua_open_results_fs(lua_State *L);

#endif
