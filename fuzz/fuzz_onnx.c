/*
 * fuzz_onnx.c - libFuzzer target: ONNX models, an input being the .onnx file.
 * Both layers are fuzzed, one after the other, on the same bytes:
 *
 * 1. The protobuf reader (src/nn/onnx_pb.c, fr__ox_parse). A failure must be
 *    FR_E_MODEL, FR_E_UNSUPPORTED, FR_E_LIMIT or FR_E_NOMEM, leave no model,
 *    and carry its status and an "ONNX: " message. A success must keep every
 *    promise of onnx_pb.h: counts within the limits, every string and array
 *    readable to its stated length, each tensor's count the product of its
 *    dims with exactly the one value array its data type calls for.
 * 2. The importer on top (src/nn/onnx.c, fr__onnx_load, no options). A
 *    failure must have a status facerec.h defines other than FR_E_INTERNAL,
 *    with a message, and leave the netfile empty; a graph that imports is
 *    planned and run at its own input size (when the model fixes it) and at
 *    12x12, like fuzz_tflite's graphs: a plan may be refused, never crash.
 *
 * FUZZ_ONNX_READER_ONLY=1 in the environment skips layer 2, to fuzz the
 * reader alone (faster, and not stopped by importer findings).
 *
 * Self-contained (no fuzz.h): it needs nothing but the library. The seeds are
 * written by fuzz/mkonnx.py into build-fuzz/regress-onnx, which fuzz/run.sh
 * reads as a second corpus (ONNX files are not committed).
 */
#include "nn/onnx.h"
#include "nn/onnx_pb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void violated(const char *what, const fr_error *err) {
  fprintf(stderr, "\nfuzz_onnx: %s (%s)\n", what, err ? err->message : "");
  abort();
}

/* Reads n bytes, so that AddressSanitizer sees a short array right here. */
static void touch(const void *p, size_t n) {
  volatile uint8_t sink = 0;
  uint8_t acc = 0;
  for (size_t k = 0; k < n; k++) acc ^= ((const uint8_t *)p)[k];
  sink = acc;
  (void)sink;
}

static void check_string(const char *s, const char *what) {
  if (!s) violated(what, NULL);
  touch(s, strlen(s) + 1);
}

static void check_tensor(const fr__ox_tensor *t) {
  check_string(t->name, "a tensor without a name string");
  if (t->ndims < 0 || t->ndims > FR__OX_MAX_DIMS) violated("a tensor's rank out of range", NULL);
  size_t count = 1;
  for (int d = 0; d < t->ndims; d++) {
    if (t->dims[d] < 0) violated("a negative tensor dimension", NULL);
    count *= (size_t)t->dims[d];
  }
  if (count != t->count) violated("a tensor's count is not the product of its dims", NULL);
  int is_float = t->dtype == FR__OX_FLOAT || t->dtype == FR__OX_FLOAT16 || t->dtype == FR__OX_DOUBLE;
  if (is_float ? (!t->f || t->i) : (!t->i || t->f)) violated("a tensor's value arrays do not match its type", NULL);
  if (t->f) touch(t->f, t->count * sizeof *t->f);
  if (t->i) touch(t->i, t->count * sizeof *t->i);
}

static void check_value(const fr__ox_value *v) {
  check_string(v->name, "a graph input or output without a name string");
  if (!v->name[0]) violated("a graph input or output with an empty name", NULL);
  if (v->ndims < -1 || v->ndims > FR__OX_MAX_DIMS) violated("a value's rank out of range", NULL);
  for (int d = 0; d < v->ndims; d++)
    if (v->dims[d] < -1) violated("a value dimension below -1", NULL);
}

static void check_model(const fr__ox_model *m) {
  check_string(m->producer, "no producer string");
  if (m->n_nodes < 0 || m->n_nodes > FR__OX_MAX_NODES || (m->n_nodes && !m->nodes))
    violated("bad node array", NULL);
  if (m->n_inits < 0 || (m->n_inits && !m->inits) || m->n_inputs < 0 || (m->n_inputs && !m->inputs) ||
      m->n_outputs < 0 || (m->n_outputs && !m->outputs))
    violated("bad initializer, input or output array", NULL);
  for (int k = 0; k < m->n_nodes; k++) {
    const fr__ox_node *n = &m->nodes[k];
    check_string(n->name, "a node without a name string");
    check_string(n->domain, "a node without a domain string");
    check_string(n->op_type, "a node without an op_type");
    if (!n->op_type[0]) violated("a node with an empty op_type", NULL);
    if (n->n_inputs < 0 || n->n_outputs < 0 || n->n_attrs < 0 || (n->n_inputs && !n->inputs) ||
        (n->n_outputs && !n->outputs) || (n->n_attrs && !n->attrs))
      violated("bad node arrays", NULL);
    for (int i = 0; i < n->n_inputs; i++) check_string(n->inputs[i], "a NULL input name");
    for (int i = 0; i < n->n_outputs; i++) check_string(n->outputs[i], "a NULL output name");
    for (int i = 0; i < n->n_attrs; i++) {
      const fr__ox_attr *a = &n->attrs[i];
      check_string(a->name, "an attribute without a name string");
      if (!a->name[0]) violated("an attribute with an empty name", NULL);
      if (fr__ox_attr_find(n, a->name) == NULL) violated("fr__ox_attr_find misses an attribute", NULL);
      if (!a->s || a->s[a->s_len] != '\0') violated("an attribute string not NUL-terminated at s_len", NULL);
      touch(a->s, a->s_len + 1);
      if (a->n_floats < 0 || a->n_ints < 0 || (a->n_floats && !a->floats) || (a->n_ints && !a->ints))
        violated("bad attribute lists", NULL);
      touch(a->floats, (size_t)a->n_floats * sizeof *a->floats);
      touch(a->ints, (size_t)a->n_ints * sizeof *a->ints);
      if ((a->t != NULL) != (a->type == FR__OX_ATTR_TENSOR)) violated("t set for a type other than TENSOR, or missing", NULL);
      if ((a->type == FR__OX_ATTR_GRAPH || a->type == FR__OX_ATTR_GRAPHS) && !a->has_graph)
        violated("a graph attribute without has_graph", NULL);
      if (a->t) check_tensor(a->t);
    }
  }
  for (int k = 0; k < m->n_inits; k++) check_tensor(&m->inits[k]);
  for (int k = 0; k < m->n_inputs; k++) check_value(&m->inputs[k]);
  for (int k = 0; k < m->n_outputs; k++) check_value(&m->outputs[k]);
}

/* Layer 1: the reader alone. */
static void fuzz_reader(const uint8_t *data, size_t size) {
  fr_error err;
  memset(&err, 0, sizeof err);
  fr__ox_model *m = (fr__ox_model *)(uintptr_t)1; /* must become NULL on failure */
  fr_status st = fr__ox_parse(data, size, &m, &err);
  if (st != FR_OK) {
    if (st != FR_E_MODEL && st != FR_E_UNSUPPORTED && st != FR_E_LIMIT && st != FR_E_NOMEM)
      violated("a reader failure with a status onnx_pb.h does not name", &err);
    if (m != NULL) violated("a reader failure left a model", &err);
    if (err.status != st || !memchr(err.message, 0, sizeof err.message) || strncmp(err.message, "ONNX: ", 6) != 0)
      violated("a reader failure without its status and an ONNX message", &err);
    return;
  }
  if (!m) violated("a reader success without a model", NULL);
  check_model(m);
  fr__ox_free(m);
}

/* The engine's [h, w] for the model's input, when the model fixes them. */
static int input_size(const fr__io_desc *in, int *h, int *w) {
  const int64_t *d = in->dims;
  int64_t hh, ww;
  if (in->layout == FR__LAYOUT_NCHW && in->ndims == 4) {
    hh = d[2], ww = d[3];
  } else if (in->ndims == 2) {
    hh = ww = 1;
  } else if (in->ndims == 3) {
    hh = 1, ww = d[1];
  } else if (in->ndims == 4) {
    hh = d[1], ww = d[2];
  } else {
    return 0;
  }
  if (hh < 1 || ww < 1 || hh > 4096 || ww > 4096) return 0;
  *h = (int)hh, *w = (int)ww;
  return 1;
}

/* Plans, and when the plan is small runs, g at [1, h, w]. */
static void plan_and_run(const fr__graph *g, int h, int w) {
  fr__plan *p = NULL;
  fr_error err;
  memset(&err, 0, sizeof err);
  fr_status st = fr__plan_create(g, 1, h, w, 1, &p, &err);
  if (st != FR_OK) {
    if (p) violated("a failed plan returned a plan", &err);
    if (st == FR_E_INTERNAL || st > FR_OK || st < FR_E_ABORTED || err.status != st || !err.message[0])
      violated("a plan failure without a proper status and message", &err);
    return;
  }
  if (fr__plan_bytes(p) <= ((size_t)64 << 20)) {
    /* The arena starts zeroed, so the input is zeros: what matters here is
     * where the operators read and write, not the values. */
    fr__run(g, p, NULL);
    int shape[4];
    if (!fr__plan_output(p, 0, shape)) violated("a planned graph without output 0", NULL);
    if (shape[0] != 1 || shape[1] < 1 || shape[2] < 1 || shape[3] < 1)
      violated("an output with an empty shape", NULL);
  }
  fr__plan_destroy(p);
}

/* Layer 2: the importer. */
static void fuzz_importer(const uint8_t *data, size_t size) {
  fr_error err;
  memset(&err, 0, sizeof err);
  fr__netfile nf;
  memset(&nf, 0xA5, sizeof nf); /* must be emptied on failure */
  fr_status st = fr__onnx_load(data, size, NULL, "fuzz", &nf, &err);
  if (st != FR_OK) {
    if (st > FR_OK || st < FR_E_ABORTED || st == FR_E_INTERNAL)
      violated("an import failure with FR_E_INTERNAL or an unknown status", &err);
    if (err.status != st || !memchr(err.message, 0, sizeof err.message) || !err.message[0])
      violated("an import failure without its status and a message", &err);
    if (nf.graph || nf.n_outputs) violated("a failed import left a graph", &err);
    return;
  }
  if (!nf.graph || strcmp(nf.format, "onnx") != 0) violated("an import without a graph", NULL);
  if (nf.n_outputs < 1 || nf.n_outputs > 8) violated("an import with no outputs or too many", NULL);
  if (nf.input.ndims < 0 || nf.input.ndims > FR__IO_MAX_DIMS) violated("an input rank out of range", NULL);
  int h, w;
  if (input_size(&nf.input, &h, &w)) plan_and_run(nf.graph, h, w);
  plan_and_run(nf.graph, 12, 12);
  fr__netfile_release(&nf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A graph's activation memory follows from its input only at plan time,
   * and a few hostile nodes can ask for gigabytes: such plans are refused
   * (FR_E_LIMIT) instead of zeroed for seconds, as in fuzz_model. */
  static int reader_only = -1;
  if (reader_only < 0) {
    const char *e = getenv("FUZZ_ONNX_READER_ONLY");
    reader_only = e && strcmp(e, "1") == 0;
  }
  fr__plan_max_floats = (size_t)16 << 20;
  fuzz_reader(data, size);
  if (!reader_only) fuzz_importer(data, size);
  return 0;
}
