/* RoPE context-extension scalings: how the rotary frequencies change when a
 * model trained at length L is run at longer lengths. Used by rope.c.
 *
 *   none         theta_k = base^(-2k/d_rot)
 *   pi           theta_k / s                    (Chen et al. 2023: positions p/s)
 *   ntk          base' = base * s^(d_rot/(d_rot-2))            (bloc97)
 *   dynamic_ntk  base' = base * s_eff^(d_rot/(d_rot-2)),
 *                s_eff = max(1, s*l/L - (s-1)), l = current sequence length
 *                (HF transformers "dynamic")
 *   yarn         theta'_k = (1-g_k) theta_k/s + g_k theta_k; logits scaled
 *                by attn_factor^2, attn_factor = 0.1 ln s + 1  (Peng et al. 2023)
 *                ramp=code (default; the authors' code, HF): g_k = 1 - clamp(
 *                  (k - lo)/(hi - lo)), lo = floor(c(beta_fast)), hi =
 *                  ceil(c(beta_slow)) clamped to [0, d_rot-1], c(beta) =
 *                  d_rot ln(L/(2 pi beta)) / (2 ln base)
 *                ramp=paper: g_k = clamp((r_k - beta_slow)/(beta_fast -
 *                  beta_slow)), r_k = L/wavelength_k = L theta_k/(2 pi)
 */
#ifndef PB_ROPE_SCALING_H
#define PB_ROPE_SCALING_H

#include "../harness/core/opts.h"
#include "../harness/core/pb_error.h"

typedef enum {
    PB_ROPE_SCALE_NONE,
    PB_ROPE_SCALE_PI,
    PB_ROPE_SCALE_NTK,
    PB_ROPE_SCALE_DYNAMIC_NTK,
    PB_ROPE_SCALE_YARN
} pb_rope_scale_type;

typedef struct pb_rope_scaling {
    pb_rope_scale_type type;
    double factor;       /* s */
    int original_len;    /* L */
    double beta_fast;    /* YaRN: ratios r >= beta_fast keep theta */
    double beta_slow;    /* YaRN: ratios r <= beta_slow get theta / s */
    double attn_factor;  /* YaRN: per-q/k factor; logits get its square */
    int paper_ramp;      /* YaRN: 1 = ramp in r (paper), 0 = in k (code) */
} pb_rope_scaling;

/* The option keys below, for the encoding's option list. */
#define PB_ROPE_SCALING_OPTION_KEYS                                            \
    "scaling.type", "scaling.factor", "scaling.original_len",                  \
    "scaling.beta_fast", "scaling.beta_slow", "scaling.attn_factor",           \
    "scaling.ramp"

/* Parse scaling.* options. d_rot is the number of rotated dims (ntk and
 * dynamic_ntk need at least 4), default_len is L when scaling.original_len
 * is absent. `what` names the owner in messages. */
int pb_rope_scaling_parse(pb_rope_scaling *sc, const pb_opts *o, int d_rot,
                          int default_len, const char *what, pb_error *err);

/* theta[k] for k < d_rot/2 at current sequence length l (read by
 * dynamic_ntk only). */
void pb_rope_scaling_thetas(const pb_rope_scaling *sc, double base, int d_rot,
                            int l, double *theta);

/* Factor on q.k / sqrt(d_head): attn_factor^2 for YaRN, else 1. */
double pb_rope_scaling_logit_scale(const pb_rope_scaling *sc);

/* The YaRN ramp (paper): 0 for r <= beta_slow, 1 for r >= beta_fast, linear
 * between. */
double pb_rope_yarn_ramp(double r, double beta_slow, double beta_fast);

/* The YaRN ramp (authors' code, HF): the weight g_k of the unscaled theta of
 * pair k, linear in k between the rounded correction dims. */
double pb_rope_yarn_code_ramp(int k, int d_rot, double base, int L, double beta_slow,
                              double beta_fast);

#endif
