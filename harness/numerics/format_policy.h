/* A format's policies (rounding=, overflow=, subnormals=) from options: the
 * one parser behind pb.format and the precision sites, so both accept the
 * same words, refuse the same combinations and say so the same way. */
#ifndef PB_FORMAT_POLICY_H
#define PB_FORMAT_POLICY_H

#include "../core/opts.h"
#include "format.h"

/* "rounding", "overflow", "subnormals", NULL */
extern const char *const pb_format_policies[];

/* Sets the policy named field of f from the option value v (strings for
 * rounding and overflow, a boolean for subnormals). Errors start with what and
 * list the valid words. */
int pb_format_set_policy(pb_format *f, const char *field, const pb_opt *v, const char *what,
                         pb_error *err);

/* Once every policy is set: refuses what the format cannot do (e4m3 has no
 * infinity to overflow to); a rounding other than RNE clears is_identity. */
int pb_format_check_policies(pb_format *f, const char *what, pb_error *err);

/* The words of a policy's value, as the options spell them. */
const char *pb_rounding_name(pb_rounding r);
const char *pb_overflow_name(pb_overflow o);

#endif
