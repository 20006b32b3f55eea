/*
 * test_detect.c - SSD-MobileNetV1 and TinyFaceDetector against the boxes and
 * scores the TensorFlow.js peer (face-api 1.7.15) produced on the same images,
 * with both kernel sets, on one and several threads, with every pixel format,
 * plus the NMS helpers and the error paths.
 */
#include "detect/detect_internal.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <pthread.h>
#include <unistd.h>

#include "check.h"
#include "check_json.h"

#define MAX_FACES 64

/* Agreement demanded with the peer. */
#define PEER_MIN_IOU 0.9f
#define PEER_MAX_SCORE_DIFF 0.02f

/* Largest differences seen against the peer, for the summary lines. */
typedef struct stats {
  float min_iou, max_dscore;
  int faces;
} stats;

/* Reads the peer's faces for one detector ("ssd" or "tiny"); returns the
 * count or -1 if the array is missing. */
static int peer_faces(const cJSON *doc, const char *key, fr_face *out, int max) {
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(doc, key);
  if (!cJSON_IsArray(arr)) return -1;
  int n = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, arr) {
    if (n == max) break;
    const cJSON *box = cJSON_GetObjectItemCaseSensitive(e, "box");
    memset(&out[n], 0, sizeof out[n]);
    out[n].score = (float)cJSON_GetObjectItemCaseSensitive(e, "score")->valuedouble;
    out[n].box.x = (float)cJSON_GetObjectItemCaseSensitive(box, "x")->valuedouble;
    out[n].box.y = (float)cJSON_GetObjectItemCaseSensitive(box, "y")->valuedouble;
    out[n].box.width = (float)cJSON_GetObjectItemCaseSensitive(box, "w")->valuedouble;
    out[n].box.height = (float)cJSON_GetObjectItemCaseSensitive(box, "h")->valuedouble;
    n++;
  }
  return n;
}

/* Loads a test image by name from the folders the peer's images come from. */
static fr_status load_image(const char *name, fr_image *img, fr_error *err) {
  static const char *const dirs[] = {"bbt/test/images", "bbt/examples/images"};
  for (int i = 0; i < 2; i++) {
    char rel[512];
    snprintf(rel, sizeof rel, "%s/%s", dirs[i], name);
    FILE *f = fopen(check_data(rel), "rb");
    if (!f) continue;
    fclose(f);
    return fr_image_load(check_data(rel), NULL, img, err);
  }
  snprintf(err->message, sizeof err->message, "image %s not found", name);
  return err->status = FR_E_NOTFOUND;
}

/* Compares our faces with the peer's: same count, and each peer face has one
 * of ours with IoU >= PEER_MIN_IOU and a score within PEER_MAX_SCORE_DIFF. */
static void compare_peer(const char *label, const char *image, const fr_face *ours, int n,
                         const fr_face *peer, int np, stats *st) {
  CHECK_MSG(n == np, "%s %s: %d faces, the peer found %d", label, image, n, np);
  int used[MAX_FACES] = {0};
  for (int i = 0; i < np; i++) {
    int best = -1;
    float best_iou = 0.f;
    for (int j = 0; j < n; j++) {
      float iou = fr__iou(&peer[i].box, &ours[j].box);
      if (!used[j] && iou > best_iou) best_iou = iou, best = j;
    }
    CHECK_MSG(best >= 0 && best_iou >= PEER_MIN_IOU,
              "%s %s: peer face %d (%.1f,%.1f %.1fx%.1f score %.4f) best IoU %.3f", label, image,
              i, peer[i].box.x, peer[i].box.y, peer[i].box.width, peer[i].box.height,
              peer[i].score, best_iou);
    if (best < 0) continue;
    used[best] = 1;
    float ds = fabsf(ours[best].score - peer[i].score);
    CHECK_MSG(ds <= PEER_MAX_SCORE_DIFF, "%s %s: peer face %d score %.4f, ours %.4f", label,
              image, i, peer[i].score, ours[best].score);
    if (best_iou < st->min_iou) st->min_iou = best_iou;
    if (ds > st->max_dscore) st->max_dscore = ds;
    st->faces++;
  }
  for (int j = 1; j < n; j++)
    CHECK_MSG(ours[j].score <= ours[j - 1].score, "%s %s: faces not sorted by score", label,
              image);
  for (int j = 0; j < n; j++) CHECK(ours[j].n_landmarks == 0);
}

/* Two detections of the same image agree to within tol pixels and 1e-4 in
 * score (different kernels or thread counts round differently). */
static void compare_runs(const char *label, const char *image, const fr_face *a, int na,
                         const fr_face *b, int nb, float tol, float worst[2]) {
  CHECK_MSG(na == nb, "%s %s: %d vs %d faces", label, image, na, nb);
  for (int i = 0; i < na && i < nb; i++) {
    float d = fmaxf(fmaxf(fabsf(a[i].box.x - b[i].box.x), fabsf(a[i].box.y - b[i].box.y)),
                    fmaxf(fabsf(a[i].box.width - b[i].box.width),
                          fabsf(a[i].box.height - b[i].box.height)));
    float ds = fabsf(a[i].score - b[i].score);
    CHECK_MSG(d <= tol && ds <= 1e-4f, "%s %s face %d: boxes differ by %g px, scores by %g",
              label, image, i, d, ds);
    if (d > worst[0]) worst[0] = d;
    if (ds > worst[1]) worst[1] = ds;
  }
}

typedef struct detectors {
  fr_detector *ssd, *tiny;               /* default kernels */
  fr_detector *ssd_scalar, *tiny_scalar; /* portable reference kernels */
} detectors;

/* Every image the peer ran on: counts, IoU and scores against the peer, and
 * the scalar kernels against the default ones. */
static void test_peer_outputs(const detectors *d, fr_context *ctx) {
  /* check_data's buffers are recycled, so keep a copy of the folder. */
  char dir[1024];
  snprintf(dir, sizeof dir, "%s", check_data("reference/faceapi/peer-outputs"));
  DIR *dh = opendir(dir);
  CHECK_MSG(dh != NULL, "cannot open %s", dir);
  if (!dh) return;
  stats st_ssd = {1.f, 0.f, 0}, st_tiny = {1.f, 0.f, 0};
  float worst_ssd[2] = {0.f, 0.f}, worst_tiny[2] = {0.f, 0.f};
  int images = 0;
  struct dirent *de;
  while ((de = readdir(dh)) != NULL) {
    size_t len = strlen(de->d_name);
    if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0) continue;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    cJSON *doc = read_json(path);
    CHECK_MSG(doc != NULL, "cannot parse %s", path);
    if (!doc) continue;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(doc, "image");
    fr_error err = {0};
    fr_image img = {0};
    CHECK_OK(cJSON_IsString(name) ? load_image(name->valuestring, &img, &err) : FR_E_FORMAT,
             &err);
    if (!img.data) {
      cJSON_Delete(doc);
      continue;
    }
    images++;
    static fr_face peer[MAX_FACES], ours[MAX_FACES], ref[MAX_FACES];
    /* The scalar kernels are slow (seconds per SSD run, more under the
     * sanitizers), so they are compared on three images: a downscaled JPEG,
     * an upscaled PNG and a large one. */
    int scalar_too = strcmp(name->valuestring, "faces.jpg") == 0 ||
                     strcmp(name->valuestring, "face_rectangular.png") == 0 ||
                     strcmp(name->valuestring, "bbt1.jpg") == 0;
    int np, n = 0, nr = 0;
    /* The peer ran both detectors at face-api's defaults (SSD minConfidence
     * 0.5, Tiny inputSize 416 and scoreThreshold 0.5), as fr_detect does
     * with NULL options. */
    if ((np = peer_faces(doc, "ssd", peer, MAX_FACES)) >= 0) {
      CHECK_OK(fr_detect(ctx, d->ssd, &img, NULL, ours, MAX_FACES, &n, &err), &err);
      compare_peer("ssd", name->valuestring, ours, n, peer, np, &st_ssd);
      if (scalar_too) {
        CHECK_OK(fr_detect(ctx, d->ssd_scalar, &img, NULL, ref, MAX_FACES, &nr, &err), &err);
        compare_runs("ssd scalar", name->valuestring, ours, n, ref, nr, 1e-3f, worst_ssd);
      }
    }
    if ((np = peer_faces(doc, "tiny", peer, MAX_FACES)) >= 0) {
      CHECK_OK(fr_detect(ctx, d->tiny, &img, NULL, ours, MAX_FACES, &n, &err), &err);
      compare_peer("tiny", name->valuestring, ours, n, peer, np, &st_tiny);
      if (scalar_too) {
        CHECK_OK(fr_detect(ctx, d->tiny_scalar, &img, NULL, ref, MAX_FACES, &nr, &err), &err);
        compare_runs("tiny scalar", name->valuestring, ours, n, ref, nr, 1e-3f, worst_tiny);
      }
    }
    fr_image_free(&img);
    cJSON_Delete(doc);
  }
  closedir(dh);
  CHECK_MSG(images >= 14, "only %d peer images", images);
  printf("ssd vs peer: %d images, %d faces, min IoU %.4f, max score diff %.4f\n", images,
         st_ssd.faces, st_ssd.min_iou, st_ssd.max_dscore);
  printf("tiny@416 vs peer: %d images, %d faces, min IoU %.4f, max score diff %.4f\n", images,
         st_tiny.faces, st_tiny.min_iou, st_tiny.max_dscore);
  printf("scalar vs %s kernels (3 images): ssd boxes within %.2g px, scores %.2g; "
         "tiny boxes within %.2g px, scores %.2g\n",
         fr_kernels_name(), worst_ssd[0], worst_ssd[1], worst_tiny[0], worst_tiny[1]);
}

/* faces.jpg: the six faces, and the results do not depend on the pixel
 * format, the row stride, the thread count or repeated runs. */
static void test_faces_jpg(const detectors *d, fr_context *ctx) {
  fr_error err = {0};
  fr_image rgb = {0};
  CHECK_OK(fr_image_load(check_data("bbt/test/images/faces.jpg"), NULL, &rgb, &err), &err);
  if (!rgb.data) return;
  fr_face base[2][MAX_FACES], got[MAX_FACES];
  int nb[2] = {0, 0}, n = 0;
  fr_detector *dets[2] = {d->ssd, d->tiny};
  const char *names[2] = {"ssd", "tiny"};
  for (int k = 0; k < 2; k++) {
    CHECK_OK(fr_detect(ctx, dets[k], &rgb, NULL, base[k], MAX_FACES, &nb[k], &err), &err);
    CHECK_MSG(nb[k] == 6, "%s: faces.jpg has 6 faces, found %d", names[k], nb[k]);
    /* Timing: the second run, once the plan exists, on one thread. */
    double t0 = fr__now();
    CHECK_OK(fr_detect(ctx, dets[k], &rgb, NULL, got, MAX_FACES, &n, &err), &err);
    double dt = fr__now() - t0;
    printf("%s on faces.jpg (710x473), 1 thread, %s kernels: %.1f ms\n",
           k ? "tiny@416" : "ssd", fr_kernels_name(), dt * 1e3);
    CHECK_MSG(n == nb[k] && memcmp(got, base[k], (size_t)n * sizeof *got) == 0,
              "%s: a second run differs", names[k]);
  }

  /* Other pixel formats carry the same RGB values, so the same result. */
  static const fr_pixel_format formats[] = {FR_PIXEL_BGR, FR_PIXEL_RGBA, FR_PIXEL_BGRA};
  for (int f = 0; f < 3; f++) {
    fr_image conv = {0};
    CHECK_OK(fr_image_convert(&rgb, formats[f], &conv, &err), &err);
    if (!conv.data) continue;
    for (int k = 0; k < 2; k++) {
      CHECK_OK(fr_detect(ctx, dets[k], &conv, NULL, got, MAX_FACES, &n, &err), &err);
      CHECK_MSG(n == nb[k] && memcmp(got, base[k], (size_t)n * sizeof *got) == 0,
                "%s: format %d differs from RGB", names[k], (int)formats[f]);
    }
    fr_image_free(&conv);
  }
  /* A padded stride over a borrowed buffer. */
  int stride = rgb.width * 3 + 13;
  uint8_t *buf = calloc((size_t)stride * rgb.height, 1);
  CHECK(buf != NULL);
  if (buf) {
    for (int y = 0; y < rgb.height; y++)
      memcpy(buf + (size_t)y * stride, rgb.data + (size_t)y * rgb.stride, (size_t)rgb.width * 3);
    fr_image w;
    CHECK_OK(fr_image_wrap(buf, rgb.width, rgb.height, stride, FR_PIXEL_RGB, &w, &err), &err);
    for (int k = 0; k < 2; k++) {
      CHECK_OK(fr_detect(ctx, dets[k], &w, NULL, got, MAX_FACES, &n, &err), &err);
      CHECK_MSG(n == nb[k] && memcmp(got, base[k], (size_t)n * sizeof *got) == 0,
                "%s: padded stride differs", names[k]);
    }
    free(buf);
  }
  /* Grayscale still finds faces (face-api would see R = G = B). */
  fr_image gray = {0};
  CHECK_OK(fr_image_convert(&rgb, FR_PIXEL_GRAY, &gray, &err), &err);
  if (gray.data) {
    CHECK_OK(fr_detect(ctx, d->ssd, &gray, NULL, got, MAX_FACES, &n, &err), &err);
    CHECK_MSG(n >= 4, "ssd: gray faces.jpg gives %d faces", n);
    fr_image_free(&gray);
  }

  /* A pool of 4 threads splits the layers differently: same faces. */
  fr_pool *pool = NULL;
  fr_context *pctx = NULL;
  CHECK_OK(fr_pool_create(4, &pool, &err), &err);
  CHECK_OK(fr_context_create(pool, &pctx, &err), &err);
  if (pctx) {
    float worst[2] = {0.f, 0.f};
    for (int k = 0; k < 2; k++) {
      CHECK_OK(fr_detect(pctx, dets[k], &rgb, NULL, got, MAX_FACES, &n, &err), &err);
      compare_runs("4 threads", names[k], base[k], nb[k], got, n, 1e-3f, worst);
    }
    printf("4 threads vs 1: boxes within %.2g px, scores %.2g\n", worst[0], worst[1]);
  }
  fr_context_destroy(pctx);
  fr_pool_destroy(pool);

  /* Options: max_faces keeps the best ones; a higher min_score drops the
   * weak ones; max_out truncates; other Tiny input sizes still work. */
  fr_detect_options o = {0};
  o.max_faces = 2;
  CHECK_OK(fr_detect(ctx, d->ssd, &rgb, &o, got, MAX_FACES, &n, &err), &err);
  CHECK(n == 2 && memcmp(got, base[0], 2 * sizeof *got) == 0);
  CHECK_OK(fr_detect(ctx, d->ssd, &rgb, NULL, got, 3, &n, &err), &err);
  CHECK(n == 3 && memcmp(got, base[0], 3 * sizeof *got) == 0);
  o.max_faces = 0;
  o.min_score = 0.8f;
  CHECK_OK(fr_detect(ctx, d->ssd, &rgb, &o, got, MAX_FACES, &n, &err), &err);
  int strong = 0;
  for (int i = 0; i < nb[0]; i++) strong += base[0][i].score > 0.8f;
  CHECK_MSG(n == strong, "min_score 0.8: %d faces, expected %d", n, strong);
  CHECK_OK(fr_detect(ctx, d->ssd, &rgb, NULL, got, 0, &n, &err), &err);
  CHECK(n == 0);
  static const int sizes[] = {128, 224, 320, 512, 608};
  for (int i = 0; i < 5; i++) {
    fr_detect_options t = {0};
    t.input_size = sizes[i];
    CHECK_OK(fr_detect(ctx, d->tiny, &rgb, &t, got, MAX_FACES, &n, &err), &err);
    /* Below 320 the faces shrink to a cell or less and may be missed. */
    if (sizes[i] >= 320) CHECK_MSG(n >= 5, "tiny@%d: %d faces", sizes[i], n);
    printf("tiny@%d on faces.jpg: %d faces\n", sizes[i], n);
  }
  fr_image_free(&rgb);
}

typedef struct thread_arg {
  const fr_detector *det;
  const fr_image *img;
  fr_face faces[MAX_FACES];
  int n;
  fr_status st;
} thread_arg;

static void *detect_thread(void *p) {
  thread_arg *a = p;
  fr_context *ctx = NULL;
  fr_error err;
  a->st = fr_context_create(NULL, &ctx, &err);
  for (int i = 0; i < 3 && a->st == FR_OK; i++)
    a->st = fr_detect(ctx, a->det, a->img, NULL, a->faces, MAX_FACES, &a->n, &err);
  fr_context_destroy(ctx);
  return NULL;
}

/* One detector shared by threads with their own contexts. */
static void test_shared(const detectors *d) {
  fr_error err = {0};
  fr_image img = {0};
  CHECK_OK(fr_image_load(check_data("bbt/examples/images/bbt3.jpg"), NULL, &img, &err), &err);
  if (!img.data) return;
  thread_arg args[4];
  pthread_t th[4];
  for (int i = 0; i < 4; i++) {
    memset(&args[i], 0, sizeof args[i]);
    args[i].det = i % 2 ? d->tiny : d->ssd;
    args[i].img = &img;
    CHECK(pthread_create(&th[i], NULL, detect_thread, &args[i]) == 0);
  }
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < 4; i++) CHECK(args[i].st == FR_OK && args[i].n == 5);
  for (int i = 2; i < 4; i++)
    CHECK(args[i].n == args[i - 2].n &&
          memcmp(args[i].faces, args[i - 2].faces, (size_t)args[i].n * sizeof(fr_face)) == 0);
  fr_image_free(&img);
}

static void test_nms(void) {
  fr_rect a = {0, 0, 10, 10}, b = {5, 0, 10, 10}, c = {20, 20, 5, 5}, z = {3, 3, 0, 4};
  CHECK(fabsf(fr__iou(&a, &a) - 1.f) < 1e-6f);
  CHECK(fabsf(fr__iou(&a, &b) - 50.f / 150.f) < 1e-6f);
  CHECK(fr__iou(&a, &c) == 0.f);
  CHECK(fr__iou(&a, &z) == 0.f);
  fr_rect flipped = {10, 10, -10, -10}; /* the same square given from its far corner */
  CHECK(fabsf(fr__iou(&a, &flipped) - 1.f) < 1e-6f);

  fr_face f[4];
  memset(f, 0, sizeof f);
  f[0].box = b, f[0].score = 0.6f;
  f[1].box = a, f[1].score = 0.9f;
  f[2].box = c, f[2].score = 0.7f;
  f[3].box = (fr_rect){1, 0, 10, 10}, f[3].score = 0.8f;
  fr__sort_faces(f, 4);
  CHECK(f[0].score == 0.9f && f[1].score == 0.8f && f[2].score == 0.7f && f[3].score == 0.6f);
  int n = fr__nms(f, 4, 0.5f, 0);
  /* (1,0) overlaps (0,0) at IoU 0.82: gone; (5,0) at 0.33: kept. */
  CHECK(n == 3 && f[0].score == 0.9f && f[1].score == 0.7f && f[2].score == 0.6f);
  CHECK(fr__nms(f, 3, 0.2f, 0) == 2);
  CHECK(fr__nms(f, 2, 0.5f, 1) == 1);
  CHECK(fr__nms(NULL, 0, 0.5f, 0) == 0);
}

/* The models folder as an absolute path (symlinks are made from /tmp). */
static const char *models_abs(void) {
  static char buf[1024];
  const char *m = check_models_dir();
  if (m[0] == '/') return m;
  char cwd[512];
  if (!getcwd(cwd, sizeof cwd)) return m;
  snprintf(buf, sizeof buf, "%s/%s", cwd, m);
  return buf;
}

static void test_errors(const detectors *d, fr_context *ctx) {
  fr_error err = {0};
  fr_face faces[4];
  int n = 7;
  CHECK(fr_detect(ctx, d->ssd, NULL, NULL, faces, 4, &n, &err) == FR_E_INVALID && n == 0);
  CHECK(strstr(err.message, "NULL") != NULL);
  uint8_t px[12] = {0};
  fr_image img = {px, 0, 2, 6, FR_PIXEL_RGB};
  CHECK(fr_detect(ctx, d->ssd, &img, NULL, faces, 4, &n, &err) == FR_E_INVALID);
  CHECK(strstr(err.message, "0x2") != NULL);
  img = (fr_image){px, 2, 2, 6, (fr_pixel_format)9};
  CHECK(fr_detect(ctx, d->tiny, &img, NULL, faces, 4, &n, &err) == FR_E_INVALID);
  CHECK(strstr(err.message, "format") != NULL);
  img.format = FR_PIXEL_RGB;
  CHECK(fr_detect(ctx, d->ssd, &img, NULL, NULL, 4, &n, &err) == FR_E_INVALID);
  CHECK(fr_detect(ctx, d->ssd, &img, NULL, faces, -1, &n, &err) == FR_E_INVALID);
  CHECK(fr_detect(ctx, d->ssd, &img, NULL, faces, 4, NULL, &err) == FR_E_INVALID);
  CHECK(fr_detect(NULL, d->ssd, &img, NULL, faces, 4, &n, &err) == FR_E_INVALID);
  CHECK(fr_detect(ctx, NULL, &img, NULL, faces, 4, &n, &err) == FR_E_INVALID);
  fr_detect_options o = {0};
  o.input_size = 100;
  CHECK(fr_detect(ctx, d->tiny, &img, &o, faces, 4, &n, &err) == FR_E_INVALID);
  CHECK(strstr(err.message, "multiple of 32") != NULL);
  /* A 2x2 image is legal and simply has no face. */
  CHECK_OK(fr_detect(ctx, d->ssd, &img, NULL, faces, 4, &n, &err), &err);
  CHECK(n == 0);
  CHECK_OK(fr_detect(ctx, d->tiny, &img, NULL, faces, 4, &n, &err), &err);
  CHECK(n == 0);

  fr_detector *det = (fr_detector *)&err; /* must be reset to NULL */
  fr_status st = fr_detector_create(FR_DETECTOR_SSD, "/nonexistent/models", &det, &err);
  CHECK_MSG(st == FR_E_NOTFOUND || st == FR_E_MODEL, "status %d", st);
  CHECK(det == NULL);
  CHECK_MSG(strstr(err.message, "/nonexistent/models/ssd_mobilenetv1_model") != NULL, "%s",
            err.message);
  st = fr_detector_create(FR_DETECTOR_TINY, "/nonexistent", &det, NULL);
  CHECK(st == FR_E_NOTFOUND || st == FR_E_MODEL);
  /* The wrong model's weights under the SSD's manifest name: it loads, but
   * the tensors the network needs are missing. */
  char tmp[] = "/tmp/test_detect_XXXXXX", path[512], target[512];
  if (mkdtemp(tmp)) {
    snprintf(path, sizeof path, "%s/%s", tmp, FR__SSD_MANIFEST);
    snprintf(target, sizeof target, "%s/%s", models_abs(), FR__TINY_MANIFEST);
    cJSON *m = read_json(target);
    char *text = m ? cJSON_PrintUnformatted(m) : NULL;
    FILE *f = text ? fopen(path, "wb") : NULL;
    if (f) {
      fputs(text, f);
      fclose(f);
    }
    snprintf(target, sizeof target, "%s/tiny_face_detector_model.bin", models_abs());
    char link[512];
    snprintf(link, sizeof link, "%s/tiny_face_detector_model.bin", tmp);
    CHECK(f != NULL && symlink(target, link) == 0);
    st = fr_detector_create(FR_DETECTOR_SSD, tmp, &det, &err);
    CHECK_MSG(st == FR_E_MODEL && det == NULL, "status %d", st);
    CHECK_MSG(strstr(err.message, "MobilenetV1") != NULL, "%s", err.message);
    unlink(link);
    unlink(path);
    rmdir(tmp);
    free(text);
    cJSON_Delete(m);
  }
  CHECK(fr_detector_create((fr_detector_kind)99, check_models_dir(), &det, &err) == FR_E_INVALID);
  CHECK(fr_detector_create(FR_DETECTOR_SSD, check_models_dir(), NULL, &err) == FR_E_INVALID);
  fr_detector_destroy(NULL);
}

int main(void) {
  fr_error err = {0};
  const char *models = check_models_dir();
  detectors d = {0};
  CHECK_OK(fr_detector_create(FR_DETECTOR_SSD, models, &d.ssd, &err), &err);
  CHECK_OK(fr_detector_create(FR_DETECTOR_TINY, models, &d.tiny, &err), &err);
  CHECK_OK(fr__detector_create_with_kernels(FR_DETECTOR_SSD, models, &fr__kernels_scalar,
                                            &d.ssd_scalar, &err),
           &err);
  CHECK_OK(fr__detector_create_with_kernels(FR_DETECTOR_TINY, models, &fr__kernels_scalar,
                                            &d.tiny_scalar, &err),
           &err);
  fr_context *ctx = NULL;
  CHECK_OK(fr_context_create(NULL, &ctx, &err), &err);
  test_nms();
  if (d.ssd && d.tiny && d.ssd_scalar && d.tiny_scalar && ctx) {
    test_faces_jpg(&d, ctx);
    test_peer_outputs(&d, ctx);
    test_shared(&d);
    test_errors(&d, ctx);
  }
  fr_context_destroy(ctx);
  fr_detector_destroy(d.ssd);
  fr_detector_destroy(d.tiny);
  fr_detector_destroy(d.ssd_scalar);
  fr_detector_destroy(d.tiny_scalar);
  return check_summary();
}
