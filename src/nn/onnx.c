/*
 * onnx.c - the ONNX importer (onnx.h): walks the nodes of a parsed model
 * (onnx_pb.h) in file order, which the ONNX specification makes a
 * topological order, and emits engine nodes for them.
 *
 * Every value of the model is either a constant, known at import (the
 * initializers, Constant nodes, and everything computed only from them,
 * such as the Shape/Gather/Concat chains exporters write to feed a
 * Reshape), or a runtime tensor held by an engine tensor. Shapes are static:
 * the importer knows each runtime value's dims (the batch included, as the
 * size the graph is imported for), which is what lets it fold those shape
 * chains and map every axis of the model onto the engine's [n, h, w, c].
 *
 * A runtime value is held in one of three ways (val.layout):
 *   L_NCHW: a rank-4 value [N, C, H, W], held as the engine's [n, H, W, C].
 *           Everything convolutional stays in this form, so a network's
 *           layout is converted once, at the weights, not per run.
 *   L_ROW:  the engine holds the value's elements in the model's row-major
 *           order, its dims right-aligned into [n | h, w, c]: [N, F] is
 *           [n, 1, 1, F], [N, A, B] is [n, 1, A, B], [N, A, B, C] is
 *           [n, A, B, C]. When the value's first dim is not the batch
 *           (a Reshape to [-1, 4] at batch 1), `batched` is 0 and all its
 *           dims go right-aligned into h, w, c behind n = 1.
 *   L_FLAT: a Flatten or Reshape of an L_NCHW value [N, C, H, W] to
 *           [N, C*H*W] that has not been carried out: the engine still
 *           holds [n, H, W, C]. A Gemm or MatMul reading it permutes its
 *           weight rows instead (free); anything else makes the copy.
 */
#include "nn/onnx.h"

#include "nn/onnx_pb.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAXD FR__OX_MAX_DIMS

enum { V_CONST = 1, V_RT = 2 };
enum { L_NCHW = 1, L_ROW = 2, L_FLAT = 3 };

typedef struct val {
  const char *name;
  int kind;
  int nd;
  int64_t d[MAXD];
  /* V_CONST: exactly one of f or i (count = product of d), owned by the
   * importer's list of blocks. */
  float *f;
  int64_t *i;
  /* V_RT */
  int t;
  int layout;
  int batched;
  int es[4]; /* the engine tensor's shape [n, h, w, c] */
} val;

typedef struct block {
  struct block *next;
} block;

typedef struct imp {
  const fr__ox_model *m;
  fr__graph *g;
  const char *label;
  fr_error *err;
  int failed;
  int cur; /* the node being imported, for messages */
  int64_t batch;
  int64_t opset;
  val *v;
  int nv, capv;
  int *hash; /* open addressing over v, by name */
  int hcap;
  /* Per node: uses of each output (by consumer count), skip flags for
   * nodes fused into an earlier one, and convolutions waiting for the
   * residual operand of the Add they will absorb. */
  char *skip;
  int *pending;
  block *blocks;
  /* How many nodes read each value, and the last of them (graph outputs
   * count twice, so they are never folded away), keyed like hash. */
  struct reader {
    const char *name;
    int count, last;
  } *rd;
} imp;

/* ---- errors ------------------------------------------------------------- */

static int fail(imp *I, fr_status st, const char *fmt, ...) FR__PRINTF(3, 4);
static int fail(imp *I, fr_status st, const char *fmt, ...) {
  if (I->failed) return -1;
  I->failed = 1;
  char msg[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (I->cur >= 0 && I->cur < I->m->n_nodes) {
    const fr__ox_node *n = &I->m->nodes[I->cur];
    fr__fail(I->err, st, "%s: node %d (%s%s%s): %s", I->label, I->cur, n->op_type,
             n->name[0] ? " " : "", n->name, msg);
  } else {
    fr__fail(I->err, st, "%s: %s", I->label, msg);
  }
  return -1;
}

static int unsupported(imp *I, const char *what) {
  return fail(I, FR_E_UNSUPPORTED, "unsupported: %s", what);
}

/* ---- memory ------------------------------------------------------------- */

static void *imp_alloc(imp *I, size_t bytes) {
  if (bytes > ((size_t)1 << 34)) {
    fail(I, FR_E_LIMIT, "a constant of %zu bytes", bytes);
    return NULL;
  }
  block *b = fr__malloc(sizeof(block) + 64 + bytes);
  if (!b) {
    fail(I, FR_E_NOMEM, "out of memory");
    return NULL;
  }
  b->next = I->blocks;
  I->blocks = b;
  /* 64 bytes after the header keeps the data aligned for any type. */
  return (char *)b + 64;
}

static float *falloc(imp *I, size_t n) { return imp_alloc(I, (n ? n : 1) * sizeof(float)); }
static int64_t *ialloc(imp *I, size_t n) { return imp_alloc(I, (n ? n : 1) * sizeof(int64_t)); }

/* ---- values ------------------------------------------------------------- */

static uint32_t hash_str(const char *s) {
  uint32_t h = 2166136261u;
  while (*s) h = (h ^ (uint8_t)*s++) * 16777619u;
  return h;
}

static val *find(imp *I, const char *name) {
  if (!name || !name[0]) return NULL;
  uint32_t h = hash_str(name) & (uint32_t)(I->hcap - 1);
  while (I->hash[h] >= 0) {
    val *v = &I->v[I->hash[h]];
    if (strcmp(v->name, name) == 0) return v;
    h = (h + 1) & (uint32_t)(I->hcap - 1);
  }
  return NULL;
}

/* A new value called name. ONNX graphs assign each name once; a second
 * producer of a name is a broken or hostile file. */
static val *add(imp *I, const char *name) {
  if (I->failed) return NULL;
  if (!name || !name[0]) {
    fail(I, FR_E_MODEL, "a value without a name");
    return NULL;
  }
  if (find(I, name)) {
    fail(I, FR_E_MODEL, "value '%s' is produced twice", name);
    return NULL;
  }
  if (I->nv == I->capv || 2 * (I->nv + 1) > I->hcap) {
    fail(I, FR_E_LIMIT, "too many values");
    return NULL;
  }
  val *v = &I->v[I->nv];
  memset(v, 0, sizeof *v);
  v->name = name;
  uint32_t h = hash_str(name) & (uint32_t)(I->hcap - 1);
  while (I->hash[h] >= 0) h = (h + 1) & (uint32_t)(I->hcap - 1);
  I->hash[h] = I->nv++;
  return v;
}

static size_t numel(const int64_t *d, int nd) {
  size_t n = 1;
  for (int k = 0; k < nd; k++) n *= (size_t)d[k];
  return n;
}

/* Input k of node n, which must exist; NULL (error recorded) if not. */
static val *in(imp *I, const fr__ox_node *n, int k) {
  if (k >= n->n_inputs || !n->inputs[k][0]) {
    fail(I, FR_E_MODEL, "input %d is missing", k);
    return NULL;
  }
  val *v = find(I, n->inputs[k]);
  if (!v) fail(I, FR_E_MODEL, "input '%s' is not produced before it is used", n->inputs[k]);
  return v;
}

/* Optional input k: NULL when absent (no error) or unknown (error). */
static val *opt_in(imp *I, const fr__ox_node *n, int k) {
  if (k >= n->n_inputs || !n->inputs[k][0]) return NULL;
  return in(I, n, k);
}

static val *new_const(imp *I, const char *name, int nd, const int64_t *d, int is_float) {
  if (nd < 0 || nd > MAXD) {
    fail(I, FR_E_UNSUPPORTED, "a constant of rank %d", nd);
    return NULL;
  }
  size_t n = 1;
  for (int k = 0; k < nd; k++) {
    if (d[k] < 0 || (d[k] > 0 && n > ((size_t)1 << 32) / (size_t)d[k])) {
      fail(I, FR_E_LIMIT, "a constant of too many elements");
      return NULL;
    }
    n *= (size_t)d[k];
  }
  void *data = is_float ? (void *)falloc(I, n) : (void *)ialloc(I, n);
  if (!data) return NULL;
  val *v = add(I, name);
  if (!v) return NULL;
  v->kind = V_CONST;
  v->nd = nd;
  if (nd > 0) memcpy(v->d, d, (size_t)nd * sizeof *d);
  if (is_float)
    v->f = data;
  else
    v->i = data;
  return v;
}

/* A float as an integer, saturated: a file may hold any float where an
 * integer is meant, and converting one out of int64's range is undefined. */
static int64_t to_i64(double x) {
  if (!(x == x)) return 0;
  const double lim = 4611686018427387904.0; /* 2^62 */
  if (x > lim) return (int64_t)1 << 62;
  if (x < -lim) return -((int64_t)1 << 62);
  return (int64_t)x;
}

/* Element o of constant y = x, as y's kind holds it. */
static void cset(val *y, size_t o, double x) {
  if (y->f)
    y->f[o] = (float)x;
  else
    y->i[o] = to_i64(x);
}

/* Element o of constant y = element src of constant a (of the same kind). */
static void ccopy(val *y, size_t o, const val *a, size_t src) {
  if (a->f)
    y->f[o] = a->f[src];
  else
    y->i[o] = a->i[src];
}

static double cget(const val *c, size_t k) { return c->f ? (double)c->f[k] : (double)c->i[k]; }

/* The constant's values as integers (floats truncated); at most max. */
static int cints(imp *I, const val *c, int64_t *out, int max) {
  if (!c || c->kind != V_CONST) return fail(I, FR_E_UNSUPPORTED, "an operand that must be constant is computed at run time");
  size_t n = numel(c->d, c->nd);
  if (n > (size_t)max) return fail(I, FR_E_UNSUPPORTED, "a list of %zu values", n);
  for (size_t k = 0; k < n; k++) out[k] = c->i ? c->i[k] : to_i64(c->f[k]);
  return (int)n;
}

/* ---- attributes ---------------------------------------------------------- */

static int64_t ai(const fr__ox_node *n, const char *name, int64_t def) {
  const fr__ox_attr *a = fr__ox_attr_find(n, name);
  return a ? a->i : def;
}

static float af(const fr__ox_node *n, const char *name, float def) {
  const fr__ox_attr *a = fr__ox_attr_find(n, name);
  return a ? a->f : def;
}

static const char *as(const fr__ox_node *n, const char *name, const char *def) {
  const fr__ox_attr *a = fr__ox_attr_find(n, name);
  return a ? a->s : def;
}

/* An ints attribute into out (at most max); -1 if longer; 0 if absent. */
static int aints(const fr__ox_node *n, const char *name, int64_t *out, int max) {
  const fr__ox_attr *a = fr__ox_attr_find(n, name);
  if (!a) return 0;
  if (a->n_ints > max) return -1;
  if (a->n_ints > 0) memcpy(out, a->ints, (size_t)a->n_ints * sizeof *out);
  return a->n_ints;
}

/* ---- runtime values ------------------------------------------------------ */

/* The engine shape a runtime value is held in. */
static void eshape(const imp *I, const val *v, int es[4]) {
  es[0] = es[1] = es[2] = es[3] = 1;
  if (v->layout == L_NCHW) {
    es[0] = (int)v->d[0], es[1] = (int)v->d[2], es[2] = (int)v->d[3], es[3] = (int)v->d[1];
    return;
  }
  if (v->layout == L_FLAT) return; /* not used: see materialize */
  (void)I;
  int first = v->batched ? 1 : 0;
  if (v->batched) es[0] = (int)v->d[0];
  int span = v->nd - first;
  for (int k = 0; k < span; k++) es[4 - span + k] = (int)v->d[first + k];
}

/* The engine axis of the value's axis a (already made non-negative), or -1
 * when it has none (an L_ROW value's batch). */
static int eaxis(const val *v, int a) {
  if (v->layout == L_NCHW) return a == 0 ? 0 : (a == 1 ? FR__AXIS_C : a - 1);
  if (v->batched) return a == 0 ? 0 : 4 - v->nd + a;
  return 4 - v->nd + a;
}

/* Checks that a runtime value of these dims can be held (rank 1..4, or up
 * to 3 when not batched; each dim positive and bounded). */
static int dims_ok(imp *I, int nd, const int64_t *d, int batched) {
  if (nd < 1 || nd > (batched ? 4 : 3))
    return fail(I, FR_E_UNSUPPORTED, "a computed tensor of rank %d", nd), 0;
  for (int k = 0; k < nd; k++)
    if (d[k] < 1 || d[k] > (1 << 24))
      return fail(I, FR_E_UNSUPPORTED, "a computed tensor with dimension %lld",
                  (long long)d[k]), 0;
  return 1;
}

static val *set_rt(imp *I, const char *name, int t, int layout, int nd, const int64_t *d,
                   int batched) {
  if (t < 0 || I->failed) {
    if (!I->failed) fail(I, FR_E_MODEL, "the engine refused the node");
    return NULL;
  }
  if (!dims_ok(I, nd, d, batched)) return NULL;
  val *v = add(I, name);
  if (!v) return NULL;
  v->kind = V_RT;
  v->t = t;
  v->layout = layout;
  v->nd = nd;
  memcpy(v->d, d, (size_t)nd * sizeof *d);
  v->batched = batched;
  eshape(I, v, v->es);
  return v;
}

/* Engine reshape to the shape es when the tensor's current shape differs. */
static int ereshape(imp *I, int t, const int cur[4], const int es[4]) {
  if (cur[1] == es[1] && cur[2] == es[2] && cur[3] == es[3]) return t;
  (void)I;
  return fr__reshape(I->g, t, es[1], es[2], es[3]);
}

/* The value as L_ROW (its elements in row-major order). An L_NCHW value
 * with H = W = 1 already is; others are transposed. */
static int to_row(imp *I, val *v, val *out) {
  *out = *v;
  if (v->layout == L_ROW) return 1;
  int t;
  if (v->layout == L_FLAT) {
    /* engine [n, H, W, C] -> [n, C, H, W] order, then [n, 1, 1, CHW]. The
     * pending flatten remembers C, H and W in d[2..4]. */
    int perm[4] = {0, 3, 1, 2};
    int C = (int)v->d[2], H = (int)v->d[3], W = (int)v->d[4];
    t = fr__transpose(I->g, v->t, perm, W);
    t = fr__reshape(I->g, t, 1, 1, C * H * W);
    out->t = t;
    out->layout = L_ROW;
    out->nd = 2;
    out->d[1] = (int64_t)C * H * W;
    eshape(I, out, out->es);
    return t >= 0 ? 1 : (fail(I, FR_E_MODEL, "the engine refused a flatten"), 0);
  }
  /* L_NCHW with H = W = 1 is already in row-major order; its engine shape
   * stays [n, 1, 1, C] (es), which is what later reshapes start from. */
  if (v->d[2] == 1 && v->d[3] == 1) {
    out->layout = L_ROW;
    out->batched = 1;
    return 1;
  }
  int perm[4] = {0, 3, 1, 2};
  t = fr__transpose(I->g, v->t, perm, (int)v->d[3]);
  if (t < 0) return fail(I, FR_E_MODEL, "the engine refused a transpose"), 0;
  out->t = t;
  out->layout = L_ROW;
  out->batched = 1;
  eshape(I, out, out->es);
  return 1;
}

/* The value as L_NCHW: rank 4 and batched. */
static int to_nchw(imp *I, val *v, val *out) {
  *out = *v;
  if (v->layout == L_NCHW) return 1;
  if (v->layout == L_FLAT || v->nd != 4 || !v->batched)
    return unsupported(I, "a convolutional operator on a tensor that is not [N, C, H, W]"), 0;
  out->layout = L_NCHW;
  int es[4], t;
  eshape(I, out, es);
  if (v->d[2] == 1 && v->d[3] == 1) {
    /* [N, C, 1, 1]: the same order, only the engine shape changes. */
    t = ereshape(I, v->t, v->es, es);
  } else {
    /* L_ROW [N, C, H, W]: engine [n, C, H, W] -> [n, H, W, C]. */
    int perm[4] = {0, 2, 3, 1};
    t = fr__transpose(I->g, v->t, perm, (int)v->d[1]);
  }
  if (t < 0) return fail(I, FR_E_MODEL, "the engine refused a transpose"), 0;
  out->t = t;
  memcpy(out->es, es, sizeof es);
  return 1;
}

/* Makes a runtime value of logical dims d (rank nd) from the L_ROW value
 * src holding the same elements in the same order (a reshape). */
static val *row_reshape(imp *I, const char *name, const val *src, int nd, const int64_t *d,
                        int batched) {
  if (!dims_ok(I, nd, d, batched)) return NULL;
  val tmp = {0};
  tmp.layout = L_ROW;
  tmp.nd = nd;
  memcpy(tmp.d, d, (size_t)nd * sizeof *d);
  tmp.batched = batched;
  int es[4];
  eshape(I, &tmp, es);
  if (batched != src->batched && I->batch != 1)
    return fail(I, FR_E_UNSUPPORTED, "a reshape that mixes the batch with other axes (import at batch 1)"), NULL;
  int t = ereshape(I, src->t, src->es, es);
  return set_rt(I, name, t, L_ROW, nd, d, batched);
}

/* ---- constants: folding -------------------------------------------------- */

/* Broadcast dims of a and b (numpy rules) into out; the rank, or -1. */
static int bcast_dims(const int64_t *a, int na, const int64_t *b, int nb, int64_t *out) {
  int n = na > nb ? na : nb;
  for (int k = 0; k < n; k++) {
    int64_t x = k < n - na ? 1 : a[k - (n - na)];
    int64_t y = k < n - nb ? 1 : b[k - (n - nb)];
    if (x != y && x != 1 && y != 1) return -1;
    out[k] = x == 1 ? y : x;
  }
  return n;
}

/* Index into a (rank na, right-aligned in rank n) of the output's flat
 * index o over dims od. */
static size_t bcast_index(size_t o, const int64_t *od, int n, const int64_t *a, int na) {
  size_t idx = 0, stride = 1;
  for (int k = n - 1; k >= 0; k--) {
    size_t coord = o % (size_t)od[k];
    o /= (size_t)od[k];
    int ka = k - (n - na);
    if (ka >= 0) {
      if (a[ka] != 1) idx += coord * stride;
      stride *= (size_t)a[ka];
    }
  }
  return idx;
}

static double binop(const char *op, double a, double b, int ints) {
  switch (op[0]) {
  case 'A': return a + b;
  case 'S': return a - b;
  case 'M':
    if (op[1] == 'u') return a * b;
    if (op[1] == 'a') return a > b ? a : b;
    return a < b ? a : b;
  case 'D':
    if (ints) return to_i64(b) == 0 ? 0 : (double)(to_i64(a) / to_i64(b));
    return a / b;
  case 'P': return pow(a, b);
  case 'E': return a == b;
  default: return 0;
  }
}

static val *fold_binary(imp *I, const fr__ox_node *n, const val *a, const val *b) {
  int64_t d[MAXD];
  int nd = bcast_dims(a->d, a->nd, b->d, b->nd, d);
  if (nd < 0) return fail(I, FR_E_MODEL, "constants that do not broadcast"), NULL;
  int ints = a->i && b->i;
  val *y = new_const(I, n->outputs[0], nd, d, !ints);
  if (!y) return NULL;
  size_t cnt = numel(d, nd);
  for (size_t o = 0; o < cnt; o++) {
    double r = binop(n->op_type, cget(a, bcast_index(o, d, nd, a->d, a->nd)),
                     cget(b, bcast_index(o, d, nd, b->d, b->nd)), ints);
    cset(y, o, r);
  }
  return y;
}

static int norm_axis(imp *I, int64_t a, int rank) {
  if (a < 0) a += rank;
  if (a < 0 || a >= rank) return fail(I, FR_E_MODEL, "axis %lld out of range", (long long)a);
  return (int)a;
}

/* Copies a constant to a new one of the same data (for Identity-like ops). */
static val *cconst_copy(imp *I, const char *name, const val *c, int nd, const int64_t *d) {
  val *y = new_const(I, name, nd, d, c->f != NULL);
  if (!y) return NULL;
  size_t cnt = numel(d, nd);
  if (c->f)
    memcpy(y->f, c->f, cnt * sizeof(float));
  else
    memcpy(y->i, c->i, cnt * sizeof(int64_t));
  return y;
}

/* Resolves a Reshape target (0 copies, -1 is inferred) for count elements
 * of input dims d. */
static int reshape_target(imp *I, const int64_t *shape, int ns, const int64_t *d, int nd,
                          size_t count, int allowzero, int64_t *out) {
  int neg = -1;
  size_t prod = 1;
  for (int k = 0; k < ns; k++) {
    int64_t s = shape[k];
    if (s == 0 && !allowzero) {
      if (k >= nd) return fail(I, FR_E_MODEL, "reshape copies a dimension the input lacks");
      s = d[k];
    }
    if (s == -1) {
      if (neg >= 0) return fail(I, FR_E_MODEL, "reshape with two -1");
      neg = k;
      out[k] = 1;
      continue;
    }
    if (s < 0) return fail(I, FR_E_MODEL, "reshape to a negative dimension");
    if (s > ((int64_t)1 << 40)) return fail(I, FR_E_MODEL, "reshape to a dimension of %lld", (long long)s);
    out[k] = s;
    prod *= (size_t)s;
    if (prod > ((size_t)1 << 40)) return fail(I, FR_E_MODEL, "reshape to too many elements");
  }
  if (neg >= 0) {
    if (prod == 0 || count % prod) return fail(I, FR_E_MODEL, "reshape of %zu elements", count);
    out[neg] = (int64_t)(count / prod);
  } else if (prod != count) {
    return fail(I, FR_E_MODEL, "reshape of %zu elements to %zu", count, prod);
  }
  return ns;
}

/* Slice parameters for one axis, ONNX's clamping rules; returns the count. */
static int64_t slice_axis(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *first) {
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  if (step > 0) {
    start = start < 0 ? 0 : (start > dim ? dim : start);
    end = end < 0 ? 0 : (end > dim ? dim : end);
    *first = start;
    return end > start ? (end - start + step - 1) / step : 0;
  }
  start = start < 0 ? -1 : (start > dim - 1 ? dim - 1 : start);
  end = end < -1 ? -1 : (end > dim - 1 ? dim - 1 : end);
  *first = start;
  return start > end ? (start - end + (-step) - 1) / (-step) : 0;
}

/* Reads Slice's starts/ends/axes/steps (inputs from opset 10, attributes
 * before) for a value of rank nd into per-axis first/count/step. */
static int slice_params(imp *I, const fr__ox_node *n, int nd, const int64_t *d, int64_t *first,
                        int64_t *count, int64_t *step) {
  int64_t st[MAXD], en[MAXD], ax[MAXD], sp[MAXD];
  int ns, ne, na, np = 0;
  if (I->opset < 10) {
    ns = aints(n, "starts", st, MAXD);
    ne = aints(n, "ends", en, MAXD);
    na = aints(n, "axes", ax, MAXD);
  } else {
    ns = cints(I, in(I, n, 1), st, MAXD);
    ne = cints(I, in(I, n, 2), en, MAXD);
    val *a = opt_in(I, n, 3), *s = opt_in(I, n, 4);
    na = a ? cints(I, a, ax, MAXD) : 0;
    np = s ? cints(I, s, sp, MAXD) : 0;
  }
  if (I->failed) return 0;
  if (ns != ne || ns < 0 || (na && na != ns) || (np && np != ns))
    return fail(I, FR_E_MODEL, "slice lists of different lengths"), 0;
  for (int k = 0; k < nd; k++) first[k] = 0, count[k] = d[k], step[k] = 1;
  for (int k = 0; k < ns; k++) {
    int a = norm_axis(I, na ? ax[k] : k, nd);
    if (a < 0) return 0;
    int64_t s = np ? sp[k] : 1;
    if (s == 0) return fail(I, FR_E_MODEL, "slice step 0"), 0;
    if (s > ((int64_t)1 << 31) || s < -((int64_t)1 << 31))
      return fail(I, FR_E_UNSUPPORTED, "unsupported: a slice step of %lld", (long long)s), 0;
    step[a] = s;
    count[a] = slice_axis(d[a], st[k], en[k], s, &first[a]);
  }
  return 1;
}

/* Flat index of coordinates c over dims d. */
static size_t flat_at(const int64_t *c, const int64_t *d, int nd) {
  size_t idx = 0;
  for (int k = 0; k < nd; k++) idx = idx * (size_t)d[k] + (size_t)c[k];
  return idx;
}

/* Folds a node whose inputs are all constant. Returns 1 if folded, 0 if
 * the operator is not one that folds (the caller then reports it). */
static int fold(imp *I, const fr__ox_node *n) {
  const char *op = n->op_type;
  val *a = n->n_inputs > 0 ? opt_in(I, n, 0) : NULL;
  if (I->failed) return 1;
  if (!strcmp(op, "Identity") || !strcmp(op, "Dropout") || !strcmp(op, "Cast") ||
      !strcmp(op, "Floor") || !strcmp(op, "Ceil") || !strcmp(op, "Neg") ||
      !strcmp(op, "Sqrt") || !strcmp(op, "Not")) {
    if (!a) return fail(I, FR_E_MODEL, "no input"), 1;
    int to_float = a->f != NULL;
    if (!strcmp(op, "Cast")) {
      int64_t to = ai(n, "to", FR__OX_FLOAT);
      to_float = to == FR__OX_FLOAT || to == FR__OX_FLOAT16 || to == FR__OX_DOUBLE;
    }
    if (!strcmp(op, "Sqrt")) to_float = 1;
    val *y = new_const(I, n->outputs[0], a->nd, a->d, to_float);
    if (!y) return 1;
    size_t cnt = numel(a->d, a->nd);
    for (size_t k = 0; k < cnt; k++) {
      double x = cget(a, k);
      if (!strcmp(op, "Floor")) x = floor(x);
      if (!strcmp(op, "Ceil")) x = ceil(x);
      if (!strcmp(op, "Neg")) x = -x;
      if (!strcmp(op, "Sqrt")) x = sqrt(x);
      if (!strcmp(op, "Not")) x = x == 0;
      cset(y, k, x);
    }
    return 1;
  }
  if (!strcmp(op, "Add") || !strcmp(op, "Sub") || !strcmp(op, "Mul") || !strcmp(op, "Div") ||
      !strcmp(op, "Pow") || !strcmp(op, "Equal") || !strcmp(op, "Max") || !strcmp(op, "Min")) {
    val *b = in(I, n, 1);
    if (a && b) {
      val *y = fold_binary(I, n, a, b);
      if (y && !strcmp(op, "Equal") && y->f) {
        /* Equal gives booleans, held as integers. */
        size_t cnt = numel(y->d, y->nd);
        int64_t *iv = ialloc(I, cnt);
        if (iv) {
          for (size_t k = 0; k < cnt; k++) iv[k] = y->f[k] != 0.f;
          y->i = iv;
          y->f = NULL;
        }
      }
    }
    return 1;
  }
  if (!strcmp(op, "Where")) {
    val *x = in(I, n, 1), *y = in(I, n, 2);
    if (!a || !x || !y) return 1;
    int64_t d[MAXD], d2[MAXD];
    int nd = bcast_dims(a->d, a->nd, x->d, x->nd, d);
    if (nd >= 0) nd = bcast_dims(d, nd, y->d, y->nd, d2);
    if (nd < 0) return fail(I, FR_E_MODEL, "constants that do not broadcast"), 1;
    int ints = x->i && y->i;
    val *o = new_const(I, n->outputs[0], nd, d2, !ints);
    if (!o) return 1;
    for (size_t k = 0; k < numel(d2, nd); k++) {
      double c = cget(a, bcast_index(k, d2, nd, a->d, a->nd));
      double r = c != 0 ? cget(x, bcast_index(k, d2, nd, x->d, x->nd))
                        : cget(y, bcast_index(k, d2, nd, y->d, y->nd));
      cset(o, k, r);
    }
    return 1;
  }
  if (!strcmp(op, "Shape")) {
    if (!a) return fail(I, FR_E_MODEL, "no input"), 1;
    int64_t st = ai(n, "start", 0), en = ai(n, "end", a->nd);
    int64_t first, cnt = slice_axis(a->nd, st, en, 1, &first);
    int64_t d1 = cnt;
    val *y = new_const(I, n->outputs[0], 1, &d1, 0);
    if (y)
      for (int64_t k = 0; k < cnt; k++) y->i[k] = a->d[first + k];
    return 1;
  }
  if (!strcmp(op, "Size")) {
    if (!a) return fail(I, FR_E_MODEL, "no input"), 1;
    val *y = new_const(I, n->outputs[0], 0, NULL, 0);
    if (y) y->i[0] = (int64_t)numel(a->d, a->nd);
    return 1;
  }
  if (!strcmp(op, "Unsqueeze") || !strcmp(op, "Squeeze") || !strcmp(op, "Reshape") ||
      !strcmp(op, "Flatten")) {
    if (!a) return fail(I, FR_E_MODEL, "no input"), 1;
    int64_t d[MAXD];
    int nd;
    if (!strcmp(op, "Reshape")) {
      int64_t shape[MAXD];
      int ns = cints(I, in(I, n, 1), shape, MAXD);
      if (ns < 0) return 1;
      nd = reshape_target(I, shape, ns, a->d, a->nd, numel(a->d, a->nd),
                          (int)ai(n, "allowzero", 0), d);
      if (nd < 0) return 1;
    } else if (!strcmp(op, "Flatten")) {
      int ax = (int)ai(n, "axis", 1);
      if (ax < 0) ax += a->nd;
      if (ax < 0 || ax > a->nd) return fail(I, FR_E_MODEL, "flatten axis"), 1;
      d[0] = (int64_t)numel(a->d, ax);
      d[1] = (int64_t)numel(a->d + ax, a->nd - ax);
      nd = 2;
    } else {
      int64_t axes[MAXD];
      int na = I->opset >= 13 ? (n->n_inputs > 1 && n->inputs[1][0]
                                     ? cints(I, in(I, n, 1), axes, MAXD)
                                     : 0)
                              : aints(n, "axes", axes, MAXD);
      if (na < 0 || I->failed) return fail(I, FR_E_MODEL, "bad axes"), 1;
      if (!strcmp(op, "Squeeze")) {
        char drop[MAXD] = {0};
        for (int k = 0; k < na; k++) {
          int x = norm_axis(I, axes[k], a->nd);
          if (x < 0) return 1;
          drop[x] = 1;
        }
        nd = 0;
        for (int k = 0; k < a->nd; k++)
          if (na ? !drop[k] : a->d[k] != 1) d[nd++] = a->d[k];
      } else {
        nd = a->nd + na;
        if (nd > MAXD) return fail(I, FR_E_UNSUPPORTED, "rank above 8"), 1;
        char ins[MAXD] = {0};
        for (int k = 0; k < na; k++) {
          int x = norm_axis(I, axes[k], nd);
          if (x < 0) return 1;
          ins[x] = 1;
        }
        for (int k = 0, j = 0; k < nd; k++) d[k] = ins[k] ? 1 : a->d[j++];
      }
    }
    cconst_copy(I, n->outputs[0], a, nd, d);
    return 1;
  }
  if (!strcmp(op, "Concat")) {
    if (!a) return fail(I, FR_E_MODEL, "no input"), 1;
    int ax = norm_axis(I, ai(n, "axis", 0), a->nd);
    if (ax < 0) return 1;
    int64_t d[MAXD];
    memcpy(d, a->d, sizeof d);
    d[ax] = 0;
    int is_float = 0;
    for (int k = 0; k < n->n_inputs; k++) {
      val *b = in(I, n, k);
      if (!b) return 1;
      if (b->nd != a->nd) return fail(I, FR_E_MODEL, "concat of different ranks"), 1;
      for (int j = 0; j < a->nd; j++)
        if (j != ax && b->d[j] != a->d[j]) return fail(I, FR_E_MODEL, "concat of mismatched dims"), 1;
      d[ax] += b->d[ax];
      is_float |= b->f != NULL;
    }
    val *y = new_const(I, n->outputs[0], a->nd, d, is_float);
    if (!y) return 1;
    size_t outer = numel(d, ax), o = 0;
    for (size_t r = 0; r < outer; r++)
      for (int k = 0; k < n->n_inputs; k++) {
        val *b = find(I, n->inputs[k]);
        size_t row = numel(b->d + ax, b->nd - ax);
        for (size_t e = 0; e < row; e++, o++) {
          double x = cget(b, r * row + e);
          cset(y, o, x);
        }
      }
    return 1;
  }
  if (!strcmp(op, "Gather")) {
    val *idx = in(I, n, 1);
    if (!a || !idx) return 1;
    int ax = norm_axis(I, ai(n, "axis", 0), a->nd);
    if (ax < 0) return 1;
    int64_t d[MAXD];
    int nd = 0;
    for (int k = 0; k < ax; k++) d[nd++] = a->d[k];
    for (int k = 0; k < idx->nd; k++) d[nd++] = idx->d[k];
    for (int k = ax + 1; k < a->nd; k++) {
      if (nd == MAXD) return fail(I, FR_E_UNSUPPORTED, "rank above 8"), 1;
      d[nd++] = a->d[k];
    }
    val *y = new_const(I, n->outputs[0], nd, d, a->f != NULL);
    if (!y) return 1;
    size_t outer = numel(a->d, ax), inner = numel(a->d + ax + 1, a->nd - ax - 1);
    size_t ni = numel(idx->d, idx->nd), o = 0;
    for (size_t r = 0; r < outer; r++)
      for (size_t k = 0; k < ni; k++) {
        int64_t j = to_i64(cget(idx, k));
        if (j < 0) j += a->d[ax];
        if (j < 0 || j >= a->d[ax]) return fail(I, FR_E_MODEL, "gather index out of range"), 1;
        for (size_t e = 0; e < inner; e++, o++) {
          size_t src = (r * (size_t)a->d[ax] + (size_t)j) * inner + e;
          ccopy(y, o, a, src);
        }
      }
    return 1;
  }
  if (!strcmp(op, "Slice")) {
    if (!a) return fail(I, FR_E_MODEL, "no input"), 1;
    int64_t first[MAXD], count[MAXD], step[MAXD];
    if (!slice_params(I, n, a->nd, a->d, first, count, step)) return 1;
    val *y = new_const(I, n->outputs[0], a->nd, count, a->f != NULL);
    if (!y) return 1;
    size_t cnt = numel(count, a->nd);
    int64_t c[MAXD];
    for (size_t o = 0; o < cnt; o++) {
      size_t r = o;
      for (int k = a->nd - 1; k >= 0; k--) {
        c[k] = first[k] + (int64_t)(r % (size_t)count[k]) * step[k];
        r /= (size_t)count[k];
      }
      size_t src = flat_at(c, a->d, a->nd);
      ccopy(y, o, a, src);
    }
    return 1;
  }
  if (!strcmp(op, "Transpose")) {
    if (!a) return fail(I, FR_E_MODEL, "no input"), 1;
    int64_t perm[MAXD], d[MAXD];
    int np = aints(n, "perm", perm, MAXD);
    if (np == 0)
      for (int k = 0; k < a->nd; k++) perm[k] = a->nd - 1 - k;
    else if (np != a->nd)
      return fail(I, FR_E_MODEL, "transpose perm of the wrong length"), 1;
    for (int k = 0; k < a->nd; k++) {
      if (perm[k] < 0 || perm[k] >= a->nd) return fail(I, FR_E_MODEL, "bad perm"), 1;
      d[k] = a->d[perm[k]];
    }
    val *y = new_const(I, n->outputs[0], a->nd, d, a->f != NULL);
    if (!y) return 1;
    size_t cnt = numel(d, a->nd);
    int64_t c[MAXD], src_c[MAXD];
    for (size_t o = 0; o < cnt; o++) {
      size_t r = o;
      for (int k = a->nd - 1; k >= 0; k--) {
        c[k] = (int64_t)(r % (size_t)d[k]);
        r /= (size_t)d[k];
      }
      for (int k = 0; k < a->nd; k++) src_c[perm[k]] = c[k];
      size_t src = flat_at(src_c, a->d, a->nd);
      ccopy(y, o, a, src);
    }
    return 1;
  }
  if (!strcmp(op, "ConstantOfShape")) {
    int64_t d[MAXD];
    int nd = cints(I, a, d, MAXD);
    if (nd < 0) return 1;
    const fr__ox_attr *v = fr__ox_attr_find(n, "value");
    int is_float = !v || !v->t || v->t->f != NULL;
    val *y = new_const(I, n->outputs[0], nd, d, is_float);
    if (!y) return 1;
    double x = v && v->t && v->t->count ? (v->t->f ? v->t->f[0] : (double)v->t->i[0]) : 0.0;
    for (size_t k = 0; k < numel(d, nd); k++)
      cset(y, k, x);
    return 1;
  }
  if (!strcmp(op, "Range")) {
    val *l = in(I, n, 1), *dl = in(I, n, 2);
    if (!a || !l || !dl) return 1;
    double s = cget(a, 0), e = cget(l, 0), st = cget(dl, 0);
    if (st == 0) return fail(I, FR_E_MODEL, "range step 0"), 1;
    double cnt = ceil((e - s) / st);
    if (!(cnt >= 0)) cnt = 0; /* also NaN */
    if (cnt > (1 << 24)) return fail(I, FR_E_LIMIT, "range too long"), 1;
    int64_t d1 = (int64_t)cnt;
    val *y = new_const(I, n->outputs[0], 1, &d1, a->f != NULL);
    for (int64_t k = 0; y && k < d1; k++) {
      cset(y, (size_t)k, s + (double)k * st);
    }
    return 1;
  }
  if (!strcmp(op, "Expand")) {
    int64_t shape[MAXD], d[MAXD];
    int ns = cints(I, in(I, n, 1), shape, MAXD);
    if (!a || ns < 0) return 1;
    int nd = bcast_dims(a->d, a->nd, shape, ns, d);
    if (nd < 0) return fail(I, FR_E_MODEL, "expand to an incompatible shape"), 1;
    val *y = new_const(I, n->outputs[0], nd, d, a->f != NULL);
    for (size_t k = 0; y && k < numel(d, nd); k++) {
      size_t src = bcast_index(k, d, nd, a->d, a->nd);
      ccopy(y, k, a, src);
    }
    return 1;
  }
  return 0;
}

/* ---- emitting runtime operators ---------------------------------------- */

/* The runtime input k (converted to L_NCHW if nchw, else any form). */
static int rt_in(imp *I, const fr__ox_node *n, int k, val *out) {
  val *v = in(I, n, k);
  if (!v) return 0;
  if (v->kind != V_RT)
    return fail(I, FR_E_UNSUPPORTED, "unsupported: a constant '%s' where the operator needs a computed tensor", v->name), 0;
  *out = *v;
  return 1;
}

/* Input 0 of an elementwise or shape-agnostic operator: a runtime value,
 * with a pending flatten carried out (such operators see its elements). */
static int tensor_in(imp *I, const fr__ox_node *n, val *x) {
  if (!rt_in(I, n, 0, x)) return 0;
  return x->layout != L_FLAT || to_row(I, x, x);
}

static struct reader *reader_slot(imp *I, const char *name) {
  uint32_t h = hash_str(name) & (uint32_t)(I->hcap - 1);
  while (I->rd[h].name && strcmp(I->rd[h].name, name)) h = (h + 1) & (uint32_t)(I->hcap - 1);
  return &I->rd[h];
}

/* Counts the readers of every value once, before the walk. */
static void count_readers(imp *I) {
  for (int k = 0; k < I->m->n_nodes; k++) {
    const fr__ox_node *n = &I->m->nodes[k];
    for (int j = 0; j < n->n_inputs; j++) {
      if (!n->inputs[j][0]) continue;
      struct reader *r = reader_slot(I, n->inputs[j]);
      r->name = n->inputs[j];
      r->count++;
      r->last = k;
    }
  }
  for (int k = 0; k < I->m->n_outputs; k++) {
    struct reader *r = reader_slot(I, I->m->outputs[k].name);
    r->name = I->m->outputs[k].name;
    r->count += 2;
  }
}

/* The single node reading value name, or -1. A reader without outputs
 * (broken; refused when the walk reaches it) is never folded into anything. */
static int sole_reader(imp *I, const char *name) {
  struct reader *r = reader_slot(I, name);
  if (!r->name || r->count != 1 || I->m->nodes[r->last].n_outputs < 1) return -1;
  return r->last;
}

/* A per-channel constant operand: a scalar, or [C], [C,1,1], [1,C,1,1] for
 * a value whose channel (axis 1) has c elements. Fills out[c]. */
static int per_channel(const val *k, int c, int rank, float *out) {
  if (!k || k->kind != V_CONST) return 0;
  size_t cnt = numel(k->d, k->nd);
  if (cnt == 1) {
    for (int j = 0; j < c; j++) out[j] = (float)cget(k, 0);
    return 1;
  }
  if (cnt != (size_t)c) return 0;
  /* The c elements must sit on axis 1 of the broadcast. */
  int axis_from_end = -1;
  for (int j = 0; j < k->nd; j++)
    if (k->d[j] == c) axis_from_end = k->nd - 1 - j;
  if (axis_from_end != rank - 2) return 0;
  for (int j = 0; j < c; j++) out[j] = (float)cget(k, (size_t)j);
  return 1;
}

/* BatchNormalization's scale and shift per channel. */
static int bn_params(imp *I, const fr__ox_node *n, int c, float *scale, float *shift) {
  val *g = in(I, n, 1), *b = in(I, n, 2), *mean = in(I, n, 3), *var = in(I, n, 4);
  if (I->failed) return 0;
  if (g->kind != V_CONST || b->kind != V_CONST || mean->kind != V_CONST || var->kind != V_CONST)
    return unsupported(I, "batch normalisation with computed parameters"), 0;
  size_t cn = (size_t)c;
  if (numel(g->d, g->nd) != cn || numel(b->d, b->nd) != cn || numel(mean->d, mean->nd) != cn ||
      numel(var->d, var->nd) != cn)
    return fail(I, FR_E_MODEL, "batch normalisation parameters are not one per channel"), 0;
  double eps = af(n, "epsilon", 1e-5f);
  for (int j = 0; j < c; j++) {
    double s = cget(g, (size_t)j) / sqrt(cget(var, (size_t)j) + eps);
    scale[j] = (float)s;
    shift[j] = (float)(cget(b, (size_t)j) - cget(mean, (size_t)j) * s);
  }
  return 1;
}

/* Whether node n is an activation the engine fuses, and which. */
static int fusable_act(imp *I, const fr__ox_node *n, fr__act *act, float *alpha) {
  if (!strcmp(n->op_type, "Relu")) {
    *act = FR__ACT_RELU;
    return 1;
  }
  if (!strcmp(n->op_type, "LeakyRelu")) {
    *act = FR__ACT_LEAKY;
    *alpha = af(n, "alpha", 0.01f);
    return 1;
  }
  if (!strcmp(n->op_type, "Clip")) {
    double lo = -INFINITY, hi = INFINITY;
    if (I->opset < 11) {
      lo = af(n, "min", -INFINITY);
      hi = af(n, "max", INFINITY);
    } else {
      for (int k = 1; k < 3 && k < n->n_inputs; k++) {
        if (!n->inputs[k][0]) continue;
        val *v = find(I, n->inputs[k]);
        if (!v || v->kind != V_CONST || numel(v->d, v->nd) != 1) return 0;
        if (k == 1) lo = cget(v, 0);
        else hi = cget(v, 0);
      }
    }
    if (lo == 0 && hi == 6) {
      *act = FR__ACT_RELU6;
      return 1;
    }
    if (lo == 0 && isinf(hi) && hi > 0) {
      *act = FR__ACT_RELU;
      return 1;
    }
  }
  return 0;
}

/* When the only reader of value `out` is an activation the engine fuses,
 * takes it (act, alpha), marks it done and returns its output's name; else
 * returns out unchanged. */
static const char *fuse_act(imp *I, const char *out, fr__act *act, float *alpha) {
  int r = sole_reader(I, out);
  if (r < 0 || !fusable_act(I, &I->m->nodes[r], act, alpha)) return out;
  I->skip[r] = 2;
  return I->m->nodes[r].outputs[0];
}

/* Folds a Mul or Div of the value by a per-channel constant into
 * scale/shift; 1 if node r was such. */
static int scale_node(imp *I, const fr__ox_node *r, const char *x, int c, int rank, float *scale,
                      float *shift) {
  int is_mul = !strcmp(r->op_type, "Mul"), is_div = !strcmp(r->op_type, "Div");
  int is_add = !strcmp(r->op_type, "Add"), is_sub = !strcmp(r->op_type, "Sub");
  if ((!is_mul && !is_div && !is_add && !is_sub) || r->n_inputs != 2) return 0;
  int other = !strcmp(r->inputs[0], x) ? 1 : 0;
  if (strcmp(r->inputs[1 - other], x)) return 0;
  if ((is_div || is_sub) && other != 1) return 0;
  val *k = find(I, r->inputs[other]);
  float *kv = fr__malloc((size_t)c * sizeof *kv);
  if (!kv) return 0;
  int ok = per_channel(k, c, rank, kv);
  if (ok)
    for (int j = 0; j < c; j++) {
      if (is_mul) scale[j] *= kv[j], shift[j] *= kv[j];
      if (is_div) scale[j] /= kv[j], shift[j] /= kv[j];
      if (is_add) shift[j] += kv[j];
      if (is_sub) shift[j] -= kv[j];
    }
  fr__free(kv);
  return ok;
}

/*
 * What follows a Conv or Gemm that can fold into it: BatchNormalization,
 * a Mul/Div/Add/Sub by a per-channel constant, an Add of another tensor
 * (the residual; only for convolutions), and an activation, in that order.
 * Walks the chain of sole readers from name, marking the nodes it folds
 * (skip = 2), and returns the name of the chain's last value. residual is
 * set to the other operand of a fused Add; when that operand is computed
 * after this point, *defer_at is set to the Add's index instead and the
 * chain stops before it.
 */
static const char *fold_chain(imp *I, const char *name, int c, int rank, int allow_residual,
                              float *scale, float *shift, int *residual, int *defer_at,
                              fr__act *act, float *alpha) {
  *residual = -1;
  *act = FR__ACT_NONE;
  *alpha = 0.f;
  if (defer_at) *defer_at = -1;
  int stage = 0; /* 0: affine folds allowed; 1: after the residual */
  for (;;) {
    int r = sole_reader(I, name);
    if (r < 0) break;
    const fr__ox_node *rn = &I->m->nodes[r];
    if (rn->n_outputs < 1) break;
    if (stage == 0 && !strcmp(rn->op_type, "BatchNormalization") &&
        !strcmp(rn->inputs[0], name)) {
      float *s = fr__malloc(2 * (size_t)c * sizeof *s);
      if (!s) break;
      int ok = bn_params(I, rn, c, s, s + c);
      if (ok)
        for (int j = 0; j < c; j++) {
          scale[j] *= s[j];
          shift[j] = shift[j] * s[j] + s[c + j];
        }
      fr__free(s);
      if (!ok) break;
    } else if (stage == 0 && scale_node(I, rn, name, c, rank, scale, shift)) {
      /* folded */
    } else if (stage == 0 && allow_residual && !strcmp(rn->op_type, "Add") &&
               rn->n_inputs == 2) {
      const char *other = !strcmp(rn->inputs[0], name) ? rn->inputs[1] : rn->inputs[0];
      val *o = find(I, other);
      if (o && o->kind == V_RT && o->layout == L_NCHW) {
        *residual = o->t;
        /* The shapes must match exactly: checked by the caller. */
      } else if (!o && defer_at && I->pending[r] < 0) {
        /* The other operand comes later. (When another convolution already
         * waits for this Add, this one is that operand: it is emitted now,
         * plain, and the waiting one takes it as its residual.) */
        *defer_at = r;
        break;
      } else {
        break;
      }
      stage = 1;
    } else if (fusable_act(I, rn, act, alpha)) {
      I->skip[r] = 2;
      name = rn->outputs[0];
      break;
    } else {
      break;
    }
    I->skip[r] = 2;
    name = rn->outputs[0];
  }
  return name;
}

static int conv_out(int in, int k, int s, int d, int p0, int p1) {
  int64_t span = (int64_t)in + p0 + p1 - ((int64_t)d * (k - 1) + 1);
  return span < 0 ? 0 : (int)(span / s + 1);
}

/* Pads of a windowed op from auto_pad or pads (ONNX order: begins, ends),
 * as {top, bottom, left, right}. */
static int window_pads(imp *I, const fr__ox_node *n, const int in[2], const int k[2],
                       const int s[2], const int d[2], int pads[4]) {
  const char *ap = as(n, "auto_pad", "NOTSET");
  int64_t p[4] = {0, 0, 0, 0};
  int np = aints(n, "pads", p, 4);
  if (np != 0 && np != 4) return fail(I, FR_E_MODEL, "pads of length %d", np), 0;
  if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
    for (int a = 0; a < 2; a++) {
      int out = (in[a] + s[a] - 1) / s[a];
      int total = (out - 1) * s[a] + (d[a] * (k[a] - 1) + 1) - in[a];
      if (total < 0) total = 0;
      int small = total / 2, big = total - small;
      pads[2 * a] = ap[5] == 'U' ? small : big;
      pads[2 * a + 1] = ap[5] == 'U' ? big : small;
    }
    return 1;
  }
  if (strcmp(ap, "NOTSET") && strcmp(ap, "VALID"))
    return fail(I, FR_E_UNSUPPORTED, "auto_pad %s", ap), 0;
  if (!strcmp(ap, "VALID")) p[0] = p[1] = p[2] = p[3] = 0;
  for (int j = 0; j < 4; j++)
    if (p[j] < 0 || p[j] > 65535) return fail(I, FR_E_UNSUPPORTED, "pads of %lld", (long long)p[j]), 0;
  pads[0] = (int)p[0], pads[1] = (int)p[2], pads[2] = (int)p[1], pads[3] = (int)p[3];
  return 1;
}

/* Conv and ConvTranspose, with whatever follows folded in. */
static int emit_conv(imp *I, int k, int deferred) {
  const fr__ox_node *n = &I->m->nodes[k];
  int transposed = !strcmp(n->op_type, "ConvTranspose");
  val x, *w = in(I, n, 1), *b = opt_in(I, n, 2);
  if (!rt_in(I, n, 0, &x) || !w) return 0;
  if (!to_nchw(I, &x, &x)) return 0;
  if (w->kind != V_CONST || !w->f || w->nd != 4 || (b && (b->kind != V_CONST || !b->f)))
    return unsupported(I, "a convolution whose weights are not a constant float32 [M, C, kH, kW]");
  int C = (int)x.d[1], H = (int)x.d[2], W = (int)x.d[3];
  int64_t groups = ai(n, "group", 1);
  int64_t ks[2] = {w->d[2], w->d[3]}, st[2] = {1, 1}, dl[2] = {1, 1}, op[2] = {0, 0};
  int64_t kshape[MAXD];
  int nks = aints(n, "kernel_shape", kshape, MAXD);
  if (nks == 2 && (kshape[0] != ks[0] || kshape[1] != ks[1]))
    return fail(I, FR_E_MODEL, "kernel_shape does not match the weights");
  if (aints(n, "strides", st, 2) < 0 || aints(n, "dilations", dl, 2) < 0 ||
      aints(n, "output_padding", op, 2) < 0)
    return unsupported(I, "a convolution that is not 2-D");
  if (groups < 1 || C % groups || ks[0] < 1 || ks[1] < 1 || ks[0] > 4096 || ks[1] > 4096 ||
      st[0] < 1 || st[1] < 1 || dl[0] < 1 || dl[1] < 1 || st[0] > 4096 || st[1] > 4096 ||
      dl[0] > 4096 || dl[1] > 4096 || op[0] < 0 || op[1] < 0 || op[0] > 4096 || op[1] > 4096)
    return fail(I, FR_E_MODEL, "bad convolution attributes");
  int M = transposed ? (int)(w->d[1] * groups) : (int)w->d[0];
  if ((!transposed && w->d[1] * groups != C) || (transposed && w->d[0] != C) || M < 1 ||
      (b && numel(b->d, b->nd) != (size_t)M))
    return fail(I, FR_E_MODEL, "weights of %lldx%lldx%lldx%lld for %d input channels",
                (long long)w->d[0], (long long)w->d[1], (long long)w->d[2], (long long)w->d[3], C);
  int kk[2] = {(int)ks[0], (int)ks[1]}, ss[2] = {(int)st[0], (int)st[1]},
      dd[2] = {(int)dl[0], (int)dl[1]}, in2[2] = {H, W}, pads[4];
  if (transposed) {
    int64_t p[4] = {0, 0, 0, 0};
    if (aints(n, "pads", p, 4) < 0 || fr__ox_attr_find(n, "output_shape") ||
        strcmp(as(n, "auto_pad", "NOTSET"), "NOTSET"))
      return unsupported(I, "ConvTranspose with output_shape or auto_pad");
    for (int j = 0; j < 4; j++)
      if (p[j] < 0 || p[j] > 4096) return fail(I, FR_E_MODEL, "bad pads");
    pads[0] = (int)p[0], pads[1] = (int)p[2], pads[2] = (int)p[1], pads[3] = (int)p[3];
  } else if (!window_pads(I, n, in2, kk, ss, dd, pads)) {
    return 0;
  }
  int OH, OW;
  if (transposed) {
    OH = (H - 1) * ss[0] - pads[0] - pads[1] + dd[0] * (kk[0] - 1) + 1 + (int)op[0];
    OW = (W - 1) * ss[1] - pads[2] - pads[3] + dd[1] * (kk[1] - 1) + 1 + (int)op[1];
  } else {
    OH = conv_out(H, kk[0], ss[0], dd[0], pads[0], pads[1]);
    OW = conv_out(W, kk[1], ss[1], dd[1], pads[2], pads[3]);
  }
  if (OH < 1 || OW < 1) return fail(I, FR_E_MODEL, "a convolution with an empty output");

  /* Fold what follows into per-channel scale and shift of the output. */
  float *scale = fr__malloc(2 * (size_t)M * sizeof *scale);
  if (!scale) return fail(I, FR_E_NOMEM, "out of memory");
  float *shift = scale + M;
  for (int j = 0; j < M; j++) scale[j] = 1.f, shift[j] = b ? b->f[j] : 0.f;
  int residual, defer_at;
  fr__act act;
  float alpha;
  const char *out = fold_chain(I, n->outputs[0], M, 4, !transposed, scale, shift, &residual,
                               deferred ? NULL : &defer_at, &act, &alpha);
  if (!deferred && defer_at >= 0) {
    /* The residual is computed later: come back at the Add. */
    I->pending[defer_at] = k;
    fr__free(scale);
    return 1;
  }
  if (residual >= 0) {
    val *rv = NULL;
    for (int j = 0; j < I->nv; j++)
      if (I->v[j].kind == V_RT && I->v[j].t == residual && I->v[j].layout == L_NCHW) rv = &I->v[j];
    if (!rv || rv->d[0] != x.d[0] || rv->d[1] != M || rv->d[2] != OH || rv->d[3] != OW) {
      fr__free(scale);
      return unsupported(I, "a residual Add that broadcasts");
    }
  }

  /* The weights in the engine's layouts, scaled. */
  size_t kh = (size_t)kk[0], kw = (size_t)kk[1];
  int plain = !transposed && groups == 1 && dd[0] == 1 && dd[1] == 1 && ss[0] == ss[1];
  int depthwise = !transposed && groups == C && M == C && dd[0] == 1 && dd[1] == 1 &&
                  ss[0] == ss[1] && C > 1;
  int pads_fit = pads[0] < kk[0] && pads[1] < kk[0] && pads[2] < kk[1] && pads[3] < kk[1];
  size_t nw = numel(w->d, 4);
  float *hw = fr__malloc(nw * sizeof *hw);
  if (!hw) {
    fr__free(scale);
    return fail(I, FR_E_NOMEM, "out of memory");
  }
  int t = -1;
  int64_t od[4] = {x.d[0], M, OH, OW};
  if (depthwise || plain) {
    if (depthwise) {
      for (int c = 0; c < C; c++)
        for (size_t ky = 0; ky < kh; ky++)
          for (size_t kx = 0; kx < kw; kx++)
            hw[(ky * kw + kx) * C + c] = w->f[((size_t)c * kh + ky) * kw + kx] * scale[c];
    } else {
      for (int m = 0; m < M; m++)
        for (int c = 0; c < C; c++)
          for (size_t ky = 0; ky < kh; ky++)
            for (size_t kx = 0; kx < kw; kx++)
              hw[((ky * kw + kx) * C + c) * M + m] =
                  w->f[(((size_t)m * C + c) * kh + ky) * kw + kx] * scale[m];
    }
    int xin = x.t;
    int p[4] = {pads[0], pads[1], pads[2], pads[3]};
    if (!pads_fit) {
      /* Padding as wide as the window: pad first, then a VALID window. */
      xin = fr__pad_full(I->g, x.t, p[0], p[1], p[2], p[3], 0, 0);
      p[0] = p[1] = p[2] = p[3] = 0;
    }
    int zero = !p[0] && !p[1] && !p[2] && !p[3];
    fr__act dact = residual >= 0 ? FR__ACT_NONE : act;
    if (depthwise)
      t = zero ? fr__dwconv2d(I->g, xin, hw, shift, kk[0], kk[1], ss[0], FR__PAD_VALID, dact, alpha)
               : fr__dwconv2d_pads(I->g, xin, hw, shift, kk[0], kk[1], ss[0], p, dact, alpha);
    else
      t = zero ? fr__conv2d(I->g, xin, hw, shift, kk[0], kk[1], M, ss[0], FR__PAD_VALID, act,
                            alpha, residual)
               : fr__conv2d_pads(I->g, xin, hw, shift, kk[0], kk[1], M, ss[0], p, act, alpha,
                                 residual);
    if (depthwise && residual >= 0 && t >= 0) {
      int xs[2] = {t, residual};
      t = fr__add(I->g, xs, 2, act, alpha);
    }
  } else {
    int cig = (int)(C / groups), cog = (int)(M / groups);
    if (!transposed) {
      for (int m = 0; m < M; m++)
        for (int c = 0; c < cig; c++)
          for (size_t ky = 0; ky < kh; ky++)
            for (size_t kx = 0; kx < kw; kx++)
              hw[((ky * kw + kx) * cig + c) * M + m] =
                  w->f[(((size_t)m * cig + c) * kh + ky) * kw + kx] * scale[m];
    } else {
      for (int c = 0; c < C; c++)
        for (int m = 0; m < cog; m++)
          for (size_t ky = 0; ky < kh; ky++)
            for (size_t kx = 0; kx < kw; kx++) {
              int gm = (c / cig) * cog + m;
              hw[((ky * kw + kx) * C + c) * cog + m] =
                  w->f[(((size_t)c * cog + m) * kh + ky) * kw + kx] * scale[gm];
            }
    }
    fr__conv_general cg = {kk[0], kk[1], M, (int)groups, {ss[0], ss[1]}, {dd[0], dd[1]},
                           {pads[0], pads[1], pads[2], pads[3]}, transposed,
                           {(int)op[0], (int)op[1]}};
    /* The loop applies the activation after the residual, as fused convs do. */
    t = fr__conv2d_general(I->g, x.t, hw, shift, &cg, residual >= 0 ? FR__ACT_NONE : act, alpha);
    if (residual >= 0 && t >= 0) {
      int xs[2] = {t, residual};
      t = fr__add(I->g, xs, 2, act, alpha);
    }
  }
  fr__free(hw);
  fr__free(scale);
  return set_rt(I, out, t, L_NCHW, 4, od, 1) != NULL;
}

/* Gemm, and MatMul by a constant: a fully connected layer (or, over the
 * last axis of a rank-3/4 value, a 1x1 convolution). */
static int emit_gemm(imp *I, int k) {
  const fr__ox_node *n = &I->m->nodes[k];
  int gemm = !strcmp(n->op_type, "Gemm");
  val x, *B = in(I, n, 1), *Cb = gemm ? opt_in(I, n, 2) : NULL;
  if (!rt_in(I, n, 0, &x) || !B) return 0;
  if (B->kind != V_CONST || !B->f || B->nd != 2 || (Cb && (Cb->kind != V_CONST || !Cb->f)))
    return unsupported(I, "a matrix product whose second operand is not a constant float32 matrix");
  if (gemm && ai(n, "transA", 0)) return unsupported(I, "Gemm with transA");
  int transB = gemm && ai(n, "transB", 0);
  float alpha = gemm ? af(n, "alpha", 1.f) : 1.f, beta = gemm ? af(n, "beta", 1.f) : 1.f;
  int K = (int)(transB ? B->d[1] : B->d[0]), N = (int)(transB ? B->d[0] : B->d[1]);
  /* The input's last axis is K. */
  int64_t lastd = x.layout == L_FLAT ? x.d[1] : x.d[x.nd - 1];
  if (x.layout == L_NCHW && !(x.d[2] == 1 && x.d[3] == 1))
    return unsupported(I, "a matrix product over the W axis of an image tensor");
  if (x.layout == L_NCHW) lastd = x.d[1];
  if (lastd != K || (gemm && x.nd != 2 && x.layout != L_NCHW))
    return fail(I, FR_E_MODEL, "a matrix product of %lld by %d columns", (long long)lastd, K);
  float *scale = fr__malloc(2 * (size_t)N * sizeof *scale);
  float *w = fr__malloc((size_t)K * N * sizeof *w);
  if (!scale || !w) {
    fr__free(scale);
    fr__free(w);
    return fail(I, FR_E_NOMEM, "out of memory");
  }
  float *shift = scale + N;
  for (int j = 0; j < N; j++) {
    scale[j] = alpha;
    shift[j] = 0.f;
  }
  if (Cb) {
    size_t cn = numel(Cb->d, Cb->nd);
    if (cn != 1 && cn != (size_t)N) {
      fr__free(scale);
      fr__free(w);
      return unsupported(I, "a Gemm bias that is not one per output");
    }
    for (int j = 0; j < N; j++) shift[j] = beta * Cb->f[cn == 1 ? 0 : j];
  }
  int rank = x.layout == L_FLAT ? 2 : x.nd;
  /* A fully connected layer reads each batch item's elements whole, so it
   * serves [N, K] and image tensors of 1x1; anything else is a 1x1
   * convolution over the engine's channels. */
  int use_fc = x.layout == L_FLAT || x.layout == L_NCHW || (x.nd == 2 && x.batched);
  int residual;
  fr__act act;
  float a2;
  /* BatchNormalization over [N, F] and an activation fold in; the per-
   * channel rule wants the features on axis 1, which holds for rank 2. */
  const char *out = use_fc ? fold_chain(I, n->outputs[0], N, 2, 0, scale, shift, &residual,
                                           NULL, &act, &a2)
                              : n->outputs[0];
  if (!use_fc) act = FR__ACT_NONE, a2 = 0.f;
  /* Rows of w follow the engine's order of the K inputs: for a pending
   * flatten of [C, H, W], the engine holds them as H, W, C. */
  int C = 0, H = 1, W = 1;
  if (x.layout == L_FLAT) C = (int)x.d[2], H = (int)x.d[3], W = (int)x.d[4];
  for (int r = 0; r < K; r++) {
    int er = r;
    if (x.layout == L_FLAT) {
      int c = r / (H * W), hw = r % (H * W);
      er = hw * C + c;
    }
    for (int j = 0; j < N; j++) {
      float v = transB ? B->f[(size_t)j * K + r] : B->f[(size_t)r * N + j];
      w[(size_t)er * N + j] = v * scale[j];
    }
  }
  int t;
  int64_t od[MAXD];
  int ond;
  (void)rank;
  if (use_fc) {
    t = fr__fc(I->g, x.t, w, shift, K, N, act, a2);
    od[0] = x.d[0], od[1] = N, ond = 2;
  } else {
    /* Over the last axis: a 1x1 convolution of the engine's channels. */
    if (x.layout != L_ROW) {
      fr__free(scale);
      fr__free(w);
      return unsupported(I, "a matrix product of this layout");
    }
    t = fr__conv2d(I->g, x.t, w, shift, 1, 1, N, 1, FR__PAD_VALID, FR__ACT_NONE, 0.f, -1);
    memcpy(od, x.d, sizeof od);
    od[x.nd - 1] = N;
    ond = x.nd;
  }
  fr__free(scale);
  fr__free(w);
  return set_rt(I, out, t, L_ROW, ond, od, use_fc ? 1 : x.batched) != NULL;
}

/* A constant operand of a binary op, placed for the engine next to runtime
 * value x: returns its [1, kh, kw, kc] data (owned by the importer). */
static float *const_for(imp *I, const val *x, const val *c, int ks[3]) {
  int r = x->nd;
  int64_t cd[MAXD];
  if (c->nd > r) return unsupported(I, "a constant of higher rank than the tensor"), NULL;
  for (int k = 0; k < r; k++) cd[k] = k < r - c->nd ? 1 : c->d[k - (r - c->nd)];
  size_t cnt = numel(cd, r);
  float *out = falloc(I, cnt);
  if (!out) return NULL;
  if (x->layout == L_NCHW) {
    if (cd[0] != 1) return unsupported(I, "a constant with a batch dimension"), NULL;
    int C = (int)cd[1], H = (int)cd[2], W = (int)cd[3];
    for (int c2 = 0; c2 < C; c2++)
      for (int h = 0; h < H; h++)
        for (int w = 0; w < W; w++)
          out[((size_t)h * W + w) * C + c2] = (float)cget(c, ((size_t)c2 * H + h) * W + w);
    ks[0] = H, ks[1] = W, ks[2] = C;
    return out;
  }
  int first = x->batched ? 1 : 0;
  if (x->batched && cd[0] != 1) return unsupported(I, "a constant with a batch dimension"), NULL;
  int e[4] = {1, 1, 1, 1}, span = r - first;
  for (int k = 0; k < span; k++) e[4 - span + k] = (int)cd[first + k];
  for (size_t k = 0; k < cnt; k++) out[k] = (float)cget(c, k);
  ks[0] = e[1], ks[1] = e[2], ks[2] = e[3];
  return out;
}

static fr__binop binop_of(const char *op) {
  if (!strcmp(op, "Sub")) return FR__BIN_SUB;
  if (!strcmp(op, "Mul")) return FR__BIN_MUL;
  if (!strcmp(op, "Div")) return FR__BIN_DIV;
  if (!strcmp(op, "Max")) return FR__BIN_MAX;
  if (!strcmp(op, "Min")) return FR__BIN_MIN;
  return FR__BIN_ADD;
}

/* Add, Sub, Mul, Div, Max, Min with numpy broadcasting. */
static int emit_binary(imp *I, int k) {
  const fr__ox_node *n = &I->m->nodes[k];
  if (I->pending[k] >= 0) {
    /* A convolution waited for this Add's other operand: emit it now, with
     * the Add as its residual (or, if that no longer fits, before it). */
    int p = I->pending[k];
    I->pending[k] = -1;
    if (!emit_conv(I, p, 1)) return 0;
    if (I->skip[k] == 2) return 1;
  }
  val *a = in(I, n, 0), *b = in(I, n, 1);
  if (!a || !b) return 0;
  fr__binop op = binop_of(n->op_type);
  fr__act act = FR__ACT_NONE;
  float alpha = 0.f;
  const char *out = fuse_act(I, n->outputs[0], &act, &alpha);
  if (a->kind == V_CONST || b->kind == V_CONST) {
    int k_first = a->kind == V_CONST;
    val x = k_first ? *b : *a;
    const val *c = k_first ? a : b;
    if (x.layout == L_FLAT && !to_row(I, &x, &x)) return 0;
    /* The result may have more dims than x (a constant that broadcasts x
     * up); that is not supported. */
    int64_t d[MAXD];
    int nd = bcast_dims(x.d, x.nd, c->d, c->nd, d);
    if (nd != x.nd || memcmp(d, x.d, (size_t)nd * sizeof *d))
      return unsupported(I, "a constant that broadcasts the tensor to a larger shape");
    int ks[3];
    float *kd = const_for(I, &x, c, ks);
    if (!kd) return 0;
    int t = fr__binary_const(I->g, op, x.t, kd, ks[0], ks[1], ks[2], k_first, act, alpha);
    return set_rt(I, out, t, x.layout, x.nd, x.d, x.batched) != NULL;
  }
  val x = *a, y = *b;
  if (x.layout == L_FLAT && !to_row(I, &x, &x)) return 0;
  if (y.layout == L_FLAT && !to_row(I, &y, &y)) return 0;
  if (x.layout != y.layout) {
    /* Bring both to L_NCHW when either is; [N, C] against [N, C, H, W]
     * is not numpy broadcasting (it aligns on the right), so ranks must
     * match. */
    if (x.nd != 4 || y.nd != 4) return unsupported(I, "a broadcast between different layouts");
    if (!to_nchw(I, &x, &x) || !to_nchw(I, &y, &y)) return 0;
  }
  if (x.nd != y.nd || x.batched != y.batched)
    return unsupported(I, "a broadcast between tensors of different ranks");
  int64_t d[MAXD];
  int nd = bcast_dims(x.d, x.nd, y.d, y.nd, d);
  if (nd < 0) return fail(I, FR_E_MODEL, "operands that do not broadcast");
  int t;
  if (op == FR__BIN_ADD && !memcmp(x.d, y.d, (size_t)nd * sizeof *d)) {
    int xs[2] = {x.t, y.t};
    t = fr__add(I->g, xs, 2, act, alpha);
  } else {
    t = fr__binary(I->g, op, x.t, y.t, act, alpha);
  }
  return set_rt(I, out, t, x.layout, nd, d, x.batched) != NULL;
}

/* Elementwise one-input operators. */
static int emit_unary(imp *I, int k) {
  const fr__ox_node *n = &I->m->nodes[k];
  const char *op = n->op_type;
  val x;
  if (!tensor_in(I, n, &x)) return 0;
  int t = -1;
  fr__act act;
  float alpha = 0.f;
  if (!strcmp(op, "Relu") || !strcmp(op, "LeakyRelu") ||
      (!strcmp(op, "Clip") && fusable_act(I, n, &act, &alpha))) {
    if (!strcmp(op, "Relu")) act = FR__ACT_RELU;
    if (!strcmp(op, "LeakyRelu")) act = FR__ACT_LEAKY, alpha = af(n, "alpha", 0.01f);
    t = fr__activate(I->g, x.t, act, alpha);
  } else if (!strcmp(op, "Clip")) {
    double lo = -INFINITY, hi = INFINITY;
    if (I->opset < 11) {
      lo = af(n, "min", -INFINITY), hi = af(n, "max", INFINITY);
    } else {
      val *l = opt_in(I, n, 1), *h = opt_in(I, n, 2);
      if ((l && l->kind != V_CONST) || (h && h->kind != V_CONST))
        return unsupported(I, "Clip with computed bounds");
      if (l) lo = cget(l, 0);
      if (h) hi = cget(h, 0);
    }
    t = fr__unary_param(I->g, x.t, FR__UN_CLIP, (float)lo, (float)hi);
  } else if (!strcmp(op, "PRelu")) {
    val *s = in(I, n, 1);
    if (!s) return 0;
    int c = fr__channels(I->g, x.t);
    float *sl = falloc(I, (size_t)c);
    if (!sl) return 0;
    /* The slopes must vary along the engine's channel axis only. */
    int ok = 0;
    if (s->kind == V_CONST && numel(s->d, s->nd) == 1) {
      for (int j = 0; j < c; j++) sl[j] = (float)cget(s, 0);
      ok = 1;
    } else if (s->kind == V_CONST && x.layout == L_NCHW) {
      ok = per_channel(s, c, 4, sl);
    } else if (s->kind == V_CONST && numel(s->d, s->nd) == (size_t)c && s->d[s->nd - 1] == c) {
      for (int j = 0; j < c; j++) sl[j] = (float)cget(s, (size_t)j);
      ok = 1;
    }
    if (!ok) return unsupported(I, "PRelu slopes that are not one per channel");
    t = fr__prelu(I->g, x.t, sl);
  } else {
    static const struct {
      const char *name;
      fr__unop op;
    } map[] = {{"Sigmoid", FR__UN_SIGMOID}, {"Tanh", FR__UN_TANH},  {"Exp", FR__UN_EXP},
               {"Sqrt", FR__UN_SQRT},       {"Erf", FR__UN_ERF},    {"Neg", FR__UN_NEG},
               {"Abs", FR__UN_ABS},         {"HardSwish", FR__UN_HARDSWISH}};
    for (size_t j = 0; j < sizeof map / sizeof map[0]; j++)
      if (!strcmp(op, map[j].name)) t = fr__unary(I->g, x.t, map[j].op);
    if (!strcmp(op, "HardSigmoid"))
      t = fr__unary_param(I->g, x.t, FR__UN_HARDSIGMOID, af(n, "alpha", 0.2f), af(n, "beta", 0.5f));
    if (!strcmp(op, "Pow")) {
      val *e = in(I, n, 1);
      if (!e || e->kind != V_CONST || numel(e->d, e->nd) != 1)
        return unsupported(I, "Pow with an exponent that is not one constant");
      t = fr__unary_param(I->g, x.t, FR__UN_POW, (float)cget(e, 0), 0.f);
    }
  }
  return set_rt(I, n->outputs[0], t, x.layout, x.nd, x.d, x.batched) != NULL;
}

static int emit_bn(imp *I, int k) {
  const fr__ox_node *n = &I->m->nodes[k];
  val x;
  if (!tensor_in(I, n, &x)) return 0;
  if (x.nd < 2) return fail(I, FR_E_MODEL, "batch normalisation of a rank-1 tensor");
  int c = (int)x.d[1];
  float *s = falloc(I, 2 * (size_t)c);
  if (!s || !bn_params(I, n, c, s, s + c)) return 0;
  /* One scale and one shift per channel (axis 1), as constants shaped
   * [C, 1, ...] for the tensor's rank. */
  int64_t cd[MAXD];
  cd[0] = c;
  for (int j = 1; j < x.nd - 1; j++) cd[j] = 1;
  val cs = {0}, cb = {0};
  cs.kind = cb.kind = V_CONST;
  cs.nd = cb.nd = x.nd - 1;
  memcpy(cs.d, cd, sizeof cd);
  memcpy(cb.d, cd, sizeof cd);
  cs.f = s, cb.f = s + c;
  int ks[3];
  float *kd = const_for(I, &x, &cs, ks);
  if (!kd) return 0;
  int t = fr__binary_const(I->g, FR__BIN_MUL, x.t, kd, ks[0], ks[1], ks[2], 0, FR__ACT_NONE, 0.f);
  kd = const_for(I, &x, &cb, ks);
  if (!kd) return 0;
  fr__act act = FR__ACT_NONE;
  float alpha = 0.f;
  const char *out = fuse_act(I, n->outputs[0], &act, &alpha);
  t = fr__binary_const(I->g, FR__BIN_ADD, t, kd, ks[0], ks[1], ks[2], 0, act, alpha);
  return set_rt(I, out, t, x.layout, x.nd, x.d, x.batched) != NULL;
}

static int emit_pool(imp *I, int k) {
  const fr__ox_node *n = &I->m->nodes[k];
  int is_max = !strcmp(n->op_type, "MaxPool") || !strcmp(n->op_type, "GlobalMaxPool");
  int global = !strncmp(n->op_type, "Global", 6);
  val x;
  if (!rt_in(I, n, 0, &x) || !to_nchw(I, &x, &x)) return 0;
  int H = (int)x.d[2], W = (int)x.d[3];
  int64_t od[4] = {x.d[0], x.d[1], 1, 1};
  int t;
  if (global) {
    t = is_max ? fr__reduce(I->g, fr__reduce(I->g, x.t, FR__AXIS_H, 1), FR__AXIS_W, 1)
               : fr__mean(I->g, x.t);
    return set_rt(I, n->outputs[0], t, L_NCHW, 4, od, 1) != NULL;
  }
  int64_t ks[2], st[2] = {1, 1}, dl[2] = {1, 1};
  if (aints(n, "kernel_shape", ks, 2) != 2 || aints(n, "strides", st, 2) < 0 ||
      aints(n, "dilations", dl, 2) < 0)
    return unsupported(I, "pooling that is not 2-D");
  if (ai(n, "ceil_mode", 0)) return unsupported(I, "pooling with ceil_mode");
  int include_pad = !is_max && ai(n, "count_include_pad", 0);
  if (dl[0] != 1 || dl[1] != 1) return unsupported(I, "pooling with dilations");
  if (st[0] != st[1]) return unsupported(I, "pooling with different strides per axis");
  if (ks[0] < 1 || ks[1] < 1 || ks[0] > 4096 || ks[1] > 4096 || st[0] < 1 || st[0] > 4096)
    return fail(I, FR_E_MODEL, "bad pooling attributes");
  int kk[2] = {(int)ks[0], (int)ks[1]}, ss[2] = {(int)st[0], (int)st[1]}, dd[2] = {1, 1},
      in2[2] = {H, W}, pads[4];
  if (!window_pads(I, n, in2, kk, ss, dd, pads)) return 0;
  od[2] = conv_out(H, kk[0], ss[0], 1, pads[0], pads[1]);
  od[3] = conv_out(W, kk[1], ss[1], 1, pads[2], pads[3]);
  if (od[2] < 1 || od[3] < 1) return fail(I, FR_E_MODEL, "a pooling with an empty output");
  if (include_pad && (pads[0] || pads[1] || pads[2] || pads[3])) {
    /* The padding counts in the average: pad with zeros first, then every
     * window lies inside and divides by its full size. */
    int y = fr__pad_full(I->g, x.t, pads[0], pads[1], pads[2], pads[3], 0, 0);
    int zero[4] = {0, 0, 0, 0};
    t = fr__pool_pads(I->g, y, 0, kk[0], kk[1], ss[0], zero);
    return set_rt(I, n->outputs[0], t, L_NCHW, 4, od, 1) != NULL;
  }
  if (pads[0] >= kk[0] || pads[1] >= kk[0] || pads[2] >= kk[1] || pads[3] >= kk[1])
    return unsupported(I, "pooling padded as wide as its window");
  if (!pads[0] && !pads[1] && !pads[2] && !pads[3] && kk[0] == kk[1])
    t = is_max ? fr__maxpool(I->g, x.t, kk[0], ss[0], FR__PAD_VALID)
               : fr__avgpool(I->g, x.t, kk[0], ss[0], FR__PAD_VALID);
  else
    t = fr__pool_pads(I->g, x.t, is_max, kk[0], kk[1], ss[0], pads);
  return set_rt(I, n->outputs[0], t, L_NCHW, 4, od, 1) != NULL;
}

/* The value of engine tensor t, in x's layout with dims od, without the
 * axes marked in drop (each of size 1 by now): the elements keep their
 * order, so this is a reshape of the row-major form. */
static int drop_axes(imp *I, const char *name, const val *x, int t, const int64_t *od,
                     const char *drop, int batched) {
  val kept = *x;
  kept.t = t;
  memcpy(kept.d, od, sizeof kept.d);
  eshape(I, &kept, kept.es);
  val row;
  if (!to_row(I, &kept, &row)) return 0;
  int64_t dd[MAXD];
  int nd = 0;
  for (int a = 0; a < x->nd; a++)
    if (!drop[a]) dd[nd++] = od[a];
  if (nd == 0) return unsupported(I, "a reduction to a scalar");
  return row_reshape(I, name, &row, nd, dd, batched) != NULL;
}

/* ReduceMean/Sum/Max/L2 over any axes but the batch; also Softmax,
 * LpNormalization. */
static int emit_reduce(imp *I, int k) {
  const fr__ox_node *n = &I->m->nodes[k];
  const char *op = n->op_type;
  val x;
  if (!tensor_in(I, n, &x)) return 0;
  int64_t axes[MAXD];
  int na;
  int axes_input = (!strcmp(op, "ReduceSum") && I->opset >= 13) || I->opset >= 18;
  if (axes_input)
    na = n->n_inputs > 1 && n->inputs[1][0] ? cints(I, in(I, n, 1), axes, MAXD) : 0;
  else
    na = aints(n, "axes", axes, MAXD);
  if (na < 0 || I->failed) return fail(I, FR_E_MODEL, "bad axes");
  char sel[MAXD] = {0};
  if (na == 0) {
    if (axes_input && ai(n, "noop_with_empty_axes", 0))
      return set_rt(I, n->outputs[0], x.t, x.layout, x.nd, x.d, x.batched) != NULL;
    for (int j = 0; j < x.nd; j++) sel[j] = 1;
  }
  for (int j = 0; j < na; j++) {
    int a = norm_axis(I, axes[j], x.nd);
    if (a < 0) return 0;
    sel[a] = 1;
  }
  int is_max = !strcmp(op, "ReduceMax"), l2 = !strcmp(op, "ReduceL2"),
      mean = !strcmp(op, "ReduceMean");
  int t = x.t;
  if (l2) t = fr__unary_param(I->g, t, FR__UN_POW, 2.f, 0.f);
  double count = 1;
  int64_t od[MAXD];
  memcpy(od, x.d, sizeof od);
  char done[MAXD] = {0};
  if (mean && x.layout == L_NCHW && sel[2] && sel[3]) {
    /* Mean over H and W together: the engine's global mean, one pass. */
    t = fr__mean(I->g, t);
    od[2] = od[3] = 1;
    done[2] = done[3] = 1;
  }
  for (int a = 0; a < x.nd; a++) {
    if (!sel[a] || done[a]) continue;
    od[a] = 1;
    if (x.d[a] == 1) continue;
    int e = eaxis(&x, a);
    if (e <= 0) return unsupported(I, "a reduction over the batch");
    t = fr__reduce(I->g, t, e, is_max);
    count *= (double)x.d[a];
  }
  if (mean && count > 1) {
    float inv = (float)(1.0 / count);
    t = fr__binary_const(I->g, FR__BIN_MUL, t, &inv, 1, 1, 1, 0, FR__ACT_NONE, 0.f);
  }
  if (l2) t = fr__unary(I->g, t, FR__UN_SQRT);
  if (ai(n, "keepdims", 1)) return set_rt(I, n->outputs[0], t, x.layout, x.nd, od, x.batched) != NULL;
  return drop_axes(I, n->outputs[0], &x, t, od, sel, x.batched && !sel[0]);
}

static int emit_softmax(imp *I, int k) {
  const fr__ox_node *n = &I->m->nodes[k];
  val x;
  if (!tensor_in(I, n, &x)) return 0;
  int a = norm_axis(I, ai(n, "axis", I->opset >= 13 ? -1 : 1), x.nd);
  if (a < 0) return 0;
  /* Before opset 13 the input is flattened at the axis, so the softmax
   * runs over every axis from it on; that is one axis only when the rest
   * are 1. */
  int tail = 0;
  if (I->opset < 13)
    for (int j = a + 1; j < x.nd; j++) tail |= x.d[j] != 1;
  if (tail) {
    /* Row-major, the axes from a on are one run of elements: a softmax
     * over [outer, inner] viewed as channels, then the shape back. */
    val row;
    if (!to_row(I, &x, &row)) return 0;
    int64_t inner = (int64_t)numel(x.d + a, x.nd - a);
    int64_t outer = (int64_t)numel(x.d + (row.batched ? 1 : 0), a - (row.batched ? 1 : 0));
    if (!row.batched && a == 0) outer = 1;
    if (inner > (1 << 24) || outer > (1 << 24)) return unsupported(I, "a softmax this large");
    int flat[4] = {row.es[0], 1, (int)outer, (int)inner};
    int t = ereshape(I, row.t, row.es, flat);
    t = fr__softmax(I->g, t, 1.f);
    t = ereshape(I, t, flat, row.es);
    return set_rt(I, n->outputs[0], t, L_ROW, x.nd, x.d, x.batched) != NULL;
  }
  int e = eaxis(&x, a);
  if (e != FR__AXIS_C) {
    if (x.layout == L_NCHW && x.d[2] * x.d[3] != 1)
      return unsupported(I, "Softmax over an axis other than the channels");
    /* An L_ROW value whose softmax axis is not the last: not supported. */
    if (x.layout == L_ROW) return unsupported(I, "Softmax over an axis other than the last");
  }
  int t = fr__softmax(I->g, x.t, 1.f);
  return set_rt(I, n->outputs[0], t, x.layout, x.nd, x.d, x.batched) != NULL;
}

static int emit_lpnorm(imp *I, int k) {
  const fr__ox_node *n = &I->m->nodes[k];
  val x;
  if (!tensor_in(I, n, &x)) return 0;
  if (ai(n, "p", 2) != 2) return unsupported(I, "LpNormalization with p other than 2");
  int a = norm_axis(I, ai(n, "axis", -1), x.nd);
  if (a < 0) return 0;
  int e = eaxis(&x, a);
  if (e <= 0) return unsupported(I, "a normalisation over the batch");
  int sq = fr__unary_param(I->g, x.t, FR__UN_POW, 2.f, 0.f);
  int s = fr__reduce(I->g, sq, e, 0);
  int nrm = fr__unary(I->g, s, FR__UN_SQRT);
  int t = fr__binary(I->g, FR__BIN_DIV, x.t, nrm, FR__ACT_NONE, 0.f);
  return set_rt(I, n->outputs[0], t, x.layout, x.nd, x.d, x.batched) != NULL;
}

static int emit_concat(imp *I, int k) {
  const fr__ox_node *n = &I->m->nodes[k];
  if (n->n_inputs < 1 || n->n_inputs > 64) return unsupported(I, "a Concat of more than 64 inputs");
  val xs[64];
  int layout = L_ROW;
  for (int j = 0; j < n->n_inputs; j++) {
    val *v = in(I, n, j);
    if (!v) return 0;
    if (v->kind != V_RT) return unsupported(I, "a Concat of a constant and a computed tensor");
    xs[j] = *v;
    if (v->layout == L_NCHW) layout = L_NCHW;
  }
  for (int j = 0; j < n->n_inputs; j++) {
    if (layout == L_NCHW ? !to_nchw(I, &xs[j], &xs[j]) : !to_row(I, &xs[j], &xs[j])) return 0;
    if (xs[j].nd != xs[0].nd || xs[j].batched != xs[0].batched)
      return fail(I, FR_E_MODEL, "a Concat of different ranks");
  }
  int a = norm_axis(I, ai(n, "axis", 0), xs[0].nd);
  if (a < 0) return 0;
  int e = eaxis(&xs[0], a);
  if (e <= 0) return unsupported(I, "a Concat along the batch");
  int64_t od[MAXD];
  memcpy(od, xs[0].d, sizeof od);
  od[a] = 0;
  for (int j = 0; j < n->n_inputs; j++) {
    for (int q = 0; q < xs[0].nd; q++)
      if (q != a && xs[j].d[q] != xs[0].d[q]) return fail(I, FR_E_MODEL, "a Concat of mismatched dims");
    od[a] += xs[j].d[a];
  }
  int t = -1;
  if (n->n_inputs == 1) {
    t = xs[0].t;
  } else {
    /* The engine concatenates up to 8 at a time. */
    int acc = xs[0].t, done = 1;
    while (done < n->n_inputs) {
      int ids[8], cnt = 0;
      ids[cnt++] = acc;
      while (cnt < 8 && done < n->n_inputs) ids[cnt++] = xs[done++].t;
      acc = fr__concat(I->g, ids, cnt, e);
    }
    t = acc;
  }
  return set_rt(I, n->outputs[0], t, xs[0].layout, xs[0].nd, od, xs[0].batched) != NULL;
}

/* Slice, Split and Gather (by a constant index) of a runtime value. */
static int emit_slices(imp *I, int k) {
  const fr__ox_node *n = &I->m->nodes[k];
  const char *op = n->op_type;
  val x;
  if (!tensor_in(I, n, &x)) return 0;
  if (!strcmp(op, "Slice")) {
    int64_t first[MAXD], count[MAXD], step[MAXD];
    if (!slice_params(I, n, x.nd, x.d, first, count, step)) return 0;
    int t = x.t;
    for (int a = 0; a < x.nd; a++) {
      if (first[a] == 0 && count[a] == x.d[a] && step[a] == 1) continue;
      if (count[a] < 1) return unsupported(I, "an empty slice");
      if (step[a] < 1) return unsupported(I, "a slice with a negative step");
      int e = eaxis(&x, a);
      if (e <= 0) return unsupported(I, "a slice of the batch");
      t = fr__slice(I->g, t, e, (int)first[a], (int)count[a], (int)step[a]);
    }
    return set_rt(I, n->outputs[0], t, x.layout, x.nd, count, x.batched) != NULL;
  }
  int a = norm_axis(I, ai(n, "axis", 0), x.nd);
  if (a < 0) return 0;
  int e = eaxis(&x, a);
  if (e <= 0) return unsupported(I, "a split of the batch");
  if (!strcmp(op, "Gather")) {
    val *idx = in(I, n, 1);
    if (!idx || idx->kind != V_CONST || numel(idx->d, idx->nd) != 1)
      return unsupported(I, "Gather of a computed tensor by other than one constant index");
    int64_t j = to_i64(cget(idx, 0));
    if (j < 0) j += x.d[a];
    if (j < 0 || j >= x.d[a]) return fail(I, FR_E_MODEL, "gather index out of range");
    int t = fr__slice(I->g, x.t, e, (int)j, 1, 1);
    int64_t od[MAXD];
    memcpy(od, x.d, sizeof od);
    od[a] = 1;
    if (idx->nd == 1) return set_rt(I, n->outputs[0], t, x.layout, x.nd, od, x.batched) != NULL;
    /* A scalar index drops the axis. */
    char drop[MAXD] = {0};
    drop[a] = 1;
    return drop_axes(I, n->outputs[0], &x, t, od, drop, x.batched);
  }
  /* Split: sizes from the input (opset 13), the attribute, or equal. */
  int64_t sizes[64];
  int ns = 0;
  if (I->opset >= 13 && n->n_inputs > 1 && n->inputs[1][0])
    ns = cints(I, in(I, n, 1), sizes, 64);
  else
    ns = aints(n, "split", sizes, 64);
  if (ns < 0 || I->failed) return fail(I, FR_E_MODEL, "bad split sizes");
  if (n->n_outputs < 1 || n->n_outputs > 64) return unsupported(I, "a Split into more than 64");
  if (ns == 0) {
    int64_t per = (x.d[a] + n->n_outputs - 1) / n->n_outputs;
    for (int j = 0; j < n->n_outputs; j++) {
      int64_t left = x.d[a] - per * j;
      sizes[j] = left < per ? left : per;
    }
    ns = n->n_outputs;
  }
  if (ns != n->n_outputs) return fail(I, FR_E_MODEL, "split sizes do not match the outputs");
  int64_t sum = 0;
  for (int j = 0; j < ns; j++) sum += sizes[j] > 0 ? sizes[j] : 0;
  if (sum != x.d[a])
    return fail(I, FR_E_MODEL, "split sizes add up to %lld, not the axis' %lld", (long long)sum,
                (long long)x.d[a]);
  int64_t at = 0;
  for (int j = 0; j < ns; j++) {
    if (sizes[j] < 1 || at + sizes[j] > x.d[a]) return fail(I, FR_E_MODEL, "bad split sizes");
    int t = fr__slice(I->g, x.t, e, (int)at, (int)sizes[j], 1);
    int64_t od[MAXD];
    memcpy(od, x.d, sizeof od);
    od[a] = sizes[j];
    at += sizes[j];
    if (n->outputs[j][0] && !set_rt(I, n->outputs[j], t, x.layout, x.nd, od, x.batched)) return 0;
  }
  return 1;
}

/* Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Expand, Identity of a
 * runtime value. */
static int emit_shape_op(imp *I, int k) {
  const fr__ox_node *n = &I->m->nodes[k];
  const char *op = n->op_type;
  val *src = in(I, n, 0);
  if (!src) return 0;
  val x = *src;
  if (!strcmp(op, "Identity") || !strcmp(op, "Dropout") || !strcmp(op, "Cast")) {
    if (!strcmp(op, "Cast")) {
      int64_t to = ai(n, "to", FR__OX_FLOAT);
      if (to != FR__OX_FLOAT) return unsupported(I, "a Cast of a computed tensor to other than float");
    }
    if (!strcmp(op, "Dropout") && n->n_outputs > 1 && n->outputs[1][0])
      return unsupported(I, "Dropout's mask output");
    val *v = add(I, n->outputs[0]);
    if (v) {
      const char *name = v->name;
      *v = *find(I, n->inputs[0]);
      v->name = name;
    }
    return v != NULL;
  }
  int64_t d[MAXD];
  int nd = 0;
  size_t count = numel(x.layout == L_FLAT ? x.d : x.d, x.layout == L_FLAT ? 2 : x.nd);
  int xnd = x.layout == L_FLAT ? 2 : x.nd;
  if (!strcmp(op, "Transpose")) {
    int64_t perm[MAXD];
    int np = aints(n, "perm", perm, MAXD);
    if (np == 0)
      for (int j = 0; j < xnd; j++) perm[j] = xnd - 1 - j;
    if (np != 0 && np != xnd) return fail(I, FR_E_MODEL, "transpose perm of the wrong length");
    int identity = 1;
    for (int j = 0; j < xnd; j++) {
      if (perm[j] < 0 || perm[j] >= xnd) return fail(I, FR_E_MODEL, "bad perm");
      identity &= perm[j] == j;
      d[j] = x.d[perm[j]];
    }
    if (identity) return set_rt(I, n->outputs[0], x.t, x.layout, x.nd, x.d, x.batched) != NULL;
    /* NCHW -> NHWC is what the engine already holds. */
    if (x.layout == L_NCHW && perm[0] == 0 && perm[1] == 2 && perm[2] == 3 && perm[3] == 1)
      return set_rt(I, n->outputs[0], x.t, L_ROW, 4, d, 1) != NULL;
    if (x.layout == L_ROW && x.nd == 4 && perm[0] == 0 && perm[1] == 3 && perm[2] == 1 &&
        perm[3] == 2 && x.batched)
      return set_rt(I, n->outputs[0], x.t, L_NCHW, 4, d, 1) != NULL;
    val row;
    if (!to_row(I, &x, &row)) return 0;
    if (row.batched && perm[0] != 0) return unsupported(I, "a transpose that moves the batch");
    /* Engine axes of the value's axes; the leading engine axes the value
     * does not use stay in place. */
    int ep[4] = {0, 1, 2, 3};
    for (int j = 0; j < xnd; j++) {
      int eo = eaxis(&row, j), ei = eaxis(&row, (int)perm[j]);
      if (eo < 0 || ei < 0) return unsupported(I, "this transpose");
      ep[eo] = ei;
    }
    int es[4];
    eshape(I, &row, es);
    int t = fr__transpose(I->g, row.t, ep, es[ep[3]]);
    return set_rt(I, n->outputs[0], t, L_ROW, xnd, d, row.batched) != NULL;
  }
  if (!strcmp(op, "Expand")) {
    int64_t shape[MAXD];
    int ns = cints(I, in(I, n, 1), shape, MAXD);
    if (ns < 0) return 0;
    nd = bcast_dims(x.d, xnd, shape, ns, d);
    if (nd < 0) return fail(I, FR_E_MODEL, "expand to an incompatible shape");
    if (nd == xnd && !memcmp(d, x.d, (size_t)nd * sizeof *d))
      return set_rt(I, n->outputs[0], x.t, x.layout, x.nd, x.d, x.batched) != NULL;
    /* A broadcast that a binary reader would do anyway: keep the value,
     * for that reader; otherwise multiply by ones of the target shape. */
    int r = sole_reader(I, n->outputs[0]);
    if (r >= 0 && nd == xnd) {
      const char *rop = I->m->nodes[r].op_type;
      if (!strcmp(rop, "Div") || !strcmp(rop, "Mul") || !strcmp(rop, "Add") || !strcmp(rop, "Sub"))
        return set_rt(I, n->outputs[0], x.t, x.layout, x.nd, x.d, x.batched) != NULL;
    }
    return unsupported(I, "Expand of a computed tensor");
  }
  if (!strcmp(op, "Reshape")) {
    int64_t shape[MAXD];
    int ns = cints(I, in(I, n, 1), shape, MAXD);
    if (ns < 0) return 0;
    nd = reshape_target(I, shape, ns, x.d, xnd, count, (int)ai(n, "allowzero", 0), d);
    if (nd < 0) return 0;
  } else if (!strcmp(op, "Flatten")) {
    int ax = (int)ai(n, "axis", 1);
    if (ax < 0) ax += xnd;
    if (ax < 0 || ax > xnd) return fail(I, FR_E_MODEL, "flatten axis");
    d[0] = (int64_t)numel(x.d, ax);
    d[1] = (int64_t)numel(x.d + ax, xnd - ax);
    nd = 2;
  } else {
    int64_t axes[MAXD];
    int na = I->opset >= 13 ? (n->n_inputs > 1 && n->inputs[1][0] ? cints(I, in(I, n, 1), axes, MAXD) : 0)
                            : aints(n, "axes", axes, MAXD);
    if (na < 0 || I->failed) return fail(I, FR_E_MODEL, "bad axes");
    if (!strcmp(op, "Squeeze")) {
      char drop[MAXD] = {0};
      for (int j = 0; j < na; j++) {
        int a = norm_axis(I, axes[j], xnd);
        if (a < 0) return 0;
        if (x.d[a] != 1) return fail(I, FR_E_MODEL, "squeeze of a dimension that is not 1");
        drop[a] = 1;
      }
      for (int j = 0; j < xnd; j++)
        if (na ? !drop[j] : x.d[j] != 1) d[nd++] = x.d[j];
      if (x.batched && x.d[0] == I->batch && (na ? drop[0] : x.d[0] == 1) && I->batch != 1)
        return unsupported(I, "a squeeze of the batch");
    } else {
      nd = xnd + na;
      if (nd > MAXD) return unsupported(I, "rank above 8");
      char ins[MAXD] = {0};
      for (int j = 0; j < na; j++) {
        int a = norm_axis(I, axes[j], nd);
        if (a < 0) return 0;
        ins[a] = 1;
      }
      for (int j = 0, q = 0; j < nd; j++) d[j] = ins[j] ? 1 : x.d[q++];
    }
  }
  /* Does the result keep the batch as its first dim? */
  int batched = x.batched && nd >= 1 && d[0] == x.d[0] && (I->batch != 1 || d[0] == 1);
  if (!batched && I->batch != 1)
    return unsupported(I, "a reshape that mixes the batch with other axes (import at batch 1)");
  if (!batched && nd > 3) {
    if (d[0] == 1) batched = 1;
    else return unsupported(I, "a tensor of rank 4 whose first dim is not the batch");
  }
  /* An image tensor flattened to [N, C*H*W] for a matrix product: the
   * copy is left to whoever needs it (a Gemm does not). */
  if (x.layout == L_NCHW && x.d[2] * x.d[3] > 1 && nd == 2 && batched &&
      d[1] == x.d[1] * x.d[2] * x.d[3]) {
    val *v = add(I, n->outputs[0]);
    if (!v) return 0;
    v->kind = V_RT;
    v->t = x.t;
    v->layout = L_FLAT;
    v->batched = 1;
    v->nd = 2;
    v->d[0] = d[0];
    v->d[1] = d[1];
    v->d[2] = x.d[1], v->d[3] = x.d[2], v->d[4] = x.d[3];
    return 1;
  }
  /* An image tensor reshaped to [N, C, H', W'] with the same C...: the
   * general path copies through row-major order. */
  val row;
  if (!to_row(I, &x, &row)) return 0;
  if (nd == 4 && batched) {
    /* Row-major [N, A, B, C] is held as engine [n, A, B, C]. */
    return row_reshape(I, n->outputs[0], &row, nd, d, 1) != NULL;
  }
  return row_reshape(I, n->outputs[0], &row, nd, d, batched) != NULL;
}

static int emit_pad(imp *I, int k) {
  const fr__ox_node *n = &I->m->nodes[k];
  val x;
  if (!rt_in(I, n, 0, &x) || !to_nchw(I, &x, &x)) return 0;
  const char *mode = as(n, "mode", "constant");
  if (strcmp(mode, "constant")) return unsupported(I, "Pad in other than constant mode");
  int64_t p[8];
  int np;
  double value = 0;
  if (I->opset >= 11) {
    np = cints(I, in(I, n, 1), p, 8);
    val *cv = opt_in(I, n, 2);
    if (cv) {
      if (cv->kind != V_CONST) return unsupported(I, "a computed pad value");
      value = cget(cv, 0);
    }
    if (opt_in(I, n, 3)) return unsupported(I, "Pad with axes");
  } else {
    np = aints(n, "pads", p, 8);
    value = af(n, "value", 0.f);
  }
  if (I->failed) return 0;
  if (np != 8) return fail(I, FR_E_MODEL, "pads of length %d for a rank-4 tensor", np);
  if (value != 0) return unsupported(I, "Pad with a value other than 0");
  for (int j = 0; j < 8; j++)
    if (p[j] < 0 || p[j] > 65535) return unsupported(I, "negative or huge pads");
  if (p[0] || p[4]) return unsupported(I, "padding the batch");
  int t = fr__pad_full(I->g, x.t, (int)p[2], (int)p[6], (int)p[3], (int)p[7], (int)p[1], (int)p[5]);
  int64_t od[4] = {x.d[0], x.d[1] + p[1] + p[5], x.d[2] + p[2] + p[6], x.d[3] + p[3] + p[7]};
  return set_rt(I, n->outputs[0], t, L_NCHW, 4, od, 1) != NULL;
}

static int emit_resize(imp *I, int k) {
  const fr__ox_node *n = &I->m->nodes[k];
  int upsample = !strcmp(n->op_type, "Upsample");
  val x;
  if (!rt_in(I, n, 0, &x) || !to_nchw(I, &x, &x)) return 0;
  const char *mode = as(n, "mode", "nearest");
  int nearest = !strcmp(mode, "nearest");
  if (!nearest && strcmp(mode, "linear") && strcmp(mode, "bilinear"))
    return unsupported(I, "Resize with cubic interpolation");
  double scales[4] = {1, 1, 1, 1};
  int64_t sizes[4] = {0};
  int have_sizes = 0;
  if (upsample || I->opset == 10) {
    if (I->opset < 9) {
      const fr__ox_attr *a = fr__ox_attr_find(n, "scales");
      if (!a || a->n_floats != 4) return fail(I, FR_E_MODEL, "Upsample without 4 scales");
      for (int j = 0; j < 4; j++) scales[j] = a->floats[j];
    } else {
      val *s = in(I, n, 1);
      if (!s || s->kind != V_CONST || numel(s->d, s->nd) != 4)
        return unsupported(I, "resize scales that are not 4 constants");
      for (int j = 0; j < 4; j++) scales[j] = cget(s, (size_t)j);
    }
  } else {
    val *s = opt_in(I, n, 2), *z = opt_in(I, n, 3);
    if (I->failed) return 0;
    if (z && z->kind == V_CONST && numel(z->d, z->nd) == 4) {
      for (int j = 0; j < 4; j++) sizes[j] = to_i64(cget(z, (size_t)j));
      have_sizes = 1;
    } else if (s && s->kind == V_CONST && numel(s->d, s->nd) == 4) {
      for (int j = 0; j < 4; j++) scales[j] = cget(s, (size_t)j);
    } else {
      return unsupported(I, "resize scales or sizes that are not 4 constants");
    }
  }
  if (!have_sizes)
    for (int j = 0; j < 4; j++) sizes[j] = to_i64(floor((double)x.d[j] * scales[j]));
  if (sizes[0] != x.d[0] || sizes[1] != x.d[1]) return unsupported(I, "resizing the batch or channels");
  if (sizes[2] < 1 || sizes[3] < 1 || sizes[2] > 65536 || sizes[3] > 65536)
    return fail(I, FR_E_MODEL, "resize to %lldx%lld", (long long)sizes[2], (long long)sizes[3]);
  const char *ct = upsample || I->opset < 11 ? "asymmetric"
                                             : as(n, "coordinate_transformation_mode", "half_pixel");
  int flags = nearest ? FR__RESIZE_NEAREST : 0;
  if (!strcmp(ct, "half_pixel") || !strcmp(ct, "pytorch_half_pixel"))
    flags |= FR__RESIZE_HALF_PIXEL;
  else if (!strcmp(ct, "align_corners"))
    flags |= FR__RESIZE_ALIGN_CORNERS;
  else if (strcmp(ct, "asymmetric"))
    return fail(I, FR_E_UNSUPPORTED, "unsupported: coordinate_transformation_mode %s", ct);
  if (!strcmp(ct, "pytorch_half_pixel") && (sizes[2] == 1 || sizes[3] == 1))
    return unsupported(I, "pytorch_half_pixel to a size of 1");
  if (nearest) {
    const char *nm = upsample || I->opset < 11 ? "floor" : as(n, "nearest_mode", "round_prefer_floor");
    if (!strcmp(nm, "floor")) flags |= FR__RESIZE_FLOOR;
    else if (!strcmp(nm, "ceil")) flags |= FR__RESIZE_CEIL;
    else if (!strcmp(nm, "round_prefer_ceil")) flags |= FR__RESIZE_ROUND_PREFER_CEIL;
    else if (strcmp(nm, "round_prefer_floor")) return fail(I, FR_E_UNSUPPORTED, "unsupported: nearest_mode %s", nm);
  }
  int t = fr__resize(I->g, x.t, (int)sizes[2], (int)sizes[3], flags);
  int64_t od[4] = {x.d[0], x.d[1], sizes[2], sizes[3]};
  return set_rt(I, n->outputs[0], t, L_NCHW, 4, od, 1) != NULL;
}

/* ---- the walk ----------------------------------------------------------- */

static int all_const(imp *I, const fr__ox_node *n) {
  for (int j = 0; j < n->n_inputs; j++) {
    if (!n->inputs[j][0]) continue;
    val *v = find(I, n->inputs[j]);
    if (!v) return fail(I, FR_E_MODEL, "input '%s' is not produced before it is used", n->inputs[j]), 0;
    if (v->kind != V_CONST) return 0;
  }
  return 1;
}

static int import_node(imp *I, int k) {
  const fr__ox_node *n = &I->m->nodes[k];
  const char *op = n->op_type;
  if (n->domain[0] && strcmp(n->domain, "ai.onnx"))
    return fail(I, FR_E_UNSUPPORTED, "unsupported: operator domain '%s'", n->domain);
  if (n->n_outputs < 1) return fail(I, FR_E_MODEL, "a node without outputs");
  for (int j = 0; j < n->n_attrs; j++)
    if (n->attrs[j].has_graph) return unsupported(I, "control flow (subgraphs)");
  if (!strcmp(op, "Constant")) {
    const fr__ox_attr *a = fr__ox_attr_find(n, "value");
    const fr__ox_attr *vf = fr__ox_attr_find(n, "value_float");
    const fr__ox_attr *vi = fr__ox_attr_find(n, "value_int");
    const fr__ox_attr *vfs = fr__ox_attr_find(n, "value_floats");
    const fr__ox_attr *vis = fr__ox_attr_find(n, "value_ints");
    if (a && a->t) {
      val *v = new_const(I, n->outputs[0], a->t->ndims, a->t->dims, a->t->f != NULL);
      if (v && a->t->f && a->t->count) memcpy(v->f, a->t->f, a->t->count * sizeof(float));
      if (v && a->t->i && a->t->count) memcpy(v->i, a->t->i, a->t->count * sizeof(int64_t));
      return v != NULL;
    }
    if (vf || vi) {
      val *v = new_const(I, n->outputs[0], 0, NULL, vf != NULL);
      if (v && vf) v->f[0] = vf->f;
      if (v && vi) v->i[0] = vi->i;
      return v != NULL;
    }
    if (vfs || vis) {
      int64_t d1 = vfs ? vfs->n_floats : vis->n_ints;
      val *v = new_const(I, n->outputs[0], 1, &d1, vfs != NULL);
      if (v && vfs && d1) memcpy(v->f, vfs->floats, (size_t)d1 * sizeof(float));
      if (v && vis && d1) memcpy(v->i, vis->ints, (size_t)d1 * sizeof(int64_t));
      return v != NULL;
    }
    return unsupported(I, "a Constant of this kind");
  }
  /* Shape needs only the input's dims, which runtime values have too. */
  if (!strcmp(op, "Shape") || !strcmp(op, "Size")) {
    val *a = in(I, n, 0);
    if (!a) return 0;
    return fold(I, n), !I->failed;
  }
  /* An Add that a waiting convolution will absorb reads that convolution's
   * output, which does not exist yet. */
  if (I->pending[k] >= 0) return emit_binary(I, k);
  if (all_const(I, n)) {
    if (I->failed) return 0;
    if (fold(I, n)) return !I->failed;
    if (!strcmp(op, "Conv") || !strcmp(op, "Gemm") || !strcmp(op, "MatMul"))
      return unsupported(I, "an operator on constants only");
    return fail(I, FR_E_UNSUPPORTED, "unsupported operator %s (on constants)", op);
  }
  if (I->failed) return 0;
  if (!strcmp(op, "Conv") || !strcmp(op, "ConvTranspose")) return emit_conv(I, k, 0);
  if (!strcmp(op, "Gemm") || !strcmp(op, "MatMul")) return emit_gemm(I, k);
  if (!strcmp(op, "Add") || !strcmp(op, "Sub") || !strcmp(op, "Mul") || !strcmp(op, "Div") ||
      !strcmp(op, "Max") || !strcmp(op, "Min"))
    return emit_binary(I, k);
  if (!strcmp(op, "BatchNormalization")) return emit_bn(I, k);
  if (!strcmp(op, "Relu") || !strcmp(op, "LeakyRelu") || !strcmp(op, "Clip") ||
      !strcmp(op, "PRelu") || !strcmp(op, "Sigmoid") || !strcmp(op, "Tanh") ||
      !strcmp(op, "Exp") || !strcmp(op, "Sqrt") || !strcmp(op, "Erf") || !strcmp(op, "Neg") ||
      !strcmp(op, "Abs") || !strcmp(op, "HardSwish") || !strcmp(op, "HardSigmoid") ||
      !strcmp(op, "Pow"))
    return emit_unary(I, k);
  if (!strcmp(op, "MaxPool") || !strcmp(op, "AveragePool") || !strcmp(op, "GlobalAveragePool") ||
      !strcmp(op, "GlobalMaxPool"))
    return emit_pool(I, k);
  if (!strcmp(op, "ReduceMean") || !strcmp(op, "ReduceSum") || !strcmp(op, "ReduceMax") ||
      !strcmp(op, "ReduceL2"))
    return emit_reduce(I, k);
  if (!strcmp(op, "Softmax")) return emit_softmax(I, k);
  if (!strcmp(op, "LpNormalization")) return emit_lpnorm(I, k);
  if (!strcmp(op, "Concat")) return emit_concat(I, k);
  if (!strcmp(op, "Slice") || !strcmp(op, "Split") || !strcmp(op, "Gather")) return emit_slices(I, k);
  if (!strcmp(op, "Reshape") || !strcmp(op, "Flatten") || !strcmp(op, "Squeeze") ||
      !strcmp(op, "Unsqueeze") || !strcmp(op, "Transpose") || !strcmp(op, "Identity") ||
      !strcmp(op, "Dropout") || !strcmp(op, "Expand") || !strcmp(op, "Cast"))
    return emit_shape_op(I, k);
  if (!strcmp(op, "Pad")) return emit_pad(I, k);
  if (!strcmp(op, "Resize") || !strcmp(op, "Upsample")) return emit_resize(I, k);
  return fail(I, FR_E_UNSUPPORTED, "unsupported operator %s", op);
}

static void io_desc(const val *v, const char *name, fr__io_desc *d) {
  memset(d, 0, sizeof *d);
  snprintf(d->name, sizeof d->name, "%s", name);
  d->ndims = v->nd;
  for (int k = 0; k < v->nd && k < FR__IO_MAX_DIMS; k++) d->dims[k] = v->d[k];
  if (v->batched) d->dims[0] = -1;
  d->unbatched = !v->batched;
  d->layout = v->layout == L_NCHW ? FR__LAYOUT_NCHW : FR__LAYOUT_ROWMAJOR;
}

static int is_init(const fr__ox_model *m, const char *name) {
  for (int k = 0; k < m->n_inits; k++)
    if (!strcmp(m->inits[k].name, name)) return 1;
  return 0;
}

static int import(imp *I, const fr__netfile_options *opt, fr__netfile *nf) {
  const fr__ox_model *m = I->m;
  if (m->opset && (m->opset < 7 || m->opset > 21))
    return fail(I, FR_E_UNSUPPORTED, "opset %lld (this importer reads 7 to 21)", (long long)m->opset);
  I->opset = m->opset ? m->opset : 9;
  for (int k = 0; k < m->n_inits; k++) {
    const fr__ox_tensor *t = &m->inits[k];
    val *v = new_const(I, t->name, t->ndims, t->dims, t->f != NULL);
    if (!v) return 0;
    if (t->f && t->count) memcpy(v->f, t->f, t->count * sizeof(float));
    if (t->i && t->count) memcpy(v->i, t->i, t->count * sizeof(int64_t));
  }
  /* The fed input. */
  const fr__ox_value *xin = NULL;
  for (int k = 0; k < m->n_inputs; k++) {
    const fr__ox_value *x = &m->inputs[k];
    if (is_init(m, x->name)) continue;
    if (opt && opt->input_name ? !strcmp(opt->input_name, x->name) : !xin) xin = x;
    else if (!(opt && opt->input_name))
      return fail(I, FR_E_UNSUPPORTED, "the model has several inputs ('%s', '%s'); one is fed",
                  xin->name, x->name);
  }
  if (!xin)
    return fail(I, opt && opt->input_name ? FR_E_NOTFOUND : FR_E_MODEL, "no input %s%s",
                opt && opt->input_name ? "called " : "", opt && opt->input_name ? opt->input_name : "");
  if (xin->dtype && xin->dtype != FR__OX_FLOAT)
    return fail(I, FR_E_UNSUPPORTED, "input '%s' is not float32", xin->name);
  if (xin->ndims < 2 || xin->ndims > 4)
    return fail(I, FR_E_UNSUPPORTED, "input '%s' of rank %d (2 to 4 are read)", xin->name, xin->ndims);
  int64_t d[MAXD];
  for (int k = 0; k < xin->ndims; k++) {
    d[k] = xin->dims[k];
    if (opt && opt->ndims == xin->ndims && opt->dims[k] > 0) {
      if (d[k] > 0 && d[k] != opt->dims[k] && k > 0)
        return fail(I, FR_E_INVALID, "input '%s' has dim %d = %lld, not %lld", xin->name, k,
                    (long long)d[k], (long long)opt->dims[k]);
      d[k] = opt->dims[k];
    }
    if (k == 0 && d[k] <= 0) d[k] = 1;
    if (d[k] <= 0)
      return fail(I, FR_E_INVALID, "input '%s' leaves dim %d open: give its size", xin->name, k);
  }
  I->batch = d[0];
  /* A rank-4 input is an image: NCHW as ONNX exporters from PyTorch write
   * it, or NHWC (TensorFlow exports, [N, H, W, 3]), which the engine holds
   * as it is; the exporter's Transpose to NCHW then costs nothing. */
  int nhwc = xin->ndims == 4 && (d[3] == 1 || d[3] == 3) && d[1] != 1 && d[1] != 3;
  int layout = xin->ndims == 4 && !nhwc ? L_NCHW : L_ROW;
  int chans = (int)(layout == L_NCHW ? d[1] : d[xin->ndims - 1]);
  int t = fr__input(I->g, chans);
  if (!set_rt(I, xin->name, t, layout, xin->ndims, d, 1)) return 0;
  io_desc(find(I, xin->name), xin->name, &nf->input);
  for (int k = 1; k < xin->ndims; k++)
    if (xin->dims[k] <= 0) nf->input.dims[k] = d[k];

  /* Constant nodes first: they read nothing, and exporters often write one
   * right before its use, after the Conv whose output it scales, which must
   * see it to fold it. */
  for (int k = 0; k < m->n_nodes && !I->failed; k++) {
    if (strcmp(m->nodes[k].op_type, "Constant") || m->nodes[k].n_inputs) continue;
    I->cur = k;
    if (!import_node(I, k) || I->failed) return 0;
    I->skip[k] = 1;
  }
  for (int k = 0; k < m->n_nodes && !I->failed; k++) {
    if (I->skip[k]) continue;
    I->cur = k;
    /* fail() returns -1, which some paths pass up as their result: the
     * flag is what says whether the node went wrong. */
    if (!import_node(I, k) || I->failed) return 0;
  }
  I->cur = -1;
  if (I->failed) return 0;
  if (m->n_outputs < 1 || m->n_outputs > FR__MAX_OUTPUTS)
    return fail(I, FR_E_UNSUPPORTED, "%d outputs (1 to %d are read)", m->n_outputs, FR__MAX_OUTPUTS);
  for (int k = 0; k < m->n_outputs; k++) {
    val *v = find(I, m->outputs[k].name);
    if (!v) return fail(I, FR_E_MODEL, "output '%s' is never computed", m->outputs[k].name);
    if (v->kind != V_RT) return fail(I, FR_E_UNSUPPORTED, "output '%s' is a constant", v->name);
    val o = *v;
    if (o.layout == L_FLAT && !to_row(I, &o, &o)) return 0;
    if (fr__output(I->g, o.t) < 0) return fail(I, FR_E_MODEL, "bad output");
    io_desc(&o, m->outputs[k].name, &nf->outputs[k]);
  }
  nf->n_outputs = m->n_outputs;
  return 1;
}

fr_status fr__onnx_load(const void *data, size_t size, const fr__netfile_options *opt,
                        const char *name, fr__netfile *nf, fr_error *err) {
  memset(nf, 0, sizeof *nf);
  const char *label = name ? name : "onnx";
  fr__ox_model *m = NULL;
  fr_status st = fr__ox_parse(data, size, &m, err);
  if (st != FR_OK) return st;
  imp I;
  memset(&I, 0, sizeof I);
  I.m = m;
  I.label = label;
  I.err = err;
  I.cur = -1;
  int nvals = m->n_inits + 1;
  for (int k = 0; k < m->n_nodes; k++) nvals += m->nodes[k].n_outputs;
  I.capv = nvals + 16;
  I.hcap = 64;
  while (I.hcap < 2 * I.capv + 2) I.hcap *= 2;
  I.v = fr__calloc((size_t)I.capv, sizeof *I.v);
  I.hash = fr__malloc((size_t)I.hcap * sizeof *I.hash);
  I.skip = fr__calloc((size_t)m->n_nodes + 1, 1);
  I.pending = fr__malloc(((size_t)m->n_nodes + 1) * sizeof *I.pending);
  I.rd = fr__calloc((size_t)I.hcap, sizeof *I.rd);
  if (!I.v || !I.hash || !I.skip || !I.pending || !I.rd) {
    st = fr__fail(err, FR_E_NOMEM, "%s: out of memory", label);
    goto done;
  }
  for (int k = 0; k < I.hcap; k++) I.hash[k] = -1;
  for (int k = 0; k <= m->n_nodes; k++) I.pending[k] = -1;
  /* The readers table is keyed by every name a node reads or the graph
   * outputs, at most inputs + outputs of all nodes: sized for that. */
  {
    size_t names = (size_t)m->n_outputs;
    for (int k = 0; k < m->n_nodes; k++) names += (size_t)m->nodes[k].n_inputs;
    if (names + 1 > (size_t)I.hcap / 2) {
      fr__free(I.rd);
      size_t cap = (size_t)I.hcap;
      while (cap < 2 * names + 2) cap *= 2;
      if (cap > ((size_t)1 << 28)) {
        st = fr__fail(err, FR_E_LIMIT, "%s: too many node inputs", label);
        goto done;
      }
      /* Both tables share hcap, so the values' table grows too. */
      fr__free(I.hash);
      I.hcap = (int)cap;
      I.hash = fr__malloc(cap * sizeof *I.hash);
      I.rd = fr__calloc(cap, sizeof *I.rd);
      if (!I.hash || !I.rd) {
        st = fr__fail(err, FR_E_NOMEM, "%s: out of memory", label);
        goto done;
      }
      for (size_t k = 0; k < cap; k++) I.hash[k] = -1;
    }
  }
  count_readers(&I);
  st = fr__graph_create(opt ? opt->kernels : NULL, label, &I.g, err);
  if (st != FR_OK) goto done;
  if (!import(&I, opt, nf) || I.failed) {
    st = err ? err->status : FR_E_MODEL;
    if (st == FR_OK) st = FR_E_MODEL;
    goto done;
  }
  /* A node that nothing reads is still computed by the engine; a deferred
   * convolution whose Add never came is a bug here. */
  for (int k = 0; k < m->n_nodes; k++)
    if (I.pending[k] >= 0 && !I.skip[k]) {
      st = fr__fail(err, FR_E_INTERNAL, "%s: a convolution was left unemitted", label);
      goto done;
    }
  st = fr__graph_finish(I.g, err);
  if (st != FR_OK) goto done;
  nf->graph = I.g;
  I.g = NULL;
  snprintf(nf->format, sizeof nf->format, "onnx");
done:
  if (I.g) fr__graph_destroy(I.g);
  while (I.blocks) {
    block *b = I.blocks;
    I.blocks = b->next;
    fr__free(b);
  }
  fr__free(I.v);
  fr__free(I.hash);
  fr__free(I.skip);
  fr__free(I.pending);
  fr__free(I.rd);
  fr__ox_free(m);
  if (st != FR_OK) memset(nf, 0, sizeof *nf);
  return st;
}
