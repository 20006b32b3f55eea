/*
 * npy.c - reading and writing NumPy .npy files of float32 (npy.h).
 *
 * The format (numpy.lib.format): the magic "\x93NUMPY", a major and a minor
 * version byte, the header's length (uint16 in version 1, uint32 in 2 and
 * 3, little-endian), the header - a Python dict literal padded with spaces
 * and ended by a newline - and then the data, row-major. Version 3 only
 * allows UTF-8 in the header, which the strict grammar here never accepts
 * outside quotes anyway.
 *
 * The header is parsed as the small grammar numpy.save writes rather than
 * as general Python: a dict of exactly the three keys, string values in
 * single or double quotes without escapes, True or False, and a tuple of
 * decimal integers. What numpy would read but this does not (escapes,
 * underscores in numbers) numpy never writes.
 */
#include "npy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/internal.h"

static const char k_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* ---- the header dict --------------------------------------------------- */

typedef struct hdr {
  const char *s;
  size_t n, i;
  const char *label;
  fr_error *err;
} hdr;

static fr_status bad(hdr *h, const char *what) {
  return fr__fail(h->err, FR_E_FORMAT, "%s: malformed .npy header: %s at byte %zu of it",
                  h->label, what, h->i);
}

static void skip_ws(hdr *h) {
  while (h->i < h->n && (h->s[h->i] == ' ' || h->s[h->i] == '\t' || h->s[h->i] == '\n' ||
                         h->s[h->i] == '\r'))
    h->i++;
}

static int peek(hdr *h) {
  skip_ws(h);
  return h->i < h->n ? (unsigned char)h->s[h->i] : -1;
}

/* A quoted string without escapes into out (at most size - 1 bytes). */
static fr_status string(hdr *h, char *out, size_t size) {
  int q = peek(h);
  if (q != '\'' && q != '"') return bad(h, "a quoted string expected");
  size_t start = ++h->i;
  while (h->i < h->n && h->s[h->i] != q) {
    if (h->s[h->i] == '\\' || h->s[h->i] == '\n') return bad(h, "an escape or newline in a string");
    h->i++;
  }
  if (h->i >= h->n) return bad(h, "an unterminated string");
  size_t len = h->i - start;
  h->i++;
  if (len >= size) return bad(h, "a string too long");
  memcpy(out, h->s + start, len);
  out[len] = '\0';
  return FR_OK;
}

static int word(hdr *h, const char *w) {
  size_t len = strlen(w);
  if (peek(h) < 0 || h->n - h->i < len || memcmp(h->s + h->i, w, len) != 0) return 0;
  h->i += len;
  return 1;
}

/* A non-negative decimal integer, at most INT64_MAX. */
static fr_status integer(hdr *h, int64_t *v) {
  int c = peek(h);
  if (c < '0' || c > '9') return bad(h, "a non-negative integer expected in the shape");
  if (c == '0' && h->i + 1 < h->n && h->s[h->i + 1] >= '0' && h->s[h->i + 1] <= '9')
    return bad(h, "an integer with a leading zero");
  int64_t x = 0;
  while (h->i < h->n && h->s[h->i] >= '0' && h->s[h->i] <= '9') {
    int d = h->s[h->i] - '0';
    if (x > (INT64_MAX - d) / 10) return bad(h, "a dimension too large");
    x = x * 10 + d;
    h->i++;
  }
  *v = x;
  return FR_OK;
}

/* (d0, d1, ...) with an optional trailing comma; () and (d0,) as Python
 * writes them. */
static fr_status shape(hdr *h, npy_array *a) {
  if (peek(h) != '(') return bad(h, "the shape is not a tuple");
  h->i++;
  a->ndims = 0;
  int comma = 0;
  while (peek(h) != ')') {
    if (a->ndims == NPY_MAX_DIMS)
      return fr__fail(h->err, FR_E_UNSUPPORTED, "%s: the array has more than %d dimensions",
                      h->label, NPY_MAX_DIMS);
    fr_status st = integer(h, &a->dims[a->ndims]);
    if (st != FR_OK) return st;
    a->ndims++;
    int c = peek(h);
    comma = c == ',';
    if (comma) h->i++;
    else if (c != ')') return bad(h, "',' or ')' expected in the shape");
  }
  h->i++;
  /* Python's (5) is the number 5, not a tuple: numpy writes (5,). */
  if (a->ndims == 1 && !comma) return bad(h, "a shape of one dimension without its comma");
  return FR_OK;
}

static fr_status parse_header(hdr *h, npy_array *a) {
  enum { DESCR = 1, FORTRAN = 2, SHAPE = 4 };
  int seen = 0;
  if (peek(h) != '{') return bad(h, "not a dict");
  h->i++;
  for (;;) {
    if (peek(h) == '}') break;
    char key[32];
    fr_status st = string(h, key, sizeof key);
    if (st != FR_OK) return st;
    if (peek(h) != ':') return bad(h, "':' expected after a key");
    h->i++;
    int which = strcmp(key, "descr") == 0           ? DESCR
                : strcmp(key, "fortran_order") == 0 ? FORTRAN
                : strcmp(key, "shape") == 0         ? SHAPE
                                                    : 0;
    if (!which)
      return fr__fail(h->err, FR_E_FORMAT, "%s: .npy header has an unknown key '%s'", h->label,
                      key);
    if (seen & which)
      return fr__fail(h->err, FR_E_FORMAT, "%s: .npy header repeats the key '%s'", h->label, key);
    seen |= which;
    if (which == DESCR) {
      char descr[32];
      if ((st = string(h, descr, sizeof descr)) != FR_OK) return st;
      if (strcmp(descr, "<f4") != 0)
        return fr__fail(h->err, FR_E_UNSUPPORTED,
                        "%s: dtype '%s' (only little-endian float32, '<f4', is read: "
                        "numpy's x.astype('<f4') converts)",
                        h->label, descr);
    } else if (which == FORTRAN) {
      if (word(h, "True"))
        return fr__fail(h->err, FR_E_UNSUPPORTED,
                        "%s: a Fortran-order array (only C order is read: "
                        "numpy's np.ascontiguousarray(x) converts)",
                        h->label);
      if (!word(h, "False")) return bad(h, "fortran_order is neither True nor False");
    } else if ((st = shape(h, a)) != FR_OK) {
      return st;
    }
    int c = peek(h);
    if (c == ',') h->i++;
    else if (c != '}') return bad(h, "',' or '}' expected");
  }
  h->i++;
  if (peek(h) >= 0) return bad(h, "bytes after the dict");
  if (seen != (DESCR | FORTRAN | SHAPE))
    return fr__fail(h->err, FR_E_FORMAT, "%s: .npy header lacks '%s'", h->label,
                    !(seen & DESCR) ? "descr" : !(seen & FORTRAN) ? "fortran_order" : "shape");
  return FR_OK;
}

/* ---- reading ------------------------------------------------------------- */

static uint32_t le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The data is little-endian float32; on a big-endian host each value's
 * bytes are reversed after reading. */
static void from_le(float *v, size_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  for (size_t i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, &v[i], 4);
    u = le32((const unsigned char *)&u);
    memcpy(&v[i], &u, 4);
  }
#else
  (void)v, (void)n;
#endif
}

/* Reads the header's fields from f (of size bytes) into a. */
static fr_status read_header(FILE *f, uint64_t size, const char *path, npy_array *a,
                             uint64_t *data_at, fr_error *err) {
  unsigned char pre[12];
  size_t got = fread(pre, 1, 10, f);
  if (got == 0 || memcmp(pre, k_magic, got < 6 ? got : 6) != 0)
    return fr__fail(err, FR_E_FORMAT, "%s: not a .npy file (no \\x93NUMPY magic)", path);
  if (got < 10)
    return fr__fail(err, FR_E_FORMAT, "%s: truncated .npy file (%zu bytes)", path, got);
  int major = pre[6], minor = pre[7];
  if (major < 1 || major > 3 || minor != 0)
    return fr__fail(err, FR_E_UNSUPPORTED,
                    "%s: .npy format version %d.%d (1.0, 2.0 or 3.0 are read)", path, major,
                    minor);
  uint64_t hlen, at;
  if (major == 1) {
    hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8;
    at = 10;
  } else {
    if (size < 12 || fread(pre + 10, 1, 2, f) != 2)
      return fr__fail(err, FR_E_FORMAT, "%s: truncated .npy file (in the header length)", path);
    hlen = le32(pre + 8);
    at = 12;
  }
  if (hlen > NPY_MAX_HEADER)
    return fr__fail(err, FR_E_FORMAT, "%s: .npy header of %llu bytes (at most %d are read)", path,
                    (unsigned long long)hlen, NPY_MAX_HEADER);
  if (hlen > size - at)
    return fr__fail(err, FR_E_FORMAT,
                    "%s: truncated .npy file (its header is %llu bytes, the file ends %llu "
                    "bytes after its start)",
                    path, (unsigned long long)hlen, (unsigned long long)(size - at));
  char *text = malloc((size_t)hlen + 1);
  if (!text) return fr__fail(err, FR_E_NOMEM, "%s: out of memory", path);
  fr_status st = FR_OK;
  if (fread(text, 1, (size_t)hlen, f) != hlen) {
    st = fr__fail(err, FR_E_IO, "%s: cannot read the .npy header", path);
  } else {
    text[hlen] = '\0';
    hdr h = {text, (size_t)hlen, 0, path, err};
    /* A NUL is nowhere valid; stopping the dict's text there would let the
     * rest of the header hide behind it. */
    const char *nul = memchr(text, '\0', (size_t)hlen);
    if (nul) {
      h.i = (size_t)(nul - text);
      st = bad(&h, "a NUL byte");
    } else {
      st = parse_header(&h, a);
    }
  }
  free(text);
  *data_at = at + hlen;
  return st;
}

fr_status npy_read(const char *path, npy_array *a, fr_error *err) {
  memset(a, 0, sizeof *a);
  FILE *f = fopen(path, "rb");
  if (!f) return fr__fail(err, FR_E_IO, "cannot open %s: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    fclose(f);
    return fr__fail(err, FR_E_IO, "%s is not a regular file", path);
  }
  uint64_t size = (uint64_t)sb.st_size, at = 0;
  fr_status st = read_header(f, size, path, a, &at, err);
  size_t count = 1, bytes = 0;
  for (int k = 0; st == FR_OK && k < a->ndims; k++)
    if ((uint64_t)a->dims[k] > SIZE_MAX || !fr__mul_size(count, (size_t)a->dims[k], &count))
      st = fr__fail(err, FR_E_FORMAT, "%s: the shape's element count overflows", path);
  if (st == FR_OK && !fr__mul_size(count, sizeof(float), &bytes))
    st = fr__fail(err, FR_E_FORMAT, "%s: the shape's element count overflows", path);
  /* The data must be exactly what the shape says: a short file is
   * truncated, a long one is not the array its header describes. */
  if (st == FR_OK && (uint64_t)bytes != size - at)
    st = fr__fail(err, FR_E_FORMAT,
                  "%s: the shape needs %zu bytes of data, the file has %llu%s", path, bytes,
                  (unsigned long long)(size - at),
                  (uint64_t)bytes > size - at ? " (truncated)" : "");
  if (st == FR_OK) {
    a->count = count;
    a->data = malloc(bytes ? bytes : 1);
    if (!a->data) st = fr__fail(err, FR_E_NOMEM, "%s: out of memory for %zu bytes", path, bytes);
    else if (bytes && fread(a->data, 1, bytes, f) != bytes)
      st = fr__fail(err, FR_E_IO, "%s: cannot read the data", path);
    else from_le(a->data, count);
  }
  fclose(f);
  if (st != FR_OK) npy_free(a);
  return st;
}

void npy_free(npy_array *a) {
  if (!a) return;
  free(a->data);
  memset(a, 0, sizeof *a);
}

/* ---- writing ------------------------------------------------------------- */

fr_status npy_write(const char *path, int ndims, const int64_t *dims, const float *data,
                    fr_error *err) {
  if (ndims < 0 || ndims > NPY_MAX_DIMS)
    return fr__fail(err, FR_E_INVALID, "%s: %d dimensions", path, ndims);
  char head[256];
  size_t count = 1;
  int len = snprintf(head, sizeof head, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
  for (int k = 0; k < ndims; k++) {
    if (dims[k] < 0 || (uint64_t)dims[k] > SIZE_MAX ||
        !fr__mul_size(count, (size_t)dims[k], &count))
      return fr__fail(err, FR_E_INVALID, "%s: bad dimension %lld", path, (long long)dims[k]);
    len += snprintf(head + len, sizeof head - (size_t)len, "%s%lld", k ? ", " : "",
                    (long long)dims[k]);
  }
  len += snprintf(head + len, sizeof head - (size_t)len, "%s), }", ndims == 1 ? "," : "");
  /* numpy pads the header with spaces so that the data starts at a
   * multiple of 64 bytes, and ends it with a newline. */
  size_t total = 10 + (size_t)len + 1, pad = (64 - total % 64) % 64;
  size_t hlen = (size_t)len + pad + 1;
  if (hlen + 1 > sizeof head) return fr__fail(err, FR_E_INTERNAL, "%s: header too long", path);
  memset(head + len, ' ', pad);
  head[hlen - 1] = '\n';
  unsigned char pre[10];
  memcpy(pre, k_magic, 6);
  pre[6] = 1, pre[7] = 0;
  pre[8] = (unsigned char)(hlen & 0xff), pre[9] = (unsigned char)(hlen >> 8);

  FILE *f = fopen(path, "wb");
  if (!f) return fr__fail(err, FR_E_IO, "cannot create %s: %s", path, strerror(errno));
  int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(head, 1, hlen, f) == hlen;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  for (size_t i = 0; ok && i < count; i++) {
    uint32_t u;
    unsigned char b[4];
    memcpy(&u, &data[i], 4);
    b[0] = (unsigned char)u, b[1] = (unsigned char)(u >> 8), b[2] = (unsigned char)(u >> 16),
    b[3] = (unsigned char)(u >> 24);
    ok = fwrite(b, 1, 4, f) == 4;
  }
#else
  ok = ok && (count == 0 || fwrite(data, sizeof *data, count, f) == count);
#endif
  if (fclose(f) != 0) ok = 0;
  if (!ok) {
    remove(path);
    return fr__fail(err, FR_E_IO, "cannot write %s: %s", path, strerror(errno));
  }
  return FR_OK;
}
