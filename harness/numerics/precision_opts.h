/* Precision settings from an options list: the one parser of
 * {site = "bf16" | {format=, rounding=, overflow=, subnormals=}} after the
 * binding has flattened it, i.e. keys "site" or "site.format",
 * "site.rounding", "site.overflow", "site.subnormals". */
#ifndef PB_PRECISION_OPTS_H
#define PB_PRECISION_OPTS_H

#include "../core/opts.h"
#include "precision.h"

/* p = every site fp32, then each site named by a key of o that starts with
 * prefix (e.g. "precision." inside a larger list, or "" for a list of only
 * sites); other keys are ignored. Errors name the site as
 * "precision.SITE". */
int pb_precision_from_opts(pb_precision *p, const pb_opts *o, const char *prefix,
                           pb_error *err);

#endif
