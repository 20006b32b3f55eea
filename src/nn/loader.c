/*
 * loader.c - the shared "load a network" sequence (loader.h).
 */
#include "nn/loader.h"

#include "nn/tflite.h"

#include <stdio.h>
#include <string.h>

int fr__net_graphs(const fr__net_spec *spec) {
  if (spec->format == FR__NET_TFJS) return 1;
  if (spec->format != FR__NET_TFLITE) return 0;
  int n = 0;
  while (n < FR__NET_FILES && spec->files[n]) n++;
  return n;
}

int fr__net_side(const fr__net_spec *spec, int k) {
  return k >= 0 && k < FR__NET_FILES && spec->sides[k] > 0 ? spec->sides[k] : spec->input_size;
}

int fr__net_convertible(const fr__net_spec *spec) {
  return spec->format != FR__NET_NONE && !spec->no_model_file;
}

/* A TF.js network: the weights of its manifest, and one graph its build
 * function makes from them. */
static fr_status load_tfjs(const fr__net_spec *spec, const char *dir, const fr__kernels *kernels,
                           fr__model *m, fr_error *err) {
  if (!spec->build)
    return fr__fail(err, FR_E_INTERNAL, "%s: a TF.js network without a build function",
                    spec->title);
  fr__weights *wm = NULL;
  fr_status st = fr__tfjs_load(dir, spec->files[0], &wm, err);
  if (st != FR_OK) return st;
  st = fr__graph_create(kernels, spec->title, &m->graphs[0], err);
  if (st == FR_OK) {
    m->n_graphs = 1;
    st = spec->build(m->graphs[0], wm, m, err);
  }
  fr__weights_destroy(wm);
  return st;
}

/* A TFLite network: one graph per file, in order. */
static fr_status load_tflite(const fr__net_spec *spec, const char *dir,
                             const fr__kernels *kernels, fr__model *m, fr_error *err) {
  int n = fr__net_graphs(spec);
  for (int k = 0; k < n; k++) {
    char path[4096];
    fr_status st = fr__path_join(path, sizeof path, dir, spec->files[k], err);
    if (st == FR_OK) st = fr__tflite_load_file(path, kernels, &m->graphs[k], err);
    if (st != FR_OK) return st;
    m->n_graphs++;
  }
  return FR_OK;
}

fr_status fr__net_load_original(const fr__net_spec *spec, fr__model_role role, const char *dir,
                                const fr__kernels *kernels, fr__model *m, fr_error *err) {
  memset(m, 0, sizeof *m);
  m->role = role;
  snprintf(m->name, sizeof m->name, "%s", spec->name);
  m->input_size = spec->input_size;
  m->dim = spec->dim;
  fr_status st = FR_OK;
  if (spec->format == FR__NET_TFJS)
    st = load_tfjs(spec, dir, kernels, m, err);
  else if (spec->format == FR__NET_TFLITE)
    st = load_tflite(spec, dir, kernels, m, err);
  if (st != FR_OK) fr__model_release(m);
  return st;
}

fr_status fr__net_load(const fr__net_spec *spec, fr__model_role role, const char *model_dir,
                       const fr__kernels *kernels, fr__net_take_fn take, void *obj,
                       fr_error *err) {
  /* Failures below must leave a message even when the caller passed no
   * error struct, because builder code checks err->status. */
  fr_error local;
  if (!err) err = &local;
  err->status = FR_OK;
  err->message[0] = '\0';
  char dir[4096];
  fr_status st = fr__model_dir(spec->files[0], spec->title, model_dir, spec->fallback_dir, dir,
                               sizeof dir, err);
  if (st != FR_OK) return st;

  /* A converted file that exists but is damaged, stale or of another
   * network is an error, not a silent fallback: it should be seen. */
  fr__model m;
  memset(&m, 0, sizeof m);
  int found = 0;
  if (fr__net_convertible(spec))
    st = fr__model_find(dir, spec->name, role, kernels, &m, &found, err);
  if (st == FR_OK && !found) st = fr__net_load_original(spec, role, dir, kernels, &m, err);
  int want = fr__net_graphs(spec);
  if (st == FR_OK && m.n_graphs != want)
    st = fr__fail(err, FR_E_MODEL, "%s%s holds %d graphs, %s has %d", spec->name, FR__MODEL_EXT,
                  m.n_graphs, spec->title, want);
  if (st == FR_OK) st = take(obj, &m, dir, err);
  fr__model_release(&m);
  if (st != FR_OK) fr__error_prefix(err, "loading %s from %s", spec->title, dir);
  return st;
}

fr_status fr__net_check_vector(const fr__graph *g, int side, int len, const char *title,
                               fr_error *err) {
  fr__plan *plan;
  fr_status st = fr__plan_create(g, 1, side, side, 1, &plan, err);
  if (st != FR_OK) return st;
  int sh[4] = {0, 0, 0, 0};
  int ok = fr__plan_output(plan, 0, sh) != NULL && sh[0] == 1 && sh[1] == 1 && sh[2] == 1 &&
           sh[3] == len;
  fr__plan_destroy(plan);
  if (!ok)
    return fr__fail(err, FR_E_MODEL, "%s: output is [%d,%d,%d,%d], expected [1,1,1,%d]", title,
                    sh[0], sh[1], sh[2], sh[3], len);
  return FR_OK;
}
