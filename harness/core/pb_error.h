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

#endif
