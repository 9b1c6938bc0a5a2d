#include "../core/parallel.h"
#include "adamw.h"

#include "../core/kernels.h"

#include <float.h>
#include <omp.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void pb_adamw_defaults(pb_adamw *o) {
    o->lr = 1e-3f;
    o->b1 = 0.9f;
    o->b2 = 0.999f;
    o->eps = 1e-8f;
    o->wd = 0.01f;
    o->clip = 1.0f;
    o->min_lr_ratio = 0.1f;
    o->warmup = 0;
    o->steps = 1;
}

static float *field(pb_adamw *o, const char *name) {
    if (!strcmp(name, "lr")) return &o->lr;
    if (!strcmp(name, "wd")) return &o->wd;
    if (!strcmp(name, "clip")) return &o->clip;
    if (!strcmp(name, "b1")) return &o->b1;
    if (!strcmp(name, "b2")) return &o->b2;
    if (!strcmp(name, "eps")) return &o->eps;
    if (!strcmp(name, "min_lr_ratio")) return &o->min_lr_ratio;
    return NULL;
}

int pb_adamw_set(pb_adamw *o, const char *name, double v, pb_error *err) {
    float *f = field(o, name);
    if (!f) return pb_fail(err, "optimiser: unknown option '%s'", name);
    if (!isfinite(v))
        return pb_fail(err, "optimiser: %s must be a finite number, got %s", name,
                       isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
    if (fabs(v) > FLT_MAX)
        return pb_fail(err, "optimiser: %s=%g is beyond float32 range", name, v);
    if (v != 0 && (float)v == 0.0f)
        return pb_fail(err, "optimiser: %s=%g rounds to 0 in float32 (smallest is %g)",
                       name, v, (double)FLT_TRUE_MIN);
    *f = (float)v;
    return 0;
}

int pb_adamw_check(const pb_adamw *o, pb_error *err) {
    /* By name first: NaN fails every comparison below, so without this
     * clip=nan would silently disable clipping and wd=nan would surface
     * later as a NaN loss blamed on lr. */
    const char *const names[] = {"lr", "wd", "clip", "b1", "b2", "eps", "min_lr_ratio"};
    const float vals[] = {o->lr, o->wd, o->clip, o->b1, o->b2, o->eps, o->min_lr_ratio};
    for (int i = 0; i < 7; i++)
        if (!isfinite(vals[i]))
            return pb_fail(err, "optimiser: %s must be a finite number, got %s", names[i],
                           isnan(vals[i]) ? "nan" : vals[i] > 0 ? "inf" : "-inf");
    if (!(o->lr > 0))
        return pb_fail(err, "optimiser: lr must be positive, got %g", o->lr);
    /* Adam moves each parameter by about lr per step: beyond this every
     * weight overflows within a step or two (lr=1e30 gave NaN logits). */
    if (o->lr > PB_ADAMW_MAX_LR)
        return pb_fail(err, "optimiser: lr must be at most %g (Adam moves each parameter by "
                       "about lr per step), got %g", PB_ADAMW_MAX_LR, o->lr);
    if (!(o->b1 >= 0 && o->b1 < 1) || !(o->b2 >= 0 && o->b2 < 1))
        return pb_fail(err, "optimiser: betas must be in [0, 1), got %g, %g", o->b1, o->b2);
    if (!(o->eps > 0))
        return pb_fail(err, "optimiser: eps must be positive, got %g", o->eps);
    if (!(o->wd >= 0))
        return pb_fail(err, "optimiser: wd must be >= 0, got %g", o->wd);
    if (!(o->clip >= 0))
        return pb_fail(err, "optimiser: clip must be >= 0 (0: no clipping), got %g", o->clip);
    if (o->steps <= 0 || o->warmup < 0)
        return pb_fail(err, "optimiser: steps must be positive and warmup >= 0 "
                            "(steps=%d warmup=%d)", o->steps, o->warmup);
    if (!(o->min_lr_ratio >= 0 && o->min_lr_ratio <= 1))
        return pb_fail(err, "optimiser: min_lr_ratio must be in [0, 1], got %g",
                       o->min_lr_ratio);
    return 0;
}

float pb_adamw_lr(const pb_adamw *o, int t) {
    if (t < o->warmup) return o->lr * (float)(t + 1) / (float)o->warmup;
    int span = o->steps - o->warmup;
    double progress = (double)(t - o->warmup) / (span > 1 ? span : 1);
    if (progress > 1) progress = 1;
    double r = o->min_lr_ratio;
    return (float)(o->lr * (r + (1 - r) * 0.5 * (1 + cos(M_PI * progress))));
}

int pb_adamw_reset(pb_model *m, pb_error *err) {
    if (!m->m_mem) m->m_mem = malloc(m->n_params * sizeof(float));
    if (!m->v_mem) m->v_mem = malloc(m->n_params * sizeof(float));
    if (!m->m_mem || !m->v_mem)
        return pb_fail(err, "optimiser: out of memory for %zu parameters", m->n_params);
    memset(m->m_mem, 0, m->n_params * sizeof(float));
    memset(m->v_mem, 0, m->n_params * sizeof(float));
    m->opt_step = 0;
    return 0;
}

/* Share t of nt of n elements, starting at a multiple of 16 (whole
 * vectors): fixed by sizes and the thread count. */
static size_t share(size_t n, int nt, int t) {
    return t == nt ? n : n * (size_t)t / (size_t)nt / 16 * 16;
}

float pb_adamw_step(pb_model *m, const pb_adamw *o) {
    const pb_kernels *k = pb_kernels_active();
    double ss = k->sum_squares(m->grad_mem, m->n_params); /* serial: a fixed order */
    float norm = (float)sqrt(ss);
    float gscale = (o->clip > 0 && norm > o->clip) ? o->clip / (norm + 1e-6f) : 1.0f;
    int t = m->opt_step++;
    float lr = pb_adamw_lr(o, t);
    pb_adamw_coef c = {.gscale = gscale, .lr = lr, .b1 = o->b1, .b2 = o->b2,
                       .bc1 = 1.0f - powf(o->b1, (float)(t + 1)),
                       .bc2 = 1.0f - powf(o->b2, (float)(t + 1)), .eps = o->eps};
    size_t off = 0;
    for (int i = 0; i < PB_N_PARAM_TENSORS; i++) {
        size_t n = m->shapes[i].size;
        c.decay = m->shapes[i].decay ? lr * o->wd : 0.0f;
        float *p = m->param_mem + off, *g = m->grad_mem + off;
        float *mm = m->m_mem + off, *vv = m->v_mem + off;
#pragma omp parallel if ((long)n >= PB_PAR_MIN_ELEMS)
        {
            int nt = omp_get_num_threads(), th = omp_get_thread_num();
            size_t lo = share(n, nt, th), hi = share(n, nt, th + 1);
            k->adamw(p + lo, g + lo, mm + lo, vv + lo, hi - lo, &c);
        }
        off += n;
    }
    return norm;
}
