/*
 * server.c - the recognition server's start and stop, its keys, and the job
 * pool with its two queues and the pipeline workers (see server.h for the
 * threading model). The network side (sockets, HTTP and WebSocket framing,
 * limits and deadlines) is src/server/net.c. What a request means and who
 * may make it is routes.c, the WebSocket stream stream.c, what is counted
 * and logged metrics.c; the types they share are in server_internal.h.
 */
#define _GNU_SOURCE
#include "server/server_internal.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- jobs and the worker pool ------------------------------------------------------------- */

static void job_give(fr__srv *s, job *j) {
  /* A large answer's buffer is not kept by an idle job. */
  if (j->out.cap > (1u << 20)) {
    free(j->out.p);
    memset(&j->out, 0, sizeof j->out);
  }
  j->next_free = s->free_jobs;
  s->free_jobs = j;
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

/* The worker's abort callback: the job it runs was given up by its client.
 * Called on the worker's own thread, which alone sets *current. */
static int job_gone(void *user) {
  job *const *current = user;
  return *current && atomic_load(&(*current)->cancelled);
}

static void *worker_main(void *arg) {
  void **a = arg;
  fr__srv *s = a[0];
  fr_context *ctx = a[1];
  free(a);
  /* A job whose client leaves while it runs stops at its next network, not
   * at its end. */
  job *current = NULL;
  fr_context_set_abort(ctx, job_gone, &current);
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
    current = j;
    if (!atomic_load(&j->cancelled)) fr__srv_run_job(s, ctx, j);
    current = NULL;
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

/* A finished job, back on the loop thread. */
static void on_completed(void *app, fr__net_conn *c, void *item) {
  fr__srv *s = app;
  job *j = item;
  if (j->kind == JOB_WS) fr__srv_stream_done(s, c, j);
  else fr__net_set_user(c, NULL);
  if (j->kind != JOB_WS && fr__net_is_open(c))
    fr__srv_reply(s, c, &j->lg, j->status, "application/json", NULL, "Cache-Control: no-store\r\n",
                  j->out.oom ? "" : j->out.p, j->out.oom ? 0 : j->out.len);
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
  if (st == FR_OK) fr__srv_refresh_counts(s);
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
    fr__net_callbacks cb = {s,          fr__srv_on_request, fr__srv_on_ws_message, on_completed,
                            on_closing, fr__srv_on_closed,  fr__srv_on_refused};
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
