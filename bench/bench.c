/*
 * bench.c - speed of facerec's networks and pipeline on this machine.
 *
 * This is a benchmark program, not a test: it prints a table and, with
 * --json FILE, writes every figure for bench/run.sh, which sets them beside
 * the peers (face-api on TensorFlow.js wasm, ONNX Runtime) measured in the
 * same run. It measures:
 *
 *  - the core's FMA peak (one thread, then two at once) for the instruction
 *    set the library's kernels use in this run, the yardstick for "% of
 *    peak": AVX-512 when the CPU has it (kernels "avx512"), else AVX2 (the
 *    AVX2 peak is always reported too);
 *  - every network through the public entry points, full calls including
 *    their preprocessing, with a context on a pool of 1 and of 2 threads:
 *    SSD-MobileNetV1 and TinyFaceDetector on faces.jpg, both landmark nets per
 *    face on the SSD boxes of faces.jpg, FaceRecognitionNet per 150x150 chip
 *    at batch 1 and batch 8;
 *  - the whole pipeline on a 640x480 frame holding one face, in the fast
 *    real-time profile (Tiny detector at 416 and at 320, tiny landmarks,
 *    descriptor) and in the accurate default profile (SSD, 68 landmarks).
 *
 * Each figure is the median and 90th percentile of --runs timed calls after
 * --warmup untimed ones (the warm-up also builds the context's plans, which
 * steady-state callers never pay again). GFLOP/s counts 2 flops per
 * multiply-add of the network's convolutions and fully connected layers at
 * the input size actually run (fr__graph_macs), counted as direct
 * convolutions: layers the kernels run as Winograd F(2x2, 3x3) do fewer
 * multiplies, so the figure is an effective rate.
 */
#include "facerec.h"

#include "align/align_internal.h"
#include "detect/cascade.h"
#include "detect/detect_internal.h"
#include "embed/embed_internal.h"
#include "nn/nn.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define BENCH_X86 1
#else
#define BENCH_X86 0
#endif

/* ---- options ---------------------------------------------------------- */

typedef struct options {
  int runs;
  int warmup;
  const char *json;      /* NULL: no JSON file */
  const char *models;    /* NULL: fr_model_path order */
  const char *images;    /* folder with faces.jpg, face1.png, face2.png */
  const char *frame_out; /* where to save the 640x480 frame (for the peer), or NULL */
  int peak_only;         /* 1: measure the FMA peaks and stop */
} options;

static void usage(FILE *f) {
  fprintf(f,
          "usage: bench [--runs N] [--warmup N] [--json FILE] [--models DIR]\n"
          "             [--images DIR] [--frame-out FILE.png] [--peak-only]\n"
          "  --runs N       timed runs per figure (default 30)\n"
          "  --warmup N     untimed runs before them (default 5)\n"
          "  --json FILE    also write every figure as JSON\n"
          "  --models DIR   model folder (default: $FACEREC_MODELS, ./models, ...)\n"
          "  --images DIR   test images (default ../shared/data/bbt/test/images)\n"
          "  --frame-out F  save the 640x480 pipeline frame as PNG (for the peer)\n"
          "  --peak-only    measure the FMA peaks only (1 and 2 threads) and stop\n");
}

/* ---- time and statistics ------------------------------------------------ */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

typedef struct stats {
  int n;
  double median, p90, min, mean; /* milliseconds */
  double *samples;               /* n values in run order, owned */
} stats;

/* Median and nearest-rank 90th percentile: with 30 runs p90 is the 27th
 * fastest, so a few scheduler hiccups show in it but not in the median. */
static void summarize(stats *s) {
  double *v = malloc((size_t)s->n * sizeof *v);
  if (!v || s->n == 0) {
    free(v);
    return;
  }
  memcpy(v, s->samples, (size_t)s->n * sizeof *v);
  qsort(v, (size_t)s->n, sizeof *v, cmp_double);
  s->median = s->n % 2 ? v[s->n / 2] : 0.5 * (v[s->n / 2 - 1] + v[s->n / 2]);
  int k = (int)ceil(0.9 * s->n) - 1;
  s->p90 = v[k < 0 ? 0 : k];
  s->min = v[0];
  double sum = 0;
  for (int i = 0; i < s->n; i++) sum += v[i];
  s->mean = sum / s->n;
  free(v);
}

/* ---- FMA peak ------------------------------------------------------------ */

/*
 * The loop keeps 12 independent accumulators so that the FMA latency (4 or 5
 * cycles) times the number of FMA ports (2) is covered with room to spare:
 * with fewer chains the loop would measure latency, not throughput. The
 * multiplier and addend keep every value near 1, so no denormal or overflow
 * slows it down. It is compiled for AVX2+FMA by attribute because the
 * Makefile builds bench.c for the baseline ISA, like the rest of the library.
 */
#define PEAK_ACC 12

#if BENCH_X86
__attribute__((target("avx2,fma"))) static float fma_loop_avx2(long iters) {
  __m256 a = _mm256_set1_ps(0.99999994f), b = _mm256_set1_ps(1e-7f);
  __m256 c[PEAK_ACC];
  for (int k = 0; k < PEAK_ACC; k++) c[k] = _mm256_set1_ps(1.0f + (float)k * 1e-3f);
  for (long i = 0; i < iters; i++) {
    c[0] = _mm256_fmadd_ps(c[0], a, b);
    c[1] = _mm256_fmadd_ps(c[1], a, b);
    c[2] = _mm256_fmadd_ps(c[2], a, b);
    c[3] = _mm256_fmadd_ps(c[3], a, b);
    c[4] = _mm256_fmadd_ps(c[4], a, b);
    c[5] = _mm256_fmadd_ps(c[5], a, b);
    c[6] = _mm256_fmadd_ps(c[6], a, b);
    c[7] = _mm256_fmadd_ps(c[7], a, b);
    c[8] = _mm256_fmadd_ps(c[8], a, b);
    c[9] = _mm256_fmadd_ps(c[9], a, b);
    c[10] = _mm256_fmadd_ps(c[10], a, b);
    c[11] = _mm256_fmadd_ps(c[11], a, b);
  }
  __m256 s = c[0];
  for (int k = 1; k < PEAK_ACC; k++) s = _mm256_add_ps(s, c[k]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0] + out[7];
}

__attribute__((target("avx512f"))) static float fma_loop_avx512(long iters) {
  __m512 a = _mm512_set1_ps(0.99999994f), b = _mm512_set1_ps(1e-7f);
  __m512 c[PEAK_ACC];
  for (int k = 0; k < PEAK_ACC; k++) c[k] = _mm512_set1_ps(1.0f + (float)k * 1e-3f);
  for (long i = 0; i < iters; i++) {
    c[0] = _mm512_fmadd_ps(c[0], a, b);
    c[1] = _mm512_fmadd_ps(c[1], a, b);
    c[2] = _mm512_fmadd_ps(c[2], a, b);
    c[3] = _mm512_fmadd_ps(c[3], a, b);
    c[4] = _mm512_fmadd_ps(c[4], a, b);
    c[5] = _mm512_fmadd_ps(c[5], a, b);
    c[6] = _mm512_fmadd_ps(c[6], a, b);
    c[7] = _mm512_fmadd_ps(c[7], a, b);
    c[8] = _mm512_fmadd_ps(c[8], a, b);
    c[9] = _mm512_fmadd_ps(c[9], a, b);
    c[10] = _mm512_fmadd_ps(c[10], a, b);
    c[11] = _mm512_fmadd_ps(c[11], a, b);
  }
  __m512 s = c[0];
  for (int k = 1; k < PEAK_ACC; k++) s = _mm512_add_ps(s, c[k]);
  float out[16];
  _mm512_storeu_ps(out, s);
  return out[0] + out[15];
}
#endif

typedef struct peak_job {
  int width; /* 8: AVX2, 16: AVX-512 */
  long iters;
  float sink; /* the loop's result, kept so the loop cannot be dropped */
} peak_job;

static void *peak_thread(void *arg) {
  peak_job *j = arg;
#if BENCH_X86
  j->sink = j->width == 16 ? fma_loop_avx512(j->iters) : fma_loop_avx2(j->iters);
#else
  j->sink = 0;
#endif
  return NULL;
}

/*
 * GFLOP/s of nthreads threads running the FMA loop at once: lane-FMAs of all
 * threads x 2 flops over the wall time until the last one finishes. The best
 * of three tries is kept, since a peak is what the hardware can do, and a
 * slower try only shows interference from something else.
 */
static double fma_peak(int width, int nthreads) {
  /* 2^26 iterations x 12 FMAs x 8 lanes is about 6.4e9 lane-FMAs (13 GFLOP)
   * per thread for AVX2: 0.1-0.2 s at the expected 60-120 GFLOP/s, long
   * enough to hide thread start-up and a frequency ramp. */
  const long iters = 1L << 26;
  double best = 0;
  for (int attempt = 0; attempt < 3; attempt++) {
    peak_job jobs[2];
    pthread_t th[2];
    int started = 0;
    double t0 = now_s();
    for (int t = 0; t < nthreads; t++) {
      jobs[t] = (peak_job){width, iters, 0.f};
      if (t == 0) continue; /* thread 0 is this one */
      if (pthread_create(&th[t], NULL, peak_thread, &jobs[t]) != 0) break;
      started++;
    }
    peak_thread(&jobs[0]);
    for (int t = 1; t <= started; t++) pthread_join(th[t], NULL);
    double dt = now_s() - t0;
    double flops = 2.0 * PEAK_ACC * width * (double)iters * (1 + started);
    /* The sink is never 0 for a real run; testing it keeps the value live. */
    if (jobs[0].sink != 0.f && flops / dt / 1e9 > best) best = flops / dt / 1e9;
  }
  return best;
}

static int have_avx2_fma(void) {
#if BENCH_X86 && defined(__GNUC__)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return 0;
#endif
}

static int have_avx512(void) {
#if BENCH_X86 && defined(__GNUC__)
  return __builtin_cpu_supports("avx512f");
#else
  return 0;
#endif
}

/* ---- machine state --------------------------------------------------------- */

static void read_loadavg(double *l1) {
  *l1 = -1;
  FILE *f = fopen("/proc/loadavg", "r");
  if (!f) return;
  if (fscanf(f, "%lf", l1) != 1) *l1 = -1;
  fclose(f);
}

/*
 * A snapshot of the aggregate cpu line of /proc/stat, plus this process's own
 * CPU time. Over the run it gives two numbers that say whether the figures
 * are clean: steal, the time the hypervisor gave this VM's CPUs to someone
 * else, and the CPU time that other processes of this machine used while we
 * were timing. Either slows every figure without showing up anywhere else.
 */
typedef struct cpu_snap {
  double total_s; /* all CPUs' time, seconds */
  double busy_s;  /* of which not idle (nor waiting for I/O), steal excluded */
  double steal_s;
  double self_s; /* this process's user + system time */
} cpu_snap;

static void read_cpu(cpu_snap *c) {
  memset(c, 0, sizeof *c);
  double tick = (double)sysconf(_SC_CLK_TCK);
  FILE *f = fopen("/proc/stat", "r");
  unsigned long long v[8] = {0};
  if (f && tick > 0 &&
      fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
             &v[5], &v[6], &v[7]) == 8) {
    unsigned long long total = 0;
    for (int i = 0; i < 8; i++) total += v[i];
    c->total_s = (double)total / tick;
    c->steal_s = (double)v[7] / tick;
    c->busy_s = (double)(total - v[3] - v[4] - v[7]) / tick;
  }
  if (f) fclose(f);
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0)
    c->self_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
                (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

static void cpu_model(char *buf, size_t size) {
  snprintf(buf, size, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "model name", 10) != 0) continue;
    const char *p = strchr(line, ':');
    if (!p) continue;
    p++;
    while (*p == ' ' || *p == '\t') p++;
    snprintf(buf, size, "%s", p);
    buf[strcspn(buf, "\n")] = 0;
    break;
  }
  fclose(f);
}

/* ---- benchmark cases ------------------------------------------------------- */

/* One timed call: returns FR_OK or the call's failure. */
typedef fr_status (*run_fn)(void *arg, fr_context *ctx, fr_error *err);

typedef struct detect_case {
  const fr_detector *det;
  const fr_image *img;
  fr_detect_options opts;
  int n_faces; /* faces found by the last call */
} detect_case;

#define MAX_FACES 64

/* A detection case with default options except the Tiny input side. */
static detect_case detect_setup(const fr_detector *det, const fr_image *img, int input_size) {
  detect_case c;
  memset(&c, 0, sizeof c);
  c.det = det;
  c.img = img;
  c.opts.input_size = input_size;
  return c;
}

static fr_status run_detect(void *arg, fr_context *ctx, fr_error *err) {
  detect_case *c = arg;
  fr_face faces[MAX_FACES];
  return fr_detect(ctx, c->det, c->img, &c->opts, faces, MAX_FACES, &c->n_faces, err);
}

/* A cascade's faces alone, as OpenCV's detectMultiScale(gray, 1.1, 3): the
 * figure bench/haar_opencv.py compares with OpenCV. */
typedef struct cascade_case {
  const fr__cascade *c;
  const fr_image *img;
  int n_faces;
  fr__cascade_hit hits[MAX_FACES];
} cascade_case;

static fr_status run_cascade(void *arg, fr_context *ctx, fr_error *err) {
  cascade_case *c = arg;
  const fr__cascade_params p = {FR__CASCADE_SCALE, 3, 0, 0, FR__CASCADE_EPS, 0};
  return fr__cascade_detect(ctx, c->c, c->img, &p, c->hits, MAX_FACES, &c->n_faces, err);
}

/* The eye search the cascade detectors run in each face they find. */
typedef struct eyes_case {
  const fr__cascade *eye;
  const fr_image *img;
  const fr__cascade_hit *hits;
  int n, found; /* faces searched, eye pairs found by the last call */
} eyes_case;

static fr_status run_eyes(void *arg, fr_context *ctx, fr_error *err) {
  eyes_case *c = arg;
  c->found = 0;
  for (int i = 0; i < c->n; i++) {
    fr_face f;
    memset(&f, 0, sizeof f);
    f.box = (fr_rect){(float)c->hits[i].x, (float)c->hits[i].y, (float)c->hits[i].w, (float)c->hits[i].h};
    int found = 0;
    fr_status st = fr__cascade_find_eyes(ctx, c->eye, c->img, &f, &found, err);
    if (st != FR_OK) return st;
    c->found += found;
  }
  return FR_OK;
}

typedef struct landmark_case {
  const fr_landmarker *lm;
  const fr_image *img;
  const fr_face *faces; /* boxes from the SSD detector */
  int n;
} landmark_case;

static fr_status run_landmarks(void *arg, fr_context *ctx, fr_error *err) {
  landmark_case *c = arg;
  for (int i = 0; i < c->n; i++) {
    /* A copy per call, so every run starts from the bare detection box. */
    fr_face f = c->faces[i];
    fr_status st = fr_landmarks(ctx, c->lm, c->img, &f, err);
    if (st != FR_OK) return st;
  }
  return FR_OK;
}

typedef struct embed_case {
  const fr_embedder *emb;
  const fr_image *chips;
  int n;
  float *out;
} embed_case;

static fr_status run_embed(void *arg, fr_context *ctx, fr_error *err) {
  embed_case *c = arg;
  return fr_embed(ctx, c->emb, c->chips, c->n, c->out, err);
}

typedef struct pipeline_case {
  const fr_pipeline *pipe;
  const fr_image *img;
  int n_faces;
  float desc[MAX_FACES * 128];
} pipeline_case;

static fr_status run_pipeline(void *arg, fr_context *ctx, fr_error *err) {
  pipeline_case *c = arg;
  fr_face faces[MAX_FACES];
  return fr_pipeline_run(ctx, c->pipe, c->img, faces, c->desc, MAX_FACES, &c->n_faces, err);
}

/*
 * The network alone: fr__run on the plan the full call uses, with no image
 * preparation, normalisation or decoding of the outputs, so that the share of
 * a call spent outside the engine shows. The input is copied in before every
 * run because the plan's arena reuses the input's memory for later tensors;
 * the copy is a few hundred microseconds at most, and is counted.
 */
typedef struct graph_case {
  const fr__graph *g;
  int n, h, w;
  const float *input; /* n*h*w*3 floats */
} graph_case;

static fr_status run_graph(void *arg, fr_context *ctx, fr_error *err) {
  graph_case *c = arg;
  fr__plan *p;
  fr_status st = fr__context_plan(ctx, c->g, c->n, c->h, c->w, &p, err);
  if (st != FR_OK) return st;
  memcpy(fr__plan_input(p), c->input, (size_t)c->n * c->h * c->w * 3 * sizeof(float));
  fr__run(c->g, p, fr__context_pool(ctx));
  return FR_OK;
}

/* Times one case: warm-up calls, then `runs` timed calls, each divided by
 * `per` (faces per call) so that per-face figures come out directly. */
static fr_status measure(run_fn fn, void *arg, fr_context *ctx, int warmup, int runs, int per,
                         stats *out, fr_error *err) {
  memset(out, 0, sizeof *out);
  for (int i = 0; i < warmup; i++) {
    fr_status st = fn(arg, ctx, err);
    if (st != FR_OK) return st;
  }
  out->samples = malloc((size_t)runs * sizeof *out->samples);
  if (!out->samples) return FR_E_NOMEM;
  for (int i = 0; i < runs; i++) {
    double t0 = now_s();
    fr_status st = fn(arg, ctx, err);
    double dt = now_s() - t0;
    if (st != FR_OK) return st;
    out->samples[i] = dt * 1e3 / per;
  }
  out->n = runs;
  summarize(out);
  return FR_OK;
}

/* One row of the results: a network or the pipeline, timed on 1 and 2 threads. */
typedef struct row {
  char key[32];    /* stable name for run.sh (JSON) */
  char label[96];  /* for people */
  char unit[16];   /* what one timed unit is: "image", "face", "frame" */
  double macs;     /* multiply-adds per unit */
  int faces;       /* faces per call (detectors: found; others: processed) */
  int ok;          /* 0: the case failed, see error */
  char error[512];
  stats t[2]; /* [0]: pool of 1 thread, [1]: pool of 2 */
  int has_graph;
  stats g[2]; /* the network alone (fr__run), per unit, same pools */
} row;

#define MAX_ROWS 32

typedef struct results {
  row rows[MAX_ROWS];
  int n;
} results;

static row *add_row(results *r, const char *key, const char *label, const char *unit,
                    double macs) {
  if (r->n >= MAX_ROWS) return NULL;
  row *w = &r->rows[r->n++];
  memset(w, 0, sizeof *w);
  snprintf(w->key, sizeof w->key, "%s", key);
  snprintf(w->label, sizeof w->label, "%s", label);
  snprintf(w->unit, sizeof w->unit, "%s", unit);
  w->macs = macs;
  w->ok = 1;
  return w;
}

/* Runs a case on both contexts, filling the row; a failure is recorded in the
 * row (and printed) rather than ending the benchmark, so one broken network
 * does not hide the figures of the others. */
static void run_case(row *w, run_fn fn, void *arg, fr_context *ctx[2], const options *o,
                     int per) {
  if (!w) return;
  for (int k = 0; k < 2; k++) {
    fr_error err = {0};
    fr_status st = measure(fn, arg, ctx[k], o->warmup, o->runs, per, &w->t[k], &err);
    if (st != FR_OK) {
      w->ok = 0;
      snprintf(w->error, sizeof w->error, "%s (%d threads): %s", w->label, k + 1,
               err.message[0] ? err.message : fr_strerror(st));
      fprintf(stderr, "bench: %s\n", w->error);
      return;
    }
  }
  fprintf(stderr, "bench: %-44s %9.2f ms (1 thread) %9.2f ms (2 threads) per %s\n", w->label,
          w->t[0].median, w->t[1].median, w->unit);
}

/* Adds the network-alone figures to a row: `per` units per run of a graph of
 * batch n at h x w. The input is a smooth pattern in [-1, 1], the range the
 * nets see after normalisation (no zeros or denormals to flatter them). */
static void run_graph_case(row *w, const fr__graph *g, int n, int h, int wd, int per,
                           fr_context *ctx[2], const options *o) {
  if (!w || !w->ok || !g) return;
  size_t count = (size_t)n * h * wd * 3;
  float *in = malloc(count * sizeof *in);
  if (!in) return;
  for (size_t i = 0; i < count; i++) in[i] = (float)sin(0.001 * (double)i);
  graph_case c = {g, n, h, wd, in};
  int ok = 1;
  for (int k = 0; k < 2 && ok; k++) {
    fr_error err = {0};
    if (measure(run_graph, &c, ctx[k], o->warmup, o->runs, per, &w->g[k], &err) != FR_OK) {
      fprintf(stderr, "bench: %s, network alone: %s\n", w->label, err.message);
      ok = 0;
    }
  }
  w->has_graph = ok;
  free(in);
}

/* ---- the 640x480 frame ---------------------------------------------------- */

/* Bilinear sample of an RGB image at continuous pixel-centre coordinates,
 * clamped at the edges; plain C, since the frame is made once. */
static void sample_rgb(const fr_image *img, double x, double y, uint8_t out[3]) {
  if (x < 0) x = 0;
  if (y < 0) y = 0;
  if (x > img->width - 1) x = img->width - 1;
  if (y > img->height - 1) y = img->height - 1;
  int x0 = (int)x, y0 = (int)y;
  int x1 = x0 + 1 < img->width ? x0 + 1 : x0, y1 = y0 + 1 < img->height ? y0 + 1 : y0;
  double fx = x - x0, fy = y - y0;
  for (int c = 0; c < 3; c++) {
    double a = img->data[(size_t)y0 * img->stride + 3 * (size_t)x0 + c];
    double b = img->data[(size_t)y0 * img->stride + 3 * (size_t)x1 + c];
    double d = img->data[(size_t)y1 * img->stride + 3 * (size_t)x0 + c];
    double e = img->data[(size_t)y1 * img->stride + 3 * (size_t)x1 + c];
    double v = (a * (1 - fx) + b * fx) * (1 - fy) + (d * (1 - fx) + e * fx) * fy;
    out[c] = (uint8_t)(v + 0.5);
  }
}

/*
 * A webcam-like frame: mid-gray 640x480 with one real face in the middle. The
 * face is the best SSD detection of faces.jpg, cut with a margin of about
 * half its size on every side (so the detector sees hair, neck and
 * background, as in a real frame, not a tight chip) and scaled so that the
 * face is about 120 pixels tall: a person about a metre from a laptop camera.
 */
static fr_status make_frame(const fr_image *src, const fr_face *face, fr_image *frame,
                            fr_error *err) {
  fr_status st = fr_image_alloc(640, 480, FR_PIXEL_RGB, frame, err);
  if (st != FR_OK) return st;
  memset(frame->data, 128, (size_t)frame->stride * frame->height);
  double side = 2.0 * fmax(face->box.width, face->box.height);
  double cx = face->box.x + face->box.width / 2, cy = face->box.y + face->box.height / 2;
  double x0 = fmax(0, cx - side / 2), y0 = fmax(0, cy - side / 2);
  double x1 = fmin(src->width, cx + side / 2), y1 = fmin(src->height, cy + side / 2);
  double scale = 120.0 / fmax(face->box.height, 1.0);
  int w = (int)((x1 - x0) * scale), h = (int)((y1 - y0) * scale);
  if (w > 600) w = 600;
  if (h > 460) h = 460;
  int ox = (640 - w) / 2, oy = (480 - h) / 2;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      uint8_t *p = frame->data + (size_t)(oy + y) * frame->stride + 3 * (size_t)(ox + x);
      sample_rgb(src, x0 + (x + 0.5) / scale - 0.5, y0 + (y + 0.5) / scale - 0.5, p);
    }
  return FR_OK;
}

/* ---- output --------------------------------------------------------------- */

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

/* A number as JSON: non-finite values (an empty measurement) become null. */
static void json_num(FILE *f, double v) {
  if (isfinite(v))
    fprintf(f, "%.6g", v);
  else
    fputs("null", f);
}

typedef struct machine {
  char date[32];
  char cpu[256];
  int ncpu;
  double load_start, load_end;
  double steal_pct;
  double others_pct; /* share of all CPUs' time other processes used during the run */
  double peak1, peak2;             /* AVX2 FMA GFLOP/s, 1 and 2 threads */
  double peak1_end, peak2_end;     /* the same, measured again at the end */
  double peak512_1, peak512_2;     /* AVX-512, 0 when absent */
  double peak512_1_end, peak512_2_end;
  int frame_faces_416, frame_faces_320;
} machine;

/* 1 when the kernels in use are the AVX-512 set, whose ceiling is the AVX-512
 * FMA peak rather than the AVX2 one. */
static int kernels_avx512(void) { return strcmp(fr_kernels_name(), "avx512") == 0; }

/* The yardstick peak for k+1 threads (see the file comment). */
static double ref_peak(const machine *m, int k) {
  if (kernels_avx512()) return k ? m->peak512_2 : m->peak512_1;
  return k ? m->peak2 : m->peak1;
}

static double gflops_of(const stats *s, double macs) {
  return s->median > 0 ? 2.0 * macs / (s->median * 1e-3) / 1e9 : NAN;
}

static double gflops(const row *w, int k) { return gflops_of(&w->t[k], w->macs); }

/* One timing as a JSON object, with its GFLOP/s and share of the peak. */
static void json_stats(FILE *f, const stats *s, double macs, double peak) {
  double g = gflops_of(s, macs);
  fprintf(f, "{\"median_ms\": ");
  json_num(f, s->median);
  fprintf(f, ", \"p90_ms\": ");
  json_num(f, s->p90);
  fprintf(f, ", \"min_ms\": ");
  json_num(f, s->min);
  fprintf(f, ", \"mean_ms\": ");
  json_num(f, s->mean);
  fprintf(f, ", \"per_s\": ");
  json_num(f, s->median > 0 ? 1e3 / s->median : NAN);
  fprintf(f, ", \"gflops\": ");
  json_num(f, g);
  fprintf(f, ", \"pct_peak\": ");
  json_num(f, peak > 0 ? 100.0 * g / peak : NAN);
  fprintf(f, ", \"samples_ms\": [");
  for (int j = 0; j < s->n; j++) {
    if (j) fputs(", ", f);
    fprintf(f, "%.4f", s->samples[j]);
  }
  fprintf(f, "]}");
}

static void write_json(FILE *f, const machine *m, const results *r, const options *o) {
  fprintf(f, "{\n \"version\": ");
  json_string(f, fr_version());
  fprintf(f, ",\n \"kernels\": ");
  json_string(f, fr_kernels_name());
  fprintf(f, ",\n \"date\": ");
  json_string(f, m->date);
  fprintf(f, ",\n \"cpu\": ");
  json_string(f, m->cpu);
  fprintf(f, ",\n \"nproc\": %d,\n \"runs\": %d,\n \"warmup\": %d,\n", m->ncpu, o->runs,
          o->warmup);
  fprintf(f, " \"load1_start\": ");
  json_num(f, m->load_start);
  fprintf(f, ",\n \"load1_end\": ");
  json_num(f, m->load_end);
  fprintf(f, ",\n \"steal_pct\": ");
  json_num(f, m->steal_pct);
  fprintf(f, ",\n \"others_cpu_pct\": ");
  json_num(f, m->others_pct);
  int w512 = kernels_avx512();
  fprintf(f, ",\n \"fma_peak_gflops\": {\"isa\": \"%s\", \"threads1\": ", w512 ? "avx512" : "avx2");
  json_num(f, ref_peak(m, 0));
  fprintf(f, ", \"threads2\": ");
  json_num(f, ref_peak(m, 1));
  fprintf(f, ", \"threads1_end\": ");
  json_num(f, w512 ? m->peak512_1_end : m->peak1_end);
  fprintf(f, ", \"threads2_end\": ");
  json_num(f, w512 ? m->peak512_2_end : m->peak2_end);
  fprintf(f, "},\n \"avx2_peak_gflops\": {\"threads1\": ");
  json_num(f, m->peak1);
  fprintf(f, ", \"threads2\": ");
  json_num(f, m->peak2);
  fprintf(f, "},\n \"avx512_peak_gflops\": ");
  if (m->peak512_1 > 0) {
    fprintf(f, "{\"threads1\": ");
    json_num(f, m->peak512_1);
    fprintf(f, ", \"threads2\": ");
    json_num(f, m->peak512_2);
    fprintf(f, "}");
  } else {
    fprintf(f, "null");
  }
  fprintf(f, ",\n \"frame\": {\"width\": 640, \"height\": 480, \"faces_tiny416\": %d, "
             "\"faces_tiny320\": %d, \"file\": ",
          m->frame_faces_416, m->frame_faces_320);
  if (o->frame_out)
    json_string(f, o->frame_out);
  else
    fprintf(f, "null");
  fprintf(f, "},\n \"rows\": [\n");
  double peak[2] = {ref_peak(m, 0), ref_peak(m, 1)};
  for (int i = 0; i < r->n; i++) {
    const row *w = &r->rows[i];
    fprintf(f, "  {\"key\": ");
    json_string(f, w->key);
    fprintf(f, ", \"label\": ");
    json_string(f, w->label);
    fprintf(f, ", \"unit\": ");
    json_string(f, w->unit);
    fprintf(f, ", \"macs\": %.0f, \"faces\": %d, \"ok\": %s", w->macs, w->faces,
            w->ok ? "true" : "false");
    if (!w->ok) {
      fprintf(f, ", \"error\": ");
      json_string(f, w->error);
    }
    for (int k = 0; k < 2 && w->ok; k++) {
      fprintf(f, ",\n   \"threads%d\": ", k + 1);
      json_stats(f, &w->t[k], w->macs, peak[k]);
    }
    for (int k = 0; k < 2 && w->ok && w->has_graph; k++) {
      fprintf(f, ",\n   \"graph_threads%d\": ", k + 1);
      json_stats(f, &w->g[k], w->macs, peak[k]);
    }
    fprintf(f, "}%s\n", i + 1 < r->n ? "," : "");
  }
  fprintf(f, " ]\n}\n");
}

static void print_table(const machine *m, const results *r) {
  printf("\nfacerec %s, kernels %s, %s, %d CPUs\n", fr_version(), fr_kernels_name(), m->cpu,
         m->ncpu);
  printf("AVX2 FMA peak: %.1f GFLOP/s on 1 thread, %.1f on 2 threads "
         "(again at the end: %.1f, %.1f)\n",
         m->peak1, m->peak2, m->peak1_end, m->peak2_end);
  if (m->peak512_1 > 0)
    printf("AVX-512 FMA peak: %.1f GFLOP/s on 1 thread, %.1f on 2 (again at the end: %.1f, "
           "%.1f)\n",
           m->peak512_1, m->peak512_2, m->peak512_1_end, m->peak512_2_end);
  printf("%% peak below is of the %s peak (the kernels in use)\n",
         kernels_avx512() ? "AVX-512" : "AVX2");
  printf("load average (1 min) %.2f at the start, %.2f at the end; CPU steal %.1f%%; other "
         "processes used %.1f%% of the CPUs during the run%s\n\n",
         m->load_start, m->load_end, m->steal_pct, m->others_pct,
         m->others_pct > 5 ? " (NOT CLEAN: the figures are slowed by them)" : "");
  printf("%-46s %5s | %9s %9s | %9s %9s | %7s %6s | %7s %6s\n", "network (per unit)", "faces",
         "1T med", "1T p90", "2T med", "2T p90", "GFLOP/s", "%peak", "GFLOP/s", "%peak");
  printf("%-46s %5s | %9s %9s | %9s %9s | %7s %6s | %7s %6s\n", "", "", "ms", "ms", "ms", "ms",
         "1T", "1T", "2T", "2T");
  double peak[2] = {ref_peak(m, 0), ref_peak(m, 1)};
  for (int i = 0; i < r->n; i++) {
    const row *w = &r->rows[i];
    char name[128];
    snprintf(name, sizeof name, "%s (/%s)", w->label, w->unit);
    if (!w->ok) {
      printf("%-46s FAILED: %s\n", name, w->error);
      continue;
    }
    printf("%-46s %5d | %9.2f %9.2f | %9.2f %9.2f", name, w->faces, w->t[0].median, w->t[0].p90,
           w->t[1].median, w->t[1].p90);
    for (int k = 0; k < 2; k++) {
      double g = gflops(w, k);
      printf(" | %7.1f %5.1f%%", g, peak[k] > 0 ? 100 * g / peak[k] : NAN);
    }
    if (strcmp(w->unit, "frame") == 0)
      printf("   %.1f / %.1f frames/s", 1e3 / w->t[0].median, 1e3 / w->t[1].median);
    printf("\n");
    if (w->has_graph) {
      printf("%-46s %5s | %9.2f %9.2f | %9.2f %9.2f", "  network alone (fr__run)", "",
             w->g[0].median, w->g[0].p90, w->g[1].median, w->g[1].p90);
      for (int k = 0; k < 2; k++) {
        double g = gflops_of(&w->g[k], w->macs);
        printf(" | %7.1f %5.1f%%", g, peak[k] > 0 ? 100 * g / peak[k] : NAN);
      }
      printf("\n");
    }
  }
  printf("\n");
}

/* ---- main ------------------------------------------------------------------ */

static int parse_args(int argc, char **argv, options *o) {
  o->runs = 30;
  o->warmup = 5;
  o->json = NULL;
  o->models = NULL;
  o->images = "../shared/data/bbt/test/images";
  o->frame_out = NULL;
  o->peak_only = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      exit(0);
    }
    if (strcmp(a, "--peak-only") == 0) {
      o->peak_only = 1;
      continue;
    }
    if (!v) {
      fprintf(stderr, "bench: %s needs a value\n", a);
      return 0;
    }
    if (strcmp(a, "--runs") == 0)
      o->runs = atoi(v);
    else if (strcmp(a, "--warmup") == 0)
      o->warmup = atoi(v);
    else if (strcmp(a, "--json") == 0)
      o->json = v;
    else if (strcmp(a, "--models") == 0)
      o->models = v;
    else if (strcmp(a, "--images") == 0)
      o->images = v;
    else if (strcmp(a, "--frame-out") == 0)
      o->frame_out = v;
    else {
      fprintf(stderr, "bench: unknown option %s\n", a);
      return 0;
    }
    i++;
  }
  if (o->runs < 1 || o->warmup < 0) {
    fprintf(stderr, "bench: --runs must be >= 1 and --warmup >= 0\n");
    return 0;
  }
  return 1;
}

static int load_image(const char *dir, const char *file, fr_pixel_format format,
                      fr_image *out) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  fr_error err = {0};
  fr_image raw;
  if (fr_image_load(path, NULL, &raw, &err) != FR_OK) {
    fprintf(stderr, "bench: %s\n", err.message);
    return 0;
  }
  fr_status st = fr_image_convert(&raw, format, out, &err);
  fr_image_free(&raw);
  if (st != FR_OK) {
    fprintf(stderr, "bench: %s: %s\n", path, err.message);
    return 0;
  }
  return 1;
}

/* Reports a failed set-up step on stderr; returns 1 when st is FR_OK. */
static int check(fr_status st, const fr_error *err, const char *what) {
  if (st == FR_OK) return 1;
  fprintf(stderr, "bench: %s: %s\n", what, err->message[0] ? err->message : fr_strerror(st));
  return 0;
}

static row *failed_row(results *r, const char *key, const char *label, const char *unit,
                       const char *why) {
  row *w = add_row(r, key, label, unit, 0);
  if (w) {
    w->ok = 0;
    snprintf(w->error, sizeof w->error, "%s", why);
  }
  return w;
}

int main(int argc, char **argv) {
  options o;
  if (!parse_args(argc, argv, &o)) {
    usage(stderr);
    return 2;
  }
  static results res;
  static machine m;
  fr_error err = {0};

  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(m.date, sizeof m.date, "%Y-%m-%dT%H:%M:%SZ", &tm);
  cpu_model(m.cpu, sizeof m.cpu);
  m.ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
  read_loadavg(&m.load_start);
  cpu_snap cpu0, cpu1;
  read_cpu(&cpu0);

  /* The peak first, on an otherwise idle process. */
  if (have_avx2_fma()) {
    m.peak1 = fma_peak(8, 1);
    m.peak2 = fma_peak(8, 2);
  }
  fprintf(stderr, "bench: AVX2 FMA peak %.1f GFLOP/s (1 thread), %.1f (2 threads)\n", m.peak1,
          m.peak2);
  /* With the AVX-512 kernels in use their peak is the yardstick, measured
   * here before the networks like the AVX2 one (whatever 512-bit work does to
   * the clock, it does to the networks as well). */
  if (!o.peak_only && have_avx2_fma() && have_avx512() && kernels_avx512()) {
    m.peak512_1 = fma_peak(16, 1);
    m.peak512_2 = fma_peak(16, 2);
    fprintf(stderr, "bench: AVX-512 FMA peak %.1f GFLOP/s (1 thread), %.1f (2 threads)\n",
            m.peak512_1, m.peak512_2);
  }
  if (o.peak_only) {
    /* Two threads that add nothing to one thread's peak mean the two CPUs
     * share one core's FMA units (SMT siblings), or someone else is busy. */
    if (have_avx512())
      printf("AVX-512 FMA peak: %.1f GFLOP/s (1 thread), %.1f (2 threads)\n", fma_peak(16, 1),
             fma_peak(16, 2));
    printf("AVX2 FMA peak: %.1f GFLOP/s (1 thread), %.1f (2 threads)\n", m.peak1, m.peak2);
    return 0;
  }

  /* Inputs. */
  fr_image faces_img = {0}, chip1 = {0}, chip2 = {0}, frame = {0};
  if (!load_image(o.images, "faces.jpg", FR_PIXEL_RGB, &faces_img) ||
      !load_image(o.images, "face1.png", FR_PIXEL_RGB, &chip1) ||
      !load_image(o.images, "face2.png", FR_PIXEL_RGB, &chip2))
    return 1;

  /* One context per pool size; the 1-thread pool is a real pool of one so
   * that both go through the same code path. */
  fr_pool *pool[2] = {NULL, NULL};
  fr_context *ctx[2] = {NULL, NULL};
  for (int k = 0; k < 2; k++)
    if (!check(fr_pool_create(k + 1, &pool[k], &err), &err, "pool") ||
        !check(fr_context_create(pool[k], &ctx[k], &err), &err, "context"))
      return 1;

  /* Models; a model that fails to load leaves its rows marked failed. */
  fr_detector *ssd = NULL, *tiny = NULL;
  fr_landmarker *lm68 = NULL, *lmtiny = NULL;
  fr_embedder *emb = NULL;
  check(fr_detector_create(FR_DETECTOR_SSD, o.models, &ssd, &err), &err, "SSD-MobileNetV1");
  check(fr_detector_create(FR_DETECTOR_TINY, o.models, &tiny, &err), &err, "TinyFaceDetector");
  check(fr_landmarker_create(FR_LANDMARKER_68, o.models, &lm68, &err), &err, "FaceLandmark68Net");
  check(fr_landmarker_create(FR_LANDMARKER_68_TINY, o.models, &lmtiny, &err), &err,
        "FaceLandmark68TinyNet");
  check(fr_embedder_create(FR_EMBEDDER_FACEAPI, o.models, &emb, &err), &err,
        "FaceRecognitionNet");

  /* The SSD boxes of faces.jpg feed the landmark rows and the frame. */
  fr_face ssd_faces[MAX_FACES];
  int n_ssd = 0;
  if (ssd &&
      !check(fr_detect(ctx[0], ssd, &faces_img, NULL, ssd_faces, MAX_FACES, &n_ssd, &err), &err,
             "SSD on faces.jpg"))
    n_ssd = 0;

  /* Detectors. */
  if (ssd) {
    detect_case c = detect_setup(ssd, &faces_img, 0);
    row *w = add_row(&res, "ssd", "SSD-MobileNetV1 detect, faces.jpg", "image",
                     fr__graph_macs(fr__detector_graph(ssd), 1, FR__SSD_SIZE, FR__SSD_SIZE));
    run_case(w, run_detect, &c, ctx, &o, 1);
    if (w) w->faces = c.n_faces;
    run_graph_case(w, fr__detector_graph(ssd), 1, FR__SSD_SIZE, FR__SSD_SIZE, 1, ctx, &o);
  } else {
    failed_row(&res, "ssd", "SSD-MobileNetV1 detect, faces.jpg", "image", "model did not load");
  }
  static const int tiny_sizes[2] = {416, 320};
  for (int i = 0; i < 2; i++) {
    char key[32], label[96];
    snprintf(key, sizeof key, "tiny%d", tiny_sizes[i]);
    snprintf(label, sizeof label, "TinyFaceDetector@%d detect, faces.jpg", tiny_sizes[i]);
    if (!tiny) {
      failed_row(&res, key, label, "image", "model did not load");
      continue;
    }
    detect_case c = detect_setup(tiny, &faces_img, tiny_sizes[i]);
    row *w = add_row(&res, key, label, "image",
                     fr__graph_macs(fr__detector_graph(tiny), 1, tiny_sizes[i], tiny_sizes[i]));
    run_case(w, run_detect, &c, ctx, &o, 1);
    if (w) w->faces = c.n_faces;
    run_graph_case(w, fr__detector_graph(tiny), 1, tiny_sizes[i], tiny_sizes[i], 1, ctx, &o);
  }

  /* Landmark nets, per face over the SSD faces of faces.jpg. */
  const fr_landmarker *lms[2] = {lm68, lmtiny};
  static const char *lm_keys[2] = {"lm68", "lm68tiny"};
  static const char *lm_labels[2] = {"FaceLandmark68Net, faces.jpg boxes",
                                     "FaceLandmark68TinyNet, faces.jpg boxes"};
  for (int i = 0; i < 2; i++) {
    if (!lms[i] || n_ssd == 0) {
      failed_row(&res, lm_keys[i], lm_labels[i], "face",
                 !lms[i] ? "model did not load" : "no SSD faces to landmark");
      continue;
    }
    landmark_case c = {lms[i], &faces_img, ssd_faces, n_ssd};
    row *w = add_row(&res, lm_keys[i], lm_labels[i], "face",
                     fr__graph_macs(fr__landmarker_graph(lms[i]), 1, FR__LANDMARK_INPUT,
                                    FR__LANDMARK_INPUT));
    run_case(w, run_landmarks, &c, ctx, &o, n_ssd);
    if (w) w->faces = n_ssd;
    run_graph_case(w, fr__landmarker_graph(lms[i]), 1, FR__LANDMARK_INPUT, FR__LANDMARK_INPUT, 1,
                   ctx, &o);
  }

  /* The recognition net on 150x150 chips, batch 1 and batch 8. */
  static const int batches[2] = {1, 8};
  for (int i = 0; i < 2; i++) {
    char key[32], label[96];
    snprintf(key, sizeof key, "desc_b%d", batches[i]);
    snprintf(label, sizeof label, "FaceRecognitionNet, 150x150 chip, batch %d", batches[i]);
    if (!emb) {
      failed_row(&res, key, label, "face", "model did not load");
      continue;
    }
    int b = batches[i], size = fr_embedder_input_size(emb);
    fr_image chips[8];
    for (int j = 0; j < b; j++) chips[j] = j % 2 ? chip2 : chip1;
    float *out = malloc((size_t)b * (size_t)fr_embedder_dim(emb) * sizeof(float));
    if (!out) return 1;
    embed_case c = {emb, chips, b, out};
    /* MACs per face: the batch's MACs over its size (they scale linearly,
     * but asking the graph keeps the count honest). */
    row *w = add_row(&res, key, label, "face",
                     fr__graph_macs(fr__embedder_graph(emb), b, size, size) / b);
    run_case(w, run_embed, &c, ctx, &o, b);
    if (w) w->faces = b;
    run_graph_case(w, fr__embedder_graph(emb), b, size, size, b, ctx, &o);
    free(out);
  }
  {
    /* The same network with int8 convolutions (src/nn/quant.h). */
    fr_embedder *e8 = NULL;
    const char *label8 = "FaceRecognitionNet int8, 150x150 chip, batch 1";
    if (!check(fr_embedder_create(FR_EMBEDDER_FACEAPI_INT8, o.models, &e8, &err), &err,
               "FaceRecognitionNet int8")) {
      failed_row(&res, "desc_int8_b1", label8, "face", "model did not load");
    } else {
      float out8[128];
      embed_case c = {e8, &chip1, 1, out8};
      row *w = add_row(&res, "desc_int8_b1", label8, "face",
                       fr__graph_macs(fr__embedder_graph(e8), 1, 150, 150));
      run_case(w, run_embed, &c, ctx, &o, 1);
      if (w) w->faces = 1;
      fr_embedder_destroy(e8);
    }
  }

  /* The pipeline on a 640x480 frame holding one face. */
  fr_status fst = n_ssd > 0 ? make_frame(&faces_img, &ssd_faces[0], &frame, &err)
                            : fr__fail(&err, FR_E_NOTFOUND, "no SSD face to build the frame");
  if (fst == FR_OK && tiny) {
    for (int i = 0; i < 2; i++) {
      detect_case c = detect_setup(tiny, &frame, tiny_sizes[i]);
      fr_face tmp[MAX_FACES];
      int n = -1;
      if (fr_detect(ctx[0], tiny, &frame, &c.opts, tmp, MAX_FACES, &n, &err) != FR_OK) n = -1;
      if (i == 0)
        m.frame_faces_416 = n;
      else
        m.frame_faces_320 = n;
      if (n != 1)
        fprintf(stderr, "bench: warning: Tiny@%d finds %d faces in the frame, not 1\n",
                tiny_sizes[i], n);
    }
  }
  if (fst == FR_OK && o.frame_out && fr_image_save(&frame, o.frame_out, &err) != FR_OK)
    fprintf(stderr, "bench: saving the frame: %s\n", err.message);

  /* BlazeFace (MediaPipe) on the frame: letterbox, network, decoding. */
  static const fr_detector_kind bf_kinds[2] = {FR_DETECTOR_BLAZEFACE, FR_DETECTOR_BLAZEFACE_FULL};
  static const char *const bf_keys[2] = {"blazeface", "blazeface_full"};
  static const char *const bf_labels[2] = {"BlazeFace short range detect, 640x480",
                                           "BlazeFace full range detect, 640x480"};
  static const int bf_sizes[2] = {FR__BLAZEFACE_SIZE, FR__BLAZEFACE_FULL_SIZE};
  for (int i = 0; i < 2; i++) {
    fr_detector *bf = NULL;
    if (fst != FR_OK ||
        !check(fr_detector_create(bf_kinds[i], o.models, &bf, &err), &err, bf_labels[i])) {
      failed_row(&res, bf_keys[i], bf_labels[i], "frame",
                 fst != FR_OK ? "no frame" : "model did not load");
      continue;
    }
    detect_case c = detect_setup(bf, &frame, 0);
    row *w = add_row(&res, bf_keys[i], bf_labels[i], "frame",
                     fr__graph_macs(fr__detector_graph(bf), 1, bf_sizes[i], bf_sizes[i]));
    run_case(w, run_detect, &c, ctx, &o, 1);
    if (w) w->faces = c.n_faces;
    run_graph_case(w, fr__detector_graph(bf), 1, bf_sizes[i], bf_sizes[i], 1, ctx, &o);
    fr_detector_destroy(bf);
  }

  /* OpenCV's Haar (frontalface_default) and LBP (frontalface) cascades on
   * the frame, faces alone, as detectMultiScale(gray, 1.1, 3) with no
   * minimum size beyond the training window; bench/haar_opencv.py times
   * OpenCV on the same frame (run.sh). Then the eye search the detectors
   * add per face (haarcascade_eye inside the top of each Haar face). */
  {
    static const fr_detector_kind kinds[2] = {FR_DETECTOR_HAAR, FR_DETECTOR_LBP};
    static const char *const keys[2] = {"haar", "lbp"};
    static const char *const labels[2] = {"Haar cascade faces, 640x480", "LBP cascade faces, 640x480"};
    static cascade_case cc[2];
    fr_detector *cdet[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
      if (fst != FR_OK ||
          !check(fr_detector_create(kinds[i], o.models, &cdet[i], &err), &err, labels[i])) {
        failed_row(&res, keys[i], labels[i], "frame", fst != FR_OK ? "no frame" : "cascade did not load");
        continue;
      }
      cc[i].c = ((const fr__cascade_detector *)cdet[i]->state)->face;
      cc[i].img = &frame;
      row *w = add_row(&res, keys[i], labels[i], "frame", 0);
      run_case(w, run_cascade, &cc[i], ctx, &o, 1);
      if (w) w->faces = cc[i].n_faces;
    }
    const fr__cascade *eye = cdet[0] ? ((const fr__cascade_detector *)cdet[0]->state)->eye : NULL;
    if (!eye || cc[0].n_faces < 1) {
      failed_row(&res, "haar_eyes", "eye search per Haar face (haarcascade_eye)", "face",
                 !cdet[0] ? "cascade did not load" : !eye ? "no haarcascade_eye.xml" : "no face");
    } else {
      eyes_case ec = {eye, &frame, cc[0].hits, cc[0].n_faces, 0};
      row *w = add_row(&res, "haar_eyes", "eye search per Haar face (haarcascade_eye)", "face", 0);
      run_case(w, run_eyes, &ec, ctx, &o, ec.n);
      if (w) w->faces = ec.found;
      if (ec.found < ec.n)
        fprintf(stderr, "bench: warning: eyes found in %d of the frame's %d Haar faces\n", ec.found, ec.n);
    }
    fr_detector_destroy(cdet[0]);
    fr_detector_destroy(cdet[1]);
  }

  /* MTCNN (three TFLite nets, pyramid from min face 20) on the frame, and
   * MobileFaceNet per 112x112 chip (batch 1). MTCNN has no single graph, so
   * its row has no MAC count. */
  {
    fr_detector *mt = NULL;
    if (fst != FR_OK ||
        !check(fr_detector_create(FR_DETECTOR_MTCNN, o.models, &mt, &err), &err, "MTCNN")) {
      failed_row(&res, "mtcnn", "MTCNN detect, 640x480", "frame",
                 fst != FR_OK ? "no frame" : "model did not load");
    } else {
      detect_case c = detect_setup(mt, &frame, 0);
      row *w = add_row(&res, "mtcnn", "MTCNN detect, 640x480", "frame", 0);
      run_case(w, run_detect, &c, ctx, &o, 1);
      if (w) w->faces = c.n_faces;
      fr_detector_destroy(mt);
    }
    fr_embedder *mfn = NULL;
    if (!check(fr_embedder_create(FR_EMBEDDER_MOBILEFACENET, o.models, &mfn, &err), &err,
               "MobileFaceNet")) {
      failed_row(&res, "mfn_b1", "MobileFaceNet, 112x112 chip, batch 1", "face",
                 "model did not load");
    } else {
      float out[192];
      embed_case c = {mfn, &chip1, 1, out};
      row *w = add_row(&res, "mfn_b1", "MobileFaceNet, 112x112 chip, batch 1", "face",
                       fr__graph_macs(fr__embedder_graph(mfn), 1, 112, 112));
      run_case(w, run_embed, &c, ctx, &o, 1);
      if (w) w->faces = 1;
      run_graph_case(w, fr__embedder_graph(mfn), 1, 112, 112, 1, ctx, &o);
      fr_embedder_destroy(mfn);
    }
  }

  typedef struct profile {
    const char *key, *label;
    fr_detector_kind det;
    int size;
    fr_landmarker_kind lm;
  } profile;
  static const profile profiles[3] = {
      {"pipeline_tiny416", "pipeline fast: Tiny@416 + tiny lm + desc, 640x480",
       FR_DETECTOR_TINY, 416, FR_LANDMARKER_68_TINY},
      {"pipeline_tiny320", "pipeline fast: Tiny@320 + tiny lm + desc, 640x480",
       FR_DETECTOR_TINY, 320, FR_LANDMARKER_68_TINY},
      {"pipeline_ssd", "pipeline accurate: SSD + 68 lm + desc, 640x480", FR_DETECTOR_SSD, 0,
       FR_LANDMARKER_68},
  };
  for (int i = 0; i < 3; i++) {
    const profile *p = &profiles[i];
    if (fst != FR_OK) {
      failed_row(&res, p->key, p->label, "frame", err.message);
      continue;
    }
    fr_pipeline_options po;
    fr_pipeline_options_default(&po);
    po.detector = p->det;
    po.detect.input_size = p->size;
    po.landmarks = p->lm;
    fr_pipeline *pipe = NULL;
    fr_error perr = {0};
    if (fr_pipeline_create(&po, o.models, &pipe, &perr) != FR_OK) {
      failed_row(&res, p->key, p->label, "frame", perr.message);
      continue;
    }
    static pipeline_case c;
    c.pipe = pipe;
    c.img = &frame;
    c.n_faces = 0;
    row *w = add_row(&res, p->key, p->label, "frame", 0);
    run_case(w, run_pipeline, &c, ctx, &o, 1);
    if (w) {
      /* The pipeline's networks are the ones loaded above (the same weight
       * files), so their graphs give its multiply-adds: one detector run plus
       * the landmark and recognition nets once per face found. */
      const fr_detector *d = p->det == FR_DETECTOR_SSD ? ssd : tiny;
      const fr_landmarker *l = p->lm == FR_LANDMARKER_68 ? lm68 : lmtiny;
      int side = p->det == FR_DETECTOR_SSD ? FR__SSD_SIZE : p->size;
      w->faces = c.n_faces;
      if (d && l && emb)
        w->macs = fr__graph_macs(fr__detector_graph(d), 1, side, side) +
                  c.n_faces * (fr__graph_macs(fr__landmarker_graph(l), 1, FR__LANDMARK_INPUT,
                                              FR__LANDMARK_INPUT) +
                               fr__graph_macs(fr__embedder_graph(emb), 1, 150, 150));
    }
    fr_pipeline_destroy(pipe);
  }

  /* The peak again: if it moved, the machine's speed moved during the run. */
  if (have_avx2_fma()) {
    m.peak1_end = fma_peak(8, 1);
    m.peak2_end = fma_peak(8, 2);
  }
  /* The AVX-512 peak last (or again, when the kernels use it): on some Intel
   * cores heavy 512-bit work lowers the clock for a while, which must not
   * touch the figures of AVX2 kernels above. */
  if (have_avx2_fma() && have_avx512()) {
    if (kernels_avx512()) {
      m.peak512_1_end = fma_peak(16, 1);
      m.peak512_2_end = fma_peak(16, 2);
    } else {
      m.peak512_1 = fma_peak(16, 1);
      m.peak512_2 = fma_peak(16, 2);
    }
  }
  read_loadavg(&m.load_end);
  read_cpu(&cpu1);
  double span = cpu1.total_s - cpu0.total_s;
  if (span > 0) {
    m.steal_pct = 100.0 * (cpu1.steal_s - cpu0.steal_s) / span;
    double others = (cpu1.busy_s - cpu0.busy_s) - (cpu1.self_s - cpu0.self_s);
    /* Tick rounding can make a quiet machine look a hair negative. */
    m.others_pct = others > 0 ? 100.0 * others / span : 0;
  }

  print_table(&m, &res);
  int rc = 0;
  if (o.json) {
    FILE *f = fopen(o.json, "w");
    if (!f) {
      fprintf(stderr, "bench: cannot write %s\n", o.json);
      rc = 1;
    } else {
      write_json(f, &m, &res, &o);
      if (fclose(f) != 0) rc = 1;
    }
  }
  for (int i = 0; i < res.n; i++) {
    if (!res.rows[i].ok) rc = rc ? rc : 3;
    for (int k = 0; k < 2; k++) {
      free(res.rows[i].t[k].samples);
      free(res.rows[i].g[k].samples);
    }
  }

  fr_detector_destroy(ssd);
  fr_detector_destroy(tiny);
  fr_landmarker_destroy(lm68);
  fr_landmarker_destroy(lmtiny);
  fr_embedder_destroy(emb);
  for (int k = 0; k < 2; k++) {
    fr_context_destroy(ctx[k]);
    fr_pool_destroy(pool[k]);
  }
  fr_image_free(&faces_img);
  fr_image_free(&chip1);
  fr_image_free(&chip2);
  fr_image_free(&frame);
  return rc;
}
