/* Lua binding: pb.diagnose (attention entropy/distance and encoding range
 * per length) and pb.peak_rss_kb. */
#include "lua_diag.h"

#include <math.h>
#include <sys/resource.h>

#include "../run/diagnostics.h"
#include "lua_internal.h"
#include "lua_push.h"
#include "lua_util.h"

/* {{h1, h2, ...} per layer} from x[layers][heads] */
static double mean_of(const double *x, int n) {
    double s = 0.0;
    for (int i = 0; i < n; i++) s += x[i];
    return n ? s / n : NAN;
}

static void push_diag(lua_State *L, const pb_diag_result *r) {
    int LH = r->layers * r->heads;
    lua_newtable(L);
    pb_lua_set_int(L, "length", r->length);
    pb_lua_set_int(L, "seq_len", r->seq_len);
    pb_lua_set_int(L, "train_len", r->train_len);
    pb_lua_set_int(L, "train_seq_len", r->train_seq_len);
    lua_pushboolean(L, r->length <= r->train_len);
    lua_setfield(L, -2, "in_dist");
    if (r->has_attention) {
        pb_lua_set_int(L, "queries", r->queries);
        pb_lua_push_layer_heads(L, r->entropy, r->layers, r->heads);
        lua_setfield(L, -2, "entropy");
        pb_lua_push_layer_heads(L, r->entropy_norm, r->layers, r->heads);
        lua_setfield(L, -2, "entropy_norm");
        pb_lua_push_layer_heads(L, r->distance, r->layers, r->heads);
        lua_setfield(L, -2, "distance");
        pb_lua_set_num(L, "entropy_mean", mean_of(r->entropy, LH));
        pb_lua_set_num(L, "entropy_norm_mean", mean_of(r->entropy_norm, LH));
        pb_lua_set_num(L, "distance_mean", mean_of(r->distance, LH));
    } else {
        lua_pushstring(L, r->skipped);
        lua_setfield(L, -2, "attention_skipped");
    }
    pb_lua_set_int(L, "max_pos", r->max_pos);
    pb_lua_set_int(L, "train_max_pos", r->train_max_pos);
    pb_lua_set_int(L, "positions_beyond_train", r->positions_beyond_train);
    if (r->table_size >= 0) {
        lua_newtable(L);
        pb_lua_set_int(L, "table_size", r->table_size);
        pb_lua_set_int(L, "beyond_table", r->beyond_table);
        pb_lua_set_int(L, "untrained_rows", r->untrained_rows);
        lua_setfield(L, -2, "learned");
    }
    if (r->buckets > 0) {
        lua_newtable(L);
        pb_lua_set_int(L, "buckets", r->buckets);
        pb_lua_set_int(L, "buckets_train", r->buckets_train);
        pb_lua_set_int(L, "buckets_eval", r->buckets_eval);
        pb_lua_set_int(L, "unseen_buckets", r->unseen_buckets);
        pb_lua_set_num(L, "unseen_pair_frac", r->unseen_pair_frac);
        lua_setfield(L, -2, "t5");
    }
}

/* Integer at lengths[i], or a Lua error naming it. */
static int length_at(lua_State *L, int idx, int i, const char *what) {
    lua_geti(L, idx, i);
    int ok;
    lua_Integer n = lua_tointegerx(L, -1, &ok);
    lua_pop(L, 1);
    if (!ok || n <= 0 || n > (1 << 24))
        return luaL_error(L, "%s: lengths[%d] must be a positive integer", what, i);
    return (int)n;
}

/* pb.diagnose(model, task, {lengths=, samples=16, seed=12345, max_seq_len=1024})
 * -> {[length] = {entropy={{...}}, distance=, ...}} (diagnostics.h) */
static int l_diagnose(lua_State *L) {
    const char *what = "pb.diagnose";
    pb_model *m = pb_lua_check_model(L, 1);
    pb_task *t = pb_lua_check_task(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    static const char *const keys[] = {"lengths", "samples", "seed", "max_seq_len", NULL};
    pb_lua_check_keys(L, 3, keys, what);
    pb_diag_opts o;
    pb_diag_opts_defaults(&o);
    o.samples = pb_lua_field_int(L, 3, "samples", o.samples, what);
    o.seed = pb_lua_field_seed(L, 3, "seed", o.seed, what);
    o.max_seq_len = pb_lua_field_int(L, 3, "max_seq_len", o.max_seq_len, what);
    if (o.samples <= 0) return luaL_error(L, "%s: samples must be positive, got %d", what, o.samples);
    lua_getfield(L, 3, "lengths"); /* index 4 */
    if (lua_isnil(L, 4)) return luaL_error(L, "%s: lengths={...} is required", what);
    if (!lua_istable(L, 4))
        return luaL_error(L, "%s: lengths must be a table such as {8, 16}, not the %s '%s'", what,
                          luaL_typename(L, 4), luaL_tolstring(L, 4, NULL));
    int n_len = (int)luaL_len(L, 4);
    lua_newtable(L);
    for (int i = 1; i <= n_len; i++) {
        int n = length_at(L, 4, i, what);
        pb_diag_result r;
        pb_error err;
        if (pb_diagnose_length(m, t, n, &o, &r, &err))
            return luaL_error(L, "%s at length %d: %s", what, n, err.msg);
        push_diag(L, &r);
        pb_diag_result_free(&r);
        lua_seti(L, -2, n);
    }
    return 1;
}

/* pb.peak_rss_kb() -> the process's peak resident memory in KiB
 * (getrusage ru_maxrss). */
static int l_peak_rss_kb(lua_State *L) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return luaL_error(L, "pb.peak_rss_kb: getrusage failed");
    lua_pushinteger(L, (lua_Integer)ru.ru_maxrss);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"diagnose", l_diagnose},
    {"peak_rss_kb", l_peak_rss_kb},
    {NULL, NULL}};

void pb_lua_open_diag(lua_State *L) {
    luaL_setfuncs(L, funcs, 0);
}
