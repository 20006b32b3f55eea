/*
 * cmd_gallery.c - the recognition commands of the facerec tool: enroll,
 * forget, people, identify, recognize (a drop-in for face_recognition's CLI)
 * and eval lowshot. A thin layer over the gallery API in facerec.h: parsing,
 * file walking, printing and the evaluation protocol live here; matching,
 * storage and face finding live in the library.
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "facerec.h"

#define MAX_FACES 64
#define MAX_SHOTS 16

const char fr_cli_gallery_usage[] =
    "  enroll --db G.db NAME IMAGE...  add a person's photos to a gallery (--augment N, --face K)\n"
    "  forget --db G.db NAME           remove a person (--vacuum: also scrub the file)\n"
    "  people --db G.db                list the people and their descriptor counts\n"
    "  identify --db G.db IMAGE...     who is each face? (--classifier nn|centroid|svm,\n"
    "                                  --metric euclidean|cosine, --threshold T, --top-k K)\n"
    "  recognize KNOWN_DIR PATH        face_recognition's CLI: prints path,name per face\n"
    "                                  (--tolerance T, --show-distance true, --cpus N)\n"
    "  eval lowshot --root DIR --shots 1,5,10   low-shot identification accuracy\n"
    "                                  (--classifier nn,svm, --augment N, --blur SIGMA,\n"
    "                                  --test-per-person K, --repeats R, --metric M,\n"
    "                                  --unknown-people N)\n"
    "  eval openset --root DIR          open-set identification: TAR and FAR at the\n"
    "                                  threshold, thresholds for FAR 1% and 0.1%\n"
    "                                  (--enrol-people N, --shots S, --unknown-people N)\n";

typedef struct gopts {
  const char *db, *models, *root;
  int threads, json, aligned, no_fallback, face, augment, top_k, repeats, test_per, unknown;
  int max_people, show_distance, vacuum, enrol_people;
  fr_metric metric;
  fr_classifier classifiers[3];
  int n_classifiers;
  unsigned seed;
  float threshold, min_prob, blur;
  double svm_c;
  fr_classifier classifier;
  fr_pipeline_options po;
  int shots[MAX_SHOTS], n_shots;
} gopts;

/* Options anywhere among the arguments; positional ones are kept in args.
 * Returns 0 or an exit status. */
static int parse(int argc, char **argv, gopts *o, char **args, int *nargs) {
  *nargs = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int flag = 1;
    if (strcmp(a, "--json") == 0) o->json = 1;
    else if (strcmp(a, "--aligned") == 0) o->aligned = 1;
    else if (strcmp(a, "--no-fallback") == 0) o->no_fallback = 1;
    else if (strcmp(a, "--flip") == 0) o->po.flip = 1;
    else if (strcmp(a, "--cascade") == 0) o->po.detector_cascade = 1;
    else if (strcmp(a, "--vacuum") == 0) o->vacuum = 1;
    else flag = 0;
    if (flag) continue;
    if (strncmp(a, "--", 2) != 0) {
      args[(*nargs)++] = argv[i];
      continue;
    }
    if (!v) return cli_die("option %s needs a value", a);
    i++;
    int ok = 1;
    if (strcmp(a, "--db") == 0) o->db = v;
    else if (strcmp(a, "--models") == 0) o->models = v;
    else if (strcmp(a, "--root") == 0) o->root = v;
    else if (strcmp(a, "--threads") == 0 || strcmp(a, "--cpus") == 0) {
      /* face_recognition's --cpus -1 means every core. */
      if (strcmp(v, "-1") == 0) o->threads = 0;
      else ok = cli_parse_int(v, 1, 256, &o->threads);
    } else if (strcmp(a, "--face") == 0) ok = cli_parse_int(v, 0, MAX_FACES - 1, &o->face);
    else if (strcmp(a, "--augment") == 0) ok = cli_parse_int(v, 0, 64, &o->augment);
    else if (strcmp(a, "--top-k") == 0) ok = cli_parse_int(v, 1, 1000, &o->top_k);
    else if (strcmp(a, "--repeats") == 0) ok = cli_parse_int(v, 1, 1000, &o->repeats);
    else if (strcmp(a, "--test-per-person") == 0) ok = cli_parse_int(v, 1, 100000, &o->test_per);
    else if (strcmp(a, "--unknown-people") == 0) ok = cli_parse_int(v, 0, 100000, &o->unknown);
    else if (strcmp(a, "--max-people") == 0) ok = cli_parse_int(v, 2, 1000000, &o->max_people);
    else if (strcmp(a, "--enrol-people") == 0) ok = cli_parse_int(v, 2, 1000000, &o->enrol_people);
    else if (strcmp(a, "--metric") == 0) {
      if (strcmp(v, "euclidean") == 0) o->metric = FR_METRIC_EUCLIDEAN;
      else if (strcmp(v, "cosine") == 0) o->metric = FR_METRIC_COSINE;
      else ok = 0;
    }
    else if (strcmp(a, "--seed") == 0) {
      int s;
      ok = cli_parse_int(v, 0, 1 << 30, &s);
      o->seed = (unsigned)s;
    } else if (strcmp(a, "--threshold") == 0 || strcmp(a, "--tolerance") == 0)
      ok = cli_parse_float(v, 1e-6f, 100, &o->threshold);
    else if (strcmp(a, "--min-probability") == 0) ok = cli_parse_float(v, 1e-6f, 1, &o->min_prob);
    else if (strcmp(a, "--blur") == 0) ok = cli_parse_float(v, 0, 20, &o->blur);
    else if (strcmp(a, "--svm-c") == 0) {
      float c;
      ok = cli_parse_float(v, 1e-6f, 1e6f, &c);
      o->svm_c = c;
    } else if (strcmp(a, "--show-distance") == 0) {
      o->show_distance = strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
      ok = o->show_distance || strcmp(v, "false") == 0 || strcmp(v, "0") == 0;
    } else if (strcmp(a, "--classifier") == 0) {
      /* A list (nn,svm) is for eval lowshot; the other commands use the first. */
      char buf[64];
      snprintf(buf, sizeof buf, "%s", v);
      o->n_classifiers = 0;
      for (char *t = strtok(buf, ","); t && ok; t = strtok(NULL, ",")) {
        fr_classifier c = strcmp(t, "nn") == 0         ? FR_CLASSIFIER_NN
                          : strcmp(t, "centroid") == 0 ? FR_CLASSIFIER_CENTROID
                          : strcmp(t, "svm") == 0      ? FR_CLASSIFIER_SVM
                                                       : 0;
        ok = c != 0 && o->n_classifiers < 3;
        if (ok) o->classifiers[o->n_classifiers++] = c;
      }
      ok = ok && o->n_classifiers > 0;
      if (ok) o->classifier = o->classifiers[0];
    } else if (strcmp(a, "--detector") == 0) {
      ok = cli_parse_detector(v, &o->po.detector);
    } else if (strcmp(a, "--model") == 0) {
      ok = cli_parse_embedder(v, &o->po.embedder);
    } else if (strcmp(a, "--align") == 0) {
      ok = cli_parse_align(v, &o->po.align);
    } else if (strcmp(a, "--shots") == 0) {
      char buf[256];
      snprintf(buf, sizeof buf, "%s", v);
      o->n_shots = 0;
      for (char *t = strtok(buf, ","); t && ok; t = strtok(NULL, ",")) {
        if (o->n_shots == MAX_SHOTS) ok = 0;
        else ok = cli_parse_int(t, 1, 100000, &o->shots[o->n_shots++]);
      }
      ok = ok && o->n_shots > 0;
    } else return cli_die("unknown option %s", a);
    if (!ok) return cli_die("bad value '%s' for %s", v, a);
  }
  /* From here on every field says what it means (align: the embedder's own
   * alignment when none was asked for). */
  fr_error err = {0};
  if (fr_pipeline_options_resolve(&o->po, &err) != FR_OK) return cli_die("%s", err.message);
  return 0;
}

/* ---- describing photos ------------------------------------------------------ */

typedef struct engine {
  fr_pipeline *pipe;
  fr_pool *pool;
  fr_context *ctx;
  int dim;
  char model[256];
} engine;

static void engine_close(engine *e) {
  fr_context_destroy(e->ctx);
  fr_pool_destroy(e->pool);
  fr_pipeline_destroy(e->pipe);
  memset(e, 0, sizeof *e);
}

/* Loads the pipeline, a pool and a context; on failure nothing stays open. */
static int engine_open(engine *e, const gopts *o, int with_pool) {
  memset(e, 0, sizeof *e);
  fr_error err = {0};
  int rc = 0;
  if (fr_pipeline_create(&o->po, o->models, &e->pipe, &err) != FR_OK)
    rc = cli_die("cannot load models: %s", err.message);
  else if (with_pool && fr_pool_create(o->threads, &e->pool, &err) != FR_OK)
    rc = cli_die("%s", err.message);
  else if (fr_context_create(e->pool, &e->ctx, &err) != FR_OK)
    rc = cli_die("%s", err.message);
  if (rc) {
    engine_close(e);
    return rc;
  }
  e->dim = fr_pipeline_dim(e->pipe);
  fr_gallery_model_id(&o->po, e->model, sizeof e->model, NULL);
  return 0;
}

static const char *source_name(fr_face_source s) {
  return s == FR_FACE_DETECTED ? "detected" : s == FR_FACE_PADDED ? "padded" : s == FR_FACE_WHOLE_IMAGE ? "whole-image" : "none";
}

/*
 * Loads a file and describes its faces. hash (may be NULL) receives the
 * file's SHA-256. Returns 0, or 1 after printing why the file failed.
 */
static int describe_file(fr_context *ctx, const fr_pipeline *pipe, const gopts *o, const char *path,
                         float blur, fr_face *faces, float *desc, int *n, fr_face_source *src,
                         char *hash, fr_image *keep) {
  fr_error err = {0};
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "facerec: cannot open %s: %s\n", path, strerror(errno));
    return 1;
  }
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *bytes = size > 0 && size < (1L << 30) ? malloc((size_t)size) : NULL;
  size_t got = bytes ? fread(bytes, 1, (size_t)size, f) : 0;
  fclose(f);
  if (!bytes || got != (size_t)size) {
    free(bytes);
    fprintf(stderr, "facerec: cannot read %s\n", path);
    return 1;
  }
  if (hash) fr_sha256_hex(bytes, got, hash);
  fr_image img;
  fr_status st = fr_image_decode(bytes, got, NULL, &img, &err);
  free(bytes);
  if (st != FR_OK) {
    fprintf(stderr, "facerec: %s: %s\n", path, err.message);
    return 1;
  }
  if (blur > 0) {
    fr_image b;
    st = fr_gaussian_blur(&img, blur, &b, &err);
    fr_image_free(&img);
    if (st != FR_OK) {
      fprintf(stderr, "facerec: %s: %s\n", path, err.message);
      return 1;
    }
    img = b;
  }
  if (o->aligned) {
    st = fr_pipeline_describe_chip(ctx, pipe, &img, desc, &err);
    memset(&faces[0], 0, sizeof faces[0]);
    faces[0].box.width = (float)img.width;
    faces[0].box.height = (float)img.height;
    *n = 1;
    *src = FR_FACE_WHOLE_IMAGE;
  } else {
    st = fr_describe_photo(ctx, pipe, &img, !o->no_fallback, faces, desc, MAX_FACES, n, src, &err);
  }
  if (keep && st == FR_OK) *keep = img;
  else fr_image_free(&img);
  if (st != FR_OK) {
    fprintf(stderr, "facerec: %s: %s\n", path, err.message);
    return 1;
  }
  return 0;
}

/* The chip a face was described from, for augmentation: the aligned face,
 * or the image itself when it already is a chip or no landmarks exist. */
static int face_chip(const gopts *o, const fr_image *img, const fr_face *face, fr_image *chip) {
  if (face->n_landmarks == 0 || o->aligned) return fr_image_convert(img, FR_PIXEL_RGB, chip, NULL) == FR_OK;
  return fr_align(img, face, o->po.align, 150, chip, NULL) == FR_OK;
}

/* n augmented descriptors of a chip into out; seeds derive from `seed`. */
static int augment_chip(fr_context *ctx, const fr_pipeline *pipe, const fr_image *chip, int n,
                        uint64_t seed, float *out, int dim) {
  fr_augment_options ao;
  fr_augment_options_default(&ao);
  for (int k = 0; k < n; k++) {
    fr_image a;
    if (fr_augment(chip, &ao, seed * 1000003u + (uint64_t)k + 1, &a, NULL) != FR_OK) return 1;
    fr_status st = fr_pipeline_describe_chip(ctx, pipe, &a, out + (size_t)k * dim, NULL);
    fr_image_free(&a);
    if (st != FR_OK) return 1;
  }
  return 0;
}

/* Opens (or creates) a gallery for the engine's model with its thresholds. */
static fr_status gallery_for(const engine *e, const char *path, fr_gallery **g, fr_error *err) {
  /* Identification's cuts (fr_pipeline_identify_threshold), not the
   * verification threshold: a stranger meets every enrolled person. An
   * existing gallery keeps the cuts it recorded. */
  fr_status st = fr_gallery_open(path, e->model, e->dim,
                                 fr_pipeline_identify_threshold(e->pipe, FR_METRIC_EUCLIDEAN), g, err);
  float ct = fr_pipeline_identify_threshold(e->pipe, FR_METRIC_COSINE);
  if (st == FR_OK && ct > 0 && fr_gallery_metric_threshold(*g, FR_METRIC_COSINE) <= 0) {
    st = fr_gallery_set_threshold(*g, FR_METRIC_COSINE, ct, err);
    if (st != FR_OK) {
      fr_gallery_close(*g);
      *g = NULL;
    }
  }
  return st;
}

/* Loads the models and opens the --db gallery for them; on failure nothing
 * stays open and the exit status is returned. */
static int open_gallery(const gopts *o, engine *e, fr_gallery **g) {
  fr_error err = {0};
  *g = NULL;
  if (!o->db) return cli_die("this command needs --db FILE");
  int rc = engine_open(e, o, 1);
  if (rc) return rc;
  if (gallery_for(e, o->db, g, &err) != FR_OK) {
    engine_close(e);
    return cli_die("%s", err.message);
  }
  return 0;
}

/* ---- enroll, forget, people ------------------------------------------------- */

static int cmd_enroll(gopts *o, char **args, int nargs) {
  if (nargs < 2) return cli_die("usage: facerec enroll --db G.db NAME IMAGE...");
  const char *name = args[0];
  engine e;
  fr_gallery *g;
  int rc = open_gallery(o, &e, &g);
  if (rc) return rc;
  int per = 1 + o->augment, cap = (nargs - 1) * per;
  float *desc = malloc((size_t)(MAX_FACES + per) * e.dim * sizeof(float));
  float *store = malloc((size_t)cap * e.dim * sizeof(float));
  fr_gallery_face *gf = calloc((size_t)cap, sizeof *gf);
  char (*hashes)[65] = calloc((size_t)nargs, sizeof *hashes);
  fr_face *faces = calloc(MAX_FACES, sizeof *faces);
  int n_store = 0, rejected = 0, images = 0;
  for (int i = 1; i < nargs; i++) {
    int n = 0;
    fr_face_source src = 0;
    fr_image img = {0};
    if (describe_file(e.ctx, e.pipe, o, args[i], 0, faces, desc, &n, &src, hashes[i], &img)) {
      rejected++;
      continue;
    }
    int k = o->face < 0 ? 0 : o->face;
    if (n == 0) {
      fprintf(stderr, "facerec: %s: no face found; not enrolled\n", args[i]);
      rejected++;
    } else if (n > 1 && o->face < 0) {
      fprintf(stderr, "facerec: %s: %d faces; say which with --face K (0 is the most confident); "
                      "not enrolled\n", args[i], n);
      rejected++;
      k = -1;
    } else if (k >= n) {
      fprintf(stderr, "facerec: %s: --face %d but only %d faces\n", args[i], k, n);
      rejected++;
      k = -1;
    }
    if (n > 0 && k >= 0) {
      images++;
      memcpy(store + (size_t)n_store * e.dim, desc + (size_t)k * e.dim, e.dim * sizeof(float));
      gf[n_store] = (fr_gallery_face){store + (size_t)n_store * e.dim, hashes[i], 0, faces[k].box};
      n_store++;
      fr_image chip;
      if (o->augment > 0 && face_chip(o, &img, &faces[k], &chip)) {
        uint64_t seed = o->seed;
        for (int c = 0; c < 16; c++) seed = seed * 31 + (uint64_t)(unsigned char)hashes[i][c];
        if (!augment_chip(e.ctx, e.pipe, &chip, o->augment, seed, store + (size_t)n_store * e.dim, e.dim)) {
          for (int a = 0; a < o->augment; a++, n_store++)
            gf[n_store] = (fr_gallery_face){store + (size_t)n_store * e.dim, hashes[i], a + 1, faces[k].box};
        }
        fr_image_free(&chip);
      }
      if (!o->json) printf("%s: face found (%s)\n", args[i], source_name(src));
    }
    fr_image_free(&img);
  }
  fr_error err = {0};
  int added = 0;
  if (n_store == 0) {
    rc = cli_die("no usable photo of %s: nothing enrolled", name) - 1;
  } else if (fr_gallery_enroll(g, name, NULL, gf, n_store, &added, &err) != FR_OK) {
    rc = cli_die("%s", err.message);
  } else {
    if (o->json) {
      printf("{\"name\":");
      cli_json_string(name);
      printf(",\"images\":%d,\"rejected\":%d,\"added\":%d,\"duplicates\":%d}\n", images,
             rejected, added, n_store - added);
    } else {
      printf("enrolled %s: %d descriptor%s from %d image%s (%d duplicate%s skipped, %d image%s rejected)\n",
             name, added, added == 1 ? "" : "s", images, images == 1 ? "" : "s", n_store - added,
             n_store - added == 1 ? "" : "s", rejected, rejected == 1 ? "" : "s");
    }
    rc = rejected ? 1 : 0;
  }
  free(desc), free(store), free(gf), free(hashes), free(faces);
  fr_gallery_close(g);
  engine_close(&e);
  return rc;
}

/* Opens an existing gallery without loading the detection models: forget and
 * people only need the descriptor model's id and length. */
static int open_existing(const gopts *o, fr_gallery **g) {
  fr_error err = {0};
  if (!o->db) return cli_die("this command needs --db FILE");
  struct stat st;
  if (stat(o->db, &st) != 0) return cli_die("no gallery at %s", o->db);
  int dim = fr_embedder_kind_dim(o->po.embedder);
  char model[256];
  fr_gallery_model_id(&o->po, model, sizeof model, NULL);
  /* The threshold only matters for a new gallery, which this is not. */
  if (fr_gallery_open(o->db, model, dim, 0.6f, g, &err) != FR_OK) return cli_die("%s", err.message);
  return 0;
}

static int cmd_forget(gopts *o, char **args, int nargs) {
  if (nargs != 1) return cli_die("usage: facerec forget --db G.db NAME");
  fr_gallery *g = NULL;
  int rc = open_existing(o, &g);
  if (rc) return rc;
  fr_error err = {0};
  int removed = 0;
  fr_status st = fr_gallery_forget(g, args[0], &removed, &err);
  if (st == FR_OK) printf("forgot %s: %d descriptor%s removed\n", args[0], removed, removed == 1 ? "" : "s");
  else rc = cli_die("%s", err.message) - (st == FR_E_NOTFOUND);
  if (st == FR_OK && o->vacuum) {
    /* The descriptors are gone from the tables; VACUUM and a truncated log
     * take their bytes out of the files too. */
    if (fr_gallery_vacuum(g, &err) == FR_OK) printf("vacuumed %s\n", o->db);
    else rc = cli_die("forgot %s, but the vacuum failed: %s", args[0], err.message);
  }
  fr_gallery_close(g);
  return rc;
}

static int cmd_people(gopts *o, char **args, int nargs) {
  (void)args;
  if (nargs != 0) return cli_die("usage: facerec people --db G.db");
  fr_gallery *g = NULL;
  int rc = open_existing(o, &g);
  if (rc) return rc;
  fr_error err = {0};
  int n = 0;
  fr_person *p = NULL;
  if (fr_gallery_people(g, NULL, 0, &n, &err) == FR_OK && (p = calloc((size_t)n + 1, sizeof *p)) &&
      fr_gallery_people(g, p, n, &n, &err) == FR_OK) {
    if (o->json) {
      printf("{\"model\":");
      cli_json_string(fr_gallery_model(g));
      printf(",\"threshold\":%.4f,\"people\":[", fr_gallery_threshold(g));
      for (int i = 0; i < n; i++) {
        printf("%s{\"name\":", i ? "," : "");
        cli_json_string(p[i].name);
        printf(",\"faces\":%d}", p[i].n_faces);
      }
      printf("]}\n");
    } else {
      for (int i = 0; i < n; i++) printf("%s\t%d\n", p[i].name, p[i].n_faces);
    }
  } else {
    rc = cli_die("%s", err.message);
  }
  free(p);
  fr_gallery_close(g);
  return rc;
}

/* ---- identify ---------------------------------------------------------------- */

static void identify_options(const gopts *o, fr_identify_options *io) {
  fr_identify_options_default(io);
  io->classifier = o->classifier ? o->classifier : FR_CLASSIFIER_NN;
  io->threshold = o->threshold;
  io->min_probability = o->min_prob;
  io->svm_c = o->svm_c;
  io->metric = o->metric ? o->metric : FR_METRIC_EUCLIDEAN;
}

static int cmd_identify(gopts *o, char **args, int nargs) {
  if (nargs < 1) return cli_die("usage: facerec identify --db G.db IMAGE...");
  engine e;
  fr_gallery *g;
  int rc = open_gallery(o, &e, &g);
  if (rc) return rc;
  fr_identify_options io;
  identify_options(o, &io);
  int k = o->top_k ? o->top_k : 3, failures = 0;
  float *desc = malloc((size_t)MAX_FACES * e.dim * sizeof(float));
  fr_face *faces = calloc(MAX_FACES, sizeof *faces);
  fr_match *top = calloc((size_t)k, sizeof *top);
  float thr = o->threshold > 0 ? o->threshold : fr_gallery_metric_threshold(g, io.metric);
  for (int i = 0; i < nargs; i++) {
    int n = 0;
    fr_face_source src = 0;
    if (describe_file(e.ctx, e.pipe, o, args[i], 0, faces, desc, &n, &src, NULL, NULL)) {
      failures++;
      continue;
    }
    if (o->json) {
      printf("{\"image\":");
      cli_json_string(args[i]);
      printf(",\"source\":\"%s\",\"threshold\":%.4f,\"faces\":[", source_name(src), thr);
    } else {
      printf("%s: %d face%s (%s)\n", args[i], n, n == 1 ? "" : "s", source_name(src));
    }
    for (int f = 0; f < n; f++) {
      int nt = 0, known = 0;
      fr_error err = {0};
      if (fr_gallery_identify(g, desc + (size_t)f * e.dim, &io, top, k, &nt, &known, &err) != FR_OK) {
        fprintf(stderr, "facerec: %s: %s\n", args[i], err.message);
        failures++;
        nt = 0;
      }
      const fr_rect *b = &faces[f].box;
      const char *who = nt > 0 && known ? top[0].name : "unknown";
      if (o->json) {
        printf("%s{\"box\":[%.2f,%.2f,%.2f,%.2f],\"name\":", f ? "," : "", b->x, b->y, b->width, b->height);
        cli_json_string(who);
        printf(",\"known\":%s", known ? "true" : "false");
        if (nt > 0) printf(",\"distance\":%.5f,\"probability\":%.5f", top[0].distance, top[0].probability);
        printf(",\"top\":[");
        for (int t = 0; t < nt; t++) {
          printf("%s{\"name\":", t ? "," : "");
          cli_json_string(top[t].name);
          printf(",\"distance\":%.5f,\"probability\":%.5f}", top[t].distance, top[t].probability);
        }
        printf("]}");
      } else {
        printf("  face %d [%.0f, %.0f, %.0f, %.0f]: %s", f, b->x, b->y, b->width, b->height, who);
        if (nt > 0) {
          printf(" (distance %.3f", top[0].distance);
          if (top[0].probability >= 0) printf(", probability %.3f", top[0].probability);
          printf(")  top:");
          for (int t = 0; t < nt; t++) {
            printf(" %s %.3f", top[t].name, top[t].distance);
            if (top[t].probability >= 0) printf("/p%.2f", top[t].probability);
          }
        } else {
          printf(" (the gallery is empty)");
        }
        printf("\n");
      }
    }
    if (o->json) printf("]}\n");
  }
  free(desc), free(faces), free(top);
  fr_gallery_close(g);
  engine_close(&e);
  return failures ? 1 : 0;
}

/* ---- recognize: face_recognition's command line ------------------------------- */

static int is_image_name(const char *name) {
  const char *dot = strrchr(name, '.');
  if (!dot) return 0;
  static const char *const ext[] = {".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".pnm"};
  for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
    if (strcasecmp(dot, ext[i]) == 0) return 1;
  return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted image files (or, with dirs = 1, subfolders) of a folder; the caller
 * frees each entry and the array. */
static char **list_dir(const char *dir, int dirs, int *n) {
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) return NULL;
  int cap = 64;
  char **v = malloc((size_t)cap * sizeof *v);
  struct dirent *de;
  while (v && (de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    struct stat st;
    if (stat(path, &st) != 0) continue;
    if (dirs ? !S_ISDIR(st.st_mode) : !(S_ISREG(st.st_mode) && is_image_name(de->d_name))) continue;
    if (*n == cap) {
      char **nv = realloc(v, (size_t)cap * 2 * sizeof *nv);
      if (!nv) break;
      v = nv;
      cap *= 2;
    }
    v[(*n)++] = strdup(path);
  }
  closedir(d);
  if (v) qsort(v, (size_t)*n, sizeof *v, cmp_str);
  return v;
}

static void free_list(char **v, int n) {
  for (int i = 0; i < n; i++) free(v[i]);
  free(v);
}

static int cmd_recognize(gopts *o, char **args, int nargs) {
  if (nargs != 2) return cli_die("usage: facerec recognize KNOWN_DIR UNKNOWN_PATH");
  engine e;
  int rc = engine_open(&e, o, 1);
  if (rc) return rc;
  fr_gallery *g = NULL;
  fr_error err = {0};
  if (gallery_for(&e, ":memory:", &g, &err) != FR_OK) {
    engine_close(&e);
    return cli_die("%s", err.message);
  }
  float *desc = malloc((size_t)MAX_FACES * e.dim * sizeof(float));
  fr_face *faces = calloc(MAX_FACES, sizeof *faces);
  /* Known people: one image per person named after them, or a folder each. */
  int nf = 0, nd = 0;
  char **files = list_dir(args[0], 0, &nf), **dirs = list_dir(args[0], 1, &nd);
  if (!files && !dirs) rc = cli_die("cannot read the folder %s", args[0]);
  for (int pass = 0; pass < 2 && !rc; pass++) {
    int count = pass ? nd : nf;
    for (int i = 0; i < count; i++) {
      int n_imgs = 1;
      char **imgs = pass ? list_dir(dirs[i], 0, &n_imgs) : &files[i];
      const char *base = strrchr(pass ? dirs[i] : files[i], '/');
      char name[FR_NAME_MAX];
      snprintf(name, sizeof name, "%s", base ? base + 1 : files[i]);
      if (!pass) {
        char *dot = strrchr(name, '.');
        if (dot) *dot = 0;
      }
      for (int j = 0; imgs && j < n_imgs; j++) {
        int n = 0;
        fr_face_source src;
        char hash[65];
        if (describe_file(e.ctx, e.pipe, o, imgs[j], 0, faces, desc, &n, &src, hash, NULL)) continue;
        if (n == 0) {
          fprintf(stderr, "WARNING: No faces found in %s. Ignoring file.\n", imgs[j]);
          continue;
        }
        if (n > 1) fprintf(stderr, "WARNING: More than one face found in %s. Only considering the first face.\n", imgs[j]);
        fr_gallery_face gf = {desc, hash, 0, faces[0].box};
        if (fr_gallery_enroll(g, name, NULL, &gf, 1, NULL, &err) != FR_OK)
          fprintf(stderr, "WARNING: %s: %s\n", imgs[j], err.message);
      }
      if (pass) free_list(imgs, n_imgs);
    }
  }
  free_list(files, nf);
  free_list(dirs, nd);
  /* The unknown images: one file or every image in a folder. */
  int nu = 0;
  char **unknown = NULL;
  struct stat st;
  if (!rc && stat(args[1], &st) == 0 && S_ISDIR(st.st_mode)) {
    unknown = list_dir(args[1], 0, &nu);
  } else if (!rc) {
    unknown = malloc(sizeof *unknown);
    unknown[0] = strdup(args[1]);
    nu = 1;
  }
  int people = 0;
  fr_gallery_people(g, NULL, 0, &people, NULL);
  fr_match *top = calloc((size_t)people + 1, sizeof *top);
  fr_identify_options io;
  fr_identify_options_default(&io);
  identify_options(o, &io);
  io.classifier = FR_CLASSIFIER_NN;
  /* face_recognition's --tolerance: it compares the photo with each known
   * person on its own (every one within it is printed), which is
   * verification, so the default is the model's LFW verification threshold
   * of the metric in use (face_recognition's own default is 0.6). */
  float tol = o->threshold > 0 ? o->threshold
                               : fr_pipeline_metric_threshold(
                                     e.pipe, io.metric ? io.metric : FR_METRIC_EUCLIDEAN);
  if (!(tol > 0)) rc = cli_die("no cosine threshold is known for this model: give --tolerance");
  io.threshold = tol;
  /* A known image is the user's word that it shows a face, so it may fall
   * back to the whole image; an unknown one may have nobody in it, and
   * "no_persons_found" is then the useful answer. Padding still applies. */
  gopts uo = *o;
  uo.no_fallback = 1;
  for (int i = 0; i < nu && !rc; i++) {
    int n = 0;
    fr_face_source src;
    if (describe_file(e.ctx, e.pipe, &uo, unknown[i], 0, faces, desc, &n, &src, NULL, NULL)) {
      rc = 1;
      continue;
    }
    if (n == 0) printf("%s,no_persons_found\n", unknown[i]);
    for (int f = 0; f < n; f++) {
      int nt = 0, known = 0, any = 0;
      if (people > 0)
        fr_gallery_identify(g, desc + (size_t)f * e.dim, &io, top,
                            people < FR_GALLERY_MAX_K ? people : FR_GALLERY_MAX_K, &nt, &known, NULL);
      /* Like face_recognition, every known person within the tolerance. */
      for (int t = 0; t < nt; t++)
        if (top[t].distance <= tol) {
          any = 1;
          if (o->show_distance) printf("%s,%s,%.16g\n", unknown[i], top[t].name, top[t].distance);
          else printf("%s,%s\n", unknown[i], top[t].name);
        }
      if (!any) {
        if (o->show_distance) printf("%s,unknown_person,None\n", unknown[i]);
        else printf("%s,unknown_person\n", unknown[i]);
      }
    }
  }
  if (unknown) free_list(unknown, nu);
  free(top), free(desc), free(faces);
  fr_gallery_close(g);
  engine_close(&e);
  return rc;
}

/* ---- eval lowshot and eval openset ---------------------------------------------- */

/*
 * Both evaluations describe every image they use once, up front (on a pool of
 * worker threads, one context each), and then only enrol and identify stored
 * descriptors: the shot counts, classifiers, repeats and with/without
 * augmentation all reuse the same descriptors, so a table costs one
 * description pass per image (plus its augmentations and its blurred copy
 * when asked for).
 */
typedef struct ev_image {
  const char *path;
  int person;
  int ok, blur_ok;            /* descriptors made */
  fr_face_source src, blur_src;
  float *desc;                /* clean, augment x augmented, blurred (if any) */
} ev_image;

typedef struct ev_job {
  const gopts *o;
  const fr_pipeline *pipe;
  ev_image *img;
  int n, next, done, dim, augment, per;
  float blur;
  pthread_mutex_t mu;
} ev_job;

/* The face nearest the image centre: evaluation images are centred on the
 * person they are labelled with (LFW), or show only that person. */
static int central_face(const fr_face *faces, int n, int w, int h) {
  int best = 0;
  double bd = 1e300;
  for (int i = 0; i < n; i++) {
    double dx = faces[i].box.x + faces[i].box.width / 2 - w / 2.0;
    double dy = faces[i].box.y + faces[i].box.height / 2 - h / 2.0;
    if (dx * dx + dy * dy < bd) bd = dx * dx + dy * dy, best = i;
  }
  return best;
}

static void ev_describe(fr_context *ctx, ev_job *j, ev_image *im, unsigned idx) {
  const gopts *o = j->o;
  fr_face *faces = malloc(MAX_FACES * sizeof *faces);
  float *desc = malloc((size_t)MAX_FACES * j->dim * sizeof(float));
  fr_image img = {0};
  int n = 0;
  im->ok = im->blur_ok = 0;
  if (faces && desc &&
      !describe_file(ctx, j->pipe, o, im->path, 0, faces, desc, &n, &im->src, NULL, &img) && n > 0) {
    int f = central_face(faces, n, img.width, img.height);
    memcpy(im->desc, desc + (size_t)f * j->dim, (size_t)j->dim * sizeof(float));
    im->ok = 1;
    fr_image chip;
    if (j->augment > 0) {
      if (face_chip(o, &img, &faces[f], &chip)) {
        im->ok = !augment_chip(ctx, j->pipe, &chip, j->augment, o->seed * 7919u + idx,
                               im->desc + j->dim, j->dim);
        fr_image_free(&chip);
      } else {
        im->ok = 0;
      }
    }
    if (im->ok && j->blur > 0) {
      fr_image_free(&img);
      int nb = 0;
      if (!describe_file(ctx, j->pipe, o, im->path, j->blur, faces, desc, &nb, &im->blur_src, NULL,
                         &img) && nb > 0) {
        int fb = central_face(faces, nb, img.width, img.height);
        memcpy(im->desc + (size_t)(1 + j->augment) * j->dim, desc + (size_t)fb * j->dim,
               (size_t)j->dim * sizeof(float));
        im->blur_ok = 1;
      }
    }
  }
  fr_image_free(&img);
  free(desc);
  free(faces);
}

static void *ev_worker(void *arg) {
  ev_job *j = arg;
  fr_context *ctx = NULL;
  if (fr_context_create(NULL, &ctx, NULL) != FR_OK) return NULL;
  for (;;) {
    pthread_mutex_lock(&j->mu);
    int k = j->next < j->n ? j->next++ : -1;
    pthread_mutex_unlock(&j->mu);
    if (k < 0) break;
    ev_describe(ctx, j, &j->img[k], (unsigned)k);
    pthread_mutex_lock(&j->mu);
    j->done++;
    if (isatty(2) && (j->done % 20 == 0 || j->done == j->n))
      fprintf(stderr, "\r%d/%d images described", j->done, j->n);
    pthread_mutex_unlock(&j->mu);
  }
  fr_context_destroy(ctx);
  return NULL;
}

/* Describes n images (descriptor memory allocated here, one block; freed by
 * the caller through img[0].desc). Returns the seconds taken, or -1 when
 * out of memory. */
static double ev_describe_all(const gopts *o, const fr_pipeline *pipe, ev_image *img, int n,
                              int augment, float blur) {
  int dim = fr_pipeline_dim(pipe), per = 1 + augment + (blur > 0);
  float *all = malloc(((size_t)n + 1) * per * dim * sizeof(float));
  if (!all) return -1;
  for (int i = 0; i < n; i++) img[i].desc = all + (size_t)i * per * dim;
  if (n == 0) {
    free(all);
    return 0;
  }
  ev_job j = {.o = o, .pipe = pipe, .img = img, .n = n, .dim = dim, .augment = augment,
              .per = per, .blur = blur};
  pthread_mutex_init(&j.mu, NULL);
  int nt = o->threads > 0 ? o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
  nt = nt < 1 ? 1 : nt > 64 ? 64 : nt;
  pthread_t th[64];
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int started = 0;
  for (int t = 0; t < nt; t++) started += pthread_create(&th[started], NULL, ev_worker, &j) == 0;
  for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (isatty(2)) fputc('\n', stderr);
  pthread_mutex_destroy(&j.mu);
  return (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
}

/* How the faces were found, counted over the images described. */
static void ev_paths(const ev_image *img, int n, int blurred, char *buf, size_t size) {
  int c[4] = {0, 0, 0, 0};
  for (int i = 0; i < n; i++) {
    int ok = blurred ? img[i].blur_ok : img[i].ok;
    fr_face_source s = blurred ? img[i].blur_src : img[i].src;
    c[ok && s >= 1 && s <= 3 ? s : 0]++;
  }
  snprintf(buf, size, "%d detected, %d after padding, %d whole-image, %d without a face", c[1],
           c[2], c[3], c[0]);
}

static void ev_paths_json(const ev_image *img, int n, int blurred) {
  int c[4] = {0, 0, 0, 0};
  for (int i = 0; i < n; i++) {
    int ok = blurred ? img[i].blur_ok : img[i].ok;
    fr_face_source s = blurred ? img[i].blur_src : img[i].src;
    c[ok && s >= 1 && s <= 3 ? s : 0]++;
  }
  printf("{\"detected\":%d,\"padded\":%d,\"whole_image\":%d,\"no_face\":%d}", c[1], c[2], c[3], c[0]);
}

static uint64_t ls_rand(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static void shuffle(int *v, int n, uint64_t *s) {
  for (int i = n - 1; i > 0; i--) {
    int k = (int)(ls_rand(s) % (uint64_t)(i + 1)), t = v[i];
    v[i] = v[k];
    v[k] = t;
  }
}

static void shuffle_str(char **v, int n, uint64_t *s) {
  for (int i = n - 1; i > 0; i--) {
    int k = (int)(ls_rand(s) % (uint64_t)(i + 1));
    char *t = v[i];
    v[i] = v[k];
    v[k] = t;
  }
}

typedef struct ev_person {
  char name[FR_NAME_MAX];
  char **files; /* owned list */
  int n_files;
  int *imgs, n; /* indices of the images used */
} ev_person;

static void ev_people_free(ev_person *p, int n) {
  for (int i = 0; p && i < n; i++) {
    free_list(p[i].files, p[i].n_files);
    free(p[i].imgs);
  }
  free(p);
}

/* Every person folder of root with its image list, in name order. */
static ev_person *ev_people(const char *root, int *n_people) {
  int nd = 0;
  char **dirs = list_dir(root, 1, &nd);
  *n_people = 0;
  if (!dirs) return NULL;
  ev_person *p = calloc((size_t)nd + 1, sizeof *p);
  for (int i = 0; p && i < nd; i++) {
    const char *base = strrchr(dirs[i], '/');
    snprintf(p[i].name, sizeof p[i].name, "%s", base ? base + 1 : dirs[i]);
    p[i].files = list_dir(dirs[i], 0, &p[i].n_files);
    if (!p[i].files) p[i].n_files = 0;
  }
  free_list(dirs, nd);
  if (p) *n_people = nd;
  return p;
}

static const char *classifier_name(fr_classifier c) {
  return c == FR_CLASSIFIER_SVM ? "svm" : c == FR_CLASSIFIER_CENTROID ? "centroid" : "nn";
}

typedef struct ls_stat {
  double acc_sum, acc_sq, accept_sum, rej_sum;
  long tests, unk_tests;
} ls_stat;

static int cmd_lowshot(gopts *o, char **args, int nargs) {
  (void)args;
  if (nargs != 0 || !o->root)
    return cli_die("usage: facerec eval lowshot --root DIR --shots 1,5,10 [options]");
  if (!o->n_shots) {
    static const int def[3] = {1, 5, 10};
    memcpy(o->shots, def, sizeof def);
    o->n_shots = 3;
  }
  if (!o->n_classifiers) o->classifiers[o->n_classifiers++] = FR_CLASSIFIER_NN;
  int max_shot = 0;
  for (int i = 0; i < o->n_shots; i++) max_shot = o->shots[i] > max_shot ? o->shots[i] : max_shot;
  int K = o->test_per > 0 ? o->test_per : 1, need = max_shot + K;
  int U = o->unknown > 0 ? o->unknown : 0;
  /* libsvm's probability calibration shuffles with rand(): seed it so that
   * runs repeat exactly. */
  srand(o->seed);
  int n_all = 0;
  ev_person *all = ev_people(o->root, &n_all);
  if (!all || n_all == 0) {
    ev_people_free(all, n_all);
    return cli_die("no person folders in %s", o->root);
  }
  /* The people who can take part in every shot count: the largest shot plus
   * K test images each. The same people and test images serve every row. */
  uint64_t rng = o->seed * 0x100000001B3ull + 1;
  int *qual = malloc((size_t)n_all * sizeof *qual), nq = 0;
  for (int i = 0; i < n_all; i++)
    if (all[i].n_files >= need) qual[nq++] = i;
  int n_dirs = n_all;
  if (o->max_people && nq > o->max_people) {
    shuffle(qual, nq, &rng);
    nq = o->max_people;
    /* back to name order, for a readable report */
    for (int a = 1; a < nq; a++)
      for (int b = a; b > 0 && qual[b - 1] > qual[b]; b--) {
        int t = qual[b];
        qual[b] = qual[b - 1];
        qual[b - 1] = t;
      }
  }
  int ni = 0;
  ev_image *images = calloc((size_t)(unsigned)nq * (unsigned)need + 1, sizeof *images);
  for (int q = 0; q < nq; q++) {
    ev_person *p = &all[qual[q]];
    /* A random `need` of the person's images (all of them would only cost
     * description time: no row uses more). */
    uint64_t ps = rng ^ ((uint64_t)qual[q] * 0x9E3779B97F4A7C15ull);
    shuffle_str(p->files, p->n_files, &ps);
    p->imgs = malloc((size_t)need * sizeof *p->imgs);
    for (int k = 0; k < need; k++) {
      images[ni] = (ev_image){p->files[k], q, 0, 0, 0, 0, NULL};
      p->imgs[p->n++] = ni++;
    }
  }
  fr_error err = {0};
  fr_pipeline *pipe = NULL;
  int rc = 0;
  if (nq - U < 2) rc = cli_die("%d people in %s have %d or more images (largest shot %d + %d test): too few", nq, o->root, need, max_shot, K);
  else if (fr_pipeline_create(&o->po, o->models, &pipe, &err) != FR_OK) rc = cli_die("cannot load models: %s", err.message);
  int dim = pipe ? fr_pipeline_dim(pipe) : 0;
  char model[256] = "";
  double secs = 0;
  if (!rc) {
    fr_gallery_model_id(&o->po, model, sizeof model, NULL);
    secs = ev_describe_all(o, pipe, images, ni, o->augment, o->blur);
    if (secs < 0) rc = cli_die("out of memory for %d images", ni);
  }
  /* A person keeps only the images described in every form a row needs; with
   * --no-fallback some may lack a face, and a person left with fewer than
   * `need` is dropped (and said so). */
  int dropped = 0;
  for (int q = 0; q < nq && !rc; q++) {
    ev_person *p = &all[qual[q]];
    int m = 0;
    for (int k = 0; k < p->n; k++) {
      ev_image *im = &images[p->imgs[k]];
      if (im->ok && (o->blur <= 0 || im->blur_ok)) p->imgs[m++] = p->imgs[k];
    }
    p->n = m;
    if (m < need) dropped++;
  }
  int *people = malloc((size_t)nq * sizeof *people), np = 0;
  for (int q = 0; q < nq && !rc; q++)
    if (all[qual[q]].n >= need) people[np++] = qual[q];
  if (!rc && np - U < 2) rc = cli_die("too few people left with %d described images", need);
  fr_identify_options io;
  identify_options(o, &io);
  int n_aug = o->augment > 0 ? 2 : 1, n_test = o->blur > 0 ? 2 : 1, nc = o->n_classifiers;
  float thr = 0;
  fr_gallery *probe = NULL;
  if (!rc) {
    /* The threshold the rows use, for the report. */
    engine e = {.pipe = pipe, .dim = dim};
    snprintf(e.model, sizeof e.model, "%s", model);
    if (gallery_for(&e, ":memory:", &probe, &err) == FR_OK) {
      thr = o->threshold > 0 ? o->threshold : fr_gallery_metric_threshold(probe, io.metric);
      fr_gallery_close(probe);
    }
  }
  if (!rc && !o->json) {
    char paths[160];
    printf("low-shot identification on %s: %d of %d people have %d+ images (largest shot %d + "
           "%d test images each)%s\n",
           o->root, np, n_dirs, need, max_shot, K, dropped ? "" : "");
    if (dropped) printf("  %d more had too few images with a face (--no-fallback)\n", dropped);
    if (np <= 40) {
      printf("  people:");
      for (int i = 0; i < np; i++) printf(" %s", all[people[i]].name);
      printf("\n");
    }
    ev_paths(images, ni, 0, paths, sizeof paths);
    printf("  %d images described in %.1f s: %s\n", ni, secs, paths);
    if (o->blur > 0) {
      ev_paths(images, ni, 1, paths, sizeof paths);
      printf("  blurred (Gaussian sigma %.3g px): %s\n", o->blur, paths);
    }
    printf("  repeats %d, %d known people, %d never-enrolled, metric %s, threshold %.4f, augment %d\n",
           o->repeats, np - U, U, io.metric == FR_METRIC_COSINE ? "cosine" : "euclidean", thr,
           o->augment);
    printf("%6s %-9s %-8s %-8s %7s %7s %19s %10s %10s\n", "shots", "classif.", "augment", "test",
           "people", "tests", "top-1 accuracy", "accepted", "unk.reject");
  }
  size_t n_cells = (size_t)o->n_shots * nc * n_aug * n_test;
  ls_stat *stat = calloc(n_cells + 1, sizeof *stat);
  int *order = malloc(((size_t)np + 1) * sizeof *order);
  fr_gallery_face *gf = malloc(((size_t)max_shot * (1 + o->augment) + 1) * sizeof *gf);
  if (!rc && (!stat || !order || !gf)) rc = cli_die("out of memory");
#define CELL(si, ci, ai, ti) stat[(((size_t)(si) * nc + (ci)) * n_aug + (ai)) * n_test + (ti)]
  for (int r = 0; r < o->repeats && !rc; r++) {
    /* One split per repeat, shared by every shot count (so training sets are
     * nested), classifier and setting: K test images, then the training ones. */
    uint64_t rs = ((uint64_t)o->seed << 32) ^ (uint64_t)(r + 1) * 0xD1B54A32D192ED03ull;
    memcpy(order, people, (size_t)np * sizeof *order);
    shuffle(order, np, &rs);
    for (int i = 0; i < np; i++) shuffle(all[order[i]].imgs, all[order[i]].n, &rs);
    for (int si = 0; si < o->n_shots && !rc; si++) {
      int s = o->shots[si];
      for (int ai = 0; ai < n_aug && !rc; ai++) {
        int aug = ai ? o->augment : 0;
        fr_gallery *g = NULL;
        engine e = {.pipe = pipe, .dim = dim};
        snprintf(e.model, sizeof e.model, "%s", model);
        if (gallery_for(&e, ":memory:", &g, &err) != FR_OK) {
          rc = cli_die("%s", err.message);
          break;
        }
        for (int i = U; i < np && !rc; i++) {
          ev_person *p = &all[order[i]];
          int m = 0;
          for (int k = K; k < K + s; k++)
            for (int a = 0; a <= aug; a++)
              gf[m++] = (fr_gallery_face){images[p->imgs[k]].desc + (size_t)a * dim, NULL, a, {0, 0, 0, 0}};
          if (fr_gallery_enroll(g, p->name, NULL, gf, m, NULL, &err) != FR_OK) rc = cli_die("%s", err.message);
        }
        for (int ci = 0; ci < nc && !rc; ci++) {
          io.classifier = o->classifiers[ci];
          for (int ti = 0; ti < n_test && !rc; ti++) {
            long right = 0, accepted = 0, t_all = 0, rejected = 0, u_all = 0;
            for (int i = 0; i < np && !rc; i++) {
              ev_person *p = &all[order[i]];
              int unknown = i < U;
              for (int k = 0; k < K; k++) {
                const float *q = images[p->imgs[k]].desc + (ti ? (size_t)(1 + o->augment) * dim : 0);
                fr_match top[1];
                int nt = 0, known = 0;
                if (fr_gallery_identify(g, q, &io, top, 1, &nt, &known, &err) != FR_OK) {
                  rc = cli_die("%s", err.message);
                  break;
                }
                if (unknown) {
                  u_all++;
                  rejected += !known;
                } else {
                  int ok = nt == 1 && strcmp(top[0].name, p->name) == 0;
                  t_all++;
                  right += ok;
                  accepted += ok && known;
                }
              }
            }
            ls_stat *c = &CELL(si, ci, ai, ti);
            double acc = t_all ? (double)right / t_all : 0;
            c->acc_sum += acc;
            c->acc_sq += acc * acc;
            c->accept_sum += t_all ? (double)accepted / t_all : 0;
            c->rej_sum += u_all ? (double)rejected / u_all : 0;
            c->tests += t_all;
            c->unk_tests += u_all;
          }
        }
        fr_gallery_close(g);
      }
    }
  }
  for (int si = 0; si < o->n_shots && !rc; si++)
    for (int ci = 0; ci < nc; ci++)
      for (int ai = 0; ai < n_aug; ai++)
        for (int ti = 0; ti < n_test; ti++) {
          ls_stat *c = &CELL(si, ci, ai, ti);
          int R = o->repeats, aug = ai ? o->augment : 0;
          double mean = c->acc_sum / R, sd = sqrt(fmax(0, c->acc_sq / R - mean * mean));
          const char *cname = classifier_name(o->classifiers[ci]);
          if (o->json) {
            printf("{\"shots\":%d,\"people\":%d,\"unknown_people\":%d,\"tests\":%ld,\"accuracy\":%.5f,"
                   "\"accuracy_std\":%.5f,\"accept_rate\":%.5f,\"unknown_rejection\":%.5f,"
                   "\"unknown_tests\":%ld,\"classifier\":\"%s\",\"augment\":%d,\"blur\":%.3g,"
                   "\"test\":\"%s\",\"metric\":\"%s\",\"threshold\":%.4f,\"repeats\":%d,"
                   "\"test_per_person\":%d,\"images\":%d,\"seconds\":%.1f,\"paths\":",
                   o->shots[si], np - U, U, c->tests / R, mean, sd, c->accept_sum / R,
                   U ? c->rej_sum / R : -1.0, c->unk_tests / R, cname, aug, ti ? o->blur : 0.0,
                   ti ? "blurred" : "clean", io.metric == FR_METRIC_COSINE ? "cosine" : "euclidean",
                   thr, R, K, ni, secs);
            ev_paths_json(images, ni, ti);
            printf("}\n");
          } else {
            printf("%6d %-9s %-8d %-8s %7d %7ld %10.2f%% +- %5.2f %9.2f%% ", o->shots[si], cname, aug,
                   ti ? "blurred" : "clean", np - U, c->tests / R, 100 * mean, 100 * sd,
                   100 * c->accept_sum / R);
            if (U) printf("%9.2f%%\n", 100 * c->rej_sum / R);
            else printf("%10s\n", "-");
          }
        }
#undef CELL
  if (ni > 0 && images[0].desc) free(images[0].desc);
  free(stat), free(order), free(gf), free(people), free(qual), free(images);
  ev_people_free(all, n_all);
  fr_pipeline_destroy(pipe);
  return rc;
}

typedef struct os_probe {
  float dist;
  int right; /* the nearest person is the probe's own (known probes) */
} os_probe;

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return x < y ? -1 : x > y;
}

/*
 * eval openset: enrol S images each of N people, then probe with held-out
 * images of those people (true accepts: the nearest person is right and
 * within the threshold) and with one image each of people never enrolled
 * (false accepts: anyone within the threshold).
 */
static int cmd_openset(gopts *o, char **args, int nargs) {
  (void)args;
  if (nargs != 0 || !o->root) return cli_die("usage: facerec eval openset --root DIR [options]");
  int S = o->n_shots ? o->shots[0] : 1, P = o->test_per > 0 ? o->test_per : 2;
  int N = o->enrol_people ? o->enrol_people : 200, U = o->unknown > 0 ? o->unknown : 1000;
  int n_all = 0;
  ev_person *all = ev_people(o->root, &n_all);
  if (!all || n_all == 0) {
    ev_people_free(all, n_all);
    return cli_die("no person folders in %s", o->root);
  }
  uint64_t rng = o->seed * 0x100000001B3ull + 7;
  int *perm = malloc((size_t)n_all * sizeof *perm), *enrolled = malloc((size_t)n_all * sizeof *enrolled);
  int *strangers = malloc((size_t)n_all * sizeof *strangers), ne = 0, nu = 0;
  for (int i = 0; i < n_all; i++) perm[i] = i;
  shuffle(perm, n_all, &rng);
  /* Enrolled: the first N people (in a random order) with S + 1 images or
   * more; strangers: the first U of everyone else with an image. */
  for (int i = 0; i < n_all; i++) {
    ev_person *p = &all[perm[i]];
    if (ne < N && p->n_files >= S + 1) enrolled[ne++] = perm[i];
    else if (nu < U && p->n_files >= 1) strangers[nu++] = perm[i];
  }
  int cap = ne * (S + P) + nu, ni = 0;
  ev_image *images = calloc((size_t)cap + 1, sizeof *images);
  for (int i = 0; i < ne; i++) {
    ev_person *p = &all[enrolled[i]];
    uint64_t ps = rng ^ ((uint64_t)enrolled[i] * 0x9E3779B97F4A7C15ull);
    shuffle_str(p->files, p->n_files, &ps);
    int take = p->n_files < S + P ? p->n_files : S + P;
    p->imgs = malloc((size_t)take * sizeof *p->imgs);
    for (int k = 0; k < take; k++) {
      images[ni] = (ev_image){p->files[k], enrolled[i], 0, 0, 0, 0, NULL};
      p->imgs[p->n++] = ni++;
    }
  }
  for (int i = 0; i < nu; i++) {
    ev_person *p = &all[strangers[i]];
    uint64_t ps = rng ^ ((uint64_t)strangers[i] * 0x9E3779B97F4A7C15ull);
    int k = (int)(ls_rand(&ps) % (uint64_t)p->n_files);
    p->imgs = malloc(sizeof *p->imgs);
    images[ni] = (ev_image){p->files[k], strangers[i], 0, 0, 0, 0, NULL};
    p->imgs[p->n++] = ni++;
  }
  fr_error err = {0};
  fr_pipeline *pipe = NULL;
  int rc = 0;
  if (ne < 2 || nu < 1) rc = cli_die("%s: %d people with %d+ images and %d others: too few", o->root, ne, S + 1, nu);
  else if (fr_pipeline_create(&o->po, o->models, &pipe, &err) != FR_OK) rc = cli_die("cannot load models: %s", err.message);
  double secs = 0;
  engine e = {.pipe = pipe, .dim = pipe ? fr_pipeline_dim(pipe) : 0};
  if (!rc) {
    fr_gallery_model_id(&o->po, e.model, sizeof e.model, NULL);
    secs = ev_describe_all(o, pipe, images, ni, 0, 0);
    if (secs < 0) rc = cli_die("out of memory for %d images", ni);
  }
  /* The false-accept rate grows with the number of people a stranger can be
   * mistaken for, so the same probes are scored against galleries of the
   * first 10, 30, 100 and 300 usable people as well as of all of them. */
  int usable = 0;
  for (int i = 0; i < ne; i++) {
    ev_person *p = &all[enrolled[i]];
    for (int k = 0; k < S && k < p->n; k++)
      if (images[p->imgs[k]].ok) {
        usable++;
        break;
      }
  }
  int sizes[6], n_sizes = 0;
  static const int try_sizes[4] = {10, 30, 100, 300};
  for (int i = 0; i < 4; i++)
    if (try_sizes[i] < usable) sizes[n_sizes++] = try_sizes[i];
  sizes[n_sizes++] = usable;
  /* Without --metric both metrics are reported, from the same descriptors. */
  fr_metric metrics[2] = {o->metric ? o->metric : FR_METRIC_EUCLIDEAN, FR_METRIC_COSINE};
  int n_metrics = o->metric ? 1 : 2;
  os_probe *kp = calloc((size_t)ni + 1, sizeof *kp);
  float *ud = calloc((size_t)ni + 1, sizeof *ud);
  fr_gallery_face *gf = calloc((size_t)S + 1, sizeof *gf);
  fr_gallery *g = NULL;
  if (!rc && !o->json) {
    char paths[160];
    ev_paths(images, ni, 0, paths, sizeof paths);
    printf("open-set identification on %s: up to %d people enrolled with %d image%s each, probes: "
           "up to %d other images of each, and one image each of %d people never enrolled\n",
           o->root, usable, S, S == 1 ? "" : "s", P, nu);
    printf("  %d images described in %.1f s: %s\n", ni, secs, paths);
    printf("  nearest neighbour; TAR: right person within the threshold; FAR: stranger within it "
           "of anyone; mis-accept: enrolled probe accepted as someone else\n");
    printf("%-9s %7s %7s %7s %-22s %8s %8s %8s %10s\n", "metric", "people", "probes", "rank-1",
           "threshold", "value", "TAR", "FAR", "mis-accept");
  }
  for (int zi = 0; zi < n_sizes && !rc; zi++) {
    if (gallery_for(&e, ":memory:", &g, &err) != FR_OK) {
      rc = cli_die("%s", err.message);
      break;
    }
    int n_enrolled = 0;
    for (int i = 0; i < ne && !rc && n_enrolled < sizes[zi]; i++) {
      ev_person *p = &all[enrolled[i]];
      int m = 0;
      for (int k = 0; k < S && k < p->n; k++)
        if (images[p->imgs[k]].ok) gf[m++] = (fr_gallery_face){images[p->imgs[k]].desc, NULL, 0, {0, 0, 0, 0}};
      if (m == 0) continue; /* no usable enrolment photo: this person is left out */
      if (fr_gallery_enroll(g, p->name, NULL, gf, m, NULL, &err) != FR_OK) rc = cli_die("%s", err.message);
      p->n_files = -p->n_files - 1; /* marks "enrolled" (restored below) */
      n_enrolled++;
    }
    for (int mi = 0; mi < n_metrics && !rc; mi++) {
      fr_identify_options io;
      identify_options(o, &io);
      io.classifier = FR_CLASSIFIER_NN;
      io.metric = metrics[mi];
      float thr = o->threshold > 0 ? o->threshold : fr_gallery_metric_threshold(g, io.metric);
      if (!(thr > 0)) {
        rc = cli_die("no threshold is known for this metric: give --threshold");
        break;
      }
      io.threshold = thr;
      int nk = 0, nud = 0;
      for (int i = 0; i < ne && !rc; i++) {
        ev_person *p = &all[enrolled[i]];
        if (p->n_files >= 0) continue; /* not enrolled */
        for (int k = S; k < p->n; k++) {
          const ev_image *im = &images[p->imgs[k]];
          if (!im->ok) continue;
          fr_match top[1];
          int nt = 0, known = 0;
          if (fr_gallery_identify(g, im->desc, &io, top, 1, &nt, &known, &err) != FR_OK) {
            rc = cli_die("%s", err.message);
            break;
          }
          kp[nk].dist = nt ? top[0].distance : INFINITY;
          kp[nk].right = nt && strcmp(top[0].name, p->name) == 0;
          nk++;
        }
      }
      for (int i = 0; i < nu && !rc; i++) {
        const ev_image *im = &images[all[strangers[i]].imgs[0]];
        if (!im->ok) continue;
        fr_match top[1];
        int nt = 0, known = 0;
        if (fr_gallery_identify(g, im->desc, &io, top, 1, &nt, &known, &err) != FR_OK) {
          rc = cli_die("%s", err.message);
          break;
        }
        ud[nud++] = nt ? top[0].distance : INFINITY;
      }
      if (!rc && (nk == 0 || nud == 0)) rc = cli_die("no probes were described");
      if (rc) break;
      qsort(ud, (size_t)nud, sizeof *ud, cmp_float);
      double rank1 = 0;
      for (int i = 0; i < nk; i++) rank1 += kp[i].right;
      rank1 /= nk;
      static const double far_targets[2] = {0.01, 0.001};
      float t_at[3];
      double tar[3], far[3], mis[3];
      t_at[0] = thr;
      for (int f = 0; f < 2; f++) {
        /* The largest threshold that accepts at most floor(target * strangers):
         * just under the next stranger's distance. */
        int allowed = (int)floor(far_targets[f] * nud);
        t_at[f + 1] = allowed < nud ? nextafterf(ud[allowed], 0) : INFINITY;
      }
      for (int t = 0; t < 3; t++) {
        long ta = 0, fa = 0, ma = 0;
        for (int i = 0; i < nk; i++) {
          ta += kp[i].right && kp[i].dist <= t_at[t];
          ma += !kp[i].right && kp[i].dist <= t_at[t];
        }
        for (int i = 0; i < nud; i++) fa += ud[i] <= t_at[t];
        tar[t] = (double)ta / nk;
        mis[t] = (double)ma / nk;
        far[t] = (double)fa / nud;
      }
      const char *metric = io.metric == FR_METRIC_COSINE ? "cosine" : "euclidean";
      if (o->json) {
        printf("{\"root\":");
        cli_json_string(o->root);
        printf(",\"enrolled_people\":%d,\"shots\":%d,\"known_probes\":%d,\"unknown_probes\":%d,"
               "\"metric\":\"%s\",\"rank1\":%.5f,\"threshold\":%.4f,\"tar\":%.5f,\"far\":%.5f,"
               "\"misaccept\":%.5f,\"threshold_far_1pct\":%.4f,\"tar_far_1pct\":%.5f,"
               "\"far_1pct\":%.5f,\"threshold_far_01pct\":%.4f,\"tar_far_01pct\":%.5f,"
               "\"far_01pct\":%.5f,\"images\":%d,\"seconds\":%.1f,\"paths\":",
               n_enrolled, S, nk, nud, metric, rank1, t_at[0], tar[0], far[0], mis[0], t_at[1],
               tar[1], far[1], t_at[2], tar[2], far[2], ni, secs);
        ev_paths_json(images, ni, 0);
        printf("}\n");
      } else {
        static const char *const label[3] = {"default (model's)", "for FAR <= 1%", "for FAR <= 0.1%"};
        for (int t = 0; t < 3; t++)
          printf("%-9s %7d %7d %6.2f%% %-22s %8.4f %7.2f%% %7.2f%% %9.2f%%\n", metric, n_enrolled,
                 nk, 100 * rank1, label[t], t_at[t], 100 * tar[t], 100 * far[t], 100 * mis[t]);
      }
    }
    for (int i = 0; i < ne; i++)
      if (all[enrolled[i]].n_files < 0) all[enrolled[i]].n_files = -all[enrolled[i]].n_files - 1;
    fr_gallery_close(g);
    g = NULL;
  }
  if (ni > 0 && images[0].desc) free(images[0].desc);
  free(kp), free(ud), free(gf), free(images), free(perm), free(enrolled), free(strangers);
  fr_gallery_close(g);
  ev_people_free(all, n_all);
  fr_pipeline_destroy(pipe);
  return rc;
}

int fr_cli_gallery(const char *cmd, int argc, char **argv) {
  int (*fn)(gopts *, char **, int) = NULL;
  if (strcmp(cmd, "enroll") == 0) fn = cmd_enroll;
  else if (strcmp(cmd, "forget") == 0) fn = cmd_forget;
  else if (strcmp(cmd, "people") == 0) fn = cmd_people;
  else if (strcmp(cmd, "identify") == 0) fn = cmd_identify;
  else if (strcmp(cmd, "recognize") == 0) fn = cmd_recognize;
  else if (strcmp(cmd, "eval") == 0 && argc > 0 && strcmp(argv[0], "lowshot") == 0) {
    fn = cmd_lowshot;
    argc--, argv++;
  } else if (strcmp(cmd, "eval") == 0 && argc > 0 && strcmp(argv[0], "openset") == 0) {
    fn = cmd_openset;
    argc--, argv++;
  }
  if (!fn) return -1;
  gopts o;
  memset(&o, 0, sizeof o);
  fr_pipeline_options_default(&o.po);
  o.face = -1;
  o.unknown = -1;
  o.repeats = 1;
  o.seed = 1;
  char **args = calloc((size_t)argc + 1, sizeof *args);
  int nargs = 0;
  if (!args) return cli_die("out of memory");
  int rc = parse(argc, argv, &o, args, &nargs);
  if (!rc) rc = fn(&o, args, nargs);
  free(args);
  return rc;
}
