/*
 * test_model_file.c - the facerec model file (src/nn/model_file.c) and the
 * shared loader (src/nn/loader.c): a synthetic graph using every builder
 * round-trips to the same outputs, every network the detector, embedder and
 * landmarker tables declare converts to a file whose graph computes exactly
 * what the original computes (and, for the detectors, finds the same faces
 * on a real image), the registries load converted files (and FACEREC_NO_FRM
 * turns them off), and damaged files - truncated, bit-flipped, of another
 * version or magic, randomly mutated and resealed - are errors, never
 * crashes.
 *
 * `test_model_file --write-seeds DIR` writes the synthetic models as seeds
 * for fuzz/fuzz_model.c instead.
 */
#define _DEFAULT_SOURCE /* realpath, symlink, mkdtemp */
#include "align/align_internal.h"
#include "detect/detect_internal.h"
#include "embed/embed_internal.h"
#include "nn/loader.h"
#include "nn/model_file.h"

#include "check.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- a synthetic model using every builder ------------------------------ */

/* Deterministic pseudo-random floats in [-0.5, 0.5). */
static void fill(float *v, size_t n, uint32_t seed) {
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1664525u + 1013904223u;
    v[i] = (float)(seed >> 8) / (float)(1u << 24) - 0.5f;
  }
}

/* Graph A: the spatial and general ops, at any input size. */
static fr__graph *build_a(const fr__kernels *k) {
  fr__graph *g;
  if (fr__graph_create(k, "synthetic-a", &g, NULL) != FR_OK) return NULL;
  float w[3 * 3 * 4 * 8], b[8], dw[3 * 3 * 8], kc[8], al[8];
  fill(w, sizeof w / 4, 1), fill(b, 8, 2), fill(dw, sizeof dw / 4, 3), fill(kc, 8, 4);
  fill(al, 8, 5);
  int x = fr__input(g, 4);
  int c = fr__conv2d(g, x, w, b, 3, 3, 8, 2, FR__PAD_SAME, FR__ACT_RELU6, 0.f, -1);
  int d = fr__dwconv2d(g, c, dw, b, 3, 3, 1, FR__PAD_SAME, FR__ACT_LEAKY, 0.1f);
  int xs[2] = {c, d};
  int a = fr__add(g, xs, 2, FR__ACT_NONE, 0.f);
  int r = fr__conv2d(g, a, w + 0, NULL, 1, 1, 8, 1, FR__PAD_VALID, FR__ACT_RELU, 0.f, -1);
  (void)r;
  float w1[8 * 8];
  fill(w1, 64, 6);
  int res = fr__conv2d(g, a, w1, b, 1, 1, 8, 1, FR__PAD_SAME, FR__ACT_RELU, 0.f, a);
  /* A compressed convolution (uint8 codes, a scale and offset per channel)
   * with a residual, and another without a bias. */
  uint8_t q[3 * 3 * 8 * 8];
  float qa[24];
  for (size_t i = 0; i < sizeof q; i++) q[i] = (uint8_t)(i * 37 + 11);
  fill(qa, 24, 12);
  for (int i = 0; i < 8; i++) qa[16 + i] = (float)(100 + 9 * i); /* zero points */
  int u = fr__conv2d_u8(g, res, q, qa, b, 3, 3, 8, 1, FR__PAD_SAME, FR__ACT_LEAKY, 0.2f, res);
  u = fr__conv2d_u8(g, u, q, qa, NULL, 3, 3, 8, 2, FR__PAD_VALID, FR__ACT_NONE, 0.f, -1);
  fr__output(g, u);
  int mp = fr__maxpool(g, res, 2, 2, FR__PAD_SAME);
  int ap = fr__avgpool(g, res, 3, 2, FR__PAD_SAME);
  int ys[2] = {mp, ap};
  int cat = fr__concat(g, ys, 2, FR__AXIS_C);
  int pd = fr__pad(g, cat, 1, 1, 2);
  int act = fr__activate(g, pd, FR__ACT_RELU, 0.f);
  int bc = fr__binary_const(g, FR__BIN_MUL, res, kc, 1, 1, 8, 0, FR__ACT_NONE, 0.f);
  int bn = fr__binary(g, FR__BIN_SUB, bc, res, FR__ACT_NONE, 0.f);
  int un = fr__unary(g, bn, FR__UN_TANH);
  int pr = fr__prelu(g, un, al);
  int sm = fr__softmax(g, pr, 1.5f);
  int rd = fr__reduce(g, sm, FR__AXIS_C, 1);
  int rs = fr__resize_bilinear(g, act, 5, 7, 0, 1);
  int pf = fr__pad_full(g, rs, 1, 0, 2, 1, 0, 3);
  int mn = fr__mean(g, pf);
  fr__output(g, rd);
  fr__output(g, mn);
  if (fr__graph_finish(g, NULL) != FR_OK) {
    fr__graph_destroy(g);
    return NULL;
  }
  return g;
}

/* Graph B: a resize to a fixed size, a reshape and a fully connected layer. */
static fr__graph *build_b(const fr__kernels *k) {
  fr__graph *g;
  if (fr__graph_create(k, "synthetic-b", &g, NULL) != FR_OK) return NULL;
  float w[4 * 4 * 2 * 6], b[6];
  fill(w, sizeof w / 4, 7), fill(b, 6, 8);
  int x = fr__input(g, 2);
  x = fr__resize_bilinear(g, x, 4, 4, 1, 0);
  x = fr__reshape(g, x, 2, 2, 8);
  x = fr__fc(g, x, w, b, 32, 6, FR__ACT_NONE, 0.f);
  fr__output(g, x);
  if (fr__graph_finish(g, NULL) != FR_OK) {
    fr__graph_destroy(g);
    return NULL;
  }
  return g;
}

static float k_extra[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

/* A model of graphs built with the recording kernels (n_graphs 1 or 2). */
static int synthetic(fr__model *m, int n_graphs) {
  memset(m, 0, sizeof *m);
  m->role = FR__MODEL_DETECTOR;
  snprintf(m->name, sizeof m->name, "synthetic");
  m->input_size = 16;
  m->graphs[0] = build_a(&fr__kernels_record);
  m->n_graphs = 1;
  if (n_graphs > 1) {
    m->graphs[1] = build_b(&fr__kernels_record);
    m->n_graphs = 2;
    m->n_arrays = 1;
    snprintf(m->arrays[0].name, sizeof m->arrays[0].name, "extra");
    m->arrays[0].data = k_extra; /* borrowed: never released */
    m->arrays[0].count = 12;
  }
  return m->graphs[0] && (n_graphs < 2 || m->graphs[1]);
}

static void release_synthetic(fr__model *m) {
  m->n_arrays = 0; /* the array is static */
  fr__model_release(m);
}

/* ---- comparing graphs ---------------------------------------------------- */

/* 1 if a and b give bit-identical outputs on the same input at h x w. */
static int same_outputs(const fr__graph *a, const fr__graph *b, int n, int h, int w) {
  fr__plan *pa = NULL, *pb = NULL;
  fr_error err;
  int ok = fr__plan_create(a, n, h, w, 1, &pa, &err) == FR_OK &&
           fr__plan_create(b, n, h, w, 1, &pb, &err) == FR_OK;
  if (!ok) fprintf(stderr, "plan: %s\n", err.message);
  int ca = fr__channels(a, fr__graph_input(a)), outs[FR__MAX_OUTPUTS];
  ok = ok && ca == fr__channels(b, fr__graph_input(b));
  int no = ok ? fr__graph_outputs(a, outs) : 0;
  ok = ok && no == fr__graph_outputs(b, outs);
  if (ok) {
    size_t count = (size_t)n * h * w * ca;
    fill(fr__plan_input(pa), count, 99);
    fill(fr__plan_input(pb), count, 99);
    fr__run(a, pa, NULL);
    fr__run(b, pb, NULL);
  }
  for (int k = 0; k < no && ok; k++) {
    int sa[4], sb[4];
    const float *oa = fr__plan_output(pa, k, sa), *ob = fr__plan_output(pb, k, sb);
    ok = oa && ob && memcmp(sa, sb, sizeof sa) == 0 &&
         memcmp(oa, ob, (size_t)sa[0] * sa[1] * sa[2] * sa[3] * sizeof(float)) == 0;
  }
  fr__plan_destroy(pa);
  fr__plan_destroy(pb);
  return ok;
}

/* Whether a status is one a bad model file may give. */
static int bad_file_status(fr_status st) {
  return st == FR_E_MODEL || st == FR_E_FORMAT || st == FR_E_LIMIT;
}

/* A loaded model either fails cleanly (zeroed) or plans and runs. */
static int parse_and_exercise(const uint8_t *d, size_t n, fr_status *st_out) {
  fr__model m;
  fr_error err = {0, ""};
  fr_status st = fr__model_parse(d, n, &fr__kernels_scalar, "t", &m, &err);
  *st_out = st;
  if (st != FR_OK) {
    fr__model z;
    memset(&z, 0, sizeof z);
    return bad_file_status(st) && memcmp(&m, &z, sizeof z) == 0 && err.message[0] &&
           err.status == st;
  }
  for (int i = 0; i < m.n_graphs; i++) {
    fr__plan *p = NULL;
    fr_error perr;
    if (fr__plan_create(m.graphs[i], 1, 12, 12, 1, &p, &perr) == FR_OK &&
        fr__plan_bytes(p) < ((size_t)64 << 20))
      fr__run(m.graphs[i], p, NULL);
    fr__plan_destroy(p);
  }
  fr__model_release(&m);
  return 1;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_synthetic_round_trip(uint8_t **file, size_t *file_size) {
  fr__model m;
  CHECK(synthetic(&m, 2));
  uint8_t *buf = NULL;
  size_t size = 0;
  fr_error err = {0, ""};
  CHECK_OK(fr__model_serialize(&m, &buf, &size, &err), &err);
  release_synthetic(&m);
  CHECK(size > 64 && size % 64 == 0);
  const fr__kernels *sets[2] = {&fr__kernels_scalar, fr__kernels_best()};
  for (int s = 0; s < 2; s++) {
    fr__model back;
    CHECK_OK(fr__model_parse(buf, size, sets[s], "synthetic", &back, &err), &err);
    CHECK(back.role == FR__MODEL_DETECTOR && strcmp(back.name, "synthetic") == 0 &&
          back.input_size == 16 && back.n_graphs == 2 && back.n_arrays == 1);
    fr__graph *ra = build_a(sets[s]), *rb = build_b(sets[s]);
    CHECK(ra && rb);
    if (ra && back.n_graphs == 2) {
      CHECK(fr__graph_nodes(back.graphs[0]) == fr__graph_nodes(ra));
      CHECK_MSG(same_outputs(ra, back.graphs[0], 2, 16, 12), "graph A, kernels %s",
                sets[s]->name);
      CHECK_MSG(same_outputs(rb, back.graphs[1], 3, 9, 5), "graph B, kernels %s",
                sets[s]->name);
    }
    /* The planner's activation limit refuses before allocating. */
    if (ra) {
      size_t keep = fr__plan_max_floats;
      fr__plan_max_floats = 64;
      fr__plan *p = NULL;
      CHECK(fr__plan_create(ra, 1, 16, 16, 1, &p, &err) == FR_E_LIMIT && !p);
      fr__plan_max_floats = keep;
    }
    float *extra = fr__model_take_array(&back, "extra", 12);
    CHECK(extra && memcmp(extra, k_extra, sizeof k_extra) == 0);
    CHECK(fr__model_take_array(&back, "extra", 12) == NULL); /* taken */
    fr__aligned_free(extra);
    fr__graph_destroy(ra);
    fr__graph_destroy(rb);
    fr__model_release(&back);
  }
  /* A misaligned copy of the bytes loads the same. */
  uint8_t *odd = malloc(size + 1);
  memcpy(odd + 1, buf, size);
  fr__model back;
  CHECK_OK(fr__model_parse(odd + 1, size, NULL, "odd", &back, &err), &err);
  fr__model_release(&back);
  free(odd);
  /* Only graphs built with the recording kernels can be saved. */
  fr__model bad;
  memset(&bad, 0, sizeof bad);
  bad.role = FR__MODEL_DETECTOR;
  bad.n_graphs = 1;
  bad.graphs[0] = build_a(&fr__kernels_scalar);
  uint8_t *b2 = NULL;
  size_t s2;
  CHECK(fr__model_serialize(&bad, &b2, &s2, &err) == FR_E_INVALID && !b2);
  fr__model_release(&bad);
  *file = buf;
  *file_size = size;
}

/* A node whose output nothing reads (the fuzzer's first find): it still runs,
 * so its output needs memory of its own, not offset 0 over the live input. */
static void test_dead_output(void) {
  fr__graph *g;
  if (fr__graph_create(&fr__kernels_scalar, "dead", &g, NULL) != FR_OK) return;
  float w[64];
  fill(w, 64, 11);
  int x = fr__input(g, 1);
  fr__conv2d(g, x, w, NULL, 1, 1, 64, 1, FR__PAD_SAME, FR__ACT_NONE, 0.f, -1);
  fr__output(g, fr__mean(g, x));
  fr__plan *p = NULL;
  fr_error err = {0, ""};
  CHECK_OK(fr__graph_finish(g, &err), &err);
  CHECK_OK(fr__plan_create(g, 1, 8, 8, 1, &p, &err), &err);
  if (p) {
    float *in = fr__plan_input(p);
    for (int i = 0; i < 64; i++) in[i] = 1.f;
    fr__run(g, p, NULL);
    const float *o = fr__plan_output(p, 0, NULL);
    CHECK_MSG(o && o[0] == 1.f, "mean %g, wanted 1", o ? o[0] : -1.f);
  }
  fr__plan_destroy(p);
  fr__graph_destroy(g);
}

static void test_damage(const uint8_t *file, size_t size) {
  uint8_t *d = malloc(size);
  fr_status st;
  /* Every truncation. */
  int ok = 1;
  for (size_t n = 0; n < size && ok; n += (n < 200 ? 1 : 7)) {
    ok = parse_and_exercise(file, n, &st) && st != FR_OK;
    if (!ok) fprintf(stderr, "truncated to %zu: status %d\n", n, st);
  }
  CHECK_MSG(ok, "every truncation is an error");
  /* Every single-bit flip is caught: by the magic, the version, the size
   * field or the checksum. */
  ok = 1;
  for (size_t i = 0; i < size && ok; i += (i < 256 ? 1 : 13)) {
    memcpy(d, file, size);
    d[i] ^= (uint8_t)(1u << (i % 8));
    ok = parse_and_exercise(d, size, &st) && st != FR_OK;
    if (!ok) fprintf(stderr, "flip at %zu: status %d\n", i, st);
  }
  CHECK_MSG(ok, "every bit flip is an error");
  /* Wrong magic: not a model file. Wrong version: a model error. */
  memcpy(d, file, size);
  d[0] = 'X';
  fr__model m;
  fr_error err = {0, ""};
  CHECK(fr__model_parse(d, size, NULL, "t", &m, &err) == FR_E_FORMAT);
  memcpy(d, file, size);
  d[8] = FR__MODEL_VERSION + 1;
  fr__model_seal(d, size);
  CHECK(fr__model_parse(d, size, NULL, "t", &m, &err) == FR_E_MODEL);
  char want[32];
  snprintf(want, sizeof want, "version %u", FR__MODEL_VERSION + 1);
  CHECK_MSG(strstr(err.message, want) != NULL, "%s", err.message);
  /* Version 1 is still read, but had no compressed convolutions. */
  memcpy(d, file, size);
  d[8] = 1;
  fr__model_seal(d, size);
  CHECK(fr__model_parse(d, size, NULL, "t", &m, &err) == FR_E_MODEL);
  CHECK_MSG(strstr(err.message, "unknown operator") != NULL, "%s", err.message);
  /* A resealed copy of the original loads (the seal is right). */
  memcpy(d, file, size);
  fr__model_seal(d, size);
  CHECK(fr__model_parse(d, size, NULL, "t", &m, &err) == FR_OK);
  fr__model_release(&m);
  /* Random mutations, resealed so that they reach the parser proper: any
   * outcome but a crash or a broken promise. */
  uint32_t s = 7;
  ok = 1;
  int loaded = 0;
  for (int iter = 0; iter < 1500 && ok; iter++) {
    memcpy(d, file, size);
    int flips = 1 + iter % 4;
    for (int f = 0; f < flips; f++) {
      s = s * 1664525u + 1013904223u;
      /* Mostly the header and table of contents, where structure lives. */
      size_t span = iter % 3 ? (size < 4096 ? size : 4096) : size;
      size_t at = 16 + (s >> 8) % (span - 16);
      s = s * 1664525u + 1013904223u;
      d[at] = iter % 2 ? (uint8_t)(s >> 24) : (uint8_t)(d[at] ^ (1u << (s >> 29)));
    }
    fr__model_seal(d, size);
    ok = parse_and_exercise(d, size, &st);
    loaded += st == FR_OK;
    if (!ok) fprintf(stderr, "mutation %d: status %d\n", iter, st);
  }
  CHECK_MSG(ok, "random mutations fail cleanly");
  printf("random mutations: %d of 1500 still loaded\n", loaded);
  free(d);
}

static void test_files(const uint8_t *file, size_t size) {
  char dir[] = "/tmp/frm-testXXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char path[256];
  fr_error err = {0, ""};
  fr__model m, back;
  CHECK(synthetic(&m, 2));
  snprintf(path, sizeof path, "%s/s.frm", dir);
  CHECK_OK(fr__model_save(&m, path, &err), &err);
  release_synthetic(&m);
  CHECK_OK(fr__model_load(path, NULL, &back, &err), &err);
  CHECK(back.n_graphs == 2);
  fr__model_release(&back);
  /* The saved file is byte for byte what serialize gives. */
  FILE *f = fopen(path, "rb");
  uint8_t *got = malloc(size + 1);
  size_t n = f ? fread(got, 1, size + 1, f) : 0;
  if (f) fclose(f);
  CHECK(n == size && memcmp(got, file, size) == 0);
  free(got);
  snprintf(path, sizeof path, "%s/missing.frm", dir);
  CHECK(fr__model_load(path, NULL, &back, &err) == FR_E_IO);
  snprintf(path, sizeof path, "%s/empty.frm", dir);
  f = fopen(path, "wb");
  if (f) fclose(f);
  CHECK(fr__model_load(path, NULL, &back, &err) == FR_E_FORMAT);
  remove(path);
  snprintf(path, sizeof path, "%s/s.frm", dir);
  remove(path);
  rmdir(dir);
}

/* ---- the shipped networks ------------------------------------------------ */

/* A network of the three tables: what it declares, the role its model file
 * records, and its kind (fr_detector_kind, fr_embedder_kind or
 * fr_landmarker_kind, by role). */
typedef struct net {
  const fr__net_spec *spec;
  fr__model_role role;
  int kind;
} net;

#define MAX_NETS 64
static net k_nets[MAX_NETS];
static int n_nets; /* the convertible ones, which k_nets holds */
static int n_entries; /* every table entry */

/* Counts every entry and keeps the convertible ones, in table order. */
static void add_entry(const fr__net_spec *spec, fr__model_role role, int kind) {
  n_entries++;
  if (fr__net_convertible(spec) && n_nets < MAX_NETS) k_nets[n_nets++] = (net){spec, role, kind};
}

static void list_nets(void) {
  n_nets = n_entries = 0;
  for (int i = 0; i < fr__detector_count(); i++)
    add_entry(&fr__detector_at(i)->net, FR__MODEL_DETECTOR, (int)fr__detector_at(i)->kind);
  for (int i = 0; i < fr__embedder_count(); i++)
    add_entry(&fr__embedder_at(i)->net, FR__MODEL_EMBEDDER, (int)fr__embedder_at(i)->kind);
  for (int i = 0; i < fr__landmarker_count(); i++)
    add_entry(&fr__landmarker_at(i)->net, FR__MODEL_LANDMARKER, (int)fr__landmarker_at(i)->kind);
}

/* Every table entry's network name is unique (a CLI name and a model file
 * name), fits a model file, and names the files the loader needs; the
 * iterators end where the tables do and agree with the find functions. */
static void test_tables(void) {
  const fr__net_spec *all[MAX_NETS];
  int n = 0;
  for (int i = 0; i < fr__detector_count() && n < MAX_NETS; i++) {
    CHECK(fr__detector_find(fr__detector_at(i)->kind) == fr__detector_at(i));
    all[n++] = &fr__detector_at(i)->net;
  }
  for (int i = 0; i < fr__embedder_count() && n < MAX_NETS; i++) {
    CHECK(fr__embedder_find(fr__embedder_at(i)->kind) == fr__embedder_at(i));
    all[n++] = &fr__embedder_at(i)->net;
  }
  for (int i = 0; i < fr__landmarker_count() && n < MAX_NETS; i++) {
    CHECK(fr__landmarker_find(fr__landmarker_at(i)->kind) == fr__landmarker_at(i));
    all[n++] = &fr__landmarker_at(i)->net;
  }
  CHECK(!fr__detector_at(fr__detector_count()) && !fr__detector_at(-1));
  CHECK(!fr__embedder_at(fr__embedder_count()) && !fr__embedder_at(-1));
  CHECK(!fr__landmarker_at(fr__landmarker_count()) && !fr__landmarker_at(-1));
  CHECK_MSG(n == n_entries, "%d entries, %d listed", n, n_entries);
  int ok = 1;
  for (int i = 0; i < n; i++) {
    const fr__net_spec *s = all[i];
    int good = s->name && s->title && s->files[0] &&
               strlen(s->name) + strlen(FR__MODEL_EXT) < FR__MODEL_NAME_MAX &&
               (s->format != FR__NET_TFJS || s->build) &&
               (s->format == FR__NET_NONE || fr__net_graphs(s) >= 1);
    for (int j = 0; j < i && good; j++) good = strcmp(s->name, all[j]->name) != 0;
    if (!good) fprintf(stderr, "table entry %d (%s) is malformed or not unique\n", i, s->name);
    ok &= good;
  }
  CHECK_MSG(ok, "%d table entries well formed, their names unique", n);
}

/* A loaded network: its object, its graphs (MTCNN has three) with the
 * square input side each is compared at, and SSD's anchors. */
typedef struct held {
  fr_detector *det;
  fr_embedder *emb;
  fr_landmarker *lm;
  int n;
  const fr__graph *g[FR__MODEL_MAX_GRAPHS];
  int side[FR__MODEL_MAX_GRAPHS];
  const float *anchors;
} held;

static fr_status load_net(const net *n, const char *dir, const fr__kernels *k, held *h,
                          fr_error *err) {
  memset(h, 0, sizeof *h);
  fr_status st;
  if (n->role == FR__MODEL_DETECTOR) {
    st = fr__detector_create_with_kernels((fr_detector_kind)n->kind, dir, k, &h->det, err);
    if (st == FR_OK) {
      h->n = fr__detector_graphs(h->det, h->g, h->side, FR__MODEL_MAX_GRAPHS);
      h->anchors = h->det->anchors;
    }
  } else if (n->role == FR__MODEL_EMBEDDER) {
    st = fr__embedder_create_with((fr_embedder_kind)n->kind, dir, k, &h->emb, err);
    if (st == FR_OK) h->n = 1, h->g[0] = h->emb->g, h->side[0] = h->emb->size;
  } else {
    st = fr__landmarker_create_with((fr_landmarker_kind)n->kind, dir, k, &h->lm, err);
    if (st == FR_OK) h->n = 1, h->g[0] = fr__landmarker_graph(h->lm), h->side[0] = FR__LANDMARK_INPUT;
  }
  if (st == FR_OK && (h->n < 1 || h->n > FR__MODEL_MAX_GRAPHS || !h->g[0])) h->n = 0;
  return st;
}

static void drop(held *h) {
  fr_detector_destroy(h->det);
  fr_embedder_destroy(h->emb);
  fr_landmarker_destroy(h->lm);
  memset(h, 0, sizeof *h);
}

/* Saves the graphs g[0..n) (built with the recording kernels) as network
 * n's model file at path. */
static fr_status save_graphs(const net *n, const fr__graph *const *g, int ng, const float *anchors,
                             const char *path, fr_error *err) {
  fr__model m;
  memset(&m, 0, sizeof m);
  m.role = n->role;
  snprintf(m.name, sizeof m.name, "%s", n->spec->name);
  m.n_graphs = ng;
  for (int k = 0; k < ng; k++) m.graphs[k] = (fr__graph *)g[k];
  if (anchors) {
    m.n_arrays = 1;
    snprintf(m.arrays[0].name, sizeof m.arrays[0].name, "anchors");
    m.arrays[0].data = (float *)anchors;
    m.arrays[0].count = (size_t)FR__SSD_ANCHORS * 4;
  }
  /* Borrowed graphs and anchors: m is never released. */
  return fr__model_save(&m, path, err);
}

/* Two detectors find bit-identical faces on img. */
static void same_faces(const fr_detector *a, const fr_detector *b, const fr_image *img,
                       const char *name) {
  fr_context *ca = NULL, *cb = NULL;
  fr_error err = {0, ""};
  fr_face fa[32], fb[32];
  memset(fa, 0, sizeof fa);
  memset(fb, 0, sizeof fb);
  int na = -1, nb = -2;
  CHECK_OK(fr_context_create(NULL, &ca, &err), &err);
  CHECK_OK(fr_context_create(NULL, &cb, &err), &err);
  if (ca && cb) {
    CHECK_OK(fr_detect(ca, a, img, NULL, fa, 32, &na, &err), &err);
    CHECK_OK(fr_detect(cb, b, img, NULL, fb, 32, &nb, &err), &err);
  }
  CHECK_MSG(na > 0 && na == nb && memcmp(fa, fb, (size_t)na * sizeof *fa) == 0,
            "%s: %d faces from the original files, %d from the model file%s", name, na, nb,
            na == nb ? " (different)" : "");
  fr_context_destroy(ca);
  fr_context_destroy(cb);
}

/* Damage to a real model file image (the TFLite detectors' conversions):
 * truncations and single bit flips anywhere are refused with a clean error,
 * and resealed random changes to its table of contents fail cleanly or give
 * a model that plans and runs. Sampled positions: every byte of a 2 MB file
 * would take minutes under the sanitizers. */
static void damage_real(const char *name, const uint8_t *file, size_t size) {
  uint8_t *d = malloc(size);
  if (!d) return;
  fr_status st;
  uint32_t toc_words;
  memcpy(&toc_words, file + 24, 4);
  size_t toc_end = 64 + (size_t)toc_words * 4;
  int ok = toc_end < size, n_cuts = 0, n_flips = 0;
  size_t fixed[] = {0, 7, 8, 16, 63, 64, 65, toc_end - 1, toc_end, toc_end + 1, size / 2,
                    size - 64, size - 4, size - 1};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0] + 48 && ok; i++, n_cuts++) {
    size_t n = i < sizeof fixed / sizeof fixed[0]
                   ? fixed[i]
                   : (i * 2654435761u) % size; /* spread over the file */
    ok = parse_and_exercise(file, n, &st) && st != FR_OK;
    if (!ok) fprintf(stderr, "%s truncated to %zu: status %d\n", name, n, st);
  }
  CHECK_MSG(ok, "%s: %d truncations are errors", name, n_cuts);
  ok = 1;
  for (size_t i = 0; i < 96 && ok; i++, n_flips++) {
    /* Half in the header and table of contents, half anywhere. */
    size_t at = i % 2 ? (i * 2654435761u) % size : (i * 40503u) % toc_end;
    memcpy(d, file, size);
    d[at] ^= (uint8_t)(1u << (i % 8));
    ok = parse_and_exercise(d, size, &st) && st != FR_OK;
    if (!ok) fprintf(stderr, "%s: flip at %zu: status %d\n", name, at, st);
  }
  CHECK_MSG(ok, "%s: %d bit flips are errors", name, n_flips);
  uint32_t s = 11;
  ok = 1;
  int loaded = 0;
  for (int iter = 0; iter < 150 && ok; iter++) {
    memcpy(d, file, size);
    for (int f = 0; f < 1 + iter % 3; f++) {
      s = s * 1664525u + 1013904223u;
      size_t at = 16 + (s >> 8) % (toc_end - 16);
      s = s * 1664525u + 1013904223u;
      d[at] = iter % 2 ? (uint8_t)(s >> 24) : (uint8_t)(d[at] ^ (1u << (s >> 29)));
    }
    fr__model_seal(d, size);
    ok = parse_and_exercise(d, size, &st);
    loaded += st == FR_OK;
    if (!ok) fprintf(stderr, "%s: mutation %d: status %d\n", name, iter, st);
  }
  CHECK_MSG(ok, "%s: resealed table-of-contents mutations fail cleanly", name);
  printf("%s: %d of 150 resealed mutations still loaded\n", name, loaded);
  free(d);
}

/* Reads a whole file into a malloc'ed buffer; NULL on failure. */
static uint8_t *read_all(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  uint8_t *buf = NULL;
  long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
  if (n > 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n)) &&
      fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *size = buf ? (size_t)n : 0;
  return buf;
}

static int write_file(const char *dir, const char *name, const uint8_t *d, size_t n);

/* Checks of a model file's content: the shared loader's graph count (one
 * graph too many) for every network, and the models' own checks - SSD's
 * anchors, and (MTCNN) the graphs' order, which find_outputs tells by the
 * outputs' shapes. */
static void wrong_content(const net *n, const held *rec, const char *dir) {
  char path[4096];
  fr_error err = {0, ""};
  snprintf(path, sizeof path, "%s/%s.frm", dir, n->spec->name);
  held h;
  if (n->role == FR__MODEL_DETECTOR && n->kind == FR_DETECTOR_MTCNN) {
    CHECK_OK(save_graphs(n, rec->g, 2, NULL, path, &err), &err);
    CHECK(load_net(n, dir, NULL, &h, &err) == FR_E_MODEL && !h.det);
    CHECK_MSG(strstr(err.message, "3") != NULL, "%s", err.message);
    const fr__graph *rev[3] = {rec->g[2], rec->g[1], rec->g[0]};
    CHECK_OK(save_graphs(n, rev, 3, NULL, path, &err), &err);
    CHECK(load_net(n, dir, NULL, &h, &err) != FR_OK && !h.det);
  } else {
    /* Two copies of the graph: one too many. */
    const fr__graph *two[2] = {rec->g[0], rec->g[0]};
    CHECK_OK(save_graphs(n, two, 2, NULL, path, &err), &err);
    CHECK(load_net(n, dir, NULL, &h, &err) == FR_E_MODEL && !h.det && !h.emb && !h.lm);
    CHECK_MSG(strstr(err.message, "holds 2 graphs") != NULL, "%s: %s", n->spec->name,
              err.message);
  }
  if (rec->anchors) {
    /* The graph without its anchors. */
    CHECK_OK(save_graphs(n, rec->g, 1, NULL, path, &err), &err);
    CHECK(load_net(n, dir, NULL, &h, &err) == FR_E_MODEL && !h.det);
    CHECK_MSG(strstr(err.message, "anchors") != NULL, "%s", err.message);
  }
  drop(&h);
  remove(path);
}

static void test_networks(void) {
  const char *models = check_models_dir();
  char tmp[] = "/tmp/frm-netsXXXXXX";
  CHECK(mkdtemp(tmp) != NULL);
  fr_image img;
  fr_error ierr = {0, ""};
  int have_img = fr_image_load(check_data("bbt/test/images/faces.jpg"), NULL, &img, &ierr) == FR_OK;
  if (!have_img) printf("bbt/test/images/faces.jpg: %s; detections not compared\n", ierr.message);
  int tested = 0;
  for (int i = 0; i < n_nets; i++) {
    const net *n = &k_nets[i];
    const char *name = n->spec->name;
    char src[4096], dst[4096];
    struct stat sb;
    snprintf(src, sizeof src, "%s/%s", models, n->spec->files[0]);
    if (stat(src, &sb) != 0) {
      char what[256];
      snprintf(what, sizeof what, "%s: model files not found in %s, not converted", name, models);
      check_skip(what);
      continue;
    }
    /* A folder with links to the original files, for the registries. */
    for (int f = 0; f < FR__NET_FILES && n->spec->files[f]; f++) {
      char abs_src[4096];
      snprintf(src, sizeof src, "%s/%s", models, n->spec->files[f]);
      snprintf(dst, sizeof dst, "%s/%s", tmp, n->spec->files[f]);
      CHECK(realpath(src, abs_src) != NULL && symlink(abs_src, dst) == 0);
    }
    setenv("FACEREC_NO_FRM", "1", 1);
    held rec, orig;
    fr_error err = {0, ""};
    CHECK_OK(load_net(n, tmp, &fr__kernels_record, &rec, &err), &err);
    CHECK_OK(load_net(n, tmp, NULL, &orig, &err), &err);
    unsetenv("FACEREC_NO_FRM");
    int want_graphs = fr__net_graphs(n->spec);
    CHECK_MSG(rec.n == want_graphs && orig.n == want_graphs, "%s: %d and %d graphs", name,
              rec.n, orig.n);
    if (rec.n != want_graphs || orig.n != want_graphs) {
      drop(&rec);
      drop(&orig);
      continue;
    }
    /* SSD and FaceRecognitionNet keep their large layers as the shipped
     * uint8 codes, and the file records them so. */
    int u8 = 0;
    fr__node_info ni;
    for (int g = 0; g < rec.n; g++)
      for (int k = 0; fr__graph_node_info(rec.g[g], k, &ni); k++) u8 += ni.op == FR__NODE_CONV_U8;
    int want_u8 = strcmp(name, "ssd") == 0 || strcmp(name, "faceapi") == 0;
    CHECK_MSG(want_u8 ? u8 > 0 : u8 == 0, "%s: %d compressed convolutions", name, u8);
    snprintf(dst, sizeof dst, "%s/%s.frm", tmp, name);
    CHECK_OK(save_graphs(n, rec.g, rec.n, rec.anchors, dst, &err), &err);

    /* Through the registry: the converted file is used... */
    held conv;
    CHECK_OK(load_net(n, tmp, NULL, &conv, &err), &err);
    if (conv.n == orig.n) {
      for (int g = 0; g < orig.n; g++)
        CHECK_MSG(same_outputs(orig.g[g], conv.g[g], 1, orig.side[g], orig.side[g]),
                  "%s graph %d", name, g);
      if (orig.anchors)
        CHECK(conv.anchors &&
              memcmp(orig.anchors, conv.anchors, (size_t)FR__SSD_ANCHORS * 4 * sizeof(float)) == 0);
      /* ...and a detector finds the same faces on a real image. */
      if (orig.det && have_img) same_faces(orig.det, conv.det, &img, name);
    } else {
      CHECK_MSG(0, "%s: %d graphs from the model file, %d from the original", name, conv.n,
                orig.n);
    }
    drop(&conv);
    int tflite_detector = n->role == FR__MODEL_DETECTOR && n->spec->format == FR__NET_TFLITE;
    if (tflite_detector) {
      size_t size = 0;
      uint8_t *bytes = read_all(dst, &size);
      CHECK(bytes != NULL);
      if (bytes) {
        damage_real(name, bytes, size);
        /* A truncated file in the model folder is an error, not a fallback. */
        char file[64];
        snprintf(file, sizeof file, "%s.frm", name);
        CHECK(write_file(tmp, file, bytes, size / 2) == 0);
        CHECK(load_net(n, tmp, NULL, &conv, &err) == FR_E_MODEL && !conv.det);
        CHECK_MSG(strstr(err.message, "truncated") != NULL, "%s", err.message);
        drop(&conv);
        CHECK(write_file(tmp, file, bytes, size) == 0);
        free(bytes);
      }
    }
    /* ...which a damaged file proves: it fails to load, unless converted
     * files are turned off. */
    FILE *f = fopen(dst, "r+b");
    if (f) {
      fseek(f, 100, SEEK_SET);
      fputc(0x5A, f);
      fclose(f);
    }
    CHECK(load_net(n, tmp, NULL, &conv, &err) == FR_E_MODEL);
    drop(&conv);
    setenv("FACEREC_NO_FRM", "1", 1);
    CHECK_OK(load_net(n, tmp, NULL, &conv, &err), &err);
    unsetenv("FACEREC_NO_FRM");
    drop(&conv);
    wrong_content(n, &rec, tmp);
    drop(&rec);
    drop(&orig);
    remove(dst);
    for (int k = 0; k < FR__NET_FILES && n->spec->files[k]; k++) {
      snprintf(dst, sizeof dst, "%s/%s", tmp, n->spec->files[k]);
      remove(dst);
    }
    tested++;
  }
  if (have_img) fr_image_free(&img);
  rmdir(tmp);
  printf("%d networks round-tripped\n", tested);
  /* Passing having converted nothing would say nothing: all of them. */
  CHECK_MSG(tested == n_nets && n_nets > 0, "%d of %d networks round-tripped", tested, n_nets);
}

/* A model file of one name but another network's role is refused. */
static void test_wrong_network(void) {
  char dir[] = "/tmp/frm-wrongXXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  fr__model m, got;
  CHECK(synthetic(&m, 1));
  snprintf(m.name, sizeof m.name, "faceapi"); /* but role detector */
  char path[256];
  snprintf(path, sizeof path, "%s/faceapi.frm", dir);
  fr_error err = {0, ""};
  CHECK_OK(fr__model_save(&m, path, &err), &err);
  release_synthetic(&m);
  int found = -1;
  CHECK(fr__model_find(dir, "faceapi", FR__MODEL_EMBEDDER, NULL, &got, &found, &err) ==
        FR_E_MODEL);
  CHECK(found == 0 && got.n_graphs == 0);
  CHECK_OK(fr__model_find(dir, "tiny", FR__MODEL_DETECTOR, NULL, &got, &found, &err), &err);
  CHECK(found == 0);
  setenv("FACEREC_NO_FRM", "1", 1);
  CHECK_OK(fr__model_find(dir, "faceapi", FR__MODEL_EMBEDDER, NULL, &got, &found, &err), &err);
  CHECK(found == 0);
  unsetenv("FACEREC_NO_FRM");
  remove(path);
  rmdir(dir);
}

static int write_file(const char *dir, const char *name, const uint8_t *d, size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  int ok = f && fwrite(d, 1, n, f) == n;
  if (f) ok = fclose(f) == 0 && ok;
  if (!ok) fprintf(stderr, "cannot write %s\n", path);
  return ok ? 0 : 1;
}

/* Seeds and regression inputs named by the outcome tests/test_regress.c
 * expects (the fuzz harness reseals each first, see fuzz/fuzz.h). */
static int write_seeds(const char *dir) {
  int bad = 0;
  for (int ng = 1; ng <= 2; ng++) {
    fr__model m;
    uint8_t *buf = NULL;
    size_t size = 0;
    fr_error err = {0, ""};
    if (!synthetic(&m, ng) || fr__model_serialize(&m, &buf, &size, &err) != FR_OK) return 1;
    release_synthetic(&m);
    char name[64];
    snprintf(name, sizeof name, "ok-synthetic-%d.frm", ng);
    bad |= write_file(dir, name, buf, size);
    if (ng == 1) {
      bad |= write_file(dir, "model-truncated.frm", buf, 1000);
      buf[8] = FR__MODEL_VERSION + 1;
      bad |= write_file(dir, "model-version-next.frm", buf, size);
      buf[8] = FR__MODEL_VERSION;
      buf[0] = 'f';
      bad |= write_file(dir, "format-magic.frm", buf, size);
    }
    free(buf);
  }
  return bad;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0) return write_seeds(argv[2]);
  uint8_t *file = NULL;
  size_t size = 0;
  test_synthetic_round_trip(&file, &size);
  if (file) {
    test_damage(file, size);
    test_files(file, size);
  }
  free(file);
  test_dead_output();
  test_wrong_network();
  list_nets();
  test_tables();
  test_networks();
  return check_summary();
}
