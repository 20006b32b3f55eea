/*
 * test_kernels.c - every SIMD kernel set against the scalar reference, called
 * through the kernel table directly.
 *
 * Going around the graph lets these cases choose what a graph would never
 * produce on its own: padding on one side only, a residual whose channel
 * count differs from the input's, any split into tasks, and tasks run out of
 * order (a task that read another task's output, or shared scratch, would
 * show up as a mismatch). Shapes are odd on purpose so that every tail of the
 * micro-kernels (rows, columns, window segments) is exercised.
 */
#include "check.h"
#include "embed/embed_internal.h"
#include "facerec.h"
#include "nn/nn.h"
#include "nn/quant.h"

#include <pthread.h>

static unsigned rng = 2024;
static float frand(void) {
  rng = rng * 1664525u + 1013904223u;
  return (float)((rng >> 8) & 0xFFFF) / 32768.f - 1.f;
}

typedef struct kcase {
  int n, ih, iw, cin, kh, kw, cout, stride, pad_top, pad_left, oh, ow;
  fr__act act;
  int residual;
} kcase;

/* Output size for a window with the given leading padding and total padding
 * chosen so that the last window ends at most `extra` pixels past the input. */
static int osize(int in, int k, int s, int lead, int extra) {
  int span = in + lead + extra - k;
  return span < 0 ? 0 : span / s + 1;
}

typedef struct set_entry {
  const fr__kernels *k;
  int usable;
} set_entry;

static int n_sets;
static set_entry sets[4];

/* The SIMD sets this build has, and whether this CPU runs them: the set
 * fr__kernels_choose() gives when the variable names it (the one rule,
 * also used by the library). */
static void find_sets(void) {
#if defined(__x86_64__) || defined(__i386__)
  fr__kernel_choice c;
  fr__kernels_choose(fr__cpu(), "avx2", NULL, &c);
  sets[n_sets++] = (set_entry){&fr__kernels_avx2, c.set == &fr__kernels_avx2};
#ifdef FR__HAVE_AVX512_KERNELS
  fr__kernels_choose(fr__cpu(), "avx512", NULL, &c);
  sets[n_sets++] = (set_entry){&fr__kernels_avx512, c.set == &fr__kernels_avx512};
#endif
#endif
}

/* Runs a convolution on kernel set k with the tasks for `threads` threads,
 * in reverse order, each with its own scratch; returns the output. */
static float *run_conv(const fr__kernels *k, const kcase *c, int depthwise, const float *in,
                       const float *hwio, const float *bias, const float *res, int threads) {
  fr__conv_args a = {0};
  a.in = in;
  a.n = c->n;
  a.ih = c->ih;
  a.iw = c->iw;
  a.cin = c->cin;
  a.oh = c->oh;
  a.ow = c->ow;
  a.cout = depthwise ? c->cin : c->cout;
  a.kh = c->kh;
  a.kw = c->kw;
  a.stride = c->stride;
  a.pad_top = c->pad_top;
  a.pad_left = c->pad_left;
  a.bias = bias;
  a.residual = res;
  a.act = c->act;
  a.alpha = 0.1f;
  size_t nout = (size_t)c->n * c->oh * c->ow * a.cout;
  float *out = malloc(nout * sizeof(float) + 4);
  /* Poison the output so that an element no task writes is caught. */
  for (size_t i = 0; i < nout; i++) out[i] = NAN;
  a.out = out;
  float *packed = NULL;
  if (depthwise) {
    a.w = hwio;
    int nt = k->dw_tasks(&a, threads);
    for (int t = nt - 1; t >= 0; t--) k->dw_run(&a, t, nt);
  } else {
    packed = k->pack_conv(hwio, c->kh, c->kw, c->cin, c->cout, c->stride);
    CHECK(packed != NULL);
    a.w = packed;
    size_t sf = k->conv_scratch(&a);
    int nt = k->conv_tasks(&a, threads);
    CHECK(nt >= 1);
    for (int t = nt - 1; t >= 0; t--) {
      /* A fresh scratch per task, filled with garbage: a kernel must not rely
       * on what an earlier task left there or on zeroed memory. */
      float *scratch = sf ? malloc(sf * sizeof(float)) : NULL;
      for (size_t i = 0; i < sf; i++) scratch[i] = 1e30f;
      k->conv_run(&a, t, nt, scratch);
      free(scratch);
    }
  }
  fr__aligned_free(packed);
  return out;
}

static double max_diff(const float *a, const float *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)b[i]);
    if (!(d <= m)) m = d != d ? 1e30 : d;
  }
  return m;
}

static void test_case(const kcase *c, int depthwise) {
  int cout = depthwise ? c->cin : c->cout;
  size_t nin = (size_t)c->n * c->ih * c->iw * c->cin;
  size_t nw = depthwise ? (size_t)c->kh * c->kw * c->cin : (size_t)c->kh * c->kw * c->cin * cout;
  size_t nout = (size_t)c->n * c->oh * c->ow * cout;
  float *in = malloc(nin * sizeof(float)), *w = malloc(nw * sizeof(float));
  float *bias = malloc((size_t)cout * sizeof(float)), *res = malloc(nout * sizeof(float) + 4);
  for (size_t i = 0; i < nin; i++) in[i] = frand();
  for (size_t i = 0; i < nw; i++) w[i] = frand() * 0.5f;
  for (int i = 0; i < cout; i++) bias[i] = frand();
  for (size_t i = 0; i < nout; i++) res[i] = frand();
  const float *r = c->residual && !depthwise ? res : NULL;
  float *ref = run_conv(&fr__kernels_scalar, c, depthwise, in, w, bias, r, 1);
  double tol = 1e-5 * (1 + (double)c->kh * c->kw * (depthwise ? 1 : c->cin));
  for (int s = 0; s < n_sets; s++) {
    if (!sets[s].usable) continue;
    for (int threads = 1; threads <= 3; threads++) {
      float *got = run_conv(sets[s].k, c, depthwise, in, w, bias, r, threads);
      double d = max_diff(ref, got, nout);
      CHECK_MSG(d < tol,
                "%s dw=%d n%d %dx%dx%d k%dx%d s%d pad %d,%d -> %dx%dx%d act %d res %d threads %d: "
                "max diff %g",
                sets[s].k->name, depthwise, c->n, c->ih, c->iw, c->cin, c->kh, c->kw, c->stride,
                c->pad_top, c->pad_left, c->oh, c->ow, cout, c->act, c->residual, threads, d);
      free(got);
    }
  }
  free(ref);
  free(in);
  free(w);
  free(bias);
  free(res);
}

/* A convolution case: padding lead/extra per axis decide the output size. */
static kcase mk(int n, int ih, int iw, int cin, int kh, int kw, int cout, int stride, int pt,
                int pl, int extra, fr__act act, int residual) {
  kcase c = {n, ih, iw, cin, kh, kw, cout, stride, pt, pl, 0, 0, act, residual};
  c.oh = osize(ih, kh, stride, pt, extra);
  c.ow = osize(iw, kw, stride, pl, extra);
  return c;
}

static void test_convolutions(void) {
  static const int couts[] = {1, 5, 16, 17, 31, 32, 33, 48, 64, 100};
  static const int cins[] = {1, 3, 8, 19, 32};
  fr__act acts[] = {FR__ACT_NONE, FR__ACT_RELU, FR__ACT_RELU6, FR__ACT_LEAKY};
  int i = 0;
  /* Every (cin, cout) pair through a 3x3 SAME convolution (the padded band
   * path), with residual on every other one. */
  for (size_t a = 0; a < sizeof cins / sizeof cins[0]; a++)
    for (size_t b = 0; b < sizeof couts / sizeof couts[0]; b++, i++) {
      kcase c = mk(1 + i % 2, 7 + i % 5, 9 + i % 4, cins[a], 3, 3, couts[b], 1, 1, 1, 1,
                   acts[i % 4], i % 2);
      test_case(&c, 0);
    }
  /* Window shapes, strides and paddings (VALID: read in place; SAME and
   * one-sided: padded copy), 1x1 (pointwise) and fully-connected-like. */
  kcase more[] = {
      mk(1, 150 / 4, 150 / 4, 3, 7, 7, 32, 2, 0, 0, 0, FR__ACT_RELU, 0),
      mk(2, 13, 11, 3, 7, 7, 33, 2, 3, 2, 3, FR__ACT_NONE, 0),
      mk(1, 35, 35, 32, 3, 3, 64, 2, 0, 0, 0, FR__ACT_RELU, 0),
      mk(1, 17, 17, 64, 3, 3, 64, 1, 1, 1, 1, FR__ACT_RELU, 1),
      mk(1, 4, 4, 40, 3, 3, 40, 1, 1, 1, 1, FR__ACT_RELU, 1),
      mk(1, 2, 2, 70, 3, 3, 65, 2, 0, 0, 1, FR__ACT_NONE, 0),
      mk(1, 1, 1, 300, 1, 1, 129, 1, 0, 0, 0, FR__ACT_NONE, 0),
      mk(7, 1, 1, 37, 1, 1, 50, 1, 0, 0, 0, FR__ACT_LEAKY, 1),
      mk(1, 26, 26, 13, 1, 1, 45, 1, 0, 0, 0, FR__ACT_RELU6, 0),
      mk(2, 9, 9, 24, 1, 1, 33, 2, 0, 0, 0, FR__ACT_RELU, 0),
      mk(1, 20, 19, 3, 3, 3, 16, 1, 0, 0, 0, FR__ACT_LEAKY, 0),
      mk(1, 11, 12, 5, 2, 4, 17, 3, 1, 0, 2, FR__ACT_NONE, 1),
      mk(1, 6, 30, 9, 5, 1, 40, 1, 2, 0, 2, FR__ACT_RELU, 0),
      mk(3, 5, 5, 16, 5, 5, 24, 2, 2, 2, 2, FR__ACT_RELU6, 1),
      /* Layers big enough to be split into tasks: many tiles, one tile in
       * panel groups, a few tiles in groups, 1x1 over the batch. */
      mk(1, 35, 35, 32, 3, 3, 32, 1, 1, 1, 1, FR__ACT_RELU, 1),
      mk(1, 4, 4, 256, 3, 3, 250, 1, 1, 1, 1, FR__ACT_RELU, 1),
      mk(2, 17, 17, 64, 3, 3, 96, 2, 0, 0, 0, FR__ACT_NONE, 0),
      mk(2, 30, 29, 64, 1, 1, 130, 1, 0, 0, 0, FR__ACT_LEAKY, 1),
      /* 3x3 stride 1 with channels in multiples of 8 and at least 64 output
       * pixels: the Winograd path for 16 to 64 channels (odd output sizes,
       * VALID and one-sided padding, batch, split into panel groups) and
       * the plain path just past it (128 channels). */
      mk(1, 9, 11, 128, 3, 3, 96, 1, 1, 1, 1, FR__ACT_RELU, 1),
      mk(2, 11, 12, 24, 3, 3, 40, 1, 0, 0, 0, FR__ACT_LEAKY, 1),
      mk(1, 12, 9, 16, 3, 3, 16, 1, 1, 0, 1, FR__ACT_RELU6, 0),
      mk(3, 9, 9, 64, 3, 3, 64, 1, 1, 1, 1, FR__ACT_NONE, 1),
      mk(1, 17, 17, 64, 3, 3, 64, 1, 1, 1, 1, FR__ACT_RELU, 1),
  };
  for (size_t k = 0; k < sizeof more / sizeof more[0]; k++) test_case(&more[k], 0);
}

/* ---- compressed weights ------------------------------------------------- */

/* Runs a convolution with uint8 weights (pack_conv_u8) on kernel set k like
 * run_conv: tasks in reverse order, each with its own garbage scratch. */
static float *run_conv_u8(const fr__kernels *k, const kcase *c, const float *in,
                          const uint8_t *codes, const float *affine, const float *bias,
                          const float *res, int threads) {
  fr__conv_args a = {0};
  a.in = in;
  a.n = c->n;
  a.ih = c->ih;
  a.iw = c->iw;
  a.cin = c->cin;
  a.oh = c->oh;
  a.ow = c->ow;
  a.cout = c->cout;
  a.kh = c->kh;
  a.kw = c->kw;
  a.stride = c->stride;
  a.pad_top = c->pad_top;
  a.pad_left = c->pad_left;
  a.bias = bias;
  a.residual = res;
  a.act = c->act;
  a.alpha = 0.1f;
  size_t nout = (size_t)c->n * c->oh * c->ow * c->cout;
  float *out = malloc(nout * sizeof(float) + 4);
  for (size_t i = 0; i < nout; i++) out[i] = NAN;
  a.out = out;
  void *packed = k->pack_conv_u8(codes, affine, c->kh, c->kw, c->cin, c->cout, c->stride);
  CHECK(packed != NULL);
  a.wq = packed;
  size_t sf = k->conv_scratch(&a);
  int nt = k->conv_tasks(&a, threads);
  CHECK(nt >= 1);
  for (int t = nt - 1; t >= 0; t--) {
    float *scratch = sf ? fr__aligned_alloc(sf * sizeof(float)) : NULL;
    for (size_t i = 0; i < sf; i++) scratch[i] = 1e30f;
    k->conv_run(&a, t, nt, scratch);
    fr__aligned_free(scratch);
  }
  fr__aligned_free(packed);
  return out;
}

/* A compressed convolution on every set (the scalar one too) against the
 * scalar set's float convolution with the dequantised weights
 * (fr__dequant_u8 gives the values every set must use). Scales have both
 * signs, and offsets and zero points vary per output channel, as when a
 * per-channel scale is folded in. */
static void test_case_u8(const kcase *c) {
  size_t nin = (size_t)c->n * c->ih * c->iw * c->cin;
  size_t nw = (size_t)c->kh * c->kw * c->cin * c->cout;
  size_t nout = (size_t)c->n * c->oh * c->ow * c->cout;
  float *in = malloc(nin * sizeof(float)), *w = malloc(nw * sizeof(float));
  uint8_t *q = malloc(nw);
  float *aff = malloc(3 * (size_t)c->cout * sizeof(float));
  float *bias = malloc((size_t)c->cout * sizeof(float)), *res = malloc(nout * sizeof(float) + 4);
  for (size_t i = 0; i < nin; i++) in[i] = frand();
  for (size_t i = 0; i < nw; i++) q[i] = (uint8_t)((frand() + 1.f) * 127.9f);
  for (int i = 0; i < c->cout; i++) {
    aff[i] = frand() * (1.f / 256); /* scale: values within about +-0.5 */
    aff[c->cout + i] = frand() * 0.05f;
    aff[2 * c->cout + i] = (float)(100 + (i * 7) % 50);
  }
  for (int i = 0; i < c->cout; i++) bias[i] = frand();
  for (size_t i = 0; i < nout; i++) res[i] = frand();
  fr__dequant_u8(w, q, nw, c->cout, aff);
  const float *r = c->residual ? res : NULL;
  float *ref = run_conv(&fr__kernels_scalar, c, 0, in, w, bias, r, 1);
  double tol = 1e-5 * (1 + (double)c->kh * c->kw * c->cin);
  const fr__kernels *all[5] = {&fr__kernels_scalar};
  int nall = 1;
  for (int s = 0; s < n_sets; s++)
    if (sets[s].usable) all[nall++] = sets[s].k;
  for (int s = 0; s < nall; s++)
    for (int threads = 1; threads <= 3; threads++) {
      float *got = run_conv_u8(all[s], c, in, q, aff, bias, r, threads);
      double d = max_diff(ref, got, nout);
      /* The scalar set dequantises and then runs its float loop: exact. */
      CHECK_MSG(s == 0 ? d == 0 : d < tol,
                "u8 %s n%d %dx%dx%d k%dx%d s%d pad %d,%d -> %dx%dx%d act %d res %d threads %d: "
                "max diff %g",
                all[s]->name, c->n, c->ih, c->iw, c->cin, c->kh, c->kw, c->stride, c->pad_top,
                c->pad_left, c->oh, c->ow, c->cout, c->act, c->residual, threads, d);
      free(got);
    }
  free(ref);
  free(in);
  free(w);
  free(q);
  free(aff);
  free(bias);
  free(res);
}

static void test_compressed(void) {
  /* fr__dequant_u8 is one fused multiply-add per weight, on the code minus
   * its channel's zero point. */
  uint8_t q[6] = {0, 1, 127, 128, 254, 255};
  float af[9] = {0.1f, -0.3f, 1e-3f, -0.01f, 0.02f, 0.f, 128.f, 0.f, 255.f}, v[6];
  fr__dequant_u8(v, q, 6, 3, af);
  for (int i = 0; i < 6; i++)
    CHECK_MSG(v[i] == fmaf((float)q[i] - af[6 + i % 3], af[i % 3], af[3 + i % 3]),
              "dequant %d: %g", i, v[i]);
  kcase cases[] = {
      /* Tails: cout not a multiple of any panel width, odd k, one pixel. */
      mk(1, 7, 9, 3, 3, 3, 5, 1, 1, 1, 1, FR__ACT_RELU, 1),
      mk(2, 6, 5, 19, 3, 3, 33, 1, 1, 1, 1, FR__ACT_LEAKY, 0),
      mk(1, 1, 1, 301, 1, 1, 129, 1, 0, 0, 0, FR__ACT_NONE, 1),
      mk(3, 1, 1, 37, 1, 1, 17, 1, 0, 0, 0, FR__ACT_RELU6, 0),
      /* Window rows longer than a dequantised chunk (3 x 150 and 300
       * values), strides, VALID and SAME, residual with activation. */
      mk(1, 4, 4, 150, 3, 3, 70, 1, 1, 1, 1, FR__ACT_RELU, 1),
      mk(1, 9, 8, 100, 3, 3, 48, 2, 0, 0, 0, FR__ACT_RELU6, 0),
      mk(2, 5, 6, 300, 1, 1, 31, 1, 0, 0, 0, FR__ACT_LEAKY, 1),
      /* Many pixels: several tiles, and tasks that split panels. */
      mk(2, 30, 29, 64, 1, 1, 130, 1, 0, 0, 0, FR__ACT_RELU, 1),
      mk(1, 12, 12, 130, 3, 3, 100, 1, 1, 1, 1, FR__ACT_NONE, 1),
      /* Shapes whose float packing has Winograd weights (16 to 64
       * channels, 3x3 stride 1), with enough pixels to use them and not. */
      mk(1, 11, 12, 24, 3, 3, 40, 1, 1, 1, 1, FR__ACT_RELU, 1),
      mk(1, 4, 4, 32, 3, 3, 32, 1, 1, 1, 1, FR__ACT_LEAKY, 0),
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) test_case_u8(&cases[k]);
}

static void test_depthwise(void) {
  kcase dw[] = {
      mk(1, 9, 7, 13, 3, 3, 0, 1, 1, 1, 1, FR__ACT_RELU6, 0),
      mk(2, 10, 10, 32, 3, 3, 0, 2, 0, 0, 1, FR__ACT_RELU, 0),
      mk(1, 11, 9, 8, 3, 3, 0, 2, 0, 0, 0, FR__ACT_LEAKY, 0),
      mk(1, 5, 5, 3, 5, 5, 0, 1, 2, 2, 2, FR__ACT_NONE, 0),
      mk(1, 16, 15, 57, 3, 3, 0, 1, 1, 1, 1, FR__ACT_RELU, 0),
      mk(1, 104, 103, 40, 3, 3, 0, 1, 1, 1, 1, FR__ACT_LEAKY, 0),
      /* Images narrower or shorter than the window, one-sided padding. */
      mk(1, 2, 2, 19, 3, 3, 0, 1, 1, 1, 1, FR__ACT_NONE, 0),
      mk(1, 1, 5, 8, 3, 3, 0, 2, 1, 1, 1, FR__ACT_RELU, 0),
      mk(2, 7, 8, 24, 3, 3, 0, 2, 1, 0, 1, FR__ACT_RELU6, 0),
      mk(1, 6, 3, 17, 3, 3, 0, 1, 0, 1, 2, FR__ACT_LEAKY, 0),
  };
  for (size_t k = 0; k < sizeof dw / sizeof dw[0]; k++) test_case(&dw[k], 1);
}

/* Max and average pooling against the scalar set: max must match exactly,
 * average within rounding. */
/* Activations, in place and out of place, with tails. */
static void test_activations(void) {
  fr__act acts[] = {FR__ACT_NONE, FR__ACT_RELU, FR__ACT_RELU6, FR__ACT_LEAKY};
  size_t n = 1003;
  float *x = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float)),
        *got = malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++) x[i] = frand() * 10.f;
  for (int k = 0; k < 4; k++) {
    fr__kernels_scalar.act_run(ref, x, n, acts[k], 0.1f);
    for (int s = 0; s < n_sets; s++) {
      if (!sets[s].usable) continue;
      sets[s].k->act_run(got, x, n, acts[k], 0.1f);
      CHECK_MSG(max_diff(ref, got, n) == 0, "%s act %d", sets[s].k->name, acts[k]);
      memcpy(got, x, n * sizeof(float));
      sets[s].k->act_run(got, got, n, acts[k], 0.1f);
      CHECK_MSG(max_diff(ref, got, n) == 0, "%s act %d in place", sets[s].k->name, acts[k]);
    }
  }
  free(x);
  free(ref);
  free(got);
}

/* PReLU against the scalar loop (fr__op_prelu), exactly, for channel counts
 * below, at and above the vector width and pixel counts with tails; in place
 * too. Alphas include 0, 1 and negatives. */
static void test_prelu(void) {
  static const int cs[] = {1, 3, 8, 10, 16, 17, 28, 64, 129};
  size_t maxn = 37 * 129;
  float *x = malloc(maxn * sizeof(float)), *ref = malloc(maxn * sizeof(float)),
        *got = malloc(maxn * sizeof(float)), alpha[129];
  for (size_t i = 0; i < maxn; i++) x[i] = frand() * 10.f;
  for (int k = 0; k < 129; k++) alpha[k] = k % 5 == 0 ? 0.f : k % 7 == 0 ? 1.f : frand();
  for (size_t t = 0; t < sizeof cs / sizeof cs[0]; t++) {
    int c = cs[t];
    for (size_t pixels = 1; pixels <= 37; pixels += 12) {
      size_t n = pixels * (size_t)c;
      fr__op_prelu(x, ref, pixels, c, alpha);
      for (int s = 0; s < n_sets; s++) {
        if (!sets[s].usable || !sets[s].k->prelu_run) continue;
        memset(got, 0xff, n * sizeof(float)); /* NaN: a missed element shows */
        sets[s].k->prelu_run(got, x, pixels, c, alpha);
        CHECK_MSG(max_diff(ref, got, n) == 0, "%s prelu c=%d pixels=%zu", sets[s].k->name, c,
                  pixels);
        memcpy(got, x, n * sizeof(float));
        sets[s].k->prelu_run(got, got, pixels, c, alpha);
        CHECK_MSG(max_diff(ref, got, n) == 0, "%s prelu in place c=%d", sets[s].k->name, c);
      }
    }
  }
  free(x);
  free(ref);
  free(got);
}

static void test_pooling(void) {
  kcase pc[] = {
      mk(1, 414, 9, 16, 2, 2, 0, 2, 0, 0, 1, FR__ACT_NONE, 0),
      mk(2, 13, 13, 37, 2, 2, 0, 1, 0, 0, 1, FR__ACT_NONE, 0),
      mk(1, 72, 71, 32, 3, 3, 0, 2, 0, 0, 0, FR__ACT_NONE, 0),
      mk(1, 35, 35, 5, 2, 2, 0, 2, 0, 0, 0, FR__ACT_NONE, 0),
      mk(1, 7, 6, 24, 3, 3, 0, 2, 1, 1, 1, FR__ACT_NONE, 0),
      mk(3, 4, 4, 256, 2, 2, 0, 2, 0, 0, 0, FR__ACT_NONE, 0),
  };
  for (size_t k = 0; k < sizeof pc / sizeof pc[0]; k++) {
    const kcase *c = &pc[k];
    size_t nin = (size_t)c->n * c->ih * c->iw * c->cin;
    size_t nout = (size_t)c->n * c->oh * c->ow * c->cin;
    float *in = malloc(nin * sizeof(float));
    for (size_t i = 0; i < nin; i++) in[i] = frand() * 10.f;
    fr__conv_args a = {0};
    a.in = in;
    a.n = c->n;
    a.ih = c->ih;
    a.iw = c->iw;
    a.cin = a.cout = c->cin;
    a.oh = c->oh;
    a.ow = c->ow;
    a.kh = c->kh;
    a.kw = c->kw;
    a.stride = c->stride;
    a.pad_top = c->pad_top;
    a.pad_left = c->pad_left;
    for (int is_max = 0; is_max <= 1; is_max++) {
      float *ref = malloc(nout * sizeof(float)), *got = malloc(nout * sizeof(float));
      a.out = ref;
      fr__kernels_scalar.pool_run(&a, is_max, 0, 1);
      for (int s = 0; s < n_sets; s++) {
        if (!sets[s].usable) continue;
        for (int threads = 1; threads <= 3; threads++) {
          for (size_t i = 0; i < nout; i++) got[i] = NAN;
          a.out = got;
          int nt = sets[s].k->dw_tasks(&a, threads);
          for (int t = nt - 1; t >= 0; t--) sets[s].k->pool_run(&a, is_max, t, nt);
          double d = max_diff(ref, got, nout);
          CHECK_MSG(is_max ? d == 0 : d < 1e-5, "%s %s pool %dx%dx%d k%d s%d pad %d: diff %g",
                    sets[s].k->name, is_max ? "max" : "avg", c->ih, c->iw, c->cin, c->kh,
                    c->stride, c->pad_top, d);
        }
      }
      free(ref);
      free(got);
    }
    free(in);
  }
}

/* The largest Euclidean distance between the n descriptors of a and b. */
static double max_distance(const float *a, const float *b, int n) {
  double m = 0;
  for (int i = 0; i < n; i++) {
    double d = fr_distance(a + 128 * i, b + 128 * i, 128);
    if (!(d <= m)) m = d != d ? 1e30 : d;
  }
  return m;
}

/* Describes the n chips with FaceRecognitionNet's int8 variant built on
 * kernel set k; 1 on success. */
static int int8_descriptors(const char *models, const fr__kernels *k, fr_context *ctx,
                            const float *rgb, int n, float *out) {
  fr_error err = {0};
  fr_embedder *e = NULL;
  CHECK_OK(fr__embedder_create_with(FR_EMBEDDER_FACEAPI_INT8, models, k, &e, &err), &err);
  if (!e) return 0;
  fr_status st = fr__embed_rgb(ctx, e, rgb, n, out, &err);
  CHECK_OK(st, &err);
  fr_embedder_destroy(e);
  return st == FR_OK;
}

/*
 * FaceRecognitionNet's int8 variant on every set and every int8 level each
 * set allows (as FACEREC_INT8 narrows it): the statement of
 * docs/kernels.md, on this CPU's levels.
 *  - Within one float set, the 8-bit levels (scalar, AVX-VNNI, AVX-512
 *    VNNI) give bit-identical descriptors: their integer sums are exact and
 *    their float stores do the same operations in the same order.
 *  - The plain AVX2 level quantises activations to 7 bits: its descriptors
 *    differ (so the level really follows the graph's set) by at most
 *    INT8_7BIT_TOL.
 *  - Between float sets, int8 descriptors differ by at most INT8_SETS_TOL:
 *    the float layers around the integer ones (the 7x7 input convolution,
 *    the residual additions, the fc) round differently, and a rounding
 *    difference can move a quantised activation by one step, which later
 *    layers carry on. Float32 descriptors differ by about 1e-7 (above).
 */
#define INT8_SETS_TOL 0.03 /* Euclidean, between float sets (0.012 measured) */
#define INT8_7BIT_TOL 0.06 /* Euclidean, 7-bit against 8-bit in one set (0.026) */
static void test_descriptor_int8(const char *models, fr_context *c1, fr_context *c2,
                                 const float *rgb, int n) {
  size_t bytes = (size_t)n * 128 * sizeof(float);
  float *want = malloc(bytes), *base = malloc(bytes), *got = malloc(bytes);
  if (!int8_descriptors(models, &fr__kernels_scalar, c1, rgb, n, want)) goto done;
  for (int s = 0; s < n_sets; s++) {
    if (!sets[s].usable) continue;
    fr__kernels k = *sets[s].k;
    k.int8_max = FR__INT8_SCALAR;
    if (!int8_descriptors(models, &k, c1, rgb, n, base)) continue;
    double d = max_distance(want, base, n);
    CHECK_MSG(d < INT8_SETS_TOL, "int8 (scalar kernel) on %s: %.4f from the scalar set", k.name,
              d);
    printf("int8 on %s set, scalar kernel: descriptors within %.2g of the scalar set's\n",
           k.name, d);
    for (int lv = (int)FR__INT8_AVX2; lv <= (int)sets[s].k->int8_max; lv++) {
      k.int8_max = (fr__int8_level)lv;
      fr__int8_level runs = fr__int8_level_for(k.int8_max, fr__cpu());
      if ((int)runs != lv) continue; /* the CPU lacks it: a narrower one runs, tested too */
      const int seven = fr__int8_top(runs) == 127;
      for (int threads = 1; threads <= 2; threads++) {
        if (!int8_descriptors(models, &k, threads == 1 ? c1 : c2, rgb, n, got)) continue;
        d = max_distance(base, got, n);
        if (seven)
          CHECK_MSG(d > 0 && d < INT8_7BIT_TOL, "int8 %s/avx2 (7-bit), %d threads: %.4f from 8-bit",
                    k.name, threads, d);
        else
          CHECK_MSG(memcmp(base, got, bytes) == 0, "int8 %s/%s, %d threads: %.4g from scalar int8",
                    k.name, fr__int8_level_name(runs), threads, d);
        if (threads == 1)
          printf("int8 on %s set, %s kernel (%d-bit activations): %.2g from its scalar kernel\n",
                 k.name, fr__int8_level_name(runs), seven ? 7 : 8, d);
      }
    }
  }
done:
  free(want);
  free(base);
  free(got);
}

/* The whole FaceRecognitionNet: every set's descriptors (batch 1 and 3, 1
 * and 2 threads) within 1e-4 of the scalar set's. The chips are smooth
 * synthetic images, so that no image decoder is involved. */
static void test_descriptor(void) {
  const char *models = check_models_dir();
  fr_error err = {0};
  fr_embedder *ref = NULL;
  if (fr__embedder_create_with(FR_EMBEDDER_FACEAPI, models, &fr__kernels_scalar, &ref, &err) !=
      FR_OK) {
    printf("descriptor check skipped: %s\n", err.message);
    return;
  }
  enum { N = 3, S = 150 };
  float *rgb = malloc((size_t)N * S * S * 3 * sizeof(float));
  for (int n = 0; n < N; n++)
    for (int y = 0; y < S; y++)
      for (int x = 0; x < S; x++)
        for (int c = 0; c < 3; c++)
          rgb[(((size_t)n * S + y) * S + x) * 3 + c] =
              127.5f + 120.f * sinf(0.05f * (float)(x * (c + 1) + y * (n + 2)) + (float)n);
  float want[N * 128], got[N * 128];
  fr_context *c1 = NULL, *c2 = NULL;
  fr_pool *pool = NULL;
  CHECK_OK(fr_context_create(NULL, &c1, &err), &err);
  CHECK_OK(fr_pool_create(2, &pool, &err), &err);
  CHECK_OK(fr_context_create(pool, &c2, &err), &err);
  CHECK_OK(fr__embed_rgb(c1, ref, rgb, N, want, &err), &err);
  for (int s = 0; s < n_sets; s++) {
    if (!sets[s].usable) continue;
    fr_embedder *e = NULL;
    CHECK_OK(fr__embedder_create_with(FR_EMBEDDER_FACEAPI, models, sets[s].k, &e, &err), &err);
    if (!e) continue;
    for (int threads = 1; threads <= 2; threads++) {
      for (int batch = 1; batch <= N; batch += N - 1) {
        double d = 0;
        for (int i = 0; i < N; i += batch) {
          CHECK_OK(fr__embed_rgb(threads == 1 ? c1 : c2, e, rgb + (size_t)i * S * S * 3, batch,
                                 got + i * 128, &err),
                   &err);
        }
        d = max_diff(want, got, N * 128);
        CHECK_MSG(d < 1e-4, "%s descriptor vs scalar, batch %d, %d threads: %g", sets[s].k->name,
                  batch, threads, d);
        if (threads == 1 && batch == 1) printf("%s descriptors: max diff to scalar %.2g\n",
                                               sets[s].k->name, d);
      }
    }
    fr_embedder_destroy(e);
  }
  test_descriptor_int8(models, c1, c2, rgb, N);
  fr_context_destroy(c1);
  fr_context_destroy(c2);
  fr_pool_destroy(pool);
  fr_embedder_destroy(ref);
  free(rgb);
}

/* ---- the CPU probe and the kernel-set choice ---------------------------- */

typedef struct probe_run {
  const fr__cpu_info *info;
} probe_run;

static void *probe_thread(void *arg) {
  ((probe_run *)arg)->info = fr__cpu();
  return NULL;
}

/* fr__cpu() agrees with GCC's own probe (libgcc also checks that the OS
 * saves the AVX and AVX-512 registers), and threads racing to the first
 * call all get the one struct. */
static void test_cpu_probe(void) {
  enum { T = 4 };
  pthread_t th[T];
  probe_run runs[T];
  for (int i = 0; i < T; i++) pthread_create(&th[i], NULL, probe_thread, &runs[i]);
  for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
  const fr__cpu_info *cpu = fr__cpu();
  for (int i = 0; i < T; i++) CHECK(runs[i].info == cpu);
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(__clang__) && \
    __GNUC__ >= 11
  __builtin_cpu_init();
  CHECK(cpu->x86 == 1);
  CHECK_MSG(cpu->sse42 == !!__builtin_cpu_supports("sse4.2"), "sse4.2 %d", cpu->sse42);
  CHECK_MSG(cpu->avx == !!__builtin_cpu_supports("avx"), "avx %d", cpu->avx);
  CHECK_MSG(cpu->avx2 == !!__builtin_cpu_supports("avx2"), "avx2 %d", cpu->avx2);
  CHECK_MSG(cpu->fma == !!__builtin_cpu_supports("fma"), "fma %d", cpu->fma);
  CHECK_MSG(cpu->f16c == !!__builtin_cpu_supports("f16c"), "f16c %d", cpu->f16c);
  CHECK_MSG(cpu->avxvnni == !!__builtin_cpu_supports("avxvnni"), "avxvnni %d", cpu->avxvnni);
  CHECK_MSG(cpu->avx512f == !!__builtin_cpu_supports("avx512f"), "avx512f %d", cpu->avx512f);
  CHECK_MSG(cpu->avx512bw == !!__builtin_cpu_supports("avx512bw"), "avx512bw %d", cpu->avx512bw);
  CHECK_MSG(cpu->avx512vl == !!__builtin_cpu_supports("avx512vl"), "avx512vl %d", cpu->avx512vl);
  CHECK_MSG(cpu->avx512vnni == !!__builtin_cpu_supports("avx512vnni"), "avx512vnni %d",
            cpu->avx512vnni);
#endif
  printf("cpu: sse4.2 %d avx2 %d fma %d f16c %d avxvnni %d avx512f %d bw %d vl %d vnni %d "
         "(os ymm %d zmm %d)\n",
         cpu->sse42, cpu->avx2, cpu->fma, cpu->f16c, cpu->avxvnni, cpu->avx512f, cpu->avx512bw,
         cpu->avx512vl, cpu->avx512vnni, cpu->os_ymm, cpu->os_zmm);
}

/* One row of the choice table: a CPU, the two variables, and what must
 * come out (the float set, the int8 kernel its graphs run, whether the
 * variables were followed). */
typedef struct choice_case {
  const char *cpu;
  const char *kernels, *int8;
  const char *set;
  fr__int8_level runs;
  int ok;
} choice_case;

static fr__cpu_info fake_cpu(const char *name) {
  fr__cpu_info c;
  memset(&c, 0, sizeof c);
  if (strcmp(name, "none") == 0) return c;
  c.x86 = c.sse42 = c.os_ymm = c.avx = c.avx2 = c.fma = c.f16c = 1; /* "avx2": Haswell */
  if (strcmp(name, "adl") == 0) c.avxvnni = 1;                      /* Alder Lake */
  if (strcmp(name, "noos") == 0) c.os_ymm = c.avx = c.avx2 = c.fma = c.f16c = 0;
  if (strcmp(name, "skx") == 0 || strcmp(name, "clx") == 0 || strcmp(name, "spr") == 0)
    c.os_zmm = c.avx512f = c.avx512bw = c.avx512vl = 1; /* Skylake-X */
  if (strcmp(name, "clx") == 0 || strcmp(name, "spr") == 0) c.avx512vnni = 1; /* Cascade Lake */
  if (strcmp(name, "spr") == 0) c.avxvnni = 1;                                /* Sapphire Rapids */
  return c;
}

/* What a CPU with every feature ("spr") gets from this build, which may
 * lack the AVX-512 files (clang) or the AVX-VNNI kernel (GCC before 11). */
#if defined(FR__HAVE_AVX512_KERNELS)
#define SPR_SET "avx512"
#define SPR_INT8 FR__INT8_AVX512VNNI
#elif defined(FR__HAVE_AVXVNNI_KERNEL)
#define SPR_SET "avx2"
#define SPR_INT8 FR__INT8_AVXVNNI
#elif defined(__x86_64__) || defined(__i386__)
#define SPR_SET "avx2"
#define SPR_INT8 FR__INT8_AVX2
#else
#define SPR_SET "scalar"
#define SPR_INT8 FR__INT8_SCALAR
#endif

/* fr__kernels_choose on CPUs other than this one: the rules of
 * docs/kernels.md, row by row, including the fallbacks for bad values. */
static void test_choice(void) {
  static const choice_case cases[] = {
    {"none", NULL, NULL, "scalar", FR__INT8_SCALAR, 1},
    {"none", "avx2", NULL, "scalar", FR__INT8_SCALAR, 0},
    {"noos", NULL, NULL, "scalar", FR__INT8_SCALAR, 1},
    {"spr", "scalar", NULL, "scalar", FR__INT8_SCALAR, 1},
    {"spr", "scalar", "avx2", "scalar", FR__INT8_SCALAR, 0},
    {"spr", "", "", SPR_SET, SPR_INT8, 1},
    {"spr", "bogus", NULL, SPR_SET, SPR_INT8, 0},
    {"spr", "AVX2", NULL, SPR_SET, SPR_INT8, 0},
    {"spr", NULL, "bogus", SPR_SET, SPR_INT8, 0},
#if defined(__x86_64__) || defined(__i386__)
    /* An AVX2 CPU without VNNI runs the 7-bit int8 kernel. */
    {"avx2", NULL, NULL, "avx2", FR__INT8_AVX2, 1},
    {"avx2", "avx512", NULL, "avx2", FR__INT8_AVX2, 0},
    {"avx2", NULL, "avxvnni", "avx2", FR__INT8_AVX2, 0},
    {"avx2", NULL, "scalar", "avx2", FR__INT8_SCALAR, 1},
#endif
#if defined(FR__HAVE_AVX512_KERNELS) && defined(FR__HAVE_AVXVNNI_KERNEL)
    {"adl", NULL, NULL, "avx2", FR__INT8_AVXVNNI, 1},
    {"adl", NULL, "avx512vnni", "avx2", FR__INT8_AVXVNNI, 0},
    {"adl", NULL, "avx2", "avx2", FR__INT8_AVX2, 1},
    /* AVX-512 without VNNI: the float set is avx512, int8 is 7-bit. */
    {"skx", NULL, NULL, "avx512", FR__INT8_AVX2, 1},
    {"clx", NULL, NULL, "avx512", FR__INT8_AVX512VNNI, 1},
    /* The avx2 set keeps int8 on ymm: without AVX-VNNI that is 7-bit. */
    {"clx", "avx2", NULL, "avx2", FR__INT8_AVX2, 1},
    {"clx", NULL, "avxvnni", "avx512", FR__INT8_AVX2, 0},
    {"spr", NULL, NULL, "avx512", FR__INT8_AVX512VNNI, 1},
    {"spr", "avx512", NULL, "avx512", FR__INT8_AVX512VNNI, 1},
    {"spr", "avx2", NULL, "avx2", FR__INT8_AVXVNNI, 1},
    {"spr", "avx2", "avx512vnni", "avx2", FR__INT8_AVXVNNI, 0},
    {"spr", NULL, "avxvnni", "avx512", FR__INT8_AVXVNNI, 1},
    {"spr", NULL, "avx2", "avx512", FR__INT8_AVX2, 1},
    {"spr", "bogus", "avx2", "avx512", FR__INT8_AVX2, 0},
#endif
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const choice_case *c = &cases[i];
    fr__cpu_info cpu = fake_cpu(c->cpu);
    fr__kernel_choice ch;
    fr__kernels_choose(&cpu, c->kernels, c->int8, &ch);
    fr__int8_level runs = fr__int8_level_for(ch.int8_max, &cpu);
    CHECK_MSG(strcmp(ch.set->name, c->set) == 0 && runs == c->runs && (ch.error[0] == 0) == c->ok,
              "cpu %s FACEREC_KERNELS=%s FACEREC_INT8=%s: set %s, int8 %s, error '%s' "
              "(want %s, %s, %s)",
              c->cpu, c->kernels ? c->kernels : "(unset)", c->int8 ? c->int8 : "(unset)",
              ch.set->name, fr__int8_level_name(runs), ch.error, c->set,
              fr__int8_level_name(c->runs), c->ok ? "no error" : "an error");
  }
  /* The process's set is that function's answer for this CPU and this
   * environment, made once: the int8 level and the message included. */
  fr__kernel_choice ch;
  fr__kernels_choose(fr__cpu(), getenv("FACEREC_KERNELS"), getenv("FACEREC_INT8"), &ch);
  const fr__kernels *best = fr__kernels_best();
  CHECK(best == fr__kernels_best());
  CHECK_MSG(strcmp(best->name, ch.set->name) == 0 && best->conv_run == ch.set->conv_run &&
                best->int8_max == ch.int8_max,
            "process set %s/%d, choice %s/%d", best->name, (int)best->int8_max, ch.set->name,
            (int)ch.int8_max);
  CHECK(strcmp(fr__kernels_env_error(), ch.error) == 0);
  CHECK(strcmp(fr_kernels_name(), best->name) == 0);
  printf("process kernels: %s, int8 %s%s%s\n", best->name,
         fr__int8_level_name(fr__int8_level_for(best->int8_max, fr__cpu())),
         ch.error[0] ? "; " : "", ch.error);
}

int main(void) {
  find_sets();
  test_cpu_probe();
  test_choice();
  for (int s = 0; s < n_sets; s++)
    printf("kernel set %s: %s\n", sets[s].k->name, sets[s].usable ? "tested" : "not on this CPU");
  test_convolutions();
  test_compressed();
  test_depthwise();
  test_pooling();
  test_activations();
  test_prelu();
  test_descriptor();
  printf("%d passed, %d failed\n", check_passed_, check_failed_);
  return check_failed_ ? 1 : 0;
}
