/* Callback encodings: an encoding whose values come from a function the host
 * supplies at run time (posbench's Lua binding: pb.register_encoding). The
 * function has one of four forms (docs/encodings.md):
 *
 *   theta(k, d_head)          rotary, pair k rotates by pos * theta_k
 *   angle(pos, k, d_head)     rotary, explicit angle
 *   table(pos, i, d)          additive input, x[t, i] += value
 *   bias(head, i, j)          logit bias, head 1..H, i/j positions
 *
 * Pairs are interleaved (x[2k], x[2k+1]) and rotate with the kernels of
 * rotary.h, so a theta schedule equal to RoPE's gives RoPE's bits. k and i
 * are 0-based; heads 1-based; positions are read through the `positions`
 * rounding site and table values through `tables`.
 *
 * A fixed function is evaluated into tables, never inside a training step:
 * theta once in create(), the others for every new position in prepare()
 * (single-threaded; tables grow when longer positions come and keep the
 * rows already computed). The hooks only read the tables, so training speed
 * does not depend on the host and the model's threads never call it.
 *
 * The host's one interface is pb_cb_host.run: the encoding hands it a job
 * (fill) that asks for every value it needs through `call`; the host calls
 * its function, checks the result is a finite number and reports failures
 * in err, naming the encoding and the call.
 *
 * Learnable callback encodings (callback_learn.c) have parameters in the
 * model's buffer. The function then depends on them, so it is evaluated at
 * every distinct argument (a relative bias: per head and distance; a bias:
 * per head and position pair; a table: per position and component; theta:
 * per pair; angle: per position and pair) in refresh(), once per forward
 * for new parameter values; the backward hooks only add the upstream
 * gradient of every distinct argument into a buffer, and backward_end()
 * hands the buffer to the host (pb_cb_host.learn), which propagates it to
 * the parameters (the Lua host by automatic differentiation). */
#ifndef PB_CALLBACK_H
#define PB_CALLBACK_H

#include "encoding.h"

typedef enum { PB_CB_THETA, PB_CB_ANGLE, PB_CB_TABLE, PB_CB_BIAS, PB_CB_N_FORMS } pb_cb_form;

extern const char *const pb_cb_form_names[PB_CB_N_FORMS];   /* "theta", ... */
extern const char *const pb_cb_form_args[PB_CB_N_FORMS][3]; /* argument names */
extern const int pb_cb_form_nargs[PB_CB_N_FORMS];

/* One value of the function at args (pb_cb_form_nargs of them); -1 when it
 * fails (the host has filled the error). */
typedef int (*pb_cb_call)(void *call_ctx, const double *args, double *out);
/* A job: asks for its values through call, returns -1 when a call failed. */
typedef int (*pb_cb_fill)(void *job, pb_cb_call call, void *call_ctx);

/* What a learnable encoding asks of its host. */
typedef enum {
    PB_CB_LAYOUT, /* n_params for e's geometry and options (and a dry run of the init) */
    PB_CB_INIT,   /* params[n_params] = initial values drawn from rng */
    PB_CB_EVAL,   /* values[c] = f(args of c, params), c < n_calls */
    PB_CB_GRAD    /* dparams[i] = d(sum_c seeds[c] f(args of c, params)) / d params[i] */
} pb_cb_op;

typedef struct pb_cb_request {
    pb_cb_op op;
    int n_params;          /* LAYOUT: out; otherwise in */
    float *params;         /* INIT: out; EVAL, GRAD: in */
    gsl_rng *rng;          /* INIT */
    int n_calls;           /* EVAL, GRAD */
    const double *args;    /* [n_calls][pb_cb_form_nargs] */
    double *values;        /* EVAL: out [n_calls] */
    const double *seeds;   /* GRAD: [n_calls] */
    double *dparams;       /* GRAD: out [n_params] (overwritten) */
} pb_cb_request;

typedef struct pb_cb_host {
    /* Run fill(job, call, ctx) with call evaluating the function of e's type
     * (with e's options, pb_cb_options). Returns fill's result, or -1 with err
     * when the host itself fails. */
    int (*run)(const pb_encoding *e, pb_cb_fill fill, void *job, pb_error *err);
    /* Learnable types only: answer r (above); -1 with err naming the
     * encoding and the call on failure. */
    int (*learn)(const pb_encoding *e, pb_cb_request *r, pb_error *err);
} pb_cb_host;

/* A callback encoding type: the host embeds it at the start of its own
 * record (e->type points at both) and sets name, summary, reference,
 * options_doc and options of .type. */
typedef struct pb_cb_type {
    pb_encoding_type type;
    pb_cb_form form;
    const pb_cb_host *host;
    int learnable;         /* parameters through host->learn */
    int relative;          /* learnable bias: a function of (head, i - j) */
} pb_cb_type;

/* Sites, hooks and pos_dims of t->type for form; learnable and relative as
 * in pb_cb_type (relative only for the bias form). */
void pb_cb_type_init(pb_cb_type *t, pb_cb_form form, const pb_cb_host *host, int learnable,
                     int relative);
/* 1 when t is a callback type. */
int pb_encoding_is_callback(const pb_encoding_type *t);
/* The options an encoding of a callback type was created with. */
const pb_opts *pb_cb_options(const pb_encoding *e);

#endif
