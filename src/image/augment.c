/*
 * augment.c - seeded random transforms of face images, so that a person
 * enrolled from a few photos is also known under other lighting, pose and
 * focus. Geometric transforms (mirror, rotation, shear, zoom) are composed
 * into one affine map and sampled once, so the image is blurred by
 * interpolation only once; photometric ones follow, then the blur.
 */
#include "image/image_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

void fr_augment_options_default(fr_augment_options *o) {
  memset(o, 0, sizeof *o);
  o->flip_probability = 0.5f;
  o->brightness = 25;
  o->contrast = 0.2f;
  o->gamma = 0.25f;
  o->rotation = 10;
  o->shear = 0.1f;
  o->zoom = 0.08f;
  o->grayscale_probability = 0.2f;
  o->blur_sigma = 1.2f;
}

/* splitmix64: a seed of 0 is as good as any other, and nothing is shared. */
static double uniform(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (double)(z >> 11) / 9007199254740992.0;
}

/* A draw in [-max, max]; always consumes one number so that disabling one
 * transform does not change the draws of the others. */
static double symmetric(uint64_t *s, double max) {
  double u = uniform(s) * 2 - 1;
  return u * max;
}

static uint8_t clamp_byte(double v) { return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)(v + 0.5); }

fr_status fr_gaussian_blur(const fr_image *src, float sigma, fr_image *out, fr_error *err) {
  if (!out) return fr__fail(err, FR_E_INVALID, "fr_gaussian_blur: NULL out");
  memset(out, 0, sizeof *out);
  fr_status st = fr__image_check(src, err);
  if (st != FR_OK) return st;
  if (!(sigma >= 0) || sigma > 100) return fr__fail(err, FR_E_INVALID, "blur sigma %g out of 0..100", sigma);
  st = fr_image_convert(src, src->format, out, err);
  if (st != FR_OK || sigma == 0) return st;
  int radius = (int)ceilf(3 * sigma), taps = 2 * radius + 1;
  int bpp = fr_pixel_size(src->format), w = src->width, h = src->height;
  float *kern = fr__malloc((size_t)taps * sizeof *kern);
  size_t row = (size_t)w * bpp;
  float *tmp = fr__malloc(row * (size_t)h * sizeof *tmp);
  if (!kern || !tmp) {
    fr__free(kern), fr__free(tmp);
    fr_image_free(out);
    return fr__fail(err, FR_E_NOMEM, "out of memory blurring a %dx%d image", w, h);
  }
  double sum = 0;
  for (int i = 0; i < taps; i++) sum += kern[i] = expf(-(float)((i - radius) * (i - radius)) / (2 * sigma * sigma));
  for (int i = 0; i < taps; i++) kern[i] = (float)(kern[i] / sum);
  /* Horizontal pass into floats, vertical pass back to bytes; edges clamp. */
  for (int y = 0; y < h; y++) {
    const uint8_t *s = src->data + (size_t)y * src->stride;
    for (int x = 0; x < w; x++)
      for (int c = 0; c < bpp; c++) {
        float acc = 0;
        for (int i = 0; i < taps; i++) {
          int xx = x + i - radius;
          xx = xx < 0 ? 0 : xx >= w ? w - 1 : xx;
          acc += kern[i] * s[(size_t)xx * bpp + c];
        }
        tmp[(size_t)y * row + (size_t)x * bpp + c] = acc;
      }
  }
  for (int y = 0; y < h; y++) {
    uint8_t *d = out->data + (size_t)y * out->stride;
    for (size_t k = 0; k < row; k++) {
      float acc = 0;
      for (int i = 0; i < taps; i++) {
        int yy = y + i - radius;
        yy = yy < 0 ? 0 : yy >= h ? h - 1 : yy;
        acc += kern[i] * tmp[(size_t)yy * row + k];
      }
      d[k] = clamp_byte(acc);
    }
  }
  fr__free(kern);
  fr__free(tmp);
  return FR_OK;
}

fr_status fr_augment(const fr_image *src, const fr_augment_options *opts, uint64_t seed,
                     fr_image *out, fr_error *err) {
  if (!out) return fr__fail(err, FR_E_INVALID, "fr_augment: NULL out");
  memset(out, 0, sizeof *out);
  fr_status st = fr__image_check(src, err);
  if (st != FR_OK) return st;
  fr_augment_options o;
  if (opts) o = *opts;
  else fr_augment_options_default(&o);
  if (o.zoom < 0 || o.zoom >= 0.9f || o.contrast < 0 || o.contrast >= 1 || o.blur_sigma < 0 ||
      o.blur_sigma > 20 || o.gamma < 0 || o.gamma > 3)
    return fr__fail(err, FR_E_INVALID,
                    "augmentation ranges: zoom and contrast in [0, 0.9), gamma 0..3, blur 0..20");
  uint64_t rng = seed;
  int flip = uniform(&rng) < o.flip_probability;
  double angle = symmetric(&rng, o.rotation) * M_PI / 180;
  double shear = symmetric(&rng, o.shear);
  double zoom = 1 + symmetric(&rng, o.zoom);
  double bright = symmetric(&rng, o.brightness);
  double contrast = 1 + symmetric(&rng, o.contrast);
  double gamma = exp(symmetric(&rng, o.gamma));
  int gray = uniform(&rng) < o.grayscale_probability;
  double sigma = uniform(&rng) * o.blur_sigma;

  fr_image rgb;
  st = fr_image_convert(src, FR_PIXEL_RGB, &rgb, err);
  if (st != FR_OK) return st;
  st = fr_image_alloc(src->width, src->height, FR_PIXEL_RGB, out, err);
  if (st != FR_OK) {
    fr_image_free(&rgb);
    return st;
  }
  int w = src->width, h = src->height;
  /* Forward map about the centre: p' = zoom * R(angle) * Shear * p; the warp
   * needs the inverse, for each output pixel the source point. */
  double ca = cos(angle), sa = sin(angle);
  double f00 = zoom * ca, f01 = zoom * (ca * shear - sa);
  double f10 = zoom * sa, f11 = zoom * (sa * shear + ca);
  double det = f00 * f11 - f01 * f10;
  double i00 = f11 / det, i01 = -f01 / det, i10 = -f10 / det, i11 = f00 / det;
  double cx = (w - 1) * 0.5, cy = (h - 1) * 0.5;
  double sum = 0;
  for (int v = 0; v < h; v++) {
    uint8_t *d = out->data + (size_t)v * out->stride;
    for (int u = 0; u < w; u++) {
      double du = (flip ? w - 1 - u : u) - cx, dv = v - cy;
      double x = i00 * du + i01 * dv + cx, y = i10 * du + i11 * dv + cy;
      /* Clamp to the border: replicated edges look less like an artefact
       * to the network than black corners. */
      x = x < 0 ? 0 : x > w - 1 ? w - 1 : x;
      y = y < 0 ? 0 : y > h - 1 ? h - 1 : y;
      int x0 = (int)x, y0 = (int)y;
      int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
      double fx = x - x0, fy = y - y0;
      const uint8_t *r0 = rgb.data + (size_t)y0 * rgb.stride, *r1 = rgb.data + (size_t)y1 * rgb.stride;
      for (int c = 0; c < 3; c++) {
        double top = r0[x0 * 3 + c] * (1 - fx) + r0[x1 * 3 + c] * fx;
        double bot = r1[x0 * 3 + c] * (1 - fx) + r1[x1 * 3 + c] * fx;
        double val = top * (1 - fy) + bot * fy;
        d[u * 3 + c] = clamp_byte(val);
        sum += val;
      }
    }
  }
  fr_image_free(&rgb);
  double mean = sum / ((double)w * h * 3);
  for (int v = 0; v < h; v++) {
    uint8_t *d = out->data + (size_t)v * out->stride;
    for (int u = 0; u < w; u++) {
      double px[3];
      for (int c = 0; c < 3; c++) {
        double val = (d[u * 3 + c] - mean) * contrast + mean + bright;
        val = val < 0 ? 0 : val > 255 ? 255 : val;
        px[c] = 255 * pow(val / 255, gamma);
      }
      if (gray) px[0] = px[1] = px[2] = 0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2];
      for (int c = 0; c < 3; c++) d[u * 3 + c] = clamp_byte(px[c]);
    }
  }
  if (sigma > 0.05) {
    fr_image blurred;
    st = fr_gaussian_blur(out, (float)sigma, &blurred, err);
    fr_image_free(out);
    if (st != FR_OK) return st;
    *out = blurred;
  }
  return FR_OK;
}
