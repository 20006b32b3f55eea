/*
 * gallery_internal.h - the gallery's matching kernels (prefix fr__), shared
 * with the tests so that the AVX2 and scalar paths can be compared.
 */
#ifndef FR_GALLERY_INTERNAL_H
#define FR_GALLERY_INTERNAL_H

#include "core/internal.h"

/* Row stride of the descriptor matrix, in floats: dim rounded up to 16 so that
 * every row starts on a 64-byte boundary and vector loops need no tail. */
static inline int fr__gallery_stride(int dim) { return (dim + 15) & ~15; }

/*
 * Squared Euclidean distances from q to each of `rows` rows of m (row i at
 * m + i * stride); q and m are 64-byte aligned with zeros in the padding
 * beyond dim. impl: 0 the scalar loop, 1 AVX2/FMA (only if the CPU has it),
 * -1 the best this process may use (FACEREC_KERNELS=scalar forces scalar).
 */
void fr__sqdist_rows(int impl, const float *m, size_t rows, int stride, const float *q,
                     float *out);

/* 1 if the AVX2 path is usable on this CPU. */
int fr__gallery_has_avx2(void);

#endif
