/*
 * test_landmarks.c - the 68-point landmark nets and face alignment.
 *
 *  - FaceLandmark68Net run from the TensorFlow.js peer's SSD boxes must land
 *    within 3 px of the peer's landmarks on every peer output that has faces,
 *    and face-api's alignment rectangle must come out identical (integers);
 *  - both nets against face-api.js's own expected positions for face1/face2/
 *    face_rectangular treated as whole-image face boxes;
 *  - the upright chip fed to the recognition net reproduces the peer's
 *    descriptors; the scalar and AVX2 kernels agree;
 *  - the similarity template is re-derived from the 55 dlib-aligned chips in
 *    johns/ and must match the table in src/align/template.c
 *    (FACEREC_PRINT_TEMPLATE=1 prints a fresh table); a dlib chip aligned
 *    again maps onto itself;
 *  - bad arguments fail cleanly.
 */
#include "align/align_internal.h"
#include "embed/embed_internal.h"
#include "image/image_internal.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdint.h>

#include "check.h"
#include "check_json.h"

static int cmp_str(const void *a, const void *b) { return strcmp(a, b); }

/* Largest distance between corresponding points. */
static double max_dev(const fr_point *a, const fr_point *b, int n) {
  double m = 0;
  for (int i = 0; i < n; i++) {
    double d = hypot((double)a[i].x - b[i].x, (double)a[i].y - b[i].y);
    if (d > m) m = d;
  }
  return m;
}

/* Loads a peer image from the test or the examples folder. */
static int load_test_image(const char *name, fr_image *img) {
  char rel[256];
  fr_error err = {0};
  snprintf(rel, sizeof rel, "bbt/test/images/%s", name);
  if (fr_image_load(check_data(rel), NULL, img, &err) == FR_OK) return 1;
  snprintf(rel, sizeof rel, "bbt/examples/images/%s", name);
  return fr_image_load(check_data(rel), NULL, img, &err) == FR_OK;
}

static int rect_equal(fr_rect a, double x, double y, double w, double h) {
  return a.x == x && a.y == y && a.width == w && a.height == h;
}

static int rect_near(fr_rect a, double x, double y, double w, double h, double tol) {
  return fabs(a.x - x) <= tol && fabs(a.y - y) <= tol && fabs(a.width - w) <= tol &&
         fabs(a.height - h) <= tol;
}

/* Totals over all peer faces, for the report at the end. */
static double g_peer_max_dev;
static int g_peer_faces, g_rect_exact_peer, g_rect_exact_ours, g_rect_faces;
static double g_desc_max;

/* Every face of one peer output: landmarks from the peer's SSD box, the
 * alignment rectangle from the peer's and from our landmarks, and the
 * descriptor of the upright chip. */
static void test_peer_file(fr_context *ctx, const fr_landmarker *lm, const fr_embedder *emb,
                           const char *json_name) {
  char rel[256];
  if (snprintf(rel, sizeof rel, "reference/faceapi/peer-outputs/%s", json_name) >= (int)sizeof rel)
    return;
  cJSON *j = read_json(check_data(rel));
  CHECK_MSG(j != NULL, "cannot read %s", rel);
  if (!j) return;
  const cJSON *faces = cJSON_GetObjectItemCaseSensitive(j, "ssd");
  const cJSON *imname = cJSON_GetObjectItemCaseSensitive(j, "image");
  if (!cJSON_IsArray(faces) || cJSON_GetArraySize(faces) == 0 || !cJSON_IsString(imname)) {
    cJSON_Delete(j);
    return;
  }
  fr_image img;
  int loaded = load_test_image(imname->valuestring, &img);
  CHECK_MSG(loaded, "cannot load %s", imname->valuestring);
  if (!loaded) {
    cJSON_Delete(j);
    return;
  }
  CHECK(img.width == (int)json_num(j, "width") && img.height == (int)json_num(j, "height"));
  double file_max = 0;
  int idx = 0;
  const cJSON *fc;
  cJSON_ArrayForEach(fc, faces) {
    const cJSON *box = cJSON_GetObjectItemCaseSensitive(fc, "box");
    const cJSON *lms = cJSON_GetObjectItemCaseSensitive(fc, "landmarks68");
    const cJSON *ar = cJSON_GetObjectItemCaseSensitive(fc, "alignRect");
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(fc, "descriptor");
    if (!box || cJSON_GetArraySize(lms) != 68 || !ar) {
      CHECK_MSG(0, "%s face %d: missing fields", json_name, idx);
      continue;
    }
    fr_face ours = {0}, peer = {0};
    ours.box.x = (float)json_num(box, "x");
    ours.box.y = (float)json_num(box, "y");
    ours.box.width = (float)json_num(box, "w");
    ours.box.height = (float)json_num(box, "h");
    peer.box = ours.box;
    peer.n_landmarks = 68;
    for (int i = 0; i < 68; i++) {
      const cJSON *pt = cJSON_GetArrayItem(lms, i);
      peer.landmarks[i].x = (float)cJSON_GetArrayItem(pt, 0)->valuedouble;
      peer.landmarks[i].y = (float)cJSON_GetArrayItem(pt, 1)->valuedouble;
    }
    fr_error err = {0};
    CHECK_OK(fr_landmarks(ctx, lm, &img, &ours, &err), &err);
    CHECK(ours.n_landmarks == 68);
    double dev = max_dev(ours.landmarks, peer.landmarks, 68);
    CHECK_MSG(dev <= 3.0, "%s face %d: landmarks %.3f px from the peer's", json_name, idx, dev);
    if (dev > file_max) file_max = dev;

    double ax = json_num(ar, "x"), ay = json_num(ar, "y"), aw = json_num(ar, "w"), ah = json_num(ar, "h");
    fr_rect rp = fr__align_upright_rect(&peer, img.width, img.height);
    fr_rect ro = fr__align_upright_rect(&ours, img.width, img.height);
    int exact_p = rect_equal(rp, ax, ay, aw, ah), exact_o = rect_equal(ro, ax, ay, aw, ah);
    CHECK_MSG(exact_p,
              "%s face %d: alignRect from the peer's landmarks %g %g %g %g, peer %g %g %g %g",
              json_name, idx, rp.x, rp.y, rp.width, rp.height, ax, ay, aw, ah);
    /* Our landmarks differ from the peer's by a fraction of a pixel, so a
     * floor() may tip over: allow one pixel there. */
    CHECK_MSG(rect_near(ro, ax, ay, aw, ah, 1.0),
              "%s face %d: alignRect from our landmarks %g %g %g %g, peer %g %g %g %g", json_name,
              idx, ro.x, ro.y, ro.width, ro.height, ax, ay, aw, ah);
    g_rect_faces++;
    g_rect_exact_peer += exact_p;
    g_rect_exact_ours += exact_o;

    /* The upright chip: the tensor path, the 8-bit path and the peer's
     * descriptor computed from exactly this chip. */
    float *rgb = malloc(150 * 150 * 3 * sizeof *rgb);
    fr_rect rr;
    CHECK_OK(fr__align_upright_tensor(&img, &peer, 150, rgb, &rr, &err), &err);
    CHECK(rect_equal(rr, ax, ay, aw, ah));
    fr_image chip;
    CHECK_OK(fr_align(&img, &peer, FR_ALIGN_UPRIGHT, 150, &chip, &err), &err);
    int worst = 0;
    for (int v = 0; v < 150 && chip.data; v++)
      for (int k = 0; k < 450; k++) {
        int d = abs((int)chip.data[(size_t)v * chip.stride + k] - (int)lrintf(rgb[v * 450 + k]));
        if (d > worst) worst = d;
      }
    CHECK_MSG(chip.data && worst <= 1, "8-bit chip differs from the float chip by %d", worst);
    fr_image_free(&chip);
    if (emb && cJSON_GetArraySize(desc) == 128) {
      float d_ours[128], d_peer[128];
      for (int i = 0; i < 128; i++) d_peer[i] = (float)cJSON_GetArrayItem(desc, i)->valuedouble;
      CHECK_OK(fr__embed_rgb(ctx, emb, rgb, 1, d_ours, &err), &err);
      float dd = fr_distance(d_ours, d_peer, 128);
      /* From a PNG the chip and the descriptor match the peer's exactly; a
       * JPEG decodes to slightly different pixels than in the peer (up to
       * 0.027 here), so the tolerance depends on the format. */
      int png = strstr(imname->valuestring, ".png") != NULL;
      CHECK_MSG(dd < (png ? 1e-3f : 0.04f),
                "%s face %d: descriptor of the upright chip %.4f from the peer's", json_name, idx,
                dd);
      if (dd > g_desc_max) g_desc_max = dd;
      if (getenv("FACEREC_VERBOSE"))
        printf("  %s face %d descriptor distance %.4f\n", json_name, idx, dd);
    }
    free(rgb);
    idx++;
    g_peer_faces++;
  }
  printf("%-26s %d faces, max landmark deviation from the peer %.3f px\n", json_name, idx,
         file_max);
  if (file_max > g_peer_max_dev) g_peer_max_dev = file_max;
  fr_image_free(&img);
  cJSON_Delete(j);
}

static void test_peer_outputs(fr_context *ctx, const fr_landmarker *lm, const fr_embedder *emb) {
  DIR *d = opendir(check_data("reference/faceapi/peer-outputs"));
  CHECK_MSG(d != NULL, "no peer outputs");
  if (!d) return;
  char names[64][128];
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < 64) {
    size_t len = strlen(e->d_name);
    if (len > 5 && len < 128 && strcmp(e->d_name + len - 5, ".json") == 0)
      memcpy(names[n++], e->d_name, len + 1);
  }
  closedir(d);
  qsort(names, (size_t)n, sizeof names[0], cmp_str);
  for (int i = 0; i < n; i++) test_peer_file(ctx, lm, emb, names[i]);
  printf("peer: %d faces, max landmark deviation %.3f px; alignRect exact from peer landmarks "
         "%d/%d, from ours %d/%d; max descriptor distance of the upright chip %.4f\n",
         g_peer_faces, g_peer_max_dev, g_rect_exact_peer, g_rect_faces, g_rect_exact_ours,
         g_rect_faces, g_desc_max);
  CHECK(g_peer_faces >= 30);
}

/* face-api.js's expected positions for a whole-image face box. */
static void test_faceapi_js(fr_context *ctx, const fr_landmarker *lm, const char *image,
                            const char *ref, double tol) {
  fr_image img;
  fr_error err = {0};
  char rel[256];
  snprintf(rel, sizeof rel, "bbt/test/images/%s", image);
  CHECK_OK(fr_image_load(check_data(rel), NULL, &img, &err), &err);
  snprintf(rel, sizeof rel, "reference/faceapi/faceapi-js-test/%s", ref);
  cJSON *j = read_json(check_data(rel));
  CHECK_MSG(j && cJSON_GetArraySize(j) == 68, "cannot read %s", rel);
  if (!j || !img.data) {
    cJSON_Delete(j);
    fr_image_free(&img);
    return;
  }
  fr_face f = {0};
  f.box = (fr_rect){0, 0, (float)img.width, (float)img.height};
  CHECK_OK(fr_landmarks(ctx, lm, &img, &f, &err), &err);
  fr_point want[68];
  for (int i = 0; i < 68; i++) {
    const cJSON *pt = cJSON_GetArrayItem(j, i);
    want[i].x = (float)json_num(pt, "x");
    want[i].y = (float)json_num(pt, "y");
  }
  double dev = max_dev(f.landmarks, want, 68);
  printf("face-api.js %-34s max deviation %.3f px\n", ref, dev);
  CHECK_MSG(dev <= tol, "%s: %.3f px from face-api.js", ref, dev);
  cJSON_Delete(j);
  fr_image_free(&img);
}

/* The same landmarks from the scalar kernels as from the default ones. */
static void test_kernels(fr_context *ctx, fr_landmarker_kind kind) {
  fr_error err = {0};
  fr_landmarker *a = NULL, *b = NULL;
  CHECK_OK(fr__landmarker_create_with(kind, check_models_dir(), &fr__kernels_scalar, &a, &err),
           &err);
  CHECK_OK(fr__landmarker_create_with(kind, check_models_dir(), NULL, &b, &err), &err);
  fr_image img;
  CHECK_OK(fr_image_load(check_data("bbt/test/images/face_rectangular.png"), NULL, &img, &err),
           &err);
  if (a && b && img.data) {
    fr_face fa = {0}, fb = {0};
    fa.box = fb.box = (fr_rect){0.7f, 53.0f, 104.9f, 106.5f};
    CHECK_OK(fr_landmarks(ctx, a, &img, &fa, &err), &err);
    CHECK_OK(fr_landmarks(ctx, b, &img, &fb, &err), &err);
    double dev = max_dev(fa.landmarks, fb.landmarks, 68);
    printf("kind %d: scalar vs %s kernels: max landmark difference %.2g px\n", (int)kind,
           fr_kernels_name(), dev);
    CHECK_MSG(dev < 1e-2, "kernels disagree by %g px", dev);
  }
  fr_image_free(&img);
  fr_landmarker_destroy(a);
  fr_landmarker_destroy(b);
}

/* The same landmarks on two threads as on one, and the raw entry point
 * agrees with fr_landmarks on a square whole-image box (no padding, so the
 * positions are the raw outputs times the side). */
static void test_threads_and_raw(fr_context *ctx, const fr_landmarker *lm) {
  fr_error err = {0};
  fr_pool *pool = NULL;
  fr_context *ctx2 = NULL;
  CHECK_OK(fr_pool_create(2, &pool, &err), &err);
  CHECK_OK(fr_context_create(pool, &ctx2, &err), &err);
  fr_image img;
  CHECK_OK(fr_image_load(check_data("bbt/test/images/face1.png"), NULL, &img, &err), &err);
  if (ctx2 && img.data) {
    fr_face a = {0}, b = {0};
    a.box = b.box = (fr_rect){0, 0, (float)img.width, (float)img.height};
    CHECK_OK(fr_landmarks(ctx, lm, &img, &a, &err), &err);
    CHECK_OK(fr_landmarks(ctx2, lm, &img, &b, &err), &err);
    double dev = max_dev(a.landmarks, b.landmarks, 68);
    CHECK_MSG(dev < 1e-3, "two threads differ from one by %g px", dev);
    float *rgb = malloc(112 * 112 * 3 * sizeof *rgb), raw[136];
    fr__image_to_tensor(&img, 0, 0, img.width, img.height, 112, 1, rgb, NULL);
    CHECK_OK(fr__landmarks_raw(ctx, lm, rgb, raw, &err), &err);
    double worst = 0;
    for (int i = 0; i < 68; i++) {
      double d = hypot(raw[2 * i] * img.width - a.landmarks[i].x,
                       raw[2 * i + 1] * img.height - a.landmarks[i].y);
      if (d > worst) worst = d;
    }
    CHECK_MSG(worst < 1e-3, "raw outputs and fr_landmarks differ by %g px", worst);
    CHECK(fr__landmarks_raw(ctx, lm, NULL, raw, &err) == FR_E_INVALID);
    free(rgb);
  }
  fr_image_free(&img);
  fr_context_destroy(ctx2);
  fr_pool_destroy(pool);
}

/* Milliseconds per fr_landmarks call on one thread. */
static void time_runs(fr_context *ctx, const fr_landmarker *lm, const char *label) {
  fr_image img;
  fr_error err = {0};
  CHECK_OK(fr_image_load(check_data("bbt/test/images/faces.jpg"), NULL, &img, &err), &err);
  if (!img.data) return;
  fr_face f = {0};
  f.box = (fr_rect){50.27f, 255.48f, 100.33f, 129.64f};
  fr_landmarks(ctx, lm, &img, &f, &err); /* warm-up: plans the arena */
  /* The best of several batches: other processes on a shared machine only
   * ever make a batch slower. */
  double ms = 1e9;
  for (int batch = 0; batch < 5; batch++) {
    double t0 = fr__now();
    for (int i = 0; i < 20; i++) fr_landmarks(ctx, lm, &img, &f, &err);
    double t = (fr__now() - t0) * 1000 / 20;
    if (t < ms) ms = t;
  }
  printf("%s: %.3f ms per landmark run (1 thread, %s kernels, %.1f MMAC)\n", label, ms,
         fr_kernels_name(), fr__graph_macs(fr__landmarker_graph(lm), 1, 112, 112) / 1e6);
  fr_image_free(&img);
}

/* ---- the similarity template ------------------------------------------ */

#define N_CHIPS_MAX 64

/* Paths of the johns chips, sorted. */
static int chip_paths(char paths[N_CHIPS_MAX][512]) {
  int n = 0;
  DIR *d = opendir(check_data("johns"));
  if (!d) return 0;
  struct dirent *e;
  char people[8][256];
  int np = 0;
  while ((e = readdir(d)) && np < 8)
    if (e->d_name[0] != '.' && !strchr(e->d_name, '.') && strlen(e->d_name) < sizeof people[0])
      memcpy(people[np++], e->d_name, strlen(e->d_name) + 1);
  closedir(d);
  qsort(people, (size_t)np, sizeof people[0], cmp_str);
  for (int p = 0; p < np; p++) {
    char rel[300];
    if (snprintf(rel, sizeof rel, "johns/%s", people[p]) >= (int)sizeof rel) continue;
    DIR *dp = opendir(check_data(rel));
    if (!dp) continue;
    int first = n;
    while ((e = readdir(dp)) && n < N_CHIPS_MAX) {
      size_t len = strlen(e->d_name);
      if (len > 4 && strcmp(e->d_name + len - 4, ".jpg") == 0 &&
          snprintf(paths[n], 512, "%s/%s", check_data(rel), e->d_name) < 512)
        n++;
    }
    closedir(dp);
    qsort(paths[first], (size_t)(n - first), sizeof paths[0], cmp_str);
  }
  return n;
}

/*
 * The derivation template.c documents: FaceLandmark68Net on each 150x150
 * chip with the whole chip as the face box, positions divided by the chip
 * side, mapped from the padded chip to dlib's unit square
 * (t = u * (1 + 2p) - p, p = 0.25), averaged over the chips.
 */
static void test_template(fr_context *ctx, const fr_landmarker *lm) {
  char paths[N_CHIPS_MAX][512];
  int n = chip_paths(paths);
  CHECK_MSG(n == 55, "expected 55 johns chips, found %d", n);
  if (n == 0) return;
  double sum[68][2] = {{0}};
  double worst_corner = 0, worst_scale = 0, worst_angle = 0;
  int used = 0;
  fr_face *faces = calloc((size_t)n, sizeof *faces);
  for (int c = 0; c < n; c++) {
    fr_image img;
    fr_error err = {0};
    CHECK_OK(fr_image_load(paths[c], NULL, &img, &err), &err);
    if (!img.data) continue;
    CHECK(img.width == 150 && img.height == 150);
    fr_face *f = &faces[c];
    f->box = (fr_rect){0, 0, (float)img.width, (float)img.height};
    CHECK_OK(fr_landmarks(ctx, lm, &img, f, &err), &err);
    for (int i = 0; i < 68; i++) {
      double p = FR__TEMPLATE_PADDING;
      sum[i][0] += f->landmarks[i].x / img.width * (1 + 2 * p) - p;
      sum[i][1] += f->landmarks[i].y / img.height * (1 + 2 * p) - p;
    }
    used++;
    fr_image_free(&img);
  }
  double tmax = 0;
  for (int i = 0; i < 68; i++)
    for (int k = 0; k < 2; k++) {
      double d = fabs(sum[i][k] / used - fr__landmark_template[i][k]);
      if (d > tmax) tmax = d;
    }
  printf("template re-derived from %d chips: max difference to template.c %.2g (unit square)\n",
         used, tmax);
  /* 1e-3 of the unit square is 0.1 px on a 150 px chip: a drift in the
   * engine or the input preparation shows, rounding noise does not. */
  CHECK_MSG(tmax < 1e-3, "template drifted by %g", tmax);
  const char *pr = getenv("FACEREC_PRINT_TEMPLATE");
  if (pr && *pr && *pr != '0') {
    printf("const float fr__landmark_template[FR_MAX_LANDMARKS][2] = {\n");
    for (int i = 0; i < 68; i++)
      printf("    {%.6ff, %.6ff},%s", sum[i][0] / used, sum[i][1] / used, i % 3 == 2 ? "\n" : "");
    printf("};\n");
  }

  /* Every chip is already dlib-aligned, so aligning it again must give a
   * transform close to the identity. What remains is the chip-to-chip spread
   * of our landmarks around their mean (the two landmark conventions differ
   * by more than a rigid motion), so the face region must stay within a few
   * pixels; the corners, far from the face, move a little more. */
  double worst_face = 0, sum_corner = 0;
  int counted = 0;
  for (int c = 0; c < n; c++) {
    if (faces[c].n_landmarks != 68) continue;
    double m[6];
    fr_error err = {0};
    CHECK_OK(fr__align_similarity_transform(&faces[c], 150, m, &err), &err);
    double face_move = 0;
    for (int i = FR__TEMPLATE_FIRST; i < 68; i++) {
      double p = FR__TEMPLATE_PADDING;
      double u = (fr__landmark_template[i][0] + p) / (1 + 2 * p) * 150 - 0.5;
      double v = (fr__landmark_template[i][1] + p) / (1 + 2 * p) * 150 - 0.5;
      face_move += hypot(m[0] * u + m[1] * v + m[2] - u, m[3] * u + m[4] * v + m[5] - v);
    }
    face_move /= 68 - FR__TEMPLATE_FIRST;
    if (face_move > worst_face) worst_face = face_move;
    for (int k = 0; k < 4; k++) {
      double u = (k & 1) ? 149 : 0, v = (k >> 1) ? 149 : 0;
      double d = hypot(m[0] * u + m[1] * v + m[2] - u, m[3] * u + m[4] * v + m[5] - v);
      if (d > worst_corner) worst_corner = d;
      sum_corner += d / 4;
    }
    counted++;
    double s = hypot(m[0], m[3]), ang = fabs(atan2(m[3], m[0])) * 180 / 3.14159265358979;
    if (fabs(s - 1) > worst_scale) worst_scale = fabs(s - 1);
    if (ang > worst_angle) worst_angle = ang;
  }
  double mean_corner = counted ? sum_corner / counted : 0;
  printf("re-aligning the %d dlib chips: face region moves <= %.2f px (mean over its points), "
         "corners %.2f px on average, %.2f at worst; |scale-1| <= %.3f, rotation <= %.2f deg\n",
         counted, worst_face, mean_corner, worst_corner, worst_scale, worst_angle);
  CHECK_MSG(worst_face <= 4.0, "a re-aligned dlib chip's face moved by %.2f px", worst_face);
  CHECK_MSG(mean_corner <= 4.0, "re-aligned chip corners move %.2f px on average", mean_corner);
  CHECK_MSG(worst_corner <= 12.0, "a re-aligned chip's corner moved by %.2f px", worst_corner);

  /* Chip in = chip out, exactly: a face whose landmarks sit on the template
   * must get the identity transform, and the chip must come back unchanged
   * pixel for pixel. This pins down the half-pixel conventions. */
  fr_image img, out;
  fr_error err = {0};
  CHECK_OK(fr_image_load(paths[0], NULL, &img, &err), &err);
  fr_face t = {0};
  t.box = (fr_rect){0, 0, 150, 150};
  t.n_landmarks = 68;
  for (int i = 0; i < 68; i++) {
    double p = FR__TEMPLATE_PADDING;
    t.landmarks[i].x = (float)((fr__landmark_template[i][0] + p) / (1 + 2 * p) * 150);
    t.landmarks[i].y = (float)((fr__landmark_template[i][1] + p) / (1 + 2 * p) * 150);
  }
  double m[6];
  CHECK_OK(fr__align_similarity_transform(&t, 150, m, &err), &err);
  double off = fabs(m[0] - 1) + fabs(m[1]) + fabs(m[2]) + fabs(m[3]) + fabs(m[4] - 1) + fabs(m[5]);
  CHECK_MSG(off < 1e-4, "template landmarks give %g %g %g / %g %g %g", m[0], m[1], m[2], m[3], m[4],
            m[5]);
  /* The same template moved by a known similarity (scale 1.7, 20 degrees,
   * shifted) must give back exactly that map, in pixel-index coordinates. */
  {
    fr_face s = t;
    double c = 1.7 * cos(0.349066), sn = 1.7 * sin(0.349066), tx = 310.25, ty = -42.5;
    for (int i = 0; i < 68; i++) {
      double x = t.landmarks[i].x, y = t.landmarks[i].y;
      s.landmarks[i].x = (float)(c * x - sn * y + tx);
      s.landmarks[i].y = (float)(sn * x + c * y + ty);
    }
    double ms[6];
    double want[6] = {c, -sn, 0.5 * c - 0.5 * sn + tx - 0.5, sn, c, 0.5 * sn + 0.5 * c + ty - 0.5};
    CHECK_OK(fr__align_similarity_transform(&s, 150, ms, &err), &err);
    double worst_m = 0;
    for (int k = 0; k < 6; k++)
      if (fabs(ms[k] - want[k]) > worst_m) worst_m = fabs(ms[k] - want[k]);
    CHECK_MSG(worst_m < 1e-3, "known similarity recovered with error %g", worst_m);
  }
  CHECK_OK(fr_align(&img, &t, FR_ALIGN_SIMILARITY, 150, &out, &err), &err);
  if (img.data && out.data) {
    int worst = 0;
    for (int v = 0; v < 150; v++)
      for (int u = 0; u < 150; u++) {
        uint8_t a[3], b[3];
        fr__pixel_rgb(&img, u, v, a);
        fr__pixel_rgb(&out, u, v, b);
        for (int k = 0; k < 3; k++)
          if (abs(a[k] - b[k]) > worst) worst = abs(a[k] - b[k]);
      }
    printf("identity re-alignment of a chip: max pixel difference %d\n", worst);
    CHECK_MSG(worst <= 1, "identity re-alignment changed a pixel by %d", worst);
  }
  fr_image_free(&img);
  fr_image_free(&out);
  free(faces);
}

/* Similarity chips from the faces in faces.jpg: the float and 8-bit paths
 * agree, and the landmark net run on the chip finds the face where the
 * template puts it. */
static void test_similarity_faces(fr_context *ctx, const fr_landmarker *lm) {
  cJSON *j = read_json(check_data("reference/faceapi/peer-outputs/faces.jpg.json"));
  fr_image img;
  fr_error err = {0};
  CHECK_OK(fr_image_load(check_data("bbt/test/images/faces.jpg"), NULL, &img, &err), &err);
  if (!j || !img.data) {
    cJSON_Delete(j);
    fr_image_free(&img);
    return;
  }
  const cJSON *fc;
  double worst_warp = 0, worst_pts = 0, worst_mean = 0, worst_moved = 0;
  float *rgb = malloc(150 * 150 * 3 * sizeof *rgb);
  cJSON_ArrayForEach(fc, cJSON_GetObjectItemCaseSensitive(j, "ssd")) {
    const cJSON *box = cJSON_GetObjectItemCaseSensitive(fc, "box");
    fr_face f = {0};
    f.box = (fr_rect){(float)json_num(box, "x"), (float)json_num(box, "y"), (float)json_num(box, "w"),
                      (float)json_num(box, "h")};
    CHECK_OK(fr_landmarks(ctx, lm, &img, &f, &err), &err);
    fr_image chip;
    fr_rect fp;
    CHECK_OK(fr_align(&img, &f, FR_ALIGN_SIMILARITY, 150, &chip, &err), &err);
    CHECK_OK(fr__align_similarity_tensor(&img, &f, 150, rgb, &fp, &err), &err);
    CHECK(fp.width > 50 && fp.width < 400);
    if (!chip.data) continue;
    for (int v = 0; v < 150; v++)
      for (int k = 0; k < 450; k++) {
        double d = fabs(chip.data[(size_t)v * chip.stride + k] - rgb[v * 450 + k]);
        if (d > worst_warp) worst_warp = d;
      }
    fr_face g = {0};
    g.box = (fr_rect){0, 0, 150, 150};
    CHECK_OK(fr_landmarks(ctx, lm, &chip, &g, &err), &err);
    /* Where the warp put each image landmark: invert the chip-to-image map
     * (pixel-index coordinates, hence the half-pixel shifts). */
    double m[6];
    CHECK_OK(fr__align_similarity_transform(&f, 150, m, &err), &err);
    double det = m[0] * m[4] - m[1] * m[3], moved = 0;
    for (int i = FR__TEMPLATE_FIRST; i < 68; i++) {
      double qx = f.landmarks[i].x - 0.5 - m[2], qy = f.landmarks[i].y - 0.5 - m[5];
      double u = (m[4] * qx - m[1] * qy) / det + 0.5, v = (-m[3] * qx + m[0] * qy) / det + 0.5;
      moved += hypot(g.landmarks[i].x - u, g.landmarks[i].y - v) / (68 - FR__TEMPLATE_FIRST);
    }
    if (moved > worst_moved) worst_moved = moved;
    double mean = 0;
    for (int i = FR__TEMPLATE_FIRST; i < 68; i++) {
      double p = FR__TEMPLATE_PADDING;
      double tx = (fr__landmark_template[i][0] + p) / (1 + 2 * p) * 150;
      double ty = (fr__landmark_template[i][1] + p) / (1 + 2 * p) * 150;
      double d = hypot(g.landmarks[i].x - tx, g.landmarks[i].y - ty);
      if (d > worst_pts) worst_pts = d;
      mean += d / (68 - FR__TEMPLATE_FIRST);
    }
    if (mean > worst_mean) worst_mean = mean;
    fr_image_free(&chip);
  }
  /* The landmarks found on a chip should be where the warp carried the
   * image's landmarks. The net does not predict exactly the same points for
   * a face framed differently (detector box vs chip), which costs one to
   * three pixels; a wrong warp geometry would cost far more. They also sit
   * near the template, but faces differ in pose and expression, so single
   * points may be several pixels off it. */
  printf("similarity chips of faces.jpg: 8-bit vs float %.3f levels; landmarks 17-67 on the chips "
         "%.2f px (mean, worst face) from the warped image landmarks; from the template %.2f px "
         "mean, %.2f px for one point\n",
         worst_warp, worst_moved, worst_mean, worst_pts);
  CHECK_MSG(worst_moved <= 3.0, "landmarks on a similarity chip %.2f px from the warped ones",
            worst_moved);
  CHECK_MSG(worst_mean <= 5.0, "landmarks on a similarity chip %.2f px from the template",
            worst_mean);
  CHECK_MSG(worst_warp <= 0.5 + 1e-3, "fr__warp_affine and the float path differ by %g",
            worst_warp);
  CHECK_MSG(worst_pts <= 15.0, "landmarks on a similarity chip %.2f px from the template",
            worst_pts);
  free(rgb);
  fr_image_free(&img);
  cJSON_Delete(j);
}

/* ---- bad input ---------------------------------------------------------- */

static void test_bad_input(fr_context *ctx, const fr_landmarker *lm) {
  fr_error err = {0};
  fr_image img;
  CHECK_OK(fr_image_alloc(64, 48, FR_PIXEL_RGB, &img, &err), &err);
  fr_face f = {0};
  fr_landmarker *none = (fr_landmarker *)1;

  CHECK(fr_landmarker_create(FR_LANDMARKER_68, check_models_dir(), NULL, &err) == FR_E_INVALID);
  CHECK(fr_landmarker_create((fr_landmarker_kind)7, check_models_dir(), &none, &err) ==
        FR_E_INVALID);
  CHECK(none == NULL);
  CHECK(fr_landmarker_create(FR_LANDMARKER_68, "/nonexistent-dir", &none, &err) != FR_OK);
  CHECK(none == NULL && strlen(err.message) > 0);
  fr_landmarker_destroy(NULL);

  f.box = (fr_rect){10, 10, 20, 20};
  CHECK(fr_landmarks(NULL, lm, &img, &f, &err) == FR_E_INVALID);
  CHECK(fr_landmarks(ctx, NULL, &img, &f, &err) == FR_E_INVALID);
  CHECK(fr_landmarks(ctx, lm, NULL, &f, &err) == FR_E_INVALID);
  CHECK(fr_landmarks(ctx, lm, &img, NULL, &err) == FR_E_INVALID);
  CHECK(fr_landmarks(ctx, lm, &img, &f, NULL) == FR_OK);
  CHECK(f.n_landmarks == 68);

  fr_face out = {0};
  out.box = (fr_rect){100, 10, 20, 20}; /* right of the image */
  CHECK(fr_landmarks(ctx, lm, &img, &out, &err) == FR_E_INVALID);
  CHECK(strstr(err.message, "no area") != NULL);
  CHECK(out.n_landmarks == 0);
  out.box = (fr_rect){-50, -50, 20, 20}; /* above and left */
  CHECK(fr_landmarks(ctx, lm, &img, &out, &err) == FR_E_INVALID);
  out.box = (fr_rect){10, 10, 0, 0}; /* empty */
  CHECK(fr_landmarks(ctx, lm, &img, &out, &err) == FR_E_INVALID);
  out.box = (fr_rect){10, 10, 0.5f, 30}; /* floors to zero width */
  CHECK(fr_landmarks(ctx, lm, &img, &out, &err) == FR_E_INVALID);
  out.box = (fr_rect){10, 10, -5, 30};
  CHECK(fr_landmarks(ctx, lm, &img, &out, &err) == FR_E_INVALID);
  out.box = (fr_rect){NAN, 10, 5, 30};
  CHECK(fr_landmarks(ctx, lm, &img, &out, &err) == FR_E_INVALID);
  out.box = (fr_rect){1e30f, -1e30f, 1e30f, 1e30f};
  CHECK(fr_landmarks(ctx, lm, &img, &out, &err) == FR_E_INVALID);
  out.box = (fr_rect){-1e30f, -1e30f, 3e30f, 3e30f}; /* covers the image: fine */
  CHECK_OK(fr_landmarks(ctx, lm, &img, &out, &err), &err);
  fr_image bad = img;
  bad.width = 0;
  CHECK(fr_landmarks(ctx, lm, &bad, &f, &err) == FR_E_INVALID);

  fr_image chip = {(uint8_t *)1, 1, 1, 3, FR_PIXEL_RGB};
  CHECK(fr_align(&img, &f, FR_ALIGN_UPRIGHT, 150, NULL, &err) == FR_E_INVALID);
  CHECK(fr_align(NULL, &f, FR_ALIGN_UPRIGHT, 150, &chip, &err) == FR_E_INVALID);
  CHECK(chip.data == NULL);
  CHECK(fr_align(&img, NULL, FR_ALIGN_UPRIGHT, 150, &chip, &err) == FR_E_INVALID);
  CHECK(fr_align(&img, &f, (fr_align_method)9, 150, &chip, &err) == FR_E_INVALID);
  CHECK(fr_align(&img, &f, FR_ALIGN_UPRIGHT, 0, &chip, &err) == FR_E_INVALID);
  CHECK(fr_align(&img, &f, FR_ALIGN_SIMILARITY, -3, &chip, &err) == FR_E_INVALID);
  CHECK(fr_align(&img, &f, FR_ALIGN_UPRIGHT, 100000, &chip, &err) == FR_E_LIMIT);
  fr_face nolm = f;
  nolm.n_landmarks = 0;
  CHECK(fr_align(&img, &nolm, FR_ALIGN_UPRIGHT, 150, &chip, &err) == FR_E_INVALID);
  CHECK(strstr(err.message, "fr_landmarks") != NULL);
  nolm = f;
  nolm.landmarks[40].x = INFINITY;
  CHECK(fr_align(&img, &nolm, FR_ALIGN_SIMILARITY, 150, &chip, &err) == FR_E_INVALID);
  /* All landmarks in one point: no scale to fit. */
  fr_face degenerate = f;
  for (int i = 0; i < 68; i++) degenerate.landmarks[i] = (fr_point){5, 5};
  CHECK(fr_align(&img, &degenerate, FR_ALIGN_SIMILARITY, 150, &chip, &err) == FR_E_INVALID);
  CHECK(chip.data == NULL);
  /* Landmarks far outside the image: the aligned rectangle has no area. */
  fr_face far = f;
  for (int i = 0; i < 68; i++) far.landmarks[i].x += 1e6f;
  CHECK(fr_align(&img, &far, FR_ALIGN_UPRIGHT, 150, &chip, &err) == FR_E_INVALID);
  CHECK(strstr(err.message, "no area") != NULL);
  /* ...but a similarity chip is simply black there. */
  CHECK_OK(fr_align(&img, &far, FR_ALIGN_SIMILARITY, 32, &chip, &err), &err);
  fr_image_free(&chip);
  /* Valid calls on the tiny image work with either method. */
  CHECK_OK(fr_align(&img, &f, FR_ALIGN_UPRIGHT, 150, &chip, &err), &err);
  CHECK(chip.width == 150 && chip.height == 150 && chip.format == FR_PIXEL_RGB);
  fr_image_free(&chip);
  CHECK_OK(fr_align(&img, &f, FR_ALIGN_SIMILARITY, 150, &chip, &err), &err);
  fr_image_free(&chip);
  fr_rect z = fr__align_upright_rect(NULL, 10, 10);
  CHECK(z.width == 0 && z.height == 0);
  fr_image_free(&img);
}

/* Landmarker names, as for detectors and embedders. */
static void test_kind_names(void) {
  CHECK(strcmp(fr_landmarker_kind_name(FR_LANDMARKER_68), "landmarks68") == 0);
  CHECK(strcmp(fr_landmarker_kind_name(FR_LANDMARKER_68_TINY), "landmarks68-tiny") == 0);
  CHECK(fr_landmarker_kind_name((fr_landmarker_kind)99) == NULL);
  CHECK(fr_landmarker_kind_from_name("landmarks68-tiny") == FR_LANDMARKER_68_TINY);
  CHECK(fr_landmarker_kind_from_name("nope") == 0 && fr_landmarker_kind_from_name(NULL) == 0);
}

int main(void) {
  test_kind_names();
  fr_error err = {0};
  fr_landmarker *lm68 = NULL, *tiny = NULL;
  fr_embedder *emb = NULL;
  fr_context *ctx = NULL;
  CHECK_OK(fr_landmarker_create(FR_LANDMARKER_68, check_models_dir(), &lm68, &err), &err);
  CHECK_OK(fr_landmarker_create(FR_LANDMARKER_68_TINY, check_models_dir(), &tiny, &err), &err);
  CHECK_OK(fr_context_create(NULL, &ctx, &err), &err);
  if (fr_embedder_create(FR_EMBEDDER_FACEAPI, check_models_dir(), &emb, &err) != FR_OK)
    check_skip("no embedder: the descriptor checks did not run");
  if (!lm68 || !tiny) check_skip("no landmark models: nothing was tested");
  if (!lm68 || !tiny || !ctx) return check_summary();

  test_peer_outputs(ctx, lm68, emb);
  /* face-api.js's expectations come from a browser, where the input is
   * resized by the canvas rather than by tf.image.resizeBilinear, so they are
   * matched to a pixel or two, not exactly; the 122x178 image, whose padding
   * and scaling differ most between the two resizers, deviates most. */
  test_faceapi_js(ctx, lm68, "face1.png", "faceLandmarkPositions1.json", 2.0);
  test_faceapi_js(ctx, lm68, "face2.png", "faceLandmarkPositions2.json", 2.0);
  test_faceapi_js(ctx, lm68, "face_rectangular.png", "faceLandmarkPositionsRect.json", 4.0);
  test_faceapi_js(ctx, tiny, "face1.png", "faceLandmarkPositions1Tiny.json", 2.0);
  test_faceapi_js(ctx, tiny, "face2.png", "faceLandmarkPositions2Tiny.json", 2.0);
  test_faceapi_js(ctx, tiny, "face_rectangular.png", "faceLandmarkPositionsRectTiny.json", 4.0);
  test_kernels(ctx, FR_LANDMARKER_68);
  test_kernels(ctx, FR_LANDMARKER_68_TINY);
  test_threads_and_raw(ctx, lm68);
  test_template(ctx, lm68);
  test_similarity_faces(ctx, lm68);
  test_bad_input(ctx, lm68);
  time_runs(ctx, lm68, "FaceLandmark68Net");
  time_runs(ctx, tiny, "FaceLandmark68TinyNet");

  fr_embedder_destroy(emb);
  fr_landmarker_destroy(lm68);
  fr_landmarker_destroy(tiny);
  fr_context_destroy(ctx);
  return check_summary();
}
