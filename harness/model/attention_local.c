/* Sliding-window and chunked attention (attention.h): query i sees keys
 * lo(i)..i only, so each block of query rows multiplies against the keys
 * its rows can see, never a T x T matrix. Probabilities are kept as a band
 * [B,H,T,K] for backward. Same rounding sites, element offsets and bias
 * hook as the global kernel. */
#include "../core/parallel.h"
#include "attention.h"

#include <omp.h>
#include <string.h>

#include "../core/blas.h"
#include "attention_internal.h"

/* Query rows per block and the band width K. */
static void geometry(const pb_attn *a, int *qb, int *K) {
    *K = a->span_size < a->T ? a->span_size : a->T;
    *qb = *K < PB_ATTN_QBLOCK ? *K : PB_ATTN_QBLOCK;
}

/* The keys block [q0, q0 + nq) sees: k0 .. q0 + nq - 1. */
static int block_k0(const pb_attn *a, int q0) {
    return pb_attention_key_lo(a, q0);
}

/* Scaled, biased, capped logits of rows q0..q0+nq-1 (head h) against keys
 * k0..k0+nk-1 into S [nq, nk]; bias (when not NULL) is [H][nq][nk]. */
static void logits(const pb_attn *a, int b, int h, int q0, int nq, int k0, int nk,
                   const float *qkv, const float *bias, float *S) {
    const int T = a->T, d = a->d, dh = a->dh, C3 = 3 * d;
    const float *q = qkv + (size_t)(b * T + q0) * C3 + h * dh;
    const float *k = qkv + (size_t)(b * T + k0) * C3 + d + h * dh;
    pb_sgemm(0, 1, nq, nk, dh, a->scale, q, C3, k, C3, 0.0f, S, nk);
    for (int r = 0; r < nq; r++) {
        int i = q0 + r, lo = pb_attention_key_lo(a, i) - k0, n = i - k0 - lo + 1;
        float *seg = S + (size_t)r * nk + lo;
        if (bias) {
            const float *brow = bias + ((size_t)h * nq + r) * nk + lo;
            for (int j = 0; j < n; j++) seg[j] += brow[j];
        }
        if (a->softcap > 0) pb_softcap_row(seg, n, a->softcap);
    }
}

/* The encoding's bias of the block, all heads, or NULL when it has none. */
static float *block_bias(const pb_attn *a, int b, int q0, int nq, int k0, int nk,
                         float *out) {
    if (!a->enc || !(a->enc->type->sites & PB_ENC_BIAS)) return NULL;
    const int *pos = a->pos + (size_t)b * a->T * a->pos_dims;
    a->enc->type->bias_forward(a->enc, a->enc_params, pos + (size_t)q0 * a->pos_dims, nq,
                               pos + (size_t)k0 * a->pos_dims, nk, out);
    return out;
}

void pb_attention_local_forward(const pb_attn *a, float *atty, const float *qkv,
                                float *att, float *scratch) {
    const int T = a->T, d = a->d, H = a->H, dh = a->dh, C3 = 3 * d;
    int qb, K;
    geometry(a, &qb, &K);
    const int nblocks = (T + qb - 1) / qb;
    const size_t per_thread = pb_attention_scratch_for(a, att != NULL);
    const size_t blk = (size_t)qb * (qb + K);

#pragma omp parallel for schedule(static) if (4.0 * a->B * H * T * (K + qb) * dh >= PB_PAR_MIN_FLOPS)
    for (int item = 0; item < a->B * nblocks; item++) {
        int b = item / nblocks, q0 = (item % nblocks) * qb;
        int nq = T - q0 < qb ? T - q0 : qb;
        int k0 = block_k0(a, q0), nk = q0 + nq - k0;
        float *S = scratch + per_thread * (size_t)omp_get_thread_num();
        float *bias = block_bias(a, b, q0, nq, k0, nk, S + blk);
        for (int h = 0; h < H; h++) {
            logits(a, b, h, q0, nq, k0, nk, qkv, bias, S);
            for (int r = 0; r < nq; r++) {
                int i = q0 + r, klo = pb_attention_key_lo(a, i), lo = klo - k0;
                int n = i - klo + 1;
                float *row = S + (size_t)r * nk, *seg = row + lo;
                uint64_t at = (((uint64_t)b * H + h) * T + i) * (uint64_t)T + (uint64_t)klo;
                pb_round_site_at(a->prec, PB_SITE_LOGITS, seg, (size_t)n, at);
                pb_softmax_row(seg, n, n);
                pb_round_site_at(a->prec, PB_SITE_PROBS, seg, (size_t)n, at);
                memset(row, 0, sizeof(float) * (size_t)lo);
                memset(seg + n, 0, sizeof(float) * (size_t)(nk - lo - n));
                if (att) {
                    float *keep = att + (((size_t)b * H + h) * T + i) * (size_t)K;
                    memcpy(keep, seg, sizeof(float) * (size_t)n);
                    memset(keep + n, 0, sizeof(float) * (size_t)(K - n));
                }
            }
            pb_sgemm(0, 0, nq, dh, nk, 1.0f, S, nk, qkv + (size_t)(b * T + k0) * C3 + 2 * d + h * dh,
                     C3, 0.0f, atty + (size_t)(b * T + q0) * d + h * dh, d);
        }
    }
}

void pb_attention_local_backward(const pb_attn *a, float *dqkv, const float *datty,
                                 const float *qkv, const float *att, float *scratch) {
    const int T = a->T, d = a->d, H = a->H, dh = a->dh, C3 = 3 * d;
    int qb, K;
    geometry(a, &qb, &K);
    const size_t per_thread = pb_attention_scratch_for(a, 1);
    const size_t blk = (size_t)qb * (qb + K);

#pragma omp parallel for schedule(static) if (6.0 * a->B * H * T * (K + qb) * dh >= PB_PAR_MIN_FLOPS)
    for (int bh = 0; bh < a->B * H; bh++) {
        int b = bh / H, h = bh % H;
        float *P = scratch + per_thread * (size_t)omp_get_thread_num();
        float *dS = P + blk, *Y = dS + blk, *bias = Y + blk;
        const float *base = qkv + (size_t)b * T * C3 + h * dh;
        float *dbase = dqkv + (size_t)b * T * C3 + h * dh;
        const float *dO = datty + (size_t)b * T * d + h * dh;
        /* dK and dV accumulate over the blocks that see each key */
        for (int t = 0; t < T; t++) {
            memset(dbase + (size_t)t * C3 + d, 0, sizeof(float) * (size_t)dh);
            memset(dbase + (size_t)t * C3 + 2 * d, 0, sizeof(float) * (size_t)dh);
        }
        for (int q0 = 0; q0 < T; q0 += qb) {
            int nq = T - q0 < qb ? T - q0 : qb;
            int k0 = block_k0(a, q0), nk = q0 + nq - k0;
            for (int r = 0; r < nq; r++) {
                int i = q0 + r, lo = pb_attention_key_lo(a, i) - k0, n = i - k0 - lo + 1;
                float *row = P + (size_t)r * nk;
                memset(row, 0, sizeof(float) * (size_t)nk);
                memcpy(row + lo, att + ((size_t)bh * T + i) * (size_t)K, sizeof(float) * (size_t)n);
            }
            /* dP = dO V^T; dV += P^T dO */
            pb_sgemm(0, 1, nq, nk, dh, 1.0f, dO + (size_t)q0 * d, d, base + (size_t)k0 * C3 + 2 * d,
                     C3, 0.0f, dS, nk);
            pb_sgemm(1, 0, nk, dh, nq, 1.0f, P, nk, dO + (size_t)q0 * d, d, 1.0f,
                     dbase + (size_t)k0 * C3 + 2 * d, C3);
            if (a->softcap > 0)
                logits(a, b, h, q0, nq, k0, nk, qkv, block_bias(a, b, q0, nq, k0, nk, bias), Y);
            /* softmax backward inside each row's keys; zero elsewhere */
            for (int r = 0; r < nq; r++) {
                int i = q0 + r, lo = pb_attention_key_lo(a, i) - k0, n = i - k0 - lo + 1;
                float *row = dS + (size_t)r * nk, *seg = row + lo;
                const float *prow = P + (size_t)r * nk + lo;
                pb_softmax_row_backward(seg, prow, n, n);
                if (a->softcap > 0)
                    pb_softcap_grad_row(seg, Y + (size_t)r * nk + lo, n, a->softcap);
                memset(row, 0, sizeof(float) * (size_t)lo);
                memset(seg + n, 0, sizeof(float) * (size_t)(nk - lo - n));
            }
            /* dQ = scale dS K; dK += scale dS^T Q */
            pb_sgemm(0, 0, nq, dh, nk, a->scale, dS, nk, base + (size_t)k0 * C3 + d, C3, 0.0f,
                     dbase + (size_t)q0 * C3, C3);
            pb_sgemm(1, 0, nk, dh, nq, a->scale, dS, nk, base + (size_t)q0 * C3, C3, 1.0f,
                     dbase + (size_t)k0 * C3 + d, C3);
        }
    }
}
