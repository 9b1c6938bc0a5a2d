/* Task generators and the two batch protocols.
 *
 * For every task and a few problem sizes: the sequence length S(n), the
 * vocabulary, the chance level, the answer masks, and the answers
 * themselves, recomputed here from the generated input; the decoder and
 * encoder layouts against each other (same seed -> same problems);
 * determinism by seed; the lm corpus helpers; the error messages. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../harness/tasks/task.h"
#include "../harness/tasks/lm.h"
#include "check.h"

#define ROWS 24

static pb_opts opts(const char *k1, double v1, const char *k2, double v2) {
    pb_opts o;
    pb_opts_init(&o);
    if (k1) pb_opts_set_num(&o, k1, v1, NULL);
    if (k2) pb_opts_set_num(&o, k2, v2, NULL);
    return o;
}

static gsl_rng *rng_seeded(unsigned long seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    return r;
}

/* ---- independent answer checks: seq[S], mask[S] (is_answer), place[S] ---- */

typedef int (*verify_fn)(const pb_task *t, int n, const int *seq, const float *m,
                         const int *place);

static int mask_is_tail(const float *m, int S, int first) {
    for (int i = 0; i < S; i++)
        if (m[i] != (i >= first ? 1.0f : 0.0f)) return 0;
    return 1;
}

static int symbols_in(const int *seq, int k, int lo, int hi) {
    for (int i = 0; i < k; i++)
        if (seq[i] < lo || seq[i] >= hi) return 0;
    return 1;
}

static int v_copy(const pb_task *t, int n, const int *s, const float *m, const int *p) {
    (void)p;
    int ok = mask_is_tail(m, 2 * n + 1, n + 1) && s[n] == 1 && symbols_in(s, n, 2, t->vocab);
    for (int i = 0; i < n; i++) ok &= s[n + 1 + i] == s[i];
    return ok;
}

static int v_reverse(const pb_task *t, int n, const int *s, const float *m, const int *p) {
    (void)p;
    int ok = mask_is_tail(m, 2 * n + 1, n + 1) && s[n] == 1 && symbols_in(s, n, 2, t->vocab);
    for (int i = 0; i < n; i++) ok &= s[n + 1 + i] == s[n - 1 - i];
    return ok;
}

static int v_duplicate(const pb_task *t, int n, const int *s, const float *m, const int *p) {
    (void)p;
    int ok = mask_is_tail(m, 3 * n + 1, n + 1) && s[n] == 1 && symbols_in(s, n, 2, t->vocab);
    for (int i = 0; i < n; i++) ok &= s[n + 1 + i] == s[i] && s[2 * n + 1 + i] == s[i];
    return ok;
}

static int v_sort(const pb_task *t, int n, const int *s, const float *m, const int *p) {
    (void)p;
    int ok = mask_is_tail(m, 2 * n + 1, n + 1) && s[n] == 1 && symbols_in(s, n, 2, t->vocab);
    for (int i = 1; i < n; i++) ok &= s[n + 1 + i] >= s[n + i];
    /* a permutation of the input: each answer symbol matched once */
    int used[256] = {0};
    for (int i = 0; i < n && ok; i++) {
        int found = 0;
        for (int j = 0; j < n && !found; j++)
            if (!used[j] && s[j] == s[n + 1 + i]) used[j] = found = 1;
        ok &= found;
    }
    return ok;
}

static int v_add(const pb_task *t, int n, const int *s, const float *m, const int *p) {
    int base = t->vocab - 3, ok = mask_is_tail(m, 3 * n + 3, 2 * n + 2);
    ok &= s[n] == 1 && s[2 * n + 1] == 2 && p[n] == -1 && p[2 * n + 1] == -1;
    long long a = 0, b = 0, pw = 1;
    for (int i = 0; i < n; i++, pw *= base) {
        a += (s[i] - 3) * pw;
        b += (s[n + 1 + i] - 3) * pw;
        ok &= p[i] == i && p[n + 1 + i] == i;
    }
    long long sum = a + b;
    for (int i = 0; i <= n; i++, sum /= base) {
        ok &= s[2 * n + 2 + i] - 3 == sum % base;
        ok &= p[2 * n + 2 + i] == i;
    }
    return ok && symbols_in(s + 2 * n + 2, n + 1, 3, t->vocab);
}

static int v_recall(const pb_task *t, int n, const int *s, const float *m, const int *p) {
    (void)p;
    int K = 12, V = t->vocab - 2 - K; /* the test creates recall with keys=12 */
    int ok = mask_is_tail(m, 2 * n + 3, 2 * n + 2) && s[2 * n] == 1, hits = 0;
    for (int i = 0; i < n; i++) {
        ok &= s[2 * i] >= 2 && s[2 * i] < 2 + K;
        ok &= s[2 * i + 1] >= 2 + K && s[2 * i + 1] < 2 + K + V;
        for (int j = 0; j < i; j++) ok &= s[2 * i] != s[2 * j];
        if (s[2 * i] == s[2 * n + 1]) hits++, ok &= s[2 * n + 2] == s[2 * i + 1];
    }
    return ok && hits == 1;
}

static int v_induction(const pb_task *t, int n, const int *s, const float *m,
                       const int *p) {
    (void)p;
    int ok = mask_is_tail(m, n + 2, n + 1) && s[n] == 1, trig = -1, count = 0;
    for (int i = 0; i < n; i++)
        if (s[i] == 1) trig = i, count++;
        else ok &= s[i] >= 2 && s[i] < t->vocab;
    return ok && count == 1 && trig <= n - 2 && s[n + 1] == s[trig + 1];
}

static int v_missing(const pb_task *t, int n, const int *s, const float *m, const int *p) {
    (void)p;
    int ok = mask_is_tail(m, 2 * n + 2, 2 * n + 1) && s[2 * n] == 1, gap = -1, count = 0;
    for (int i = 0; i < 2 * n; i++)
        if (s[i] == 2) gap = i, count++;
    if (count != 1) return 0;
    for (int i = 0; i < 2 * n; i++)
        if (i != gap && (i + n) % (2 * n) != gap) ok &= s[i] == s[(i + n) % (2 * n)];
    return ok && s[2 * n + 1] == s[(gap + n) % (2 * n)] &&
           symbols_in(s + 2 * n + 1, 1, 3, t->vocab);
}

static int v_parity(const pb_task *t, int n, const int *s, const float *m, const int *p) {
    (void)t, (void)p;
    int ones = 0, ok = mask_is_tail(m, n + 2, n + 1) && s[n] == 1 && symbols_in(s, n, 2, 4);
    for (int i = 0; i < n; i++) ones += s[i] == 3;
    return ok && s[n + 1] == 2 + ones % 2;
}

static int v_modular(const pb_task *t, int n, const int *s, const float *m, const int *p) {
    (void)p;
    int mod = 7; /* the test creates modular with modulus=7 */
    int sum = 0, ok = t->vocab == 2 + mod && mask_is_tail(m, n + 2, n + 1) && s[n] == 1 &&
                      symbols_in(s, n, 2, 2 + mod);
    for (int i = 0; i < n; i++) sum += s[i] - 2;
    return ok && s[n + 1] == 2 + sum % mod;
}

static int v_grid(const pb_task *t, int n, const int *s, const float *m, const int *p) {
    (void)p;
    int w = t->type->grid_width(t, n), cells = w * n, mark = -1, count = 0;
    int ok = mask_is_tail(m, cells + 2, cells + 1);
    for (int i = 0; i < cells; i++)
        if (s[i] == 1) mark = i, count++;
        else ok &= s[i] >= 6 && s[i] < t->vocab;
    if (count != 1) return 0;
    int x = mark % w, y = mark / w, d = s[cells] - 2;
    if (d < 0 || d > 3) return 0;
    int nx = x + (d == 2 ? -1 : d == 3 ? 1 : 0), ny = y + (d == 0 ? -1 : d == 1 ? 1 : 0);
    if (nx < 0 || nx >= w || ny < 0 || ny >= n) return 0;
    return ok && s[cells + 1] == s[ny * w + nx];
}

/* ---- the generic check of one task ---- */

typedef struct {
    const char *name;
    pb_opts o;
    int S_a, S_b;    /* S(n) = S_a n + S_b */
    int vocab;       /* expected total vocabulary */
    double chance;
    verify_fn verify;
    int sizes[3];
    int test_empirical_chance;
} task_case;

static int same_batch(const pb_batch *x, const pb_batch *y) {
    size_t n = (size_t)x->B * x->T;
    return x->B == y->B && x->T == y->T && !memcmp(x->tokens, y->tokens, n * sizeof(int)) &&
           !memcmp(x->targets, y->targets, n * sizeof(int)) &&
           !memcmp(x->mask, y->mask, n * sizeof(float)) &&
           !memcmp(x->place, y->place, n * sizeof(int));
}

static void check_task(task_case *c) {
    pb_task t;
    pb_error err = {{0}};
    int rc = pb_task_create(&t, c->name, &c->o, &err);
    CHECK(rc == 0, "%s: create failed: %s", c->name, err.msg);
    if (rc) return;
    CHECK(t.vocab == c->vocab, "%s: vocab %d, expected %d", c->name, t.vocab, c->vocab);
    CHECK_CLOSE(t.chance, c->chance, 1e-12, c->name);
    CHECK(t.min_len >= 1 && t.min_len <= t.max_len, "%s: lengths %d..%d", c->name,
          t.min_len, t.max_len);
    for (int k = 0; k < 3; k++) {
        int n = c->sizes[k], S = c->S_a * n + c->S_b;
        CHECK(pb_task_model_len(&t, n, 0, &err) == S, "%s n=%d: encoder T != S(n)=%d",
              c->name, n, S);
        CHECK(pb_task_model_len(&t, n, 1, &err) == S - 1, "%s n=%d: decoder T != S(n)-1",
              c->name, n);
        pb_batch enc, dec, again;
        pb_batch_alloc(&enc, ROWS, S, t.pos_dims, &err);
        pb_batch_alloc(&dec, ROWS, S, t.pos_dims, &err);
        pb_batch_alloc(&again, ROWS, S, t.pos_dims, &err);
        gsl_rng *r1 = rng_seeded(42), *r2 = rng_seeded(42), *r3 = rng_seeded(42);
        CHECK(pb_task_fill_batch(&t, r1, n, 0, ROWS, &enc, &err) == 0, "%s: %s", c->name,
              err.msg);
        CHECK(pb_task_fill_batch(&t, r2, n, 1, ROWS, &dec, &err) == 0, "%s: %s", c->name,
              err.msg);
        CHECK(enc.B == ROWS && enc.T == S && dec.B == ROWS && dec.T == S - 1,
              "%s n=%d: batch shape %dx%d / %dx%d", c->name, n, enc.B, enc.T, dec.B, dec.T);
        CHECK(enc.grid_w == t.grid_w && enc.pos_dims == t.pos_dims, "%s: grid_w/pos_dims",
              c->name);
        int answers_ok = 1, layout_ok = 1;
        for (int b = 0; b < ROWS; b++) {
            const int *seq = enc.targets + b * S, *tok = enc.tokens + b * S;
            const float *m = enc.mask + b * S;
            answers_ok &= symbols_in(seq, S, 1, t.vocab);
            answers_ok &= c->verify(&t, n, seq, m, enc.place + b * S);
            for (int i = 0; i < S; i++) { /* encoder: BLANK exactly in answer slots */
                layout_ok &= tok[i] == (m[i] != 0.0f ? PB_TOKEN_BLANK : seq[i]);
                layout_ok &= m[i] == 0.0f || m[i] == 1.0f;
            }
            for (int i = 0; i < S - 1; i++) { /* decoder: shifted by one */
                int j = b * (S - 1) + i;
                layout_ok &= dec.tokens[j] == seq[i] && dec.targets[j] == seq[i + 1] &&
                             dec.mask[j] == m[i + 1] && dec.place[j] == enc.place[b * S + i];
            }
        }
        CHECK(answers_ok, "%s n=%d: a generated problem is wrong", c->name, n);
        CHECK(layout_ok, "%s n=%d: protocol layout wrong", c->name, n);

        /* determinism: same seed again -> same batch; another seed -> another */
        CHECK(pb_task_fill_batch(&t, r3, n, 0, ROWS, &again, &err) == 0, "%s", err.msg);
        CHECK(same_batch(&enc, &again), "%s n=%d: same seed, different batch", c->name, n);
        gsl_rng_set(r3, 43);
        pb_task_fill_batch(&t, r3, n, 0, ROWS, &again, &err);
        CHECK(!same_batch(&enc, &again), "%s n=%d: seeds 42 and 43 give the same batch",
              c->name, n);

        /* capacity errors */
        CHECK(pb_task_fill_batch(&t, r3, n, 0, ROWS + 1, &again, &err) == -1 &&
                  strstr(err.msg, "batch size"),
              "%s: B > cap_B not caught: %s", c->name, err.msg);
        CHECK(pb_task_fill_batch(&t, r3, c->sizes[2] + 1, 0, ROWS, &again, &err) == -1,
              "%s: T > cap_T not caught", c->name);
        gsl_rng_free(r1), gsl_rng_free(r2), gsl_rng_free(r3);
        pb_batch_free(&enc), pb_batch_free(&dec), pb_batch_free(&again);
    }
    if (c->test_empirical_chance) {
        /* best constant guess on many answers ~ chance */
        int n = c->sizes[1], S = c->S_a * n + c->S_b, rows = 400;
        pb_batch enc;
        pb_batch_alloc(&enc, rows, S, t.pos_dims, &err);
        gsl_rng *r = rng_seeded(7);
        pb_task_fill_batch(&t, r, n, 0, rows, &enc, &err);
        long *count = calloc((size_t)t.vocab, sizeof *count), total = 0, most = 0;
        for (int i = 0; i < rows * S; i++)
            if (enc.mask[i] != 0.0f) count[enc.targets[i]]++, total++;
        for (int v = 0; v < t.vocab; v++)
            if (count[v] > most) most = count[v];
        CHECK(check_close((double)most / total, t.chance, 0.05), "%s: empirical chance %g vs %g",
              c->name, (double)most / total, t.chance);
        free(count);
        gsl_rng_free(r);
        pb_batch_free(&enc);
    }
    pb_task_destroy(&t);
}

static void check_all_tasks(void) {
    task_case cases[] = {
        {"copy", opts(NULL, 0, NULL, 0), 2, 1, 10, 1.0 / 8, v_copy, {1, 5, 13}, 1},
        {"reverse", opts("vocab", 5, NULL, 0), 2, 1, 7, 1.0 / 5, v_reverse, {1, 4, 9}, 1},
        {"duplicate", opts(NULL, 0, NULL, 0), 3, 1, 10, 1.0 / 8, v_duplicate, {1, 3, 8}, 1},
        {"sort", opts("vocab", 6, NULL, 0), 2, 1, 8, 1.0 / 6, v_sort, {1, 7, 30}, 1},
        {"add", opts(NULL, 0, NULL, 0), 3, 3, 13, 0.1, v_add, {1, 6, 12}, 0},
        {"recall", opts("keys", 12, "max_len", 10), 2, 3, 22, 1.0 / 8, v_recall, {1, 5, 12}, 1},
        {"induction", opts(NULL, 0, NULL, 0), 1, 2, 10, 1.0 / 8, v_induction, {2, 3, 40}, 1},
        {"missing_duplicate", opts(NULL, 0, NULL, 0), 2, 2, 5, 0.5, v_missing, {1, 6, 25}, 1},
        {"parity", opts(NULL, 0, NULL, 0), 1, 2, 4, 0.5, v_parity, {1, 9, 33}, 1},
        {"modular", opts("modulus", 7, NULL, 0), 1, 2, 9, 1.0 / 7, v_modular, {1, 4, 20}, 1},
        {"grid2d", opts("width", 4, "vocab", 3), 4, 2, 9, 1.0 / 3, v_grid, {2, 3, 7}, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check_task(&cases[i]);
}

/* add: place as Abacus needs it; reversed digits, n+1 answer digits, base 2 */
static void check_add_details(void) {
    pb_task t;
    pb_error err;
    pb_opts o = opts("vocab", 2, NULL, 0);
    CHECK(pb_task_create(&t, "add", &o, &err) == 0, "%s", err.msg);
    CHECK(t.vocab == 5 && t.chance == 0.5, "add base 2: vocab %d chance %g", t.vocab, t.chance);
    pb_batch b;
    pb_batch_alloc(&b, 50, 3 * 20 + 3, 1, &err);
    gsl_rng *r = rng_seeded(1);
    CHECK(pb_task_fill_batch(&t, r, 20, 0, 50, &b, &err) == 0, "%s", err.msg);
    int ok = 1;
    for (int row = 0; row < 50; row++)
        ok &= v_add(&t, 20, b.targets + row * b.T, b.mask + row * b.T, b.place + row * b.T);
    CHECK(ok, "add base 2, n=20: wrong sums or places");
    gsl_rng_free(r);
    pb_batch_free(&b);
    pb_task_destroy(&t);
}

static void expect_error(const char *task, pb_opts o, const char *needle, const char *needle2) {
    pb_task t;
    pb_error err = {{0}};
    int rc = pb_task_create(&t, task, &o, &err);
    CHECK(rc == -1 && strstr(err.msg, needle) && (!needle2 || strstr(err.msg, needle2)),
          "%s: expected an error with '%s', got rc=%d '%s'", task, needle, rc, err.msg);
    if (rc == 0) pb_task_destroy(&t);
}

/* grid2d square=1: an n x n grid, the batch's row width n for the grid
 * positions, the neighbour answered */
static void check_grid_square(void) {
    pb_task t;
    pb_error err;
    pb_opts o = opts("square", 1, "vocab", 3);
    CHECK(pb_task_create(&t, "grid2d", &o, &err) == 0, "%s", err.msg);
    int sizes[3] = {2, 3, 6};
    for (int k = 0; k < 3; k++) {
        int n = sizes[k], S = t.type->seq_len(&t, n, &err), rows = 50, ok = 1;
        CHECK(S == n * n + 2, "grid2d square n=%d: S %d, want %d", n, S, n * n + 2);
        pb_batch b;
        pb_batch_alloc(&b, rows, S, 2, &err);
        gsl_rng *r = rng_seeded(5);
        CHECK(pb_task_fill_batch(&t, r, n, 0, rows, &b, &err) == 0, "%s", err.msg);
        CHECK(b.grid_w == n, "grid2d square n=%d: batch row width %d", n, b.grid_w);
        for (int row = 0; row < rows; row++)
            ok &= v_grid(&t, n, b.targets + row * b.T, b.mask + row * b.T, NULL);
        CHECK(ok, "grid2d square n=%d: wrong grid, mark or neighbour", n);
        gsl_rng_free(r);
        pb_batch_free(&b);
    }
    pb_task_destroy(&t);
    expect_error("grid2d", opts("square", 1, "width", 4), "square=1 makes the width n", NULL);
}

/* add independent=1: one operand n digits, the other 1..n (either one), the
 * sum's n+1 digits answered, BLANKs after it; places count within each
 * number. Checked on the full sequence (encoder protocol: targets = seq). */
static int v_add_independent(int n, const int *s, const float *m, const int *p, int *la_out,
                             int *lb_out) {
    int la = 0, lb = 0, ok = 1, S = 3 * n + 3;
    while (la < S && s[la] != 1) la++;
    while (la + 1 + lb < S && s[la + 1 + lb] != 2) lb++;
    ok &= la >= 1 && lb >= 1 && la <= n && lb <= n && (la == n || lb == n);
    if (!ok) return 0;
    long long a = 0, b = 0, pw = 1;
    for (int i = 0; i < la; i++, pw *= 10) a += (s[i] - 3) * pw, ok &= p[i] == i;
    pw = 1;
    for (int i = 0; i < lb; i++, pw *= 10) b += (s[la + 1 + i] - 3) * pw, ok &= p[la + 1 + i] == i;
    long long sum = a + b;
    int answer0 = la + lb + 2;
    for (int i = 0; i < S; i++) {
        int in_answer = i >= answer0 && i <= answer0 + n;
        ok &= (m[i] != 0.0f) == in_answer;
        if (in_answer) ok &= s[i] - 3 == sum % 10 && p[i] == i - answer0, sum /= 10;
        if (i > answer0 + n) ok &= s[i] == PB_TOKEN_BLANK && p[i] == -1;
    }
    ok &= p[la] == -1 && p[la + lb + 1] == -1;
    *la_out = la, *lb_out = lb;
    return ok;
}

static void check_add_independent(void) {
    pb_task t;
    pb_error err;
    pb_opts o = opts("independent", 1, NULL, 0);
    CHECK(pb_task_create(&t, "add", &o, &err) == 0, "%s", err.msg);
    int n = 6, rows = 400, ok = 1, a_short = 0, b_short = 0, seen[7] = {0};
    pb_batch b;
    pb_batch_alloc(&b, rows, 3 * n + 3, 1, &err);
    gsl_rng *r = rng_seeded(3);
    CHECK(pb_task_fill_batch(&t, r, n, 0, rows, &b, &err) == 0, "%s", err.msg);
    for (int row = 0; row < rows; row++) {
        int la = 0, lb = 0;
        ok &= v_add_independent(n, b.targets + row * b.T, b.mask + row * b.T,
                                b.place + row * b.T, &la, &lb);
        a_short += la < n, b_short += lb < n;
        seen[la < lb ? la : lb]++;
    }
    CHECK(ok, "add independent=1, n=6: wrong layout, sums, places or padding");
    CHECK(a_short > rows / 4 && b_short > rows / 4,
          "add independent=1: a shorter %d, b shorter %d of %d rows", a_short, b_short, rows);
    int all = 1;
    for (int k = 1; k <= n; k++) all &= seen[k] > 0;
    CHECK(all, "add independent=1: not every shorter length 1..%d occurs", n);
    gsl_rng_free(r);
    pb_batch_free(&b);
    pb_task_destroy(&t);
    expect_error("add", opts("independent", 2, NULL, 0), "independent", NULL);
}

static void check_errors(void) {
    expect_error("copyy", opts(NULL, 0, NULL, 0), "unknown task 'copyy'",
                 "valid tasks: copy, reverse, duplicate, sort, add, recall, induction, "
                 "missing_duplicate, parity, modular, grid2d, lm");
    expect_error("copy", opts("foo", 1, NULL, 0), "unknown option 'foo'",
                 "min_len, max_len, vocab");
    expect_error("parity", opts("vocab", 4, NULL, 0), "unknown option 'vocab'", NULL);
    expect_error("copy", opts("min_len", 9, "max_len", 3), "min_len (9) must be <= max_len (3)",
                 NULL);
    expect_error("copy", opts("min_len", 0, NULL, 0), "'min_len'", "got 0");
    expect_error("sort", opts("vocab", 1, NULL, 0), "'vocab'", "got 1");
    expect_error("copy", opts("vocab", 2.5, NULL, 0), "'vocab' must be an integer", NULL);
    expect_error("induction", opts("min_len", 1, NULL, 0), "'min_len'", "got 1");
    expect_error("modular", opts("modulus", 1, NULL, 0), "'modulus'", "got 1");
    expect_error("recall", opts("keys", 10, "max_len", 20), "keys=10", "max_len=20");
    expect_error("grid2d", opts("width", 1, NULL, 0), "'width'", "got 1");

    pb_opts none = opts(NULL, 0, NULL, 0);
    pb_opts keys = opts("keys", 12, "max_len", 10);
    pb_task t;
    pb_error err = {{0}};
    pb_task_create(&t, "copy", &none, &err);
    CHECK(pb_task_model_len(&t, 0, 1, &err) == -1 && strstr(err.msg, "n=0"),
          "copy n=0: %s", err.msg);
    pb_batch b;
    pb_batch_alloc(&b, 4, 10, 1, &err);
    gsl_rng *r = rng_seeded(3);
    CHECK(pb_task_fill_batch(&t, r, 5, 0, 4, &b, &err) == -1 && strstr(err.msg, "T=11") &&
              strstr(err.msg, "at most 10"),
          "T > cap_T: %s", err.msg);
    CHECK(pb_task_fill_batch(&t, r, 4, 1, 4, &b, &err) == 0, "decoder T=8 fits: %s", err.msg);
    pb_task_destroy(&t);
    pb_task_create(&t, "recall", &keys, &err);
    CHECK(pb_task_model_len(&t, 13, 1, &err) == -1 && strstr(err.msg, "keys=12"),
          "recall n > keys: %s", err.msg);
    pb_task_destroy(&t);
    pb_task_create(&t, "induction", &none, &err);
    CHECK(pb_task_model_len(&t, 1, 1, &err) == -1, "induction n=1 accepted");
    pb_task_destroy(&t);
    gsl_rng_free(r);
    pb_batch_free(&b);

    CHECK(pb_task_find("grid2d") && !pb_task_find("nope"), "pb_task_find");
    char names[32];
    pb_task_list_names(names, sizeof names);
    CHECK(strncmp(names, "copy, reverse", 13) == 0 && strlen(names) < sizeof names,
          "list names truncates safely: '%s'", names);
}

/* ---- lm ---- */

static const char *text =
    "the quick brown fox jumps over the lazy dog.\n"
    "pack my box with five dozen liquor jugs!\n";

static void check_lm_file(void) {
    char path[] = "/tmp/posbench_lm_XXXXXX";
    int fd = mkstemp(path);
    long L = (long)strlen(text);
    CHECK(fd >= 0 && write(fd, text, (size_t)L) == L, "temp file");
    close(fd);

    /* independent mapping: distinct bytes in byte order -> 1.. */
    int id[256] = {0}, k = 0;
    long count[256] = {0}, most = 0;
    for (long i = 0; i < L; i++) count[(unsigned char)text[i]]++;
    for (int c = 0; c < 256; c++)
        if (count[c]) {
            id[c] = ++k;
            if (count[c] > most) most = count[c];
        }

    pb_opts o = opts("max_len", 8, "min_len", 3);
    pb_opts_set_str(&o, "path", path, NULL);
    pb_task t;
    pb_error err = {{0}};
    CHECK(pb_task_create(&t, "lm", &o, &err) == 0, "lm create: %s", err.msg);
    CHECK(t.vocab == k + 1, "lm vocab %d, expected %d", t.vocab, k + 1);
    CHECK_CLOSE(t.chance, (double)most / L, 1e-12, "lm chance");
    CHECK(pb_lm_corpus_len(&t) == L, "corpus len %ld", pb_lm_corpus_len(&t));
    CHECK(pb_task_model_len(&t, 8, 1, &err) == 8, "lm decoder T = n");

    int seq[64], ok = 1;
    for (long off = 0; off + 8 < L; off += 8) { /* non-overlapping walk */
        CHECK(pb_lm_window(&t, off, 8, seq, &err) == 0, "%s", err.msg);
        for (int i = 0; i <= 8; i++) ok &= seq[i] == id[(unsigned char)text[off + i]];
        for (int i = 0; i <= 8; i++) ok &= pb_lm_token_byte(&t, seq[i]) == text[off + i];
    }
    CHECK(ok, "lm windows differ from the text");
    CHECK(pb_lm_window(&t, L - 8, 8, seq, &err) == -1 && strstr(err.msg, "offset"),
          "window past the end: %s", err.msg);
    CHECK(pb_lm_window(&t, L - 9, 8, seq, &err) == 0, "last window: %s", err.msg);
    CHECK(pb_lm_window(&t, -1, 8, seq, &err) == -1, "negative offset accepted");
    CHECK(pb_task_model_len(&t, (int)L, 1, &err) == -1 && strstr(err.msg, path),
          "window longer than corpus: %s", err.msg);

    /* batches: each decoder row is some window of the text, all masked */
    pb_batch b;
    pb_batch_alloc(&b, 16, 8, 1, &err);
    gsl_rng *r = rng_seeded(5);
    CHECK(pb_task_fill_batch(&t, r, 8, 1, 16, &b, &err) == 0, "%s", err.msg);
    int rows_ok = 1;
    for (int row = 0; row < 16; row++) {
        char s[10];
        for (int i = 0; i < 8; i++) {
            s[i] = (char)pb_lm_token_byte(&t, b.tokens[row * 8 + i]);
            rows_ok &= b.mask[row * 8 + i] == 1.0f && b.place[row * 8 + i] == -1;
            if (i) rows_ok &= b.tokens[row * 8 + i] == b.targets[row * 8 + i - 1];
        }
        s[8] = (char)pb_lm_token_byte(&t, b.targets[row * 8 + 7]);
        s[9] = 0;
        rows_ok &= strstr(text, s) != NULL;
    }
    CHECK(rows_ok, "lm batch rows are not windows of the text");
    CHECK(pb_task_fill_batch(&t, r, 8, 0, 16, &b, &err) == -1 && strstr(err.msg, "decoder"),
          "lm encoder protocol: %s", err.msg);
    gsl_rng_free(r);
    pb_batch_free(&b);
    pb_task_destroy(&t);

    /* too short for max_len, and corpus options that do not apply */
    o = opts("max_len", (double)L, NULL, 0);
    pb_opts_set_str(&o, "path", path, NULL);
    expect_error("lm", o, "too short", path);
    o = opts("corpus_len", 500, NULL, 0);
    pb_opts_set_str(&o, "path", path, NULL);
    expect_error("lm", o, "corpus_len", path);
    unlink(path);
    o = opts(NULL, 0, NULL, 0);
    pb_opts_set_str(&o, "path", "/nonexistent/posbench/corpus.txt", NULL);
    expect_error("lm", o, "cannot read corpus file '/nonexistent/posbench/corpus.txt'", NULL);
    o = opts(NULL, 0, NULL, 0);
    pb_opts_set_str(&o, "path", "/tmp", NULL);
    expect_error("lm", o, "'/tmp'", NULL); /* a directory */
}

static void check_lm_generated(void) {
    pb_opts o = opts("corpus_len", 5000, NULL, 0), o2 = o;
    pb_opts o3 = opts("corpus_seed", 2, "corpus_len", 5000);
    pb_task t, t2, t3;
    pb_error err = {{0}};
    CHECK(pb_task_create(&t, "lm", &o, &err) == 0, "%s", err.msg);
    CHECK(pb_task_create(&t2, "lm", &o2, &err) == 0, "%s", err.msg);
    CHECK(pb_task_create(&t3, "lm", &o3, &err) == 0, "%s", err.msg);
    CHECK(pb_lm_corpus_len(&t) == 5000 && t.min_len == 64 && t.max_len == 64,
          "generated corpus size/lengths");
    CHECK(t.vocab > 10 && t.vocab < 40 && t.chance > 0.05 && t.chance < 0.5,
          "generated corpus vocab %d chance %g", t.vocab, t.chance);
    int a[65], b2[65], c[65], same = 1, other = 1, printable = 1;
    for (long off = 0; off + 64 < 5000; off += 64) {
        pb_lm_window(&t, off, 64, a, &err);
        pb_lm_window(&t2, off, 64, b2, &err);
        pb_lm_window(&t3, off, 64, c, &err);
        same &= !memcmp(a, b2, sizeof a);
        other &= !memcmp(a, c, sizeof a);
        for (int i = 0; i < 65; i++) {
            int ch = pb_lm_token_byte(&t, a[i]);
            printable &= ch == '\n' || (ch >= ' ' && ch < 127);
        }
    }
    CHECK(same, "generated corpus differs between two creations");
    CHECK(!other, "corpus_seed 1 and 2 give the same corpus");
    CHECK(printable, "generated corpus has unexpected bytes");
    pb_task_destroy(&t), pb_task_destroy(&t2), pb_task_destroy(&t3);
    o = opts("corpus_len", 10, NULL, 0);
    expect_error("lm", o, "too short", "max_len=64");
}

int main(void) {
    check_all_tasks();
    check_add_details();
    check_add_independent();
    check_grid_square();
    check_errors();
    check_lm_file();
    check_lm_generated();
    return check_summary("test_tasks");
}
