/*
 * embedder.c - the public embedding API: the table of embedders, loading one
 * (through the shared loader, src/nn/loader.c), and running batches of
 * chips through its network in planned arenas.
 */
#include "embed/embed_internal.h"
#include "image/image_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Every embedder this library has, each defined in its own file
 * (faceapi_recognition.c, mobilefacenet.c) and declared here, beside the
 * table: a new one is a new file and a line here (with its declaration). */
extern const fr__embedder_impl fr__embedder_faceapi, fr__embedder_mobilefacenet,
    fr__embedder_faceapi_int8;
static const fr__embedder_impl *const k_embedders[] = {
    &fr__embedder_faceapi,
    &fr__embedder_mobilefacenet,
    &fr__embedder_faceapi_int8,
};
#define N_EMBEDDERS (int)(sizeof k_embedders / sizeof k_embedders[0])

int fr__embedder_count(void) { return N_EMBEDDERS; }

const fr__embedder_impl *fr__embedder_at(int i) {
  return i >= 0 && i < N_EMBEDDERS ? k_embedders[i] : NULL;
}

const fr__embedder_impl *fr__embedder_find(fr_embedder_kind kind) {
  for (int i = 0; i < N_EMBEDDERS; i++)
    if (k_embedders[i]->kind == kind) return k_embedders[i];
  return NULL;
}

const char *fr_embedder_kind_name(fr_embedder_kind kind) {
  if (kind == FR_EMBEDDER_CARD) return "card";
  const fr__embedder_impl *impl = fr__embedder_find(kind);
  return impl ? impl->net.name : NULL;
}

int fr_embedder_kind_dim(fr_embedder_kind kind) {
  const fr__embedder_impl *impl = fr__embedder_find(kind);
  return impl ? impl->net.dim : 0;
}

fr_embedder_kind fr_embedder_kind_from_name(const char *name) {
  if (!name) return (fr_embedder_kind)0;
  for (int i = 0; i < N_EMBEDDERS; i++)
    if (strcmp(k_embedders[i]->net.name, name) == 0) return k_embedders[i]->kind;
  return (fr_embedder_kind)0;
}

/* The loader's hand-off: the one graph, which must give one descriptor of
 * dim floats per chip, since embed() copies that many. */
static fr_status take(void *obj, fr__model *m, const char *dir, fr_error *err) {
  fr_embedder *e = obj;
  (void)dir;
  e->g = fr__model_take_graph(m, 0);
  return fr__net_check_vector(e->g, e->size, e->dim, e->impl->net.title, err);
}

fr_status fr__embedder_create_with(fr_embedder_kind kind, const char *model_dir,
                                   const fr__kernels *kernels, fr_embedder **out, fr_error *err) {
  if (!out) return fr__fail(err, FR_E_INVALID, "fr_embedder_create: NULL out");
  *out = NULL;
  if (kind == FR_EMBEDDER_CARD)
    return fr__fail(err, FR_E_INVALID, "fr_embedder_create: a card model is loaded with fr_embedder_create_file");
  const fr__embedder_impl *impl = fr__embedder_find(kind);
  if (!impl) return fr__fail(err, FR_E_INVALID, "fr_embedder_create: unknown embedder kind %d", (int)kind);
  fr_embedder *e = fr__calloc(1, sizeof *e);
  if (!e) return fr__fail(err, FR_E_NOMEM, "out of memory loading %s", impl->net.title);
  e->impl = impl;
  e->kind = kind;
  e->kernels = kernels;
  e->size = impl->net.input_size;
  e->dim = impl->net.dim;
  fr_status st = fr__net_load(&impl->net, FR__MODEL_EMBEDDER, model_dir, kernels, take, e, err);
  if (st != FR_OK) {
    fr_embedder_destroy(e);
    return st;
  }
  *out = e;
  return FR_OK;
}

fr_status fr_embedder_create(fr_embedder_kind kind, const char *model_dir, fr_embedder **out,
                             fr_error *err) {
  return fr__embedder_create_with(kind, model_dir, NULL, out, err);
}

fr_status fr_embedder_create_file(const char *path, fr_embedder **out, fr_error *err) {
  return fr__embedder_create_card(path, NULL, out, err);
}

void fr_embedder_destroy(fr_embedder *e) {
  if (!e) return;
  if (e->impl && e->impl->unload) e->impl->unload(e);
  fr__graph_destroy(e->g);
  fr__free(e);
}

int fr_embedder_dim(const fr_embedder *e) { return e ? e->dim : 0; }
int fr_embedder_input_size(const fr_embedder *e) { return e ? e->size : 0; }
const fr__graph *fr__embedder_graph(const fr_embedder *e) { return e ? e->g : NULL; }
float fr__embedder_threshold(const fr_embedder *e) { return e ? e->impl->threshold : 0.f; }

/* Largest batch run through the network at once; bigger requests are split so
 * the activation arena stays bounded. */
#define FR__EMBED_MAX_BATCH 8

/* Writes batch item i of a chunk (the network input before normalisation). */
typedef void (*fill_fn)(const void *src, int i, int size, float *dst);

static void fill_rgb(const void *src, int i, int size, float *dst) {
  size_t per = (size_t)size * size * 3;
  memcpy(dst, (const float *)src + (size_t)i * per, per * sizeof(float));
}

static void fill_chip(const void *src, int i, int size, float *dst) {
  const fr_image *chip = (const fr_image *)src + i;
  /* face-api centres a non-square chip in its padded square (toBatchTensor
   * with isCenterInputs=true); a square chip is simply resized. */
  fr__image_to_tensor(chip, 0, 0, chip->width, chip->height, size, 1, dst, NULL);
}

static void l2_normalize(float *v, int dim) {
  double s = 0;
  for (int i = 0; i < dim; i++) s += (double)v[i] * v[i];
  if (s <= 0) return;
  float inv = (float)(1.0 / sqrt(s));
  for (int i = 0; i < dim; i++) v[i] *= inv;
}

/* Runs the batch in chunks through one planned arena per chunk size, writing
 * the input straight into the arena: no per-call allocation once warm. */
static fr_status embed(fr_context *ctx, const fr_embedder *e, const void *src, fill_fn fill,
                       int n, float *out, fr_error *err) {
  size_t per = (size_t)e->size * e->size * 3;
  for (int done = 0; done < n;) {
    int b = n - done < FR__EMBED_MAX_BATCH ? n - done : FR__EMBED_MAX_BATCH;
    fr__plan *p;
    fr_status st = fr__context_plan(ctx, e->g, b, e->size, e->size, &p, err);
    if (st != FR_OK) return st;
    float *in = fr__plan_input(p);
    for (int i = 0; i < b; i++) fill(src, done + i, e->size, in + (size_t)i * per);
    if (e->kind == FR_EMBEDDER_CARD)
      fr__card_prepare(e, in, (size_t)b * e->size * e->size);
    else
      e->impl->prepare(in, (size_t)b * e->size * e->size);
    fr__run(e->g, p, fr__context_pool(ctx));
    float *dst = out + (size_t)done * e->dim;
    memcpy(dst, fr__plan_output(p, 0, NULL), (size_t)b * e->dim * sizeof(float));
    if (e->impl->l2_normalize)
      for (int i = 0; i < b; i++) l2_normalize(dst + (size_t)i * e->dim, e->dim);
    done += b;
  }
  return FR_OK;
}

fr_status fr__embed_rgb(fr_context *ctx, const fr_embedder *e, const float *rgb, int n,
                        float *out, fr_error *err) {
  if (!ctx || !e || !rgb || !out || n <= 0)
    return fr__fail(err, FR_E_INVALID, "fr_embed: NULL argument or empty batch");
  return embed(ctx, e, rgb, fill_rgb, n, out, err);
}

fr_status fr_embed(fr_context *ctx, const fr_embedder *e, const fr_image *chips, int n,
                   float *out, fr_error *err) {
  if (!ctx || !e || !chips || !out || n <= 0)
    return fr__fail(err, FR_E_INVALID, "fr_embed: NULL argument or empty batch");
  for (int i = 0; i < n; i++) {
    fr_status st = fr__image_check(&chips[i], err);
    if (st != FR_OK) {
      fr__error_prefix(err, "fr_embed: chip %d", i);
      return st;
    }
  }
  return embed(ctx, e, chips, fill_chip, n, out, err);
}

float fr_distance(const float *a, const float *b, int dim) {
  double s = 0;
  for (int i = 0; i < dim; i++) {
    double d = (double)a[i] - (double)b[i];
    s += d * d;
  }
  return (float)sqrt(s);
}
