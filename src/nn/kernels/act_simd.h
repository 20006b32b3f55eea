/*
 * act_simd.h - the fused activations on AVX2 (8-lane) and AVX-512 (16-lane)
 * vectors, shared by every SIMD kernel file (convolutions, depthwise, the
 * int8 kernels and the Winograd transforms) so that all of them apply an
 * activation the same way as the scalar fr__apply_act.
 *
 * Include it only where AVX2 code may be generated (a file built with
 * -mavx2, or after a `#pragma GCC target` naming avx2); fr__act16 exists
 * where AVX-512F is enabled too.
 */
#ifndef FR_NN_KERNELS_ACT_SIMD_H
#define FR_NN_KERNELS_ACT_SIMD_H

#include "nn/nn.h"

#include <immintrin.h>

static inline __m256 fr__act8(__m256 v, fr__act act, float alpha) {
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

#ifdef __AVX512F__
static inline __m512 fr__act16(__m512 v, fr__act act, float alpha) {
  switch (act) {
  case FR__ACT_RELU: return _mm512_max_ps(v, _mm512_setzero_ps());
  case FR__ACT_RELU6:
    return _mm512_min_ps(_mm512_max_ps(v, _mm512_setzero_ps()), _mm512_set1_ps(6.f));
  case FR__ACT_LEAKY: {
    __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
    return _mm512_mask_mul_ps(v, neg, v, _mm512_set1_ps(alpha));
  }
  default: return v;
  }
}
#endif

#endif
