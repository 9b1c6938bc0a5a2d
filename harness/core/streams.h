/* Random streams per purpose. One user seed feeds several independent
 * generators, one per purpose, so that what one purpose draws never shifts
 * another: two models built with the same seed get the same shared weights
 * whatever their encoding, and two runs trained with the same seed see the
 * same problems whatever their position scheme.
 *
 * A stream's seed is a fixed function of (seed, purpose):
 *
 *   stream_seed = low 32 bits of splitmix64(splitmix64(seed) XOR tag)
 *
 * with splitmix64(x) = mix(x + 0x9e3779b97f4a7c15) (Steele et al. 2014;
 * mix: z ^= z >> 30, z *= 0xbf58476d1ce4e5b9, z ^= z >> 27,
 * z *= 0x94d049bb133111eb, z ^= z >> 31) and tag the purpose's constant
 * in streams.c (a short word in ASCII). 32 bits because the generator
 * (MT19937) reads 32. The tags are part of the results: changing one
 * changes every result drawn from its purpose. */
#ifndef PB_STREAMS_H
#define PB_STREAMS_H

#include <stdint.h>

typedef enum {
    PB_STREAM_WEIGHTS,         /* shared weights of a model, fixed order */
    PB_STREAM_ENCODING,        /* an encoding's own parameters */
    PB_STREAM_TRAIN_DATA,      /* training: step lengths and problems */
    PB_STREAM_TRAIN_POSITIONS, /* training: the position scheme's draws */
    PB_STREAM_TEST_PROBLEMS,   /* evaluation problems */
    PB_STREAM_TEST_POSITIONS,  /* evaluation positions */
    PB_STREAM_VALID_PROBLEMS,  /* held-out in-distribution problems */
    PB_STREAM_VALID_POSITIONS, /* their positions */
    PB_N_STREAMS
} pb_stream;

/* Short names ("weights", "encoding", "train_data", ...) for messages and
 * docs, indexed by pb_stream. */
extern const char *const pb_stream_names[PB_N_STREAMS];

uint64_t pb_splitmix64(uint64_t x);
/* The seed of purpose's generator for the user's seed (see above). */
unsigned long pb_stream_seed(unsigned long seed, pb_stream purpose);

#endif
