#include "pb_error.h"

#include <stdio.h>
#include <string.h>

int pb_fail(pb_error *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int pb_prefix(pb_error *err, const char *fmt, ...) {
    if (!err) return -1;
    char context[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(context, sizeof context, fmt, ap);
    va_end(ap);
    /* context + ": " + message, cut to fit like every pb_error */
    size_t cap = sizeof err->msg, c = strlen(context), m = strlen(err->msg);
    if (c > cap - 3) c = cap - 3;
    if (m > cap - 3 - c) m = cap - 3 - c;
    memmove(err->msg + c + 2, err->msg, m);
    memcpy(err->msg, context, c);
    err->msg[c] = ':';
    err->msg[c + 1] = ' ';
    err->msg[c + 2 + m] = '\0';
    return -1;
}
