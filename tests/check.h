/*
 * check.h - the tiny test harness every tests/test_*.c uses.
 * Each program runs its checks, prints failures with file:line, and ends with
 * the line "N passed, N failed" (the summary line CI reads); its exit status is
 * non-zero when anything failed.
 */
#ifndef FR_TEST_CHECK_H
#define FR_TEST_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_passed_, check_failed_;

#define CHECK_MSG(cond, ...)                                                  \
  do {                                                                        \
    if (cond) {                                                               \
      check_passed_++;                                                        \
    } else {                                                                  \
      check_failed_++;                                                        \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);         \
      fprintf(stderr, __VA_ARGS__);                                           \
      fputc('\n', stderr);                                                    \
    }                                                                         \
  } while (0)

#define CHECK(cond) CHECK_MSG(cond, "%s", "")

/* Checks an fr_status call and prints the error message on failure. */
#define CHECK_OK(call, errp)                                                  \
  do {                                                                        \
    fr_status st_ = (call);                                                   \
    CHECK_MSG(st_ == FR_OK, "status %d: %s", st_, (errp)->message);           \
  } while (0)

/* The shared data folder: $FACEREC_DATA or ../shared/data. */
static inline const char *check_data_dir(void) {
  const char *d = getenv("FACEREC_DATA");
  return d && *d ? d : "../shared/data";
}

/* Joins the data folder and a relative path into a buffer ring. The ring is
 * per thread: tests call this from several threads at once (test_pipeline),
 * and a shared ring would be a data race that ThreadSanitizer reports. */
static inline const char *check_data(const char *rel) {
  static _Thread_local char bufs[8][1024];
  static _Thread_local int k;
  char *b = bufs[k++ & 7];
  snprintf(b, 1024, "%s/%s", check_data_dir(), rel);
  return b;
}

/* The models folder: $FACEREC_MODELS or ./models. */
static inline const char *check_models_dir(void) {
  const char *d = getenv("FACEREC_MODELS");
  return d && *d ? d : "models";
}

/*
 * Checks that could not run. A test that cannot test something says so
 * instead of passing quietly: check_skip() when what is missing should be
 * there (models, data: `make test` fetches them), check_skip_expected() when
 * this machine simply lacks it (a CPU without AVX2). Both are printed and
 * counted in the summary line; under `make test` (FACEREC_STRICT=1, set by
 * tests/run.sh) an unexpected skip is also a failure.
 */
static int check_skipped_;

static inline void check_skip_(int expected, const char *file, int line, const char *what) {
  check_skipped_++;
  int strict = !expected && getenv("FACEREC_STRICT") && strcmp(getenv("FACEREC_STRICT"), "1") == 0;
  if (strict) check_failed_++;
  fprintf(stderr, "%s %s:%d: %s\n", strict ? "FAIL (skipped)" : "SKIP", file, line, what);
}
#define check_skip(what) check_skip_(0, __FILE__, __LINE__, what)
#define check_skip_expected(what) check_skip_(1, __FILE__, __LINE__, what)

static inline int check_summary(void) {
  if (check_skipped_) printf("%d passed, %d failed, %d skipped\n", check_passed_, check_failed_, check_skipped_);
  else printf("%d passed, %d failed\n", check_passed_, check_failed_);
  return check_failed_ ? 1 : 0;
}

#endif
