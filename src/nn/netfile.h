/*
 * netfile.h - one network file of any format the engine imports (ONNX,
 * TFLite or a facerec model file), loaded as a single engine graph together
 * with what is needed to feed it tensors in the model's own layout. This is
 * what `facerec infer` and the bring-your-own-model embedders and detectors
 * load; the built-in networks keep going through loader.h.
 */
#ifndef FR_NN_NETFILE_H
#define FR_NN_NETFILE_H

#include "nn/nn.h"

/* How the engine holds a value of the model. */
typedef enum {
  /* The engine's data is the model's tensor in row-major order: TFLite and
   * facerec model files (NHWC throughout), and ONNX values of rank 2 and 3.
   * Rank r maps to the engine's [n, h, w, c] right-aligned: [N, F] is
   * [n, 1, 1, F], [N, A, B] is [n, 1, A, B]. */
  FR__LAYOUT_ROWMAJOR = 0,
  /* A rank-4 ONNX value [N, C, H, W] that the engine holds as [n, H, W, C]
   * (the importer converts layouts once at load, not per run). */
  FR__LAYOUT_NCHW = 1
} fr__layout;

#define FR__IO_MAX_DIMS 8

/* A model input or output as the model declares it. */
typedef struct fr__io_desc {
  char name[64];
  int ndims;
  /* The model's dims, dims[0] the batch. -1: not fixed by the model (the
   * batch, or a side of a fully convolutional network). */
  int64_t dims[FR__IO_MAX_DIMS];
  fr__layout layout;
  /* 1: dims[0] is not the batch (SCRFD's [-1, 4] rows are the rows of one
   * image): the engine holds all the dims right-aligned behind n = 1. Such
   * a value exists only for graphs imported at batch 1. */
  int unbatched;
} fr__io_desc;

typedef struct fr__netfile {
  fr__graph *graph; /* owned */
  char format[8];   /* "onnx", "tflite" or "frm" */
  fr__io_desc input;
  fr__io_desc outputs[FR__MAX_OUTPUTS]; /* in the graph's output order */
  int n_outputs;
} fr__netfile;

typedef struct fr__netfile_options {
  const fr__kernels *kernels; /* NULL: the best set */
  /* ONNX: the input to feed when the model has several (NULL: the first
   * that is not an initializer). */
  const char *input_name;
  /* ONNX: sizes for the input's dims the model leaves open (-1 each to
   * keep the model's; dims[0], the batch, is never fixed). A model whose
   * graph needs a fixed size (a Reshape, a Flatten) and does not give one
   * is FR_E_INVALID asking for it. */
  int ndims;
  int64_t dims[FR__IO_MAX_DIMS];
  /* When not NULL, receives fr__fnv1a64 of the file's bytes, so that a
   * caller naming the model by its contents need not read it again. */
  uint64_t *content_hash;
} fr__netfile_options;

/* Loads path, its format chosen by its first bytes (a model file's magic,
 * a TFLite file's identifier "TFL3", else ONNX). opt may be NULL. On
 * failure nf is left empty. */
fr_status fr__netfile_load(const char *path, const fr__netfile_options *opt, fr__netfile *nf,
                           fr_error *err);

void fr__netfile_release(fr__netfile *nf);

/*
 * Converts between the model's layout and the engine's for one value:
 * count = n * h * w * c floats of the engine shape [n, h, w, c] given.
 * For FR__LAYOUT_ROWMAJOR both are copies; for FR__LAYOUT_NCHW to_engine
 * turns [n, c, h, w] data into [n, h, w, c] and from_engine back.
 */
void fr__layout_to_engine(fr__layout layout, const float *src, float *dst, const int shape[4]);
void fr__layout_from_engine(fr__layout layout, const float *src, float *dst, const int shape[4]);

#endif
