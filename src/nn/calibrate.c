/*
 * calibrate.c - the activation ranges of int8 quantisation (see quant.h):
 * runs a float graph on sample inputs and records, for every tensor, the
 * range a quantised convolution reading it should cover. It calls the graph
 * runner, so it lives apart from the int8 nodes that the graph builder
 * creates; that keeps graph.c and the quantisation code free of a loop.
 */
#include "nn/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define HBINS 4096

typedef struct calib {
  int pass; /* 0: min/max, 1: histogram of |x| over [0, amax] */
  float *lo, *amax;
  uint32_t *hist; /* [tensors][HBINS] */
} calib;

static void observe(void *arg, int t, const float *x, size_t n) {
  calib *c = arg;
  if (c->pass == 0) {
    float lo = c->lo[t], am = c->amax[t];
    for (size_t i = 0; i < n; i++) {
      if (x[i] < lo) lo = x[i];
      float v = fabsf(x[i]);
      if (v > am) am = v;
    }
    c->lo[t] = lo;
    c->amax[t] = am;
    return;
  }
  if (!(c->amax[t] > 0.f)) return;
  uint32_t *h = c->hist + (size_t)t * HBINS;
  float k = HBINS / c->amax[t];
  for (size_t i = 0; i < n; i++) {
    int bin = (int)(fabsf(x[i]) * k);
    h[bin >= HBINS ? HBINS - 1 : bin]++;
  }
}

fr_status fr__quant_calibrate(const fr__graph *g, const float *inputs, int n, int h, int w,
                              fr__quant_range *ranges, fr_error *err) {
  if (!g || !inputs || n <= 0 || !ranges)
    return fr__fail(err, FR_E_INVALID, "quantisation calibration: bad arguments");
  int nt = fr__graph_tensors(g);
  int cin = fr__channels(g, fr__graph_input(g));
  calib c;
  memset(&c, 0, sizeof c);
  c.lo = fr__calloc((size_t)nt, sizeof *c.lo);
  c.amax = fr__calloc((size_t)nt, sizeof *c.amax);
  c.hist = fr__calloc((size_t)nt * HBINS, sizeof *c.hist);
  fr__plan *plan = NULL;
  fr_status st = FR_OK;
  if (!c.lo || !c.amax || !c.hist) {
    st = fr__fail(err, FR_E_NOMEM, "out of memory calibrating %s", fr__graph_name(g));
    goto done;
  }
  st = fr__plan_create(g, 1, h, w, 1, &plan, err);
  if (st != FR_OK) goto done;
  size_t per = (size_t)h * w * cin;
  for (c.pass = 0; c.pass < 2; c.pass++)
    for (int i = 0; i < n; i++) {
      memcpy(fr__plan_input(plan), inputs + (size_t)i * per, per * sizeof(float));
      fr__run_observe(g, plan, NULL, observe, &c);
    }
  for (int t = 0; t < nt; t++) {
    const uint32_t *hh = c.hist + (size_t)t * HBINS;
    uint64_t total = 0;
    for (int b = 0; b < HBINS; b++) total += hh[b];
    float hi = c.amax[t];
    if (total > 0) {
      uint64_t want = (uint64_t)ceil((double)total * FR__QUANT_PERCENTILE / 100.0), acc = 0;
      for (int b = 0; b < HBINS; b++) {
        acc += hh[b];
        if (acc >= want) {
          hi = c.amax[t] * (float)(b + 1) / HBINS;
          break;
        }
      }
    }
    float lo = c.lo[t] < 0.f ? (c.lo[t] < -hi ? -hi : c.lo[t]) : 0.f;
    ranges[t].lo = lo;
    ranges[t].hi = hi;
  }
done:
  fr__plan_destroy(plan);
  fr__free(c.lo);
  fr__free(c.amax);
  fr__free(c.hist);
  return st;
}
