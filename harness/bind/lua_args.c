/* pb.args from the command line (lua_args.h). */
#include "lua_args.h"

#include <lauxlib.h>
#include <string.h>

static void push_value(lua_State *L, const char *v) {
    if (strcmp(v, "true") == 0) lua_pushboolean(L, 1);
    else if (strcmp(v, "false") == 0) lua_pushboolean(L, 0);
    else if (!lua_stringtonumber(L, v)) lua_pushstring(L, v);
}

void pb_lua_push_args(lua_State *L, int argc, char **argv) {
    lua_createtable(L, 0, argc > 0 ? argc : 0);
    for (int i = 0; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq || eq == argv[i])
            luaL_error(L, "argument '%s' is not of the form key=value", argv[i]);
        lua_pushlstring(L, argv[i], (size_t)(eq - argv[i]));
        push_value(L, eq + 1);
        lua_settable(L, -3);
    }
}
