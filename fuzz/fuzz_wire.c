/*
 * fuzz_wire.c - libFuzzer target: the server's wire parsers, which read
 * every byte a client sends before anything else does (src/server/http.c,
 * src/server/ws.c). The first input byte picks the parser:
 *   0  a request head: a result inside the input, NUL-terminated fields, a
 *      refusal with a status the loop can send and a message;
 *   1  a chunked body, decoded whole and again in pieces whose sizes come
 *      from the input: both must agree (the loop decodes as bytes arrive);
 *   2  a run of WebSocket frames read the way the loop reads them: header
 *      lengths within 2..14, the payload length as announced, unmasking in
 *      bounds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http.h"
#include "server/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void violated(const char *what) {
  fprintf(stderr, "\nfuzz_wire: %s\n", what);
  abort();
}

static void fuzz_head(const uint8_t *d, size_t n) {
  fr__http_head h;
  int status = 0;
  fr_error err = {0, ""};
  int k = fr__http_parse_head((const char *)d, n, &h, &status, &err);
  if (k > 0) {
    if ((size_t)k > n) violated("a head longer than the input");
    if (!memchr(h.method, 0, sizeof h.method) || !memchr(h.path, 0, sizeof h.path) ||
        !memchr(h.query, 0, sizeof h.query) || !memchr(h.host, 0, sizeof h.host))
      violated("an unterminated field");
    if (h.path[0] != '/' && h.path[0] != '*') violated("a target that is not a path");
    if (h.content_length >= 0 && h.chunked) violated("both a length and chunked accepted");
  } else if (k < 0) {
    if (status != 400 && status != 414 && status != 417 && status != 431 && status != 501 && status != 505)
      violated("an unexpected refusal status");
    if (!err.message[0]) violated("a refusal without a message");
  }
}

/* Decodes in pieces: sizes are taken from the first bytes of the input. */
static int decode(const uint8_t *raw, size_t n, const uint8_t *sizes, size_t n_sizes, uint8_t *out, size_t *out_n) {
  uint8_t *buf = malloc(n ? n : 1);
  if (!buf) return -2;
  fr__http_chunked c;
  memset(&c, 0, sizeof c);
  fr_error err = {0, ""};
  size_t have = 0, pos = 0, si = 0;
  int r = 0;
  while (r == 0 && pos < n) {
    size_t more = n_sizes ? (size_t)sizes[si++ % n_sizes] + 1 : n;
    if (more > n - pos) more = n - pos;
    memcpy(buf + have, raw + pos, more);
    pos += more, have += more;
    r = fr__http_chunked_step(&c, buf, have, 4096, &err);
    if (r < 0 && !err.message[0]) violated("a chunked refusal without a message");
    if (r < 0) break;
    if (c.out > c.in || c.in > have) violated("chunked positions out of order");
    memmove(buf + c.out, buf + c.in, have - c.in);
    have -= c.in - c.out;
    c.in = c.out;
  }
  if (r == 1) {
    if (c.out > 4096) violated("a decoded body over its limit");
    memcpy(out, buf, c.out);
    *out_n = c.out;
  }
  free(buf);
  return r;
}

static void fuzz_chunked(const uint8_t *d, size_t n) {
  if (n < 4) return;
  size_t n_sizes = d[0] % 8;
  if (n_sizes + 1 > n) return;
  const uint8_t *sizes = d + 1, *raw = d + 1 + n_sizes;
  size_t rn = n - 1 - n_sizes;
  static uint8_t a[4096], b[4096];
  size_t an = 0, bn = 0;
  int ra = decode(raw, rn, NULL, 0, a, &an);
  int rb = decode(raw, rn, sizes, n_sizes, b, &bn);
  if (ra == -2 || rb == -2) return;
  if ((ra < 0) != (rb < 0)) violated("whole and piecewise decoding disagree on an error");
  if (ra == 1 && rb == 1 && (an != bn || memcmp(a, b, an) != 0)) violated("whole and piecewise decoding differ");
}

static void fuzz_frames(const uint8_t *d, size_t n) {
  uint8_t *buf = malloc(n ? n : 1);
  if (!buf) return;
  memcpy(buf, d, n);
  size_t pos = 0;
  while (pos < n) {
    fr__ws_header h;
    fr_error err = {0, ""};
    int k = fr__ws_parse_header(buf + pos, n - pos, &h, &err);
    if (k == 0) break;
    if (k < 0) {
      if (!err.message[0]) violated("a frame refusal without a message");
      break;
    }
    if (k < 6 || k > 14) violated("a header length out of range");
    if (h.opcode >= 8 && h.len > 125) violated("a long control frame accepted");
    if (h.len > n - pos - (size_t)k) break; /* the loop waits for the rest */
    fr__ws_unmask(buf + pos + k, (size_t)h.len, h.mask, 0);
    pos += (size_t)k + (size_t)h.len;
  }
  free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return -1;
  switch (data[0] % 3) {
  case 0: fuzz_head(data + 1, size - 1); break;
  case 1: fuzz_chunked(data + 1, size - 1); break;
  default: fuzz_frames(data + 1, size - 1); break;
  }
  return 0;
}
