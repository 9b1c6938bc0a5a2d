/* Perplexity of the 'lm' task over the corpus in deterministic windows
 * (eval_lm.h). Windows are batched (about EVAL_LM_TOKENS tokens per
 * forward) and run through the inference forward, which never builds the
 * T x T attention matrix, so long windows cost O(T) memory per thread. */
#include "eval_lm.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/streams.h"
#include "../model/positions.h"
#include "../tasks/lm.h"

#define EVAL_LM_TOKENS 8192

int pb_lm_window_parse(const char *s, pb_lm_window_kind *out, pb_error *err) {
    if (s && strcmp(s, "nonoverlap") == 0) *out = PB_LM_NONOVERLAP;
    else if (s && strcmp(s, "sliding") == 0) *out = PB_LM_SLIDING;
    else
        return pb_fail(err, "lm evaluation: unknown window '%s' (valid: nonoverlap, sliding)",
                       s ? s : "(null)");
    return 0;
}

int pb_lm_eval_opts_check(const pb_lm_eval_opts *o, int stride_set, pb_error *err) {
    if (stride_set && o->stride < 1)
        return pb_fail(err, "stride must be a positive integer, got %d", o->stride);
    if (stride_set && o->window != PB_LM_SLIDING)
        return pb_fail(err, "stride= is for window=\"sliding\" (nonoverlap windows step by "
                            "their length)");
    if (o->max_tokens < 0)
        return pb_fail(err, "max_tokens must be >= 0 (0: the whole corpus)");
    return 0;
}

static int check_model(const pb_model *m, const pb_task *task, int n, pb_error *err) {
    if (pb_lm_corpus_len(task) < 0)
        return pb_fail(err, "lm evaluation (window=) needs task 'lm', got task '%s'",
                       task->type->name);
    if (!m->cfg.causal)
        return pb_fail(err, "lm evaluation needs a causal model (causal=true)");
    if (task->vocab > m->cfg.vocab)
        return pb_fail(err, "task 'lm' uses %d tokens but the model's vocab is %d "
                            "(set vocab >= %d in pb.model)",
                       task->vocab, m->cfg.vocab, task->vocab);
    if (n < 1) return pb_fail(err, "lm evaluation: window length must be positive, got %d", n);
    long C = pb_lm_corpus_len(task);
    if ((long)n + 1 > C)
        return pb_fail(err, "lm evaluation: a window of n=%d needs %ld corpus tokens, the "
                            "corpus has %ld",
                       n, (long)n + 1, C);
    return 0;
}

/* Writes window k (offset k * step) into row `row` of the batch; scored
 * predictions get mask 1. */
static int fill_window(const pb_task *task, long k, int n, int step, int scored_tail,
                       int *seq, pb_batch *b, int row, pb_error *err) {
    if (pb_lm_window(task, k * step, n, seq, err)) return -1;
    size_t base = (size_t)row * n;
    int first_scored = k == 0 ? 0 : n - scored_tail;
    for (int t = 0; t < n; t++) {
        b->tokens[base + t] = seq[t];
        b->targets[base + t] = seq[t + 1];
        b->mask[base + t] = t >= first_scored ? 1.0f : 0.0f;
        b->place[base + t] = -1;
    }
    return 0;
}

int pb_eval_lm(pb_model *m, const pb_task *task, int n, const pb_lm_eval_opts *o,
               pb_lm_eval_result *r, pb_error *err) {
    if (check_model(m, task, n, err) || pb_lm_eval_opts_check(o, o->stride != 0, err))
        return -1;
    int step = n, tail = n;
    if (o->window == PB_LM_SLIDING) {
        int s = o->stride > 0 ? o->stride : (n / 2 > 0 ? n / 2 : 1);
        if (s > n)
            return pb_fail(err, "lm evaluation: stride=%d must be in [1, window length %d]",
                           s, n);
        step = tail = s;
    }
    long C = pb_lm_corpus_len(task);
    long K = (C - n - 1) / step + 1; /* windows with offset + n < C */
    if (o->max_tokens > 0) {
        long need = o->max_tokens > n ? o->max_tokens - n : 0;
        long k_tok = 1 + (need + tail - 1) / tail;
        K = k_tok < K ? k_tok : K;
    }
    int B = EVAL_LM_TOKENS / n;
    B = B < 1 ? 1 : (B > K ? (int)K : B);

    memset(r, 0, sizeof *r);
    r->length = n;
    r->stride = step;
    pb_batch batch;
    if (pb_batch_alloc(&batch, B, n, task->pos_dims, err)) return -1;
    int *seq = malloc(((size_t)n + 1) * sizeof *seq);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    int rc = -1;
    if (!seq || !rng) {
        pb_fail(err, "lm evaluation: out of memory for a window of %d", n);
        goto out;
    }
    /* windows are fixed; only a random position scheme draws */
    gsl_rng_set(rng, pb_stream_seed(o->seed, PB_STREAM_TEST_POSITIONS));
    double loss = 0.0, correct = 0.0, tokens = 0.0;
    int V = m->cfg.vocab;
    for (long k0 = 0; k0 < K; k0 += B) {
        int rows = K - k0 < B ? (int)(K - k0) : B;
        for (int row = 0; row < rows; row++)
            if (fill_window(task, k0 + row, n, step, tail, seq, &batch, row, err)) goto out;
        batch.B = rows;
        batch.T = n;
        batch.grid_w = 0;
        if (pb_positions_fill(&m->positions, &batch, rng, 0, err) ||
            pb_model_forward(m, &batch, 0, err))
            goto out;
        for (size_t i = 0; i < (size_t)rows * n; i++) {
            if (batch.mask[i] == 0.0f) continue;
            const float *p = m->acts.logits + i * V;
            int best = 0;
            for (int v = 1; v < V; v++) best = p[v] > p[best] ? v : best;
            correct += best == batch.targets[i];
            loss += m->acts.losses[i];
            tokens += 1.0;
        }
    }
    r->windows = K;
    r->tokens = (long)tokens;
    r->loss = loss / tokens;
    r->ppl = exp(r->loss);
    r->accuracy = correct / tokens;
    rc = 0;
out:
    gsl_rng_free(rng);
    free(seq);
    pb_batch_free(&batch);
    return rc;
}
