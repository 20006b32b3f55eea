/*
 * test_image.c - decoding, saving, wrapping, conversion, hostile inputs, EXIF
 * orientation, and the network-input resize of the image module.
 * Run from the repository root; the shared data is found at ../shared/data or
 * $FACEREC_DATA.
 */
#define _POSIX_C_SOURCE 200809L
#include "facerec.h"
#include "image/image_internal.h"

#include "check.h"

#include <jpeglib.h>
#include <math.h>
#include <spng.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

static uint32_t rng_state = 12345u;
static uint32_t rng(void) {
  rng_state = rng_state * 1664525u + 1013904223u;
  return rng_state >> 8;
}

static uint8_t *slurp(const char *path, size_t *size) {
  *size = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
  if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  if (buf) *size = (size_t)n;
  return buf;
}

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* The PNG (zlib) CRC-32, bit by bit: slow but obviously right. */
static uint32_t crc32_png(const uint8_t *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  return c ^ 0xFFFFFFFFu;
}

/* A PNG holding only a signature, an IHDR with the given fields and IEND. */
static size_t build_png_header(uint8_t buf[64], uint32_t w, uint32_t h, uint8_t depth,
                               uint8_t ctype, int break_crc) {
  static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  memcpy(buf, sig, 8);
  put_be32(buf + 8, 13);
  memcpy(buf + 12, "IHDR", 4);
  put_be32(buf + 16, w);
  put_be32(buf + 20, h);
  buf[24] = depth;
  buf[25] = ctype;
  buf[26] = buf[27] = buf[28] = 0;
  put_be32(buf + 29, crc32_png(buf + 12, 17) ^ (break_crc ? 1u : 0u));
  put_be32(buf + 33, 0);
  memcpy(buf + 37, "IEND", 4);
  put_be32(buf + 41, crc32_png(buf + 37, 4));
  return 45;
}

/* Offset of the first SOFn marker (its 0xFF byte) in a JPEG, or 0. */
static size_t find_sof(const uint8_t *b, size_t n) {
  size_t pos = 2;
  while (pos + 4 <= n) {
    if (b[pos] != 0xFF) return 0;
    uint8_t m = b[pos + 1];
    if (m == 0xFF) {
      pos++;
      continue;
    }
    if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) return pos;
    size_t len = (size_t)b[pos + 2] << 8 | b[pos + 3];
    pos += 2 + len;
  }
  return 0;
}

/* Start of the entropy-coded data after the first SOS, or 0. */
static size_t find_scan_data(const uint8_t *b, size_t n) {
  size_t pos = 2;
  while (pos + 4 <= n) {
    if (b[pos] != 0xFF) return 0;
    uint8_t m = b[pos + 1];
    size_t len = (size_t)b[pos + 2] << 8 | b[pos + 3];
    if (m == 0xDA) return pos + 2 + len;
    pos += 2 + len;
  }
  return 0;
}

static int is_zeroed(const fr_image *img) {
  return img->data == NULL && img->width == 0 && img->height == 0 && img->stride == 0 &&
         img->format == 0;
}

static const fr_pixel_format all_formats[5] = {FR_PIXEL_GRAY, FR_PIXEL_RGB, FR_PIXEL_BGR,
                                               FR_PIXEL_RGBA, FR_PIXEL_BGRA};

/* An owned RGB image of random pixels. */
static fr_image random_rgb(int w, int h) {
  fr_image img;
  fr_error err;
  if (fr_image_alloc(w, h, FR_PIXEL_RGB, &img, &err) != FR_OK) {
    fprintf(stderr, "alloc failed: %s\n", err.message);
    exit(2);
  }
  for (int y = 0; y < h; y++)
    for (int x = 0; x < 3 * w; x++) img.data[(size_t)y * img.stride + x] = (uint8_t)rng();
  return img;
}

static int images_equal(const fr_image *a, const fr_image *b) {
  if (a->width != b->width || a->height != b->height || a->format != b->format) return 0;
  size_t row = (size_t)a->width * (size_t)fr_pixel_size(a->format);
  for (int y = 0; y < a->height; y++)
    if (memcmp(a->data + (size_t)y * a->stride, b->data + (size_t)y * b->stride, row) != 0)
      return 0;
  return 1;
}

/* ------------------------------------------------------------------ */
/* Decoding the shared test images                                      */
/* ------------------------------------------------------------------ */

static void test_decode_files(void) {
  static const struct {
    const char *rel;
    int w, h;
    fr_pixel_format fmt;
  } files[] = {
      {"bbt/test/images/angry.jpg", 300, 250, FR_PIXEL_RGB},
      {"bbt/test/images/angry_cropped.jpg", 172, 206, FR_PIXEL_RGB},
      {"bbt/test/images/face1.png", 150, 150, FR_PIXEL_GRAY},
      {"bbt/test/images/face2.png", 150, 150, FR_PIXEL_GRAY},
      {"bbt/test/images/face_rectangular.png", 122, 178, FR_PIXEL_RGB},
      {"bbt/test/images/faces.jpg", 710, 473, FR_PIXEL_RGB},
      {"bbt/test/images/surprised.jpg", 500, 333, FR_PIXEL_RGB},
      {"bbt/test/images/surprised_cropped.jpg", 266, 292, FR_PIXEL_RGB},
      {"bbt/test/images/white.png", 150, 150, FR_PIXEL_RGB},
      {"orl/s1/1.pgm", 92, 112, FR_PIXEL_GRAY},
  };
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    const char *path = check_data(files[i].rel);
    fr_image img;
    fr_error err = {0, ""};
    fr_status st = fr_image_load(path, NULL, &img, &err);
    CHECK_MSG(st == FR_OK, "%s: %s", path, err.message);
    if (st != FR_OK) continue;
    CHECK_MSG(img.width == files[i].w && img.height == files[i].h, "%s: got %dx%d, want %dx%d",
              path, img.width, img.height, files[i].w, files[i].h);
    CHECK_MSG(img.format == files[i].fmt, "%s: format %d, want %d", path, img.format, files[i].fmt);
    CHECK(img.stride == img.width * fr_pixel_size(img.format));

    /* Decoding the same bytes from memory gives the same pixels. */
    size_t n;
    uint8_t *bytes = slurp(path, &n);
    CHECK(bytes != NULL);
    if (bytes) {
      fr_image again;
      CHECK_OK(fr_image_decode(bytes, n, NULL, &again, &err), &err);
      CHECK(images_equal(&img, &again));
      fr_image_free(&again);
      /* The PGM is binary with maxval 255: its pixels are the file's tail. */
      if (strstr(path, ".pgm")) {
        size_t px = (size_t)img.width * (size_t)img.height;
        CHECK(n >= px && memcmp(bytes + n - px, img.data, px) == 0);
      }
      free(bytes);
    }
    if (strstr(path, "white.png")) {
      int all_white = 1;
      for (size_t k = 0; k < (size_t)img.stride * img.height; k++) all_white &= img.data[k] == 255;
      CHECK_MSG(all_white, "white.png has non-white pixels");
    }
    fr_image_free(&img);
    CHECK(is_zeroed(&img));
  }

  /* A missing file is an I/O error that names the file. */
  fr_image img;
  fr_error err = {0, ""};
  CHECK(fr_image_load("/nonexistent/dir/x.jpg", NULL, &img, &err) == FR_E_IO);
  CHECK(strstr(err.message, "/nonexistent/dir/x.jpg") != NULL);
  CHECK(is_zeroed(&img));
  CHECK(fr_image_load(NULL, NULL, &img, &err) == FR_E_INVALID);
  CHECK(fr_image_load("x", NULL, NULL, &err) == FR_E_INVALID);
  fr_image_free(NULL); /* a no-op */
}

/* ------------------------------------------------------------------ */
/* Saving                                                               */
/* ------------------------------------------------------------------ */

static void test_save_roundtrip(void) {
  const char *tmpdir = getenv("TMPDIR");
  char dir[512];
  snprintf(dir, sizeof dir, "%s/facerec_test_image_XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
  if (!mkdtemp(dir)) {
    CHECK_MSG(0, "mkdtemp %s failed", dir);
    return;
  }
  char path[640];
  fr_error err = {0, ""};

  fr_image rgb = random_rgb(37, 23);
  fr_image gray;
  CHECK_OK(fr_image_convert(&rgb, FR_PIXEL_GRAY, &gray, &err), &err);

  static const char *exts[] = {".png", ".ppm", ".pnm", ".PNG"};
  for (size_t i = 0; i < 4; i++) {
    snprintf(path, sizeof path, "%s/rgb%zu%s", dir, i, exts[i]);
    CHECK_OK(fr_image_save(&rgb, path, &err), &err);
    fr_image back;
    CHECK_OK(fr_image_load(path, NULL, &back, &err), &err);
    CHECK_MSG(images_equal(&rgb, &back), "RGB round trip through %s differs", exts[i]);
    fr_image_free(&back);
    remove(path);
  }
  static const char *gexts[] = {".png", ".pgm", ".pnm"};
  for (size_t i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s/gray%zu%s", dir, i, gexts[i]);
    CHECK_OK(fr_image_save(&gray, path, &err), &err);
    fr_image back;
    CHECK_OK(fr_image_load(path, NULL, &back, &err), &err);
    CHECK_MSG(images_equal(&gray, &back), "gray round trip through %s differs", gexts[i]);
    fr_image_free(&back);
    remove(path);
  }

  /* BGR/BGRA images are written as RGB; .pgm of colour is its luma; .ppm of
   * gray is gray replicated. */
  for (int f = 0; f < 5; f++) {
    fr_image conv;
    CHECK_OK(fr_image_convert(&rgb, all_formats[f], &conv, &err), &err);
    snprintf(path, sizeof path, "%s/conv%d.png", dir, f);
    CHECK_OK(fr_image_save(&conv, path, &err), &err);
    fr_image back;
    CHECK_OK(fr_image_load(path, NULL, &back, &err), &err);
    fr_image want;
    CHECK_OK(fr_image_convert(&conv, all_formats[f] == FR_PIXEL_GRAY ? FR_PIXEL_GRAY : FR_PIXEL_RGB,
                              &want, &err),
             &err);
    CHECK_MSG(images_equal(&want, &back), "format %d saved as PNG reloads differently", f);
    fr_image_free(&back);
    fr_image_free(&want);
    fr_image_free(&conv);
    remove(path);
  }
  snprintf(path, sizeof path, "%s/luma.pgm", dir);
  CHECK_OK(fr_image_save(&rgb, path, &err), &err);
  fr_image back;
  CHECK_OK(fr_image_load(path, NULL, &back, &err), &err);
  CHECK(images_equal(&gray, &back));
  fr_image_free(&back);
  remove(path);
  snprintf(path, sizeof path, "%s/grayrgb.ppm", dir);
  CHECK_OK(fr_image_save(&gray, path, &err), &err);
  CHECK_OK(fr_image_load(path, NULL, &back, &err), &err);
  CHECK(back.format == FR_PIXEL_RGB && back.width == gray.width);
  if (back.data) CHECK(back.data[0] == gray.data[0] && back.data[2] == gray.data[0]);
  fr_image_free(&back);
  remove(path);

  /* A wrapped image with padded rows saves only its pixels. */
  uint8_t buf[4 * 10];
  for (int i = 0; i < 40; i++) buf[i] = (uint8_t)(i * 7);
  fr_image wrapped;
  CHECK_OK(fr_image_wrap(buf, 3, 4, 10, FR_PIXEL_GRAY, &wrapped, &err), &err);
  snprintf(path, sizeof path, "%s/wrapped.pgm", dir);
  CHECK_OK(fr_image_save(&wrapped, path, &err), &err);
  CHECK_OK(fr_image_load(path, NULL, &back, &err), &err);
  CHECK(images_equal(&wrapped, &back));
  fr_image_free(&back);
  remove(path);

  /* Bad extension and unwritable path. */
  snprintf(path, sizeof path, "%s/x.gif", dir);
  CHECK(fr_image_save(&rgb, path, &err) == FR_E_UNSUPPORTED);
  snprintf(path, sizeof path, "%s/no/such/dir/x.png", dir);
  CHECK(fr_image_save(&rgb, path, &err) == FR_E_IO);
  CHECK(strstr(err.message, "no/such/dir") != NULL);
  CHECK(fr_image_save(NULL, "x.png", &err) == FR_E_INVALID);
  CHECK(fr_image_save(&rgb, NULL, &err) == FR_E_INVALID);

  fr_image_free(&rgb);
  fr_image_free(&gray);
  CHECK_MSG(rmdir(dir) == 0, "temp dir %s not empty", dir);
}

/* ------------------------------------------------------------------ */
/* Wrapping, allocation and conversion                                  */
/* ------------------------------------------------------------------ */

static void test_wrap_alloc(void) {
  uint8_t buf[64 * 64 * 4];
  fr_image img;
  fr_error err = {0, ""};
  CHECK_OK(fr_image_wrap(buf, 16, 8, 16 * 3, FR_PIXEL_RGB, &img, &err), &err);
  CHECK(img.data == buf && img.width == 16 && img.height == 8 && img.stride == 48 &&
        img.format == FR_PIXEL_RGB);
  CHECK_OK(fr_image_wrap(buf, 16, 8, 100, FR_PIXEL_BGRA, &img, &err), &err);
  CHECK(fr__image_check(&img, &err) == FR_OK);

  CHECK(fr_image_wrap(NULL, 16, 8, 48, FR_PIXEL_RGB, &img, &err) == FR_E_INVALID);
  CHECK(is_zeroed(&img));
  CHECK(fr_image_wrap(buf, 0, 8, 48, FR_PIXEL_RGB, &img, &err) == FR_E_INVALID);
  CHECK(fr_image_wrap(buf, 16, -1, 48, FR_PIXEL_RGB, &img, &err) == FR_E_INVALID);
  CHECK(fr_image_wrap(buf, 16, 8, 47, FR_PIXEL_RGB, &img, &err) == FR_E_INVALID);
  CHECK(strstr(err.message, "stride") != NULL);
  CHECK(fr_image_wrap(buf, 16, 8, -48, FR_PIXEL_RGB, &img, &err) == FR_E_INVALID);
  CHECK(fr_image_wrap(buf, 16, 8, 64, (fr_pixel_format)0, &img, &err) == FR_E_INVALID);
  CHECK(fr_image_wrap(buf, 16, 8, 64, (fr_pixel_format)6, &img, &err) == FR_E_INVALID);
  CHECK(fr_image_wrap(buf, 16, 8, 64, FR_PIXEL_RGB, NULL, &err) == FR_E_INVALID);
  CHECK(fr_image_wrap(buf, 20000, 1, 60000, FR_PIXEL_RGB, &img, &err) == FR_E_LIMIT);
  CHECK(fr_image_wrap(buf, 10000, 10000, 30000, FR_PIXEL_RGB, &img, &err) == FR_E_LIMIT);
  CHECK(fr_image_wrap(buf, 16, 8, 48, FR_PIXEL_RGB, &img, NULL) == FR_OK); /* err may be NULL */
  CHECK(fr_image_wrap(NULL, 16, 8, 48, FR_PIXEL_RGB, &img, NULL) == FR_E_INVALID);

  CHECK(fr_pixel_size(FR_PIXEL_GRAY) == 1 && fr_pixel_size(FR_PIXEL_RGB) == 3 &&
        fr_pixel_size(FR_PIXEL_BGR) == 3 && fr_pixel_size(FR_PIXEL_RGBA) == 4 &&
        fr_pixel_size(FR_PIXEL_BGRA) == 4 && fr_pixel_size((fr_pixel_format)0) == 0 &&
        fr_pixel_size((fr_pixel_format)42) == 0);

  for (int f = 0; f < 5; f++) {
    CHECK_OK(fr_image_alloc(13, 7, all_formats[f], &img, &err), &err);
    CHECK(img.stride == 13 * fr_pixel_size(all_formats[f]) && img.format == all_formats[f]);
    int zero = 1;
    for (int i = 0; i < img.stride * img.height; i++) zero &= img.data[i] == 0;
    CHECK(zero);
    fr_image_free(&img);
  }
  CHECK(fr_image_alloc(0, 7, FR_PIXEL_RGB, &img, &err) == FR_E_INVALID);
  CHECK(fr_image_alloc(7, 7, (fr_pixel_format)9, &img, &err) == FR_E_INVALID);
  CHECK(fr_image_alloc(100000, 7, FR_PIXEL_RGB, &img, &err) == FR_E_LIMIT);
  CHECK(is_zeroed(&img));

  fr_image bad = {buf, 4, 4, 2, FR_PIXEL_RGB};
  CHECK(fr__image_check(&bad, &err) == FR_E_INVALID);
  bad.stride = 12;
  bad.data = NULL;
  CHECK(fr__image_check(&bad, &err) == FR_E_INVALID);
  CHECK(fr__image_check(NULL, &err) == FR_E_INVALID);
}

static uint8_t ref_luma(const uint8_t rgb[3]) {
  double y = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
  return (uint8_t)floor(y + 0.5);
}

static void test_convert(void) {
  fr_error err = {0, ""};
  /* A source with padded rows, made through wrap, in every format. */
  const int w = 11, h = 6;
  fr_image base = random_rgb(w, h);
  for (int sf = 0; sf < 5; sf++) {
    fr_image tight;
    CHECK_OK(fr_image_convert(&base, all_formats[sf], &tight, &err), &err);
    int bpp = fr_pixel_size(all_formats[sf]);
    int stride = w * bpp + 5;
    uint8_t *buf = malloc((size_t)stride * h);
    memset(buf, 0xAB, (size_t)stride * h);
    for (int y = 0; y < h; y++)
      memcpy(buf + y * stride, tight.data + y * tight.stride, (size_t)w * bpp);
    fr_image src;
    CHECK_OK(fr_image_wrap(buf, w, h, stride, all_formats[sf], &src, &err), &err);

    for (int df = 0; df < 5; df++) {
      fr_image dst;
      CHECK_OK(fr_image_convert(&src, all_formats[df], &dst, &err), &err);
      if (!dst.data) continue;
      CHECK(dst.width == w && dst.height == h && dst.format == all_formats[df]);
      int ok = 1;
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
          uint8_t s[3], d[3];
          fr__pixel_rgb(&src, x, y, s);
          fr__pixel_rgb(&dst, x, y, d);
          if (all_formats[df] == FR_PIXEL_GRAY && all_formats[sf] != FR_PIXEL_GRAY) {
            uint8_t l = ref_luma(s);
            ok &= abs(d[0] - l) <= 1; /* the library rounds in integers */
          } else {
            ok &= memcmp(s, d, 3) == 0;
          }
          const uint8_t *p =
              dst.data + (size_t)y * dst.stride + (size_t)x * fr_pixel_size(dst.format);
          if (all_formats[df] == FR_PIXEL_BGR || all_formats[df] == FR_PIXEL_BGRA)
            ok &= p[0] == d[2] && p[2] == d[0];
          if ((all_formats[df] == FR_PIXEL_RGBA || all_formats[df] == FR_PIXEL_BGRA) && sf != df)
            ok &= p[3] == 255;
        }
      CHECK_MSG(ok, "convert %d -> %d wrong", sf, df);
      fr_image_free(&dst);
    }
    /* Converting in place through the same struct works. */
    fr_image copy;
    CHECK_OK(fr_image_convert(&src, all_formats[sf], &copy, &err), &err);
    fr_image keep = copy;
    CHECK_OK(fr_image_convert(&copy, FR_PIXEL_BGR, &copy, &err), &err);
    CHECK(copy.format == FR_PIXEL_BGR && copy.data != keep.data);
    fr_image_free(&keep);
    fr_image_free(&copy);
    fr_image_free(&tight);
    free(buf);
  }
  /* Colour formats survive a round trip through each other exactly. */
  fr_image a, b;
  CHECK_OK(fr_image_convert(&base, FR_PIXEL_BGRA, &a, &err), &err);
  CHECK_OK(fr_image_convert(&a, FR_PIXEL_RGB, &b, &err), &err);
  CHECK(images_equal(&base, &b));
  fr_image_free(&a);
  fr_image_free(&b);

  fr_image out;
  CHECK(fr_image_convert(NULL, FR_PIXEL_RGB, &out, &err) == FR_E_INVALID);
  CHECK(is_zeroed(&out));
  CHECK(fr_image_convert(&base, (fr_pixel_format)0, &out, &err) == FR_E_INVALID);
  CHECK(fr_image_convert(&base, FR_PIXEL_RGB, NULL, &err) == FR_E_INVALID);
  fr_image_free(&base);
}

/* ------------------------------------------------------------------ */
/* Hostile and malformed input                                          */
/* ------------------------------------------------------------------ */

static fr_status decode(const void *bytes, size_t n, fr_image *img, fr_error *err) {
  fr_status st = fr_image_decode(bytes, n, NULL, img, err);
  if (st != FR_OK) CHECK_MSG(is_zeroed(img), "failed decode left a non-zero image");
  return st;
}

static void test_bad_jpeg(void) {
  fr_error err = {0, ""};
  fr_image img;
  static const char *jpegs[] = {"bbt/test/images/angry_cropped.jpg", "bbt/test/images/angry.jpg",
                                "bbt/test/images/faces.jpg"};
  for (size_t f = 0; f < 3; f++) {
    size_t n;
    uint8_t *orig = slurp(check_data(jpegs[f]), &n);
    CHECK_MSG(orig != NULL, "cannot read %s", jpegs[f]);
    if (!orig) continue;
    uint8_t *b = malloc(n);

    /* Truncated to half, and to just the headers. */
    CHECK_MSG(decode(orig, n / 2, &img, &err) == FR_E_FORMAT, "%s half: %s", jpegs[f], err.message);
    CHECK(strstr(err.message, "JPEG") != NULL);
    CHECK(decode(orig, 200, &img, &err) == FR_E_FORMAT);
    CHECK(decode(orig, 3, &img, &err) == FR_E_FORMAT);
    CHECK(decode(orig, n - 2, &img, &err) == FR_E_FORMAT); /* no EOI */

    /* Flipped bytes in the entropy data: any outcome but a crash, and the
     * same outcome every time. */
    size_t scan = find_scan_data(orig, n);
    CHECK(scan > 0 && scan < n);
    for (int trial = 0; trial < 8 && scan > 0; trial++) {
      memcpy(b, orig, n);
      size_t at = scan + (n - scan) * (size_t)(trial + 1) / 10;
      for (size_t k = 0; k < 16 && at + k < n - 2; k++) b[at + k] ^= (uint8_t)(0x5A + 17 * k);
      fr_image i1, i2;
      fr_status s1 = decode(b, n, &i1, &err);
      fr_status s2 = decode(b, n, &i2, &err);
      CHECK(s1 == s2);
      CHECK(s1 == FR_OK || s1 == FR_E_FORMAT);
      if (s1 == FR_OK && s2 == FR_OK) CHECK(images_equal(&i1, &i2));
      fr_image_free(&i1);
      fr_image_free(&i2);
    }

    size_t sof = find_sof(orig, n);
    CHECK_MSG(sof > 0, "no SOF in %s", jpegs[f]);
    if (sof) {
      /* SOF: FF Cx, length(2), precision(1), height(2), width(2), ncomp(1). */
      static const uint16_t sizes[][2] = {{0, 100}, {100, 0}, {60000, 60000}, {16385, 10}};
      static const fr_status want[] = {FR_E_FORMAT, FR_E_FORMAT, FR_E_LIMIT, FR_E_LIMIT};
      for (int k = 0; k < 4; k++) {
        memcpy(b, orig, n);
        b[sof + 5] = (uint8_t)(sizes[k][1] >> 8);
        b[sof + 6] = (uint8_t)sizes[k][1];
        b[sof + 7] = (uint8_t)(sizes[k][0] >> 8);
        b[sof + 8] = (uint8_t)sizes[k][0];
        fr_status st = decode(b, n, &img, &err);
        CHECK_MSG(st == want[k], "%s as %ux%u: status %d (%s)", jpegs[f], sizes[k][0], sizes[k][1],
                  st, err.message);
        fr_image_free(&img);
      }
      /* Header corruption: a bad precision, and a component count that
       * disagrees with the segment length. */
      memcpy(b, orig, n);
      b[sof + 4] = 7;
      CHECK(decode(b, n, &img, &err) == FR_E_FORMAT);
      memcpy(b, orig, n);
      b[sof + 9] = 0;
      CHECK(decode(b, n, &img, &err) == FR_E_FORMAT);
      memcpy(b, orig, n);
      b[sof + 2] = 0xFF; /* segment length runs far past the data */
      CHECK(decode(b, n, &img, &err) == FR_E_FORMAT);
      /* An unsupported process (lossless, SOF3). */
      memcpy(b, orig, n);
      b[sof + 1] = 0xC3;
      fr_status st = decode(b, n, &img, &err);
      CHECK_MSG(st == FR_E_UNSUPPORTED || st == FR_E_FORMAT, "SOF3: %d", st);
      fr_image_free(&img);
    }

    /* Caller limits below the image size. */
    fr_image_limits small_side = {100, FR_DEFAULT_MAX_PIXELS};
    CHECK(fr_image_decode(orig, n, &small_side, &img, &err) == FR_E_LIMIT);
    CHECK(strstr(err.message, "100") != NULL);
    fr_image_limits few_pixels = {FR_DEFAULT_MAX_DIMENSION, 1000};
    CHECK(fr_image_decode(orig, n, &few_pixels, &img, &err) == FR_E_LIMIT);
    fr_image_limits zero = {0, 0};
    CHECK(fr_image_decode(orig, n, &zero, &img, &err) == FR_E_INVALID);
    free(b);
    free(orig);
  }
}

static void test_bad_png(void) {
  fr_error err = {0, ""};
  fr_image img;
  uint8_t hdr[64];
  size_t n = build_png_header(hdr, 60000, 60000, 8, 2, 0);
  CHECK_MSG(decode(hdr, n, &img, &err) == FR_E_LIMIT, "%s", err.message);
  CHECK(strstr(err.message, "60000") != NULL);
  n = build_png_header(hdr, 20000, 10, 8, 2, 0);
  CHECK(decode(hdr, n, &img, &err) == FR_E_LIMIT);
  n = build_png_header(hdr, 10000, 10000, 8, 0, 0);
  CHECK_MSG(decode(hdr, n, &img, &err) == FR_E_LIMIT, "%s", err.message);
  n = build_png_header(hdr, 0, 10, 8, 2, 0);
  CHECK(decode(hdr, n, &img, &err) == FR_E_FORMAT);
  n = build_png_header(hdr, 10, 10, 8, 2, 1);
  CHECK(decode(hdr, n, &img, &err) == FR_E_FORMAT); /* bad IHDR CRC */
  n = build_png_header(hdr, 10, 10, 7, 2, 0);
  CHECK(decode(hdr, n, &img, &err) == FR_E_FORMAT); /* bad bit depth */
  n = build_png_header(hdr, 10, 10, 8, 2, 0);
  CHECK(decode(hdr, n, &img, &err) == FR_E_FORMAT); /* no IDAT */
  CHECK(decode(hdr, 20, &img, &err) == FR_E_FORMAT);

  size_t fn;
  uint8_t *orig = slurp(check_data("bbt/test/images/face_rectangular.png"), &fn);
  CHECK(orig != NULL);
  if (orig) {
    CHECK(decode(orig, fn / 2, &img, &err) == FR_E_FORMAT);
    CHECK(strstr(err.message, "PNG") != NULL);
    uint8_t *b = malloc(fn);
    for (int trial = 0; trial < 6; trial++) {
      memcpy(b, orig, fn);
      size_t at = 60 + (fn - 60) * (size_t)(trial + 1) / 8;
      for (size_t k = 0; k < 8 && at + k < fn; k++) b[at + k] ^= 0xA5;
      fr_status st = decode(b, fn, &img, &err);
      CHECK(st == FR_OK || st == FR_E_FORMAT);
      fr_image_free(&img);
    }
    free(b);
    free(orig);
  }
}

/* Encodes a PNG with libspng from raw PNG-layout samples. */
static uint8_t *encode_png(uint32_t w, uint32_t h, uint8_t depth, uint8_t ctype, int interlace,
                           const void *raw, size_t raw_len, const struct spng_plte *plte,
                           size_t *out_len) {
  spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
  struct spng_ihdr ihdr = {w, h, depth, ctype, 0, 0, (uint8_t)interlace};
  spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
  int rc = spng_set_ihdr(ctx, &ihdr);
  if (!rc && plte) rc = spng_set_plte(ctx, (struct spng_plte *)plte);
  if (!rc) rc = spng_encode_image(ctx, raw, raw_len, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
  void *png = NULL;
  if (!rc) png = spng_get_png_buffer(ctx, out_len, &rc);
  if (rc) fprintf(stderr, "encode_png: %s\n", spng_strerror(rc));
  spng_ctx_free(ctx);
  return png;
}

static void test_png_variants(void) {
  fr_error err = {0, ""};
  fr_image img;
  const uint32_t w = 5, h = 3;
  size_t len;
  uint8_t *png;

  /* 16-bit gray (host-endian samples for SPNG_FMT_PNG) reduces to the high byte. */
  uint16_t g16[15];
  for (int i = 0; i < 15; i++) g16[i] = (uint16_t)(0x1234 + 0x0F00 * i);
  png = encode_png(w, h, 16, 0, 0, g16, sizeof g16, NULL, &len);
  CHECK(png != NULL);
  if (png) {
    CHECK_OK(decode(png, len, &img, &err), &err);
    CHECK(img.format == FR_PIXEL_GRAY && img.width == 5 && img.height == 3);
    if (img.data)
      CHECK_MSG(img.data[0] == 0x12 && img.data[14] == (g16[14] >> 8), "got %02x %02x", img.data[0],
                img.data[14]);
    fr_image_free(&img);
    free(png);
  }
  /* Gray + alpha: alpha dropped. */
  uint8_t ga[30];
  for (int i = 0; i < 15; i++) {
    ga[2 * i] = (uint8_t)(i * 10);
    ga[2 * i + 1] = (uint8_t)(255 - i);
  }
  png = encode_png(w, h, 8, 4, 0, ga, sizeof ga, NULL, &len);
  CHECK(png != NULL);
  if (png) {
    CHECK_OK(decode(png, len, &img, &err), &err);
    CHECK(img.format == FR_PIXEL_GRAY);
    int ok = img.data != NULL;
    for (int i = 0; ok && i < 15; i++) ok &= img.data[i] == i * 10;
    CHECK(ok);
    fr_image_free(&img);
    free(png);
  }
  /* 1-bit gray expands to 0 and 255. */
  uint8_t g1[3] = {0xA8, 0x50, 0xF8}; /* rows 10101, 01010, 11111 */
  png = encode_png(w, h, 1, 0, 0, g1, sizeof g1, NULL, &len);
  CHECK(png != NULL);
  if (png) {
    CHECK_OK(decode(png, len, &img, &err), &err);
    if (img.data)
      CHECK(img.format == FR_PIXEL_GRAY && img.data[0] == 255 && img.data[1] == 0 &&
            img.data[5] == 0 && img.data[6] == 255 && img.data[14] == 255);
    fr_image_free(&img);
    free(png);
  }
  /* RGBA: alpha dropped, colour kept. Interlaced too. */
  uint8_t rgba[60];
  for (int i = 0; i < 60; i++) rgba[i] = (uint8_t)rng();
  for (int il = 0; il < 2; il++) {
    png = encode_png(w, h, 8, 6, il, rgba, sizeof rgba, NULL, &len);
    CHECK(png != NULL);
    if (!png) continue;
    CHECK_OK(decode(png, len, &img, &err), &err);
    int ok = img.data != NULL && img.format == FR_PIXEL_RGB;
    for (int i = 0; ok && i < 15; i++) ok &= memcmp(img.data + 3 * i, rgba + 4 * i, 3) == 0;
    CHECK_MSG(ok, "RGBA (interlace %d) decoded wrong", il);
    fr_image_free(&img);
    free(png);
  }
  /* 16-bit RGB. */
  uint16_t rgb16[45];
  for (int i = 0; i < 45; i++) rgb16[i] = (uint16_t)rng();
  png = encode_png(w, h, 16, 2, 0, rgb16, sizeof rgb16, NULL, &len);
  CHECK(png != NULL);
  if (png) {
    CHECK_OK(decode(png, len, &img, &err), &err);
    int ok = img.data != NULL && img.format == FR_PIXEL_RGB;
    for (int i = 0; ok && i < 45; i++) ok &= img.data[i] == rgb16[i] >> 8;
    CHECK(ok);
    fr_image_free(&img);
    free(png);
  }
  /* Palette. */
  static struct spng_plte plte;
  plte.n_entries = 3;
  plte.entries[0] = (struct spng_plte_entry){10, 20, 30, 255};
  plte.entries[1] = (struct spng_plte_entry){40, 50, 60, 255};
  plte.entries[2] = (struct spng_plte_entry){70, 80, 90, 255};
  uint8_t idx[15];
  for (int i = 0; i < 15; i++) idx[i] = (uint8_t)(i % 3);
  png = encode_png(w, h, 8, 3, 0, idx, sizeof idx, &plte, &len);
  CHECK(png != NULL);
  if (png) {
    CHECK_OK(decode(png, len, &img, &err), &err);
    int ok = img.data != NULL && img.format == FR_PIXEL_RGB;
    for (int i = 0; ok && i < 15; i++)
      ok &= img.data[3 * i] == 10 + 30 * (i % 3) && img.data[3 * i + 2] == 30 + 30 * (i % 3);
    CHECK(ok);
    fr_image_free(&img);
    free(png);
  }
}

static void test_pnm(void) {
  fr_error err = {0, ""};
  fr_image img;
  const char *big = "P6\n60000 60000\n255\n";
  CHECK_MSG(decode(big, strlen(big), &img, &err) == FR_E_LIMIT, "%s", err.message);
  CHECK(strstr(err.message, "60000") != NULL);
  const char *huge = "P5 99999999999999999999 2 255\n";
  CHECK(decode(huge, strlen(huge), &img, &err) == FR_E_LIMIT);
  const char *zero = "P5\n0 10\n255\n";
  CHECK(decode(zero, strlen(zero), &img, &err) == FR_E_FORMAT);
  const char *trunc = "P6\n4 4\n255\nabc";
  CHECK(decode(trunc, strlen(trunc), &img, &err) == FR_E_FORMAT);
  const char *maxval0 = "P5\n1 1\n0\n\x01";
  CHECK(decode(maxval0, strlen(maxval0), &img, &err) == FR_E_FORMAT);
  const char *maxval_big = "P5\n1 1\n70000\n\x01\x01";
  CHECK(decode(maxval_big, strlen(maxval_big), &img, &err) == FR_E_FORMAT);
  const char *nohdr = "P5\n3";
  CHECK(decode(nohdr, strlen(nohdr), &img, &err) == FR_E_FORMAT);
  const char *noval = "P2\n2 2\n255\n1 2 3";
  CHECK(decode(noval, strlen(noval), &img, &err) == FR_E_FORMAT);
  const char *above = "P2\n2 1\n15\n3 16\n";
  CHECK(decode(above, strlen(above), &img, &err) == FR_E_FORMAT);
  const char *junk = "P2\n2 1\n15\n3 x\n";
  CHECK(decode(junk, strlen(junk), &img, &err) == FR_E_FORMAT);
  const char *p4 = "P4\n8 1\n\xff";
  CHECK(decode(p4, strlen(p4), &img, &err) == FR_E_UNSUPPORTED);

  /* ASCII gray with comments and maxval 15: v * 255 / 15 = v * 17. */
  const char *p2 = "P2\n# a comment\n3 2 # trailing\n15\n0 1 2\n# mid\n13 14 15\n";
  CHECK_OK(decode(p2, strlen(p2), &img, &err), &err);
  if (img.data) {
    CHECK(img.width == 3 && img.height == 2 && img.format == FR_PIXEL_GRAY);
    CHECK(img.data[0] == 0 && img.data[1] == 17 && img.data[5] == 255 && img.data[3] == 221);
  }
  fr_image_free(&img);
  /* ASCII colour. */
  const char *p3 = "P3 2 1 255 1 2 3 250 251 252";
  CHECK_OK(decode(p3, strlen(p3), &img, &err), &err);
  if (img.data) {
    CHECK(img.format == FR_PIXEL_RGB && img.width == 2);
    CHECK(img.data[0] == 1 && img.data[2] == 3 && img.data[5] == 252);
  }
  fr_image_free(&img);
  /* Binary 16-bit, big-endian. */
  const uint8_t p5_16[] = {'P', '5', '\n', '2',  ' ',  '1',  '\n', '6', '5',
                           '5', '3', '5',  '\n', 0x12, 0x34, 0xFF, 0xFF};
  CHECK_OK(decode(p5_16, sizeof p5_16, &img, &err), &err);
  if (img.data) CHECK(img.data[0] == 0x12 && img.data[1] == 255);
  fr_image_free(&img);
  /* Binary with a small maxval. */
  const uint8_t p5_3[] = {'P', '5', ' ', '2', ' ', '1', ' ', '3', '\n', 3, 1};
  CHECK_OK(decode(p5_3, sizeof p5_3, &img, &err), &err);
  if (img.data) CHECK(img.data[0] == 255 && img.data[1] == 85);
  fr_image_free(&img);
  const uint8_t p5_bad[] = {'P', '5', ' ', '2', ' ', '1', ' ', '3', '\n', 3, 4};
  CHECK(decode(p5_bad, sizeof p5_bad, &img, &err) == FR_E_FORMAT);
}

static void test_garbage(void) {
  fr_error err = {0, ""};
  fr_image img;
  uint8_t junk[256];
  for (int i = 0; i < 256; i++) junk[i] = (uint8_t)rng();
  junk[0] = 0x00;
  CHECK(decode(junk, sizeof junk, &img, &err) == FR_E_UNSUPPORTED);
  CHECK(strstr(err.message, "unrecognised") != NULL);
  CHECK(decode("GIF89a", 6, &img, &err) == FR_E_UNSUPPORTED);
  CHECK(decode("", 0, &img, &err) == FR_E_FORMAT);
  CHECK(decode("\xff\xd8", 2, &img, &err) == FR_E_UNSUPPORTED); /* too short to sniff */
  CHECK(decode("\xff\xd8\xff", 3, &img, &err) == FR_E_FORMAT);
  CHECK(fr_image_decode(NULL, 10, NULL, &img, &err) == FR_E_INVALID);
  CHECK(fr_image_decode(junk, 10, NULL, NULL, &err) == FR_E_INVALID);
  CHECK(fr_image_decode(junk, sizeof junk, NULL, &img, NULL) == FR_E_UNSUPPORTED);
  /* Every JPEG marker prefix followed by random bytes. */
  for (int t = 0; t < 200; t++) {
    uint8_t b[300];
    size_t n = 3 + rng() % 297;
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)rng();
    b[0] = 0xFF;
    b[1] = 0xD8;
    b[2] = 0xFF;
    fr_status st = decode(b, n, &img, &err);
    CHECK(st != FR_OK || img.data != NULL);
    fr_image_free(&img);
  }
}

/* ------------------------------------------------------------------ */
/* EXIF orientation                                                     */
/* ------------------------------------------------------------------ */

enum { RED, GREEN, BLUE, WHITE };
static const uint8_t quad_colour[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}};

/* Encodes a 64x32 JPEG with solid quadrants (top-left red, top-right green,
 * bottom-left blue, bottom-right white) and an optional APP1 payload. */
static uint8_t *encode_quadrants(const uint8_t *app1, size_t app1_len, size_t *out_len) {
  const int W = 64, H = 32;
  uint8_t *px = malloc((size_t)W * H * 3);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      int q = (y >= H / 2) * 2 + (x >= W / 2);
      memcpy(px + (y * W + x) * 3, quad_colour[q], 3);
    }
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr jerr;
  c.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&c);
  unsigned char *buf = NULL;
  unsigned long len = 0;
  jpeg_mem_dest(&c, &buf, &len);
  c.image_width = (JDIMENSION)W;
  c.image_height = (JDIMENSION)H;
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 100, TRUE);
  for (int i = 0; i < 3; i++) c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
  jpeg_start_compress(&c, TRUE);
  if (app1) jpeg_write_marker(&c, JPEG_APP0 + 1, app1, (unsigned)app1_len);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = px + c.next_scanline * W * 3;
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  free(px);
  *out_len = len;
  return buf;
}

/* An Exif payload whose IFD0 holds an orientation tag (and a dummy tag
 * before it, so the reader has to walk the entries). */
static size_t build_exif(uint8_t *p, int le, int orientation) {
  memcpy(p, "Exif\0\0", 6);
  uint8_t *t = p + 6;
#define W16(o, v)                                                                                  \
  (le ? (t[o] = (uint8_t)(v), t[(o) + 1] = (uint8_t)((v) >> 8))                                    \
      : (t[o] = (uint8_t)((v) >> 8), t[(o) + 1] = (uint8_t)(v)))
#define W32(o, v)                                                                                  \
  (le ? (W16(o, (v)&0xFFFF), W16((o) + 2, (v) >> 16))                                              \
      : (W16(o, (v) >> 16), W16((o) + 2, (v)&0xFFFF)))
  t[0] = t[1] = le ? 'I' : 'M';
  W16(2, 42);
  W32(4, 8);
  W16(8, 2);       /* two entries */
  W16(10, 0x010F); /* Make */
  W16(12, 2);      /* ASCII */
  W32(14, 4);
  memcpy(t + 18, "abc", 4);
  W16(22, 0x0112); /* Orientation */
  W16(24, 3);      /* SHORT */
  W32(26, 1);
  W32(30, 0);
  W16(30, orientation);
  W32(34, 0); /* no next IFD */
#undef W16
#undef W32
  return 6 + 38;
}

static int colour_near(const uint8_t *px, const uint8_t *want) {
  for (int c = 0; c < 3; c++)
    if (abs(px[c] - want[c]) > 12) return 0;
  return 1;
}

static void test_exif(void) {
  /* Expected colours at the output's TL, TR, BL, BR corners, per orientation,
   * worked out by hand from the EXIF definitions. */
  static const int corners[9][4] = {
      {0, 0, 0, 0},
      {RED, GREEN, BLUE, WHITE}, /* 1: as stored */
      {GREEN, RED, WHITE, BLUE}, /* 2: mirrored */
      {WHITE, BLUE, GREEN, RED}, /* 3: rotated 180 */
      {BLUE, WHITE, RED, GREEN}, /* 4: flipped vertically */
      {RED, BLUE, GREEN, WHITE}, /* 5: transposed */
      {BLUE, RED, WHITE, GREEN}, /* 6: rotate 90 clockwise */
      {WHITE, GREEN, BLUE, RED}, /* 7: transversed */
      {GREEN, WHITE, RED, BLUE}, /* 8: rotate 90 counter-clockwise */
  };
  fr_error err = {0, ""};
  for (int le = 0; le < 2; le++)
    for (int o = 1; o <= 8; o++) {
      uint8_t exif[64];
      size_t elen = build_exif(exif, le, o);
      size_t n;
      uint8_t *jpg = encode_quadrants(exif, elen, &n);
      fr_image img;
      CHECK_OK(decode(jpg, n, &img, &err), &err);
      free(jpg);
      if (!img.data) continue;
      int swap = o >= 5;
      CHECK_MSG(img.width == (swap ? 32 : 64) && img.height == (swap ? 64 : 32),
                "orientation %d: %dx%d", o, img.width, img.height);
      const int xs[4] = {1, img.width - 2, 1, img.width - 2};
      const int ys[4] = {1, 1, img.height - 2, img.height - 2};
      for (int k = 0; k < 4; k++) {
        const uint8_t *p = img.data + (size_t)ys[k] * img.stride + (size_t)xs[k] * 3;
        CHECK_MSG(colour_near(p, quad_colour[corners[o][k]]),
                  "orientation %d (%s) corner %d is %d,%d,%d", o, le ? "II" : "MM", k, p[0], p[1],
                  p[2]);
      }
      fr_image_free(&img);
    }

  /* Malformed EXIF is ignored: the image decodes as stored. */
  uint8_t exif[64];
  for (int variant = 0; variant < 5; variant++) {
    size_t elen = build_exif(exif, 0, 6);
    switch (variant) {
    case 0: exif[6 + 4] = 0x7F; break; /* IFD offset far outside */
    case 1: /* 65535 entries claimed, no orientation among the real ones */
      exif[6 + 8] = 0xFF;
      exif[6 + 9] = 0xFF;
      exif[6 + 23] = 0x13;
      break;
    case 2: elen = 6 + 30; break;    /* cut inside the entry */
    case 3: exif[6 + 31] = 9; break; /* orientation 9 */
    default: exif[6 + 3] = 0; break; /* not TIFF magic 42 */
    }
    size_t n;
    uint8_t *jpg = encode_quadrants(exif, elen, &n);
    fr_image img;
    CHECK_OK(decode(jpg, n, &img, &err), &err);
    CHECK_MSG(img.width == 64 && img.height == 32, "malformed EXIF variant %d: %dx%d", variant,
              img.width, img.height);
    fr_image_free(&img);
    free(jpg);
  }
  /* An APP1 that is not Exif (XMP) is ignored. */
  const char *xmp = "http://ns.adobe.com/xap/1.0/\0<x/>";
  size_t n;
  uint8_t *jpg = encode_quadrants((const uint8_t *)xmp, 34, &n);
  fr_image img;
  CHECK_OK(decode(jpg, n, &img, &err), &err);
  CHECK(img.width == 64 && img.height == 32);
  fr_image_free(&img);
  free(jpg);
}

/* ------------------------------------------------------------------ */
/* fr__image_to_tensor and fr__warp_affine                              */
/* ------------------------------------------------------------------ */

/* A plain double-precision version of pad-to-square + TF bilinear resize. */
static void ref_to_tensor(const fr_image *img, int x, int y, int w, int h, int size, int center,
                          double *out) {
  int side = w > h ? w : h;
  double *sq = calloc((size_t)side * side * 3, sizeof *sq);
  int diff = abs(w - h);
  int after = (int)floor(diff * (center ? 0.5 : 1.0) + 0.5); /* JS Math.round */
  int before = diff - after;
  int ox = 0, oy = 0;
  if (center) {
    if (h > w)
      ox = before;
    else
      oy = before;
  }
  for (int j = 0; j < h; j++)
    for (int i = 0; i < w; i++) {
      uint8_t rgb[3];
      fr__pixel_rgb(img, x + i, y + j, rgb);
      for (int c = 0; c < 3; c++) sq[((size_t)(j + oy) * side + (i + ox)) * 3 + c] = rgb[c];
    }
  double scale = (double)side / size;
  for (int r = 0; r < size; r++) {
    double sy = r * scale;
    int y0 = (int)floor(sy), y1 = y0 + 1 < side ? y0 + 1 : side - 1;
    double fy = sy - y0;
    for (int q = 0; q < size; q++) {
      double sx = q * scale;
      int x0 = (int)floor(sx), x1 = x0 + 1 < side ? x0 + 1 : side - 1;
      double fx = sx - x0;
      for (int c = 0; c < 3; c++) {
        double tl = sq[((size_t)y0 * side + x0) * 3 + c], tr = sq[((size_t)y0 * side + x1) * 3 + c];
        double bl = sq[((size_t)y1 * side + x0) * 3 + c], br = sq[((size_t)y1 * side + x1) * 3 + c];
        double top = tl + (tr - tl) * fx, bottom = bl + (br - bl) * fx;
        out[((size_t)r * size + q) * 3 + c] = top + (bottom - top) * fy;
      }
    }
  }
  free(sq);
}

static void test_to_tensor(void) {
  static const struct {
    int iw, ih, x, y, w, h, size;
  } cases[] = {
      {7, 5, 0, 0, 7, 5, 4},      {5, 7, 0, 0, 5, 7, 9},       {13, 13, 0, 0, 13, 13, 8},
      {20, 11, 0, 0, 20, 11, 16}, {11, 20, 0, 0, 11, 20, 16},  {30, 25, 3, 4, 17, 12, 10},
      {9, 4, 0, 0, 9, 4, 32},     {40, 37, 5, 2, 33, 30, 7},   {6, 1, 0, 0, 6, 1, 3},
      {1, 1, 0, 0, 1, 1, 5},      {23, 10, 0, 0, 23, 10, 150},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    fr_image rgb = random_rgb(cases[k].iw, cases[k].ih);
    for (int f = 0; f < 5; f++) {
      fr_image img;
      fr_error err;
      if (fr_image_convert(&rgb, all_formats[f], &img, &err) != FR_OK) continue;
      for (int center = 0; center < 2; center++) {
        int size = cases[k].size;
        float *got = malloc((size_t)size * size * 3 * sizeof *got);
        double *want = malloc((size_t)size * size * 3 * sizeof *want);
        int side = -1;
        fr__image_to_tensor(&img, cases[k].x, cases[k].y, cases[k].w, cases[k].h, size, center, got,
                            &side);
        ref_to_tensor(&img, cases[k].x, cases[k].y, cases[k].w, cases[k].h, size, center, want);
        CHECK(side == (cases[k].w > cases[k].h ? cases[k].w : cases[k].h));
        double worst = 0;
        for (size_t i = 0; i < (size_t)size * size * 3; i++) {
          double d = fabs(got[i] - want[i]);
          if (d > worst) worst = d;
        }
        CHECK_MSG(worst < 1e-3, "case %zu format %d center %d: max diff %g", k, f, center, worst);
        free(got);
        free(want);
      }
      fr_image_free(&img);
    }
    fr_image_free(&rgb);
  }

  /* Identity: a square of the network size passes through exactly. */
  fr_image sq = random_rgb(16, 16);
  float t[16 * 16 * 3];
  int side = 0;
  fr__image_to_tensor(&sq, 0, 0, 16, 16, 16, 1, t, &side);
  int same = side == 16;
  for (int i = 0; i < 16 * 16 * 3; i++) same &= t[i] == (float)sq.data[i];
  CHECK(same);
  fr_image_free(&sq);

  /* Padding without resize: 16x9 into 16, centred: diff 7, so
   * Math.round(3.5) = 4 rows after and 3 before. */
  fr_image wide = random_rgb(16, 9);
  fr__image_to_tensor(&wide, 0, 0, 16, 9, 16, 1, t, &side);
  int ok = side == 16;
  for (int r = 0; r < 16; r++)
    for (int c = 0; c < 16 * 3; c++) {
      float v = t[r * 48 + c];
      if (r < 3 || r >= 12)
        ok &= v == 0.0f;
      else
        ok &= v == (float)wide.data[(r - 3) * wide.stride + c];
    }
  CHECK_MSG(ok, "centred padding of 16x9 is wrong");
  fr__image_to_tensor(&wide, 0, 0, 16, 9, 16, 0, t, &side);
  ok = 1;
  for (int r = 0; r < 16; r++)
    for (int c = 0; c < 48; c++)
      ok &= r < 9 ? t[r * 48 + c] == (float)wide.data[r * wide.stride + c] : t[r * 48 + c] == 0.0f;
  CHECK_MSG(ok, "bottom padding of 16x9 is wrong");
  fr_image_free(&wide);

  /* TensorFlow's float32 arithmetic on a known case: a 2x2 gray [0 255; 255 0]
   * resized to 3x3: the source coordinates are 0, 2/3 and 4/3 (clamped). */
  uint8_t px[4] = {0, 255, 255, 0};
  fr_image g;
  fr_image_wrap(px, 2, 2, 2, FR_PIXEL_GRAY, &g, NULL);
  float o[27];
  fr__image_to_tensor(&g, 0, 0, 2, 2, 3, 0, o, NULL);
  float s = 2.0f / 3.0f;
  float f1 = 1.0f * s;
  float top1 = 0.0f + (255.0f - 0.0f) * f1; /* row 0 at x = 2/3 */
  CHECK(o[1 * 3] == top1);
  CHECK(o[0] == 0.0f && o[2 * 3] == 255.0f && o[2 * 9 + 2 * 3] == 0.0f);
}

static void test_warp(void) {
  fr_image img = random_rgb(12, 9);
  fr_image chip;
  fr_error err;
  CHECK_OK(fr_image_alloc(12, 9, FR_PIXEL_RGB, &chip, &err), &err);
  const double id[6] = {1, 0, 0, 0, 1, 0};
  fr__warp_affine(&img, id, &chip);
  CHECK(images_equal(&img, &chip));
  /* Half a pixel to the right: the average of two neighbours. */
  const double half[6] = {1, 0, 0.5, 0, 1, 0};
  fr__warp_affine(&img, half, &chip);
  int ok = 1;
  for (int y = 0; y < 9; y++)
    for (int x = 0; x < 11; x++)
      for (int c = 0; c < 3; c++) {
        double want = 0.5 * img.data[y * img.stride + x * 3 + c] +
                      0.5 * img.data[y * img.stride + (x + 1) * 3 + c];
        ok &= fabs(chip.data[y * chip.stride + x * 3 + c] - want) <= 0.5 + 1e-9;
      }
  CHECK(ok);
  /* Entirely outside: black; a NaN matrix as well. */
  const double away[6] = {1, 0, 1000, 0, 1, -1000};
  fr__warp_affine(&img, away, &chip);
  ok = 1;
  for (int i = 0; i < chip.stride * chip.height; i++) ok &= chip.data[i] == 0;
  CHECK(ok);
  const double nan_m[6] = {NAN, 0, 0, 0, 1, 0};
  fr__warp_affine(&img, nan_m, &chip);
  ok = 1;
  for (int i = 0; i < chip.stride * chip.height; i++) ok &= chip.data[i] == 0;
  CHECK(ok);
  /* A 2x downscale chip of a gray source. */
  fr_image gray;
  CHECK_OK(fr_image_convert(&img, FR_PIXEL_GRAY, &gray, &err), &err);
  fr_image small;
  CHECK_OK(fr_image_alloc(6, 4, FR_PIXEL_RGB, &small, &err), &err);
  const double scale2[6] = {2, 0, 0, 0, 2, 0};
  fr__warp_affine(&gray, scale2, &small);
  ok = 1;
  for (int y = 0; y < 4; y++)
    for (int x = 0; x < 6; x++) {
      uint8_t v = gray.data[(2 * y) * gray.stride + 2 * x];
      ok &= small.data[y * small.stride + 3 * x] == v &&
            small.data[y * small.stride + 3 * x + 2] == v;
    }
  CHECK(ok);
  fr_image_free(&small);
  fr_image_free(&gray);
  fr_image_free(&chip);
  fr_image_free(&img);
}

int main(void) {
  test_decode_files();
  test_save_roundtrip();
  test_wrap_alloc();
  test_convert();
  test_bad_jpeg();
  test_bad_png();
  test_png_variants();
  test_pnm();
  test_garbage();
  test_exif();
  test_to_tensor();
  test_warp();
  return check_summary();
}
