/* libFuzzer target: the key=value parser of `posbench run SCRIPT k=v ...`
 * (pb_lua_push_args, which builds pb.args). The input is split at newlines
 * into words. A word without '=' or with an empty key must fail with the
 * "not of the form key=value" error; otherwise every key's last word must
 * be in the table as a boolean, a number or the string itself. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../harness/bind/lua_args.h"

#define MAX_WORDS 64

typedef struct words {
    int n;
    char **v;
} words;

static int push(lua_State *S) {
    words *w = lua_touserdata(S, 1);
    pb_lua_push_args(S, w->n, w->v);
    return 1;
}

/* The value t[key] (at the stack top) is what word's value should give. */
static int value_ok(lua_State *S, const char *v) {
    if (!strcmp(v, "true") || !strcmp(v, "false"))
        return lua_isboolean(S, -1) && lua_toboolean(S, -1) == (v[0] == 't');
    if (lua_type(S, -1) == LUA_TNUMBER) {
        if (!lua_stringtonumber(S, v)) return 0;
        int same = lua_rawequal(S, -1, -2) || (lua_tonumber(S, -1) != lua_tonumber(S, -1));
        lua_pop(S, 1);
        return same;
    }
    return lua_type(S, -1) == LUA_TSTRING && !strcmp(lua_tostring(S, -1), v) &&
           lua_stringtonumber(S, v) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size + 1);
    char *argv[MAX_WORDS];
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    if (memchr(buf, '\0', size)) {  /* argv words cannot hold NUL */
        free(buf);
        return 0;
    }
    words w = {0, argv};
    for (char *p = buf; w.n < MAX_WORDS;) {
        argv[w.n++] = p;
        char *nl = strchr(p, '\n');
        if (!nl) break;
        *nl = '\0';
        p = nl + 1;
    }
    int bad = 0;
    for (int i = 0; i < w.n; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq || eq == argv[i]) bad = 1;
    }
    /* A state per input: everything it allocated is freed before the next
     * (libFuzzer counts mallocs and frees to find leaks). */
    lua_State *L = luaL_newstate();
    if (!L) abort();
    lua_pushcfunction(L, push);
    lua_pushlightuserdata(L, &w);
    int rc = lua_pcall(L, 1, 1, 0);
    if (bad) {
        if (rc == LUA_OK || !strstr(lua_tostring(L, -1), "is not of the form key=value")) abort();
    } else {
        if (rc != LUA_OK) abort();
        for (int i = 0; i < w.n; i++) {
            const char *eq = strchr(argv[i], '=');
            size_t klen = (size_t)(eq - argv[i]);
            int last = 1;
            for (int j = i + 1; j < w.n; j++)
                if (!strncmp(argv[j], argv[i], klen + 1)) last = 0;
            if (!last) continue;
            lua_pushlstring(L, argv[i], klen);
            lua_gettable(L, 1);
            if (!value_ok(L, eq + 1)) {
                fprintf(stderr, "fuzz_args: wrong value for '%s'\n", argv[i]);
                abort();
            }
            lua_pop(L, 1);
        }
    }
    lua_close(L);
    free(buf);
    return 0;
}
