/*
 * faceapi_recognition.c - face-api's FaceRecognitionNet (dlib's ResNet-29
 * metric network) on our engine: a 150x150 RGB chip in, a 128-d descriptor out.
 *
 * Layer by layer it follows face-api 1.7.15: every conv is conv + bias, then a
 * per-channel scale layer (x * weights + biases), folded here into the conv's
 * weights and bias at load; residual blocks add their input before the ReLU;
 * "down" blocks use a stride-2 valid conv and a shortcut that average-pools
 * 2x2 and appends zero channels; where the conv branch comes out one pixel
 * smaller than the shortcut (4x4 -> 3x3 and 2x2 -> 1x1 at 150x150 input), a
 * zero row and column are appended to it, as the reference does. The input is
 * normalised as (rgb - mean) / 255, the divisor of face-api 1.7.15.
 */
#include "embed/embed_internal.h"
#include "image/image_internal.h"
#include "nn/tfjs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FR__REC_MANIFEST "face_recognition_model-weights_manifest.json"
#define FR__REC_SIZE 150
#define FR__REC_DIM 128

static const float k_mean_rgb[3] = {122.782f, 117.001f, 104.298f};

struct fr_embedder {
  fr_embedder_kind kind;
  fr__graph *g;
  int size, dim;
};

/* Loads one conv + scale pair and folds the scale into it. On failure sets
 * err and returns NULL; the caller frees w and b. */
static int load_conv(const fr__weights *wm, const char *prefix, int k, int cin, int cout,
                     float **w_out, float **b_out, fr_error *err) {
  char name[128];
  int wd[4] = {k, k, cin, cout}, vd[1] = {cout};
  snprintf(name, sizeof name, "%s/conv/filters", prefix);
  const float *w = fr__weights_get(wm, name, 4, wd, err);
  snprintf(name, sizeof name, "%s/conv/bias", prefix);
  const float *b = w ? fr__weights_get(wm, name, 1, vd, err) : NULL;
  snprintf(name, sizeof name, "%s/scale/weights", prefix);
  const float *s = b ? fr__weights_get(wm, name, 1, vd, err) : NULL;
  snprintf(name, sizeof name, "%s/scale/biases", prefix);
  const float *sb = s ? fr__weights_get(wm, name, 1, vd, err) : NULL;
  if (!sb) return 0;
  size_t n = (size_t)k * k * cin * cout;
  float *fw = malloc(n * sizeof *fw), *fb = malloc((size_t)cout * sizeof *fb);
  if (!fw || !fb) {
    free(fw);
    free(fb);
    fr__fail(err, FR_E_NOMEM, "out of memory loading %s", prefix);
    return 0;
  }
  for (size_t i = 0; i < n; i++) fw[i] = w[i] * s[i % (size_t)cout];
  for (int c = 0; c < cout; c++) fb[c] = b[c] * s[c] + sb[c];
  *w_out = fw;
  *b_out = fb;
  return 1;
}

/* Adds conv(prefix) to the graph; returns the tensor or -1. */
static int conv(fr__graph *g, const fr__weights *wm, const char *prefix, int x, int k, int cout,
                int stride, fr__padding pad, int relu, int residual, fr_error *err) {
  float *w = NULL, *b = NULL;
  if (!load_conv(wm, prefix, k, fr__channels(g, x), cout, &w, &b, err)) return -1;
  int y = fr__conv2d(g, x, w, b, k, k, cout, stride, pad, relu ? FR__ACT_RELU : FR__ACT_NONE, 0.f,
                     residual);
  free(w);
  free(b);
  return y;
}

/* residual(): conv, convNoRelu, + x, relu. */
static int residual(fr__graph *g, const fr__weights *wm, const char *name, int x, fr_error *err) {
  char p[96];
  int c = fr__channels(g, x);
  snprintf(p, sizeof p, "%s/conv1", name);
  int y = conv(g, wm, p, x, 3, c, 1, FR__PAD_SAME, 1, -1, err);
  if (y < 0) return -1;
  snprintf(p, sizeof p, "%s/conv2", name);
  return conv(g, wm, p, y, 3, c, 1, FR__PAD_SAME, 1, x, err);
}

/* residualDown(); *hw tracks the spatial size (the net only runs at 150x150,
 * so whether the branch needs padding is known while building). */
static int residual_down(fr__graph *g, const fr__weights *wm, const char *name, int x, int cout,
                         int *hw, fr_error *err) {
  char p[96];
  int cin = fr__channels(g, x);
  snprintf(p, sizeof p, "%s/conv1", name);
  int y = conv(g, wm, p, x, 3, cout, 2, FR__PAD_VALID, 1, -1, err);
  if (y < 0) return -1;
  int branch_hw = (*hw - 3) / 2 + 1, pooled_hw = *hw / 2;
  int s = fr__avgpool(g, x, 2, 2, FR__PAD_VALID);
  if (cout != cin) s = fr__pad(g, s, 0, 0, cout - cin);
  snprintf(p, sizeof p, "%s/conv2", name);
  if (branch_hw == pooled_hw) {
    y = conv(g, wm, p, y, 3, cout, 1, FR__PAD_SAME, 1, s, err);
  } else {
    y = conv(g, wm, p, y, 3, cout, 1, FR__PAD_SAME, 0, -1, err);
    int d = pooled_hw - branch_hw;
    y = fr__pad(g, y, d, d, 0);
    int xs[2] = {s, y};
    y = fr__add(g, xs, 2, FR__ACT_RELU, 0.f);
  }
  *hw = pooled_hw;
  return y;
}

static fr_status build(fr__graph *g, const fr__weights *wm, fr_error *err) {
  int x = fr__input(g, 3);
  x = conv(g, wm, "conv32_down", x, 7, 32, 2, FR__PAD_VALID, 1, -1, err);
  if (x < 0) return err ? err->status : FR_E_MODEL;
  int hw = (FR__REC_SIZE - 7) / 2 + 1; /* 72 */
  x = fr__maxpool(g, x, 3, 2, FR__PAD_VALID);
  hw = (hw - 3) / 2 + 1; /* 35 */
  static const char *const names32[] = {"conv32_1", "conv32_2", "conv32_3"};
  for (int i = 0; i < 3 && x >= 0; i++) x = residual(g, wm, names32[i], x, err);
  if (x >= 0) x = residual_down(g, wm, "conv64_down", x, 64, &hw, err);
  static const char *const names64[] = {"conv64_1", "conv64_2", "conv64_3"};
  for (int i = 0; i < 3 && x >= 0; i++) x = residual(g, wm, names64[i], x, err);
  if (x >= 0) x = residual_down(g, wm, "conv128_down", x, 128, &hw, err);
  if (x >= 0) x = residual(g, wm, "conv128_1", x, err);
  if (x >= 0) x = residual(g, wm, "conv128_2", x, err);
  if (x >= 0) x = residual_down(g, wm, "conv256_down", x, 256, &hw, err);
  if (x >= 0) x = residual(g, wm, "conv256_1", x, err);
  if (x >= 0) x = residual(g, wm, "conv256_2", x, err);
  if (x >= 0) x = residual_down(g, wm, "conv256_down_out", x, 256, &hw, err);
  if (x < 0) {
    /* A weight lookup failure has set err; a graph failure is reported below. */
    if (err && err->status != FR_OK) return err->status;
    return fr__graph_finish(g, err);
  }
  x = fr__mean(g, x);
  int fd[2] = {256, FR__REC_DIM};
  const float *fc = fr__weights_get(wm, "fc", 2, fd, err);
  if (!fc) return err ? err->status : FR_E_MODEL;
  x = fr__fc(g, x, fc, NULL, 256, FR__REC_DIM, FR__ACT_NONE, 0.f);
  fr__output(g, x);
  return fr__graph_finish(g, err);
}

fr_status fr__embedder_create_with(fr_embedder_kind kind, const char *model_dir,
                                   const fr__kernels *kernels, fr_embedder **out, fr_error *err) {
  if (!out) return fr__fail(err, FR_E_INVALID, "fr_embedder_create: NULL out");
  *out = NULL;
  if (kind != FR_EMBEDDER_FACEAPI)
    return fr__fail(err, FR_E_INVALID, "unknown embedder kind %d", (int)kind);
  char dir[4096];
  if (!model_dir) {
    fr_status st = fr_model_path(FR__REC_MANIFEST, dir, sizeof dir, err);
    if (st != FR_OK) return st;
    model_dir = dir;
  }
  fr_error local;
  if (!err) err = &local;
  err->status = FR_OK;
  fr__weights *wm = NULL;
  fr_status st = fr__tfjs_load(model_dir, FR__REC_MANIFEST, &wm, err);
  if (st != FR_OK) return st;
  fr_embedder *e = calloc(1, sizeof *e);
  if (!e) {
    fr__weights_destroy(wm);
    return fr__fail(err, FR_E_NOMEM, "out of memory loading the recognition net");
  }
  e->kind = kind;
  e->size = FR__REC_SIZE;
  e->dim = FR__REC_DIM;
  st = fr__graph_create(kernels, "FaceRecognitionNet", &e->g, err);
  if (st == FR_OK) st = build(e->g, wm, err);
  fr__weights_destroy(wm);
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

void fr_embedder_destroy(fr_embedder *e) {
  if (!e) return;
  fr__graph_destroy(e->g);
  free(e);
}

int fr_embedder_dim(const fr_embedder *e) { return e ? e->dim : 0; }
int fr_embedder_input_size(const fr_embedder *e) { return e ? e->size : 0; }
const fr__graph *fr__embedder_graph(const fr_embedder *e) { return e->g; }

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
   * with isCenterInputs=true). */
  fr__image_to_tensor(chip, 0, 0, chip->width, chip->height, size, 1, dst, NULL);
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
    for (size_t i = 0; i < per * (size_t)b; i += 3) {
      in[i] = (in[i] - k_mean_rgb[0]) / 255.f;
      in[i + 1] = (in[i + 1] - k_mean_rgb[1]) / 255.f;
      in[i + 2] = (in[i + 2] - k_mean_rgb[2]) / 255.f;
    }
    fr__run(e->g, p, fr__context_pool(ctx));
    memcpy(out + (size_t)done * e->dim, fr__plan_output(p, 0, NULL),
           (size_t)b * e->dim * sizeof(float));
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
