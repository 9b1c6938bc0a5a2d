/* pb.format(...) userdata and pb.formats(): see lua_format.h. */
#include "lua_format.h"

#include <lauxlib.h>
#include <string.h>

#include "../numerics/format.h"
#include "../numerics/format_policy.h"
#include "lua_internal.h"
#include "lua_push.h"

#define FORMAT_MT "posbench.format"

/* A format plus the state of its stochastic-rounding stream: each rounded
 * value takes the next index, so a seeded format gives the same sequence of
 * results every run. */
typedef struct {
    pb_format f;
    uint64_t stream;
    uint64_t next;
} lua_format;

static const char *const option_names[] = {"overflow", "rounding", "subnormals", "seed", NULL};

/* pb.format(name [, options]) */
static int l_format(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    pb_error err;
    pb_format f;
    if (pb_format_parse(name, &f, &err)) return luaL_argerror(L, 1, err.msg);
    uint64_t seed = 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        pb_lua_check_keys(L, 2, option_names, "pb.format");
        /* the policies are parsed where the precision sites parse them */
        pb_opts o;
        pb_lua_to_opts(L, 2, &o, "pb.format");
        for (int k = 0; pb_format_policies[k]; k++) {
            const pb_opt *v = pb_opts_find(&o, pb_format_policies[k]);
            if (v && pb_format_set_policy(&f, pb_format_policies[k], v, "pb.format", &err))
                return pb_lua_raise(L, &err);
        }
        if (pb_format_check_policies(&f, "pb.format", &err)) return pb_lua_raise(L, &err);
        if (lua_getfield(L, 2, "seed") != LUA_TNIL) {
            int isint = 0;
            lua_Integer s = lua_tointegerx(L, -1, &isint);
            if (!isint || lua_type(L, -1) != LUA_TNUMBER)
                return luaL_error(L, "pb.format: option 'seed' must be an integer (got %s)",
                                  luaL_tolstring(L, -1, NULL));
            seed = (uint64_t)s;
        }
        lua_pop(L, 1);
    }
    lua_format *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->f = f;
    u->stream = seed;
    u->next = 0;
    luaL_setmetatable(L, FORMAT_MT);
    return 1;
}

static lua_Number round_one(lua_format *u, lua_Number x) {
    return pb_format_round(&u->f, (float)x, u->stream, u->next++);
}

/* f:round(x) for a number, or f:round({x1, x2, ...}) -> new array */
static int l_round(lua_State *L) {
    lua_format *u = luaL_checkudata(L, 1, FORMAT_MT);
    if (lua_type(L, 2) != LUA_TTABLE) {
        lua_pushnumber(L, round_one(u, luaL_checknumber(L, 2)));
        return 1;
    }
    lua_Integer n = luaL_len(L, 2);
    lua_createtable(L, n > 0 && n < (1 << 30) ? (int)n : 0, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 2, i);
        int isnum = 0;
        lua_Number x = lua_tonumberx(L, -1, &isnum);
        if (!isnum || lua_type(L, -1) != LUA_TNUMBER)
            return luaL_error(L, "format:round: element %I of the array is not a number "
                                 "(a %s)", i, luaL_typename(L, -1));
        lua_pop(L, 1);
        lua_pushnumber(L, round_one(u, x));
        lua_seti(L, -2, i);
    }
    return 1;
}

static int l_info(lua_State *L) {
    lua_format *u = luaL_checkudata(L, 1, FORMAT_MT);
    const pb_format *f = &u->f;
    lua_createtable(L, 0, 10);
    lua_pushstring(L, f->name);
    lua_setfield(L, -2, "name");
    pb_lua_set_int(L, "exp_bits", f->exp_bits);
    pb_lua_set_int(L, "man_bits", f->man_bits);
    pb_lua_set_int(L, "bias", f->bias);
    pb_lua_set_num(L, "max", f->max_finite);
    pb_lua_set_num(L, "min_normal", f->min_normal);
    pb_lua_set_num(L, "min_subnormal", f->min_subnormal);
    lua_pushstring(L, pb_rounding_name(f->rounding));
    lua_setfield(L, -2, "rounding");
    lua_pushstring(L, pb_overflow_name(f->overflow));
    lua_setfield(L, -2, "overflow");
    lua_pushboolean(L, f->subnormals);
    lua_setfield(L, -2, "subnormals");
    return 1;
}

static int l_tostring(lua_State *L) {
    lua_format *u = luaL_checkudata(L, 1, FORMAT_MT);
    char buf[256];
    pb_format_describe(&u->f, buf, sizeof buf);
    lua_pushstring(L, buf);
    return 1;
}

/* pb.formats() -> {{name=, description=}, ...}, the named formats then eXmY */
static int l_formats(lua_State *L) {
    int n = 0;
    while (pb_format_names[n]) n++;
    lua_createtable(L, n + 1, 0);
    for (int i = 0; i < n; i++) {
        pb_format f;
        char buf[256];
        pb_format_parse(pb_format_names[i], &f, NULL);
        pb_format_describe(&f, buf, sizeof buf);
        lua_createtable(L, 0, 2);
        lua_pushstring(L, f.name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, buf);
        lua_setfield(L, -2, "description");
        lua_seti(L, -2, i + 1);
    }
    lua_createtable(L, 0, 2);
    lua_pushstring(L, "eXmY");
    lua_setfield(L, -2, "name");
    lua_pushstring(L, "eXmY: 1/X/Y bias 2^(X-1)-1, X exponent bits 2..8, Y mantissa bits "
                      "0..23 (e.g. e3m4, e8m7); IEEE-like: the top exponent is inf/NaN");
    lua_setfield(L, -2, "description");
    lua_seti(L, -2, n + 1);
    return 1;
}

static const luaL_Reg format_methods[] = {
    {"round", l_round},
    {"info", l_info},
    {NULL, NULL},
};

static const luaL_Reg format_meta[] = {
    {"__tostring", l_tostring},
    {NULL, NULL},
};

static const luaL_Reg module_funcs[] = {
    {"format", l_format},
    {"formats", l_formats},
    {NULL, NULL},
};

int pb_lua_open_format(lua_State *L) {
    luaL_checktype(L, -1, LUA_TTABLE);
    if (luaL_newmetatable(L, FORMAT_MT)) {
        luaL_setfuncs(L, format_meta, 0);
        luaL_newlib(L, format_methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_setfuncs(L, module_funcs, 0);
    return 0;
}
