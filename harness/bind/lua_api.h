#ifndef PB_LUA_API_H
#define PB_LUA_API_H

#include <lua.h>

/* Opens "posbench.core" (pushes its table). */
int luaopen_posbench_core(lua_State *L);

#endif
