/*
 * card.c - embedders a user brings: a network file (ONNX, TFLite or a
 * facerec model file) described by a model card, NAME.json beside it, that
 * says what the file alone cannot: the input size and normalisation, the
 * alignment the network was trained on, the descriptor length, whether to
 * L2-normalise, and the distance under which two faces are the same person.
 * docs/models.md documents the fields and gives the cards of FaceNet and
 * ArcFace.
 *
 * The card's identity - its name and a hash of the network's bytes - is the
 * model id galleries record, so that descriptors of one user model are never
 * compared with another's, nor with the built-in ones.
 */
#include "embed/embed_internal.h"
#include "nn/netfile.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* A card is a few hundred bytes; anything much larger is not one. */
#define FR__CARD_MAX_BYTES 65536
#define FR__CARD_MAX_MODEL_BYTES ((size_t)1 << 31)

typedef struct card_state {
  fr__embedder_impl impl; /* this embedder's own entry, filled from the card */
  fr__card card;
} card_state;

static int has_suffix(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Number field: 1 and *out set when present and a finite number; 0 when
 * absent; -1 when present but not a number. */
static int num(const cJSON *o, const char *key, double *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!v) return 0;
  if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return -1;
  *out = v->valuedouble;
  return 1;
}

static int triple(const cJSON *o, const char *key, float out[3]) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!v) return 0;
  if (cJSON_IsNumber(v)) {
    out[0] = out[1] = out[2] = (float)v->valuedouble;
    return isfinite(v->valuedouble) ? 1 : -1;
  }
  if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 3) return -1;
  for (int i = 0; i < 3; i++) {
    const cJSON *x = cJSON_GetArrayItem(v, i);
    if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble)) return -1;
    out[i] = (float)x->valuedouble;
  }
  return 1;
}

static const char *str(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The model id: the card's name and a 64-bit FNV-1a hash of the network
 * file, which changes whenever the weights do. */
static void set_model_id(fr__card *c, uint64_t h) {
  snprintf(c->model_id, sizeof c->model_id, "card:%s@%016llx", c->name, (unsigned long long)h);
}

fr_status fr__card_read(const char *path, int with_id, fr__card *c, fr_error *err) {
  memset(c, 0, sizeof *c);
  if (!path || !path[0]) return fr__fail(err, FR_E_INVALID, "model card: no path");
  char card_path[sizeof c->model_path];
  /* A card, or a network file with its card beside it (same name, .json). */
  if (has_suffix(path, ".json")) {
    if (snprintf(card_path, sizeof card_path, "%s", path) >= (int)sizeof card_path)
      return fr__fail(err, FR_E_INVALID, "model card: path too long");
  } else {
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - path) : strlen(path);
    if (snprintf(card_path, sizeof card_path, "%.*s.json", (int)stem, path) >= (int)sizeof card_path)
      return fr__fail(err, FR_E_INVALID, "model card: path too long");
  }
  uint8_t *text = NULL;
  size_t size = 0;
  fr_status st = fr__read_file(card_path, FR__CARD_MAX_BYTES, &text, &size, err);
  if (st != FR_OK) {
    fr__error_prefix(err, "model card %s", card_path);
    return st;
  }
  cJSON *o = cJSON_ParseWithLength((const char *)text, size);
  fr__free(text);
  if (!o || !cJSON_IsObject(o)) {
    cJSON_Delete(o);
    return fr__fail(err, FR_E_FORMAT, "model card %s: not a JSON object", card_path);
  }
#define BAD(...)                                                                    \
  do {                                                                             \
    cJSON_Delete(o);                                                               \
    return fr__fail(err, FR_E_FORMAT, "model card %s: " __VA_ARGS__);              \
  } while (0)
  const char *name = str(o, "name");
  if (!name || !name[0] || strlen(name) >= sizeof c->name) BAD("\"name\" must be a string of 1 to 63 bytes", card_path);
  for (const char *p = name; *p; p++)
    if (!(*p == '-' || *p == '_' || *p == '.' || (*p >= '0' && *p <= '9') ||
          (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
      BAD("\"name\" may hold letters, digits, '-', '_' and '.' only", card_path);
  snprintf(c->name, sizeof c->name, "%s", name);
  /* The network file: the card's "model", relative to the card's folder, or
   * the path given when that was the network itself. */
  const char *model = str(o, "model");
  if (model) {
    if (!model[0] || strstr(model, "..") || model[0] == '/')
      BAD("\"model\" must name a file in the card's folder", card_path);
    const char *slash = strrchr(card_path, '/');
    int dirlen = slash ? (int)(slash - card_path + 1) : 0;
    if (snprintf(c->model_path, sizeof c->model_path, "%.*s%s", dirlen, card_path, model) >=
        (int)sizeof c->model_path)
      BAD("path too long", card_path);
  } else if (!has_suffix(path, ".json")) {
    snprintf(c->model_path, sizeof c->model_path, "%s", path);
  } else {
    BAD("\"model\" (the network file) is missing", card_path);
  }
  double v;
  int r;
  if ((r = num(o, "input_size", &v)) != 1 || v < 16 || v > 1024 || v != floor(v))
    BAD("\"input_size\" must be a whole number from 16 to 1024", card_path);
  c->input_size = (int)v;
  if ((r = num(o, "dim", &v)) != 1 || v < 2 || v > 8192 || v != floor(v))
    BAD("\"dim\" (the descriptor length) must be a whole number from 2 to 8192", card_path);
  c->dim = (int)v;
  c->mean[0] = c->mean[1] = c->mean[2] = 0.f;
  c->std[0] = c->std[1] = c->std[2] = 1.f;
  if (triple(o, "mean", c->mean) < 0) BAD("\"mean\" must be a number or 3 numbers", card_path);
  if (triple(o, "std", c->std) < 0) BAD("\"std\" must be a number or 3 numbers", card_path);
  for (int i = 0; i < 3; i++)
    if (c->std[i] == 0.f) BAD("\"std\" must not be 0", card_path);
  const char *order = str(o, "channel_order");
  if (order && strcmp(order, "rgb") && strcmp(order, "bgr"))
    BAD("\"channel_order\" must be \"rgb\" or \"bgr\"", card_path);
  c->bgr = order && !strcmp(order, "bgr");
  const char *layout = str(o, "layout");
  if (layout && strcmp(layout, "nchw") && strcmp(layout, "nhwc"))
    BAD("\"layout\" must be \"nchw\" or \"nhwc\"", card_path);
  c->nhwc = layout && !strcmp(layout, "nhwc");
  const char *align = str(o, "align");
  static const char *const aligns[] = {"upright", "similarity", "arcface", "facenet"};
  c->align = 0;
  for (int i = 0; align && i < 4; i++)
    if (!strcmp(align, aligns[i])) c->align = (fr_align_method)(FR_ALIGN_UPRIGHT + i);
  if (!c->align) BAD("\"align\" must be upright, similarity, arcface or facenet", card_path);
  const cJSON *l2 = cJSON_GetObjectItemCaseSensitive(o, "l2_normalize");
  if (l2 && !cJSON_IsBool(l2)) BAD("\"l2_normalize\" must be true or false", card_path);
  c->l2_normalize = !l2 || cJSON_IsTrue(l2);
  if ((r = num(o, "threshold", &v)) != 1 || v <= 0 || v > 1e6)
    BAD("\"threshold\" (the same-person Euclidean distance) must be a positive number", card_path);
  c->threshold = (float)v;
  /* The rest default from the threshold: on unit vectors, cosine distance
   * is half the squared Euclidean one; identification's cut defaults to
   * the verification threshold until the user measures a stricter one. */
  c->cosine_threshold = c->threshold * c->threshold / 2.f;
  if ((r = num(o, "cosine_threshold", &v)) < 0 || (r && (v <= 0 || v > 2)))
    BAD("\"cosine_threshold\" must be in (0, 2]", card_path);
  if (r) c->cosine_threshold = (float)v;
  c->identify_threshold = c->threshold;
  if ((r = num(o, "identify_threshold", &v)) < 0 || (r && v <= 0))
    BAD("\"identify_threshold\" must be positive", card_path);
  if (r) c->identify_threshold = (float)v;
  c->identify_cosine_threshold = c->cosine_threshold;
  if ((r = num(o, "identify_cosine_threshold", &v)) < 0 || (r && (v <= 0 || v > 2)))
    BAD("\"identify_cosine_threshold\" must be in (0, 2]", card_path);
  if (r) c->identify_cosine_threshold = (float)v;
  const char *in = str(o, "input_name");
  if (in && strlen(in) >= sizeof c->input_name) BAD("\"input_name\" too long", card_path);
  if (in) snprintf(c->input_name, sizeof c->input_name, "%s", in);
#undef BAD
  cJSON_Delete(o);
  if (with_id) {
    uint8_t *data = NULL;
    size_t size = 0;
    st = fr__read_file(c->model_path, FR__CARD_MAX_MODEL_BYTES, &data, &size, err);
    if (st != FR_OK) {
      fr__error_prefix(err, "model card %s", card_path);
      return st;
    }
    set_model_id(c, fr__fnv1a64(data, size));
    fr__free(data);
  }
  return FR_OK;
}

/* Frees a card embedder this file made (not through fr_embedder_destroy:
 * embedder.c calls into this file, never the other way round). */
static void card_free(fr_embedder *e) {
  fr__graph_destroy(e->g);
  fr__free(e->state);
  fr__free(e);
}

static void card_unload(fr_embedder *e) {
  fr__free(e->state);
  e->state = NULL;
}

/* Never called: card embedders normalise with the card's values, which a
 * context-free prepare cannot see (embedder.c calls fr__card_prepare). */
static void no_prepare(float *rgb, size_t pixels) {
  (void)rgb;
  (void)pixels;
}

void fr__card_prepare(const fr_embedder *e, float *rgb, size_t pixels) {
  const card_state *s = e->state;
  const fr__card *c = &s->card;
  float inv[3] = {1.f / c->std[0], 1.f / c->std[1], 1.f / c->std[2]};
  for (size_t p = 0; p < pixels; p++) {
    float *px = rgb + 3 * p;
    if (c->bgr) {
      float t = px[0];
      px[0] = px[2];
      px[2] = t;
    }
    for (int k = 0; k < 3; k++) px[k] = (px[k] - c->mean[k]) * inv[k];
  }
}

const fr__card *fr__embedder_card(const fr_embedder *e) {
  return e && e->kind == FR_EMBEDDER_CARD ? &((const card_state *)e->state)->card : NULL;
}

fr_status fr__embedder_create_card(const char *path, const fr__kernels *kernels,
                                   fr_embedder **out, fr_error *err) {
  if (!out) return fr__fail(err, FR_E_INVALID, "fr_embedder_create_file: NULL out");
  *out = NULL;
  card_state *s = fr__calloc(1, sizeof *s);
  fr_embedder *e = fr__calloc(1, sizeof *e);
  if (!s || !e) {
    fr__free(s);
    fr__free(e);
    return fr__fail(err, FR_E_NOMEM, "out of memory loading a model card");
  }
  e->state = s;
  e->kind = FR_EMBEDDER_CARD;
  e->kernels = kernels;
  s->impl.kind = FR_EMBEDDER_CARD;
  s->impl.unload = card_unload;
  s->impl.prepare = no_prepare;
  e->impl = &s->impl;
  fr__card *c = &s->card;
  /* The network is read once, below, and its id taken from those bytes. */
  fr_status st = fr__card_read(path, 0, c, err);
  if (st != FR_OK) {
    card_free(e);
    return st;
  }
  s->impl.net.name = "card";
  s->impl.net.title = c->name;
  s->impl.net.input_size = c->input_size;
  s->impl.net.dim = c->dim;
  s->impl.l2_normalize = c->l2_normalize;
  s->impl.align = c->align;
  s->impl.model_id = c->model_id;
  s->impl.threshold = c->threshold;
  s->impl.cosine_threshold = c->cosine_threshold;
  s->impl.identify_threshold = c->identify_threshold;
  s->impl.identify_cosine_threshold = c->identify_cosine_threshold;
  e->size = c->input_size;
  e->dim = c->dim;
  /* The network, its input fixed at one chip of the card's size (the
   * engine plans other batch sizes itself). */
  fr__netfile_options opt;
  memset(&opt, 0, sizeof opt);
  opt.kernels = kernels;
  opt.input_name = c->input_name[0] ? c->input_name : NULL;
  opt.ndims = 4;
  int64_t nchw[4] = {1, 3, c->input_size, c->input_size};
  int64_t nhwc[4] = {1, c->input_size, c->input_size, 3};
  memcpy(opt.dims, c->nhwc ? nhwc : nchw, sizeof nchw);
  uint64_t hash = 0;
  opt.content_hash = &hash;
  fr__netfile nf;
  st = fr__netfile_load(c->model_path, &opt, &nf, err);
  if (st == FR_OK) {
    set_model_id(c, hash);
    e->g = nf.graph;
    nf.graph = NULL;
    fr__netfile_release(&nf);
    if (fr__channels(e->g, fr__graph_input(e->g)) != 3)
      st = fr__fail(err, FR_E_MODEL, "%s: the network's input has %d channels, not 3 (RGB)",
                    c->name, fr__channels(e->g, fr__graph_input(e->g)));
  }
  if (st == FR_OK) st = fr__net_check_vector(e->g, e->size, e->dim, c->name, err);
  if (st != FR_OK) {
    fr__error_prefix(err, "model card %s", path);
    card_free(e);
    return st;
  }
  *out = e;
  return FR_OK;
}

