/*
 * test_regress.c - replays every input under tests/regress/<target>/ through
 * the fuzz target's own entry point (fuzz/fuzz.h), so that an input that once
 * crashed a parser, or broke one of its promises, is checked on every build,
 * the ASan+UBSan one included.
 *
 * A file's name may state the outcome it must have: "ok-..." must parse, and
 * "format-", "limit-", "model-" and "unsupported-" must fail with
 * FR_E_FORMAT, FR_E_LIMIT, FR_E_MODEL or FR_E_UNSUPPORTED. Other names (the
 * crash-<sha1> files libFuzzer writes) only have to come back with a clean
 * status and no broken promise. Every target's folder must hold at least one
 * input and every input must be of its target's format, so that a misplaced
 * or emptied folder fails rather than passing without testing anything.
 */
#define _GNU_SOURCE /* memfd_create, for the LFW entry point in fuzz.h */
#include "../fuzz/fuzz.h"

#include <dirent.h>
#include <sys/stat.h>

#include "check.h"

/* The status a file name promises, or 1 when it promises none. */
static fr_status expected_status(const char *name) {
  static const struct {
    const char *prefix;
    fr_status status;
  } rules[] = {{"ok-", FR_OK},
               {"format-", FR_E_FORMAT},
               {"limit-", FR_E_LIMIT},
               {"model-", FR_E_MODEL},
               {"unsupported-", FR_E_UNSUPPORTED}};
  for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
    if (strncmp(name, rules[i].prefix, strlen(rules[i].prefix)) == 0) return rules[i].status;
  return 1;
}

static uint8_t *read_whole(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  uint8_t *b = malloc(cap);
  size_t got;
  while (b && (got = fread(b + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      uint8_t *g = realloc(b, cap *= 2);
      if (!g) free(b);
      b = g;
    }
  }
  fclose(f);
  *size = n;
  return b;
}

static int replay_target(const char *root, fuzz_target t) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/%s", root, fuzz_target_names[t]);
  /* ONNX files are not committed: fuzz/mkonnx.py writes them, and tests/run.sh
   * names the folder. */
  if (t == FUZZ_ONNX) {
    const char *gen = getenv("FACEREC_REGRESS_ONNX");
    if (!gen || !*gen) {
      check_skip("FACEREC_REGRESS_ONNX is not set (tests/run.sh writes the inputs with fuzz/mkonnx.py)");
      return 0;
    }
    snprintf(dir, sizeof dir, "%s", gen);
  }
  /* In name order, so that every run reports the files the same way. */
  struct dirent **list = NULL;
  int n_list = scandir(dir, &list, NULL, alphasort);
  CHECK_MSG(n_list >= 0, "cannot open %s", dir);
  if (n_list < 0) return 0;
  int files = 0;
  for (int i = 0; i < n_list; i++) {
    const struct dirent *e = list[i];
    if (e->d_name[0] == '.' || strncmp(e->d_name, "README", 6) == 0) continue;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    size_t size = 0;
    uint8_t *data = read_whole(path, &size);
    CHECK_MSG(data != NULL, "cannot read %s", path);
    if (!data) continue;
    files++;
    fuzz_outcome o;
    fuzz_one(t, data, size, &o);
    CHECK_MSG(!o.rejected, "%s is not a %s input: it tests nothing here", path,
              fuzz_target_names[t]);
    CHECK_MSG(o.violation == NULL, "%s: %s (status %d: %s)", path, o.violation, o.status,
              o.message);
    printf("  %s/%s: %d %s\n", fuzz_target_names[t], e->d_name, o.status,
           o.status == FR_OK ? "ok" : o.message);
    fr_status want = expected_status(e->d_name);
    if (want != 1)
      CHECK_MSG(o.status == want, "%s: status %d (%s), the name promises %d", path, o.status,
                o.message, want);
    free(data);
  }
  for (int i = 0; i < n_list; i++) free(list[i]);
  free(list);
  CHECK_MSG(files > 0, "%s holds no regression input", dir);
  return files;
}

int main(void) {
  const char *root = getenv("FACEREC_REGRESS");
  if (!root || !*root) root = "tests/regress";
  int total = 0;
  for (int t = 0; t < FUZZ_TARGET_COUNT; t++) {
    int n = replay_target(root, (fuzz_target)t);
    printf("%s: %d inputs replayed\n", fuzz_target_names[t], n);
    total += n;
  }
  printf("%d regression inputs in %s\n", total, root);
  return check_summary();
}
