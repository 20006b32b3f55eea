/*
 * onnx_pb.c - the ONNX model reader (onnx_pb.h): the protobuf wire format of
 * onnx.proto's ModelProto, decoded by hand.
 *
 * A protobuf message is a run of fields, each a varint key (field number << 3
 * | wire type) followed by its value: a varint (wire type 0), 8 little-endian
 * bytes (1), a varint length and that many bytes (2: strings, bytes, nested
 * messages and packed repeated scalars) or 4 little-endian bytes (5). Wire
 * types 3 and 4 are the groups of proto2, which onnx.proto never uses; 6 and
 * 7 do not exist. Every field is read through pb_next, which checks each
 * length against the bytes left in the enclosing message, so nothing below it
 * can read past the input. Fields we do not know are skipped by their wire
 * type, as protobuf requires; a field we know arriving with another wire type
 * than onnx.proto gives it is a corrupt file (except that repeated scalars
 * may come packed or unpacked, which protobuf requires readers to accept).
 *
 * Each message with repeated fields is read twice: a first pass counts the
 * elements and checks the framing, so that arrays are allocated at their
 * exact size from the arena, and a second pass fills them. The nesting is
 * fixed (model, graph, node, attribute, tensor; and value, type, shape,
 * dimension), since subgraphs are not read, so no input can make the reader
 * recurse: the work is linear in the file size.
 *
 * Field numbers are those of onnx.proto (IR version 9 and earlier).
 */
#include "nn/onnx_pb.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* ---- the arena ---------------------------------------------------------- */

/*
 * Everything a parsed model holds lives in one arena: a list of chunks from
 * fr__malloc that fr__ox_free releases together. Small requests are carved
 * from the newest 64 KiB chunk; a request above a quarter of that gets a
 * chunk of its own, so that a big tensor never strands the rest of a chunk.
 *
 * The arena has a budget (FR__OX_MAX_EXPANSION): a real model needs at most
 * about 8 times its size (int8 weights read as int64), but a hostile one of
 * millions of 2-byte empty items would have the count pass allocate a
 * 100-byte struct for each, 50 times its size, before the first is refused.
 */
typedef struct ox_chunk {
  struct ox_chunk *next;
  max_align_t data[]; /* the bytes handed out, aligned for any type */
} ox_chunk;

typedef struct ox_arena {
  ox_chunk *chunks;
  unsigned char *cur; /* the free part of the newest small chunk */
  size_t left;
  size_t used, budget; /* bytes of all chunks, and the most they may reach */
  int over;            /* a request failed for the budget, not for memory */
} ox_arena;

#define OX_CHUNK ((size_t)64 << 10)
#define OX_ALIGN (_Alignof(max_align_t))

/* size bytes, aligned for any type; NULL when out of memory or over the
 * budget (a->over set). A request of 0 bytes still returns a pointer of its
 * own, so that an empty array is told apart from an absent one. */
static void *arena_alloc(ox_arena *a, size_t size) {
  size_t need = size ? size : 1;
  if (need > SIZE_MAX - OX_ALIGN) return NULL;
  need = (need + OX_ALIGN - 1) & ~(OX_ALIGN - 1);
  if (need <= a->left) {
    void *p = a->cur;
    a->cur += need;
    a->left -= need;
    return p;
  }
  size_t body = need > OX_CHUNK / 4 ? need : OX_CHUNK;
  if (body > a->budget - a->used) {
    a->over = 1;
    return NULL;
  }
  ox_chunk *c = fr__malloc(sizeof(ox_chunk) + body);
  if (!c) return NULL;
  a->used += body;
  c->next = a->chunks;
  a->chunks = c;
  unsigned char *p = (unsigned char *)c->data;
  if (body == OX_CHUNK) {
    a->cur = p + need;
    a->left = body - need;
  }
  return p;
}

static void arena_free(ox_arena *a) {
  if (!a) return;
  for (ox_chunk *c = a->chunks, *next; c; c = next) {
    next = c->next;
    fr__free(c);
  }
  fr__free(a);
}

/* ---- the reading state and messages -------------------------------------- */

typedef struct ox {
  ox_arena *a;
  fr_error *err; /* may be NULL */
} ox;

/* A run of bytes inside the input (only while parsing: nothing kept points
 * into the caller's bytes). */
typedef struct slice {
  const uint8_t *d;
  size_t n;
} slice;

static const char ox_empty[1] = "";

/* The failure of an arena allocation. */
static fr_status nomem(ox *x) {
  if (x->a->over)
    return fr__fail(x->err, FR_E_LIMIT,
                    "reading it would take over %zu MiB, more than %d times the file's size",
                    x->a->budget >> 20, FR__OX_MAX_EXPANSION);
  return fr__fail(x->err, FR_E_NOMEM, "out of memory");
}

/* n zeroed elements of size bytes from the arena, NULL when out of memory. */
static void *alloc_array(ox *x, size_t n, size_t size) {
  size_t bytes;
  if (!fr__mul_size(n, size, &bytes)) return NULL;
  void *p = arena_alloc(x->a, bytes);
  if (p) memset(p, 0, bytes ? bytes : 1);
  return p;
}

/*
 * A name from the file, made safe to print in a message: at most 40 bytes
 * (cut where a UTF-8 character starts, "..." added) and control bytes shown
 * as '?', since the name may be anything at all.
 */
#define OX_SHOW 64
static const char *show(char buf[OX_SHOW], slice s) {
  size_t n = s.n;
  int cut = 0;
  if (n > 40) {
    n = 40;
    while (n > 0 && (s.d[n] & 0xC0) == 0x80) n--;
    cut = 1;
  }
  for (size_t k = 0; k < n; k++) buf[k] = s.d[k] < 0x20 || s.d[k] == 0x7F ? '?' : (char)s.d[k];
  if (cut) {
    memcpy(buf + n, "...", 3);
    n += 3;
  }
  buf[n] = '\0';
  return buf;
}

/* Prefixes the error with the item that failed: "node 12 (Conv_5)", or
 * "node 12" when its name is not known. */
static void prefix_item(ox *x, const char *what, size_t index, slice name) {
  char b[OX_SHOW];
  if (name.n)
    fr__error_prefix(x->err, "%s %zu (%s)", what, index, show(b, name));
  else
    fr__error_prefix(x->err, "%s %zu", what, index);
}

/* Copies a name (or op_type, domain...) into the arena as a C string. An
 * embedded NUL would make two different names compare equal, so it is a
 * corrupt file. */
static fr_status copy_name(ox *x, slice s, const char *what, const char **out) {
  *out = ox_empty;
  if (!s.n) return FR_OK;
  if (memchr(s.d, 0, s.n)) return fr__fail(x->err, FR_E_MODEL, "%s contains a NUL byte", what);
  char *c = arena_alloc(x->a, s.n + 1);
  if (!c) return nomem(x);
  memcpy(c, s.d, s.n);
  c[s.n] = '\0';
  *out = c;
  return FR_OK;
}

/* ---- the wire format ----------------------------------------------------- */

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };

/* The protobuf limit on field numbers (2^29 - 1). */
#define PB_MAX_FIELD 536870911u

typedef struct pb {
  const uint8_t *p, *end; /* the bytes of the message not read yet */
} pb;

typedef struct pb_field {
  uint32_t num;
  int wt;
  uint64_t v; /* WT_VARINT, WT_I64 and WT_I32: the value (fixed ones as bits) */
  slice s;    /* WT_LEN: the bytes */
} pb_field;

static pb pb_of(slice s) {
  pb r = {s.d, s.d + s.n};
  return r;
}

static uint64_t le_bits(const uint8_t *p, size_t size) {
  uint64_t v = 0;
  for (size_t k = size; k-- > 0;) v = v << 8 | p[k];
  return v;
}

/* Reads a varint at *p (before end), advancing *p. At most 10 bytes: bits
 * past the 64th, which only a broken writer sets, are dropped, as protobuf's
 * own readers do. 0 on failure. */
static int pb_varint(ox *x, const uint8_t **p, const uint8_t *end, uint64_t *out) {
  uint64_t v = 0;
  const uint8_t *q = *p;
  for (int k = 0; k < 10; k++) {
    if (q == end) {
      fr__fail(x->err, FR_E_MODEL, "truncated (a varint runs past the end)");
      return 0;
    }
    uint8_t b = *q++;
    v |= (uint64_t)(b & 0x7F) << (7 * k);
    if (!(b & 0x80)) {
      *p = q;
      *out = v;
      return 1;
    }
  }
  fr__fail(x->err, FR_E_MODEL, "a varint longer than 10 bytes");
  return 0;
}

/* Reads the next field of the message: 1 with *f filled, 0 at the end of the
 * message, -1 (the error set) when the field is malformed. */
static int pb_next(ox *x, pb *r, pb_field *f) {
  if (r->p == r->end) return 0;
  uint64_t key, len;
  if (!pb_varint(x, &r->p, r->end, &key)) return -1;
  f->wt = (int)(key & 7);
  if (key >> 3 == 0 || key >> 3 > PB_MAX_FIELD) {
    fr__fail(x->err, FR_E_MODEL, "a field number of %llu", (unsigned long long)(key >> 3));
    return -1;
  }
  f->num = (uint32_t)(key >> 3);
  size_t left = (size_t)(r->end - r->p);
  switch (f->wt) {
  case WT_VARINT: return pb_varint(x, &r->p, r->end, &f->v) ? 1 : -1;
  case WT_I64:
  case WT_I32: {
    size_t size = f->wt == WT_I64 ? 8 : 4;
    if (left < size) {
      fr__fail(x->err, FR_E_MODEL, "truncated (field %u: %zu bytes, %zu left)", f->num, size, left);
      return -1;
    }
    f->v = le_bits(r->p, size);
    r->p += size;
    return 1;
  }
  case WT_LEN:
    if (!pb_varint(x, &r->p, r->end, &len)) return -1;
    left = (size_t)(r->end - r->p);
    if (len > left) {
      fr__fail(x->err, FR_E_MODEL, "truncated (field %u: %llu bytes, %zu left)", f->num,
               (unsigned long long)len, left);
      return -1;
    }
    f->s.d = r->p;
    f->s.n = (size_t)len;
    r->p += len;
    return 1;
  case WT_SGROUP:
  case WT_EGROUP:
    fr__fail(x->err, FR_E_MODEL, "field %u is a protobuf group (wire type %d), which ONNX never uses",
             f->num, f->wt);
    return -1;
  default:
    fr__fail(x->err, FR_E_MODEL, "field %u has wire type %d, which protobuf does not define", f->num,
             f->wt);
    return -1;
  }
}

/* 1 when field f has wire type wt, else 0 with the error set: a known field
 * of another type is a corrupt file, not an unknown field to skip. */
static int want(ox *x, const pb_field *f, int wt, const char *what) {
  if (f->wt == wt) return 1;
  fr__fail(x->err, FR_E_MODEL, "%s (field %u) has wire type %d instead of %d", what, f->num, f->wt, wt);
  return 0;
}

/*
 * One occurrence of a repeated scalar field, read element by element: either
 * one element (the field had the elements' own wire type) or a packed run
 * (wire type 2). Elements come out as raw bits: a varint's value, or the
 * little-endian bytes of a fixed32 or fixed64.
 */
typedef struct rep {
  const uint8_t *p, *end; /* packed: the bytes left */
  int wt;                 /* the elements' wire type */
  int single;             /* 1 while the one unpacked element in v is unread */
  uint64_t v;
} rep;

static int rep_open(ox *x, rep *it, const pb_field *f, int wt, const char *what) {
  it->wt = wt;
  it->p = it->end = NULL;
  it->single = 0;
  if (f->wt == wt) {
    it->single = 1;
    it->v = f->v;
    return 1;
  }
  if (f->wt != WT_LEN) {
    fr__fail(x->err, FR_E_MODEL, "%s (field %u) has wire type %d instead of %d or 2", what, f->num,
             f->wt, wt);
    return 0;
  }
  size_t size = wt == WT_I32 ? 4 : wt == WT_I64 ? 8 : 1;
  if (f->s.n % size) {
    fr__fail(x->err, FR_E_MODEL, "packed %s: %zu bytes, not a whole number of %zu-byte values", what,
             f->s.n, size);
    return 0;
  }
  it->p = f->s.d;
  it->end = f->s.d + f->s.n;
  return 1;
}

/* The next element: 1, or 0 at the end, or -1 (the error set) on a bad varint. */
static int rep_next(ox *x, rep *it, uint64_t *v) {
  if (it->single) {
    it->single = 0;
    *v = it->v;
    return 1;
  }
  if (it->p == it->end) return 0;
  if (it->wt == WT_VARINT) return pb_varint(x, &it->p, it->end, v) ? 1 : -1;
  size_t size = it->wt == WT_I32 ? 4 : 8;
  *v = le_bits(it->p, size);
  it->p += size;
  return 1;
}

/* Adds the elements of one occurrence of a repeated scalar field to *count,
 * checking every one of them. */
static fr_status rep_count(ox *x, const pb_field *f, int wt, const char *what, size_t *count) {
  rep it;
  uint64_t v;
  int k;
  if (!rep_open(x, &it, f, wt, what)) return FR_E_MODEL;
  while ((k = rep_next(x, &it, &v)) > 0) (*count)++;
  if (k < 0) {
    fr__error_prefix(x->err, "%s", what);
    return FR_E_MODEL;
  }
  return FR_OK;
}

/* A repeated count as an int (the structs' counts are ints). */
static fr_status count_int(ox *x, size_t n, const char *what, int *out) {
  if (n > INT_MAX) return fr__fail(x->err, FR_E_LIMIT, "%zu %s, above the limit of %d", n, what, INT_MAX);
  *out = (int)n;
  return FR_OK;
}

/* ---- tensors ------------------------------------------------------------- */

/* Where a TensorProto may hold its values: raw_data, or one of the typed
 * repeated fields, each for the data types onnx.proto assigns it. */
enum { SRC_RAW, SRC_FLOAT, SRC_INT32, SRC_STRING, SRC_INT64, SRC_DOUBLE, SRC_UINT64, SRC_N };
static const char *const src_name[SRC_N] = {"raw_data",   "float_data",  "int32_data", "string_data",
                                            "int64_data", "double_data", "uint64_data"};
static const uint32_t src_field[SRC_N] = {9, 4, 5, 6, 7, 10, 11};
static const int src_wt[SRC_N] = {WT_LEN, WT_I32, WT_VARINT, WT_LEN, WT_VARINT, WT_I64, WT_VARINT};

/* The data types read, by FR__OX_* value: raw_data's element size, the typed
 * field that holds them otherwise, and whether they become floats. */
typedef struct dtype_info {
  const char *name;
  size_t size;
  int src;
  int is_float;
} dtype_info;

static const dtype_info dtypes[] = {
    [FR__OX_FLOAT] = {"FLOAT", 4, SRC_FLOAT, 1},     [FR__OX_UINT8] = {"UINT8", 1, SRC_INT32, 0},
    [FR__OX_INT8] = {"INT8", 1, SRC_INT32, 0},       [FR__OX_UINT16] = {"UINT16", 2, SRC_INT32, 0},
    [FR__OX_INT16] = {"INT16", 2, SRC_INT32, 0},     [FR__OX_INT32] = {"INT32", 4, SRC_INT32, 0},
    [FR__OX_INT64] = {"INT64", 8, SRC_INT64, 0},     [FR__OX_BOOL] = {"BOOL", 1, SRC_INT32, 0},
    [FR__OX_FLOAT16] = {"FLOAT16", 2, SRC_INT32, 1}, [FR__OX_DOUBLE] = {"DOUBLE", 8, SRC_DOUBLE, 1},
    [FR__OX_UINT32] = {"UINT32", 4, SRC_UINT64, 0},  [FR__OX_UINT64] = {"UINT64", 8, SRC_UINT64, 0},
};
#define N_DTYPES ((int)(sizeof dtypes / sizeof dtypes[0]))

/*
 * One element, from its bits as stored (raw_data's little-endian bytes, or a
 * typed field's value), to what the importer sees. Integers narrower than
 * 64 bits are cut to their width first: int32_data holds int8, uint8, int16,
 * uint16 and bool values and float16 bits in 32, and onnx's own readers
 * convert them the same way. A double out of float range becomes an
 * infinity, as IEEE 754 conversion defines.
 */
static float elem_float(int dtype, uint64_t b) {
  if (dtype == FR__OX_FLOAT16) return fr__half_to_float((uint16_t)b);
  if (dtype == FR__OX_DOUBLE) {
    double d;
    memcpy(&d, &b, sizeof d);
    return (float)d;
  }
  uint32_t u = (uint32_t)b;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static int64_t elem_int(int dtype, uint64_t b) {
  switch (dtype) {
  case FR__OX_UINT8: return (uint8_t)b;
  case FR__OX_INT8: return (int8_t)(uint8_t)b;
  case FR__OX_UINT16: return (uint16_t)b;
  case FR__OX_INT16: return (int16_t)(uint16_t)b;
  case FR__OX_INT32: return (int32_t)(uint32_t)b;
  case FR__OX_UINT32: return (uint32_t)b;
  case FR__OX_BOOL: return b != 0;
  default: return (int64_t)b; /* INT64; UINT64 keeps its bits (above 2^63 - 1 they read negative) */
  }
}

static const char *dtype_name(int dtype, char buf[24]) {
  if (dtype > 0 && dtype < N_DTYPES && dtypes[dtype].name) return dtypes[dtype].name;
  if (dtype == FR__OX_STRING) return "STRING";
  snprintf(buf, 24, "type %d", dtype);
  return buf;
}

static const char *fmt_dims(char buf[128], const int64_t *dims, int n) {
  size_t at = 0;
  buf[at++] = '[';
  for (int k = 0; k < n && at < 100; k++)
    at += (size_t)snprintf(buf + at, 128 - at, "%s%lld", k ? ", " : "", (long long)dims[k]);
  snprintf(buf + at, 128 - at, "]");
  return buf;
}

/*
 * Reads a TensorProto into t. *name is set as soon as the tensor's name is
 * seen, so that the caller can name the tensor in the error even when
 * something else in it fails.
 */
static fr_status parse_tensor(ox *x, slice body, fr__ox_tensor *t, slice *name) {
  pb r = pb_of(body);
  pb_field f;
  int k;
  size_t cnt[SRC_N] = {0};
  size_t ndims = 0;
  int dtype = FR__OX_UNDEFINED, external = 0, segmented = 0;
  slice raw = {NULL, 0};
  memset(t, 0, sizeof *t);
  t->name = ox_empty;
  name->d = NULL, name->n = 0;

  /* Pass 1: the type and dims, and how many values each field holds. */
  while ((k = pb_next(x, &r, &f)) > 0) {
    fr_status st = FR_OK;
    switch (f.num) {
    case 1: { /* dims */
      rep it;
      uint64_t v;
      if (!rep_open(x, &it, &f, WT_VARINT, "dims")) return FR_E_MODEL;
      while ((k = rep_next(x, &it, &v)) > 0) {
        if (ndims < FR__OX_MAX_DIMS) t->dims[ndims] = (int64_t)v;
        ndims++;
      }
      if (k < 0) {
        fr__error_prefix(x->err, "dims");
        return FR_E_MODEL;
      }
      break;
    }
    case 2:
      if (!want(x, &f, WT_VARINT, "data_type")) return FR_E_MODEL;
      dtype = (int32_t)(uint32_t)f.v;
      break;
    case 3:
      if (!want(x, &f, WT_LEN, "segment")) return FR_E_MODEL;
      segmented = 1;
      break;
    case 8:
      if (!want(x, &f, WT_LEN, "name")) return FR_E_MODEL;
      *name = f.s;
      break;
    case 9: /* raw_data: a singular bytes field, so the last one counts */
      if (!want(x, &f, WT_LEN, "raw_data")) return FR_E_MODEL;
      raw = f.s;
      cnt[SRC_RAW] = f.s.n;
      break;
    case 6:
      if (!want(x, &f, WT_LEN, "string_data")) return FR_E_MODEL;
      cnt[SRC_STRING]++;
      break;
    case 13:
      if (!want(x, &f, WT_LEN, "external_data")) return FR_E_MODEL;
      external = 1;
      break;
    case 14:
      if (!want(x, &f, WT_VARINT, "data_location")) return FR_E_MODEL;
      if (f.v == 1) external = 1; /* EXTERNAL */
      break;
    case 4:
    case 5:
    case 7:
    case 10:
    case 11:
      for (int s = SRC_FLOAT; s < SRC_N; s++)
        if (src_field[s] == f.num) st = rep_count(x, &f, src_wt[s], src_name[s], &cnt[s]);
      if (st != FR_OK) return st;
      break;
    default: break; /* not needed (doc_string, metadata_props) or unknown */
    }
  }
  if (k < 0) return FR_E_MODEL;

  char b1[24], b2[128];
  if (segmented) return fr__fail(x->err, FR_E_UNSUPPORTED, "split into segments, which is not supported");
  if (external)
    return fr__fail(x->err, FR_E_UNSUPPORTED,
                    "stored in an external file, which is not supported (save the model with its "
                    "weights inside)");
  if (dtype == FR__OX_STRING) return fr__fail(x->err, FR_E_UNSUPPORTED, "string tensors are not supported");
  if (dtype == FR__OX_UNDEFINED) return fr__fail(x->err, FR_E_MODEL, "no data_type");
  if (dtype < 0 || dtype >= N_DTYPES || !dtypes[dtype].name)
    return fr__fail(x->err, FR_E_UNSUPPORTED, "data type %d is not supported", dtype);
  const dtype_info *info = &dtypes[dtype];
  if (ndims > FR__OX_MAX_DIMS)
    return fr__fail(x->err, FR_E_LIMIT, "rank %zu, above the limit of %d", ndims, FR__OX_MAX_DIMS);
  t->dtype = dtype;
  t->ndims = (int)ndims;

  /* The element count. No file can hold more values than it has bytes (a
   * bool in raw_data or a small int in int32_data takes one), so a count
   * above the size limit is corrupt whatever the data says; it also keeps
   * every size computed below far from overflowing. */
  size_t count = 1;
  int zero = 0;
  for (int d = 0; d < t->ndims; d++) {
    if (t->dims[d] < 0)
      return fr__fail(x->err, FR_E_MODEL, "dims %s: dimension %d is negative",
                      fmt_dims(b2, t->dims, t->ndims), d);
    if (t->dims[d] == 0) zero = 1;
  }
  for (int d = 0; d < t->ndims && !zero; d++) {
    if ((uint64_t)t->dims[d] > FR__OX_MAX_BYTES / count)
      return fr__fail(x->err, FR_E_MODEL, "dims %s hold more values than any file could",
                      fmt_dims(b2, t->dims, t->ndims));
    count *= (size_t)t->dims[d];
  }
  if (zero) count = 0;
  t->count = count;

  /* Exactly one field may hold the values, and it must hold exactly count. */
  int used = -1;
  for (int s = 0; s < SRC_N; s++) {
    if (!cnt[s]) continue;
    if (used >= 0)
      return fr__fail(x->err, FR_E_MODEL, "values in both %s and %s", src_name[used], src_name[s]);
    used = s;
  }
  if (used < 0 && count)
    return fr__fail(x->err, FR_E_MODEL, "%s dims %s need %zu values; the tensor holds none",
                    dtype_name(dtype, b1), fmt_dims(b2, t->dims, t->ndims), count);
  /* (count <= 2^31 and size <= 8, so the product fits in 64 bits.) */
  uint64_t raw_need = (uint64_t)count * info->size;
  if (used == SRC_RAW && raw.n != raw_need)
    return fr__fail(x->err, FR_E_MODEL, "raw_data holds %zu bytes; %s dims %s need %llu", raw.n,
                    dtype_name(dtype, b1), fmt_dims(b2, t->dims, t->ndims), (unsigned long long)raw_need);
  if (used > SRC_RAW && used != info->src)
    return fr__fail(x->err, FR_E_MODEL, "values of a %s tensor in %s (onnx.proto keeps them in %s)",
                    dtype_name(dtype, b1), src_name[used], src_name[info->src]);
  if (used > SRC_RAW && cnt[used] != count)
    return fr__fail(x->err, FR_E_MODEL, "dims %s need %zu values; %s holds %zu",
                    fmt_dims(b2, t->dims, t->ndims), count, src_name[used], cnt[used]);

  /* Pass 2: the values. */
  if (info->is_float)
    t->f = alloc_array(x, count, sizeof *t->f);
  else
    t->i = alloc_array(x, count, sizeof *t->i);
  if (!t->f && !t->i) return nomem(x);
  if (used == SRC_RAW) {
    for (size_t e = 0; e < count; e++) {
      uint64_t bits = le_bits(raw.d + e * info->size, info->size);
      if (info->is_float)
        t->f[e] = elem_float(dtype, bits);
      else
        t->i[e] = elem_int(dtype, bits);
    }
  } else if (used > SRC_RAW) {
    size_t e = 0;
    r = pb_of(body);
    while ((k = pb_next(x, &r, &f)) > 0) {
      if (f.num != src_field[used]) continue;
      rep it;
      uint64_t v;
      if (!rep_open(x, &it, &f, src_wt[used], src_name[used])) return FR_E_MODEL;
      while ((k = rep_next(x, &it, &v)) > 0 && e < count) {
        if (info->is_float)
          t->f[e++] = elem_float(dtype, v);
        else
          t->i[e++] = elem_int(dtype, v);
      }
      if (k < 0) return FR_E_MODEL;
    }
    if (k < 0) return FR_E_MODEL;
  }
  return copy_name(x, *name, "the name", &t->name);
}

/* ---- attributes ---------------------------------------------------------- */

/* Reads an AttributeProto; *name as for parse_tensor. */
static fr_status parse_attr(ox *x, slice body, fr__ox_attr *a, slice *name) {
  pb r = pb_of(body);
  pb_field f;
  int k;
  size_t nf = 0, ni = 0;
  int n_t = 0;
  /* Which value fields the file set, in field number order f, i, s, t, g,
   * floats, ints, strings, tensors, graphs: for an attribute without a type. */
  int set[10] = {0};
  slice s = {NULL, 0}, tbody = {NULL, 0};
  memset(a, 0, sizeof *a);
  a->s = ox_empty;
  name->d = NULL, name->n = 0;

  /* Pass 1: the scalars, and the size of each list. */
  while ((k = pb_next(x, &r, &f)) > 0) {
    fr_status st = FR_OK;
    switch (f.num) {
    case 1:
      if (!want(x, &f, WT_LEN, "name")) return FR_E_MODEL;
      *name = f.s;
      break;
    case 2: {
      if (!want(x, &f, WT_I32, "f")) return FR_E_MODEL;
      uint32_t u = (uint32_t)f.v;
      memcpy(&a->f, &u, sizeof a->f);
      set[0] = 1;
      break;
    }
    case 3:
      if (!want(x, &f, WT_VARINT, "i")) return FR_E_MODEL;
      a->i = (int64_t)f.v;
      set[1] = 1;
      break;
    case 4:
      if (!want(x, &f, WT_LEN, "s")) return FR_E_MODEL;
      s = f.s;
      set[2] = 1;
      break;
    case 5:
      if (!want(x, &f, WT_LEN, "t")) return FR_E_MODEL;
      tbody = f.s;
      n_t++;
      set[3] = 1;
      break;
    case 6:
    case 11:
      if (!want(x, &f, WT_LEN, f.num == 6 ? "g" : "graphs")) return FR_E_MODEL;
      a->has_graph = 1;
      set[f.num == 6 ? 4 : 9] = 1;
      break;
    case 7:
      st = rep_count(x, &f, WT_I32, "floats", &nf);
      set[5] = 1;
      break;
    case 8:
      st = rep_count(x, &f, WT_VARINT, "ints", &ni);
      set[6] = 1;
      break;
    case 9:
    case 10:
      if (!want(x, &f, WT_LEN, f.num == 9 ? "strings" : "tensors")) return FR_E_MODEL;
      set[f.num - 2] = 1;
      break;
    case 20:
      if (!want(x, &f, WT_VARINT, "type")) return FR_E_MODEL;
      a->type = (int32_t)(uint32_t)f.v;
      break;
    default: break; /* doc_string, ref_attr_name, sparse tensors, type protos, unknown */
    }
    if (st != FR_OK) return st;
  }
  if (k < 0) return FR_E_MODEL;
  if (!name->n) return fr__fail(x->err, FR_E_MODEL, "an attribute without a name");
  /* t is a singular message: protobuf would merge two, which no exporter
   * ever writes, so two are taken for a corrupt file. */
  if (n_t > 1) return fr__fail(x->err, FR_E_MODEL, "%d tensors in t, which holds one", n_t);
  fr_status st = count_int(x, nf, "floats", &a->n_floats);
  if (st == FR_OK) st = count_int(x, ni, "ints", &a->n_ints);
  if (st != FR_OK) return st;

  /* Pass 2: the lists, the string and the tensor. */
  if (nf && !(a->floats = alloc_array(x, nf, sizeof *a->floats))) return nomem(x);
  if (ni && !(a->ints = alloc_array(x, ni, sizeof *a->ints))) return nomem(x);
  size_t jf = 0, ji = 0;
  r = pb_of(body);
  while ((k = pb_next(x, &r, &f)) > 0) {
    if (f.num != 7 && f.num != 8) continue;
    rep it;
    uint64_t v;
    if (!rep_open(x, &it, &f, f.num == 7 ? WT_I32 : WT_VARINT, f.num == 7 ? "floats" : "ints"))
      return FR_E_MODEL;
    while ((k = rep_next(x, &it, &v)) > 0) {
      if (f.num == 7 && jf < nf) {
        a->floats[jf++] = elem_float(FR__OX_FLOAT, v);
      } else if (f.num == 8 && ji < ni) {
        a->ints[ji++] = (int64_t)v;
      }
    }
    if (k < 0) return FR_E_MODEL;
  }
  if (k < 0) return FR_E_MODEL;
  if (s.n) {
    /* s is bytes: NULs are allowed, hence s_len. */
    char *c = arena_alloc(x->a, s.n + 1);
    if (!c) return nomem(x);
    memcpy(c, s.d, s.n);
    c[s.n] = '\0';
    a->s = c;
    a->s_len = s.n;
  }
  if (a->type == FR__OX_ATTR_UNDEFINED) {
    static const int types[10] = {FR__OX_ATTR_FLOAT,   FR__OX_ATTR_INT,     FR__OX_ATTR_STRING,
                                  FR__OX_ATTR_TENSOR,  FR__OX_ATTR_GRAPH,   FR__OX_ATTR_FLOATS,
                                  FR__OX_ATTR_INTS,    FR__OX_ATTR_STRINGS, FR__OX_ATTR_TENSORS,
                                  FR__OX_ATTR_GRAPHS};
    for (int j = 0; j < 10 && !a->type; j++)
      if (set[j]) a->type = types[j];
  }
  /* The type says which value counts: t is read for a tensor attribute only
   * (and must be there, since an empty message is still written), and a
   * graph type counts as a subgraph even when the graph itself is missing,
   * so that the importer refuses the node either way. */
  if (a->type == FR__OX_ATTR_GRAPH || a->type == FR__OX_ATTR_GRAPHS) a->has_graph = 1;
  if (a->type == FR__OX_ATTR_TENSOR) {
    slice tname;
    if (!n_t) return fr__fail(x->err, FR_E_MODEL, "a tensor attribute without its tensor (t)");
    if (!(a->t = alloc_array(x, 1, sizeof *a->t))) return nomem(x);
    if ((st = parse_tensor(x, tbody, a->t, &tname)) != FR_OK) return st;
  }
  return copy_name(x, *name, "the name", &a->name);
}

/* ---- nodes --------------------------------------------------------------- */

/* Reads a NodeProto; *name as for parse_tensor. */
static fr_status parse_node(ox *x, slice body, fr__ox_node *nd, slice *name) {
  pb r = pb_of(body);
  pb_field f;
  int k;
  size_t ni = 0, no = 0, na = 0;
  slice op = {NULL, 0}, domain = {NULL, 0};
  memset(nd, 0, sizeof *nd);
  nd->name = nd->op_type = nd->domain = ox_empty;
  name->d = NULL, name->n = 0;

  /* Pass 1: the names and the counts. */
  while ((k = pb_next(x, &r, &f)) > 0) {
    switch (f.num) {
    case 1:
    case 2:
    case 5:
      if (!want(x, &f, WT_LEN, f.num == 1 ? "input" : f.num == 2 ? "output" : "attribute"))
        return FR_E_MODEL;
      ++*(f.num == 1 ? &ni : f.num == 2 ? &no : &na);
      break;
    case 3:
      if (!want(x, &f, WT_LEN, "name")) return FR_E_MODEL;
      *name = f.s;
      break;
    case 4:
      if (!want(x, &f, WT_LEN, "op_type")) return FR_E_MODEL;
      op = f.s;
      break;
    case 7:
      if (!want(x, &f, WT_LEN, "domain")) return FR_E_MODEL;
      domain = f.s;
      break;
    default: break; /* doc_string, overload, metadata_props, unknown */
    }
  }
  if (k < 0) return FR_E_MODEL;
  if (!op.n) return fr__fail(x->err, FR_E_MODEL, "no op_type");
  fr_status st = count_int(x, ni, "inputs", &nd->n_inputs);
  if (st == FR_OK) st = count_int(x, no, "outputs", &nd->n_outputs);
  if (st == FR_OK) st = count_int(x, na, "attributes", &nd->n_attrs);
  if (st == FR_OK) st = copy_name(x, *name, "the name", &nd->name);
  if (st == FR_OK) st = copy_name(x, op, "op_type", &nd->op_type);
  if (st == FR_OK) st = copy_name(x, domain, "domain", &nd->domain);
  if (st != FR_OK) return st;

  /* Pass 2: inputs, outputs and attributes, in file order. */
  if ((ni && !(nd->inputs = alloc_array(x, ni, sizeof *nd->inputs))) ||
      (no && !(nd->outputs = alloc_array(x, no, sizeof *nd->outputs))) ||
      (na && !(nd->attrs = alloc_array(x, na, sizeof *nd->attrs))))
    return nomem(x);
  size_t ji = 0, jo = 0, ja = 0;
  r = pb_of(body);
  while ((k = pb_next(x, &r, &f)) > 0) {
    if (f.num == 1 && ji < ni) {
      st = copy_name(x, f.s, "an input name", &nd->inputs[ji++]);
    } else if (f.num == 2 && jo < no) {
      st = copy_name(x, f.s, "an output name", &nd->outputs[jo++]);
    } else if (f.num == 5 && ja < na) {
      slice an;
      st = parse_attr(x, f.s, &nd->attrs[ja], &an);
      if (st != FR_OK) {
        char b[OX_SHOW];
        if (an.n)
          fr__error_prefix(x->err, "attribute '%s'", show(b, an));
        else
          fr__error_prefix(x->err, "attribute %zu", ja);
      }
      ja++;
    }
    if (st != FR_OK) return st;
  }
  return k < 0 ? FR_E_MODEL : FR_OK;
}

/* ---- graph inputs and outputs ---------------------------------------------- */

/* TensorShapeProto.Dimension: dim_value, or -1 for dim_param or neither (a
 * oneof, so the last one given counts). A negative dim_value says as little
 * as a missing one, so it reads as -1 too. */
static fr_status parse_dim(ox *x, slice body, int64_t *out) {
  pb r = pb_of(body);
  pb_field f;
  int k;
  *out = -1;
  while ((k = pb_next(x, &r, &f)) > 0) {
    if (f.num == 1) {
      if (!want(x, &f, WT_VARINT, "dim_value")) return FR_E_MODEL;
      *out = (int64_t)f.v < 0 ? -1 : (int64_t)f.v;
    } else if (f.num == 2) {
      if (!want(x, &f, WT_LEN, "dim_param")) return FR_E_MODEL;
      *out = -1;
    }
  }
  return k < 0 ? FR_E_MODEL : FR_OK;
}

static fr_status parse_shape(ox *x, slice body, fr__ox_value *v) {
  pb r = pb_of(body);
  pb_field f;
  int k;
  v->ndims = 0;
  while ((k = pb_next(x, &r, &f)) > 0) {
    if (f.num != 1) continue;
    if (!want(x, &f, WT_LEN, "dim")) return FR_E_MODEL;
    if (v->ndims == FR__OX_MAX_DIMS)
      return fr__fail(x->err, FR_E_LIMIT, "a shape of rank above the limit of %d", FR__OX_MAX_DIMS);
    fr_status st = parse_dim(x, f.s, &v->dims[v->ndims]);
    if (st != FR_OK) {
      fr__error_prefix(x->err, "dimension %d", v->ndims);
      return st;
    }
    v->ndims++;
  }
  return k < 0 ? FR_E_MODEL : FR_OK;
}

/* Singular nested messages (a value's type, a type's tensor_type and shape)
 * given twice would be merged by protobuf; no exporter writes that, so it is
 * taken for a corrupt file rather than guessed at. */
static int once(ox *x, int *seen, const char *what) {
  if (!(*seen)++) return 1;
  fr__fail(x->err, FR_E_MODEL, "two %s fields", what);
  return 0;
}

/* TypeProto.Tensor: elem_type and shape. */
static fr_status parse_tensor_type(ox *x, slice body, fr__ox_value *v) {
  pb r = pb_of(body);
  pb_field f;
  int k, shapes = 0;
  while ((k = pb_next(x, &r, &f)) > 0) {
    if (f.num == 1) {
      if (!want(x, &f, WT_VARINT, "elem_type")) return FR_E_MODEL;
      v->dtype = (int32_t)(uint32_t)f.v;
    } else if (f.num == 2) {
      if (!want(x, &f, WT_LEN, "shape") || !once(x, &shapes, "shape")) return FR_E_MODEL;
      fr_status st = parse_shape(x, f.s, v);
      if (st != FR_OK) return st;
    }
  }
  return k < 0 ? FR_E_MODEL : FR_OK;
}

/* TypeProto: only tensor_type is read; sequences, maps, optionals and sparse
 * tensors leave the value without a type or shape. */
static fr_status parse_type(ox *x, slice body, fr__ox_value *v) {
  pb r = pb_of(body);
  pb_field f;
  int k, tensor_types = 0;
  while ((k = pb_next(x, &r, &f)) > 0) {
    if (f.num != 1) continue;
    if (!want(x, &f, WT_LEN, "tensor_type") || !once(x, &tensor_types, "tensor_type")) return FR_E_MODEL;
    fr_status st = parse_tensor_type(x, f.s, v);
    if (st != FR_OK) return st;
  }
  return k < 0 ? FR_E_MODEL : FR_OK;
}

/* ValueInfoProto: name and type. */
static fr_status parse_value(ox *x, slice body, fr__ox_value *v, slice *name) {
  pb r = pb_of(body);
  pb_field f;
  int k, types = 0;
  memset(v, 0, sizeof *v);
  v->name = ox_empty;
  v->ndims = -1;
  for (int d = 0; d < FR__OX_MAX_DIMS; d++) v->dims[d] = -1;
  name->d = NULL, name->n = 0;
  while ((k = pb_next(x, &r, &f)) > 0) {
    if (f.num == 1) {
      if (!want(x, &f, WT_LEN, "name")) return FR_E_MODEL;
      *name = f.s;
    } else if (f.num == 2) {
      if (!want(x, &f, WT_LEN, "type") || !once(x, &types, "type")) return FR_E_MODEL;
      fr_status st = parse_type(x, f.s, v);
      if (st != FR_OK) return st;
    }
  }
  if (k < 0) return FR_E_MODEL;
  if (!name->n) return fr__fail(x->err, FR_E_MODEL, "no name");
  return copy_name(x, *name, "the name", &v->name);
}

/* ---- the graph and the model -------------------------------------------------- */

static fr_status parse_graph(ox *x, slice body, fr__ox_model *m) {
  pb r = pb_of(body);
  pb_field f;
  int k, sparse = 0;
  size_t nn = 0, nt = 0, nin = 0, nout = 0;

  /* Pass 1: the counts. */
  while ((k = pb_next(x, &r, &f)) > 0) {
    switch (f.num) {
    case 1:
    case 5:
    case 11:
    case 12: {
      static const char *const what[13] = {[1] = "node", [5] = "initializer", [11] = "input",
                                           [12] = "output"};
      if (!want(x, &f, WT_LEN, what[f.num])) return FR_E_MODEL;
      ++*(f.num == 1 ? &nn : f.num == 5 ? &nt : f.num == 11 ? &nin : &nout);
      break;
    }
    case 15:
      if (!want(x, &f, WT_LEN, "sparse_initializer")) return FR_E_MODEL;
      sparse = 1;
      break;
    default: break; /* name, doc_string, value_info, quantization_annotation, unknown */
    }
  }
  if (k < 0) return FR_E_MODEL;
  if (sparse) return fr__fail(x->err, FR_E_UNSUPPORTED, "sparse initializers are not supported");
  if (nn > FR__OX_MAX_NODES)
    return fr__fail(x->err, FR_E_LIMIT, "%zu nodes, above the limit of %d", nn, FR__OX_MAX_NODES);
  fr_status st = count_int(x, nn, "nodes", &m->n_nodes);
  if (st == FR_OK) st = count_int(x, nt, "initializers", &m->n_inits);
  if (st == FR_OK) st = count_int(x, nin, "graph inputs", &m->n_inputs);
  if (st == FR_OK) st = count_int(x, nout, "graph outputs", &m->n_outputs);
  if (st != FR_OK) return st;
  if ((nn && !(m->nodes = alloc_array(x, nn, sizeof *m->nodes))) ||
      (nt && !(m->inits = alloc_array(x, nt, sizeof *m->inits))) ||
      (nin && !(m->inputs = alloc_array(x, nin, sizeof *m->inputs))) ||
      (nout && !(m->outputs = alloc_array(x, nout, sizeof *m->outputs))))
    return nomem(x);

  /* Pass 2: each item, named in the error when it fails. */
  size_t jn = 0, jt = 0, jin = 0, jout = 0;
  r = pb_of(body);
  while ((k = pb_next(x, &r, &f)) > 0) {
    slice nm;
    if (f.num == 1 && jn < nn) {
      if ((st = parse_node(x, f.s, &m->nodes[jn], &nm)) != FR_OK) prefix_item(x, "node", jn, nm);
      jn++;
    } else if (f.num == 5 && jt < nt) {
      if ((st = parse_tensor(x, f.s, &m->inits[jt], &nm)) != FR_OK) prefix_item(x, "initializer", jt, nm);
      jt++;
    } else if (f.num == 11 && jin < nin) {
      if ((st = parse_value(x, f.s, &m->inputs[jin], &nm)) != FR_OK) prefix_item(x, "graph input", jin, nm);
      jin++;
    } else if (f.num == 12 && jout < nout) {
      if ((st = parse_value(x, f.s, &m->outputs[jout], &nm)) != FR_OK)
        prefix_item(x, "graph output", jout, nm);
      jout++;
    }
    if (st != FR_OK) return st;
  }
  return k < 0 ? FR_E_MODEL : FR_OK;
}

/* OperatorSetIdProto: domain and version. */
static fr_status parse_opset(ox *x, slice body, slice *domain, int64_t *version) {
  pb r = pb_of(body);
  pb_field f;
  int k;
  domain->d = NULL, domain->n = 0;
  *version = 0;
  while ((k = pb_next(x, &r, &f)) > 0) {
    if (f.num == 1) {
      if (!want(x, &f, WT_LEN, "domain")) return FR_E_MODEL;
      *domain = f.s;
    } else if (f.num == 2) {
      if (!want(x, &f, WT_VARINT, "version")) return FR_E_MODEL;
      *version = (int64_t)f.v;
    }
  }
  return k < 0 ? FR_E_MODEL : FR_OK;
}

static int is_default_domain(slice d) { return d.n == 0 || (d.n == 7 && memcmp(d.d, "ai.onnx", 7) == 0); }

static fr_status parse_model(ox *x, slice body, fr__ox_model *m) {
  pb r = pb_of(body);
  pb_field f;
  int k, graphs = 0, have_opset = 0;
  size_t n_opsets = 0;
  slice graph = {NULL, 0}, producer = {NULL, 0};
  m->producer = ox_empty;
  while ((k = pb_next(x, &r, &f)) > 0) {
    switch (f.num) {
    case 1:
      if (!want(x, &f, WT_VARINT, "ir_version")) return FR_E_MODEL;
      m->ir_version = (int64_t)f.v;
      break;
    case 2:
      if (!want(x, &f, WT_LEN, "producer_name")) return FR_E_MODEL;
      producer = f.s;
      break;
    case 7:
      if (!want(x, &f, WT_LEN, "graph")) return FR_E_MODEL;
      graph = f.s;
      graphs++;
      break;
    case 8: {
      slice domain;
      int64_t version;
      if (!want(x, &f, WT_LEN, "opset_import")) return FR_E_MODEL;
      fr_status st = parse_opset(x, f.s, &domain, &version);
      if (st != FR_OK) {
        fr__error_prefix(x->err, "opset_import %zu", n_opsets);
        return st;
      }
      n_opsets++;
      if (!is_default_domain(domain)) break;
      if (have_opset && version != m->opset)
        return fr__fail(x->err, FR_E_MODEL, "the default operator set is imported twice (versions %lld and %lld)",
                        (long long)m->opset, (long long)version);
      m->opset = version;
      have_opset = 1;
      break;
    }
    default: break; /* versions, domain, doc_string, metadata, training, functions, unknown */
    }
  }
  if (k < 0) return FR_E_MODEL;
  if (!graphs) return fr__fail(x->err, FR_E_MODEL, "no graph (is this an ONNX model?)");
  if (graphs > 1) return fr__fail(x->err, FR_E_MODEL, "%d graphs, where a model has one", graphs);
  fr_status st = copy_name(x, producer, "producer_name", &m->producer);
  if (st != FR_OK) return st;
  return parse_graph(x, graph, m);
}

/* ---- the interface ----------------------------------------------------------- */

fr_status fr__ox_parse(const void *data, size_t size, fr__ox_model **out, fr_error *err) {
  if (!out) return fr__fail(err, FR_E_INVALID, "ONNX: no place for the model");
  *out = NULL;
  if (!data && size) return fr__fail(err, FR_E_INVALID, "ONNX: no data");
  if (size > FR__OX_MAX_BYTES)
    return fr__fail(err, FR_E_LIMIT, "ONNX: the file is %zu bytes, above the limit of %zu", size,
                    FR__OX_MAX_BYTES);
  /* An empty input still gets a real pointer: the reader computes d + n. */
  static const uint8_t none[1];
  slice body = {size ? data : none, size};
  ox_arena *a = fr__calloc(1, sizeof *a);
  if (!a) return fr__fail(err, FR_E_NOMEM, "ONNX: out of memory");
  /* (size <= 2^31, so this cannot overflow 64 bits; on a 32-bit system the
   * address space is the limit anyway.) */
  a->budget = size <= (SIZE_MAX - ((size_t)1 << 20)) / FR__OX_MAX_EXPANSION
                  ? size * FR__OX_MAX_EXPANSION + ((size_t)1 << 20)
                  : SIZE_MAX;
  ox x = {a, err};
  fr__ox_model *m = alloc_array(&x, 1, sizeof *m);
  fr_status st = m ? parse_model(&x, body, m) : nomem(&x);
  if (st != FR_OK) {
    fr__error_prefix(err, "ONNX");
    arena_free(a);
    return st;
  }
  m->arena = a;
  *out = m;
  return FR_OK;
}

void fr__ox_free(fr__ox_model *m) {
  if (m) arena_free(m->arena);
}

const fr__ox_attr *fr__ox_attr_find(const fr__ox_node *n, const char *name) {
  if (!n || !name) return NULL;
  for (int k = 0; k < n->n_attrs; k++)
    if (strcmp(n->attrs[k].name, name) == 0) return &n->attrs[k];
  return NULL;
}
