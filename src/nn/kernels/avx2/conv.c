/*
 * conv.c - AVX2/FMA kernels: convolution as implicit GEMM or Winograd with a
 * fused epilogue (the driver is in ../gemm_conv.h), depthwise convolution
 * (3x3 in ../dw3x3.h), pooling and activations vectorised over channels.
 *
 * The micro-kernel computes 6 output pixels x 16 output channels: 12 of the
 * 16 ymm registers hold accumulators, two hold the current row of the packed
 * weight panel and one the broadcast input value, so each step issues 12 FMAs
 * against 2 loads and 6 broadcasts. Bias, residual add and activation are
 * applied while the accumulators are still in registers.
 */
#include "nn/nn.h"
#include "nn/kernels/kernels_internal.h"
#include "nn/kernels/act_simd.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

/* Lane mask with the first n (0..8) lanes set. */
static inline __m256i mask8(int n) {
  static const int32_t m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  if (n < 0) n = 0;
  if (n > 8) n = 8;
  return _mm256_loadu_si256((const __m256i *)(m + 8 - n));
}

/* Stores one 8-lane accumulator with bias, residual and activation applied. */
static inline void epilogue(__m256 acc, float *out, const float *bias, const float *res, int nv,
                            fr__act act, float alpha) {
  if (nv >= 8) {
    if (bias) acc = _mm256_add_ps(acc, _mm256_loadu_ps(bias));
    if (res) acc = _mm256_add_ps(acc, _mm256_loadu_ps(res));
    _mm256_storeu_ps(out, fr__act8(acc, act, alpha));
  } else if (nv > 0) {
    __m256i m = mask8(nv);
    if (bias) acc = _mm256_add_ps(acc, _mm256_maskload_ps(bias, m));
    if (res) acc = _mm256_add_ps(acc, _mm256_maskload_ps(res, m));
    _mm256_maskstore_ps(out, m, fr__act8(acc, act, alpha));
  }
}

/* The gemm_conv.h micro-kernel: 6 rows x 16 columns. */
static void micro_6x16(const float *const *A, size_t segstride, int nseg, int seglen,
                       const float *Bp, float *const *C, const float *const *R,
                       const float *bias, int nv, fr__act act, float alpha) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  const float *b = Bp;
  for (int sg = 0; sg < nseg; sg++) {
    size_t o = (size_t)sg * segstride;
    const float *a0 = A[0] + o, *a1 = A[1] + o, *a2 = A[2] + o, *a3 = A[3] + o, *a4 = A[4] + o,
                *a5 = A[5] + o;
    for (int i = 0; i < seglen; i++, b += 16) {
      __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
      /* Deep layers stream megabytes of weights from L3 at batch 1; a
       * prefetch 2 KB ahead keeps the FMA units fed (see avx512/conv.c). */
      _mm_prefetch((const char *)(b + 512), _MM_HINT_T0);
      __m256 x;
      x = _mm256_broadcast_ss(a0 + i);
      c00 = _mm256_fmadd_ps(x, b0, c00);
      c01 = _mm256_fmadd_ps(x, b1, c01);
      x = _mm256_broadcast_ss(a1 + i);
      c10 = _mm256_fmadd_ps(x, b0, c10);
      c11 = _mm256_fmadd_ps(x, b1, c11);
      x = _mm256_broadcast_ss(a2 + i);
      c20 = _mm256_fmadd_ps(x, b0, c20);
      c21 = _mm256_fmadd_ps(x, b1, c21);
      x = _mm256_broadcast_ss(a3 + i);
      c30 = _mm256_fmadd_ps(x, b0, c30);
      c31 = _mm256_fmadd_ps(x, b1, c31);
      x = _mm256_broadcast_ss(a4 + i);
      c40 = _mm256_fmadd_ps(x, b0, c40);
      c41 = _mm256_fmadd_ps(x, b1, c41);
      x = _mm256_broadcast_ss(a5 + i);
      c50 = _mm256_fmadd_ps(x, b0, c50);
      c51 = _mm256_fmadd_ps(x, b1, c51);
    }
  }
  __m256 acc[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  for (int r = 0; r < 6; r++) {
    if (!C[r]) continue;
    const float *res = R ? R[r] : NULL;
    epilogue(acc[r][0], C[r], bias, res, nv, act, alpha);
    epilogue(acc[r][1], C[r] + 8, bias ? bias + 8 : NULL, res ? res + 8 : NULL, nv - 8, act,
             alpha);
  }
}

#define GC_MR 6
#define GC_NR 16
#define GC_MT 96
#define GC_MICRO micro_6x16
#define GC_ACT8 fr__act8
#define GC_FN(name) avx2_##name
#include "nn/kernels/gemm_conv.h"

/* Depthwise convolutions and pooling: ranges of output rows. Below about a
 * million window elements the whole layer is one task, because waking a pool
 * thread costs tens of microseconds, more than such a layer takes. */
int fr__avx2_dw_tasks(const fr__conv_args *a, int nthreads) {
  int rows = a->n * a->oh;
  double work = (double)rows * a->ow * a->cout * a->kh * a->kw;
  if (nthreads <= 1 || work < 1e6) return 1;
  int t = nthreads * 4;
  return t < rows ? t : rows;
}

#define DW_L 8
#define DW_V __m256
#define DW_M __m256i
#define DW_MASK(n) mask8(n)
#define DW_LOAD(p, m, full) ((full) ? _mm256_loadu_ps(p) : _mm256_maskload_ps((p), (m)))
#define DW_STORE(p, v, m, full)                                                                  \
  ((full) ? _mm256_storeu_ps((p), (v)) : _mm256_maskstore_ps((p), (m), (v)))
#define DW_ZERO() _mm256_setzero_ps()
#define DW_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define DW_ACT(v, act, alpha) fr__act8((v), (act), (alpha))
#define DW_FN(name) avx2_##name
#include "nn/kernels/dw3x3.h"

void fr__avx2_dw_run(const fr__conv_args *a, int task, int ntasks) {
  int rows = a->n * a->oh;
  int r0 = (int)((long)rows * task / ntasks), r1 = (int)((long)rows * (task + 1) / ntasks);
  if (a->kh == 3 && a->kw == 3) {
    avx2_dw3x3_rows(a, r0, r1);
    return;
  }
  int c = a->cout;
  for (int r = r0; r < r1; r++) {
    int b = r / a->oh, oy = r % a->oh;
    int ky0 = a->pad_top - oy * a->stride;
    if (ky0 < 0) ky0 = 0;
    int ky1 = a->ih + a->pad_top - oy * a->stride;
    if (ky1 > a->kh) ky1 = a->kh;
    for (int ox = 0; ox < a->ow; ox++) {
      int kx0 = a->pad_left - ox * a->stride;
      if (kx0 < 0) kx0 = 0;
      int kx1 = a->iw + a->pad_left - ox * a->stride;
      if (kx1 > a->kw) kx1 = a->kw;
      float *o = a->out + (((size_t)b * a->oh + oy) * a->ow + ox) * c;
      const float *base = a->in + ((size_t)b * a->ih * a->iw) * c;
      for (int ch = 0; ch < c; ch += 8) {
        int nv = c - ch;
        __m256i msk = mask8(nv);
        __m256 acc = a->bias ? (nv >= 8 ? _mm256_loadu_ps(a->bias + ch)
                                        : _mm256_maskload_ps(a->bias + ch, msk))
                             : _mm256_setzero_ps();
        for (int ky = ky0; ky < ky1; ky++) {
          int iy = oy * a->stride - a->pad_top + ky;
          for (int kx = kx0; kx < kx1; kx++) {
            int ix = ox * a->stride - a->pad_left + kx;
            const float *in = base + ((size_t)iy * a->iw + ix) * c + ch;
            const float *w = a->w + ((size_t)ky * a->kw + kx) * c + ch;
            if (nv >= 8)
              acc = _mm256_fmadd_ps(_mm256_loadu_ps(in), _mm256_loadu_ps(w), acc);
            else
              acc = _mm256_fmadd_ps(_mm256_maskload_ps(in, msk), _mm256_maskload_ps(w, msk), acc);
          }
        }
        epilogue(acc, o + ch, NULL, NULL, nv, a->act, a->alpha);
      }
    }
  }
}

void fr__avx2_pool_run(const fr__conv_args *a, int is_max, int task, int ntasks) {
  int rows = a->n * a->oh;
  int r0 = (int)((long)rows * task / ntasks), r1 = (int)((long)rows * (task + 1) / ntasks);
  int c = a->cout;
  for (int r = r0; r < r1; r++) {
    int b = r / a->oh, oy = r % a->oh;
    int ky0 = a->pad_top - oy * a->stride;
    if (ky0 < 0) ky0 = 0;
    int ky1 = a->ih + a->pad_top - oy * a->stride;
    if (ky1 > a->kh) ky1 = a->kh;
    const float *base = a->in + ((size_t)b * a->ih * a->iw) * c;
    float *o = a->out + (((size_t)b * a->oh + oy) * a->ow) * c;
    for (int ox = 0; ox < a->ow; ox++, o += c) {
      int kx0 = a->pad_left - ox * a->stride;
      if (kx0 < 0) kx0 = 0;
      int kx1 = a->iw + a->pad_left - ox * a->stride;
      if (kx1 > a->kw) kx1 = a->kw;
      int cnt = (ky1 - ky0) * (kx1 - kx0);
      if (cnt <= 0) {
        /* An empty window (possible only with padding wider than the
         * window): the scalar reference leaves -inf or 0. */
        for (int ch = 0; ch < c; ch++) o[ch] = is_max ? -INFINITY : 0.f;
        continue;
      }
      __m256 scale = _mm256_set1_ps(1.f / (float)cnt);
      const float *w0 = base + ((size_t)(oy * a->stride - a->pad_top + ky0) * a->iw +
                                (ox * a->stride - a->pad_left + kx0)) * c;
      for (int ch = 0; ch < c; ch += 8) {
        int nv = c - ch;
        __m256i msk = mask8(nv);
        __m256 acc = nv >= 8 ? _mm256_loadu_ps(w0 + ch) : _mm256_maskload_ps(w0 + ch, msk);
        for (int ky = ky0; ky < ky1; ky++) {
          const float *row = w0 + (size_t)(ky - ky0) * a->iw * c + ch;
          for (int kx = ky == ky0 ? kx0 + 1 : kx0; kx < kx1; kx++) {
            const float *in = row + (size_t)(kx - kx0) * c;
            __m256 v = nv >= 8 ? _mm256_loadu_ps(in) : _mm256_maskload_ps(in, msk);
            acc = is_max ? _mm256_max_ps(acc, v) : _mm256_add_ps(acc, v);
          }
        }
        if (!is_max) acc = _mm256_mul_ps(acc, scale);
        if (nv >= 8)
          _mm256_storeu_ps(o + ch, acc);
        else
          _mm256_maskstore_ps(o + ch, msk, acc);
      }
    }
  }
}

void fr__avx2_act_run(float *y, const float *x, size_t n, fr__act act, float alpha) {
  if (act == FR__ACT_NONE) {
    if (y != x) memmove(y, x, n * sizeof(float));
    return;
  }
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, fr__act8(_mm256_loadu_ps(x + i), act, alpha));
  for (; i < n; i++) y[i] = fr__apply_act(x[i], act, alpha);
}

/*
 * PReLU, which MTCNN and MobileFaceNet apply after nearly every convolution.
 * Channel counts are small and odd (10, 16, 28, 32, 48...), so rather than
 * loop over channels per pixel, the loop runs over the flat array with an
 * alpha vector that follows the channel pattern: pixels * c elements in
 * steps of 8, the alphas taken from a copy of alpha repeated to cover any
 * start offset (channel i mod c). The result is exact: max(x, 0) +
 * alpha * min(x, 0) is x or alpha * x, as the scalar loop computes.
 */
void fr__avx2_prelu_run(float *y, const float *x, size_t pixels, int c, const float *alpha) {
  size_t n = pixels * (size_t)c;
  /* alpha repeated: rep[j] = alpha[j mod c] for j < c + 8, so the 8 alphas of
   * elements i..i+7 are rep[(i mod c) ..]. Channels above the stack table
   * fall back to the per-pixel loop. */
  enum { MAXC = 1024 };
  if (c > MAXC) {
    for (size_t p = 0; p < pixels; p++) {
      const float *in = x + p * (size_t)c;
      float *o = y + p * (size_t)c;
      for (int k = 0; k < c; k++) o[k] = in[k] < 0.f ? alpha[k] * in[k] : in[k];
    }
    return;
  }
  float rep[MAXC + 8];
  for (int j = 0; j < c + 8; j++) rep[j] = alpha[j % c];
  const __m256 zero = _mm256_setzero_ps();
  size_t i = 0;
  int k = 0; /* i mod c */
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    __m256 a = _mm256_loadu_ps(rep + k);
    __m256 neg = _mm256_mul_ps(_mm256_min_ps(v, zero), a);
    _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_max_ps(v, zero), neg));
    k += 8;
    while (k >= c) k -= c;
  }
  for (; i < n; i++) {
    float v = x[i];
    y[i] = v < 0.f ? rep[k] * v : v;
    if (++k == c) k = 0;
  }
}

const fr__kernels fr__kernels_avx2 = {
    .name = "avx2",
    .int8_max = FR__INT8_AVXVNNI, /* int8 stays on ymm registers too */
    .pack_conv = avx2_pack_conv,
    .pack_conv_u8 = avx2_pack_conv_u8,
    .conv_scratch = avx2_conv_scratch,
    .conv_tasks = avx2_conv_tasks,
    .conv_run = avx2_conv_run,
    .dw_tasks = fr__avx2_dw_tasks,
    .dw_run = fr__avx2_dw_run,
    .pool_run = fr__avx2_pool_run,
    .act_run = fr__avx2_act_run,
    .prelu_run = fr__avx2_prelu_run,
};
