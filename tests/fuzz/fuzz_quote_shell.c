/* libFuzzer target: pb_quote_shell (harness/core/quote.c), the quoting of
 * every word posbench puts on a shell command line. Text with a control
 * byte must be refused (and only such text); anything else must come out
 * as one POSIX shell word, without control bytes, that a shell reads back
 * as exactly the text. The reader below implements the POSIX rules a
 * word is subject to (single quotes, backslash, and the characters that
 * end a word or start an expansion when unquoted); a unit test checks the
 * same quoting against a real `sh -c 'printf %s "$1"'` (test_hardening.lua). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../harness/core/quote.h"

/* Unquoted, these end a word or start an expansion, a pattern or a comment. */
static int special(char c) {
    return strchr("|&;<>()$`\\\"' \t\n*?[#~=%{}!", c) != NULL;
}

/* Reads q as one shell word into out; returns its length or -1 when q is
 * not a single word free of expansions. */
static long read_word(const char *q, char *out) {
    long o = 0;
    for (size_t i = 0; q[i];) {
        if (q[i] == '\'') {
            const char *end = strchr(q + i + 1, '\'');
            if (!end) return -1;  /* unterminated */
            size_t len = (size_t)(end - (q + i + 1));
            memcpy(out + o, q + i + 1, len);
            o += (long)len;
            i += len + 2;
        } else if (q[i] == '\\') {
            if (!q[i + 1] || q[i + 1] == '\n') return -1;
            out[o++] = q[i + 1];
            i += 2;
        } else if (special(q[i])) {
            return -1;
        } else {
            out[o++] = q[i++];
        }
    }
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    pb_error err;
    char *q = pb_quote_shell(s, size, &err);
    if (!q) {
        if (pb_find_control(s, size) < 0) abort();  /* refused a harmless text */
        if (!strstr(err.msg, "control character")) abort();
        return 0;
    }
    if (pb_find_control(s, size) >= 0) abort();      /* accepted a control byte */
    size_t qn = strlen(q);
    if (pb_find_control(q, qn) >= 0) abort();
    char *back = malloc(qn + 1);
    long n = read_word(q, back);
    if (n < 0 || (size_t)n != size || memcmp(back, s, size) != 0) abort();
    free(back);
    free(q);
    return 0;
}
