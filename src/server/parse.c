/*
 * parse.c - the server's parsers of untrusted request bytes (see parse.h).
 * Every function bounds its reads by the sizes it is given and never relies
 * on a terminating NUL inside client data.
 */
#include "server/parse.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
static fr_status url_decode(const char *s, size_t n, char *out, size_t size, fr_error *err) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    int c = (unsigned char)s[i];
    if (c == '+') c = ' ';
    else if (c == '%') {
      int hi = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
      int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
      if (hi < 0 || lo < 0) return fr__fail(err, FR_E_FORMAT, "bad %%-escape in the query string");
      c = hi * 16 + lo;
      i += 2;
    }
    if (c == 0) return fr__fail(err, FR_E_FORMAT, "NUL byte in the query string");
    if (k + 1 >= size) return fr__fail(err, FR_E_LIMIT, "a query parameter is too long");
    out[k++] = (char)c;
  }
  out[k] = '\0';
  return FR_OK;
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
      fr_status st = url_decode(p, (size_t)(kend - p), kbuf, sizeof kbuf, err);
      if (st != FR_OK) return st;
      if (strlen(kbuf) == klen && memcmp(kbuf, key, klen) == 0) {
        const char *v = eq ? eq + 1 : stop;
        st = url_decode(v, (size_t)(stop - v), out, size, err);
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

/* ---- names and JSON bodies ---------------------------------------------------------- */

int fr__srv_valid_name(const char *s, size_t n) {
  if (n == 0 || n >= FR_NAME_MAX || s[0] == ' ' || s[n - 1] == ' ') return 0;
  for (size_t i = 0; i < n;) {
    unsigned c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7F || c == '/' || c == '\\') return 0;
    if (c < 0x80) {
      i++;
      continue;
    }
    /* A UTF-8 sequence: its length, its continuation bytes, no overlong
     * forms, no surrogates, nothing above U+10FFFF. */
    int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (len == 0 || c > 0xF4 || i + (size_t)len > n) return 0;
    unsigned cp = c & (0x3Fu >> (len - 1));
    for (int k = 1; k < len; k++) {
      unsigned d = (unsigned char)s[i + (size_t)k];
      if ((d & 0xC0) != 0x80) return 0;
      cp = cp << 6 | (d & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || (cp >= 0x80 && cp < 0xA0))
      return 0;
    i += (size_t)len;
  }
  return 1;
}

fr_status fr__srv_subject_json(const char *body, size_t size, char name[FR_NAME_MAX], char *meta,
                               size_t meta_size, int *has_meta, fr_error *err) {
  name[0] = '\0';
  if (meta_size) meta[0] = '\0';
  *has_meta = 0;
  if (size > FR_SRV_MAX_JSON)
    return fr__fail(err, FR_E_LIMIT, "the JSON body is larger than %d bytes", FR_SRV_MAX_JSON);
  cJSON *root = cJSON_ParseWithLength(body, size);
  if (!root) return fr__fail(err, FR_E_FORMAT, "the body is not valid JSON");
  fr_status st = FR_OK;
  const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "name");
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "metadata");
  const char *ns = cJSON_IsObject(root) ? cJSON_GetStringValue(n) : NULL;
  if (!ns) st = fr__fail(err, FR_E_INVALID, "the body must be an object with a string \"name\"");
  else if (!fr__srv_valid_name(ns, strlen(ns)))
    st = fr__fail(err, FR_E_INVALID, "a name must be 1 to %d bytes of UTF-8 without control "
                                     "characters, slashes or surrounding spaces", FR_NAME_MAX - 1);
  else if (m && !cJSON_IsNull(m) && !cJSON_IsString(m))
    st = fr__fail(err, FR_E_INVALID, "\"metadata\" must be a string");
  else if (cJSON_IsString(m) && (strlen(m->valuestring) > FR_SRV_MAX_META ||
                                 strlen(m->valuestring) + 1 > meta_size))
    st = fr__fail(err, FR_E_LIMIT, "\"metadata\" is longer than %d bytes", FR_SRV_MAX_META);
  if (st == FR_OK) {
    snprintf(name, FR_NAME_MAX, "%s", ns);
    if (cJSON_IsString(m)) {
      snprintf(meta, meta_size, "%s", m->valuestring);
      *has_meta = 1;
    }
  }
  cJSON_Delete(root);
  return st;
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
      if (!fr__srv_valid_name(nm, nlen))
        return fr__fail(err, FR_E_INVALID, "bad subject name in the path");
      memcpy(r->name, nm, nlen);
      r->name[nlen] = '\0';
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
