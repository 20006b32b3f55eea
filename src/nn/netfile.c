/*
 * netfile.c - one network file of any imported format as one engine graph
 * (netfile.h).
 *
 * The file is read whole once and its first bytes choose the importer, so
 * that a file named for one format but holding another still loads, and a
 * format is never guessed from a name. What each importer leaves out - the
 * shapes the model declares for its input and outputs - is filled in here:
 * for TFLite from the flatbuffer's tensor table (read again, since the
 * importer keeps nothing of the file), for a model file from what it
 * records. ONNX fills in its own.
 */
#include "nn/netfile.h"

#include <stdio.h>
#include <string.h>

#include "nn/model_file.h"
#include "nn/onnx.h"
#include "nn/tflite.h"

/* The largest network file read. ONNX files keep their weights inside the
 * protobuf (up to its 2 GiB message limit), so this is where they end; the
 * TFLite and model-file importers have their own, lower limits, which they
 * check themselves. */
#define NETFILE_MAX_BYTES ((size_t)2 << 30)

/* Copies a name from a file, at most max bytes of it, into dst with anything
 * unprintable replaced, since names end up in messages and JSON. */
static void copy_name(char *dst, size_t size, const char *src, size_t max) {
  size_t n = 0;
  for (; n + 1 < size && n < max && src[n]; n++) {
    unsigned char ch = (unsigned char)src[n];
    dst[n] = ch < 32 || ch > 126 ? '?' : (char)ch;
  }
  dst[n] = '\0';
}

/* ---- TFLite: the declared input and output shapes --------------------- */

/*
 * A minimal flatbuffer reader for the few fields read here: the model's
 * first subgraph, its input and output tensor indices, and those tensors'
 * name, shape and shape_signature (TensorFlow's schema.fbs: Model field 2,
 * SubGraph fields 0-2, Tensor fields 0, 3 and 7). fr__tflite_load has
 * already checked the file, but every read is bounds-checked again: this
 * code must stay safe whatever the importer comes to accept.
 */
typedef struct fbuf {
  const uint8_t *d;
  size_t n;
} fbuf;

static int fb_u32(const fbuf *f, size_t o, uint32_t *v) {
  if (o > f->n || f->n - o < 4) return 0;
  *v = (uint32_t)f->d[o] | (uint32_t)f->d[o + 1] << 8 | (uint32_t)f->d[o + 2] << 16 |
       (uint32_t)f->d[o + 3] << 24;
  return 1;
}

/* Follows the unsigned offset stored at p; 0 when it leaves the buffer. */
static size_t fb_deref(const fbuf *f, size_t p) {
  uint32_t off;
  if (!fb_u32(f, p, &off) || off > f->n - p) return 0;
  return p + off;
}

/* The position of field id of the table at t; 0 when the field is absent or
 * the table is damaged (no field of a valid table can sit at offset 0). */
static size_t fb_field(const fbuf *f, size_t t, int id) {
  uint32_t so;
  if (!fb_u32(f, t, &so)) return 0;
  /* The vtable is at t - soffset (a signed 32-bit value). */
  int64_t vt = (int64_t)t - (int64_t)(int32_t)so;
  if (vt < 0 || (uint64_t)vt > f->n || f->n - (size_t)vt < 4) return 0;
  size_t v = (size_t)vt;
  unsigned vt_len = (unsigned)(f->d[v] | f->d[v + 1] << 8);
  size_t at = 4 + 2 * (size_t)id;
  if (at + 2 > vt_len || vt_len > f->n - v) return 0;
  unsigned off = (unsigned)(f->d[v + at] | f->d[v + at + 1] << 8);
  if (off == 0 || off > f->n - t) return 0;
  return t + off;
}

/* A vector field of the table at t: its first element and length, its
 * elements esize bytes each and all inside the buffer. 0 when absent. */
static int fb_vec(const fbuf *f, size_t t, int id, size_t esize, size_t *start, size_t *len) {
  size_t p = fb_field(f, t, id);
  size_t v = p ? fb_deref(f, p) : 0;
  uint32_t n;
  if (!v || !fb_u32(f, v, &n)) return 0;
  if ((size_t)n > (f->n - v - 4) / esize) return 0;
  *start = v + 4;
  *len = n;
  return 1;
}

/* Table k of the vector of tables at start (of len entries); 0 if bad. */
static size_t fb_vec_table(const fbuf *f, size_t start, size_t len, size_t k) {
  return k < len ? fb_deref(f, start + 4 * k) : 0;
}

/* Fills d with tensor ti's name and declared dims, dims[0] left open (the
 * engine runs any batch). shape_signature, where the file has one, says
 * which dims the model leaves open (-1); without one, every dim is as the
 * shape fixes it. Returns 0 if anything is out of place. */
static int tflite_tensor_desc(const fbuf *f, size_t tensors, size_t nt, uint32_t ti,
                              fr__io_desc *d) {
  size_t t = fb_vec_table(f, tensors, nt, ti);
  size_t ss, sn, gs, gn, ns, nn;
  if (!t || !fb_vec(f, t, 0, 4, &ss, &sn) || sn < 1 || sn > FR__IO_MAX_DIMS) return 0;
  int sig = fb_vec(f, t, 7, 4, &gs, &gn) && gn == sn;
  memset(d, 0, sizeof *d);
  if (fb_vec(f, t, 3, 1, &ns, &nn)) copy_name(d->name, sizeof d->name, (const char *)f->d + ns, nn);
  if (!d->name[0]) snprintf(d->name, sizeof d->name, "#%u", (unsigned)ti);
  d->ndims = (int)sn;
  d->layout = FR__LAYOUT_ROWMAJOR;
  for (size_t k = 0; k < sn; k++) {
    uint32_t v, s = 0;
    if (!fb_u32(f, ss + 4 * k, &v) || (int32_t)v <= 0) return 0;
    if (sig && !fb_u32(f, gs + 4 * k, &s)) return 0;
    d->dims[k] = k == 0 || (sig && (int32_t)s != (int32_t)v) ? -1 : (int64_t)(int32_t)v;
  }
  return 1;
}

/* The TFLite model's declared input and outputs into nf; 0 if the file's
 * tables are not as the importer read them. */
static int tflite_descs(const uint8_t *data, size_t size, fr__netfile *nf) {
  const fbuf f = {data, size};
  size_t root = fb_deref(&f, 0), gs, gn, ts, tn, is, in, os, on;
  if (!root || !fb_vec(&f, root, 2, 4, &gs, &gn)) return 0;
  size_t sg = fb_vec_table(&f, gs, gn, 0);
  if (!sg || !fb_vec(&f, sg, 0, 4, &ts, &tn) || !fb_vec(&f, sg, 1, 4, &is, &in) ||
      !fb_vec(&f, sg, 2, 4, &os, &on))
    return 0;
  if (in != 1 || on != (size_t)nf->n_outputs) return 0;
  uint32_t ti;
  if (!fb_u32(&f, is, &ti) || !tflite_tensor_desc(&f, ts, tn, ti, &nf->input)) return 0;
  /* The engine's input is the model's NHWC tensor, so the channels it was
   * built for are the declared ones. */
  if (nf->input.ndims != 4) return 0;
  for (size_t k = 0; k < on; k++)
    if (!fb_u32(&f, os + 4 * k, &ti) || !tflite_tensor_desc(&f, ts, tn, ti, &nf->outputs[k]))
      return 0;
  return 1;
}

/* ---- descriptions derived from the graph ------------------------------ */

/* The engine's own view of a graph's input and outputs, for when the file
 * says nothing more: [-1, -1, -1, C] NHWC, each with the channels the graph
 * was built with. */
static void graph_descs(fr__netfile *nf) {
  const fr__graph *g = nf->graph;
  int outs[FR__MAX_OUTPUTS];
  memset(&nf->input, 0, sizeof nf->input);
  snprintf(nf->input.name, sizeof nf->input.name, "input");
  nf->input.ndims = 4;
  nf->input.dims[0] = nf->input.dims[1] = nf->input.dims[2] = -1;
  nf->input.dims[3] = fr__channels(g, fr__graph_input(g));
  int no = fr__graph_outputs(g, outs);
  for (int k = 0; k < no && k < FR__MAX_OUTPUTS; k++) {
    fr__io_desc *d = &nf->outputs[k];
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "output%d", k);
    d->ndims = 4;
    d->dims[0] = d->dims[1] = d->dims[2] = -1;
    d->dims[3] = fr__channels(g, outs[k]);
  }
}

/*
 * A model file's graph 0: the input is [-1, S, S, C] when the file records
 * an input side S that the network is fixed to - an embedder's or landmark
 * net's chip. A detector's recorded size is only a default (TinyFaceDetector
 * takes any multiple of 32) or, for MTCNN, the smallest face and not a side
 * of its P-Net at all, so a detector's sides stay open. With a fixed side
 * the output shapes come from a plan at it, and an output that is the
 * vector the file records the length of is [-1, dim], as its original was.
 */
static fr_status frm_descs(fr__netfile *nf, const fr__model *m, fr_error *err) {
  graph_descs(nf);
  int side = m->input_size;
  if (side <= 0 || (m->role != FR__MODEL_EMBEDDER && m->role != FR__MODEL_LANDMARKER))
    return FR_OK;
  nf->input.dims[1] = nf->input.dims[2] = side;
  fr__plan *p = NULL;
  fr_status st = fr__plan_create(nf->graph, 1, side, side, 1, &p, err);
  if (st != FR_OK) return st;
  for (int k = 0; k < nf->n_outputs; k++) {
    int sh[4];
    fr__io_desc *d = &nf->outputs[k];
    if (!fr__plan_output(p, k, sh)) continue;
    if (sh[1] == 1 && sh[2] == 1 && sh[3] == m->dim) {
      d->ndims = 2;
      d->dims[1] = sh[3];
    } else {
      d->dims[1] = sh[1], d->dims[2] = sh[2], d->dims[3] = sh[3];
    }
  }
  fr__plan_destroy(p);
  return FR_OK;
}

/* ---- loading ---------------------------------------------------------- */

static fr_status load_frm(const uint8_t *data, size_t size, const fr__netfile_options *opt,
                          const char *label, fr__netfile *nf, fr_error *err) {
  fr__model m;
  fr_status st = fr__model_parse(data, size, opt ? opt->kernels : NULL, label, &m, err);
  if (st != FR_OK) return st;
  nf->graph = fr__model_take_graph(&m, 0);
  if (!nf->graph) {
    fr__model_release(&m);
    return fr__fail(err, FR_E_MODEL, "%s: the model file holds no graph", label);
  }
  snprintf(nf->format, sizeof nf->format, "frm");
  int outs[FR__MAX_OUTPUTS];
  nf->n_outputs = fr__graph_outputs(nf->graph, outs);
  st = frm_descs(nf, &m, err);
  fr__model_release(&m);
  return st;
}

static fr_status load_tflite(const uint8_t *data, size_t size, const fr__netfile_options *opt,
                             const char *label, fr__netfile *nf, fr_error *err) {
  fr_status st = fr__tflite_load(data, size, opt ? opt->kernels : NULL, label, &nf->graph, err);
  if (st != FR_OK) return st;
  snprintf(nf->format, sizeof nf->format, "tflite");
  int outs[FR__MAX_OUTPUTS];
  nf->n_outputs = fr__graph_outputs(nf->graph, outs);
  /* Should the tables not read as the importer read them, the engine's own
   * view is still true, only less precise. */
  if (!tflite_descs(data, size, nf)) graph_descs(nf);
  return FR_OK;
}

fr_status fr__netfile_load(const char *path, const fr__netfile_options *opt, fr__netfile *nf,
                           fr_error *err) {
  memset(nf, 0, sizeof *nf);
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  uint8_t *data = NULL;
  size_t size = 0;
  fr_status st = fr__read_file(path, NETFILE_MAX_BYTES, &data, &size, err);
  if (st != FR_OK) return st;
  if (opt && opt->content_hash) *opt->content_hash = fr__fnv1a64(data, size);
  if (size >= 8 && memcmp(data, FR__MODEL_MAGIC, 8) == 0)
    st = load_frm(data, size, opt, base, nf, err);
  else if (size >= 8 && memcmp(data + 4, "TFL3", 4) == 0)
    st = load_tflite(data, size, opt, base, nf, err);
  else
    st = fr__onnx_load(data, size, opt, base, nf, err);
  fr__free(data);
  if (st != FR_OK) fr__netfile_release(nf);
  return st;
}

void fr__netfile_release(fr__netfile *nf) {
  if (!nf) return;
  fr__graph_destroy(nf->graph);
  memset(nf, 0, sizeof *nf);
}

/* ---- layouts ---------------------------------------------------------- */

/* NCHW <-> NHWC of n items; the element at channel k, pixel i sits at
 * k * hw + i in one order and at i * c + k in the other. */
static void permute(fr__layout layout, const float *src, float *dst, const int shape[4],
                    int to_engine) {
  size_t n = (size_t)shape[0], hw = (size_t)shape[1] * shape[2], c = (size_t)shape[3];
  if (layout != FR__LAYOUT_NCHW) {
    memcpy(dst, src, n * hw * c * sizeof *dst);
    return;
  }
  for (size_t b = 0; b < n; b++) {
    const float *s = src + b * c * hw;
    float *d = dst + b * c * hw;
    for (size_t k = 0; k < c; k++)
      for (size_t i = 0; i < hw; i++) {
        if (to_engine)
          d[i * c + k] = s[k * hw + i];
        else
          d[k * hw + i] = s[i * c + k];
      }
  }
}

void fr__layout_to_engine(fr__layout layout, const float *src, float *dst, const int shape[4]) {
  permute(layout, src, dst, shape, 1);
}

void fr__layout_from_engine(fr__layout layout, const float *src, float *dst, const int shape[4]) {
  permute(layout, src, dst, shape, 0);
}
