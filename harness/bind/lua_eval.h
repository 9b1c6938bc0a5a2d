/* Lua binding of pb.eval: accuracy per length, or with window= perplexity
 * of the 'lm' task. */
#ifndef PB_LUA_EVAL_H
#define PB_LUA_EVAL_H

#include <lua.h>

/* Adds eval to the table at the stack top. */
void pb_lua_open_eval(lua_State *L);

#endif
