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

/*
 * A compact copy of the descriptor matrix for the first pass of an exact
 * search. Row r is stored as int8 codes q with one scale s (x ~ s * q), and
 * its squared norm: dim + 8 bytes. The query is quantised the same way, so
 * the first pass is an integer dot product per row (about a quarter of the
 * fp32 matrix's bytes to stream) and yields for every row an interval that
 * provably holds the distance the fp32 kernel computes; see fr__qindex_topk.
 */
typedef struct fr__qindex {
  size_t n;
  int dim, cstride; /* bytes per code row: dim rounded up to 32, zero padded */
  int8_t *codes;    /* n x cstride, 64-byte aligned */
  float *norm2;     /* |x|^2 per row */
  float *scale;     /* s per row (NaN: a row to measure exactly always) */
} fr__qindex;

/* A row that the first pass could not exclude, with its lower bound. */
typedef struct fr__qcand {
  uint32_t row;
  float lb;
} fr__qcand;

/* Builds ix from n rows of m (row stride `stride` floats, dim used). On
 * failure ix is left empty. fr__qindex_free(NULL or empty) is a no-op. */
fr_status fr__qindex_build(fr__qindex *ix, const float *m, size_t n, int dim, int stride,
                           fr_error *err);
void fr__qindex_free(fr__qindex *ix);

/*
 * The exact k nearest rows of m to q (q padded and aligned like the matrix
 * rows), ordered by the squared distance fr__sqdist_rows(impl) computes and,
 * among equal distances, by the smaller tie[r] (tie may be NULL: the row
 * index). Writes up to k rows and their squared distances; returns the number
 * written. impl as in fr__sqdist_rows. cand is scratch of ix->n entries (only
 * the rows the first pass cannot exclude are written to it: usually a few).
 *
 * Why it is exact: the first pass bounds each row's distance from below (lb)
 * and above (ub) with margins that cover quantisation and float rounding of
 * both this pass and the fp32 kernel. The k-th smallest ub, U, is at least the
 * k-th smallest true distance, so every row of the true top k (ties included)
 * has lb <= U; those rows, usually a handful, are re-ranked with the fp32
 * kernel itself, so the result is identical to a full fp32 scan. *n_exact
 * (may be NULL) receives how many rows were re-ranked.
 */
size_t fr__qindex_topk(int impl, const fr__qindex *ix, const float *m, int stride, const float *q,
                       const int64_t *tie, int k, size_t *rows, float *d2, fr__qcand *cand,
                       size_t *n_exact);

/* Rows below which a search simply scans the fp32 matrix. */
#define FR__QINDEX_MIN_ROWS 4096

#endif
