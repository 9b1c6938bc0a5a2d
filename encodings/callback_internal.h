/* What callback.c (fixed tables) and callback_learn.c (learnable
 * parameters) share: the state of a callback encoding. */
#ifndef PB_CALLBACK_INTERNAL_H
#define PB_CALLBACK_INTERNAL_H

#include "callback.h"

/* The learnable part: the function's values at the distinct arguments of
 * the prepared positions, for the parameters in snap, and the upstream
 * gradient gathered per distinct argument since the last backward_end. */
typedef struct cb_learn {
    int n_args;            /* distinct arguments for args_len positions */
    int args_len;          /* tab_len the arguments were listed for; -1 none */
    double *args;          /* [n_args][3] */
    double *vals;          /* [n_args] */
    double *gacc;          /* [n_args] */
    float *snap;           /* [n_params]: the parameters vals belong to */
    int fresh;             /* vals and tables hold f(snap) for tab_len positions */
    int init_failed;       /* init_params could not ask the host: init_error */
    char init_error[sizeof(pb_error)];
} cb_learn;

typedef struct cb_state {
    pb_opts opts;          /* option values given at creation */
    int n_pairs;           /* rotary: d_head / 2 */
    double *theta;         /* theta form: [n_pairs] */
    float *ta, *tb;        /* rotary: cos, sin [tab_len][n_pairs];
                            * table: ta [tab_len][d]; bias: ta [H][tab_len][tab_len];
                            * relative bias: ta [H][2 tab_len - 1] by distance */
    int tab_len;
    cb_learn learn;
} cb_state;

static inline const pb_cb_type *pb_cb_type_of(const pb_encoding *e) {
    return (const pb_cb_type *)e->type;
}

/* callback.c: cos/sin of one position's angles, rounded as every rotary
 * encoding does; rotate every head of every token by +phi (sgn = 1) or -phi. */
void pb_cb_rot_row(const pb_encoding *e, const double *angles, int n, float *c, float *sn);
void pb_cb_rot_apply(const pb_encoding *e, const int *pos, int T, float *x, int stride,
                     float sgn);

/* callback_learn.c: the learnable hooks. */
int pb_cb_learn_create(pb_encoding *e, pb_error *err);
void pb_cb_learn_free(cb_state *s);
int pb_cb_learn_prepare(pb_encoding *e, int max_pos, pb_error *err);
extern const pb_encoding_type pb_cb_learn_hooks[PB_CB_N_FORMS];

#endif
