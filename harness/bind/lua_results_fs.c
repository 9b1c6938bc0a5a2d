/* The table core._rfs: file operations in a results directory, one call of
 * io/results_fs.h each (the results library, harness/lua/posbench/
 * results.lua and sweep.lua, uses these and nothing else there). root is
 * the results root; nil for read(root, path) means a file outside any
 * results directory. Failures return nil and a message; bad arguments
 * raise. */
#include "lua_results_fs.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../io/results_fs.h"
#include "lua_util.h"

static int push_error(lua_State *L, const pb_error *err) {
    luaL_pushfail(L);
    lua_pushstring(L, err->msg);
    return 2;
}

static const char *kind_word(pb_rfs_kind k) {
    static const char *const words[] = {"missing", "file", "dir", "link", "other", "error"};
    return words[k];
}

/* lstat(path) -> nil when missing, else {kind = "file"|"dir"|"link"|"other"|"error",
 * mtime =, size =}. Never follows a symbolic link. */
static int l_lstat(lua_State *L) {
    struct stat st;
    pb_rfs_kind k = pb_rfs_lstat(pb_lua_check_path(L, 1, "lstat"), &st);
    if (k == PB_RFS_MISSING) {
        luaL_pushfail(L);
        return 1;
    }
    lua_createtable(L, 0, 3);
    lua_pushstring(L, kind_word(k));
    lua_setfield(L, -2, "kind");
    if (k != PB_RFS_ERROR) {
        lua_pushnumber(L, (double)st.st_mtim.tv_sec + 1e-9 * (double)st.st_mtim.tv_nsec);
        lua_setfield(L, -2, "mtime");
        lua_pushinteger(L, (lua_Integer)st.st_size);
        lua_setfield(L, -2, "size");
    }
    return 1;
}

/* check(root, path) -> kind of path's last component (as lstat's kind,
 * "missing" included), or nil and why path is not safely below root. */
static int l_check(lua_State *L) {
    const char *root = pb_lua_check_path(L, 1, "check");
    const char *path = pb_lua_check_path(L, 2, "check");
    pb_rfs_kind k;
    pb_error err;
    if (pb_rfs_check(root, path, &k, &err)) return push_error(L, &err);
    lua_pushstring(L, kind_word(k));
    return 1;
}

/* mkdir(root, dir): raises on failure (a results directory must exist). */
static int l_mkdir(lua_State *L) {
    const char *root = pb_lua_check_path(L, 1, "mkdir");
    const char *dir = pb_lua_check_path(L, 2, "mkdir");
    pb_error err;
    if (pb_rfs_mkdir(root, dir, &err)) return luaL_error(L, "%s", err.msg);
    return 0;
}

/* write(root, path, text): atomically; raises on failure. */
static int l_write(lua_State *L) {
    const char *root = pb_lua_check_path(L, 1, "write");
    const char *path = pb_lua_check_path(L, 2, "write");
    size_t len;
    const char *data = luaL_checklstring(L, 3, &len);
    pb_error err;
    if (pb_rfs_write(root, path, data, len, &err)) return luaL_error(L, "write_atomic: %s", err.msg);
    return 0;
}

/* append(root, path, text) -> true, or nil and a message. */
static int l_append(lua_State *L) {
    const char *root = pb_lua_check_path(L, 1, "append");
    const char *path = pb_lua_check_path(L, 2, "append");
    size_t len;
    const char *data = luaL_checklstring(L, 3, &len);
    pb_error err;
    int fd = pb_rfs_open_append(root, path, &err);
    if (fd < 0) return push_error(L, &err);
    FILE *f = fdopen(fd, "a");
    int ok = f && fwrite(data, 1, len, f) == len;
    if (f ? fclose(f) != 0 : close(fd) != 0) ok = 0;
    if (!ok) {
        luaL_pushfail(L);
        lua_pushfstring(L, "%s: write failed", path);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* remove(root, path) -> true (removed or absent), or nil and a message. */
static int l_remove(lua_State *L) {
    const char *root = pb_lua_check_path(L, 1, "remove");
    const char *path = pb_lua_check_path(L, 2, "remove");
    pb_error err;
    if (pb_rfs_remove(root, path, &err)) return push_error(L, &err);
    lua_pushboolean(L, 1);
    return 1;
}

/* read(root|nil, path) -> text, or nil and a message. */
static int l_read(lua_State *L) {
    const char *root = lua_isnoneornil(L, 1) ? NULL : pb_lua_check_path(L, 1, "read");
    const char *path = pb_lua_check_path(L, 2, "read");
    char *data;
    size_t len;
    pb_error err;
    if (pb_rfs_read(root, path, &data, &len, &err)) return push_error(L, &err);
    lua_pushlstring(L, data, len);
    free(data);
    return 1;
}

/* list(root, dir) -> array of names (no . and ..; the caller sorts), or
 * nil and a message. */
static int l_list(lua_State *L) {
    const char *root = pb_lua_check_path(L, 1, "list");
    const char *dir = pb_lua_check_path(L, 2, "list");
    pb_error err;
    DIR *d = pb_rfs_opendir(root, dir, &err);
    if (!d) return push_error(L, &err);
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

/* lock(root, path, text) -> fd, previous text; or nil, the holder's text,
 * true (busy); or nil and an error message (pb_lock_acquire). */
static int l_lock(lua_State *L) {
    const char *root = pb_lua_check_path(L, 1, "lock");
    const char *path = pb_lua_check_path(L, 2, "lock");
    size_t tlen;
    const char *text = luaL_checklstring(L, 3, &tlen);
    char prev[1024];
    int fd = -1;
    pb_error err;
    switch (pb_lock_acquire(root, path, text, tlen, &fd, prev, sizeof prev, &err)) {
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

/* holder(root, path) -> false (nobody holds it), the holder's text, or nil
 * and an error message (pb_lock_peek: nothing is written). */
static int l_holder(lua_State *L) {
    const char *root = pb_lua_check_path(L, 1, "holder");
    const char *path = pb_lua_check_path(L, 2, "holder");
    char prev[1024];
    pb_error err;
    switch (pb_lock_peek(root, path, prev, sizeof prev, &err)) {
    case PB_LOCK_FREE:
        lua_pushboolean(L, 0);
        return 1;
    case PB_LOCK_BUSY:
        lua_pushstring(L, prev);
        return 1;
    default:
        return push_error(L, &err);
    }
}

/* unlock(fd, path) (pb_lock_release) */
static int l_unlock(lua_State *L) {
    pb_lock_release((int)luaL_checkinteger(L, 1), pb_lua_check_path(L, 2, "unlock"));
    return 0;
}

static const luaL_Reg rfs_funcs[] = {
    {"lstat", l_lstat},   {"check", l_check},   {"mkdir", l_mkdir},   {"write", l_write},
    {"append", l_append}, {"remove", l_remove}, {"read", l_read},     {"list", l_list},
    {"lock", l_lock},     {"holder", l_holder}, {"unlock", l_unlock}, {NULL, NULL},
};

int pb_lua_open_results_fs(lua_State *L) {
    luaL_checktype(L, -1, LUA_TTABLE);
    lua_newtable(L);
    luaL_setfuncs(L, rfs_funcs, 0);
    lua_setfield(L, -2, "_rfs");
    return 0;
}
