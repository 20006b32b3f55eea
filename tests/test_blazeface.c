/*
 * test_blazeface.c - MediaPipe's BlazeFace detectors (short and full range):
 * the anchor grid, decoding, weighted suppression and letterboxing on
 * synthetic inputs whose answers follow from the definitions, then both
 * models on the test photos, checked against SSD-MobileNetV1's boxes and the
 * 68-point landmark net's eye centres, scalar against vector kernels, one
 * thread against two, every pixel format, and bad inputs.
 */
#include "detect/detect_internal.h"

#include <math.h>
#include <stdint.h>
#include <unistd.h>

#include "check.h"

#define MAX_FACES 32
#define IMG_DIR "bbt/test/images/"

/* Agreement demanded with the other detectors and the landmark net. */
#define MIN_IOU_SSD 0.5f /* BlazeFace's square boxes against SSD's taller ones */
/* Eye keypoint distance to the 68-point net's eye centre, in inter-ocular
 * distances: at most MAX_EYE_ERROR for any face, MEAN_EYE_ERROR on average
 * over an image's faces. Short range sees the faces of faces.jpg (about 100
 * px of 710, 0.13 of its input, under its smallest anchor scale 0.148) at
 * 5.5 image pixels per input pixel, and its eyes wander by up to 0.39 there
 * (3 of 6 faces beyond 0.15, both with bilinear and area resampling): it gets
 * SMALL_EYE_ERROR. */
#define MAX_EYE_ERROR 0.2
#define MEAN_EYE_ERROR 0.15
#define SMALL_EYE_ERROR 0.45
#define KERNEL_TOL_PX 0.05 /* boxes of different kernel sets or thread counts */

static const fr_detector_kind k_kinds[2] = {FR_DETECTOR_BLAZEFACE, FR_DETECTOR_BLAZEFACE_FULL};

static int near(double a, double b, double tol) { return fabs(a - b) <= tol; }

/* ---- anchors ------------------------------------------------------------- */

static void test_anchors(void) {
  static float xy[2 * 2304];
  CHECK(fr__blazeface_anchors(FR_DETECTOR_SSD, xy, 2304) == -1);
  CHECK(fr__blazeface_anchors(FR_DETECTOR_BLAZEFACE, NULL, 0) == 896);
  CHECK(fr__blazeface_anchors(FR_DETECTOR_BLAZEFACE_FULL, NULL, 0) == 2304);

  /* Short range: a 16x16 map (stride 8 of 128) with two anchors per cell,
   * then an 8x8 map (three stride-16 layers) with six per cell. */
  CHECK(fr__blazeface_anchors(FR_DETECTOR_BLAZEFACE, xy, 896) == 896);
  int bad = 0;
  for (int i = 0; i < 896; i++) {
    int cells = i < 512 ? 16 : 8, per = i < 512 ? 2 : 6, j = i < 512 ? i : i - 512;
    int cell = j / per;
    double ex = (cell % cells + 0.5) / cells, ey = (cell / cells + 0.5) / cells;
    if (!near(xy[2 * i], ex, 1e-6) || !near(xy[2 * i + 1], ey, 1e-6)) bad++;
  }
  CHECK_MSG(bad == 0, "%d short-range anchors off their cell centre", bad);
  CHECK(near(xy[0], 1.0 / 32, 1e-7) && near(xy[1], 1.0 / 32, 1e-7));
  CHECK(near(xy[2 * 895], 15.0 / 16, 1e-7) && near(xy[2 * 895 + 1], 15.0 / 16, 1e-7));

  /* Full range: one anchor per cell of a 48x48 map (stride 4 of 192). */
  CHECK(fr__blazeface_anchors(FR_DETECTOR_BLAZEFACE_FULL, xy, 2304) == 2304);
  bad = 0;
  for (int i = 0; i < 2304; i++)
    if (!near(xy[2 * i], (i % 48 + 0.5) / 48, 1e-6) || !near(xy[2 * i + 1], (i / 48 + 0.5) / 48, 1e-6))
      bad++;
  CHECK_MSG(bad == 0, "%d full-range anchors off their cell centre", bad);

  /* A short buffer is filled up to its end and the full count returned. */
  float few[6] = {-1, -1, -1, -1, -1, -1};
  CHECK(fr__blazeface_anchors(FR_DETECTOR_BLAZEFACE_FULL, few, 2) == 2304);
  CHECK(few[4] == -1.f && few[5] == -1.f && near(few[2], 1.5 / 48, 1e-7));
}

/* ---- decoding ------------------------------------------------------------ */

static void test_decode(void) {
  enum { N = 6 };
  float reg[N * FR__BLAZEFACE_COORDS] = {0};
  float anchors[2 * N];
  for (int i = 0; i < N; i++) anchors[2 * i] = 0.25f, anchors[2 * i + 1] = 0.75f;
  /* Anchor 0: logit 0 (score 0.5, kept at >= 0.5), centre offset (+12.8,
   * -6.4) px of a 128 input, 32 x 64 px, keypoint k at (k, -k) px. */
  float *r = reg;
  r[0] = 12.8f, r[1] = -6.4f, r[2] = 32.f, r[3] = 64.f;
  for (int k = 0; k < 6; k++) r[4 + 2 * k] = (float)k, r[5 + 2 * k] = (float)-k;
  /* Anchor 1: a huge logit, clipped to 100 (score 1); anchor 2: below the
   * threshold; anchor 3: NaN score; anchor 4: no width; anchor 5: NaN box. */
  for (int i = 1; i < N; i++) reg[i * 16 + 2] = reg[i * 16 + 3] = 16.f;
  reg[4 * 16 + 2] = 0.f;
  reg[5 * 16 + 1] = NAN;
  float logits[N] = {0.f, 1e30f, -0.1f, NAN, 5.f, 5.f};
  fr__bf_box out[N];
  int n = fr__blazeface_decode(reg, logits, anchors, N, 128.f, 0.5f, out);
  CHECK_MSG(n == 2, "%d candidates", n);
  CHECK(out[0].anchor == 0 && out[0].score == 0.5f);
  CHECK(near(out[0].xmin, 0.25 + 0.1 - 0.125, 1e-6) && near(out[0].xmax, 0.25 + 0.1 + 0.125, 1e-6));
  CHECK(near(out[0].ymin, 0.75 - 0.05 - 0.25, 1e-6) && near(out[0].ymax, 0.75 - 0.05 + 0.25, 1e-6));
  CHECK(near(out[0].kp[2 * 5], 0.25 + 5 / 128.0, 1e-6) && near(out[0].kp[2 * 5 + 1], 0.75 - 5 / 128.0, 1e-6));
  CHECK(n > 1 && out[1].anchor == 1 && out[1].score == 1.f);
  /* The threshold is inclusive and a stricter one drops the 0.5 score. */
  CHECK(fr__blazeface_decode(reg, logits, anchors, N, 128.f, 0.51f, out) == 1);
  CHECK(fr__blazeface_decode(reg, logits, anchors, N, 128.f, 0.4f, out) == 3);
}

/* ---- weighted suppression ------------------------------------------------ */

static fr__bf_box box(float score, int anchor, float x0, float y0, float x1, float y1) {
  fr__bf_box b;
  memset(&b, 0, sizeof b);
  b.score = score, b.anchor = anchor, b.xmin = x0, b.ymin = y0, b.xmax = x1, b.ymax = y1;
  for (int k = 0; k < 6; k++) b.kp[2 * k] = x0 + k * 0.01f, b.kp[2 * k + 1] = y0;
  return b;
}

static void test_weighted_nms(void) {
  fr__bf_box c[5];
  /* Out of order on purpose. Box 2 (the best) overlaps boxes 0 and 3 with
   * IoU 0.12 / 0.2 = 0.6 each; box 1 is far away from all. */
  c[0] = box(0.6f, 0, 0.1f, 0.1f, 0.5f, 0.5f);
  c[1] = box(0.8f, 1, 0.7f, 0.7f, 0.9f, 0.9f);
  c[2] = box(0.9f, 2, 0.2f, 0.1f, 0.6f, 0.5f);
  c[3] = box(0.55f, 3, 0.3f, 0.1f, 0.7f, 0.5f);
  int n = fr__blazeface_weighted_nms(c, 4, 0.3f, 0);
  /* Box 2 (0.9) absorbs boxes 0 and 3, and the mean is weighted by score. */
  CHECK_MSG(n == 2, "%d boxes", n);
  double t = 0.9 + 0.6 + 0.55;
  CHECK(c[0].score == 0.9f && c[0].anchor == 2);
  CHECK(near(c[0].xmin, (0.9 * 0.2 + 0.6 * 0.1 + 0.55 * 0.3) / t, 1e-6));
  CHECK(near(c[0].xmax, (0.9 * 0.6 + 0.6 * 0.5 + 0.55 * 0.7) / t, 1e-6));
  CHECK(near(c[0].ymin, 0.1, 1e-6) && near(c[0].ymax, 0.5, 1e-6));
  CHECK(near(c[0].kp[2], (0.9 * 0.21 + 0.6 * 0.11 + 0.55 * 0.31) / t, 1e-6));
  CHECK(c[1].score == 0.8f && near(c[1].xmin, 0.7, 1e-7) && near(c[1].xmax, 0.9, 1e-7));

  /* The overlap must exceed the threshold: at IoU equal to it a box stays.
   * [0, 0.5] and [0.25, 0.75] (same y): intersection 0.25, union 0.75, all
   * exact in float, so the IoU is exactly the float nearest 1/3. */
  float third = 0.25f / 0.75f;
  c[0] = box(0.9f, 0, 0.f, 0.f, 0.5f, 1.f);
  c[1] = box(0.8f, 1, 0.25f, 0.f, 0.75f, 1.f);
  CHECK(fr__blazeface_weighted_nms(c, 2, third, 0) == 2);
  c[0] = box(0.9f, 0, 0.f, 0.f, 0.5f, 1.f);
  c[1] = box(0.8f, 1, 0.25f, 0.f, 0.75f, 1.f);
  CHECK(fr__blazeface_weighted_nms(c, 2, nextafterf(third, 0.f), 0) == 1);

  /* max_keep stops after that many, best first; a lone box is unchanged. */
  c[0] = box(0.7f, 0, 0.f, 0.f, 0.1f, 0.1f);
  c[1] = box(0.9f, 1, 0.5f, 0.5f, 0.6f, 0.6f);
  c[2] = box(0.8f, 2, 0.8f, 0.8f, 0.9f, 0.9f);
  CHECK(fr__blazeface_weighted_nms(c, 3, 0.3f, 2) == 2);
  CHECK(c[0].anchor == 1 && c[1].anchor == 2 && c[0].xmin == 0.5f && c[0].xmax == 0.6f);
  CHECK(fr__blazeface_weighted_nms(c, 0, 0.3f, 0) == 0);
}

/* ---- letterbox ----------------------------------------------------------- */

static float *tensor_at(float *t, int size, int x, int y) { return t + ((size_t)y * size + x) * 3; }

static void test_letterbox(void) {
  enum { S = 128 };
  static float t[FR__BLAZEFACE_FULL_SIZE * FR__BLAZEFACE_FULL_SIZE * 3]; /* either model's input */
  /* A 64x32 RGB image: left half red (255, 0, 0), right half blue. It fills
   * the tensor's width (2 tensor pixels per image pixel) and its middle
   * rows 32..95; the rest is black padding, -1. */
  uint8_t px[64 * 32 * 3];
  for (int y = 0; y < 32; y++)
    for (int x = 0; x < 64; x++) {
      uint8_t *p = px + (y * 64 + x) * 3;
      p[0] = x < 32 ? 255 : 0, p[1] = 0, p[2] = x < 32 ? 0 : 255;
    }
  fr_image img;
  fr_error err = {0};
  CHECK_OK(fr_image_wrap(px, 64, 32, 64 * 3, FR_PIXEL_RGB, &img, &err), &err);
  fr__letterbox lb;
  fr__blazeface_letterbox(&img, S, t, &lb);
  CHECK(lb.side == 64 && lb.pad_x == 0 && lb.pad_y == 16);
  int bad_pad = 0;
  for (int y = 0; y < S; y++)
    for (int x = 0; x < S; x++)
      if (y < 31 || y > 96)
        for (int c = 0; c < 3; c++) bad_pad += tensor_at(t, S, x, y)[c] != -1.f;
  CHECK_MSG(bad_pad == 0, "%d padding values are not -1", bad_pad);
  /* Inside: tensor pixel (10, 64) samples image pixel (4.75, 15.75), pure
   * red; (120, 64) pure blue; the boundary at tensor x 63/64 blends. */
  float *p = tensor_at(t, S, 10, 64);
  CHECK(near(p[0], 1, 1e-6) && near(p[1], -1, 1e-6) && near(p[2], -1, 1e-6));
  p = tensor_at(t, S, 120, 64);
  CHECK(near(p[0], -1, 1e-6) && near(p[2], 1, 1e-6));
  p = tensor_at(t, S, 63, 64);
  CHECK(near(p[0], 0.5, 1e-6) && near(p[2], -0.5, 1e-6)); /* x 31.25: 3/4 red */
  /* Tensor row v samples image row v / 2 - 16.25: row 33 lies inside, row
   * 32 takes 3/4 of image row 0 and 1/4 of the black above it, row 31 1/4. */
  CHECK(near(tensor_at(t, S, 10, 33)[0], 1, 1e-6));
  CHECK(near(tensor_at(t, S, 10, 32)[0], 0.5, 1e-6));
  CHECK(near(tensor_at(t, S, 10, 31)[0], -0.5, 1e-6));

  /* A tall gray image is centred horizontally and gray becomes equal R, G, B. */
  uint8_t g[10 * 40];
  memset(g, 200, sizeof g);
  CHECK_OK(fr_image_wrap(g, 10, 40, 10, FR_PIXEL_GRAY, &img, &err), &err);
  fr__blazeface_letterbox(&img, S, t, &lb);
  CHECK(lb.side == 40 && lb.pad_x == 15 && lb.pad_y == 0);
  p = tensor_at(t, S, 64, 64);
  CHECK(near(p[0], 200 * 2 / 255.0 - 1, 1e-6) && p[0] == p[1] && p[1] == p[2]);
  CHECK(tensor_at(t, S, 10, 64)[0] == -1.f && tensor_at(t, S, 117, 64)[0] == -1.f);

  /* Degenerate shapes stay inside the image (ASan would see a stray read). */
  uint8_t one[3] = {255, 255, 255};
  CHECK_OK(fr_image_wrap(one, 1, 1, 3, FR_PIXEL_RGB, &img, &err), &err);
  fr__blazeface_letterbox(&img, S, t, &lb);
  /* Its centre blends with the black border by 1/256 at most. */
  CHECK(tensor_at(t, S, 64, 64)[0] > 0.98f);
  static uint8_t line[5000];
  memset(line, 128, sizeof line);
  CHECK_OK(fr_image_wrap(line, 5000, 1, 5000, FR_PIXEL_GRAY, &img, &err), &err);
  fr__blazeface_letterbox(&img, 192, t, &lb);
  CHECK(lb.side == 5000 && lb.pad_y == 2499.5);
}

/* ---- the models on photos ------------------------------------------------ */

typedef struct models {
  fr_detector *det[2];    /* default kernels */
  fr_detector *scalar[2]; /* portable reference kernels */
  fr_detector *avx2[2];   /* AVX2 kernels when the CPU has them */
  fr_detector *ssd;
  fr_landmarker *lm;
} models;

static int detect(fr_context *ctx, const fr_detector *det, const fr_image *img,
                  const fr_detect_options *o, fr_face *faces, int max) {
  fr_error err = {0};
  int n = -1;
  CHECK_OK(fr_detect(ctx, det, img, o, faces, max, &n, &err), &err);
  return n;
}

static int load(const char *name, fr_image *img) {
  fr_error err = {0};
  fr_status st = fr_image_load(check_data(name), NULL, img, &err);
  CHECK_MSG(st == FR_OK, "%s: %s", name, err.message);
  return st == FR_OK;
}

/* The 68-point net's eye centres (means of points 36-41 and 42-47) for a box. */
static void eye_centres(fr_context *ctx, const models *m, const fr_image *img, fr_rect box,
                        fr_point eyes[2]) {
  fr_face f;
  memset(&f, 0, sizeof f);
  f.box = box;
  fr_error err = {0};
  CHECK_OK(fr_landmarks(ctx, m->lm, img, &f, &err), &err);
  for (int e = 0; e < 2; e++) {
    eyes[e].x = eyes[e].y = 0;
    for (int k = 0; k < 6; k++) {
      eyes[e].x += f.landmarks[36 + 6 * e + k].x / 6;
      eyes[e].y += f.landmarks[36 + 6 * e + k].y / 6;
    }
  }
}

/* Worst eye error of a BlazeFace face against the 68-point net run on ref. */
static double eye_error(fr_context *ctx, const models *m, const fr_image *img, const fr_face *f,
                        fr_rect ref) {
  fr_point eyes[2];
  eye_centres(ctx, m, img, ref, eyes);
  double iod = hypot(eyes[1].x - eyes[0].x, eyes[1].y - eyes[0].y), worst = 0;
  for (int e = 0; e < 2; e++) {
    double d = hypot(f->landmarks[e].x - eyes[e].x, f->landmarks[e].y - eyes[e].y) / iod;
    if (d > worst) worst = d;
  }
  return worst;
}

static void test_group(const models *m, fr_context *ctx) {
  fr_image img;
  if (!load(IMG_DIR "faces.jpg", &img)) return;
  fr_face ssd[MAX_FACES], bf[MAX_FACES];
  int ns = detect(ctx, m->ssd, &img, NULL, ssd, MAX_FACES);
  CHECK_MSG(ns == 6, "SSD found %d faces in faces.jpg", ns);
  for (int k = 0; k < 2; k++) {
    int n = detect(ctx, m->det[k], &img, NULL, bf, MAX_FACES);
    const char *name = fr_detector_kind_name(k_kinds[k]);
    CHECK_MSG(n == 6, "%s found %d faces in faces.jpg", name, n);
    int used[MAX_FACES] = {0};
    double min_iou = 1, worst_eye = 0, sum_eye = 0;
    double max_eye = k_kinds[k] == FR_DETECTOR_BLAZEFACE ? SMALL_EYE_ERROR : MAX_EYE_ERROR;
    for (int i = 0; i < n; i++) {
      CHECK(bf[i].n_landmarks == 6 && bf[i].score >= (k ? 0.6f : 0.5f) && bf[i].score <= 1.f);
      CHECK(i == 0 || bf[i].score <= bf[i - 1].score);
      int best = -1;
      float best_iou = 0;
      for (int j = 0; j < ns; j++) {
        float iou = fr__iou(&bf[i].box, &ssd[j].box);
        if (!used[j] && iou > best_iou) best_iou = iou, best = j;
      }
      CHECK_MSG(best >= 0 && best_iou >= MIN_IOU_SSD, "%s face %d: best IoU with SSD %.3f", name,
                i, best_iou);
      if (best < 0) continue;
      used[best] = 1;
      if (best_iou < min_iou) min_iou = best_iou;
      double e = eye_error(ctx, m, &img, &bf[i], ssd[best].box);
      CHECK_MSG(e <= max_eye, "%s face %d: eye off by %.3f inter-ocular", name, i, e);
      if (e > worst_eye) worst_eye = e;
      sum_eye += e;
      /* Keypoint geometry of an upright face: the image-left eye is left of
       * the other, the nose below the eyes, the mouth below the nose, the
       * ears outside the eyes. */
      const fr_point *p = bf[i].landmarks;
      CHECK(p[0].x < p[1].x && p[2].y > p[0].y && p[2].y > p[1].y && p[3].y > p[2].y);
      CHECK(p[4].x < p[0].x && p[5].x > p[1].x);
    }
    double mean_eye = n ? sum_eye / n : 0;
    if (k_kinds[k] == FR_DETECTOR_BLAZEFACE_FULL)
      CHECK_MSG(mean_eye <= MEAN_EYE_ERROR, "%s: mean eye error %.3f", name, mean_eye);
    printf("%s on faces.jpg: %d faces, scores %.3f..%.3f, IoU with SSD >= %.3f, eyes within "
           "%.3f (mean %.3f) inter-ocular of the 68-point net\n",
           name, n, n ? bf[n - 1].score : 0, n ? bf[0].score : 0, min_iou, worst_eye, mean_eye);
  }
  fr_image_free(&img);
}

/* One face per portrait, where SSD (or, when SSD finds none, short range)
 * gives the reference box. */
static void test_portraits(const models *m, fr_context *ctx) {
  static const char *const names[] = {"face1.png", "face2.png", "face_rectangular.png",
                                      "angry.jpg", "surprised.jpg", "angry_cropped.jpg",
                                      "surprised_cropped.jpg"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char rel[256];
    snprintf(rel, sizeof rel, IMG_DIR "%s", names[i]);
    fr_image img;
    if (!load(rel, &img)) continue;
    fr_face ssd[4], bf[2][4];
    int ns = detect(ctx, m->ssd, &img, NULL, ssd, 4);
    int n[2];
    for (int k = 0; k < 2; k++) n[k] = detect(ctx, m->det[k], &img, NULL, bf[k], 4);
    CHECK_MSG(n[0] == 1, "blazeface: %d faces in %s", n[0], names[i]);
    /* Full range is trained for smaller faces: on the two 150x150 crops that
     * the face fills (face1/face2) it scores 0.39..0.46, under its 0.6. */
    int tight = strncmp(names[i], "face", 4) == 0 && names[i][4] != '_';
    if (tight) {
      fr_detect_options o = {.min_score = 0.3f};
      n[1] = detect(ctx, m->det[1], &img, &o, bf[1], 4);
    }
    CHECK_MSG(n[1] == 1, "blazeface-full: %d faces in %s%s", n[1], names[i],
              tight ? " at min score 0.3" : "");
    fr_rect ref = ns == 1 ? ssd[0].box : bf[0][0].box;
    for (int k = 0; k < 2; k++) {
      if (n[k] != 1 || n[0] != 1) continue;
      float iou = fr__iou(&bf[k][0].box, &ref);
      double e = eye_error(ctx, m, &img, &bf[k][0], ref);
      CHECK_MSG(iou >= MIN_IOU_SSD, "%s %s: IoU %.3f with %s", fr_detector_kind_name(k_kinds[k]),
                names[i], iou, ns == 1 ? "SSD" : "short range");
      CHECK_MSG(e <= MAX_EYE_ERROR, "%s %s: eye off by %.3f inter-ocular",
                fr_detector_kind_name(k_kinds[k]), names[i], e);
      printf("%s %s: score %.3f, IoU %.3f with %s, eyes within %.3f\n",
             fr_detector_kind_name(k_kinds[k]), names[i], bf[k][0].score, iou,
             ns == 1 ? "SSD" : "short range", e);
    }
    fr_image_free(&img);
  }
}

/* Largest box or keypoint difference between two face lists of equal length. */
static double max_diff(const fr_face *a, const fr_face *b, int n) {
  double d = 0;
  for (int i = 0; i < n; i++) {
    double v[4] = {a[i].box.x - b[i].box.x, a[i].box.y - b[i].box.y,
                   a[i].box.width - b[i].box.width, a[i].box.height - b[i].box.height};
    for (int k = 0; k < 4; k++) d = fmax(d, fabs(v[k]));
    for (int k = 0; k < 6; k++)
      d = fmax(d, fmax(fabs(a[i].landmarks[k].x - b[i].landmarks[k].x),
                       fabs(a[i].landmarks[k].y - b[i].landmarks[k].y)));
  }
  return d;
}

/* Scalar, AVX2 and the best kernels; one and two threads; every pixel format. */
static void test_consistency(const models *m, fr_context *ctx) {
  fr_image img, conv;
  if (!load(IMG_DIR "faces.jpg", &img)) return;
  fr_error err = {0};
  fr_pool *pool = NULL;
  fr_context *ctx2 = NULL;
  CHECK_OK(fr_pool_create(2, &pool, &err), &err);
  CHECK_OK(fr_context_create(pool, &ctx2, &err), &err);
  for (int k = 0; k < 2; k++) {
    const char *name = fr_detector_kind_name(k_kinds[k]);
    fr_face ref[MAX_FACES], other[MAX_FACES];
    int n = detect(ctx, m->det[k], &img, NULL, ref, MAX_FACES);
    int ns = detect(ctx, m->scalar[k], &img, NULL, other, MAX_FACES);
    CHECK_MSG(ns == n, "%s: scalar kernels %d faces, %s %d", name, ns, fr_kernels_name(), n);
    double d = ns == n ? max_diff(ref, other, n) : 1e9;
    CHECK_MSG(d <= KERNEL_TOL_PX, "%s: scalar vs %s differ by %.3g px", name, fr_kernels_name(), d);
    printf("%s: scalar vs %s kernels: boxes and keypoints within %.2g px", name, fr_kernels_name(), d);
    if (m->avx2[k]) {
      int na = detect(ctx, m->avx2[k], &img, NULL, other, MAX_FACES);
      double da = na == n ? max_diff(ref, other, n) : 1e9;
      CHECK_MSG(na == n && da <= KERNEL_TOL_PX, "%s: avx2 %d faces, differ by %.3g px", name, na, da);
      printf(", avx2 vs %s within %.2g px", fr_kernels_name(), da);
    }
    int nt = detect(ctx2, m->det[k], &img, NULL, other, MAX_FACES);
    double dt = nt == n ? max_diff(ref, other, n) : 1e9;
    CHECK_MSG(nt == n && dt <= KERNEL_TOL_PX, "%s: 2 threads %d faces, differ by %.3g px", name, nt, dt);
    printf(", 2 threads within %.2g px\n", dt);

    /* BGR, RGBA and BGRA hold the same colours: the same faces, exactly. */
    static const fr_pixel_format fmts[3] = {FR_PIXEL_BGR, FR_PIXEL_RGBA, FR_PIXEL_BGRA};
    for (int f = 0; f < 3; f++) {
      CHECK_OK(fr_image_convert(&img, fmts[f], &conv, &err), &err);
      int nf = detect(ctx, m->det[k], &conv, NULL, other, MAX_FACES);
      CHECK_MSG(nf == n && max_diff(ref, other, n) == 0, "%s: format %d differs", name, fmts[f]);
      fr_image_free(&conv);
    }
    /* Gray loses colour, and short range then misses one face (its weakest,
     * 0.80 in colour); what it finds are faces found in colour. */
    CHECK_OK(fr_image_convert(&img, FR_PIXEL_GRAY, &conv, &err), &err);
    int ng = detect(ctx, m->det[k], &conv, NULL, other, MAX_FACES);
    CHECK_MSG(ng >= n - 1 && ng <= n, "%s: %d faces in gray, %d in colour", name, ng, n);
    int unmatched = 0;
    for (int i = 0; i < ng; i++) {
      float best = 0;
      for (int j = 0; j < n; j++) best = fmaxf(best, fr__iou(&other[i].box, &ref[j].box));
      unmatched += best < 0.5f;
    }
    CHECK_MSG(unmatched == 0, "%s: %d gray faces not found in colour", name, unmatched);
    printf("%s: %d of %d faces in gray\n", name, ng, n);
    fr_image_free(&conv);

    /* max_faces and max_out keep the best faces in order; a high threshold
     * keeps those scoring above it. */
    fr_detect_options o = {.max_faces = 2};
    CHECK(detect(ctx, m->det[k], &img, &o, other, MAX_FACES) == 2 && max_diff(ref, other, 2) == 0);
    CHECK(detect(ctx, m->det[k], &img, NULL, other, 3) == 3 && max_diff(ref, other, 3) == 0);
    o = (fr_detect_options){.min_score = ref[2].score};
    int nh = detect(ctx, m->det[k], &img, &o, other, MAX_FACES);
    CHECK_MSG(nh >= 3 && nh < n, "%s: %d faces at min score %.3f", name, nh, ref[2].score);
    CHECK(detect(ctx, m->det[k], &img, NULL, other, 0) == 0);
  }
  fr_context_destroy(ctx2);
  fr_pool_destroy(pool);
  fr_image_free(&img);
}

/* Blank frames, odd shapes and bad model files. */
static void test_edges(const models *m, fr_context *ctx) {
  fr_error err = {0};
  static uint8_t px[640 * 480 * 3];
  fr_image img;
  fr_face faces[MAX_FACES];
  for (int k = 0; k < 2; k++) {
    const char *name = fr_detector_kind_name(k_kinds[k]);
    static const uint8_t fills[3] = {0, 128, 255};
    for (int f = 0; f < 3; f++) {
      memset(px, fills[f], sizeof px);
      CHECK_OK(fr_image_wrap(px, 640, 480, 640 * 3, FR_PIXEL_RGB, &img, &err), &err);
      int n = detect(ctx, m->det[k], &img, NULL, faces, MAX_FACES);
      CHECK_MSG(n == 0, "%s: %d faces in a blank frame of %d", name, n, fills[f]);
    }
    /* 1x1, a 4000x1 line and a 1x3000 column: no faces, no stray reads. */
    static const int shapes[3][2] = {{1, 1}, {4000, 1}, {1, 3000}};
    for (int s = 0; s < 3; s++) {
      CHECK_OK(fr_image_wrap(px, shapes[s][0], shapes[s][1], shapes[s][0] * 3, FR_PIXEL_RGB, &img,
                             &err),
               &err);
      int n = detect(ctx, m->det[k], &img, NULL, faces, MAX_FACES);
      CHECK_MSG(n == 0, "%s: %d faces in a %dx%d image", name, n, shapes[s][0], shapes[s][1]);
    }
    /* Bad images are refused by fr_detect. */
    img.width = 0;
    int n = 5;
    CHECK(fr_detect(ctx, m->det[k], &img, NULL, faces, MAX_FACES, &n, &err) == FR_E_INVALID &&
          n == 0);
  }

  /* Model folders holding garbage, a truncated model or the wrong model. */
  char dir[] = "/tmp/test_blazeface_XXXXXX";
  if (!mkdtemp(dir)) {
    CHECK_MSG(0, "mkdtemp failed");
    return;
  }
  char path[512], src[512];
  snprintf(path, sizeof path, "%s/%s", dir, FR__BLAZEFACE_MODEL);
  fr_detector *det = NULL;
  FILE *f = fopen(path, "wb");
  if (f) {
    fputs("this is not a flatbuffer", f);
    fclose(f);
  }
  fr_status st = fr_detector_create(FR_DETECTOR_BLAZEFACE, dir, &det, &err);
  CHECK_MSG(st != FR_OK && det == NULL, "garbage model: status %d", st);
  /* The first 40 kB of the real model. */
  snprintf(src, sizeof src, "%s/%s", check_models_dir(), FR__BLAZEFACE_MODEL);
  FILE *in = fopen(src, "rb");
  static unsigned char buf[40000];
  size_t got = in ? fread(buf, 1, sizeof buf, in) : 0;
  if (in) fclose(in);
  f = fopen(path, "wb");
  if (f) {
    fwrite(buf, 1, got, f);
    fclose(f);
  }
  st = fr_detector_create(FR_DETECTOR_BLAZEFACE, dir, &det, &err);
  CHECK_MSG(st != FR_OK && det == NULL, "truncated model: status %d", st);
  /* The full-range model under the short-range name: it cannot be planned at
   * the short range's 128x128 input (its reshapes fix 192x192). */
  snprintf(src, sizeof src, "%s/%s", check_models_dir(), FR__BLAZEFACE_FULL_MODEL);
  in = fopen(src, "rb");
  f = fopen(path, "wb");
  if (in && f) {
    size_t r;
    while ((r = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, r, f);
  }
  if (in) fclose(in);
  if (f) fclose(f);
  st = fr_detector_create(FR_DETECTOR_BLAZEFACE, dir, &det, &err);
  CHECK_MSG(st != FR_OK && det == NULL && strstr(err.message, FR__BLAZEFACE_MODEL),
            "full-range model as short range: status %d: %s", st, err.message);
  unlink(path);
  /* A folder without the file says which file is missing. */
  st = fr_detector_create(FR_DETECTOR_BLAZEFACE_FULL, dir, &det, &err);
  CHECK(st == FR_E_NOTFOUND && strstr(err.message, FR__BLAZEFACE_FULL_MODEL) != NULL);
  rmdir(dir);
  (void)m;
}

int main(void) {
  test_anchors();
  test_decode();
  test_weighted_nms();
  test_letterbox();

  fr_error err = {0};
  const char *dir = check_models_dir();
  models m = {0};
  int ok = 1;
  for (int k = 0; k < 2; k++) {
    CHECK_OK(fr_detector_create(k_kinds[k], dir, &m.det[k], &err), &err);
    CHECK_OK(fr__detector_create_with_kernels(k_kinds[k], dir, &fr__kernels_scalar, &m.scalar[k],
                                              &err),
             &err);
#if defined(__x86_64__) || defined(__i386__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
      CHECK_OK(fr__detector_create_with_kernels(k_kinds[k], dir, &fr__kernels_avx2, &m.avx2[k],
                                                &err),
               &err);
    else
      check_skip_expected("no AVX2/FMA on this CPU: the AVX2 kernels were not compared");
#else
    check_skip_expected("not an x86 CPU: the AVX2 kernels were not compared");
#endif
    ok = ok && m.det[k] && m.scalar[k];
  }
  CHECK_OK(fr_detector_create(FR_DETECTOR_SSD, dir, &m.ssd, &err), &err);
  CHECK_OK(fr_landmarker_create(FR_LANDMARKER_68, dir, &m.lm, &err), &err);
  fr_context *ctx = NULL;
  CHECK_OK(fr_context_create(NULL, &ctx, &err), &err);
  if (ok && m.ssd && m.lm && ctx) {
    /* The registry knows both kinds by name, with their keypoint count. */
    CHECK(fr_detector_kind_from_name("blazeface") == FR_DETECTOR_BLAZEFACE);
    CHECK(fr_detector_kind_from_name("blazeface-full") == FR_DETECTOR_BLAZEFACE_FULL);
    CHECK(fr__detector_find(FR_DETECTOR_BLAZEFACE_FULL)->n_landmarks == 6);
    test_group(&m, ctx);
    test_portraits(&m, ctx);
    test_consistency(&m, ctx);
    test_edges(&m, ctx);
  }
  fr_context_destroy(ctx);
  for (int k = 0; k < 2; k++) {
    fr_detector_destroy(m.det[k]);
    fr_detector_destroy(m.scalar[k]);
    fr_detector_destroy(m.avx2[k]);
  }
  fr_detector_destroy(m.ssd);
  fr_landmarker_destroy(m.lm);
  return check_summary();
}
