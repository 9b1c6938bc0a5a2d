/* The encoding probe: pb.encoding(name, opts) -> an object that applies one
 * encoding (built-in or registered from Lua) outside any model, for
 * analysis, tests and plots:
 *
 *   enc:table(positions)                 additive code, one row per position
 *   enc:transform(vec, pos, {key=, head=}) q/k transform of one head vector
 *   enc:score(q, k, i, j, {causal=, head=, length=})
 *                                        logit q.k after the transforms, scaled,
 *                                        plus the bias; -inf when masked
 *   enc:bias(i, j, {head=})              the logit bias
 *   enc:info(), enc:params(), enc:set_params(array)
 *
 * Vectors and matrices are Lua arrays (1-based); heads are 1..H; positions
 * are 0-based integers, or {x, y} for 2D encodings. Every call goes through
 * the encoding's own hooks (after prepare()), so a probe sees exactly what a
 * model sees at the encoding's sites (positions, angles, tables); the dot
 * product and scale of :score are taken in double. */
#include <math.h>
#include <string.h>

#include "lua_encoding.h"
#include "lua_internal.h"

#define PB_ENCODER_MT "posbench.encoding"
/* Probe positions stay below this (the model's max_len bound). */
#define MAX_PROBE_POS (1 << 20)

/* The standalone encoding (encodings/standalone.h) and the binding's own
 * state: whether it is still open. */
typedef struct encoder {
    pb_standalone_encoding se;
    int alive;
} encoder;

static encoder *check_encoder(lua_State *L, int idx) {
    encoder *u = luaL_checkudata(L, idx, PB_ENCODER_MT);
    if (!u->alive) luaL_argerror(L, idx, "encoding probe has been closed");
    return u;
}

pb_standalone_encoding *pb_lua_push_encoding(lua_State *L, const char *name, int idx,
                                             int max_pos, const char *what) {
    idx = lua_absindex(L, idx);
    if (!lua_isnoneornil(L, idx)) luaL_checktype(L, idx, LUA_TTABLE);
    pb_opts settings;
    pb_lua_to_opts(L, idx, &settings, what);
    encoder *u = lua_newuserdatauv(L, sizeof *u, 0);
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, PB_ENCODER_MT);
    pb_error err;
    if (pb_standalone_open(&u->se, name, &settings, max_pos, what, &err))
        pb_lua_raise(L, &err);
    u->alive = 1;
    return &u->se;
}

/* pb.encoding(name, {enc options..., d=, d_head=, heads=, causal=, max_len=,
 * precision=, seed=}) -> encoder */
static int l_encoding(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    lua_settop(L, 2);
    pb_lua_push_encoding(L, name, 2, MAX_PROBE_POS, "pb.encoding");
    return 1;
}

static int l_encoder_gc(lua_State *L) {
    encoder *u = luaL_checkudata(L, 1, PB_ENCODER_MT);
    if (u->alive) pb_standalone_close(&u->se);
    u->alive = 0;
    return 0;
}

/* E:close() and <close>: refused inside an encoding callback, which may be
 * running for this very encoder (as model:close is). */
static int l_encoder_close(lua_State *L) {
    luaL_checkudata(L, 1, PB_ENCODER_MT);
    if (pb_lua_encoding_callbacks_running())
        return luaL_error(L, "encoding:close: cannot close an encoding inside an encoding "
                             "callback (it may be in use)");
    return l_encoder_gc(L);
}

static int l_encoder_tostring(lua_State *L) {
    encoder *u = luaL_checkudata(L, 1, PB_ENCODER_MT);
    if (!u->alive) {
        lua_pushstring(L, "posbench encoding (closed)");
        return 1;
    }
    const pb_geometry *g = &u->se.enc.g;
    lua_pushfstring(L, "posbench encoding %s: d=%d heads=%d d_head=%d, %s, %d parameters",
                    u->se.enc.type->name, g->d, g->heads, g->d_head,
                    g->causal ? "causal" : "bidirectional", u->se.enc.n_params);
    return 1;
}

/* ---- arguments ----------------------------------------------------------- */

/* A position at idx: an integer (1D) or {x, y} (2D) into out[pos_dims]. */
static void check_pos(lua_State *L, int idx, const encoder *u, int *out, const char *what) {
    int pd = u->se.enc.type->pos_dims;
    idx = lua_absindex(L, idx);
    if (pd == 1 && !lua_istable(L, idx)) {
        int ok;
        lua_Integer v = lua_tointegerx(L, idx, &ok);
        if (!ok || v < 0 || v >= MAX_PROBE_POS)
            luaL_error(L, "%s: a position of encoding '%s' is an integer in [0, %d), got %s",
                       what, u->se.enc.type->name, MAX_PROBE_POS, luaL_tolstring(L, idx, NULL));
        out[0] = (int)v;
        return;
    }
    if (!lua_istable(L, idx) || luaL_len(L, idx) != pd)
        luaL_error(L, "%s: encoding '%s' takes %s positions, got %s", what,
                   u->se.enc.type->name, pd == 1 ? "integer" : "{x, y}",
                   luaL_tolstring(L, idx, NULL));
    for (int c = 0; c < pd; c++) {
        lua_geti(L, idx, c + 1);
        int ok;
        lua_Integer v = lua_tointegerx(L, -1, &ok);
        if (!ok || v < 0 || v >= MAX_PROBE_POS)
            luaL_error(L, "%s: position coordinates are integers in [0, %d), got %s", what,
                       MAX_PROBE_POS, luaL_tolstring(L, -1, NULL));
        out[c] = (int)v;
        lua_pop(L, 1);
    }
}

/* Prepare the encoding for positions up to the largest coordinate given,
 * and refresh it for its parameters, as a model's forward does. */
static void prepare_for(lua_State *L, encoder *u, const int *pos, int n, const char *what) {
    int mx = 0;
    for (int i = 0; i < n; i++) mx = pos[i] > mx ? pos[i] : mx;
    pb_error err;
    if (pb_encoding_prepare(&u->se.enc, mx + 1, &err) ||
        pb_encoding_refresh(&u->se.enc, u->se.params, &err))
        luaL_error(L, "%s: %s", what, err.msg);
}

/* A vector of exactly n numbers at idx into out. */
static void check_vec(lua_State *L, int idx, float *out, int n, const char *what,
                      const char *arg) {
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_Integer len = luaL_len(L, idx);
    if (len != n)
        luaL_error(L, "%s: %s must have %d numbers (d_head), got %d", what, arg, n, (int)len);
    for (int i = 0; i < n; i++) {
        lua_geti(L, idx, i + 1);
        int ok;
        double v = lua_tonumberx(L, -1, &ok);
        if (!ok) luaL_error(L, "%s: %s[%d] is not a number", what, arg, i + 1);
        out[i] = (float)v;
        lua_pop(L, 1);
    }
}

static void push_vec(lua_State *L, const float *x, int n) {
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushnumber(L, x[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

/* {head=} (and other keys in `keys`) at idx; returns the 0-based head. */
static int read_head(lua_State *L, int idx, const encoder *u, const char *what) {
    int h = pb_lua_field_int(L, idx, "head", 1, what);
    if (h < 1 || h > u->se.enc.g.heads)
        luaL_error(L, "%s: head=%d is outside 1..%d", what, h, u->se.enc.g.heads);
    return h - 1;
}

static const char *sites_text(unsigned sites) {
    static const char *const text[8] = {"none", "input", "qk", "input+qk", "bias",
                                        "input+bias", "qk+bias", "input+qk+bias"};
    return text[sites & 7];
}

/* ---- methods ------------------------------------------------------------- */

/* enc:table(positions) -> {{row of d}, ...} */
static int l_encoder_table(lua_State *L) {
    encoder *u = check_encoder(L, 1);
    lua_settop(L, 2);
    const char *what = "encoding:table";
    if (!(u->se.enc.type->sites & PB_ENC_INPUT))
        return luaL_error(L, "%s: encoding '%s' has no input site (its sites: %s); only "
                             "additive encodings have a table",
                          what, u->se.enc.type->name, sites_text(u->se.enc.type->sites));
    luaL_checktype(L, 2, LUA_TTABLE);
    int n = (int)luaL_len(L, 2), pd = u->se.enc.type->pos_dims, d = u->se.enc.g.d;
    if (n <= 0) return luaL_error(L, "%s: positions must be a non-empty array", what);
    int *pos = lua_newuserdatauv(L, sizeof(int) * (size_t)n * pd, 0);
    float *x = lua_newuserdatauv(L, sizeof(float) * (size_t)n * d, 0);
    for (int t = 0; t < n; t++) {
        lua_geti(L, 2, t + 1);
        check_pos(L, -1, u, pos + (size_t)t * pd, what);
        lua_pop(L, 1);
    }
    prepare_for(L, u, pos, n * pd, what);
    memset(x, 0, sizeof(float) * (size_t)n * d);
    u->se.enc.type->input_forward(&u->se.enc, u->se.params, pos, n, x);
    lua_createtable(L, n, 0);
    for (int t = 0; t < n; t++) {
        push_vec(L, x + (size_t)t * d, d);
        lua_rawseti(L, -2, t + 1);
    }
    return 1;
}

/* The transform of one head vector v (d_head floats) at position pos, in
 * place; the identity for encodings without a q/k site. Prepares for pos
 * unless `prepared` (the caller prepared for the whole sequence). */
static void transform_head(lua_State *L, encoder *u, float *v, const int *pos, int is_key,
                           int head, int prepared, const char *what) {
    if (!(u->se.enc.type->sites & PB_ENC_QK)) return;
    int d = u->se.enc.g.d, dh = u->se.enc.g.d_head;
    if (!prepared) prepare_for(L, u, pos, u->se.enc.type->pos_dims, what);
    float *buf = lua_newuserdatauv(L, sizeof(float) * (size_t)d, 0);
    memset(buf, 0, sizeof(float) * (size_t)d);
    memcpy(buf + (size_t)head * dh, v, sizeof(float) * (size_t)dh);
    u->se.enc.type->qk_forward(&u->se.enc, u->se.params, pos, 1, is_key, buf, d);
    memcpy(v, buf + (size_t)head * dh, sizeof(float) * (size_t)dh);
    lua_pop(L, 1);
}

/* enc:transform(vec, pos, {key=false, head=1}) -> vec' */
static int l_encoder_transform(lua_State *L) {
    encoder *u = check_encoder(L, 1);
    lua_settop(L, 4);
    const char *what = "encoding:transform";
    static const char *const keys[] = {"key", "head", NULL};
    pb_lua_check_keys(L, 4, keys, what);
    int dh = u->se.enc.g.d_head, pos[2];
    float *v = lua_newuserdatauv(L, sizeof(float) * (size_t)dh, 0);
    check_vec(L, 2, v, dh, what, "vec");
    check_pos(L, 3, u, pos, what);
    int is_key = pb_lua_field_bool(L, 4, "key", 0, what);
    transform_head(L, u, v, pos, is_key, read_head(L, 4, u, what), 0, what);
    push_vec(L, v, dh);
    return 1;
}

/* bias(head, i, j) of the encoding (0 without a bias site); prepares for
 * i and j unless `prepared`. */
static double bias_at(lua_State *L, encoder *u, const int *pi, const int *pj, int head,
                      int prepared, const char *what) {
    if (!(u->se.enc.type->sites & PB_ENC_BIAS)) return 0.0;
    int pd = u->se.enc.type->pos_dims, both[4];
    memcpy(both, pi, sizeof(int) * pd);
    memcpy(both + pd, pj, sizeof(int) * pd);
    if (!prepared) prepare_for(L, u, both, 2 * pd, what);
    float *out = lua_newuserdatauv(L, sizeof(float) * (size_t)u->se.enc.g.heads, 0);
    u->se.enc.type->bias_forward(&u->se.enc, u->se.params, pi, 1, pj, 1, out);
    double b = out[head];
    lua_pop(L, 1);
    return b;
}

/* enc:score(q, k, i, j, {causal=, head=, length=}) -> logit. Like a model,
 * the encoding is prepared once for the sequence, before both transforms:
 * for length = largest coordinate of i and j + 1 unless given (a model
 * prepares for its largest position + 1; length-dependent encodings such as
 * dynamic NTK read it). */
static int l_encoder_score(lua_State *L) {
    encoder *u = check_encoder(L, 1);
    lua_settop(L, 6);
    const char *what = "encoding:score";
    static const char *const keys[] = {"causal", "head", "length", NULL};
    pb_lua_check_keys(L, 6, keys, what);
    int dh = u->se.enc.g.d_head, pi[2], pj[2];
    float *q = lua_newuserdatauv(L, sizeof(float) * 2 * (size_t)dh, 0), *k = q + dh;
    check_vec(L, 2, q, dh, what, "q");
    check_vec(L, 3, k, dh, what, "k");
    check_pos(L, 4, u, pi, what);
    check_pos(L, 5, u, pj, what);
    int causal = pb_lua_field_bool(L, 6, "causal", u->se.enc.g.causal, what);
    int head = read_head(L, 6, u, what);
    int pd = u->se.enc.type->pos_dims, mx = 0;
    for (int c = 0; c < pd; c++) {
        mx = pi[c] > mx ? pi[c] : mx;
        mx = pj[c] > mx ? pj[c] : mx;
    }
    int length = pb_lua_field_int(L, 6, "length", mx + 1, what);
    if (length <= mx || length > MAX_PROBE_POS)
        return luaL_error(L, "%s: length=%d must exceed every position (largest %d) and be "
                             "at most %d", what, length, mx, MAX_PROBE_POS);
    /* The model masks by token order; with 1D positions that is j > i. */
    if (causal && pd == 1 && pj[0] > pi[0]) {
        lua_pushnumber(L, -HUGE_VAL);
        return 1;
    }
    pb_error err;
    if (pb_encoding_prepare(&u->se.enc, length, &err) ||
        pb_encoding_refresh(&u->se.enc, u->se.params, &err))
        return luaL_error(L, "%s: %s", what, err.msg);
    transform_head(L, u, q, pi, 0, head, 1, what);
    transform_head(L, u, k, pj, 1, head, 1, what);
    double dot = 0.0;
    for (int c = 0; c < dh; c++) dot += (double)q[c] * (double)k[c];
    lua_pushnumber(L, pb_encoding_logit(&u->se.enc, dot, bias_at(L, u, pi, pj, head, 1, what)));
    return 1;
}

/* enc:bias(i, j, {head=1}) -> bias */
static int l_encoder_bias(lua_State *L) {
    encoder *u = check_encoder(L, 1);
    lua_settop(L, 4);
    const char *what = "encoding:bias";
    if (!(u->se.enc.type->sites & PB_ENC_BIAS))
        return luaL_error(L, "%s: encoding '%s' has no bias site (its sites: %s)", what,
                          u->se.enc.type->name, sites_text(u->se.enc.type->sites));
    static const char *const keys[] = {"head", NULL};
    pb_lua_check_keys(L, 4, keys, what);
    int pi[2], pj[2];
    check_pos(L, 2, u, pi, what);
    check_pos(L, 3, u, pj, what);
    lua_pushnumber(L, bias_at(L, u, pi, pj, read_head(L, 4, u, what), 0, what));
    return 1;
}

static int l_encoder_info(lua_State *L) {
    encoder *u = check_encoder(L, 1);
    const pb_encoding_type *t = u->se.enc.type;
    const pb_geometry *g = &u->se.enc.g;
    lua_newtable(L);
    lua_pushstring(L, t->name); lua_setfield(L, -2, "name");
    lua_newtable(L);
    int k = 0;
    if (t->sites & PB_ENC_INPUT) { lua_pushstring(L, "input"); lua_rawseti(L, -2, ++k); }
    if (t->sites & PB_ENC_QK) { lua_pushstring(L, "qk"); lua_rawseti(L, -2, ++k); }
    if (t->sites & PB_ENC_BIAS) { lua_pushstring(L, "bias"); lua_rawseti(L, -2, ++k); }
    lua_setfield(L, -2, "sites");
    lua_pushinteger(L, t->pos_dims); lua_setfield(L, -2, "pos_dims");
    lua_pushinteger(L, u->se.enc.n_params); lua_setfield(L, -2, "n_params");
    lua_pushnumber(L, u->se.enc.logit_scale); lua_setfield(L, -2, "logit_scale");
    lua_pushstring(L, t->reference ? t->reference : ""); lua_setfield(L, -2, "reference");
    lua_pushstring(L, t->summary ? t->summary : ""); lua_setfield(L, -2, "summary");
    lua_newtable(L);
    k = 0;
    for (const char *const *o = t->options; o && *o; o++) {
        lua_pushstring(L, *o);
        lua_rawseti(L, -2, ++k);
    }
    lua_setfield(L, -2, "options");
    lua_pushstring(L, t->options_doc ? t->options_doc : ""); lua_setfield(L, -2, "options_doc");
    pb_lua_push_opts(L, &u->se.opts); lua_setfield(L, -2, "enc");
    lua_pushboolean(L, pb_lua_encoding_is_lua(t)); lua_setfield(L, -2, "lua");
    lua_pushinteger(L, g->d); lua_setfield(L, -2, "d");
    lua_pushinteger(L, g->heads); lua_setfield(L, -2, "heads");
    lua_pushinteger(L, g->d_head); lua_setfield(L, -2, "d_head");
    lua_pushboolean(L, g->causal); lua_setfield(L, -2, "causal");
    lua_pushinteger(L, g->max_len); lua_setfield(L, -2, "max_len");
    return 1;
}

static int l_encoder_params(lua_State *L) {
    encoder *u = check_encoder(L, 1);
    push_vec(L, u->se.params, u->se.enc.n_params);
    return 1;
}

/* enc:set_params(array): exactly n_params numbers (e.g. model:param("enc")). */
static int l_encoder_set_params(lua_State *L) {
    encoder *u = check_encoder(L, 1);
    lua_settop(L, 2);
    const char *what = "encoding:set_params";
    luaL_checktype(L, 2, LUA_TTABLE);
    int n = u->se.enc.n_params;
    lua_Integer len = luaL_len(L, 2);
    if (len != n)
        return luaL_error(L, "%s: encoding '%s' has %d parameters, got %d values", what,
                          u->se.enc.type->name, n, (int)len);
    float *tmp = lua_newuserdatauv(L, sizeof(float) * (size_t)(n ? n : 1), 0);
    for (int i = 0; i < n; i++) {
        lua_geti(L, 2, i + 1);
        int ok;
        double v = lua_tonumberx(L, -1, &ok);
        if (!ok) return luaL_error(L, "%s: value %d is not a number", what, i + 1);
        tmp[i] = (float)v;
        lua_pop(L, 1);
    }
    if (n) memcpy(u->se.params, tmp, sizeof(float) * (size_t)n);
    return 0;
}

static const luaL_Reg encoder_methods[] = {
    {"table", l_encoder_table},
    {"transform", l_encoder_transform},
    {"score", l_encoder_score},
    {"bias", l_encoder_bias},
    {"info", l_encoder_info},
    {"params", l_encoder_params},
    {"set_params", l_encoder_set_params},
    {"close", l_encoder_close},
    {NULL, NULL}};

static const luaL_Reg encoder_meta[] = {
    {"__gc", l_encoder_gc},
    {"__close", l_encoder_close},
    {"__tostring", l_encoder_tostring},
    {NULL, NULL}};

static const luaL_Reg probe_funcs[] = {
    {"encoding", l_encoding},
    {NULL, NULL}};

void pb_lua_open_probe(lua_State *L) {
    luaL_newmetatable(L, PB_ENCODER_MT);
    luaL_setfuncs(L, encoder_meta, 0);
    lua_newtable(L);
    luaL_setfuncs(L, encoder_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_setfuncs(L, probe_funcs, 0);
}
