/*
 * cascade.h - OpenCV boosted cascades (Haar and LBP) inside the library.
 *
 * cascade_xml.c reads the XML that OpenCV's traincascade writes (the "new"
 * format: <cascade> with stageType, featureType, width, height, stages of
 * weakClassifiers with internalNodes and leafValues, and a features list)
 * into an fr__cascade; cascade.c scans an image with it the way OpenCV's
 * CascadeClassifier::detectMultiScale does and registers the "haar" and
 * "lbp" detectors.
 */
#ifndef FR_DETECT_CASCADE_H
#define FR_DETECT_CASCADE_H

#include "core/internal.h"

#include <stddef.h>
#include <stdint.h>

/* The largest cascade file read: the biggest OpenCV ships is 2.7 MB. */
#define FR__CASCADE_MAX_BYTES (64u << 20)
/* Window sides accepted (OpenCV's are 20 to 94 pixels). */
#define FR__CASCADE_MAX_WINDOW 512

/* The cascades the "haar" and "lbp" detectors load, as OpenCV names them,
 * and the folder Debian's opencv-data package puts them in (searched when
 * the model folder lacks them). */
#define FR__HAAR_FILE "haarcascade_frontalface_default.xml"
#define FR__LBP_FILE "lbpcascade_frontalface.xml"
/* The eye cascade both detectors run inside each face to give it two eye
 * points (a stump cascade of 20x20 windows; in haarcascades/ as well). */
#define FR__EYE_FILE "haarcascade_eye.xml"
#define FR__OPENCV_DATA "/usr/share/opencv4"

/* detectMultiScale's defaults the detectors use. */
#define FR__CASCADE_SCALE 1.1
#define FR__CASCADE_EPS 0.2

typedef enum fr__cascade_type { FR__CASCADE_HAAR = 1, FR__CASCADE_LBP = 2 } fr__cascade_type;

/* One weighted rectangle of a Haar feature, in window pixels. */
typedef struct fr__haar_rect {
  int x, y, w, h;
  float weight;
} fr__haar_rect;

/* A feature: Haar (up to three rectangles, upright or tilted by 45 degrees)
 * or LBP (a 3x3 grid of w x h blocks whose top-left corner is x, y). */
typedef struct fr__cascade_feature {
  int n_rects; /* Haar: 1..3; LBP: 0 */
  int tilted;  /* Haar: rectangles rotated by 45 degrees */
  fr__haar_rect rect[3];
  int x, y, w, h; /* LBP */
} fr__cascade_feature;

/*
 * A decision-tree node. A child index > 0 is another node of the same tree
 * (always later than its parent, so evaluation ends); <= 0 is the leaf
 * -index. Haar nodes go left when the normalised feature value is below
 * threshold; LBP nodes go left when bit `code` of their 256-bit subset is set.
 */
typedef struct fr__cascade_node {
  int feature;
  int left, right;
  float threshold;      /* Haar */
  uint32_t subset[8];   /* LBP */
} fr__cascade_node;

typedef struct fr__cascade_weak {
  int first_node, n_nodes; /* into nodes */
  int first_leaf;          /* into leaves; n_nodes + 1 leaves */
} fr__cascade_weak;

typedef struct fr__cascade_stage {
  int first_weak, n_weak;
  float threshold; /* a window passes when its leaf sum is >= this */
} fr__cascade_stage;

/* A parsed, validated cascade: every index is in range, every rectangle
 * inside the window. Immutable once made; shareable between threads. */
typedef struct fr__cascade {
  fr__cascade_type type;
  int width, height; /* the training window */
  int n_stages, n_weak, n_nodes, n_leaves, n_features;
  int stumps;      /* 1: every tree is a single node */
  int has_tilted;  /* Haar: some feature is tilted */
  fr__cascade_stage *stages;
  fr__cascade_weak *weak;
  fr__cascade_node *nodes;
  float *leaves;
  fr__cascade_feature *features;
} fr__cascade;

/*
 * Parses cascade XML from memory (size bytes; need not be NUL-terminated).
 * Hostile input fails with FR_E_FORMAT (or FR_E_UNSUPPORTED for the old
 * pre-2.x format and other stage or feature types, FR_E_LIMIT beyond the
 * limits above) and never reads outside the buffer. *out is owned by the
 * caller: fr__cascade_free it.
 */
fr_status fr__cascade_parse(const char *bytes, size_t size, fr__cascade **out, fr_error *err);

/* Reads and parses a cascade file. */
fr_status fr__cascade_load(const char *path, fr__cascade **out, fr_error *err);

void fr__cascade_free(fr__cascade *c);

/* detectMultiScale's parameters. */
typedef struct fr__cascade_params {
  double scale_factor; /* > 1: the pyramid step (OpenCV's default 1.1) */
  int min_neighbors;   /* a group needs more raw hits than this (default 3); 0: raw windows;
                          negative: grouped, every group kept */
  int min_size;        /* smallest window side in pixels; <= 0: the training window */
  int max_size;        /* largest; <= 0: no limit */
  double group_eps;    /* groupRectangles' eps (0.2) */
  int scalar;          /* 1: stump LBP cascades take the scalar scan, not the AVX2 one
                          (the tests check that both visit the same windows) */
} fr__cascade_params;

/* A grouped detection: a box in image pixels and its raw hit count. */
typedef struct fr__cascade_hit {
  int x, y, w, h;
  int neighbors;
} fr__cascade_hit;

/*
 * Scans img (any pixel format, converted to gray as OpenCV's BGR2GRAY does)
 * over a pyramid of downscaled copies and groups the raw windows as
 * groupRectangles does. Writes up to max_out groups, most neighbours first,
 * and sets *n_out. Memory comes from ctx's scratch (a rare image with very
 * many raw windows also takes heap memory for the call); rows of each scale
 * are split over ctx's pool (not a small scale's: see SPLIT_MIN_WINDOWS).
 */
fr_status fr__cascade_detect(fr_context *ctx, const fr__cascade *c, const fr_image *img,
                             const fr__cascade_params *p, fr__cascade_hit *out, int max_out,
                             int *n_out, fr_error *err);

/* What a "haar" or "lbp" detector holds: its face cascade and, when the eye
 * cascade file was found, the eye cascade (NULL otherwise: boxes only). */
typedef struct fr__cascade_detector {
  fr__cascade *face;
  fr__cascade *eye;
  int scalar; /* 1 when the detector's kernels are the scalar ones (FACEREC_KERNELS=scalar):
                 the LBP scan then skips its AVX2 path too */
} fr__cascade_detector;

/* The eye search's geometry, as fractions of the face box's width w and
 * height h (see fr__cascade_find_eyes). */
#define FR__EYE_ROI_HEIGHT 0.6 /* the top 60% of the box is searched */
#define FR__EYE_MIN_SIZE 0.15  /* eye windows from 0.15 w ... */
#define FR__EYE_MAX_SIZE 0.45  /* ... to 0.45 w */

/*
 * Looks for the face's two eyes with the eye cascade inside the top of its
 * box (enlarged first when the eyes would be smaller than the cascade's
 * window), then keeps the best plausible pair: one eye each side of the
 * box's centre line, level within about 20 degrees, apart by 0.2-0.75 of
 * the box's width, of similar sizes. When a pair is found, face->landmarks
 * get the two eye-box centres (landmarks[0] the eye on the image's left,
 * [1] the other, as MTCNN's first two points) and face->n_landmarks 2;
 * otherwise (also for faces under about 33 pixels, whose eyes would need
 * more than 4x enlargement) the face is left as it was. Memory comes from ctx's scratch
 * (whose contents it overwrites). *found (may be NULL) is set to 1 or 0.
 */
fr_status fr__cascade_find_eyes(fr_context *ctx, const fr__cascade *eye, const fr_image *img,
                                fr_face *face, int *found, fr_error *err);

/*
 * The integral images of a w x h gray image with row stride `stride`
 * (entries, >= w + 1), each (w + 1) x (h + 1) with OpenCV's definitions and
 * arithmetic modulo 2^32 (differences of in-window sums are exact): sum and
 * sqsum over the rectangle above-left, tilted over the 45-degree triangle
 * whose apex is the pixel above-left (cv::integral's tilted output). sqsum
 * and tilted may be NULL; tilted then needs no scratch (tmp: 4 * (w + 2)
 * entries otherwise). Exposed for tests.
 */
void fr__cascade_integrals(const uint8_t *gray, int w, int h, int gstride, int stride,
                           uint32_t *sum, uint32_t *sqsum, uint32_t *tilted, uint32_t *tmp);

#endif
