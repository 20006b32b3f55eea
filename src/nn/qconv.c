/*
 * qconv.c - int8 convolution nodes: weight quantisation, input
 * quantisation, and the choice of integer kernel, which follows the graph's
 * kernel set (fr__int8_level_for in src/nn/kernels/select.c). See quant.h;
 * the calibration that finds activation ranges is in calibrate.c.
 */
#include "nn/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct fr__qconv {
  int kh, kw, cin, cinp, cout, coutp;
  float in_scale; /* input float per quantisation step */
  float in_inv;   /* 1 / in_scale */
  int zero;       /* the u8 level that stands for 0.0 */
  int top;        /* the highest level: 255, or 127 for the plain AVX2 kernel */
  fr__int8_level level;
  int8_t *w;      /* packed, see fr__qconv_args */
  int32_t *corr;
  float *scale, *bias;
  fr__qconv_rows_fn rows;
  fr__quantize_fn quantize;
};

void fr__qconv_destroy(fr__qconv *q) {
  if (!q) return;
  fr__aligned_free(q->w);
  fr__free(q->corr);
  fr__free(q->scale);
  fr__free(q->bias);
  fr__free(q);
}

fr__qconv *fr__qconv_create(fr__int8_level max, const float *w_hwio, const float *bias, int kh,
                            int kw, int cin, int cout, float lo, float hi) {
  if (!w_hwio || kh <= 0 || kw <= 0 || cin <= 0 || cout <= 0 || !(hi >= lo) || !isfinite(lo) ||
      !isfinite(hi))
    return NULL;
  fr__qconv *q = fr__calloc(1, sizeof *q);
  if (!q) return NULL;
  q->kh = kh;
  q->kw = kw;
  q->cin = cin;
  q->cinp = (cin + 3) & ~3;
  q->cout = cout;
  q->coutp = (cout + FR__Q_NR - 1) / FR__Q_NR * FR__Q_NR;
  /* The range must hold 0 exactly (zero padding and ReLU zeros are common
   * values), and must not be empty. */
  if (lo > 0.f) lo = 0.f;
  if (hi < 0.f) hi = 0.f;
  if (hi - lo < 1e-6f) hi = lo + 1e-6f;
  /* The plain AVX2 kernel adds pairs of vpmaddubsw results in int16, which
   * needs activations <= 127 (quant.h); the others take all 256 levels. */
  q->level = fr__int8_level_for(max, fr__cpu());
  q->rows = fr__qconv_rows_of(q->level);
  q->top = fr__int8_top(q->level);
  q->in_scale = (hi - lo) / (float)q->top;
  q->in_inv = 1.f / q->in_scale;
  long z = lrintf(-lo / q->in_scale);
  q->zero = (int)(z < 0 ? 0 : z > q->top ? q->top : z);
  size_t k = (size_t)kh * kw * q->cinp;
  q->w = fr__aligned_calloc((size_t)q->coutp * k);
  q->corr = fr__calloc((size_t)cout, sizeof *q->corr);
  q->scale = fr__calloc((size_t)cout, sizeof *q->scale);
  q->bias = fr__calloc((size_t)cout, sizeof *q->bias);
  if (!q->w || !q->corr || !q->scale || !q->bias) {
    fr__qconv_destroy(q);
    return NULL;
  }
  /* Two passes over the weights in memory order ([tap][ci][c]): the
   * largest |w| of each output channel, then the quantised values. */
  size_t taps = (size_t)kh * kw, rows = taps * (size_t)cin;
  float *ws = fr__calloc((size_t)cout, sizeof *ws);
  if (!ws) {
    fr__qconv_destroy(q);
    return NULL;
  }
  for (size_t r = 0; r < rows; r++)
    for (int c = 0; c < cout; c++) {
      float v = fabsf(w_hwio[r * (size_t)cout + (size_t)c]);
      if (v > ws[c]) ws[c] = v;
    }
  for (int c = 0; c < cout; c++) {
    ws[c] = ws[c] > 0.f ? ws[c] / FR__QW_MAX : 1.f;
    q->scale[c] = q->in_scale * ws[c];
    q->bias[c] = bias ? bias[c] : 0.f;
  }
  /* Round to nearest even without a libm call per weight: adding and taking
   * away 1.5 * 2^23 leaves a float with no fraction bits, rounded as lrintf
   * rounds, for the |f| <= 63 here (volatile keeps the step from being
   * folded away under -ffast-math). */
  volatile float big_v = 12582912.f;
  const float big = big_v;
  for (size_t t = 0; t < taps; t++)
    for (int ci = 0; ci < cin; ci++) {
      const float *src = w_hwio + (t * (size_t)cin + (size_t)ci) * (size_t)cout;
      size_t kk = t * (size_t)q->cinp + (size_t)ci; /* index along K */
      int8_t *dst = q->w + (kk / 4) * (FR__Q_NR * 4) + kk % 4;
      for (int c = 0; c < cout; c++) {
        float f = src[c] / ws[c];
        int v = (int)((f + big) - big);
        if (v > FR__QW_MAX) v = FR__QW_MAX;
        if (v < -FR__QW_MAX) v = -FR__QW_MAX;
        dst[(size_t)(c / FR__Q_NR) * k * FR__Q_NR + (size_t)(c % FR__Q_NR) * 4] = (int8_t)v;
        q->corr[c] += (int32_t)v; /* the sum of the channel's weights, for now */
      }
    }
  for (int c = 0; c < cout; c++) q->corr[c] *= q->zero;
  fr__free(ws);
  /* Every level above the scalar one runs on an AVX2 CPU (select.c). */
  q->quantize = fr__quantize_u8_scalar;
#if defined(__x86_64__) || defined(__i386__)
  if (q->level != FR__INT8_SCALAR) q->quantize = fr__quantize_u8_avx2;
#endif
  return q;
}

fr__int8_level fr__qconv_level(const fr__qconv *q) { return q->level; }

/* Rows of the padded input that the windows read, and its width. */
static void padded_size(const fr__qconv *q, const fr__conv_args *a, int *ph, int *pw) {
  *ph = (a->oh - 1) * a->stride + q->kh;
  *pw = (a->ow - 1) * a->stride + q->kw;
}

size_t fr__qconv_buffer_bytes(const fr__qconv *q, const fr__conv_args *a) {
  int ph, pw;
  padded_size(q, a, &ph, &pw);
  /* The kernels read whole 4-byte groups inside each window only; the 64
   * spare bytes are a margin, not a need. */
  return (size_t)a->n * ph * pw * q->cinp + 64;
}

typedef struct qjob {
  fr__qconv_args qa;
  fr__qconv_rows_fn rows;
  int chunks; /* row chunks per batch item */
} qjob;

static void qconv_task(void *arg, int task, int thread) {
  (void)thread;
  const qjob *j = arg;
  int b = task / j->chunks, c = task % j->chunks;
  int oh = j->qa.oh;
  int y0 = (int)((long)oh * c / j->chunks), y1 = (int)((long)oh * (c + 1) / j->chunks);
  if (y1 > y0) j->rows(&j->qa, b, y0, y1);
}

void fr__qconv_run(const fr__qconv *q, const fr__conv_args *a, void *buffer, fr_pool *pool,
                   int nthreads) {
  int ph, pw;
  padded_size(q, a, &ph, &pw);
  uint8_t *buf = buffer;
  const int cinp = q->cinp, cin = a->cin;
  const float inv = q->in_inv, zf = (float)q->zero + 0.5f;
  const uint8_t zero = (uint8_t)q->zero;
  /* Quantise the input into the padded buffer: outside the image the value
   * is the zero point (float 0), and channels past cin are 0 (their weights
   * are 0 too). Rounding is x / scale + zero, to nearest (half up). */
  for (int b = 0; b < a->n; b++)
    for (int y = 0; y < ph; y++) {
      uint8_t *row = buf + (((size_t)b * ph + y) * pw) * cinp;
      int iy = y - a->pad_top;
      if (iy < 0 || iy >= a->ih) {
        for (int x = 0; x < pw; x++) {
          memset(row + (size_t)x * cinp, zero, (size_t)cin);
          memset(row + (size_t)x * cinp + cin, 0, (size_t)(cinp - cin));
        }
        continue;
      }
      const float *src = a->in + (((size_t)b * a->ih + iy) * a->iw) * cin;
      for (int x = 0; x < pw; x++) {
        uint8_t *d = row + (size_t)x * cinp;
        int ix = x - a->pad_left;
        if (ix < 0 || ix >= a->iw) {
          memset(d, zero, (size_t)cin);
        } else {
          q->quantize(src + (size_t)ix * cin, d, cin, inv, zf, (float)q->top);
        }
        for (int c = cin; c < cinp; c++) d[c] = 0;
      }
    }
  qjob j;
  memset(&j, 0, sizeof j);
  j.qa.in = buf;
  j.qa.ph = ph;
  j.qa.pw = pw;
  j.qa.cinp = cinp;
  j.qa.oh = a->oh;
  j.qa.ow = a->ow;
  j.qa.cout = q->cout;
  j.qa.stride = a->stride;
  j.qa.kh = q->kh;
  j.qa.kw = q->kw;
  j.qa.w = q->w;
  j.qa.corr = q->corr;
  j.qa.scale = q->scale;
  j.qa.bias = q->bias;
  j.qa.out = a->out;
  j.qa.residual = a->residual;
  j.qa.act = a->act;
  j.qa.alpha = a->alpha;
  j.rows = q->rows;
  if (nthreads < 1) nthreads = 1;
  j.chunks = nthreads > 1 ? (a->oh < 4 * nthreads ? a->oh : 4 * nthreads) : 1;
  fr__pool_run(nthreads > 1 ? pool : NULL, a->n * j.chunks, qconv_task, &j);
}

/* ---- kernel choice ------------------------------------------------------ */

void fr__quantize_u8_scalar(const float *src, uint8_t *dst, int n, float inv, float zf,
                            float top) {
  for (int i = 0; i < n; i++) {
    float v = src[i] * inv + zf;
    v = v < 0.f ? 0.f : (v > top ? top : v);
    dst[i] = (uint8_t)v;
  }
}

int fr__int8_top(fr__int8_level level) { return level == FR__INT8_AVX2 ? 127 : 255; }

fr__qconv_rows_fn fr__qconv_rows_of(fr__int8_level level) {
  switch (level) {
#ifdef FR__HAVE_AVX512_KERNELS
    case FR__INT8_AVX512VNNI:
      return fr__qconv_rows_avx512vnni;
#endif
#ifdef FR__HAVE_AVXVNNI_KERNEL
    case FR__INT8_AVXVNNI:
      return fr__qconv_rows_vnni;
#endif
#if defined(__x86_64__) || defined(__i386__)
    case FR__INT8_AVX2:
      return fr__qconv_rows_avx2;
#endif
    default:
      /* A level this build lacks is never chosen by fr__int8_level_for. */
      return fr__qconv_rows_scalar;
  }
}
