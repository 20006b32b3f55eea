/*
 * log.c - the library's one way of saying something: a callback the
 * application sets (fr_log_set). The library never prints; what it would
 * otherwise have nobody to tell (which models and kernels it chose, how long
 * a load took, a gallery upgraded in place) goes here, or nowhere.
 *
 * The setting is published through one atomic pointer, so that a thread
 * that sees it sees the function, argument and level together.
 */
#include "core/internal.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct sink {
  fr_log_fn fn;
  void *user;
  fr_log_level min_level;
} sink;

/* fr_log_set is called before other threads use the library (facerec.h), so
 * one record suffices; the pointer says whether it is in force. */
static sink the_sink;
static _Atomic(sink *) current;

void fr_log_set(fr_log_fn fn, void *user, fr_log_level min_level) {
  if (!fn) {
    atomic_store(&current, NULL);
    return;
  }
  the_sink = (sink){fn, user, min_level};
  atomic_store(&current, &the_sink);
}

void fr__log(fr_log_level level, const char *fmt, ...) {
  sink *s = atomic_load(&current);
  if (!s || level < s->min_level) return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  s->fn(level, msg, s->user);
}
