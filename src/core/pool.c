/*
 * pool.c - the caller-sized thread pool that splits work inside one layer.
 *
 * A job is a count of independent tasks; workers and the calling thread take
 * task numbers from a shared counter until none are left, so uneven tasks
 * balance themselves. One job runs at a time per pool.
 *
 * A network runs dozens of jobs back to back, a few hundred microseconds
 * each, and waking a thread from a condition variable costs some 50 us: so a
 * worker that finishes a job first watches for the next one for a short while
 * (FR__SPIN_ITERS pause instructions, about 50 us) and only then goes to
 * sleep, and the caller likewise watches the workers finish before it waits.
 * Between frames and when idle everything sleeps: nothing spins for longer
 * than that window.
 */
#include "core/internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* Iterations of the watch loop: a pause is 10-140 cycles depending on the
 * core, so this is tens of microseconds, far below a frame. */
#define FR__SPIN_ITERS 4000

struct fr_pool {
  int nthreads; /* including the caller */
  pthread_t *threads;
  pthread_mutex_t mu;
  pthread_cond_t wake, done;
  pthread_mutex_t job_mu; /* serialises callers */
  /* Bumped (under mu) for each job; workers watch it while spinning. */
  atomic_ulong generation;
  atomic_int stop;
  int sleepers; /* workers waiting on `wake` (under mu) */
  /* the current job, written before generation is bumped */
  void (*fn)(void *, int, int);
  void *arg;
  int ntasks;
  atomic_int next;
  atomic_int busy; /* workers still inside the current job */
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
  fr__free(varg);
  fr_pool *p = wa.pool;
  unsigned long seen = 0;
  for (;;) {
    unsigned long g = atomic_load(&p->generation);
    for (int i = 0; g == seen && i < FR__SPIN_ITERS && !atomic_load(&p->stop); i++) {
      cpu_relax();
      g = atomic_load(&p->generation);
    }
    if (g == seen) {
      pthread_mutex_lock(&p->mu);
      p->sleepers++;
      while (!atomic_load(&p->stop) && atomic_load(&p->generation) == seen)
        pthread_cond_wait(&p->wake, &p->mu);
      p->sleepers--;
      g = atomic_load(&p->generation);
      pthread_mutex_unlock(&p->mu);
    }
    if (atomic_load(&p->stop)) break;
    seen = g;
    drain(p, wa.index);
    /* The last worker out tells a caller that went to sleep; the signal is
     * sent under mu, so it cannot fall between the caller's check and wait. */
    if (atomic_fetch_sub(&p->busy, 1) == 1) {
      pthread_mutex_lock(&p->mu);
      pthread_cond_signal(&p->done);
      pthread_mutex_unlock(&p->mu);
    }
  }
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
  fr_pool *p = fr__calloc(1, sizeof *p);
  if (!p) return fr__fail(err, FR_E_NOMEM, "out of memory creating pool");
  p->nthreads = nthreads;
  pthread_mutex_init(&p->mu, NULL);
  pthread_mutex_init(&p->job_mu, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_cond_init(&p->done, NULL);
  if (nthreads > 1) {
    p->threads = fr__calloc((size_t)nthreads - 1, sizeof *p->threads);
    if (!p->threads) {
      fr_pool_destroy(p);
      return fr__fail(err, FR_E_NOMEM, "out of memory creating pool");
    }
    for (int i = 1; i < nthreads; i++) {
      worker_arg *wa = fr__malloc(sizeof *wa);
      if (wa) {
        wa->pool = p;
        wa->index = i;
      }
      if (!wa || pthread_create(&p->threads[i - 1], NULL, worker, wa) != 0) {
        fr__free(wa);
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
  atomic_store(&p->stop, 1);
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  for (int i = 1; i < p->nthreads; i++) pthread_join(p->threads[i - 1], NULL);
  fr__free(p->threads);
  pthread_mutex_destroy(&p->mu);
  pthread_mutex_destroy(&p->job_mu);
  pthread_cond_destroy(&p->wake);
  pthread_cond_destroy(&p->done);
  fr__free(p);
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
  atomic_store(&p->busy, p->nthreads - 1);
  atomic_fetch_add(&p->generation, 1);
  if (p->sleepers > 0) pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  drain(p, 0);
  for (int i = 0; atomic_load(&p->busy) > 0 && i < FR__SPIN_ITERS; i++) cpu_relax();
  if (atomic_load(&p->busy) > 0) {
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&p->busy) > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
  }
  pthread_mutex_unlock(&p->job_mu);
}
