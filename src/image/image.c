/*
 * image.c - the public image API: wrapping, allocating, converting, freeing,
 * loading, decoding (format sniffing plus the per-format decoders in
 * decode_*.c) and saving.
 *
 * Owned pixel buffers always come from fr__aligned_alloc, so that every owned
 * image has 64-byte aligned rows-start and fr_image_free can release any of
 * them the same way.
 */
#include "image/image_internal.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <spng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Files larger than this are refused before reading; no sane photo is. */
#define FR__IMAGE_MAX_FILE ((size_t)256 * 1024 * 1024)

int fr_pixel_size(fr_pixel_format format) {
  switch (format) {
  case FR_PIXEL_GRAY: return 1;
  case FR_PIXEL_RGB:
  case FR_PIXEL_BGR: return 3;
  case FR_PIXEL_RGBA:
  case FR_PIXEL_BGRA: return 4;
  default: return 0;
  }
}

static const char *format_name(fr_pixel_format format) {
  switch (format) {
  case FR_PIXEL_GRAY: return "GRAY";
  case FR_PIXEL_RGB: return "RGB";
  case FR_PIXEL_BGR: return "BGR";
  case FR_PIXEL_RGBA: return "RGBA";
  case FR_PIXEL_BGRA: return "BGRA";
  default: return "unknown";
  }
}

fr_status fr__image_limits_check(const fr_image_limits *lim, uint64_t width, uint64_t height,
                                 const char *what, fr_error *err) {
  int64_t max_dim = lim ? lim->max_dimension : FR_DEFAULT_MAX_DIMENSION;
  int64_t max_pix = lim ? lim->max_pixels : FR_DEFAULT_MAX_PIXELS;
  if (width == 0 || height == 0)
    return fr__fail(err, FR_E_FORMAT, "%s has an empty size (%llux%llu)", what,
                    (unsigned long long)width, (unsigned long long)height);
  if (width > (uint64_t)max_dim || height > (uint64_t)max_dim)
    return fr__fail(err, FR_E_LIMIT, "%s is %llux%llu, larger than the limit of %lld pixels a side",
                    what, (unsigned long long)width, (unsigned long long)height,
                    (long long)max_dim);
  /* Both factors are at most max_dimension (an int), so the product fits. */
  if (width * height > (uint64_t)max_pix)
    return fr__fail(err, FR_E_LIMIT, "%s is %llux%llu = %llu pixels, more than the limit of %lld",
                    what, (unsigned long long)width, (unsigned long long)height,
                    (unsigned long long)(width * height), (long long)max_pix);
  return FR_OK;
}

/*
 * Allocates a zeroed, tightly packed image without applying the decode limits:
 * callers have validated the size already (against the limits the user chose,
 * which may exceed the defaults).
 */
fr_status fr__image_alloc_owned(int width, int height, fr_pixel_format format, fr_image *out,
                                fr_error *err) {
  memset(out, 0, sizeof *out);
  int bpp = fr_pixel_size(format);
  if (bpp == 0) return fr__fail(err, FR_E_INVALID, "unknown pixel format %d", (int)format);
  if (width <= 0 || height <= 0)
    return fr__fail(err, FR_E_INVALID, "image size %dx%d is not positive", width, height);
  if (width > INT_MAX / bpp)
    return fr__fail(err, FR_E_LIMIT, "image width %d is too large for a row", width);
  size_t bytes;
  if (!fr__mul_size((size_t)width * (size_t)bpp, (size_t)height, &bytes))
    return fr__fail(err, FR_E_LIMIT, "image %dx%d is too large", width, height);
  uint8_t *data = fr__aligned_calloc(bytes);
  if (!data)
    return fr__fail(err, FR_E_NOMEM, "out of memory allocating a %dx%d %s image (%zu bytes)", width,
                    height, format_name(format), bytes);
  out->data = data;
  out->width = width;
  out->height = height;
  out->stride = width * bpp;
  out->format = format;
  return FR_OK;
}

fr_status fr_image_wrap(void *data, int width, int height, int stride, fr_pixel_format format,
                        fr_image *out, fr_error *err) {
  if (!out) return fr__fail(err, FR_E_INVALID, "fr_image_wrap: out is NULL");
  memset(out, 0, sizeof *out);
  if (!data) return fr__fail(err, FR_E_INVALID, "fr_image_wrap: data is NULL");
  int bpp = fr_pixel_size(format);
  if (bpp == 0)
    return fr__fail(err, FR_E_INVALID, "fr_image_wrap: unknown pixel format %d", (int)format);
  if (width <= 0 || height <= 0)
    return fr__fail(err, FR_E_INVALID, "fr_image_wrap: size %dx%d is not positive", width, height);
  /* The default decode limits also bound wrapped images, so that the rest of
   * the library can do its index arithmetic in int without overflow. */
  fr_status st =
      fr__image_limits_check(NULL, (uint64_t)width, (uint64_t)height, "wrapped image", err);
  if (st != FR_OK) return st;
  if (stride < width * bpp)
    return fr__fail(err, FR_E_INVALID,
                    "fr_image_wrap: stride %d is smaller than width %d x %d bytes per %s pixel",
                    stride, width, bpp, format_name(format));
  size_t total;
  if (!fr__mul_size((size_t)stride, (size_t)height, &total))
    return fr__fail(err, FR_E_INVALID, "fr_image_wrap: stride %d x height %d overflows", stride,
                    height);
  out->data = data;
  out->width = width;
  out->height = height;
  out->stride = stride;
  out->format = format;
  return FR_OK;
}

fr_status fr_image_alloc(int width, int height, fr_pixel_format format, fr_image *out,
                         fr_error *err) {
  if (!out) return fr__fail(err, FR_E_INVALID, "fr_image_alloc: out is NULL");
  memset(out, 0, sizeof *out);
  if (fr_pixel_size(format) == 0)
    return fr__fail(err, FR_E_INVALID, "fr_image_alloc: unknown pixel format %d", (int)format);
  if (width <= 0 || height <= 0)
    return fr__fail(err, FR_E_INVALID, "fr_image_alloc: size %dx%d is not positive", width, height);
  fr_status st =
      fr__image_limits_check(NULL, (uint64_t)width, (uint64_t)height, "allocated image", err);
  if (st != FR_OK) return st;
  return fr__image_alloc_owned(width, height, format, out, err);
}

void fr_image_free(fr_image *img) {
  if (!img) return;
  fr__aligned_free(img->data);
  memset(img, 0, sizeof *img);
}

fr_status fr__image_check(const fr_image *img, fr_error *err) {
  if (!img) return fr__fail(err, FR_E_INVALID, "image is NULL");
  if (!img->data) return fr__fail(err, FR_E_INVALID, "image has no pixel data");
  int bpp = fr_pixel_size(img->format);
  if (bpp == 0)
    return fr__fail(err, FR_E_INVALID, "image has unknown pixel format %d", (int)img->format);
  if (img->width <= 0 || img->height <= 0)
    return fr__fail(err, FR_E_INVALID, "image size %dx%d is not positive", img->width, img->height);
  if (img->width > INT_MAX / bpp || img->stride < img->width * bpp)
    return fr__fail(err, FR_E_INVALID, "image stride %d is smaller than width %d x %d bytes",
                    img->stride, img->width, bpp);
  size_t total;
  if (!fr__mul_size((size_t)img->stride, (size_t)img->height, &total))
    return fr__fail(err, FR_E_INVALID, "image stride %d x height %d overflows", img->stride,
                    img->height);
  return FR_OK;
}

/* ------------------------------------------------------------------ */
/* Conversion                                                           */
/* ------------------------------------------------------------------ */

/* ITU-R BT.601 luma in integer arithmetic, rounded, so results are exact and
 * identical on every platform. The weights sum to 1000, so 255 stays 255. */
static inline uint8_t luma(const uint8_t rgb[3]) {
  return (uint8_t)((299u * rgb[0] + 587u * rgb[1] + 114u * rgb[2] + 500u) / 1000u);
}

static void store_pixel(uint8_t *p, fr_pixel_format format, const uint8_t rgb[3]) {
  switch (format) {
  case FR_PIXEL_GRAY: p[0] = luma(rgb); break;
  case FR_PIXEL_RGB:
    p[0] = rgb[0];
    p[1] = rgb[1];
    p[2] = rgb[2];
    break;
  case FR_PIXEL_BGR:
    p[0] = rgb[2];
    p[1] = rgb[1];
    p[2] = rgb[0];
    break;
  case FR_PIXEL_RGBA:
    p[0] = rgb[0];
    p[1] = rgb[1];
    p[2] = rgb[2];
    p[3] = 255;
    break;
  case FR_PIXEL_BGRA:
    p[0] = rgb[2];
    p[1] = rgb[1];
    p[2] = rgb[0];
    p[3] = 255;
    break;
  default: break;
  }
}

/* Converts src into dst, which has the same size (any formats). */
static void convert_pixels(const fr_image *src, fr_image *dst) {
  int sbpp = fr_pixel_size(src->format);
  int dbpp = fr_pixel_size(dst->format);
  size_t row_bytes = (size_t)src->width * (size_t)sbpp;
  for (int y = 0; y < src->height; y++) {
    const uint8_t *s = src->data + (size_t)y * (size_t)src->stride;
    uint8_t *d = dst->data + (size_t)y * (size_t)dst->stride;
    if (src->format == dst->format) {
      /* A copy keeps the alpha channel of RGBA/BGRA as it was. */
      memcpy(d, s, row_bytes);
      continue;
    }
    for (int x = 0; x < src->width; x++) {
      uint8_t rgb[3];
      fr__pixel_rgb(src, x, y, rgb);
      store_pixel(d + (size_t)x * (size_t)dbpp, dst->format, rgb);
    }
  }
}

fr_status fr_image_convert(const fr_image *src, fr_pixel_format format, fr_image *out,
                           fr_error *err) {
  if (!out) return fr__fail(err, FR_E_INVALID, "fr_image_convert: out is NULL");
  fr_status st = fr__image_check(src, err);
  if (st != FR_OK) {
    if (out != src) memset(out, 0, sizeof *out);
    fr__error_prefix(err, "fr_image_convert");
    return st;
  }
  if (fr_pixel_size(format) == 0) {
    if (out != src) memset(out, 0, sizeof *out);
    return fr__fail(err, FR_E_INVALID, "fr_image_convert: unknown pixel format %d", (int)format);
  }
  /* Build into a temporary so that out may be the same struct as src. */
  fr_image tmp;
  st = fr__image_alloc_owned(src->width, src->height, format, &tmp, err);
  if (st != FR_OK) {
    if (out != src) memset(out, 0, sizeof *out);
    return st;
  }
  convert_pixels(src, &tmp);
  *out = tmp;
  return FR_OK;
}

/* ------------------------------------------------------------------ */
/* Decoding                                                             */
/* ------------------------------------------------------------------ */

static fr_status check_limits_arg(const fr_image_limits *limits, fr_error *err) {
  if (!limits) return FR_OK;
  if (limits->max_dimension <= 0 || limits->max_pixels <= 0)
    return fr__fail(err, FR_E_INVALID,
                    "image limits must be positive (max_dimension %d, max_pixels %lld)",
                    limits->max_dimension, (long long)limits->max_pixels);
  return FR_OK;
}

fr_status fr_image_decode(const void *bytes, size_t size, const fr_image_limits *limits,
                          fr_image *out, fr_error *err) {
  if (!out) return fr__fail(err, FR_E_INVALID, "fr_image_decode: out is NULL");
  memset(out, 0, sizeof *out);
  if (!bytes && size > 0) return fr__fail(err, FR_E_INVALID, "fr_image_decode: bytes is NULL");
  fr_status st = check_limits_arg(limits, err);
  if (st != FR_OK) return st;
  const fr_image_limits defaults = {FR_DEFAULT_MAX_DIMENSION, FR_DEFAULT_MAX_PIXELS};
  const fr_image_limits *lim = limits ? limits : &defaults;
  const uint8_t *b = bytes;
  if (size == 0) return fr__fail(err, FR_E_FORMAT, "no image data (0 bytes)");

  static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (size >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) {
    st = fr__decode_jpeg(b, size, lim, out, err);
  } else if (size >= 8 && memcmp(b, png_sig, 8) == 0) {
    st = fr__decode_png(b, size, lim, out, err);
  } else if (size >= 2 && b[0] == 'P' &&
             (b[1] == '2' || b[1] == '3' || b[1] == '5' || b[1] == '6')) {
    st = fr__decode_pnm(b, size, lim, out, err);
  } else if (size >= 2 && b[0] == 'P' && (b[1] == '1' || b[1] == '4' || b[1] == '7')) {
    return fr__fail(
        err, FR_E_UNSUPPORTED,
        "netpbm type P%c (bitmap or PAM) is not supported; use PGM (P2/P5) or PPM (P3/P6)", b[1]);
  } else {
    char hex[3 * 8 + 1] = "";
    size_t n = size < 8 ? size : 8;
    for (size_t i = 0; i < n; i++) snprintf(hex + 3 * i, 4, "%02x ", b[i]);
    if (n) hex[3 * n - 1] = '\0';
    return fr__fail(
        err, FR_E_UNSUPPORTED,
        "unrecognised image format (first bytes %s); JPEG, PNG, PGM and PPM are supported", hex);
  }
  if (st != FR_OK) {
    /* Decoders clean up after themselves, but make the contract obvious. */
    fr_image_free(out);
    return st;
  }
  return FR_OK;
}

fr_status fr_image_load(const char *path, const fr_image_limits *limits, fr_image *out,
                        fr_error *err) {
  if (!out) return fr__fail(err, FR_E_INVALID, "fr_image_load: out is NULL");
  memset(out, 0, sizeof *out);
  if (!path || !*path) return fr__fail(err, FR_E_INVALID, "fr_image_load: path is NULL or empty");
  uint8_t *data = NULL;
  size_t size = 0;
  fr_status st = fr__read_file(path, FR__IMAGE_MAX_FILE, &data, &size, err);
  if (st != FR_OK) return st;
  st = fr_image_decode(data, size, limits, out, err);
  fr__free(data);
  if (st != FR_OK) fr__error_prefix(err, "%s", path);
  return st;
}

/* ------------------------------------------------------------------ */
/* Saving                                                               */
/* ------------------------------------------------------------------ */

/* Case-insensitive check that path ends with ext (which includes the dot). */
static int has_ext(const char *path, const char *ext) {
  size_t n = strlen(path), m = strlen(ext);
  if (n < m) return 0;
  const char *p = path + n - m;
  for (size_t i = 0; i < m; i++)
    if (tolower((unsigned char)p[i]) != tolower((unsigned char)ext[i])) return 0;
  return 1;
}

/* Writes a whole buffer to a file, reporting any short write or close error
 * (a full disk often shows up only at fclose). */
static fr_status write_file(const char *path, const void *head, size_t head_size, const void *body,
                            size_t body_size, fr_error *err) {
  FILE *f = fopen(path, "wb");
  if (!f) return fr__fail(err, FR_E_IO, "cannot create %s: %s", path, strerror(errno));
  int ok = 1;
  if (head_size && fwrite(head, 1, head_size, f) != head_size) ok = 0;
  if (ok && body_size && fwrite(body, 1, body_size, f) != body_size) ok = 0;
  int saved_errno = errno;
  if (fclose(f) != 0 && ok) {
    ok = 0;
    saved_errno = errno;
  }
  if (!ok) {
    remove(path);
    return fr__fail(err, FR_E_IO, "cannot write %s: %s", path, strerror(saved_errno));
  }
  return FR_OK;
}

/* Makes a tightly packed GRAY or RGB copy of img for the encoders. */
static fr_status packed_copy(const fr_image *img, int gray, fr_image *out, fr_error *err) {
  fr_status st =
      fr__image_alloc_owned(img->width, img->height, gray ? FR_PIXEL_GRAY : FR_PIXEL_RGB, out, err);
  if (st != FR_OK) return st;
  convert_pixels(img, out);
  return FR_OK;
}

static fr_status save_png(const fr_image *px, const char *path, fr_error *err) {
  spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
  if (!ctx) return fr__fail(err, FR_E_NOMEM, "out of memory creating a PNG encoder for %s", path);
  struct spng_ihdr ihdr;
  memset(&ihdr, 0, sizeof ihdr);
  ihdr.width = (uint32_t)px->width;
  ihdr.height = (uint32_t)px->height;
  ihdr.bit_depth = 8;
  ihdr.color_type =
      px->format == FR_PIXEL_GRAY ? SPNG_COLOR_TYPE_GRAYSCALE : SPNG_COLOR_TYPE_TRUECOLOR;
  size_t len = (size_t)px->stride * (size_t)px->height;
  int rc = spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
  if (!rc) rc = spng_set_ihdr(ctx, &ihdr);
  if (!rc) rc = spng_encode_image(ctx, px->data, len, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
  if (rc) {
    spng_ctx_free(ctx);
    return fr__fail(err, rc == SPNG_EMEM ? FR_E_NOMEM : FR_E_INTERNAL, "encoding PNG %s: %s", path,
                    spng_strerror(rc));
  }
  size_t png_size = 0;
  void *png = spng_get_png_buffer(ctx, &png_size, &rc);
  spng_ctx_free(ctx);
  if (!png) {
    return fr__fail(err, rc == SPNG_EMEM ? FR_E_NOMEM : FR_E_INTERNAL, "encoding PNG %s: %s", path,
                    spng_strerror(rc));
  }
  fr_status st = write_file(path, NULL, 0, png, png_size, err);
  fr__free(png);
  return st;
}

static fr_status save_pnm(const fr_image *px, const char *path, fr_error *err) {
  char head[64];
  int n = snprintf(head, sizeof head, "P%c\n%d %d\n255\n", px->format == FR_PIXEL_GRAY ? '5' : '6',
                   px->width, px->height);
  if (n < 0 || (size_t)n >= sizeof head) return fr__fail(err, FR_E_INTERNAL, "PNM header too long");
  return write_file(path, head, (size_t)n, px->data, (size_t)px->stride * (size_t)px->height, err);
}

/*
 * The extension picks the container. For .png and .pnm the image's own
 * format decides gray versus colour; .pgm and .ppm promise a particular kind
 * of file to other tools, so the pixels are converted to gray or RGB to match.
 */
fr_status fr_image_save(const fr_image *img, const char *path, fr_error *err) {
  fr_status st = fr__image_check(img, err);
  if (st != FR_OK) {
    fr__error_prefix(err, "fr_image_save");
    return st;
  }
  if (!path || !*path) return fr__fail(err, FR_E_INVALID, "fr_image_save: path is NULL or empty");
  int gray;
  int png = 0;
  if (has_ext(path, ".png")) {
    png = 1;
    gray = img->format == FR_PIXEL_GRAY;
  } else if (has_ext(path, ".pnm")) {
    gray = img->format == FR_PIXEL_GRAY;
  } else if (has_ext(path, ".pgm")) {
    gray = 1;
  } else if (has_ext(path, ".ppm")) {
    gray = 0;
  } else {
    return fr__fail(err, FR_E_UNSUPPORTED,
                    "cannot save %s: unknown extension (use .png, .ppm, .pgm or .pnm)", path);
  }
  fr_image px;
  st = packed_copy(img, gray, &px, err);
  if (st != FR_OK) return st;
  st = png ? save_png(&px, path, err) : save_pnm(&px, path, err);
  fr_image_free(&px);
  return st;
}
