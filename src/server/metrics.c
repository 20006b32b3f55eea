/*
 * metrics.c - what the server counts and tells: health, /metrics (requests
 * by route and status, latency and pipeline histograms, queue and gallery
 * gauges, stream frames) and the access log with its rate limit. Every
 * answer the loop writes passes through fr__srv_reply, which counts and
 * logs it; that answer path lives here too, below the routes and the stream
 * that use it (see server_internal.h for the order of the files).
 */
#define _GNU_SOURCE
#include "server/server_internal.h"

#include <string.h>
#include <time.h>

/* ---- histograms and counters ------------------------------------------------------------ */

static const double bucket_le[N_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                            0.1,   0.25,   0.5,   1,    2.5,   5};

static void hist_add(histogram *h, double seconds) {
  int i = 0;
  while (i < N_BUCKETS && seconds > bucket_le[i]) i++;
  h->count[i]++;
  h->sum += seconds;
  h->n++;
}

static const int status_codes[] = {200, 201, 204, 400, 401, 403, 404, 405, 408, 409,
                                   413, 415, 422, 426, 500, 503};
_Static_assert(N_CODES == sizeof status_codes / sizeof status_codes[0], "N_CODES counts status_codes");

static void count_request(fr__srv *s, const reqlog *lg) {
  int k = 0;
  while (k < N_CODES && status_codes[k] != lg->status) k++;
  pthread_mutex_lock(&s->metrics_mu);
  s->requests[lg->route][k]++;
  hist_add(&s->latency[lg->route], now_s() - lg->start);
  pthread_mutex_unlock(&s->metrics_mu);
}

/* Counts one job's time on a worker (the pipeline histogram). */
void fr__srv_count_pipeline(fr__srv *s, double seconds) {
  pthread_mutex_lock(&s->metrics_mu);
  hist_add(&s->pipeline_time, seconds);
  pthread_mutex_unlock(&s->metrics_mu);
}

/* Updates the gallery gauges of /metrics and health; takes the gallery lock,
 * so callers must not hold it. */
void fr__srv_refresh_counts(fr__srv *s) {
  int faces = 0, people = 0;
  pthread_mutex_lock(&s->gallery_mu);
  fr_gallery_count(s->gallery, &faces, NULL);
  fr_gallery_people(s->gallery, NULL, 0, &people, NULL);
  pthread_mutex_unlock(&s->gallery_mu);
  pthread_mutex_lock(&s->metrics_mu);
  s->faces_count = faces, s->people_count = people;
  pthread_mutex_unlock(&s->metrics_mu);
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

void fr__srv_access_log(fr__srv *s, const char *remote, const reqlog *lg) {
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

void fr__srv_on_refused(void *app, const char *remote, int status, const char *why) {
  fr__srv *s = app;
  if (!s->cfg.access_log || !log_allowed(s, status)) return;
  sbuf b = {0};
  sb_printf(&b, "{\"remote\":\"%s\",\"status\":%d,\"refused\":", remote, status);
  sb_cstr(&b, why);
  sb_printf(&b, "}\n");
  if (!b.oom) log_line(s, &b);
  free(b.p);
}

/* ---- answers, counted and logged on their way out ------------------------------------------ */

/* The HTTP status and error code of a failed fr_status. */
int fr__srv_http_of(fr_status st, const char **code) {
  switch (st) {
  case FR_E_INVALID: *code = "invalid_request"; return 400;
  case FR_E_FORMAT: *code = "malformed"; return 400;
  case FR_E_LIMIT: *code = "too_large"; return 413;
  case FR_E_NOTFOUND: *code = "not_found"; return 404;
  case FR_E_UNSUPPORTED: *code = "unsupported"; return 415;
  case FR_E_NOMEM: *code = "overloaded"; return 503;
  case FR_E_ABORTED: *code = "aborted"; return 503;
  default: *code = "internal"; return 500;
  }
}

void fr__srv_set_error(sbuf *b, int *status, int code, const char *ecode, const char *msg) {
  b->len = 0, b->oom = 0;
  sb_printf(b, "{\"error\":{\"code\":");
  sb_cstr(b, ecode);
  sb_printf(b, ",\"message\":");
  sb_cstr(b, msg);
  sb_printf(b, "}}");
  *status = code;
}

/* Answers a request from the loop thread: counted, logged, written. */
void fr__srv_reply(fr__srv *s, fr__net_conn *c, reqlog *lg, int status, const char *ctype, const char *csp,
                   const char *extra, const void *body, size_t n) {
  lg->status = status;
  lg->bytes_out = (long long)n;
  if (lg->route != FR_ROUTE_NONE) count_request(s, lg);
  fr__srv_access_log(s, fr__net_remote(c), lg);
  fr__net_respond(c, status, ctype, csp, extra, body, n, status == 413);
}

void fr__srv_reply_error(fr__srv *s, fr__net_conn *c, reqlog *lg, int status, const char *code, const char *msg) {
  sbuf b = {0};
  int st;
  fr__srv_set_error(&b, &st, status, code, msg);
  fr__srv_reply(s, c, lg, status, "application/json", NULL,
                status == 405   ? "Allow: GET, HEAD, POST, DELETE\r\n"
                : status == 401 ? "WWW-Authenticate: X-API-Key\r\n"
                                : NULL,
                b.oom ? "" : b.p, b.oom ? 0 : b.len);
  free(b.p);
}

/* ---- health and metrics (answered on the loop: cheap, and must answer under load) ------ */

void fr__srv_handle_health(fr__srv *s, fr__net_conn *c, reqlog *lg) {
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
  fr__srv_reply(s, c, lg, 200, "application/json", NULL, "Cache-Control: no-store\r\n", b.oom ? "" : b.p,
                b.oom ? 0 : b.len);
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

void fr__srv_handle_metrics(fr__srv *s, fr__net_conn *c, reqlog *lg) {
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
  fr__srv_reply(s, c, lg, 200, "text/plain; version=0.0.4", NULL, "Cache-Control: no-store\r\n",
                b->oom ? "" : b->p, b->oom ? 0 : b->len);
  free(b->p);
}
