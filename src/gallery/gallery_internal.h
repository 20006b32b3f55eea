/*
 * gallery_internal.h - what the gallery's files share (prefix fr__).
 *
 * First the matching kernels (match.c), shared with the tests so that the
 * AVX2 and scalar paths can be compared. Then the handle, struct fr_gallery,
 * and the functions its four files call across: store.c (SQLite: schema,
 * open and close, writes, lists, facts), view.c (the in-memory view and its
 * freshness), search.c (fr_gallery_search, nearest rows) and classify.c
 * (fr_gallery_identify, its classifiers and the SVM). Each file calls only
 * the ones listed before it, so that no two of them call each other.
 */
#ifndef FR_GALLERY_INTERNAL_H
#define FR_GALLERY_INTERNAL_H

#include "core/internal.h"

#include <sqlite3.h>

/* Row stride of the descriptor matrix, in floats: dim rounded up to 16 so that
 * every row starts on a 64-byte boundary and vector loops need no tail. */
static inline int fr__gallery_stride(int dim) { return (dim + 15) & ~15; }

/*
 * Squared Euclidean distances from q to each of `rows` rows of m (row i at
 * m + i * stride); q and m are 64-byte aligned with zeros in the padding
 * beyond dim. impl: 0 the scalar loop, 1 AVX2/FMA (only if the CPU has it),
 * -1 the best this process may use (FACEREC_KERNELS=scalar forces scalar).
 */
void fr__sqdist_rows(int impl, const float *m, size_t rows, int stride, const float *q,
                     float *out);

/* 1 if the AVX2 path is usable on this CPU. */
int fr__gallery_has_avx2(void);

/*
 * A compact copy of the descriptor matrix for the first pass of an exact
 * search. Row r is stored as int8 codes q with one scale s (x ~ s * q), and
 * its squared norm: dim + 8 bytes. The query is quantised the same way, so
 * the first pass is an integer dot product per row (about a quarter of the
 * fp32 matrix's bytes to stream) and yields for every row an interval that
 * provably holds the distance the fp32 kernel computes; see fr__qindex_topk.
 */
typedef struct fr__qindex {
  size_t n;
  int dim, cstride; /* bytes per code row: dim rounded up to 32, zero padded */
  int8_t *codes;    /* n x cstride, 64-byte aligned */
  float *norm2;     /* |x|^2 per row */
  float *scale;     /* s per row (NaN: a row to measure exactly always) */
} fr__qindex;

/* A row that the first pass could not exclude, with its lower bound. */
typedef struct fr__qcand {
  uint32_t row;
  float lb;
} fr__qcand;

/* Builds ix from n rows of m (row stride `stride` floats, dim used). On
 * failure ix is left empty. fr__qindex_free(NULL or empty) is a no-op. */
fr_status fr__qindex_build(fr__qindex *ix, const float *m, size_t n, int dim, int stride,
                           fr_error *err);
void fr__qindex_free(fr__qindex *ix);

/*
 * The exact k nearest rows of m to q (q padded and aligned like the matrix
 * rows), ordered by the squared distance fr__sqdist_rows(impl) computes and,
 * among equal distances, by the smaller tie[r] (tie may be NULL: the row
 * index). Writes up to k rows and their squared distances; returns the number
 * written. impl as in fr__sqdist_rows. cand is scratch of ix->n entries (only
 * the rows the first pass cannot exclude are written to it: usually a few).
 *
 * Why it is exact: the first pass bounds each row's distance from below (lb)
 * and above (ub) with margins that cover quantisation and float rounding of
 * both this pass and the fp32 kernel. The k-th smallest ub, U, is at least the
 * k-th smallest true distance, so every row of the true top k (ties included)
 * has lb <= U; those rows, usually a handful, are re-ranked with the fp32
 * kernel itself, so the result is identical to a full fp32 scan. *n_exact
 * (may be NULL) receives how many rows were re-ranked.
 */
size_t fr__qindex_topk(int impl, const fr__qindex *ix, const float *m, int stride, const float *q,
                       const int64_t *tie, int k, size_t *rows, float *d2, fr__qcand *cand,
                       size_t *n_exact);

/* Rows below which a search simply scans the fp32 matrix. */
#define FR__QINDEX_MIN_ROWS 4096

/* ---- the handle --------------------------------------------------------------- */

/* Prepared statements, made on first use and kept for the handle's life. */
enum {
  Q_META_GET,
  Q_META_SET,
  Q_GEN_BUMP,
  Q_PERSON_FIND,
  Q_PERSON_ADD,
  Q_PERSON_META,
  Q_PERSON_DEL,
  Q_FACE_BY_HASH,
  Q_FACE_ADD,
  Q_FACE_DEL,
  Q_FACE_COUNT,
  Q_PEOPLE_ALL,
  Q_PEOPLE_LIST,
  Q_FACES_ALL,
  Q_SVM_GET,
  Q_SVM_PUT,
  Q_SVM_DEL,
  Q_PERSON_FACES,
  Q_FACES_OF,
  Q_FACE_ID,
  Q_FACE_DEL_ONE,
  Q_COUNT
};

struct svm_model;

typedef struct fr__gallery_person {
  int64_t id;
  char name[FR_NAME_MAX];
  int first_row, n_rows; /* rows are grouped by person */
} fr__gallery_person;

struct fr_gallery {
  sqlite3 *db;
  sqlite3_stmt *q[Q_COUNT];
  char model[256];
  int dim, stride;
  float threshold;
  float cos_threshold; /* 0: none recorded */
  /* The in-memory view and what it was built from. */
  int stale;
  int64_t data_version;
  int64_t generation;
  size_t n_rows;
  float *matrix;      /* n_rows x stride, aligned, zero padded */
  int64_t *face_id;   /* per row */
  int *row_person;    /* per row: index into people */
  int n_people;
  fr__gallery_person *people; /* ordered by id */
  float *centroids;   /* n_people x stride, aligned */
  float *query;       /* stride floats, aligned: the padded query */
  float *dist;        /* n_rows scratch */
  /* Built on first use after a (re)load: the int8 first-pass copy for large
   * searches, and the unit-length rows and centroids for the cosine metric. */
  fr__qindex qix;
  fr__qcand *qcand; /* n_rows: the first pass's candidates */
  int qix_built;
  float *umatrix, *ucentroids;
  /* The SVM for `svm_generation` trained with penalty `svm_c`, or NULL. */
  struct svm_model *svm;
  int64_t svm_generation;
  double svm_c;
};

/* ---- calls across the files (each is described at its definition) ----------- */

/* store.c: the small SQLite helpers, and the freeing of the view, which
 * fr_gallery_close needs too. */
fr_status fr__gallery_db_fail(fr_gallery *g, fr_error *err, const char *what);
sqlite3_stmt *fr__gallery_stmt(fr_gallery *g, int id, fr_error *err);
fr_status fr__gallery_exec(fr_gallery *g, const char *sql, fr_error *err);
fr_status fr__gallery_end_tx(fr_gallery *g, fr_status st, fr_error *err);
void fr__gallery_rollback(fr_gallery *g);
int64_t fr__gallery_pragma_int(fr_gallery *g, const char *sql);
int fr__gallery_meta_get(fr_gallery *g, const char *key, char *buf, size_t size, fr_error *err);
void fr__gallery_drop_view(fr_gallery *g);

/* view.c: the view made current, and its cosine copies. */
fr_status fr__gallery_ensure_view(fr_gallery *g, fr_error *err);
fr_status fr__gallery_ensure_unit(fr_gallery *g, fr_error *err);

/* search.c: the nearest rows, and a match filled from a row or a person. */
fr_status fr__gallery_nearest_rows(fr_gallery *g, const float *query, int k, size_t *rows,
                                   float *d2, size_t *n, fr_error *err);
void fr__gallery_fill_match(const fr_gallery *g, int pi, int64_t face_id, float dist2,
                            fr_match *m);

#endif
