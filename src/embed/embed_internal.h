/*
 * embed_internal.h - embedders inside the library (prefix fr__).
 *
 * Each embedding network lives in its own file and exports an
 * fr__embedder_impl; embedder.c lists them and holds what they share: the
 * public entry points, loading (through the shared loader, src/nn/loader.h,
 * with the network each declares), batching through planned arenas, and the
 * float entry point the pipeline uses when it already holds the network
 * input as floats (no 8-bit round trip).
 */
#ifndef FR_EMBED_INTERNAL_H
#define FR_EMBED_INTERNAL_H

#include "core/internal.h"
#include "nn/loader.h"
#include "nn/nn.h"

typedef struct fr__embedder_impl {
  fr_embedder_kind kind;
  /* Its name (the CLI's: "faceapi"), title ("FaceRecognitionNet"), files,
   * square input side in pixels (net.input_size), descriptor length
   * (net.dim) and how to build it: what the shared loader and `facerec
   * convert` need. Every embedder's loaded state is its one graph, checked
   * at load to give one descriptor of net.dim floats per chip. */
  fr__net_spec net;
  int l2_normalize;       /* 1: descriptors are scaled to unit length after the network */
  fr_align_method align;  /* the alignment the network was trained with */
  /* Names the weights in gallery model ids: descriptors of different
   * weights never share a gallery. */
  const char *model_id;
  /* Default "same person" Euclidean distance of this network's descriptors,
   * taken from its LFW evaluation (see the comment at each value). */
  float threshold;
  /* The same for cosine distance (1 - cos), 0 when never measured. */
  float cosine_threshold;
  /*
   * Identification's default "unknown" cut, Euclidean and cosine: lower than
   * the verification threshold above, because a stranger is compared with
   * every enrolled person and is accepted when any one is close enough. Each
   * is the largest distance that kept the false-accept rate of never-enrolled
   * LFW people at or under 1% with 300 people enrolled (`facerec eval
   * openset`), checked on a second, independent draw (see each value).
   */
  float identify_threshold, identify_cosine_threshold;
  void (*unload)(fr_embedder *e); /* frees e->state; NULL if there is none */
  /* Turns n * size * size RGB pixels (floats in 0..255, NHWC) into the
   * network's input, in place. */
  void (*prepare)(float *rgb, size_t pixels);
} fr__embedder_impl;

/* A loaded embedder: immutable after creation, shareable between threads. */
struct fr_embedder {
  const fr__embedder_impl *impl;
  fr_embedder_kind kind;
  const fr__kernels *kernels; /* NULL: the best set */
  fr__graph *g;
  int size, dim;
  void *state;
};

/* FaceRecognitionNet's int8 calibration table (faceapi_int8_table.c, made by
 * `facerec quantize`): one range per tensor id of its graph. */
struct fr__quant_range;
extern const struct fr__quant_range *const fr__faceapi_int8_ranges;
extern const int fr__faceapi_int8_nranges;

/*
 * Calibrates int8 quantisation for a float32 embedder: runs its network on n
 * chips (resized and prepared as fr_embed does) and writes one range per
 * tensor into *ranges (malloc'ed, caller frees) and their count into *n_out.
 */
fr_status fr__embedder_calibrate(const fr_embedder *e, const fr_image *chips, int n,
                                 struct fr__quant_range **ranges, int *n_out, fr_error *err);

const fr__embedder_impl *fr__embedder_find(fr_embedder_kind kind);

/* ---- user models described by a model card (card.c) ---- */

/* A model card (NAME.json), as read and checked. */
typedef struct fr__card {
  char name[64];
  char model_path[4096]; /* the network file */
  char input_name[64];   /* "" for the model's only input */
  char model_id[96];     /* "card:NAME@HASH" (fr__card_read with_id) */
  int input_size, dim, l2_normalize, bgr, nhwc;
  float mean[3], std[3];
  fr_align_method align;
  float threshold, cosine_threshold, identify_threshold, identify_cosine_threshold;
} fr__card;

/* Reads the card at path (a .json card, or a network file whose card is
 * beside it with the extension .json). with_id also hashes the network file
 * into model_id (reads it whole). FR_E_FORMAT names a bad field. */
fr_status fr__card_read(const char *path, int with_id, fr__card *card, fr_error *err);

fr_status fr__embedder_create_card(const char *path, const fr__kernels *kernels,
                                   fr_embedder **out, fr_error *err);

/* A card embedder's input normalisation (embedder.c calls it in place of
 * impl->prepare), and its card (NULL for the built-in embedders). */
void fr__card_prepare(const fr_embedder *e, float *rgb, size_t pixels);
const fr__card *fr__embedder_card(const fr_embedder *e);

/* The table of embedders, in order: how many there are, and entry i (NULL
 * out of range). `facerec convert` and the tests work through it. */
int fr__embedder_count(void);
const fr__embedder_impl *fr__embedder_at(int i);

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

/* The embedder's default same-person distance. */
float fr__embedder_threshold(const fr_embedder *emb);

#endif
