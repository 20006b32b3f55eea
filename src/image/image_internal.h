/*
 * image_internal.h - image operations used inside the library (prefix fr__).
 */
#ifndef FR_IMAGE_INTERNAL_H
#define FR_IMAGE_INTERNAL_H

#include "core/internal.h"

/*
 * Face-api's input preparation (NetInput.toBatchTensor) for one image, into a
 * float RGB NHWC tensor of size x size x 3 with values 0..255:
 *  1. take the sub-rectangle (x, y, w, h) of img (integer pixel coordinates,
 *     already clipped by the caller; pass 0,0,img->width,img->height for all);
 *  2. pad it with zeros to a square: if `center` is 0 the padding goes after
 *     (bottom or right); if 1 it is split as face-api's padToSquare does
 *     (round(diff/2) after, the rest before);
 *  3. if the square's side differs from `size`, resize bilinearly with
 *     TensorFlow's semantics (align_corners=false, half_pixel_centers=false).
 * Any pixel format is accepted; gray is replicated to R, G and B.
 * out must hold size*size*3 floats. Returns the side of the padded square in
 * *square_side (may be NULL) so callers can map coordinates back.
 */
void fr__image_to_tensor(const fr_image *img, int x, int y, int w, int h, int size, int center,
                         float *out, int *square_side);

/* Reads pixel (x, y) as R, G, B bytes whatever the image's format. */
static inline void fr__pixel_rgb(const fr_image *img, int x, int y, uint8_t rgb[3]) {
  const uint8_t *p = img->data + (size_t)y * (size_t)img->stride;
  switch (img->format) {
  case FR_PIXEL_GRAY: rgb[0] = rgb[1] = rgb[2] = p[x]; break;
  case FR_PIXEL_RGB: p += 3 * x; rgb[0] = p[0]; rgb[1] = p[1]; rgb[2] = p[2]; break;
  case FR_PIXEL_BGR: p += 3 * x; rgb[0] = p[2]; rgb[1] = p[1]; rgb[2] = p[0]; break;
  case FR_PIXEL_RGBA: p += 4 * x; rgb[0] = p[0]; rgb[1] = p[1]; rgb[2] = p[2]; break;
  case FR_PIXEL_BGRA: p += 4 * x; rgb[0] = p[2]; rgb[1] = p[1]; rgb[2] = p[0]; break;
  default: rgb[0] = rgb[1] = rgb[2] = 0; break;
  }
}

/*
 * Warps img through the affine map dst->src: for chip pixel (u, v) the source
 * point is (m[0]*u + m[1]*v + m[2], m[3]*u + m[4]*v + m[5]); bilinear sampling,
 * zero outside. chip must be an allocated RGB image.
 */
void fr__warp_affine(const fr_image *img, const double m[6], fr_image *chip);

/* Validates an image struct handed in by a caller. */
fr_status fr__image_check(const fr_image *img, fr_error *err);

/*
 * Checks a decoder's header size against the limits (NULL: the defaults)
 * before any pixel memory is allocated; `what` names the image in messages.
 */
fr_status fr__image_limits_check(const fr_image_limits *lim, uint64_t width, uint64_t height,
                                 const char *what, fr_error *err);

/* Allocates an owned image (tight stride, fr__aligned_alloc'd pixels). */
fr_status fr__image_alloc_owned(int width, int height, fr_pixel_format format, fr_image *out,
                                fr_error *err);

/* The decoders behind fr_image_decode, one per format. */
fr_status fr__decode_jpeg(const uint8_t *bytes, size_t size, const fr_image_limits *lim,
                          fr_image *out, fr_error *err);
fr_status fr__decode_png(const uint8_t *bytes, size_t size, const fr_image_limits *lim,
                         fr_image *out, fr_error *err);
fr_status fr__decode_pnm(const uint8_t *bytes, size_t size, const fr_image_limits *lim,
                         fr_image *out, fr_error *err);

/* Fills a size x size RGB float chip: chip pixel (u, v) is the bilinear
 * sample of img at (m[0] u + m[1] v + m[2], m[3] u + m[4] v + m[5]) in pixel
 * indices, zero outside the image (the similarity and ArcFace warps;
 * src/image/warp.c). */
void fr__warp_chip(const fr_image *img, const double m[6], int size, float *out_rgb);

#endif
