/* Lua binding: pb.eval. Without window=, accuracy, exact match and loss of
 * sampled problems per length (pb_eval_length, train.h); with window=,
 * perplexity over the 'lm' corpus (pb_eval_lm, eval_lm.h). Both run under
 * the same temporary overrides (enc=, scaling=, positions=, precision=). */
#include "lua_eval.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#include "lua_internal.h"
#include "lua_push.h"
#include "lua_util.h"
#include "../run/eval_lm.h"
#include "../run/train.h"

static const char *const what = "pb.eval";
#define LENGTHS 4   /* stack index of the lengths table */

static int has_field(lua_State *L, int idx, const char *k) {
    lua_getfield(L, idx, k);
    int has = !lua_isnil(L, -1);
    lua_pop(L, 1);
    return has;
}

/* enc=, scaling=, positions= and precision= of the table at idx, applied to
 * the model until pb_model_restore (the engine does the swapping). */
static void apply_eval(lua_State *L, int idx, pb_model *m, pb_model_saved *s) {
    lua_getfield(L, idx, "enc");
    int has_enc = !lua_isnil(L, -1);
    pb_opts enc, scaling;
    pb_lua_to_opts(L, -1, &enc, "pb.eval enc");
    lua_getfield(L, idx, "scaling");
    int has_scaling = !lua_isnil(L, -1);
    pb_lua_to_opts(L, -1, &scaling, "pb.eval scaling");
    lua_getfield(L, idx, "positions");
    int has_pos = !lua_isnil(L, -1);
    pb_opts pos;
    pb_lua_to_opts(L, -1, &pos, "pb.eval positions");
    lua_getfield(L, idx, "precision");
    int has_prec = !lua_isnil(L, -1);
    pb_precision prec;
    pb_lua_to_precision(L, -1, &prec);
    lua_pop(L, 4);

    pb_error err;
    /* scaling={...} is the encoding's option group "scaling." */
    if (pb_opts_merge_prefixed(&enc, &scaling, "scaling.", &err)) pb_lua_raise(L, &err);
    pb_model_override o = {.enc = has_enc || has_scaling ? &enc : NULL,
                           .positions = has_pos ? &pos : NULL,
                           .prec = has_prec ? &prec : NULL};
    if (pb_model_apply_override(m, &o, s, &err)) pb_lua_raise(L, &err);
}

/* window=, stride= and max_tokens= of the options at idx into o. Returns 1
 * when window= asks for perplexity, 0 otherwise. Raises, so it runs before
 * the model is changed. */
static int read_lm_opts(lua_State *L, int idx, unsigned long seed, pb_lm_eval_opts *o) {
    memset(o, 0, sizeof *o);
    int has_window = has_field(L, idx, "window");
    int has_stride = has_field(L, idx, "stride");
    int has_max = has_field(L, idx, "max_tokens");
    if (!has_window) {
        if (has_stride || has_max)
            luaL_error(L, "%s: stride= and max_tokens= belong to perplexity evaluation: "
                          "add window=\"nonoverlap\" or window=\"sliding\"", what);
        return 0;
    }
    const char *w = pb_lua_field_str(L, idx, "window", NULL, what);
    pb_error err;
    if (pb_lm_window_parse(w, &o->window, &err)) pb_lua_raise(L, &err);
    o->stride = pb_lua_field_int(L, idx, "stride", 0, what);
    double max_tokens = pb_lua_field_num(L, idx, "max_tokens", 0, what);
    if (!(fabs(max_tokens) <= 1e15))  /* NaN, inf: no defined conversion to long */
        luaL_error(L, "%s: max_tokens must be a finite number >= 0 (0: the whole corpus)",
                   what);
    o->max_tokens = (long)max_tokens;
    o->seed = seed;
    if (pb_lm_eval_opts_check(o, has_stride, &err)) luaL_error(L, "%s: %s", what, err.msg);
    return 1;
}

/* lengths[i] when it is an integer in [1, max]; 0 otherwise. */
static int length_at(lua_State *L, int i, lua_Integer max) {
    lua_geti(L, LENGTHS, i);
    int ok;
    lua_Integer n = lua_tointegerx(L, -1, &ok);
    lua_pop(L, 1);
    return ok && n > 0 && n <= max ? (int)n : 0;
}

/* Pushes {[n] = {accuracy=, exact=, loss=, n=, tokens=, seq_len=, length=}};
 * -1 with err on failure (the caller restores the model, then raises). */
static int eval_accuracy(lua_State *L, pb_model *m, pb_task *t, int samples,
                         pb_split split, unsigned long seed, pb_error *err) {
    int n_len = (int)luaL_len(L, LENGTHS);
    lua_newtable(L);
    for (int i = 1; i <= n_len; i++) {
        int n = length_at(L, i, INT_MAX); /* pb_eval_length names lengths too long */
        if (!n) return pb_fail(err, "%s: lengths[%d] must be a positive integer", what, i);
        pb_eval_result r;
        if (pb_eval_length(m, t, n, samples, split, seed + (unsigned long)n, &r, err))
            return pb_prefix(err, "%s at length %d", what, n);
        lua_newtable(L);
        pb_lua_set_num(L, "accuracy", r.accuracy);
        pb_lua_set_num(L, "exact", r.exact);
        pb_lua_set_num(L, "loss", r.loss);
        pb_lua_set_int(L, "n", r.sequences);
        pb_lua_set_int(L, "tokens", r.tokens);
        pb_lua_set_int(L, "seq_len", r.seq_len);
        pb_lua_set_int(L, "length", n);
        lua_seti(L, -2, n);
    }
    return 0;
}

/* Pushes {[n] = {loss=, ppl=, accuracy=, tokens=, windows=, n=, stride=,
 * seq_len=, length=, window=}}; -1 with err on failure. */
static int eval_perplexity(lua_State *L, pb_model *m, pb_task *t, const pb_lm_eval_opts *o,
                           pb_error *err) {
    int n_len = (int)luaL_len(L, LENGTHS);
    lua_newtable(L);
    for (int i = 1; i <= n_len; i++) {
        int n = length_at(L, i, 1 << 24);
        if (!n) return pb_fail(err, "%s: lengths[%d] must be a positive integer", what, i);
        pb_lm_eval_result r;
        if (pb_eval_lm(m, t, n, o, &r, err))
            return pb_prefix(err, "%s at length %d", what, n);
        lua_newtable(L);
        pb_lua_set_num(L, "loss", r.loss);
        pb_lua_set_num(L, "ppl", r.ppl);
        pb_lua_set_num(L, "accuracy", r.accuracy);
        pb_lua_set_int(L, "tokens", r.tokens);
        pb_lua_set_int(L, "windows", r.windows);
        pb_lua_set_int(L, "n", r.windows);
        pb_lua_set_int(L, "stride", r.stride);
        pb_lua_set_int(L, "seq_len", r.length);
        pb_lua_set_int(L, "length", r.length);
        lua_pushstring(L, o->window == PB_LM_SLIDING ? "sliding" : "nonoverlap");
        lua_setfield(L, -2, "window");
        lua_seti(L, -2, n);
    }
    return 0;
}

/* pb.eval(model, task, {lengths=, samples=, seed=, split=, scaling=, enc=,
 * positions=, precision=}) -> {[length] = {accuracy=, exact=, loss=, n=}}
 * split="test" (default) or "valid": problems and positions from that
 * split's streams (core/streams.h) of seed + length.
 * With window="nonoverlap"|"sliding" (stride=, max_tokens=), task 'lm':
 * perplexity over the corpus, {[length] = {loss=, ppl=, tokens=, ...}}. */
static int l_eval(lua_State *L) {
    pb_model *m = pb_lua_check_model(L, 1);
    pb_task *t = pb_lua_check_task(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    static const char *const keys[] = {"lengths", "samples", "seed", "scaling", "enc",
                                       "positions", "precision", "window", "stride",
                                       "max_tokens", "split", NULL};
    pb_lua_check_keys(L, 3, keys, what);
    int samples = pb_lua_field_int(L, 3, "samples", 100, what);
    unsigned long seed = pb_lua_field_seed(L, 3, "seed", 12345, what);
    pb_split split;
    pb_error err;
    if (pb_eval_split_parse(pb_lua_field_str(L, 3, "split", "test", what), &split, &err))
        return luaL_error(L, "%s: %s", what, err.msg);
    lua_getfield(L, 3, "lengths");
    if (lua_isnil(L, LENGTHS)) return luaL_error(L, "%s: lengths={...} is required", what);
    if (!lua_istable(L, LENGTHS))
        return luaL_error(L, "%s: lengths must be a table such as {8, 16}, not the %s '%s'",
                          what, luaL_typename(L, LENGTHS), luaL_tolstring(L, LENGTHS, NULL));
    pb_lm_eval_opts lm;
    int perplexity = read_lm_opts(L, 3, seed, &lm);
    if (perplexity && split != PB_SPLIT_TEST)
        return luaL_error(L, "%s: split=\"valid\" draws problems; perplexity (window=) "
                             "walks the whole corpus and has no validation split", what);
    pb_model_saved s;
    apply_eval(L, 3, m, &s);
    int rc = perplexity ? eval_perplexity(L, m, t, &lm, &err)
                        : eval_accuracy(L, m, t, samples, split, seed, &err);
    pb_model_restore(m, &s);
    if (rc) return pb_lua_raise(L, &err);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"eval", l_eval},
    {NULL, NULL}};

void pb_lua_open_eval(lua_State *L) {
    luaL_setfuncs(L, funcs, 0);
}
