/*
 * gallery_cli.h - what the gallery commands (cmd_gallery.c) and the gallery
 * evaluations (eval_gallery.c) share: their options and the describing of
 * photo files. Internal to the facerec tool.
 */
#ifndef FR_TOOLS_GALLERY_CLI_H
#define FR_TOOLS_GALLERY_CLI_H

#include <stdint.h>

#include "facerec.h"

#define MAX_FACES 64
#define MAX_SHOTS 16

/* The options of every gallery command and evaluation, parsed in one place
 * (fr_cli_gallery) so that they are spelled and checked the same everywhere. */
typedef struct gopts {
  const char *db, *models, *root;
  int threads, json, aligned, no_fallback, face, augment, top_k, repeats, test_per, unknown;
  int max_people, show_distance, vacuum, enrol_people;
  fr_metric metric;
  fr_classifier classifiers[3];
  int n_classifiers;
  unsigned seed;
  float threshold, min_prob, blur;
  double svm_c;
  fr_classifier classifier;
  fr_pipeline_options po;
  int shots[MAX_SHOTS], n_shots;
} gopts;

/* A loaded pipeline and the gallery model id it writes. The evaluations fill
 * in only pipe, dim and model: they describe on threads of their own. */
typedef struct engine {
  fr_pipeline *pipe;
  fr_pool *pool;
  fr_context *ctx;
  int dim;
  char model[256];
} engine;

/*
 * Loads a file and describes its faces. hash (may be NULL) receives the
 * file's SHA-256. Returns 0, or 1 after printing why the file failed.
 */
int gcli_describe_file(fr_context *ctx, const fr_pipeline *pipe, const gopts *o, const char *path,
                       float blur, fr_face *faces, float *desc, int *n, fr_face_source *src,
                       char *hash, fr_image *keep);

/* The chip a face was described from, for augmentation: the aligned face,
 * or the image itself when it already is a chip or no landmarks exist. */
int gcli_face_chip(const gopts *o, const fr_image *img, const fr_face *face, fr_image *chip);

/* n augmented descriptors of a chip into out; seeds derive from `seed`. */
int gcli_augment_chip(fr_context *ctx, const fr_pipeline *pipe, const fr_image *chip, int n,
                      uint64_t seed, float *out, int dim);

/* Opens (or creates) a gallery for the engine's model with its thresholds. */
fr_status gcli_gallery_for(const engine *e, const char *path, fr_gallery **g, fr_error *err);

/* The identification options that --classifier, --threshold,
 * --min-probability, --svm-c and --metric ask for. */
void gcli_identify_options(const gopts *o, fr_identify_options *io);

/* Sorted image files (or, with dirs = 1, subfolders) of a folder; the caller
 * frees the list with gcli_free_list. */
char **gcli_list_dir(const char *dir, int dirs, int *n);
void gcli_free_list(char **v, int n);

#endif
