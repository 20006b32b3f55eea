/*
 * pipeline.c - detect, landmark, align and describe, as one call (the layer
 * above detect, align and embed, below the gallery).
 *
 * The pipeline owns its models and is immutable once created; every run
 * draws its memory from the caller's context (plans and scratch), so one
 * pipeline serves many threads, each with its own context.
 */
#include "align/align_internal.h"
#include "core/internal.h"
#include "detect/detect_internal.h"
#include "embed/embed_internal.h"
#include "image/image_internal.h"
#include "nn/nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define FR__MAX_VARIANTS 64 /* flip x jitter chips per face */

struct fr_pipeline {
  fr_pipeline_options opts; /* resolved: no 0 defaults left */
  fr_detector *det;         /* the detector the options name */
  /* The face-api detectors of the cascade (opts.detector_cascade), either
   * possibly the same object as det; NULL without the cascade. */
  fr_detector *ssd, *tiny;
  fr_landmarker *lm; /* NULL when the alignment never needs 68 points */
  fr_embedder *emb;
};

void fr_pipeline_options_default(fr_pipeline_options *o) {
  memset(o, 0, sizeof *o);
  o->detector = FR_DETECTOR_SSD;
  o->landmarks = FR_LANDMARKER_68;
  o->embedder = FR_EMBEDDER_FACEAPI;
  o->seed = 1;
}

fr_status fr_pipeline_options_resolve(fr_pipeline_options *o, fr_error *err) {
  if (!o) return fr__fail(err, FR_E_INVALID, "fr_pipeline_options_resolve: NULL options");
  if (o->detector == 0) o->detector = FR_DETECTOR_SSD;
  if (o->landmarks == 0) o->landmarks = FR_LANDMARKER_68;
  if (o->embedder == 0 || o->model_file) o->embedder = o->model_file ? FR_EMBEDDER_CARD : FR_EMBEDDER_FACEAPI;
  if (o->embedder == FR_EMBEDDER_CARD) {
    if (!o->model_file) return fr__fail(err, FR_E_INVALID, "a card embedder needs model_file");
    fr__card card;
    fr_status st = fr__card_read(o->model_file, 0, &card, err);
    if (st != FR_OK) return st;
    if (o->align == 0) o->align = card.align;
  } else {
    const fr__embedder_impl *e = fr__embedder_find(o->embedder);
    if (!e) return fr__fail(err, FR_E_INVALID, "unknown embedder kind %d", (int)o->embedder);
    if (o->align == 0) o->align = e->align;
  }
  if (!fr_detector_kind_name(o->detector))
    return fr__fail(err, FR_E_INVALID, "unknown detector kind %d", (int)o->detector);
  if (!fr_landmarker_kind_name(o->landmarks))
    return fr__fail(err, FR_E_INVALID, "unknown landmark net %d", (int)o->landmarks);
  if (o->align < FR_ALIGN_UPRIGHT || o->align > FR_ALIGN_FACENET)
    return fr__fail(err, FR_E_INVALID, "unknown alignment method %d", (int)o->align);
  if (o->jitter < 0 || o->jitter * (o->flip ? 2 : 1) > FR__MAX_VARIANTS)
    return fr__fail(err, FR_E_INVALID, "jitter must be between 0 and %d", FR__MAX_VARIANTS / 2);
  return FR_OK;
}

/* Whether faces from this detector, aligned this way, ever need the 68-point
 * net: not when the alignment uses the detector's own five points or only
 * the box. The cascade's face-api detectors give no points. */
static int needs_landmarker(const fr_pipeline_options *o) {
  if (o->align == FR_ALIGN_FACENET) return 0;
  if (o->align == FR_ALIGN_ARCFACE && !o->detector_cascade) {
    const fr__detector_impl *d = fr__detector_find(o->detector);
    return !(d && d->n_landmarks == 5);
  }
  return 1;
}

fr_status fr_pipeline_create(const fr_pipeline_options *opts, const char *model_dir,
                             fr_pipeline **out, fr_error *err) {
  if (!out) return fr__fail(err, FR_E_INVALID, "fr_pipeline_create: NULL out");
  *out = NULL;
  fr_pipeline *p = fr__calloc(1, sizeof *p);
  if (!p) return fr__fail(err, FR_E_NOMEM, "out of memory creating pipeline");
  if (opts)
    p->opts = *opts;
  else
    fr_pipeline_options_default(&p->opts);
  fr_pipeline_options *o = &p->opts;
  double t0 = fr__now();
  fr_status st = fr_pipeline_options_resolve(o, err);
  if (st == FR_OK && o->detector == FR_DETECTOR_SCRFD)
    st = o->detector_file ? fr_detector_create_file(o->detector, o->detector_file,
                                                    o->detect.input_size, &p->det, err)
                          : fr__fail(err, FR_E_INVALID, "the SCRFD detector needs its file (detector_file)");
  else if (st == FR_OK)
    st = fr_detector_create(o->detector, model_dir, &p->det, err);
  if (st == FR_OK && o->detector_cascade) {
    if (o->detector == FR_DETECTOR_SSD)
      p->ssd = p->det;
    else
      st = fr_detector_create(FR_DETECTOR_SSD, model_dir, &p->ssd, err);
    if (st == FR_OK && o->detector == FR_DETECTOR_TINY)
      p->tiny = p->det;
    else if (st == FR_OK)
      st = fr_detector_create(FR_DETECTOR_TINY, model_dir, &p->tiny, err);
  }
  if (st == FR_OK && needs_landmarker(o))
    st = fr_landmarker_create(o->landmarks, model_dir, &p->lm, err);
  /* The 68-point net replaces the cascades' eyes (see wants_68), so the
   * eye search would be wasted. */
  if (p->lm && o->align != FR_ALIGN_FACENET) o->detect.skip_eyes = 1;
  if (st == FR_OK)
    st = o->embedder == FR_EMBEDDER_CARD ? fr_embedder_create_file(o->model_file, &p->emb, err)
                                         : fr_embedder_create(o->embedder, model_dir, &p->emb, err);
  if (st != FR_OK) {
    fr_pipeline_destroy(p);
    return st;
  }
  fr__log(FR_LOG_LEVEL_INFO, "pipeline: detector %s, landmarks %s, embedder %s, %s kernels; loaded in %.1f ms",
          fr_detector_kind_name(o->detector), p->lm ? fr_landmarker_kind_name(o->landmarks) : "none",
          fr_embedder_kind_name(o->embedder), fr_kernels_name(), (fr__now() - t0) * 1e3);
  *out = p;
  return FR_OK;
}

void fr_pipeline_destroy(fr_pipeline *p) {
  if (!p) return;
  if (p->ssd != p->det) fr_detector_destroy(p->ssd);
  if (p->tiny != p->det) fr_detector_destroy(p->tiny);
  fr_detector_destroy(p->det);
  fr_landmarker_destroy(p->lm);
  fr_embedder_destroy(p->emb);
  fr__free(p);
}

int fr_pipeline_dim(const fr_pipeline *p) { return p ? fr_embedder_dim(p->emb) : 0; }

float fr_pipeline_threshold(const fr_pipeline *p) {
  return p ? fr__embedder_threshold(p->emb) : 0.f;
}

float fr_pipeline_metric_threshold(const fr_pipeline *p, fr_metric metric) {
  if (!p) return 0.f;
  const fr__embedder_impl *e = p->emb->impl;
  return metric == FR_METRIC_COSINE ? e->cosine_threshold : e->threshold;
}

float fr_pipeline_identify_threshold(const fr_pipeline *p, fr_metric metric) {
  if (!p) return 0.f;
  const fr__embedder_impl *e = p->emb->impl;
  return metric == FR_METRIC_COSINE ? e->identify_cosine_threshold : e->identify_threshold;
}

/* ---- chip variants: mirror and jitter ------------------------------------ */

static void mirror(const float *src, int size, float *dst) {
  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++)
      memcpy(dst + ((size_t)y * size + x) * 3, src + ((size_t)y * size + (size - 1 - x)) * 3,
             3 * sizeof(float));
}

/* A small xorshift generator: jitter must be reproducible for a given seed,
 * and rand() would be shared process state. */
static double next_uniform(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return (double)(*s >> 11) / 9007199254740992.0;
}

/*
 * dlib's jitter_image, in spirit: a random similarity transform of the chip
 * about its centre (rotation within +-3 degrees, scale within +-5%,
 * translation within +-2% of the side) and a mirror half of the time,
 * sampled bilinearly with zeros outside.
 */
static void jitter(const float *src, int size, uint64_t *rng, float *dst) {
  double angle = (next_uniform(rng) * 2 - 1) * 3.0 * M_PI / 180.0;
  double scale = 1.0 + (next_uniform(rng) * 2 - 1) * 0.05;
  double tx = (next_uniform(rng) * 2 - 1) * 0.02 * size;
  double ty = (next_uniform(rng) * 2 - 1) * 0.02 * size;
  int flip = next_uniform(rng) < 0.5;
  double c = cos(angle) / scale, s = sin(angle) / scale, mid = (size - 1) * 0.5;
  for (int v = 0; v < size; v++)
    for (int u = 0; u < size; u++) {
      double du = (flip ? size - 1 - u : u) - mid - tx, dv = v - mid - ty;
      double x = c * du - s * dv + mid, y = s * du + c * dv + mid;
      float *o = dst + ((size_t)v * size + u) * 3;
      int x0 = (int)floor(x), y0 = (int)floor(y);
      double fx = x - x0, fy = y - y0;
      for (int ch = 0; ch < 3; ch++) {
        double acc = 0;
        for (int k = 0; k < 4; k++) {
          int xx = x0 + (k & 1), yy = y0 + (k >> 1);
          if (xx < 0 || yy < 0 || xx >= size || yy >= size) continue;
          double wgt = ((k & 1) ? fx : 1 - fx) * ((k >> 1) ? fy : 1 - fy);
          acc += wgt * src[((size_t)yy * size + xx) * 3 + ch];
        }
        o[ch] = (float)acc;
      }
    }
}

static int variants(const fr_pipeline *p) {
  int base = p->opts.jitter > 0 ? p->opts.jitter : 1;
  return base * (p->opts.flip ? 2 : 1);
}

/*
 * Expands the n chips at the front of buf (each per floats) into their
 * variants, so that chip i's variants occupy slots [i*v, (i+1)*v), then
 * describes all of them in one batch and averages each face's descriptors.
 */
static fr_status describe(fr_context *ctx, const fr_pipeline *p, float *buf, int n, float *desc,
                          fr_error *err) {
  int size = fr_embedder_input_size(p->emb), dim = fr_embedder_dim(p->emb);
  size_t per = (size_t)size * size * 3;
  int v = variants(p);
  /* The rest of the chip_buffer() block: one spare chip, then the
   * descriptors of every variant. */
  float *tmp = buf + (size_t)n * v * per, *all = tmp + per;
  if (v > 1) {
    /* Work backwards so no chip is overwritten before it is expanded. */
    for (int i = n - 1; i >= 0; i--) {
      memcpy(tmp, buf + (size_t)i * per, per * sizeof(float));
      uint64_t rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)p->opts.seed << 1 | 1);
      int k = 0;
      int base = p->opts.jitter > 0 ? p->opts.jitter : 1;
      for (int j = 0; j < base; j++) {
        float *slot = buf + ((size_t)i * v + k++) * per;
        if (p->opts.jitter > 0 && j > 0)
          jitter(tmp, size, &rng, slot);
        else
          memcpy(slot, tmp, per * sizeof(float));
        if (p->opts.flip) mirror(slot, size, buf + ((size_t)i * v + k++) * per);
      }
    }
  }
  fr_status st = fr__embed_rgb(ctx, p->emb, buf, n * v, all, err);
  if (st == FR_OK)
    for (int i = 0; i < n; i++)
      for (int d = 0; d < dim; d++) {
        double s = 0;
        for (int k = 0; k < v; k++) s += all[((size_t)i * v + k) * dim + d];
        desc[(size_t)i * dim + d] = (float)(s / v);
      }
  return st;
}

/*
 * The context's scratch block for describing n faces: room for every
 * variant's chip, one spare chip and every variant's descriptor, so that
 * describe() allocates nothing once the context has grown to the size.
 */
static float *chip_buffer(fr_context *ctx, const fr_pipeline *p, int n) {
  int size = fr_embedder_input_size(p->emb);
  size_t per = (size_t)size * size * 3, v = (size_t)variants(p);
  return fr__context_scratch(ctx, per * ((size_t)n * v + 1) +
                                      (size_t)n * v * (size_t)fr_embedder_dim(p->emb));
}

static fr_status detect(fr_context *ctx, const fr_pipeline *p, const fr_image *img,
                        fr_face *faces, int max, int *n, fr_error *err) {
  const fr_pipeline_options *o = &p->opts;
  const fr_detector *first = p->det;
  fr_status st = fr_detect(ctx, first, img, &o->detect, faces, max, n, err);
  if (st != FR_OK || *n > 0 || !o->detector_cascade) return st;
  /* The cascade: smaller Tiny inputs find faces that fill the frame (as in
   * LFW's 250x250 crops), SSD finds those the Tiny net misses. */
  static const int sizes[2] = {320, 224};
  for (int i = 0; i < 2 && *n == 0; i++) {
    fr_detect_options d = o->detect;
    if (first == p->tiny && o->detect.input_size == sizes[i]) continue; /* just ran */
    d.input_size = sizes[i];
    st = fr_detect(ctx, p->tiny, img, &d, faces, max, n, err);
    if (st != FR_OK) return st;
  }
  if (*n == 0 && first != p->ssd) st = fr_detect(ctx, p->ssd, img, &o->detect, faces, max, n, err);
  /* Last resort: the same detectors with a low score threshold. An image
   * that reaches this point is one the caller expects a face in (the
   * cascade is opt-in), where a weak detection beats none: on LFW it finds
   * the faces that are occluded, blurred or turned (66 of 7,701 images that
   * the detectors miss at 0.5, as the face-api peer does too). */
  if (st == FR_OK && *n == 0) {
    fr_detect_options d = o->detect;
    d.min_score = 0.2f;
    st = fr_detect(ctx, p->ssd, img, &d, faces, max, n, err);
    if (st == FR_OK && *n == 0) {
      d.min_score = 0.1f;
      d.input_size = 320;
      st = fr_detect(ctx, p->tiny, img, &d, faces, max, n, err);
    }
  }
  return st;
}

/*
 * Whether a face gets the 68-point net before alignment: when its method
 * needs points the face lacks, and also when the face has only the Haar or
 * LBP cascades' 2 eyes, because the net's points align better: on LFW View 2
 * with the Haar detector, aligning on the eyes where they were found gave
 * 97.90% against 98.73% with the 68 points (FaceRecognitionNet, similarity
 * alignment) and 97.47% against 99.05% (MobileFaceNet, ArcFace alignment).
 * So the eyes never align a pipeline's faces (a cascade pipeline has the
 * net unless it aligns on the box alone); they serve fr_align callers.
 */
static int wants_68(const fr_pipeline *p, const fr_face *face) {
  return p->lm && (fr__align_needs_68(p->opts.align, face) ||
                   (face->n_landmarks == 2 && p->opts.align != FR_ALIGN_FACENET));
}

/* Aligns n landmarked faces into the context's scratch and describes them. */
static fr_status describe_faces(fr_context *ctx, const fr_pipeline *p, const fr_image *img,
                                const fr_face *faces, int n, float *desc, fr_error *err) {
  int size = fr_embedder_input_size(p->emb);
  size_t per = (size_t)size * size * 3;
  float *buf = chip_buffer(ctx, p, n);
  if (!buf) return fr__fail(err, FR_E_NOMEM, "out of memory for %d face chips", n);
  for (int i = 0; i < n; i++) {
    float *chip = buf + (size_t)i * per;
    fr_status st = fr__align_tensor(img, &faces[i], p->opts.align, size, chip, err);
    if (st != FR_OK) return st;
  }
  return describe(ctx, p, buf, n, desc, err);
}

fr_status fr_pipeline_describe_face(fr_context *ctx, const fr_pipeline *p, const fr_image *img,
                                    const fr_face *face, float *desc, fr_error *err) {
  if (!ctx || !p || !img || !face || !desc)
    return fr__fail(err, FR_E_INVALID, "fr_pipeline_describe_face: NULL argument");
  fr_status st = fr__image_check(img, err);
  if (st != FR_OK) return st;
  /* A face lacking the points this pipeline's alignment needs, or with only
   * a cascade's 2 eyes, gets the 68-point net first (on a copy), as in
   * fr_pipeline_run. */
  if (wants_68(p, face)) {
    fr_face f = *face;
    st = fr_landmarks(ctx, p->lm, img, &f, err);
    if (st != FR_OK) return st;
    return describe_faces(ctx, p, img, &f, 1, desc, err);
  }
  return describe_faces(ctx, p, img, face, 1, desc, err);
}

fr_status fr_pipeline_describe_faces(fr_context *ctx, const fr_pipeline *p, const fr_image *images,
                                     int n_images, const fr_face *faces, const int *image_of, int n,
                                     float *desc, fr_error *err) {
  if (!ctx || !p || n < 0 || (n > 0 && (!images || !faces || !desc || n_images <= 0)))
    return fr__fail(err, FR_E_INVALID, "fr_pipeline_describe_faces: NULL or negative argument");
  if (n == 0) return FR_OK;
  for (int k = 0; k < n_images; k++) {
    fr_status st = fr__image_check(&images[k], err);
    if (st != FR_OK) return st;
  }
  for (int i = 0; i < n; i++)
    if (image_of && (image_of[i] < 0 || image_of[i] >= n_images))
      return fr__fail(err, FR_E_INVALID, "fr_pipeline_describe_faces: face %d names image %d of %d", i,
                      image_of[i], n_images);
  /* Landmarks first, into copies: the 68-point net runs through the same
   * context scratch that then holds the chips, so the two cannot overlap. */
  fr_face *work = fr__malloc((size_t)n * sizeof *work);
  if (!work) return fr__fail(err, FR_E_NOMEM, "out of memory for %d faces", n);
  fr_status st = FR_OK;
  for (int i = 0; i < n && st == FR_OK; i++) {
    work[i] = faces[i];
    if (wants_68(p, &work[i])) st = fr_landmarks(ctx, p->lm, &images[image_of ? image_of[i] : 0], &work[i], err);
  }
  int size = fr_embedder_input_size(p->emb);
  size_t per = (size_t)size * size * 3;
  float *buf = st == FR_OK ? chip_buffer(ctx, p, n) : NULL;
  if (st == FR_OK && !buf) st = fr__fail(err, FR_E_NOMEM, "out of memory for %d face chips", n);
  for (int i = 0; i < n && st == FR_OK; i++)
    st = fr__align_tensor(&images[image_of ? image_of[i] : 0], &work[i], p->opts.align, size, buf + (size_t)i * per,
                          err);
  fr__free(work);
  if (st != FR_OK) return st;
  return describe(ctx, p, buf, n, desc, err);
}

fr_status fr_pipeline_run(fr_context *ctx, const fr_pipeline *p, const fr_image *img,
                          fr_face *faces, float *desc, int max_faces, int *n_faces,
                          fr_error *err) {
  if (!ctx || !p || !img || !faces || !n_faces || max_faces <= 0)
    return fr__fail(err, FR_E_INVALID, "fr_pipeline_run: NULL argument");
  *n_faces = 0;
  fr_status st = fr__image_check(img, err);
  if (st != FR_OK) return st;
  int n = 0;
  st = detect(ctx, p, img, faces, max_faces, &n, err);
  if (st != FR_OK) return st;
  for (int i = 0; i < n; i++) {
    if (!wants_68(p, &faces[i])) continue;
    st = fr_landmarks(ctx, p->lm, img, &faces[i], err);
    if (st != FR_OK) return st;
  }
  if (desc && n > 0) {
    st = describe_faces(ctx, p, img, faces, n, desc, err);
    if (st != FR_OK) return st;
  }
  *n_faces = n;
  return FR_OK;
}

fr_status fr_pipeline_describe_chip(fr_context *ctx, const fr_pipeline *p, const fr_image *chip,
                                    float *desc, fr_error *err) {
  if (!ctx || !p || !chip || !desc)
    return fr__fail(err, FR_E_INVALID, "fr_pipeline_describe_chip: NULL argument");
  fr_status st = fr__image_check(chip, err);
  if (st != FR_OK) return st;
  int size = fr_embedder_input_size(p->emb);
  float *buf = chip_buffer(ctx, p, 1);
  if (!buf) return fr__fail(err, FR_E_NOMEM, "out of memory for a face chip");
  fr__image_to_tensor(chip, 0, 0, chip->width, chip->height, size, 1, buf, NULL);
  return describe(ctx, p, buf, 1, desc, err);
}

/* ---- model ids -------------------------------------------------------------------- */

fr_status fr_pipeline_model_id(const fr_pipeline_options *opts, char *buf, size_t size, fr_error *err) {
  if (!buf || size == 0) return fr__fail(err, FR_E_INVALID, "fr_pipeline_model_id: no buffer");
  fr_pipeline_options o;
  if (opts)
    o = *opts;
  else
    fr_pipeline_options_default(&o);
  fr_status st = fr_pipeline_options_resolve(&o, err);
  if (st != FR_OK) return st;
  static const char *const align_names[] = {"", "upright", "similarity", "arcface", "facenet"};
  const char *id;
  fr__card card;
  if (o.embedder == FR_EMBEDDER_CARD) {
    /* A user's model is named by its card and a hash of its weights. */
    st = fr__card_read(o.model_file, 1, &card, err);
    if (st != FR_OK) return st;
    id = card.model_id;
  } else {
    id = fr__embedder_find(o.embedder)->model_id;
  }
  /* The alignment changes the descriptors enough that galleries built with
   * one must not be searched with another; flip and jitter only average
   * nearby descriptors, so they stay compatible. */
  int n = snprintf(buf, size, "%s/%s", id, align_names[o.align]);
  if (n < 0 || (size_t)n >= size) return fr__fail(err, FR_E_INVALID, "model id buffer too small");
  return FR_OK;
}

/* The name it had when it lived in the gallery, which must not depend on
 * the embedders it names. */
fr_status fr_gallery_model_id(const fr_pipeline_options *opts, char *buf, size_t size, fr_error *err) {
  return fr_pipeline_model_id(opts, buf, size, err);
}
