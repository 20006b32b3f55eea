/*
 * decode_png.c - PNG decoding with libspng.
 *
 * Output is always 8 bits per sample: gray and gray+alpha images become
 * FR_PIXEL_GRAY, everything else (truecolour, palette, with or without alpha)
 * FR_PIXEL_RGB. Alpha is dropped rather than composited because the networks
 * only see colour; 16-bit samples are reduced to 8 by libspng.
 */
#include "image/image_internal.h"

#include <spng.h>
#include <stdlib.h>
#include <string.h>


/*
 * Caps on ancillary chunks (text, ICC profiles, EXIF): libspng applies them to
 * every chunk it stores or inflates, but not to image data. Compressed text
 * expands, so without a cap a small file could demand gigabytes; real photos
 * carry a few KiB. libspng wants the per-chunk cap no larger than the total.
 * The number of chunks is already capped by libspng's default of 1000.
 */
#define FR__PNG_CHUNK_LIMIT ((size_t)16 * 1024 * 1024)
#define FR__PNG_CACHE_LIMIT ((size_t)16 * 1024 * 1024)

static fr_status png_fail(fr_error *err, int rc, const char *stage) {
  fr_status st;
  switch (rc) {
  case SPNG_EMEM: st = FR_E_NOMEM; break;
  case SPNG_EUSER_WIDTH:
  case SPNG_EUSER_HEIGHT:
  case SPNG_ECHUNK_LIMITS: st = FR_E_LIMIT; break;
  default: st = FR_E_FORMAT; break;
  }
  return fr__fail(err, st, "PNG: %s: %s", stage, spng_strerror(rc));
}

fr_status fr__decode_png(const uint8_t *bytes, size_t size, const fr_image_limits *lim,
                         fr_image *out, fr_error *err) {
  memset(out, 0, sizeof *out);
  spng_ctx *ctx = spng_ctx_new(0);
  if (!ctx) return fr__fail(err, FR_E_NOMEM, "PNG: out of memory creating a decoder");

  fr_status st = FR_OK;
  uint8_t *tmp = NULL;
  /* libspng enforces the side limit itself while parsing IHDR, which keeps
   * its own buffers bounded; the pixel-count limit is ours, checked below. */
  uint32_t max_side = (uint32_t)lim->max_dimension;
  int rc = spng_set_image_limits(ctx, max_side, max_side);
  if (!rc) rc = spng_set_chunk_limits(ctx, FR__PNG_CHUNK_LIMIT, FR__PNG_CACHE_LIMIT);
  if (!rc) rc = spng_set_png_buffer(ctx, bytes, size);
  if (rc) {
    st = png_fail(err, rc, "setting up the decoder");
    goto done;
  }

  struct spng_ihdr ihdr;
  rc = spng_get_ihdr(ctx, &ihdr);
  if (rc == SPNG_EUSER_WIDTH || rc == SPNG_EUSER_HEIGHT) {
    /* Re-read the raw header so the message can name the actual size. IHDR
     * is the first chunk: width and height are at bytes 16..23. */
    uint64_t w = 0, h = 0;
    if (size >= 24) {
      w = (uint64_t)bytes[16] << 24 | (uint64_t)bytes[17] << 16 | (uint64_t)bytes[18] << 8 |
          bytes[19];
      h = (uint64_t)bytes[20] << 24 | (uint64_t)bytes[21] << 16 | (uint64_t)bytes[22] << 8 |
          bytes[23];
    }
    st = fr__image_limits_check(lim, w, h, "PNG image", err);
    if (st == FR_OK) st = png_fail(err, rc, "reading the header");
    goto done;
  }
  if (rc) {
    st = png_fail(err, rc, "reading the header");
    goto done;
  }
  st = fr__image_limits_check(lim, ihdr.width, ihdr.height, "PNG image", err);
  if (st != FR_OK) goto done;

  int gray = ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE ||
             ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA;
  st = fr__image_alloc_owned((int)ihdr.width, (int)ihdr.height, gray ? FR_PIXEL_GRAY : FR_PIXEL_RGB,
                             out, err);
  if (st != FR_OK) goto done;
  size_t npix = (size_t)ihdr.width * (size_t)ihdr.height;

  /* libspng's G8 output only covers 8-bit gray; other gray layouts (1..4 and
   * 16 bits, gray+alpha) are decoded as RGB8, where R = G = B, and then the
   * first channel is kept. */
  int direct = !gray || (ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE && ihdr.bit_depth == 8);
  int fmt = gray && direct ? SPNG_FMT_G8 : SPNG_FMT_RGB8;
  size_t need = 0;
  rc = spng_decoded_image_size(ctx, fmt, &need);
  if (rc) {
    st = png_fail(err, rc, "sizing the image");
    goto done;
  }
  size_t expect = npix * (gray && direct ? 1u : 3u);
  if (need != expect) {
    st = fr__fail(err, FR_E_INTERNAL, "PNG: decoder wants %zu bytes for %ux%u, expected %zu", need,
                  ihdr.width, ihdr.height, expect);
    goto done;
  }
  if (direct) {
    rc = spng_decode_image(ctx, out->data, need, fmt, 0);
  } else {
    tmp = fr__malloc(need);
    if (!tmp) {
      st = fr__fail(err, FR_E_NOMEM, "PNG: out of memory decoding a %ux%u image", ihdr.width,
                    ihdr.height);
      goto done;
    }
    rc = spng_decode_image(ctx, tmp, need, fmt, 0);
    if (!rc)
      for (size_t i = 0; i < npix; i++) out->data[i] = tmp[3 * i];
  }
  if (rc) st = png_fail(err, rc, "decoding the pixels");

done:
  fr__free(tmp);
  spng_ctx_free(ctx);
  if (st != FR_OK) fr_image_free(out);
  return st;
}
