/*
 * alloc.c - every allocation the library makes itself goes through here, so
 * that an application can route it to its own allocator (fr_set_allocator):
 * an arena per request, a tracking allocator in tests, a pool on a device
 * with little memory. The libraries facerec calls (libjpeg, libspng/libpng,
 * SQLite, cJSON, libsvm) allocate on their own, with their own functions.
 *
 * The allocator is read with an atomic load of a pointer to an immutable
 * record, so every call sees one whole setting. Aligned blocks are carved
 * from the allocator's blocks here: the block's start is kept just before
 * the aligned pointer, so that any allocator can serve them.
 */
#include "core/internal.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void *std_malloc(size_t size, void *user) {
  (void)user;
  return malloc(size);
}
static void *std_realloc(void *p, size_t size, void *user) {
  (void)user;
  return realloc(p, size);
}
static void std_free(void *p, void *user) {
  (void)user;
  free(p);
}

static const fr_allocator std_allocator = {std_malloc, std_realloc, std_free, NULL};
/* Set once, before the library allocates (see facerec.h), so one record is
 * enough; it is copied so that the caller's struct need not outlive the call. */
static fr_allocator custom;
static _Atomic(const fr_allocator *) current = &std_allocator;

fr_status fr_set_allocator(const fr_allocator *a, fr_error *err) {
  if (!a) {
    atomic_store(&current, &std_allocator);
    return FR_OK;
  }
  if (!a->malloc || !a->realloc || !a->free)
    return fr__fail(err, FR_E_INVALID, "fr_set_allocator: malloc, realloc and free are all needed");
  custom = *a;
  atomic_store(&current, &custom);
  return FR_OK;
}

void *fr__malloc(size_t size) {
  const fr_allocator *a = atomic_load(&current);
  return a->malloc(size ? size : 1, a->user);
}

void *fr__calloc(size_t n, size_t size) {
  size_t total;
  if (!fr__mul_size(n, size, &total)) return NULL;
  void *p = fr__malloc(total);
  if (p) memset(p, 0, total ? total : 1);
  return p;
}

void *fr__realloc(void *p, size_t size) {
  const fr_allocator *a = atomic_load(&current);
  if (!p) return a->malloc(size ? size : 1, a->user);
  return a->realloc(p, size ? size : 1, a->user);
}

void fr__free(void *p) {
  if (!p) return;
  const fr_allocator *a = atomic_load(&current);
  a->free(p, a->user);
}

char *fr__strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = fr__malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

/* ---- 64-byte aligned blocks ---------------------------------------------------------------- */

void *fr__aligned_alloc(size_t size) {
  if (size == 0) return NULL;
  /* Round up so that vector tails may read a little past the last element. */
  size_t rounded = (size + 63) & ~(size_t)63;
  if (rounded < size || rounded > SIZE_MAX - 64 - sizeof(void *)) return NULL;
  uint8_t *raw = fr__malloc(rounded + 64 + sizeof(void *));
  if (!raw) return NULL;
  uintptr_t at = ((uintptr_t)(raw + sizeof(void *)) + 63) & ~(uintptr_t)63;
  memcpy((uint8_t *)at - sizeof(void *), &raw, sizeof raw);
  return (void *)at;
}

void *fr__aligned_calloc(size_t size) {
  void *p = fr__aligned_alloc(size);
  if (p) memset(p, 0, (size + 63) & ~(size_t)63);
  return p;
}

void fr__aligned_free(void *p) {
  if (!p) return;
  void *raw;
  memcpy(&raw, (uint8_t *)p - sizeof(void *), sizeof raw);
  fr__free(raw);
}
