/*
 * store.h - the gallery operations the server needs and facerec.h does not
 * offer yet: creating a person without faces, listing a person's faces and
 * removing one face. They run on a second SQLite connection to the gallery
 * file, in the gallery's schema (src/gallery/gallery.c, schema version 2);
 * a write bumps the gallery's generation exactly as the library's own writes
 * do, so that open handles rebuild their view and retrain their classifier.
 * The caller serialises every call with its other gallery use (one mutex).
 * These belong in the library (fr_gallery_faces, fr_gallery_remove_face);
 * when they arrive there this file goes away.
 */
#ifndef FR_SERVER_STORE_H
#define FR_SERVER_STORE_H

#include "core/internal.h"

typedef struct fr__srv_store fr__srv_store;

fr_status fr__srv_store_open(const char *path, fr__srv_store **out, fr_error *err);
void fr__srv_store_close(fr__srv_store *s);

/* Creates a person with no faces. FR_E_INVALID if the name is taken. */
fr_status fr__srv_store_add_person(fr__srv_store *s, const char *name, const char *metadata,
                                   int64_t *id, fr_error *err);

/* One stored face of a person. */
typedef struct fr__srv_face_row {
  int64_t id;
  char image_hash[65];
  int variant;
  fr_rect box;
  int64_t created;
} fr__srv_face_row;

/* Lists up to max faces of a person, by id; *n receives the number written.
 * FR_E_NOTFOUND if there is no such person. */
fr_status fr__srv_store_faces(fr__srv_store *s, const char *name, fr__srv_face_row *out, int max,
                              int *n, fr_error *err);

/* The id of the face of `name` enrolled from image_hash (variant 0), or -1. */
int64_t fr__srv_store_face_id(fr__srv_store *s, const char *name, const char *image_hash);

/* Removes one face. FR_E_NOTFOUND if there is none with that id. */
fr_status fr__srv_store_remove_face(fr__srv_store *s, int64_t id, fr_error *err);

#endif
