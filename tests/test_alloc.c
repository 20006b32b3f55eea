/*
 * test_alloc.c - fr_set_allocator: with a tagging allocator installed before
 * anything else, a tour of the library (decoding, every model kind through
 * a pipeline and the detectors, a batch, a gallery on disk with the SVM,
 * forget and vacuum) allocates through it, frees every block it took, and
 * never hands it a block it did not make (each block carries a tag that
 * free checks).
 */
#include "check.h"

#include <stdint.h>
#include <unistd.h>

#include "facerec.h"

#define TAG 0x6672616C6C6F63ull /* "fralloc" */

typedef struct counts {
  long allocs, frees, foreign, live;
} counts;

/* A block is [tag][size] then the caller's bytes, 16-byte aligned. */
static void *t_malloc(size_t size, void *user) {
  counts *c = user;
  uint64_t *b = malloc(size + 16);
  if (!b) return NULL;
  b[0] = TAG, b[1] = size;
  __atomic_add_fetch(&c->allocs, 1, __ATOMIC_RELAXED);
  __atomic_add_fetch(&c->live, 1, __ATOMIC_RELAXED);
  return b + 2;
}

static int ours(void *p, counts *c) {
  uint64_t *b = (uint64_t *)p - 2;
  if (b[0] == TAG) return 1;
  __atomic_add_fetch(&c->foreign, 1, __ATOMIC_RELAXED);
  return 0;
}

static void *t_realloc(void *p, size_t size, void *user) {
  counts *c = user;
  if (!ours(p, c)) return NULL;
  uint64_t *b = realloc((uint64_t *)p - 2, size + 16);
  if (!b) return NULL;
  b[1] = size;
  return b + 2;
}

static void t_free(void *p, void *user) {
  counts *c = user;
  if (!ours(p, c)) return;
  ((uint64_t *)p - 2)[0] = 0; /* a second free of it would be foreign */
  __atomic_add_fetch(&c->frees, 1, __ATOMIC_RELAXED);
  __atomic_sub_fetch(&c->live, 1, __ATOMIC_RELAXED);
  free((uint64_t *)p - 2);
}

static counts n;

static void tour(void) {
  fr_error err = {0};
  fr_image img = {0};
  CHECK_OK(fr_image_load(check_data("bbt/test/images/faces.jpg"), NULL, &img, &err), &err);
  fr_image png = {0};
  CHECK_OK(fr_image_load(check_data("bbt/test/images/face1.png"), NULL, &png, &err), &err);
  fr_pool *pool = NULL;
  CHECK_OK(fr_pool_create(2, &pool, &err), &err);
  fr_context *ctx = NULL;
  CHECK_OK(fr_context_create(pool, &ctx, &err), &err);
  /* Two pipelines: face-api's TF.js networks, and MTCNN with MobileFaceNet (TFLite). */
  fr_pipeline_options o[2];
  fr_pipeline_options_default(&o[0]);
  fr_pipeline_options_default(&o[1]);
  o[1].detector = FR_DETECTOR_MTCNN, o[1].embedder = FR_EMBEDDER_MOBILEFACENET;
  for (int k = 0; k < 2; k++) {
    fr_pipeline *pipe = NULL;
    CHECK_OK(fr_pipeline_create(&o[k], check_models_dir(), &pipe, &err), &err);
    if (!pipe || !ctx || !img.data) {
      fr_pipeline_destroy(pipe);
      continue;
    }
    fr_face faces[16];
    int dim = fr_pipeline_dim(pipe), nf = 0;
    float *desc = calloc(16, (size_t)dim * sizeof(float));
    CHECK_OK(fr_pipeline_run(ctx, pipe, &img, faces, desc, 16, &nf, &err), &err);
    CHECK(nf >= 3);
    CHECK_OK(fr_pipeline_describe_faces(ctx, pipe, &img, 1, faces, NULL, nf, desc, &err), &err);
    if (k == 0) {
      char path[] = "/tmp/facerec-alloc-XXXXXX";
      int fd = mkstemp(path);
      if (fd >= 0) close(fd), unlink(path);
      char model[256];
      CHECK_OK(fr_pipeline_model_id(&o[k], model, sizeof model, &err), &err);
      fr_gallery *g = NULL;
      CHECK_OK(fr_gallery_open(path, model, dim, 0.6f, &g, &err), &err);
      for (int i = 0; g && i < nf && i < 3; i++) {
        char name[16], hash[65];
        snprintf(name, sizeof name, "p%d", i);
        snprintf(hash, sizeof hash, "%064d", i);
        fr_gallery_face gf = {desc + (size_t)i * dim, hash, 0, faces[i].box};
        int added = 0;
        CHECK_OK(fr_gallery_enroll(g, name, NULL, &gf, 1, &added, &err), &err);
      }
      fr_identify_options io;
      fr_identify_options_default(&io);
      io.classifier = FR_CLASSIFIER_SVM;
      fr_match m;
      int nt = 0, known = 0;
      if (g) CHECK_OK(fr_gallery_identify(g, desc, &io, &m, 1, &nt, &known, &err), &err);
      int removed = 0;
      if (g) CHECK_OK(fr_gallery_forget(g, "p1", &removed, &err), &err);
      if (g) CHECK_OK(fr_gallery_vacuum(g, &err), &err);
      fr_gallery_close(g);
      char side[300];
      unlink(path);
      snprintf(side, sizeof side, "%s-wal", path), unlink(side);
      snprintf(side, sizeof side, "%s-shm", path), unlink(side);
    }
    free(desc);
    fr_pipeline_destroy(pipe);
  }
  /* The other detectors, one run each. */
  static const fr_detector_kind kinds[] = {FR_DETECTOR_TINY, FR_DETECTOR_BLAZEFACE, FR_DETECTOR_HAAR,
                                           FR_DETECTOR_LBP};
  for (int k = 0; k < 4 && ctx && img.data; k++) {
    fr_detector *det = NULL;
    CHECK_OK(fr_detector_create(kinds[k], check_models_dir(), &det, &err), &err);
    fr_face faces[16];
    int nf = 0;
    if (det) CHECK_OK(fr_detect(ctx, det, &img, NULL, faces, 16, &nf, &err), &err);
    fr_detector_destroy(det);
  }
  fr_context_destroy(ctx);
  fr_pool_destroy(pool);
  fr_image_free(&img);
  fr_image_free(&png);
}

int main(void) {
  fr_error err = {0};
  fr_allocator a = {t_malloc, t_realloc, t_free, &n};
  fr_allocator bad = {t_malloc, NULL, t_free, &n};
  CHECK(fr_set_allocator(&bad, &err) == FR_E_INVALID);
  CHECK_OK(fr_set_allocator(&a, &err), &err);
  tour();
  CHECK_OK(fr_set_allocator(NULL, &err), &err);
  printf("allocator: %ld blocks allocated, %ld freed, %ld still live, %ld foreign frees\n", n.allocs, n.frees,
         n.live, n.foreign);
  CHECK_MSG(n.allocs > 1000, "only %ld allocations went through the allocator", n.allocs);
  CHECK_MSG(n.live == 0, "%ld blocks leaked", n.live);
  CHECK_MSG(n.foreign == 0, "%ld blocks not from the allocator were given back to it", n.foreign);
  return check_summary();
}
