/*
 * eval_gallery.c - `facerec eval lowshot` and `facerec eval openset`: the
 * gallery's evaluation protocols. Low-shot identification enrols a few images
 * of each person and scores who held-out images are taken for; open-set
 * identification also probes with people never enrolled and reports true and
 * false accept rates. They take the gallery commands' options (gopts) and
 * share their photo description and gallery set-up (gallery_cli.h).
 */
#include "eval_gallery.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

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
      !gcli_describe_file(ctx, j->pipe, o, im->path, 0, faces, desc, &n, &im->src, NULL, &img) && n > 0) {
    int f = central_face(faces, n, img.width, img.height);
    memcpy(im->desc, desc + (size_t)f * j->dim, (size_t)j->dim * sizeof(float));
    im->ok = 1;
    fr_image chip;
    if (j->augment > 0) {
      if (gcli_face_chip(o, &img, &faces[f], &chip)) {
        im->ok = !gcli_augment_chip(ctx, j->pipe, &chip, j->augment, o->seed * 7919u + idx,
                                    im->desc + j->dim, j->dim);
        fr_image_free(&chip);
      } else {
        im->ok = 0;
      }
    }
    if (im->ok && j->blur > 0) {
      fr_image_free(&img);
      int nb = 0;
      if (!gcli_describe_file(ctx, j->pipe, o, im->path, j->blur, faces, desc, &nb, &im->blur_src,
                              NULL, &img) && nb > 0) {
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
    gcli_free_list(p[i].files, p[i].n_files);
    free(p[i].imgs);
  }
  free(p);
}

/* Every person folder of root with its image list, in name order; NULL
 * (nothing to free) when there is none. */
static ev_person *ev_people(const char *root, int *n_people) {
  int nd = 0;
  char **dirs = gcli_list_dir(root, 1, &nd);
  *n_people = 0;
  if (!dirs) return NULL;
  ev_person *p = calloc((size_t)nd + 1, sizeof *p);
  for (int i = 0; p && i < nd; i++) {
    const char *base = strrchr(dirs[i], '/');
    snprintf(p[i].name, sizeof p[i].name, "%s", base ? base + 1 : dirs[i]);
    p[i].files = gcli_list_dir(dirs[i], 0, &p[i].n_files);
    if (!p[i].files) p[i].n_files = 0;
  }
  gcli_free_list(dirs, nd);
  if (p && nd == 0) {
    ev_people_free(p, 0);
    p = NULL;
  }
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

/*
 * eval lowshot: for each shot count S, enrol S images each of the people
 * with enough of them and identify K held-out images of each; with
 * --unknown-people, some of those people are never enrolled and their images
 * should be rejected.
 */
int eval_lowshot(gopts *o, char **args, int nargs) {
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
  if (!all) return cli_die("no person folders in %s", o->root);
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
    fr_pipeline_model_id(&o->po, model, sizeof model, NULL);
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
  gcli_identify_options(o, &io);
  int n_aug = o->augment > 0 ? 2 : 1, n_test = o->blur > 0 ? 2 : 1, nc = o->n_classifiers;
  float thr = 0;
  fr_gallery *probe = NULL;
  if (!rc) {
    /* The threshold the rows use, for the report. */
    engine e = {.pipe = pipe, .dim = dim};
    snprintf(e.model, sizeof e.model, "%s", model);
    if (gcli_gallery_for(&e, ":memory:", &probe, &err) == FR_OK) {
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
        if (gcli_gallery_for(&e, ":memory:", &g, &err) != FR_OK) {
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
int eval_openset(gopts *o, char **args, int nargs) {
  (void)args;
  if (nargs != 0 || !o->root) return cli_die("usage: facerec eval openset --root DIR [options]");
  int S = o->n_shots ? o->shots[0] : 1, P = o->test_per > 0 ? o->test_per : 2;
  int N = o->enrol_people ? o->enrol_people : 200, U = o->unknown > 0 ? o->unknown : 1000;
  int n_all = 0;
  ev_person *all = ev_people(o->root, &n_all);
  if (!all) return cli_die("no person folders in %s", o->root);
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
    fr_pipeline_model_id(&o->po, e.model, sizeof e.model, NULL);
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
    if (gcli_gallery_for(&e, ":memory:", &g, &err) != FR_OK) {
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
      gcli_identify_options(o, &io);
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
