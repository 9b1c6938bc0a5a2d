/* Symbol-sequence tasks: copy, reverse, duplicate, sort, missing_duplicate,
 * induction, recall.
 *
 * Token ids: 0 BLANK, then each task's separators, then the V symbols
 * (option `vocab`), so pb_task.vocab = V + reserved. Symbols are drawn
 * uniformly and independently unless a task says otherwise. */
#include <stdlib.h>
#include <string.h>

#include "task_common.h"

#define SEP 1
#define MAX_SYMBOLS 65536

static const char *const seq_options[] = {"min_len", "max_len", "vocab", NULL};

/* Common create: lengths, V symbols after `reserved` ids, chance 1/V. */
static int create_symbols(pb_task *t, const pb_opts *o, int lowest, int dflt_v,
                          int reserved, pb_error *err) {
    int V;
    if (pb_task_parse_lengths(t, o, lowest, lowest, 20, err) ||
        pb_task_parse_int(t, o, "vocab", dflt_v, 2, MAX_SYMBOLS, &V, err))
        return -1;
    t->vocab = V + reserved;
    t->chance = 1.0 / V;
    return 0;
}

static int draw(gsl_rng *rng, int first, int V) {
    return first + (int)gsl_rng_uniform_int(rng, (unsigned long)V);
}

/* ---- copy / reverse / duplicate / sort: x1..xn SEP answer ---- */

#define SYM0 2 /* BLANK, SEP */

static int create_plain(pb_task *t, const pb_opts *o, pb_error *err) {
    return create_symbols(t, o, 1, 8, SYM0, err);
}

static int copy_len(const pb_task *t, int n, pb_error *err) {
    return pb_task_check_size(t, n, 1, 2LL * n + 1, err);
}

static int duplicate_len(const pb_task *t, int n, pb_error *err) {
    return pb_task_check_size(t, n, 1, 3LL * n + 1, err);
}

/* Writes x1..xn SEP and marks the rest of the S-long sequence as answers. */
static void write_input(const pb_task *t, gsl_rng *rng, int n, int S, int *seq,
                        float *is_answer) {
    for (int i = 0; i < n; i++) seq[i] = draw(rng, SYM0, t->vocab - SYM0);
    seq[n] = SEP;
    for (int i = 0; i < S; i++) is_answer[i] = i > n ? 1.0f : 0.0f;
}

static int copy_sample(const pb_task *t, gsl_rng *rng, int n, int *seq,
                       float *is_answer, int *place, pb_error *err) {
    (void)place, (void)err;
    write_input(t, rng, n, 2 * n + 1, seq, is_answer);
    memcpy(seq + n + 1, seq, (size_t)n * sizeof *seq);
    return 0;
}

static int reverse_sample(const pb_task *t, gsl_rng *rng, int n, int *seq,
                          float *is_answer, int *place, pb_error *err) {
    (void)place, (void)err;
    write_input(t, rng, n, 2 * n + 1, seq, is_answer);
    for (int i = 0; i < n; i++) seq[n + 1 + i] = seq[n - 1 - i];
    return 0;
}

static int duplicate_sample(const pb_task *t, gsl_rng *rng, int n, int *seq,
                            float *is_answer, int *place, pb_error *err) {
    (void)place, (void)err;
    write_input(t, rng, n, 3 * n + 1, seq, is_answer);
    memcpy(seq + n + 1, seq, (size_t)n * sizeof *seq);
    memcpy(seq + 2 * n + 1, seq, (size_t)n * sizeof *seq);
    return 0;
}

static int sort_sample(const pb_task *t, gsl_rng *rng, int n, int *seq,
                       float *is_answer, int *place, pb_error *err) {
    (void)place;
    int V = t->vocab - SYM0;
    int *count = calloc((size_t)V, sizeof *count);
    if (!count) return pb_fail(err, "task 'sort': out of memory");
    write_input(t, rng, n, 2 * n + 1, seq, is_answer);
    for (int i = 0; i < n; i++) count[seq[i] - SYM0]++;
    int k = n + 1; /* counting sort, ascending token id */
    for (int v = 0; v < V; v++)
        for (int c = 0; c < count[v]; c++) seq[k++] = SYM0 + v;
    free(count);
    return 0;
}

const pb_task_type pb_task_copy = {
    .name = "copy",
    .summary = "copy n symbols: x1..xn SEP x1..xn (S = 2n+1)",
    .options_doc = "min_len=1 max_len=20 (n = symbols to copy), vocab=8 (symbols V; "
                   "ids 0 BLANK, 1 SEP, 2..V+1 symbols)",
    .options = seq_options,
    .create = create_plain,
    .seq_len = copy_len,
    .sample = copy_sample,
};

const pb_task_type pb_task_reverse = {
    .name = "reverse",
    .summary = "reverse n symbols: x1..xn SEP xn..x1 (S = 2n+1)",
    .options_doc = "min_len=1 max_len=20 (n = symbols), vocab=8 (symbols V; ids 0 BLANK, "
                   "1 SEP, 2..V+1 symbols)",
    .options = seq_options,
    .create = create_plain,
    .seq_len = copy_len,
    .sample = reverse_sample,
};

const pb_task_type pb_task_duplicate = {
    .name = "duplicate",
    .summary = "write n symbols twice: x1..xn SEP x1..xn x1..xn (S = 3n+1)",
    .options_doc = "min_len=1 max_len=20 (n = input symbols; the answer has 2n), vocab=8 "
                   "(symbols V; ids 0 BLANK, 1 SEP, 2..V+1 symbols)",
    .options = seq_options,
    .create = create_plain,
    .seq_len = duplicate_len,
    .sample = duplicate_sample,
};

const pb_task_type pb_task_sort = {
    .name = "sort",
    .summary = "sort n symbols (with repeats) ascending: x1..xn SEP sorted (S = 2n+1)",
    .options_doc = "min_len=1 max_len=20 (n = symbols), vocab=8 (symbols V; ids 0 BLANK, "
                   "1 SEP, 2..V+1 symbols, sorted by id)",
    .options = seq_options,
    .create = create_plain,
    .seq_len = copy_len,
    .sample = sort_sample,
};

/* ---- missing_duplicate (Deletang et al. 2023) ----
 * w w with one of its 2n tokens replaced by MISSING, then SEP and the hidden
 * symbol, which equals the token n positions before or after the gap. */

#define MISSING 2
#define MD_SYM0 3 /* BLANK, SEP, MISSING */

static int md_create(pb_task *t, const pb_opts *o, pb_error *err) {
    return create_symbols(t, o, 1, 2, MD_SYM0, err);
}

static int md_len(const pb_task *t, int n, pb_error *err) {
    return pb_task_check_size(t, n, 1, 2LL * n + 2, err);
}

static int md_sample(const pb_task *t, gsl_rng *rng, int n, int *seq, float *is_answer,
                     int *place, pb_error *err) {
    (void)place, (void)err;
    for (int i = 0; i < n; i++) seq[i] = seq[n + i] = draw(rng, MD_SYM0, t->vocab - MD_SYM0);
    int gap = (int)gsl_rng_uniform_int(rng, 2UL * (unsigned long)n);
    seq[2 * n + 1] = seq[gap];
    seq[gap] = MISSING;
    seq[2 * n] = SEP;
    for (int i = 0; i < 2 * n + 2; i++) is_answer[i] = i == 2 * n + 1 ? 1.0f : 0.0f;
    return 0;
}

const pb_task_type pb_task_missing_duplicate = {
    .name = "missing_duplicate",
    .summary = "w w with one token hidden by MISSING, |w| = n; answer the hidden symbol "
               "(S = 2n+2)",
    .options_doc = "min_len=1 max_len=20 (n = |w|), vocab=2 (symbols V, binary as in "
                   "Deletang et al.; ids 0 BLANK, 1 SEP, 2 MISSING, 3..V+2 symbols)",
    .options = seq_options,
    .create = md_create,
    .seq_len = md_len,
    .sample = md_sample,
};

/* ---- induction ----
 * A body of n tokens in which TRIG occurs exactly once, at a uniform position
 * p in [0, n-2], followed by the symbol y = body[p+1]; all other body tokens
 * are uniform symbols. Then TRIG again, and the answer y: the token that
 * followed the previous occurrence of the trigger (an induction head). */

#define TRIG 1
#define IND_SYM0 2 /* BLANK, TRIG */

static int ind_create(pb_task *t, const pb_opts *o, pb_error *err) {
    return create_symbols(t, o, 2, 8, IND_SYM0, err);
}

static int ind_len(const pb_task *t, int n, pb_error *err) {
    return pb_task_check_size(t, n, 2, (long long)n + 2, err);
}

static int ind_sample(const pb_task *t, gsl_rng *rng, int n, int *seq, float *is_answer,
                      int *place, pb_error *err) {
    (void)place, (void)err;
    for (int i = 0; i < n; i++) seq[i] = draw(rng, IND_SYM0, t->vocab - IND_SYM0);
    int p = (int)gsl_rng_uniform_int(rng, (unsigned long)(n - 1));
    seq[p] = TRIG;
    seq[n] = TRIG;
    seq[n + 1] = seq[p + 1];
    for (int i = 0; i < n + 2; i++) is_answer[i] = i == n + 1 ? 1.0f : 0.0f;
    return 0;
}

const pb_task_type pb_task_induction = {
    .name = "induction",
    .summary = "n random tokens with one TRIG y pair, then TRIG; answer y (S = n+2)",
    .options_doc = "min_len=2 max_len=20 (n = body tokens, including the TRIG y pair), "
                   "vocab=8 (symbols V; ids 0 BLANK, 1 TRIG, 2..V+1 symbols)",
    .options = seq_options,
    .create = ind_create,
    .seq_len = ind_len,
    .sample = ind_sample,
};

/* ---- recall (associative recall) ----
 * k1 v1 ... kn vn SEP q v: n pairs with distinct keys (from `keys` key
 * symbols) and uniform values (from V value symbols); q is one of the n
 * keys, uniformly, and the answer is its value. */

#define REC_KEY0 2 /* BLANK, SEP */

typedef struct {
    int keys;
} recall_state;

static const char *const recall_options[] = {"min_len", "max_len", "vocab", "keys", NULL};

static int recall_create(pb_task *t, const pb_opts *o, pb_error *err) {
    recall_state *s = calloc(1, sizeof *s);
    if (!s) return pb_fail(err, "task 'recall': out of memory");
    t->state = s;
    if (create_symbols(t, o, 1, 8, REC_KEY0, err) ||
        pb_task_parse_int(t, o, "keys", 64, 1, MAX_SYMBOLS, &s->keys, err))
        return -1;
    if (t->max_len > s->keys)
        return pb_fail(err, "task 'recall': max_len=%d pairs need at least as many distinct "
                            "keys, but keys=%d",
                       t->max_len, s->keys);
    t->vocab += s->keys;
    return 0;
}

static int recall_len(const pb_task *t, int n, pb_error *err) {
    const recall_state *s = t->state;
    if (n > s->keys)
        return pb_fail(err, "task 'recall': n=%d pairs need distinct keys but there are "
                            "only keys=%d",
                       n, s->keys);
    return pb_task_check_size(t, n, 1, 2LL * n + 3, err);
}

static int recall_sample(const pb_task *t, gsl_rng *rng, int n, int *seq,
                         float *is_answer, int *place, pb_error *err) {
    (void)place;
    const recall_state *s = t->state;
    int K = s->keys, V = t->vocab - REC_KEY0 - K;
    int *perm = malloc((size_t)K * sizeof *perm);
    if (!perm) return pb_fail(err, "task 'recall': out of memory");
    /* n distinct keys: the first n of a partial Fisher-Yates shuffle */
    for (int i = 0; i < K; i++) perm[i] = i;
    for (int i = 0; i < n; i++) {
        int j = i + (int)gsl_rng_uniform_int(rng, (unsigned long)(K - i));
        int tmp = perm[i];
        perm[i] = perm[j], perm[j] = tmp;
    }
    for (int i = 0; i < n; i++) {
        seq[2 * i] = REC_KEY0 + perm[i];
        seq[2 * i + 1] = draw(rng, REC_KEY0 + K, V);
    }
    free(perm);
    int q = (int)gsl_rng_uniform_int(rng, (unsigned long)n);
    seq[2 * n] = SEP;
    seq[2 * n + 1] = seq[2 * q];
    seq[2 * n + 2] = seq[2 * q + 1];
    for (int i = 0; i < 2 * n + 3; i++) is_answer[i] = i == 2 * n + 2 ? 1.0f : 0.0f;
    return 0;
}

const pb_task_type pb_task_recall = {
    .name = "recall",
    .summary = "n key-value pairs, SEP, a query key; answer its value (S = 2n+3)",
    .options_doc = "min_len=1 max_len=20 (n = pairs), vocab=8 (value symbols V), keys=64 "
                   "(distinct key symbols K >= n; ids 0 BLANK, 1 SEP, 2..K+1 keys, "
                   "K+2..K+V+1 values)",
    .options = recall_options,
    .create = recall_create,
    .destroy = pb_task_free_state,
    .seq_len = recall_len,
    .sample = recall_sample,
};
