/* util.c - file reading, paths, time. */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

fr_status fr__read_file(const char *path, size_t max_size, uint8_t **data, size_t *size,
                        fr_error *err) {
  *data = NULL;
  *size = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return fr__fail(err, FR_E_IO, "cannot open %s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    fclose(f);
    return fr__fail(err, FR_E_IO, "%s is not a regular file", path);
  }
  if ((uint64_t)st.st_size > (uint64_t)max_size) {
    fclose(f);
    return fr__fail(err, FR_E_LIMIT, "%s is %lld bytes, more than the limit of %zu", path,
                    (long long)st.st_size, max_size);
  }
  size_t n = (size_t)st.st_size;
  uint8_t *buf = fr__malloc(n ? n : 1);
  if (!buf) {
    fclose(f);
    return fr__fail(err, FR_E_NOMEM, "out of memory reading %s", path);
  }
  size_t got = n ? fread(buf, 1, n, f) : 0;
  int rerr = ferror(f);
  fclose(f);
  if (got != n || rerr) {
    fr__free(buf);
    return fr__fail(err, FR_E_IO, "cannot read %s", path);
  }
  *data = buf;
  *size = n;
  return FR_OK;
}

fr_status fr__path_join(char *buf, size_t bufsize, const char *dir, const char *file,
                        fr_error *err) {
  int n;
  if (!dir || !*dir)
    n = snprintf(buf, bufsize, "%s", file);
  else
    n = snprintf(buf, bufsize, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", file);
  if (n < 0 || (size_t)n >= bufsize)
    return fr__fail(err, FR_E_INVALID, "path too long: %s/%s", dir ? dir : "", file);
  return FR_OK;
}

static int has_file(const char *dir, const char *file) {
  char path[4096];
  struct stat sb;
  return dir && fr__path_join(path, sizeof path, dir, file, NULL) == FR_OK && stat(path, &sb) == 0;
}

fr_status fr__model_dir(const char *file, const char *title, const char *model_dir,
                        const char *fallback, char *dir, size_t size, fr_error *err) {
  if (!model_dir) {
    fr_status st = fr_model_path(file, dir, size, err);
    if (st == FR_OK || !has_file(fallback, file)) return st;
    if (err) {
      err->status = FR_OK;
      err->message[0] = '\0';
    }
    model_dir = fallback;
  } else if (!has_file(model_dir, file)) {
    if (!has_file(fallback, file)) {
      char path[4096];
      fr_status st = fr__path_join(path, sizeof path, model_dir, file, err);
      if (st != FR_OK) return st;
      return fr__fail(err, FR_E_NOTFOUND,
                      "%s model not found: %s (wrong model folder? 'make models' fetches them)",
                      title, path);
    }
    model_dir = fallback;
  }
  int n = snprintf(dir, size, "%s", model_dir);
  if (n < 0 || (size_t)n >= size) return fr__fail(err, FR_E_INVALID, "path too long: %s", model_dir);
  return FR_OK;
}

double fr__now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#ifndef FR_SHARE_DIR
#define FR_SHARE_DIR "/usr/local/share/facerec/models"
#endif

fr_status fr_model_path(const char *file, char *buf, size_t bufsize, fr_error *err) {
  if (!file || !buf || bufsize == 0) return fr__fail(err, FR_E_INVALID, "fr_model_path: NULL argument");
  const char *env = getenv("FACEREC_MODELS");
  const char *dirs[3] = {env, "models", FR_SHARE_DIR};
  for (int i = 0; i < 3; i++) {
    if (!dirs[i] || !*dirs[i]) continue;
    char p[4096];
    if (fr__path_join(p, sizeof p, dirs[i], file, NULL) != FR_OK) continue;
    struct stat st;
    if (stat(p, &st) == 0) {
      int n = snprintf(buf, bufsize, "%s", dirs[i]);
      if (n < 0 || (size_t)n >= bufsize) return fr__fail(err, FR_E_INVALID, "model path too long");
      return FR_OK;
    }
  }
  return fr__fail(err, FR_E_NOTFOUND,
                  "model file %s not found in $FACEREC_MODELS, ./models or %s (run 'make models')",
                  file, FR_SHARE_DIR);
}

float fr__half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {
    /* A subnormal half is mant * 2^-24; shift until the implicit bit appears. */
    uint32_t e = 113;
    while (!(mant & 0x400u)) {
      mant <<= 1;
      e--;
    }
    bits = sign | (e << 23) | ((mant & 0x3FFu) << 13);
  }
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

uint64_t fr__fnv1a64(const void *data, size_t n) {
  const uint8_t *p = data;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}
