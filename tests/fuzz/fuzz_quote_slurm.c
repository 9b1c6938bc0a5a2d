/* libFuzzer target: pb_quote_slurm_pattern (harness/core/quote.c), the
 * escaping of the results path in sbatch --output. Text with a control
 * byte or a '\' must be refused (and only such text); anything else must
 * give a pattern that Slurm expands back to exactly the text, with no
 * replacement symbol, and that still expands the %A_%a appended to it.
 * The expander below follows sbatch's "filename pattern" rules: a '\'
 * anywhere turns replacement off, "%%" is '%', and '%' with optional
 * width digits and a letter is a replacement symbol. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../harness/core/quote.h"

/* Expands p into out ('#' for each replacement symbol); returns the length,
 * or -1 when p has replacement turned off by a backslash. */
static long expand(const char *p, char *out) {
    if (strchr(p, '\\')) return -1;
    long o = 0;
    for (size_t i = 0; p[i];) {
        if (p[i] != '%') {
            out[o++] = p[i++];
        } else if (p[i + 1] == '%') {
            out[o++] = '%';
            i += 2;
        } else {
            size_t j = i + 1;
            while (isdigit((unsigned char)p[j])) j++;
            out[o++] = '#';
            i = p[j] ? j + 1 : j;
        }
    }
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    int bad = pb_find_control(s, size) >= 0 || memchr(s, '\\', size) != NULL;
    pb_error err;
    char *q = pb_quote_slurm_pattern(s, size, &err);
    if (!q) {
        if (!bad) abort();
        return 0;
    }
    if (bad) abort();
    size_t qn = strlen(q);
    char *pattern = malloc(qn + 8), *back = malloc(qn + 8);
    memcpy(pattern, q, qn);
    memcpy(pattern + qn, "/%A_%a", 7);  /* as sbatch --output receives it */
    long n = expand(pattern, back);
    if (n != (long)size + 4 || memcmp(back, s, size) != 0 || memcmp(back + size, "/#_#", 4) != 0)
        abort();
    free(pattern);
    free(back);
    free(q);
    return 0;
}
