/*
 * server.c - the recognition server's routes, jobs and streams (see
 * server.h for the threading model). The network side (sockets, HTTP and
 * WebSocket framing, limits and deadlines) is src/server/net.c; this file
 * decides what a request means and who may make it, runs the work on the
 * pipeline workers, and hands the answers back to the loop to write.
 */
#define _GNU_SOURCE
#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/net.h"
#include "server/parse.h"
#include "server/ws.h"

#define MAX_FACES 32
#define MAX_STATIC (4 << 20) /* bytes of one file of the web page */

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

/* ---- jobs and the worker pool ------------------------------------------------------------- */

typedef enum job_kind {
  JOB_DETECT, JOB_EMBED, JOB_RECOGNIZE, JOB_VERIFY, JOB_ENROLL, JOB_WS,
  JOB_SUBJECTS_LIST, JOB_SUBJECT_CREATE, JOB_FACES_LIST, JOB_DELETE
} job_kind;

typedef struct image_in {
  const uint8_t *data;
  size_t size;
  int raw;
  fr__srv_raw geometry;
} image_in;

typedef struct reqlog {
  double start;
  long long bytes_in, bytes_out;
  fr__srv_route_id route;
  int status;
  char method[16];
  char path[256];
} reqlog;

struct stream;

/* One unit of work, taken from the server's fixed pool by the loop, run by a
 * worker, and handed back to the loop (fr__net_post) with its answer in
 * `out`. Between submit and completion only the worker touches it; the
 * request bytes it points to stay put because the connection reads nothing
 * while its request is with the app. */
typedef struct job {
  int is_stream; /* 0: a job is a connection's user data while it runs (see on_closing) */
  atomic_int cancelled; /* the client is gone: a worker that has not started it skips it */
  job_kind kind;
  fr__net_conn *conn;
  struct stream *stream;
  const fr__http_head *head;
  const uint8_t *body;
  size_t body_size;
  fr__srv_route route;
  image_in in[2];
  int n_in;
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
  /* the answer */
  int status;
  sbuf out;
  reqlog lg;
  fr_gallery_face_info *rows;
  fr_person *people;
  int people_cap;
  struct job *next_free;
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

static const int status_codes[] = {200, 201, 204, 400, 401, 403, 404, 405, 408, 409,
                                   413, 415, 422, 426, 500, 503};
#define N_CODES ((int)(sizeof status_codes / sizeof status_codes[0]))

/* One WebSocket stream. The newest frame not yet started waits in
 * `pending`; one that arrives while another waits replaces it (the replaced
 * one is answered as dropped), so a slow server answers the latest frame,
 * not a backlog. Loop thread only, except `work`, which the worker reads
 * while `busy`. */
typedef struct stream {
  int is_stream; /* 1 */
  job *busy; /* the job running the `work` frame, or NULL */
  uint8_t *pending, *work;
  size_t pending_size, pending_cap, work_size, work_cap;
  uint32_t pending_seq, work_seq, next_seq;
  int has_pending;
} stream;

struct fr__srv {
  fr__srv_config cfg;
  fr__net *net;
  int port;
  fr_pipeline *pipe;
  int dim;
  float threshold;
  char model[256];
  char bind_text[64];
  int bind_loopback, bind_any;
  /* The gallery handle is not thread-safe: one lock around every use. */
  pthread_mutex_t gallery_mu;
  fr_gallery *gallery;
  /* workers, their queue, and the job pool (the pool is the loop's alone) */
  int n_workers;
  pthread_t *threads;
  fr_context **ctx;
  pthread_mutex_t q_mu;
  pthread_cond_t q_cv;
  /* Two rings: API requests, and stream frames. Requests go first, and
   * frames never take the last free worker (when there is more than one),
   * so that streams, however many and whatever their clients do, cannot
   * make a request wait for a worker. */
  job **queue, **ws_queue;
  int q_cap, q_head, q_len, ws_head, ws_len, ws_running, ws_workers, stopping;
  job *jobs, *free_jobs;
  int n_jobs, jobs_free;
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
  /* access log rate limit (loop thread) */
  double log_tokens, log_at;
  long long log_suppressed;
};

static int tolower_ascii(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* A job from the pool, or NULL when every job is queued or running: the
 * server is then full and the request gets 503. Loop thread. */
static job *job_take(fr__srv *s) {
  job *j = s->free_jobs;
  if (!j) return NULL;
  s->free_jobs = j->next_free;
  j->next_free = NULL;
  j->stream = NULL;
  j->conn = NULL;
  j->head = NULL;
  j->body = NULL, j->body_size = 0;
  j->n_in = 0;
  j->status = 0;
  atomic_store(&j->cancelled, 0);
  memset(&j->route, 0, sizeof j->route);
  return j;
}

static void job_give(fr__srv *s, job *j) {
  /* A large answer's buffer is not kept by an idle job. */
  if (j->out.cap > (1u << 20)) {
    free(j->out.p);
    memset(&j->out, 0, sizeof j->out);
  }
  j->next_free = s->free_jobs;
  s->free_jobs = j;
}

static void submit(fr__srv *s, job *j) {
  pthread_mutex_lock(&s->q_mu);
  j->queued_at = now_s();
  /* Each ring holds every job of the pool, so neither can be full. */
  if (j->kind == JOB_WS) s->ws_queue[(s->ws_head + s->ws_len++) % s->q_cap] = j;
  else s->queue[(s->q_head + s->q_len++) % s->q_cap] = j;
  pthread_cond_broadcast(&s->q_cv);
  pthread_mutex_unlock(&s->q_mu);
}

/* The next job a worker may run, or NULL; called with q_mu held. */
static job *next_job(fr__srv *s) {
  if (s->q_len) {
    job *j = s->queue[s->q_head];
    s->q_head = (s->q_head + 1) % s->q_cap;
    s->q_len--;
    return j;
  }
  if (s->ws_len && s->ws_running < s->ws_workers) {
    job *j = s->ws_queue[s->ws_head];
    s->ws_head = (s->ws_head + 1) % s->q_cap;
    s->ws_len--;
    s->ws_running++;
    return j;
  }
  return NULL;
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

static void enroll(fr__srv *s, fr_context *ctx, job *j, const fr_image *img, int face_index) {
  fr_face_source src = 0;
  j->st = fr_describe_photo(ctx, s->pipe, img, 0, j->faces[0], j->desc[0], MAX_FACES, &j->n_faces[0],
                            &src, &j->err);
  if (j->st != FR_OK) return;
  int k = face_index < 0 ? 0 : face_index;
  if (j->n_faces[0] == 0) {
    j->st = fr__fail(&j->err, FR_E_NOTFOUND, "no face found in the image");
    return;
  }
  if (face_index < 0 && j->n_faces[0] > 1) {
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
  j->st = fr_gallery_enroll(s->gallery, j->route.name, NULL, &gf, 1, &j->added, &j->err);
  j->face_id = j->st == FR_OK ? fr_gallery_face_id(s->gallery, j->hash, 0) : -1;
  pthread_mutex_unlock(&s->gallery_mu);
  j->faces[0][0] = j->faces[0][k];
  j->n_faces[0] = 1;
  if (j->st == FR_OK) refresh_counts(s);
}

/* Decodes the job's images and runs the pipeline on them. */
static void run_pipeline(fr__srv *s, fr_context *ctx, job *j, int face_index) {
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
    case JOB_ENROLL: enroll(s, ctx, j, &img[0], face_index); break;
    default:
      for (int k = 0; k < j->n_in && j->st == FR_OK; k++)
        j->st = fr_describe_photo(ctx, s->pipe, &img[k], 0, j->faces[k], j->desc[k], MAX_FACES,
                                  &j->n_faces[k], NULL, &j->err);
      if (j->st == FR_OK && j->kind == JOB_RECOGNIZE) identify_faces(s, j);
      break;
    }
  }
  j->pipeline_ms = (now_s() - t0) * 1e3;
  for (int k = 0; k < 2; k++) fr_image_free(&owned[k]);
  pthread_mutex_lock(&s->metrics_mu);
  hist_add(&s->pipeline_time, j->pipeline_ms * 1e-3);
  pthread_mutex_unlock(&s->metrics_mu);
}

/* ---- answers -------------------------------------------------------------------------------- */

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

static void set_error(sbuf *b, int *status, int code, const char *ecode, const char *msg) {
  b->len = 0, b->oom = 0;
  sb_printf(b, "{\"error\":{\"code\":");
  sb_cstr(b, ecode);
  sb_printf(b, ",\"message\":");
  sb_cstr(b, msg);
  sb_printf(b, "}}");
  *status = code;
}

static void job_error(job *j, int code, const char *ecode, const char *msg) { set_error(&j->out, &j->status, code, ecode, msg); }

static void job_status_error(job *j, fr_status st, const fr_error *err) {
  const char *code;
  int http = http_of(st, &code);
  job_error(j, http, code, err->message[0] ? err->message : fr_strerror(st));
}

/* The media type of a Content-Type value without parameters, in buf. */
static const char *media_type(const char *ct, char *buf, size_t size) {
  if (!ct) ct = "";
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
      /* JSON has no infinity: a distance that is not a number is left out. */
      if (m->distance >= 0 && isfinite(m->distance)) {
        sb_printf(b, ",\"nearest\":");
        sb_cstr(b, m->name);
        sb_printf(b, ",\"distance\":%.4f", m->distance);
      }
    }
    if (with_desc) {
      sb_printf(b, ",\"descriptor\":[");
      for (int d = 0; d < s->dim; d++) sb_printf(b, "%s%.9g", d ? "," : "", j->desc[k][(size_t)i * s->dim + d]);
      sb_printf(b, "]");
    }
    sb_printf(b, "}");
  }
  sb_printf(b, "]");
}

static void json_timing(sbuf *b, const job *j) {
  sb_printf(b, "\"timing\":{\"queue_ms\":%.3f,\"pipeline_ms\":%.3f}", j->queue_ms, j->pipeline_ms);
}

/* ---- the work of each route, on a worker ----------------------------------------------------- */

/* detect, embed, recognize: one image in, its faces out. */
static void do_image(fr__srv *s, fr_context *ctx, job *j) {
  fr_error err = {0};
  fr_status st = image_of_body(j->head->content_type, j->head->query, j->body, j->body_size, &j->in[0], &err);
  if (st != FR_OK) return job_status_error(j, st, &err);
  j->n_in = 1;
  run_pipeline(s, ctx, j, -1);
  if (j->st != FR_OK) return job_status_error(j, j->st, &j->err);
  sbuf *b = &j->out;
  b->len = 0, b->oom = 0;
  sb_printf(b, "{\"width\":%d,\"height\":%d,\"faces\":", j->width[0], j->height[0]);
  json_faces(s, b, j, 0, j->kind == JOB_RECOGNIZE, j->kind == JOB_EMBED);
  sb_printf(b, ",");
  json_timing(b, j);
  sb_printf(b, "}");
  j->status = 200;
}

static int part_is(const fr__srv_part *p, const char *name) {
  return p->name_len == strlen(name) && memcmp(p->name, name, p->name_len) == 0;
}

static void do_verify(fr__srv *s, fr_context *ctx, job *j) {
  fr_error err = {0};
  fr__srv_part parts[FR_SRV_MAX_PARTS];
  int n = 0;
  fr_status st = fr__srv_multipart(j->head->content_type, j->body, j->body_size, parts, FR_SRV_MAX_PARTS, &n, &err);
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
  if (st != FR_OK) return job_status_error(j, st, &err);
  j->n_in = 2;
  run_pipeline(s, ctx, j, -1);
  if (j->st != FR_OK) return job_status_error(j, j->st, &j->err);
  if (j->n_faces[0] == 0 || j->n_faces[1] == 0)
    return job_error(j, 422, "no_face", j->n_faces[0] ? "no face found in image b" : "no face found in image a");
  /* The most confident face of each (describe_photo returns them by score). */
  float d = fr_distance(j->desc[0], j->desc[1], s->dim);
  sbuf *b = &j->out;
  b->len = 0, b->oom = 0;
  sb_printf(b, "{\"distance\":%.4f,\"same\":%s,\"threshold\":%.4f,", d, d <= s->threshold ? "true" : "false",
            s->threshold);
  json_timing(b, j);
  sb_printf(b, "}");
  j->status = 200;
}

static void do_subject_create(fr__srv *s, job *j) {
  fr_error err = {0};
  char name[FR_NAME_MAX], meta[FR_SRV_MAX_META + 1], mt[64];
  int has_meta = 0;
  /* A JSON route takes JSON only: text/plain is what a foreign page can send
   * without asking first, so it is refused here, not guessed at. */
  if (strcmp(media_type(j->head->content_type, mt, sizeof mt), "application/json") != 0)
    return job_error(j, 415, "unsupported", "the body must be application/json");
  if (j->body_size > FR_SRV_MAX_JSON) return job_error(j, 413, "too_large", "the JSON body is too large");
  fr_status st = fr__srv_subject_json((const char *)j->body, j->body_size, name, meta, sizeof meta, &has_meta, &err);
  int64_t id = 0;
  if (st == FR_OK) {
    pthread_mutex_lock(&s->gallery_mu);
    st = fr_gallery_add_person(s->gallery, name, has_meta ? meta : NULL, &id, &err);
    pthread_mutex_unlock(&s->gallery_mu);
    if (st == FR_E_INVALID) return job_error(j, 409, "exists", err.message);
  }
  if (st != FR_OK) return job_status_error(j, st, &err);
  refresh_counts(s);
  sbuf *b = &j->out;
  b->len = 0, b->oom = 0;
  sb_printf(b, "{\"id\":%lld,\"name\":", (long long)id);
  sb_cstr(b, name);
  sb_printf(b, ",\"faces\":0}");
  j->status = 201;
}

static void do_subjects_list(fr__srv *s, job *j) {
  fr_error err = {0};
  int n = 0;
  pthread_mutex_lock(&s->gallery_mu);
  fr_status st = fr_gallery_people(s->gallery, NULL, 0, &n, &err);
  if (st == FR_OK && n > j->people_cap) {
    fr_person *p = realloc(j->people, (size_t)n * sizeof *p);
    if (p) j->people = p, j->people_cap = n;
    else st = fr__fail(&err, FR_E_NOMEM, "out of memory");
  }
  int total = 0;
  if (st == FR_OK) st = fr_gallery_people(s->gallery, j->people, n, &total, &err);
  pthread_mutex_unlock(&s->gallery_mu);
  if (st != FR_OK) return job_status_error(j, st, &err);
  if (total < n) n = total;
  sbuf *b = &j->out;
  b->len = 0, b->oom = 0;
  sb_printf(b, "{\"subjects\":[");
  for (int i = 0; i < n; i++) {
    sb_printf(b, "%s{\"id\":%lld,\"name\":", i ? "," : "", (long long)j->people[i].id);
    sb_cstr(b, j->people[i].name);
    sb_printf(b, ",\"faces\":%d}", j->people[i].n_faces);
  }
  sb_printf(b, "]}");
  j->status = 200;
}

static void do_enroll(fr__srv *s, fr_context *ctx, job *j) {
  fr_error err = {0};
  sbuf *b = &j->out;
  fr_status st = image_of_body(j->head->content_type, j->head->query, j->body, j->body_size, &j->in[0], &err);
  char v[FR_SRV_MAX_PARAM];
  int found = 0;
  long face = -1;
  if (st == FR_OK) st = fr__srv_query_get(j->head->query, "face", v, sizeof v, &found, &err);
  if (st == FR_OK && found && !fr__srv_parse_int(v, 0, MAX_FACES - 1, &face))
    st = fr__fail(&err, FR_E_INVALID, "face must be 0 to %d", MAX_FACES - 1);
  if (st != FR_OK) return job_status_error(j, st, &err);
  j->n_in = 1;
  run_pipeline(s, ctx, j, (int)face);
  if (j->st == FR_E_NOTFOUND) return job_error(j, 422, "no_face", j->err.message);
  if (j->st == FR_E_INVALID && strstr(j->err.message, "already enrolled"))
    return job_error(j, 409, "conflict", j->err.message);
  if (j->st == FR_E_INVALID && strstr(j->err.message, "faces found"))
    return job_error(j, 422, "several_faces", j->err.message);
  if (j->st != FR_OK) return job_status_error(j, j->st, &j->err);
  b->len = 0, b->oom = 0;
  sb_printf(b, "{\"name\":");
  sb_cstr(b, j->route.name);
  sb_printf(b, ",\"face_id\":%lld,\"added\":%d,\"duplicate\":%s,", (long long)j->face_id, j->added,
            j->added ? "false" : "true");
  json_box(b, &j->faces[0][0].box);
  sb_printf(b, ",\"image_hash\":\"%s\",", j->hash);
  json_timing(b, j);
  sb_printf(b, "}");
  j->status = 200;
}

static void do_faces_list(fr__srv *s, job *j) {
  fr_error err = {0};
  sbuf *b = &j->out;
  if (!j->rows && !(j->rows = malloc(1024 * sizeof *j->rows)))
    return job_error(j, 503, "overloaded", "out of memory");
  int n = 0;
  pthread_mutex_lock(&s->gallery_mu);
  fr_status st = fr_gallery_faces(s->gallery, j->route.name, j->rows, 1024, &n, &err);
  pthread_mutex_unlock(&s->gallery_mu);
  if (st != FR_OK) return job_status_error(j, st, &err);
  b->len = 0, b->oom = 0;
  sb_printf(b, "{\"name\":");
  sb_cstr(b, j->route.name);
  sb_printf(b, ",\"faces\":[");
  for (int i = 0; i < n; i++) {
    const fr_gallery_face_info *f = &j->rows[i];
    sb_printf(b, "%s{\"id\":%lld,\"image_hash\":\"%s\",\"variant\":%d,\"created\":%lld,", i ? "," : "",
              (long long)f->id, f->image_hash, f->variant, (long long)f->created);
    json_box(b, &f->box);
    sb_printf(b, "}");
  }
  sb_printf(b, "]}");
  j->status = 200;
}

static void do_delete(fr__srv *s, job *j) {
  fr_error err = {0};
  sbuf *b = &j->out;
  int removed = 0;
  pthread_mutex_lock(&s->gallery_mu);
  fr_status st = j->route.id == FR_ROUTE_SUBJECT ? fr_gallery_forget(s->gallery, j->route.name, &removed, &err)
                                                 : fr_gallery_remove_face(s->gallery, j->route.face_id, &err);
  pthread_mutex_unlock(&s->gallery_mu);
  if (st != FR_OK) return job_status_error(j, st, &err);
  refresh_counts(s);
  b->len = 0, b->oom = 0;
  if (j->route.id == FR_ROUTE_SUBJECT) {
    sb_printf(b, "{\"name\":");
    sb_cstr(b, j->route.name);
    sb_printf(b, ",\"removed_faces\":%d}", removed);
  } else {
    sb_printf(b, "{\"face_id\":%lld,\"removed\":true}", (long long)j->route.face_id);
  }
  j->status = 200;
}

/* A stream frame: the latest frame's faces and names, or an error. */
static void do_stream(fr__srv *s, fr_context *ctx, job *j) {
  run_pipeline(s, ctx, j, -1);
  sbuf *b = &j->out;
  b->len = 0, b->oom = 0;
  stream *w = j->stream;
  if (j->st == FR_OK) {
    sb_printf(b, "{\"seq\":%u,\"width\":%d,\"height\":%d,\"faces\":", w->work_seq, j->width[0], j->height[0]);
    json_faces(s, b, j, 0, 1, 0);
    sb_printf(b, ",");
    json_timing(b, j);
    sb_printf(b, "}");
    j->status = 200;
  } else {
    const char *code;
    j->status = http_of(j->st, &code);
    sb_printf(b, "{\"seq\":%u,\"error\":{\"code\":", w->work_seq);
    sb_cstr(b, code);
    sb_printf(b, ",\"message\":");
    sb_cstr(b, j->err.message);
    sb_printf(b, "}}");
  }
}

static void run_job(fr__srv *s, fr_context *ctx, job *j) {
  switch (j->kind) {
  case JOB_DETECT:
  case JOB_EMBED:
  case JOB_RECOGNIZE: do_image(s, ctx, j); break;
  case JOB_VERIFY: do_verify(s, ctx, j); break;
  case JOB_ENROLL: do_enroll(s, ctx, j); break;
  case JOB_WS: do_stream(s, ctx, j); break;
  case JOB_SUBJECTS_LIST: do_subjects_list(s, j); break;
  case JOB_SUBJECT_CREATE: do_subject_create(s, j); break;
  case JOB_FACES_LIST: do_faces_list(s, j); break;
  case JOB_DELETE: do_delete(s, j); break;
  }
  if (j->out.oom) job_error(j, 503, "overloaded", "out of memory");
}

static void *worker_main(void *arg) {
  void **a = arg;
  fr__srv *s = a[0];
  fr_context *ctx = a[1];
  free(a);
  for (;;) {
    pthread_mutex_lock(&s->q_mu);
    job *j;
    while (!(j = next_job(s)) && !s->stopping) pthread_cond_wait(&s->q_cv, &s->q_mu);
    if (!j && s->stopping) {
      /* Frames left queued are dropped at a stop; an ordinary stop has
       * none (the loop ended first). */
      pthread_mutex_unlock(&s->q_mu);
      break;
    }
    pthread_mutex_unlock(&s->q_mu);
    j->queue_ms = (now_s() - j->queued_at) * 1e3;
    /* Work for a client that has gone is not done: an abandoned stream or
     * request would otherwise hold a worker for nothing. */
    if (!atomic_load(&j->cancelled)) run_job(s, ctx, j);
    if (j->kind == JOB_WS) {
      pthread_mutex_lock(&s->q_mu);
      s->ws_running--;
      /* A frame may be waiting for the worker slot this one held. */
      if (s->ws_len) pthread_cond_signal(&s->q_cv);
      pthread_mutex_unlock(&s->q_mu);
    }
    /* The answer goes back to the loop, which alone writes to sockets. */
    fr__net_post(s->net, j->conn, j);
  }
  return NULL;
}

/* ---- access log ---------------------------------------------------------------------------- */

/* Error lines are rate limited (a token bucket: 20 a second, bursts of 100),
 * so that a flood of bad requests cannot fill the disk; how many were left
 * out is logged with the next line that is written. Loop thread. */
static int log_allowed(fr__srv *s, int status) {
  double t = now_s();
  s->log_tokens += (t - s->log_at) * 20.0;
  if (s->log_tokens > 100) s->log_tokens = 100;
  s->log_at = t;
  if (status < 400) return 1;
  if (s->log_tokens < 1) {
    s->log_suppressed++;
    return 0;
  }
  s->log_tokens -= 1;
  return 1;
}

static void log_line(fr__srv *s, const sbuf *b) {
  FILE *f = s->cfg.access_log;
  if (s->log_suppressed) {
    fprintf(f, "{\"suppressed\":%lld,\"reason\":\"error lines over the rate limit\"}\n", s->log_suppressed);
    s->log_suppressed = 0;
  }
  fwrite(b->p, 1, b->len, f);
  fflush(f);
}

static void access_log(fr__srv *s, const char *remote, const reqlog *lg) {
  if (!s->cfg.access_log || !log_allowed(s, lg->status)) return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char when[40];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  sbuf b = {0};
  sb_printf(&b, "{\"time\":\"%s.%03ldZ\",\"remote\":\"%s\",\"method\":", when, ts.tv_nsec / 1000000L, remote);
  sb_cstr(&b, lg->method);
  sb_printf(&b, ",\"path\":");
  sb_str(&b, lg->path, strnlen(lg->path, sizeof lg->path));
  sb_printf(&b, ",\"route\":\"%s\",\"status\":%d,\"bytes_in\":%lld,\"bytes_out\":%lld,\"ms\":%.3f}\n",
            lg->route == FR_ROUTE_NONE ? "static" : fr__srv_route_name(lg->route), lg->status, lg->bytes_in,
            lg->bytes_out, (now_s() - lg->start) * 1e3);
  if (!b.oom) log_line(s, &b);
  free(b.p);
}

static void on_refused(void *app, const char *remote, int status, const char *why) {
  fr__srv *s = app;
  if (!s->cfg.access_log || !log_allowed(s, status)) return;
  sbuf b = {0};
  sb_printf(&b, "{\"remote\":\"%s\",\"status\":%d,\"refused\":", remote, status);
  sb_cstr(&b, why);
  sb_printf(&b, "}\n");
  if (!b.oom) log_line(s, &b);
  free(b.p);
}

static void count_request(fr__srv *s, const reqlog *lg) {
  int k = 0;
  while (k < N_CODES && status_codes[k] != lg->status) k++;
  pthread_mutex_lock(&s->metrics_mu);
  s->requests[lg->route][k]++;
  hist_add(&s->latency[lg->route], now_s() - lg->start);
  pthread_mutex_unlock(&s->metrics_mu);
}

/* Answers a request from the loop thread: counted, logged, written. */
static void reply(fr__srv *s, fr__net_conn *c, reqlog *lg, int status, const char *ctype, const char *csp,
                  const char *extra, const void *body, size_t n) {
  lg->status = status;
  lg->bytes_out = (long long)n;
  if (lg->route != FR_ROUTE_NONE) count_request(s, lg);
  access_log(s, fr__net_remote(c), lg);
  fr__net_respond(c, status, ctype, csp, extra, body, n, status == 413);
}

static void reply_error(fr__srv *s, fr__net_conn *c, reqlog *lg, int status, const char *code, const char *msg) {
  sbuf b = {0};
  int st;
  set_error(&b, &st, status, code, msg);
  reply(s, c, lg, status, "application/json", NULL,
        status == 405 ? "Allow: GET, HEAD, POST, DELETE\r\n" : status == 401 ? "WWW-Authenticate: X-API-Key\r\n" : NULL,
        b.oom ? "" : b.p, b.oom ? 0 : b.len);
  free(b.p);
}

/* ---- health and metrics (answered on the loop: cheap, and must answer under load) ------ */

static void handle_health(fr__srv *s, fr__net_conn *c, reqlog *lg) {
  pthread_mutex_lock(&s->q_mu);
  int depth = s->q_len + s->ws_len;
  pthread_mutex_unlock(&s->q_mu);
  pthread_mutex_lock(&s->metrics_mu);
  int faces = s->faces_count, people = s->people_count;
  pthread_mutex_unlock(&s->metrics_mu);
  sbuf b = {0};
  sb_printf(&b, "{\"status\":\"%s\",\"version\":\"%s\",\"model\":", fr__net_draining(c) ? "stopping" : "ok",
            fr_version());
  sb_cstr(&b, s->model);
  sb_printf(&b, ",\"dim\":%d,\"threshold\":%.4f,\"workers\":%d,\"queue_depth\":%d,\"queue_capacity\":%d,"
                "\"people\":%d,\"faces\":%d,\"auth\":%s}",
            s->dim, s->threshold, s->n_workers, depth, s->q_cap - s->n_workers, people, faces,
            s->auth ? "true" : "false");
  reply(s, c, lg, 200, "application/json", NULL, "Cache-Control: no-store\r\n", b.oom ? "" : b.p, b.oom ? 0 : b.len);
  free(b.p);
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

static void handle_metrics(fr__srv *s, fr__net_conn *c, reqlog *lg) {
  sbuf bb = {0}, *b = &bb;
  pthread_mutex_lock(&s->q_mu);
  int depth = s->q_len + s->ws_len;
  pthread_mutex_unlock(&s->q_mu);
  int in_progress = s->n_jobs - s->jobs_free;
  sb_printf(b, "# HELP facerec_http_requests_in_progress API requests and stream frames being served.\n"
               "# TYPE facerec_http_requests_in_progress gauge\nfacerec_http_requests_in_progress %d\n",
            in_progress + 1);
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
            depth, s->q_cap - s->n_workers, s->n_workers, s->faces_count, s->people_count, s->ws_open,
            s->ws_frames[0], s->ws_frames[1], s->ws_frames[2]);
  pthread_mutex_unlock(&s->metrics_mu);
  reply(s, c, lg, 200, "text/plain; version=0.0.4", NULL, "Cache-Control: no-store\r\n", b->oom ? "" : b->p,
        b->oom ? 0 : b->len);
  free(b->p);
}

/* ---- the WebSocket stream ---------------------------------------------------------------------- */

static void ws_count(fr__srv *s, int what) {
  pthread_mutex_lock(&s->metrics_mu);
  s->ws_frames[what]++;
  pthread_mutex_unlock(&s->metrics_mu);
}

static void ws_text(fr__srv *s, fr__net_conn *c, const char *text, size_t n, int what) {
  /* A client that does not read loses its own answers, nothing else. */
  if (fr__net_ws_send(c, FR_WS_TEXT, text, n) != 0) what = 1;
  ws_count(s, what);
}

static void ws_error(fr__srv *s, fr__net_conn *c, uint32_t seq, const char *code, const char *msg, int what) {
  sbuf b = {0};
  sb_printf(&b, "{\"seq\":%u,\"error\":{\"code\":", seq);
  sb_cstr(&b, code);
  sb_printf(&b, ",\"message\":");
  sb_cstr(&b, msg);
  sb_printf(&b, "}}");
  if (!b.oom) ws_text(s, c, b.p, b.len, what);
  free(b.p);
}

/* Starts the stream's pending frame on a worker; answers it as refused when
 * every job is taken. */
static void ws_start(fr__srv *s, fr__net_conn *c, stream *w) {
  w->has_pending = 0;
  job *j = job_take(s);
  if (!j) {
    ws_error(s, c, w->pending_seq, "overloaded", "the server is busy: frame not processed", 1);
    return;
  }
  s->jobs_free--;
  uint8_t *t = w->work;
  size_t tc = w->work_cap;
  w->work = w->pending, w->work_cap = w->pending_cap, w->work_size = w->pending_size;
  w->work_seq = w->pending_seq;
  w->pending = t, w->pending_cap = tc, w->pending_size = 0;
  /* Parsed again on the bytes that stay put while the worker runs (the
   * message handler checked them already). */
  fr__srv_frame f;
  fr__srv_ws_frame(w->work, w->work_size, &f, NULL);
  image_in *in = &j->in[0];
  memset(in, 0, sizeof *in);
  in->data = f.data, in->size = f.size, in->raw = f.raw, in->geometry = f.geometry;
  j->kind = JOB_WS, j->n_in = 1, j->stream = w, j->conn = c;
  w->busy = j;
  fr__net_hold(c);
  submit(s, j);
}

static void on_ws_message(void *app, fr__net_conn *c, int opcode, uint8_t *data, size_t len) {
  fr__srv *s = app;
  stream *w = fr__net_user(c);
  if (!w) return;
  uint32_t seq = w->next_seq++;
  if (opcode != FR_WS_BINARY) {
    ws_error(s, c, seq, "invalid_request", "send each frame as one binary message", 2);
    return;
  }
  fr__srv_frame f;
  fr_error err = {0};
  fr_status st = fr__srv_ws_frame(data, len, &f, &err);
  if (f.has_seq) seq = f.seq;
  if (st != FR_OK) {
    const char *code;
    http_of(st, &code);
    ws_error(s, c, seq, code, err.message, 2);
    return;
  }
  /* A client that does not read its answers gets no more work done for it:
   * its frames are dropped unseen until it catches up. */
  if (fr__net_unsent(c) >= 32 * 1024) {
    ws_count(s, 1);
    return;
  }
  if (w->has_pending) {
    char msg[64];
    int n = snprintf(msg, sizeof msg, "{\"seq\":%u,\"dropped\":true}", w->pending_seq);
    ws_text(s, c, msg, (size_t)n, 1);
    ws_count(s, 1);
  }
  if (w->pending_cap < len) {
    uint8_t *p = realloc(w->pending, len);
    if (!p) {
      w->has_pending = 0;
      ws_error(s, c, seq, "overloaded", "out of memory", 1);
      return;
    }
    w->pending = p, w->pending_cap = len;
  }
  memcpy(w->pending, data, len);
  w->pending_size = len, w->pending_seq = seq, w->has_pending = 1;
  if (!w->busy) ws_start(s, c, w);
}

static void stream_free(stream *w) {
  if (!w) return;
  free(w->pending);
  free(w->work);
  free(w);
}

static void stream_done(fr__srv *s, fr__net_conn *c, job *j) {
  stream *w = j->stream;
  w->busy = NULL;
  if (fr__net_is_open(c) && !atomic_load(&j->cancelled) && !j->out.oom) ws_text(s, c, j->out.p, j->out.len, j->status == 200 ? 0 : 2);
  if (fr__net_is_open(c) && w->has_pending) ws_start(s, c, w);
}

/* The handshake: same-origin, a key, and room under the stream caps. */
static void open_stream(fr__srv *s, fr__net_conn *c, const fr__http_head *h, reqlog *lg) {
  fr_error err = {0};
  int bad = fr__net_ws_check(h, &err);
  if (bad) return reply_error(s, c, lg, bad, "invalid_request", err.message);
  int total, same;
  fr__net_stream_counts(c, &total, &same);
  if (total >= s->cfg.max_streams) return reply_error(s, c, lg, 503, "overloaded", "too many open streams");
  if (same >= s->cfg.max_streams_per_address)
    return reply_error(s, c, lg, 503, "overloaded", "too many open streams from this address");
  stream *w = calloc(1, sizeof *w);
  if (!w) return reply_error(s, c, lg, 503, "overloaded", "out of memory");
  w->is_stream = 1;
  fr__net_set_user(c, w);
  lg->status = 101;
  access_log(s, fr__net_remote(c), lg);
  fr__net_ws_upgrade(c);
  pthread_mutex_lock(&s->metrics_mu);
  s->ws_open++;
  pthread_mutex_unlock(&s->metrics_mu);
}

/* ---- static files of the web page ---------------------------------------------------------- */

static const char *mime_of(const char *path) {
  const char *dot = strrchr(path, '.');
  if (!dot) return "application/octet-stream";
  if (!strcmp(dot, ".html")) return "text/html; charset=utf-8";
  if (!strcmp(dot, ".js")) return "text/javascript; charset=utf-8";
  if (!strcmp(dot, ".css")) return "text/css; charset=utf-8";
  if (!strcmp(dot, ".png")) return "image/png";
  if (!strcmp(dot, ".svg")) return "image/svg+xml";
  if (!strcmp(dot, ".ico")) return "image/x-icon";
  if (!strcmp(dot, ".json")) return "application/json";
  return "application/octet-stream";
}

/* Serves one file of --web: no dot segments or hidden files, no symlinks
 * out, regular files only. The page's policy lets it load its own files,
 * use the camera and reach this server's stream, and nothing else. */
static void serve_static(fr__srv *s, fr__net_conn *c, const fr__http_head *h, const char *path, reqlog *lg) {
  if (strcmp(h->method, "GET") != 0 && strcmp(h->method, "HEAD") != 0)
    return reply_error(s, c, lg, 405, "method_not_allowed", "the page's files are read with GET");
  if (!s->cfg.web_root) return reply_error(s, c, lg, 404, "not_found", "no such route");
  const char *rel = strcmp(path, "/") == 0 ? "/index.html" : path;
  if (strstr(rel, "/.") || strstr(rel, "//") || strlen(rel) > 200)
    return reply_error(s, c, lg, 404, "not_found", "no such file");
  char full[4096];
  snprintf(full, sizeof full, "%s%s", s->cfg.web_root, rel);
  int fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_STATIC) {
    if (fd >= 0) close(fd);
    return reply_error(s, c, lg, 404, "not_found", "no such file");
  }
  size_t n = (size_t)st.st_size, got = 0;
  char *buf = malloc(n ? n : 1);
  while (buf && got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fd);
  if (!buf || got != n) {
    free(buf);
    return reply_error(s, c, lg, 500, "internal", "cannot read the file");
  }
  char csp[512];
  snprintf(csp, sizeof csp,
           "default-src 'self'; connect-src 'self' ws://%s; img-src 'self' data: blob:; "
           "media-src 'self' blob: mediastream:; object-src 'none'; frame-ancestors 'none'; "
           "base-uri 'none'; form-action 'self'",
           h->host);
  reply(s, c, lg, 200, mime_of(rel), csp, "Cache-Control: no-cache\r\n", buf, n);
  free(buf);
}

/* ---- requests --------------------------------------------------------------------------------- */

static int method_known(const char *m) {
  return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "POST") || !strcmp(m, "DELETE") ||
         !strcmp(m, "OPTIONS");
}

/* The key a client presents: the X-API-Key header, or for the WebSocket
 * (browsers cannot set headers on it) the `key` query parameter. */
static int key_level(fr__srv *s, const fr__http_head *h, int allow_query) {
  if (!s->auth) return 1;
  const char *k = h->has_api_key ? h->api_key : NULL;
  char q[FR_SRV_MAX_PARAM];
  int found = 0;
  if (!k && allow_query && fr__srv_query_get(h->query, "key", q, sizeof q, &found, NULL) == FR_OK && found) k = q;
  return fr__srv_key_level(s->keys, s->n_keys, k);
}

static const char *const *allowed_origins(const fr__srv *s) { return (const char *const *)s->cfg.allowed_origins; }

/* CORS is off unless the operator named origins: only those get a
 * preflight answer and the Access-Control headers. */
static void preflight(fr__srv *s, fr__net_conn *c, const fr__http_head *h, reqlog *lg) {
  int listed = 0;
  for (int i = 0; h->has_origin && i < s->cfg.n_allowed_origins; i++)
    if (fr__srv_origin_allowed(h->origin, "", allowed_origins(s) + i, 1)) listed = 1;
  if (!listed) return reply_error(s, c, lg, 403, "cross_origin", "cross-origin requests are not allowed");
  char extra[512];
  snprintf(extra, sizeof extra,
           "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\nAccess-Control-Allow-Methods: GET, POST, DELETE\r\n"
           "Access-Control-Allow-Headers: X-API-Key, Content-Type\r\nAccess-Control-Max-Age: 600\r\n",
           h->origin);
  reply(s, c, lg, 204, "text/plain", NULL, extra, "", 0);
}

static void on_request(void *app, fr__net_conn *c, const fr__http_head *h, uint8_t *body, size_t n) {
  fr__srv *s = app;
  reqlog lg;
  memset(&lg, 0, sizeof lg);
  lg.start = now_s();
  lg.bytes_in = (long long)n;
  snprintf(lg.method, sizeof lg.method, "%s", h->method);
  snprintf(lg.path, sizeof lg.path, "%.255s", h->path);
  if (!method_known(h->method))
    return reply_error(s, c, &lg, 405, "method_not_allowed", "only GET, HEAD, POST, DELETE and OPTIONS are served");
  /* A Host this server does not answer to is how DNS rebinding reaches a
   * loopback service from a web page: refused before anything else. */
  if (h->minor == 1 || h->has_host) {
    if (!fr__srv_host_allowed(h->has_host ? h->host : NULL, s->bind_text, s->bind_loopback, s->bind_any,
                              (const char *const *)s->cfg.allowed_hosts, s->cfg.n_allowed_hosts))
      return reply_error(s, c, &lg, 400, "bad_host", "the Host header does not name this server");
  }
  char path[FR_HTTP_MAX_TARGET];
  fr_error err = {0};
  if (fr__srv_path_decode(h->path, strlen(h->path), path, sizeof path, &err) != FR_OK)
    return reply_error(s, c, &lg, 400, "malformed", err.message);
  if (!strcmp(h->method, "OPTIONS")) return preflight(s, c, h, &lg);
  int writes = !strcmp(h->method, "POST") || !strcmp(h->method, "DELETE");
  const char *origin = h->has_origin ? h->origin : NULL;
  int is_stream = strcmp(path, "/api/v1/stream") == 0;
  /* Same origin only, for everything that changes state and for the stream:
   * a page elsewhere can neither write nor watch. */
  if ((writes || is_stream) &&
      !fr__srv_origin_allowed(origin, h->host, allowed_origins(s), s->cfg.n_allowed_origins))
    return reply_error(s, c, &lg, 403, "cross_origin", "cross-origin requests are not allowed");
  if (is_stream) {
    lg.route = FR_ROUTE_NONE;
    if (key_level(s, h, 1) < 0) return reply_error(s, c, &lg, 401, "unauthorized", "a valid key is required");
    return open_stream(s, c, h, &lg);
  }
  if (strncmp(path, "/api/", 5) != 0 && strcmp(path, "/api") != 0 && strcmp(path, "/metrics") != 0)
    return serve_static(s, c, h, path, &lg);
  fr__srv_route r;
  fr_status st = fr__srv_route_parse(strcmp(h->method, "HEAD") ? h->method : "GET", path, &r, &err);
  lg.route = r.id;
  if (st == FR_E_NOTFOUND) return reply_error(s, c, &lg, 404, "not_found", err.message);
  if (st == FR_E_UNSUPPORTED) return reply_error(s, c, &lg, 405, "method_not_allowed", err.message);
  if (st != FR_OK) return reply_error(s, c, &lg, 400, "invalid_request", err.message);
  if (r.id == FR_ROUTE_HEALTH) return handle_health(s, c, &lg);
  int level = key_level(s, h, 0);
  if (level < 0) return reply_error(s, c, &lg, 401, "unauthorized", "a valid X-API-Key header is required");
  if (r.admin && level < 1) return reply_error(s, c, &lg, 403, "forbidden", "this route needs an admin key");
  if (r.id == FR_ROUTE_METRICS) return handle_metrics(s, c, &lg);
  job *j = job_take(s);
  if (!j) return reply_error(s, c, &lg, 503, "overloaded", "the server is busy: the work queue is full; retry later");
  s->jobs_free--;
  int post = !strcmp(h->method, "POST");
  switch (r.id) {
  case FR_ROUTE_DETECT: j->kind = JOB_DETECT; break;
  case FR_ROUTE_EMBED: j->kind = JOB_EMBED; break;
  case FR_ROUTE_RECOGNIZE: j->kind = JOB_RECOGNIZE; break;
  case FR_ROUTE_VERIFY: j->kind = JOB_VERIFY; break;
  case FR_ROUTE_SUBJECTS: j->kind = post ? JOB_SUBJECT_CREATE : JOB_SUBJECTS_LIST; break;
  case FR_ROUTE_SUBJECT_FACES: j->kind = post ? JOB_ENROLL : JOB_FACES_LIST; break;
  default: j->kind = JOB_DELETE; break;
  }
  j->conn = c, j->head = h, j->body = body, j->body_size = n, j->route = r, j->lg = lg;
  fr__net_set_user(c, j);
  fr__net_hold(c);
  submit(s, j);
}

/* A finished job, back on the loop thread. */
static void on_completed(void *app, fr__net_conn *c, void *item) {
  fr__srv *s = app;
  job *j = item;
  if (j->kind == JOB_WS) stream_done(s, c, j);
  else fr__net_set_user(c, NULL);
  if (j->kind != JOB_WS && fr__net_is_open(c))
    reply(s, c, &j->lg, j->status, "application/json", NULL, "Cache-Control: no-store\r\n", j->out.oom ? "" : j->out.p,
          j->out.oom ? 0 : j->out.len);
  fr__net_release(c);
  s->jobs_free++;
  job_give(s, j);
}

/* The client went away: its queued work is dropped (a running job finishes). */
static void on_closing(void *app, fr__net_conn *c) {
  (void)app;
  void *u = fr__net_user(c);
  if (!u) return;
  if (*(int *)u) {
    stream *w = u;
    w->has_pending = 0;
    if (w->busy) atomic_store(&w->busy->cancelled, 1);
  } else {
    atomic_store(&((job *)u)->cancelled, 1);
  }
}

static void on_closed(void *app, fr__net_conn *c) {
  fr__srv *s = app;
  stream *w = fr__net_user(c);
  if (!w || !w->is_stream) return;
  fr__net_set_user(c, NULL);
  stream_free(w);
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

void fr__srv_stop(fr__srv *s) {
  if (!s) return;
  /* First the network: it stops accepting, lets the requests in progress
   * finish and be answered (bounded, so that a stuck client cannot hold the
   * process), and ends. Only then do the workers stop. */
  if (s->net) fr__net_stop(s->net, 60000);
  if (s->threads) {
    pthread_mutex_lock(&s->q_mu);
    s->stopping = 1;
    pthread_cond_broadcast(&s->q_cv);
    pthread_mutex_unlock(&s->q_mu);
    for (int i = 0; i < s->n_workers; i++)
      if (s->threads[i]) pthread_join(s->threads[i], NULL);
  }
  fr__net_free(s->net);
  if (s->ctx)
    for (int i = 0; i < s->n_workers; i++) fr_context_destroy(s->ctx[i]);
  for (int i = 0; s->jobs && i < s->n_jobs; i++) {
    free(s->jobs[i].desc[0]);
    free(s->jobs[i].desc[1]);
    free(s->jobs[i].out.p);
    free(s->jobs[i].rows);
    free(s->jobs[i].people);
  }
  free(s->jobs);
  free(s->ctx);
  free(s->threads);
  free(s->queue);
  free(s->ws_queue);
  fr_gallery_close(s->gallery);
  fr_pipeline_destroy(s->pipe);
  pthread_mutex_destroy(&s->gallery_mu);
  pthread_mutex_destroy(&s->q_mu);
  pthread_cond_destroy(&s->q_cv);
  pthread_mutex_destroy(&s->metrics_mu);
  free(s);
}

static fr_status load_keys(fr__srv *s, const fr__srv_config *cfg, fr_error *err) {
  if (cfg->no_auth) {
    if (cfg->api_key_file || cfg->admin_key)
      return fr__fail(err, FR_E_INVALID, "--no-auth cannot be given with keys");
    if (!s->bind_loopback)
      return fr__fail(err, FR_E_INVALID, "--no-auth serves loopback only: bind to 127.0.0.1 or ::1, or use keys");
    s->auth = 0;
    return FR_OK;
  }
  s->auth = 1;
  if (cfg->admin_key) {
    if (strlen(cfg->admin_key) < 16) return fr__fail(err, FR_E_INVALID, "the admin key is too short");
    fr_sha256_hex(cfg->admin_key, strlen(cfg->admin_key), s->keys[0].hash);
    s->keys[0].admin = 1;
    s->n_keys = 1;
    return FR_OK;
  }
  if (!cfg->api_key_file) return fr__fail(err, FR_E_INVALID, "no keys: give a key file, an admin key or --no-auth");
  fr_status st = fr__srv_key_file_check(cfg->api_key_file, err);
  if (st != FR_OK) return st;
  uint8_t *text = NULL;
  size_t size = 0;
  st = fr__read_file(cfg->api_key_file, 1 << 20, &text, &size, err);
  if (st != FR_OK) return st;
  st = fr__srv_keys_parse((const char *)text, size, s->keys, FR_SRV_MAX_KEYS, &s->n_keys, err);
  free(text);
  if (st == FR_OK && s->n_keys == 0) st = fr__fail(err, FR_E_INVALID, "%s holds no keys", cfg->api_key_file);
  return st;
}

static void apply_defaults(fr__srv_config *c) {
  if (c->max_body <= 0) c->max_body = 16LL << 20;
  if (c->max_frame <= 0) c->max_frame = 8LL << 20;
  if (c->timeout_ms <= 0) c->timeout_ms = 10000;
  if (c->header_timeout_ms <= 0) c->header_timeout_ms = 10000;
  if (c->idle_timeout_ms <= 0) c->idle_timeout_ms = 60000;
  if (c->ws_ping_ms <= 0) c->ws_ping_ms = 30000;
  if (c->max_connections <= 0) c->max_connections = 1024;
  if (c->max_per_address <= 0) c->max_per_address = 128;
  if (c->max_streams <= 0) c->max_streams = 64;
  if (c->max_streams_per_address <= 0) c->max_streams_per_address = 16;
  if (!c->bind) c->bind = "127.0.0.1";
}

fr_status fr__srv_start(const fr__srv_config *cfg, fr__srv **out, fr_error *err) {
  *out = NULL;
  fr__srv *s = calloc(1, sizeof *s);
  if (!s) return fr__fail(err, FR_E_NOMEM, "out of memory");
  s->cfg = *cfg;
  apply_defaults(&s->cfg);
  pthread_mutex_init(&s->gallery_mu, NULL);
  pthread_mutex_init(&s->q_mu, NULL);
  pthread_cond_init(&s->q_cv, NULL);
  pthread_mutex_init(&s->metrics_mu, NULL);
  s->log_tokens = 100, s->log_at = now_s();
  fr__net_config nc;
  memset(&nc, 0, sizeof nc);
  fr_status st = fr__srv_parse_bind(s->cfg.bind, &nc.addr, &nc.addr_len, &s->bind_loopback, err);
  if (st == FR_OK) {
    snprintf(s->bind_text, sizeof s->bind_text, "%s", s->cfg.bind);
    if (nc.addr.ss_family == AF_INET) {
      struct sockaddr_in *a = (struct sockaddr_in *)&nc.addr;
      s->bind_any = a->sin_addr.s_addr == htonl(INADDR_ANY);
      a->sin_port = htons((uint16_t)cfg->port);
    } else {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *)&nc.addr;
      s->bind_any = memcmp(&a->sin6_addr, &in6addr_any, sizeof in6addr_any) == 0;
      a->sin6_port = htons((uint16_t)cfg->port);
    }
    st = load_keys(s, cfg, err);
  }
  if (st == FR_OK) st = fr_pipeline_create(&cfg->po, cfg->models, &s->pipe, err);
  if (st == FR_OK) {
    s->dim = fr_pipeline_dim(s->pipe);
    st = fr_pipeline_model_id(&cfg->po, s->model, sizeof s->model, err);
  }
  if (st == FR_OK)
    st = fr_gallery_open(cfg->db_path, s->model, s->dim,
                         fr_pipeline_identify_threshold(s->pipe, FR_METRIC_EUCLIDEAN), &s->gallery, err);
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
    /* Every job of the pool is either free, queued or running: `queue` jobs
     * may wait while each worker runs one. */
    s->n_jobs = (cfg->queue > 0 ? cfg->queue : 4 * s->n_workers) + s->n_workers;
    s->q_cap = s->n_jobs;
    s->jobs_free = s->n_jobs;
    s->ws_workers = s->n_workers > 1 ? s->n_workers - 1 : 1;
    s->queue = calloc((size_t)s->q_cap, sizeof *s->queue);
    s->ws_queue = calloc((size_t)s->q_cap, sizeof *s->ws_queue);
    s->threads = calloc((size_t)s->n_workers, sizeof *s->threads);
    s->ctx = calloc((size_t)s->n_workers, sizeof *s->ctx);
    s->jobs = calloc((size_t)s->n_jobs, sizeof *s->jobs);
    if (!s->queue || !s->ws_queue || !s->threads || !s->ctx || !s->jobs) st = fr__fail(err, FR_E_NOMEM, "out of memory");
  }
  for (int i = 0; st == FR_OK && i < s->n_jobs; i++) {
    job *j = &s->jobs[i];
    j->desc[0] = malloc((size_t)MAX_FACES * s->dim * sizeof(float));
    j->desc[1] = malloc((size_t)MAX_FACES * s->dim * sizeof(float));
    if (!j->desc[0] || !j->desc[1]) st = fr__fail(err, FR_E_NOMEM, "out of memory");
    job_give(s, j);
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
    nc.max_connections = s->cfg.max_connections;
    nc.max_per_address = s->cfg.max_per_address;
    nc.header_timeout_ms = s->cfg.header_timeout_ms;
    nc.idle_timeout_ms = s->cfg.idle_timeout_ms;
    nc.timeout_ms = s->cfg.timeout_ms;
    nc.ws_ping_ms = s->cfg.ws_ping_ms;
    nc.max_body = s->cfg.max_body;
    nc.max_frame = s->cfg.max_frame;
    /* Bodies held at once: enough for every job of the pool to carry a
     * full-size body, plus as many again being received. */
    nc.max_buffered = 2 * (long long)s->n_jobs * s->cfg.max_body + (64LL << 20);
    nc.ws_out_limit = 256 * 1024;
    fr__net_callbacks cb = {s, on_request, on_ws_message, on_completed, on_closing, on_closed, on_refused};
    st = fr__net_start(&nc, &cb, &s->net, err);
    if (st != FR_OK) {
      char msg[sizeof err->message];
      snprintf(msg, sizeof msg, "%s", err->message);
      st = fr__fail(err, FR_E_IO, "cannot listen on %s port %d: %s", s->cfg.bind, cfg->port, msg);
    }
  }
  if (st == FR_OK) s->port = fr__net_port(s->net);
  if (st != FR_OK) {
    fr__srv_stop(s);
    return st;
  }
  *out = s;
  return FR_OK;
}
