/*
 * tfjs.c - loader for TensorFlow.js weight manifests and their .bin shards.
 *
 * Both the manifest and the shards are untrusted input: they are downloaded,
 * users may point the library at any directory, and the in-memory entry point
 * is fuzzed. The loader therefore works in three passes:
 *
 *  1. parse the JSON and validate every field into a flat list of tensor
 *     specs, computing each tensor's byte size with overflow checks and
 *     rejecting duplicate names;
 *  2. obtain one byte buffer per group (read from the shard files, or cut out
 *     of the caller's memory) and check that every tensor lies inside it;
 *  3. only then allocate the float block and decode.
 *
 * Nothing is allocated in proportion to a number read from the manifest until
 * that number has been checked against bytes that really exist, so a tiny
 * file cannot make the loader reserve gigabytes.
 *
 * Values are decoded exactly as tfjs-core's decodeWeights() does, so that the
 * networks built on top see bit-identical weights to face-api running in a
 * browser (see dequantize() for the one subtle point).
 */
#include "nn/tfjs.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The largest manifest accepted; real ones are tens of kilobytes. */
#define TFJS_MAX_MANIFEST ((size_t)16 << 20)
/* The most dimensions a tensor may have; real models use at most 4. */
#define TFJS_MAX_DIMS 8
/* Tensors larger than this could not be indexed by the int-based kernels. */
#define TFJS_MAX_ELEMENTS ((size_t)INT32_MAX)
/* The most tensors one manifest may declare; real models have < 300. */
#define TFJS_MAX_TENSORS (1 << 20)
/* The most shard bytes fr__tfjs_load reads in total; real models take < 7 MiB. */
#define TFJS_MAX_SHARD_BYTES ((size_t)1 << 30)
/* Each tensor starts on a 64-byte boundary (16 floats) for vector loads. */
#define TFJS_ALIGN_FLOATS ((size_t)16)

typedef enum tfjs_dtype { DT_FLOAT32, DT_INT32 } tfjs_dtype;

/* How a tensor's elements are stored in the shard bytes. */
typedef enum tfjs_storage { ST_FLOAT32, ST_INT32, ST_UINT8, ST_UINT16, ST_FLOAT16 } tfjs_storage;

/* One tensor as the public lookup sees it. */
typedef struct tfjs_tensor {
  const char *name; /* points into fr__weights.names */
  int ndim;
  int dims[TFJS_MAX_DIMS];
  size_t count;
  const float *data; /* points into fr__weights.block */
  /* A float32 tensor stored as uint8 codes keeps them too (in
   * fr__weights.codes) with its dequantisation parameters; NULL otherwise. */
  const uint8_t *codes;
  double qscale, qmin;
} tfjs_tensor;

struct fr__weights {
  char label[128]; /* the model's name for error messages */
  int n;
  tfjs_tensor *tensors;
  char *names;     /* all names, NUL-separated, in one allocation */
  float *block;    /* all values, each tensor 64-byte aligned */
  uint8_t *codes;  /* the uint8 codes of the tensors stored as such, or NULL */
  uint32_t *slots; /* open-addressing hash of names: tensor index + 1, 0 = empty */
  size_t mask;     /* number of slots - 1 (a power of two minus one) */
};

/* Everything decoding needs to know about a tensor beyond its public view. */
typedef struct tfjs_spec {
  int group;
  tfjs_dtype dtype;
  tfjs_storage storage;
  double scale, min; /* dequantisation parameters for uint8/uint16 */
  size_t nbytes;     /* bytes the tensor takes in its group's buffer */
  size_t offset;     /* where it starts in that buffer */
} tfjs_spec;

typedef struct tfjs_group {
  const cJSON *paths; /* the validated array of shard paths */
  size_t need;        /* total bytes of the group's tensors */
  const uint8_t *data;
  size_t len;
  uint8_t *owned; /* the buffer when it was read from files, else NULL */
} tfjs_group;

/* A parsed manifest: the weights object without values, plus decode specs. */
typedef struct tfjs_manifest {
  const char *label;
  cJSON *root;
  int ngroups;
  tfjs_group *groups;
  tfjs_spec *specs; /* one per tensor of w */
  fr__weights *w;
} tfjs_manifest;

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */
/* ------------------------------------------------------------------ */

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* FNV-1a: names are short and few, so a simple hash spreads them well enough. */
static uint64_t hash_name(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) {
    h ^= (uint8_t)*s;
    h *= 1099511628211ull;
  }
  return h;
}

static const tfjs_tensor *find_tensor(const fr__weights *w, const char *name) {
  if (!w->slots) return NULL;
  for (size_t i = (size_t)hash_name(name) & w->mask;; i = (i + 1) & w->mask) {
    uint32_t s = w->slots[i];
    if (s == 0) return NULL;
    if (strcmp(w->tensors[s - 1].name, name) == 0) return &w->tensors[s - 1];
  }
}

/* Writes "[a, b, c]" into buf; used by every shape-related message. */
static void format_shape(char *buf, size_t size, int ndim, const int *dims) {
  size_t used = 0;
  int n = snprintf(buf, size, "[");
  if (n > 0) used = (size_t)n;
  for (int i = 0; i < ndim && used < size; i++) {
    n = snprintf(buf + used, size - used, "%s%d", i ? ", " : "", dims[i]);
    if (n < 0) break;
    used += (size_t)n;
  }
  if (used < size) snprintf(buf + used, size - used, "]");
}

/*
 * Names a group's shards for messages: the single file in the common case,
 * otherwise the first one plus a count, so that the text stays short.
 */
static void group_files(const tfjs_group *g, char *buf, size_t size) {
  int n = cJSON_GetArraySize(g->paths);
  if (n == 0)
    snprintf(buf, size, "a group without shard files");
  else if (n == 1)
    snprintf(buf, size, "%s", g->paths->child->valuestring);
  else
    snprintf(buf, size, "%s and %d more shards", g->paths->child->valuestring, n - 1);
}

/*
 * Dequantises one uint8/uint16 value for a float32 tensor. tfjs-core computes
 * `v * scale + min` on JavaScript numbers (doubles, with scale and min parsed
 * from the JSON as doubles) and rounds once when storing into a Float32Array.
 * Doing the arithmetic in double and converting at the end therefore gives
 * bit-identical weights; computing in float instead would round three more
 * times and differ in the last bit for many values. The manifest check
 * guarantees the result fits in a float, so the conversion is well defined.
 */
static float dequantize(uint32_t q, double scale, double min) {
  return (float)((double)q * scale + min);
}

/*
 * Dequantises one value for an int32 tensor the way tfjs-core does: Math.round
 * (halves round towards +infinity) and then the Int32Array store, which wraps
 * modulo 2^32. Done in double so that no conversion can be out of range.
 */
static float dequantize_int(uint32_t q, double scale, double min) {
  double x = (double)q * scale + min;
  double r = floor(x);
  if (x - r >= 0.5) r += 1.0;
  double m = fmod(r, 4294967296.0);
  if (m < 0) m += 4294967296.0;
  if (m >= 2147483648.0) m -= 4294967296.0;
  return (float)(int32_t)m;
}

/* ------------------------------------------------------------------ */
/* Pass 1: the manifest                                                 */
/* ------------------------------------------------------------------ */

static void manifest_free(tfjs_manifest *m) {
  if (m->groups) {
    for (int i = 0; i < m->ngroups; i++) fr__free(m->groups[i].owned);
  }
  fr__free(m->groups);
  fr__free(m->specs);
  cJSON_Delete(m->root);
  fr__weights_destroy(m->w);
  memset(m, 0, sizeof *m);
}

/*
 * A shard path must stay inside the model directory: no absolute paths and
 * no "..", which also keeps the in-memory parser's notion of validity the same
 * as the file loader's.
 */
static fr_status check_paths(const tfjs_manifest *m, const cJSON *paths, int gi, fr_error *err) {
  if (!cJSON_IsArray(paths))
    return fr__fail(err, FR_E_MODEL, "%s: group %d has no \"paths\" array", m->label, gi);
  const cJSON *p;
  cJSON_ArrayForEach(p, paths) {
    if (!cJSON_IsString(p) || !p->valuestring || !p->valuestring[0])
      return fr__fail(err, FR_E_MODEL,
                      "%s: group %d has a shard path that is not a non-empty string", m->label, gi);
    const char *s = p->valuestring;
    if (s[0] == '/' || strstr(s, ".."))
      return fr__fail(err, FR_E_MODEL,
                      "%s: shard path %s leaves the model directory (absolute or with \"..\")",
                      m->label, s);
  }
  return FR_OK;
}

/* Reads "shape" into t, bounding the rank, each dimension and the product. */
static fr_status parse_shape(const tfjs_manifest *m, const cJSON *w, tfjs_tensor *t,
                             fr_error *err) {
  const cJSON *shape = cJSON_GetObjectItemCaseSensitive(w, "shape");
  if (!cJSON_IsArray(shape))
    return fr__fail(err, FR_E_MODEL, "%s: tensor %s has no \"shape\" array", m->label, t->name);
  int ndim = cJSON_GetArraySize(shape);
  if (ndim > TFJS_MAX_DIMS)
    return fr__fail(err, FR_E_MODEL, "%s: tensor %s has %d dimensions, more than the limit of %d",
                    m->label, t->name, ndim, TFJS_MAX_DIMS);
  int i = 0;
  int zero = 0;
  const cJSON *d;
  cJSON_ArrayForEach(d, shape) {
    double v = cJSON_IsNumber(d) ? d->valuedouble : -1.0;
    /* The comparisons are written so that NaN and infinities fail them too. */
    if (!(v >= 0.0 && v <= (double)INT32_MAX && v == floor(v)))
      return fr__fail(err, FR_E_MODEL, "%s: tensor %s: shape entry %d is not an integer in [0, %d]",
                      m->label, t->name, i, INT32_MAX);
    t->dims[i] = (int)v;
    if (t->dims[i] == 0) zero = 1;
    i++;
  }
  t->ndim = ndim;
  /* Any zero dimension makes the tensor empty however large the others are. */
  size_t count = 1;
  for (i = 0; i < ndim && !zero; i++) {
    if (!fr__mul_size(count, (size_t)t->dims[i], &count) || count > TFJS_MAX_ELEMENTS) {
      char sh[160];
      format_shape(sh, sizeof sh, ndim, t->dims);
      return fr__fail(err, FR_E_MODEL, "%s: tensor %s has shape %s, more than %zu elements",
                      m->label, t->name, sh, TFJS_MAX_ELEMENTS);
    }
  }
  t->count = zero ? 0 : count;
  return FR_OK;
}

/* Reads "dtype" and the optional "quantization" into s. */
static fr_status parse_dtype(const tfjs_manifest *m, const cJSON *w, const tfjs_tensor *t,
                             tfjs_spec *s, fr_error *err) {
  const char *dt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "dtype"));
  if (!dt)
    return fr__fail(err, FR_E_MODEL, "%s: tensor %s has no \"dtype\" string", m->label, t->name);
  if (strcmp(dt, "float32") == 0) {
    s->dtype = DT_FLOAT32;
    s->storage = ST_FLOAT32;
  } else if (strcmp(dt, "int32") == 0) {
    s->dtype = DT_INT32;
    s->storage = ST_INT32;
  } else {
    return fr__fail(err, FR_E_MODEL, "%s: tensor %s has unsupported dtype \"%.40s\"", m->label,
                    t->name, dt);
  }

  /* tfjs-core tests for the key's presence, so a null value is an error too. */
  const cJSON *q = cJSON_GetObjectItemCaseSensitive(w, "quantization");
  if (!q) return FR_OK;
  if (!cJSON_IsObject(q))
    return fr__fail(err, FR_E_MODEL, "%s: tensor %s: \"quantization\" is not an object", m->label,
                    t->name);
  const char *qdt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(q, "dtype"));
  if (!qdt)
    return fr__fail(err, FR_E_MODEL, "%s: tensor %s: quantization has no \"dtype\" string",
                    m->label, t->name);
  if (strcmp(qdt, "float16") == 0) {
    if (s->dtype != DT_FLOAT32)
      return fr__fail(err, FR_E_MODEL, "%s: tensor %s: float16 quantization needs dtype float32",
                      m->label, t->name);
    s->storage = ST_FLOAT16;
    return FR_OK;
  }
  double qmax;
  if (strcmp(qdt, "uint8") == 0) {
    s->storage = ST_UINT8;
    qmax = 255.0;
  } else if (strcmp(qdt, "uint16") == 0) {
    s->storage = ST_UINT16;
    qmax = 65535.0;
  } else {
    return fr__fail(err, FR_E_MODEL, "%s: tensor %s has unsupported quantization dtype \"%.40s\"",
                    m->label, t->name, qdt);
  }
  const cJSON *scale = cJSON_GetObjectItemCaseSensitive(q, "scale");
  const cJSON *min = cJSON_GetObjectItemCaseSensitive(q, "min");
  if (!cJSON_IsNumber(scale) || !cJSON_IsNumber(min))
    return fr__fail(err, FR_E_MODEL, "%s: tensor %s: %s quantization needs numeric scale and min",
                    m->label, t->name, qdt);
  s->scale = scale->valuedouble;
  s->min = min->valuedouble;
  /*
   * The dequantised values run monotonically from min to min + scale * qmax,
   * so checking both ends keeps every conversion to float in range (JSON may
   * spell 1e999, which parses as infinity).
   */
  double hi = qmax * s->scale + s->min;
  if (!(fabs(s->min) <= FLT_MAX && fabs(hi) <= FLT_MAX))
    return fr__fail(err, FR_E_MODEL,
                    "%s: tensor %s: quantization scale %g and min %g leave the float range",
                    m->label, t->name, s->scale, s->min);
  return FR_OK;
}

static fr_status parse_weight(tfjs_manifest *m, const cJSON *w, int gi, int wi, tfjs_tensor *t,
                              tfjs_spec *s, fr_error *err) {
  if (!cJSON_IsObject(w))
    return fr__fail(err, FR_E_MODEL, "%s: group %d, weight %d is not an object", m->label, gi, wi);
  const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "name"));
  if (!name || !name[0])
    return fr__fail(err, FR_E_MODEL, "%s: group %d, weight %d has no \"name\" string", m->label, gi,
                    wi);
  t->name = name; /* repointed at the weights' own copy once all are parsed */
  s->group = gi;
  fr_status st = parse_shape(m, w, t, err);
  if (st != FR_OK) return st;
  st = parse_dtype(m, w, t, s, err);
  if (st != FR_OK) return st;
  size_t esize = s->storage == ST_UINT8                                  ? 1
                 : (s->storage == ST_UINT16 || s->storage == ST_FLOAT16) ? 2
                                                                         : 4;
  if (!fr__mul_size(t->count, esize, &s->nbytes))
    return fr__fail(err, FR_E_MODEL, "%s: tensor %s is too large", m->label, t->name);
  return FR_OK;
}

/* Copies the names into one block and builds the hash, rejecting duplicates. */
static fr_status index_names(tfjs_manifest *m, fr_error *err) {
  fr__weights *w = m->w;
  size_t total = 0;
  for (int i = 0; i < w->n; i++) total += strlen(w->tensors[i].name) + 1; /* bounded by the JSON */
  w->names = fr__malloc(total ? total : 1);
  size_t nslots = 16;
  while (nslots < (size_t)w->n * 2) nslots *= 2;
  w->slots = fr__calloc(nslots, sizeof *w->slots);
  if (!w->names || !w->slots)
    return fr__fail(err, FR_E_NOMEM, "%s: out of memory indexing %d tensors", m->label, w->n);
  w->mask = nslots - 1;
  char *p = w->names;
  for (int i = 0; i < w->n; i++) {
    size_t len = strlen(w->tensors[i].name) + 1;
    memcpy(p, w->tensors[i].name, len);
    w->tensors[i].name = p;
    p += len;
    size_t k = (size_t)hash_name(w->tensors[i].name) & w->mask;
    while (w->slots[k]) {
      if (strcmp(w->tensors[w->slots[k] - 1].name, w->tensors[i].name) == 0)
        return fr__fail(err, FR_E_MODEL, "%s: tensor %s is listed twice", m->label,
                        w->tensors[i].name);
      k = (k + 1) & w->mask;
    }
    w->slots[k] = (uint32_t)i + 1;
  }
  return FR_OK;
}

/*
 * Parses and validates a manifest. On success m holds the JSON tree (the
 * path strings stay in it), the groups with their byte needs, and a weights
 * object whose tensors have names and shapes but no values yet.
 */
static fr_status manifest_parse(const char *json, size_t json_len, const char *label,
                                tfjs_manifest *m, fr_error *err) {
  memset(m, 0, sizeof *m);
  m->label = label;
  if (json_len > TFJS_MAX_MANIFEST)
    return fr__fail(err, FR_E_MODEL, "%s: the manifest is %zu bytes, more than the limit of %zu",
                    label, json_len, TFJS_MAX_MANIFEST);

  /*
   * cJSON is given a NUL-terminated copy: older cJSON releases could read one
   * byte past a buffer that was not terminated, and the caller's may not be.
   */
  char *copy = fr__malloc(json_len + 1);
  if (!copy) return fr__fail(err, FR_E_NOMEM, "%s: out of memory parsing the manifest", label);
  if (json_len) memcpy(copy, json, json_len);
  copy[json_len] = '\0';
  const char *end = NULL;
  /*
   * Every cJSON parse writes cJSON's one global error record (it resets it on
   * entry and sets it on failure), so two threads loading models at once
   * would race on it. facerec never reads that record, but a data race is
   * undefined behaviour all the same, and ThreadSanitizer cannot see it since
   * the system's cJSON is not instrumented; the lock makes parses take turns.
   * Loading is rare and the parse is a small part of it.
   */
  static pthread_mutex_t cjson_lock = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_lock(&cjson_lock);
  m->root = cJSON_ParseWithLengthOpts(copy, json_len, &end, 0);
  pthread_mutex_unlock(&cjson_lock);
  size_t stop = end && end >= copy && end <= copy + json_len ? (size_t)(end - copy) : 0;
  int trailing = 0;
  if (m->root) {
    for (size_t i = stop; i < json_len; i++) {
      char c = copy[i];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') trailing = 1;
    }
  }
  fr__free(copy);
  if (!m->root)
    return fr__fail(err, FR_E_MODEL, "%s: the manifest is not valid JSON (error near byte %zu)",
                    label, stop);
  if (trailing)
    return fr__fail(err, FR_E_MODEL, "%s: the manifest has data after the JSON value (at byte %zu)",
                    label, stop);
  if (!cJSON_IsArray(m->root))
    return fr__fail(err, FR_E_MODEL, "%s: the manifest is not a JSON array of weight groups",
                    label);

  m->ngroups = cJSON_GetArraySize(m->root);
  long long ntensors = 0;
  const cJSON *g;
  int gi = 0;
  cJSON_ArrayForEach(g, m->root) {
    if (!cJSON_IsObject(g))
      return fr__fail(err, FR_E_MODEL, "%s: group %d is not an object", label, gi);
    fr_status st = check_paths(m, cJSON_GetObjectItemCaseSensitive(g, "paths"), gi, err);
    if (st != FR_OK) return st;
    const cJSON *ws = cJSON_GetObjectItemCaseSensitive(g, "weights");
    if (!cJSON_IsArray(ws))
      return fr__fail(err, FR_E_MODEL, "%s: group %d has no \"weights\" array", label, gi);
    ntensors += cJSON_GetArraySize(ws);
    if (ntensors > TFJS_MAX_TENSORS)
      return fr__fail(err, FR_E_MODEL, "%s: the manifest lists more than %d tensors", label,
                      TFJS_MAX_TENSORS);
    gi++;
  }
  if (ntensors == 0) return fr__fail(err, FR_E_MODEL, "%s: the manifest lists no tensors", label);

  fr__weights *w = fr__calloc(1, sizeof *w);
  m->w = w;
  m->groups = fr__calloc((size_t)m->ngroups, sizeof *m->groups);
  m->specs = fr__calloc((size_t)ntensors, sizeof *m->specs);
  if (w) w->tensors = fr__calloc((size_t)ntensors, sizeof *w->tensors);
  if (!w || !m->groups || !m->specs || !w->tensors)
    return fr__fail(err, FR_E_NOMEM, "%s: out of memory for %lld tensors", label, ntensors);
  snprintf(w->label, sizeof w->label, "%s", label);

  gi = 0;
  int ti = 0;
  cJSON_ArrayForEach(g, m->root) {
    tfjs_group *grp = &m->groups[gi];
    grp->paths = cJSON_GetObjectItemCaseSensitive(g, "paths");
    const cJSON *wt;
    int wi = 0;
    cJSON_ArrayForEach(wt, cJSON_GetObjectItemCaseSensitive(g, "weights")) {
      fr_status st = parse_weight(m, wt, gi, wi, &w->tensors[ti], &m->specs[ti], err);
      if (st != FR_OK) return st;
      /*
       * The running total may exceed any real buffer; it is only compared
       * with the group's length later, so saturating is enough.
       */
      m->specs[ti].offset = grp->need;
      grp->need =
          m->specs[ti].nbytes > SIZE_MAX - grp->need ? SIZE_MAX : grp->need + m->specs[ti].nbytes;
      w->n = ++ti;
      wi++;
    }
    gi++;
  }
  return index_names(m, err);
}

/* ------------------------------------------------------------------ */
/* Passes 2 and 3: bounds and values                                    */
/* ------------------------------------------------------------------ */

/* Checks every tensor against its group's bytes, then decodes all values. */
static fr_status manifest_decode(tfjs_manifest *m, fr_error *err) {
  fr__weights *w = m->w;
  size_t total = 0;
  for (int i = 0; i < w->n; i++) {
    const tfjs_spec *s = &m->specs[i];
    const tfjs_group *g = &m->groups[s->group];
    if (s->offset > g->len || s->nbytes > g->len - s->offset) {
      char files[200];
      group_files(g, files, sizeof files);
      return fr__fail(err, FR_E_MODEL,
                      "%s: tensor %s needs %zu bytes at offset %zu but %s holds only %zu", m->label,
                      w->tensors[i].name, s->nbytes, s->offset, files, g->len);
    }
    /* Counts are now bounded by real bytes, so this sum cannot overflow. */
    total += (w->tensors[i].count + TFJS_ALIGN_FLOATS - 1) / TFJS_ALIGN_FLOATS * TFJS_ALIGN_FLOATS;
  }
  size_t bytes;
  if (total == 0) total = TFJS_ALIGN_FLOATS; /* empty tensors still get a valid pointer */
  if (!fr__mul_size(total, sizeof(float), &bytes))
    return fr__fail(err, FR_E_MODEL, "%s: the tensors are too large", m->label);
  /* Zeroed so that the padding between tensors reads deterministically. */
  w->block = fr__aligned_calloc(bytes);
  if (!w->block)
    return fr__fail(err, FR_E_NOMEM, "%s: out of memory for %zu bytes of weights", m->label, bytes);

  /* The uint8 codes of float32 tensors are kept beside their values, so
   * that builders can keep large layers compressed (fr__weights_get_u8).
   * They take a quarter of the values' bytes and live only as long as the
   * weight map, which builders free once the graph is built. */
  size_t ncodes = 0;
  for (int i = 0; i < w->n; i++)
    if (m->specs[i].storage == ST_UINT8 && m->specs[i].dtype == DT_FLOAT32)
      ncodes += w->tensors[i].count;
  if (ncodes && !(w->codes = fr__malloc(ncodes)))
    return fr__fail(err, FR_E_NOMEM, "%s: out of memory for %zu bytes of weights", m->label,
                    ncodes);
  uint8_t *cdst = w->codes;

  float *dst = w->block;
  for (int i = 0; i < w->n; i++) {
    const tfjs_spec *s = &m->specs[i];
    const uint8_t *src = m->groups[s->group].data + s->offset;
    size_t n = w->tensors[i].count;
    w->tensors[i].data = dst;
    switch (s->storage) {
    case ST_FLOAT32:
      for (size_t k = 0; k < n; k++) {
        uint32_t bits = rd32(src + 4 * k);
        memcpy(&dst[k], &bits, sizeof bits);
      }
      break;
    case ST_INT32:
      for (size_t k = 0; k < n; k++) {
        uint32_t u = rd32(src + 4 * k);
        /* Two's complement by arithmetic, since the cast would be implementation-defined. */
        int64_t v = u >= 0x80000000u ? (int64_t)u - 4294967296ll : (int64_t)u;
        dst[k] = (float)v;
      }
      break;
    case ST_UINT8:
      if (s->dtype == DT_FLOAT32 && n) {
        memcpy(cdst, src, n);
        w->tensors[i].codes = cdst;
        w->tensors[i].qscale = s->scale;
        w->tensors[i].qmin = s->min;
        cdst += n;
      }
      for (size_t k = 0; k < n; k++)
        dst[k] = s->dtype == DT_INT32 ? dequantize_int(src[k], s->scale, s->min)
                                      : dequantize(src[k], s->scale, s->min);
      break;
    case ST_UINT16:
      for (size_t k = 0; k < n; k++) {
        uint16_t q = rd16(src + 2 * k);
        dst[k] = s->dtype == DT_INT32 ? dequantize_int(q, s->scale, s->min)
                                      : dequantize(q, s->scale, s->min);
      }
      break;
    case ST_FLOAT16:
      for (size_t k = 0; k < n; k++) dst[k] = fr__half_to_float(rd16(src + 2 * k));
      break;
    }
    dst += (n + TFJS_ALIGN_FLOATS - 1) / TFJS_ALIGN_FLOATS * TFJS_ALIGN_FLOATS;
  }
  return FR_OK;
}

/* Hands the finished weights to the caller and releases the rest. */
static fr_status manifest_finish(tfjs_manifest *m, fr__weights **out, fr_error *err) {
  fr_status st = manifest_decode(m, err);
  if (st == FR_OK) {
    *out = m->w;
    m->w = NULL;
  }
  manifest_free(m);
  return st;
}

/* ------------------------------------------------------------------ */
/* Public entry points                                                  */
/* ------------------------------------------------------------------ */

fr_status fr__tfjs_parse(const char *json, size_t json_len, const uint8_t *bin, size_t bin_len,
                         const char *label, fr__weights **out, fr_error *err) {
  if (!out) return fr__fail(err, FR_E_INVALID, "fr__tfjs_parse: out is NULL");
  *out = NULL;
  if (!label) label = "weights";
  if ((!json && json_len) || (!bin && bin_len))
    return fr__fail(err, FR_E_INVALID, "%s: fr__tfjs_parse: NULL buffer with a non-zero length",
                    label);
  /* A static empty buffer avoids arithmetic on a null pointer below. */
  static const uint8_t empty[1];
  if (!bin) bin = empty;
  if (!json) json = "";

  tfjs_manifest m;
  fr_status st = manifest_parse(json, json_len, label, &m, err);
  if (st != FR_OK) {
    manifest_free(&m);
    return st;
  }
  /*
   * The shard sizes are not in the manifest, so each group takes exactly the
   * bytes its tensors need and the last one takes whatever remains; a short
   * buffer then shows up as the first tensor that does not fit.
   */
  size_t pos = 0;
  for (int g = 0; g < m.ngroups; g++) {
    size_t avail = bin_len - pos;
    size_t len = g == m.ngroups - 1 ? avail : (m.groups[g].need < avail ? m.groups[g].need : avail);
    m.groups[g].data = bin + pos;
    m.groups[g].len = len;
    pos += len;
  }
  return manifest_finish(&m, out, err);
}

/* Turns a file-reading failure into the model error the header promises. */
static fr_status as_model_error(fr_status st, fr_error *err) {
  if (st == FR_E_NOMEM) return st;
  if (err) err->status = FR_E_MODEL;
  return FR_E_MODEL;
}

/* Reads the shards of group g and concatenates them into its buffer. */
static fr_status read_group(tfjs_manifest *m, int g, const char *dir, size_t *budget,
                            fr_error *err) {
  tfjs_group *grp = &m->groups[g];
  const cJSON *p;
  size_t len = 0;
  cJSON_ArrayForEach(p, grp->paths) {
    char path[4096];
    fr_status st = fr__path_join(path, sizeof path, dir, p->valuestring, err);
    if (st != FR_OK) return as_model_error(st, err);
    uint8_t *data;
    size_t size;
    st = fr__read_file(path, *budget, &data, &size, err);
    if (st != FR_OK) {
      fr__error_prefix(err, "%s", m->label);
      return as_model_error(st, err);
    }
    *budget -= size;
    if (!grp->owned) {
      grp->owned = data;
    } else if (size) {
      uint8_t *grown = fr__realloc(grp->owned, len + size);
      if (!grown) {
        fr__free(data);
        return fr__fail(err, FR_E_NOMEM, "%s: out of memory reading %s", m->label, path);
      }
      grp->owned = grown;
      memcpy(grp->owned + len, data, size);
      fr__free(data);
    } else {
      fr__free(data);
    }
    len += size;
  }
  static const uint8_t empty[1];
  grp->data = grp->owned ? grp->owned : empty;
  grp->len = len;
  return FR_OK;
}

fr_status fr__tfjs_load(const char *dir, const char *manifest, fr__weights **out, fr_error *err) {
  if (!out) return fr__fail(err, FR_E_INVALID, "fr__tfjs_load: out is NULL");
  *out = NULL;
  if (!manifest || !*manifest)
    return fr__fail(err, FR_E_INVALID, "fr__tfjs_load: no manifest name");
  const char *slash = strrchr(manifest, '/');
  const char *label = slash ? slash + 1 : manifest;

  char path[4096];
  fr_status st = fr__path_join(path, sizeof path, dir, manifest, err);
  if (st != FR_OK) return st;
  uint8_t *json;
  size_t json_len;
  st = fr__read_file(path, TFJS_MAX_MANIFEST, &json, &json_len, err);
  if (st != FR_OK) return as_model_error(st, err);

  tfjs_manifest m;
  st = manifest_parse((const char *)json, json_len, label, &m, err);
  fr__free(json);
  size_t budget = TFJS_MAX_SHARD_BYTES;
  for (int g = 0; st == FR_OK && g < m.ngroups; g++) st = read_group(&m, g, dir, &budget, err);
  if (st != FR_OK) {
    manifest_free(&m);
    return st;
  }
  return manifest_finish(&m, out, err);
}

void fr__weights_destroy(fr__weights *w) {
  if (!w) return;
  fr__free(w->tensors);
  fr__free(w->names);
  fr__free(w->slots);
  fr__aligned_free(w->block);
  fr__free(w->codes);
  fr__free(w);
}

/* The tensor `name` if it has exactly the shape dims[0..ndim-1]; else NULL
 * with err set as fr__weights_get describes. */
static const tfjs_tensor *lookup(const fr__weights *w, const char *name, int ndim,
                                 const int *dims, fr_error *err) {
  if (!w || !name || ndim < 0 || (ndim > 0 && !dims)) {
    fr__fail(err, FR_E_INVALID, "fr__weights_get: invalid argument");
    return NULL;
  }
  const tfjs_tensor *t = find_tensor(w, name);
  if (!t) {
    fr__fail(err, FR_E_MODEL, "%s: tensor %s missing", w->label, name);
    return NULL;
  }
  int same = ndim == t->ndim;
  for (int i = 0; same && i < ndim; i++) same = dims[i] == t->dims[i];
  if (!same) {
    char have[160], want[160];
    format_shape(have, sizeof have, t->ndim, t->dims);
    format_shape(want, sizeof want, ndim > TFJS_MAX_DIMS ? TFJS_MAX_DIMS : ndim, dims);
    fr__fail(err, FR_E_MODEL, "%s: tensor %s has shape %s, expected %s%s", w->label, name, have,
             want, ndim > TFJS_MAX_DIMS ? " (and more)" : "");
    return NULL;
  }
  return t;
}

const float *fr__weights_get(const fr__weights *w, const char *name, int ndim, const int *dims,
                             fr_error *err) {
  const tfjs_tensor *t = lookup(w, name, ndim, dims, err);
  return t ? t->data : NULL;
}

int fr__weights_get_u8(const fr__weights *w, const char *name, int ndim, const int *dims,
                       const uint8_t **codes, double *scale, double *min, fr_error *err) {
  const tfjs_tensor *t = lookup(w, name, ndim, dims, err);
  if (!t) return -1;
  if (!t->codes) return 0;
  *codes = t->codes;
  *scale = t->qscale;
  *min = t->qmin;
  return 1;
}

/* double to float with values beyond the float range becoming infinities,
 * as IEEE arithmetic would give, rather than a conversion C leaves
 * undefined (a hostile manifest's scales can get there). */
static float to_float(double v) {
  if (v > FLT_MAX) return INFINITY;
  if (v < -FLT_MAX) return -INFINITY;
  return (float)v;
}

void fr__weights_u8_affine(float *affine, int cout, int c0, int n, double scale, double min,
                           const float *mul) {
  double z = scale != 0.0 ? floor(-min / scale + 0.5) : 0.0;
  if (!(z >= 0.0)) z = 0.0; /* also NaN */
  if (z > 255.0) z = 255.0;
  double off = min + z * scale;
  for (int c = c0; c < c0 + n; c++) {
    double m = mul ? (double)mul[c] : 1.0;
    affine[c] = to_float(scale * m);
    affine[cout + c] = to_float(off * m);
    affine[2 * cout + c] = (float)z;
  }
}

int fr__weights_count(const fr__weights *w) { return w ? w->n : 0; }

const char *fr__weights_name(const fr__weights *w, int i) {
  if (!w || i < 0 || i >= w->n) return NULL;
  return w->tensors[i].name;
}
