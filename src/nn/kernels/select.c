/*
 * select.c - picks the kernel set once from the CPU's features.
 */
#include "nn/nn.h"

#include <stdlib.h>
#include <string.h>

const fr__kernels *fr__kernels_best(void) {
  const char *force = getenv("FACEREC_KERNELS");
  if (force && strcmp(force, "scalar") == 0) return &fr__kernels_scalar;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return &fr__kernels_avx2;
#endif
  return &fr__kernels_scalar;
}

const char *fr_kernels_name(void) { return fr__kernels_best()->name; }
