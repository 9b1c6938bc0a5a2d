/* Small C helpers for the Lua results library (harness/lua/posbench/):
 * atomic file writes, directories, t-quantiles, a clock, machine facts,
 * hashing and base64. They live in the "posbench.core" table.
 *
 * pb_lua_open_util(L) adds these functions to the table at the stack top
 * (the stack is otherwise unchanged) and returns 0:
 *   write_atomic(path, string)   temp file + fsync + rename; error names path
 *   mkdir_p(path)                like `mkdir -p`; error names the component
 *   file_exists(path) -> bool
 *   realpath(path) -> string | nil, message
 *   t_quantile(p, dof) -> number  inverse CDF of Student's t (0 < p < 1, dof > 0)
 *   isatty_stderr() -> bool
 *   now() -> seconds              monotonic clock, as a float
 *   machine() -> {cpu, cores, memory (bytes), os, arch}
 *   hash64(string) -> string      FNV-1a 64-bit as 16 lowercase hex digits
 *   base64(string) -> string      standard alphabet with '=' padding
 *   source_root() -> string       the source tree this binary was built from */
#ifndef PB_LUA_UTIL_H
#define PB_LUA_UTIL_H

#include <lua.h>

int pb_lua_open_util(lua_State *L);

#endif
