/*
 * test_server_wire.c - the server's own wire parsers (src/server/http.c and
 * ws.c), directly: request heads with every smuggling ambiguity they must
 * refuse, chunked bodies fed whole and a byte at a time, WebSocket frame
 * headers, and the handshake's SHA-1 and accept key against RFC vectors.
 */
#include "check.h"

#include <stdint.h>

#include "server/http.h"
#include "server/ws.h"

/* Parses a head given as a C string; returns the parser's result, with the
 * status it asks for in *status. */
static int head(const char *text, fr__http_head *h, int *status) {
  fr_error err = {0};
  *status = 0;
  return fr__http_parse_head(text, strlen(text), h, status, &err);
}

static void test_heads(void) {
  fr__http_head h;
  int st;
  const char *ok = "POST /api/v1/detect?width=4&height=2 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
                   "Content-Length: 24\r\nContent-Type: application/octet-stream\r\nX-API-Key:  k1 \r\n\r\nBODY";
  int k = head(ok, &h, &st);
  CHECK_MSG(k == (int)(strlen(ok) - 4), "k = %d", k);
  CHECK(!strcmp(h.method, "POST") && !strcmp(h.path, "/api/v1/detect") && !strcmp(h.query, "width=4&height=2"));
  CHECK(h.content_length == 24 && !h.chunked && h.keep_alive && h.minor == 1);
  CHECK(!strcmp(h.host, "127.0.0.1:8080") && !strcmp(h.api_key, "k1") && h.has_api_key);
  /* Every prefix of a valid head is "not yet", never an error. */
  int prefixes_ok = 1;
  for (size_t n = 0; n < strlen(ok) - 4; n++) {
    fr_error err = {0};
    if (fr__http_parse_head(ok, n, &h, &st, &err) != 0) prefixes_ok = 0;
  }
  CHECK(prefixes_ok);
  /* Smuggling ambiguities and malformed framing. */
  CHECK(head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", &h, &st) < 0 && st == 400);
  CHECK(head("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", &h, &st) < 0 && st == 400);
  CHECK(head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", &h, &st) < 0 && st == 400);
  CHECK(head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", &h, &st) > 0);
  CHECK(head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", &h, &st) < 0 && st == 400);
  CHECK(head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", &h, &st) < 0 && st == 400);
  CHECK(head("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", &h, &st) < 0 && st == 501);
  CHECK(head("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", &h, &st) > 0 && h.chunked);
  CHECK(head("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", &h, &st) < 0);
  CHECK(head("GET / HTTP/1.1\nHost: a\r\n\r\n", &h, &st) < 0 && st == 400);       /* bare LF */
  CHECK(head("GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", &h, &st) < 0 && st == 400); /* bare CR */
  CHECK(head("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", &h, &st) < 0 && st == 400);
  CHECK(head("GET / HTTP/1.1\r\nHost : a\r\n\r\n", &h, &st) < 0 && st == 400);
  CHECK(head("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", &h, &st) < 0 && st == 400);
  CHECK(head("GET / HTTP/1.1\r\nHost: a\r\nX-API-Key: 1\r\nX-API-Key: 2\r\n\r\n", &h, &st) < 0 && st == 400);
  CHECK(head("GET / HTTP/1.1\r\n\r\n", &h, &st) < 0 && st == 400); /* 1.1 without Host */
  CHECK(head("GET / HTTP/1.0\r\n\r\n", &h, &st) > 0 && !h.keep_alive && !h.has_host);
  CHECK(head("GET / HTTP/2.0\r\nHost: a\r\n\r\n", &h, &st) < 0 && st == 505);
  CHECK(head("GET http://evil/ HTTP/1.1\r\nHost: a\r\n\r\n", &h, &st) < 0 && st == 400);
  CHECK(head("GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", &h, &st) < 0 && st == 400);
  CHECK(head("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", &h, &st) < 0);
  CHECK(head("GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n", &h, &st) < 0 && st == 400);
  CHECK(head("GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", &h, &st) > 0 && h.expect_continue);
  CHECK(head("GET / HTTP/1.1\r\nHost: a\r\nExpect: gimme\r\n\r\n", &h, &st) < 0 && st == 417);
  CHECK(head("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &h, &st) > 0 && !h.keep_alive);
  CHECK(head("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &h, &st) > 0 && !strcmp(h.method, "GET"));
  CHECK(head("GET /s HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
              "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", &h, &st) > 0 &&
        h.upgrade_websocket && h.ws_version == 13 && !strcmp(h.ws_key, "dGhlIHNhbXBsZSBub25jZQ=="));
  CHECK(head("GET /s HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", &h, &st) > 0 && !h.upgrade_websocket);
  /* Size limits: a long target, a long head, too many headers. */
  char *big = malloc(FR_HTTP_MAX_HEAD + 64);
  memset(big, 'a', FR_HTTP_MAX_HEAD + 63);
  memcpy(big, "GET /", 5);
  big[FR_HTTP_MAX_HEAD + 63] = '\0';
  CHECK(head(big, &h, &st) < 0 && st == 414);
  int n = snprintf(big, FR_HTTP_MAX_HEAD, "GET / HTTP/1.1\r\nHost: a\r\n");
  for (int i = 0; i < FR_HTTP_MAX_HEADERS + 1; i++) n += snprintf(big + n, FR_HTTP_MAX_HEAD - (size_t)n, "X-%d: v\r\n", i);
  snprintf(big + n, FR_HTTP_MAX_HEAD - (size_t)n, "\r\n");
  CHECK(head(big, &h, &st) < 0 && st == 431);
  n = snprintf(big, FR_HTTP_MAX_HEAD + 64, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
  memset(big + n, 'v', FR_HTTP_MAX_HEAD + 63 - (size_t)n);
  big[FR_HTTP_MAX_HEAD + 63] = '\0';
  CHECK(head(big, &h, &st) < 0 && st == 431);
  free(big);
}

/* Decodes a chunked body fed `step` bytes at a time (0: all at once). */
static int dechunk(const char *raw, size_t step, size_t max, char *out, size_t *out_n, size_t *in_used, fr_status *why) {
  size_t n = strlen(raw);
  uint8_t *buf = malloc(n + 1);
  memcpy(buf, raw, n);
  fr__http_chunked c;
  memset(&c, 0, sizeof c);
  fr_error err = {0};
  int r = 0;
  /* The buffer holds the decoded part, then the raw bytes not yet decoded:
   * feeding more means handing the parser a longer buffer. The decoded
   * body is compacted in place, so the raw tail moves down with it. */
  size_t have = 0, raw_pos = 0;
  while (r == 0) {
    size_t more = step ? step : n;
    if (raw_pos + more > n) more = n - raw_pos;
    if (more == 0) break;
    memcpy(buf + have, raw + raw_pos, more);
    raw_pos += more, have += more;
    r = fr__http_chunked_step(&c, buf, have, max, &err);
    if (r < 0) break;
    /* What the server does: move the undecoded tail next to the decoded body. */
    memmove(buf + c.out, buf + c.in, have - c.in);
    have -= c.in - c.out;
    c.in = c.out;
  }
  if (r == 1) {
    memcpy(out, buf, c.out);
    out[c.out] = '\0';
    *out_n = c.out;
    *in_used = raw_pos - (have - c.in);
  }
  *why = err.status;
  free(buf);
  return r;
}

static void test_chunked(void) {
  char out[256];
  size_t n = 0, used = 0;
  fr_status why;
  const char *body = "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\nNEXT";
  CHECK(dechunk(body, 0, 100, out, &n, &used, &why) == 1 && n == 12 && !strcmp(out, "hello, world"));
  CHECK_MSG(used == strlen(body) - 4, "used %zu", used);
  int all_steps = 1;
  for (size_t step = 1; step < 9; step++)
    if (dechunk(body, step, 100, out, &n, &used, &why) != 1 || strcmp(out, "hello, world")) all_steps = 0;
  CHECK(all_steps);
  CHECK(dechunk("0\r\n\r\n", 0, 100, out, &n, &used, &why) == 1 && n == 0);
  CHECK(dechunk("A\r\n0123456789\r\n0\r\n\r\n", 0, 100, out, &n, &used, &why) == 1 && n == 10);
  CHECK(dechunk("5\r\nhello\r\n0\r\n\r\n", 0, 4, out, &n, &used, &why) == -1 && why == FR_E_LIMIT);
  CHECK(dechunk("fffffffffffffffff\r\n", 0, 100, out, &n, &used, &why) == -1 && why == FR_E_LIMIT);
  CHECK(dechunk("x\r\n", 0, 100, out, &n, &used, &why) == -1 && why == FR_E_FORMAT);
  CHECK(dechunk("5\nhello\r\n0\r\n\r\n", 0, 100, out, &n, &used, &why) == -1);
  CHECK(dechunk("5\r\nhelloX\r\n0\r\n\r\n", 0, 100, out, &n, &used, &why) == -1);
  CHECK(dechunk("5\r\nhello\r\n0\r\nbad\n\r\n", 0, 100, out, &n, &used, &why) == -1);
  CHECK(dechunk("5\r\nhel", 0, 100, out, &n, &used, &why) == 0);
}

static void test_ws(void) {
  uint8_t f[16] = {0x82, 0x85, 1, 2, 3, 4};
  fr__ws_header h;
  fr_error err = {0};
  CHECK(fr__ws_parse_header(f, 1, &h, &err) == 0);
  CHECK(fr__ws_parse_header(f, 5, &h, &err) == 0);
  CHECK(fr__ws_parse_header(f, 6, &h, &err) == 6 && h.fin && h.opcode == FR_WS_BINARY && h.len == 5 && h.mask[3] == 4);
  uint8_t u[] = {0x82, 0x05, 0, 0, 0, 0};
  CHECK(fr__ws_parse_header(u, sizeof u, &h, &err) < 0); /* unmasked */
  uint8_t rsv[] = {0xC2, 0x80, 0, 0, 0, 0};
  CHECK(fr__ws_parse_header(rsv, sizeof rsv, &h, &err) < 0);
  uint8_t op[] = {0x83, 0x80, 0, 0, 0, 0};
  CHECK(fr__ws_parse_header(op, sizeof op, &h, &err) < 0);
  uint8_t ctl[] = {0x09, 0x80, 0, 0, 0, 0}; /* a fragmented ping */
  CHECK(fr__ws_parse_header(ctl, sizeof ctl, &h, &err) < 0);
  uint8_t longping[] = {0x89, 0xFE, 0, 126, 0, 0, 0, 0};
  CHECK(fr__ws_parse_header(longping, sizeof longping, &h, &err) < 0);
  uint8_t m16[] = {0x82, 0xFE, 0x01, 0x00, 9, 9, 9, 9};
  CHECK(fr__ws_parse_header(m16, sizeof m16, &h, &err) == 8 && h.len == 256);
  uint8_t short16[] = {0x82, 0xFE, 0x00, 0x10, 9, 9, 9, 9};
  CHECK(fr__ws_parse_header(short16, sizeof short16, &h, &err) < 0); /* not minimal */
  /* A 1 GiB frame: its length is known from 14 bytes. */
  uint8_t g[] = {0x82, 0xFF, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4};
  CHECK(fr__ws_parse_header(g, sizeof g, &h, &err) == 14 && h.len == (1ULL << 30));
  uint8_t top[] = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
  CHECK(fr__ws_parse_header(top, sizeof top, &h, &err) < 0);
  uint8_t p[6] = {'a' ^ 1, 'b' ^ 2, 'c' ^ 3, 'd' ^ 4, 'e' ^ 1, 0};
  const uint8_t mask[4] = {1, 2, 3, 4};
  fr__ws_unmask(p, 5, mask, 0);
  CHECK(!memcmp(p, "abcde", 5));
  uint8_t fh[10];
  CHECK(fr__ws_frame_head(fh, FR_WS_TEXT, 5) == 2 && fh[0] == 0x81 && fh[1] == 5);
  CHECK(fr__ws_frame_head(fh, FR_WS_TEXT, 300) == 4 && fh[1] == 126 && fh[2] == 1 && fh[3] == 44);
  CHECK(fr__ws_frame_head(fh, FR_WS_BINARY, 70000) == 10 && fh[1] == 127 && fh[7] == 1);
  /* FIPS 180 and RFC 6455 vectors. */
  uint8_t d[20];
  fr__sha1("abc", 3, d);
  CHECK(d[0] == 0xa9 && d[1] == 0x99 && d[19] == 0x9d);
  fr__sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, d);
  CHECK(d[0] == 0x84 && d[1] == 0x98 && d[19] == 0xf1);
  char acc[29];
  fr__ws_accept("dGhlIHNhbXBsZSBub25jZQ==", acc);
  CHECK_MSG(!strcmp(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "%s", acc);
  CHECK(fr__ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=="));
  CHECK(!fr__ws_key_valid("dGhlIHNhbXBsZSBub25jZQ="));
  CHECK(!fr__ws_key_valid("dGhlIHNhbXBsZSBub25jZR=="));
  CHECK(!fr__ws_key_valid("dGhlIHNhbXBsZSBub25j*Q=="));
}

int main(void) {
  test_heads();
  test_chunked();
  test_ws();
  return check_summary();
}
