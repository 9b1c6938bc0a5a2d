/* Distances between table rows (see metrics_distance.h). */
#include "metrics_distance.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double pb_metric_min_distance(const float *x, int n, int w, int *ip, int *iq) {
    double best = INFINITY;
    int bp = -1, bq = -1;
#pragma omp parallel
    {
        double my = INFINITY;
        int mp = -1, mq = -1;
#pragma omp for schedule(dynamic, 16)
        for (int p = 0; p < n; p++) {
            const float *a = x + (size_t)p * w;
            for (int q = p + 1; q < n; q++) {
                const float *b = x + (size_t)q * w;
                double s = 0.0;
                for (int i = 0; i < w; i++) {
                    double t = (double)a[i] - (double)b[i];
                    s += t * t;
                }
                if (s < my) {
                    my = s;
                    mp = p;
                    mq = q;
                }
            }
        }
#pragma omp critical
        /* ties go to the smallest pair, so the answer does not depend on
         * the thread count */
        if (my < best || (my == best && mp >= 0 && (mp < bp || (mp == bp && mq < bq)))) {
            best = my;
            bp = mp;
            bq = mq;
        }
    }
    if (ip) *ip = bp;
    if (iq) *iq = bq;
    return sqrt(best);
}

double pb_metric_nearest_to(const float *x, int n, int w, int r, int gap, int *ip) {
    const float *a = x + (size_t)r * w;
    double best = INFINITY;
    int bp = -1;
    for (int p = 0; p < n; p++) {
        if (p - r < gap && r - p < gap) continue;
        const float *b = x + (size_t)p * w;
        double s = 0.0;
        for (int i = 0; i < w; i++) {
            double t = (double)a[i] - (double)b[i];
            s += t * t;
        }
        if (s < best) {
            best = s;
            bp = p;
        }
    }
    if (ip) *ip = bp;
    return sqrt(best);
}

typedef struct {
    const float *row;
    int w;
} row_ref;

static int cmp_rows(const void *pa, const void *pb) {
    const row_ref *a = pa, *b = pb;
    return memcmp(a->row, b->row, sizeof(float) * (size_t)a->w);
}

long pb_metric_distinct_rows(const float *x, int n, int w, pb_error *err) {
    if (n <= 0) return 0;
    float *copy = malloc(sizeof(float) * (size_t)n * w);
    row_ref *refs = malloc(sizeof(row_ref) * (size_t)n);
    if (!copy || !refs) {
        free(copy);
        free(refs);
        return pb_fail(err, "distinct rows: out of memory for %d rows", n);
    }
    for (size_t i = 0; i < (size_t)n * w; i++) copy[i] = x[i] == 0.0f ? 0.0f : x[i];
    for (int p = 0; p < n; p++) refs[p] = (row_ref){copy + (size_t)p * w, w};
    qsort(refs, (size_t)n, sizeof *refs, cmp_rows);
    long distinct = 1;
    for (int p = 1; p < n; p++) distinct += cmp_rows(&refs[p - 1], &refs[p]) != 0;
    free(copy);
    free(refs);
    return distinct;
}

void pb_metric_steps(const float *x, int n, int w, double *step) {
    for (int p = 0; p + 1 < n; p++) {
        const float *a = x + (size_t)p * w, *b = a + w;
        double s = 0.0;
        for (int i = 0; i < w; i++) {
            double t = (double)b[i] - (double)a[i];
            s += t * t;
        }
        step[p] = sqrt(s);
    }
}
