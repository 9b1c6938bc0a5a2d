/* Four-term logit decomposition (see metrics_decompose.h). */
#include "metrics_decompose.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const pb_term_names[PB_N_TERMS] = {"word_word", "word_position",
                                               "position_word", "position_position"};

/* y[n] = W[n, d] x[d] (+ bias), in double */
static void matvec(double *y, const float *W, const double *x, const float *bias, int n,
                   int d) {
    for (int o = 0; o < n; o++) {
        const float *w = W + (size_t)o * d;
        double s = bias ? bias[o] : 0.0;
        for (int i = 0; i < d; i++) s += (double)w[i] * x[i];
        y[o] = s;
    }
}

typedef struct { double s[PB_N_TERMS + 1], ss[PB_N_TERMS + 1]; long n; } moments;

int pb_metric_logit_terms(pb_model *m, const pb_batch *b, pb_logit_terms *out,
                          pb_error *err) {
    const pb_encoding_type *et = m->enc.type;
    if (!pb_layer_spec_plain(&m->spec[0]))
        return pb_fail(err, "logit terms: layer 1 has a span, temperature, QK-norm or "
                            "soft-cap, which the four-term decomposition leaves out");
    if (et->sites & (PB_ENC_QK | PB_ENC_BIAS))
        return pb_fail(err, "logit terms: encoding '%s' does not add to the input; the "
                            "four-term decomposition is for additive encodings", et->name);
    int B = b->B, T = b->T, d = m->cfg.d, H = m->cfg.heads, dh = d / H, pd = b->pos_dims;
    int layer_norm = m->cfg.norm == PB_NORM_LAYER, causal = m->cfg.causal;
    const pb_params *P = &m->params;
    const float *g = P->ln1_w, *beta = layer_norm ? P->ln1_b : NULL;
    const float *Wq = P->qkv_w, *Wk = P->qkv_w + (size_t)d * d;
    const float *bq = P->qkv_b, *bk = P->qkv_b + d;
    double scale = (double)m->enc.logit_scale / sqrt((double)dh);
    int max_pos = 1;
    for (size_t i = 0; i < (size_t)B * T * pd; i++)
        if (b->pos[i] + 1 > max_pos) max_pos = b->pos[i] + 1;
    if (pb_encoding_prepare(&m->enc, max_pos, err) ||
        pb_encoding_refresh(&m->enc, m->params.enc, err))
        return -1;

    /* per sequence: pe[T,d], then hw, hp [T,d], qw, qp, kw, kp [T,d] */
    size_t td = (size_t)T * d;
    float *pe = malloc(sizeof(float) * td);
    double *mem = malloc(sizeof(double) * (6 * td + (size_t)d));
    moments *mo = calloc((size_t)H + 1, sizeof(moments));
    int rc = 0;
    if (!pe || !mem || !mo) {
        rc = pb_fail(err, "logit terms: out of memory for T = %d", T);
        goto done;
    }
    double *hw = mem, *hp = hw + td, *qw = hp + td, *qp = qw + td, *kw = qp + td,
           *kp = kw + td, *cst = kp + td;
    for (int i = 0; i < d; i++) cst[i] = beta ? beta[i] : 0.0;
    for (int r = 0; r < B; r++) {
        const int *tok = b->tokens + (size_t)r * T;
        memset(pe, 0, sizeof(float) * td);
        if (et->sites & PB_ENC_INPUT)
            et->input_forward(&m->enc, P->enc, b->pos + (size_t)r * T * pd, T, pe);
        for (int t = 0; t < T; t++) {
            const float *e = P->wte + (size_t)tok[t] * d, *p = pe + (size_t)t * d;
            double me = 0.0, mp = 0.0, var = 0.0;
            for (int i = 0; i < d; i++) {
                me += e[i];
                mp += p[i];
            }
            me /= d;
            mp /= d;
            if (!layer_norm) me = mp = 0.0;
            for (int i = 0; i < d; i++) {
                double x = (double)e[i] + p[i] - me - mp;
                var += x * x;
            }
            double rstd = 1.0 / sqrt(var / d + 1e-5);
            double *w = hw + (size_t)t * d, *ps = hp + (size_t)t * d;
            for (int i = 0; i < d; i++) {
                w[i] = (e[i] - me) * rstd * g[i];
                ps[i] = (p[i] - mp) * rstd * g[i];
            }
            /* constants: beta W^T + b (layer 0 rows 0..d-1 are q, d..2d-1 k) */
            matvec(qw + (size_t)t * d, Wq, w, bq, d, d);
            matvec(kw + (size_t)t * d, Wk, w, bk, d, d);
            matvec(qp + (size_t)t * d, Wq, ps, NULL, d, d);
            matvec(kp + (size_t)t * d, Wk, ps, NULL, d, d);
        }
        if (beta) { /* add beta W^T to the word parts */
            double *cq = malloc(sizeof(double) * 2 * (size_t)d);
            if (!cq) {
                rc = pb_fail(err, "logit terms: out of memory");
                goto done;
            }
            matvec(cq, Wq, cst, NULL, d, d);
            matvec(cq + d, Wk, cst, NULL, d, d);
            for (int t = 0; t < T; t++)
                for (int i = 0; i < d; i++) {
                    qw[(size_t)t * d + i] += cq[i];
                    kw[(size_t)t * d + i] += cq[d + i];
                }
            free(cq);
        }
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++)
                for (int j = 0; j < (causal ? i + 1 : T); j++) {
                    const double *a_w = qw + (size_t)i * d + h * dh, *a_p = qp + (size_t)i * d + h * dh;
                    const double *b_w = kw + (size_t)j * d + h * dh, *b_p = kp + (size_t)j * d + h * dh;
                    double t4[PB_N_TERMS + 1] = {0};
                    for (int c = 0; c < dh; c++) {
                        t4[PB_TERM_WW] += a_w[c] * b_w[c];
                        t4[PB_TERM_WP] += a_w[c] * b_p[c];
                        t4[PB_TERM_PW] += a_p[c] * b_w[c];
                        t4[PB_TERM_PP] += a_p[c] * b_p[c];
                    }
                    t4[PB_N_TERMS] = 0.0;
                    for (int k = 0; k < PB_N_TERMS; k++) {
                        t4[k] *= scale;
                        t4[PB_N_TERMS] += t4[k];
                    }
                    for (int which = 0; which < 2; which++) {
                        moments *mm = &mo[which ? H : h];
                        for (int k = 0; k <= PB_N_TERMS; k++) {
                            mm->s[k] += t4[k];
                            mm->ss[k] += t4[k] * t4[k];
                        }
                        mm->n++;
                    }
                }
    }
    for (int h = 0; h <= H; h++) {
        const moments *mm = &mo[h];
        pb_logit_terms *o = &out[h];
        double tot = 0.0;
        double v[PB_N_TERMS + 1];
        for (int k = 0; k <= PB_N_TERMS; k++) {
            double mean = mm->s[k] / mm->n;
            v[k] = mm->ss[k] / mm->n - mean * mean;
            if (v[k] < 0.0) v[k] = 0.0;
        }
        for (int k = 0; k < PB_N_TERMS; k++) {
            o->var[k] = v[k];
            tot += v[k];
        }
        for (int k = 0; k < PB_N_TERMS; k++) o->share[k] = tot > 0.0 ? v[k] / tot : 0.0;
        o->var_logit = v[PB_N_TERMS];
    }
done:
    free(pe);
    free(mem);
    free(mo);
    return rc;
}
