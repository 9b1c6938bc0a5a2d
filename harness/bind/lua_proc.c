/* Process primitives the sweep engine (harness/lua/posbench/sweep.lua)
 * needs: workers and waits (io/proc.h), plus thin wrappers of single
 * system calls. Files of a results directory are core._rfs
 * (lua_results_fs.c). Failures are
 * returned as nil plus a message, never raised, except for bad arguments. */
#include "lua_proc.h"

#include <errno.h>
#include <lauxlib.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../io/proc.h"
#include "../io/results_fs.h"

static int push_error(lua_State *L, const pb_error *err) {
    luaL_pushfail(L);
    lua_pushstring(L, err->msg);
    return 2;
}

static int push_fail(lua_State *L, const char *what, const char *path) {
    luaL_pushfail(L);
    lua_pushfstring(L, "%s '%s': %s", what, path, strerror(errno));
    return 2;
}

/* spawn({argv...}, root, logpath) -> pid, or nil and a message (pb_spawn;
 * the log is a file of the results directory root: pb_rfs_open_append). */
static int l_spawn(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    const char *root = luaL_checkstring(L, 2);
    const char *log = luaL_checkstring(L, 3);
    int n = (int)luaL_len(L, 1);
    if (n < 1) return luaL_error(L, "spawn: empty argv");
    const char **argv = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, 1, i + 1);
        argv[i] = luaL_checkstring(L, -1);
        lua_pop(L, 1); /* the strings stay alive in the table */
    }
    argv[n] = NULL;
    pb_error err;
    int fd = pb_rfs_open_append(root, log, &err);
    if (fd < 0) return push_error(L, &err);
    pid_t pid = pb_spawn(argv, fd, &err);
    close(fd);
    if (pid < 0) return push_error(L, &err);
    lua_pushinteger(L, pid);
    return 1;
}

/* wait([pid [, nohang]]) -> pid, code (pb_wait_child); nil when nothing
 * finished (nohang) or no child is left. */
static int l_wait(lua_State *L) {
    int code = 0;
    pid_t pid = pb_wait_child((pid_t)luaL_optinteger(L, 1, -1), lua_toboolean(L, 2), &code);
    if (!pid) {
        luaL_pushfail(L);
        return 1;
    }
    lua_pushinteger(L, pid);
    lua_pushinteger(L, code);
    return 2;
}

/* alive(pid): the process exists on this host (EPERM counts as alive). */
static int l_alive(lua_State *L) {
    lua_Integer pid = luaL_checkinteger(L, 1);
    lua_pushboolean(L, pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM));
    return 1;
}

/* kill(pid, signal number) -> true, or nil and a message. */
static int l_kill(lua_State *L) {
    pid_t pid = (pid_t)luaL_checkinteger(L, 1);
    int sig = (int)luaL_optinteger(L, 2, SIGTERM);
    if (kill(pid, sig) != 0) return push_fail(L, "kill", "pid");
    lua_pushboolean(L, 1);
    return 1;
}

static int l_hostname(lua_State *L) {
    char buf[256];
    if (gethostname(buf, sizeof buf) != 0) strcpy(buf, "unknown");
    buf[sizeof buf - 1] = 0;
    lua_pushstring(L, buf);
    return 1;
}

static int l_getpid(lua_State *L) {
    lua_pushinteger(L, getpid());
    return 1;
}

/* exe() -> absolute path of the running binary (what workers re-run). */
static int l_exe(lua_State *L) {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return push_fail(L, "readlink", "/proc/self/exe");
    lua_pushlstring(L, buf, (size_t)n);
    return 1;
}

/* sleep(seconds) */
static int l_sleep(lua_State *L) {
    double s = luaL_checknumber(L, 1);
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    return 0;
}

static const luaL_Reg proc_funcs[] = {
    {"spawn", l_spawn},     {"wait", l_wait},       {"alive", l_alive},
    {"kill", l_kill},       {"hostname", l_hostname}, {"getpid", l_getpid},
    {"exe", l_exe},         {"sleep", l_sleep},
    {NULL, NULL},
};

int pb_lua_open_proc(lua_State *L) {
    luaL_checktype(L, -1, LUA_TTABLE);
    lua_newtable(L);
    luaL_setfuncs(L, proc_funcs, 0);
    lua_setfield(L, -2, "_proc");
    return 0;
}
