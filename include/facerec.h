/*
 * facerec.h - the whole public contract of libfacerec.
 *
 * Conventions that hold for every declaration below:
 *
 *  - Every fallible call returns an fr_status: FR_OK (0) on success, a negative
 *    FR_E_* code on failure. fr_strerror() turns a code into a short sentence.
 *  - Every fallible call takes a trailing `fr_error *err` that may be NULL. When
 *    it is not NULL and the call fails, err->status and err->message describe
 *    what went wrong in terms a user can act on (which file, which tensor, which
 *    limit). The library never prints, exits or aborts because of bad input.
 *  - Heavy objects (models, pools, contexts) are opaque handles created and
 *    destroyed in pairs; destroy(NULL) is a no-op.
 *  - Loaded models (fr_detector, fr_landmarker, fr_embedder) are immutable after
 *    creation and may be shared by any number of threads at once.
 *  - An fr_context holds the per-thread scratch state (activation arenas). Use
 *    one context per thread; a context must not be used by two threads at once.
 *  - There is no hidden global state: two handles never interfere.
 */
#ifndef FACEREC_H
#define FACEREC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define FR_API __attribute__((visibility("default")))
#else
#define FR_API
#endif

/* ------------------------------------------------------------------ */
/* Versions and errors                                                  */
/* ------------------------------------------------------------------ */

#define FR_VERSION_MAJOR 0
#define FR_VERSION_MINOR 1
#define FR_VERSION_PATCH 0

/* The library's version as "MAJOR.MINOR.PATCH"; a static string. */
FR_API const char *fr_version(void);

typedef int fr_status;

#define FR_OK 0
#define FR_E_INVALID -1     /* a bad argument from the caller */
#define FR_E_NOMEM -2       /* an allocation failed */
#define FR_E_IO -3          /* a file could not be opened, read or written */
#define FR_E_FORMAT -4      /* input bytes are malformed, truncated or inconsistent */
#define FR_E_UNSUPPORTED -5 /* well-formed input that this build cannot handle */
#define FR_E_LIMIT -6       /* input exceeds a configured size limit */
#define FR_E_MODEL -7       /* a model file is missing, corrupt or of the wrong shape */
#define FR_E_NOTFOUND -8    /* a named thing (file, face, person) does not exist */
#define FR_E_INTERNAL -9    /* a bug in facerec: please report it */

/* A short, static English sentence for a status code. Never NULL. */
FR_API const char *fr_strerror(fr_status status);

/* Details of a failure. The caller owns it (usually on its stack). */
typedef struct fr_error {
  fr_status status;
  char message[320];
} fr_error;

/* ------------------------------------------------------------------ */
/* Images                                                               */
/* ------------------------------------------------------------------ */

typedef enum fr_pixel_format {
  FR_PIXEL_GRAY = 1, /* 1 byte per pixel */
  FR_PIXEL_RGB = 2,  /* 3 bytes per pixel, R first */
  FR_PIXEL_BGR = 3,  /* 3 bytes per pixel, B first (OpenCV order) */
  FR_PIXEL_RGBA = 4, /* 4 bytes per pixel, alpha ignored */
  FR_PIXEL_BGRA = 5  /* 4 bytes per pixel, alpha ignored */
} fr_pixel_format;

/* Bytes per pixel of a format, or 0 for an unknown format. */
FR_API int fr_pixel_size(fr_pixel_format format);

/*
 * An 8-bit image. A plain value: `data` points to height rows of `stride`
 * bytes each. Whether the struct owns `data` depends on where it came from:
 * images filled by fr_image_load/decode/convert/alloc own their pixels and are
 * released with fr_image_free(); images made by fr_image_wrap() borrow the
 * caller's buffer and must not be passed to fr_image_free().
 */
typedef struct fr_image {
  uint8_t *data;
  int width;
  int height;
  int stride; /* bytes from one row to the next, >= width * fr_pixel_size(format) */
  fr_pixel_format format;
} fr_image;

/*
 * Limits applied when decoding untrusted bytes, checked against the header
 * before any pixel memory is allocated. NULL anywhere a limits pointer is
 * accepted means the defaults below.
 */
typedef struct fr_image_limits {
  int max_dimension;  /* largest width or height accepted */
  int64_t max_pixels; /* largest width * height accepted */
} fr_image_limits;

#define FR_DEFAULT_MAX_DIMENSION 16384
#define FR_DEFAULT_MAX_PIXELS (64LL * 1024 * 1024)

/*
 * Decodes a JPEG, PNG, PGM or PPM held in memory (the format is recognised from
 * the first bytes). Colour images come out as FR_PIXEL_RGB, grayscale ones as
 * FR_PIXEL_GRAY. JPEG EXIF orientation is applied, so the result is upright.
 * On failure *out is zeroed. Thread-safe.
 */
FR_API fr_status fr_image_decode(const void *bytes, size_t size, const fr_image_limits *limits,
                                 fr_image *out, fr_error *err);

/* Reads a file and decodes it as fr_image_decode() does. Thread-safe. */
FR_API fr_status fr_image_load(const char *path, const fr_image_limits *limits, fr_image *out,
                               fr_error *err);

/*
 * Describes a caller's pixel buffer without copying it: the raw-pixel entry
 * point, so that no encoding is ever required. The buffer must stay valid and
 * unchanged while the image is used. Checks the arguments (positive sizes,
 * stride large enough, known format, limits).
 */
FR_API fr_status fr_image_wrap(void *data, int width, int height, int stride,
                               fr_pixel_format format, fr_image *out, fr_error *err);

/* Allocates an owned image with a tight stride; pixels are zeroed. */
FR_API fr_status fr_image_alloc(int width, int height, fr_pixel_format format, fr_image *out,
                                fr_error *err);

/* Makes an owned copy of src in another pixel format (or the same). */
FR_API fr_status fr_image_convert(const fr_image *src, fr_pixel_format format, fr_image *out,
                                  fr_error *err);

/* Writes an image as PNG (by extension .png) or PPM/PGM (.ppm, .pgm, .pnm). */
FR_API fr_status fr_image_save(const fr_image *img, const char *path, fr_error *err);

/* Releases the pixels of an owned image and zeroes it. NULL or empty: no-op. */
FR_API void fr_image_free(fr_image *img);

/* ------------------------------------------------------------------ */
/* Threads and per-thread contexts                                      */
/* ------------------------------------------------------------------ */

/*
 * A pool of worker threads that splits the work inside one network layer.
 * nthreads <= 0 means one per online CPU; 1 means no extra threads. A pool may
 * serve several contexts, but runs one parallel job at a time (callers are
 * serialised), so give each busy thread of your own its own pool or none.
 * Idle workers sleep; they never spin.
 */
typedef struct fr_pool fr_pool;
FR_API fr_status fr_pool_create(int nthreads, fr_pool **out, fr_error *err);
FR_API void fr_pool_destroy(fr_pool *pool);
FR_API int fr_pool_size(const fr_pool *pool); /* 1 for NULL */

/*
 * Per-thread state: activation memory for every network run through it,
 * planned once per network and input size and then reused, so that the hot
 * path does not allocate. `pool` may be NULL (single-threaded) and is borrowed:
 * it must outlive the context. Not thread-safe: one thread at a time.
 */
typedef struct fr_context fr_context;
FR_API fr_status fr_context_create(fr_pool *pool, fr_context **out, fr_error *err);
FR_API void fr_context_destroy(fr_context *ctx);

/*
 * Which compute kernels this process uses: "avx2" or "scalar". Chosen once per
 * model at load from the CPU's features. The environment variable
 * FACEREC_KERNELS=scalar forces the portable reference kernels.
 */
FR_API const char *fr_kernels_name(void);

/* ------------------------------------------------------------------ */
/* Faces                                                                */
/* ------------------------------------------------------------------ */

typedef struct fr_point {
  float x, y;
} fr_point;

/* A box in image pixel coordinates: top-left corner plus size. */
typedef struct fr_rect {
  float x, y, width, height;
} fr_rect;

#define FR_MAX_LANDMARKS 68

/* One detected face. A plain value; landmarks are in image coordinates. */
typedef struct fr_face {
  fr_rect box;
  float score;       /* detector confidence in [0, 1] */
  int n_landmarks;   /* 0 until landmarks are computed, then 68 */
  fr_point landmarks[FR_MAX_LANDMARKS];
} fr_face;

/*
 * Where models are looked for when a model_dir argument is NULL, in order:
 * the environment variable FACEREC_MODELS, ./models, the installed share dir.
 * Writes the first directory holding `file` into buf. FR_E_NOTFOUND if none.
 */
FR_API fr_status fr_model_path(const char *file, char *buf, size_t bufsize, fr_error *err);

/* ------------------------------------------------------------------ */
/* Detection                                                            */
/* ------------------------------------------------------------------ */

typedef enum fr_detector_kind {
  FR_DETECTOR_SSD = 1, /* SSD-MobileNetV1 (face-api), 512x512 input: accurate */
  FR_DETECTOR_TINY = 2 /* TinyFaceDetector (face-api), input 128..608: fast */
} fr_detector_kind;

typedef struct fr_detect_options {
  float min_score;     /* drop faces below this score; <= 0 means the model's default */
  float iou_threshold; /* non-maximum suppression overlap; <= 0 means the default */
  int input_size;      /* TinyFaceDetector input (multiple of 32); <= 0: default 416 */
  int max_faces;       /* <= 0: no limit beyond the output array */
} fr_detect_options;

/* A loaded detector: immutable, shareable between threads. */
typedef struct fr_detector fr_detector;

/* Loads a detector's weights from model_dir (NULL: fr_model_path order). */
FR_API fr_status fr_detector_create(fr_detector_kind kind, const char *model_dir,
                                    fr_detector **out, fr_error *err);
FR_API void fr_detector_destroy(fr_detector *det);

/*
 * Finds faces in an image (any pixel format). Writes up to max_out faces,
 * highest score first, without landmarks, and sets *n_out to the number
 * written. opts may be NULL for defaults.
 */
FR_API fr_status fr_detect(fr_context *ctx, const fr_detector *det, const fr_image *img,
                           const fr_detect_options *opts, fr_face *faces, int max_out,
                           int *n_out, fr_error *err);

/* ------------------------------------------------------------------ */
/* Landmarks                                                            */
/* ------------------------------------------------------------------ */

typedef enum fr_landmarker_kind {
  FR_LANDMARKS_68 = 1,     /* FaceLandmark68Net */
  FR_LANDMARKS_68_TINY = 2 /* FaceLandmark68TinyNet */
} fr_landmarker_kind;

typedef struct fr_landmarker fr_landmarker;
FR_API fr_status fr_landmarker_create(fr_landmarker_kind kind, const char *model_dir,
                                      fr_landmarker **out, fr_error *err);
FR_API void fr_landmarker_destroy(fr_landmarker *lm);

/* Computes face->landmarks (68 points) from face->box. */
FR_API fr_status fr_landmarks(fr_context *ctx, const fr_landmarker *lm, const fr_image *img,
                              fr_face *face, fr_error *err);

/* ------------------------------------------------------------------ */
/* Alignment                                                            */
/* ------------------------------------------------------------------ */

typedef enum fr_align_method {
  /* face-api's crop: the landmarks' bounding box grown to an upright square. */
  FR_ALIGN_UPRIGHT = 1,
  /* Least-squares similarity transform of the landmarks onto a canonical
   * face template, warped bilinearly to a chip with dlib-style padding. */
  FR_ALIGN_SIMILARITY = 2
} fr_align_method;

/*
 * Cuts an aligned face chip of size x size RGB pixels out of img, using the
 * face's 68 landmarks. *chip is allocated (owned; fr_image_free it).
 */
FR_API fr_status fr_align(const fr_image *img, const fr_face *face, fr_align_method method,
                          int size, fr_image *chip, fr_error *err);

/* ------------------------------------------------------------------ */
/* Embedding                                                            */
/* ------------------------------------------------------------------ */

typedef enum fr_embedder_kind {
  FR_EMBEDDER_FACEAPI = 1 /* FaceRecognitionNet (dlib ResNet-29), 150x150 in, 128-d out */
} fr_embedder_kind;

typedef struct fr_embedder fr_embedder;
FR_API fr_status fr_embedder_create(fr_embedder_kind kind, const char *model_dir,
                                    fr_embedder **out, fr_error *err);
FR_API void fr_embedder_destroy(fr_embedder *emb);
FR_API int fr_embedder_dim(const fr_embedder *emb);        /* e.g. 128 */
FR_API int fr_embedder_input_size(const fr_embedder *emb); /* e.g. 150 */

/*
 * Describes n face chips: out receives n * fr_embedder_dim() floats. A chip of
 * any size is padded to a square and resized to the network input exactly as
 * the reference implementation does. The chips run as one batch.
 */
FR_API fr_status fr_embed(fr_context *ctx, const fr_embedder *emb, const fr_image *chips, int n,
                          float *out, fr_error *err);

/* Euclidean distance between two descriptors of length dim. */
FR_API float fr_distance(const float *a, const float *b, int dim);

/* ------------------------------------------------------------------ */
/* The whole pipeline: detect, landmark, align, describe                */
/* ------------------------------------------------------------------ */

typedef struct fr_pipeline_options {
  fr_detector_kind detector;   /* default FR_DETECTOR_SSD */
  int detector_cascade;        /* 1: when no face is found, retry with Tiny@320,
                                  Tiny@224 and SSD before giving up (default 0) */
  fr_detect_options detect;    /* passed to fr_detect */
  fr_landmarker_kind landmarks; /* default FR_LANDMARKS_68 */
  fr_align_method align;       /* default FR_ALIGN_SIMILARITY (higher on LFW) */
  int flip;                    /* 1: average the descriptors of the chip and its mirror */
  int jitter;                  /* N > 0: average N randomly jittered chips (dlib's num_jitters) */
  unsigned seed;               /* seed of the jitter (results are reproducible) */
} fr_pipeline_options;

/* Fills opts with the defaults above. */
FR_API void fr_pipeline_options_default(fr_pipeline_options *opts);

/* A loaded pipeline: its models, immutable and shareable between threads. */
typedef struct fr_pipeline fr_pipeline;

/* Loads the models the options name from model_dir (NULL: fr_model_path order). */
FR_API fr_status fr_pipeline_create(const fr_pipeline_options *opts, const char *model_dir,
                                    fr_pipeline **out, fr_error *err);
FR_API void fr_pipeline_destroy(fr_pipeline *pipe);
FR_API int fr_pipeline_dim(const fr_pipeline *pipe);

/* Distance under which two descriptors are called the same person by default
 * (0.6 for FaceRecognitionNet, the value its authors publish). */
FR_API float fr_pipeline_threshold(const fr_pipeline *pipe);

/*
 * Finds every face in img and describes it: faces[i] gets box, score and
 * landmarks; desc[i * dim .. ] its descriptor (desc may be NULL to skip the
 * embedding). At most max_faces are written, highest score first; *n_faces
 * is set to the number written (0 when there is no face: not an error).
 */
FR_API fr_status fr_pipeline_run(fr_context *ctx, const fr_pipeline *pipe, const fr_image *img,
                                 fr_face *faces, float *desc, int max_faces, int *n_faces,
                                 fr_error *err);

/* Describes an image that already is an aligned face chip (resized as needed). */
FR_API fr_status fr_pipeline_describe_chip(fr_context *ctx, const fr_pipeline *pipe,
                                           const fr_image *chip, float *desc, fr_error *err);

#ifdef __cplusplus
}
#endif

#endif /* FACEREC_H */
