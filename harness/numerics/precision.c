/* Precision sites: which format, if any, each named site rounds to.
 *
 * Stochastic rounding at a site draws from a stream derived from p->stream
 * and the site, so two sites never share random bits. p is read-only here,
 * so the caller advances p->stream (e.g. once per training step) to get
 * fresh draws; within one step, two tensors rounded at the same site share
 * the random bits at equal indices. */
#include "precision.h"

#include <stdio.h>
#include <string.h>

const char *const pb_site_names[PB_SITE_COUNT] = {
    "positions", "angles", "tables", "qk_pre",  "qk_post",   "logits",
    "probs",     "values", "activations", "weights", "gradients",
};

/* fp32 with every default: rounding would change nothing. */
static int is_noop(const pb_format *f) {
    return f->is_identity && f->rounding == PB_ROUND_RNE && f->subnormals &&
           f->overflow == PB_OVERFLOW_INF;
}

void pb_precision_init(pb_precision *p) {
    memset(p, 0, sizeof *p);
    for (int s = 0; s < PB_SITE_COUNT; s++) pb_format_parse("fp32", &p->format[s], NULL);
}

int pb_precision_set(pb_precision *p, const char *site, const pb_format *f,
                     pb_error *err) {
    for (int s = 0; s < PB_SITE_COUNT; s++) {
        if (!site || strcmp(site, pb_site_names[s]) != 0) continue;
        if (f) p->format[s] = *f;
        else pb_format_parse("fp32", &p->format[s], NULL);
        p->active[s] = !is_noop(&p->format[s]);
        return 0;
    }
    char valid[256] = "";
    size_t used = 0;
    for (int s = 0; s < PB_SITE_COUNT && used < sizeof valid; s++)
        used += (size_t)snprintf(valid + used, sizeof valid - used, "%s%s", s ? ", " : "",
                                 pb_site_names[s]);
    return pb_fail(err, "unknown precision site '%s'; valid sites: %s",
                   site ? site : "(null)", valid);
}

int pb_precision_any(const pb_precision *p) {
    if (!p) return 0;
    for (int s = 0; s < PB_SITE_COUNT; s++)
        if (p->active[s]) return 1;
    return 0;
}

static uint64_t site_stream(const pb_precision *p, pb_site s) {
    uint64_t z = p->stream + 0x9e3779b97f4a7c15ull * (uint64_t)(s + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void pb_round_site(const pb_precision *p, pb_site s, float *x, size_t n) {
    pb_round_site_at(p, s, x, n, 0);
}

void pb_round_site_at(const pb_precision *p, pb_site s, float *x, size_t n,
                      uint64_t index0) {
    if (!p || (unsigned)s >= PB_SITE_COUNT || !p->active[s]) return;
    pb_format_round_array_at(&p->format[s], x, n, site_stream(p, s), index0);
}

float pb_round_site1(const pb_precision *p, pb_site s, float x) {
    if (!p || (unsigned)s >= PB_SITE_COUNT || !p->active[s]) return x;
    /* No index is given, so the value's own bits stand in for it: scalars
     * rounded one by one at a site still get decorrelated draws. */
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    return pb_format_round(&p->format[s], x, site_stream(p, s), bits);
}
