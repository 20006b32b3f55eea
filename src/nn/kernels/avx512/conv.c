/*
 * conv.c - AVX-512 convolution kernels: the implicit GEMM of ../gemm_conv.h
 * with a 12 x 32 micro-kernel on 16-lane registers.
 *
 * AVX-512F doubles the work per FMA instruction over AVX2 and doubles the
 * register file (32 zmm), so the micro-kernel keeps 24 accumulators (12
 * pixels x 32 output channels), two registers for a row of the weight panel
 * and one for the broadcast input value. Convolutions with at most 16 output
 * channels would waste half of every 32-column panel; they run a 12 x 16
 * kernel on 16-column panels instead (chosen from cout alone, at pack time
 * and at run time alike). Depthwise 3x3 convolution runs on 16 lanes too
 * (../dw3x3.h); other depthwise windows, pooling and activations use the
 * AVX2 kernels.
 *
 * The Makefile compiles only src/nn/kernels/avx2/ with -mavx2; this file
 * enables the instruction sets it needs itself, and fr__kernels_best() only
 * picks it on a CPU that reports AVX-512F.
 */
#include "nn/nn.h"

#ifdef FR__HAVE_AVX512_KERNELS

#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f")

#include "nn/kernels/kernels_internal.h"
#include "nn/kernels/act_simd.h"

#include <immintrin.h>
#include <string.h>

/* Stores the first nv (may be <= 0 or > 16) lanes of one accumulator with
 * bias, residual and activation applied. */
static inline void epilogue16(__m512 acc, float *out, const float *bias, const float *res, int nv,
                              fr__act act, float alpha) {
  if (nv <= 0) return;
  __mmask16 m = nv >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nv) - 1);
  if (bias) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, bias));
  if (res) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, res));
  _mm512_mask_storeu_ps(out, m, fr__act16(acc, act, alpha));
}

#define STEP(r)                                                                                  \
  do {                                                                                           \
    __m512 x = _mm512_set1_ps(a##r[i]);                                                          \
    c##r##0 = _mm512_fmadd_ps(x, b0, c##r##0);                                                   \
    c##r##1 = _mm512_fmadd_ps(x, b1, c##r##1);                                                   \
  } while (0)

/* How far ahead (in floats) the micro-kernel prefetches the weight panel.
 * Deep layers have megabytes of weights that are used by only a few pixels
 * at batch 1, so they stream from L3 and the hardware prefetcher alone left
 * the FMA units waiting; 2 KB ahead measured best of 0.5, 1, 2 and 4 KB. */
#define PREFETCH 512

/* The gemm_conv.h micro-kernel: 12 rows x 32 columns. */
static void micro_12x32(const float *const *A, size_t segstride, int nseg, int seglen,
                        const float *Bp, float *const *C, const float *const *R,
                        const float *bias, int nv, fr__act act, float alpha) {
  __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m512 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  __m512 c60 = c00, c61 = c00, c70 = c00, c71 = c00, c80 = c00, c81 = c00;
  __m512 c90 = c00, c91 = c00, cA0 = c00, cA1 = c00, cB0 = c00, cB1 = c00;
  /* Rows present (the driver passes them first). A call for a few rows, a
   * tile's last or a layer of 1 to 8 pixels, runs a shorter loop instead of
   * computing twelve rows to keep four. */
  int mr = 0;
  while (mr < 12 && C[mr]) mr++;
  const float *b = Bp;
  if (mr <= 4) {
    for (int sg = 0; sg < nseg; sg++) {
      size_t o = (size_t)sg * segstride;
      const float *a0 = A[0] + o, *a1 = A[1] + o, *a2 = A[2] + o, *a3 = A[3] + o;
      for (int i = 0; i < seglen; i++, b += 32) {
        __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
        _mm_prefetch((const char *)(b + PREFETCH), _MM_HINT_T0);
        _mm_prefetch((const char *)(b + PREFETCH + 16), _MM_HINT_T0);
        STEP(0);
        STEP(1);
        STEP(2);
        STEP(3);
      }
    }
  } else if (mr <= 8) {
    for (int sg = 0; sg < nseg; sg++) {
      size_t o = (size_t)sg * segstride;
      const float *a0 = A[0] + o, *a1 = A[1] + o, *a2 = A[2] + o, *a3 = A[3] + o;
      const float *a4 = A[4] + o, *a5 = A[5] + o, *a6 = A[6] + o, *a7 = A[7] + o;
      for (int i = 0; i < seglen; i++, b += 32) {
        __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
        _mm_prefetch((const char *)(b + PREFETCH), _MM_HINT_T0);
        _mm_prefetch((const char *)(b + PREFETCH + 16), _MM_HINT_T0);
        STEP(0);
        STEP(1);
        STEP(2);
        STEP(3);
        STEP(4);
        STEP(5);
        STEP(6);
        STEP(7);
      }
    }
  } else {
    for (int sg = 0; sg < nseg; sg++) {
      size_t o = (size_t)sg * segstride;
      const float *a0 = A[0] + o, *a1 = A[1] + o, *a2 = A[2] + o, *a3 = A[3] + o;
      const float *a4 = A[4] + o, *a5 = A[5] + o, *a6 = A[6] + o, *a7 = A[7] + o;
      const float *a8 = A[8] + o, *a9 = A[9] + o, *aA = A[10] + o, *aB = A[11] + o;
      for (int i = 0; i < seglen; i++, b += 32) {
        __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
        _mm_prefetch((const char *)(b + PREFETCH), _MM_HINT_T0);
        _mm_prefetch((const char *)(b + PREFETCH + 16), _MM_HINT_T0);
        STEP(0);
        STEP(1);
        STEP(2);
        STEP(3);
        STEP(4);
        STEP(5);
        STEP(6);
        STEP(7);
        STEP(8);
        STEP(9);
        STEP(A);
        STEP(B);
      }
    }
  }
  __m512 acc[12][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51},
                       {c60, c61}, {c70, c71}, {c80, c81}, {c90, c91}, {cA0, cA1}, {cB0, cB1}};
  for (int r = 0; r < 12; r++) {
    if (!C[r]) continue;
    const float *res = R ? R[r] : NULL;
    epilogue16(acc[r][0], C[r], bias, res, nv, act, alpha);
    epilogue16(acc[r][1], C[r] + 16, bias ? bias + 16 : NULL, res ? res + 16 : NULL, nv - 16, act,
               alpha);
  }
}

#define GC_AVX512 1
#define GC_MR 12
#define GC_NR 32
#define GC_MT 144
#define GC_MICRO micro_12x32
#define GC_ACT8 fr__act8
#define GC_FN(name) avx512_##name
#include "nn/kernels/gemm_conv.h"
#undef GC_MR
#undef GC_NR
#undef GC_MT
#undef GC_MICRO
#undef GC_ACT8
#undef GC_FN

#define STEP16(r)                                                                                \
  do {                                                                                           \
    c##r = _mm512_fmadd_ps(_mm512_set1_ps(a##r[i]), b0, c##r);                                   \
  } while (0)

/* The narrow micro-kernel, for at most 16 output channels (a network's first
 * layer, typically, with 3 input channels): 12 rows x 16 columns. Weights
 * are packed in 16-column panels, the layout the AVX2 set uses too. */
static void micro_12x16(const float *const *A, size_t segstride, int nseg, int seglen,
                        const float *Bp, float *const *C, const float *const *R,
                        const float *bias, int nv, fr__act act, float alpha) {
  __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
  __m512 c8 = c0, c9 = c0, cA = c0, cB = c0;
  const float *b = Bp;
  for (int sg = 0; sg < nseg; sg++) {
    size_t o = (size_t)sg * segstride;
    const float *a0 = A[0] + o, *a1 = A[1] + o, *a2 = A[2] + o, *a3 = A[3] + o;
    const float *a4 = A[4] + o, *a5 = A[5] + o, *a6 = A[6] + o, *a7 = A[7] + o;
    const float *a8 = A[8] + o, *a9 = A[9] + o, *aA = A[10] + o, *aB = A[11] + o;
    for (int i = 0; i < seglen; i++, b += 16) {
      __m512 b0 = _mm512_load_ps(b);
      STEP16(0);
      STEP16(1);
      STEP16(2);
      STEP16(3);
      STEP16(4);
      STEP16(5);
      STEP16(6);
      STEP16(7);
      STEP16(8);
      STEP16(9);
      STEP16(A);
      STEP16(B);
    }
  }
  __m512 acc[12] = {c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, cA, cB};
  for (int r = 0; r < 12; r++)
    if (C[r]) epilogue16(acc[r], C[r], bias, R ? R[r] : NULL, nv, act, alpha);
}

#define GC_MR 12
#define GC_NR 16
#define GC_MT 144
#define GC_MICRO micro_12x16
#define GC_ACT8 fr__act8
#define GC_FN(name) narrow_##name
#include "nn/kernels/gemm_conv.h"

/* Up to this many output channels the narrow (16-column) kernel runs the
 * convolution. */
#define NARROW 16

static float *pack_conv(const float *hwio, int kh, int kw, int cin, int cout, int stride) {
  if (cout <= NARROW) return narrow_pack_conv(hwio, kh, kw, cin, cout, stride);
  return avx512_pack_conv(hwio, kh, kw, cin, cout, stride);
}

static void *pack_conv_u8(const uint8_t *hwio, const float *affine, int kh, int kw, int cin,
                          int cout, int stride) {
  if (cout <= NARROW) return narrow_pack_conv_u8(hwio, affine, kh, kw, cin, cout, stride);
  return avx512_pack_conv_u8(hwio, affine, kh, kw, cin, cout, stride);
}

static size_t conv_scratch(const fr__conv_args *a) {
  if (a->cout <= NARROW) return narrow_conv_scratch(a);
  return avx512_conv_scratch(a);
}

static int conv_tasks(const fr__conv_args *a, int nthreads) {
  if (a->cout <= NARROW) return narrow_conv_tasks(a, nthreads);
  return avx512_conv_tasks(a, nthreads);
}

static void conv_run(const fr__conv_args *a, int task, int ntasks, float *scratch) {
  if (a->cout <= NARROW)
    narrow_conv_run(a, task, ntasks, scratch);
  else
    avx512_conv_run(a, task, ntasks, scratch);
}

/* Depthwise 3x3 on 16-lane vectors (dw3x3.h); other window sizes use the
 * AVX2 kernel. */
#define DW_L 16
#define DW_V __m512
#define DW_M __mmask16
#define DW_MASK(n) ((__mmask16)((n) >= 16 ? 0xFFFF : (1u << (n)) - 1))
#define DW_LOAD(p, m, full) ((full) ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps((m), (p)))
#define DW_STORE(p, v, m, full)                                                                  \
  ((full) ? _mm512_storeu_ps((p), (v)) : _mm512_mask_storeu_ps((p), (m), (v)))
#define DW_ZERO() _mm512_setzero_ps()
#define DW_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define DW_ACT(v, act, alpha) fr__act16((v), (act), (alpha))
#define DW_FN(name) avx512_##name
#include "nn/kernels/dw3x3.h"

static void dw_run(const fr__conv_args *a, int task, int ntasks) {
  if (a->kh != 3 || a->kw != 3) {
    fr__avx2_dw_run(a, task, ntasks);
    return;
  }
  int rows = a->n * a->oh;
  int r0 = (int)((long)rows * task / ntasks), r1 = (int)((long)rows * (task + 1) / ntasks);
  avx512_dw3x3_rows(a, r0, r1);
}

const fr__kernels fr__kernels_avx512 = {
    .name = "avx512",
    .int8_max = FR__INT8_AVX512VNNI,
    .pack_conv = pack_conv,
    .pack_conv_u8 = pack_conv_u8,
    .conv_scratch = conv_scratch,
    .conv_tasks = conv_tasks,
    .conv_run = conv_run,
    .dw_tasks = fr__avx2_dw_tasks,
    .dw_run = dw_run,
    .pool_run = fr__avx2_pool_run,
    .act_run = fr__avx2_act_run,
    .prelu_run = fr__avx2_prelu_run,
};

#pragma GCC pop_options

#endif
