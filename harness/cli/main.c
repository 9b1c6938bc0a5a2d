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

#include "../run/bench.h"
#include "../core/blas_info.h"
#include "../core/blas_select.h"
#include "../core/kernels.h"
#include "../core/parallel.h"
#include "../bind/lua_api.h"
#include "../core/version.h"
#include "../bind/lua_args.h"

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
    "  info                             posbench, BLAS library and kernel (and how it\n"
    "                                   was chosen), CPU model and SIMD features\n"
    "  sweep STUDY [key=value ...] [--plan|--local [N]|--slurm ...|--commands]\n"
    "                                   a study's grid of runs: plan it, run what is\n"
    "                                   not done (N workers, Slurm job arrays, or one\n"
    "                                   command per run), then collect (docs/sweeps.md)\n"
    "  collect STUDY [key=value ...] [--allow-partial]\n"
    "                                   tables and reports from the run directories;\n"
    "                                   exit 3 naming the runs not done\n"
    "  bench [key=value ...]            training throughput on random tokens:\n"
    "                                   d= layers= heads= T= batch= vocab= encoding=\n"
    "                                   steps= warmup= threads= (1..256)\n"
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

typedef struct run_args {
    int argc;
    char **argv;
    const char *mode;  /* "run", "list", "sweep", "collect" */
    int code;          /* exit status the sweep engine chose */
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

    if (strcmp(a->mode, "sweep") == 0 || strcmp(a->mode, "collect") == 0) {
        lua_getglobal(L, "require");
        lua_pushstring(L, "posbench.sweep");
        lua_call(L, 1, 1);
        lua_getfield(L, -1, "main");
        lua_pushstring(L, a->mode);
        lua_createtable(L, a->argc, 0);
        for (int i = 0; i < a->argc; i++) {
            lua_pushstring(L, a->argv[i]);
            lua_rawseti(L, -2, i + 1);
        }
        lua_call(L, 2, 1);
        a->code = (int)lua_tointeger(L, -1);
        return 0;
    }
    if (strcmp(a->mode, "list") == 0) {
        lua_getfield(L, pb, "cli_list");
        for (int i = 0; i < a->argc; i++) lua_pushstring(L, a->argv[i]);
        lua_call(L, a->argc, 0);
        return 0;
    }
    /* run SCRIPT key=value... */
    const char *script = a->argv[0];
    pb_lua_push_args(L, a->argc - 1, a->argv + 1);
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
    run_args a = {argc, argv, mode, 0};
    lua_pushcfunction(L, traceback);
    lua_pushcfunction(L, pmain);
    lua_pushlightuserdata(L, &a);
    int status = lua_pcall(L, 1, 0, 1);
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        fprintf(stderr, "posbench: error: %s\n", msg ? msg : "(error object is not a string)");
    }
    lua_close(L);
    return status == LUA_OK ? a.code : 1;
}

/* `posbench info`: what a slow or odd result needs explained. */
static int print_info(void) {
    pb_blas_info info;
    pb_blas_info_get(&info);
    printf("posbench=%s\n", PB_VERSION);
    printf("cores=%ld\n", sysconf(_SC_NPROCESSORS_ONLN));
    pb_blas_info_print(stdout, &info);
    return 0;
}

int main(int argc, char **argv) {
    /* First of all: OpenBLAS's kernel can only change before it starts,
     * which means in a fresh process image. */
    pb_blas_select_at_startup(argv);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        puts("posbench " PB_VERSION);
        return 0;
    }
    /* Beyond the thread limit libgomp's first team can fail to start, and
     * libgomp answers that with a crash: refuse it before any computation. */
    if (!pb_omp_env_ok(getenv("OMP_NUM_THREADS"))) {
        fprintf(stderr, "posbench: OMP_NUM_THREADS=%s: thread counts must be integers in "
                PB_THREADS_RANGE " (unset it, or pass threads= to pb.threads "
                "or bench)\n", getenv("OMP_NUM_THREADS"));
        return 2;
    }
    {
        char msg[256];
        if (pb_kernels_from_env(msg, sizeof msg)) {
            fprintf(stderr, "posbench: %s\n", msg);
            return 2;
        }
    }
    if (strcmp(argv[1], "run") == 0) {
        if (argc < 3) {
            fprintf(stderr, "posbench: run needs a script: posbench run SCRIPT.lua [key=value ...]\n");
            return 2;
        }
        return run_lua("run", argc - 2, argv + 2);
    }
    if (strcmp(argv[1], "list") == 0) return run_lua("list", argc - 2, argv + 2);
    if (strcmp(argv[1], "sweep") == 0 || strcmp(argv[1], "collect") == 0) {
        if (argc < 3) {
            fprintf(stderr, "posbench: %s needs a study: posbench %s STUDY [key=value ...]\n",
                    argv[1], argv[1]);
            return 2;
        }
        return run_lua(argv[1], argc - 2, argv + 2);
    }
    if (strcmp(argv[1], "bench") == 0) return pb_bench_main(argc - 2, argv + 2);
    if (strcmp(argv[1], "info") == 0) return print_info();
    if (strcmp(argv[1], "blas-peak") == 0) return pb_bench_blas_peak_main(argc - 2, argv + 2);
    fprintf(stderr, "posbench: unknown command '%s'\n\n%s", argv[1], usage);
    return 2;
}
