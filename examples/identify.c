/*
 * identify.c - enrol a folder of people, then name the faces in a photo.
 *
 *   identify PEOPLE_DIR PHOTO [GALLERY_FILE]
 *
 * PEOPLE_DIR holds one folder per person, named after them, with photos of
 * that person in it (JPEG, PNG, PGM or PPM; tight face crops work too):
 *
 *   people/amy/amy1.png  people/amy/amy2.png  people/raj/raj1.png ...
 *
 * Every photo's largest face is enrolled into a gallery: an in-memory one, or
 * the SQLite file GALLERY_FILE when given (enrolling the same photo twice is
 * then skipped). Then every face found in PHOTO is printed, left to right, as
 * the person of the nearest enrolled descriptor, or as "unknown" when even
 * that one is further than the model's same-person threshold.
 *
 * Build against an installed facerec:
 *   cc identify.c $(pkg-config --cflags --libs facerec) -o identify
 */
#define _POSIX_C_SOURCE 200809L /* scandir, stat */

#include <facerec.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FACES 64

/* What every function below needs: the loaded models, a pool of one thread
 * per core with this thread's context on it, the gallery, and room for one
 * photo's faces and descriptors. */
typedef struct app {
  fr_pipeline *pipe;
  fr_pool *pool;
  fr_context *ctx;
  fr_gallery *gallery;
  int dim;
  fr_face faces[MAX_FACES];
  float *desc; /* MAX_FACES * dim */
} app;

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int not_hidden(const struct dirent *e) { return e->d_name[0] != '.'; }

/*
 * Reads a whole file. The photo is decoded from memory rather than with
 * fr_image_load() so that the same bytes also give the SHA-256 the gallery
 * uses to recognise a photo it already has.
 */
static unsigned char *read_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  unsigned char *buf = NULL;
  size_t cap = 0, n = 0;
  for (;;) {
    if (n == cap) {
      cap = cap ? cap * 2 : 1 << 16;
      unsigned char *p = realloc(buf, cap);
      if (!p) break;
      buf = p;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  int bad = ferror(f) || n == 0;
  fclose(f);
  if (bad) {
    free(buf);
    return NULL;
  }
  *size = n;
  return buf;
}

/* Enrols the largest face of one photo under name. Returns 1 if a descriptor
 * was added, 0 if the photo was skipped (with a note why). */
static int enrol_photo(app *a, const char *name, const char *path) {
  size_t size = 0;
  unsigned char *bytes = read_file(path, &size);
  if (!bytes) {
    fprintf(stderr, "identify: skipping %s: cannot read it\n", path);
    return 0;
  }
  char hash[65];
  fr_sha256_hex(bytes, size, hash);
  fr_error err = {0};
  fr_image img;
  fr_status st = fr_image_decode(bytes, size, NULL, &img, &err);
  free(bytes);
  if (st != FR_OK) {
    fprintf(stderr, "identify: skipping %s: %s\n", path, err.message);
    return 0;
  }
  /* fr_describe_photo, unlike fr_pipeline_run, also finds the face in a tight
   * crop, and with whole_image_fallback = 1 takes a crop no detector accepts
   * as the face itself: enrolment photos are often such crops. */
  int n = 0;
  fr_face_source source;
  st = fr_describe_photo(a->ctx, a->pipe, &img, 1, a->faces, a->desc, MAX_FACES, &n, &source,
                         &err);
  fr_image_free(&img);
  if (st != FR_OK || n == 0) {
    fprintf(stderr, "identify: skipping %s: %s\n", path, st != FR_OK ? err.message : "no face");
    return 0;
  }
  int best = 0;
  for (int i = 1; i < n; i++)
    if (a->faces[i].box.width * a->faces[i].box.height >
        a->faces[best].box.width * a->faces[best].box.height)
      best = i;
  fr_gallery_face face = {.embedding = a->desc + (size_t)best * a->dim,
                          .image_hash = hash,
                          .variant = 0,
                          .box = a->faces[best].box};
  int added = 0;
  if (fr_gallery_enroll(a->gallery, name, NULL, &face, 1, &added, &err) != FR_OK) {
    fprintf(stderr, "identify: skipping %s: %s\n", path, err.message);
    return 0;
  }
  return added;
}

/* Enrols every photo of every person folder. Returns the number of
 * descriptors added, or -1 if the folder cannot be read. */
static int enrol_folder(app *a, const char *root) {
  struct dirent **people;
  /* Sorted, so that the output does not depend on the file system's order. */
  int np = scandir(root, &people, not_hidden, alphasort);
  if (np < 0) {
    perror(root);
    return -1;
  }
  int total = 0;
  for (int i = 0; i < np; i++) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", root, people[i]->d_name);
    struct dirent **photos;
    int nf = is_dir(dir) ? scandir(dir, &photos, not_hidden, alphasort) : -1;
    for (int k = 0; k < nf; k++) {
      char path[8192];
      snprintf(path, sizeof path, "%s/%s", dir, photos[k]->d_name);
      total += enrol_photo(a, people[i]->d_name, path);
      free(photos[k]);
    }
    if (nf >= 0) free(photos);
    free(people[i]);
  }
  free(people);
  return total;
}

/* Sorts face indices by their boxes' left edges. */
static const fr_face *sort_faces;
static int by_left_edge(const void *x, const void *y) {
  float a = sort_faces[*(const int *)x].box.x, b = sort_faces[*(const int *)y].box.x;
  return (a > b) - (a < b);
}

/* Names every face of the photo at path, left to right. Returns 0 or -1. */
static int identify_photo(app *a, const char *path) {
  fr_error err = {0};
  fr_image img;
  if (fr_image_load(path, NULL, &img, &err) != FR_OK) {
    fprintf(stderr, "identify: %s\n", err.message);
    return -1;
  }
  int n = 0;
  fr_status st =
      fr_describe_photo(a->ctx, a->pipe, &img, 0, a->faces, a->desc, MAX_FACES, &n, NULL, &err);
  fr_image_free(&img);
  if (st != FR_OK) {
    fprintf(stderr, "identify: %s: %s\n", path, err.message);
    return -1;
  }
  printf("%s: %d face%s\n", path, n, n == 1 ? "" : "s");
  int order[MAX_FACES];
  for (int i = 0; i < n; i++) order[i] = i;
  sort_faces = a->faces;
  qsort(order, (size_t)n, sizeof order[0], by_left_edge);
  fr_identify_options opts;
  fr_identify_options_default(&opts); /* nearest neighbour, the gallery's threshold */
  for (int i = 0; i < n; i++) {
    const fr_face *f = &a->faces[order[i]];
    fr_match top;
    int n_top = 0, known = 0;
    if (fr_gallery_identify(a->gallery, a->desc + (size_t)order[i] * a->dim, &opts, &top, 1,
                            &n_top, &known, &err) != FR_OK) {
      fprintf(stderr, "identify: %s\n", err.message);
      return -1;
    }
    printf("  [%4.0f, %4.0f, %4.0f, %4.0f] ", f->box.x, f->box.y, f->box.width, f->box.height);
    if (n_top == 0)
      printf("unknown (the gallery is empty)\n");
    else if (known)
      printf("%s (distance %.3f)\n", top.name, top.distance);
    else
      printf("unknown (nearest: %s, distance %.3f)\n", top.name, top.distance);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 3 && argc != 4) {
    fprintf(stderr, "usage: identify PEOPLE_DIR PHOTO [GALLERY_FILE]\n");
    return 2;
  }
  app a = {0};
  fr_error err = {0};
  fr_pipeline_options opts;
  fr_pipeline_options_default(&opts);
  char model_id[256];
  int rc = 2;
  /* The gallery is tied to the descriptor model: its id and threshold come
   * from the pipeline, so that descriptors of two models never get mixed. */
  if (fr_pipeline_create(&opts, NULL, &a.pipe, &err) != FR_OK ||
      fr_pool_create(0, &a.pool, &err) != FR_OK ||
      fr_context_create(a.pool, &a.ctx, &err) != FR_OK ||
      fr_pipeline_model_id(&opts, model_id, sizeof model_id, &err) != FR_OK ||
      fr_gallery_open(argc == 4 ? argv[3] : ":memory:", model_id, fr_pipeline_dim(a.pipe),
                      fr_pipeline_threshold(a.pipe), &a.gallery, &err) != FR_OK) {
    fprintf(stderr, "identify: %s\n", err.message);
    goto done;
  }
  a.dim = fr_pipeline_dim(a.pipe);
  a.desc = malloc(sizeof(float) * MAX_FACES * (size_t)a.dim);
  if (!a.desc) goto done;
  int added = enrol_folder(&a, argv[1]);
  if (added < 0) goto done;
  int n_people = 0, n_faces = 0;
  if (fr_gallery_people(a.gallery, NULL, 0, &n_people, &err) != FR_OK ||
      fr_gallery_count(a.gallery, &n_faces, &err) != FR_OK) {
    fprintf(stderr, "identify: %s\n", err.message);
    goto done;
  }
  printf("enrolled %d new photo%s; the gallery knows %d people (%d descriptors)\n", added,
         added == 1 ? "" : "s", n_people, n_faces);
  if (identify_photo(&a, argv[2]) == 0) rc = 0;
done:
  free(a.desc);
  fr_gallery_close(a.gallery);
  fr_context_destroy(a.ctx);
  fr_pool_destroy(a.pool);
  fr_pipeline_destroy(a.pipe);
  return rc;
}
