/* Lua binding: training, the thread count and the reference-check dump
 * (pb.eval is in lua_eval.c). */
#include <gsl/gsl_rng.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../model/linear.h"
#include "lua_internal.h"
#include "lua_util.h"
#include "../core/parallel.h"
#include "../model/positions.h"
#include "../io/tensorfile.h"
#include "../run/train.h"

static const char *const optim_keys[] = {"lr", "wd", "warmup", "clip", "b1", "b2", "eps",
                                         "min_lr_ratio", NULL};

static void read_adamw(lua_State *L, int idx, pb_adamw *o, int steps, const char *what) {
    pb_adamw_defaults(o);
    o->steps = steps;
    o->warmup = pb_lua_field_int(L, idx, "warmup", steps >= 20 ? steps / 20 : 0, what);
    /* Checked as doubles, before the narrowing to float. */
    for (const char *const *k = optim_keys; *k; k++) {
        if (!strcmp(*k, "warmup") || lua_isnoneornil(L, idx)) continue;
        lua_getfield(L, idx, *k);
        int given = !lua_isnil(L, -1);
        lua_pop(L, 1);
        pb_error err;
        if (given && pb_adamw_set(o, *k, pb_lua_field_num(L, idx, *k, 0, what), &err))
            luaL_error(L, "%s: %s", what, err.msg);
    }
}

static int key_allowed(const char *k, const char *const *a, const char *const *b) {
    for (; *a; a++) if (strcmp(*a, k) == 0) return 1;
    for (; *b; b++) if (strcmp(*b, k) == 0) return 1;
    return 0;
}

/* Like pb_lua_check_keys, over the union of two key lists. */
static void check_keys2(lua_State *L, int idx, const char *const *a, const char *const *b,
                        const char *what) {
    if (lua_isnoneornil(L, idx)) return;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING || !key_allowed(lua_tostring(L, -1), a, b)) {
            luaL_Buffer buf;
            luaL_buffinit(L, &buf);
            for (const char *const *v = a; *v; v++) { luaL_addstring(&buf, *v); luaL_addstring(&buf, ", "); }
            for (const char *const *v = b; *v; v++) { luaL_addstring(&buf, *v); if (v[1]) luaL_addstring(&buf, ", "); }
            luaL_pushresult(&buf);
            luaL_error(L, "%s: unknown option '%s' (valid options: %s)", what,
                       luaL_tolstring(L, -2, NULL), lua_tostring(L, -1));
        }
    }
}

static void push_float_array(lua_State *L, const float *x, int n) {
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushnumber(L, x[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

/* pb.train(model, task, {steps=, batch=, lr=, warmup=, seed=, progress=, ...}) */
static int l_train(lua_State *L) {
    pb_model *m = pb_lua_check_model(L, 1);
    pb_task *t = pb_lua_check_task(L, 2);
    static const char *const keys[] = {"steps", "batch", "seed", "progress", "label", NULL};
    check_keys2(L, 3, keys, optim_keys, "pb.train");
    const char *what = "pb.train";
    pb_train_opts o;
    memset(&o, 0, sizeof o);
    o.steps = pb_lua_field_int(L, 3, "steps", 1000, what);
    o.batch = pb_lua_field_int(L, 3, "batch", 32, what);
    o.seed = pb_lua_field_seed(L, 3, "seed", 1, what);
    o.progress = pb_lua_field_bool(L, 3, "progress", 1, what);
    o.label = pb_lua_field_str(L, 3, "label", "train", what);
    if (o.steps <= 0 || o.batch <= 0)
        return luaL_error(L, "pb.train: steps and batch must be positive (steps=%d batch=%d)",
                          o.steps, o.batch);
    read_adamw(L, 3, &o.opt, o.steps, what);
    pb_train_log log;
    log.losses = lua_newuserdatauv(L, sizeof(float) * 2 * (size_t)o.steps, 0);
    log.grad_norms = log.losses + o.steps;
    pb_error err;
    if (pb_train(m, t, &o, &log, &err)) return pb_lua_raise(L, &err);
    lua_newtable(L);
    push_float_array(L, log.losses, o.steps); lua_setfield(L, -2, "losses");
    push_float_array(L, log.grad_norms, o.steps); lua_setfield(L, -2, "grad_norms");
    lua_pushnumber(L, log.final_loss); lua_setfield(L, -2, "final_loss");
    lua_pushnumber(L, log.seconds); lua_setfield(L, -2, "seconds");
    lua_pushnumber(L, log.tokens_per_s); lua_setfield(L, -2, "tokens_per_s");
    return 1;
}

/* Fill a batch for check_step / probes. */
static int fixed_batch(pb_model *m, pb_task *t, int B, int n, unsigned long seed,
                       pb_batch *b, pb_error *err) {
    int T = pb_task_model_len(t, n, m->cfg.causal, err);
    if (T < 0 || pb_batch_alloc(b, B, T, t->pos_dims, err)) return -1;
    int rc = pb_draw_batch_seeded(m, t, PB_SPLIT_TRAIN, seed, n, B, b, err);
    if (rc) pb_batch_free(b);
    return rc;
}

static void add_entry(pb_tf_entry *e, int *n, const char *prefix, const char *name,
                      pb_tf_dtype dt, const void *data, int ndim, int64_t d0, int64_t d1,
                      int64_t d2) {
    pb_tf_entry *x = &e[(*n)++];
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "%s%s", prefix, name);
    x->dtype = dt;
    x->ndim = ndim;
    x->shape[0] = d0;
    x->shape[1] = d1;
    x->shape[2] = d2;
    x->data = data;
}

static void add_params(pb_tf_entry *e, int *n, const pb_model *m, const float *mem,
                       const char *prefix) {
    for (int i = 0; i < PB_N_PARAM_TENSORS; i++) {
        const pb_param_shape *s = &m->shapes[i];
        if (s->size)
            add_entry(e, n, prefix, pb_param_names[i], PB_TF_F32, mem, s->ndim,
                      s->shape[0], s->shape[1], s->shape[2]);
        mem += s->size;
    }
}

/* core._check_step(model, task, opts, meta_json): one batch, forward +
 * backward, `steps` AdamW updates on it; everything written to opts.path
 * for scripts/torch_reference.py. */
static int l_check_step(lua_State *L) {
    pb_model *m = pb_lua_check_model(L, 1);
    pb_task *t = pb_lua_check_task(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    const char *meta = luaL_checkstring(L, 4);
    static const char *const keys[] = {"batch", "length", "seed", "steps", "path", NULL};
    check_keys2(L, 3, keys, optim_keys, "pb.check_step");
    const char *what = "pb.check_step";
    int B = pb_lua_field_int(L, 3, "batch", 4, what);
    int n = pb_lua_field_int(L, 3, "length", t->max_len, what);
    int steps = pb_lua_field_int(L, 3, "steps", 10, what);
    unsigned long seed = pb_lua_field_seed(L, 3, "seed", 1, what);
    const char *path = pb_lua_field_str(L, 3, "path", NULL, what);
    if (!path) return luaL_error(L, "pb.check_step: path= is required");
    if (B <= 0 || steps <= 0) return luaL_error(L, "pb.check_step: batch and steps must be positive");
    pb_adamw opt;
    read_adamw(L, 3, &opt, steps, what);
    if (!lua_isnil(L, 3)) {
        lua_getfield(L, 3, "warmup");
        if (lua_isnil(L, -1)) opt.warmup = 0;
        lua_pop(L, 1);
    }
    pb_error err;
    pb_batch b;
    if (pb_adamw_check(&opt, &err) || fixed_batch(m, t, B, n, seed, &b, &err))
        return pb_lua_raise(L, &err);
    int T = b.T, V = m->cfg.vocab, N = B * T;
    size_t P = m->n_params;
    /* one scratch block: initial params, grads, logits, losses, final params */
    float *mem = malloc(sizeof(float) * (2 * P + (size_t)N * V + steps + 1 + P));
    if (!mem) { pb_batch_free(&b); return luaL_error(L, "pb.check_step: out of memory"); }
    float *p0 = mem, *g0 = p0 + P, *logits = g0 + P, *losses = logits + (size_t)N * V;
    float *loss0 = losses + steps, *pfinal = loss0 + 1;
    memcpy(p0, m->param_mem, P * sizeof(float));
    int rc = pb_adamw_reset(m, &err);
    for (int s = 0; rc == 0 && s < steps; s++) {
        pb_model_zero_grad(m);
        rc = pb_model_forward(m, &b, 1, &err);
        if (!rc) rc = pb_model_backward(m, &b, &err);
        if (rc) break;
        losses[s] = m->loss;
        if (s == 0) {
            memcpy(g0, m->grad_mem, P * sizeof(float));
            *loss0 = m->loss;
            /* the forward left probabilities in acts.logits: recompute logits */
            pb_linear_forward(logits, m->acts.lnf, m->cfg.tied ? m->used.wte : m->used.head_w,
                              NULL, N, m->cfg.d, V);
        }
        pb_adamw_step(m, &opt);
    }
    if (rc == 0) {
        memcpy(pfinal, m->param_mem, P * sizeof(float));
        pb_tf_entry e[3 * PB_N_PARAM_TENSORS + 8];
        int ne = 0;
        add_params(e, &ne, m, p0, "");
        add_params(e, &ne, m, g0, "grad.");
        add_params(e, &ne, m, pfinal, "final.");
        add_entry(e, &ne, "", "tokens", PB_TF_I32, b.tokens, 2, B, T, 0);
        add_entry(e, &ne, "", "targets", PB_TF_I32, b.targets, 2, B, T, 0);
        add_entry(e, &ne, "", "mask", PB_TF_F32, b.mask, 2, B, T, 0);
        if (b.pos_dims == 1) add_entry(e, &ne, "", "pos", PB_TF_I32, b.pos, 2, B, T, 0);
        else add_entry(e, &ne, "", "pos", PB_TF_I32, b.pos, 3, B, T, 2);
        add_entry(e, &ne, "", "logits", PB_TF_F32, logits, 3, B, T, V);
        add_entry(e, &ne, "", "loss", PB_TF_F32, loss0, 1, 1, 0, 0);
        add_entry(e, &ne, "", "losses", PB_TF_F32, losses, 1, steps, 0, 0);
        rc = pb_tf_write(path, meta, e, ne, &err);
    }
    /* leave the model as it was */
    memcpy(m->param_mem, p0, P * sizeof(float));
    free(mem);
    pb_batch_free(&b);
    if (rc) return pb_lua_raise(L, &err);
    lua_pushstring(L, path);
    return 1;
}

/* core._enc_loss_grad(model, task, {batch=, length=, seed=}, enc_params) ->
 * loss, gradient of the encoding parameters: one forward and backward on a
 * fixed batch with the encoding parameters set to enc_params (an array of
 * exactly the model's encoding_params numbers; they stay set). For
 * pb.check_encoding's check of the loss through an encoding. */
static int l_enc_loss_grad(lua_State *L) {
    pb_model *m = pb_lua_check_model(L, 1);
    pb_task *t = pb_lua_check_task(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    luaL_checktype(L, 4, LUA_TTABLE);
    const char *what = "pb.check_encoding";
    int B = pb_lua_field_int(L, 3, "batch", 4, what);
    int n = pb_lua_field_int(L, 3, "length", t->max_len, what);
    unsigned long seed = pb_lua_field_seed(L, 3, "seed", 1, what);
    int P = m->shapes[PB_P_enc].size;
    if (luaL_len(L, 4) != P)
        return luaL_error(L, "%s: %d encoding parameters given, the model has %d", what,
                          (int)luaL_len(L, 4), P);
    for (int i = 0; i < P; i++) {
        lua_rawgeti(L, 4, i + 1);
        m->params.enc[i] = (float)lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    pb_error err;
    pb_batch b;
    if (B <= 0 || fixed_batch(m, t, B, n, seed, &b, &err))
        return B <= 0 ? luaL_error(L, "%s: batch must be positive", what) : pb_lua_raise(L, &err);
    pb_model_zero_grad(m);
    int rc = pb_model_forward(m, &b, 1, &err);
    if (!rc) rc = pb_model_backward(m, &b, &err);
    pb_batch_free(&b);
    if (rc) return pb_lua_raise(L, &err);
    lua_pushnumber(L, m->loss);
    lua_createtable(L, P, 0);
    for (int i = 0; i < P; i++) {
        lua_pushnumber(L, m->grads.enc[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 2;
}

static int l_threads(lua_State *L) {
    if (!lua_isnoneornil(L, 1)) {
        lua_Integer n = luaL_checkinteger(L, 1);
        luaL_argcheck(L, pb_threads_ok(n), 1, "threads must be in " PB_THREADS_RANGE);
        omp_set_num_threads((int)n);
    }
    lua_pushinteger(L, omp_get_max_threads());
    return 1;
}

static const luaL_Reg funcs[] = {
    {"train", l_train},
    {"_check_step", l_check_step},
    {"_enc_loss_grad", l_enc_loss_grad},
    {"threads", l_threads},
    {NULL, NULL}};

void pb_lua_open_train(lua_State *L) {
    luaL_setfuncs(L, funcs, 0);
}
