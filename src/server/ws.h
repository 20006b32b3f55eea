/*
 * ws.h - WebSocket framing (RFC 6455) as pure functions (prefix fr__ws_).
 *
 * The server reads frames itself so that a frame's length is judged from its
 * header, before a byte of its payload is stored: a client announcing a
 * 1 GiB frame is closed at once instead of being buffered. Nothing here does
 * I/O; src/server/net.c drives it and fuzz/fuzz_ws.c fuzzes it.
 */
#ifndef FR_SERVER_WS_H
#define FR_SERVER_WS_H

#include <stddef.h>
#include <stdint.h>

#include "core/internal.h"

enum {
  FR_WS_CONT = 0x0,
  FR_WS_TEXT = 0x1,
  FR_WS_BINARY = 0x2,
  FR_WS_CLOSE = 0x8,
  FR_WS_PING = 0x9,
  FR_WS_PONG = 0xA
};

/* Close codes the server sends. */
enum { FR_WS_CLOSE_NORMAL = 1000, FR_WS_CLOSE_PROTOCOL = 1002, FR_WS_CLOSE_TOO_BIG = 1009 };

typedef struct fr__ws_header {
  int fin, opcode, masked;
  uint8_t mask[4];
  uint64_t len; /* payload bytes */
} fr__ws_header;

/*
 * Parses the frame header at the start of p (n bytes) as a server reads a
 * client's frame: returns 0 when more bytes are needed, the header's length
 * (2 to 14) when it is complete, and -1 when the frame breaks the protocol
 * (reserved bits, unknown opcode, an unmasked frame, a fragmented or long
 * control frame, a non-minimal or 2^63+ length), with err saying why.
 */
int fr__ws_parse_header(const uint8_t *p, size_t n, fr__ws_header *h, fr_error *err);

/* XORs n bytes with the mask, starting at mask position `offset`. */
void fr__ws_unmask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset);

/* Writes a server frame header (FIN set, unmasked) to out; returns its length. */
size_t fr__ws_frame_head(uint8_t out[10], int opcode, uint64_t len);

/* 1 if key is a valid Sec-WebSocket-Key: base64 of 16 bytes. */
int fr__ws_key_valid(const char *key);

/* The Sec-WebSocket-Accept value of a key: base64(SHA-1(key + RFC GUID)). */
void fr__ws_accept(const char *key, char out[29]);

/* SHA-1 of n bytes (the handshake needs it; it is not used for security). */
void fr__sha1(const void *data, size_t n, uint8_t out[20]);

#endif
