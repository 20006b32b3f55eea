/*
 * onnx_pb.h - a reader of ONNX model files: the protobuf wire format of
 * onnx.proto's ModelProto, decoded into plain C structs that the importer
 * (onnx.c) turns into an engine graph.
 *
 * Our own reader rather than libprotobuf-c: ONNX files come from users, so
 * every length, count and offset is checked against the bytes that remain,
 * and only the fields an importer needs are kept. Unknown fields are skipped
 * by wire type, as protobuf requires, so files from newer exporters still
 * read. A truncated, bit-flipped or lying file is FR_E_MODEL naming what was
 * wrong, never a crash or a read past the buffer; a well-formed file that
 * uses something we do not read (tensors stored in external files, sparse
 * initializers, string tensors) is FR_E_UNSUPPORTED naming it; one above the
 * limits below is FR_E_LIMIT.
 *
 * All strings and arrays live in one arena owned by the model and released
 * by fr__ox_free; nothing points into the caller's bytes, which may be freed
 * once fr__ox_parse returns.
 */
#ifndef FR_NN_ONNX_PB_H
#define FR_NN_ONNX_PB_H

#include "core/internal.h"

/* TensorProto.DataType values that matter here. */
enum {
  FR__OX_UNDEFINED = 0,
  FR__OX_FLOAT = 1,
  FR__OX_UINT8 = 2,
  FR__OX_INT8 = 3,
  FR__OX_UINT16 = 4,
  FR__OX_INT16 = 5,
  FR__OX_INT32 = 6,
  FR__OX_INT64 = 7,
  FR__OX_STRING = 8,
  FR__OX_BOOL = 9,
  FR__OX_FLOAT16 = 10,
  FR__OX_DOUBLE = 11,
  FR__OX_UINT32 = 12,
  FR__OX_UINT64 = 13
};

/* AttributeProto.AttributeType values. */
enum {
  FR__OX_ATTR_UNDEFINED = 0,
  FR__OX_ATTR_FLOAT = 1,
  FR__OX_ATTR_INT = 2,
  FR__OX_ATTR_STRING = 3,
  FR__OX_ATTR_TENSOR = 4,
  FR__OX_ATTR_GRAPH = 5,
  FR__OX_ATTR_FLOATS = 6,
  FR__OX_ATTR_INTS = 7,
  FR__OX_ATTR_STRINGS = 8,
  FR__OX_ATTR_TENSORS = 9, /* the type given to an untyped attribute with `tensors` */
  FR__OX_ATTR_GRAPHS = 10  /* ... or with `graphs` (has_graph is set) */
};

/* Limits: a file beyond them is FR_E_LIMIT. */
#define FR__OX_MAX_DIMS 8              /* rank of any tensor or value */
#define FR__OX_MAX_NODES 100000        /* nodes of the main graph */
#define FR__OX_MAX_BYTES ((size_t)1 << 31) /* the file itself */
/* What reading may allocate: this many times the file's size, plus 1 MiB. A
 * real model needs at most about 8 (int8 weights become int64); a file of
 * millions of empty items would need 50. */
#define FR__OX_MAX_EXPANSION 16

/*
 * An initializer, a Constant's value or a tensor attribute. The values are
 * converted on reading, so the importer sees two kinds only: f holds them for
 * FLOAT, FLOAT16 and DOUBLE; i holds them for every integer type and BOOL.
 * Exactly `count` = product(dims) elements (1 for rank 0); the other pointer
 * is NULL. The data may come from raw_data (little-endian) or from the typed
 * repeated fields (float_data, int32_data, int64_data, double_data,
 * uint64_data); a count that does not match the dims is FR_E_MODEL.
 */
typedef struct fr__ox_tensor {
  const char *name; /* "" when the file gives none */
  int dtype;        /* FR__OX_* as in the file */
  int ndims;
  int64_t dims[FR__OX_MAX_DIMS]; /* each >= 0 */
  size_t count;
  float *f;
  int64_t *i;
} fr__ox_tensor;

/* One attribute. `type` is the file's AttributeProto.type, or when the file
 * leaves it out (old exporters), the type of the field that was set. */
typedef struct fr__ox_attr {
  const char *name;
  int type;
  float f;
  int64_t i;
  const char *s; /* bytes, NUL-terminated (s_len excludes the NUL); "" if unset */
  size_t s_len;
  float *floats; /* NULL when n_floats is 0 (memcpy from it needs a check) */
  int n_floats;
  int64_t *ints; /* NULL when n_ints is 0 */
  int n_ints;
  fr__ox_tensor *t; /* FR__OX_ATTR_TENSOR, else NULL */
  /* FR__OX_ATTR_GRAPH (If and Loop bodies): subgraphs are not read, so a
   * node that has one is unsupported by the importer. */
  int has_graph;
} fr__ox_attr;

typedef struct fr__ox_node {
  const char *name;    /* "" when unnamed */
  const char *op_type;
  const char *domain;  /* "" for the default domain */
  const char **inputs; /* "" for an omitted optional input */
  int n_inputs;
  const char **outputs;
  int n_outputs;
  fr__ox_attr *attrs;
  int n_attrs;
} fr__ox_node;

/* A graph input or output (ValueInfoProto). */
typedef struct fr__ox_value {
  const char *name;
  int dtype;  /* FR__OX_*, 0 when not given */
  int ndims;  /* -1 when the shape is not given */
  int64_t dims[FR__OX_MAX_DIMS]; /* -1 for a symbolic (dim_param) or missing dimension */
} fr__ox_value;

typedef struct fr__ox_model {
  int64_t ir_version;
  /* The version of the default operator set ("" or "ai.onnx") among the
   * opset_import entries; 0 when none is listed. */
  int64_t opset;
  const char *producer; /* producer_name, "" when absent */
  fr__ox_node *nodes; /* the main graph's, in file order */
  int n_nodes;
  fr__ox_tensor *inits; /* the main graph's initializers */
  int n_inits;
  /* The graph's inputs as listed (older files also list the initializers
   * here; the importer skips those) and its outputs. */
  fr__ox_value *inputs;
  int n_inputs;
  fr__ox_value *outputs;
  int n_outputs;
  void *arena; /* private: everything above lives here */
} fr__ox_model;

/* Parses a ModelProto held in memory. On success *out is a model the caller
 * releases with fr__ox_free; on failure *out is NULL. Thread-safe. */
fr_status fr__ox_parse(const void *data, size_t size, fr__ox_model **out, fr_error *err);

void fr__ox_free(fr__ox_model *m);

/* The attribute called name of node n, or NULL. */
const fr__ox_attr *fr__ox_attr_find(const fr__ox_node *n, const char *name);

#endif
