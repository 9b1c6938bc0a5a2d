/* Position score of a pair of positions (see metrics_score.h). */
#include "metrics_score.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_table.h"

static void unit_heads(float *x, int H, int dh, gsl_rng *rng) {
    for (int h = 0; h < H; h++) {
        double n2 = 0.0;
        for (int i = 0; i < dh; i++) {
            double v = gsl_ran_gaussian(rng, 1.0);
            x[h * dh + i] = (float)v;
            n2 += v * v;
        }
        float inv = (float)(1.0 / sqrt(n2 > 0 ? n2 : 1.0));
        for (int i = 0; i < dh; i++) x[h * dh + i] *= inv;
    }
}

int pb_pos_score_init(pb_pos_score *c, pb_encoding *e, const float *params, int max_pos,
                      gsl_rng *rng, pb_error *err) {
    memset(c, 0, sizeof *c);
    c->e = e;
    c->params = params;
    c->H = e->g.heads;
    c->dh = e->g.d_head;
    c->d = e->g.d;
    c->pd = e->type->pos_dims;
    if (max_pos < 1) return pb_fail(err, "position score: max_pos must be >= 1, got %d", max_pos);
    c->mem = malloc(sizeof(float) * (4 * (size_t)c->d + (size_t)c->H));
    if (!c->mem) return pb_fail(err, "position score: out of memory");
    c->q = c->mem;
    c->k = c->q + c->d;
    c->qa = c->k + c->d;
    c->kb = c->qa + c->d;  /* qa, kb adjacent: [2d] scratch for 2D tables */
    c->bias = c->kb + c->d;
    unit_heads(c->q, c->H, c->dh, rng);
    unit_heads(c->k, c->H, c->dh, rng);
    if (pb_encoding_prepare(e, max_pos, err) || pb_encoding_refresh(e, params, err)) {
        pb_pos_score_free(c);
        return -1;
    }
    if ((e->type->sites & PB_ENC_INPUT) && !(e->type->sites & PB_ENC_QK) && c->pd == 1) {
        c->n_table = max_pos;
        c->table = malloc(sizeof(float) * (size_t)max_pos * c->d);
        if (!c->table) {
            pb_pos_score_free(c);
            return pb_fail(err, "position score: out of memory for %d positions", max_pos);
        }
        if (pb_metric_table_linear(e, params, max_pos, 0, c->table, err)) {
            pb_pos_score_free(c);
            return -1;
        }
    }
    return 0;
}

int pb_pos_score_eval(pb_pos_score *c, const int *a, const int *b, double *s,
                      pb_error *err) {
    const pb_encoding_type *t = c->e->type;
    if (t->sites & PB_ENC_QK) {
        memcpy(c->qa, c->q, sizeof(float) * (size_t)c->d);
        memcpy(c->kb, c->k, sizeof(float) * (size_t)c->d);
        t->qk_forward(c->e, c->params, a, 1, 0, c->qa, c->d);
        t->qk_forward(c->e, c->params, b, 1, 1, c->kb, c->d);
        for (int h = 0; h < c->H; h++) {
            double dot = 0.0;
            for (int i = h * c->dh; i < (h + 1) * c->dh; i++) dot += (double)c->qa[i] * c->kb[i];
            s[h] = dot;
        }
    } else if (t->sites & PB_ENC_INPUT) {
        const float *pa, *pb;
        if (c->table) {
            if (a[0] >= c->n_table || b[0] >= c->n_table)
                return pb_fail(err, "position score: position beyond the prepared %d",
                               c->n_table);
            pa = c->table + (size_t)a[0] * c->d;
            pb = c->table + (size_t)b[0] * c->d;
        } else { /* 2D: a two-position sequence */
            int pos[4] = {a[0], a[1], b[0], b[1]};
            if (pb_metric_table(c->e, c->params, pos, 2, c->qa, err)) return -1;
            pa = c->qa;
            pb = c->qa + c->d;
        }
        double dot = 0.0;
        for (int i = 0; i < c->d; i++) dot += (double)pa[i] * pb[i];
        for (int h = 0; h < c->H; h++) s[h] = dot;
    } else if (t->sites & PB_ENC_BIAS) {
        t->bias_forward(c->e, c->params, a, 1, b, 1, c->bias);
        for (int h = 0; h < c->H; h++) s[h] = c->bias[h];
    } else {
        for (int h = 0; h < c->H; h++) s[h] = 0.0;
    }
    return 0;
}

void pb_pos_score_free(pb_pos_score *c) {
    free(c->mem);
    free(c->table);
    memset(c, 0, sizeof *c);
}
