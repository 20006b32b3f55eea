/*
 * cmd_infer.c - `facerec infer`: runs any network file the engine imports
 * (ONNX, TFLite or a facerec model file, src/nn/netfile.h) on a tensor from
 * a .npy file and writes its first output as a .npy file, both in the
 * model's own layout, so that the engine's results can be compared with
 * another runtime's on the same input. With --repeat it is also the
 * benchmark of a single network: the median time of a run, input to output,
 * on the engine's kernels.
 */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nn/netfile.h"
#include "npy.h"

const char fr_cli_infer_usage[] =
    "  infer MODEL --input X.npy  run a network file (.onnx, .tflite, .frm) on a float32\n"
    "                             tensor in the model's layout; writes its first output\n"
    "                             (--output Y.npy, --output-index K for another one,\n"
    "                             --input-name N, --repeat R: median time of R runs\n"
    "                             after a warm-up, --profile: each node's time and\n"
    "                             GFLOP/s, --threads, --json)\n";

/* Prints "facerec infer: ..." and returns status: 2 for usage errors, as
 * every command has it, 1 for failures of the run itself. */
static int report(int status, const char *fmt, ...) FR__PRINTF(2, 3);
static int report(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("facerec infer: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return status;
}
#define usage_error(...) report(2, __VA_ARGS__)
#define fail(...) report(1, __VA_ARGS__)

/* "[1,112,112,3]" ("?" for an open dim) into buf. */
static const char *dims_str(const int64_t *dims, int n, char *buf, size_t size) {
  size_t at = 0;
  buf[0] = '\0';
  for (int k = 0; k <= n && at < size; k++) {
    int w = k == n       ? snprintf(buf + at, size - at, "]")
            : dims[k] < 0 ? snprintf(buf + at, size - at, "%s?", k ? "," : "[")
                          : snprintf(buf + at, size - at, "%s%lld", k ? "," : "[",
                                     (long long)dims[k]);
    if (w < 0) break;
    at += (size_t)w;
  }
  if (n == 0 && size > 2) snprintf(buf, size, "[]");
  return buf;
}

static void json_dims(const int64_t *dims, int n) {
  putchar('[');
  for (int k = 0; k < n; k++) printf("%s%lld", k ? "," : "", (long long)dims[k]);
  putchar(']');
}

/*
 * The engine shape [n, h, w, c] of a value of the model with the given
 * dims: an NCHW value [N, C, H, W] is [N, H, W, C]; a row-major one of rank
 * r <= 4 is right-aligned ([N, F] is [N, 1, 1, F]). 0 (with a message in
 * why) when the engine cannot hold it.
 */
static int engine_shape(fr__layout layout, const int64_t *d, int r, int e[4], char *why,
                        size_t size) {
  if (r < 1 || r > 4 || (layout == FR__LAYOUT_NCHW && r != 4)) {
    snprintf(why, size, "a value of rank %d (the engine holds ranks 1 to 4)", r);
    return 0;
  }
  int64_t v[4] = {d[0], 1, 1, 1};
  if (layout == FR__LAYOUT_NCHW) {
    v[1] = d[2], v[2] = d[3], v[3] = d[1];
  } else {
    for (int i = 1; i < r; i++) v[4 - r + i] = d[i];
  }
  for (int i = 0; i < 4; i++)
    if (v[i] < 1 || v[i] > 1 << 30) {
      snprintf(why, size, "a dimension of %lld (1 to 2^30 are run)", (long long)v[i]);
      return 0;
    }
  for (int i = 0; i < 4; i++) e[i] = (int)v[i];
  return 1;
}

/*
 * The model's dims of output d, which the engine computed as e: where the
 * model declares a dim it must be the engine's, and the open ones are taken
 * from the engine shape by the same mapping as engine_shape. Returns the
 * rank, or 0 with a message when the two disagree.
 */
static int model_shape(const fr__io_desc *d, const int e[4], int64_t *out, char *why,
                       size_t size) {
  int r = d->ndims;
  if (d->layout == FR__LAYOUT_NCHW) {
    r = 4;
    out[0] = e[0], out[1] = e[3], out[2] = e[1], out[3] = e[2];
  } else if (r == 0) {
    /* A model that declares nothing gets the engine's shape as it is. */
    r = 4;
    for (int i = 0; i < 4; i++) out[i] = e[i];
  } else if (d->unbatched && r <= 3 && e[0] == 1) {
    /* A first dim that is not the batch (netfile.h): all the dims are
     * right-aligned behind n = 1. */
    int lead = 4 - r;
    for (int i = 0; i < r; i++) out[i] = e[lead + i];
    for (int i = 1; i < lead; i++)
      if (e[i] != 1) r = -1;
  } else if (r <= 4) {
    /* Right-aligned: what the engine holds in front of the model's dims
     * must be ones. */
    int lead = 4 - r;
    out[0] = e[0];
    for (int i = 1; i < r; i++) out[i] = e[lead + i];
    for (int i = 1; i <= lead; i++)
      if (e[i] != 1) r = -1;
  } else {
    r = -1;
  }
  int ok = r > 0;
  for (int i = 0; ok && i < r && d->ndims == r; i++)
    if (d->dims[i] >= 0 && d->dims[i] != out[i]) ok = 0;
  if (!ok) {
    char a[128], b[128];
    int64_t e64[4] = {e[0], e[1], e[2], e[3]};
    snprintf(why, size, "the engine computes %s for output %s, which the model declares %s",
             r > 0 ? dims_str(out, r, a, sizeof a) : dims_str(e64, 4, a, sizeof a), d->name,
             dims_str(d->dims, d->ndims, b, sizeof b));
    return 0;
  }
  return r;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

typedef struct infer_args {
  const char *model, *input, *output, *input_name;
  int threads, repeat, json, output_index, profile;
} infer_args;

/* --profile: where a run's time goes. Every node is timed through the
 * engine's observer, over `runs` runs after the others, and listed with its
 * shape and, for the convolutions, effective GFLOP/s (nominal multiply-adds,
 * 2 FLOP each, over the time; Winograd layers do fewer). */
static double prof_last;
static double *prof_acc;
static size_t *prof_count;
static int prof_idx;
static void prof_observe(void *arg, int tensor, const float *data, size_t count) {
  (void)arg, (void)tensor, (void)data;
  double t = now_ms();
  if (prof_idx > 0) {
    prof_acc[prof_idx - 1] += t - prof_last;
    prof_count[prof_idx - 1] = count;
  }
  prof_idx++;
  prof_last = now_ms();
}

static int profile(const fr__netfile *nf, fr__plan *plan, fr_pool *pool, int runs) {
  int nn = fr__graph_nodes(nf->graph);
  prof_acc = calloc((size_t)nn + 1, sizeof *prof_acc);
  prof_count = calloc((size_t)nn + 1, sizeof *prof_count);
  if (!prof_acc || !prof_count) {
    free(prof_acc);
    free(prof_count);
    return -1;
  }
  for (int r = 0; r < runs; r++) {
    prof_idx = 0;
    prof_last = now_ms();
    fr__run_observe(nf->graph, plan, pool, prof_observe, NULL);
  }
  static const char *const names[] = {
      "conv",  "dwconv", "fc",     "add",    "maxpool", "avgpool", "pad",    "mean",
      "act",   "binary", "unary",  "prelu",  "softmax", "reduce",  "concat", "reshape",
      "resize", "pad_full", "conv_u8", "conv_general", "transpose", "slice"};
  double total = 0;
  for (int i = 0; i < nn; i++) total += prof_acc[i];
  printf("node  op            kernel  cin   cout  output elements      ms/run  GFLOP/s  share\n");
  for (int i = 0; i < nn; i++) {
    fr__node_info in;
    if (!fr__graph_node_info(nf->graph, i, &in)) continue;
    double ms = prof_acc[i] / runs;
    int cin = fr__channels(nf->graph, in.in[0]);
    double macs = 0;
    if (in.op == FR__NODE_CONV || in.op == FR__NODE_CONV_U8)
      macs = (double)prof_count[i] * in.kh * in.kw * cin;
    else if (in.op == FR__NODE_FC)
      macs = (double)prof_count[i] * in.cin;
    else if (in.op == FR__NODE_DWCONV)
      macs = (double)prof_count[i] * in.kh * in.kw;
    const char *op = (size_t)in.op < sizeof names / sizeof names[0] ? names[in.op] : "?";
    printf("%4d  %-12s  %2dx%-2d  %4d  %5d  %15zu  %10.4f", i, op, in.kh, in.kw, cin,
           fr__channels(nf->graph, in.out), prof_count[i], ms);
    if (macs > 0 && ms > 0) printf("  %7.0f", 2 * macs / (ms * 1e-3) / 1e9);
    else printf("  %7s", "-");
    printf("  %4.1f%%\n", total > 0 ? 100 * prof_acc[i] / total : 0);
  }
  printf("total %.3f ms per run (%d runs, observed; the observer adds a little)\n", total / runs, runs);
  free(prof_acc);
  free(prof_count);
  return 0;
}

static int parse(int argc, char **argv, infer_args *a) {
  memset(a, 0, sizeof *a);
  for (int i = 0; i < argc; i++) {
    const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(o, "--json") == 0 || strcmp(o, "--profile") == 0) {
      if (o[2] == 'j')
        a->json = 1;
      else
        a->profile = 1;
      continue;
    }
    if (strcmp(o, "--") == 0) {
      for (i++; i < argc; i++) {
        if (a->model) return usage_error("one model only ('%s' is a second)", argv[i]);
        a->model = argv[i];
      }
      break;
    }
    if (o[0] != '-' || o[1] == '\0') {
      if (a->model) return usage_error("one model only ('%s' is a second)", o);
      a->model = o;
      continue;
    }
    int known = strcmp(o, "--input") == 0 || strcmp(o, "--output") == 0 ||
                strcmp(o, "--input-name") == 0 || strcmp(o, "--threads") == 0 ||
                strcmp(o, "--repeat") == 0 || strcmp(o, "--output-index") == 0;
    if (!known) return usage_error("unknown option %s (see facerec --help)", o);
    if (!v) return usage_error("option %s needs a value", o);
    i++;
    if (strcmp(o, "--input") == 0) a->input = v;
    else if (strcmp(o, "--output") == 0) a->output = v;
    else if (strcmp(o, "--input-name") == 0) a->input_name = v;
    else if (strcmp(o, "--output-index") == 0) {
      if (!cli_parse_int(v, 0, 15, &a->output_index))
        return usage_error("--output-index wants 0..15, not '%s'", v);
    }
    else if (strcmp(o, "--threads") == 0) {
      if (!cli_parse_int(v, 1, 256, &a->threads))
        return usage_error("--threads wants 1..256, not '%s'", v);
    } else if (!cli_parse_int(v, 1, 100000, &a->repeat)) {
      return usage_error("--repeat wants 1..100000, not '%s'", v);
    }
  }
  if (!a->model) return usage_error("give the model file (facerec infer MODEL --input X.npy)");
  if (!a->input) return usage_error("give the input tensor (--input X.npy)");
  if (a->threads == 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    a->threads = n > 0 ? (n > 256 ? 256 : (int)n) : 1;
  }
  return 0;
}

/* Checks x against the model's input d and gives its engine shape. */
static int check_input(const fr__netfile *nf, const infer_args *a, const npy_array *x, int e[4]) {
  const fr__io_desc *d = &nf->input;
  char want[128], got[128], why[160];
  dims_str(d->dims, d->ndims, want, sizeof want);
  dims_str(x->dims, x->ndims, got, sizeof got);
  if (x->ndims != d->ndims)
    return fail("%s: the model's input %s is %s (rank %d); %s is %s (rank %d)", a->model,
                d->name, want, d->ndims, a->input, got, x->ndims);
  for (int i = 0; i < d->ndims; i++)
    if (d->dims[i] >= 0 && d->dims[i] != x->dims[i])
      return fail("%s: the model's input %s is %s; %s is %s (dimension %d differs)", a->model,
                  d->name, want, a->input, got, i);
  if (!engine_shape(d->layout, x->dims, x->ndims, e, why, sizeof why))
    return fail("%s: cannot run %s of shape %s: %s", a->model, a->input, got, why);
  /* What the engine was built for must hold whatever the model declares:
   * the plan's input has exactly this many channels. */
  int channels = fr__channels(nf->graph, fr__graph_input(nf->graph));
  if (e[3] != channels)
    return fail("%s: the network takes %d channels; %s of shape %s gives %d", a->model, channels,
                a->input, got, e[3]);
  return 0;
}

int fr_cli_infer(int argc, char **argv) {
  infer_args a;
  int rc = parse(argc, argv, &a);
  if (rc) return rc;
  fr_error err = {0, ""};
  npy_array x;
  if (npy_read(a.input, &x, &err) != FR_OK) return fail("%s", err.message);

  /* The .npy's dims fix what the model leaves open (an ONNX model's sides);
   * the batch stays the model's, open. */
  fr__netfile_options opt;
  memset(&opt, 0, sizeof opt);
  opt.input_name = a.input_name;
  opt.ndims = x.ndims;
  for (int i = 0; i < x.ndims; i++) opt.dims[i] = i == 0 ? -1 : x.dims[i];
  fr__netfile nf;
  if (fr__netfile_load(a.model, &opt, &nf, &err) != FR_OK) {
    npy_free(&x);
    return fail("%s", err.message);
  }
  if (a.output_index >= nf.n_outputs) {
    int n = nf.n_outputs;
    npy_free(&x);
    fr__netfile_release(&nf);
    return fail("--output-index %d: the model has %d output%s", a.output_index, n, n == 1 ? "" : "s");
  }
  const char *env = fr__kernels_env_error();
  if (env && *env) fprintf(stderr, "facerec infer: warning: %s\n", env);

  fr_pool *pool = NULL;
  fr__plan *plan = NULL;
  float *y = NULL;
  double *times = NULL;
  int e[4], eo[4];
  int64_t out_dims[FR__IO_MAX_DIMS];
  int out_rank = 0;
  char why[320];
  rc = check_input(&nf, &a, &x, e);
  if (rc) goto done;
  rc = 1;
  if ((a.threads > 1 && fr_pool_create(a.threads, &pool, &err) != FR_OK) ||
      fr__plan_create(nf.graph, e[0], e[1], e[2], a.threads, &plan, &err) != FR_OK) {
    fail("%s: %s", a.model, err.message);
    goto done;
  }
  /* The warm-up run, and then the timed ones. The arena may reuse the
   * input's memory for later tensors, so the input is written before every
   * run (outside the timing). */
  int runs = a.repeat ? a.repeat + 1 : 1;
  times = calloc((size_t)runs, sizeof *times);
  if (!times) {
    fail("out of memory");
    goto done;
  }
  for (int r = 0; r < runs; r++) {
    fr__layout_to_engine(nf.input.layout, x.data, fr__plan_input(plan), e);
    double t0 = now_ms();
    fr__run(nf.graph, plan, pool);
    times[r] = now_ms() - t0;
  }
  const float *out = fr__plan_output(plan, a.output_index, eo);
  if (!out) {
    fail("%s: the network has no output", a.model);
    goto done;
  }
  out_rank = model_shape(&nf.outputs[a.output_index], eo, out_dims, why, sizeof why);
  if (!out_rank) {
    fail("%s: %s", a.model, why);
    goto done;
  }
  if (a.output) {
    size_t count = (size_t)eo[0] * eo[1] * eo[2] * eo[3];
    y = malloc(count ? count * sizeof *y : 1);
    if (!y) {
      fail("out of memory");
      goto done;
    }
    fr__layout_from_engine(nf.outputs[a.output_index].layout, out, y, eo);
    if (npy_write(a.output, out_rank, out_dims, y, &err) != FR_OK) {
      fail("%s", err.message);
      goto done;
    }
  }
  double median = 0;
  if (a.repeat) {
    qsort(times + 1, (size_t)a.repeat, sizeof *times, cmp_double);
    const double *t = times + 1;
    median = a.repeat % 2 ? t[a.repeat / 2] : (t[a.repeat / 2 - 1] + t[a.repeat / 2]) / 2;
  }
  const char *kernels = fr__graph_kernels(nf.graph)->name;
  if (a.json) {
    printf("{\"model\":");
    cli_json_string(a.model);
    printf(",\"format\":");
    cli_json_string(nf.format);
    printf(",\"input\":");
    json_dims(x.dims, x.ndims);
    printf(",\"output\":");
    json_dims(out_dims, out_rank);
    /* Multiply-adds of one run, so that a benchmark can give GFLOP/s. */
    printf(",\"gmacs\":%.6f", fr__graph_macs(nf.graph, e[0], e[1], e[2]) / 1e9);
    if (a.repeat) printf(",\"ms_median\":%.4f", median);
    printf(",\"runs\":%d,\"threads\":%d,\"kernels\":", a.repeat ? a.repeat : 1, a.threads);
    cli_json_string(kernels);
    printf("}\n");
  } else {
    char in_s[128], out_s[128];
    printf("%s (%s): input %s %s -> output %s %s%s%s", a.model, nf.format, nf.input.name,
           dims_str(x.dims, x.ndims, in_s, sizeof in_s), nf.outputs[a.output_index].name,
           dims_str(out_dims, out_rank, out_s, sizeof out_s), a.output ? " written to " : "",
           a.output ? a.output : "");
    if (nf.n_outputs > 1) printf(" (output %d of %d)", a.output_index + 1, nf.n_outputs);
    if (a.repeat)
      printf("; %.3f ms median of %d runs, %d thread%s, kernels %s", median, a.repeat, a.threads,
             a.threads == 1 ? "" : "s", kernels);
    printf("\n");
  }
  if (a.profile && profile(&nf, plan, pool, a.repeat ? a.repeat : 10) != 0) {
    fail("out of memory");
    goto done;
  }
  rc = 0;
done:
  free(times);
  free(y);
  fr__plan_destroy(plan);
  fr_pool_destroy(pool);
  fr__netfile_release(&nf);
  npy_free(&x);
  return rc;
}
