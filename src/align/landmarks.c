/*
 * landmarks.c - face-api's 68-point landmark nets (FaceLandmark68Net and
 * FaceLandmark68TinyNet) on facerec's inference engine.
 *
 * Both nets are a stack of "dense blocks" followed by average pooling and one
 * fully connected layer with 136 outputs, the (x, y) of 68 points relative to
 * the padded square input. A dense block of n convolutions computes
 *   out1 = relu(conv0(x))                        (stride 2: halves the size)
 *   out_k = sepconv_k(relu(out1 + ... + out_{k-1}))   for k = 2..n
 *   result = relu(out1 + ... + out_n)
 * where conv0 is a regular 3x3 convolution in the first block and a separable
 * one elsewhere, and a separable convolution is a 3x3 depthwise convolution
 * without bias followed by a 1x1 pointwise convolution with bias (face-api
 * adds the bias after tf.separableConv2d, i.e. after the pointwise part).
 *
 * The full net has 4 blocks of 4 convolutions (32, 64, 128, 256 channels) and
 * pools 7x7; the tiny one 3 blocks of 3 (32, 64, 128) and pools 14x14. With the
 * fixed 112x112 input both poolings reduce the last map to a single vector.
 *
 * The file also holds the landmarker API and the table of landmark nets,
 * which these two are the entries of; loading is the shared loader's
 * (src/nn/loader.c), driven by the network each entry declares.
 */
#include "align/align_internal.h"
#include "image/image_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FR__LM_OUTPUTS (2 * FR_MAX_LANDMARKS)

/* face-api's per-channel mean, subtracted before dividing by 255. */
static const float k_mean_rgb[3] = {122.782f, 117.001f, 104.298f};

struct fr_landmarker {
  const fr__landmarker_impl *impl;
  fr_landmarker_kind kind;
  fr__graph *g;
};

/* The shape of one of the two nets. */
typedef struct net_shape {
  int blocks;      /* dense blocks */
  int convs;       /* convolutions per block */
  int channels[4]; /* output channels of each block */
  int pool;        /* average pooling window over the last block's map */
} net_shape;

static const net_shape k_full = {4, 4, {32, 64, 128, 256}, 7};
static const net_shape k_tiny = {3, 3, {32, 64, 128, 0}, 14};

/* Looks a tensor up by "prefix/suffix"; NULL with err set when missing or of
 * another shape. */
static const float *get(const fr__weights *wm, const char *prefix, const char *suffix, int ndim,
                        const int *dims, fr_error *err) {
  char name[96];
  snprintf(name, sizeof name, "%s/%s", prefix, suffix);
  return fr__weights_get(wm, name, ndim, dims, err);
}

/* A separable convolution: depthwise 3x3 (no bias) then pointwise 1x1 with
 * bias, plus an optional residual tensor (-1: none) added before the
 * activation. Returns the output tensor, or -1 (err set for a weight
 * problem). */
static int sepconv(fr__graph *g, const fr__weights *wm, const char *prefix, int x, int cin,
                   int cout, int stride, fr__act act, int residual, fr_error *err) {
  int dwd[4] = {3, 3, cin, 1}, pwd[4] = {1, 1, cin, cout}, bd[1] = {cout};
  const float *dw = get(wm, prefix, "depthwise_filter", 4, dwd, err);
  const float *pw = dw ? get(wm, prefix, "pointwise_filter", 4, pwd, err) : NULL;
  const float *b = pw ? get(wm, prefix, "bias", 1, bd, err) : NULL;
  if (!b) return -1;
  x = fr__dwconv2d(g, x, dw, NULL, 3, 3, stride, FR__PAD_SAME, FR__ACT_NONE, 0.f);
  return fr__conv2d(g, x, pw, b, 1, 1, cout, 1, FR__PAD_SAME, act, 0.f, residual);
}

/*
 * One dense block (see the file comment). Rather than summing the outputs
 * with separate add nodes, each pointwise convolution adds the running sum as
 * its residual: sum_k = out1 + ... + out_k comes straight out of the k-th
 * convolution, the next input is relu(sum_k), and the last convolution
 * applies the block's final relu itself. This is the same arithmetic (up to
 * the order of float additions) with fewer passes over memory.
 */
static int dense_block(fr__graph *g, const fr__weights *wm, int block, int x, int cin, int cout,
                       int convs, fr_error *err) {
  char prefix[48];
  snprintf(prefix, sizeof prefix, "dense%d/conv0", block);
  int sum;
  if (block == 0) {
    int fd[4] = {3, 3, cin, cout}, bd[1] = {cout};
    const float *f = get(wm, prefix, "filters", 4, fd, err);
    const float *b = f ? get(wm, prefix, "bias", 1, bd, err) : NULL;
    if (!b) return -1;
    sum = fr__conv2d(g, x, f, b, 3, 3, cout, 2, FR__PAD_SAME, FR__ACT_RELU, 0.f, -1);
  } else {
    sum = sepconv(g, wm, prefix, x, cin, cout, 2, FR__ACT_RELU, -1, err);
  }
  /* out1 is rectified already, so it is both the first sum and the input of
   * the second convolution. */
  int in = sum;
  for (int k = 1; k < convs && sum >= 0; k++) {
    int last = k == convs - 1;
    snprintf(prefix, sizeof prefix, "dense%d/conv%d", block, k);
    sum = sepconv(g, wm, prefix, in, cout, cout, 1, last ? FR__ACT_RELU : FR__ACT_NONE, sum, err);
    if (!last && sum >= 0) in = fr__activate(g, sum, FR__ACT_RELU, 0.f);
  }
  return sum;
}

static fr_status build(fr__graph *g, const fr__weights *wm, const net_shape *shape,
                       fr_error *err) {
  int x = fr__input(g, 3);
  int cin = 3;
  for (int b = 0; b < shape->blocks && x >= 0; b++) {
    x = dense_block(g, wm, b, x, cin, shape->channels[b], shape->convs, err);
    cin = shape->channels[b];
  }
  if (x >= 0) {
    int wd[2] = {cin, FR__LM_OUTPUTS}, bd[1] = {FR__LM_OUTPUTS};
    const float *w = fr__weights_get(wm, "fc/weights", 2, wd, err);
    const float *b = w ? fr__weights_get(wm, "fc/bias", 1, bd, err) : NULL;
    if (!b) return err->status;
    x = fr__avgpool(g, x, shape->pool, 2, FR__PAD_VALID);
    x = fr__fc(g, x, w, b, cin, FR__LM_OUTPUTS, FR__ACT_NONE, 0.f);
    fr__output(g, x);
  } else if (err->status != FR_OK) {
    /* A weight lookup failed; a graph builder failure is reported below. */
    return err->status;
  }
  return fr__graph_finish(g, err);
}

static fr_status build_full(fr__graph *g, const fr__weights *wm, fr__model *m, fr_error *err) {
  (void)m;
  return build(g, wm, &k_full, err);
}

static fr_status build_tiny(fr__graph *g, const fr__weights *wm, fr__model *m, fr_error *err) {
  (void)m;
  return build(g, wm, &k_tiny, err);
}

static const fr__landmarker_impl k_landmarker_68 = {
    .kind = FR_LANDMARKER_68,
    .net = {.name = "landmarks68",
            .title = "FaceLandmark68Net",
            .format = FR__NET_TFJS,
            .files = {"face_landmark_68_model-weights_manifest.json", "face_landmark_68_model.bin"},
            .input_size = FR__LANDMARK_INPUT,
            .dim = FR__LM_OUTPUTS,
            .build = build_full},
};

static const fr__landmarker_impl k_landmarker_68_tiny = {
    .kind = FR_LANDMARKER_68_TINY,
    .net = {.name = "landmarks68-tiny",
            .title = "FaceLandmark68TinyNet",
            .format = FR__NET_TFJS,
            .files = {"face_landmark_68_tiny_model-weights_manifest.json",
                      "face_landmark_68_tiny_model.bin"},
            .input_size = FR__LANDMARK_INPUT,
            .dim = FR__LM_OUTPUTS,
            .build = build_tiny},
};

/* Every landmark net this library has: the two above. A new one is a new
 * file exporting an fr__landmarker_impl, declared extern here, and one line
 * in this table. */
static const fr__landmarker_impl *const k_landmarkers[] = {
    &k_landmarker_68,
    &k_landmarker_68_tiny,
};
#define N_LANDMARKERS (int)(sizeof k_landmarkers / sizeof k_landmarkers[0])

int fr__landmarker_count(void) { return N_LANDMARKERS; }

const fr__landmarker_impl *fr__landmarker_at(int i) {
  return i >= 0 && i < N_LANDMARKERS ? k_landmarkers[i] : NULL;
}

const fr__landmarker_impl *fr__landmarker_find(fr_landmarker_kind kind) {
  for (int i = 0; i < N_LANDMARKERS; i++)
    if (k_landmarkers[i]->kind == kind) return k_landmarkers[i];
  return NULL;
}

const char *fr_landmarker_kind_name(fr_landmarker_kind kind) {
  const fr__landmarker_impl *impl = fr__landmarker_find(kind);
  return impl ? impl->net.name : NULL;
}

fr_landmarker_kind fr_landmarker_kind_from_name(const char *name) {
  if (!name) return (fr_landmarker_kind)0;
  for (int i = 0; i < N_LANDMARKERS; i++)
    if (strcmp(k_landmarkers[i]->net.name, name) == 0) return k_landmarkers[i]->kind;
  return (fr_landmarker_kind)0;
}

/* The loader's hand-off: the one graph, which must give the 136 numbers
 * run_plan reads. */
static fr_status take(void *obj, fr__model *m, const char *dir, fr_error *err) {
  fr_landmarker *lm = obj;
  (void)dir;
  lm->g = fr__model_take_graph(m, 0);
  return fr__net_check_vector(lm->g, FR__LANDMARK_INPUT, FR__LM_OUTPUTS, lm->impl->net.title,
                              err);
}

fr_status fr__landmarker_create_with(fr_landmarker_kind kind, const char *model_dir,
                                     const fr__kernels *kernels, fr_landmarker **out,
                                     fr_error *err) {
  if (!out) return fr__fail(err, FR_E_INVALID, "fr_landmarker_create: NULL out");
  *out = NULL;
  const fr__landmarker_impl *impl = fr__landmarker_find(kind);
  if (!impl)
    return fr__fail(err, FR_E_INVALID, "fr_landmarker_create: unknown landmarker kind %d",
                    (int)kind);
  fr_landmarker *lm = fr__calloc(1, sizeof *lm);
  if (!lm) return fr__fail(err, FR_E_NOMEM, "out of memory loading %s", impl->net.title);
  lm->impl = impl;
  lm->kind = kind;
  fr_status st = fr__net_load(&impl->net, FR__MODEL_LANDMARKER, model_dir, kernels, take, lm, err);
  if (st != FR_OK) {
    fr_landmarker_destroy(lm);
    return st;
  }
  *out = lm;
  return FR_OK;
}

fr_status fr_landmarker_create(fr_landmarker_kind kind, const char *model_dir, fr_landmarker **out,
                               fr_error *err) {
  return fr__landmarker_create_with(kind, model_dir, NULL, out, err);
}

void fr_landmarker_destroy(fr_landmarker *lm) {
  if (!lm) return;
  fr__graph_destroy(lm->g);
  fr__free(lm);
}

const fr__graph *fr__landmarker_graph(const fr_landmarker *lm) { return lm ? lm->g : NULL; }

int fr__face_crop(const fr_rect *box, int img_w, int img_h, int crop[4]) {
  if (!box || img_w <= 0 || img_h <= 0) return 0;
  double x = box->x, y = box->y, w = box->width, h = box->height;
  if (!isfinite(x) || !isfinite(y) || !isfinite(w) || !isfinite(h)) return 0;
  /* Box.clipAtImageBorders: move the top-left corner inside, keep the
   * bottom-right corner but not beyond the image, then floor all four
   * numbers. Working in doubles keeps every value bounded by the image size
   * before it is converted to int. */
  double cx = x > 0 ? x : 0, cy = y > 0 ? y : 0;
  if (cx >= img_w || cy >= img_h) return 0;
  double cw = x + w - cx, ch = y + h - cy;
  if (cw > img_w - cx) cw = img_w - cx;
  if (ch > img_h - cy) ch = img_h - cy;
  cx = floor(cx);
  cy = floor(cy);
  cw = floor(cw);
  ch = floor(ch);
  /* extractFaceTensors drops boxes that end up without area. */
  if (!(cw > 0) || !(ch > 0)) return 0;
  crop[0] = (int)cx;
  crop[1] = (int)cy;
  crop[2] = (int)cw;
  crop[3] = (int)ch;
  return 1;
}

/* Normalises the input held in the plan (0..255 RGB) as face-api does, in
 * float32 like TensorFlow: subtract the channel mean, then divide by 255. */
static void normalize_input(float *in) {
  for (size_t i = 0; i < (size_t)FR__LANDMARK_INPUT * FR__LANDMARK_INPUT * 3; i += 3) {
    in[i] = (in[i] - k_mean_rgb[0]) / 255.f;
    in[i + 1] = (in[i + 1] - k_mean_rgb[1]) / 255.f;
    in[i + 2] = (in[i + 2] - k_mean_rgb[2]) / 255.f;
  }
}

static fr_status get_plan(fr_context *ctx, const fr_landmarker *lm, fr__plan **p, fr_error *err) {
  return fr__context_plan(ctx, lm->g, 1, FR__LANDMARK_INPUT, FR__LANDMARK_INPUT, p, err);
}

static fr_status run_plan(fr_context *ctx, const fr_landmarker *lm, fr__plan *p,
                          float raw[FR__LM_OUTPUTS], fr_error *err) {
  normalize_input(fr__plan_input(p));
  fr__run(lm->g, p, fr__context_pool(ctx));
  int shape[4];
  const float *o = fr__plan_output(p, 0, shape);
  if (!o || shape[0] != 1 || shape[1] != 1 || shape[2] != 1 || shape[3] != FR__LM_OUTPUTS)
    return fr__fail(err, FR_E_INTERNAL, "landmark net produced an output of the wrong shape");
  memcpy(raw, o, FR__LM_OUTPUTS * sizeof *raw);
  return FR_OK;
}

fr_status fr__landmarks_raw(fr_context *ctx, const fr_landmarker *lm, const float *rgb,
                            float raw[FR__LM_OUTPUTS], fr_error *err) {
  if (!ctx || !lm || !rgb || !raw)
    return fr__fail(err, FR_E_INVALID, "fr__landmarks_raw: NULL argument");
  fr__plan *p;
  fr_status st = get_plan(ctx, lm, &p, err);
  if (st != FR_OK) return st;
  memcpy(fr__plan_input(p), rgb,
         (size_t)FR__LANDMARK_INPUT * FR__LANDMARK_INPUT * 3 * sizeof(float));
  return run_plan(ctx, lm, p, raw, err);
}

fr_status fr_landmarks(fr_context *ctx, const fr_landmarker *lm, const fr_image *img, fr_face *face,
                       fr_error *err) {
  if (!ctx || !lm || !img || !face) {
    const char *what = !ctx ? "context" : !lm ? "landmarker" : !img ? "image" : "face";
    return fr__fail(err, FR_E_INVALID, "fr_landmarks: NULL %s", what);
  }
  fr_status st = fr__image_check(img, err);
  if (st != FR_OK) return st;
  int crop[4];
  if (!fr__face_crop(&face->box, img->width, img->height, crop))
    return fr__fail(err, FR_E_INVALID,
                    "fr_landmarks: face box (x %g, y %g, w %g, h %g) has no area inside the "
                    "%dx%d image",
                    (double)face->box.x, (double)face->box.y, (double)face->box.width,
                    (double)face->box.height, img->width, img->height);
  fr__plan *p;
  st = get_plan(ctx, lm, &p, err);
  if (st != FR_OK) return st;
  /* The crop padded to a centred square and resized to 112 x 112, exactly
   * like toBatchTensor(112, isCenterInputs = true) on the face tensor. */
  fr__image_to_tensor(img, crop[0], crop[1], crop[2], crop[3], FR__LANDMARK_INPUT, 1,
                      fr__plan_input(p), NULL);
  float raw[FR__LM_OUTPUTS];
  st = run_plan(ctx, lm, p, raw, err);
  if (st != FR_OK) return st;

  /* FaceLandmark68NetBase.postProcess, in float32 as the tensor ops run: the
   * crop scaled to fit 112, its padding taken as half the size difference on
   * each side, output * 112 minus that padding, over the scaled size. */
  const float in = (float)FR__LANDMARK_INPUT;
  double scale = (double)FR__LANDMARK_INPUT / (double)(crop[2] > crop[3] ? crop[2] : crop[3]);
  double sw = crop[2] * scale, sh = crop[3] * scale;
  float pad_x = sw < sh ? (float)(fabs(sw - sh) / 2) : 0.f;
  float pad_y = sh < sw ? (float)(fabs(sw - sh) / 2) : 0.f;
  float fw = (float)sw, fh = (float)sh;
  for (int i = 0; i < FR_MAX_LANDMARKS; i++) {
    float rx = (raw[2 * i] * in - pad_x) / fw;
    float ry = (raw[2 * i + 1] * in - pad_y) / fh;
    /* FaceLandmarks scales the relative positions by the crop's size and
     * extendWithFaceLandmarks shifts them by the detection box's corner -
     * the unrounded box, not the floored crop, which face-api does too. */
    face->landmarks[i].x = (float)((double)rx * crop[2] + face->box.x);
    face->landmarks[i].y = (float)((double)ry * crop[3] + face->box.y);
  }
  face->n_landmarks = FR_MAX_LANDMARKS;
  return FR_OK;
}
