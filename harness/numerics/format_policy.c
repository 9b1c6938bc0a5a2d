/* Format policies from options (format_policy.h). */
#include "format_policy.h"

#include <string.h>

const char *const pb_format_policies[] = {"rounding", "overflow", "subnormals", NULL};

static const char *const rounding_names[] = {"rne", "rtz", "stochastic", NULL};
static const pb_rounding rounding_values[] = {PB_ROUND_RNE, PB_ROUND_RTZ,
                                              PB_ROUND_STOCHASTIC};
static const char *const overflow_names[] = {"inf", "saturate", "nan", NULL};
static const pb_overflow overflow_values[] = {PB_OVERFLOW_INF, PB_OVERFLOW_SATURATE,
                                              PB_OVERFLOW_NAN};

/* Index of v's word in names, or -1 with an error listing them. */
static int choice(const pb_opt *v, const char *field, const char *const *names,
                  const char *what, pb_error *err) {
    if (v->kind != PB_OPT_STR)
        return pb_fail(err, "%s: '%s' must be a string, got %g", what, field, v->num);
    for (int i = 0; names[i]; i++)
        if (strcmp(v->str, names[i]) == 0) return i;
    char valid[64] = "";
    for (int i = 0; names[i]; i++) {
        if (i) strncat(valid, ", ", sizeof valid - strlen(valid) - 1);
        strncat(valid, names[i], sizeof valid - strlen(valid) - 1);
    }
    return pb_fail(err, "%s: unknown %s '%s' (valid: %s)", what, field, v->str, valid);
}

int pb_format_set_policy(pb_format *f, const char *field, const pb_opt *v, const char *what,
                         pb_error *err) {
    int i;
    if (strcmp(field, "rounding") == 0) {
        if ((i = choice(v, field, rounding_names, what, err)) < 0) return -1;
        f->rounding = rounding_values[i];
    } else if (strcmp(field, "overflow") == 0) {
        if ((i = choice(v, field, overflow_names, what, err)) < 0) return -1;
        f->overflow = overflow_values[i];
    } else if (strcmp(field, "subnormals") == 0) {
        if (v->kind != PB_OPT_BOOL)
            return pb_fail(err, "%s: 'subnormals' must be true or false", what);
        f->subnormals = v->num != 0.0;
    } else {
        return pb_fail(err, "%s: unknown policy '%s' (valid: rounding, overflow, subnormals)",
                       what, field);
    }
    return 0;
}

int pb_format_check_policies(pb_format *f, const char *what, pb_error *err) {
    /* e4m3 is OCP's "fn" variant: every bit pattern above max is NaN */
    if (f->overflow == PB_OVERFLOW_INF && strcmp(f->name, "e4m3") == 0)
        return pb_fail(err, "%s: option 'overflow': e4m3 has no infinity; use \"saturate\" "
                            "or \"nan\"", what);
    if (f->rounding != PB_ROUND_RNE) f->is_identity = 0;
    return 0;
}

const char *pb_rounding_name(pb_rounding r) { return rounding_names[r]; }
const char *pb_overflow_name(pb_overflow o) { return overflow_names[o]; }
