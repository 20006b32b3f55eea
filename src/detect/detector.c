/*
 * detector.c - the public detection API: the table of detector kinds,
 * loading a detector, checking a request, applying the kind's defaults and
 * handing off to the per-model code (ssd.c, tiny.c and the others). The
 * loaders those share are in load.c, so that the per-model files never call
 * back into this one (the table here names them).
 */
#include "detect/detect_internal.h"
#include "image/image_internal.h"
#include "nn/model_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Every detector this library has. A new detector is a new file exporting an
 * fr__detector_impl and one line here. */
static const fr__detector_impl *const k_detectors[] = {
    &fr__detector_ssd,
    &fr__detector_tiny,
    &fr__detector_mtcnn,
    &fr__detector_blazeface,
    &fr__detector_blazeface_full,
    &fr__detector_haar,
    &fr__detector_lbp,
};
#define N_DETECTORS (int)(sizeof k_detectors / sizeof k_detectors[0])

const fr__detector_impl *fr__detector_find(fr_detector_kind kind) {
  for (int i = 0; i < N_DETECTORS; i++)
    if (k_detectors[i]->kind == kind) return k_detectors[i];
  return NULL;
}

const char *fr_detector_kind_name(fr_detector_kind kind) {
  const fr__detector_impl *impl = fr__detector_find(kind);
  return impl ? impl->name : NULL;
}

fr_detector_kind fr_detector_kind_from_name(const char *name) {
  if (!name) return (fr_detector_kind)0;
  for (int i = 0; i < N_DETECTORS; i++)
    if (strcmp(k_detectors[i]->name, name) == 0) return k_detectors[i]->kind;
  return (fr_detector_kind)0;
}

/*
 * Takes the network from model_dir/<name>.frm (made by `facerec convert`) when
 * there is one, setting *done. Only the detectors whose whole loaded state is
 * their graph (and SSD's anchors) are loaded here; MTCNN and BlazeFace build
 * state beside their graphs, so their own load functions look for their .frm
 * (mtcnn.c, blazeface.c), and the cascades have no graph. FACEREC_NO_FRM=1
 * turns converted files off.
 */
static fr_status load_converted(fr_detector *det, const char *model_dir, int *done,
                                fr_error *err) {
  *done = 0;
  if (det->kind != FR_DETECTOR_SSD && det->kind != FR_DETECTOR_TINY) return FR_OK;
  fr__model m;
  int found;
  fr_status st = fr__model_find(model_dir, det->impl->name, FR__MODEL_DETECTOR, det->kernels, &m,
                                &found, err);
  if (st != FR_OK || !found) return st;
  if (det->kind == FR_DETECTOR_SSD)
    det->anchors = fr__model_take_array(&m, "anchors", (size_t)FR__SSD_ANCHORS * 4);
  det->g = m.n_graphs == 1 ? fr__model_take_graph(&m, 0) : NULL;
  fr__model_release(&m);
  if (!det->g || (det->kind == FR_DETECTOR_SSD && !det->anchors))
    return fr__fail(err, FR_E_MODEL, "%s%s lacks the graph or anchors of %s", det->impl->name,
                    FR__MODEL_EXT, det->impl->title);
  /* No trial plan here (it would cost more than the load at SSD's size):
   * both detectors check their outputs' shapes at every run. */
  *done = 1;
  return FR_OK;
}

fr_status fr__detector_create_with_kernels(fr_detector_kind kind, const char *model_dir,
                                           const fr__kernels *kernels, fr_detector **out,
                                           fr_error *err) {
  if (!out) return fr__fail(err, FR_E_INVALID, "fr_detector_create: out is NULL");
  *out = NULL;
  const fr__detector_impl *impl = fr__detector_find(kind);
  if (!impl) return fr__fail(err, FR_E_INVALID, "fr_detector_create: unknown detector kind %d", (int)kind);

  /* Failures below must leave a message even when the caller passed no
   * error struct, because builder code checks err->status. */
  fr_error local;
  if (!err) err = &local;
  err->status = FR_OK;
  err->message[0] = '\0';

  char dir[4096];
  fr_status st = fr__model_dir(impl->model_file, impl->title, model_dir, impl->fallback_dir, dir,
                               sizeof dir, err);
  if (st != FR_OK) return st;
  model_dir = dir;

  fr_detector *det = calloc(1, sizeof *det);
  if (!det) return fr__fail(err, FR_E_NOMEM, "out of memory loading %s", impl->title);
  det->impl = impl;
  det->kind = kind;
  det->kernels = kernels;
  int converted = 0;
  st = load_converted(det, model_dir, &converted, err);
  if (st == FR_OK && !converted) st = impl->load(det, model_dir, err);
  if (st != FR_OK) {
    fr__error_prefix(err, "loading %s from %s", impl->title, model_dir);
    fr_detector_destroy(det);
    return st;
  }
  *out = det;
  return FR_OK;
}

fr_status fr_detector_create(fr_detector_kind kind, const char *model_dir, fr_detector **out,
                             fr_error *err) {
  return fr__detector_create_with_kernels(kind, model_dir, NULL, out, err);
}

void fr_detector_destroy(fr_detector *det) {
  if (!det) return;
  if (det->impl && det->impl->unload) det->impl->unload(det);
  fr__graph_destroy(det->g);
  fr__aligned_free(det->anchors);
  free(det);
}

const fr__graph *fr__detector_graph(const fr_detector *det) { return det ? det->g : NULL; }

int fr__detector_graphs(const fr_detector *det, const fr__graph **g, int *side, int max) {
  if (!det) return 0;
  if (det->impl->graphs) return det->impl->graphs(det, g, side, max);
  if (!det->g) return 0;
  if (max > 0) {
    g[0] = det->g;
    side[0] = det->impl->input_size;
  }
  return 1;
}

fr_status fr_detect(fr_context *ctx, const fr_detector *det, const fr_image *img,
                    const fr_detect_options *opts, fr_face *faces, int max_out, int *n_out,
                    fr_error *err) {
  if (n_out) *n_out = 0;
  if (!ctx) return fr__fail(err, FR_E_INVALID, "fr_detect: context is NULL");
  if (!det) return fr__fail(err, FR_E_INVALID, "fr_detect: detector is NULL");
  if (!n_out) return fr__fail(err, FR_E_INVALID, "fr_detect: n_out is NULL");
  if (max_out < 0) return fr__fail(err, FR_E_INVALID, "fr_detect: max_out %d is negative", max_out);
  if (max_out > 0 && !faces)
    return fr__fail(err, FR_E_INVALID, "fr_detect: faces is NULL but max_out is %d", max_out);
  fr_status st = fr__image_check(img, err);
  if (st != FR_OK) {
    fr__error_prefix(err, "fr_detect");
    return st;
  }

  const fr__detector_impl *impl = det->impl;
  fr__detect_params p;
  p.min_score = impl->min_score;
  p.iou_threshold = impl->iou;
  p.input_size = impl->input_size;
  p.max_keep = max_out;
  p.skip_eyes = opts && opts->skip_eyes;
  if (opts) {
    /* Written as "> 0" so that NaN, like zero, selects the default. */
    if (opts->min_score > 0) p.min_score = opts->min_score;
    if (opts->iou_threshold > 0) p.iou_threshold = opts->iou_threshold;
    if (opts->max_faces > 0 && opts->max_faces < p.max_keep) p.max_keep = opts->max_faces;
    if (impl->input_step > 0 && opts->input_size > 0) {
      int s = opts->input_size;
      if (s % impl->input_step != 0 || s < impl->input_min || s > impl->input_max)
        return fr__fail(err, FR_E_INVALID,
                        "fr_detect: %s input_size %d must be a multiple of %d from %d to %d",
                        impl->title, s, impl->input_step, impl->input_min, impl->input_max);
      p.input_size = s;
    }
  }
  if (p.max_keep == 0) return FR_OK;
  return impl->detect(ctx, det, img, &p, faces, n_out, err);
}
