/*
 * gallery_cli.c - what the gallery commands (cmd_gallery.c) and the gallery
 * evaluations (eval_gallery.c) share: describing an image file, chips and
 * their augmentations, opening a gallery for an engine, identification
 * options, and listing a folder. Its own file so that neither of the two
 * calls into the other (cmd_gallery.c dispatches to eval_gallery.c).
 */
#include "gallery_cli.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli.h"

int gcli_describe_file(fr_context *ctx, const fr_pipeline *pipe, const gopts *o, const char *path,
                       float blur, fr_face *faces, float *desc, int *n, fr_face_source *src,
                       char *hash, fr_image *keep) {
  fr_error err = {0};
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "facerec: cannot open %s: %s\n", path, strerror(errno));
    return 1;
  }
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *bytes = size > 0 && size < (1L << 30) ? malloc((size_t)size) : NULL;
  size_t got = bytes ? fread(bytes, 1, (size_t)size, f) : 0;
  fclose(f);
  if (!bytes || got != (size_t)size) {
    free(bytes);
    fprintf(stderr, "facerec: cannot read %s\n", path);
    return 1;
  }
  if (hash) fr_sha256_hex(bytes, got, hash);
  fr_image img;
  fr_status st = fr_image_decode(bytes, got, NULL, &img, &err);
  free(bytes);
  if (st != FR_OK) {
    fprintf(stderr, "facerec: %s: %s\n", path, err.message);
    return 1;
  }
  if (blur > 0) {
    fr_image b;
    st = fr_gaussian_blur(&img, blur, &b, &err);
    fr_image_free(&img);
    if (st != FR_OK) {
      fprintf(stderr, "facerec: %s: %s\n", path, err.message);
      return 1;
    }
    img = b;
  }
  if (o->aligned) {
    st = fr_pipeline_describe_chip(ctx, pipe, &img, desc, &err);
    memset(&faces[0], 0, sizeof faces[0]);
    faces[0].box.width = (float)img.width;
    faces[0].box.height = (float)img.height;
    *n = 1;
    *src = FR_FACE_SOURCE_WHOLE_IMAGE;
  } else {
    st = fr_describe_photo(ctx, pipe, &img, !o->no_fallback, faces, desc, MAX_FACES, n, src, &err);
  }
  if (keep && st == FR_OK) *keep = img;
  else fr_image_free(&img);
  if (st != FR_OK) {
    fprintf(stderr, "facerec: %s: %s\n", path, err.message);
    return 1;
  }
  return 0;
}

int gcli_face_chip(const gopts *o, const fr_image *img, const fr_face *face, fr_image *chip) {
  if (face->n_landmarks == 0 || o->aligned) return fr_image_convert(img, FR_PIXEL_RGB, chip, NULL) == FR_OK;
  return fr_align(img, face, o->po.align, 150, chip, NULL) == FR_OK;
}

int gcli_augment_chip(fr_context *ctx, const fr_pipeline *pipe, const fr_image *chip, int n,
                      uint64_t seed, float *out, int dim) {
  fr_augment_options ao;
  fr_augment_options_default(&ao);
  for (int k = 0; k < n; k++) {
    fr_image a;
    if (fr_augment(chip, &ao, seed * 1000003u + (uint64_t)k + 1, &a, NULL) != FR_OK) return 1;
    fr_status st = fr_pipeline_describe_chip(ctx, pipe, &a, out + (size_t)k * dim, NULL);
    fr_image_free(&a);
    if (st != FR_OK) return 1;
  }
  return 0;
}

fr_status gcli_gallery_for(const engine *e, const char *path, fr_gallery **g, fr_error *err) {
  /* Identification's cuts (fr_pipeline_identify_threshold), not the
   * verification threshold: a stranger meets every enrolled person. An
   * existing gallery keeps the cuts it recorded. */
  fr_status st = fr_gallery_open(path, e->model, e->dim,
                                 fr_pipeline_identify_threshold(e->pipe, FR_METRIC_EUCLIDEAN), g, err);
  float ct = fr_pipeline_identify_threshold(e->pipe, FR_METRIC_COSINE);
  if (st == FR_OK && ct > 0 && fr_gallery_metric_threshold(*g, FR_METRIC_COSINE) <= 0) {
    st = fr_gallery_set_threshold(*g, FR_METRIC_COSINE, ct, err);
    if (st != FR_OK) {
      fr_gallery_close(*g);
      *g = NULL;
    }
  }
  return st;
}

void gcli_identify_options(const gopts *o, fr_identify_options *io) {
  fr_identify_options_default(io);
  io->classifier = o->classifier ? o->classifier : FR_CLASSIFIER_NN;
  io->threshold = o->threshold;
  io->min_probability = o->min_prob;
  io->svm_c = o->svm_c;
  io->metric = o->metric ? o->metric : FR_METRIC_EUCLIDEAN;
}

static int is_image_name(const char *name) {
  const char *dot = strrchr(name, '.');
  if (!dot) return 0;
  static const char *const ext[] = {".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".pnm"};
  for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
    if (strcasecmp(dot, ext[i]) == 0) return 1;
  return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

char **gcli_list_dir(const char *dir, int dirs, int *n) {
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) return NULL;
  int cap = 64;
  char **v = malloc((size_t)cap * sizeof *v);
  struct dirent *de;
  while (v && (de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    struct stat st;
    if (stat(path, &st) != 0) continue;
    if (dirs ? !S_ISDIR(st.st_mode) : !(S_ISREG(st.st_mode) && is_image_name(de->d_name))) continue;
    if (*n == cap) {
      char **nv = realloc(v, (size_t)cap * 2 * sizeof *nv);
      if (!nv) break;
      v = nv;
      cap *= 2;
    }
    v[(*n)++] = strdup(path);
  }
  closedir(d);
  if (v) qsort(v, (size_t)*n, sizeof *v, cmp_str);
  return v;
}

void gcli_free_list(char **v, int n) {
  for (int i = 0; i < n; i++) free(v[i]);
  free(v);
}
