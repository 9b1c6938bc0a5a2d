/* Whole-model gradient check: for a tiny model with each encoding (causal
 * and bidirectional, layernorm and rmsnorm, tied and untied), every
 * parameter's analytic gradient against central finite differences of the
 * loss. */
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../harness/model/model.h"
#include "../harness/model/positions.h"
#include "../harness/tasks/task.h"
#include "check.h"
#include "enc_test_util.h"
#include "gradcheck.h"

typedef struct ctx {
    pb_model *m;
    pb_batch *b;
} ctx;

static double loss_at(void *p, const float *x) {
    (void)x; /* x is the model's own parameter buffer, already perturbed */
    ctx *c = p;
    pb_error err;
    if (pb_model_forward(c->m, c->b, 0, &err)) {
        fprintf(stderr, "forward failed: %s\n", err.msg);
        return NAN;
    }
    return c->m->loss;
}

/* Widths that are multiples of 16 (d = 32, d_h = 16, ff = 64, vocab 16,
 * T = 16 random tokens): the AVX-512 kernel set's GEMM then runs every
 * linear and attention product (core/kernels.h), which the default tiny
 * widths leave to BLAS; with d_h = 8 it runs the attention's T-wide
 * products. NULL: the tiny model on the copy task. */
typedef struct wide_geometry {
    int d, heads, ff, vocab, T;
} wide_geometry;
static const wide_geometry *wide;

/* enc names the case; specs (n of them, or NULL) make it a per-layer model. */
static void check_case_layers(const char *enc, int causal, int rms, int tied,
                              const pb_layer_spec *specs, int n) {
    pb_model_config cfg;
    pb_model_config_defaults(&cfg);
    cfg.vocab = 12; cfg.d = 8; cfg.heads = 2; cfg.layers = specs ? n : 2; cfg.ff = 12;
    if (wide) {
        cfg.vocab = wide->vocab; cfg.d = wide->d; cfg.heads = wide->heads; cfg.ff = wide->ff;
    }
    cfg.max_len = 16; cfg.causal = causal; cfg.tied = tied; cfg.seed = 7;
    cfg.norm = rms ? PB_NORM_RMS : PB_NORM_LAYER;
    cfg.n_specs = specs ? n : 0;
    cfg.specs = specs;
    snprintf(cfg.encoding, sizeof cfg.encoding, "%s", specs ? specs[0].encoding : enc);
    pb_error err;
    const pb_encoding_type *type = pb_encoding_find(enc);
    int twod = type && type->pos_dims == 2;
    if (twod) pb_opts_set_str(&cfg.pos_opts, "scheme", "grid", &err);
    if (twod) pb_opts_set_num(&cfg.pos_opts, "width", 3, &err);
    pb_model m;
    if (pb_model_create(&m, &cfg, &err)) {
        CHECK(0, "%s: create failed: %s", enc, err.msg);
        return;
    }
    /* Move every parameter away from its initial value (zero biases, unit
     * norm weights, 0.02-scale matrices) to a generic point where
     * activations are O(1): gradients are then large against float32
     * rounding and no symmetry hides a wrong term. */
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 3);
    for (size_t i = 0; i < m.n_params; i++)
        m.param_mem[i] += (float)(0.3 * (gsl_rng_uniform(rng) - 0.5));
    pb_task task;
    pb_opts topts;
    pb_opts_init(&topts);
    pb_opts_set_num(&topts, "min_len", 3, &err);
    pb_opts_set_num(&topts, "max_len", 5, &err);
    pb_opts_set_num(&topts, "vocab", 6, &err);
    if (pb_task_create(&task, "copy", &topts, &err)) {
        CHECK(0, "task: %s", err.msg);
        pb_model_destroy(&m);
        gsl_rng_free(rng);
        return;
    }
    pb_batch b;
    int T = wide ? wide->T : pb_task_model_len(&task, 4, causal, &err);
    pb_batch_alloc(&b, 3, T, m.enc.type->pos_dims, &err);
    int rc = 0;
    if (wide) {
        b.B = 3;
        b.T = T;
        for (int i = 0; i < b.B * T; i++) {
            b.tokens[i] = (int)gsl_rng_uniform_int(rng, (unsigned long)cfg.vocab);
            b.targets[i] = (int)gsl_rng_uniform_int(rng, (unsigned long)cfg.vocab);
            b.mask[i] = 1.0f;
            b.place[i] = -1;
        }
    } else {
        rc = pb_task_fill_batch(&task, rng, 4, causal, 3, &b, &err);
    }
    if (!rc) rc = pb_positions_fill(&m.positions, &b, rng, 1, &err);
    /* distinct positions per row exercise the per-row bias path */
    if (!rc && !twod) for (int i = 0; i < b.B * b.T; i++) b.pos[i] += (i / b.T) * 2;
    CHECK(rc == 0, "%s: batch: %s", enc, rc ? err.msg : "");
    pb_model_zero_grad(&m);
    rc = pb_model_forward(&m, &b, 1, &err);
    if (!rc) rc = pb_model_backward(&m, &b, &err);
    CHECK(rc == 0, "%s: forward/backward: %s", enc, rc ? err.msg : "");
    if (rc == 0) {
        /* Per tensor: the derivative along a random unit direction v,
         * (L(p + h v) - L(p - h v)) / 2h, against g . v. Summing over many
         * elements lifts the signal far above float32 rounding noise, which
         * element-wise differences of a float32 loss cannot do. */
        float *analytic = malloc(m.n_params * sizeof(float));
        float *saved = malloc(m.n_params * sizeof(float));
        float *dir = malloc(m.n_params * sizeof(float));
        memcpy(analytic, m.grad_mem, m.n_params * sizeof(float));
        memcpy(saved, m.param_mem, m.n_params * sizeof(float));
        ctx c = {&m, &b};
        size_t off = 0;
        double worst = 0;
        const char *worst_name = "";
        for (int k = 0; k < PB_N_PARAM_TENSORS; k++) {
            size_t n_all = m.shapes[k].size;
            if (!n_all) continue;
            /* A per-layer model is checked layer by layer in the per-layer
             * tensors: one layer's error is not diluted by the others. */
            int layered = (k >= PB_P_ln1_w && k <= PB_P_fcp_b) || k == PB_P_qkn_w;
            int parts = specs && layered ? cfg.layers : 1;
            for (int part = 0; part < parts; part++) {
                size_t n = n_all / parts, o = off + (size_t)part * n;
                char part_name[24] = "";
                if (parts > 1) snprintf(part_name, sizeof part_name, " (layer %d)", part + 1);
                /* two directions: a random one, and the analytic gradient's own
                 * (which turns any error in its scale into the same relative
                 * error in the comparison) */
                double gnorm = 0;
                for (size_t i = 0; i < n; i++) gnorm += (double)analytic[o + i] * analytic[o + i];
                gnorm = sqrt(gnorm);
                for (int along_grad = 0; along_grad < 2; along_grad++) {
                    double norm = 0, gv = 0;
                    for (size_t i = 0; i < n; i++) {
                        dir[i] = along_grad ? analytic[o + i]
                                            : (float)(gsl_rng_uniform(rng) - 0.5);
                        norm += (double)dir[i] * dir[i];
                    }
                    if (norm == 0) continue;
                    norm = sqrt(norm);
                    for (size_t i = 0; i < n; i++) {
                        dir[i] = (float)(dir[i] / norm);
                        gv += (double)dir[i] * analytic[o + i];
                    }
                    /* Richardson: central differences at h and h/2 combined
                     * to cancel their h^2 error, which at some points exceeds
                     * the tolerance at h = 3e-2 (a smaller h drowns small
                     * gradients in float32 noise instead). */
                    const double h = 3e-2;
                    double num = 0;
                    for (int half = 0; half < 2; half++) {
                        double hh = half ? h / 2 : h;
                        for (size_t i = 0; i < n; i++)
                            m.param_mem[o + i] = saved[o + i] + (float)(hh * dir[i]);
                        double fp = loss_at(&c, NULL);
                        for (size_t i = 0; i < n; i++)
                            m.param_mem[o + i] = saved[o + i] - (float)(hh * dir[i]);
                        double fm = loss_at(&c, NULL);
                        num += (half ? 4.0 : -1.0) / 3.0 * (fp - fm) / (2 * hh);
                    }
                    memcpy(m.param_mem + o, saved + o, n * sizeof(float));
                    /* A random direction is nearly orthogonal to the gradient, so
                     * its error is measured against the gradient's norm. The
                     * float32 loss is rounded by ~1e-7, which the combination
                     * above turns into ~3e-7 / h = 1e-5 of noise (measured:
                     * up to 1.3e-5, fire's parameters, where the scalar and
                     * vector kernel sets round differently): a 1% check
                     * needs a scale of at least 3e-3 to keep that noise
                     * below a third of its tolerance. */
                    double scale = fmax(fabs(num) + fabs(gv), 0.2 * gnorm);
                    double e = fabs(num - gv) / fmax(scale, 3e-3);
                    CHECK(e < 1e-2, "%s causal=%d rms=%d tied=%d: %s%s derivative along %s: "
                          "analytic %.6g vs finite difference %.6g (rel error %.3g)", enc,
                          causal, rms, tied, pb_param_names[k], part_name,
                          along_grad ? "the gradient" : "a random direction", gv, num, e);
                    if (e > worst) { worst = e; worst_name = pb_param_names[k]; }
                }
            }
            off += n_all;
        }
        printf("%-14s causal=%d rms=%d tied=%d params=%zu worst tensor %-7s rel error %.2e\n",
               enc, causal, rms, tied, m.n_params, worst_name, worst);
        free(analytic);
        free(saved);
        free(dir);
    }
    pb_batch_free(&b);
    pb_task_destroy(&task);
    pb_model_destroy(&m);
    gsl_rng_free(rng);
}

static void check_case(const char *enc, int causal, int rms, int tied) {
    check_case_layers(enc, causal, rms, tied, NULL, 0);
}

/* A layer of encoding enc with options spec ("key=value,..."). */
static pb_layer_spec layer(const char *enc, const char *spec) {
    pb_layer_spec s;
    pb_opts o;
    pb_error err;
    enc_opts_parse(&o, spec, &err);
    pb_layer_spec_uniform(&s, enc, &o);
    return s;
}

/* Hybrids: every per-layer setting's backward inside a whole model (T = 9
 * with windows and chunks of 2..4 keys, so the spans cut every sequence). */
static void check_hybrids(void) {
    pb_layer_spec L[4];
    /* RNoPE-SWA: windowed RoPE, global NoPE with Llama 4's temperature */
    L[0] = L[1] = L[2] = layer("rope", "");
    for (int i = 0; i < 3; i++) { L[i].span = PB_SPAN_WINDOW; L[i].span_size = 3; }
    L[3] = layer("none", "");
    L[3].temp = PB_TEMP_LOG; L[3].temp_scale = 2; L[3].temp_floor = 1;
    check_case_layers("rnope-swa", 1, 0, 1, L, 4);
    /* iRoPE: chunked RoPE with QK-norm after the rotation, no weight */
    L[0] = L[1] = layer("rope", "base=500");
    for (int i = 0; i < 2; i++) {
        L[i].span = PB_SPAN_CHUNK; L[i].span_size = 4; L[i].qk_norm = PB_QKNORM_POST;
    }
    L[2] = layer("none", "");
    L[2].temp = PB_TEMP_LENGTH; L[2].temp_scale = 0.8;
    check_case_layers("irope", 1, 1, 0, L, 3);
    /* Gemma 3: QK-norm with weights before RoPE, local/global bases */
    L[0] = layer("rope", "base=100");
    L[0].span = PB_SPAN_WINDOW; L[0].span_size = 2;
    L[1] = layer("rope", "base=10000");
    for (int i = 0; i < 2; i++) { L[i].qk_norm = PB_QKNORM_PRE; L[i].qk_norm_weight = 1; }
    check_case_layers("gemma3", 1, 1, 1, L, 2);
    /* Gemma 2: soft-capping, window and global; learnable KERPLE bias (global
     * layer) beside ALiBi on a window, and a constant temperature */
    L[0] = layer("alibi", "");
    L[0].span = PB_SPAN_WINDOW; L[0].span_size = 4; L[0].softcap = 2;
    L[1] = layer("kerple_log", "");
    L[1].softcap = 1.5;
    L[2] = layer("rope", "");
    L[2].temp = PB_TEMP_CONST; L[2].temp_scale = 1.5; L[2].softcap = 3;
    check_case_layers("softcap-bias", 1, 0, 1, L, 3);
    /* xPos in a chunk beside a learnable KERPLE bias: two parameter groups */
    L[0] = layer("xpos", "");
    L[0].span = PB_SPAN_CHUNK; L[0].span_size = 3;
    L[1] = layer("kerple_log", "");
    check_case_layers("learned-mix", 1, 0, 1, L, 2);
}

int main(void) {
    int variant = 0;
    const char *only = getenv("GC_ONLY");
    for (int i = 0; pb_encoding_types[i]; i++) {
        if (only && strcmp(only, pb_encoding_types[i]->name)) continue;
        const char *name = pb_encoding_types[i]->name;
        if (pb_encoding_types[i]->pos_dims == 2) continue; /* needs a 2D task */
        check_case(name, 1, variant & 1, !(variant & 2));
        check_case(name, 0, (variant >> 1) & 1, variant & 1);
        variant++;
    }
    if (!only) check_hybrids();
    /* the GEMM's widths: a rotary, a bias and a plain encoding */
    static const wide_geometry g = {.d = 32, .heads = 2, .ff = 64, .vocab = 16, .T = 16};
    wide = &g;
    const char *wide_encs[] = {"rope", "alibi", "none"};
    for (int i = 0; i < 3; i++) {
        if (only && strcmp(only, wide_encs[i])) continue;
        check_case(wide_encs[i], 1, i == 1, i != 2);
        check_case(wide_encs[i], 0, i != 1, i == 2);
    }
    /* heads of 8 (T = 16): dV and dK through the GEMM transposed */
    static const wide_geometry narrow = {.d = 32, .heads = 4, .ff = 64, .vocab = 16, .T = 16};
    wide = &narrow;
    if (!only || !strcmp(only, "rope")) check_case("rope", 1, 0, 1);
    if (!only || !strcmp(only, "alibi")) check_case("alibi", 0, 1, 0);
    wide = &g;
    if (!only) { /* soft-capping recomputes the logits in the backward; a cap
                  * of 0.1, near the logits' size here, makes that count */
        pb_layer_spec L[2] = {layer("rope", ""), layer("alibi", "")};
        L[0].softcap = 0.1;
        L[1].softcap = 0.1;
        check_case_layers("wide-softcap", 1, 0, 1, L, 2);
    }
    return check_summary("test_model_grad");
}
