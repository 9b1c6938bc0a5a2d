/* Shell, gnuplot and Slurm-pattern quoting (quote.h). */
#include "quote.h"

#include <stdio.h>
#include <stdlib.h>

long pb_find_control(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (pb_is_control_byte((unsigned char)s[i])) return (long)i;
    return -1;
}

static int refuse_control(const char *s, size_t n, const char *what, pb_error *err) {
    long at = pb_find_control(s, n);
    if (at < 0) return 0;
    return pb_fail(err, "%s: text contains a control character (byte 0x%02x at offset %ld); "
                   "refused", what, (unsigned char)s[at], at);
}

static char *out_of_memory(const char *what, pb_error *err) {
    pb_fail(err, "%s: out of memory", what);
    return NULL;
}

char *pb_quote_shell(const char *s, size_t n, pb_error *err) {
    if (refuse_control(s, n, "shell quote", err)) return NULL;
    size_t quotes = 0;
    for (size_t i = 0; i < n; i++) quotes += s[i] == '\'';
    char *out = malloc(n + 3 * quotes + 3);
    if (!out) return out_of_memory("shell quote", err);
    size_t o = 0;
    out[o++] = '\'';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\'') {
            /* close the quote, an escaped quote, reopen */
            out[o++] = '\'', out[o++] = '\\', out[o++] = '\'', out[o++] = '\'';
        } else {
            out[o++] = s[i];
        }
    }
    out[o++] = '\'';
    out[o] = '\0';
    return out;
}

/* Bytes a single-quoted gnuplot string cannot hold as they are. A quote is
 * not written '' either: gnuplot 5.4's scanner ends the string at the
 * second of two consecutive '' escapes. */
static int gnuplot_escaped(unsigned char c) { return pb_is_control_byte(c) || c == '\''; }

char *pb_quote_gnuplot(const char *s, size_t n, pb_error *err) {
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\0') {
            pb_fail(err, "gnuplot quote: text contains a NUL byte at offset %zu; refused", i);
            return NULL;
        }
    if (n == 0) {
        char *out = malloc(3);
        if (!out) return out_of_memory("gnuplot quote", err);
        out[0] = '\'', out[1] = '\'', out[2] = '\0';
        return out;
    }
    /* Worst case per byte: an escaped byte alone, ."\ooo" (7 bytes). */
    char *out = malloc(7 * n + 1);
    if (!out) return out_of_memory("gnuplot quote", err);
    size_t o = 0, i = 0;
    while (i < n) {
        if (o > 0) out[o++] = '.';
        if (gnuplot_escaped((unsigned char)s[i])) {
            out[o++] = '"';
            for (; i < n && gnuplot_escaped((unsigned char)s[i]); i++)
                o += (size_t)sprintf(out + o, "\\%03o", (unsigned char)s[i]);
            out[o++] = '"';
        } else {
            out[o++] = '\'';
            for (; i < n && !gnuplot_escaped((unsigned char)s[i]); i++) out[o++] = s[i];
            out[o++] = '\'';
        }
    }
    out[o] = '\0';
    return out;
}

char *pb_quote_slurm_pattern(const char *s, size_t n, pb_error *err) {
    if (refuse_control(s, n, "Slurm filename pattern", err)) return NULL;
    size_t pct = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\') {
            pb_fail(err, "Slurm filename pattern: text contains '\\' (at offset %zu), which "
                    "turns off Slurm's %%A/%%a/%%j replacement; refused", i);
            return NULL;
        }
        pct += s[i] == '%';
    }
    char *out = malloc(n + pct + 1);
    if (!out) return out_of_memory("Slurm filename pattern", err);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') out[o++] = '%';
        out[o++] = s[i];
    }
    out[o] = '\0';
    return out;
}
