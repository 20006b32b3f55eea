/*
 * eval_lfw.c - `facerec eval lfw`: describes every image that LFW's pairs
 * use, on a pool of worker threads (one context each), then scores the pairs
 * with the standard 10-fold protocol.
 *
 * With --variants, detection and landmarks run once per image and the face is
 * described by several pipelines (alignments, flip fusion, jitter): the
 * detector is most of the cost, so comparing variants this way takes little
 * longer than evaluating one.
 */
#define _POSIX_C_SOURCE 200809L
#include "eval_lfw.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "eval/eval.h"

#define MAX_FACES 64
#define MAX_VARIANTS 6

typedef struct variant {
  fr_pipeline_options po;
  fr_pipeline *pipe;
  float *desc; /* n_images x dim */
  char name[64];
} variant;

typedef struct job {
  const eval_lfw_args *a;
  const fr__lfw *lfw;
  const fr_pipeline *base; /* detection and landmarks */
  variant *v;
  int nv, dim;
  unsigned char *status; /* 0 face found, 1 no face (centre crop), 2 unreadable */
  int *todo;
  int n_todo, next, done, progress;
  pthread_mutex_t mu;
} job;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Describes image k with every variant: the detected face nearest the centre
 * (LFW crops are centred on the labelled person) or, when the cascade finds
 * no face at all, a centre crop of half the image's side as the chip. */
static int describe_image(fr_context *ctx, job *j, int k) {
  fr_error err = {0};
  fr_image img;
  if (fr_image_load(j->lfw->paths[k], NULL, &img, &err) != FR_OK) return 2;
  fr_face faces[MAX_FACES];
  int n = 0, rc = 2;
  if (fr_pipeline_run(ctx, j->base, &img, faces, NULL, MAX_FACES, &n, &err) == FR_OK) {
    if (n > 0) {
      int best = 0;
      double bd = 1e30, cx = img.width / 2.0, cy = img.height / 2.0;
      for (int i = 0; i < n; i++) {
        double fx = faces[i].box.x + faces[i].box.width / 2 - cx;
        double fy = faces[i].box.y + faces[i].box.height / 2 - cy;
        if (fx * fx + fy * fy < bd) bd = fx * fx + fy * fy, best = i;
      }
      rc = 0;
      for (int v = 0; v < j->nv && rc == 0; v++)
        if (fr_pipeline_describe_face(ctx, j->v[v].pipe, &img, &faces[best],
                                      j->v[v].desc + (size_t)k * j->dim, &err) != FR_OK)
          rc = 2;
    } else {
      int side = (img.width < img.height ? img.width : img.height) / 2;
      fr_image crop;
      rc = fr_image_wrap(img.data + (size_t)((img.height - side) / 2) * img.stride +
                             (size_t)((img.width - side) / 2) * fr_pixel_size(img.format),
                         side, side, img.stride, img.format, &crop, &err) == FR_OK
               ? 1
               : 2;
      for (int v = 0; v < j->nv && rc == 1; v++)
        if (fr_pipeline_describe_chip(ctx, j->v[v].pipe, &crop, j->v[v].desc + (size_t)k * j->dim,
                                      &err) != FR_OK)
          rc = 2;
    }
  }
  if (rc == 2) fprintf(stderr, "facerec: %s: %s\n", j->lfw->paths[k], err.message);
  fr_image_free(&img);
  return rc;
}

static void *worker(void *arg) {
  job *j = arg;
  fr_context *ctx;
  fr_error err;
  if (fr_context_create(NULL, &ctx, &err) != FR_OK) return NULL;
  for (;;) {
    pthread_mutex_lock(&j->mu);
    int k = j->next < j->n_todo ? j->todo[j->next++] : -1;
    pthread_mutex_unlock(&j->mu);
    if (k < 0) break;
    int st = describe_image(ctx, j, k);
    pthread_mutex_lock(&j->mu);
    j->status[k] = (unsigned char)st;
    j->done++;
    if (j->progress && (j->done % 50 == 0 || j->done == j->n_todo)) {
      int width = 40, fill = (int)((long)width * j->done / j->n_todo);
      fprintf(stderr, "\r[%.*s%*s] %d/%d images", fill, "########################################",
              width - fill, "", j->done, j->n_todo);
      if (j->done == j->n_todo) fputc('\n', stderr);
    }
    pthread_mutex_unlock(&j->mu);
  }
  fr_context_destroy(ctx);
  return NULL;
}

static void variant_name(const fr_pipeline_options *po, char *buf, size_t n) {
  snprintf(buf, n, "%s%s%s", cli_align_name(po->align), po->flip ? "+flip" : "",
           po->embedder == FR_EMBEDDER_FACEAPI_INT8 ? "+int8" : "");
  if (po->jitter) {
    size_t l = strlen(buf);
    snprintf(buf + l, n - l, "+jitter%d", po->jitter);
  }
}

static void print_json(const fr__verif *v, const variant *var, const char *metric, int folds,
                       int pairs, int images, int fallback, int unreadable, double secs) {
  printf("{\"protocol\":\"LFW View 2\",\"variant\":\"%s\",\"metric\":\"%s\",\"folds\":%d,"
         "\"pairs\":%d,\"images\":%d,"
         "\"accuracy\":%.5f,\"accuracy_std\":%.5f,\"threshold\":%.4f,\"val_at_far\":%.5f,"
         "\"val_std\":%.5f,\"far\":%.5f,\"far_target\":0.001,\"auc\":%.5f,\"eer\":%.5f,"
         "\"no_face_fallback\":%d,\"unreadable\":%d,\"align\":\"%s\",\"flip\":%s,\"jitter\":%d,"
         "\"seconds\":%.1f,\"fold_accuracy\":[",
         var->name, metric, folds, pairs, images, v->accuracy_mean, v->accuracy_std, v->threshold_mean,
         v->val_mean, v->val_std, v->far_mean, v->auc, v->eer, fallback, unreadable,
         cli_align_name(var->po.align),
         var->po.flip ? "true" : "false", var->po.jitter, secs);
  for (int f = 0; f < folds; f++) printf("%s%.4f", f ? "," : "", v->fold_accuracy[f]);
  printf("]}\n");
}

int eval_lfw(const eval_lfw_args *a) {
  fr_error err = {0};
  fr__lfw *lfw;
  if (fr__lfw_load(a->pairs, a->root, &lfw, &err) != FR_OK) {
    fprintf(stderr, "facerec: %s\n", err.message);
    return 2;
  }
  int folds = a->folds_limit && a->folds_limit < lfw->n_folds ? a->folds_limit : lfw->n_folds;
  int rc = 0;
  job j;
  memset(&j, 0, sizeof j);
  variant v[MAX_VARIANTS];
  memset(v, 0, sizeof v);
  /* LFW's images are known to hold a face: the detector cascade looks hard. */
  fr_pipeline_options base = a->po;
  base.detector_cascade = 1;
  if (a->variants) {
    /* The two alignments of the embedder's family: the 68-point fits for
     * FaceRecognitionNet, the five-point fit and the box crop for the
     * embedders trained on ArcFace or FaceNet chips. */
    fr_pipeline_options own = base;
    own.align = 0;
    fr_align_method fam[2] = {FR_ALIGN_SIMILARITY, FR_ALIGN_UPRIGHT};
    if (fr_pipeline_options_resolve(&own, NULL) == FR_OK &&
        (own.align == FR_ALIGN_ARCFACE || own.align == FR_ALIGN_FACENET)) {
      fam[0] = own.align;
      fam[1] = own.align == FR_ALIGN_ARCFACE ? FR_ALIGN_FACENET : FR_ALIGN_ARCFACE;
    }
    for (int i = 0; i < 4; i++) {
      v[j.nv].po = base;
      v[j.nv].po.detector_cascade = 0;
      v[j.nv].po.align = fam[i & 1];
      v[j.nv].po.flip = i >> 1;
      v[j.nv].po.jitter = 0;
      j.nv++;
    }
    if (base.jitter > 0) {
      v[j.nv].po = base;
      v[j.nv].po.detector_cascade = 0;
      j.nv++;
    }
  } else {
    v[0].po = base;
    j.nv = 1;
    if (base.embedder == FR_EMBEDDER_FACEAPI_INT8) {
      /* The int8 model is scored beside its float32 original on the very
       * same detected faces (one detection pass), as the comparison that
       * matters for it. */
      v[1].po = base;
      v[1].po.embedder = FR_EMBEDDER_FACEAPI;
      j.nv = 2;
    }
  }
  fr_pipeline *base_pipe = NULL;
  if (fr_pipeline_create(&base, a->models, &base_pipe, &err) != FR_OK) {
    fprintf(stderr, "facerec: cannot load models: %s\n", err.message);
    fr__lfw_destroy(lfw);
    return 2;
  }
  j.dim = fr_pipeline_dim(base_pipe);
  for (int i = 0; i < j.nv && rc == 0; i++) {
    variant_name(&v[i].po, v[i].name, sizeof v[i].name);
    if (fr_pipeline_create(&v[i].po, a->models, &v[i].pipe, &err) != FR_OK) {
      fprintf(stderr, "facerec: cannot load models: %s\n", err.message);
      rc = 2;
    } else if (!(v[i].desc = calloc((size_t)lfw->n_images * j.dim, sizeof(float)))) {
      rc = 2;
    }
  }
  j.a = a;
  j.lfw = lfw;
  j.base = base_pipe;
  j.v = v;
  j.status = calloc((size_t)lfw->n_images, 1);
  j.todo = malloc((size_t)lfw->n_images * sizeof(int));
  unsigned char *needed = calloc((size_t)lfw->n_images, 1);
  float *dist = malloc((size_t)lfw->n_pairs * sizeof(float));
  int *same = malloc((size_t)lfw->n_pairs * sizeof(int));
  int *fold = malloc((size_t)lfw->n_pairs * sizeof(int));
  if (!j.status || !j.todo || !needed || !dist || !same || !fold) rc = 2;
  if (rc == 0 && folds < 2) {
    fprintf(stderr, "facerec: at least 2 folds are needed (each fold's threshold is chosen on the others)\n");
    rc = 2;
  }
  double secs = 0;
  int fallback = 0, unreadable = 0;
  if (rc == 0) {
    for (int i = 0; i < lfw->n_pairs; i++)
      if (lfw->pairs[i].fold < folds) needed[lfw->pairs[i].a] = needed[lfw->pairs[i].b] = 1;
    for (int i = 0; i < lfw->n_images; i++)
      if (needed[i]) j.todo[j.n_todo++] = i;
    pthread_mutex_init(&j.mu, NULL);
    j.progress = isatty(2) || getenv("FACEREC_PROGRESS") != NULL;
    int nthreads = a->threads > 0 ? a->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (nthreads < 1) nthreads = 1;
    if (nthreads > 64) nthreads = 64;
    pthread_t th[64];
    double t0 = now();
    int started = 0;
    for (int t = 0; t < nthreads; t++) started += pthread_create(&th[started], NULL, worker, &j) == 0;
    for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
    secs = now() - t0;
    pthread_mutex_destroy(&j.mu);
    for (int k = 0; k < j.n_todo; k++) {
      int st = j.status[j.todo[k]];
      fallback += st == 1;
      unreadable += st == 2;
      if (st == 1 && a->verbose) fprintf(stderr, "no face found: %s\n", lfw->paths[j.todo[k]]);
    }
    if (!a->json)
      printf("LFW View 2, %d folds, %d images (%.1f s, %.1f images/s), no face found in %d "
             "(centre-crop fallback), unreadable %d\n",
             folds, j.n_todo, secs, j.n_todo / (secs > 0 ? secs : 1), fallback, unreadable);
  }
  FILE *dump = rc == 0 && a->dump ? fopen(a->dump, "w") : NULL;
  if (rc == 0 && a->dump && !dump) fprintf(stderr, "facerec: cannot write %s\n", a->dump);
  if (dump) fprintf(dump, "variant,fold,same,distance,image_a,image_b\n");
  if (rc == 0 && !a->json && (j.nv > 1 || a->metric == 2))
    printf("%-22s %-16s %-9s %-18s %-8s %-6s\n", "variant", "accuracy", "threshold",
           "VAL@FAR=1e-3", "AUC", "EER");
  /* With --metric both, each variant is scored twice from the same
   * descriptors: the cosine threshold the gallery uses comes from here too. */
  int m_first = a->metric == 1 ? 1 : 0, m_last = a->metric >= 1 ? 1 : 0;
  for (int vm = 0; vm < j.nv * (m_last - m_first + 1) && rc == 0; vm++) {
    int vi = vm / (m_last - m_first + 1), cosine = m_first + vm % (m_last - m_first + 1);
    const char *metric = cosine ? "cosine" : "euclidean";
    int m = 0;
    for (int i = 0; i < lfw->n_pairs; i++) {
      const fr__pair *p = &lfw->pairs[i];
      if (p->fold >= folds) continue;
      const float *da = v[vi].desc + (size_t)p->a * j.dim, *db = v[vi].desc + (size_t)p->b * j.dim;
      dist[m] = cosine ? fr_cosine_distance(da, db, j.dim) : fr_distance(da, db, j.dim);
      same[m] = p->same;
      fold[m] = p->fold;
      if (dump)
        fprintf(dump, "%s%s,%d,%d,%.6f,%s,%s\n", v[vi].name, cosine ? "/cosine" : "", p->fold,
                p->same, dist[m], lfw->paths[p->a], lfw->paths[p->b]);
      m++;
    }
    fr__verif r;
    if (fr__verification(dist, same, fold, m, folds, 1e-3, &r, &err) != FR_OK) {
      fprintf(stderr, "facerec: %s\n", err.message);
      rc = 2;
    } else if (a->json) {
      print_json(&r, &v[vi], metric, folds, m, j.n_todo, fallback, unreadable, secs);
    } else if (j.nv > 1 || m_last > m_first) {
      char label[80];
      snprintf(label, sizeof label, "%s%s", v[vi].name, cosine ? " (cosine)" : "");
      printf("%-22s %6.2f%% +- %.2f%%  %.4f    %6.2f%% +- %.2f%%  %.5f %.2f%%\n", label,
             100 * r.accuracy_mean, 100 * r.accuracy_std, r.threshold_mean, 100 * r.val_mean,
             100 * r.val_std, r.auc, 100 * r.eer);
    } else {
      printf("pipeline      %s, %d pairs, %s distance\n", v[vi].name, m, metric);
      printf("accuracy      %.2f%% +- %.2f%%\n", 100 * r.accuracy_mean, 100 * r.accuracy_std);
      printf("threshold     %.4f (mean over folds)\n", r.threshold_mean);
      printf("VAL@FAR=1e-3  %.2f%% +- %.2f%% (FAR reached %.4f)\n", 100 * r.val_mean,
             100 * r.val_std, r.far_mean);
      printf("AUC           %.5f\n", r.auc);
      printf("EER           %.2f%%\n", 100 * r.eer);
    }
  }
  if (dump) fclose(dump);
  for (int i = 0; i < j.nv; i++) {
    fr_pipeline_destroy(v[i].pipe);
    free(v[i].desc);
  }
  fr_pipeline_destroy(base_pipe);
  free(j.status);
  free(j.todo);
  free(needed);
  free(dist);
  free(same);
  free(fold);
  fr__lfw_destroy(lfw);
  return rc;
}
