/*
 * cli_util.c - small helpers every command group of the facerec tool uses:
 * error exits and strict number parsing of option values.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

int cli_die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("facerec: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return 2;
}

int cli_parse_int(const char *s, int lo, int hi, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return 0;
  *out = (int)v;
  return 1;
}

int cli_parse_float(const char *s, float lo, float hi, float *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) return 0;
  *out = (float)v;
  return 1;
}

void cli_json_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') printf("\\%c", ch);
    else if (ch < 0x20) printf("\\u%04x", ch);
    else putchar(ch);
  }
  putchar('"');
}

int cli_parse_detector(const char *s, fr_detector_kind *out) {
  fr_detector_kind k = fr_detector_kind_from_name(s);
  if (!k) return 0;
  *out = k;
  return 1;
}

int cli_parse_detector_file(const char *s, fr_pipeline_options *po) {
  /* scrfd:PATH, a detector the user brings as a file. */
  if (strncmp(s, "scrfd:", 6) == 0 && s[6]) {
    po->detector = FR_DETECTOR_SCRFD;
    po->detector_file = s + 6;
    return 1;
  }
  if (!cli_parse_detector(s, &po->detector)) return 0;
  po->detector_file = NULL;
  return po->detector != FR_DETECTOR_SCRFD;
}

int cli_parse_embedder(const char *s, fr_embedder_kind *out) {
  fr_embedder_kind k = fr_embedder_kind_from_name(s);
  if (!k) return 0;
  *out = k;
  return 1;
}

int cli_parse_model(const char *s, fr_pipeline_options *po) {
  if (cli_parse_embedder(s, &po->embedder)) {
    po->model_file = NULL;
    return 1;
  }
  /* A user's model: a card or network file by path, or NAME with NAME.json
   * in the model folder. The string is static so that po may keep it. */
  static char found[3][4096];
  static int next;
  struct stat sb;
  if (stat(s, &sb) == 0 && S_ISREG(sb.st_mode)) {
    po->model_file = s;
    po->embedder = FR_EMBEDDER_CARD;
    return 1;
  }
  char card[300], dir[4096];
  if (strchr(s, '/') || snprintf(card, sizeof card, "%s.json", s) >= (int)sizeof card) return 0;
  if (fr_model_path(card, dir, sizeof dir, NULL) != FR_OK) return 0;
  char *slot = found[next++ % 3];
  if (snprintf(slot, sizeof found[0], "%s/%s", dir, card) >= (int)sizeof found[0]) return 0;
  po->model_file = slot;
  po->embedder = FR_EMBEDDER_CARD;
  return 1;
}

static const char *const k_align_names[] = {"upright", "similarity", "arcface", "facenet"};

int cli_parse_align(const char *s, fr_align_method *out) {
  for (int i = 0; i < 4; i++)
    if (strcmp(s, k_align_names[i]) == 0) {
      *out = (fr_align_method)(FR_ALIGN_UPRIGHT + i);
      return 1;
    }
  return 0;
}

const char *cli_align_name(fr_align_method m) {
  return m >= FR_ALIGN_UPRIGHT && m <= FR_ALIGN_FACENET ? k_align_names[m - FR_ALIGN_UPRIGHT] : "?";
}

/* Kinds are small consecutive numbers from 1; the tables say which exist. */
static void names(const char *(*name_of)(int), char *buf, size_t size) {
  size_t used = 0;
  buf[0] = '\0';
  for (int k = 1; k < 64; k++) {
    const char *n = name_of(k);
    if (!n) continue;
    int w = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", n);
    if (w < 0 || (size_t)w >= size - used) break;
    used += (size_t)w;
  }
}

static const char *detector_name(int k) { return fr_detector_kind_name((fr_detector_kind)k); }
static const char *embedder_name(int k) { return fr_embedder_kind_name((fr_embedder_kind)k); }
void cli_detector_names(char *buf, size_t size) { names(detector_name, buf, size); }
void cli_embedder_names(char *buf, size_t size) { names(embedder_name, buf, size); }
