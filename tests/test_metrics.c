/* Metrics (harness/metrics_*.h), each on a toy with an answer known from an
 * independent computation: integer rounding counted by hand, closed forms
 * (SNR, decay bound at 0, sinusoid steps), exact zeros of relative
 * encodings, and models whose logits are fixed by construction. */
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../harness/metrics/metrics_2d.h"
#include "../harness/metrics/metrics_attention.h"
#include "../harness/metrics/metrics_decay.h"
#include "../harness/metrics/metrics_decompose.h"
#include "../harness/metrics/metrics_distance.h"
#include "../harness/model/model_tokens.h"
#include "../harness/metrics/metrics_linear.h"
#include "../harness/metrics/metrics_probe.h"
#include "../harness/metrics/metrics_rope_precision.h"
#include "../harness/metrics/metrics_snr.h"
#include "../harness/metrics/metrics_table.h"
#include "../encodings/standalone.h"
#include "../harness/model/model.h"
#include "check.h"

static pb_format format(const char *name) {
    pb_format f;
    pb_error err;
    if (pb_format_parse(name, &f, &err)) fprintf(stderr, "format %s: %s\n", name, err.msg);
    return f;
}

/* Integer p rounded to `bits` significant bits, ties to even, by integer
 * arithmetic only (independent of format.c). */
static long round_sig(long p, int bits) {
    long top = 1L << bits;
    if (p < top) return p;
    long step = 1;
    while ((p / step) >= top) step *= 2;
    long q = p / step, r = p % step, half = step / 2;
    if (r > half || (r == half && (q & 1))) q++;
    return q * step;
}

static long count_rounded(long L, int bits) {
    long count = 0, last = -1;
    for (long p = 0; p < L; p++) { /* rounding is monotone: count changes */
        long v = round_sig(p, bits);
        if (v != last) count++;
        last = v;
    }
    return count;
}

/* An encoding outside a model from its settings (d, heads; d_head =
 * d / heads, causal, max_len 64, seed 1 by default), as pb.encoding opens it. */
static void open_with(pb_standalone_encoding *se, const char *name, int d, int heads,
                      const pb_opts *extra) {
    pb_error err = {{0}};
    pb_opts o;
    pb_opts_init(&o);
    pb_opts_set_num(&o, "d", d, NULL);
    pb_opts_set_num(&o, "heads", heads, NULL);
    if (extra) pb_opts_merge(&o, extra, NULL);
    int rc = pb_standalone_open(se, name, &o, 1 << 20, "open", &err);
    CHECK(rc == 0, "open %s: %s", name, err.msg);
}

static void open_enc(pb_standalone_encoding *se, const char *name, int d, int heads) {
    open_with(se, name, d, heads, NULL);
}

/* The paper's unit-amplitude table (option scale=1; the default is 1/sqrt(d)). */
static void open_enc_unit(pb_standalone_encoding *se, const char *name, int d, int heads) {
    pb_opts o;
    pb_opts_init(&o);
    pb_opts_set_num(&o, "scale", 1.0, NULL);
    open_with(se, name, d, heads, &o);
}

static float *table(pb_standalone_encoding *me, int n) {
    float *x = malloc(sizeof(float) * (size_t)n * me->enc.g.d);
    pb_error err = {{0}};
    int rc = pb_metric_table_linear(&me->enc, me->params, n, 8, x, &err);
    CHECK(rc == 0, "table of %s: %s", me->enc.type->name, err.msg);
    return x;
}

static void test_distinct_positions(void) {
    double theta[32];
    pb_error err = {{0}};
    CHECK(pb_rope_thetas(64, 10000.0, theta, &err) == 0, "thetas: %s", err.msg);
    long count;
    pb_format bf16 = format("bf16"), fp16 = format("fp16"), fp32 = format("fp32");
    CHECK(pb_metric_rope_distinct(&bf16, PB_SITE_POSITIONS, theta, 32, 1000, &count, NULL, &err) == 0,
          "%s", err.msg);
    CHECK(count == count_rounded(1000, 8), "bf16 integers 0..999: %ld distinct, expected %ld",
          count, count_rounded(1000, 8));
    CHECK(pb_metric_rope_distinct(&fp16, PB_SITE_POSITIONS, theta, 32, 4096, &count, NULL, &err) == 0,
          "%s", err.msg);
    CHECK(count == count_rounded(4096, 11) && count == 3073,
          "fp16 integers 0..4095: %ld distinct, expected %ld (3073)", count, count_rounded(4096, 11));
    long per[32];
    CHECK(pb_metric_rope_distinct(&fp32, PB_SITE_ANGLES, theta, 32, 65536, &count, per, &err) == 0,
          "%s", err.msg);
    CHECK(count == 65536, "fp32 angles keep 0..65535 apart: %ld", count);
    /* theta_0 = 1: the bf16 angle of p is the bf16 value of p */
    CHECK(pb_metric_rope_distinct(&bf16, PB_SITE_ANGLES, theta, 32, 1000, &count, per, &err) == 0,
          "%s", err.msg);
    CHECK(per[0] == count_rounded(1000, 8), "bf16 angle column theta=1: %ld vs %ld", per[0],
          count_rounded(1000, 8));
    CHECK(count >= per[0], "joint count >= any column");

    /* distinct rows of a table with a known collision */
    float rows[8] = {1, 2, 3, 4, 1, 2, -0.0f, 0};
    CHECK(pb_metric_distinct_rows(rows, 4, 2, &err) == 3, "rows {1,2},{3,4},{1,2},{-0,0}: 3");
}

static void test_phase_error(void) {
    double theta[32], mx, per[32];
    pb_error err = {{0}};
    pb_rope_thetas(64, 10000.0, theta, &err);
    pb_format bf16 = format("bf16"), fp32 = format("fp32");
    /* 257 -> 256 in bf16 (tie to even): phase error 1 rad at theta_0 = 1 */
    CHECK(pb_metric_rope_phase_error(&bf16, PB_SITE_POSITIONS, theta, 32, 258, &mx, per, NULL,
                                     &err) == 0, "%s", err.msg);
    CHECK_CLOSE(mx, 1.0, 1e-12, "bf16 positions, L=258: max phase error");
    CHECK_CLOSE(per[1], theta[1], 1e-12, "... at theta_1 it is theta_1");
    CHECK(pb_metric_rope_phase_error(&fp32, PB_SITE_POSITIONS, theta, 32, 65536, &mx, NULL,
                                     NULL, &err) == 0, "%s", err.msg);
    CHECK(mx == 0.0, "fp32 positions are exact below 2^24: %g", mx);
    /* fp32 angle p near 65535: half an ulp of 2^15..2^16 is 2^-8 */
    CHECK(pb_metric_rope_phase_error(&fp32, PB_SITE_ANGLES, theta, 32, 65536, &mx, NULL, NULL,
                                     &err) == 0, "%s", err.msg);
    CHECK(mx > 0.0 && mx <= ldexp(1.0, -8) + 1e-12, "fp32 angles: 0 < %g <= 2^-8", mx);
    CHECK(pb_metric_rope_phase_error(&bf16, PB_SITE_ANGLES, theta, 32, 65536, &mx, NULL, NULL,
                                     &err) == 0, "%s", err.msg);
    CHECK(mx > 3.0, "bf16 angles at 65535: phase error near pi, got %g", mx);
    CHECK(pb_metric_rope_phase_error(&bf16, PB_SITE_QK_POST, theta, 32, 10, &mx, NULL, NULL,
                                     &err) < 0 && strstr(err.msg, "qk_post"),
          "qk_post has no phase: error names the site (%s)", err.msg);
}

static void test_drift(void) {
    double theta[32], dev[3];
    int pos[3] = {0, 1000, 60000};
    pb_error err = {{0}};
    pb_rope_thetas(64, 10000.0, theta, &err);
    pb_format bf16 = format("bf16"), fp32 = format("fp32");
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 3);
    CHECK(pb_metric_rope_drift(&fp32, PB_SITE_TABLES, theta, 32, 7, pos, 3, 4, rng, dev, &err) == 0,
          "%s", err.msg);
    for (int i = 0; i < 3; i++) CHECK(dev[i] < 1e-6, "fp32 tables at p=%d: drift %g", pos[i], dev[i]);
    gsl_rng_set(rng, 3);
    CHECK(pb_metric_rope_drift(&bf16, PB_SITE_ANGLES, theta, 32, 7, pos, 3, 4, rng, dev, &err) == 0,
          "%s", err.msg);
    CHECK(dev[0] < 1e-3 && dev[2] > 1e-2, "bf16 angles: drift small at 0 (%g), large at 60000 (%g)",
          dev[0], dev[2]);
    gsl_rng_free(rng);
}

static void test_table_metrics(void) {
    pb_standalone_encoding sin, bin, in, intn, rope;
    open_enc_unit(&sin, "sinusoidal", 32, 4);
    open_enc_unit(&bin, "binary", 32, 4);
    open_enc(&in, "integer", 16, 4);
    open_enc(&intn, "integer_norm", 16, 4);
    open_enc(&rope, "rope", 32, 4);
    int n = 256;
    float *ts = table(&sin, n), *tb = table(&bin, n), *ti = table(&in, n), *tr = table(&rope, n);
    double r;
    pb_error err = {{0}};
    CHECK(pb_metric_linear_residual(ts, n, 32, 3, &r, &err) == 0, "%s", err.msg);
    CHECK(r < 1e-5, "sinusoidal: PE(p+3) = M PE(p), residual %g", r);
    CHECK(pb_metric_linear_residual(tr, n, 32, 3, &r, &err) == 0, "%s", err.msg);
    CHECK(r < 1e-5, "rope T(p)u: linear in p, residual %g", r);
    CHECK(pb_metric_linear_residual(tb, n, 32, 3, &r, &err) == 0, "%s", err.msg);
    CHECK(r > 0.1, "binary: no matrix maps bits of p to bits of p+3, residual %g", r);
    CHECK(pb_metric_linear_residual(ts, 20, 32, 3, &r, &err) < 0, "too few rows is an error");

    double mean, var;
    pb_metric_dot_variance(ts, n, 32, 5, &mean, &var, &err);
    double expect = 0.0;
    for (int k = 0; k < 16; k++) expect += cos(5.0 * pow(10000.0, -2.0 * k / 32));
    CHECK_CLOSE(mean, expect, 1e-5, "sinusoidal PE(p).PE(p+5) = sum cos(5 w_k)");
    CHECK(var < 1e-9, "... for every p (variance %g)", var);

    /* SNR of integer: ||e|| / (p sqrt(d)) */
    double snr[4];
    pb_metric_snr(ti, 4, 16, 2.0, snr);
    CHECK(isinf(snr[0]), "SNR(0) of integer is infinite");
    for (int p = 1; p < 4; p++) CHECK_CLOSE(snr[p], 2.0 / (p * 4.0), 1e-12, "integer SNR(p)");
    pb_metric_snr(ts, 4, 32, 1.0, snr);
    CHECK_CLOSE(snr[3], 1.0 / 4.0, 1e-6, "sinusoidal SNR = ||e|| / sqrt(d/2)");

    /* uniqueness: integer rows are sqrt(d) apart; bf16 makes them collide */
    int p, q;
    CHECK_CLOSE(pb_metric_min_distance(ti, 8, 16, &p, &q), 4.0, 1e-12, "integer min distance");
    CHECK(p == 0 && q == 1, "... first pair (0, 1), got (%d, %d)", p, q);
    pb_format bf16 = format("bf16");
    float *tl = table(&in, 600);
    pb_format_round_array(&bf16, tl, (size_t)600 * 16, 0);
    CHECK(pb_metric_min_distance(tl, 600, 16, NULL, NULL) == 0.0, "bf16 integer table collides");
    CHECK(pb_metric_distinct_rows(tl, 600, 16, &err) == count_rounded(600, 8), "bf16 integer rows");
    free(tl);

    /* steps: sinusoid moves the same distance every step, bits jump */
    double st[255], lo = 1e9, hi = 0;
    pb_metric_steps(ts, n, 32, st);
    for (int i = 0; i < n - 1; i++) {
        lo = fmin(lo, st[i]);
        hi = fmax(hi, st[i]);
    }
    CHECK(hi - lo < 1e-5, "sinusoidal steps constant (%g..%g)", lo, hi);
    pb_metric_steps(tb, n, 32, st);
    CHECK_CLOSE(st[0], sqrt(2.0), 1e-12, "binary 0->1: bit 0 in 2 of 32 components (bits=16)");
    CHECK_CLOSE(st[127], sqrt(16.0), 1e-12, "binary 127->128: 8 bits flip twice: step 4");

    double diff;
    CHECK(pb_metric_length_consistency(&intn.enc, intn.params, 10, 20, &diff, &err) == 0, "%s",
          err.msg);
    CHECK_CLOSE(diff, 9.0 / 10 - 9.0 / 20, 1e-6, "integer_norm: p/N changes with N");
    CHECK(pb_metric_length_consistency(&sin.enc, sin.params, 10, 20, &diff, &err) == 0 &&
          diff == 0.0, "sinusoidal does not depend on N (%g)", diff);

    free(ts);
    free(tb);
    free(ti);
    free(tr);
    pb_standalone_close(&sin);
    pb_standalone_close(&bin);
    pb_standalone_close(&in);
    pb_standalone_close(&intn);
    pb_standalone_close(&rope);

    pb_standalone_encoding alibi;
    open_enc(&alibi, "alibi", 16, 4);
    float dummy[16];
    int zero = 0;
    CHECK(pb_metric_table(&alibi.enc, alibi.params, &zero, 1, dummy, &err) < 0 &&
          strstr(err.msg, "alibi"), "bias encodings have no table: %s", err.msg);
    pb_standalone_close(&alibi);
}

static void test_shift_and_2d(void) {
    const char *relative[] = {"rope", "xpos", "alibi", "t5", "kerple_log", "none"};
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    pb_error err = {{0}};
    pb_shift_result r;
    for (int i = 0; i < 6; i++) {
        pb_standalone_encoding e;
        open_enc(&e, relative[i], 32, 4);
        gsl_rng_set(rng, 5);
        int rc = pb_metric_shift_invariance(&e.enc, e.params, 64, 500, 100, rng, &r, &err);
        CHECK(rc == 0 && r.rel < 1e-5, "%s is shift invariant: rel %g (%s)", relative[i], r.rel,
              rc ? err.msg : "");
        pb_standalone_close(&e);
    }
    const char *absolute[] = {"fire", "sinusoidal", "integer"};
    for (int i = 0; i < 3; i++) {
        pb_standalone_encoding e;
        open_enc(&e, absolute[i], 32, 4);
        gsl_rng_set(rng, 5);
        int rc = pb_metric_shift_invariance(&e.enc, e.params, 64, 500, 100, rng, &r, &err);
        /* sinusoidal PE(m).PE(n) depends on m - n only: relative too */
        int rel = strcmp(absolute[i], "sinusoidal") == 0;
        CHECK(rc == 0 && (rel ? r.rel < 1e-5 : r.rel > 1e-2), "%s shift error %g", absolute[i],
              r.rel);
        pb_standalone_close(&e);
    }
    pb_sep_result s;
    pb_standalone_encoding ax, mx;
    open_enc(&ax, "rope2d_axial", 32, 2);
    open_enc(&mx, "rope2d_mixed", 32, 2);
    CHECK(pb_metric_separability(&ax.enc, ax.params, 12, 3, 8, rng, &s, &err) == 0, "%s", err.msg);
    CHECK(s.rel_var < 1e-9 && s.split_err < 1e-5, "axial 2D RoPE: relative (%g) and x + y (%g)",
          s.rel_var, s.split_err);
    CHECK(pb_metric_separability(&mx.enc, mx.params, 12, 3, 8, rng, &s, &err) == 0, "%s", err.msg);
    CHECK(s.rel_var < 1e-9 && s.split_err > 0.05, "mixed 2D RoPE: relative (%g), not x + y (%g)",
          s.rel_var, s.split_err);
    CHECK(pb_metric_separability(&mx.enc, mx.params, 2, 3, 8, rng, &s, &err) < 0,
          "grid smaller than the offsets is an error");
    pb_standalone_close(&ax);
    pb_standalone_close(&mx);
    gsl_rng_free(rng);
}

static void test_decay(void) {
    CHECK_CLOSE(pb_metric_decay_bound(128, 10000, 0), 32.5, 1e-12, "bound(0) = (d/2 + 1)/2");
    double a = 0, b = 0, c = 0;
    for (int r = 1; r <= 10; r++) a += pb_metric_decay_bound(128, 10000, r) / 10;
    for (int r = 10; r <= 100; r++) b += pb_metric_decay_bound(128, 10000, r) / 91;
    for (int r = 100; r <= 1000; r += 10) c += pb_metric_decay_bound(128, 10000, r) / 91;
    CHECK(a > b && b > c, "decay trend: %g > %g > %g", a, b, c);
}

static void test_probe(void) {
    pb_standalone_encoding sin;
    open_enc(&sin, "sinusoidal", 32, 4);
    int n = 16, V = 8;
    float *t = table(&sin, n);
    float emb[8 * 32];
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 9);
    for (int i = 0; i < V * 32; i++) emb[i] = (float)(0.5 * (gsl_rng_uniform(rng) - 0.5));
    pb_probe_opts o = {.n_train = 4000, .n_test = 1000, .snr_db = 40, .ridge = 1e-4};
    pb_probe_result r;
    pb_error err = {{0}};
    CHECK(pb_metric_noise_probe(t, n, emb, V, 32, &o, rng, &r, &err) == 0, "%s", err.msg);
    CHECK(r.pos_acc > 0.9 && r.tok_acc > 0.9, "40 dB: position %g, token %g", r.pos_acc, r.tok_acc);
    o.snr_db = -30;
    CHECK(pb_metric_noise_probe(t, n, emb, V, 32, &o, rng, &r, &err) == 0, "%s", err.msg);
    CHECK(r.pos_acc < 0.2 && r.tok_acc < 0.3, "-30 dB near chance: %g, %g", r.pos_acc, r.tok_acc);
    free(t);
    /* integer positions: no class read-out, but a regression reads p */
    pb_standalone_encoding in;
    open_enc(&in, "integer", 32, 4);
    t = table(&in, n);
    o.snr_db = 60;
    CHECK(pb_metric_noise_probe(t, n, emb, V, 32, &o, rng, &r, &err) == 0, "%s", err.msg);
    CHECK(r.pos_reg_acc > 0.95, "integer at 60 dB: regression reads p (%g)", r.pos_reg_acc);
    free(t);
    pb_standalone_close(&in);
    gsl_rng_free(rng);
    pb_standalone_close(&sin);
}

/* ---- models ---------------------------------------------------------------- */

static int make_model(pb_model *m, const char *enc, int causal, int rms, const char *scheme) {
    pb_model_config c;
    pb_model_config_defaults(&c);
    c.vocab = 10; c.d = 16; c.heads = 2; c.layers = 2; c.ff = 32; c.max_len = 32;
    c.causal = causal; c.seed = 11;
    c.norm = rms ? PB_NORM_RMS : PB_NORM_LAYER;
    snprintf(c.encoding, sizeof c.encoding, "%s", enc);
    pb_error err = {{0}};
    if (scheme) pb_opts_set_str(&c.pos_opts, "scheme", scheme, &err);
    int rc = pb_model_create(m, &c, &err);
    CHECK(rc == 0, "model %s: %s", enc, err.msg);
    if (rc) return -1;
    /* peaky attention: large q/k weights */
    size_t n = m->shapes[PB_P_qkv_w].size;
    for (size_t i = 0; i < n; i++) m->params.qkv_w[i] *= 40.0f;
    return 0;
}

static void fill_batch(pb_batch *b, int B, int T, int V, unsigned long seed) {
    pb_batch_alloc(b, B, T, 1, NULL);
    b->B = B;
    b->T = T;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, seed);
    for (int i = 0; i < B * T; i++) {
        b->tokens[i] = b->targets[i] = (int)gsl_rng_uniform_int(rng, (unsigned long)V);
        b->mask[i] = 1.0f;
        b->pos[i] = i % T;
    }
    gsl_rng_free(rng);
}

static double rel_dev(pb_model *m, pb_batch *b, int d2, const char *qk_fmt, const char *site) {
    pb_error err = {{0}};
    pb_model_saved saved = {0};
    if (qk_fmt) { /* the site for this measurement only */
        pb_precision prec = m->prec;
        pb_format f = format(qk_fmt);
        pb_precision_set(&prec, site, &f, &err);
        pb_model_override o = {.prec = &prec};
        CHECK(pb_model_apply_override(m, &o, &saved, &err) == 0, "override: %s", err.msg);
    }
    double D = NAN, Dl = NAN;
    int rc = pb_metric_relative_deviation(m, b, 0, d2, &D, &Dl, NULL, NULL, &err);
    CHECK(rc == 0, "relative deviation: %s", err.msg);
    pb_model_restore(m, &saved);
    return D;
}

static void test_relative_deviation(void) {
    pb_model none, rope, learned;
    pb_batch b;
    fill_batch(&b, 3, 20, 10, 4);
    if (make_model(&none, "none", 1, 0, NULL) == 0) {
        CHECK(rel_dev(&none, &b, 5000, NULL, NULL) == 0.0, "NoPE: D = 0 exactly");
        pb_model_destroy(&none);
    }
    if (make_model(&rope, "rope", 1, 0, NULL) == 0) {
        double d32 = rel_dev(&rope, &b, 5000, NULL, NULL);
        double dbf = rel_dev(&rope, &b, 5000, "bf16", "qk_post");
        double dang = rel_dev(&rope, &b, 5000, "bf16", "angles");
        CHECK(d32 < 1e-3, "RoPE fp32 shifted by 5000: D = %g (float error only)", d32);
        CHECK(dbf > 10 * d32 && dbf > 1e-3, "RoPE with bf16 q/k: D = %g > fp32 %g", dbf, d32);
        CHECK(dang > dbf, "RoPE with bf16 angles: D = %g (> q/k %g)", dang, dbf);
        CHECK(rel_dev(&rope, &b, 5000, NULL, NULL) == d32, "the overrides were undone");
        /* The same sites as the model's own precision (its config). */
        pb_error perr = {{0}};
        pb_precision p = rope.cfg.prec;
        pb_format bf = format("bf16");
        pb_precision_set(&p, "angles", &bf, &perr);
        CHECK(pb_model_set_precision(&rope, &p, &perr) == 0 &&
                  rope.cfg.prec.active[PB_SITE_ANGLES] && rope.enc.prec == &rope.prec,
              "set_precision: in the config, seen by the encoding (%s)", perr.msg);
        double dset = rel_dev(&rope, &b, 5000, NULL, NULL);
        CHECK(dset == dang, "bf16 angles set on the model = as an override: %g vs %g", dset,
              dang);
        pb_precision_init(&p);
        CHECK(pb_model_set_precision(&rope, &p, &perr) == 0 &&
                  rel_dev(&rope, &b, 5000, NULL, NULL) == d32,
              "back to fp32");
        /* recomputed logits reproduce attention's probabilities */
        pb_error err = {{0}};
        pb_model_forward(&rope, &b, 1, &err);
        float *lg = malloc(sizeof(float) * 3 * 2 * 20 * 20);
        CHECK(pb_metric_attention_logits(&rope, &b, 1, lg, &err) == 0, "%s", err.msg);
        double worst = 0.0;
        const float *att = rope.acts.att + rope.layer[1].att_off; /* layer 2 */
        for (int bh = 0; bh < 6; bh++)
            for (int i = 0; i < 20; i++) {
                const float *row = lg + ((size_t)bh * 20 + i) * 20;
                double mx = -INFINITY, s = 0.0;
                for (int j = 0; j <= i; j++) mx = fmax(mx, row[j]);
                for (int j = 0; j <= i; j++) s += exp(row[j] - mx);
                for (int j = 0; j <= i; j++)
                    worst = fmax(worst, fabs(exp(row[j] - mx) / s - att[((size_t)bh * 20 + i) * 20 + j]));
            }
        CHECK(worst < 1e-5, "softmax(recomputed logits) = att (max diff %g)", worst);
        free(lg);
        pb_model_destroy(&rope);
    }
    if (make_model(&learned, "learned", 1, 0, NULL) == 0) {
        pb_error err = {{0}};
        double D, Dl;
        CHECK(pb_metric_relative_deviation(&learned, &b, 0, 5, &D, &Dl, NULL, NULL, &err) == 0,
              "%s", err.msg);
        CHECK(D > 1e-3 && Dl > 1e-3, "learned absolute table: D = %g, D_logit = %g", D, Dl);
        pb_model_destroy(&learned);
    }
    pb_batch_free(&b);
}

static void test_logit_metrics(void) {
    pb_batch b;
    fill_batch(&b, 2, 12, 10, 8);
    pb_error err = {{0}};
    pb_model m;
    if (make_model(&m, "sinusoidal", 1, 0, NULL) == 0) {
        pb_logit_terms t[3];
        CHECK(pb_metric_logit_terms(&m, &b, t, &err) == 0, "%s", err.msg);
        /* the four terms add up to the model's own layer-0 logits */
        pb_model_forward(&m, &b, 1, &err);
        float *lg = malloc(sizeof(float) * 2 * 2 * 12 * 12);
        pb_metric_attention_logits(&m, &b, 0, lg, &err);
        double s = 0, ss = 0;
        long n = 0;
        for (int bh = 0; bh < 4; bh++)
            for (int i = 0; i < 12; i++)
                for (int j = 0; j <= i; j++) {
                    double v = lg[((size_t)bh * 12 + i) * 12 + j];
                    s += v;
                    ss += v * v;
                    n++;
                }
        double var = ss / n - (s / n) * (s / n);
        CHECK_CLOSE(t[2].var_logit, var, 1e-3, "variance of the summed terms = logit variance");
        double sum = 0;
        for (int k = 0; k < PB_N_TERMS; k++) sum += t[2].share[k];
        CHECK_CLOSE(sum, 1.0, 1e-12, "shares add to 1");
        CHECK(t[2].share[PB_TERM_PP] > 0.0, "sinusoidal has a position-position term");
        free(lg);
        pb_model_destroy(&m);
    }
    if (make_model(&m, "none", 1, 0, NULL) == 0) {
        pb_logit_terms t[3];
        CHECK(pb_metric_logit_terms(&m, &b, t, &err) == 0, "%s", err.msg);
        CHECK(t[2].share[PB_TERM_WW] == 1.0, "NoPE: all word-word (%g)", t[2].share[PB_TERM_WW]);
        pb_model_destroy(&m);
    }
    if (make_model(&m, "rope", 1, 0, NULL) == 0) {
        pb_logit_terms t[3];
        CHECK(pb_metric_logit_terms(&m, &b, t, &err) < 0 && strstr(err.msg, "additive"),
              "rope is not additive: %s", err.msg);
        pb_model_destroy(&m);
    }
    /* q = k = 0: logits are the bias alone (ALiBi: -m_h (i - j)): share 1 */
    if (make_model(&m, "alibi", 1, 0, NULL) == 0) {
        memset(m.params.qkv_w, 0, sizeof(float) * m.shapes[PB_P_qkv_w].size);
        double share[4];
        CHECK(pb_metric_position_share(&m, &b, share, &err) == 0, "%s", err.msg);
        for (int i = 0; i < 4; i++) CHECK_CLOSE(share[i], 1.0, 1e-9, "ALiBi bias-only share");
        pb_model_destroy(&m);
    }
    /* q fixed by the bias: U_k = norm of pair k of that bias */
    const char *pairings[] = {"interleaved", "half"};
    for (int pi = 0; pi < 2; pi++) {
        pb_model_config c;
        pb_model_config_defaults(&c);
        c.vocab = 10; c.d = 16; c.heads = 2; c.layers = 1; c.ff = 16; c.max_len = 32;
        snprintf(c.encoding, sizeof c.encoding, "rope");
        pb_opts_set_str(&c.enc_opts, "pairing", pairings[pi], &err);
        if (pb_model_create(&m, &c, &err)) {
            CHECK(0, "rope model: %s", err.msg);
            continue;
        }
        memset(m.params.qkv_w, 0, sizeof(float) * m.shapes[PB_P_qkv_w].size);
        for (int i = 0; i < 16; i++) m.params.qkv_b[i] = (float)(i + 1);
        double U[2 * 4];
        CHECK(pb_metric_frequency_usage(&m, &b, 0, U, &err) == 0, "%s", err.msg);
        for (int h = 0; h < 2; h++)
            for (int k = 0; k < 4; k++) {
                int a = pi ? k : 2 * k, bb = pi ? k + 4 : 2 * k + 1;
                double want = hypot(h * 8 + a + 1, h * 8 + bb + 1);
                CHECK_CLOSE(U[h * 4 + k], want, 1e-5, pairings[pi]);
            }
        pb_model_destroy(&m);
    }
    pb_batch_free(&b);
}

/* The seed article's "dog chased another dog": identical tokens give
 * identical outputs without positions in a bidirectional model. */
static void test_dog(void) {
    int tok[5] = {1, 2, 3, 4, 2}, pos[5] = {0, 1, 2, 3, 4};
    const struct { const char *enc; int causal; int same; } cases[] = {
        {"none", 0, 1}, {"none", 1, 0}, {"sinusoidal", 0, 0}, {"rope", 0, 0}};
    for (int c = 0; c < 4; c++) {
        pb_model m;
        if (make_model(&m, cases[c].enc, cases[c].causal, 0, NULL)) continue;
        float h[5 * 16], lg[5 * 10];
        pb_error err = {{0}};
        CHECK(pb_model_forward_tokens(&m, tok, pos, 5, h, lg, &err) == 0, "%s", err.msg);
        double diff = 0.0;
        for (int i = 0; i < 16; i++) diff = fmax(diff, fabs(h[16 + i] - h[4 * 16 + i]));
        if (cases[c].same)
            CHECK(diff < 1e-6, "%s bidirectional: dog outputs identical (%g)", cases[c].enc, diff);
        else
            CHECK(diff > 1e-4, "%s %s: dog outputs differ (%g)", cases[c].enc,
                  cases[c].causal ? "causal" : "bidirectional", diff);
        pb_model_destroy(&m);
    }
}

int main(void) {
    test_distinct_positions();
    test_phase_error();
    test_drift();
    test_table_metrics();
    test_shift_and_2d();
    test_decay();
    test_probe();
    test_relative_deviation();
    test_logit_metrics();
    test_dog();
    return check_summary("test_metrics");
}
