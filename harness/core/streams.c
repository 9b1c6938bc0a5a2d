/* Stream seeds per purpose (see streams.h for the formula). */
#include "streams.h"

const char *const pb_stream_names[PB_N_STREAMS] = {
    "weights",       "encoding",       "train_data",     "train_positions",
    "test_problems", "test_positions", "valid_problems", "valid_positions",
};

/* Fixed per-purpose tags: a short word in ASCII, read as a big-endian
 * 64-bit number, so they never change with the enum's order. */
static const uint64_t tags[PB_N_STREAMS] = {
    0x7765696768747300ULL, /* "weights" */
    0x656e636f64696e67ULL, /* "encoding" */
    0x747261696e646174ULL, /* "traindat" */
    0x747261696e706f73ULL, /* "trainpos" */
    0x7465737470726f62ULL, /* "testprob" */
    0x74657374706f7300ULL, /* "testpos" */
    0x76616c6964707262ULL, /* "validprb" */
    0x76616c6964706f73ULL, /* "validpos" */
};

uint64_t pb_splitmix64(uint64_t x) {
    uint64_t z = x + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

unsigned long pb_stream_seed(unsigned long seed, pb_stream purpose) {
    uint64_t tag = (unsigned)purpose < PB_N_STREAMS ? tags[purpose] : 0;
    return (unsigned long)(pb_splitmix64(pb_splitmix64((uint64_t)seed) ^ tag) &
                           0xffffffffULL);
}
