/* The core layer's small pieces: pb_fail / pb_prefix (messages keep their
 * context and are cut to fit), the typed option getters every layer reads
 * its settings with (booleans, seeds, merging key by key), base64 and
 * FNV-1a against published vectors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../harness/core/encode.h"
#include "../harness/core/fastmath.h"
#include "../harness/core/opts.h"
#include "../harness/core/pb_error.h"
#include "../harness/core/quote.h"
#include "check.h"

static void check_prefix(void) {
    pb_error err;
    CHECK(pb_fail(&err, "x failed") == -1, "pb_fail returns -1");
    CHECK(pb_prefix(&err, "pb.eval at length %d", 12) == -1, "pb_prefix returns -1");
    CHECK(strcmp(err.msg, "pb.eval at length 12: x failed") == 0, "got '%s'", err.msg);
    CHECK(pb_prefix(NULL, "nothing") == -1, "NULL error is allowed");

    /* a full message stays terminated and keeps the context first */
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    pb_fail(&err, "%s", big);
    CHECK(strlen(err.msg) == sizeof err.msg - 1, "pb_fail cuts to fit: %zu", strlen(err.msg));
    pb_prefix(&err, "ctx");
    CHECK(strlen(err.msg) == sizeof err.msg - 1 && strncmp(err.msg, "ctx: aaa", 8) == 0,
          "prefix of a full message: %zu '%.12s'", strlen(err.msg), err.msg);
    /* a context longer than the message buffer */
    pb_fail(&err, "m");
    pb_prefix(&err, "%s", big);
    CHECK(strlen(err.msg) == sizeof err.msg - 1 && err.msg[sizeof err.msg - 3] == ':' &&
          err.msg[sizeof err.msg - 2] == ' ',
          "an over-long context is cut before ': ': %zu", strlen(err.msg));
}

static void check_bool_and_seed(void) {
    pb_opts o;
    pb_error err = {{0}};
    pb_opts_init(&o);
    int b = -1;
    unsigned long s = 0;
    CHECK(pb_opts_bool(&o, "causal", 1, &b, "w", &err) == 0 && b == 1, "missing bool -> default");
    CHECK(pb_opts_seed(&o, "seed", 7, &s, "w", &err) == 0 && s == 7, "missing seed -> default");
    pb_opts_set_bool(&o, "causal", 0, NULL);
    CHECK(pb_opts_bool(&o, "causal", 1, &b, "w", &err) == 0 && b == 0, "false is false");
    double num = -1;
    CHECK(pb_opts_num(&o, "causal", 5, &num, "w", &err) == 0 && num == 0,
          "a reader of numbers takes a boolean as 0 / 1");
    pb_opts_set_num(&o, "causal", 1, NULL);
    CHECK(pb_opts_bool(&o, "causal", 1, &b, "w", &err) == -1 &&
              strcmp(err.msg, "w: 'causal' must be true or false") == 0,
          "the number 1 is not a boolean: %s", err.msg);

    pb_opts_set_num(&o, "seed", 4294967295.0, NULL);
    CHECK(pb_opts_seed(&o, "seed", 1, &s, "w", &err) == 0 && s == 4294967295UL, "largest seed");
    const double bad[] = {-1.0, 1.5, 4294967296.0, NAN, INFINITY};
    for (int i = 0; i < 5; i++) {
        pb_opts_set_num(&o, "seed", bad[i], NULL);
        CHECK(pb_opts_seed(&o, "seed", 1, &s, "w", &err) == -1 &&
                  strstr(err.msg, "w: 'seed' must be an integer in [0, 4294967295], got") == err.msg,
              "seed %g refused: %s", bad[i], err.msg);
        CHECK(!pb_seed_valid(bad[i]), "pb_seed_valid(%g)", bad[i]);
    }
    pb_opts_set_str(&o, "seed", "abc", NULL);
    CHECK(pb_opts_seed(&o, "seed", 1, &s, "w", &err) == -1 && strstr(err.msg, "got abc"),
          "a string seed: %s", err.msg);
}

static void check_merge(void) {
    pb_opts base, over;
    pb_error err;
    pb_opts_init(&base);
    pb_opts_init(&over);
    pb_opts_set_str(&base, "scaling.type", "pi", NULL);
    pb_opts_set_num(&base, "scaling.factor", 2, NULL);
    pb_opts_set_num(&over, "scaling.factor", 4, NULL);
    CHECK(pb_opts_merge(&base, &over, &err) == 0, "merge: %s", err.msg);
    const char *type = NULL;
    double factor = 0;
    pb_opts_str(&base, "scaling.type", NULL, &type, "w", &err);
    pb_opts_num(&base, "scaling.factor", 0, &factor, "w", &err);
    CHECK(type && strcmp(type, "pi") == 0 && factor == 4 && base.n == 2,
          "a nested override replaces one key and keeps the group's others");
    pb_opts_set_bool(&over, "flag", 1, NULL);
    CHECK(pb_opts_merge_prefixed(&base, &over, "g.", &err) == 0 &&
              pb_opts_find(&base, "g.flag") && pb_opts_find(&base, "g.flag")->kind == PB_OPT_BOOL,
          "merging keeps a boolean's kind");
}

/* RFC 4648 section 10 and the FNV reference values. */
static void check_encode(void) {
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char out[16] = {0};
        size_t n = pb_base64(in[i], strlen(in[i]), out);
        CHECK(n == pb_base64_len(strlen(in[i])) && strcmp(out, want[i]) == 0,
              "base64('%s') = '%s', want '%s'", in[i], out, want[i]);
    }
    CHECK(pb_fnv1a64("", 0) == 0xcbf29ce484222325ULL, "FNV-1a 64 of nothing");
    CHECK(pb_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cULL, "FNV-1a 64 of 'a'");
    CHECK(pb_fnv1a64("foobar", 6) == 0x85944171f73967e8ULL, "FNV-1a 64 of 'foobar'");
}

/* pb_expf on what a diverging training feeds it: NaN stays NaN, and no
 * input reaches its float-to-int conversion out of range (undefined
 * behaviour, which make sanitize aborts on). */
static void check_expf(void) {
    volatile float nan_ = NAN, inf = INFINITY;
    CHECK(isnan(pb_expf(nan_)), "expf(NaN) is NaN, got %g", pb_expf(nan_));
    CHECK(isnan(pb_expf(-nan_)), "expf(-NaN) is NaN");
    CHECK(pb_expf(inf) > 1e38f, "expf(inf) is huge (inf), got %g",
          pb_expf(inf));
    CHECK(pb_expf(-inf) > 0 && pb_expf(-inf) < 1e-37f, "expf(-inf) is tiny, got %g", pb_expf(-inf));
    CHECK(pb_expf(1e30f) == pb_expf(88.7f), "expf(1e30) is clamped");
    CHECK(pb_expf(-1e30f) == pb_expf(-87.3f), "expf(-1e30) is clamped");
    CHECK(fabsf(pb_expf(1.0f) - 2.7182817f) < 1e-6f, "expf(1) = e, got %.9g", pb_expf(1.0f));
}

/* The three quotings on fixed cases; tests/fuzz/fuzz_quote_*.c take them on
 * arbitrary text, test_hardening.lua through a real sh and gnuplot. */
static void check_quote(void) {
    pb_error err;
    char *q = pb_quote_shell("it's", 4, &err);
    CHECK(q && strcmp(q, "'it'\\''s'") == 0, "shell: %s", q ? q : err.msg);
    free(q);
    CHECK(pb_quote_shell("a\nb", 3, &err) == NULL && strstr(err.msg, "byte 0x0a at offset 1"),
          "shell refuses a newline: %s", err.msg);
    q = pb_quote_gnuplot("it's\n", 5, &err);
    CHECK(q && strcmp(q, "'it'.\"\\047\".'s'.\"\\012\"") == 0, "gnuplot: %s", q ? q : err.msg);
    free(q);
    CHECK(pb_quote_gnuplot("a\0", 2, &err) == NULL && strstr(err.msg, "NUL"), "gnuplot refuses NUL");
    q = pb_quote_slurm_pattern("/r/5%/x", 7, &err);
    CHECK(q && strcmp(q, "/r/5%%/x") == 0, "slurm: %s", q ? q : err.msg);
    free(q);
    CHECK(pb_quote_slurm_pattern("a\\b", 3, &err) == NULL && strstr(err.msg, "'\\'"),
          "slurm refuses a backslash: %s", err.msg);
    pb_opts o;
    pb_opts_init(&o);
    pb_opts_set_num(&o, "f", INFINITY, NULL);
    pb_opts_set_num(&o, "g", 2.0, NULL);
    double v;
    CHECK(pb_opts_num(&o, "f", 1, &v, "w", &err) == -1 &&
              strstr(err.msg, "w: option 'f' must be a finite number, got inf"),
          "non-finite option refused: %s", err.msg);
    CHECK(pb_opts_num_in(&o, "g", 1, 0, 1, 1, &v, "w", &err) == -1 &&
              strstr(err.msg, "w: option 'g' must be in (0, 1], got 2"), "range: %s", err.msg);
    CHECK(pb_opts_num_in(&o, "g", 1, 0, HUGE_VAL, 1, &v, "w", &err) == 0 && v == 2, "in range");
}

int main(void) {
    check_expf();
    check_quote();
    check_encode();
    check_prefix();
    check_bool_and_seed();
    check_merge();
    return check_summary("test_core");
}
