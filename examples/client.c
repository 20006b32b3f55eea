/*
 * client.c - a small client of `facerec serve`: sends one photo to
 * POST /api/v1/recognize and prints the JSON answer.
 *
 *   client [--raw] PORT API_KEY IMAGE
 *
 * Without --raw the file's bytes go as they are (image/jpeg or image/png, by
 * extension). With --raw the photo is decoded here with fr_image_load() and
 * its pixels sent as application/octet-stream, with width, height, stride
 * and format in the query: the server then wraps them without decoding
 * anything (what a camera pipeline that already has pixels would do).
 * Plain POSIX sockets to 127.0.0.1; one request, Connection: close.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "facerec.h"

static int send_all(int fd, const void *p, size_t n) {
  const unsigned char *b = p;
  while (n) {
    ssize_t k = send(fd, b, n, 0);
    if (k <= 0) return -1;
    b += k, n -= (size_t)k;
  }
  return 0;
}

static unsigned char *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = len > 0 ? malloc((size_t)len) : NULL;
  *n = b ? fread(b, 1, (size_t)len, f) : 0;
  fclose(f);
  return b;
}

int main(int argc, char **argv) {
  int raw = argc > 1 && strcmp(argv[1], "--raw") == 0;
  if (argc != 4 + raw) {
    fprintf(stderr, "usage: client [--raw] PORT API_KEY IMAGE\n");
    return 2;
  }
  int port = atoi(argv[1 + raw]);
  const char *key = argv[2 + raw], *path = argv[3 + raw];
  char target[160];
  const char *type;
  unsigned char *body = NULL;
  size_t size = 0;
  fr_image img = {0};
  if (raw) {
    fr_error err;
    if (fr_image_load(path, NULL, &img, &err) != FR_OK) {
      fprintf(stderr, "client: %s\n", err.message);
      return 1;
    }
    body = img.data;
    size = (size_t)img.stride * (size_t)img.height;
    snprintf(target, sizeof target, "/api/v1/recognize?width=%d&height=%d&stride=%d&format=%s", img.width,
             img.height, img.stride, img.format == FR_PIXEL_GRAY ? "gray" : "rgb");
    type = "application/octet-stream";
  } else {
    body = read_file(path, &size);
    if (!body) {
      fprintf(stderr, "client: cannot read %s\n", path);
      return 1;
    }
    snprintf(target, sizeof target, "/api/v1/recognize");
    size_t len = strlen(path);
    type = len > 4 && strcmp(path + len - 4, ".png") == 0 ? "image/png" : "image/jpeg";
  }
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    fprintf(stderr, "client: cannot connect to 127.0.0.1:%d\n", port);
    return 1;
  }
  char head[512];
  int n = snprintf(head, sizeof head,
                   "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: %s\r\nContent-Type: %s\r\n"
                   "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                   target, key, type, size);
  int rc = 0;
  if (send_all(fd, head, (size_t)n) != 0 || send_all(fd, body, size) != 0) rc = 1;
  /* The answer: status line and headers, then the JSON body; print the body. */
  size_t cap = 1 << 16, len = 0;
  char *resp = malloc(cap);
  ssize_t k;
  while (resp && (k = recv(fd, resp + len, cap - len - 1, 0)) > 0) {
    len += (size_t)k;
    if (len + 1 == cap) {
      char *r = realloc(resp, cap *= 2);
      if (!r) break;
      resp = r;
    }
  }
  close(fd);
  if (resp) {
    resp[len] = '\0';
    char *json = strstr(resp, "\r\n\r\n");
    int status = 0;
    sscanf(resp, "HTTP/1.%*d %d", &status);
    printf("%s\n", json ? json + 4 : resp);
    if (status != 200) rc = 1;
  }
  free(resp);
  if (raw) fr_image_free(&img);
  else free(body);
  return rc;
}
