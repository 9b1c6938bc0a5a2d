/* Encodings defined in Lua: pb.register_encoding(name, spec). The encoding
 * itself is a callback encoding (encodings/callback.h: the four forms, the
 * tables, the hooks); this file registers it and is its host, calling the
 * Lua function.
 *
 * The callback type is embedded at the start of a larger record holding the
 * Lua side (callback thread and a registry reference to the function and the
 * option defaults): the host gets there from e->type, which every creation
 * path (pb.model, pb.eval overrides, pb.encoding) sets, so no extra pointer
 * has to travel in the options. Calls run on a dedicated thread created at
 * registration, under lua_pcall: an error, a non-number, NaN or inf becomes
 * a pb_error naming the encoding, the function, its arguments and the value.
 *
 * Learnable encodings (a spec with params) are answered by
 * lua_encoding_learn.c, which hands each request to posbench.learn.
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

#include "../../encodings/callback.h"
#include "lua_encoding_internal.h"
#include "lua_internal.h"

/* Option names the opts table or pb.encoding() already uses. */
static const char *const reserved_options[] = {"d", "heads", "d_head", "causal",
                                               "max_len", "precision", "seed", NULL};

static const lua_enc_type *type_of(const pb_encoding *e) {
    return pb_lua_enc_type_of(e);
}

/* ---- calling the Lua function ------------------------------------------- */

/* What one call needs: the thread (fn at stack index 3, opts at 4), the
 * encoding and where errors go. */
typedef struct call_ctx {
    lua_State *co;
    const pb_encoding *e;
    pb_error *err;
} call_ctx;

void pb_lua_enc_push_arg(lua_State *co, double v) {
    if (v == floor(v) && fabs(v) < 9007199254740992.0) lua_pushinteger(co, (lua_Integer)v);
    else lua_pushnumber(co, v);
}

static void format_call(char *buf, size_t len, pb_cb_form f, const double *args) {
    int w = snprintf(buf, len, "%s(", pb_cb_form_names[f]);
    for (int i = 0; i < pb_cb_form_nargs[f] && w >= 0 && (size_t)w < len; i++)
        w += snprintf(buf + w, len - (size_t)w, "%s%s=%.17g", i ? ", " : "",
                      pb_cb_form_args[f][i], args[i]);
    if (w >= 0 && (size_t)w < len) snprintf(buf + w, len - (size_t)w, ")");
}

/* fn(args..., opts) with fn at stack index 3 and opts at 4 of the callback
 * thread; the result must be a finite number. */
static int call_fn(void *ctx, const double *args, double *out) {
    call_ctx *c = ctx;
    lua_State *co = c->co;
    const lua_enc_type *lt = type_of(c->e);
    int nargs = pb_cb_form_nargs[lt->cb.form];
    lua_pushvalue(co, 3);
    for (int i = 0; i < nargs; i++) pb_lua_enc_push_arg(co, args[i]);
    lua_pushvalue(co, 4);
    int status = lua_pcall(co, nargs + 1, 1, 0);
    char call[160];
    if (status != LUA_OK) {
        format_call(call, sizeof call, lt->cb.form, args);
        const char *msg = lua_type(co, -1) == LUA_TSTRING ? lua_tostring(co, -1) : NULL;
        pb_fail(c->err, "encoding '%s': %s raised an error: %s", lt->name, call,
                msg ? msg : lua_typename(co, lua_type(co, -1)));
        lua_pop(co, 1);
        return -1;
    }
    int type = lua_type(co, -1);
    double v = type == LUA_TNUMBER ? lua_tonumber(co, -1) : 0.0;
    if (type != LUA_TNUMBER || !isfinite(v)) {
        format_call(call, sizeof call, lt->cb.form, args);
        char got[96];
        if (type == LUA_TNUMBER) snprintf(got, sizeof got, "%s", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
        else if (type == LUA_TSTRING) snprintf(got, sizeof got, "the string \"%.60s\"", lua_tostring(co, -1));
        else if (type == LUA_TBOOLEAN) snprintf(got, sizeof got, "%s", lua_toboolean(co, -1) ? "true" : "false");
        else snprintf(got, sizeof got, "a %s", lua_typename(co, type));
        pb_fail(c->err, "encoding '%s': %s returned %s; it must return a finite number",
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
void pb_lua_enc_push_opts(lua_State *co, const pb_encoding *e, const pb_opts *o) {
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
        else if (it->kind == PB_OPT_BOOL || boolean) lua_pushboolean(co, it->num != 0.0);
        else pb_lua_enc_push_arg(co, it->num);
        lua_setfield(co, t, it->key);
    }
    lua_pop(co, 1);
    lua_pushinteger(co, e->g.d); lua_setfield(co, t, "d");
    lua_pushinteger(co, e->g.heads); lua_setfield(co, t, "heads");
    lua_pushinteger(co, e->g.d_head); lua_setfield(co, t, "d_head");
    lua_pushboolean(co, e->g.causal); lua_setfield(co, t, "causal");
    lua_pushinteger(co, e->g.max_len); lua_setfield(co, t, "max_len");
}

/* The host's run job: fn and opts on the thread, then the encoding's fill. */
typedef struct host_job {
    const pb_encoding *e;
    pb_cb_fill fill;
    void *job;
    pb_error *err;
    int rc;
} host_job;

static int eval_protected(lua_State *co) {
    host_job *j = lua_touserdata(co, 1);
    lua_settop(co, 1);
    lua_rawgeti(co, LUA_REGISTRYINDEX, type_of(j->e)->ref); /* 2: spec */
    lua_getfield(co, 2, "fn");                               /* 3 */
    pb_lua_enc_push_opts(co, j->e, pb_cb_options(j->e));     /* 4 */
    call_ctx c = {.co = co, .e = j->e, .err = j->err};
    j->rc = j->fill(j->job, call_fn, &c);
    return 0;
}

int pb_lua_enc_callbacks_running_count;

int pb_lua_encoding_callbacks_running(void) { return pb_lua_enc_callbacks_running_count; }

/* Run the job (pb_cb_host.run); memory errors of the interpreter also end
 * up in err. */
static int run_job(const pb_encoding *e, pb_cb_fill fill, void *job, pb_error *err) {
    const lua_enc_type *lt = type_of(e);
    lua_State *co = lt->co;
    host_job hj = {.e = e, .fill = fill, .job = job, .err = err, .rc = 0};
    host_job *j = &hj;
    if (!lua_checkstack(co, 16))
        return pb_fail(err, "encoding '%s': Lua stack overflow", lt->name);
    int top = lua_gettop(co);
    lua_pushcfunction(co, eval_protected);
    lua_pushlightuserdata(co, j);
    pb_lua_enc_callbacks_running_count++;  /* balanced: lua_pcall always returns */
    int status = lua_pcall(co, 1, 0, 0);
    pb_lua_enc_callbacks_running_count--;
    if (status != LUA_OK) {
        const char *msg = lua_tostring(co, -1);
        pb_fail(err, "encoding '%s': %s", lt->name, msg ? msg : "error in the Lua interpreter");
        j->rc = -1;
    }
    lua_settop(co, top);
    return j->rc;
}

static const pb_cb_host lua_host = {.run = run_job, .learn = pb_lua_enc_learn};

int pb_lua_encoding_is_lua(const pb_encoding_type *t) {
    return pb_encoding_is_callback(t) && ((const pb_cb_type *)t)->host == &lua_host;
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
        pb_encoding_unregister(&h->types[i]->cb.type);
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
                                       "reference", "options", "params", "relative", NULL};
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
    for (int f = 0; f < PB_CB_N_FORMS; f++) {
        int t = lua_getfield(L, 2, pb_cb_form_names[f]);
        lua_pop(L, 1);
        if (t == LUA_TNIL) continue;
        if (t != LUA_TFUNCTION)
            return luaL_error(L, "%s: '%s' must be a function, not a %s", what,
                              pb_cb_form_names[f], lua_typename(L, t));
        if (form >= 0)
            return luaL_error(L, "%s: give one of theta=, angle=, table=, bias=, not both "
                                 "%s= and %s=", what, pb_cb_form_names[form], pb_cb_form_names[f]);
        form = f;
    }
    if (form < 0)
        return luaL_error(L, "%s: the spec needs one function: theta=function(k, d_head, "
                             "opts), angle=function(pos, k, d_head, opts), "
                             "table=function(pos, i, d, opts) or bias=function(head, i, j, "
                             "opts)", what);
    lua_getfield(L, 2, "params");
    int learnable = !lua_isnil(L, -1);
    if (learnable && !lua_istable(L, -1))
        return luaL_error(L, "%s: params must be a table such as {slopes = {shape = "
                             "{\"heads\"}, init = 0}}, not a %s", what, luaL_typename(L, -1));
    lua_pop(L, 1);
    int relative = lua_getfield(L, 2, "relative") != LUA_TNIL;
    if (relative && !lua_isboolean(L, -1))
        return luaL_error(L, "%s: relative must be a boolean, not a %s", what,
                          luaL_typename(L, -1));
    relative = relative && lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (relative && !(learnable && form == PB_CB_BIAS))
        return luaL_error(L, "%s: relative = true applies to a bias with params (a learnable "
                             "bias evaluated once per head and distance)", what);
    const char *summary = pb_lua_field_str(L, 2, "summary", NULL, what);
    const char *reference = pb_lua_field_str(L, 2, "reference", NULL, what);
    lua_getfield(L, 2, "options");                 /* 3 */
    read_options(L, 3, name);                      /* 4: defaults, 5: names */
    push_options_doc(L, 4, 5);                     /* 6 */
    holder *h = get_holder(L);

    /* The Lua side, {fn =, defaults =, thread =, name =, form =, source =,
     * and for a learnable one params =, relative =, driver =}, kept by a
     * registry ref; calls run on the thread. */
    lua_createtable(L, 0, 9);
    lua_getfield(L, 2, pb_cb_form_names[form]);
    lua_Debug ar;
    lua_pushvalue(L, -1);
    lua_getinfo(L, ">S", &ar);
    lua_pushfstring(L, "%s:%d", ar.short_src, ar.linedefined);
    lua_setfield(L, -3, "source");
    lua_setfield(L, -2, "fn");
    lua_pushvalue(L, 4);
    lua_setfield(L, -2, "defaults");
    lua_pushstring(L, name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, pb_cb_form_names[form]);
    lua_setfield(L, -2, "form");
    if (learnable) {
        lua_getfield(L, 2, "params");
        lua_setfield(L, -2, "params");
        lua_pushboolean(L, relative);
        lua_setfield(L, -2, "relative");
        lua_getglobal(L, "require");
        lua_pushstring(L, "posbench.learn");
        lua_call(L, 1, 1);
        lua_setfield(L, -2, "driver");
    }
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
    snprintf(dflt_summary, sizeof dflt_summary, "defined in Lua (%s form)",
             pb_cb_form_names[form]);
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
        lt->co = co;
        lt->ref = ref;
        pb_cb_type_init(&lt->cb, (pb_cb_form)form, &lua_host, learnable, relative);
        lt->cb.type.name = lt->name;
        lt->cb.type.summary = lt->summary;
        lt->cb.type.reference = lt->reference;
        lt->cb.type.options_doc = lt->options_doc;
        lt->cb.type.options = (const char *const *)lt->options;
        ok = pb_encoding_register(&lt->cb.type, &err) == 0;
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

/* core._lua_encoding_record(name) -> the registration record of a Lua
 * encoding ({fn, name, form, source, defaults, params, relative}), or nil. */
static int l_lua_encoding_record(lua_State *L) {
    const pb_encoding_type *t = pb_encoding_find(luaL_checkstring(L, 1));
    if (!t || !pb_lua_encoding_is_lua(t)) return 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, ((const lua_enc_type *)t)->ref);
    return 1;
}

static const luaL_Reg encoding_funcs[] = {
    {"register_encoding", l_register_encoding},
    {"_lua_encoding_record", l_lua_encoding_record},
    {NULL, NULL}};

void pb_lua_open_encoding(lua_State *L) {
    luaL_setfuncs(L, encoding_funcs, 0);
}
