/* Helpers shared by the encoding tests: build an encoding from a compact
 * option string, fill arrays with seeded random numbers, and dump cases as
 * JSON lines for the PyTorch counterparts (scripts/torch_enc/). */
#ifndef PB_ENC_TEST_UTIL_H
#define PB_ENC_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../encodings/encoding.h"

/* "key=value,key=value": numbers when the whole value parses as one. */
static inline int enc_opts_parse(pb_opts *o, const char *spec, pb_error *err) {
    pb_opts_init(o);
    if (!spec || !*spec) return 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        if (!eq) return pb_fail(err, "bad option spec '%s'", tok);
        *eq = 0;
        char *end;
        double v = strtod(eq + 1, &end);
        int rc = (*end == 0 && end != eq + 1) ? pb_opts_set_num(o, tok, v, err)
                                              : pb_opts_set_str(o, tok, eq + 1, err);
        if (rc) return rc;
    }
    return 0;
}

static inline pb_geometry enc_geom(int d, int heads, int causal, int max_len) {
    pb_geometry g = {d, heads, heads ? d / heads : 0, causal, max_len};
    return g;
}

/* Create or return -1 leaving the message in err. */
static inline int enc_make(pb_encoding *e, const char *name, pb_geometry g,
                           const char *spec, const pb_precision *prec, pb_error *err) {
    pb_opts o;
    if (enc_opts_parse(&o, spec, err)) return -1;
    return pb_encoding_create_named(e, name, &g, &o, prec, err);
}

/* Deterministic uniform numbers in [lo, hi) (xorshift; tests only). */
static inline double enc_rand(unsigned long long *s, double lo, double hi) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return lo + (hi - lo) * (double)(*s >> 11) / 9007199254740992.0;
}

static inline void enc_fill(float *x, size_t n, unsigned long long *s, double lo,
                            double hi) {
    for (size_t i = 0; i < n; i++) x[i] = (float)enc_rand(s, lo, hi);
}

/* JSON dump helpers: one object per line. */
static inline void json_floats(FILE *f, const char *key, const float *x, size_t n) {
    fprintf(f, "\"%s\": [", key);
    for (size_t i = 0; i < n; i++) fprintf(f, "%s%.9g", i ? ", " : "", (double)x[i]);
    fprintf(f, "]");
}

static inline void json_ints(FILE *f, const char *key, const int *x, size_t n) {
    fprintf(f, "\"%s\": [", key);
    for (size_t i = 0; i < n; i++) fprintf(f, "%s%d", i ? ", " : "", x[i]);
    fprintf(f, "]");
}

/* "opts": {"k": v, ...} from a spec string (numbers stay numbers). */
static inline void json_opts(FILE *f, const char *spec) {
    pb_opts o;
    pb_error err;
    fprintf(f, "\"opts\": {");
    if (enc_opts_parse(&o, spec, &err) == 0)
        for (int i = 0; i < o.n; i++) {
            if (o.items[i].kind == PB_OPT_NUM)
                fprintf(f, "%s\"%s\": %.17g", i ? ", " : "", o.items[i].key, o.items[i].num);
            else
                fprintf(f, "%s\"%s\": \"%s\"", i ? ", " : "", o.items[i].key, o.items[i].str);
        }
    fprintf(f, "}");
}

static inline void json_geom(FILE *f, const pb_geometry *g) {
    fprintf(f, "\"cfg\": {\"d\": %d, \"heads\": %d, \"d_head\": %d, \"causal\": %d, "
               "\"max_len\": %d}",
            g->d, g->heads, g->d_head, g->causal, g->max_len);
}

/* The start of a dump case: {"name": ..., "opts": {...}, "cfg": {...}, */
static inline void json_case_open(FILE *f, const char *name, const char *spec,
                                  const pb_geometry *g) {
    fprintf(f, "{\"name\": \"%s\", ", name);
    json_opts(f, spec);
    fprintf(f, ", ");
    json_geom(f, g);
    fprintf(f, ", ");
}

/* The end of a dump case: a hook's params, out, the upstream gradient dout
 * and the parameter gradient it gives, then the closing brace. */
static inline void json_case_close(FILE *f, const float *params, int n_params,
                                   const float *out, const float *dout, size_t n_out,
                                   const float *dparams) {
    json_floats(f, "params", params, (size_t)n_params);
    fprintf(f, ", ");
    json_floats(f, "out", out, n_out);
    fprintf(f, ", ");
    json_floats(f, "dout", dout, n_out);
    fprintf(f, ", ");
    json_floats(f, "dparams", dparams, (size_t)n_params);
    fprintf(f, "}\n");
}

#endif
