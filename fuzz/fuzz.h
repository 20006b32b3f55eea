/*
 * fuzz.h - the entry points shared by the libFuzzer targets (fuzz/fuzz_*.c)
 * and by tests/test_regress.c, which replays every committed regression input
 * through exactly the code the fuzzer ran.
 *
 * Each entry point feeds one input to one parser and then checks what the
 * parser promises beyond "did not crash" (the sanitizers check that part):
 * the status is a real fr_status, a failure leaves no result behind and has a
 * message, and a success is internally consistent (every pixel byte of a
 * decoded image readable, every tensor of a weight map retrievable with the
 * shape its manifest declares, every LFW pair pointing at a listed image).
 * A broken promise is returned as a sentence; the fuzzers abort on it so that
 * libFuzzer records the input, and the regression test reports it.
 *
 * Everything is static so that the header can be included by one program
 * without a library of its own; a file including it must define _GNU_SOURCE
 * before any system header (the LFW entry point uses memfd_create).
 */
#ifndef FR_FUZZ_H
#define FR_FUZZ_H

#include "eval/eval.h"
#include "facerec.h"
#include "nn/tfjs.h"
#include "nn/model_file.h"
#include "nn/onnx.h"
#include "nn/tflite.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The parsers there are targets for. The order names the folders
 * fuzz_target_names[] gives, under build-fuzz/corpus/ and tests/regress/. */
typedef enum fuzz_target {
  FUZZ_JPEG,
  FUZZ_PNG,
  FUZZ_PNM,
  FUZZ_TFJS,
  FUZZ_LFW,
  FUZZ_TFLITE,
  FUZZ_MODEL,
  FUZZ_ONNX,
  /* Not written yet, and so not fuzzed yet: the cascade
   * XML reader, HTTP request parsing and WebSocket
   * frames. Each gets an entry here, a fuzz/fuzz_<name>.c, a dictionary and
   * seeds in fuzz/run.sh, and a tests/regress/<name>/ folder. */
  FUZZ_TARGET_COUNT
} fuzz_target;

static const char *const fuzz_target_names[FUZZ_TARGET_COUNT] = {"jpeg", "png", "pnm", "tfjs",
                                                                 "lfw", "tflite", "model", "onnx"};

/* What one input did. */
typedef struct fuzz_outcome {
  int rejected;          /* 1: not this target's format; the input was not parsed */
  fr_status status;      /* what the parser returned */
  const char *violation; /* NULL, or the promise the parser broke */
  char message[320];     /* the parser's error message, for reports */
} fuzz_outcome;

/*
 * The image limits the fuzzers decode with: the default side limit, but a
 * pixel limit of 4 Mpixel instead of 64, so that a few hundred bytes
 * declaring a huge progressive JPEG cannot make one run take seconds; the
 * limit check itself is exercised the same way at either value.
 */
#define FUZZ_MAX_PIXELS ((int64_t)4 << 20)

/* The status codes facerec.h defines, FR_E_INTERNAL included. */
static int fuzz_known_status(fr_status st) { return st <= FR_OK && st >= FR_E_INTERNAL; }

/* Common checks of a failure: the message is there and says the same status. */
static const char *fuzz_check_failure(fr_status st, const fr_error *err) {
  if (!fuzz_known_status(st)) return "the status is not one facerec.h defines";
  if (st == FR_E_INTERNAL) return "FR_E_INTERNAL: an assumption inside the parser broke";
  if (err->status != st) return "err->status differs from the returned status";
  if (memchr(err->message, '\0', sizeof err->message) == NULL)
    return "the error message is not NUL-terminated";
  if (err->message[0] == '\0') return "a failure without an error message";
  return NULL;
}

/* ---- images --------------------------------------------------------------- */

/* 1 if the input starts as the target's format does (fr_image_decode sniffs
 * the same bytes), so that each image fuzzer stays on its own decoder. */
static int fuzz_image_magic(fuzz_target t, const uint8_t *d, size_t n) {
  static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  switch (t) {
  case FUZZ_JPEG: return n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF;
  case FUZZ_PNG: return n >= 8 && memcmp(d, png_sig, 8) == 0;
  case FUZZ_PNM:
    return n >= 2 && d[0] == 'P' && (d[1] == '2' || d[1] == '3' || d[1] == '5' || d[1] == '6');
  default: return 0;
  }
}

static const char *fuzz_image_check(fuzz_target t, const uint8_t *d, size_t n, fr_status st,
                                    const fr_image *img, const fr_image_limits *lim,
                                    const fr_error *err) {
  static const fr_image zero;
  if (st != FR_OK) {
    if (memcmp(img, &zero, sizeof zero) != 0) return "a failed decode left a non-empty image";
    return fuzz_check_failure(st, err);
  }
  if (!img->data) return "a decoded image without pixels";
  if (img->width < 1 || img->height < 1 || img->width > lim->max_dimension ||
      img->height > lim->max_dimension)
    return "a decoded image outside the side limit";
  if ((int64_t)img->width * img->height > lim->max_pixels)
    return "a decoded image above the pixel limit";
  if (img->format != FR_PIXEL_GRAY && img->format != FR_PIXEL_RGB)
    return "a decoded image neither GRAY nor RGB";
  if (img->stride != img->width * fr_pixel_size(img->format))
    return "a decoded image without a tight stride";
  /* The kind of output follows from the header byte that declares it. */
  if (t == FUZZ_PNM && (img->format == FR_PIXEL_GRAY) != (d[1] == '2' || d[1] == '5'))
    return "PGM/PPM decoded to the wrong pixel format";
  if (t == FUZZ_PNG && n > 25 && (img->format == FR_PIXEL_GRAY) != (d[25] == 0 || d[25] == 4))
    return "PNG colour type decoded to the wrong pixel format";
  /* Reads every byte the image claims, so that a buffer shorter than
   * height * stride is an AddressSanitizer report right here. */
  volatile uint8_t sink = 0;
  uint8_t acc = 0;
  size_t bytes = (size_t)img->stride * (size_t)img->height;
  for (size_t i = 0; i < bytes; i++) acc ^= img->data[i];
  sink = acc;
  (void)sink;
  return NULL;
}

/* The CRC-32 PNG chunks end with (ISO 3309, as zlib computes it). */
static uint32_t fuzz_crc32(const uint8_t *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

/*
 * Rewrites the CRC of every complete chunk of a PNG copy. libspng rejects a
 * chunk whose CRC does not match, so without this nearly every mutation would
 * stop at the first chunk it touched and the fuzzer would never get past the
 * CRC check into the chunk parsers and the decoder. The CRC check itself is
 * one comparison, covered by the tests.
 */
static void fuzz_png_fix_crcs(uint8_t *d, size_t n) {
  size_t pos = 8;
  while (n - pos >= 12) {
    uint32_t len = (uint32_t)d[pos] << 24 | (uint32_t)d[pos + 1] << 16 |
                   (uint32_t)d[pos + 2] << 8 | d[pos + 3];
    if (len > n - pos - 12) break;
    uint32_t crc = fuzz_crc32(d + pos + 4, 4 + (size_t)len);
    uint8_t *c = d + pos + 8 + len;
    c[0] = (uint8_t)(crc >> 24);
    c[1] = (uint8_t)(crc >> 16);
    c[2] = (uint8_t)(crc >> 8);
    c[3] = (uint8_t)crc;
    pos += 12 + (size_t)len;
  }
}

static void fuzz_image(fuzz_target t, const uint8_t *d, size_t n, fuzz_outcome *o) {
  if (!fuzz_image_magic(t, d, n)) {
    o->rejected = 1;
    return;
  }
  uint8_t *copy = NULL;
  if (t == FUZZ_PNG) {
    /* A copy of exactly n bytes, so that an overread past the input is still
     * an AddressSanitizer report. */
    copy = malloc(n);
    if (!copy) return; /* out of memory in the harness: nothing to judge */
    memcpy(copy, d, n);
    fuzz_png_fix_crcs(copy, n);
    d = copy;
  }
  const fr_image_limits lim = {FR_DEFAULT_MAX_DIMENSION, FUZZ_MAX_PIXELS};
  fr_image img;
  fr_error err = {0, ""};
  o->status = fr_image_decode(d, n, &lim, &img, &err);
  snprintf(o->message, sizeof o->message, "%s", err.message);
  o->violation = fuzz_image_check(t, d, n, o->status, &img, &lim, &err);
  if (o->status == FR_OK) fr_image_free(&img);
  free(copy);
}

/* ---- TF.js manifest and weights -------------------------------------------- */

/*
 * Input layout: the manifest JSON, one NUL byte, then the shard bytes (all of
 * the manifest's shards concatenated, as fr__tfjs_parse takes them). JSON
 * text never contains a NUL, so the first one is always the separator; an
 * input without one is all manifest and no shard bytes.
 */
#define FUZZ_TFJS_LABEL "fuzz"

/* Looks every tensor the manifest declares up by its declared shape, and
 * reads all its values. */
static const char *fuzz_tfjs_success(const char *json, size_t json_len, const fr__weights *w) {
  if (!w) return "success without weights";
  int n = fr__weights_count(w);
  if (n < 1) return "success with no tensors";
  for (int i = 0; i < n; i++) {
    const char *name = fr__weights_name(w, i);
    if (!name || !name[0]) return "a tensor without a name";
  }
  /* A terminated copy, as the loader makes, since the fuzzer's buffer may end
   * right after the JSON and cJSON is not instrumented to report an overread. */
  char *copy = malloc(json_len + 1);
  if (!copy) return NULL; /* out of memory in the harness: nothing to judge */
  memcpy(copy, json, json_len);
  copy[json_len] = '\0';
  cJSON *root = cJSON_ParseWithLength(copy, json_len);
  free(copy);
  if (!root) return "the loader accepted a manifest cJSON rejects";
  const char *bad = NULL;
  int seen = 0;
  const cJSON *g, *t, *d;
  cJSON_ArrayForEach(g, root) {
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(g, "weights")) {
      const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "name"));
      int dims[8], nd = 0;
      size_t count = 1;
      cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(t, "shape")) {
        if (nd == 8) break;
        dims[nd] = (int)d->valuedouble;
        count *= (size_t)dims[nd++];
      }
      fr_error err = {0, ""};
      const float *v = name ? fr__weights_get(w, name, nd, dims, &err) : NULL;
      if (!v) {
        bad = "a tensor the manifest declares cannot be looked up with its shape";
        break;
      }
      volatile float sink = 0;
      float acc = 0;
      for (size_t k = 0; k < count; k++) acc += v[k];
      sink = acc;
      (void)sink;
      seen++;
    }
    if (bad) break;
  }
  cJSON_Delete(root);
  if (!bad && seen != n) bad = "the weights hold a different number of tensors than declared";
  return bad;
}

static void fuzz_tfjs(const uint8_t *d, size_t n, fuzz_outcome *o) {
  const uint8_t *nul = memchr(d, 0, n);
  size_t json_len = nul ? (size_t)(nul - d) : n;
  const uint8_t *bin = nul ? nul + 1 : NULL;
  size_t bin_len = nul ? n - json_len - 1 : 0;
  fr__weights *w = NULL;
  fr_error err = {0, ""};
  o->status = fr__tfjs_parse((const char *)d, json_len, bin, bin_len, FUZZ_TFJS_LABEL, &w, &err);
  snprintf(o->message, sizeof o->message, "%s", err.message);
  if (o->status == FR_OK) {
    o->violation = fuzz_tfjs_success((const char *)d, json_len, w);
  } else if (w) {
    o->violation = "a failed load returned weights";
  } else if (o->status != FR_E_MODEL && o->status != FR_E_NOMEM) {
    o->violation = "a bad manifest must be FR_E_MODEL (tfjs.h)";
  } else if (o->status == FR_E_MODEL &&
             strncmp(err.message, FUZZ_TFJS_LABEL ": ", sizeof FUZZ_TFJS_LABEL + 1) != 0) {
    o->violation = "a model error that does not name the model";
  } else {
    o->violation = fuzz_check_failure(o->status, &err);
  }
  fr__weights_destroy(w);
}

/* ---- LFW pairs ---------------------------------------------------------------- */

/*
 * fr__lfw_load reads a file, so the input is written to an anonymous memory
 * file (created once per process) and loaded through /proc/self/fd: no disk,
 * nothing left behind, and the loader runs unchanged.
 */
#define FUZZ_LFW_ROOT "r"

static int fuzz_lfw_fd = -1;

static const char *fuzz_lfw_success(const fr__lfw *l) {
  if (!l) return "success without a result";
  if (l->n_folds < 1 || l->n_pairs < 2 * l->n_folds || l->n_pairs % (2 * l->n_folds) != 0)
    return "the pair count does not fill the folds evenly";
  if (l->n_images < 1 || !l->paths || !l->pairs) return "pairs without images";
  int per_fold = l->n_pairs / l->n_folds;
  char *used = calloc((size_t)l->n_images, 1);
  if (!used) return NULL; /* out of memory in the harness: nothing to judge */
  const char *bad = NULL;
  for (int k = 0; k < l->n_pairs && !bad; k++) {
    const fr__pair *p = &l->pairs[k];
    if (p->a < 0 || p->a >= l->n_images || p->b < 0 || p->b >= l->n_images)
      bad = "a pair points outside the image list";
    else if (p->fold != k / per_fold)
      bad = "a pair is in the wrong fold";
    else if (p->same != (k % per_fold < per_fold / 2))
      bad = "same-person and different-person pairs are out of order";
    else if (p->same) {
      /* Both images of a same-person pair live in that person's folder. */
      const char *a = l->paths[p->a], *b = l->paths[p->b];
      const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');
      if (!sa || !sb || sa - a != sb - b || memcmp(a, b, (size_t)(sa - a)) != 0)
        bad = "a same-person pair names two people";
    }
    if (!bad) used[p->a] = used[p->b] = 1;
  }
  for (int i = 0; i < l->n_images && !bad; i++) {
    const char *s = l->paths[i];
    size_t len = s ? strlen(s) : 0;
    if (!s || strncmp(s, FUZZ_LFW_ROOT "/", 2) != 0 || len < 6 || strcmp(s + len - 4, ".jpg") != 0)
      bad = "an image path not of the form root/name/name_NNNN.jpg";
    else if (!used[i])
      bad = "an image no pair uses";
  }
  free(used);
  return bad;
}

static void fuzz_lfw(const uint8_t *d, size_t n, fuzz_outcome *o) {
  if (fuzz_lfw_fd < 0) fuzz_lfw_fd = memfd_create("fuzz-lfw", 0);
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fuzz_lfw_fd);
  if (fuzz_lfw_fd < 0 || ftruncate(fuzz_lfw_fd, 0) != 0 ||
      (n && pwrite(fuzz_lfw_fd, d, n, 0) != (ssize_t)n)) {
    o->violation = "the harness could not write its memory file";
    return;
  }
  fr__lfw *l = NULL;
  fr_error err = {0, ""};
  o->status = fr__lfw_load(path, FUZZ_LFW_ROOT, &l, &err);
  snprintf(o->message, sizeof o->message, "%s", err.message);
  if (o->status == FR_OK) {
    o->violation = fuzz_lfw_success(l);
  } else if (l) {
    o->violation = "a failed load returned a result";
  } else if (o->status != FR_E_FORMAT && o->status != FR_E_LIMIT && o->status != FR_E_NOMEM) {
    o->violation = "a bad pairs file must be FR_E_FORMAT or FR_E_LIMIT";
  } else if (o->status != FR_E_NOMEM && strncmp(err.message, "line ", 5) != 0) {
    o->violation = "a format error that does not name the line";
  } else {
    o->violation = fuzz_check_failure(o->status, &err);
  }
  fr__lfw_destroy(l);
}

/* ---- TFLite models ---------------------------------------------------------------- */

/*
 * An input is a .tflite flatbuffer. A model that loads is also planned and
 * run at two small input sizes (when its plan is under 64 MB), so that what
 * the importer accepted is exercised by the engine too: a graph whose shapes
 * do not fit an input must be a plan error, never a crash.
 */
#define FUZZ_TFLITE_LABEL "fuzz"

static const char *fuzz_tflite_success(const fr__graph *g) {
  if (!g) return "success without a graph";
  static const int sizes[2][2] = {{12, 12}, {24, 20}};
  for (int s = 0; s < 2; s++) {
    fr__plan *p = NULL;
    fr_error err = {0, ""};
    fr_status st = fr__plan_create(g, 1, sizes[s][0], sizes[s][1], 1, &p, &err);
    if (st != FR_OK) {
      if (p) return "a failed plan returned a plan";
      const char *bad = fuzz_check_failure(st, &err);
      if (bad) return bad;
      continue;
    }
    if (fr__plan_bytes(p) <= ((size_t)64 << 20)) {
      /* The arena starts zeroed, so the input is all zeros: what matters
       * here is where the ops read and write, not the values. */
      fr__run(g, p, NULL);
      int shape[4];
      if (!fr__plan_output(p, 0, shape)) {
        fr__plan_destroy(p);
        return "a planned graph without output 0";
      }
      if (shape[0] != 1 || shape[1] < 1 || shape[2] < 1 || shape[3] < 1) {
        fr__plan_destroy(p);
        return "an output with an empty shape";
      }
    }
    fr__plan_destroy(p);
  }
  return NULL;
}

static void fuzz_tflite(const uint8_t *d, size_t n, fuzz_outcome *o) {
  fr__graph *g = NULL;
  fr_error err = {0, ""};
  o->status = fr__tflite_load(d, n, &fr__kernels_scalar, FUZZ_TFLITE_LABEL, &g, &err);
  snprintf(o->message, sizeof o->message, "%s", err.message);
  if (o->status == FR_OK) {
    o->violation = fuzz_tflite_success(g);
  } else if (g) {
    o->violation = "a failed load returned a graph";
  } else if (o->status != FR_E_MODEL && o->status != FR_E_UNSUPPORTED &&
             o->status != FR_E_LIMIT && o->status != FR_E_NOMEM) {
    o->violation = "a bad model must be FR_E_MODEL, FR_E_UNSUPPORTED or FR_E_LIMIT (tflite.h)";
  } else if (o->status != FR_E_NOMEM &&
             strncmp(err.message, FUZZ_TFLITE_LABEL ": ", sizeof FUZZ_TFLITE_LABEL + 1) != 0) {
    o->violation = "a model error that does not name the model";
  } else {
    o->violation = fuzz_check_failure(o->status, &err);
  }
  fr__graph_destroy(g);
}

/* ---- facerec model files ------------------------------------------------------ */

/*
 * An input is a facerec model file (.frm). A copy of it is resealed first -
 * its size field and checksum rewritten to match - since otherwise nearly
 * every mutation would stop at the checksum and never reach the parser
 * behind it (the checksum check itself is one comparison, covered by
 * tests/test_model_file.c). A model that loads has its graphs planned and
 * run at small sizes, like a TFLite model, and its arrays read whole.
 */
#define FUZZ_MODEL_LABEL "fuzz"

static void fuzz_model(const uint8_t *d, size_t n, fuzz_outcome *o) {
  uint8_t *copy = malloc(n ? n : 1);
  if (!copy) return; /* out of memory in the harness: nothing to judge */
  memcpy(copy, d, n);
  if (n >= 64 && memcmp(copy, FR__MODEL_MAGIC, 8) == 0) fr__model_seal(copy, n);
  fr__model m;
  fr_error err = {0, ""};
  o->status = fr__model_parse(copy, n, &fr__kernels_scalar, FUZZ_MODEL_LABEL, &m, &err);
  snprintf(o->message, sizeof o->message, "%s", err.message);
  if (o->status == FR_OK) {
    if (m.n_graphs < 1 || m.n_graphs > FR__MODEL_MAX_GRAPHS) o->violation = "a model without graphs";
    /* A loaded graph's tensor sizes follow from its input only at plan time,
     * and a few nodes (concatenations along H, say) can ask for gigabytes:
     * such plans are refused rather than zeroed, as fuzz_tflite_success would
     * not run them anyway. */
    size_t max_floats = fr__plan_max_floats;
    fr__plan_max_floats = (size_t)16 << 20;
    for (int i = 0; i < m.n_graphs && !o->violation; i++)
      o->violation = fuzz_tflite_success(m.graphs[i]);
    fr__plan_max_floats = max_floats;
    for (int i = 0; i < m.n_arrays && !o->violation; i++) {
      const fr__model_array *a = &m.arrays[i];
      if (!a->data || !a->count) {
        o->violation = "an empty array";
        break;
      }
      volatile float sink = 0;
      float acc = 0;
      for (size_t k = 0; k < a->count; k++) acc += a->data[k];
      sink = acc;
      (void)sink;
    }
  } else if (m.n_graphs || m.n_arrays || m.graphs[0]) {
    o->violation = "a failed load left graphs or arrays";
  } else if (o->status != FR_E_MODEL && o->status != FR_E_FORMAT && o->status != FR_E_LIMIT &&
             o->status != FR_E_NOMEM) {
    o->violation = "a bad model file must be FR_E_MODEL, FR_E_FORMAT or FR_E_LIMIT (model_file.h)";
  } else if (o->status != FR_E_NOMEM &&
             strncmp(err.message, FUZZ_MODEL_LABEL ": ", sizeof FUZZ_MODEL_LABEL + 1) != 0) {
    o->violation = "a model error that does not name the model";
  } else {
    o->violation = fuzz_check_failure(o->status, &err);
  }
  fr__model_release(&m);
  free(copy);
}

/*
 * ONNX models (src/nn/onnx.c over onnx_pb.c), as the regression replay sees
 * them; fuzz/fuzz_onnx.c checks the reader's promises in more detail. A
 * failure must be a defined status other than FR_E_INTERNAL, with a message
 * naming the model; a model that imports is planned and run like a TFLite
 * graph (a plan at a size the model does not fit may be refused).
 */
static void fuzz_onnx(const uint8_t *d, size_t n, fuzz_outcome *o) {
  fr__netfile nf;
  fr__netfile_options opt;
  memset(&opt, 0, sizeof opt);
  opt.kernels = &fr__kernels_scalar;
  fr_error err = {0, ""};
  o->status = fr__onnx_load(d, n, &opt, FUZZ_MODEL_LABEL, &nf, &err);
  snprintf(o->message, sizeof o->message, "%s", err.message);
  if (o->status == FR_OK) {
    size_t max_floats = fr__plan_max_floats;
    fr__plan_max_floats = (size_t)16 << 20;
    o->violation = fuzz_tflite_success(nf.graph);
    fr__plan_max_floats = max_floats;
    fr__netfile_release(&nf);
  } else if (nf.graph) {
    o->violation = "a failed import returned a graph";
  } else if (o->status == FR_E_INTERNAL) {
    o->violation = "an ONNX file made the importer report a bug";
  } else {
    o->violation = fuzz_check_failure(o->status, &err);
  }
}

/* ---- dispatch ------------------------------------------------------------------ */

/* Runs one input through one target. */
static void fuzz_one(fuzz_target t, const uint8_t *d, size_t n, fuzz_outcome *o) {
  memset(o, 0, sizeof *o);
  /* libFuzzer passes a non-NULL pointer even for an empty input; a caller
   * replaying an empty file may not. */
  static const uint8_t empty[1];
  if (!d) d = empty;
  switch (t) {
  case FUZZ_JPEG:
  case FUZZ_PNG:
  case FUZZ_PNM: fuzz_image(t, d, n, o); break;
  case FUZZ_TFJS: fuzz_tfjs(d, n, o); break;
  case FUZZ_LFW: fuzz_lfw(d, n, o); break;
  case FUZZ_TFLITE: fuzz_tflite(d, n, o); break;
  case FUZZ_MODEL: fuzz_model(d, n, o); break;
  case FUZZ_ONNX: fuzz_onnx(d, n, o); break;
  default: o->violation = "unknown fuzz target"; break;
  }
}

/*
 * The body of every LLVMFuzzerTestOneInput: returns -1 for an input of
 * another format (libFuzzer then keeps it out of the corpus) and aborts on a
 * broken promise, which libFuzzer reports as a crash and saves the input of.
 */
static inline int fuzz_libfuzzer(fuzz_target t, const uint8_t *d, size_t n) {
  fuzz_outcome o;
  fuzz_one(t, d, n, &o);
  if (o.violation) {
    fprintf(stderr, "\nfuzz_%s: %s (status %d: %s)\n", fuzz_target_names[t], o.violation, o.status,
            o.message);
    abort();
  }
  return o.rejected ? -1 : 0;
}

#endif
