#include "../core/parallel.h"
#include "attention.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "../core/blas.h"
#include "../core/kernels.h"
#include "attention_internal.h"

/* The kernel set's GEMM (any shape: its last columns go under a mask), or
 * NULL: BLAS then (the avx2 and scalar sets). */
static const pb_kernels *gemm_set(void) {
    const pb_kernels *k = pb_kernels_active();
    return k->gemm ? k : NULL;
}

/* Heads narrower than this, at T of at least this, compute dV and dK
 * transposed (T wide, then scattered): more columns per register than d_h
 * gives. Config C (T = 32, d_h = 8) ran 13% faster so; at T = 10 the
 * direct products were 4% faster (docs/model.md). */
#define NARROW_HEAD 16

/* out[c * T + j] = scale * x[j * ld + c]: a head's [T, dh] columns
 * transposed (and scaled) for the GEMM, whose right factor is row-major. */
static void transpose_scaled(float *out, const float *x, int ld, int T, int dh, float scale) {
    for (int c = 0; c < dh; c++)
        for (int j = 0; j < T; j++) out[(size_t)c * T + j] = scale * x[(size_t)j * ld + c];
}

/* out[j * ld + c] = scale * xt[c * T + j]: a [dh, T] result written back
 * as a head's [T, dh] columns */
static void scatter_transposed(float *out, int ld, const float *xt, int T, int dh, float scale) {
    for (int j = 0; j < T; j++)
        for (int c = 0; c < dh; c++) out[(size_t)j * ld + c] = scale * xt[(size_t)c * T + j];
}

/* out[j * dh + c] = scale * x[j * ld + c] */
static void copy_scaled(float *out, const float *x, int ld, int T, int dh, float scale) {
    for (int j = 0; j < T; j++)
        for (int c = 0; c < dh; c++) out[(size_t)j * dh + c] = scale * x[(size_t)j * ld + c];
}

size_t pb_attention_scratch(int T, int H, int train) {
    size_t qb = (size_t)(train ? T : (T < PB_ATTN_QBLOCK ? T : PB_ATTN_QBLOCK));
    size_t fwd = train ? 0 : (size_t)(H + 1) * qb * (size_t)T;
    size_t bwd = train ? (size_t)T * (size_t)T : 0;
    return fwd > bwd ? fwd : bwd;
}

/* Band width of a window or chunk, at most T. */
static size_t band(const pb_attn *a) {
    return (size_t)(a->span_size < a->T ? a->span_size : a->T);
}

/* Query rows per block of a window or chunk: keys of one block then span
 * at most qb + K - 1. */
static size_t local_qblock(const pb_attn *a) {
    size_t K = band(a);
    return K < PB_ATTN_QBLOCK ? K : PB_ATTN_QBLOCK;
}

size_t pb_attention_scratch_for(const pb_attn *a, int train) {
    if (a->span == PB_SPAN_GLOBAL) {
        size_t s = pb_attention_scratch(a->T, a->H, train);
        /* the backward of soft-capping recomputes the capped logits */
        return train && a->softcap > 0 ? 2 * s : s;
    }
    size_t qb = local_qblock(a), blk = qb * (qb + band(a));
    return (size_t)(a->H + 3) * blk;
}

size_t pb_attention_probs(const pb_attn *a) {
    return (size_t)a->T * (a->span == PB_SPAN_GLOBAL ? (size_t)a->T : band(a));
}

int pb_attention_key_lo(const pb_attn *a, int i) {
    if (a->span == PB_SPAN_WINDOW) return i - a->span_size + 1 > 0 ? i - a->span_size + 1 : 0;
    if (a->span == PB_SPAN_CHUNK) return i / a->span_size * a->span_size;
    return 0;
}

void pb_attention_forward(const pb_attn *a, float *atty, const float *qkv,
                          float *att, float *scratch) {
    if (a->span != PB_SPAN_GLOBAL) {
        pb_attention_local_forward(a, atty, qkv, att, scratch);
        return;
    }
    const int T = a->T, d = a->d, H = a->H, dh = a->dh, C3 = 3 * d;
    const int qb = att ? T : (T < PB_ATTN_QBLOCK ? T : PB_ATTN_QBLOCK);
    const int nblocks = (T + qb - 1) / qb;
    const int has_bias = a->enc && (a->enc->type->sites & PB_ENC_BIAS);
    const size_t per_thread = pb_attention_scratch(T, H, att != NULL);

#pragma omp parallel for schedule(static) if (2.0 * a->B * H * T * T * dh >= PB_PAR_MIN_FLOPS)
    for (int item = 0; item < a->B * nblocks; item++) {
        int b = item / nblocks, q0 = (item % nblocks) * qb;
        int nq = T - q0 < qb ? T - q0 : qb;
        int nk = a->causal ? q0 + nq : T;  /* keys any row of the block sees */
        float *mine = scratch + per_thread * (size_t)omp_get_thread_num();
        float *block_bias = NULL;
        if (has_bias && !a->bias) {
            block_bias = mine + (size_t)nq * nk;
            a->enc->type->bias_forward(a->enc, a->enc_params,
                                       a->pos + (size_t)(b * T + q0) * a->pos_dims,
                                       nq, a->pos + (size_t)b * T * a->pos_dims, nk,
                                       block_bias);
        }
        const float *q = qkv + (size_t)(b * T + q0) * C3;
        const float *k = qkv + (size_t)b * T * C3 + d;
        const float *v = qkv + (size_t)b * T * C3 + 2 * d;
        for (int h = 0; h < H; h++) {
            float *S;
            int ld;
            if (att) {
                S = att + ((size_t)(b * H + h) * T + q0) * T;
                ld = T;
            } else {
                S = mine;
                ld = nk;
            }
            /* training: S = Q (scale K)^T with the kernel set's GEMM when
             * it has one, else BLAS */
            const pb_kernels *gk = att ? gemm_set() : NULL;
            float *kt = gk ? pb_kernels_buffer(1, (size_t)dh * T) : NULL;
            if (kt) {
                transpose_scaled(kt, k + h * dh, C3, nk, dh, a->scale);
                gk->gemm(nq, nk, dh, q + h * dh, C3, 1, kt, nk, S, ld, NULL, 0);
            } else {
                pb_sgemm(0, 1, nq, nk, dh, a->scale, q + h * dh, C3, k + h * dh, C3, 0.0f,
                         S, ld);
            }
            for (int r = 0; r < nq; r++) {
                float *row = S + (size_t)r * ld;
                const float *brow = NULL;
                if (block_bias)
                    brow = block_bias + ((size_t)h * nq + r) * nk;
                else if (has_bias && a->bias_shared)
                    brow = a->bias + ((size_t)h * T + q0 + r) * T;
                else if (has_bias)
                    brow = a->bias + (((size_t)b * H + h) * T + q0 + r) * T;
                int valid = a->causal ? q0 + r + 1 : nk;
                if (brow)
                    for (int j = 0; j < valid; j++) row[j] += brow[j];
                if (a->softcap > 0) pb_softcap_row(row, valid, a->softcap);
                /* element index of this row in the [B,H,T,T] tensor */
                uint64_t at = (((uint64_t)b * H + h) * T + q0 + r) * (uint64_t)T;
                pb_round_site_at(a->prec, PB_SITE_LOGITS, row, (size_t)valid, at);
                pb_softmax_row(row, valid, att ? T : nk);
                pb_round_site_at(a->prec, PB_SITE_PROBS, row, (size_t)valid, at);
            }
            if (gk)
                gk->gemm(nq, dh, nk, S, ld, 1, v + h * dh, C3,
                         atty + (size_t)(b * T + q0) * d + h * dh, d, NULL, 0);
            else
                pb_sgemm(0, 0, nq, dh, nk, 1.0f, S, ld, v + h * dh, C3, 0.0f,
                         atty + (size_t)(b * T + q0) * d + h * dh, d);
        }
    }
}

/* dS *= the soft-cap's derivative, from the capped logits recomputed into y
 * (T x T scratch). */
static void capped_grad(const pb_attn *a, int b, int h, float *dS, float *y,
                        const float *base) {
    const int T = a->T, H = a->H, C3 = 3 * a->d;
    const int has_bias = a->enc && (a->enc->type->sites & PB_ENC_BIAS);
    /* the logits exactly as the training forward computed them */
    const pb_kernels *g = gemm_set();
    float *kt = g ? pb_kernels_buffer(2, (size_t)a->dh * T) : NULL;
    if (kt) {
        transpose_scaled(kt, base + a->d, C3, T, a->dh, a->scale);
        g->gemm(T, T, a->dh, base, C3, 1, kt, T, y, T, NULL, 0);
    } else {
        pb_sgemm(0, 1, T, T, a->dh, a->scale, base, C3, base + a->d, C3, 0.0f, y, T);
    }
    for (int i = 0; i < T; i++) {
        float *row = y + (size_t)i * T;
        int valid = a->causal ? i + 1 : T;
        const float *brow = !has_bias ? NULL
                            : a->bias_shared ? a->bias + ((size_t)h * T + i) * T
                                             : a->bias + (((size_t)b * H + h) * T + i) * T;
        if (brow)
            for (int j = 0; j < valid; j++) row[j] += brow[j];
        pb_softcap_row(row, valid, a->softcap);
        pb_softcap_grad_row(dS + (size_t)i * T, row, valid, a->softcap);
    }
}

void pb_attention_backward(const pb_attn *a, float *dqkv, float *dbias,
                           const float *datty, const float *qkv, const float *att,
                           float *scratch) {
    if (a->span != PB_SPAN_GLOBAL) {
        pb_attention_local_backward(a, dqkv, datty, qkv, att, scratch);
        return;
    }
    const int T = a->T, d = a->d, H = a->H, dh = a->dh, C3 = 3 * d;
    const size_t per_thread = pb_attention_scratch_for(a, 1);

#pragma omp parallel for schedule(static) if (4.0 * a->B * H * T * T * dh >= PB_PAR_MIN_FLOPS)
    for (int bh = 0; bh < a->B * H; bh++) {
        int b = bh / H, h = bh % H;
        float *dS = scratch + per_thread * (size_t)omp_get_thread_num();
        const float *P = att + (size_t)bh * T * T;
        const float *dO = datty + (size_t)b * T * d + h * dh;
        const float *base = qkv + (size_t)b * T * C3 + h * dh;
        float *dbase = dqkv + (size_t)b * T * C3 + h * dh;
        /* dP = dO V^T; dV = P^T dO (the kernel set's GEMM when it has
         * one, with V^T, scale K and scale Q in this thread's buffer; heads
         * narrower than NARROW_HEAD compute dV and dK transposed, T wide,
         * when T is at least that; else BLAS) */
        const pb_kernels *g = gemm_set();
        float *buf = g ? pb_kernels_buffer(1, (size_t)2 * T * dh) : NULL;
        if (!buf) g = NULL;
        const int narrow = dh < NARROW_HEAD && T >= NARROW_HEAD;
        if (g) {
            transpose_scaled(buf, base + 2 * d, C3, T, dh, 1.0f);
            g->gemm(T, T, dh, dO, d, 1, buf, T, dS, T, NULL, 0);
        } else {
            pb_sgemm(0, 1, T, T, dh, 1.0f, dO, d, base + 2 * d, C3, 0.0f, dS, T);
        }
        if (g && !narrow) {
            g->gemm(T, dh, T, P, 1, T, dO, d, dbase + 2 * d, C3, NULL, 0);
        } else if (g) { /* dV^T = dO^T P, T wide, then scattered */
            float *dvt = buf + (size_t)T * dh;
            g->gemm(dh, T, T, dO, 1, d, P, T, dvt, T, NULL, 0);
            scatter_transposed(dbase + 2 * d, C3, dvt, T, dh, 1.0f);
        } else {
            pb_sgemm(1, 0, T, dh, T, 1.0f, P, T, dO, d, 0.0f, dbase + 2 * d, C3);
        }
        /* softmax backward: dS = P * (dP - sum_j P dP) */
        for (int i = 0; i < T; i++) {
            float *row = dS + (size_t)i * T;
            pb_softmax_row_backward(row, P + (size_t)i * T, a->causal ? i + 1 : T, T);
        }
        if (a->softcap > 0) capped_grad(a, b, h, dS, dS + (size_t)T * T, base);
        if (dbias) {
            float *db = dbias + (size_t)bh * T * T;
            for (size_t i = 0; i < (size_t)T * T; i++) db[i] += dS[i];
        }
        /* dQ = dS (scale K); dK = dS^T (scale Q), or for narrow heads
         * dK^T = Q^T dS, T wide, scaled as it is scattered */
        if (g) {
            float *second = buf + (size_t)T * dh;
            copy_scaled(buf, base + d, C3, T, dh, a->scale);
            g->gemm(T, dh, T, dS, T, 1, buf, dh, dbase, C3, NULL, 0);
            if (!narrow) {
                copy_scaled(second, base, C3, T, dh, a->scale);
                g->gemm(T, dh, T, dS, 1, T, second, dh, dbase + d, C3, NULL, 0);
            } else {
                g->gemm(dh, T, T, base, 1, C3, dS, T, second, T, NULL, 0);
                scatter_transposed(dbase + d, C3, second, T, dh, a->scale);
            }
        } else {
            pb_sgemm(0, 0, T, dh, T, a->scale, dS, T, base + d, C3, 0.0f, dbase, C3);
            pb_sgemm(1, 0, T, dh, T, a->scale, dS, T, base, C3, 0.0f, dbase + d, C3);
        }
    }
}
