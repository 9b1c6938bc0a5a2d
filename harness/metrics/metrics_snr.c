/* SNR(p) of additive encodings (see metrics_snr.h). */
#include "metrics_snr.h"

#include <math.h>
#include <stddef.h>

static double row_norm(const float *r, int w) {
    double s = 0.0;
    for (int i = 0; i < w; i++) s += (double)r[i] * r[i];
    return sqrt(s);
}

void pb_metric_snr(const float *table, int n, int w, double e_norm, double *snr) {
    for (int p = 0; p < n; p++) {
        double pn = row_norm(table + (size_t)p * w, w);
        snr[p] = pn > 0.0 ? e_norm / pn : INFINITY;
    }
}

double pb_metric_mean_row_norm(const float *x, int n, int w) {
    if (n <= 0) return 0.0;
    double s = 0.0;
    for (int p = 0; p < n; p++) s += row_norm(x + (size_t)p * w, w);
    return s / n;
}
