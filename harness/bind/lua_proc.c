/* Process primitives the sweep engine (harness/lua/posbench/sweep.lua) and
 * the results directories need: workers, waits and run-directory locks
 * (io/proc.h), plus thin wrappers of single system calls. Failures are
 * returned as nil plus a message, never raised, except for bad arguments. */
#include "lua_proc.h"

#include <dirent.h>
#include <errno.h>
#include <lauxlib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../io/proc.h"

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

/* spawn({argv...}, logpath) -> pid, or nil and a message (pb_spawn). */
static int l_spawn(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    const char *log = luaL_checkstring(L, 2);
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
    pid_t pid = pb_spawn(argv, log, &err);
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

/* listdir(path) -> sorted-by-caller array of names (no . and ..), or nil
 * and a message. */
static int l_listdir(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    DIR *d = opendir(path);
    if (!d) return push_fail(L, "listdir", path);
    lua_newtable(L);
    int i = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        lua_pushstring(L, e->d_name);
        lua_rawseti(L, -2, ++i);
    }
    closedir(d);
    return 1;
}

/* stat(path) -> {mtime=, size=, dir=bool} or nil. */
static int l_stat(lua_State *L) {
    struct stat st;
    if (stat(luaL_checkstring(L, 1), &st) != 0) {
        luaL_pushfail(L);
        return 1;
    }
    lua_createtable(L, 0, 3);
    lua_pushnumber(L, (double)st.st_mtim.tv_sec + 1e-9 * (double)st.st_mtim.tv_nsec);
    lua_setfield(L, -2, "mtime");
    lua_pushinteger(L, (lua_Integer)st.st_size);
    lua_setfield(L, -2, "size");
    lua_pushboolean(L, S_ISDIR(st.st_mode));
    lua_setfield(L, -2, "dir");
    return 1;
}

/* sleep(seconds) */
static int l_sleep(lua_State *L) {
    double s = luaL_checknumber(L, 1);
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    return 0;
}

/* lock(path, text) -> fd, previous text; or nil, the holder's text, true
 * (busy); or nil and an error message (pb_lock_acquire). */
static int l_lock(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    size_t tlen;
    const char *text = luaL_checklstring(L, 2, &tlen);
    char prev[1024];
    int fd = -1;
    pb_error err;
    switch (pb_lock_acquire(path, text, tlen, &fd, prev, sizeof prev, &err)) {
    case PB_LOCK_TAKEN:
        lua_pushinteger(L, fd);
        lua_pushstring(L, prev);
        return 2;
    case PB_LOCK_BUSY:
        luaL_pushfail(L);
        lua_pushstring(L, prev);
        lua_pushboolean(L, 1);
        return 3;
    default:
        return push_error(L, &err);
    }
}

/* unlock(fd, path) (pb_lock_release) */
static int l_unlock(lua_State *L) {
    pb_lock_release((int)luaL_checkinteger(L, 1), luaL_checkstring(L, 2));
    return 0;
}

static const luaL_Reg proc_funcs[] = {
    {"spawn", l_spawn},     {"wait", l_wait},       {"alive", l_alive},
    {"kill", l_kill},       {"hostname", l_hostname}, {"getpid", l_getpid},
    {"exe", l_exe},         {"listdir", l_listdir}, {"stat", l_stat},
    {"sleep", l_sleep},     {"lock", l_lock},       {"unlock", l_unlock},
    {NULL, NULL},
};

int pb_lua_open_proc(lua_State *L) {
    luaL_checktype(L, -1, LUA_TTABLE);
    lua_newtable(L);
    luaL_setfuncs(L, proc_funcs, 0);
    lua_setfield(L, -2, "_proc");
    return 0;
}
