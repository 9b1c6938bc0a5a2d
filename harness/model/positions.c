/* Position schemes (see positions.h): the position arrays handed to an
 * encoding. Each scheme accepts only its own options, so a misspelt or
 * misplaced option (max_pos with scheme 'linear') is an error. */
#include "positions.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POS_LIMIT (1 << 30) /* keeps t + offset inside int */

const char *const pb_position_scheme_names[] = {"linear", "shift", "random", "abacus",
                                                "grid", NULL};

static const char *const linear_options[] = {"scheme", "offset", NULL};
static const char *const shift_options[] = {"scheme", "shift", "shift_max", NULL};
static const char *const random_options[] = {"scheme", "max_pos", NULL};
static const char *const abacus_options[] = {"scheme", "max_offset", "offset", NULL};
static const char *const grid_options[] = {"scheme", "width", NULL};
static const char *const *const scheme_options[] = {
    linear_options, shift_options, random_options, abacus_options, grid_options,
};

static int parse_int(const pb_opts *o, const char *what, const char *key, int dflt,
                     int lo, int *out, pb_error *err) {
    if (pb_opts_int(o, key, dflt, out, what, err)) return -1;
    if (*out < lo || *out > POS_LIMIT)
        return pb_fail(err, "%s: option '%s' must be in [%d, %d], got %d", what, key, lo,
                       POS_LIMIT, *out);
    return 0;
}

int pb_positions_create(pb_positions *p, const pb_opts *o, int pos_dims, pb_error *err) {
    memset(p, 0, sizeof *p);
    const char *name;
    if (pb_opts_str(o, "scheme", "linear", &name, "positions", err)) return -1;
    int s = 0;
    while (pb_position_scheme_names[s] && strcmp(pb_position_scheme_names[s], name)) s++;
    if (!pb_position_scheme_names[s])
        return pb_fail(err, "unknown position scheme '%s' (valid schemes: linear, shift, "
                            "random, abacus, grid)", name);
    char what[64];
    snprintf(what, sizeof what, "position scheme '%s'", name);
    if (pb_opts_check(o, scheme_options[s], what, err)) return -1;
    p->scheme = (pb_pos_scheme)s;
    p->pos_dims = p->scheme == PB_POS_GRID ? 2 : 1;
    int rc = 0;
    switch (p->scheme) {
    case PB_POS_LINEAR: rc = parse_int(o, what, "offset", 0, 0, &p->offset, err); break;
    case PB_POS_SHIFT:
        rc = parse_int(o, what, "shift", 0, 0, &p->offset, err) ||
             parse_int(o, what, "shift_max", 0, 0, &p->shift_max, err);
        break;
    case PB_POS_RANDOM: rc = parse_int(o, what, "max_pos", 2048, 1, &p->max_pos, err); break;
    case PB_POS_ABACUS: {
        const char *per;
        rc = parse_int(o, what, "max_offset", 100, 1, &p->max_offset, err) ||
             pb_opts_str(o, "offset", "batch", &per, what, err);
        if (rc) break;
        if (strcmp(per, "sequence") == 0) p->offset_per_sequence = 1;
        else if (strcmp(per, "batch") != 0)
            rc = pb_fail(err, "%s: option offset='%s' must be 'batch' (one offset per "
                              "batch, as the authors' code) or 'sequence'", what, per);
        break;
    }
    case PB_POS_GRID:
        rc = parse_int(o, what, "width", 0, 0, &p->width, err);
        if (!rc && pb_opts_has(o, "width") && p->width < 1)
            rc = pb_fail(err, "%s: option 'width' must be >= 1, got %d", what, p->width);
        break;
    }
    if (rc) return -1;
    if (pos_dims != 1 && pos_dims != 2)
        return pb_fail(err, "positions: an encoding with %d position dimensions is not "
                            "supported (1 or 2)", pos_dims);
    if (pos_dims == 2 && p->pos_dims == 1)
        return pb_fail(err, "encoding needs 2D positions but scheme '%s' gives 1D; use "
                            "scheme='grid'", name);
    if (pos_dims == 1 && p->pos_dims == 2)
        return pb_fail(err, "encoding needs 1D positions but scheme 'grid' gives 2D; use a "
                            "1D scheme (linear, shift, random, abacus)");
    return 0;
}

/* Floyd's sampling of a uniform T-subset of [0, N) into a bitmap, read out
 * in increasing order (which also clears the bitmap for the next row):
 * O(T + N/64) per sequence. */
static void random_positions(gsl_rng *rng, int N, int T, uint64_t *bits, int *pos) {
    for (int j = N - T; j < N; j++) {
        int r = (int)gsl_rng_uniform_int(rng, (unsigned long)j + 1);
        if (bits[r >> 6] >> (r & 63) & 1) r = j;
        bits[r >> 6] |= (uint64_t)1 << (r & 63);
    }
    int k = 0;
    for (int w = 0; w <= (N - 1) >> 6; w++) {
        for (int i = 0; bits[w] && i < 64; i++)
            if (bits[w] >> i & 1) pos[k++] = w * 64 + i;
        bits[w] = 0;
    }
}

int pb_positions_fill(const pb_positions *p, pb_batch *b, gsl_rng *rng, int training,
                      pb_error *err) {
    const char *name = pb_position_scheme_names[p->scheme];
    int B = b->B, T = b->T;
    if (b->pos_dims != p->pos_dims)
        return pb_fail(err, "position scheme '%s' gives %dD positions but the batch was "
                            "allocated for %dD",
                       name, p->pos_dims, b->pos_dims);
    if (B < 0 || T < 0 || B > b->cap_B || T > b->cap_T)
        return pb_fail(err, "position scheme '%s': batch %d x %d exceeds its capacity "
                            "%d x %d", name, B, T, b->cap_B, b->cap_T);
    switch (p->scheme) {
    case PB_POS_LINEAR:
    case PB_POS_SHIFT:
        for (int r = 0; r < B; r++) {
            int shift = p->offset;
            if (p->scheme == PB_POS_SHIFT && training && p->shift_max > 0)
                shift = (int)gsl_rng_uniform_int(rng, (unsigned long)p->shift_max + 1);
            for (int t = 0; t < T; t++) b->pos[(size_t)r * T + t] = t + shift;
        }
        return 0;
    case PB_POS_RANDOM: {
        if (T > p->max_pos)
            return pb_fail(err, "position scheme 'random': sequence length %d exceeds "
                                "max_pos=%d (positions are a subset of [0, max_pos))",
                           T, p->max_pos);
        uint64_t *bits = calloc((size_t)((p->max_pos + 63) / 64), sizeof *bits);
        if (!bits) return pb_fail(err, "position scheme 'random': out of memory");
        for (int r = 0; r < B; r++)
            random_positions(rng, p->max_pos, T, bits, b->pos + (size_t)r * T);
        free(bits);
        return 0;
    }
    case PB_POS_ABACUS:
        /* Digits count from 1 so that 0 stays free for non-digits (McLeish
         * et al. 2024): pos = place + 1 + k, one k per batch as the authors'
         * code draws it, or per sequence with offset="sequence". */
        for (int r = 0, k = 0; r < B; r++) {
            if (training && (r == 0 || p->offset_per_sequence))
                k = (int)gsl_rng_uniform_int(rng, (unsigned long)p->max_offset);
            for (int t = 0; t < T; t++) {
                int place = b->place[(size_t)r * T + t];
                b->pos[(size_t)r * T + t] = place >= 0 ? place + 1 + k : 0;
            }
        }
        return 0;
    case PB_POS_GRID: {
        int w = p->width ? p->width : b->grid_w;
        if (w < 1)
            return pb_fail(err, "position scheme 'grid' needs a row width: set option "
                                "width or use a grid task (grid2d)");
        for (int r = 0; r < B; r++)
            for (int t = 0; t < T; t++) {
                b->pos[((size_t)r * T + t) * 2] = t % w;
                b->pos[((size_t)r * T + t) * 2 + 1] = t / w;
            }
        return 0;
    }
    }
    return pb_fail(err, "positions: invalid scheme %d", (int)p->scheme);
}
