/*
 * test_tfjs.c - the TensorFlow.js weights loader: the five real face-api
 * models, exact decoding of every storage type, and rejection of malformed,
 * truncated and hostile manifests.
 *
 * Expected dequantised values written as bit patterns were computed with
 * node.js the way tfjs-core decodes them (`q * scale + min` on doubles, stored
 * into a Float32Array), so they pin the loader to tfjs bit for bit.
 */
#include "nn/nn.h"
#include "nn/tfjs.h"

#include "check.h"

#include <math.h>
#include <stdint.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

static uint32_t float_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static float bits_float(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* Little-endian writers, so that the hand-made shards match the format on any host. */
static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static fr_status parse(const char *json, const void *bin, size_t n, fr__weights **w, fr_error *e) {
  memset(e, 0, sizeof *e);
  return fr__tfjs_parse(json, strlen(json), bin, n, "test.json", w, e);
}

/*
 * Parses a manifest that must be rejected: FR_E_MODEL, no weights, and a
 * message naming the model and, when given, the offending tensor or text.
 */
static void expect_reject_(const char *json, const void *bin, size_t n, const char *needle,
                           int line) {
  fr__weights *w = (fr__weights *)&w; /* must be reset to NULL on failure */
  fr_error e;
  fr_status st = parse(json, bin, n, &w, &e);
  if (st != FR_E_MODEL || w != NULL || e.status != FR_E_MODEL ||
      strstr(e.message, "test.json") == NULL || (needle && strstr(e.message, needle) == NULL)) {
    check_failed_++;
    fprintf(stderr, "FAIL %s:%d: manifest %s: status %d, message \"%s\", wanted \"%s\"\n", __FILE__,
            line, json, st, e.message, needle ? needle : "");
  } else {
    check_passed_++;
  }
  if (st == FR_OK) fr__weights_destroy(w);
}
#define expect_reject(json, bin, n, needle) expect_reject_(json, bin, n, needle, __LINE__)

static int write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return 0;
  size_t put = n ? fwrite(data, 1, n, f) : 0;
  return (fclose(f) == 0) & (put == n);
}

static uint8_t *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  uint8_t *buf = NULL;
  size_t cap = 0, len = 0;
  for (;;) {
    if (len == cap) {
      cap = cap ? cap * 2 : 65536;
      uint8_t *grown = realloc(buf, cap);
      if (!grown) break;
      buf = grown;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) break;
  }
  fclose(f);
  *n = len;
  return buf;
}

/* ------------------------------------------------------------------ */
/* The real models                                                      */
/* ------------------------------------------------------------------ */

typedef struct shape_check {
  const char *name;
  int ndim;
  int dims[4];
} shape_check;

typedef struct model_check {
  const char *model;
  int count;
  shape_check shapes[2];
  float lo, hi; /* every value of the model lies in here */
} model_check;

static const model_check models[] = {
    {"face_recognition_model",
     117,
     {{"conv32_down/conv/filters", 4, {7, 7, 3, 32}}, {"fc", 2, {256, 128}}},
     -6.4f,
     23.2f},
    {"ssd_mobilenetv1_model",
     151,
     {{"Output/extra_dim", 3, {1, 5118, 4}}, {"Postprocessor/stack/1", 0, {0}}},
     -1e4f,
     1e4f},
    {"tiny_face_detector_model",
     19,
     {{"conv0/filters", 4, {3, 3, 3, 16}}, {"conv8/bias", 1, {25}}},
     -100.0f,
     100.0f},
    {"face_landmark_68_model",
     49,
     {{"dense0/conv0/filters", 4, {3, 3, 3, 32}}, {"fc/bias", 1, {136}}},
     -100.0f,
     100.0f},
    {"face_landmark_68_tiny_model",
     28,
     {{"dense0/conv0/filters", 4, {3, 3, 3, 32}}, {"fc/bias", 1, {136}}},
     -100.0f,
     100.0f},
};

static void test_real_models(void) {
  const char *dir = check_models_dir();
  for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
    const model_check *mc = &models[m];
    char manifest[256];
    snprintf(manifest, sizeof manifest, "%s-weights_manifest.json", mc->model);
    fr__weights *w = NULL;
    fr_error e = {0};
    CHECK_OK(fr__tfjs_load(dir, manifest, &w, &e), &e);
    if (!w) continue;
    CHECK_MSG(fr__weights_count(w) == mc->count, "%s: %d tensors", mc->model, fr__weights_count(w));
    CHECK(fr__weights_name(w, -1) == NULL);
    CHECK(fr__weights_name(w, mc->count) == NULL);
    for (int s = 0; s < 2; s++) {
      const shape_check *sc = &mc->shapes[s];
      const float *v = fr__weights_get(w, sc->name, sc->ndim, sc->dims, &e);
      CHECK_MSG(v != NULL, "%s: %s", mc->model, e.message);
    }

    /* Every value is finite and plausible, and every tensor is 64-byte aligned. */
    int finite = 1, inside = 1, aligned = 1;
    for (int i = 0; i < fr__weights_count(w); i++) {
      const char *name = fr__weights_name(w, i);
      CHECK(name != NULL && name[0] != '\0');
      /* The shape is not known here, so read it back through the error path. */
      int probe = -1;
      fr_error pe;
      CHECK(fr__weights_get(w, name, 1, &probe, &pe) == NULL && pe.status == FR_E_MODEL);
      int dims[8], nd = 0;
      const char *p = strstr(pe.message, "has shape [");
      if (p) {
        p += strlen("has shape [");
        while (*p && *p != ']' && nd < 8) {
          dims[nd++] = (int)strtol(p, (char **)&p, 10);
          while (*p == ',' || *p == ' ') p++;
        }
      }
      const float *v = fr__weights_get(w, name, nd, dims, &pe);
      CHECK_MSG(v != NULL, "%s", pe.message);
      if (!v) continue;
      size_t n = 1;
      for (int d = 0; d < nd; d++) n *= (size_t)dims[d];
      if ((uintptr_t)v % 64 != 0) aligned = 0;
      for (size_t k = 0; k < n; k++) {
        if (!isfinite(v[k])) finite = 0;
        if (!(v[k] >= mc->lo && v[k] <= mc->hi)) inside = 0;
      }
    }
    CHECK_MSG(finite, "%s has non-finite values", mc->model);
    CHECK_MSG(inside, "%s has values outside [%g, %g]", mc->model, mc->lo, mc->hi);
    CHECK_MSG(aligned, "%s has a tensor not aligned to 64 bytes", mc->model);
    fr__weights_destroy(w);
  }
}

/* Values checked bit for bit against tfjs-core as computed by node.js. */
static void test_real_values(void) {
  const char *dir = check_models_dir();
  fr__weights *w = NULL;
  fr_error e = {0};
  CHECK_OK(fr__tfjs_load(dir, "face_recognition_model-weights_manifest.json", &w, &e), &e);
  if (w) {
    const int fdims[4] = {7, 7, 3, 32};
    const float *f = fr__weights_get(w, "conv32_down/conv/filters", 4, fdims, &e);
    CHECK_MSG(f != NULL, "%s", e.message);
    if (f) {
      CHECK_MSG(float_bits(f[0]) == 0xbcf15556u, "%08x", float_bits(f[0]));
      CHECK_MSG(float_bits(f[1]) == 0xbc09e79fu, "%08x", float_bits(f[1]));
      CHECK_MSG(float_bits(f[4703]) == 0x3bbd9e7bu, "%08x", float_bits(f[4703]));
    }
    /* An unquantised float32 tensor in the middle of the shard. */
    const int cdims[4] = {3, 3, 32, 64};
    const float *c = fr__weights_get(w, "conv64_down/conv1/conv/filters", 4, cdims, &e);
    CHECK_MSG(c != NULL, "%s", e.message);
    if (c) {
      CHECK_MSG(float_bits(c[0]) == 0xbb9333e8u, "%08x", float_bits(c[0]));
      CHECK_MSG(float_bits(c[100]) == 0xbb909ad6u, "%08x", float_bits(c[100]));
    }
    const int fcdims[2] = {256, 128};
    const float *fc = fr__weights_get(w, "fc", 2, fcdims, &e);
    CHECK_MSG(fc != NULL, "%s", e.message);
    if (fc) {
      CHECK_MSG(float_bits(fc[0]) == 0xbbdeb192u, "%08x", float_bits(fc[0]));
      CHECK_MSG(float_bits(fc[127]) == 0xb9bb880fu, "%08x", float_bits(fc[127]));
    }

    /* Lookup failures name the model and the tensor. */
    memset(&e, 0, sizeof e);
    CHECK(fr__weights_get(w, "no/such/tensor", 1, fdims, &e) == NULL);
    CHECK(e.status == FR_E_MODEL);
    CHECK_MSG(strstr(e.message, "no/such/tensor") && strstr(e.message, "missing") &&
                  strstr(e.message, "face_recognition_model-weights_manifest.json"),
              "%s", e.message);
    memset(&e, 0, sizeof e);
    const int wrong[4] = {7, 7, 32, 3};
    CHECK(fr__weights_get(w, "conv32_down/conv/filters", 4, wrong, &e) == NULL);
    CHECK(e.status == FR_E_MODEL);
    CHECK_MSG(strstr(e.message, "conv32_down/conv/filters") && strstr(e.message, "[7, 7, 3, 32]") &&
                  strstr(e.message, "[7, 7, 32, 3]"),
              "%s", e.message);
    memset(&e, 0, sizeof e);
    CHECK(fr__weights_get(w, "conv32_down/conv/filters", 3, wrong, &e) == NULL);
    CHECK(e.status == FR_E_MODEL && strstr(e.message, "conv32_down/conv/filters"));
    memset(&e, 0, sizeof e);
    CHECK(fr__weights_get(w, "conv32_down/conv/filters", -1, wrong, &e) == NULL);
    CHECK(e.status == FR_E_INVALID);
    CHECK(fr__weights_get(w, NULL, 4, fdims, NULL) == NULL);
    fr__weights_destroy(w);
  }

  /* int32 tensors quantised as uint8 round like Math.round, then become floats. */
  w = NULL;
  CHECK_OK(fr__tfjs_load(dir, "ssd_mobilenetv1_model-weights_manifest.json", &w, &e), &e);
  if (w) {
    const int three = 3, two = 2;
    const float *size = fr__weights_get(w, "Postprocessor/Slice/size", 1, &three, &e);
    const float *begin = fr__weights_get(w, "Postprocessor/Slice/begin", 1, &three, &e);
    const float *resize = fr__weights_get(w, "Preprocessor/ResizeImage/size", 1, &two, &e);
    const float *anchors = fr__weights_get(w, "Postprocessor/stack/1", 0, NULL, &e);
    CHECK(size && begin && resize && anchors);
    if (size && begin && resize && anchors) {
      CHECK(size[0] == -1.0f && size[1] == -1.0f && size[2] == -1.0f);
      /* 255 * (1/255) is 0.99999... in doubles; Math.round makes it 1. */
      CHECK(begin[0] == 0.0f && begin[1] == 0.0f && begin[2] == 1.0f);
      CHECK(resize[0] == 512.0f && resize[1] == 512.0f);
      CHECK(anchors[0] == 5118.0f);
    }
    const int xdims[3] = {1, 5118, 4};
    const float *x = fr__weights_get(w, "Output/extra_dim", 3, xdims, &e);
    CHECK(x && float_bits(x[0]) == 0xbd0ccccdu && float_bits(x[2]) == 0x3d866666u);
    fr__weights_destroy(w);
  }
}

/* ------------------------------------------------------------------ */
/* Hand-written manifests                                               */
/* ------------------------------------------------------------------ */

static void test_float32_int32(void) {
  const char *json = "[{\"paths\": [\"a.bin\"], \"weights\": ["
                     "{\"name\": \"w\", \"shape\": [2, 3], \"dtype\": \"float32\"},"
                     "{\"name\": \"s\", \"shape\": [], \"dtype\": \"float32\"},"
                     "{\"name\": \"i\", \"shape\": [3], \"dtype\": \"int32\"}]}]";
  uint8_t bin[40];
  const float vals[7] = {1.5f, -2.25f, 0.0f, 3e38f, -1e-40f, 7.0f, 42.0f};
  for (int k = 0; k < 7; k++) put32(bin + 4 * k, float_bits(vals[k]));
  put32(bin + 28, (uint32_t)-7);
  put32(bin + 32, 0x7fffffffu);
  put32(bin + 36, 0x80000000u);
  fr__weights *w = NULL;
  fr_error e;
  CHECK_OK(parse(json, bin, sizeof bin, &w, &e), &e);
  if (!w) return;
  CHECK(fr__weights_count(w) == 3);
  CHECK(strcmp(fr__weights_name(w, 0), "w") == 0 && strcmp(fr__weights_name(w, 2), "i") == 0);
  const int d23[2] = {2, 3}, d3 = 3;
  const float *v = fr__weights_get(w, "w", 2, d23, &e);
  CHECK(v != NULL);
  if (v) {
    int same = 1;
    for (int k = 0; k < 6; k++) same &= float_bits(v[k]) == float_bits(vals[k]);
    CHECK(same);
  }
  const float *s = fr__weights_get(w, "s", 0, NULL, &e);
  CHECK(s && *s == 42.0f);
  /* A scalar is not a one-element vector. */
  const int one = 1;
  CHECK(fr__weights_get(w, "s", 1, &one, &e) == NULL && e.status == FR_E_MODEL);
  const float *i = fr__weights_get(w, "i", 1, &d3, &e);
  CHECK(i && i[0] == -7.0f && i[1] == 2147483648.0f && i[2] == -2147483648.0f);
  fr__weights_destroy(w);

  /* Extra bytes after the last tensor are accepted. */
  uint8_t more[64] = {0};
  memcpy(more, bin, sizeof bin);
  w = NULL;
  CHECK_OK(parse(json, more, sizeof more, &w, &e), &e);
  fr__weights_destroy(w);
}

static void test_uint8_uint16(void) {
  /* Exactly representable scale and min: every value is min + scale * q exactly. */
  uint8_t bin[256];
  for (int q = 0; q < 256; q++) bin[q] = (uint8_t)q;
  fr__weights *w = NULL;
  fr_error e;
  CHECK_OK(parse("[{\"paths\":[\"q.bin\"],\"weights\":[{\"name\":\"q\",\"shape\":[16,16],"
                 "\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint8\",\"scale\":0.5,"
                 "\"min\":-1}}]}]",
                 bin, sizeof bin, &w, &e),
           &e);
  if (w) {
    const int d[2] = {16, 16};
    const float *v = fr__weights_get(w, "q", 2, d, &e);
    int exact = v != NULL;
    for (int q = 0; v && q < 256; q++) exact &= v[q] == -1.0f + 0.5f * (float)q;
    CHECK(exact);
    /* The same tensor as its codes: the bytes as stored, scale and min as
     * written, and a wrong shape or name is an error like fr__weights_get's. */
    const uint8_t *codes = NULL;
    double scale = 0, min = 0;
    CHECK(fr__weights_get_u8(w, "q", 2, d, &codes, &scale, &min, &e) == 1);
    CHECK(codes && memcmp(codes, bin, sizeof bin) == 0 && scale == 0.5 && min == -1.0);
    const int bad[2] = {16, 15};
    CHECK(fr__weights_get_u8(w, "q", 2, bad, &codes, &scale, &min, &e) == -1 &&
          e.status == FR_E_MODEL);
    CHECK(fr__weights_get_u8(w, "nope", 2, d, &codes, &scale, &min, &e) == -1 &&
          e.status == FR_E_MODEL);
    /* The affine map reproduces the float values through fr__dequant_u8,
     * with a per-channel factor folded in on request. */
    enum { COUT = 16 };
    float affine[3 * COUT], mul[COUT], out[256];
    for (int c = 0; c < COUT; c++) mul[c] = 1.0f + 0.25f * (float)c;
    fr__weights_u8_affine(affine, COUT, 0, COUT, scale, min, NULL);
    fr__dequant_u8(out, codes, 256, COUT, affine);
    exact = 1;
    for (int q = 0; v && q < 256; q++) exact &= out[q] == v[q];
    CHECK_MSG(exact, "dequantised codes differ from the float values");
    fr__weights_u8_affine(affine, COUT, 0, 8, scale, min, mul);
    fr__weights_u8_affine(affine, COUT, 8, 8, scale, min, mul);
    fr__dequant_u8(out, codes, 256, COUT, affine);
    double worst = 0;
    for (int q = 0; v && q < 256; q++) {
      double want = (double)v[q] * mul[q % COUT];
      worst = fmax(worst, fabs(out[q] - want) / (fabs(want) + 1e-3));
    }
    CHECK_MSG(worst < 1e-6, "folded channel scale: relative error %g", worst);
    fr__weights_destroy(w);
  }

  /* A float32 tensor stored as float32 has no codes: 0, and its floats stand. */
  const float f4[4] = {1, 2, 3, 4};
  w = NULL;
  CHECK_OK(parse("[{\"paths\":[\"f.bin\"],\"weights\":[{\"name\":\"f\",\"shape\":[4],"
                 "\"dtype\":\"float32\"}]}]",
                 f4, sizeof f4, &w, &e),
           &e);
  if (w) {
    const int d = 4;
    const uint8_t *codes = NULL;
    double scale = 0, min = 0;
    CHECK(fr__weights_get_u8(w, "f", 1, &d, &codes, &scale, &min, &e) == 0);
    fr__weights_destroy(w);
  }

  /*
   * scale 0.1, min -0.3: tfjs rounds once from double, which differs from
   * float arithmetic (7 gives 0x3ecccccd, not 0x3ecccccc; 3 gives 2^-54, not 0).
   */
  const uint8_t qs[4] = {3, 7, 255, 0};
  w = NULL;
  CHECK_OK(parse("[{\"paths\":[\"q.bin\"],\"weights\":[{\"name\":\"t\",\"shape\":[4],"
                 "\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint8\",\"scale\":0.1,"
                 "\"min\":-0.3}}]}]",
                 qs, sizeof qs, &w, &e),
           &e);
  if (w) {
    const int d = 4;
    const float *v = fr__weights_get(w, "t", 1, &d, &e);
    CHECK(v != NULL);
    if (v) {
      CHECK_MSG(float_bits(v[0]) == 0x24800000u, "%08x", float_bits(v[0]));
      CHECK_MSG(float_bits(v[1]) == 0x3ecccccdu, "%08x", float_bits(v[1]));
      CHECK_MSG(float_bits(v[2]) == 0x41c9999au, "%08x", float_bits(v[2]));
      CHECK_MSG(v[3] == -0.3f, "%.9g", v[3]);
    }
    fr__weights_destroy(w);
  }

  /* uint16 is little-endian; int32 with quantisation rounds half up like Math.round. */
  uint8_t b16[2 * 3 + 4];
  put16(b16, 0);
  put16(b16 + 2, 1);
  put16(b16 + 4, 65535);
  const uint8_t iq[4] = {1, 3, 5, 2};
  memcpy(b16 + 6, iq, 4);
  w = NULL;
  CHECK_OK(parse("[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"u\",\"shape\":[3],"
                 "\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint16\",\"scale\":0.25,"
                 "\"min\":10}}]},"
                 "{\"paths\":[\"b\"],\"weights\":[{\"name\":\"r\",\"shape\":[2,2],"
                 "\"dtype\":\"int32\",\"quantization\":{\"dtype\":\"uint8\",\"scale\":0.5,"
                 "\"min\":-2}}]}]",
                 b16, sizeof b16, &w, &e),
           &e);
  if (w) {
    const int d3 = 3, d22[2] = {2, 2};
    const float *u = fr__weights_get(w, "u", 1, &d3, &e);
    CHECK(u && u[0] == 10.0f && u[1] == 10.25f && u[2] == 16393.75f);
    const float *r = fr__weights_get(w, "r", 2, d22, &e);
    /* -1.5 -> -1, -0.5 -> 0, 0.5 -> 1, -1 -> -1 */
    CHECK(r && r[0] == -1.0f && r[1] == 0.0f && r[2] == 1.0f && r[3] == -1.0f);
    fr__weights_destroy(w);
  }
}

static void test_float16(void) {
  const uint16_t halves[9] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x0000,
                              0x8000, 0x03ff, 0x7c00, 0x3555};
  uint8_t bin[18];
  for (int k = 0; k < 9; k++) put16(bin + 2 * k, halves[k]);
  fr__weights *w = NULL;
  fr_error e;
  CHECK_OK(parse("[{\"paths\":[\"h.bin\"],\"weights\":[{\"name\":\"h\",\"shape\":[9],"
                 "\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"float16\"}}]}]",
                 bin, sizeof bin, &w, &e),
           &e);
  if (!w) return;
  const int d = 9;
  const float *v = fr__weights_get(w, "h", 1, &d, &e);
  CHECK(v != NULL);
  if (v) {
    CHECK(v[0] == 1.0f);
    CHECK(v[1] == -2.0f);
    CHECK(v[2] == 65504.0f);
    CHECK(v[3] == ldexpf(1.0f, -24)); /* the smallest subnormal half */
    CHECK(float_bits(v[4]) == 0);
    CHECK(float_bits(v[5]) == 0x80000000u); /* negative zero keeps its sign */
    CHECK(v[6] == ldexpf(1023.0f, -24));    /* the largest subnormal half */
    CHECK(isinf(v[7]) && v[7] > 0);
    CHECK_MSG(v[8] == bits_float(0x3eaaa000u), "%.9g", v[8]); /* 0.33325195... */
  }
  fr__weights_destroy(w);
}

static void test_truncated_memory(void) {
  uint8_t bin[64] = {0};
  expect_reject("[{\"paths\":[\"t.bin\"],\"weights\":[{\"name\":\"big/one\",\"shape\":[4],"
                "\"dtype\":\"float32\"}]}]",
                bin, 15, "tensor big/one needs 16 bytes at offset 0 but t.bin holds only 15");
  expect_reject("[{\"paths\":[\"t.bin\"],\"weights\":[{\"name\":\"a\",\"shape\":[2],"
                "\"dtype\":\"float32\"},{\"name\":\"b\",\"shape\":[3,3],\"dtype\":\"float32\","
                "\"quantization\":{\"dtype\":\"uint8\",\"scale\":1,\"min\":0}}]}]",
                bin, 10, "tensor b needs 9 bytes at offset 8 but t.bin holds only 10");
  /* The second group is the one that is short; its shards are named. */
  expect_reject("[{\"paths\":[\"g1.bin\"],\"weights\":[{\"name\":\"a\",\"shape\":[2],"
                "\"dtype\":\"float32\"}]},"
                "{\"paths\":[\"g2a.bin\",\"g2b.bin\"],\"weights\":[{\"name\":\"b\","
                "\"shape\":[4],\"dtype\":\"int32\"}]}]",
                bin, 20, "tensor b needs 16 bytes at offset 0 but g2a.bin and 1 more shards");
  /* Nothing at all. */
  expect_reject("[{\"paths\":[\"t.bin\"],\"weights\":[{\"name\":\"x\",\"shape\":[1],"
                "\"dtype\":\"float32\"}]}]",
                NULL, 0, "tensor x needs 4 bytes");
  /* Huge but within the element limit: the bytes are what is missing. */
  expect_reject("[{\"paths\":[\"t.bin\"],\"weights\":[{\"name\":\"huge\",\"shape\":[2147483647],"
                "\"dtype\":\"float32\"}]}]",
                bin, sizeof bin, "tensor huge needs 8589934588 bytes");
}

static void test_bad_manifests(void) {
  uint8_t bin[64] = {0};
  const size_t n = sizeof bin;
  /* Not JSON, or not the right JSON. */
  expect_reject("", bin, n, NULL);
  expect_reject("[", bin, n, "not valid JSON");
  expect_reject("nul", bin, n, NULL);
  expect_reject("[] []", bin, n, "after the JSON");
  expect_reject("{}", bin, n, "array");
  expect_reject("[]", bin, n, "no tensors");
  expect_reject("[{\"paths\":[],\"weights\":[]}]", bin, n, "no tensors");
  expect_reject("[1]", bin, n, "group 0");
  expect_reject("[{}]", bin, n, "paths");
  expect_reject("[{\"paths\":\"a.bin\",\"weights\":[]}]", bin, n, "paths");
  expect_reject("[{\"paths\":[1],\"weights\":[]}]", bin, n, "shard path");
  expect_reject("[{\"paths\":[\"\"],\"weights\":[]}]", bin, n, "shard path");
  expect_reject("[{\"paths\":[\"a\"]}]", bin, n, "weights");
  expect_reject("[{\"paths\":[\"a\"],\"weights\":{}}]", bin, n, "weights");
  expect_reject("[{\"paths\":[\"a\"],\"weights\":[3]}]", bin, n, "weight 0");

  /* Names. */
  expect_reject("[{\"paths\":[\"a\"],\"weights\":[{\"shape\":[1],\"dtype\":\"float32\"}]}]", bin, n,
                "name");
  expect_reject("[{\"paths\":[\"a\"],\"weights\":[{\"name\":5,\"shape\":[1],"
                "\"dtype\":\"float32\"}]}]",
                bin, n, "name");
  expect_reject("[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"\",\"shape\":[1],"
                "\"dtype\":\"float32\"}]}]",
                bin, n, "name");
  expect_reject("[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"d\",\"shape\":[1],"
                "\"dtype\":\"float32\"}]},{\"paths\":[\"b\"],\"weights\":[{\"name\":\"d\","
                "\"shape\":[1],\"dtype\":\"float32\"}]}]",
                bin, n, "tensor d is listed twice");

  /* Shapes. */
  expect_reject("[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"s1\",\"shape\":3,"
                "\"dtype\":\"float32\"}]}]",
                bin, n, "tensor s1");
  expect_reject("[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"s2\",\"dtype\":\"float32\"}]}]", bin,
                n, "tensor s2");
  expect_reject("[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"s3\",\"shape\":[\"1\"],"
                "\"dtype\":\"float32\"}]}]",
                bin, n, "tensor s3");
  expect_reject("[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"s4\",\"shape\":[-1],"
                "\"dtype\":\"float32\"}]}]",
                bin, n, "tensor s4");
  expect_reject("[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"s5\",\"shape\":[1.5],"
                "\"dtype\":\"float32\"}]}]",
                bin, n, "tensor s5");
  expect_reject("[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"s6\",\"shape\":[1e999],"
                "\"dtype\":\"float32\"}]}]",
                bin, n, "tensor s6");
  expect_reject("[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"s7\",\"shape\":[2147483648],"
                "\"dtype\":\"float32\"}]}]",
                bin, n, "tensor s7");
  expect_reject("[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"s8\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                "\"dtype\":\"float32\"}]}]",
                bin, n, "tensor s8 has 9 dimensions");
  expect_reject("[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"absurd\","
                "\"shape\":[2147483647,2147483647],\"dtype\":\"float32\"}]}]",
                bin, n, "tensor absurd has shape [2147483647, 2147483647]");
  expect_reject("[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"absurd8\","
                "\"shape\":[2147483647,2147483647,2147483647,2147483647,2147483647,2147483647,"
                "2147483647,2147483647],\"dtype\":\"float32\"}]}]",
                bin, n, "tensor absurd8");

  /* Dtypes and quantisation. */
  expect_reject("[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"t1\",\"shape\":[1]}]}]", bin, n,
                "tensor t1 has no \"dtype\"");
  expect_reject("[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"t2\",\"shape\":[1],"
                "\"dtype\":\"float64\"}]}]",
                bin, n, "tensor t2 has unsupported dtype \"float64\"");
  expect_reject("[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"t3\",\"shape\":[1],"
                "\"dtype\":\"string\"}]}]",
                bin, n, "tensor t3");
  expect_reject("[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"t4\",\"shape\":[1],"
                "\"dtype\":32}]}]",
                bin, n, "tensor t4");
  expect_reject("[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"q1\",\"shape\":[1],"
                "\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"int8\",\"scale\":1,"
                "\"min\":0}}]}]",
                bin, n, "tensor q1 has unsupported quantization dtype \"int8\"");
  expect_reject("[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"q2\",\"shape\":[1],"
                "\"dtype\":\"float32\",\"quantization\":null}]}]",
                bin, n, "tensor q2");
  expect_reject("[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"q3\",\"shape\":[1],"
                "\"dtype\":\"float32\",\"quantization\":{\"scale\":1,\"min\":0}}]}]",
                bin, n, "tensor q3");
  expect_reject("[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"q4\",\"shape\":[1],"
                "\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint8\",\"min\":0}}]}]",
                bin, n, "tensor q4");
  expect_reject("[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"q5\",\"shape\":[1],"
                "\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint8\",\"scale\":\"1\","
                "\"min\":0}}]}]",
                bin, n, "tensor q5");
  expect_reject("[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"q6\",\"shape\":[1],"
                "\"dtype\":\"int32\",\"quantization\":{\"dtype\":\"float16\"}}]}]",
                bin, n, "tensor q6");
  expect_reject("[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"q7\",\"shape\":[1],"
                "\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint8\",\"scale\":1e999,"
                "\"min\":0}}]}]",
                bin, n, "tensor q7");
  expect_reject("[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"q8\",\"shape\":[1],"
                "\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint16\",\"scale\":1e34,"
                "\"min\":0}}]}]",
                bin, n, "tensor q8");

  /* Shard paths must stay inside the model directory. */
  expect_reject("[{\"paths\":[\"../x.bin\"],\"weights\":[{\"name\":\"p\",\"shape\":[1],"
                "\"dtype\":\"float32\"}]}]",
                bin, n, "../x.bin");
  expect_reject("[{\"paths\":[\"/etc/passwd\"],\"weights\":[{\"name\":\"p\",\"shape\":[1],"
                "\"dtype\":\"float32\"}]}]",
                bin, n, "/etc/passwd");
  expect_reject("[{\"paths\":[\"ok.bin\",\"a/../../b.bin\"],\"weights\":[{\"name\":\"p\","
                "\"shape\":[1],\"dtype\":\"float32\"}]}]",
                bin, n, "a/../../b.bin");

  /* Arguments. */
  fr__weights *w = NULL;
  fr_error e = {0};
  CHECK(fr__tfjs_parse("[]", 2, NULL, 0, NULL, NULL, &e) == FR_E_INVALID);
  CHECK(fr__tfjs_parse(NULL, 5, bin, n, "x", &w, &e) == FR_E_INVALID && w == NULL);
  CHECK(fr__tfjs_parse(NULL, 0, NULL, 0, "x", &w, NULL) == FR_E_MODEL && w == NULL);
  CHECK(fr__tfjs_load("models", NULL, &w, &e) == FR_E_INVALID);
  fr__weights_destroy(NULL);
  CHECK(fr__weights_count(NULL) == 0);
  CHECK(fr__weights_name(NULL, 0) == NULL);
}

/* Empty tensors are legal in tfjs and get a valid (non-NULL) pointer. */
static void test_empty_tensors(void) {
  fr__weights *w = NULL;
  fr_error e;
  const uint8_t bin[4] = {0, 0, 128, 63}; /* 1.0f */
  CHECK_OK(parse("[{\"paths\":[\"a\"],\"weights\":["
                 "{\"name\":\"e\",\"shape\":[0,2147483647,2147483647,2147483647],"
                 "\"dtype\":\"float32\"},"
                 "{\"name\":\"z\",\"shape\":[0],\"dtype\":\"int32\"},"
                 "{\"name\":\"one\",\"shape\":[1,1],\"dtype\":\"float32\"}]}]",
                 bin, sizeof bin, &w, &e),
           &e);
  if (!w) return;
  const int de[4] = {0, 2147483647, 2147483647, 2147483647}, dz = 0, d11[2] = {1, 1};
  CHECK(fr__weights_get(w, "e", 4, de, &e) != NULL);
  CHECK(fr__weights_get(w, "z", 1, &dz, &e) != NULL);
  const float *one = fr__weights_get(w, "one", 2, d11, &e);
  CHECK(one && *one == 1.0f);
  fr__weights_destroy(w);
}

/* ------------------------------------------------------------------ */
/* Files                                                                */
/* ------------------------------------------------------------------ */

static void test_files(void) {
  char dir[] = "/tmp/fr_tfjs_XXXXXX";
  if (!mkdtemp(dir)) {
    CHECK_MSG(0, "mkdtemp failed");
    return;
  }
  char src[1024], path[1024], bin_path[1024];
  const char *man = "face_recognition_model-weights_manifest.json";
  snprintf(src, sizeof src, "%s/%s", check_models_dir(), man);
  size_t jn = 0, bn = 0;
  uint8_t *json = read_all(src, &jn);
  snprintf(src, sizeof src, "%s/face_recognition_model.bin", check_models_dir());
  uint8_t *bin = read_all(src, &bn);
  CHECK(json && bin && bn > 100);
  snprintf(path, sizeof path, "%s/%s", dir, man);
  snprintf(bin_path, sizeof bin_path, "%s/face_recognition_model.bin", dir);

  fr__weights *w = NULL;
  fr_error e = {0};
  if (json && bin && bn > 100) {
    CHECK(write_file(path, json, jn));

    /* The shard is missing. */
    CHECK(fr__tfjs_load(dir, man, &w, &e) == FR_E_MODEL && w == NULL);
    CHECK_MSG(strstr(e.message, "face_recognition_model.bin") && strstr(e.message, man), "%s",
              e.message);

    /* The shard is cut after 100 bytes. */
    CHECK(write_file(bin_path, bin, 100));
    memset(&e, 0, sizeof e);
    CHECK(fr__tfjs_load(dir, man, &w, &e) == FR_E_MODEL && w == NULL);
    CHECK_MSG(strstr(e.message, "face_recognition_model-weights_manifest.json: tensor "
                                "conv32_down/conv/filters needs 4704 bytes at offset 0 but "
                                "face_recognition_model.bin holds only 100"),
              "%s", e.message);

    /* The shard is cut one byte short: the last tensor is named. */
    CHECK(write_file(bin_path, bin, bn - 1));
    memset(&e, 0, sizeof e);
    CHECK(fr__tfjs_load(dir, man, &w, &e) == FR_E_MODEL && w == NULL);
    CHECK_MSG(strstr(e.message, "tensor fc needs") && strstr(e.message, "holds only"), "%s",
              e.message);

    /* Whole again, the copy loads; with a trailing byte too. */
    uint8_t *longer = malloc(bn + 1);
    if (longer) {
      memcpy(longer, bin, bn);
      longer[bn] = 0xff;
      CHECK(write_file(bin_path, longer, bn + 1));
      free(longer);
    }
    memset(&e, 0, sizeof e);
    CHECK_OK(fr__tfjs_load(dir, man, &w, &e), &e);
    CHECK(fr__weights_count(w) == 117);
    fr__weights_destroy(w);
    w = NULL;

    /* The in-memory parser agrees with the file loader on the real bytes. */
    fr__weights *m = NULL;
    CHECK_OK(fr__tfjs_parse((const char *)json, jn, bin, bn, "frm", &m, &e), &e);
    CHECK(fr__weights_count(m) == 117);
    CHECK(fr__tfjs_parse((const char *)json, jn, bin, 100, "frm", &w, &e) == FR_E_MODEL);
    CHECK_MSG(strstr(e.message, "frm: tensor conv32_down/conv/filters needs 4704 bytes"), "%s",
              e.message);
    fr__weights_destroy(m);
  }

  /* A manifest pointing outside the directory is refused before any file is opened. */
  const char *evil = "[{\"paths\":[\"../face_recognition_model.bin\"],\"weights\":[{\"name\":"
                     "\"x\",\"shape\":[1],\"dtype\":\"float32\"}]}]";
  char evil_path[1024];
  snprintf(evil_path, sizeof evil_path, "%s/evil.json", dir);
  CHECK(write_file(evil_path, evil, strlen(evil)));
  memset(&e, 0, sizeof e);
  CHECK(fr__tfjs_load(dir, "evil.json", &w, &e) == FR_E_MODEL && w == NULL);
  CHECK_MSG(strstr(e.message, "evil.json") && strstr(e.message, ".."), "%s", e.message);

  /* A manifest over 16 MiB is refused without being parsed. */
  char big_path[1024];
  snprintf(big_path, sizeof big_path, "%s/big.json", dir);
  size_t big_n = ((size_t)16 << 20) + 1;
  char *big = malloc(big_n);
  if (big) {
    memset(big, ' ', big_n);
    big[0] = '[';
    big[big_n - 1] = ']';
    CHECK(write_file(big_path, big, big_n));
    memset(&e, 0, sizeof e);
    CHECK(fr__tfjs_load(dir, "big.json", &w, &e) == FR_E_MODEL && w == NULL);
    CHECK_MSG(strstr(e.message, "big.json") && strstr(e.message, "limit"), "%s", e.message);
    CHECK(fr__tfjs_parse(big, big_n, NULL, 0, "big.json", &w, &e) == FR_E_MODEL);
    free(big);
  }

  /* A missing manifest. */
  memset(&e, 0, sizeof e);
  CHECK(fr__tfjs_load(dir, "absent.json", &w, &e) == FR_E_MODEL && w == NULL);
  CHECK(strstr(e.message, "absent.json") != NULL);

  unlink(path);
  unlink(bin_path);
  unlink(evil_path);
  unlink(big_path);
  CHECK(rmdir(dir) == 0);
  free(json);
  free(bin);
}

/* ------------------------------------------------------------------ */
/* A small deterministic fuzz pass (the real fuzzer runs for longer)    */
/* ------------------------------------------------------------------ */

static uint32_t rng_state = 12345;
static uint32_t rng(void) {
  rng_state = rng_state * 1664525u + 1013904223u;
  return rng_state >> 8;
}

static void test_mutations(void) {
  const char *seed =
      "[{\"paths\":[\"a.bin\"],\"weights\":[{\"name\":\"a\",\"shape\":[2,2],"
      "\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint8\",\"scale\":0.5,\"min\":-1}},"
      "{\"name\":\"b\",\"shape\":[3],\"dtype\":\"int32\"},{\"name\":\"c\",\"shape\":[2],"
      "\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"float16\"}}]},"
      "{\"paths\":[\"b.bin\"],\"weights\":[{\"name\":\"d\",\"shape\":[],\"dtype\":\"float32\","
      "\"quantization\":{\"dtype\":\"uint16\",\"scale\":2,\"min\":3}}]}]";
  const char alphabet[] = "[]{}\",:0123456789-.eE abnmdpqxyz/\\\0";
  uint8_t bin[64];
  for (size_t k = 0; k < sizeof bin; k++) bin[k] = (uint8_t)(k * 37);
  size_t len = strlen(seed);
  char *buf = malloc(len + 16);
  if (!buf) return;
  int ok = 0, rejected = 0, other = 0;

  /* Every prefix of the seed manifest, with every prefix of the bytes. */
  for (size_t cut = 0; cut <= len; cut++) {
    fr__weights *w = NULL;
    fr_status st = fr__tfjs_parse(seed, cut, bin, cut % (sizeof bin + 1), "m", &w, NULL);
    if (st == FR_OK)
      ok++, fr__weights_destroy(w);
    else if (st == FR_E_MODEL)
      rejected++;
    else
      other++;
  }
  /* Random byte edits. */
  for (int iter = 0; iter < 20000; iter++) {
    memcpy(buf, seed, len);
    int edits = 1 + (int)(rng() % 4);
    for (int k = 0; k < edits; k++) buf[rng() % len] = alphabet[rng() % (sizeof alphabet - 1)];
    fr__weights *w = NULL;
    fr_error e;
    fr_status st = fr__tfjs_parse(buf, len, bin, rng() % (sizeof bin + 1), "m", &w, &e);
    if (st == FR_OK) {
      ok++;
      /* Touch every value, so that any out-of-bounds pointer shows under ASan. */
      volatile float sink = 0;
      for (int i = 0; i < fr__weights_count(w); i++) (void)fr__weights_name(w, i);
      const int d22[2] = {2, 2};
      const float *a = fr__weights_get(w, "a", 2, d22, NULL);
      if (a) sink += a[0] + a[3];
      (void)sink;
      fr__weights_destroy(w);
    } else if (st == FR_E_MODEL) {
      rejected++;
    } else {
      other++;
    }
  }
  free(buf);
  CHECK_MSG(ok > 0 && rejected > 0 && other == 0, "ok %d, rejected %d, other %d", ok, rejected,
            other);
}

int main(void) {
  test_real_models();
  test_real_values();
  test_float32_int32();
  test_uint8_uint16();
  test_float16();
  test_truncated_memory();
  test_bad_manifests();
  test_empty_tensors();
  test_files();
  test_mutations();
  return check_summary();
}
