/*
 * gemm_conv.h - the convolution driver shared by the SIMD kernel sets.
 *
 * A convolution in NHWC is the matrix product C = A * B where each output
 * pixel is a row of A (its receptive field, kh*kw*cin values in HWIO order),
 * B = [kh*kw*cin][cout] holds the weights and C the output. No im2col matrix
 * is built: within one window row (fixed ky) the kw*cin values a pixel needs
 * are contiguous in NHWC memory, so row r of A is kh segments of kw*cin
 * floats, `segstride` floats apart, starting at a per-row pointer. The
 * micro-kernel takes MR such row pointers and broadcasts from them directly
 * ("implicit GEMM"); a 1x1 stride-1 convolution is the one-segment case where
 * the input itself is A.
 *
 * When a window can leave the image (SAME padding), the task first copies the
 * input rows its band of output rows needs into its scratch with a zero
 * border, so the micro-kernel never tests bounds. Windows that always fit
 * (VALID padding) read the input in place.
 *
 * Work is split into tiles (runs of about GC_MT output pixels of one image,
 * sized to a multiple of MR so that no micro-kernel call is wasted on a row
 * tail; a 1x1 convolution flattens the whole batch) times groups of
 * NR-column weight panels, so that a pool can share a layer even when it has
 * few pixels. A layer too small to repay waking a second thread is one task.
 *
 * 3x3 stride-1 convolutions of 16 to 64 channels (multiples of 8) on at
 * least 64 output pixels run as Winograd F(2x2, 3x3) instead, on the same
 * micro-kernel (see the end of this file).
 *
 * Weights may also be kept compressed (pack_conv_u8, fr__conv_args.wq): the
 * panels then hold one uint8 code per weight, in the same [panel][k][NR]
 * order, followed by a scale, an offset and a zero point per panel column.
 * The task dequantises a panel GC_KC rows at a time into its scratch and
 * runs the micro-kernel over the tile's rows on those rows, so the
 * micro-kernel is the same; the chunks' partial sums go through the output
 * (each later chunk adds what the earlier ones stored, as a residual), and
 * bias and activation come with the last chunk. Dequantising costs one pass
 * over the weights per tile, which matters only on layers of few pixels:
 * on FaceRecognitionNet's 4x4 256-channel layers it measured about 20% of
 * the layer, on its 1x1 ones (where reading the weights dominates) the
 * quarter-size weights made the layer 30% faster. Winograd layers keep
 * their transformed weights in float32 after the codes (transforming codes
 * at run time would cost more than it saves).
 *
 * The including file defines, before including this header:
 *   GC_MR, GC_NR     rows and columns of its micro-kernel;
 *   GC_MT            pixels per tile (a multiple of GC_MR is best);
 *   GC_MICRO         its micro-kernel, with the signature of gc_micro_fn;
 *   GC_ACT8(v, act, alpha)  an activation on an AVX2 vector (for Winograd);
 *   GC_FN(name)      a prefix for the functions defined here;
 * and optionally GC_AVX512 when AVX-512F may be used (compressed weights are
 * then dequantised 16 lanes at a time).
 */
#ifndef GC_MR
#error "define GC_MR, GC_NR, GC_MT, GC_MICRO and GC_FN before including gemm_conv.h"
#endif

#include <stdlib.h>
#include <string.h>

/*
 * C[r][0..nv) = act(bias + residual[r] + sum over segments s and i < seglen of
 * A[r][s * segstride + i] * Bp[(s * seglen + i) * NR + column]) for r < MR;
 * rows whose C pointer is NULL are computed but not stored, and come after
 * all the stored ones. R may be NULL (no residual); bias may be NULL. nv may
 * exceed NR (only NR are stored).
 */
typedef void (*gc_micro_fn)(const float *const *A, size_t segstride, int nseg, int seglen,
                            const float *Bp, float *const *C, const float *const *R,
                            const float *bias, int nv, fr__act act, float alpha);

/* 1 when a convolution's packed weights also hold the Winograd layout (see
 * "Winograd" below). Decided from what pack_conv knows, so that packing and
 * running agree; the spatial size decides later whether it is used. Up to 64
 * channels: FaceRecognitionNet's 32- and 64-channel layers (35x35 and 17x17
 * pixels) measured 5% and 30% faster alone with it. Its 128-channel layers
 * (8x8) measured 45% faster alone with their weights in cache, but the whole
 * network gained no more than the noise of a busy machine, and their
 * transformed weights would add 5 MB to the process (they are 16/9 the size
 * of the plain ones); the 256-channel layers run on 16 pixels or fewer, where
 * reading the weights dominates. */
#ifndef GC_WINO_MAX_C
#define GC_WINO_MAX_C 256
#endif
#ifndef GC_WINO_MAX_CC
#define GC_WINO_MAX_CC (192 * 192)
#endif
static int GC_FN(has_wino)(int kh, int kw, int cin, int cout, int stride) {
  return kh == 3 && kw == 3 && stride == 1 && cin % 8 == 0 && cout % 8 == 0 && cin >= 16 &&
         cin <= GC_WINO_MAX_C && cout >= 16 && cout <= GC_WINO_MAX_C &&
         cin * cout <= GC_WINO_MAX_CC;
}

/* Packs a K x cout matrix (rows of cout floats, `ld` apart) into panels of NR
 * columns, each K rows of NR floats with the columns past cout zero. */
static void GC_FN(pack_panels)(const float *src, size_t k, size_t ld, int cout, float *dst) {
  int panels = (cout + GC_NR - 1) / GC_NR;
  for (int p = 0; p < panels; p++) {
    int n0 = p * GC_NR, nv = cout - n0 < GC_NR ? cout - n0 : GC_NR;
    float *d = dst + (size_t)p * k * GC_NR;
    for (size_t r = 0; r < k; r++) memcpy(d + r * GC_NR, src + r * ld + n0, (size_t)nv * sizeof(float));
  }
}

static void GC_FN(wino_pack)(const float *hwio, int cin, int cout, float *dst);

/* The compressed block (pack_conv_u8): codes, at byte `affine` the scales,
 * offsets and zero points (fr__dequant_u8; one float each per panel column,
 * zero past cout), and at byte `wino` the Winograd weights when has_wino. */
typedef struct GC_FN(u8_layout) {
  size_t codes, affine, wino, total;
} GC_FN(u8_layout);

static GC_FN(u8_layout) GC_FN(u8_at)(int kh, int kw, int cin, int cout, int stride) {
  GC_FN(u8_layout) l;
  size_t k = (size_t)kh * kw * cin;
  size_t cols = (size_t)((cout + GC_NR - 1) / GC_NR) * GC_NR;
  l.codes = k * cols;
  l.affine = fr__u8_affine_at(l.codes);
  l.wino = fr__u8_affine_at(l.affine + 3 * cols * sizeof(float));
  l.total = l.wino;
  if (GC_FN(has_wino)(kh, kw, cin, cout, stride)) l.total += 16 * (size_t)cin * cols * sizeof(float);
  return l;
}

static void *GC_FN(pack_conv_u8)(const uint8_t *hwio, const float *affine, int kh, int kw,
                                 int cin, int cout, int stride) {
  GC_FN(u8_layout) l = GC_FN(u8_at)(kh, kw, cin, cout, stride);
  size_t k = (size_t)kh * kw * cin, cols = (size_t)((cout + GC_NR - 1) / GC_NR) * GC_NR;
  uint8_t *blk = fr__aligned_calloc(l.total);
  if (!blk) return NULL;
  for (int n0 = 0; n0 < cout; n0 += GC_NR) {
    int nv = cout - n0 < GC_NR ? cout - n0 : GC_NR;
    uint8_t *d = blk + (size_t)n0 * k;
    for (size_t r = 0; r < k; r++) memcpy(d + r * GC_NR, hwio + r * cout + n0, (size_t)nv);
  }
  float *sc = (float *)(void *)(blk + l.affine);
  for (int j = 0; j < 3; j++)
    memcpy(sc + j * cols, affine + (size_t)j * cout, (size_t)cout * sizeof(float));
  if (l.total > l.wino) {
    /* The Winograd transform is computed from the dequantised weights. */
    float *fw = fr__malloc(k * cout * sizeof(float));
    if (!fw) {
      fr__aligned_free(blk);
      return NULL;
    }
    fr__dequant_u8(fw, hwio, k * cout, cout, affine);
    GC_FN(wino_pack)(fw, cin, cout, (float *)(void *)(blk + l.wino));
    fr__free(fw);
  }
  return blk;
}

/* Rows of a compressed panel dequantised at a time: few enough that they
 * stay in L1 (16 KB at 32 columns) between the dequantisation and the
 * micro-kernel calls that read them. Dequantising a whole panel first (up
 * to 295 KB for a 256-channel 3x3 layer) cost FaceRecognitionNet's 4x4
 * 256-channel layers about 30 us each over float32, these chunks about 20;
 * chunks of 256 and 512 rows measured the same within the noise of a busy
 * machine. */
#ifndef GC_KC
#define GC_KC 128
#endif

/* Dequantises panel rows [0, k) of NR codes into dst (64-byte aligned) with
 * the panel's NR scales, offsets and zero points (each `cols` floats after
 * the previous): the same subtraction and fused multiply-add as
 * fr__dequant_u8. 8 lanes at a time, which both including sets have. */
static void GC_FN(dequant_panel)(const uint8_t *q, const float *sc, size_t cols, size_t k,
                                 float *dst) {
#ifdef GC_AVX512
  /* 16 lanes where the including set has them: half the instructions, and
   * for the layers that run on a few pixels this pass is a visible part of
   * the time. */
  __m512 s16[GC_NR / 16], o16[GC_NR / 16], z16[GC_NR / 16];
  for (int j = 0; j < GC_NR / 16; j++) {
    s16[j] = _mm512_loadu_ps(sc + 16 * j);
    o16[j] = _mm512_loadu_ps(sc + cols + 16 * j);
    z16[j] = _mm512_loadu_ps(sc + 2 * cols + 16 * j);
  }
  for (size_t r = 0; r < k; r++, q += GC_NR, dst += GC_NR)
    for (int j = 0; j < GC_NR / 16; j++) {
      __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(q + 16 * j)));
      __m512 c = _mm512_sub_ps(_mm512_cvtepi32_ps(v), z16[j]);
      _mm512_store_ps(dst + 16 * j, _mm512_fmadd_ps(c, s16[j], o16[j]));
    }
  return;
#endif
  __m256 s[GC_NR / 8], o[GC_NR / 8], z[GC_NR / 8];
  for (int j = 0; j < GC_NR / 8; j++) {
    s[j] = _mm256_loadu_ps(sc + 8 * j);
    o[j] = _mm256_loadu_ps(sc + cols + 8 * j);
    z[j] = _mm256_loadu_ps(sc + 2 * cols + 8 * j);
  }
  for (size_t r = 0; r < k; r++, q += GC_NR, dst += GC_NR)
    for (int j = 0; j < GC_NR / 8; j++) {
      __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(q + 8 * j)));
      __m256 c = _mm256_sub_ps(_mm256_cvtepi32_ps(v), z[j]);
      _mm256_store_ps(dst + 8 * j, _mm256_fmadd_ps(c, s[j], o[j]));
    }
}

/* Floats of scratch a compressed layer's dequantised panel takes (kept a
 * multiple of 16 so that what follows stays 64-byte aligned). */
static size_t GC_FN(panel_floats)(const fr__conv_args *a) {
  if (!a->wq) return 0;
  size_t rows = (size_t)a->kw * a->cin; /* a chunk stays within one window row */
  if (rows > GC_KC) rows = GC_KC;
  return (rows * GC_NR + 15) & ~(size_t)15;
}

/* Packs HWIO weights: the plain panels, then (when has_wino) the 16
 * transformed matrices. */
static float *GC_FN(pack_conv)(const float *hwio, int kh, int kw, int cin, int cout, int stride) {
  size_t k = (size_t)kh * kw * cin;
  int panels = (cout + GC_NR - 1) / GC_NR;
  size_t plain = k * (size_t)panels * GC_NR;
  int wino = GC_FN(has_wino)(kh, kw, cin, cout, stride);
  size_t extra = wino ? 16 * (size_t)cin * panels * GC_NR : 0;
  float *w = fr__aligned_calloc((plain + extra) * sizeof(float));
  if (!w) return NULL;
  GC_FN(pack_panels)(hwio, k, (size_t)cout, cout, w);
  if (wino) GC_FN(wino_pack)(hwio, cin, cout, w + plain);
  return w;
}

static int GC_FN(is_pointwise)(const fr__conv_args *a) {
  return a->kh == 1 && a->kw == 1 && a->stride == 1 && a->pad_top == 0 && a->pad_left == 0;
}

/* 1 when some window reaches outside the input (then the rows a tile needs
 * are copied with a zero border). */
static int GC_FN(needs_pad)(const fr__conv_args *a) {
  return a->pad_top > 0 || a->pad_left > 0 ||
         (a->oh - 1) * a->stride - a->pad_top + a->kh > a->ih ||
         (a->ow - 1) * a->stride - a->pad_left + a->kw > a->iw;
}

/* Tiling: `per` tiles of `size` pixels (the last one shorter) cover `span`
 * pixels, which are one image's (or, for 1x1 convolutions, the batch's). */
typedef struct GC_FN(tiling) {
  long span, size;
  int per, count;
} GC_FN(tiling);

static GC_FN(tiling) GC_FN(tiles)(const fr__conv_args *a) {
  GC_FN(tiling) t;
  int pw = GC_FN(is_pointwise)(a);
  t.span = pw ? (long)a->n * a->oh * a->ow : (long)a->oh * a->ow;
  t.per = (int)((t.span + GC_MT - 1) / GC_MT);
  long even = (t.span + t.per - 1) / t.per;
  t.size = (even + GC_MR - 1) / GC_MR * GC_MR;
  t.per = (int)((t.span + t.size - 1) / t.size);
  t.count = pw ? t.per : a->n * t.per;
  return t;
}

static int GC_FN(use_wino)(const fr__conv_args *a);
static size_t GC_FN(wino_scratch)(const fr__conv_args *a);
static int GC_FN(wino_tasks)(const fr__conv_args *a, int nthreads);
static void GC_FN(wino_run)(const fr__conv_args *a, int task, int ntasks, float *scratch);

static size_t GC_FN(conv_scratch)(const fr__conv_args *a) {
  if (GC_FN(use_wino)(a)) return GC_FN(wino_scratch)(a);
  size_t panel = GC_FN(panel_floats)(a);
  if (GC_FN(is_pointwise)(a) || !GC_FN(needs_pad)(a)) return panel;
  /* A tile's pixels span at most this many output rows. */
  long orows = (GC_FN(tiles)(a).size + a->ow - 2) / a->ow + 1;
  if (orows > a->oh) orows = a->oh;
  size_t rows = (size_t)(orows - 1) * a->stride + a->kh;
  size_t wp = (size_t)(a->ow - 1) * a->stride + a->kw;
  return panel + rows * wp * a->cin;
}

/* Below this many multiply-adds a layer runs as one task: waking a pool
 * thread costs tens of microseconds, as much as such a layer's work. */
#define GC_MIN_PARALLEL_MACS 2000000.0

static int GC_FN(conv_tasks)(const fr__conv_args *a, int nthreads) {
  if (GC_FN(use_wino)(a)) return GC_FN(wino_tasks)(a, nthreads);
  GC_FN(tiling) t = GC_FN(tiles)(a);
  double macs = (double)a->n * a->oh * a->ow * a->cout * a->kh * a->kw * a->cin;
  if (nthreads <= 1 || macs < GC_MIN_PARALLEL_MACS) return 1;
  if (t.count >= 2 * nthreads) return t.count;
  int panels = (a->cout + GC_NR - 1) / GC_NR;
  int groups = (2 * nthreads + t.count - 1) / t.count;
  return t.count * (groups < panels ? groups : panels);
}

/* The micro-kernel's row pointers for pixels m .. m + MR - 1 (those below
 * m1) of panel column n0: where each row of A starts (for a 1x1 convolution,
 * ystep == 0, the input pixel itself; otherwise base + (oy - oy0) * ystep +
 * ox * xstep for pixel (oy, ox), advanced in *oy, *ox), its output and its
 * residual. */
static inline void GC_FN(rows)(const fr__conv_args *a, long m, long m1, int n0, const float *base,
                               size_t ystep, size_t xstep, int oy0, int *oy, int *ox,
                               const float **A, float **C, const float **R) {
  size_t cin = (size_t)a->cin, cout = (size_t)a->cout;
  int mr = m1 - m < GC_MR ? (int)(m1 - m) : GC_MR;
  for (int r = 0; r < GC_MR; r++) {
    if (r < mr) {
      if (ystep)
        A[r] = base + (size_t)(*oy - oy0) * ystep + (size_t)*ox * xstep;
      else
        A[r] = a->in + (size_t)(m + r) * cin;
      C[r] = a->out + (size_t)(m + r) * cout + n0;
      R[r] = a->residual ? a->residual + (size_t)(m + r) * cout + n0 : NULL;
      if (++*ox == a->ow) *ox = 0, ++*oy;
    } else {
      /* Missing rows repeat row 0 and are not stored. */
      A[r] = A[0];
      C[r] = NULL;
      R[r] = NULL;
    }
  }
}

/* Computes panels [p0, p1) of the tile'th tile. The scratch holds the
 * dequantised panel of a compressed layer first, then the padded input. */
static void GC_FN(run_tile)(const fr__conv_args *a, const GC_FN(tiling) * t, int tile, int p0,
                            int p1, float *scratch) {
  float *wbuf = scratch;
  /* A plan whose convolutions need no scratch passes NULL, and NULL plus
   * even zero is undefined behaviour. */
  if (scratch) scratch += GC_FN(panel_floats)(a);
  size_t k = (size_t)a->kh * a->kw * a->cin;
  size_t cin = (size_t)a->cin;
  int s = a->stride;
  int b = GC_FN(is_pointwise)(a) ? 0 : tile / t->per;
  long q0 = (long)(tile % t->per) * t->size;
  long q1 = q0 + t->size < t->span ? q0 + t->size : t->span;
  long m0 = (long)b * t->span + q0, m1 = (long)b * t->span + q1; /* output pixels */

  /* Where each pixel's row of A starts: for a 1x1 convolution base + (m -
   * m0) * cin; otherwise base + (oy - oy0) * ystep + ox * xstep for pixel
   * (oy, ox) of image b. */
  const float *base;
  size_t ystep = 0, xstep = 0, segstride = 0;
  int nseg = 1, seglen = (int)k, oy0 = 0, ox0 = 0;
  if (GC_FN(is_pointwise)(a)) {
    base = a->in + (size_t)m0 * cin;
  } else {
    oy0 = (int)(q0 / a->ow);
    ox0 = (int)(q0 % a->ow);
    int oy1 = (int)((q1 - 1) / a->ow) + 1;
    nseg = a->kh;
    seglen = a->kw * a->cin;
    if (GC_FN(needs_pad)(a)) {
      /* Input rows iy0 .. iy0 + rows - 1, columns -pad_left .. wp -
       * pad_left - 1, zero outside the image. */
      int rows = (oy1 - oy0 - 1) * s + a->kh, wp = (a->ow - 1) * s + a->kw;
      int iy0 = oy0 * s - a->pad_top;
      int x0 = a->pad_left, x1 = a->iw + a->pad_left < wp ? a->iw + a->pad_left : wp;
      for (int r = 0; r < rows; r++) {
        float *d = scratch + (size_t)r * wp * cin;
        int iy = iy0 + r;
        if (iy < 0 || iy >= a->ih || x1 <= x0) {
          memset(d, 0, (size_t)wp * cin * sizeof(float));
          continue;
        }
        memset(d, 0, (size_t)x0 * cin * sizeof(float));
        memcpy(d + (size_t)x0 * cin, a->in + (((size_t)b * a->ih + iy) * a->iw) * cin,
               (size_t)(x1 - x0) * cin * sizeof(float));
        memset(d + (size_t)x1 * cin, 0, (size_t)(wp - x1) * cin * sizeof(float));
      }
      base = scratch;
      segstride = (size_t)wp * cin;
    } else {
      base = a->in + (((size_t)b * a->ih + (size_t)oy0 * s) * a->iw) * cin;
      segstride = (size_t)a->iw * cin;
    }
    ystep = segstride * s;
    xstep = (size_t)s * cin;
  }

  if (a->wq) {
    GC_FN(u8_layout) l = GC_FN(u8_at)(a->kh, a->kw, a->cin, a->cout, a->stride);
    const uint8_t *codes = a->wq;
    const float *scales = (const float *)(const void *)(codes + l.affine);
    size_t cols = (size_t)((a->cout + GC_NR - 1) / GC_NR) * GC_NR;
    for (int p = p0; p < p1; p++) {
      int n0 = p * GC_NR, nv = a->cout - n0;
      const uint8_t *pq = codes + (size_t)p * k * GC_NR;
      size_t kk = 0; /* the chunk's first row of the panel */
      for (int sg = 0; sg < nseg; sg++)
        for (int i0 = 0; i0 < seglen; i0 += GC_KC) {
          int len = seglen - i0 < GC_KC ? seglen - i0 : GC_KC;
          int first = kk == 0, last = kk + (size_t)len == k;
          GC_FN(dequant_panel)(pq + kk * GC_NR, scales + n0, cols, (size_t)len, wbuf);
          size_t at = (size_t)sg * segstride + (size_t)i0;
          int oy = oy0, ox = ox0;
          for (long m = m0; m < m1; m += GC_MR) {
            const float *A[GC_MR];
            float *C[GC_MR];
            const float *R[GC_MR];
            GC_FN(rows)(a, m, m1, n0, base, ystep, xstep, oy0, &oy, &ox, A, C, R);
            for (int r = 0; r < GC_MR; r++) {
              A[r] += at;
              /* Later chunks add to what the earlier ones stored. */
              if (!first) R[r] = C[r];
            }
            GC_MICRO(A, 0, 1, len, wbuf, C, first && !a->residual ? NULL : R,
                     last && a->bias ? a->bias + n0 : NULL, nv, last ? a->act : FR__ACT_NONE,
                     a->alpha);
          }
          kk += (size_t)len;
        }
    }
    return;
  }
  (void)wbuf;
  for (int p = p0; p < p1; p++) {
    const float *Bp = a->w + (size_t)p * k * GC_NR;
    int n0 = p * GC_NR, nv = a->cout - n0;
    const float *bias = a->bias ? a->bias + n0 : NULL;
    int oy = oy0, ox = ox0; /* pixel m, advanced along with m */
    for (long m = m0; m < m1; m += GC_MR) {
      const float *A[GC_MR];
      float *C[GC_MR];
      const float *R[GC_MR];
      GC_FN(rows)(a, m, m1, n0, base, ystep, xstep, oy0, &oy, &ox, A, C, R);
      GC_MICRO(A, segstride, nseg, seglen, Bp, C, a->residual ? R : NULL, bias, nv, a->act,
               a->alpha);
    }
  }
}

static void GC_FN(conv_run)(const fr__conv_args *a, int task, int ntasks, float *scratch) {
  /* conv_tasks() returned 1 (everything), the tile count (one tile each) or
   * tiles x panel groups (one group of one tile each). */
  if (GC_FN(use_wino)(a)) {
    GC_FN(wino_run)(a, task, ntasks, scratch);
    return;
  }
  GC_FN(tiling) t = GC_FN(tiles)(a);
  int panels = (a->cout + GC_NR - 1) / GC_NR;
  if (ntasks <= t.count) {
    int t0 = (int)((long)t.count * task / ntasks), t1 = (int)((long)t.count * (task + 1) / ntasks);
    for (int i = t0; i < t1; i++) GC_FN(run_tile)(a, &t, i, 0, panels, scratch);
    return;
  }
  int groups = ntasks / t.count;
  int tile = task / groups, grp = task % groups;
  if (tile >= t.count) return;
  GC_FN(run_tile)(a, &t, tile, (int)((long)panels * grp / groups),
                  (int)((long)panels * (grp + 1) / groups), scratch);
}

/* ---- Winograd F(2x2, 3x3) ----------------------------------------------
 *
 * A 3x3 stride-1 convolution computes each 2x2 block of outputs from a 4x4
 * block of input as Y = A' [(G g G') . (B' d B)] A, where . multiplies
 * elementwise: 16 multiplies per channel pair instead of 36. Over channels
 * the elementwise product becomes 16 independent matrix products
 * M_e = V_e * U_e (V_e: tiles x cin, the transformed input; U_e: cin x cout,
 * the transformed weights, packed at load), which run on the same
 * micro-kernel as the direct convolution. The matrices are
 *   B' = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],
 *   G  = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
 *   A' = [1 1 1 0; 0 1 -1 -1].
 * The transforms run on 8-lane vectors over channels (cin and cout are
 * multiples of 8, see has_wino).
 */

/* Tiles per task: a multiple of both micro-kernels' rows (6 and 12), few
 * enough that a 35x35 layer makes 14 tasks to share between threads and the
 * scratch (16 x tiles x (cin + cout) floats) stays in L2; 24 and 48 measured
 * the same on one thread. */
#define GC_WT 24

/* Winograd pays once there are enough tiles to share each U_e's loads. */
#ifndef GC_WINO_MIN_PIXELS
#define GC_WINO_MIN_PIXELS 64
#endif
static int GC_FN(use_wino)(const fr__conv_args *a) {
  return GC_FN(has_wino)(a->kh, a->kw, a->cin, a->cout, a->stride) &&
         a->oh * a->ow >= GC_WINO_MIN_PIXELS;
}

static void GC_FN(wino_pack)(const float *hwio, int cin, int cout, float *dst) {
  int panels = (cout + GC_NR - 1) / GC_NR;
  size_t per = (size_t)cin * panels * GC_NR; /* one packed U_e */
  float u[16];
  for (int ci = 0; ci < cin; ci++)
    for (int co = 0; co < cout; co++) {
      float g[3][3], t[4][3];
      for (int y = 0; y < 3; y++)
        for (int x = 0; x < 3; x++) g[y][x] = hwio[((size_t)(y * 3 + x) * cin + ci) * cout + co];
      for (int x = 0; x < 3; x++) { /* t = G g */
        t[0][x] = g[0][x];
        t[1][x] = 0.5f * (g[0][x] + g[1][x] + g[2][x]);
        t[2][x] = 0.5f * (g[0][x] - g[1][x] + g[2][x]);
        t[3][x] = g[2][x];
      }
      for (int y = 0; y < 4; y++) { /* u = t G' */
        u[y * 4 + 0] = t[y][0];
        u[y * 4 + 1] = 0.5f * (t[y][0] + t[y][1] + t[y][2]);
        u[y * 4 + 2] = 0.5f * (t[y][0] - t[y][1] + t[y][2]);
        u[y * 4 + 3] = t[y][2];
      }
      int p = co / GC_NR, col = co % GC_NR;
      for (int e = 0; e < 16; e++)
        dst[(size_t)e * per + ((size_t)p * cin + ci) * GC_NR + col] = u[e];
    }
}

static int GC_FN(wino_tiles)(const fr__conv_args *a) {
  return a->n * ((a->oh + 1) / 2) * ((a->ow + 1) / 2);
}

static size_t GC_FN(wino_scratch)(const fr__conv_args *a) {
  return (size_t)16 * (GC_WT * (a->cin + a->cout) + 32) + a->cin;
}

/* Tasks: 1 (everything), one per block of tiles, or, when there are too few
 * blocks to share, blocks x groups of weight panels (each such task repeats
 * its block's input transform, which is cheap next to the products). */
static int GC_FN(wino_tasks)(const fr__conv_args *a, int nthreads) {
  int blocks = (GC_FN(wino_tiles)(a) + GC_WT - 1) / GC_WT;
  double macs = (double)a->n * a->oh * a->ow * a->cout * 9 * a->cin;
  if (nthreads <= 1 || macs < GC_MIN_PARALLEL_MACS) return 1;
  if (blocks >= 2 * nthreads) return blocks;
  int panels = (a->cout + GC_NR - 1) / GC_NR;
  int groups = (2 * nthreads + blocks - 1) / blocks;
  return blocks * (groups < panels ? groups : panels);
}

/* Tiles [t0, t1): V = B' d B into V[e][tile][cin], M_e = V_e U_e into
 * M[e][tile][cout], then Y = A' m A with bias, residual and activation. The
 * 16 matrices of V (and of M) are a few floats more than a multiple of 4 KB
 * apart, so that their rows do not all fall into the same cache sets. */
static void GC_FN(wino_block)(const fr__conv_args *a, int t0, int t1, int p0, int p1,
                              float *scratch) {
  int cin = a->cin, cout = a->cout, nt = t1 - t0;
  int tw = (a->ow + 1) / 2, th = (a->oh + 1) / 2;
  size_t vs = (size_t)GC_WT * cin + 16, ms = (size_t)GC_WT * cout + 16; /* per e */
  float *V = scratch, *M = scratch + 16 * vs, *zeros = M + 16 * ms;
  fr__act act = a->act;
  float alpha = a->alpha;
  memset(zeros, 0, (size_t)cin * sizeof(float));
  for (int t = t0; t < t1; t++) {
    int b = t / (th * tw), ty = t / tw % th, tx = t % tw;
    int iy0 = 2 * ty - a->pad_top, ix0 = 2 * tx - a->pad_left;
    const float *img = a->in + (size_t)b * a->ih * a->iw * cin;
    /* Each of the 16 input pixels, or a row of zeros outside the image. */
    const float *px[16];
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 4; j++) {
        int iy = iy0 + i, ix = ix0 + j;
        px[i * 4 + j] = iy >= 0 && iy < a->ih && ix >= 0 && ix < a->iw
                            ? img + ((size_t)iy * a->iw + ix) * cin
                            : zeros;
      }
    float *v = V + (size_t)(t - t0) * cin;
    for (int c = 0; c < cin; c += 8) {
      /* Columns first (d B) on each row, then rows (B' .). */
#define GC_WROW(i)                                                                               \
  __m256 d##i##0 = _mm256_loadu_ps(px[i * 4 + 0] + c), d##i##1 = _mm256_loadu_ps(px[i * 4 + 1] + c), \
         d##i##2 = _mm256_loadu_ps(px[i * 4 + 2] + c), d##i##3 = _mm256_loadu_ps(px[i * 4 + 3] + c); \
  __m256 x##i##0 = _mm256_sub_ps(d##i##0, d##i##2), x##i##1 = _mm256_add_ps(d##i##1, d##i##2),     \
         x##i##2 = _mm256_sub_ps(d##i##2, d##i##1), x##i##3 = _mm256_sub_ps(d##i##1, d##i##3)
      GC_WROW(0);
      GC_WROW(1);
      GC_WROW(2);
      GC_WROW(3);
#undef GC_WROW
#define GC_WCOL(j)                                                                               \
  _mm256_storeu_ps(v + (0 + j) * vs + c, _mm256_sub_ps(x0##j, x2##j));                            \
  _mm256_storeu_ps(v + (4 + j) * vs + c, _mm256_add_ps(x1##j, x2##j));                            \
  _mm256_storeu_ps(v + (8 + j) * vs + c, _mm256_sub_ps(x2##j, x1##j));                            \
  _mm256_storeu_ps(v + (12 + j) * vs + c, _mm256_sub_ps(x1##j, x3##j))
      GC_WCOL(0);
      GC_WCOL(1);
      GC_WCOL(2);
      GC_WCOL(3);
#undef GC_WCOL
    }
  }
  int panels = (cout + GC_NR - 1) / GC_NR;
  size_t per = (size_t)cin * panels * GC_NR;
  /* After the plain panels, or after a compressed layer's codes. */
  const float *U =
      a->wq ? (const float *)(const void *)((const uint8_t *)a->wq +
                                            GC_FN(u8_at)(3, 3, cin, cout, 1).wino)
            : a->w + (size_t)9 * cin * panels * GC_NR;
  for (int e = 0; e < 16; e++)
    for (int p = p0; p < p1; p++) {
      const float *Bp = U + (size_t)e * per + (size_t)p * cin * GC_NR;
      for (int m = 0; m < nt; m += GC_MR) {
        const float *A[GC_MR];
        float *C[GC_MR];
        for (int r = 0; r < GC_MR; r++) {
          int ok = m + r < nt;
          A[r] = V + (size_t)e * vs + (size_t)(ok ? m + r : m) * cin;
          C[r] = ok ? M + (size_t)e * ms + (size_t)(m + r) * cout + p * GC_NR : NULL;
        }
        GC_MICRO(A, 0, 1, cin, Bp, C, NULL, NULL, cout - p * GC_NR, FR__ACT_NONE, 0.f);
      }
    }
  for (int t = t0; t < t1; t++) {
    int b = t / (th * tw), ty = t / tw % th, tx = t % tw;
    int oy = 2 * ty, ox = 2 * tx;
    int hv = a->oh - oy < 2 ? 1 : 2, wv = a->ow - ox < 2 ? 1 : 2;
    const float *mt = M + (size_t)(t - t0) * cout;
    size_t at0 = (((size_t)b * a->oh + oy) * a->ow + ox) * cout;
    size_t at[4] = {at0, at0 + cout, at0 + (size_t)a->ow * cout, at0 + (size_t)a->ow * cout + cout};
    int c1 = p1 * GC_NR < cout ? p1 * GC_NR : cout;
    for (int c = p0 * GC_NR; c < c1; c += 8) {
      /* Rows first (A' m), then columns. */
#define GC_MCOL(j)                                                                               \
  __m256 m0##j = _mm256_loadu_ps(mt + (0 + j) * ms + c),                                          \
         m1##j = _mm256_loadu_ps(mt + (4 + j) * ms + c),                                          \
         m2##j = _mm256_loadu_ps(mt + (8 + j) * ms + c),                                          \
         m3##j = _mm256_loadu_ps(mt + (12 + j) * ms + c);                                         \
  __m256 s0##j = _mm256_add_ps(_mm256_add_ps(m0##j, m1##j), m2##j),                               \
         s1##j = _mm256_sub_ps(_mm256_sub_ps(m1##j, m2##j), m3##j)
      GC_MCOL(0);
      GC_MCOL(1);
      GC_MCOL(2);
      GC_MCOL(3);
#undef GC_MCOL
      __m256 bias = a->bias ? _mm256_loadu_ps(a->bias + c) : _mm256_setzero_ps();
      __m256 y[4];
      y[0] = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s00, s01), s02), bias);
      y[1] = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s01, s02), s03), bias);
      y[2] = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s10, s11), s12), bias);
      y[3] = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s11, s12), s13), bias);
      for (int q = 0; q < 4; q++) {
        if ((q >> 1) >= hv || (q & 1) >= wv) continue;
        __m256 o = y[q];
        if (a->residual) o = _mm256_add_ps(o, _mm256_loadu_ps(a->residual + at[q] + c));
        _mm256_storeu_ps(a->out + at[q] + c, GC_ACT8(o, act, alpha));
      }
    }
  }
}

static void GC_FN(wino_run)(const fr__conv_args *a, int task, int ntasks, float *scratch) {
  int tiles = GC_FN(wino_tiles)(a);
  int blocks = (tiles + GC_WT - 1) / GC_WT;
  int panels = (a->cout + GC_NR - 1) / GC_NR;
  if (ntasks <= blocks) {
    int b0 = (int)((long)blocks * task / ntasks), b1 = (int)((long)blocks * (task + 1) / ntasks);
    for (int bl = b0; bl < b1; bl++) {
      int t0 = bl * GC_WT, t1 = t0 + GC_WT < tiles ? t0 + GC_WT : tiles;
      GC_FN(wino_block)(a, t0, t1, 0, panels, scratch);
    }
    return;
  }
  int groups = ntasks / blocks;
  int bl = task / groups, grp = task % groups;
  if (bl >= blocks) return;
  int t0 = bl * GC_WT, t1 = t0 + GC_WT < tiles ? t0 + GC_WT : tiles;
  GC_FN(wino_block)(a, t0, t1, (int)((long)panels * grp / groups),
                    (int)((long)panels * (grp + 1) / groups), scratch);
}
