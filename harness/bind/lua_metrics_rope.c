/* pb.metrics of RoPE angles in a number format, without a model
 * (metrics_rope_precision.h), and the decay bound of RoPE logits. */
#include <string.h>

#include "lua_internal.h"
#include "lua_metrics_internal.h"
#include "lua_util.h"
#include "../metrics/metrics_decay.h"
#include "../metrics/metrics_rope_precision.h"

/* ---- RoPE angles in a format ---------------------------------------------------- */

typedef struct rope_args {
    pb_format f;
    pb_site site;
    int L, n;
    double *theta;
} rope_args;

static pb_site parse_site(lua_State *L, const char *name, int allow_qk, const char *what) {
    static const pb_site sites[] = {PB_SITE_POSITIONS, PB_SITE_ANGLES, PB_SITE_TABLES,
                                    PB_SITE_QK_POST};
    for (int i = 0; i < (allow_qk ? 4 : 3); i++)
        if (strcmp(name, pb_site_names[sites[i]]) == 0) return sites[i];
    return (pb_site)luaL_error(L, "%s: site '%s' is not one of positions, angles, tables%s",
                               what, name, allow_qk ? ", qk_post" : "");
}

static rope_args rope_common(lua_State *L, const char *what, int allow_qk,
                             const char *const *keys) {
    luaL_checktype(L, 1, LUA_TTABLE);
    pb_lua_check_keys(L, 1, keys, what);
    rope_args r;
    if (!pb_lua_read_format(L, 1, "format", &r.f, what)) luaL_error(L, "%s: format= is required", what);
    r.site = parse_site(L, pb_lua_field_str(L, 1, "site", "angles", what), allow_qk, what);
    r.L = pb_lua_field_int(L, 1, "length", 65536, what);
    if (r.L < 1 || r.L > (1 << 24)) luaL_error(L, "%s: length must be in [1, 2^24]", what);
    int dh = pb_lua_field_int(L, 1, "d_head", 64, what);
    double base = pb_lua_field_num(L, 1, "base", 10000.0, what);
    if (dh < 2 || dh % 2 || dh > 8192) luaL_error(L, "%s: d_head must be even, in [2, 8192]", what);
    r.n = dh / 2;
    r.theta = pb_lua_scratch(L, sizeof(double) * (size_t)r.n);
    pb_error err;
    if (pb_rope_thetas(dh, base, r.theta, &err)) luaL_error(L, "%s: %s", what, err.msg);
    return r;
}

static int l_rope_distinct(lua_State *L) {
    const char *what = "pb.metrics.rope_distinct";
    static const char *const keys[] = {"format", "site", "length", "d_head", "base", NULL};
    rope_args r = rope_common(L, what, 0, keys);
    long *per = pb_lua_scratch(L, sizeof(long) * (size_t)r.n);
    long count;
    pb_error err;
    if (pb_metric_rope_distinct(&r.f, r.site, r.theta, r.n, r.L, &count, per, &err))
        luaL_error(L, "%s: %s", what, err.msg);
    lua_newtable(L);
    lua_pushinteger(L, count);
    lua_setfield(L, -2, "count");
    lua_createtable(L, r.n, 0);
    for (int k = 0; k < r.n; k++) {
        lua_pushinteger(L, per[k]);
        lua_rawseti(L, -2, k + 1);
    }
    lua_setfield(L, -2, "per_freq");
    return 1;
}

static int l_rope_phase_error(lua_State *L) {
    const char *what = "pb.metrics.rope_phase_error";
    static const char *const keys[] = {"format", "site", "length", "d_head", "base",
                                       "per_position", NULL};
    rope_args r = rope_common(L, what, 0, keys);
    int want_pos = pb_lua_field_bool(L, 1, "per_position", 0, what);
    double *per = pb_lua_scratch(L, sizeof(double) * (size_t)r.n);
    double *pp = want_pos ? pb_lua_scratch(L, sizeof(double) * (size_t)r.L) : NULL;
    double mx;
    pb_error err;
    if (pb_metric_rope_phase_error(&r.f, r.site, r.theta, r.n, r.L, &mx, per, pp, &err))
        luaL_error(L, "%s: %s", what, err.msg);
    lua_newtable(L);
    pb_lua_set_num(L, "max", mx);
    pb_lua_push_doubles(L, per, r.n);
    lua_setfield(L, -2, "per_freq");
    if (pp) {
        pb_lua_push_doubles(L, pp, r.L);
        lua_setfield(L, -2, "per_position");
    }
    return 1;
}

static int l_rope_drift(lua_State *L) {
    const char *what = "pb.metrics.rope_drift";
    static const char *const keys[] = {"format", "site", "length", "d_head", "base", "offset",
                                       "positions", "stride", "samples", "seed", NULL};
    rope_args r = rope_common(L, what, 1, keys);
    int offset = pb_lua_field_int(L, 1, "offset", 1, what);
    int samples = pb_lua_field_int(L, 1, "samples", 16, what);
    if (samples < 1 || samples > 100000) luaL_error(L, "%s: samples must be in [1, 100000]", what);
    int stride = pb_lua_field_int(L, 1, "stride", 1, what);
    unsigned long seed = pb_lua_field_seed(L, 1, "seed", 1, what);
    if (stride < 1) luaL_error(L, "%s: stride must be >= 1", what);
    if (offset < 0 || offset > (1 << 24)) luaL_error(L, "%s: offset must be in [0, 2^24]", what);
    int np;
    int *pos;
    lua_getfield(L, 1, "positions");
    if (lua_istable(L, -1)) {
        np = (int)luaL_len(L, -1);
        pos = pb_lua_scratch(L, sizeof(int) * (size_t)(np ? np : 1));
        for (int i = 0; i < np; i++) {
            lua_geti(L, -2, i + 1);
            int ok;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            if (!ok || v < 0 || v > (1 << 24))
                luaL_error(L, "%s: positions[%d] must be an integer in [0, 2^24]", what, i + 1);
            pos[i] = (int)v;
            lua_pop(L, 1);
        }
    } else {
        np = (r.L + stride - 1) / stride;
        pos = pb_lua_scratch(L, sizeof(int) * (size_t)np);
        for (int i = 0; i < np; i++) pos[i] = i * stride;
    }
    double *dev = pb_lua_scratch(L, sizeof(double) * (size_t)(np ? np : 1));
    gsl_rng *rng = pb_lua_new_rng(L, seed);
    pb_error err;
    int rc = pb_metric_rope_drift(&r.f, r.site, r.theta, r.n, offset, pos, np, samples, rng,
                                  dev, &err);
    gsl_rng_free(rng);
    if (rc) luaL_error(L, "%s: %s", what, err.msg);
    double mx = 0.0;
    for (int i = 0; i < np; i++) mx = dev[i] > mx ? dev[i] : mx;
    lua_newtable(L);
    lua_createtable(L, np, 0);
    for (int i = 0; i < np; i++) {
        lua_pushinteger(L, pos[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "positions");
    pb_lua_push_doubles(L, dev, np);
    lua_setfield(L, -2, "deviation");
    pb_lua_set_num(L, "max", mx);
    return 1;
}

static int l_decay_bound(lua_State *L) {
    const char *what = "pb.metrics.decay_bound";
    luaL_checktype(L, 1, LUA_TTABLE);
    static const char *const keys[] = {"d", "base", "distances", NULL};
    pb_lua_check_keys(L, 1, keys, what);
    int d = pb_lua_field_int(L, 1, "d", 128, what);
    double base = pb_lua_field_num(L, 1, "base", 10000.0, what);
    if (d < 2 || d > 1 << 16) luaL_error(L, "%s: d must be in [2, 65536]", what);
    lua_getfield(L, 1, "distances");
    if (!lua_istable(L, -1)) luaL_error(L, "%s: distances={...} is required", what);
    int n = (int)luaL_len(L, -1);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_geti(L, -2, i + 1);
        double r = luaL_checknumber(L, -1);
        lua_pop(L, 1);
        lua_pushnumber(L, pb_metric_decay_bound(d, base, r));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

const luaL_Reg pb_lua_metrics_rope_funcs[] = {
    {"rope_distinct", l_rope_distinct},
    {"rope_phase_error", l_rope_phase_error},
    {"rope_drift", l_rope_drift},
    {"decay_bound", l_decay_bound},
    {NULL, NULL}};
