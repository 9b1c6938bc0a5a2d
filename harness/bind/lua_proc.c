/* Process primitives the sweep engine (harness/lua/posbench/sweep.lua) and
 * the results directories need: start worker processes and wait for them,
 * tell whether a pid is alive, and hold an exclusive lock on a run
 * directory. Failures are returned as nil plus a message, never raised,
 * except for bad arguments. */
#include "lua_proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int push_fail(lua_State *L, const char *what, const char *path) {
    luaL_pushfail(L);
    lua_pushfstring(L, "%s '%s': %s", what, path, strerror(errno));
    return 2;
}

/* spawn({argv...}, logpath) -> pid: runs argv[1] (a path) with stdout and
 * stderr appended to logpath, stdin from /dev/null. */
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
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (fd < 0) return push_fail(L, "spawn: cannot open log", log);
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(fd);
        return push_fail(L, "spawn: fork failed for", argv[0]);
    }
    if (pid == 0) {
        /* A worker ends with its sweep (its run stays unfinished and is
         * redone by the next sweep). */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(143);
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0) dup2(null, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], (char *const *)argv);
        dprintf(2, "spawn: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fd);
    lua_pushinteger(L, pid);
    return 1;
}

/* wait([pid [, nohang]]) -> pid, code: code is the exit status, or 128 +
 * the signal that ended it. nil when nothing finished (nohang) or no
 * child is left. */
static int l_wait(lua_State *L) {
    pid_t want = (pid_t)luaL_optinteger(L, 1, -1);
    int nohang = lua_toboolean(L, 2);
    int status = 0;
    pid_t pid;
    do pid = waitpid(want, &status, nohang ? WNOHANG : 0);
    while (pid < 0 && errno == EINTR);
    if (pid <= 0) {
        luaL_pushfail(L);
        return 1;
    }
    lua_pushinteger(L, pid);
    if (WIFEXITED(status)) lua_pushinteger(L, WEXITSTATUS(status));
    else if (WIFSIGNALED(status)) lua_pushinteger(L, 128 + WTERMSIG(status));
    else lua_pushinteger(L, 255);
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

/* lock(path, text) -> fd, or nil and the current holder's text (or an
 * error message). An exclusive flock on path, which holds `text` (who
 * owns it) while held. The kernel drops the flock when its process dies,
 * so a lock file left by a dead process is simply taken over. The inode
 * check guards against a holder that unlinked the file between our open
 * and our flock. */
static int l_lock(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    size_t tlen;
    const char *text = luaL_checklstring(L, 2, &tlen);
    for (int attempt = 0; attempt < 20; attempt++) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0) return push_fail(L, "lock: cannot open", path);
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            char buf[1024];
            ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
            close(fd);
            luaL_pushfail(L);
            if (e != EWOULDBLOCK) {
                lua_pushfstring(L, "lock '%s': %s", path, strerror(e));
                return 2;
            }
            lua_pushlstring(L, buf, n > 0 ? (size_t)n : 0);
            lua_pushboolean(L, 1); /* busy */
            return 3;
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
            a.st_dev == b.st_dev) {
            /* Whatever the file held belonged to a dead holder: return it. */
            char prev[1024];
            ssize_t n = pread(fd, prev, sizeof prev - 1, 0);
            if (ftruncate(fd, 0) != 0 || pwrite(fd, text, tlen, 0) != (ssize_t)tlen) {
                close(fd);
                return push_fail(L, "lock: cannot write", path);
            }
            lua_pushinteger(L, fd);
            lua_pushlstring(L, prev, n > 0 ? (size_t)n : 0);
            return 2;
        }
        close(fd); /* the file we locked was unlinked meanwhile: retry */
    }
    luaL_pushfail(L);
    lua_pushfstring(L, "lock '%s': the lock file keeps changing", path);
    return 2;
}

/* unlock(fd, path): removes the lock file, then releases the lock. */
static int l_unlock(lua_State *L) {
    int fd = (int)luaL_checkinteger(L, 1);
    const char *path = luaL_checkstring(L, 2);
    unlink(path);
    close(fd);
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
