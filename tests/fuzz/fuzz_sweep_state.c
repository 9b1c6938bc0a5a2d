/* libFuzzer target: the sweep state reader, R:status (Experiment:run_state
 * and results.classify in harness/lua/posbench/results.lua, reading through
 * core._rfs, harness/io/results_fs.c), on a real run directory built from
 * each input. The input is a flags byte, then the texts of summary.json,
 * config.json, failed.json and lock separated by NUL bytes. Flags:
 *   bits 0-1  summary.json: 0 absent, 1 a file, 2 a directory,
 *             3 a symbolic link to a file holding the text
 *   bit 2     config.json present     bit 3  failed.json present
 *   bit 4     lock present            bit 5  the lock is held (flock)
 *   bit 6     the run directory is a symbolic link to the real one
 * The plan's hash is HASH (in the dictionary). Checks beyond "no crash":
 * R:status never raises and answers one of the five states; "done" only
 * for a regular summary.json that decodes to an object whose
 * run_info.config_hash is HASH, next to a config.json whose config_hash is
 * HASH, in a run directory that is not a link; "running" only when the lock
 * is held. */
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../harness/bind/lua_results_fs.h"

#ifndef PB_SOURCE_ROOT
#define PB_SOURCE_ROOT "."
#endif

#define HASH "0123456789abcdef"

/* The one helper of harness/bind/lua_util.c the binding uses (lua_util.c
 * itself needs GSL, BLAS and the machine description). */
const char *pb_lua_check_path(lua_State *L, int idx, const char *what) {
    size_t len;
    const char *path = luaL_checklstring(L, idx, &len);
    if (strlen(path) != len) luaL_error(L, "%s: path contains a NUL byte", what);
    return path;
}

static const char *check_src =
    "local results = require 'posbench.results'\n"
    "local json = require 'posbench.json'\n"
    "local root, hash = ...\n"
    "local R = results.open('exp', { root = root })\n"
    "local states = { done = 1, stale = 1, failed = 1, running = 1, todo = 1 }\n"
    "local function decodes_to_hash(text, field)\n"
    "  if not text then return false end\n"
    "  local ok, v = pcall(json.decode, text)\n"
    "  if not ok or type(v) ~= 'table' then return false end\n"
    "  if field == 'run_info' then v = v.run_info end\n"
    "  return type(v) == 'table' and v.config_hash == hash\n"
    "end\n"
    "return function(summary_kind, summary, config, held, dir_link)\n"
    "  local ok, state, detail = pcall(R.status, R, 'run', hash)\n"
    "  if not ok then error('R:status raised: ' .. tostring(state)) end\n"
    "  if not states[state] then error('unknown state ' .. tostring(state)) end\n"
    "  if state == 'failed' and type(detail) ~= 'string' then error('failed without a reason') end\n"
    "  if state == 'done' then\n"
    "    if summary_kind ~= 1 or dir_link then error('done without a regular summary.json in a real directory') end\n"
    "    if not decodes_to_hash(summary, 'run_info') then error('done with an incomplete or other summary') end\n"
    "    if not decodes_to_hash(config, 'config') then error('done with a config.json of another hash') end\n"
    "  end\n"
    "  if state == 'running' and not held then error('running without a held lock') end\n"
    "end\n";

static lua_State *L;
static char base[] = "/tmp/pb_fuzz_sweep_state.XXXXXX";
static char root[64], expdir[96], rundir[128], realdir[128];

__attribute__((used, section("__libfuzzer_extra_counters")))
static uint8_t lua_edges[1 << 14];
static int prev_line;

static void line_hook(lua_State *S, lua_Debug *ar) {
    (void)S;
    unsigned pair = (unsigned)ar->currentline * 2654435761u ^ (unsigned)prev_line;
    lua_edges[pair % sizeof lua_edges]++;
    prev_line = ar->currentline;
}

static int stub_proc_pid(lua_State *S) {
    lua_pushinteger(S, getpid());
    return 1;
}

/* posbench.core with only what the state reader needs: _rfs, and _proc's
 * getpid (lock texts). */
static int stub_core(lua_State *S) {
    lua_newtable(S);
    pb_lua_open_results_fs(S);
    lua_newtable(S);
    lua_pushcfunction(S, stub_proc_pid);
    lua_setfield(S, -2, "getpid");
    lua_setfield(S, -2, "_proc");
    return 1;
}

static void die(const char *what) {
    fprintf(stderr, "fuzz_sweep_state: %s\n", what);
    abort();
}

static void setup(void) {
    if (!mkdtemp(base)) die("mkdtemp");
    snprintf(root, sizeof root, "%s/results", base);
    snprintf(expdir, sizeof expdir, "%s/exp", root);
    snprintf(rundir, sizeof rundir, "%s/run", expdir);
    snprintf(realdir, sizeof realdir, "%s/real", base);
    L = luaL_newstate();
    luaL_openlibs(L);
    lua_getglobal(L, "package");
    lua_pushstring(L, PB_SOURCE_ROOT "/harness/lua/?.lua");
    lua_setfield(L, -2, "path");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, stub_core);
    lua_setfield(L, -2, "posbench.core");
    lua_pop(L, 2);
    if (luaL_loadstring(L, check_src) != LUA_OK) die(lua_tostring(L, -1));
    lua_pushstring(L, root);
    lua_pushstring(L, HASH);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK) die(lua_tostring(L, -1));
    lua_setglobal(L, "check");
    lua_sethook(L, line_hook, LUA_MASKLINE, 0);
}

static void put(const char *dir, const char *name, const uint8_t *p, size_t n) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) die("cannot write a run file");
    if (n && write(fd, p, n) != (ssize_t)n) die("short write");
    close(fd);
}

/* Empties the previous input's run directory (a real one, or a link to
 * realdir) and leaves an empty realdir. */
static void clear(void) {
    static const char *const names[] = {"summary.json", "config.json", "failed.json", "lock"};
    const char *dirs[] = {rundir, realdir};
    struct stat st;
    for (int d = 0; d < 2; d++) {
        if (lstat(dirs[d], &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        for (int i = 0; i < 4; i++) {
            char path[256];
            snprintf(path, sizeof path, "%s/%s", dirs[d], names[i]);
            if (unlink(path) != 0) rmdir(path);
        }
    }
    if (lstat(rundir, &st) == 0 && (S_ISLNK(st.st_mode) ? unlink(rundir) : rmdir(rundir)) != 0)
        die("cannot empty the run directory");
    rmdir(realdir);
    if (mkdir(expdir, 0700) != 0 && lstat(expdir, &st) != 0) die("mkdir exp");
    if (mkdir(realdir, 0700) != 0) die("mkdir real");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!L) setup();
    if (size == 0) return 0;
    unsigned flags = data[0];
    const uint8_t *part[4] = {0};
    size_t len[4] = {0};
    size_t at = 1;
    for (int i = 0; i < 4; i++) {
        part[i] = data + at;
        const uint8_t *z = at < size ? memchr(data + at, 0, size - at) : NULL;
        len[i] = z ? (size_t)(z - (data + at)) : size - at;
        at = z ? at + len[i] + 1 : size;
    }
    clear();
    const char *dir = realdir; /* files go here; rundir is it or a link to it */
    int summary_kind = flags & 3, held = (flags & 48) == 48, dir_link = (flags & 64) != 0;
    char path[256];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    if (summary_kind == 1) put(dir, "summary.json", part[0], len[0]);
    if (summary_kind == 2 && mkdir(path, 0700) != 0) die("mkdir summary.json");
    if (summary_kind == 3) {
        put(base, "elsewhere.json", part[0], len[0]);
        char target[256];
        snprintf(target, sizeof target, "%s/elsewhere.json", base);
        if (symlink(target, path) != 0) die("symlink summary.json");
    }
    if (flags & 4) put(dir, "config.json", part[1], len[1]);
    if (flags & 8) put(dir, "failed.json", part[2], len[2]);
    int lock_fd = -1;
    if (flags & 16) {
        put(dir, "lock", part[3], len[3]);
        if (held) {
            snprintf(path, sizeof path, "%s/lock", dir);
            lock_fd = open(path, O_RDONLY);
            if (lock_fd < 0 || flock(lock_fd, LOCK_EX) != 0) die("flock");
        }
    }
    if (dir_link ? symlink(realdir, rundir) != 0 : rename(realdir, rundir) != 0)
        die("cannot place the run directory");

    prev_line = 0;
    lua_getglobal(L, "check");
    lua_pushinteger(L, summary_kind);
    if (summary_kind == 1 || summary_kind == 3) lua_pushlstring(L, (const char *)part[0], len[0]);
    else lua_pushnil(L);
    if (flags & 4) lua_pushlstring(L, (const char *)part[1], len[1]);
    else lua_pushnil(L);
    lua_pushboolean(L, held);
    lua_pushboolean(L, dir_link);
    int rc = lua_pcall(L, 5, 0, 0);
    if (lock_fd >= 0) close(lock_fd);
    if (rc != LUA_OK) die(lua_tostring(L, -1));
    lua_gc(L, LUA_GCCOLLECT);
    return 0;
}
