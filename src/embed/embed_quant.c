/*
 * embed_quant.c - calibration of an embedder's int8 quantisation: its float32
 * network runs on sample chips, and every tensor's range is recorded.
 */
#include "embed/embed_internal.h"
#include "image/image_internal.h"
#include "nn/quant.h"

#include <stdlib.h>

fr_status fr__embedder_calibrate(const fr_embedder *e, const fr_image *chips, int n,
                                 fr__quant_range **ranges, int *n_out, fr_error *err) {
  if (!e || !chips || n <= 0 || !ranges || !n_out)
    return fr__fail(err, FR_E_INVALID, "calibration: NULL argument or no chips");
  *ranges = NULL;
  *n_out = 0;
  size_t per = (size_t)e->size * e->size * 3;
  float *in = fr__malloc((size_t)n * per * sizeof *in);
  int nt = fr__graph_tensors(e->g);
  fr__quant_range *r = fr__calloc((size_t)nt, sizeof *r);
  if (!in || !r) {
    fr__free(in);
    fr__free(r);
    return fr__fail(err, FR_E_NOMEM, "out of memory calibrating %s", e->impl->net.title);
  }
  for (int i = 0; i < n; i++) {
    fr_status st = fr__image_check(&chips[i], err);
    if (st != FR_OK) {
      fr__free(in);
      fr__free(r);
      return st;
    }
    /* As fr_embed does: a square chip is resized, others centred first. */
    fr__image_to_tensor(&chips[i], 0, 0, chips[i].width, chips[i].height, e->size, 1,
                        in + (size_t)i * per, NULL);
  }
  e->impl->prepare(in, (size_t)n * e->size * e->size);
  fr_status st = fr__quant_calibrate(e->g, in, n, e->size, e->size, r, err);
  fr__free(in);
  if (st != FR_OK) {
    fr__free(r);
    return st;
  }
  *ranges = r;
  *n_out = nt;
  return FR_OK;
}
