/* Static low-precision metrics of rotary angles (see metrics_rope_precision.h). */
#include "metrics_rope_precision.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_distance.h"

static double fmt(const pb_format *f, double x, uint64_t index) {
    return (double)pb_format_round(f, (float)x, 0x5eed, index);
}

static double wrap(double x) {
    return x - 2.0 * M_PI * nearbyint(x / (2.0 * M_PI));
}

static int check_site(pb_site site, int allow_qk, const char *what, pb_error *err) {
    if (site == PB_SITE_POSITIONS || site == PB_SITE_ANGLES || site == PB_SITE_TABLES ||
        (allow_qk && site == PB_SITE_QK_POST))
        return 0;
    return pb_fail(err, "%s: site '%s' does not apply (valid: positions, angles, tables%s)",
                   what, (unsigned)site < PB_SITE_COUNT ? pb_site_names[site] : "?",
                   allow_qk ? ", qk_post" : "");
}

int pb_rope_thetas(int d_head, double base, double *theta, pb_error *err) {
    if (d_head < 2 || d_head % 2)
        return pb_fail(err, "rope frequencies: d_head must be even and >= 2, got %d", d_head);
    if (!(base > 0.0))
        return pb_fail(err, "rope frequencies: base must be > 0, got %g", base);
    for (int k = 0; k < d_head / 2; k++) theta[k] = pow(base, -2.0 * k / d_head);
    return 0;
}

/* cos and sin of the angle p theta_k as the site leaves them. */
static void site_cos_sin(const pb_format *f, pb_site site, double p, double theta,
                         uint64_t index, double *c, double *s) {
    double a;
    if (site == PB_SITE_POSITIONS) a = fmt(f, p, 0) * theta;
    else if (site == PB_SITE_ANGLES) a = fmt(f, p * theta, index);
    else a = p * theta;
    *c = cos(a);
    *s = sin(a);
    if (site == PB_SITE_TABLES) {
        *c = fmt(f, *c, 2 * index);
        *s = fmt(f, *s, 2 * index + 1);
    }
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static long distinct_values(float *v, int n) {
    for (int i = 0; i < n; i++) v[i] = v[i] == 0.0f ? 0.0f : v[i];
    qsort(v, (size_t)n, sizeof *v, cmp_float);
    long c = n > 0;
    for (int i = 1; i < n; i++) c += memcmp(&v[i], &v[i - 1], sizeof(float)) != 0;
    return c;
}

int pb_metric_rope_distinct(const pb_format *f, pb_site site, const double *theta,
                            int n, int L, long *count, long *per_freq, pb_error *err) {
    if (check_site(site, 0, "distinct positions", err)) return -1;
    if (L < 1 || n < 1)
        return pb_fail(err, "distinct positions: need L >= 1 and >= 1 frequency");
    int w = site == PB_SITE_POSITIONS ? 1 : site == PB_SITE_ANGLES ? n : 2 * n;
    float *x = malloc(sizeof(float) * (size_t)L * w);
    float *col = malloc(sizeof(float) * (size_t)L);
    if (!x || !col) {
        free(x);
        free(col);
        return pb_fail(err, "distinct positions: out of memory for L = %d", L);
    }
    for (int p = 0; p < L; p++) {
        float *row = x + (size_t)p * w;
        if (site == PB_SITE_POSITIONS) {
            row[0] = (float)fmt(f, p, 0);
            continue;
        }
        for (int k = 0; k < n; k++) {
            uint64_t idx = (uint64_t)p * n + k;
            if (site == PB_SITE_ANGLES) {
                row[k] = (float)fmt(f, p * theta[k], idx);
            } else {
                double c, s;
                site_cos_sin(f, site, p, theta[k], idx, &c, &s);
                row[2 * k] = (float)c;
                row[2 * k + 1] = (float)s;
            }
        }
    }
    long total = pb_metric_distinct_rows(x, L, w, err);
    int rc = total < 0 ? -1 : 0;
    if (!rc) *count = total;
    for (int k = 0; !rc && per_freq && k < n; k++) {
        if (site == PB_SITE_POSITIONS) {
            per_freq[k] = total;
        } else if (site == PB_SITE_ANGLES) {
            for (int p = 0; p < L; p++) col[p] = x[(size_t)p * w + k];
            per_freq[k] = distinct_values(col, L);
        } else {
            /* a (cos, sin) pair: distinct pairs = distinct rows of width 2 */
            float *pair = malloc(sizeof(float) * 2 * (size_t)L);
            if (!pair) {
                rc = pb_fail(err, "distinct positions: out of memory");
                break;
            }
            for (int p = 0; p < L; p++) {
                pair[2 * p] = x[(size_t)p * w + 2 * k];
                pair[2 * p + 1] = x[(size_t)p * w + 2 * k + 1];
            }
            per_freq[k] = pb_metric_distinct_rows(pair, L, 2, err);
            free(pair);
            if (per_freq[k] < 0) rc = -1;
        }
    }
    free(x);
    free(col);
    return rc;
}

int pb_metric_rope_phase_error(const pb_format *f, pb_site site, const double *theta,
                               int n, int L, double *max_err, double *per_freq,
                               double *per_pos, pb_error *err) {
    if (check_site(site, 0, "phase error", err)) return -1;
    if (L < 1 || n < 1) return pb_fail(err, "phase error: need L >= 1 and >= 1 frequency");
    if (per_freq) memset(per_freq, 0, sizeof(double) * (size_t)n);
    double mx = 0.0;
    for (int p = 0; p < L; p++) {
        double row_max = 0.0;
        for (int k = 0; k < n; k++) {
            double exact = p * theta[k], used;
            uint64_t idx = (uint64_t)p * n + k;
            if (site == PB_SITE_POSITIONS) used = fmt(f, p, 0) * theta[k];
            else if (site == PB_SITE_ANGLES) used = fmt(f, exact, idx);
            else {
                double c, s;
                site_cos_sin(f, site, p, theta[k], idx, &c, &s);
                used = atan2(s, c);
            }
            double e = fabs(wrap(used - exact));
            if (e != e) e = INFINITY; /* an overflowed angle has no phase */
            if (e > row_max) row_max = e;
            if (per_freq && e > per_freq[k]) per_freq[k] = e;
        }
        if (per_pos) per_pos[p] = row_max;
        if (row_max > mx) mx = row_max;
    }
    *max_err = mx;
    return 0;
}

/* Rotate interleaved pairs of x[2n] by the site's angle for position p. */
static void rotate(const pb_format *f, pb_site site, const double *theta, int n, double p,
                   const double *x, double *out) {
    for (int k = 0; k < n; k++) {
        double c, s;
        if (site == PB_SITE_QK_POST) {
            c = cos(p * theta[k]);
            s = sin(p * theta[k]);
        } else {
            site_cos_sin(f, site, p, theta[k], (uint64_t)p * n + k, &c, &s);
        }
        double a = x[2 * k], b = x[2 * k + 1];
        out[2 * k] = a * c - b * s;
        out[2 * k + 1] = a * s + b * c;
    }
    if (site == PB_SITE_QK_POST)
        for (int i = 0; i < 2 * n; i++) out[i] = fmt(f, out[i], (uint64_t)p * 2 * n + i);
}

int pb_metric_rope_drift(const pb_format *f, pb_site site, const double *theta, int n,
                         int offset, const int *pos, int np, int samples, gsl_rng *rng,
                         double *dev, pb_error *err) {
    if (check_site(site, 1, "rope drift", err)) return -1;
    if (n < 1 || n > 4096) return pb_fail(err, "rope drift: 1..4096 frequencies, got %d", n);
    if (samples < 1) return pb_fail(err, "rope drift: samples must be >= 1, got %d", samples);
    for (int i = 0; i < np; i++)
        if (pos[i] < 0) return pb_fail(err, "rope drift: negative position %d", pos[i]);
    double *mem = malloc(sizeof(double) * 8 * (size_t)n);
    if (!mem) return pb_fail(err, "rope drift: out of memory");
    double *q = mem, *k = q + 2 * n, *qr = k + 2 * n, *kr = qr + 2 * n;
    for (int i = 0; i < np; i++) dev[i] = 0.0;
    for (int s = 0; s < samples; s++) {
        double nq = 0.0, nk = 0.0;
        for (int i = 0; i < 2 * n; i++) {
            q[i] = gsl_ran_gaussian(rng, 1.0);
            k[i] = gsl_ran_gaussian(rng, 1.0);
            nq += q[i] * q[i];
            nk += k[i] * k[i];
        }
        for (int i = 0; i < 2 * n; i++) {
            q[i] /= sqrt(nq);
            k[i] /= sqrt(nk);
        }
        /* exact: q^T R(-m theta) k, pair by pair */
        double exact = 0.0;
        for (int j = 0; j < n; j++) {
            double qa = q[2 * j], qb = q[2 * j + 1], ka = k[2 * j], kb = k[2 * j + 1];
            double phi = (double)offset * theta[j];
            exact += cos(phi) * (qa * ka + qb * kb) - sin(phi) * (qb * ka - qa * kb);
        }
        for (int i = 0; i < np; i++) {
            rotate(f, site, theta, n, (double)pos[i] + offset, q, qr);
            rotate(f, site, theta, n, (double)pos[i], k, kr);
            double sc = 0.0;
            for (int j = 0; j < 2 * n; j++) sc += qr[j] * kr[j];
            double e = fabs(sc - exact);
            dev[i] += (e == e ? e : INFINITY) / samples;
        }
    }
    free(mem);
    return 0;
}
