/*
 * detect_internal.h - face detectors inside the library (prefix fr__).
 *
 * Seven detectors, one file each: face-api 1.7.15's SSD-MobileNetV1 (ssd.c)
 * and TinyFaceDetector (tiny.c), MTCNN (mtcnn.c), MediaPipe's BlazeFace short
 * and full range (blazeface.c), and OpenCV's Haar and LBP cascades
 * (cascade.c, cascade_xml.c). detector.c holds the table of them, the public
 * entry points and option handling; nms.c non-maximum suppression. Loading
 * is the shared loader's (src/nn/loader.h), which each detector drives
 * through the network it declares and its take function.
 */
#ifndef FR_DETECT_INTERNAL_H
#define FR_DETECT_INTERNAL_H

#include "core/internal.h"
#include "nn/loader.h"
#include "nn/nn.h"

/* Manifest file names, as shipped in face-api's weights folder. */
#define FR__SSD_MANIFEST "ssd_mobilenetv1_model-weights_manifest.json"
#define FR__TINY_MANIFEST "tiny_face_detector_model-weights_manifest.json"

/* SSD-MobileNetV1: fixed 512x512 input, 5118 anchors over six feature maps. */
#define FR__SSD_SIZE 512
#define FR__SSD_ANCHORS 5118
#define FR__SSD_MAPS 6

/* TinyFaceDetector: five anchor boxes per cell, input a multiple of 32. */
#define FR__TINY_ANCHORS 5
#define FR__TINY_DEFAULT_SIZE 416
#define FR__TINY_MIN_SIZE 32
#define FR__TINY_MAX_SIZE 1024

/* Defaults of face-api's option classes and detector constants. */
#define FR__SSD_MIN_SCORE 0.5f
#define FR__SSD_IOU 0.5f
#define FR__TINY_MIN_SCORE 0.5f
#define FR__TINY_IOU 0.4f

typedef struct fr__detect_params fr__detect_params;

/*
 * What one kind of detector is: its network, defaults and functions. Each
 * detector lives in its own file and exports one of these; detector.c
 * lists them in a table, so adding a detector is a new file and one line
 * there, never a new code path through the public API, the loader or
 * `facerec convert` (which works through the table).
 */
typedef struct fr__detector_impl {
  fr_detector_kind kind;
  /* Its name (the CLI's: "ssd"), title ("SSD-MobileNetV1"), files, default
   * input side (0 when the detector has none) and how to build it: what
   * the shared loader and `facerec convert` need (src/nn/loader.h). The
   * cascades declare no network (FR__NET_NONE), only their file. */
  fr__net_spec net;
  float min_score;        /* default score threshold */
  float iou;              /* default suppression overlap */
  int n_landmarks;        /* points each face comes with: 0, 5 or 6 (see fr_face) */
  /* Accepted fr_detect_options.input_size: a multiple of input_step from
   * input_min to input_max. input_step 0: the option is ignored. */
  int input_min, input_max, input_step;
  /* Completes det once the loader has its network in m (from the model
   * file or the original files alike): takes the graphs and arrays it keeps,
   * builds its state and checks what it runs, and reads anything else from
   * the model folder dir (the cascades' XML). NULL: m's one graph becomes
   * det->g. On failure det is released by unload. */
  fr_status (*take)(fr_detector *det, fr__model *m, const char *dir, fr_error *err);
  /* Frees det->state (NULL: nothing beyond g and anchors to free). */
  void (*unload)(fr_detector *det);
  /* Finds faces: at most p->max_keep, best first, into faces; sets *n_out. */
  fr_status (*detect)(fr_context *ctx, const fr_detector *det, const fr_image *img,
                      const fr__detect_params *p, fr_face *faces, int *n_out, fr_error *err);
  /* The detector's networks, for detectors that keep them beside det->g
   * (MTCNN's three); NULL: det->g. Returns how many there are, writing at
   * most max, each with its side from net (fr__net_side). */
  int (*graphs)(const fr_detector *det, const fr__graph **g, int *side, int max);
} fr__detector_impl;

/*
 * A loaded detector. Immutable after fr__detector_create_with_kernels returns,
 * so any number of threads may run it at once; everything a run writes lives
 * in the caller's context (plans) or on the caller's stack and heap.
 */
struct fr_detector {
  const fr__detector_impl *impl;
  fr_detector_kind kind;
  const fr__kernels *kernels; /* NULL: the best set */
  fr__graph *g;               /* the main network (NULL for cascades) */
  /* SSD only: the anchor boxes (Output/extra_dim), FR__SSD_ANCHORS x 4 as
   * [ymin, xmin, ymax, xmax] relative to the padded square. */
  float *anchors;
  void *state; /* the detector's own data (other networks, cascades), freed by unload */
};

/* Options after defaults have been applied. */
struct fr__detect_params {
  float min_score;
  float iou_threshold;
  int input_size; /* the network's square input side */
  int max_keep;   /* most faces to return (already <= the caller's array) */
  int skip_eyes;  /* cascades: no eye search (fr_detect_options.skip_eyes) */
};

/* SCRFD (scrfd.c): loaded from a user's file, so not in the table of
 * detectors that `facerec convert` and the model folder know. */
extern const fr__detector_impl fr__detector_scrfd;
fr_status fr__detector_create_scrfd(const char *path, int size, const fr__kernels *kernels,
                                    fr_detector **out, fr_error *err);

/* The implementation of a kind, or NULL. */
const fr__detector_impl *fr__detector_find(fr_detector_kind kind);

/* The table of detectors, in order: how many there are, and entry i (NULL
 * out of range). `facerec convert` and the tests work through it. */
int fr__detector_count(void);
const fr__detector_impl *fr__detector_at(int i);

/*
 * Loads a detector whose graph uses the given kernel set (NULL: the best this
 * CPU supports). Tests use it to compare the scalar and vector kernels.
 */
fr_status fr__detector_create_with_kernels(fr_detector_kind kind, const char *model_dir,
                                           const fr__kernels *kernels, fr_detector **out,
                                           fr_error *err);

/* The detector's network (for benchmarks: MAC counts); NULL if it has none. */
const fr__graph *fr__detector_graph(const fr_detector *det);

/*
 * All of a detector's networks, in the order its model file (`facerec
 * convert`) keeps them, with a square input side each accepts (SSD 512, Tiny
 * 416, BlazeFace 128 or 192, MTCNN's P-, R- and O-Net 12, 24 and 48): writes
 * up to max of each (graph pointers borrowed from det) and returns how many
 * the detector has, 0 for the cascades. For conversion and its tests.
 */
int fr__detector_graphs(const fr_detector *det, const fr__graph **g, int *side, int max);

/* ---- non-maximum suppression (nms.c) ------------------------------------ */

/*
 * Intersection over union of two boxes. A box's extent is taken from the
 * signs of its size as well (x..x+width in either order), and a box with no
 * area has IoU 0 with everything, as in face-api's SSD suppression.
 */
float fr__iou(const fr_rect *a, const fr_rect *b);

/*
 * Greedy non-maximum suppression over n boxes already ordered from the best
 * score down: a box is kept when its IoU with every box kept before it is at
 * most iou_threshold. Stops after max_keep boxes. Writes the kept boxes'
 * indices (ascending, so still in score order) to keep[0..max_keep) and
 * returns how many there are. Both of face-api's suppression routines (SSD's
 * and TinyYolov2's) select exactly this set.
 */
int fr__nms_boxes(const fr_rect *boxes, int n, float iou_threshold, int max_keep, int *keep);

/*
 * The same over faces sorted by score descending (see fr__sort_faces): the
 * kept faces are moved to the front, in order, and their count returned.
 * max_keep <= 0 means no limit.
 */
int fr__nms(fr_face *faces, int n, float iou_threshold, int max_keep);

/* Sorts faces by score, highest first; equal scores keep their order. */
void fr__sort_faces(fr_face *faces, int n);

/* ---- BlazeFace (blazeface.c) -------------------------------------------- */

/* MediaPipe's face detectors from @mediapipe/face_detection: model files,
 * square input sides, and the defaults of MediaPipe's graphs (score 0.5 for
 * short range, 0.6 for full range; weighted suppression at IoU 0.3). */
#define FR__BLAZEFACE_MODEL "face_detection_short_range.tflite"
#define FR__BLAZEFACE_FULL_MODEL "face_detection_full_range.tflite"
#define FR__BLAZEFACE_SIZE 128
#define FR__BLAZEFACE_FULL_SIZE 192
#define FR__BLAZEFACE_MAX_INPUT 256 /* largest side fr__blazeface_letterbox takes */
#define FR__BLAZEFACE_MIN_SCORE 0.5f
#define FR__BLAZEFACE_FULL_MIN_SCORE 0.6f
#define FR__BLAZEFACE_IOU 0.3f
#define FR__BLAZEFACE_KEYPOINTS 6
#define FR__BLAZEFACE_COORDS 16 /* regressors per anchor: box (4) + keypoints (6 x 2) */

/* One decoded candidate, in coordinates relative to the model input (0..1
 * across the letterboxed square). */
typedef struct fr__bf_box {
  float score;
  int anchor; /* the anchor it came from; -1 once suppression absorbed it */
  float xmin, ymin, xmax, ymax;
  float kp[2 * FR__BLAZEFACE_KEYPOINTS]; /* x, y per keypoint, in model order */
} fr__bf_box;

/* Where the image sits in the letterboxed square: a point at relative input
 * coordinate t is at image pixel t * side - pad_x (and likewise for y). */
typedef struct fr__letterbox {
  double side;         /* the square's side in image pixels: max(width, height) */
  double pad_x, pad_y; /* image pixels of padding before the image, on each axis */
} fr__letterbox;

/*
 * The anchor centres of a BlazeFace kind as MediaPipe's SsdAnchorsCalculator
 * generates them: writes up to max (x, y) pairs to xy (may be NULL) and
 * returns how many the kind has (896 or 2304), or -1 for another kind.
 */
int fr__blazeface_anchors(fr_detector_kind kind, float *xy, int max);

/*
 * Letterboxes img (any format, already checked) into a size x size x 3 RGB
 * tensor with values -1..1: centred, aspect kept, black padding, bilinear
 * sampling at pixel centres. size <= FR__BLAZEFACE_MAX_INPUT. Fills *lb.
 */
void fr__blazeface_letterbox(const fr_image *img, int size, float *out, fr__letterbox *lb);

/*
 * Decodes n anchors' regressors (n x 16) and score logits (n) into the
 * candidates scoring at least min_score, in anchor order; out must hold n.
 * Returns the count. Boxes without area or with non-finite values are dropped.
 */
int fr__blazeface_decode(const float *reg, const float *logits, const float *anchors, int n,
                         float input_size, float min_score, fr__bf_box *out);

/*
 * MediaPipe's weighted non-maximum suppression: sorts c by score, then the
 * best remaining box absorbs every remaining box whose IoU with it exceeds
 * iou_threshold (itself included) and takes their score-weighted mean box and
 * keypoints, keeping its own score. The results go to the front of c, best
 * first; returns their count, at most max_keep (<= 0: no limit).
 */
int fr__blazeface_weighted_nms(fr__bf_box *c, int n, float iou_threshold, int max_keep);

#endif
