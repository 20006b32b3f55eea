/*
 * test_mtcnn.c - the five-point path: ArcFace and FaceNet alignment,
 * MTCNN's faces and points on the bbt photos against the 68-point net's,
 * and MobileFaceNet's descriptors (same person closer than different
 * people, batches, scalar against vector kernels).
 */
#include "align/align_internal.h"
#include "detect/detect_internal.h"
#include "embed/embed_internal.h"
#include "image/image_internal.h"

#include <cjson/cJSON.h>
#include <math.h>

#include "check.h"
#include "check_json.h"

#define MAX_FACES 32

/* ---- alignment ------------------------------------------------------------- */

/* A similarity map chip -> image (continuous coordinates). */
typedef struct sim {
  double s, angle, tx, ty;
} sim;

static void sim_apply(const sim *t, double u, double v, double *x, double *y) {
  double c = t->s * cos(t->angle), s = t->s * sin(t->angle);
  *x = c * u - s * v + t->tx;
  *y = s * u + c * v + t->ty;
}

/* A face whose five points are the template of a size-pixel chip mapped by t. */
static fr_face face_from_template(const sim *t, int size) {
  fr_face f;
  memset(&f, 0, sizeof f);
  f.n_landmarks = 5;
  for (int i = 0; i < 5; i++) {
    double u = (fr__arcface_template[i][0] + 0.5) * size / 112.0;
    double v = (fr__arcface_template[i][1] + 0.5) * size / 112.0;
    double x, y;
    sim_apply(t, u, v, &x, &y);
    f.landmarks[i] = (fr_point){(float)x, (float)y};
  }
  return f;
}

/* The fitted transform is the one the points were made with. */
static void test_arcface_transform(void) {
  static const sim ts[3] = {{1.7, 0.35, 50, 80}, {0.6, -0.2, 10, 5}, {2.5, 0.0, -30, 200}};
  static const int sizes[2] = {112, 224};
  fr_error err = {0};
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < 2; k++) {
      fr_face f = face_from_template(&ts[i], sizes[k]);
      double m[6];
      CHECK_OK(fr__align_arcface_transform(&f, sizes[k], m, &err), &err);
      /* Chip pixel (u, v) samples image pixel index t(u + .5, v + .5) - .5. */
      double worst = 0;
      for (int u = 0; u < sizes[k]; u += 37)
        for (int v = 0; v < sizes[k]; v += 29) {
          double x, y;
          sim_apply(&ts[i], u + 0.5, v + 0.5, &x, &y);
          double sx = m[0] * u + m[1] * v + m[2], sy = m[3] * u + m[4] * v + m[5];
          worst = fmax(worst, fmax(fabs(sx - (x - 0.5)), fabs(sy - (y - 0.5))));
        }
      /* The points were stored as floats: 1e-4 px is their rounding. */
      CHECK_MSG(worst < 1e-4, "transform %d size %d: off by %g px", i, sizes[k], worst);
    }
}

/*
 * An image with five small bright blobs at a face's five points, aligned:
 * each blob's centroid in the chip must land on its template point.
 */
static void test_arcface_chip(void) {
  const sim t = {1.9, 0.3, 120, 60};
  fr_face f = face_from_template(&t, 112);
  fr_image img;
  fr_error err = {0};
  CHECK_OK(fr_image_alloc(400, 400, FR_PIXEL_RGB, &img, &err), &err);
  if (!img.data) return;
  for (int y = 0; y < 400; y++)
    for (int x = 0; x < 400; x++) {
      double v = 0;
      for (int i = 0; i < 5; i++) {
        /* Pixel centres are at index + 0.5 in continuous coordinates. */
        double dx = x + 0.5 - f.landmarks[i].x, dy = y + 0.5 - f.landmarks[i].y;
        v += 250 * exp(-(dx * dx + dy * dy) / (2 * 2.5 * 2.5));
      }
      uint8_t *p = img.data + (size_t)y * img.stride + 3 * (size_t)x;
      p[0] = p[1] = p[2] = (uint8_t)(v > 255 ? 255 : v);
    }
  float *chip = malloc(112 * 112 * 3 * sizeof *chip);
  CHECK_OK(fr__align_tensor(&img, &f, FR_ALIGN_ARCFACE, 112, chip, &err), &err);
  double worst = 0;
  for (int i = 0; i < 5 && chip; i++) {
    double tx = fr__arcface_template[i][0], ty = fr__arcface_template[i][1], sw = 0, sx = 0, sy = 0;
    for (int v = (int)ty - 5; v <= (int)ty + 5; v++)
      for (int u = (int)tx - 5; u <= (int)tx + 5; u++) {
        double w = chip[((size_t)v * 112 + u) * 3];
        sw += w, sx += w * u, sy += w * v;
      }
    double ex = sx / sw - tx, ey = sy / sw - ty;
    worst = fmax(worst, sqrt(ex * ex + ey * ey));
  }
  /* The blobs are symmetric, so only sampling error moves the centroids. */
  CHECK_MSG(worst < 0.15, "template points land %.3f px off", worst);
  printf("ArcFace chip: blob centroids within %.3f px of the template\n", worst);
  /* The 8-bit public path agrees with the float one. */
  fr_image c8;
  CHECK_OK(fr_align(&img, &f, FR_ALIGN_ARCFACE, 112, &c8, &err), &err);
  if (c8.data && chip) {
    double d = 0;
    for (int v = 0; v < 112; v++)
      for (int u = 0; u < 112 * 3; u++)
        d = fmax(d, fabs(c8.data[(size_t)v * c8.stride + u] - chip[(size_t)v * 336 + u]));
    CHECK_MSG(d <= 0.5001, "fr_align vs the float chip: %g levels", d);
  }
  fr_image_free(&c8);
  free(chip);
  fr_image_free(&img);
}

/* Five points from 68 and the argument checks. */
static void test_points5(void) {
  fr_face f;
  memset(&f, 0, sizeof f);
  f.n_landmarks = 68;
  for (int i = 0; i < 68; i++) f.landmarks[i] = (fr_point){(float)(i * 3 % 50), (float)(i % 7)};
  double p[5][2];
  fr_error err = {0};
  CHECK_OK(fr__face_points5(&f, p, &err), &err);
  double lx = 0, ly = 0;
  for (int i = 36; i < 42; i++) lx += f.landmarks[i].x, ly += f.landmarks[i].y;
  CHECK(fabs(p[0][0] - lx / 6) < 1e-9 && fabs(p[0][1] - ly / 6) < 1e-9);
  CHECK(p[2][0] == f.landmarks[30].x && p[3][0] == f.landmarks[48].x &&
        p[4][1] == f.landmarks[54].y);
  f.n_landmarks = 0;
  CHECK(fr__face_points5(&f, p, &err) == FR_E_INVALID);
  f.n_landmarks = 5;
  f.landmarks[3].x = NAN;
  CHECK(fr__face_points5(&f, p, &err) == FR_E_INVALID);
  /* Five points in one place fit no transform. */
  for (int i = 0; i < 5; i++) f.landmarks[i] = (fr_point){10, 10};
  double m[6];
  CHECK(fr__align_arcface_transform(&f, 112, m, &err) == FR_E_INVALID);
  fr_image img;
  CHECK_OK(fr_image_alloc(20, 20, FR_PIXEL_RGB, &img, &err), &err);
  fr_image chip;
  CHECK(fr_align(&img, &f, FR_ALIGN_ARCFACE, 112, &chip, &err) == FR_E_INVALID);
  f.n_landmarks = 0;
  CHECK(fr_align(&img, &f, FR_ALIGN_ARCFACE, 112, &chip, &err) == FR_E_INVALID);
  fr_image_free(&img);
}

/* The mean of floor(t) over [a, a + f): a ramp image's area average. */
static double mean_floor(double a, double f) {
  double b = a + f, fa = floor(a), fb = floor(b);
  double ia = fa * (a - fa) + fa * (fa - 1) / 2, ib = fb * (b - fb) + fb * (fb - 1) / 2;
  return (ib - ia) / f;
}

/* FaceNet's crop: the margin, the clipping and a linear image resampled. */
static void test_facenet(void) {
  fr_face f;
  memset(&f, 0, sizeof f);
  f.box = (fr_rect){40, 50, 80, 100};
  fr_rect r;
  fr_error err = {0};
  /* 32 of 160 pixels: the box fills 128, so it grows by a quarter. */
  CHECK_OK(fr__align_facenet_rect(&f, 400, 400, 160, &r, &err), &err);
  CHECK_MSG(fabsf(r.x - 30) < 1e-4f && fabsf(r.y - 37.5f) < 1e-4f && fabsf(r.width - 100) < 1e-4f &&
                fabsf(r.height - 125) < 1e-4f,
            "rect %g %g %g %g", r.x, r.y, r.width, r.height);
  CHECK_OK(fr__align_facenet_rect(&f, 110, 400, 160, &r, &err), &err);
  CHECK(fabsf(r.x + r.width - 110) < 1e-4f);
  f.box.width = 0;
  CHECK(fr__align_facenet_rect(&f, 400, 400, 160, &r, &err) == FR_E_INVALID);
  f.box = (fr_rect){500, 500, 20, 20};
  CHECK(fr__align_facenet_rect(&f, 400, 400, 160, &r, &err) == FR_E_INVALID);

  /* R = x, G = y: a chip sample is the mean of the pixel values under its
   * footprint (each pixel j covering [j, j + 1)). */
  fr_image img;
  CHECK_OK(fr_image_alloc(250, 250, FR_PIXEL_RGB, &img, &err), &err);
  if (!img.data) return;
  for (int y = 0; y < 250; y++)
    for (int x = 0; x < 250; x++) {
      uint8_t *p = img.data + (size_t)y * img.stride + 3 * (size_t)x;
      p[0] = (uint8_t)x, p[1] = (uint8_t)y, p[2] = 7;
    }
  f.box = (fr_rect){60, 70, 96, 80};
  float *chip = malloc(80 * 80 * 3 * sizeof *chip);
  CHECK_OK(fr__align_tensor(&img, &f, FR_ALIGN_FACENET, 80, chip, &err), &err);
  CHECK_OK(fr__align_facenet_rect(&f, 250, 250, 80, &r, &err), &err);
  double worst = 0;
  for (int v = 0; v < 80 && chip; v++)
    for (int u = 0; u < 80; u++) {
      double fx = r.width / 80.0, fy = r.height / 80.0;
      double ex = mean_floor(r.x + u * fx, fx), ey = mean_floor(r.y + v * fy, fy);
      const float *c = chip + ((size_t)v * 80 + u) * 3;
      worst = fmax(worst, fmax(fabs(c[0] - ex), fmax(fabs(c[1] - ey), fabs(c[2] - 7))));
    }
  CHECK_MSG(worst < 1e-3, "FaceNet chip of a linear image off by %g", worst);
  free(chip);

  /* fr__resample_rect: the separable path equals the direct one, shrinking
   * (area average, also past the border) and growing (bilinear). */
  static const double rects[3][4] = {{-20, 10, 240, 200}, {33.3, 41.7, 9.5, 13}, {100, 100, 200, 200}};
  float a[24 * 20 * 3], b[24 * 20 * 3];
  float *tmp = malloc(fr__resample_tmp_floats(&img, 24) * sizeof *tmp);
  for (int k = 0; k < 3 && tmp; k++) {
    fr__resample_rect(&img, rects[k][0], rects[k][1], rects[k][2], rects[k][3], 24, 20, 0.5f, 1.f,
                      a, 3, 24 * 3, NULL);
    fr__resample_rect(&img, rects[k][0], rects[k][1], rects[k][2], rects[k][3], 24, 20, 0.5f, 1.f,
                      b, 3, 24 * 3, tmp);
    double d = 0;
    for (int i = 0; i < 24 * 20 * 3; i++) d = fmax(d, fabs(a[i] - b[i]));
    CHECK_MSG(d < 1e-3, "rect %d: separable vs direct %g", k, d);
  }
  /* Area average of x over a footprint inside the image is its centre. */
  fr__resample_rect(&img, 10, 20, 96, 80, 24, 20, 1.f, 0.f, a, 3, 24 * 3, tmp);
  CHECK(fabs(a[(5 * 24 + 7) * 3] - (10 + 7.5 * 4 - 0.5)) < 1e-3);
  CHECK(fabs(a[(5 * 24 + 7) * 3 + 1] - (20 + 5.5 * 4 - 0.5)) < 1e-3);
  free(tmp);
  fr_image_free(&img);
}

/* ---- MTCNN ----------------------------------------------------------------- */

/* The five points of face-api's 68-point output for one reference face. */
static int ref_points5(const cJSON *face, double p[5][2], fr_rect *box) {
  const cJSON *lm = cJSON_GetObjectItem(face, "landmarks68"), *b = cJSON_GetObjectItem(face, "box");
  if (!cJSON_IsArray(lm) || cJSON_GetArraySize(lm) != 68 || !b) return 0;
  fr_face f;
  memset(&f, 0, sizeof f);
  f.n_landmarks = 68;
  for (int i = 0; i < 68; i++) {
    const cJSON *pt = cJSON_GetArrayItem(lm, i);
    f.landmarks[i] = (fr_point){(float)cJSON_GetArrayItem(pt, 0)->valuedouble,
                                (float)cJSON_GetArrayItem(pt, 1)->valuedouble};
  }
  *box = (fr_rect){(float)cJSON_GetObjectItem(b, "x")->valuedouble,
                   (float)cJSON_GetObjectItem(b, "y")->valuedouble,
                   (float)cJSON_GetObjectItem(b, "w")->valuedouble,
                   (float)cJSON_GetObjectItem(b, "h")->valuedouble};
  return fr__face_points5(&f, p, NULL) == FR_OK;
}

typedef struct point_stats {
  int points, within; /* points compared, within 10% of the eye distance */
  double worst_eye, worst;
  double sum;        /* of all deviations, for their mean */
  double worst_k[5]; /* per point: left eye, right eye, nose, mouth left, right */
} point_stats;

/*
 * MTCNN on a bbt photo finds exactly the faces face-api's SSD reference
 * lists (each reference face has one MTCNN face centred inside its box), and
 * its points are compared with the reference 68-point net's.
 */
static void check_photo(fr_context *ctx, const fr_detector *det, const char *image,
                        const char *ref, int compare_points, point_stats *ps) {
  fr_error err = {0};
  fr_image img;
  CHECK_OK(fr_image_load(check_data(image), NULL, &img, &err), &err);
  cJSON *j = read_json(check_data(ref));
  const cJSON *ssd = j ? cJSON_GetObjectItem(j, "ssd") : NULL;
  CHECK_MSG(cJSON_IsArray(ssd), "cannot read %s", ref);
  if (!img.data || !cJSON_IsArray(ssd)) {
    cJSON_Delete(j);
    fr_image_free(&img);
    return;
  }
  fr_face faces[MAX_FACES];
  int n = 0;
  CHECK_OK(fr_detect(ctx, det, &img, NULL, faces, MAX_FACES, &n, &err), &err);
  int nref = cJSON_GetArraySize(ssd);
  CHECK_MSG(n == nref, "%s: MTCNN finds %d faces, the reference has %d", image, n, nref);
  for (int i = 0; i < n; i++)
    CHECK_MSG(faces[i].n_landmarks == 5 && faces[i].score >= 0.7f && faces[i].score <= 1.f,
              "%s: face %d has %d points, score %g", image, i, faces[i].n_landmarks,
              faces[i].score);
  for (int r = 0; r < nref; r++) {
    double p[5][2];
    fr_rect box = {0, 0, 0, 0};
    CHECK(ref_points5(cJSON_GetArrayItem(ssd, r), p, &box));
    int hit = -1;
    for (int i = 0; i < n; i++) {
      double cx = faces[i].box.x + faces[i].box.width / 2, cy = faces[i].box.y + faces[i].box.height / 2;
      if (cx > box.x && cx < box.x + box.width && cy > box.y && cy < box.y + box.height)
        hit = hit < 0 ? i : -2;
    }
    CHECK_MSG(hit >= 0, "%s: reference face %d (%.0f,%.0f) has %s MTCNN face", image, r, box.x,
              box.y, hit == -1 ? "no" : "more than one");
    if (hit < 0 || !compare_points) continue;
    double iod = hypot(p[1][0] - p[0][0], p[1][1] - p[0][1]);
    /* One line per face, so that a change in any point shows up in the log. */
    printf("  %s face %d (eye distance %.1f px):", strrchr(image, '/') + 1, r, iod);
    for (int k = 0; k < 5; k++) {
      double e = hypot(faces[hit].landmarks[k].x - p[k][0], faces[hit].landmarks[k].y - p[k][1]) / iod;
      printf(" %.3f", e);
      ps->points++;
      ps->within += e <= 0.10;
      ps->sum += e;
      ps->worst = fmax(ps->worst, e);
      ps->worst_k[k] = fmax(ps->worst_k[k], e);
      if (k < 2) ps->worst_eye = fmax(ps->worst_eye, e);
    }
    printf("\n");
  }
  cJSON_Delete(j);
  fr_image_free(&img);
}

static void test_mtcnn_photos(fr_context *ctx, const fr_detector *det) {
  static const char *const photos[5] = {"bbt1.jpg", "bbt2.jpg", "bbt3.jpg", "bbt5.jpg", "faces.jpg"};
  point_stats ps;
  memset(&ps, 0, sizeof ps);
  printf("MTCNN's points vs the 68-point net's, in eye distances (left eye, right eye, nose, "
         "mouth left, mouth right):\n");
  for (int i = 0; i < 5; i++) {
    char image[128], ref[128];
    snprintf(image, sizeof image, "bbt/%s/images/%s", i < 4 ? "examples" : "test", photos[i]);
    snprintf(ref, sizeof ref, "reference/faceapi/peer-outputs/%s.json", photos[i]);
    /* bbt2's faces are small, blurred, turned and cut by the border: the
     * reference's own SSD scores are 0.68-0.82 and its 68 points are
     * unreliable there, so only the faces are checked. */
    check_photo(ctx, det, image, ref, i != 1, &ps);
  }
  printf("MTCNN vs the 68-point net: %d of %d points within 10%% of the eye distance, mean %.3f, "
         "worst eye %.3f, worst point %.3f (per point %.3f %.3f %.3f %.3f %.3f)\n",
         ps.within, ps.points, ps.points ? ps.sum / ps.points : 0, ps.worst_eye, ps.worst,
         ps.worst_k[0], ps.worst_k[1], ps.worst_k[2], ps.worst_k[3], ps.worst_k[4]);
  /* Eyes (what alignment leans on most) agree everywhere. The misses are
   * the model's, not a difference from the reference pipelines (checked
   * against the package's MTCNN.kt and FaceNet's detect_face: inputs,
   * transposition, point order, points read in the crop before its
   * regression, thresholds and suppression all match). bbt1's bearded face
   * ("bbt1.jpg face 2" above, the third from the left) has the large ones:
   * of the nine O-Net crops around it, eight put the mouth corners on the
   * mouth, but the winner (score 0.9999) is a crop that ends above the
   * mouth (O-Net's own regression moves its bottom down by a third of its
   * height), and in it O-Net puts the mouth on the moustache, wherever the
   * crop is moved by up to half a pixel. Which crop wins changes with
   * sub-pixel details of the earlier stages (with the references' integer
   * boxes, or with bilinear crops, another wins and the miss goes), while
   * over 536 LFW faces those conventions agree with ours to within noise. */
  CHECK_MSG(ps.worst_eye <= 0.10, "an eye is %.3f eye distances away", ps.worst_eye);
  CHECK_MSG(ps.within * 10 >= ps.points * 9, "only %d of %d points within 10%%", ps.within,
            ps.points);
  CHECK_MSG(ps.worst <= 0.30, "a point is %.3f eye distances away", ps.worst);
}

/* Options, degenerate images, pixel formats, and scalar vs vector kernels. */
static void test_mtcnn_edges(fr_context *ctx, const fr_detector *det, const fr_detector *scalar) {
  fr_error err = {0};
  fr_face faces[MAX_FACES];
  int n = -1;
  fr_image img;
  CHECK_OK(fr_image_load(check_data("bbt/examples/images/bbt3.jpg"), NULL, &img, &err), &err);
  if (!img.data) return;
  fr_detect_options o = {0};
  o.input_size = 11; /* below the 12-pixel window */
  CHECK(fr_detect(ctx, det, &img, &o, faces, MAX_FACES, &n, &err) == FR_E_INVALID);
  o.input_size = 1000; /* larger than the image: no level, no face */
  CHECK_OK(fr_detect(ctx, det, &img, &o, faces, MAX_FACES, &n, &err), &err);
  CHECK(n == 0);
  o.input_size = 40;
  fr_face a[MAX_FACES], b[MAX_FACES];
  int na = 0, nb = 0;
  CHECK_OK(fr_detect(ctx, det, &img, &o, a, MAX_FACES, &na, &err), &err);
  CHECK_OK(fr_detect(ctx, scalar, &img, &o, b, MAX_FACES, &nb, &err), &err);
  CHECK_MSG(na == 5 && nb == na, "bbt3 at min face 40: %d faces, scalar kernels %d", na, nb);
  double worst = 0;
  for (int i = 0; i < na && i < nb; i++) {
    worst = fmax(worst, fabs(a[i].box.x - b[i].box.x) + fabs(a[i].box.width - b[i].box.width));
    for (int k = 0; k < 5; k++)
      worst = fmax(worst, fabs(a[i].landmarks[k].x - b[i].landmarks[k].x) +
                              fabs(a[i].landmarks[k].y - b[i].landmarks[k].y));
  }
  CHECK_MSG(worst < 0.05, "scalar vs %s kernels: boxes/points differ by %g px", fr_kernels_name(),
            worst);
  printf("MTCNN scalar vs %s kernels on bbt3: %d faces, %.2g px apart\n", fr_kernels_name(), na,
         worst);
  /* max_faces and a score threshold above every face. */
  o.max_faces = 2;
  CHECK_OK(fr_detect(ctx, det, &img, &o, faces, MAX_FACES, &n, &err), &err);
  CHECK(n == 2 && faces[0].score >= faces[1].score && faces[0].score == a[0].score);
  /* The score threshold is O-Net's: at the weakest face's score (kept only
   * above it), that face goes and the others stay. */
  o.max_faces = 0;
  o.min_score = na > 1 ? a[na - 1].score : 0.5f;
  CHECK_OK(fr_detect(ctx, det, &img, &o, faces, MAX_FACES, &n, &err), &err);
  CHECK_MSG(na > 1 && a[na - 2].score > a[na - 1].score && n == na - 1,
            "min_score %g: %d faces of %d", o.min_score, n, na);
  fr_image_free(&img);

  /* A gray copy of faces.jpg finds the six faces too (at min face 40, which
   * they all exceed, to keep the test quick); white and tiny images none. */
  fr_image g;
  CHECK_OK(fr_image_load(check_data("bbt/test/images/faces.jpg"), NULL, &img, &err), &err);
  CHECK_OK(fr_image_alloc(img.width, img.height, FR_PIXEL_GRAY, &g, &err), &err);
  if (img.data && g.data) {
    for (int y = 0; y < img.height; y++)
      for (int x = 0; x < img.width; x++) {
        const uint8_t *p = img.data + (size_t)y * img.stride + 3 * (size_t)x;
        g.data[(size_t)y * g.stride + x] = (uint8_t)((p[0] * 77 + p[1] * 150 + p[2] * 29) >> 8);
      }
    o.min_score = 0;
    CHECK_OK(fr_detect(ctx, det, &g, &o, faces, MAX_FACES, &n, &err), &err);
    CHECK_MSG(n == 6, "gray faces.jpg: %d faces", n);
  }
  fr_image_free(&g);
  fr_image_free(&img);
  CHECK_OK(fr_image_load(check_data("bbt/test/images/white.png"), NULL, &img, &err), &err);
  CHECK_OK(fr_detect(ctx, det, &img, NULL, faces, MAX_FACES, &n, &err), &err);
  CHECK(n == 0);
  fr_image_free(&img);
  CHECK_OK(fr_image_alloc(5, 3, FR_PIXEL_RGB, &img, &err), &err);
  CHECK_OK(fr_detect(ctx, det, &img, NULL, faces, MAX_FACES, &n, &err), &err);
  CHECK(n == 0);
  fr_image_free(&img);
}

/* ---- MobileFaceNet ------------------------------------------------------------- */

#define PEOPLE 8
#define SHOTS 3

/*
 * MTCNN + ArcFace alignment + MobileFaceNet on the bbt crops (8 people, 3
 * photos each): descriptors have unit length, and same-person pairs are
 * closer than different-person pairs (ranked: the share of (same,
 * different) pairs ordered correctly, i.e. the AUC, and the means).
 */
static void test_mobilefacenet_people(fr_context *ctx, const fr_pipeline *pipe) {
  static const char *const people[PEOPLE] = {"amy",   "bernadette", "howard",  "leonard",
                                             "penny", "raj",        "sheldon", "stuart"};
  float desc[PEOPLE * SHOTS][192];
  int ok[PEOPLE * SHOTS] = {0};
  fr_error err = {0};
  for (int p = 0; p < PEOPLE; p++)
    for (int s = 0; s < SHOTS; s++) {
      char rel[128];
      snprintf(rel, sizeof rel, "bbt/examples/images/%s/%s%d.png", people[p], people[p], s + 1);
      fr_image img;
      CHECK_OK(fr_image_load(check_data(rel), NULL, &img, &err), &err);
      if (!img.data) continue;
      fr_face faces[4];
      int n = 0;
      fr_face_source src;
      CHECK_OK(fr_describe_photo(ctx, pipe, &img, 0, faces, desc[p * SHOTS + s], 4, &n, &src, &err),
               &err);
      CHECK_MSG(n >= 1, "%s: no face", rel);
      if (n >= 1) {
        ok[p * SHOTS + s] = 1;
        CHECK(faces[0].n_landmarks == 5);
        double len = 0;
        for (int d = 0; d < 192; d++) len += (double)desc[p * SHOTS + s][d] * desc[p * SHOTS + s][d];
        CHECK_MSG(fabs(sqrt(len) - 1) < 1e-4, "%s: descriptor length %g", rel, sqrt(len));
      }
      fr_image_free(&img);
    }
  float same[PEOPLE * SHOTS * SHOTS], diff[PEOPLE * SHOTS * PEOPLE * SHOTS];
  int ns = 0, nd = 0;
  for (int i = 0; i < PEOPLE * SHOTS; i++)
    for (int j = i + 1; j < PEOPLE * SHOTS; j++) {
      if (!ok[i] || !ok[j]) continue;
      float d = fr_distance(desc[i], desc[j], 192);
      if (i / SHOTS == j / SHOTS)
        same[ns++] = d;
      else
        diff[nd++] = d;
    }
  double ms = 0, md = 0, ordered = 0;
  for (int i = 0; i < ns; i++) ms += same[i];
  for (int i = 0; i < nd; i++) md += diff[i];
  for (int i = 0; i < ns; i++)
    for (int k = 0; k < nd; k++) ordered += same[i] < diff[k] ? 1 : same[i] == diff[k] ? 0.5 : 0;
  double auc = ns && nd ? ordered / ((double)ns * nd) : 0;
  printf("MobileFaceNet on bbt crops: same person %.3f (%d pairs), different %.3f (%d pairs), "
         "AUC %.4f\n",
         ns ? ms / ns : 0, ns, nd ? md / nd : 0, nd, auc);
  CHECK(ns >= 20 && nd >= 200);
  CHECK_MSG(ns && nd && ms / ns + 0.3 < md / nd, "same %.3f vs different %.3f", ms / ns, md / nd);
  CHECK_MSG(auc >= 0.97, "AUC %.4f", auc);
}

/* Batches of 2, 5 and 8 give each chip's single descriptor; scalar kernels agree. */
static void test_mobilefacenet_batches(fr_context *ctx, const fr_embedder *fast,
                                       const fr_embedder *scalar) {
  fr_error err = {0};
  static const char *const files[2] = {"bbt/test/images/face1.png", "bbt/test/images/face2.png"};
  fr_image chips[8];
  memset(chips, 0, sizeof chips);
  for (int i = 0; i < 2; i++) CHECK_OK(fr_image_load(check_data(files[i]), NULL, &chips[i], &err), &err);
  if (!chips[0].data || !chips[1].data) return;
  /* Six more distinct chips: crops of the two. */
  for (int i = 2; i < 8; i++) {
    const fr_image *s = &chips[i % 2];
    int off = 4 * i;
    CHECK_OK(fr_image_wrap(s->data + (size_t)off * s->stride + (size_t)off * fr_pixel_size(s->format),
                           s->width - 2 * off, s->height - off, s->stride, s->format, &chips[i],
                           &err),
             &err);
  }
  float single[8][192], batch[8 * 192];
  for (int i = 0; i < 8; i++) CHECK_OK(fr_embed(ctx, fast, &chips[i], 1, single[i], &err), &err);
  double worst = 0;
  static const int sizes[3] = {2, 5, 8};
  for (int k = 0; k < 3; k++) {
    int b = sizes[k];
    CHECK_OK(fr_embed(ctx, fast, chips, b, batch, &err), &err);
    for (int i = 0; i < b; i++) worst = fmax(worst, fr_distance(single[i], batch + 192 * i, 192));
  }
  CHECK_MSG(worst < 1e-5, "batch vs single: %g", worst);
  float ref[192];
  CHECK_OK(fr_embed(ctx, scalar, chips, 1, ref, &err), &err);
  double ds = fr_distance(ref, single[0], 192);
  CHECK_MSG(ds < 1e-3, "scalar vs %s kernels: %g", fr_kernels_name(), ds);
  printf("MobileFaceNet: batches of 2, 5, 8 vs single %.2g, scalar vs %s %.2g\n", worst,
         fr_kernels_name(), ds);
  for (int i = 0; i < 2; i++) fr_image_free(&chips[i]);
}

int main(void) {
  test_arcface_transform();
  test_arcface_chip();
  test_points5();
  test_facenet();

  fr_error err = {0};
  const char *models = check_models_dir();
  fr_context *ctx = NULL;
  fr_detector *det = NULL, *det_scalar = NULL;
  fr_embedder *emb = NULL, *emb_scalar = NULL;
  fr_pipeline *pipe = NULL;
  CHECK_OK(fr_context_create(NULL, &ctx, &err), &err);
  CHECK_OK(fr_detector_create(FR_DETECTOR_MTCNN, models, &det, &err), &err);
  CHECK_OK(fr__detector_create_with_kernels(FR_DETECTOR_MTCNN, models, &fr__kernels_scalar,
                                            &det_scalar, &err),
           &err);
  CHECK_OK(fr_embedder_create(FR_EMBEDDER_MOBILEFACENET, models, &emb, &err), &err);
  CHECK_OK(fr__embedder_create_with(FR_EMBEDDER_MOBILEFACENET, models, &fr__kernels_scalar,
                                    &emb_scalar, &err),
           &err);
  fr_pipeline_options po;
  fr_pipeline_options_default(&po);
  po.detector = FR_DETECTOR_MTCNN;
  po.embedder = FR_EMBEDDER_MOBILEFACENET;
  CHECK_OK(fr_pipeline_create(&po, models, &pipe, &err), &err);
  if (ctx && det && det_scalar) {
    test_mtcnn_photos(ctx, det);
    test_mtcnn_edges(ctx, det, det_scalar);
  }
  if (ctx && emb && emb_scalar) {
    CHECK(fr_embedder_dim(emb) == 192 && fr_embedder_input_size(emb) == 112);
    test_mobilefacenet_batches(ctx, emb, emb_scalar);
  }
  if (ctx && pipe) {
    CHECK(fr_pipeline_dim(pipe) == 192);
    test_mobilefacenet_people(ctx, pipe);
  }
  fr_pipeline_destroy(pipe);
  fr_embedder_destroy(emb);
  fr_embedder_destroy(emb_scalar);
  fr_detector_destroy(det);
  fr_detector_destroy(det_scalar);
  fr_context_destroy(ctx);
  return check_summary();
}
