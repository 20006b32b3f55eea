/*
 * routes.c - what a request means and who may make it (Host, Origin, keys,
 * preflight), the page's static files, and the work of each API route: run
 * on a pipeline worker by the do_* functions, which write the answer as
 * JSON for the loop to send.
 */
#define _GNU_SOURCE
#include "server/server_internal.h"

#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_STATIC (4 << 20) /* bytes of one file of the web page */

/* ---- the pipeline, on a worker ----------------------------------------------------------- */

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
  j->face_id = -1;
  if (j->st == FR_OK) j->st = fr_gallery_find_face(s->gallery, j->hash, 0, &j->face_id, &j->err);
  pthread_mutex_unlock(&s->gallery_mu);
  j->faces[0][0] = j->faces[0][k];
  j->n_faces[0] = 1;
  if (j->st == FR_OK) fr__srv_refresh_counts(s);
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
  fr__srv_count_pipeline(s, j->pipeline_ms * 1e-3);
}

/* ---- a job's answer, and its request's body ------------------------------------------------ */

static void job_error(job *j, int code, const char *ecode, const char *msg) {
  fr__srv_set_error(&j->out, &j->status, code, ecode, msg);
}

static void job_status_error(job *j, fr_status st, const fr_error *err) {
  const char *code;
  int http = fr__srv_http_of(st, &code);
  job_error(j, http, code, err->message[0] ? err->message : fr_strerror(st));
}

static int tolower_ascii(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

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
  fr__srv_refresh_counts(s);
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
  fr__srv_refresh_counts(s);
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
    j->status = fr__srv_http_of(j->st, &code);
    sb_printf(b, "{\"seq\":%u,\"error\":{\"code\":", w->work_seq);
    sb_cstr(b, code);
    sb_printf(b, ",\"message\":");
    sb_cstr(b, j->err.message);
    sb_printf(b, "}}");
  }
}

/* Runs one job on a worker: the work of its route, the answer left in j->out. */
void fr__srv_run_job(fr__srv *s, fr_context *ctx, job *j) {
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
    return fr__srv_reply_error(s, c, lg, 405, "method_not_allowed", "the page's files are read with GET");
  if (!s->cfg.web_root) return fr__srv_reply_error(s, c, lg, 404, "not_found", "no such route");
  const char *rel = strcmp(path, "/") == 0 ? "/index.html" : path;
  if (strstr(rel, "/.") || strstr(rel, "//") || strlen(rel) > 200)
    return fr__srv_reply_error(s, c, lg, 404, "not_found", "no such file");
  char full[4096];
  snprintf(full, sizeof full, "%s%s", s->cfg.web_root, rel);
  int fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_STATIC) {
    if (fd >= 0) close(fd);
    return fr__srv_reply_error(s, c, lg, 404, "not_found", "no such file");
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
    return fr__srv_reply_error(s, c, lg, 500, "internal", "cannot read the file");
  }
  char csp[512];
  snprintf(csp, sizeof csp,
           "default-src 'self'; connect-src 'self' ws://%s; img-src 'self' data: blob:; "
           "media-src 'self' blob: mediastream:; object-src 'none'; frame-ancestors 'none'; "
           "base-uri 'none'; form-action 'self'",
           h->host);
  fr__srv_reply(s, c, lg, 200, mime_of(rel), csp, "Cache-Control: no-cache\r\n", buf, n);
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
  if (!listed) return fr__srv_reply_error(s, c, lg, 403, "cross_origin", "cross-origin requests are not allowed");
  char extra[512];
  snprintf(extra, sizeof extra,
           "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\nAccess-Control-Allow-Methods: GET, POST, DELETE\r\n"
           "Access-Control-Allow-Headers: X-API-Key, Content-Type\r\nAccess-Control-Max-Age: 600\r\n",
           h->origin);
  fr__srv_reply(s, c, lg, 204, "text/plain", NULL, extra, "", 0);
}

void fr__srv_on_request(void *app, fr__net_conn *c, const fr__http_head *h, uint8_t *body, size_t n) {
  fr__srv *s = app;
  reqlog lg;
  memset(&lg, 0, sizeof lg);
  lg.start = now_s();
  lg.bytes_in = (long long)n;
  snprintf(lg.method, sizeof lg.method, "%s", h->method);
  snprintf(lg.path, sizeof lg.path, "%.255s", h->path);
  if (!method_known(h->method))
    return fr__srv_reply_error(s, c, &lg, 405, "method_not_allowed",
                               "only GET, HEAD, POST, DELETE and OPTIONS are served");
  /* A Host this server does not answer to is how DNS rebinding reaches a
   * loopback service from a web page: refused before anything else. */
  if (h->minor == 1 || h->has_host) {
    if (!fr__srv_host_allowed(h->has_host ? h->host : NULL, s->bind_text, s->bind_loopback, s->bind_any,
                              (const char *const *)s->cfg.allowed_hosts, s->cfg.n_allowed_hosts))
      return fr__srv_reply_error(s, c, &lg, 400, "bad_host", "the Host header does not name this server");
  }
  char path[FR_HTTP_MAX_TARGET];
  fr_error err = {0};
  if (fr__srv_path_decode(h->path, strlen(h->path), path, sizeof path, &err) != FR_OK)
    return fr__srv_reply_error(s, c, &lg, 400, "malformed", err.message);
  if (!strcmp(h->method, "OPTIONS")) return preflight(s, c, h, &lg);
  int writes = !strcmp(h->method, "POST") || !strcmp(h->method, "DELETE");
  const char *origin = h->has_origin ? h->origin : NULL;
  int is_stream = strcmp(path, "/api/v1/stream") == 0;
  /* Same origin only, for everything that changes state and for the stream:
   * a page elsewhere can neither write nor watch. */
  if ((writes || is_stream) &&
      !fr__srv_origin_allowed(origin, h->host, allowed_origins(s), s->cfg.n_allowed_origins))
    return fr__srv_reply_error(s, c, &lg, 403, "cross_origin", "cross-origin requests are not allowed");
  if (is_stream) {
    lg.route = FR_ROUTE_NONE;
    if (key_level(s, h, 1) < 0) return fr__srv_reply_error(s, c, &lg, 401, "unauthorized", "a valid key is required");
    return fr__srv_open_stream(s, c, h, &lg);
  }
  if (strncmp(path, "/api/", 5) != 0 && strcmp(path, "/api") != 0 && strcmp(path, "/metrics") != 0)
    return serve_static(s, c, h, path, &lg);
  fr__srv_route r;
  fr_status st = fr__srv_route_parse(strcmp(h->method, "HEAD") ? h->method : "GET", path, &r, &err);
  lg.route = r.id;
  if (st == FR_E_NOTFOUND) return fr__srv_reply_error(s, c, &lg, 404, "not_found", err.message);
  if (st == FR_E_UNSUPPORTED) return fr__srv_reply_error(s, c, &lg, 405, "method_not_allowed", err.message);
  if (st != FR_OK) return fr__srv_reply_error(s, c, &lg, 400, "invalid_request", err.message);
  if (r.id == FR_ROUTE_HEALTH) return fr__srv_handle_health(s, c, &lg);
  int level = key_level(s, h, 0);
  if (level < 0) return fr__srv_reply_error(s, c, &lg, 401, "unauthorized", "a valid X-API-Key header is required");
  if (r.admin && level < 1) return fr__srv_reply_error(s, c, &lg, 403, "forbidden", "this route needs an admin key");
  if (r.id == FR_ROUTE_METRICS) return fr__srv_handle_metrics(s, c, &lg);
  job *j = job_take(s);
  if (!j)
    return fr__srv_reply_error(s, c, &lg, 503, "overloaded", "the server is busy: the work queue is full; retry later");
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
