/* The posbench command line: runs Lua experiment scripts under a protected
 * call with a traceback, lists what is available, and runs the speed
 * benchmark. Exit status: 0 on success, 1 on any error, 2 on bad usage. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "lua_api.h"

static const char *usage =
    "usage: posbench COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  run SCRIPT.lua [key=value ...]   run an experiment script; key=value pairs\n"
    "                                   reach it as pb.args (numbers and true/false\n"
    "                                   converted)\n"
    "  list encodings|tasks|formats|schemes|sites [--names] [FILE.lua ...]\n"
    "                                   what is available, with options and sources;\n"
    "                                   FILE.lua scripts run first (to list the\n"
    "                                   encodings they register)\n"
    "  bench [key=value ...]            training throughput on random tokens:\n"
    "                                   d= layers= heads= T= batch= vocab= encoding=\n"
    "                                   steps= warmup= threads=\n"
    "                                   precision=site:format,... (emulated rounding)\n"
    "                                   eval=1 (forward only, no gradients);\n"
    "                                   prints tokens_per_s=N last\n"
    "  --help                           this text\n"
    "  --version                        the version\n"
    "\n"
    "Results go to results/<experiment>/ (relative to the current directory).\n"
    "See README.md for the Lua API.\n";

/* Directory of the Lua library: next to the binary's source tree when run
 * from a build directory, else the source root compiled in. */
static void lua_dir(char *out, size_t len) {
    char exe[2048];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(out, len, "%s/../harness/lua", exe);
            char probe[4200];
            snprintf(probe, sizeof probe, "%s/posbench.lua", out);
            if (access(probe, R_OK) == 0) return;
        }
    }
    snprintf(out, len, "%s/harness/lua", PB_SOURCE_ROOT);
}

static int traceback(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (!msg) msg = luaL_tolstring(L, 1, NULL);
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Push value of a key=value string: number, boolean, or the string. */
static void push_arg_value(lua_State *L, const char *v) {
    if (strcmp(v, "true") == 0) lua_pushboolean(L, 1);
    else if (strcmp(v, "false") == 0) lua_pushboolean(L, 0);
    else if (!lua_stringtonumber(L, v)) lua_pushstring(L, v);
}

typedef struct run_args {
    int argc;
    char **argv;
    const char *mode;  /* "run", "list" */
} run_args;

static int pmain(lua_State *L) {
    run_args *a = lua_touserdata(L, 1);
    luaL_openlibs(L);
    char dir[4096];
    lua_dir(dir, sizeof dir);
    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", dir, dir);
    lua_getfield(L, -2, "path");
    lua_concat(L, 2);
    lua_setfield(L, -2, "path");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_posbench_core);
    lua_setfield(L, -2, "posbench.core");
    lua_pop(L, 2);
    lua_getglobal(L, "require");
    lua_pushstring(L, "posbench");
    lua_call(L, 1, 1);
    lua_pushvalue(L, -1);
    lua_setglobal(L, "pb");
    int pb = lua_gettop(L);

    if (strcmp(a->mode, "list") == 0) {
        lua_getfield(L, pb, "cli_list");
        for (int i = 0; i < a->argc; i++) lua_pushstring(L, a->argv[i]);
        lua_call(L, a->argc, 0);
        return 0;
    }
    /* run SCRIPT key=value... */
    const char *script = a->argv[0];
    lua_newtable(L);
    for (int i = 1; i < a->argc; i++) {
        const char *eq = strchr(a->argv[i], '=');
        if (!eq || eq == a->argv[i])
            return luaL_error(L, "argument '%s' is not of the form key=value", a->argv[i]);
        lua_pushlstring(L, a->argv[i], (size_t)(eq - a->argv[i]));
        push_arg_value(L, eq + 1);
        lua_settable(L, -3);
    }
    lua_setfield(L, pb, "args");
    lua_newtable(L); /* global arg, as the lua interpreter sets it */
    for (int i = 0; i < a->argc; i++) {
        lua_pushstring(L, a->argv[i]);
        lua_rawseti(L, -2, i);
    }
    lua_setglobal(L, "arg");
    if (luaL_loadfile(L, script) != LUA_OK) return lua_error(L);
    lua_call(L, 0, 0);
    return 0;
}

static int run_lua(const char *mode, int argc, char **argv) {
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "posbench: cannot create the Lua state (out of memory)\n");
        return 1;
    }
    run_args a = {argc, argv, mode};
    lua_pushcfunction(L, traceback);
    lua_pushcfunction(L, pmain);
    lua_pushlightuserdata(L, &a);
    int status = lua_pcall(L, 1, 0, 1);
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        fprintf(stderr, "posbench: error: %s\n", msg ? msg : "(error object is not a string)");
    }
    lua_close(L);
    return status == LUA_OK ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        puts("posbench 0.1.0");
        return 0;
    }
    if (strcmp(argv[1], "run") == 0) {
        if (argc < 3) {
            fprintf(stderr, "posbench: run needs a script: posbench run SCRIPT.lua [key=value ...]\n");
            return 2;
        }
        return run_lua("run", argc - 2, argv + 2);
    }
    if (strcmp(argv[1], "list") == 0) return run_lua("list", argc - 2, argv + 2);
    if (strcmp(argv[1], "bench") == 0) return pb_bench_main(argc - 2, argv + 2);
    fprintf(stderr, "posbench: unknown command '%s'\n\n%s", argv[1], usage);
    return 2;
}
