/*
 * test_tflite.c - the TFLite importer (src/nn/tflite.c) on the six real models:
 * output shapes at several batch sizes and input sizes, batch items
 * independent of each other, P-Net fully convolutional, fused graphs equal to
 * the op-by-op ones, scalar kernels equal to the best set, answers that make
 * sense on real faces; and rejection of empty, garbage, truncated, corrupted
 * and unsupported files without a crash.
 */
#include "nn/tflite.h"

#include "check.h"

#include <stdint.h>

/* ---- helpers ------------------------------------------------------------------ */

static uint8_t *read_all(const char *path, size_t *len) {
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = n > 0 ? malloc((size_t)n) : NULL;
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  if (b) *len = (size_t)n;
  return b;
}

static const char *model_path(const char *file) {
  static char buf[4][1024];
  static int k;
  char *b = buf[k++ & 3];
  snprintf(b, 1024, "%s/%s", check_models_dir(), file);
  return b;
}

static fr__graph *load(const char *file, const fr__kernels *k, int flags) {
  size_t len;
  uint8_t *d = read_all(model_path(file), &len);
  CHECK_MSG(d != NULL, "cannot read %s", model_path(file));
  if (!d) return NULL;
  fr__graph *g = NULL;
  fr_error e = {0, ""};
  CHECK_OK(fr__tflite_load_ex(d, len, k, file, flags, &g, &e), &e);
  free(d);
  return g;
}

/* Deterministic pseudo-random numbers in [-1, 1). */
static uint32_t rng = 12345;
static float frand(void) {
  rng = rng * 1664525u + 1013904223u;
  return (float)(rng >> 8) / (float)(1 << 23) - 1.f;
}

/* A run's outputs, copied out of the plan. */
typedef struct result {
  int n_out;
  int shape[8][4];
  float *v[8];
} result;

static void result_free(result *r) {
  for (int k = 0; k < r->n_out; k++) free(r->v[k]);
  memset(r, 0, sizeof *r);
}

static int run(const fr__graph *g, int n, int h, int w, const float *in, result *r) {
  memset(r, 0, sizeof *r);
  fr__plan *p = NULL;
  fr_error e = {0, ""};
  fr_status st = fr__plan_create(g, n, h, w, 1, &p, &e);
  CHECK_MSG(st == FR_OK, "plan %dx%dx%d: %s", n, h, w, e.message);
  if (st != FR_OK) return 0;
  memcpy(fr__plan_input(p), in, (size_t)n * h * w * 3 * sizeof(float));
  fr__run(g, p, NULL);
  for (int k = 0; k < 8; k++) {
    const float *o = fr__plan_output(p, k, r->shape[k]);
    if (!o) break;
    size_t cnt = (size_t)r->shape[k][0] * r->shape[k][1] * r->shape[k][2] * r->shape[k][3];
    r->v[k] = malloc(cnt * sizeof(float));
    if (r->v[k]) memcpy(r->v[k], o, cnt * sizeof(float));
    r->n_out = k + 1;
  }
  fr__plan_destroy(p);
  return 1;
}

static size_t count4(const int s[4]) { return (size_t)s[0] * s[1] * s[2] * s[3]; }

static float *random_input(int n, int h, int w) {
  size_t cnt = (size_t)n * h * w * 3;
  float *x = malloc(cnt * sizeof(float));
  for (size_t i = 0; x && i < cnt; i++) x[i] = frand();
  return x;
}

/* Largest |a - b| relative to max(1, |b|). */
static float max_rel_diff(const float *a, const float *b, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; i++) {
    float d = fabsf(a[i] - b[i]) / fmaxf(1.f, fabsf(b[i]));
    if (!(d <= m)) m = d; /* NaN counts as a difference */
  }
  return m;
}

/* ---- the models ---------------------------------------------------------------- */

typedef struct model_case {
  const char *file;
  int n, h, w;         /* a size to run at */
  int n_out;           /* outputs */
  int shapes[3][4];    /* expected output shapes at that size */
  int softmax_out;     /* output whose channels sum to 1, or -1 */
  int fused;           /* PReLU/softmax patterns expected */
} model_case;

static const model_case cases[] = {
    {"pnet.tflite", 2, 30, 26, 2, {{2, 10, 8, 2}, {2, 10, 8, 4}}, 0, 1},
    {"rnet.tflite", 3, 24, 24, 2, {{3, 1, 1, 2}, {3, 1, 1, 4}}, 0, 1},
    {"onet.tflite", 2, 48, 48, 3, {{2, 1, 1, 2}, {2, 1, 1, 4}, {2, 1, 1, 10}}, 0, 1},
    {"MobileFaceNet.tflite", 1, 112, 112, 1, {{1, 1, 1, 192}}, -1, 1},
    {"face_detection_short_range.tflite", 2, 128, 128, 2, {{2, 1, 896, 16}, {2, 1, 896, 1}}, -1, 0},
    {"face_detection_full_range.tflite", 1, 192, 192, 2, {{1, 1, 2304, 16}, {1, 1, 2304, 1}}, -1,
     0},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static void test_models(void) {
  for (size_t m = 0; m < N_CASES; m++) {
    const model_case *c = &cases[m];
    fr__graph *g = load(c->file, NULL, 0);
    if (!g) continue;
    float *x = random_input(c->n, c->h, c->w);
    result r;
    if (x && run(g, c->n, c->h, c->w, x, &r)) {
      CHECK_MSG(r.n_out == c->n_out, "%s: %d outputs", c->file, r.n_out);
      for (int k = 0; k < r.n_out && k < c->n_out; k++) {
        CHECK_MSG(memcmp(r.shape[k], c->shapes[k], sizeof r.shape[k]) == 0,
                  "%s output %d: %dx%dx%dx%d", c->file, k, r.shape[k][0], r.shape[k][1],
                  r.shape[k][2], r.shape[k][3]);
        size_t cnt = count4(r.shape[k]), bad = 0;
        for (size_t i = 0; i < cnt; i++) bad += !isfinite(r.v[k][i]);
        CHECK_MSG(bad == 0, "%s output %d: %zu values not finite", c->file, k, bad);
      }
      if (c->softmax_out >= 0 && r.n_out > c->softmax_out) {
        const float *p = r.v[c->softmax_out];
        int ch = r.shape[c->softmax_out][3];
        size_t px = count4(r.shape[c->softmax_out]) / (size_t)ch, off = 0;
        for (size_t i = 0; i < px; i++) {
          float s = 0;
          for (int j = 0; j < ch; j++) s += p[i * ch + j], off += p[i * ch + j] < 0.f;
          if (fabsf(s - 1.f) > 1e-4f) off++;
        }
        CHECK_MSG(off == 0, "%s: %zu probabilities off", c->file, off);
      }
      result_free(&r);
    }
    free(x);
    fr__graph_destroy(g);
  }
}

/* Each item of a batch gives what it gives alone: the stored batch size of
 * MobileFaceNet (2) and the others (1) does not leak into the graph. */
static void test_batch_independence(void) {
  for (size_t m = 0; m < N_CASES; m++) {
    const model_case *c = &cases[m];
    fr__graph *g = load(c->file, NULL, 0);
    if (!g) continue;
    int n = 3;
    size_t item = (size_t)c->h * c->w * 3;
    float *x = random_input(n, c->h, c->w);
    result all, one;
    if (x && run(g, n, c->h, c->w, x, &all)) {
      for (int b = 0; b < n; b += 2) {
        if (!run(g, 1, c->h, c->w, x + b * item, &one)) break;
        for (int k = 0; k < one.n_out; k++) {
          size_t cnt = count4(one.shape[k]);
          CHECK_MSG(all.shape[k][0] == n && max_rel_diff(all.v[k] + b * cnt, one.v[k], cnt) < 1e-4f,
                    "%s output %d item %d differs in a batch", c->file, k, b);
        }
        result_free(&one);
      }
      result_free(&all);
    }
    free(x);
    fr__graph_destroy(g);
  }
}

/* P-Net is fully convolutional: its output at cell (i, j) of a large input
 * is its output on the 12x12 window at (2i, 2j). */
static void test_pnet_sliding(void) {
  fr__graph *g = load("pnet.tflite", NULL, 0);
  if (!g) return;
  int H = 31, W = 26;
  float *x = random_input(1, H, W), win[12 * 12 * 3];
  result big, small;
  if (x && run(g, 1, H, W, x, &big)) {
    CHECK(big.shape[0][1] == 11 && big.shape[0][2] == 8);
    int cells[3][2] = {{0, 0}, {2, 3}, {9, 7}};
    for (int t = 0; t < 3; t++) {
      int i = cells[t][0], j = cells[t][1];
      for (int yy = 0; yy < 12; yy++)
        memcpy(win + yy * 12 * 3, x + ((size_t)(2 * i + yy) * W + 2 * j) * 3, 12 * 3 * sizeof(float));
      if (!run(g, 1, 12, 12, win, &small)) break;
      for (int k = 0; k < 2; k++) {
        int ch = small.shape[k][3];
        const float *b = big.v[k] + ((size_t)i * big.shape[k][2] + j) * ch;
        CHECK_MSG(small.shape[k][1] == 1 && small.shape[k][2] == 1 &&
                      max_rel_diff(b, small.v[k], (size_t)ch) < 1e-4f,
                  "cell %d,%d output %d", i, j, k);
      }
      result_free(&small);
    }
    result_free(&big);
  }
  /* Smaller than the receptive field: a plan error, not a crash. */
  fr__plan *p = NULL;
  fr_error e = {0, ""};
  CHECK(fr__plan_create(g, 1, 11, 11, 1, &p, &e) == FR_OK); /* 11 -> 9 -> 5 -> 3 -> 1 */
  fr__plan_destroy(p);
  p = NULL;
  CHECK(fr__plan_create(g, 1, 10, 12, 1, &p, &e) != FR_OK && p == NULL); /* 10 -> 8 -> 4 -> 2 -> 0 */
  free(x);
  fr__graph_destroy(g);
}

/* The AVX2 set when this CPU runs it (the best set may be another one). */
static const fr__kernels *avx2_kernels(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return &fr__kernels_avx2;
#endif
  return NULL;
}

/* Fused PReLU/softmax nodes give what the op-by-op decomposition gives, and
 * the fused graph is smaller; the scalar kernels agree with the best set and
 * with the AVX2 set. */
static void test_fusion_and_kernels(void) {
  for (size_t m = 0; m < N_CASES; m++) {
    const model_case *c = &cases[m];
    fr__graph *gf = load(c->file, NULL, 0);
    fr__graph *gu = load(c->file, NULL, FR__TFLITE_NO_FUSION);
    fr__graph *gs = load(c->file, &fr__kernels_scalar, 0);
    float *x = random_input(c->n, c->h, c->w);
    if (gf && gu && gs && x) {
      if (c->fused)
        CHECK_MSG(fr__graph_nodes(gf) < fr__graph_nodes(gu), "%s: %d nodes fused, %d not",
                  c->file, fr__graph_nodes(gf), fr__graph_nodes(gu));
      else
        CHECK(fr__graph_nodes(gf) == fr__graph_nodes(gu));
      result rf, ru, rs;
      if (run(gf, c->n, c->h, c->w, x, &rf)) {
        if (run(gu, c->n, c->h, c->w, x, &ru)) {
          for (int k = 0; k < rf.n_out; k++)
            CHECK_MSG(max_rel_diff(rf.v[k], ru.v[k], count4(rf.shape[k])) < 1e-4f,
                      "%s output %d: fused differs", c->file, k);
          result_free(&ru);
        }
        if (run(gs, c->n, c->h, c->w, x, &rs)) {
          for (int k = 0; k < rf.n_out; k++) {
            float d = max_rel_diff(rs.v[k], rf.v[k], count4(rf.shape[k]));
            CHECK_MSG(d < 2e-3f, "%s output %d: %s vs scalar differ by %g", c->file, k,
                      fr__graph_kernels(gf)->name, (double)d);
          }
          fr__graph *g2 = avx2_kernels() ? load(c->file, avx2_kernels(), 0) : NULL;
          result r2;
          if (g2 && run(g2, c->n, c->h, c->w, x, &r2)) {
            for (int k = 0; k < r2.n_out; k++) {
              float d = max_rel_diff(rs.v[k], r2.v[k], count4(r2.shape[k]));
              CHECK_MSG(d < 2e-3f, "%s output %d: avx2 vs scalar differ by %g", c->file, k,
                        (double)d);
            }
            result_free(&r2);
          }
          fr__graph_destroy(g2);
          result_free(&rs);
        }
        result_free(&rf);
      }
    }
    free(x);
    fr__graph_destroy(gf);
    fr__graph_destroy(gu);
    fr__graph_destroy(gs);
  }
}

/* ---- one-operator models, written here ----------------------------------------------- */

/*
 * A minimal flatbuffer writer that lays every object out after whatever refers
 * to it (offsets are then plain forward distances), enough to write a model
 * of one operator: tensor 0 the input, tensor 1 the output, tensors 2.. the
 * operator's constant inputs.
 */
typedef struct wbuf {
  uint8_t *b;
  size_t n, cap;
} wbuf;

static void w_put(wbuf *w, const void *p, size_t len) {
  if (w->n + len > w->cap) {
    w->cap = (w->n + len) * 2 + 256;
    w->b = realloc(w->b, w->cap);
  }
  memcpy(w->b + w->n, p, len);
  w->n += len;
}
static void w_u32(wbuf *w, uint32_t v) { w_put(w, &v, 4); } /* the tests run on little-endian hosts */
static void w_align(wbuf *w, size_t a) {
  static const uint8_t z[8];
  while (w->n % a) w_put(w, z, 1);
}
static void w_patch(wbuf *w, size_t pos, size_t target) { /* the reference at pos points at target */
  uint32_t rel = (uint32_t)(target - pos);
  memcpy(w->b + pos, &rel, 4);
}

typedef struct fld {
  int id;
  char kind; /* 'b' byte, 'i' int32, 'f' float, 'r' reference (patched later) */
  int32_t i;
  float f;
} fld;

/* Writes a vtable and its table; ref[k] receives the position of the k-th
 * reference field, in the order given. */
static size_t w_table(wbuf *w, const fld *f, int nf, size_t *ref) {
  int nslots = 0;
  for (int k = 0; k < nf; k++)
    if (f[k].id + 1 > nslots) nslots = f[k].id + 1;
  uint16_t vsize = (uint16_t)(4 + 2 * nslots), osize = (uint16_t)(4 + 4 * nf);
  w_align(w, 2);
  while ((w->n + vsize) % 4) w_put(w, "\0", 1);
  size_t vt = w->n;
  w_put(w, &vsize, 2);
  w_put(w, &osize, 2);
  for (int s = 0; s < nslots; s++) {
    uint16_t off = 0;
    for (int k = 0; k < nf; k++)
      if (f[k].id == s) off = (uint16_t)(4 + 4 * k);
    w_put(w, &off, 2);
  }
  size_t t = w->n;
  int32_t so = (int32_t)(t - vt);
  w_put(w, &so, 4);
  int nref = 0;
  for (int k = 0; k < nf; k++) {
    uint8_t z[4] = {0};
    switch (f[k].kind) {
    case 'b': z[0] = (uint8_t)f[k].i; w_put(w, z, 4); break;
    case 'i': w_put(w, &f[k].i, 4); break;
    case 'f': w_put(w, &f[k].f, 4); break;
    default: ref[nref++] = w->n; w_put(w, z, 4); break;
    }
  }
  return t;
}

static size_t w_vec_i32(wbuf *w, const int *v, int n) {
  w_align(w, 4);
  size_t at = w->n;
  w_u32(w, (uint32_t)n);
  w_put(w, v, (size_t)n * 4);
  return at;
}
static size_t w_bytes(wbuf *w, const void *p, size_t n) {
  w_align(w, 4);
  size_t at = w->n;
  w_u32(w, (uint32_t)n);
  w_put(w, p, n);
  return at;
}
/* A vector of n table references, to be patched; returns its position. */
static size_t w_refs(wbuf *w, int n) {
  w_align(w, 4);
  size_t at = w->n;
  w_u32(w, (uint32_t)n);
  for (int k = 0; k < n; k++) w_u32(w, 0);
  return at;
}

typedef struct ctensor {
  int rank, dims[4];
  int type;          /* 0 float32, 2 int32 */
  const void *data;  /* NULL for an activation */
} ctensor;

/* Writes the model; returns its bytes (malloc'd) and size. */
static uint8_t *one_op_model(int code, const fld *opts, int n_opts, const ctensor *t, int nt,
                             const int *op_in, int n_in, size_t *size) {
  wbuf w = {0};
  w_u32(&w, 0);
  w_put(&w, "TFL3", 4);
  size_t r[8];
  fld model[] = {{0, 'i', 3, 0}, {1, 'r', 0, 0}, {2, 'r', 0, 0}, {4, 'r', 0, 0}};
  size_t root = w_table(&w, model, 4, r);
  {
    uint32_t v = (uint32_t)root;
    memcpy(w.b, &v, 4);
  }
  /* operator_codes: one table */
  size_t v = w_refs(&w, 1);
  w_patch(&w, r[0], v);
  fld oc[] = {{0, 'b', code < 127 ? code : 127, 0}, {3, 'i', code, 0}};
  w_patch(&w, v + 4, w_table(&w, oc, 2, NULL));
  /* subgraphs: one table */
  v = w_refs(&w, 1);
  w_patch(&w, r[1], v);
  size_t sg[4];
  fld sgf[] = {{0, 'r', 0, 0}, {1, 'r', 0, 0}, {2, 'r', 0, 0}, {3, 'r', 0, 0}};
  w_patch(&w, v + 4, w_table(&w, sgf, 4, sg));
  /* tensors */
  v = w_refs(&w, nt);
  w_patch(&w, sg[0], v);
  for (int k = 0; k < nt; k++) {
    size_t tr[2];
    fld tf[] = {{0, 'r', 0, 0}, {1, 'b', t[k].type, 0}, {2, 'i', t[k].data ? k : 0, 0},
                {3, 'r', 0, 0}};
    w_patch(&w, v + 4 + 4 * (size_t)k, w_table(&w, tf, 4, tr));
    w_patch(&w, tr[0], w_vec_i32(&w, t[k].dims, t[k].rank));
    char name[16];
    snprintf(name, sizeof name, "t%d", k);
    w_patch(&w, tr[1], w_bytes(&w, name, strlen(name)));
  }
  int zero = 0, one = 1;
  w_patch(&w, sg[1], w_vec_i32(&w, &zero, 1));
  w_patch(&w, sg[2], w_vec_i32(&w, &one, 1));
  /* operators: one table */
  v = w_refs(&w, 1);
  w_patch(&w, sg[3], v);
  size_t orf[3];
  fld of[] = {{0, 'i', 0, 0}, {1, 'r', 0, 0}, {2, 'r', 0, 0}, {3, 'b', 1, 0}, {4, 'r', 0, 0}};
  w_patch(&w, v + 4, w_table(&w, of, n_opts ? 5 : 3, orf));
  w_patch(&w, orf[0], w_vec_i32(&w, op_in, n_in));
  w_patch(&w, orf[1], w_vec_i32(&w, &one, 1));
  if (n_opts) w_patch(&w, orf[2], w_table(&w, opts, n_opts, NULL));
  /* buffers: buffer k holds tensor k's data (buffer 0 and activations empty) */
  v = w_refs(&w, nt);
  w_patch(&w, r[2], v);
  for (int k = 0; k < nt; k++) {
    if (!t[k].data || k == 0) {
      w_patch(&w, v + 4 + 4 * (size_t)k, w_table(&w, NULL, 0, NULL));
      continue;
    }
    size_t br[1];
    fld bf[] = {{0, 'r', 0, 0}};
    w_patch(&w, v + 4 + 4 * (size_t)k, w_table(&w, bf, 1, br));
    size_t count = 1;
    for (int d = 0; d < t[k].rank; d++) count *= (size_t)t[k].dims[d];
    w_patch(&w, br[0], w_bytes(&w, t[k].data, count * 4));
  }
  *size = w.n;
  return w.b;
}

/* TensorFlow's bilinear source coordinate, from its definition, in doubles. */
static double ref_src(int o, int in, int out, int align, int half) {
  double scale = align && out > 1 ? (double)(in - 1) / (out - 1) : (double)in / out;
  return half ? fmax(0.0, (o + 0.5) * scale - 0.5) : o * scale;
}

/* ---- every operator against a reference ---------------------------------------------- */

enum { N_ = 2, H_ = 7, W_ = 6, C_ = 3 };
#define X_COUNT ((size_t)N_ * H_ * W_ * C_)
static float opx[X_COUNT]; /* the input all operator tests share */

static float xat(int n, int h, int w, int c) { return opx[(((size_t)n * H_ + h) * W_ + w) * C_ + c]; }

static float act_ref(float v, int act) {
  switch (act) {
  case 1: return v > 0 ? v : 0;
  case 2: return v < -1 ? -1 : v > 1 ? 1 : v;
  case 3: return v < 0 ? 0 : v > 6 ? 6 : v;
  case 4: return tanhf(v);
  default: return v;
  }
}

/* TF's SAME/VALID output size and leading pad, computed from the definition. */
static int win_out(int in, int k, int s, int same, int *lead) {
  int out = same ? (in + s - 1) / s : (in - k) / s + 1;
  int total = (out - 1) * s + k - in;
  *lead = same && total > 0 ? total / 2 : 0;
  return out;
}

/* Builds a one-operator model from the input [1,H,W,C], output `out` and
 * constants, runs it at batch N_ and compares output 0 with ref (count
 * values in TFLite's row-major order). */
static void op_case(const char *what, int code, const fld *opts, int n_opts, ctensor out,
                    const ctensor *consts, int n_consts, const int *op_in, int n_in,
                    const float *ref, size_t count) {
  ctensor t[6] = {{4, {1, H_, W_, C_}, 0, NULL}, out};
  for (int k = 0; k < n_consts; k++) t[2 + k] = consts[k];
  size_t size;
  uint8_t *m = one_op_model(code, opts, n_opts, t, 2 + n_consts, op_in, n_in, &size);
  fr__graph *g = NULL;
  fr_error e = {0, ""};
  fr_status st = fr__tflite_load(m, size, NULL, what, &g, &e);
  CHECK_MSG(st == FR_OK, "%s: %s", what, e.message);
  free(m);
  if (st != FR_OK) return;
  result r;
  if (run(g, N_, H_, W_, opx, &r)) {
    CHECK_MSG(count4(r.shape[0]) == count, "%s: %zu values, %zu expected", what,
              count4(r.shape[0]), count);
    if (count4(r.shape[0]) == count) {
      float d = max_rel_diff(r.v[0], ref, count);
      CHECK_MSG(d < 1e-4f, "%s: differs by %g", what, (double)d);
    }
    result_free(&r);
  }
  fr__graph_destroy(g);
}

static void rand_fill(float *v, size_t n) {
  for (size_t i = 0; i < n; i++) v[i] = frand();
}

static void test_conv_ops(void) {
  static float wt[5 * 3 * 3 * C_], b[5], ref[N_ * 7 * 6 * 5 * 3];
  int in3[3] = {0, 2, 3};
  /* CONV_2D, OHWI weights [5][kh][kw][3]: SAME stride 2 with RELU6, and
   * VALID stride 1 with a 3x2 kernel. */
  for (int v = 0; v < 2; v++) {
    int kh = 3, kw = v ? 2 : 3, s = v ? 1 : 2, same = !v, act = v ? 0 : 3, co = 5;
    rand_fill(wt, (size_t)co * kh * kw * C_);
    for (int i = 0; i < co * kh * kw * C_; i++) wt[i] *= 2.f;
    rand_fill(b, (size_t)co);
    int pt, pl, oh = win_out(H_, kh, s, same, &pt), ow = win_out(W_, kw, s, same, &pl);
    size_t k = 0;
    for (int n = 0; n < N_; n++)
      for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++)
          for (int o = 0; o < co; o++) {
            float acc = b[o];
            for (int i = 0; i < kh; i++)
              for (int j = 0; j < kw; j++) {
                int iy = y * s - pt + i, ix = x * s - pl + j;
                if (iy < 0 || iy >= H_ || ix < 0 || ix >= W_) continue;
                for (int c = 0; c < C_; c++) acc += xat(n, iy, ix, c) * wt[((o * kh + i) * kw + j) * C_ + c];
              }
            ref[k++] = act_ref(acc, act);
          }
    ctensor cs[2] = {{4, {co, kh, kw, C_}, 0, wt}, {1, {co}, 0, b}};
    fld o[] = {{0, 'b', same ? 0 : 1, 0}, {1, 'i', s, 0}, {2, 'i', s, 0}, {3, 'b', act, 0}};
    op_case(v ? "conv valid 3x2" : "conv same s2 relu6", 3, o, 4, (ctensor){4, {1, oh, ow, co}, 0, NULL},
            cs, 2, in3, 3, ref, k);
  }
  /* DEPTHWISE_CONV_2D, weights [1][3][3][C], SAME stride 2, RELU. */
  {
    rand_fill(wt, 9 * C_);
    rand_fill(b, C_);
    int pt, pl, oh = win_out(H_, 3, 2, 1, &pt), ow = win_out(W_, 3, 2, 1, &pl);
    size_t k = 0;
    for (int n = 0; n < N_; n++)
      for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++)
          for (int c = 0; c < C_; c++) {
            float acc = b[c];
            for (int i = 0; i < 3; i++)
              for (int j = 0; j < 3; j++) {
                int iy = y * 2 - pt + i, ix = x * 2 - pl + j;
                if (iy >= 0 && iy < H_ && ix >= 0 && ix < W_) acc += xat(n, iy, ix, c) * wt[(i * 3 + j) * C_ + c];
              }
            ref[k++] = act_ref(acc, 1);
          }
    ctensor cs[2] = {{4, {1, 3, 3, C_}, 0, wt}, {1, {C_}, 0, b}};
    fld o[] = {{0, 'b', 0, 0}, {1, 'i', 2, 0}, {2, 'i', 2, 0}, {3, 'i', 1, 0}, {4, 'b', 1, 0}};
    op_case("depthwise same s2 relu", 4, o, 5, (ctensor){4, {1, oh, ow, C_}, 0, NULL}, cs, 2, in3, 3, ref, k);
  }
  /* FULLY_CONNECTED over the flattened item, weights [out][in], TANH. */
  {
    int in = H_ * W_ * C_, co = 5;
    static float fw[5 * H_ * W_ * C_];
    rand_fill(fw, (size_t)co * in);
    rand_fill(b, (size_t)co);
    size_t k = 0;
    for (int n = 0; n < N_; n++)
      for (int o = 0; o < co; o++) {
        float acc = b[o];
        for (int i = 0; i < in; i++) acc += opx[(size_t)n * in + i] * fw[(size_t)o * in + i] * 0.1f;
        ref[k++] = tanhf(acc);
      }
    for (int i = 0; i < co * in; i++) fw[i] *= 0.1f;
    ctensor cs[2] = {{2, {co, in}, 0, fw}, {1, {co}, 0, b}};
    fld o[] = {{0, 'b', 4, 0}};
    op_case("fully connected tanh", 9, o, 1, (ctensor){2, {1, co}, 0, NULL}, cs, 2, in3, 3, ref, k);
  }
  /* Pools: max 3x3/2 SAME, average 2x2/2 SAME (edge windows count only
   * what is inside), average 3x3/1 VALID with RELU. */
  for (int v = 0; v < 3; v++) {
    int k_ = v == 1 ? 2 : 3, s = v == 2 ? 1 : 2, same = v < 2, is_max = v == 0, act = v == 2;
    int pt, pl, oh = win_out(H_, k_, s, same, &pt), ow = win_out(W_, k_, s, same, &pl);
    size_t k = 0;
    for (int n = 0; n < N_; n++)
      for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++)
          for (int c = 0; c < C_; c++) {
            float acc = is_max ? -INFINITY : 0;
            int cnt = 0;
            for (int i = 0; i < k_; i++)
              for (int j = 0; j < k_; j++) {
                int iy = y * s - pt + i, ix = x * s - pl + j;
                if (iy < 0 || iy >= H_ || ix < 0 || ix >= W_) continue;
                acc = is_max ? fmaxf(acc, xat(n, iy, ix, c)) : acc + xat(n, iy, ix, c);
                cnt++;
              }
            ref[k++] = act_ref(is_max ? acc : acc / (float)cnt, act);
          }
    fld o[] = {{0, 'b', same ? 0 : 1, 0}, {1, 'i', s, 0}, {2, 'i', s, 0}, {3, 'i', k_, 0}, {4, 'i', k_, 0}, {5, 'b', act, 0}};
    int in1[1] = {0};
    op_case(v == 0 ? "max pool" : v == 1 ? "avg pool same" : "avg pool valid relu", is_max ? 17 : 1, o, 6,
            (ctensor){4, {1, oh, ow, C_}, 0, NULL}, NULL, 0, in1, 1, ref, k);
  }
}

static void test_elementwise_ops(void) {
  static float ref[X_COUNT * 4], kc[W_ * C_];
  int in1[1] = {0}, in2[2] = {0, 2}, in2r[2] = {2, 0}, self[2] = {0, 0};
  ctensor same = {4, {1, H_, W_, C_}, 0, NULL};
  /* ADD of a per-channel constant, fused RELU_N1_TO_1. */
  rand_fill(kc, C_);
  for (size_t i = 0; i < X_COUNT; i++) ref[i] = act_ref(opx[i] + kc[i % C_], 2);
  ctensor kch = {1, {C_}, 0, kc};
  fld a2[] = {{0, 'b', 2, 0}};
  op_case("add channel const relu_n1_to_1", 0, a2, 1, same, &kch, 1, in2, 2, ref, X_COUNT);
  /* SUB with the constant first, broadcast along W only ([1,1,W,1]). */
  rand_fill(kc, W_);
  for (size_t i = 0; i < X_COUNT; i++) ref[i] = kc[(i / C_) % W_] - opx[i];
  ctensor kw = {4, {1, 1, W_, 1}, 0, kc};
  op_case("sub const first over W", 41, NULL, 0, same, &kw, 1, in2r, 2, ref, X_COUNT);
  /* MUL of the input with itself, fused RELU6; DIV by a scalar. */
  for (size_t i = 0; i < X_COUNT; i++) ref[i] = act_ref(opx[i] * opx[i] * 1.f, 3);
  fld a3[] = {{0, 'b', 3, 0}};
  op_case("mul self relu6", 18, a3, 1, same, NULL, 0, self, 2, ref, X_COUNT);
  kc[0] = -0.37f;
  for (size_t i = 0; i < X_COUNT; i++) ref[i] = opx[i] / kc[0];
  ctensor ks = {1, {1}, 0, kc};
  op_case("div scalar", 42, NULL, 0, same, &ks, 1, in2, 2, ref, X_COUNT);
  rand_fill(kc, C_);
  for (size_t i = 0; i < X_COUNT; i++) ref[i] = fmaxf(opx[i], kc[i % C_]);
  op_case("maximum", 55, NULL, 0, same, &kch, 1, in2, 2, ref, X_COUNT);
  for (size_t i = 0; i < X_COUNT; i++) ref[i] = fminf(opx[i], kc[i % C_]);
  op_case("minimum", 57, NULL, 0, same, &kch, 1, in2, 2, ref, X_COUNT);
  /* PRELU with per-channel slopes. */
  for (size_t i = 0; i < X_COUNT; i++) ref[i] = opx[i] < 0 ? kc[i % C_] * opx[i] : opx[i];
  ctensor k13 = {3, {1, 1, C_}, 0, kc};
  op_case("prelu", 54, NULL, 0, same, &k13, 1, in2, 2, ref, X_COUNT);
  /* Unary operators. */
  static const struct { int code; const char *name; } un[] = {
      {59, "neg"}, {101, "abs"}, {47, "exp"}, {28, "tanh"}, {14, "logistic"}, {19, "relu"}, {21, "relu6"}, {20, "relu_n1_to_1"}};
  for (size_t u = 0; u < sizeof un / sizeof un[0]; u++) {
    for (size_t i = 0; i < X_COUNT; i++) {
      float v = opx[i] * 4.f;
      switch (un[u].code) {
      case 59: ref[i] = -v; break;
      case 101: ref[i] = fabsf(v); break;
      case 47: ref[i] = expf(v); break;
      case 28: ref[i] = tanhf(v); break;
      case 14: ref[i] = 1.f / (1.f + expf(-v)); break;
      case 19: ref[i] = act_ref(v, 1); break;
      case 21: ref[i] = act_ref(v, 3); break;
      default: ref[i] = act_ref(v, 2); break;
      }
    }
    for (size_t i = 0; i < X_COUNT; i++) opx[i] *= 4.f;
    op_case(un[u].name, un[u].code, NULL, 0, same, NULL, 0, in1, 1, ref, X_COUNT);
    for (size_t i = 0; i < X_COUNT; i++) opx[i] *= 0.25f;
  }
  /* SOFTMAX with beta 0.7 over channels. */
  for (size_t p = 0; p < X_COUNT / C_; p++) {
    double s = 0;
    for (int c = 0; c < C_; c++) s += exp(0.7 * opx[p * C_ + c]);
    for (int c = 0; c < C_; c++) ref[p * C_ + c] = (float)(exp(0.7 * opx[p * C_ + c]) / s);
  }
  fld sb[] = {{0, 'f', 0, 0.7f}};
  op_case("softmax beta", 25, sb, 1, same, NULL, 0, in1, 1, ref, X_COUNT);
}

static void test_shape_ops(void) {
  static float ref[X_COUNT * 8];
  int in1[1] = {0}, in2[2] = {0, 2}, self[2] = {0, 0};
  /* PAD [[0,0],[1,2],[0,1],[2,0]]. */
  {
    static const int pads[8] = {0, 0, 1, 2, 0, 1, 2, 0};
    int oh = H_ + 3, ow = W_ + 1, oc = C_ + 2;
    size_t k = 0;
    for (int n = 0; n < N_; n++)
      for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++)
          for (int c = 0; c < oc; c++) {
            int iy = y - 1, ix = x, ic = c - 2;
            ref[k++] = iy >= 0 && iy < H_ && ix < W_ && ic >= 0 ? xat(n, iy, ix, ic) : 0.f;
          }
    ctensor p = {2, {4, 2}, 2, pads};
    op_case("pad", 34, NULL, 0, (ctensor){4, {1, oh, ow, oc}, 0, NULL}, &p, 1, in2, 2, ref, k);
  }
  /* RESIZE_BILINEAR to 11x5 with each flag setting. */
  for (int v = 0; v < 3; v++) {
    int align = v == 1, half = v == 2, oh = 11, ow = 5;
    static const int sz[2] = {11, 5};
    size_t k = 0;
    for (int n = 0; n < N_; n++)
      for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
          double sy = ref_src(y, H_, oh, align, half), sx = ref_src(x, W_, ow, align, half);
          int y0 = (int)floor(sy), x0 = (int)floor(sx);
          if (y0 > H_ - 1) y0 = H_ - 1;
          if (x0 > W_ - 1) x0 = W_ - 1;
          int y1 = y0 + 1 < H_ ? y0 + 1 : H_ - 1, x1 = x0 + 1 < W_ ? x0 + 1 : W_ - 1;
          double fy = sy - y0, fx = sx - x0;
          for (int c = 0; c < C_; c++)
            ref[k++] = (float)((1 - fy) * ((1 - fx) * xat(n, y0, x0, c) + fx * xat(n, y0, x1, c)) +
                               fy * ((1 - fx) * xat(n, y1, x0, c) + fx * xat(n, y1, x1, c)));
        }
    ctensor s = {1, {2}, 2, sz};
    fld o[] = {{2, 'b', align, 0}, {3, 'b', half, 0}};
    op_case(v == 0 ? "resize" : v == 1 ? "resize align_corners" : "resize half_pixel", 23, o, 2,
            (ctensor){4, {1, oh, ow, C_}, 0, NULL}, &s, 1, in2, 2, ref, k);
  }
  /* CONCATENATION of the input with itself along channels and along W. */
  for (int v = 0; v < 2; v++) {
    size_t k = 0;
    for (int n = 0; n < N_; n++)
      for (int y = 0; y < H_; y++)
        for (int x = 0; x < (v ? 2 * W_ : W_); x++)
          for (int c = 0; c < (v ? C_ : 2 * C_); c++) ref[k++] = xat(n, y, x % W_, c % C_);
    fld o[] = {{0, 'i', v ? 2 : -1, 0}};
    op_case(v ? "concat w" : "concat channels", 2, o, 1,
            (ctensor){4, {1, H_, v ? 2 * W_ : W_, v ? C_ : 2 * C_}, 0, NULL}, NULL, 0, self, 2, ref, k);
  }
  /* Reductions: max over H keeping it, sum over the last axis keeping it,
   * mean over W dropping it (a rank-3 result). */
  for (int v = 0; v < 3; v++) {
    static int ax[1];
    ax[0] = v == 0 ? 1 : v == 1 ? -1 : 2;
    size_t k = 0;
    int oh = v == 0 ? 1 : H_, ow = v == 2 ? 1 : W_, oc = v == 1 ? 1 : C_;
    for (int n = 0; n < N_; n++)
      for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++)
          for (int c = 0; c < oc; c++) {
            float acc = v == 0 ? -INFINITY : 0;
            int len = v == 0 ? H_ : v == 1 ? C_ : W_;
            for (int i = 0; i < len; i++) {
              float e = xat(n, v == 0 ? i : y, v == 2 ? i : x, v == 1 ? i : c);
              acc = v == 0 ? fmaxf(acc, e) : acc + e;
            }
            ref[k++] = v == 2 ? acc / (float)W_ : acc;
          }
    ctensor a = {1, {1}, 2, ax};
    fld o[] = {{0, 'b', v != 2, 0}};
    ctensor out = v == 2 ? (ctensor){3, {1, H_, C_}, 0, NULL} : (ctensor){4, {1, oh, ow, oc}, 0, NULL};
    op_case(v == 0 ? "reduce_max h" : v == 1 ? "sum c" : "mean w no keep", v == 0 ? 82 : v == 1 ? 74 : 40, o,
            1, out, &a, 1, in2, 2, ref, k);
  }
  /* RESHAPE to rank 3 and to rank 2: the values keep their order. */
  memcpy(ref, opx, sizeof opx);
  static const int shp3[3] = {1, H_ * W_, C_}, shp2[2] = {1, H_ * W_ * C_};
  ctensor s3 = {1, {3}, 2, shp3}, s2 = {1, {2}, 2, shp2};
  op_case("reshape rank 3", 22, NULL, 0, (ctensor){3, {1, H_ * W_, C_}, 0, NULL}, &s3, 1, in2, 2, ref, X_COUNT);
  op_case("reshape rank 2", 22, NULL, 0, (ctensor){2, {1, H_ * W_ * C_}, 0, NULL}, &s2, 1, in2, 2, ref, X_COUNT);
  (void)in1;
}

static void test_operators(void) {
  rand_fill(opx, X_COUNT);
  test_conv_ops();
  test_elementwise_ops();
  test_shape_ops();
}

/* ---- real faces ------------------------------------------------------------------- */

/* A face crop, resized (bilinear) to s x s and scaled to (v - mean) * scale;
 * transposed (x and y swapped) for the MTCNN models, converted from caffe. */
static int face_input(const char *rel, int s, float mean, float scale, int transpose, float *out) {
  fr_image im, rgb;
  fr_error e = {0, ""};
  if (fr_image_load(check_data(rel), NULL, &im, &e) != FR_OK) {
    CHECK_MSG(0, "%s: %s", rel, e.message);
    return 0;
  }
  fr_status st = fr_image_convert(&im, FR_PIXEL_RGB, &rgb, &e);
  fr_image_free(&im);
  if (st != FR_OK) return 0;
  for (int y = 0; y < s; y++)
    for (int x = 0; x < s; x++) {
      float fy = ((float)y + 0.5f) * (float)rgb.height / (float)s - 0.5f;
      float fx = ((float)x + 0.5f) * (float)rgb.width / (float)s - 0.5f;
      fy = fy < 0 ? 0 : fy;
      fx = fx < 0 ? 0 : fx;
      int y0 = (int)fy, x0 = (int)fx;
      int y1 = y0 + 1 < rgb.height ? y0 + 1 : y0, x1 = x0 + 1 < rgb.width ? x0 + 1 : x0;
      float ay = fy - (float)y0, ax = fx - (float)x0;
      for (int c = 0; c < 3; c++) {
        const uint8_t *d = rgb.data;
        float v00 = d[y0 * rgb.stride + x0 * 3 + c], v01 = d[y0 * rgb.stride + x1 * 3 + c];
        float v10 = d[y1 * rgb.stride + x0 * 3 + c], v11 = d[y1 * rgb.stride + x1 * 3 + c];
        float v = (v00 * (1 - ax) + v01 * ax) * (1 - ay) + (v10 * (1 - ax) + v11 * ax) * ay;
        int oy = transpose ? x : y, ox = transpose ? y : x;
        out[((size_t)oy * s + ox) * 3 + c] = (v - mean) * scale;
      }
    }
  fr_image_free(&rgb);
  return 1;
}

static const char *const people[] = {"amy", "howard", "leonard", "penny"};
#define N_PEOPLE 4
#define PER_PERSON 2

/* O-Net calls face crops faces and flat grey not; MobileFaceNet puts two
 * crops of one person closer than crops of two people. */
static void test_real_faces(void) {
  char rel[256];
  fr__graph *onet = load("onet.tflite", NULL, 0);
  if (onet) {
    int n = N_PEOPLE * PER_PERSON + 1, ok = 1;
    float *x = calloc((size_t)n * 48 * 48 * 3, sizeof(float));
    for (int i = 0; x && i < n - 1 && ok; i++) {
      snprintf(rel, sizeof rel, "bbt/examples/images/%s/%s%d.png", people[i / PER_PERSON],
               people[i / PER_PERSON], i % PER_PERSON + 1);
      ok = face_input(rel, 48, 127.5f, 0.0078125f, 1, x + (size_t)i * 48 * 48 * 3);
    }
    result r;
    if (x && ok && run(onet, n, 48, 48, x, &r)) {
      int faces = 0;
      for (int i = 0; i < n - 1; i++) faces += r.v[0][2 * i + 1] > 0.5f;
      printf("O-Net face probability:");
      for (int i = 0; i < n; i++) printf(" %.3f", (double)r.v[0][2 * i + 1]);
      printf(" (the last is a flat image)\n");
      CHECK_MSG(faces >= n - 2, "O-Net found %d faces in %d crops", faces, n - 1);
      CHECK_MSG(r.v[0][2 * (n - 1) + 1] < 0.5f, "O-Net calls a flat image a face (%g)",
                (double)r.v[0][2 * (n - 1) + 1]);
      result_free(&r);
    }
    free(x);
    fr__graph_destroy(onet);
  }

  fr__graph *mfn = load("MobileFaceNet.tflite", NULL, 0);
  if (mfn) {
    int n = N_PEOPLE * PER_PERSON, ok = 1;
    float *x = malloc((size_t)n * 112 * 112 * 3 * sizeof(float));
    for (int i = 0; x && i < n && ok; i++) {
      snprintf(rel, sizeof rel, "bbt/examples/images/%s/%s%d.png", people[i / PER_PERSON],
               people[i / PER_PERSON], i % PER_PERSON + 1);
      ok = face_input(rel, 112, 127.5f, 1.f / 128.f, 0, x + (size_t)i * 112 * 112 * 3);
    }
    result r;
    if (x && ok && run(mfn, n, 112, 112, x, &r)) {
      float *e = r.v[0];
      for (int i = 0; i < n; i++) {
        float s = 0;
        for (int k = 0; k < 192; k++) s += e[i * 192 + k] * e[i * 192 + k];
        s = 1.f / sqrtf(s);
        for (int k = 0; k < 192; k++) e[i * 192 + k] *= s;
      }
      double same = 0, diff = 0;
      int ns = 0, nd = 0;
      for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
          float dot = 0;
          for (int k = 0; k < 192; k++) dot += e[i * 192 + k] * e[j * 192 + k];
          if (i / PER_PERSON == j / PER_PERSON)
            same += dot, ns++;
          else
            diff += dot, nd++;
        }
      same /= ns;
      diff /= nd;
      printf("MobileFaceNet cosine: same person %.3f, different %.3f\n", same, diff);
      CHECK_MSG(same > diff + 0.2, "same %.3f, different %.3f", same, diff);
      result_free(&r);
    }
    free(x);
    fr__graph_destroy(mfn);
  }
}

/* BlazeFace (short range) finds the face in a face crop and nothing in a flat
 * image: the best anchor's logit is positive, respectively negative. */
static void test_blazeface(void) {
  fr__graph *g = load("face_detection_short_range.tflite", NULL, 0);
  if (!g) return;
  float *x = calloc(2 * 128 * 128 * 3, sizeof(float));
  result r;
  if (x && face_input("bbt/test/images/face1.png", 128, 127.5f, 1.f / 127.5f, 0, x) &&
      run(g, 2, 128, 128, x, &r)) {
    float best[2] = {-1e9f, -1e9f};
    for (int b = 0; b < 2; b++)
      for (int a = 0; a < 896; a++) best[b] = fmaxf(best[b], r.v[1][b * 896 + a]);
    printf("BlazeFace best logit: face %.2f, flat %.2f\n", (double)best[0], (double)best[1]);
    CHECK_MSG(best[0] > 0.f && best[1] < 0.f, "face %g, flat %g", (double)best[0],
              (double)best[1]);
    result_free(&r);
  }
  free(x);
  fr__graph_destroy(g);
}

/* ---- hostile files ---------------------------------------------------------------- */

/* Loads bytes; on success plans and runs the graph at a small size, which
 * must not crash either. Returns the status. */
static fr_status try_load(const uint8_t *d, size_t n, int h, int w) {
  fr__graph *g = NULL;
  fr_error e = {0, ""};
  fr_status st = fr__tflite_load(d, n, NULL, "hostile", &g, &e);
  if (st != FR_OK) {
    CHECK_MSG(g == NULL && e.status == st && e.message[0], "failure without a message");
    CHECK_MSG(st == FR_E_MODEL || st == FR_E_UNSUPPORTED || st == FR_E_LIMIT ||
                  st == FR_E_NOMEM,
              "status %d: %s", st, e.message);
    CHECK_MSG(strncmp(e.message, "hostile: ", 9) == 0, "message does not name the model: %s",
              e.message);
    return st;
  }
  fr__plan *p = NULL;
  if (fr__plan_create(g, 1, h, w, 1, &p, &e) == FR_OK) {
    float *in = fr__plan_input(p);
    for (int i = 0; i < h * w * 3; i++) in[i] = frand();
    fr__run(g, p, NULL);
    fr__plan_destroy(p);
  }
  fr__graph_destroy(g);
  return st;
}

/* Position of field `id` of the table at pos, or 0 (the test's own small
 * flatbuffer walk, used to plant an unsupported operator). */
static size_t fb_field(const uint8_t *d, size_t pos, int id) {
  int32_t so;
  memcpy(&so, d + pos, 4);
  size_t vt = pos - (size_t)(int64_t)so;
  uint16_t vl, off;
  memcpy(&vl, d + vt, 2);
  if (4 + 2 * (size_t)id + 2 > vl) return 0;
  memcpy(&off, d + vt + 4 + 2 * id, 2);
  return off ? pos + off : 0;
}
static size_t fb_follow(const uint8_t *d, size_t p) {
  uint32_t r;
  memcpy(&r, d + p, 4);
  return p + r;
}

static void test_hostile(void) {
  fr__graph *g = NULL;
  fr_error e = {0, ""};
  CHECK(fr__tflite_load(NULL, 0, NULL, "hostile", &g, &e) == FR_E_MODEL && !g);
  CHECK(try_load((const uint8_t *)"", 0, 12, 12) == FR_E_MODEL);
  CHECK(try_load((const uint8_t *)"\x10\0\0\0TFL3", 8, 12, 12) == FR_E_MODEL);
  uint8_t garbage[4096];
  for (size_t i = 0; i < sizeof garbage; i++) garbage[i] = (uint8_t)(frand() * 128 + 128);
  CHECK(try_load(garbage, sizeof garbage, 12, 12) == FR_E_MODEL);
  memcpy(garbage + 4, "TFL3", 4); /* right identifier, random tables */
  CHECK(try_load(garbage, sizeof garbage, 12, 12) != FR_OK);
  CHECK(fr__tflite_load_file("/nonexistent/model.tflite", NULL, &g, &e) == FR_E_IO && !g);

  size_t len;
  uint8_t *pnet = read_all(model_path("pnet.tflite"), &len);
  CHECK(pnet != NULL);
  if (!pnet) return;
  uint8_t *buf = malloc(len);
  /* Truncation points in steps. (The last 8 bytes of this file are a table
   * nothing refers to, so a cut there is harmless and not tried.) */
  int cut_ok = 0;
  for (size_t n = 0; n < len - 8; n += n < 64 ? 1 : 997) cut_ok += try_load(pnet, n, 12, 12) == FR_OK;
  CHECK_MSG(cut_ok == 0, "%d truncated files loaded", cut_ok);
  CHECK(try_load(pnet, len, 12, 12) == FR_OK);

  /* Random corruption: one to four bytes changed per try. Loads may
   * succeed (a changed weight is still a model) but must never crash. */
  int loaded = 0, tries = 400;
  for (int t = 0; t < tries && buf; t++) {
    memcpy(buf, pnet, len);
    int flips = 1 + t % 4;
    for (int f = 0; f < flips; f++) {
      rng = rng * 1664525u + 1013904223u;
      size_t at = (rng >> 4) % (t % 2 ? 2048 : len); /* half of them in the tables up front */
      buf[at] ^= (uint8_t)(1u << (rng >> 29));
      if (t % 8 == 0) buf[at] = (uint8_t)(rng >> 12);
    }
    loaded += try_load(buf, len, 14, 12) == FR_OK;
  }
  printf("corrupted P-Net files that still loaded: %d of %d\n", loaded, tries);

  /* An operator the importer does not know: CONV_2D's code becomes
   * TRANSPOSE (39), which must be named in the error. */
  if (buf) {
    memcpy(buf, pnet, len);
    size_t model = fb_follow(buf, 0);
    size_t codes = fb_follow(buf, fb_field(buf, model, 1));
    uint32_t ncodes;
    memcpy(&ncodes, buf + codes, 4);
    int planted = 0;
    for (uint32_t k = 0; k < ncodes; k++) {
      size_t oc = fb_follow(buf, codes + 4 + 4 * k);
      size_t dep = fb_field(buf, oc, 0), bc = fb_field(buf, oc, 3);
      int code = bc ? (int)buf[bc] : dep ? (int)buf[dep] : 0;
      if (code != 3) continue;
      if (dep) buf[dep] = 39;
      if (bc) buf[bc] = 39;
      planted = 1;
    }
    CHECK(planted);
    g = NULL;
    fr_status st = fr__tflite_load(buf, len, NULL, "hostile", &g, &e);
    CHECK_MSG(st == FR_E_UNSUPPORTED && strstr(e.message, "TRANSPOSE"), "%d: %s", st, e.message);
    fr__graph_destroy(g);
  }
  free(buf);
  free(pnet);
}

int main(void) {
  test_operators();
  test_models();
  test_batch_independence();
  test_pnet_sliding();
  test_fusion_and_kernels();
  test_real_faces();
  test_blazeface();
  test_hostile();
  printf("%d passed, %d failed\n", check_passed_, check_failed_);
  return check_failed_ ? 1 : 0;
}
