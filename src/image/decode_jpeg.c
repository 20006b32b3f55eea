/*
 * decode_jpeg.c - JPEG decoding with libjpeg(-turbo), plus EXIF orientation.
 *
 * libjpeg reports fatal errors through error_exit, which by default prints
 * and calls exit(); here it longjmps back into fr__decode_jpeg instead, and
 * messages are never printed. A premature end of data is only a warning to
 * libjpeg (it pads the stream with a fake EOI and goes on producing gray
 * pixels); that is turned into an error so that truncated files fail loudly
 * instead of yielding half an image.
 */
#include "image/image_internal.h"

#include <limits.h>
#include <setjmp.h>
#include <stdio.h> /* jpeglib.h needs FILE */
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>


/*
 * A progressive JPEG may hold any number of scans, each of which makes libjpeg
 * walk the whole coefficient buffer; a tiny hostile file with thousands of
 * scans would take minutes. Real encoders emit about ten.
 */
#define FR__JPEG_MAX_SCANS 1000

typedef struct jpeg_fail {
  struct jpeg_error_mgr pub; /* first, so libjpeg's err pointer converts to ours */
  jmp_buf jump;
  fr_status status;
  char message[JMSG_LENGTH_MAX + 64];
} jpeg_fail;

static void fail_longjmp(j_common_ptr cinfo, fr_status status) {
  jpeg_fail *f = (jpeg_fail *)cinfo->err;
  char text[JMSG_LENGTH_MAX];
  (*cinfo->err->format_message)(cinfo, text);
  f->status = status;
  snprintf(f->message, sizeof f->message, "%s", text);
  longjmp(f->jump, 1);
}

static void on_error_exit(j_common_ptr cinfo) {
  fr_status st = FR_E_FORMAT;
  switch (cinfo->err->msg_code) {
  case JERR_OUT_OF_MEMORY: st = FR_E_NOMEM; break;
  case JERR_IMAGE_TOO_BIG: st = FR_E_LIMIT; break;
  case JERR_SOF_UNSUPPORTED: st = FR_E_UNSUPPORTED; break;
  default: break;
  }
  fail_longjmp(cinfo, st);
}

/* Warnings are dropped (libjpeg recovers from bad entropy data with a
 * deterministic result), except the end of data, which means truncation. */
static void on_emit_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return; /* trace messages */
  if (cinfo->err->msg_code == JWRN_JPEG_EOF) fail_longjmp(cinfo, FR_E_FORMAT);
  cinfo->err->num_warnings++;
}

/* libjpeg's default prints to stderr; the library never prints. */
static void on_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void on_progress(j_common_ptr cinfo) {
  if (!cinfo->is_decompressor) return;
  j_decompress_ptr d = (j_decompress_ptr)cinfo;
  if (d->input_scan_number > FR__JPEG_MAX_SCANS) {
    jpeg_fail *f = (jpeg_fail *)cinfo->err;
    f->status = FR_E_LIMIT;
    snprintf(f->message, sizeof f->message, "more than %d progressive scans", FR__JPEG_MAX_SCANS);
    longjmp(f->jump, 1);
  }
}

/* ------------------------------------------------------------------ */
/* EXIF orientation                                                     */
/* ------------------------------------------------------------------ */

static uint32_t rd16(const uint8_t *p, int le) {
  return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 : (uint32_t)p[0] << 8 | (uint32_t)p[1];
}

static uint32_t rd32(const uint8_t *p, int le) {
  return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
            : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/*
 * Reads the Orientation tag (0x0112) from IFD0 of an APP1 "Exif" payload.
 * Returns 1..8, or 1 (upright) when the payload is malformed or has no tag:
 * a broken EXIF block is common in the wild and must not reject the image.
 * Every offset comes from the file, so each is checked against the payload
 * length before use.
 */
static int exif_orientation(const uint8_t *d, size_t n) {
  static const uint8_t exif_id[6] = {'E', 'x', 'i', 'f', 0, 0};
  if (n < 6 + 8 || memcmp(d, exif_id, 6) != 0) return 1;
  const uint8_t *tiff = d + 6;
  size_t len = n - 6;
  int le;
  if (tiff[0] == 'I' && tiff[1] == 'I')
    le = 1;
  else if (tiff[0] == 'M' && tiff[1] == 'M')
    le = 0;
  else
    return 1;
  if (rd16(tiff + 2, le) != 42) return 1;
  size_t ifd = rd32(tiff + 4, le);
  if (ifd > len || len - ifd < 2) return 1;
  size_t count = rd16(tiff + ifd, le);
  for (size_t i = 0; i < count; i++) {
    size_t e = ifd + 2 + 12 * i; /* at most len + 2 + 12 * 65535: no overflow */
    if (e > len || len - e < 12) break;
    if (rd16(tiff + e, le) != 0x0112) continue;
    uint32_t type = rd16(tiff + e + 2, le);
    uint32_t cnt = rd32(tiff + e + 4, le);
    uint32_t v;
    if (type == 3 && cnt >= 1) /* SHORT, stored left-justified in the value field */
      v = rd16(tiff + e + 8, le);
    else if (type == 4 && cnt >= 1) /* LONG: not what the spec says, but seen */
      v = rd32(tiff + e + 8, le);
    else
      return 1;
    return v >= 1 && v <= 8 ? (int)v : 1;
  }
  return 1;
}

/* The orientation of the first Exif APP1 segment, 1 if there is none. */
static int find_orientation(j_decompress_ptr cinfo) {
  for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next) {
    if (m->marker != JPEG_APP0 + 1 || m->data_length < 6) continue;
    if (memcmp(m->data, "Exif\0\0", 6) != 0) continue; /* e.g. XMP */
    return exif_orientation(m->data, m->data_length);
  }
  return 1;
}

/*
 * Applies an EXIF orientation to img (replacing its pixels) so the result is
 * upright. Each case gives, for output pixel (x, y), the stored pixel it comes
 * from; orientations 5..8 swap width and height.
 */
static fr_status apply_orientation(fr_image *img, int orientation, fr_error *err) {
  if (orientation <= 1 || orientation > 8) return FR_OK;
  int w = img->width, h = img->height;
  int swap = orientation >= 5;
  fr_image dst;
  fr_status st = fr__image_alloc_owned(swap ? h : w, swap ? w : h, img->format, &dst, err);
  if (st != FR_OK) return st;
  size_t bpp = (size_t)fr_pixel_size(img->format);
  for (int y = 0; y < dst.height; y++) {
    uint8_t *drow = dst.data + (size_t)y * (size_t)dst.stride;
    for (int x = 0; x < dst.width; x++) {
      int sx, sy;
      switch (orientation) {
      case 2:
        sx = w - 1 - x;
        sy = y;
        break; /* mirrored left-right */
      case 3:
        sx = w - 1 - x;
        sy = h - 1 - y;
        break; /* upside down */
      case 4:
        sx = x;
        sy = h - 1 - y;
        break; /* mirrored top-bottom */
      case 5:
        sx = y;
        sy = x;
        break; /* transposed */
      case 6:
        sx = y;
        sy = h - 1 - x;
        break; /* needs 90 degrees clockwise */
      case 7:
        sx = w - 1 - y;
        sy = h - 1 - x;
        break; /* transversed */
      default:
        sx = w - 1 - y;
        sy = x;
        break; /* 8: needs 90 counter-clockwise */
      }
      memcpy(drow + (size_t)x * bpp,
             img->data + (size_t)sy * (size_t)img->stride + (size_t)sx * bpp, bpp);
    }
  }
  fr_image_free(img);
  *img = dst;
  return FR_OK;
}

/* ------------------------------------------------------------------ */
/* Decoding                                                             */
/* ------------------------------------------------------------------ */

/*
 * CMYK to RGB. Adobe applications write CMYK JPEGs with inverted samples
 * (255 = no ink) and mark them with an Adobe APP14 segment; other writers
 * store plain ink amounts.
 */
static void cmyk_row_to_rgb(const uint8_t *src, uint8_t *dst, int width, int inverted) {
  for (int x = 0; x < width; x++) {
    unsigned c = src[4 * x], m = src[4 * x + 1], y = src[4 * x + 2], k = src[4 * x + 3];
    if (!inverted) {
      c = 255 - c;
      m = 255 - m;
      y = 255 - y;
      k = 255 - k;
    }
    dst[3 * x] = (uint8_t)((c * k + 127) / 255);
    dst[3 * x + 1] = (uint8_t)((m * k + 127) / 255);
    dst[3 * x + 2] = (uint8_t)((y * k + 127) / 255);
  }
}

/* Everything one decode needs, kept in one place that outlives the longjmp. */
typedef struct jpeg_job {
  struct jpeg_decompress_struct cinfo;
  jpeg_fail fail;
  struct jpeg_progress_mgr progress;
  uint8_t *row_buf; /* CMYK scanline, converted into out row by row */
  const fr_image_limits *lim;
  fr_image *out;
  fr_error *err;
} jpeg_job;

/*
 * The decode proper, after jpeg_create_decompress. libjpeg failures longjmp
 * out of it to fr__decode_jpeg; other failures return a status. Keeping this
 * in its own function means no local variable lives across the setjmp.
 */
static fr_status decode_body(jpeg_job *job, const uint8_t *bytes, size_t size) {
  j_decompress_ptr cinfo = &job->cinfo;
  fr_image *out = job->out;
  fr_error *err = job->err;

  job->progress.progress_monitor = on_progress;
  cinfo->progress = &job->progress;
  jpeg_mem_src(cinfo, bytes, (unsigned long)size);
  jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xFFFF);
  if (jpeg_read_header(cinfo, TRUE) != JPEG_HEADER_OK)
    return fr__fail(err, FR_E_FORMAT, "JPEG: the stream holds tables but no image");

  /* Check the size from the header before libjpeg allocates anything big. */
  fr_status st =
      fr__image_limits_check(job->lim, cinfo->image_width, cinfo->image_height, "JPEG image", err);
  if (st != FR_OK) return st;

  fr_pixel_format format;
  int cmyk = 0;
  switch (cinfo->jpeg_color_space) {
  case JCS_GRAYSCALE:
    cinfo->out_color_space = JCS_GRAYSCALE;
    format = FR_PIXEL_GRAY;
    break;
  case JCS_YCbCr:
  case JCS_RGB:
    cinfo->out_color_space = JCS_RGB;
    format = FR_PIXEL_RGB;
    break;
  case JCS_CMYK:
  case JCS_YCCK:
    /* libjpeg turns YCCK into CMYK; the rest is done by hand below. */
    cinfo->out_color_space = JCS_CMYK;
    format = FR_PIXEL_RGB;
    cmyk = 1;
    break;
  default:
    return fr__fail(err, FR_E_UNSUPPORTED, "JPEG: unsupported colour space with %d components",
                    cinfo->num_components);
  }
  /* The default integer DCT is exact and identical on every machine. */
  cinfo->dct_method = JDCT_ISLOW;
  int orientation = find_orientation(cinfo);

  jpeg_start_decompress(cinfo);
  int want_components = format == FR_PIXEL_GRAY ? 1 : (cmyk ? 4 : 3);
  if (cinfo->output_width != cinfo->image_width || cinfo->output_height != cinfo->image_height ||
      cinfo->output_components != want_components)
    return fr__fail(err, FR_E_INTERNAL, "JPEG: unexpected output layout %ux%u with %d components",
                    cinfo->output_width, cinfo->output_height, cinfo->output_components);
  st = fr__image_alloc_owned((int)cinfo->output_width, (int)cinfo->output_height, format, out, err);
  if (st != FR_OK) return st;
  if (cmyk) {
    job->row_buf = fr__malloc((size_t)cinfo->output_width * 4);
    if (!job->row_buf)
      return fr__fail(err, FR_E_NOMEM, "JPEG: out of memory for a %u-pixel CMYK row",
                      cinfo->output_width);
  }
  while (cinfo->output_scanline < cinfo->output_height) {
    JDIMENSION y = cinfo->output_scanline;
    uint8_t *dst = out->data + (size_t)y * (size_t)out->stride;
    JSAMPROW row = cmyk ? job->row_buf : dst;
    /* Only a suspending data source returns 0 rows; the memory one does not. */
    if (jpeg_read_scanlines(cinfo, &row, 1) != 1)
      return fr__fail(err, FR_E_INTERNAL, "JPEG: decoder returned no data at row %u", y);
    if (cmyk) cmyk_row_to_rgb(job->row_buf, dst, (int)cinfo->output_width, cinfo->saw_Adobe_marker);
  }
  /* Reads on to EOI, so a file cut right after the last scan fails too. */
  jpeg_finish_decompress(cinfo);
  return apply_orientation(out, orientation, err);
}

fr_status fr__decode_jpeg(const uint8_t *bytes, size_t size, const fr_image_limits *lim,
                          fr_image *out, fr_error *err) {
  memset(out, 0, sizeof *out);
  if (size > ULONG_MAX) return fr__fail(err, FR_E_LIMIT, "JPEG: %zu bytes is too large", size);
  /* On the heap: the decompressor state is large, and a heap object is not a
   * local whose value a longjmp could leave indeterminate. */
  jpeg_job *job = fr__calloc(1, sizeof *job);
  if (!job) return fr__fail(err, FR_E_NOMEM, "JPEG: out of memory creating a decoder");
  job->lim = lim;
  job->out = out;
  job->err = err;
  job->cinfo.err = jpeg_std_error(&job->fail.pub);
  job->fail.pub.error_exit = on_error_exit;
  job->fail.pub.emit_message = on_emit_message;
  job->fail.pub.output_message = on_output_message;
  job->fail.status = FR_E_FORMAT;

  fr_status st;
  if (setjmp(job->fail.jump)) {
    st = fr__fail(err, job->fail.status, "JPEG: %s", job->fail.message);
  } else {
    jpeg_create_decompress(&job->cinfo);
    st = decode_body(job, bytes, size);
  }
  jpeg_destroy_decompress(&job->cinfo);
  fr__free(job->row_buf);
  fr__free(job);
  if (st != FR_OK) fr_image_free(out);
  return st;
}
