/*
 * frames.c - the pipeline on raw RGB frames in the caller's own buffers, from
 * two threads sharing one loaded pipeline.
 *
 *   frames PHOTO [FRAMES]
 *
 * This is the shape of a video application: the models are loaded once and
 * shared (a loaded fr_pipeline is immutable), while every thread owns what
 * changes per frame: its frame buffer, an fr_context whose working memory is
 * planned on the first frame and reused for every later one, and a small
 * thread pool of its own. Frames are handed over as raw pixels with
 * fr_image_wrap(), which copies nothing and encodes nothing.
 *
 * A real program would fill the buffer from a camera; here a "camera" pans
 * across PHOTO, 8 pixels per frame. Both threads process the same FRAMES
 * frames (default 4), in opposite orders so that they run different frames at
 * the same time, and the program checks that they agree face for face: two
 * threads sharing models must not disturb each other.
 *
 * Exit status: 0 the threads agree, 1 they do not, 2 an error.
 *
 * Build against an installed facerec:
 *   cc frames.c $(pkg-config --cflags --libs facerec) -pthread -o frames
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include <facerec.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define THREADS 2
#define MAX_FACES 16
#define MAX_FRAMES 64
#define PAN_STEP 8

/* What a thread found in one frame. */
typedef struct frame_result {
  int n;
  fr_face faces[MAX_FACES];
  float *desc; /* MAX_FACES * dim */
} frame_result;

typedef struct worker {
  int index;
  const fr_pipeline *pipe; /* shared by both threads, read-only */
  const fr_image *scene;   /* shared, read-only */
  int frames;
  frame_result results[MAX_FRAMES];
  double seconds; /* for every frame but the first */
  fr_status status;
  fr_error err;
} worker;

/*
 * The stand-in camera: writes frame k into the caller's buffer, the scene
 * shifted right by k * PAN_STEP pixels with a gray band entering on the left.
 * The buffer's rows are padded to 64 bytes, as capture APIs often do, which
 * the stride passed to fr_image_wrap() describes.
 */
static void capture(const fr_image *scene, int k, uint8_t *buf, int stride) {
  int shift = k * PAN_STEP < scene->width ? k * PAN_STEP : scene->width;
  for (int y = 0; y < scene->height; y++) {
    uint8_t *row = buf + (size_t)y * stride;
    memset(row, 128, (size_t)shift * 3);
    memcpy(row + (size_t)shift * 3, scene->data + (size_t)y * scene->stride,
           (size_t)(scene->width - shift) * 3);
  }
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *run_worker(void *arg) {
  worker *w = arg;
  fr_pool *pool = NULL;
  fr_context *ctx = NULL;
  uint8_t *buf = NULL;
  int w_px = w->scene->width, h_px = w->scene->height;
  int stride = (w_px * 3 + 63) / 64 * 64;
  /* One pool and one context per thread: a context must never be used by two
   * threads at once, and a pool runs one job at a time. */
  w->status = fr_pool_create(2, &pool, &w->err);
  if (w->status == FR_OK) w->status = fr_context_create(pool, &ctx, &w->err);
  if (w->status == FR_OK && !(buf = malloc((size_t)stride * h_px))) {
    w->status = FR_E_NOMEM;
    snprintf(w->err.message, sizeof w->err.message, "out of memory for the frame buffer");
  }
  double t0 = 0;
  for (int i = 0; i < w->frames && w->status == FR_OK; i++) {
    if (i == 1) t0 = now(); /* the first frame also plans the context's memory */
    int k = w->index == 0 ? i : w->frames - 1 - i;
    capture(w->scene, k, buf, stride);
    fr_image frame;
    w->status = fr_image_wrap(buf, w_px, h_px, stride, FR_PIXEL_RGB, &frame, &w->err);
    if (w->status != FR_OK) break;
    frame_result *r = &w->results[k];
    w->status = fr_pipeline_run(ctx, w->pipe, &frame, r->faces, r->desc, MAX_FACES, &r->n, &w->err);
  }
  if (w->frames > 1) w->seconds = now() - t0;
  free(buf);
  fr_context_destroy(ctx);
  fr_pool_destroy(pool);
  return NULL;
}

/* |a - b| <= tol, without libm (which a shared-library build of this example
 * would otherwise have to name on its link line). */
static int close_to(float a, float b, float tol) { return a - b <= tol && b - a <= tol; }

/* Do two threads' results for one frame match? Same faces, same boxes, same
 * descriptors, up to float rounding. */
static int same_result(const frame_result *a, const frame_result *b, int dim) {
  if (a->n != b->n) return 0;
  for (int i = 0; i < a->n; i++) {
    const fr_rect *p = &a->faces[i].box, *q = &b->faces[i].box;
    if (!close_to(p->x, q->x, 1e-3f) || !close_to(p->y, q->y, 1e-3f) ||
        !close_to(p->width, q->width, 1e-3f) || !close_to(p->height, q->height, 1e-3f))
      return 0;
    if (fr_distance(a->desc + (size_t)i * dim, b->desc + (size_t)i * dim, dim) > 1e-4f) return 0;
  }
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 2 && argc != 3) {
    fprintf(stderr, "usage: frames PHOTO [FRAMES]\n");
    return 2;
  }
  int frames = argc == 3 ? atoi(argv[2]) : 4;
  if (frames < 1 || frames > MAX_FRAMES) {
    fprintf(stderr, "frames: FRAMES must be 1..%d\n", MAX_FRAMES);
    return 2;
  }
  fr_error err = {0};
  fr_image photo = {0}, scene = {0};
  fr_pipeline *pipe = NULL;
  fr_pipeline_options opts;
  fr_pipeline_options_default(&opts);
  static worker workers[THREADS]; /* large: kept off the stack */
  int rc = 2, dim = 0;
  if (fr_image_load(argv[1], NULL, &photo, &err) != FR_OK ||
      fr_image_convert(&photo, FR_PIXEL_RGB, &scene, &err) != FR_OK ||
      fr_pipeline_create(&opts, NULL, &pipe, &err) != FR_OK) {
    fprintf(stderr, "frames: %s\n", err.message);
    goto done;
  }
  dim = fr_pipeline_dim(pipe);
  for (int t = 0; t < THREADS; t++) {
    workers[t] = (worker){.index = t, .pipe = pipe, .scene = &scene, .frames = frames};
    for (int k = 0; k < frames; k++) {
      workers[t].results[k].desc = calloc((size_t)MAX_FACES * dim, sizeof(float));
      if (!workers[t].results[k].desc) goto done;
    }
  }
  pthread_t threads[THREADS];
  int started = 0;
  for (; started < THREADS; started++)
    if (pthread_create(&threads[started], NULL, run_worker, &workers[started]) != 0) break;
  for (int t = 0; t < started; t++) pthread_join(threads[t], NULL);
  if (started < THREADS) {
    fprintf(stderr, "frames: cannot start a thread\n");
    goto done;
  }
  for (int t = 0; t < THREADS; t++)
    if (workers[t].status != FR_OK) {
      fprintf(stderr, "frames: thread %d: %s\n", t, workers[t].err.message);
      goto done;
    }
  rc = 0;
  for (int k = 0; k < frames; k++) {
    int agree = same_result(&workers[0].results[k], &workers[1].results[k], dim);
    printf("frame %d: %d face%s, threads %s\n", k, workers[0].results[k].n,
           workers[0].results[k].n == 1 ? "" : "s", agree ? "agree" : "DISAGREE");
    if (!agree) rc = 1;
  }
  for (int t = 0; t < THREADS && frames > 1; t++)
    printf("thread %d: %.1f ms per frame after the first\n", t,
           1000 * workers[t].seconds / (frames - 1));
  printf("%s\n", rc == 0 ? "ok: both threads found the same faces in every frame"
                         : "FAILED: the threads disagree");
done:
  for (int t = 0; t < THREADS; t++)
    for (int k = 0; k < MAX_FRAMES; k++) free(workers[t].results[k].desc);
  fr_pipeline_destroy(pipe);
  fr_image_free(&scene);
  fr_image_free(&photo);
  return rc;
}
