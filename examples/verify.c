/*
 * verify.c - are the people in two photos the same person?
 *
 *   verify PHOTO_A PHOTO_B
 *
 * Loads the face pipeline once, describes the largest face of each photo with
 * a 128-d descriptor and compares the two descriptors against the model's
 * same-person threshold. Models come from $FACEREC_MODELS, ./models or the
 * installed share folder, in that order.
 *
 * Exit status: 0 the same person, 1 different people, 2 an error (unreadable
 * photo, no face found, models missing), like cmp(1).
 *
 * Build against an installed facerec:
 *   cc verify.c $(pkg-config --cflags --libs facerec) -o verify
 */
#include <facerec.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FACES 32

/*
 * Describes the largest face of the photo at path into desc (dim floats). The
 * largest, because the person a photo is meant to show is usually the one in
 * front; others may be in the background. Returns 0, or -1 after printing why.
 */
static int describe_main_face(fr_context *ctx, const fr_pipeline *pipe, const char *path,
                              float *desc) {
  fr_error err = {0};
  fr_image img;
  if (fr_image_load(path, NULL, &img, &err) != FR_OK) {
    fprintf(stderr, "verify: %s\n", err.message);
    return -1;
  }
  int dim = fr_pipeline_dim(pipe);
  fr_face faces[MAX_FACES];
  float *all = malloc(sizeof(float) * MAX_FACES * (size_t)dim);
  int n = 0;
  fr_status st = FR_E_NOMEM;
  if (all) st = fr_pipeline_run(ctx, pipe, &img, faces, all, MAX_FACES, &n, &err);
  /* The descriptors do not refer to the pixels: the image can go now. */
  fr_image_free(&img);
  int rc = -1;
  if (st != FR_OK) {
    fprintf(stderr, "verify: %s: %s\n", path, all ? err.message : fr_strerror(st));
  } else if (n == 0) {
    fprintf(stderr, "verify: %s: no face found\n", path);
  } else {
    int best = 0;
    for (int i = 1; i < n; i++)
      if (faces[i].box.width * faces[i].box.height >
          faces[best].box.width * faces[best].box.height)
        best = i;
    memcpy(desc, all + (size_t)best * dim, sizeof(float) * (size_t)dim);
    rc = 0;
  }
  free(all);
  return rc;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: verify PHOTO_A PHOTO_B\n");
    return 2;
  }
  fr_error err = {0};
  fr_pipeline_options opts;
  fr_pipeline_options_default(&opts);
  fr_pipeline *pipe = NULL;
  fr_pool *pool = NULL;
  fr_context *ctx = NULL;
  /* The pipeline holds the models (read-only once loaded); the context holds
   * this thread's working memory; the pool (0: one thread per core) splits
   * each network layer between the cores. NULL model folder: search order. */
  if (fr_pipeline_create(&opts, NULL, &pipe, &err) != FR_OK ||
      fr_pool_create(0, &pool, &err) != FR_OK || fr_context_create(pool, &ctx, &err) != FR_OK) {
    fprintf(stderr, "verify: %s\n", err.message);
    fr_pipeline_destroy(pipe);
    fr_pool_destroy(pool);
    return 2;
  }
  int dim = fr_pipeline_dim(pipe);
  float *a = malloc(sizeof(float) * (size_t)dim), *b = malloc(sizeof(float) * (size_t)dim);
  int rc = 2;
  if (a && b && describe_main_face(ctx, pipe, argv[1], a) == 0 &&
      describe_main_face(ctx, pipe, argv[2], b) == 0) {
    float d = fr_distance(a, b, dim), threshold = fr_pipeline_threshold(pipe);
    int same = d <= threshold;
    printf("distance %.4f (threshold %.2f): %s\n", d, threshold,
           same ? "same person" : "different people");
    rc = same ? 0 : 1;
  }
  free(a);
  free(b);
  /* Contexts before the pool they borrow; the order of the rest is free. */
  fr_context_destroy(ctx);
  fr_pool_destroy(pool);
  fr_pipeline_destroy(pipe);
  return rc;
}
