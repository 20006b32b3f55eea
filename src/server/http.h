/*
 * http.h - HTTP/1.1 request heads and chunked bodies, parsed from bytes
 * (prefix fr__http_).
 *
 * The server reads requests itself (src/server/net.c) instead of leaving
 * that to an HTTP library, so that every limit is checked before memory is
 * committed and every ambiguity that request smuggling lives on is refused:
 * a bare LF or CR, folded header lines, a Content-Length next to a
 * Transfer-Encoding, two different Content-Lengths, a transfer coding other
 * than chunked. These functions do no I/O and keep no hidden state, so the
 * unit tests and the fuzzer (fuzz/fuzz_http.c) run them exactly as the
 * server does. All are thread-safe.
 */
#ifndef FR_SERVER_HTTP_H
#define FR_SERVER_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "core/internal.h"

#define FR_HTTP_MAX_HEAD (16 * 1024) /* bytes of a request line plus headers */
#define FR_HTTP_MAX_HEADERS 64
#define FR_HTTP_MAX_TARGET 4096      /* bytes of the request target */

/* What the server needs of a request head, copied out of the buffer (which
 * may move once the body is read into it). Headers the server does not use
 * are checked for syntax and otherwise ignored. */
typedef struct fr__http_head {
  char method[16];
  char path[FR_HTTP_MAX_TARGET];  /* the target up to '?', still percent-encoded */
  char query[FR_HTTP_MAX_TARGET]; /* after '?', "" when none */
  int minor;                      /* HTTP/1.minor */
  long long content_length;       /* -1: no Content-Length */
  int chunked;                    /* Transfer-Encoding: chunked */
  int keep_alive;                 /* 1 unless Connection: close or HTTP/1.0 without keep-alive */
  int upgrade_websocket;          /* Upgrade: websocket with Connection: upgrade */
  int expect_continue;            /* Expect: 100-continue */
  int ws_version;                 /* Sec-WebSocket-Version, 0 when absent */
  char ws_key[32];                /* Sec-WebSocket-Key */
  char host[256];                 /* "" with has_host 0 when absent */
  char origin[256];
  char content_type[128];
  char api_key[256];
  char acr_method[16];            /* Access-Control-Request-Method (preflights) */
  int has_host, has_origin, has_api_key;
} fr__http_head;

/*
 * Parses the request head at the start of buf (n bytes). Returns 0 when the
 * head is not complete yet (and n is still under FR_HTTP_MAX_HEAD), the
 * length of the head (through the empty line) when it is, or -1 when the
 * request must be refused: *status then holds the HTTP status to answer
 * (400, 414, 431, 501 or 505) and err a message for the client. Empty lines
 * before the request line are skipped, as RFC 9112 asks.
 */
int fr__http_parse_head(const char *buf, size_t n, fr__http_head *h, int *status, fr_error *err);

/* The state of one chunked body being decoded in place. Zero it to start. */
typedef struct fr__http_chunked {
  int state;
  uint64_t left;   /* bytes left in the current chunk, or digits/bytes read in a line */
  size_t in, out;  /* bytes of the buffer consumed, bytes of body decoded so far */
  size_t line;     /* bytes of the current size line or trailer section */
} fr__http_chunked;

/*
 * Decodes a chunked body in place: buf holds n bytes that came after the
 * head; the decoded body is moved to buf[0 .. c->out) (it is never longer
 * than what it was decoded from). Call again with the same buffer and a
 * larger n when more bytes arrive. Returns 1 when the last chunk and its
 * trailers are read (c->in is then where the next request starts), 0 when
 * more bytes are needed, and -1 on a malformed body (FR_E_FORMAT) or one
 * whose decoded size would pass max (FR_E_LIMIT).
 */
int fr__http_chunked_step(fr__http_chunked *c, uint8_t *buf, size_t n, size_t max, fr_error *err);


#endif
