/*
 * store.c - the server's own SQL on the gallery file (see store.h).
 */
#include "server/store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct fr__srv_store {
  sqlite3 *db;
};

static fr_status db_fail(fr__srv_store *s, fr_error *err, const char *what) {
  return fr__fail(err, FR_E_IO, "gallery: %s: %s", what, sqlite3_errmsg(s->db));
}

fr_status fr__srv_store_open(const char *path, fr__srv_store **out, fr_error *err) {
  *out = NULL;
  fr__srv_store *s = calloc(1, sizeof *s);
  if (!s) return fr__fail(err, FR_E_NOMEM, "out of memory");
  if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
    fr_status st = fr__fail(err, FR_E_IO, "cannot open %s: %s", path,
                            s->db ? sqlite3_errmsg(s->db) : "out of memory");
    fr__srv_store_close(s);
    return st;
  }
  /* The same durability as the library's connection: every acknowledged
   * write survives a crash. */
  sqlite3_busy_timeout(s->db, 5000);
  /* secure_delete: as the library does, a removed descriptor must not stay
   * readable in free pages. */
  if (sqlite3_exec(s->db, "PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL; PRAGMA secure_delete=ON;", NULL,
                   NULL, NULL) != SQLITE_OK) {
    fr_status st = db_fail(s, err, "configuring");
    fr__srv_store_close(s);
    return st;
  }
  *out = s;
  return FR_OK;
}

void fr__srv_store_close(fr__srv_store *s) {
  if (!s) return;
  sqlite3_close(s->db);
  free(s);
}

static fr_status bump_generation(fr__srv_store *s, fr_error *err) {
  if (sqlite3_exec(s->db, "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'",
                   NULL, NULL, NULL) != SQLITE_OK)
    return db_fail(s, err, "updating the generation");
  return FR_OK;
}

fr_status fr__srv_store_add_person(fr__srv_store *s, const char *name, const char *metadata,
                                   int64_t *id, fr_error *err) {
  sqlite3_stmt *q = NULL;
  if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
    return db_fail(s, err, "starting a write");
  fr_status st = FR_OK;
  if (sqlite3_prepare_v2(s->db, "INSERT INTO people(name, metadata, created) VALUES(?1, ?2, ?3)", -1,
                         &q, NULL) != SQLITE_OK) {
    st = db_fail(s, err, "preparing");
  } else {
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    if (metadata) sqlite3_bind_text(q, 2, metadata, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, (int64_t)time(NULL));
    int rc = sqlite3_step(q);
    if (rc == SQLITE_CONSTRAINT)
      st = fr__fail(err, FR_E_INVALID, "a person called '%s' already exists", name);
    else if (rc != SQLITE_DONE) st = db_fail(s, err, "adding a person");
    else *id = sqlite3_last_insert_rowid(s->db);
  }
  sqlite3_finalize(q);
  if (st == FR_OK) st = bump_generation(s, err);
  if (st == FR_OK && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
    st = db_fail(s, err, "committing");
  if (st != FR_OK) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  return st;
}

fr_status fr__srv_store_faces(fr__srv_store *s, const char *name, fr__srv_face_row *out, int max,
                              int *n, fr_error *err) {
  *n = 0;
  sqlite3_stmt *q = NULL;
  int64_t pid = -1;
  if (sqlite3_prepare_v2(s->db, "SELECT id FROM people WHERE name = ?1", -1, &q, NULL) != SQLITE_OK)
    return db_fail(s, err, "preparing");
  sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
  if (sqlite3_step(q) == SQLITE_ROW) pid = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  if (pid < 0) return fr__fail(err, FR_E_NOTFOUND, "no person called '%s'", name);
  if (sqlite3_prepare_v2(s->db,
                         "SELECT id, image_hash, variant, box_x, box_y, box_w, box_h, created"
                         " FROM faces WHERE person_id = ?1 ORDER BY id",
                         -1, &q, NULL) != SQLITE_OK)
    return db_fail(s, err, "preparing");
  sqlite3_bind_int64(q, 1, pid);
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW && *n < max) {
    fr__srv_face_row *r = &out[(*n)++];
    r->id = sqlite3_column_int64(q, 0);
    const unsigned char *h = sqlite3_column_text(q, 1);
    snprintf(r->image_hash, sizeof r->image_hash, "%s", h ? (const char *)h : "");
    r->variant = sqlite3_column_int(q, 2);
    r->box = (fr_rect){(float)sqlite3_column_double(q, 3), (float)sqlite3_column_double(q, 4),
                       (float)sqlite3_column_double(q, 5), (float)sqlite3_column_double(q, 6)};
    r->created = sqlite3_column_int64(q, 7);
  }
  sqlite3_finalize(q);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_fail(s, err, "listing faces");
  return FR_OK;
}

int64_t fr__srv_store_face_id(fr__srv_store *s, const char *name, const char *image_hash) {
  sqlite3_stmt *q = NULL;
  int64_t id = -1;
  if (sqlite3_prepare_v2(s->db,
                         "SELECT f.id FROM faces f JOIN people p ON p.id = f.person_id"
                         " WHERE p.name = ?1 AND f.image_hash = ?2 AND f.variant = 0",
                         -1, &q, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, image_hash, -1, SQLITE_STATIC);
  if (sqlite3_step(q) == SQLITE_ROW) id = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  return id;
}

fr_status fr__srv_store_remove_face(fr__srv_store *s, int64_t id, fr_error *err) {
  sqlite3_stmt *q = NULL;
  if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
    return db_fail(s, err, "starting a write");
  fr_status st = FR_OK;
  if (sqlite3_prepare_v2(s->db, "DELETE FROM faces WHERE id = ?1", -1, &q, NULL) != SQLITE_OK) {
    st = db_fail(s, err, "preparing");
  } else {
    sqlite3_bind_int64(q, 1, id);
    if (sqlite3_step(q) != SQLITE_DONE) st = db_fail(s, err, "removing a face");
    else if (sqlite3_changes(s->db) == 0) st = fr__fail(err, FR_E_NOTFOUND, "no face with id %lld", (long long)id);
  }
  sqlite3_finalize(q);
  /* The stored SVM may keep this descriptor as a support vector: it goes too,
   * as when the library forgets a person (the next identify retrains). */
  if (st == FR_OK && sqlite3_exec(s->db, "DELETE FROM classifiers", NULL, NULL, NULL) != SQLITE_OK)
    st = db_fail(s, err, "removing the stored SVM");
  if (st == FR_OK) st = bump_generation(s, err);
  if (st == FR_OK && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
    st = db_fail(s, err, "committing");
  if (st != FR_OK) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  return st;
}
