/*
 * kernels_internal.h - pieces the kernel sets share with each other.
 */
#ifndef FR_NN_KERNELS_INTERNAL_H
#define FR_NN_KERNELS_INTERNAL_H

#include "nn/nn.h"

#if defined(__x86_64__) || defined(__i386__)
/* AVX2 kernels the AVX-512 set reuses as they are: depthwise convolution
 * other than 3x3, pooling and activations (no 16-lane versions yet). */
int fr__avx2_dw_tasks(const fr__conv_args *a, int nthreads);
void fr__avx2_dw_run(const fr__conv_args *a, int task, int ntasks);
void fr__avx2_pool_run(const fr__conv_args *a, int is_max, int task, int ntasks);
void fr__avx2_act_run(float *y, const float *x, size_t n, fr__act act, float alpha);
void fr__avx2_prelu_run(float *y, const float *x, size_t pixels, int c, const float *alpha);
#endif

#endif
