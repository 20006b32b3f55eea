/*
 * context.c - per-thread state: a small cache of execution plans (in nn/,
 * beside the plans it caches: core/ depends on nothing above it).
 *
 * Each (graph, input shape) pair gets one plan, created on first use. Callers
 * that feed the same sizes over and over (video frames, 150x150 chips) thus
 * reach a steady state with no allocation at all. The cache is bounded; when
 * full, the least recently used plan is dropped.
 */
#include "core/internal.h"
#include "nn/nn.h"

#include <stdlib.h>

#define FR__PLAN_CACHE 16

typedef struct entry {
  uint64_t uid; /* the graph's identity, not its address */
  int n, h, w;
  fr__plan *plan;
  unsigned long used;
} entry;

struct fr_context {
  fr_pool *pool;
  entry cache[FR__PLAN_CACHE];
  unsigned long clock;
  float *scratch;
  size_t scratch_floats;
  int (*should_abort)(void *user);
  void *abort_user;
};

void fr_context_set_abort(fr_context *ctx, int (*should_abort)(void *user), void *user) {
  if (!ctx) return;
  ctx->should_abort = should_abort;
  ctx->abort_user = user;
}

fr_status fr_context_create(fr_pool *pool, fr_context **out, fr_error *err) {
  if (!out) return fr__fail(err, FR_E_INVALID, "fr_context_create: NULL out");
  *out = fr__calloc(1, sizeof **out);
  if (!*out) return fr__fail(err, FR_E_NOMEM, "out of memory creating context");
  (*out)->pool = pool;
  return FR_OK;
}

void fr_context_destroy(fr_context *ctx) {
  if (!ctx) return;
  for (int i = 0; i < FR__PLAN_CACHE; i++) fr__plan_destroy(ctx->cache[i].plan);
  fr__aligned_free(ctx->scratch);
  fr__free(ctx);
}

fr_pool *fr__context_pool(fr_context *ctx) { return ctx->pool; }

float *fr__context_scratch(fr_context *ctx, size_t floats) {
  if (floats > ctx->scratch_floats) {
    float *p = fr__aligned_alloc(floats * sizeof(float));
    if (!p) return NULL;
    fr__aligned_free(ctx->scratch);
    ctx->scratch = p;
    ctx->scratch_floats = floats;
  }
  return ctx->scratch;
}

fr_status fr__context_plan(fr_context *ctx, const fr__graph *g, int n, int h, int w,
                           fr__plan **out, fr_error *err) {
  /* Every network run asks for its plan here first: the one place where a
   * long call can be stopped between steps. */
  if (ctx->should_abort && ctx->should_abort(ctx->abort_user))
    return fr__fail(err, FR_E_ABORTED, "stopped: the context's abort callback asked for it");
  entry *victim = &ctx->cache[0];
  ctx->clock++;
  for (int i = 0; i < FR__PLAN_CACHE; i++) {
    entry *e = &ctx->cache[i];
    if (e->plan && e->uid == fr__graph_uid(g) && e->n == n && e->h == h && e->w == w) {
      e->used = ctx->clock;
      *out = e->plan;
      return FR_OK;
    }
    if (!e->plan || (victim->plan && e->used < victim->used)) victim = e;
  }
  fr__plan *p;
  fr_status st = fr__plan_create(g, n, h, w, fr_pool_size(ctx->pool), &p, err);
  if (st != FR_OK) return st;
  fr__plan_destroy(victim->plan);
  *victim = (entry){fr__graph_uid(g), n, h, w, p, ctx->clock};
  *out = p;
  return FR_OK;
}
