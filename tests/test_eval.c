/*
 * test_eval.c - the LFW pairs parser and the verification metrics.
 *
 * The parser is checked against the real View 2 pairs.txt (counts, distinct
 * images recounted independently here, every path present on disk) and
 * against hand-made malformed files. The metrics are checked on data whose
 * answers are known: a perfectly separable set, a tiny case worked out by
 * hand in the comments, all-equal distances, and random overlapping
 * Gaussians compared with brute-force O(n^2) computations.
 */
#include "eval/eval.h"

#include "check.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

static char tmp_dir[256];
static int tmp_count;

/* Writes `size` bytes to a new file in the temporary folder and returns its
 * path in a static ring of buffers. */
static const char *write_tmp(const void *data, size_t size) {
  static char bufs[4][512];
  char *p = bufs[tmp_count & 3];
  snprintf(p, 512, "%s/pairs%d.txt", tmp_dir, tmp_count++);
  FILE *f = fopen(p, "wb");
  if (!f) return p;
  if (size) fwrite(data, 1, size, f);
  fclose(f);
  return p;
}

static const char *write_tmp_str(const char *s) { return write_tmp(s, strlen(s)); }

/* Loads a text and expects FR_E_FORMAT with "line N " in the message. */
#define CHECK_FORMAT_ERROR(text, line)                                                   \
  do {                                                                                   \
    fr_error e_;                                                                         \
    memset(&e_, 0, sizeof e_);                                                           \
    fr__lfw *l_ = (fr__lfw *)1;                                                          \
    fr_status st_ = fr__lfw_load(write_tmp_str(text), "root", &l_, &e_);                 \
    char want_[32];                                                                      \
    snprintf(want_, sizeof want_, "line %d ", (line));                                   \
    CHECK_MSG(st_ == FR_E_FORMAT, "status %d (%s)", st_, e_.message);                    \
    CHECK_MSG(strstr(e_.message, want_) != NULL, "want '%s' in: %s", want_, e_.message); \
    CHECK(l_ == NULL);                                                                   \
  } while (0)

/* A deterministic generator (xorshift64*) so failures reproduce. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static double rng_uniform(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  uint64_t x = rng_state * 2685821657736338717ULL;
  return ((double)(x >> 11) + 0.5) / 9007199254740992.0; /* in (0, 1) */
}

static double rng_gauss(void) {
  double u = rng_uniform(), v = rng_uniform();
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* ------------------------------------------------------------------ */
/* The real pairs.txt                                                   */
/* ------------------------------------------------------------------ */

/* Counts the distinct "name/number" images of a pairs file with a method
 * independent of the library's hash table: collect, sort, count runs. */
static int count_distinct_images(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[1024];
  int cap = 16384, n = 0;
  char **keys = malloc((size_t)cap * sizeof *keys);
  if (!fgets(line, sizeof line, f)) {
    fclose(f);
    free(keys);
    return -1;
  }
  while (fgets(line, sizeof line, f)) {
    char a[300], b[300];
    int i, j;
    char key[700];
    if (n + 2 > cap) {
      cap *= 2;
      keys = realloc(keys, (size_t)cap * sizeof *keys);
    }
    if (sscanf(line, "%299s %d %299s %d", a, &i, b, &j) == 4) {
      snprintf(key, sizeof key, "%s/%d", a, i);
      keys[n++] = strdup(key);
      snprintf(key, sizeof key, "%s/%d", b, j);
      keys[n++] = strdup(key);
    } else if (sscanf(line, "%299s %d %d", a, &i, &j) == 3) {
      snprintf(key, sizeof key, "%s/%d", a, i);
      keys[n++] = strdup(key);
      snprintf(key, sizeof key, "%s/%d", a, j);
      keys[n++] = strdup(key);
    }
  }
  fclose(f);
  qsort(keys, (size_t)n, sizeof *keys, cmp_str);
  int distinct = 0;
  for (int k = 0; k < n; k++)
    if (k == 0 || strcmp(keys[k], keys[k - 1]) != 0) distinct++;
  for (int k = 0; k < n; k++) free(keys[k]);
  free(keys);
  return distinct;
}

static void test_real_pairs(void) {
  const char *pairs = check_data("lfw/pairs.txt");
  const char *root = check_data("lfw/images");
  fr_error err;
  memset(&err, 0, sizeof err);
  fr__lfw *lfw = NULL;
  CHECK_OK(fr__lfw_load(pairs, root, &lfw, &err), &err);
  if (!lfw) return;

  CHECK(lfw->n_pairs == 6000);
  CHECK(lfw->n_folds == 10);
  int own = count_distinct_images(pairs);
  printf("distinct images: library %d, independent count %d\n", lfw->n_images, own);
  CHECK_MSG(lfw->n_images == own, "library %d, independent %d", lfw->n_images, own);
  CHECK_MSG(lfw->n_images == 7701, "%d distinct images", lfw->n_images);

  /* Each fold is 300 same-person pairs followed by 300 different ones. */
  int n_same = 0, layout_ok = 1, range_ok = 1, first_use_ok = 1, next_new = 0;
  for (int k = 0; k < lfw->n_pairs; k++) {
    const fr__pair *p = &lfw->pairs[k];
    n_same += p->same;
    if (p->fold != k / 600 || p->same != (k % 600 < 300)) layout_ok = 0;
    if (p->a < 0 || p->a >= lfw->n_images || p->b < 0 || p->b >= lfw->n_images) {
      range_ok = 0;
      continue;
    }
    /* First-use order: a never-seen image gets exactly the next index. */
    int ids[2] = {p->a, p->b};
    for (int t = 0; t < 2; t++) {
      if (ids[t] > next_new) first_use_ok = 0;
      if (ids[t] == next_new) next_new++;
    }
  }
  CHECK(n_same == 3000);
  CHECK(layout_ok);
  CHECK(range_ok);
  CHECK(first_use_ok);
  CHECK(next_new == lfw->n_images);

  /* The first line is "Abel_Pacheco 1 4". */
  char want[1024];
  snprintf(want, sizeof want, "%s/Abel_Pacheco/Abel_Pacheco_0001.jpg", root);
  CHECK_MSG(strcmp(lfw->paths[lfw->pairs[0].a], want) == 0, "%s", lfw->paths[lfw->pairs[0].a]);
  snprintf(want, sizeof want, "%s/Abel_Pacheco/Abel_Pacheco_0004.jpg", root);
  CHECK_MSG(strcmp(lfw->paths[lfw->pairs[0].b], want) == 0, "%s", lfw->paths[lfw->pairs[0].b]);
  /* Line 302 (fold 1's first different pair) is
   * "Abdel_Madi_Shabneh 1 Dean_Barker 1". */
  snprintf(want, sizeof want, "%s/Dean_Barker/Dean_Barker_0001.jpg", root);
  CHECK_MSG(strcmp(lfw->paths[lfw->pairs[300].b], want) == 0, "%s",
            lfw->paths[lfw->pairs[300].b]);
  CHECK(lfw->pairs[300].same == 0);

  /* Paths are distinct and all exist. */
  char **sorted = malloc((size_t)lfw->n_images * sizeof *sorted);
  memcpy(sorted, lfw->paths, (size_t)lfw->n_images * sizeof *sorted);
  qsort(sorted, (size_t)lfw->n_images, sizeof *sorted, cmp_str);
  int dup = 0;
  for (int i = 1; i < lfw->n_images; i++) dup += strcmp(sorted[i], sorted[i - 1]) == 0;
  free(sorted);
  CHECK_MSG(dup == 0, "%d duplicate paths", dup);
  int missing = 0;
  for (int i = 0; i < lfw->n_images; i++) {
    struct stat st;
    if (stat(lfw->paths[i], &st) != 0 || !S_ISREG(st.st_mode)) {
      if (missing < 5) fprintf(stderr, "missing: %s\n", lfw->paths[i]);
      missing++;
    }
  }
  CHECK_MSG(missing == 0, "%d of %d images missing", missing, lfw->n_images);
  fr__lfw_destroy(lfw);
}

/* ------------------------------------------------------------------ */
/* Hand-made pairs files                                                */
/* ------------------------------------------------------------------ */

static void test_small_pairs(void) {
  fr_error err;
  memset(&err, 0, sizeof err);
  fr__lfw *lfw = NULL;

  /* CRLF endings, trailing blanks, spaces as separators, leading zeros and
   * trailing blank lines are all tolerated. Images repeat across lines so
   * deduplication is visible: A/1, A/2, B/3, C/1 -> 4 distinct images. */
  const char *ok = "2 1 \r\n"
                   "A\t1\t2\r\n"
                   "A 2   B 3\t \r\n"
                   "B 3 03\n"
                   "C 1 A 001\n"
                   "\n \r\n";
  CHECK_OK(fr__lfw_load(write_tmp_str(ok), "/data/lfw/", &lfw, &err), &err);
  if (lfw) {
    CHECK(lfw->n_folds == 2);
    CHECK(lfw->n_pairs == 4);
    CHECK(lfw->n_images == 4);
    CHECK(strcmp(lfw->paths[0], "/data/lfw/A/A_0001.jpg") == 0);
    CHECK(strcmp(lfw->paths[1], "/data/lfw/A/A_0002.jpg") == 0);
    CHECK(strcmp(lfw->paths[2], "/data/lfw/B/B_0003.jpg") == 0);
    CHECK(strcmp(lfw->paths[3], "/data/lfw/C/C_0001.jpg") == 0);
    const int want[4][4] = {{0, 1, 1, 0}, {1, 2, 0, 0}, {2, 2, 1, 1}, {3, 0, 0, 1}};
    for (int k = 0; k < 4; k++) {
      const fr__pair *p = &lfw->pairs[k];
      CHECK_MSG(p->a == want[k][0] && p->b == want[k][1] && p->same == want[k][2] &&
                    p->fold == want[k][3],
                "pair %d: %d %d %d %d", k, p->a, p->b, p->same, p->fold);
    }
    fr__lfw_destroy(lfw);
    lfw = NULL;
  }

  /* Roots without a slash get one; an empty root gives relative paths; a
   * 255-byte name and image 99999 are at the limits, so accepted. */
  char name[300], text[1024];
  memset(name, 'x', 255);
  name[255] = '\0';
  snprintf(text, sizeof text, "1 1\n%s 1 99999\nA 1 B 1\n", name);
  CHECK_OK(fr__lfw_load(write_tmp_str(text), "r", &lfw, &err), &err);
  if (lfw) {
    char want[700];
    snprintf(want, sizeof want, "r/%s/%s_99999.jpg", name, name);
    CHECK(strcmp(lfw->paths[1], want) == 0);
    fr__lfw_destroy(lfw);
    lfw = NULL;
  }
  CHECK_OK(fr__lfw_load(write_tmp_str("1 1\nA 1 2\nA 1 B 1"), "", &lfw, &err), &err);
  if (lfw) {
    CHECK(strcmp(lfw->paths[0], "A/A_0001.jpg") == 0);
    CHECK(lfw->n_images == 3);
    fr__lfw_destroy(lfw);
    lfw = NULL;
  }

  /* Malformed files, each naming the offending line. */
  CHECK_FORMAT_ERROR("", 1);                             /* empty file */
  CHECK_FORMAT_ERROR("\n\n", 1);                         /* blank header */
  CHECK_FORMAT_ERROR("10\nA 1 2\n", 1);                  /* one header field */
  CHECK_FORMAT_ERROR("1 1 1\nA 1 2\nA 1 B 1\n", 1);      /* three header fields */
  CHECK_FORMAT_ERROR("ten 1\nA 1 2\nA 1 B 1\n", 1);      /* not a number */
  CHECK_FORMAT_ERROR("0 1\n", 1);                        /* zero folds */
  CHECK_FORMAT_ERROR("1 -1\n", 1);                       /* negative count */
  CHECK_FORMAT_ERROR("1 99999999999999999999\n", 1);     /* overflowing count */
  CHECK_FORMAT_ERROR("2 2\nA 1 2\nA 1 B 1\nA 2 B 2\n", 3); /* short fold: 1 same, not 2 */
  CHECK_FORMAT_ERROR("1 2\nA 1 2\nA 1 3\nA 1 B 1\n", 5); /* file ends early */
  CHECK_FORMAT_ERROR("1 1\nA 1 2\nA 1 B 1\nA 1 B 2\n", 4); /* extra pair */
  CHECK_FORMAT_ERROR("1 1\nA 1 2\nA 1 B 1 C\n", 3);      /* five fields */
  CHECK_FORMAT_ERROR("1 1\nA 1 2 3\nA 1 B 1\n", 2);      /* four fields for a same pair */
  CHECK_FORMAT_ERROR("1 1\n\nA 1 2\nA 1 B 1\n", 2);      /* blank line inside */
  CHECK_FORMAT_ERROR("1 1\nA 0 2\nA 1 B 1\n", 2);        /* index 0 */
  CHECK_FORMAT_ERROR("1 1\nA 1 2\nA 1 B 100000\n", 3);   /* index too large */
  CHECK_FORMAT_ERROR("1 1\nA 1 -2\nA 1 B 1\n", 2);       /* signed index */
  CHECK_FORMAT_ERROR("1 1\nA 1 2x\nA 1 B 1\n", 2);       /* trailing junk */
  CHECK_FORMAT_ERROR("1 1\nA 1 2\nA 1 B 0x1\n", 3);      /* hex */
  CHECK_FORMAT_ERROR("1 1\nA 1 2\nA 1 ../B 1\n", 3);     /* path separator */
  CHECK_FORMAT_ERROR("1 1\n.. 1 2\nA 1 B 1\n", 2);       /* relative directory */
  CHECK_FORMAT_ERROR("1 1\nA\v 1 2\nA 1 B 1\n", 2);      /* control character */
  snprintf(text, sizeof text, "1 1\nA 1 2\nA 1 %sx 1\n", name); /* 256-byte name */
  CHECK_FORMAT_ERROR(text, 3);
  {
    static const char nul_text[] = "1 1\nA 1 2\nA 1 B\0 1\n";
    fr__lfw *l = NULL;
    fr_status st = fr__lfw_load(write_tmp(nul_text, sizeof nul_text - 1), "r", &l, &err);
    CHECK(st == FR_E_FORMAT);
    CHECK_MSG(strstr(err.message, "line 3 ") != NULL, "%s", err.message);
    CHECK(l == NULL);
  }

  /* A header promising more than the bound is a limit, not a format error. */
  fr_status st = fr__lfw_load(write_tmp_str("1000 1001\n"), "r", &lfw, &err);
  CHECK_MSG(st == FR_E_LIMIT, "status %d: %s", st, err.message);
  CHECK(lfw == NULL);

  char missing[600];
  snprintf(missing, sizeof missing, "%s/no-such-file.txt", tmp_dir);
  st = fr__lfw_load(missing, "r", &lfw, &err);
  CHECK(st == FR_E_IO);
  CHECK(fr__lfw_load(NULL, "r", &lfw, &err) == FR_E_INVALID);
  CHECK(fr__lfw_load(missing, "r", NULL, &err) == FR_E_INVALID);
  fr__lfw_destroy(NULL);
}

/* ------------------------------------------------------------------ */
/* Metrics                                                              */
/* ------------------------------------------------------------------ */

static int near(double a, double b, double tol) { return fabs(a - b) <= tol; }

/*
 * Two folds of four pairs with integer distances (exact in float and double):
 *   fold 0: same 1, 4   different 3, 9
 *   fold 1: same 2, 6   different 5, 8
 *
 * Test fold 0, train on fold 1 (2S 5D 6S 8D, 2 different): accepting up to
 * 2 is right 3 times, up to 5 twice, up to 6 three times, all twice, none
 * twice. The tie 2 vs 6 goes to the smaller, threshold midpoint(2, 5) = 3.5.
 * On fold 0: 1 accepted (right), 4 rejected (wrong), 3 accepted (wrong), 9
 * rejected (right): accuracy 0.5.
 * Test fold 1, train on fold 0 (1S 3D 4S 9D): the same shape, threshold
 * midpoint(1, 3) = 2. On fold 1: 2 right, 6 wrong, 5 right, 8 right: 0.75.
 * Mean 0.625, population std 0.125 (the sample std would be 0.177), mean
 * threshold 2.75.
 *
 * VAL at FAR 0.5: on fold 1, training FAR stays at 0.5 up to 6 and reaches 1
 * at 8, so t = midpoint(6, 8) = 7: fold 0 accepts 1, 4 (VAL 1) and 3 (FAR
 * 0.5). On fold 0 the last allowed group is 4, t = midpoint(4, 9) = 6.5: fold 1
 * accepts 2, 6 (VAL 1) and 5 (FAR 0.5).
 * VAL at FAR 0: t = 3.5 and 2 as for accuracy: fold 0 VAL 0.5 FAR 0.5, fold 1
 * VAL 0.5 FAR 0. Mean VAL 0.5 (std 0), mean FAR 0.25.
 *
 * AUC over all: same {1, 2, 4, 6} vs different {3, 5, 8, 9}: 4 + 4 + 3 + 2 =
 * 13 of 16 couples, 0.8125. ROC walk (FAR, FRR): (0, 1) 1S (0, .75) 2S
 * (0, .5) 3D (.25, .5) 4S (.25, .25): EER 0.25.
 */
static void test_hand_case(void) {
  const float dist[8] = {1, 4, 3, 9, 2, 6, 5, 8};
  const int same[8] = {1, 1, 0, 0, 1, 1, 0, 0};
  const int fold[8] = {0, 0, 0, 0, 1, 1, 1, 1};
  fr_error err;
  memset(&err, 0, sizeof err);
  fr__verif v;
  CHECK_OK(fr__verification(dist, same, fold, 8, 2, 0.5, &v, &err), &err);
  CHECK(v.n_folds == 2);
  CHECK(v.fold_threshold[0] == 3.5);
  CHECK(v.fold_threshold[1] == 2.0);
  CHECK(v.fold_accuracy[0] == 0.5);
  CHECK(v.fold_accuracy[1] == 0.75);
  CHECK(near(v.accuracy_mean, 0.625, 1e-12));
  CHECK(near(v.accuracy_std, 0.125, 1e-12));
  CHECK(near(v.threshold_mean, 2.75, 1e-12));
  CHECK(near(v.val_mean, 1.0, 1e-12));
  CHECK(near(v.val_std, 0.0, 1e-12));
  CHECK(near(v.far_mean, 0.5, 1e-12));
  CHECK(v.far_target == 0.5);
  CHECK(near(v.auc, 0.8125, 1e-12));
  CHECK(near(v.eer, 0.25, 1e-12));

  CHECK_OK(fr__verification(dist, same, fold, 8, 2, 0.0, &v, &err), &err);
  CHECK(near(v.val_mean, 0.5, 1e-12));
  CHECK(near(v.val_std, 0.0, 1e-12));
  CHECK(near(v.far_mean, 0.25, 1e-12));
  CHECK(near(v.accuracy_mean, 0.625, 1e-12)); /* independent of the FAR target */
}

/* All distances equal: nothing separates, AUC 1/2 from ties, EER 1/2, and
 * with balanced classes "accept nothing" wins the accuracy tie. */
static void test_all_equal(void) {
  float dist[20];
  int same[20], fold[20];
  for (int i = 0; i < 20; i++) {
    dist[i] = 0.7f;
    same[i] = i & 1;
    fold[i] = (i / 2) % 5;
  }
  fr_error err;
  memset(&err, 0, sizeof err);
  fr__verif v;
  CHECK_OK(fr__verification(dist, same, fold, 20, 5, 0.1, &v, &err), &err);
  CHECK(near(v.auc, 0.5, 1e-12));
  CHECK(near(v.eer, 0.5, 1e-12));
  CHECK(near(v.accuracy_mean, 0.5, 1e-12));
  CHECK(v.fold_threshold[0] < 0.7f);
  CHECK(near(v.val_mean, 0.0, 1e-12));
  CHECK(near(v.far_mean, 0.0, 1e-12));
}

static void test_separable(void) {
  enum { N = 6000 };
  static float dist[N];
  static int same[N], fold[N];
  for (int i = 0; i < N; i++) {
    fold[i] = i / 600;
    same[i] = i % 600 < 300;
    /* Same pairs in [0.2, 0.9), different in [1.1, 1.8): a clear gap. */
    dist[i] = (float)((same[i] ? 0.2 : 1.1) + 0.7 * rng_uniform());
  }
  fr_error err;
  memset(&err, 0, sizeof err);
  fr__verif v;
  /* A FAR target of 0 puts the VAL threshold in the gap, so the test folds
   * see no false accepts either (a larger target may legitimately admit a
   * few training impostors and thus a few test ones). */
  CHECK_OK(fr__verification(dist, same, fold, N, 10, 0.0, &v, &err), &err);
  CHECK(v.accuracy_mean == 1.0);
  CHECK(v.accuracy_std == 0.0);
  CHECK(v.auc == 1.0);
  CHECK(v.eer == 0.0);
  CHECK(v.val_mean == 1.0);
  CHECK(v.far_mean == 0.0);
  for (int k = 0; k < 10; k++)
    CHECK_MSG(v.fold_threshold[k] > 0.9 && v.fold_threshold[k] < 1.1, "fold %d: %g", k,
              v.fold_threshold[k]);
}

/* Random overlapping Gaussians, rounded to 0.01 so ties occur, against
 * brute-force computations of the same definitions. */
static void test_random_vs_brute_force(void) {
  enum { N = 2000, FOLDS = 10 };
  static float dist[N];
  static int same[N], fold[N];
  for (int i = 0; i < N; i++) {
    fold[i] = i % FOLDS;
    same[i] = (i / FOLDS) % 2;
    double d = (same[i] ? 1.0 : 1.5) + 0.3 * rng_gauss();
    dist[i] = (float)(round(d * 100.0) / 100.0);
  }
  fr_error err;
  memset(&err, 0, sizeof err);
  fr__verif v;
  CHECK_OK(fr__verification(dist, same, fold, N, FOLDS, 0.01, &v, &err), &err);

  /* AUC: every (same, different) couple, ties one half. */
  double wins = 0.0;
  long couples = 0;
  for (int i = 0; i < N; i++) {
    if (!same[i]) continue;
    for (int j = 0; j < N; j++) {
      if (same[j]) continue;
      couples++;
      wins += dist[i] < dist[j] ? 1.0 : dist[i] == dist[j] ? 0.5 : 0.0;
    }
  }
  CHECK_MSG(near(v.auc, wins / (double)couples, 1e-12), "auc %.15f vs %.15f", v.auc,
            wins / (double)couples);
  /* Theory for d' = 0.5 / 0.3: AUC = Phi(d' / sqrt 2) = 0.881, EER =
   * Phi(-d' / 2) = 0.202; a sample of 2000 lands within a few percent. */
  CHECK_MSG(near(v.auc, 0.881, 0.04), "auc %g", v.auc);
  CHECK_MSG(near(v.eer, 0.202, 0.04), "eer %g", v.eer);

  /* EER: it must lie between the ROC points on either side of FAR = FRR,
   * found here by trying every distinct distance as a threshold. */
  {
    double far_lo = 0.0, far_hi = 1.0;
    for (int t = 0; t < N; t++) {
      long sa = 0, da = 0, ns = 0, nd = 0;
      for (int i = 0; i < N; i++) {
        ns += same[i];
        nd += !same[i];
        if (dist[i] <= dist[t]) {
          sa += same[i];
          da += !same[i];
        }
      }
      double far = (double)da / (double)nd, frr = 1.0 - (double)sa / (double)ns;
      if (far < frr && far > far_lo) far_lo = far;
      if (far >= frr && far < far_hi) far_hi = far;
    }
    CHECK_MSG(v.eer >= far_lo - 1e-12 && v.eer <= far_hi + 1e-12, "eer %g not in [%g, %g]",
              v.eer, far_lo, far_hi);
  }

  /* Accuracy: the chosen threshold must reach the best training accuracy
   * over all thresholds, and reproduce the reported test accuracy. */
  for (int k = 0; k < FOLDS; k++) {
    long best = 0;
    /* Candidate "accept nothing" and every training distance. */
    for (int t = -1; t < N; t++) {
      if (t >= 0 && fold[t] == k) continue;
      long correct = 0;
      for (int i = 0; i < N; i++) {
        if (fold[i] == k) continue;
        int accept = t >= 0 && dist[i] <= dist[t];
        correct += accept == same[i];
      }
      if (correct > best) best = correct;
    }
    double thr = v.fold_threshold[k];
    long train_correct = 0, test_correct = 0, n_test = 0;
    for (int i = 0; i < N; i++) {
      int ok = ((double)dist[i] <= thr) == same[i];
      if (fold[i] == k) {
        test_correct += ok;
        n_test++;
      } else {
        train_correct += ok;
      }
    }
    CHECK_MSG(train_correct == best, "fold %d: %ld vs best %ld", k, train_correct, best);
    CHECK_MSG(near(v.fold_accuracy[k], (double)test_correct / (double)n_test, 1e-12), "fold %d", k);
  }

  /* Population std of the fold accuracies. */
  double mu = 0.0, var = 0.0;
  for (int k = 0; k < FOLDS; k++) mu += v.fold_accuracy[k] / FOLDS;
  for (int k = 0; k < FOLDS; k++) var += (v.fold_accuracy[k] - mu) * (v.fold_accuracy[k] - mu);
  CHECK(near(v.accuracy_mean, mu, 1e-12));
  CHECK(near(v.accuracy_std, sqrt(var / FOLDS), 1e-12));
  CHECK(v.accuracy_mean > 0.7 && v.accuracy_mean < 0.9);
}

/* VAL@FAR: with every fold holding the same multiset of distances, the
 * training FAR of a threshold equals its test FAR, so the reported FAR must
 * respect the target, and VAL must be the best any threshold achieves
 * under that constraint (the brute force below). */
static void test_far_target(void) {
  enum { BASE = 400, FOLDS = 10, N = BASE * FOLDS };
  static float base[BASE], dist[N];
  static int base_same[BASE], same[N], fold[N];
  for (int i = 0; i < BASE; i++) {
    base_same[i] = i < BASE / 2;
    double d = (base_same[i] ? 1.0 : 1.6) + 0.3 * rng_gauss();
    base[i] = (float)(round(d * 200.0) / 200.0);
  }
  for (int k = 0; k < FOLDS; k++)
    for (int i = 0; i < BASE; i++) {
      dist[k * BASE + i] = base[i];
      same[k * BASE + i] = base_same[i];
      fold[k * BASE + i] = k;
    }
  static float sorted[BASE];
  memcpy(sorted, base, sizeof sorted);
  qsort(sorted, BASE, sizeof *sorted, cmp_float);

  const double targets[] = {0.0, 1e-3, 0.01, 0.05, 0.1, 0.3, 1.0};
  for (size_t q = 0; q < sizeof targets / sizeof *targets; q++) {
    double target = targets[q];
    fr_error err;
    memset(&err, 0, sizeof err);
    fr__verif v;
    CHECK_OK(fr__verification(dist, same, fold, N, FOLDS, target, &v, &err), &err);
    CHECK_MSG(v.far_mean <= target + 1e-12, "target %g: FAR %g", target, v.far_mean);
    CHECK(v.val_std < 1e-12); /* identical folds give identical results */

    double best_val = 0.0;
    for (int t = 0; t < BASE; t++) {
      long sa = 0, da = 0;
      for (int i = 0; i < BASE; i++)
        if (base[i] <= sorted[t]) {
          sa += base_same[i];
          da += !base_same[i];
        }
      double far = (double)da / (BASE / 2), val = (double)sa / (BASE / 2);
      if (far <= target && val > best_val) best_val = val;
    }
    CHECK_MSG(near(v.val_mean, best_val, 1e-12), "target %g: VAL %g vs best %g", target,
              v.val_mean, best_val);
  }
}

static void test_invalid(void) {
  const float dist[8] = {1, 4, 3, 9, 2, 6, 5, 8};
  const int same[8] = {1, 1, 0, 0, 1, 1, 0, 0};
  const int fold[8] = {0, 0, 0, 0, 1, 1, 1, 1};
  fr_error err;
  memset(&err, 0, sizeof err);
  fr__verif v;
  CHECK(fr__verification(NULL, same, fold, 8, 2, 0.1, &v, &err) == FR_E_INVALID);
  CHECK(fr__verification(dist, same, fold, 8, 2, 0.1, NULL, &err) == FR_E_INVALID);
  CHECK(fr__verification(dist, same, fold, 0, 2, 0.1, &v, &err) == FR_E_INVALID);
  CHECK(fr__verification(dist, same, fold, 8, 1, 0.1, &v, &err) == FR_E_INVALID);
  CHECK(fr__verification(dist, same, fold, 8, 17, 0.1, &v, &err) == FR_E_INVALID);
  CHECK(fr__verification(dist, same, fold, 8, 2, -0.1, &v, &err) == FR_E_INVALID);
  CHECK(fr__verification(dist, same, fold, 8, 2, 1.5, &v, &err) == FR_E_INVALID);
  CHECK(fr__verification(dist, same, fold, 8, 2, NAN, &v, &err) == FR_E_INVALID);
  /* Three folds where fold 2 is empty. */
  CHECK(fr__verification(dist, same, fold, 8, 3, 0.1, &v, &err) == FR_E_INVALID);
  CHECK_MSG(strstr(err.message, "fold 2") != NULL, "%s", err.message);

  float d2[8];
  int s2[8], f2[8];
  memcpy(d2, dist, sizeof d2);
  memcpy(s2, same, sizeof s2);
  memcpy(f2, fold, sizeof f2);
  d2[3] = NAN;
  CHECK(fr__verification(d2, same, fold, 8, 2, 0.1, &v, &err) == FR_E_INVALID);
  d2[3] = INFINITY;
  CHECK(fr__verification(d2, same, fold, 8, 2, 0.1, &v, &err) == FR_E_INVALID);
  s2[2] = 2;
  CHECK(fr__verification(dist, s2, fold, 8, 2, 0.1, &v, &err) == FR_E_INVALID);
  f2[5] = 2;
  CHECK(fr__verification(dist, same, f2, 8, 2, 0.1, &v, &err) == FR_E_INVALID);
  f2[5] = -1;
  CHECK(fr__verification(dist, same, f2, 8, 2, 0.1, &v, &err) == FR_E_INVALID);
  /* Fold 1 without different pairs cannot measure FAR. */
  memcpy(s2, same, sizeof s2);
  s2[6] = s2[7] = 1;
  CHECK(fr__verification(dist, s2, fold, 8, 2, 0.1, &v, &err) == FR_E_INVALID);
  /* A NULL err is allowed. */
  CHECK(fr__verification(dist, same, fold, 8, 1, 0.1, &v, NULL) == FR_E_INVALID);
}

int main(void) {
  snprintf(tmp_dir, sizeof tmp_dir, "/tmp/fr_test_eval_XXXXXX");
  if (!mkdtemp(tmp_dir)) {
    fprintf(stderr, "cannot create a temporary folder\n");
    return 1;
  }
  test_real_pairs();
  test_small_pairs();
  test_hand_case();
  test_all_equal();
  test_separable();
  test_random_vs_brute_force();
  test_far_target();
  test_invalid();

  for (int i = 0; i < tmp_count; i++) {
    char p[600];
    snprintf(p, sizeof p, "%s/pairs%d.txt", tmp_dir, i);
    unlink(p);
  }
  rmdir(tmp_dir);
  return check_summary();
}
