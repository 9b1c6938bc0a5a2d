/* Learnable callback encodings (callback.h): the function depends on
 * parameters in the model's buffer.
 *
 * Distinct arguments, for P prepared positions (p are position values, read
 * through the `positions` rounding site; heads 1-based):
 *   theta            (k, d_head)          k < n          index k
 *   angle            (p, k, d_head)                      index p n + k
 *   table            (p, i, d)            i < d          index p d + i
 *   bias, relative   (head, r, 0)         r = i - j in (-P, P)
 *                                                        index h (2P - 1) + r + P - 1
 *   bias             (head, i, j)         j <= i when causal, else all
 *                                                        index h T + tri(i) + j
 *                                                        (causal, tri(i) = i (i + 1) / 2)
 *                                                        or h P P + i P + j
 * (A relative bias rounds the distance itself at the `positions` site.)
 *
 * refresh() asks the host for the values at every distinct argument when
 * the parameters or the prepared length changed, and builds the tables the
 * hooks read (cos/sin, additive rows, bias by distance or by pair). The
 * forward hooks check they are given the parameters the tables belong to
 * and write NaN otherwise, so a missing refresh shows. The backward hooks
 * add the upstream gradient of every distinct argument into gacc (they run
 * one at a time for encodings with parameters); backward_end() hands the
 * nonzero entries to the host as seeds, adds the parameter gradients it
 * returns into dparams and clears gacc. Rounding sites are the identity in
 * backward, as for the built-ins. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "callback_internal.h"
#include "rotary.h"

/* Largest tables and argument lists, in entries. */
#define MAX_LEARN_ENTRIES (1L << 24)

static const pb_cb_host *host_of(const pb_encoding *e) {
    return pb_cb_type_of(e)->host;
}

static const char *name_of(const pb_encoding *e) {
    return e->type->name;
}

/* Distinct arguments for P positions (-1 when too many). */
static long count_args(const pb_encoding *e, int P) {
    const cb_state *s = e->state;
    long H = e->g.heads, p = P;
    switch (pb_cb_type_of(e)->form) {
    case PB_CB_THETA: return s->n_pairs;
    case PB_CB_ANGLE: return p * s->n_pairs;
    case PB_CB_TABLE: return p * e->g.d;
    default:
        if (pb_cb_type_of(e)->relative) return H * (2 * p - 1);
        return e->g.causal ? H * (p * (p + 1) / 2) : H * p * p;
    }
}

/* Index of the bias of head h between position values i and j, or -1 when
 * the pair has no entry (outside [0, P), or j > i in a causal model). */
static long bias_index(const pb_encoding *e, int P, int h, int i, int j) {
    if (i < 0 || j < 0 || i >= P || j >= P) return -1;
    long p = P;
    if (pb_cb_type_of(e)->relative) return (long)h * (2 * p - 1) + (i - j) + p - 1;
    if (!e->g.causal) return ((long)h * p + i) * p + j;
    if (j > i) return -1;
    return (long)h * (p * (p + 1) / 2) + (long)i * (i + 1) / 2 + j;
}

static double read_position(const pb_encoding *e, int p) {
    return pb_rot_position(e->prec, p);
}

/* args[c][0..2] of every distinct argument for P positions. */
static void list_args(const pb_encoding *e, int P, double *args) {
    const cb_state *s = e->state;
    int n = s->n_pairs, d = e->g.d, H = e->g.heads;
    double *a = args;
    switch (pb_cb_type_of(e)->form) {
    case PB_CB_THETA:
        for (int k = 0; k < n; k++, a += 3) a[0] = k, a[1] = e->g.d_head, a[2] = 0;
        return;
    case PB_CB_ANGLE:
        for (int p = 0; p < P; p++)
            for (int k = 0; k < n; k++, a += 3)
                a[0] = read_position(e, p), a[1] = k, a[2] = e->g.d_head;
        return;
    case PB_CB_TABLE:
        for (int p = 0; p < P; p++)
            for (int i = 0; i < d; i++, a += 3) a[0] = read_position(e, p), a[1] = i, a[2] = d;
        return;
    default:
        for (int h = 0; h < H; h++) {
            if (pb_cb_type_of(e)->relative) {
                for (int r = -(P - 1); r < P; r++, a += 3)
                    a[0] = h + 1, a[1] = pb_rot_position(e->prec, r), a[2] = 0;
                continue;
            }
            for (int i = 0; i < P; i++)
                for (int j = 0; j < (e->g.causal ? i + 1 : P); j++, a += 3)
                    a[0] = h + 1, a[1] = read_position(e, i), a[2] = read_position(e, j);
        }
    }
}

int pb_cb_learn_create(pb_encoding *e, pb_error *err) {
    cb_state *s = e->state;
    s->learn.args_len = -1;
    pb_cb_request r = {.op = PB_CB_LAYOUT};
    if (host_of(e)->learn(e, &r, err)) return -1;
    e->n_params = r.n_params;
    s->learn.snap = malloc(sizeof(float) * (size_t)(r.n_params > 0 ? r.n_params : 1));
    if (pb_cb_type_of(e)->form == PB_CB_THETA)
        s->theta = calloc((size_t)s->n_pairs, sizeof(double));
    if (!s->learn.snap || (pb_cb_type_of(e)->form == PB_CB_THETA && !s->theta))
        return pb_fail(err, "encoding '%s': out of memory", name_of(e));
    return 0;
}

void pb_cb_learn_free(cb_state *s) {
    free(s->learn.args);
    free(s->learn.vals);
    free(s->learn.gacc);
    free(s->learn.snap);
    memset(&s->learn, 0, sizeof s->learn);
}

/* Tables for max_pos positions; their values come with the next refresh. */
int pb_cb_learn_prepare(pb_encoding *e, int max_pos, pb_error *err) {
    cb_state *s = e->state;
    const pb_cb_type *ct = pb_cb_type_of(e);
    long P = max_pos, H = e->g.heads, cells;
    if (ct->form == PB_CB_THETA || ct->form == PB_CB_ANGLE) cells = P * s->n_pairs;
    else if (ct->form == PB_CB_TABLE) cells = P * e->g.d;
    else cells = ct->relative ? H * (2 * P - 1) : H * P * P;
    long n_args = count_args(e, max_pos);
    if (cells > MAX_LEARN_ENTRIES || n_args > MAX_LEARN_ENTRIES)
        return pb_fail(err,
                       "encoding '%s': %d positions need %ld table entries and %ld distinct "
                       "arguments, more than the limit %ld; evaluate shorter lengths",
                       name_of(e), max_pos, cells, n_args, MAX_LEARN_ENTRIES);
    size_t n = (size_t)(cells > 0 ? cells : 1);
    float *ta = malloc(sizeof(float) * n);
    float *tb = ct->form == PB_CB_THETA || ct->form == PB_CB_ANGLE ? malloc(sizeof(float) * n)
                                                                     : NULL;
    if (!ta || ((ct->form == PB_CB_THETA || ct->form == PB_CB_ANGLE) && !tb)) {
        free(ta);
        free(tb);
        return pb_fail(err, "encoding '%s': out of memory for a %d-position table",
                       name_of(e), max_pos);
    }
    free(s->ta);
    free(s->tb);
    s->ta = ta;
    s->tb = tb;
    s->tab_len = max_pos;
    s->learn.fresh = 0;
    return 0;
}

/* The argument list, values and gradient buffer for the prepared length. */
static int ensure_args(const pb_encoding *e, pb_error *err) {
    cb_state *s = e->state;
    cb_learn *l = &s->learn;
    if (l->args_len == s->tab_len) return 0;
    long n = count_args(e, s->tab_len);
    size_t m = (size_t)(n > 0 ? n : 1);
    double *args = malloc(sizeof(double) * 3 * m), *vals = malloc(sizeof(double) * m);
    double *gacc = calloc(m, sizeof(double));
    if (!args || !vals || !gacc) {
        free(args);
        free(vals);
        free(gacc);
        return pb_fail(err, "encoding '%s': out of memory for %ld arguments", name_of(e), n);
    }
    list_args(e, s->tab_len, args);
    free(l->args);
    free(l->vals);
    free(l->gacc);
    l->args = args;
    l->vals = vals;
    l->gacc = gacc;
    l->n_args = (int)n;
    l->args_len = s->tab_len;
    return 0;
}

/* The hooks' tables from the values. */
static void build_tables(pb_encoding *e) {
    cb_state *s = e->state;
    const double *v = s->learn.vals;
    int n = s->n_pairs, P = s->tab_len;
    double angles[PB_ROT_MAX_PAIRS];
    switch (pb_cb_type_of(e)->form) {
    case PB_CB_THETA:
        for (int k = 0; k < n; k++) s->theta[k] = v[k];
        for (int p = 0; p < P; p++) {
            double pos = read_position(e, p);
            for (int k = 0; k < n; k++) angles[k] = pos * s->theta[k];
            pb_cb_rot_row(e, angles, n, s->ta + (size_t)p * n, s->tb + (size_t)p * n);
        }
        return;
    case PB_CB_ANGLE:
        for (int p = 0; p < P; p++)
            pb_cb_rot_row(e, v + (size_t)p * n, n, s->ta + (size_t)p * n, s->tb + (size_t)p * n);
        return;
    case PB_CB_BIAS:
        if (pb_cb_type_of(e)->relative) { /* [H][2P - 1]: one entry per distinct argument */
            for (int c = 0; c < s->learn.n_args; c++) s->ta[c] = pb_rot_table(e->prec, v[c]);
        } else {
            /* [H][P][P] by position pair; no entry (causal, j > i): NaN */
            for (int h = 0; h < e->g.heads; h++)
                for (int i = 0; i < P; i++)
                    for (int j = 0; j < P; j++) {
                        long at = bias_index(e, P, h, i, j);
                        s->ta[((size_t)h * P + i) * P + j] =
                            at < 0 ? NAN : pb_rot_table(e->prec, v[at]);
                    }
        }
        return;
    default: /* table: [P][d], one entry per distinct argument */
        for (int c = 0; c < s->learn.n_args; c++) s->ta[c] = pb_rot_table(e->prec, v[c]);
        return;
    }
}

static int learn_refresh(pb_encoding *e, const float *params, pb_error *err) {
    cb_state *s = e->state;
    cb_learn *l = &s->learn;
    if (l->init_failed) return pb_fail(err, "%s", l->init_error);
    size_t bytes = sizeof(float) * (size_t)e->n_params;
    if (l->fresh && memcmp(l->snap, params, bytes) == 0) return 0;
    if (s->tab_len <= 0 && pb_cb_type_of(e)->form != PB_CB_THETA) return 0;
    if (ensure_args(e, err)) return -1;
    pb_cb_request r = {.op = PB_CB_EVAL, .n_params = e->n_params, .params = (float *)params,
                       .n_calls = l->n_args, .args = l->args, .values = l->vals};
    l->fresh = 0;
    if (host_of(e)->learn(e, &r, err)) return -1;
    build_tables(e);
    memcpy(l->snap, params, bytes);
    l->fresh = 1;
    return 0;
}

/* The tables hold f(params) (the forward hooks' check). */
static int fresh_for(const pb_encoding *e, const float *params) {
    const cb_learn *l = &((const cb_state *)e->state)->learn;
    return l->fresh && memcmp(l->snap, params, sizeof(float) * (size_t)e->n_params) == 0;
}

static void learn_init_params(const pb_encoding *e, float *params, gsl_rng *rng) {
    cb_state *s = e->state;
    pb_cb_request r = {.op = PB_CB_INIT, .n_params = e->n_params, .params = params, .rng = rng};
    pb_error err;
    s->learn.fresh = 0;
    s->learn.init_failed = 0;
    if (host_of(e)->learn(e, &r, &err) == 0) return;
    /* init_params cannot fail: the next refresh reports it */
    for (int i = 0; i < e->n_params; i++) params[i] = NAN;
    s->learn.init_failed = 1;
    snprintf(s->learn.init_error, sizeof s->learn.init_error, "%s", err.msg);
}

static int learn_backward_end(const pb_encoding *e, const float *params, float *dparams,
                              pb_error *err) {
    cb_state *s = e->state;
    cb_learn *l = &s->learn;
    if (!l->gacc || e->n_params == 0) return 0;
    int m = 0;
    for (int c = 0; c < l->n_args; c++) m += l->gacc[c] != 0;
    if (m == 0) return 0;
    double *args = malloc(sizeof(double) * 3 * (size_t)m), *seeds = malloc(sizeof(double) * (size_t)m);
    double *g = malloc(sizeof(double) * (size_t)e->n_params);
    int rc = 0;
    if (!args || !seeds || !g) {
        rc = pb_fail(err, "encoding '%s': out of memory for its gradient", name_of(e));
    } else {
        for (int c = 0, k = 0; c < l->n_args; c++) {
            if (l->gacc[c] == 0) continue;
            memcpy(args + 3 * (size_t)k, l->args + 3 * (size_t)c, sizeof(double) * 3);
            seeds[k++] = l->gacc[c];
        }
        pb_cb_request r = {.op = PB_CB_GRAD, .n_params = e->n_params, .params = (float *)params,
                           .n_calls = m, .args = args, .seeds = seeds, .dparams = g};
        rc = host_of(e)->learn(e, &r, err);
        if (rc == 0)
            for (int i = 0; i < e->n_params; i++) dparams[i] += (float)g[i];
    }
    memset(l->gacc, 0, sizeof(double) * (size_t)l->n_args);
    free(args);
    free(seeds);
    free(g);
    return rc;
}

/* ---- hooks ---------------------------------------------------------------- */

static void learn_qk_forward(const pb_encoding *e, const float *params, const int *pos, int T,
                             int is_key, float *x, int stride) {
    (void)is_key;
    if (!fresh_for(e, params)) {
        for (int t = 0; t < T; t++)
            for (int i = 0; i < e->g.d; i++) x[(size_t)t * stride + i] = NAN;
        return;
    }
    pb_cb_rot_apply(e, pos, T, x, stride, 1.0f);
}

/* y = R(phi) x_in; d loss / d phi of pair k is -gy_a y_b + gy_b y_a, added
 * to the angle's (angle form) or theta's (theta form: times the position)
 * gradient; then dx = R^T gy. */
static void learn_qk_backward(const pb_encoding *e, const float *params, const int *pos, int T,
                              int is_key, const float *x_in, int in_stride, float *dx,
                              int dstride, float *dparams) {
    (void)params, (void)is_key, (void)dparams;
    cb_state *s = e->state;
    int n = s->n_pairs, H = e->g.heads, dh = e->g.d_head, P = s->tab_len;
    int theta = pb_cb_type_of(e)->form == PB_CB_THETA;
    double *gacc = s->learn.gacc;
    if (x_in && gacc)
        for (int t = 0; t < T; t++) {
            int p = pos[t];
            if (p < 0 || p >= P) continue;
            const float *c = s->ta + (size_t)p * n, *sn = s->tb + (size_t)p * n;
            double scale = theta ? read_position(e, p) : 1.0;
            double *g = theta ? gacc : gacc + (size_t)p * n;
            for (int h = 0; h < H; h++) {
                const float *xa = x_in + (size_t)t * in_stride + h * dh;
                const float *ga = dx + (size_t)t * dstride + h * dh;
                for (int k = 0; k < n; k++) {
                    double a = xa[2 * k], b = xa[2 * k + 1];
                    double ya = a * c[k] - b * sn[k], yb = a * sn[k] + b * c[k];
                    g[k] += scale * (-(double)ga[2 * k] * yb + (double)ga[2 * k + 1] * ya);
                }
            }
        }
    pb_cb_rot_apply(e, pos, T, dx, dstride, -1.0f);
}

static void learn_input_forward(const pb_encoding *e, const float *params, const int *pos, int T,
                                float *x) {
    const cb_state *s = e->state;
    int d = e->g.d, ok = fresh_for(e, params);
    for (int t = 0; t < T; t++) {
        float *xt = x + (size_t)t * d;
        int p = pos[t];
        if (ok && p >= 0 && p < s->tab_len) {
            const float *row = s->ta + (size_t)p * d;
            for (int i = 0; i < d; i++) xt[i] += row[i];
        } else {
            for (int i = 0; i < d; i++) xt[i] = NAN;
        }
    }
}

static void learn_input_backward(const pb_encoding *e, const float *params, const int *pos,
                                 int T, const float *dx, float *dparams) {
    (void)params, (void)dparams;
    cb_state *s = e->state;
    int d = e->g.d;
    if (!s->learn.gacc) return;
    for (int t = 0; t < T; t++) {
        int p = pos[t];
        if (p < 0 || p >= s->tab_len) continue;
        double *g = s->learn.gacc + (size_t)p * d;
        const float *dt = dx + (size_t)t * d;
        for (int i = 0; i < d; i++) g[i] += dt[i];
    }
}

static void learn_bias_forward(const pb_encoding *e, const float *params, const int *qpos,
                               int nq, const int *kpos, int nk, float *bias) {
    const cb_state *s = e->state;
    int P = s->tab_len, ok = fresh_for(e, params), rel = pb_cb_type_of(e)->relative;
    size_t plane = (size_t)nq * nk;
    for (int h = 0; h < e->g.heads; h++)
        for (int a = 0; a < nq; a++) {
            float *out = bias + h * plane + (size_t)a * nk;
            int i = qpos[a];
            for (int b = 0; b < nk; b++) {
                int j = kpos[b];
                long at = ok && i >= 0 && j >= 0 && i < P && j < P
                              ? (rel ? bias_index(e, P, h, i, j)
                                     : ((long)h * P + i) * P + j)
                              : -1;
                out[b] = at < 0 ? NAN : s->ta[at];
            }
        }
}

static void learn_bias_backward(const pb_encoding *e, const float *params, const int *qpos,
                                int nq, const int *kpos, int nk, const float *dbias,
                                float *dparams) {
    (void)params, (void)dparams;
    cb_state *s = e->state;
    if (!s->learn.gacc) return;
    size_t plane = (size_t)nq * nk;
    for (int h = 0; h < e->g.heads; h++)
        for (int a = 0; a < nq; a++) {
            const float *g = dbias + h * plane + (size_t)a * nk;
            for (int b = 0; b < nk; b++) {
                if (g[b] == 0) continue;
                long at = bias_index(e, s->tab_len, h, qpos[a], kpos[b]);
                if (at >= 0) s->learn.gacc[at] += g[b];
            }
        }
}

const pb_encoding_type pb_cb_learn_hooks[PB_CB_N_FORMS] = {
    [PB_CB_THETA] = {.sites = PB_ENC_QK, .qk_forward = learn_qk_forward,
                     .qk_backward = learn_qk_backward, .init_params = learn_init_params,
                     .refresh = learn_refresh, .backward_end = learn_backward_end},
    [PB_CB_ANGLE] = {.sites = PB_ENC_QK, .qk_forward = learn_qk_forward,
                     .qk_backward = learn_qk_backward, .init_params = learn_init_params,
                     .refresh = learn_refresh, .backward_end = learn_backward_end},
    [PB_CB_TABLE] = {.sites = PB_ENC_INPUT, .input_forward = learn_input_forward,
                     .input_backward = learn_input_backward, .init_params = learn_init_params,
                     .refresh = learn_refresh, .backward_end = learn_backward_end},
    [PB_CB_BIAS] = {.sites = PB_ENC_BIAS, .bias_forward = learn_bias_forward,
                    .bias_backward = learn_bias_backward, .init_params = learn_init_params,
                    .refresh = learn_refresh, .backward_end = learn_backward_end},
};
