/*
 * tiny.c - face-api's TinyFaceDetector on our engine.
 *
 * It follows face-api 1.7.15 (tinyFaceDetector/ and the separable-conv
 * path of tinyYolov2/TinyYolov2Base.ts):
 *  - the image is padded with zeros at the bottom or right to a square and
 *    resized bilinearly to input_size (default 416, a multiple of 32); the
 *    mean RGB [117.001, 114.697, 97.404] is subtracted and the result divided
 *    by 255 (the divisor face-api 1.7.15 uses);
 *  - a 3x3 conv without padding ("valid") and bias, leaky ReLU 0.1, then five
 *    depthwise-separable convs (3x3 depthwise with one pixel of zero padding,
 *    1x1 pointwise with bias, leaky ReLU 0.1), each followed by a 2x2 max pool
 *    (stride 2, except stride 1 after the last); a final 1x1 conv gives 25
 *    channels per cell: five anchors x (x, y, w, h, score);
 *  - YOLO decoding with the five anchors of tinyFaceDetector/const.ts,
 *    sigmoid scores above 0.5, greedy suppression at IoU 0.4, and boxes
 *    mapped back to the image through face-api's correction factors. Boxes
 *    are not clipped, as in face-api, so they may reach past the image.
 * The model has no conv6/conv7 (its filter list has seven entries).
 */
#include "detect/detect_internal.h"
#include "image/image_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* leaky.ts multiplies by the float32 0.1. */
#define TINY_LEAKY_ALPHA 0.1f

static const float k_mean_rgb[3] = {117.001f, 114.697f, 97.404f};

/* Anchor widths and heights in cells (BOX_ANCHORS in const.ts). */
static const double k_anchor_w[FR__TINY_ANCHORS] = {1.603231, 6.041143, 2.882459, 4.266906,
                                                    9.041765};
static const double k_anchor_h[FR__TINY_ANCHORS] = {2.094468, 7.080126, 3.518061, 5.178857,
                                                    10.66308};

/* A depthwise-separable conv as depthwiseSeparableConv.ts: pad 1 then a
 * valid 3x3 depthwise conv (the same as SAME padding at stride 1), a 1x1
 * pointwise conv, the bias, then leaky ReLU. Returns -1 on failure. */
static int separable(fr__graph *g, const fr__weights *wm, int idx, int x, int cout,
                     fr_error *err) {
  if (x < 0) return -1;
  int cin = fr__channels(g, x);
  char name[64];
  int dd[4] = {3, 3, cin, 1}, pd[4] = {1, 1, cin, cout}, bd[1] = {cout};
  snprintf(name, sizeof name, "conv%d/depthwise_filter", idx);
  const float *dw = fr__weights_get(wm, name, 4, dd, err);
  snprintf(name, sizeof name, "conv%d/pointwise_filter", idx);
  const float *pw = dw ? fr__weights_get(wm, name, 4, pd, err) : NULL;
  snprintf(name, sizeof name, "conv%d/bias", idx);
  const float *b = pw ? fr__weights_get(wm, name, 1, bd, err) : NULL;
  if (!b) return -1;
  x = fr__dwconv2d(g, x, dw, NULL, 3, 3, 1, FR__PAD_SAME, FR__ACT_NONE, 0.f);
  return fr__conv2d(g, x, pw, b, 1, 1, cout, 1, FR__PAD_SAME, FR__ACT_LEAKY, TINY_LEAKY_ALPHA,
                    -1);
}

static fr_status tiny_build(fr__graph *g, const fr__weights *wm, fr__model *m, fr_error *err) {
  (void)m;
  int x = fr__input(g, 3);
  int d0[4] = {3, 3, 3, 16}, b0[1] = {16};
  const float *w = fr__weights_get(wm, "conv0/filters", 4, d0, err);
  const float *b = w ? fr__weights_get(wm, "conv0/bias", 1, b0, err) : NULL;
  if (!b) return err->status;
  x = fr__conv2d(g, x, w, b, 3, 3, 16, 1, FR__PAD_VALID, FR__ACT_LEAKY, TINY_LEAKY_ALPHA, -1);
  x = fr__maxpool(g, x, 2, 2, FR__PAD_SAME);
  static const int outs[6] = {16, 32, 64, 128, 256, 512};
  for (int i = 1; i <= 5; i++) {
    x = separable(g, wm, i, x, outs[i], err);
    if (x < 0) break;
    x = fr__maxpool(g, x, 2, i < 5 ? 2 : 1, FR__PAD_SAME);
  }
  if (err->status != FR_OK) return err->status; /* a missing or misshapen tensor */
  int d8[4] = {1, 1, 512, FR__TINY_ANCHORS * 5}, b8[1] = {FR__TINY_ANCHORS * 5};
  w = fr__weights_get(wm, "conv8/filters", 4, d8, err);
  b = w ? fr__weights_get(wm, "conv8/bias", 1, b8, err) : NULL;
  if (!b) return err->status;
  x = fr__conv2d(g, x, w, b, 1, 1, FR__TINY_ANCHORS * 5, 1, FR__PAD_VALID, FR__ACT_NONE, 0.f, -1);
  fr__output(g, x);
  return fr__graph_finish(g, err);
}

/* A cell's anchor scoring above the threshold. */
typedef struct cand {
  double score;
  int index; /* (row * cells + col) * anchors + anchor */
} cand;

/* Highest score first; among equal scores the higher index first, because
 * face-api sorts ascending (stably) and pops from the end. */
static int cand_cmp(const void *pa, const void *pb) {
  const cand *a = pa, *b = pb;
  if (a->score != b->score) return a->score > b->score ? -1 : 1;
  return (a->index < b->index) - (a->index > b->index);
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

static double js_round(double v) { return floor(v + 0.5); }

static fr_status tiny_detect(fr_context *ctx, const fr_detector *det, const fr_image *img,
                          const fr__detect_params *p, fr_face *faces, int *n_out, fr_error *err) {
  const int size = p->input_size;
  fr__plan *plan;
  fr_status st = fr__context_plan(ctx, det->g, 1, size, size, &plan, err);
  if (st != FR_OK) return st;
  float *in = fr__plan_input(plan);
  fr__image_to_tensor(img, 0, 0, img->width, img->height, size, 0, in, NULL);
  for (size_t i = 0, n = (size_t)size * size; i < n; i++)
    for (int c = 0; c < 3; c++) in[i * 3 + c] = (in[i * 3 + c] - k_mean_rgb[c]) / 255.f;
  fr__run(det->g, plan, fr__context_pool(ctx));

  int sh[4];
  const float *out = fr__plan_output(plan, 0, sh);
  const int na = FR__TINY_ANCHORS, cells = sh[1];
  if (!out || sh[1] != sh[2] || sh[3] != na * 5)
    return fr__fail(err, FR_E_INTERNAL, "TinyFaceDetector: output %dx%dx%d is not square x %d",
                    sh[1], sh[2], sh[3], na * 5);

  /* Count, then collect, so memory is only taken for the candidates. */
  int n_cand = 0, total = cells * cells * na;
  for (int i = 0; i < total; i++)
    if (sigmoid(out[(size_t)i * 5 + 4]) > p->min_score) n_cand++;
  if (n_cand == 0) return FR_OK;
  size_t bytes = (size_t)n_cand * (sizeof(cand) + sizeof(fr_rect) + sizeof(int));
  cand *cands = fr__malloc(bytes);
  if (!cands)
    return fr__fail(err, FR_E_NOMEM, "out of memory for %d TinyFaceDetector candidates", n_cand);
  fr_rect *boxes = (fr_rect *)(cands + n_cand);
  int *keep = (int *)(boxes + n_cand);
  for (int i = 0, k = 0; i < total; i++) {
    double s = sigmoid(out[(size_t)i * 5 + 4]);
    if (s > p->min_score) cands[k++] = (cand){s, i};
  }
  qsort(cands, (size_t)n_cand, sizeof *cands, cand_cmp);

  /* extractBoxes: the correction factors undo the padding, measured with
   * face-api's rounded reshaped dimensions. Boxes are relative to the image. */
  double w = img->width, h = img->height, scale = size / (w > h ? w : h);
  double rw = js_round(w * scale), rh = js_round(h * scale);
  double side = rw > rh ? rw : rh;
  double corr_x = side / rw, corr_y = side / rh;
  for (int i = 0; i < n_cand; i++) {
    int idx = cands[i].index, a = idx % na, cell = idx / na;
    int row = cell / cells, col = cell % cells;
    const float *e = out + (size_t)idx * 5;
    double cx = (col + sigmoid(e[0])) / cells * corr_x;
    double cy = (row + sigmoid(e[1])) / cells * corr_y;
    double bw = exp(e[2]) * k_anchor_w[a] / cells * corr_x;
    double bh = exp(e[3]) * k_anchor_h[a] / cells * corr_y;
    boxes[i] = (fr_rect){(float)(cx - bw / 2), (float)(cy - bh / 2), (float)bw, (float)bh};
  }
  int max_keep = p->max_keep < n_cand ? p->max_keep : n_cand;
  int kept = fr__nms_boxes(boxes, n_cand, p->iou_threshold, max_keep, keep);
  for (int i = 0; i < kept; i++) {
    const fr_rect *b = &boxes[keep[i]];
    fr_face *f = &faces[i];
    memset(f, 0, sizeof *f);
    f->box = (fr_rect){(float)(b->x * w), (float)(b->y * h), (float)(b->width * w),
                       (float)(b->height * h)};
    f->score = (float)cands[keep[i]].score;
  }
  *n_out = kept;
  fr__free(cands);
  return FR_OK;
}

/* The loaded state is the one graph (the default take). No trial plan: the
 * input side varies, and tiny_detect checks the output at every run. */
const fr__detector_impl fr__detector_tiny = {
    .kind = FR_DETECTOR_TINY,
    .net = {.name = "tiny",
            .title = "TinyFaceDetector",
            .format = FR__NET_TFJS,
            .files = {FR__TINY_MANIFEST, "tiny_face_detector_model.bin"},
            .input_size = FR__TINY_DEFAULT_SIZE,
            .build = tiny_build},
    .min_score = FR__TINY_MIN_SCORE,
    .iou = FR__TINY_IOU,
    .n_landmarks = 0,
    .input_min = FR__TINY_MIN_SIZE,
    .input_max = FR__TINY_MAX_SIZE,
    .input_step = 32,
    .take = NULL,
    .unload = NULL,
    .detect = tiny_detect,
};
