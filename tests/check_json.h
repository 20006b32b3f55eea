/*
 * check_json.h - reading the reference JSON files (peer outputs, face-api.js's
 * expected values) in tests. Include after check.h.
 */
#ifndef FR_TEST_CHECK_JSON_H
#define FR_TEST_CHECK_JSON_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

/* Reads and parses a JSON file; NULL if it cannot. The caller deletes it. */
static inline cJSON *read_json(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  if (n < 0) {
    fclose(f);
    return NULL;
  }
  char *buf = malloc((size_t)n + 1);
  size_t got = buf ? fread(buf, 1, (size_t)n, f) : 0;
  fclose(f);
  if (!buf) return NULL;
  buf[got] = 0;
  cJSON *j = cJSON_Parse(buf);
  free(buf);
  return j;
}

/* A number member of an object, or NaN when it is missing or not a number. */
static inline double json_num(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

#endif
