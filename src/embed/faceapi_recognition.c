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
#include "nn/quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FR__REC_MANIFEST "face_recognition_model-weights_manifest.json"
#define FR__REC_SHARD "face_recognition_model.bin"
#define FR__REC_SIZE 150
#define FR__REC_DIM 128

static const float k_mean_rgb[3] = {122.782f, 117.001f, 104.298f};

/* One conv + scale pair with the scale folded in: the bias b, and either
 * the float32 weights w or (with u8, for a large layer stored as uint8
 * codes) the codes q, which stay owned by wm, with their affine map aff. On
 * failure sets err and returns 0; the caller frees w, b and aff. */
typedef struct folded {
  float *w, *b, *aff;
  const uint8_t *q;
} folded;

/* The large layers (the 256-channel ones) keep the shipped uint8 codes, a
 * quarter of the memory of float32: the folded weight (q * scale + min) *
 * s[c] is (q - z) * (scale * s[c]) + (min + z * scale) * s[c], one scale,
 * offset and zero point per output channel (fr__weights_u8_affine). The
 * int8 graph does not use that: its weights are quantised from the float32
 * values, and quantised from the compressed form's (which differ in the
 * last bits) they measured worse: descriptors 0.10 from float32 on
 * tests/test_int8.c's faces instead of 0.04. */
static int load_conv(const fr__weights *wm, const char *prefix, int k, int cin, int cout, int u8,
                     folded *f, fr_error *err) {
  char name[128];
  int wd[4] = {k, k, cin, cout}, vd[1] = {cout};
  memset(f, 0, sizeof *f);
  snprintf(name, sizeof name, "%s/conv/filters", prefix);
  const float *w = fr__weights_get(wm, name, 4, wd, err);
  double qs = 0, qm = 0;
  size_t n = (size_t)k * k * cin * cout;
  if (w && u8 && n >= FR__CONV_U8_MIN_WEIGHTS &&
      fr__weights_get_u8(wm, name, 4, wd, &f->q, &qs, &qm, err) != 1)
    f->q = NULL;
  snprintf(name, sizeof name, "%s/conv/bias", prefix);
  const float *b = w ? fr__weights_get(wm, name, 1, vd, err) : NULL;
  snprintf(name, sizeof name, "%s/scale/weights", prefix);
  const float *s = b ? fr__weights_get(wm, name, 1, vd, err) : NULL;
  snprintf(name, sizeof name, "%s/scale/biases", prefix);
  const float *sb = s ? fr__weights_get(wm, name, 1, vd, err) : NULL;
  if (!sb) return 0;
  f->b = fr__malloc((size_t)cout * sizeof *f->b);
  if (f->q)
    f->aff = fr__malloc(3 * (size_t)cout * sizeof *f->aff);
  else
    f->w = fr__malloc(n * sizeof *f->w);
  if (!f->b || !(f->aff || f->w)) {
    fr__free(f->b);
    fr__free(f->aff);
    fr__free(f->w);
    fr__fail(err, FR_E_NOMEM, "out of memory loading %s", prefix);
    return 0;
  }
  if (f->q)
    fr__weights_u8_affine(f->aff, cout, 0, cout, qs, qm, s);
  else
    for (size_t i = 0; i < n; i++) f->w[i] = w[i] * s[i % (size_t)cout];
  for (int c = 0; c < cout; c++) f->b[c] = b[c] * s[c] + sb[c];
  return 1;
}

/* Adds conv(prefix) to the graph; returns the tensor or -1. u8: large
 * layers may stay compressed (load_conv). */
static int conv(fr__graph *g, const fr__weights *wm, const char *prefix, int x, int k, int cout,
                int stride, fr__padding pad, int relu, int residual, int u8, fr_error *err) {
  folded f;
  if (!load_conv(wm, prefix, k, fr__channels(g, x), cout, u8, &f, err)) return -1;
  fr__act act = relu ? FR__ACT_RELU : FR__ACT_NONE;
  int y = f.q ? fr__conv2d_u8(g, x, f.q, f.aff, f.b, k, k, cout, stride, pad, act, 0.f, residual)
              : fr__conv2d(g, x, f.w, f.b, k, k, cout, stride, pad, act, 0.f, residual);
  fr__free(f.w);
  fr__free(f.b);
  fr__free(f.aff);
  return y;
}

/* residual(): conv, convNoRelu, + x, relu. */
static int residual(fr__graph *g, const fr__weights *wm, const char *name, int x, int u8,
                    fr_error *err) {
  char p[96];
  int c = fr__channels(g, x);
  snprintf(p, sizeof p, "%s/conv1", name);
  int y = conv(g, wm, p, x, 3, c, 1, FR__PAD_SAME, 1, -1, u8, err);
  if (y < 0) return -1;
  snprintf(p, sizeof p, "%s/conv2", name);
  return conv(g, wm, p, y, 3, c, 1, FR__PAD_SAME, 1, x, u8, err);
}

/* residualDown(); *hw tracks the spatial size (the net only runs at 150x150,
 * so whether the branch needs padding is known while building). */
static int residual_down(fr__graph *g, const fr__weights *wm, const char *name, int x, int cout,
                         int *hw, int u8, fr_error *err) {
  char p[96];
  int cin = fr__channels(g, x);
  snprintf(p, sizeof p, "%s/conv1", name);
  int y = conv(g, wm, p, x, 3, cout, 2, FR__PAD_VALID, 1, -1, u8, err);
  if (y < 0) return -1;
  int branch_hw = (*hw - 3) / 2 + 1, pooled_hw = *hw / 2;
  int s = fr__avgpool(g, x, 2, 2, FR__PAD_VALID);
  if (cout != cin) s = fr__pad(g, s, 0, 0, cout - cin);
  snprintf(p, sizeof p, "%s/conv2", name);
  if (branch_hw == pooled_hw) {
    y = conv(g, wm, p, y, 3, cout, 1, FR__PAD_SAME, 1, s, u8, err);
  } else {
    y = conv(g, wm, p, y, 3, cout, 1, FR__PAD_SAME, 0, -1, u8, err);
    int d = pooled_hw - branch_hw;
    y = fr__pad(g, y, d, d, 0);
    int xs[2] = {s, y};
    y = fr__add(g, xs, 2, FR__ACT_RELU, 0.f);
  }
  *hw = pooled_hw;
  return y;
}

/* ranges (NULL for float32): the int8 calibration table by tensor id. */
static fr_status build(fr__graph *g, const fr__weights *wm, const fr__quant_range *ranges,
                       int nranges, fr_error *err) {
  int u8 = ranges == NULL;
  int x = fr__input(g, 3);
  x = conv(g, wm, "conv32_down", x, 7, 32, 2, FR__PAD_VALID, 1, -1, u8, err);
  if (x < 0) return err ? err->status : FR_E_MODEL;
  /* int8 from here on: the first conv stays float32 (its input is the image,
   * and its 3 channels would fill only 3 of every 4 bytes of the dot
   * products; quantising it too measured no faster and moved descriptors a
   * little more), and so does the final fc (0.03% of the work). */
  fr__graph_set_quant(g, ranges, nranges);
  int hw = (FR__REC_SIZE - 7) / 2 + 1; /* 72 */
  x = fr__maxpool(g, x, 3, 2, FR__PAD_VALID);
  hw = (hw - 3) / 2 + 1; /* 35 */
  static const char *const names32[] = {"conv32_1", "conv32_2", "conv32_3"};
  for (int i = 0; i < 3 && x >= 0; i++) x = residual(g, wm, names32[i], x, u8, err);
  if (x >= 0) x = residual_down(g, wm, "conv64_down", x, 64, &hw, u8, err);
  static const char *const names64[] = {"conv64_1", "conv64_2", "conv64_3"};
  for (int i = 0; i < 3 && x >= 0; i++) x = residual(g, wm, names64[i], x, u8, err);
  if (x >= 0) x = residual_down(g, wm, "conv128_down", x, 128, &hw, u8, err);
  if (x >= 0) x = residual(g, wm, "conv128_1", x, u8, err);
  if (x >= 0) x = residual(g, wm, "conv128_2", x, u8, err);
  if (x >= 0) x = residual_down(g, wm, "conv256_down", x, 256, &hw, u8, err);
  if (x >= 0) x = residual(g, wm, "conv256_1", x, u8, err);
  if (x >= 0) x = residual(g, wm, "conv256_2", x, u8, err);
  if (x >= 0) x = residual_down(g, wm, "conv256_down_out", x, 256, &hw, u8, err);
  if (x < 0) {
    /* A weight lookup failure has set err; a graph failure is reported below. */
    if (err && err->status != FR_OK) return err->status;
    return fr__graph_finish(g, err);
  }
  fr__graph_set_quant(g, NULL, 0);
  x = fr__mean(g, x);
  int fd[2] = {256, FR__REC_DIM};
  const float *fc = fr__weights_get(wm, "fc", 2, fd, err);
  if (!fc) return err ? err->status : FR_E_MODEL;
  x = fr__fc(g, x, fc, NULL, 256, FR__REC_DIM, FR__ACT_NONE, 0.f);
  fr__output(g, x);
  return fr__graph_finish(g, err);
}

static fr_status build_f32(fr__graph *g, const fr__weights *wm, fr__model *m, fr_error *err) {
  (void)m;
  return build(g, wm, NULL, 0, err);
}

/* The int8 variant: the same graph with its 3x3 convs quantised by the
 * calibration table of faceapi_int8_table.c, which must match the graph
 * (same tensor count) or the load fails rather than quantise wrongly. */
static fr_status build_int8(fr__graph *g, const fr__weights *wm, fr__model *m, fr_error *err) {
  (void)m;
  if (fr__faceapi_int8_nranges <= 0)
    return fr__fail(err, FR_E_MODEL, "FaceRecognitionNet int8: no calibration table (run "
                                     "facerec quantize)");
  fr_status st = build(g, wm, fr__faceapi_int8_ranges, fr__faceapi_int8_nranges, err);
  if (st == FR_OK && fr__graph_tensors(g) != fr__faceapi_int8_nranges)
    st = fr__fail(err, FR_E_MODEL,
                  "FaceRecognitionNet int8: calibration table has %d tensors, graph %d",
                  fr__faceapi_int8_nranges, fr__graph_tensors(g));
  return st;
}

/* face-api subtracts the mean RGB and divides by 255. */
static void prepare(float *in, size_t pixels) {
  for (size_t i = 0; i < pixels * 3; i += 3) {
    in[i] = (in[i] - k_mean_rgb[0]) / 255.f;
    in[i + 1] = (in[i + 1] - k_mean_rgb[1]) / 255.f;
    in[i + 2] = (in[i + 2] - k_mean_rgb[2]) / 255.f;
  }
}

/* Both variants are the same network read from the same files, built with
 * or without the int8 calibration. */
#define REC_NET(name_, title_, build_, no_model_file_)                   \
  {.name = name_,                                                        \
   .title = title_,                                                      \
   .format = FR__NET_TFJS,                                               \
   .files = {FR__REC_MANIFEST, FR__REC_SHARD},                           \
   .input_size = FR__REC_SIZE,                                           \
   .dim = FR__REC_DIM,                                                   \
   .no_model_file = no_model_file_,                                      \
   .build = build_}

const fr__embedder_impl fr__embedder_faceapi = {
    .kind = FR_EMBEDDER_FACEAPI,
    .net = REC_NET("faceapi", "FaceRecognitionNet", build_f32, 0),
    .l2_normalize = 0,
    /* face-api crops upright; the similarity fit is 0.12 points better on LFW
     * with the same weights (README), so it is the default. */
    .align = FR_ALIGN_SIMILARITY,
    .model_id = "faceapi-1.7.15/face_recognition_model",
    /* From this network's LFW View 2 evaluation with the default (similarity)
     * chip: `facerec eval lfw --metric both --json --root
     * ../shared/data/lfw/images --pairs ../shared/data/lfw/pairs.txt` gave
     * 98.70% +- 0.38 at a best threshold of 0.6043 (mean over the 10 folds;
     * cosine: 98.70% at 0.0906). dlib and face-api publish 0.6. */
    .threshold = 0.6043f,
    .cosine_threshold = 0.0906f,
    /* `facerec eval openset --root ../shared/data/lfw/images --detector tiny
     * --enrol-people 300 --shots 1 --test-per-person 2 --unknown-people 1500`
     * with --seed 1 and 2: FAR <= 1% up to Euclidean 0.4502 and 0.4403,
     * cosine 0.0536 and 0.0540; at 0.44 / 0.0536 a third draw (--seed 3)
     * gave FAR 0.20% / 0.47% with TAR 57.3% / 69.7% (README, "Open set"). */
    .identify_threshold = 0.44f,
    .identify_cosine_threshold = 0.0536f,
    .unload = NULL,
    .prepare = prepare,
};

/* FaceRecognitionNet with int8 convolutions (src/nn/quant.h). Its
 * descriptors stay within a few hundredths of the float32 ones, so it keeps
 * the float32 model id: galleries enrolled with either can be searched with
 * the other. */
const fr__embedder_impl fr__embedder_faceapi_int8 = {
    .kind = FR_EMBEDDER_FACEAPI_INT8,
    /* Not converted: a model file cannot record the int8 calibration. */
    .net = REC_NET("faceapi-int8", "FaceRecognitionNet (int8)", build_int8, 1),
    .l2_normalize = 0,
    .align = FR_ALIGN_SIMILARITY,
    .model_id = "faceapi-1.7.15/face_recognition_model",
    /* The float32 threshold, kept for the shared galleries: `facerec eval lfw
     * --int8 --metric both --root ../shared/data/lfw/images --pairs
     * ../shared/data/lfw/pairs.txt` scored this model 98.72% +- 0.37 (float32
     * on the same faces: 98.70% +- 0.38) at a fold-mean best threshold of
     * 0.6084, and at 0.6043 only 3 of the 6000 pairs are decided otherwise
     * than by float32. */
    .threshold = 0.6043f,
    /* The float32 network's cuts (see above), for the same reason. */
    .cosine_threshold = 0.0906f,
    .identify_threshold = 0.44f,
    .identify_cosine_threshold = 0.0536f,
    .unload = NULL,
    .prepare = prepare,
};
