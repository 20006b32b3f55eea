/*
 * detector.c - the public detection API: the table of detector kinds,
 * loading a detector (through the shared loader, src/nn/loader.c, with the
 * network each kind declares), checking a request, applying the kind's
 * defaults and handing off to the per-model code (ssd.c, tiny.c and the
 * others). The per-model files never call back into this one: the table
 * here names them, and their hooks are called through it.
 */
#include "detect/detect_internal.h"
#include "image/image_internal.h"

#include <stdlib.h>
#include <string.h>

/* Every detector this library has, each defined in its own file (ssd.c,
 * tiny.c, mtcnn.c, blazeface.c, cascade.c) and declared here, beside the
 * table, so that a new detector is a new file exporting an
 * fr__detector_impl and one line here (with its declaration). */
extern const fr__detector_impl fr__detector_ssd, fr__detector_tiny, fr__detector_mtcnn,
    fr__detector_blazeface, fr__detector_blazeface_full, fr__detector_haar, fr__detector_lbp;
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

int fr__detector_count(void) { return N_DETECTORS; }

const fr__detector_impl *fr__detector_at(int i) {
  return i >= 0 && i < N_DETECTORS ? k_detectors[i] : NULL;
}

const fr__detector_impl *fr__detector_find(fr_detector_kind kind) {
  if (kind == FR_DETECTOR_SCRFD) return &fr__detector_scrfd;
  for (int i = 0; i < N_DETECTORS; i++)
    if (k_detectors[i]->kind == kind) return k_detectors[i];
  return NULL;
}

const char *fr_detector_kind_name(fr_detector_kind kind) {
  const fr__detector_impl *impl = fr__detector_find(kind);
  return impl ? impl->net.name : NULL;
}

fr_detector_kind fr_detector_kind_from_name(const char *name) {
  if (!name) return (fr_detector_kind)0;
  if (strcmp(name, fr__detector_scrfd.net.name) == 0) return FR_DETECTOR_SCRFD;
  for (int i = 0; i < N_DETECTORS; i++)
    if (strcmp(k_detectors[i]->net.name, name) == 0) return k_detectors[i]->kind;
  return (fr_detector_kind)0;
}

/* The loader's hand-off: the kind's own take function, or, for a detector
 * whose whole loaded state is its one graph, that graph. */
static fr_status take(void *obj, fr__model *m, const char *dir, fr_error *err) {
  fr_detector *det = obj;
  if (det->impl->take) return det->impl->take(det, m, dir, err);
  det->g = fr__model_take_graph(m, 0);
  return FR_OK;
}

fr_status fr__detector_create_with_kernels(fr_detector_kind kind, const char *model_dir,
                                           const fr__kernels *kernels, fr_detector **out,
                                           fr_error *err) {
  if (!out) return fr__fail(err, FR_E_INVALID, "fr_detector_create: out is NULL");
  *out = NULL;
  const fr__detector_impl *impl = fr__detector_find(kind);
  if (!impl) return fr__fail(err, FR_E_INVALID, "fr_detector_create: unknown detector kind %d", (int)kind);
  fr_detector *det = fr__calloc(1, sizeof *det);
  if (!det) return fr__fail(err, FR_E_NOMEM, "out of memory loading %s", impl->net.title);
  det->impl = impl;
  det->kind = kind;
  det->kernels = kernels;
  fr_status st = fr__net_load(&impl->net, FR__MODEL_DETECTOR, model_dir, kernels, take, det, err);
  if (st != FR_OK) {
    fr_detector_destroy(det);
    return st;
  }
  *out = det;
  return FR_OK;
}

fr_status fr_detector_create_file(fr_detector_kind kind, const char *path, int input_size,
                                  fr_detector **out, fr_error *err) {
  if (!out) return fr__fail(err, FR_E_INVALID, "fr_detector_create_file: out is NULL");
  *out = NULL;
  if (!path) return fr__fail(err, FR_E_INVALID, "fr_detector_create_file: path is NULL");
  if (kind != FR_DETECTOR_SCRFD)
    return fr__fail(err, FR_E_INVALID, "fr_detector_create_file: detector kind %d is not loaded from a file", (int)kind);
  return fr__detector_create_scrfd(path, input_size, NULL, out, err);
}

fr_status fr_detector_create(fr_detector_kind kind, const char *model_dir, fr_detector **out,
                             fr_error *err) {
  if (kind == FR_DETECTOR_SCRFD)
    return fr__fail(err, FR_E_INVALID, "fr_detector_create: SCRFD is loaded from its file with fr_detector_create_file");
  return fr__detector_create_with_kernels(kind, model_dir, NULL, out, err);
}

void fr_detector_destroy(fr_detector *det) {
  if (!det) return;
  if (det->impl && det->impl->unload) det->impl->unload(det);
  fr__graph_destroy(det->g);
  fr__aligned_free(det->anchors);
  fr__free(det);
}

const fr__graph *fr__detector_graph(const fr_detector *det) { return det ? det->g : NULL; }

int fr__detector_graphs(const fr_detector *det, const fr__graph **g, int *side, int max) {
  if (!det) return 0;
  if (det->impl->graphs) return det->impl->graphs(det, g, side, max);
  if (!det->g) return 0;
  if (max > 0) {
    g[0] = det->g;
    side[0] = fr__net_side(&det->impl->net, 0);
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
  p.input_size = impl->net.input_size;
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
                        impl->net.title, s, impl->input_step, impl->input_min, impl->input_max);
      p.input_size = s;
    }
  }
  if (p.max_keep == 0) return FR_OK;
  return impl->detect(ctx, det, img, &p, faces, n_out, err);
}
