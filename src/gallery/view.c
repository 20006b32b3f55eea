/*
 * view.c - the gallery's in-memory view, which matching reads instead of the
 * file.
 *
 * The file is the truth (store.c); the handle keeps a read-only view of it in
 * memory (one aligned matrix, person of each row, centroids) for matching
 * (search.c, classify.c, which call fr__gallery_ensure_view first). The view
 * is rebuilt lazily: after this handle writes, and when SQLite's data_version
 * says another connection wrote. It is read in one read transaction through
 * store.c's statements, so that it is one snapshot of the file. The
 * unit-length copies the cosine metric uses are built on first use, by
 * fr__gallery_ensure_unit. The view's buffers are freed by store.c's
 * fr__gallery_drop_view, which closing a handle calls too.
 */
#include "gallery/gallery_internal.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Index of the person with this id in the view (people are sorted by id). */
static int person_index(const fr_gallery *g, int64_t id) {
  int lo = 0, hi = g->n_people - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    if (g->people[mid].id == id) return mid;
    if (g->people[mid].id < id) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/* Builds the view inside an open read transaction. */
static fr_status load_view(fr_gallery *g, fr_error *err) {
  fr__gallery_drop_view(g);
  char buf[64];
  if (fr__gallery_meta_get(g, "generation", buf, sizeof buf, err) != 1)
    return fr__fail(err, FR_E_FORMAT, "gallery: the generation record is missing");
  g->generation = strtoll(buf, NULL, 10);
  int count;
  fr_status st = fr_gallery_count(g, &count, err);
  if (st != FR_OK) return st;
  size_t rows = (size_t)count, bytes;
  sqlite3_stmt *s = fr__gallery_stmt(g, Q_PEOPLE_ALL, err);
  if (!s) return err ? err->status : FR_E_IO;
  int cap = 16, rc;
  g->people = fr__malloc((size_t)cap * sizeof *g->people);
  if (!g->people) return fr__fail(err, FR_E_NOMEM, "out of memory");
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    if (g->n_people == cap) {
      fr__gallery_person *p = fr__realloc(g->people, (size_t)cap * 2 * sizeof *p);
      if (!p) return fr__fail(err, FR_E_NOMEM, "out of memory");
      g->people = p;
      cap *= 2;
    }
    fr__gallery_person *p = &g->people[g->n_people++];
    p->id = sqlite3_column_int64(s, 0);
    snprintf(p->name, sizeof p->name, "%s", (const char *)sqlite3_column_text(s, 1));
    p->first_row = 0;
    p->n_rows = 0;
  }
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) return fr__gallery_db_fail(g, err, "reading people");
  if (!fr__mul_size(rows, (size_t)g->stride * sizeof(float), &bytes))
    return fr__fail(err, FR_E_NOMEM, "gallery too large");
  if (rows) {
    g->matrix = fr__aligned_calloc(bytes);
    g->face_id = fr__malloc(rows * sizeof *g->face_id);
    g->row_person = fr__malloc(rows * sizeof *g->row_person);
    g->dist = fr__malloc(rows * sizeof *g->dist);
    if (!g->matrix || !g->face_id || !g->row_person || !g->dist)
      return fr__fail(err, FR_E_NOMEM, "out of memory for %zu descriptors", rows);
  }
  if (g->n_people) {
    g->centroids = fr__aligned_calloc((size_t)g->n_people * g->stride * sizeof(float));
    if (!g->centroids) return fr__fail(err, FR_E_NOMEM, "out of memory");
  }
  if (!(s = fr__gallery_stmt(g, Q_FACES_ALL, err))) return err ? err->status : FR_E_IO;
  size_t r = 0;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW && r < rows) {
    int pi = person_index(g, sqlite3_column_int64(s, 1));
    const void *blob = sqlite3_column_blob(s, 2);
    int len = sqlite3_column_bytes(s, 2);
    if (pi < 0 || !blob || len != (int)(g->dim * sizeof(float))) {
      sqlite3_reset(s);
      return fr__fail(err, FR_E_FORMAT, "gallery: descriptor %lld is malformed (%d bytes)",
                      (long long)sqlite3_column_int64(s, 0), len);
    }
    float *row = g->matrix + r * g->stride;
    memcpy(row, blob, (size_t)len);
    g->face_id[r] = sqlite3_column_int64(s, 0);
    g->row_person[r] = pi;
    fr__gallery_person *p = &g->people[pi];
    if (p->n_rows == 0) p->first_row = (int)r;
    p->n_rows++;
    float *c = g->centroids + (size_t)pi * g->stride;
    for (int d = 0; d < g->dim; d++) c[d] += row[d];
    r++;
  }
  sqlite3_reset(s);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    return fr__gallery_db_fail(g, err, "reading descriptors");
  g->n_rows = r;
  for (int i = 0; i < g->n_people; i++)
    if (g->people[i].n_rows)
      for (int d = 0; d < g->dim; d++) g->centroids[(size_t)i * g->stride + d] /= (float)g->people[i].n_rows;
  return FR_OK;
}

/* Makes the view match the file. */
fr_status fr__gallery_ensure_view(fr_gallery *g, fr_error *err) {
  int64_t dv = fr__gallery_pragma_int(g, "PRAGMA data_version");
  if (!g->stale && dv == g->data_version) return FR_OK;
  /* One read transaction, so that the people, the count and the rows are one
   * snapshot even while another process writes. */
  fr_status st = fr__gallery_exec(g, "BEGIN", err);
  if (st != FR_OK) return st;
  st = load_view(g, err);
  fr__gallery_rollback(g);
  if (st != FR_OK) {
    fr__gallery_drop_view(g);
    return st;
  }
  g->data_version = fr__gallery_pragma_int(g, "PRAGMA data_version");
  g->stale = 0;
  return FR_OK;
}

/* Builds the unit-length copies of the rows and of the people's mean
 * directions (the cosine metric's matrix and centroids). */
fr_status fr__gallery_ensure_unit(fr_gallery *g, fr_error *err) {
  if (g->umatrix || g->n_rows == 0) return FR_OK;
  g->umatrix = fr__aligned_calloc(g->n_rows * (size_t)g->stride * sizeof(float));
  g->ucentroids = fr__aligned_calloc((size_t)(g->n_people ? g->n_people : 1) * g->stride * sizeof(float));
  if (!g->umatrix || !g->ucentroids) {
    fr__aligned_free(g->umatrix);
    fr__aligned_free(g->ucentroids);
    g->umatrix = g->ucentroids = NULL;
    return fr__fail(err, FR_E_NOMEM, "out of memory for the cosine view");
  }
  for (size_t r = 0; r < g->n_rows; r++) {
    const float *x = g->matrix + r * g->stride;
    float *u = g->umatrix + r * g->stride, *c = g->ucentroids + (size_t)g->row_person[r] * g->stride;
    double n2 = 0;
    for (int d = 0; d < g->dim; d++) n2 += (double)x[d] * x[d];
    double inv = n2 > 0 ? 1.0 / sqrt(n2) : 0;
    for (int d = 0; d < g->dim; d++) {
      u[d] = (float)(x[d] * inv);
      c[d] += u[d];
    }
  }
  for (int i = 0; i < g->n_people; i++) {
    float *c = g->ucentroids + (size_t)i * g->stride;
    double n2 = 0;
    for (int d = 0; d < g->dim; d++) n2 += (double)c[d] * c[d];
    double inv = n2 > 0 ? 1.0 / sqrt(n2) : 0;
    for (int d = 0; d < g->dim; d++) c[d] = (float)(c[d] * inv);
  }
  return FR_OK;
}
