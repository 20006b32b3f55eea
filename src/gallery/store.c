/*
 * store.c - the gallery's file: the people a system knows and their
 * descriptors, in SQLite.
 *
 * The file is the truth; the handle's in-memory view of it (view.c) only
 * serves matching (search.c, classify.c). This file holds all that reads or
 * writes people and faces in SQLite: the schema and its migrations, opening
 * and closing a handle, the writes (add a person, enrol, forget, remove a
 * face), the lists of people and of a person's faces, the gallery's facts
 * (model, dimension, thresholds, generation) and the checkpoints and vacuum
 * that empty the log. Every write is a single IMMEDIATE transaction with
 * synchronous=FULL, so a crash (kill -9 included) leaves either the whole
 * write or none of it, and a write acknowledged to the caller survives. A
 * committed write marks the view stale and bumps the generation, which names
 * the content for the stored SVM; a delete also drops that SVM, since it may
 * keep the deleted descriptors.
 *
 * On disk the gallery is private and forgets for real: a new file is created
 * with mode 0600 (create_private), ids are AUTOINCREMENT so that a deleted
 * one is never given out again (schema step 2 -> 3), and a delete is zeroed
 * by secure_delete and then checkpointed out of the log (scrub_log).
 *
 * This is the lowest of the gallery's four files and calls none of the
 * others: the small SQLite helpers are shared with them through
 * gallery_internal.h (fr__gallery_stmt and the rest), and the view's buffers
 * are freed here (fr__gallery_drop_view), because closing a handle frees them
 * too; view.c builds them.
 */
#include "gallery/gallery_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libsvm/svm.h>

/* The schema, one step per version. Version N is reached by running step N-1
 * on a file at version N-1, so an old gallery is upgraded in place and a new
 * one is built by running every step. Never edit a step that has shipped:
 * add a new one. */
static const char *const migrations[] = {
    /* 0 -> 1: people, faces and the key/value facts about the gallery. */
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    "  metadata TEXT, created INTEGER NOT NULL);"
    "CREATE TABLE faces(id INTEGER PRIMARY KEY,"
    "  person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,"
    "  model TEXT NOT NULL, embedding BLOB NOT NULL, image_hash TEXT,"
    "  variant INTEGER NOT NULL DEFAULT 0,"
    "  box_x REAL, box_y REAL, box_w REAL, box_h REAL, created INTEGER NOT NULL);"
    "CREATE INDEX faces_person ON faces(person_id);",
    /* 1 -> 2: duplicate detection by image hash, and stored classifiers. */
    "CREATE INDEX faces_hash ON faces(image_hash, variant);"
    "CREATE TABLE classifiers(kind TEXT PRIMARY KEY, generation INTEGER NOT NULL,"
    "  param REAL NOT NULL, data BLOB NOT NULL, created INTEGER NOT NULL);",
    /* 2 -> 3: people and faces get AUTOINCREMENT ids, so that an id is never
     * given out again after its row is deleted (a client holding an old id
     * must not reach a new person or face through it). SQLite cannot add
     * AUTOINCREMENT to a table, so both are rebuilt with the documented
     * twelve-step procedure (https://sqlite.org/lang_altertable.html#otheralter):
     * new tables, every row copied with its id, old tables dropped, new ones
     * renamed, indexes recreated. migrate() runs this with foreign keys off,
     * because with them on, dropping the old people table would cascade into
     * the faces; it checks the foreign keys before committing. Copying the
     * ids explicitly sets sqlite_sequence to the largest id present, so only
     * an id deleted from the top before this upgrade can come back, once. */
    "CREATE TABLE people_v3(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,"
    "  metadata TEXT, created INTEGER NOT NULL);"
    "INSERT INTO people_v3(id, name, metadata, created)"
    "  SELECT id, name, metadata, created FROM people;"
    "CREATE TABLE faces_v3(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,"
    "  model TEXT NOT NULL, embedding BLOB NOT NULL, image_hash TEXT,"
    "  variant INTEGER NOT NULL DEFAULT 0,"
    "  box_x REAL, box_y REAL, box_w REAL, box_h REAL, created INTEGER NOT NULL);"
    "INSERT INTO faces_v3(id, person_id, model, embedding, image_hash, variant,"
    "  box_x, box_y, box_w, box_h, created)"
    "  SELECT id, person_id, model, embedding, image_hash, variant,"
    "  box_x, box_y, box_w, box_h, created FROM faces;"
    "DROP TABLE faces;"
    "DROP TABLE people;"
    "ALTER TABLE people_v3 RENAME TO people;"
    "ALTER TABLE faces_v3 RENAME TO faces;"
    "CREATE INDEX faces_person ON faces(person_id);"
    "CREATE INDEX faces_hash ON faces(image_hash, variant);",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

/* The text of each prepared statement (gallery_internal.h names them). */
static const char *const sql_text[Q_COUNT] = {
    [Q_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [Q_META_SET] = "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)",
    [Q_GEN_BUMP] = "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'",
    [Q_PERSON_FIND] = "SELECT id FROM people WHERE name = ?1",
    [Q_PERSON_ADD] = "INSERT INTO people(name, metadata, created) VALUES(?1, ?2, ?3)",
    [Q_PERSON_META] = "UPDATE people SET metadata = ?2 WHERE id = ?1",
    [Q_PERSON_DEL] = "DELETE FROM people WHERE id = ?1",
    [Q_FACE_BY_HASH] = "SELECT person_id FROM faces WHERE image_hash = ?1 AND variant = ?2 LIMIT 1",
    [Q_FACE_ADD] = "INSERT INTO faces(person_id, model, embedding, image_hash, variant,"
                   " box_x, box_y, box_w, box_h, created) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
    [Q_FACE_DEL] = "DELETE FROM faces WHERE person_id = ?1",
    [Q_FACE_COUNT] = "SELECT COUNT(*) FROM faces",
    [Q_PEOPLE_ALL] = "SELECT id, name FROM people ORDER BY id",
    [Q_PEOPLE_LIST] = "SELECT p.id, p.name, (SELECT COUNT(*) FROM faces f WHERE f.person_id = p.id)"
                      " FROM people p ORDER BY p.name",
    [Q_FACES_ALL] = "SELECT id, person_id, embedding FROM faces ORDER BY person_id, id",
    [Q_SVM_GET] = "SELECT generation, param, data FROM classifiers WHERE kind = 'svm'",
    [Q_SVM_PUT] = "INSERT OR REPLACE INTO classifiers(kind, generation, param, data, created)"
                  " VALUES('svm', ?1, ?2, ?3, ?4)",
    [Q_SVM_DEL] = "DELETE FROM classifiers",
    [Q_PERSON_FACES] = "SELECT COUNT(*) FROM faces WHERE person_id = ?1",
    [Q_FACES_OF] = "SELECT id, image_hash, variant, box_x, box_y, box_w, box_h, created"
                   " FROM faces WHERE person_id = ?1 ORDER BY id",
    [Q_FACE_ID] = "SELECT id FROM faces WHERE image_hash = ?1 AND variant = ?2 LIMIT 1",
    [Q_FACE_DEL_ONE] = "DELETE FROM faces WHERE id = ?1",
};

/* ---- small SQLite helpers --------------------------------------------------- */

/* Reports the connection's last error as "gallery: what: SQLite's message",
 * with the status it means; returns that status. */
fr_status fr__gallery_db_fail(fr_gallery *g, fr_error *err, const char *what) {
  int code = sqlite3_errcode(g->db);
  fr_status st = (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) ? FR_E_FORMAT
                 : code == SQLITE_NOMEM                              ? FR_E_NOMEM
                                                                     : FR_E_IO;
  return fr__fail(err, st, "gallery: %s: %s", what, sqlite3_errmsg(g->db));
}

/* The prepared statement id, reset and unbound, or NULL (error in err). */
sqlite3_stmt *fr__gallery_stmt(fr_gallery *g, int id, fr_error *err) {
  if (!g->q[id]) {
    if (sqlite3_prepare_v3(g->db, sql_text[id], -1, SQLITE_PREPARE_PERSISTENT, &g->q[id], NULL) !=
        SQLITE_OK) {
      fr__gallery_db_fail(g, err, "preparing a statement");
      return NULL;
    }
  }
  sqlite3_reset(g->q[id]);
  sqlite3_clear_bindings(g->q[id]);
  return g->q[id];
}

/* Runs SQL without results (transactions and pragmas only: never user data). */
fr_status fr__gallery_exec(fr_gallery *g, const char *sql, fr_error *err) {
  if (sqlite3_exec(g->db, sql, NULL, NULL, NULL) != SQLITE_OK)
    return fr__gallery_db_fail(g, err, sql);
  return FR_OK;
}

/*
 * Switches the file to WAL mode. That takes an exclusive lock, and when
 * several connections open a new gallery at the same moment SQLite answers
 * the losers with SQLITE_BUSY at once, without calling the busy handler (so
 * that two connections upgrading their locks cannot deadlock). Retry for as
 * long as the busy timeout would have waited.
 */
static fr_status set_wal(fr_gallery *g, fr_error *err) {
  for (int attempt = 0;; attempt++) {
    int rc = sqlite3_exec(g->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
    if (rc == SQLITE_OK) return FR_OK;
    if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || attempt >= 500)
      return fr__gallery_db_fail(g, err, "PRAGMA journal_mode = WAL");
    sqlite3_sleep(20);
  }
}

/* Ends a transaction begun with BEGIN IMMEDIATE: commits it when st is FR_OK,
 * else (or when the commit fails) rolls it back. Returns the final status. */
fr_status fr__gallery_end_tx(fr_gallery *g, fr_status st, fr_error *err) {
  if (st == FR_OK) st = fr__gallery_exec(g, "COMMIT", err);
  if (st != FR_OK) fr__gallery_rollback(g);
  return st;
}

/* fr__gallery_end_tx for transactions that change people or faces: a
 * committed change also makes the in-memory matrix stale. */
static fr_status end_write(fr_gallery *g, fr_status st, fr_error *err) {
  st = fr__gallery_end_tx(g, st, err);
  if (st == FR_OK) g->stale = 1;
  return st;
}

/* Rolls back the open transaction, if there is one. */
void fr__gallery_rollback(fr_gallery *g) {
  if (!sqlite3_get_autocommit(g->db)) sqlite3_exec(g->db, "ROLLBACK", NULL, NULL, NULL);
}

/* The integer a PRAGMA answers, or -1. */
int64_t fr__gallery_pragma_int(fr_gallery *g, const char *sql) {
  sqlite3_stmt *s;
  int64_t v = -1;
  if (sqlite3_prepare_v2(g->db, sql, -1, &s, NULL) != SQLITE_OK) return -1;
  if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  return v;
}

/* Reads meta[key] into buf; returns 1 if present, 0 if absent, -1 on error. */
int fr__gallery_meta_get(fr_gallery *g, const char *key, char *buf, size_t size, fr_error *err) {
  sqlite3_stmt *s = fr__gallery_stmt(g, Q_META_GET, err);
  if (!s) return -1;
  sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    const unsigned char *v = sqlite3_column_text(s, 0);
    snprintf(buf, size, "%s", v ? (const char *)v : "");
    sqlite3_reset(s);
    return 1;
  }
  sqlite3_reset(s);
  if (rc == SQLITE_DONE) return 0;
  fr__gallery_db_fail(g, err, "reading the gallery facts");
  return -1;
}

static fr_status meta_set(fr_gallery *g, const char *key, const char *value, fr_error *err) {
  sqlite3_stmt *s = fr__gallery_stmt(g, Q_META_SET, err);
  if (!s) return err ? err->status : FR_E_IO;
  sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  return rc == SQLITE_DONE ? FR_OK : fr__gallery_db_fail(g, err, "writing the gallery facts");
}

/* Every write ends by bumping the generation, which names the gallery's
 * content for the stored SVM. */
static fr_status bump_generation(fr_gallery *g, fr_error *err) {
  sqlite3_stmt *s = fr__gallery_stmt(g, Q_GEN_BUMP, err);
  if (!s) return err ? err->status : FR_E_IO;
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  return rc == SQLITE_DONE ? FR_OK : fr__gallery_db_fail(g, err, "updating the generation");
}

/* Runs a checkpoint that must complete: SQLITE_BUSY in its result row means
 * a reader kept part of the log alive. */
static fr_status checkpoint(fr_gallery *g, fr_error *err) {
  sqlite3_stmt *s;
  if (sqlite3_prepare_v2(g->db, "PRAGMA wal_checkpoint(TRUNCATE)", -1, &s, NULL) != SQLITE_OK)
    return fr__gallery_db_fail(g, err, "checkpoint");
  int rc = sqlite3_step(s), busy = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
  sqlite3_finalize(s);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return fr__gallery_db_fail(g, err, "checkpoint");
  if (busy)
    return fr__fail(err, FR_E_IO, "gallery: another connection is reading; the log cannot be "
                                  "emptied now (retry later)");
  return FR_OK;
}

/*
 * Called after a delete has committed. secure_delete zeroes the deleted
 * bytes in the pages the delete rewrites, but those pages go to the
 * write-ahead log, and the log still holds the earlier versions of the same
 * pages, with the deleted rows in them, until a checkpoint. A TRUNCATE
 * checkpoint copies the zeroed pages over the database's and empties the
 * log, so that a forgotten person is gone from both files as soon as the
 * call returns, not at some later automatic checkpoint or close.
 *
 * Best effort: the delete has committed whatever happens here. The
 * checkpoint waits for other connections' read transactions as long as the
 * busy timeout allows; one that stays open longer (another handle, another
 * process) keeps the log's old frames, and they stay on disk until a later
 * forget, removal or fr_gallery_vacuum empties the log. fr_gallery_vacuum is
 * the strict form, which reports that case as an error.
 */
static void scrub_log(fr_gallery *g) { (void)checkpoint(g, NULL); }

/* ---- open, migrate, close --------------------------------------------------- */

/* 1 if the upgraded file breaks a foreign key (a face of no person), 0 if
 * not, -1 on error. */
static int foreign_key_broken(fr_gallery *g) {
  sqlite3_stmt *s;
  if (sqlite3_prepare_v2(g->db, "PRAGMA foreign_key_check", -1, &s, NULL) != SQLITE_OK) return -1;
  int rc = sqlite3_step(s);
  sqlite3_finalize(s);
  return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/*
 * Brings the file to SCHEMA_VERSION, then switches foreign keys on for the
 * handle's life. The steps run with foreign keys off: a step that rebuilds a
 * table drops the old one, and with foreign keys on that drop would first
 * delete every row and cascade into the tables that refer to it. PRAGMA
 * foreign_keys has no effect inside a transaction, so it is set on either
 * side of it; before committing, foreign_key_check confirms that the steps
 * left every reference intact.
 */
static fr_status migrate(fr_gallery *g, const char *path, fr_error *err) {
  fr_status st = fr__gallery_exec(g, "PRAGMA foreign_keys = OFF", err);
  if (st != FR_OK) return st;
  /* IMMEDIATE takes the write lock first, so two processes opening a new
   * file at once cannot both run the same step. */
  st = fr__gallery_exec(g, "BEGIN IMMEDIATE", err);
  if (st != FR_OK) return st;
  int64_t v = fr__gallery_pragma_int(g, "PRAGMA user_version");
  if (v < 0 || v > SCHEMA_VERSION) {
    fr__gallery_rollback(g);
    return fr__fail(err, FR_E_UNSUPPORTED,
                    "gallery %s has schema version %lld; this facerec knows up to %d", path,
                    (long long)v, SCHEMA_VERSION);
  }
  for (int64_t k = v; k < SCHEMA_VERSION && st == FR_OK; k++) {
    st = fr__gallery_exec(g, migrations[k], err);
    if (st == FR_OK) {
      char sql[64];
      snprintf(sql, sizeof sql, "PRAGMA user_version = %lld", (long long)k + 1);
      st = fr__gallery_exec(g, sql, err);
    }
  }
  if (st == FR_OK && v < SCHEMA_VERSION) {
    int broken = foreign_key_broken(g);
    if (broken < 0) st = fr__gallery_db_fail(g, err, "PRAGMA foreign_key_check");
    else if (broken)
      st = fr__fail(err, FR_E_FORMAT,
                    "gallery %s has descriptors of people who are not in it; it was not "
                    "upgraded", path);
  }
  st = fr__gallery_end_tx(g, st, err);
  if (st == FR_OK) st = fr__gallery_exec(g, "PRAGMA foreign_keys = ON", err);
  return st;
}

/* 1 if path names a file on disk, 0 if it is SQLite's in-memory database,
 * the empty name (a private temporary database) or a "file:" URI, whose
 * file name SQLite decodes itself. */
static int plain_file_path(const char *path) {
  return *path && strcmp(path, ":memory:") != 0 && strncmp(path, "file:", 5) != 0;
}

/*
 * Creates a missing gallery file empty with mode 0600, before SQLite opens
 * it. SQLite would create it with 0644 less the umask, readable by every
 * user, and it holds biometric data; SQLite gives the -wal and -shm files it
 * creates later the main file's mode, so they are private too. An existing
 * file keeps its mode (its owner chose it), and an empty file is what SQLite
 * treats as a new database.
 */
static fr_status create_private(const char *path, fr_error *err) {
  int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (fd >= 0) {
    close(fd);
    return FR_OK;
  }
  if (errno == EEXIST) return FR_OK;
  return fr__fail(err, FR_E_IO, "gallery: cannot create %s: %s", path, strerror(errno));
}

/* Records the model on a new gallery, or checks it on an existing one. */
static fr_status check_model(fr_gallery *g, const char *path, const char *model_id, int dim,
                             float threshold, fr_error *err) {
  fr_status st = fr__gallery_exec(g, "BEGIN IMMEDIATE", err);
  if (st != FR_OK) return st;
  char have[256], buf[64];
  int found = fr__gallery_meta_get(g, "model", have, sizeof have, err);
  if (found < 0) st = err ? err->status : FR_E_IO;
  if (st == FR_OK && found == 0) {
    snprintf(buf, sizeof buf, "%d", dim);
    st = meta_set(g, "model", model_id, err);
    if (st == FR_OK) st = meta_set(g, "dim", buf, err);
    snprintf(buf, sizeof buf, "%.9g", threshold);
    if (st == FR_OK) st = meta_set(g, "threshold", buf, err);
    if (st == FR_OK) st = meta_set(g, "generation", "0", err);
    if (st == FR_OK) st = meta_set(g, "embedding_format", "float32le", err);
  } else if (st == FR_OK) {
    if (strcmp(have, model_id) != 0) {
      st = fr__fail(err, FR_E_MODEL,
                    "gallery %s holds descriptors of model '%s', not '%s': descriptors of "
                    "different models cannot be compared; use another gallery file",
                    path, have, model_id);
    } else if (fr__gallery_meta_get(g, "dim", buf, sizeof buf, err) != 1 || atoi(buf) != dim) {
      st = fr__fail(err, FR_E_MODEL, "gallery %s holds %s-d descriptors, not %d-d", path, buf, dim);
    } else if (fr__gallery_meta_get(g, "threshold", buf, sizeof buf, err) == 1) {
      threshold = strtof(buf, NULL);
    }
    if (st == FR_OK && fr__gallery_meta_get(g, "cosine_threshold", buf, sizeof buf, err) == 1)
      g->cos_threshold = strtof(buf, NULL);
  }
  st = fr__gallery_end_tx(g, st, err);
  g->threshold = threshold;
  return st;
}

fr_status fr_gallery_open(const char *path, const char *model_id, int dim, float threshold,
                          fr_gallery **out, fr_error *err) {
  if (!out) return fr__fail(err, FR_E_INVALID, "fr_gallery_open: NULL out");
  *out = NULL;
  if (!path || !*path || !model_id || !*model_id)
    return fr__fail(err, FR_E_INVALID, "fr_gallery_open: a path and a model id are needed");
  if (strlen(model_id) >= 256) return fr__fail(err, FR_E_INVALID, "model id too long");
  if (dim <= 0 || dim > 65536) return fr__fail(err, FR_E_INVALID, "bad descriptor length %d", dim);
  if (!(threshold > 0) || !isfinite(threshold))
    return fr__fail(err, FR_E_INVALID, "the distance threshold must be positive");
  fr_gallery *g = fr__calloc(1, sizeof *g);
  if (!g) return fr__fail(err, FR_E_NOMEM, "out of memory opening a gallery");
  snprintf(g->model, sizeof g->model, "%s", model_id);
  g->dim = dim;
  g->stride = fr__gallery_stride(dim);
  g->stale = 1;
  g->query = fr__aligned_calloc((size_t)g->stride * sizeof(float));
  fr_status st = g->query ? FR_OK : fr__fail(err, FR_E_NOMEM, "out of memory");
  if (st == FR_OK && plain_file_path(path)) st = create_private(path, err);
  if (st == FR_OK &&
      sqlite3_open_v2(path, &g->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
    st = g->db ? fr__gallery_db_fail(g, err, path) : fr__fail(err, FR_E_NOMEM, "out of memory");
  if (st == FR_OK) {
    /* Another process may hold the write lock for a moment: wait, do not fail. */
    sqlite3_busy_timeout(g->db, 10000);
    /* WAL lets readers run while one process enrols; FULL makes a commit
     * durable before it is acknowledged. An in-memory database stays in
     * "memory" mode, which is fine. */
    st = set_wal(g, err);
    if (st == FR_OK) st = fr__gallery_exec(g, "PRAGMA synchronous = FULL", err);
    /* Forgetting a person must not leave their descriptors in free pages. */
    if (st == FR_OK) st = fr__gallery_exec(g, "PRAGMA secure_delete = ON", err);
  }
  /* migrate() also switches foreign keys on, once the schema is current. */
  if (st == FR_OK) st = migrate(g, path, err);
  if (st == FR_OK) st = check_model(g, path, model_id, dim, threshold, err);
  if (st != FR_OK) {
    fr_gallery_close(g);
    return st;
  }
  *out = g;
  return FR_OK;
}

/* Frees the view and marks it stale. view.c builds the view; its freeing is
 * here because closing a handle frees it too, and this file calls none of
 * the gallery's files above it. */
void fr__gallery_drop_view(fr_gallery *g) {
  fr__aligned_free(g->matrix);
  fr__aligned_free(g->centroids);
  fr__free(g->face_id);
  fr__free(g->row_person);
  fr__free(g->people);
  fr__free(g->dist);
  fr__qindex_free(&g->qix);
  fr__free(g->qcand);
  g->qcand = NULL;
  g->qix_built = 0;
  fr__aligned_free(g->umatrix);
  fr__aligned_free(g->ucentroids);
  g->umatrix = g->ucentroids = NULL;
  g->matrix = g->centroids = g->dist = NULL;
  g->face_id = NULL;
  g->row_person = NULL;
  g->people = NULL;
  g->n_rows = 0;
  g->n_people = 0;
  g->stale = 1;
}

void fr_gallery_close(fr_gallery *g) {
  if (!g) return;
  fr__gallery_drop_view(g);
  if (g->svm) svm_free_and_destroy_model(&g->svm);
  for (int i = 0; i < Q_COUNT; i++) sqlite3_finalize(g->q[i]);
  sqlite3_close(g->db);
  fr__aligned_free(g->query);
  fr__free(g);
}

int fr_gallery_dim(const fr_gallery *g) { return g ? g->dim : 0; }
float fr_gallery_threshold(const fr_gallery *g) { return g ? g->threshold : 0; }

float fr_gallery_metric_threshold(const fr_gallery *g, fr_metric metric) {
  if (!g) return 0;
  return metric == FR_METRIC_COSINE ? g->cos_threshold : g->threshold;
}

fr_status fr_gallery_set_threshold(fr_gallery *g, fr_metric metric, float threshold,
                                   fr_error *err) {
  if (!g || (metric != FR_METRIC_EUCLIDEAN && metric != FR_METRIC_COSINE))
    return fr__fail(err, FR_E_INVALID, "fr_gallery_set_threshold: bad argument");
  if (!(threshold > 0) || !isfinite(threshold))
    return fr__fail(err, FR_E_INVALID, "the distance threshold must be positive");
  char buf[64];
  snprintf(buf, sizeof buf, "%.9g", threshold);
  fr_status st = fr__gallery_exec(g, "BEGIN IMMEDIATE", err);
  if (st != FR_OK) return st;
  st = meta_set(g, metric == FR_METRIC_COSINE ? "cosine_threshold" : "threshold", buf, err);
  st = fr__gallery_end_tx(g, st, err);
  if (st == FR_OK) {
    if (metric == FR_METRIC_COSINE) g->cos_threshold = threshold;
    else g->threshold = threshold;
  }
  return st;
}
const char *fr_gallery_model(const fr_gallery *g) { return g ? g->model : ""; }

/* ---- writes ----------------------------------------------------------------- */

/* Names are 1 to FR_NAME_MAX - 1 bytes: empty is invalid, longer a limit. */
static fr_status check_name(const char *name, fr_error *err) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0) return fr__fail(err, FR_E_INVALID, "a person's name must not be empty");
  if (n >= FR_NAME_MAX)
    return fr__fail(err, FR_E_LIMIT, "a name of %zu bytes is over the limit of %d bytes", n,
                    FR_NAME_MAX - 1);
  return FR_OK;
}

/* Finds a person's id: 1 found, 0 absent, -1 error. */
static int find_person(fr_gallery *g, const char *name, int64_t *id, fr_error *err) {
  sqlite3_stmt *s = fr__gallery_stmt(g, Q_PERSON_FIND, err);
  if (!s) return -1;
  sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) *id = sqlite3_column_int64(s, 0);
  sqlite3_reset(s);
  if (rc == SQLITE_ROW) return 1;
  if (rc == SQLITE_DONE) return 0;
  fr__gallery_db_fail(g, err, "looking up a person");
  return -1;
}

static fr_status enroll_tx(fr_gallery *g, const char *name, const char *metadata,
                           const fr_gallery_face *faces, int n, int *added, fr_error *err) {
  int64_t pid = 0, now = (int64_t)time(NULL);
  int found = find_person(g, name, &pid, err);
  if (found < 0) return err ? err->status : FR_E_IO;
  sqlite3_stmt *s;
  if (!found) {
    if (!(s = fr__gallery_stmt(g, Q_PERSON_ADD, err))) return err ? err->status : FR_E_IO;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    if (metadata) sqlite3_bind_text(s, 2, metadata, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, now);
    if (sqlite3_step(s) != SQLITE_DONE) return fr__gallery_db_fail(g, err, "adding a person");
    pid = sqlite3_last_insert_rowid(g->db);
  } else if (metadata) {
    if (!(s = fr__gallery_stmt(g, Q_PERSON_META, err))) return err ? err->status : FR_E_IO;
    sqlite3_bind_int64(s, 1, pid);
    sqlite3_bind_text(s, 2, metadata, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE) return fr__gallery_db_fail(g, err, "updating metadata");
  }
  for (int i = 0; i < n; i++) {
    const fr_gallery_face *f = &faces[i];
    if (f->image_hash) {
      if (!(s = fr__gallery_stmt(g, Q_FACE_BY_HASH, err))) return err ? err->status : FR_E_IO;
      sqlite3_bind_text(s, 1, f->image_hash, -1, SQLITE_STATIC);
      sqlite3_bind_int(s, 2, f->variant);
      int rc = sqlite3_step(s);
      int64_t owner = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
      sqlite3_reset(s);
      if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fr__gallery_db_fail(g, err, "checking duplicates");
      if (rc == SQLITE_ROW && owner == pid) continue; /* already enrolled: skip */
      if (rc == SQLITE_ROW)
        return fr__fail(err, FR_E_INVALID,
                        "image %.16s... is already enrolled under another person", f->image_hash);
    }
    if (!(s = fr__gallery_stmt(g, Q_FACE_ADD, err))) return err ? err->status : FR_E_IO;
    sqlite3_bind_int64(s, 1, pid);
    sqlite3_bind_text(s, 2, g->model, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 3, f->embedding, (int)(g->dim * sizeof(float)), SQLITE_STATIC);
    if (f->image_hash) sqlite3_bind_text(s, 4, f->image_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 5, f->variant);
    sqlite3_bind_double(s, 6, f->box.x);
    sqlite3_bind_double(s, 7, f->box.y);
    sqlite3_bind_double(s, 8, f->box.width);
    sqlite3_bind_double(s, 9, f->box.height);
    sqlite3_bind_int64(s, 10, now);
    if (sqlite3_step(s) != SQLITE_DONE) return fr__gallery_db_fail(g, err, "adding a descriptor");
    (*added)++;
  }
  /* Counted after the inserts, inside the transaction, so that duplicates
   * do not count and concurrent writers cannot both slip under the limit. */
  if (!(s = fr__gallery_stmt(g, Q_PERSON_FACES, err))) return err ? err->status : FR_E_IO;
  sqlite3_bind_int64(s, 1, pid);
  int have = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
  sqlite3_reset(s);
  if (have < 0) return fr__gallery_db_fail(g, err, "counting a person's descriptors");
  if (have > FR_GALLERY_MAX_FACES)
    return fr__fail(err, FR_E_LIMIT,
                    "%s would have %d descriptors, over the limit of %d per person; nothing "
                    "was enrolled", name, have, FR_GALLERY_MAX_FACES);
  return bump_generation(g, err);
}

fr_status fr_gallery_enroll(fr_gallery *g, const char *name, const char *metadata,
                            const fr_gallery_face *faces, int n, int *n_added, fr_error *err) {
  if (n_added) *n_added = 0;
  if (!g || !faces || n <= 0)
    return fr__fail(err, FR_E_INVALID, "fr_gallery_enroll: no gallery or no descriptors");
  fr_status st = check_name(name, err);
  if (st != FR_OK) return st;
  if (metadata && strlen(metadata) > FR_GALLERY_MAX_METADATA)
    return fr__fail(err, FR_E_LIMIT, "metadata of %zu bytes is over the limit of %d bytes",
                    strlen(metadata), FR_GALLERY_MAX_METADATA);
  if (n > FR_GALLERY_MAX_FACES)
    return fr__fail(err, FR_E_LIMIT, "%d descriptors is over the limit of %d per person", n,
                    FR_GALLERY_MAX_FACES);
  for (int i = 0; i < n; i++) {
    if (!faces[i].embedding) return fr__fail(err, FR_E_INVALID, "descriptor %d is NULL", i);
    for (int d = 0; d < g->dim; d++)
      if (!isfinite(faces[i].embedding[d]))
        return fr__fail(err, FR_E_INVALID, "descriptor %d has a non-finite value", i);
    if (faces[i].variant < 0) return fr__fail(err, FR_E_INVALID, "negative variant");
  }
  st = fr__gallery_exec(g, "BEGIN IMMEDIATE", err);
  if (st != FR_OK) return st;
  int added = 0;
  st = end_write(g, enroll_tx(g, name, metadata, faces, n, &added, err), err);
  if (st == FR_OK && n_added) *n_added = added;
  return st;
}

fr_status fr_gallery_forget(fr_gallery *g, const char *name, int *n_removed, fr_error *err) {
  if (n_removed) *n_removed = 0;
  if (!g) return fr__fail(err, FR_E_INVALID, "fr_gallery_forget: NULL gallery");
  fr_status st = check_name(name, err);
  if (st != FR_OK) return st;
  st = fr__gallery_exec(g, "BEGIN IMMEDIATE", err);
  if (st != FR_OK) return st;
  int64_t pid = 0;
  int removed = 0;
  int found = find_person(g, name, &pid, err);
  if (found < 0) st = err ? err->status : FR_E_IO;
  else if (!found) st = fr__fail(err, FR_E_NOTFOUND, "no person called '%s' in the gallery", name);
  sqlite3_stmt *s;
  if (st == FR_OK) {
    if (!(s = fr__gallery_stmt(g, Q_FACE_DEL, err))) st = err ? err->status : FR_E_IO;
    else {
      sqlite3_bind_int64(s, 1, pid);
      if (sqlite3_step(s) != SQLITE_DONE) st = fr__gallery_db_fail(g, err, "removing descriptors");
      else removed = sqlite3_changes(g->db);
    }
  }
  if (st == FR_OK) {
    if (!(s = fr__gallery_stmt(g, Q_PERSON_DEL, err))) st = err ? err->status : FR_E_IO;
    else {
      sqlite3_bind_int64(s, 1, pid);
      if (sqlite3_step(s) != SQLITE_DONE) st = fr__gallery_db_fail(g, err, "removing a person");
    }
  }
  /* The stored SVM keeps support vectors, which may be this person's
   * descriptors: it goes too (the next identify retrains). */
  if (st == FR_OK) {
    if (!(s = fr__gallery_stmt(g, Q_SVM_DEL, err))) st = err ? err->status : FR_E_IO;
    else if (sqlite3_step(s) != SQLITE_DONE)
      st = fr__gallery_db_fail(g, err, "removing the stored SVM");
  }
  if (st == FR_OK) st = bump_generation(g, err);
  st = end_write(g, st, err);
  if (st == FR_OK && n_removed) *n_removed = removed;
  if (st == FR_OK && g->svm) svm_free_and_destroy_model(&g->svm);
  if (st == FR_OK) scrub_log(g);
  return st;
}

fr_status fr_gallery_add_person(fr_gallery *g, const char *name, const char *metadata,
                                int64_t *id, fr_error *err) {
  if (!g) return fr__fail(err, FR_E_INVALID, "fr_gallery_add_person: NULL gallery");
  fr_status st = check_name(name, err);
  if (st != FR_OK) return st;
  if (metadata && strlen(metadata) > FR_GALLERY_MAX_METADATA)
    return fr__fail(err, FR_E_LIMIT, "metadata of %zu bytes is over the limit of %d bytes",
                    strlen(metadata), FR_GALLERY_MAX_METADATA);
  st = fr__gallery_exec(g, "BEGIN IMMEDIATE", err);
  if (st != FR_OK) return st;
  int64_t pid = 0;
  int found = find_person(g, name, &pid, err);
  if (found < 0) st = err ? err->status : FR_E_IO;
  else if (found) st = fr__fail(err, FR_E_INVALID, "a person called '%s' already exists", name);
  sqlite3_stmt *s;
  if (st == FR_OK) {
    if (!(s = fr__gallery_stmt(g, Q_PERSON_ADD, err))) st = err ? err->status : FR_E_IO;
    else {
      sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
      if (metadata) sqlite3_bind_text(s, 2, metadata, -1, SQLITE_STATIC);
      sqlite3_bind_int64(s, 3, (int64_t)time(NULL));
      if (sqlite3_step(s) != SQLITE_DONE) st = fr__gallery_db_fail(g, err, "adding a person");
      else pid = sqlite3_last_insert_rowid(g->db);
    }
  }
  if (st == FR_OK) st = bump_generation(g, err);
  st = end_write(g, st, err);
  if (st == FR_OK && id) *id = pid;
  return st;
}

fr_status fr_gallery_faces(fr_gallery *g, const char *name, fr_gallery_face_info *out, int max,
                           int *n, fr_error *err) {
  if (n) *n = 0;
  if (!g || !n || max < 0 || (max > 0 && !out))
    return fr__fail(err, FR_E_INVALID, "fr_gallery_faces: NULL argument or negative max");
  fr_status st = check_name(name, err);
  if (st != FR_OK) return st;
  int64_t pid = 0;
  int found = find_person(g, name, &pid, err);
  if (found < 0) return err ? err->status : FR_E_IO;
  if (!found) return fr__fail(err, FR_E_NOTFOUND, "no person called '%s' in the gallery", name);
  sqlite3_stmt *s = fr__gallery_stmt(g, Q_FACES_OF, err);
  if (!s) return err ? err->status : FR_E_IO;
  sqlite3_bind_int64(s, 1, pid);
  int rc = SQLITE_DONE;
  while (*n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
    fr_gallery_face_info *f = &out[(*n)++];
    f->id = sqlite3_column_int64(s, 0);
    const unsigned char *h = sqlite3_column_text(s, 1);
    snprintf(f->image_hash, sizeof f->image_hash, "%s", h ? (const char *)h : "");
    f->variant = sqlite3_column_int(s, 2);
    f->box = (fr_rect){(float)sqlite3_column_double(s, 3), (float)sqlite3_column_double(s, 4),
                       (float)sqlite3_column_double(s, 5), (float)sqlite3_column_double(s, 6)};
    f->created = sqlite3_column_int64(s, 7);
  }
  if (*n < max && rc != SQLITE_DONE)
    st = fr__gallery_db_fail(g, err, "listing a person's descriptors");
  sqlite3_reset(s);
  return st;
}

fr_status fr_gallery_find_face(fr_gallery *g, const char *image_hash, int variant, int64_t *id,
                               fr_error *err) {
  if (id) *id = -1;
  if (!g || !image_hash || !id) return fr__fail(err, FR_E_INVALID, "fr_gallery_find_face: NULL argument");
  sqlite3_stmt *s = fr__gallery_stmt(g, Q_FACE_ID, err);
  if (!s) return err ? err->status : FR_E_IO;
  sqlite3_bind_text(s, 1, image_hash, -1, SQLITE_STATIC);
  sqlite3_bind_int(s, 2, variant);
  int rc = sqlite3_step(s);
  fr_status st = FR_OK;
  if (rc == SQLITE_ROW) *id = sqlite3_column_int64(s, 0);
  else if (rc == SQLITE_DONE) st = fr__fail(err, FR_E_NOTFOUND, "no descriptor from image %.16s... variant %d", image_hash, variant);
  else st = fr__gallery_db_fail(g, err, "looking up a descriptor");
  sqlite3_reset(s);
  return st;
}

int64_t fr_gallery_face_id(fr_gallery *g, const char *image_hash, int variant) {
  int64_t id = -1;
  return fr_gallery_find_face(g, image_hash, variant, &id, NULL) == FR_OK ? id : -1;
}

fr_status fr_gallery_remove_face(fr_gallery *g, int64_t id, fr_error *err) {
  if (!g) return fr__fail(err, FR_E_INVALID, "fr_gallery_remove_face: NULL gallery");
  fr_status st = fr__gallery_exec(g, "BEGIN IMMEDIATE", err);
  if (st != FR_OK) return st;
  sqlite3_stmt *s;
  if (!(s = fr__gallery_stmt(g, Q_FACE_DEL_ONE, err))) st = err ? err->status : FR_E_IO;
  else {
    sqlite3_bind_int64(s, 1, id);
    if (sqlite3_step(s) != SQLITE_DONE) st = fr__gallery_db_fail(g, err, "removing a descriptor");
    else if (sqlite3_changes(g->db) == 0)
      st = fr__fail(err, FR_E_NOTFOUND, "no descriptor with id %lld", (long long)id);
  }
  /* As in fr_gallery_forget: the stored SVM may keep this descriptor. */
  if (st == FR_OK) {
    if (!(s = fr__gallery_stmt(g, Q_SVM_DEL, err))) st = err ? err->status : FR_E_IO;
    else if (sqlite3_step(s) != SQLITE_DONE)
      st = fr__gallery_db_fail(g, err, "removing the stored SVM");
  }
  if (st == FR_OK) st = bump_generation(g, err);
  st = end_write(g, st, err);
  if (st == FR_OK && g->svm) svm_free_and_destroy_model(&g->svm);
  if (st == FR_OK) scrub_log(g); /* as in fr_gallery_forget */
  return st;
}

fr_status fr_gallery_vacuum(fr_gallery *g, fr_error *err) {
  if (!g) return fr__fail(err, FR_E_INVALID, "fr_gallery_vacuum: NULL gallery");
  if (!sqlite3_get_autocommit(g->db))
    return fr__fail(err, FR_E_INVALID, "fr_gallery_vacuum: a transaction is open");
  fr_status st = checkpoint(g, err);
  if (st == FR_OK) st = fr__gallery_exec(g, "VACUUM", err);
  if (st == FR_OK) st = checkpoint(g, err);
  return st;
}

/* ---- reads ------------------------------------------------------------------ */

fr_status fr_gallery_people(fr_gallery *g, fr_person *out, int max, int *n, fr_error *err) {
  if (!g || !n || (max > 0 && !out)) return fr__fail(err, FR_E_INVALID, "fr_gallery_people: bad argument");
  *n = 0;
  sqlite3_stmt *s = fr__gallery_stmt(g, Q_PEOPLE_LIST, err);
  if (!s) return err ? err->status : FR_E_IO;
  int rc, k = 0;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    if (k < max) {
      out[k].id = sqlite3_column_int64(s, 0);
      snprintf(out[k].name, sizeof out[k].name, "%s", (const char *)sqlite3_column_text(s, 1));
      out[k].n_faces = sqlite3_column_int(s, 2);
    }
    k++;
  }
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) return fr__gallery_db_fail(g, err, "listing people");
  *n = k;
  return FR_OK;
}

fr_status fr_gallery_count(fr_gallery *g, int *n_faces, fr_error *err) {
  if (!g || !n_faces) return fr__fail(err, FR_E_INVALID, "fr_gallery_count: bad argument");
  sqlite3_stmt *s = fr__gallery_stmt(g, Q_FACE_COUNT, err);
  if (!s) return err ? err->status : FR_E_IO;
  int rc = sqlite3_step(s);
  *n_faces = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
  sqlite3_reset(s);
  return rc == SQLITE_ROW ? FR_OK : fr__gallery_db_fail(g, err, "counting descriptors");
}
