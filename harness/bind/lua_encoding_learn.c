/* The host of learnable Lua encodings (encodings/callback.h, pb_cb_host.learn):
 * each request (layout, initial values, values, gradients) is converted and
 * handed to posbench.learn (harness/lua/posbench/learn.lua), which evaluates
 * the function with plain numbers or on the autodiff tape. Calls run on the
 * encoding's callback thread under lua_pcall; errors come back as a
 * pb_error naming the encoding. Conversion only: no logic of its own. */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <stdio.h>
#include <string.h>

#include "lua_encoding_internal.h"
#include "lua_internal.h"

/* The generator an init function draws from, valid during its request only
 * (a function that keeps rng and calls it later gets an error, not a freed
 * generator). */
typedef struct rng_box {
    gsl_rng *rng;
} rng_box;

/* What one request needs on the callback thread. */
typedef struct learn_job {
    const pb_encoding *e;
    pb_cb_request *r;
    gsl_rng *rng; /* INIT: the encoding's stream; LAYOUT: a scratch one */
    rng_box *box; /* the generator as the init functions see it */
} learn_job;

static gsl_rng *box_rng(lua_State *co) {
    rng_box *b = lua_touserdata(co, lua_upvalueindex(1));
    if (!b->rng) luaL_error(co, "rng is only valid while the init function is called");
    return b->rng;
}

static int rng_uniform(lua_State *co) {
    lua_pushnumber(co, gsl_rng_uniform(box_rng(co)));
    return 1;
}

/* rng:normal(sd) (or rng.normal(sd)): gsl_ran_gaussian, sd 1 by default. */
static int rng_normal(lua_State *co) {
    double sd = luaL_optnumber(co, lua_type(co, 1) == LUA_TNUMBER ? 1 : 2, 1.0);
    lua_pushnumber(co, gsl_ran_gaussian(box_rng(co), sd));
    return 1;
}

/* {uniform = , normal = } drawing from rng through a box (a full userdata
 * the closures keep); returns the box, which the caller empties after the
 * request. */
static rng_box *push_rng(lua_State *co, gsl_rng *rng) {
    rng_box *box = lua_newuserdatauv(co, sizeof *box, 0);
    box->rng = rng;
    lua_createtable(co, 0, 2);
    lua_pushvalue(co, -2);
    lua_pushcclosure(co, rng_uniform, 1);
    lua_setfield(co, -2, "uniform");
    lua_pushvalue(co, -2);
    lua_pushcclosure(co, rng_normal, 1);
    lua_setfield(co, -2, "normal");
    lua_remove(co, -2);
    return box;
}

static void push_doubles(lua_State *co, const double *v, int n) {
    lua_createtable(co, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushnumber(co, v[i]);
        lua_rawseti(co, -2, i + 1);
    }
}

static void push_params(lua_State *co, const float *v, int n) {
    lua_createtable(co, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushnumber(co, v[i]);
        lua_rawseti(co, -2, i + 1);
    }
}

/* Numbers at -1, n of them, into out (doubles or floats). */
static void read_numbers(lua_State *co, int n, double *out, float *fout, const char *name,
                         const char *what) {
    if (!lua_istable(co, -1) || luaL_len(co, -1) != n)
        luaL_error(co, "encoding '%s': posbench.learn.%s returned a bad list", name, what);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(co, -1, i + 1);
        double v = lua_tonumber(co, -1);
        lua_pop(co, 1);
        if (out) out[i] = v;
        else fout[i] = (float)v;
    }
}

static int learn_protected(lua_State *co) {
    learn_job *j = lua_touserdata(co, 1);
    pb_cb_request *r = j->r;
    const lua_enc_type *lt = pb_lua_enc_type_of(j->e);
    lua_settop(co, 1);
    lua_rawgeti(co, LUA_REGISTRYINDEX, lt->ref); /* 2: the record */
    pb_lua_enc_push_opts(co, j->e, pb_cb_options(j->e));    /* 3 */
    lua_getfield(co, 2, "driver");               /* 4 */
    int nargs = pb_cb_form_nargs[lt->cb.form];
    switch (r->op) {
    case PB_CB_LAYOUT:
    case PB_CB_INIT:
        lua_getfield(co, 4, "init");
        lua_pushvalue(co, 2);
        lua_pushvalue(co, 3);
        j->box = push_rng(co, j->rng);
        lua_call(co, 3, 2);
        if (r->op == PB_CB_LAYOUT) {
            r->n_params = (int)lua_tointeger(co, -1);
            return 0;
        }
        lua_pop(co, 1);
        read_numbers(co, r->n_params, NULL, r->params, lt->name, "init");
        return 0;
    default: {
        lua_getfield(co, 4, r->op == PB_CB_EVAL ? "eval" : "grad");
        lua_pushvalue(co, 2);
        lua_pushvalue(co, 3);
        push_params(co, r->params, r->n_params);
        lua_createtable(co, r->n_calls * nargs, 0);
        for (int c = 0, k = 0; c < r->n_calls; c++)
            for (int a = 0; a < nargs; a++) {
                pb_lua_enc_push_arg(co, r->args[3 * (size_t)c + a]);
                lua_rawseti(co, -2, ++k);
            }
        lua_pushinteger(co, r->n_calls);
        if (r->op == PB_CB_GRAD) push_doubles(co, r->seeds, r->n_calls);
        lua_call(co, r->op == PB_CB_GRAD ? 6 : 5, 1);
        if (r->op == PB_CB_EVAL)
            read_numbers(co, r->n_calls, r->values, NULL, lt->name, "eval");
        else
            read_numbers(co, r->n_params, r->dparams, NULL, lt->name, "grad");
        return 0;
    }
    }
}

/* pb_cb_host.learn: one request, under lua_pcall on the callback thread. */
int pb_lua_enc_learn(const pb_encoding *e, pb_cb_request *r, pb_error *err) {
    const lua_enc_type *lt = pb_lua_enc_type_of(e);
    lua_State *co = lt->co;
    learn_job job = {.e = e, .r = r, .rng = r->rng};
    gsl_rng *scratch = NULL;
    if (r->op == PB_CB_LAYOUT) {
        /* a dry run of the init finds bad inits when the model is built */
        scratch = gsl_rng_alloc(gsl_rng_mt19937);
        if (!scratch) return pb_fail(err, "encoding '%s': out of memory", lt->name);
        job.rng = scratch;
    }
    if (!lua_checkstack(co, 16)) {
        gsl_rng_free(scratch);
        return pb_fail(err, "encoding '%s': Lua stack overflow", lt->name);
    }
    int top = lua_gettop(co);
    lua_pushcfunction(co, learn_protected);
    lua_pushlightuserdata(co, &job);
    pb_lua_enc_callbacks_running_count++;
    int status = lua_pcall(co, 1, 0, 0);
    pb_lua_enc_callbacks_running_count--;
    if (job.box) job.box->rng = NULL; /* before the generator may be freed */
    gsl_rng_free(scratch);
    int rc = 0;
    if (status != LUA_OK) {
        const char *msg = lua_tostring(co, -1);
        if (!msg) msg = "error in the Lua interpreter";
        if (strncmp(msg, "encoding '", 10) == 0) pb_fail(err, "%s", msg);
        else pb_fail(err, "encoding '%s': %s", lt->name, msg);
        rc = -1;
    }
    lua_settop(co, top);
    return rc;
}

