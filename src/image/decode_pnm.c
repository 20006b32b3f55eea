/*
 * decode_pnm.c - PGM and PPM (netpbm P2, P3, P5, P6) decoding.
 *
 * The header is parsed by hand with every read bounds-checked, because these
 * files are tiny to forge. Samples with maxval other than 255 are scaled to
 * 0..255 with rounding; 16-bit binary samples are big-endian as the format
 * specifies.
 */
#include "image/image_internal.h"

#include <string.h>


typedef struct pnm_reader {
  const uint8_t *p;
  size_t size;
  size_t pos;
} pnm_reader;

static int is_space(uint8_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Skips whitespace and '#' comments (which run to the end of the line). */
static void skip_space(pnm_reader *r) {
  while (r->pos < r->size) {
    uint8_t c = r->p[r->pos];
    if (is_space(c)) {
      r->pos++;
    } else if (c == '#') {
      while (r->pos < r->size && r->p[r->pos] != '\n' && r->p[r->pos] != '\r') r->pos++;
    } else {
      break;
    }
  }
}

/*
 * Reads an unsigned decimal number after optional whitespace. Returns 1 and
 * the value (capped at cap + 1, so that a huge number reads as "too big"
 * rather than wrapping) or 0 when no digit is there.
 */
static int read_uint(pnm_reader *r, uint32_t cap, uint32_t *value) {
  skip_space(r);
  if (r->pos >= r->size || r->p[r->pos] < '0' || r->p[r->pos] > '9') return 0;
  uint64_t v = 0;
  while (r->pos < r->size && r->p[r->pos] >= '0' && r->p[r->pos] <= '9') {
    v = v * 10 + (uint64_t)(r->p[r->pos] - '0');
    if (v > (uint64_t)cap) v = (uint64_t)cap + 1;
    r->pos++;
  }
  *value = (uint32_t)v;
  return 1;
}

fr_status fr__decode_pnm(const uint8_t *bytes, size_t size, const fr_image_limits *lim,
                         fr_image *out, fr_error *err) {
  memset(out, 0, sizeof *out);
  if (size < 2 || bytes[0] != 'P')
    return fr__fail(err, FR_E_FORMAT, "PNM: missing 'P' magic number");
  char kind = (char)bytes[1];
  int ascii = kind == '2' || kind == '3';
  int channels = (kind == '3' || kind == '6') ? 3 : 1;
  if (kind != '2' && kind != '3' && kind != '5' && kind != '6')
    return fr__fail(err, FR_E_UNSUPPORTED, "PNM: type P%c is not supported", kind);
  const char *what = channels == 3 ? "PPM image" : "PGM image";

  pnm_reader r = {bytes, size, 2};
  if (r.pos < r.size && !is_space(r.p[r.pos]) && r.p[r.pos] != '#')
    return fr__fail(err, FR_E_FORMAT, "%s: no whitespace after the magic number P%c", what, kind);

  /* Caps just above anything the limits could allow keep the arithmetic
   * small; the limit check below gives the user-facing message. */
  const uint32_t dim_cap = 0x7FFFFFFF;
  uint32_t width, height, maxval;
  if (!read_uint(&r, dim_cap, &width))
    return fr__fail(err, FR_E_FORMAT, "%s: missing or malformed width", what);
  if (!read_uint(&r, dim_cap, &height))
    return fr__fail(err, FR_E_FORMAT, "%s: missing or malformed height", what);
  if (!read_uint(&r, 65536, &maxval))
    return fr__fail(err, FR_E_FORMAT, "%s: missing or malformed maxval", what);
  if (maxval < 1 || maxval > 65535)
    return fr__fail(err, FR_E_FORMAT, "%s: maxval %u is outside 1..65535", what, maxval);
  fr_status st = fr__image_limits_check(lim, width, height, what, err);
  if (st != FR_OK) return st;

  /* The header ends with exactly one whitespace character before binary data. */
  if (r.pos >= r.size || !is_space(r.p[r.pos]))
    return fr__fail(err, FR_E_FORMAT, "%s: header is truncated or not followed by whitespace",
                    what);
  r.pos++;

  uint64_t samples = (uint64_t)width * height * (uint64_t)channels;
  size_t remaining = r.size - r.pos;
  int wide = maxval > 255;
  if (!ascii) {
    uint64_t need = samples * (wide ? 2u : 1u);
    if ((uint64_t)remaining < need)
      return fr__fail(err, FR_E_FORMAT, "%s: pixel data truncated (%zu of %llu bytes present)",
                      what, remaining, (unsigned long long)need);
  } else if ((uint64_t)remaining + 1 < samples) {
    /* Every ASCII sample needs at least one digit, so this rejects truncated
     * files before allocating their pixels (the +1 allows for the single
     * whitespace byte already consumed). */
    return fr__fail(err, FR_E_FORMAT, "%s: pixel data truncated (%zu bytes for %llu samples)", what,
                    remaining, (unsigned long long)samples);
  }

  st = fr__image_alloc_owned((int)width, (int)height, channels == 3 ? FR_PIXEL_RGB : FR_PIXEL_GRAY,
                             out, err);
  if (st != FR_OK) return st;

  uint8_t *dst = out->data; /* tightly packed, so samples are contiguous */
  const uint32_t half = maxval / 2;
  if (!ascii && maxval == 255) {
    memcpy(dst, r.p + r.pos, (size_t)samples);
    return FR_OK;
  }
  if (ascii) r.pos--; /* let skip_space see the separator again */
  for (uint64_t i = 0; i < samples; i++) {
    uint32_t v;
    if (ascii) {
      if (!read_uint(&r, 65536, &v)) {
        fr_image_free(out);
        return fr__fail(err, FR_E_FORMAT, "%s: sample %llu of %llu is missing or malformed", what,
                        (unsigned long long)i + 1, (unsigned long long)samples);
      }
    } else if (wide) {
      v = ((uint32_t)r.p[r.pos] << 8) | r.p[r.pos + 1];
      r.pos += 2;
    } else {
      v = r.p[r.pos++];
    }
    if (v > maxval) {
      fr_image_free(out);
      return fr__fail(err, FR_E_FORMAT, "%s: sample %llu is %u, above maxval %u", what,
                      (unsigned long long)i + 1, v, maxval);
    }
    dst[i] = (uint8_t)((v * 255u + half) / maxval);
  }
  return FR_OK;
}
