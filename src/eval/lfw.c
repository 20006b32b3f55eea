/*
 * lfw.c - the LFW View 2 pairs file (pairs.txt).
 *
 * The file is small (6001 lines for the real benchmark) but it comes from
 * outside, so the parser is strict: every line must have exactly the shape
 * the header promises, and every error names the line it found. Images are
 * deduplicated with an open-addressing hash table on the final path, so a
 * pair refers to an index in a list where each image appears once, in the
 * order the file first mentions it.
 */
#include "eval/eval.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The real pairs.txt is about 120 KB; 64 MiB leaves room for any plausible
 * custom protocol while refusing to slurp an arbitrary huge file. */
#define LFW_MAX_FILE ((size_t)64 << 20)
/* LFW names are at most a few dozen bytes; 255 is the usual file-name limit,
 * and a name is used as a directory and a file-name prefix. */
#define LFW_MAX_NAME 255
/* LFW image numbers are four digits; five leaves room without allowing
 * absurd values. */
#define LFW_MAX_INDEX 99999
/* A bound on folds * pairs-per-class, so a hostile header cannot make the
 * parser reserve unbounded memory before any pair line has been read. */
#define LFW_MAX_FOLD_PAIRS 1000000L
/* A pair line has at most four fields; one more is counted to detect excess. */
#define LFW_MAX_FIELDS 5

/* One whitespace-separated field of a line (not NUL-terminated). */
typedef struct lfw_field {
  const char *s;
  size_t n;
} lfw_field;

/* The parser's growing state: the result under construction plus the
 * dedup table and a scratch buffer to build paths in. */
typedef struct lfw_builder {
  fr__lfw *lfw;
  int cap_images;
  int *table; /* image index + 1, 0 for an empty slot */
  size_t table_cap;
  char *scratch;
  size_t scratch_cap;
  const char *root;
  size_t root_len;
  int root_slash; /* 1 if a '/' must be inserted after root */
} lfw_builder;

void fr__lfw_destroy(fr__lfw *lfw) {
  if (!lfw) return;
  if (lfw->paths) {
    for (int i = 0; i < lfw->n_images; i++) fr__free(lfw->paths[i]);
    fr__free(lfw->paths);
  }
  fr__free(lfw->pairs);
  fr__free(lfw);
}

/* Splits [s, s+n) on runs of spaces and tabs. Returns the number of fields
 * found, at most LFW_MAX_FIELDS (a return of LFW_MAX_FIELDS means "too many"). */
static int split_fields(const char *s, size_t n, lfw_field *f) {
  int k = 0;
  size_t i = 0;
  while (i < n) {
    while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
    if (i >= n) break;
    size_t start = i;
    while (i < n && s[i] != ' ' && s[i] != '\t') i++;
    if (k == LFW_MAX_FIELDS) return k;
    f[k].s = s + start;
    f[k].n = i - start;
    k++;
  }
  return k;
}

/* Parses a positive decimal number no larger than max; digits only, so
 * signs, hex and trailing junk are all rejected. Returns 1 on success. */
static int parse_count(const lfw_field *f, long max, long *out) {
  if (f->n == 0) return 0;
  long v = 0;
  for (size_t i = 0; i < f->n; i++) {
    char c = f->s[i];
    if (c < '0' || c > '9') return 0;
    v = v * 10 + (c - '0');
    /* Checking inside the loop keeps v far from overflow for any length. */
    if (v > max) return 0;
  }
  if (v < 1) return 0;
  *out = v;
  return 1;
}

/* A name becomes a directory and a file-name prefix, so it must not be able
 * to escape root: no slashes, no "." or "..", no control characters. */
static const char *check_name(const lfw_field *f) {
  if (f->n > LFW_MAX_NAME) return "is longer than 255 bytes";
  if ((f->n == 1 && f->s[0] == '.') || (f->n == 2 && f->s[0] == '.' && f->s[1] == '.'))
    return "is a relative directory";
  for (size_t i = 0; i < f->n; i++) {
    unsigned char c = (unsigned char)f->s[i];
    if (c == '/' || c == '\\') return "contains a path separator";
    if (c < 0x20 || c == 0x7f) return "contains a control character";
  }
  return NULL;
}

/* FNV-1a: short keys, no adversarial concern beyond a slow lookup. */
static uint64_t hash_bytes(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ULL;
  }
  return h;
}

/* Doubles the dedup table and reinserts every image. */
static fr_status table_grow(lfw_builder *b, fr_error *err) {
  size_t cap = b->table_cap ? b->table_cap * 2 : 1024;
  int *t = fr__calloc(cap, sizeof *t);
  if (!t) return fr__fail(err, FR_E_NOMEM, "out of memory for the LFW image table");
  for (int i = 0; i < b->lfw->n_images; i++) {
    const char *p = b->lfw->paths[i];
    size_t h = (size_t)hash_bytes(p, strlen(p)) & (cap - 1);
    while (t[h]) h = (h + 1) & (cap - 1);
    t[h] = i + 1;
  }
  fr__free(b->table);
  b->table = t;
  b->table_cap = cap;
  return FR_OK;
}

/* Returns in *index the image root/name/name_%04d.jpg, adding it if new. */
static fr_status intern_image(lfw_builder *b, const lfw_field *name, long number, int *index,
                              fr_error *err) {
  /* root + '/' + name + '/' + name + '_' + up to 5 digits + ".jpg" + NUL. */
  size_t need = b->root_len + 2 * name->n + 16;
  if (need > b->scratch_cap) {
    char *s = fr__realloc(b->scratch, need);
    if (!s) return fr__fail(err, FR_E_NOMEM, "out of memory for an LFW path");
    b->scratch = s;
    b->scratch_cap = need;
  }
  int len = snprintf(b->scratch, b->scratch_cap, "%s%s%.*s/%.*s_%04ld.jpg", b->root,
                     b->root_slash ? "/" : "", (int)name->n, name->s, (int)name->n, name->s,
                     number);
  if (len < 0 || (size_t)len >= b->scratch_cap)
    return fr__fail(err, FR_E_INTERNAL, "LFW path buffer too small");

  /* Keeping the load factor at most 1/2 keeps probe sequences short. */
  if ((size_t)b->lfw->n_images + 1 > b->table_cap / 2) {
    fr_status st = table_grow(b, err);
    if (st != FR_OK) return st;
  }
  size_t h = (size_t)hash_bytes(b->scratch, (size_t)len) & (b->table_cap - 1);
  while (b->table[h]) {
    int i = b->table[h] - 1;
    if (strcmp(b->lfw->paths[i], b->scratch) == 0) {
      *index = i;
      return FR_OK;
    }
    h = (h + 1) & (b->table_cap - 1);
  }

  if (b->lfw->n_images == b->cap_images) {
    if (b->cap_images > INT_MAX / 2)
      return fr__fail(err, FR_E_LIMIT, "too many distinct LFW images");
    int cap = b->cap_images ? b->cap_images * 2 : 256;
    char **p = fr__realloc(b->lfw->paths, (size_t)cap * sizeof *p);
    if (!p) return fr__fail(err, FR_E_NOMEM, "out of memory for the LFW image list");
    b->lfw->paths = p;
    b->cap_images = cap;
  }
  char *copy = fr__malloc((size_t)len + 1);
  if (!copy) return fr__fail(err, FR_E_NOMEM, "out of memory for an LFW path");
  memcpy(copy, b->scratch, (size_t)len + 1);
  int i = b->lfw->n_images++;
  b->lfw->paths[i] = copy;
  b->table[h] = i + 1;
  *index = i;
  return FR_OK;
}

/* Validates one (name, number) field couple and interns its image. */
static fr_status take_image(lfw_builder *b, const lfw_field *name, const lfw_field *num,
                            long line, const char *path, int *index, fr_error *err) {
  const char *why = check_name(name);
  if (why)
    return fr__fail(err, FR_E_FORMAT, "line %ld of %s: the name %s", line, path, why);
  long number;
  if (!parse_count(num, LFW_MAX_INDEX, &number))
    return fr__fail(err, FR_E_FORMAT,
                    "line %ld of %s: the image number '%.*s' is not an integer in 1..%d", line,
                    path, (int)(num->n > 16 ? 16 : num->n), num->s, LFW_MAX_INDEX);
  return intern_image(b, name, number, index, err);
}

/* Returns the next line of the buffer in [*line, *line + *len) with its
 * terminator, any '\r' before it and trailing blanks removed, or 0 at the
 * end of the buffer. */
static int next_line(const char *buf, size_t size, size_t *pos, const char **line,
                     size_t *len) {
  if (*pos >= size) return 0;
  const char *s = buf + *pos;
  const char *nl = memchr(s, '\n', size - *pos);
  size_t n = nl ? (size_t)(nl - s) : size - *pos;
  *pos += n + (nl ? 1 : 0);
  while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
  *line = s;
  *len = n;
  return 1;
}

static fr_status parse(const char *buf, size_t size, const char *path, lfw_builder *b,
                       fr_error *err) {
  /* A NUL byte would silently truncate names in messages and paths; such a
   * file is not text. */
  const char *nul = memchr(buf, '\0', size);
  if (nul) {
    long line = 1;
    for (const char *p = buf; p < nul; p++) line += *p == '\n';
    return fr__fail(err, FR_E_FORMAT, "line %ld of %s: NUL byte in a text file", line, path);
  }

  size_t pos = 0;
  const char *s;
  size_t n;
  lfw_field f[LFW_MAX_FIELDS];
  if (!next_line(buf, size, &pos, &s, &n) || split_fields(s, n, f) == 0)
    return fr__fail(err, FR_E_FORMAT, "line 1 of %s: missing the header \"FOLDS PAIRS\"", path);
  long folds, per;
  if (split_fields(s, n, f) != 2 || !parse_count(&f[0], LFW_MAX_FOLD_PAIRS, &folds) ||
      !parse_count(&f[1], LFW_MAX_FOLD_PAIRS, &per))
    return fr__fail(err, FR_E_FORMAT,
                    "line 1 of %s: the header must be two positive integers \"FOLDS PAIRS\"",
                    path);
  /* Dividing instead of multiplying keeps the check free of overflow. */
  if (folds > LFW_MAX_FOLD_PAIRS / per)
    return fr__fail(err, FR_E_LIMIT,
                    "line 1 of %s: %ld folds of %ld pairs is more than the limit of %ld", path,
                    folds, per, LFW_MAX_FOLD_PAIRS);

  /* Each fold holds `per` same-person and `per` different-person pairs. */
  long total = 2 * folds * per;
  b->lfw->pairs = fr__malloc((size_t)total * sizeof *b->lfw->pairs);
  if (!b->lfw->pairs) return fr__fail(err, FR_E_NOMEM, "out of memory for %ld LFW pairs", total);
  b->lfw->n_folds = (int)folds;

  long line = 1;
  for (long k = 0; k < total; k++) {
    long fold = k / (2 * per);
    int same = k % (2 * per) < per;
    if (!next_line(buf, size, &pos, &s, &n))
      return fr__fail(err, FR_E_FORMAT,
                      "line %ld of %s: the file ends after %ld of the %ld pairs the header "
                      "promises",
                      line + 1, path, k, total);
    line++;
    int nf = split_fields(s, n, f);
    int a, bb;
    fr_status st;
    if (same) {
      if (nf != 3)
        return fr__fail(err, FR_E_FORMAT,
                        "line %ld of %s: expected \"name i j\" (same-person pair %ld of fold "
                        "%ld), found %s%d fields",
                        line, path, k % (2 * per) + 1, fold + 1,
                        nf == LFW_MAX_FIELDS ? "at least " : "", nf);
      if ((st = take_image(b, &f[0], &f[1], line, path, &a, err)) != FR_OK) return st;
      if ((st = take_image(b, &f[0], &f[2], line, path, &bb, err)) != FR_OK) return st;
    } else {
      if (nf != 4)
        return fr__fail(err, FR_E_FORMAT,
                        "line %ld of %s: expected \"name1 i name2 j\" (different-person pair "
                        "%ld of fold %ld), found %s%d fields",
                        line, path, k % (2 * per) - per + 1, fold + 1,
                        nf == LFW_MAX_FIELDS ? "at least " : "", nf);
      if ((st = take_image(b, &f[0], &f[1], line, path, &a, err)) != FR_OK) return st;
      if ((st = take_image(b, &f[2], &f[3], line, path, &bb, err)) != FR_OK) return st;
    }
    fr__pair *p = &b->lfw->pairs[k];
    p->a = a;
    p->b = bb;
    p->same = same;
    p->fold = (int)fold;
    b->lfw->n_pairs = (int)(k + 1);
  }

  /* Blank lines after the last pair are harmless (editors add them); any
   * other content means the header and the body disagree. */
  while (next_line(buf, size, &pos, &s, &n)) {
    line++;
    if (split_fields(s, n, f) != 0)
      return fr__fail(err, FR_E_FORMAT,
                      "line %ld of %s: extra content after the %ld pairs the header promises",
                      line, path, total);
  }
  return FR_OK;
}

fr_status fr__lfw_load(const char *pairs_path, const char *root, fr__lfw **out, fr_error *err) {
  if (!out) return fr__fail(err, FR_E_INVALID, "fr__lfw_load: out is NULL");
  *out = NULL;
  if (!pairs_path) return fr__fail(err, FR_E_INVALID, "fr__lfw_load: pairs_path is NULL");
  if (!root) root = "";

  uint8_t *data;
  size_t size;
  fr_status st = fr__read_file(pairs_path, LFW_MAX_FILE, &data, &size, err);
  if (st != FR_OK) return st;

  lfw_builder b;
  memset(&b, 0, sizeof b);
  b.lfw = fr__calloc(1, sizeof *b.lfw);
  if (!b.lfw) {
    fr__free(data);
    return fr__fail(err, FR_E_NOMEM, "out of memory loading %s", pairs_path);
  }
  b.root = root;
  b.root_len = strlen(root);
  /* An empty root gives paths relative to the working directory. */
  b.root_slash = b.root_len > 0 && root[b.root_len - 1] != '/';

  st = parse((const char *)data, size, pairs_path, &b, err);
  fr__free(data);
  fr__free(b.table);
  fr__free(b.scratch);
  if (st != FR_OK) {
    fr__lfw_destroy(b.lfw);
    return st;
  }
  *out = b.lfw;
  return FR_OK;
}
