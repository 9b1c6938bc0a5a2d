/* Shared by the files of the Lua binding (lua_*.c). */
#ifndef PB_LUA_INTERNAL_H
#define PB_LUA_INTERNAL_H

#include <lauxlib.h>
#include <lua.h>

#include "../../encodings/standalone.h"
#include "../model/model.h"
#include "../core/opts.h"
#include "../numerics/precision.h"
#include "../tasks/task.h"

#define PB_MODEL_MT "posbench.model"
#define PB_TASK_MT "posbench.task"

typedef struct pb_lua_model {
    pb_model m;
    int alive;
} pb_lua_model;

typedef struct pb_lua_task {
    pb_task t;
    int alive;
} pb_lua_task;

pb_model *pb_lua_check_model(lua_State *L, int idx);
pb_task *pb_lua_check_task(lua_State *L, int idx);

/* Raise a Lua error with err's message (never returns). */
int pb_lua_raise(lua_State *L, const pb_error *err);

/* Flatten the table at idx (or nil) into opts; nested tables become dotted
 * keys. `what` names the table in errors. Raises on bad values. */
void pb_lua_to_opts(lua_State *L, int idx, pb_opts *o, const char *what);
/* Push a flat options list as a Lua table {key = value}. */
void pb_lua_push_opts(lua_State *L, const pb_opts *o);

/* Table field readers that raise errors naming `what.key`. */
int pb_lua_field_int(lua_State *L, int idx, const char *key, int dflt, const char *what);
double pb_lua_field_num(lua_State *L, int idx, const char *key, double dflt,
                        const char *what);
int pb_lua_field_bool(lua_State *L, int idx, const char *key, int dflt, const char *what);
const char *pb_lua_field_str(lua_State *L, int idx, const char *key, const char *dflt,
                             const char *what);
/* Raise if the table at idx has a key not in the NULL-terminated list. */
void pb_lua_check_keys(lua_State *L, int idx, const char *const *valid, const char *what);

/* A precision table {site = "bf16" | {format=, rounding=, overflow=,
 * subnormals=}} (or nil) into p, every other site fp32: flattened here,
 * parsed by pb_precision_from_opts. */
void pb_lua_to_precision(lua_State *L, int idx, pb_precision *p);

/* Pushes a new pb.encoding object: encoding `name` outside a model, opened
 * from the settings table at idx (or nil), positions below max_pos; the
 * engine splits the settings (pb_standalone_open). Errors start with
 * what. The object stays valid while it is on the stack. */
pb_standalone_encoding *pb_lua_push_encoding(lua_State *L, const char *name, int idx,
                                             int max_pos, const char *what);

/* Module parts, each adding its functions to the table at the stack top. */
void pb_lua_open_model(lua_State *L);
void pb_lua_open_train(lua_State *L);
int pb_lua_open_format(lua_State *L);
int pb_lua_open_util(lua_State *L);

#endif
