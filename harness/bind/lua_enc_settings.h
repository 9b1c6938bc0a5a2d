/* The settings that build an encoding outside a model, shared by
 * pb.encoding (lua_probe.c) and the name form of pb.metrics.* (lua_metrics.c):
 * a table holding the encoding's own options mixed with the geometry keys
 * d, d_head, heads, causal, max_len, precision and seed. */
#ifndef PB_LUA_GEOMETRY_H
#define PB_LUA_GEOMETRY_H

#include <lua.h>

#include "../../encodings/encoding.h"

/* Pushes a new table: the table at idx (or nil: empty) without the
 * geometry keys, i.e. the encoding's own options. */
void pb_lua_push_enc_options(lua_State *L, int idx);

/* d, heads, d_head from any two of them (or defaults d = 64, heads = 4),
 * causal (true) and max_len (64, at most max_pos) of the table at idx (or
 * nil: all defaults). Errors are prefixed with what. */
pb_geometry pb_lua_to_geometry(lua_State *L, int idx, int max_pos, const char *what);

/* precision= of the table at idx (or nil: none). */
void pb_lua_geometry_precision(lua_State *L, int idx, pb_precision *prec);

#endif
