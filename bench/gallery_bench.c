/*
 * gallery_bench.c - latency of an exact top-1 gallery search over a large
 * gallery (default 1,000,000 random 128-d descriptors), on one thread.
 *
 * It fills an in-memory gallery through the public API, lets the first search
 * load the view and build the int8 first-pass copy (timed on its own), then
 * times fr_gallery_search(k = 1) for two kinds of query: random vectors (the
 * hardest case for the first pass: the nearest row is barely nearer than the
 * rest) and perturbed gallery rows (a person seen again). For scale it also
 * times a plain fp32 scan of the same matrix with the same kernel, and checks
 * every search answer against that scan: a wrong answer fails the run.
 *
 * usage: gallery_bench [--rows N] [--queries Q] [--json FILE]
 */
#include "facerec.h"
#include "gallery/gallery_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DIM 128
#define PER_PERSON 1000

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static uint64_t rng = 0x243F6A8885A308D3ull;
static float gauss(void) {
  /* Sum of four uniforms: close enough to normal for test vectors. */
  float s = 0;
  for (int i = 0; i < 4; i++) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    s += (float)(rng >> 40) / 16777216.0f - 0.5f;
  }
  return s;
}

/* Random directions of about the length of FaceRecognitionNet descriptors. */
static void random_desc(float *v) {
  double n = 0;
  for (int d = 0; d < DIM; d++) {
    v[d] = gauss();
    n += (double)v[d] * v[d];
  }
  for (int d = 0; d < DIM; d++) v[d] = (float)(v[d] / sqrt(n) * 0.9);
}

/* CPU time of this thread: on a machine shared with other work, wall-clock
 * figures include time the thread spent waiting for a core; both are shown. */
static double cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef struct timing {
  double median, mean, p90;
} timing;

static timing summarise(double *t, int n) {
  timing r = {0, 0, 0};
  qsort(t, (size_t)n, sizeof *t, cmp_double);
  for (int i = 0; i < n; i++) r.mean += t[i] / n;
  r.median = t[n / 2];
  r.p90 = t[(n * 9) / 10];
  return r;
}

int main(int argc, char **argv) {
  long rows = 1000000;
  int queries = 100;
  const char *json = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc) rows = atol(argv[++i]);
    else if (strcmp(argv[i], "--queries") == 0 && i + 1 < argc) queries = atoi(argv[++i]);
    else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) json = argv[++i];
    else {
      fprintf(stderr, "usage: gallery_bench [--rows N] [--queries Q] [--json FILE]\n");
      return 2;
    }
  }
  if (rows < PER_PERSON || queries < 1) {
    fprintf(stderr, "gallery_bench: --rows must be at least %d\n", PER_PERSON);
    return 2;
  }
  rows -= rows % PER_PERSON;
  int stride = fr__gallery_stride(DIM);
  float *copy = fr__aligned_calloc((size_t)rows * stride * sizeof(float));
  float *q = fr__aligned_calloc((size_t)stride * sizeof(float));
  float *dist = malloc((size_t)rows * sizeof(float));
  fr_gallery_face *faces = calloc(PER_PERSON, sizeof *faces);
  double *t_rand = malloc((size_t)queries * sizeof(double));
  double *t_near = malloc((size_t)queries * sizeof(double));
  double *t_scan = malloc((size_t)queries * sizeof(double));
  double *c_rand = malloc((size_t)queries * sizeof(double));
  double *c_near = malloc((size_t)queries * sizeof(double));
  double *c_scan = malloc((size_t)queries * sizeof(double));
  if (!copy || !q || !dist || !faces || !t_rand || !t_near || !t_scan || !c_rand || !c_near || !c_scan) {
    fprintf(stderr, "gallery_bench: out of memory\n");
    return 1;
  }
  fr_error err = {0};
  fr_gallery *g = NULL;
  if (fr_gallery_open(":memory:", "bench/random", DIM, 0.6f, &g, &err) != FR_OK) {
    fprintf(stderr, "gallery_bench: %s\n", err.message);
    return 1;
  }
  double t0 = now_ms();
  for (long p = 0; p < rows / PER_PERSON; p++) {
    char name[32];
    snprintf(name, sizeof name, "person%07ld", p);
    for (int i = 0; i < PER_PERSON; i++) {
      float *v = copy + (size_t)(p * PER_PERSON + i) * stride;
      random_desc(v);
      faces[i].embedding = v;
    }
    if (fr_gallery_enroll(g, name, NULL, faces, PER_PERSON, NULL, &err) != FR_OK) {
      fprintf(stderr, "gallery_bench: %s\n", err.message);
      return 1;
    }
  }
  double t_fill = now_ms() - t0;
  fr_match m;
  int n = 0;
  random_desc(q);
  t0 = now_ms();
  if (fr_gallery_search(g, q, 1, &m, &n, &err) != FR_OK) {
    fprintf(stderr, "gallery_bench: %s\n", err.message);
    return 1;
  }
  double t_first = now_ms() - t0;
  int wrong = 0;
  for (int kind = 0; kind < 2; kind++)
    for (int i = 0; i < queries; i++) {
      if (kind == 0) {
        random_desc(q);
      } else {
        /* A row seen again with a little noise (distance about 0.3). */
        long r = (long)(rng % (uint64_t)rows);
        for (int d = 0; d < DIM; d++) q[d] = copy[(size_t)r * stride + d] + 0.03f * gauss();
      }
      double c0 = cpu_ms();
      t0 = now_ms();
      fr_status st = fr_gallery_search(g, q, 1, &m, &n, &err);
      (kind ? t_near : t_rand)[i] = now_ms() - t0;
      (kind ? c_near : c_rand)[i] = cpu_ms() - c0;
      if (st != FR_OK || n != 1) {
        fprintf(stderr, "gallery_bench: %s\n", err.message);
        return 1;
      }
      /* The reference: the same fp32 kernel over every row, ties to the
       * lower face id (rows were enrolled in order: id = row + 1). */
      c0 = cpu_ms();
      t0 = now_ms();
      fr__sqdist_rows(-1, copy, (size_t)rows, stride, q, dist);
      long best = 0;
      for (long r = 1; r < rows; r++)
        if (dist[r] < dist[best]) best = r;
      if (kind == 0) t_scan[i] = now_ms() - t0, c_scan[i] = cpu_ms() - c0;
      if (m.face_id != best + 1 || m.distance != sqrtf(dist[best])) wrong++;
    }
  timing tr = summarise(t_rand, queries), tn = summarise(t_near, queries),
         ts = summarise(t_scan, queries), cr = summarise(c_rand, queries),
         cn = summarise(c_near, queries), cs = summarise(c_scan, queries);
  printf("gallery search, %ld x %d-d descriptors, top-1, 1 thread (%s kernels)\n", rows, DIM,
         fr__gallery_has_avx2() ? "avx2" : "scalar");
  printf("  fill %.0f ms; first search (load view + build int8 copy) %.0f ms\n", t_fill, t_first);
  printf("  %-18s %8s %8s %8s   %s\n", "", "median", "mean", "p90", "(wall ms; thread CPU ms median)");
  printf("  %-18s %8.2f %8.2f %8.2f   %.2f\n", "random queries", tr.median, tr.mean, tr.p90, cr.median);
  printf("  %-18s %8.2f %8.2f %8.2f   %.2f\n", "near-row queries", tn.median, tn.mean, tn.p90, cn.median);
  printf("  %-18s %8.2f %8.2f %8.2f   %.2f\n", "plain fp32 scan", ts.median, ts.mean, ts.p90, cs.median);
  printf("  answers checked against the fp32 scan: %d of %d differ\n", wrong, 2 * queries);
  if (json) {
    FILE *f = fopen(json, "w");
    if (f) {
      fprintf(f,
              "{\"rows\":%ld,\"dim\":%d,\"queries\":%d,\"fill_ms\":%.1f,\"first_ms\":%.1f,"
              "\"random_median_ms\":%.3f,\"random_mean_ms\":%.3f,\"near_median_ms\":%.3f,"
              "\"near_mean_ms\":%.3f,\"fp32_scan_median_ms\":%.3f,\"random_cpu_median_ms\":%.3f,"
              "\"near_cpu_median_ms\":%.3f,\"fp32_scan_cpu_median_ms\":%.3f,\"wrong\":%d}\n",
              rows, DIM, queries, t_fill, t_first, tr.median, tr.mean, tn.median, tn.mean, ts.median,
              cr.median, cn.median, cs.median, wrong);
      fclose(f);
    }
  }
  fr_gallery_close(g);
  fr__aligned_free(copy);
  fr__aligned_free(q);
  free(dist), free(faces), free(t_rand), free(t_near), free(t_scan);
  free(c_rand), free(c_near), free(c_scan);
  return wrong ? 1 : 0;
}
