/* Precision sites: named places in the computation where values are rounded
 * to an emulated format. Backward passes treat rounding as the identity
 * (straight-through), so gradients flow as in mixed-precision training. */
#ifndef PB_PRECISION_H
#define PB_PRECISION_H

#include "format.h"

typedef enum {
    PB_SITE_POSITIONS,   /* position indices as the encoding reads them */
    PB_SITE_ANGLES,      /* rotary angles p * theta */
    PB_SITE_TABLES,      /* cos/sin tables and additive position tables */
    PB_SITE_QK_PRE,      /* q and k before the encoding's transform */
    PB_SITE_QK_POST,     /* q and k after it */
    PB_SITE_LOGITS,      /* attention logits after scale and bias */
    PB_SITE_PROBS,       /* softmax probabilities */
    PB_SITE_VALUES,      /* v */
    PB_SITE_ACTIVATIONS, /* block inputs/outputs (residual stream) */
    PB_SITE_WEIGHTS,     /* weights as used by forward (master copy stays fp32) */
    PB_SITE_GRADIENTS,   /* parameter gradients before the optimiser */
    PB_SITE_COUNT
} pb_site;

typedef struct pb_precision {
    int active[PB_SITE_COUNT];       /* 0: fp32, nothing to do */
    pb_format format[PB_SITE_COUNT];
    uint64_t stream;                 /* base of stochastic-rounding streams */
} pb_precision;

extern const char *const pb_site_names[PB_SITE_COUNT];

void pb_precision_init(pb_precision *p);  /* every site fp32 */
/* Set a site by name ("angles", "qk_post", ...) to a parsed format. */
int pb_precision_set(pb_precision *p, const char *site, const pb_format *f,
                     pb_error *err);
int pb_precision_any(const pb_precision *p);

/* Round x[0..n) in place when the site is active; p may be NULL. */
void pb_round_site(const pb_precision *p, pb_site s, float *x, size_t n);
/* The same for x being elements index0.. of the site's tensor (a row of
 * logits, a column block of q/k): stochastic rounding then draws
 * independent bits for every element of the tensor. */
void pb_round_site_at(const pb_precision *p, pb_site s, float *x, size_t n,
                      uint64_t index0);
float pb_round_site1(const pb_precision *p, pb_site s, float x);

#endif
