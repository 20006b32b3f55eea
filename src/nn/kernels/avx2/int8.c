/*
 * int8.c (AVX2) - integer convolution kernels for quantised nodes: a 4-pixel
 * by 16-channel tile of int32 sums over the padded u8 input (see
 * src/nn/quant.h; pixels are counted across row ends, so the 4x4 and 3x3
 * maps of deep layers fill whole tiles), in two flavours that differ only
 * in the dot product:
 *
 *  - AVX2: vpmaddubsw (u8 x s8 pairs into saturating int16; exact because
 *    weights stay within 7 bits) then vpmaddwd with ones into int32;
 *  - AVX-VNNI: vpdpbusd, the same four-term u8 x s8 dot product added
 *    straight into int32, in one instruction.
 *
 * Both give the scalar reference's exact sums; the float store does the same
 * operations in the same order as the reference (multiply, add, add), never
 * fused, so the outputs are bit-identical too.
 */
#include "nn/quant.h"

#include "nn/kernels/act_simd.h"

#include <immintrin.h>
#include <string.h>

#define MR 4 /* output pixels per tile */

void fr__quantize_u8_avx2(const float *src, uint8_t *dst, int n, float inv, float zf, float top) {
  const __m256 vi = _mm256_set1_ps(inv), vz = _mm256_set1_ps(zf), lo = _mm256_setzero_ps(),
               hi = _mm256_set1_ps(top);
  /* packus interleaves the two 128-bit lanes; this puts the bytes back. */
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i q[4];
    for (int k = 0; k < 4; k++) {
      __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(src + i + 8 * k), vi), vz);
      q[k] = _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(v, lo), hi));
    }
    __m256i p = _mm256_packus_epi16(_mm256_packus_epi32(q[0], q[1]), _mm256_packus_epi32(q[2], q[3]));
    _mm256_storeu_si256((__m256i *)(dst + i), _mm256_permutevar8x32_epi32(p, order));
  }
  for (; i < n; i++) {
    float v = src[i] * inv + zf;
    v = v < 0.f ? 0.f : (v > top ? top : v);
    dst[i] = (uint8_t)v;
  }
}

/* Stores the tile acc[MR][2] of pixels [ox, ox + np) in block c0 (nc valid
 * channels of 16): out = act(float(acc - corr) * scale + bias + residual). */
static inline __attribute__((always_inline)) void store_tile(const fr__qconv_args *a, __m256i acc[MR][2], size_t o0, int np,
                              int c0, int nc) {
  const int full = nc == FR__Q_NR;
  float sc[16], bi[16];
  int32_t co[16];
  const float *ps = a->scale + c0, *pb = a->bias + c0;
  const int32_t *pc = a->corr + c0;
  if (!full) {
    memset(sc, 0, sizeof sc);
    memset(bi, 0, sizeof bi);
    memset(co, 0, sizeof co);
    memcpy(sc, ps, (size_t)nc * sizeof *sc);
    memcpy(bi, pb, (size_t)nc * sizeof *bi);
    memcpy(co, pc, (size_t)nc * sizeof *co);
    ps = sc, pb = bi, pc = co;
  }
  const float alpha = a->alpha;
  for (int p = 0; p < np; p++) {
    size_t o = o0 + (size_t)p * a->cout + (size_t)c0;
    for (int h = 0; h < 2; h++) {
      __m256i s = _mm256_sub_epi32(acc[p][h], _mm256_loadu_si256((const __m256i *)(pc + 8 * h)));
      __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(s), _mm256_loadu_ps(ps + 8 * h));
      v = _mm256_add_ps(v, _mm256_loadu_ps(pb + 8 * h));
      if (full) {
        if (a->residual) v = _mm256_add_ps(v, _mm256_loadu_ps(a->residual + o + 8 * h));
        _mm256_storeu_ps(a->out + o + 8 * h, fr__act8(v, a->act, alpha));
      } else {
        float tmp[8], res[8] = {0};
        int n = nc - 8 * h;
        if (n <= 0) break;
        if (n > 8) n = 8;
        if (a->residual) {
          memcpy(res, a->residual + o + 8 * h, (size_t)n * sizeof *res);
          v = _mm256_add_ps(v, _mm256_loadu_ps(res));
        }
        _mm256_storeu_ps(tmp, fr__act8(v, a->act, alpha));
        memcpy(a->out + o + 8 * h, tmp, (size_t)n * sizeof *tmp);
      }
    }
  }
}

/* The kernel body, shared by both flavours; DOT(acc, x, w) adds the 4-term
 * u8 x s8 dot products of x (activations) and w (weights) into acc. */
#define QCONV_ROWS_BODY(DOT, PAIRS)                                                                \
  const int rowk = a->kw * a->cinp, nk4 = a->kh * rowk / 4;                                       \
  const size_t blk_bytes = (size_t)nk4 * FR__Q_NR * 4;                                            \
  const size_t rstep = (size_t)a->pw * a->cinp, xstep = (size_t)a->stride * a->cinp;              \
  const size_t ystep = (size_t)a->stride * rstep;                                                 \
  const uint8_t *img = a->in + (size_t)b * a->ph * rstep;                                         \
  /* Pixels are counted across row ends, so that small maps fill tiles. */                       \
  const int pix0 = y0 * a->ow, pix1 = y1 * a->ow;                                                 \
  for (int c0 = 0; c0 < a->cout; c0 += FR__Q_NR) {                                                \
    const int8_t *wb = a->w + (size_t)(c0 / FR__Q_NR) * blk_bytes;                                \
    int nc = a->cout - c0 < FR__Q_NR ? a->cout - c0 : FR__Q_NR;                                   \
    for (int pi = pix0; pi < pix1; pi += MR) {                                                    \
      int np = pix1 - pi < MR ? pix1 - pi : MR;                                                   \
      const uint8_t *px[MR];                                                                      \
      for (int p = 0; p < MR; p++) {                                                              \
        int t = pi + (p < np ? p : np - 1), oy = t / a->ow, ox = t % a->ow;                       \
        px[p] = img + (size_t)oy * ystep + (size_t)ox * xstep;                                    \
      }                                                                                           \
      __m256i acc[MR][2];                                                                         \
      for (int p = 0; p < MR; p++) acc[p][0] = acc[p][1] = _mm256_setzero_si256();               \
      const int8_t *wk = wb;                                                                      \
      for (int r = 0; r < a->kh; r++) {                                                           \
        size_t ro = (size_t)r * rstep;                                                            \
        const uint8_t *p0 = px[0] + ro, *p1 = px[1] + ro, *p2 = px[2] + ro, *p3 = px[3] + ro;     \
        int k = 0;                                                                                \
        PAIRS                                                                                     \
        for (; k < rowk; k += 4, wk += FR__Q_NR * 4) {                                            \
          __m256i w0 = _mm256_load_si256((const __m256i *)wk);                                    \
          __m256i w1 = _mm256_load_si256((const __m256i *)(wk + 32));                             \
          int32_t v0, v1, v2, v3;                                                                 \
          memcpy(&v0, p0 + k, 4);                                                                 \
          memcpy(&v1, p1 + k, 4);                                                                 \
          memcpy(&v2, p2 + k, 4);                                                                 \
          memcpy(&v3, p3 + k, 4);                                                                 \
          __m256i x0 = _mm256_set1_epi32(v0), x1 = _mm256_set1_epi32(v1);                         \
          __m256i x2 = _mm256_set1_epi32(v2), x3 = _mm256_set1_epi32(v3);                         \
          DOT(acc[0][0], x0, w0);                                                                 \
          DOT(acc[0][1], x0, w1);                                                                 \
          DOT(acc[1][0], x1, w0);                                                                 \
          DOT(acc[1][1], x1, w1);                                                                 \
          DOT(acc[2][0], x2, w0);                                                                 \
          DOT(acc[2][1], x2, w1);                                                                 \
          DOT(acc[3][0], x3, w0);                                                                 \
          DOT(acc[3][1], x3, w1);                                                                 \
        }                                                                                         \
      }                                                                                           \
      store_tile(a, acc, ((size_t)b * a->oh * a->ow + (size_t)pi) * a->cout, np, c0, nc);         \
    }                                                                                             \
  }

#define DOT_AVX2(acc, x, w)                                                                       \
  acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), ones))

/* Two 4-byte groups at once for one pixel: with activations <= 127 and
 * weights within +-63, each vpmaddubsw lane is at most 2 * 127 * 63 = 16002
 * in magnitude, so two of them add in int16 without overflow and one
 * vpmaddwd widens both: 3 multiply instructions per 8 bytes instead of 4. */
#define PAIR_AVX2(P, pp)                                                                          \
  do {                                                                                            \
    int32_t va, vb;                                                                               \
    memcpy(&va, pp + k, 4);                                                                       \
    memcpy(&vb, pp + k + 4, 4);                                                                   \
    __m256i xa = _mm256_set1_epi32(va), xb = _mm256_set1_epi32(vb);                               \
    __m256i t0 = _mm256_add_epi16(_mm256_maddubs_epi16(xa, w0), _mm256_maddubs_epi16(xb, w2));    \
    __m256i t1 = _mm256_add_epi16(_mm256_maddubs_epi16(xa, w1), _mm256_maddubs_epi16(xb, w3));    \
    acc[P][0] = _mm256_add_epi32(acc[P][0], _mm256_madd_epi16(t0, ones));                        \
    acc[P][1] = _mm256_add_epi32(acc[P][1], _mm256_madd_epi16(t1, ones));                        \
  } while (0)

#define PAIRS_AVX2                                                                                \
  for (; k + 8 <= rowk; k += 8, wk += 2 * FR__Q_NR * 4) {                                         \
    __m256i w0 = _mm256_load_si256((const __m256i *)wk);                                          \
    __m256i w1 = _mm256_load_si256((const __m256i *)(wk + 32));                                   \
    __m256i w2 = _mm256_load_si256((const __m256i *)(wk + 64));                                   \
    __m256i w3 = _mm256_load_si256((const __m256i *)(wk + 96));                                   \
    PAIR_AVX2(0, p0);                                                                             \
    PAIR_AVX2(1, p1);                                                                             \
    PAIR_AVX2(2, p2);                                                                             \
    PAIR_AVX2(3, p3);                                                                             \
  }

void fr__qconv_rows_avx2(const fr__qconv_args *a, int b, int y0, int y1) {
  const __m256i ones = _mm256_set1_epi16(1);
  QCONV_ROWS_BODY(DOT_AVX2, PAIRS_AVX2)
}

#ifdef FR__HAVE_AVXVNNI_KERNEL
#define DOT_VNNI(acc, x, w) acc = _mm256_dpbusd_avx_epi32(acc, x, w)

/* Enabled by a target attribute, since the file's -mavx2 does not include
 * AVX-VNNI; fr__int8_level_for() picks it only where fr__cpu() reports it. */
__attribute__((target("avx2,fma,avxvnni"))) void fr__qconv_rows_vnni(const fr__qconv_args *a,
                                                                      int b, int y0, int y1) {
  QCONV_ROWS_BODY(DOT_VNNI, )
}
#endif
