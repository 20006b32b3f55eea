/*
 * int8.c (AVX-512) - the integer convolution of quantised nodes with
 * AVX-512 VNNI: vpdpbusd on zmm registers adds sixteen 4-term u8 x s8 dot
 * products into int32 lanes, one 16-channel weight block (see
 * src/nn/quant.h) per register. The tile is 8 output pixels by 32 channels
 * (16 accumulators). Pixels are counted across row ends, so the small
 * feature maps of deep layers (4x4, 3x3) still fill whole tiles.
 *
 * The sums are exact and the float store does the reference's operations in
 * its order (multiply, add, add; never fused), so the outputs equal the
 * scalar kernel's bit for bit. Like conv.c beside it, this file enables its
 * instruction sets itself; fr__int8_level_for() picks it only where
 * fr__cpu() reports AVX-512F, BW and VNNI usable.
 */
#include "nn/quant.h"

#ifdef FR__HAVE_AVX512_KERNELS

#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f,avx512bw,avx512vnni")

#include "nn/kernels/act_simd.h"

#include <immintrin.h>
#include <string.h>

#define MR 8 /* output pixels per tile */

/* out = act(float(acc - corr) * scale + bias + residual) for np pixels
 * starting at output offset o0 and nb blocks of 16 channels from c0. */
static inline __attribute__((always_inline)) void store_tile(const fr__qconv_args *a,
                                                             __m512i acc[MR][2], size_t o0,
                                                             int np, int c0, int nb) {
  const float alpha = a->alpha;
  for (int h = 0; h < nb; h++) {
    int c = c0 + 16 * h, nc = a->cout - c < 16 ? a->cout - c : 16;
    __mmask16 m = (__mmask16)(nc == 16 ? 0xffff : (1u << nc) - 1);
    __m512i corr = _mm512_maskz_loadu_epi32(m, a->corr + c);
    __m512 scale = _mm512_maskz_loadu_ps(m, a->scale + c);
    __m512 bias = _mm512_maskz_loadu_ps(m, a->bias + c);
    for (int p = 0; p < np; p++) {
      size_t o = o0 + (size_t)p * a->cout + (size_t)c;
      __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[p][h], corr)), scale);
      v = _mm512_add_ps(v, bias);
      if (a->residual) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, a->residual + o));
      _mm512_mask_storeu_ps(a->out + o, m, fr__act16(v, a->act, alpha));
    }
  }
}

/* One tile: NB (1 or 2) weight blocks against MR = 8 pixel windows, with the
 * 16 accumulators in named variables so that they stay in registers. */
#define PIX(P, NB)                                                                                   \
  do {                                                                                            \
    int32_t v_;                                                                                   \
    memcpy(&v_, px[P] + ro + k, 4);                                                               \
    __m512i x_ = _mm512_set1_epi32(v_);                                                           \
    s##P##0 = _mm512_dpbusd_epi32(s##P##0, x_, wa);                                               \
    if (NB == 2) s##P##1 = _mm512_dpbusd_epi32(s##P##1, x_, wbb);                                 \
  } while (0)

#define TILE(NB)                                                                                  \
  do {                                                                                            \
    __m512i s00 = _mm512_setzero_si512(), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00;  \
    __m512i s30 = s00, s31 = s00, s40 = s00, s41 = s00, s50 = s00, s51 = s00, s60 = s00;          \
    __m512i s61 = s00, s70 = s00, s71 = s00;                                                      \
    const int8_t *w0 = wb, *w1 = wb + blk_bytes;                                                  \
    for (int r = 0; r < a->kh; r++) {                                                             \
      size_t ro = (size_t)r * rstep;                                                              \
      for (int k = 0; k < rowk; k += 4, w0 += 64, w1 += 64) {                                     \
        __m512i wa = _mm512_load_si512((const void *)w0), wbb = wa;                              \
        if (NB == 2) wbb = _mm512_load_si512((const void *)w1);                                   \
        PIX(0, NB);                                                                                   \
        PIX(1, NB);                                                                                   \
        PIX(2, NB);                                                                                   \
        PIX(3, NB);                                                                                   \
        PIX(4, NB);                                                                                   \
        PIX(5, NB);                                                                                   \
        PIX(6, NB);                                                                                   \
        PIX(7, NB);                                                                                   \
      }                                                                                           \
    }                                                                                             \
    __m512i acc[MR][2] = {{s00, s01}, {s10, s11}, {s20, s21}, {s30, s31},                         \
                          {s40, s41}, {s50, s51}, {s60, s61}, {s70, s71}};                        \
    store_tile(a, acc, o0, np, c0, NB);                                                           \
  } while (0)

void fr__qconv_rows_avx512vnni(const fr__qconv_args *a, int b, int y0, int y1) {
  const int rowk = a->kw * a->cinp, nk4 = a->kh * rowk / 4;
  const size_t blk_bytes = (size_t)nk4 * FR__Q_NR * 4;
  const size_t rstep = (size_t)a->pw * a->cinp, xstep = (size_t)a->stride * a->cinp;
  const size_t ystep = (size_t)a->stride * rstep;
  const uint8_t *img = a->in + (size_t)b * a->ph * rstep;
  const int p0 = y0 * a->ow, p1 = y1 * a->ow; /* pixels counted across rows */
  for (int pi = p0; pi < p1; pi += MR) {
    int np = p1 - pi < MR ? p1 - pi : MR;
    const uint8_t *px[MR];
    for (int p = 0; p < MR; p++) {
      int t = pi + (p < np ? p : np - 1), oy = t / a->ow, ox = t % a->ow;
      px[p] = img + (size_t)oy * ystep + (size_t)ox * xstep;
    }
    size_t o0 = ((size_t)b * a->oh * a->ow + (size_t)pi) * a->cout;
    int c0 = 0;
    for (; c0 + 16 < a->cout; c0 += 32) {
      const int8_t *wb = a->w + (size_t)(c0 / 16) * blk_bytes;
      TILE(2);
    }
    if (c0 < a->cout) {
      const int8_t *wb = a->w + (size_t)(c0 / 16) * blk_bytes;
      TILE(1);
    }
  }
}

#pragma GCC pop_options

#endif
