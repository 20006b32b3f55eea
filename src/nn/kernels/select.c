/*
 * select.c - picks the kernel set once from the CPU's features.
 */
#include "nn/nn.h"

#include <stdlib.h>
#include <string.h>

const fr__kernels *fr__kernels_best(void) {
  /* FACEREC_KERNELS names a set to use instead of the best one (for tests and
   * benchmarks comparing sets); a set this CPU cannot run is never chosen, so
   * a wrong name falls back to the best set the CPU has. */
  const char *force = getenv("FACEREC_KERNELS");
  if (force && strcmp(force, "scalar") == 0) return &fr__kernels_scalar;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#ifdef FR__HAVE_AVX512_KERNELS
  int avx512 = avx2 && __builtin_cpu_supports("avx512f");
  if (avx512 && !(force && strcmp(force, "avx2") == 0)) return &fr__kernels_avx512;
#endif
  if (avx2) return &fr__kernels_avx2;
#endif
  return &fr__kernels_scalar;
}

const char *fr_kernels_name(void) { return fr__kernels_best()->name; }
