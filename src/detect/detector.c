/*
 * detector.c - the public detection API: loading a detector, checking a
 * request, applying face-api's defaults and handing off to the per-model code
 * in ssd.c and tiny.c.
 */
#include "detect/detect_internal.h"
#include "image/image_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *kind_name(fr_detector_kind kind) {
  return kind == FR_DETECTOR_SSD ? "SSD-MobileNetV1" : "TinyFaceDetector";
}

fr_status fr__detector_create_with_kernels(fr_detector_kind kind, const char *model_dir,
                                           const fr__kernels *kernels, fr_detector **out,
                                           fr_error *err) {
  if (!out) return fr__fail(err, FR_E_INVALID, "fr_detector_create: out is NULL");
  *out = NULL;
  if (kind != FR_DETECTOR_SSD && kind != FR_DETECTOR_TINY)
    return fr__fail(err, FR_E_INVALID,
                    "fr_detector_create: unknown detector kind %d (expected FR_DETECTOR_SSD or "
                    "FR_DETECTOR_TINY)",
                    (int)kind);
  const char *manifest = kind == FR_DETECTOR_SSD ? FR__SSD_MANIFEST : FR__TINY_MANIFEST;

  /* Failures below must leave a message even when the caller passed no
   * error struct, because builder code checks err->status. */
  fr_error local;
  if (!err) err = &local;
  err->status = FR_OK;
  err->message[0] = '\0';

  char dir[4096];
  if (!model_dir) {
    fr_status st = fr_model_path(manifest, dir, sizeof dir, err);
    if (st != FR_OK) return st;
    model_dir = dir;
  } else {
    /* Say plainly which file is missing: the weights loader would report it
     * as an unreadable file, which hides the usual cause (a wrong folder or
     * models never fetched). */
    char path[4096];
    fr_status st = fr__path_join(path, sizeof path, model_dir, manifest, err);
    if (st != FR_OK) return st;
    struct stat sb;
    if (stat(path, &sb) != 0)
      return fr__fail(err, FR_E_NOTFOUND,
                      "%s weights not found: %s: %s (wrong model folder? 'make models' fetches "
                      "them)",
                      kind_name(kind), path, strerror(errno));
  }

  fr__weights *wm = NULL;
  fr_status st = fr__tfjs_load(model_dir, manifest, &wm, err);
  if (st != FR_OK) {
    fr__error_prefix(err, "loading %s from %s", kind_name(kind), model_dir);
    return st;
  }
  fr_detector *det = calloc(1, sizeof *det);
  if (!det) {
    fr__weights_destroy(wm);
    return fr__fail(err, FR_E_NOMEM, "out of memory loading %s", kind_name(kind));
  }
  det->kind = kind;
  st = fr__graph_create(kernels, kind_name(kind), &det->g, err);
  if (st == FR_OK)
    st = kind == FR_DETECTOR_SSD ? fr__ssd_build(det, wm, err) : fr__tiny_build(det, wm, err);
  fr__weights_destroy(wm);
  if (st != FR_OK) {
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
  fr__graph_destroy(det->g);
  fr__aligned_free(det->anchors);
  free(det);
}

const fr__graph *fr__detector_graph(const fr_detector *det) { return det ? det->g : NULL; }

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

  fr__detect_params p;
  int ssd = det->kind == FR_DETECTOR_SSD;
  p.min_score = ssd ? FR__SSD_MIN_SCORE : FR__TINY_MIN_SCORE;
  p.iou_threshold = ssd ? FR__SSD_IOU : FR__TINY_IOU;
  p.input_size = ssd ? FR__SSD_SIZE : FR__TINY_DEFAULT_SIZE;
  p.max_keep = max_out;
  if (opts) {
    /* Written as "> 0" so that NaN, like zero, selects the default. */
    if (opts->min_score > 0) p.min_score = opts->min_score;
    if (opts->iou_threshold > 0) p.iou_threshold = opts->iou_threshold;
    if (opts->max_faces > 0 && opts->max_faces < p.max_keep) p.max_keep = opts->max_faces;
    if (!ssd && opts->input_size > 0) {
      int s = opts->input_size;
      if (s % 32 != 0 || s < FR__TINY_MIN_SIZE || s > FR__TINY_MAX_SIZE)
        return fr__fail(err, FR_E_INVALID,
                        "fr_detect: TinyFaceDetector input_size %d must be a multiple of 32 "
                        "from %d to %d",
                        s, FR__TINY_MIN_SIZE, FR__TINY_MAX_SIZE);
      p.input_size = s;
    }
  }
  if (p.max_keep == 0) return FR_OK;
  return ssd ? fr__ssd_detect(ctx, det, img, &p, faces, n_out, err)
             : fr__tiny_detect(ctx, det, img, &p, faces, n_out, err);
}
