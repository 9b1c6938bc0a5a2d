/* Attention entropy and distance per layer and head, and how far the
 * encoding runs beyond its training range (diagnostics.h). */
#include "diagnostics.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../model/model_internal.h"
#include "../model/positions.h"
#include "train.h"

/* Floats of attention probabilities (+ bias tables) kept per forward. */
#define DIAG_FLOAT_BUDGET (32L << 20)

void pb_diag_opts_defaults(pb_diag_opts *o) {
    o->samples = 16;
    o->seed = 12345;
    o->max_seq_len = 1024;
}

void pb_diag_result_free(pb_diag_result *r) {
    free(r->entropy);
    r->entropy = r->entropy_norm = r->distance = NULL;
}

/* Largest position coordinate the training positions can reach (see the
 * header), or -1 for 2D schemes. */
static long train_max_position(const pb_positions *p, int T_train) {
    switch (p->scheme) {
    case PB_POS_LINEAR: return (long)p->offset + T_train - 1;
    case PB_POS_SHIFT:
        return (p->shift_max > 0 ? (long)p->shift_max : (long)p->offset) + T_train - 1;
    case PB_POS_RANDOM: return (long)p->max_pos - 1;
    case PB_POS_ABACUS: return (long)p->max_offset + T_train - 1; /* place + 1 + k */
    case PB_POS_GRID: return -1;
    }
    return -1;
}

/* Bucket of every distance 0..T-1, for keys at or before the query
 * (before[]) and, bidirectional only, after it (after[]), from the
 * encoding's own bucket hook. */
static void bucket_tables(const pb_encoding *e, int T, int *before, int *after) {
    for (int t = 0; t < T; t++) {
        before[t] = e->type->bucket(e, t, 0); /* key t positions before the query */
        if (after) after[t] = e->type->bucket(e, 0, t); /* key t positions after it */
    }
}

/* The first layer encoding with bias buckets, or NULL. */
static const pb_encoding *bucket_encoding(const pb_model *m) {
    for (int g = 0; g < m->n_groups; g++)
        if (pb_model_group_encoding(m, g)->n_buckets > 0) return pb_model_group_encoding(m, g);
    return NULL;
}

/* Fills the bucket fields of r for evaluated length T (training length
 * T_train) from encoding e's buckets. */
static int bucket_diagnose(const pb_model *m, const pb_encoding *e, int T, int T_train,
                           pb_diag_result *r, pb_error *err) {
    int nb = e->n_buckets;
    int bidir = !m->cfg.causal;
    int Tmax = T > T_train ? T : T_train;
    int *tab = malloc((size_t)2 * Tmax * sizeof *tab);
    char *seen = calloc((size_t)nb * 2, 1);
    if (!tab || !seen) {
        free(tab), free(seen);
        return pb_fail(err, "diagnose: out of memory for bias buckets");
    }
    int *before = tab, *after = bidir ? tab + Tmax : NULL;
    char *in_train = seen, *in_eval = seen + nb;
    bucket_tables(e, Tmax, before, after);
    double unseen_pairs = 0.0, pairs = 0.0;
    for (int dir = 0; dir < (bidir ? 2 : 1); dir++) {
        const int *b = dir == 0 ? before : after;
        for (int t = dir; t < Tmax; t++) { /* after: distance >= 1 */
            if (b[t] < 0 || b[t] >= nb) continue;
            if (t < T_train) in_train[b[t]] = 1;
        }
        for (int t = dir; t < T; t++) {
            if (b[t] < 0 || b[t] >= nb) continue;
            in_eval[b[t]] = 1;
        }
    }
    for (int dir = 0; dir < (bidir ? 2 : 1); dir++) {
        const int *b = dir == 0 ? before : after;
        for (int t = dir; t < T; t++) {
            double count = (double)(T - t); /* pairs at this distance */
            pairs += count;
            if (b[t] >= 0 && b[t] < nb && !in_train[b[t]]) unseen_pairs += count;
        }
    }
    r->buckets = nb;
    for (int k = 0; k < nb; k++) {
        r->buckets_train += in_train[k];
        r->buckets_eval += in_eval[k];
        r->unseen_buckets += in_eval[k] && !in_train[k];
    }
    r->unseen_pair_frac = pairs > 0 ? unseen_pairs / pairs : 0.0;
    free(tab), free(seen);
    return 0;
}

/* Adds the entropy and distance of every answer query of the last forward;
 * queries_norm[l] counts the queries of layer l that see more than one key. */
static void accumulate(const pb_model *m, const pb_batch *b, double *ent, double *entn,
                       double *dist, long *queries, long *queries_norm) {
    int L = m->cfg.layers, H = m->cfg.heads, T = b->T, causal = m->cfg.causal;
    for (int l = 0; l < L; l++) {
        for (int r = 0; r < b->B; r++) {
            for (int i = 0; i < T; i++) {
                if (b->mask[(size_t)r * T + i] == 0.0f) continue;
                /* keys lo .. lo + keys - 1: the layer's span */
                int lo = pb_model_layer_key_lo(m, l, i);
                int keys = (causal ? i + 1 : T) - lo;
                for (int h = 0; h < H; h++) {
                    const float *p = pb_model_layer_probs(m, l, r, h, i, &lo);
                    double e = 0.0, d = 0.0;
                    for (int j = 0; j < keys; j++) {
                        double pj = p[j];
                        if (pj > 0.0) e -= pj * log(pj);
                        d += pj * abs(i - (lo + j));
                    }
                    ent[l * H + h] += e;
                    dist[l * H + h] += d;
                    if (keys > 1) entn[l * H + h] += e / log((double)keys);
                }
                if (l == 0) *queries += 1;
                if (keys > 1) queries_norm[l] += 1; /* per layer: spans differ */
            }
        }
    }
}

int pb_diagnose_length(pb_model *m, const pb_task *task, int n, const pb_diag_opts *o,
                       pb_diag_result *r, pb_error *err) {
    memset(r, 0, sizeof *r);
    if (o->samples <= 0)
        return pb_fail(err, "diagnose: samples must be positive, got %d", o->samples);
    if (task->vocab > m->cfg.vocab)
        return pb_fail(err, "diagnose: task '%s' uses %d tokens but the model's vocab is %d",
                       task->type->name, task->vocab, m->cfg.vocab);
    if (task->pos_dims != m->enc.type->pos_dims)
        return pb_fail(err, "diagnose: task '%s' has %dD positions but encoding '%s' needs %dD",
                       task->type->name, task->pos_dims, m->enc.type->name,
                       m->enc.type->pos_dims);
    int T = pb_task_model_len(task, n, m->cfg.causal, err);
    int T_train = pb_task_model_len(task, task->max_len, m->cfg.causal, err);
    if (T < 0 || T_train < 0) return -1;
    if (T > o->max_seq_len)
        return pb_fail(err, "diagnose: length %d gives sequences of %d tokens, more than "
                            "max_seq_len=%d (attention probabilities take layers x heads x "
                            "T^2 floats; raise max_seq_len if memory allows)",
                       n, T, o->max_seq_len);
    int L = m->cfg.layers, H = m->cfg.heads, pd = task->pos_dims;
    r->length = n, r->seq_len = T, r->layers = L, r->heads = H;
    r->train_len = task->max_len, r->train_seq_len = T_train;
    r->table_size = r->beyond_table = r->untrained_rows = -1;
    r->train_max_pos = pd == 1 ? train_max_position(&m->positions, T_train) : -1;
    r->max_pos = -1;
    if (pd != 1) r->positions_beyond_train = -1;

    /* Per-row floats the probability-keeping forward holds. */
    size_t TT = (size_t)T * T;
    size_t per_row = (size_t)L * H * TT;
    if (m->enc.type->sites & PB_ENC_BIAS) per_row += (size_t)2 * H * TT;
    int B = (int)(DIAG_FLOAT_BUDGET / (long)per_row);
    B = B < 1 ? 1 : (B > o->samples ? o->samples : B);

    pb_batch batch;
    if (pb_batch_alloc(&batch, B, T, pd, err)) return -1;
    double *acc = calloc((size_t)3 * L * H, sizeof *acc);
    pb_draw_streams streams = {0};
    unsigned char *seen = NULL;
    int *all_pos = NULL;
    int rc = -1;
    if (!acc) {
        pb_fail(err, "diagnose: out of memory");
        goto out;
    }
    r->entropy = acc, r->entropy_norm = acc + L * H, r->distance = acc + 2 * L * H;

    /* Pass 1: positions only (cheap), so that a position beyond a learned
     * table is known before any forward would fail on it. */
    size_t per_sample = (size_t)T * pd;
    all_pos = malloc((size_t)o->samples * per_sample * sizeof *all_pos);
    if (!all_pos) {
        pb_fail(err, "diagnose: out of memory for %d x %d positions", o->samples, T);
        goto out;
    }
    /* pb.eval's problems and positions for the same seed */
    if (pb_draw_streams_open(&streams, PB_SPLIT_TEST, o->seed + (unsigned long)n, err))
        goto out;
    for (int done = 0; done < o->samples; done += B) {
        int rows = o->samples - done < B ? o->samples - done : B;
        if (pb_draw_batch(m, task, &streams, n, rows, &batch, err)) goto out;
        memcpy(all_pos + (size_t)done * per_sample, batch.pos,
               (size_t)rows * per_sample * sizeof *all_pos);
    }
    if (pd == 1) {
        size_t count = (size_t)o->samples * T;
        for (size_t i = 0; i < count; i++)
            if (all_pos[i] > r->max_pos) r->max_pos = all_pos[i];
        seen = calloc((size_t)r->max_pos + 1, 1);
        if (!seen) {
            pb_fail(err, "diagnose: out of memory for positions up to %ld", r->max_pos);
            goto out;
        }
        for (size_t i = 0; i < count; i++)
            if (all_pos[i] >= 0) seen[all_pos[i]] = 1;
        int table = m->enc.table_rows > 0;
        if (table) {
            r->table_size = m->enc.table_rows;
            r->beyond_table = r->untrained_rows = 0;
        }
        for (long p = 0; p <= r->max_pos; p++) {
            if (!seen[p]) continue;
            if (p > r->train_max_pos) r->positions_beyond_train++;
            if (table && p >= r->table_size) r->beyond_table++;
            else if (table && p > r->train_max_pos) r->untrained_rows++;
        }
    }
    const pb_encoding *be = bucket_encoding(m);
    if (be && bucket_diagnose(m, be, T, T_train, r, err)) goto out;

    if (r->beyond_table > 0) {
        snprintf(r->skipped, sizeof r->skipped,
                 "%ld positions are beyond the learned table of %ld rows: the model cannot "
                 "run at this length", r->beyond_table, r->table_size);
        for (int k = 0; k < 3 * L * H; k++) acc[k] = NAN;
    } else {
        /* Pass 2: the same problems through the forward that keeps p. */
        long queries = 0, *queries_norm = calloc((size_t)L, sizeof(long));
        if (!queries_norm) {
            pb_fail(err, "diagnose: out of memory");
            goto out;
        }
        pb_draw_streams_close(&streams);
        if (pb_draw_streams_open(&streams, PB_SPLIT_TEST, o->seed + (unsigned long)n, err)) {
            free(queries_norm);
            goto out;
        }
        for (int done = 0; done < o->samples; done += B) {
            int rows = o->samples - done < B ? o->samples - done : B;
            if (pb_draw_batch(m, task, &streams, n, rows, &batch, err) ||
                pb_model_forward_inspect(m, &batch, err)) {
                free(queries_norm);
                goto out;
            }
            accumulate(m, &batch, r->entropy, r->entropy_norm, r->distance, &queries,
                       queries_norm);
        }
        for (int k = 0; k < L * H; k++) {
            r->entropy[k] = queries ? r->entropy[k] / queries : NAN;
            r->distance[k] = queries ? r->distance[k] / queries : NAN;
            long qn = queries_norm[k / H];
            r->entropy_norm[k] = qn ? r->entropy_norm[k] / qn : NAN;
        }
        free(queries_norm);
        r->queries = queries;
        r->has_attention = 1;
        /* Give back the T^2 training layout: reserve() grows B and T
         * separately, so a later training batch would otherwise get
         * probability buffers for its B at this T. */
        pb_error ignored;
        pb_model_reserve(m, 1, 1, 0, &ignored);
    }
    rc = 0;
out:
    if (rc) {
        free(acc);
        r->entropy = r->entropy_norm = r->distance = NULL;
    }
    free(seen);
    free(all_pos);
    pb_draw_streams_close(&streams);
    pb_batch_free(&batch);
    return rc;
}
