/* Callback encodings: the encoding half of a function-defined encoding
 * (callback.h). The host (the Lua binding) only evaluates the function.
 * This file holds the fixed forms; callback_learn.c the learnable ones. */
#include "callback_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rotary.h"

const char *const pb_cb_form_names[PB_CB_N_FORMS] = {"theta", "angle", "table", "bias"};
/* Argument names of each form's function (the host adds its options last). */
const char *const pb_cb_form_args[PB_CB_N_FORMS][3] = {
    {"k", "d_head", NULL}, {"pos", "k", "d_head"}, {"pos", "i", "d"}, {"head", "i", "j"}};
const int pb_cb_form_nargs[PB_CB_N_FORMS] = {2, 3, 3, 3};

/* Largest tables prepare() builds, in floats (bias: H * P * P). */
#define MAX_TABLE_FLOATS (1L << 26)

static const pb_cb_type *type_of(const pb_encoding *e) {
    return pb_cb_type_of(e);
}

/* One batch of evaluations, handed to the host. */
typedef struct eval_job {
    const pb_encoding *e;
    int old_len, new_len;  /* positions [0, old_len) are already in the table */
    double *theta;         /* theta: [n_pairs] out */
    double *angles;        /* angle: [new_len][n_pairs] out, rows >= old_len */
    float *tab;            /* table: [new_len][d]; bias: [H][new_len][new_len] */
} eval_job;

/* A position as the encoding reads it (rounded at the `positions` site),
 * handed to the function. */
static double read_position(const pb_encoding *e, int p) {
    return pb_rot_position(e->prec, p);
}

/* Every value the job needs, asked for through call. */
static int eval_rows(void *job, pb_cb_call call, void *ctx) {
    eval_job *j = job;
    const pb_encoding *e = j->e;
    const cb_state *s = e->state;
    double args[3], v;
    switch (type_of(e)->form) {
    case PB_CB_THETA:
        for (int k = 0; k < s->n_pairs; k++) {
            args[0] = k;
            args[1] = e->g.d_head;
            if (call(ctx, args, &j->theta[k])) return -1;
        }
        return 0;
    case PB_CB_ANGLE:
        for (int p = j->old_len; p < j->new_len; p++)
            for (int k = 0; k < s->n_pairs; k++) {
                args[0] = read_position(e, p);
                args[1] = k;
                args[2] = e->g.d_head;
                if (call(ctx, args, &j->angles[(size_t)p * s->n_pairs + k])) return -1;
            }
        return 0;
    case PB_CB_TABLE: {
        int d = e->g.d;
        for (int p = j->old_len; p < j->new_len; p++)
            for (int i = 0; i < d; i++) {
                args[0] = read_position(e, p);
                args[1] = i;
                args[2] = d;
                if (call(ctx, args, &v)) return -1;
                j->tab[(size_t)p * d + i] = pb_rot_table(e->prec, v);
            }
        return 0;
    }
    case PB_CB_BIAS: {
        size_t P = (size_t)j->new_len;
        for (int h = 0; h < e->g.heads; h++)
            for (int a = 0; a < j->new_len; a++)
                for (int b = a < j->old_len ? j->old_len : 0; b < j->new_len; b++) {
                    args[0] = h + 1;
                    args[1] = read_position(e, a);
                    args[2] = read_position(e, b);
                    if (call(ctx, args, &v)) return -1;
                    j->tab[((size_t)h * P + a) * P + b] = pb_rot_table(e->prec, v);
                }
        return 0;
    }
    default: return 0;
    }
}

static int run_job(eval_job *j, pb_error *err) {
    return type_of(j->e)->host->run(j->e, eval_rows, j, err);
}

/* ---- the encoding type's hooks ------------------------------------------ */

static void cb_destroy(pb_encoding *e) {
    cb_state *s = e->state;
    if (!s) return;
    free(s->theta);
    free(s->ta);
    free(s->tb);
    pb_cb_learn_free(s);
    free(s);
    e->state = NULL;
}

static int cb_create(pb_encoding *e, const pb_opts *o, pb_error *err) {
    const pb_cb_type *ct = type_of(e);
    cb_state *s = calloc(1, sizeof *s);
    if (!s) return pb_fail(err, "encoding '%s': out of memory", ct->type.name);
    e->state = s;
    if (o) s->opts = *o;
    else pb_opts_init(&s->opts);
    s->opts.user = NULL;
    int dh = e->g.d_head;
    switch (ct->form) {
    case PB_CB_THETA:
    case PB_CB_ANGLE:
        if (dh <= 0 || dh % 2)
            return pb_fail(err, "encoding '%s': d_head must be even for rotary pairs, got %d",
                           ct->type.name, dh);
        if (dh / 2 > PB_ROT_MAX_PAIRS)
            return pb_fail(err, "encoding '%s': d_head %d exceeds the rotary maximum %d",
                           ct->type.name, dh, 2 * PB_ROT_MAX_PAIRS);
        s->n_pairs = dh / 2;
        break;
    case PB_CB_TABLE:
        if (e->g.d <= 0)
            return pb_fail(err, "encoding '%s': needs a positive width d, got %d", ct->type.name,
                           e->g.d);
        break;
    default:
        if (e->g.heads < 1)
            return pb_fail(err, "encoding '%s': needs at least one head (heads=%d)",
                           ct->type.name, e->g.heads);
        break;
    }
    if (ct->learnable) return pb_cb_learn_create(e, err);
    if (ct->form != PB_CB_THETA) return 0;
    /* The schedule does not depend on positions: evaluate it once, now. */
    s->theta = malloc(sizeof(double) * (size_t)s->n_pairs);
    if (!s->theta) return pb_fail(err, "encoding '%s': out of memory", ct->type.name);
    eval_job j = {.e = e, .theta = s->theta};
    return run_job(&j, err);
}

/* cos/sin of the angles of one position, rounded as every rotary encoding does (rotary.h). */
void pb_cb_rot_row(const pb_encoding *e, const double *angles, int n, float *c, float *sn) {
    for (int k = 0; k < n; k++) pb_rot_cos_sin(e->prec, angles[k], c + k, sn + k);
}

static void theta_angles(const pb_encoding *e, int pos, double *angles) {
    const cb_state *s = e->state;
    double p = pb_rot_position(e->prec, pos);
    for (int k = 0; k < s->n_pairs; k++) angles[k] = p * s->theta[k];
}

static int too_large(const pb_encoding *e, double floats, int max_pos, pb_error *err) {
    if (floats <= (double)MAX_TABLE_FLOATS) return 0;
    return pb_fail(err,
                   "encoding '%s': a %s table for %d positions needs %.0f floats, more "
                   "than the limit %ld; evaluate shorter lengths",
                   type_of(e)->type.name, pb_cb_form_names[type_of(e)->form], max_pos, floats,
                   MAX_TABLE_FLOATS);
}

static int cb_prepare(pb_encoding *e, int max_pos, pb_error *err) {
    cb_state *s = e->state;
    const pb_cb_type *ct = type_of(e);
    if (ct->learnable) return pb_cb_learn_prepare(e, max_pos, err);
    int old = s->tab_len < max_pos ? s->tab_len : 0;
    size_t P = (size_t)max_pos, n = (size_t)s->n_pairs;
    eval_job j = {.e = e, .old_len = old, .new_len = max_pos};
    if (ct->form == PB_CB_THETA || ct->form == PB_CB_ANGLE) {
        if (too_large(e, 2.0 * P * n, max_pos, err)) return -1;
        size_t cells = P * n > 0 ? P * n : 1;
        float *c = malloc(sizeof(float) * cells);
        float *sn = malloc(sizeof(float) * cells);
        double *angles = malloc(sizeof(double) * cells);
        int rc = 0;
        if (!c || !sn || !angles) {
            rc = pb_fail(err, "encoding '%s': out of memory for a %d-position table",
                         ct->type.name, max_pos);
        } else if (ct->form == PB_CB_THETA) {
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
                pb_cb_rot_row(e, angles + (size_t)p * n, (int)n, c + (size_t)p * n, sn + (size_t)p * n);
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
    double floats = ct->form == PB_CB_TABLE ? (double)P * d : (double)H * P * P;
    if (too_large(e, floats, max_pos, err)) return -1;
    float *tab = malloc(sizeof(float) * (size_t)(floats > 0 ? floats : 1));
    if (!tab)
        return pb_fail(err, "encoding '%s': out of memory for a %d-position table",
                       ct->type.name, max_pos);
    if (old && ct->form == PB_CB_TABLE) {
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
 * angle form cannot call the host here and writes NaN, so a missing prepare()
 * shows instead of passing silently. */
void pb_cb_rot_apply(const pb_encoding *e, const int *pos, int T, float *x, int stride,
                     float sgn) {
    const cb_state *s = e->state;
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
            pb_cb_rot_row(e, abuf, n, cbuf, sbuf);
        } else {
            for (int k = 0; k < n; k++) cbuf[k] = sbuf[k] = NAN;
        }
        float *xt = x + (size_t)t * stride;
        for (int h = 0; h < H; h++) pb_rot_interleaved(xt + h * dh, c, sn, n, sgn);
    }
}

static void cb_qk_forward(const pb_encoding *e, const float *params, const int *pos,
                               int T, int is_key, float *x, int stride) {
    (void)params;
    (void)is_key;
    pb_cb_rot_apply(e, pos, T, x, stride, 1.0f);
}

/* A rotation: d(input) = R^T d(output). */
static void cb_qk_backward(const pb_encoding *e, const float *params, const int *pos,
                                int T, int is_key, const float *x_in, int in_stride,
                                float *dx, int dstride, float *dparams) {
    (void)params, (void)is_key, (void)x_in, (void)in_stride, (void)dparams;
    pb_cb_rot_apply(e, pos, T, dx, dstride, -1.0f);
}

/* x[T, d] += table[pos]. */
static void cb_input_forward(const pb_encoding *e, const float *params, const int *pos,
                                  int T, float *x) {
    (void)params;
    const cb_state *s = e->state;
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

static void cb_input_backward(const pb_encoding *e, const float *params,
                                   const int *pos, int T, const float *dx, float *dparams) {
    (void)e, (void)params, (void)pos, (void)T, (void)dx, (void)dparams;
}

/* bias[H][nq][nk] from the table [H][tab_len][tab_len]. */
static void cb_bias_forward(const pb_encoding *e, const float *params,
                                 const int *qpos, int nq, const int *kpos, int nk,
                                 float *bias) {
    (void)params;
    const cb_state *s = e->state;
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

static void cb_bias_backward(const pb_encoding *e, const float *params,
                                  const int *qpos, int nq, const int *kpos, int nk,
                                  const float *dbias, float *dparams) {
    (void)e, (void)params, (void)qpos, (void)nq, (void)kpos, (void)nk, (void)dbias,
        (void)dparams;
}

static const pb_encoding_type form_types[PB_CB_N_FORMS] = {
    [PB_CB_THETA] = {.sites = PB_ENC_QK, .qk_forward = cb_qk_forward,
                     .qk_backward = cb_qk_backward},
    [PB_CB_ANGLE] = {.sites = PB_ENC_QK, .qk_forward = cb_qk_forward,
                     .qk_backward = cb_qk_backward},
    [PB_CB_TABLE] = {.sites = PB_ENC_INPUT, .input_forward = cb_input_forward,
                     .input_backward = cb_input_backward},
    [PB_CB_BIAS] = {.sites = PB_ENC_BIAS, .bias_forward = cb_bias_forward,
                    .bias_backward = cb_bias_backward},
};

void pb_cb_type_init(pb_cb_type *t, pb_cb_form form, const pb_cb_host *host, int learnable,
                     int relative) {
    t->type = learnable ? pb_cb_learn_hooks[form] : form_types[form];
    t->type.pos_dims = 1;
    t->type.create = cb_create;
    t->type.destroy = cb_destroy;
    t->type.prepare = cb_prepare;
    t->form = form;
    t->host = host;
    t->learnable = learnable;
    t->relative = learnable && relative && form == PB_CB_BIAS;
}

int pb_encoding_is_callback(const pb_encoding_type *t) {
    return t && t->create == cb_create;
}

const pb_opts *pb_cb_options(const pb_encoding *e) {
    return &((const cb_state *)e->state)->opts;
}
