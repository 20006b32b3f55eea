/*
 * mkseeds.c - writes the synthetic part of the fuzzers' seed corpora.
 *
 *   mkseeds OUTDIR MODELS_DIR
 *
 * fills OUTDIR/jpeg, png, pnm, tfjs and lfw (which must exist) with small
 * inputs that reach the code paths real photos rarely take: JPEGs in every
 * colour space the decoder handles (gray, YCbCr, CMYK with and without the
 * Adobe marker, YCCK), progressive, arithmetic-coded and with restart markers,
 * carrying EXIF orientations in both byte orders and malformed EXIF blocks;
 * PNGs of every colour type and bit depth, interlaced or not, with palettes,
 * transparency and text; netpbm files of every supported kind and maxval;
 * TF.js manifests with every storage type, cut down from the real models so
 * that a mutation of the JSON is not drowned in megabytes of weights; and
 * small LFW pairs files. fuzz/run.sh adds real files from ../shared/data.
 *
 * This is a build tool, not part of the library: it may print and exit.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <spng.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

static const char *out_dir;
static int n_written;

static void die(const char *what) {
  fprintf(stderr, "mkseeds: %s\n", what);
  exit(1);
}

/* Writes OUT/kind/name from up to two pieces (the TF.js seeds are two). */
static void put(const char *kind, const char *name, const void *a, size_t na, const void *b,
                size_t nb) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s/seed-%s", out_dir, kind, name);
  FILE *f = fopen(path, "wb");
  if (!f) die(path);
  if ((na && fwrite(a, 1, na, f) != na) || (nb && fwrite(b, 1, nb, f) != nb)) die(path);
  if (fclose(f) != 0) die(path);
  n_written++;
}

/* A deterministic pixel pattern with edges and gradients. */
static uint8_t pattern(int x, int y, int c) { return (uint8_t)((x * 37 + y * 11 + c * 85) ^ (x * y)); }

/* ---- JPEG -------------------------------------------------------------------- */

/* An APP1 Exif payload holding IFD0 with one Orientation entry. type 3 is
 * SHORT (the standard), 4 LONG (seen in the wild). */
static size_t exif_block(uint8_t *b, int orientation, int little, int type, int bad_offset) {
  memcpy(b, "Exif\0\0", 6);
  uint8_t *t = b + 6;
  size_t n = 0;
#define W16(v)                                                                    \
  do {                                                                            \
    unsigned v_ = (unsigned)(v);                                                  \
    t[n++] = (uint8_t)(little ? v_ : v_ >> 8);                                    \
    t[n++] = (uint8_t)(little ? v_ >> 8 : v_);                                    \
  } while (0)
#define W32(v)                                                                    \
  do {                                                                            \
    unsigned long v_ = (unsigned long)(v);                                        \
    for (int i_ = 0; i_ < 4; i_++) t[n++] = (uint8_t)(v_ >> (little ? 8 * i_ : 24 - 8 * i_)); \
  } while (0)
  t[n++] = little ? 'I' : 'M';
  t[n++] = little ? 'I' : 'M';
  W16(42);
  W32(bad_offset ? 0xFFFFFFF0u : 8u); /* IFD0 right after the header, or nowhere */
  W16(2);                             /* two entries: an unrelated one, then Orientation */
  W16(0x010F);                        /* Make, ASCII, pointing at nothing in particular */
  W16(2);
  W32(4);
  W32(0x00414243);
  W16(0x0112);
  W16(type);
  W32(1);
  if (type == 3) {
    W16(orientation);
    W16(0);
  } else {
    W32(orientation);
  }
  W32(0); /* no next IFD */
#undef W16
#undef W32
  return 6 + n;
}

typedef struct jpeg_seed {
  const char *name;
  int w, h;
  J_COLOR_SPACE in, out; /* what the pixels are, what the file stores */
  int progressive, arith, restart, quality, subsample;
  int exif; /* 0 none, else the orientation; negative: a malformed block */
  int exif_le, exif_type;
} jpeg_seed;

static void write_jpeg(const jpeg_seed *s) {
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr e;
  c.err = jpeg_std_error(&e);
  jpeg_create_compress(&c);
  unsigned char *buf = NULL;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buf, &size);
  int comps = s->in == JCS_GRAYSCALE ? 1 : s->in == JCS_CMYK ? 4 : 3;
  c.image_width = (JDIMENSION)s->w;
  c.image_height = (JDIMENSION)s->h;
  c.input_components = comps;
  c.in_color_space = s->in;
  jpeg_set_defaults(&c);
  if (s->out != s->in) jpeg_set_colorspace(&c, s->out);
  jpeg_set_quality(&c, s->quality, TRUE);
  if (s->progressive) jpeg_simple_progression(&c);
  if (s->arith) c.arith_code = TRUE;
  if (s->restart) c.restart_in_rows = s->restart;
  if (s->subsample && comps == 3) {
    c.comp_info[0].h_samp_factor = 2;
    c.comp_info[0].v_samp_factor = 2;
  }
  jpeg_start_compress(&c, TRUE);
  if (s->exif) {
    uint8_t app1[128];
    int orient = s->exif < 0 ? 6 : s->exif;
    size_t n = exif_block(app1, orient, s->exif_le, s->exif_type, s->exif < 0);
    jpeg_write_marker(&c, JPEG_APP0 + 1, app1, (unsigned)n);
  }
  JSAMPLE *row = malloc((size_t)s->w * (size_t)comps);
  if (!row) die("out of memory");
  while (c.next_scanline < c.image_height) {
    int y = (int)c.next_scanline;
    for (int x = 0; x < s->w; x++)
      for (int k = 0; k < comps; k++) row[x * comps + k] = pattern(x, y, k);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  char name[64];
  snprintf(name, sizeof name, "%s.jpg", s->name);
  put("jpeg", name, buf, size, NULL, 0);
  free(row);
  free(buf);
}

static void jpeg_seeds(void) {
  static const jpeg_seed seeds[] = {
      {"rgb-exif6-le", 16, 16, JCS_RGB, JCS_YCbCr, 0, 0, 0, 75, 0, 6, 1, 3},
      {"rgb-exif8-be", 17, 9, JCS_RGB, JCS_YCbCr, 0, 0, 0, 60, 1, 8, 0, 3},
      {"rgb-exif3-long", 12, 20, JCS_RGB, JCS_YCbCr, 0, 0, 0, 50, 0, 3, 1, 4},
      {"rgb-exif5", 9, 13, JCS_RGB, JCS_YCbCr, 0, 0, 0, 50, 0, 5, 0, 3},
      {"rgb-exif7", 13, 9, JCS_RGB, JCS_YCbCr, 0, 0, 0, 50, 0, 7, 1, 3},
      {"rgb-exif2", 8, 8, JCS_RGB, JCS_YCbCr, 0, 0, 0, 50, 0, 2, 1, 3},
      {"rgb-exif4", 8, 8, JCS_RGB, JCS_YCbCr, 0, 0, 0, 50, 0, 4, 0, 3},
      {"rgb-exif-broken", 8, 8, JCS_RGB, JCS_YCbCr, 0, 0, 0, 50, 0, -1, 1, 3},
      {"gray-progressive", 24, 8, JCS_GRAYSCALE, JCS_GRAYSCALE, 1, 0, 0, 80, 0, 0, 0, 0},
      {"rgb-progressive-420", 33, 17, JCS_RGB, JCS_YCbCr, 1, 0, 0, 70, 1, 6, 1, 3},
      {"rgb-arith", 16, 16, JCS_RGB, JCS_YCbCr, 0, 1, 0, 75, 0, 0, 0, 0},
      {"rgb-arith-progressive", 16, 16, JCS_RGB, JCS_YCbCr, 1, 1, 0, 75, 0, 0, 0, 0},
      {"rgb-restart", 32, 32, JCS_RGB, JCS_YCbCr, 0, 0, 1, 75, 1, 0, 0, 0},
      {"rgb-stored-rgb", 8, 8, JCS_RGB, JCS_RGB, 0, 0, 0, 90, 0, 0, 0, 0},
      {"cmyk", 8, 8, JCS_CMYK, JCS_CMYK, 0, 0, 0, 80, 0, 0, 0, 0},
      {"ycck", 8, 8, JCS_CMYK, JCS_YCCK, 0, 0, 0, 80, 0, 6, 1, 3},
      {"rgb-1x1", 1, 1, JCS_RGB, JCS_YCbCr, 0, 0, 0, 10, 0, 0, 0, 0},
  };
  for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) write_jpeg(&seeds[i]);
}

/* ---- PNG ---------------------------------------------------------------------- */

static void write_png(const char *name, int w, int h, int color, int depth, int interlace,
                      int with_text) {
  static const int channels[7] = {1, 0, 3, 1, 2, 0, 4};
  spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
  if (!ctx) die("spng_ctx_new");
  spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
  struct spng_ihdr ihdr = {(uint32_t)w, (uint32_t)h, (uint8_t)depth, (uint8_t)color, 0, 0,
                           (uint8_t)interlace};
  int rc = spng_set_ihdr(ctx, &ihdr);
  if (!rc && color == SPNG_COLOR_TYPE_INDEXED) {
    struct spng_plte plte = {0};
    plte.n_entries = 1u << (depth < 8 ? depth : 4);
    for (uint32_t i = 0; i < plte.n_entries; i++) {
      plte.entries[i].red = (uint8_t)(i * 40);
      plte.entries[i].green = (uint8_t)(255 - i * 20);
      plte.entries[i].blue = (uint8_t)(i * 7);
    }
    rc = spng_set_plte(ctx, &plte);
    struct spng_trns trns = {0};
    trns.n_type3_entries = 2;
    trns.type3_alpha[0] = 0;
    trns.type3_alpha[1] = 128;
    if (!rc) rc = spng_set_trns(ctx, &trns);
  }
  if (!rc && with_text) {
    struct spng_text text = {0};
    snprintf(text.keyword, sizeof text.keyword, "Comment");
    text.type = SPNG_TEXT;
    text.length = 5;
    text.text = "seed!";
    rc = spng_set_text(ctx, &text, 1);
  }
  size_t row = ((size_t)w * (size_t)channels[color] * (size_t)depth + 7) / 8;
  size_t len = row * (size_t)h;
  uint8_t *px = malloc(len);
  if (!px) die("out of memory");
  for (size_t i = 0; i < len; i++) px[i] = pattern((int)(i % row), (int)(i / row), 0);
  if (color == SPNG_COLOR_TYPE_INDEXED) /* keep indices inside the palette */
    for (size_t i = 0; i < len; i++) px[i] &= depth == 8 ? 0x0F : 0xFF;
  if (!rc) rc = spng_encode_image(ctx, px, len, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
  if (rc) {
    /* An encoder that cannot write this combination loses one seed, not the run. */
    fprintf(stderr, "mkseeds: skipping %s: %s\n", name, spng_strerror(rc));
    free(px);
    spng_ctx_free(ctx);
    return;
  }
  size_t png_size = 0;
  void *png = spng_get_png_buffer(ctx, &png_size, &rc);
  if (png) put("png", name, png, png_size, NULL, 0);
  free(png);
  free(px);
  spng_ctx_free(ctx);
}

static void png_seeds(void) {
  static const struct {
    int color, depth;
  } kinds[] = {{0, 1}, {0, 2}, {0, 4}, {0, 8}, {0, 16}, {2, 8}, {2, 16}, {3, 1},
               {3, 2}, {3, 4}, {3, 8}, {4, 8}, {4, 16}, {6, 8}, {6, 16}};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    for (int il = 0; il < 2; il++) {
      char name[64];
      snprintf(name, sizeof name, "c%d-d%d%s.png", kinds[i].color, kinds[i].depth,
               il ? "-adam7" : "");
      write_png(name, 11 + (int)i % 3, 7 + il * 3, kinds[i].color, kinds[i].depth, il, i % 4 == 0);
    }
  }
  write_png("rgb-1x1.png", 1, 1, 2, 8, 0, 0);
}

/* ---- PNM ---------------------------------------------------------------------- */

static void pnm_seeds(void) {
  char buf[4096];
  int n;
  /* ASCII, with comments where the format allows them. */
  n = snprintf(buf, sizeof buf, "P2\n# a comment\n4 3 # trailing\n15\n");
  for (int i = 0; i < 12; i++) n += snprintf(buf + n, sizeof buf - (size_t)n, "%d%c", i, i % 4 == 3 ? '\n' : ' ');
  put("pnm", "p2-maxval15.pgm", buf, (size_t)n, NULL, 0);
  n = snprintf(buf, sizeof buf, "P3 2 2 255\n255 0 0  0 255 0\n0 0 255  128 128 128\n");
  put("pnm", "p3.ppm", buf, (size_t)n, NULL, 0);
  n = snprintf(buf, sizeof buf, "P3\r\n1 1\r\n65535\r\n65535 0 32768\r\n");
  put("pnm", "p3-16bit-crlf.ppm", buf, (size_t)n, NULL, 0);
  /* Binary, 8 and 16 bits, and the smallest maxval. */
  n = snprintf(buf, sizeof buf, "P5\n5 4\n255\n");
  for (int i = 0; i < 20; i++) buf[n++] = (char)pattern(i, i / 5, 0);
  put("pnm", "p5.pgm", buf, (size_t)n, NULL, 0);
  n = snprintf(buf, sizeof buf, "P5 3 2 65535\n");
  for (int i = 0; i < 6; i++) {
    buf[n++] = (char)(i * 40);
    buf[n++] = (char)pattern(i, 0, 0);
  }
  put("pnm", "p5-16bit.pgm", buf, (size_t)n, NULL, 0);
  n = snprintf(buf, sizeof buf, "P5\n#c\n3 3\n1\n");
  for (int i = 0; i < 9; i++) buf[n++] = (char)(i & 1);
  put("pnm", "p5-maxval1.pgm", buf, (size_t)n, NULL, 0);
  n = snprintf(buf, sizeof buf, "P6\n4 2\n255\n");
  for (int i = 0; i < 24; i++) buf[n++] = (char)pattern(i, 1, i % 3);
  put("pnm", "p6.ppm", buf, (size_t)n, NULL, 0);
  n = snprintf(buf, sizeof buf, "P6\n2 2\n1000\n");
  for (int i = 0; i < 12; i++) {
    buf[n++] = (char)((i * 83) >> 8 & 3);
    buf[n++] = (char)(i * 83);
  }
  put("pnm", "p6-maxval1000.ppm", buf, (size_t)n, NULL, 0);
}

/* ---- TF.js -------------------------------------------------------------------- */

/* Bytes one weight takes in the shard, from its dtype and quantization. */
static size_t weight_bytes(const cJSON *w) {
  size_t count = 1;
  const cJSON *d;
  cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(w, "shape")) count *= (size_t)d->valuedouble;
  const cJSON *q = cJSON_GetObjectItemCaseSensitive(w, "quantization");
  const char *qdt = q ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(q, "dtype")) : NULL;
  size_t esize = !qdt ? 4 : strcmp(qdt, "uint8") == 0 ? 1 : 2;
  return count * esize;
}

static uint8_t *read_all(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  *size = b ? (size_t)n : 0;
  return b;
}

/* Writes a manifest (followed by its NUL separator) and its shard bytes. */
static void put_tfjs(const char *name, const cJSON *manifest, const uint8_t *bin, size_t bin_len) {
  char *json = cJSON_PrintUnformatted(manifest);
  if (!json) die("cJSON_PrintUnformatted");
  put("tfjs", name, json, strlen(json) + 1, bin, bin_len);
  free(json);
}

/*
 * For a real model: the whole thing when it is small, the manifest alone, and
 * cut-down copies
 * holding its first 1, 3 and 8 weights (with exactly the shard bytes they
 * need), which keep the real names, shapes and quantization parameters.
 */
static void tfjs_model_seeds(const char *models, const char *manifest_name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", models, manifest_name);
  size_t jn = 0, bn = 0;
  uint8_t *json = read_all(path, &jn);
  if (!json) die(path);
  cJSON *root = cJSON_ParseWithLength((const char *)json, jn);
  free(json);
  if (!root) die(path);
  const cJSON *group = cJSON_GetArrayItem(root, 0);
  const char *shard =
      cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(group, "paths"), 0));
  if (!shard) die(path);
  snprintf(path, sizeof path, "%s/%s", models, shard);
  uint8_t *bin = read_all(path, &bn);
  if (!bin) die(path);
  char name[300];
  size_t base = strlen(manifest_name) - strlen("-weights_manifest.json");
  if (jn + bn <= 64 * 1024 && cJSON_GetArraySize(root) == 1) {
    snprintf(name, sizeof name, "%.*s-full", (int)base, manifest_name);
    put_tfjs(name, root, bin, bn);
  }
  /* The whole manifest without its weights: every tensor is parsed and
   * checked, and the load then fails on the first one that does not fit. */
  snprintf(name, sizeof name, "%.*s-manifest", (int)base, manifest_name);
  put_tfjs(name, root, NULL, 0);
  static const int keep[3] = {1, 3, 8};
  for (int k = 0; k < 3; k++) {
    cJSON *small = cJSON_CreateArray();
    cJSON *g = cJSON_CreateObject();
    cJSON_AddItemToArray(small, g);
    cJSON_AddItemToObject(g, "paths", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(group, "paths"), 1));
    cJSON *ws = cJSON_AddArrayToObject(g, "weights");
    size_t need = 0;
    int i = 0;
    const cJSON *w;
    cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(group, "weights")) {
      if (i++ == keep[k]) break;
      need += weight_bytes(w);
      cJSON_AddItemToArray(ws, cJSON_Duplicate(w, 1));
    }
    if (need <= bn && need <= 64 * 1024) {
      snprintf(name, sizeof name, "%.*s-first%d", (int)base, manifest_name, keep[k]);
      put_tfjs(name, small, bin, need);
    }
    cJSON_Delete(small);
  }
  free(bin);
  cJSON_Delete(root);
}

/* Hand-written manifests for the storage types the real models do not use. */
static void tfjs_synthetic_seeds(void) {
  static const struct {
    const char *name, *json;
    size_t bin_len;
  } s[] = {
      {"float32", "[{\"paths\":[\"a.bin\"],\"weights\":[{\"name\":\"w\",\"shape\":[2,2],"
                  "\"dtype\":\"float32\"}]}]", 16},
      {"int32", "[{\"paths\":[\"a.bin\"],\"weights\":[{\"name\":\"i\",\"shape\":[3],"
                "\"dtype\":\"int32\"}]}]", 12},
      {"uint8", "[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"q\",\"shape\":[4],\"dtype\":"
                "\"float32\",\"quantization\":{\"dtype\":\"uint8\",\"scale\":0.5,\"min\":-1}}]}]", 4},
      {"uint16-int32", "[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"q\",\"shape\":[2,1],"
                       "\"dtype\":\"int32\",\"quantization\":{\"dtype\":\"uint16\",\"scale\":"
                       "1e-3,\"min\":-2.5}}]}]", 4},
      {"float16", "[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"h\",\"shape\":[3],\"dtype\":"
                  "\"float32\",\"quantization\":{\"dtype\":\"float16\"}}]}]", 6},
      {"empty-and-scalar", "[{\"paths\":[\"a\"],\"weights\":[{\"name\":\"e\",\"shape\":[0,5],"
                           "\"dtype\":\"float32\"},{\"name\":\"s\",\"shape\":[],\"dtype\":"
                           "\"float32\"}]}]", 4},
      {"two-groups", "[{\"paths\":[\"a\",\"b\"],\"weights\":[{\"name\":\"x\",\"shape\":[2],"
                     "\"dtype\":\"float32\"}]},{\"paths\":[\"c\"],\"weights\":[{\"name\":\"y\","
                     "\"shape\":[1,1,1,2],\"dtype\":\"float32\",\"quantization\":{\"dtype\":"
                     "\"uint8\",\"scale\":2,\"min\":0}}]}]", 10},
  };
  uint8_t bin[64];
  for (size_t i = 0; i < sizeof bin; i++) bin[i] = (uint8_t)(i * 29 + 3);
  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
    put("tfjs", s[i].name, s[i].json, strlen(s[i].json) + 1, bin, s[i].bin_len);
}

static void tfjs_seeds(const char *models) {
  DIR *d = opendir(models);
  if (!d) die(models);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t n = strlen(e->d_name);
    const char *suffix = "-weights_manifest.json";
    if (n > strlen(suffix) && strcmp(e->d_name + n - strlen(suffix), suffix) == 0)
      tfjs_model_seeds(models, e->d_name);
  }
  closedir(d);
  tfjs_synthetic_seeds();
}

/* ---- LFW -------------------------------------------------------------------------- */

static void lfw_seeds(void) {
  static const struct {
    const char *name, *text;
  } s[] = {
      {"one-fold.txt", "1\t1\nAlice_A\t1\t2\nAlice_A\t1\tBob_B\t3\n"},
      {"two-folds.txt", "2 2\nA 1 2\nB 3 4\nA 1 C 1\nD 2 B 3\nE 1 12\nF 2 3\nE 1 F 2\nG 5 H 9\n\n\n"},
      {"crlf.txt", "1 1\r\nJo 0001 0002\r\nJo 1 Al 99999\r\n"},
      {"spaces.txt", "1   1  \n  X 1 2 \n X 3   Y 4\t\n"},
  };
  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
    put("lfw", s[i].name, s[i].text, strlen(s[i].text), NULL, 0);
}

int main(int argc, char **argv) {
  if (argc != 3) die("usage: mkseeds OUTDIR MODELS_DIR");
  out_dir = argv[1];
  jpeg_seeds();
  png_seeds();
  pnm_seeds();
  tfjs_seeds(argv[2]);
  lfw_seeds();
  printf("mkseeds: %d synthetic seeds written under %s\n", n_written, out_dir);
  return 0;
}
