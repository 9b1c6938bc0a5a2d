/* Per-layer records from option lists (layer_spec.h). */
#include "layer_spec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pb_layer_spec_uniform(pb_layer_spec *s, const char *encoding, const pb_opts *enc_opts) {
    memset(s, 0, sizeof *s);
    snprintf(s->encoding, sizeof s->encoding, "%s", encoding);
    s->enc_opts = *enc_opts;
    s->qk_norm_eps = 1e-6;
}

static const char *const layer_keys[] = {
    "encoding", "window", "chunk", "temperature.rule", "temperature.scale",
    "temperature.floor_scale", "temperature.at", "qk_norm", "qk_norm_weight",
    "qk_norm_eps", "softcap", NULL};

/* Every key is a layer key or starts with "enc.". */
static int check_keys(const pb_opts *o, const char *what, pb_error *err) {
    for (int i = 0; i < o->n; i++) {
        const char *k = o->items[i].key;
        if (strncmp(k, "enc.", 4) == 0) continue;
        int known = 0;
        for (int j = 0; layer_keys[j] && !known; j++) known = strcmp(k, layer_keys[j]) == 0;
        if (!known)
            return pb_fail(err, "%s: unknown key '%s' (valid: encoding, enc, window, chunk, "
                                "temperature = {rule, scale, floor_scale, at}, qk_norm, "
                                "qk_norm_weight, qk_norm_eps, softcap)", what, k);
    }
    return 0;
}

static int parse_encoding(pb_layer_spec *s, const pb_opts *o, const char *what,
                          pb_error *err) {
    const char *enc = NULL;
    if (pb_opts_str(o, "encoding", NULL, &enc, what, err)) return -1;
    if (enc) {
        if (strlen(enc) >= sizeof s->encoding)
            return pb_fail(err, "%s: encoding name '%s' is too long", what, enc);
        snprintf(s->encoding, sizeof s->encoding, "%s", enc);
        pb_opts_init(&s->enc_opts);
    }
    for (int i = 0; i < o->n; i++)
        if (strncmp(o->items[i].key, "enc.", 4) == 0 &&
            pb_opts_set_item(&s->enc_opts, o->items[i].key + 4, &o->items[i], err))
            return -1;
    return 0;
}

static int parse_span(pb_layer_spec *s, const pb_opts *o, const char *what, pb_error *err) {
    int has_w = pb_opts_has(o, "window"), has_c = pb_opts_has(o, "chunk");
    if (has_w && has_c)
        return pb_fail(err, "%s: give 'window' or 'chunk', not both", what);
    if (!has_w && !has_c) return 0;
    const char *key = has_w ? "window" : "chunk";
    int n;
    if (pb_opts_int(o, key, 0, &n, what, err)) return -1;
    if (n < 1) return pb_fail(err, "%s: '%s' must be a positive integer, got %d", what, key, n);
    s->span = has_w ? PB_SPAN_WINDOW : PB_SPAN_CHUNK;
    s->span_size = n;
    return 0;
}

static int parse_temperature(pb_layer_spec *s, const pb_opts *o, const char *what,
                             pb_error *err) {
    const char *rule = NULL, *at = NULL;
    if (pb_opts_str(o, "temperature.rule", NULL, &rule, what, err) ||
        pb_opts_str(o, "temperature.at", "always", &at, what, err))
        return -1;
    if (!rule) {
        if (pb_opts_has(o, "temperature.scale") || pb_opts_has(o, "temperature.floor_scale") ||
            pb_opts_has(o, "temperature.at"))
            return pb_fail(err, "%s: temperature needs a rule (const, log or length)", what);
        return 0;
    }
    if (strcmp(rule, "const") == 0) s->temp = PB_TEMP_CONST;
    else if (strcmp(rule, "log") == 0) s->temp = PB_TEMP_LOG;
    else if (strcmp(rule, "length") == 0) s->temp = PB_TEMP_LENGTH;
    else
        return pb_fail(err, "%s: unknown temperature rule '%s' (valid: const, log, length)",
                       what, rule);
    double dflt_scale = s->temp == PB_TEMP_LOG ? 0.1 : 1.0;
    if (pb_opts_num(o, "temperature.scale", dflt_scale, &s->temp_scale, what, err) ||
        pb_opts_num(o, "temperature.floor_scale", 0, &s->temp_floor, what, err))
        return -1;
    if (!isfinite(s->temp_scale))
        return pb_fail(err, "%s: temperature scale must be finite", what);
    if (s->temp == PB_TEMP_LOG && !(s->temp_floor >= 1 && isfinite(s->temp_floor)))
        return pb_fail(err, "%s: temperature rule 'log' needs floor_scale >= 1", what);
    if (s->temp != PB_TEMP_LOG && pb_opts_has(o, "temperature.floor_scale"))
        return pb_fail(err, "%s: floor_scale belongs to temperature rule 'log' only", what);
    if (strcmp(at, "always") == 0) s->temp_eval_only = 0;
    else if (strcmp(at, "eval") == 0) s->temp_eval_only = 1;
    else return pb_fail(err, "%s: temperature 'at' must be always or eval, got '%s'", what, at);
    return 0;
}

static int parse_qknorm(pb_layer_spec *s, const pb_opts *o, const char *what, pb_error *err) {
    const char *kind = NULL;
    if (pb_opts_str(o, "qk_norm", NULL, &kind, what, err)) return -1;
    if (kind && strcmp(kind, "pre") == 0) s->qk_norm = PB_QKNORM_PRE;
    else if (kind && strcmp(kind, "post") == 0) s->qk_norm = PB_QKNORM_POST;
    else if (kind)
        return pb_fail(err, "%s: qk_norm must be 'pre' (before the encoding's rotation) or "
                            "'post' (after it), got '%s'", what, kind);
    if (pb_opts_bool(o, "qk_norm_weight", s->qk_norm_weight, &s->qk_norm_weight, what, err) ||
        pb_opts_num(o, "qk_norm_eps", s->qk_norm_eps, &s->qk_norm_eps, what, err))
        return -1;
    if (!s->qk_norm && (pb_opts_has(o, "qk_norm_weight") || pb_opts_has(o, "qk_norm_eps")))
        return pb_fail(err, "%s: qk_norm_weight and qk_norm_eps need qk_norm = 'pre' or 'post'",
                       what);
    if (!(s->qk_norm_eps > 0 && isfinite(s->qk_norm_eps)))
        return pb_fail(err, "%s: qk_norm_eps must be positive", what);
    return 0;
}

int pb_layer_spec_parse(pb_layer_spec *s, const pb_opts *o, const char *what, pb_error *err) {
    if (check_keys(o, what, err) || parse_encoding(s, o, what, err) ||
        parse_span(s, o, what, err) || parse_temperature(s, o, what, err) ||
        parse_qknorm(s, o, what, err) ||
        pb_opts_num(o, "softcap", s->softcap, &s->softcap, what, err))
        return -1;
    if (!(s->softcap >= 0 && isfinite(s->softcap)))
        return pb_fail(err, "%s: softcap must be positive (or 0 for none)", what);
    return 0;
}

/* "a:b" with a, b >= 0 and a + b >= 1. */
static int parse_pattern(const char *p, int *a, int *b, pb_error *err) {
    char *end;
    long x = strtol(p, &end, 10);
    if (end == p || *end != ':') goto bad;
    const char *q = end + 1;
    long y = strtol(q, &end, 10);
    if (end == q || *end || x < 0 || y < 0 || x + y < 1 || x > 1000000 || y > 1000000) goto bad;
    *a = (int)x;
    *b = (int)y;
    return 0;
bad:
    return pb_fail(err, "pb.model: pattern must read \"local:global\" with counts, e.g. "
                        "\"3:1\", got \"%s\"", p);
}

int pb_layer_specs_pattern(pb_layer_spec *out, int layers, const char *encoding,
                           const pb_opts *enc_opts, const char *pattern, int every,
                           const pb_opts *local_o, const pb_opts *global_o, pb_error *err) {
    int a = 0, b = 0;
    if ((pattern != NULL) == (every > 0))
        return pb_fail(err, "pb.model: give one of pattern and every");
    if (pattern && parse_pattern(pattern, &a, &b, err)) return -1;
    pb_layer_spec loc, glob;
    pb_layer_spec_uniform(&loc, encoding, enc_opts);
    pb_layer_spec_uniform(&glob, encoding, enc_opts);
    if (pb_layer_spec_parse(&loc, local_o, "pb.model local_layer", err) ||
        pb_layer_spec_parse(&glob, global_o, "pb.model global_layer", err))
        return -1;
    for (int i = 0; i < layers; i++) {
        int global = pattern ? i % (a + b) >= a : (i + 1) % every == 0;
        out[i] = global ? glob : loc;
    }
    return 0;
}

static int add_num(pb_opts *o, const char *k, double v, pb_error *err) {
    return pb_opts_set_num(o, k, v, err);
}

int pb_layer_spec_to_opts(const pb_layer_spec *s, pb_opts *o, pb_error *err) {
    static const char *const rules[] = {"none", "const", "log", "length"};
    pb_opts_init(o);
    if (pb_opts_set_str(o, "encoding", s->encoding, err) ||
        pb_opts_merge_prefixed(o, &s->enc_opts, "enc.", err))
        return -1;
    if (s->span != PB_SPAN_GLOBAL &&
        add_num(o, s->span == PB_SPAN_WINDOW ? "window" : "chunk", s->span_size, err))
        return -1;
    if (s->temp != PB_TEMP_NONE &&
        (pb_opts_set_str(o, "temperature.rule", rules[s->temp], err) ||
         add_num(o, "temperature.scale", s->temp_scale, err) ||
         (s->temp == PB_TEMP_LOG && add_num(o, "temperature.floor_scale", s->temp_floor, err)) ||
         pb_opts_set_str(o, "temperature.at", s->temp_eval_only ? "eval" : "always", err)))
        return -1;
    if (s->qk_norm != PB_QKNORM_NONE &&
        (pb_opts_set_str(o, "qk_norm", s->qk_norm == PB_QKNORM_PRE ? "pre" : "post", err) ||
         pb_opts_set_bool(o, "qk_norm_weight", s->qk_norm_weight, err) ||
         add_num(o, "qk_norm_eps", s->qk_norm_eps, err)))
        return -1;
    if (s->softcap > 0 && add_num(o, "softcap", s->softcap, err)) return -1;
    return 0;
}

static int same_item(const pb_opt *a, const pb_opt *b) {
    return a->kind == b->kind && a->num == b->num &&
           (a->kind != PB_OPT_STR || strcmp(a->str, b->str) == 0);
}

int pb_layer_spec_same_encoding(const pb_layer_spec *a, const pb_layer_spec *b) {
    if (strcmp(a->encoding, b->encoding) != 0 || a->enc_opts.n != b->enc_opts.n) return 0;
    for (int i = 0; i < a->enc_opts.n; i++) {
        const pb_opt *x = pb_opts_find(&b->enc_opts, a->enc_opts.items[i].key);
        if (!x || !same_item(x, &a->enc_opts.items[i])) return 0;
    }
    return 1;
}

int pb_layer_spec_plain(const pb_layer_spec *s) {
    return s->span == PB_SPAN_GLOBAL && s->temp == PB_TEMP_NONE &&
           s->qk_norm == PB_QKNORM_NONE && s->softcap == 0;
}

float pb_layer_temperature(const pb_layer_spec *s, int pos, int n_keys) {
    switch (s->temp) {
    case PB_TEMP_CONST: return (float)s->temp_scale;
    case PB_TEMP_LOG:
        return (float)(1.0 + s->temp_scale * log(floor((pos + 1.0) / s->temp_floor) + 1.0));
    case PB_TEMP_LENGTH: return (float)(s->temp_scale * log((double)n_keys));
    default: return 1.0f;
    }
}

int pb_encoding_type_takes(const pb_encoding_type *t, const pb_opts *o) {
    if (!t) return 0;
    for (int i = 0; i < o->n; i++) {
        int known = 0;
        for (int j = 0; t->options && t->options[j] && !known; j++)
            known = strcmp(t->options[j], o->items[i].key) == 0;
        if (!known) return 0;
    }
    return 1;
}

int pb_layer_specs_override(pb_layer_spec *s, int n, const pb_opts *over, pb_error *err) {
    int taken = 0;
    for (int l = 0; l < n; l++)
        if (pb_encoding_type_takes(pb_encoding_find(s[l].encoding), over)) {
            if (pb_opts_merge(&s[l].enc_opts, over, err)) return -1;
            taken++;
        }
    if (over->n && !taken)
        return pb_fail(err, "model: no layer's encoding takes the option '%s'", over->items[0].key);
    return 0;
}
