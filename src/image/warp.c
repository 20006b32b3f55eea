/*
 * warp.c - the float chip sampler the similarity and ArcFace alignments use
 * (fr__warp_chip). It is an image operation, so it lives with the other
 * samplers here, below align/: the alignments build the transform, this
 * only reads pixels through it.
 */
#include "image/image_internal.h"

#include <math.h>

/* Bilinear sample of pixel-index position (sx, sy), zero outside the image,
 * with the same arithmetic as fr__warp_affine but without rounding. */
static void sample(const fr_image *img, double sx, double sy, float out[3]) {
  double acc[3] = {0, 0, 0};
  if (sx > -1.0 && sy > -1.0 && sx < (double)img->width && sy < (double)img->height) {
    double fx0 = floor(sx), fy0 = floor(sy);
    int x0 = (int)fx0, y0 = (int)fy0;
    double ax = sx - fx0, ay = sy - fy0;
    double wts[4] = {(1.0 - ax) * (1.0 - ay), ax * (1.0 - ay), (1.0 - ax) * ay, ax * ay};
    for (int j = 0; j < 4; j++) {
      int x = x0 + (j & 1), y = y0 + (j >> 1);
      if (x < 0 || y < 0 || x >= img->width || y >= img->height || wts[j] == 0.0) continue;
      uint8_t rgb[3];
      fr__pixel_rgb(img, x, y, rgb);
      acc[0] += wts[j] * rgb[0];
      acc[1] += wts[j] * rgb[1];
      acc[2] += wts[j] * rgb[2];
    }
  }
  out[0] = (float)acc[0];
  out[1] = (float)acc[1];
  out[2] = (float)acc[2];
}

void fr__warp_chip(const fr_image *img, const double m[6], int size, float *out_rgb) {
  for (int v = 0; v < size; v++)
    for (int u = 0; u < size; u++)
      sample(img, m[0] * u + m[1] * v + m[2], m[3] * u + m[4] * v + m[5],
             out_rgb + ((size_t)v * (size_t)size + (size_t)u) * 3);
}

