/*
 * pool.c - the caller-sized thread pool that splits work inside one layer.
 *
 * Workers sleep on a condition variable between jobs (no spinning when idle).
 * A job is a count of independent tasks; workers and the calling thread take
 * task numbers from a shared counter until none are left, so uneven tasks
 * balance themselves. One job runs at a time per pool.
 */
#include "core/internal.h"
#include "nn/nn.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

struct fr_pool {
  int nthreads; /* including the caller */
  pthread_t *threads;
  pthread_mutex_t mu;
  pthread_cond_t wake, done;
  pthread_mutex_t job_mu; /* serialises callers */
  unsigned long generation;
  int stop;
  /* the current job */
  void (*fn)(void *, int, int);
  void *arg;
  int ntasks;
  atomic_int next;
  int busy; /* workers still inside the current job */
};

typedef struct worker_arg {
  fr_pool *pool;
  int index;
} worker_arg;

static void drain(fr_pool *p, int thread) {
  for (;;) {
    int t = atomic_fetch_add(&p->next, 1);
    if (t >= p->ntasks) break;
    p->fn(p->arg, t, thread);
  }
}

static void *worker(void *varg) {
  worker_arg wa = *(worker_arg *)varg;
  free(varg);
  fr_pool *p = wa.pool;
  unsigned long seen = 0;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (!p->stop && p->generation == seen) pthread_cond_wait(&p->wake, &p->mu);
    if (p->stop) break;
    seen = p->generation;
    pthread_mutex_unlock(&p->mu);
    drain(p, wa.index);
    pthread_mutex_lock(&p->mu);
    if (--p->busy == 0) pthread_cond_signal(&p->done);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

fr_status fr_pool_create(int nthreads, fr_pool **out, fr_error *err) {
  if (!out) return fr__fail(err, FR_E_INVALID, "fr_pool_create: NULL out");
  *out = NULL;
  if (nthreads <= 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    nthreads = n > 0 ? (int)n : 1;
  }
  if (nthreads > 256) return fr__fail(err, FR_E_INVALID, "fr_pool_create: %d threads is too many", nthreads);
  fr_pool *p = calloc(1, sizeof *p);
  if (!p) return fr__fail(err, FR_E_NOMEM, "out of memory creating pool");
  p->nthreads = nthreads;
  pthread_mutex_init(&p->mu, NULL);
  pthread_mutex_init(&p->job_mu, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_cond_init(&p->done, NULL);
  if (nthreads > 1) {
    p->threads = calloc((size_t)nthreads - 1, sizeof *p->threads);
    if (!p->threads) {
      fr_pool_destroy(p);
      return fr__fail(err, FR_E_NOMEM, "out of memory creating pool");
    }
    for (int i = 1; i < nthreads; i++) {
      worker_arg *wa = malloc(sizeof *wa);
      if (wa) {
        wa->pool = p;
        wa->index = i;
      }
      if (!wa || pthread_create(&p->threads[i - 1], NULL, worker, wa) != 0) {
        free(wa);
        p->nthreads = i; /* only these were started */
        fr_pool_destroy(p);
        return fr__fail(err, FR_E_NOMEM, "cannot start pool thread %d", i);
      }
    }
  }
  *out = p;
  return FR_OK;
}

void fr_pool_destroy(fr_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->stop = 1;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  for (int i = 1; i < p->nthreads; i++) pthread_join(p->threads[i - 1], NULL);
  free(p->threads);
  pthread_mutex_destroy(&p->mu);
  pthread_mutex_destroy(&p->job_mu);
  pthread_cond_destroy(&p->wake);
  pthread_cond_destroy(&p->done);
  free(p);
}

int fr_pool_size(const fr_pool *p) { return p ? p->nthreads : 1; }

void fr__pool_run(fr_pool *p, int ntasks, void (*fn)(void *, int, int), void *arg) {
  if (ntasks <= 0) return;
  if (!p || p->nthreads == 1 || ntasks == 1) {
    for (int t = 0; t < ntasks; t++) fn(arg, t, 0);
    return;
  }
  pthread_mutex_lock(&p->job_mu);
  pthread_mutex_lock(&p->mu);
  p->fn = fn;
  p->arg = arg;
  p->ntasks = ntasks;
  atomic_store(&p->next, 0);
  p->busy = p->nthreads - 1;
  p->generation++;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  drain(p, 0);
  pthread_mutex_lock(&p->mu);
  while (p->busy > 0) pthread_cond_wait(&p->done, &p->mu);
  pthread_mutex_unlock(&p->mu);
  pthread_mutex_unlock(&p->job_mu);
}
