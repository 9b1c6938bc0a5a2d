/* 2D separability (see metrics_2d.h). */
#include "metrics_2d.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_score.h"

/* Random coordinate c with c and c + delta both in [0, G). */
static int base_coord(int G, int delta, gsl_rng *rng) {
    int lo = delta < 0 ? -delta : 0, hi = delta > 0 ? G - delta : G;
    return lo + (int)gsl_rng_uniform_int(rng, (unsigned long)(hi - lo));
}

int pb_metric_separability(pb_encoding *e, const float *params, int grid, int max_d,
                           int bases, gsl_rng *rng, pb_sep_result *r, pb_error *err) {
    memset(r, 0, sizeof *r);
    if (e->type->pos_dims != 2)
        return pb_fail(err, "separability: encoding '%s' is 1D (needs a 2D encoding)",
                       e->type->name);
    if (max_d < 1 || grid <= max_d || bases < 2)
        return pb_fail(err, "separability: need max_d >= 1, grid > max_d and bases >= 2 "
                            "(got grid=%d max_d=%d bases=%d)", grid, max_d, bases);
    pb_pos_score c;
    if (pb_pos_score_init(&c, e, params, grid, rng, err)) return -1;
    int n = 2 * max_d + 1, H = c.H;
    double *f = calloc((size_t)n * n * H, sizeof(double));  /* [dx][dy][h] mean */
    double *s = malloc(sizeof(double) * 3 * (size_t)H);
    int rc = -1;
    if (!f || !s) {
        pb_fail(err, "separability: out of memory");
        goto done;
    }
    double *sum = s + H;  /* [2H]: sums and sums of squares at one offset */
    double within = 0.0, all_s = 0.0, all_ss = 0.0;
    long count = 0;
    for (int ix = 0; ix < n; ix++)
        for (int iy = 0; iy < n; iy++) {
            int dx = ix - max_d, dy = iy - max_d;
            double *cell = f + ((size_t)ix * n + iy) * H;
            memset(sum, 0, sizeof(double) * 2 * (size_t)H);
            for (int t = 0; t < bases; t++) {
                int b[2] = {base_coord(grid, dx, rng), base_coord(grid, dy, rng)};
                int a[2] = {b[0] + dx, b[1] + dy};
                if (pb_pos_score_eval(&c, a, b, s, err)) goto done;
                for (int h = 0; h < H; h++) {
                    sum[h] += s[h];
                    sum[H + h] += s[h] * s[h];
                    all_s += s[h];
                    all_ss += s[h] * s[h];
                    count++;
                }
            }
            for (int h = 0; h < H; h++) {
                double m = sum[h] / bases, v = sum[H + h] / bases - m * m;
                cell[h] = m;
                within += v > 0.0 ? v : 0.0;
            }
        }
    r->var_fixed = within / ((double)n * n * H);
    double mall = all_s / count;
    r->var_total = all_ss / count - mall * mall;
    if (r->var_total < 0.0) r->var_total = 0.0;
    r->rel_var = r->var_total > 0.0 ? r->var_fixed / r->var_total : 0.0;
    /* additive fit per head on the full offset grid */
    double res = 0.0, dev = 0.0;
    for (int h = 0; h < H; h++) {
        double grand = 0.0;
        for (int i = 0; i < n * n; i++) grand += f[(size_t)i * H + h];
        grand /= (double)n * n;
        for (int ix = 0; ix < n; ix++)
            for (int iy = 0; iy < n; iy++) {
                double row = 0.0, col = 0.0;
                for (int j = 0; j < n; j++) {
                    row += f[((size_t)ix * n + j) * H + h];
                    col += f[((size_t)j * n + iy) * H + h];
                }
                double v = f[((size_t)ix * n + iy) * H + h];
                double fit = row / n + col / n - grand;
                res += (v - fit) * (v - fit);
                dev += (v - grand) * (v - grand);
            }
    }
    r->split_err = dev > 0.0 ? sqrt(res / dev) : 0.0;
    rc = 0;
done:
    pb_pos_score_free(&c);
    free(f);
    free(s);
    return rc;
}
