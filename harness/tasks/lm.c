/* lm: character-level language modelling on a text file, or on a corpus
 * generated from a small seeded grammar when no path is given (so tests and
 * quick runs need no files).
 *
 * The distinct bytes of the corpus, in byte order, become token ids 1..K
 * (0 stays BLANK), so vocab = K + 1. A problem of size n is a window of
 * n + 1 characters at a uniform offset; every token after the first is an
 * answer. chance is the frequency of the most common character (the best
 * constant guess). from/to keep a slice of the corpus (fractions of its
 * length) after the ids are assigned on the whole of it, so a training and
 * a held-out slice of one file share their token ids. */
#include "lm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "task_common.h"
#include "../io/results_fs.h"

/* Offsets are drawn with gsl_rng_uniform_int, which takes n < 2^32. */
#define MAX_CORPUS (1L << 31)

typedef struct {
    unsigned short *ids; /* the corpus as token ids */
    long len;
    int n_bytes;
    unsigned char byte_of[256]; /* token id - 1 -> byte */
    char source[PB_OPT_STR_LEN + 48]; /* for messages: the path or the generator */
} lm_state;

static const char *const lm_options[] = {"min_len",     "max_len", "path", "corpus_len",
                                         "corpus_seed", "from",    "to",   NULL};

/* ---- generated corpus ----
 * Sentences from a tiny grammar, e.g. "the old cat sees a fish, and a dog
 * eats the tree." Paragraphs of 2..5 sentences end with a newline. */

static const char *pick(gsl_rng *r, const char *const *words, int n) {
    return words[gsl_rng_uniform_int(r, (unsigned long)n)];
}

static void append(char *buf, long cap, long *len, const char *s) {
    while (*s && *len < cap) buf[(*len)++] = *s++;
}

static void noun_phrase(gsl_rng *r, char *buf, long cap, long *len) {
    static const char *const det[] = {"the ", "a "};
    static const char *const adj[] = {"big ", "small ", "red ", "old "};
    static const char *const noun[] = {"cat", "dog", "bird", "fish", "tree", "house"};
    append(buf, cap, len, pick(r, det, 2));
    if (gsl_rng_uniform(r) < 0.3) append(buf, cap, len, pick(r, adj, 4));
    append(buf, cap, len, pick(r, noun, 6));
}

static void generate(gsl_rng *r, char *buf, long cap) {
    static const char *const verb[] = {" sees ", " eats ", " likes ", " finds ", " makes "};
    long len = 0;
    while (len < cap) {
        int sentences = 2 + (int)gsl_rng_uniform_int(r, 4);
        for (int s = 0; s < sentences; s++) {
            if (s) append(buf, cap, &len, " ");
            for (;;) { /* clause (", and " clause)* */
                noun_phrase(r, buf, cap, &len);
                append(buf, cap, &len, pick(r, verb, 5));
                noun_phrase(r, buf, cap, &len);
                if (gsl_rng_uniform(r) >= 0.2) break;
                append(buf, cap, &len, ", and ");
            }
            append(buf, cap, &len, ".");
        }
        append(buf, cap, &len, "\n");
    }
}

/* ---- corpus loading ---- */

static int read_file(const char *path, char **out, long *out_len, pb_error *err) {
    /* Not fopen: a FIFO or device would block it or have effects. */
    pb_error oerr;
    int fd = pb_rfs_open_read(NULL, path, &oerr);
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!f) {
        if (fd >= 0) close(fd);
        return pb_fail(err, "task 'lm': cannot read corpus file '%s': %s", path,
                       fd >= 0 ? strerror(errno) : oerr.msg);
    }
    long cap = 1 << 16, len = 0;
    char *buf = malloc((size_t)cap);
    while (buf) {
        len += (long)fread(buf + len, 1, (size_t)(cap - len), f);
        if (len < cap) break;
        if (cap >= MAX_CORPUS) break; /* reported below */
        char *bigger = realloc(buf, (size_t)cap * 2);
        if (!bigger) free(buf);
        buf = bigger, cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf) return pb_fail(err, "task 'lm': out of memory reading '%s'", path);
    if (bad || len >= MAX_CORPUS) {
        free(buf);
        return bad ? pb_fail(err, "task 'lm': error reading corpus file '%s'", path)
                   : pb_fail(err, "task 'lm': corpus file '%s' is too large (at most %ld "
                                  "bytes)", path, MAX_CORPUS - 1);
    }
    *out = buf, *out_len = len;
    return 0;
}

/* Maps bytes to ids 1..K and sets vocab and chance. */
static int tokenize(pb_task *t, lm_state *s, const char *text, pb_error *err) {
    long count[256] = {0};
    for (long i = 0; i < s->len; i++) count[(unsigned char)text[i]]++;
    int id_of[256];
    s->n_bytes = 0;
    long most = 0;
    for (int c = 0; c < 256; c++) {
        if (!count[c]) continue;
        s->byte_of[s->n_bytes] = (unsigned char)c;
        id_of[c] = ++s->n_bytes;
        if (count[c] > most) most = count[c];
    }
    s->ids = malloc((size_t)s->len * sizeof *s->ids);
    if (!s->ids) return pb_fail(err, "task 'lm': out of memory for %ld tokens", s->len);
    for (long i = 0; i < s->len; i++) s->ids[i] = (unsigned short)id_of[(unsigned char)text[i]];
    t->vocab = s->n_bytes + 1;
    t->chance = (double)most / (double)s->len;
    return 0;
}

static int lm_create(pb_task *t, const pb_opts *o, pb_error *err) {
    lm_state *s = calloc(1, sizeof *s);
    if (!s) return pb_fail(err, "task 'lm': out of memory");
    t->state = s;
    const char *path;
    int corpus_len, seed;
    if (pb_task_parse_lengths(t, o, 1, 64, 64, err) ||
        pb_opts_str(o, "path", NULL, &path, "task 'lm'", err) ||
        pb_task_parse_int(t, o, "corpus_len", 100000, 2, 1 << 28, &corpus_len, err) ||
        pb_task_parse_int(t, o, "corpus_seed", 1, 0, 2147483647, &seed, err))
        return -1;
    char *text = NULL;
    if (path) {
        if (pb_opts_has(o, "corpus_len") || pb_opts_has(o, "corpus_seed"))
            return pb_fail(err, "task 'lm': options 'corpus_len' and 'corpus_seed' are for "
                                "the generated corpus, but path='%s' is given", path);
        if (read_file(path, &text, &s->len, err)) return -1;
        snprintf(s->source, sizeof s->source, "'%s'", path);
    } else {
        gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
        text = malloc((size_t)corpus_len);
        if (!r || !text) {
            gsl_rng_free(r), free(text);
            return pb_fail(err, "task 'lm': out of memory for a corpus of %d", corpus_len);
        }
        gsl_rng_set(r, (unsigned long)seed);
        generate(r, text, corpus_len);
        gsl_rng_free(r);
        s->len = corpus_len;
        snprintf(s->source, sizeof s->source, "(generated, corpus_seed=%d)", seed);
    }
    int rc = tokenize(t, s, text, err);
    free(text);
    if (rc) return -1;
    double from, to;
    if (pb_opts_num(o, "from", 0.0, &from, "task 'lm'", err) ||
        pb_opts_num(o, "to", 1.0, &to, "task 'lm'", err))
        return -1;
    if (!(from >= 0.0 && from < to && to <= 1.0))
        return pb_fail(err, "task 'lm': from=%g and to=%g must satisfy 0 <= from < to <= 1",
                       from, to);
    long a = (long)(from * (double)s->len), b = (long)(to * (double)s->len);
    memmove(s->ids, s->ids + a, (size_t)(b - a) * sizeof *s->ids);
    s->len = b - a;
    if (s->len < (long)t->max_len + 1)
        return pb_fail(err, "task 'lm': corpus %s has %ld characters, too short for one "
                            "window of max_len=%d (needs %ld)",
                       s->source, s->len, t->max_len, (long)t->max_len + 1);
    return 0;
}

static void lm_destroy(pb_task *t) {
    lm_state *s = t->state;
    if (s) free(s->ids);
    free(s);
}

static int lm_len(const pb_task *t, int n, pb_error *err) {
    const lm_state *s = t->state;
    if (n >= 1 && (long)n + 1 > s->len)
        return pb_fail(err, "task 'lm': a window of n=%d needs %ld characters but corpus "
                            "%s has %ld",
                       n, (long)n + 1, s->source, s->len);
    return pb_task_check_size(t, n, 1, (long long)n + 1, err);
}

static void copy_window(const lm_state *s, long offset, int n, int *seq) {
    for (int i = 0; i <= n; i++) seq[i] = s->ids[offset + i];
}

static int lm_sample(const pb_task *t, gsl_rng *rng, int n, int *seq, float *is_answer,
                     int *place, pb_error *err) {
    (void)place, (void)err;
    const lm_state *s = t->state;
    long offset = (long)gsl_rng_uniform_int(rng, (unsigned long)(s->len - n));
    copy_window(s, offset, n, seq);
    for (int i = 0; i <= n; i++) is_answer[i] = i ? 1.0f : 0.0f;
    return 0;
}

long pb_lm_corpus_len(const pb_task *t) {
    if (!t || t->type != &pb_task_lm || !t->state) return -1;
    return ((const lm_state *)t->state)->len;
}

int pb_lm_window(const pb_task *t, long offset, int n, int *seq, pb_error *err) {
    if (!t || t->type != &pb_task_lm || !t->state)
        return pb_fail(err, "pb_lm_window: task '%s' is not 'lm'",
                       t && t->type ? t->type->name : "(none)");
    const lm_state *s = t->state;
    if (lm_len(t, n, err) < 0) return -1;
    if (offset < 0 || offset + n >= s->len)
        return pb_fail(err, "task 'lm': window of n=%d at offset %ld runs past the end of "
                            "corpus %s (%ld characters; offsets 0..%ld)",
                       n, offset, s->source, s->len, s->len - n - 1);
    copy_window(s, offset, n, seq);
    return 0;
}

int pb_lm_token_byte(const pb_task *t, int token) {
    if (pb_lm_corpus_len(t) < 0) return -1;
    const lm_state *s = t->state;
    return token >= 1 && token <= s->n_bytes ? s->byte_of[token - 1] : -1;
}

const pb_task_type pb_task_lm = {
    .name = "lm",
    .summary = "character-level language modelling: a window of n+1 characters, every "
               "token after the first is an answer (S = n+1, decoder only)",
    .options_doc = "min_len=64 max_len=64 (n = window = predictions per sequence), "
                   "path (text file; without it a corpus is generated from a small "
                   "grammar), corpus_len=100000 corpus_seed=1 (generated corpus only), "
                   "from=0 to=1 (the slice used, as fractions of the corpus); "
                   "ids 1..K = the whole corpus's distinct bytes in byte order",
    .options = lm_options,
    .create = lm_create,
    .destroy = lm_destroy,
    .seq_len = lm_len,
    .sample = lm_sample,
};
