/* Stream seeds per purpose (core/streams.h): the published splitmix64
 * vector, determinism, 32-bit range, and distinct seeds for distinct
 * purposes and for distinct user seeds. */
#include <string.h>

#include "../harness/core/streams.h"
#include "check.h"

static void check_splitmix(void) {
    /* first outputs of the reference generator started at state 0 */
    CHECK(pb_splitmix64(0) == 0xe220a8397b1dcdafULL, "splitmix64(0) = %016llx",
          (unsigned long long)pb_splitmix64(0));
    CHECK(pb_splitmix64(0x9e3779b97f4a7c15ULL) == 0x6e789e6aa1b965f4ULL,
          "second output: %016llx", (unsigned long long)pb_splitmix64(0x9e3779b97f4a7c15ULL));
}

static void check_purposes(void) {
    int distinct = 1, bounded = 1, same = 1;
    for (unsigned long seed = 0; seed < 10000; seed++) {
        unsigned long s[PB_N_STREAMS];
        for (int p = 0; p < PB_N_STREAMS; p++) {
            s[p] = pb_stream_seed(seed, (pb_stream)p);
            bounded &= s[p] <= 0xffffffffUL;
            same &= s[p] == pb_stream_seed(seed, (pb_stream)p);
            for (int q = 0; q < p; q++) distinct &= s[p] != s[q];
        }
    }
    CHECK(distinct, "distinct purposes give distinct seeds (seeds 0..9999)");
    CHECK(bounded, "stream seeds fit the generator's 32 bits");
    CHECK(same, "stream seeds are deterministic");
    /* pinned: a change of the formula or a tag changes every result */
    CHECK(pb_stream_seed(1, PB_STREAM_WEIGHTS) ==
              (unsigned long)(pb_splitmix64(pb_splitmix64(1) ^ 0x7765696768747300ULL) &
                              0xffffffffULL),
          "weights stream of seed 1 follows the documented formula");
    CHECK(pb_stream_seed(4294967295UL, PB_STREAM_TRAIN_DATA) !=
              pb_stream_seed(0, PB_STREAM_TRAIN_DATA),
          "the whole 32-bit seed range is used");
}

static void check_seeds_apart(void) {
    /* different user seeds give different streams of one purpose */
    enum { N = 2000 };
    static unsigned long s[N];
    int distinct = 1;
    for (int p = 0; p < PB_N_STREAMS; p++) {
        for (int i = 0; i < N; i++) s[i] = pb_stream_seed((unsigned long)i, (pb_stream)p);
        for (int i = 0; i < N && distinct; i++)
            for (int j = 0; j < i; j++) distinct &= s[i] != s[j];
    }
    CHECK(distinct, "user seeds 0..%d give distinct stream seeds per purpose", N - 1);
}

static void check_names(void) {
    int ok = 1;
    for (int p = 0; p < PB_N_STREAMS; p++) {
        ok &= pb_stream_names[p] && pb_stream_names[p][0];
        for (int q = 0; q < p; q++) ok &= strcmp(pb_stream_names[p], pb_stream_names[q]) != 0;
    }
    CHECK(ok, "every purpose has its own name");
}

int main(void) {
    check_splitmix();
    check_purposes();
    check_seeds_apart();
    check_names();
    return check_summary("test_streams");
}
