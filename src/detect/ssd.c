/*
 * ssd.c - face-api's SSD-MobileNetV1 face detector on our engine.
 *
 * It follows face-api 1.7.15 (the .ts files of ssdMobilenetv1/) step by step:
 *  - the image is padded with zeros at the bottom or right to a square and
 *    resized bilinearly to 512x512, then scaled to -1..1 as x / 127.5 - 1;
 *  - a MobileNetV1 body: a 3x3 stride-2 conv, then 13 pairs of a 3x3
 *    depthwise conv with batch norm (epsilon 0.001) and a 1x1 pointwise conv
 *    whose bias is `convolution_bn_offset`, every layer followed by ReLU6;
 *  - eight more ReLU6 convs (1x1 and 3x3 stride-2 in turn) shrink the 16x16
 *    map down to 1x1; six box predictors (1x1 convs, no activation) read the
 *    32x32 map of pair 11, the 16x16 body output and four of those convs;
 *  - 5118 anchor boxes (Output/extra_dim) decode the box encodings with the
 *    usual SSD scales 10 and 5; a face's score is the sigmoid of class 1;
 *  - greedy suppression at IoU 0.5 of the boxes scoring above 0.5, and the
 *    kept boxes, clipped to the square, are mapped back to the image the way
 *    face-api maps them (through its rounded "reshaped" dimensions).
 * Batch norm is folded into the depthwise weights and bias at load time.
 */
#include "detect/detect_internal.h"
#include "image/image_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* tf.batchNorm's variance epsilon in face-api's mobileNetV1.ts (0.001 as a
 * float32). */
#define SSD_BN_EPSILON 0.0010000000474974513

/* Anchors per cell of each of the six feature maps, in predictor order. */
static const int k_anchors_per_cell[FR__SSD_MAPS] = {3, 6, 6, 6, 6, 6};

/* Looks up a tensor by a formatted name; NULL with err set if missing or of
 * the wrong shape. */
static const float *get(const fr__weights *wm, fr_error *err, int ndim, const int *dims,
                        const char *fmt, ...) FR__PRINTF(5, 6);
static const float *get(const fr__weights *wm, fr_error *err, int ndim, const int *dims,
                        const char *fmt, ...) {
  char name[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  return fr__weights_get(wm, name, ndim, dims, err);
}

/* A conv + bias + ReLU6 layer as face-api's pointwiseConvLayer (despite the
 * name it is also used for the 3x3 layers). Returns -1 on failure. */
static int pointwise(fr__graph *g, const fr__weights *wm, const char *scope, int idx, int x,
                     int k, int cout, int stride, fr_error *err) {
  if (x < 0) return -1;
  int cin = fr__channels(g, x);
  int wd[4] = {k, k, cin, cout}, bd[1] = {cout};
  const float *w = get(wm, err, 4, wd, "%s/Conv2d_%d_pointwise/weights", scope, idx);
  const float *b =
      w ? get(wm, err, 1, bd, "%s/Conv2d_%d_pointwise/convolution_bn_offset", scope, idx) : NULL;
  if (!b) return -1;
  /* The large layers keep the shipped uint8 codes (a quarter of the memory
   * of float32): one scale and offset for the whole tensor. */
  char name[160];
  snprintf(name, sizeof name, "%s/Conv2d_%d_pointwise/weights", scope, idx);
  const uint8_t *q;
  double qs, qm;
  if ((size_t)k * k * cin * cout >= FR__CONV_U8_MIN_WEIGHTS &&
      fr__weights_get_u8(wm, name, 4, wd, &q, &qs, &qm, err) == 1) {
    float *aff = fr__malloc(3 * (size_t)cout * sizeof *aff);
    if (!aff) {
      fr__fail(err, FR_E_NOMEM, "out of memory building %s", name);
      return -1;
    }
    fr__weights_u8_affine(aff, cout, 0, cout, qs, qm, NULL);
    int y = fr__conv2d_u8(g, x, q, aff, b, k, k, cout, stride, FR__PAD_SAME, FR__ACT_RELU6, 0.f,
                          -1);
    fr__free(aff);
    return y;
  }
  return fr__conv2d(g, x, w, b, k, k, cout, stride, FR__PAD_SAME, FR__ACT_RELU6, 0.f, -1);
}

/* A 3x3 depthwise conv with its batch norm folded in, then ReLU6:
 * bn(y) = (y - mean) / sqrt(var + eps) * gamma + beta = y * s + (beta - mean * s)
 * with s = gamma / sqrt(var + eps), and y is linear in the weights. */
static int depthwise(fr__graph *g, const fr__weights *wm, int idx, int x, int stride,
                     fr_error *err) {
  if (x < 0) return -1;
  int c = fr__channels(g, x);
  int wd[4] = {3, 3, c, 1}, vd[1] = {c};
  const char *pre = "MobilenetV1/Conv2d_";
  const float *w = get(wm, err, 4, wd, "%s%d_depthwise/depthwise_weights", pre, idx);
  const float *gamma = w ? get(wm, err, 1, vd, "%s%d_depthwise/BatchNorm/gamma", pre, idx) : NULL;
  const float *beta = gamma ? get(wm, err, 1, vd, "%s%d_depthwise/BatchNorm/beta", pre, idx) : NULL;
  const float *mean =
      beta ? get(wm, err, 1, vd, "%s%d_depthwise/BatchNorm/moving_mean", pre, idx) : NULL;
  const float *var =
      mean ? get(wm, err, 1, vd, "%s%d_depthwise/BatchNorm/moving_variance", pre, idx) : NULL;
  if (!var) return -1;
  float *fw = fr__malloc((size_t)9 * c * sizeof *fw), *fb = fr__malloc((size_t)c * sizeof *fb);
  if (!fw || !fb) {
    fr__free(fw);
    fr__free(fb);
    fr__fail(err, FR_E_NOMEM, "out of memory folding batch norm of depthwise conv %d", idx);
    return -1;
  }
  for (int ch = 0; ch < c; ch++) {
    double s = (double)gamma[ch] / sqrt((double)var[ch] + SSD_BN_EPSILON);
    fb[ch] = (float)((double)beta[ch] - (double)mean[ch] * s);
    for (int k = 0; k < 9; k++)
      fw[(size_t)k * c + ch] = (float)((double)w[(size_t)k * c + ch] * s);
  }
  int y = fr__dwconv2d(g, x, fw, fb, 3, 3, stride, FR__PAD_SAME, FR__ACT_RELU6, 0.f);
  fr__free(fw);
  fr__free(fb);
  return y;
}

/* One box predictor: face-api runs a box-encoding conv and a class conv on
 * the same map; here they are one 1x1 conv whose output channels are the
 * encodings (anchors x 4) followed by the class logits (anchors x 3), which
 * halves the graph outputs needed. */
static int box_predictor(fr__graph *g, const fr__weights *wm, int idx, int x, int anchors,
                         fr_error *err) {
  if (x < 0) return -1;
  int cin = fr__channels(g, x);
  int nb = anchors * 4, nc = anchors * 3, n = nb + nc;
  int bwd[4] = {1, 1, cin, nb}, bbd[1] = {nb}, cwd[4] = {1, 1, cin, nc}, cbd[1] = {nc};
  const char *pre = "Prediction/BoxPredictor_";
  const float *bw = get(wm, err, 4, bwd, "%s%d/BoxEncodingPredictor/weights", pre, idx);
  const float *bb =
      bw ? get(wm, err, 1, bbd, "%s%d/BoxEncodingPredictor/biases", pre, idx) : NULL;
  const float *cw = bb ? get(wm, err, 4, cwd, "%s%d/ClassPredictor/weights", pre, idx) : NULL;
  const float *cb = cw ? get(wm, err, 1, cbd, "%s%d/ClassPredictor/biases", pre, idx) : NULL;
  if (!cb) return -1;
  float *w = fr__malloc((size_t)cin * n * sizeof *w), *b = fr__malloc((size_t)n * sizeof *b);
  if (!w || !b) {
    fr__free(w);
    fr__free(b);
    fr__fail(err, FR_E_NOMEM, "out of memory building box predictor %d", idx);
    return -1;
  }
  for (int ci = 0; ci < cin; ci++) {
    memcpy(w + (size_t)ci * n, bw + (size_t)ci * nb, (size_t)nb * sizeof *w);
    memcpy(w + (size_t)ci * n + nb, cw + (size_t)ci * nc, (size_t)nc * sizeof *w);
  }
  memcpy(b, bb, (size_t)nb * sizeof *b);
  memcpy(b + nb, cb, (size_t)nc * sizeof *b);
  int y = fr__conv2d(g, x, w, b, 1, 1, n, 1, FR__PAD_SAME, FR__ACT_NONE, 0.f, -1);
  fr__free(w);
  fr__free(b);
  return y;
}

/* The graph, and the anchor boxes kept beside it in m (and so in the model
 * file) as the array "anchors". */
static fr_status ssd_build(fr__graph *g, const fr__weights *wm, fr__model *m, fr_error *err) {
  /* Output channels of the 13 pointwise convs of the body. */
  static const int body_out[14] = {32,  64,  128, 128, 256, 256,  512,
                                   512, 512, 512, 512, 512, 1024, 1024};
  int x = fr__input(g, 3);
  x = pointwise(g, wm, "MobilenetV1", 0, x, 3, body_out[0], 2, err);
  int conv11 = -1;
  for (int i = 1; i <= 13; i++) {
    /* face-api's getStridesForLayerIdx: stride 2 at pairs 2, 4, 6 and 12. */
    int stride = (i == 2 || i == 4 || i == 6 || i == 12) ? 2 : 1;
    x = depthwise(g, wm, i, x, stride, err);
    x = pointwise(g, wm, "MobilenetV1", i, x, 1, body_out[i], 1, err);
    if (i == 11) conv11 = x;
  }
  /* The prediction layer's extra feature maps (predictionLayer.ts). */
  static const int pred_k[8] = {1, 3, 1, 3, 1, 3, 1, 3};
  static const int pred_out[8] = {256, 512, 128, 256, 128, 256, 64, 128};
  int pred[8];
  int y = x;
  for (int i = 0; i < 8; i++) {
    y = pointwise(g, wm, "Prediction", i, y, pred_k[i], pred_out[i], i % 2 ? 2 : 1, err);
    pred[i] = y;
  }
  const int maps[FR__SSD_MAPS] = {conv11, x, pred[1], pred[3], pred[5], pred[7]};
  for (int m = 0; m < FR__SSD_MAPS; m++) {
    int o = box_predictor(g, wm, m, maps[m], k_anchors_per_cell[m], err);
    if (o < 0) break;
    fr__output(g, o);
  }
  if (err->status != FR_OK) return err->status; /* a missing or misshapen tensor */
  fr_status st = fr__graph_finish(g, err);
  if (st != FR_OK) return st;

  int ad[3] = {1, FR__SSD_ANCHORS, 4};
  const float *anchors = fr__weights_get(wm, "Output/extra_dim", 3, ad, err);
  if (!anchors) return err->status;
  return fr__model_add_array(m, "anchors", anchors, (size_t)FR__SSD_ANCHORS * 4, err);
}

/* A box above the score threshold: its score and anchor index. */
typedef struct cand {
  float score;
  int index;
} cand;

/* Highest score first; among equal scores the lower anchor index first, as
 * face-api's stable sort of candidates in anchor order leaves them. */
static int cand_cmp(const void *pa, const void *pb) {
  const cand *a = pa, *b = pb;
  if (a->score != b->score) return a->score > b->score ? -1 : 1;
  return (a->index > b->index) - (a->index < b->index);
}

static float sigmoidf(float x) { return 1.f / (1.f + expf(-x)); }

/* Decodes one anchor's box encoding into [ymin, xmin, ymax, xmax] relative to
 * the padded square, in float32 arithmetic like outputLayer.ts's tensors. */
static void decode(const float *anchor, const float *enc, float box[4]) {
  float h = anchor[2] - anchor[0], w = anchor[3] - anchor[1];
  float cy = anchor[0] + h / 2.f, cx = anchor[1] + w / 2.f;
  float half_h = expf(enc[2] / 5.f) * h / 2.f;
  float y = enc[0] / 10.f * h + cy;
  float half_w = expf(enc[3] / 5.f) * w / 2.f;
  float x = enc[1] / 10.f * w + cx;
  box[0] = y - half_h;
  box[1] = x - half_w;
  box[2] = y + half_h;
  box[3] = x + half_w;
}

/* Scans every anchor's face score (the sigmoid of class 1, class 0 being the
 * background) and returns how many exceed min_score; when cands is not NULL
 * it also stores them there, in anchor order. */
static int collect(const float *const out[FR__SSD_MAPS], const int cells[FR__SSD_MAPS],
                   float min_score, cand *cands) {
  int k = 0, index = 0;
  for (int m = 0; m < FR__SSD_MAPS; m++) {
    int a_n = k_anchors_per_cell[m], ch = a_n * 7;
    for (int c = 0; c < cells[m]; c++) {
      const float *cls = out[m] + (size_t)c * ch + a_n * 4;
      for (int a = 0; a < a_n; a++, index++) {
        float score = sigmoidf(cls[a * 3 + 1]);
        if (!(score > min_score)) continue;
        if (cands) cands[k] = (cand){score, index};
        k++;
      }
    }
  }
  return k;
}

/* JavaScript's Math.round for the non-negative values used here. */
static double js_round(double v) { return floor(v + 0.5); }

static fr_status ssd_detect(fr_context *ctx, const fr_detector *det, const fr_image *img,
                         const fr__detect_params *p, fr_face *faces, int *n_out, fr_error *err) {
  const int size = FR__SSD_SIZE;
  fr__plan *plan;
  fr_status st = fr__context_plan(ctx, det->g, 1, size, size, &plan, err);
  if (st != FR_OK) return st;
  float *in = fr__plan_input(plan);
  fr__image_to_tensor(img, 0, 0, img->width, img->height, size, 0, in, NULL);
  /* SsdMobilenetv1.ts: x / 127.5 - 1, after padding, so padding becomes -1. */
  for (size_t i = 0, n = (size_t)size * size * 3; i < n; i++) in[i] = in[i] / 127.5f - 1.f;
  fr__run(det->g, plan, fr__context_pool(ctx));

  /* Gather the six predictor outputs and check they cover every anchor. */
  const float *out[FR__SSD_MAPS];
  int cells[FR__SSD_MAPS], total = 0;
  for (int m = 0; m < FR__SSD_MAPS; m++) {
    int sh[4];
    out[m] = fr__plan_output(plan, m, sh);
    cells[m] = sh[1] * sh[2];
    if (!out[m] || sh[3] != k_anchors_per_cell[m] * 7)
      return fr__fail(err, FR_E_INTERNAL, "SSD-MobileNetV1: predictor %d has %d channels", m,
                      out[m] ? sh[3] : -1);
    total += cells[m] * k_anchors_per_cell[m];
  }
  if (total != FR__SSD_ANCHORS)
    return fr__fail(err, FR_E_INTERNAL, "SSD-MobileNetV1: %d predictions for %d anchors", total,
                    FR__SSD_ANCHORS);

  /* Count first, then collect, so that memory is only taken for the
   * candidates (a handful on a normal image, at most one per anchor). */
  int n_cand = collect(out, cells, p->min_score, NULL);
  if (n_cand == 0) return FR_OK;
  cand *cands = fr__malloc((size_t)n_cand * (sizeof(cand) + sizeof(fr_rect) + sizeof(int)));
  if (!cands) return fr__fail(err, FR_E_NOMEM, "out of memory for %d SSD candidate boxes", n_cand);
  fr_rect *boxes = (fr_rect *)(cands + n_cand);
  int *keep = (int *)(boxes + n_cand);
  collect(out, cells, p->min_score, cands);
  qsort(cands, (size_t)n_cand, sizeof *cands, cand_cmp);

  for (int i = 0; i < n_cand; i++) {
    /* Find the candidate's map and cell: maps are consecutive in index. */
    int idx = cands[i].index, m = 0, base = 0;
    while (idx - base >= cells[m] * k_anchors_per_cell[m]) {
      base += cells[m] * k_anchors_per_cell[m];
      m++;
    }
    int a_n = k_anchors_per_cell[m], local = idx - base;
    const float *enc = out[m] + (size_t)(local / a_n) * (a_n * 7) + (local % a_n) * 4;
    float raw[4];
    decode(det->anchors + (size_t)idx * 4, enc, raw);
    boxes[i] = (fr_rect){raw[1], raw[0], raw[3] - raw[1], raw[2] - raw[0]};
  }
  int max_keep = p->max_keep < n_cand ? p->max_keep : n_cand;
  int kept = fr__nms_boxes(boxes, n_cand, p->iou_threshold, max_keep, keep);

  /* face-api clips the box to the square, scales by inputSize / reshaped
   * size (the reshaped side rounded as Math.round does, which differs a
   * little from the exact ratio), then by the image size. */
  double w = img->width, h = img->height, scale = size / (w > h ? w : h);
  double pad_x = size / js_round(w * scale), pad_y = size / js_round(h * scale);
  for (int i = 0; i < kept; i++) {
    const fr_rect *b = &boxes[keep[i]];
    double top = fmax(0.0, b->y) * pad_y, bottom = fmin(1.0, (double)b->y + b->height) * pad_y;
    double left = fmax(0.0, b->x) * pad_x, right = fmin(1.0, (double)b->x + b->width) * pad_x;
    fr_face *f = &faces[i];
    memset(f, 0, sizeof *f);
    f->box = (fr_rect){(float)(left * w), (float)(top * h), (float)((right - left) * w),
                       (float)((bottom - top) * h)};
    f->score = cands[keep[i]].score;
  }
  *n_out = kept;
  fr__free(cands);
  return FR_OK;
}

/* The graph and its anchors, from the original files or the model file
 * alike. No trial plan here (it would cost more than the load at SSD's
 * size): ssd_detect checks the outputs' shapes at every run. */
static fr_status ssd_take(fr_detector *det, fr__model *m, const char *dir, fr_error *err) {
  (void)dir;
  det->g = fr__model_take_graph(m, 0);
  det->anchors = fr__model_take_array(m, "anchors", (size_t)FR__SSD_ANCHORS * 4);
  if (!det->anchors)
    return fr__fail(err, FR_E_MODEL, "%s%s lacks the anchors of %s", det->impl->net.name,
                    FR__MODEL_EXT, det->impl->net.title);
  return FR_OK;
}

const fr__detector_impl fr__detector_ssd = {
    .kind = FR_DETECTOR_SSD,
    .net = {.name = "ssd",
            .title = "SSD-MobileNetV1",
            .format = FR__NET_TFJS,
            .files = {FR__SSD_MANIFEST, "ssd_mobilenetv1_model.bin"},
            .input_size = FR__SSD_SIZE,
            .build = ssd_build},
    .min_score = FR__SSD_MIN_SCORE,
    .iou = FR__SSD_IOU,
    .n_landmarks = 0,
    .input_min = 0,
    .input_max = 0,
    .input_step = 0,
    .take = ssd_take,
    .unload = NULL,
    .detect = ssd_detect,
};
