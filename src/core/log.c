/*
 * log.c - the library's one way of saying something: a callback the
 * application sets (fr_log_set). The library never prints; what it would
 * otherwise have nobody to tell (which models and kernels it chose, how long
 * a load took, a gallery upgraded in place) goes here, or nowhere.
 *
 * The callback and its level are read with atomic loads, so that a call from
 * any thread sees either the old setting or the new one, never a mix of a
 * new function with an old argument: the three are published together
 * through one pointer to an immutable record.
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

/* Two records, written alternately: the one being replaced may still be read
 * by a thread that loaded it just before the swap, so it is not freed; at
 * most one older setting is ever reachable. */
static sink sinks[2];
static _Atomic(sink *) current;
static atomic_int next_slot;

void fr_log_set(fr_log_fn fn, void *user, fr_log_level min_level) {
  if (!fn) {
    atomic_store(&current, NULL);
    return;
  }
  int k = atomic_fetch_add(&next_slot, 1) & 1;
  sinks[k] = (sink){fn, user, min_level};
  atomic_store(&current, &sinks[k]);
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
