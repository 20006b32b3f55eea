/*
 * int8.c (scalar) - the reference integer convolution that the SIMD int8
 * kernels must match exactly (see src/nn/quant.h for the data layout).
 */
#include "nn/quant.h"

void fr__qconv_rows_scalar(const fr__qconv_args *a, int b, int y0, int y1) {
  const int nk4 = a->kh * a->kw * a->cinp / 4, rowk = a->kw * a->cinp;
  const size_t blk_bytes = (size_t)nk4 * FR__Q_NR * 4;
  for (int oy = y0; oy < y1; oy++)
    for (int ox = 0; ox < a->ow; ox++) {
      const uint8_t *base =
          a->in + (((size_t)b * a->ph + (size_t)oy * a->stride) * a->pw + (size_t)ox * a->stride) *
                      a->cinp;
      size_t o = (((size_t)b * a->oh + oy) * a->ow + ox) * a->cout;
      for (int c = 0; c < a->cout; c++) {
        const int8_t *w = a->w + (size_t)(c / FR__Q_NR) * blk_bytes + (size_t)(c % FR__Q_NR) * 4;
        int32_t acc = 0;
        int k4 = 0;
        for (int r = 0; r < a->kh; r++) {
          const uint8_t *p = base + (size_t)r * a->pw * a->cinp;
          for (int k = 0; k < rowk; k += 4, k4++) {
            const int8_t *wk = w + (size_t)k4 * FR__Q_NR * 4;
            acc += (int32_t)p[k] * wk[0] + (int32_t)p[k + 1] * wk[1] + (int32_t)p[k + 2] * wk[2] +
                   (int32_t)p[k + 3] * wk[3];
          }
        }
        float v = (float)(acc - a->corr[c]) * a->scale[c];
        v = v + a->bias[c];
        if (a->residual) v = v + a->residual[o + c];
        a->out[o + c] = fr__apply_act(v, a->act, a->alpha);
      }
    }
}
