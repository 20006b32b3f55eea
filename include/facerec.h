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
#define FR_E_ABORTED -10    /* the context's abort callback asked the call to stop */

/* A short, static English sentence for a status code. Never NULL. */
FR_API const char *fr_strerror(fr_status status);
/* The name of a status code as it is spelled in this header ("FR_OK",
 * "FR_E_NOTFOUND", ...), for logs and bindings that map codes to their own
 * errors; NULL for a value that is no status. Thread-safe. */
FR_API const char *fr_status_name(fr_status status);

/*
 * Log messages. The library never prints; it tells a callback what it chose
 * and did that an application may want in its own logs: the models a
 * pipeline loaded and how long that took, the kernel set in use, a gallery
 * upgraded to a newer schema. fr_log_set installs the callback for the whole
 * process (NULL: none, the default) and the least level it wants; call it
 * before other threads use the library, or accept that a message racing
 * with the change may go to the old callback. The callback may be called
 * from any thread at once, with a message that lives only for the call.
 */
typedef enum fr_log_level {
  FR_LOG_LEVEL_DEBUG = 1, /* detail for whoever debugs a deployment */
  FR_LOG_LEVEL_INFO = 2,  /* what was loaded or chosen */
  FR_LOG_LEVEL_WARN = 3   /* something worked, but not as well as it could */
} fr_log_level;
typedef void (*fr_log_fn)(fr_log_level level, const char *message, void *user);
FR_API void fr_log_set(fr_log_fn fn, void *user, fr_log_level min_level);

/* Details of a failure. The caller owns it (usually on its stack). */
typedef struct fr_error {
  fr_status status;
  char message[320];
} fr_error;

/*
 * Memory. Every allocation the library itself makes goes through an
 * allocator: malloc, realloc and free by default. fr_set_allocator installs
 * other functions (an arena, a tracking allocator, a pool on a small device);
 * they must be thread-safe, and realloc(p, size) and free(p) are only given
 * blocks from this allocator's malloc or realloc. Call it once, before any
 * other library call, since memory allocated before the change would be
 * freed through the new functions; NULL restores the defaults (with the same
 * rule). The libraries facerec uses (libjpeg, libspng/libpng, SQLite, cJSON,
 * libsvm) keep their own allocations. The struct is copied.
 */
typedef struct fr_allocator {
  void *(*malloc)(size_t size, void *user);
  void *(*realloc)(void *p, size_t size, void *user);
  void (*free)(void *p, void *user);
  void *user;
} fr_allocator;
FR_API fr_status fr_set_allocator(const fr_allocator *a, fr_error *err);

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
 * stride large enough, known format) and the default size limits
 * (FR_DEFAULT_MAX_DIMENSION, FR_DEFAULT_MAX_PIXELS).
 */
FR_API fr_status fr_image_wrap(void *data, int width, int height, int stride,
                               fr_pixel_format format, fr_image *out, fr_error *err);

/* Allocates an owned image with a tight stride; pixels are zeroed. The
 * default size limits apply. */
FR_API fr_status fr_image_alloc(int width, int height, fr_pixel_format format, fr_image *out,
                                fr_error *err);

/* Makes an owned copy of src in another pixel format (or the same). out may
 * be src itself; the old pixels are then not freed (the caller still owns
 * them), so free them first only if you hold another pointer to them. */
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
 * Lets a long call made with this context be stopped: before every network
 * run (each detector pass, each batch of landmarks or descriptors) the
 * library calls should_abort(user) on the calling thread, and when it returns
 * non-zero the call stops there and returns FR_E_ABORTED, leaving its outputs
 * unspecified. For a server's shutdown, a client that went away, a video
 * that was closed. should_abort must be cheap and thread-safe with respect
 * to whoever flips it (an atomic flag). NULL (the default) never stops.
 */
FR_API void fr_context_set_abort(fr_context *ctx, int (*should_abort)(void *user), void *user);

/*
 * Which compute kernels this process uses: "avx512", "avx2" or "scalar".
 * Chosen once per process, on first use, from the CPU's features; every
 * model, the int8 convolutions, the gallery scan and the cascade scan follow
 * it. The environment variable FACEREC_KERNELS=scalar forces the portable
 * reference kernels, and FACEREC_KERNELS=avx2 the AVX2 ones on a CPU that
 * also has AVX-512 (docs/kernels.md says what differs between the sets).
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

/*
 * One detected face. A plain value; landmarks are in image coordinates.
 * n_landmarks says which set the points are:
 *   68  the iBUG 300-W points of the 68-point landmark nets (fr_landmarks);
 *    5  from MTCNN: eye on the image's left, eye on the image's right, nose
 *       tip, mouth corner on the left, mouth corner on the right (the order of
 *       the ArcFace alignment template);
 *    6  from BlazeFace: left eye, right eye, nose tip, mouth centre, left ear
 *       tragion, right ear tragion ("left" meaning the image's left);
 *    2  from the Haar and LBP cascades when OpenCV's eye cascade found both
 *       eyes inside the face: the eye centre on the image's left, then the
 *       one on the image's right (the order of the first two points of 5);
 *    0  none (the face-api detectors; cascade faces whose eyes were not found).
 */
typedef struct fr_face {
  fr_rect box;
  float score;       /* detector confidence in [0, 1] */
  int n_landmarks;   /* 0, 2, 5, 6 or 68: see above */
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
  FR_DETECTOR_SSD = 1,            /* SSD-MobileNetV1 (face-api), 512x512 input: accurate */
  FR_DETECTOR_TINY = 2,           /* TinyFaceDetector (face-api), input 128..608: fast */
  FR_DETECTOR_MTCNN = 3,          /* MTCNN P/R/O-Net (TFLite): 5 landmarks */
  FR_DETECTOR_BLAZEFACE = 4,      /* BlazeFace short range (MediaPipe): 6 keypoints */
  FR_DETECTOR_BLAZEFACE_FULL = 5, /* BlazeFace full range (MediaPipe): 6 keypoints */
  FR_DETECTOR_HAAR = 6,           /* OpenCV Haar cascade (frontalface_default) */
  FR_DETECTOR_LBP = 7,            /* OpenCV LBP cascade (frontalface) */
  /* InsightFace's SCRFD from the user's ONNX file (fr_detector_create_file):
   * 5 landmarks, ArcFace's order. Named "scrfd". */
  FR_DETECTOR_SCRFD = 8
} fr_detector_kind;

/*
 * The short name of a detector kind as the CLI spells it ("ssd", "tiny",
 * "mtcnn", "blazeface", "blazeface-full", "haar", "lbp"), or NULL for a kind
 * this library does not know. The string is static.
 */
FR_API const char *fr_detector_kind_name(fr_detector_kind kind);

/* The kind with that short name, or 0 when there is none. */
FR_API fr_detector_kind fr_detector_kind_from_name(const char *name);

typedef struct fr_detect_options {
  float min_score;     /* drop faces below this score; <= 0 means the model's default */
  float iou_threshold; /* non-maximum suppression overlap; <= 0 means the default */
  int input_size;      /* TinyFaceDetector input (multiple of 32); <= 0: default 416.
                          MTCNN: the smallest face side in pixels (>= 12, default 20) */
  int max_faces;       /* <= 0: no limit beyond the output array */
  int skip_eyes;       /* Haar/LBP: nonzero skips the eye cascade, so faces get no
                          2-point landmarks (saves about 1 ms per face when the 68
                          landmarks will be computed anyway, as fr_pipeline does) */
} fr_detect_options;

/* A loaded detector: immutable, shareable between threads. */
typedef struct fr_detector fr_detector;

/* Loads a detector's weights from model_dir (NULL: fr_model_path order). */
/* Loads a detector the user brings as a file: FR_DETECTOR_SCRFD and an
 * InsightFace SCRFD ONNX export (det_10g.onnx, det_500m.onnx, ...), run at
 * input_size x input_size (0: 640; a multiple of 32). Outputs are told apart
 * by shape, so any export order works; FR_E_MODEL if they do not look like
 * SCRFD's. *out is owned by the caller (fr_detector_destroy). */
FR_API fr_status fr_detector_create_file(fr_detector_kind kind, const char *path, int input_size,
                                         fr_detector **out, fr_error *err);
FR_API fr_status fr_detector_create(fr_detector_kind kind, const char *model_dir,
                                    fr_detector **out, fr_error *err);
FR_API void fr_detector_destroy(fr_detector *det);

/*
 * Finds faces in an image (any pixel format). Writes up to max_out faces,
 * highest score first, and sets *n_out to the number written. Faces carry
 * the detector's own points if it has any (MTCNN 5, BlazeFace 6, the Haar and
 * LBP cascades 2 eyes where found; see fr_face),
 * never the 68 landmarks. opts may be NULL for defaults.
 */
FR_API fr_status fr_detect(fr_context *ctx, const fr_detector *det, const fr_image *img,
                           const fr_detect_options *opts, fr_face *faces, int max_out,
                           int *n_out, fr_error *err);

/* ------------------------------------------------------------------ */
/* Landmarks                                                            */
/* ------------------------------------------------------------------ */

typedef enum fr_landmarker_kind {
  FR_LANDMARKER_68 = 1,     /* FaceLandmark68Net */
  FR_LANDMARKER_68_TINY = 2 /* FaceLandmark68TinyNet */
} fr_landmarker_kind;
/* The names these values had before every enum value carried its type's
 * name; kept so that older code still builds. */
#define FR_LANDMARKS_68 FR_LANDMARKER_68
#define FR_LANDMARKS_68_TINY FR_LANDMARKER_68_TINY

/* Names as the model files spell them ("landmarks68", "landmarks68-tiny");
 * NULL or 0 when unknown, like the detector functions above. */
FR_API const char *fr_landmarker_kind_name(fr_landmarker_kind kind);
FR_API fr_landmarker_kind fr_landmarker_kind_from_name(const char *name);

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
  FR_ALIGN_SIMILARITY = 2,
  /* ArcFace/InsightFace: similarity transform of five points (eyes, nose
   * tip, mouth corners; from MTCNN directly or derived from 68 landmarks)
   * onto the standard 112x112 template, scaled to the chip size. */
  FR_ALIGN_ARCFACE = 3,
  /* FaceNet/facenet-pytorch style: the detector's box grown by a margin,
   * cropped upright and resized (no landmarks needed; usually 160x160). */
  FR_ALIGN_FACENET = 4
} fr_align_method;

/*
 * Cuts an aligned face chip of size x size RGB pixels out of img, using the
 * face's landmarks as the method needs them (UPRIGHT: 68; SIMILARITY: 68,
 * or the 2 eyes, which go onto the template's eyes; ARCFACE: 5, 68 or the
 * 2 eyes; FACENET: only the box). A face without the points its
 * method needs is FR_E_INVALID. *chip is allocated (owned; fr_image_free it).
 */
FR_API fr_status fr_align(const fr_image *img, const fr_face *face, fr_align_method method,
                          int size, fr_image *chip, fr_error *err);

/* ------------------------------------------------------------------ */
/* Embedding                                                            */
/* ------------------------------------------------------------------ */

typedef enum fr_embedder_kind {
  FR_EMBEDDER_FACEAPI = 1,      /* FaceRecognitionNet (dlib ResNet-29), 150x150 in, 128-d out */
  FR_EMBEDDER_MOBILEFACENET = 2, /* MobileFaceNet (TFLite), 112x112 in, 192-d L2-normalised out */
  /* FaceRecognitionNet with int8 post-training quantised convolutions (same
   * weights and descriptors within a few hundredths; faster). */
  FR_EMBEDDER_FACEAPI_INT8 = 3,
  /* A network the user brings (ONNX, TFLite or a facerec model file) with
   * its model card: created by fr_embedder_create_file, or by a pipeline
   * whose options name model_file. Its name is "card". */
  FR_EMBEDDER_CARD = 4
} fr_embedder_kind;

/* Short names as the CLI spells them ("faceapi", "mobilefacenet"); NULL or 0
 * when unknown, like the detector functions above. */
FR_API const char *fr_embedder_kind_name(fr_embedder_kind kind);
FR_API fr_embedder_kind fr_embedder_kind_from_name(const char *name);

/* The descriptor length of an embedder kind (0 when unknown), without
 * loading its weights: what opening an existing gallery needs to know. */
FR_API int fr_embedder_kind_dim(fr_embedder_kind kind);

typedef struct fr_embedder fr_embedder;
FR_API fr_status fr_embedder_create(fr_embedder_kind kind, const char *model_dir,
                                    fr_embedder **out, fr_error *err);
/*
 * Loads a user's embedder from its model card: path is the card (NAME.json)
 * or the network file with its card beside it (NAME.onnx and NAME.json).
 * docs/models.md describes the card. A bad card is FR_E_FORMAT naming the
 * field; a network that does not give dim numbers for one input_size chip
 * is FR_E_MODEL; an operator the importer lacks, FR_E_UNSUPPORTED naming
 * it and its node. *out is owned by the caller (fr_embedder_destroy).
 */
FR_API fr_status fr_embedder_create_file(const char *path, fr_embedder **out, fr_error *err);
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

/* Cosine distance 1 - a.b / (|a| |b|), in [0, 2], between two descriptors of
 * length dim (accumulated in double); 1 when either has zero length. */
FR_API float fr_cosine_distance(const float *a, const float *b, int dim);

/* ------------------------------------------------------------------ */
/* The whole pipeline: detect, landmark, align, describe                */
/* ------------------------------------------------------------------ */

typedef struct fr_pipeline_options {
  fr_detector_kind detector;   /* default FR_DETECTOR_SSD */
  int detector_cascade;        /* 1: when no face is found, retry with Tiny@320,
                                  Tiny@224 and SSD, then SSD at score 0.2 and
                                  Tiny@320 at 0.1 before giving up (default 0):
                                  for images known to hold a face */
  fr_detect_options detect;    /* passed to fr_detect */
  fr_landmarker_kind landmarks; /* default FR_LANDMARKS_68 */
  fr_align_method align;       /* default 0: the embedder's own (see below) */
  int flip;                    /* 1: average the descriptors of the chip and its mirror */
  int jitter;                  /* N > 0: average N randomly jittered chips (dlib's num_jitters) */
  unsigned seed;               /* seed of the jitter (results are reproducible) */
  fr_embedder_kind embedder;   /* default FR_EMBEDDER_FACEAPI */
  /* A user's model: its card or network file (fr_embedder_create_file).
   * When set, the embedder is FR_EMBEDDER_CARD and the default alignment
   * the card's. Not copied: it must outlive the calls that take opts. */
  const char *model_file;
  /* The network file of a detector the user brings (detector
   * FR_DETECTOR_SCRFD); not copied, like model_file. */
  const char *detector_file;
} fr_pipeline_options;

/*
 * Fills opts with the defaults above. align is left 0, which means the
 * embedder's own alignment (SIMILARITY for FACEAPI, ARCFACE for
 * MOBILEFACENET); fr_pipeline_options_resolve() says which.
 */
FR_API void fr_pipeline_options_default(fr_pipeline_options *opts);

/*
 * Replaces every 0 ("default") field of opts by the value it stands for and
 * checks the kinds and ranges: FR_E_INVALID names a bad field.
 */
FR_API fr_status fr_pipeline_options_resolve(fr_pipeline_options *opts, fr_error *err);

/* A loaded pipeline: its models, immutable and shareable between threads. */
typedef struct fr_pipeline fr_pipeline;

/* Loads the models the options name from model_dir (NULL: fr_model_path order). */
FR_API fr_status fr_pipeline_create(const fr_pipeline_options *opts, const char *model_dir,
                                    fr_pipeline **out, fr_error *err);
FR_API void fr_pipeline_destroy(fr_pipeline *pipe);
FR_API int fr_pipeline_dim(const fr_pipeline *pipe);

/* The model id of the descriptors a pipeline created with opts produces
 * (opts NULL: the defaults), such as
 * "faceapi-1.7.15/face_recognition_model/similarity": what a gallery records
 * so that it is never searched with descriptors of another model. Needs no
 * loaded model. Thread-safe. */
FR_API fr_status fr_pipeline_model_id(const fr_pipeline_options *opts, char *buf, size_t size,
                                      fr_error *err);

/* Euclidean distance under which two descriptors are called the same person
 * by default: the best threshold of the embedder's LFW View 2 evaluation
 * (0.6043 for FaceRecognitionNet; its authors publish 0.6). */
FR_API float fr_pipeline_threshold(const fr_pipeline *pipe);

/* The distance identification ranks by. */
typedef enum fr_metric {
  FR_METRIC_EUCLIDEAN = 1, /* |a - b|: what the descriptor models are trained for */
  FR_METRIC_COSINE = 2     /* 1 - a.b / (|a| |b|), in [0, 2] */
} fr_metric;

/*
 * The verification threshold for either metric (cosine: 1 - cos, 0.0906 for
 * FaceRecognitionNet), 0 when none was measured; and identification's
 * default "unknown" cut (0.44 Euclidean / 0.0536 cosine for
 * FaceRecognitionNet, 0.9254 for MobileFaceNet): the largest distance that
 * kept strangers' false-accept rate at or under 1% against a 300-person LFW
 * gallery. A new gallery records the identification cuts.
 */
FR_API float fr_pipeline_metric_threshold(const fr_pipeline *pipe, fr_metric metric);
FR_API float fr_pipeline_identify_threshold(const fr_pipeline *pipe, fr_metric metric);

/*
 * Finds every face in img and describes it: faces[i] gets box, score and
 * landmarks; desc[i * dim .. ] its descriptor (desc may be NULL to skip the
 * embedding). At most max_faces are written, highest score first; *n_faces
 * is set to the number written (0 when there is no face: not an error).
 */
FR_API fr_status fr_pipeline_run(fr_context *ctx, const fr_pipeline *pipe, const fr_image *img,
                                 fr_face *faces, float *desc, int max_faces, int *n_faces,
                                 fr_error *err);

/*
 * Describes one face whose 68 landmarks are already known (from
 * fr_pipeline_run with desc NULL, or from fr_landmarks): aligns it with the
 * pipeline's method and runs the embedder (with flip/jitter as configured).
 * A face with fewer points than the method needs, or with only a cascade's
 * 2 eyes, gets the pipeline's 68-point net first when it has one (as
 * fr_pipeline_run does: those points align better than the eyes).
 */
FR_API fr_status fr_pipeline_describe_face(fr_context *ctx, const fr_pipeline *pipe,
                                           const fr_image *img, const fr_face *face, float *desc,
                                           fr_error *err);

/*
 * Describes n faces at once, of one image or of several: faces[i] is a face
 * of images[image_of[i]] (image_of NULL: every face is of images[0]), and
 * desc receives n descriptors of fr_pipeline_dim floats, in order. The
 * chips go through the embedder as one batch, which costs less per face
 * than n calls of fr_pipeline_describe_face and gives the same descriptors.
 * Faces that lack the points the alignment needs get the 68-point net first,
 * as there (on copies: faces is not written). n may be 0. The context grows
 * to hold n chips; one context per thread.
 */
FR_API fr_status fr_pipeline_describe_faces(fr_context *ctx, const fr_pipeline *pipe, const fr_image *images,
                                            int n_images, const fr_face *faces, const int *image_of, int n,
                                            float *desc, fr_error *err);

/* Describes an image that already is an aligned face chip (resized as needed). */
FR_API fr_status fr_pipeline_describe_chip(fr_context *ctx, const fr_pipeline *pipe,
                                           const fr_image *chip, float *desc, fr_error *err);

/* ------------------------------------------------------------------ */
/* Recognition: photos, augmentation, the gallery, identification      */
/* ------------------------------------------------------------------ */

/* How the faces of a photo were found (see fr_describe_photo). */
typedef enum fr_face_source {
  FR_FACE_SOURCE_DETECTED = 1,   /* the detector found them in the image as given */
  FR_FACE_SOURCE_PADDED = 2,     /* found only after padding the image: a tight face crop */
  FR_FACE_SOURCE_WHOLE_IMAGE = 3 /* no face found: the whole image was described as a face */
} fr_face_source;
/* The older names of these values (see FR_LANDMARKS_68). */
#define FR_FACE_DETECTED FR_FACE_SOURCE_DETECTED
#define FR_FACE_PADDED FR_FACE_SOURCE_PADDED
#define FR_FACE_WHOLE_IMAGE FR_FACE_SOURCE_WHOLE_IMAGE

/*
 * Describes every face of a photo, like fr_pipeline_run(), but also accepts
 * photos that already are tight face crops, which the detectors usually miss:
 * when nothing is found the image is padded with a neutral border (25%, then
 * 60% of its larger side on every edge, which is the same as detecting at two
 * smaller scales) and detection is retried; boxes and landmarks found that way
 * are mapped back to the original image. Only if that fails too and
 * `whole_image_fallback` is 1, the whole image is described as one face chip
 * (box = the whole image, n_landmarks = 0). *source (may be NULL) says which
 * path was taken; when no face is found at all *n_faces is 0 and *source is 0.
 * Thread-safety as fr_pipeline_run(): ctx belongs to the calling thread.
 */
FR_API fr_status fr_describe_photo(fr_context *ctx, const fr_pipeline *pipe, const fr_image *img,
                                   int whole_image_fallback, fr_face *faces, float *desc,
                                   int max_faces, int *n_faces, fr_face_source *source,
                                   fr_error *err);

/*
 * SHA-256 of a byte buffer as 64 lowercase hex digits plus a terminating NUL.
 * The gallery uses it to recognise an image that was already enrolled.
 */
FR_API void fr_sha256_hex(const void *data, size_t size, char hex[65]);

/*
 * Seeded photometric and geometric augmentation of a face image. Each field
 * is the largest strength drawn; 0 disables that transform. A draw is uniform
 * in [-max, +max] unless said otherwise. The same seed gives the same image.
 */
typedef struct fr_augment_options {
  float flip_probability; /* chance of a horizontal mirror, 0..1 */
  float brightness;       /* added to every channel, in 0..255 units */
  float contrast;         /* pixel scaled about the mean by 1 + draw */
  float gamma;            /* pixel^(exp(draw)) on 0..1 values */
  float rotation;         /* degrees about the centre */
  float shear;            /* horizontal shear factor (x += shear * (y - centre)) */
  float zoom;             /* relative scale about the centre, 1 + draw */
  float grayscale_probability; /* chance of replacing colour by luma, 0..1 */
  float blur_sigma;       /* Gaussian blur sigma drawn in [0, blur_sigma] pixels */
} fr_augment_options;

/* Fills opts with moderate ranges suited to face chips (flip 0.5, brightness
 * 25, contrast 0.2, gamma 0.25, rotation 10, shear 0.1, zoom 0.08, grayscale
 * 0.2, blur 1.2). */
FR_API void fr_augment_options_default(fr_augment_options *opts);

/*
 * Writes a randomly transformed copy of src (any pixel format) into *out, an
 * owned RGB image of the same size (fr_image_free it). Geometric transforms
 * share one bilinear warp and fill with the border pixels. Thread-safe.
 */
FR_API fr_status fr_augment(const fr_image *src, const fr_augment_options *opts, uint64_t seed,
                            fr_image *out, fr_error *err);

/* Gaussian blur of an image into an owned copy of the same format; sigma 0
 * copies. Separable, border pixels replicated. Thread-safe. */
FR_API fr_status fr_gaussian_blur(const fr_image *src, float sigma, fr_image *out, fr_error *err);

/*
 * A gallery: the people a system knows and their face descriptors, stored in
 * one SQLite file (WAL journal, schema versioned with PRAGMA user_version and
 * migrated on open). Every descriptor is tagged with the model that made it;
 * a gallery holds one model's descriptors only, and opening it for another
 * model fails with FR_E_MODEL. Each write is one transaction, so the file is
 * consistent after a crash at any point: a write either happened entirely or
 * not at all, and a write that returned FR_OK is durable.
 *
 * In memory the descriptors are kept as one contiguous 64-byte aligned matrix,
 * reloaded lazily when this or another connection changed the file, and
 * searched with AVX2 when the CPU has it.
 *
 * A handle is used by one thread at a time; several handles (in several
 * processes too) may open the same file.
 *
 * Person ids and face ids are never given out again once deleted, across
 * closes and reopens too, so an id a client kept can never reach someone
 * else. (A gallery upgraded from schema version 2 or older starts counting
 * at its largest id present: only ids deleted from the top before that
 * upgrade, of which the old file kept no record, can come back once.)
 */
typedef struct fr_gallery fr_gallery;

#define FR_NAME_MAX 128 /* bytes of a person's name, including the NUL */

/* Limits the gallery enforces, each with an FR_E_LIMIT error naming it. */
#define FR_GALLERY_MAX_METADATA 65536 /* bytes of a person's metadata text */
#define FR_GALLERY_MAX_FACES 50000    /* descriptors per person */
#define FR_GALLERY_MAX_K 1000         /* results of one search or identify call */


/*
 * Opens the gallery at path, creating it when missing (":memory:" makes a
 * private in-memory one). model_id names the descriptor model (see
 * fr_pipeline_model_id), dim its length, and threshold the distance under
 * which two descriptors of that model are the same person (from the model's
 * LFW evaluation, e.g. fr_pipeline_threshold()). A new gallery records all
 * three; an existing one must match model_id and dim (FR_E_MODEL otherwise)
 * and keeps the threshold it recorded.
 *
 * A new gallery file is created with mode 0600, because it holds biometric
 * data; SQLite gives its -wal and -shm files the same mode. An existing file
 * keeps the mode it has. A path that cannot be created (a missing folder,
 * say) is FR_E_IO. An older file is upgraded in place, in one transaction;
 * one whose descriptors refer to people it does not hold is FR_E_FORMAT and
 * is left as it was.
 */
FR_API fr_status fr_gallery_open(const char *path, const char *model_id, int dim, float threshold,
                                 fr_gallery **out, fr_error *err);
FR_API void fr_gallery_close(fr_gallery *g);

/* Deprecated: the old name of fr_pipeline_model_id(), kept for callers
 * written before it moved to the pipeline. */
FR_API fr_status fr_gallery_model_id(const fr_pipeline_options *opts, char *buf, size_t size,
                                     fr_error *err);

FR_API int fr_gallery_dim(const fr_gallery *g);
/* The same-person distance threshold recorded in the gallery (Euclidean). */
FR_API float fr_gallery_threshold(const fr_gallery *g);

/* The recorded threshold for a metric: Euclidean as above; cosine only once
 * fr_gallery_set_threshold recorded one (0 until then). */
FR_API float fr_gallery_metric_threshold(const fr_gallery *g, fr_metric metric);

/* Records the same-person threshold of a metric in the gallery file (for
 * example one chosen with `facerec eval openset` for a target false-accept
 * rate); later handles use it as their default. One transaction. */
FR_API fr_status fr_gallery_set_threshold(fr_gallery *g, fr_metric metric, float threshold,
                                          fr_error *err);
/* The model id recorded in the gallery; valid while g is open. */
FR_API const char *fr_gallery_model(const fr_gallery *g);

/* One descriptor to enrol. All pointers are borrowed for the call only. */
typedef struct fr_gallery_face {
  const float *embedding; /* dim floats */
  const char *image_hash; /* fr_sha256_hex of the source file, or NULL if unknown */
  int variant;            /* 0: the photo itself; k > 0: its k-th augmentation */
  fr_rect box;            /* where the face was in the source image */
} fr_gallery_face;

/*
 * Adds n descriptors to the person called name (created if new), in one
 * transaction: all are stored or none. A descriptor whose (image_hash,
 * variant) the person already has is skipped as a duplicate; one whose image
 * is enrolled under another person fails the whole call with FR_E_INVALID.
 * *n_added (may be NULL) receives the number stored. Names are 1 to
 * FR_NAME_MAX - 1 bytes. metadata (may be NULL) is free text kept with the
 * person, at most FR_GALLERY_MAX_METADATA bytes; a non-NULL value replaces
 * the previous one. A person holds at most FR_GALLERY_MAX_FACES descriptors.
 * A name, metadata or descriptor count over its limit is FR_E_LIMIT and
 * nothing is stored.
 */
FR_API fr_status fr_gallery_enroll(fr_gallery *g, const char *name, const char *metadata,
                                   const fr_gallery_face *faces, int n, int *n_added,
                                   fr_error *err);

/*
 * Removes a person, all their descriptors and image hashes, and the stored
 * SVM (it holds support vectors of everyone it was trained on), in one
 * transaction. FR_E_NOTFOUND if unknown. *n_removed (may be NULL) receives the
 * number of descriptors removed.
 *
 * Forgetting means gone from disk, not only from queries: the gallery runs
 * with SQLite's secure_delete, which zeroes the deleted bytes, and after the
 * commit the write-ahead log, whose older page versions still hold them, is
 * checkpointed into the database and truncated. When the call returns, no
 * byte of the name and no part of the descriptors remains in the database
 * or its log (a test checks this with the handle still open). That
 * checkpoint waits up to the busy timeout (10 s) for other connections'
 * read transactions; it is best effort, so if one outlasts the wait the
 * person is still forgotten (FR_OK) but the old bytes stay in the log until
 * a later forget, removal or fr_gallery_vacuum empties it.
 * fr_gallery_vacuum is the strict form, which fails when it cannot finish.
 */
FR_API fr_status fr_gallery_forget(fr_gallery *g, const char *name, int *n_removed,
                                   fr_error *err);

/* Adds a person with no descriptors yet (metadata may be NULL).
 * FR_E_INVALID if the name is taken; *id (may be NULL) receives the
 * person's id. */
FR_API fr_status fr_gallery_add_person(fr_gallery *g, const char *name, const char *metadata,
                                       int64_t *id, fr_error *err);

/* One stored descriptor of a person, as listed (the descriptor itself is
 * not: it is biometric data that a listing has no need to carry). */
typedef struct fr_gallery_face_info {
  int64_t id;          /* the face's id, for fr_gallery_remove_face */
  char image_hash[65]; /* SHA-256 of the source image, "" if none was given */
  int variant;         /* 0: the photo itself; N > 0: its N-th augmentation */
  fr_rect box;         /* where the face was in the source image */
  int64_t created;     /* Unix time of the enrolment */
} fr_gallery_face_info;

/* Lists up to max of a person's descriptors, oldest first; *n receives the
 * number written. FR_E_NOTFOUND if there is no such person. */
FR_API fr_status fr_gallery_faces(fr_gallery *g, const char *name, fr_gallery_face_info *out,
                                  int max, int *n, fr_error *err);

/* The id of the descriptor enrolled from this image hash and variant (each
 * pair is stored at most once) into *id: FR_E_NOTFOUND when there is none,
 * another status when the gallery could not be read (*id is -1 then). */
FR_API fr_status fr_gallery_find_face(fr_gallery *g, const char *image_hash, int variant, int64_t *id,
                                      fr_error *err);
/* Deprecated: the same, -1 for both "none" and "error"; use fr_gallery_find_face. */
FR_API int64_t fr_gallery_face_id(fr_gallery *g, const char *image_hash, int variant);

/* Removes one descriptor, and the stored SVM (it may hold it as a support
 * vector). FR_E_NOTFOUND if there is no descriptor with that id. Like
 * fr_gallery_forget, it then empties the write-ahead log (best effort), so
 * that the descriptor's bytes are gone from disk when it returns. */
FR_API fr_status fr_gallery_remove_face(fr_gallery *g, int64_t id, fr_error *err);

/*
 * Makes removals final on disk, strictly: checkpoints the write-ahead log
 * into the database and truncates it, rebuilds the file with VACUUM (which
 * also shrinks it), and truncates the log again. Afterwards no byte of a
 * forgotten person's descriptors remains in the gallery's files (a test
 * checks this). fr_gallery_forget and fr_gallery_remove_face already empty
 * the log when they can; this is the call that reports when it could not,
 * and the one that gives the freed space back. Needs no other connection to
 * hold a read transaction open; FR_E_IO when one does (retry later).
 */
FR_API fr_status fr_gallery_vacuum(fr_gallery *g, fr_error *err);

typedef struct fr_person {
  int64_t id;
  char name[FR_NAME_MAX];
  int n_faces;
} fr_person;

/* Lists up to max people ordered by name; *n receives the total number of
 * people (which may exceed max). */
FR_API fr_status fr_gallery_people(fr_gallery *g, fr_person *out, int max, int *n,
                                   fr_error *err);

/* Number of descriptors stored. */
FR_API fr_status fr_gallery_count(fr_gallery *g, int *n_faces, fr_error *err);

/* One search result. */
typedef struct fr_match {
  int64_t face_id;   /* the nearest descriptor of that person (-1 for a centroid) */
  int64_t person_id;
  char name[FR_NAME_MAX];
  float distance;    /* distance to query in the metric asked for (search: Euclidean) */
  float probability; /* SVM probability, or -1 when not computed */
} fr_match;

/*
 * Exact k-nearest descriptors of query by Euclidean distance, nearest first
 * (ties broken by the lower face id). Writes min(k, count) matches; *n_out
 * receives that number. k is 1..FR_GALLERY_MAX_K (FR_E_LIMIT above).
 *
 * A large gallery (4096 descriptors or more) is searched in two passes: an
 * int8 copy of the matrix (a quarter of its bytes, built with the view)
 * bounds every distance from below and above with provable margins, and only
 * the descriptors whose lower bound does not exclude them are measured
 * exactly in float. The answer is the same as a full float scan's, bit for
 * bit (tests/test_gallery.c checks it against brute force on data full of
 * near-ties); the copy costs dim + 16 bytes per descriptor of memory.
 */
FR_API fr_status fr_gallery_search(fr_gallery *g, const float *query, int k, fr_match *out,
                                   int *n_out, fr_error *err);

typedef enum fr_classifier {
  FR_CLASSIFIER_NN = 1,       /* the person of the nearest descriptor */
  FR_CLASSIFIER_CENTROID = 2, /* the person whose mean descriptor is nearest */
  FR_CLASSIFIER_SVM = 3       /* a linear SVM with probability estimates (libsvm) */
} fr_classifier;

typedef struct fr_identify_options {
  fr_classifier classifier; /* default FR_CLASSIFIER_NN */
  float threshold;          /* unknown above this distance; <= 0: the gallery's */
  float min_probability;    /* svm: unknown below this probability; <= 0: 1.5 / people,
                               capped at 0.5 */
  double svm_c;             /* svm: the C penalty; <= 0: 1 (scikit-learn's default) */
  fr_metric metric;         /* 0: FR_METRIC_EUCLIDEAN. With FR_METRIC_COSINE distances,
                               nearest descriptors and centroids (of the unit-length
                               descriptors) are cosine ones, and the threshold is in
                               cosine units: <= 0 takes fr_gallery_metric_threshold,
                               FR_E_INVALID if none is recorded. The SVM is the same. */
} fr_identify_options;

FR_API void fr_identify_options_default(fr_identify_options *opts);

/*
 * Who is query? Ranks the people (up to k written to top, best first; *n_top
 * receives the number) and sets *known to 1 when top[0] passes the unknown
 * rule, 0 otherwise. Every match carries the distance to the person's nearest
 * descriptor (nn, svm) or to their centroid (centroid). The rule: nn and
 * centroid accept when that distance <= threshold; svm when the probability is
 * at least min_probability and the distance to the person's nearest
 * descriptor <= threshold. The SVM is trained on first use after a change and
 * stored in the gallery, so later handles reuse it (fr_gallery_train_svm
 * trains it ahead of time). k is 1..FR_GALLERY_MAX_K (FR_E_LIMIT above).
 */
FR_API fr_status fr_gallery_identify(fr_gallery *g, const float *query,
                                     const fr_identify_options *opts, fr_match *top, int k,
                                     int *n_top, int *known, fr_error *err);

/* Trains the linear SVM on every descriptor now and stores it (C as in
 * fr_identify_options; <= 0 means 1). */
FR_API fr_status fr_gallery_train_svm(fr_gallery *g, double c, fr_error *err);

#ifdef __cplusplus
}
#endif

#endif /* FACEREC_H */
