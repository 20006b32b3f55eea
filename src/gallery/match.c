/*
 * match.c - distances from one query to every row of the descriptor matrix.
 *
 * Search is bound by memory bandwidth, so the kernel streams each row once,
 * with two independent accumulators to hide the FMA latency. The AVX2 variant
 * is compiled with a target attribute rather than -mavx2, so this file needs
 * no special flags and the scalar loop stays the reference.
 */
#include "gallery/gallery_internal.h"
#include "nn/nn.h"

#include <stdint.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FR__HAVE_X86 1
#endif

static void sqdist_scalar(const float *m, size_t rows, int stride, const float *q, float *out) {
  for (size_t r = 0; r < rows; r++) {
    const float *row = m + r * (size_t)stride;
    float acc = 0;
    for (int d = 0; d < stride; d++) {
      float t = row[d] - q[d];
      acc += t * t;
    }
    out[r] = acc;
  }
}

#ifdef FR__HAVE_X86
__attribute__((target("avx2,fma"))) static void sqdist_avx2(const float *m, size_t rows,
                                                            int stride, const float *q,
                                                            float *out) {
  for (size_t r = 0; r < rows; r++) {
    const float *row = m + r * (size_t)stride;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    /* stride is a multiple of 16: two vectors per step, no tail. */
    for (int d = 0; d < stride; d += 16) {
      __m256 t0 = _mm256_sub_ps(_mm256_load_ps(row + d), _mm256_load_ps(q + d));
      __m256 t1 = _mm256_sub_ps(_mm256_load_ps(row + d + 8), _mm256_load_ps(q + d + 8));
      a0 = _mm256_fmadd_ps(t0, t0, a0);
      a1 = _mm256_fmadd_ps(t1, t1, a1);
    }
    __m256 s = _mm256_add_ps(a0, a1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    out[r] = _mm_cvtss_f32(h);
  }
}
#endif

/* The scan follows the process's kernel set (nn/kernels/select.c, which
 * reads FACEREC_KERNELS): the scalar set keeps it on the scalar loop, and
 * either SIMD set uses the AVX2 scan, the only vector one there is. */
static int best_impl(void) {
  return fr__kernels_best() != &fr__kernels_scalar && fr__gallery_has_avx2();
}

int fr__gallery_has_avx2(void) {
#ifdef FR__HAVE_X86
  const fr__cpu_info *cpu = fr__cpu();
  return cpu->avx2 && cpu->fma;
#else
  return 0;
#endif
}

void fr__sqdist_rows(int impl, const float *m, size_t rows, int stride, const float *q,
                     float *out) {
  if (impl < 0) impl = best_impl();
#ifdef FR__HAVE_X86
  if (impl == 1 && fr__gallery_has_avx2()) {
    sqdist_avx2(m, rows, stride, q, out);
    return;
  }
#endif
  sqdist_scalar(m, rows, stride, q, out);
}

float fr_cosine_distance(const float *a, const float *b, int dim) {
  double ab = 0, aa = 0, bb = 0;
  for (int d = 0; d < dim; d++) {
    ab += (double)a[d] * b[d];
    aa += (double)a[d] * a[d];
    bb += (double)b[d] * b[d];
  }
  if (!(aa > 0) || !(bb > 0)) return 1.0f;
  return (float)(1.0 - ab / sqrt(aa * bb));
}

/* ---- the quantised first pass of an exact search ------------------------------ */

void fr__qindex_free(fr__qindex *ix) {
  if (!ix) return;
  fr__aligned_free(ix->codes);
  fr__free(ix->norm2);
  fr__free(ix->scale);
  memset(ix, 0, sizeof *ix);
}

/* The float just above a non-negative double: bounds must only grow when
 * they are rounded to float. */
static float round_up(double v) {
  float f = (float)v;
  return (double)f < v ? nextafterf(f, INFINITY) : f;
}

/* Quantises v (dim floats) to int8 codes with one scale; returns the scale
 * and writes the largest |v_d - s q_d| to *emax and sum |q_d| to *l1. */
static float quantise(const float *v, int dim, int8_t *q, double *emax, double *l1) {
  float amax = 0;
  for (int d = 0; d < dim; d++) amax = fmaxf(amax, fabsf(v[d]));
  float s = amax / 127.0f;
  *emax = 0;
  *l1 = 0;
  for (int d = 0; d < dim; d++) {
    long c = 0;
    if (s > 0 && isfinite(s)) {
      c = lrintf(v[d] / s);
      c = c > 127 ? 127 : c < -127 ? -127 : c;
    }
    q[d] = (int8_t)c;
    /* s * c is exact in double (a 24-bit times an 8-bit significand). */
    double e = fabs((double)v[d] - (double)s * (double)c);
    *emax = e > *emax ? e : *emax;
    *l1 += (double)(c < 0 ? -c : c);
  }
  return s;
}

fr_status fr__qindex_build(fr__qindex *ix, const float *m, size_t n, int dim, int stride,
                           fr_error *err) {
  memset(ix, 0, sizeof *ix);
  if (n == 0) return FR_OK;
  ix->n = n;
  ix->dim = dim;
  ix->cstride = (dim + 31) & ~31;
  size_t bytes;
  if (!fr__mul_size(n, (size_t)ix->cstride, &bytes))
    return fr__fail(err, FR_E_NOMEM, "gallery too large for the search index");
  ix->codes = fr__aligned_calloc(bytes);
  ix->norm2 = fr__malloc(n * sizeof(float));
  ix->scale = fr__malloc(n * sizeof(float));
  if (!ix->codes || !ix->norm2 || !ix->scale) {
    fr__qindex_free(ix);
    return fr__fail(err, FR_E_NOMEM, "out of memory for the search index of %zu descriptors", n);
  }
  for (size_t r = 0; r < n; r++) {
    const float *x = m + r * (size_t)stride;
    double emax, l1, n2 = 0;
    for (int d = 0; d < dim; d++) n2 += (double)x[d] * x[d];
    float s = quantise(x, dim, ix->codes + r * (size_t)ix->cstride, &emax, &l1);
    ix->norm2[r] = (float)n2;
    ix->scale[r] = s;
    /* The bounds assume |x_d - s q_d| <= s / 2 (up to the rounding of x_d / s)
     * and derive s |q|_1 from |x|^2 (see row_bounds), so that a row costs
     * only its codes and 8 bytes to stream. A row too small to scale (or not
     * finite) gets NaN bounds, which the search treats as "always measure". */
    float amax = 0;
    for (int d = 0; d < dim; d++) amax = fmaxf(amax, fabsf(x[d]));
    if (amax != 0 && !(amax >= 1e-30f && amax <= 1e30f)) ix->scale[r] = NAN;
    (void)emax;
    (void)l1;
  }
  return FR_OK;
}

/* The quantised query and the per-query terms of the bounds. */
typedef struct qquery {
  int8_t *p;     /* codes (cstride bytes) */
  float t;       /* scale */
  float fmax;    /* largest |y_d - t p_d|, rounded up */
  float ny1;     /* |y|_1, rounded up */
  float ny2;     /* |y|^2 */
  float slack;   /* relative margin for float rounding, see below */
  float dim;     /* the descriptor length, and 0.5001 times it */
  float half_dim;
} qquery;

/* Lower and upper bounds of row r's squared distance, given its integer dot
 * product dot = q_r . p. With x = s q + e and y = t p + f,
 *   x.y = s t (q.p) + s (q.f) + e.y,  |s (q.f)| <= s |q|_1 fmax,  |e.y| <= |e|_inf |y|_1,
 * and |x - y|^2 = |x|^2 + |y|^2 - 2 x.y. Rounding x_d / s to the nearest code
 * leaves |e_d| <= s / 2 (times 1 + 127 u for the rounded division: 0.5001
 * covers it), and s |q|_1 <= |x|_1 + dim s / 2 <= sqrt(dim |x|^2) + dim s / 2.
 * `slack` (times |x|^2 + |y|^2) covers the rounding of this float arithmetic
 * and of the fp32 kernel whose result the bounds must enclose: that sums dim
 * rounded squares, an error of at most about (dim + 3) u |x - y|^2
 * <= 2 (dim + 3) u (|x|^2 + |y|^2); the margins are also scaled up by 1e-4 for
 * their own rounding. */
static inline void row_bounds(const fr__qindex *ix, const qquery *qq, size_t r, int32_t dot,
                              float *lo, float *hi) {
  float n2 = ix->norm2[r], s = ix->scale[r];
  float base = n2 + qq->ny2;
  float approx = base - 2.0f * (s * qq->t) * (float)dot;
  float qa = 1.0001f * sqrtf(qq->dim * n2) + qq->half_dim * s;
  float margin = 2.0002f * (qa * qq->fmax + 0.5001f * s * qq->ny1) + qq->slack * base;
  *lo = approx - margin;
  *hi = approx + margin;
}

#ifdef FR__HAVE_X86
/* Integer dot products of 8 code rows with the query, their lower and upper
 * bounds into lb[0..8) and ub[0..8); returns the mask of the ub below `limit`. */
__attribute__((target("avx2,fma"))) static int bounds8_avx2(const fr__qindex *ix,
                                                            const qquery *qq, size_t r0,
                                                            float *lb, float *ub, float limit) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[8];
  for (int i = 0; i < 8; i++) {
    const int8_t *c = ix->codes + (r0 + (size_t)i) * (size_t)ix->cstride;
    __m256i a = _mm256_setzero_si256();
    for (int d = 0; d < ix->cstride; d += 32) {
      __m256i p = _mm256_load_si256((const __m256i *)(qq->p + d));
      __m256i v = _mm256_load_si256((const __m256i *)(c + d));
      /* |p| * (v * sign p) = v * p; codes stay within +-127, so a pair of
       * products never exceeds 2 * 127 * 127 and maddubs cannot saturate. */
      __m256i prod = _mm256_maddubs_epi16(_mm256_abs_epi8(p), _mm256_sign_epi8(v, p));
      a = _mm256_add_epi32(a, _mm256_madd_epi16(prod, ones));
    }
    acc[i] = a;
  }
  __m256i s01 = _mm256_hadd_epi32(acc[0], acc[1]), s23 = _mm256_hadd_epi32(acc[2], acc[3]);
  __m256i s45 = _mm256_hadd_epi32(acc[4], acc[5]), s67 = _mm256_hadd_epi32(acc[6], acc[7]);
  __m256i s0123 = _mm256_hadd_epi32(s01, s23), s4567 = _mm256_hadd_epi32(s45, s67);
  __m256i dots = _mm256_add_epi32(_mm256_permute2x128_si256(s0123, s4567, 0x20),
                                  _mm256_permute2x128_si256(s0123, s4567, 0x31));
  /* The same formulas as row_bounds, eight rows at a time (no FMA, so that
   * each step rounds as the scalar code's does). */
  __m256 n2 = _mm256_loadu_ps(ix->norm2 + r0), s = _mm256_loadu_ps(ix->scale + r0);
  __m256 base = _mm256_add_ps(n2, _mm256_set1_ps(qq->ny2));
  __m256 st = _mm256_mul_ps(s, _mm256_set1_ps(qq->t));
  __m256 approx = _mm256_sub_ps(base, _mm256_mul_ps(_mm256_set1_ps(2.0f),
                                                    _mm256_mul_ps(st, _mm256_cvtepi32_ps(dots))));
  __m256 qa = _mm256_add_ps(
      _mm256_mul_ps(_mm256_set1_ps(1.0001f), _mm256_sqrt_ps(_mm256_mul_ps(_mm256_set1_ps(qq->dim), n2))),
      _mm256_mul_ps(_mm256_set1_ps(qq->half_dim), s));
  __m256 e = _mm256_add_ps(_mm256_mul_ps(qa, _mm256_set1_ps(qq->fmax)),
                           _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5001f), s),
                                         _mm256_set1_ps(qq->ny1)));
  __m256 margin = _mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(2.0002f), e),
                                _mm256_mul_ps(_mm256_set1_ps(qq->slack), base));
  _mm256_storeu_ps(lb, _mm256_sub_ps(approx, margin));
  __m256 hi = _mm256_add_ps(approx, margin);
  _mm256_storeu_ps(ub, hi);
  return _mm256_movemask_ps(_mm256_cmp_ps(hi, _mm256_set1_ps(limit), _CMP_LT_OQ));
}
#endif

static int32_t dot_scalar(const int8_t *a, const int8_t *b, int n) {
  int32_t s = 0;
  for (int d = 0; d < n; d++) s += (int32_t)a[d] * (int32_t)b[d];
  return s;
}

/* Inserts ub into the ascending list of the k smallest upper bounds. */
static void keep_smallest(float *best, int k, float v) {
  if (!(v < best[k - 1])) return;
  int j = k - 1;
  while (j > 0 && best[j - 1] > v) {
    best[j] = best[j - 1];
    j--;
  }
  best[j] = v;
}

size_t fr__qindex_topk(int impl, const fr__qindex *ix, const float *m, int stride, const float *q,
                       const int64_t *tie, int k, size_t *rows, float *d2, fr__qcand *cand,
                       size_t *n_exact) {
  if (n_exact) *n_exact = 0;
  if (ix->n == 0 || k <= 0) return 0;
  if (impl < 0) impl = best_impl();
#ifdef FR__HAVE_X86
  if (impl == 1 && !fr__gallery_has_avx2()) impl = 0;
#else
  impl = 0;
#endif
  size_t n = ix->n, nc = 0;
  int8_t pbuf[4096 + 64];
  int8_t *p = (int8_t *)(((uintptr_t)pbuf + 63) & ~(uintptr_t)63);
  float kbuf[256], *best = k <= 256 ? kbuf : fr__malloc((size_t)k * sizeof *best);
  if (ix->cstride > 4096 || !best) {
    /* Too long a descriptor for the stack buffer (or no memory): every row
     * is a candidate, which is a plain scan. */
    if (best && best != kbuf) fr__free(best);
    best = NULL;
    for (size_t r = 0; r < n; r++) cand[nc++] = (fr__qcand){(uint32_t)r, -INFINITY};
  }
  if (best) {
    qquery qq;
    memset(p, 0, (size_t)ix->cstride);
    double emax, l1, ny1 = 0, ny2 = 0;
    qq.t = quantise(q, ix->dim, p, &emax, &l1);
    for (int d = 0; d < ix->dim; d++) ny1 += fabs((double)q[d]), ny2 += (double)q[d] * q[d];
    qq.p = p;
    qq.fmax = round_up(emax);
    qq.ny1 = round_up(ny1);
    qq.ny2 = (float)ny2;
    qq.slack = (float)(2.0 * (stride + 16) * 1.1920929e-7);
    qq.dim = (float)ix->dim;
    qq.half_dim = 0.5001f * (float)ix->dim;
    for (int i = 0; i < k; i++) best[i] = INFINITY;
    /* A row is kept as a candidate when its lower bound does not exceed the
     * k-th smallest upper bound seen so far. That bound only shrinks, so the
     * rows that pass the final one are all kept (with some more, filtered
     * below); nothing is written for the great majority of rows. A NaN bound
     * fails both comparisons the safe way: kept, and never lowers the bound. */
    size_t r = 0;
#ifdef FR__HAVE_X86
    if (impl == 1) {
      float lb[8], ub[8];
      for (; r + 8 <= n; r += 8) {
        if (bounds8_avx2(ix, &qq, r, lb, ub, best[k - 1]))
          for (int i = 0; i < 8; i++) keep_smallest(best, k, ub[i]);
        float U = best[k - 1];
        for (int i = 0; i < 8; i++)
          if (!(lb[i] > U)) cand[nc++] = (fr__qcand){(uint32_t)(r + (size_t)i), lb[i]};
      }
    }
#endif
    for (; r < n; r++) {
      float lo, hi;
      int32_t dot = dot_scalar(ix->codes + r * (size_t)ix->cstride, p, ix->cstride);
      row_bounds(ix, &qq, r, dot, &lo, &hi);
      keep_smallest(best, k, hi);
      if (!(lo > best[k - 1])) cand[nc++] = (fr__qcand){(uint32_t)r, lo};
    }
  }
  float U = best ? best[k - 1] : INFINITY;
  if (!(U == U)) U = INFINITY;
  size_t got = 0, exact = 0;
  for (size_t c = 0; c < nc; c++) {
    if (cand[c].lb > U) continue;
    size_t r = cand[c].row;
    float d;
    fr__sqdist_rows(impl, m + r * (size_t)stride, 1, stride, q, &d);
    exact++;
    int64_t key = tie ? tie[r] : (int64_t)r;
    if (got == (size_t)k) {
      int64_t wk = tie ? tie[rows[k - 1]] : (int64_t)rows[k - 1];
      if (d > d2[k - 1] || (d == d2[k - 1] && key >= wk)) continue;
    }
    size_t j = got < (size_t)k ? got++ : (size_t)k - 1;
    while (j > 0) {
      int64_t pk = tie ? tie[rows[j - 1]] : (int64_t)rows[j - 1];
      if (d2[j - 1] < d || (d2[j - 1] == d && pk < key)) break;
      rows[j] = rows[j - 1];
      d2[j] = d2[j - 1];
      j--;
    }
    rows[j] = r;
    d2[j] = d;
  }
  if (best && best != kbuf) fr__free(best);
  if (n_exact) *n_exact = exact;
  return got;
}
