/*
 * embed_internal.h - the embedder's float entry point, for the pipeline code
 * that already holds the network input as floats (no 8-bit round trip).
 */
#ifndef FR_EMBED_INTERNAL_H
#define FR_EMBED_INTERNAL_H

#include "core/internal.h"
#include "nn/nn.h"

/*
 * Describes n chips given as RGB floats in 0..255, each input_size x
 * input_size x 3 (NHWC), laid out one after another. out: n * dim floats.
 */
fr_status fr__embed_rgb(fr_context *ctx, const fr_embedder *emb, const float *rgb, int n,
                        float *out, fr_error *err);

/* Loads an embedder whose graph uses the given kernels (for tests and bench). */
fr_status fr__embedder_create_with(fr_embedder_kind kind, const char *model_dir,
                                   const fr__kernels *kernels, fr_embedder **out, fr_error *err);

/* The embedder's network (for benchmarks: MAC counts). */
const fr__graph *fr__embedder_graph(const fr_embedder *emb);

#endif
