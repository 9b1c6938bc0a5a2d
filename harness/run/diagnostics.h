/* Per-length diagnostics of a trained model: how its attention behaves and
 * how far the encoding is pushed beyond what training showed it.
 *
 * Attention (per layer l and head h, averaged with equal weight over every
 * answer-slot query i of every sampled problem; p_ij are the softmax
 * probabilities, j over the keys query i may attend to):
 *   entropy[l][h]       mean of -sum_j p_ij ln p_ij                (nats)
 *   entropy_norm[l][h]  mean of that divided by ln(k_i), k_i = number of
 *                       keys query i may attend to (i + 1 causal, T
 *                       bidirectional); queries with k_i = 1 are left out.
 *                       1 = uniform attention, 0 = one key.
 *   distance[l][h]      mean of sum_j p_ij |i - j|   (in tokens)
 * The probabilities come from a forward that keeps them (the training
 * layout, O(layers x heads x T^2) memory), so sequences are limited to
 * max_seq_len tokens.
 *
 * Training range. The training max length is the task's max_len: the
 * longest training sequence has T_train = model length of a problem of size
 * max_len (task.h), and the largest position coordinate training can
 * produce is
 *   linear   offset + T_train - 1
 *   shift    shift_max + T_train - 1 (random shift), else offset + T_train - 1
 *   random   max_pos - 1
 *   abacus   max_offset + T_train - 1 (place + 1 + offset, place < T_train)
 * (2D schemes: not defined, reported as -1).
 *   positions_beyond_train  distinct position values in the evaluated
 *                           sequences above that largest training position
 * Position tables (encodings that set table_rows, e.g. learned; size = rows):
 *   beyond_table     distinct evaluated positions >= size (no row: the model
 *                    cannot run there, attention is then skipped)
 *   untrained_rows   distinct evaluated positions in (train max, size): rows
 *                    training never updated (still at their initial values)
 * Bias buckets (encodings that set n_buckets, e.g. T5's relative buckets),
 * for consecutive positions (linear or
 * shift schemes): the buckets of every (query, key) pair the mask allows at
 * length T_train form the training set;
 *   buckets_eval     buckets used at the evaluated length
 *   unseen_buckets   of those, buckets not in the training set
 *   unseen_pair_frac fraction of allowed (query, key) pairs at the evaluated
 *                    length whose bucket is unseen (their bias values were
 *                    never trained) */
#ifndef PB_DIAGNOSTICS_H
#define PB_DIAGNOSTICS_H

#include "../model/model.h"
#include "../tasks/task.h"

typedef struct pb_diag_opts {
    int samples;          /* problems per length */
    unsigned long seed;
    int max_seq_len;      /* attention is computed for T <= this */
} pb_diag_opts;

typedef struct pb_diag_result {
    int length, seq_len;        /* problem size n, model length T */
    int train_len, train_seq_len; /* task max_len, its T_train */
    int layers, heads;
    int has_attention;          /* 0: skipped (reason in skipped) */
    char skipped[256];
    long queries;               /* answer-slot queries averaged over */
    double *entropy, *entropy_norm, *distance; /* [layers][heads] */

    long max_pos, train_max_pos;  /* -1 when not defined (2D) */
    long positions_beyond_train;
    long table_size, beyond_table, untrained_rows; /* -1: no learned table */
    int buckets;                /* 0: the bias has no buckets */
    int buckets_train, buckets_eval, unseen_buckets;
    double unseen_pair_frac;
} pb_diag_result;

void pb_diag_opts_defaults(pb_diag_opts *o);

/* Diagnose problem size n. On success r owns its arrays (free with
 * pb_diag_result_free); on failure r holds nothing. */
int pb_diagnose_length(pb_model *m, const pb_task *task, int n, const pb_diag_opts *o,
                       pb_diag_result *r, pb_error *err);
void pb_diag_result_free(pb_diag_result *r);

#endif
