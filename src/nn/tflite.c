/*
 * tflite.c - the TFLite flatbuffer importer (see tflite.h).
 *
 * The file is read in place through a small bounds-checked flatbuffer
 * reader: every table, vtable, vector and string is checked to lie inside the
 * buffer before it is touched, so no input can make the reader step outside.
 * Only the first subgraph is imported. Operators are visited in file order,
 * which TFLite defines as an execution order; an operator reading a tensor
 * that nothing has produced yet is a corrupt model.
 *
 * Field numbers below are those of TensorFlow's schema.fbs (Model, SubGraph,
 * Tensor, Buffer, Operator, OperatorCode and the *Options tables).
 */
#include "nn/tflite.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- flatbuffer reading ------------------------------------------------- */

typedef struct fb {
  const uint8_t *d;
  size_t n;
} fb;

/* A table: its position and its vtable's. */
typedef struct tbl {
  size_t pos, vt;
  unsigned vt_len, obj_len;
} tbl;

static uint16_t get16(const fb *f, size_t o) { return (uint16_t)(f->d[o] | f->d[o + 1] << 8); }
static uint32_t get32(const fb *f, size_t o) {
  return (uint32_t)f->d[o] | (uint32_t)f->d[o + 1] << 8 | (uint32_t)f->d[o + 2] << 16 |
         (uint32_t)f->d[o + 3] << 24;
}

/* Whether [o, o + len) lies inside the buffer. */
static int in_bounds(const fb *f, size_t o, size_t len) { return o <= f->n && len <= f->n - o; }

/* Opens the table at pos; 0 if it or its vtable is out of bounds. */
static int tbl_open(const fb *f, size_t pos, tbl *t) {
  if (!in_bounds(f, pos, 4)) return 0;
  int32_t soff = (int32_t)get32(f, pos);
  long long vt = (long long)pos - soff;
  if (vt < 0 || !in_bounds(f, (size_t)vt, 4)) return 0;
  t->pos = pos;
  t->vt = (size_t)vt;
  t->vt_len = get16(f, t->vt);
  t->obj_len = get16(f, t->vt + 2);
  if (t->vt_len < 4 || (t->vt_len & 1) || !in_bounds(f, t->vt, t->vt_len)) return 0;
  if (t->obj_len < 4 || !in_bounds(f, pos, t->obj_len)) return 0;
  return 1;
}

/* Absolute position of field id of `size` bytes, or 0 when absent (no field
 * lives at offset 0, which holds the root offset). -1 (as size_t) when the
 * vtable points outside the table. */
#define FB_BAD ((size_t)-1)
static size_t tbl_field(const fb *f, const tbl *t, int id, size_t size) {
  size_t slot = 4 + 2 * (size_t)id;
  if (slot + 2 > t->vt_len) return 0;
  unsigned off = get16(f, t->vt + slot);
  if (!off) return 0;
  if (off + size > t->obj_len) return FB_BAD;
  return t->pos + off;
}

/* Scalar fields with their schema defaults; *bad is set on a broken vtable. */
static uint32_t tbl_u32(const fb *f, const tbl *t, int id, uint32_t def, int *bad) {
  size_t p = tbl_field(f, t, id, 4);
  if (p == FB_BAD) return *bad = 1, def;
  return p ? get32(f, p) : def;
}
static int32_t tbl_i32(const fb *f, const tbl *t, int id, int32_t def, int *bad) {
  return (int32_t)tbl_u32(f, t, id, (uint32_t)def, bad);
}
static float tbl_f32(const fb *f, const tbl *t, int id, float def, int *bad) {
  uint32_t u = tbl_u32(f, t, id, 0, bad);
  size_t p = tbl_field(f, t, id, 4);
  if (!p || p == FB_BAD) return def;
  float v;
  memcpy(&v, &u, 4);
  return v;
}
static uint8_t tbl_u8(const fb *f, const tbl *t, int id, uint8_t def, int *bad) {
  size_t p = tbl_field(f, t, id, 1);
  if (p == FB_BAD) return *bad = 1, def;
  return p ? f->d[p] : def;
}

/* Follows the offset stored at p; 0 on failure. */
static size_t follow(const fb *f, size_t p) {
  if (!in_bounds(f, p, 4)) return 0;
  uint32_t rel = get32(f, p);
  if (!rel || !in_bounds(f, p, (size_t)rel)) return 0;
  return p + rel;
}

/* A vector field of elements of `esize` bytes: start and length. Returns 1
 * if present and in bounds, 0 if absent (len 0), -1 if broken. */
static int tbl_vec(const fb *f, const tbl *t, int id, size_t esize, size_t *start, size_t *len) {
  *start = 0;
  *len = 0;
  size_t p = tbl_field(f, t, id, 4);
  if (!p) return 0;
  if (p == FB_BAD) return -1;
  size_t v = follow(f, p);
  if (!v || !in_bounds(f, v, 4)) return -1;
  size_t n = get32(f, v);
  if (n > (f->n - v - 4) / esize) return -1;
  *start = v + 4;
  *len = n;
  return 1;
}

/* The k-th table of a vector of tables. */
static int vec_table(const fb *f, size_t start, size_t k, tbl *t) {
  size_t p = follow(f, start + 4 * k);
  return p && tbl_open(f, p, t);
}

/* ---- the model ------------------------------------------------------------- */

/* TensorType values. */
enum { TT_FLOAT32 = 0, TT_FLOAT16 = 1, TT_INT32 = 2, TT_INT64 = 4 };

/* BuiltinOperator values. */
enum {
  OPC_ADD = 0,
  OPC_AVERAGE_POOL_2D = 1,
  OPC_CONCATENATION = 2,
  OPC_CONV_2D = 3,
  OPC_DEPTHWISE_CONV_2D = 4,
  OPC_DEQUANTIZE = 6,
  OPC_FULLY_CONNECTED = 9,
  OPC_LOGISTIC = 14,
  OPC_MAX_POOL_2D = 17,
  OPC_MUL = 18,
  OPC_RELU = 19,
  OPC_RELU_N1_TO_1 = 20,
  OPC_RELU6 = 21,
  OPC_RESHAPE = 22,
  OPC_RESIZE_BILINEAR = 23,
  OPC_SOFTMAX = 25,
  OPC_TANH = 28,
  OPC_PAD = 34,
  OPC_MEAN = 40,
  OPC_SUB = 41,
  OPC_DIV = 42,
  OPC_EXP = 47,
  OPC_PRELU = 54,
  OPC_MAXIMUM = 55,
  OPC_MINIMUM = 57,
  OPC_NEG = 59,
  OPC_SUM = 74,
  OPC_REDUCE_MAX = 82,
  OPC_ABS = 101
};

static const char *op_name(int code) {
  static const struct {
    int code;
    const char *name;
  } names[] = {{0, "ADD"}, {1, "AVERAGE_POOL_2D"}, {2, "CONCATENATION"}, {3, "CONV_2D"},
               {4, "DEPTHWISE_CONV_2D"}, {5, "DEPTH_TO_SPACE"}, {6, "DEQUANTIZE"},
               {8, "FLOOR"}, {9, "FULLY_CONNECTED"}, {11, "L2_NORMALIZATION"},
               {12, "L2_POOL_2D"}, {14, "LOGISTIC"}, {16, "LSTM"}, {17, "MAX_POOL_2D"},
               {18, "MUL"}, {19, "RELU"}, {20, "RELU_N1_TO_1"}, {21, "RELU6"}, {22, "RESHAPE"},
               {23, "RESIZE_BILINEAR"}, {25, "SOFTMAX"}, {26, "SPACE_TO_DEPTH"}, {28, "TANH"},
               {32, "CUSTOM"}, {34, "PAD"}, {36, "GATHER"}, {39, "TRANSPOSE"}, {40, "MEAN"},
               {41, "SUB"}, {42, "DIV"}, {43, "SQUEEZE"}, {45, "STRIDED_SLICE"}, {47, "EXP"},
               {49, "SPLIT"}, {53, "CAST"}, {54, "PRELU"}, {55, "MAXIMUM"}, {57, "MINIMUM"},
               {59, "NEG"}, {60, "PADV2"}, {65, "SLICE"}, {67, "TRANSPOSE_CONV"},
               {70, "EXPAND_DIMS"}, {74, "SUM"}, {75, "SQRT"}, {76, "RSQRT"}, {82, "REDUCE_MAX"},
               {83, "PACK"}, {97, "RESIZE_NEAREST_NEIGHBOR"}, {98, "LEAKY_RELU"}, {101, "ABS"},
               {114, "QUANTIZE"}, {117, "HARD_SWISH"}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].code == code) return names[i].name;
  return "(unnamed)";
}

#define MAX_RANK 6
#define MAX_ELEMS ((size_t)1 << 28)
#define MAX_WEIGHT_FLOATS ((size_t)64 << 20) /* 256 MB of float32 */
#define MAX_DIM (1 << 24)

typedef struct tensor {
  int rank;
  int dims[MAX_RANK];
  size_t count;
  int type;
  const uint8_t *data; /* constant bytes in the file, or NULL */
  size_t data_len;
  float *cst;   /* float32 values of a constant (owned), made on demand */
  int eid;      /* engine tensor, or -1 */
  int producer; /* operator index, or -1 */
  int uses;     /* operator inputs reading it, plus 1 if a graph output */
  int is_output;
  char name[48];
} tensor;

typedef struct op {
  int code;
  size_t in_start, n_in, out_start, n_out; /* int32 vectors in the file */
  tbl opts;
  int has_opts;
  int needed; /* some output reaches a graph output */
  int skip;   /* swallowed by a fused pattern */
  /* Set on the last operator of a fused pattern. */
  int fused; /* 0, FUSE_PRELU or FUSE_SOFTMAX */
  int fused_src;
  float *fused_alpha; /* owned */
} op;

enum { FUSE_PRELU = 1, FUSE_SOFTMAX = 2 };

typedef struct loader {
  fb f;
  const char *name;
  fr_error *err;
  fr_status st;
  int *opcodes;
  size_t n_opcodes;
  tensor *t;
  size_t n_t;
  op *ops;
  size_t n_ops;
  size_t weight_floats;
  int flags; /* FR__TFLITE_* */
  fr__graph *g;
} loader;

/* Records the first failure; returns its status. */
static fr_status lfail(loader *L, fr_status st, const char *fmt, ...) FR__PRINTF(3, 4);
static fr_status lfail(loader *L, fr_status st, const char *fmt, ...) {
  if (L->st == FR_OK) {
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    L->st = fr__fail(L->err, st, "%s: %s", L->name, msg);
  }
  return L->st;
}

static fr_status corrupt(loader *L, const char *what) {
  return lfail(L, FR_E_MODEL, "corrupt or truncated model (%s)", what);
}

/* Reads int32 element k of a vector starting at s. */
static int32_t vec_i32(const loader *L, size_t s, size_t k) {
  return (int32_t)get32(&L->f, s + 4 * k);
}

static int op_in(const loader *L, const op *o, size_t k) {
  return k < o->n_in ? vec_i32(L, o->in_start, k) : -1;
}
static int op_out(const loader *L, const op *o, size_t k) {
  return k < o->n_out ? vec_i32(L, o->out_start, k) : -1;
}

/* The float32 values of a constant tensor (float32 or float16 data), or NULL
 * with an error. Owned by the tensor. */
static const float *const_floats(loader *L, int ti) {
  tensor *t = &L->t[ti];
  if (t->cst) return t->cst;
  if (!t->data) {
    lfail(L, FR_E_UNSUPPORTED, "tensor %s must be a constant", t->name);
    return NULL;
  }
  if (t->type != TT_FLOAT32 && t->type != TT_FLOAT16) {
    lfail(L, FR_E_UNSUPPORTED, "constant %s has type %d, not float32/float16", t->name, t->type);
    return NULL;
  }
  if (t->count > MAX_WEIGHT_FLOATS - L->weight_floats) {
    lfail(L, FR_E_LIMIT, "weights exceed %zu MB", MAX_WEIGHT_FLOATS * 4 >> 20);
    return NULL;
  }
  L->weight_floats += t->count;
  t->cst = fr__malloc(t->count * sizeof(float));
  if (!t->cst) {
    lfail(L, FR_E_NOMEM, "out of memory reading %s", t->name);
    return NULL;
  }
  if (t->type == TT_FLOAT32)
    memcpy(t->cst, t->data, t->count * 4);
  else
    for (size_t e = 0; e < t->count; e++)
      t->cst[e] = fr__half_to_float((uint16_t)(t->data[2 * e] | t->data[2 * e + 1] << 8));
  return t->cst;
}

/* Integer constant values (int32 or int64), at most `max`; returns the count
 * or -1 with an error. */
static int const_ints(loader *L, int ti, int64_t *v, int max) {
  tensor *t = &L->t[ti];
  if (!t->data || (t->type != TT_INT32 && t->type != TT_INT64)) {
    lfail(L, FR_E_UNSUPPORTED, "tensor %s must be an integer constant", t->name);
    return -1;
  }
  if (t->count > (size_t)max) {
    lfail(L, FR_E_MODEL, "integer constant %s has %zu values", t->name, t->count);
    return -1;
  }
  for (size_t e = 0; e < t->count; e++) {
    if (t->type == TT_INT32) {
      v[e] = (int32_t)get32(&L->f, (size_t)(t->data - L->f.d) + 4 * e);
    } else {
      uint64_t lo = get32(&L->f, (size_t)(t->data - L->f.d) + 8 * e);
      uint64_t hi = get32(&L->f, (size_t)(t->data - L->f.d) + 8 * e + 4);
      v[e] = (int64_t)(lo | hi << 32);
    }
  }
  return (int)t->count;
}

static int is_const(const loader *L, int ti) { return L->t[ti].data || L->t[ti].cst; }

/* ---- parsing ----------------------------------------------------------------- */

static fr_status parse(loader *L, tbl *subgraph) {
  const fb *f = &L->f;
  int bad = 0;
  if (f->n < 8 || f->n > ((size_t)1 << 31)) return corrupt(L, "size");
  if (memcmp(f->d + 4, "TFL3", 4) != 0) return lfail(L, FR_E_MODEL, "not a TFLite model");
  tbl model;
  size_t root = follow(f, 0);
  if (!root || !tbl_open(f, root, &model)) return corrupt(L, "root table");
  uint32_t version = tbl_u32(f, &model, 0, 0, &bad);
  if (bad) return corrupt(L, "model table");
  if (version != 3) return lfail(L, FR_E_UNSUPPORTED, "schema version %u (3 expected)", version);

  /* Operator codes: the real code is the larger of the deprecated byte and
   * the int32 field that replaced it. */
  size_t s, n;
  if (tbl_vec(f, &model, 1, 4, &s, &n) < 0) return corrupt(L, "operator codes");
  L->n_opcodes = n;
  L->opcodes = fr__calloc(n ? n : 1, sizeof *L->opcodes);
  if (!L->opcodes) return lfail(L, FR_E_NOMEM, "out of memory");
  for (size_t k = 0; k < n; k++) {
    tbl oc;
    if (!vec_table(f, s, k, &oc)) return corrupt(L, "operator code");
    int dep = (int8_t)tbl_u8(f, &oc, 0, 0, &bad);
    int32_t code = tbl_i32(f, &oc, 3, 0, &bad);
    if (bad) return corrupt(L, "operator code");
    L->opcodes[k] = code > dep ? code : dep;
  }

  /* Buffers. */
  size_t bs, bn;
  if (tbl_vec(f, &model, 4, 4, &bs, &bn) < 0) return corrupt(L, "buffers");

  /* The first subgraph. */
  size_t gs, gn;
  if (tbl_vec(f, &model, 2, 4, &gs, &gn) < 0 || gn == 0) return corrupt(L, "subgraphs");
  if (!vec_table(f, gs, 0, subgraph)) return corrupt(L, "subgraph");
  size_t ts, tn;
  if (tbl_vec(f, subgraph, 0, 4, &ts, &tn) < 0) return corrupt(L, "tensors");
  if (tn > (1u << 20)) return lfail(L, FR_E_LIMIT, "%zu tensors", tn);
  L->n_t = tn;
  L->t = fr__calloc(tn ? tn : 1, sizeof *L->t);
  if (!L->t) return lfail(L, FR_E_NOMEM, "out of memory");
  for (size_t k = 0; k < tn; k++) {
    tensor *t = &L->t[k];
    t->eid = -1;
    t->producer = -1;
    tbl tt;
    if (!vec_table(f, ts, k, &tt)) return corrupt(L, "tensor");
    size_t ss, sn, ns, nn;
    if (tbl_vec(f, &tt, 0, 4, &ss, &sn) < 0) return corrupt(L, "tensor shape");
    if (tbl_vec(f, &tt, 3, 1, &ns, &nn) < 0) return corrupt(L, "tensor name");
    snprintf(t->name, sizeof t->name, "%.*s", (int)(nn < 40 ? nn : 40), (const char *)f->d + ns);
    for (char *c = t->name; *c; c++)
      if ((unsigned char)*c < 32 || (unsigned char)*c > 126) *c = '?';
    if (!t->name[0]) snprintf(t->name, sizeof t->name, "#%zu", k);
    if (sn > MAX_RANK) return lfail(L, FR_E_UNSUPPORTED, "tensor %s has rank %zu", t->name, sn);
    t->rank = (int)sn;
    t->count = 1;
    for (size_t d = 0; d < sn; d++) {
      int32_t v = vec_i32(L, ss, d);
      if (v <= 0 || v > MAX_DIM)
        return lfail(L, FR_E_MODEL, "tensor %s has dimension %d", t->name, (int)v);
      t->dims[d] = v;
      if (t->count > MAX_ELEMS / (size_t)v)
        return lfail(L, FR_E_LIMIT, "tensor %s is too large", t->name);
      t->count *= (size_t)v;
    }
    t->type = tbl_u8(f, &tt, 1, 0, &bad);
    uint32_t buf = tbl_u32(f, &tt, 2, 0, &bad);
    if (bad) return corrupt(L, "tensor table");
    if (buf >= bn) {
      if (buf == 0) continue; /* no buffers at all: not a constant */
      return lfail(L, FR_E_MODEL, "tensor %s names buffer %u of %zu", t->name, buf, bn);
    }
    tbl bt;
    if (!vec_table(f, bs, buf, &bt)) return corrupt(L, "buffer");
    size_t ds, dn;
    if (tbl_vec(f, &bt, 0, 1, &ds, &dn) < 0) return corrupt(L, "buffer data");
    if (dn == 0) {
      /* Large models keep data outside the flatbuffer: offset and size
       * (uint64 fields 1 and 2) from the start of the file. */
      size_t po = tbl_field(f, &bt, 1, 8), pz = tbl_field(f, &bt, 2, 8);
      if (po == FB_BAD || pz == FB_BAD) return corrupt(L, "buffer table");
      if (po && pz) {
        uint64_t off = get32(f, po) | (uint64_t)get32(f, po + 4) << 32;
        uint64_t sz = get32(f, pz) | (uint64_t)get32(f, pz + 4) << 32;
        if (off > f->n || sz > f->n - off) return corrupt(L, "buffer offset");
        ds = (size_t)off;
        dn = (size_t)sz;
      }
    }
    if (dn == 0) continue;
    size_t esize = t->type == TT_FLOAT32 || t->type == TT_INT32 ? 4
                   : t->type == TT_FLOAT16                      ? 2
                   : t->type == TT_INT64                        ? 8
                                                                : 1;
    if (dn != t->count * esize)
      return lfail(L, FR_E_MODEL, "tensor %s holds %zu bytes, its shape needs %zu", t->name, dn,
                   t->count * esize);
    t->data = f->d + ds;
    t->data_len = dn;
  }

  /* Operators. */
  size_t os, on;
  if (tbl_vec(f, subgraph, 3, 4, &os, &on) < 0) return corrupt(L, "operators");
  if (on > (1u << 20)) return lfail(L, FR_E_LIMIT, "%zu operators", on);
  L->n_ops = on;
  L->ops = fr__calloc(on ? on : 1, sizeof *L->ops);
  if (!L->ops) return lfail(L, FR_E_NOMEM, "out of memory");
  for (size_t k = 0; k < on; k++) {
    op *o = &L->ops[k];
    tbl ot;
    if (!vec_table(f, os, k, &ot)) return corrupt(L, "operator");
    uint32_t idx = tbl_u32(f, &ot, 0, 0, &bad);
    if (bad) return corrupt(L, "operator table");
    if (idx >= L->n_opcodes) return lfail(L, FR_E_MODEL, "operator %zu has code index %u", k, idx);
    o->code = L->opcodes[idx];
    if (tbl_vec(f, &ot, 1, 4, &o->in_start, &o->n_in) < 0 ||
        tbl_vec(f, &ot, 2, 4, &o->out_start, &o->n_out) < 0)
      return corrupt(L, "operator inputs");
    if (o->n_in > 64 || o->n_out == 0 || o->n_out > 8)
      return lfail(L, FR_E_MODEL, "operator %zu has %zu inputs and %zu outputs", k, o->n_in,
                   o->n_out);
    for (size_t j = 0; j < o->n_in; j++) {
      int ti = op_in(L, o, j);
      if (ti < -1 || ti >= (int)tn) return lfail(L, FR_E_MODEL, "operator %zu reads tensor %d", k, ti);
      if (ti >= 0) L->t[ti].uses++;
    }
    for (size_t j = 0; j < o->n_out; j++) {
      int ti = op_out(L, o, j);
      if (ti < 0 || ti >= (int)tn) return lfail(L, FR_E_MODEL, "operator %zu writes tensor %d", k, ti);
      if (L->t[ti].producer >= 0 || L->t[ti].data)
        return lfail(L, FR_E_MODEL, "tensor %s is written twice", L->t[ti].name);
      L->t[ti].producer = (int)k;
    }
    size_t p = tbl_field(f, &ot, 4, 4);
    if (p == FB_BAD) return corrupt(L, "operator options");
    if (p) {
      size_t q = follow(f, p);
      if (!q || !tbl_open(f, q, &o->opts)) return corrupt(L, "operator options");
      o->has_opts = 1;
    }
  }
  return FR_OK;
}

/* ---- pattern fusion ------------------------------------------------------------ */

/* The operator producing tensor ti if it has `code`, feeds only one reader
 * (`uses` readers) and no fused activation; else -1. */
static int producer_of(const loader *L, int ti, int code, int uses) {
  if (ti < 0 || ti >= (int)L->n_t) return -1;
  const tensor *t = &L->t[ti];
  if (t->producer < 0 || t->uses != uses || t->is_output) return -1;
  const op *o = &L->ops[t->producer];
  if (o->code != code || o->skip || o->fused || o->n_out != 1) return -1;
  if (o->has_opts) {
    /* ADD/SUB/MUL/DIV keep their fused activation in field 0. */
    int bad = 0;
    if ((code == OPC_ADD || code == OPC_SUB || code == OPC_MUL || code == OPC_DIV) &&
        tbl_u8(&L->f, &o->opts, 0, 0, &bad) != 0)
      return -1;
    if (bad) return -1;
  }
  return t->producer;
}

/* A per-channel constant of c values (or one value for all), copied and
 * scaled; NULL if the tensor is not such a constant. */
static float *channel_const(loader *L, int ti, int c, float scale) {
  if (ti < 0 || !is_const(L, ti)) return NULL;
  const tensor *t = &L->t[ti];
  if (t->type != TT_FLOAT32 && t->type != TT_FLOAT16 && !t->cst) return NULL;
  if (t->count != (size_t)c && t->count != 1) return NULL;
  if (t->rank > 0 && t->dims[t->rank - 1] != (int)t->count) return NULL;
  const float *v = const_floats(L, ti);
  if (!v) return NULL;
  float *a = fr__malloc((size_t)c * sizeof *a);
  if (!a) return NULL;
  for (int k = 0; k < c; k++) a[k] = scale * v[t->count == 1 ? 0 : k];
  return a;
}

/* The last dimension of a tensor (its engine channels). */
static int last_dim(const loader *L, int ti) {
  const tensor *t = &L->t[ti];
  return t->rank ? t->dims[t->rank - 1] : 1;
}

/*
 * PReLU as TF converters spell it:
 *   add(relu(x), mul(a, neg(relu(neg(x)))))       (MTCNN: -relu(-x) = min(x, 0))
 *   add(relu(x), mul(a, sub(x, abs(x))))          (MobileFaceNet: x - |x| = 2 min(x, 0))
 * with the MUL's operands in either order and the ADD's too.
 */
static void fuse_prelu(loader *L, int k) {
  op *add = &L->ops[k];
  if (add->code != OPC_ADD || add->n_in != 2 || add->n_out != 1) return;
  int bad = 0;
  if (add->has_opts && tbl_u8(&L->f, &add->opts, 0, 0, &bad) != 0) return;
  for (int order = 0; order < 2; order++) {
    int ta = op_in(L, add, (size_t)order), tb = op_in(L, add, (size_t)!order);
    int relu = producer_of(L, ta, OPC_RELU, 1);
    int mul = producer_of(L, tb, OPC_MUL, 1);
    if (relu < 0 || mul < 0 || L->ops[mul].n_in != 2) continue;
    int x = op_in(L, &L->ops[relu], 0);
    if (x < 0) continue;
    for (int mo = 0; mo < 2; mo++) {
      int tc = op_in(L, &L->ops[mul], (size_t)mo), tv = op_in(L, &L->ops[mul], (size_t)!mo);
      int chain[3] = {-1, -1, -1};
      float scale = 0;
      int n1 = producer_of(L, tv, OPC_NEG, 1);
      if (n1 >= 0) {
        int r2 = producer_of(L, op_in(L, &L->ops[n1], 0), OPC_RELU, 1);
        int n2 = r2 >= 0 ? producer_of(L, op_in(L, &L->ops[r2], 0), OPC_NEG, 1) : -1;
        if (n2 >= 0 && op_in(L, &L->ops[n2], 0) == x) {
          chain[0] = n1, chain[1] = r2, chain[2] = n2;
          scale = 1.f;
        }
      }
      int sub = producer_of(L, tv, OPC_SUB, 1);
      if (sub >= 0 && L->ops[sub].n_in == 2 && op_in(L, &L->ops[sub], 0) == x) {
        int ab = producer_of(L, op_in(L, &L->ops[sub], 1), OPC_ABS, 1);
        if (ab >= 0 && op_in(L, &L->ops[ab], 0) == x) {
          chain[0] = sub, chain[1] = ab;
          scale = 2.f;
        }
      }
      if (chain[0] < 0) continue;
      float *alpha = channel_const(L, tc, last_dim(L, x), scale);
      if (!alpha) continue;
      add->fused = FUSE_PRELU;
      add->fused_src = x;
      add->fused_alpha = alpha;
      L->ops[relu].skip = L->ops[mul].skip = 1;
      for (int j = 0; j < 3; j++)
        if (chain[j] >= 0) L->ops[chain[j]].skip = 1;
      return;
    }
  }
}

/* The single reduction axis of a REDUCE_MAX/SUM operator, normalised to
 * [0, rank), if it keeps dims; else -1. */
static int reduce_axis(loader *L, const op *o, int rank) {
  int bad = 0;
  if (o->n_in != 2 || !o->has_opts || tbl_u8(&L->f, &o->opts, 0, 0, &bad) != 1 || bad) return -1;
  int at = op_in(L, o, 1);
  if (at < 0) return -1;
  const tensor *t = &L->t[at];
  if (!t->data || t->count != 1 || (t->type != TT_INT32 && t->type != TT_INT64)) return -1;
  size_t at0 = (size_t)(t->data - L->f.d);
  int64_t a = t->type == TT_INT32
                  ? (int32_t)get32(&L->f, at0)
                  : (int64_t)(get32(&L->f, at0) | (uint64_t)get32(&L->f, at0 + 4) << 32);
  if (a < 0) a += rank;
  return a >= 0 && a < rank ? (int)a : -1;
}

/* Softmax over the last axis: div(e, sum(e)) with e = exp(sub(x, reduce_max(x))). */
static void fuse_softmax(loader *L, int k) {
  op *div = &L->ops[k];
  if (div->code != OPC_DIV || div->n_in != 2 || div->n_out != 1) return;
  int bad = 0;
  if (div->has_opts && tbl_u8(&L->f, &div->opts, 0, 0, &bad) != 0) return;
  int e = op_in(L, div, 0), s = op_in(L, div, 1);
  int ex = producer_of(L, e, OPC_EXP, 2);
  int sum = producer_of(L, s, OPC_SUM, 1);
  if (ex < 0 || sum < 0 || op_in(L, &L->ops[sum], 0) != e) return;
  int sub = producer_of(L, op_in(L, &L->ops[ex], 0), OPC_SUB, 1);
  if (sub < 0 || L->ops[sub].n_in != 2) return;
  int x = op_in(L, &L->ops[sub], 0);
  int mx = producer_of(L, op_in(L, &L->ops[sub], 1), OPC_REDUCE_MAX, 1);
  if (x < 0 || mx < 0 || op_in(L, &L->ops[mx], 0) != x) return;
  int rank = L->t[x].rank;
  if (rank < 1 || reduce_axis(L, &L->ops[mx], rank) != rank - 1 ||
      reduce_axis(L, &L->ops[sum], rank) != rank - 1)
    return;
  div->fused = FUSE_SOFTMAX;
  div->fused_src = x;
  L->ops[ex].skip = L->ops[sum].skip = L->ops[sub].skip = L->ops[mx].skip = 1;
}

/* ---- building ------------------------------------------------------------------ */

/* Engine axis of TFLite axis a of a rank-r activation: [n,h,w,c], [n,a,b]
 * as [n,1,a,b], [n,c] as [n,1,1,c]. 0 (batch) or -1 if not mappable. */
static int engine_axis(int a, int r) {
  if (a < 0) a += r;
  if (a < 0 || a >= r || r < 2 || r > 4) return -1;
  return a == 0 ? 0 : a + (4 - r);
}

/* Engine shape (h, w, c) of a TFLite activation shape; 0 if rank unsupported. */
static int engine_hwc(const tensor *t, int *h, int *w, int *c) {
  if (t->rank < 2 || t->rank > 4) return 0;
  int d[4] = {1, 1, 1, 1};
  d[0] = t->dims[0];
  for (int i = 1; i < t->rank; i++) d[4 - t->rank + i] = t->dims[i];
  *h = d[1], *w = d[2], *c = d[3];
  return 1;
}

/* The engine tensor of an operator input. */
static int in_eid(loader *L, int ti) {
  if (ti < 0) {
    lfail(L, FR_E_MODEL, "a required operator input is missing");
    return -1;
  }
  if (L->t[ti].eid < 0) {
    if (is_const(L, ti))
      lfail(L, FR_E_UNSUPPORTED, "constant %s used as an activation", L->t[ti].name);
    else
      lfail(L, FR_E_MODEL, "tensor %s is read before it is written", L->t[ti].name);
    return -1;
  }
  return L->t[ti].eid;
}

/* Fused activation of an options field: engine activation plus an extra
 * unary op for those the kernels do not fuse; -1 if unsupported. */
static int map_act(loader *L, int code, fr__act *act, int *extra) {
  *act = FR__ACT_NONE;
  *extra = -1;
  switch (code) {
  case 0: return 0;
  case 1: *act = FR__ACT_RELU; return 0;
  case 2: *extra = FR__UN_RELU1; return 0;
  case 3: *act = FR__ACT_RELU6; return 0;
  case 4: *extra = FR__UN_TANH; return 0;
  default: lfail(L, FR_E_UNSUPPORTED, "fused activation %d", code); return -1;
  }
}

static int with_extra(loader *L, int y, int extra) {
  return extra >= 0 && y >= 0 ? fr__unary(L->g, y, (fr__unop)extra) : y;
}

static fr__padding map_pad(int p) { return p == 1 ? FR__PAD_VALID : FR__PAD_SAME; }

/* Elementwise binary operator with one or two activation operands. */
static int build_binary(loader *L, const op *o, fr__binop bop, int act_code) {
  fr__act act;
  int extra;
  if (o->n_in != 2 || map_act(L, act_code, &act, &extra) < 0) {
    if (L->st == FR_OK) lfail(L, FR_E_MODEL, "binary operator needs 2 inputs");
    return -1;
  }
  int a = op_in(L, o, 0), b = op_in(L, o, 1);
  if (a < 0 || b < 0) return lfail(L, FR_E_MODEL, "binary operator input missing"), -1;
  int ca = is_const(L, a), cb = is_const(L, b);
  if (ca && cb) {
    lfail(L, FR_E_UNSUPPORTED, "%s of two constants", op_name(o->code));
    return -1;
  }
  if (!ca && !cb) {
    if (L->t[a].rank != L->t[b].rank) {
      lfail(L, FR_E_UNSUPPORTED, "%s of ranks %d and %d", op_name(o->code), L->t[a].rank,
            L->t[b].rank);
      return -1;
    }
    int ea = in_eid(L, a), eb = in_eid(L, b);
    if (ea < 0 || eb < 0) return -1;
    return with_extra(L, fr__binary(L->g, bop, ea, eb, act, 0.f), extra);
  }
  int x = ca ? b : a, k = ca ? a : b;
  int ex = in_eid(L, x);
  if (ex < 0) return -1;
  const tensor *tx = &L->t[x], *tk = &L->t[k];
  int r = tx->rank;
  if (tk->rank > r || r < 2 || r > 4) {
    lfail(L, FR_E_UNSUPPORTED, "%s of a rank-%d constant with a rank-%d tensor", op_name(o->code),
          tk->rank, r);
    return -1;
  }
  /* Right-align the constant's shape to the activation's rank (numpy
   * broadcasting), then map it the way the activation maps. */
  tensor al = *tk;
  al.rank = r;
  for (int i = 0; i < r; i++) al.dims[i] = i < r - tk->rank ? 1 : tk->dims[i - (r - tk->rank)];
  int h = 0, w = 0, c = 0;
  engine_hwc(&al, &h, &w, &c);
  if (al.dims[0] != 1) {
    lfail(L, FR_E_UNSUPPORTED, "%s with a constant along the batch", op_name(o->code));
    return -1;
  }
  const float *v = const_floats(L, k);
  if (!v) return -1;
  return with_extra(L, fr__binary_const(L->g, bop, ex, v, h, w, c, ca, act, 0.f), extra);
}

static int opt_u8(loader *L, const op *o, int id, int def) {
  int bad = 0;
  int v = o->has_opts ? tbl_u8(&L->f, &o->opts, id, (uint8_t)def, &bad) : def;
  if (bad) corrupt(L, "options");
  return v;
}
static int opt_i32(loader *L, const op *o, int id, int def) {
  int bad = 0;
  int v = o->has_opts ? tbl_i32(&L->f, &o->opts, id, def, &bad) : def;
  if (bad) corrupt(L, "options");
  return v;
}

/* CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED. */
static int build_conv(loader *L, const op *o, int x) {
  int wt = op_in(L, o, 1), bt = op_in(L, o, 2);
  if (wt < 0) return lfail(L, FR_E_MODEL, "%s without weights", op_name(o->code)), -1;
  const tensor *tw = &L->t[wt];
  const float *w = const_floats(L, wt);
  const float *bias = NULL;
  if (!w) return -1;
  int cin = fr__channels(L->g, x);
  int act_code, stride_w = 1, stride_h = 1, pad = 0;
  if (o->code == OPC_FULLY_CONNECTED) {
    act_code = opt_u8(L, o, 0, 0);
    if (opt_u8(L, o, 1, 0) != 0) return lfail(L, FR_E_UNSUPPORTED, "shuffled FC weights"), -1;
  } else {
    pad = opt_u8(L, o, 0, 0);
    stride_w = opt_i32(L, o, 1, 0);
    stride_h = opt_i32(L, o, 2, 0);
    int dil_w = opt_i32(L, o, o->code == OPC_CONV_2D ? 4 : 5, 1);
    int dil_h = opt_i32(L, o, o->code == OPC_CONV_2D ? 5 : 6, 1);
    act_code = opt_u8(L, o, o->code == OPC_CONV_2D ? 3 : 4, 0);
    if (dil_w != 1 || dil_h != 1) return lfail(L, FR_E_UNSUPPORTED, "dilated convolution"), -1;
    if (stride_w != stride_h || stride_w < 1 || stride_w > 64)
      return lfail(L, FR_E_UNSUPPORTED, "convolution strides %d x %d", stride_h, stride_w), -1;
  }
  fr__act act;
  int extra;
  if (map_act(L, act_code, &act, &extra) < 0) return -1;
  int cout;
  if (o->code == OPC_FULLY_CONNECTED) {
    if (tw->rank != 2) return lfail(L, FR_E_MODEL, "FC weights of rank %d", tw->rank), -1;
    cout = tw->dims[0];
  } else if (o->code == OPC_CONV_2D) {
    if (tw->rank != 4 || tw->dims[3] != cin)
      return lfail(L, FR_E_MODEL, "conv weights %s do not match %d input channels", tw->name, cin),
             -1;
    cout = tw->dims[0];
  } else {
    if (tw->rank != 4 || tw->dims[0] != 1 || tw->dims[3] != cin)
      return lfail(L, FR_E_UNSUPPORTED, "depthwise weights %s for %d channels (multiplier 1 only)",
                   tw->name, cin),
             -1;
    cout = cin;
  }
  if (bt >= 0) {
    if (L->t[bt].count != (size_t)cout)
      return lfail(L, FR_E_MODEL, "bias %s does not have %d values", L->t[bt].name, cout), -1;
    if (!(bias = const_floats(L, bt))) return -1;
  }
  int y;
  if (o->code == OPC_FULLY_CONNECTED) {
    int in = tw->dims[1];
    float *io = fr__malloc(tw->count * sizeof *io);
    if (!io) return lfail(L, FR_E_NOMEM, "out of memory"), -1;
    for (int i = 0; i < in; i++)
      for (int j = 0; j < cout; j++) io[(size_t)i * cout + j] = w[(size_t)j * in + i];
    y = fr__fc(L->g, x, io, bias, in, cout, act, 0.f);
    fr__free(io);
  } else if (o->code == OPC_CONV_2D) {
    int kh = tw->dims[1], kw = tw->dims[2];
    float *hwio = fr__malloc(tw->count * sizeof *hwio);
    if (!hwio) return lfail(L, FR_E_NOMEM, "out of memory"), -1;
    /* OHWI -> HWIO */
    for (int co = 0; co < cout; co++)
      for (int s = 0; s < kh * kw; s++)
        for (int ci = 0; ci < cin; ci++)
          hwio[((size_t)s * cin + ci) * cout + co] = w[((size_t)co * kh * kw + s) * cin + ci];
    y = fr__conv2d(L->g, x, hwio, bias, kh, kw, cout, stride_w, map_pad(pad), act, 0.f, -1);
    fr__free(hwio);
  } else {
    /* 1HWC is already the engine's [kh][kw][c]. */
    y = fr__dwconv2d(L->g, x, w, bias, tw->dims[1], tw->dims[2], stride_w, map_pad(pad), act, 0.f);
  }
  return with_extra(L, y, extra);
}

/* Builds one operator; returns its output's engine tensor or -1. */
static int build_op(loader *L, op *o) {
  int out = op_out(L, o, 0);
  const tensor *to = &L->t[out];
  if (o->fused == FUSE_PRELU) {
    int x = in_eid(L, o->fused_src);
    return x < 0 ? -1 : fr__prelu(L->g, x, o->fused_alpha);
  }
  if (o->fused == FUSE_SOFTMAX) {
    int x = in_eid(L, o->fused_src);
    return x < 0 ? -1 : fr__softmax(L->g, x, 1.f);
  }
  if (o->n_out != 1) {
    lfail(L, FR_E_UNSUPPORTED, "operator %s with %zu outputs", op_name(o->code), o->n_out);
    return -1;
  }
  switch (o->code) {
  case OPC_ADD: return build_binary(L, o, FR__BIN_ADD, opt_u8(L, o, 0, 0));
  case OPC_SUB: return build_binary(L, o, FR__BIN_SUB, opt_u8(L, o, 0, 0));
  case OPC_MUL: return build_binary(L, o, FR__BIN_MUL, opt_u8(L, o, 0, 0));
  case OPC_DIV: return build_binary(L, o, FR__BIN_DIV, opt_u8(L, o, 0, 0));
  case OPC_MAXIMUM: return build_binary(L, o, FR__BIN_MAX, 0);
  case OPC_MINIMUM: return build_binary(L, o, FR__BIN_MIN, 0);
  default: break;
  }
  int x = in_eid(L, op_in(L, o, 0));
  if (x < 0) return -1;
  const tensor *ti = &L->t[op_in(L, o, 0)];
  switch (o->code) {
  case OPC_CONV_2D:
  case OPC_DEPTHWISE_CONV_2D:
  case OPC_FULLY_CONNECTED: return build_conv(L, o, x);
  case OPC_NEG: return fr__unary(L->g, x, FR__UN_NEG);
  case OPC_ABS: return fr__unary(L->g, x, FR__UN_ABS);
  case OPC_EXP: return fr__unary(L->g, x, FR__UN_EXP);
  case OPC_RELU: return fr__unary(L->g, x, FR__UN_RELU);
  case OPC_RELU6: return fr__unary(L->g, x, FR__UN_RELU6);
  case OPC_RELU_N1_TO_1: return fr__unary(L->g, x, FR__UN_RELU1);
  case OPC_TANH: return fr__unary(L->g, x, FR__UN_TANH);
  case OPC_LOGISTIC: return fr__unary(L->g, x, FR__UN_SIGMOID);
  case OPC_PRELU: {
    float *a = channel_const(L, op_in(L, o, 1), fr__channels(L->g, x), 1.f);
    if (!a) {
      if (L->st == FR_OK) lfail(L, FR_E_UNSUPPORTED, "PRELU slopes that are not per channel");
      return -1;
    }
    int y = fr__prelu(L->g, x, a);
    fr__free(a);
    return y;
  }
  case OPC_MAX_POOL_2D:
  case OPC_AVERAGE_POOL_2D: {
    int pad = opt_u8(L, o, 0, 0), sw = opt_i32(L, o, 1, 0), sh = opt_i32(L, o, 2, 0);
    int fw = opt_i32(L, o, 3, 0), fh = opt_i32(L, o, 4, 0);
    fr__act act;
    int extra;
    if (map_act(L, opt_u8(L, o, 5, 0), &act, &extra) < 0) return -1;
    if (sw != sh || fw != fh || sw < 1 || fw < 1 || sw > 64 || fw > 64) {
      lfail(L, FR_E_UNSUPPORTED, "pooling %dx%d stride %dx%d", fh, fw, sh, sw);
      return -1;
    }
    int y = o->code == OPC_MAX_POOL_2D ? fr__maxpool(L->g, x, fw, sw, map_pad(pad))
                                       : fr__avgpool(L->g, x, fw, sw, map_pad(pad));
    if (act != FR__ACT_NONE && y >= 0) y = fr__activate(L->g, y, act, 0.f);
    return with_extra(L, y, extra);
  }
  case OPC_PAD: {
    int64_t p[8] = {0};
    int pt = op_in(L, o, 1);
    if (pt < 0) return lfail(L, FR_E_MODEL, "PAD without paddings"), -1;
    int n = const_ints(L, pt, p, 8);
    if (n < 0) return -1;
    int r = ti->rank;
    if (n != 2 * r || r < 2 || r > 4) return lfail(L, FR_E_UNSUPPORTED, "PAD of rank %d", r), -1;
    int64_t q[8] = {0};
    for (int i = 0; i < 2 * r; i++) q[2 * (4 - r) + i] = p[i];
    for (int i = 0; i < 8; i++)
      if (q[i] < 0 || q[i] > (1 << 20)) return lfail(L, FR_E_MODEL, "padding %lld", (long long)q[i]), -1;
    if (q[0] || q[1]) return lfail(L, FR_E_UNSUPPORTED, "padding along the batch"), -1;
    return fr__pad_full(L->g, x, (int)q[2], (int)q[3], (int)q[4], (int)q[5], (int)q[6], (int)q[7]);
  }
  case OPC_RESHAPE: {
    int h = 0, w = 0, c = 0;
    if (!engine_hwc(to, &h, &w, &c) || ti->rank < 1 || to->dims[0] != ti->dims[0]) {
      lfail(L, FR_E_UNSUPPORTED, "RESHAPE to rank %d that changes the batch", to->rank);
      return -1;
    }
    return fr__reshape(L->g, x, h, w, c);
  }
  case OPC_CONCATENATION: {
    fr__act act;
    int extra;
    if (map_act(L, opt_u8(L, o, 1, 0), &act, &extra) < 0) return -1;
    int axis = engine_axis(opt_i32(L, o, 0, 0), ti->rank);
    if (axis <= 0 || o->n_in < 2 || o->n_in > 8) {
      lfail(L, FR_E_UNSUPPORTED, "CONCATENATION of %zu rank-%d tensors on that axis", o->n_in,
            ti->rank);
      return -1;
    }
    int xs[8];
    for (size_t j = 0; j < o->n_in; j++) {
      int tj = op_in(L, o, j);
      if (tj >= 0 && L->t[tj].rank != ti->rank) return lfail(L, FR_E_MODEL, "CONCATENATION of mixed ranks"), -1;
      if ((xs[j] = in_eid(L, tj)) < 0) return -1;
    }
    int y = fr__concat(L->g, xs, (int)o->n_in, axis);
    if (act != FR__ACT_NONE && y >= 0) y = fr__activate(L->g, y, act, 0.f);
    return with_extra(L, y, extra);
  }
  case OPC_RESIZE_BILINEAR: {
    int64_t sz[2];
    int st = op_in(L, o, 1);
    if (st < 0 || ti->rank != 4) return lfail(L, FR_E_UNSUPPORTED, "RESIZE_BILINEAR form"), -1;
    if (const_ints(L, st, sz, 2) != 2) {
      if (L->st == FR_OK) lfail(L, FR_E_MODEL, "RESIZE_BILINEAR size");
      return -1;
    }
    if (sz[0] < 1 || sz[1] < 1 || sz[0] > MAX_DIM || sz[1] > MAX_DIM)
      return lfail(L, FR_E_MODEL, "resize to %lldx%lld", (long long)sz[0], (long long)sz[1]), -1;
    return fr__resize_bilinear(L->g, x, (int)sz[0], (int)sz[1], opt_u8(L, o, 2, 0),
                               opt_u8(L, o, 3, 0));
  }
  case OPC_SOFTMAX: {
    int bad = 0;
    float beta = o->has_opts ? tbl_f32(&L->f, &o->opts, 0, 0.f, &bad) : 0.f;
    if (bad) return corrupt(L, "options"), -1;
    if (!(beta > 0.f && beta < 1e6f))
      return lfail(L, FR_E_UNSUPPORTED, "SOFTMAX beta %g", (double)beta), -1;
    return fr__softmax(L->g, x, beta);
  }
  case OPC_REDUCE_MAX:
  case OPC_SUM:
  case OPC_MEAN: {
    int64_t ax[1];
    int at = op_in(L, o, 1);
    if (at < 0 || const_ints(L, at, ax, 1) != 1) {
      if (L->st == FR_OK) lfail(L, FR_E_UNSUPPORTED, "%s over several axes", op_name(o->code));
      return -1;
    }
    int axis = ax[0] < -8 || ax[0] > 8 ? -1 : engine_axis((int)ax[0], ti->rank);
    if (axis <= 0) return lfail(L, FR_E_UNSUPPORTED, "%s over that axis", op_name(o->code)), -1;
    int y;
    if (o->code == OPC_MEAN) {
      /* A mean is the sum times 1/len; len is fixed by the model's shape. */
      y = fr__reduce(L->g, x, axis, 0);
      int len = ti->dims[ax[0] < 0 ? ax[0] + ti->rank : ax[0]];
      float inv = 1.f / (float)len;
      if (y >= 0) y = fr__binary_const(L->g, FR__BIN_MUL, y, &inv, 1, 1, 1, 0, FR__ACT_NONE, 0.f);
    } else {
      y = fr__reduce(L->g, x, axis, o->code == OPC_REDUCE_MAX);
    }
    if (!opt_u8(L, o, 0, 0) && y >= 0) {
      /* Without keep_dims the rank drops and the engine layout moves. */
      int h = 0, w = 0, c = 0;
      if (!engine_hwc(to, &h, &w, &c)) return lfail(L, FR_E_UNSUPPORTED, "reduction to rank %d", to->rank), -1;
      y = fr__reshape(L->g, y, h, w, c);
    }
    return y;
  }
  default:
    lfail(L, FR_E_UNSUPPORTED, "operator %s (code %d) is not supported", op_name(o->code),
          o->code);
    return -1;
  }
}

/* DEQUANTIZE of a constant: a float32 constant, folded at load. */
static fr_status fold_dequantize(loader *L, const op *o) {
  int a = op_in(L, o, 0), y = op_out(L, o, 0);
  if (a < 0 || !is_const(L, a) || o->n_out != 1)
    return lfail(L, FR_E_UNSUPPORTED, "DEQUANTIZE of an activation");
  if (L->t[a].count != L->t[y].count)
    return lfail(L, FR_E_MODEL, "DEQUANTIZE changes the element count");
  const float *v = const_floats(L, a);
  if (!v) return L->st;
  L->t[y].cst = fr__malloc(L->t[y].count * sizeof(float));
  if (!L->t[y].cst) return lfail(L, FR_E_NOMEM, "out of memory");
  memcpy(L->t[y].cst, v, L->t[y].count * sizeof(float));
  return FR_OK;
}

static fr_status build(loader *L, const tbl *sg) {
  const fb *f = &L->f;
  size_t is, in, os, on;
  if (tbl_vec(f, sg, 1, 4, &is, &in) < 0 || tbl_vec(f, sg, 2, 4, &os, &on) < 0)
    return corrupt(L, "subgraph inputs");
  if (in != 1) return lfail(L, FR_E_UNSUPPORTED, "%zu inputs (one expected)", in);
  if (on < 1 || on > 8) return lfail(L, FR_E_UNSUPPORTED, "%zu outputs (1..8)", on);
  int xi = vec_i32(L, is, 0);
  if (xi < 0 || xi >= (int)L->n_t) return lfail(L, FR_E_MODEL, "input tensor %d", xi);
  tensor *tx = &L->t[xi];
  if (tx->rank != 4 || tx->type != TT_FLOAT32 || tx->producer >= 0)
    return lfail(L, FR_E_UNSUPPORTED, "input %s is not a float32 NHWC tensor", tx->name);
  tx->data = NULL; /* whatever a buffer holds, the input is an activation */
  for (size_t k = 0; k < on; k++) {
    int ti = vec_i32(L, os, k);
    if (ti < 0 || ti >= (int)L->n_t) return lfail(L, FR_E_MODEL, "output tensor %d", ti);
    L->t[ti].is_output = 1;
    L->t[ti].uses++;
  }
  /* Which operators matter: walking backwards, an operator is needed if it
   * writes a tensor that is an output or read by a needed operator. */
  char *need = fr__calloc(L->n_t, 1);
  if (!need) return lfail(L, FR_E_NOMEM, "out of memory");
  for (size_t k = 0; k < on; k++) need[vec_i32(L, os, k)] = 1;
  for (size_t k = L->n_ops; k-- > 0;) {
    op *o = &L->ops[k];
    for (size_t j = 0; j < o->n_out; j++)
      if (need[op_out(L, o, j)]) o->needed = 1;
    if (o->needed)
      for (size_t j = 0; j < o->n_in; j++)
        if (op_in(L, o, j) >= 0) need[op_in(L, o, j)] = 1;
  }
  fr__free(need);

  for (size_t k = 0; k < L->n_ops && L->st == FR_OK && !(L->flags & FR__TFLITE_NO_FUSION); k++) {
    fuse_prelu(L, (int)k);
    fuse_softmax(L, (int)k);
  }
  if (L->st != FR_OK) return L->st;

  if ((tx->eid = fr__input(L->g, tx->dims[3])) < 0) return lfail(L, FR_E_MODEL, "bad input");
  for (size_t k = 0; k < L->n_ops && L->st == FR_OK; k++) {
    op *o = &L->ops[k];
    if (!o->needed || o->skip) continue;
    if (o->code == OPC_DEQUANTIZE) {
      fold_dequantize(L, o);
      continue;
    }
    int out = op_out(L, o, 0);
    int y = build_op(L, o);
    if (L->st != FR_OK) break;
    if (y < 0) {
      fr_error e = {0, ""};
      fr__graph_finish(L->g, &e);
      return lfail(L, FR_E_MODEL, "operator %zu (%s): %s", k, op_name(o->code), e.message);
    }
    /* The engine's channels must be what the model declares. */
    const tensor *to = &L->t[out];
    int h = 0, w = 0, c = 0;
    if (!engine_hwc(to, &h, &w, &c) || fr__channels(L->g, y) != c)
      return lfail(L, FR_E_MODEL, "operator %zu (%s) gives %d channels, tensor %s declares %d",
                   k, op_name(o->code), fr__channels(L->g, y), to->name, c);
    L->t[out].eid = y;
  }
  if (L->st != FR_OK) return L->st;
  for (size_t k = 0; k < on; k++) {
    int ti = vec_i32(L, os, k);
    if (L->t[ti].eid < 0 || ti == xi)
      return lfail(L, FR_E_UNSUPPORTED, "output %s is not computed from the input", L->t[ti].name);
    fr__output(L->g, L->t[ti].eid);
  }
  fr_error e = {0, ""};
  if (fr__graph_finish(L->g, &e) != FR_OK)
    return lfail(L, e.status == FR_E_NOMEM ? FR_E_NOMEM : FR_E_MODEL, "%s", e.message);
  return FR_OK;
}

fr_status fr__tflite_load(const void *data, size_t size, const fr__kernels *kernels,
                          const char *name, fr__graph **out, fr_error *err) {
  return fr__tflite_load_ex(data, size, kernels, name, 0, out, err);
}

fr_status fr__tflite_load_ex(const void *data, size_t size, const fr__kernels *kernels,
                             const char *name, int flags, fr__graph **out, fr_error *err) {
  *out = NULL;
  loader L;
  memset(&L, 0, sizeof L);
  L.flags = flags;
  L.f.d = data;
  L.f.n = data ? size : 0;
  L.name = name ? name : "tflite";
  L.err = err;
  tbl sg;
  if (parse(&L, &sg) == FR_OK) {
    fr_error e = {0, ""};
    if (fr__graph_create(kernels, L.name, &L.g, &e) != FR_OK)
      lfail(&L, e.status, "%s", e.message);
    else
      build(&L, &sg);
  }
  for (size_t k = 0; k < L.n_t; k++) fr__free(L.t[k].cst);
  for (size_t k = 0; k < L.n_ops; k++) fr__free(L.ops[k].fused_alpha);
  fr__free(L.t);
  fr__free(L.ops);
  fr__free(L.opcodes);
  if (L.st != FR_OK) {
    fr__graph_destroy(L.g);
    return L.st;
  }
  *out = L.g;
  return FR_OK;
}

fr_status fr__tflite_load_file(const char *path, const fr__kernels *kernels, fr__graph **out,
                               fr_error *err) {
  *out = NULL;
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  uint8_t *buf = NULL;
  size_t len = 0;
  fr_status st = fr__read_file(path, (size_t)256 << 20, &buf, &len, err);
  if (st == FR_OK) st = fr__tflite_load(buf, len, kernels, base, out, err);
  fr__free(buf);
  return st;
}
