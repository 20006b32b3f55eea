/*
 * ws.c - WebSocket frame headers, masking and the handshake key (see ws.h).
 */
#include "server/ws.h"

#include <string.h>

int fr__ws_parse_header(const uint8_t *p, size_t n, fr__ws_header *h, fr_error *err) {
  memset(h, 0, sizeof *h);
  if (n < 2) return 0;
  if (p[0] & 0x70) {
    fr__fail(err, FR_E_FORMAT, "reserved bits set in a frame (no extension was negotiated)");
    return -1;
  }
  h->fin = p[0] >> 7;
  h->opcode = p[0] & 0x0F;
  h->masked = p[1] >> 7;
  int op = h->opcode;
  if (!(op <= 2 || (op >= 8 && op <= 10))) {
    fr__fail(err, FR_E_FORMAT, "an unknown frame opcode");
    return -1;
  }
  if (!h->masked) {
    fr__fail(err, FR_E_FORMAT, "a client frame without a mask");
    return -1;
  }
  uint64_t len = p[1] & 0x7F;
  size_t pos = 2;
  if (len == 126) {
    if (n < 4) return 0;
    len = (uint64_t)p[2] << 8 | p[3];
    pos = 4;
    if (len < 126) {
      fr__fail(err, FR_E_FORMAT, "a frame length not in its shortest form");
      return -1;
    }
  } else if (len == 127) {
    if (n < 10) return 0;
    len = 0;
    for (int i = 0; i < 8; i++) len = len << 8 | p[2 + i];
    pos = 10;
    if (len >> 63) {
      fr__fail(err, FR_E_FORMAT, "a frame length with its top bit set");
      return -1;
    }
    if (len < 65536) {
      fr__fail(err, FR_E_FORMAT, "a frame length not in its shortest form");
      return -1;
    }
  }
  if (op >= 8 && (!h->fin || len > 125)) {
    fr__fail(err, FR_E_FORMAT, "a control frame that is fragmented or longer than 125 bytes");
    return -1;
  }
  if (n < pos + 4) return 0;
  memcpy(h->mask, p + pos, 4);
  h->len = len;
  return (int)(pos + 4);
}

void fr__ws_unmask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset) {
  /* Eight bytes at a time (the mask repeats every four), then the tail:
   * every byte a client streams passes through here. */
  uint8_t m8[8];
  for (int k = 0; k < 8; k++) m8[k] = mask[(offset + (uint64_t)k) & 3];
  uint64_t w;
  memcpy(&w, m8, 8);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    memcpy(&v, p + i, 8);
    v ^= w;
    memcpy(p + i, &v, 8);
  }
  for (; i < n; i++) p[i] ^= mask[(offset + i) & 3];
}

size_t fr__ws_frame_head(uint8_t out[10], int opcode, uint64_t len) {
  out[0] = (uint8_t)(0x80 | (opcode & 0x0F));
  if (len < 126) {
    out[1] = (uint8_t)len;
    return 2;
  }
  if (len < 65536) {
    out[1] = 126;
    out[2] = (uint8_t)(len >> 8), out[3] = (uint8_t)len;
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
  return 10;
}

/* ---- SHA-1 (FIPS 180-4), for the handshake only ----------------------------------------- */

static uint32_t rol(uint32_t x, int k) { return x << k | x >> (32 - k); }

static void sha1_block(uint32_t st[5], const uint8_t *b) {
  uint32_t w[80];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 | (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
  for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  uint32_t a = st[0], bb = st[1], c = st[2], d = st[3], e = st[4];
  for (int i = 0; i < 80; i++) {
    uint32_t f, k;
    if (i < 20) f = (bb & c) | (~bb & d), k = 0x5A827999u;
    else if (i < 40) f = bb ^ c ^ d, k = 0x6ED9EBA1u;
    else if (i < 60) f = (bb & c) | (bb & d) | (c & d), k = 0x8F1BBCDCu;
    else f = bb ^ c ^ d, k = 0xCA62C1D6u;
    uint32_t t = rol(a, 5) + f + e + k + w[i];
    e = d, d = c, c = rol(bb, 30), bb = a, a = t;
  }
  st[0] += a, st[1] += bb, st[2] += c, st[3] += d, st[4] += e;
}

void fr__sha1(const void *data, size_t n, uint8_t out[20]) {
  uint32_t st[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
  const uint8_t *p = data;
  size_t left = n;
  while (left >= 64) sha1_block(st, p), p += 64, left -= 64;
  uint8_t last[128] = {0};
  memcpy(last, p, left);
  last[left] = 0x80;
  size_t total = left + 9 <= 64 ? 64 : 128;
  uint64_t bits = (uint64_t)n * 8;
  for (int i = 0; i < 8; i++) last[total - 1 - i] = (uint8_t)(bits >> (8 * i));
  sha1_block(st, last);
  if (total == 128) sha1_block(st, last + 64);
  for (int i = 0; i < 5; i++)
    out[4 * i] = (uint8_t)(st[i] >> 24), out[4 * i + 1] = (uint8_t)(st[i] >> 16),
    out[4 * i + 2] = (uint8_t)(st[i] >> 8), out[4 * i + 3] = (uint8_t)st[i];
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int fr__ws_key_valid(const char *key) {
  if (strlen(key) != 24 || key[22] != '=' || key[23] != '=') return 0;
  for (int i = 0; i < 22; i++)
    if (!strchr(b64, key[i]) || key[i] == '\0') return 0;
  /* The last character before the padding carries 2 bits of data and 4 of
   * zero padding. */
  return (strchr(b64, key[21]) - b64) % 16 == 0;
}

void fr__ws_accept(const char *key, char out[29]) {
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  char buf[64 + sizeof guid];
  size_t kn = strnlen(key, 64);
  memcpy(buf, key, kn);
  memcpy(buf + kn, guid, sizeof guid - 1);
  uint8_t d[21] = {0};
  fr__sha1(buf, kn + sizeof guid - 1, d);
  int o = 0;
  for (int i = 0; i < 21; i += 3) {
    uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
    out[o++] = b64[v >> 18 & 63];
    out[o++] = b64[v >> 12 & 63];
    out[o++] = i + 1 < 20 ? b64[v >> 6 & 63] : '=';
    out[o++] = i + 2 < 20 ? b64[v & 63] : '=';
  }
  out[28] = '\0';
}
