/*
 * test_augment.c - seeded augmentation and Gaussian blur: reproducibility,
 * each transform doing what it says on synthetic images, and augmented face
 * chips keeping their identity for the recognition network.
 */
#include "check.h"
#include "facerec.h"

static fr_augment_options none(void) {
  fr_augment_options o;
  memset(&o, 0, sizeof o);
  return o;
}

/* A deterministic RGB test pattern with structure in both directions. */
static void pattern(fr_image *img, int w, int h) {
  fr_error err = {0};
  CHECK_OK(fr_image_alloc(w, h, FR_PIXEL_RGB, img, &err), &err);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      uint8_t *p = img->data + (size_t)y * img->stride + (size_t)x * 3;
      p[0] = (uint8_t)(x * 255 / (w - 1));
      p[1] = (uint8_t)(y * 255 / (h - 1));
      p[2] = (uint8_t)(((x / 4 + y / 4) & 1) ? 200 : 40);
    }
}

static int same_pixels(const fr_image *a, const fr_image *b) {
  if (a->width != b->width || a->height != b->height || a->format != b->format) return 0;
  int bpp = fr_pixel_size(a->format);
  for (int y = 0; y < a->height; y++)
    if (memcmp(a->data + (size_t)y * a->stride, b->data + (size_t)y * b->stride, (size_t)a->width * bpp))
      return 0;
  return 1;
}

static double mean_of(const fr_image *img) {
  double s = 0;
  int bpp = fr_pixel_size(img->format);
  for (int y = 0; y < img->height; y++)
    for (int x = 0; x < img->width * bpp; x++) s += img->data[(size_t)y * img->stride + x];
  return s / ((double)img->width * img->height * bpp);
}

static void test_transforms(void) {
  fr_error err = {0};
  fr_image src, out, out2;
  pattern(&src, 40, 30);

  /* Every strength 0: the image comes back unchanged. */
  fr_augment_options o = none();
  CHECK_OK(fr_augment(&src, &o, 7, &out, &err), &err);
  CHECK(same_pixels(&src, &out));
  fr_image_free(&out);

  /* A certain flip mirrors exactly. */
  o = none();
  o.flip_probability = 1;
  CHECK_OK(fr_augment(&src, &o, 7, &out, &err), &err);
  int mirrored = 1;
  for (int y = 0; y < 30; y++)
    for (int x = 0; x < 40; x++)
      mirrored &= memcmp(out.data + (size_t)y * out.stride + x * 3, src.data + (size_t)y * src.stride + (39 - x) * 3, 3) == 0;
  CHECK(mirrored);
  fr_image_free(&out);

  /* Certain grayscale: R == G == B everywhere. */
  o = none();
  o.grayscale_probability = 1;
  CHECK_OK(fr_augment(&src, &o, 3, &out, &err), &err);
  int gray = 1;
  for (int y = 0; y < 30; y++)
    for (int x = 0; x < 40; x++) {
      const uint8_t *p = out.data + (size_t)y * out.stride + x * 3;
      gray &= p[0] == p[1] && p[1] == p[2];
    }
  CHECK(gray);
  fr_image_free(&out);

  /* Brightness moves the mean by at most the range, and some seed moves it. */
  double m0 = mean_of(&src), moved = 0;
  o = none();
  o.brightness = 20;
  for (uint64_t seed = 1; seed <= 8; seed++) {
    CHECK_OK(fr_augment(&src, &o, seed, &out, &err), &err);
    double d = fabs(mean_of(&out) - m0);
    CHECK_MSG(d <= 20.5, "brightness moved the mean by %.2f", d);
    moved = fmax(moved, d);
    fr_image_free(&out);
  }
  CHECK_MSG(moved > 5, "brightness never moved the mean more than %.2f", moved);

  /* Same seed, same image; another seed, another image. */
  fr_augment_options_default(&o);
  CHECK_OK(fr_augment(&src, &o, 42, &out, &err), &err);
  CHECK_OK(fr_augment(&src, &o, 42, &out2, &err), &err);
  CHECK(same_pixels(&out, &out2));
  fr_image_free(&out2);
  CHECK_OK(fr_augment(&src, &o, 43, &out2, &err), &err);
  CHECK(!same_pixels(&out, &out2));
  CHECK(out.format == FR_PIXEL_RGB && out.width == 40 && out.height == 30);
  fr_image_free(&out);
  fr_image_free(&out2);

  /* Rotation alone changes the image. */
  o = none();
  o.rotation = 30;
  CHECK_OK(fr_augment(&src, &o, 5, &out, &err), &err);
  CHECK(!same_pixels(&src, &out));
  fr_image_free(&out);

  /* Gray input is accepted and comes out RGB. */
  fr_image g;
  CHECK_OK(fr_image_convert(&src, FR_PIXEL_GRAY, &g, &err), &err);
  fr_augment_options_default(&o);
  CHECK_OK(fr_augment(&g, &o, 1, &out, &err), &err);
  CHECK(out.format == FR_PIXEL_RGB);
  fr_image_free(&out);
  fr_image_free(&g);

  /* Bad ranges are refused. */
  o = none();
  o.zoom = 2;
  CHECK(fr_augment(&src, &o, 1, &out, &err) == FR_E_INVALID);
  CHECK(fr_augment(NULL, &o, 1, &out, &err) == FR_E_INVALID);
  fr_image_free(&src);
}

static void test_blur(void) {
  fr_error err = {0};
  fr_image img, out;
  /* A single bright pixel spreads into a symmetric bump that keeps its mass. */
  CHECK_OK(fr_image_alloc(21, 21, FR_PIXEL_GRAY, &img, &err), &err);
  img.data[10 * img.stride + 10] = 255;
  CHECK_OK(fr_gaussian_blur(&img, 1.5f, &out, &err), &err);
  int mass = 0;
  for (int y = 0; y < 21; y++)
    for (int x = 0; x < 21; x++) mass += out.data[y * out.stride + x];
  CHECK_MSG(abs(mass - 255) <= 25, "mass %d", mass);
  uint8_t c = out.data[10 * out.stride + 10];
  CHECK(c > 0 && c < 255);
  CHECK(out.data[10 * out.stride + 9] == out.data[10 * out.stride + 11]);
  CHECK(out.data[9 * out.stride + 10] == out.data[11 * out.stride + 10]);
  CHECK(out.data[10 * out.stride + 9] < c && out.data[10 * out.stride + 8] <= out.data[10 * out.stride + 9]);
  fr_image_free(&out);
  /* sigma 0 copies; a constant image stays constant at any sigma. */
  CHECK_OK(fr_gaussian_blur(&img, 0, &out, &err), &err);
  CHECK(same_pixels(&img, &out));
  fr_image_free(&out);
  memset(img.data, 77, (size_t)img.stride * 21);
  CHECK_OK(fr_gaussian_blur(&img, 3, &out, &err), &err);
  CHECK(same_pixels(&img, &out));
  fr_image_free(&out);
  CHECK(fr_gaussian_blur(&img, -1, &out, &err) == FR_E_INVALID);
  fr_image_free(&img);
}

/* Augmented chips of a face stay that person for the network: closer to
 * the original than the threshold, and closer to it than to someone else. */
static void test_identity(void) {
  fr_error err = {0};
  fr_pipeline *pipe = NULL;
  fr_context *ctx = NULL;
  if (fr_pipeline_create(NULL, check_models_dir(), &pipe, &err) != FR_OK) {
    CHECK_MSG(0, "models: %s", err.message);
    return;
  }
  CHECK_OK(fr_context_create(NULL, &ctx, &err), &err);
  fr_image a, b;
  CHECK_OK(fr_image_load(check_data("bbt/test/images/face1.png"), NULL, &a, &err), &err);
  CHECK_OK(fr_image_load(check_data("bbt/test/images/face2.png"), NULL, &b, &err), &err);
  float da[128], db[128], dx[128];
  CHECK_OK(fr_pipeline_describe_chip(ctx, pipe, &a, da, &err), &err);
  CHECK_OK(fr_pipeline_describe_chip(ctx, pipe, &b, db, &err), &err);
  fr_augment_options o;
  fr_augment_options_default(&o);
  double worst = 0, sum = 0;
  int closer = 0;
  for (uint64_t seed = 1; seed <= 8; seed++) {
    fr_image x;
    CHECK_OK(fr_augment(&a, &o, seed, &x, &err), &err);
    CHECK_OK(fr_pipeline_describe_chip(ctx, pipe, &x, dx, &err), &err);
    double d = fr_distance(da, dx, 128);
    worst = fmax(worst, d);
    sum += d;
    closer += fr_distance(da, dx, 128) < fr_distance(db, dx, 128);
    fr_image_free(&x);
  }
  printf("augmented chips: mean distance to the original %.3f, worst %.3f\n", sum / 8, worst);
  CHECK_MSG(worst < 0.6, "an augmentation moved the face %.3f away", worst);
  CHECK_MSG(sum / 8 > 0.01, "augmentations changed nothing (mean %.4f)", sum / 8);
  CHECK(closer == 8);
  fr_image_free(&a);
  fr_image_free(&b);
  fr_context_destroy(ctx);
  fr_pipeline_destroy(pipe);
}

int main(void) {
  test_transforms();
  test_blur();
  test_identity();
  return check_summary();
}
