/*
 * test_onnx_pb.c - the ONNX protobuf reader (src/nn/onnx_pb.c) on models
 * written byte by byte here: every attribute kind, initializers in every
 * storage (raw_data and each typed field, packed and unpacked), float16 and
 * double conversion (all 65536 halves), graph inputs and outputs with fixed
 * and symbolic dimensions, the default operator set, unknown fields of every
 * wire type skipped at every level; and refusal, with the right status and a
 * message naming the place, of truncated, corrupted, lying, oversized and
 * unsupported files, including every prefix and many one-byte changes of a
 * valid model, and of every allocation failing in turn.
 */
#include "nn/onnx_pb.h"

#include "check.h"

#include <stdint.h>

/* ---- a protobuf writer ------------------------------------------------------ */

typedef struct buf {
  uint8_t *d;
  size_t n, cap;
} buf;

static void put(buf *b, const void *p, size_t n) {
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + n) cap *= 2;
    uint8_t *d = realloc(b->d, cap);
    if (!d) abort();
    b->d = d, b->cap = cap;
  }
  if (n) memcpy(b->d + b->n, p, n);
  b->n += n;
}

static void buf_free(buf *b) {
  free(b->d);
  memset(b, 0, sizeof *b);
}

static void put_byte(buf *b, uint8_t c) { put(b, &c, 1); }

static void put_varint(buf *b, uint64_t v) {
  while (v >= 0x80) {
    put_byte(b, (uint8_t)(v | 0x80));
    v >>= 7;
  }
  put_byte(b, (uint8_t)v);
}

static void key(buf *b, uint32_t field, int wt) { put_varint(b, (uint64_t)field << 3 | (uint64_t)wt); }

static void f_varint(buf *b, uint32_t field, uint64_t v) {
  key(b, field, 0);
  put_varint(b, v);
}

static void f_bytes(buf *b, uint32_t field, const void *p, size_t n) {
  key(b, field, 2);
  put_varint(b, n);
  put(b, p, n);
}

static void f_str(buf *b, uint32_t field, const char *s) { f_bytes(b, field, s, strlen(s)); }

/* Writes m as a nested message and frees it. */
static void f_msg(buf *b, uint32_t field, buf *m) {
  f_bytes(b, field, m->d, m->n);
  buf_free(m);
}

static void put_le(buf *b, uint64_t v, int size) {
  for (int k = 0; k < size; k++) put_byte(b, (uint8_t)(v >> (8 * k)));
}

static void f_fixed32(buf *b, uint32_t field, uint32_t v) {
  key(b, field, 5);
  put_le(b, v, 4);
}

static void f_fixed64(buf *b, uint32_t field, uint64_t v) {
  key(b, field, 1);
  put_le(b, v, 8);
}

static uint32_t fbits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

static uint64_t dbits(double d) {
  uint64_t u;
  memcpy(&u, &d, 8);
  return u;
}

static void f_float(buf *b, uint32_t field, float v) { f_fixed32(b, field, fbits(v)); }

static void f_packed_varints(buf *b, uint32_t field, const int64_t *v, int n) {
  buf p = {0};
  for (int k = 0; k < n; k++) put_varint(&p, (uint64_t)v[k]);
  f_msg(b, field, &p);
}

static void f_packed_floats(buf *b, uint32_t field, const float *v, int n) {
  buf p = {0};
  for (int k = 0; k < n; k++) put_le(&p, fbits(v[k]), 4);
  f_msg(b, field, &p);
}

static void f_packed_doubles(buf *b, uint32_t field, const double *v, int n) {
  buf p = {0};
  for (int k = 0; k < n; k++) put_le(&p, dbits(v[k]), 8);
  f_msg(b, field, &p);
}

/* Unknown fields of every wire type, as a newer exporter might add: the
 * reader must skip them at every level. */
static void junk(buf *b, int on) {
  if (!on) return;
  f_varint(b, 99, 0xFFFFFFFFFFFFFFFFull);
  f_fixed64(b, 1000, 0x1122334455667788ull);
  f_str(b, 101, "ignored");
  f_fixed32(b, 102, 7);
  f_varint(b, 536870911, 1); /* the largest field number */
}

/* ---- ONNX message builders ---------------------------------------------------- */

/* A TensorProto's head: dims (packed), data_type, name. */
static void tensor_head(buf *t, const char *name, int dtype, const int64_t *dims, int nd, int j) {
  junk(t, j);
  if (nd) f_packed_varints(t, 1, dims, nd);
  f_varint(t, 2, (uint64_t)dtype);
  if (name) f_str(t, 8, name);
  junk(t, j);
}

static void init_raw(buf *g, const char *name, int dtype, const int64_t *dims, int nd, const void *raw,
                     size_t n, int j) {
  buf t = {0};
  tensor_head(&t, name, dtype, dims, nd, j);
  f_bytes(&t, 9, raw, n);
  f_msg(g, 5, &t);
}

/* A ValueInfoProto of a tensor: dims[k] >= 0 a dim_value, -1 a dim_param "N",
 * -2 a Dimension with neither. nd < 0: no shape at all. */
static void value(buf *g, uint32_t field, const char *name, int elem, const int64_t *dims, int nd, int j) {
  buf v = {0}, type = {0}, tt = {0}, shape = {0};
  for (int k = 0; k < nd; k++) {
    buf dim = {0};
    junk(&dim, j);
    if (dims[k] >= 0) f_varint(&dim, 1, (uint64_t)dims[k]);
    if (dims[k] == -1) f_str(&dim, 2, "N");
    f_msg(&shape, 1, &dim);
    junk(&shape, j);
  }
  junk(&tt, j);
  f_varint(&tt, 1, (uint64_t)elem);
  if (nd >= 0)
    f_msg(&tt, 2, &shape);
  else
    buf_free(&shape);
  junk(&type, j);
  f_msg(&type, 1, &tt);
  junk(&type, j);
  junk(&v, j);
  f_str(&v, 1, name);
  f_msg(&v, 2, &type);
  junk(&v, j);
  f_msg(g, field, &v);
}

/* A model around a graph: ir_version 8, opset 13. Frees g. */
static buf model_of(buf *g) {
  buf m = {0}, op = {0};
  f_varint(&m, 1, 8);
  f_varint(&op, 2, 13);
  f_msg(&m, 8, &op);
  f_msg(&m, 7, g);
  return m;
}

/* A node with one input, one output and an op_type, and nothing else. */
static void plain_node(buf *g, const char *op) {
  buf n = {0};
  f_str(&n, 1, "a");
  f_str(&n, 2, "b");
  f_str(&n, 4, op);
  f_msg(g, 1, &n);
}

/* A model of one Relu node and one tensor given by the caller (a complete
 * TensorProto), as its initializer. Frees t. */
static buf model_with_init(buf *t) {
  buf g = {0};
  plain_node(&g, "Relu");
  f_msg(&g, 5, t);
  return model_of(&g);
}

/* A model of one node with one attribute given by the caller. Frees a. */
static buf model_with_attr(buf *a) {
  buf g = {0}, n = {0};
  f_str(&n, 4, "Conv");
  f_msg(&n, 5, a);
  f_msg(&g, 1, &n);
  return model_of(&g);
}

/* ---- the full model ----------------------------------------------------------- */

#define H_ONE 0x3C00
#define H_MTWO 0xC000
#define H_TINY 0x0001 /* the smallest subnormal, 2^-24 */
#define H_INF 0x7C00

/*
 * A model using every feature the reader reads. With j set, unknown fields of
 * every wire type are added to every message; the parse must not change.
 */
static buf full_model(int j) {
  buf g = {0}, n = {0}, a = {0}, t = {0};
  junk(&g, j);

  /* Node 0: Conv with every attribute kind. */
  junk(&n, j);
  f_str(&n, 1, "x");
  f_str(&n, 1, "w");
  f_str(&n, 1, "");
  f_str(&n, 2, "y");
  f_str(&n, 3, "Conv_0");
  f_str(&n, 4, "Conv");

  f_str(&a, 1, "alpha");
  junk(&a, j);
  f_float(&a, 2, 0.25f);
  f_varint(&a, 20, FR__OX_ATTR_FLOAT);
  f_msg(&n, 5, &a);

  f_str(&a, 1, "axis");
  f_varint(&a, 3, (uint64_t)(int64_t)-1); /* 10 bytes */
  f_varint(&a, 20, FR__OX_ATTR_INT);
  junk(&a, j);
  f_msg(&n, 5, &a);

  f_str(&a, 1, "auto_pad");
  f_str(&a, 4, "SAME_UPPER");
  f_varint(&a, 20, FR__OX_ATTR_STRING);
  f_msg(&n, 5, &a);

  static const int64_t pads[4] = {1, 1, 2, 2};
  f_str(&a, 1, "pads");
  f_packed_varints(&a, 8, pads, 4);
  f_varint(&a, 20, FR__OX_ATTR_INTS);
  f_msg(&n, 5, &a);

  /* Unpacked, and no type (old exporters): the type is inferred. */
  f_str(&a, 1, "strides");
  f_varint(&a, 8, 2);
  junk(&a, j);
  f_varint(&a, 8, 3);
  f_msg(&n, 5, &a);

  static const float scales[2] = {1.0f, 2.5f};
  f_str(&a, 1, "scales");
  f_packed_floats(&a, 7, scales, 2);
  f_varint(&a, 20, FR__OX_ATTR_FLOATS);
  f_msg(&n, 5, &a);

  /* Unpacked floats, then a packed run of the same field: both count. */
  f_str(&a, 1, "sizes");
  f_float(&a, 7, 0.5f);
  f_packed_floats(&a, 7, scales, 2);
  f_msg(&n, 5, &a);

  static const int64_t d2[1] = {2};
  f_str(&a, 1, "value");
  tensor_head(&t, NULL, FR__OX_FLOAT, d2, 1, j);
  {
    buf raw = {0};
    put_le(&raw, fbits(1.5f), 4);
    put_le(&raw, fbits(-2.0f), 4);
    f_msg(&t, 9, &raw);
  }
  f_msg(&a, 5, &t);
  f_msg(&n, 5, &a);

  f_str(&a, 1, "then_branch");
  {
    buf sub = {0};
    plain_node(&sub, "Identity");
    f_msg(&a, 6, &sub);
  }
  f_varint(&a, 20, FR__OX_ATTR_GRAPH);
  f_msg(&n, 5, &a);

  f_str(&a, 1, "bodies");
  f_str(&a, 11, "not read");
  f_str(&a, 11, "not read either");
  f_msg(&n, 5, &a);

  f_str(&a, 1, "names");
  f_str(&a, 9, "a");
  f_str(&a, 9, "b");
  f_msg(&n, 5, &a);

  f_str(&a, 1, "blob");
  f_bytes(&a, 4, "a\0b", 3);
  f_msg(&n, 5, &a);

  static const int64_t big[3] = {INT64_MIN, INT64_MAX, 0};
  f_str(&a, 1, "big");
  f_packed_varints(&a, 8, big, 3);
  f_varint(&a, 20, FR__OX_ATTR_INTS);
  f_msg(&n, 5, &a);

  /* An attribute of a type the reader does not know. */
  f_str(&a, 1, "future");
  f_str(&a, 99, "x");
  f_varint(&a, 20, 42);
  f_msg(&n, 5, &a);

  junk(&n, j);
  f_msg(&g, 1, &n);

  /* Node 1: no name, another domain. */
  f_str(&n, 1, "y");
  f_str(&n, 2, "z");
  f_str(&n, 4, "Relu");
  f_str(&n, 7, "com.example");
  f_msg(&g, 1, &n);

  f_str(&g, 2, "main");

  /* Initializers in every storage. */
  {
    static const int64_t dims[2] = {2, 3};
    buf raw = {0};
    for (int k = 0; k < 6; k++) put_le(&raw, fbits((float)k - 2.5f), 4);
    init_raw(&g, "w_raw", FR__OX_FLOAT, dims, 2, raw.d, raw.n, j);
    buf_free(&raw);
  }
  {
    static const int64_t dims[1] = {3};
    static const float v[3] = {0.125f, -1e30f, 7.0f};
    tensor_head(&t, "w_fd", FR__OX_FLOAT, dims, 1, j);
    f_packed_floats(&t, 4, v, 3);
    f_msg(&g, 5, &t);
  }
  {
    static const int64_t dims[1] = {2};
    tensor_head(&t, "w_fu", FR__OX_FLOAT, dims, 1, j);
    f_float(&t, 4, 3.0f);
    junk(&t, j);
    f_float(&t, 4, -4.0f);
    f_msg(&g, 5, &t);
  }
  {
    static const int64_t dims[1] = {3};
    static const int64_t v[3] = {-5, 0, (int64_t)1 << 40};
    tensor_head(&t, "i64", FR__OX_INT64, dims, 1, j);
    f_packed_varints(&t, 7, v, 3);
    f_msg(&g, 5, &t);
  }
  {
    static const int64_t dims[2] = {2, 2};
    static const int64_t v[4] = {H_ONE, H_MTWO, H_TINY, H_INF};
    tensor_head(&t, "h", FR__OX_FLOAT16, dims, 2, j);
    f_packed_varints(&t, 5, v, 4);
    f_msg(&g, 5, &t);
  }
  {
    static const int64_t dims[1] = {2};
    static const uint8_t raw[4] = {0x55, 0x35, 0x00, 0xFC}; /* 0x3555, 0xFC00 */
    init_raw(&g, "h_raw", FR__OX_FLOAT16, dims, 1, raw, 4, j);
  }
  {
    static const int64_t dims[1] = {3};
    static const double v[3] = {0.1, 1e300, -3.5};
    tensor_head(&t, "d", FR__OX_DOUBLE, dims, 1, j);
    f_packed_doubles(&t, 10, v, 3);
    f_msg(&g, 5, &t);
  }
  {
    static const int64_t dims[1] = {2};
    tensor_head(&t, "d_unpacked", FR__OX_DOUBLE, dims, 1, j);
    f_fixed64(&t, 10, dbits(2.25));
    f_fixed64(&t, 10, dbits(-0.0));
    f_msg(&g, 5, &t);
  }
  {
    buf raw = {0};
    put_le(&raw, dbits(-6.5), 8);
    init_raw(&g, "d_raw", FR__OX_DOUBLE, NULL, 0, raw.d, raw.n, j);
    buf_free(&raw);
  }
  {
    static const int64_t dims[1] = {3};
    static const int64_t v[3] = {255, 7, 256 + 9}; /* kept to 8 bits: 9 */
    tensor_head(&t, "u8", FR__OX_UINT8, dims, 1, j);
    f_packed_varints(&t, 5, v, 3);
    f_msg(&g, 5, &t);
  }
  {
    static const int64_t dims[1] = {2};
    static const uint8_t raw[2] = {0xFF, 0x7F};
    init_raw(&g, "i8", FR__OX_INT8, dims, 1, raw, 2, j);
  }
  {
    static const int64_t dims[1] = {3};
    static const uint8_t raw[3] = {0, 1, 2};
    init_raw(&g, "bool", FR__OX_BOOL, dims, 1, raw, 3, j);
  }
  {
    static const int64_t dims[1] = {2};
    tensor_head(&t, "u64", FR__OX_UINT64, dims, 1, j);
    f_varint(&t, 11, UINT64_MAX);
    f_varint(&t, 11, 5);
    f_msg(&g, 5, &t);
  }
  {
    static const int64_t dims[1] = {1};
    tensor_head(&t, "u32", FR__OX_UINT32, dims, 1, j);
    f_varint(&t, 11, 4000000000u);
    f_msg(&g, 5, &t);
  }
  {
    static const int64_t dims[1] = {2};
    static const uint8_t raw[4] = {0x00, 0x80, 0x02, 0x01};
    init_raw(&g, "i16", FR__OX_INT16, dims, 1, raw, 4, j);
  }
  {
    static const int64_t dims[1] = {1};
    tensor_head(&t, "u16", FR__OX_UINT16, dims, 1, j);
    f_varint(&t, 5, 65535);
    f_msg(&g, 5, &t);
  }
  {
    static const int64_t dims[1] = {2};
    tensor_head(&t, "i32", FR__OX_INT32, dims, 1, j);
    f_varint(&t, 5, (uint64_t)(int64_t)-7); /* int32 negatives are 10-byte varints */
    f_varint(&t, 5, 9);
    f_msg(&g, 5, &t);
  }
  {
    static const int64_t dims[1] = {1};
    static const uint8_t raw[4] = {0xFE, 0xFF, 0xFF, 0xFF};
    init_raw(&g, "i32_raw", FR__OX_INT32, dims, 1, raw, 4, j);
  }
  {
    static const int64_t dims[1] = {1};
    static const uint8_t raw[8] = {1, 0, 0, 0, 0, 0, 0, 0x80};
    init_raw(&g, "u64_raw", FR__OX_UINT64, dims, 1, raw, 8, j);
  }
  {
    buf raw = {0};
    put_le(&raw, fbits(3.0f), 4);
    init_raw(&g, "scalar", FR__OX_FLOAT, NULL, 0, raw.d, raw.n, j);
    buf_free(&raw);
  }
  {
    static const int64_t dims[2] = {0, 5};
    tensor_head(&t, "empty", FR__OX_FLOAT, dims, 2, j);
    f_msg(&g, 5, &t);
  }
  {
    /* Unpacked dims. */
    tensor_head(&t, "unpacked_dims", FR__OX_INT64, NULL, 0, j);
    f_varint(&t, 1, 1);
    f_varint(&t, 1, 2);
    f_varint(&t, 7, 10);
    f_varint(&t, 7, 20);
    f_msg(&g, 5, &t);
  }

  /* Inputs and outputs. */
  static const int64_t xd[4] = {-1, 3, 224, 224};
  value(&g, 11, "x", FR__OX_FLOAT, xd, 4, j);
  {
    buf v = {0};
    f_str(&v, 1, "w");
    f_msg(&g, 11, &v);
  }
  value(&g, 11, "s", FR__OX_FLOAT, NULL, 0, j);
  {
    /* dim_value then dim_param (-1); dim_param then dim_value (7); neither;
     * a negative dim_value. */
    buf v = {0}, type = {0}, tt = {0}, shape = {0}, dim = {0};
    f_varint(&dim, 1, 5);
    f_str(&dim, 2, "M");
    f_msg(&shape, 1, &dim);
    f_str(&dim, 2, "M");
    f_varint(&dim, 1, 7);
    f_msg(&shape, 1, &dim);
    f_msg(&shape, 1, &dim);
    f_varint(&dim, 1, (uint64_t)(int64_t)-5); /* a negative dim_value says nothing */
    f_msg(&shape, 1, &dim);
    f_varint(&tt, 1, FR__OX_INT64);
    f_msg(&tt, 2, &shape);
    f_msg(&type, 1, &tt);
    f_str(&v, 1, "q");
    f_msg(&v, 2, &type);
    f_msg(&g, 11, &v);
  }
  value(&g, 11, "noshape", FR__OX_FLOAT, NULL, -1, j);
  static const int64_t zd[2] = {1, 1000};
  value(&g, 12, "z", FR__OX_FLOAT, zd, 2, j);
  value(&g, 13, "y", FR__OX_FLOAT, zd, 2, j); /* value_info: skipped */
  junk(&g, j);

  buf m = {0}, op = {0};
  junk(&m, j);
  f_varint(&m, 1, 8);
  f_str(&m, 2, "pytorch");
  f_str(&op, 1, "ai.onnx.ml");
  f_varint(&op, 2, 3);
  junk(&op, j);
  f_msg(&m, 8, &op);
  f_varint(&op, 2, 13);
  f_msg(&m, 8, &op);
  f_msg(&m, 7, &g);
  junk(&m, j);
  return m;
}

/* ---- helpers ------------------------------------------------------------------ */

/* Parses n bytes copied into a block of exactly that size, so that AddressSanitizer
 * sees any read past the end. */
static fr_status parse(const void *d, size_t n, fr__ox_model **m, fr_error *e) {
  uint8_t *copy = malloc(n ? n : 1);
  if (!copy) abort();
  if (n) memcpy(copy, d, n);
  e->status = 0;
  e->message[0] = '\0';
  fr_status st = fr__ox_parse(copy, n, m, e);
  free(copy);
  return st;
}

/* Parses b (and frees it); returns the status, and the message in msg. */
static fr_status parse_status(buf *b, char msg[320]) {
  fr__ox_model *m = (fr__ox_model *)(uintptr_t)1;
  fr_error e;
  fr_status st = parse(b->d, b->n, &m, &e);
  buf_free(b);
  snprintf(msg, 320, "%s", st == FR_OK ? "" : e.message);
  if (st == FR_OK) {
    fr__ox_free(m);
  } else {
    CHECK_MSG(m == NULL, "a failure left a model (%s)", e.message);
    CHECK_MSG(e.status == st, "err.status %d, returned %d", e.status, st);
    CHECK_MSG(strncmp(e.message, "ONNX: ", 6) == 0, "message: %s", e.message);
  }
  return st;
}

#define CHECK_FAILS(b, status, text)                                                        \
  do {                                                                                      \
    char msg_[320];                                                                         \
    fr_status st2_ = parse_status(&(b), msg_);                                              \
    CHECK_MSG(st2_ == (status), "status %d, want %d: %s", st2_, (status), msg_);            \
    CHECK_MSG(strstr(msg_, (text)) != NULL, "message \"%s\" lacks \"%s\"", msg_, (text));  \
  } while (0)

static const fr__ox_tensor *find_init(const fr__ox_model *m, const char *name) {
  for (int k = 0; k < m->n_inits; k++)
    if (strcmp(m->inits[k].name, name) == 0) return &m->inits[k];
  return NULL;
}

static int same_bits(float a, float b) { return fbits(a) == fbits(b); }

/* A text dump of everything parsed, to compare two parses. */
static void dump_tensor(buf *o, const fr__ox_tensor *t) {
  char s[128];
  put(o, s, (size_t)snprintf(s, sizeof s, "T %s %d %d %zu:", t->name, t->dtype, t->ndims, t->count));
  for (int d = 0; d < t->ndims; d++) put(o, s, (size_t)snprintf(s, sizeof s, " %lld", (long long)t->dims[d]));
  for (size_t k = 0; k < t->count; k++)
    put(o, s, (size_t)snprintf(s, sizeof s, " %08x", t->f ? fbits(t->f[k]) : (unsigned)t->i[k]));
  put(o, "\n", 1);
}

static void dump_model(buf *o, const fr__ox_model *m) {
  char s[256];
  put(o, s, (size_t)snprintf(s, sizeof s, "M %lld %lld %s\n", (long long)m->ir_version, (long long)m->opset,
                             m->producer));
  for (int k = 0; k < m->n_nodes; k++) {
    const fr__ox_node *n = &m->nodes[k];
    put(o, s, (size_t)snprintf(s, sizeof s, "N %s %s %s", n->name, n->op_type, n->domain));
    for (int i = 0; i < n->n_inputs; i++) put(o, s, (size_t)snprintf(s, sizeof s, " <%s", n->inputs[i]));
    for (int i = 0; i < n->n_outputs; i++) put(o, s, (size_t)snprintf(s, sizeof s, " >%s", n->outputs[i]));
    put(o, "\n", 1);
    for (int i = 0; i < n->n_attrs; i++) {
      const fr__ox_attr *a = &n->attrs[i];
      put(o, s, (size_t)snprintf(s, sizeof s, "A %s %d %08x %lld %zu %d", a->name, a->type, fbits(a->f),
                                 (long long)a->i, a->s_len, a->has_graph));
      put(o, a->s, a->s_len);
      for (int q = 0; q < a->n_floats; q++) put(o, s, (size_t)snprintf(s, sizeof s, " f%08x", fbits(a->floats[q])));
      for (int q = 0; q < a->n_ints; q++) put(o, s, (size_t)snprintf(s, sizeof s, " i%lld", (long long)a->ints[q]));
      put(o, "\n", 1);
      if (a->t) dump_tensor(o, a->t);
    }
  }
  for (int k = 0; k < m->n_inits; k++) dump_tensor(o, &m->inits[k]);
  const fr__ox_value *vs[2] = {m->inputs, m->outputs};
  int ns[2] = {m->n_inputs, m->n_outputs};
  for (int w = 0; w < 2; w++)
    for (int k = 0; k < ns[w]; k++) {
      const fr__ox_value *v = &vs[w][k];
      put(o, s, (size_t)snprintf(s, sizeof s, "V%d %s %d %d:", w, v->name, v->dtype, v->ndims));
      for (int d = 0; d < v->ndims; d++) put(o, s, (size_t)snprintf(s, sizeof s, " %lld", (long long)v->dims[d]));
      put(o, "\n", 1);
    }
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_full(void) {
  buf b = full_model(0);
  fr__ox_model *m = NULL;
  fr_error e;
  CHECK_OK(parse(b.d, b.n, &m, &e), &e);
  buf_free(&b);
  if (!m) return;
  CHECK(m->ir_version == 8);
  CHECK(m->opset == 13);
  CHECK(strcmp(m->producer, "pytorch") == 0);
  CHECK(m->n_nodes == 2);
  if (m->n_nodes != 2) {
    fr__ox_free(m);
    return;
  }

  const fr__ox_node *n = &m->nodes[0];
  CHECK(strcmp(n->name, "Conv_0") == 0 && strcmp(n->op_type, "Conv") == 0 && strcmp(n->domain, "") == 0);
  CHECK(n->n_inputs == 3 && strcmp(n->inputs[0], "x") == 0 && strcmp(n->inputs[1], "w") == 0 &&
        strcmp(n->inputs[2], "") == 0);
  CHECK(n->n_outputs == 1 && strcmp(n->outputs[0], "y") == 0);
  CHECK(n->n_attrs == 14);

  const fr__ox_attr *a = fr__ox_attr_find(n, "alpha");
  CHECK(a && a->type == FR__OX_ATTR_FLOAT && a->f == 0.25f && !a->has_graph && !a->t);
  a = fr__ox_attr_find(n, "axis");
  CHECK(a && a->type == FR__OX_ATTR_INT && a->i == -1);
  a = fr__ox_attr_find(n, "auto_pad");
  CHECK(a && a->type == FR__OX_ATTR_STRING && strcmp(a->s, "SAME_UPPER") == 0 && a->s_len == 10);
  a = fr__ox_attr_find(n, "pads");
  CHECK(a && a->type == FR__OX_ATTR_INTS && a->n_ints == 4 && a->ints[0] == 1 && a->ints[1] == 1 &&
        a->ints[2] == 2 && a->ints[3] == 2 && a->n_floats == 0 && a->floats == NULL);
  a = fr__ox_attr_find(n, "strides");
  CHECK(a && a->type == FR__OX_ATTR_INTS && a->n_ints == 2 && a->ints[0] == 2 && a->ints[1] == 3);
  a = fr__ox_attr_find(n, "scales");
  CHECK(a && a->type == FR__OX_ATTR_FLOATS && a->n_floats == 2 && a->floats[0] == 1.0f &&
        a->floats[1] == 2.5f);
  a = fr__ox_attr_find(n, "sizes");
  CHECK(a && a->type == FR__OX_ATTR_FLOATS && a->n_floats == 3 && a->floats[0] == 0.5f &&
        a->floats[1] == 1.0f && a->floats[2] == 2.5f);
  a = fr__ox_attr_find(n, "value");
  CHECK(a && a->type == FR__OX_ATTR_TENSOR && a->t && a->t->dtype == FR__OX_FLOAT && a->t->count == 2 &&
        a->t->ndims == 1 && a->t->dims[0] == 2 && a->t->f && !a->t->i && a->t->f[0] == 1.5f &&
        a->t->f[1] == -2.0f && strcmp(a->t->name, "") == 0);
  a = fr__ox_attr_find(n, "then_branch");
  CHECK(a && a->type == FR__OX_ATTR_GRAPH && a->has_graph);
  a = fr__ox_attr_find(n, "bodies");
  CHECK(a && a->type == FR__OX_ATTR_GRAPHS && a->has_graph);
  a = fr__ox_attr_find(n, "names");
  CHECK(a && a->type == FR__OX_ATTR_STRINGS && !a->has_graph && a->s_len == 0 && strcmp(a->s, "") == 0);
  a = fr__ox_attr_find(n, "blob");
  CHECK(a && a->type == FR__OX_ATTR_STRING && a->s_len == 3 && memcmp(a->s, "a\0b", 4) == 0);
  a = fr__ox_attr_find(n, "big");
  CHECK(a && a->n_ints == 3 && a->ints[0] == INT64_MIN && a->ints[1] == INT64_MAX && a->ints[2] == 0);
  a = fr__ox_attr_find(n, "future");
  CHECK(a && a->type == 42);
  CHECK(fr__ox_attr_find(n, "dilations") == NULL);
  CHECK(fr__ox_attr_find(NULL, "pads") == NULL);

  n = &m->nodes[1];
  CHECK(strcmp(n->name, "") == 0 && strcmp(n->op_type, "Relu") == 0 && strcmp(n->domain, "com.example") == 0);
  CHECK(n->n_attrs == 0 && n->attrs == NULL && n->n_inputs == 1 && n->n_outputs == 1);

  CHECK(m->n_inits == 22);
  const fr__ox_tensor *t = find_init(m, "w_raw");
  CHECK(t && t->dtype == FR__OX_FLOAT && t->ndims == 2 && t->dims[0] == 2 && t->dims[1] == 3 &&
        t->count == 6 && t->f && !t->i);
  if (t && t->f)
    for (int k = 0; k < 6; k++) CHECK(t->f[k] == (float)k - 2.5f);
  t = find_init(m, "w_fd");
  CHECK(t && t->count == 3 && t->f && t->f[0] == 0.125f && t->f[1] == -1e30f && t->f[2] == 7.0f);
  t = find_init(m, "w_fu");
  CHECK(t && t->count == 2 && t->f && t->f[0] == 3.0f && t->f[1] == -4.0f);
  t = find_init(m, "i64");
  CHECK(t && t->count == 3 && t->i && !t->f && t->i[0] == -5 && t->i[1] == 0 && t->i[2] == (int64_t)1 << 40);
  t = find_init(m, "h");
  CHECK(t && t->dtype == FR__OX_FLOAT16 && t->count == 4 && t->f && t->f[0] == 1.0f && t->f[1] == -2.0f &&
        t->f[2] == ldexpf(1.0f, -24) && isinf(t->f[3]) && t->f[3] > 0);
  t = find_init(m, "h_raw");
  CHECK(t && t->count == 2 && t->f && same_bits(t->f[0], (float)ldexp(1365.0, -12)) && isinf(t->f[1]) &&
        t->f[1] < 0);
  t = find_init(m, "d");
  CHECK(t && t->dtype == FR__OX_DOUBLE && t->count == 3 && t->f && t->f[0] == (float)0.1 && isinf(t->f[1]) &&
        t->f[2] == -3.5f);
  t = find_init(m, "d_unpacked");
  CHECK(t && t->count == 2 && t->f && t->f[0] == 2.25f && same_bits(t->f[1], -0.0f));
  t = find_init(m, "d_raw");
  CHECK(t && t->ndims == 0 && t->count == 1 && t->f && t->f[0] == -6.5f);
  t = find_init(m, "u8");
  CHECK(t && t->count == 3 && t->i && t->i[0] == 255 && t->i[1] == 7 && t->i[2] == 9);
  t = find_init(m, "i8");
  CHECK(t && t->count == 2 && t->i && t->i[0] == -1 && t->i[1] == 127);
  t = find_init(m, "bool");
  CHECK(t && t->count == 3 && t->i && t->i[0] == 0 && t->i[1] == 1 && t->i[2] == 1);
  t = find_init(m, "u64");
  CHECK(t && t->count == 2 && t->i && t->i[0] == -1 && t->i[1] == 5);
  t = find_init(m, "u32");
  CHECK(t && t->count == 1 && t->i && t->i[0] == 4000000000);
  t = find_init(m, "i16");
  CHECK(t && t->count == 2 && t->i && t->i[0] == -32768 && t->i[1] == 258);
  t = find_init(m, "u16");
  CHECK(t && t->count == 1 && t->i && t->i[0] == 65535);
  t = find_init(m, "i32");
  CHECK(t && t->count == 2 && t->i && t->i[0] == -7 && t->i[1] == 9);
  t = find_init(m, "i32_raw");
  CHECK(t && t->count == 1 && t->i && t->i[0] == -2);
  t = find_init(m, "u64_raw");
  CHECK(t && t->count == 1 && t->i && t->i[0] == INT64_MIN + 1);
  t = find_init(m, "scalar");
  CHECK(t && t->ndims == 0 && t->count == 1 && t->f && t->f[0] == 3.0f);
  t = find_init(m, "empty");
  CHECK(t && t->ndims == 2 && t->dims[0] == 0 && t->dims[1] == 5 && t->count == 0 && t->f && !t->i);
  t = find_init(m, "unpacked_dims");
  CHECK(t && t->ndims == 2 && t->dims[0] == 1 && t->dims[1] == 2 && t->count == 2 && t->i && t->i[0] == 10 &&
        t->i[1] == 20);

  CHECK(m->n_inputs == 5 && m->n_outputs == 1);
  if (m->n_inputs == 5 && m->n_outputs == 1) {
    const fr__ox_value *v = &m->inputs[0];
    CHECK(strcmp(v->name, "x") == 0 && v->dtype == FR__OX_FLOAT && v->ndims == 4 && v->dims[0] == -1 &&
          v->dims[1] == 3 && v->dims[2] == 224 && v->dims[3] == 224);
    v = &m->inputs[1];
    CHECK(strcmp(v->name, "w") == 0 && v->dtype == 0 && v->ndims == -1);
    v = &m->inputs[2];
    CHECK(strcmp(v->name, "s") == 0 && v->dtype == FR__OX_FLOAT && v->ndims == 0);
    v = &m->inputs[3];
    CHECK(strcmp(v->name, "q") == 0 && v->dtype == FR__OX_INT64 && v->ndims == 4 && v->dims[0] == -1 &&
          v->dims[1] == 7 && v->dims[2] == -1 && v->dims[3] == -1);
    v = &m->inputs[4];
    CHECK(strcmp(v->name, "noshape") == 0 && v->dtype == FR__OX_FLOAT && v->ndims == -1);
    v = &m->outputs[0];
    CHECK(strcmp(v->name, "z") == 0 && v->ndims == 2 && v->dims[0] == 1 && v->dims[1] == 1000);
  }
  fr__ox_free(m);
  fr__ox_free(NULL);
}

/* Unknown fields of every wire type at every level change nothing. */
static void test_unknown_fields(void) {
  buf plain = full_model(0), junked = full_model(1);
  CHECK(junked.n > plain.n + 500);
  fr__ox_model *m1 = NULL, *m2 = NULL;
  fr_error e;
  CHECK_OK(parse(plain.d, plain.n, &m1, &e), &e);
  CHECK_OK(parse(junked.d, junked.n, &m2, &e), &e);
  if (m1 && m2) {
    buf d1 = {0}, d2 = {0};
    dump_model(&d1, m1);
    dump_model(&d2, m2);
    CHECK(d1.n > 1000 && d1.n == d2.n && memcmp(d1.d, d2.d, d1.n) == 0);
    buf_free(&d1);
    buf_free(&d2);
  }
  fr__ox_free(m1);
  fr__ox_free(m2);
  buf_free(&plain);
  buf_free(&junked);
}

/* The default operator set: "" or "ai.onnx"; other domains ignored. */
static void test_opset(void) {
  static const struct {
    const char *d1;
    int v1;
    const char *d2;
    int v2;
    int64_t want; /* -1: must fail */
  } cases[] = {
      {"ai.onnx", 11, NULL, 0, 11},  {NULL, 12, "ai.onnx.ml", 2, 12}, {"ai.onnx.ml", 2, NULL, 0, 0},
      {"", 13, "ai.onnx", 13, 13},   {"com.microsoft", 1, "", 9, 9},  {NULL, 0, NULL, 0, 0},
      {"", 13, "ai.onnx", 12, -1},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    buf m = {0}, g = {0}, op = {0};
    plain_node(&g, "Relu");
    f_varint(&m, 1, 7);
    for (int k = 0; k < 2; k++) {
      const char *d = k ? cases[c].d2 : cases[c].d1;
      int v = k ? cases[c].v2 : cases[c].v1;
      if (!d && !v) continue;
      if (d) f_str(&op, 1, d);
      f_varint(&op, 2, (uint64_t)v);
      f_msg(&m, 8, &op);
    }
    f_msg(&m, 7, &g);
    fr__ox_model *om = NULL;
    fr_error e;
    fr_status st = parse(m.d, m.n, &om, &e);
    if (cases[c].want < 0) {
      CHECK_MSG(st == FR_E_MODEL && strstr(e.message, "imported twice"), "case %zu: %s", c, e.message);
    } else {
      CHECK_MSG(st == FR_OK && om && om->opset == cases[c].want, "case %zu: %s", c, e.message);
    }
    fr__ox_free(om);
    buf_free(&m);
  }
}

/* Exactly what the reader promises for a failure, for any status. */
static int clean_failure(fr_status st, const fr__ox_model *m, const fr_error *e) {
  return m == NULL && e->status == st && strncmp(e->message, "ONNX: ", 6) == 0 &&
         (st == FR_E_MODEL || st == FR_E_UNSUPPORTED || st == FR_E_LIMIT);
}

/* Every prefix of the full model (with and without unknown fields) is
 * refused cleanly or, where it happens to end between fields, parsed; and
 * so are thousands of one-byte changes. Under ASan, any read past the end
 * of the copy is caught. */
static void test_truncation_and_mutation(void) {
  for (int j = 0; j < 2; j++) {
    buf b = full_model(j);
    int bad = 0, failed = 0, ok = 0;
    for (size_t len = 0; len < b.n; len++) {
      fr__ox_model *m = (fr__ox_model *)(uintptr_t)1;
      fr_error e;
      fr_status st = parse(b.d, len, &m, &e);
      if (st == FR_OK) {
        ok++;
        fr__ox_free(m);
      } else {
        failed++;
        if (!clean_failure(st, m, &e)) {
          if (bad++ < 5) fprintf(stderr, "prefix %zu: status %d: %s\n", len, st, e.message);
        }
      }
    }
    CHECK_MSG(bad == 0, "%d prefixes failed uncleanly", bad);
    CHECK_MSG(failed > (int)b.n / 2, "only %d of %zu prefixes failed", failed, b.n);
    printf("prefixes of a %zu-byte model%s: %d refused, %d parsed\n", b.n, j ? " (with unknown fields)" : "",
           failed, ok);

    static const uint8_t subst[] = {0x00, 0xFF, 0x80, 0x7F, 0x02, 0x0A};
    bad = failed = ok = 0;
    uint8_t *copy = malloc(b.n);
    for (size_t pos = 0; pos < b.n; pos++) {
      for (size_t s = 0; s < sizeof subst + 1; s++) {
        memcpy(copy, b.d, b.n);
        copy[pos] = s < sizeof subst ? subst[s] : (uint8_t)(copy[pos] ^ 0x40);
        fr__ox_model *m = (fr__ox_model *)(uintptr_t)1;
        fr_error e;
        fr_status st = parse(copy, b.n, &m, &e);
        if (st == FR_OK) {
          ok++;
          fr__ox_free(m);
        } else {
          failed++;
          if (!clean_failure(st, m, &e) && bad++ < 5)
            fprintf(stderr, "byte %zu = %02x: status %d: %s\n", pos, copy[pos], st, e.message);
        }
      }
    }
    free(copy);
    CHECK_MSG(bad == 0, "%d mutations failed uncleanly", bad);
    printf("one-byte changes: %d refused, %d parsed\n", failed, ok);
    buf_free(&b);
  }
}

static void test_bad_wire(void) {
  buf b = {0};
  /* An 11-byte varint as a key, and as a value. */
  for (int k = 0; k < 10; k++) put_byte(&b, 0xFF);
  put_byte(&b, 0x01);
  CHECK_FAILS(b, FR_E_MODEL, "varint longer than 10 bytes");
  put_byte(&b, 0x08);
  for (int k = 0; k < 10; k++) put_byte(&b, 0x80);
  put_byte(&b, 0x00);
  CHECK_FAILS(b, FR_E_MODEL, "varint longer than 10 bytes");
  /* A varint cut short. */
  put_byte(&b, 0x08);
  put_byte(&b, 0x80);
  CHECK_FAILS(b, FR_E_MODEL, "truncated");
  /* A 10-byte varint is fine: ir_version 2^64 - 1 reads as -1. */
  {
    buf g = {0};
    plain_node(&g, "Relu");
    f_varint(&b, 1, UINT64_MAX);
    f_msg(&b, 7, &g);
    fr__ox_model *m = NULL;
    fr_error e;
    CHECK_OK(parse(b.d, b.n, &m, &e), &e);
    CHECK(m && m->ir_version == -1);
    fr__ox_free(m);
    buf_free(&b);
  }
  /* A length past the end: the graph claims 100 bytes, 3 follow. */
  key(&b, 7, 2);
  put_varint(&b, 100);
  put(&b, "abc", 3);
  CHECK_FAILS(b, FR_E_MODEL, "truncated (field 7: 100 bytes, 3 left)");
  /* A length that does not fit in 64 bits' worth of file. */
  key(&b, 7, 2);
  put_varint(&b, UINT64_MAX);
  CHECK_FAILS(b, FR_E_MODEL, "truncated");
  /* Fixed-size values cut short. */
  key(&b, 50, 1);
  put(&b, "1234567", 7);
  CHECK_FAILS(b, FR_E_MODEL, "truncated (field 50: 8 bytes, 7 left)");
  key(&b, 50, 5);
  put(&b, "123", 3);
  CHECK_FAILS(b, FR_E_MODEL, "truncated (field 50: 4 bytes, 3 left)");
  /* Groups and undefined wire types, at the top and inside a node. */
  for (int wt = 3; wt <= 7; wt++) {
    if (wt == 5) continue;
    key(&b, 50, wt);
    put_varint(&b, 0);
    CHECK_FAILS(b, FR_E_MODEL, wt <= 4 ? "protobuf group" : "wire type");
    buf g = {0}, n = {0};
    f_str(&n, 4, "Relu");
    f_str(&n, 3, "Relu_7");
    key(&n, 77, wt);
    put_varint(&n, 0);
    f_msg(&g, 1, &n);
    b = model_of(&g);
    CHECK_FAILS(b, FR_E_MODEL, "node 0 (Relu_7): field 77");
  }
  /* Field number 0. */
  f_str(&b, 0, "x");
  CHECK_FAILS(b, FR_E_MODEL, "field number of 0");
  /* A known field with the wrong wire type. */
  f_str(&b, 1, "8");
  CHECK_FAILS(b, FR_E_MODEL, "ir_version (field 1) has wire type 2");
  /* Empty input, and a model without a graph or with two. */
  CHECK_FAILS(b, FR_E_MODEL, "no graph");
  f_varint(&b, 1, 8);
  f_str(&b, 2, "x");
  CHECK_FAILS(b, FR_E_MODEL, "no graph");
  {
    buf g = {0};
    plain_node(&g, "Relu");
    b = model_of(&g);
    plain_node(&g, "Relu");
    f_msg(&b, 7, &g);
    CHECK_FAILS(b, FR_E_MODEL, "2 graphs");
  }
}

/* Makes a tensor message: head and then a data field writer chosen by kind. */
static buf bad_tensor(int kind) {
  buf t = {0};
  static const int64_t d23[2] = {2, 3};
  static const float five[5] = {1, 2, 3, 4, 5};
  switch (kind) {
  case 0: /* float_data with 5 values for dims [2, 3] */
    tensor_head(&t, "w", FR__OX_FLOAT, d23, 2, 0);
    f_packed_floats(&t, 4, five, 5);
    break;
  case 1: /* raw_data of 20 bytes */
    tensor_head(&t, "w", FR__OX_FLOAT, d23, 2, 0);
    f_packed_floats(&t, 9, five, 5);
    break;
  case 2: /* no data */
    tensor_head(&t, "w", FR__OX_FLOAT, d23, 2, 0);
    break;
  case 3: /* raw_data and float_data */
    tensor_head(&t, "w", FR__OX_FLOAT, d23, 1, 0);
    f_packed_floats(&t, 4, five, 2);
    f_packed_floats(&t, 9, five, 2);
    break;
  case 4: /* float16 values in float_data */
    tensor_head(&t, "w", FR__OX_FLOAT16, d23, 1, 0);
    f_packed_floats(&t, 4, five, 2);
    break;
  case 5: /* packed float_data not a multiple of 4 bytes */
    tensor_head(&t, "w", FR__OX_FLOAT, d23, 1, 0);
    f_bytes(&t, 4, "12345", 5);
    break;
  case 6: /* dims overflowing: 2^40 x 2^40 */
  {
    int64_t big[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
    tensor_head(&t, "w", FR__OX_FLOAT, big, 2, 0);
    f_bytes(&t, 9, "abcd", 4);
    break;
  }
  case 7: /* a negative dimension */
  {
    int64_t neg[2] = {2, -3};
    tensor_head(&t, "w", FR__OX_FLOAT, neg, 2, 0);
    break;
  }
  case 8: /* rank 9 */
  {
    int64_t r9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    tensor_head(&t, "w", FR__OX_FLOAT, r9, 9, 0);
    f_bytes(&t, 9, "abcd", 4);
    break;
  }
  case 9: /* external data, by data_location */
    tensor_head(&t, "conv1.weight", FR__OX_FLOAT, d23, 2, 0);
    f_varint(&t, 14, 1);
    break;
  case 10: /* external data, by its entries */
  {
    buf kv = {0};
    f_str(&kv, 1, "location");
    f_str(&kv, 2, "weights.bin");
    tensor_head(&t, "conv1.weight", FR__OX_FLOAT, d23, 2, 0);
    f_msg(&t, 13, &kv);
    break;
  }
  case 11: /* strings */
    tensor_head(&t, "labels", FR__OX_STRING, d23, 1, 0);
    f_str(&t, 6, "cat");
    f_str(&t, 6, "dog");
    break;
  case 12: /* segments */
  {
    buf seg = {0};
    f_varint(&seg, 1, 0);
    f_varint(&seg, 2, 2);
    tensor_head(&t, "w", FR__OX_FLOAT, d23, 1, 0);
    f_msg(&t, 3, &seg);
    break;
  }
  case 13: /* bfloat16: not read */
    tensor_head(&t, "w", 16, d23, 1, 0);
    f_bytes(&t, 9, "abcd", 4);
    break;
  case 14: /* no data type */
    tensor_head(&t, "w", FR__OX_UNDEFINED, d23, 1, 0);
    f_bytes(&t, 9, "abcd", 4);
    break;
  case 15: /* a name with a NUL */
    tensor_head(&t, NULL, FR__OX_FLOAT, d23, 1, 0);
    f_bytes(&t, 8, "a\0b", 3);
    f_packed_floats(&t, 4, five, 2);
    break;
  case 16: /* int64_data for an INT32 tensor */
  {
    static const int64_t v[2] = {1, 2};
    tensor_head(&t, "w", FR__OX_INT32, d23, 1, 0);
    f_packed_varints(&t, 7, v, 2);
    break;
  }
  case 17: /* a packed varint cut inside a value */
    tensor_head(&t, "w", FR__OX_INT64, d23, 1, 0);
    f_bytes(&t, 7, "\x01\x80", 2);
    break;
  case 18: /* dims as a fixed64: the wrong wire type */
    f_fixed64(&t, 1, 2);
    f_varint(&t, 2, FR__OX_FLOAT);
    break;
  default: break;
  }
  return t;
}

static void test_bad_tensors(void) {
  static const struct {
    fr_status st;
    const char *text;
  } want[] = {
      {FR_E_MODEL, "initializer 0 (w): dims [2, 3] need 6 values; float_data holds 5"},
      {FR_E_MODEL, "raw_data holds 20 bytes; FLOAT dims [2, 3] need 24"},
      {FR_E_MODEL, "need 6 values; the tensor holds none"},
      {FR_E_MODEL, "values in both raw_data and float_data"},
      {FR_E_MODEL, "values of a FLOAT16 tensor in float_data (onnx.proto keeps them in int32_data)"},
      {FR_E_MODEL, "packed float_data: 5 bytes"},
      {FR_E_MODEL, "dims [1099511627776, 1099511627776] hold more values than any file could"},
      {FR_E_MODEL, "dimension 1 is negative"},
      {FR_E_LIMIT, "rank 9, above the limit of 8"},
      {FR_E_UNSUPPORTED, "initializer 0 (conv1.weight): stored in an external file"},
      {FR_E_UNSUPPORTED, "initializer 0 (conv1.weight): stored in an external file"},
      {FR_E_UNSUPPORTED, "initializer 0 (labels): string tensors are not supported"},
      {FR_E_UNSUPPORTED, "split into segments"},
      {FR_E_UNSUPPORTED, "data type 16 is not supported"},
      {FR_E_MODEL, "no data_type"},
      {FR_E_MODEL, "initializer 0 (a?b): the name contains a NUL byte"},
      {FR_E_MODEL, "values of a INT32 tensor in int64_data"},
      {FR_E_MODEL, "int64_data: truncated"},
      {FR_E_MODEL, "dims (field 1) has wire type 1 instead of 0 or 2"},
  };
  for (int k = 0; k < (int)(sizeof want / sizeof want[0]); k++) {
    buf t = bad_tensor(k);
    buf m = model_with_init(&t);
    CHECK_FAILS(m, want[k].st, want[k].text);
  }
  /* A zero dimension makes any other dimension harmless: no values. */
  {
    buf t = {0};
    int64_t dims[3] = {(int64_t)1 << 40, 0, (int64_t)1 << 40};
    tensor_head(&t, "e", FR__OX_INT64, dims, 3, 0);
    buf m = model_with_init(&t);
    fr__ox_model *om = NULL;
    fr_error e;
    CHECK_OK(parse(m.d, m.n, &om, &e), &e);
    CHECK(om && om->n_inits == 1 && om->inits[0].count == 0 && om->inits[0].i);
    fr__ox_free(om);
    buf_free(&m);
  }
  /* A sparse initializer. */
  {
    buf g = {0}, s = {0};
    plain_node(&g, "Relu");
    f_str(&s, 1, "x");
    f_msg(&g, 15, &s);
    buf m = model_of(&g);
    CHECK_FAILS(m, FR_E_UNSUPPORTED, "sparse initializers");
  }
}

static void test_bad_structure(void) {
  /* The message names the node and the attribute. */
  {
    buf g = {0}, n = {0}, a = {0};
    for (int k = 0; k < 12; k++) plain_node(&g, "Relu");
    f_str(&n, 1, "x");
    f_str(&n, 2, "y");
    f_str(&n, 3, "Conv_5");
    f_str(&n, 4, "Conv");
    f_str(&a, 1, "pads");
    key(&a, 8, 2);
    put_varint(&a, 40);
    put(&a, "\x01\x01", 2);
    f_msg(&n, 5, &a);
    f_msg(&g, 1, &n);
    buf m = model_of(&g);
    CHECK_FAILS(m, FR_E_MODEL, "ONNX: node 12 (Conv_5): attribute 'pads': truncated (field 8: 40 bytes, 2 left)");
  }
  /* A long name with control bytes is shortened and made printable. */
  {
    buf g = {0}, n = {0};
    f_str(&n, 3, "a\nb\x1b" "cdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOP");
    key(&n, 9, 3);
    f_msg(&g, 1, &n);
    buf m = model_of(&g);
    CHECK_FAILS(m, FR_E_MODEL, "node 0 (a?b?cdefghijklmnopqrstuvwxyz0123456789AB...): field 9 is a protobuf group");
  }
  /* A node without op_type, an attribute without a name, a name with a NUL. */
  {
    buf g = {0}, n = {0};
    f_str(&n, 1, "x");
    f_str(&n, 3, "n0");
    f_msg(&g, 1, &n);
    buf m = model_of(&g);
    CHECK_FAILS(m, FR_E_MODEL, "node 0 (n0): no op_type");
  }
  {
    buf a = {0};
    f_varint(&a, 3, 1);
    buf m = model_with_attr(&a);
    CHECK_FAILS(m, FR_E_MODEL, "node 0: attribute 0: an attribute without a name");
  }
  {
    buf g = {0}, n = {0};
    f_str(&n, 4, "Relu");
    f_bytes(&n, 1, "x\0y", 3);
    f_msg(&g, 1, &n);
    buf m = model_of(&g);
    CHECK_FAILS(m, FR_E_MODEL, "node 0: an input name contains a NUL byte");
  }
  /* Two tensors in one attribute's t; attribute values of the wrong wire type. */
  {
    buf a = {0}, t = {0}, t2 = {0};
    f_str(&a, 1, "value");
    f_varint(&t, 2, FR__OX_FLOAT);
    f_float(&t, 4, 1.0f);
    f_varint(&t2, 2, FR__OX_FLOAT);
    f_float(&t2, 4, 2.0f);
    f_msg(&a, 5, &t);
    f_msg(&a, 5, &t2);
    buf m = model_with_attr(&a);
    CHECK_FAILS(m, FR_E_MODEL, "attribute 'value': 2 tensors in t");
  }
  {
    buf a = {0};
    f_str(&a, 1, "value");
    f_varint(&a, 20, FR__OX_ATTR_TENSOR);
    buf m = model_with_attr(&a);
    CHECK_FAILS(m, FR_E_MODEL, "attribute 'value': a tensor attribute without its tensor (t)");
  }
  {
    /* t under another type is not read (even when broken); a graph type
     * without its graph still counts as a subgraph. */
    buf a = {0}, t = bad_tensor(2), g = {0}, n = {0};
    f_str(&a, 1, "k");
    f_varint(&a, 3, 4);
    f_msg(&a, 5, &t);
    f_varint(&a, 20, FR__OX_ATTR_INT);
    f_str(&n, 4, "Loop");
    f_msg(&n, 5, &a);
    f_str(&a, 1, "body");
    f_varint(&a, 20, FR__OX_ATTR_GRAPH);
    f_msg(&n, 5, &a);
    f_msg(&g, 1, &n);
    buf m = model_of(&g);
    fr__ox_model *om = NULL;
    fr_error e;
    CHECK_OK(parse(m.d, m.n, &om, &e), &e);
    const fr__ox_attr *k = om ? fr__ox_attr_find(&om->nodes[0], "k") : NULL;
    const fr__ox_attr *body = om ? fr__ox_attr_find(&om->nodes[0], "body") : NULL;
    CHECK(k && k->type == FR__OX_ATTR_INT && k->i == 4 && k->t == NULL && !k->has_graph);
    CHECK(body && body->type == FR__OX_ATTR_GRAPH && body->has_graph);
    fr__ox_free(om);
    buf_free(&m);
  }
  {
    buf a = {0};
    f_str(&a, 1, "alpha");
    f_varint(&a, 2, 1);
    buf m = model_with_attr(&a);
    CHECK_FAILS(m, FR_E_MODEL, "attribute 'alpha': f (field 2) has wire type 0 instead of 5");
  }
  {
    buf a = {0};
    f_str(&a, 1, "scales");
    f_bytes(&a, 7, "123456", 6);
    buf m = model_with_attr(&a);
    CHECK_FAILS(m, FR_E_MODEL, "attribute 'scales': packed floats: 6 bytes");
  }
  {
    /* An attribute's tensor failing is named by the attribute. */
    buf a = {0}, t = bad_tensor(2);
    f_str(&a, 1, "value");
    f_msg(&a, 5, &t);
    buf m = model_with_attr(&a);
    CHECK_FAILS(m, FR_E_MODEL, "node 0: attribute 'value': FLOAT dims [2, 3] need 6 values");
  }
  /* Graph inputs: rank above the limit, no name, two types. */
  {
    buf g = {0};
    int64_t r9[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    plain_node(&g, "Relu");
    value(&g, 11, "x", FR__OX_FLOAT, r9, 9, 0);
    buf m = model_of(&g);
    CHECK_FAILS(m, FR_E_LIMIT, "graph input 0 (x): a shape of rank above the limit of 8");
  }
  {
    buf g = {0}, v = {0};
    plain_node(&g, "Relu");
    f_str(&v, 2, "");
    f_msg(&g, 12, &v);
    buf m = model_of(&g);
    CHECK_FAILS(m, FR_E_MODEL, "graph output 0: no name");
  }
  {
    buf g = {0}, v = {0};
    plain_node(&g, "Relu");
    f_str(&v, 1, "x");
    f_str(&v, 2, "");
    f_str(&v, 2, "");
    f_msg(&g, 11, &v);
    buf m = model_of(&g);
    CHECK_FAILS(m, FR_E_MODEL, "graph input 0 (x): two type fields");
  }
  {
    /* A dimension's varint cut short. */
    buf g = {0}, v = {0}, type = {0}, tt = {0}, shape = {0}, dim = {0};
    plain_node(&g, "Relu");
    put(&dim, "\x08\xff", 2);
    f_msg(&shape, 1, &dim);
    f_msg(&tt, 2, &shape);
    f_msg(&type, 1, &tt);
    f_str(&v, 1, "x");
    f_msg(&v, 2, &type);
    f_msg(&g, 11, &v);
    buf m = model_of(&g);
    CHECK_FAILS(m, FR_E_MODEL, "graph input 0 (x): dimension 0: truncated");
  }
  /* opset_import broken. */
  {
    buf m = {0}, op = {0};
    f_fixed32(&op, 2, 13);
    f_msg(&m, 8, &op);
    CHECK_FAILS(m, FR_E_MODEL, "opset_import 0: version (field 2) has wire type 5");
  }
  /* More nodes than the limit: refused by count before any is read. */
  {
    buf g = {0};
    for (int k = 0; k <= FR__OX_MAX_NODES; k++) f_str(&g, 1, "");
    buf m = model_of(&g);
    CHECK_FAILS(m, FR_E_LIMIT, "100001 nodes, above the limit of 100000");
  }
  /* Empty items cost little in the file and much in memory: a file of
   * 200000 empty initializers (400 KB, 20 MB of structs) is refused for
   * the memory it would take, not read. */
  {
    buf g = {0};
    plain_node(&g, "Relu");
    for (int k = 0; k < 200000; k++) f_str(&g, 5, "");
    buf m = model_of(&g);
    CHECK_FAILS(m, FR_E_LIMIT, "more than 16 times the file's size");
  }
  /* Arguments. */
  {
    fr_error e;
    fr__ox_model *m = (fr__ox_model *)(uintptr_t)1;
    CHECK(fr__ox_parse("x", 1, NULL, &e) == FR_E_INVALID);
    CHECK(fr__ox_parse(NULL, 5, &m, &e) == FR_E_INVALID && m == NULL);
    CHECK(fr__ox_parse(NULL, 0, &m, &e) == FR_E_MODEL && m == NULL);
    CHECK(fr__ox_parse(NULL, 0, &m, NULL) == FR_E_MODEL && m == NULL);
    /* The size is checked before any byte is read. */
    CHECK(fr__ox_parse("x", FR__OX_MAX_BYTES + 1, &m, &e) == FR_E_LIMIT && m == NULL &&
          strstr(e.message, "above the limit"));
  }
}

/* Every half converts exactly: normals, subnormals, zeros, infinities, and
 * NaNs with their sign and payload. */
static void test_half_exhaustive(void) {
  buf raw = {0}, t = {0};
  for (uint32_t h = 0; h < 65536; h++) put_le(&raw, h, 2);
  static const int64_t dims[2] = {256, 256};
  tensor_head(&t, "all", FR__OX_FLOAT16, dims, 2, 0);
  f_msg(&t, 9, &raw);
  buf m = model_with_init(&t);
  fr__ox_model *om = NULL;
  fr_error e;
  CHECK_OK(parse(m.d, m.n, &om, &e), &e);
  buf_free(&m);
  if (!om || om->n_inits != 1 || !om->inits[0].f) return;
  const float *f = om->inits[0].f;
  int bad = 0;
  for (uint32_t h = 0; h < 65536; h++) {
    uint32_t exp = (h >> 10) & 31, man = h & 1023;
    double mag = exp == 0 ? ldexp(man, -24) : ldexp(1024 + man, (int)exp - 25);
    float want = (float)((h & 0x8000) ? -mag : mag);
    int ok;
    if (exp == 31)
      ok = fbits(f[h]) == (((h & 0x8000u) << 16) | 0x7F800000u | (man << 13)); /* inf, or NaN keeping its payload */
    else
      ok = same_bits(f[h], want);
    if (!ok && bad++ < 5) fprintf(stderr, "half %04x: %08x\n", h, fbits(f[h]));
  }
  CHECK_MSG(bad == 0, "%d halves converted wrongly", bad);
  CHECK(isnan(f[0x7E00]) && isnan(f[0xFC01]) && signbit(f[0xFC01]) && f[0x7BFF] == 65504.0f);
  fr__ox_free(om);
}

/* ---- allocation failures ------------------------------------------------------- */

static long alloc_fail_at = -1; /* the index of the allocation to fail; -1: none */
static long alloc_count, alloc_live;

static void *a_malloc(size_t size, void *user) {
  (void)user;
  if (alloc_fail_at >= 0 && alloc_count++ == alloc_fail_at) return NULL;
  void *p = malloc(size);
  if (p) alloc_live++;
  return p;
}

static void *a_realloc(void *p, size_t size, void *user) {
  (void)user;
  if (!p) return a_malloc(size, user);
  return realloc(p, size);
}

static void a_free(void *p, void *user) {
  (void)user;
  if (p) alloc_live--;
  free(p);
}

/* Each allocation of a parse of b failing in turn: FR_E_NOMEM, nothing leaked. */
static void nomem_run(const buf *b, const char *what) {
  int bad = 0, fails = 0;
  for (long k = 0; k <= 1000; k++) {
    alloc_count = 0;
    alloc_live = 0;
    alloc_fail_at = k;
    fr__ox_model *m = (fr__ox_model *)(uintptr_t)1;
    fr_error e;
    fr_status st = fr__ox_parse(b->d, b->n, &m, &e);
    alloc_fail_at = -1;
    if (st == FR_OK) {
      fr__ox_free(m);
      if (alloc_live != 0) bad++;
      break;
    }
    fails++;
    if ((st != FR_E_NOMEM || m || alloc_live != 0 || !strstr(e.message, "out of memory")) && bad++ < 5)
      fprintf(stderr, "%s, allocation %ld failing: status %d, %ld live: %s\n", what, k, st, alloc_live,
              e.message);
  }
  CHECK_MSG(bad == 0 && fails >= 2 && fails <= 1000, "%s: %d bad outcomes in %d failing allocations", what,
            bad, fails);
}

static void test_nomem(void) {
  buf b = full_model(0);
  nomem_run(&b, "the full model");
  buf_free(&b);
  /* A tensor above a quarter chunk, which gets a chunk of its own, between
   * small ones. */
  buf t = {0}, raw = {0}, g = {0};
  static const int64_t dims[1] = {8192};
  for (int k = 0; k < 8192; k++) put_le(&raw, fbits((float)k), 4);
  tensor_head(&t, "large", FR__OX_FLOAT, dims, 1, 0);
  f_msg(&t, 9, &raw);
  plain_node(&g, "Relu");
  f_msg(&g, 5, &t);
  plain_node(&g, "Relu");
  b = model_of(&g);
  nomem_run(&b, "a model with a large tensor");
  buf_free(&b);
}

int main(void) {
  fr_allocator al = {a_malloc, a_realloc, a_free, NULL};
  fr_error ae = {0, ""};
  CHECK_OK(fr_set_allocator(&al, &ae), &ae);
  test_full();
  test_unknown_fields();
  test_opset();
  test_bad_wire();
  test_bad_tensors();
  test_bad_structure();
  test_half_exhaustive();
  test_truncation_and_mutation();
  test_nomem();
  return check_summary();
}
