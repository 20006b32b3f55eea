/*
 * server.c - the recognition server (see server.h for the threading model).
 *
 * civetweb was chosen over libmicrohttpd because Debian 12's libcivetweb
 * (1.15) implements WebSocket framing, which /api/v1/stream needs;
 * libmicrohttpd 0.9.75 only hands over the upgraded socket, so the framing
 * (masking, fragmentation, control frames) would have been ours to write and
 * to get wrong. Both are packaged and maintained in Debian.
 */
#include "server/server.h"

#include <civetweb.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/parse.h"

#define MAX_FACES 32
#define MAX_LIST 100000 /* faces listed by GET /subjects/{name}/faces */

/* ---- output buffers -------------------------------------------------------------- */

typedef struct sbuf {
  char *p;
  size_t len, cap;
  int oom;
} sbuf;

static void sb_reserve(sbuf *b, size_t more) {
  if (b->oom || b->len + more + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + more + 1) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) {
    b->oom = 1;
    return;
  }
  b->p = p, b->cap = cap;
}

static void sb_printf(sbuf *b, const char *fmt, ...) FR__PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  sb_reserve(b, (size_t)n);
  if (b->oom) return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* A JSON string literal of n bytes of s. */
static void sb_str(sbuf *b, const char *s, size_t n) {
  sb_reserve(b, n * 6 + 2);
  if (b->oom) return;
  char *o = b->p + b->len;
  *o++ = '"';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') *o++ = '\\', *o++ = (char)c;
    else if (c < 0x20) o += sprintf(o, "\\u%04x", c);
    else *o++ = (char)c;
  }
  *o++ = '"';
  *o = '\0';
  b->len = (size_t)(o - b->p);
}

static void sb_cstr(sbuf *b, const char *s) { sb_str(b, s, strlen(s)); }

/* ---- jobs and the worker pool ------------------------------------------------------ */

typedef enum job_kind { JOB_DETECT, JOB_EMBED, JOB_RECOGNIZE, JOB_VERIFY, JOB_ENROLL, JOB_WS } job_kind;

typedef struct image_in {
  const uint8_t *data;
  size_t size;
  int raw;
  fr__srv_raw geometry;
} image_in;

struct wsconn;

/* One unit of work. The submitter owns it and waits for `done` (HTTP) or the
 * worker answers the WebSocket itself (JOB_WS). Result arrays are allocated
 * once per connection thread / WebSocket, never per request. */
typedef struct job {
  job_kind kind;
  image_in in[2];
  int n_in;
  const char *name; /* ENROLL */
  int face_index;   /* ENROLL: which face (-1: the only one) */
  /* results */
  fr_status st;
  fr_error err;
  int width[2], height[2];
  int n_faces[2];
  fr_face faces[2][MAX_FACES];
  float *desc[2]; /* MAX_FACES * dim each */
  fr_match match[MAX_FACES];
  int known[MAX_FACES];
  int added;
  int64_t face_id;
  char hash[65];
  double queued_at, queue_ms, pipeline_ms;
  /* completion */
  int done;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct wsconn *ws;
} job;

#define N_BUCKETS 12
static const double bucket_le[N_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                            0.1,   0.25,   0.5,   1,    2.5,   5};
typedef struct histogram {
  long long count[N_BUCKETS + 1];
  double sum;
  long long n;
} histogram;

static void hist_add(histogram *h, double seconds) {
  int i = 0;
  while (i < N_BUCKETS && seconds > bucket_le[i]) i++;
  h->count[i]++;
  h->sum += seconds;
  h->n++;
}

static const int status_codes[] = {200, 201, 400, 401, 403, 404, 405, 409, 413, 415, 422, 500, 503};
#define N_CODES ((int)(sizeof status_codes / sizeof status_codes[0]))

struct fr__srv {
  fr__srv_config cfg;
  struct mg_context *mg;
  int port;
  fr_pipeline *pipe;
  int dim;
  float threshold;
  char model[256];
  /* The gallery handle is not thread-safe: one lock around every use. */
  pthread_mutex_t gallery_mu;
  fr_gallery *gallery;
  /* workers and their queue */
  int n_workers;
  pthread_t *threads;
  fr_context **ctx;
  pthread_mutex_t q_mu;
  pthread_cond_t q_cv;
  job **queue;
  int q_cap, q_head, q_len, stopping;
  /* keys */
  fr__srv_key keys[FR_SRV_MAX_KEYS];
  int n_keys, auth;
  /* metrics, behind metrics_mu */
  pthread_mutex_t metrics_mu;
  long long requests[FR_ROUTE_COUNT][N_CODES + 1];
  histogram latency[FR_ROUTE_COUNT];
  histogram pipeline_time;
  long long ws_frames[3]; /* answered, dropped, failed */
  int ws_open;
  int faces_count, people_count;
  pthread_mutex_t log_mu;
  pthread_key_t scratch_key;
  /* Graceful stop: API requests in progress, and whether new ones are
   * refused (behind drain_mu). */
  pthread_mutex_t drain_mu;
  pthread_cond_t drain_cv;
  int active, draining;
};

static int tolower_ascii(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Adds a job; 0 when the queue is full or the server is stopping. */
static int submit(fr__srv *s, job *j) {
  pthread_mutex_lock(&s->q_mu);
  int ok = !s->stopping && s->q_len < s->q_cap;
  if (ok) {
    j->queued_at = now_s();
    s->queue[(s->q_head + s->q_len) % s->q_cap] = j;
    s->q_len++;
    pthread_cond_signal(&s->q_cv);
  }
  pthread_mutex_unlock(&s->q_mu);
  return ok;
}

static const fr_image_limits decode_limits = {FR_SRV_MAX_SIDE, FR_SRV_MAX_PIXELS};

/* Turns a request image into pixels: raw bodies are wrapped where they lie,
 * encoded ones decoded into *owned. */
static fr_status load_image(const image_in *in, fr_image *img, fr_image *owned, fr_error *err) {
  memset(owned, 0, sizeof *owned);
  if (in->raw)
    return fr_image_wrap((void *)in->data, in->geometry.width, in->geometry.height,
                         in->geometry.stride, in->geometry.format, img, err);
  fr_status st = fr_image_decode(in->data, in->size, &decode_limits, owned, err);
  if (st == FR_OK) *img = *owned;
  return st;
}

static void identify_faces(fr__srv *s, job *j) {
  fr_identify_options io;
  fr_identify_options_default(&io);
  pthread_mutex_lock(&s->gallery_mu);
  for (int i = 0; i < j->n_faces[0] && j->st == FR_OK; i++) {
    int n_top = 0;
    j->known[i] = 0;
    memset(&j->match[i], 0, sizeof j->match[i]);
    j->st = fr_gallery_identify(s->gallery, j->desc[0] + (size_t)i * s->dim, &io, &j->match[i], 1,
                                &n_top, &j->known[i], &j->err);
    if (n_top == 0) j->match[i].distance = -1;
  }
  pthread_mutex_unlock(&s->gallery_mu);
}

/* Updates the gallery gauges of /metrics and health; takes the gallery lock,
 * so callers must not hold it. */
static void refresh_counts(fr__srv *s) {
  int faces = 0, people = 0;
  pthread_mutex_lock(&s->gallery_mu);
  fr_gallery_count(s->gallery, &faces, NULL);
  fr_gallery_people(s->gallery, NULL, 0, &people, NULL);
  pthread_mutex_unlock(&s->gallery_mu);
  pthread_mutex_lock(&s->metrics_mu);
  s->faces_count = faces, s->people_count = people;
  pthread_mutex_unlock(&s->metrics_mu);
}

static void enroll(fr__srv *s, fr_context *ctx, job *j, const fr_image *img) {
  fr_face_source src = 0;
  j->st = fr_describe_photo(ctx, s->pipe, img, 0, j->faces[0], j->desc[0], MAX_FACES, &j->n_faces[0],
                            &src, &j->err);
  if (j->st != FR_OK) return;
  int k = j->face_index < 0 ? 0 : j->face_index;
  if (j->n_faces[0] == 0) {
    j->st = fr__fail(&j->err, FR_E_NOTFOUND, "no face found in the image");
    return;
  }
  if (j->face_index < 0 && j->n_faces[0] > 1) {
    j->st = fr__fail(&j->err, FR_E_INVALID, "%d faces found; say which with ?face=K (0 is the most "
                                            "confident)", j->n_faces[0]);
    return;
  }
  if (k >= j->n_faces[0]) {
    j->st = fr__fail(&j->err, FR_E_INVALID, "face %d asked for but only %d found", k, j->n_faces[0]);
    return;
  }
  /* The hash of the pixels as received: the same upload twice is one
   * descriptor, not two. */
  fr_sha256_hex(j->in[0].data, j->in[0].size, j->hash);
  fr_gallery_face gf = {j->desc[0] + (size_t)k * s->dim, j->hash, 0, j->faces[0][k].box};
  pthread_mutex_lock(&s->gallery_mu);
  j->st = fr_gallery_enroll(s->gallery, j->name, NULL, &gf, 1, &j->added, &j->err);
  j->face_id = j->st == FR_OK ? fr_gallery_face_id(s->gallery, j->hash, 0) : -1;
  pthread_mutex_unlock(&s->gallery_mu);
  j->faces[0][0] = j->faces[0][k];
  j->n_faces[0] = 1;
  if (j->st == FR_OK) refresh_counts(s);
}

static void run_job(fr__srv *s, fr_context *ctx, job *j) {
  fr_image img[2], owned[2];
  memset(owned, 0, sizeof owned);
  j->st = FR_OK;
  memset(&j->err, 0, sizeof j->err);
  for (int k = 0; k < j->n_in && j->st == FR_OK; k++) {
    j->st = load_image(&j->in[k], &img[k], &owned[k], &j->err);
    /* The client said JPEG or PNG (an accepted type) but sent other bytes:
     * a malformed body, not an unsupported media type. */
    if (j->st == FR_E_UNSUPPORTED) j->st = FR_E_FORMAT;
    if (j->st == FR_OK) j->width[k] = img[k].width, j->height[k] = img[k].height;
    j->n_faces[k] = 0;
  }
  double t0 = now_s();
  if (j->st == FR_OK) {
    switch (j->kind) {
    case JOB_DETECT:
      j->st = fr_pipeline_run(ctx, s->pipe, &img[0], j->faces[0], NULL, MAX_FACES, &j->n_faces[0], &j->err);
      break;
    case JOB_WS:
      j->st = fr_pipeline_run(ctx, s->pipe, &img[0], j->faces[0], j->desc[0], MAX_FACES,
                              &j->n_faces[0], &j->err);
      if (j->st == FR_OK) identify_faces(s, j);
      break;
    case JOB_EMBED:
    case JOB_RECOGNIZE:
    case JOB_VERIFY:
      for (int k = 0; k < j->n_in && j->st == FR_OK; k++)
        j->st = fr_describe_photo(ctx, s->pipe, &img[k], 0, j->faces[k], j->desc[k], MAX_FACES,
                                  &j->n_faces[k], NULL, &j->err);
      if (j->st == FR_OK && j->kind == JOB_RECOGNIZE) identify_faces(s, j);
      break;
    case JOB_ENROLL: enroll(s, ctx, j, &img[0]); break;
    }
  }
  j->pipeline_ms = (now_s() - t0) * 1e3;
  for (int k = 0; k < 2; k++) fr_image_free(&owned[k]);
  pthread_mutex_lock(&s->metrics_mu);
  hist_add(&s->pipeline_time, j->pipeline_ms * 1e-3);
  pthread_mutex_unlock(&s->metrics_mu);
}

static void ws_job_done(fr__srv *s, job *j);

static void *worker_main(void *arg) {
  void **a = arg;
  fr__srv *s = a[0];
  fr_context *ctx = a[1];
  free(a);
  for (;;) {
    pthread_mutex_lock(&s->q_mu);
    while (s->q_len == 0 && !s->stopping) pthread_cond_wait(&s->q_cv, &s->q_mu);
    if (s->q_len == 0) {
      pthread_mutex_unlock(&s->q_mu);
      break;
    }
    job *j = s->queue[s->q_head];
    s->q_head = (s->q_head + 1) % s->q_cap;
    s->q_len--;
    pthread_mutex_unlock(&s->q_mu);
    j->queue_ms = (now_s() - j->queued_at) * 1e3;
    run_job(s, ctx, j);
    if (j->kind == JOB_WS) {
      ws_job_done(s, j);
    } else {
      pthread_mutex_lock(&j->mu);
      j->done = 1;
      pthread_cond_signal(&j->cv);
      pthread_mutex_unlock(&j->mu);
    }
  }
  return NULL;
}

/* ---- per-thread scratch of the connection threads ---------------------------------- */

typedef struct scratch {
  uint8_t *body;
  size_t body_cap;
  sbuf out;
  job j;
  fr_gallery_face_info *rows;
  fr_person *people;
  int people_cap;
} scratch;

static void scratch_free(void *p) {
  scratch *sc = p;
  if (!sc) return;
  free(sc->body);
  free(sc->out.p);
  free(sc->j.desc[0]);
  free(sc->j.desc[1]);
  pthread_mutex_destroy(&sc->j.mu);
  pthread_cond_destroy(&sc->j.cv);
  free(sc->rows);
  free(sc->people);
  free(sc);
}

static scratch *get_scratch(fr__srv *s) {
  scratch *sc = pthread_getspecific(s->scratch_key);
  if (sc) return sc;
  sc = calloc(1, sizeof *sc);
  if (!sc) return NULL;
  sc->j.desc[0] = malloc((size_t)MAX_FACES * s->dim * sizeof(float));
  sc->j.desc[1] = malloc((size_t)MAX_FACES * s->dim * sizeof(float));
  pthread_mutex_init(&sc->j.mu, NULL);
  pthread_cond_init(&sc->j.cv, NULL);
  if (!sc->j.desc[0] || !sc->j.desc[1] || pthread_setspecific(s->scratch_key, sc) != 0) {
    scratch_free(sc);
    return NULL;
  }
  return sc;
}

/* ---- responses ------------------------------------------------------------------------ */

static const char *status_text(int code) {
  switch (code) {
  case 200: return "OK";
  case 201: return "Created";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 409: return "Conflict";
  case 413: return "Payload Too Large";
  case 415: return "Unsupported Media Type";
  case 422: return "Unprocessable Entity";
  case 503: return "Service Unavailable";
  default: return "Internal Server Error";
  }
}

/* The HTTP status and error code of a failed fr_status. */
static int http_of(fr_status st, const char **code) {
  switch (st) {
  case FR_E_INVALID: *code = "invalid_request"; return 400;
  case FR_E_FORMAT: *code = "malformed"; return 400;
  case FR_E_LIMIT: *code = "too_large"; return 413;
  case FR_E_NOTFOUND: *code = "not_found"; return 404;
  case FR_E_UNSUPPORTED: *code = "unsupported"; return 415;
  case FR_E_NOMEM: *code = "overloaded"; return 503;
  default: *code = "internal"; return 500;
  }
}

typedef struct reqlog {
  double start;
  long long bytes_in, bytes_out;
  fr__srv_route_id route;
  int status;
} reqlog;

static void send_json(struct mg_connection *c, reqlog *lg, int code, const sbuf *b, int close) {
  size_t n = b->oom ? 0 : b->len;
  mg_printf(c,
            "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\n%s\r\n",
            code, status_text(code), n, close ? "Connection: close\r\n" : "");
  if (n) mg_write(c, b->p, n);
  lg->status = code;
  lg->bytes_out = (long long)n;
}

static void send_error(struct mg_connection *c, reqlog *lg, sbuf *b, int code, const char *ecode,
                       const char *msg) {
  b->len = 0, b->oom = 0;
  sb_printf(b, "{\"error\":{\"code\":");
  sb_cstr(b, ecode);
  sb_printf(b, ",\"message\":");
  sb_cstr(b, msg);
  sb_printf(b, "}}");
  send_json(c, lg, code, b, code == 413);
}

static void send_status_error(struct mg_connection *c, reqlog *lg, sbuf *b, fr_status st,
                              const fr_error *err) {
  const char *code;
  int http = http_of(st, &code);
  send_error(c, lg, b, http, code, err->message[0] ? err->message : fr_strerror(st));
}

/* ---- request bodies ---------------------------------------------------------------------- */

/* Reads the whole body into the scratch buffer, at most `limit` bytes. */
static fr_status read_body(struct mg_connection *c, scratch *sc, long long limit, size_t *size,
                           fr_error *err) {
  const struct mg_request_info *ri = mg_get_request_info(c);
  long long cl = ri->content_length;
  *size = 0;
  if (cl > limit) return fr__fail(err, FR_E_LIMIT, "the body is larger than %lld bytes", limit);
  size_t want = cl >= 0 ? (size_t)cl : (size_t)limit + 1;
  size_t cap = cl >= 0 ? (size_t)cl + 1 : (size_t)limit + 2;
  if (sc->body_cap < cap) {
    uint8_t *p = realloc(sc->body, cap);
    if (!p) return fr__fail(err, FR_E_NOMEM, "out of memory");
    sc->body = p, sc->body_cap = cap;
  }
  size_t got = 0;
  while (got < want) {
    int n = mg_read(c, sc->body + got, want - got);
    if (n <= 0) break;
    got += (size_t)n;
  }
  if (cl >= 0 && got != (size_t)cl) return fr__fail(err, FR_E_FORMAT, "the body ended early");
  if (got > (size_t)limit) return fr__fail(err, FR_E_LIMIT, "the body is larger than %lld bytes", limit);
  sc->body[got] = '\0';
  *size = got;
  return FR_OK;
}

/* The media type of a Content-Type value without parameters, in buf. */
static const char *media_type(const char *ct, char *buf, size_t size) {
  if (!ct) return "";
  size_t k = 0;
  while (ct[k] && ct[k] != ';' && ct[k] != ' ' && k + 1 < size) buf[k] = (char)tolower_ascii(ct[k]), k++;
  buf[k] = '\0';
  return buf;
}

/* Describes the request body as an image: encoded (JPEG, PNG) or raw pixels
 * whose geometry the query gives. */
static fr_status image_of_body(const char *ct, const char *qs, const uint8_t *body, size_t size,
                               image_in *in, fr_error *err) {
  char mt[64];
  media_type(ct, mt, sizeof mt);
  memset(in, 0, sizeof *in);
  in->data = body, in->size = size;
  if (strcmp(mt, "image/jpeg") == 0 || strcmp(mt, "image/png") == 0) {
    if (size == 0) return fr__fail(err, FR_E_FORMAT, "an empty image");
    return FR_OK;
  }
  if (strcmp(mt, "application/octet-stream") == 0) {
    in->raw = 1;
    return fr__srv_raw_from_query(qs, size, &in->geometry, err);
  }
  return fr__fail(err, FR_E_UNSUPPORTED,
                  "the body must be image/jpeg, image/png or application/octet-stream (raw pixels)");
}

/* Runs a job on the pool and waits for it; 0 when the queue was full. */
static int run_on_pool(fr__srv *s, job *j) {
  j->done = 0;
  j->ws = NULL;
  if (!submit(s, j)) return 0;
  pthread_mutex_lock(&j->mu);
  while (!j->done) pthread_cond_wait(&j->cv, &j->mu);
  pthread_mutex_unlock(&j->mu);
  return 1;
}

static void json_box(sbuf *b, const fr_rect *r) {
  sb_printf(b, "\"box\":{\"x\":%.1f,\"y\":%.1f,\"width\":%.1f,\"height\":%.1f}", r->x, r->y, r->width,
            r->height);
}

/* The faces of job input k as a JSON array; names when identified,
 * descriptors when asked. */
static void json_faces(fr__srv *s, sbuf *b, const job *j, int k, int with_names, int with_desc) {
  sb_printf(b, "[");
  for (int i = 0; i < j->n_faces[k]; i++) {
    const fr_face *f = &j->faces[k][i];
    sb_printf(b, "%s{", i ? "," : "");
    json_box(b, &f->box);
    sb_printf(b, ",\"score\":%.4f", f->score);
    if (with_names) {
      const fr_match *m = &j->match[i];
      sb_printf(b, ",\"known\":%s,\"name\":", j->known[i] ? "true" : "false");
      if (j->known[i]) sb_cstr(b, m->name);
      else sb_printf(b, "null");
      if (m->distance >= 0) {
        sb_printf(b, ",\"nearest\":");
        sb_cstr(b, m->name);
        sb_printf(b, ",\"distance\":%.4f", m->distance);
      }
    }
    if (with_desc) {
      sb_printf(b, ",\"descriptor\":[");
      for (int d = 0; d < s->dim; d++) sb_printf(b, "%s%.6g", d ? "," : "", j->desc[k][(size_t)i * s->dim + d]);
      sb_printf(b, "]");
    }
    sb_printf(b, "}");
  }
  sb_printf(b, "]");
}

static void json_timing(sbuf *b, const job *j) {
  sb_printf(b, "\"timing\":{\"queue_ms\":%.3f,\"pipeline_ms\":%.3f}", j->queue_ms, j->pipeline_ms);
}

static void overloaded(struct mg_connection *c, reqlog *lg, sbuf *b) {
  send_error(c, lg, b, 503, "overloaded", "the server is busy: the work queue is full; retry later");
}

/* detect, embed, recognize: one image in, its faces out. */
static void handle_image(fr__srv *s, struct mg_connection *c, reqlog *lg, scratch *sc,
                         job_kind kind) {
  const struct mg_request_info *ri = mg_get_request_info(c);
  fr_error err = {0};
  size_t size;
  job *j = &sc->j;
  fr_status st = read_body(c, sc, s->cfg.max_body, &size, &err);
  lg->bytes_in = (long long)size;
  if (st == FR_OK) st = image_of_body(mg_get_header(c, "Content-Type"), ri->query_string, sc->body, size, &j->in[0], &err);
  if (st != FR_OK) return send_status_error(c, lg, &sc->out, st, &err);
  j->kind = kind, j->n_in = 1;
  if (!run_on_pool(s, j)) return overloaded(c, lg, &sc->out);
  if (j->st != FR_OK) return send_status_error(c, lg, &sc->out, j->st, &j->err);
  sbuf *b = &sc->out;
  b->len = 0, b->oom = 0;
  sb_printf(b, "{\"width\":%d,\"height\":%d,\"faces\":", j->width[0], j->height[0]);
  json_faces(s, b, j, 0, kind == JOB_RECOGNIZE, kind == JOB_EMBED);
  sb_printf(b, ",");
  json_timing(b, j);
  sb_printf(b, "}");
  send_json(c, lg, 200, b, 0);
}

static int part_is(const fr__srv_part *p, const char *name) {
  return p->name_len == strlen(name) && memcmp(p->name, name, p->name_len) == 0;
}

static void handle_verify(fr__srv *s, struct mg_connection *c, reqlog *lg, scratch *sc) {
  fr_error err = {0};
  size_t size;
  job *j = &sc->j;
  fr_status st = read_body(c, sc, s->cfg.max_body, &size, &err);
  lg->bytes_in = (long long)size;
  fr__srv_part parts[FR_SRV_MAX_PARTS];
  int n = 0;
  if (st == FR_OK)
    st = fr__srv_multipart(mg_get_header(c, "Content-Type"), sc->body, size, parts, FR_SRV_MAX_PARTS, &n, &err);
  const fr__srv_part *pa = NULL, *pb = NULL;
  for (int i = 0; i < n; i++) {
    if (part_is(&parts[i], "a")) pa = &parts[i];
    if (part_is(&parts[i], "b")) pb = &parts[i];
  }
  if (st == FR_OK && (!pa || !pb)) st = fr__fail(&err, FR_E_INVALID, "verify needs two parts named a and b");
  for (int k = 0; k < 2 && st == FR_OK; k++) {
    const fr__srv_part *p = k ? pb : pa;
    char ct[64];
    snprintf(ct, sizeof ct, "%.*s", (int)(p->type_len < 63 ? p->type_len : 63), p->type ? p->type : "");
    st = image_of_body(ct, NULL, p->data, p->size, &j->in[k], &err);
    if (st == FR_OK && j->in[k].raw) st = fr__fail(&err, FR_E_UNSUPPORTED, "verify takes encoded images only");
  }
  if (st != FR_OK) return send_status_error(c, lg, &sc->out, st, &err);
  j->kind = JOB_VERIFY, j->n_in = 2;
  if (!run_on_pool(s, j)) return overloaded(c, lg, &sc->out);
  if (j->st != FR_OK) return send_status_error(c, lg, &sc->out, j->st, &j->err);
  if (j->n_faces[0] == 0 || j->n_faces[1] == 0)
    return send_error(c, lg, &sc->out, 422, "no_face", j->n_faces[0] ? "no face found in image b" : "no face found in image a");
  /* The most confident face of each (describe_photo returns them by score). */
  float d = fr_distance(j->desc[0], j->desc[1], s->dim);
  sbuf *b = &sc->out;
  b->len = 0, b->oom = 0;
  sb_printf(b, "{\"distance\":%.4f,\"same\":%s,\"threshold\":%.4f,", d, d <= s->threshold ? "true" : "false",
            s->threshold);
  json_timing(b, j);
  sb_printf(b, "}");
  send_json(c, lg, 200, b, 0);
}

static void handle_subjects(fr__srv *s, struct mg_connection *c, reqlog *lg, scratch *sc, int post) {
  fr_error err = {0};
  sbuf *b = &sc->out;
  if (post) {
    size_t size;
    char name[FR_NAME_MAX], meta[FR_SRV_MAX_META + 1];
    int has_meta;
    fr_status st = read_body(c, sc, FR_SRV_MAX_JSON, &size, &err);
    lg->bytes_in = (long long)size;
    if (st == FR_OK) st = fr__srv_subject_json((const char *)sc->body, size, name, meta, sizeof meta, &has_meta, &err);
    int64_t id = 0;
    if (st == FR_OK) {
      pthread_mutex_lock(&s->gallery_mu);
      st = fr_gallery_add_person(s->gallery, name, has_meta ? meta : NULL, &id, &err);
      pthread_mutex_unlock(&s->gallery_mu);
      if (st == FR_E_INVALID) return send_error(c, lg, b, 409, "exists", err.message);
    }
    if (st != FR_OK) return send_status_error(c, lg, b, st, &err);
    refresh_counts(s);
    b->len = 0, b->oom = 0;
    sb_printf(b, "{\"id\":%lld,\"name\":", (long long)id);
    sb_cstr(b, name);
    sb_printf(b, ",\"faces\":0}");
    return send_json(c, lg, 201, b, 0);
  }
  int n = 0;
  pthread_mutex_lock(&s->gallery_mu);
  fr_status st = fr_gallery_people(s->gallery, NULL, 0, &n, &err);
  if (st == FR_OK && n > sc->people_cap) {
    fr_person *p = realloc(sc->people, (size_t)n * sizeof *p);
    if (p) sc->people = p, sc->people_cap = n;
    else st = fr__fail(&err, FR_E_NOMEM, "out of memory");
  }
  int total = 0;
  if (st == FR_OK) st = fr_gallery_people(s->gallery, sc->people, n, &total, &err);
  pthread_mutex_unlock(&s->gallery_mu);
  if (st != FR_OK) return send_status_error(c, lg, b, st, &err);
  if (total < n) n = total;
  b->len = 0, b->oom = 0;
  sb_printf(b, "{\"subjects\":[");
  for (int i = 0; i < n; i++) {
    sb_printf(b, "%s{\"id\":%lld,\"name\":", i ? "," : "", (long long)sc->people[i].id);
    sb_cstr(b, sc->people[i].name);
    sb_printf(b, ",\"faces\":%d}", sc->people[i].n_faces);
  }
  sb_printf(b, "]}");
  send_json(c, lg, 200, b, 0);
}

static void handle_subject_faces(fr__srv *s, struct mg_connection *c, reqlog *lg, scratch *sc,
                                 const fr__srv_route *r, int post) {
  fr_error err = {0};
  sbuf *b = &sc->out;
  job *j = &sc->j;
  if (post) {
    const struct mg_request_info *ri = mg_get_request_info(c);
    size_t size;
    fr_status st = read_body(c, sc, s->cfg.max_body, &size, &err);
    lg->bytes_in = (long long)size;
    if (st == FR_OK) st = image_of_body(mg_get_header(c, "Content-Type"), ri->query_string, sc->body, size, &j->in[0], &err);
    char v[FR_SRV_MAX_PARAM];
    int found = 0;
    long face = -1;
    if (st == FR_OK) st = fr__srv_query_get(ri->query_string, "face", v, sizeof v, &found, &err);
    if (st == FR_OK && found && !fr__srv_parse_int(v, 0, MAX_FACES - 1, &face))
      st = fr__fail(&err, FR_E_INVALID, "face must be 0 to %d", MAX_FACES - 1);
    if (st != FR_OK) return send_status_error(c, lg, b, st, &err);
    j->kind = JOB_ENROLL, j->n_in = 1, j->name = r->name, j->face_index = (int)face;
    if (!run_on_pool(s, j)) return overloaded(c, lg, b);
    if (j->st == FR_E_NOTFOUND) return send_error(c, lg, b, 422, "no_face", j->err.message);
    if (j->st == FR_E_INVALID && strstr(j->err.message, "already enrolled"))
      return send_error(c, lg, b, 409, "conflict", j->err.message);
    if (j->st == FR_E_INVALID && strstr(j->err.message, "faces found"))
      return send_error(c, lg, b, 422, "several_faces", j->err.message);
    if (j->st != FR_OK) return send_status_error(c, lg, b, j->st, &j->err);
    b->len = 0, b->oom = 0;
    sb_printf(b, "{\"name\":");
    sb_cstr(b, r->name);
    sb_printf(b, ",\"face_id\":%lld,\"added\":%d,\"duplicate\":%s,", (long long)j->face_id, j->added,
              j->added ? "false" : "true");
    json_box(b, &j->faces[0][0].box);
    sb_printf(b, ",\"image_hash\":\"%s\",", j->hash);
    json_timing(b, j);
    sb_printf(b, "}");
    return send_json(c, lg, 200, b, 0);
  }
  if (!sc->rows && !(sc->rows = malloc(1024 * sizeof *sc->rows)))
    return send_error(c, lg, b, 503, "overloaded", "out of memory");
  int n = 0;
  pthread_mutex_lock(&s->gallery_mu);
  fr_status st = fr_gallery_faces(s->gallery, r->name, sc->rows, 1024, &n, &err);
  pthread_mutex_unlock(&s->gallery_mu);
  if (st != FR_OK) return send_status_error(c, lg, b, st, &err);
  b->len = 0, b->oom = 0;
  sb_printf(b, "{\"name\":");
  sb_cstr(b, r->name);
  sb_printf(b, ",\"faces\":[");
  for (int i = 0; i < n; i++) {
    const fr_gallery_face_info *f = &sc->rows[i];
    sb_printf(b, "%s{\"id\":%lld,\"image_hash\":\"%s\",\"variant\":%d,\"created\":%lld,", i ? "," : "",
              (long long)f->id, f->image_hash, f->variant, (long long)f->created);
    json_box(b, &f->box);
    sb_printf(b, "}");
  }
  sb_printf(b, "]}");
  send_json(c, lg, 200, b, 0);
}

static void handle_delete(fr__srv *s, struct mg_connection *c, reqlog *lg, scratch *sc,
                          const fr__srv_route *r) {
  fr_error err = {0};
  sbuf *b = &sc->out;
  int removed = 0;
  pthread_mutex_lock(&s->gallery_mu);
  fr_status st = r->id == FR_ROUTE_SUBJECT ? fr_gallery_forget(s->gallery, r->name, &removed, &err)
                                           : fr_gallery_remove_face(s->gallery, r->face_id, &err);
  pthread_mutex_unlock(&s->gallery_mu);
  if (st != FR_OK) return send_status_error(c, lg, b, st, &err);
  refresh_counts(s);
  b->len = 0, b->oom = 0;
  if (r->id == FR_ROUTE_SUBJECT) {
    sb_printf(b, "{\"name\":");
    sb_cstr(b, r->name);
    sb_printf(b, ",\"removed_faces\":%d}", removed);
  } else {
    sb_printf(b, "{\"face_id\":%lld,\"removed\":true}", (long long)r->face_id);
  }
  send_json(c, lg, 200, b, 0);
}

static void handle_health(fr__srv *s, struct mg_connection *c, reqlog *lg, scratch *sc) {
  sbuf *b = &sc->out;
  pthread_mutex_lock(&s->q_mu);
  int depth = s->q_len;
  pthread_mutex_unlock(&s->q_mu);
  pthread_mutex_lock(&s->metrics_mu);
  int faces = s->faces_count, people = s->people_count;
  pthread_mutex_unlock(&s->metrics_mu);
  b->len = 0, b->oom = 0;
  sb_printf(b, "{\"status\":\"ok\",\"version\":\"%s\",\"model\":", fr_version());
  sb_cstr(b, s->model);
  sb_printf(b, ",\"dim\":%d,\"threshold\":%.4f,\"workers\":%d,\"queue_depth\":%d,\"queue_capacity\":%d,"
               "\"people\":%d,\"faces\":%d,\"auth\":%s}",
            s->dim, s->threshold, s->n_workers, depth, s->q_cap, people, faces, s->auth ? "true" : "false");
  send_json(c, lg, 200, b, 0);
}

static void hist_print(sbuf *b, const char *name, const char *labels, const histogram *h) {
  long long cum = 0;
  for (int i = 0; i <= N_BUCKETS; i++) {
    cum += h->count[i];
    char le[32];
    if (i < N_BUCKETS) snprintf(le, sizeof le, "%g", bucket_le[i]);
    else snprintf(le, sizeof le, "+Inf");
    sb_printf(b, "%s_bucket{%s%sle=\"%s\"} %lld\n", name, labels, labels[0] ? "," : "", le, cum);
  }
  sb_printf(b, "%s_sum{%s} %.6f\n%s_count{%s} %lld\n", name, labels, h->sum, name, labels, h->n);
}

static void handle_metrics(fr__srv *s, struct mg_connection *c, reqlog *lg, scratch *sc) {
  sbuf *b = &sc->out;
  b->len = 0, b->oom = 0;
  pthread_mutex_lock(&s->q_mu);
  int depth = s->q_len;
  pthread_mutex_unlock(&s->q_mu);
  pthread_mutex_lock(&s->drain_mu);
  int active = s->active;
  pthread_mutex_unlock(&s->drain_mu);
  sb_printf(b, "# HELP facerec_http_requests_in_progress API requests being served (this one included).\n"
               "# TYPE facerec_http_requests_in_progress gauge\nfacerec_http_requests_in_progress %d\n", active);
  pthread_mutex_lock(&s->metrics_mu);
  sb_printf(b, "# HELP facerec_http_requests_total API requests by route and status.\n"
               "# TYPE facerec_http_requests_total counter\n");
  for (int r = 1; r < FR_ROUTE_COUNT; r++)
    for (int k = 0; k <= N_CODES; k++)
      if (s->requests[r][k])
        sb_printf(b, "facerec_http_requests_total{route=\"%s\",code=\"%d\"} %lld\n", fr__srv_route_name(r),
                  k < N_CODES ? status_codes[k] : 0, s->requests[r][k]);
  sb_printf(b, "# HELP facerec_http_request_duration_seconds API request latency, body read to response.\n"
               "# TYPE facerec_http_request_duration_seconds histogram\n");
  for (int r = 1; r < FR_ROUTE_COUNT; r++) {
    if (!s->latency[r].n) continue;
    char labels[64];
    snprintf(labels, sizeof labels, "route=\"%s\"", fr__srv_route_name(r));
    hist_print(b, "facerec_http_request_duration_seconds", labels, &s->latency[r]);
  }
  sb_printf(b, "# HELP facerec_pipeline_duration_seconds Time a worker spent on one job.\n"
               "# TYPE facerec_pipeline_duration_seconds histogram\n");
  hist_print(b, "facerec_pipeline_duration_seconds", "", &s->pipeline_time);
  sb_printf(b,
            "# HELP facerec_queue_depth Jobs waiting for a worker.\n# TYPE facerec_queue_depth gauge\n"
            "facerec_queue_depth %d\n"
            "# HELP facerec_queue_capacity Jobs that may wait before requests get 503.\n"
            "# TYPE facerec_queue_capacity gauge\nfacerec_queue_capacity %d\n"
            "# HELP facerec_workers Pipeline worker threads.\n# TYPE facerec_workers gauge\nfacerec_workers %d\n"
            "# HELP facerec_gallery_faces Descriptors in the gallery.\n# TYPE facerec_gallery_faces gauge\n"
            "facerec_gallery_faces %d\n"
            "# HELP facerec_gallery_people People in the gallery.\n# TYPE facerec_gallery_people gauge\n"
            "facerec_gallery_people %d\n"
            "# HELP facerec_ws_connections Open WebSocket streams.\n# TYPE facerec_ws_connections gauge\n"
            "facerec_ws_connections %d\n"
            "# HELP facerec_ws_frames_total WebSocket frames by outcome.\n# TYPE facerec_ws_frames_total counter\n"
            "facerec_ws_frames_total{result=\"answered\"} %lld\n"
            "facerec_ws_frames_total{result=\"dropped\"} %lld\n"
            "facerec_ws_frames_total{result=\"failed\"} %lld\n",
            depth, s->q_cap, s->n_workers, s->faces_count, s->people_count, s->ws_open, s->ws_frames[0],
            s->ws_frames[1], s->ws_frames[2]);
  pthread_mutex_unlock(&s->metrics_mu);
  size_t n = b->oom ? 0 : b->len;
  mg_printf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: %zu\r\n"
               "Cache-Control: no-store\r\n\r\n", n);
  mg_write(c, b->p, n);
  lg->status = 200;
  lg->bytes_out = (long long)n;
}

/* The key a client presents: the X-API-Key header, or for the WebSocket
 * (browsers cannot set headers on it) the `key` query parameter. */
static int key_level(fr__srv *s, struct mg_connection *c, int allow_query) {
  const char *k = mg_get_header(c, "X-API-Key");
  char q[FR_SRV_MAX_PARAM];
  int found = 0;
  if (!k && allow_query &&
      fr__srv_query_get(mg_get_request_info(c)->query_string, "key", q, sizeof q, &found, NULL) == FR_OK && found)
    k = q;
  return fr__srv_key_level(s->keys, s->n_keys, k);
}

static void access_log(fr__srv *s, struct mg_connection *c, const reqlog *lg) {
  if (!s->cfg.access_log) return;
  const struct mg_request_info *ri = mg_get_request_info(c);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char when[40];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  sbuf b = {0};
  sb_printf(&b, "{\"time\":\"%s.%03ldZ\",\"remote\":\"%s\",\"method\":", when, ts.tv_nsec / 1000000L,
            ri->remote_addr);
  sb_cstr(&b, ri->request_method);
  sb_printf(&b, ",\"path\":");
  sb_str(&b, ri->local_uri, strnlen(ri->local_uri, 256));
  if (lg->route == FR_ROUTE_NONE && lg->start == 0) /* a static file: no sizes or time known */
    sb_printf(&b, ",\"route\":\"static\",\"status\":%d}\n", lg->status);
  else
    sb_printf(&b, ",\"route\":\"%s\",\"status\":%d,\"bytes_in\":%lld,\"bytes_out\":%lld,\"ms\":%.3f}\n",
              fr__srv_route_name(lg->route), lg->status, lg->bytes_in, lg->bytes_out,
              (now_s() - lg->start) * 1e3);
  if (!b.oom) {
    pthread_mutex_lock(&s->log_mu);
    fwrite(b.p, 1, b.len, s->cfg.access_log);
    fflush(s->cfg.access_log);
    pthread_mutex_unlock(&s->log_mu);
  }
  free(b.p);
}

static int api_handler(struct mg_connection *c, void *cbdata) {
  fr__srv *s = cbdata;
  const struct mg_request_info *ri = mg_get_request_info(c);
  reqlog lg = {now_s(), 0, 0, FR_ROUTE_NONE, 0};
  scratch *sc = get_scratch(s);
  if (!sc) {
    mg_printf(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    return 503;
  }
  pthread_mutex_lock(&s->drain_mu);
  int refuse = s->draining;
  if (!refuse) s->active++;
  pthread_mutex_unlock(&s->drain_mu);
  if (refuse) {
    send_error(c, &lg, &sc->out, 503, "shutting_down", "the server is shutting down");
    return 503;
  }
  fr__srv_route r;
  fr_error err = {0};
  fr_status st = fr__srv_route_parse(ri->request_method, ri->local_uri, &r, &err);
  lg.route = r.id;
  if (st == FR_E_NOTFOUND) send_error(c, &lg, &sc->out, 404, "not_found", err.message);
  else if (st == FR_E_UNSUPPORTED) send_error(c, &lg, &sc->out, 405, "method_not_allowed", err.message);
  else if (st != FR_OK) send_error(c, &lg, &sc->out, 400, "invalid_request", err.message);
  else {
    int level = r.id == FR_ROUTE_HEALTH || !s->auth ? 1 : key_level(s, c, 0);
    if (level < 0) send_error(c, &lg, &sc->out, 401, "unauthorized", "a valid X-API-Key header is required");
    else if (r.admin && level < 1) send_error(c, &lg, &sc->out, 403, "forbidden", "this route needs an admin key");
    else {
      int post = strcmp(ri->request_method, "POST") == 0;
      switch (r.id) {
      case FR_ROUTE_HEALTH: handle_health(s, c, &lg, sc); break;
      case FR_ROUTE_METRICS: handle_metrics(s, c, &lg, sc); break;
      case FR_ROUTE_DETECT: handle_image(s, c, &lg, sc, JOB_DETECT); break;
      case FR_ROUTE_EMBED: handle_image(s, c, &lg, sc, JOB_EMBED); break;
      case FR_ROUTE_RECOGNIZE: handle_image(s, c, &lg, sc, JOB_RECOGNIZE); break;
      case FR_ROUTE_VERIFY: handle_verify(s, c, &lg, sc); break;
      case FR_ROUTE_SUBJECTS: handle_subjects(s, c, &lg, sc, post); break;
      case FR_ROUTE_SUBJECT_FACES: handle_subject_faces(s, c, &lg, sc, &r, post); break;
      case FR_ROUTE_SUBJECT:
      case FR_ROUTE_FACE: handle_delete(s, c, &lg, sc, &r); break;
      default: send_error(c, &lg, &sc->out, 404, "not_found", "no such route"); break;
      }
    }
  }
  int k = 0;
  while (k < N_CODES && status_codes[k] != lg.status) k++;
  pthread_mutex_lock(&s->metrics_mu);
  s->requests[lg.route][k]++;
  hist_add(&s->latency[lg.route], now_s() - lg.start);
  pthread_mutex_unlock(&s->metrics_mu);
  access_log(s, c, &lg);
  /* Shrink a body buffer that one large upload grew, so that an idle thread
   * does not keep max_body bytes. */
  if (sc->body_cap > (1u << 20)) {
    free(sc->body);
    sc->body = NULL, sc->body_cap = 0;
  }
  pthread_mutex_lock(&s->drain_mu);
  if (--s->active == 0) pthread_cond_broadcast(&s->drain_cv);
  pthread_mutex_unlock(&s->drain_mu);
  return lg.status ? lg.status : 500;
}

/* ---- the WebSocket stream -------------------------------------------------------------- */

/* One stream. The newest frame not yet started waits in `pending`; a frame
 * that arrives while another waits replaces it (the replaced one is answered
 * as dropped), so a slow server answers the latest frame, not a backlog. */
typedef struct wsconn {
  fr__srv *s;
  struct mg_connection *conn;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint8_t *pending, *work;
  size_t pending_size, pending_cap, work_size, work_cap;
  uint32_t pending_seq, work_seq;
  int has_pending, busy, closing;
  uint32_t next_seq;
  job j;
  sbuf out;
  fr__srv_frame frame;
} wsconn;

static void ws_send(wsconn *w, const char *text, size_t n) {
  mg_websocket_write(w->conn, MG_WEBSOCKET_OPCODE_TEXT, text, n);
}

static void ws_send_error(wsconn *w, uint32_t seq, const char *code, const char *msg) {
  sbuf b = {0};
  sb_printf(&b, "{\"seq\":%u,\"error\":{\"code\":", seq);
  sb_cstr(&b, code);
  sb_printf(&b, ",\"message\":");
  sb_cstr(&b, msg);
  sb_printf(&b, "}}");
  if (!b.oom) ws_send(w, b.p, b.len);
  free(b.p);
}

static void ws_count(fr__srv *s, int what) {
  pthread_mutex_lock(&s->metrics_mu);
  s->ws_frames[what]++;
  pthread_mutex_unlock(&s->metrics_mu);
}

/* Moves the pending frame to `work` and queues it; called with w->mu held.
 * Returns 0 when the queue was full (the frame is then answered by the
 * caller, after unlocking). */
static int ws_start(wsconn *w) {
  uint8_t *t = w->work;
  size_t tc = w->work_cap;
  w->work = w->pending, w->work_cap = w->pending_cap, w->work_size = w->pending_size;
  w->work_seq = w->pending_seq;
  w->pending = t, w->pending_cap = tc, w->pending_size = 0;
  w->has_pending = 0;
  /* Parsed again on the bytes that stay put while the worker runs (the data
   * handler checked them already). */
  fr__srv_ws_frame(w->work, w->work_size, &w->frame, NULL);
  image_in *in = &w->j.in[0];
  memset(in, 0, sizeof *in);
  in->data = w->frame.data, in->size = w->frame.size;
  in->raw = w->frame.raw, in->geometry = w->frame.geometry;
  w->j.kind = JOB_WS, w->j.n_in = 1, w->j.ws = w;
  w->busy = submit(w->s, &w->j);
  return w->busy;
}

static void ws_job_done(fr__srv *s, job *j) {
  wsconn *w = j->ws;
  sbuf *b = &w->out;
  b->len = 0, b->oom = 0;
  if (j->st == FR_OK) {
    sb_printf(b, "{\"seq\":%u,\"width\":%d,\"height\":%d,\"faces\":", w->work_seq, j->width[0], j->height[0]);
    json_faces(s, b, j, 0, 1, 0);
    sb_printf(b, ",");
    json_timing(b, j);
    sb_printf(b, "}");
    if (!b->oom) ws_send(w, b->p, b->len);
    ws_count(s, 0);
  } else {
    const char *code;
    http_of(j->st, &code);
    ws_send_error(w, w->work_seq, code, j->err.message);
    ws_count(s, 2);
  }
  pthread_mutex_lock(&w->mu);
  int refused = 0;
  uint32_t seq = 0;
  w->busy = 0;
  if (w->has_pending && !w->closing) {
    seq = w->pending_seq;
    refused = !ws_start(w);
  }
  if (!w->busy) pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
  if (refused) {
    ws_send_error(w, seq, "overloaded", "the server is busy: frame not processed");
    ws_count(s, 1);
  }
}

static int ws_connect(const struct mg_connection *cc, void *cbdata) {
  fr__srv *s = cbdata;
  struct mg_connection *c = (struct mg_connection *)cc;
  if (s->auth && key_level(s, c, 1) < 0) return 1; /* civetweb answers the handshake with an error */
  wsconn *w = calloc(1, sizeof *w);
  if (!w) return 1;
  w->s = s, w->conn = c;
  w->j.desc[0] = malloc((size_t)MAX_FACES * s->dim * sizeof(float));
  if (!w->j.desc[0]) {
    free(w);
    return 1;
  }
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  pthread_mutex_init(&w->j.mu, NULL);
  pthread_cond_init(&w->j.cv, NULL);
  mg_set_user_connection_data(cc, w);
  pthread_mutex_lock(&s->metrics_mu);
  s->ws_open++;
  pthread_mutex_unlock(&s->metrics_mu);
  return 0;
}

static int ws_data(struct mg_connection *c, int flags, char *data, size_t len, void *cbdata) {
  fr__srv *s = cbdata;
  wsconn *w = mg_get_user_connection_data(c);
  int op = flags & 0x0F;
  if (!w) return 0;
  if (op == MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE) return 0;
  if (op == MG_WEBSOCKET_OPCODE_PING || op == MG_WEBSOCKET_OPCODE_PONG) return 1;
  uint32_t seq = w->next_seq++;
  if (op != MG_WEBSOCKET_OPCODE_BINARY || !(flags & 0x80)) {
    ws_send_error(w, seq, "invalid_request", "send each frame as one binary message");
    ws_count(s, 2);
    return 1;
  }
  if ((long long)len > s->cfg.max_frame) {
    ws_send_error(w, seq, "too_large", "the frame is larger than the server accepts; closing");
    ws_count(s, 2);
    return 0;
  }
  fr__srv_frame f;
  fr_error err = {0};
  fr_status st = fr__srv_ws_frame((const uint8_t *)data, len, &f, &err);
  if (f.has_seq) seq = f.seq;
  if (st != FR_OK) {
    const char *code;
    http_of(st, &code);
    ws_send_error(w, seq, code, err.message);
    ws_count(s, 2);
    return 1;
  }
  pthread_mutex_lock(&w->mu);
  int dropped = w->has_pending;
  uint32_t dropped_seq = w->pending_seq;
  if (w->pending_cap < len) {
    uint8_t *p = realloc(w->pending, len);
    if (!p) {
      pthread_mutex_unlock(&w->mu);
      ws_send_error(w, seq, "overloaded", "out of memory");
      return 1;
    }
    w->pending = p, w->pending_cap = len;
  }
  memcpy(w->pending, data, len);
  w->pending_size = len, w->pending_seq = seq, w->has_pending = 1;
  int refused = 0;
  if (!w->busy) refused = !ws_start(w);
  pthread_mutex_unlock(&w->mu);
  if (dropped) {
    char msg[64];
    int n = snprintf(msg, sizeof msg, "{\"seq\":%u,\"dropped\":true}", dropped_seq);
    ws_send(w, msg, (size_t)n);
    ws_count(s, 1);
  }
  if (refused) {
    ws_send_error(w, seq, "overloaded", "the server is busy: frame not processed");
    ws_count(s, 1);
  }
  return 1;
}

static void ws_close(const struct mg_connection *c, void *cbdata) {
  fr__srv *s = cbdata;
  wsconn *w = mg_get_user_connection_data(c);
  if (!w) return;
  /* The worker may still be answering this stream's frame: wait for it, since
   * the connection is gone once this returns. */
  pthread_mutex_lock(&w->mu);
  w->closing = 1;
  while (w->busy) pthread_cond_wait(&w->cv, &w->mu);
  pthread_mutex_unlock(&w->mu);
  mg_set_user_connection_data(c, NULL);
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
  pthread_mutex_destroy(&w->j.mu);
  pthread_cond_destroy(&w->j.cv);
  free(w->pending);
  free(w->work);
  free(w->out.p);
  free(w->j.desc[0]);
  free(w);
  pthread_mutex_lock(&s->metrics_mu);
  s->ws_open--;
  pthread_mutex_unlock(&s->metrics_mu);
}

/* ---- start and stop ------------------------------------------------------------------------ */

void fr__srv_config_default(fr__srv_config *c) {
  memset(c, 0, sizeof *c);
  c->bind = "127.0.0.1";
  c->port = 8080;
  fr_pipeline_options_default(&c->po);
}

int fr__srv_port(const fr__srv *s) { return s->port; }

/* Logs the requests civetweb answers itself (the page's files, unknown
 * paths): the API logs its own, with sizes and times, in api_handler. */
static void end_request(const struct mg_connection *c, int status) {
  fr__srv *s = mg_get_user_data(mg_get_context(c));
  const struct mg_request_info *ri = mg_get_request_info(c);
  if (!s || !s->cfg.access_log || !ri || !ri->local_uri) return;
  if (strncmp(ri->local_uri, "/api", 4) == 0 || strncmp(ri->local_uri, "/metrics", 8) == 0) return;
  reqlog lg = {0, 0, 0, FR_ROUTE_NONE, status};
  access_log(s, (struct mg_connection *)c, &lg);
}

static int log_message(const struct mg_connection *c, const char *msg) {
  (void)c;
  fprintf(stderr, "facerec serve: civetweb: %s\n", msg);
  return 1;
}

void fr__srv_stop(fr__srv *s) {
  if (!s) return;
  /* First the requests in progress are let finish and answered, while new
   * ones get 503: civetweb's own stop would cut their responses off (it
   * refuses writes once stopping). The wait is bounded, so that a stuck
   * client cannot hold the process forever. Then civetweb closes the
   * listener and its connections (WebSocket frames still in work are
   * finished by the running workers, their answers dropped), and only then
   * do the workers stop. */
  if (s->mg) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 60;
    pthread_mutex_lock(&s->drain_mu);
    s->draining = 1;
    while (s->active > 0)
      if (pthread_cond_timedwait(&s->drain_cv, &s->drain_mu, &until) != 0) break;
    pthread_mutex_unlock(&s->drain_mu);
    mg_stop(s->mg);
  }
  if (s->threads) {
    pthread_mutex_lock(&s->q_mu);
    s->stopping = 1;
    pthread_cond_broadcast(&s->q_cv);
    pthread_mutex_unlock(&s->q_mu);
    for (int i = 0; i < s->n_workers; i++)
      if (s->threads[i]) pthread_join(s->threads[i], NULL);
  }
  if (s->ctx)
    for (int i = 0; i < s->n_workers; i++) fr_context_destroy(s->ctx[i]);
  free(s->ctx);
  free(s->threads);
  free(s->queue);
  fr_gallery_close(s->gallery);
  fr_pipeline_destroy(s->pipe);
  /* The scratch of the connection threads went with them (key destructor). */
  pthread_key_delete(s->scratch_key);
  pthread_mutex_destroy(&s->gallery_mu);
  pthread_mutex_destroy(&s->q_mu);
  pthread_cond_destroy(&s->q_cv);
  pthread_mutex_destroy(&s->metrics_mu);
  pthread_mutex_destroy(&s->log_mu);
  pthread_mutex_destroy(&s->drain_mu);
  pthread_cond_destroy(&s->drain_cv);
  free(s);
}

static fr_status load_keys(fr__srv *s, const char *path, fr_error *err) {
  uint8_t *text = NULL;
  size_t size = 0;
  fr_status st = fr__read_file(path, 1 << 20, &text, &size, err);
  if (st != FR_OK) return st;
  st = fr__srv_keys_parse((const char *)text, size, s->keys, FR_SRV_MAX_KEYS, &s->n_keys, err);
  free(text);
  if (st == FR_OK && s->n_keys == 0) st = fr__fail(err, FR_E_INVALID, "%s holds no keys", path);
  s->auth = 1;
  return st;
}

fr_status fr__srv_start(const fr__srv_config *cfg, fr__srv **out, fr_error *err) {
  *out = NULL;
  fr__srv *s = calloc(1, sizeof *s);
  if (!s) return fr__fail(err, FR_E_NOMEM, "out of memory");
  s->cfg = *cfg;
  if (s->cfg.max_body <= 0) s->cfg.max_body = 16LL << 20;
  if (s->cfg.max_frame <= 0) s->cfg.max_frame = 8LL << 20;
  if (s->cfg.timeout_ms <= 0) s->cfg.timeout_ms = 10000;
  if (!s->cfg.bind) s->cfg.bind = "127.0.0.1";
  pthread_mutex_init(&s->gallery_mu, NULL);
  pthread_mutex_init(&s->q_mu, NULL);
  pthread_cond_init(&s->q_cv, NULL);
  pthread_mutex_init(&s->metrics_mu, NULL);
  pthread_mutex_init(&s->log_mu, NULL);
  pthread_mutex_init(&s->drain_mu, NULL);
  pthread_cond_init(&s->drain_cv, NULL);
  if (pthread_key_create(&s->scratch_key, scratch_free) != 0) {
    free(s);
    return fr__fail(err, FR_E_NOMEM, "cannot create a thread key");
  }
  fr_status st = FR_OK;
  if (cfg->api_key_file) st = load_keys(s, cfg->api_key_file, err);
  if (st == FR_OK) st = fr_pipeline_create(&cfg->po, cfg->models, &s->pipe, err);
  if (st == FR_OK) {
    s->dim = fr_pipeline_dim(s->pipe);
    st = fr_gallery_model_id(&cfg->po, s->model, sizeof s->model, err);
  }
  if (st == FR_OK)
    st = fr_gallery_open(cfg->db_path, s->model, s->dim,
                         fr_pipeline_identify_threshold(s->pipe, FR_METRIC_EUCLIDEAN), &s->gallery,
                         err);
  if (st == FR_OK) {
    /* /verify compares two photos: the verification threshold, not the
     * gallery's identification cut. */
    s->threshold = fr_pipeline_threshold(s->pipe);
    float ct = fr_pipeline_identify_threshold(s->pipe, FR_METRIC_COSINE);
    if (ct > 0 && fr_gallery_metric_threshold(s->gallery, FR_METRIC_COSINE) <= 0)
      st = fr_gallery_set_threshold(s->gallery, FR_METRIC_COSINE, ct, err);
  }
  if (st == FR_OK) refresh_counts(s);
  if (st == FR_OK) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    s->n_workers = cfg->workers > 0 ? cfg->workers : (int)(ncpu > 0 ? ncpu : 1);
    s->q_cap = cfg->queue > 0 ? cfg->queue : 4 * s->n_workers;
    s->queue = calloc((size_t)s->q_cap, sizeof *s->queue);
    s->threads = calloc((size_t)s->n_workers, sizeof *s->threads);
    s->ctx = calloc((size_t)s->n_workers, sizeof *s->ctx);
    if (!s->queue || !s->threads || !s->ctx) st = fr__fail(err, FR_E_NOMEM, "out of memory");
  }
  for (int i = 0; st == FR_OK && i < s->n_workers; i++) {
    st = fr_context_create(NULL, &s->ctx[i], err);
    void **arg = st == FR_OK ? malloc(2 * sizeof *arg) : NULL;
    if (st == FR_OK && !arg) st = fr__fail(err, FR_E_NOMEM, "out of memory");
    if (st != FR_OK) break;
    arg[0] = s, arg[1] = s->ctx[i];
    if (pthread_create(&s->threads[i], NULL, worker_main, arg) != 0) {
      free(arg);
      st = fr__fail(err, FR_E_NOMEM, "cannot start a worker thread");
    }
  }
  if (st == FR_OK) {
    mg_init_library(0);
    if (!mg_check_feature(MG_FEATURES_WEBSOCKET))
      st = fr__fail(err, FR_E_UNSUPPORTED, "this civetweb was built without WebSocket support");
  }
  if (st == FR_OK) {
    char ports[128], threads[16], timeout[16], wstimeout[16];
    snprintf(ports, sizeof ports, "%s:%d", s->cfg.bind, cfg->port);
    int io = cfg->io_threads > 0 ? cfg->io_threads : 4 * s->n_workers + 16;
    snprintf(threads, sizeof threads, "%d", io);
    snprintf(timeout, sizeof timeout, "%d", s->cfg.timeout_ms);
    snprintf(wstimeout, sizeof wstimeout, "%d", 300000);
    const char *opts[32];
    int k = 0;
    opts[k++] = "listening_ports", opts[k++] = ports;
    opts[k++] = "num_threads", opts[k++] = threads;
    opts[k++] = "request_timeout_ms", opts[k++] = timeout;
    opts[k++] = "websocket_timeout_ms", opts[k++] = wstimeout;
    opts[k++] = "enable_keep_alive", opts[k++] = "yes";
    opts[k++] = "tcp_nodelay", opts[k++] = "1";
    opts[k++] = "enable_directory_listing", opts[k++] = "no";
    if (cfg->web_root) opts[k++] = "document_root", opts[k++] = cfg->web_root;
    opts[k] = NULL;
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.log_message = log_message;
    cb.end_request = end_request;
    s->mg = mg_start(&cb, s, opts);
    if (!s->mg) st = fr__fail(err, FR_E_IO, "cannot listen on %s (in use, or not an address here)", ports);
  }
  if (st == FR_OK) {
    mg_set_request_handler(s->mg, "/api", api_handler, s);
    mg_set_request_handler(s->mg, "/metrics", api_handler, s);
    mg_set_websocket_handler(s->mg, "/api/v1/stream", ws_connect, NULL, ws_data, ws_close, s);
    struct mg_server_port sp[4];
    int n = mg_get_server_ports(s->mg, 4, sp);
    s->port = n > 0 ? sp[0].port : cfg->port;
  }
  if (st != FR_OK) {
    fr__srv_stop(s);
    return st;
  }
  *out = s;
  return FR_OK;
}
