/* Encodings defined in Lua (pb.register_encoding) and the encoding probe
 * (pb.encoding). docs/encodings.md describes both. */
#ifndef PB_LUA_ENCODING_H
#define PB_LUA_ENCODING_H

#include <lua.h>

#include "../../encodings/encoding.h"

/* Add register_encoding to the module table at the stack top. */
void pb_lua_open_encoding(lua_State *L);
/* Add encoding (the probe constructor) to the module table at the stack top. */
void pb_lua_open_probe(lua_State *L);

/* 1 when t was registered from Lua (for `posbench list encodings`). */
int pb_lua_encoding_is_lua(const pb_encoding_type *t);

/* Non-zero while a Lua encoding function is running (inside a forward pass
 * or table build): closing a model or task then is refused. */
int pb_lua_encoding_callbacks_running(void);

#endif
