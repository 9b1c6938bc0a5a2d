/* Lua binding for emulated number formats.
 *
 *   local f = pb.format("e4m3", {overflow = "nan", rounding = "stochastic",
 *                                 subnormals = false, seed = 7})
 *   f:round(500)          --> nan        (also takes an array, returns a new one)
 *   f:info().max          --> 448
 *   tostring(f)           --> "e4m3: 1/4/3 bias 7 max 448 ..."
 *   pb.formats()          --> {{name = "fp32", description = "..."}, ...}
 *
 * Values are converted to fp32 (the harness's storage) before rounding. */
#ifndef PB_LUA_FORMAT_H
#define PB_LUA_FORMAT_H

#include <lua.h>

/* With the posbench module table at the top of the stack, adds `format` and
 * `formats` to it and registers the "posbench.format" metatable. Leaves the
 * stack as it found it; returns 0. */
int pb_lua_open_format(lua_State *L);

#endif
