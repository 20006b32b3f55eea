/*
 * test_server_client.h - a minimal HTTP/1.1 and WebSocket client over plain
 * sockets for the server tests: one request per connection (Connection:
 * close), so that the response ends where the socket does. Only what the
 * tests need; not a general client.
 */
#ifndef FR_TEST_SERVER_CLIENT_H
#define FR_TEST_SERVER_CLIENT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

typedef struct tc_response {
  int status;     /* HTTP status, or -1 when the exchange failed */
  char *body;     /* NUL-terminated, malloc'd (tc_free) */
  size_t size;
  char *raw;      /* the whole response */
} tc_response;

static void tc_free(tc_response *r) {
  free(r->raw);
  memset(r, 0, sizeof *r);
}

static int tc_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct timeval tv = {60, 0}; /* generous: the ASan build is slow */
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int tc_send_all(int fd, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n) {
    ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
    if (k <= 0) return -1;
    b += k, n -= (size_t)k;
  }
  return 0;
}

/* Sends a request; headers is extra header lines each ending in \r\n (may be
 * ""); content_type NULL sends no body headers unless body is given. A
 * declared_length >= 0 replaces the Content-Length header's value (to lie
 * about the size). */
static tc_response tc_request_ex(int port, const char *method, const char *path, const char *headers,
                                 const char *content_type, const void *body, size_t size,
                                 long long declared_length) {
  tc_response r = {-1, NULL, 0, NULL};
  int fd = tc_connect(port);
  if (fd < 0) return r;
  char head[2048];
  int n = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s", method,
                   path, headers ? headers : "");
  if (content_type) n += snprintf(head + n, sizeof head - (size_t)n, "Content-Type: %s\r\n", content_type);
  if (body || content_type || declared_length >= 0)
    n += snprintf(head + n, sizeof head - (size_t)n, "Content-Length: %lld\r\n",
                  declared_length >= 0 ? declared_length : (long long)size);
  n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
  if (tc_send_all(fd, head, (size_t)n) != 0 || (size && tc_send_all(fd, body, size) != 0)) {
    /* The server may answer and close before reading a body it refuses: read
     * what it said anyway. */
  }
  /* The request is complete: say so, so that a server draining a body it
   * refused (declared larger than sent) sees the end at once instead of
   * waiting for its read timeout. */
  shutdown(fd, SHUT_WR);
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (len + 4096 + 1 > cap) {
      cap *= 2;
      buf = realloc(buf, cap);
    }
    ssize_t k = recv(fd, buf + len, cap - len - 1, 0);
    if (k <= 0) break;
    len += (size_t)k;
  }
  close(fd);
  buf[len] = '\0';
  r.raw = buf;
  if (sscanf(buf, "HTTP/1.%*d %d", &r.status) != 1) r.status = -1;
  char *b = strstr(buf, "\r\n\r\n");
  r.body = b ? b + 4 : buf + len;
  r.size = (size_t)(buf + len - r.body);
  return r;
}

static tc_response tc_request(int port, const char *method, const char *path, const char *headers,
                              const char *content_type, const void *body, size_t size) {
  return tc_request_ex(port, method, path, headers, content_type, body, size, -1);
}

/* ---- WebSocket ------------------------------------------------------------------------ */

/* Opens a WebSocket to path; returns the socket or -1 when the handshake was
 * refused. */
static int tc_ws_open(int port, const char *path) {
  int fd = tc_connect(port);
  if (fd < 0) return -1;
  char req[1024];
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                   path);
  if (tc_send_all(fd, req, (size_t)n) != 0) {
    close(fd);
    return -1;
  }
  /* Reads the handshake answer byte by byte up to its blank line, so that no
   * frame byte after it is consumed. */
  char head[2048];
  size_t len = 0;
  while (len + 1 < sizeof head) {
    if (recv(fd, head + len, 1, 0) != 1) break;
    len++;
    if (len >= 4 && memcmp(head + len - 4, "\r\n\r\n", 4) == 0) break;
  }
  head[len] = '\0';
  if (strncmp(head, "HTTP/1.1 101", 12) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Sends one masked binary (opcode 2) or text (1) message. */
static int tc_ws_send(int fd, int opcode, const void *data, size_t n) {
  uint8_t h[14];
  size_t k = 0;
  h[k++] = (uint8_t)(0x80 | opcode);
  if (n < 126) h[k++] = (uint8_t)(0x80 | n);
  else if (n < 65536) {
    h[k++] = 0x80 | 126;
    h[k++] = (uint8_t)(n >> 8), h[k++] = (uint8_t)n;
  } else {
    h[k++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--) h[k++] = (uint8_t)((uint64_t)n >> (8 * i));
  }
  const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
  memcpy(h + k, mask, 4);
  k += 4;
  uint8_t *m = malloc(n ? n : 1);
  for (size_t i = 0; i < n; i++) m[i] = ((const uint8_t *)data)[i] ^ mask[i & 3];
  int rc = tc_send_all(fd, h, k) == 0 && tc_send_all(fd, m, n) == 0 ? 0 : -1;
  free(m);
  return rc;
}

static int tc_recv_all(int fd, void *p, size_t n) {
  uint8_t *b = p;
  while (n) {
    ssize_t k = recv(fd, b, n, 0);
    if (k <= 0) return -1;
    b += k, n -= (size_t)k;
  }
  return 0;
}

/* Receives the next text message into a malloc'd NUL-terminated string
 * (NULL on close or error); control frames are skipped. */
static char *tc_ws_recv_text(int fd) {
  for (;;) {
    uint8_t h[2];
    if (tc_recv_all(fd, h, 2)) return NULL;
    uint64_t n = h[1] & 0x7F;
    if (n == 126) {
      uint8_t e[2];
      if (tc_recv_all(fd, e, 2)) return NULL;
      n = (uint64_t)e[0] << 8 | e[1];
    } else if (n == 127) {
      uint8_t e[8];
      if (tc_recv_all(fd, e, 8)) return NULL;
      n = 0;
      for (int i = 0; i < 8; i++) n = n << 8 | e[i];
    }
    if (n > (64u << 20)) return NULL;
    char *s = malloc((size_t)n + 1);
    if (tc_recv_all(fd, s, (size_t)n)) {
      free(s);
      return NULL;
    }
    s[n] = '\0';
    int op = h[0] & 0x0F;
    if (op == 1) return s;
    free(s);
    if (op == 8) return NULL;
  }
}

/* Writes the 24-byte frame header of the stream protocol (src/server/parse.h). */
static void tc_frame_header(uint8_t h[24], uint32_t seq, uint32_t w, uint32_t ht, uint32_t stride,
                            uint32_t format) {
  memcpy(h, "FRF1", 4);
  uint32_t v[5] = {seq, w, ht, stride, format};
  for (int i = 0; i < 5; i++)
    for (int b = 0; b < 4; b++) h[4 + 4 * i + b] = (uint8_t)(v[i] >> (8 * b));
}

#endif
