/* Shared by the files of the metrics binding: lua_metrics.c (the entry
 * point and these helpers), lua_metrics_encoding.c (metrics of an
 * encoding's table and positions), lua_metrics_rope.c (RoPE angles in a
 * number format, without a model) and lua_metrics_model.c (metrics of a
 * trained model, model:forward). */
#ifndef PB_LUA_METRICS_INTERNAL_H
#define PB_LUA_METRICS_INTERNAL_H

#include <gsl/gsl_rng.h>
#include <lauxlib.h>
#include <lua.h>

#include "../numerics/format.h"
#include "lua_push.h"

/* Positions, lengths and shifts of the metrics stay below this. */
#define MAX_METRIC_POS (1 << 20)

/* Scratch memory owned by the Lua stack, so a raised error frees it. */
void *pb_lua_scratch(lua_State *L, size_t bytes);

/* The caller frees it; nothing between allocation and gsl_rng_free may
 * raise a Lua error. */
gsl_rng *pb_lua_new_rng(lua_State *L, unsigned long seed);

/* A format name at t[key] (t at idx) into f; 0 when absent. */
int pb_lua_read_format(lua_State *L, int idx, const char *key, pb_format *f,
                       const char *what);

/* The functions of each part, for pb.metrics. */
extern const luaL_Reg pb_lua_metrics_encoding_funcs[];
extern const luaL_Reg pb_lua_metrics_rope_funcs[];
extern const luaL_Reg pb_lua_metrics_model_funcs[];
/* model:forward(tokens, {positions=}) */
int pb_lua_model_forward(lua_State *L);

#endif
