/* Lua binding of the metrics (harness/metrics_*.h): the table pb.metrics
 * and the model method model:forward. See lua_metrics.c for the calls. */
#ifndef PB_LUA_METRICS_H
#define PB_LUA_METRICS_H

#include <lua.h>

/* Adds `metrics` (a table of functions) to the module table at the stack
 * top, and `forward` to the model methods (call after pb_lua_open_model). */
void pb_lua_open_metrics(lua_State *L);

#endif
