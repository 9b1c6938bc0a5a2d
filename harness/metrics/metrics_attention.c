/* Metrics read from a model's attention (see metrics_attention.h). */
#include "metrics_attention.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int check_last(const pb_model *m, const pb_batch *b, int layer, const char *what,
                      pb_error *err) {
    if (!m->trained_forward || m->B != b->B || m->T != b->T)
        return pb_fail(err, "%s: needs a forward of this batch with every layer kept "
                            "(want_grad = 1)", what);
    if (layer < 0 || layer >= m->cfg.layers)
        return pb_fail(err, "%s: layer %d out of range (model has %d)", what, layer,
                       m->cfg.layers);
    return 0;
}

/* q, k of layer l, sequence r: acts.qkv is [L, B, T, 3d]. */
static const float *layer_qkv(const pb_model *m, int l, int r) {
    size_t BT = (size_t)m->B * m->T, d3 = 3 * (size_t)m->cfg.d;
    return m->acts.qkv + (size_t)l * BT * d3 + (size_t)r * m->T * d3;
}

int pb_metric_attention_logits(const pb_model *m, const pb_batch *b, int layer,
                               float *out, pb_error *err) {
    if (check_last(m, b, layer, "attention logits", err)) return -1;
    int B = b->B, T = b->T, H = m->cfg.heads, d = m->cfg.d, dh = d / H, pd = b->pos_dims;
    int off;
    const pb_encoding *e = pb_model_layer_encoding(m, layer, &off);
    const float *params = m->used.enc + off;
    double cap = m->spec[layer].softcap;
    int has_bias = (e->type->sites & PB_ENC_BIAS) != 0;
    float *bias = NULL;
    if (has_bias && !(bias = malloc(sizeof(float) * (size_t)H * T * T)))
        return pb_fail(err, "attention logits: out of memory for a %d x %d bias", T, T);
    for (int r = 0; r < B; r++) {
        const float *qkv = layer_qkv(m, layer, r); /* q after any temperature */
        const int *pos = b->pos + (size_t)r * T * pd;
        if (has_bias) {
            e->type->bias_forward(e, params, pos, T, pos, T, bias);
            pb_round_site(&m->prec, PB_SITE_TABLES, bias, (size_t)H * T * T);
        }
        for (int h = 0; h < H; h++) {
            float *S = out + ((size_t)r * H + h) * T * T;
            for (int i = 0; i < T; i++) {
                const float *q = qkv + (size_t)i * 3 * d + h * dh;
                int lo = pb_model_layer_key_lo(m, layer, i);
                int valid = m->cfg.causal ? i + 1 : T;
                float *row = S + (size_t)i * T;
                for (int j = 0; j < lo; j++) row[j] = 0.0f; /* outside the span */
                for (int j = lo; j < valid; j++) {
                    const float *k = qkv + (size_t)j * 3 * d + d + h * dh;
                    double dot = 0.0;
                    for (int c = 0; c < dh; c++) dot += (double)q[c] * k[c];
                    /* the encodings' logit convention, rounded to float once */
                    double bij = has_bias ? bias[((size_t)h * T + i) * T + j] : 0.0;
                    double x = pb_encoding_logit(e, dot, bij);
                    row[j] = (float)(cap > 0 ? cap * tanh(x / cap) : x);
                }
                pb_round_site(&m->prec, PB_SITE_LOGITS, row + lo, (size_t)(valid - lo));
                for (int j = valid; j < T; j++) row[j] = 0.0f;
            }
        }
    }
    free(bias);
    return 0;
}

static void shift_positions(pb_batch *b, int shift) {
    for (int r = 0; r < b->B; r++)
        for (int t = 0; t < b->T; t++) b->pos[r * b->T + t] = t + shift;
}

/* Run at shift D; keep att [L,B,H,T,T] and first-column logits [L,B,H,T]. */
static int run_shifted(pb_model *m, pb_batch *b, int shift, float *att, float *col0,
                       float *logits, pb_error *err) {
    shift_positions(b, shift);
    if (pb_model_forward_inspect(m, b, err)) return -1;
    int L = m->cfg.layers, B = b->B, H = m->cfg.heads, T = b->T;
    int keys_end = m->cfg.causal ? 0 : T; /* last key + 1: i + 1 when causal */
    /* every layer as full [B,H,T,T] maps, whatever its storage */
    for (int l = 0; l < L; l++)
        for (int r = 0; r < B; r++)
            for (int h = 0; h < H; h++)
                for (int i = 0; i < T; i++) {
                    int lo, n = (keys_end ? keys_end : i + 1);
                    const float *p = pb_model_layer_probs(m, l, r, h, i, &lo);
                    float *row = att + ((((size_t)l * B + r) * H + h) * T + i) * T;
                    memset(row, 0, sizeof(float) * (size_t)T);
                    memcpy(row + lo, p, sizeof(float) * (size_t)(n - lo));
                }
    for (int l = 0; l < L; l++) {
        if (pb_metric_attention_logits(m, b, l, logits, err)) return -1;
        for (size_t bh = 0; bh < (size_t)B * H; bh++)
            for (int i = 0; i < T; i++)
                col0[((size_t)l * B * H + bh) * T + i] = logits[(bh * T + i) * T];
    }
    return 0;
}

int pb_metric_relative_deviation(pb_model *m, pb_batch *b, int d1, int d2, double *D,
                                 double *D_logit, double *D_layer,
                                 double *D_logit_layer, pb_error *err) {
    if (b->pos_dims != 1 || m->enc.type->pos_dims != 1)
        return pb_fail(err, "relative deviation: 1D positions only (encoding '%s')",
                       m->enc.type->name);
    if (d1 < 0 || d2 < 0)
        return pb_fail(err, "relative deviation: shifts must be >= 0 (got %d, %d)", d1, d2);
    int L = m->cfg.layers, B = b->B, H = m->cfg.heads, T = b->T, causal = m->cfg.causal;
    size_t per_layer = (size_t)B * H * T * T, ncol = (size_t)L * B * H * T;
    float *mem = malloc(sizeof(float) * (2 * L * per_layer + 2 * ncol + per_layer));
    if (!mem)
        return pb_fail(err, "relative deviation: out of memory for %d layers of %d x %d maps",
                       L, T, T);
    float *att1 = mem, *att2 = att1 + L * per_layer, *c1 = att2 + L * per_layer,
          *c2 = c1 + ncol, *logits = c2 + ncol;
    int rc = run_shifted(m, b, d1, att1, c1, logits, err);
    if (!rc) rc = run_shifted(m, b, d2, att2, c2, logits, err);
    if (!rc) {
        double tot = 0.0, tot_logit = 0.0;
        for (int l = 0; l < L; l++) {
            double dl = 0.0, dlog = 0.0;
            for (size_t bh = 0; bh < (size_t)B * H; bh++) {
                const float *A1 = att1 + (size_t)l * per_layer + bh * T * T;
                const float *A2 = att2 + (size_t)l * per_layer + bh * T * T;
                for (int j = 0; j < T; j++) {
                    int i0 = causal ? j : 0;
                    double s = 0.0;
                    for (int i = i0; i < T; i++)
                        s += fabs((double)A1[(size_t)i * T + j] - A2[(size_t)i * T + j]);
                    dl += s / (T - i0);
                }
                const float *l1 = c1 + ((size_t)l * B * H + bh) * T;
                const float *l2 = c2 + ((size_t)l * B * H + bh) * T;
                double s = 0.0;
                for (int i = 0; i < T; i++) s += fabs((double)l1[i] - l2[i]);
                dlog += s / T;
            }
            dl /= B;
            dlog /= B;
            if (D_layer) D_layer[l] = dl;
            if (D_logit_layer) D_logit_layer[l] = dlog;
            tot += dl;
            tot_logit += dlog;
        }
        *D = tot;
        *D_logit = tot_logit;
    }
    free(mem);
    return rc;
}

int pb_metric_position_share(pb_model *m, const pb_batch *b, double *share,
                             pb_error *err) {
    if (pb_model_forward_inspect(m, b, err)) return -1;
    int L = m->cfg.layers, B = b->B, H = m->cfg.heads, T = b->T, causal = m->cfg.causal;
    int nm = 2 * T - 1; /* offsets m = i - j in (-T, T), index m + T - 1 */
    float *logits = malloc(sizeof(float) * (size_t)B * H * T * T);
    double *sum = malloc(sizeof(double) * (size_t)nm);
    long *cnt = malloc(sizeof(long) * (size_t)nm);
    int rc = 0;
    if (!logits || !sum || !cnt) {
        rc = pb_fail(err, "position share: out of memory");
        goto done;
    }
    for (int l = 0; l < L && !rc; l++) {
        if ((rc = pb_metric_attention_logits(m, b, l, logits, err))) break;
        for (int h = 0; h < H; h++) {
            memset(sum, 0, sizeof(double) * (size_t)nm);
            memset(cnt, 0, sizeof(long) * (size_t)nm);
            double s = 0.0, ss = 0.0;
            long n = 0;
            for (int r = 0; r < B; r++) {
                const float *S = logits + ((size_t)r * H + h) * T * T;
                for (int i = 0; i < T; i++)
                    for (int j = pb_model_layer_key_lo(m, l, i); j < (causal ? i + 1 : T); j++) {
                        double v = S[(size_t)i * T + j];
                        sum[i - j + T - 1] += v;
                        cnt[i - j + T - 1]++;
                        s += v;
                        ss += v * v;
                        n++;
                    }
            }
            double mean = s / n, var = ss / n - mean * mean, between = 0.0;
            for (int k = 0; k < nm; k++)
                if (cnt[k]) {
                    double f = sum[k] / cnt[k] - mean;
                    between += cnt[k] * f * f;
                }
            between /= n;
            share[l * H + h] = var > 0.0 ? between / var : 0.0;
        }
    }
done:
    free(logits);
    free(sum);
    free(cnt);
    return rc;
}

int pb_metric_frequency_usage(pb_model *m, const pb_batch *b, int which, double *U,
                              pb_error *err) {
    if (which != 0 && which != 1)
        return pb_fail(err, "frequency usage: which must be 0 (q) or 1 (k), got %d", which);
    int H = m->cfg.heads, d = m->cfg.d, dh = d / H, np = dh / 2;
    if (dh % 2) return pb_fail(err, "frequency usage: d_head %d is odd", dh);
    if (pb_model_forward_inspect(m, b, err)) return -1;
    int L = m->cfg.layers, B = b->B, T = b->T;
    int *pa = malloc(sizeof(int) * (size_t)np * 2);
    if (!pa) return pb_fail(err, "frequency usage: out of memory");
    int *pb = pa + np;
    memset(U, 0, sizeof(double) * (size_t)L * H * np);
    for (int l = 0; l < L; l++) {
        /* each layer's encoding's own rotary layout */
        pb_encoding_pair_dims(pb_model_layer_encoding(m, l, NULL), pa, pb);
        for (int r = 0; r < B; r++) {
            const float *qkv = layer_qkv(m, l, r) + (size_t)which * d;
            for (int t = 0; t < T; t++)
                for (int h = 0; h < H; h++) {
                    const float *x = qkv + (size_t)t * 3 * d + h * dh;
                    double *u = U + ((size_t)l * H + h) * np;
                    for (int k = 0; k < np; k++) u[k] += hypot(x[pa[k]], x[pb[k]]);
                }
        }
    }
    for (size_t i = 0; i < (size_t)L * H * np; i++) U[i] /= (double)B * T;
    free(pa);
    return 0;
}
