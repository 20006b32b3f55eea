/*
 * search.c - fr_gallery_search: the k descriptors nearest to a query.
 *
 * The search reads the view (view.c) and measures with match.c's kernels. A
 * large view also gets an int8 copy of the matrix (match.c), built on the
 * first search after a reload, so that an exact search streams about a
 * quarter of the bytes. The nearest-row search and the filling of a match
 * (fr__gallery_nearest_rows, fr__gallery_fill_match) serve classify.c too,
 * whose nearest-neighbour answer on a large gallery is this search.
 */
#include "gallery/gallery_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Computes g->dist for query (padded into g->query). */
static void all_distances(fr_gallery *g, const float *query) {
  memcpy(g->query, query, (size_t)g->dim * sizeof(float));
  if (g->n_rows) fr__sqdist_rows(-1, g->matrix, g->n_rows, g->stride, g->query, g->dist);
}

/* The k nearest rows to query (Euclidean; ties by the lower face id) into
 * rows/d2, through the int8 first pass when the gallery is large. */
fr_status fr__gallery_nearest_rows(fr_gallery *g, const float *query, int k, size_t *rows,
                                   float *d2, size_t *n, fr_error *err) {
  memcpy(g->query, query, (size_t)g->dim * sizeof(float));
  if (g->n_rows >= FR__QINDEX_MIN_ROWS && !g->qix_built) {
    fr_status st = fr__qindex_build(&g->qix, g->matrix, g->n_rows, g->dim, g->stride, err);
    if (st != FR_OK) return st;
    g->qcand = fr__malloc(g->n_rows * sizeof *g->qcand);
    if (!g->qcand) {
      fr__qindex_free(&g->qix);
      return fr__fail(err, FR_E_NOMEM, "out of memory for the search index");
    }
    g->qix_built = 1;
  }
  if (g->qix_built) {
    *n = fr__qindex_topk(-1, &g->qix, g->matrix, g->stride, g->query, g->face_id, k, rows, d2,
                         g->qcand, NULL);
    return FR_OK;
  }
  /* A small gallery: one fp32 scan, keeping the k best rows by insertion
   * into a sorted list (almost every row fails the first comparison). */
  all_distances(g, query);
  size_t m = 0;
  for (size_t r = 0; r < g->n_rows; r++) {
    float d = g->dist[r];
    if (m == (size_t)k && (d > d2[m - 1] || (d == d2[m - 1] && g->face_id[r] >= g->face_id[rows[m - 1]])))
      continue;
    size_t j = m < (size_t)k ? m++ : (size_t)k - 1;
    while (j > 0 && (d2[j - 1] > d || (d2[j - 1] == d && g->face_id[rows[j - 1]] > g->face_id[r]))) {
      rows[j] = rows[j - 1];
      d2[j] = d2[j - 1];
      j--;
    }
    rows[j] = r;
    d2[j] = d;
  }
  *n = m;
  return FR_OK;
}

/* Fills m for person pi of the view: face_id is the row's face (-1: none),
 * dist2 the squared distance. */
void fr__gallery_fill_match(const fr_gallery *g, int pi, int64_t face_id, float dist2,
                            fr_match *m) {
  m->face_id = face_id;
  m->person_id = g->people[pi].id;
  memcpy(m->name, g->people[pi].name, FR_NAME_MAX);
  m->distance = sqrtf(dist2 > 0 ? dist2 : 0);
  m->probability = -1;
}

fr_status fr_gallery_search(fr_gallery *g, const float *query, int k, fr_match *out, int *n_out,
                            fr_error *err) {
  if (!g || !query || k <= 0 || !out || !n_out)
    return fr__fail(err, FR_E_INVALID, "fr_gallery_search: bad argument");
  *n_out = 0;
  if (k > FR_GALLERY_MAX_K)
    return fr__fail(err, FR_E_LIMIT, "k = %d is over the limit of %d results", k, FR_GALLERY_MAX_K);
  for (int d = 0; d < g->dim; d++)
    if (!isfinite(query[d])) return fr__fail(err, FR_E_INVALID, "the query has a non-finite value");
  fr_status st = fr__gallery_ensure_view(g, err);
  if (st != FR_OK) return st;
  size_t best[FR_GALLERY_MAX_K];
  float d2[FR_GALLERY_MAX_K];
  size_t n;
  st = fr__gallery_nearest_rows(g, query, k, best, d2, &n, err);
  if (st != FR_OK) return st;
  for (size_t i = 0; i < n; i++)
    fr__gallery_fill_match(g, g->row_person[best[i]], g->face_id[best[i]], d2[i], &out[i]);
  *n_out = (int)n;
  return FR_OK;
}
