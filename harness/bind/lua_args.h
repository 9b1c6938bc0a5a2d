/* The key=value words of `posbench run SCRIPT key=value ...`, as the table
 * scripts read as pb.args. */
#ifndef PB_LUA_ARGS_H
#define PB_LUA_ARGS_H

#include <lua.h>

/* Pushes {key = value} for argv[0..argc): "true"/"false" become booleans,
 * numerals numbers (as Lua reads them), anything else stays a string; a
 * later key replaces an earlier one. A word without '=' or with an empty key
 * raises "argument 'W' is not of the form key=value". */
void pb_lua_push_args(lua_State *L, int argc, char **argv);

#endif
