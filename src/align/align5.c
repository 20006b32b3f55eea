/*
 * align5.c - face chips for the TFLite embedders: ArcFace's five-point
 * similarity alignment, FaceNet's box-and-margin crop, and the area/bilinear
 * resampling of an image rectangle that MTCNN's pyramid and crops use too.
 *
 * FR_ALIGN_ARCFACE follows InsightFace's norm_crop: the least-squares
 * similarity transform (Umeyama's method in 2-D) taking the face's five points
 * (eye centres, nose tip, mouth corners) onto the standard template of a
 * 112x112 chip, then a bilinear warp with zeros outside the image. The fit
 * runs from the image to the template, the direction InsightFace estimates
 * it in, and is inverted for sampling. Other chip sizes scale the template.
 * A face with only two points (the eyes the Haar and LBP detectors find)
 * has them put exactly on the template's eyes: rotation, scale and position
 * follow from two points alone.
 *
 * FR_ALIGN_FACENET follows facenet-pytorch's extract_face: the detector's box
 * grown by a margin given in chip pixels (32 of 160, FaceNet's evaluation
 * setting, so the box fills 128/160 of the chip), clipped to the image and
 * resized to the chip without keeping its aspect ratio.
 */
#include "align/align_internal.h"
#include "image/image_internal.h"

#include <math.h>
#include <string.h>

/* InsightFace's arcface_dst: pixel-index coordinates (pixel centres at
 * integers) in a 112x112 chip of the left eye, right eye, nose tip, left and
 * right mouth corner, "left" meaning the image's left. */
const float fr__arcface_template[5][2] = {
    {38.2946f, 51.6963f}, {73.5318f, 51.5014f}, {56.0252f, 71.7366f},
    {41.5493f, 92.3655f}, {70.7299f, 92.2041f},
};

/* facenet's margin: 32 chip pixels of a 160-pixel chip, half on each side. */
#define FR__FACENET_MARGIN (32.0 / 160.0)

/* Largest chip side (as align.c): size * size * 3 floats cannot overflow. */
#define FR__MAX_CHIP5 4096

static int finite_point(fr_point p) { return isfinite(p.x) && isfinite(p.y); }

fr_status fr__face_points5(const fr_face *face, double pts[5][2], fr_error *err) {
  if (!face || !pts) return fr__fail(err, FR_E_INVALID, "five-point alignment: NULL argument");
  if (face->n_landmarks == 5) {
    for (int i = 0; i < 5; i++) {
      if (!finite_point(face->landmarks[i]))
        return fr__fail(err, FR_E_INVALID, "five-point alignment: point %d is not finite", i);
      pts[i][0] = face->landmarks[i].x;
      pts[i][1] = face->landmarks[i].y;
    }
    return FR_OK;
  }
  if (face->n_landmarks != FR_MAX_LANDMARKS)
    return fr__fail(err, FR_E_INVALID,
                    "five-point alignment: the face has %d landmarks, it needs 5 (MTCNN) or 68",
                    face->n_landmarks);
  for (int i = 0; i < FR_MAX_LANDMARKS; i++)
    if (!finite_point(face->landmarks[i]))
      return fr__fail(err, FR_E_INVALID, "five-point alignment: landmark %d is not finite", i);
  /* iBUG 300-W: 36-41 outline the eye on the image's left, 42-47 the other,
   * 30 is the nose tip, 48 and 54 the mouth corners. */
  for (int e = 0; e < 2; e++) {
    double sx = 0, sy = 0;
    for (int i = 36 + 6 * e; i < 42 + 6 * e; i++) {
      sx += face->landmarks[i].x;
      sy += face->landmarks[i].y;
    }
    pts[e][0] = sx / 6;
    pts[e][1] = sy / 6;
  }
  static const int idx[3] = {30, 48, 54};
  for (int k = 0; k < 3; k++) {
    pts[2 + k][0] = face->landmarks[idx[k]].x;
    pts[2 + k][1] = face->landmarks[idx[k]].y;
  }
  return FR_OK;
}

fr_status fr__face_eyes(const fr_face *face, double pts[2][2], fr_error *err) {
  if (!face || !pts) return fr__fail(err, FR_E_INVALID, "eye alignment: NULL argument");
  if (face->n_landmarks != 2)
    return fr__fail(err, FR_E_INVALID, "eye alignment: the face has %d landmarks, not 2",
                    face->n_landmarks);
  for (int i = 0; i < 2; i++) {
    if (!finite_point(face->landmarks[i]))
      return fr__fail(err, FR_E_INVALID, "eye alignment: eye %d is not finite", i);
    pts[i][0] = face->landmarks[i].x;
    pts[i][1] = face->landmarks[i].y;
  }
  return FR_OK;
}

fr_status fr__fit_similarity(const double (*p)[2], const double (*q)[2], int n, double t[4],
                             fr_error *err) {
  if (!p || !q || !t || n < 2)
    return fr__fail(err, FR_E_INVALID, "similarity fit: needs 2 or more point pairs");
  double pcx = 0, pcy = 0, qcx = 0, qcy = 0;
  for (int i = 0; i < n; i++) pcx += p[i][0], pcy += p[i][1], qcx += q[i][0], qcy += q[i][1];
  pcx /= n, pcy /= n, qcx /= n, qcy /= n;
  /* q ~ A p + t with A = [a -b; b a]: the closed form over centred points
   * (the 2-D case of Umeyama's method; never a reflection). Two points fit
   * exactly. */
  double ss = 0, sa = 0, sb = 0;
  for (int i = 0; i < n; i++) {
    double ux = p[i][0] - pcx, uy = p[i][1] - pcy, vx = q[i][0] - qcx, vy = q[i][1] - qcy;
    ss += ux * ux + uy * uy;
    sa += ux * vx + uy * vy;
    sb += ux * vy - uy * vx;
  }
  if (!(ss > 1e-12) || !isfinite(ss))
    return fr__fail(err, FR_E_INVALID, "similarity fit: the %d points coincide", n);
  double a = sa / ss, b = sb / ss, d = a * a + b * b;
  if (!(d > 1e-12) || !isfinite(d))
    return fr__fail(err, FR_E_INVALID, "similarity fit: degenerate (scale %g)", sqrt(d));
  t[0] = a;
  t[1] = b;
  t[2] = qcx - (a * pcx - b * pcy);
  t[3] = qcy - (b * pcx + a * pcy);
  return FR_OK;
}

fr_status fr__align_arcface_transform(const fr_face *face, int size, double m[6], fr_error *err) {
  if (!m) return fr__fail(err, FR_E_INVALID, "ArcFace alignment: NULL transform");
  if (size <= 0 || size > FR__MAX_CHIP5)
    return fr__fail(err, FR_E_INVALID, "ArcFace alignment: bad chip size %d", size);
  /* Five points (MTCNN's, or from 68), or the two eyes of the cascades,
   * which go onto the template's two eyes. */
  double p[5][2];
  int n = face && face->n_landmarks == 2 ? 2 : 5;
  fr_status st = n == 2 ? fr__face_eyes(face, p, err) : fr__face_points5(face, p, err);
  if (st != FR_OK) return st;
  /* Both point sets in continuous coordinates (0 = an edge, not a centre):
   * landmarks already are; the template's pixel indices get +0.5. */
  double q[5][2], k = size / 112.0;
  for (int i = 0; i < n; i++) {
    q[i][0] = (fr__arcface_template[i][0] + 0.5) * k;
    q[i][1] = (fr__arcface_template[i][1] + 0.5) * k;
  }
  double t[4];
  st = fr__fit_similarity((const double(*)[2])p, (const double(*)[2])q, n, t, err);
  if (st != FR_OK) {
    fr__error_prefix(err, "ArcFace alignment");
    return st;
  }
  double a = t[0], b = t[1], d = a * a + b * b, tx = t[2], ty = t[3];
  /* Inverse: p = A^-1 (q - t), A^-1 = [a b; -b a] / d. Chip pixel (u, v) is
   * sampled at its centre q = (u + 0.5, v + 0.5); image pixel index = p - 0.5. */
  double cx = 0.5 - tx, cy = 0.5 - ty;
  m[0] = a / d;
  m[1] = b / d;
  m[2] = (a * cx + b * cy) / d - 0.5;
  m[3] = -b / d;
  m[4] = a / d;
  m[5] = (-b * cx + a * cy) / d - 0.5;
  return FR_OK;
}

static fr_status check_chip(const char *fn, const fr_image *img, const fr_face *face, int size,
                            const float *out, fr_error *err) {
  if (!img || !face || !out) return fr__fail(err, FR_E_INVALID, "%s: NULL argument", fn);
  fr_status st = fr__image_check(img, err);
  if (st != FR_OK) return st;
  if (size <= 0 || size > FR__MAX_CHIP5)
    return fr__fail(err, size <= 0 ? FR_E_INVALID : FR_E_LIMIT,
                    "%s: chip size %d is not in 1..%d", fn, size, FR__MAX_CHIP5);
  return FR_OK;
}

fr_status fr__align_arcface_tensor(const fr_image *img, const fr_face *face, int size,
                                   float *out_rgb, fr_error *err) {
  fr_status st = check_chip("ArcFace alignment", img, face, size, out_rgb, err);
  if (st != FR_OK) return st;
  double m[6];
  st = fr__align_arcface_transform(face, size, m, err);
  if (st != FR_OK) return st;
  fr__warp_chip(img, m, size, out_rgb);
  return FR_OK;
}

fr_status fr__align_facenet_rect(const fr_face *face, int img_w, int img_h, int size,
                                 fr_rect *out, fr_error *err) {
  if (!face || !out) return fr__fail(err, FR_E_INVALID, "FaceNet alignment: NULL argument");
  const fr_rect *b = &face->box;
  if (!isfinite(b->x) || !isfinite(b->y) || !isfinite(b->width) || !isfinite(b->height) ||
      !(b->width > 0) || !(b->height > 0))
    return fr__fail(err, FR_E_INVALID, "FaceNet alignment: the face box is empty or not finite");
  /* facenet-pytorch: margin * box / (size - margin) in image pixels, half of
   * it on each side, so that the box fills (size - margin) of the chip. */
  double mg = FR__FACENET_MARGIN * size;
  double mx = mg * b->width / (size - mg), my = mg * b->height / (size - mg);
  double x0 = fmax(0.0, b->x - mx / 2), y0 = fmax(0.0, b->y - my / 2);
  double x1 = fmin((double)img_w, (double)b->x + b->width + mx / 2);
  double y1 = fmin((double)img_h, (double)b->y + b->height + my / 2);
  if (!(x1 - x0 > 0) || !(y1 - y0 > 0))
    return fr__fail(err, FR_E_INVALID,
                    "FaceNet alignment: the box (x %g, y %g, w %g, h %g) is outside the %dx%d "
                    "image",
                    (double)b->x, (double)b->y, (double)b->width, (double)b->height, img_w, img_h);
  *out = (fr_rect){(float)x0, (float)y0, (float)(x1 - x0), (float)(y1 - y0)};
  return FR_OK;
}

fr_status fr__align_facenet_tensor(const fr_image *img, const fr_face *face, int size,
                                   float *out_rgb, fr_error *err) {
  fr_status st = check_chip("FaceNet alignment", img, face, size, out_rgb, err);
  if (st != FR_OK) return st;
  fr_rect r;
  st = fr__align_facenet_rect(face, img->width, img->height, size, &r, err);
  if (st != FR_OK) return st;
  fr__resample_rect(img, r.x, r.y, r.width, r.height, size, size, 1.f, 0.f, out_rgb, 3,
                    (ptrdiff_t)size * 3, NULL);
  return FR_OK;
}

/* ---- resampling ----------------------------------------------------------- */

/*
 * The source pixels [j0, j1) behind one output sample of an axis, and how to
 * weigh them. Downscaling (footprint f > 1) averages the pixels under the
 * footprint [a, b) by overlap, as OpenCV's INTER_AREA does; otherwise the
 * footprint's centre is sampled bilinearly. Pixels outside the source are
 * left out, so they count as zero.
 */
typedef struct span {
  int j0, j1; /* empty when j1 <= j0 */
  int box;    /* 1: area average, 0: bilinear */
  double a, b, f;
  float t; /* bilinear: weight of pixel j0 + 1 */
} span;

static double dmin(double a, double b) { return a < b ? a : b; }
static double dmax(double a, double b) { return a > b ? a : b; }

static span make_span(double a0, double f, int i, int len) {
  span s = {0, 0, f > 1.0, a0 + i * f, a0 + (i + 1) * f, f, 0.f};
  if (s.box) {
    s.j0 = (int)floor(dmax(s.a, 0.0));
    s.j1 = (int)ceil(dmin(s.b, (double)len));
    return s;
  }
  double c = s.a + f / 2 - 0.5; /* pixel-index position of the centre */
  if (!(c >= -0.5 && c <= len - 0.5)) return s;
  double fl = floor(c);
  int j = (int)fl;
  /* Inside the image's extent but past the outermost pixel centre: the edge
   * pixel alone, so that the border is not darkened. */
  if (j < 0 || j >= len - 1) {
    s.j0 = j < 0 ? 0 : len - 1;
    s.j1 = s.j0 + 1;
    return s;
  }
  s.j0 = j;
  s.j1 = j + 2;
  s.t = (float)(c - fl);
  return s;
}

static float span_weight(const span *s, int j) {
  if (s->box) return (float)((dmin(s->b, j + 1.0) - dmax(s->a, (double)j)) / s->f);
  if (s->j1 - s->j0 == 1) return 1.f;
  return j == s->j0 ? 1.f - s->t : s->t;
}

/*
 * The separable path's scratch: two source rows of RGB floats (the blend and
 * the row being added), then the x taps of every output column: first pixel
 * and count per column, and their weights. The footprints tile the axis, so
 * the weights number at most the source width plus two per column.
 */
size_t fr__resample_tmp_floats(const fr_image *img, int max_ow) {
  if (!img || max_ow < 0) return 0;
  return (size_t)img->width * 7 + (size_t)max_ow * 5;
}

/* Converts pixels [x0, x1) of row y to RGB floats. */
static void load_row(const fr_image *img, int y, int x0, int x1, float *dst) {
  const uint8_t *p = img->data + (size_t)y * (size_t)img->stride;
  if (img->format == FR_PIXEL_RGB) {
    for (int i = x0 * 3; i < x1 * 3; i++) *dst++ = p[i];
    return;
  }
  for (int x = x0; x < x1; x++, dst += 3) {
    uint8_t rgb[3];
    fr__pixel_rgb(img, x, y, rgb);
    dst[0] = rgb[0], dst[1] = rgb[1], dst[2] = rgb[2];
  }
}

/* Writes one output sample. */
static void put(float *o, const float acc[3], float mul, float add) {
  o[0] = acc[0] * mul + add;
  o[1] = acc[1] * mul + add;
  o[2] = acc[2] * mul + add;
}

/* Without scratch: every sample gathers its pixels through both spans. */
static void resample_direct(const fr_image *img, double x0, double y0, double fx, double fy,
                            int ow, int oh, float mul, float add, float *dst, ptrdiff_t step_u,
                            ptrdiff_t step_v) {
  for (int v = 0; v < oh; v++) {
    span sy = make_span(y0, fy, v, img->height);
    for (int u = 0; u < ow; u++) {
      float acc[3] = {0.f, 0.f, 0.f};
      span sx = make_span(x0, fx, u, img->width);
      for (int i = sx.j0; i < sx.j1 && sy.j1 > sy.j0; i++) {
        float wx = span_weight(&sx, i);
        for (int j = sy.j0; j < sy.j1; j++) {
          uint8_t rgb[3];
          fr__pixel_rgb(img, i, j, rgb);
          float wgt = wx * span_weight(&sy, j);
          acc[0] += wgt * rgb[0], acc[1] += wgt * rgb[1], acc[2] += wgt * rgb[2];
        }
      }
      put(dst + (ptrdiff_t)v * step_v + (ptrdiff_t)u * step_u, acc, mul, add);
    }
  }
}

void fr__resample_rect(const fr_image *img, double x0, double y0, double w, double h, int ow,
                       int oh, float mul, float add, float *dst, ptrdiff_t step_u,
                       ptrdiff_t step_v, float *tmp) {
  double fx = w / ow, fy = h / oh;
  int W = img->width, H = img->height;
  if (!tmp) {
    resample_direct(img, x0, y0, fx, fy, ow, oh, mul, add, dst, step_u, step_v);
    return;
  }
  /* The x taps of every column, once. */
  float *blend = tmp, *row = tmp + (size_t)W * 3, *wts = tmp + (size_t)W * 6;
  size_t cap = (size_t)W + 3 * (size_t)ow, nw = 0;
  int *first = (int *)(wts + cap), *count = first + ow;
  int cx0 = W, cx1 = 0; /* source columns any column touches */
  for (int u = 0; u < ow; u++) {
    span sx = make_span(x0, fx, u, W);
    int c = sx.j1 > sx.j0 ? sx.j1 - sx.j0 : 0;
    if (nw + (size_t)c > cap) { /* cannot happen (see above); stay correct anyway */
      resample_direct(img, x0, y0, fx, fy, ow, oh, mul, add, dst, step_u, step_v);
      return;
    }
    first[u] = sx.j0;
    count[u] = c;
    for (int i = 0; i < c; i++) wts[nw + (size_t)i] = span_weight(&sx, sx.j0 + i);
    nw += (size_t)c;
    if (c > 0 && sx.j0 < cx0) cx0 = sx.j0;
    if (c > 0 && sx.j1 > cx1) cx1 = sx.j1;
  }
  if (cx1 < cx0) cx0 = cx1 = 0;
  size_t width = (size_t)(cx1 - cx0) * 3;
  for (int v = 0; v < oh; v++) {
    span sy = make_span(y0, fy, v, H);
    float *drow = dst + (ptrdiff_t)v * step_v;
    int rows = sy.j1 > sy.j0;
    if (rows) {
      /* Blend the source rows once, then filter along x. */
      for (size_t i = 0; i < width; i++) blend[i] = 0.f;
      for (int j = sy.j0; j < sy.j1; j++) {
        float wgt = span_weight(&sy, j);
        load_row(img, j, cx0, cx1, row);
        for (size_t i = 0; i < width; i++) blend[i] += wgt * row[i];
      }
    }
    const float *wp = wts;
    for (int u = 0; u < ow; u++) {
      float acc[3] = {0.f, 0.f, 0.f};
      const float *s = blend + (size_t)(first[u] - cx0) * 3;
      for (int i = 0; i < count[u] && rows; i++, s += 3)
        acc[0] += wp[i] * s[0], acc[1] += wp[i] * s[1], acc[2] += wp[i] * s[2];
      wp += count[u];
      put(drow + (ptrdiff_t)u * step_u, acc, mul, add);
    }
  }
}
