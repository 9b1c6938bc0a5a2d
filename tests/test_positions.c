/* Position schemes: values of linear/shift/abacus/grid positions computed
 * here independently, random positions (sorted, distinct, in range, seeded,
 * every value equally likely), and the error messages. */
#include <math.h>
#include <string.h>

#include "../harness/model/positions.h"
#include "../harness/tasks/task.h"
#include "check.h"

static pb_opts opts(const char *scheme, const char *k1, double v1, const char *k2, double v2) {
    pb_opts o;
    pb_opts_init(&o);
    if (scheme) pb_opts_set_str(&o, "scheme", scheme, NULL);
    if (k1) pb_opts_set_num(&o, k1, v1, NULL);
    if (k2) pb_opts_set_num(&o, k2, v2, NULL);
    return o;
}

static gsl_rng *rng_seeded(unsigned long seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    return r;
}

static void shaped(pb_batch *b, int B, int T, int dims) {
    pb_batch_alloc(b, B, T, dims, NULL);
    b->B = B, b->T = T;
}

static void check_linear_shift(void) {
    pb_positions p;
    pb_error err = {{0}};
    pb_batch b;
    shaped(&b, 3, 7, 1);
    gsl_rng *r = rng_seeded(1);
    pb_opts o = opts(NULL, NULL, 0, NULL, 0); /* default: linear, offset 0 */
    CHECK(pb_positions_create(&p, &o, 1, &err) == 0 && p.scheme == PB_POS_LINEAR, "%s", err.msg);
    pb_positions_fill(&p, &b, r, 1, &err);
    int ok = 1;
    for (int i = 0; i < 21; i++) ok &= b.pos[i] == i % 7;
    CHECK(ok, "linear: pos != t");
    o = opts("linear", "offset", 5, NULL, 0);
    pb_positions_create(&p, &o, 1, &err);
    pb_positions_fill(&p, &b, r, 0, &err);
    ok = 1;
    for (int i = 0; i < 21; i++) ok &= b.pos[i] == i % 7 + 5;
    CHECK(ok, "linear offset 5");

    o = opts("shift", "shift", 3, NULL, 0);
    pb_positions_create(&p, &o, 1, &err);
    pb_positions_fill(&p, &b, r, 1, &err);
    ok = 1;
    for (int i = 0; i < 21; i++) ok &= b.pos[i] == i % 7 + 3;
    CHECK(ok, "shift 3 (fixed, training)");
    pb_batch_free(&b);

    /* random shift while training: one shift per row in [0, shift_max] */
    shaped(&b, 200, 5, 1);
    o = opts("shift", "shift", 3, "shift_max", 9);
    CHECK(pb_positions_create(&p, &o, 1, &err) == 0, "%s", err.msg);
    pb_positions_fill(&p, &b, r, 1, &err);
    int seen[10] = {0};
    ok = 1;
    for (int row = 0; row < 200; row++) {
        int s = b.pos[row * 5];
        ok &= s >= 0 && s <= 9;
        if (s >= 0 && s <= 9) seen[s]++;
        for (int t = 0; t < 5; t++) ok &= b.pos[row * 5 + t] == s + t;
    }
    int all = 1;
    for (int s = 0; s < 10; s++) all &= seen[s] > 5;
    CHECK(ok && all, "shift_max=9: shifts per row in [0, 9], each value seen");
    pb_positions_fill(&p, &b, r, 0, &err);
    ok = 1;
    for (int i = 0; i < 1000; i++) ok &= b.pos[i] == i % 5 + 3;
    CHECK(ok, "shift at evaluation uses the fixed shift");
    pb_batch_free(&b);
    gsl_rng_free(r);
}

static void check_random(void) {
    pb_positions p;
    pb_error err = {{0}};
    pb_batch b, b2;
    int N = 64, T = 20, R = 2000;
    shaped(&b, R, T, 1);
    shaped(&b2, R, T, 1);
    pb_opts o = opts("random", "max_pos", N, NULL, 0);
    CHECK(pb_positions_create(&p, &o, 1, &err) == 0 && p.max_pos == 64, "%s", err.msg);
    gsl_rng *r = rng_seeded(11), *r2 = rng_seeded(11);
    CHECK(pb_positions_fill(&p, &b, r, 0, &err) == 0, "%s", err.msg);
    pb_positions_fill(&p, &b2, r2, 0, &err);
    CHECK(!memcmp(b.pos, b2.pos, sizeof(int) * R * T), "random: same seed, other positions");
    pb_positions_fill(&p, &b2, r2, 0, &err);
    CHECK(memcmp(b.pos, b2.pos, sizeof(int) * R * T), "random: next draw repeats");

    int ok = 1, count[64] = {0}, firsts[64] = {0};
    for (int row = 0; row < R; row++) {
        const int *q = b.pos + row * T;
        for (int t = 0; t < T; t++) {
            ok &= q[t] >= 0 && q[t] < N && (t == 0 || q[t] > q[t - 1]);
            if (q[t] >= 0 && q[t] < N) count[q[t]]++;
        }
        if (q[0] >= 0 && q[0] < N) firsts[q[0]]++;
    }
    CHECK(ok, "random: positions sorted, distinct, in [0, max_pos)");
    /* each value is in a uniform T-subset with probability T/N */
    double e = (double)R * T / N, sd = sqrt(e * (1 - (double)T / N)), worst = 0;
    for (int v = 0; v < N; v++)
        if (fabs(count[v] - e) > worst) worst = fabs(count[v] - e);
    CHECK(worst < 5 * sd, "random: inclusion counts off by %g (sd %g)", worst, sd);
    /* P(min = 0) = T/N, P(min = 1) = (N-T)/N * T/(N-1) */
    double p0 = (double)T / N, p1 = (double)(N - T) / N * T / (N - 1);
    CHECK(fabs(firsts[0] - R * p0) < 5 * sqrt(R * p0 * (1 - p0)), "random: P(min=0) %d vs %g",
          firsts[0], R * p0);
    CHECK(fabs(firsts[1] - R * p1) < 5 * sqrt(R * p1 * (1 - p1)), "random: P(min=1) %d vs %g",
          firsts[1], R * p1);
    pb_batch_free(&b), pb_batch_free(&b2);

    /* T = max_pos: all positions; T > max_pos: error */
    shaped(&b, 2, 64, 1);
    pb_positions_fill(&p, &b, r, 1, &err);
    ok = 1;
    for (int i = 0; i < 128; i++) ok &= b.pos[i] == i % 64;
    CHECK(ok, "random with T = max_pos gives 0..T-1");
    pb_batch_free(&b);
    shaped(&b, 2, 65, 1);
    CHECK(pb_positions_fill(&p, &b, r, 1, &err) == -1 && strstr(err.msg, "max_pos=64") &&
              strstr(err.msg, "65"),
          "random T > max_pos: %s", err.msg);
    pb_batch_free(&b);

    /* default max_pos 2048, a long sequence */
    o = opts("random", NULL, 0, NULL, 0);
    pb_positions_create(&p, &o, 1, &err);
    CHECK(p.max_pos == 2048, "random default max_pos %d", p.max_pos);
    shaped(&b, 4, 1500, 1);
    pb_positions_fill(&p, &b, r, 0, &err);
    ok = 1;
    for (int i = 0; i < 4 * 1500; i++)
        ok &= b.pos[i] >= 0 && b.pos[i] < 2048 && (i % 1500 == 0 || b.pos[i] > b.pos[i - 1]);
    CHECK(ok, "random 1500 of 2048");
    pb_batch_free(&b);
    gsl_rng_free(r), gsl_rng_free(r2);
}

static void check_abacus(void) {
    pb_task t;
    pb_error err = {{0}};
    pb_opts none = opts(NULL, NULL, 0, NULL, 0);
    CHECK(pb_task_create(&t, "add", &none, &err) == 0, "%s", err.msg);
    int n = 4, T = 3 * n + 3, R = 100;
    pb_batch b;
    pb_batch_alloc(&b, R, T, 1, &err);
    gsl_rng *r = rng_seeded(2);
    pb_task_fill_batch(&t, r, n, 0, R, &b, &err);
    pb_positions p;
    pb_opts o = opts("abacus", "max_offset", 20, NULL, 0);
    CHECK(pb_positions_create(&p, &o, 1, &err) == 0, "%s", err.msg);
    /* expected at evaluation: a_i, b_i, s_i -> i + 1; '+', '=' -> 0 */
    int expect[15];
    for (int i = 0; i < n; i++) expect[i] = expect[n + 1 + i] = i + 1;
    for (int i = 0; i <= n; i++) expect[2 * n + 2 + i] = i + 1;
    expect[n] = expect[2 * n + 1] = 0;
    pb_positions_fill(&p, &b, r, 0, &err);
    int ok = 1;
    for (int i = 0; i < R * T; i++) ok &= b.pos[i] == expect[i % T];
    CHECK(ok, "abacus at evaluation: digits place+1, others 0");
    /* default offset="batch": one k for every row of a batch, new per batch */
    int seen[20] = {0}, distinct = 0;
    ok = 1;
    for (int batch = 0; batch < 40; batch++) {
        pb_positions_fill(&p, &b, r, 1, &err);
        int k = b.pos[0] - 1;
        ok &= k >= 0 && k < 20;
        if (k >= 0 && k < 20) distinct += !seen[k]++;
        for (int row = 0; row < R; row++)
            for (int i = 0; i < T; i++)
                ok &= b.pos[row * T + i] == (expect[i] ? expect[i] + k : 0);
    }
    CHECK(ok, "abacus training: one offset k in [0, max_offset) per batch on digits only");
    CHECK(distinct >= 12, "abacus per-batch offsets vary across batches: %d distinct of 20",
          distinct);
    /* offset="sequence": one k per row */
    o = opts("abacus", "max_offset", 20, NULL, 0);
    pb_opts_set_str(&o, "offset", "sequence", NULL);
    CHECK(pb_positions_create(&p, &o, 1, &err) == 0, "%s", err.msg);
    CHECK(p.offset_per_sequence == 1, "offset=sequence parsed");
    pb_positions_fill(&p, &b, r, 1, &err);
    memset(seen, 0, sizeof seen);
    distinct = 0;
    ok = 1;
    for (int row = 0; row < R; row++) {
        int k = b.pos[row * T] - 1;
        ok &= k >= 0 && k < 20;
        if (k >= 0 && k < 20) distinct += !seen[k]++;
        for (int i = 0; i < T; i++)
            ok &= b.pos[row * T + i] == (expect[i] ? expect[i] + k : 0);
    }
    CHECK(ok, "abacus offset=sequence: one offset k in [0, max_offset) per row");
    CHECK(distinct >= 15, "abacus per-sequence offsets vary: %d distinct of 20", distinct);
    /* both seeded: the same seed gives the same offsets */
    for (int per_seq = 0; per_seq <= 1; per_seq++) {
        pb_opts oo = opts("abacus", "max_offset", 20, NULL, 0);
        if (per_seq) pb_opts_set_str(&oo, "offset", "sequence", NULL);
        pb_positions pp;
        pb_positions_create(&pp, &oo, 1, &err);
        pb_batch b2;
        pb_batch_alloc(&b2, R, T, 1, &err);
        memcpy(b2.place, b.place, sizeof(int) * (size_t)R * T);
        b2.B = R, b2.T = T;
        gsl_rng *r1 = rng_seeded(9), *r2 = rng_seeded(9);
        pb_positions_fill(&pp, &b, r1, 1, &err);
        pb_positions_fill(&pp, &b2, r2, 1, &err);
        CHECK(memcmp(b.pos, b2.pos, sizeof(int) * (size_t)R * T) == 0,
              "abacus offset=%s: same seed, same offsets", per_seq ? "sequence" : "batch");
        gsl_rng_free(r1), gsl_rng_free(r2);
        pb_batch_free(&b2);
    }
    o = opts("abacus", NULL, 0, NULL, 0);
    pb_positions_create(&p, &o, 1, &err);
    CHECK(p.max_offset == 100 && p.offset_per_sequence == 0,
          "abacus defaults max_offset %d, offset=batch", p.max_offset);
    pb_batch_free(&b);
    pb_task_destroy(&t);
    gsl_rng_free(r);
}

static void check_grid(void) {
    pb_task t;
    pb_error err = {{0}};
    pb_opts to = opts(NULL, "width", 4, NULL, 0);
    CHECK(pb_task_create(&t, "grid2d", &to, &err) == 0, "%s", err.msg);
    int n = 3, T = 4 * n + 2;
    pb_batch b;
    pb_batch_alloc(&b, 2, T, 2, &err);
    gsl_rng *r = rng_seeded(3);
    pb_task_fill_batch(&t, r, n, 0, 2, &b, &err);
    CHECK(b.grid_w == 4, "grid2d batch grid_w %d", b.grid_w);
    pb_positions p;
    pb_opts o = opts("grid", NULL, 0, NULL, 0);
    CHECK(pb_positions_create(&p, &o, 2, &err) == 0 && p.pos_dims == 2, "%s", err.msg);
    CHECK(pb_positions_fill(&p, &b, r, 1, &err) == 0, "%s", err.msg);
    int ok = 1;
    for (int row = 0; row < 2; row++)
        for (int i = 0; i < T; i++)
            ok &= b.pos[(row * T + i) * 2] == i % 4 && b.pos[(row * T + i) * 2 + 1] == i / 4;
    CHECK(ok, "grid from the task width: (t mod 4, t div 4)");
    o = opts("grid", "width", 3, NULL, 0);
    pb_positions_create(&p, &o, 2, &err);
    pb_positions_fill(&p, &b, r, 0, &err);
    ok = 1;
    for (int i = 0; i < T; i++) ok &= b.pos[i * 2] == i % 3 && b.pos[i * 2 + 1] == i / 3;
    CHECK(ok, "grid width option overrides the task");
    pb_batch_free(&b);

    shaped(&b, 1, 6, 2); /* a batch with no grid_w */
    o = opts("grid", NULL, 0, NULL, 0);
    pb_positions_create(&p, &o, 2, &err);
    CHECK(pb_positions_fill(&p, &b, r, 0, &err) == -1 && strstr(err.msg, "width"),
          "grid without width: %s", err.msg);
    pb_batch_free(&b);
    shaped(&b, 1, 6, 1);
    CHECK(pb_positions_fill(&p, &b, r, 0, &err) == -1 && strstr(err.msg, "2D") &&
              strstr(err.msg, "1D"),
          "grid into a 1D batch: %s", err.msg);
    pb_batch_free(&b);
    pb_task_destroy(&t);
    gsl_rng_free(r);
}

static void expect_error(pb_opts o, int dims, const char *needle, const char *needle2) {
    pb_positions p;
    pb_error err = {{0}};
    int rc = pb_positions_create(&p, &o, dims, &err);
    CHECK(rc == -1 && strstr(err.msg, needle) && (!needle2 || strstr(err.msg, needle2)),
          "expected an error with '%s', got rc=%d '%s'", needle, rc, err.msg);
}

static void check_errors(void) {
    expect_error(opts("spiral", NULL, 0, NULL, 0), 1, "unknown position scheme 'spiral'",
                 "valid schemes: linear, shift, random, abacus, grid");
    expect_error(opts("linear", NULL, 0, NULL, 0), 2,
                 "encoding needs 2D positions but scheme 'linear' gives 1D; use scheme='grid'",
                 NULL);
    expect_error(opts("random", NULL, 0, NULL, 0), 2, "scheme 'random' gives 1D", NULL);
    expect_error(opts("grid", NULL, 0, NULL, 0), 1, "needs 1D positions but scheme 'grid'", NULL);
    expect_error(opts("linear", "max_pos", 10, NULL, 0), 1, "unknown option 'max_pos'",
                 "scheme, offset");
    expect_error(opts("shift", "shift_max", -1, NULL, 0), 1, "'shift_max'", "got -1");
    expect_error(opts("random", "max_pos", 0, NULL, 0), 1, "'max_pos'", "got 0");
    expect_error(opts("abacus", "max_offset", 0, NULL, 0), 1, "'max_offset'", "got 0");
    {
        pb_opts bad = opts("abacus", NULL, 0, NULL, 0);
        pb_opts_set_str(&bad, "offset", "step", NULL);
        expect_error(bad, 1, "offset='step'", "'sequence'");
    }
    expect_error(opts("grid", "width", 0, NULL, 0), 2, "'width'", "got 0");
    pb_opts o;
    pb_opts_init(&o);
    pb_opts_set_num(&o, "scheme", 3, NULL);
    expect_error(o, 1, "'scheme' must be a string", NULL);
    int k = 0;
    while (pb_position_scheme_names[k]) k++;
    CHECK(k == 5 && !strcmp(pb_position_scheme_names[PB_POS_ABACUS], "abacus"),
          "scheme names list");
}

int main(void) {
    check_linear_shift();
    check_random();
    check_abacus();
    check_grid();
    check_errors();
    return check_summary("test_positions");
}
