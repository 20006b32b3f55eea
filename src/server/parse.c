/*
 * parse.c - the server's parsers of untrusted request bytes (see parse.h).
 * Every function bounds its reads by the sizes it is given and never relies
 * on a terminating NUL inside client data.
 */
#include "server/parse.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <uninorm.h>

fr_pixel_format fr__srv_pixel_format(const char *name) {
  static const struct {
    const char *name;
    fr_pixel_format f;
  } t[] = {{"gray", FR_PIXEL_GRAY}, {"rgb", FR_PIXEL_RGB}, {"bgr", FR_PIXEL_BGR},
           {"rgba", FR_PIXEL_RGBA}, {"bgra", FR_PIXEL_BGRA}};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (strcmp(name, t[i].name) == 0) return t[i].f;
  return (fr_pixel_format)0;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes n bytes of a URL-encoded component into out (size bytes, NUL
 * added). */
/*
 * Percent-decodes n bytes of s into out (size bytes, NUL-terminated), the
 * one decoder of query values and paths. In a query '+' is a space and only
 * NUL is refused; in a path '+' stays and every control byte is refused
 * (%00 must not cut a name short). A failure leaves "" in out.
 */
static fr_status pct_decode(const char *s, size_t n, char *out, size_t size, int query, fr_error *err) {
  const char *where = query ? "the query string" : "the path";
  size_t k = 0;
  fr_status st = FR_OK;
  for (size_t i = 0; i < n && st == FR_OK; i++) {
    int c = (unsigned char)s[i];
    if (c == '+' && query) c = ' ';
    else if (c == '%') {
      int hi = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
      int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        st = fr__fail(err, FR_E_FORMAT, "a bad %%-escape in %s", where);
        break;
      }
      c = hi * 16 + lo;
      i += 2;
    }
    if (c == 0 || (!query && (c < 0x20 || c == 0x7F)))
      st = fr__fail(err, FR_E_FORMAT, "a control character (%%%02X) in %s", (unsigned)c, where);
    else if (k + 1 >= size)
      st = fr__fail(err, FR_E_LIMIT, query ? "a query parameter is too long" : "the path is too long");
    else
      out[k++] = (char)c;
  }
  if (st == FR_OK && size == 0) st = fr__fail(err, FR_E_LIMIT, "%s is too long", where);
  if (size) out[st == FR_OK ? k : 0] = '\0';
  return st;
}

fr_status fr__srv_query_get(const char *qs, const char *key, char *out, size_t size, int *found,
                            fr_error *err) {
  *found = 0;
  if (size) out[0] = '\0';
  if (!qs) return FR_OK;
  size_t len = strnlen(qs, FR_SRV_MAX_QUERY + 1);
  if (len > FR_SRV_MAX_QUERY) return fr__fail(err, FR_E_LIMIT, "the query string is too long");
  size_t klen = strlen(key);
  const char *p = qs, *end = qs + len;
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *stop = amp ? amp : end;
    const char *eq = memchr(p, '=', (size_t)(stop - p));
    const char *kend = eq ? eq : stop;
    char kbuf[64];
    if ((size_t)(kend - p) < sizeof kbuf) {
      fr_status st = pct_decode(p, (size_t)(kend - p), kbuf, sizeof kbuf, 1, err);
      if (st != FR_OK) return st;
      if (strlen(kbuf) == klen && memcmp(kbuf, key, klen) == 0) {
        const char *v = eq ? eq + 1 : stop;
        st = pct_decode(v, (size_t)(stop - v), out, size, 1, err);
        if (st != FR_OK) return st;
        *found = 1;
        return FR_OK;
      }
    }
    p = stop + 1;
  }
  return FR_OK;
}

int fr__srv_parse_int(const char *s, long lo, long hi, long *out) {
  if (!s || !*s || strlen(s) > 18) return 0;
  for (const char *p = s; *p; p++)
    if (!(*p >= '0' && *p <= '9') && !(p == s && *p == '-')) return 0;
  errno = 0;
  char *end;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return 0;
  *out = v;
  return 1;
}

fr_status fr__srv_raw_check(const fr__srv_raw *raw, size_t size, fr_error *err) {
  int px = fr_pixel_size(raw->format);
  if (px == 0) return fr__fail(err, FR_E_INVALID, "unknown pixel format");
  if (raw->width < 1 || raw->height < 1 || raw->width > FR_SRV_MAX_SIDE ||
      raw->height > FR_SRV_MAX_SIDE)
    return fr__fail(err, FR_E_LIMIT, "width and height must be 1 to %d", FR_SRV_MAX_SIDE);
  if ((int64_t)raw->width * raw->height > FR_SRV_MAX_PIXELS)
    return fr__fail(err, FR_E_LIMIT, "the image has more than %d pixels", FR_SRV_MAX_PIXELS);
  int64_t row = (int64_t)raw->width * px;
  if (raw->stride < row || raw->stride > row + 4096)
    return fr__fail(err, FR_E_INVALID, "stride %d does not fit width %d (%d bytes per pixel)",
                    raw->stride, raw->width, px);
  int64_t full = (int64_t)raw->stride * raw->height;
  int64_t tight = (int64_t)raw->stride * (raw->height - 1) + row;
  if ((int64_t)size != full && (int64_t)size != tight)
    return fr__fail(err, FR_E_INVALID,
                    "the body has %zu bytes but %dx%d pixels of stride %d need %lld", size,
                    raw->width, raw->height, raw->stride, (long long)full);
  return FR_OK;
}

fr_status fr__srv_raw_from_query(const char *qs, size_t body_size, fr__srv_raw *raw,
                                 fr_error *err) {
  memset(raw, 0, sizeof *raw);
  char v[FR_SRV_MAX_PARAM];
  int found;
  long n;
  const char *names[3] = {"width", "height", "stride"};
  int *dst[3] = {&raw->width, &raw->height, &raw->stride};
  for (int i = 0; i < 3; i++) {
    fr_status st = fr__srv_query_get(qs, names[i], v, sizeof v, &found, err);
    if (st != FR_OK) return st;
    if (!found) {
      if (i == 2) continue;
      return fr__fail(err, FR_E_INVALID, "raw pixels need the query parameter %s", names[i]);
    }
    if (!fr__srv_parse_int(v, 1, 1L << 30, &n))
      return fr__fail(err, FR_E_INVALID, "bad value for %s", names[i]);
    *dst[i] = (int)n;
  }
  fr_status st = fr__srv_query_get(qs, "format", v, sizeof v, &found, err);
  if (st != FR_OK) return st;
  raw->format = found ? fr__srv_pixel_format(v) : FR_PIXEL_RGB;
  if (!raw->format) return fr__fail(err, FR_E_INVALID, "format must be gray, rgb, bgr, rgba or bgra");
  if (raw->stride == 0) {
    if (raw->width > FR_SRV_MAX_SIDE) return fr__fail(err, FR_E_LIMIT, "width too large");
    raw->stride = raw->width * fr_pixel_size(raw->format);
  }
  return fr__srv_raw_check(raw, body_size, err);
}

/* ---- multipart ---------------------------------------------------------------- */

/* Finds needle (m bytes) in [p, p + n). */
static const uint8_t *find(const uint8_t *p, size_t n, const void *needle, size_t m) {
  if (m == 0 || n < m) return NULL;
  const uint8_t *end = p + n - m;
  const uint8_t first = *(const uint8_t *)needle;
  while (p <= end) {
    const uint8_t *q = memchr(p, first, (size_t)(end - p) + 1);
    if (!q) return NULL;
    if (memcmp(q, needle, m) == 0) return q;
    p = q + 1;
  }
  return NULL;
}

/* Extracts the boundary parameter of a multipart/form-data content type. */
static fr_status boundary_of(const char *ct, char *out, size_t size, fr_error *err) {
  if (!ct || strncasecmp(ct, "multipart/form-data", 19) != 0)
    return fr__fail(err, FR_E_INVALID, "the body must be multipart/form-data");
  const char *p = ct + 19;
  while (*p) {
    while (*p == ';' || *p == ' ' || *p == '\t') p++;
    if (strncasecmp(p, "boundary=", 9) == 0) {
      p += 9;
      int quoted = *p == '"';
      if (quoted) p++;
      size_t k = 0;
      while (*p && (quoted ? *p != '"' : (*p != ';' && *p != ' '))) {
        if (k + 1 >= size) return fr__fail(err, FR_E_FORMAT, "the multipart boundary is too long");
        out[k++] = *p++;
      }
      out[k] = '\0';
      if (k == 0) break;
      return FR_OK;
    }
    while (*p && *p != ';') p++;
  }
  return fr__fail(err, FR_E_FORMAT, "multipart/form-data without a boundary");
}

/* Parses one part's headers [h, h + n): the name of its Content-Disposition
 * and its Content-Type. */
static fr_status part_headers(const uint8_t *h, size_t n, fr__srv_part *part, fr_error *err) {
  const uint8_t *end = h + n;
  while (h < end) {
    const uint8_t *eol = find(h, (size_t)(end - h), "\r\n", 2);
    if (!eol) eol = end;
    size_t len = (size_t)(eol - h);
    if (len >= 20 && strncasecmp((const char *)h, "content-disposition:", 20) == 0) {
      const uint8_t *nm = find(h, len, "name=\"", 6);
      /* "filename=" also contains name=": take the one that is not preceded by
       * "file". */
      while (nm && nm >= h + 4 && strncasecmp((const char *)nm - 4, "file", 4) == 0)
        nm = find(nm + 1, (size_t)(eol - nm - 1), "name=\"", 6);
      if (!nm) return fr__fail(err, FR_E_FORMAT, "a multipart part without a name");
      const uint8_t *q = memchr(nm + 6, '"', (size_t)(eol - nm - 6));
      if (!q) return fr__fail(err, FR_E_FORMAT, "an unterminated multipart part name");
      part->name = (const char *)nm + 6;
      part->name_len = (size_t)(q - nm - 6);
    } else if (len >= 13 && strncasecmp((const char *)h, "content-type:", 13) == 0) {
      const uint8_t *v = h + 13;
      while (v < eol && (*v == ' ' || *v == '\t')) v++;
      part->type = (const char *)v;
      part->type_len = (size_t)(eol - v);
    }
    if (eol == end) break;
    h = eol + 2;
  }
  if (!part->name) return fr__fail(err, FR_E_FORMAT, "a multipart part without Content-Disposition");
  return FR_OK;
}

fr_status fr__srv_multipart(const char *content_type, const uint8_t *body, size_t size,
                            fr__srv_part *parts, int max, int *n_parts, fr_error *err) {
  *n_parts = 0;
  char b[80 + 4];
  b[0] = '\r', b[1] = '\n', b[2] = '-', b[3] = '-';
  fr_status st = boundary_of(content_type, b + 4, 80, err);
  if (st != FR_OK) return st;
  size_t blen = strlen(b);
  /* The first delimiter may start the body without the leading CRLF. */
  const uint8_t *p, *end = body + size;
  if (size >= blen - 2 && memcmp(body, b + 2, blen - 2) == 0) p = body + blen - 2;
  else {
    p = find(body, size, b, blen);
    if (!p) return fr__fail(err, FR_E_FORMAT, "the multipart boundary does not occur in the body");
    p += blen;
  }
  for (;;) {
    /* After a delimiter: "--" ends the body, CRLF starts a part. */
    if (end - p >= 2 && p[0] == '-' && p[1] == '-') break;
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
      return fr__fail(err, FR_E_FORMAT, "malformed multipart delimiter");
    p += 2;
    const uint8_t *hend = find(p, (size_t)(end - p), "\r\n\r\n", 4);
    const uint8_t *hstart = p;
    size_t hlen;
    if (hend) hlen = (size_t)(hend - p), p = hend + 4;
    else if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') hlen = 0, p += 2; /* no headers */
    else return fr__fail(err, FR_E_FORMAT, "unterminated multipart part headers");
    const uint8_t *next = find(p, (size_t)(end - p), b, blen);
    if (!next) return fr__fail(err, FR_E_FORMAT, "a multipart part without a closing boundary");
    if (*n_parts == max) return fr__fail(err, FR_E_LIMIT, "more than %d multipart parts", max);
    fr__srv_part *part = &parts[*n_parts];
    memset(part, 0, sizeof *part);
    st = part_headers(hstart, hlen, part, err);
    if (st != FR_OK) return st;
    part->data = p;
    part->size = (size_t)(next - p);
    (*n_parts)++;
    p = next + blen;
  }
  if (*n_parts == 0) return fr__fail(err, FR_E_FORMAT, "an empty multipart body");
  return FR_OK;
}

/* ---- WebSocket frames ---------------------------------------------------------- */

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int is_encoded(const uint8_t *d, size_t n) {
  static const uint8_t png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  return (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) ||
         (n >= 8 && memcmp(d, png, 8) == 0);
}

fr_status fr__srv_ws_frame(const uint8_t *payload, size_t size, fr__srv_frame *out,
                           fr_error *err) {
  memset(out, 0, sizeof *out);
  if (is_encoded(payload, size)) {
    out->data = payload;
    out->size = size;
    return FR_OK;
  }
  if (size < FR_SRV_FRAME_HEADER || memcmp(payload, FR_SRV_FRAME_MAGIC, 4) != 0)
    return fr__fail(err, FR_E_FORMAT, "a frame must be a JPEG, a PNG or start with the "
                                      FR_SRV_FRAME_MAGIC " header");
  out->seq = le32(payload + 4);
  out->has_seq = 1;
  uint32_t w = le32(payload + 8), h = le32(payload + 12), s = le32(payload + 16),
           f = le32(payload + 20);
  out->data = payload + FR_SRV_FRAME_HEADER;
  out->size = size - FR_SRV_FRAME_HEADER;
  if (f == 0) {
    if (!is_encoded(out->data, out->size))
      return fr__fail(err, FR_E_FORMAT, "frame %u: format 0 but no JPEG or PNG follows", out->seq);
    return FR_OK;
  }
  if (f > FR_PIXEL_BGRA) return fr__fail(err, FR_E_INVALID, "frame %u: unknown pixel format %u", out->seq, f);
  if (w > FR_SRV_MAX_SIDE || h > FR_SRV_MAX_SIDE || s > (uint32_t)FR_SRV_MAX_SIDE * 4 + 4096)
    return fr__fail(err, FR_E_LIMIT, "frame %u: the image is too large", out->seq);
  out->raw = 1;
  out->geometry = (fr__srv_raw){(int)w, (int)h, (int)s, (fr_pixel_format)f};
  fr_status st = fr__srv_raw_check(&out->geometry, out->size, err);
  if (st != FR_OK) fr__error_prefix(err, "frame %u: ", out->seq);
  return st;
}

/* ---- UTF-8 ---------------------------------------------------------------------------- */

/* Decodes the UTF-8 sequence at s[0..n) (n >= 1): its length (1-4) and code
 * point, or 0 if it is not valid UTF-8 (truncated, a stray continuation
 * byte, an overlong form, a surrogate, above U+10FFFF). */
static int utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
  unsigned c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (len == 0 || c > 0xF4 || (size_t)len > n) return 0;
  uint32_t v = c & (0x3Fu >> (len - 1));
  for (int k = 1; k < len; k++) {
    if ((s[k] & 0xC0) != 0x80) return 0;
    v = v << 6 | (s[k] & 0x3Fu);
  }
  if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10FFFF)) ||
      (v >= 0xD800 && v <= 0xDFFF))
    return 0;
  *cp = v;
  return len;
}

/* ---- names ------------------------------------------------------------------------------ */

/* Why a code point may not be part of a name, or NULL. */
static const char *name_forbidden(uint32_t c) {
  if (c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0)) return "a control character";
  if (c == '/' || c == '\\') return "a slash or backslash";
  if (c == 0x061C || c == 0x200E || c == 0x200F || (c >= 0x202A && c <= 0x202E) ||
      (c >= 0x2066 && c <= 0x2069))
    return "a bidirectional control character";
  if (c == 0x00AD || (c >= 0x200B && c <= 0x200D) || (c >= 0x2060 && c <= 0x2064) || c == 0xFEFF)
    return "a zero-width or invisible character";
  if ((c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE) return "a noncharacter";
  return NULL;
}

/* The checks of fr__srv_name_normalize other than the lengths, on s[0..n). */
static fr_status name_check(const unsigned char *s, size_t n, fr_error *err) {
  for (size_t i = 0; i < n;) {
    uint32_t c;
    int len = utf8_next(s + i, n - i, &c);
    if (len == 0) return fr__fail(err, FR_E_FORMAT, "a name must be valid UTF-8 (bad byte at %zu)", i);
    i += (size_t)len;
  }
  for (size_t i = 0; i < n;) {
    uint32_t c;
    int len = utf8_next(s + i, n - i, &c);
    const char *why = name_forbidden(c);
    if (why) return fr__fail(err, FR_E_INVALID, "a name must not contain %s (U+%04X)", why, (unsigned)c);
    i += (size_t)len;
  }
  if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
    return fr__fail(err, FR_E_INVALID, "a name must not be \".\" or \"..\"");
  if (s[0] == ' ' || s[n - 1] == ' ')
    return fr__fail(err, FR_E_INVALID, "a name must not start or end with a space");
  return FR_OK;
}

fr_status fr__srv_name_normalize(const char *s, size_t n, char out[FR_NAME_MAX], fr_error *err) {
  out[0] = '\0';
  if (!s || n == 0) return fr__fail(err, FR_E_INVALID, "a name must not be empty");
  if (n > FR_SRV_MAX_NAME_INPUT)
    return fr__fail(err, FR_E_LIMIT, "a name must be at most %d bytes of UTF-8", FR_NAME_MAX - 1);
  fr_status st = name_check((const unsigned char *)s, n, err);
  if (st != FR_OK) return st;
  /* NFC grows a string by at most 3x: the buffer always suffices, and
   * u8_normalize only allocates when it does not. */
  uint8_t buf[3 * FR_SRV_MAX_NAME_INPUT + 16];
  size_t len = sizeof buf;
  uint8_t *r = u8_normalize(UNINORM_NFC, (const uint8_t *)s, n, buf, &len);
  if (!r) return fr__fail(err, FR_E_NOMEM, "out of memory normalising a name");
  if (r != buf) {
    free(r);
    len = sizeof buf;
  }
  if (len >= FR_NAME_MAX)
    return fr__fail(err, FR_E_LIMIT, "a name must be at most %d bytes of UTF-8 (in NFC)",
                    FR_NAME_MAX - 1);
  /* Normalisation maps some characters to others (U+212A KELVIN SIGN to K,
   * U+037E to ';'): the result is checked again, as it is what is stored. */
  st = name_check(buf, len, err);
  if (st != FR_OK) return st;
  memcpy(out, buf, len);
  out[len] = '\0';
  return FR_OK;
}

int fr__srv_valid_name(const char *s, size_t n) {
  char nfc[FR_NAME_MAX];
  if (!s || n >= FR_NAME_MAX || fr__srv_name_normalize(s, n, nfc, NULL) != FR_OK) return 0;
  return strlen(nfc) == n && memcmp(nfc, s, n) == 0;
}

/* ---- JSON bodies ------------------------------------------------------------------------ */

/* Scans the JSON string starting at s[*i] == '"' (the body is valid UTF-8
 * already) and leaves *i after its closing quote. */
static fr_status json_string(const unsigned char *s, size_t n, size_t *i, fr_error *err) {
  size_t p = *i + 1;
  for (;;) {
    if (p >= n) return fr__fail(err, FR_E_FORMAT, "the JSON body ends inside a string");
    unsigned c = s[p];
    if (c == '"') break;
    if (c < 0x20)
      return fr__fail(err, FR_E_FORMAT, "a control character inside a JSON string (byte %zu)", p);
    if (c != '\\') {
      p++;
      continue;
    }
    if (p + 1 >= n) return fr__fail(err, FR_E_FORMAT, "the JSON body ends inside a string");
    unsigned e = s[p + 1];
    if (e != 'u') {
      if (!strchr("\"\\/bfnrt", (int)e) || e == 0)
        return fr__fail(err, FR_E_FORMAT, "a bad escape in a JSON string (byte %zu)", p);
      p += 2;
      continue;
    }
    /* \uXXXX, and for a high surrogate the \uXXXX of its low one. */
    unsigned u[2] = {0, 0};
    int need = 1;
    for (int k = 0; k < need; k++) {
      size_t q = p + (size_t)k * 6;
      if (q + 6 > n || s[q] != '\\' || s[q + 1] != 'u')
        return fr__fail(err, FR_E_FORMAT, k ? "a lone surrogate escape in a JSON string (byte %zu)"
                                            : "a bad \\u escape in a JSON string (byte %zu)",
                        p);
      for (int d = 0; d < 4; d++) {
        int h = hexval(s[q + 2 + (size_t)d]);
        if (h < 0) return fr__fail(err, FR_E_FORMAT, "a bad \\u escape in a JSON string (byte %zu)", q);
        u[k] = u[k] << 4 | (unsigned)h;
      }
      if (k == 0 && u[0] >= 0xD800 && u[0] <= 0xDBFF) need = 2;
    }
    if (u[0] == 0) return fr__fail(err, FR_E_FORMAT, "\\u0000 inside a JSON string");
    if ((u[0] >= 0xDC00 && u[0] <= 0xDFFF) || (need == 2 && (u[1] < 0xDC00 || u[1] > 0xDFFF)))
      return fr__fail(err, FR_E_FORMAT, "a lone surrogate escape in a JSON string (byte %zu)", p);
    p += (size_t)need * 6;
  }
  *i = p + 1;
  return FR_OK;
}

/* Scans the JSON number starting at s[*i] (RFC 8259: -?int frac? exp?). */
static fr_status json_number(const unsigned char *s, size_t n, size_t *i, fr_error *err) {
  size_t p = *i, start = p;
#define DIGIT(k) ((k) < n && s[k] >= '0' && s[k] <= '9')
  if (p < n && s[p] == '-') p++;
  if (p < n && s[p] == '0') p++;
  else if (DIGIT(p)) while (DIGIT(p)) p++;
  else return fr__fail(err, FR_E_FORMAT, "a bad JSON number (byte %zu)", start);
  if (p < n && s[p] == '.') {
    p++;
    if (!DIGIT(p)) return fr__fail(err, FR_E_FORMAT, "a bad JSON number (byte %zu)", start);
    while (DIGIT(p)) p++;
  }
  if (p < n && (s[p] == 'e' || s[p] == 'E')) {
    p++;
    if (p < n && (s[p] == '+' || s[p] == '-')) p++;
    if (!DIGIT(p)) return fr__fail(err, FR_E_FORMAT, "a bad JSON number (byte %zu)", start);
    while (DIGIT(p)) p++;
  }
#undef DIGIT
  *i = p;
  return FR_OK;
}

/*
 * Checks that s[0..n) is one JSON text (RFC 8259) of valid UTF-8, nested at
 * most FR_SRV_MAX_JSON_DEPTH deep, without \u0000 or lone surrogates in its
 * strings and with nothing but whitespace after its value. A loop over an
 * explicit stack: no input makes it recurse or allocate.
 */
static fr_status json_scan(const unsigned char *s, size_t n, fr_error *err) {
  for (size_t i = 0; i < n;) {
    uint32_t c;
    int len = utf8_next(s + i, n - i, &c);
    if (len == 0) return fr__fail(err, FR_E_FORMAT, "the body is not valid UTF-8 (byte %zu)", i);
    i += (size_t)len;
  }
  enum { VALUE, VALUE_OR_CLOSE, KEY, KEY_OR_CLOSE, COLON, AFTER } state = VALUE;
  unsigned char stack[FR_SRV_MAX_JSON_DEPTH]; /* '{' or '[' per open container */
  int depth = 0;
  size_t i = 0;
  for (;;) {
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    if (state == AFTER && depth == 0) {
      if (i < n) return fr__fail(err, FR_E_FORMAT, "trailing data after the JSON value (byte %zu)", i);
      return FR_OK;
    }
    if (i >= n)
      return fr__fail(err, FR_E_FORMAT, n ? "the JSON body ends early" : "the body is empty, not JSON");
    unsigned c = s[i];
    fr_status st = FR_OK;
    if (state == COLON) {
      if (c != ':') return fr__fail(err, FR_E_FORMAT, "expected ':' in the JSON body (byte %zu)", i);
      i++, state = VALUE;
    } else if (state == AFTER) {
      unsigned open = stack[depth - 1];
      if (c == ',') i++, state = open == '{' ? KEY : VALUE;
      else if (c == (open == '{' ? '}' : ']')) i++, depth--;
      else return fr__fail(err, FR_E_FORMAT, "expected ',' or '%c' in the JSON body (byte %zu)",
                           open == '{' ? '}' : ']', i);
    } else if ((state == KEY_OR_CLOSE && c == '}') || (state == VALUE_OR_CLOSE && c == ']')) {
      i++, depth--, state = AFTER;
    } else if (state == KEY || state == KEY_OR_CLOSE) {
      if (c != '"') return fr__fail(err, FR_E_FORMAT, "expected a member name in the JSON body (byte %zu)", i);
      st = json_string(s, n, &i, err);
      state = COLON;
    } else if (c == '{' || c == '[') { /* VALUE or VALUE_OR_CLOSE */
      if (depth == FR_SRV_MAX_JSON_DEPTH)
        return fr__fail(err, FR_E_FORMAT, "the JSON body is nested deeper than %d levels",
                        FR_SRV_MAX_JSON_DEPTH);
      stack[depth++] = (unsigned char)c;
      i++, state = c == '{' ? KEY_OR_CLOSE : VALUE_OR_CLOSE;
    } else {
      if (c == '"') st = json_string(s, n, &i, err);
      else if (c == '-' || (c >= '0' && c <= '9')) st = json_number(s, n, &i, err);
      else if (n - i >= 4 && memcmp(s + i, "true", 4) == 0) i += 4;
      else if (n - i >= 5 && memcmp(s + i, "false", 5) == 0) i += 5;
      else if (n - i >= 4 && memcmp(s + i, "null", 4) == 0) i += 4;
      else return fr__fail(err, FR_E_FORMAT, "the body is not valid JSON (byte %zu)", i);
      state = AFTER;
    }
    if (st != FR_OK) return st;
  }
}

fr_status fr__srv_subject_json(const char *body, size_t size, char name[FR_NAME_MAX], char *meta,
                               size_t meta_size, int *has_meta, fr_error *err) {
  name[0] = '\0';
  if (meta_size) meta[0] = '\0';
  *has_meta = 0;
  if (size > FR_SRV_MAX_JSON)
    return fr__fail(err, FR_E_LIMIT, "the JSON body is larger than %d bytes", FR_SRV_MAX_JSON);
  fr_status st = json_scan((const unsigned char *)body, size, err);
  if (st != FR_OK) return st;
  cJSON *root = cJSON_ParseWithLength(body, size);
  /* The scan accepted it, but cJSON also refuses numbers of 64+ characters. */
  if (!root) return fr__fail(err, FR_E_FORMAT, "the body is not valid JSON");
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return fr__fail(err, FR_E_INVALID, "the body must be an object with a string \"name\"");
  }
  const cJSON *n = NULL, *m = NULL;
  for (const cJSON *it = root->child; it && st == FR_OK; it = it->next) {
    const cJSON **slot = !it->string ? NULL : strcmp(it->string, "name") == 0 ? &n
                         : strcmp(it->string, "metadata") == 0              ? &m
                                                                             : NULL;
    if (!slot) continue;
    if (*slot) st = fr__fail(err, FR_E_INVALID, "the member \"%s\" is given twice", it->string);
    *slot = it;
  }
  if (st == FR_OK && !cJSON_IsString(n))
    st = fr__fail(err, FR_E_INVALID, "the body must be an object with a string \"name\"");
  else if (st == FR_OK && m && !cJSON_IsNull(m) && !cJSON_IsString(m))
    st = fr__fail(err, FR_E_INVALID, "\"metadata\" must be a string");
  else if (st == FR_OK && cJSON_IsString(m) &&
           (strlen(m->valuestring) > FR_SRV_MAX_META || strlen(m->valuestring) + 1 > meta_size))
    st = fr__fail(err, FR_E_LIMIT, "\"metadata\" is longer than %d bytes", FR_SRV_MAX_META);
  if (st == FR_OK) st = fr__srv_name_normalize(n->valuestring, strlen(n->valuestring), name, err);
  if (st == FR_OK && cJSON_IsString(m)) {
    memcpy(meta, m->valuestring, strlen(m->valuestring) + 1);
    *has_meta = 1;
  }
  cJSON_Delete(root);
  return st;
}

/* ---- request paths ---------------------------------------------------------------------- */

fr_status fr__srv_path_decode(const char *raw, size_t n, char *out, size_t size, fr_error *err) {
  return pct_decode(raw, n, out, size, 0, err);
}

/* ---- routes ---------------------------------------------------------------------------- */

const char *fr__srv_route_name(fr__srv_route_id id) {
  static const char *const names[FR_ROUTE_COUNT] = {
      "none",     "health",  "detect",        "embed", "recognize", "verify",
      "subjects", "subject", "subject_faces", "face",  "metrics"};
  return id >= 0 && id < FR_ROUTE_COUNT ? names[id] : "none";
}

fr_status fr__srv_route_parse(const char *method, const char *path, fr__srv_route *r,
                              fr_error *err) {
  memset(r, 0, sizeof *r);
  int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0,
      del = strcmp(method, "DELETE") == 0;
  size_t len = strnlen(path, 1024);
  if (len >= 1024) return fr__fail(err, FR_E_NOTFOUND, "no such route");
  static const char api[] = "/api/v1/";
  int ok_method = 0;
  if (strcmp(path, "/metrics") == 0) {
    r->id = FR_ROUTE_METRICS;
    ok_method = get;
  } else if (strncmp(path, api, sizeof api - 1) != 0) {
    return fr__fail(err, FR_E_NOTFOUND, "no such route");
  } else {
    const char *p = path + sizeof api - 1;
    static const struct {
      const char *path;
      fr__srv_route_id id;
    } fixed[] = {{"health", FR_ROUTE_HEALTH},       {"detect", FR_ROUTE_DETECT},
                 {"embed", FR_ROUTE_EMBED},         {"recognize", FR_ROUTE_RECOGNIZE},
                 {"verify", FR_ROUTE_VERIFY},       {"subjects", FR_ROUTE_SUBJECTS}};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
      if (strcmp(p, fixed[i].path) == 0) r->id = fixed[i].id;
    if (r->id == FR_ROUTE_HEALTH) ok_method = get;
    else if (r->id == FR_ROUTE_SUBJECTS) ok_method = get || post, r->admin = post;
    else if (r->id != FR_ROUTE_NONE) ok_method = post;
    else if (strncmp(p, "subjects/", 9) == 0) {
      const char *nm = p + 9, *slash = strchr(nm, '/');
      size_t nlen = slash ? (size_t)(slash - nm) : strlen(nm);
      if (!slash) r->id = FR_ROUTE_SUBJECT, ok_method = del, r->admin = 1;
      else if (strcmp(slash, "/faces") == 0)
        r->id = FR_ROUTE_SUBJECT_FACES, ok_method = get || post, r->admin = post;
      else return fr__fail(err, FR_E_NOTFOUND, "no such route");
      /* The gallery holds names in NFC: "e%CC%81" finds the "\u00e9" stored. */
      fr_error e = {0, ""};
      if (fr__srv_name_normalize(nm, nlen, r->name, &e) != FR_OK)
        return fr__fail(err, FR_E_INVALID, "bad subject name in the path: %s", e.message);
    } else if (strncmp(p, "faces/", 6) == 0) {
      long id;
      r->id = FR_ROUTE_FACE, ok_method = del, r->admin = 1;
      if (!fr__srv_parse_int(p + 6, 1, 0x7FFFFFFFFFFFFFFFL, &id) || p[6] == '-')
        return fr__fail(err, FR_E_INVALID, "bad face id in the path");
      r->face_id = id;
    } else {
      return fr__fail(err, FR_E_NOTFOUND, "no such route");
    }
  }
  if (!ok_method) return fr__fail(err, FR_E_UNSUPPORTED, "method %s not allowed here", method);
  return FR_OK;
}

/* ---- API keys -------------------------------------------------------------------------- */

fr_status fr__srv_keys_parse(const char *text, size_t size, fr__srv_key *keys, int max,
                             int *n_keys, fr_error *err) {
  *n_keys = 0;
  size_t pos = 0;
  int line = 0;
  while (pos < size) {
    line++;
    const char *s = text + pos;
    const char *nl = memchr(s, '\n', size - pos);
    size_t len = nl ? (size_t)(nl - s) : size - pos;
    pos += len + (nl ? 1 : 0);
    while (len && (s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
    while (len && (*s == ' ' || *s == '\t')) s++, len--;
    if (len == 0 || *s == '#') continue;
    int admin;
    size_t kw;
    if (len > 6 && memcmp(s, "admin", 5) == 0 && (s[5] == ' ' || s[5] == '\t')) admin = 1, kw = 5;
    else if (len > 5 && memcmp(s, "read", 4) == 0 && (s[4] == ' ' || s[4] == '\t')) admin = 0, kw = 4;
    else return fr__fail(err, FR_E_FORMAT, "key file line %d: expected 'admin HASH' or 'read HASH'", line);
    s += kw, len -= kw;
    while (len && (*s == ' ' || *s == '\t')) s++, len--;
    if (len != 64) return fr__fail(err, FR_E_FORMAT, "key file line %d: the hash must be 64 hex digits", line);
    for (size_t i = 0; i < 64; i++)
      if (hexval((unsigned char)s[i]) < 0)
        return fr__fail(err, FR_E_FORMAT, "key file line %d: the hash must be 64 hex digits", line);
    if (*n_keys == max) return fr__fail(err, FR_E_LIMIT, "more than %d keys", max);
    fr__srv_key *k = &keys[(*n_keys)++];
    for (size_t i = 0; i < 64; i++) k->hash[i] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] + 32 : s[i]);
    k->hash[64] = '\0';
    k->admin = admin;
  }
  return FR_OK;
}

int fr__srv_key_level(const fr__srv_key *keys, int n_keys, const char *key) {
  if (!key) return -1;
  size_t n = strnlen(key, 4097);
  if (n == 0 || n > 4096) return -1;
  char hex[65];
  fr_sha256_hex(key, n, hex);
  int level = -1;
  for (int i = 0; i < n_keys; i++) {
    unsigned diff = 0;
    for (int c = 0; c < 64; c++) diff |= (unsigned)(hex[c] ^ keys[i].hash[c]);
    if (diff == 0 && keys[i].admin > level) level = keys[i].admin;
  }
  return level;
}

fr_status fr__srv_key_file_check(const char *path, fr_error *err) {
  struct stat sb;
  if (!path || !*path) return fr__fail(err, FR_E_INVALID, "no API key file given");
  if (stat(path, &sb) != 0) {
    int e = errno; /* strerror is not thread-safe, and strerror_r has two signatures */
    const char *why = e == ENOENT ? "does not exist" : e == EACCES ? "cannot be reached (permission denied)"
                                                                   : "cannot be read";
    return fr__fail(err, FR_E_INVALID, "API key file %s %s (errno %d); it must be a file with mode 0600 "
                    "(chmod 600 %s)", path, why, e, path);
  }
  unsigned mode = (unsigned)sb.st_mode & 07777;
  if (!S_ISREG(sb.st_mode))
    return fr__fail(err, FR_E_INVALID,
                    "API key file %s is not a regular file (mode %04o); it must be a file with "
                    "mode 0600 (chmod 600 %s)",
                    path, mode, path);
  if (sb.st_mode & 077)
    return fr__fail(err, FR_E_INVALID,
                    "API key file %s is accessible by group or others (mode %04o); run chmod 600 %s",
                    path, mode, path);
  return FR_OK;
}

/* ---- addresses, Host and Origin ---------------------------------------------------------- */

static int ascii_lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* strcasecmp == 0 for ASCII only, whatever the locale. */
static int ascii_caseeq(const char *a, const char *b) {
  for (; *a && *b; a++, b++)
    if (ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b)) return 0;
  return *a == *b;
}

/* The same for the first n bytes (both strings at least n long). */
static int ascii_caseeq_n(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!a[i] || ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i])) return 0;
  return 1;
}

/* Copies s without the brackets of "[v6]" into out (size bytes). 0 if it
 * does not fit or has only one bracket. */
static int strip_brackets(const char *s, char *out, size_t size) {
  size_t n = strnlen(s, size + 2);
  if (n >= 1 && s[0] == '[') {
    if (n < 2 || s[n - 1] != ']') return 0;
    s++, n -= 2;
  } else if (memchr(s, '[', n) || memchr(s, ']', n)) {
    return 0;
  }
  if (n >= size) return 0;
  memcpy(out, s, n);
  out[n] = '\0';
  return 1;
}

/* 1 for 127.0.0.0/8 (a: 4 bytes) or ::1 and ::ffff:127.0.0.0/104 (16 bytes). */
static int is_loopback(int family, const unsigned char *a) {
  static const unsigned char v6_loop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  if (family == AF_INET) return a[0] == 127;
  return memcmp(a, v6_loop, 16) == 0 || (memcmp(a, v4_mapped, 12) == 0 && a[12] == 127);
}

/* The family (AF_INET, AF_INET6) of an IP literal (no brackets) and its
 * bytes, or 0. */
static int ip_literal(const char *s, unsigned char a[16]) {
  if (inet_pton(AF_INET, s, a) == 1) return AF_INET;
  if (inet_pton(AF_INET6, s, a) == 1) return AF_INET6;
  return 0;
}

fr_status fr__srv_parse_bind(const char *s, struct sockaddr_storage *addr, socklen_t *len,
                             int *loopback, fr_error *err) {
  memset(addr, 0, sizeof *addr);
  *len = 0;
  *loopback = 0;
  char b[64];
  unsigned char a[16];
  int family = 0;
  if (s && ascii_caseeq(s, "localhost")) family = AF_INET, a[0] = 127, a[1] = a[2] = 0, a[3] = 1;
  else if (s && strip_brackets(s, b, sizeof b)) {
    family = ip_literal(b, a);
    /* Brackets belong to IPv6 only. */
    if (family == AF_INET && s[0] == '[') family = 0;
  }
  if (!family)
    return fr__fail(err, FR_E_INVALID,
                    "--bind must be an IPv4 address (like 127.0.0.1), an IPv6 address (like ::1) "
                    "or localhost, not \"%.64s\"",
                    s ? s : "");
  if (family == AF_INET) {
    struct sockaddr_in *sin = (struct sockaddr_in *)addr;
    sin->sin_family = AF_INET;
    memcpy(&sin->sin_addr, a, 4);
    *len = (socklen_t)sizeof *sin;
  } else {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)addr;
    sin6->sin6_family = AF_INET6;
    memcpy(&sin6->sin6_addr, a, 16);
    *len = (socklen_t)sizeof *sin6;
  }
  *loopback = is_loopback(family, a);
  return FR_OK;
}

/* Splits a Host header value into its host (IPv6 brackets removed, *v6 set
 * then) and checks the port. 1 if it is well-formed. */
static int host_split(const char *h, char *out, size_t size, int *v6) {
  size_t n = strnlen(h, 300);
  if (n == 0 || n >= 300) return 0;
  const char *end = h + n, *host, *host_end, *rest;
  *v6 = h[0] == '[';
  if (*v6) {
    const char *close = memchr(h, ']', n);
    if (!close) return 0;
    host = h + 1, host_end = close, rest = close + 1;
  } else {
    const char *colon = memchr(h, ':', n);
    if (colon && memchr(colon + 1, ':', (size_t)(end - colon - 1))) return 0; /* bare IPv6 */
    host = h, host_end = colon ? colon : end, rest = host_end;
  }
  if (rest < end) {
    if (*rest != ':') return 0;
    const char *d = rest + 1;
    size_t nd = (size_t)(end - d);
    if (nd < 1 || nd > 5) return 0;
    long port = 0;
    for (size_t k = 0; k < nd; k++) {
      if (d[k] < '0' || d[k] > '9') return 0;
      port = port * 10 + (d[k] - '0');
    }
    if (port < 1 || port > 65535) return 0;
  }
  size_t hn = (size_t)(host_end - host);
  if (hn == 0 || hn >= size) return 0;
  for (size_t k = 0; k < hn; k++) {
    int c = (unsigned char)host[k];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '-' || c == '_' || (*v6 && c == ':');
    if (!ok) return 0;
    out[k] = (char)ascii_lower(c);
  }
  out[hn] = '\0';
  return 1;
}

int fr__srv_host_allowed(const char *host, const char *bind, int bind_loopback, int bind_any,
                         const char *const *allowed, int n_allowed) {
  char h[256];
  int v6;
  if (!host || !host_split(host, h, sizeof h, &v6)) return 0;
  unsigned char a[16];
  int family = 0;
  if (v6) {
    if (inet_pton(AF_INET6, h, a) != 1) return 0; /* [name] or [IPvFuture] */
    family = AF_INET6;
  } else if (inet_pton(AF_INET, h, a) == 1) {
    family = AF_INET;
  }
  char b[256];
  if (bind && strip_brackets(bind, b, sizeof b)) {
    unsigned char ba[16];
    int bf = ip_literal(b, ba);
    if (family && bf == family && memcmp(a, ba, family == AF_INET ? 4 : 16) == 0) return 1;
    if (!family && !bf && ascii_caseeq(h, b)) return 1;
  }
  if (bind_loopback && (family ? is_loopback(family, a) : strcmp(h, "localhost") == 0)) return 1;
  if (bind_any && family) return 1;
  /* Browsers resolve "localhost" to loopback themselves, so no DNS answer
   * can point it elsewhere: a server on every address answers to it too. */
  if (bind_any && !family && strcmp(h, "localhost") == 0) return 1;
  for (int i = 0; allowed && i < n_allowed; i++)
    if (allowed[i] && strip_brackets(allowed[i], b, sizeof b) && b[0] && ascii_caseeq(h, b))
      return 1;
  return 0;
}

int fr__srv_origin_allowed(const char *origin, const char *host, const char *const *allowed,
                           int n_allowed) {
  if (!origin) return 1;
  size_t n = strnlen(origin, 1024);
  if (n == 0 || n >= 1024) return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)origin[i] <= 0x20 || (unsigned char)origin[i] >= 0x7F) return 0;
  if (ascii_caseeq(origin, "null")) return 0;
  if (host && host[0] && n > 7 && ascii_caseeq_n(origin, "http://", 7)) {
    int host_ok = 1;
    for (const char *p = host; *p && host_ok; p++)
      host_ok = (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7F && !strchr("/?#@\\", *p);
    if (host_ok && ascii_caseeq(origin + 7, host)) return 1;
  }
  for (int i = 0; allowed && i < n_allowed; i++)
    if (allowed[i] && allowed[i][0] && ascii_caseeq(origin, allowed[i])) return 1;
  return 0;
}
