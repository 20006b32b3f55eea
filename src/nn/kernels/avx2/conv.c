/*
 * conv.c - AVX2/FMA kernels: convolution as GEMM with a fused epilogue, and
 * depthwise convolution vectorised over channels.
 *
 * Convolution in NHWC is a matrix product: each output pixel is a row of A
 * (its receptive field, kh*kw*cin values in HWIO order, gathered by im2col
 * unless the convolution is a plain 1x1 stride-1 one, where the input itself is
 * A), the weights are B = [kh*kw*cin][cout], and the output rows are C = A*B.
 * B is packed once at load into panels of 16 columns so the 6x16 micro-kernel
 * reads it with aligned, sequential loads; 6 rows x 16 columns keeps 12 of the
 * 16 ymm registers as accumulators. Bias, residual add and activation are
 * applied while the accumulators are still in registers.
 */
#include "nn/nn.h"

#include <immintrin.h>
#include <string.h>

#define NR 16 /* columns per packed panel */
#define MR 6  /* rows per micro-kernel */
#define MT 96 /* rows per task tile; a multiple of MR */

static float *pack_conv(const float *hwio, int kh, int kw, int cin, int cout) {
  size_t k = (size_t)kh * kw * cin;
  int panels = (cout + NR - 1) / NR;
  float *w = fr__aligned_calloc(k * (size_t)panels * NR * sizeof(float));
  if (!w) return NULL;
  for (int p = 0; p < panels; p++) {
    int n0 = p * NR, nv = cout - n0 < NR ? cout - n0 : NR;
    float *dst = w + (size_t)p * k * NR;
    for (size_t r = 0; r < k; r++) memcpy(dst + r * NR, hwio + r * cout + n0, (size_t)nv * sizeof(float));
  }
  return w;
}

static int is_pointwise(const fr__conv_args *a) {
  return a->kh == 1 && a->kw == 1 && a->stride == 1 && a->pad_top == 0 && a->pad_left == 0;
}

static size_t conv_scratch(const fr__conv_args *a) {
  if (is_pointwise(a)) return 0;
  return (size_t)MT * a->kh * a->kw * a->cin;
}

static void split(const fr__conv_args *a, int nthreads, int *mtiles, int *ngroups) {
  int m = a->n * a->oh * a->ow;
  int panels = (a->cout + NR - 1) / NR;
  *mtiles = (m + MT - 1) / MT;
  *ngroups = 1;
  if (nthreads > 1 && *mtiles < 2 * nthreads) {
    int want = (2 * nthreads + *mtiles - 1) / *mtiles;
    *ngroups = want < panels ? want : panels;
  }
}

static int conv_tasks(const fr__conv_args *a, int nthreads) {
  int mt, ng;
  split(a, nthreads, &mt, &ng);
  return mt * ng;
}

static inline __m256 act8(__m256 v, fr__act act, float alpha) {
  switch (act) {
  case FR__ACT_RELU: return _mm256_max_ps(v, _mm256_setzero_ps());
  case FR__ACT_RELU6:
    return _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(6.f));
  case FR__ACT_LEAKY: {
    __m256 neg = _mm256_mul_ps(v, _mm256_set1_ps(alpha));
    return _mm256_blendv_ps(v, neg, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ));
  }
  default: return v;
  }
}

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
    _mm256_storeu_ps(out, act8(acc, act, alpha));
  } else if (nv > 0) {
    __m256i m = mask8(nv);
    if (bias) acc = _mm256_add_ps(acc, _mm256_maskload_ps(bias, m));
    if (res) acc = _mm256_add_ps(acc, _mm256_maskload_ps(res, m));
    _mm256_maskstore_ps(out, m, act8(acc, act, alpha));
  }
}

/* C[mr x 16] = A[mr x k] * Bp[k x 16], rows of A lda apart; mr <= MR. */
static void micro(const float *A, size_t lda, const float *Bp, size_t k, int mr, float *C,
                  size_t ldc, const float *bias, const float *res, int nv, fr__act act,
                  float alpha) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  const float *a0 = A, *a1 = A + lda, *a2 = A + 2 * lda, *a3 = A + 3 * lda, *a4 = A + 4 * lda,
              *a5 = A + 5 * lda;
  if (mr == MR) {
    for (size_t p = 0; p < k; p++) {
      __m256 b0 = _mm256_load_ps(Bp + p * NR), b1 = _mm256_load_ps(Bp + p * NR + 8);
      __m256 x;
      x = _mm256_broadcast_ss(a0 + p);
      c00 = _mm256_fmadd_ps(x, b0, c00);
      c01 = _mm256_fmadd_ps(x, b1, c01);
      x = _mm256_broadcast_ss(a1 + p);
      c10 = _mm256_fmadd_ps(x, b0, c10);
      c11 = _mm256_fmadd_ps(x, b1, c11);
      x = _mm256_broadcast_ss(a2 + p);
      c20 = _mm256_fmadd_ps(x, b0, c20);
      c21 = _mm256_fmadd_ps(x, b1, c21);
      x = _mm256_broadcast_ss(a3 + p);
      c30 = _mm256_fmadd_ps(x, b0, c30);
      c31 = _mm256_fmadd_ps(x, b1, c31);
      x = _mm256_broadcast_ss(a4 + p);
      c40 = _mm256_fmadd_ps(x, b0, c40);
      c41 = _mm256_fmadd_ps(x, b1, c41);
      x = _mm256_broadcast_ss(a5 + p);
      c50 = _mm256_fmadd_ps(x, b0, c50);
      c51 = _mm256_fmadd_ps(x, b1, c51);
    }
  } else {
    /* Row tails: the same arithmetic for fewer rows; rarely hot. */
    for (size_t p = 0; p < k; p++) {
      __m256 b0 = _mm256_load_ps(Bp + p * NR), b1 = _mm256_load_ps(Bp + p * NR + 8);
      __m256 x = _mm256_broadcast_ss(a0 + p);
      c00 = _mm256_fmadd_ps(x, b0, c00);
      c01 = _mm256_fmadd_ps(x, b1, c01);
      if (mr > 1) {
        x = _mm256_broadcast_ss(a1 + p);
        c10 = _mm256_fmadd_ps(x, b0, c10);
        c11 = _mm256_fmadd_ps(x, b1, c11);
      }
      if (mr > 2) {
        x = _mm256_broadcast_ss(a2 + p);
        c20 = _mm256_fmadd_ps(x, b0, c20);
        c21 = _mm256_fmadd_ps(x, b1, c21);
      }
      if (mr > 3) {
        x = _mm256_broadcast_ss(a3 + p);
        c30 = _mm256_fmadd_ps(x, b0, c30);
        c31 = _mm256_fmadd_ps(x, b1, c31);
      }
      if (mr > 4) {
        x = _mm256_broadcast_ss(a4 + p);
        c40 = _mm256_fmadd_ps(x, b0, c40);
        c41 = _mm256_fmadd_ps(x, b1, c41);
      }
    }
  }
  __m256 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  for (int i = 0; i < mr; i++) {
    float *o = C + (size_t)i * ldc;
    const float *r = res ? res + (size_t)i * ldc : NULL;
    epilogue(acc[i][0], o, bias, r, nv, act, alpha);
    epilogue(acc[i][1], o + 8, bias ? bias + 8 : NULL, r ? r + 8 : NULL, nv - 8, act, alpha);
  }
}

/* Gathers rows [m0, m1) of the im2col matrix into dst (row length kh*kw*cin). */
static void im2col(const fr__conv_args *a, int m0, int m1, float *dst) {
  size_t k = (size_t)a->kh * a->kw * a->cin;
  size_t hw = (size_t)a->oh * a->ow;
  for (int m = m0; m < m1; m++) {
    int b = (int)(m / hw), rem = (int)(m % hw);
    int oy = rem / a->ow, ox = rem % a->ow;
    float *row = dst + (size_t)(m - m0) * k;
    for (int ky = 0; ky < a->kh; ky++) {
      int iy = oy * a->stride - a->pad_top + ky;
      for (int kx = 0; kx < a->kw; kx++) {
        int ix = ox * a->stride - a->pad_left + kx;
        float *d = row + ((size_t)ky * a->kw + kx) * a->cin;
        if (iy < 0 || iy >= a->ih || ix < 0 || ix >= a->iw)
          memset(d, 0, (size_t)a->cin * sizeof(float));
        else
          memcpy(d, a->in + (((size_t)b * a->ih + iy) * a->iw + ix) * a->cin,
                 (size_t)a->cin * sizeof(float));
      }
    }
  }
}

static void conv_run(const fr__conv_args *a, int task, int ntasks, float *scratch) {
  /* conv_tasks() made ntasks = row tiles x column groups; undo that product
   * to find this task's rows and panels. */
  int m = a->n * a->oh * a->ow;
  int panels = (a->cout + NR - 1) / NR;
  int mtiles = (m + MT - 1) / MT;
  int ngroups = ntasks / mtiles;
  if (ngroups < 1) ngroups = 1;
  int mt = task / ngroups, ng = task % ngroups;
  int m0 = mt * MT, m1 = m0 + MT < m ? m0 + MT : m;
  int p0 = (int)((long)panels * ng / ngroups), p1 = (int)((long)panels * (ng + 1) / ngroups);
  size_t k = (size_t)a->kh * a->kw * a->cin;
  const float *A;
  size_t lda;
  if (is_pointwise(a)) {
    A = a->in + (size_t)m0 * a->cin;
    lda = (size_t)a->cin;
  } else {
    im2col(a, m0, m1, scratch);
    A = scratch;
    lda = k;
  }
  for (int p = p0; p < p1; p++) {
    const float *Bp = a->w + (size_t)p * k * NR;
    int n0 = p * NR, nv = a->cout - n0;
    const float *bias = a->bias ? a->bias + n0 : NULL;
    for (int r = m0; r < m1; r += MR) {
      int mr = m1 - r < MR ? m1 - r : MR;
      float *C = a->out + (size_t)r * a->cout + n0;
      const float *res = a->residual ? a->residual + (size_t)r * a->cout + n0 : NULL;
      micro(A + (size_t)(r - m0) * lda, lda, Bp, k, mr, C, (size_t)a->cout, bias, res, nv, a->act,
            a->alpha);
    }
  }
}

static int dw_tasks(const fr__conv_args *a, int nthreads) {
  int rows = a->n * a->oh;
  int t = nthreads * 4;
  return t < rows ? t : rows;
}

static void dw_run(const fr__conv_args *a, int task, int ntasks) {
  int rows = a->n * a->oh;
  int r0 = (int)((long)rows * task / ntasks), r1 = (int)((long)rows * (task + 1) / ntasks);
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

const fr__kernels fr__kernels_avx2 = {
    .name = "avx2",
    .pack_conv = pack_conv,
    .conv_scratch = conv_scratch,
    .conv_tasks = conv_tasks,
    .conv_run = conv_run,
    .dw_tasks = dw_tasks,
    .dw_run = dw_run,
};
