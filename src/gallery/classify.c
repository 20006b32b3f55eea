/*
 * classify.c - fr_gallery_identify: who a descriptor is, or that the gallery
 * does not know them.
 *
 * Three classifiers rank the people of the view (view.c): the nearest
 * neighbour (the person of the nearest descriptor, found by search.c's
 * nearest-row search when the gallery is large), the nearest centroid, and a
 * linear SVM (libsvm) trained on the whole view; under the Euclidean metric
 * or the cosine one, which uses the view's unit-length copies. The unknown
 * rule then accepts the best person only within the distance threshold and,
 * for the SVM, above a minimum probability. The SVM's training and storage
 * are here: it is kept in memory and in the file's classifiers table for the
 * generation it was trained on, so that handles retrain only after the
 * gallery changed (store.c deletes the stored one when a descriptor goes).
 */
#include "gallery/gallery_internal.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libsvm/svm.h>

void fr_identify_options_default(fr_identify_options *o) {
  memset(o, 0, sizeof *o);
  o->classifier = FR_CLASSIFIER_NN;
}

typedef struct ranked {
  double key; /* smaller is better */
  int person;
  float dist2;
  int64_t face_id;
  float probability;
} ranked;

static int cmp_ranked(const void *a, const void *b) {
  const ranked *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  return x->person - y->person;
}

/* libsvm prints training progress by default; a library must not. */
static void svm_quiet(const char *s) { (void)s; }

/* Creates a new, empty temporary file for the two below, its name into path
 * (size bytes); returns its descriptor, or -1 (error in err). */
static int svm_temp_file(char *path, size_t size, fr_error *err) {
  const char *dir = getenv("TMPDIR");
  snprintf(path, size, "%s/facerec-svm-XXXXXX", dir && *dir ? dir : "/tmp");
  int fd = mkstemp(path);
  if (fd < 0) fr__fail(err, FR_E_IO, "cannot create a temporary file: %s", strerror(errno));
  return fd;
}

/* Writes a model to a temporary file and reads the bytes back: libsvm only
 * saves to and loads from paths. */
static fr_status svm_to_bytes(const struct svm_model *m, uint8_t **data, size_t *size,
                              fr_error *err) {
  char path[4096];
  int fd = svm_temp_file(path, sizeof path, err);
  if (fd < 0) return err ? err->status : FR_E_IO;
  close(fd);
  fr_status st = svm_save_model(path, m) == 0
                     ? fr__read_file(path, (size_t)1 << 31, data, size, err)
                     : fr__fail(err, FR_E_IO, "cannot save the SVM to %s", path);
  unlink(path);
  return st;
}

static fr_status svm_from_bytes(const void *data, size_t size, struct svm_model **m,
                                fr_error *err) {
  char path[4096];
  int fd = svm_temp_file(path, sizeof path, err);
  if (fd < 0) return err ? err->status : FR_E_IO;
  FILE *f = fdopen(fd, "wb");
  int ok = f && fwrite(data, 1, size, f) == size;
  if (f) ok = fclose(f) == 0 && ok;
  else close(fd);
  *m = ok ? svm_load_model(path) : NULL;
  unlink(path);
  if (!*m) return fr__fail(err, FR_E_FORMAT, "the SVM stored in the gallery cannot be read");
  return FR_OK;
}

static fr_status train_svm(fr_gallery *g, double c, fr_error *err) {
  if (g->svm) svm_free_and_destroy_model(&g->svm);
  if (g->n_people < 2) return FR_OK; /* one class: nothing to separate */
  size_t rows = g->n_rows, per = (size_t)g->dim + 1;
  struct svm_node *nodes = fr__malloc(rows * per * sizeof *nodes);
  struct svm_node **x = fr__malloc(rows * sizeof *x);
  double *y = fr__malloc(rows * sizeof *y);
  fr_status st = FR_OK;
  if (!nodes || !x || !y) st = fr__fail(err, FR_E_NOMEM, "out of memory training the SVM");
  for (size_t r = 0; st == FR_OK && r < rows; r++) {
    x[r] = nodes + r * per;
    for (int d = 0; d < g->dim; d++) {
      x[r][d].index = d + 1;
      x[r][d].value = g->matrix[r * g->stride + d];
    }
    x[r][g->dim].index = -1;
    y[r] = (double)g->row_person[r]; /* labels are view indices; ids are mapped back */
  }
  struct svm_problem prob = {.l = (int)rows, .y = y, .x = x};
  struct svm_parameter par;
  memset(&par, 0, sizeof par);
  par.svm_type = C_SVC;
  par.kernel_type = LINEAR;
  par.C = c;
  par.eps = 1e-3;
  par.cache_size = 100;
  par.shrinking = 1;
  par.probability = 1;
  if (st == FR_OK) {
    const char *bad = svm_check_parameter(&prob, &par);
    if (bad) st = fr__fail(err, FR_E_INVALID, "SVM: %s", bad);
  }
  uint8_t *bytes = NULL;
  size_t size = 0;
  if (st == FR_OK) {
    svm_set_print_string_function(svm_quiet);
    struct svm_model *m = svm_train(&prob, &par);
    /* The trained model points into `nodes`; a save and load gives one that
     * owns its memory and is exactly what later handles will read. */
    st = m ? svm_to_bytes(m, &bytes, &size, err) : fr__fail(err, FR_E_NOMEM, "SVM training failed");
    if (m) svm_free_and_destroy_model(&m);
  }
  if (st == FR_OK) st = svm_from_bytes(bytes, size, &g->svm, err);
  fr__free(nodes);
  fr__free(x);
  fr__free(y);
  if (st != FR_OK) {
    fr__free(bytes);
    return st;
  }
  g->svm_generation = g->generation;
  g->svm_c = c;
  /* Stored only if the file still holds what was trained on; the label
   * mapping (view index -> person) is stable for a generation. */
  st = fr__gallery_exec(g, "BEGIN IMMEDIATE", err);
  char buf[64];
  if (st == FR_OK && fr__gallery_meta_get(g, "generation", buf, sizeof buf, err) == 1 &&
      strtoll(buf, NULL, 10) == g->generation) {
    sqlite3_stmt *s = fr__gallery_stmt(g, Q_SVM_PUT, err);
    if (!s) st = err ? err->status : FR_E_IO;
    else {
      sqlite3_bind_int64(s, 1, g->generation);
      sqlite3_bind_double(s, 2, c);
      sqlite3_bind_blob(s, 3, bytes, (int)size, SQLITE_STATIC);
      sqlite3_bind_int64(s, 4, (int64_t)time(NULL));
      if (sqlite3_step(s) != SQLITE_DONE) st = fr__gallery_db_fail(g, err, "storing the SVM");
      sqlite3_reset(s);
    }
  }
  st = fr__gallery_end_tx(g, st, err);
  fr__free(bytes);
  return st;
}

/* Makes g->svm current: the one in memory, the stored one, or a new one. */
static fr_status ensure_svm(fr_gallery *g, double c, fr_error *err) {
  if (g->svm && g->svm_generation == g->generation && g->svm_c == c) return FR_OK;
  if (g->n_people < 2) {
    if (g->svm) svm_free_and_destroy_model(&g->svm);
    return FR_OK;
  }
  sqlite3_stmt *s = fr__gallery_stmt(g, Q_SVM_GET, err);
  if (!s) return err ? err->status : FR_E_IO;
  fr_status st = FR_E_NOTFOUND;
  if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int64(s, 0) == g->generation &&
      sqlite3_column_double(s, 1) == c) {
    if (g->svm) svm_free_and_destroy_model(&g->svm);
    st = svm_from_bytes(sqlite3_column_blob(s, 2), (size_t)sqlite3_column_bytes(s, 2), &g->svm, err);
    if (st == FR_OK) {
      g->svm_generation = g->generation;
      g->svm_c = c;
    }
  }
  sqlite3_reset(s);
  if (st == FR_OK) return FR_OK;
  return train_svm(g, c, err);
}

fr_status fr_gallery_train_svm(fr_gallery *g, double c, fr_error *err) {
  if (!g) return fr__fail(err, FR_E_INVALID, "fr_gallery_train_svm: NULL gallery");
  fr_status st = fr__gallery_ensure_view(g, err);
  if (st != FR_OK) return st;
  return train_svm(g, c > 0 ? c : 1.0, err);
}

fr_status fr_gallery_identify(fr_gallery *g, const float *query, const fr_identify_options *opts,
                              fr_match *top, int k, int *n_top, int *known, fr_error *err) {
  if (!g || !query || !top || k <= 0 || !n_top || !known)
    return fr__fail(err, FR_E_INVALID, "fr_gallery_identify: bad argument");
  *n_top = 0;
  *known = 0;
  fr_identify_options o;
  fr_identify_options_default(&o);
  if (opts) o = *opts;
  if (o.classifier == 0) o.classifier = FR_CLASSIFIER_NN;
  if (o.classifier < FR_CLASSIFIER_NN || o.classifier > FR_CLASSIFIER_SVM)
    return fr__fail(err, FR_E_INVALID, "unknown classifier %d", (int)o.classifier);
  if (o.metric == 0) o.metric = FR_METRIC_EUCLIDEAN;
  if (o.metric != FR_METRIC_EUCLIDEAN && o.metric != FR_METRIC_COSINE)
    return fr__fail(err, FR_E_INVALID, "unknown metric %d", (int)o.metric);
  if (k > FR_GALLERY_MAX_K)
    return fr__fail(err, FR_E_LIMIT, "k = %d is over the limit of %d results", k, FR_GALLERY_MAX_K);
  int cosine = o.metric == FR_METRIC_COSINE;
  float thr = o.threshold > 0 ? o.threshold : cosine ? g->cos_threshold : g->threshold;
  if (!(thr > 0))
    return fr__fail(err, FR_E_INVALID,
                    "no cosine threshold is recorded in this gallery: pass one "
                    "(fr_identify_options.threshold, --threshold) or record it with "
                    "fr_gallery_set_threshold");
  for (int d = 0; d < g->dim; d++)
    if (!isfinite(query[d])) return fr__fail(err, FR_E_INVALID, "the query has a non-finite value");
  fr_status st = fr__gallery_ensure_view(g, err);
  if (st != FR_OK) return st;
  if (g->n_people == 0) return FR_OK;
  /* Cosine distance is half the squared Euclidean distance of the unit-length
   * vectors, so the same kernels serve both metrics. */
  float uq[4096];
  const float *raw_query = query; /* the SVM was trained on the raw descriptors */
  const float *mat = g->matrix, *cen = g->centroids;
  if (cosine) {
    double n2 = 0;
    for (int d = 0; d < g->dim; d++) n2 += (double)query[d] * query[d];
    if (!(n2 > 0)) return fr__fail(err, FR_E_INVALID, "a zero-length query has no cosine distance");
    if (g->dim > 4096) return fr__fail(err, FR_E_UNSUPPORTED, "cosine: descriptors over 4096-d");
    for (int d = 0; d < g->dim; d++) uq[d] = (float)(query[d] / sqrt(n2));
    query = uq;
    st = fr__gallery_ensure_unit(g, err);
    if (st != FR_OK) return st;
    mat = g->umatrix;
    cen = g->ucentroids;
  }
  /* Nearest neighbour and one answer: the nearest row, through the fast
   * exact search when the gallery is large (Euclidean only: the int8 copy is
   * of the raw matrix). */
  if (o.classifier == FR_CLASSIFIER_NN && k == 1 && !cosine && g->n_rows >= FR__QINDEX_MIN_ROWS) {
    size_t row;
    float d2;
    size_t n1 = 0;
    st = fr__gallery_nearest_rows(g, query, 1, &row, &d2, &n1, err);
    if (st != FR_OK) return st;
    fr__gallery_fill_match(g, g->row_person[row], g->face_id[row], d2, &top[0]);
    *n_top = 1;
    *known = top[0].distance <= thr;
    return FR_OK;
  }
  ranked *rk = fr__malloc((size_t)g->n_people * sizeof *rk);
  if (!rk) return fr__fail(err, FR_E_NOMEM, "out of memory");
  /* Every classifier reports the distance to the person's nearest
   * descriptor (centroid: to the centroid), so compute those first. */
  for (int i = 0; i < g->n_people; i++) {
    rk[i].person = i;
    rk[i].dist2 = INFINITY;
    rk[i].face_id = -1;
    rk[i].probability = -1;
  }
  if (o.classifier == FR_CLASSIFIER_CENTROID) {
    memcpy(g->query, query, (size_t)g->dim * sizeof(float));
    float *d2 = fr__malloc((size_t)g->n_people * sizeof *d2);
    if (!d2) {
      fr__free(rk);
      return fr__fail(err, FR_E_NOMEM, "out of memory");
    }
    fr__sqdist_rows(-1, cen, (size_t)g->n_people, g->stride, g->query, d2);
    for (int i = 0; i < g->n_people; i++) rk[i].dist2 = g->people[i].n_rows ? d2[i] : INFINITY;
    fr__free(d2);
  } else {
    memcpy(g->query, query, (size_t)g->dim * sizeof(float));
    fr__sqdist_rows(-1, mat, g->n_rows, g->stride, g->query, g->dist);
    for (size_t r = 0; r < g->n_rows; r++) {
      ranked *p = &rk[g->row_person[r]];
      if (g->dist[r] < p->dist2) p->dist2 = g->dist[r], p->face_id = g->face_id[r];
    }
  }
  for (int i = 0; i < g->n_people; i++) rk[i].key = rk[i].dist2;
  float min_prob = 0;
  if (o.classifier == FR_CLASSIFIER_SVM) {
    double c = o.svm_c > 0 ? o.svm_c : 1.0;
    st = ensure_svm(g, c, err);
    if (st != FR_OK) {
      fr__free(rk);
      return st;
    }
    min_prob = o.min_probability > 0 ? o.min_probability : fminf(0.5f, 1.5f / (float)g->n_people);
    if (!g->svm) {
      /* A single person: the SVM has nothing to separate; only the distance
       * rule can say no. */
      rk[0].probability = 1;
      rk[0].key = -1;
    } else {
      int nc = svm_get_nr_class(g->svm);
      int *labels = fr__malloc((size_t)nc * sizeof *labels);
      double *prob = fr__malloc((size_t)nc * sizeof *prob);
      struct svm_node *x = fr__malloc(((size_t)g->dim + 1) * sizeof *x);
      if (!labels || !prob || !x) {
        fr__free(labels), fr__free(prob), fr__free(x), fr__free(rk);
        return fr__fail(err, FR_E_NOMEM, "out of memory");
      }
      for (int d = 0; d < g->dim; d++) x[d].index = d + 1, x[d].value = raw_query[d];
      x[g->dim].index = -1;
      svm_get_labels(g->svm, labels);
      svm_predict_probability(g->svm, x, prob);
      for (int i = 0; i < nc; i++)
        if (labels[i] >= 0 && labels[i] < g->n_people) {
          rk[labels[i]].probability = (float)prob[i];
          rk[labels[i]].key = -prob[i];
        }
      /* The winner is the one-against-one vote, not the largest probability:
       * the probabilities come from Platt scaling fitted by cross-validation
       * inside the training set, which with one or two photos per person is
       * fitted on almost nothing and can even invert the ranking (measured:
       * 0% top-1 at one photo per person by probability). The probability
       * still feeds the unknown rule. */
      int voted = (int)svm_predict(g->svm, x);
      if (voted >= 0 && voted < g->n_people) rk[voted].key = -2;
      fr__free(labels), fr__free(prob), fr__free(x);
    }
  }
  qsort(rk, (size_t)g->n_people, sizeof *rk, cmp_ranked);
  /* A person enrolled without a descriptor yet (created by name only) is no
   * candidate: there is nothing to be near to. They sort last (an infinite
   * distance, no SVM class), so the candidates are a prefix. */
  int n_cand = 0;
  while (n_cand < g->n_people && g->people[rk[n_cand].person].n_rows > 0) n_cand++;
  int n = k < n_cand ? k : n_cand;
  if (n == 0) {
    *n_top = 0;
    *known = 0;
    fr__free(rk);
    return FR_OK;
  }
  for (int i = 0; i < n; i++) {
    fr__gallery_fill_match(g, rk[i].person, rk[i].face_id, rk[i].dist2, &top[i]);
    if (cosine) top[i].distance = isfinite(rk[i].dist2) ? 0.5f * rk[i].dist2 : INFINITY;
    top[i].probability = rk[i].probability;
  }
  *n_top = n;
  *known = top[0].distance <= thr &&
           (o.classifier != FR_CLASSIFIER_SVM || top[0].probability >= min_prob);
  fr__free(rk);
  return FR_OK;
}
