/*
 * load.c - the loaders the detectors share: a face-api TF.js network into
 * det->g, and the graphs of a converted model file. Kept apart from
 * detector.c, whose table names every detector, so that the detectors call
 * down into this file and never back into the one that lists them.
 */
#include "detect/detect_internal.h"
#include "nn/model_file.h"

fr_status fr__detector_take_converted(const fr_detector *det, const char *model_dir, int n,
                                      fr__graph **graphs, int *found, fr_error *err) {
  fr__model m;
  fr_status st = fr__model_find(model_dir, det->impl->name, FR__MODEL_DETECTOR, det->kernels, &m,
                                found, err);
  if (st != FR_OK || !*found) return st;
  int ng = m.n_graphs;
  for (int k = 0; k < n && ng == n; k++) graphs[k] = fr__model_take_graph(&m, k);
  fr__model_release(&m);
  if (ng != n)
    return fr__fail(err, FR_E_MODEL, "%s%s holds %d graphs, %s has %d", det->impl->name,
                    FR__MODEL_EXT, ng, det->impl->title, n);
  return FR_OK;
}

fr_status fr__detector_load_tfjs(fr_detector *det, const char *model_dir,
                                 fr_status (*build)(fr_detector *det, const fr__weights *wm,
                                                    fr_error *err),
                                 fr_error *err) {
  fr__weights *wm = NULL;
  fr_status st = fr__tfjs_load(model_dir, det->impl->model_file, &wm, err);
  if (st != FR_OK) return st;
  st = fr__graph_create(det->kernels, det->impl->title, &det->g, err);
  if (st == FR_OK) st = build(det, wm, err);
  fr__weights_destroy(wm);
  return st;
}
