/* A small JSON reader for tensor-file headers, used by tensorfile.c only:
 * objects, arrays, strings, numbers and the literals true/false/null (which
 * a file's meta may hold). It validates and walks text in place; the caller
 * picks the values it needs. Every failure is -1 with a message naming the
 * file and the byte offset. */
#ifndef PB_TENSORFILE_JSON_H
#define PB_TENSORFILE_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "../core/pb_error.h"

typedef struct pb_json_reader {
    const char *s;      /* the text (n bytes) */
    size_t n, i;        /* i: the next byte to read */
    const char *path;   /* names the file in messages */
    pb_error *err;
} pb_json_reader;

/* -1 with "path: bad JSON header at byte i: what". */
int pb_json_fail(pb_json_reader *p, const char *what);
void pb_json_skip_ws(pb_json_reader *p);
/* The next byte after white space (not consumed), or -1 at the end. */
int pb_json_peek(pb_json_reader *p);
/* Consumes c after white space, or fails. */
int pb_json_expect(pb_json_reader *p, char c);
/* Parses a string; when out is not NULL decodes it into out[cap] (UTF-8),
 * failing if it does not fit. */
int pb_json_string(pb_json_reader *p, char *out, size_t cap);
/* A JSON number; *is_int says whether it is a plain non-negative integer
 * that fits int64 (then *ival holds it). Either pointer may be NULL. */
int pb_json_number(pb_json_reader *p, int *is_int, int64_t *ival);
/* Validates and skips any value nested depth deep. */
int pb_json_skip_value(pb_json_reader *p, int depth);

#endif
