/* libFuzzer target: posbench.json's decoder (harness/lua/posbench/json.lua)
 * in an embedded Lua state. Any input must either decode or fail with a
 * "json.decode: ..." error (any other error is a bug in the decoder); what
 * decodes must encode, and encoding is a fixed point: encode(decode(e)) == e
 * for e = encode(decode(input)). Values JSON cannot hold (numbers beyond
 * double range read as inf) end the check at the encode step. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef PB_SOURCE_ROOT
#define PB_SOURCE_ROOT "."
#endif

static const char *check_src =
    "local json = require 'posbench.json'\n"
    "return function(s)\n"
    "  local ok, v = pcall(json.decode, s)\n"
    "  if not ok then\n"
    "    if type(v) ~= 'string' or not v:find('^json%.decode: ') then\n"
    "      error('decode raised a foreign error: ' .. tostring(v))\n"
    "    end\n"
    "    return\n"
    "  end\n"
    "  local ok1, e1 = pcall(json.encode, v, {nan = 'error'})\n"
    "  if not ok1 then\n"
    "    if not tostring(e1):find('which JSON cannot represent') then\n"
    "      error('decoded value does not encode: ' .. tostring(e1))\n"
    "    end\n"
    "    return\n"
    "  end\n"
    "  local e2 = json.encode(json.decode(e1), {nan = 'error'})\n"
    "  if e1 ~= e2 then error('round trip differs:\\n' .. e1 .. '\\n' .. e2) end\n"
    "end\n";

static lua_State *L;

/* Coverage of the Lua code for libFuzzer, which sees only instrumented C:
 * a line hook counts (previous line, line) pairs in libFuzzer's extra
 * counters, so inputs that take new paths through json.lua are kept. */
__attribute__((used, section("__libfuzzer_extra_counters")))
static uint8_t lua_edges[1 << 14];
static int prev_line;

static void line_hook(lua_State *S, lua_Debug *ar) {
    (void)S;
    unsigned pair = (unsigned)ar->currentline * 2654435761u ^ (unsigned)prev_line;
    lua_edges[pair % sizeof lua_edges]++;
    prev_line = ar->currentline;
}

static int stub_core(lua_State *S) {  /* json.lua needs none of the C core */
    lua_newtable(S);
    return 1;
}

static void setup(void) {
    L = luaL_newstate();
    luaL_openlibs(L);
    lua_getglobal(L, "package");
    lua_pushstring(L, PB_SOURCE_ROOT "/harness/lua/?.lua");
    lua_setfield(L, -2, "path");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, stub_core);
    lua_setfield(L, -2, "posbench.core");
    lua_pop(L, 2);
    if (luaL_dostring(L, check_src) != LUA_OK) {
        fprintf(stderr, "fuzz_json: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_setglobal(L, "check");
    lua_sethook(L, line_hook, LUA_MASKLINE, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!L) setup();
    prev_line = 0;
    lua_getglobal(L, "check");
    lua_pushlstring(L, (const char *)data, size);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        fprintf(stderr, "fuzz_json: %s\n", lua_tostring(L, -1));
        abort();
    }
    /* Free this input's garbage now: libFuzzer counts mallocs and frees
     * to find leaks. */
    lua_gc(L, LUA_GCCOLLECT);
    return 0;
}
