/*
 * test_gallery.c - the SQLite gallery: enrolment, duplicates, forgetting,
 * persistence, model mismatch, schema migration, exact top-k search against a
 * brute-force reference, the three classifiers, a second handle seeing
 * another's writes, and crash consistency (kill -9 during enrolment). Also
 * the gallery on disk: private file modes, ids never reused, and no trace of
 * a forgotten person in the database or its log right after the delete.
 * Also
 * SHA-256 test vectors and fr_describe_photo on real crops.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "facerec.h"
#include "gallery/gallery_internal.h"

#define MODEL "test-model/v1"
#define DIM 128

static char dir[64];

static const char *tmp_path(const char *name) {
  static char bufs[4][128];
  static int k;
  char *b = bufs[k++ & 3];
  snprintf(b, 128, "%s/%s", dir, name);
  return b;
}

static void remove_db(const char *path) {
  char p[256];
  unlink(path);
  snprintf(p, sizeof p, "%s-wal", path);
  unlink(p);
  snprintf(p, sizeof p, "%s-shm", path);
  unlink(p);
}

/* A deterministic generator for test vectors (xorshift64*). */
static uint64_t rng_state = 88172645463325252ull;
static float frand(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (float)((rng_state * 2685821657736338717ull) >> 40) / 16777216.0f * 2 - 1;
}

/* Runs a query returning one integer straight on the file, bypassing the API. */
static long long sql_int(const char *path, const char *sql) {
  sqlite3 *db;
  long long v = -1;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
      if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
      sqlite3_finalize(s);
    }
  }
  sqlite3_close(db);
  return v;
}

static void test_sha256(void) {
  char hex[65];
  fr_sha256_hex("", 0, hex);
  CHECK(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
  fr_sha256_hex("abc", 3, hex);
  CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
  const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  fr_sha256_hex(m, strlen(m), hex);
  CHECK(strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0);
  /* One million 'a': many full blocks, the FIPS 180-2 long vector. */
  char *a = malloc(1000000);
  memset(a, 'a', 1000000);
  fr_sha256_hex(a, 1000000, hex);
  CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
  free(a);
}

static void test_kernels(void) {
  /* The AVX2 and scalar kernels agree, including a padded dimension. */
  int dim = 20, stride = fr__gallery_stride(dim);
  CHECK(stride == 32);
  size_t rows = 37;
  float *m = fr__aligned_calloc(rows * stride * sizeof(float));
  float *q = fr__aligned_calloc(stride * sizeof(float));
  float a[37], b[37];
  for (size_t r = 0; r < rows; r++)
    for (int d = 0; d < dim; d++) m[r * stride + d] = frand();
  for (int d = 0; d < dim; d++) q[d] = frand();
  fr__sqdist_rows(0, m, rows, stride, q, a);
  double worst = 0;
  for (size_t r = 0; r < rows; r++) {
    double ref = 0;
    for (int d = 0; d < dim; d++) ref += (double)(m[r * stride + d] - q[d]) * (m[r * stride + d] - q[d]);
    worst = fmax(worst, fabs(ref - a[r]));
  }
  CHECK_MSG(worst < 1e-4, "scalar kernel off by %g", worst);
  if (fr__gallery_has_avx2()) {
    fr__sqdist_rows(1, m, rows, stride, q, b);
    worst = 0;
    for (size_t r = 0; r < rows; r++) worst = fmax(worst, fabs((double)a[r] - b[r]));
    CHECK_MSG(worst < 1e-4, "avx2 differs from scalar by %g", worst);
  } else {
    check_skip_expected("no AVX2 on this CPU: only the scalar kernel was tested");
  }
  fr__aligned_free(m);
  fr__aligned_free(q);
}

static void random_unit(float *v, int dim) {
  double n = 0;
  for (int d = 0; d < dim; d++) {
    v[d] = frand();
    n += (double)v[d] * v[d];
  }
  for (int d = 0; d < dim; d++) v[d] = (float)(v[d] / sqrt(n));
}

static void test_basics(void) {
  const char *path = tmp_path("basic.db");
  fr_error err = {0};
  fr_gallery *g = NULL;
  CHECK_OK(fr_gallery_open(path, MODEL, DIM, 0.6f, &g, &err), &err);
  if (!g) return;
  CHECK(fr_gallery_dim(g) == DIM && fabsf(fr_gallery_threshold(g) - 0.6f) < 1e-6f);
  CHECK(sql_int(path, "PRAGMA user_version") == 3);
  CHECK(sql_int(path, "SELECT COUNT(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'") == 1);

  float e[4][DIM];
  for (int i = 0; i < 4; i++) random_unit(e[i], DIM);
  fr_gallery_face f[3] = {{e[0], "hash-a", 0, {1, 2, 3, 4}}, {e[1], "hash-a", 1, {0, 0, 0, 0}}, {e[2], "hash-b", 0, {0, 0, 0, 0}}};
  int added = -1;
  CHECK_OK(fr_gallery_enroll(g, "alice", "{\"team\":1}", f, 3, &added, &err), &err);
  CHECK(added == 3);
  /* The same images again: duplicates are skipped, not stored twice. */
  CHECK_OK(fr_gallery_enroll(g, "alice", NULL, f, 3, &added, &err), &err);
  CHECK(added == 0);
  int n = 0;
  CHECK_OK(fr_gallery_count(g, &n, &err), &err);
  CHECK(n == 3);
  /* Alice's image under another name: refused, and bob is not created. */
  fr_gallery_face fb[2] = {{e[3], "hash-c", 0, {0, 0, 0, 0}}, {e[3], "hash-b", 0, {0, 0, 0, 0}}};
  CHECK(fr_gallery_enroll(g, "bob", NULL, fb, 2, &added, &err) == FR_E_INVALID);
  CHECK(strstr(err.message, "another person") != NULL);
  fr_person people[8];
  CHECK_OK(fr_gallery_people(g, people, 8, &n, &err), &err);
  CHECK(n == 1 && strcmp(people[0].name, "alice") == 0 && people[0].n_faces == 3);
  CHECK_OK(fr_gallery_enroll(g, "bob", NULL, fb, 1, &added, &err), &err);
  CHECK(added == 1);
  CHECK(sql_int(path, "SELECT COUNT(*) FROM faces WHERE box_x = 1 AND box_h = 4 AND variant = 0 AND created > 0") == 1);
  CHECK(sql_int(path, "SELECT COUNT(*) FROM faces WHERE model = '" MODEL "'") == 4);

  /* Bad input is refused before anything is written. */
  float bad[DIM];
  memcpy(bad, e[0], sizeof bad);
  bad[5] = NAN;
  fr_gallery_face fn = {bad, NULL, 0, {0, 0, 0, 0}};
  CHECK(fr_gallery_enroll(g, "carol", NULL, &fn, 1, NULL, &err) == FR_E_INVALID);
  CHECK(fr_gallery_enroll(g, "", NULL, &f[0], 1, NULL, &err) == FR_E_INVALID);
  char longname[200];
  memset(longname, 'x', sizeof longname - 1);
  longname[sizeof longname - 1] = 0;
  CHECK(fr_gallery_enroll(g, longname, NULL, &f[0], 1, NULL, &err) == FR_E_LIMIT);
  CHECK(strstr(err.message, "limit") != NULL);
  CHECK(fr_gallery_enroll(g, "carol", NULL, f, 0, NULL, &err) == FR_E_INVALID);

  /* Search finds the exact vectors first. */
  fr_match m[4];
  CHECK_OK(fr_gallery_search(g, e[2], 4, m, &n, &err), &err);
  CHECK(n == 4 && strcmp(m[0].name, "alice") == 0 && m[0].distance < 1e-3f);
  CHECK(m[1].distance >= m[0].distance && m[2].distance >= m[1].distance);
  CHECK_OK(fr_gallery_search(g, e[3], 1, m, &n, &err), &err);
  CHECK(n == 1 && strcmp(m[0].name, "bob") == 0);

  /* forget removes the person and every row. */
  int removed = 0;
  CHECK_OK(fr_gallery_forget(g, "alice", &removed, &err), &err);
  CHECK(removed == 3);
  CHECK(fr_gallery_forget(g, "alice", &removed, &err) == FR_E_NOTFOUND);
  CHECK(sql_int(path, "SELECT COUNT(*) FROM faces") == 1);
  CHECK(sql_int(path, "SELECT COUNT(*) FROM people WHERE name = 'alice'") == 0);
  CHECK_OK(fr_gallery_search(g, e[2], 4, m, &n, &err), &err);
  CHECK(n == 1 && strcmp(m[0].name, "bob") == 0);
  /* Forgotten images may be enrolled again, under anyone. */
  CHECK_OK(fr_gallery_enroll(g, "carol", NULL, f, 1, &added, &err), &err);
  CHECK(added == 1);
  fr_gallery_close(g);

  /* Reopen: everything persisted, the recorded threshold wins. */
  g = NULL;
  CHECK_OK(fr_gallery_open(path, MODEL, DIM, 0.9f, &g, &err), &err);
  if (g) {
    CHECK(fabsf(fr_gallery_threshold(g) - 0.6f) < 1e-6f);
    CHECK_OK(fr_gallery_people(g, people, 8, &n, &err), &err);
    CHECK(n == 2 && strcmp(people[0].name, "bob") == 0 && strcmp(people[1].name, "carol") == 0);
    CHECK_OK(fr_gallery_search(g, e[0], 1, m, &n, &err), &err);
    CHECK(n == 1 && strcmp(m[0].name, "carol") == 0 && m[0].distance < 1e-3f);
    fr_gallery_close(g);
  }

  /* Another model, or another length, is refused with a clear error. */
  g = NULL;
  CHECK(fr_gallery_open(path, "other-model", DIM, 0.6f, &g, &err) == FR_E_MODEL && g == NULL);
  CHECK(strstr(err.message, MODEL) && strstr(err.message, "other-model"));
  CHECK(fr_gallery_open(path, MODEL, 64, 0.6f, &g, &err) == FR_E_MODEL && g == NULL);
  CHECK(fr_gallery_open(path, MODEL, DIM, -1, &g, &err) == FR_E_INVALID);
  fr_gallery_close(NULL);
  remove_db(path);
}

/* A gallery file written by schema version 1 is upgraded in place. */
static void test_migration(void) {
  const char *path = tmp_path("v1.db");
  sqlite3 *db;
  CHECK(sqlite3_open(path, &db) == SQLITE_OK);
  const char *v1 =
      "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
      "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, metadata TEXT, created INTEGER NOT NULL);"
      "CREATE TABLE faces(id INTEGER PRIMARY KEY, person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,"
      " model TEXT NOT NULL, embedding BLOB NOT NULL, image_hash TEXT, variant INTEGER NOT NULL DEFAULT 0,"
      " box_x REAL, box_y REAL, box_w REAL, box_h REAL, created INTEGER NOT NULL);"
      "CREATE INDEX faces_person ON faces(person_id);"
      "INSERT INTO meta VALUES('model','" MODEL "'),('dim','4'),('threshold','0.5'),('generation','7');"
      "INSERT INTO people VALUES(1,'old',NULL,0);"
      "INSERT INTO faces(person_id,model,embedding,created) VALUES(1,'" MODEL "',zeroblob(16),0);"
      "PRAGMA user_version = 1;";
  CHECK(sqlite3_exec(db, v1, NULL, NULL, NULL) == SQLITE_OK);
  sqlite3_close(db);
  fr_error err = {0};
  fr_gallery *g = NULL;
  CHECK_OK(fr_gallery_open(path, MODEL, 4, 0.6f, &g, &err), &err);
  CHECK(sql_int(path, "PRAGMA user_version") == 3);
  CHECK(sql_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('classifiers','faces_hash')") == 2);
  if (g) {
    CHECK(fabsf(fr_gallery_threshold(g) - 0.5f) < 1e-6f);
    float q[4] = {0, 0, 0, 0};
    fr_match m;
    int n = 0;
    CHECK_OK(fr_gallery_search(g, q, 1, &m, &n, &err), &err);
    CHECK(n == 1 && strcmp(m.name, "old") == 0 && m.distance == 0);
    fr_gallery_close(g);
  }
  /* A file from a newer facerec is not touched. */
  CHECK(sqlite3_open(path, &db) == SQLITE_OK);
  CHECK(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL) == SQLITE_OK);
  sqlite3_close(db);
  g = NULL;
  CHECK(fr_gallery_open(path, MODEL, 4, 0.6f, &g, &err) == FR_E_UNSUPPORTED && g == NULL);
  remove_db(path);
  /* Not a database at all. */
  FILE *f = fopen(path, "wb");
  fputs("this is not an SQLite file, just some text that is long enough to look like a header....", f);
  fclose(f);
  fr_status st = fr_gallery_open(path, MODEL, 4, 0.6f, &g, &err);
  CHECK_MSG(st == FR_E_FORMAT, "status %d: %s", st, err.message);
  remove_db(path);
}

typedef struct ref_hit {
  double d;
  int row;
} ref_hit;

static int cmp_hit(const void *a, const void *b) {
  const ref_hit *x = a, *y = b;
  return x->d < y->d ? -1 : x->d > y->d ? 1 : x->row - y->row;
}

/* Exact top-k against a double-precision brute force over the same vectors. */
static void test_topk(void) {
  fr_error err = {0};
  fr_gallery *g = NULL;
  CHECK_OK(fr_gallery_open(":memory:", MODEL, DIM, 0.6f, &g, &err), &err);
  if (!g) return;
  enum { PEOPLE = 40, PER = 50, ROWS = PEOPLE * PER, K = 10 };
  float *all = malloc((size_t)ROWS * DIM * sizeof(float));
  fr_gallery_face *faces = calloc(PER, sizeof *faces);
  for (int p = 0; p < PEOPLE; p++) {
    char name[32];
    snprintf(name, sizeof name, "person%02d", p);
    for (int i = 0; i < PER; i++) {
      float *v = all + (size_t)(p * PER + i) * DIM;
      for (int d = 0; d < DIM; d++) v[d] = frand();
      faces[i].embedding = v;
    }
    int added = 0;
    CHECK_OK(fr_gallery_enroll(g, name, NULL, faces, PER, &added, &err), &err);
  }
  ref_hit *ref = malloc(ROWS * sizeof *ref);
  int mismatches = 0;
  double worst = 0;
  for (int t = 0; t < 25; t++) {
    float q[DIM];
    for (int d = 0; d < DIM; d++) q[d] = frand();
    for (int r = 0; r < ROWS; r++) {
      double s = 0;
      for (int d = 0; d < DIM; d++) s += ((double)all[(size_t)r * DIM + d] - q[d]) * ((double)all[(size_t)r * DIM + d] - q[d]);
      ref[r].d = sqrt(s);
      ref[r].row = r;
    }
    qsort(ref, ROWS, sizeof *ref, cmp_hit);
    fr_match m[K];
    int n = 0;
    CHECK_OK(fr_gallery_search(g, q, K, m, &n, &err), &err);
    CHECK(n == K);
    for (int i = 0; i < n; i++) {
      /* Rows were enrolled in order, so face ids are row + 1. */
      int row = (int)m[i].face_id - 1;
      worst = fmax(worst, fabs(m[i].distance - ref[i].d));
      /* A different row is only acceptable for a float-precision tie. */
      if (row != ref[i].row && fabs(ref[i].d - m[i].distance) > 1e-4) mismatches++;
      char want[32];
      snprintf(want, sizeof want, "person%02d", row / PER);
      if (strcmp(m[i].name, want) != 0) mismatches++;
    }
    /* nn identification ranks people by their nearest row. */
    fr_identify_options o;
    fr_identify_options_default(&o);
    fr_match top[3];
    int known = -1;
    CHECK_OK(fr_gallery_identify(g, q, &o, top, 3, &n, &known, &err), &err);
    CHECK(n == 3 && top[0].face_id == m[0].face_id && fabsf(top[0].distance - m[0].distance) < 1e-5f);
    CHECK(strcmp(top[1].name, top[0].name) != 0 && top[1].distance >= top[0].distance);
    CHECK(known == 0); /* random vectors are far apart: nobody is within 0.6 */
  }
  CHECK_MSG(mismatches == 0, "%d top-k entries differ from brute force", mismatches);
  CHECK_MSG(worst < 1e-4, "distances differ from double precision by %g", worst);
  /* The largest k allowed returns that many, sorted. */
  fr_match *big = malloc(FR_GALLERY_MAX_K * sizeof *big);
  int n = 0;
  CHECK_OK(fr_gallery_search(g, all, FR_GALLERY_MAX_K, big, &n, &err), &err);
  CHECK(n == FR_GALLERY_MAX_K && big[0].face_id == 1 && big[0].distance < 1e-4f);
  int sorted = 1;
  for (int i = 1; i < n; i++) sorted &= big[i].distance >= big[i - 1].distance;
  CHECK(sorted);
  free(big);
  free(ref);
  free(all);
  free(faces);
  fr_gallery_close(g);
}

/* Clustered people: every classifier must name the right one, reject a
 * stranger, and the SVM must be stored and reused. */
static void test_classifiers(void) {
  const char *path = tmp_path("cls.db");
  fr_error err = {0};
  fr_gallery *g = NULL;
  CHECK_OK(fr_gallery_open(path, MODEL, DIM, 0.6f, &g, &err), &err);
  if (!g) return;
  enum { PEOPLE = 6, PER = 8 };
  float centre[PEOPLE][DIM], v[PER][DIM];
  for (int p = 0; p < PEOPLE; p++) {
    random_unit(centre[p], DIM);
    fr_gallery_face f[PER];
    for (int i = 0; i < PER; i++) {
      /* Spread 0.15 per coordinate set: within-person distances ~0.3. */
      for (int d = 0; d < DIM; d++) v[i][d] = centre[p][d] + 0.02f * frand();
      f[i] = (fr_gallery_face){v[i], NULL, 0, {0, 0, 0, 0}};
    }
    char name[16];
    snprintf(name, sizeof name, "p%d", p);
    CHECK_OK(fr_gallery_enroll(g, name, NULL, f, PER, NULL, &err), &err);
  }
  static const fr_classifier kinds[3] = {FR_CLASSIFIER_NN, FR_CLASSIFIER_CENTROID, FR_CLASSIFIER_SVM};
  for (int c = 0; c < 3; c++) {
    fr_identify_options o;
    fr_identify_options_default(&o);
    o.classifier = kinds[c];
    int right = 0, rejected = 0;
    for (int p = 0; p < PEOPLE; p++) {
      float q[DIM];
      for (int d = 0; d < DIM; d++) q[d] = centre[p][d] + 0.02f * frand();
      fr_match top[3];
      int n = 0, known = 0;
      CHECK_OK(fr_gallery_identify(g, q, &o, top, 3, &n, &known, &err), &err);
      char name[16];
      snprintf(name, sizeof name, "p%d", p);
      right += n == 3 && known && strcmp(top[0].name, name) == 0;
      if (kinds[c] == FR_CLASSIFIER_SVM)
        CHECK_MSG(top[0].probability > 0.5f && top[1].probability <= top[0].probability,
                  "probabilities %g %g", top[0].probability, top[1].probability);
      else
        CHECK(top[0].probability < 0);
      float stranger[DIM];
      random_unit(stranger, DIM);
      CHECK_OK(fr_gallery_identify(g, stranger, &o, top, 3, &n, &known, &err), &err);
      rejected += !known;
    }
    CHECK_MSG(right == PEOPLE, "classifier %d: %d of %d right", c, right, PEOPLE);
    CHECK_MSG(rejected == PEOPLE, "classifier %d: %d of %d strangers rejected", c, rejected, PEOPLE);
  }
  long long gen = sql_int(path, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'generation'");
  CHECK(gen == PEOPLE);
  CHECK(sql_int(path, "SELECT generation FROM classifiers WHERE kind = 'svm'") == gen);
  /* A tighter threshold turns a match into "unknown". */
  fr_identify_options o;
  fr_identify_options_default(&o);
  o.threshold = 0.01f;
  fr_match top[1];
  int n = 0, known = 1;
  CHECK_OK(fr_gallery_identify(g, centre[0], &o, top, 1, &n, &known, &err), &err);
  CHECK(n == 1 && known == 0 && strcmp(top[0].name, "p0") == 0);
  o.classifier = 42;
  CHECK(fr_gallery_identify(g, centre[0], &o, top, 1, &n, &known, &err) == FR_E_INVALID);
  fr_gallery_close(g);
  remove_db(path);
}

/* A second handle sees the first one's writes without reopening. */
static void test_two_handles(void) {
  const char *path = tmp_path("two.db");
  fr_error err = {0};
  fr_gallery *a = NULL, *b = NULL;
  CHECK_OK(fr_gallery_open(path, MODEL, DIM, 0.6f, &a, &err), &err);
  CHECK_OK(fr_gallery_open(path, MODEL, DIM, 0.6f, &b, &err), &err);
  if (a && b) {
    float e[DIM];
    random_unit(e, DIM);
    fr_match m;
    int n = -1;
    CHECK_OK(fr_gallery_search(b, e, 1, &m, &n, &err), &err);
    CHECK(n == 0);
    fr_gallery_face f = {e, NULL, 0, {0, 0, 0, 0}};
    CHECK_OK(fr_gallery_enroll(a, "dora", NULL, &f, 1, NULL, &err), &err);
    CHECK_OK(fr_gallery_search(b, e, 1, &m, &n, &err), &err);
    CHECK(n == 1 && strcmp(m.name, "dora") == 0);
    CHECK_OK(fr_gallery_forget(b, "dora", NULL, &err), &err);
    CHECK_OK(fr_gallery_search(a, e, 1, &m, &n, &err), &err);
    CHECK(n == 0);
  }
  fr_gallery_close(a);
  fr_gallery_close(b);
  remove_db(path);
}

/*
 * Crash consistency: a child enrols people one transaction at a time and
 * reports each acknowledged one on a pipe, then starts one very large
 * enrolment; the parent kills it with SIGKILL in the middle. Reopened, the
 * file must pass integrity_check, hold every acknowledged person with all of
 * their descriptors, and hold no partial person.
 */
enum { CRASH_PER = 20, CRASH_BIG = 30000 };

static void crash_child(const char *path, int fd) {
  fr_gallery *g = NULL;
  if (fr_gallery_open(path, MODEL, DIM, 0.6f, &g, NULL) != FR_OK) _exit(3);
  float *v = malloc((size_t)CRASH_BIG * DIM * sizeof(float));
  fr_gallery_face *f = calloc(CRASH_BIG, sizeof *f);
  if (!v || !f) _exit(4);
  for (int i = 0; i < CRASH_BIG; i++) {
    for (int d = 0; d < DIM; d++) v[(size_t)i * DIM + d] = frand();
    f[i].embedding = v + (size_t)i * DIM;
  }
  for (int p = 0; p < 1000000; p++) {
    char name[32];
    snprintf(name, sizeof name, "%s%06d", p % 50 == 49 ? "big" : "p", p);
    int n = p % 50 == 49 ? CRASH_BIG : CRASH_PER;
    if (fr_gallery_enroll(g, name, NULL, n == CRASH_BIG ? f : f + (p % 100), n, NULL, NULL) != FR_OK) _exit(5);
    /* Acknowledged: the caller may now rely on it. */
    char line[40];
    int len = snprintf(line, sizeof line, "%s\n", name);
    if (write(fd, line, (size_t)len) != len) _exit(6);
  }
  _exit(0);
}

static void test_crash(void) {
  const char *path = tmp_path("crash.db");
  int fds[2];
  CHECK(pipe(fds) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    crash_child(path, fds[1]);
  }
  close(fds[1]);
  /* Wait until 149 enrolments (two of them big) have been acknowledged: the
   * child is then inside the third big one, which takes far longer than the
   * pause before the kill, so the kill lands in the middle of a transaction. */
  char buf[1 << 16];
  size_t len = 0;
  int lines = 0, bigs = 0;
  while (lines < 149 && len < sizeof buf - 1) {
    ssize_t r = read(fds[0], buf + len, sizeof buf - 1 - len);
    if (r <= 0) break;
    for (ssize_t i = 0; i < r; i++)
      if (buf[len + i] == '\n') {
        lines++;
        bigs += len + i >= 9 && memcmp(buf + len + i - 9, "big", 3) == 0;
      }
    len += (size_t)r;
  }
  nanosleep(&(struct timespec){0, 20000000}, NULL);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child ended with status %d", status);
  ssize_t r;
  while ((r = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)r;
  close(fds[0]);
  buf[len] = 0;
  CHECK(bigs == 2);

  fr_error err = {0};
  fr_gallery *g = NULL;
  CHECK_OK(fr_gallery_open(path, MODEL, DIM, 0.6f, &g, &err), &err);
  CHECK(sql_int(path, "SELECT COUNT(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'") == 1);
  if (!g) return;
  int n = 0;
  CHECK_OK(fr_gallery_people(g, NULL, 0, &n, &err), &err);
  fr_person *people = calloc((size_t)n + 1, sizeof *people);
  CHECK_OK(fr_gallery_people(g, people, n, &n, &err), &err);
  int acked = 0, missing = 0, partial = 0;
  for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
    acked++;
    int found = 0;
    for (int i = 0; i < n; i++) found |= strcmp(people[i].name, line) == 0;
    missing += !found;
  }
  for (int i = 0; i < n; i++) {
    int want = strncmp(people[i].name, "big", 3) == 0 ? CRASH_BIG : CRASH_PER;
    partial += people[i].n_faces != want;
  }
  int big_in_flight = 0;
  for (int i = 0; i < n; i++) big_in_flight |= strcmp(people[i].name, "big000149") == 0;
  printf("crash test: %d enrolments acknowledged, %d people in the reopened gallery, "
         "the big enrolment in flight %s\n",
         acked, n, big_in_flight ? "landed whole" : "left no trace");
  CHECK_MSG(missing == 0, "%d acknowledged people missing", missing);
  CHECK_MSG(partial == 0, "%d people partially enrolled", partial);
  /* At most the one enrolment in flight may have landed unacknowledged. */
  CHECK_MSG(n == acked || n == acked + 1, "%d people, %d acknowledged", n, acked);
  /* The reopened gallery is usable. */
  fr_match m;
  float q[DIM] = {0};
  int k = 0;
  CHECK_OK(fr_gallery_search(g, q, 1, &m, &k, &err), &err);
  CHECK(k == 1);
  free(people);
  fr_gallery_close(g);
  remove_db(path);
}

/* Tight crops: the detector may miss them; padding or the fallback must not. */
static void test_photo(void) {
  fr_error err = {0};
  fr_pipeline *pipe = NULL;
  fr_context *ctx = NULL;
  if (fr_pipeline_create(NULL, check_models_dir(), &pipe, &err) != FR_OK) {
    CHECK_MSG(0, "models: %s", err.message);
    return;
  }
  CHECK_OK(fr_context_create(NULL, &ctx, &err), &err);
  fr_face faces[4];
  float desc[4 * DIM];
  int n = 0, padded = 0, whole = 0;
  fr_face_source src = 0;
  static const char *const crops[] = {"sheldon/sheldon1.png", "sheldon/sheldon2.png", "penny/penny1.png",
                                      "raj/raj1.png", "leonard/leonard1.png", "howard/howard1.png"};
  float first[DIM];
  for (int i = 0; i < 6; i++) {
    char rel[128];
    snprintf(rel, sizeof rel, "bbt/examples/images/%s", crops[i]);
    fr_image img;
    if (fr_image_load(check_data(rel), NULL, &img, &err) != FR_OK) {
      CHECK_MSG(0, "%s", err.message);
      continue;
    }
    CHECK_OK(fr_describe_photo(ctx, pipe, &img, 0, faces, desc, 4, &n, &src, &err), &err);
    padded += n >= 1 && src == FR_FACE_SOURCE_PADDED;
    CHECK_MSG(n >= 1 && (src == FR_FACE_SOURCE_DETECTED || src == FR_FACE_SOURCE_PADDED), "%s: %d faces, source %d", rel, n, src);
    if (n >= 1) {
      /* Mapped back into the crop: the box lies mostly inside it. */
      CHECK(faces[0].box.x > -0.25f * img.width && faces[0].box.x + faces[0].box.width < 1.25f * img.width);
      if (i == 0) memcpy(first, desc, sizeof first);
      if (i == 1) CHECK_MSG(fr_distance(first, desc, DIM) < 0.6f, "sheldon vs sheldon %.3f", fr_distance(first, desc, DIM));
      if (i == 2) CHECK_MSG(fr_distance(first, desc, DIM) > 0.6f, "sheldon vs penny %.3f", fr_distance(first, desc, DIM));
    }
    fr_image_free(&img);
  }
  printf("tight crops: %d of 6 found only after padding\n", padded);
  fr_image img;
  if (fr_image_load(check_data("bbt/test/images/white.png"), NULL, &img, &err) == FR_OK) {
    CHECK_OK(fr_describe_photo(ctx, pipe, &img, 0, faces, desc, 4, &n, &src, &err), &err);
    CHECK(n == 0 && src == 0);
    CHECK_OK(fr_describe_photo(ctx, pipe, &img, 1, faces, desc, 4, &n, &src, &err), &err);
    whole = n == 1 && src == FR_FACE_SOURCE_WHOLE_IMAGE && faces[0].box.width == img.width;
    CHECK(whole);
    fr_image_free(&img);
  }
  fr_context_destroy(ctx);
  fr_pipeline_destroy(pipe);
}


/* A brute-force top-k with the same fp32 kernel and the same order (distance,
 * then tie key): what the two-pass search must reproduce exactly. */
typedef struct bf_hit {
  float d2;
  int64_t key;
  size_t row;
} bf_hit;

static int cmp_bf(const void *a, const void *b) {
  const bf_hit *x = a, *y = b;
  if (x->d2 != y->d2) return x->d2 < y->d2 ? -1 : 1;
  return x->key < y->key ? -1 : x->key > y->key;
}

/* The int8 first pass plus exact re-rank against brute force, on data built
 * to break it: exact duplicates under different keys, near-duplicates one
 * ulp apart, queries equidistant from two rows, queries equal to rows, and
 * rows of very different lengths. Both kernels. */
static void test_qindex(void) {
  enum { N = 6000, NQ = 60 };
  int stride = fr__gallery_stride(DIM);
  float *m = fr__aligned_calloc((size_t)N * stride * sizeof(float));
  int64_t *tie = malloc(N * sizeof *tie);
  bf_hit *bf = malloc(N * sizeof *bf);
  fr__qcand *lb = malloc(N * sizeof *lb);
  float *all = malloc(N * sizeof *all);
  if (!m || !tie || !bf || !lb || !all) {
    CHECK(0);
    return;
  }
  for (size_t r = 0; r < N; r++) {
    float *x = m + r * stride;
    if (r >= 100 && r % 7 == 0) {
      memcpy(x, m + (r - 100) * stride, DIM * sizeof(float)); /* exact duplicate */
    } else if (r >= 50 && r % 11 == 0) {
      memcpy(x, m + (r - 50) * stride, DIM * sizeof(float));
      x[r % DIM] = nextafterf(x[r % DIM], 2.0f); /* one ulp away */
    } else {
      random_unit(x, DIM);
      if (r % 13 == 0)
        for (int d = 0; d < DIM; d++) x[d] *= 8.0f; /* a much longer row */
    }
    /* Keys are a permutation that disagrees with row order. */
    tie[r] = (int64_t)((r * 7919) % N);
  }
  fr_error err = {0};
  fr__qindex ix;
  CHECK_OK(fr__qindex_build(&ix, m, N, DIM, stride, &err), &err);
  float *q = fr__aligned_calloc((size_t)stride * sizeof(float));
  int impls = fr__gallery_has_avx2() ? 2 : 1, wrong = 0, checked = 0;
  size_t exact_random = 0;
  for (int t = 0; t < NQ; t++) {
    int kind = t % 4;
    size_t a = (size_t)(t * 97) % N, b = (size_t)(t * 31 + 5) % N;
    if (kind == 0) {
      random_unit(q, DIM);
    } else if (kind == 1) {
      memcpy(q, m + a * stride, DIM * sizeof(float)); /* a row itself */
    } else if (kind == 2) {
      for (int d = 0; d < DIM; d++) q[d] = 0.5f * (m[a * stride + d] + m[b * stride + d]);
    } else {
      memcpy(q, m + a * stride, DIM * sizeof(float));
      q[3] = nextafterf(q[3], -2.0f);
    }
    for (int impl = 0; impl < impls; impl++) {
      fr__sqdist_rows(impl, m, N, stride, q, all);
      for (size_t r = 0; r < N; r++) bf[r] = (bf_hit){all[r], tie[r], r};
      qsort(bf, N, sizeof *bf, cmp_bf);
      static const int ks[3] = {1, 5, 40};
      for (int ki = 0; ki < 3; ki++) {
        int k = ks[ki];
        size_t rows[40], n_exact = 0;
        float d2[40];
        size_t got = fr__qindex_topk(impl, &ix, m, stride, q, tie, k, rows, d2, lb, &n_exact);
        checked++;
        int same = got == (size_t)k;
        for (int i = 0; same && i < k; i++)
          same = rows[i] == bf[i].row && memcmp(&d2[i], &bf[i].d2, sizeof(float)) == 0;
        if (!same) {
          wrong++;
          fprintf(stderr, "qindex: query %d impl %d k %d differs from brute force\n", t, impl, k);
        }
        if (kind == 0 && k == 1) exact_random += n_exact;
      }
    }
  }
  /* Without tie keys, ties go to the lower row. */
  memcpy(q, m + 700 * stride, DIM * sizeof(float)); /* 700 % 7 == 0: a duplicate of row 600 */
  size_t rows[2];
  float d2[2];
  CHECK(fr__qindex_topk(-1, &ix, m, stride, q, NULL, 2, rows, d2, lb, NULL) == 2);
  CHECK(d2[0] == 0 && d2[1] == 0 && rows[0] < rows[1]);
  /* Worst cases for the bounds: rows close to one query whose rounding
   * errors all point the same way relative to it (each coordinate half a
   * quantisation step off its code, towards or away from the query's sign),
   * so that the first pass overestimates some distances and underestimates
   * others by nearly the full margin it allows. A margin any tighter than
   * proven lets a true nearest row be excluded here. */
  random_unit(q, DIM);
  for (size_t r = 0; r < N; r++) {
    float *x = m + r * stride, amax = 0;
    for (int d = 0; d < DIM; d++) {
      x[d] = q[d] + 0.03f * (frand() - frand());
      amax = fmaxf(amax, fabsf(x[d]));
    }
    float sc = amax / 127.0f, sign = r % 2 ? 1.0f : -1.0f;
    for (int d = 0; d < DIM; d++) {
      float c = rintf(x[d] / sc);
      if (fabsf(c) >= 127) continue; /* keep the largest on its code: the scale stays */
      x[d] = sc * (c + sign * 0.49f * (q[d] > 0 ? 1.0f : -1.0f));
    }
  }
  fr__qindex_free(&ix);
  CHECK_OK(fr__qindex_build(&ix, m, N, DIM, stride, &err), &err);
  for (int impl = 0; impl < impls; impl++) {
    fr__sqdist_rows(impl, m, N, stride, q, all);
    for (size_t r = 0; r < N; r++) bf[r] = (bf_hit){all[r], tie[r], r};
    qsort(bf, N, sizeof *bf, cmp_bf);
    for (int k = 1; k <= 20; k += 19) {
      size_t rows[20];
      float d2[20];
      size_t got = fr__qindex_topk(impl, &ix, m, stride, q, tie, k, rows, d2, lb, NULL);
      int same = got == (size_t)k;
      for (int i = 0; same && i < k; i++) same = rows[i] == bf[i].row && d2[i] == bf[i].d2;
      checked++;
      if (!same) {
        wrong++;
        fprintf(stderr, "qindex: worst-case rows, impl %d k %d differ from brute force\n", impl, k);
      }
    }
  }
  CHECK_MSG(wrong == 0, "%d of %d two-pass searches differ from brute force", wrong, checked);
  /* The first pass must prune: on random queries only a sliver of the rows
   * needs the exact distance (this is about work done, not time). */
  size_t random_searches = (size_t)(NQ / 4) * impls;
  CHECK_MSG(exact_random < random_searches * (N / 100),
            "%zu rows re-ranked over %zu random top-1 searches of %d rows", exact_random,
            random_searches, N);
  fr__qindex_free(&ix);
  fr__qindex_free(&ix);
  fr__aligned_free(q);
  fr__aligned_free(m);
  free(tie), free(bf), free(lb), free(all);
}

/* The public search of a gallery large enough for the two-pass path, with
 * duplicate descriptors under several people, against brute force. */
static void test_large_search(void) {
  enum { PEOPLE = 10, PER = 500, ROWS = PEOPLE * PER };
  fr_error err = {0};
  fr_gallery *g = NULL;
  CHECK_OK(fr_gallery_open(":memory:", MODEL, DIM, 0.6f, &g, &err), &err);
  if (!g) return;
  int stride = fr__gallery_stride(DIM);
  float *all = fr__aligned_calloc((size_t)ROWS * stride * sizeof(float));
  fr_gallery_face *faces = calloc(PER, sizeof *faces);
  for (int p = 0; p < PEOPLE; p++) {
    char name[32];
    snprintf(name, sizeof name, "p%d", p);
    for (int i = 0; i < PER; i++) {
      size_t r = (size_t)p * PER + i;
      float *v = all + r * stride;
      if (p > 0 && i % 5 == 0) memcpy(v, all + (r - PER) * stride, DIM * sizeof(float));
      else random_unit(v, DIM);
      faces[i].embedding = v;
    }
    CHECK_OK(fr_gallery_enroll(g, name, NULL, faces, PER, NULL, &err), &err);
  }
  float *d = malloc(ROWS * sizeof *d);
  bf_hit *bf = malloc(ROWS * sizeof *bf);
  float *q = fr__aligned_calloc((size_t)stride * sizeof(float));
  int wrong = 0;
  for (int t = 0; t < 12; t++) {
    if (t % 2) memcpy(q, all + (size_t)(t * 211 % (PER)) * stride, DIM * sizeof(float));
    else random_unit(q, DIM);
    fr__sqdist_rows(-1, all, ROWS, stride, q, d);
    /* Rows were enrolled in order: face id = row + 1. */
    for (int r = 0; r < ROWS; r++) bf[r] = (bf_hit){d[r], r + 1, (size_t)r};
    qsort(bf, ROWS, sizeof *bf, cmp_bf);
    fr_match m[8];
    int n = 0;
    CHECK_OK(fr_gallery_search(g, q, 8, m, &n, &err), &err);
    for (int i = 0; i < 8; i++)
      if (n != 8 || m[i].face_id != bf[i].key || m[i].distance != sqrtf(bf[i].d2)) wrong++;
    fr_identify_options o;
    fr_identify_options_default(&o);
    int known = 0;
    CHECK_OK(fr_gallery_identify(g, q, &o, m, 1, &n, &known, &err), &err);
    if (n != 1 || m[0].face_id != bf[0].key) wrong++;
  }
  CHECK_MSG(wrong == 0, "%d results differ from brute force", wrong);
  fr_match m[1];
  int n = 0;
  CHECK(fr_gallery_search(g, q, FR_GALLERY_MAX_K + 1, m, &n, &err) == FR_E_LIMIT);
  CHECK(strstr(err.message, "limit") != NULL);
  q[0] = NAN;
  CHECK(fr_gallery_search(g, q, 1, m, &n, &err) == FR_E_INVALID);
  fr__aligned_free(q);
  fr__aligned_free(all);
  free(faces), free(d), free(bf);
  fr_gallery_close(g);
}

/* Identification by cosine distance: the nearest row by angle, not length. */
static void test_cosine(void) {
  fr_error err = {0};
  fr_gallery *g = NULL;
  CHECK_OK(fr_gallery_open(":memory:", MODEL, 4, 0.6f, &g, &err), &err);
  if (!g) return;
  /* Alice points along x but is long; Bob is close in Euclidean terms but
   * at 45 degrees. */
  float a[4] = {10, 0, 0, 0}, b[4] = {0.7f, 0.7f, 0, 0}, q[4] = {1, 0.1f, 0, 0};
  fr_gallery_face fa = {a, NULL, 0, {0, 0, 0, 0}}, fb = {b, NULL, 0, {0, 0, 0, 0}};
  CHECK_OK(fr_gallery_enroll(g, "alice", NULL, &fa, 1, NULL, &err), &err);
  CHECK_OK(fr_gallery_enroll(g, "bob", NULL, &fb, 1, NULL, &err), &err);
  fr_identify_options o;
  fr_identify_options_default(&o);
  fr_match top[2];
  int n = 0, known = 0;
  CHECK_OK(fr_gallery_identify(g, q, &o, top, 2, &n, &known, &err), &err);
  CHECK(n == 2 && strcmp(top[0].name, "bob") == 0);
  o.metric = FR_METRIC_COSINE;
  /* No cosine threshold recorded yet: an explicit one is required. */
  CHECK(fr_gallery_identify(g, q, &o, top, 2, &n, &known, &err) == FR_E_INVALID);
  CHECK(strstr(err.message, "cosine threshold") != NULL);
  CHECK_OK(fr_gallery_set_threshold(g, FR_METRIC_COSINE, 0.02f, &err), &err);
  CHECK(fabsf(fr_gallery_metric_threshold(g, FR_METRIC_COSINE) - 0.02f) < 1e-7f);
  for (int c = FR_CLASSIFIER_NN; c <= FR_CLASSIFIER_CENTROID; c++) {
    o.classifier = (fr_classifier)c;
    CHECK_OK(fr_gallery_identify(g, q, &o, top, 2, &n, &known, &err), &err);
    double want = 1.0 - 1.0 / sqrt(1.01); /* cos of q and the x axis */
    CHECK_MSG(n == 2 && strcmp(top[0].name, "alice") == 0 && fabs(top[0].distance - want) < 1e-5,
              "classifier %d: %s %g", c, top[0].name, top[0].distance);
    CHECK(known == 1 && fabsf(top[1].distance - fr_cosine_distance(q, b, 4)) < 1e-5f);
  }
  /* k larger than the gallery returns everything. */
  fr_match all[5];
  CHECK_OK(fr_gallery_search(g, q, 5, all, &n, &err), &err);
  CHECK(n == 2 && strcmp(all[0].name, "bob") == 0 && all[1].distance >= all[0].distance);
  float z[4] = {0, 0, 0, 0};
  CHECK(fr_gallery_identify(g, z, &o, top, 2, &n, &known, &err) == FR_E_INVALID);
  o.metric = (fr_metric)9;
  CHECK(fr_gallery_identify(g, q, &o, top, 2, &n, &known, &err) == FR_E_INVALID);
  fr_gallery_close(g);
}

/* The documented limits: each an FR_E_LIMIT naming it, nothing stored. */
static void test_limits(void) {
  fr_error err = {0};
  fr_gallery *g = NULL;
  CHECK_OK(fr_gallery_open(":memory:", MODEL, 4, 0.6f, &g, &err), &err);
  if (!g) return;
  float v[4] = {1, 2, 3, 4};
  fr_gallery_face f = {v, NULL, 0, {0, 0, 0, 0}};
  char name[FR_NAME_MAX + 1];
  memset(name, 'n', FR_NAME_MAX - 1);
  name[FR_NAME_MAX - 1] = 0;
  CHECK_OK(fr_gallery_enroll(g, name, NULL, &f, 1, NULL, &err), &err); /* exactly the limit */
  name[FR_NAME_MAX - 1] = 'n';
  name[FR_NAME_MAX] = 0;
  CHECK(fr_gallery_enroll(g, name, NULL, &f, 1, NULL, &err) == FR_E_LIMIT);
  CHECK(fr_gallery_forget(g, name, NULL, &err) == FR_E_LIMIT);
  char *meta = malloc(FR_GALLERY_MAX_METADATA + 2);
  memset(meta, 'm', FR_GALLERY_MAX_METADATA + 1);
  meta[FR_GALLERY_MAX_METADATA + 1] = 0;
  CHECK(fr_gallery_enroll(g, "meta", meta, &f, 1, NULL, &err) == FR_E_LIMIT);
  CHECK(strstr(err.message, "metadata") != NULL);
  meta[FR_GALLERY_MAX_METADATA] = 0;
  CHECK_OK(fr_gallery_enroll(g, "meta", meta, &f, 1, NULL, &err), &err);
  free(meta);
  /* Faces per person: one call over the limit, and a second call that would
   * cross it; the person keeps what they had. */
  enum { M = FR_GALLERY_MAX_FACES };
  fr_gallery_face *many = calloc(M + 1, sizeof *many);
  for (int i = 0; i <= M; i++) many[i] = f;
  CHECK(fr_gallery_enroll(g, "many", NULL, many, M + 1, NULL, &err) == FR_E_LIMIT);
  int added = 0;
  CHECK_OK(fr_gallery_enroll(g, "many", NULL, many, M - 1, &added, &err), &err);
  CHECK(added == M - 1);
  CHECK(fr_gallery_enroll(g, "many", NULL, many, 2, &added, &err) == FR_E_LIMIT);
  CHECK(strstr(err.message, "per person") != NULL && added == 0);
  fr_person people[4];
  int n = 0;
  CHECK_OK(fr_gallery_people(g, people, 4, &n, &err), &err);
  int have = -1;
  for (int i = 0; i < n; i++)
    if (strcmp(people[i].name, "many") == 0) have = people[i].n_faces;
  CHECK(have == M - 1);
  free(many);
  fr_match m[1];
  int known;
  CHECK(fr_gallery_identify(g, v, NULL, m, FR_GALLERY_MAX_K + 1, &n, &known, &err) == FR_E_LIMIT);
  fr_gallery_close(g);
}

/* 1 if the file at path holds the bytes needle anywhere. */
static int file_has(const char *path, const void *needle, size_t len) {
  uint8_t *data = NULL;
  size_t size = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  fseek(f, 0, SEEK_END);
  size = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  data = malloc(size + 1);
  size_t got = data ? fread(data, 1, size, f) : 0;
  fclose(f);
  int found = 0;
  for (size_t i = 0; got >= len && i + len <= got && !found; i++) found = memcmp(data + i, needle, len) == 0;
  free(data);
  return found;
}

/* forget + vacuum: no row and no byte of the person's descriptors remain in
 * the database or its log, while the other person's bytes still do (which
 * shows the search would find them). */
static void test_forget_vacuum(void) {
  const char *path = tmp_path("forget.db");
  char wal[256];
  snprintf(wal, sizeof wal, "%s-wal", path);
  fr_error err = {0};
  fr_gallery *g = NULL;
  CHECK_OK(fr_gallery_open(path, MODEL, DIM, 0.6f, &g, &err), &err);
  if (!g) return;
  enum { PER = 6 };
  float ea[PER][DIM], eb[PER][DIM];
  fr_gallery_face fa[PER], fb[PER];
  char ha[PER][32], hb[PER][32];
  for (int i = 0; i < PER; i++) {
    random_unit(ea[i], DIM);
    random_unit(eb[i], DIM);
    snprintf(ha[i], sizeof ha[i], "ahash%d", i);
    snprintf(hb[i], sizeof hb[i], "bhash%d", i);
    fa[i] = (fr_gallery_face){ea[i], ha[i], 0, {0, 0, 0, 0}};
    fb[i] = (fr_gallery_face){eb[i], hb[i], 0, {0, 0, 0, 0}};
  }
  CHECK_OK(fr_gallery_enroll(g, "alice", "alice's secret notes", fa, PER, NULL, &err), &err);
  CHECK_OK(fr_gallery_enroll(g, "bob", NULL, fb, PER, NULL, &err), &err);
  /* A stored SVM holds support vectors: train one so that it must go too. */
  CHECK_OK(fr_gallery_train_svm(g, 1.0, &err), &err);
  CHECK(sql_int(path, "SELECT COUNT(*) FROM classifiers") == 1);
  /* Before: alice's bytes are on disk (database or log). */
  CHECK(file_has(path, ea[2], sizeof ea[2]) || file_has(wal, ea[2], sizeof ea[2]));
  int removed = 0;
  CHECK_OK(fr_gallery_forget(g, "alice", &removed, &err), &err);
  CHECK(removed == PER);
  CHECK_OK(fr_gallery_vacuum(g, &err), &err);
  CHECK(sql_int(path, "SELECT COUNT(*) FROM people WHERE name = 'alice'") == 0);
  CHECK(sql_int(path, "SELECT COUNT(*) FROM faces WHERE image_hash LIKE 'ahash%'") == 0);
  CHECK(sql_int(path, "SELECT COUNT(*) FROM faces") == PER);
  CHECK(sql_int(path, "SELECT COUNT(*) FROM classifiers") == 0);
  fr_gallery_close(g);
  int leaked = 0;
  for (int i = 0; i < PER; i++) {
    leaked += file_has(path, ea[i], sizeof ea[i]) || file_has(wal, ea[i], sizeof ea[i]);
    /* Half a descriptor is already far too specific to be chance. */
    leaked += file_has(path, ea[i], sizeof ea[i] / 2) || file_has(wal, ea[i] + DIM / 2, sizeof ea[i] / 2);
  }
  CHECK_MSG(leaked == 0, "%d traces of a forgotten descriptor remain", leaked);
  CHECK(!file_has(path, "alice's secret", 14) && !file_has(path, "ahash", 5));
  CHECK(file_has(path, eb[3], sizeof eb[3])); /* bob's are there: the check can see */
  remove_db(path);
}

/* People without faces, per-face listing and removal (the server's subject
 * and face routes). */
static void test_faces_api(void) {
  fr_error err = {0};
  fr_gallery *g = NULL;
  CHECK_OK(fr_gallery_open(":memory:", MODEL, DIM, 0.6f, &g, &err), &err);
  if (!g) return;
  int64_t id = 0;
  CHECK_OK(fr_gallery_add_person(g, "ada", "{\"team\":1}", &id, &err), &err);
  CHECK(id > 0);
  CHECK(fr_gallery_add_person(g, "ada", NULL, NULL, &err) == FR_E_INVALID);
  /* A person without a descriptor is no candidate for any classifier: no
   * match at all (once the server wrote its infinite distance as JSON). */
  {
    float q[DIM];
    for (int d = 0; d < DIM; d++) q[d] = frand();
    static const fr_classifier kinds[] = {FR_CLASSIFIER_NN, FR_CLASSIFIER_CENTROID, FR_CLASSIFIER_SVM};
    for (int c = 0; c < 3; c++) {
      fr_identify_options io;
      fr_identify_options_default(&io);
      io.classifier = kinds[c];
      fr_match top[2];
      int nt = -1, known = -1;
      CHECK_OK(fr_gallery_identify(g, q, &io, top, 2, &nt, &known, &err), &err);
      CHECK_MSG(nt == 0 && known == 0, "classifier %d: %d matches (known %d) with no descriptors", c, nt, known);
    }
  }
  fr_gallery_face_info info[4];
  int n = -1;
  CHECK_OK(fr_gallery_faces(g, "ada", info, 4, &n, &err), &err);
  CHECK_MSG(n == 0, "a new person has %d faces", n);
  CHECK(fr_gallery_faces(g, "nobody", info, 4, &n, &err) == FR_E_NOTFOUND);

  float v[3][DIM];
  for (int k = 0; k < 3; k++)
    for (int d = 0; d < DIM; d++) v[k][d] = frand();
  char h0[65], h1[65];
  fr_sha256_hex("photo 0", 7, h0);
  fr_sha256_hex("photo 1", 7, h1);
  fr_gallery_face f[3] = {{v[0], h0, 0, {1, 2, 3, 4}}, {v[1], h0, 1, {0, 0, 0, 0}},
                          {v[2], h1, 0, {5, 6, 7, 8}}};
  int added = 0;
  CHECK_OK(fr_gallery_enroll(g, "ada", NULL, f, 3, &added, &err), &err);
  CHECK(added == 3);
  CHECK_OK(fr_gallery_faces(g, "ada", info, 4, &n, &err), &err);
  CHECK_MSG(n == 3, "listed %d of 3 faces", n);
  CHECK(n == 3 && strcmp(info[0].image_hash, h0) == 0 && info[0].variant == 0 &&
        info[0].box.x == 1 && info[0].box.height == 4 && info[1].variant == 1 &&
        strcmp(info[2].image_hash, h1) == 0 && info[0].id < info[1].id && info[1].id < info[2].id);
  CHECK_OK(fr_gallery_faces(g, "ada", info, 2, &n, &err), &err);
  CHECK_MSG(n == 2, "max 2 gave %d", n);
  int64_t fid = fr_gallery_face_id(g, h1, 0);
  CHECK(fid > info[1].id); /* the third face, listed after the first two */
  CHECK(fr_gallery_face_id(g, h1, 1) == -1);
  /* The two meanings of -1 apart: none is FR_E_NOTFOUND, a bad call another status. */
  int64_t found = 0;
  CHECK(fr_gallery_find_face(g, h1, 0, &found, &err) == FR_OK && found == fid);
  CHECK(fr_gallery_find_face(g, h1, 1, &found, &err) == FR_E_NOTFOUND && found == -1);
  CHECK(fr_gallery_find_face(g, NULL, 0, &found, &err) == FR_E_INVALID && found == -1);

  /* Removing the third face: it is no longer found, the others are. */
  fr_match m;
  int k = 0;
  CHECK_OK(fr_gallery_search(g, v[2], 1, &m, &k, &err), &err);
  CHECK(k == 1 && m.distance < 1e-4f);
  CHECK_OK(fr_gallery_remove_face(g, fid, &err), &err);
  CHECK(fr_gallery_remove_face(g, fid, &err) == FR_E_NOTFOUND);
  CHECK(fr_gallery_face_id(g, h1, 0) == -1);
  CHECK_OK(fr_gallery_search(g, v[2], 1, &m, &k, &err), &err);
  CHECK_MSG(k == 1 && m.distance > 1e-3f, "a removed face still matches (%.5f)", m.distance);
  CHECK_OK(fr_gallery_count(g, &n, &err), &err);
  CHECK(n == 2);
  fr_gallery_close(g);
}

/* ---- the gallery on disk ---------------------------------------------------- */

/* The permission bits of path, or -1 if it cannot be read. */
static int file_mode(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? (int)(sb.st_mode & 0777) : -1;
}

/* A new gallery and its log and shared-memory files are readable by their
 * owner only, even under a umask that lets SQLite's default 0644 through;
 * an existing file keeps the mode it has. */
static void test_file_modes(void) {
  const char *path = tmp_path("modes.db");
  char wal[256], shm[256];
  snprintf(wal, sizeof wal, "%s-wal", path);
  snprintf(shm, sizeof shm, "%s-shm", path);
  mode_t old_mask = umask(022);
  fr_error err = {0};
  fr_gallery *g = NULL;
  CHECK_OK(fr_gallery_open(path, MODEL, DIM, 0.6f, &g, &err), &err);
  if (g) {
    float e[DIM];
    random_unit(e, DIM);
    fr_gallery_face f = {e, "mode-hash", 0, {0, 0, 0, 0}};
    CHECK_OK(fr_gallery_enroll(g, "mode", NULL, &f, 1, NULL, &err), &err);
    /* All three files exist while the handle is open: the modes are real. */
    int mdb = file_mode(path), mwal = file_mode(wal), mshm = file_mode(shm);
    CHECK_MSG(mdb >= 0 && (mdb & 077) == 0, "the database has mode %o", (unsigned)mdb);
    CHECK_MSG(mwal >= 0 && (mwal & 077) == 0, "the log has mode %o", (unsigned)mwal);
    CHECK_MSG(mshm >= 0 && (mshm & 077) == 0, "the shared memory file has mode %o", (unsigned)mshm);
    fr_gallery_close(g);
  }
  remove_db(path);

  /* An existing file (here an empty one, which SQLite treats as a new
   * database) keeps the mode its owner gave it. */
  int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
  CHECK(fd >= 0 && fchmod(fd, 0640) == 0);
  if (fd >= 0) close(fd);
  g = NULL;
  CHECK_OK(fr_gallery_open(path, MODEL, DIM, 0.6f, &g, &err), &err);
  CHECK_MSG(file_mode(path) == 0640, "an existing file's mode became %o", (unsigned)file_mode(path));
  fr_gallery_close(g);
  remove_db(path);

  /* A folder that does not exist is a clear error, and nothing is created. */
  g = NULL;
  CHECK(fr_gallery_open(tmp_path("no-such-dir/g.db"), MODEL, DIM, 0.6f, &g, &err) == FR_E_IO);
  CHECK(g == NULL);
  umask(old_mask);
}

/* Enrols one descriptor for name from image hash; returns its face id. */
static int64_t enrol_one(fr_gallery *g, const char *name, const char *hash) {
  float e[DIM];
  random_unit(e, DIM);
  fr_gallery_face f = {e, hash, 0, {0, 0, 0, 0}};
  fr_error err = {0};
  CHECK_OK(fr_gallery_enroll(g, name, NULL, &f, 1, NULL, &err), &err);
  return fr_gallery_face_id(g, hash, 0);
}

/* The id of the person called name, or -1. */
static int64_t person_id(fr_gallery *g, const char *name) {
  fr_person people[64];
  int n = 0;
  fr_error err = {0};
  CHECK_OK(fr_gallery_people(g, people, 64, &n, &err), &err);
  for (int i = 0; i < n && i < 64; i++)
    if (strcmp(people[i].name, name) == 0) return people[i].id;
  return -1;
}

/* One round of deletes at the top of the id range, each followed by an
 * insert that must get a larger id than any the gallery ever gave out
 * (*max_face, *max_person carry that across rounds and reopens). */
static void ids_round(fr_gallery *g, int round, int64_t *max_face, int64_t *max_person) {
  fr_error err = {0};
  char name[32], hash[32];
  int64_t face[3];
  snprintf(name, sizeof name, "ids-%d-a", round);
  for (int i = 0; i < 3; i++) {
    snprintf(hash, sizeof hash, "ids-%d-h%d", round, i);
    face[i] = enrol_one(g, name, hash);
    CHECK_MSG(face[i] > *max_face, "round %d: face id %lld after %lld", round,
              (long long)face[i], (long long)*max_face);
    if (face[i] > *max_face) *max_face = face[i];
  }
  int64_t pa = person_id(g, name);
  CHECK(pa > *max_person);
  if (pa > *max_person) *max_person = pa;

  /* The face with the highest id goes; the next face must not take its id. */
  CHECK(face[2] == *max_face);
  CHECK_OK(fr_gallery_remove_face(g, face[2], &err), &err);
  snprintf(hash, sizeof hash, "ids-%d-h3", round);
  int64_t again = enrol_one(g, name, hash);
  CHECK_MSG(again > *max_face, "round %d: face id %lld reused (highest so far %lld)", round,
            (long long)again, (long long)*max_face);
  if (again > *max_face) *max_face = again;

  /* The newest person goes; the next person must not take their id. */
  int64_t p1 = 0, p2 = 0, p3 = 0;
  snprintf(name, sizeof name, "ids-%d-p1", round);
  CHECK_OK(fr_gallery_add_person(g, name, NULL, &p1, &err), &err);
  snprintf(name, sizeof name, "ids-%d-p2", round);
  CHECK_OK(fr_gallery_add_person(g, name, NULL, &p2, &err), &err);
  CHECK(p1 > *max_person && p2 > p1);
  if (p2 > *max_person) *max_person = p2;
  CHECK_OK(fr_gallery_forget(g, name, NULL, &err), &err);
  snprintf(name, sizeof name, "ids-%d-p3", round);
  CHECK_OK(fr_gallery_add_person(g, name, NULL, &p3, &err), &err);
  CHECK_MSG(p3 > *max_person, "round %d: person id %lld reused (highest so far %lld)", round,
            (long long)p3, (long long)*max_person);
  if (p3 > *max_person) *max_person = p3;

  /* Forgetting the person who holds the newest face frees both top ids at
   * once; the next enrolment takes neither. */
  snprintf(name, sizeof name, "ids-%d-a", round);
  CHECK_OK(fr_gallery_forget(g, name, NULL, &err), &err);
  snprintf(name, sizeof name, "ids-%d-b", round);
  snprintf(hash, sizeof hash, "ids-%d-h4", round);
  int64_t fb = enrol_one(g, name, hash), pb = person_id(g, name);
  CHECK_MSG(fb > *max_face && pb > *max_person, "round %d: ids %lld/%lld reused", round,
            (long long)fb, (long long)pb);
  if (fb > *max_face) *max_face = fb;
  if (pb > *max_person) *max_person = pb;
}

static void test_ids_not_reused(void) {
  const char *path = tmp_path("ids.db");
  int64_t max_face = 0, max_person = 0;
  for (int round = 0; round < 3; round++) {
    fr_error err = {0};
    fr_gallery *g = NULL;
    CHECK_OK(fr_gallery_open(path, MODEL, DIM, 0.6f, &g, &err), &err);
    if (!g) break;
    ids_round(g, round, &max_face, &max_person);
    fr_gallery_close(g);
  }
  remove_db(path);
}

/* The SQL of schema versions 1 and 2, as shipped, for building old files. */
#define V1_SCHEMA                                                                              \
  "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"                              \
  "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, metadata TEXT, "     \
  "created INTEGER NOT NULL);"                                                                 \
  "CREATE TABLE faces(id INTEGER PRIMARY KEY, person_id INTEGER NOT NULL REFERENCES people(id) " \
  "ON DELETE CASCADE, model TEXT NOT NULL, embedding BLOB NOT NULL, image_hash TEXT, "         \
  "variant INTEGER NOT NULL DEFAULT 0, box_x REAL, box_y REAL, box_w REAL, box_h REAL, "       \
  "created INTEGER NOT NULL);"                                                                 \
  "CREATE INDEX faces_person ON faces(person_id);"
#define V2_SCHEMA                                                                              \
  V1_SCHEMA "CREATE INDEX faces_hash ON faces(image_hash, variant);"                           \
            "CREATE TABLE classifiers(kind TEXT PRIMARY KEY, generation INTEGER NOT NULL, "    \
            "param REAL NOT NULL, data BLOB NOT NULL, created INTEGER NOT NULL);"

/* Writes a version-2 gallery of 4-d descriptors with ids that have gaps:
 * people 3 and 7, faces 5 (of 3), 9 and 12 (of 7), each descriptor
 * (id, id, id, id). extra_sql runs last. */
static void write_v2(const char *path, const char *extra_sql) {
  sqlite3 *db;
  CHECK(sqlite3_open(path, &db) == SQLITE_OK);
  const char *rows =
      "INSERT INTO meta VALUES('model','" MODEL "'),('dim','4'),('threshold','0.5'),"
      "('generation','7'),('embedding_format','float32le');"
      "INSERT INTO people VALUES(3,'three','{\"m\":3}',111),(7,'seven',NULL,222);"
      "INSERT INTO classifiers VALUES('svm', 7, 1.0, x'00', 333);";
  CHECK(sqlite3_exec(db, V2_SCHEMA, NULL, NULL, NULL) == SQLITE_OK);
  CHECK(sqlite3_exec(db, rows, NULL, NULL, NULL) == SQLITE_OK);
  const int ids[3] = {5, 9, 12}, owner[3] = {3, 7, 7};
  sqlite3_stmt *s;
  CHECK(sqlite3_prepare_v2(db,
                           "INSERT INTO faces(id, person_id, model, embedding, image_hash, "
                           "variant, box_x, box_y, box_w, box_h, created) "
                           "VALUES(?1, ?2, '" MODEL "', ?3, ?4, ?5, 1, 2, 3, 4, 444)",
                           -1, &s, NULL) == SQLITE_OK);
  for (int i = 0; i < 3; i++) {
    float v[4] = {(float)ids[i], (float)ids[i], (float)ids[i], (float)ids[i]};
    char hash[16];
    snprintf(hash, sizeof hash, "old-%d", ids[i]);
    sqlite3_bind_int(s, 1, ids[i]);
    sqlite3_bind_int(s, 2, owner[i]);
    sqlite3_bind_blob(s, 3, v, sizeof v, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 4, hash, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 5, i);
    CHECK(sqlite3_step(s) == SQLITE_DONE);
    sqlite3_reset(s);
  }
  sqlite3_finalize(s);
  if (extra_sql) CHECK(sqlite3_exec(db, extra_sql, NULL, NULL, NULL) == SQLITE_OK);
  CHECK(sqlite3_exec(db, "PRAGMA user_version = 2", NULL, NULL, NULL) == SQLITE_OK);
  sqlite3_close(db);
}

/* A version-2 file is upgraded to AUTOINCREMENT ids with every row, id,
 * index, foreign key and value intact; one that breaks a foreign key is
 * refused and left as it was. */
static void test_migration_v2(void) {
  const char *path = tmp_path("v2.db");
  remove_db(path);
  write_v2(path, NULL);
  fr_error err = {0};
  fr_gallery *g = NULL;
  CHECK_OK(fr_gallery_open(path, MODEL, 4, 0.6f, &g, &err), &err);
  CHECK(sql_int(path, "PRAGMA user_version") == 3);
  CHECK(sql_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                      "('people', 'faces') AND sql LIKE '%AUTOINCREMENT%'") == 2);
  CHECK(sql_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE '%v3%'") == 0);
  CHECK(sql_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN "
                      "('faces_person', 'faces_hash', 'sqlite_autoindex_people_1')") == 3);
  CHECK(sql_int(path, "SELECT COUNT(*) FROM pragma_foreign_key_list('faces') WHERE \"table\" = "
                      "'people' AND \"from\" = 'person_id' AND \"to\" = 'id' AND "
                      "on_delete = 'CASCADE'") == 1);
  CHECK(sql_int(path, "SELECT COUNT(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'") == 1);
  /* Every row and value as written. */
  CHECK(sql_int(path, "SELECT COUNT(*) FROM people WHERE (id = 3 AND name = 'three' AND "
                      "metadata = '{\"m\":3}' AND created = 111) OR (id = 7 AND name = 'seven' "
                      "AND metadata IS NULL AND created = 222)") == 2);
  CHECK(sql_int(path, "SELECT COUNT(*) FROM people") == 2);
  CHECK(sql_int(path, "SELECT COUNT(*) FROM faces WHERE model = '" MODEL "' AND box_x = 1 AND "
                      "box_y = 2 AND box_w = 3 AND box_h = 4 AND created = 444 AND "
                      "image_hash = 'old-' || id AND length(embedding) = 16 AND "
                      "((id = 5 AND person_id = 3 AND variant = 0) OR (id = 9 AND person_id = 7 "
                      "AND variant = 1) OR (id = 12 AND person_id = 7 AND variant = 2))") == 3);
  CHECK(sql_int(path, "SELECT COUNT(*) FROM faces") == 3);
  CHECK(sql_int(path, "SELECT COUNT(*) FROM classifiers WHERE generation = 7") == 1);
  CHECK(sql_int(path, "SELECT seq FROM sqlite_sequence WHERE name = 'faces'") == 12);
  CHECK(sql_int(path, "SELECT seq FROM sqlite_sequence WHERE name = 'people'") == 7);
  if (g) {
    CHECK(fabsf(fr_gallery_threshold(g) - 0.5f) < 1e-6f);
    /* The descriptors are found under their old ids and owners. */
    for (int id = 5; id <= 12; id++) {
      if (id != 5 && id != 9 && id != 12) continue;
      float q[4] = {(float)id, (float)id, (float)id, (float)id};
      fr_match m;
      int n = 0;
      CHECK_OK(fr_gallery_search(g, q, 1, &m, &n, &err), &err);
      CHECK_MSG(n == 1 && m.face_id == id && m.distance == 0 &&
                    strcmp(m.name, id == 5 ? "three" : "seven") == 0 &&
                    m.person_id == (id == 5 ? 3 : 7),
                "descriptor %d came back as face %lld of %s", id, (long long)m.face_id, m.name);
    }
    /* New ids continue above the old ones, and deleting the top ones does
     * not give them out again. */
    CHECK_OK(fr_gallery_remove_face(g, 12, &err), &err);
    CHECK(enrol_one(g, "seven", "new-1") == 13);
    int64_t p = 0;
    CHECK_OK(fr_gallery_forget(g, "seven", NULL, &err), &err);
    CHECK_OK(fr_gallery_add_person(g, "eight", NULL, &p, &err), &err);
    CHECK_MSG(p == 8, "the person after 7 got id %lld", (long long)p);
    CHECK(enrol_one(g, "eight", "new-2") == 14);
    /* The foreign key still cascades: deleting a person outside the API
     * takes their faces with them. */
    fr_gallery_close(g);
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "PRAGMA foreign_keys = ON; DELETE FROM people WHERE id = 3", NULL, NULL,
                       NULL) == SQLITE_OK);
    sqlite3_close(db);
    CHECK(sql_int(path, "SELECT COUNT(*) FROM faces WHERE person_id = 3") == 0);
    CHECK(sql_int(path, "SELECT COUNT(*) FROM faces") == 1);
  }
  remove_db(path);

  /* A face whose person is missing breaks the foreign key: the upgrade is
   * refused, and the file is left at version 2 with its rows. */
  write_v2(path, "INSERT INTO faces(id, person_id, model, embedding, created) "
                 "VALUES(20, 99, '" MODEL "', zeroblob(16), 0);");
  g = NULL;
  fr_status st = fr_gallery_open(path, MODEL, 4, 0.6f, &g, &err);
  CHECK_MSG(st == FR_E_FORMAT && g == NULL, "status %d: %s", st, err.message);
  CHECK(sql_int(path, "PRAGMA user_version") == 2);
  CHECK(sql_int(path, "SELECT COUNT(*) FROM faces") == 4);
  CHECK(sql_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE sql LIKE '%AUTOINCREMENT%'") == 0);
  remove_db(path);
}

/* A whole file in memory, for searching. */
typedef struct blob {
  uint8_t *data;
  size_t size;
} blob;

static blob read_all(const char *path) {
  blob b = {NULL, 0};
  FILE *f = fopen(path, "rb");
  if (!f) return b;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  if (size > 0 && (b.data = malloc((size_t)size))) b.size = fread(b.data, 1, (size_t)size, f);
  fclose(f);
  return b;
}

static int blob_has(const blob *b, const void *needle, size_t len) {
  const uint8_t *n = needle;
  if (len == 0 || b->size < len) return 0;
  const uint8_t *p = b->data, *end = b->data + b->size - len + 1;
  while ((p = memchr(p, n[0], (size_t)(end - p))) != NULL) {
    if (memcmp(p, n, len) == 0) return 1;
    p++;
  }
  return 0;
}

/* How many of the 16-byte windows of v (at every byte offset) occur in the
 * database or its log. */
static int windows_found(const blob *db, const blob *wal, const float *v) {
  const uint8_t *bytes = (const uint8_t *)v;
  int found = 0;
  for (size_t off = 0; off + 16 <= DIM * sizeof(float); off++)
    found += blob_has(db, bytes + off, 16) || blob_has(wal, bytes + off, 16);
  return found;
}

/* One person's data, for the scrub tests. */
enum { SCRUB_MAX = 12 };
typedef struct scrub_person {
  char name[40];
  float e[SCRUB_MAX][DIM];
  char hash[SCRUB_MAX][40];
  int n;
} scrub_person;

static void scrub_enrol(fr_gallery *g, scrub_person *p, const char *name, int n) {
  snprintf(p->name, sizeof p->name, "%s", name);
  p->n = n;
  fr_gallery_face f[SCRUB_MAX];
  for (int i = 0; i < n; i++) {
    /* Random float32 values, not unit vectors of a few patterns: every
     * 16-byte window of them is specific to this descriptor. */
    for (int d = 0; d < DIM; d++) p->e[i][d] = frand();
    snprintf(p->hash[i], sizeof p->hash[i], "%s-photo-%d", name, i);
    f[i] = (fr_gallery_face){p->e[i], p->hash[i], 0, {0, 0, 0, 0}};
  }
  fr_error err = {0};
  CHECK_OK(fr_gallery_enroll(g, name, "{\"note\":\"private\"}", f, n, NULL, &err), &err);
}

/*
 * Forgetting is final as soon as the call returns, with the handle still
 * open and without fr_gallery_vacuum: neither the database nor its log
 * holds a byte of the forgotten name or any 16-byte window of the deleted
 * descriptors. `crowd` other people are enrolled around the forgotten one
 * (interleaved, so that the b-tree pages are split and shared); the
 * control person's data must still be found, which shows the search works.
 */
static void scrub_case(int crowd, int per) {
  const char *path = tmp_path("scrub.db");
  char wal[256];
  snprintf(wal, sizeof wal, "%s-wal", path);
  remove_db(path);
  fr_error err = {0};
  fr_gallery *g = NULL;
  CHECK_OK(fr_gallery_open(path, MODEL, DIM, 0.6f, &g, &err), &err);
  if (!g) return;
  static scrub_person zeb, ctl, other;
  char name[40];
  for (int i = 0; i < crowd; i++) {
    snprintf(name, sizeof name, "crowd-before-%03d", i);
    scrub_enrol(g, &other, name, per);
  }
  scrub_enrol(g, &zeb, "Zebulon-Quixote", per);
  scrub_enrol(g, &ctl, "Mildred-Control", per);
  for (int i = 0; i < crowd; i++) {
    snprintf(name, sizeof name, "crowd-after-%03d", i);
    scrub_enrol(g, &other, name, per);
  }
  size_t zlen = strlen(zeb.name), clen = strlen(ctl.name);

  /* Positive control: before the delete everything is on disk. */
  blob db = read_all(path), lg = read_all(wal);
  CHECK(blob_has(&db, zeb.name, zlen) || blob_has(&lg, zeb.name, zlen));
  int before = 0;
  for (int i = 0; i < zeb.n; i++) before += windows_found(&db, &lg, zeb.e[i]);
  CHECK_MSG(before == zeb.n * (DIM * 4 - 15), "only %d windows found before the delete", before);
  free(db.data);
  free(lg.data);

  /* Remove one of the control's faces, then forget Zebulon. */
  int64_t gone = fr_gallery_face_id(g, ctl.hash[0], 0);
  CHECK(gone > 0);
  CHECK_OK(fr_gallery_remove_face(g, gone, &err), &err);
  int removed = 0;
  CHECK_OK(fr_gallery_forget(g, zeb.name, &removed, &err), &err);
  CHECK(removed == per);

  db = read_all(path);
  lg = read_all(wal);
  CHECK_MSG(!blob_has(&db, zeb.name, zlen) && !blob_has(&lg, zeb.name, zlen),
            "crowd %d: the forgotten name is still in the %s", crowd,
            blob_has(&db, zeb.name, zlen) ? "database" : "log");
  int leaked = 0;
  for (int i = 0; i < zeb.n; i++) leaked += windows_found(&db, &lg, zeb.e[i]);
  leaked += windows_found(&db, &lg, ctl.e[0]);
  CHECK_MSG(leaked == 0, "crowd %d: %d 16-byte windows of deleted descriptors remain", crowd,
            leaked);
  int hashes = 0;
  for (int i = 0; i < zeb.n; i++)
    hashes += blob_has(&db, zeb.hash[i], strlen(zeb.hash[i])) ||
              blob_has(&lg, zeb.hash[i], strlen(zeb.hash[i]));
  CHECK_MSG(hashes == 0, "crowd %d: %d image hashes of the forgotten person remain", crowd, hashes);
  /* The control person is all there, bar the one removed face. */
  CHECK(blob_has(&db, ctl.name, clen) || blob_has(&lg, ctl.name, clen));
  int kept = 0;
  for (int i = 1; i < ctl.n; i++) kept += windows_found(&db, &lg, ctl.e[i]);
  CHECK_MSG(kept == (ctl.n - 1) * (DIM * 4 - 15), "crowd %d: %d windows of kept descriptors",
            crowd, kept);
  free(db.data);
  free(lg.data);
  int n = 0;
  CHECK_OK(fr_gallery_count(g, &n, &err), &err);
  CHECK(n == (2 * crowd + 1) * per - 1);
  fr_gallery_close(g);
  remove_db(path);
}

/* Holds a read transaction on the file at `path` for a moment, to show that
 * a forget waits for a short reader before emptying the log. */
typedef struct reader_arg {
  const char *path;
  int fd; /* written to once the read transaction is open */
} reader_arg;

static void *reader_main(void *p) {
  reader_arg *a = p;
  sqlite3 *db = NULL;
  char one = 1;
  if (sqlite3_open_v2(a->path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
      sqlite3_exec(db, "BEGIN; SELECT COUNT(*) FROM faces;", NULL, NULL, NULL) == SQLITE_OK) {
    if (write(a->fd, &one, 1) != 1) one = 0;
    nanosleep(&(struct timespec){0, 300000000}, NULL);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  } else if (write(a->fd, &one, 1) != 1) {
    one = 0;
  }
  sqlite3_close(db);
  return NULL;
}

static void test_forget_scrubs(void) {
  scrub_case(0, 6);   /* two people, as a small gallery */
  scrub_case(40, 12); /* many pages, split while the rows went in */

  /* A second connection reading while the person is forgotten: the forget
   * succeeds, and once the reader is done the log is emptied all the same. */
  const char *path = tmp_path("scrub-reader.db");
  char wal[256];
  snprintf(wal, sizeof wal, "%s-wal", path);
  fr_error err = {0};
  fr_gallery *g = NULL;
  CHECK_OK(fr_gallery_open(path, MODEL, DIM, 0.6f, &g, &err), &err);
  if (!g) return;
  static scrub_person zeb, ctl;
  scrub_enrol(g, &zeb, "Zebulon-Quixote", 4);
  scrub_enrol(g, &ctl, "Mildred-Control", 4);
  int fds[2];
  CHECK(pipe(fds) == 0);
  reader_arg a = {path, fds[1]};
  pthread_t t;
  CHECK(pthread_create(&t, NULL, reader_main, &a) == 0);
  char c;
  CHECK(read(fds[0], &c, 1) == 1 && c == 1);
  CHECK_OK(fr_gallery_forget(g, zeb.name, NULL, &err), &err);
  pthread_join(t, NULL);
  close(fds[0]);
  close(fds[1]);
  blob db = read_all(path), lg = read_all(wal);
  int leaked = blob_has(&db, zeb.name, strlen(zeb.name)) || blob_has(&lg, zeb.name, strlen(zeb.name));
  for (int i = 0; i < zeb.n; i++) leaked += windows_found(&db, &lg, zeb.e[i]);
  CHECK_MSG(leaked == 0, "%d traces remain after a forget that met a reader", leaked);
  CHECK(blob_has(&db, ctl.name, strlen(ctl.name)) || blob_has(&lg, ctl.name, strlen(ctl.name)));
  free(db.data);
  free(lg.data);
  fr_gallery_close(g);
  remove_db(path);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/fr-gallery-XXXXXX");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_sha256();
  test_kernels();
  test_basics();
  test_migration();
  test_topk();
  test_qindex();
  test_large_search();
  test_cosine();
  test_limits();
  test_forget_vacuum();
  test_faces_api();
  test_file_modes();
  test_ids_not_reused();
  test_migration_v2();
  test_forget_scrubs();
  test_classifiers();
  test_two_handles();
  test_crash();
  test_photo();
  rmdir(dir);
  return check_summary();
}
