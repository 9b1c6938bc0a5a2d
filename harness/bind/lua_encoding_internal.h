/* What lua_encoding.c (registration, fixed forms) and lua_encoding_learn.c
 * (learnable forms) share: the record of a Lua encoding type and the
 * conversions both use. */
#ifndef PB_LUA_ENCODING_INTERNAL_H
#define PB_LUA_ENCODING_INTERNAL_H

#include <lua.h>

#include "../../encodings/callback.h"

typedef struct lua_enc_type {
    pb_cb_type cb;         /* first: e->type points here */
    lua_State *co;         /* callback thread */
    int ref;               /* registry: the record {fn =, defaults =, thread =, name =,
                            * form =, source =; learnable: params =, relative =,
                            * driver =} */
    char *name, *summary, *reference, *options_doc;
    char **options;        /* NULL-terminated declared option names */
} lua_enc_type;

static inline const lua_enc_type *pb_lua_enc_type_of(const pb_encoding *e) {
    return (const lua_enc_type *)e->type;
}

/* A number as the functions receive it (an integer when it is one). */
void pb_lua_enc_push_arg(lua_State *co, double v);
/* The opts table the functions get last (record at stack index 2). */
void pb_lua_enc_push_opts(lua_State *co, const pb_encoding *e, const pb_opts *o);
/* Calls into Lua running now (pb_lua_encoding_callbacks_running). */
extern int pb_lua_enc_callbacks_running_count;
/* pb_cb_host.learn of Lua encodings. */
int pb_lua_enc_learn(const pb_encoding *e, pb_cb_request *r, pb_error *err);

#endif
