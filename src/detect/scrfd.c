/*
 * scrfd.c - InsightFace's SCRFD detector from the user's ONNX file
 * (buffalo_l's det_10g.onnx and the other SCRFD exports), run by our
 * importer: `--detector scrfd:PATH.onnx`.
 *
 * The network sees the image padded to a square at its bottom and right and
 * resized to its input side (640 unless the file fixes another), with
 * (x - 127.5) / 128 per RGB channel. It answers at three strides (8, 16,
 * 32), for every cell and each of its anchors (2 in the released models): a
 * score, the distances from the cell's corner point to the box's four sides
 * and the offsets of five points (eyes, nose tip, mouth corners), all in
 * units of the stride's pixels times the stride. Exporters differ in the
 * order and names of the nine outputs, so they are told apart by shape:
 * columns 1, 4 or 10 say which output it is, and the row count which stride.
 */
#include "detect/detect_internal.h"
#include "image/image_internal.h"
#include "nn/netfile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SCRFD_DEFAULT_SIZE 640
#define SCRFD_MAX_LEVELS 5

typedef struct scrfd_level {
  int stride, anchors, rows;
  int score, box, kps; /* output indices; kps -1 when the model has none */
} scrfd_level;

typedef struct scrfd_state {
  int size;
  int n_levels;
  scrfd_level level[SCRFD_MAX_LEVELS];
} scrfd_state;

/* One candidate face, in network input pixels. */
typedef struct cand {
  float score;
  float box[4]; /* x1, y1, x2, y2 */
  float kps[10];
} cand;

static void scrfd_unload(fr_detector *det) {
  fr__free(det->state);
  det->state = NULL;
}

static int cmp_cand(const void *a, const void *b) {
  float x = ((const cand *)a)->score, y = ((const cand *)b)->score;
  return (x < y) - (x > y);
}

static fr_status scrfd_detect(fr_context *ctx, const fr_detector *det, const fr_image *img,
                              const fr__detect_params *p, fr_face *faces, int *n_out,
                              fr_error *err) {
  const scrfd_state *s = det->state;
  int S = s->size;
  fr__plan *plan;
  fr_status st = fr__context_plan(ctx, det->g, 1, S, S, &plan, err);
  if (st != FR_OK) return st;
  float *in = fr__plan_input(plan);
  int side = 0;
  fr__image_to_tensor(img, 0, 0, img->width, img->height, S, 0, in, &side);
  for (size_t i = 0; i < (size_t)S * S * 3; i++) in[i] = (in[i] - 127.5f) * (1.f / 128.f);
  fr__run(det->g, plan, fr__context_pool(ctx));
  float back = (float)side / (float)S; /* network pixels -> image pixels */

  /* Candidates above the score threshold, in the context's scratch: at
   * most every anchor of every level. */
  size_t total = 0;
  for (int l = 0; l < s->n_levels; l++) total += (size_t)s->level[l].rows;
  size_t cand_floats = total * (sizeof(cand) / sizeof(float));
  size_t rect_floats = total * (sizeof(fr_rect) / sizeof(float)) + total;
  float *scratch = fr__context_scratch(ctx, cand_floats + rect_floats);
  if (!scratch) return fr__fail(err, FR_E_NOMEM, "SCRFD: out of memory");
  cand *c = (cand *)(void *)scratch;
  fr_rect *rects = (fr_rect *)(void *)(scratch + cand_floats);
  int *keep = (int *)(void *)(rects + total);
  size_t n = 0;
  for (int l = 0; l < s->n_levels; l++) {
    const scrfd_level *L = &s->level[l];
    const float *sc = fr__plan_output(plan, L->score, NULL);
    const float *bx = fr__plan_output(plan, L->box, NULL);
    const float *kp = L->kps >= 0 ? fr__plan_output(plan, L->kps, NULL) : NULL;
    int cols = S / L->stride;
    for (int r = 0; r < L->rows; r++) {
      if (!(sc[r] >= p->min_score)) continue;
      int cell = r / L->anchors;
      float cx = (float)((cell % cols) * L->stride), cy = (float)((cell / cols) * L->stride);
      const float *d = bx + (size_t)r * 4;
      float st_ = (float)L->stride;
      cand *o = &c[n++];
      o->score = sc[r];
      o->box[0] = cx - d[0] * st_;
      o->box[1] = cy - d[1] * st_;
      o->box[2] = cx + d[2] * st_;
      o->box[3] = cy + d[3] * st_;
      for (int k = 0; k < 5; k++) {
        o->kps[2 * k] = kp ? cx + kp[(size_t)r * 10 + 2 * k] * st_ : 0.f;
        o->kps[2 * k + 1] = kp ? cy + kp[(size_t)r * 10 + 2 * k + 1] * st_ : 0.f;
      }
    }
  }
  qsort(c, n, sizeof *c, cmp_cand);
  for (size_t i = 0; i < n; i++)
    rects[i] = (fr_rect){c[i].box[0], c[i].box[1], c[i].box[2] - c[i].box[0],
                         c[i].box[3] - c[i].box[1]};
  int kept = fr__nms_boxes(rects, (int)n, p->iou_threshold, p->max_keep, keep);
  for (int i = 0; i < kept; i++) {
    const cand *o = &c[keep[i]];
    fr_face *f = &faces[i];
    memset(f, 0, sizeof *f);
    f->score = o->score;
    f->box.x = o->box[0] * back;
    f->box.y = o->box[1] * back;
    f->box.width = (o->box[2] - o->box[0]) * back;
    f->box.height = (o->box[3] - o->box[1]) * back;
    if (s->level[0].kps >= 0) {
      f->n_landmarks = 5;
      for (int k = 0; k < 5; k++) {
        f->landmarks[k].x = o->kps[2 * k] * back;
        f->landmarks[k].y = o->kps[2 * k + 1] * back;
      }
    }
  }
  *n_out = kept;
  return FR_OK;
}

const fr__detector_impl fr__detector_scrfd = {
    .kind = FR_DETECTOR_SCRFD,
    .net = {.name = "scrfd", .title = "SCRFD", .format = FR__NET_NONE,
            .input_size = SCRFD_DEFAULT_SIZE},
    /* InsightFace's defaults (FaceAnalysis: det_thresh 0.5, nms 0.4). */
    .min_score = 0.5f,
    .iou = 0.4f,
    .n_landmarks = 5,
    .unload = scrfd_unload,
    .detect = scrfd_detect,
};

/* Sorts the outputs into levels by their shapes (see the top of the file). */
static fr_status find_levels(const fr__netfile *nf, int size, scrfd_state *s, fr_error *err) {
  int idx[3][SCRFD_MAX_LEVELS], cnt[3] = {0, 0, 0};
  int64_t rows[3][SCRFD_MAX_LEVELS];
  for (int k = 0; k < nf->n_outputs; k++) {
    const fr__io_desc *d = &nf->outputs[k];
    int64_t cols = d->ndims >= 2 ? d->dims[d->ndims - 1] : 0, r = 1;
    for (int j = 0; j < d->ndims - 1; j++) r *= d->dims[j] > 0 ? d->dims[j] : 1;
    int kind = cols == 1 ? 0 : cols == 4 ? 1 : cols == 10 ? 2 : -1;
    if (kind < 0 || cnt[kind] == SCRFD_MAX_LEVELS || d->layout != FR__LAYOUT_ROWMAJOR)
      return fr__fail(err, FR_E_MODEL, "SCRFD: output %s is not [rows, 1|4|10]", d->name);
    idx[kind][cnt[kind]] = k;
    rows[kind][cnt[kind]++] = r;
  }
  if (cnt[0] < 1 || cnt[0] != cnt[1] || (cnt[2] && cnt[2] != cnt[0]))
    return fr__fail(err, FR_E_MODEL, "SCRFD: %d score, %d box and %d point outputs", cnt[0],
                    cnt[1], cnt[2]);
  /* Levels from the finest (most rows) down; insertion sort of each kind. */
  for (int kind = 0; kind < 3; kind++)
    for (int a = 1; a < cnt[kind]; a++)
      for (int b = a; b > 0 && rows[kind][b] > rows[kind][b - 1]; b--) {
        int64_t tr = rows[kind][b];
        rows[kind][b] = rows[kind][b - 1], rows[kind][b - 1] = tr;
        int ti = idx[kind][b];
        idx[kind][b] = idx[kind][b - 1], idx[kind][b - 1] = ti;
      }
  s->n_levels = cnt[0];
  for (int l = 0; l < cnt[0]; l++) {
    scrfd_level *L = &s->level[l];
    /* stride 8 << l; the anchors per cell follow from the row count. */
    L->stride = 8 << l;
    int64_t cells = (int64_t)(size / L->stride) * (size / L->stride);
    if (size % L->stride || cells < 1 || rows[0][l] % cells || rows[0][l] / cells < 1 ||
        rows[0][l] / cells > 16 || rows[1][l] != rows[0][l] || (cnt[2] && rows[2][l] != rows[0][l]))
      return fr__fail(err, FR_E_MODEL,
                      "SCRFD: level %d has %lld rows, which is not anchors x (%d / %d)^2", l,
                      (long long)rows[0][l], size, L->stride);
    L->anchors = (int)(rows[0][l] / cells);
    L->rows = (int)rows[0][l];
    L->score = idx[0][l];
    L->box = idx[1][l];
    L->kps = cnt[2] ? idx[2][l] : -1;
  }
  return FR_OK;
}

fr_status fr__detector_create_scrfd(const char *path, int size, const fr__kernels *kernels,
                                    fr_detector **out, fr_error *err) {
  *out = NULL;
  if (size <= 0) size = SCRFD_DEFAULT_SIZE;
  if (size % 32 || size < 64 || size > 2048)
    return fr__fail(err, FR_E_INVALID, "SCRFD: input size %d must be a multiple of 32 from 64 to 2048", size);
  fr_detector *det = fr__calloc(1, sizeof *det);
  scrfd_state *s = fr__calloc(1, sizeof *s);
  if (!det || !s) {
    fr__free(det);
    fr__free(s);
    return fr__fail(err, FR_E_NOMEM, "SCRFD: out of memory");
  }
  det->impl = &fr__detector_scrfd;
  det->kind = FR_DETECTOR_SCRFD;
  det->kernels = kernels;
  det->state = s;
  s->size = size;
  fr__netfile_options opt;
  memset(&opt, 0, sizeof opt);
  opt.kernels = kernels;
  opt.ndims = 4;
  opt.dims[0] = 1, opt.dims[1] = 3, opt.dims[2] = size, opt.dims[3] = size;
  fr__netfile nf;
  fr_status st = fr__netfile_load(path, &opt, &nf, err);
  if (st == FR_OK) {
    det->g = nf.graph;
    nf.graph = NULL;
    if (nf.input.layout != FR__LAYOUT_NCHW || nf.input.dims[1] != 3 ||
        (nf.input.dims[2] > 0 && nf.input.dims[2] != size) ||
        (nf.input.dims[3] > 0 && nf.input.dims[3] != size))
      st = fr__fail(err, FR_E_MODEL, "SCRFD: the input is not [1, 3, %d, %d]", size, size);
    if (st == FR_OK) st = find_levels(&nf, size, s, err);
    fr__netfile_release(&nf);
  }
  if (st != FR_OK) {
    fr__error_prefix(err, "%s", path);
    fr__graph_destroy(det->g);
    fr__free(s);
    fr__free(det);
    return st;
  }
  *out = det;
  return FR_OK;
}
