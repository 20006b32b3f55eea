/*
 * test_ops.c - the general tensor ops imported graphs use (nn.h, "general
 * tensor ops"; loops in src/nn/ops.c, planning in src/nn/graph.c): each one
 * against a naive reference written here element by element, on random
 * inputs of odd shapes, first as a bare loop and then inside a planned graph
 * (so shape inference and dispatch are covered too). These ops exist only as
 * scalar loops; the graphs are also run with the best kernel set, whose
 * convolutions feed them, to see that the two sets agree around them.
 */
#include "nn/nn.h"

#include "check.h"

#include <stdint.h>

static uint32_t rng = 777;
static float frand(void) {
  rng = rng * 1664525u + 1013904223u;
  return (float)(rng >> 8) / (float)(1 << 23) - 1.f;
}
static int irand(int lo, int hi) { /* [lo, hi] */
  rng = rng * 1664525u + 1013904223u;
  return lo + (int)((rng >> 8) % (uint32_t)(hi - lo + 1));
}

static float *rand_buf(size_t n) {
  float *b = malloc((n ? n : 1) * sizeof *b);
  for (size_t i = 0; b && i < n; i++) b[i] = 2.f * frand();
  return b;
}

static size_t cnt(const int s[4]) { return (size_t)s[0] * s[1] * s[2] * s[3]; }
static size_t at(const int s[4], int n, int h, int w, int c) {
  return (((size_t)n * s[1] + h) * s[2] + w) * s[3] + c;
}

static int close_all(const float *a, const float *b, size_t n, float tol) {
  for (size_t i = 0; i < n; i++)
    if (!(fabsf(a[i] - b[i]) <= tol * fmaxf(1.f, fabsf(b[i])))) return 0;
  return 1;
}

static float ref_bin(fr__binop op, float a, float b) {
  switch (op) {
  case FR__BIN_ADD: return a + b;
  case FR__BIN_SUB: return a - b;
  case FR__BIN_MUL: return a * b;
  case FR__BIN_DIV: return a / b;
  case FR__BIN_MAX: return fmaxf(a, b);
  default: return fminf(a, b);
  }
}

/* ---- bare loops -------------------------------------------------------------- */

static void test_binary(void) {
  for (int t = 0; t < 60; t++) {
    int ys[4] = {irand(1, 3), irand(1, 6), irand(1, 7), irand(1, 9)}, as[4], bs[4];
    for (int d = 0; d < 4; d++) { /* each axis: both full, or one of them 1 */
      int mode = irand(0, 2);
      as[d] = mode == 1 ? 1 : ys[d];
      bs[d] = mode == 2 ? 1 : ys[d];
    }
    fr__binop op = (fr__binop)(t % 6);
    float *a = rand_buf(cnt(as)), *b = rand_buf(cnt(bs)), *y = rand_buf(cnt(ys)),
          *r = rand_buf(cnt(ys));
    if (op == FR__BIN_DIV)
      for (size_t i = 0; i < cnt(bs); i++) b[i] = b[i] < 0 ? b[i] - 0.5f : b[i] + 0.5f;
    fr__op_binary(op, a, as, b, bs, y, ys);
    for (int n = 0; n < ys[0]; n++)
      for (int h = 0; h < ys[1]; h++)
        for (int w = 0; w < ys[2]; w++)
          for (int c = 0; c < ys[3]; c++) {
            float va = a[at(as, as[0] > 1 ? n : 0, as[1] > 1 ? h : 0, as[2] > 1 ? w : 0,
                            as[3] > 1 ? c : 0)];
            float vb = b[at(bs, bs[0] > 1 ? n : 0, bs[1] > 1 ? h : 0, bs[2] > 1 ? w : 0,
                            bs[3] > 1 ? c : 0)];
            r[at(ys, n, h, w, c)] = ref_bin(op, va, vb);
          }
    CHECK_MSG(close_all(y, r, cnt(ys), 1e-6f), "op %d a %dx%dx%dx%d b %dx%dx%dx%d", op, as[0],
              as[1], as[2], as[3], bs[0], bs[1], bs[2], bs[3]);
    free(a), free(b), free(y), free(r);
  }
}

static void test_unary_prelu_softmax(void) {
  size_t n = 1001;
  float *x = rand_buf(n), *y = rand_buf(n);
  for (size_t i = 0; i < n; i++) x[i] *= 4.f;
  for (int op = FR__UN_NEG; op <= FR__UN_LAST; op++) {
    /* Parameters for the ops that take them: Clip's bounds, HardSigmoid's
     * slope and offset, Pow's exponent (one that is not special-cased). */
    float pa = op == FR__UN_CLIP ? -0.7f : op == FR__UN_HARDSIGMOID ? 0.2f : 3.f;
    float pb = op == FR__UN_CLIP ? 1.3f : 0.5f;
    fr__op_unary((fr__unop)op, x, y, n, pa, pb);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
      double v = x[i], r;
      switch (op) {
      case FR__UN_SQRT: r = v >= 0 ? sqrt(v) : NAN; break;
      case FR__UN_ERF: r = erf(v); break;
      case FR__UN_HARDSWISH: r = v * fmin(fmax(v / 6 + 0.5, 0), 1); break;
      case FR__UN_CLIP: r = fmin(fmax(v, pa), pb); break;
      case FR__UN_HARDSIGMOID: r = fmin(fmax(pa * v + pb, 0), 1); break;
      case FR__UN_POW: r = v * v * v; break;
      case FR__UN_NEG: r = -v; break;
      case FR__UN_ABS: r = v < 0 ? -v : v; break;
      case FR__UN_EXP: r = exp(v); break;
      case FR__UN_RELU: r = v > 0 ? v : 0; break;
      case FR__UN_RELU6: r = v > 6 ? 6 : v > 0 ? v : 0; break;
      case FR__UN_RELU1: r = v > 1 ? 1 : v < -1 ? -1 : v; break;
      case FR__UN_TANH: r = tanh(v); break;
      default: r = 1 / (1 + exp(-v)); break;
      }
      if (isnan(r))
        bad += !isnan(y[i]);
      else
        bad += !(fabs(y[i] - r) <= 1e-5 * fmax(1, fabs(r)));
    }
    CHECK_MSG(bad == 0, "unary %d: %d wrong", op, bad);
  }
  /* PReLU and softmax over rows of an odd width. */
  int c = 7;
  size_t px = n / (size_t)c;
  float alpha[7];
  for (int k = 0; k < c; k++) alpha[k] = frand();
  fr__op_prelu(x, y, px, c, alpha);
  int bad = 0;
  for (size_t i = 0; i < px * c; i++) {
    float r = x[i] >= 0 ? x[i] : alpha[i % c] * x[i];
    bad += y[i] != r;
  }
  CHECK_MSG(bad == 0, "prelu: %d wrong", bad);
  for (int t = 0; t < 2; t++) {
    float beta = t ? 0.5f : 1.f;
    fr__op_softmax(x, y, px, c, beta);
    bad = 0;
    for (size_t p = 0; p < px; p++) {
      double s = 0;
      for (int k = 0; k < c; k++) s += exp(beta * x[p * c + k]);
      for (int k = 0; k < c; k++) bad += !(fabs(y[p * c + k] - exp(beta * x[p * c + k]) / s) < 1e-6);
    }
    CHECK_MSG(bad == 0, "softmax beta %g: %d wrong", (double)beta, bad);
  }
  free(x), free(y);
}

static void test_reduce_concat(void) {
  for (int t = 0; t < 24; t++) {
    int xs[4] = {irand(1, 3), irand(1, 5), irand(1, 6), irand(1, 7)};
    int axis = 1 + t % 3, is_max = (t / 3) % 2;
    int ys[4] = {xs[0], xs[1], xs[2], xs[3]};
    ys[axis] = 1;
    float *x = rand_buf(cnt(xs)), *y = rand_buf(cnt(ys)), *r = rand_buf(cnt(ys));
    fr__op_reduce(x, xs, axis, is_max, y);
    for (int n = 0; n < ys[0]; n++)
      for (int h = 0; h < ys[1]; h++)
        for (int w = 0; w < ys[2]; w++)
          for (int c = 0; c < ys[3]; c++) {
            float acc = is_max ? -INFINITY : 0.f;
            for (int k = 0; k < xs[axis]; k++) {
              float v = x[at(xs, n, axis == 1 ? k : h, axis == 2 ? k : w, axis == 3 ? k : c)];
              acc = is_max ? fmaxf(acc, v) : acc + v;
            }
            r[at(ys, n, h, w, c)] = acc;
          }
    CHECK_MSG(close_all(y, r, cnt(ys), 1e-5f), "reduce axis %d max %d", axis, is_max);
    free(x), free(y), free(r);
  }
  for (int t = 0; t < 24; t++) {
    int axis = 1 + t % 3, n_in = 2 + t % 2;
    int base[4] = {irand(1, 3), irand(1, 5), irand(1, 6), irand(1, 7)};
    int shapes[3][4], ys[4];
    const float *xs[3];
    float *bufs[3];
    memcpy(ys, base, sizeof ys);
    ys[axis] = 0;
    for (int i = 0; i < n_in; i++) {
      memcpy(shapes[i], base, sizeof base);
      shapes[i][axis] = irand(1, 4);
      ys[axis] += shapes[i][axis];
      xs[i] = bufs[i] = rand_buf(cnt(shapes[i]));
    }
    float *y = rand_buf(cnt(ys)), *r = rand_buf(cnt(ys));
    fr__op_concat(xs, (const int(*)[4])shapes, n_in, axis, y);
    for (int i = 0, off = 0; i < n_in; off += shapes[i][axis], i++)
      for (int n = 0; n < shapes[i][0]; n++)
        for (int h = 0; h < shapes[i][1]; h++)
          for (int w = 0; w < shapes[i][2]; w++)
            for (int c = 0; c < shapes[i][3]; c++)
              r[at(ys, n, h + (axis == 1) * off, w + (axis == 2) * off, c + (axis == 3) * off)] =
                  xs[i][at(shapes[i], n, h, w, c)];
    CHECK_MSG(memcmp(y, r, cnt(ys) * sizeof(float)) == 0, "concat axis %d of %d", axis, n_in);
    for (int i = 0; i < n_in; i++) free(bufs[i]);
    free(y), free(r);
  }
}

/* TensorFlow's bilinear resize, written from its definition in doubles. */
static double ref_src(int o, int in, int out, int align, int half) {
  double scale = align && out > 1 ? (double)(in - 1) / (out - 1) : (double)in / out;
  return half ? fmax(0.0, (o + 0.5) * scale - 0.5) : o * scale;
}

static void test_resize_pad(void) {
  for (int t = 0; t < 16; t++) {
    int xs[4] = {irand(1, 2), irand(1, 9), irand(1, 9), irand(1, 5)};
    int ys[4] = {xs[0], irand(1, 17), irand(1, 17), xs[3]};
    int align = t % 2, half = (t / 2) % 2;
    if (align && half) half = 0; /* TF rejects the combination */
    float *x = rand_buf(cnt(xs)), *y = rand_buf(cnt(ys)), *r = rand_buf(cnt(ys));
    fr__op_resize_bilinear(x, xs, y, ys, align, half);
    for (int n = 0; n < ys[0]; n++)
      for (int oy = 0; oy < ys[1]; oy++)
        for (int ox = 0; ox < ys[2]; ox++) {
          double sy = ref_src(oy, xs[1], ys[1], align, half);
          double sx = ref_src(ox, xs[2], ys[2], align, half);
          int y0 = (int)floor(sy), x0 = (int)floor(sx);
          if (y0 > xs[1] - 1) y0 = xs[1] - 1;
          if (x0 > xs[2] - 1) x0 = xs[2] - 1;
          int y1 = y0 + 1 < xs[1] ? y0 + 1 : xs[1] - 1, x1 = x0 + 1 < xs[2] ? x0 + 1 : xs[2] - 1;
          double fy = sy - y0, fx = sx - x0;
          for (int c = 0; c < xs[3]; c++) {
            double v = (1 - fy) * ((1 - fx) * x[at(xs, n, y0, x0, c)] + fx * x[at(xs, n, y0, x1, c)]) +
                       fy * ((1 - fx) * x[at(xs, n, y1, x0, c)] + fx * x[at(xs, n, y1, x1, c)]);
            r[at(ys, n, oy, ox, c)] = (float)v;
          }
        }
    CHECK_MSG(close_all(y, r, cnt(ys), 1e-5f), "resize %dx%d -> %dx%d align %d half %d", xs[1],
              xs[2], ys[1], ys[2], align, half);
    free(x), free(y), free(r);
  }
  /* Same size, no flags: the identity. */
  int s[4] = {1, 3, 5, 2};
  float *x = rand_buf(cnt(s)), *y = rand_buf(cnt(s));
  fr__op_resize_bilinear(x, s, y, s, 0, 0);
  CHECK(memcmp(x, y, cnt(s) * sizeof(float)) == 0);
  free(x), free(y);

  for (int t = 0; t < 10; t++) {
    int xs[4] = {irand(1, 2), irand(1, 5), irand(1, 5), irand(1, 4)};
    int p[6];
    for (int k = 0; k < 6; k++) p[k] = irand(0, 2);
    int ys[4] = {xs[0], xs[1] + p[0] + p[1], xs[2] + p[2] + p[3], xs[3] + p[4] + p[5]};
    float *xx = rand_buf(cnt(xs)), *yy = rand_buf(cnt(ys)), *r = calloc(cnt(ys), sizeof(float));
    fr__op_pad(xx, xs, yy, ys, p[0], p[2], p[4]);
    for (int n = 0; n < xs[0]; n++)
      for (int h = 0; h < xs[1]; h++)
        for (int w = 0; w < xs[2]; w++)
          for (int c = 0; c < xs[3]; c++)
            r[at(ys, n, h + p[0], w + p[2], c + p[4])] = xx[at(xs, n, h, w, c)];
    CHECK(memcmp(yy, r, cnt(ys) * sizeof(float)) == 0);
    free(xx), free(yy), free(r);
  }
}

/* ---- inside graphs -------------------------------------------------------------- */

/* Runs a finished graph on x [n,h,w,c]; returns output 0 (malloc'd) and its shape. */
static float *graph_run(const fr__graph *g, const float *x, int n, int h, int w, int c, int ys[4]) {
  fr__plan *p = NULL;
  fr_error e = {0, ""};
  fr_status st = fr__plan_create(g, n, h, w, 1, &p, &e);
  CHECK_MSG(st == FR_OK, "%s", e.message);
  if (st != FR_OK) return NULL;
  memcpy(fr__plan_input(p), x, (size_t)n * h * w * c * sizeof(float));
  fr__run(g, p, NULL);
  const float *o = fr__plan_output(p, 0, ys);
  float *r = malloc(cnt(ys) * sizeof(float));
  if (r) memcpy(r, o, cnt(ys) * sizeof(float));
  fr__plan_destroy(p);
  return r;
}

static void test_graphs(void) {
  const fr__kernels *sets[2] = {&fr__kernels_scalar, NULL};
  for (int ks = 0; ks < 2; ks++) {
    int n = 2, h = 5, w = 7, c = 3;
    size_t nx = (size_t)n * h * w * c;
    float *x = rand_buf(nx);
    int xs[4] = {n, h, w, c};

    /* A convolution feeding x - max_c(x) (a tensor-tensor broadcast), then
     * times a per-channel constant with a fused ReLU6, then concatenated
     * with its own softmax along W, reshaped, padded, resized, PReLU'd, summed over H. */
    float wts[3 * 3 * 3 * 3], bias[3], k[3];
    for (size_t i = 0; i < sizeof wts / sizeof *wts; i++) wts[i] = 0.5f * frand();
    for (int i = 0; i < 3; i++) bias[i] = frand(), k[i] = 3.f * frand();
    fr__graph *g = NULL;
    fr_error e = {0, ""};
    CHECK_OK(fr__graph_create(sets[ks], "ops", &g, &e), &e);
    if (!g) return;
    int in = fr__input(g, c);
    int cv = fr__conv2d(g, in, wts, bias, 3, 3, 3, 1, FR__PAD_SAME, FR__ACT_NONE, 0.f, -1);
    int mx = fr__reduce(g, cv, FR__AXIS_C, 1);
    int d = fr__binary(g, FR__BIN_SUB, cv, mx, FR__ACT_NONE, 0.f);
    int m = fr__binary_const(g, FR__BIN_MUL, d, k, 1, 1, 3, 1, FR__ACT_RELU6, 0.f);
    int sm = fr__softmax(g, cv, 1.f);
    int cat[2] = {m, sm};
    int ct = fr__concat(g, cat, 2, FR__AXIS_W);           /* [n, 5, 14, 3] */
    int rs = fr__reshape(g, ct, 7, 5, 6);                  /* [n, 7, 5, 6] */
    int pd = fr__pad_full(g, rs, 1, 0, 0, 2, 1, 1);        /* [n, 8, 7, 8] */
    int rz = fr__resize_bilinear(g, pd, 5, 9, 0, 1);       /* [n, 5, 9, 8] */
    float a8[8];
    for (int i = 0; i < 8; i++) a8[i] = frand();
    int pr = fr__prelu(g, rz, a8);
    int sum = fr__reduce(g, pr, FR__AXIS_H, 0);            /* [n, 1, 9, 8] */
    fr__output(g, sum);
    CHECK_OK(fr__graph_finish(g, &e), &e);

    /* The same computation with the bare loops and a naive convolution. */
    int s3[4] = {n, h, w, 3}, s1[4] = {n, h, w, 1};
    float *c3 = calloc(cnt(s3), 4), *m1 = calloc(cnt(s1), 4), *dd = calloc(cnt(s3), 4),
          *mm = calloc(cnt(s3), 4), *ss = calloc(cnt(s3), 4);
    for (int b = 0; b < n; b++)
      for (int yy = 0; yy < h; yy++)
        for (int xx = 0; xx < w; xx++)
          for (int co = 0; co < 3; co++) {
            float acc = bias[co];
            for (int ky = 0; ky < 3; ky++)
              for (int kx = 0; kx < 3; kx++) {
                int iy = yy + ky - 1, ix = xx + kx - 1;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                for (int ci = 0; ci < 3; ci++)
                  acc += x[at(xs, b, iy, ix, ci)] * wts[((ky * 3 + kx) * 3 + ci) * 3 + co];
              }
            c3[at(s3, b, yy, xx, co)] = acc;
          }
    int k3[4] = {1, 1, 1, 3};
    fr__op_reduce(c3, s3, 3, 1, m1);
    fr__op_binary(FR__BIN_SUB, c3, s3, m1, s1, dd, s3);
    fr__op_binary(FR__BIN_MUL, k, k3, dd, s3, mm, s3);
    for (size_t i = 0; i < cnt(s3); i++) mm[i] = fminf(fmaxf(mm[i], 0.f), 6.f);
    fr__op_softmax(c3, ss, cnt(s3) / 3, 3, 1.f);
    int sc[4] = {n, 5, 14, 3}, sr[4] = {n, 7, 5, 6}, sp[4] = {n, 8, 7, 8}, sz[4] = {n, 5, 9, 8},
        su[4] = {n, 1, 9, 8};
    const float *cx[2] = {mm, ss};
    int cs[2][4] = {{n, 5, 7, 3}, {n, 5, 7, 3}};
    float *cc = calloc(cnt(sc), 4), *pp = calloc(cnt(sp), 4), *zz = calloc(cnt(sz), 4),
          *qq = calloc(cnt(sz), 4), *uu = calloc(cnt(su), 4);
    fr__op_concat(cx, (const int(*)[4])cs, 2, 2, cc);
    fr__op_pad(cc, sr, pp, sp, 1, 0, 1);
    fr__op_resize_bilinear(pp, sp, zz, sz, 0, 1);
    fr__op_prelu(zz, qq, cnt(sz) / 8, 8, a8);
    fr__op_reduce(qq, sz, 1, 0, uu);
    int ys[4] = {0};
    float *y = graph_run(g, x, n, h, w, c, ys);
    CHECK(memcmp(ys, su, sizeof ys) == 0);
    CHECK_MSG(y && close_all(y, uu, cnt(su), 1e-4f), "graph with kernels %s",
              fr__graph_kernels(g)->name);
    free(y), free(c3), free(m1), free(dd), free(mm), free(ss), free(cc), free(pp), free(zz),
        free(qq), free(uu);

    /* Shapes that cannot work are plan errors, not crashes: the reshape
     * needs exactly 7*5*6 values per item. */
    fr__plan *p = NULL;
    CHECK(fr__plan_create(g, 1, 6, 7, 1, &p, &e) != FR_OK && p == NULL);
    fr__graph_destroy(g);
    free(x);
  }

  /* Builder argument checks. */
  fr__graph *g = NULL;
  fr_error e = {0, ""};
  fr__graph_create(NULL, "bad", &g, &e);
  if (!g) return;
  int in = fr__input(g, 4);
  float k[5] = {0};
  CHECK(fr__binary_const(g, FR__BIN_ADD, in, k, 1, 1, 5, 0, FR__ACT_NONE, 0.f) < 0);
  CHECK(fr__graph_finish(g, &e) == FR_E_INVALID);
  fr__graph_destroy(g);
  g = NULL;
  fr__graph_create(NULL, "bad", &g, &e);
  if (!g) return;
  in = fr__input(g, 4);
  CHECK(fr__reduce(g, in, 0, 1) < 0); /* not along the batch */
  fr__graph_destroy(g);
  g = NULL;
  fr__graph_create(NULL, "bad", &g, &e);
  if (!g) return;
  in = fr__input(g, 4);
  int two[2] = {in, fr__reduce(g, in, FR__AXIS_C, 0)};
  CHECK(fr__concat(g, two, 2, FR__AXIS_W) < 0); /* 4 and 1 channels */
  fr__graph_destroy(g);

  /* Sizes whose element count does not fit in memory (or in size_t) are a
   * plan-time FR_E_LIMIT, not an overflowed allocation. */
  g = NULL;
  fr__graph_create(NULL, "huge", &g, &e);
  if (!g) return;
  in = fr__input(g, 1 << 20);
  fr__output(g, fr__resize_bilinear(g, in, 1 << 24, 1 << 24, 0, 0));
  CHECK_OK(fr__graph_finish(g, &e), &e);
  fr__plan *p = NULL;
  CHECK(fr__plan_create(g, 1, 1, 1, 1, &p, &e) == FR_E_LIMIT && p == NULL);
  fr__graph_destroy(g);
}

int main(void) {
  test_binary();
  test_unary_prelu_softmax();
  test_reduce_concat();
  test_resize_pad();
  test_graphs();
  printf("%d passed, %d failed\n", check_passed_, check_failed_);
  return check_failed_ ? 1 : 0;
}
