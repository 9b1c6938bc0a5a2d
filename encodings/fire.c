/* FIRE (Li et al. 2023): a learned function of a progressively normalised
 * log distance.
 *
 *   bias[:, i, j] = f( psi(r) / (psi(max(L, p_i)) + eps) )
 *   psi(x) = ln(|c| x + 1),  L = |l| * init_L,  eps = 1e-6
 *   r = max(p_i - p_j, 0) (causal; masked pairs j > i get r = 0)
 *   r = |p_i - p_j|       (bidirectional)
 *   f(z) = W2 relu(W1 z + b1) + b2       an MLP 1 -> hidden -> H
 *
 * As in the paper's reference code, c and L are learned, kept positive by
 * absolute values, and L is a learned multiplier l (init 1) times the fixed
 * init_L, so Adam's step size suits it. The paper uses init_c = 0.1 and
 * init_L = 512 at training length 2048; the default init_L = max_len / 4
 * keeps that ratio.
 *
 * Parameters (n = 2 hidden + H hidden + H + 2), in this order:
 *   W1[hidden]     first layer weight (torch Linear(1, hidden).weight[:, 0])
 *   b1[hidden]
 *   W2[H][hidden]  second layer weight (torch Linear(hidden, H).weight)
 *   b2[H]
 *   c              psi's scale
 *   l              threshold multiplier
 * init: W1, b1 ~ U(-1, 1), W2, b2 ~ U(-1/sqrt(hidden), 1/sqrt(hidden))
 * (torch.nn.Linear's default), c = init_c, l = 1.
 *
 * Speed: f is piecewise linear in the scalar z. Unit k switches at the kink
 * t_k = -b1[k] / W1[k]; between consecutive kinks the active units are fixed,
 * so on segment s, f_h(z) = A[s][h] z + C[s][h]. A pair then costs a binary
 * search and H multiply-adds instead of hidden (H + 1), and backward gathers
 * per-segment sums before touching the MLP weights. (A pair exactly on a
 * kink may count the unit as active where relu'(0) = 0 would not; the value
 * is the same and such pairs have measure zero.)
 *
 * Computed in double. Precision: positions are rounded at
 * PB_SITE_POSITIONS, the finished bias at PB_SITE_TABLES (straight-through). */
#include "encoding.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FIRE_MAX_HIDDEN 1024
#define FIRE_MAX_HEADS 1024
#define FIRE_EPS 1e-6

/* f on each linear piece: segment s covers (kink[s-1], kink[s]]. */
typedef struct {
    int n_kinks;
    double *kink;          /* [hidden] ascending, first n_kinks used */
    unsigned char *active; /* [(hidden + 1) * hidden] unit k active on segment s */
    double *slope, *icpt;  /* [(hidden + 1) * H] A[s][h], C[s][h] */
} fire_segments;

typedef struct {
    int hidden;
    double init_c, init_L;
    /* backward scratch (backward runs one call at a time) */
    fire_segments seg;
    double *sum_gz, *sum_g; /* [(hidden + 1) * H] per segment: sum go z, sum go */
    double *grad;           /* [n_params] */
} fire_state;

/* The parameter block, read. */
typedef struct {
    const float *w1, *b1, *w2, *b2;
    double c, L;   /* |c|, L = |l| init_L */
    double sc, sl; /* sign(c), sign(l) */
} fire_view;

static const char *const fire_options[] = {"hidden", "init_c", "init_L", NULL};

static size_t segments_bytes(int hid, int H) {
    return sizeof(double) * ((size_t)hid + 2 * (size_t)(hid + 1) * H) +
           (size_t)(hid + 1) * hid;
}

/* Point the arrays into one block of segments_bytes(). */
static void segments_place(fire_segments *sg, void *block, int hid, int H) {
    double *d = block;
    sg->kink = d;
    sg->slope = d + hid;
    sg->icpt = sg->slope + (size_t)(hid + 1) * H;
    sg->active = (unsigned char *)(sg->icpt + (size_t)(hid + 1) * H);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void segments_fill(fire_segments *sg, const fire_view *v, int hid, int H) {
    int n = 0;
    for (int k = 0; k < hid; k++)
        if (v->w1[k] != 0) sg->kink[n++] = -(double)v->b1[k] / v->w1[k];
    qsort(sg->kink, (size_t)n, sizeof *sg->kink, cmp_double);
    sg->n_kinks = n;
    for (int s = 0; s <= n; s++) {
        /* a point inside the segment decides which units are on */
        double z;
        if (n == 0) z = 0;
        else if (s == 0) z = sg->kink[0] - fmax(1.0, fabs(sg->kink[0]));
        else if (s == n) z = sg->kink[n - 1] + fmax(1.0, fabs(sg->kink[n - 1]));
        else z = 0.5 * (sg->kink[s - 1] + sg->kink[s]);
        unsigned char *on = sg->active + (size_t)s * hid;
        for (int k = 0; k < hid; k++) on[k] = v->w1[k] * z + v->b1[k] > 0;
        for (int h = 0; h < H; h++) {
            const float *w2h = v->w2 + (size_t)h * hid;
            double a = 0, c = v->b2[h];
            for (int k = 0; k < hid; k++)
                if (on[k]) {
                    a += (double)w2h[k] * v->w1[k];
                    c += (double)w2h[k] * v->b1[k];
                }
            sg->slope[(size_t)s * H + h] = a;
            sg->icpt[(size_t)s * H + h] = c;
        }
    }
}

/* Number of kinks below z: the segment z falls in. */
static int segment_of(const fire_segments *sg, double z) {
    int lo = 0, hi = sg->n_kinks;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (sg->kink[mid] < z) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static int fire_create(pb_encoding *e, const pb_opts *o, pb_error *err) {
    fire_state *s = calloc(1, sizeof *s);
    if (!s) return pb_fail(err, "fire: out of memory");
    e->state = s;
    int H = e->g.heads;
    if (H < 1 || H > FIRE_MAX_HEADS)
        return pb_fail(err, "fire: heads=%d must be in [1, %d]", H, FIRE_MAX_HEADS);
    double dflt_L = e->g.max_len >= 4 ? e->g.max_len / 4.0 : 1.0;
    if (pb_opts_int(o, "hidden", 32, &s->hidden, "encoding 'fire'", err)) return -1;
    if (pb_opts_num(o, "init_c", 0.1, &s->init_c, "encoding 'fire'", err)) return -1;
    if (pb_opts_num(o, "init_L", dflt_L, &s->init_L, "encoding 'fire'", err)) return -1;
    if (s->hidden < 1 || s->hidden > FIRE_MAX_HIDDEN)
        return pb_fail(err, "fire: option hidden=%d must be in [1, %d]", s->hidden,
                       FIRE_MAX_HIDDEN);
    if (!(s->init_c > 0) || isinf(s->init_c))
        return pb_fail(err, "fire: option init_c=%g must be a positive number", s->init_c);
    if (!(s->init_L > 0) || isinf(s->init_L))
        return pb_fail(err, "fire: option init_L=%g must be a positive number", s->init_L);
    int hid = s->hidden;
    e->n_params = 2 * hid + H * hid + H + 2;
    void *block = malloc(segments_bytes(hid, H));
    s->sum_gz = malloc(sizeof(double) * 2 * (size_t)(hid + 1) * H);
    s->grad = malloc((size_t)e->n_params * sizeof *s->grad);
    if (!block || !s->sum_gz || !s->grad) {
        free(block);
        return pb_fail(err, "fire: out of memory");
    }
    segments_place(&s->seg, block, hid, H);
    s->sum_g = s->sum_gz + (size_t)(hid + 1) * H;
    return 0;
}

static void fire_destroy(pb_encoding *e) {
    fire_state *s = e->state;
    if (s) {
        free(s->seg.kink);
        free(s->sum_gz);
        free(s->grad);
    }
    free(s);
    e->state = NULL;
}

static void fire_init_params(const pb_encoding *e, float *params, gsl_rng *rng) {
    const fire_state *s = e->state;
    int n1 = 2 * s->hidden, n2 = e->g.heads * s->hidden + e->g.heads;
    double bound2 = 1.0 / sqrt((double)s->hidden);
    for (int i = 0; i < n1; i++) params[i] = (float)(2.0 * gsl_rng_uniform(rng) - 1.0);
    for (int i = 0; i < n2; i++)
        params[n1 + i] = (float)((2.0 * gsl_rng_uniform(rng) - 1.0) * bound2);
    params[n1 + n2] = (float)s->init_c;
    params[n1 + n2 + 1] = 1.0f;
}

static double sign_of(double v) {
    return (v > 0) - (v < 0);
}

static fire_view fire_view_of(const pb_encoding *e, const float *params) {
    const fire_state *s = e->state;
    int hid = s->hidden, H = e->g.heads;
    fire_view v;
    v.w1 = params;
    v.b1 = params + hid;
    v.w2 = params + 2 * hid;
    v.b2 = v.w2 + (size_t)H * hid;
    double c = v.b2[H], l = v.b2[H + 1];
    v.c = fabs(c);
    v.sc = sign_of(c);
    v.L = fabs(l) * s->init_L;
    v.sl = sign_of(l);
    return v;
}

/* The query row's normaliser: m = max(L, p_i), den = psi(m) + eps. */
typedef struct {
    double m, den;
    double dm_dL; /* 1 when L wins, 0.5 on a tie (as torch.maximum), else 0 */
} fire_row;

static fire_row fire_row_of(const fire_view *v, float pq) {
    fire_row r;
    r.m = v->L > pq ? v->L : pq;
    r.dm_dL = v->L > pq ? 1.0 : v->L == pq ? 0.5 : 0.0;
    r.den = log1p(v->c * r.m) + FIRE_EPS;
    return r;
}

static double fire_distance(const pb_encoding *e, float pq, float pk) {
    double d = (double)pq - (double)pk;
    return e->g.causal ? (d > 0 ? d : 0) : fabs(d);
}

/* bias[H][nq][nk] */
static void fire_bias_forward(const pb_encoding *e, const float *params,
                              const int *qpos, int nq, const int *kpos, int nk,
                              float *bias) {
    const fire_state *s = e->state;
    int hid = s->hidden, H = e->g.heads;
    fire_view v = fire_view_of(e, params);
    size_t plane = (size_t)nq * nk;
    /* forward may run in several threads at once, so the tables are per
     * call; without memory for them the bias is NaN (the hook cannot fail) */
    void *block = malloc(segments_bytes(hid, H));
    fire_segments sg;
    if (block) {
        segments_place(&sg, block, hid, H);
        segments_fill(&sg, &v, hid, H);
    }
    for (int a = 0; a < nq; a++) {
        float pq = pb_round_site1(e->prec, PB_SITE_POSITIONS, (float)qpos[a]);
        fire_row row = fire_row_of(&v, pq);
        for (int b = 0; b < nk; b++) {
            float pk = pb_round_site1(e->prec, PB_SITE_POSITIONS, (float)kpos[b]);
            double z = log1p(v.c * fire_distance(e, pq, pk)) / row.den;
            float *dst = bias + (size_t)a * nk + b;
            if (block) {
                size_t o = (size_t)segment_of(&sg, z) * H;
                for (int h = 0; h < H; h++)
                    dst[h * plane] = (float)(sg.slope[o + h] * z + sg.icpt[o + h]);
            } else {
                for (int h = 0; h < H; h++) dst[h * plane] = NAN; /* out of memory */
            }
        }
    }
    free(block);
    pb_round_site(e->prec, PB_SITE_TABLES, bias, (size_t)H * plane);
}

static void fire_bias_backward(const pb_encoding *e, const float *params,
                               const int *qpos, int nq, const int *kpos, int nk,
                               const float *dbias, float *dparams) {
    const fire_state *s = e->state;
    int hid = s->hidden, H = e->g.heads;
    fire_view v = fire_view_of(e, params);
    fire_segments sg = s->seg;
    segments_fill(&sg, &v, hid, H);
    size_t plane = (size_t)nq * nk, nseg = (size_t)sg.n_kinks + 1;
    double *sum_gz = s->sum_gz, *sum_g = s->sum_g;
    memset(sum_gz, 0, sizeof(double) * nseg * H);
    memset(sum_g, 0, sizeof(double) * nseg * H);
    double gc = 0, gL = 0; /* d/d|c|, d/dL */
    for (int a = 0; a < nq; a++) {
        float pq = pb_round_site1(e->prec, PB_SITE_POSITIONS, (float)qpos[a]);
        fire_row row = fire_row_of(&v, pq);
        double gden = 0; /* d loss / d den over the row */
        for (int b = 0; b < nk; b++) {
            float pk = pb_round_site1(e->prec, PB_SITE_POSITIONS, (float)kpos[b]);
            double r = fire_distance(e, pq, pk);
            double z = log1p(v.c * r) / row.den;
            size_t o = (size_t)segment_of(&sg, z) * H;
            const float *go = dbias + (size_t)a * nk + b;
            double gz = 0;
            for (int h = 0; h < H; h++) {
                double g = go[h * plane];
                sum_gz[o + h] += g * z;
                sum_g[o + h] += g;
                gz += g * sg.slope[o + h];
            }
            /* z = num / den, num = ln(1 + |c| r) */
            gc += gz / row.den * r / (1.0 + v.c * r);
            gden -= gz * z / row.den;
        }
        /* den = ln(1 + |c| m) + eps, m = max(L, p_i) */
        gc += gden * row.m / (1.0 + v.c * row.m);
        gL += gden * v.c / (1.0 + v.c * row.m) * row.dm_dL;
    }
    /* MLP weights from the per-segment sums: on segment s an active unit k
     * has act_k = W1[k] z + b1[k] and d act_k / d(W1[k], b1[k]) = (z, 1). */
    double *g = s->grad;
    memset(g, 0, (size_t)e->n_params * sizeof *g);
    double *gw1 = g, *gb1 = g + hid, *gw2 = g + 2 * hid, *gb2 = gw2 + (size_t)H * hid;
    for (size_t sgi = 0; sgi < nseg; sgi++) {
        const unsigned char *on = sg.active + sgi * hid;
        const double *sz = sum_gz + sgi * H, *s0 = sum_g + sgi * H;
        for (int h = 0; h < H; h++) gb2[h] += s0[h];
        for (int k = 0; k < hid; k++) {
            if (!on[k]) continue;
            for (int h = 0; h < H; h++) {
                double w2 = v.w2[(size_t)h * hid + k];
                gw2[(size_t)h * hid + k] += v.w1[k] * sz[h] + v.b1[k] * s0[h];
                gw1[k] += w2 * sz[h];
                gb1[k] += w2 * s0[h];
            }
        }
    }
    size_t n_mlp = (size_t)e->n_params - 2;
    for (size_t i = 0; i < n_mlp; i++) dparams[i] += (float)g[i];
    dparams[n_mlp] += (float)(gc * v.sc);
    dparams[n_mlp + 1] += (float)(gL * v.sl * s->init_L);
}

const pb_encoding_type pb_enc_fire = {
    .name = "fire",
    .summary = "MLP of psi(i-j)/psi(max(L,i)), psi(x) = ln(c x + 1); c, L and the MLP learned",
    .reference = "Li et al. 2023, Functional Interpolation for Relative Positions (FIRE)",
    .options_doc = "hidden=32 init_c=0.1 init_L=max_len/4  (params [W1[hidden], "
                   "b1[hidden], W2[H][hidden], b2[H], c, l], L = |l| init_L)",
    .options = fire_options,
    .sites = PB_ENC_BIAS,
    .pos_dims = 1,
    .create = fire_create,
    .destroy = fire_destroy,
    .init_params = fire_init_params,
    .bias_forward = fire_bias_forward,
    .bias_backward = fire_bias_backward,
};
