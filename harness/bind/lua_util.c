/* C helpers for the Lua results library; see lua_util.h for the list. */
#include "lua_util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gsl/gsl_cdf.h>
#include <lauxlib.h>

#include "../core/blas_info.h"
#include "../core/encode.h"
#include "../core/machine.h"
#include "../core/opts.h"
#include "../core/pb_error.h"
#include "../core/quote.h"
#include "../io/atomic_file.h"
#include "../io/dirs.h"

#ifndef PB_SOURCE_ROOT
#define PB_SOURCE_ROOT "."
#endif

const char *pb_lua_check_path(lua_State *L, int idx, const char *what) {
    size_t len;
    const char *path = luaL_checklstring(L, idx, &len);
    if (strlen(path) != len) luaL_error(L, "%s: path contains a NUL byte", what);
    return path;
}

/* write_atomic(path, data) */
static int l_write_atomic(lua_State *L) {
    const char *path = pb_lua_check_path(L, 1, "write_atomic");
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    pb_error err = {{0}};
    if (pb_write_atomic(path, data, len, &err) != 0) {
        if (strstr(err.msg, path)) return luaL_error(L, "write_atomic: %s", err.msg);
        return luaL_error(L, "write_atomic '%s': %s", path, err.msg);
    }
    return 0;
}

/* mkdir_p(path): every missing component of path, like `mkdir -p`. */
static int l_mkdir_p(lua_State *L) {
    const char *path = pb_lua_check_path(L, 1, "mkdir_p");
    luaL_argcheck(L, path[0] != '\0', 1, "empty path");
    pb_error err;
    if (pb_mkdir_p(path, &err)) return luaL_error(L, "%s", err.msg);
    return 0;
}

static int l_file_exists(lua_State *L) {
    struct stat st;
    lua_pushboolean(L, stat(pb_lua_check_path(L, 1, "file_exists"), &st) == 0);
    return 1;
}

/* realpath(path) -> absolute path, or nil and a message naming the path. */
static int l_realpath(lua_State *L) {
    const char *path = pb_lua_check_path(L, 1, "realpath");
    char *r = realpath(path, NULL);
    if (!r) {
        luaL_pushfail(L);
        lua_pushfstring(L, "realpath '%s': %s", path, strerror(errno));
        return 2;
    }
    lua_pushstring(L, r);
    free(r);
    return 1;
}

/* t_quantile(p, dof): x with P(T <= x) = p for Student's t with dof degrees
 * of freedom; the CI half-width is t_quantile(0.975, n - 1) * se. */
static int l_t_quantile(lua_State *L) {
    double p = luaL_checknumber(L, 1);
    double dof = luaL_checknumber(L, 2);
    luaL_argcheck(L, p > 0.0 && p < 1.0, 1, "probability must be in (0, 1)");
    luaL_argcheck(L, dof > 0.0 && isfinite(dof), 2, "degrees of freedom must be > 0");
    lua_pushnumber(L, gsl_cdf_tdist_Pinv(p, dof));
    return 1;
}

static int l_isatty_stderr(lua_State *L) {
    lua_pushboolean(L, isatty(STDERR_FILENO));
    return 1;
}

static int l_now(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec);
    return 1;
}

static void set_str(lua_State *L, const char *k, const char *v) {
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

/* machine() -> {cpu=, cores=, memory=bytes, os=, kernel=, arch=, blas=,
 * blas_kernel=, blas_selection=, cpu_best_kernel=, cpu_features=, kernels=}: recorded
 * with every run so timings can be compared (and explained) across machines. */
static int l_machine(lua_State *L) {
    pb_blas_info blas;
    pb_blas_info_get(&blas); /* reads the CPU's model name too */
    pb_machine m;
    pb_machine_get(&m, blas.cpu_model);
    lua_createtable(L, 0, 12);
    set_str(L, "cpu", m.cpu);
    lua_pushinteger(L, m.cores);
    lua_setfield(L, -2, "cores");
    lua_pushinteger(L, (lua_Integer)m.memory);
    lua_setfield(L, -2, "memory");
    set_str(L, "os", m.os);
    if (m.kernel[0]) set_str(L, "kernel", m.kernel);
    if (m.arch[0]) set_str(L, "arch", m.arch);
    set_str(L, "blas", blas.library);
    set_str(L, "blas_kernel", blas.kernel);
    set_str(L, "blas_selection", blas.selection);
    set_str(L, "cpu_best_kernel", blas.best_kernel);
    set_str(L, "cpu_features", blas.cpu_features);
    set_str(L, "kernels", blas.kernels);
    return 1;
}

/* hash64(s): FNV-1a 64 of the bytes of s, as 16 hex digits; names configs
 * in results. */
static int l_hash64(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)pb_fnv1a64(s, len));
    lua_pushstring(L, hex);
    return 1;
}

/* base64(s): used to embed figures in self-contained HTML reports. */
static int l_base64(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, pb_base64_len(len));
    luaL_pushresultsize(&b, pb_base64(s, len, out));
    return 1;
}

static int l_source_root(lua_State *L) {
    lua_pushstring(L, PB_SOURCE_ROOT);
    return 1;
}

unsigned long pb_lua_field_seed(lua_State *L, int idx, const char *key, unsigned long dflt,
                                const char *what) {
    if (lua_isnoneornil(L, idx)) return dflt;
    if (lua_getfield(L, idx, key) == LUA_TNIL) {
        lua_pop(L, 1);
        return dflt;
    }
    int ok = lua_type(L, -1) == LUA_TNUMBER;
    double v = ok ? lua_tonumber(L, -1) : 0.0;
    if (!ok || !pb_seed_valid(v))
        luaL_error(L, "%s: '%s' must be an integer in [0, " PB_SEED_MAX_TEXT "], got %s", what,
                   key, luaL_tolstring(L, -1, NULL));
    lua_pop(L, 1);
    return (unsigned long)v;
}

/* quote_shell / quote_gnuplot / quote_slurm_pattern(text) -> quoted text;
 * a refused text raises the message of core/quote.c. */
static int push_quoted(lua_State *L, char *(*quote)(const char *, size_t, pb_error *)) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    pb_error err = {{0}};
    char *q = quote(s, n, &err);
    if (!q) return luaL_error(L, "%s", err.msg);
    lua_pushstring(L, q);
    free(q);
    return 1;
}
static int l_quote_shell(lua_State *L) { return push_quoted(L, pb_quote_shell); }
static int l_quote_gnuplot(lua_State *L) { return push_quoted(L, pb_quote_gnuplot); }
static int l_quote_slurm_pattern(lua_State *L) { return push_quoted(L, pb_quote_slurm_pattern); }

static const luaL_Reg util_funcs[] = {
    {"write_atomic", l_write_atomic},
    {"mkdir_p", l_mkdir_p},
    {"file_exists", l_file_exists},
    {"realpath", l_realpath},
    {"t_quantile", l_t_quantile},
    {"isatty_stderr", l_isatty_stderr},
    {"now", l_now},
    {"machine", l_machine},
    {"hash64", l_hash64},
    {"base64", l_base64},
    {"source_root", l_source_root},
    {"quote_shell", l_quote_shell},
    {"quote_gnuplot", l_quote_gnuplot},
    {"quote_slurm_pattern", l_quote_slurm_pattern},
    {NULL, NULL},
};

int pb_lua_open_util(lua_State *L) {
    luaL_checktype(L, -1, LUA_TTABLE);
    luaL_setfuncs(L, util_funcs, 0);
    return 0;
}
