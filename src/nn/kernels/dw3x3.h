/*
 * dw3x3.h - depthwise 3x3 convolution (stride 1 or 2, any padding) shared by
 * the SIMD kernel sets, written once over a vector abstraction.
 *
 * The generic depthwise loop reloads the nine weights for every pixel and
 * tests the window's bounds per tap. Here one channel block's nine weight
 * vectors and bias stay in registers while the loop walks a whole output row,
 * so each tap costs one load and one FMA; the window rows that fall outside
 * the image are known per output row, and only the first and last columns
 * need a bounds test.
 *
 * The including file defines, before including this header:
 *   DW_L                 lanes per vector;
 *   DW_V, DW_M           the vector and lane-mask types;
 *   DW_MASK(n)           mask of the first n (1..DW_L) lanes;
 *   DW_LOAD(p, m, full)  load; when full is 0 only the lanes in m (others 0);
 *   DW_STORE(p, v, m, full) store, likewise;
 *   DW_ZERO(), DW_FMA(a, b, c), DW_ACT(v, act, alpha);
 *   DW_FN(name)          a prefix for the functions defined here.
 * `full` is a constant in each specialisation of the block function, so the
 * full-vector path has no mask operations at all.
 */
#ifndef DW_L
#error "define the DW_ vector macros before including dw3x3.h"
#endif

/* One output row's channels [ch, ch + DW_L) (the first nv of them when full
 * is 0). row0..row2 are the window's input rows, used only where v0..v2. */
static inline __attribute__((always_inline)) void DW_FN(dw3x3_block)(
    const fr__conv_args *a, const float *row0, const float *row1, const float *row2, int v0,
    int v1, int v2, float *orow, int ch, int x_lo, int x_hi, DW_M m, const int full) {
  int c = a->cout, s = a->stride;
  const float *w = a->w + ch;
  DW_V w00 = DW_LOAD(w, m, full), w01 = DW_LOAD(w + c, m, full), w02 = DW_LOAD(w + 2 * c, m, full);
  DW_V w10 = DW_LOAD(w + 3 * c, m, full), w11 = DW_LOAD(w + 4 * c, m, full),
       w12 = DW_LOAD(w + 5 * c, m, full);
  DW_V w20 = DW_LOAD(w + 6 * c, m, full), w21 = DW_LOAD(w + 7 * c, m, full),
       w22 = DW_LOAD(w + 8 * c, m, full);
  DW_V bias = a->bias ? DW_LOAD(a->bias + ch, m, full) : DW_ZERO();
  for (int ox = 0; ox < a->ow; ox++) {
    int ix = ox * s - a->pad_left;
    DW_V acc = bias;
    if (ox >= x_lo && ox < x_hi) {
      size_t o = (size_t)ix * c + ch;
      if (v0) {
        acc = DW_FMA(DW_LOAD(row0 + o, m, full), w00, acc);
        acc = DW_FMA(DW_LOAD(row0 + o + c, m, full), w01, acc);
        acc = DW_FMA(DW_LOAD(row0 + o + 2 * c, m, full), w02, acc);
      }
      if (v1) {
        acc = DW_FMA(DW_LOAD(row1 + o, m, full), w10, acc);
        acc = DW_FMA(DW_LOAD(row1 + o + c, m, full), w11, acc);
        acc = DW_FMA(DW_LOAD(row1 + o + 2 * c, m, full), w12, acc);
      }
      if (v2) {
        acc = DW_FMA(DW_LOAD(row2 + o, m, full), w20, acc);
        acc = DW_FMA(DW_LOAD(row2 + o + c, m, full), w21, acc);
        acc = DW_FMA(DW_LOAD(row2 + o + 2 * c, m, full), w22, acc);
      }
    } else {
      /* Border column: taps left or right of the image are skipped. */
      DW_V wr0[3] = {w00, w01, w02}, wr1[3] = {w10, w11, w12}, wr2[3] = {w20, w21, w22};
      for (int kx = 0; kx < 3; kx++) {
        int x = ix + kx;
        if (x < 0 || x >= a->iw) continue;
        size_t o = (size_t)x * c + ch;
        if (v0) acc = DW_FMA(DW_LOAD(row0 + o, m, full), wr0[kx], acc);
        if (v1) acc = DW_FMA(DW_LOAD(row1 + o, m, full), wr1[kx], acc);
        if (v2) acc = DW_FMA(DW_LOAD(row2 + o, m, full), wr2[kx], acc);
      }
    }
    DW_STORE(orow + (size_t)ox * c + ch, DW_ACT(acc, a->act, a->alpha), m, full);
  }
}

/* Output rows [r0, r1) (over the batch) of a 3x3 depthwise convolution. */
static void DW_FN(dw3x3_rows)(const fr__conv_args *a, int r0, int r1) {
  int c = a->cout, s = a->stride;
  size_t rowlen = (size_t)a->iw * c;
  /* Output columns whose whole window lies inside the image's width. */
  int x_lo = (a->pad_left + s - 1) / s;
  int x_hi = a->iw < 3 ? 0 : (a->iw - 3 + a->pad_left) / s + 1;
  if (x_hi > a->ow) x_hi = a->ow;
  if (x_lo > x_hi) x_lo = x_hi;
  for (int r = r0; r < r1; r++) {
    int b = r / a->oh, oy = r % a->oh;
    int iy = oy * s - a->pad_top;
    /* Window rows inside the image; rows outside add nothing. */
    int v0 = iy >= 0 && iy < a->ih, v1 = iy + 1 >= 0 && iy + 1 < a->ih,
        v2 = iy + 2 >= 0 && iy + 2 < a->ih;
    const float *img = a->in + (size_t)b * a->ih * rowlen;
    const float *row0 = img + (size_t)(v0 ? iy : 0) * rowlen;
    const float *row1 = img + (size_t)(v1 ? iy + 1 : 0) * rowlen;
    const float *row2 = img + (size_t)(v2 ? iy + 2 : 0) * rowlen;
    float *orow = a->out + (((size_t)b * a->oh + oy) * a->ow) * c;
    int ch = 0;
    for (; ch + DW_L <= c; ch += DW_L)
      DW_FN(dw3x3_block)(a, row0, row1, row2, v0, v1, v2, orow, ch, x_lo, x_hi, DW_MASK(DW_L),
                         1);
    if (ch < c)
      DW_FN(dw3x3_block)(a, row0, row1, row2, v0, v1, v2, orow, ch, x_lo, x_hi, DW_MASK(c - ch),
                         0);
  }
}
