#include "train.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <string.h>

#include "../core/streams.h"
#include "../model/positions.h"

int pb_eval_split_parse(const char *name, pb_split *out, pb_error *err) {
    if (strcmp(name, "test") == 0) *out = PB_SPLIT_TEST;
    else if (strcmp(name, "valid") == 0) *out = PB_SPLIT_VALID;
    else return pb_fail(err, "unknown split '%s' (valid splits: test, valid)", name);
    return 0;
}

int pb_draw_streams_open(pb_draw_streams *s, pb_split split, unsigned long seed,
                         pb_error *err) {
    static const pb_stream problems[] = {PB_STREAM_TRAIN_DATA, PB_STREAM_TEST_PROBLEMS,
                                         PB_STREAM_VALID_PROBLEMS};
    static const pb_stream positions[] = {PB_STREAM_TRAIN_POSITIONS, PB_STREAM_TEST_POSITIONS,
                                          PB_STREAM_VALID_POSITIONS};
    s->problems = gsl_rng_alloc(gsl_rng_mt19937);
    s->positions = gsl_rng_alloc(gsl_rng_mt19937);
    s->training = split == PB_SPLIT_TRAIN;
    if (!s->problems || !s->positions) return pb_fail(err, "out of memory for a generator");
    gsl_rng_set(s->problems, pb_stream_seed(seed, problems[split]));
    gsl_rng_set(s->positions, pb_stream_seed(seed, positions[split]));
    return 0;
}

void pb_draw_streams_close(pb_draw_streams *s) {
    gsl_rng_free(s->problems);
    gsl_rng_free(s->positions);
    s->problems = s->positions = NULL;
}

int pb_draw_batch(const pb_model *m, const pb_task *task, pb_draw_streams *s, int n, int B,
                  pb_batch *batch, pb_error *err) {
    if (pb_task_fill_batch(task, s->problems, n, m->cfg.causal, B, batch, err)) return -1;
    return pb_positions_fill(&m->positions, batch, s->positions, s->training, err);
}

int pb_draw_batch_seeded(const pb_model *m, const pb_task *task, pb_split split,
                         unsigned long seed, int n, int B, pb_batch *batch, pb_error *err) {
    pb_draw_streams s;
    int rc = pb_draw_streams_open(&s, split, seed, err) ||
             pb_draw_batch(m, task, &s, n, B, batch, err);
    pb_draw_streams_close(&s);
    return rc ? -1 : 0;
}

static int check_task_fits(const pb_model *m, const pb_task *task, pb_error *err) {
    if (task->vocab > m->cfg.vocab)
        return pb_fail(err, "task '%s' uses %d tokens but the model's vocab is %d "
                            "(set vocab >= %d in pb.model)",
                       task->type->name, task->vocab, m->cfg.vocab, task->vocab);
    if (task->pos_dims != m->enc.type->pos_dims)
        return pb_fail(err, "task '%s' has %dD positions but encoding '%s' needs %dD",
                       task->type->name, task->pos_dims, m->enc.type->name,
                       m->enc.type->pos_dims);
    return 0;
}

/* Steps the final loss and the progress line average over: the last 5%
 * (at least 1). Each step trains one problem size, so a single step's loss
 * is that size's: a model that has learned the short sizes only shows
 * near 0 on their steps and far more on the others. */
static int loss_window(int steps) {
    return steps >= 20 ? steps / 20 : 1;
}

int pb_train(pb_model *m, const pb_task *task, const pb_train_opts *o,
             pb_train_log *log, pb_error *err) {
    if (o->steps <= 0 || o->batch <= 0)
        return pb_fail(err, "train: steps and batch must be positive (steps=%d batch=%d)",
                       o->steps, o->batch);
    if (check_task_fits(m, task, err) || pb_adamw_check(&o->opt, err)) return -1;
    int max_T = pb_task_model_len(task, task->max_len, m->cfg.causal, err);
    if (max_T < 0) return -1;
    pb_batch batch;
    if (pb_batch_alloc(&batch, o->batch, max_T, task->pos_dims, err)) return -1;
    int rc = -1;
    pb_draw_streams streams;
    if (pb_draw_streams_open(&streams, PB_SPLIT_TRAIN, o->seed, err) ||
        pb_model_reserve(m, o->batch, max_T, 1, err) || pb_adamw_reset(m, err))
        goto done;

    pb_progress prog;
    pb_progress_start(&prog, o->label ? o->label : "train", o->steps, o->progress);
    double start = pb_now(), tokens = 0, window_sum = 0;
    int window = loss_window(o->steps);
    for (int s = 0; s < o->steps; s++) {
        int span = task->max_len - task->min_len + 1;
        int n = task->min_len + (int)gsl_rng_uniform_int(streams.problems, (unsigned long)span);
        if (pb_draw_batch(m, task, &streams, n, o->batch, &batch, err)) goto done;
        pb_model_zero_grad(m);
        if (pb_model_forward(m, &batch, 1, err) || pb_model_backward(m, &batch, err))
            goto done;
        if (!isfinite(m->loss)) {
            pb_fail(err, "train: loss became %g at step %d (try a lower lr)", m->loss,
                    s + 1);
            goto done;
        }
        log->grad_norms[s] = pb_adamw_step(m, &o->opt);
        log->losses[s] = m->loss;
        window_sum += m->loss - (s >= window ? log->losses[s - window] : 0.0f);
        tokens += (double)batch.B * batch.T;
        double el = pb_now() - start;
        pb_progress_update(&prog, s + 1, "loss %.4f  %.0f tok/s",
                           window_sum / (s + 1 < window ? s + 1 : window),
                           el > 0 ? tokens / el : 0.0);
    }
    pb_progress_end(&prog);
    /* Summed afresh: the running sum above drifts by rounding. */
    log->final_loss = 0;
    for (int s = o->steps - window; s < o->steps; s++) log->final_loss += log->losses[s];
    log->final_loss /= window;
    log->seconds = pb_now() - start;
    log->tokens_per_s = log->seconds > 0 ? tokens / log->seconds : 0;
    rc = 0;
done:
    pb_draw_streams_close(&streams);
    pb_batch_free(&batch);
    return rc;
}

/* Keep eval batches near this many tokens: long sequences go one by one. */
#define EVAL_TOKENS_PER_BATCH 8192

int pb_eval_length(pb_model *m, const pb_task *task, int n, int samples, pb_split split,
                   unsigned long seed, pb_eval_result *r, pb_error *err) {
    if (samples <= 0) return pb_fail(err, "eval: samples must be positive, got %d", samples);
    if (split == PB_SPLIT_TRAIN)
        return pb_fail(err, "eval: the training streams are not for evaluation (test, valid)");
    if (check_task_fits(m, task, err)) return -1;
    int T = pb_task_model_len(task, n, m->cfg.causal, err);
    if (T < 0) return -1;
    int B = EVAL_TOKENS_PER_BATCH / T;
    B = B < 1 ? 1 : (B > samples ? samples : B);
    pb_batch batch;
    if (pb_batch_alloc(&batch, B, T, task->pos_dims, err)) return -1;
    memset(r, 0, sizeof *r);
    r->length = n;
    r->seq_len = T;
    double correct = 0, exact = 0, loss = 0, tokens = 0;
    int rc = -1;
    pb_draw_streams streams;
    if (pb_draw_streams_open(&streams, split, seed, err)) goto out;
    for (int done = 0; done < samples; done += B) {
        int rows = samples - done < B ? samples - done : B;
        if (pb_draw_batch(m, task, &streams, n, rows, &batch, err) ||
            pb_model_forward(m, &batch, 0, err))
            goto out;
        int V = m->cfg.vocab;
        for (int row = 0; row < rows; row++) {
            int all_right = 1;
            for (int t = 0; t < T; t++) {
                size_t i = (size_t)row * T + t;
                if (batch.mask[i] == 0.0f) continue;
                const float *p = m->acts.logits + i * V;
                int best = 0;
                for (int v = 1; v < V; v++) best = p[v] > p[best] ? v : best;
                int ok = best == batch.targets[i];
                correct += ok;
                all_right &= ok;
                tokens += 1;
                loss += m->acts.losses[i];
            }
            exact += all_right;
        }
    }
    r->tokens = (long)tokens;
    r->sequences = samples;
    r->accuracy = tokens > 0 ? correct / tokens : 0;
    r->exact = exact / samples;
    r->loss = tokens > 0 ? loss / tokens : 0;
    rc = 0;
out:
    pb_draw_streams_close(&streams);
    pb_batch_free(&batch);
    return rc;
}
