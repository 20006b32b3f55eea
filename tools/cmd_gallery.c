/*
 * cmd_gallery.c - the recognition commands of the facerec tool: enroll,
 * forget, people, identify, recognize (a drop-in for face_recognition's CLI),
 * and the option parsing they share with eval lowshot and eval openset (whose
 * protocols live in eval_gallery.c). A thin layer over the gallery API in
 * facerec.h: parsing, file walking and printing live here; matching, storage
 * and face finding live in the library.
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "eval_gallery.h"
#include "facerec.h"
#include "gallery_cli.h"

const char fr_cli_gallery_usage[] =
    "  enroll --db G.db NAME IMAGE...  add a person's photos to a gallery (--augment N, --face K)\n"
    "  forget --db G.db NAME           remove a person (--vacuum: also scrub the file)\n"
    "  people --db G.db                list the people and their descriptor counts\n"
    "  identify --db G.db IMAGE...     who is each face? (--classifier nn|centroid|svm,\n"
    "                                  --metric euclidean|cosine, --threshold T, --top-k K)\n"
    "  recognize KNOWN_DIR PATH        face_recognition's CLI: prints path,name per face\n"
    "                                  (--tolerance T, --show-distance true, --cpus N)\n"
    EVAL_GALLERY_USAGE;

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
      ok = cli_parse_detector_file(v, &o->po);
    } else if (strcmp(a, "--model") == 0) {
      ok = cli_parse_model(v, &o->po);
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
  fr_pipeline_model_id(&o->po, e->model, sizeof e->model, NULL);
  return 0;
}






static const char *source_name(fr_face_source s) {
  return s == FR_FACE_SOURCE_DETECTED       ? "detected"
         : s == FR_FACE_SOURCE_PADDED     ? "padded"
         : s == FR_FACE_SOURCE_WHOLE_IMAGE ? "whole-image"
                                           : "none";
}

/* Loads the models and opens the --db gallery for them; on failure nothing
 * stays open and the exit status is returned. */
static int open_gallery(const gopts *o, engine *e, fr_gallery **g) {
  fr_error err = {0};
  *g = NULL;
  if (!o->db) return cli_die("this command needs --db FILE");
  int rc = engine_open(e, o, 1);
  if (rc) return rc;
  if (gcli_gallery_for(e, o->db, g, &err) != FR_OK) {
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
    if (gcli_describe_file(e.ctx, e.pipe, o, args[i], 0, faces, desc, &n, &src, hashes[i], &img)) {
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
      if (o->augment > 0 && gcli_face_chip(o, &img, &faces[k], &chip)) {
        uint64_t seed = o->seed;
        for (int c = 0; c < 16; c++) seed = seed * 31 + (uint64_t)(unsigned char)hashes[i][c];
        if (!gcli_augment_chip(e.ctx, e.pipe, &chip, o->augment, seed,
                               store + (size_t)n_store * e.dim, e.dim)) {
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
  fr_pipeline_model_id(&o->po, model, sizeof model, NULL);
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


static int cmd_identify(gopts *o, char **args, int nargs) {
  if (nargs < 1) return cli_die("usage: facerec identify --db G.db IMAGE...");
  engine e;
  fr_gallery *g;
  int rc = open_gallery(o, &e, &g);
  if (rc) return rc;
  fr_identify_options io;
  gcli_identify_options(o, &io);
  int k = o->top_k ? o->top_k : 3, failures = 0;
  float *desc = malloc((size_t)MAX_FACES * e.dim * sizeof(float));
  fr_face *faces = calloc(MAX_FACES, sizeof *faces);
  fr_match *top = calloc((size_t)k, sizeof *top);
  float thr = o->threshold > 0 ? o->threshold : fr_gallery_metric_threshold(g, io.metric);
  for (int i = 0; i < nargs; i++) {
    int n = 0;
    fr_face_source src = 0;
    if (gcli_describe_file(e.ctx, e.pipe, o, args[i], 0, faces, desc, &n, &src, NULL, NULL)) {
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





static int cmd_recognize(gopts *o, char **args, int nargs) {
  if (nargs != 2) return cli_die("usage: facerec recognize KNOWN_DIR UNKNOWN_PATH");
  engine e;
  int rc = engine_open(&e, o, 1);
  if (rc) return rc;
  fr_gallery *g = NULL;
  fr_error err = {0};
  if (gcli_gallery_for(&e, ":memory:", &g, &err) != FR_OK) {
    engine_close(&e);
    return cli_die("%s", err.message);
  }
  float *desc = malloc((size_t)MAX_FACES * e.dim * sizeof(float));
  fr_face *faces = calloc(MAX_FACES, sizeof *faces);
  /* Known people: one image per person named after them, or a folder each. */
  int nf = 0, nd = 0;
  char **files = gcli_list_dir(args[0], 0, &nf), **dirs = gcli_list_dir(args[0], 1, &nd);
  if (!files && !dirs) rc = cli_die("cannot read the folder %s", args[0]);
  for (int pass = 0; pass < 2 && !rc; pass++) {
    int count = pass ? nd : nf;
    for (int i = 0; i < count; i++) {
      int n_imgs = 1;
      char **imgs = pass ? gcli_list_dir(dirs[i], 0, &n_imgs) : &files[i];
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
        if (gcli_describe_file(e.ctx, e.pipe, o, imgs[j], 0, faces, desc, &n, &src, hash, NULL)) continue;
        if (n == 0) {
          fprintf(stderr, "WARNING: No faces found in %s. Ignoring file.\n", imgs[j]);
          continue;
        }
        if (n > 1) fprintf(stderr, "WARNING: More than one face found in %s. Only considering the first face.\n", imgs[j]);
        fr_gallery_face gf = {desc, hash, 0, faces[0].box};
        if (fr_gallery_enroll(g, name, NULL, &gf, 1, NULL, &err) != FR_OK)
          fprintf(stderr, "WARNING: %s: %s\n", imgs[j], err.message);
      }
      if (pass) gcli_free_list(imgs, n_imgs);
    }
  }
  gcli_free_list(files, nf);
  gcli_free_list(dirs, nd);
  /* The unknown images: one file or every image in a folder. */
  int nu = 0;
  char **unknown = NULL;
  struct stat st;
  if (!rc && stat(args[1], &st) == 0 && S_ISDIR(st.st_mode)) {
    unknown = gcli_list_dir(args[1], 0, &nu);
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
  gcli_identify_options(o, &io);
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
    if (gcli_describe_file(e.ctx, e.pipe, &uo, unknown[i], 0, faces, desc, &n, &src, NULL, NULL)) {
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
  if (unknown) gcli_free_list(unknown, nu);
  free(top), free(desc), free(faces);
  fr_gallery_close(g);
  engine_close(&e);
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
    fn = eval_lowshot;
    argc--, argv++;
  } else if (strcmp(cmd, "eval") == 0 && argc > 0 && strcmp(argv[0], "openset") == 0) {
    fn = eval_openset;
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
