/*
 * align.c - face chips from 68 landmarks.
 *
 * FR_ALIGN_UPRIGHT reproduces what face-api's withFaceDescriptors() feeds the
 * recognition net: FaceLandmarks.align(null, {useDlibAlignment: true}) gives
 * an upright square around the eyes and mouth, extractFaceTensors cuts it out
 * of the image (clipped at the borders) and toBatchTensor pads it to a centred
 * square and resizes it bilinearly. No rotation is involved.
 *
 * FR_ALIGN_SIMILARITY is dlib's get_face_chip_details/extract_image_chip idea:
 * the least-squares similarity transform that maps a canonical face template
 * onto the landmarks, sampled bilinearly, so that faces come out rotated
 * upright and at a fixed scale whatever their roll. A face with only two
 * eye points (from the Haar and LBP detectors) has the template's two eye
 * centres put exactly on them instead.
 *
 * FR_ALIGN_ARCFACE (five points) and FR_ALIGN_FACENET (box and margin) live
 * in align5.c; fr__align_tensor below dispatches to all four.
 */
#include "align/align_internal.h"
#include "image/image_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Largest chip side accepted: far above any recognition net's input, small
 * enough that size * size * 3 floats can never overflow. */
#define FR__MAX_CHIP 4096

/* face-api's alignment constants (FaceLandmarks.ts): the reference point sits
 * at 50% of the square's width and 43% of its height, and the square's side
 * is the eye-to-mouth distance over 0.45. */
#define FR__REL_X 0.5
#define FR__REL_Y 0.43
#define FR__REL_SCALE 0.45

static int landmarks_finite(const fr_face *face) {
  for (int i = 0; i < FR_MAX_LANDMARKS; i++)
    if (!isfinite(face->landmarks[i].x) || !isfinite(face->landmarks[i].y)) return 0;
  return 1;
}

/* Checks the arguments every alignment entry point shares. */
/* The checks every method shares: arguments, image and chip size. */
static fr_status check_basic(const char *fn, const fr_image *img, const fr_face *face, int size,
                             const void *out, fr_error *err) {
  if (!img || !face || !out) {
    const char *what = !img ? "image" : !face ? "face" : "output";
    return fr__fail(err, FR_E_INVALID, "%s: NULL %s", fn, what);
  }
  fr_status st = fr__image_check(img, err);
  if (st != FR_OK) return st;
  if (size <= 0) return fr__fail(err, FR_E_INVALID, "%s: chip size %d is not positive", fn, size);
  if (size > FR__MAX_CHIP)
    return fr__fail(err, FR_E_LIMIT, "%s: chip size %d exceeds the limit of %d", fn, size,
                    FR__MAX_CHIP);
  return FR_OK;
}

/* The checks of the two methods that fit the 68 landmarks; eyes_ok: two
 * eye points (the cascades') will do too (SIMILARITY). */
static fr_status check_args(const char *fn, const fr_image *img, const fr_face *face, int size,
                            const void *out, int eyes_ok, fr_error *err) {
  fr_status st = check_basic(fn, img, face, size, out, err);
  if (st != FR_OK) return st;
  if (eyes_ok && face->n_landmarks == 2) {
    double e[2][2];
    return fr__face_eyes(face, e, err);
  }
  if (face->n_landmarks != FR_MAX_LANDMARKS)
    return fr__fail(err, FR_E_INVALID,
                    "%s: the face has %d landmarks, alignment needs %d (run fr_landmarks first)",
                    fn, face->n_landmarks, FR_MAX_LANDMARKS);
  if (!landmarks_finite(face))
    return fr__fail(err, FR_E_INVALID, "%s: the face's landmarks are not finite numbers", fn);
  return FR_OK;
}

/* getCenterPoint: the mean of points [from, to), summed in order. */
static void center(const fr_face *face, int from, int to, double c[2]) {
  double sx = 0, sy = 0;
  for (int i = from; i < to; i++) {
    sx += face->landmarks[i].x;
    sy += face->landmarks[i].y;
  }
  c[0] = sx / (to - from);
  c[1] = sy / (to - from);
}

fr_rect fr__align_upright_rect(const fr_face *face, int img_w, int img_h) {
  fr_rect r = {0, 0, 0, 0};
  if (!face || face->n_landmarks != FR_MAX_LANDMARKS || !landmarks_finite(face)) return r;
  double le[2], re[2], mo[2];
  center(face, 36, 42, le);
  center(face, 42, 48, re);
  center(face, 48, 68, mo);
  double dl = sqrt((mo[0] - le[0]) * (mo[0] - le[0]) + (mo[1] - le[1]) * (mo[1] - le[1]));
  double dr = sqrt((mo[0] - re[0]) * (mo[0] - re[0]) + (mo[1] - re[1]) * (mo[1] - re[1]));
  double size = floor((dl + dr) / 2 / FR__REL_SCALE);
  double rx = (le[0] + re[0] + mo[0]) / 3, ry = (le[1] + re[1] + mo[1]) / 3;
  double x = floor(fmax(0.0, rx - FR__REL_X * size));
  double y = floor(fmax(0.0, ry - FR__REL_Y * size));
  /* alignDlib caps the size at "image width + x", where the image is the one
   * the landmarks were computed in: for face-api that is the detection crop,
   * whose size the shifted landmarks keep. Without a usable box, fall back to
   * the whole image. */
  int crop[4] = {0, 0, img_w, img_h};
  fr__face_crop(&face->box, img_w, img_h, crop);
  r.x = (float)x;
  r.y = (float)y;
  r.width = (float)fmin(size, crop[2] + x);
  r.height = (float)fmin(size, crop[3] + y);
  return r;
}

fr_status fr__align_upright_tensor(const fr_image *img, const fr_face *face, int size,
                                   float *out_rgb, fr_rect *rect_out, fr_error *err) {
  fr_status st = check_args("face alignment", img, face, size, out_rgb, 0, err);
  if (st != FR_OK) return st;
  fr_rect r = fr__align_upright_rect(face, img->width, img->height);
  if (rect_out) *rect_out = r;
  int crop[4];
  if (!fr__face_crop(&r, img->width, img->height, crop))
    return fr__fail(err, FR_E_INVALID,
                    "face alignment: the aligned rectangle (x %g, y %g, w %g, h %g) has no area "
                    "inside the %dx%d image",
                    (double)r.x, (double)r.y, (double)r.width, (double)r.height, img->width,
                    img->height);
  fr__image_to_tensor(img, crop[0], crop[1], crop[2], crop[3], size, 1, out_rgb, NULL);
  return FR_OK;
}

/* The chip-to-image transform of a fit q ~ A c + t (A = [a -b; b a]) from
 * continuous chip to continuous image coordinates: chip pixel (u, v) covers
 * [u, u + 1) and is sampled at its centre; an image position q in
 * continuous coordinates is pixel index q - 0.5. */
static void chip_transform(double a, double b, double tx, double ty, double m[6]) {
  m[0] = a;
  m[1] = -b;
  m[2] = 0.5 * a - 0.5 * b + tx - 0.5;
  m[3] = b;
  m[4] = a;
  m[5] = 0.5 * b + 0.5 * a + ty - 0.5;
}

/* SIMILARITY for a face with two eye points (the cascades'): the template's
 * eye centres (the means of its points 36-41 and 42-47, as the eyes of a
 * 68-point face are taken elsewhere) go exactly onto the two eyes. */
static fr_status similarity_from_eyes(const fr_face *face, int size, double m[6], fr_error *err) {
  double q[2][2], c[2][2];
  fr_status st = fr__face_eyes(face, q, err);
  if (st != FR_OK) return st;
  const double p = FR__TEMPLATE_PADDING, k = (double)size / (1 + 2 * p);
  for (int e = 0; e < 2; e++) {
    double sx = 0, sy = 0;
    for (int i = 36 + 6 * e; i < 42 + 6 * e; i++)
      sx += fr__landmark_template[i][0], sy += fr__landmark_template[i][1];
    c[e][0] = (sx / 6 + p) * k;
    c[e][1] = (sy / 6 + p) * k;
  }
  double t[4];
  st = fr__fit_similarity((const double(*)[2])c, (const double(*)[2])q, 2, t, err);
  if (st != FR_OK) {
    fr__error_prefix(err, "similarity alignment");
    return st;
  }
  chip_transform(t[0], t[1], t[2], t[3], m);
  return FR_OK;
}

fr_status fr__align_similarity_transform(const fr_face *face, int size, double m[6],
                                         fr_error *err) {
  if (!face || !m) return fr__fail(err, FR_E_INVALID, "similarity alignment: NULL argument");
  if (size <= 0 || size > FR__MAX_CHIP)
    return fr__fail(err, FR_E_INVALID, "similarity alignment: bad chip size %d", size);
  if (face->n_landmarks == 2) return similarity_from_eyes(face, size, m, err);
  if (face->n_landmarks != FR_MAX_LANDMARKS || !landmarks_finite(face))
    return fr__fail(err, FR_E_INVALID, "similarity alignment: the face needs %d finite landmarks",
                    FR_MAX_LANDMARKS);
  /* Template points in continuous chip coordinates: the template's unit
   * square padded by FR__TEMPLATE_PADDING on every side fills the chip. The
   * least-squares fit q ~ A c + t (the 2-D case of Umeyama's method, never a
   * reflection) is the one the two-eye and ArcFace alignments use too. */
  const double p = FR__TEMPLATE_PADDING, k = (double)size / (1 + 2 * p);
  enum { N = FR_MAX_LANDMARKS - FR__TEMPLATE_FIRST };
  double c[N][2], q[N][2];
  for (int i = 0; i < N; i++) {
    c[i][0] = (fr__landmark_template[FR__TEMPLATE_FIRST + i][0] + p) * k;
    c[i][1] = (fr__landmark_template[FR__TEMPLATE_FIRST + i][1] + p) * k;
    q[i][0] = face->landmarks[FR__TEMPLATE_FIRST + i].x;
    q[i][1] = face->landmarks[FR__TEMPLATE_FIRST + i].y;
  }
  double t[4];
  fr_status st = fr__fit_similarity((const double(*)[2])c, (const double(*)[2])q, N, t, err);
  if (st != FR_OK) {
    fr__error_prefix(err, "similarity alignment");
    return st;
  }
  chip_transform(t[0], t[1], t[2], t[3], m);
  return FR_OK;
}

/* The axis-aligned box around the chip's footprint in the image. */
static fr_rect footprint(const double m[6], int size) {
  double minx = INFINITY, miny = INFINITY, maxx = -INFINITY, maxy = -INFINITY;
  for (int j = 0; j < 4; j++) {
    /* Corners in continuous chip coordinates, mapped to continuous image
     * coordinates (pixel index + 0.5). */
    double u = (j & 1) ? size : 0, v = (j >> 1) ? size : 0;
    double x = m[0] * (u - 0.5) + m[1] * (v - 0.5) + m[2] + 0.5;
    double y = m[3] * (u - 0.5) + m[4] * (v - 0.5) + m[5] + 0.5;
    minx = fmin(minx, x), maxx = fmax(maxx, x);
    miny = fmin(miny, y), maxy = fmax(maxy, y);
  }
  fr_rect r = {(float)minx, (float)miny, (float)(maxx - minx), (float)(maxy - miny)};
  return r;
}

fr_status fr__align_similarity_tensor(const fr_image *img, const fr_face *face, int size,
                                      float *out_rgb, fr_rect *rect_out, fr_error *err) {
  fr_status st = check_args("similarity alignment", img, face, size, out_rgb, 1, err);
  if (st != FR_OK) return st;
  double m[6];
  st = fr__align_similarity_transform(face, size, m, err);
  if (st != FR_OK) return st;
  if (rect_out) *rect_out = footprint(m, size);
  fr__warp_chip(img, m, size, out_rgb);
  return FR_OK;
}

/* Rounds 0..255 floats to bytes, clamping anything outside. */
static uint8_t to_byte(float v) {
  if (!(v > 0.f)) return 0;
  if (v >= 255.f) return 255;
  return (uint8_t)(v + 0.5f);
}

fr_status fr_align(const fr_image *img, const fr_face *face, fr_align_method method, int size,
                   fr_image *chip, fr_error *err) {
  if (!chip) return fr__fail(err, FR_E_INVALID, "fr_align: NULL chip");
  memset(chip, 0, sizeof *chip);
  if (method < FR_ALIGN_UPRIGHT || method > FR_ALIGN_FACENET)
    return fr__fail(err, FR_E_INVALID, "fr_align: unknown alignment method %d", (int)method);
  /* ARCFACE and FACENET check the points they need themselves. */
  fr_status st = method == FR_ALIGN_UPRIGHT || method == FR_ALIGN_SIMILARITY
                     ? check_args("fr_align", img, face, size, chip,
                                  method == FR_ALIGN_SIMILARITY, err)
                     : check_basic("fr_align", img, face, size, chip, err);
  if (st != FR_OK) return st;

  if (method == FR_ALIGN_SIMILARITY) {
    double m[6];
    st = fr__align_similarity_transform(face, size, m, err);
    if (st == FR_OK) st = fr_image_alloc(size, size, FR_PIXEL_RGB, chip, err);
    if (st != FR_OK) return st;
    fr__warp_affine(img, m, chip);
    return FR_OK;
  }

  size_t n = (size_t)size * (size_t)size * 3;
  float *rgb = fr__malloc(n * sizeof *rgb);
  if (!rgb)
    return fr__fail(err, FR_E_NOMEM, "fr_align: out of memory for a %dx%d chip", size, size);
  st = fr__align_tensor(img, face, method, size, rgb, err);
  if (st == FR_OK) st = fr_image_alloc(size, size, FR_PIXEL_RGB, chip, err);
  if (st == FR_OK) {
    for (int v = 0; v < size; v++) {
      uint8_t *row = chip->data + (size_t)v * (size_t)chip->stride;
      const float *src = rgb + (size_t)v * (size_t)size * 3;
      for (int i = 0; i < size * 3; i++) row[i] = to_byte(src[i]);
    }
  }
  fr__free(rgb);
  return st;
}

fr_status fr__align_tensor(const fr_image *img, const fr_face *face, fr_align_method method,
                           int size, float *out_rgb, fr_error *err) {
  switch (method) {
  case FR_ALIGN_UPRIGHT: return fr__align_upright_tensor(img, face, size, out_rgb, NULL, err);
  case FR_ALIGN_SIMILARITY:
    return fr__align_similarity_tensor(img, face, size, out_rgb, NULL, err);
  case FR_ALIGN_ARCFACE: return fr__align_arcface_tensor(img, face, size, out_rgb, err);
  case FR_ALIGN_FACENET: return fr__align_facenet_tensor(img, face, size, out_rgb, err);
  }
  return fr__fail(err, FR_E_INVALID, "unknown alignment method %d", (int)method);
}

int fr__align_needs_68(fr_align_method method, const fr_face *face) {
  switch (method) {
  case FR_ALIGN_UPRIGHT: return face->n_landmarks != 68;
  /* Two points are the cascades' eyes, which both fits can use. */
  case FR_ALIGN_SIMILARITY: return face->n_landmarks != 68 && face->n_landmarks != 2;
  case FR_ALIGN_ARCFACE:
    return face->n_landmarks != 68 && face->n_landmarks != 5 && face->n_landmarks != 2;
  default: return 0;
  }
}
