/*
 * facerec - the command-line tool: detect, embed, verify, compare, align and
 * evaluate, on top of the public API in facerec.h (and, for evaluation, the
 * internal evaluation helpers).
 */
#include "facerec.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "eval_detect.h"
#include "eval_lfw.h"

#define MAX_FACES 64

/* ---- options -------------------------------------------------------------- */

typedef struct cli {
  int threads;
  int json;
  const char *models;
  fr_pipeline_options po;
  int landmarks_off;
  int aligned;
  float threshold;
  const char *out_dir;
  int size;
  /* eval */
  const char *root, *pairs;
  int folds_limit;
  const char *dump;
  int variants;
  int verbose;
  int metric; /* eval lfw: 0 euclidean, 1 cosine, 2 both */
  int detector_given, input_size_given;
  int int8; /* --int8: the embedder's int8 quantised variant */
  int raw_w, raw_h; /* --raw: inputs are raw pixel files of this size */
  fr_pixel_format raw_format;
} cli;

static void usage(FILE *f) {
  fprintf(f,
          "usage: facerec COMMAND [OPTIONS] ARGS\n"
          "\n"
          "commands:\n"
          "  detect IMAGE...          find faces: box [x,y,w,h], score, 68 landmarks\n"
          "  embed IMAGE...           describe every face with a 128-d descriptor\n"
          "  verify IMAGE_A IMAGE_B   same person? distance, threshold, same (exit 0 either way)\n"
          "  compare IMAGE...         every face of every image, and their distance matrix\n"
          "  align IMAGE... --out DIR write the aligned face chips as PNG files\n"
          "  eval lfw --root DIR --pairs FILE   LFW View 2 10-fold verification\n"
          "  eval detect --root DIR   detection rate on one-face images (a face centred in each)\n"
          "%s%s%s%s%s"
          "\n"
          "options:\n"
          "  --threads N        threads (default: all cores)\n"
          "  --json             machine-readable output (one JSON object per image)\n"
          "  --models DIR       model folder (default: $FACEREC_MODELS, ./models, share dir)\n"
          "  --detector NAME    face detector: ssd (default), tiny, mtcnn, blazeface,\n"
          "                     blazeface-full, haar or lbp; scrfd:PATH.onnx for InsightFace's\n"
          "                     SCRFD from your own file (--input-size: its side, default 640)\n"
          "  --min-score S      detection score threshold (default 0.5)\n"
          "  --input-size N     TinyFaceDetector input side, multiple of 32 (default 416);\n"
          "                     mtcnn: the smallest face side in pixels (default 20)\n"
          "  --cascade          when no face is found, retry Tiny@320, Tiny@224, SSD\n"
          "  --landmarks 68|tiny|none  landmark net (default 68; none: detect only)\n"
          "  --align similarity|upright|arcface|facenet  chip alignment (default: the model's own)\n"
          "  --model faceapi|mobilefacenet  embedder: FaceRecognitionNet 128-d (default) or\n"
          "                     MobileFaceNet 192-d (ArcFace chips; pair with --detector mtcnn)\n"
          "  --model PATH|NAME  a model you bring: its card (NAME.json) or network file\n"
          "                     (ONNX, TFLite, .frm) with the card beside it (docs/models.md)\n"
          "  --int8             FaceRecognitionNet with int8 convolutions (faster; LFW within\n"
          "                     0.3 points; same as --model faceapi-int8)\n"
          "  --aligned          the images already are aligned face chips (embed, verify)\n"
          "  --flip             average each descriptor with its mirror image's\n"
          "  --jitter N         average N randomly jittered chips (like dlib's num_jitters)\n"
          "  --threshold T      same-person distance threshold (default: the model's LFW one, 0.6043)\n"
          "  --size N           chip size for align (default: the model's, 150 or 112)\n"
          "  --folds K          eval: use only the first K folds (default all)\n"
          "  --dump FILE        eval: write every pair's distance as CSV\n"
          "  --no-fallback      recognition: no whole-image face when a tight crop shows none\n"
          "  --min-probability P  identify --classifier svm: lower probabilities are unknown\n"
          "  --svm-c C          identify, eval lowshot: the linear SVM's cost C\n"
          "  --seed N           eval lowshot: seed of the random draws\n"
          "  --max-people N     eval lowshot: use at most N people of the dataset\n"
          "  --raw WxH[:FMT]    inputs are raw pixel files (FMT gray|rgb|bgr|rgba|bgra, default rgb)\n"
          "  --variants         eval: score the model's two alignments with and without flip in one pass\n"
          "  --verbose          eval: list the images where no face was found\n"
          "  --metric euclidean|cosine  identify, recognize, eval: distance (eval lfw: also both)\n"
          "  --version          print the version\n", fr_cli_gallery_usage, fr_cli_serve_usage,
          fr_cli_convert_usage, fr_cli_quantize_usage, fr_cli_infer_usage);
}

/* Parses options anywhere among the arguments; leaves positional ones in
 * args. Returns 0 on success, or an exit status. */
static int parse_args(int argc, char **argv, cli *c, char ***args, int *nargs) {
  *args = calloc((size_t)argc + 1, sizeof **args);
  *nargs = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VALUE()                                              \
  do {                                                            \
    if (!v) return cli_die("option %s needs a value", a);             \
    i++;                                                          \
  } while (0)
    if (strcmp(a, "--json") == 0) c->json = 1;
    else if (strcmp(a, "--flip") == 0) c->po.flip = 1;
    else if (strcmp(a, "--aligned") == 0) c->aligned = 1;
    else if (strcmp(a, "--cascade") == 0) c->po.detector_cascade = 1;
    else if (strcmp(a, "--variants") == 0) c->variants = 1;
    else if (strcmp(a, "--verbose") == 0) c->verbose = 1;
    else if (strcmp(a, "--metric") == 0) {
      NEED_VALUE();
      if (strcmp(v, "euclidean") == 0) c->metric = 0;
      else if (strcmp(v, "cosine") == 0) c->metric = 1;
      else if (strcmp(v, "both") == 0) c->metric = 2;
      else return cli_die("--metric wants euclidean, cosine or both, not '%s'", v);
    }
    else if (strcmp(a, "--threads") == 0) {
      NEED_VALUE();
      if (!cli_parse_int(v, 1, 256, &c->threads)) return cli_die("--threads wants 1..256, not '%s'", v);
    } else if (strcmp(a, "--raw") == 0) {
      NEED_VALUE();
      char fmt[8] = "rgb";
      int n = sscanf(v, "%dx%d:%7s", &c->raw_w, &c->raw_h, fmt);
      static const char *const names[] = {"gray", "rgb", "bgr", "rgba", "bgra"};
      c->raw_format = 0;
      for (int k = 0; k < 5; k++)
        if (strcmp(fmt, names[k]) == 0) c->raw_format = (fr_pixel_format)(k + 1);
      if (n < 2 || c->raw_w <= 0 || c->raw_h <= 0 || c->raw_w > FR_DEFAULT_MAX_DIMENSION ||
          c->raw_h > FR_DEFAULT_MAX_DIMENSION || !c->raw_format)
        return cli_die("--raw wants WIDTHxHEIGHT[:gray|rgb|bgr|rgba|bgra], not '%s'", v);
    } else if (strcmp(a, "--models") == 0) {
      NEED_VALUE();
      c->models = v;
    } else if (strcmp(a, "--detector") == 0) {
      NEED_VALUE();
      c->detector_given = 1;
      if (!cli_parse_detector_file(v, &c->po)) {
        char list[256];
        cli_detector_names(list, sizeof list);
        return cli_die("unknown detector '%s' (%s)", v, list);
      }
    } else if (strcmp(a, "--model") == 0) {
      NEED_VALUE();
      if (!cli_parse_model(v, &c->po)) {
        char list[256];
        cli_embedder_names(list, sizeof list);
        return cli_die("unknown model '%s' (%s, or a model card or network file; see docs/models.md)", v, list);
      }
    } else if (strcmp(a, "--int8") == 0) {
      c->int8 = 1;
    } else if (strcmp(a, "--min-score") == 0) {
      NEED_VALUE();
      if (!cli_parse_float(v, 0.f, 1.f, &c->po.detect.min_score))
        return cli_die("--min-score wants a number in [0, 1], not '%s'", v);
    } else if (strcmp(a, "--input-size") == 0) {
      NEED_VALUE();
      c->input_size_given = 1;
      /* Each detector checks its own range (Tiny: multiples of 32 up to
       * 1024; MTCNN and the cascades: a smallest face side of 12 or more). */
      if (!cli_parse_int(v, 1, 4096, &c->po.detect.input_size))
        return cli_die("--input-size wants a number in 1..4096, not '%s'", v);
    } else if (strcmp(a, "--landmarks") == 0) {
      NEED_VALUE();
      /* The short names the CLI has always taken, then any landmarker's own. */
      if (strcmp(v, "68") == 0) c->po.landmarks = FR_LANDMARKER_68;
      else if (strcmp(v, "tiny") == 0) c->po.landmarks = FR_LANDMARKER_68_TINY;
      else if (strcmp(v, "none") == 0) c->landmarks_off = 1;
      else if (fr_landmarker_kind_from_name(v)) c->po.landmarks = fr_landmarker_kind_from_name(v);
      else return cli_die("unknown landmarks '%s' (68, tiny, none or a landmarker's name)", v);
    } else if (strcmp(a, "--align") == 0) {
      NEED_VALUE();
      if (!cli_parse_align(v, &c->po.align))
        return cli_die("unknown alignment '%s' (similarity, upright, arcface or facenet)", v);
    } else if (strcmp(a, "--jitter") == 0) {
      NEED_VALUE();
      if (!cli_parse_int(v, 0, 32, &c->po.jitter)) return cli_die("--jitter wants 0..32, not '%s'", v);
    } else if (strcmp(a, "--threshold") == 0) {
      NEED_VALUE();
      if (!cli_parse_float(v, 1e-6f, 1e6f, &c->threshold))
        return cli_die("--threshold wants a positive number, not '%s'", v);
    } else if (strcmp(a, "--out") == 0) {
      NEED_VALUE();
      c->out_dir = v;
    } else if (strcmp(a, "--size") == 0) {
      NEED_VALUE();
      if (!cli_parse_int(v, 16, 1024, &c->size)) return cli_die("--size wants 16..1024, not '%s'", v);
    } else if (strcmp(a, "--root") == 0) {
      NEED_VALUE();
      c->root = v;
    } else if (strcmp(a, "--pairs") == 0) {
      NEED_VALUE();
      c->pairs = v;
    } else if (strcmp(a, "--folds") == 0) {
      NEED_VALUE();
      if (!cli_parse_int(v, 1, 16, &c->folds_limit)) return cli_die("--folds wants 1..16, not '%s'", v);
    } else if (strcmp(a, "--dump") == 0) {
      NEED_VALUE();
      c->dump = v;
    } else if (strcmp(a, "--") == 0) {
      for (i++; i < argc; i++) (*args)[(*nargs)++] = argv[i];
    } else if (a[0] == '-' && a[1] == '-') {
      return cli_die("unknown option %s (see facerec --help)", a);
    } else {
      (*args)[(*nargs)++] = argv[i];
    }
#undef NEED_VALUE
  }
  if (c->int8) {
    /* Only FaceRecognitionNet has an int8 variant so far. */
    if (c->po.embedder == 0 || c->po.embedder == FR_EMBEDDER_FACEAPI)
      c->po.embedder = FR_EMBEDDER_FACEAPI_INT8;
    else if (c->po.embedder != FR_EMBEDDER_FACEAPI_INT8)
      return cli_die("--int8: no int8 model of '%s' (only faceapi)",
                     fr_embedder_kind_name(c->po.embedder));
  }
  /* From here on every field says what it means (align: the embedder's own
   * alignment when none was asked for). */
  fr_error err = {0};
  if (fr_pipeline_options_resolve(&c->po, &err) != FR_OK) return cli_die("%s", err.message);
  return 0;
}

/* ---- shared state ----------------------------------------------------------- */

typedef struct runner {
  fr_pool *pool;
  fr_context *ctx;
  fr_pipeline *pipe;
  fr_detector *det; /* detect-only mode */
} runner;

static void runner_close(runner *r) {
  fr_pipeline_destroy(r->pipe);
  fr_detector_destroy(r->det);
  fr_context_destroy(r->ctx);
  fr_pool_destroy(r->pool);
}

static int runner_open(runner *r, cli *c, int need_pipeline) {
  fr_error err = {0};
  memset(r, 0, sizeof *r);
  if (fr_pool_create(c->threads, &r->pool, &err) != FR_OK ||
      fr_context_create(r->pool, &r->ctx, &err) != FR_OK)
    return cli_die("%s", err.message);
  if (need_pipeline) {
    if (fr_pipeline_create(&c->po, c->models, &r->pipe, &err) != FR_OK) {
      runner_close(r);
      return cli_die("cannot load models: %s", err.message);
    }
  } else {
    fr_status st = c->po.detector == FR_DETECTOR_SCRFD
                       ? fr_detector_create_file(c->po.detector, c->po.detector_file,
                                                 c->po.detect.input_size, &r->det, &err)
                       : fr_detector_create(c->po.detector, c->models, &r->det, &err);
    if (st != FR_OK) {
      runner_close(r);
      return cli_die("cannot load the detector: %s", err.message);
    }
  }
  return 0;
}


static void print_face_json(const fr_face *f, const float *desc, int dim) {
  printf("{\"box\":[%.2f,%.2f,%.2f,%.2f],\"score\":%.5f", f->box.x, f->box.y, f->box.width,
         f->box.height, f->score);
  printf(",\"landmarks\":[");
  for (int k = 0; k < f->n_landmarks; k++)
    printf("%s[%.2f,%.2f]", k ? "," : "", f->landmarks[k].x, f->landmarks[k].y);
  printf("]");
  if (desc) {
    printf(",\"embedding\":[");
    for (int k = 0; k < dim; k++) printf("%s%.7g", k ? "," : "", desc[k]);
    printf("]");
  }
  printf("}");
}

static void print_face_text(int i, const fr_face *f, const float *desc, int dim, int landmarks) {
  printf("  face %d: box [%.1f, %.1f, %.1f, %.1f] score %.3f\n", i, f->box.x, f->box.y,
         f->box.width, f->box.height, f->score);
  if (landmarks && f->n_landmarks) {
    printf("    landmarks:");
    for (int k = 0; k < f->n_landmarks; k++)
      printf(" %.1f,%.1f", f->landmarks[k].x, f->landmarks[k].y);
    printf("\n");
  }
  if (desc) {
    printf("    embedding:");
    for (int k = 0; k < dim; k++) printf(" %.6f", desc[k]);
    printf("\n");
  }
}

/*
 * Reads an input: an encoded image, or with --raw a file of raw pixels that is
 * handed to the pipeline as a caller's buffer (fr_image_wrap), exactly as an
 * application passes its camera frames. Either way *img is released with
 * fr_image_free (wrapped pixels are copied into an owned image first).
 */
static fr_status load_input(const cli *c, const char *path, fr_image *img, fr_error *err) {
  if (!c->raw_w) return fr_image_load(path, NULL, img, err);
  memset(img, 0, sizeof *img);
  int bpp = fr_pixel_size(c->raw_format);
  size_t want = (size_t)c->raw_w * (size_t)c->raw_h * (size_t)bpp;
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err->message, sizeof err->message, "cannot open %s: %s", path, strerror(errno));
    return err->status = FR_E_IO;
  }
  uint8_t *buf = malloc(want + 1);
  size_t got = buf ? fread(buf, 1, want + 1, f) : 0;
  fclose(f);
  fr_status st;
  if (!buf) {
    snprintf(err->message, sizeof err->message, "out of memory reading %s", path);
    st = err->status = FR_E_NOMEM;
  } else if (got != want) {
    snprintf(err->message, sizeof err->message,
             "%s: %s bytes for --raw %dx%d (%d bytes per pixel, %zu expected)", path,
             got > want ? "more" : "fewer", c->raw_w, c->raw_h, bpp, want);
    st = err->status = FR_E_FORMAT;
  } else {
    fr_image wrapped;
    st = fr_image_wrap(buf, c->raw_w, c->raw_h, c->raw_w * bpp, c->raw_format, &wrapped, err);
    if (st == FR_OK) st = fr_image_convert(&wrapped, c->raw_format, img, err);
  }
  free(buf);
  return st;
}

/* Runs the pipeline (or the detector alone) on one image. Returns 0 on
 * success; prints the error and returns 1 otherwise. */
static int process(runner *r, cli *c, const char *path, fr_face *faces, float *desc, int *n,
                   int want_desc) {
  fr_error err = {0};
  fr_image img;
  *n = 0;
  if (load_input(c, path, &img, &err) != FR_OK) {
    fprintf(stderr, "facerec: %s\n", err.message);
    return 1;
  }
  fr_status st;
  if (c->aligned && r->pipe) {
    faces[0] = (fr_face){.box = {0, 0, (float)img.width, (float)img.height}, .score = 1};
    st = fr_pipeline_describe_chip(r->ctx, r->pipe, &img, desc, &err);
    if (st == FR_OK) *n = 1;
  } else if (r->pipe) {
    st = fr_pipeline_run(r->ctx, r->pipe, &img, faces, want_desc ? desc : NULL, MAX_FACES, n, &err);
  } else {
    st = fr_detect(r->ctx, r->det, &img, &c->po.detect, faces, MAX_FACES, n, &err);
  }
  fr_image_free(&img);
  if (st != FR_OK) {
    fprintf(stderr, "facerec: %s: %s\n", path, err.message);
    return 1;
  }
  return 0;
}

/* detect and embed: one record per image. */
static int cmd_faces(cli *c, char **args, int nargs, int want_desc) {
  if (nargs == 0) return cli_die("no image given");
  runner r;
  int rc = runner_open(&r, c, want_desc || !c->landmarks_off);
  if (rc) return rc;
  int dim = r.pipe ? fr_pipeline_dim(r.pipe) : 0;
  fr_face *faces = calloc(MAX_FACES, sizeof *faces);
  float *desc = calloc((size_t)MAX_FACES * (dim ? dim : 1), sizeof *desc);
  int failures = 0;
  for (int i = 0; i < nargs; i++) {
    int n;
    if (process(&r, c, args[i], faces, desc, &n, want_desc)) {
      failures++;
      if (c->json) {
        printf("{\"image\":");
        cli_json_string(args[i]);
        printf(",\"error\":\"could not process the image\",\"faces\":[]}\n");
      }
      continue;
    }
    if (c->json) {
      printf("{\"image\":");
      cli_json_string(args[i]);
      printf(",\"faces\":[");
      for (int k = 0; k < n; k++) {
        if (k) putchar(',');
        print_face_json(&faces[k], want_desc ? desc + (size_t)k * dim : NULL, dim);
      }
      printf("]}\n");
    } else {
      printf("%s: %d face%s\n", args[i], n, n == 1 ? "" : "s");
      for (int k = 0; k < n; k++)
        print_face_text(k, &faces[k], want_desc ? desc + (size_t)k * dim : NULL, dim, !want_desc);
    }
  }
  free(faces);
  free(desc);
  runner_close(&r);
  return failures ? 1 : 0;
}

/* The face to use when an image must stand for one person: the largest. */
static int main_face(const fr_face *faces, int n) {
  int best = 0;
  for (int i = 1; i < n; i++)
    if (faces[i].box.width * faces[i].box.height > faces[best].box.width * faces[best].box.height)
      best = i;
  return best;
}

static int cmd_verify(cli *c, char **args, int nargs) {
  if (nargs != 2) return cli_die("verify takes two images");
  runner r;
  int rc = runner_open(&r, c, 1);
  if (rc) return rc;
  int dim = fr_pipeline_dim(r.pipe);
  fr_face *faces = calloc(MAX_FACES, sizeof *faces);
  float *desc = calloc((size_t)MAX_FACES * dim, sizeof *desc);
  float *d2 = calloc((size_t)2 * dim, sizeof *d2);
  rc = 0;
  for (int i = 0; i < 2 && !rc; i++) {
    int n;
    if (process(&r, c, args[i], faces, desc, &n, 1)) rc = 1;
    else if (n == 0) rc = cli_die("%s: no face found", args[i]) - 1;
    else memcpy(d2 + (size_t)i * dim, desc + (size_t)main_face(faces, n) * dim, dim * sizeof(float));
  }
  if (!rc) {
    float thr = c->threshold > 0 ? c->threshold : fr_pipeline_threshold(r.pipe);
    float d = fr_distance(d2, d2 + dim, dim);
    if (c->json)
      printf("{\"distance\":%.6f,\"threshold\":%.4f,\"same\":%s}\n", d, thr, d <= thr ? "true" : "false");
    else
      printf("distance %.4f threshold %.4f same: %s\n", d, thr, d <= thr ? "true" : "false");
  }
  free(faces);
  free(desc);
  free(d2);
  runner_close(&r);
  return rc;
}

/* compare: every face of every image, then the distance matrix. */
static int cmd_compare(cli *c, char **args, int nargs) {
  if (nargs == 0) return cli_die("no image given");
  runner r;
  int rc = runner_open(&r, c, 1);
  if (rc) return rc;
  int dim = fr_pipeline_dim(r.pipe);
  int cap = 256, total = 0;
  float *all = malloc((size_t)cap * dim * sizeof(float));
  char (*label)[64] = malloc((size_t)cap * sizeof *label);
  fr_face *faces = calloc(MAX_FACES, sizeof *faces);
  float *desc = calloc((size_t)MAX_FACES * dim, sizeof *desc);
  int failures = 0;
  for (int i = 0; i < nargs; i++) {
    int n;
    if (process(&r, c, args[i], faces, desc, &n, 1)) {
      failures++;
      continue;
    }
    const char *base = strrchr(args[i], '/');
    base = base ? base + 1 : args[i];
    printf("%s: %d face%s\n", args[i], n, n == 1 ? "" : "s");
    for (int k = 0; k < n && total < cap; k++, total++) {
      const fr_face *f = &faces[k];
      snprintf(label[total], sizeof label[total], "%.40s#%d", base, k);
      printf("  [%d] %s box [%.0f, %.0f, %.0f, %.0f] score %.2f\n", total, label[total], f->box.x,
             f->box.y, f->box.width, f->box.height, f->score);
      memcpy(all + (size_t)total * dim, desc + (size_t)k * dim, dim * sizeof(float));
    }
  }
  float thr = c->threshold > 0 ? c->threshold : fr_pipeline_threshold(r.pipe);
  printf("\ndistance matrix (same person when distance <= %.2f, marked *):\n      ", thr);
  for (int j = 0; j < total; j++) printf(" %6d", j);
  printf("\n");
  for (int i = 0; i < total; i++) {
    printf("[%3d] ", i);
    for (int j = 0; j < total; j++) {
      float d = fr_distance(all + (size_t)i * dim, all + (size_t)j * dim, dim);
      printf(" %5.2f%c", d, i != j && d <= thr ? '*' : ' ');
    }
    printf("\n");
  }
  printf("\nsame-person calls:\n");
  int calls = 0;
  for (int i = 0; i < total; i++)
    for (int j = i + 1; j < total; j++) {
      float d = fr_distance(all + (size_t)i * dim, all + (size_t)j * dim, dim);
      if (d <= thr) {
        /* Within 0.1 of the threshold the model is unsure: at 0.6 on LFW,
         * 62 of its 96 errors lie within 0.1 of it (similarity alignment,
         * SSD first: `eval lfw --detector ssd --dump FILE`).
         * Say so rather than sound certain. */
        printf("  %s ~ %s (%.3f): %s\n", label[i], label[j], d,
               d <= thr - 0.1f ? "same" : "same, but close to the threshold");
        calls++;
      }
    }
  if (!calls) printf("  none: every face is a different person\n");
  free(all);
  free(label);
  free(faces);
  free(desc);
  runner_close(&r);
  return failures ? 1 : 0;
}

static int cmd_align(cli *c, char **args, int nargs) {
  if (nargs == 0) return cli_die("no image given");
  if (!c->out_dir) return cli_die("align needs --out DIR");
  if (mkdir(c->out_dir, 0777) != 0 && errno != EEXIST)
    return cli_die("cannot create %s: %s", c->out_dir, strerror(errno));
  runner r;
  int rc = runner_open(&r, c, 1);
  if (rc) return rc;
  fr_face *faces = calloc(MAX_FACES, sizeof *faces);
  int failures = 0;
  for (int i = 0; i < nargs; i++) {
    int n;
    if (process(&r, c, args[i], faces, NULL, &n, 0)) {
      failures++;
      continue;
    }
    fr_image img;
    fr_error err = {0};
    if (load_input(c, args[i], &img, &err) != FR_OK) {
      failures++;
      continue;
    }
    const char *base = strrchr(args[i], '/');
    base = base ? base + 1 : args[i];
    for (int k = 0; k < n; k++) {
      fr_image chip;
      char out[4096];
      snprintf(out, sizeof out, "%s/%s.face%d.png", c->out_dir, base, k);
      /* By default the chip the model sees: 112 for MobileFaceNet, else 150. */
      int side = c->size ? c->size : c->po.embedder == FR_EMBEDDER_MOBILEFACENET ? 112 : 150;
      if (fr_align(&img, &faces[k], c->po.align, side, &chip, &err) != FR_OK ||
          fr_image_save(&chip, out, &err) != FR_OK) {
        fprintf(stderr, "facerec: %s face %d: %s\n", args[i], k, err.message);
        failures++;
      } else {
        printf("%s\n", out);
      }
      fr_image_free(&chip);
    }
    fr_image_free(&img);
  }
  free(faces);
  runner_close(&r);
  return failures ? 1 : 0;
}

static int cmd_eval(cli *c, char **args, int nargs) {
  if (nargs >= 1 && strcmp(args[0], "detect") == 0) {
    if (!c->root) return cli_die("eval detect needs --root DIR");
    eval_detect_args d = {c->po.detector, c->po.detect, c->models, c->threads,
                          c->json,        c->verbose,   c->root};
    return eval_detect(&d);
  }
  if (nargs < 1 || strcmp(args[0], "lfw") != 0)
    return cli_die("usage: facerec eval lfw --root DIR --pairs FILE");
  if (!c->root || !c->pairs) return cli_die("eval lfw needs --root DIR and --pairs FILE");
  /* LFW's default pipeline starts the detector cascade with TinyFaceDetector
   * at 320: its boxes frame the face the way the landmark net does best
   * (measured: 98.70% against 98.58% when SSD goes first; README). */
  if (!c->detector_given) c->po.detector = FR_DETECTOR_TINY;
  if (!c->input_size_given && c->po.detector == FR_DETECTOR_TINY) c->po.detect.input_size = 320;
  eval_lfw_args a = {c->po,     c->models, c->threads, c->json,    c->root,
                     c->pairs,  c->folds_limit, c->dump, c->variants, c->verbose, c->metric};
  return eval_lfw(&a);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
    printf("facerec %s (kernels: %s)\n", fr_version(), fr_kernels_name());
    return 0;
  }
  /* The recognition commands parse their own options (--db and friends). */
  if (strcmp(cmd, "serve") == 0) return fr_cli_serve(argc - 2, argv + 2);
  if (strcmp(cmd, "convert") == 0) return fr_cli_convert(argc - 2, argv + 2);
  if (strcmp(cmd, "quantize") == 0) return fr_cli_quantize(argc - 2, argv + 2);
  if (strcmp(cmd, "infer") == 0) return fr_cli_infer(argc - 2, argv + 2);
  int grc = fr_cli_gallery(cmd, argc - 2, argv + 2);
  if (grc >= 0) return grc;
  cli c;
  memset(&c, 0, sizeof c);
  fr_pipeline_options_default(&c.po);
  c.threads = 0;
  char **args;
  int nargs;
  int rc = parse_args(argc - 2, argv + 2, &c, &args, &nargs);
  if (rc) {
    free(args);
    return rc;
  }
  if (c.threads == 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    c.threads = n > 0 ? (int)n : 1;
  }
  if (strcmp(cmd, "detect") == 0) rc = cmd_faces(&c, args, nargs, 0);
  else if (strcmp(cmd, "embed") == 0) rc = cmd_faces(&c, args, nargs, 1);
  else if (strcmp(cmd, "verify") == 0) rc = cmd_verify(&c, args, nargs);
  else if (strcmp(cmd, "compare") == 0) rc = cmd_compare(&c, args, nargs);
  else if (strcmp(cmd, "align") == 0) rc = cmd_align(&c, args, nargs);
  else if (strcmp(cmd, "eval") == 0) rc = cmd_eval(&c, args, nargs);
  else {
    usage(stderr);
    rc = cli_die("unknown command '%s'", cmd);
  }
  free(args);
  return rc;
}
