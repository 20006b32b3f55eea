/*
 * test_threads.c - the thread-safety promises of facerec.h, exercised so that
 * ThreadSanitizer (make test-tsan) can check them; the other builds run it
 * too and check the results.
 *
 *  - models may be loaded by several threads at once (each load parses JSON:
 *    see the lock in src/nn/tfjs.c);
 *  - images may be decoded by several threads at once, with equal results;
 *  - one pool may serve the contexts of several threads, whose calls it
 *    serialises, and the results equal a run without a pool;
 *  - several gallery handles on one file, one per thread, may write at once,
 *    and every write lands.
 */
#include <pthread.h>
#include <unistd.h>

#include "check.h"
#include "facerec.h"

#define THREADS 2
#define DIM 128

/* ---- loading models --------------------------------------------------------------- */

typedef struct load_arg {
  fr_status st;
  char message[320];
} load_arg;

static void *load_main(void *p) {
  load_arg *a = p;
  fr_error err = {0};
  for (int r = 0; r < 3 && a->st == FR_OK; r++) {
    fr_detector *det = NULL;
    fr_landmarker *lm = NULL;
    a->st = fr_detector_create(FR_DETECTOR_TINY, check_models_dir(), &det, &err);
    if (a->st == FR_OK) a->st = fr_landmarker_create(FR_LANDMARKER_68_TINY, check_models_dir(), &lm, &err);
    fr_landmarker_destroy(lm);
    fr_detector_destroy(det);
  }
  snprintf(a->message, sizeof a->message, "%s", err.message);
  return NULL;
}

static void test_loading(void) {
  load_arg a[THREADS] = {{0}};
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&th[i], NULL, load_main, &a[i]) == 0);
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < THREADS; i++) CHECK_MSG(a[i].st == FR_OK, "thread %d: %s", i, a[i].message);
}

/* ---- decoding images -------------------------------------------------------------- */

static const char *const images[] = {"bbt/test/images/faces.jpg", "bbt/examples/images/penny/penny1.png",
                                     "orl/s1/1.pgm"};
#define N_IMAGES (int)(sizeof images / sizeof images[0])

typedef struct decode_arg {
  fr_image img[N_IMAGES];
  fr_status st;
} decode_arg;

static void *decode_main(void *p) {
  decode_arg *a = p;
  fr_error err = {0};
  for (int i = 0; i < N_IMAGES && a->st == FR_OK; i++)
    a->st = fr_image_load(check_data(images[i]), NULL, &a->img[i], &err);
  return NULL;
}

static void test_decoding(void) {
  decode_arg a[THREADS];
  memset(a, 0, sizeof a);
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&th[i], NULL, decode_main, &a[i]) == 0);
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  CHECK(a[0].st == FR_OK && a[1].st == FR_OK);
  for (int k = 0; k < N_IMAGES; k++) {
    const fr_image *x = &a[0].img[k], *y = &a[1].img[k];
    int same = x->data && y->data && x->width == y->width && x->height == y->height &&
               x->format == y->format && x->stride == y->stride &&
               memcmp(x->data, y->data, (size_t)x->stride * (size_t)x->height) == 0;
    CHECK_MSG(same, "%s decoded differently in two threads", images[k]);
    for (int i = 0; i < THREADS; i++) fr_image_free(&a[i].img[k]);
  }
}

/* ---- one pool, several threads ------------------------------------------------------ */

typedef struct detect_arg {
  const fr_detector *det;
  fr_pool *pool;
  const fr_image *img;
  fr_face faces[16];
  int n;
  fr_status st;
} detect_arg;

static void *detect_main(void *p) {
  detect_arg *a = p;
  fr_error err = {0};
  fr_context *ctx = NULL;
  a->st = fr_context_create(a->pool, &ctx, &err);
  fr_detect_options o = {0};
  o.input_size = 224; /* small: this is about threads, not accuracy */
  for (int r = 0; r < 2 && a->st == FR_OK; r++)
    a->st = fr_detect(ctx, a->det, a->img, &o, a->faces, 16, &a->n, &err);
  fr_context_destroy(ctx);
  return NULL;
}

static void test_shared_pool(void) {
  fr_error err = {0};
  fr_detector *det = NULL;
  fr_pool *pool = NULL;
  fr_image img = {0};
  CHECK_OK(fr_detector_create(FR_DETECTOR_TINY, check_models_dir(), &det, &err), &err);
  CHECK_OK(fr_pool_create(3, &pool, &err), &err);
  CHECK_OK(fr_image_load(check_data("bbt/test/images/faces.jpg"), NULL, &img, &err), &err);
  if (det && pool && img.data) {
    /* The reference: one thread, no pool. */
    detect_arg ref;
    memset(&ref, 0, sizeof ref);
    ref.det = det;
    ref.img = &img;
    detect_main(&ref);
    CHECK(ref.st == FR_OK && ref.n > 0);
    detect_arg a[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
      memset(&a[i], 0, sizeof a[i]);
      a[i].det = det;
      a[i].pool = pool;
      a[i].img = &img;
      CHECK(pthread_create(&th[i], NULL, detect_main, &a[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < THREADS; i++) {
      CHECK_MSG(a[i].st == FR_OK && a[i].n == ref.n, "thread %d: status %d, %d faces, %d expected",
                i, a[i].st, a[i].n, ref.n);
      /* The pool splits each layer differently, so allow float reordering. */
      float worst = 0;
      for (int f = 0; f < a[i].n && f < ref.n; f++) {
        worst = fmaxf(worst, fabsf(a[i].faces[f].box.x - ref.faces[f].box.x));
        worst = fmaxf(worst, fabsf(a[i].faces[f].box.y - ref.faces[f].box.y));
      }
      CHECK_MSG(worst < 1e-2f, "thread %d: boxes moved by %g px", i, worst);
    }
  }
  fr_image_free(&img);
  fr_pool_destroy(pool);
  fr_detector_destroy(det);
}

/* ---- galleries: one handle per thread, one file --------------------------------------- */

#define PEOPLE_PER_THREAD 25

typedef struct gallery_arg {
  const char *path;
  int index;
  fr_status st;
  char message[320];
} gallery_arg;

static void *gallery_main(void *p) {
  gallery_arg *a = p;
  fr_error err = {0};
  fr_gallery *g = NULL;
  a->st = fr_gallery_open(a->path, "threads/v1", DIM, 0.6f, &g, &err);
  for (int k = 0; k < PEOPLE_PER_THREAD && a->st == FR_OK; k++) {
    float v[DIM];
    for (int d = 0; d < DIM; d++) v[d] = (float)((a->index * 131 + k * 17 + d) % 97) / 97.0f;
    fr_gallery_face f = {v, NULL, 0, {0, 0, 1, 1}};
    char name[32];
    snprintf(name, sizeof name, "t%d-p%02d", a->index, k);
    a->st = fr_gallery_enroll(g, name, NULL, &f, 1, NULL, &err);
    /* Reads in between make each handle reload what the other wrote. */
    int n = 0;
    if (a->st == FR_OK) a->st = fr_gallery_count(g, &n, &err);
    fr_match m;
    if (a->st == FR_OK) a->st = fr_gallery_search(g, v, 1, &m, &n, &err);
  }
  snprintf(a->message, sizeof a->message, "%s", err.message);
  fr_gallery_close(g);
  return NULL;
}

static void test_galleries(void) {
  char dir[] = "/tmp/fr-threads-XXXXXX";
  if (!mkdtemp(dir)) {
    CHECK_MSG(0, "mkdtemp failed");
    return;
  }
  char path[64];
  snprintf(path, sizeof path, "%s/g.db", dir);
  gallery_arg a[THREADS];
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++) {
    a[i] = (gallery_arg){path, i, FR_OK, ""};
    CHECK(pthread_create(&th[i], NULL, gallery_main, &a[i]) == 0);
  }
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < THREADS; i++) CHECK_MSG(a[i].st == FR_OK, "thread %d: %s", i, a[i].message);
  fr_error err = {0};
  fr_gallery *g = NULL;
  CHECK_OK(fr_gallery_open(path, "threads/v1", DIM, 0.6f, &g, &err), &err);
  int n = 0;
  if (g) CHECK_OK(fr_gallery_people(g, NULL, 0, &n, &err), &err);
  CHECK_MSG(n == THREADS * PEOPLE_PER_THREAD, "%d people, %d enrolled", n, THREADS * PEOPLE_PER_THREAD);
  fr_gallery_close(g);
  char p[96];
  unlink(path);
  snprintf(p, sizeof p, "%s-wal", path);
  unlink(p);
  snprintf(p, sizeof p, "%s-shm", path);
  unlink(p);
  rmdir(dir);
}

int main(void) {
  test_loading();
  test_decoding();
  test_shared_pool();
  test_galleries();
  return check_summary();
}
