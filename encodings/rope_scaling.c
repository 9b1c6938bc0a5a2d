/* RoPE scalings for context extension (see rope_scaling.h for the formulas).
 *
 * YaRN's ramp comes in two forms:
 *   - ramp = "code" (default), as the authors' code (jquesnelle/yarn) and HF
 *     transformers compute it: the pair index where r_k crosses beta,
 *     d_rot ln(L / (2 pi beta)) / (2 ln base), is rounded outwards to a
 *     whole pair (floor for beta_fast, ceil for beta_slow, then clamped to
 *     [0, d_rot - 1]) and the ramp is linear in the pair index between.
 *   - ramp = "paper", as the paper's equation reads: linear in the ratio
 *     r_k = L / wavelength_k itself. Middle frequencies differ from "code"
 *     by up to tens of percent.
 * dynamic_ntk uses l = the length handed to prepare(), the current batch's
 * length: it follows the length both ways, so a result never depends on
 * what ran before. HF's cache instead keeps the longest length seen so far
 * (while above L), which gives the same theta within one sequence. Below L,
 * s_eff = 1 and theta is the unscaled one. */
#include "rope_scaling.h"

#include <math.h>
#include <string.h>

static const char *const scale_names[] = {"none", "pi", "ntk", "dynamic_ntk", "yarn"};
#define N_SCALE_TYPES ((int)(sizeof scale_names / sizeof scale_names[0]))

double pb_rope_yarn_ramp(double r, double beta_slow, double beta_fast) {
    double g = (r - beta_slow) / (beta_fast - beta_slow);
    return g < 0.0 ? 0.0 : g > 1.0 ? 1.0 : g;
}

/* The pair index (fractional) at which r_k = beta. */
static double yarn_correction_dim(double beta, int d_rot, double base, int L) {
    return d_rot * log(L / (beta * 2.0 * M_PI)) / (2.0 * log(base));
}

double pb_rope_yarn_code_ramp(int k, int d_rot, double base, int L, double beta_slow,
                              double beta_fast) {
    double low = floor(yarn_correction_dim(beta_fast, d_rot, base, L));
    double high = ceil(yarn_correction_dim(beta_slow, d_rot, base, L));
    if (low < 0.0) low = 0.0;
    if (high > d_rot - 1) high = d_rot - 1;
    if (low == high) high += 0.001; /* as the authors, against 0/0 */
    /* their ramp rises from low to high; the weight of theta falls */
    double up = (k - low) / (high - low);
    up = up < 0.0 ? 0.0 : up > 1.0 ? 1.0 : up;
    return 1.0 - up;
}

/* An option given for a scaling type that ignores it is a config mistake. */
static int only_for(const pb_opts *o, const char *key, const char *types,
                    const char *type, const char *what, pb_error *err) {
    if (!pb_opts_has(o, key)) return 0;
    return pb_fail(err, "%s: option '%s' is used only by scaling.type %s, not '%s'",
                   what, key, types, type);
}

int pb_rope_scaling_parse(pb_rope_scaling *sc, const pb_opts *o, int d_rot,
                          int default_len, const char *what, pb_error *err) {
    memset(sc, 0, sizeof *sc);
    const char *type;
    if (pb_opts_str(o, "scaling.type", "none", &type, what, err)) return -1;
    int t = -1;
    for (int i = 0; i < N_SCALE_TYPES; i++)
        if (strcmp(type, scale_names[i]) == 0) t = i;
    if (t < 0)
        return pb_fail(err, "%s: unknown scaling.type '%s' (valid: none, pi, ntk, "
                       "dynamic_ntk, yarn)", what, type);
    sc->type = (pb_rope_scale_type)t;

    if (sc->type == PB_ROPE_SCALE_NONE && pb_opts_has(o, "scaling.factor"))
        return pb_fail(err, "%s: option 'scaling.factor' needs a scaling.type "
                       "(pi, ntk, dynamic_ntk or yarn)", what);
    if (pb_opts_num_in(o, "scaling.factor", 1.0, 0.0, HUGE_VAL, 1, &sc->factor, what, err))
        return -1;

    /* original_len is accepted by every type, so one scaling table can be
     * swept over types; only dynamic_ntk and yarn read it (pi and ntk are
     * fully given by the factor). */
    if (pb_opts_int(o, "scaling.original_len", default_len, &sc->original_len, what, err))
        return -1;
    if (sc->original_len <= 0)
        return pb_fail(err, "%s: scaling.original_len must be > 0, got %d", what,
                       sc->original_len);

    if (sc->type != PB_ROPE_SCALE_YARN) {
        const char *yarn_only[] = {"scaling.beta_fast", "scaling.beta_slow",
                                   "scaling.attn_factor", "scaling.ramp"};
        for (int i = 0; i < 4; i++)
            if (only_for(o, yarn_only[i], "yarn", type, what, err)) return -1;
    }
    if (pb_opts_num(o, "scaling.beta_fast", 32.0, &sc->beta_fast, what, err) ||
        pb_opts_num(o, "scaling.beta_slow", 1.0, &sc->beta_slow, what, err))
        return -1;
    if (!(sc->beta_fast > sc->beta_slow))
        return pb_fail(err, "%s: scaling.beta_fast (%g) must be > scaling.beta_slow (%g)",
                       what, sc->beta_fast, sc->beta_slow);
    const char *ramp;
    if (pb_opts_str(o, "scaling.ramp", "code", &ramp, what, err)) return -1;
    if (strcmp(ramp, "paper") == 0) sc->paper_ramp = 1;
    else if (strcmp(ramp, "code") != 0)
        return pb_fail(err, "%s: unknown scaling.ramp '%s' (valid: code, paper)", what,
                       ramp);
    /* YaRN's sqrt(1/t) = 0.1 ln s + 1; no temperature when not extending
     * (s <= 1), as in HF transformers. */
    double mscale = sc->factor > 1.0 ? 0.1 * log(sc->factor) + 1.0 : 1.0;
    if (pb_opts_num_in(o, "scaling.attn_factor", mscale, 0.0, HUGE_VAL, 1, &sc->attn_factor,
                       what, err))
        return -1;

    if ((sc->type == PB_ROPE_SCALE_NTK || sc->type == PB_ROPE_SCALE_DYNAMIC_NTK) &&
        d_rot < 4)
        return pb_fail(err, "%s: scaling.type '%s' needs at least 4 rotated dims per "
                       "head (base' = base * s^(d_rot/(d_rot-2))), got d_rot = %d",
                       what, type, d_rot);
    return 0;
}

void pb_rope_scaling_thetas(const pb_rope_scaling *sc, double base, int d_rot,
                            int l, double *theta) {
    double s = sc->factor, b = base;
    double ntk_exp = d_rot > 2 ? (double)d_rot / (d_rot - 2) : 1.0;
    if (sc->type == PB_ROPE_SCALE_NTK) b = base * pow(s, ntk_exp);
    if (sc->type == PB_ROPE_SCALE_DYNAMIC_NTK) {
        double s_eff = s * l / sc->original_len - (s - 1.0);
        if (s_eff < 1.0) s_eff = 1.0;
        b = base * pow(s_eff, ntk_exp);
    }
    for (int k = 0; k < d_rot / 2; k++) {
        double t = pow(b, -2.0 * k / d_rot);
        if (sc->type == PB_ROPE_SCALE_PI) t /= s;
        if (sc->type == PB_ROPE_SCALE_YARN) {
            double r = sc->original_len * t / (2.0 * M_PI);
            double g = sc->paper_ramp
                           ? pb_rope_yarn_ramp(r, sc->beta_slow, sc->beta_fast)
                           : pb_rope_yarn_code_ramp(k, d_rot, base, sc->original_len,
                                                    sc->beta_slow, sc->beta_fast);
            t = (1.0 - g) * t / s + g * t;
        }
        theta[k] = t;
    }
}

double pb_rope_scaling_logit_scale(const pb_rope_scaling *sc) {
    if (sc->type != PB_ROPE_SCALE_YARN) return 1.0;
    return sc->attn_factor * sc->attn_factor;
}
