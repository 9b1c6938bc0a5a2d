/* RoFormer long-term decay bound (see metrics_decay.h). */
#include "metrics_decay.h"

#include <math.h>

double pb_metric_decay_bound(int d, double base, double r) {
    int half = d / 2;
    if (half < 1) return NAN;
    double re = 0.0, im = 0.0, total = 0.0;
    for (int i = 0; i < half; i++) {
        double a = r * pow(base, -2.0 * i / d);
        re += cos(a);
        im += sin(a);
        total += hypot(re, im); /* |S_{i+1}| */
    }
    return total / half;
}
