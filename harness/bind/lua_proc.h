/* Process primitives for sweeps: workers and waits. */
#ifndef PB_LUA_PROC_H
#define PB_LUA_PROC_H

#include <lua.h>

/* Adds the table `_proc` to the module table at the stack top. */
int pb_lua_open_proc(lua_State *L);

#endif
