/*
 * test_cascade.c - the Haar and LBP cascade detectors (src/detect/cascade*.c):
 * OpenCV's own results on the same image and cascades, agreement with SSD,
 * thread and pixel-format invariance, the integral images against brute
 * force, and the XML reader's refusal of truncated, garbage and hostile
 * cascades.
 *
 * The cascades are those of Debian's opencv-data package (scripts/deps.sh
 * installs it), read from the models folder or /usr/share/opencv4.
 */
#include "detect/cascade.h"
#include "detect/detect_internal.h"

#include "check.h"

#define MAX_FACES 64

/*
 * OpenCV 4.6.0 (Debian python3-opencv) on bbt/test/images/faces.jpg, as
 *   g = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2GRAY)
 *   cv2.CascadeClassifier(xml).detectMultiScale(g, 1.1, 3)
 * with x, y, w, h per box. Our scan resizes with its own bilinear rounding,
 * so a box may move by a pixel or two; everything else is OpenCV's method.
 */
typedef struct ref_box {
  int x, y, w, h;
} ref_box;
static const ref_box k_cv_haar[] = {{44, 256, 123, 123}, {78, 20, 109, 109}, {225, 45, 104, 104},
                                    {247, 238, 98, 98},  {447, 177, 118, 118}, {566, 65, 112, 112}};
static const ref_box k_cv_lbp[] = {{42, 251, 127, 127}, {80, 21, 108, 108},  {226, 44, 104, 104},
                                   {247, 236, 99, 99},  {448, 179, 114, 114}, {565, 62, 116, 116}};
static const ref_box k_cv_lbp_improved[] = {{70, 295, 74, 74},  {105, 49, 61, 61},  {241, 68, 70, 70},
                                            {263, 259, 68, 68}, {462, 206, 85, 85}, {592, 98, 62, 62}};
/* haarcascade_eye_tree_eyeglasses.xml: trees of 3 nodes and tilted features. */
static const ref_box k_cv_eyes[] = {{105, 50, 22, 22},  {246, 71, 23, 23},  {283, 70, 27, 27},
                                    {304, 262, 24, 24}, {471, 213, 25, 25}, {513, 212, 25, 25},
                                    {626, 99, 26, 26}};
#define REF_TOLERANCE 3 /* pixels, any side */
/* The same cascade's raw windows at scale 1 only (minNeighbors 0, maxSize
 * 20x20: no resizing, so every window must be OpenCV's): their count and
 * the sum of x + 1000 y over them. */
#define CV_EYES_RAW_COUNT 33
#define CV_EYES_RAW_SUM 5277362L

static const char *cascade_path(const char *sub, const char *file) {
  static char buf[2][1024];
  static int k;
  char *b = buf[k++ & 1];
  snprintf(b, 1024, "%s/%s", check_models_dir(), file);
  FILE *f = fopen(b, "rb");
  if (f) {
    fclose(f);
    return b;
  }
  snprintf(b, 1024, "%s/%s/%s", FR__OPENCV_DATA, sub, file);
  return b;
}

static int near_box(const fr__cascade_hit *h, const ref_box *r) {
  return abs(h->x - r->x) <= REF_TOLERANCE && abs(h->y - r->y) <= REF_TOLERANCE &&
         abs(h->w - r->w) <= REF_TOLERANCE && abs(h->h - r->h) <= REF_TOLERANCE;
}

/* Runs a cascade file as OpenCV's detectMultiScale(g, 1.1, 3) and checks that
 * the boxes are OpenCV's, one for one. */
static void check_against_opencv(fr_context *ctx, const fr_image *img, const char *path,
                                 const ref_box *ref, int n_ref, int extra) {
  fr_error err = {0};
  fr__cascade *c = NULL;
  CHECK_OK(fr__cascade_load(path, &c, &err), &err);
  if (!c) return;
  fr__cascade_params p = {1.1, 3, 0, 0, 0.2};
  fr__cascade_hit hits[MAX_FACES];
  int n = 0;
  CHECK_OK(fr__cascade_detect(ctx, c, img, &p, hits, MAX_FACES, &n, &err), &err);
  /* Resizing rounds a little differently from OpenCV's, which may add a
   * group with just over min_neighbors windows: allowed only where stated. */
  CHECK_MSG(n >= n_ref && n <= n_ref + extra, "%s: %d boxes, OpenCV %d", path, n, n_ref);
  int matched = 0;
  for (int i = 0; i < n_ref; i++) {
    int found = 0;
    for (int k = 0; k < n; k++) found |= near_box(&hits[k], &ref[i]);
    if (!found) fprintf(stderr, "  OpenCV box %d %d %d %d not found\n", ref[i].x, ref[i].y, ref[i].w, ref[i].h);
    matched += found;
  }
  CHECK_MSG(matched == n_ref, "%s: %d of OpenCV's %d boxes matched", path, matched, n_ref);
  printf("%s: %d boxes, %d of OpenCV's %d within %d px\n", path, n, matched, n_ref, REF_TOLERANCE);
  if (c->has_tilted) {
    fr__cascade_params raw = {1.1, 0, 0, c->width, 0.2};
    static fr__cascade_hit many[1024];
    CHECK_OK(fr__cascade_detect(ctx, c, img, &raw, many, 1024, &n, &err), &err);
    long sum = 0;
    for (int k = 0; k < n; k++) sum += many[k].x + 1000L * many[k].y;
    CHECK_MSG(n == CV_EYES_RAW_COUNT && sum == CV_EYES_RAW_SUM, "scale 1: %d raw windows (sum %ld), OpenCV %d (%ld)",
              n, sum, CV_EYES_RAW_COUNT, CV_EYES_RAW_SUM);
  }
  fr__cascade_free(c);
}

static float best_iou(const fr_face *f, const fr_face *others, int n) {
  float best = 0;
  for (int i = 0; i < n; i++) {
    float v = fr__iou(&f->box, &others[i].box);
    if (v > best) best = v;
  }
  return best;
}

/* Haar and LBP through fr_detect against SSD on the six-face image. */
static void test_faces_vs_ssd(fr_context *ctx, fr_context *ctx2, const fr_image *img) {
  fr_error err = {0};
  fr_detector *ssd = NULL, *haar = NULL, *lbp = NULL;
  CHECK_OK(fr_detector_create(FR_DETECTOR_SSD, check_models_dir(), &ssd, &err), &err);
  CHECK_OK(fr_detector_create(FR_DETECTOR_HAAR, check_models_dir(), &haar, &err), &err);
  CHECK_OK(fr_detector_create(FR_DETECTOR_LBP, check_models_dir(), &lbp, &err), &err);
  if (!ssd || !haar || !lbp) goto out;
  static fr_face sf[MAX_FACES], hf[MAX_FACES], lf[MAX_FACES], tf[MAX_FACES];
  int ns = 0, nh = 0, nl = 0, nt = 0;
  CHECK_OK(fr_detect(ctx, ssd, img, NULL, sf, MAX_FACES, &ns, &err), &err);
  CHECK_OK(fr_detect(ctx, haar, img, NULL, hf, MAX_FACES, &nh, &err), &err);
  CHECK_OK(fr_detect(ctx, lbp, img, NULL, lf, MAX_FACES, &nl, &err), &err);
  CHECK_MSG(ns == 6, "SSD found %d faces, the image has 6", ns);
  /* Each SSD face matched by a Haar box: IoU measured 0.61 to 0.78 (Haar's
   * square boxes against SSD's taller ones), demanded 0.5. */
  int hm = 0, lm = 0;
  float hmin = 1, lmin = 1;
  for (int i = 0; i < ns; i++) {
    float h = best_iou(&sf[i], hf, nh), l = best_iou(&sf[i], lf, nl);
    if (h >= 0.5f) hm++, hmin = h < hmin ? h : hmin;
    if (l >= 0.5f) lm++, lmin = l < lmin ? l : lmin;
  }
  CHECK_MSG(hm >= 5, "Haar matched %d of SSD's %d faces at IoU >= 0.5", hm, ns);
  /* The same for LBP (lbpcascade_frontalface.xml): lowest IoU measured
   * 0.61. (The improved cascade's boxes frame eyes to mouth and reach only
   * 0.35.) */
  CHECK_MSG(lm >= 5, "LBP matched %d of SSD's %d faces at IoU >= 0.5", lm, ns);
  printf("faces.jpg: SSD %d, Haar %d (%d matched, lowest IoU %.2f), LBP %d (%d matched, lowest IoU %.2f)\n",
         ns, nh, hm, hmin, nl, lm, lmin);
  for (int i = 0; i < nh; i++) {
    CHECK(hf[i].score >= 0.5f && hf[i].score < 1.f && hf[i].n_landmarks == 0);
    if (i > 0) CHECK(hf[i].score <= hf[i - 1].score);
  }

  /* The same boxes when a pool splits the rows. */
  CHECK_OK(fr_detect(ctx2, haar, img, NULL, tf, MAX_FACES, &nt, &err), &err);
  CHECK_MSG(nt == nh, "Haar on 2 threads: %d faces, on 1: %d", nt, nh);
  int same = nt == nh;
  for (int i = 0; same && i < nh; i++) same = memcmp(&tf[i].box, &hf[i].box, sizeof tf[i].box) == 0;
  CHECK_MSG(same, "Haar boxes differ between 1 and 2 threads");

  /* Options: max_faces caps the list, a higher min_score keeps the groups
   * with more windows (score n / (n + 4)), input_size is the smallest face. */
  fr_detect_options o = {0};
  o.max_faces = 2;
  CHECK_OK(fr_detect(ctx, haar, img, &o, tf, MAX_FACES, &nt, &err), &err);
  CHECK(nt == 2 && memcmp(&tf[0].box, &hf[0].box, sizeof tf[0].box) == 0);
  o.max_faces = 0;
  o.min_score = 0.9f;
  CHECK_OK(fr_detect(ctx, haar, img, &o, tf, MAX_FACES, &nt, &err), &err);
  int above = 0;
  for (int i = 0; i < nh; i++) above += hf[i].score >= 0.9f;
  CHECK_MSG(nt <= nh && nt >= 1, "min_score 0.9: %d faces (%d at 0.5, %d of them >= 0.9)", nt, nh, above);
  for (int i = 0; i < nt; i++) CHECK(tf[i].score >= 0.9f);
  o.min_score = 0;
  o.input_size = 115;
  CHECK_OK(fr_detect(ctx, haar, img, &o, tf, MAX_FACES, &nt, &err), &err);
  for (int i = 0; i < nt; i++) CHECK_MSG(tf[i].box.width >= 115, "face %.0f px with min size 115", tf[i].box.width);
  CHECK(nt >= 1);
out:
  fr_detector_destroy(ssd);
  fr_detector_destroy(haar);
  fr_detector_destroy(lbp);
}

/* A crop in RGB, BGR and gray gives the same boxes (gray made with OpenCV's
 * BGR2GRAY weights, which the detector uses). */
static void test_formats(fr_context *ctx, const fr_image *img) {
  fr_error err = {0};
  const int x0 = 200, y0 = 20, w = 260, h = 190;
  fr_image rgb, bgr, gray;
  CHECK_OK(fr_image_alloc(w, h, FR_PIXEL_RGB, &rgb, &err), &err);
  CHECK_OK(fr_image_alloc(w, h, FR_PIXEL_BGR, &bgr, &err), &err);
  CHECK_OK(fr_image_alloc(w, h, FR_PIXEL_GRAY, &gray, &err), &err);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      const uint8_t *s = img->data + (size_t)(y + y0) * img->stride + (size_t)(x + x0) * 3;
      uint8_t *r = rgb.data + (size_t)y * rgb.stride + (size_t)x * 3;
      uint8_t *b = bgr.data + (size_t)y * bgr.stride + (size_t)x * 3;
      r[0] = s[0], r[1] = s[1], r[2] = s[2];
      b[0] = s[2], b[1] = s[1], b[2] = s[0];
      gray.data[(size_t)y * gray.stride + x] = (uint8_t)((s[0] * 4899 + s[1] * 9617 + s[2] * 1868 + 8192) >> 14);
    }
  fr_detector *haar = NULL;
  CHECK_OK(fr_detector_create(FR_DETECTOR_HAAR, NULL, &haar, &err), &err);
  if (haar) {
    fr_face a[8], b[8], g[8];
    int na = 0, nb = 0, ng = 0;
    CHECK_OK(fr_detect(ctx, haar, &rgb, NULL, a, 8, &na, &err), &err);
    CHECK_OK(fr_detect(ctx, haar, &bgr, NULL, b, 8, &nb, &err), &err);
    CHECK_OK(fr_detect(ctx, haar, &gray, NULL, g, 8, &ng, &err), &err);
    CHECK_MSG(na >= 1 && na == nb && na == ng, "crop: %d RGB, %d BGR, %d gray faces", na, nb, ng);
    for (int i = 0; i < na && i < nb && i < ng; i++) {
      CHECK(memcmp(&a[i].box, &b[i].box, sizeof a[i].box) == 0);
      CHECK(memcmp(&a[i].box, &g[i].box, sizeof a[i].box) == 0);
    }
  }
  fr_detector_destroy(haar);
  fr_image_free(&rgb);
  fr_image_free(&bgr);
  fr_image_free(&gray);
}

/* The integral images against their definitions, summed pixel by pixel. */
static void test_integrals(void) {
  enum { W = 13, H = 9, S = W + 3 };
  uint8_t g[H][W];
  uint32_t seed = 12345;
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      seed = seed * 1103515245u + 12345u;
      g[y][x] = (uint8_t)(seed >> 16);
    }
  static uint32_t sum[(H + 1) * S], sq[(H + 1) * S], tilt[(H + 1) * S], tmp[4 * (W + 2)];
  fr__cascade_integrals(&g[0][0], W, H, W, S, sum, sq, tilt, tmp);
  int bad = 0;
  for (int Y = 0; Y <= H; Y++)
    for (int X = 0; X <= W; X++) {
      uint64_t s = 0, q = 0, t = 0;
      for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
          if (y < Y && x < X) s += g[y][x], q += (uint64_t)g[y][x] * g[y][x];
          /* cv::integral: tilted(X,Y) sums y < Y with |x - X + 1| <= Y - y - 1. */
          if (y < Y && abs(x - X + 1) <= Y - y - 1) t += g[y][x];
        }
      size_t i = (size_t)Y * S + X;
      bad += sum[i] != (uint32_t)s || sq[i] != (uint32_t)q || tilt[i] != (uint32_t)t;
    }
  CHECK_MSG(bad == 0, "%d integral entries differ from the definition", bad);
}

/* ---- hostile XML ------------------------------------------------------------ */

/* A valid two-stage Haar cascade of 3-node trees with an upright and a
 * tilted feature; the hostile variants below change one thing each. */
static const char k_small[] =
    "<?xml version=\"1.0\"?>\n<opencv_storage>\n<!-- a test cascade -->\n"
    "<cascade type_id=\"opencv-cascade-classifier\"><stageType>BOOST</stageType>\n"
    "<featureType>HAAR</featureType><height>8</height><width>8</width>\n"
    "<stageNum>2</stageNum><stages>\n"
    "<_><maxWeakCount>1</maxWeakCount><stageThreshold>-1.5e+00</stageThreshold><weakClassifiers>\n"
    "<_><internalNodes>1 2 0 0.01 0 -1 1 -0.02 -2 -3 0 .5</internalNodes>\n"
    "<leafValues>1. -1. 0.5 -0.5</leafValues></_></weakClassifiers></_>\n"
    "<_><maxWeakCount>1</maxWeakCount><stageThreshold>-2</stageThreshold><weakClassifiers>\n"
    "<_><internalNodes>0 -1 1 3e-3</internalNodes><leafValues>1 -1</leafValues></_>"
    "</weakClassifiers></_></stages>\n"
    "<features><_><rects><_>0 0 8 4 -1.</_><_>0 2 8 2 2.</_></rects></_>\n"
    "<_><rects><_>4 0 3 3 -1.</_><_>4 1 1 1 9.</_></rects><tilted>1</tilted></_></features>\n"
    "</cascade></opencv_storage>\n";

static fr_status parse_str(const char *s, size_t n, fr_error *err) {
  fr__cascade *c = NULL;
  fr_status st = fr__cascade_parse(s, n, &c, err);
  if (st == FR_OK) {
    CHECK(c != NULL);
    fr__cascade_free(c);
  } else {
    CHECK_MSG(c == NULL && err->message[0], "a failure must leave no cascade and a message");
  }
  return st;
}

/* k_small with the first occurrence of from replaced by to. */
static fr_status parse_variant(const char *from, const char *to, fr_error *err) {
  char buf[4096];
  const char *at = strstr(k_small, from);
  if (!at) {
    fprintf(stderr, "test bug: '%s' not in the small cascade\n", from);
    return FR_OK;
  }
  size_t pre = (size_t)(at - k_small);
  int n = snprintf(buf, sizeof buf, "%.*s%s%s", (int)pre, k_small, to, at + strlen(from));
  return parse_str(buf, (size_t)n, err);
}

static void test_hostile(fr_context *ctx) {
  fr_error err = {0};
  fr__cascade *c = NULL;
  CHECK_OK(fr__cascade_parse(k_small, sizeof k_small - 1, &c, &err), &err);
  if (c) {
    CHECK(c->type == FR__CASCADE_HAAR && c->width == 8 && c->n_stages == 2 && c->n_nodes == 4);
    CHECK(!c->stumps && c->has_tilted && c->n_features == 2);
    /* It runs (trees, tilted features, the small window) on a real image. */
    fr_image img = {0};
    uint8_t px[40 * 30];
    for (int i = 0; i < 40 * 30; i++) px[i] = (uint8_t)(i * 37 % 251);
    img.data = px, img.width = 40, img.height = 30, img.stride = 40, img.format = FR_PIXEL_GRAY;
    fr__cascade_params p = {1.1, 0, 0, 0, 0.2};
    fr__cascade_hit hits[8];
    int n = -1;
    CHECK_OK(fr__cascade_detect(ctx, c, &img, &p, hits, 8, &n, &err), &err);
    CHECK(n >= 0 && n <= 8);
    p.scale_factor = 1.0;
    CHECK(fr__cascade_detect(ctx, c, &img, &p, hits, 8, &n, &err) == FR_E_INVALID);
    fr__cascade_free(c);
  }

  static const struct {
    const char *from, *to, *why;
  } bad[] = {
      {"<internalNodes>0 -1 1 3e-3", "<internalNodes>0 -1 2 3e-3", "feature index past the end"},
      {"<internalNodes>0 -1 1 3e-3", "<internalNodes>0 -1 -1 3e-3", "negative feature index"},
      {"0 -1 1 -0.02", "1 -1 1 -0.02", "a node that is its own child"},
      {"-2 -3 0 .5", "-2 -4 0 .5", "a leaf index past the leaves"},
      {"<leafValues>1 -1</leafValues>", "<leafValues>1</leafValues>", "too few leaves"},
      {"<leafValues>1 -1</leafValues>", "<leafValues>1 -1 2</leafValues>", "too many leaves"},
      {"0 0 8 4 -1.", "0 0 9 4 -1.", "rectangle wider than the window"},
      {"0 0 8 4 -1.", "0 5 8 4 -1.", "rectangle below the window"},
      {"0 0 8 4 -1.", "0 0 0 4 -1.", "empty rectangle"},
      {"4 0 3 3 -1.", "2 0 3 3 -1.", "tilted rectangle left of the window"},
      {"4 0 3 3 -1.", "4 3 3 3 -1.", "tilted rectangle below the window"},
      {"<tilted>1</tilted>", "<tilted>2</tilted>", "tilted not 0 or 1"},
      {"0 2 8 2 2.</_>", "0 2 8 2 2.</_><_>0 0 1 1 1</_><_>0 0 1 1 1</_>", "four rectangles"},
      {"0 2 8 2 2.", "0 2 8 2 nan", "NaN weight"},
      {"-1.5e+00", "-1.5e+99999", "infinite threshold"},
      {"-1.5e+00", "-1.5e", "exponent without digits"},
      {"-1.5e+00", "0x10", "hex number"},
      {"<stageNum>2</stageNum>", "<stageNum>3</stageNum>", "stageNum disagreeing"},
      {"<maxWeakCount>1</maxWeakCount>", "<maxWeakCount>2</maxWeakCount>", "maxWeakCount disagreeing"},
      {"<featureType>HAAR</featureType>", "<featureType>HOG</featureType>", "HOG features"},
      {"<featureType>HAAR</featureType>", "<featureType>LBP</featureType>", "LBP without maxCatCount"},
      {"<stageType>BOOST</stageType>", "", "no stage type"},
      {"<width>8</width>", "<width>2</width>", "a 2-pixel window"},
      {"<width>8</width>", "<width>100000</width>", "a huge window"},
      {"<width>8</width>", "<width>8.5</width>", "a fractional window"},
      {"<width>8</width>", "<width>8</width><width>", "an unclosed element"},
      {"</cascade>", "</cascad>", "mismatched end tag"},
      {"<!-- a test cascade -->", "<!-- a test cascade ->", "unterminated comment"},
      {"<!-- a test cascade -->", "<!DOCTYPE x>", "a DOCTYPE"},
      {"type_id=\"opencv-cascade-classifier\"", "type_id=opencv", "an unquoted attribute"},
      {"<cascade type_id", "<haarcascade type_id", "no cascade element"},
      {"</opencv_storage>", "</opencv_storage><x></x>", "a second root"},
      {"<stages>", "<stages><_><stageThreshold>1</stageThreshold></_>", "a stage without trees"},
  };
  int nbad = (int)(sizeof bad / sizeof bad[0]);
  for (int i = 0; i < nbad; i++) {
    fr_status st = parse_variant(bad[i].from, bad[i].to, &err);
    CHECK_MSG(st != FR_OK, "accepted: %s", bad[i].why);
  }
  /* Odd but valid trees still parse, so the refusals above are for the
   * reason named: node 0 with node 1 on both sides, node 1 with leaf 0 on
   * both sides. */
  CHECK_OK(parse_variant("<internalNodes>1 2 0", "<internalNodes>1 1 0", &err), &err);
  CHECK_OK(parse_variant("0 -1 1 -0.02", "0 0 1 -0.02", &err), &err);

  /* Deep nesting, garbage and truncations of the small cascade and of a real
   * one: errors, never crashes (the ASan build runs this too). */
  char deep[64 * 4 + 64];
  size_t k = 0;
  for (int i = 0; i < 70; i++) deep[k++] = '<', deep[k++] = 'a', deep[k++] = '>';
  CHECK(parse_str(deep, k, &err) != FR_OK);
  CHECK(parse_str("", 0, &err) != FR_OK);
  CHECK(parse_str("\x01\xff garbage <<<>>> </", 19, &err) != FR_OK);
  int accepted = 0;
  for (size_t n = 0; n + 1 < sizeof k_small - 1; n += 7) accepted += parse_str(k_small, n, &err) == FR_OK;
  CHECK_MSG(accepted == 0, "%d truncations of the small cascade accepted", accepted);

  const char *path = cascade_path("lbpcascades", FR__LBP_FILE);
  FILE *f = fopen(path, "rb");
  CHECK_MSG(f != NULL, "%s missing (opencv-data)", path);
  if (!f) return;
  static char real[1 << 17];
  size_t n = fread(real, 1, sizeof real, f);
  fclose(f);
  CHECK(n > 1000 && n < sizeof real);
  CHECK_OK(parse_str(real, n, &err), &err);
  accepted = 0;
  /* Cuts at about 200 points; the file ends "</opencv_storage>\n", so only a
   * cut in the final newline leaves a complete document. */
  for (size_t m = 0; m + 1 < n; m += n / 200 + 1) accepted += parse_str(real, m, &err) == FR_OK;
  CHECK_MSG(accepted == 0, "%d truncations of %s accepted", accepted, path);
  CHECK(fr__cascade_load("/nonexistent/cascade.xml", &c, &err) == FR_E_IO && c == NULL);
}

int main(void) {
  fr_error err = {0};
  fr_context *ctx = NULL, *ctx2 = NULL;
  fr_pool *pool = NULL;
  CHECK_OK(fr_context_create(NULL, &ctx, &err), &err);
  CHECK_OK(fr_pool_create(2, &pool, &err), &err);
  CHECK_OK(fr_context_create(pool, &ctx2, &err), &err);
  test_integrals();
  test_hostile(ctx);
  fr_image img;
  fr_status st = fr_image_load(check_data("bbt/test/images/faces.jpg"), NULL, &img, &err);
  CHECK_MSG(st == FR_OK, "faces.jpg: %s", err.message);
  if (st == FR_OK) {
    check_against_opencv(ctx, &img, cascade_path("haarcascades", FR__HAAR_FILE), k_cv_haar, 6, 0);
    check_against_opencv(ctx2, &img, cascade_path("lbpcascades", FR__LBP_FILE), k_cv_lbp, 6, 0);
    check_against_opencv(ctx, &img, cascade_path("lbpcascades", "lbpcascade_frontalface_improved.xml"),
                         k_cv_lbp_improved, 6, 0);
    check_against_opencv(ctx, &img, cascade_path("haarcascades", "haarcascade_eye_tree_eyeglasses.xml"),
                         k_cv_eyes, 7, 2);
    test_faces_vs_ssd(ctx, ctx2, &img);
    test_formats(ctx, &img);
    fr_image_free(&img);
  }
  /* The detectors' files are found without a model folder too (fr_model_path
   * order, then Debian's /usr/share/opencv4). */
  fr_detector *det = NULL;
  CHECK_OK(fr_detector_create(FR_DETECTOR_LBP, NULL, &det, &err), &err);
  fr_detector_destroy(det);
  CHECK(strcmp(fr_detector_kind_name(FR_DETECTOR_HAAR), "haar") == 0);
  CHECK(fr_detector_kind_from_name("lbp") == FR_DETECTOR_LBP);
  fr_context_destroy(ctx);
  fr_context_destroy(ctx2);
  fr_pool_destroy(pool);
  return check_summary();
}
