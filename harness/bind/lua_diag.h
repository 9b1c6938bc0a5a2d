/* Lua binding of the extrapolation helpers: pb.diagnose, peak memory, and
 * the window= branch of pb.eval (language-model perplexity). */
#ifndef PB_LUA_DIAG_H
#define PB_LUA_DIAG_H

#include <lua.h>

#include "../run/eval_lm.h"

/* Adds diagnose and peak_rss_kb to the table at the stack top. */
void pb_lua_open_diag(lua_State *L);

/* Reads window=, stride=, max_tokens= and seed= from the pb.eval options
 * table at idx into o. Returns 1 when window= is present (perplexity
 * evaluation), 0 otherwise; raises on invalid values. Call it before any
 * temporary model change, since it may raise. */
int pb_lua_lm_eval_opts(lua_State *L, int idx, pb_lm_eval_opts *o);

/* Pushes {[n] = {loss=, ppl=, tokens=, windows=, accuracy=, stride=, seq_len=,
 * length=, n=, window=}} for every length in the array at lengths_idx.
 * Returns -1 with err (and nothing pushed) on failure; never raises except
 * on out-of-memory in Lua itself. */
int pb_lua_eval_lm(lua_State *L, pb_model *m, pb_task *t, const pb_lm_eval_opts *o,
                   int lengths_idx, pb_error *err);

#endif
