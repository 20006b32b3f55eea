/*
 * stream.c - the server's WebSocket stream (/api/v1/stream): the handshake
 * and its caps, one frame at a time on the pipeline workers with only the
 * newest frame waiting, and each answer sent back as one text message. The
 * work on a frame is do_stream in routes.c; the framing is net.c and ws.c.
 */
#define _GNU_SOURCE
#include "server/server_internal.h"

#include <stdlib.h>
#include <string.h>

#include "server/ws.h"

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

void fr__srv_on_ws_message(void *app, fr__net_conn *c, int opcode, uint8_t *data, size_t len) {
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
    fr__srv_http_of(st, &code);
    ws_error(s, c, seq, code, err.message, 2);
    return;
  }
  /* A client that does not read its answers gets no more work done for it:
   * its frames are dropped unseen until it catches up. */
  if (fr__net_ws_backlogged(c)) {
    ws_count(s, 1);
    return;
  }
  if (w->has_pending) {
    char msg[64];
    int n = snprintf(msg, sizeof msg, "{\"seq\":%u,\"dropped\":true}", w->pending_seq);
    ws_text(s, c, msg, (size_t)n, 1);
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

void fr__srv_stream_done(fr__srv *s, fr__net_conn *c, job *j) {
  stream *w = j->stream;
  w->busy = NULL;
  if (fr__net_is_open(c) && !atomic_load(&j->cancelled) && !j->out.oom) ws_text(s, c, j->out.p, j->out.len, j->status == 200 ? 0 : 2);
  if (fr__net_is_open(c) && w->has_pending) ws_start(s, c, w);
}

/* The handshake: same-origin, a key, and room under the stream caps. */
void fr__srv_open_stream(fr__srv *s, fr__net_conn *c, const fr__http_head *h, reqlog *lg) {
  fr_error err = {0};
  int bad = fr__net_ws_check(h, &err);
  if (bad) return fr__srv_reply_error(s, c, lg, bad, "invalid_request", err.message);
  int total, same;
  fr__net_stream_counts(c, &total, &same);
  if (total >= s->cfg.max_streams) return fr__srv_reply_error(s, c, lg, 503, "overloaded", "too many open streams");
  if (same >= s->cfg.max_streams_per_address)
    return fr__srv_reply_error(s, c, lg, 503, "overloaded", "too many open streams from this address");
  stream *w = calloc(1, sizeof *w);
  if (!w) return fr__srv_reply_error(s, c, lg, 503, "overloaded", "out of memory");
  w->is_stream = 1;
  fr__net_set_user(c, w);
  lg->status = 101;
  fr__srv_access_log(s, fr__net_remote(c), lg);
  fr__net_ws_upgrade(c);
  pthread_mutex_lock(&s->metrics_mu);
  s->ws_open++;
  pthread_mutex_unlock(&s->metrics_mu);
}

void fr__srv_on_closed(void *app, fr__net_conn *c) {
  fr__srv *s = app;
  stream *w = fr__net_user(c);
  if (!w || !w->is_stream) return;
  fr__net_set_user(c, NULL);
  stream_free(w);
  pthread_mutex_lock(&s->metrics_mu);
  s->ws_open--;
  pthread_mutex_unlock(&s->metrics_mu);
}
