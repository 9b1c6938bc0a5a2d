/* libFuzzer target: pb_quote_gnuplot (harness/core/quote.c), the quoting
 * of every string a plot script holds. Text with a NUL byte must be refused
 * (and only such text); anything else must give a one-line gnuplot string
 * expression that evaluates to exactly the text. The evaluator below takes
 * the subset gnuplot reads inertly: single-quoted strings with no quote
 * inside (gnuplot performs no backquote, macro or escape processing in
 * them) and
 * double-quoted strings holding only octal escapes (no backquote, '@' or
 * '$' can appear in one), joined by the '.' operator. test_hardening.lua
 * checks nasty texts through a real gnuplot as well. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../harness/core/quote.h"

static int octal(char c) { return c >= '0' && c <= '7'; }

/* Evaluates q into out; returns the length or -1 for anything else. */
static long evaluate(const char *q, char *out) {
    long o = 0;
    size_t i = 0;
    for (;;) {
        if (q[i] == '\'') {
            for (i++; q[i] != '\''; i++) {
                if (!q[i]) return -1;
                out[o++] = q[i];
            }
            i++;
        } else if (q[i] == '"') {
            for (i++; q[i] != '"'; i += 4) {
                if (q[i] != '\\' || !octal(q[i + 1]) || !octal(q[i + 2]) || !octal(q[i + 3]))
                    return -1;
                int v = (q[i + 1] - '0') * 64 + (q[i + 2] - '0') * 8 + (q[i + 3] - '0');
                if (v == 0 || v > 255) return -1;
                out[o++] = (char)v;
            }
            i++;
        } else {
            return -1;
        }
        if (!q[i]) return o;
        if (q[i] != '.') return -1;
        i++;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    int has_nul = memchr(s, 0, size) != NULL;
    pb_error err;
    char *q = pb_quote_gnuplot(s, size, &err);
    if (!q) {
        if (!has_nul || !strstr(err.msg, "NUL")) abort();
        return 0;
    }
    if (has_nul) abort();
    size_t qn = strlen(q);
    if (pb_find_control(q, qn) >= 0) abort();  /* one line, no raw control byte */
    char *back = malloc(qn + 1);
    long n = evaluate(q, back);
    if (n < 0 || (size_t)n != size || memcmp(back, s, size) != 0) abort();
    free(back);
    free(q);
    return 0;
}
