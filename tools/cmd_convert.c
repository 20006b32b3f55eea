/*
 * cmd_convert.c - `facerec convert`: reads networks from their original
 * formats and writes them as facerec model files (src/nn/model_file.h), then
 * checks each file: it must load and compute exactly what the original does.
 * Prints file sizes and load times before and after. The networks are the
 * ones the detector, embedder and landmarker tables declare (their
 * fr__net_spec, src/nn/loader.h), so a new model converts without a line
 * here.
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
#include "nn/loader.h"
#include "nn/netfile.h"

const char fr_cli_convert_usage[] =
    "  convert [NAME...]          convert networks to facerec model files (NAME.frm) that\n"
    "                             load in milliseconds (--models DIR, --out DIR; names: the\n"
    "                             detectors, embedders and landmark nets with a network,\n"
    "                             such as ssd, faceapi, landmarks68; none: all of them)\n"
    "  convert CARD.json          a model you bring (its card, or its network file with the\n"
    "                             card beside it) -> NAME.frm in the card's folder or --out\n";

/* A network to convert: what its table declares, and the role its model
 * file records. */
typedef struct net {
  const fr__net_spec *spec;
  fr__model_role role;
} net;

/* More than the tables will hold for a long time; list_nets stops there. */
#define MAX_NETS 64

static int add_net(net *nets, int n, const fr__net_spec *spec, fr__model_role role) {
  if (n < MAX_NETS && fr__net_convertible(spec)) nets[n++] = (net){spec, role};
  return n;
}

/* The networks of the three tables that have a model file, in table order:
 * detectors, embedders, landmark nets. Returns their count. */
static int list_nets(net nets[MAX_NETS]) {
  int n = 0;
  for (int i = 0; i < fr__detector_count(); i++)
    n = add_net(nets, n, &fr__detector_at(i)->net, FR__MODEL_DETECTOR);
  for (int i = 0; i < fr__embedder_count(); i++)
    n = add_net(nets, n, &fr__embedder_at(i)->net, FR__MODEL_EMBEDDER);
  for (int i = 0; i < fr__landmarker_count(); i++)
    n = add_net(nets, n, &fr__landmarker_at(i)->net, FR__MODEL_LANDMARKER);
  return n;
}

/* Reads n from its original files in dir (never a model file), as the
 * model file would hold it, with the given kernels. A missing file is the
 * error the registries give for it. */
static fr_status load_original(const net *n, const char *dir, const fr__kernels *k, fr__model *m,
                               fr_error *err) {
  memset(m, 0, sizeof *m);
  char found[4096];
  fr_status st = fr__model_dir(n->spec->files[0], n->spec->title, dir, NULL, found, sizeof found,
                               err);
  if (st != FR_OK) return st;
  return fr__net_load_original(n->spec, n->role, dir, k, m, err);
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
    fr__model m;
    double t0 = fr__now();
    fr_status st = load_original(n, dir, NULL, &m, err);
    t[r] = (fr__now() - t0) * 1e3;
    fr__model_release(&m);
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
  int outs[FR__MAX_OUTPUTS];
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

/* Whether b holds a's arrays (SSD's anchors) bit for bit. */
static int same_arrays(const fr__model *a, const fr__model *b) {
  if (a->n_arrays != b->n_arrays) return 0;
  for (int i = 0; i < a->n_arrays; i++) {
    const fr__model_array *x = &a->arrays[i], *y = &b->arrays[i];
    if (strcmp(x->name, y->name) != 0 || x->count != y->count ||
        memcmp(x->data, y->data, x->count * sizeof *x->data) != 0)
      return 0;
  }
  return 1;
}

/* The sum of the sizes of n's original files in dir, in MB. */
static double originals_mb(const net *n, const char *dir) {
  double mb = 0;
  for (int f = 0; f < FR__NET_FILES && n->spec->files[f]; f++)
    mb += file_mb(dir, n->spec->files[f]);
  return mb;
}

/* Converts one network; prints one line. Returns 0, or 1 on failure. */
static int convert_one(const net *n, const char *models, const char *out_dir) {
  const char *name = n->spec->name;
  fr_error err = {0, ""};
  fr__model rec;
  fr_status st = load_original(n, models, &fr__kernels_record, &rec, &err);
  if (st != FR_OK) {
    fprintf(stderr, "facerec: convert %s: %s\n", name, err.message);
    return 1;
  }
  char file[64], path[4096];
  snprintf(file, sizeof file, "%s%s", name, FR__MODEL_EXT);
  st = fr__path_join(path, sizeof path, out_dir, file, &err);
  if (st == FR_OK) st = fr__model_save(&rec, path, &err);
  fr__model_release(&rec);
  if (st != FR_OK) {
    fprintf(stderr, "facerec: convert %s: %s\n", name, err.message);
    return 1;
  }

  /* The check: the file loads, and computes what the original computes. */
  fr__model orig, back;
  memset(&back, 0, sizeof back);
  st = load_original(n, models, NULL, &orig, &err);
  if (st == FR_OK) st = fr__model_load(path, NULL, &back, &err);
  double diff = -1;
  if (st == FR_OK && back.n_graphs == orig.n_graphs && same_arrays(&orig, &back)) {
    diff = 0;
    for (int k = 0; k < orig.n_graphs && diff == 0; k++)
      diff = compare_graphs(orig.graphs[k], back.graphs[k], fr__net_side(n->spec, k), &err);
  }
  fr__model_release(&orig);
  fr__model_release(&back);
  if (st != FR_OK || diff != 0) {
    if (st == FR_OK)
      fprintf(stderr, "facerec: convert %s: %s differs from the original (%s %g)\n", name, path,
              diff < 0 ? "shapes or arrays;" : "max difference", diff);
    else
      fprintf(stderr, "facerec: convert %s: %s\n", name, err.message);
    remove(path);
    return 1;
  }
  double orig_ms, frm_ms;
  st = time_loads(n, models, path, &orig_ms, &frm_ms, &err);
  if (st != FR_OK) {
    fprintf(stderr, "facerec: convert %s: %s\n", name, err.message);
    return 1;
  }
  printf("%-17s %s: %.2f MB (original %.2f MB); load %.1f ms -> %.1f ms (median of %d); "
         "outputs identical\n",
         name, path, file_mb(out_dir, file), originals_mb(n, models), orig_ms, frm_ms, RUNS);
  return 0;
}

/* "ssd, tiny, ...": the names convert takes, for its error message. */
/*
 * A user's embedder: its card (or network file with the card beside it) ->
 * out_dir/NAME.frm, checked like the built-in networks (the file must load
 * and compute what the original does). The card can then name the .frm as
 * its "model" (with "layout": "nhwc": the file holds the engine's graph).
 */
static int convert_card(const char *path, const char *out_dir) {
  fr_error err = {0, ""};
  fr__card card;
  if (fr__card_read(path, 0, &card, &err) != FR_OK) return cli_die("convert: %s", err.message), 1;
  if (strlen(card.name) >= FR__MODEL_NAME_MAX)
    return cli_die("convert: card name '%s' is longer than %d bytes", card.name, FR__MODEL_NAME_MAX - 1), 1;
  fr__netfile_options opt;
  memset(&opt, 0, sizeof opt);
  opt.input_name = card.input_name[0] ? card.input_name : NULL;
  opt.ndims = 4;
  int64_t nchw[4] = {1, 3, card.input_size, card.input_size}, nhwc[4] = {1, card.input_size, card.input_size, 3};
  memcpy(opt.dims, card.nhwc ? nhwc : nchw, sizeof nchw);
  fr__netfile rec, best;
  memset(&rec, 0, sizeof rec);
  memset(&best, 0, sizeof best);
  double t0 = fr__now();
  opt.kernels = &fr__kernels_record;
  fr_status st = fr__netfile_load(card.model_path, &opt, &rec, &err);
  double orig_ms = (fr__now() - t0) * 1e3;
  opt.kernels = NULL;
  if (st == FR_OK) st = fr__netfile_load(card.model_path, &opt, &best, &err);
  char out[4096];
  int rc = 1;
  if (st != FR_OK) {
    cli_die("convert: %s: %s", card.model_path, err.message);
    goto done;
  }
  if (snprintf(out, sizeof out, "%s/%s.frm", out_dir, card.name) >= (int)sizeof out) {
    cli_die("convert: output path too long");
    goto done;
  }
  fr__model m;
  memset(&m, 0, sizeof m);
  m.role = FR__MODEL_EMBEDDER;
  snprintf(m.name, sizeof m.name, "%.*s", (int)sizeof m.name - 1, card.name);
  m.input_size = card.input_size;
  m.dim = card.dim;
  m.n_graphs = 1;
  m.graphs[0] = rec.graph;
  st = fr__model_save(&m, out, &err);
  if (st != FR_OK) {
    cli_die("convert: %s", err.message);
    goto done;
  }
  fr__model back;
  t0 = fr__now();
  st = fr__model_load(out, NULL, &back, &err);
  double frm_ms = (fr__now() - t0) * 1e3;
  if (st != FR_OK) {
    cli_die("convert: %s does not load: %s", out, err.message);
    goto done;
  }
  double worst = compare_graphs(best.graph, back.graphs[0], card.input_size, &err);
  fr__model_release(&back);
  if (worst != 0) {
    cli_die("convert: %s computes other values than %s (largest difference %g)", out,
            card.model_path, worst);
    goto done;
  }
  printf("%-17s %s -> %s: loads in %.1f ms (was %.1f ms), same outputs\n", card.name,
         card.model_path, out, frm_ms, orig_ms);
  rc = 0;
done:
  fr__netfile_release(&rec);
  fr__netfile_release(&best);
  return rc;
}

static void name_list(const net *nets, int n, char *buf, size_t size) {
  size_t at = 0;
  buf[0] = '\0';
  for (int k = 0; k < n && at < size; k++) {
    int w = snprintf(buf + at, size - at, "%s%s", k ? ", " : "", nets[k].spec->name);
    if (w < 0) break;
    at += (size_t)w;
  }
}

int fr_cli_convert(int argc, char **argv) {
  const char *models = NULL, *out_dir = NULL;
  net nets[MAX_NETS];
  int n_nets = list_nets(nets);
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
    } else if (strchr(a, '.')) {
      /* A user's model: a card or a network file with its card. */
      if (n_names) return cli_die("convert: give either network names or one model card");
      for (int j = i + 1; j < argc; j++)
        if (strcmp(argv[j], "--out") == 0 && j + 1 < argc) out_dir = argv[j + 1];
      if (!out_dir) {
        static char here[4096];
        const char *slash = strrchr(a, '/');
        snprintf(here, sizeof here, "%.*s", slash ? (int)(slash - a) : 1, slash ? a : ".");
        out_dir = here;
      }
      return convert_card(a, out_dir);
    } else {
      int k = 0;
      while (k < n_nets && strcmp(nets[k].spec->name, a) != 0) k++;
      if (k == n_nets) {
        char list[1024];
        name_list(nets, n_nets, list, sizeof list);
        return cli_die("convert: unknown network '%s' (%s)", a, list);
      }
      if (n_names == n_nets || n_names == 32) return cli_die("convert: too many names");
      names[n_names++] = a;
    }
  }
  char dir[4096];
  if (!models) {
    /* The folder the default network's files are in, as the other commands
     * find it. */
    fr_error err = {0, ""};
    if (n_nets == 0 || fr_model_path(nets[0].spec->files[0], dir, sizeof dir, &err) != FR_OK)
      return cli_die("convert: %s (give --models DIR)", err.message);
    models = dir;
  }
  if (!out_dir) out_dir = models;
  struct stat sb;
  if (stat(out_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
    return cli_die("convert: --out %s is not a folder", out_dir);
  int failed = 0, done = 0;
  for (int k = 0; k < n_nets; k++) {
    const net *n = &nets[k];
    int wanted = n_names == 0;
    for (int j = 0; j < n_names; j++) wanted |= strcmp(names[j], n->spec->name) == 0;
    if (!wanted) continue;
    /* Without names, networks whose files are absent are skipped. */
    if (n_names == 0 && file_mb(models, n->spec->files[0]) == 0) {
      printf("%-17s skipped: %s/%s not found\n", n->spec->name, models, n->spec->files[0]);
      continue;
    }
    failed += convert_one(n, models, out_dir);
    done++;
  }
  if (done == 0) fprintf(stderr, "facerec: convert: nothing to convert in %s\n", models);
  return failed || done == 0 ? 1 : 0;
}
