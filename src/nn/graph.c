/*
 * graph.c - building, planning and running fr__graph networks.
 */
#include "nn/nn.h"
#include "nn/quant.h"

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
  OP_ACT,
  /* General ops for imported graphs (nn.h, "general tensor ops"). */
  OP_BINARY,
  OP_UNARY,
  OP_PRELU,
  OP_SOFTMAX,
  OP_REDUCE,
  OP_CONCAT,
  OP_RESHAPE,
  OP_RESIZE,
  OP_PAD_FULL,
  /* For imported ONNX graphs. */
  OP_CONV_GENERAL,
  OP_TRANSPOSE,
  OP_SLICE
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
  void *wq; /* or compressed ones (owned; fr__conv2d_u8), w then NULL */
  float *b; /* bias (owned) or NULL */
  /* General ops: the operator, axis or flags, the constant operand's shape
   * (OP_BINARY with nin == 1; the constant is w), the fixed output size of
   * a reshape or resize, and the six padding amounts of OP_PAD_FULL. */
  int sub, axis, flags;
  int kshape[3];
  int oh, ow;
  int pads[6]; /* OP_PAD_FULL; FR__PAD_EXPLICIT windows: top, bottom, left, right */
  float beta;
  fr__conv_general cg; /* OP_CONV_GENERAL */
  int perm[4];         /* OP_TRANSPOSE; OP_SLICE: start, len, step */
  fr__qconv *q; /* int8 convolution (owned), or NULL: see nn/quant.h */
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
  int outputs[FR__MAX_OUTPUTS];
  int n_outputs;
  int finished;
  fr_error first_error;
  int failed;
  const fr__quant_range *qr; /* while building: fr__graph_set_quant */
  int nqr;
};

/* ---- building ----------------------------------------------------------- */

fr_status fr__graph_create(const fr__kernels *kernels, const char *name, fr__graph **out,
                           fr_error *err) {
  *out = NULL;
  fr__graph *g = fr__calloc(1, sizeof *g);
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
    fr__aligned_free(g->nodes[i].wq);
    fr__aligned_free(g->nodes[i].b);
    fr__qconv_destroy(g->nodes[i].q);
  }
  fr__free(g->nodes);
  fr__free(g->chan);
  fr__free(g);
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
    int *c = fr__realloc(g->chan, (size_t)cap * sizeof *c);
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
    node *n = fr__realloc(g->nodes, (size_t)cap * sizeof *n);
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

/* A convolution node with its arguments set and no weights yet; NULL (the
 * graph failed) when residual does not fit or memory runs out. */
static node *conv_node(fr__graph *g, int x, int kh, int kw, int cout, int stride, fr__padding pad,
                       fr__act act, float alpha, int residual) {
  if (residual >= 0 && (!valid_tensor(g, residual) || g->chan[residual] != cout)) {
    gfail(g, FR_E_INVALID, "conv2d residual channel mismatch", residual);
    return NULL;
  }
  node *nd = new_node(g, OP_CONV, cout);
  if (!nd) return NULL;
  nd->in[0] = x;
  nd->nin = 1;
  nd->kh = kh;
  nd->kw = kw;
  nd->cin = g->chan[x];
  nd->cout = cout;
  nd->stride = stride;
  nd->pad = pad;
  nd->act = act;
  nd->alpha = alpha;
  nd->residual = residual;
  return nd;
}

int fr__conv2d(fr__graph *g, int x, const float *w_hwio, const float *bias, int kh, int kw,
               int cout, int stride, fr__padding pad, fr__act act, float alpha, int residual) {
  if (g->failed) return -1;
  if (!valid_tensor(g, x) || !w_hwio || kh <= 0 || kw <= 0 || stride <= 0)
    return gfail(g, FR_E_INVALID, "bad conv2d arguments", x);
  int cin = g->chan[x];
  node *nd = conv_node(g, x, kh, kw, cout, stride, pad, act, alpha, residual);
  if (!nd) return -1;
  if (bias && !(nd->b = copy_floats(g, bias, (size_t)cout))) return -1;
  if (g->qr && x < g->nqr && g->qr[x].hi > 0.f) {
    /* An int8 convolution runs only on its own quantised weights (see run),
     * so it packs no float copy. Its integer kernel follows the graph's
     * kernel set, as the float nodes do. */
    nd->q = fr__qconv_create(g->k->int8_max, w_hwio, bias, kh, kw, cin, cout, g->qr[x].lo,
                             g->qr[x].hi);
    if (!nd->q) return gfail(g, FR_E_NOMEM, "out of memory quantising weights", cout);
    return nd->out;
  }
  nd->w = g->k->pack_conv(w_hwio, kh, kw, cin, cout, stride);
  if (!nd->w) return gfail(g, FR_E_NOMEM, "out of memory packing weights", cout);
  return nd->out;
}

/* Checks explicit pads and stores them in the node just built (the last);
 * returns the node's output or -1. */
static int set_pads(fr__graph *g, int y, int kh, int kw, const int pads[4]) {
  if (y < 0) return -1;
  if (!pads || pads[0] < 0 || pads[1] < 0 || pads[2] < 0 || pads[3] < 0 || pads[0] >= kh ||
      pads[1] >= kh || pads[2] >= kw || pads[3] >= kw)
    return gfail(g, FR_E_INVALID, "explicit padding must be smaller than the window", kh);
  node *nd = &g->nodes[g->n_nodes - 1];
  nd->pad = FR__PAD_EXPLICIT;
  memcpy(nd->pads, pads, 4 * sizeof *pads);
  return y;
}

int fr__conv2d_pads(fr__graph *g, int x, const float *w_hwio, const float *bias, int kh, int kw,
                    int cout, int stride, const int pads[4], fr__act act, float alpha,
                    int residual) {
  /* Packing and quantising do not depend on the padding, so the node is
   * built as VALID and then given its pads. */
  return set_pads(g, fr__conv2d(g, x, w_hwio, bias, kh, kw, cout, stride, FR__PAD_VALID, act,
                                alpha, residual),
                  kh, kw, pads);
}

int fr__dwconv2d_pads(fr__graph *g, int x, const float *w, const float *bias, int kh, int kw,
                      int stride, const int pads[4], fr__act act, float alpha) {
  return set_pads(g, fr__dwconv2d(g, x, w, bias, kh, kw, stride, FR__PAD_VALID, act, alpha), kh,
                  kw, pads);
}

int fr__conv2d_u8(fr__graph *g, int x, const uint8_t *codes_hwio, const float *affine,
                  const float *bias, int kh, int kw, int cout, int stride, fr__padding pad,
                  fr__act act, float alpha, int residual) {
  if (g->failed) return -1;
  if (!valid_tensor(g, x) || !codes_hwio || !affine || kh <= 0 || kw <= 0 || stride <= 0 ||
      cout <= 0)
    return gfail(g, FR_E_INVALID, "bad conv2d_u8 arguments", x);
  int cin = g->chan[x];
  /* A kernel set that cannot keep codes, and an int8 convolution (which
   * quantises the float weights its own way), get an ordinary float layer. */
  if (!g->k->pack_conv_u8 || (g->qr && x < g->nqr && g->qr[x].hi > 0.f)) {
    size_t n = (size_t)kh * kw * cin * cout;
    float *fw = fr__malloc(n * sizeof *fw);
    if (!fw) return gfail(g, FR_E_NOMEM, "out of memory dequantising weights", cout);
    fr__dequant_u8(fw, codes_hwio, n, cout, affine);
    int y = fr__conv2d(g, x, fw, bias, kh, kw, cout, stride, pad, act, alpha, residual);
    fr__free(fw);
    return y;
  }
  node *nd = conv_node(g, x, kh, kw, cout, stride, pad, act, alpha, residual);
  if (!nd) return -1;
  if (bias && !(nd->b = copy_floats(g, bias, (size_t)cout))) return -1;
  nd->wq = g->k->pack_conv_u8(codes_hwio, affine, kh, kw, cin, cout, stride);
  if (!nd->wq) return gfail(g, FR_E_NOMEM, "out of memory packing weights", cout);
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
  nd->w = g->k->pack_conv(w, 1, 1, in, out, 1);
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

static node *unary_node(fr__graph *g, op_kind op, int x, int channels, const char *what);

int fr__pool_pads(fr__graph *g, int x, int is_max, int kh, int kw, int stride, const int pads[4]) {
  if (kh <= 0 || kw <= 0) return gfail(g, FR_E_INVALID, "bad pool window", kh);
  int y = pool_node(g, is_max ? OP_MAXPOOL : OP_AVGPOOL, x, kh, stride, FR__PAD_VALID);
  if (y >= 0) g->nodes[g->n_nodes - 1].kw = kw;
  return set_pads(g, y, kh, kw, pads);
}

int fr__conv2d_general(fr__graph *g, int x, const float *w, const float *bias,
                       const fr__conv_general *cg, fr__act act, float alpha) {
  if (g->failed) return -1;
  const int lim = 1 << 16;
  int cin = valid_tensor(g, x) ? g->chan[x] : 0;
  if (!w || !cg || cin <= 0 || cg->kh <= 0 || cg->kw <= 0 || cg->kh > lim || cg->kw > lim ||
      cg->cout <= 0 || cg->groups <= 0 || cin % cg->groups || cg->cout % cg->groups)
    return gfail(g, FR_E_INVALID, "bad general convolution arguments", x);
  for (int i = 0; i < 2; i++)
    if (cg->stride[i] <= 0 || cg->stride[i] > lim || cg->dilation[i] <= 0 ||
        cg->dilation[i] > lim || cg->opad[i] < 0 || cg->opad[i] > lim)
      return gfail(g, FR_E_INVALID, "bad general convolution stride or dilation", i);
  for (int i = 0; i < 4; i++)
    if (cg->pads[i] < 0 || cg->pads[i] > lim)
      return gfail(g, FR_E_INVALID, "bad general convolution padding", cg->pads[i]);
  size_t nw = (size_t)cg->kh * cg->kw * cin * cg->cout / (size_t)cg->groups;
  if (nw > ((size_t)1 << 30)) return gfail(g, FR_E_LIMIT, "general convolution too large", cin);
  node *nd = unary_node(g, OP_CONV_GENERAL, x, cg->cout, "bad general convolution input");
  if (!nd) return -1;
  nd->cg = *cg;
  nd->kh = cg->kh;
  nd->kw = cg->kw;
  nd->cin = cin;
  nd->cout = cg->cout;
  nd->act = act;
  nd->alpha = alpha;
  if (!(nd->w = copy_floats(g, w, nw))) return -1;
  if (bias && !(nd->b = copy_floats(g, bias, (size_t)cg->cout))) return -1;
  return nd->out;
}

int fr__transpose(fr__graph *g, int x, const int perm[4], int out_channels) {
  int seen = 0;
  for (int i = 0; i < 4; i++)
    if (perm && perm[i] >= 0 && perm[i] < 4) seen |= 1 << perm[i];
  if (seen != 15 || out_channels <= 0)
    return gfail(g, FR_E_INVALID, "bad transpose permutation", out_channels);
  node *nd = unary_node(g, OP_TRANSPOSE, x, out_channels, "bad transpose input");
  if (!nd) return -1;
  memcpy(nd->perm, perm, 4 * sizeof *perm);
  return nd->out;
}

int fr__slice(fr__graph *g, int x, int axis, int start, int len, int step) {
  if (axis < FR__AXIS_H || axis > FR__AXIS_C || start < 0 || len <= 0 || step <= 0)
    return gfail(g, FR_E_INVALID, "bad slice", axis);
  int c = axis == FR__AXIS_C ? len : fr__channels(g, x);
  node *nd = unary_node(g, OP_SLICE, x, c > 0 ? c : 1, "bad slice input");
  if (!nd) return -1;
  nd->axis = axis;
  nd->perm[0] = start, nd->perm[1] = len, nd->perm[2] = step;
  return nd->out;
}

int fr__resize(fr__graph *g, int x, int oh, int ow, int flags) {
  if (oh <= 0 || ow <= 0 || flags < 0 || flags > 31)
    return gfail(g, FR_E_INVALID, "bad resize", oh);
  node *nd = unary_node(g, OP_RESIZE, x, fr__channels(g, x), "bad resize input");
  if (!nd) return -1;
  nd->oh = oh;
  nd->ow = ow;
  nd->flags = flags;
  return nd->out;
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

/* ---- general ops ---- */

/* A one-input node of a general op, or NULL (error recorded). */
static node *unary_node(fr__graph *g, op_kind op, int x, int channels, const char *what) {
  if (g->failed) return NULL;
  if (!valid_tensor(g, x)) {
    gfail(g, FR_E_INVALID, what, x);
    return NULL;
  }
  node *nd = new_node(g, op, channels);
  if (!nd) return NULL;
  nd->in[0] = x;
  nd->nin = 1;
  return nd;
}

/* Channels of a broadcast result, or 0 if the two cannot broadcast. */
static int bcast_channels(int a, int b) { return a == b || b == 1 ? a : (a == 1 ? b : 0); }

int fr__binary(fr__graph *g, fr__binop op, int a, int b, fr__act act, float alpha) {
  if (g->failed) return -1;
  if (!valid_tensor(g, a) || !valid_tensor(g, b) || (int)op < 0 || op > FR__BIN_MIN)
    return gfail(g, FR_E_INVALID, "bad binary op arguments", a);
  int c = bcast_channels(g->chan[a], g->chan[b]);
  if (!c) return gfail(g, FR_E_INVALID, "binary op channel mismatch", g->chan[b]);
  node *nd = new_node(g, OP_BINARY, c);
  if (!nd) return -1;
  nd->in[0] = a;
  nd->in[1] = b;
  nd->nin = 2;
  nd->sub = (int)op;
  nd->act = act;
  nd->alpha = alpha;
  return nd->out;
}

int fr__binary_const(fr__graph *g, fr__binop op, int x, const float *k, int kh, int kw, int kc,
                     int k_first, fr__act act, float alpha) {
  if (g->failed) return -1;
  if (!k || kh <= 0 || kw <= 0 || kc <= 0 || (int)op < 0 || op > FR__BIN_MIN ||
      (size_t)kh * kw * kc > ((size_t)1 << 28))
    return gfail(g, FR_E_INVALID, "bad constant operand", x);
  int c = valid_tensor(g, x) ? bcast_channels(g->chan[x], kc) : 0;
  node *nd = unary_node(g, OP_BINARY, x, c > 0 ? c : 1, "bad binary op input");
  if (!nd) return -1;
  if (!c) return gfail(g, FR_E_INVALID, "binary op channel mismatch", kc);
  nd->sub = (int)op;
  nd->flags = k_first;
  nd->kshape[0] = kh;
  nd->kshape[1] = kw;
  nd->kshape[2] = kc;
  nd->act = act;
  nd->alpha = alpha;
  if (!(nd->w = copy_floats(g, k, (size_t)kh * kw * kc))) return -1;
  return nd->out;
}

int fr__unary(fr__graph *g, int x, fr__unop op) { return fr__unary_param(g, x, op, 0.f, 0.f); }

int fr__unary_param(fr__graph *g, int x, fr__unop op, float a, float b) {
  if ((int)op < 0 || op > FR__UN_LAST) return gfail(g, FR_E_INVALID, "bad unary op", (int)op);
  node *nd = unary_node(g, OP_UNARY, x, fr__channels(g, x), "bad unary op input");
  if (!nd) return -1;
  nd->sub = (int)op;
  nd->alpha = a;
  nd->beta = b;
  return nd->out;
}

int fr__prelu(fr__graph *g, int x, const float *alpha) {
  if (!alpha) return gfail(g, FR_E_INVALID, "prelu without slopes", x);
  node *nd = unary_node(g, OP_PRELU, x, fr__channels(g, x), "bad prelu input");
  if (!nd) return -1;
  if (!(nd->w = copy_floats(g, alpha, (size_t)g->chan[x]))) return -1;
  return nd->out;
}

int fr__softmax(fr__graph *g, int x, float beta) {
  node *nd = unary_node(g, OP_SOFTMAX, x, fr__channels(g, x), "bad softmax input");
  if (!nd) return -1;
  nd->beta = beta;
  return nd->out;
}

int fr__reduce(fr__graph *g, int x, int axis, int is_max) {
  if (axis < FR__AXIS_H || axis > FR__AXIS_C) return gfail(g, FR_E_INVALID, "bad reduce axis", axis);
  node *nd = unary_node(g, OP_REDUCE, x, axis == FR__AXIS_C ? 1 : fr__channels(g, x),
                        "bad reduce input");
  if (!nd) return -1;
  nd->axis = axis;
  nd->flags = is_max != 0;
  return nd->out;
}

int fr__concat(fr__graph *g, const int *xs, int n, int axis) {
  if (g->failed) return -1;
  if (n < 2 || n > FR__MAX_IN) return gfail(g, FR_E_INVALID, "concat needs 2..8 inputs", n);
  if (axis < FR__AXIS_H || axis > FR__AXIS_C)
    return gfail(g, FR_E_INVALID, "bad concat axis", axis);
  int c = 0;
  for (int i = 0; i < n; i++) {
    if (!valid_tensor(g, xs[i])) return gfail(g, FR_E_INVALID, "bad concat input", i);
    if (axis != FR__AXIS_C && g->chan[xs[i]] != g->chan[xs[0]])
      return gfail(g, FR_E_INVALID, "concat channel mismatch", i);
    c = axis == FR__AXIS_C ? c + g->chan[xs[i]] : g->chan[xs[0]];
    if (c > (1 << 24)) return gfail(g, FR_E_INVALID, "concat too wide", c);
  }
  node *nd = new_node(g, OP_CONCAT, c);
  if (!nd) return -1;
  memcpy(nd->in, xs, (size_t)n * sizeof *xs);
  nd->nin = n;
  nd->axis = axis;
  return nd->out;
}

int fr__reshape(fr__graph *g, int x, int h, int w, int c) {
  if (h <= 0 || w <= 0 || c <= 0) return gfail(g, FR_E_INVALID, "bad reshape size", h);
  node *nd = unary_node(g, OP_RESHAPE, x, c, "bad reshape input");
  if (!nd) return -1;
  nd->oh = h;
  nd->ow = w;
  return nd->out;
}

int fr__resize_bilinear(fr__graph *g, int x, int oh, int ow, int align_corners,
                        int half_pixel_centers) {
  if (oh <= 0 || ow <= 0) return gfail(g, FR_E_INVALID, "bad resize size", oh);
  node *nd = unary_node(g, OP_RESIZE, x, fr__channels(g, x), "bad resize input");
  if (!nd) return -1;
  nd->oh = oh;
  nd->ow = ow;
  nd->flags = (align_corners ? 1 : 0) | (half_pixel_centers ? 2 : 0);
  return nd->out;
}

int fr__pad_full(fr__graph *g, int x, int top, int bottom, int left, int right, int c_front,
                 int c_back) {
  const int limit = 1 << 20;
  if (top < 0 || bottom < 0 || left < 0 || right < 0 || c_front < 0 || c_back < 0 ||
      top > limit || bottom > limit || left > limit || right > limit || c_front > limit ||
      c_back > limit)
    return gfail(g, FR_E_INVALID, "bad padding", top);
  node *nd = unary_node(g, OP_PAD_FULL, x, fr__channels(g, x) + c_front + c_back,
                        "bad pad input");
  if (!nd) return -1;
  int p[6] = {top, bottom, left, right, c_front, c_back};
  memcpy(nd->pads, p, sizeof p);
  return nd->out;
}

int fr__output(fr__graph *g, int x) {
  if (g->failed) return -1;
  if (!valid_tensor(g, x)) return gfail(g, FR_E_INVALID, "bad output tensor", x);
  if (g->n_outputs == FR__MAX_OUTPUTS) return gfail(g, FR_E_INVALID, "too many outputs", x);
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

int fr__graph_nodes(const fr__graph *g) { return g->n_nodes; }

const fr__kernels *fr__graph_kernels(const fr__graph *g) { return g->k; }

uint64_t fr__graph_uid(const fr__graph *g) { return g->uid; }

int fr__graph_node_info(const fr__graph *g, int i, fr__node_info *info) {
  if (!g->finished || i < 0 || i >= g->n_nodes) return 0;
  const node *nd = &g->nodes[i];
  /* An int8 convolution's quantisation range is not among the builder
   * arguments described here, so such a node cannot be repeated. */
  if (nd->q) return 0;
  /* Spelled out rather than cast, so that op_kind may grow or be reordered
   * without changing what model files call each op. */
  static const struct {
    op_kind k;
    fr__node_op o;
  } map[] = {{OP_CONV, FR__NODE_CONV},       {OP_DWCONV, FR__NODE_DWCONV},
             {OP_FC, FR__NODE_FC},           {OP_ADD, FR__NODE_ADD},
             {OP_MAXPOOL, FR__NODE_MAXPOOL}, {OP_AVGPOOL, FR__NODE_AVGPOOL},
             {OP_PAD, FR__NODE_PAD},         {OP_MEAN, FR__NODE_MEAN},
             {OP_ACT, FR__NODE_ACT},         {OP_BINARY, FR__NODE_BINARY},
             {OP_UNARY, FR__NODE_UNARY},     {OP_PRELU, FR__NODE_PRELU},
             {OP_SOFTMAX, FR__NODE_SOFTMAX}, {OP_REDUCE, FR__NODE_REDUCE},
             {OP_CONCAT, FR__NODE_CONCAT},   {OP_RESHAPE, FR__NODE_RESHAPE},
             {OP_RESIZE, FR__NODE_RESIZE},   {OP_PAD_FULL, FR__NODE_PAD_FULL},
             {OP_CONV_GENERAL, FR__NODE_CONV_GENERAL},
             {OP_TRANSPOSE, FR__NODE_TRANSPOSE},
             {OP_SLICE, FR__NODE_SLICE}};
  size_t m = 0;
  while (m < sizeof map / sizeof map[0] && map[m].k != nd->op) m++;
  if (m == sizeof map / sizeof map[0]) return 0;
  memset(info, 0, sizeof *info);
  info->op = map[m].o;
  memcpy(info->in, nd->in, sizeof nd->in);
  info->nin = nd->nin;
  info->out = nd->out;
  info->residual = nd->residual;
  info->kh = nd->kh, info->kw = nd->kw, info->cin = nd->cin, info->cout = nd->cout;
  info->stride = nd->stride;
  info->pad = nd->pad;
  info->act = nd->act;
  info->alpha = nd->alpha;
  info->beta = nd->beta;
  info->pad_bottom = nd->pad_bottom, info->pad_right = nd->pad_right;
  info->pad_channels = nd->pad_channels;
  info->sub = nd->sub, info->axis = nd->axis, info->flags = nd->flags;
  memcpy(info->kshape, nd->kshape, sizeof nd->kshape);
  info->oh = nd->oh, info->ow = nd->ow;
  memcpy(info->pads, nd->pads, sizeof nd->pads);
  info->w = nd->w;
  info->b = nd->b;
  if (nd->wq) {
    info->op = FR__NODE_CONV_U8;
    info->wq = nd->wq;
  }
  if (nd->op == OP_CONV_GENERAL) {
    info->sub = nd->cg.groups;
    info->axis = nd->cg.transposed;
    info->kshape[0] = nd->cg.stride[0];
    info->kshape[1] = nd->cg.stride[1];
    info->kshape[2] = nd->cg.dilation[0];
    info->oh = nd->cg.dilation[1];
    info->flags = nd->cg.opad[0] | nd->cg.opad[1] << 16;
    memcpy(info->pads, nd->cg.pads, sizeof nd->cg.pads);
  } else if (nd->op == OP_TRANSPOSE) {
    memcpy(info->kshape, nd->perm, 3 * sizeof *nd->perm);
    info->flags = nd->perm[3];
    info->cout = g->chan[nd->out];
  } else if (nd->op == OP_SLICE) {
    memcpy(info->kshape, nd->perm, 3 * sizeof *nd->perm);
  }
  return 1;
}

int fr__graph_input(const fr__graph *g) { return g->input; }

int fr__graph_outputs(const fr__graph *g, int outs[FR__MAX_OUTPUTS]) {
  memcpy(outs, g->outputs, (size_t)g->n_outputs * sizeof *outs);
  return g->n_outputs;
}

const char *fr__graph_name(const fr__graph *g) { return g->name; }

/* ---- shapes ------------------------------------------------------------- */

typedef struct shape {
  int n, h, w, c;
} shape;

static size_t shape_count(shape s) { return (size_t)s.n * s.h * s.w * s.c; }

/* Output size and leading padding of a windowed op, TensorFlow semantics,
 * or for FR__PAD_EXPLICIT the given leading and trailing amounts. */
static int window_out(int in, int k, int stride, fr__padding pad, const int *explicit_pads,
                      int *pad_lead) {
  if (pad == FR__PAD_EXPLICIT) {
    *pad_lead = explicit_pads[0];
    long long span = (long long)in + explicit_pads[0] + explicit_pads[1];
    return span < k ? 0 : (int)((span - k) / stride + 1);
  }
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
      o.h = window_out(a.h, nd->kh, nd->stride, nd->pad, nd->pads, &pt);
      o.w = window_out(a.w, nd->kw, nd->stride, nd->pad, nd->pads + 2, &pl);
      o.c = g->chan[nd->out];
      break;
    case OP_CONV_GENERAL: {
      const fr__conv_general *cg = &nd->cg;
      long long ext_h = (long long)cg->dilation[0] * (cg->kh - 1) + 1;
      long long ext_w = (long long)cg->dilation[1] * (cg->kw - 1) + 1;
      long long oh, ow;
      if (cg->transposed) {
        oh = ((long long)a.h - 1) * cg->stride[0] - cg->pads[0] - cg->pads[1] + ext_h + cg->opad[0];
        ow = ((long long)a.w - 1) * cg->stride[1] - cg->pads[2] - cg->pads[3] + ext_w + cg->opad[1];
      } else {
        long long sh = (long long)a.h + cg->pads[0] + cg->pads[1];
        long long sw = (long long)a.w + cg->pads[2] + cg->pads[3];
        oh = sh < ext_h ? 0 : (sh - ext_h) / cg->stride[0] + 1;
        ow = sw < ext_w ? 0 : (sw - ext_w) / cg->stride[1] + 1;
      }
      if (oh > (1 << 24) || ow > (1 << 24)) oh = ow = 0;
      o.h = (int)oh;
      o.w = (int)ow;
      o.c = g->chan[nd->out];
      break;
    }
    case OP_TRANSPOSE: {
      int d[4] = {a.n, a.h, a.w, a.c};
      o = (shape){d[nd->perm[0]], d[nd->perm[1]], d[nd->perm[2]], d[nd->perm[3]]};
      if (o.c != g->chan[nd->out] || o.n != a.n) {
        fr__fail(err, FR_E_INVALID, "%s: transpose of %dx%dx%dx%d gives other sizes than built for",
                 g->name, a.n, a.h, a.w, a.c);
        return 0;
      }
      break;
    }
    case OP_SLICE: {
      int d[4] = {a.n, a.h, a.w, a.c};
      long long last = nd->perm[0] + (long long)(nd->perm[1] - 1) * nd->perm[2];
      if (last >= d[nd->axis]) {
        fr__fail(err, FR_E_INVALID, "%s: slice past the end of an axis of %d", g->name,
                 d[nd->axis]);
        return 0;
      }
      if (nd->axis == FR__AXIS_H) o.h = nd->perm[1];
      if (nd->axis == FR__AXIS_W) o.w = nd->perm[1];
      if (nd->axis == FR__AXIS_C) o.c = nd->perm[1];
      break;
    }
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
    case OP_BINARY: {
      shape b = nd->nin == 2 ? sh[nd->in[1]]
                             : (shape){1, nd->kshape[0], nd->kshape[1], nd->kshape[2]};
      int da[4] = {a.n, a.h, a.w, a.c}, db[4] = {b.n, b.h, b.w, b.c}, dy[4];
      for (int d = 0; d < 4; d++) {
        dy[d] = da[d] == db[d] || db[d] == 1 ? da[d] : (da[d] == 1 ? db[d] : -1);
        if (dy[d] < 0) {
          fr__fail(err, FR_E_INVALID, "%s: cannot broadcast %dx%dx%dx%d with %dx%dx%dx%d",
                   g->name, a.n, a.h, a.w, a.c, b.n, b.h, b.w, b.c);
          return 0;
        }
      }
      o = (shape){dy[0], dy[1], dy[2], dy[3]};
      break;
    }
    case OP_UNARY:
    case OP_PRELU:
    case OP_SOFTMAX: break;
    case OP_REDUCE:
      if (nd->axis == FR__AXIS_H) o.h = 1;
      if (nd->axis == FR__AXIS_W) o.w = 1;
      if (nd->axis == FR__AXIS_C) o.c = 1;
      break;
    case OP_CONCAT:
      for (int j = 1; j < nd->nin; j++) {
        shape b = sh[nd->in[j]];
        int ok = b.n == a.n && (nd->axis == FR__AXIS_H || b.h == a.h) &&
                 (nd->axis == FR__AXIS_W || b.w == a.w) && (nd->axis == FR__AXIS_C || b.c == a.c);
        if (!ok) {
          fr__fail(err, FR_E_INVALID, "%s: concat of %dx%dx%d and %dx%dx%d", g->name, a.h, a.w,
                   a.c, b.h, b.w, b.c);
          return 0;
        }
        if (nd->axis == FR__AXIS_H) o.h += b.h;
        if (nd->axis == FR__AXIS_W) o.w += b.w;
      }
      o.c = g->chan[nd->out];
      break;
    case OP_RESHAPE:
      if ((size_t)a.h * a.w * a.c != (size_t)nd->oh * nd->ow * g->chan[nd->out]) {
        fr__fail(err, FR_E_INVALID, "%s: cannot reshape %dx%dx%d to %dx%dx%d", g->name, a.h, a.w,
                 a.c, nd->oh, nd->ow, g->chan[nd->out]);
        return 0;
      }
      o.h = nd->oh;
      o.w = nd->ow;
      o.c = g->chan[nd->out];
      break;
    case OP_RESIZE:
      o.h = nd->oh;
      o.w = nd->ow;
      break;
    case OP_PAD_FULL:
      /* Sums in 64 bits: the size check below must see an overflow. */
      if ((long long)a.h + nd->pads[0] + nd->pads[1] > (1 << 24) ||
          (long long)a.w + nd->pads[2] + nd->pads[3] > (1 << 24)) {
        fr__fail(err, FR_E_LIMIT, "%s: padding makes a tensor too large", g->name);
        return 0;
      }
      o.h = a.h + nd->pads[0] + nd->pads[1];
      o.w = a.w + nd->pads[2] + nd->pads[3];
      o.c = g->chan[nd->out];
      break;
    }
    if (o.h <= 0 || o.w <= 0) {
      fr__fail(err, FR_E_INVALID, "%s: input %dx%d is too small for this network", g->name, in.h,
               in.w);
      return 0;
    }
    /* Imported graphs can declare sizes whose product overflows size_t
     * (a resize to 2^24 x 2^24 of 2^24 channels); such a count must be an
     * error here, before the planner multiplies it out. */
    /* Every side also stays <= 2^24, so that the next node's int arithmetic
     * (a concatenation of 8 along H, a pad, a SAME window) cannot overflow. */
    if ((double)o.n * o.h * o.w * o.c > (double)((size_t)1 << 40) || o.h > (1 << 24) ||
        o.w > (1 << 24)) {
      fr__fail(err, FR_E_LIMIT, "%s: input %dx%d needs too much activation memory", g->name,
               in.h, in.w);
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
    window_out(i.h, nd->kh, nd->stride, nd->pad, nd->pads, &a->pad_top);
    window_out(i.w, nd->kw, nd->stride, nd->pad, nd->pads + 2, &a->pad_left);
  }
  a->w = nd->w;
  a->wq = nd->wq;
  a->bias = nd->b;
  a->residual = res;
  a->act = nd->act;
  a->alpha = nd->alpha;
}

double fr__graph_macs(const fr__graph *g, int n, int h, int w) {
  shape *sh = fr__calloc((size_t)g->n_tensors, sizeof *sh);
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
      else if (nd->op == OP_CONV_GENERAL) {
        shape i = sh[nd->in[0]];
        shape s = nd->cg.transposed ? i : o; /* the side whose pixels each tap visits */
        int other = nd->cg.transposed ? o.c : i.c;
        macs += (double)s.n * s.h * s.w * s.c * nd->kh * nd->kw * other / nd->cg.groups;
      }
    }
  }
  fr__free(sh);
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

size_t fr__plan_max_floats = (size_t)1 << 32;

typedef struct block {
  size_t off, size;
  int birth, death;
} block;

/* Two tensors may share memory when one is born after the other dies: the
 * node that last reads a tensor must not write its output over it, so equal
 * node indices conflict. */
static int lifetimes_overlap(const block *a, const block *b) {
  return a->birth <= b->death && b->birth <= a->death;
}

static int cmp_block_off(const void *x, const void *y) {
  const block *a = x, *b = y;
  return a->off < b->off ? -1 : a->off > b->off;
}

typedef struct by_size {
  size_t size;
  int birth, t;
} by_size;

/* Largest first; among equals, earlier born first, then by tensor: a total
 * order, so that a plan does not depend on how qsort orders equal keys. */
static int cmp_by_size(const void *x, const void *y) {
  const by_size *a = x, *b = y;
  if (a->size != b->size) return a->size > b->size ? -1 : 1;
  if (a->birth != b->birth) return a->birth < b->birth ? -1 : 1;
  return a->t < b->t ? -1 : a->t > b->t;
}

/* The tensors to place (size > 0) in order[0..m), sorted by cmp; returns m. */
static int placement_order(const block *blocks, int n, by_size *order,
                           int (*cmp)(const void *, const void *)) {
  int m = 0;
  for (int t = 0; t < n; t++)
    if (blocks[t].size) order[m++] = (by_size){blocks[t].size, blocks[t].birth, t};
  qsort(order, (size_t)m, sizeof *order, cmp);
  return m;
}

/*
 * Places tensors in the arena in order of decreasing size, each at the
 * smallest gap between the already placed tensors whose lifetimes overlap
 * its own that can hold it (or above them all). Placing in order of birth
 * (the simple first-fit) fragments: in SSD-MobileNetV1 at 512x512 the 8 MB
 * outputs of the first two layers end up side by side, so the 16 MB third
 * one cannot reuse the first's block and the arena grows to 36 MB, when
 * only 24 MB are ever live at once. Placing the big tensors first lets the
 * small ones fill the gaps. O(n^2 log n) in the tensor count, once per plan.
 * blocks[t] holds each tensor's size and lifetime (size 0: not placed) and
 * receives its offset; scratch holds n blocks. Returns the arena size.
 */
static size_t place_by_size(block *blocks, int n, by_size *order, block *scratch) {
  int m = placement_order(blocks, n, order, cmp_by_size);
  size_t top = 0;
  for (int i = 0; i < m; i++) {
    block *b = &blocks[order[i].t];
    int k = 0;
    for (int j = 0; j < i; j++) {
      const block *o = &blocks[order[j].t];
      if (lifetimes_overlap(b, o)) scratch[k++] = *o;
    }
    qsort(scratch, (size_t)k, sizeof *scratch, cmp_block_off);
    size_t at = 0, best = SIZE_MAX, best_gap = SIZE_MAX;
    for (int j = 0; j < k; j++) {
      if (scratch[j].off >= at + b->size && scratch[j].off - at < best_gap)
        best = at, best_gap = scratch[j].off - at;
      if (scratch[j].off + scratch[j].size > at) at = scratch[j].off + scratch[j].size;
    }
    b->off = best != SIZE_MAX ? best : at;
    if (b->off + b->size > top) top = b->off + b->size;
  }
  return top;
}

/* 1 when no two tensors that are live at the same time share memory: the
 * plan checks its placement once, because a mistake here would not crash but
 * silently compute garbage. */
static int placement_valid(const block *blocks, int n) {
  for (int a = 0; a < n; a++) {
    if (!blocks[a].size) continue;
    for (int b = a + 1; b < n; b++)
      if (blocks[b].size && lifetimes_overlap(&blocks[a], &blocks[b]) &&
          blocks[a].off < blocks[b].off + blocks[b].size &&
          blocks[b].off < blocks[a].off + blocks[a].size)
        return 0;
  }
  return 1;
}

static int cmp_by_birth(const void *x, const void *y) {
  const by_size *a = x, *b = y;
  if (a->birth != b->birth) return a->birth < b->birth ? -1 : 1;
  return a->t < b->t ? -1 : a->t > b->t;
}

/* The first-fit placement in order of birth; it wins on some graphs (those
 * whose tensors grow along the chain), so the plan keeps the better one.
 * Tensors are numbered in order of birth today (each node creates its
 * output), but the first-fit depends on that order, so it sorts rather than
 * assume it. */
static size_t place_by_birth(block *blocks, int n, by_size *order, block *live) {
  int m = placement_order(blocks, n, order, cmp_by_birth);
  int nlive = 0;
  size_t top = 0;
  for (int k = 0; k < m; k++) {
    block *b = &blocks[order[k].t];
    int j = 0;
    for (int i = 0; i < nlive; i++)
      if (live[i].death >= b->birth) live[j++] = live[i];
    nlive = j;
    size_t at = 0;
    int pos = 0;
    for (; pos < nlive; pos++) {
      if (live[pos].off >= at + b->size) break;
      if (live[pos].off + live[pos].size > at) at = live[pos].off + live[pos].size;
    }
    memmove(&live[pos + 1], &live[pos], (size_t)(nlive - pos) * sizeof *live);
    live[pos] = *b;
    live[pos].off = at;
    nlive++;
    b->off = at;
    if (at + b->size > top) top = at + b->size;
  }
  return top;
}

fr_status fr__plan_create(const fr__graph *g, int n, int h, int w, int nthreads,
                          fr__plan **out, fr_error *err) {
  *out = NULL;
  if (!g->finished) return fr__fail(err, FR_E_INTERNAL, "%s: plan of unfinished graph", g->name);
  if (n <= 0 || h <= 0 || w <= 0 || nthreads <= 0)
    return fr__fail(err, FR_E_INVALID, "%s: bad input size %dx%dx%d", g->name, n, h, w);
  fr__plan *p = fr__calloc(1, sizeof *p);
  int nt = g->n_tensors;
  int *birth = fr__malloc((size_t)nt * sizeof *birth);
  int *death = fr__malloc((size_t)nt * sizeof *death);
  block *blocks = fr__calloc((size_t)nt, sizeof *blocks);
  block *work = fr__malloc((size_t)nt * sizeof *work);
  by_size *order = fr__malloc((size_t)nt * sizeof *order);
  if (!p || !birth || !death || !blocks || !work || !order) goto nomem;
  p->g = g;
  p->nthreads = nthreads;
  p->sh = fr__calloc((size_t)nt, sizeof *p->sh);
  p->off = fr__calloc((size_t)nt, sizeof *p->off);
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
  /* A node whose output nothing reads still runs and writes it, so the
   * output needs a block of its own for that node's duration; without one
   * it would be written at offset 0, over live tensors or past the arena. */
  for (int t = 0; t < nt; t++)
    if (death[t] < 0 && birth[t] >= 0) death[t] = birth[t];

  for (int t = 0; t < nt; t++) {
    if (death[t] < 0) continue; /* neither the input nor any node's output */
    size_t need = 0;
    if (!fr__mul_size(shape_count(p->sh[t]), 1, &need) || need > ((size_t)1 << 31)) {
      fr__fail(err, FR_E_LIMIT, "%s: input %dx%d needs too much activation memory", g->name, h,
               w);
      goto fail;
    }
    need = (need + 15) & ~(size_t)15; /* keep every tensor 64-byte aligned */
    blocks[t] = (block){0, need, birth[t], death[t]};
  }
  /* Two placements, each checked; the plan keeps the smaller valid arena
   * (ties: by size). Neither should ever be invalid, but a mistake here
   * would not crash, it would compute garbage, so a bad one is dropped and
   * the plan fails only if both are. */
  size_t top = place_by_size(blocks, nt, order, work), scratch = 0;
  int valid = placement_valid(blocks, nt);
  for (int t = 0; t < nt; t++) p->off[t] = blocks[t].off;
  size_t top_birth = place_by_birth(blocks, nt, order, work);
  if (placement_valid(blocks, nt) && (!valid || top_birth < top)) {
    top = top_birth;
    valid = 1;
    for (int t = 0; t < nt; t++) p->off[t] = blocks[t].off;
  }
  if (!valid) {
    fr__fail(err, FR_E_INTERNAL, "%s: activation plan overlaps live tensors", g->name);
    goto fail;
  }
  for (int i = 0; i < g->n_nodes; i++) {
    const node *nd = &g->nodes[i];
    if (nd->op != OP_CONV && nd->op != OP_FC) continue;
    fr__conv_args a;
    conv_args(nd, p->sh, NULL, NULL, NULL, &a);
    size_t s = g->k->conv_scratch(&a);
    /* An int8 conv uses thread 0's scratch as its shared quantised input. */
    if (nd->q) s = (fr__qconv_buffer_bytes(nd->q, &a) + sizeof(float) - 1) / sizeof(float);
    if (s > scratch) scratch = s;
  }
  /* Checked before allocating: an imported or loaded graph can need far
   * more activation memory than any real network (see fr__plan_max_floats). */
  if (top > fr__plan_max_floats) {
    fr__fail(err, FR_E_LIMIT, "%s: input %dx%d needs %zu MB of activations (limit %zu MB)",
             g->name, h, w, top >> 18, fr__plan_max_floats >> 18);
    goto fail;
  }
  p->arena_floats = top;
  p->scratch_floats = (scratch + 15) & ~(size_t)15;
  p->arena = fr__aligned_calloc(top * sizeof(float));
  if (top && !p->arena) goto nomem;
  if (p->scratch_floats) {
    p->scratch = fr__aligned_alloc(p->scratch_floats * sizeof(float) * (size_t)nthreads);
    if (!p->scratch) goto nomem;
  }
  fr__free(birth);
  fr__free(death);
  fr__free(blocks);
  fr__free(work);
  fr__free(order);
  *out = p;
  return FR_OK;
nomem:
  fr__fail(err, FR_E_NOMEM, "%s: out of memory planning %dx%d input", g->name, h, w);
fail:
  fr__free(birth);
  fr__free(death);
  fr__free(blocks);
  fr__free(work);
  fr__free(order);
  fr__plan_destroy(p);
  return err ? err->status : FR_E_NOMEM;
}

void fr__plan_destroy(fr__plan *p) {
  if (!p) return;
  fr__free(p->sh);
  fr__free(p->off);
  fr__aligned_free(p->arena);
  fr__aligned_free(p->scratch);
  fr__free(p);
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
  int is_max; /* pooling: 1 max, 0 average */
} job;

static void conv_task(void *arg, int task, int thread) {
  job *j = arg;
  /* Kernels without scratch (the scalar set) leave it NULL, and NULL + 0 is
   * undefined behaviour that UBSan under clang reports. */
  float *scratch = j->scratch ? j->scratch + (size_t)thread * j->scratch_floats : NULL;
  j->k->conv_run(&j->a, task, j->ntasks, scratch);
}

static void dw_task(void *arg, int task, int thread) {
  (void)thread;
  job *j = arg;
  j->k->dw_run(&j->a, task, j->ntasks);
}

static void pool_task(void *arg, int task, int thread) {
  (void)thread;
  job *j = arg;
  j->k->pool_run(&j->a, j->is_max, task, j->ntasks);
}

/* y = a + b elementwise; y may alias a. */
static void add_into(float *y, const float *a, const float *b, size_t n) {
  for (size_t e = 0; e < n; e++) y[e] = a[e] + b[e];
}

void fr__run(const fr__graph *g, fr__plan *p, fr_pool *pool) {
  fr__run_observe(g, p, pool, NULL, NULL);
}

int fr__graph_tensors(const fr__graph *g) { return g->n_tensors; }

void fr__graph_set_quant(fr__graph *g, const fr__quant_range *ranges, int n) {
  g->qr = ranges;
  g->nqr = ranges ? n : 0;
}

int fr__graph_int8_nodes(const fr__graph *g) {
  int n = 0;
  for (int i = 0; i < g->n_nodes; i++) n += g->nodes[i].q != NULL;
  return n;
}

void fr__run_observe(const fr__graph *g, fr__plan *p, fr_pool *pool,
                     void (*observe)(void *arg, int tensor, const float *data, size_t count),
                     void *arg) {
  int nthreads = fr_pool_size(pool);
  if (nthreads > p->nthreads) nthreads = p->nthreads;
  if (observe)
    observe(arg, g->input, p->arena + p->off[g->input], shape_count(p->sh[g->input]));
  for (int i = 0; i < g->n_nodes; i++) {
    if (observe && i > 0) {
      const node *pv = &g->nodes[i - 1];
      observe(arg, pv->out, p->arena + p->off[pv->out], shape_count(p->sh[pv->out]));
    }
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
      if (nd->q) {
        fr__qconv_run(nd->q, &j.a, p->scratch, pool, nthreads);
        break;
      }
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
      g->k->act_run(y, y, count, nd->act, nd->alpha);
      break;
    }
    case OP_ACT: g->k->act_run(y, x, count, nd->act, nd->alpha); break;
    case OP_MAXPOOL:
    case OP_AVGPOOL: {
      job j;
      j.k = g->k;
      conv_args(nd, p->sh, x, y, NULL, &j.a);
      j.is_max = nd->op == OP_MAXPOOL;
      j.ntasks = g->k->dw_tasks(&j.a, nthreads);
      fr__pool_run(nthreads > 1 ? pool : NULL, j.ntasks, pool_task, &j);
      break;
    }
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
    case OP_BINARY: {
      int da[4] = {si.n, si.h, si.w, si.c}, dy[4] = {so.n, so.h, so.w, so.c}, db[4];
      const float *xb;
      if (nd->nin == 2) {
        shape sb = p->sh[nd->in[1]];
        db[0] = sb.n, db[1] = sb.h, db[2] = sb.w, db[3] = sb.c;
        xb = p->arena + p->off[nd->in[1]];
      } else {
        db[0] = 1, db[1] = nd->kshape[0], db[2] = nd->kshape[1], db[3] = nd->kshape[2];
        xb = nd->w;
      }
      if (nd->nin == 1 && nd->flags)
        fr__op_binary((fr__binop)nd->sub, xb, db, x, da, y, dy);
      else
        fr__op_binary((fr__binop)nd->sub, x, da, xb, db, y, dy);
      g->k->act_run(y, y, count, nd->act, nd->alpha);
      break;
    }
    case OP_UNARY: fr__op_unary((fr__unop)nd->sub, x, y, count, nd->alpha, nd->beta); break;
    case OP_CONV_GENERAL: {
      int dx[4] = {si.n, si.h, si.w, si.c}, dy[4] = {so.n, so.h, so.w, so.c};
      fr__op_conv_general(x, dx, nd->w, nd->b, &nd->cg, y, dy);
      g->k->act_run(y, y, count, nd->act, nd->alpha);
      break;
    }
    case OP_TRANSPOSE: {
      int dx[4] = {si.n, si.h, si.w, si.c};
      fr__op_transpose(x, dx, nd->perm, y);
      break;
    }
    case OP_SLICE: {
      int dx[4] = {si.n, si.h, si.w, si.c};
      fr__op_slice(x, dx, nd->axis, nd->perm[0], nd->perm[1], nd->perm[2], y);
      break;
    }
    case OP_PRELU:
      if (g->k->prelu_run)
        g->k->prelu_run(y, x, count / (size_t)so.c, so.c, nd->w);
      else
        fr__op_prelu(x, y, count / (size_t)so.c, so.c, nd->w);
      break;
    case OP_SOFTMAX: fr__op_softmax(x, y, count / (size_t)so.c, so.c, nd->beta); break;
    case OP_REDUCE: {
      int dx[4] = {si.n, si.h, si.w, si.c};
      fr__op_reduce(x, dx, nd->axis, nd->flags, y);
      break;
    }
    case OP_CONCAT: {
      const float *xs[FR__MAX_IN];
      int shapes[FR__MAX_IN][4];
      for (int k = 0; k < nd->nin; k++) {
        shape s = p->sh[nd->in[k]];
        xs[k] = p->arena + p->off[nd->in[k]];
        shapes[k][0] = s.n, shapes[k][1] = s.h, shapes[k][2] = s.w, shapes[k][3] = s.c;
      }
      fr__op_concat(xs, (const int(*)[4])shapes, nd->nin, nd->axis, y);
      break;
    }
    case OP_RESHAPE: memcpy(y, x, count * sizeof(float)); break;
    case OP_RESIZE:
    case OP_PAD_FULL: {
      int dx[4] = {si.n, si.h, si.w, si.c}, dy[4] = {so.n, so.h, so.w, so.c};
      if (nd->op == OP_RESIZE && (nd->flags & FR__RESIZE_NEAREST))
        fr__op_resize_nearest(x, dx, y, dy, nd->flags);
      else if (nd->op == OP_RESIZE)
        fr__op_resize_bilinear(x, dx, y, dy, nd->flags & 1, (nd->flags & 2) != 0);
      else
        fr__op_pad(x, dx, y, dy, nd->pads[0], nd->pads[2], nd->pads[4]);
      break;
    }
    }
  }
  if (observe && g->n_nodes > 0) {
    const node *pv = &g->nodes[g->n_nodes - 1];
    observe(arg, pv->out, p->arena + p->off[pv->out], shape_count(p->sh[pv->out]));
  }
}
