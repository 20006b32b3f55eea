/*
 * test_embed.c - FaceRecognitionNet on our engine against face-api.js's own
 * reference descriptors and the TensorFlow.js peer's, with both kernel sets,
 * batched and single, on one and two threads.
 */
#include "embed/embed_internal.h"

#include <cjson/cJSON.h>

#include "check.h"
#include "check_json.h"

/* Reads a JSON array of n numbers into out; returns 1 on success. */
static int json_floats(const cJSON *arr, float *out, int n) {
  if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != n) return 0;
  int i = 0;
  const cJSON *v;
  cJSON_ArrayForEach(v, arr) out[i++] = (float)v->valuedouble;
  return 1;
}

static void test_reference(const fr_embedder *emb, fr_context *ctx, const char *label) {
  static const char *const images[2] = {"bbt/test/images/face1.png", "bbt/test/images/face2.png"};
  static const char *const refs[2] = {"reference/faceapi/faceapi-js-test/faceDescriptor1.json",
                                      "reference/faceapi/faceapi-js-test/faceDescriptor2.json"};
  fr_error err = {0};
  fr_image chips[2];
  float single[2][128], batch[2 * 128];
  for (int i = 0; i < 2; i++) {
    CHECK_OK(fr_image_load(check_data(images[i]), NULL, &chips[i], &err), &err);
    CHECK_OK(fr_embed(ctx, emb, &chips[i], 1, single[i], &err), &err);
    cJSON *j = read_json(check_data(refs[i]));
    float ref[128];
    CHECK_MSG(j && json_floats(j, ref, 128), "cannot read %s", refs[i]);
    float d = fr_distance(single[i], ref, 128);
    CHECK_MSG(d <= 0.05f, "%s: %s distance to face-api.js reference %.4f", label, images[i], d);
    printf("%s: %s: distance to face-api.js reference %.4f\n", label, images[i], d);
    cJSON_Delete(j);
  }
  CHECK_OK(fr_embed(ctx, emb, chips, 2, batch, &err), &err);
  for (int i = 0; i < 2; i++) {
    float d = fr_distance(single[i], batch + 128 * i, 128);
    CHECK_MSG(d < 1e-5f, "%s: batch vs single %g", label, d);
  }
  float same = fr_distance(single[0], single[1], 128);
  CHECK_MSG(fabsf(same - 0.893f) < 0.01f, "%s: face1-face2 distance %.4f (reference 0.8930)",
            label, same);
  fr_image_free(&chips[0]);
  fr_image_free(&chips[1]);
}

int main(void) {
  fr_error err = {0};
  const char *models = check_models_dir();
  fr_embedder *fast = NULL, *ref = NULL;
  CHECK_OK(fr_embedder_create(FR_EMBEDDER_FACEAPI, models, &fast, &err), &err);
  CHECK_OK(fr__embedder_create_with(FR_EMBEDDER_FACEAPI, models, &fr__kernels_scalar, &ref, &err),
           &err);
  if (!fast || !ref) return check_summary();
  CHECK(fr_embedder_dim(fast) == 128 && fr_embedder_input_size(fast) == 150);

  fr_pool *pool;
  fr_context *c1, *c2;
  CHECK_OK(fr_pool_create(2, &pool, &err), &err);
  CHECK_OK(fr_context_create(NULL, &c1, &err), &err);
  CHECK_OK(fr_context_create(pool, &c2, &err), &err);
  test_reference(fast, c1, fr__graph_kernels(fr__embedder_graph(fast))->name);
  test_reference(fast, c2, "2 threads");
  test_reference(ref, c1, "scalar");

  /* Bad arguments and bad model directories fail cleanly. */
  float out[128];
  fr_image empty = {0};
  CHECK(fr_embed(c1, fast, &empty, 1, out, &err) == FR_E_INVALID);
  CHECK(fr_embed(c1, fast, NULL, 1, out, &err) == FR_E_INVALID);
  fr_embedder *none = NULL;
  fr_status st = fr_embedder_create(FR_EMBEDDER_FACEAPI, "/nonexistent", &none, &err);
  CHECK_MSG(st != FR_OK && none == NULL && strstr(err.message, "face_recognition_model"),
            "missing model: %d %s", st, err.message);
  fr_embedder_destroy(NULL);

  fr_context_destroy(c1);
  fr_context_destroy(c2);
  fr_pool_destroy(pool);
  fr_embedder_destroy(fast);
  fr_embedder_destroy(ref);
  return check_summary();
}
