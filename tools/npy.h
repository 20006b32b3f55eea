/*
 * npy.h - NumPy .npy files of float32 values, the tensors `facerec infer`
 * reads and writes.
 *
 * Reading takes format versions 1.0, 2.0 and 3.0 with a header that says
 * exactly {'descr': '<f4', 'fortran_order': False, 'shape': (...)} (keys in
 * any order, the shape up to NPY_MAX_DIMS non-negative integers), and data
 * of exactly the size the shape gives. Anything else - another dtype, a
 * Fortran-order array, a header beyond the file or beyond NPY_MAX_HEADER
 * bytes, a short or long data part - is an error naming what is wrong, so
 * that a hostile file can never make the reader step outside what it read
 * or allocate more than the file holds. Writing makes version 1.0 files, as
 * numpy.save does.
 */
#ifndef FR_TOOLS_NPY_H
#define FR_TOOLS_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "facerec.h"

#define NPY_MAX_DIMS 8
/* The longest header read: what a version 1.0 file can hold at all, and
 * far beyond the hundred bytes a shape of eight numbers needs. */
#define NPY_MAX_HEADER 65535

typedef struct npy_array {
  int ndims;
  int64_t dims[NPY_MAX_DIMS];
  size_t count;  /* the product of the dims */
  float *data;   /* count floats, malloc'ed (never NULL after a successful read) */
} npy_array;

/* Reads path into *a (zeroed on failure). Errors: FR_E_IO when the file
 * cannot be read, FR_E_FORMAT when it is not a .npy file as described
 * above, FR_E_UNSUPPORTED for a well-formed one of another dtype or order,
 * FR_E_NOMEM. The message starts with the path. */
fr_status npy_read(const char *path, npy_array *a, fr_error *err);

/* Writes count = the product of dims floats as a version 1.0 .npy file. */
fr_status npy_write(const char *path, int ndims, const int64_t *dims, const float *data,
                    fr_error *err);

void npy_free(npy_array *a);

#endif
