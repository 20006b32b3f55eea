/*
 * http.c - request heads and chunked bodies (see http.h). Strict on purpose:
 * whatever a proxy in front of us might read differently from us is refused
 * rather than guessed at.
 */
#include "server/http.h"

#include <stdio.h>
#include <string.h>

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* RFC 9110 token characters (header names, methods). */
static int is_tchar(unsigned char c) {
  if (c >= '0' && c <= '9') return 1;
  if ((c | 32) >= 'a' && (c | 32) <= 'z') return 1;
  return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Field-value bytes: visible ASCII, space, tab and obs-text; never CR, LF,
 * NUL or another control. */
static int is_vchar(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

static int name_is(const char *p, size_t n, const char *name) {
  if (strlen(name) != n) return 0;
  for (size_t i = 0; i < n; i++)
    if (lower((unsigned char)p[i]) != name[i]) return 0;
  return 1;
}

/* 1 if the comma-separated header value `list` holds `token` (case-insensitive). */
static int has_token(const char *list, const char *token) {
  size_t tn = strlen(token);
  const char *p = list;
  while (*p) {
    while (*p == ' ' || *p == '\t' || *p == ',') p++;
    const char *s = p;
    while (*p && *p != ',') p++;
    const char *e = p;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
    if ((size_t)(e - s) == tn) {
      size_t i = 0;
      while (i < tn && lower((unsigned char)s[i]) == lower((unsigned char)token[i])) i++;
      if (i == tn) return 1;
    }
  }
  return 0;
}

static int fail(int *status, int code, fr_error *err, const char *msg) {
  *status = code;
  fr__fail(err, code == 431 ? FR_E_LIMIT : FR_E_FORMAT, "%s", msg);
  return -1;
}

/* Copies a header value into a fixed field; a second copy of a header the
 * server relies on is refused, since two readers could pick different ones. */
static int store(char *dst, size_t size, int *seen, const char *v, size_t n, int *status, fr_error *err,
                 const char *what) {
  char msg[96];
  if (seen && *seen) {
    snprintf(msg, sizeof msg, "more than one %s header", what);
    return fail(status, 400, err, msg);
  }
  if (n >= size) {
    snprintf(msg, sizeof msg, "the %s header is too long", what);
    return fail(status, 431, err, msg);
  }
  memcpy(dst, v, n);
  dst[n] = '\0';
  if (seen) *seen = 1;
  return 0;
}

static int parse_request_line(const char *p, size_t n, fr__http_head *h, int *status, fr_error *err) {
  size_t i = 0;
  while (i < n && p[i] != ' ') {
    if (!is_tchar((unsigned char)p[i])) return fail(status, 400, err, "a malformed request method");
    i++;
  }
  if (i == 0 || i >= sizeof h->method) return fail(status, i ? 501 : 400, err, "an unknown request method");
  memcpy(h->method, p, i);
  h->method[i] = '\0';
  if (i >= n || p[i] != ' ') return fail(status, 400, err, "a malformed request line");
  size_t t0 = ++i;
  while (i < n && p[i] != ' ') {
    unsigned char c = (unsigned char)p[i];
    if (c <= 0x20 || c >= 0x7f) return fail(status, 400, err, "a request target with a control, space or non-ASCII byte");
    i++;
  }
  size_t tn = i - t0;
  if (tn == 0) return fail(status, 400, err, "an empty request target");
  if (tn >= FR_HTTP_MAX_TARGET) return fail(status, 414, err, "the request target is too long");
  const char *t = p + t0;
  if (t[0] != '/' && !(tn == 1 && t[0] == '*'))
    return fail(status, 400, err, "the request target must be a path (origin form)");
  if (memchr(t, '#', tn)) return fail(status, 400, err, "a fragment in the request target");
  const char *q = memchr(t, '?', tn);
  size_t pn = q ? (size_t)(q - t) : tn;
  memcpy(h->path, t, pn);
  h->path[pn] = '\0';
  if (q) {
    memcpy(h->query, q + 1, tn - pn - 1);
    h->query[tn - pn - 1] = '\0';
  } else {
    h->query[0] = '\0';
  }
  if (i >= n || p[i] != ' ') return fail(status, 400, err, "a malformed request line");
  i++;
  if (n - i != 8 || memcmp(p + i, "HTTP/1.", 7) != 0 || (p[i + 7] != '0' && p[i + 7] != '1'))
    return fail(status, 505, err, "only HTTP/1.0 and HTTP/1.1 are served");
  h->minor = p[i + 7] - '0';
  return 0;
}

static int parse_number(const char *v, size_t n, long long *out) {
  if (n == 0 || n > 18) return 0;
  long long x = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9') return 0;
    x = x * 10 + (v[i] - '0');
  }
  *out = x;
  return 1;
}

/* One header line (without its CRLF). */
static int parse_header(const char *p, size_t n, fr__http_head *h, int *n_cl, int *n_te, int *conn_upgrade,
                        int *upgrade, int *status, fr_error *err) {
  if (p[0] == ' ' || p[0] == '\t') return fail(status, 400, err, "folded header lines are not accepted");
  size_t k = 0;
  while (k < n && p[k] != ':') {
    if (!is_tchar((unsigned char)p[k])) return fail(status, 400, err, "a malformed header name");
    k++;
  }
  if (k == 0 || k == n) return fail(status, 400, err, "a header line without a name and a colon");
  const char *v = p + k + 1;
  size_t vn = n - k - 1;
  for (size_t i = 0; i < vn; i++)
    if (!is_vchar((unsigned char)v[i])) return fail(status, 400, err, "a control byte in a header value");
  while (vn && (*v == ' ' || *v == '\t')) v++, vn--;
  while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t')) vn--;
  char tmp[256];
  if (name_is(p, k, "content-length")) {
    long long x;
    if (!parse_number(v, vn, &x)) return fail(status, 400, err, "a malformed Content-Length");
    if (*n_cl && x != h->content_length) return fail(status, 400, err, "two different Content-Length values");
    (*n_cl)++;
    h->content_length = x;
  } else if (name_is(p, k, "transfer-encoding")) {
    (*n_te)++;
    if (*n_te > 1) return fail(status, 400, err, "more than one Transfer-Encoding header");
    if (vn != 7 || !name_is(v, vn, "chunked")) return fail(status, 501, err, "only the chunked transfer coding is accepted");
    h->chunked = 1;
  } else if (name_is(p, k, "connection")) {
    if (store(tmp, sizeof tmp, NULL, v, vn, status, err, "Connection")) return -1;
    if (has_token(tmp, "close")) h->keep_alive = 0;
    else if (has_token(tmp, "keep-alive")) h->keep_alive = 1;
    if (has_token(tmp, "upgrade")) *conn_upgrade = 1;
  } else if (name_is(p, k, "upgrade")) {
    if (store(tmp, sizeof tmp, NULL, v, vn, status, err, "Upgrade")) return -1;
    if (has_token(tmp, "websocket")) *upgrade = 1;
  } else if (name_is(p, k, "expect")) {
    if (!name_is(v, vn, "100-continue")) return fail(status, 417, err, "only Expect: 100-continue is understood");
    h->expect_continue = 1;
  } else if (name_is(p, k, "host")) {
    return store(h->host, sizeof h->host, &h->has_host, v, vn, status, err, "Host");
  } else if (name_is(p, k, "origin")) {
    return store(h->origin, sizeof h->origin, &h->has_origin, v, vn, status, err, "Origin");
  } else if (name_is(p, k, "x-api-key")) {
    return store(h->api_key, sizeof h->api_key, &h->has_api_key, v, vn, status, err, "X-API-Key");
  } else if (name_is(p, k, "content-type")) {
    int seen = h->content_type[0] != '\0';
    return store(h->content_type, sizeof h->content_type, &seen, v, vn, status, err, "Content-Type");
  } else if (name_is(p, k, "sec-websocket-key")) {
    int seen = h->ws_key[0] != '\0';
    return store(h->ws_key, sizeof h->ws_key, &seen, v, vn, status, err, "Sec-WebSocket-Key");
  } else if (name_is(p, k, "sec-websocket-version")) {
    long long x = 0;
    if (!parse_number(v, vn, &x) || x > 255) return fail(status, 400, err, "a malformed Sec-WebSocket-Version");
    h->ws_version = (int)x;
  } else if (name_is(p, k, "access-control-request-method")) {
    int seen = h->acr_method[0] != '\0';
    return store(h->acr_method, sizeof h->acr_method, &seen, v, vn, status, err,
                 "Access-Control-Request-Method");
  }
  return 0;
}

int fr__http_parse_head(const char *buf, size_t n, fr__http_head *h, int *status, fr_error *err) {
  memset(h, 0, sizeof *h);
  h->content_length = -1;
  *status = 0;
  size_t start = 0;
  /* Empty lines before a request (left over from a previous body) are
   * skipped; a lone CR or LF is not a line ending here. */
  while (start + 1 < n && buf[start] == '\r' && buf[start + 1] == '\n') start += 2;
  size_t limit = n < FR_HTTP_MAX_HEAD ? n : FR_HTTP_MAX_HEAD;
  size_t pos = start, line_no = 0;
  int n_cl = 0, n_te = 0, conn_upgrade = 0, upgrade = 0, n_headers = 0;
  for (;;) {
    size_t e = pos;
    while (e < limit && buf[e] != '\n') {
      if (buf[e] == '\r' && (e + 1 >= limit ? 0 : buf[e + 1] != '\n'))
        return fail(status, 400, err, "a bare CR in the request head");
      if (buf[e] == '\0') return fail(status, 400, err, "a NUL byte in the request head");
      e++;
    }
    if (e >= limit) {
      if (n >= FR_HTTP_MAX_HEAD) return fail(status, line_no ? 431 : 414, err, "the request head is too large");
      return 0;
    }
    if (e == pos || buf[e - 1] != '\r') return fail(status, 400, err, "a bare LF in the request head");
    size_t len = e - 1 - pos;
    if (line_no == 0) {
      if (parse_request_line(buf + pos, len, h, status, err)) return -1;
      h->keep_alive = h->minor == 1;
    } else if (len == 0) {
      pos = e + 1;
      break;
    } else {
      if (++n_headers > FR_HTTP_MAX_HEADERS) return fail(status, 431, err, "too many header lines");
      if (parse_header(buf + pos, len, h, &n_cl, &n_te, &conn_upgrade, &upgrade, status, err)) return -1;
    }
    line_no++;
    pos = e + 1;
  }
  if (n_cl && n_te)
    return fail(status, 400, err, "Content-Length and Transfer-Encoding together are refused");
  if (h->chunked && h->minor == 0) return fail(status, 400, err, "chunked bodies need HTTP/1.1");
  if (h->minor == 1 && !h->has_host) return fail(status, 400, err, "HTTP/1.1 requests need a Host header");
  h->upgrade_websocket = upgrade && conn_upgrade;
  return (int)(pos);
}

/* ---- chunked bodies -------------------------------------------------------------------- */

enum { CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER, CH_TRAILER_LF, CH_DONE };

#define CH_MAX_LINE 256     /* bytes of a chunk-size line with its extensions */
#define CH_MAX_TRAILER 4096 /* bytes of all trailer lines */

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  c |= 32;
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int ch_fail(fr_error *err, fr_status st, const char *msg) {
  fr__fail(err, st, "%s", msg);
  return -1;
}

int fr__http_chunked_step(fr__http_chunked *c, uint8_t *buf, size_t n, size_t max, fr_error *err) {
  while (c->in < n && c->state != CH_DONE) {
    uint8_t b = buf[c->in];
    switch (c->state) {
    case CH_SIZE: {
      int v = hexval(b);
      if (v >= 0) {
        if (c->line >= 15) return ch_fail(err, FR_E_LIMIT, "a chunk size too large");
        c->left = c->left * 16 + (uint64_t)v;
        c->line++;
      } else if (c->line == 0) {
        return ch_fail(err, FR_E_FORMAT, "a malformed chunk size");
      } else if (b == ';' || b == ' ' || b == '\t') {
        c->state = CH_EXT;
      } else if (b == '\r') {
        c->state = CH_SIZE_LF;
      } else {
        return ch_fail(err, FR_E_FORMAT, "a malformed chunk size");
      }
      c->in++;
      break;
    }
    case CH_EXT:
      /* Chunk extensions are read past and ignored, within a bound. */
      if (b == '\r') c->state = CH_SIZE_LF;
      else if (b == '\n' || b == 0 || ++c->line > CH_MAX_LINE) return ch_fail(err, FR_E_FORMAT, "a malformed chunk extension");
      c->in++;
      break;
    case CH_SIZE_LF:
      if (b != '\n') return ch_fail(err, FR_E_FORMAT, "a chunk size line without CRLF");
      c->in++;
      c->line = 0;
      if (c->left == 0) {
        c->state = CH_TRAILER;
      } else {
        if (c->left > max - c->out) return ch_fail(err, FR_E_LIMIT, "the body is larger than the server accepts");
        c->state = CH_DATA;
      }
      break;
    case CH_DATA: {
      size_t take = n - c->in;
      if (take > c->left) take = (size_t)c->left;
      memmove(buf + c->out, buf + c->in, take);
      c->out += take, c->in += take, c->left -= take;
      if (c->left == 0) c->state = CH_DATA_CR;
      break;
    }
    case CH_DATA_CR:
      if (b != '\r') return ch_fail(err, FR_E_FORMAT, "a chunk longer than its size");
      c->in++;
      c->state = CH_DATA_LF;
      break;
    case CH_DATA_LF:
      if (b != '\n') return ch_fail(err, FR_E_FORMAT, "a chunk without its CRLF");
      c->in++;
      c->state = CH_SIZE, c->left = 0, c->line = 0;
      break;
    case CH_TRAILER:
      /* Trailer lines are skipped; an empty line ends the body. */
      if (b == '\r') {
        c->state = CH_TRAILER_LF;
      } else if (b == '\n' || b == 0 || ++c->line > CH_MAX_TRAILER) {
        return ch_fail(err, FR_E_FORMAT, "malformed or too long trailers");
      }
      c->left = b == '\r' ? c->left : c->left + 1; /* bytes on the current trailer line */
      c->in++;
      break;
    case CH_TRAILER_LF:
      if (b != '\n') return ch_fail(err, FR_E_FORMAT, "a trailer line without CRLF");
      c->in++;
      if (c->left == 0) c->state = CH_DONE;
      else c->state = CH_TRAILER, c->left = 0;
      break;
    }
  }
  return c->state == CH_DONE ? 1 : 0;
}
