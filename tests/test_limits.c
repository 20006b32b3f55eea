/*
 * test_limits.c - limits on work driven by input sizes that other tests do
 * not already pin down at their boundary:
 *
 *  - gallery names: FR_NAME_MAX - 1 bytes is accepted and comes back
 *    unchanged from every read path; FR_NAME_MAX bytes is FR_E_INVALID with a
 *    message giving the limit, for enrolment and for forgetting alike;
 *  - faces per image: fr_detect, fr_pipeline_run and fr_describe_photo write
 *    exactly as many faces (and descriptors) as the caller allows, never one
 *    past the end (guard elements after the arrays must stay untouched), and
 *    the ones written are the highest-scoring ones of an unlimited run.
 *
 * The other limits have their tests where their code is tested: image sides
 * and pixels (test_image), model tensor sizes against the bytes present
 * (test_tfjs), the LFW header (test_eval), and JPEG scans and PNG ancillary
 * chunks (tests/regress, replayed by test_regress).
 */
#include "check.h"
#include "facerec.h"

#define DIM 128
#define ALL 16 /* more than faces.jpg holds (6) */

static void test_names(void) {
  fr_error err = {0};
  fr_gallery *g = NULL;
  CHECK_OK(fr_gallery_open(":memory:", "limits/v1", DIM, 0.6f, &g, &err), &err);
  if (!g) return;
  float v[DIM] = {0};
  v[0] = 1;
  fr_gallery_face f = {v, NULL, 0, {0, 0, 1, 1}};

  char longest[FR_NAME_MAX], too_long[FR_NAME_MAX + 1];
  memset(longest, 'a', FR_NAME_MAX - 1);
  longest[FR_NAME_MAX - 1] = '\0';
  memset(too_long, 'b', FR_NAME_MAX);
  too_long[FR_NAME_MAX] = '\0';

  int added = 0;
  CHECK_OK(fr_gallery_enroll(g, longest, NULL, &f, 1, &added, &err), &err);
  CHECK(added == 1);
  fr_person p;
  int n = 0;
  CHECK_OK(fr_gallery_people(g, &p, 1, &n, &err), &err);
  CHECK_MSG(n == 1 && strcmp(p.name, longest) == 0, "the longest name came back as '%s'", p.name);
  fr_match m;
  CHECK_OK(fr_gallery_search(g, v, 1, &m, &n, &err), &err);
  CHECK(n == 1 && strcmp(m.name, longest) == 0);

  err.message[0] = '\0';
  CHECK(fr_gallery_enroll(g, too_long, NULL, &f, 1, &added, &err) == FR_E_LIMIT);
  char limit[16];
  snprintf(limit, sizeof limit, "%d", FR_NAME_MAX - 1);
  CHECK_MSG(strstr(err.message, limit) != NULL, "the message does not give the limit: %s",
            err.message);
  CHECK(added == 0);
  CHECK(fr_gallery_enroll(g, "", NULL, &f, 1, NULL, &err) == FR_E_INVALID);
  CHECK(fr_gallery_forget(g, too_long, NULL, &err) == FR_E_LIMIT);
  CHECK_OK(fr_gallery_count(g, &n, &err), &err);
  CHECK_MSG(n == 1, "refused names stored %d faces", n - 1);
  int removed = 0;
  CHECK_OK(fr_gallery_forget(g, longest, &removed, &err), &err);
  CHECK(removed == 1);
  fr_gallery_close(g);
}

/* A face whose every byte is 0xA5, to see whether a call wrote it. */
static void poison(fr_face *f) { memset(f, 0xA5, sizeof *f); }

static int untouched(const fr_face *f) {
  const unsigned char *b = (const unsigned char *)f;
  for (size_t i = 0; i < sizeof *f; i++)
    if (b[i] != 0xA5) return 0;
  return 1;
}

static int same_box(const fr_face *a, const fr_face *b) {
  return memcmp(&a->box, &b->box, sizeof a->box) == 0 && a->score == b->score;
}

/* An abort callback that lets `abort_after` network runs through. */
static int abort_calls, abort_after;
static int count_abort(void *user) {
  (void)user;
  return abort_calls++ >= abort_after;
}

/* Collects log messages (fr_log_set). */
static char log_seen[1024];
static int log_count;
static void collect_log(fr_log_level level, const char *msg, void *user) {
  (void)level;
  int *tag = user;
  if (*tag == 42) snprintf(log_seen, sizeof log_seen, "%s", msg);
  log_count++;
}

static void test_faces_per_image(void) {
  fr_error err = {0};
  fr_pipeline *pipe = NULL;
  fr_context *ctx = NULL;
  fr_image img = {0};
  /* Loading a pipeline is told to the log callback, with its user pointer;
   * a level above INFO hears nothing, and with no callback nothing is said. */
  static int tag = 42;
  fr_log_set(collect_log, &tag, FR_LOG_LEVEL_WARN);
  CHECK_OK(fr_pipeline_create(NULL, check_models_dir(), &pipe, &err), &err);
  CHECK_MSG(log_count == 0, "%d messages at WARN", log_count);
  fr_pipeline_destroy(pipe);
  pipe = NULL;
  fr_log_set(collect_log, &tag, FR_LOG_LEVEL_DEBUG);
  CHECK_OK(fr_pipeline_create(NULL, check_models_dir(), &pipe, &err), &err);
  CHECK_MSG(log_count >= 1 && strstr(log_seen, "detector ssd") && strstr(log_seen, "embedder faceapi"),
            "%d messages, last: %s", log_count, log_seen);
  fr_log_set(NULL, NULL, FR_LOG_LEVEL_DEBUG);
  int before = log_count;
  fr_pipeline_destroy(pipe);
  pipe = NULL;
  CHECK_OK(fr_pipeline_create(NULL, check_models_dir(), &pipe, &err), &err);
  CHECK(log_count == before);
  CHECK_OK(fr_context_create(NULL, &ctx, &err), &err);
  fr_detector *det = NULL;
  CHECK_OK(fr_detector_create(FR_DETECTOR_SSD, check_models_dir(), &det, &err), &err);
  CHECK_OK(fr_image_load(check_data("bbt/test/images/faces.jpg"), NULL, &img, &err), &err);
  if (!pipe || !ctx || !det || !img.data) goto done;

  /* The unlimited run, highest score first. */
  fr_face all[ALL];
  int n_all = 0;
  CHECK_OK(fr_pipeline_run(ctx, pipe, &img, all, NULL, ALL, &n_all, &err), &err);
  CHECK_MSG(n_all >= 3, "faces.jpg: %d faces", n_all);
  if (n_all < 3) goto done;

  /* The abort callback stops a run between networks: after the detector
   * (1 call), before the first landmarks (2) or the descriptors (later);
   * never, and the run completes, once it is cleared. */
  for (int after = 0; after < 4; after++) {
    abort_calls = 0, abort_after = after;
    fr_context_set_abort(ctx, count_abort, NULL);
    fr_face faces[ALL];
    float desc[ALL * DIM];
    int n = -1;
    fr_status st = fr_pipeline_run(ctx, pipe, &img, faces, desc, ALL, &n, &err);
    CHECK_MSG(st == FR_E_ABORTED && err.status == FR_E_ABORTED && abort_calls == after + 1,
              "abort after %d calls: status %d after %d calls", after, st, abort_calls);
  }
  fr_context_set_abort(ctx, NULL, NULL);
  {
    fr_face faces[ALL];
    int n = -1;
    CHECK_OK(fr_pipeline_run(ctx, pipe, &img, faces, NULL, ALL, &n, &err), &err);
    CHECK(n == n_all);
  }

  for (int max = 1; max <= 2; max++) {
    fr_face faces[3];
    float desc[3 * DIM];
    for (int i = 0; i < 3; i++) poison(&faces[i]);
    for (int i = 0; i < 3 * DIM; i++) desc[i] = -12345.0f;
    int n = -1;
    CHECK_OK(fr_pipeline_run(ctx, pipe, &img, faces, desc, max, &n, &err), &err);
    CHECK_MSG(n == max, "fr_pipeline_run max_faces %d: %d faces", max, n);
    CHECK_MSG(untouched(&faces[max]), "fr_pipeline_run wrote a face past max_faces %d", max);
    int desc_guard = 1;
    for (int i = max * DIM; i < 3 * DIM; i++) desc_guard &= desc[i] == -12345.0f;
    CHECK_MSG(desc_guard, "fr_pipeline_run wrote a descriptor past max_faces %d", max);
    for (int i = 0; i < n && i < max; i++)
      CHECK_MSG(same_box(&faces[i], &all[i]), "face %d of %d is not the %d-th best", i, max, i);

    /* The detector alone, and the photo path that retries on padded copies. */
    for (int i = 0; i < 3; i++) poison(&faces[i]);
    n = -1;
    CHECK_OK(fr_detect(ctx, det, &img, NULL, faces, max, &n, &err), &err);
    CHECK_MSG(n == max && untouched(&faces[max]), "fr_detect max_out %d: %d faces", max, n);
    for (int i = 0; i < 3; i++) poison(&faces[i]);
    n = -1;
    fr_face_source src = 0;
    CHECK_OK(fr_describe_photo(ctx, pipe, &img, 1, faces, NULL, max, &n, &src, &err), &err);
    CHECK_MSG(n == max && untouched(&faces[max]) && src == FR_FACE_SOURCE_DETECTED,
              "fr_describe_photo max_faces %d: %d faces, source %d", max, n, (int)src);
  }
  /* No room at all is a caller error for the pipeline, and an empty answer
   * for the bare detector (test_detect covers the latter's options). */
  int n = -1;
  CHECK(fr_pipeline_run(ctx, pipe, &img, all, NULL, 0, &n, &err) == FR_E_INVALID);
  CHECK(fr_pipeline_run(ctx, pipe, &img, all, NULL, -1, &n, &err) == FR_E_INVALID);
  CHECK(fr_detect(ctx, det, &img, NULL, all, -1, &n, &err) == FR_E_INVALID);
done:
  fr_detector_destroy(det);
  fr_image_free(&img);
  fr_context_destroy(ctx);
  fr_pipeline_destroy(pipe);
}

/* Every status has a name as the header spells it and a sentence; a value
 * that is no status has no name. */
static void test_status_names(void) {
  static const struct {
    fr_status st;
    const char *name;
  } k[] = {{FR_OK, "FR_OK"},           {FR_E_INVALID, "FR_E_INVALID"}, {FR_E_NOMEM, "FR_E_NOMEM"},
           {FR_E_IO, "FR_E_IO"},       {FR_E_FORMAT, "FR_E_FORMAT"},   {FR_E_UNSUPPORTED, "FR_E_UNSUPPORTED"},
           {FR_E_LIMIT, "FR_E_LIMIT"}, {FR_E_MODEL, "FR_E_MODEL"},     {FR_E_NOTFOUND, "FR_E_NOTFOUND"},
           {FR_E_INTERNAL, "FR_E_INTERNAL"}, {FR_E_ABORTED, "FR_E_ABORTED"}};
  for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
    const char *n = fr_status_name(k[i].st);
    CHECK_MSG(n && strcmp(n, k[i].name) == 0, "status %d is named %s", k[i].st, n ? n : "NULL");
    CHECK(strcmp(fr_strerror(k[i].st), "unknown error") != 0);
  }
  CHECK(fr_status_name(1) == NULL && fr_status_name(-11) == NULL);
  CHECK(strcmp(fr_strerror(-11), "unknown error") == 0);
}

int main(void) {
  test_status_names();
  test_names();
  test_faces_per_image();
  return check_summary();
}
