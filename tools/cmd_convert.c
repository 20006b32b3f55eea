/*
 * cmd_convert.c - `facerec convert`: loads networks from their original
 * formats and writes them as facerec model files (src/nn/model_file.h), then
 * checks each file: it must load and compute exactly what the original does.
 * Prints file sizes and load times before and after.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "align/align_internal.h"
#include "detect/detect_internal.h"
#include "embed/embed_internal.h"
#include "nn/model_file.h"

const char fr_cli_convert_usage[] =
    "  convert [NAME...]          convert networks to facerec model files (NAME.frm) that\n"
    "                             load in milliseconds (--models DIR, --out DIR; names:\n"
    "                             ssd tiny mtcnn blazeface blazeface-full faceapi\n"
    "                             mobilefacenet landmarks68 landmarks68-tiny)\n";

typedef fr__model_net net;
#define k_nets fr__model_nets
#define N_NETS fr__model_n_nets

/* A network loaded from its original files: whichever object holds it, and
 * borrowed pointers to its graphs (MTCNN has three, the others one), the
 * square input side each is compared at, and (SSD) its anchors. */
typedef struct loaded {
  fr_detector *det;
  fr_embedder *emb;
  fr_landmarker *lm;
  int n_graphs;
  const fr__graph *g[FR__MODEL_MAX_GRAPHS];
  int side[FR__MODEL_MAX_GRAPHS];
  const float *anchors;
  int input_size, dim;
} loaded;

static void unload(loaded *l) {
  fr_detector_destroy(l->det);
  fr_embedder_destroy(l->emb);
  fr_landmarker_destroy(l->lm);
  memset(l, 0, sizeof *l);
}

/* Loads n from its original files (converted files turned off) with the
 * given kernels. */
static fr_status load_original(const net *n, const char *dir, const fr__kernels *k, loaded *l,
                               fr_error *err) {
  memset(l, 0, sizeof *l);
  setenv("FACEREC_NO_FRM", "1", 1);
  fr_status st;
  if (n->role == FR__MODEL_DETECTOR) {
    st = fr__detector_create_with_kernels((fr_detector_kind)n->kind, dir, k, &l->det, err);
    if (st == FR_OK) {
      l->n_graphs = fr__detector_graphs(l->det, l->g, l->side, FR__MODEL_MAX_GRAPHS);
      l->anchors = l->det->anchors;
      l->input_size = l->det->impl->input_size;
      if (l->n_graphs < 1 || l->n_graphs > FR__MODEL_MAX_GRAPHS)
        st = fr__fail(err, FR_E_INTERNAL, "%s has %d networks", n->name, l->n_graphs);
    }
  } else if (n->role == FR__MODEL_EMBEDDER) {
    st = fr__embedder_create_with((fr_embedder_kind)n->kind, dir, k, &l->emb, err);
    if (st == FR_OK) {
      l->n_graphs = 1;
      l->g[0] = l->emb->g;
      l->side[0] = l->input_size = l->emb->size;
      l->dim = l->emb->dim;
    }
  } else {
    st = fr__landmarker_create_with((fr_landmarker_kind)n->kind, dir, k, &l->lm, err);
    if (st == FR_OK) {
      l->n_graphs = 1;
      l->g[0] = fr__landmarker_graph(l->lm);
      l->side[0] = l->input_size = FR__LANDMARK_INPUT;
      l->dim = 2 * FR_MAX_LANDMARKS;
    }
  }
  unsetenv("FACEREC_NO_FRM");
  if (st != FR_OK) unload(l);
  return st;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

#define RUNS 5

/* Median load time in ms of the original files and of the model file, with
 * the best kernels, over RUNS loads each. */
static fr_status time_loads(const net *n, const char *dir, const char *frm, double *orig_ms,
                            double *frm_ms, fr_error *err) {
  double t[RUNS];
  for (int r = 0; r < RUNS; r++) {
    loaded l;
    double t0 = fr__now();
    fr_status st = load_original(n, dir, NULL, &l, err);
    t[r] = (fr__now() - t0) * 1e3;
    unload(&l);
    if (st != FR_OK) return st;
  }
  qsort(t, RUNS, sizeof *t, cmp_double);
  *orig_ms = t[RUNS / 2];
  for (int r = 0; r < RUNS; r++) {
    fr__model m;
    double t0 = fr__now();
    fr_status st = fr__model_load(frm, NULL, &m, err);
    t[r] = (fr__now() - t0) * 1e3;
    fr__model_release(&m);
    if (st != FR_OK) return st;
  }
  qsort(t, RUNS, sizeof *t, cmp_double);
  *frm_ms = t[RUNS / 2];
  return FR_OK;
}

/*
 * Runs two graphs on the same pseudo-random input at side x side and compares
 * every output. Returns the largest absolute difference (0 when identical),
 * or a negative value when the outputs differ in number or shape.
 */
static double compare_graphs(const fr__graph *a, const fr__graph *b, int side, fr_error *err) {
  fr__plan *pa = NULL, *pb = NULL;
  double worst = -1;
  if (fr__plan_create(a, 1, side, side, 1, &pa, err) != FR_OK ||
      fr__plan_create(b, 1, side, side, 1, &pb, err) != FR_OK)
    goto done;
  size_t count = (size_t)side * side * (size_t)fr__channels(a, fr__graph_input(a));
  if (fr__channels(b, fr__graph_input(b)) != fr__channels(a, fr__graph_input(a))) goto done;
  float *ia = fr__plan_input(pa), *ib = fr__plan_input(pb);
  uint32_t s = 12345;
  for (size_t i = 0; i < count; i++) {
    s = s * 1664525u + 1013904223u;
    ia[i] = ib[i] = (float)(s >> 8) / (float)(1u << 24) * 2.f - 1.f;
  }
  fr__run(a, pa, NULL);
  fr__run(b, pb, NULL);
  int outs[8];
  int no = fr__graph_outputs(a, outs);
  if (fr__graph_outputs(b, outs) != no) goto done;
  worst = 0;
  for (int k = 0; k < no && worst >= 0; k++) {
    int sa[4], sb[4];
    const float *oa = fr__plan_output(pa, k, sa), *ob = fr__plan_output(pb, k, sb);
    if (!oa || !ob || memcmp(sa, sb, sizeof sa) != 0) {
      worst = -1;
      break;
    }
    size_t nv = (size_t)sa[0] * sa[1] * sa[2] * sa[3];
    for (size_t i = 0; i < nv; i++) {
      double d = oa[i] > ob[i] ? (double)oa[i] - ob[i] : (double)ob[i] - oa[i];
      if (d > worst || d != d) worst = d != d ? 1e30 : d;
    }
  }
done:
  fr__plan_destroy(pa);
  fr__plan_destroy(pb);
  return worst;
}

static double file_mb(const char *dir, const char *file) {
  char path[4096];
  struct stat sb;
  if (!file || fr__path_join(path, sizeof path, dir, file, NULL) != FR_OK || stat(path, &sb) != 0)
    return 0;
  return (double)sb.st_size / (1024.0 * 1024.0);
}

/* Converts one network; prints one line. Returns 0, or 1 on failure. */
static int convert_one(const net *n, const char *models, const char *out_dir) {
  fr_error err = {0, ""};
  loaded rec;
  fr_status st = load_original(n, models, &fr__kernels_record, &rec, &err);
  if (st != FR_OK) {
    fprintf(stderr, "facerec: convert %s: %s\n", n->name, err.message);
    return 1;
  }
  fr__model m;
  memset(&m, 0, sizeof m);
  m.role = n->role;
  snprintf(m.name, sizeof m.name, "%s", n->name);
  m.input_size = rec.input_size;
  m.dim = rec.dim;
  /* Borrowed: the model is serialised, never released. */
  m.n_graphs = rec.n_graphs;
  for (int k = 0; k < rec.n_graphs; k++) m.graphs[k] = (fr__graph *)rec.g[k];
  if (rec.anchors) {
    m.n_arrays = 1;
    snprintf(m.arrays[0].name, sizeof m.arrays[0].name, "anchors");
    m.arrays[0].data = (float *)rec.anchors;
    m.arrays[0].count = (size_t)FR__SSD_ANCHORS * 4;
  }
  char file[64], path[4096];
  snprintf(file, sizeof file, "%s%s", n->name, FR__MODEL_EXT);
  st = fr__path_join(path, sizeof path, out_dir, file, &err);
  if (st == FR_OK) st = fr__model_save(&m, path, &err);
  unload(&rec);
  if (st != FR_OK) {
    fprintf(stderr, "facerec: convert %s: %s\n", n->name, err.message);
    return 1;
  }

  /* The check: the file loads, and computes what the original computes. */
  loaded orig;
  fr__model back;
  memset(&back, 0, sizeof back);
  st = load_original(n, models, NULL, &orig, &err);
  if (st == FR_OK) st = fr__model_load(path, NULL, &back, &err);
  double diff = -1;
  if (st == FR_OK && back.n_graphs == orig.n_graphs) {
    diff = 0;
    for (int k = 0; k < orig.n_graphs && diff == 0; k++)
      diff = compare_graphs(orig.g[k], back.graphs[k], orig.side[k], &err);
  }
  unload(&orig);
  fr__model_release(&back);
  if (st != FR_OK || diff != 0) {
    if (st == FR_OK)
      fprintf(stderr, "facerec: convert %s: %s differs from the original (%s %g)\n", n->name,
              path, diff < 0 ? "shapes;" : "max difference", diff);
    else
      fprintf(stderr, "facerec: convert %s: %s\n", n->name, err.message);
    remove(path);
    return 1;
  }
  double orig_ms, frm_ms;
  st = time_loads(n, models, path, &orig_ms, &frm_ms, &err);
  if (st != FR_OK) {
    fprintf(stderr, "facerec: convert %s: %s\n", n->name, err.message);
    return 1;
  }
  printf("%-17s %s: %.2f MB (original %.2f MB); load %.1f ms -> %.1f ms (median of %d); "
         "outputs identical\n",
         n->name, path, file_mb(out_dir, file),
         file_mb(models, n->files[0]) + file_mb(models, n->files[1]) +
             file_mb(models, n->files[2]),
         orig_ms, frm_ms, RUNS);
  return 0;
}

int fr_cli_convert(int argc, char **argv) {
  const char *models = NULL, *out_dir = NULL;
  /* More names than networks can only repeat one: a fixed bound will do. */
  const char *names[32];
  int n_names = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--models") == 0 || strcmp(a, "--out") == 0) {
      if (!v) return cli_die("option %s needs a value", a);
      if (a[2] == 'm')
        models = v;
      else
        out_dir = v;
      i++;
    } else if (a[0] == '-') {
      return cli_die("convert: unknown option %s", a);
    } else {
      int k = 0;
      while (k < N_NETS && strcmp(k_nets[k].name, a) != 0) k++;
      if (k == N_NETS)
        return cli_die("convert: unknown network '%s' (ssd, tiny, mtcnn, blazeface, "
                       "blazeface-full, faceapi, mobilefacenet, landmarks68, landmarks68-tiny)",
                       a);
      if (n_names == N_NETS || n_names == 32) return cli_die("convert: too many names");
      names[n_names++] = a;
    }
  }
  char dir[4096];
  if (!models) {
    /* The folder the default network's files are in, as the other commands
     * find it. */
    fr_error err = {0, ""};
    if (fr_model_path(k_nets[0].files[0], dir, sizeof dir, &err) != FR_OK)
      return cli_die("convert: %s (give --models DIR)", err.message);
    models = dir;
  }
  if (!out_dir) out_dir = models;
  struct stat sb;
  if (stat(out_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
    return cli_die("convert: --out %s is not a folder", out_dir);
  int failed = 0, done = 0;
  for (int k = 0; k < N_NETS; k++) {
    const net *n = &k_nets[k];
    int wanted = n_names == 0;
    for (int j = 0; j < n_names; j++) wanted |= strcmp(names[j], n->name) == 0;
    if (!wanted) continue;
    /* Without names, networks whose files are absent are skipped. */
    if (n_names == 0 && file_mb(models, n->files[0]) == 0) {
      printf("%-17s skipped: %s/%s not found\n", n->name, models, n->files[0]);
      continue;
    }
    failed += convert_one(n, models, out_dir);
    done++;
  }
  if (done == 0) fprintf(stderr, "facerec: convert: nothing to convert in %s\n", models);
  return failed || done == 0 ? 1 : 0;
}
