/* Task registry and the two protocols that turn problems into batches.
 *
 * Every task writes a full sequence `input... SEP answer...`; the protocol
 * decides what the model sees (see task.h):
 *
 *   seq        x1 x2 x3 SEP y1 y2 y3          (S = 7, answers y1..y3)
 *   decoder    tokens  x1 x2 x3 SEP y1 y2     (T = S - 1)
 *              targets x2 x3 SEP y1 y2 y3
 *              mask    0  0  0   1  1  1
 *   encoder    tokens  x1 x2 x3 SEP _  _  _   (T = S, _ = BLANK)
 *              targets x1 x2 x3 SEP y1 y2 y3
 *              mask    0  0  0   0  1  1  1
 *
 * batch->place follows the input tokens (place of tokens[t]), so the Abacus
 * scheme numbers digits the model sees, including BLANK answer slots.
 *
 * pb_task.chance is the accuracy of the best constant guess per answer token
 * (the most frequent answer token, guessed without looking at the input or
 * at which answer slot it is). */
#include "task.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task_common.h"

const pb_task_type *const pb_task_types[] = {
    &pb_task_copy,      &pb_task_reverse,   &pb_task_duplicate,
    &pb_task_sort,      &pb_task_add,       &pb_task_recall,
    &pb_task_induction, &pb_task_missing_duplicate,
    &pb_task_parity,    &pb_task_modular,   &pb_task_grid2d,
    &pb_task_lm,        NULL,
};

const pb_task_type *pb_task_find(const char *name) {
    for (int i = 0; name && pb_task_types[i]; i++)
        if (strcmp(pb_task_types[i]->name, name) == 0) return pb_task_types[i];
    return NULL;
}

void pb_task_list_names(char *buf, size_t len) {
    size_t used = 0;
    if (!len) return;
    buf[0] = 0;
    for (int i = 0; pb_task_types[i]; i++) {
        int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "",
                         pb_task_types[i]->name);
        if (w < 0 || (size_t)w >= len - used) break;
        used += (size_t)w;
    }
}

int pb_task_create(pb_task *t, const char *name, const pb_opts *o, pb_error *err) {
    memset(t, 0, sizeof *t);
    const pb_task_type *type = pb_task_find(name);
    if (!type) {
        char names[512];
        pb_task_list_names(names, sizeof names);
        return pb_fail(err, "unknown task '%s' (valid tasks: %s)", name ? name : "(null)",
                       names);
    }
    t->type = type;
    t->pos_dims = 1;
    char what[96];
    snprintf(what, sizeof what, "task '%s'", type->name);
    if (pb_opts_check(o, type->options, what, err) || type->create(t, o, err)) {
        pb_task_destroy(t);
        return -1;
    }
    return 0;
}

void pb_task_free_state(pb_task *t) {
    free(t->state);
}

void pb_task_destroy(pb_task *t) {
    if (t->type && t->type->destroy) t->type->destroy(t);
    memset(t, 0, sizeof *t);
}

int pb_task_model_len(const pb_task *t, int n, int causal, pb_error *err) {
    int S = t->type->seq_len(t, n, err);
    if (S < 0) return -1;
    return causal ? S - 1 : S;
}

int pb_task_fill_batch(const pb_task *t, gsl_rng *rng, int n, int causal, int B,
                       pb_batch *batch, pb_error *err) {
    const char *name = t->type->name;
    if (!causal && t->type == &pb_task_lm)
        return pb_fail(err, "task 'lm' needs the decoder protocol (causal model): "
                            "with every token an answer the encoder would see only BLANKs");
    int S = t->type->seq_len(t, n, err);
    if (S < 0) return -1;
    int T = causal ? S - 1 : S;
    if (B < 1 || B > batch->cap_B)
        return pb_fail(err, "task '%s': batch size %d does not fit the batch (capacity %d)",
                       name, B, batch->cap_B);
    if (T > batch->cap_T)
        return pb_fail(err, "task '%s': problem size n=%d needs sequence length T=%d but "
                            "the batch holds at most %d",
                       name, n, T, batch->cap_T);

    int *seq = malloc((size_t)S * sizeof *seq);
    int *place = malloc((size_t)S * sizeof *place);
    float *ans = malloc((size_t)S * sizeof *ans);
    if (!seq || !place || !ans) {
        free(seq), free(place), free(ans);
        return pb_fail(err, "task '%s': out of memory for a sequence of %d", name, S);
    }
    int rc = 0;
    for (int b = 0; b < B && rc == 0; b++) {
        for (int s = 0; s < S; s++) place[s] = -1, ans[s] = 0.0f;
        rc = t->type->sample(t, rng, n, seq, ans, place, err);
        if (rc) break;
        int *tok = batch->tokens + (size_t)b * T, *tgt = batch->targets + (size_t)b * T;
        int *pl = batch->place + (size_t)b * T;
        float *m = batch->mask + (size_t)b * T;
        for (int i = 0; i < T; i++) {
            if (causal) { /* predict seq[i+1] from seq[0..i] */
                tok[i] = seq[i];
                tgt[i] = seq[i + 1];
                m[i] = ans[i + 1];
            } else { /* fill the BLANK answer slots */
                tok[i] = ans[i] != 0.0f ? PB_TOKEN_BLANK : seq[i];
                tgt[i] = seq[i];
                m[i] = ans[i];
            }
            pl[i] = place[i];
        }
    }
    free(seq), free(place), free(ans);
    if (rc) return -1;
    batch->B = B;
    batch->T = T;
    /* pos_dims stays as allocated: it is what the position scheme and the
     * encoding use, and a 2D task may run with 1D positions as a baseline. */
    batch->grid_w = t->type->grid_width ? t->type->grid_width(t, n) : t->grid_w;
    return 0;
}

/* ---- helpers shared by the task files (task_common.h) ---- */

int pb_task_parse_int(const pb_task *t, const pb_opts *o, const char *key, int dflt,
                      int lo, int hi, int *out, pb_error *err) {
    char what[96];
    snprintf(what, sizeof what, "task '%s'", t->type->name);
    if (pb_opts_int(o, key, dflt, out, what, err)) return -1;
    if (*out < lo || *out > hi)
        return pb_fail(err, "task '%s': option '%s' must be in [%d, %d], got %d",
                       t->type->name, key, lo, hi, *out);
    return 0;
}

int pb_task_parse_lengths(pb_task *t, const pb_opts *o, int lowest, int dflt_min,
                          int dflt_max, pb_error *err) {
    if (pb_task_parse_int(t, o, "min_len", dflt_min, lowest, PB_TASK_MAX_SEQ,
                          &t->min_len, err) ||
        pb_task_parse_int(t, o, "max_len", dflt_max > t->min_len ? dflt_max : t->min_len,
                          lowest, PB_TASK_MAX_SEQ, &t->max_len, err))
        return -1;
    if (t->min_len > t->max_len)
        return pb_fail(err, "task '%s': min_len (%d) must be <= max_len (%d)",
                       t->type->name, t->min_len, t->max_len);
    return 0;
}

int pb_task_check_size(const pb_task *t, int n, int lowest, long long S, pb_error *err) {
    if (n < lowest)
        return pb_fail(err, "task '%s': problem size n=%d is too small (n >= %d)",
                       t->type->name, n, lowest);
    if (S > PB_TASK_MAX_SEQ)
        return pb_fail(err, "task '%s': problem size n=%d gives a sequence of %lld tokens "
                            "(at most %d)",
                       t->type->name, n, S, PB_TASK_MAX_SEQ);
    return (int)S;
}
