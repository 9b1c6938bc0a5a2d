/* Small C helpers for the Lua results library (harness/lua/posbench/):
 * atomic file writes, directories, t-quantiles, a clock, machine facts,
 * hashing, base64 and quoting. They live in the "posbench.core" table.
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
 *   source_root() -> string       the source tree this binary was built from
 *   quote_shell(text), quote_gnuplot(text), quote_slurm_pattern(text) -> string
 *                                 core/quote.h; a refused text raises its message */
#ifndef PB_LUA_UTIL_H
#define PB_LUA_UTIL_H

#include <lua.h>

int pb_lua_open_util(lua_State *L);

/* The string argument at idx as a path; raises "what: path contains a NUL
 * byte" for one (C would silently read it as a shorter, other path). */
const char *pb_lua_check_path(lua_State *L, int idx, const char *what);

/* The seed at t[key] (t at idx; nil or a missing table gives dflt), checked
 * by pb_seed_valid (core/opts.h): anything else raises "what: 'key' must be
 * an integer in [0, 4294967295], got X". The one conversion every seed
 * option given from Lua goes through. */
unsigned long pb_lua_field_seed(lua_State *L, int idx, const char *key, unsigned long dflt,
                                const char *what);

#endif
