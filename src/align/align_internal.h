/*
 * align_internal.h - landmarks and alignment helpers used inside the library
 * (prefix fr__): the float entry points the pipeline uses so that the
 * recognition net sees exactly what face-api feeds it, with no 8-bit round
 * trip, plus the pieces the tests check one by one.
 */
#ifndef FR_ALIGN_INTERNAL_H
#define FR_ALIGN_INTERNAL_H

#include "core/internal.h"
#include "nn/loader.h"
#include "nn/nn.h"

/* Side of the landmark nets' square input. */
#define FR__LANDMARK_INPUT 112

/* dlib's default chip padding: the template's unit square plus this fraction
 * of its side on every edge fills the chip. */
#define FR__TEMPLATE_PADDING 0.25

/*
 * The canonical 68-point face template in dlib's normalised convention: a
 * point (x, y) lands at ((x + p) / (1 + 2p) * size, (y + p) / (1 + 2p) * size)
 * of a size x size chip with padding p, in continuous coordinates (0 is the
 * chip's left edge, size its right edge). See template.c for its origin.
 */
extern const float fr__landmark_template[FR_MAX_LANDMARKS][2];

/* The first template point used by the similarity fit: dlib fits points
 * 17..67 and leaves out the jaw line, whose detection is the least stable. */
#define FR__TEMPLATE_FIRST 17

/*
 * The integer crop face-api cuts for a detection box (extractFaceTensors:
 * clip at the image borders, then floor x, y, width and height). Returns 0 and
 * leaves crop untouched when nothing of the box is inside the image or the
 * box is not finite. crop = {x, y, w, h}.
 */
int fr__face_crop(const fr_rect *box, int img_w, int img_h, int crop[4]);

/*
 * What one landmark net is: its kind and its network (name, title, files,
 * the FR__LANDMARK_INPUT input side, its 2 * FR_MAX_LANDMARKS outputs and
 * how to build it), what the shared loader and `facerec convert` need.
 * landmarks.c lists them in a table; a new one is an entry defined in its
 * own file and one line there (with its declaration).
 */
typedef struct fr__landmarker_impl {
  fr_landmarker_kind kind;
  fr__net_spec net;
} fr__landmarker_impl;

/* The implementation of a kind, or NULL. */
const fr__landmarker_impl *fr__landmarker_find(fr_landmarker_kind kind);

/* The table of landmark nets, in order: how many there are, and entry i
 * (NULL out of range). `facerec convert` and the tests work through it. */
int fr__landmarker_count(void);
const fr__landmarker_impl *fr__landmarker_at(int i);

/* Loads a landmarker whose graph uses the given kernels (tests, bench). */
fr_status fr__landmarker_create_with(fr_landmarker_kind kind, const char *model_dir,
                                     const fr__kernels *kernels, fr_landmarker **out,
                                     fr_error *err);

/* The landmarker's network (benchmarks: MAC counts). */
const fr__graph *fr__landmarker_graph(const fr_landmarker *lm);

/*
 * Runs the landmark net on a prepared input: rgb holds 112 x 112 x 3 floats in
 * 0..255 (the padded, resized crop). Writes the 136 raw outputs (x0, y0, x1,
 * ...: positions in [0, 1] of the padded square) to raw.
 */
fr_status fr__landmarks_raw(fr_context *ctx, const fr_landmarker *lm, const float *rgb,
                            float raw[2 * FR_MAX_LANDMARKS], fr_error *err);

/*
 * face-api's alignment rectangle for the descriptor (FaceLandmarks.align with
 * useDlibAlignment, as withFaceDescriptors calls it): a square whose side is
 * the mean eye-to-mouth distance / 0.45, placed around the centre of the two
 * eye centres and the mouth centre. Integer valued. The width and height are
 * capped as face-api does, using the size of the detection crop the landmarks
 * were computed on (face->box clipped to the img_w x img_h image). Needs
 * face->n_landmarks == 68; returns a zero rect otherwise.
 */
fr_rect fr__align_upright_rect(const fr_face *face, int img_w, int img_h);

/*
 * The chip FaceRecognitionNet sees: the rectangle above clipped to the image
 * (extractFaceTensors), padded to a centred square and resized bilinearly to
 * size x size (toBatchTensor). out_rgb receives size*size*3 floats in 0..255.
 * rect_out (may be NULL) receives the unclipped rectangle.
 */
fr_status fr__align_upright_tensor(const fr_image *img, const fr_face *face, int size,
                                   float *out_rgb, fr_rect *rect_out, fr_error *err);

/*
 * The least-squares similarity transform (scale, rotation, translation) from
 * chip pixel indices (u, v) of a size x size chip to image pixel coordinates,
 * fitted on template points 17..67 against face->landmarks (a face with
 * n_landmarks 2: the template's eye centres onto its two eyes), in the layout
 * fr__warp_affine takes: src = (m0 u + m1 v + m2, m3 u + m4 v + m5).
 */
fr_status fr__align_similarity_transform(const fr_face *face, int size, double m[6], fr_error *err);

/*
 * The similarity-aligned chip as floats: bilinear samples of img through the
 * transform above, zero outside, size*size*3 floats in 0..255, not rounded.
 * rect_out (may be NULL) receives the axis-aligned bounding box of the chip's
 * footprint in the image.
 */
fr_status fr__align_similarity_tensor(const fr_image *img, const fr_face *face, int size,
                                      float *out_rgb, fr_rect *rect_out, fr_error *err);

/*
 * The chip of any alignment method as floats (size*size*3, 0..255): the one
 * entry point the pipeline uses, so that a new method is a new case here.
 */
fr_status fr__align_tensor(const fr_image *img, const fr_face *face, fr_align_method method,
                           int size, float *out_rgb, fr_error *err);

/* 1 when the method needs the 68-point landmarks and the face lacks them
 * (the pipeline then runs the landmark net), else 0. SIMILARITY and ARCFACE
 * also take a face's two eye points (n_landmarks 2) as they are. */
int fr__align_needs_68(fr_align_method method, const fr_face *face);

/* ---- five-point and box alignment, resampling (align5.c) ---------------- */

/* InsightFace's ArcFace template: left eye, right eye, nose tip, left and
 * right mouth corner in pixel-index coordinates of a 112x112 chip. */
extern const float fr__arcface_template[5][2];

/*
 * The five ArcFace points of a face in image coordinates: its own when
 * n_landmarks is 5 (MTCNN), else derived from 68 (eye centres = means of
 * 36-41 and 42-47, nose tip 30, mouth corners 48 and 54). FR_E_INVALID for
 * any other count or a non-finite point.
 */
fr_status fr__face_points5(const fr_face *face, double pts[5][2], fr_error *err);

/* The two eye points of a face with n_landmarks 2 (the Haar and LBP
 * detectors' eyes: the eye on the image's left first). FR_E_INVALID for any
 * other count or a non-finite point. */
fr_status fr__face_eyes(const fr_face *face, double pts[2][2], fr_error *err);


/*
 * The least-squares similarity transform q ~ A p + t, A = [a -b; b a], over
 * n >= 2 point pairs (exact for 2): t = {a, b, tx, ty}. FR_E_INVALID when the
 * points p coincide or the fit is degenerate.
 */
fr_status fr__fit_similarity(const double (*p)[2], const double (*q)[2], int n, double t[4],
                             fr_error *err);

/*
 * The least-squares similarity transform from the face's five points (or,
 * for a face with n_landmarks 2, its two eyes onto the template's eyes) onto
 * the ArcFace template scaled to a size x size chip, returned inverted in
 * fr__warp_affine's layout: chip pixel (u, v) samples image pixel position
 * (m0 u + m1 v + m2, m3 u + m4 v + m5).
 */
fr_status fr__align_arcface_transform(const fr_face *face, int size, double m[6], fr_error *err);

/* The ArcFace chip as size*size*3 floats in 0..255 (bilinear, zero outside). */
fr_status fr__align_arcface_tensor(const fr_image *img, const fr_face *face, int size,
                                   float *out_rgb, fr_error *err);

/* The FaceNet crop rectangle: face->box grown by the margin, clipped to the
 * image. FR_E_INVALID for an empty or non-finite box or one outside the image. */
fr_status fr__align_facenet_rect(const fr_face *face, int img_w, int img_h, int size,
                                 fr_rect *out, fr_error *err);

/* The FaceNet chip: that rectangle resized to size x size (no aspect kept). */
fr_status fr__align_facenet_tensor(const fr_image *img, const fr_face *face, int size,
                                   float *out_rgb, fr_error *err);

/*
 * Resamples the image rectangle (x0, y0, w, h) (continuous coordinates; it may
 * reach outside the image, which reads as black) to ow x oh RGB samples: an
 * overlap-weighted average where the rectangle shrinks, bilinear where it
 * grows. Each sample s (0..255) is stored as s * mul + add at dst + u * step_u
 * + v * step_v (floats; step_u >= 3), so callers can normalise and transpose
 * on the way. tmp: NULL, or fr__resample_tmp_floats(img, ow) floats of
 * scratch, which makes large downscales cost about one pass over the source.
 */
void fr__resample_rect(const fr_image *img, double x0, double y0, double w, double h, int ow,
                       int oh, float mul, float add, float *dst, ptrdiff_t step_u,
                       ptrdiff_t step_v, float *tmp);
size_t fr__resample_tmp_floats(const fr_image *img, int max_ow);

#endif
