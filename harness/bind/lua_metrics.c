/* Lua binding of the metrics: pb.metrics.* and model:forward.
 *
 * Encoding metrics take the encoding either as a model (its encoding and
 * trained parameters) or as a name with the options pb.encoding takes:
 *
 *   pb.metrics.F(model, opts)                      (opts may add layer=, 1 by
 *                                                   default: that layer's encoding)
 *   pb.metrics.F(name, {enc options..., d=64, heads=4, d_head=, causal=,
 *                       max_len=64, precision=, seed=1}, opts)
 *
 *   table(E, {length=256, width=, format=})        -> rows PE(p) (2D: grid
 *                                                     cells, row-major, width)
 *   min_distance(E, {length=, format=})            -> {distance=, p=, q=}
 *   nearest(E, {length=, row=0, gap=1, format=})   -> {distance=, p=}: the closest
 *                                                     position at least `gap` away
 *   distinct(E, {length=, format=})                -> count of distinct rows
 *   steps(E, {length=, format=})                   -> ||PE(p+1) - PE(p)||, p = 0..
 *   length_consistency(E, {length=, other=})       -> max |PE_n1(p) - PE_n2(p)|
 *   linear_residual(E, {length=, k=1})             -> relative residual
 *   dot_variance(E, {length=, k=1})                -> {mean=, var=}
 *   shift_invariance(E, {length=, shift=, samples=200, seed=1})
 *                                                  -> {max_abs=, max_score=, rel=}
 *   snr(E, {length=, e_norm=1})                    -> SNR(p), p = 0..
 *   noise_probe(E, {snr_db=, positions=64, vocab=32, emb_sd=0.02, embeddings=,
 *                   train=20000, test=4000, ridge=1e-3, seed=1})
 *                                                  -> {position=, token=,
 *                                                      position_regression=, noise_sd=}
 *   separability(E, {grid=16, max_d=4, bases=16, seed=1})
 *                                                  -> {rel_var=, split_error=, ...}
 *
 * RoPE angles without a model (metrics_rope_precision.h):
 *   rope_distinct{format=, site="angles", length=, d_head=64, base=10000}
 *                                                  -> {count=, per_freq={...}}
 *   rope_phase_error{..., per_position=false}      -> {max=, per_freq=, per_position=}
 *   rope_drift{format=, site=, offset=1, positions={...} | length=, stride=1,
 *              samples=16, d_head=, base=, seed=}  -> {positions=, deviation=, max=}
 *   decay_bound{d=, base=10000, distances={...}}   -> bound per distance
 *
 * Trained models (a batch of `batch` problems of size `length` from task):
 *   relative_deviation(model, task, {d1=0, d2=, length=, batch=8, seed=1,
 *                      precision=})                -> {D=, D_logit=, per_layer=,
 *                                                      per_layer_logit=}
 *   logit_terms(model, task, {length=, batch=, seed=})
 *                                                  -> {all = {word_word=, ...,
 *                                                      var_logit=}, heads = {...}}
 *   position_share(model, task, {..., precision=}) -> {{per head} per layer}
 *   frequency_usage(model, task, {..., which="q"}) -> {{{per pair} per head} per layer}
 *
 *   model:forward(tokens, {positions=})            -> {hidden = rows, logits = rows}
 *
 * Positions are 0-based; layers, heads and pairs are 1-based in results.
 * The functions live in lua_metrics_encoding.c, lua_metrics_rope.c and
 * lua_metrics_model.c; this file holds their shared helpers
 * (lua_metrics_internal.h) and the entry point. */
#include "lua_metrics.h"

#include "lua_internal.h"
#include "lua_metrics_internal.h"

void *pb_lua_scratch(lua_State *L, size_t bytes) {
    return lua_newuserdatauv(L, bytes ? bytes : 1, 0);
}

gsl_rng *pb_lua_new_rng(lua_State *L, unsigned long seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r) luaL_error(L, "out of memory for a random generator");
    gsl_rng_set(r, seed);
    return r;
}

int pb_lua_read_format(lua_State *L, int idx, const char *key, pb_format *f,
                       const char *what) {
    const char *name = pb_lua_field_str(L, idx, key, NULL, what);
    if (!name) return 0;
    pb_error err;
    if (pb_format_parse(name, f, &err)) luaL_error(L, "%s: %s: %s", what, key, err.msg);
    return 1;
}

void pb_lua_open_metrics(lua_State *L) {
    lua_newtable(L);
    luaL_setfuncs(L, pb_lua_metrics_encoding_funcs, 0);
    luaL_setfuncs(L, pb_lua_metrics_rope_funcs, 0);
    luaL_setfuncs(L, pb_lua_metrics_model_funcs, 0);
    lua_setfield(L, -2, "metrics");
    lua_getfield(L, -1, "_model_methods");
    if (lua_istable(L, -1)) {
        lua_pushcfunction(L, pb_lua_model_forward);
        lua_setfield(L, -2, "forward");
    }
    lua_pop(L, 1);
}
