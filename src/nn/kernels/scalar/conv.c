/*
 * conv.c - the scalar reference kernels. Plain loops in the most obvious order:
 * every fast kernel set is tested against these, so clarity beats speed here.
 */
#include "nn/nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float *pack_identity(const float *hwio, int kh, int kw, int cin, int cout, int stride) {
  (void)stride;
  size_t n = (size_t)kh * kw * cin * cout;
  float *w = fr__aligned_alloc(n * sizeof(float));
  if (w) memcpy(w, hwio, n * sizeof(float));
  return w;
}

void fr__dequant_u8(float *dst, const uint8_t *codes, size_t n, int cout, const float *affine) {
  /* One fused multiply-add per weight: the SIMD sets dequantise with their
   * FMA instructions, which round once, and fmaf is that same operation. */
  const float *scale = affine, *offset = affine + cout, *zero = affine + 2 * (size_t)cout;
  for (size_t i = 0; i < n; i++) {
    size_t co = i % (size_t)cout;
    dst[i] = fmaf((float)codes[i] - zero[co], scale[co], offset[co]);
  }
}

/* Compressed weights stay in HWIO order: the codes, then (from byte
 * fr__u8_affine_at(codes)) the 3 * cout floats of the affine map. */
static void *pack_u8(const uint8_t *hwio, const float *affine, int kh, int kw, int cin, int cout,
                     int stride) {
  (void)stride;
  size_t n = (size_t)kh * kw * cin * cout, at = fr__u8_affine_at(n);
  uint8_t *blk = fr__aligned_alloc(at + 3 * (size_t)cout * sizeof(float));
  if (!blk) return NULL;
  memcpy(blk, hwio, n);
  memset(blk + n, 0, at - n);
  memcpy(blk + at, affine, 3 * (size_t)cout * sizeof(float));
  return blk;
}

/* A compressed layer needs one dequantised row of weights (cout floats) at
 * a time: see conv_run_u8. */
static size_t conv_scratch(const fr__conv_args *a) { return a->wq ? (size_t)a->cout : 0; }

/* Tasks are ranges of output rows over all batch items. */
static int row_tasks(const fr__conv_args *a, int nthreads) {
  int rows = a->n * a->oh;
  int t = nthreads * 4;
  return t < rows ? t : rows;
}

/* Output rows [r0, r1) of a compressed layer: the loop of conv_run with the
 * weight rows outermost, so that each row of cout weights is dequantised
 * once (into the scratch) rather than once per pixel, and no copy of all the
 * weights is needed (a file's codes could otherwise make four times their
 * size in scratch). Every output still adds the same products in the same
 * order as conv_run, so the result is bit for bit that of conv_run on the
 * dequantised weights. */
static void conv_run_u8(const fr__conv_args *a, int r0, int r1, float *wrow) {
  size_t k = (size_t)a->kh * a->kw * a->cin;
  const uint8_t *codes = a->wq;
  const float *aff = (const float *)(const void *)(codes + fr__u8_affine_at(k * a->cout));
  for (int r = r0; r < r1; r++)
    for (int ox = 0; ox < a->ow; ox++) {
      float *o = a->out + ((size_t)r * a->ow + ox) * a->cout;
      for (int co = 0; co < a->cout; co++) o[co] = a->bias ? a->bias[co] : 0.f;
    }
  for (int ky = 0; ky < a->kh; ky++)
    for (int kx = 0; kx < a->kw; kx++)
      for (int ci = 0; ci < a->cin; ci++) {
        size_t row = ((size_t)ky * a->kw + kx) * a->cin + ci;
        fr__dequant_u8(wrow, codes + row * a->cout, (size_t)a->cout, a->cout, aff);
        for (int r = r0; r < r1; r++) {
          int b = r / a->oh, oy = r % a->oh;
          int iy = oy * a->stride - a->pad_top + ky;
          if (iy < 0 || iy >= a->ih) continue;
          for (int ox = 0; ox < a->ow; ox++) {
            int ix = ox * a->stride - a->pad_left + kx;
            if (ix < 0 || ix >= a->iw) continue;
            float v = a->in[(((size_t)b * a->ih + iy) * a->iw + ix) * a->cin + ci];
            float *o = a->out + ((size_t)r * a->ow + ox) * a->cout;
            for (int co = 0; co < a->cout; co++) o[co] += v * wrow[co];
          }
        }
      }
  for (int r = r0; r < r1; r++)
    for (int ox = 0; ox < a->ow; ox++) {
      size_t opix = (size_t)r * a->ow + ox;
      float *o = a->out + opix * a->cout;
      const float *res = a->residual ? a->residual + opix * a->cout : NULL;
      for (int co = 0; co < a->cout; co++)
        o[co] = fr__apply_act(o[co] + (res ? res[co] : 0.f), a->act, a->alpha);
    }
}

static void conv_run(const fr__conv_args *a, int task, int ntasks, float *scratch) {
  int rows = a->n * a->oh;
  int r0 = (int)((long)rows * task / ntasks), r1 = (int)((long)rows * (task + 1) / ntasks);
  if (a->wq) {
    conv_run_u8(a, r0, r1, scratch);
    return;
  }
  for (int r = r0; r < r1; r++) {
    int b = r / a->oh, oy = r % a->oh;
    for (int ox = 0; ox < a->ow; ox++) {
      size_t opix = ((size_t)b * a->oh + oy) * a->ow + ox;
      float *o = a->out + opix * a->cout;
      for (int co = 0; co < a->cout; co++) o[co] = a->bias ? a->bias[co] : 0.f;
      for (int ky = 0; ky < a->kh; ky++) {
        int iy = oy * a->stride - a->pad_top + ky;
        if (iy < 0 || iy >= a->ih) continue;
        for (int kx = 0; kx < a->kw; kx++) {
          int ix = ox * a->stride - a->pad_left + kx;
          if (ix < 0 || ix >= a->iw) continue;
          const float *in = a->in + (((size_t)b * a->ih + iy) * a->iw + ix) * a->cin;
          const float *w = a->w + ((size_t)ky * a->kw + kx) * a->cin * a->cout;
          for (int ci = 0; ci < a->cin; ci++) {
            float v = in[ci];
            const float *wr = w + (size_t)ci * a->cout;
            for (int co = 0; co < a->cout; co++) o[co] += v * wr[co];
          }
        }
      }
      const float *res = a->residual ? a->residual + opix * a->cout : NULL;
      for (int co = 0; co < a->cout; co++)
        o[co] = fr__apply_act(o[co] + (res ? res[co] : 0.f), a->act, a->alpha);
    }
  }
}

static void dw_run(const fr__conv_args *a, int task, int ntasks) {
  int rows = a->n * a->oh;
  int r0 = (int)((long)rows * task / ntasks), r1 = (int)((long)rows * (task + 1) / ntasks);
  int c = a->cout;
  for (int r = r0; r < r1; r++) {
    int b = r / a->oh, oy = r % a->oh;
    for (int ox = 0; ox < a->ow; ox++) {
      float *o = a->out + (((size_t)b * a->oh + oy) * a->ow + ox) * c;
      for (int ch = 0; ch < c; ch++) o[ch] = a->bias ? a->bias[ch] : 0.f;
      for (int ky = 0; ky < a->kh; ky++) {
        int iy = oy * a->stride - a->pad_top + ky;
        if (iy < 0 || iy >= a->ih) continue;
        for (int kx = 0; kx < a->kw; kx++) {
          int ix = ox * a->stride - a->pad_left + kx;
          if (ix < 0 || ix >= a->iw) continue;
          const float *in = a->in + (((size_t)b * a->ih + iy) * a->iw + ix) * c;
          const float *w = a->w + ((size_t)ky * a->kw + kx) * c;
          for (int ch = 0; ch < c; ch++) o[ch] += in[ch] * w[ch];
        }
      }
      for (int ch = 0; ch < c; ch++) o[ch] = fr__apply_act(o[ch], a->act, a->alpha);
    }
  }
}

static void pool_run(const fr__conv_args *a, int is_max, int task, int ntasks) {
  int rows = a->n * a->oh;
  int r0 = (int)((long)rows * task / ntasks), r1 = (int)((long)rows * (task + 1) / ntasks);
  int c = a->cout;
  for (int r = r0; r < r1; r++) {
    int b = r / a->oh, oy = r % a->oh;
    for (int ox = 0; ox < a->ow; ox++) {
      float *o = a->out + (((size_t)b * a->oh + oy) * a->ow + ox) * c;
      int cnt = 0;
      for (int ch = 0; ch < c; ch++) o[ch] = is_max ? -INFINITY : 0.f;
      for (int ky = 0; ky < a->kh; ky++) {
        int iy = oy * a->stride - a->pad_top + ky;
        if (iy < 0 || iy >= a->ih) continue;
        for (int kx = 0; kx < a->kw; kx++) {
          int ix = ox * a->stride - a->pad_left + kx;
          if (ix < 0 || ix >= a->iw) continue;
          const float *in = a->in + (((size_t)b * a->ih + iy) * a->iw + ix) * c;
          cnt++;
          for (int ch = 0; ch < c; ch++) {
            if (is_max)
              o[ch] = in[ch] > o[ch] ? in[ch] : o[ch];
            else
              o[ch] += in[ch];
          }
        }
      }
      if (!is_max && cnt > 0)
        for (int ch = 0; ch < c; ch++) o[ch] /= (float)cnt;
    }
  }
}

static void act_run(float *y, const float *x, size_t n, fr__act act, float alpha) {
  for (size_t i = 0; i < n; i++) y[i] = fr__apply_act(x[i], act, alpha);
}

const fr__kernels fr__kernels_scalar = {
    .name = "scalar",
    .int8_max = FR__INT8_SCALAR,
    .pack_conv = pack_identity,
    .pack_conv_u8 = pack_u8,
    .conv_scratch = conv_scratch,
    .conv_tasks = row_tasks,
    .conv_run = conv_run,
    .dw_tasks = row_tasks,
    .dw_run = dw_run,
    .pool_run = pool_run,
    .act_run = act_run,
};
