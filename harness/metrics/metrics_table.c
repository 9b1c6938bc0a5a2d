/* Per-position vectors of an encoding (see metrics_table.h). */
#include "metrics_table.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int pb_metric_table(pb_encoding *e, const float *params, const int *pos, int n,
                    float *out, pb_error *err) {
    const pb_encoding_type *t = e->type;
    int d = e->g.d, pd = t->pos_dims;
    if (n <= 0) return pb_fail(err, "encoding table: need at least one position, got %d", n);
    int max_pos = 0;
    for (long i = 0; i < (long)n * pd; i++) {
        if (pos[i] < 0) return pb_fail(err, "encoding table: negative position %d", pos[i]);
        if (pos[i] + 1 > max_pos) max_pos = pos[i] + 1;
    }
    if ((t->sites & (PB_ENC_INPUT | PB_ENC_QK)) == 0 && (t->sites & PB_ENC_BIAS))
        return pb_fail(err,
                       "encoding '%s' acts on attention logits only (a bias of position "
                       "pairs): it has no per-position vector PE(p)",
                       t->name);
    if (pb_encoding_prepare(e, max_pos, err) || pb_encoding_refresh(e, params, err)) return -1;
    memset(out, 0, sizeof(float) * (size_t)n * d);
    if (t->sites & PB_ENC_INPUT) {
        t->input_forward(e, params, pos, n, out);
    } else if (t->sites & PB_ENC_QK) {
        float u = 1.0f / sqrtf((float)e->g.d_head);
        for (size_t i = 0; i < (size_t)n * d; i++) out[i] = u;
        t->qk_forward(e, params, pos, n, 0, out, d);
    }
    return 0;
}

int pb_metric_table_linear(pb_encoding *e, const float *params, int n, int w,
                           float *out, pb_error *err) {
    int pd = e->type->pos_dims;
    if (n <= 0) return pb_fail(err, "encoding table: need at least one position, got %d", n);
    if (pd == 2 && w <= 0)
        return pb_fail(err, "encoding table: 2D encoding '%s' needs a grid width > 0",
                       e->type->name);
    int *pos = malloc(sizeof(int) * (size_t)n * pd);
    if (!pos) return pb_fail(err, "encoding table: out of memory for %d positions", n);
    for (int t = 0; t < n; t++) {
        if (pd == 1) pos[t] = t;
        else {
            pos[2 * t] = t % w;
            pos[2 * t + 1] = t / w;
        }
    }
    int rc = pb_metric_table(e, params, pos, n, out, err);
    free(pos);
    return rc;
}

int pb_metric_length_consistency(pb_encoding *e, const float *params, int n1, int n2,
                                 double *max_diff, pb_error *err) {
    if (e->type->pos_dims != 1)
        return pb_fail(err, "length consistency: '%s' is a 2D encoding (1D only)",
                       e->type->name);
    if (n1 <= 0 || n2 <= 0)
        return pb_fail(err, "length consistency: lengths must be positive (%d, %d)", n1, n2);
    int d = e->g.d, n = n1 > n2 ? n1 : n2, m = n1 < n2 ? n1 : n2;
    float *a = malloc(sizeof(float) * (size_t)n1 * d);
    float *b = malloc(sizeof(float) * (size_t)n2 * d);
    int rc = -1;
    if (!a || !b) {
        pb_fail(err, "length consistency: out of memory for %d positions", n);
        goto done;
    }
    if (pb_metric_table_linear(e, params, n1, 0, a, err) ||
        pb_metric_table_linear(e, params, n2, 0, b, err))
        goto done;
    double mx = 0.0;
    for (size_t i = 0; i < (size_t)m * d; i++) {
        double diff = fabs((double)a[i] - (double)b[i]);
        if (diff > mx || diff != diff) mx = diff;
    }
    *max_diff = mx;
    rc = 0;
done:
    free(a);
    free(b);
    return rc;
}
