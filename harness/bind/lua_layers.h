/* Lua binding of per-layer records (lua_layers.c). */
#ifndef PB_LUA_LAYERS_H
#define PB_LUA_LAYERS_H

#include <lua.h>

#include "../model/model.h"

/* When the pb.model table at idx has a layers list or a short form
 * (pattern / every with local_layer / global_layer), pushes the expanded
 * records (a userdata, which must stay on the stack until the model is
 * built), points c->specs at them and returns 1; otherwise pushes nothing
 * and returns 0. Entries are parsed over c's encoding and options. */
int pb_lua_layer_specs(lua_State *L, int idx, pb_model_config *c);

/* The expanded list of m as a Lua array of entry tables. */
void pb_lua_push_layer_specs(lua_State *L, const pb_model *m);

#endif
