/*
 * ops.c - scalar loops of the general tensor ops that imported graphs need
 * (elementwise arithmetic with broadcasting, PReLU, softmax, reductions,
 * concatenation, bilinear resizing, padding). graph.c plans and calls them;
 * tests/test_ops.c checks them against naive references.
 */
#include "nn/nn.h"

#include <math.h>
#include <string.h>

static float bin1(fr__binop op, float a, float b) {
  switch (op) {
  case FR__BIN_ADD: return a + b;
  case FR__BIN_SUB: return a - b;
  case FR__BIN_MUL: return a * b;
  case FR__BIN_DIV: return a / b;
  case FR__BIN_MAX: return a > b ? a : b;
  default: return a < b ? a : b;
  }
}

/* y[e] = a[e] op b[e] over a row, where a step of 0 repeats one value. Each
 * common case gets its own loop so that the compiler vectorises it. */
static void bin_row(fr__binop op, const float *a, int sa, const float *b, int sb, float *y,
                    int n) {
  if (sa && sb) {
    switch (op) {
    case FR__BIN_ADD:
      for (int e = 0; e < n; e++) y[e] = a[e] + b[e];
      return;
    case FR__BIN_SUB:
      for (int e = 0; e < n; e++) y[e] = a[e] - b[e];
      return;
    case FR__BIN_MUL:
      for (int e = 0; e < n; e++) y[e] = a[e] * b[e];
      return;
    default: break;
    }
  }
  for (int e = 0; e < n; e++) y[e] = bin1(op, a[(size_t)e * sa], b[(size_t)e * sb]);
}

void fr__op_binary(fr__binop op, const float *a, const int as[4], const float *b, const int bs[4],
                   float *y, const int ys[4]) {
  /* Element strides of each operand per output axis; 0 where it broadcasts. */
  size_t sa[4], sb[4];
  size_t ta = 1, tb = 1;
  for (int d = 3; d >= 0; d--) {
    sa[d] = as[d] == 1 ? 0 : ta;
    sb[d] = bs[d] == 1 ? 0 : tb;
    ta *= (size_t)as[d];
    tb *= (size_t)bs[d];
  }
  int c = ys[3];
  for (int n = 0; n < ys[0]; n++)
    for (int h = 0; h < ys[1]; h++)
      for (int w = 0; w < ys[2]; w++) {
        const float *pa = a + n * sa[0] + h * sa[1] + w * sa[2];
        const float *pb = b + n * sb[0] + h * sb[1] + w * sb[2];
        float *py = y + (((size_t)n * ys[1] + h) * ys[2] + w) * c;
        bin_row(op, pa, (int)sa[3], pb, (int)sb[3], py, c);
      }
}

void fr__op_unary(fr__unop op, const float *x, float *y, size_t n, float a, float b) {
  switch (op) {
  case FR__UN_NEG:
    for (size_t e = 0; e < n; e++) y[e] = -x[e];
    break;
  case FR__UN_ABS:
    for (size_t e = 0; e < n; e++) y[e] = fabsf(x[e]);
    break;
  case FR__UN_EXP:
    for (size_t e = 0; e < n; e++) y[e] = expf(x[e]);
    break;
  case FR__UN_RELU:
    for (size_t e = 0; e < n; e++) y[e] = x[e] > 0.f ? x[e] : 0.f;
    break;
  case FR__UN_RELU6:
    for (size_t e = 0; e < n; e++) y[e] = x[e] < 0.f ? 0.f : (x[e] > 6.f ? 6.f : x[e]);
    break;
  case FR__UN_RELU1:
    for (size_t e = 0; e < n; e++) y[e] = x[e] < -1.f ? -1.f : (x[e] > 1.f ? 1.f : x[e]);
    break;
  case FR__UN_TANH:
    for (size_t e = 0; e < n; e++) y[e] = tanhf(x[e]);
    break;
  case FR__UN_SIGMOID:
    for (size_t e = 0; e < n; e++) y[e] = 1.f / (1.f + expf(-x[e]));
    break;
  case FR__UN_SQRT:
    for (size_t e = 0; e < n; e++) y[e] = sqrtf(x[e]);
    break;
  case FR__UN_ERF:
    for (size_t e = 0; e < n; e++) y[e] = erff(x[e]);
    break;
  case FR__UN_HARDSWISH:
    for (size_t e = 0; e < n; e++) {
      float t = x[e] / 6.f + 0.5f;
      y[e] = x[e] * (t < 0.f ? 0.f : (t > 1.f ? 1.f : t));
    }
    break;
  case FR__UN_CLIP:
    for (size_t e = 0; e < n; e++) y[e] = x[e] < a ? a : (x[e] > b ? b : x[e]);
    break;
  case FR__UN_HARDSIGMOID:
    for (size_t e = 0; e < n; e++) {
      float t = a * x[e] + b;
      y[e] = t < 0.f ? 0.f : (t > 1.f ? 1.f : t);
    }
    break;
  case FR__UN_POW:
    /* The two exponents networks use get exact loops (powf(x, 2) is exact
     * too, but ten times slower). */
    if (a == 2.f)
      for (size_t e = 0; e < n; e++) y[e] = x[e] * x[e];
    else if (a == 0.5f)
      for (size_t e = 0; e < n; e++) y[e] = sqrtf(x[e]);
    else
      for (size_t e = 0; e < n; e++) y[e] = powf(x[e], a);
    break;
  }
}

void fr__op_transpose(const float *x, const int xs[4], const int perm[4], float *y) {
  /* Input strides, then the stride of each output axis in the input. */
  size_t st[4], t = 1;
  for (int d = 3; d >= 0; d--) st[d] = t, t *= (size_t)xs[d];
  size_t s0 = st[perm[0]], s1 = st[perm[1]], s2 = st[perm[2]], s3 = st[perm[3]];
  int y0 = xs[perm[0]], y1 = xs[perm[1]], y2 = xs[perm[2]], y3 = xs[perm[3]];
  for (int i0 = 0; i0 < y0; i0++)
    for (int i1 = 0; i1 < y1; i1++)
      for (int i2 = 0; i2 < y2; i2++) {
        const float *src = x + i0 * s0 + i1 * s1 + i2 * s2;
        if (s3 == 1) {
          memcpy(y, src, (size_t)y3 * sizeof(float));
          y += y3;
        } else {
          for (int i3 = 0; i3 < y3; i3++) *y++ = src[i3 * s3];
        }
      }
}

void fr__op_slice(const float *x, const int xs[4], int axis, int start, int len, int step,
                  float *y) {
  size_t outer = 1, inner = 1;
  for (int d = 0; d < axis; d++) outer *= (size_t)xs[d];
  for (int d = axis + 1; d < 4; d++) inner *= (size_t)xs[d];
  for (size_t o = 0; o < outer; o++) {
    const float *in = x + o * (size_t)xs[axis] * inner;
    if (inner == 1 && step == 1) {
      memcpy(y, in + start, (size_t)len * sizeof(float));
      y += len;
      continue;
    }
    for (int k = 0; k < len; k++) {
      memcpy(y, in + (size_t)(start + k * step) * inner, inner * sizeof(float));
      y += inner;
    }
  }
}

/* Source index of output index o for nearest resizing, ONNX's rules. */
static int nearest_src(int o, int in, int out, int flags) {
  double s;
  if ((flags & FR__RESIZE_ALIGN_CORNERS) && out > 1)
    s = (double)o * (in - 1) / (out - 1);
  else if (flags & FR__RESIZE_HALF_PIXEL)
    s = ((double)o + 0.5) * in / out - 0.5;
  else
    s = (double)o * in / out;
  double f = floor(s);
  int i;
  switch (flags & (3 << 3)) {
  case FR__RESIZE_FLOOR: i = (int)f; break;
  case FR__RESIZE_CEIL: i = (int)ceil(s); break;
  case FR__RESIZE_ROUND_PREFER_CEIL: i = (int)(s - f >= 0.5 ? f + 1 : f); break;
  default: i = (int)(s - f > 0.5 ? f + 1 : f); break;
  }
  return i < 0 ? 0 : (i > in - 1 ? in - 1 : i);
}

void fr__op_resize_nearest(const float *x, const int xs[4], float *y, const int ys[4], int flags) {
  int c = xs[3];
  for (int n = 0; n < ys[0]; n++)
    for (int oy = 0; oy < ys[1]; oy++) {
      int sy = nearest_src(oy, xs[1], ys[1], flags);
      for (int ox = 0; ox < ys[2]; ox++) {
        int sx = nearest_src(ox, xs[2], ys[2], flags);
        memcpy(y + (((size_t)n * ys[1] + oy) * ys[2] + ox) * c,
               x + (((size_t)n * xs[1] + sy) * xs[2] + sx) * c, (size_t)c * sizeof(float));
      }
    }
}

void fr__op_conv_general(const float *x, const int xs[4], const float *w, const float *bias,
                         const fr__conv_general *cg, float *y, const int ys[4]) {
  int cin = xs[3], cout = ys[3], g = cg->groups;
  int cig = cin / g, cog = cout / g;
  size_t ycount = (size_t)ys[0] * ys[1] * ys[2] * cout;
  for (size_t e = 0; e < ycount; e++) y[e] = bias ? bias[e % (size_t)cout] : 0.f;
  if (!cg->transposed) {
    for (int n = 0; n < ys[0]; n++)
      for (int oy = 0; oy < ys[1]; oy++)
        for (int ox = 0; ox < ys[2]; ox++) {
          float *o = y + (((size_t)n * ys[1] + oy) * ys[2] + ox) * cout;
          for (int ky = 0; ky < cg->kh; ky++) {
            int iy = oy * cg->stride[0] - cg->pads[0] + ky * cg->dilation[0];
            if (iy < 0 || iy >= xs[1]) continue;
            for (int kx = 0; kx < cg->kw; kx++) {
              int ix = ox * cg->stride[1] - cg->pads[2] + kx * cg->dilation[1];
              if (ix < 0 || ix >= xs[2]) continue;
              const float *in = x + (((size_t)n * xs[1] + iy) * xs[2] + ix) * cin;
              const float *wk = w + ((size_t)ky * cg->kw + kx) * cig * cout;
              for (int co = 0; co < cout; co++) {
                const float *ig = in + (size_t)(co / cog) * cig;
                float acc = 0.f;
                for (int ci = 0; ci < cig; ci++) acc += ig[ci] * wk[(size_t)ci * cout + co];
                o[co] += acc;
              }
            }
          }
        }
    return;
  }
  /* Transposed: every input pixel scatters into the outputs its window
   * covers, output = input * stride - pad + tap * dilation. */
  for (int n = 0; n < xs[0]; n++)
    for (int iy = 0; iy < xs[1]; iy++)
      for (int ix = 0; ix < xs[2]; ix++) {
        const float *in = x + (((size_t)n * xs[1] + iy) * xs[2] + ix) * cin;
        for (int ky = 0; ky < cg->kh; ky++) {
          int oy = iy * cg->stride[0] - cg->pads[0] + ky * cg->dilation[0];
          if (oy < 0 || oy >= ys[1]) continue;
          for (int kx = 0; kx < cg->kw; kx++) {
            int ox = ix * cg->stride[1] - cg->pads[2] + kx * cg->dilation[1];
            if (ox < 0 || ox >= ys[2]) continue;
            float *o = y + (((size_t)n * ys[1] + oy) * ys[2] + ox) * cout;
            const float *wk = w + ((size_t)ky * cg->kw + kx) * cin * cog;
            for (int ci = 0; ci < cin; ci++) {
              float v = in[ci];
              const float *wr = wk + (size_t)ci * cog;
              float *og = o + (size_t)(ci / cig) * cog;
              for (int co = 0; co < cog; co++) og[co] += v * wr[co];
            }
          }
        }
      }
}

void fr__op_prelu(const float *x, float *y, size_t pixels, int c, const float *alpha) {
  for (size_t p = 0; p < pixels; p++) {
    const float *in = x + p * (size_t)c;
    float *o = y + p * (size_t)c;
    for (int k = 0; k < c; k++) o[k] = in[k] < 0.f ? alpha[k] * in[k] : in[k];
  }
}

void fr__op_softmax(const float *x, float *y, size_t pixels, int c, float beta) {
  for (size_t p = 0; p < pixels; p++) {
    const float *in = x + p * (size_t)c;
    float *o = y + p * (size_t)c;
    /* Subtracting the maximum keeps expf in range; the result is the same. */
    float m = in[0];
    for (int k = 1; k < c; k++) m = in[k] > m ? in[k] : m;
    float sum = 0.f;
    for (int k = 0; k < c; k++) {
      o[k] = expf(beta * (in[k] - m));
      sum += o[k];
    }
    float inv = 1.f / sum;
    for (int k = 0; k < c; k++) o[k] *= inv;
  }
}

void fr__op_reduce(const float *x, const int xs[4], int axis, int is_max, float *y) {
  /* The tensor as [outer, len, inner] around the reduced axis. */
  size_t outer = 1, inner = 1;
  for (int d = 0; d < axis; d++) outer *= (size_t)xs[d];
  for (int d = axis + 1; d < 4; d++) inner *= (size_t)xs[d];
  size_t len = (size_t)xs[axis];
  for (size_t o = 0; o < outer; o++) {
    float *out = y + o * inner;
    const float *in = x + o * len * inner;
    memcpy(out, in, inner * sizeof(float));
    for (size_t k = 1; k < len; k++) {
      const float *row = in + k * inner;
      if (is_max)
        for (size_t e = 0; e < inner; e++) out[e] = row[e] > out[e] ? row[e] : out[e];
      else
        for (size_t e = 0; e < inner; e++) out[e] += row[e];
    }
  }
}

void fr__op_concat(const float *const *xs, const int (*shapes)[4], int n, int axis, float *y) {
  /* Each input is [outer, len_i * inner]; the output interleaves their rows. */
  size_t outer = 1;
  for (int d = 0; d < axis; d++) outer *= (size_t)shapes[0][d];
  size_t row[8], total = 0;
  for (int i = 0; i < n; i++) {
    row[i] = 1;
    for (int d = axis; d < 4; d++) row[i] *= (size_t)shapes[i][d];
    total += row[i];
  }
  for (size_t o = 0; o < outer; o++) {
    float *out = y + o * total;
    for (int i = 0; i < n; i++) {
      memcpy(out, xs[i] + o * row[i], row[i] * sizeof(float));
      out += row[i];
    }
  }
}

/* Source coordinate of output index o along an axis, TensorFlow's rules. */
static float resize_src(int o, int in, int out, int align_corners, int half_pixel) {
  float scale = (align_corners && out > 1) ? (float)(in - 1) / (float)(out - 1)
                                           : (float)in / (float)out;
  if (half_pixel) {
    float s = ((float)o + 0.5f) * scale - 0.5f;
    return s < 0.f ? 0.f : s;
  }
  return (float)o * scale;
}

void fr__op_resize_bilinear(const float *x, const int xs[4], float *y, const int ys[4],
                            int align_corners, int half_pixel_centers) {
  int c = xs[3];
  for (int n = 0; n < ys[0]; n++)
    for (int oy = 0; oy < ys[1]; oy++) {
      float sy = resize_src(oy, xs[1], ys[1], align_corners, half_pixel_centers);
      int y0 = (int)floorf(sy);
      if (y0 > xs[1] - 1) y0 = xs[1] - 1;
      int y1 = y0 + 1 < xs[1] ? y0 + 1 : xs[1] - 1;
      float fy = sy - (float)y0;
      for (int ox = 0; ox < ys[2]; ox++) {
        float sx = resize_src(ox, xs[2], ys[2], align_corners, half_pixel_centers);
        int x0 = (int)floorf(sx);
        if (x0 > xs[2] - 1) x0 = xs[2] - 1;
        int x1 = x0 + 1 < xs[2] ? x0 + 1 : xs[2] - 1;
        float fx = sx - (float)x0;
        const float *base = x + (size_t)n * xs[1] * xs[2] * c;
        const float *p00 = base + ((size_t)y0 * xs[2] + x0) * c;
        const float *p01 = base + ((size_t)y0 * xs[2] + x1) * c;
        const float *p10 = base + ((size_t)y1 * xs[2] + x0) * c;
        const float *p11 = base + ((size_t)y1 * xs[2] + x1) * c;
        float *o = y + (((size_t)n * ys[1] + oy) * ys[2] + ox) * c;
        for (int k = 0; k < c; k++) {
          float top = p00[k] + (p01[k] - p00[k]) * fx;
          float bot = p10[k] + (p11[k] - p10[k]) * fx;
          o[k] = top + (bot - top) * fy;
        }
      }
    }
}

void fr__op_pad(const float *x, const int xs[4], float *y, const int ys[4], int top, int left,
                int c_front) {
  memset(y, 0, (size_t)ys[0] * ys[1] * ys[2] * ys[3] * sizeof(float));
  for (int n = 0; n < xs[0]; n++)
    for (int h = 0; h < xs[1]; h++)
      for (int w = 0; w < xs[2]; w++)
        memcpy(y + (((size_t)n * ys[1] + h + top) * ys[2] + w + left) * ys[3] + c_front,
               x + (((size_t)n * xs[1] + h) * xs[2] + w) * xs[3], (size_t)xs[3] * sizeof(float));
}
