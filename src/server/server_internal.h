/*
 * server_internal.h - what the server's files share: the server itself, its
 * jobs and streams, the request record the access log and the counters read,
 * the output buffers, and the functions one file calls in another (prefix
 * fr__srv_). Tools use server.h, not this.
 *
 * The files call one another downwards only, so that no two of them call
 * each other (tests/layers.py checks it): server.c (start, stop, the pool
 * and its workers) calls routes.c (requests and the work of each route),
 * which calls stream.c (the WebSocket stream), which calls metrics.c
 * (counts, the access log, and the answers, which are counted and logged).
 * The few pieces of the pool and the clock that the lower files need are
 * inline here for that reason.
 */
#ifndef FR_SERVER_SERVER_INTERNAL_H
#define FR_SERVER_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/net.h"
#include "server/parse.h"
#include "server/server.h"

#define MAX_FACES 32

/* ---- output buffers -------------------------------------------------------------- */

typedef struct sbuf {
  char *p;
  size_t len, cap;
  int oom;
} sbuf;

static inline void sb_reserve(sbuf *b, size_t more) {
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

static inline void sb_printf(sbuf *b, const char *fmt, ...) FR__PRINTF(2, 3);
static inline void sb_printf(sbuf *b, const char *fmt, ...) {
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
static inline void sb_str(sbuf *b, const char *s, size_t n) {
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

static inline void sb_cstr(sbuf *b, const char *s) { sb_str(b, s, strlen(s)); }

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
  int is_stream; /* 0: a job is a connection's user data while it runs (see on_closing in server.c) */
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
typedef struct histogram {
  long long count[N_BUCKETS + 1];
  double sum;
  long long n;
} histogram;

/* The status codes counted by name in /metrics (status_codes in metrics.c). */
#define N_CODES 16

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

/* ---- the clock, and taking and submitting a job (inline: see the top) ------------------- */

static inline double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* A job from the pool, or NULL when every job is queued or running: the
 * server is then full and the request gets 503. Loop thread. */
static inline job *job_take(fr__srv *s) {
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

static inline void submit(fr__srv *s, job *j) {
  pthread_mutex_lock(&s->q_mu);
  j->queued_at = now_s();
  /* Each ring holds every job of the pool, so neither can be full. */
  if (j->kind == JOB_WS) s->ws_queue[(s->ws_head + s->ws_len++) % s->q_cap] = j;
  else s->queue[(s->q_head + s->q_len++) % s->q_cap] = j;
  pthread_cond_broadcast(&s->q_cv);
  pthread_mutex_unlock(&s->q_mu);
}

/* ---- what one file calls in another ---------------------------------------------------------- */

/* routes.c: the network loop's request callback, and a job's work on a worker. */
void fr__srv_on_request(void *app, fr__net_conn *c, const fr__http_head *h, uint8_t *body, size_t n);
void fr__srv_run_job(fr__srv *s, fr_context *ctx, job *j);

/* stream.c: the handshake, the loop's message and close callbacks, and a
 * finished frame back on the loop. */
void fr__srv_open_stream(fr__srv *s, fr__net_conn *c, const fr__http_head *h, reqlog *lg);
void fr__srv_on_ws_message(void *app, fr__net_conn *c, int opcode, uint8_t *data, size_t len);
void fr__srv_stream_done(fr__srv *s, fr__net_conn *c, job *j);
void fr__srv_on_closed(void *app, fr__net_conn *c);

/* metrics.c: counters and gauges, the access log, the answers and the two
 * routes answered on the loop. */
void fr__srv_count_pipeline(fr__srv *s, double seconds);
void fr__srv_refresh_counts(fr__srv *s);
void fr__srv_access_log(fr__srv *s, const char *remote, const reqlog *lg);
void fr__srv_on_refused(void *app, const char *remote, int status, const char *why);
int fr__srv_http_of(fr_status st, const char **code);
void fr__srv_set_error(sbuf *b, int *status, int code, const char *ecode, const char *msg);
void fr__srv_reply(fr__srv *s, fr__net_conn *c, reqlog *lg, int status, const char *ctype, const char *csp,
                   const char *extra, const void *body, size_t n);
void fr__srv_reply_error(fr__srv *s, fr__net_conn *c, reqlog *lg, int status, const char *code,
                         const char *msg);
void fr__srv_handle_health(fr__srv *s, fr__net_conn *c, reqlog *lg);
void fr__srv_handle_metrics(fr__srv *s, fr__net_conn *c, reqlog *lg);

#endif
