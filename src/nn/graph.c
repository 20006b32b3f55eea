/*
 * graph.c - building, planning and running fr__graph networks.
 */
#include "nn/nn.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FR__MAX_IN 8

typedef enum {
  OP_CONV,
  OP_DWCONV,
  OP_FC,
  OP_ADD,
  OP_MAXPOOL,
  OP_AVGPOOL,
  OP_PAD,
  OP_MEAN,
  OP_ACT
} op_kind;

typedef struct node {
  op_kind op;
  int in[FR__MAX_IN];
  int nin;
  int out;
  int residual; /* tensor id or -1 */
  int kh, kw, cin, cout, stride;
  fr__padding pad;
  fr__act act;
  float alpha;
  int pad_bottom, pad_right, pad_channels;
  float *w; /* packed weights (owned) */
  float *b; /* bias (owned) or NULL */
} node;

struct fr__graph {
  uint64_t uid; /* identity for plan caches; see fr__graph_uid */
  const fr__kernels *k;
  char name[64];
  node *nodes;
  int n_nodes, cap_nodes;
  int *chan; /* channels per tensor */
  int n_tensors, cap_tensors;
  int input;
  int outputs[8];
  int n_outputs;
  int finished;
  fr_error first_error;
  int failed;
};

/* ---- building ----------------------------------------------------------- */

fr_status fr__graph_create(const fr__kernels *kernels, const char *name, fr__graph **out,
                           fr_error *err) {
  *out = NULL;
  fr__graph *g = calloc(1, sizeof *g);
  if (!g) return fr__fail(err, FR_E_NOMEM, "out of memory creating graph");
  /* Contexts cache plans by graph. A pointer is not a safe key: a destroyed
   * graph's address can be reused by a new one. The one process-wide
   * counter in the library gives every graph a distinct identity instead. */
  static _Atomic uint64_t next_uid = 1;
  g->uid = atomic_fetch_add(&next_uid, 1);
  g->k = kernels ? kernels : fr__kernels_best();
  snprintf(g->name, sizeof g->name, "%s", name ? name : "network");
  g->input = -1;
  *out = g;
  return FR_OK;
}

void fr__graph_destroy(fr__graph *g) {
  if (!g) return;
  for (int i = 0; i < g->n_nodes; i++) {
    fr__aligned_free(g->nodes[i].w);
    fr__aligned_free(g->nodes[i].b);
  }
  free(g->nodes);
  free(g->chan);
  free(g);
}

static int gfail(fr__graph *g, fr_status st, const char *msg, int a) {
  if (!g->failed) {
    g->failed = 1;
    fr__fail(&g->first_error, st, "%s: %s (%d)", g->name, msg, a);
  }
  return -1;
}

static int valid_tensor(const fr__graph *g, int x) { return x >= 0 && x < g->n_tensors; }

static int new_tensor(fr__graph *g, int channels) {
  if (g->n_tensors == g->cap_tensors) {
    int cap = g->cap_tensors ? 2 * g->cap_tensors : 64;
    int *c = realloc(g->chan, (size_t)cap * sizeof *c);
    if (!c) return gfail(g, FR_E_NOMEM, "out of memory", cap);
    g->chan = c;
    g->cap_tensors = cap;
  }
  g->chan[g->n_tensors] = channels;
  return g->n_tensors++;
}

/* Appends a node whose output tensor has `channels`; returns it or NULL. */
static node *new_node(fr__graph *g, op_kind op, int channels) {
  if (g->failed) return NULL;
  if (g->finished) {
    gfail(g, FR_E_INTERNAL, "graph modified after finish", 0);
    return NULL;
  }
  if (channels <= 0) {
    gfail(g, FR_E_INVALID, "bad channel count", channels);
    return NULL;
  }
  if (g->n_nodes == g->cap_nodes) {
    int cap = g->cap_nodes ? 2 * g->cap_nodes : 64;
    node *n = realloc(g->nodes, (size_t)cap * sizeof *n);
    if (!n) {
      gfail(g, FR_E_NOMEM, "out of memory", cap);
      return NULL;
    }
    g->nodes = n;
    g->cap_nodes = cap;
  }
  int t = new_tensor(g, channels);
  if (t < 0) return NULL;
  node *nd = &g->nodes[g->n_nodes++];
  memset(nd, 0, sizeof *nd);
  nd->op = op;
  nd->out = t;
  nd->residual = -1;
  nd->stride = 1;
  return nd;
}

static float *copy_floats(fr__graph *g, const float *src, size_t n) {
  if (!src) return NULL;
  float *d = fr__aligned_alloc(n * sizeof(float));
  if (!d) {
    gfail(g, FR_E_NOMEM, "out of memory copying weights", (int)n);
    return NULL;
  }
  memcpy(d, src, n * sizeof(float));
  return d;
}

int fr__input(fr__graph *g, int channels) {
  if (g->failed) return -1;
  if (g->input >= 0) return gfail(g, FR_E_INTERNAL, "second input", channels);
  if (channels <= 0) return gfail(g, FR_E_INVALID, "bad input channels", channels);
  g->input = new_tensor(g, channels);
  return g->input;
}

int fr__conv2d(fr__graph *g, int x, const float *w_hwio, const float *bias, int kh, int kw,
               int cout, int stride, fr__padding pad, fr__act act, float alpha, int residual) {
  if (g->failed) return -1;
  if (!valid_tensor(g, x) || !w_hwio || kh <= 0 || kw <= 0 || stride <= 0)
    return gfail(g, FR_E_INVALID, "bad conv2d arguments", x);
  if (residual >= 0 && (!valid_tensor(g, residual) || g->chan[residual] != cout))
    return gfail(g, FR_E_INVALID, "conv2d residual channel mismatch", residual);
  int cin = g->chan[x];
  node *nd = new_node(g, OP_CONV, cout);
  if (!nd) return -1;
  nd->in[0] = x;
  nd->nin = 1;
  nd->kh = kh;
  nd->kw = kw;
  nd->cin = cin;
  nd->cout = cout;
  nd->stride = stride;
  nd->pad = pad;
  nd->act = act;
  nd->alpha = alpha;
  nd->residual = residual;
  nd->w = g->k->pack_conv(w_hwio, kh, kw, cin, cout);
  if (!nd->w) return gfail(g, FR_E_NOMEM, "out of memory packing weights", cout);
  if (bias && !(nd->b = copy_floats(g, bias, (size_t)cout))) return -1;
  return nd->out;
}

int fr__dwconv2d(fr__graph *g, int x, const float *w, const float *bias, int kh, int kw,
                 int stride, fr__padding pad, fr__act act, float alpha) {
  if (g->failed) return -1;
  if (!valid_tensor(g, x) || !w || kh <= 0 || kw <= 0 || stride <= 0)
    return gfail(g, FR_E_INVALID, "bad dwconv2d arguments", x);
  int c = g->chan[x];
  node *nd = new_node(g, OP_DWCONV, c);
  if (!nd) return -1;
  nd->in[0] = x;
  nd->nin = 1;
  nd->kh = kh;
  nd->kw = kw;
  nd->cin = nd->cout = c;
  nd->stride = stride;
  nd->pad = pad;
  nd->act = act;
  nd->alpha = alpha;
  if (!(nd->w = copy_floats(g, w, (size_t)kh * kw * c))) return -1;
  if (bias && !(nd->b = copy_floats(g, bias, (size_t)c))) return -1;
  return nd->out;
}

int fr__fc(fr__graph *g, int x, const float *w, const float *bias, int in, int out, fr__act act,
           float alpha) {
  if (g->failed) return -1;
  if (!valid_tensor(g, x) || !w || in <= 0 || out <= 0)
    return gfail(g, FR_E_INVALID, "bad fc arguments", x);
  node *nd = new_node(g, OP_FC, out);
  if (!nd) return -1;
  nd->in[0] = x;
  nd->nin = 1;
  nd->kh = nd->kw = 1;
  nd->cin = in; /* checked against h*w*c at plan time */
  nd->cout = out;
  nd->act = act;
  nd->alpha = alpha;
  nd->w = g->k->pack_conv(w, 1, 1, in, out);
  if (!nd->w) return gfail(g, FR_E_NOMEM, "out of memory packing weights", out);
  if (bias && !(nd->b = copy_floats(g, bias, (size_t)out))) return -1;
  return nd->out;
}

int fr__add(fr__graph *g, const int *xs, int n, fr__act act, float alpha) {
  if (g->failed) return -1;
  if (n < 2 || n > FR__MAX_IN) return gfail(g, FR_E_INVALID, "add needs 2..8 inputs", n);
  for (int i = 0; i < n; i++)
    if (!valid_tensor(g, xs[i]) || g->chan[xs[i]] != g->chan[xs[0]])
      return gfail(g, FR_E_INVALID, "add input mismatch", i);
  node *nd = new_node(g, OP_ADD, g->chan[xs[0]]);
  if (!nd) return -1;
  memcpy(nd->in, xs, (size_t)n * sizeof *xs);
  nd->nin = n;
  nd->act = act;
  nd->alpha = alpha;
  return nd->out;
}

static int pool_node(fr__graph *g, op_kind op, int x, int k, int stride, fr__padding pad) {
  if (g->failed) return -1;
  if (!valid_tensor(g, x) || k <= 0 || stride <= 0)
    return gfail(g, FR_E_INVALID, "bad pool arguments", x);
  node *nd = new_node(g, op, g->chan[x]);
  if (!nd) return -1;
  nd->in[0] = x;
  nd->nin = 1;
  nd->kh = nd->kw = k;
  nd->stride = stride;
  nd->pad = pad;
  return nd->out;
}

int fr__maxpool(fr__graph *g, int x, int k, int stride, fr__padding pad) {
  return pool_node(g, OP_MAXPOOL, x, k, stride, pad);
}

int fr__avgpool(fr__graph *g, int x, int k, int stride, fr__padding pad) {
  return pool_node(g, OP_AVGPOOL, x, k, stride, pad);
}

int fr__pad(fr__graph *g, int x, int bottom, int right, int channels) {
  if (g->failed) return -1;
  if (!valid_tensor(g, x) || bottom < 0 || right < 0 || channels < 0)
    return gfail(g, FR_E_INVALID, "bad pad arguments", x);
  node *nd = new_node(g, OP_PAD, g->chan[x] + channels);
  if (!nd) return -1;
  nd->in[0] = x;
  nd->nin = 1;
  nd->pad_bottom = bottom;
  nd->pad_right = right;
  nd->pad_channels = channels;
  return nd->out;
}

int fr__mean(fr__graph *g, int x) {
  if (g->failed) return -1;
  if (!valid_tensor(g, x)) return gfail(g, FR_E_INVALID, "bad mean input", x);
  node *nd = new_node(g, OP_MEAN, g->chan[x]);
  if (!nd) return -1;
  nd->in[0] = x;
  nd->nin = 1;
  return nd->out;
}

int fr__activate(fr__graph *g, int x, fr__act act, float alpha) {
  if (g->failed) return -1;
  if (!valid_tensor(g, x)) return gfail(g, FR_E_INVALID, "bad activation input", x);
  node *nd = new_node(g, OP_ACT, g->chan[x]);
  if (!nd) return -1;
  nd->in[0] = x;
  nd->nin = 1;
  nd->act = act;
  nd->alpha = alpha;
  return nd->out;
}

int fr__output(fr__graph *g, int x) {
  if (g->failed) return -1;
  if (!valid_tensor(g, x)) return gfail(g, FR_E_INVALID, "bad output tensor", x);
  if (g->n_outputs == 8) return gfail(g, FR_E_INVALID, "too many outputs", x);
  g->outputs[g->n_outputs] = x;
  return g->n_outputs++;
}

fr_status fr__graph_finish(fr__graph *g, fr_error *err) {
  if (g->failed) {
    if (err) *err = g->first_error;
    return g->first_error.status;
  }
  if (g->input < 0 || g->n_outputs == 0 || g->n_nodes == 0)
    return fr__fail(err, FR_E_INTERNAL, "%s: graph without input, nodes or outputs", g->name);
  g->finished = 1;
  return FR_OK;
}

int fr__channels(const fr__graph *g, int x) { return valid_tensor(g, x) ? g->chan[x] : 0; }

const fr__kernels *fr__graph_kernels(const fr__graph *g) { return g->k; }

uint64_t fr__graph_uid(const fr__graph *g) { return g->uid; }

/* ---- shapes ------------------------------------------------------------- */

typedef struct shape {
  int n, h, w, c;
} shape;

static size_t shape_count(shape s) { return (size_t)s.n * s.h * s.w * s.c; }

/* Output size and leading padding of a windowed op, TensorFlow semantics. */
static int window_out(int in, int k, int stride, fr__padding pad, int *pad_lead) {
  if (pad == FR__PAD_SAME) {
    int out = (in + stride - 1) / stride;
    int total = (out - 1) * stride + k - in;
    if (total < 0) total = 0;
    *pad_lead = total / 2;
    return out;
  }
  *pad_lead = 0;
  if (in < k) return 0;
  return (in - k) / stride + 1;
}

/* Computes every tensor's shape for an input; returns 0 if some shape is
 * empty or inconsistent (input too small for the network, say). */
static int infer_shapes(const fr__graph *g, shape in, shape *sh, fr_error *err) {
  sh[g->input] = in;
  for (int i = 0; i < g->n_nodes; i++) {
    const node *nd = &g->nodes[i];
    shape a = sh[nd->in[0]], o = a;
    int pt, pl;
    switch (nd->op) {
    case OP_CONV:
    case OP_DWCONV:
    case OP_MAXPOOL:
    case OP_AVGPOOL:
      o.h = window_out(a.h, nd->kh, nd->stride, nd->pad, &pt);
      o.w = window_out(a.w, nd->kw, nd->stride, nd->pad, &pl);
      o.c = g->chan[nd->out];
      break;
    case OP_FC:
      if ((size_t)a.h * a.w * a.c != (size_t)nd->cin) {
        fr__fail(err, FR_E_INVALID, "%s: fully connected layer expects %d inputs, got %dx%dx%d",
                 g->name, nd->cin, a.h, a.w, a.c);
        return 0;
      }
      o.h = o.w = 1;
      o.c = nd->cout;
      break;
    case OP_ADD:
      for (int j = 1; j < nd->nin; j++) {
        shape b = sh[nd->in[j]];
        if (b.h != a.h || b.w != a.w || b.c != a.c) {
          fr__fail(err, FR_E_INVALID, "%s: add of %dx%dx%d and %dx%dx%d", g->name, a.h, a.w, a.c,
                   b.h, b.w, b.c);
          return 0;
        }
      }
      break;
    case OP_PAD:
      o.h += nd->pad_bottom;
      o.w += nd->pad_right;
      o.c += nd->pad_channels;
      break;
    case OP_MEAN:
      o.h = o.w = 1;
      break;
    case OP_ACT: break;
    }
    if (o.h <= 0 || o.w <= 0) {
      fr__fail(err, FR_E_INVALID, "%s: input %dx%d is too small for this network", g->name, in.h,
               in.w);
      return 0;
    }
    if (nd->residual >= 0) {
      shape r = sh[nd->residual];
      if (r.h != o.h || r.w != o.w || r.c != o.c) {
        fr__fail(err, FR_E_INVALID, "%s: residual %dx%dx%d does not match %dx%dx%d", g->name,
                 r.h, r.w, r.c, o.h, o.w, o.c);
        return 0;
      }
    }
    sh[nd->out] = o;
  }
  return 1;
}

static void conv_args(const node *nd, const shape *sh, const float *in, float *out,
                      const float *res, fr__conv_args *a) {
  shape i = sh[nd->in[0]], o = sh[nd->out];
  memset(a, 0, sizeof *a);
  a->in = in;
  a->n = i.n;
  a->ih = i.h;
  a->iw = i.w;
  a->cin = i.c;
  a->out = out;
  a->oh = o.h;
  a->ow = o.w;
  a->cout = o.c;
  a->kh = nd->kh;
  a->kw = nd->kw;
  a->stride = nd->stride;
  if (nd->op == OP_FC) {
    /* A fully connected layer is a 1x1 convolution over a 1x1 image whose
     * channels are the flattened input. */
    a->ih = a->iw = 1;
    a->cin = nd->cin;
  } else {
    window_out(i.h, nd->kh, nd->stride, nd->pad, &a->pad_top);
    window_out(i.w, nd->kw, nd->stride, nd->pad, &a->pad_left);
  }
  a->w = nd->w;
  a->bias = nd->b;
  a->residual = res;
  a->act = nd->act;
  a->alpha = nd->alpha;
}

double fr__graph_macs(const fr__graph *g, int n, int h, int w) {
  shape *sh = calloc((size_t)g->n_tensors, sizeof *sh);
  if (!sh) return 0;
  double macs = 0;
  if (infer_shapes(g, (shape){n, h, w, g->chan[g->input]}, sh, NULL)) {
    for (int i = 0; i < g->n_nodes; i++) {
      const node *nd = &g->nodes[i];
      shape o = sh[nd->out];
      if (nd->op == OP_CONV || nd->op == OP_FC)
        macs += (double)o.n * o.h * o.w * o.c * nd->kh * nd->kw * nd->cin;
      else if (nd->op == OP_DWCONV)
        macs += (double)o.n * o.h * o.w * o.c * nd->kh * nd->kw;
    }
  }
  free(sh);
  return macs;
}

/* ---- plans -------------------------------------------------------------- */

struct fr__plan {
  const fr__graph *g;
  shape *sh;
  size_t *off; /* float offset of each tensor in the arena */
  float *arena;
  size_t arena_floats;
  float *scratch; /* nthreads blocks of scratch_floats */
  size_t scratch_floats;
  int nthreads;
};

typedef struct block {
  size_t off, size;
  int death;
} block;

fr_status fr__plan_create(const fr__graph *g, int n, int h, int w, int nthreads,
                          fr__plan **out, fr_error *err) {
  *out = NULL;
  if (!g->finished) return fr__fail(err, FR_E_INTERNAL, "%s: plan of unfinished graph", g->name);
  if (n <= 0 || h <= 0 || w <= 0 || nthreads <= 0)
    return fr__fail(err, FR_E_INVALID, "%s: bad input size %dx%dx%d", g->name, n, h, w);
  fr__plan *p = calloc(1, sizeof *p);
  int nt = g->n_tensors;
  int *birth = malloc((size_t)nt * sizeof *birth);
  int *death = malloc((size_t)nt * sizeof *death);
  block *live = malloc((size_t)nt * sizeof *live);
  if (!p || !birth || !death || !live) goto nomem;
  p->g = g;
  p->nthreads = nthreads;
  p->sh = calloc((size_t)nt, sizeof *p->sh);
  p->off = calloc((size_t)nt, sizeof *p->off);
  if (!p->sh || !p->off) goto nomem;
  if (!infer_shapes(g, (shape){n, h, w, g->chan[g->input]}, p->sh, err)) goto fail;

  /* Lifetimes in node indices: the input is born before node 0; a tensor
   * dies at the last node that reads it; outputs live to the end. */
  for (int t = 0; t < nt; t++) birth[t] = -1, death[t] = -1;
  for (int i = 0; i < g->n_nodes; i++) {
    const node *nd = &g->nodes[i];
    birth[nd->out] = i;
    for (int j = 0; j < nd->nin; j++) death[nd->in[j]] = i;
    if (nd->residual >= 0) death[nd->residual] = i;
  }
  for (int k = 0; k < g->n_outputs; k++) death[g->outputs[k]] = g->n_nodes;
  if (death[g->input] < 0) death[g->input] = 0;

  /* Greedy first-fit over a list of live blocks sorted by offset. A block is
   * reusable by a tensor born after the block's death: the node that last
   * reads a tensor must not write its output over it. */
  int nlive = 0;
  size_t top = 0, scratch = 0;
  for (int t = 0; t < nt; t++) {
    if (death[t] < 0) continue; /* dead on arrival (unused node output) */
    size_t need = 0;
    if (!fr__mul_size(shape_count(p->sh[t]), 1, &need) || need > ((size_t)1 << 31)) {
      fr__fail(err, FR_E_LIMIT, "%s: input %dx%d needs too much activation memory", g->name, h,
               w);
      goto fail;
    }
    need = (need + 15) & ~(size_t)15; /* keep every tensor 64-byte aligned */
    int j = 0;
    for (int i = 0; i < nlive; i++)
      if (live[i].death >= birth[t]) live[j++] = live[i];
    nlive = j;
    size_t at = 0;
    int pos = 0;
    for (; pos < nlive; pos++) {
      if (live[pos].off >= at + need) break;
      if (live[pos].off + live[pos].size > at) at = live[pos].off + live[pos].size;
    }
    memmove(&live[pos + 1], &live[pos], (size_t)(nlive - pos) * sizeof *live);
    live[pos] = (block){at, need, death[t]};
    nlive++;
    p->off[t] = at;
    if (at + need > top) top = at + need;
  }
  for (int i = 0; i < g->n_nodes; i++) {
    const node *nd = &g->nodes[i];
    if (nd->op != OP_CONV && nd->op != OP_FC) continue;
    fr__conv_args a;
    conv_args(nd, p->sh, NULL, NULL, NULL, &a);
    size_t s = g->k->conv_scratch(&a);
    if (s > scratch) scratch = s;
  }
  p->arena_floats = top;
  p->scratch_floats = (scratch + 15) & ~(size_t)15;
  p->arena = fr__aligned_calloc(top * sizeof(float));
  if (top && !p->arena) goto nomem;
  if (p->scratch_floats) {
    p->scratch = fr__aligned_alloc(p->scratch_floats * sizeof(float) * (size_t)nthreads);
    if (!p->scratch) goto nomem;
  }
  free(birth);
  free(death);
  free(live);
  *out = p;
  return FR_OK;
nomem:
  fr__fail(err, FR_E_NOMEM, "%s: out of memory planning %dx%d input", g->name, h, w);
fail:
  free(birth);
  free(death);
  free(live);
  fr__plan_destroy(p);
  return err ? err->status : FR_E_NOMEM;
}

void fr__plan_destroy(fr__plan *p) {
  if (!p) return;
  free(p->sh);
  free(p->off);
  fr__aligned_free(p->arena);
  fr__aligned_free(p->scratch);
  free(p);
}

float *fr__plan_input(fr__plan *p) { return p->arena + p->off[p->g->input]; }

size_t fr__plan_bytes(const fr__plan *p) {
  return (p->arena_floats + p->scratch_floats * (size_t)p->nthreads) * sizeof(float);
}

const float *fr__plan_output(const fr__plan *p, int k, int shape4[4]) {
  if (k < 0 || k >= p->g->n_outputs) return NULL;
  int t = p->g->outputs[k];
  if (shape4) {
    shape4[0] = p->sh[t].n;
    shape4[1] = p->sh[t].h;
    shape4[2] = p->sh[t].w;
    shape4[3] = p->sh[t].c;
  }
  return p->arena + p->off[t];
}

/* ---- running ------------------------------------------------------------ */

typedef struct job {
  const fr__kernels *k;
  fr__conv_args a;
  int ntasks;
  float *scratch;
  size_t scratch_floats;
} job;

static void conv_task(void *arg, int task, int thread) {
  job *j = arg;
  j->k->conv_run(&j->a, task, j->ntasks, j->scratch + (size_t)thread * j->scratch_floats);
}

static void dw_task(void *arg, int task, int thread) {
  (void)thread;
  job *j = arg;
  j->k->dw_run(&j->a, task, j->ntasks);
}

/* o = max(o, in) elementwise, written so that it vectorises. */
static void max_into(float *o, const float *in, int n) {
  for (int c = 0; c < n; c++) o[c] = in[c] > o[c] ? in[c] : o[c];
}

/* y = a + b elementwise; y may alias a. */
static void add_into(float *y, const float *a, const float *b, size_t n) {
  for (size_t e = 0; e < n; e++) y[e] = a[e] + b[e];
}

static void run_pool(const float *x, float *y, shape si, shape so, const node *nd) {
  int pt, pl;
  window_out(si.h, nd->kh, nd->stride, nd->pad, &pt);
  window_out(si.w, nd->kw, nd->stride, nd->pad, &pl);
  int is_max = nd->op == OP_MAXPOOL;
  for (int b = 0; b < so.n; b++)
    for (int oy = 0; oy < so.h; oy++)
      for (int ox = 0; ox < so.w; ox++) {
        float *o = y + (((size_t)b * so.h + oy) * so.w + ox) * so.c;
        int y0 = oy * nd->stride - pt, x0 = ox * nd->stride - pl;
        int cnt = 0;
        for (int c = 0; c < so.c; c++) o[c] = is_max ? -INFINITY : 0.f;
        for (int ky = 0; ky < nd->kh; ky++) {
          int iy = y0 + ky;
          if (iy < 0 || iy >= si.h) continue;
          for (int kx = 0; kx < nd->kw; kx++) {
            int ix = x0 + kx;
            if (ix < 0 || ix >= si.w) continue;
            const float *in = x + (((size_t)b * si.h + iy) * si.w + ix) * si.c;
            cnt++;
            if (is_max)
              max_into(o, in, so.c);
            else
              add_into(o, o, in, (size_t)so.c);
          }
        }
        if (!is_max && cnt > 0) {
          float inv = 1.f / (float)cnt;
          for (int c = 0; c < so.c; c++) o[c] *= inv;
        }
      }
}


/* y = act(x); y may alias x. Each activation gets its own branch-free loop so
 * that it vectorises. */
static void activate(float *y, const float *x, size_t n, fr__act act, float alpha) {
  switch (act) {
  case FR__ACT_RELU:
    for (size_t e = 0; e < n; e++) y[e] = x[e] > 0.f ? x[e] : 0.f;
    break;
  case FR__ACT_RELU6:
    for (size_t e = 0; e < n; e++) {
      float v = x[e] > 0.f ? x[e] : 0.f;
      y[e] = v < 6.f ? v : 6.f;
    }
    break;
  case FR__ACT_LEAKY:
    for (size_t e = 0; e < n; e++) y[e] = x[e] < 0.f ? alpha * x[e] : x[e];
    break;
  default:
    if (y != x) memmove(y, x, n * sizeof(float));
    break;
  }
}

void fr__run(const fr__graph *g, fr__plan *p, fr_pool *pool) {
  int nthreads = fr_pool_size(pool);
  if (nthreads > p->nthreads) nthreads = p->nthreads;
  for (int i = 0; i < g->n_nodes; i++) {
    const node *nd = &g->nodes[i];
    const float *x = p->arena + p->off[nd->in[0]];
    float *y = p->arena + p->off[nd->out];
    shape si = p->sh[nd->in[0]], so = p->sh[nd->out];
    size_t count = shape_count(so);
    switch (nd->op) {
    case OP_CONV:
    case OP_FC:
    case OP_DWCONV: {
      job j;
      j.k = g->k;
      conv_args(nd, p->sh, x, y, nd->residual >= 0 ? p->arena + p->off[nd->residual] : NULL,
                &j.a);
      j.scratch = p->scratch;
      j.scratch_floats = p->scratch_floats;
      if (nd->op == OP_DWCONV) {
        j.ntasks = g->k->dw_tasks(&j.a, nthreads);
        fr__pool_run(nthreads > 1 ? pool : NULL, j.ntasks, dw_task, &j);
      } else {
        j.ntasks = g->k->conv_tasks(&j.a, nthreads);
        fr__pool_run(nthreads > 1 ? pool : NULL, j.ntasks, conv_task, &j);
      }
      break;
    }
    case OP_ADD: {
      /* One input at a time over the whole tensor, then the activation in a
       * separate pass: plain loops over restrict pointers that the compiler
       * vectorises, instead of a gather per element. */
      const float *x1 = p->arena + p->off[nd->in[1]];
      add_into(y, x, x1, count);
      for (int k = 2; k < nd->nin; k++) add_into(y, y, p->arena + p->off[nd->in[k]], count);
      activate(y, y, count, nd->act, nd->alpha);
      break;
    }
    case OP_ACT: activate(y, x, count, nd->act, nd->alpha); break;
    case OP_MAXPOOL:
    case OP_AVGPOOL: run_pool(x, y, si, so, nd); break;
    case OP_PAD:
      memset(y, 0, count * sizeof(float));
      for (int b = 0; b < si.n; b++)
        for (int yy = 0; yy < si.h; yy++)
          for (int xx = 0; xx < si.w; xx++)
            memcpy(y + (((size_t)b * so.h + yy) * so.w + xx) * so.c,
                   x + (((size_t)b * si.h + yy) * si.w + xx) * si.c, (size_t)si.c * sizeof(float));
      break;
    case OP_MEAN:
      for (int b = 0; b < si.n; b++) {
        float *o = y + (size_t)b * si.c;
        for (int c = 0; c < si.c; c++) o[c] = 0.f;
        const float *in = x + (size_t)b * si.h * si.w * si.c;
        for (int e = 0; e < si.h * si.w; e++)
          for (int c = 0; c < si.c; c++) o[c] += in[(size_t)e * si.c + c];
        float inv = 1.f / (float)(si.h * si.w);
        for (int c = 0; c < si.c; c++) o[c] *= inv;
      }
      break;
    }
  }
}
