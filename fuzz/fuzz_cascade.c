/*
 * fuzz_cascade.c - libFuzzer target: the OpenCV cascade XML reader
 * (src/detect/cascade_xml.c, fr__cascade_parse). The input is the XML.
 * Besides the sanitizers' checks it checks the reader's promises: a failure
 * has one of the statuses cascade.h names, a message and no cascade; a
 * success is consistent (every stage, tree, node, leaf and feature index in
 * range, every rectangle inside the window, trees that only point forward),
 * and the cascade then scans a small image without reading outside it.
 * Self-contained (no fuzz.h): it needs nothing but the library.
 */
#include "detect/cascade.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void violated(const char *what, const fr_error *err) {
  fprintf(stderr, "\nfuzz_cascade: %s (%s)\n", what, err ? err->message : "");
  abort();
}

static void check_cascade(const fr__cascade *c) {
  if (c->type != FR__CASCADE_HAAR && c->type != FR__CASCADE_LBP) violated("bad type", NULL);
  if (c->width < 3 || c->height < 3 || c->width > FR__CASCADE_MAX_WINDOW || c->height > FR__CASCADE_MAX_WINDOW)
    violated("window out of range", NULL);
  if (c->n_stages < 1 || c->n_features < 1) violated("no stages or features", NULL);
  int weak = 0, stumps = 1;
  for (int s = 0; s < c->n_stages; s++) {
    const fr__cascade_stage *st = &c->stages[s];
    if (st->first_weak != weak || st->n_weak < 1) violated("stage trees not contiguous", NULL);
    weak += st->n_weak;
  }
  if (weak != c->n_weak) violated("tree count", NULL);
  int node = 0, leaf = 0;
  for (int w = 0; w < c->n_weak; w++) {
    const fr__cascade_weak *t = &c->weak[w];
    if (t->first_node != node || t->first_leaf != leaf || t->n_nodes < 1) violated("tree layout", NULL);
    if (t->n_nodes > 1) stumps = 0;
    for (int k = 0; k < t->n_nodes; k++) {
      const fr__cascade_node *n = &c->nodes[node + k];
      if (n->feature < 0 || n->feature >= c->n_features) violated("feature index", NULL);
      int ch[2] = {n->left, n->right};
      for (int i = 0; i < 2; i++) {
        if (ch[i] > 0 && (ch[i] <= k || ch[i] >= t->n_nodes)) violated("child index", NULL);
        if (ch[i] <= 0 && -ch[i] > t->n_nodes) violated("leaf index", NULL);
      }
    }
    node += t->n_nodes;
    leaf += t->n_nodes + 1;
  }
  if (node != c->n_nodes || leaf != c->n_leaves) violated("node or leaf count", NULL);
  if (stumps != c->stumps) violated("stumps flag", NULL);
  int tilted = 0;
  for (int f = 0; f < c->n_features; f++) {
    const fr__cascade_feature *ft = &c->features[f];
    if (c->type == FR__CASCADE_LBP) {
      if (ft->w < 1 || ft->h < 1 || ft->x < 0 || ft->y < 0 || ft->x + 3 * ft->w > c->width ||
          ft->y + 3 * ft->h > c->height)
        violated("LBP feature outside the window", NULL);
      continue;
    }
    if (ft->n_rects < 1 || ft->n_rects > 3) violated("rectangle count", NULL);
    tilted |= ft->tilted;
    for (int r = 0; r < ft->n_rects; r++) {
      const fr__haar_rect *q = &ft->rect[r];
      int ok = ft->tilted ? q->x - q->h >= 0 && q->x + q->w <= c->width && q->y >= 0 &&
                                q->y + q->w + q->h <= c->height
                          : q->x >= 0 && q->y >= 0 && q->x + q->w <= c->width && q->y + q->h <= c->height;
      if (!ok || q->w < 1 || q->h < 1) violated("Haar rectangle outside the window", NULL);
    }
  }
  if (tilted != c->has_tilted) violated("tilted flag", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static fr_context *ctx;
  if (!ctx && fr_context_create(NULL, &ctx, NULL) != FR_OK) abort();
  fr_error err;
  memset(&err, 0, sizeof err);
  fr__cascade *c = (fr__cascade *)(uintptr_t)1; /* must become NULL on failure */
  fr_status st = fr__cascade_parse((const char *)data, size, &c, &err);
  if (st != FR_OK) {
    if (st != FR_E_FORMAT && st != FR_E_UNSUPPORTED && st != FR_E_LIMIT && st != FR_E_NOMEM)
      violated("a failure with a status cascade.h does not name", &err);
    if (c != NULL) violated("a failure left a cascade", &err);
    if (err.status != st || !memchr(err.message, 0, sizeof err.message) || !err.message[0])
      violated("a failure without its status and message", &err);
    return 0;
  }
  if (!c) violated("success without a cascade", NULL);
  check_cascade(c);
  /* A scan of a small textured image: every window the cascade reads. */
  enum { W = 48, H = 40 };
  static uint8_t px[W * H];
  for (int i = 0; i < W * H; i++) px[i] = (uint8_t)((i * 131 + i / W * 17) & 255);
  fr_image img = {px, W, H, W, FR_PIXEL_GRAY};
  fr__cascade_params p = {1.25, 1, 0, 0, 0.2, 0};
  fr__cascade_hit hits[16];
  int n = -1;
  st = fr__cascade_detect(ctx, c, &img, &p, hits, 16, &n, &err);
  if (st != FR_OK || n < 0 || n > 16) violated("scan failed", &err);
  for (int i = 0; i < n; i++)
    if (hits[i].w < c->width || hits[i].x < 0 || hits[i].y < 0 || hits[i].x + hits[i].w > W + 2 ||
        hits[i].y + hits[i].h > H + 2)
      violated("a hit outside the image", NULL);
  fr__cascade_free(c);
  return 0;
}
