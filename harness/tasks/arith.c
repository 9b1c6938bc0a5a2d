/* Arithmetic tasks: add (with digit places for Abacus), parity, modular.
 * Token 0 is BLANK in each; digits follow the separators. */
#include <stdlib.h>

#include "task_common.h"

#define SEP 1

/* ---- add ----
 * Two n-digit numbers and their sum, least significant digit first
 * (reversed, as in McLeish et al. 2024), leading zeros allowed:
 *   a0 .. a(n-1) + b0 .. b(n-1) = s0 .. sn        (S = 3n+3)
 * With independent=1 the operands' lengths differ, as in McLeish et al.'s
 * data: one operand (either, with equal odds) has n digits, the other
 * 1..n, the sum n+1, and BLANKs after the sum fill the sequence to 3n+3.
 * A digit's offset from '+' or '=' then no longer gives its place.
 * place = index of a digit within its number from the least significant
 * digit (0-based), for a, b and the n+1 answer digits; -1 elsewhere. */

#define PLUS 1
#define EQUALS 2
#define DIGIT0 3 /* BLANK, +, = */

static const char *const add_options[] = {"min_len", "max_len", "vocab", "independent", NULL};

typedef struct {
    int independent;
} add_state;

static int add_create(pb_task *t, const pb_opts *o, pb_error *err) {
    int base;
    add_state *st = calloc(1, sizeof *st);
    if (!st) return pb_fail(err, "task 'add': out of memory");
    t->state = st;
    if (pb_task_parse_lengths(t, o, 1, 1, 20, err) ||
        pb_task_parse_int(t, o, "vocab", 10, 2, 1000, &base, err) ||
        pb_task_parse_int(t, o, "independent", 0, 0, 1, &st->independent, err))
        return -1;
    t->vocab = DIGIT0 + base;
    /* The n low answer digits are uniform; the top digit is a carry (a
     * blind guess of 0 is right with p = (base+1) / (2 base)). */
    t->chance = 1.0 / base;
    return 0;
}

static int add_len(const pb_task *t, int n, pb_error *err) {
    return pb_task_check_size(t, n, 1, 3LL * n + 3, err);
}

static int add_sample(const pb_task *t, gsl_rng *rng, int n, int *seq, float *is_answer,
                      int *place, pb_error *err) {
    (void)err;
    const add_state *st = t->state;
    int base = t->vocab - DIGIT0;
    int la = n, lb = n;
    if (st->independent) {
        int shorter = 1 + (int)gsl_rng_uniform_int(rng, (unsigned long)n);
        if (gsl_rng_uniform_int(rng, 2)) la = shorter; else lb = shorter;
    }
    int *a = seq, *b = seq + la + 1, *s = seq + la + lb + 2;
    for (int i = 0; i < la; i++) a[i] = (int)gsl_rng_uniform_int(rng, (unsigned long)base);
    for (int i = 0; i < lb; i++) b[i] = (int)gsl_rng_uniform_int(rng, (unsigned long)base);
    int carry = 0;
    for (int i = 0; i < n; i++) {
        int d = (i < la ? a[i] : 0) + (i < lb ? b[i] : 0) + carry;
        s[i] = d % base;
        carry = d / base;
    }
    s[n] = carry;
    int S = 3 * n + 3, answer0 = la + lb + 2;
    for (int i = 0; i < S; i++) is_answer[i] = i >= answer0 && i <= answer0 + n ? 1.0f : 0.0f;
    for (int i = 0; i < la; i++) a[i] += DIGIT0, place[i] = i;
    for (int i = 0; i < lb; i++) b[i] += DIGIT0, place[la + 1 + i] = i;
    for (int i = 0; i <= n; i++) s[i] += DIGIT0, place[answer0 + i] = i;
    for (int i = answer0 + n + 1; i < S; i++) seq[i] = PB_TOKEN_BLANK;
    seq[la] = PLUS;
    seq[la + lb + 1] = EQUALS;
    return 0;
}

const pb_task_type pb_task_add = {
    .name = "add",
    .summary = "add two n-digit numbers, digits least significant first: a + b = sum "
               "(n+1 answer digits, S = 3n+3; fills digit places)",
    .options_doc = "min_len=1 max_len=20 (n = digits per operand), vocab=10 (the base; "
                   "ids 0 BLANK, 1 '+', 2 '=', 3.. digits 0..base-1), independent=0 (1: one "
                   "operand n digits, the other 1..n, BLANKs after the sum)",
    .options = add_options,
    .create = add_create,
    .destroy = pb_task_free_state,
    .seq_len = add_len,
    .sample = add_sample,
};

/* ---- parity (a negative control: no position structure helps) ----
 *   b1 .. bn SEP p,  p = (b1 + ... + bn) mod 2     (S = n+2)              */

#define VALUE0 2 /* parity and modular: BLANK, SEP, then values 0.. */

static const char *const length_options[] = {"min_len", "max_len", NULL};

static int parity_create(pb_task *t, const pb_opts *o, pb_error *err) {
    if (pb_task_parse_lengths(t, o, 1, 1, 20, err)) return -1;
    t->vocab = VALUE0 + 2;
    t->chance = 0.5;
    return 0;
}

static int n_plus_2(const pb_task *t, int n, pb_error *err) {
    return pb_task_check_size(t, n, 1, (long long)n + 2, err);
}

/* Digits uniform in [0, m), answer their sum mod m, tokens DIGIT + value. */
static void sum_mod(gsl_rng *rng, int n, int m, int first, int *seq, float *is_answer) {
    int sum = 0;
    for (int i = 0; i < n; i++) {
        int d = (int)gsl_rng_uniform_int(rng, (unsigned long)m);
        sum = (sum + d) % m;
        seq[i] = first + d;
    }
    seq[n] = SEP;
    seq[n + 1] = first + sum;
    for (int i = 0; i < n + 2; i++) is_answer[i] = i == n + 1 ? 1.0f : 0.0f;
}

static int parity_sample(const pb_task *t, gsl_rng *rng, int n, int *seq,
                         float *is_answer, int *place, pb_error *err) {
    (void)t, (void)place, (void)err;
    sum_mod(rng, n, 2, VALUE0, seq, is_answer);
    return 0;
}

const pb_task_type pb_task_parity = {
    .name = "parity",
    .summary = "n random bits, SEP, their parity (S = n+2); negative control",
    .options_doc = "min_len=1 max_len=20 (n = bits; ids 0 BLANK, 1 SEP, 2 '0', 3 '1')",
    .options = length_options,
    .create = parity_create,
    .seq_len = n_plus_2,
    .sample = parity_sample,
};

/* ---- modular ----
 *   d1 .. dn SEP r,  d uniform in [0, m), r = (d1 + ... + dn) mod m  (S = n+2) */

static const char *const modular_options[] = {"min_len", "max_len", "modulus", NULL};

static int modular_create(pb_task *t, const pb_opts *o, pb_error *err) {
    int m;
    if (pb_task_parse_lengths(t, o, 1, 1, 20, err) ||
        pb_task_parse_int(t, o, "modulus", 5, 2, 1000, &m, err))
        return -1;
    t->vocab = VALUE0 + m;
    t->chance = 1.0 / m;
    return 0;
}

static int modular_sample(const pb_task *t, gsl_rng *rng, int n, int *seq,
                          float *is_answer, int *place, pb_error *err) {
    (void)place, (void)err;
    sum_mod(rng, n, t->vocab - VALUE0, VALUE0, seq, is_answer);
    return 0;
}

const pb_task_type pb_task_modular = {
    .name = "modular",
    .summary = "n digits in [0, m), SEP, their sum mod m (S = n+2)",
    .options_doc = "min_len=1 max_len=20 (n = digits), modulus=5 (m; ids 0 BLANK, 1 SEP, "
                   "2..m+1 digits 0..m-1)",
    .options = modular_options,
    .create = modular_create,
    .seq_len = n_plus_2,
    .sample = modular_sample,
};
