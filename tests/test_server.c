/*
 * test_server.c - the recognition server (src/server/) started in-process on
 * a free loopback port and exercised over real sockets: every route, the
 * key checks (401/403), malformed, oversize and mis-described bodies (each
 * a 4xx JSON error, the server healthy after each), the WebSocket stream,
 * and the request parsers of src/server/parse.c directly.
 */
#define _GNU_SOURCE
#include "check.h"

#include <cjson/cJSON.h>
#include <sys/stat.h>
#include <unistd.h>

#include "facerec.h"
#include "server/parse.h"
#include "server/server.h"
#include "test_server_client.h"

#define READ_KEY "read-key-for-tests"
#define ADMIN_KEY "admin-key-for-tests"
#define H_READ "X-API-Key: " READ_KEY "\r\n"
#define H_ADMIN "X-API-Key: " ADMIN_KEY "\r\n"
#define MAX_BODY (256 * 1024)

static int port;
static const char *tmpdir;

static uint8_t *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)len + 1);
  *n = fread(b, 1, (size_t)len, f);
  fclose(f);
  return b;
}

/* The JSON body of a response, or NULL. The caller deletes it. */
static cJSON *body_json(const tc_response *r) { return r->body ? cJSON_Parse(r->body) : NULL; }

/* Checks that r is an error with this status and a JSON {"error":{code,message}}
 * body, then that the server still answers its health check. */
#define CHECK_ERROR(r, want)                                                                   \
  do {                                                                                         \
    CHECK_MSG((r).status == (want), "status %d, want %d: %.200s", (r).status, (want),         \
              (r).body ? (r).body : "");                                                       \
    cJSON *j_ = body_json(&(r));                                                               \
    const cJSON *e_ = cJSON_GetObjectItemCaseSensitive(j_, "error");                           \
    CHECK_MSG(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e_, "code")) &&                  \
                  cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e_, "message")),             \
              "not a JSON error: %.200s", (r).body ? (r).body : "");                           \
    cJSON_Delete(j_);                                                                          \
    tc_response h_ = tc_request(port, "GET", "/api/v1/health", "", NULL, NULL, 0);            \
    CHECK_MSG(h_.status == 200, "unhealthy after an error: %d", h_.status);                    \
    tc_free(&h_);                                                                              \
  } while (0)

/* ---- the parsers, directly ---------------------------------------------------------- */

static void test_parsers(void) {
  char v[64];
  int found;
  fr_error err;
  CHECK(fr__srv_query_get("a=1&width=12%33&x", "width", v, sizeof v, &found, &err) == FR_OK && found &&
        strcmp(v, "123") == 0);
  CHECK(fr__srv_query_get("a=1", "width", v, sizeof v, &found, &err) == FR_OK && !found);
  CHECK(fr__srv_query_get("width=%4", "width", v, sizeof v, &found, &err) == FR_E_FORMAT);
  CHECK(fr__srv_query_get("width=%00", "width", v, sizeof v, &found, &err) == FR_E_FORMAT);
  CHECK(fr__srv_query_get("name=a+b", "name", v, sizeof v, &found, &err) == FR_OK && strcmp(v, "a b") == 0);
  fr__srv_raw raw;
  CHECK(fr__srv_raw_from_query("width=4&height=2&format=gray", 8, &raw, &err) == FR_OK && raw.stride == 4);
  CHECK(fr__srv_raw_from_query("width=4&height=2", 24, &raw, &err) == FR_OK && raw.format == FR_PIXEL_RGB);
  CHECK(fr__srv_raw_from_query("width=4&height=2&stride=16", 16 + 12, &raw, &err) == FR_OK); /* short last row */
  CHECK(fr__srv_raw_from_query("width=4&height=2", 23, &raw, &err) == FR_E_INVALID);
  CHECK(fr__srv_raw_from_query("width=4&height=2&stride=3", 24, &raw, &err) == FR_E_INVALID);
  CHECK(fr__srv_raw_from_query("width=5000&height=2", 30000, &raw, &err) == FR_E_LIMIT);
  CHECK(fr__srv_raw_from_query("height=2", 8, &raw, &err) == FR_E_INVALID);
  CHECK(fr__srv_raw_from_query("width=-4&height=2", 8, &raw, &err) == FR_E_INVALID);
  CHECK(fr__srv_raw_from_query("width=4&height=2&format=cmyk", 8, &raw, &err) == FR_E_INVALID);

  const char *mp = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"; filename=\"x.jpg\"\r\n"
                   "Content-Type: image/jpeg\r\n\r\nAAA\r\n--XyZ\r\n"
                   "Content-Disposition: form-data; name=\"b\"\r\n\r\nBB\r\n--XyZ--\r\n";
  fr__srv_part parts[4];
  int n = 0;
  CHECK_OK(fr__srv_multipart("multipart/form-data; boundary=XyZ", (const uint8_t *)mp, strlen(mp), parts, 4,
                             &n, &err), &err);
  CHECK(n == 2 && parts[0].name_len == 1 && parts[0].name[0] == 'a' && parts[0].size == 3 &&
        parts[0].type_len == 10 && parts[1].size == 2 && memcmp(parts[1].data, "BB", 2) == 0);
  CHECK(fr__srv_multipart("multipart/form-data; boundary=Q", (const uint8_t *)mp, strlen(mp), parts, 4, &n,
                          &err) == FR_E_FORMAT);
  CHECK(fr__srv_multipart("multipart/form-data; boundary=XyZ", (const uint8_t *)mp, strlen(mp), parts, 1, &n,
                          &err) == FR_E_LIMIT);
  CHECK(fr__srv_multipart("text/plain", (const uint8_t *)mp, strlen(mp), parts, 4, &n, &err) == FR_E_INVALID);
  CHECK(fr__srv_multipart("multipart/form-data; boundary=XyZ", (const uint8_t *)mp, 40, parts, 4, &n, &err) ==
        FR_E_FORMAT);

  uint8_t fr[24 + 6];
  tc_frame_header(fr, 9, 3, 2, 3, FR_PIXEL_GRAY);
  fr__srv_frame f;
  CHECK(fr__srv_ws_frame(fr, 24 + 6, &f, &err) == FR_OK && f.raw && f.seq == 9 && f.size == 6);
  CHECK(fr__srv_ws_frame(fr, 24 + 5, &f, &err) == FR_E_INVALID);
  CHECK(fr__srv_ws_frame(fr, 10, &f, &err) == FR_E_FORMAT);
  tc_frame_header(fr, 9, 3, 2, 3, 0);
  CHECK(fr__srv_ws_frame(fr, 24 + 6, &f, &err) == FR_E_FORMAT); /* format 0 without a JPEG */
  tc_frame_header(fr, 9, 3, 2, 3, 77);
  CHECK(fr__srv_ws_frame(fr, 24 + 6, &f, &err) == FR_E_INVALID);

  CHECK(fr__srv_valid_name("Zoë", strlen("Zoë")));
  CHECK(!fr__srv_valid_name("a/b", 3));
  CHECK(!fr__srv_valid_name(" a", 2));
  CHECK(!fr__srv_valid_name("\xC3", 1));       /* truncated UTF-8 */
  CHECK(!fr__srv_valid_name("\xC0\xAF", 2));   /* overlong */
  CHECK(!fr__srv_valid_name("a\tb", 3));
  char longname[200];
  memset(longname, 'x', sizeof longname);
  CHECK(!fr__srv_valid_name(longname, FR_NAME_MAX));
  CHECK(fr__srv_valid_name(longname, FR_NAME_MAX - 1));

  char name[FR_NAME_MAX], meta[FR_SRV_MAX_META + 1];
  int has_meta;
  const char *js = "{\"name\":\"Penny\",\"metadata\":\"neighbour\"}";
  CHECK(fr__srv_subject_json(js, strlen(js), name, meta, sizeof meta, &has_meta, &err) == FR_OK &&
        strcmp(name, "Penny") == 0 && has_meta && strcmp(meta, "neighbour") == 0);
  CHECK(fr__srv_subject_json("{\"name\":3}", 10, name, meta, sizeof meta, &has_meta, &err) == FR_E_INVALID);
  CHECK(fr__srv_subject_json("{\"name\":", 8, name, meta, sizeof meta, &has_meta, &err) == FR_E_FORMAT);
  CHECK(fr__srv_subject_json("[1]", 3, name, meta, sizeof meta, &has_meta, &err) == FR_E_INVALID);

  fr__srv_route r;
  CHECK(fr__srv_route_parse("DELETE", "/api/v1/subjects/Penny", &r, &err) == FR_OK && r.id == FR_ROUTE_SUBJECT &&
        r.admin && strcmp(r.name, "Penny") == 0);
  CHECK(fr__srv_route_parse("GET", "/api/v1/subjects/Penny/faces", &r, &err) == FR_OK && !r.admin);
  CHECK(fr__srv_route_parse("DELETE", "/api/v1/faces/12", &r, &err) == FR_OK && r.face_id == 12);
  CHECK(fr__srv_route_parse("DELETE", "/api/v1/faces/-1", &r, &err) == FR_E_INVALID);
  CHECK(fr__srv_route_parse("DELETE", "/api/v1/faces/1x", &r, &err) == FR_E_INVALID);
  CHECK(fr__srv_route_parse("PUT", "/api/v1/health", &r, &err) == FR_E_UNSUPPORTED);
  CHECK(fr__srv_route_parse("GET", "/api/v2/health", &r, &err) == FR_E_NOTFOUND);

  char keys[200];
  char h1[65], h2[65];
  fr_sha256_hex("r", 1, h1);
  fr_sha256_hex("a", 1, h2);
  snprintf(keys, sizeof keys, "# keys\nread %s\r\n\nadmin %s\n", h1, h2);
  fr__srv_key k[4];
  int nk = 0;
  CHECK(fr__srv_keys_parse(keys, strlen(keys), k, 4, &nk, &err) == FR_OK && nk == 2);
  CHECK(fr__srv_key_level(k, nk, "r") == 0 && fr__srv_key_level(k, nk, "a") == 1 &&
        fr__srv_key_level(k, nk, "b") == -1 && fr__srv_key_level(k, nk, NULL) == -1);
  CHECK(fr__srv_keys_parse("read abc\n", 9, k, 4, &nk, &err) == FR_E_FORMAT);
  CHECK(fr__srv_keys_parse("root 0\n", 7, k, 4, &nk, &err) == FR_E_FORMAT);
}

/* ---- the server over sockets ------------------------------------------------------------- */

/* The name recognised for the first face of a recognize response, or "". */
static void first_name(const tc_response *r, char *out, size_t size) {
  out[0] = '\0';
  cJSON *j = body_json(r);
  const cJSON *f = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "faces"), 0);
  const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "name"));
  if (n) snprintf(out, size, "%s", n);
  cJSON_Delete(j);
}

static double num(const tc_response *r, const char *key) {
  cJSON *j = body_json(r);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
  double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
  cJSON_Delete(j);
  return d;
}

static double json_id(const cJSON *o) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "id");
  return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* A stream answer: its seq, whether it was dropped or failed, and the first
 * face's name. */
static int ws_answer(int fd, long *seq, int *dropped, int *failed, char *name, size_t size) {
  char *t = tc_ws_recv_text(fd);
  if (!t) return 0;
  cJSON *j = cJSON_Parse(t);
  free(t);
  *seq = -1, *dropped = 0, *failed = 0, name[0] = '\0';
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "seq");
  if (cJSON_IsNumber(s)) *seq = (long)s->valuedouble;
  *dropped = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "dropped"));
  *failed = cJSON_GetObjectItemCaseSensitive(j, "error") != NULL;
  const cJSON *f = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "faces"), 0);
  const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "name"));
  if (n) snprintf(name, size, "%s", n);
  int ok = j != NULL;
  cJSON_Delete(j);
  return ok;
}

static void test_stream_inner(const uint8_t *png, size_t n, const fr_image *img) {
  CHECK(tc_ws_open(port, "/api/v1/stream") < 0); /* no key */
  CHECK(tc_ws_open(port, "/api/v1/stream?key=wrong") < 0);
  int fd = tc_ws_open(port, "/api/v1/stream?key=" READ_KEY);
  CHECK(fd >= 0);
  if (fd < 0) return;
  long seq;
  int dropped, failed;
  char name[FR_NAME_MAX];
  /* An encoded frame behind the header, a bare PNG, raw pixels. */
  uint8_t *buf = malloc(24 + n + (size_t)img->stride * img->height);
  tc_frame_header(buf, 7, 0, 0, 0, 0);
  memcpy(buf + 24, png, n);
  CHECK(tc_ws_send(fd, 2, buf, 24 + n) == 0);
  CHECK(ws_answer(fd, &seq, &dropped, &failed, name, sizeof name));
  CHECK_MSG(seq == 7 && !dropped && !failed && strcmp(name, "sheldon") == 0, "seq %ld name '%s'", seq, name);
  CHECK(tc_ws_send(fd, 2, png, n) == 0);
  CHECK(ws_answer(fd, &seq, &dropped, &failed, name, sizeof name));
  CHECK_MSG(!failed && strcmp(name, "sheldon") == 0, "bare PNG: name '%s'", name);
  size_t px = (size_t)img->stride * img->height;
  tc_frame_header(buf, 8, (uint32_t)img->width, (uint32_t)img->height, (uint32_t)img->stride, (uint32_t)img->format);
  memcpy(buf + 24, img->data, px);
  CHECK(tc_ws_send(fd, 2, buf, 24 + px) == 0);
  CHECK(ws_answer(fd, &seq, &dropped, &failed, name, sizeof name));
  CHECK_MSG(seq == 8 && !failed && strcmp(name, "sheldon") == 0, "raw frame: seq %ld name '%s'", seq, name);
  /* A frame shorter than its header says, and bytes that are no frame: an
   * error answer each, and the stream stays open. */
  CHECK(tc_ws_send(fd, 2, buf, 24 + px - 1) == 0);
  CHECK(ws_answer(fd, &seq, &dropped, &failed, name, sizeof name));
  CHECK(seq == 8 && failed);
  CHECK(tc_ws_send(fd, 2, "garbage", 7) == 0);
  CHECK(ws_answer(fd, &seq, &dropped, &failed, name, sizeof name));
  CHECK(failed);
  CHECK(tc_ws_send(fd, 1, "text", 4) == 0);
  CHECK(ws_answer(fd, &seq, &dropped, &failed, name, sizeof name));
  CHECK(failed);
  /* A burst: one answer per frame, each frame answered or dropped exactly
   * once, and the newest never dropped. */
  int seen[5] = {0}, ndrop = 0, last_ok = 0;
  for (uint32_t k = 0; k < 5; k++) {
    tc_frame_header(buf, 100 + k, (uint32_t)img->width, (uint32_t)img->height, (uint32_t)img->stride,
                    (uint32_t)img->format);
    CHECK(tc_ws_send(fd, 2, buf, 24 + px) == 0);
  }
  for (int k = 0; k < 5; k++) {
    if (!ws_answer(fd, &seq, &dropped, &failed, name, sizeof name)) break;
    if (seq >= 100 && seq < 105) seen[seq - 100]++;
    ndrop += dropped;
    if (seq == 104) last_ok = !dropped && !failed && strcmp(name, "sheldon") == 0;
  }
  for (int k = 0; k < 5; k++) CHECK_MSG(seen[k] == 1, "frame %d answered %d times", 100 + k, seen[k]);
  CHECK(last_ok);
  printf("stream burst of 5 frames: %d dropped\n", ndrop);
  close(fd);
  /* Streams that vanish while their frames are queued or running: the
   * answer comes back for a connection that is gone (the window where the
   * civetweb version could write to freed memory). Half of them end with a
   * reset instead of a FIN. Run under ThreadSanitizer by make test-tsan. */
  int opened = 0;
  for (int round = 0; round < 12; round++) {
    int w = tc_ws_open(port, "/api/v1/stream?key=" READ_KEY);
    if (w < 0) continue;
    opened++;
    for (uint32_t k = 0; k < 3; k++) {
      tc_frame_header(buf, 200 + k, (uint32_t)img->width, (uint32_t)img->height, (uint32_t)img->stride,
                      (uint32_t)img->format);
      tc_ws_send(w, 2, buf, 24 + px);
    }
    if (round % 2) {
      struct linger lg = {1, 0};
      setsockopt(w, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(w);
  }
  CHECK(opened == 12);
  free(buf);
  /* Every stream is counted closed once its last frame is done. */
  int streams = -1;
  for (int t = 0; t < 600 && streams != 0; t++) { /* 30 s at most: ThreadSanitizer is slow */
    tc_response m = tc_request(port, "GET", "/metrics", H_READ, NULL, NULL, 0);
    static const char gauge[] = "\nfacerec_ws_connections ";
    const char *p = m.body ? strstr(m.body, gauge) : NULL;
    streams = p ? atoi(p + sizeof gauge - 1) : -1;
    tc_free(&m);
    if (streams != 0) usleep(50000);
  }
  CHECK_MSG(streams == 0, "%d streams still counted open", streams);
  tc_response h = tc_request(port, "GET", "/api/v1/health", "", NULL, NULL, 0);
  CHECK(h.status == 200);
  tc_free(&h);
}

static void test_routes(void) {
  size_t n1, n2, n3;
  uint8_t *sh1 = read_all(check_data("bbt/examples/images/sheldon/sheldon1.png"), &n1);
  uint8_t *sh2 = read_all(check_data("bbt/examples/images/sheldon/sheldon2.png"), &n2);
  uint8_t *jpg = read_all(check_data("bbt/test/images/angry.jpg"), &n3);
  CHECK(sh1 && sh2 && jpg);
  if (!sh1 || !sh2 || !jpg) return;

  tc_response r = tc_request(port, "GET", "/api/v1/health", "", NULL, NULL, 0);
  CHECK_MSG(r.status == 200 && strstr(r.body, "\"status\":\"ok\""), "%d %s", r.status, r.body);
  tc_free(&r);

  /* Keys: none, wrong, read-only on an admin route. */
  r = tc_request(port, "POST", "/api/v1/recognize", "", "image/png", sh2, n2);
  CHECK_ERROR(r, 401);
  tc_free(&r);
  r = tc_request(port, "GET", "/api/v1/subjects", "X-API-Key: wrong\r\n", NULL, NULL, 0);
  CHECK_ERROR(r, 401);
  tc_free(&r);
  r = tc_request(port, "GET", "/metrics", "", NULL, NULL, 0);
  CHECK_ERROR(r, 401);
  tc_free(&r);
  r = tc_request(port, "POST", "/api/v1/subjects/sheldon/faces", H_READ, "image/png", sh1, n1);
  CHECK_ERROR(r, 403);
  tc_free(&r);
  r = tc_request(port, "DELETE", "/api/v1/faces/1", H_READ, NULL, NULL, 0);
  CHECK_ERROR(r, 403);
  tc_free(&r);
  r = tc_request(port, "GET", "/api/v1/nothing", H_READ, NULL, NULL, 0);
  CHECK_ERROR(r, 404);
  tc_free(&r);
  r = tc_request(port, "PUT", "/api/v1/recognize", H_READ, NULL, NULL, 0);
  CHECK_ERROR(r, 405);
  tc_free(&r);

  /* Enrol, then recognise another photo of the same person, encoded and raw. */
  r = tc_request(port, "POST", "/api/v1/subjects/sheldon/faces", H_ADMIN, "image/png", sh1, n1);
  CHECK_MSG(r.status == 200, "%d %s", r.status, r.body);
  double face_id = num(&r, "face_id");
  CHECK(face_id >= 1);
  tc_free(&r);
  r = tc_request(port, "POST", "/api/v1/subjects/sheldon/faces", H_ADMIN, "image/png", sh1, n1);
  CHECK_MSG(r.status == 200 && strstr(r.body, "\"duplicate\":true"), "%d %s", r.status, r.body);
  tc_free(&r);
  r = tc_request(port, "POST", "/api/v1/subjects/leonard/faces", H_ADMIN, "image/png", sh1, n1);
  CHECK_ERROR(r, 409); /* the same image under another person */
  tc_free(&r);
  char name[FR_NAME_MAX];
  r = tc_request(port, "POST", "/api/v1/recognize", H_READ, "image/png", sh2, n2);
  first_name(&r, name, sizeof name);
  CHECK_MSG(r.status == 200 && strcmp(name, "sheldon") == 0, "%d %s", r.status, r.body);
  tc_free(&r);
  fr_image img;
  fr_error err = {0};
  CHECK_OK(fr_image_decode(sh2, n2, NULL, &img, &err), &err);
  size_t raw_size = (size_t)img.stride * img.height;
  char path[256];
  snprintf(path, sizeof path, "/api/v1/recognize?width=%d&height=%d&format=%s", img.width, img.height,
           img.format == FR_PIXEL_GRAY ? "gray" : "rgb");
  r = tc_request(port, "POST", path, H_READ, "application/octet-stream", img.data, raw_size);
  first_name(&r, name, sizeof name);
  CHECK_MSG(r.status == 200 && strcmp(name, "sheldon") == 0, "raw: %d %s", r.status, r.body);
  tc_free(&r);

  /* Raw pixels that do not match their description. */
  snprintf(path, sizeof path, "/api/v1/recognize?width=%d&height=%d&format=gray", img.width, img.height - 1);
  r = tc_request(port, "POST", path, H_READ, "application/octet-stream", img.data, raw_size);
  CHECK_ERROR(r, 400);
  tc_free(&r);
  r = tc_request(port, "POST", "/api/v1/recognize?height=10", H_READ, "application/octet-stream", img.data, raw_size);
  CHECK_ERROR(r, 400);
  tc_free(&r);
  r = tc_request(port, "POST", "/api/v1/detect?width=150&height=150&format=yuv", H_READ,
                 "application/octet-stream", img.data, raw_size);
  CHECK_ERROR(r, 400);
  tc_free(&r);
  r = tc_request(port, "POST", "/api/v1/detect?width=99999&height=2", H_READ, "application/octet-stream",
                 img.data, raw_size);
  CHECK_ERROR(r, 413);
  tc_free(&r);
  r = tc_request(port, "POST", "/api/v1/detect?width=150&height=150&stride=10&format=gray", H_READ,
                 "application/octet-stream", img.data, raw_size);
  CHECK_ERROR(r, 400);
  tc_free(&r);

  /* Malformed, mislabelled and oversize bodies. */
  r = tc_request(port, "POST", "/api/v1/recognize", H_READ, "image/jpeg", "not a jpeg", 10);
  CHECK_ERROR(r, 400);
  tc_free(&r);
  r = tc_request(port, "POST", "/api/v1/recognize", H_READ, "image/jpeg", jpg, n3 / 2);
  CHECK_MSG(r.status == 400 || r.status == 200, "truncated JPEG: %d %s", r.status, r.body);
  tc_free(&r);
  r = tc_request(port, "POST", "/api/v1/recognize", H_READ, "text/plain", "hello", 5);
  CHECK_ERROR(r, 415);
  tc_free(&r);
  r = tc_request(port, "POST", "/api/v1/embed", H_READ, "image/png", "", 0);
  CHECK_ERROR(r, 400);
  tc_free(&r);
  uint8_t *big = calloc(MAX_BODY + 1024, 1);
  r = tc_request(port, "POST", "/api/v1/recognize", H_READ, "image/jpeg", big, MAX_BODY + 1024);
  CHECK_ERROR(r, 413);
  tc_free(&r);
  /* A declared length far over the limit is refused before any byte is read. */
  r = tc_request_ex(port, "POST", "/api/v1/detect", H_READ, "image/jpeg", NULL, 0, 1LL << 40);
  CHECK_ERROR(r, 413);
  tc_free(&r);
  free(big);

  /* detect, embed. */
  r = tc_request(port, "POST", "/api/v1/detect", H_READ, "image/jpeg", jpg, n3);
  cJSON *j = body_json(&r);
  CHECK_MSG(r.status == 200 && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "faces")) == 1, "%d %s",
            r.status, r.body);
  cJSON_Delete(j);
  tc_free(&r);
  r = tc_request(port, "POST", "/api/v1/embed", H_READ, "image/png", sh1, n1);
  j = body_json(&r);
  const cJSON *f0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "faces"), 0);
  CHECK_MSG(r.status == 200 && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(f0, "descriptor")) == 128,
            "%d %.200s", r.status, r.body);
  cJSON_Delete(j);
  tc_free(&r);

  /* verify: two parts, and malformed multipart bodies. */
  size_t mp_cap = n1 + n2 + 1024, mp_len = 0;
  char *mp = malloc(mp_cap);
  mp_len += (size_t)sprintf(mp + mp_len, "--BOUND\r\nContent-Disposition: form-data; name=\"a\"; filename=\"1.png\"\r\n"
                                         "Content-Type: image/png\r\n\r\n");
  memcpy(mp + mp_len, sh1, n1), mp_len += n1;
  mp_len += (size_t)sprintf(mp + mp_len, "\r\n--BOUND\r\nContent-Disposition: form-data; name=\"b\"\r\n"
                                         "Content-Type: image/png\r\n\r\n");
  memcpy(mp + mp_len, sh2, n2), mp_len += n2;
  mp_len += (size_t)sprintf(mp + mp_len, "\r\n--BOUND--\r\n");
  r = tc_request(port, "POST", "/api/v1/verify", H_READ, "multipart/form-data; boundary=BOUND", mp, mp_len);
  CHECK_MSG(r.status == 200 && strstr(r.body, "\"same\":true"), "%d %s", r.status, r.body);
  tc_free(&r);
  r = tc_request(port, "POST", "/api/v1/verify", H_READ, "multipart/form-data; boundary=OTHER", mp, mp_len);
  CHECK_ERROR(r, 400);
  tc_free(&r);
  r = tc_request(port, "POST", "/api/v1/verify", H_READ, "multipart/form-data; boundary=BOUND", mp, mp_len - 20);
  CHECK_ERROR(r, 400);
  tc_free(&r);
  r = tc_request(port, "POST", "/api/v1/verify", H_READ, "image/png", sh1, n1);
  CHECK_ERROR(r, 400);
  tc_free(&r);
  free(mp);

  /* Subjects: create, conflict, bad JSON, bad names, list, faces, deletes. */
  const char *penny = "{\"name\":\"penny\",\"metadata\":\"across the hall\"}";
  r = tc_request(port, "POST", "/api/v1/subjects", H_ADMIN, "application/json", penny, strlen(penny));
  CHECK_MSG(r.status == 201, "%d %s", r.status, r.body);
  tc_free(&r);
  r = tc_request(port, "POST", "/api/v1/subjects", H_ADMIN, "application/json", penny, strlen(penny));
  CHECK_ERROR(r, 409);
  tc_free(&r);
  r = tc_request(port, "POST", "/api/v1/subjects", H_ADMIN, "application/json", "{\"name\":", 8);
  CHECK_ERROR(r, 400);
  tc_free(&r);
  r = tc_request(port, "POST", "/api/v1/subjects", H_ADMIN, "application/json", "{\"name\":\"a/b\"}", 14);
  CHECK_ERROR(r, 400);
  tc_free(&r);
  char *bigjson = malloc(FR_SRV_MAX_JSON + 100);
  memset(bigjson, ' ', FR_SRV_MAX_JSON + 100);
  r = tc_request(port, "POST", "/api/v1/subjects", H_ADMIN, "application/json", bigjson, FR_SRV_MAX_JSON + 100);
  CHECK_ERROR(r, 413);
  tc_free(&r);
  free(bigjson);
  r = tc_request(port, "POST", "/api/v1/subjects/%20bad/faces", H_ADMIN, "image/png", sh1, n1);
  CHECK_ERROR(r, 400);
  tc_free(&r);
  r = tc_request(port, "GET", "/api/v1/subjects", H_READ, NULL, NULL, 0);
  CHECK_MSG(r.status == 200 && strstr(r.body, "\"name\":\"penny\"") && strstr(r.body, "\"name\":\"sheldon\""),
            "%d %s", r.status, r.body);
  tc_free(&r);
  r = tc_request(port, "GET", "/api/v1/subjects/sheldon/faces", H_READ, NULL, NULL, 0);
  j = body_json(&r);
  f0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "faces"), 0);
  CHECK_MSG(r.status == 200 && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "faces")) == 1 &&
                json_id(f0) == face_id, "%d %s", r.status, r.body);
  cJSON_Delete(j);
  tc_free(&r);
  r = tc_request(port, "GET", "/api/v1/subjects/nobody/faces", H_READ, NULL, NULL, 0);
  CHECK_ERROR(r, 404);
  tc_free(&r);

  /* The stream, while sheldon is still known. */
  {
    /* The stream runs the detector on frames as they come (no padding retry,
     * unlike the photo routes), and a 150x150 tight crop is too close for
     * it: the crop centred on a neutral 300x300 canvas, like a webcam frame,
     * raw and as PNG. */
    fr_image pad;
    CHECK_OK(fr_image_alloc(300, 300, FR_PIXEL_GRAY, &pad, &err), &err);
    memset(pad.data, 128, (size_t)pad.stride * pad.height);
    fr_image gray;
    CHECK_OK(fr_image_convert(&img, FR_PIXEL_GRAY, &gray, &err), &err);
    for (int y = 0; y < gray.height; y++)
      memcpy(pad.data + (size_t)(y + 75) * pad.stride + 75, gray.data + (size_t)y * gray.stride, (size_t)gray.width);
    char png[200];
    snprintf(png, sizeof png, "%s/pad.png", tmpdir);
    CHECK_OK(fr_image_save(&pad, png, &err), &err);
    size_t np = 0;
    uint8_t *pb = read_all(png, &np);
    CHECK(pb != NULL);
    if (pb) test_stream_inner(pb, np, &pad);
    free(pb);
    unlink(png);
    fr_image_free(&gray);
    fr_image_free(&pad);
  }

  char del[64];
  snprintf(del, sizeof del, "/api/v1/faces/%.0f", face_id);
  r = tc_request(port, "DELETE", del, H_ADMIN, NULL, NULL, 0);
  CHECK_MSG(r.status == 200, "%d %s", r.status, r.body);
  tc_free(&r);
  r = tc_request(port, "DELETE", del, H_ADMIN, NULL, NULL, 0);
  CHECK_ERROR(r, 404);
  tc_free(&r);
  /* The deleted face no longer recognises anyone. */
  r = tc_request(port, "POST", "/api/v1/recognize", H_READ, "image/png", sh2, n2);
  first_name(&r, name, sizeof name);
  CHECK_MSG(r.status == 200 && name[0] == '\0', "%d %s", r.status, r.body);
  tc_free(&r);
  r = tc_request(port, "DELETE", "/api/v1/subjects/penny", H_ADMIN, NULL, NULL, 0);
  CHECK_MSG(r.status == 200, "%d %s", r.status, r.body);
  tc_free(&r);
  r = tc_request(port, "DELETE", "/api/v1/subjects/penny", H_ADMIN, NULL, NULL, 0);
  CHECK_ERROR(r, 404);
  tc_free(&r);

  r = tc_request(port, "GET", "/metrics", H_READ, NULL, NULL, 0);
  CHECK_MSG(r.status == 200 && strstr(r.body, "facerec_http_requests_total{route=\"recognize\",code=\"200\"}") &&
                strstr(r.body, "facerec_queue_depth 0") && strstr(r.body, "facerec_gallery_faces 0") &&
                strstr(r.body, "facerec_http_request_duration_seconds_bucket"),
            "%d %.300s", r.status, r.body);
  tc_free(&r);
  fr_image_free(&img);
  free(sh1), free(sh2), free(jpg);
}

int main(void) {
  test_parsers();
  char dir[] = "/tmp/facerec-test-server-XXXXXX";
  if (!mkdtemp(dir)) {
    CHECK_MSG(0, "mkdtemp");
    return check_summary();
  }
  tmpdir = dir;
  char db[128], keys[128];
  snprintf(db, sizeof db, "%s/g.db", dir);
  snprintf(keys, sizeof keys, "%s/keys", dir);
  char h1[65], h2[65];
  fr_sha256_hex(READ_KEY, strlen(READ_KEY), h1);
  fr_sha256_hex(ADMIN_KEY, strlen(ADMIN_KEY), h2);
  FILE *f = fopen(keys, "w");
  fprintf(f, "read %s\nadmin %s\n", h1, h2);
  fclose(f);
  chmod(keys, 0644);
  fr__srv_config cfg;
  fr__srv_config_default(&cfg);
  cfg.db_path = db;
  cfg.models = check_models_dir();
  cfg.port = 0; /* any free port */
  cfg.workers = 2;
  cfg.max_body = MAX_BODY;
  cfg.api_key_file = keys;
  fr__srv *s = NULL;
  fr_error err = {0};
  /* A key file others may read is refused: the hashes are the keys' only
   * protection against an offline search. */
  CHECK(fr__srv_start(&cfg, &s, &err) == FR_E_INVALID && s == NULL && strstr(err.message, "chmod 600"));
  chmod(keys, 0600);
  CHECK_OK(fr__srv_start(&cfg, &s, &err), &err);
  if (s) {
    port = fr__srv_port(s);
    CHECK(port > 0);
    test_routes();
    fr__srv_stop(s);
  }
  /* A key file that does not parse stops the start, leaving nothing behind. */
  f = fopen(keys, "w");
  fprintf(f, "superuser 1234\n");
  fclose(f);
  s = NULL;
  CHECK(fr__srv_start(&cfg, &s, &err) == FR_E_FORMAT && s == NULL);
  char wal[160];
  unlink(db);
  snprintf(wal, sizeof wal, "%s-wal", db), unlink(wal);
  snprintf(wal, sizeof wal, "%s-shm", db), unlink(wal);
  unlink(keys);
  rmdir(dir);
  return check_summary();
}
