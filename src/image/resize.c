/*
 * resize.c - network input preparation (pad to square, bilinear resize) and
 * affine warping for face alignment.
 *
 * fr__image_to_tensor reproduces face-api.js's NetInput.toBatchTensor on a
 * tensor input: padToSquare followed by tf.image.resizeBilinear with
 * alignCorners = false and halfPixelCenters = false. The arithmetic follows
 * TensorFlow's kernel in float32 (source coordinate = i * (in / out), lower
 * index = floor, upper = min(ceil, in - 1), interpolate along x on both rows,
 * then along y), so the networks see the same numbers the reference does.
 * Every step must round as TensorFlow's does, so a * b + c must not become a
 * fused multiply-add: GCC does not contract in ISO C mode (-std=c11), and
 * clang, which does by default, is told not to with the standard pragma.
 */
#include "image/image_internal.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include <math.h>
#include <string.h>

/* The part of the padded square that holds image pixels. */
typedef struct square_src {
  const fr_image *img;
  int x, y, w, h; /* sub-rectangle of img */
  int offx, offy; /* where that rectangle starts inside the square */
} square_src;

/* Reads square pixel (sx, sy) as three floats; padding reads as zero. */
static inline void square_pixel(const square_src *s, int sx, int sy, float v[3]) {
  int ix = sx - s->offx, iy = sy - s->offy;
  if (ix < 0 || iy < 0 || ix >= s->w || iy >= s->h) {
    v[0] = v[1] = v[2] = 0.0f;
    return;
  }
  uint8_t rgb[3];
  fr__pixel_rgb(s->img, s->x + ix, s->y + iy, rgb);
  v[0] = (float)rgb[0];
  v[1] = (float)rgb[1];
  v[2] = (float)rgb[2];
}

/* TensorFlow's legacy (align_corners = false, half_pixel_centers = false)
 * source coordinate of output index i, with the interpolation weight. */
static inline void source_index(int i, float scale, int in_size, int *lo, int *hi, float *lerp) {
  float in = (float)i * scale;
  float in_f = floorf(in);
  int l = (int)in_f;
  int u = (int)ceilf(in);
  *lo = l < 0 ? 0 : l;
  *hi = u > in_size - 1 ? in_size - 1 : u;
  *lerp = in - in_f;
}

void fr__image_to_tensor(const fr_image *img, int x, int y, int w, int h, int size, int center,
                         float *out, int *square_side) {
  int side = w > h ? w : h;
  if (square_side) *square_side = side;
  if (!img || !out || size <= 0) return;
  if (w <= 0 || h <= 0) {
    memset(out, 0, (size_t)size * (size_t)size * 3 * sizeof *out);
    return;
  }
  square_src s = {img, x, y, w, h, 0, 0};
  if (center) {
    /* face-api's padToSquare: Math.round(diff * 0.5) zero rows/columns go
     * after the image and the remainder before it; for a whole number diff,
     * Math.round(diff / 2) is (diff + 1) / 2 in integer arithmetic. */
    int diff = w > h ? w - h : h - w;
    int after = (diff + 1) / 2;
    int before = diff - after;
    if (h > w)
      s.offx = before;
    else
      s.offy = before;
  }

  if (side == size) {
    /* No resize: the padded square is the tensor, value for value. */
    for (int oy = 0; oy < size; oy++)
      for (int ox = 0; ox < size; ox++)
        square_pixel(&s, ox, oy, out + ((size_t)oy * (size_t)size + (size_t)ox) * 3);
    return;
  }

  const float scale = (float)side / (float)size;
  for (int oy = 0; oy < size; oy++) {
    int y0, y1;
    float ylerp;
    source_index(oy, scale, side, &y0, &y1, &ylerp);
    for (int ox = 0; ox < size; ox++) {
      int x0, x1;
      float xlerp;
      source_index(ox, scale, side, &x0, &x1, &xlerp);
      float tl[3], tr[3], bl[3], br[3];
      square_pixel(&s, x0, y0, tl);
      square_pixel(&s, x1, y0, tr);
      square_pixel(&s, x0, y1, bl);
      square_pixel(&s, x1, y1, br);
      float *o = out + ((size_t)oy * (size_t)size + (size_t)ox) * 3;
      for (int c = 0; c < 3; c++) {
        float top = tl[c] + (tr[c] - tl[c]) * xlerp;
        float bottom = bl[c] + (br[c] - bl[c]) * xlerp;
        o[c] = top + (bottom - top) * ylerp;
      }
    }
  }
}

/* Adds weight * pixel (sx, sy) to acc when the pixel is inside the image;
 * outside pixels are zero, so they add nothing. */
static inline void accumulate(const fr_image *img, int sx, int sy, double weight, double acc[3]) {
  if (sx < 0 || sy < 0 || sx >= img->width || sy >= img->height || weight == 0.0) return;
  uint8_t rgb[3];
  fr__pixel_rgb(img, sx, sy, rgb);
  acc[0] += weight * rgb[0];
  acc[1] += weight * rgb[1];
  acc[2] += weight * rgb[2];
}

static inline uint8_t to_byte(double v) {
  if (!(v > 0.0)) return 0; /* also maps NaN to 0 */
  if (v >= 255.0) return 255;
  return (uint8_t)(v + 0.5);
}

void fr__warp_affine(const fr_image *img, const double m[6], fr_image *chip) {
  if (!img || !img->data || !m || !chip || !chip->data || chip->format != FR_PIXEL_RGB) return;
  for (int v = 0; v < chip->height; v++) {
    uint8_t *row = chip->data + (size_t)v * (size_t)chip->stride;
    for (int u = 0; u < chip->width; u++) {
      double sx = m[0] * u + m[1] * v + m[2];
      double sy = m[3] * u + m[4] * v + m[5];
      double acc[3] = {0.0, 0.0, 0.0};
      /* Points more than a pixel outside touch no image pixel; testing first
       * also keeps the int conversion below in range (and rejects NaN). */
      if (sx > -1.0 && sy > -1.0 && sx < (double)img->width && sy < (double)img->height) {
        double fx0 = floor(sx), fy0 = floor(sy);
        int x0 = (int)fx0, y0 = (int)fy0;
        double ax = sx - fx0, ay = sy - fy0;
        accumulate(img, x0, y0, (1.0 - ax) * (1.0 - ay), acc);
        accumulate(img, x0 + 1, y0, ax * (1.0 - ay), acc);
        accumulate(img, x0, y0 + 1, (1.0 - ax) * ay, acc);
        accumulate(img, x0 + 1, y0 + 1, ax * ay, acc);
      }
      row[3 * u] = to_byte(acc[0]);
      row[3 * u + 1] = to_byte(acc[1]);
      row[3 * u + 2] = to_byte(acc[2]);
    }
  }
}
