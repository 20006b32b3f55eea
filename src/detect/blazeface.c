/*
 * blazeface.c - MediaPipe's BlazeFace face detectors (short and full range)
 * on our engine, from the TFLite files of @mediapipe/face_detection.
 *
 * It follows MediaPipe's face detection graphs
 * (modules/face_detection/face_detection_{short,full}_range_common.pbtxt and
 * face_detection.pbtxt):
 *  - the image is letterboxed into the square model input, keeping its aspect
 *    ratio and centring it (ImageToTensorCalculator with keep_aspect_ratio and
 *    BORDER_ZERO): bilinear samples of the image taken at the input pixels'
 *    centres, black outside it, scaled from 0..255 to -1..1 (MediaPipe's CPU
 *    path warps with OpenCV, whose pixel-centre convention may place samples
 *    up to half an input pixel differently; no downscaling filter either
 *    way);
 *  - the network gives, per anchor, 16 regressors (box centre x, y, width,
 *    height, then six keypoints as x, y) and one score logit;
 *  - the anchors are SsdAnchorsCalculator's with fixed_anchor_size: only the
 *    centres matter. Short range (128x128): strides 8, 16, 16, 16 with an
 *    interpolated anchor per layer, so 16x16x2 + 8x8x6 = 896 anchors. Full
 *    range (192x192): one stride-4 layer without interpolated anchors, so
 *    48x48 = 2304 anchors;
 *  - decoding (TensorsToDetectionsCalculator): coordinates are divided by the
 *    input size and offset by the anchor centre; scores are the sigmoid of the
 *    logit clipped to +-100, kept from min_score up (MediaPipe's defaults: 0.5
 *    for short range, 0.6 for full range);
 *  - weighted non-maximum suppression at IoU 0.3 (NonMaxSuppressionCalculator
 *    with algorithm WEIGHTED): the best remaining box absorbs every box
 *    overlapping it by more than the threshold, and its box and keypoints
 *    become their score-weighted mean while it keeps its own score;
 *  - boxes and keypoints are mapped back through the letterbox to image
 *    pixels. Boxes are not clipped to the image, as in MediaPipe.
 * No MediaPipe run was available to compare outputs number for number; the
 * tests check the parts against their definitions and the results against
 * SSD's boxes and the 68-point net's eyes.
 */
#include "detect/detect_internal.h"
#include "image/image_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* MediaPipe's TensorsToDetectionsCalculator options for both models. */
#define BF_SCORE_CLIP 100.0f

/* The SsdAnchorsCalculator options that differ between the two models. Both
 * also use anchor offsets 0.5, the single aspect ratio 1 and fixed-size
 * anchors, which is what the code below assumes. */
typedef struct bf_config {
  int input_size;
  int n_layers;
  int strides[4];
  int interpolated; /* interpolated_scale_aspect_ratio > 0: one more anchor per layer */
  int n_anchors;    /* what the layers above give; checked against the model */
} bf_config;

static const bf_config k_short = {FR__BLAZEFACE_SIZE, 4, {8, 16, 16, 16}, 1, 896};
static const bf_config k_full = {FR__BLAZEFACE_FULL_SIZE, 1, {4, 0, 0, 0}, 0, 2304};

static const bf_config *config_of(fr_detector_kind kind) {
  if (kind == FR_DETECTOR_BLAZEFACE) return &k_short;
  if (kind == FR_DETECTOR_BLAZEFACE_FULL) return &k_full;
  return NULL;
}

/* What a loaded BlazeFace detector keeps beside its graph. */
typedef struct bf_state {
  const bf_config *cfg;
  float *anchors; /* n_anchors x (x_centre, y_centre), relative to the input */
} bf_state;

int fr__blazeface_anchors(fr_detector_kind kind, float *xy, int max) {
  const bf_config *cfg = config_of(kind);
  if (!cfg) return -1;
  int n = 0;
  /* Layers sharing a stride share one feature map: each cell of that map
   * gets, per layer, one anchor per aspect ratio (here one) plus the
   * interpolated one, all centred on the cell. */
  for (int layer = 0; layer < cfg->n_layers;) {
    int stride = cfg->strides[layer], last = layer;
    while (last < cfg->n_layers && cfg->strides[last] == stride) last++;
    int per_cell = (last - layer) * (1 + (cfg->interpolated ? 1 : 0));
    int cells = (cfg->input_size + stride - 1) / stride; /* ceil, as MediaPipe */
    for (int y = 0; y < cells; y++)
      for (int x = 0; x < cells; x++)
        for (int a = 0; a < per_cell; a++, n++) {
          if (!xy || n >= max) continue;
          xy[2 * n] = ((float)x + 0.5f) / (float)cells;
          xy[2 * n + 1] = ((float)y + 0.5f) / (float)cells;
        }
    layer = last;
  }
  return n;
}

void fr__blazeface_letterbox(const fr_image *img, int size, float *out, fr__letterbox *lb) {
  const double w = img->width, h = img->height, side = w > h ? w : h;
  lb->side = side;
  lb->pad_x = (side - w) / 2;
  lb->pad_y = (side - h) / 2;
  /* The column tables below are sized for the largest model input; the
   * callers pass 128 or 192. */
  if (size <= 0 || size > FR__BLAZEFACE_MAX_INPUT) return;
  const double step = side / size;
  /* Each tensor pixel samples the image at its centre: tensor pixel u covers
   * square coordinates [u * step, (u + 1) * step), the square starts pad_x
   * left of the image, and image pixel i has its centre at i + 0.5. */
  int x0[FR__BLAZEFACE_MAX_INPUT];
  float wx[FR__BLAZEFACE_MAX_INPUT];
  for (int u = 0; u < size; u++) {
    double fx = (u + 0.5) * step - lb->pad_x - 0.5, fl = floor(fx);
    x0[u] = (int)fl;
    wx[u] = (float)(fx - fl);
  }
  for (int v = 0; v < size; v++) {
    double fy = (v + 0.5) * step - lb->pad_y - 0.5, fl = floor(fy);
    int y0 = (int)fl;
    float wy = (float)(fy - fl);
    float *o = out + (size_t)v * (size_t)size * 3;
    for (int u = 0; u < size; u++, o += 3) {
      /* Neighbours outside the image are black (BORDER_ZERO). */
      float acc[3] = {0.f, 0.f, 0.f};
      for (int dy = 0; dy < 2; dy++) {
        int y = y0 + dy;
        float wgt_y = dy ? wy : 1.f - wy;
        if (y < 0 || y >= img->height || wgt_y == 0.f) continue;
        for (int dx = 0; dx < 2; dx++) {
          int x = x0[u] + dx;
          float wgt = wgt_y * (dx ? wx[u] : 1.f - wx[u]);
          if (x < 0 || x >= img->width || wgt == 0.f) continue;
          uint8_t rgb[3];
          fr__pixel_rgb(img, x, y, rgb);
          for (int c = 0; c < 3; c++) acc[c] += wgt * (float)rgb[c];
        }
      }
      /* ImageToTensorCalculator's output range -1..1: v * 2 / 255 - 1. */
      for (int c = 0; c < 3; c++) o[c] = acc[c] * (2.f / 255.f) - 1.f;
    }
  }
}

int fr__blazeface_decode(const float *reg, const float *logits, const float *anchors, int n,
                         float input_size, float min_score, fr__bf_box *out) {
  int k = 0;
  for (int i = 0; i < n; i++) {
    float logit = logits[i];
    /* NaN fails both comparisons and is dropped with the low scores below. */
    if (logit > BF_SCORE_CLIP) logit = BF_SCORE_CLIP;
    if (logit < -BF_SCORE_CLIP) logit = -BF_SCORE_CLIP;
    float score = 1.f / (1.f + expf(-logit));
    if (!(score >= min_score)) continue;
    const float *r = reg + (size_t)i * FR__BLAZEFACE_COORDS;
    float ax = anchors[2 * i], ay = anchors[2 * i + 1];
    /* Fixed-size anchors are 1 x 1, so the size terms are plain divisions. */
    float cx = r[0] / input_size + ax, cy = r[1] / input_size + ay;
    float bw = r[2] / input_size, bh = r[3] / input_size;
    /* A box without area (or with NaN in it) could never be absorbed by
     * suppression, not even by itself, so it is no detection. */
    if (!(bw > 0.f && bh > 0.f) || !isfinite(cx) || !isfinite(cy) || !isfinite(bw) ||
        !isfinite(bh))
      continue;
    fr__bf_box *b = &out[k++];
    b->score = score;
    b->anchor = i;
    b->xmin = cx - bw / 2;
    b->ymin = cy - bh / 2;
    b->xmax = cx + bw / 2;
    b->ymax = cy + bh / 2;
    for (int j = 0; j < FR__BLAZEFACE_KEYPOINTS; j++) {
      b->kp[2 * j] = r[4 + 2 * j] / input_size + ax;
      b->kp[2 * j + 1] = r[5 + 2 * j] / input_size + ay;
    }
  }
  return k;
}

/* Highest score first; equal scores in anchor order, so runs are repeatable
 * whatever qsort does with ties. */
static int box_cmp(const void *pa, const void *pb) {
  const fr__bf_box *a = pa, *b = pb;
  if (a->score != b->score) return a->score > b->score ? -1 : 1;
  return (a->anchor > b->anchor) - (a->anchor < b->anchor);
}

/* MediaPipe's IntersectionOverUnion on corner boxes: 0 without overlap. */
static float box_iou(const fr__bf_box *a, const fr__bf_box *b) {
  float ix0 = a->xmin > b->xmin ? a->xmin : b->xmin;
  float iy0 = a->ymin > b->ymin ? a->ymin : b->ymin;
  float ix1 = a->xmax < b->xmax ? a->xmax : b->xmax;
  float iy1 = a->ymax < b->ymax ? a->ymax : b->ymax;
  if (!(ix1 > ix0 && iy1 > iy0)) return 0.f;
  float inter = (ix1 - ix0) * (iy1 - iy0);
  float ua = (a->xmax - a->xmin) * (a->ymax - a->ymin) + (b->xmax - b->xmin) * (b->ymax - b->ymin) -
             inter;
  return ua > 0.f ? inter / ua : 0.f;
}

int fr__blazeface_weighted_nms(fr__bf_box *c, int n, float iou_threshold, int max_keep) {
  qsort(c, (size_t)n, sizeof *c, box_cmp);
  int kept = 0;
  for (int i = 0; i < n && (max_keep <= 0 || kept < max_keep); i++) {
    if (c[i].anchor < 0) continue; /* absorbed by a better box */
    const fr__bf_box top = c[i];
    /* The top box overlaps itself fully, so it is always its own first
     * member; sums run in double so that many absorbed boxes lose nothing. */
    double sum[4 + 2 * FR__BLAZEFACE_KEYPOINTS] = {0};
    double total = 0;
    for (int j = i; j < n; j++) {
      if (c[j].anchor < 0 || box_iou(&top, &c[j]) <= iou_threshold) continue;
      const fr__bf_box *b = &c[j];
      double s = b->score;
      total += s;
      sum[0] += b->xmin * s;
      sum[1] += b->ymin * s;
      sum[2] += b->xmax * s;
      sum[3] += b->ymax * s;
      for (int k = 0; k < 2 * FR__BLAZEFACE_KEYPOINTS; k++) sum[4 + k] += b->kp[k] * s;
      if (j > i) c[j].anchor = -1;
    }
    fr__bf_box merged = top;
    if (total > 0) {
      merged.xmin = (float)(sum[0] / total);
      merged.ymin = (float)(sum[1] / total);
      merged.xmax = (float)(sum[2] / total);
      merged.ymax = (float)(sum[3] / total);
      for (int k = 0; k < 2 * FR__BLAZEFACE_KEYPOINTS; k++)
        merged.kp[k] = (float)(sum[4 + k] / total);
    }
    c[kept++] = merged; /* kept <= i: never a slot still to be read */
  }
  return kept;
}

/* The regressors (last dimension 16) and scores (last dimension 1) among the
 * model's outputs, whatever their order; both must have n_anchors rows. */
static fr_status find_outputs(const fr__plan *plan, int n_anchors, const float **reg,
                              const float **logits, fr_error *err) {
  *reg = *logits = NULL;
  for (int k = 0; k < 2; k++) {
    int sh[4];
    const float *o = fr__plan_output(plan, k, sh);
    if (!o) break;
    if (sh[0] != 1 || sh[1] * sh[2] != n_anchors) continue;
    if (sh[3] == FR__BLAZEFACE_COORDS) *reg = o;
    if (sh[3] == 1) *logits = o;
  }
  if (!*reg || !*logits)
    return fr__fail(err, FR_E_MODEL,
                    "BlazeFace model outputs are not %d x %d regressors and %d x 1 scores",
                    n_anchors, FR__BLAZEFACE_COORDS, n_anchors);
  return FR_OK;
}

static fr_status bf_detect(fr_context *ctx, const fr_detector *det, const fr_image *img,
                           const fr__detect_params *p, fr_face *faces, int *n_out,
                           fr_error *err) {
  const bf_state *s = det->state;
  const bf_config *cfg = s->cfg;
  const int size = cfg->input_size;
  fr__plan *plan;
  fr_status st = fr__context_plan(ctx, det->g, 1, size, size, &plan, err);
  if (st != FR_OK) return st;
  fr__letterbox lb;
  fr__blazeface_letterbox(img, size, fr__plan_input(plan), &lb);
  fr__run(det->g, plan, fr__context_pool(ctx));

  const float *reg, *logits;
  st = find_outputs(plan, cfg->n_anchors, &reg, &logits, err);
  if (st != FR_OK) return st;

  /* The candidates live in the context's scratch: detection is the only
   * user of it until this call returns. */
  size_t floats = (size_t)cfg->n_anchors * (sizeof(fr__bf_box) / sizeof(float) + 1);
  fr__bf_box *cand = (fr__bf_box *)fr__context_scratch(ctx, floats);
  if (!cand) return fr__fail(err, FR_E_NOMEM, "out of memory for BlazeFace candidates");
  int n = fr__blazeface_decode(reg, logits, s->anchors, cfg->n_anchors, (float)size,
                               p->min_score, cand);
  n = fr__blazeface_weighted_nms(cand, n, p->iou_threshold, p->max_keep);

  for (int i = 0; i < n; i++) {
    const fr__bf_box *b = &cand[i];
    fr_face *f = &faces[i];
    memset(f, 0, sizeof *f);
    f->box.x = (float)(b->xmin * lb.side - lb.pad_x);
    f->box.y = (float)(b->ymin * lb.side - lb.pad_y);
    f->box.width = (float)((b->xmax - b->xmin) * lb.side);
    f->box.height = (float)((b->ymax - b->ymin) * lb.side);
    f->score = b->score;
    /* MediaPipe's keypoint order is right eye, left eye, nose tip, mouth
     * centre, right ear, left ear, named from the subject's side; the
     * subject's right is the image's left on a face seen from the front,
     * which is fr_face's order. */
    f->n_landmarks = FR__BLAZEFACE_KEYPOINTS;
    for (int k = 0; k < FR__BLAZEFACE_KEYPOINTS; k++) {
      f->landmarks[k].x = (float)(b->kp[2 * k] * lb.side - lb.pad_x);
      f->landmarks[k].y = (float)(b->kp[2 * k + 1] * lb.side - lb.pad_y);
    }
  }
  *n_out = n;
  return FR_OK;
}

static void bf_unload(fr_detector *det) {
  bf_state *s = det->state;
  if (!s) return;
  fr__free(s->anchors);
  fr__free(s);
  det->state = NULL;
}

/*
 * Builds the state beside the network (the anchors) and checks the network
 * once, whether it came from model_dir/<name>.frm (`facerec convert`: the
 * one graph, nothing else) or from the TFLite file. The anchors are not
 * stored in the model file: they are a function of the kind alone, computed
 * here in microseconds, and a stored copy would only be one more thing a
 * damaged file could get wrong.
 */
static fr_status bf_take(fr_detector *det, fr__model *m, const char *dir, fr_error *err) {
  (void)dir;
  det->g = fr__model_take_graph(m, 0);
  const bf_config *cfg = config_of(det->kind);
  if (!cfg) return fr__fail(err, FR_E_INTERNAL, "BlazeFace: unknown kind %d", (int)det->kind);
  bf_state *s = fr__calloc(1, sizeof *s);
  if (!s) return fr__fail(err, FR_E_NOMEM, "out of memory loading BlazeFace");
  det->state = s;
  s->cfg = cfg;
  s->anchors = fr__malloc((size_t)cfg->n_anchors * 2 * sizeof *s->anchors);
  if (!s->anchors) return fr__fail(err, FR_E_NOMEM, "out of memory for BlazeFace anchors");
  if (fr__blazeface_anchors(det->kind, s->anchors, cfg->n_anchors) != cfg->n_anchors)
    return fr__fail(err, FR_E_INTERNAL, "BlazeFace: anchor count is not %d", cfg->n_anchors);

  /* Check the model's input and outputs once, so that a wrong file fails at
   * load and not at the first frame. The letterbox writes three floats per
   * input pixel, so another channel count would write past the input. */
  int cin = fr__channels(det->g, fr__graph_input(det->g));
  if (cin != 3)
    return fr__fail(err, FR_E_MODEL, "%s takes %d input channels, not 3", det->impl->net.title,
                    cin);
  fr__plan *plan;
  fr_status st = fr__plan_create(det->g, 1, cfg->input_size, cfg->input_size, 1, &plan, err);
  if (st != FR_OK) return st;
  const float *reg, *logits;
  st = find_outputs(plan, cfg->n_anchors, &reg, &logits, err);
  fr__plan_destroy(plan);
  return st;
}

const fr__detector_impl fr__detector_blazeface = {
    .kind = FR_DETECTOR_BLAZEFACE,
    .net = {.name = "blazeface",
            .title = "BlazeFace (short range)",
            .format = FR__NET_TFLITE,
            .files = {FR__BLAZEFACE_MODEL},
            .input_size = FR__BLAZEFACE_SIZE},
    .min_score = FR__BLAZEFACE_MIN_SCORE,
    .iou = FR__BLAZEFACE_IOU,
    .n_landmarks = FR__BLAZEFACE_KEYPOINTS,
    .input_min = 0,
    .input_max = 0,
    .input_step = 0,
    .take = bf_take,
    .unload = bf_unload,
    .detect = bf_detect,
};

const fr__detector_impl fr__detector_blazeface_full = {
    .kind = FR_DETECTOR_BLAZEFACE_FULL,
    .net = {.name = "blazeface-full",
            .title = "BlazeFace (full range)",
            .format = FR__NET_TFLITE,
            .files = {FR__BLAZEFACE_FULL_MODEL},
            .input_size = FR__BLAZEFACE_FULL_SIZE},
    .min_score = FR__BLAZEFACE_FULL_MIN_SCORE,
    .iou = FR__BLAZEFACE_IOU,
    .n_landmarks = FR__BLAZEFACE_KEYPOINTS,
    .input_min = 0,
    .input_max = 0,
    .input_step = 0,
    .take = bf_take,
    .unload = bf_unload,
    .detect = bf_detect,
};
