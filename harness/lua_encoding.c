/* Encodings defined in Lua: pb.register_encoding(name, spec).
 *
 * A spec gives one function in one of four forms (docs/encodings.md):
 *
 *   theta = function(k, d_head, opts) -> theta_k     rotary, pair k rotates by pos*theta_k
 *   angle = function(pos, k, d_head, opts) -> angle  rotary, explicit angle
 *   table = function(pos, i, d, opts) -> value       additive input, x[t, i] += value
 *   bias  = function(head, i, j, opts) -> value      logit bias, head 1..H, i/j positions
 *
 * Pairs are interleaved (x[2k], x[2k+1]), as encoding "rope", and rotate
 * with the same kernels (encodings/rotary.h), so a theta schedule equal to
 * RoPE's gives the same bits. k and i are 0-based; heads 1-based.
 *
 * The functions are evaluated into tables, never inside a training step:
 * theta once in create(), the others for every new position in prepare()
 * (which runs single-threaded; tables grow when longer positions come and
 * keep the rows already computed). The hooks only read the tables, so
 * training speed does not depend on Lua and the model's threads never touch
 * the interpreter.
 *
 * The C type object is embedded at the start of a larger record holding the
 * Lua side (callback thread and a registry reference to the function and the
 * option defaults): create() gets there from e->type, which every creation
 * path (pb.model, pb.eval overrides, pb.encoding) sets, so no extra pointer
 * has to travel in the options. Calls run on a dedicated thread created at
 * registration, under lua_pcall: an error, a non-number, NaN or inf becomes
 * a pb_error naming the encoding, the function, its arguments and the value.
 *
 * Lifetime: the records belong to one userdata kept in the Lua registry; its
 * finaliser unregisters and frees them when the state closes. Models and
 * probes using a Lua encoding are created after it, so they are finalised
 * before it (Lua finalises in reverse order of creation). */
#include "lua_encoding.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../encodings/rotary.h"
#include "lua_internal.h"

typedef enum { FORM_THETA, FORM_ANGLE, FORM_TABLE, FORM_BIAS, N_FORMS } lua_form;

static const char *const form_names[N_FORMS] = {"theta", "angle", "table", "bias"};
/* Argument names of each form's function (the opts table comes last). */
static const char *const form_args[N_FORMS][3] = {
    {"k", "d_head", NULL}, {"pos", "k", "d_head"}, {"pos", "i", "d"}, {"head", "i", "j"}};
static const int form_nargs[N_FORMS] = {2, 3, 3, 3};

/* Option names the opts table or pb.encoding() already uses. */
static const char *const reserved_options[] = {"d", "heads", "d_head", "causal",
                                               "max_len", "precision", "seed", NULL};

/* Largest tables prepare() builds, in floats (bias: H * P * P). */
#define MAX_TABLE_FLOATS (1L << 26)

typedef struct lua_enc_type {
    pb_encoding_type type; /* first: e->type points here */
    lua_form form;
    lua_State *co;         /* callback thread */
    int ref;               /* registry: {fn =, defaults =, thread =} */
    char *name, *summary, *reference, *options_doc;
    char **options;        /* NULL-terminated declared option names */
} lua_enc_type;

typedef struct lua_enc_state {
    pb_opts opts;          /* option values given at creation */
    int n_pairs;           /* rotary: d_head / 2 */
    double *theta;         /* theta form: [n_pairs] */
    float *ta, *tb;        /* rotary: cos, sin [tab_len][n_pairs];
                            * table: ta [tab_len][d]; bias: ta [H][tab_len][tab_len] */
    int tab_len;
} lua_enc_state;

static const lua_enc_type *type_of(const pb_encoding *e) {
    return (const lua_enc_type *)e->type;
}

/* ---- calling the Lua function ------------------------------------------- */

/* One batch of evaluations, run under lua_pcall on the callback thread. */
typedef struct eval_job {
    const pb_encoding *e;
    int old_len, new_len;  /* positions [0, old_len) are already in the table */
    double *theta;         /* theta: [n_pairs] out */
    double *angles;        /* angle: [new_len][n_pairs] out, rows >= old_len */
    float *tab;            /* table: [new_len][d]; bias: [H][new_len][new_len] */
    pb_error *err;
    int rc;
} eval_job;

/* A position as the encoding reads it (rounded at the `positions` site),
 * handed to Lua as an integer when it is one. */
static double read_position(const pb_encoding *e, int p) {
    return pb_rot_position(e->prec, p);
}

static void push_arg(lua_State *co, double v) {
    if (v == floor(v) && fabs(v) < 9007199254740992.0) lua_pushinteger(co, (lua_Integer)v);
    else lua_pushnumber(co, v);
}

static void format_call(char *buf, size_t len, lua_form f, const double *args) {
    int w = snprintf(buf, len, "%s(", form_names[f]);
    for (int i = 0; i < form_nargs[f] && w >= 0 && (size_t)w < len; i++)
        w += snprintf(buf + w, len - (size_t)w, "%s%s=%.17g", i ? ", " : "",
                      form_args[f][i], args[i]);
    if (w >= 0 && (size_t)w < len) snprintf(buf + w, len - (size_t)w, ")");
}

/* fn(args..., opts) with fn at stack index 3 and opts at 4 of the callback
 * thread; the result must be a finite number. */
static int call_fn(lua_State *co, eval_job *j, const double *args, double *out) {
    const lua_enc_type *lt = type_of(j->e);
    int nargs = form_nargs[lt->form];
    lua_pushvalue(co, 3);
    for (int i = 0; i < nargs; i++) push_arg(co, args[i]);
    lua_pushvalue(co, 4);
    int status = lua_pcall(co, nargs + 1, 1, 0);
    char call[160];
    if (status != LUA_OK) {
        format_call(call, sizeof call, lt->form, args);
        const char *msg = lua_type(co, -1) == LUA_TSTRING ? lua_tostring(co, -1) : NULL;
        pb_fail(j->err, "encoding '%s': %s raised an error: %s", lt->name, call,
                msg ? msg : lua_typename(co, lua_type(co, -1)));
        lua_pop(co, 1);
        return -1;
    }
    int type = lua_type(co, -1);
    double v = type == LUA_TNUMBER ? lua_tonumber(co, -1) : 0.0;
    if (type != LUA_TNUMBER || !isfinite(v)) {
        format_call(call, sizeof call, lt->form, args);
        char got[96];
        if (type == LUA_TNUMBER) snprintf(got, sizeof got, "%s", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
        else if (type == LUA_TSTRING) snprintf(got, sizeof got, "the string \"%.60s\"", lua_tostring(co, -1));
        else if (type == LUA_TBOOLEAN) snprintf(got, sizeof got, "%s", lua_toboolean(co, -1) ? "true" : "false");
        else snprintf(got, sizeof got, "a %s", lua_typename(co, type));
        pb_fail(j->err, "encoding '%s': %s returned %s; it must return a finite number",
                lt->name, call, got);
        lua_pop(co, 1);
        return -1;
    }
    lua_pop(co, 1);
    *out = v;
    return 0;
}

/* Push the table the functions get last: the declared options (given values
 * over defaults; 0/1 become booleans where the default is a boolean) and the
 * geometry d, heads, d_head, causal, max_len. spec at stack index 2. */
static void push_opts(lua_State *co, const pb_encoding *e, const pb_opts *o) {
    lua_newtable(co);
    int t = lua_gettop(co);
    lua_getfield(co, 2, "defaults");
    lua_pushnil(co);
    while (lua_next(co, -2)) {
        lua_pushvalue(co, -2);
        lua_insert(co, -2);
        lua_rawset(co, t);
    }
    for (int i = 0; i < o->n; i++) {
        const pb_opt *it = &o->items[i];
        lua_getfield(co, -1, it->key);
        int boolean = lua_type(co, -1) == LUA_TBOOLEAN;
        lua_pop(co, 1);
        if (it->kind == PB_OPT_STR) lua_pushstring(co, it->str);
        else if (boolean) lua_pushboolean(co, it->num != 0.0);
        else push_arg(co, it->num);
        lua_setfield(co, t, it->key);
    }
    lua_pop(co, 1);
    lua_pushinteger(co, e->g.d); lua_setfield(co, t, "d");
    lua_pushinteger(co, e->g.heads); lua_setfield(co, t, "heads");
    lua_pushinteger(co, e->g.d_head); lua_setfield(co, t, "d_head");
    lua_pushboolean(co, e->g.causal); lua_setfield(co, t, "causal");
    lua_pushinteger(co, e->g.max_len); lua_setfield(co, t, "max_len");
}

static int eval_rows(lua_State *co, eval_job *j) {
    const pb_encoding *e = j->e;
    const lua_enc_state *s = e->state;
    double args[3], v;
    switch (type_of(e)->form) {
    case FORM_THETA:
        for (int k = 0; k < s->n_pairs; k++) {
            args[0] = k;
            args[1] = e->g.d_head;
            if (call_fn(co, j, args, &j->theta[k])) return -1;
        }
        return 0;
    case FORM_ANGLE:
        for (int p = j->old_len; p < j->new_len; p++)
            for (int k = 0; k < s->n_pairs; k++) {
                args[0] = read_position(e, p);
                args[1] = k;
                args[2] = e->g.d_head;
                if (call_fn(co, j, args, &j->angles[(size_t)p * s->n_pairs + k])) return -1;
            }
        return 0;
    case FORM_TABLE: {
        int d = e->g.d;
        for (int p = j->old_len; p < j->new_len; p++)
            for (int i = 0; i < d; i++) {
                args[0] = read_position(e, p);
                args[1] = i;
                args[2] = d;
                if (call_fn(co, j, args, &v)) return -1;
                j->tab[(size_t)p * d + i] = pb_rot_table(e->prec, v);
            }
        return 0;
    }
    case FORM_BIAS: {
        size_t P = (size_t)j->new_len;
        for (int h = 0; h < e->g.heads; h++)
            for (int a = 0; a < j->new_len; a++)
                for (int b = a < j->old_len ? j->old_len : 0; b < j->new_len; b++) {
                    args[0] = h + 1;
                    args[1] = read_position(e, a);
                    args[2] = read_position(e, b);
                    if (call_fn(co, j, args, &v)) return -1;
                    j->tab[((size_t)h * P + a) * P + b] = pb_rot_table(e->prec, v);
                }
        return 0;
    }
    default: return 0;
    }
}

static int eval_protected(lua_State *co) {
    eval_job *j = lua_touserdata(co, 1);
    lua_settop(co, 1);
    lua_rawgeti(co, LUA_REGISTRYINDEX, type_of(j->e)->ref); /* 2: spec */
    lua_getfield(co, 2, "fn");                               /* 3 */
    push_opts(co, j->e, &((const lua_enc_state *)j->e->state)->opts); /* 4 */
    j->rc = eval_rows(co, j);
    return 0;
}

/* Run the job; memory errors of the interpreter also end up in err. */
static int run_job(eval_job *j, pb_error *err) {
    const lua_enc_type *lt = type_of(j->e);
    lua_State *co = lt->co;
    j->err = err;
    j->rc = 0;
    if (!lua_checkstack(co, 16))
        return pb_fail(err, "encoding '%s': Lua stack overflow", lt->name);
    int top = lua_gettop(co);
    lua_pushcfunction(co, eval_protected);
    lua_pushlightuserdata(co, j);
    if (lua_pcall(co, 1, 0, 0) != LUA_OK) {
        const char *msg = lua_tostring(co, -1);
        pb_fail(err, "encoding '%s': %s", lt->name, msg ? msg : "error in the Lua interpreter");
        j->rc = -1;
    }
    lua_settop(co, top);
    return j->rc;
}

/* ---- the encoding type's hooks ------------------------------------------ */

static void lua_enc_destroy(pb_encoding *e) {
    lua_enc_state *s = e->state;
    if (!s) return;
    free(s->theta);
    free(s->ta);
    free(s->tb);
    free(s);
    e->state = NULL;
}

static int lua_enc_create(pb_encoding *e, const pb_opts *o, pb_error *err) {
    const lua_enc_type *lt = type_of(e);
    lua_enc_state *s = calloc(1, sizeof *s);
    if (!s) return pb_fail(err, "encoding '%s': out of memory", lt->name);
    e->state = s;
    if (o) s->opts = *o;
    else pb_opts_init(&s->opts);
    s->opts.user = NULL;
    int dh = e->g.d_head;
    switch (lt->form) {
    case FORM_THETA:
    case FORM_ANGLE:
        if (dh <= 0 || dh % 2)
            return pb_fail(err, "encoding '%s': d_head must be even for rotary pairs, got %d",
                           lt->name, dh);
        if (dh / 2 > PB_ROT_MAX_PAIRS)
            return pb_fail(err, "encoding '%s': d_head %d exceeds the rotary maximum %d",
                           lt->name, dh, 2 * PB_ROT_MAX_PAIRS);
        s->n_pairs = dh / 2;
        break;
    case FORM_TABLE:
        if (e->g.d <= 0)
            return pb_fail(err, "encoding '%s': needs a positive width d, got %d", lt->name,
                           e->g.d);
        break;
    default:
        if (e->g.heads < 1)
            return pb_fail(err, "encoding '%s': needs at least one head (heads=%d)",
                           lt->name, e->g.heads);
        break;
    }
    if (lt->form != FORM_THETA) return 0;
    /* The schedule does not depend on positions: evaluate it once, now. */
    s->theta = malloc(sizeof(double) * (size_t)s->n_pairs);
    if (!s->theta) return pb_fail(err, "encoding '%s': out of memory", lt->name);
    eval_job j = {.e = e, .theta = s->theta};
    return run_job(&j, err);
}

/* cos/sin of the angles of one position, rounded as encoding "rope" does. */
static void rot_row(const pb_encoding *e, const double *angles, int n, float *c, float *sn) {
    for (int k = 0; k < n; k++) pb_rot_cos_sin(e->prec, angles[k], c + k, sn + k);
}

static void theta_angles(const pb_encoding *e, int pos, double *angles) {
    const lua_enc_state *s = e->state;
    double p = pb_rot_position(e->prec, pos);
    for (int k = 0; k < s->n_pairs; k++) angles[k] = p * s->theta[k];
}

static int too_large(const pb_encoding *e, double floats, int max_pos, pb_error *err) {
    if (floats <= (double)MAX_TABLE_FLOATS) return 0;
    return pb_fail(err,
                   "encoding '%s': a %s table for %d positions needs %.0f floats, more "
                   "than the limit %ld; evaluate shorter lengths",
                   type_of(e)->name, form_names[type_of(e)->form], max_pos, floats,
                   MAX_TABLE_FLOATS);
}

static int lua_enc_prepare(pb_encoding *e, int max_pos, pb_error *err) {
    lua_enc_state *s = e->state;
    const lua_enc_type *lt = type_of(e);
    int old = s->tab_len < max_pos ? s->tab_len : 0;
    size_t P = (size_t)max_pos, n = (size_t)s->n_pairs;
    eval_job j = {.e = e, .old_len = old, .new_len = max_pos};
    if (lt->form == FORM_THETA || lt->form == FORM_ANGLE) {
        if (too_large(e, 2.0 * P * n, max_pos, err)) return -1;
        size_t cells = P * n > 0 ? P * n : 1;
        float *c = malloc(sizeof(float) * cells);
        float *sn = malloc(sizeof(float) * cells);
        double *angles = malloc(sizeof(double) * cells);
        int rc = 0;
        if (!c || !sn || !angles) {
            rc = pb_fail(err, "encoding '%s': out of memory for a %d-position table",
                         lt->name, max_pos);
        } else if (lt->form == FORM_THETA) {
            j.old_len = 0; /* cheap: rebuild every row */
            for (int p = 0; p < max_pos; p++) theta_angles(e, p, angles + (size_t)p * n);
        } else {
            j.angles = angles;
            rc = run_job(&j, err);
        }
        if (rc == 0) {
            if (j.old_len) {
                memcpy(c, s->ta, sizeof(float) * (size_t)old * n);
                memcpy(sn, s->tb, sizeof(float) * (size_t)old * n);
            }
            for (int p = j.old_len; p < max_pos; p++)
                rot_row(e, angles + (size_t)p * n, (int)n, c + (size_t)p * n, sn + (size_t)p * n);
            free(s->ta);
            free(s->tb);
            s->ta = c;
            s->tb = sn;
            s->tab_len = max_pos;
        } else {
            free(c);
            free(sn);
        }
        free(angles);
        return rc;
    }
    size_t d = (size_t)e->g.d, H = (size_t)e->g.heads;
    double floats = lt->form == FORM_TABLE ? (double)P * d : (double)H * P * P;
    if (too_large(e, floats, max_pos, err)) return -1;
    float *tab = malloc(sizeof(float) * (size_t)(floats > 0 ? floats : 1));
    if (!tab)
        return pb_fail(err, "encoding '%s': out of memory for a %d-position table",
                       lt->name, max_pos);
    if (old && lt->form == FORM_TABLE) {
        memcpy(tab, s->ta, sizeof(float) * (size_t)old * d);
    } else if (old) {
        for (size_t h = 0; h < H; h++)
            for (size_t a = 0; a < (size_t)old; a++)
                memcpy(tab + (h * P + a) * P, s->ta + (h * old + a) * old,
                       sizeof(float) * (size_t)old);
    }
    j.tab = tab;
    if (run_job(&j, err)) {
        free(tab);
        return -1;
    }
    free(s->ta);
    s->ta = tab;
    s->tab_len = max_pos;
    return 0;
}

/* Rotate every head of every token by +phi (sgn = 1) or -phi (sgn = -1).
 * Positions outside the prepared table: the theta form computes them, the
 * angle form cannot call Lua here and writes NaN, so a missing prepare()
 * shows instead of passing silently. */
static void rot_apply(const pb_encoding *e, const int *pos, int T, float *x, int stride,
                      float sgn) {
    const lua_enc_state *s = e->state;
    int H = e->g.heads, dh = e->g.d_head, n = s->n_pairs;
    float cbuf[PB_ROT_MAX_PAIRS], sbuf[PB_ROT_MAX_PAIRS];
    double abuf[PB_ROT_MAX_PAIRS];
    for (int t = 0; t < T; t++) {
        const float *c = cbuf, *sn = sbuf;
        int p = pos[t];
        if (p >= 0 && p < s->tab_len) {
            c = s->ta + (size_t)p * n;
            sn = s->tb + (size_t)p * n;
        } else if (s->theta) {
            theta_angles(e, p, abuf);
            rot_row(e, abuf, n, cbuf, sbuf);
        } else {
            for (int k = 0; k < n; k++) cbuf[k] = sbuf[k] = NAN;
        }
        float *xt = x + (size_t)t * stride;
        for (int h = 0; h < H; h++) pb_rot_interleaved(xt + h * dh, c, sn, n, sgn);
    }
}

static void lua_enc_qk_forward(const pb_encoding *e, const float *params, const int *pos,
                               int T, int is_key, float *x, int stride) {
    (void)params;
    (void)is_key;
    rot_apply(e, pos, T, x, stride, 1.0f);
}

/* A rotation: d(input) = R^T d(output). */
static void lua_enc_qk_backward(const pb_encoding *e, const float *params, const int *pos,
                                int T, int is_key, const float *x_in, int in_stride,
                                float *dx, int dstride, float *dparams) {
    (void)params, (void)is_key, (void)x_in, (void)in_stride, (void)dparams;
    rot_apply(e, pos, T, dx, dstride, -1.0f);
}

/* x[T, d] += table[pos]. */
static void lua_enc_input_forward(const pb_encoding *e, const float *params, const int *pos,
                                  int T, float *x) {
    (void)params;
    const lua_enc_state *s = e->state;
    int d = e->g.d;
    for (int t = 0; t < T; t++) {
        float *xt = x + (size_t)t * d;
        int p = pos[t];
        if (p >= 0 && p < s->tab_len) {
            const float *row = s->ta + (size_t)p * d;
            for (int i = 0; i < d; i++) xt[i] += row[i];
        } else {
            for (int i = 0; i < d; i++) xt[i] = NAN;
        }
    }
}

static void lua_enc_input_backward(const pb_encoding *e, const float *params,
                                   const int *pos, int T, const float *dx, float *dparams) {
    (void)e, (void)params, (void)pos, (void)T, (void)dx, (void)dparams;
}

/* bias[H][nq][nk] from the table [H][tab_len][tab_len]. */
static void lua_enc_bias_forward(const pb_encoding *e, const float *params,
                                 const int *qpos, int nq, const int *kpos, int nk,
                                 float *bias) {
    (void)params;
    const lua_enc_state *s = e->state;
    size_t P = (size_t)s->tab_len, plane = (size_t)nq * nk;
    for (int h = 0; h < e->g.heads; h++)
        for (int a = 0; a < nq; a++) {
            float *out = bias + h * plane + (size_t)a * nk;
            int i = qpos[a];
            for (int b = 0; b < nk; b++) {
                int j = kpos[b];
                int inside = i >= 0 && j >= 0 && (size_t)i < P && (size_t)j < P;
                out[b] = inside ? s->ta[((size_t)h * P + i) * P + j] : NAN;
            }
        }
}

static void lua_enc_bias_backward(const pb_encoding *e, const float *params,
                                  const int *qpos, int nq, const int *kpos, int nk,
                                  const float *dbias, float *dparams) {
    (void)e, (void)params, (void)qpos, (void)nq, (void)kpos, (void)nk, (void)dbias,
        (void)dparams;
}

int pb_lua_encoding_is_lua(const pb_encoding_type *t) {
    return t && t->create == lua_enc_create;
}

/* ---- registration ---------------------------------------------------------- */

#define HOLDER_MT "posbench.lua_encodings"           /* its metatable */
#define HOLDER_KEY "posbench.lua_encodings.holder"  /* registry key of the one instance */

/* Every type registered from this Lua state. */
typedef struct holder {
    lua_enc_type **types;
    int n, cap;
} holder;

static void free_type(lua_enc_type *lt) {
    if (!lt) return;
    free(lt->name);
    free(lt->summary);
    free(lt->reference);
    free(lt->options_doc);
    for (char **o = lt->options; o && *o; o++) free(*o);
    free(lt->options);
    free(lt);
}

static int holder_gc(lua_State *L) {
    holder *h = luaL_checkudata(L, 1, HOLDER_MT);
    for (int i = 0; i < h->n; i++) {
        pb_encoding_unregister(&h->types[i]->type);
        free_type(h->types[i]);
    }
    free(h->types);
    h->types = NULL;
    h->n = h->cap = 0;
    return 0;
}

/* The holder of this state, created on first use, with room for one more. */
static holder *get_holder(lua_State *L) {
    if (lua_getfield(L, LUA_REGISTRYINDEX, HOLDER_KEY) != LUA_TUSERDATA) {
        lua_pop(L, 1);
        holder *h = lua_newuserdatauv(L, sizeof *h, 0);
        memset(h, 0, sizeof *h);
        if (luaL_newmetatable(L, HOLDER_MT)) {
            lua_pushcfunction(L, holder_gc);
            lua_setfield(L, -2, "__gc");
        }
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, HOLDER_KEY);
    }
    holder *h = lua_touserdata(L, -1);
    lua_pop(L, 1); /* anchored in the registry */
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 8;
        lua_enc_type **t = realloc(h->types, sizeof *t * (size_t)cap);
        if (!t) luaL_error(L, "pb.register_encoding: out of memory");
        h->types = t;
        h->cap = cap;
    }
    return h;
}

static int valid_name(const char *s) {
    if (!*s || strlen(s) >= 64) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* spec.options (at idx, may be nil) -> a new table of defaults pushed on the
 * stack, and a Lua array of every declared name (array part first, in order,
 * then the names with defaults, sorted) pushed above it. */
static void read_options(lua_State *L, int idx, const char *name) {
    lua_newtable(L); /* defaults */
    lua_newtable(L); /* names */
    int defaults = lua_gettop(L) - 1, names = defaults + 1, n = 0;
    if (lua_isnil(L, idx)) return;
    if (!lua_istable(L, idx))
        luaL_error(L, "pb.register_encoding('%s'): options must be a table like "
                      "{\"a\", b = 1}, not a %s", name, luaL_typename(L, idx));
    lua_Integer len = luaL_len(L, idx);
    for (lua_Integer i = 1; i <= len; i++) {
        if (lua_geti(L, idx, i) != LUA_TSTRING)
            luaL_error(L, "pb.register_encoding('%s'): options[%d] must be an option name "
                          "(a string)", name, (int)i);
        lua_rawseti(L, names, ++n);
    }
    /* names with defaults, sorted for a stable order */
    int n_keyed = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING) n_keyed++;
        else if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > len)
            luaL_error(L, "pb.register_encoding('%s'): options keys must be names", name);
    }
    const char **keyed = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n_keyed + 1), 0);
    int k = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) == LUA_TSTRING) {
            int vt = lua_type(L, -1);
            if (vt != LUA_TNUMBER && vt != LUA_TSTRING && vt != LUA_TBOOLEAN)
                luaL_error(L, "pb.register_encoding('%s'): the default of option '%s' "
                              "must be a number, string or boolean, not a %s",
                           name, lua_tostring(L, -2), luaL_typename(L, -1));
            keyed[k++] = lua_tostring(L, -2); /* the key stays in spec.options */
        }
        lua_pop(L, 1);
    }
    qsort(keyed, (size_t)k, sizeof *keyed, cmp_str);
    for (int i = 0; i < k; i++) {
        lua_pushstring(L, keyed[i]);
        lua_rawseti(L, names, ++n);
        lua_getfield(L, idx, keyed[i]);
        lua_setfield(L, defaults, keyed[i]);
    }
    lua_pop(L, 1); /* keyed */
    /* validate every name */
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, names, i);
        const char *o = lua_tostring(L, -1);
        if (!*o || strlen(o) >= PB_OPT_KEY_LEN || strchr(o, '.'))
            luaL_error(L, "pb.register_encoding('%s'): bad option name '%s' (no dots, 1 to "
                          "%d characters)", name, o, PB_OPT_KEY_LEN - 1);
        for (const char *const *r = reserved_options; *r; r++)
            if (strcmp(*r, o) == 0)
                luaL_error(L, "pb.register_encoding('%s'): option name '%s' is reserved "
                              "(d, heads, d_head, causal, max_len reach the functions in "
                              "opts anyway; precision and seed belong to pb.encoding)",
                           name, o);
        for (int m = 1; m < i; m++) {
            lua_rawgeti(L, names, m);
            if (strcmp(lua_tostring(L, -1), o) == 0)
                luaL_error(L, "pb.register_encoding('%s'): option '%s' is declared twice",
                           name, o);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
}

/* "a b=1 c=linear" from the names and defaults tables. */
static void push_options_doc(lua_State *L, int defaults, int names) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_Integer n = luaL_len(L, names);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, names, i);
        const char *o = lua_tostring(L, -1);
        lua_pop(L, 1); /* kept alive by names */
        if (i > 1) luaL_addchar(&b, ' ');
        luaL_addstring(&b, o);
        lua_getfield(L, defaults, o);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            continue;
        }
        luaL_addchar(&b, '=');
        lua_pushstring(L, lua_isboolean(L, -1) ? (lua_toboolean(L, -1) ? "true" : "false")
                                               : lua_tostring(L, -1));
        lua_remove(L, -2);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
}

static const pb_encoding_type form_types[N_FORMS] = {
    [FORM_THETA] = {.sites = PB_ENC_QK, .qk_forward = lua_enc_qk_forward,
                    .qk_backward = lua_enc_qk_backward},
    [FORM_ANGLE] = {.sites = PB_ENC_QK, .qk_forward = lua_enc_qk_forward,
                    .qk_backward = lua_enc_qk_backward},
    [FORM_TABLE] = {.sites = PB_ENC_INPUT, .input_forward = lua_enc_input_forward,
                    .input_backward = lua_enc_input_backward},
    [FORM_BIAS] = {.sites = PB_ENC_BIAS, .bias_forward = lua_enc_bias_forward,
                   .bias_backward = lua_enc_bias_backward},
};

/* pb.register_encoding(name, {theta= | angle= | table= | bias= function,
 * summary=, reference=, options=}) -> name */
static int l_register_encoding(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    if (!valid_name(name))
        return luaL_error(L, "pb.register_encoding: bad name '%s' (1 to 63 letters, digits, "
                             "'_' or '-')", name);
    static const char *const keys[] = {"theta", "angle", "table", "bias", "summary",
                                       "reference", "options", NULL};
    char what[96];
    snprintf(what, sizeof what, "pb.register_encoding('%s')", name);
    pb_lua_check_keys(L, 2, keys, what);
    if (pb_encoding_find(name)) {
        pb_error err;
        pb_fail(&err, "pb.register_encoding: an encoding named '%s' already exists (%s); "
                      "choose another name",
                name, pb_lua_encoding_is_lua(pb_encoding_find(name)) ? "registered from Lua"
                                                                     : "built-in");
        return pb_lua_raise(L, &err);
    }
    int form = -1;
    for (int f = 0; f < N_FORMS; f++) {
        int t = lua_getfield(L, 2, form_names[f]);
        lua_pop(L, 1);
        if (t == LUA_TNIL) continue;
        if (t != LUA_TFUNCTION)
            return luaL_error(L, "%s: '%s' must be a function, not a %s", what,
                              form_names[f], lua_typename(L, t));
        if (form >= 0)
            return luaL_error(L, "%s: give one of theta=, angle=, table=, bias=, not both "
                                 "%s= and %s=", what, form_names[form], form_names[f]);
        form = f;
    }
    if (form < 0)
        return luaL_error(L, "%s: the spec needs one function: theta=function(k, d_head, "
                             "opts), angle=function(pos, k, d_head, opts), "
                             "table=function(pos, i, d, opts) or bias=function(head, i, j, "
                             "opts)", what);
    const char *summary = pb_lua_field_str(L, 2, "summary", NULL, what);
    const char *reference = pb_lua_field_str(L, 2, "reference", NULL, what);
    lua_getfield(L, 2, "options");                 /* 3 */
    read_options(L, 3, name);                      /* 4: defaults, 5: names */
    push_options_doc(L, 4, 5);                     /* 6 */
    holder *h = get_holder(L);

    /* The Lua side, {fn =, defaults =, thread =}, kept by a registry ref;
     * calls run on the thread. */
    lua_createtable(L, 0, 3);
    lua_getfield(L, 2, form_names[form]);
    lua_setfield(L, -2, "fn");
    lua_pushvalue(L, 4);
    lua_setfield(L, -2, "defaults");
    lua_State *co = lua_newthread(L);
    lua_setfield(L, -2, "thread");
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);

    /* The C side. From here on nothing raises until the type is registered. */
    lua_enc_type *lt = calloc(1, sizeof *lt);
    lua_Integer n_opts = luaL_len(L, 5);
    if (lt) lt->options = calloc((size_t)n_opts + 1, sizeof(char *));
    int ok = lt && lt->options;
    for (lua_Integer i = 1; ok && i <= n_opts; i++) {
        lua_rawgeti(L, 5, i);
        ok = (lt->options[i - 1] = strdup(lua_tostring(L, -1))) != NULL;
        lua_pop(L, 1);
    }
    char dflt_summary[64];
    snprintf(dflt_summary, sizeof dflt_summary, "defined in Lua (%s form)", form_names[form]);
    if (ok) {
        lt->name = strdup(name);
        lt->summary = strdup(summary ? summary : dflt_summary);
        lt->reference = strdup(reference ? reference : "");
        lt->options_doc = strdup(lua_tostring(L, 6));
        ok = lt->name && lt->summary && lt->reference && lt->options_doc;
    }
    pb_error err;
    if (!ok) pb_fail(&err, "%s: out of memory", what);
    if (ok) {
        lt->form = (lua_form)form;
        lt->co = co;
        lt->ref = ref;
        lt->type = form_types[form];
        lt->type.name = lt->name;
        lt->type.summary = lt->summary;
        lt->type.reference = lt->reference;
        lt->type.options_doc = lt->options_doc;
        lt->type.options = (const char *const *)lt->options;
        lt->type.pos_dims = 1;
        lt->type.create = lua_enc_create;
        lt->type.destroy = lua_enc_destroy;
        lt->type.prepare = lua_enc_prepare;
        ok = pb_encoding_register(&lt->type, &err) == 0;
    }
    if (!ok) {
        free_type(lt);
        luaL_unref(L, LUA_REGISTRYINDEX, ref);
        return pb_lua_raise(L, &err);
    }
    h->types[h->n++] = lt;
    lua_pushstring(L, name);
    return 1;
}

static const luaL_Reg encoding_funcs[] = {
    {"register_encoding", l_register_encoding},
    {NULL, NULL}};

void pb_lua_open_encoding(lua_State *L) {
    luaL_setfuncs(L, encoding_funcs, 0);
}
