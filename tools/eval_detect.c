/*
 * eval_detect.c - `facerec eval detect`: how often a detector finds the face
 * of a one-face-per-image data set such as LFW.
 *
 * Every image under --root (recursively; .jpg, .jpeg, .png, .pgm, .ppm) is
 * run through the detector alone. LFW's images are 250x250 crops centred on
 * the person the folder is named after, so an image counts as detected when
 * some face's box centre lies within 20% of the image's width of the
 * image's centre horizontally and within 20% of its height vertically (a
 * 100-pixel square in the middle of an LFW image). The report also counts
 * the images where the detector found nothing, several faces, or faces only
 * away from the centre, how many detected faces carry the detector's own
 * landmarks (MTCNN and BlazeFace always; the cascades when the eye cascade
 * found both eyes), and the detector's mean time per image (the fr_detect
 * call alone, each image on one thread; decoding is not timed), both wall
 * time and the thread's CPU time, which a busy machine inflates less.
 *
 * Images are shared among --threads workers, each with its own context and
 * no pool, so the detector itself runs single-threaded and the times are
 * comparable between detectors.
 */
#include "eval_detect.h"

#include "cli.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

/* The centre window, as a fraction of each image side either way. */
#define CENTRE_FRACTION 0.2

#define MAX_FACES 64

typedef struct paths {
  char **v;
  int n, cap;
} paths;

static int has_image_ext(const char *name) {
  const char *dot = strrchr(name, '.');
  if (!dot) return 0;
  static const char *const ext[] = {".jpg", ".jpeg", ".png", ".pgm", ".ppm"};
  for (int i = 0; i < 5; i++)
    if (strcasecmp(dot, ext[i]) == 0) return 1;
  return 0;
}

static int add_path(paths *p, const char *s) {
  if (p->n == p->cap) {
    int nc = p->cap ? p->cap * 2 : 1024;
    char **v = realloc(p->v, (size_t)nc * sizeof *v);
    if (!v) return -1;
    p->v = v;
    p->cap = nc;
  }
  p->v[p->n] = strdup(s);
  if (!p->v[p->n]) return -1;
  p->n++;
  return 0;
}

/* Collects the image files under dir; depth guards against link loops. */
static int walk(const char *dir, int depth, paths *p) {
  if (depth > 16) return 0;
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "facerec: cannot open folder %s\n", dir);
    return -1;
  }
  struct dirent *e;
  int rc = 0;
  while (rc == 0 && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (n < 0 || (size_t)n >= sizeof path) continue;
    struct stat sb;
    if (stat(path, &sb) != 0) continue;
    if (S_ISDIR(sb.st_mode)) rc = walk(path, depth + 1, p);
    else if (S_ISREG(sb.st_mode) && has_image_ext(e->d_name)) rc = add_path(p, path);
  }
  closedir(d);
  return rc;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What one image gave. */
typedef struct result {
  int status; /* 0 ok, 1 unreadable, 2 detector error */
  int faces;
  int central;
  double ms, cpu_ms; /* wall and thread CPU time of the detection call */
  int points;        /* a centred face carries the detector's own landmarks */
} result;

typedef struct job {
  const eval_detect_args *a;
  const fr_detector *det;
  const paths *p;
  result *res;
  atomic_int next;
  atomic_int failed_setup;
} job;

static double clock_ms(clockid_t id) {
  struct timespec t;
  clock_gettime(id, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double now_ms(void) { return clock_ms(CLOCK_MONOTONIC); }

static void *worker(void *arg) {
  job *j = arg;
  fr_context *ctx = NULL;
  fr_error err;
  if (fr_context_create(NULL, &ctx, &err) != FR_OK) {
    fprintf(stderr, "facerec: %s\n", err.message);
    atomic_store(&j->failed_setup, 1);
    return NULL;
  }
  fr_face *faces = malloc(MAX_FACES * sizeof *faces);
  if (!faces) {
    atomic_store(&j->failed_setup, 1);
    fr_context_destroy(ctx);
    return NULL;
  }
  for (;;) {
    int i = atomic_fetch_add(&j->next, 1);
    if (i >= j->p->n) break;
    result *r = &j->res[i];
    fr_image img;
    if (fr_image_load(j->p->v[i], NULL, &img, &err) != FR_OK) {
      fprintf(stderr, "facerec: %s\n", err.message);
      r->status = 1;
      continue;
    }
    int n = 0;
    double t0 = now_ms(), c0 = clock_ms(CLOCK_THREAD_CPUTIME_ID);
    fr_status st = fr_detect(ctx, j->det, &img, &j->a->opts, faces, MAX_FACES, &n, &err);
    r->ms = now_ms() - t0;
    r->cpu_ms = clock_ms(CLOCK_THREAD_CPUTIME_ID) - c0;
    if (st != FR_OK) {
      fprintf(stderr, "facerec: %s: %s\n", j->p->v[i], err.message);
      r->status = 2;
    } else {
      r->faces = n;
      double w = img.width, h = img.height;
      for (int k = 0; k < n; k++) {
        double cx = faces[k].box.x + faces[k].box.width / 2, cy = faces[k].box.y + faces[k].box.height / 2;
        if (cx >= w * (0.5 - CENTRE_FRACTION) && cx <= w * (0.5 + CENTRE_FRACTION) &&
            cy >= h * (0.5 - CENTRE_FRACTION) && cy <= h * (0.5 + CENTRE_FRACTION)) {
          r->central = 1;
          if (faces[k].n_landmarks > 0) r->points = 1;
        }
      }
    }
    fr_image_free(&img);
  }
  free(faces);
  fr_context_destroy(ctx);
  return NULL;
}

int eval_detect(const eval_detect_args *a) {
  const char *name = fr_detector_kind_name(a->kind);
  if (!name) return cli_die("eval detect: unknown detector");
  paths p = {0};
  if (walk(a->root, 0, &p) != 0) {
    for (int i = 0; i < p.n; i++) free(p.v[i]);
    free(p.v);
    return 1;
  }
  if (p.n == 0) {
    free(p.v);
    return cli_die("eval detect: no images (.jpg, .jpeg, .png, .pgm, .ppm) under %s", a->root);
  }
  qsort(p.v, (size_t)p.n, sizeof *p.v, cmp_str);

  fr_error err;
  fr_detector *det = NULL;
  if (fr_detector_create(a->kind, a->models, &det, &err) != FR_OK) {
    fprintf(stderr, "facerec: %s\n", err.message);
    for (int i = 0; i < p.n; i++) free(p.v[i]);
    free(p.v);
    return 1;
  }
  job j = {a, det, &p, calloc((size_t)p.n, sizeof(result)), 0, 0};
  int threads = a->threads > 0 ? a->threads : 1;
  if (threads > p.n) threads = p.n;
  pthread_t *tid = calloc((size_t)threads, sizeof *tid);
  int rc = 0;
  double t0 = now_ms();
  if (!j.res || !tid) {
    fprintf(stderr, "facerec: out of memory\n");
    rc = 1;
  } else {
    int started = 0;
    for (; started < threads; started++)
      if (pthread_create(&tid[started], NULL, worker, &j) != 0) break;
    if (started == 0) worker(&j);
    for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
    if (atomic_load(&j.failed_setup)) rc = 1;
  }
  double wall = (now_ms() - t0) / 1e3;

  if (rc == 0) {
    int ok = 0, central = 0, points = 0, none = 0, several = 0, off = 0, unreadable = 0, failed = 0;
    double ms = 0, cpu = 0;
    for (int i = 0; i < p.n; i++) {
      const result *r = &j.res[i];
      if (r->status == 1) {
        unreadable++;
        continue;
      }
      if (r->status == 2) {
        failed++;
        continue;
      }
      ok++;
      ms += r->ms;
      cpu += r->cpu_ms;
      central += r->central;
      points += r->points;
      none += r->faces == 0;
      several += r->faces > 1;
      off += r->faces > 0 && !r->central;
      if (a->verbose && !r->central)
        fprintf(stderr, "%s: %s\n", r->faces ? "off-centre" : "no face", p.v[i]);
    }
    double rate = ok ? 100.0 * central / ok : 0, mean = ok ? ms / ok : 0, mean_cpu = ok ? cpu / ok : 0;
    if (a->json) {
      printf("{\"detector\":");
      cli_json_string(name);
      printf(",\"root\":");
      cli_json_string(a->root);
      printf(",\"images\":%d,\"evaluated\":%d,\"detected\":%d,\"detection_rate\":%.4f,"
             "\"with_landmarks\":%d,"
             "\"none\":%d,\"several\":%d,\"off_centre_only\":%d,\"unreadable\":%d,\"errors\":%d,"
             "\"ms_per_image\":%.3f,\"cpu_ms_per_image\":%.3f,\"threads\":%d,\"seconds\":%.1f,\"centre_fraction\":%.2f}\n",
             p.n, ok, central, rate / 100, points, none, several, off, unreadable, failed, mean, mean_cpu,
             threads, wall, CENTRE_FRACTION);
    } else {
      printf("detector %s on %d images under %s\n", name, p.n, a->root);
      printf("  detected (a face centred within %.0f%% of the image size): %d of %d = %.2f%%\n",
             CENTRE_FRACTION * 100, central, ok, rate);
      printf("  of those, with the detector's own landmarks: %d\n", points);
      printf("  no face: %d, several faces: %d, faces only off-centre: %d\n", none, several, off);
      if (unreadable || failed) printf("  unreadable images: %d, detector errors: %d\n", unreadable, failed);
      printf("  %.2f ms per image, %.2f ms of CPU (detector only, one thread each; %d threads, "
             "%.1f s in all)\n", mean, mean_cpu, threads, wall);
    }
    if (failed || unreadable) rc = 1;
  }
  free(tid);
  free(j.res);
  fr_detector_destroy(det);
  for (int i = 0; i < p.n; i++) free(p.v[i]);
  free(p.v);
  return rc;
}
