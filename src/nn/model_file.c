/*
 * model_file.c - writing and reading facerec model files (model_file.h).
 */
#define _DEFAULT_SOURCE /* MAP_PRIVATE and friends under -D_POSIX_C_SOURCE */
#include "nn/model_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "model files are little-endian and read in place: a big-endian build needs byte swapping"
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#include <nmmintrin.h>
#endif

#define HEADER_BYTES 64
#define ALIGN 64
#define NODE_WORDS 40
#define NONE 0xFFFFFFFFu

/* Argument limits a file must respect. They are far above what the shipped
 * networks use and low enough that no int arithmetic in the builders or the
 * planner can overflow on them. */
#define LIM_SPATIAL (1 << 16) /* kernel sides, strides, sizes, paddings */
#define LIM_CHANNELS (1 << 24)
#define LIM_FC_IN (1 << 26)

/* ---- the recording kernel set ------------------------------------------- */

static float *rec_pack(const float *hwio, int kh, int kw, int cin, int cout, int stride) {
  (void)stride;
  size_t n = (size_t)kh * kw * cin * cout;
  float *w = fr__aligned_alloc(n * sizeof *w);
  if (w) memcpy(w, hwio, n * sizeof *w);
  return w;
}

/* Compressed weights are kept as the file stores them: the HWIO codes, then
 * (from byte fr__u8_affine_at(codes), the gap zeroed) the 3 * cout floats of
 * the affine map, the layout fr__node_info promises for this set. */
static void *rec_pack_u8(const uint8_t *hwio, const float *affine, int kh, int kw, int cin,
                         int cout, int stride) {
  (void)stride;
  size_t n = (size_t)kh * kw * cin * cout, at = fr__u8_affine_at(n);
  uint8_t *blk = fr__aligned_calloc(at + 3 * (size_t)cout * sizeof(float));
  if (!blk) return NULL;
  memcpy(blk, hwio, n);
  memcpy(blk + at, affine, 3 * (size_t)cout * sizeof(float));
  return blk;
}

/* That layout is also the scalar set's, so its kernel runs compressed
 * layers (with its own task split and scratch). */
static size_t rec_scratch(const fr__conv_args *a) {
  return a->wq ? fr__kernels_scalar.conv_scratch(a) : 0;
}

static int rec_tasks(const fr__conv_args *a, int nthreads) {
  if (a->wq) return fr__kernels_scalar.conv_tasks(a, nthreads);
  return a->n * a->oh > 0 ? a->n * a->oh : 1;
}

/* One output row of a convolution with HWIO weights, by the definition. */
static void rec_conv(const fr__conv_args *a, int task, int ntasks, float *scratch) {
  if (a->wq) {
    fr__kernels_scalar.conv_run(a, task, ntasks, scratch);
    return;
  }
  (void)ntasks;
  (void)scratch;
  int b = task / a->oh, oy = task % a->oh;
  for (int ox = 0; ox < a->ow; ox++) {
    size_t o = (((size_t)b * a->oh + oy) * a->ow + ox) * a->cout;
    for (int co = 0; co < a->cout; co++) {
      float s = a->bias ? a->bias[co] : 0.f;
      for (int ky = 0; ky < a->kh; ky++) {
        int iy = oy * a->stride - a->pad_top + ky;
        if (iy < 0 || iy >= a->ih) continue;
        for (int kx = 0; kx < a->kw; kx++) {
          int ix = ox * a->stride - a->pad_left + kx;
          if (ix < 0 || ix >= a->iw) continue;
          const float *in = a->in + (((size_t)b * a->ih + iy) * a->iw + ix) * a->cin;
          const float *w = a->w + ((size_t)ky * a->kw + kx) * a->cin * a->cout + co;
          for (int ci = 0; ci < a->cin; ci++) s += in[ci] * w[(size_t)ci * a->cout];
        }
      }
      if (a->residual) s += a->residual[o + co];
      a->out[o + co] = fr__apply_act(s, a->act, a->alpha);
    }
  }
}

static int rec_dw_tasks(const fr__conv_args *a, int nthreads) {
  return fr__kernels_scalar.dw_tasks(a, nthreads);
}
static void rec_dw(const fr__conv_args *a, int task, int ntasks) {
  fr__kernels_scalar.dw_run(a, task, ntasks);
}
static void rec_pool(const fr__conv_args *a, int is_max, int task, int ntasks) {
  fr__kernels_scalar.pool_run(a, is_max, task, ntasks);
}
static void rec_act(float *y, const float *x, size_t n, fr__act act, float alpha) {
  fr__kernels_scalar.act_run(y, x, n, act, alpha);
}

const fr__kernels fr__kernels_record = {
    .name = "record",
    .int8_max = FR__INT8_SCALAR, /* it runs like the scalar set, int8 too */
    .pack_conv = rec_pack,
    .pack_conv_u8 = rec_pack_u8,
    .conv_scratch = rec_scratch,
    .conv_tasks = rec_tasks,
    .conv_run = rec_conv,
    .dw_tasks = rec_dw_tasks,
    .dw_run = rec_dw,
    .pool_run = rec_pool,
    .act_run = rec_act,
};

/* ---- checksum ----------------------------------------------------------- */

/*
 * The file's checksum is a CRC-32C (Castagnoli) tree: the bytes are cut into
 * CHUNK-byte chunks (the last may be shorter), and the checksum is the
 * CRC-32C of the chunks' CRC-32Cs written as little-endian u32s. It detects
 * what one CRC over the file would (every 1-3 bit error, any burst up to 32
 * bits within a chunk), and the chunks are independent: SSE 4.2's crc32
 * instruction has a latency of three cycles but accepts one per cycle, so
 * four chunks computed side by side run about three times faster than one
 * long chain, and checking a 20 MB file takes about a millisecond.
 */
#define CHUNK ((size_t)1 << 18)

static uint32_t crc32c_soft(uint32_t c, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
  }
  return c;
}

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_HW_CRC 1
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t c, const uint8_t *p,
                                                            size_t n) {
  uint64_t c64 = c;
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    c64 = _mm_crc32_u64(c64, v);
  }
  c = (uint32_t)c64;
  for (; n; n--, p++) c = _mm_crc32_u8(c, *p);
  return c;
}

/* Four whole chunks at once, interleaved. */
__attribute__((target("sse4.2"))) static void crc32c_hw4(const uint8_t *p, uint32_t out[4]) {
  uint64_t c0 = 0xFFFFFFFFu, c1 = c0, c2 = c0, c3 = c0;
  for (size_t i = 0; i < CHUNK; i += 8) {
    uint64_t v0, v1, v2, v3;
    memcpy(&v0, p + i, 8);
    memcpy(&v1, p + CHUNK + i, 8);
    memcpy(&v2, p + 2 * CHUNK + i, 8);
    memcpy(&v3, p + 3 * CHUNK + i, 8);
    c0 = _mm_crc32_u64(c0, v0);
    c1 = _mm_crc32_u64(c1, v1);
    c2 = _mm_crc32_u64(c2, v2);
    c3 = _mm_crc32_u64(c3, v3);
  }
  out[0] = ~(uint32_t)c0, out[1] = ~(uint32_t)c1, out[2] = ~(uint32_t)c2, out[3] = ~(uint32_t)c3;
}
#endif

static uint32_t crc32c_one(const uint8_t *p, size_t n) {
#ifdef HAVE_HW_CRC
  if (fr__cpu()->sse42) return ~crc32c_hw(0xFFFFFFFFu, p, n);
#endif
  return ~crc32c_soft(0xFFFFFFFFu, p, n);
}

static uint32_t checksum(const uint8_t *p, size_t n) {
  /* The chunk CRCs are folded into the final CRC 64 at a time. */
  uint32_t c = 0xFFFFFFFFu, part[64];
  size_t nchunks = (n + CHUNK - 1) / CHUNK, done = 0;
  while (done < nchunks) {
    size_t k = nchunks - done < 64 ? nchunks - done : 64, j = 0;
#ifdef HAVE_HW_CRC
    if (fr__cpu()->sse42)
      for (; j + 4 <= k && (done + j + 4) * CHUNK <= n; j += 4)
        crc32c_hw4(p + (done + j) * CHUNK, &part[j]);
#endif
    for (; j < k; j++) {
      size_t at = (done + j) * CHUNK;
      part[j] = crc32c_one(p + at, n - at < CHUNK ? n - at : CHUNK);
    }
    uint8_t le[4 * 64];
    for (size_t i = 0; i < k; i++)
      for (int b = 0; b < 4; b++) le[4 * i + (size_t)b] = (uint8_t)(part[i] >> (8 * b));
#ifdef HAVE_HW_CRC
    if (fr__cpu()->sse42)
      c = crc32c_hw(c, le, 4 * k);
    else
#endif
      c = crc32c_soft(c, le, 4 * k);
    done += k;
  }
  return ~c;
}

/* ---- models ------------------------------------------------------------- */

void fr__model_release(fr__model *m) {
  if (!m) return;
  for (int i = 0; i < m->n_graphs && i < FR__MODEL_MAX_GRAPHS; i++)
    fr__graph_destroy(m->graphs[i]);
  for (int i = 0; i < m->n_arrays && i < FR__MODEL_MAX_ARRAYS; i++)
    fr__aligned_free(m->arrays[i].data);
  memset(m, 0, sizeof *m);
}

float *fr__model_take_array(fr__model *m, const char *name, size_t count) {
  for (int i = 0; i < m->n_arrays; i++) {
    fr__model_array *a = &m->arrays[i];
    if (a->data && a->count == count && strcmp(a->name, name) == 0) {
      float *d = a->data;
      a->data = NULL;
      return d;
    }
  }
  return NULL;
}

fr_status fr__model_add_array(fr__model *m, const char *name, const float *data, size_t count,
                              fr_error *err) {
  if (m->n_arrays < 0 || m->n_arrays >= FR__MODEL_MAX_ARRAYS || count == 0 ||
      strlen(name) >= FR__MODEL_NAME_MAX)
    return fr__fail(err, FR_E_INVALID, "model: cannot add array %s (%d arrays, %zu floats)", name,
                    m->n_arrays, count);
  float *copy = fr__aligned_alloc(count * sizeof *copy);
  if (!copy) return fr__fail(err, FR_E_NOMEM, "out of memory copying array %s", name);
  memcpy(copy, data, count * sizeof *copy);
  fr__model_array *a = &m->arrays[m->n_arrays++];
  snprintf(a->name, sizeof a->name, "%s", name);
  a->data = copy;
  a->count = count;
  return FR_OK;
}

fr__graph *fr__model_take_graph(fr__model *m, int i) {
  if (i < 0 || i >= m->n_graphs) return NULL;
  fr__graph *g = m->graphs[i];
  m->graphs[i] = NULL;
  return g;
}

/* ---- writing ------------------------------------------------------------ */

/* A growing buffer of u32 words (the table of contents). */
typedef struct words {
  uint32_t *w;
  size_t n, cap;
  int failed;
} words;

static void put(words *t, uint32_t v) {
  if (t->failed) return;
  if (t->n == t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 1024;
    uint32_t *w = fr__realloc(t->w, cap * sizeof *w);
    if (!w) {
      t->failed = 1;
      return;
    }
    t->w = w;
    t->cap = cap;
  }
  t->w[t->n++] = v;
}

static void put_str(words *t, const char *s) {
  size_t len = strnlen(s, FR__MODEL_NAME_MAX - 1);
  put(t, (uint32_t)len);
  for (size_t i = 0; i < len; i += 4) {
    uint32_t v = 0;
    memcpy(&v, s + i, len - i < 4 ? len - i : 4);
    put(t, v);
  }
}

/* The weight blocks: where each source array goes. */
typedef struct blob {
  const float *src;
  size_t count;
  uint64_t off;
} blob;

typedef struct blobs {
  blob *b;
  size_t n, cap;
} blobs;

/* Adds an array; returns its index, NONE for NULL, or -2 on allocation
 * failure (as a uint32_t the caller compares). */
static int add_blob(blobs *bl, const float *src, size_t count, uint32_t *idx) {
  if (!src) {
    *idx = NONE;
    return 1;
  }
  if (bl->n == bl->cap) {
    size_t cap = bl->cap ? 2 * bl->cap : 256;
    blob *b = fr__realloc(bl->b, cap * sizeof *b);
    if (!b) return 0;
    bl->b = b;
    bl->cap = cap;
  }
  bl->b[bl->n] = (blob){src, count, 0};
  *idx = (uint32_t)bl->n++;
  return 1;
}

/* Floats of a node's weights and bias, from its arguments. */
static void weight_counts(const fr__graph *g, const fr__node_info *nd, size_t *nw, size_t *nb) {
  *nw = *nb = 0;
  size_t c_in = (size_t)fr__channels(g, nd->in[0]);
  switch (nd->op) {
  case FR__NODE_CONV:
    *nw = (size_t)nd->kh * nd->kw * c_in * nd->cout;
    *nb = (size_t)nd->cout;
    break;
  case FR__NODE_CONV_U8:
    /* The codes, in whole 32-bit words (rec_pack_u8 zeroes the tail). */
    *nw = ((size_t)nd->kh * nd->kw * c_in * nd->cout + 3) / 4;
    *nb = (size_t)nd->cout;
    break;
  case FR__NODE_DWCONV:
    *nw = (size_t)nd->kh * nd->kw * c_in;
    *nb = c_in;
    break;
  case FR__NODE_FC:
    *nw = (size_t)nd->cin * nd->cout;
    *nb = (size_t)nd->cout;
    break;
  case FR__NODE_BINARY:
    if (nd->nin == 1) *nw = (size_t)nd->kshape[0] * nd->kshape[1] * nd->kshape[2];
    break;
  case FR__NODE_PRELU: *nw = c_in; break;
  case FR__NODE_CONV_GENERAL:
    *nw = (size_t)nd->kh * nd->kw * c_in * nd->cout / (size_t)(nd->sub > 0 ? nd->sub : 1);
    *nb = (size_t)nd->cout;
    break;
  default: break;
  }
}

fr_status fr__model_serialize(const fr__model *m, uint8_t **out, size_t *size, fr_error *err) {
  *out = NULL;
  *size = 0;
  if (m->n_graphs < 1 || m->n_graphs > FR__MODEL_MAX_GRAPHS || m->n_arrays < 0 ||
      m->n_arrays > FR__MODEL_MAX_ARRAYS)
    return fr__fail(err, FR_E_INVALID, "model file: %d graphs and %d arrays (limits 1..%d, %d)",
                    m->n_graphs, m->n_arrays, FR__MODEL_MAX_GRAPHS, FR__MODEL_MAX_ARRAYS);
  words t = {0};
  blobs bl = {0};
  int *tmap = NULL;
  fr_status st = FR_OK;

  put(&t, (uint32_t)m->role);
  put_str(&t, m->name);
  put(&t, (uint32_t)m->input_size);
  put(&t, (uint32_t)m->dim);

  /* Graphs go to a second word buffer first: the block table, which
   * precedes them, is only complete once every node has been seen. */
  words gw = {0};
  put(&gw, (uint32_t)m->n_graphs);
  for (int gi = 0; gi < m->n_graphs && st == FR_OK; gi++) {
    const fr__graph *g = m->graphs[gi];
    if (!g || fr__graph_kernels(g) != &fr__kernels_record) {
      st = fr__fail(err, FR_E_INVALID,
                    "model file: graph %d was not built with the recording kernels", gi);
      break;
    }
    int nn = fr__graph_nodes(g), input = fr__graph_input(g), outs[FR__MAX_OUTPUTS];
    int nout = fr__graph_outputs(g, outs);
    if (nn < 1 || nn > FR__MODEL_MAX_NODES) {
      st = fr__fail(err, FR_E_INVALID, "model file: graph %d has %d nodes", gi, nn);
      break;
    }
    /* Graph tensor id -> file tensor id (0 input, i + 1 node i). Every
     * tensor is the input or one node's output, so ids stay below nn + 1. */
    fr__free(tmap);
    tmap = fr__malloc(((size_t)nn + 1) * sizeof *tmap);
    if (!tmap) {
      st = fr__fail(err, FR_E_NOMEM, "out of memory saving a model");
      break;
    }
    for (int i = 0; i <= nn; i++) tmap[i] = -1;
    if (input < 0 || input > nn) {
      st = fr__fail(err, FR_E_INVALID, "model file: graph %d input %d", gi, input);
      break;
    }
    tmap[input] = 0;
    put_str(&gw, fr__graph_name(g));
    put(&gw, (uint32_t)fr__channels(g, input));
    put(&gw, (uint32_t)nn);
    put(&gw, (uint32_t)nout);
    size_t outs_at = gw.n;
    for (int k = 0; k < nout; k++) put(&gw, 0); /* filled in below */
    for (int i = 0; i < nn && st == FR_OK; i++) {
      fr__node_info nd;
      if (!fr__graph_node_info(g, i, &nd) || nd.out < 0 || nd.out > nn || nd.nin < 1 ||
          nd.nin > 8) {
        st = fr__fail(err, FR_E_INVALID, "model file: graph %d node %d cannot be described", gi, i);
        break;
      }
      tmap[nd.out] = i + 1;
      uint32_t rec[NODE_WORDS];
      memset(rec, 0, sizeof rec);
      rec[0] = (uint32_t)nd.op;
      rec[1] = (uint32_t)nd.nin;
      for (int j = 0; j < nd.nin; j++) {
        int x = nd.in[j];
        if (x < 0 || x > nn || tmap[x] < 0) {
          st = fr__fail(err, FR_E_INVALID, "model file: graph %d node %d reads tensor %d", gi, i, x);
          break;
        }
        rec[2 + j] = (uint32_t)tmap[x];
      }
      if (st != FR_OK) break;
      if (nd.residual >= 0 && (nd.residual > nn || tmap[nd.residual] < 0)) {
        st = fr__fail(err, FR_E_INVALID, "model file: graph %d node %d residual", gi, i);
        break;
      }
      rec[10] = nd.residual >= 0 ? (uint32_t)tmap[nd.residual] : NONE;
      const int ints[] = {nd.kh,        nd.kw,         nd.cin,          nd.cout,
                          nd.stride,    (int)nd.pad,   (int)nd.act};
      for (int k = 0; k < 7; k++) rec[11 + k] = (uint32_t)ints[k];
      /* A reshape's channel count is its output's, not an argument kept. */
      if (nd.op == FR__NODE_RESHAPE) rec[14] = (uint32_t)fr__channels(g, nd.out);
      memcpy(&rec[18], &nd.alpha, 4);
      memcpy(&rec[19], &nd.beta, 4);
      rec[20] = (uint32_t)nd.pad_bottom;
      rec[21] = (uint32_t)nd.pad_right;
      rec[22] = (uint32_t)nd.pad_channels;
      rec[23] = (uint32_t)nd.sub;
      rec[24] = (uint32_t)nd.axis;
      rec[25] = (uint32_t)nd.flags;
      for (int k = 0; k < 3; k++) rec[26 + k] = (uint32_t)nd.kshape[k];
      rec[29] = (uint32_t)nd.oh;
      rec[30] = (uint32_t)nd.ow;
      for (int k = 0; k < 6; k++) rec[31 + k] = (uint32_t)nd.pads[k];
      size_t nw, nb;
      weight_counts(g, &nd, &nw, &nb);
      const float *wsrc = nd.w, *affine = NULL;
      rec[39] = NONE;
      if (nd.op == FR__NODE_CONV_U8) {
        /* The codes block, and the affine map as a third block. */
        size_t n = (size_t)nd.kh * nd.kw * fr__channels(g, nd.in[0]) * nd.cout;
        wsrc = (const float *)nd.wq;
        affine = (const float *)(const void *)((const uint8_t *)nd.wq + fr__u8_affine_at(n));
      }
      if (!add_blob(&bl, nw ? wsrc : NULL, nw, &rec[37]) ||
          !add_blob(&bl, nb ? nd.b : NULL, nb, &rec[38]) ||
          !add_blob(&bl, affine, 3 * (size_t)nd.cout, &rec[39])) {
        st = fr__fail(err, FR_E_NOMEM, "out of memory saving a model");
        break;
      }
      for (int k = 0; k < NODE_WORDS; k++) put(&gw, rec[k]);
    }
    for (int k = 0; k < nout && st == FR_OK; k++) {
      if (outs[k] < 0 || outs[k] > nn || tmap[outs[k]] < 0)
        st = fr__fail(err, FR_E_INVALID, "model file: graph %d output %d", gi, k);
      else if (!gw.failed)
        gw.w[outs_at + (size_t)k] = (uint32_t)tmap[outs[k]];
    }
  }
  put(&gw, (uint32_t)m->n_arrays);
  for (int a = 0; a < m->n_arrays && st == FR_OK; a++) {
    uint32_t idx;
    if (!m->arrays[a].data || !m->arrays[a].count) {
      st = fr__fail(err, FR_E_INVALID, "model file: empty array %s", m->arrays[a].name);
      break;
    }
    if (!add_blob(&bl, m->arrays[a].data, m->arrays[a].count, &idx)) {
      st = fr__fail(err, FR_E_NOMEM, "out of memory saving a model");
      break;
    }
    put_str(&gw, m->arrays[a].name);
    put(&gw, idx);
  }

  /* The block table, then the graphs, then the blocks themselves. */
  put(&t, (uint32_t)bl.n);
  size_t table_at = t.n;
  for (size_t i = 0; i < bl.n * 4; i++) put(&t, 0);
  for (size_t i = 0; i < gw.n && !gw.failed; i++) put(&t, gw.w[i]);
  uint8_t *buf = NULL;
  size_t total = 0;
  if (st == FR_OK && (t.failed || gw.failed))
    st = fr__fail(err, FR_E_NOMEM, "out of memory saving a model");
  if (st == FR_OK) {
    size_t off = HEADER_BYTES + t.n * 4;
    off = (off + ALIGN - 1) / ALIGN * ALIGN;
    uint64_t data_off = off;
    for (size_t i = 0; i < bl.n; i++) {
      bl.b[i].off = off;
      off += bl.b[i].count * sizeof(float);
      off = (off + ALIGN - 1) / ALIGN * ALIGN;
      t.w[table_at + 4 * i + 0] = (uint32_t)bl.b[i].off;
      t.w[table_at + 4 * i + 1] = (uint32_t)(bl.b[i].off >> 32);
      t.w[table_at + 4 * i + 2] = (uint32_t)bl.b[i].count;
      t.w[table_at + 4 * i + 3] = (uint32_t)((uint64_t)bl.b[i].count >> 32);
    }
    total = off;
    if (total > FR__MODEL_MAX_BYTES) {
      st = fr__fail(err, FR_E_LIMIT, "model file: %zu bytes (limit %zu)", total,
                    FR__MODEL_MAX_BYTES);
    } else if (!(buf = fr__calloc(1, total))) {
      st = fr__fail(err, FR_E_NOMEM, "out of memory saving a model");
    } else {
      memcpy(buf, FR__MODEL_MAGIC, 8); /* with its NUL */
      uint32_t version = FR__MODEL_VERSION, toc_words = (uint32_t)t.n;
      uint64_t fsize = total;
      memcpy(buf + 8, &version, 4);
      memcpy(buf + 16, &fsize, 8);
      memcpy(buf + 24, &toc_words, 4);
      memcpy(buf + 32, &data_off, 8);
      memcpy(buf + HEADER_BYTES, t.w, t.n * 4);
      for (size_t i = 0; i < bl.n; i++)
        memcpy(buf + bl.b[i].off, bl.b[i].src, bl.b[i].count * sizeof(float));
      uint32_t crc = checksum(buf + 16, total - 16);
      memcpy(buf + 12, &crc, 4);
    }
  }
  fr__free(tmap);
  fr__free(t.w);
  fr__free(gw.w);
  fr__free(bl.b);
  if (st != FR_OK) {
    fr__free(buf);
    return st;
  }
  *out = buf;
  *size = total;
  return FR_OK;
}

fr_status fr__model_save(const fr__model *m, const char *path, fr_error *err) {
  uint8_t *buf;
  size_t size;
  fr_status st = fr__model_serialize(m, &buf, &size, err);
  if (st != FR_OK) return st;
  char tmp[4200];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= sizeof tmp) {
    fr__free(buf);
    return fr__fail(err, FR_E_INVALID, "model file path too long: %s", path);
  }
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    fr__free(buf);
    return fr__fail(err, FR_E_IO, "cannot write %s: %s", tmp, strerror(errno));
  }
  int ok = fwrite(buf, 1, size, f) == size;
  ok = (fclose(f) == 0) && ok;
  fr__free(buf);
  if (!ok || rename(tmp, path) != 0) {
    int e = errno;
    remove(tmp);
    return fr__fail(err, FR_E_IO, "cannot write %s: %s", path, strerror(e));
  }
  return FR_OK;
}

/* ---- reading ------------------------------------------------------------ */

typedef struct reader {
  const uint32_t *w;
  size_t n, pos;
  int bad;
} reader;

static uint32_t get(reader *r) {
  if (r->pos >= r->n) {
    r->bad = 1;
    return 0;
  }
  return r->w[r->pos++];
}

/* Reads a string into out (FR__MODEL_NAME_MAX bytes); 0 if malformed. */
static int get_str(reader *r, char *out) {
  uint32_t len = get(r);
  if (r->bad || len >= FR__MODEL_NAME_MAX || (len + 3) / 4 > r->n - r->pos) return 0;
  memcpy(out, r->w + r->pos, len);
  out[len] = '\0';
  r->pos += (len + 3) / 4;
  return memchr(out, '\0', len) == NULL;
}

typedef struct parsed_blob {
  const float *p;
  size_t count;
} parsed_blob;

/* The block a node names, which must hold exactly `count` floats (a count of
 * 0 means no block may be named). Returns 1 with *p set (NULL for none). */
static int node_blob(const parsed_blob *b, uint32_t nb, uint32_t idx, size_t count, int optional,
                     const float **p) {
  *p = NULL;
  if (idx == NONE) return count == 0 || optional;
  if (idx >= nb || count == 0) return 0;
  *p = b[idx].p;
  return b[idx].count == count;
}

static int in_range(uint32_t v, uint32_t lo, uint32_t hi) { return v >= lo && v <= hi; }

/* a * b, or SIZE_MAX when that overflows (no block holds SIZE_MAX floats). */
static size_t mul_sat(size_t a, size_t b) {
  size_t r;
  return fr__mul_size(a, b, &r) ? r : SIZE_MAX;
}

#define BAD(reason) return *why = (reason), -1

/* Rebuilds one node through its builder; returns the new tensor or -1 with a
 * reason in *why. tmap maps file tensor ids to graph tensor ids. */
static int build_node(fr__graph *g, uint32_t version, const uint32_t *rec, const int *tmap, int i,
                      const parsed_blob *b, uint32_t nb, const char **why) {
  uint32_t op = rec[0], nin = rec[1];
  int x[8];
  *why = NULL; /* stays NULL when a builder refuses: the graph says why */
  if (nin < 1 || nin > 8) BAD("bad input count");
  for (uint32_t j = 0; j < nin; j++) {
    if (rec[2 + j] > (uint32_t)i) BAD("reads a later tensor");
    x[j] = tmap[rec[2 + j]];
  }
  int c0 = fr__channels(g, x[0]);
  uint32_t kh = rec[11], kw = rec[12], cin = rec[13], cout = rec[14], stride = rec[15];
  uint32_t pad = rec[16], act = rec[17];
  float alpha, beta;
  memcpy(&alpha, &rec[18], 4);
  memcpy(&beta, &rec[19], 4);
  uint32_t sub = rec[23], axis = rec[24], flags = rec[25];
  const uint32_t *ks = &rec[26], *pads = &rec[31];
  uint32_t oh = rec[29], ow = rec[30];
  const float *w = NULL, *bias = NULL;
  int residual = -1;
  if (rec[10] != NONE) {
    if (rec[10] > (uint32_t)i) BAD("reads a later tensor");
    residual = tmap[rec[10]];
  }
  int one = nin == 1;
  int windowed = one && in_range(kh, 1, LIM_SPATIAL) && in_range(kw, 1, LIM_SPATIAL) &&
                 in_range(stride, 1, LIM_SPATIAL) && pad <= FR__PAD_EXPLICIT;
  /* Explicit padding (ONNX graphs): the four amounts are pads[0..3]. */
  int xp[4] = {0, 0, 0, 0};
  if (pad == FR__PAD_EXPLICIT)
    for (int k = 0; k < 4; k++) {
      if (pads[k] > LIM_SPATIAL) BAD("bad arguments");
      xp[k] = (int)pads[k];
    }
  int explicit_pad = pad == FR__PAD_EXPLICIT;
  int act_ok = act <= FR__ACT_LEAKY;
  if (residual >= 0 && op != FR__NODE_CONV && op != FR__NODE_CONV_U8) BAD("bad arguments");
  /* Only a compressed convolution names a third block; version 1 had
   * neither (its word 39 is zero and means nothing). */
  if (version == 1 && op == FR__NODE_CONV_U8) BAD("unknown operator");
  if (version > 1 && rec[39] != NONE && op != FR__NODE_CONV_U8) BAD("bad arguments");
  switch ((fr__node_op)op) {
  case FR__NODE_CONV:
    if (!windowed || !act_ok || !in_range(cout, 1, LIM_CHANNELS)) BAD("bad arguments");
    if (!node_blob(b, nb, rec[37], mul_sat((size_t)kh * kw * (size_t)c0, cout), 0, &w) ||
        !node_blob(b, nb, rec[38], cout, 1, &bias))
      BAD("weights of the wrong size");
    if (explicit_pad)
      return fr__conv2d_pads(g, x[0], w, bias, (int)kh, (int)kw, (int)cout, (int)stride, xp,
                             (fr__act)act, alpha, residual);
    return fr__conv2d(g, x[0], w, bias, (int)kh, (int)kw, (int)cout, (int)stride,
                      (fr__padding)pad, (fr__act)act, alpha, residual);
  case FR__NODE_CONV_U8: {
    if (!windowed || !act_ok || !in_range(cout, 1, LIM_CHANNELS)) BAD("bad arguments");
    size_t n = mul_sat((size_t)kh * kw * (size_t)c0, cout);
    const float *affine = NULL;
    if (n == SIZE_MAX || !node_blob(b, nb, rec[37], (n + 3) / 4, 0, &w) ||
        !node_blob(b, nb, rec[38], cout, 1, &bias) ||
        !node_blob(b, nb, rec[39], 3 * (size_t)cout, 0, &affine))
      BAD("weights of the wrong size");
    if (explicit_pad) BAD("bad arguments"); /* never written: imports keep float weights */
    return fr__conv2d_u8(g, x[0], (const uint8_t *)w, affine, bias, (int)kh, (int)kw,
                         (int)cout, (int)stride, (fr__padding)pad, (fr__act)act, alpha, residual);
  }
  case FR__NODE_DWCONV:
    if (!windowed || !act_ok) BAD("bad arguments");
    if (!node_blob(b, nb, rec[37], (size_t)kh * kw * (size_t)c0, 0, &w) ||
        !node_blob(b, nb, rec[38], (size_t)c0, 1, &bias))
      BAD("weights of the wrong size");
    if (explicit_pad)
      return fr__dwconv2d_pads(g, x[0], w, bias, (int)kh, (int)kw, (int)stride, xp,
                               (fr__act)act, alpha);
    return fr__dwconv2d(g, x[0], w, bias, (int)kh, (int)kw, (int)stride, (fr__padding)pad,
                        (fr__act)act, alpha);
  case FR__NODE_FC:
    if (!one || !act_ok || !in_range(cin, 1, LIM_FC_IN) || !in_range(cout, 1, LIM_CHANNELS))
      BAD("bad arguments");
    if (!node_blob(b, nb, rec[37], (size_t)cin * cout, 0, &w) ||
        !node_blob(b, nb, rec[38], cout, 1, &bias))
      BAD("weights of the wrong size");
    return fr__fc(g, x[0], w, bias, (int)cin, (int)cout, (fr__act)act, alpha);
  case FR__NODE_ADD:
    if (nin < 2 || !act_ok) BAD("bad arguments");
    return fr__add(g, x, (int)nin, (fr__act)act, alpha);
  case FR__NODE_MAXPOOL:
  case FR__NODE_AVGPOOL:
    if (!windowed) BAD("bad arguments");
    if (explicit_pad)
      return fr__pool_pads(g, x[0], op == FR__NODE_MAXPOOL, (int)kh, (int)kw, (int)stride, xp);
    if (kh != kw) BAD("bad arguments");
    return op == FR__NODE_MAXPOOL ? fr__maxpool(g, x[0], (int)kh, (int)stride, (fr__padding)pad)
                                  : fr__avgpool(g, x[0], (int)kh, (int)stride, (fr__padding)pad);
  case FR__NODE_PAD:
    if (!one || rec[20] > LIM_SPATIAL || rec[21] > LIM_SPATIAL || rec[22] > LIM_SPATIAL)
      BAD("bad arguments");
    return fr__pad(g, x[0], (int)rec[20], (int)rec[21], (int)rec[22]);
  case FR__NODE_MEAN:
    if (!one) BAD("bad arguments");
    return fr__mean(g, x[0]);
  case FR__NODE_ACT:
    if (!one || !act_ok) BAD("bad arguments");
    return fr__activate(g, x[0], (fr__act)act, alpha);
  case FR__NODE_BINARY:
    if (nin > 2 || sub > FR__BIN_MIN || !act_ok) BAD("bad arguments");
    if (nin == 2) return fr__binary(g, (fr__binop)sub, x[0], x[1], (fr__act)act, alpha);
    if (!in_range(ks[0], 1, LIM_SPATIAL) || !in_range(ks[1], 1, LIM_SPATIAL) ||
        !in_range(ks[2], 1, LIM_CHANNELS) || flags > 1)
      BAD("bad arguments");
    if (!node_blob(b, nb, rec[37], (size_t)ks[0] * ks[1] * ks[2], 0, &w))
      BAD("constant of the wrong size");
    return fr__binary_const(g, (fr__binop)sub, x[0], w, (int)ks[0], (int)ks[1], (int)ks[2],
                            (int)flags, (fr__act)act, alpha);
  case FR__NODE_UNARY:
    if (!one || sub > FR__UN_LAST) BAD("bad arguments");
    return fr__unary_param(g, x[0], (fr__unop)sub, alpha, beta);
  case FR__NODE_PRELU:
    if (!one) BAD("bad arguments");
    if (!node_blob(b, nb, rec[37], (size_t)c0, 0, &w)) BAD("slopes of the wrong size");
    return fr__prelu(g, x[0], w);
  case FR__NODE_SOFTMAX:
    if (!one) BAD("bad arguments");
    return fr__softmax(g, x[0], beta);
  case FR__NODE_REDUCE:
    if (!one || !in_range(axis, FR__AXIS_H, FR__AXIS_C) || flags > 1) BAD("bad arguments");
    return fr__reduce(g, x[0], (int)axis, (int)flags);
  case FR__NODE_CONCAT:
    if (nin < 2 || !in_range(axis, FR__AXIS_H, FR__AXIS_C)) BAD("bad arguments");
    return fr__concat(g, x, (int)nin, (int)axis);
  case FR__NODE_RESHAPE:
    if (!one || !in_range(oh, 1, LIM_SPATIAL) || !in_range(ow, 1, LIM_SPATIAL) ||
        !in_range(cout, 1, LIM_CHANNELS))
      BAD("bad arguments");
    return fr__reshape(g, x[0], (int)oh, (int)ow, (int)cout);
  case FR__NODE_RESIZE:
    if (!one || !in_range(oh, 1, LIM_SPATIAL) || !in_range(ow, 1, LIM_SPATIAL) || flags > 31)
      BAD("bad arguments");
    return fr__resize(g, x[0], (int)oh, (int)ow, (int)flags);
  case FR__NODE_CONV_GENERAL: {
    fr__conv_general cg = {(int)kh, (int)kw, (int)cout, (int)sub, {(int)ks[0], (int)ks[1]},
                           {(int)ks[2], (int)oh}, {0, 0, 0, 0}, (int)axis,
                           {(int)(flags & 0xffff), (int)(flags >> 16)}};
    if (!one || !act_ok || !in_range(kh, 1, LIM_SPATIAL) || !in_range(kw, 1, LIM_SPATIAL) ||
        !in_range(cout, 1, LIM_CHANNELS) || !in_range(sub, 1, LIM_CHANNELS) || axis > 1 ||
        !in_range(ks[0], 1, LIM_SPATIAL) || !in_range(ks[1], 1, LIM_SPATIAL) ||
        !in_range(ks[2], 1, LIM_SPATIAL) || !in_range(oh, 1, LIM_SPATIAL) ||
        (flags & 0xffff) > LIM_SPATIAL || (flags >> 16) > LIM_SPATIAL || c0 % (int)sub ||
        cout % sub)
      BAD("bad arguments");
    for (int k = 0; k < 4; k++) {
      if (pads[k] > LIM_SPATIAL) BAD("bad arguments");
      cg.pads[k] = (int)pads[k];
    }
    if (!node_blob(b, nb, rec[37], mul_sat((size_t)kh * kw * (size_t)c0, cout) / sub, 0, &w) ||
        !node_blob(b, nb, rec[38], cout, 1, &bias))
      BAD("weights of the wrong size");
    return fr__conv2d_general(g, x[0], w, bias, &cg, (fr__act)act, alpha);
  }
  case FR__NODE_TRANSPOSE: {
    int perm[4] = {(int)ks[0], (int)ks[1], (int)ks[2], (int)flags};
    if (!one || ks[0] > 3 || ks[1] > 3 || ks[2] > 3 || flags > 3 || !in_range(cout, 1, LIM_CHANNELS))
      BAD("bad arguments");
    return fr__transpose(g, x[0], perm, (int)cout);
  }
  case FR__NODE_SLICE:
    if (!one || !in_range(axis, FR__AXIS_H, FR__AXIS_C) || ks[0] > LIM_CHANNELS ||
        !in_range(ks[1], 1, LIM_CHANNELS) || !in_range(ks[2], 1, LIM_CHANNELS))
      BAD("bad arguments");
    return fr__slice(g, x[0], (int)axis, (int)ks[0], (int)ks[1], (int)ks[2]);
  case FR__NODE_PAD_FULL:
    for (int k = 0; k < 6; k++)
      if (pads[k] > LIM_SPATIAL) BAD("bad arguments");
    return fr__pad_full(g, x[0], (int)pads[0], (int)pads[1], (int)pads[2], (int)pads[3],
                        (int)pads[4], (int)pads[5]);
  }
  BAD("unknown operator");
}

/* Reads one graph from the table of contents and builds it. */
static fr_status read_graph(reader *r, uint32_t version, const parsed_blob *b, uint32_t nb,
                            const fr__kernels *kernels, const char *label, int gi,
                            fr__graph **out, fr_error *err) {
  char name[FR__MODEL_NAME_MAX];
  if (!get_str(r, name)) return fr__fail(err, FR_E_MODEL, "%s: graph %d: bad name", label, gi);
  uint32_t cin = get(r), nn = get(r), nout = get(r);
  if (r->bad || !in_range(cin, 1, LIM_CHANNELS) || !in_range(nn, 1, FR__MODEL_MAX_NODES) ||
      !in_range(nout, 1, FR__MAX_OUTPUTS))
    return fr__fail(err, FR_E_MODEL, "%s: graph %d: bad header (%u channels, %u nodes, %u outputs)",
                    label, gi, cin, nn, nout);
  uint32_t outs[FR__MAX_OUTPUTS];
  for (uint32_t k = 0; k < nout; k++) outs[k] = get(r);
  /* Enough words for every node record, checked before allocating. */
  if (r->bad || (size_t)nn * NODE_WORDS > r->n - r->pos)
    return fr__fail(err, FR_E_MODEL, "%s: graph %d: truncated", label, gi);
  int *tmap = fr__malloc(((size_t)nn + 1) * sizeof *tmap);
  if (!tmap) return fr__fail(err, FR_E_NOMEM, "out of memory loading %s", label);
  fr__graph *g = NULL;
  fr_status st = fr__graph_create(kernels, name, &g, err);
  if (st == FR_OK) {
    tmap[0] = fr__input(g, (int)cin);
    for (uint32_t i = 0; i < nn; i++) {
      const uint32_t *rec = r->w + r->pos;
      r->pos += NODE_WORDS;
      const char *why;
      int t = build_node(g, version, rec, tmap, (int)i, b, nb, &why);
      if (t < 0) {
        /* A builder's own complaint (recorded in the graph) says more. */
        fr_error gerr = {0, ""};
        if (!why && fr__graph_finish(g, &gerr) != FR_OK)
          st = fr__fail(err, gerr.status == FR_E_NOMEM ? FR_E_NOMEM : FR_E_MODEL,
                        "%s: graph %d node %u: %s", label, gi, i, gerr.message);
        else
          st = fr__fail(err, FR_E_MODEL, "%s: graph %d node %u (op %u): %s", label, gi, i, rec[0],
                        why ? why : "refused by its builder");
        break;
      }
      if (fr__channels(g, t) > LIM_CHANNELS) {
        st = fr__fail(err, FR_E_LIMIT, "%s: graph %d node %u: %d channels", label, gi, i,
                      fr__channels(g, t));
        break;
      }
      tmap[i + 1] = t;
    }
  }
  for (uint32_t k = 0; k < nout && st == FR_OK; k++) {
    if (outs[k] > nn) {
      st = fr__fail(err, FR_E_MODEL, "%s: graph %d: output %u is tensor %u", label, gi, k,
                    outs[k]);
      break;
    }
    fr__output(g, tmap[outs[k]]);
  }
  if (st == FR_OK) {
    st = fr__graph_finish(g, err);
    if (st != FR_OK && st != FR_E_NOMEM) {
      err->status = st = FR_E_MODEL;
      fr__error_prefix(err, "%s", label);
    }
  }
  fr__free(tmap);
  if (st != FR_OK) {
    fr__graph_destroy(g);
    return st;
  }
  *out = g;
  return FR_OK;
}

fr_status fr__model_parse(const void *data, size_t size, const fr__kernels *kernels,
                          const char *label, fr__model *m, fr_error *err) {
  memset(m, 0, sizeof *m);
  fr_error local;
  if (!err) err = &local;
  if (!label) label = "model file";
  const uint8_t *d = data;
  if (size < 8 || memcmp(d, FR__MODEL_MAGIC, 8) != 0)
    return fr__fail(err, FR_E_FORMAT, "%s: not a facerec model file", label);
  if (size < HEADER_BYTES) return fr__fail(err, FR_E_MODEL, "%s: truncated header", label);
  if (size > FR__MODEL_MAX_BYTES)
    return fr__fail(err, FR_E_LIMIT, "%s: %zu bytes (limit %zu)", label, size,
                    FR__MODEL_MAX_BYTES);
  uint32_t version, crc, toc_words, zero;
  uint64_t fsize, data_off;
  memcpy(&version, d + 8, 4);
  memcpy(&crc, d + 12, 4);
  memcpy(&fsize, d + 16, 8);
  memcpy(&toc_words, d + 24, 4);
  memcpy(&zero, d + 28, 4);
  memcpy(&data_off, d + 32, 8);
  /* Version 1 files are version 2 files without compressed convolutions,
   * so they still load (with float32 weights throughout: converting again
   * gives the smaller graphs). */
  if (version != FR__MODEL_VERSION && version != 1)
    return fr__fail(err, FR_E_MODEL,
                    "%s: model file version %u, this build reads versions 1 to %u (run facerec "
                    "convert again)",
                    label, version, FR__MODEL_VERSION);
  if (fsize != size)
    return fr__fail(err, FR_E_MODEL, "%s: %zu bytes, the header says %llu (truncated?)", label,
                    size, (unsigned long long)fsize);
  if (checksum(d + 16, size - 16) != crc)
    return fr__fail(err, FR_E_MODEL, "%s: checksum mismatch (damaged file)", label);
  static const uint8_t zeros[24];
  if (zero != 0 || memcmp(d + 40, zeros, sizeof zeros) != 0 ||
      (size_t)toc_words > (size - HEADER_BYTES) / 4 ||
      data_off < HEADER_BYTES + (uint64_t)toc_words * 4 || data_off > size || data_off % ALIGN)
    return fr__fail(err, FR_E_MODEL, "%s: inconsistent header", label);

  /* Floats are read in place, so they must be aligned: a mapped file is,
   * and a caller's buffer that is not is copied. */
  uint8_t *copy = NULL;
  if ((uintptr_t)d % ALIGN != 0) {
    copy = fr__aligned_alloc(size);
    if (!copy) return fr__fail(err, FR_E_NOMEM, "out of memory loading %s", label);
    memcpy(copy, d, size);
    d = copy;
  }
  reader r = {(const uint32_t *)(const void *)(d + HEADER_BYTES), toc_words, 0, 0};
  fr_status st = FR_OK;
  parsed_blob *blobs = NULL;
  m->role = (fr__model_role)get(&r);
  if (!get_str(&r, m->name)) st = fr__fail(err, FR_E_MODEL, "%s: bad network name", label);
  uint32_t isz = get(&r), dim = get(&r), nb = get(&r);
  if (st == FR_OK &&
      (r.bad || !in_range((uint32_t)m->role, FR__MODEL_DETECTOR, FR__MODEL_LANDMARKER) ||
       isz > LIM_SPATIAL || dim > LIM_CHANNELS || nb > (r.n - r.pos) / 4))
    st = fr__fail(err, FR_E_MODEL, "%s: bad metadata", label);
  if (st == FR_OK) {
    m->input_size = (int)isz;
    m->dim = (int)dim;
    blobs = fr__calloc(nb ? nb : 1, sizeof *blobs);
    if (!blobs) st = fr__fail(err, FR_E_NOMEM, "out of memory loading %s", label);
  }
  for (uint32_t i = 0; i < nb && st == FR_OK; i++) {
    uint64_t off = get(&r);
    off |= (uint64_t)get(&r) << 32;
    uint64_t count = get(&r);
    count |= (uint64_t)get(&r) << 32;
    if (off < data_off || off % ALIGN || off > size || count > (size - off) / sizeof(float)) {
      st = fr__fail(err, FR_E_MODEL, "%s: weight block %u lies outside the file", label, i);
      break;
    }
    blobs[i].p = (const float *)(const void *)(d + off);
    blobs[i].count = (size_t)count;
  }
  uint32_t ng = st == FR_OK ? get(&r) : 0;
  if (st == FR_OK && (r.bad || !in_range(ng, 1, FR__MODEL_MAX_GRAPHS)))
    st = fr__fail(err, FR_E_MODEL, "%s: %u graphs", label, ng);
  for (uint32_t gi = 0; gi < ng && st == FR_OK; gi++) {
    st = read_graph(&r, version, blobs, nb, kernels, label, (int)gi, &m->graphs[gi], err);
    if (st == FR_OK) m->n_graphs++;
  }
  uint32_t na = st == FR_OK ? get(&r) : 0;
  if (st == FR_OK && (r.bad || na > FR__MODEL_MAX_ARRAYS))
    st = fr__fail(err, FR_E_MODEL, "%s: %u arrays", label, na);
  for (uint32_t a = 0; a < na && st == FR_OK; a++) {
    fr__model_array *arr = &m->arrays[a];
    uint32_t idx = 0;
    if (!get_str(&r, arr->name) || (idx = get(&r), r.bad) || idx >= nb || !blobs[idx].count) {
      st = fr__fail(err, FR_E_MODEL, "%s: bad array %u", label, a);
      break;
    }
    arr->count = blobs[idx].count;
    arr->data = fr__aligned_alloc(arr->count * sizeof(float));
    if (!arr->data) {
      st = fr__fail(err, FR_E_NOMEM, "out of memory loading %s", label);
      break;
    }
    memcpy(arr->data, blobs[idx].p, arr->count * sizeof(float));
    m->n_arrays++;
  }
  if (st == FR_OK && r.pos != r.n)
    st = fr__fail(err, FR_E_MODEL, "%s: %zu unread words in the table of contents", label,
                  r.n - r.pos);
  fr__free(blobs);
  fr__aligned_free(copy);
  if (st != FR_OK) fr__model_release(m);
  return st;
}

fr_status fr__model_load(const char *path, const fr__kernels *kernels, fr__model *m,
                         fr_error *err) {
  memset(m, 0, sizeof *m);
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fr__fail(err, FR_E_IO, "cannot open %s: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(fd);
    return fr__fail(err, FR_E_IO, "cannot read %s: not a regular file", path);
  }
  if ((uint64_t)sb.st_size > FR__MODEL_MAX_BYTES) {
    close(fd);
    return fr__fail(err, FR_E_LIMIT, "%s: %lld bytes (limit %zu)", base, (long long)sb.st_size,
                    FR__MODEL_MAX_BYTES);
  }
  size_t size = (size_t)sb.st_size;
  if (size == 0) {
    close(fd);
    return fr__fail(err, FR_E_FORMAT, "%s: not a facerec model file (empty)", base);
  }
  /* Mapped rather than read: the builders copy every weight they keep, so
   * the pages are read once, straight from the page cache, with no
   * intermediate buffer. */
  void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return fr__fail(err, FR_E_IO, "cannot map %s: %s", path, strerror(errno));
  fr_status st = fr__model_parse(p, size, kernels, base, m, err);
  munmap(p, size);
  return st;
}

void fr__model_seal(uint8_t *data, size_t size) {
  if (size < HEADER_BYTES) return;
  uint64_t fsize = size;
  memcpy(data + 16, &fsize, 8);
  uint32_t crc = checksum(data + 16, size - 16);
  memcpy(data + 12, &crc, 4);
}

int fr__model_files_disabled(void) {
  const char *v = getenv("FACEREC_NO_FRM");
  return v && v[0] && strcmp(v, "0") != 0;
}

fr_status fr__model_find(const char *model_dir, const char *name, fr__model_role role,
                         const fr__kernels *kernels, fr__model *m, int *found, fr_error *err) {
  memset(m, 0, sizeof *m);
  *found = 0;
  if (fr__model_files_disabled()) return FR_OK;
  char file[FR__MODEL_NAME_MAX + 8], path[4096];
  snprintf(file, sizeof file, "%s%s", name, FR__MODEL_EXT);
  fr_status st = fr__path_join(path, sizeof path, model_dir, file, err);
  if (st != FR_OK) return st;
  struct stat sb;
  if (stat(path, &sb) != 0) return FR_OK;
  st = fr__model_load(path, kernels, m, err);
  if (st != FR_OK) return st;
  if (m->role != role || strcmp(m->name, name) != 0) {
    fr__fail(err, FR_E_MODEL, "%s holds network '%s' (role %d), expected '%s' (role %d)", path,
             m->name, (int)m->role, name, (int)role);
    fr__model_release(m);
    return FR_E_MODEL;
  }
  *found = 1;
  return FR_OK;
}
