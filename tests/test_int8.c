/*
 * test_int8.c - int8 quantisation: the SIMD integer kernels against the
 * scalar reference (exactly, on random shapes with tails), a quantised conv
 * against the float conv it replaces, and FaceRecognitionNet int8 against
 * float32 on real faces.
 */
#include "check.h"
#include "embed/embed_internal.h"
#include "nn/quant.h"

static uint32_t rng = 12345;
static uint32_t rnd(void) {
  rng = rng * 1664525u + 1013904223u;
  return rng >> 8;
}
static float frand(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() % 1000000) / 1e6f; }

typedef struct shape_case {
  int kh, kw, stride, cin, cout, oh, ow, residual;
  fr__act act;
} shape_case;

/* Runs one random shape through the scalar and every SIMD kernel this CPU
 * has; extreme = 1 fills inputs with 255 and weights with +-63, the values
 * where vpmaddubsw's int16 sums come closest to saturating. */
static void kernel_case(const shape_case *s, int extreme) {
  fr__qconv_args a;
  memset(&a, 0, sizeof a);
  a.cinp = (s->cin + 3) & ~3;
  a.kh = s->kh;
  a.kw = s->kw;
  a.stride = s->stride;
  a.oh = s->oh;
  a.ow = s->ow;
  a.cout = s->cout;
  a.ph = (s->oh - 1) * s->stride + s->kh;
  a.pw = (s->ow - 1) * s->stride + s->kw;
  a.act = s->act;
  a.alpha = 0.1f;
  const int n = 2;
  size_t in_bytes = (size_t)n * a.ph * a.pw * a.cinp;
  int coutp = (s->cout + FR__Q_NR - 1) / FR__Q_NR * FR__Q_NR;
  size_t w_bytes = (size_t)coutp * s->kh * s->kw * a.cinp;
  size_t out_n = (size_t)n * s->oh * s->ow * s->cout;
  uint8_t *in = malloc(in_bytes + 64);
  int8_t *w = fr__aligned_alloc(w_bytes);
  int32_t *corr = malloc((size_t)s->cout * sizeof *corr);
  float *scale = malloc((size_t)s->cout * sizeof *scale), *bias = malloc((size_t)s->cout * 4);
  float *res = malloc(out_n * sizeof *res), *ref = malloc(out_n * sizeof *ref);
  float *got = malloc(out_n * sizeof *got);
  if (!in || !w || !corr || !scale || !bias || !res || !ref || !got) {
    CHECK_MSG(0, "out of memory");
    return;
  }
  for (size_t i = 0; i < in_bytes; i++) in[i] = extreme ? 255 : (uint8_t)(rnd() & 255);
  /* The plain AVX2 kernel is only defined for inputs <= 127 (quant.h); it
   * gets the same data with the top bit cleared, against its own reference. */
  uint8_t *in7 = malloc(in_bytes + 64);
  float *ref7 = malloc(out_n * sizeof *ref7);
  if (!in7 || !ref7) {
    CHECK_MSG(0, "out of memory");
    return;
  }
  for (size_t i = 0; i < in_bytes; i++) in7[i] = in[i] & 127;
  for (size_t i = 0; i < w_bytes; i++)
    w[i] = (int8_t)(extreme ? ((rnd() & 1) ? FR__QW_MAX : -FR__QW_MAX)
                            : (int)(rnd() % (2 * FR__QW_MAX + 1)) - FR__QW_MAX);
  for (int c = 0; c < s->cout; c++) {
    corr[c] = (int32_t)(rnd() % 20000) - 10000;
    scale[c] = frand(1e-5f, 1e-3f);
    bias[c] = frand(-1.f, 1.f);
  }
  for (size_t i = 0; i < out_n; i++) res[i] = frand(-2.f, 2.f);
  a.in = in;
  a.w = w;
  a.corr = corr;
  a.scale = scale;
  a.bias = bias;
  a.residual = s->residual ? res : NULL;
  a.out = ref;
  for (int b = 0; b < n; b++) fr__qconv_rows_scalar(&a, b, 0, s->oh);
  a.in = in7;
  a.out = ref7;
  for (int b = 0; b < n; b++) fr__qconv_rows_scalar(&a, b, 0, s->oh);
  a.in = in;
  /* Every SIMD level this CPU runs (fr__int8_level_for gives a level back
   * unchanged exactly when the CPU and the build have it). */
  fr__qconv_rows_fn fns[3];
  fr__int8_level levels[3];
  int nf = 0;
  for (int lv = FR__INT8_AVX2; lv <= FR__INT8_AVX512VNNI; lv++)
    if ((int)fr__int8_level_for((fr__int8_level)lv, fr__cpu()) == lv) {
      levels[nf] = (fr__int8_level)lv;
      fns[nf++] = fr__qconv_rows_of((fr__int8_level)lv);
    }
  for (int f = 0; f < nf; f++) {
    memset(got, 0xff, out_n * sizeof *got);
    a.out = got;
    const int seven = fr__int8_top(levels[f]) == 127;
    a.in = seven ? in7 : in;
    /* In two row ranges, as the pool splits the work. */
    int mid = s->oh / 2;
    for (int b = 0; b < n; b++) {
      fns[f](&a, b, 0, mid);
      fns[f](&a, b, mid, s->oh);
    }
    CHECK_MSG(memcmp(got, seven ? ref7 : ref, out_n * sizeof *got) == 0,
              "%s != scalar: k %dx%d s%d cin %d cout %d out %dx%d res %d act %d extreme %d",
              fr__int8_level_name(levels[f]), s->kh, s->kw, s->stride, s->cin, s->cout, s->oh, s->ow, s->residual,
              (int)s->act, extreme);
  }
  free(in);
  free(in7);
  free(ref7);
  fr__aligned_free(w);
  free(corr);
  free(scale);
  free(bias);
  free(res);
  free(ref);
  free(got);
}

static void test_kernels_exact(void) {
  static const shape_case fixed[] = {
      {3, 3, 1, 32, 32, 9, 9, 1, FR__ACT_RELU},  {3, 3, 2, 64, 128, 5, 7, 0, FR__ACT_RELU},
      {1, 1, 1, 3, 1, 1, 1, 0, FR__ACT_NONE},    {3, 3, 1, 5, 17, 3, 5, 1, FR__ACT_LEAKY},
      {5, 3, 2, 12, 33, 4, 6, 0, FR__ACT_RELU6}, {3, 3, 1, 256, 20, 2, 3, 1, FR__ACT_RELU},
  };
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
    kernel_case(&fixed[i], 0);
    kernel_case(&fixed[i], 1);
  }
  for (int t = 0; t < 30; t++) {
    shape_case s;
    s.kh = 1 + (int)(rnd() % 4);
    s.kw = 1 + (int)(rnd() % 4);
    s.stride = 1 + (int)(rnd() % 2);
    s.cin = 1 + (int)(rnd() % 40);
    s.cout = 1 + (int)(rnd() % 40);
    s.oh = 1 + (int)(rnd() % 6);
    s.ow = 1 + (int)(rnd() % 11);
    s.residual = (int)(rnd() % 2);
    s.act = (fr__act)(rnd() % 4);
    kernel_case(&s, (int)(rnd() % 5 == 0));
  }
}

/* The SIMD input quantisation gives the scalar one's bytes, tails included. */
static void test_quantize_exact(void) {
#if defined(__x86_64__) || defined(__i386__)
  if (fr__int8_level_for(FR__INT8_AVX2, fr__cpu()) != FR__INT8_AVX2) return;
  float src[203];
  uint8_t ref[203], got[203];
  for (int t = 0; t < 20; t++) {
    int n = 1 + (int)(rnd() % 203);
    float inv = frand(1.f, 100.f), zf = (float)(rnd() % 256) + 0.5f;
    for (int i = 0; i < n; i++) src[i] = frand(-4.f, 4.f);
    float top = (rnd() & 1) ? 255.f : 127.f;
    fr__quantize_u8_scalar(src, ref, n, inv, zf, top);
    fr__quantize_u8_avx2(src, got, n, inv, zf, top);
    CHECK_MSG(memcmp(ref, got, (size_t)n) == 0, "avx2 quantisation != scalar (n %d)", n);
  }
#endif
}

/* A quantised conv against the float conv: zero point (an input range with
 * negatives), SAME padding that must read as float 0, a bias and a residual;
 * on every int8 level this CPU runs. The 8-bit levels give the scalar
 * level's outputs bit for bit (docs/kernels.md); the plain AVX2 level
 * quantises its input to 7 bits (127 steps over the range instead of 255),
 * so its outputs differ, within the same error bound. */
static void test_qconv_vs_float(void) {
  const int ih = 7, iw = 6, cin = 5, cout = 19, k = 3;
  const float lo = -1.f, hi = 3.f;
  float in[7 * 6 * 5], w[3 * 3 * 5 * 19], bias[19], res[7 * 6 * 19], out[7 * 6 * 19];
  float ref8[7 * 6 * 19];
  for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) in[i] = frand(lo, hi);
  for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) w[i] = frand(-0.5f, 0.5f);
  for (int c = 0; c < cout; c++) bias[c] = frand(-1.f, 1.f);
  for (size_t i = 0; i < sizeof res / sizeof res[0]; i++) res[i] = frand(-1.f, 1.f);
  /* Which levels quantise activations to 7 bits: only the plain AVX2 one. */
  CHECK(fr__int8_top(FR__INT8_SCALAR) == 255 && fr__int8_top(FR__INT8_AVX2) == 127 &&
        fr__int8_top(FR__INT8_AVXVNNI) == 255 && fr__int8_top(FR__INT8_AVX512VNNI) == 255);
  for (int lv = FR__INT8_SCALAR; lv <= FR__INT8_AVX512VNNI; lv++) {
    fr__int8_level level = (fr__int8_level)lv;
    if (fr__int8_level_for(level, fr__cpu()) != level) continue; /* not on this CPU */
    fr__qconv *q = fr__qconv_create(level, w, bias, k, k, cin, cout, lo, hi);
    CHECK(q != NULL);
    if (!q) return;
    CHECK_MSG(fr__qconv_level(q) == level, "node on %s, asked for %s",
              fr__int8_level_name(fr__qconv_level(q)), fr__int8_level_name(level));
    fr__conv_args a;
    memset(&a, 0, sizeof a);
    a.in = in;
    a.n = 1, a.ih = ih, a.iw = iw, a.cin = cin;
    a.out = out;
    a.oh = ih, a.ow = iw, a.cout = cout;
    a.kh = a.kw = k, a.stride = 1, a.pad_top = 1, a.pad_left = 1;
    a.residual = res;
    a.act = FR__ACT_NONE;
    size_t bytes = fr__qconv_buffer_bytes(q, &a);
    void *buf = fr__aligned_alloc(bytes);
    CHECK(buf != NULL);
    if (!buf) return;
    fr__qconv_run(q, &a, buf, NULL, 1);
    double max_err = 0, max_ref = 0;
    for (int y = 0; y < ih; y++)
      for (int x = 0; x < iw; x++)
        for (int c = 0; c < cout; c++) {
          double s = bias[c] + res[(y * iw + x) * cout + c];
          for (int dy = 0; dy < k; dy++)
            for (int dx = 0; dx < k; dx++) {
              int yy = y + dy - 1, xx = x + dx - 1;
              if (yy < 0 || yy >= ih || xx < 0 || xx >= iw) continue;
              for (int ci = 0; ci < cin; ci++)
                s += (double)in[(yy * iw + xx) * cin + ci] * w[((dy * k + dx) * cin + ci) * cout + c];
            }
          double e = fabs(s - out[(y * iw + x) * cout + c]);
          if (e > max_err) max_err = e;
          if (fabs(s) > max_ref) max_ref = fabs(s);
        }
    /* 8-bit inputs and 7-bit weights: errors of about 1% of the output
     * scale; a wrong zero point or padding value would be off by whole
     * units. */
    CHECK_MSG(max_err < 0.03 * max_ref, "int8 conv on %s: error %.4f (outputs up to %.3f)",
              fr__int8_level_name(level), max_err, max_ref);
    const int seven = fr__int8_top(level) == 127;
    if (level == FR__INT8_SCALAR)
      memcpy(ref8, out, sizeof out);
    else if (seven)
      CHECK_MSG(memcmp(ref8, out, sizeof out) != 0, "7-bit node gave the 8-bit outputs");
    else
      CHECK_MSG(memcmp(ref8, out, sizeof out) == 0, "%s node differs from the scalar one",
                fr__int8_level_name(level));
    printf("int8 conv vs float on %s (%d-bit activations): max error %.4f of outputs up to %.3f\n",
           fr__int8_level_name(level), seven ? 7 : 8, max_err, max_ref);
    fr__aligned_free(buf);
    fr__qconv_destroy(q);
  }
}

/* FaceRecognitionNet int8 against float32 on bbt faces (3 people x 2). */
static void test_network(void) {
  static const char *const files[6] = {
      "bbt/examples/images/amy/amy1.png",     "bbt/examples/images/amy/amy2.png",
      "bbt/examples/images/howard/howard1.png", "bbt/examples/images/howard/howard2.png",
      "bbt/examples/images/penny/penny1.png", "bbt/examples/images/penny/penny2.png"};
  fr_error err = {0};
  fr_embedder *f32 = NULL, *i8 = NULL;
  fr_context *ctx = NULL;
  const char *models = check_models_dir();
  CHECK_OK(fr_embedder_create(FR_EMBEDDER_FACEAPI, models, &f32, &err), &err);
  CHECK_OK(fr_embedder_create(FR_EMBEDDER_FACEAPI_INT8, models, &i8, &err), &err);
  CHECK_OK(fr_context_create(NULL, &ctx, &err), &err);
  if (!f32 || !i8 || !ctx) goto done;
  /* All 28 3x3 convs but none of the rest: the 7x7 input conv and the fc stay float. */
  CHECK_MSG(fr__graph_int8_nodes(fr__embedder_graph(i8)) == 28, "%d int8 nodes",
            fr__graph_int8_nodes(fr__embedder_graph(i8)));
  CHECK(fr__graph_int8_nodes(fr__embedder_graph(f32)) == 0);
  fr_image chips[6];
  float d32[6][128], d8[6][128];
  int loaded = 0;
  for (int i = 0; i < 6; i++, loaded++) {
    fr_status st = fr_image_load(check_data(files[i]), NULL, &chips[i], &err);
    CHECK_MSG(st == FR_OK, "%s", err.message);
    if (st != FR_OK) break;
  }
  if (loaded == 6) {
    CHECK_OK(fr_embed(ctx, f32, chips, 6, &d32[0][0], &err), &err);
    CHECK_OK(fr_embed(ctx, i8, chips, 6, &d8[0][0], &err), &err);
    float worst = 0, same32 = 0, diff32 = 9, same8 = 0, diff8 = 9;
    for (int i = 0; i < 6; i++) {
      float d = fr_distance(d32[i], d8[i], 128);
      if (d > worst) worst = d;
      for (int j = i + 1; j < 6; j++) {
        float a = fr_distance(d32[i], d32[j], 128), b = fr_distance(d8[i], d8[j], 128);
        CHECK_MSG(fabsf(a - b) < 0.05f, "pair %d-%d: float32 %.4f int8 %.4f", i, j, a, b);
        if (i / 2 == j / 2) {
          if (a > same32) same32 = a;
          if (b > same8) same8 = b;
        } else {
          if (a < diff32) diff32 = a;
          if (b < diff8) diff8 = b;
        }
      }
    }
    printf("int8 vs float32: worst descriptor distance %.4f; same person up to %.3f/%.3f, "
           "different from %.3f/%.3f (float32/int8)\n",
           worst, same32, same8, diff32, diff8);
    CHECK_MSG(worst < 0.05f, "int8 descriptor %.4f from float32", worst);
    /* Every same-person pair closer than every different-person pair, in
     * float32 (a check of the data) and still in int8. */
    CHECK_MSG(same32 < diff32, "float32: %.3f >= %.3f", same32, diff32);
    CHECK_MSG(same8 < diff8, "int8: %.3f >= %.3f", same8, diff8);
    /* Rows split over a pool of 2 threads (sharing one quantised input)
     * give the same descriptors as one thread. */
    fr_pool *pool = NULL;
    fr_context *ctx2 = NULL;
    float d8p[6][128];
    CHECK_OK(fr_pool_create(2, &pool, &err), &err);
    if (pool) CHECK_OK(fr_context_create(pool, &ctx2, &err), &err);
    if (ctx2) {
      CHECK_OK(fr_embed(ctx2, i8, chips, 6, &d8p[0][0], &err), &err);
      CHECK_MSG(memcmp(d8p, d8, sizeof d8) == 0, "int8 descriptors differ with 2 threads");
    }
    fr_context_destroy(ctx2);
    fr_pool_destroy(pool);
  }
  for (int i = 0; i < loaded; i++) fr_image_free(&chips[i]);
done:
  fr_context_destroy(ctx);
  fr_embedder_destroy(f32);
  fr_embedder_destroy(i8);
}

int main(void) {
  test_kernels_exact();
  test_quantize_exact();
  test_qconv_vs_float();
  test_network();
  return check_summary();
}
