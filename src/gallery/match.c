/*
 * match.c - distances from one query to every row of the descriptor matrix.
 *
 * Search is bound by memory bandwidth, so the kernel streams each row once,
 * with two independent accumulators to hide the FMA latency. The AVX2 variant
 * is compiled with a target attribute rather than -mavx2, so this file needs
 * no special flags and the scalar loop stays the reference.
 */
#include "gallery/gallery_internal.h"

#include <pthread.h>
#include <stdlib.h>
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

static int best_impl;
static pthread_once_t best_once = PTHREAD_ONCE_INIT;

static void choose(void) {
  const char *k = getenv("FACEREC_KERNELS");
  best_impl = (k && strcmp(k, "scalar") == 0) ? 0 : fr__gallery_has_avx2();
}

int fr__gallery_has_avx2(void) {
#ifdef FR__HAVE_X86
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return 0;
#endif
}

void fr__sqdist_rows(int impl, const float *m, size_t rows, int stride, const float *q,
                     float *out) {
  if (impl < 0) {
    pthread_once(&best_once, choose);
    impl = best_impl;
  }
#ifdef FR__HAVE_X86
  if (impl == 1 && fr__gallery_has_avx2()) {
    sqdist_avx2(m, rows, stride, q, out);
    return;
  }
#endif
  sqdist_scalar(m, rows, stride, q, out);
}
