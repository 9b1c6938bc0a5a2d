/* Error reporting for library code.
 *
 * Library functions never exit or abort: they fill a pb_error and return -1,
 * and the caller (ultimately the Lua binding) turns the message into a Lua
 * error that names the problem. */
#ifndef PB_ERROR_H
#define PB_ERROR_H

#include <stdarg.h>

typedef struct pb_error {
    char msg[1024];
} pb_error;

/* Formats the message into err (when err is not NULL) and returns -1, so a
 * failing path reads `return pb_fail(err, "...", ...);`. */
int pb_fail(pb_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Puts the formatted context and ": " before the message err already holds
 * (err may be NULL) and returns -1: `return pb_prefix(err, "at length %d", n);`
 * turns "x failed" into "at length 12: x failed". */
int pb_prefix(pb_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
