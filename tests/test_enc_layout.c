/* What an encoding tells the host about itself, against what its hooks do:
 *   - the rotary pair layout (pb_encoding_pair_dims): for every encoding with
 *     a qk site, a unit vector on one dim of pair k stays inside pair k under
 *     the transform, for every registered type and RoPE's pairings;
 *   - table_rows: a learned table has exactly that many rows (the next
 *     position fails in prepare());
 *   - n_buckets and bucket(): the bias of a pair is the parameter of its
 *     bucket. */
#include <gsl/gsl_rng.h>
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../encodings/encoding.h"
#include "check.h"

#define DH 16
#define HEADS 2

static pb_geometry geometry(void) {
    return (pb_geometry){.d = DH * HEADS, .heads = HEADS, .d_head = DH, .causal = 1,
                         .max_len = 32};
}

static int make(pb_encoding *e, const pb_encoding_type *t, const char *key,
                const char *str, float **params) {
    pb_opts o;
    pb_opts_init(&o);
    pb_error err;
    if (key && (isdigit((unsigned char)str[0]) ? pb_opts_set_num(&o, key, atof(str), &err)
                                                : pb_opts_set_str(&o, key, str, &err)))
        return -1;
    pb_geometry g = geometry();
    if (pb_encoding_create(e, t, &g, &o, NULL, &err)) {
        fprintf(stderr, "%s: %s\n", t->name, err.msg);
        return -1;
    }
    *params = calloc((size_t)(e->n_params > 0 ? e->n_params : 1), sizeof(float));
    if (e->n_params && t->init_params) {
        gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
        gsl_rng_set(rng, 3);
        t->init_params(e, *params, rng);
        gsl_rng_free(rng);
    }
    if (pb_encoding_prepare(e, 8, &err)) return -1;
    if (pb_encoding_refresh(e, *params, &err)) return -1;
    return 0;
}

/* 1 when every pair (a[k], b[k]) is closed under the transform at pos. */
static int pairs_closed(const pb_encoding *e, const float *params, const int *a,
                        const int *b, const char *what) {
    int pos[2] = {5, 3}, ok = 1;
    for (int k = 0; k < DH / 2; k++)
        for (int side = 0; side < 2; side++) {
            float x[DH * HEADS];
            memset(x, 0, sizeof x);
            x[side ? b[k] : a[k]] = 1.0f;
            e->type->qk_forward(e, params, pos, 1, side, x, DH * HEADS);
            for (int i = 0; i < DH; i++)
                if (i != a[k] && i != b[k] && fabsf(x[i]) > 1e-6f) {
                    if (what)
                        fprintf(stderr, "%s: pair %d (%d, %d) leaks into dim %d (%g)\n",
                                what, k, a[k], b[k], i, x[i]);
                    ok = 0;
                }
        }
    return ok;
}

static void check_layout(const pb_encoding_type *t, const char *key, const char *str) {
    pb_encoding e;
    float *params = NULL;
    char what[96];
    snprintf(what, sizeof what, "%s %s%s%s", t->name, key ? key : "", key ? "=" : "",
             key ? str : "");
    CHECK(make(&e, t, key, str, &params) == 0, "%s: created", what);
    if (!e.type) {
        free(params);
        return;
    }
    int a[DH / 2], b[DH / 2];
    pb_encoding_pair_dims(&e, a, b);
    CHECK(pairs_closed(&e, params, a, b, what), "%s: its pair layout is what it rotates",
          what);
    pb_encoding_destroy(&e);
    free(params);
}

int main(void) {
    /* Every registered type with a qk site, default options. */
    int qk_types = 0;
    for (int i = 0; pb_encoding_types[i]; i++)
        if (pb_encoding_types[i]->sites & PB_ENC_QK) {
            check_layout(pb_encoding_types[i], NULL, NULL);
            qk_types++;
        }
    CHECK(qk_types >= 4, "found %d rotary encodings", qk_types);

    const pb_encoding_type *rope = pb_encoding_find("rope");
    check_layout(rope, "pairing", "half");
    check_layout(rope, "fraction", "0.5");
    check_layout(rope, "p", "0.5");

    /* The check can fail: RoPE's half pairing is not the interleaved layout. */
    pb_encoding e;
    float *params;
    CHECK(make(&e, rope, "pairing", "half", &params) == 0, "rope pairing=half");
    int a[DH / 2], b[DH / 2];
    for (int k = 0; k < DH / 2; k++) a[k] = 2 * k, b[k] = 2 * k + 1;
    CHECK(!pairs_closed(&e, params, a, b, NULL),
          "interleaved pairs are not closed under pairing=half (the test can fail)");
    pb_encoding_destroy(&e);
    free(params);

    /* table_rows: a learned table of size 12 has rows 0..11. */
    const pb_encoding_type *learned = pb_encoding_find("learned");
    CHECK(make(&e, learned, "size", "12", &params) == 0, "learned size=12");
    CHECK(e.table_rows == 12, "learned size=12 has 12 table rows, says %d", e.table_rows);
    pb_error err;
    CHECK(pb_encoding_prepare(&e, 12, &err) == 0 && pb_encoding_prepare(&e, 13, &err) != 0,
          "position 11 has a row, position 12 none");
    pb_encoding_destroy(&e);
    free(params);
    CHECK(make(&e, rope, NULL, NULL, &params) == 0 && e.table_rows == 0 && e.n_buckets == 0,
          "rope has no table rows and no buckets");
    pb_encoding_destroy(&e);
    free(params);

    /* Buckets: with parameters b[h][k] = k the bias of a pair is its bucket. */
    for (int i = 0; pb_encoding_types[i]; i++) {
        const pb_encoding_type *t = pb_encoding_types[i];
        if (!(t->sites & PB_ENC_BIAS)) continue;
        CHECK(make(&e, t, NULL, NULL, &params) == 0, "%s created", t->name);
        if (e.n_buckets > 0) {
            CHECK(t->bucket != NULL, "%s sets n_buckets and has a bucket hook", t->name);
            for (int h = 0; h < HEADS; h++)
                for (int k = 0; k < e.n_buckets; k++) params[h * e.n_buckets + k] = (float)k;
            int bad = 0;
            for (int q = 0; q < 40; q += 3)
                for (int kp = 0; kp < 40; kp += 2) {
                    float bias[HEADS];
                    t->bias_forward(&e, params, &q, 1, &kp, 1, bias);
                    int want = t->bucket(&e, q, kp);
                    bad += want < 0 || want >= e.n_buckets || bias[1] != (float)want;
                }
            CHECK(bad == 0, "%s: bucket() agrees with the bias at %d pairs", t->name, bad);
        }
        pb_encoding_destroy(&e);
        free(params);
    }
    return check_summary("test_enc_layout");
}
