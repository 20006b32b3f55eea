/*
 * nms.c - intersection over union and greedy non-maximum suppression, in
 * plain C so that any part of the library can reuse them.
 */
#include "detect/detect_internal.h"

/* Ordered [lo, hi] extent of a box along one axis. */
static void extent(float pos, float size, double *lo, double *hi) {
  double a = pos, b = (double)pos + size;
  *lo = a < b ? a : b;
  *hi = a < b ? b : a;
}

float fr__iou(const fr_rect *a, const fr_rect *b) {
  double ax0, ax1, ay0, ay1, bx0, bx1, by0, by1;
  extent(a->x, a->width, &ax0, &ax1);
  extent(a->y, a->height, &ay0, &ay1);
  extent(b->x, b->width, &bx0, &bx1);
  extent(b->y, b->height, &by0, &by1);
  double area_a = (ax1 - ax0) * (ay1 - ay0);
  double area_b = (bx1 - bx0) * (by1 - by0);
  /* face-api's SSD gives degenerate boxes IoU 0; its Tiny variant would
   * divide 0 by 0 instead, which no real detection reaches. */
  if (!(area_a > 0) || !(area_b > 0)) return 0.f;
  double iw = (ax1 < bx1 ? ax1 : bx1) - (ax0 > bx0 ? ax0 : bx0);
  double ih = (ay1 < by1 ? ay1 : by1) - (ay0 > by0 ? ay0 : by0);
  if (iw <= 0 || ih <= 0) return 0.f;
  double inter = iw * ih;
  return (float)(inter / (area_a + area_b - inter));
}

int fr__nms_boxes(const fr_rect *boxes, int n, float iou_threshold, int max_keep, int *keep) {
  int kept = 0;
  for (int i = 0; i < n && kept < max_keep; i++) {
    int ok = 1;
    /* Newest kept boxes first, as face-api scans them; the outcome does not
     * depend on the order, but nearby duplicates are found sooner. */
    for (int j = kept - 1; j >= 0 && ok; j--)
      if (fr__iou(&boxes[i], &boxes[keep[j]]) > iou_threshold) ok = 0;
    if (ok) keep[kept++] = i;
  }
  return kept;
}

int fr__nms(fr_face *faces, int n, float iou_threshold, int max_keep) {
  if (!faces || n <= 0) return 0;
  if (max_keep <= 0 || max_keep > n) max_keep = n;
  int kept = 0;
  for (int i = 0; i < n && kept < max_keep; i++) {
    int ok = 1;
    for (int j = kept - 1; j >= 0 && ok; j--)
      if (fr__iou(&faces[i].box, &faces[j].box) > iou_threshold) ok = 0;
    if (!ok) continue;
    /* The kept prefix never reaches past i, so moving face i down is safe. */
    if (kept != i) faces[kept] = faces[i];
    kept++;
  }
  return kept;
}

void fr__sort_faces(fr_face *faces, int n) {
  if (!faces) return;
  /* Insertion sort: stable, allocation-free, and quick for the few dozen
   * faces an image holds. Faces already in order are not copied at all. */
  for (int i = 1; i < n; i++) {
    if (!(faces[i].score > faces[i - 1].score)) continue;
    fr_face t = faces[i];
    int j = i;
    while (j > 0 && t.score > faces[j - 1].score) {
      faces[j] = faces[j - 1];
      j--;
    }
    faces[j] = t;
  }
}
