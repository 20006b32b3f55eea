/*
 * verify.c - k-fold face verification metrics (LFW View 2 style).
 *
 * All pairs are sorted by distance once. For each test fold the training
 * pairs (every other fold) are then collapsed, in that order, into groups of
 * equal distance with their same/different counts, and every threshold
 * question becomes one linear scan over the groups: O(n log n) overall plus
 * O(n) per fold.
 *
 * Threshold convention. With the rule "same if dist <= t", the training
 * outcome only changes when t crosses a distinct training distance, so the
 * candidates are "accept nothing" and "accept up to group i" for each group
 * i. A chosen candidate i is turned into a number as follows:
 *   - accept up to group i < last: the midpoint between d[i] and d[i+1],
 *     which classifies the training pairs exactly like d[i] but leaves test
 *     pairs a margin on both sides instead of sitting on a training sample;
 *   - accept everything: d[last], since there is no upper neighbour;
 *   - accept nothing: the largest double below d[0].
 * Accuracy ties between candidates go to the smallest one (fewer accepts,
 * so fewer false accepts). For VAL@FAR the candidate is the largest one
 * whose training FAR is at most the target, so with the midpoint convention
 * the training FAR of the reported threshold still respects the target.
 */
#include "eval/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A pair reduced to what the metrics need, sortable without a context. */
typedef struct vf_item {
  float d;
  int same;
  int fold;
} vf_item;

/* A run of equal distances and how many same/different pairs it holds. */
typedef struct vf_group {
  double d;
  long same, diff;
} vf_group;

static int cmp_item(const void *x, const void *y) {
  float a = ((const vf_item *)x)->d, b = ((const vf_item *)y)->d;
  return (a > b) - (a < b);
}

/* Collapses the sorted items whose fold is not `skip` (-1 keeps all) into
 * groups of equal distance; returns the number of groups. */
static int make_groups(const vf_item *it, int n, int skip, vf_group *g, long *n_same,
                       long *n_diff) {
  int m = 0;
  *n_same = *n_diff = 0;
  for (int i = 0; i < n; i++) {
    if (it[i].fold == skip) continue;
    if (m == 0 || (double)it[i].d != g[m - 1].d) {
      g[m].d = it[i].d;
      g[m].same = g[m].diff = 0;
      m++;
    }
    if (it[i].same) {
      g[m - 1].same++;
      (*n_same)++;
    } else {
      g[m - 1].diff++;
      (*n_diff)++;
    }
  }
  return m;
}

/* The numeric threshold for candidate i (-1 = accept nothing), as described
 * at the top of the file. */
static double threshold_of(const vf_group *g, int m, int i) {
  if (i < 0) return nextafter(g[0].d, -INFINITY);
  if (i == m - 1) return g[m - 1].d;
  return 0.5 * (g[i].d + g[i + 1].d);
}

/* The candidate maximising training accuracy, smallest on ties. */
static int best_accuracy(const vf_group *g, int m, long n_diff) {
  long best = n_diff; /* accept nothing: every different pair is right */
  int best_i = -1;
  long same_le = 0, diff_le = 0;
  for (int i = 0; i < m; i++) {
    same_le += g[i].same;
    diff_le += g[i].diff;
    long correct = same_le + (n_diff - diff_le);
    if (correct > best) {
      best = correct;
      best_i = i;
    }
  }
  return best_i;
}

/* The largest candidate whose training FAR is at most far_target. FAR only
 * grows with the candidate, so the scan stops at the first violation. */
static int largest_within_far(const vf_group *g, int m, long n_diff, double far_target) {
  long diff_le = 0;
  int best_i = -1;
  for (int i = 0; i < m; i++) {
    diff_le += g[i].diff;
    if ((double)diff_le / (double)n_diff > far_target) break;
    best_i = i;
  }
  return best_i;
}

/* AUC as the Mann-Whitney statistic: the share of (same, different) couples
 * where the same pair is closer, ties counting one half. Counted twice over
 * in integers so ties stay exact. */
static double auc_of(const vf_group *g, int m, long n_same, long n_diff) {
  unsigned long long twice = 0;
  long diff_le = 0;
  for (int i = 0; i < m; i++) {
    diff_le += g[i].diff;
    unsigned long long greater = (unsigned long long)(n_diff - diff_le);
    twice += 2ULL * (unsigned long long)g[i].same * greater +
             (unsigned long long)g[i].same * (unsigned long long)g[i].diff;
  }
  return (double)twice / (2.0 * (double)n_same * (double)n_diff);
}

/* EER: walking the ROC from "accept nothing" (FAR 0, FRR 1) group by group,
 * FAR - FRR rises strictly from -1 to +1; the EER is where the straight
 * segment between the two ROC points around the sign change crosses
 * FAR = FRR. */
static double eer_of(const vf_group *g, int m, long n_same, long n_diff) {
  double far0 = 0.0, frr0 = 1.0;
  long same_le = 0, diff_le = 0;
  for (int i = 0; i < m; i++) {
    same_le += g[i].same;
    diff_le += g[i].diff;
    double far1 = (double)diff_le / (double)n_diff;
    double frr1 = 1.0 - (double)same_le / (double)n_same;
    if (far1 >= frr1) {
      double a = far0 - frr0, b = far1 - frr1; /* a < 0 <= b */
      double t = -a / (b - a);
      return far0 + t * (far1 - far0);
    }
    far0 = far1;
    frr0 = frr1;
  }
  return far0; /* unreachable: the last point has FAR 1 and FRR 0 */
}

/* Population mean and standard deviation, as sklearn and FaceNet report. */
static void mean_std(const double *x, int n, double *mean, double *std) {
  double s = 0.0;
  for (int i = 0; i < n; i++) s += x[i];
  double mu = s / n;
  double v = 0.0;
  for (int i = 0; i < n; i++) v += (x[i] - mu) * (x[i] - mu);
  *mean = mu;
  if (std) *std = sqrt(v / n);
}

fr_status fr__verification(const float *dist, const int *same, const int *fold, int n,
                           int n_folds, double far_target, fr__verif *out, fr_error *err) {
  if (!dist || !same || !fold || !out)
    return fr__fail(err, FR_E_INVALID, "fr__verification: NULL argument");
  if (n < 1) return fr__fail(err, FR_E_INVALID, "fr__verification: no pairs (n = %d)", n);
  if (n_folds < 2 || n_folds > 16)
    return fr__fail(err, FR_E_INVALID, "fr__verification: n_folds is %d, not in 2..16",
                    n_folds);
  if (!(far_target >= 0.0 && far_target <= 1.0))
    return fr__fail(err, FR_E_INVALID, "fr__verification: far_target %g is not in [0, 1]",
                    far_target);

  long fold_same[16] = {0}, fold_diff[16] = {0};
  for (int i = 0; i < n; i++) {
    /* NaN and infinities cannot be ordered into a meaningful threshold. */
    if (!isfinite(dist[i]))
      return fr__fail(err, FR_E_INVALID, "fr__verification: distance %d is not finite", i);
    if (same[i] != 0 && same[i] != 1)
      return fr__fail(err, FR_E_INVALID, "fr__verification: label %d is %d, not 0 or 1", i,
                      same[i]);
    if (fold[i] < 0 || fold[i] >= n_folds)
      return fr__fail(err, FR_E_INVALID, "fr__verification: fold %d is %d, not in 0..%d", i,
                      fold[i], n_folds - 1);
    if (same[i])
      fold_same[fold[i]]++;
    else
      fold_diff[fold[i]]++;
  }
  /* Every fold is a test set for accuracy, VAL (same pairs) and FAR
   * (different pairs), so each needs both kinds of pair. */
  for (int k = 0; k < n_folds; k++)
    if (fold_same[k] == 0 || fold_diff[k] == 0)
      return fr__fail(err, FR_E_INVALID,
                      "fr__verification: fold %d has %ld same and %ld different pairs; each "
                      "fold needs at least one of both",
                      k, fold_same[k], fold_diff[k]);

  size_t item_bytes, group_bytes;
  if (!fr__mul_size((size_t)n, sizeof(vf_item), &item_bytes) ||
      !fr__mul_size((size_t)n, sizeof(vf_group), &group_bytes))
    return fr__fail(err, FR_E_LIMIT, "fr__verification: too many pairs");
  vf_item *it = fr__malloc(item_bytes);
  vf_group *g = fr__malloc(group_bytes);
  if (!it || !g) {
    fr__free(it);
    fr__free(g);
    return fr__fail(err, FR_E_NOMEM, "fr__verification: out of memory for %d pairs", n);
  }
  for (int i = 0; i < n; i++) {
    it[i].d = dist[i];
    it[i].same = same[i];
    it[i].fold = fold[i];
  }
  qsort(it, (size_t)n, sizeof *it, cmp_item);

  memset(out, 0, sizeof *out);
  out->n_folds = n_folds;
  out->far_target = far_target;
  double val[16], far[16];
  for (int k = 0; k < n_folds; k++) {
    long n_same, n_diff;
    int m = make_groups(it, n, k, g, &n_same, &n_diff);
    double t_acc = threshold_of(g, m, best_accuracy(g, m, n_diff));
    double t_val = threshold_of(g, m, largest_within_far(g, m, n_diff, far_target));

    long correct = 0, val_acc = 0, far_acc = 0;
    for (int i = 0; i < n; i++) {
      if (it[i].fold != k) continue;
      double d = it[i].d;
      correct += it[i].same ? d <= t_acc : d > t_acc;
      if (it[i].same)
        val_acc += d <= t_val;
      else
        far_acc += d <= t_val;
    }
    out->fold_accuracy[k] = (double)correct / (double)(fold_same[k] + fold_diff[k]);
    out->fold_threshold[k] = t_acc;
    val[k] = (double)val_acc / (double)fold_same[k];
    far[k] = (double)far_acc / (double)fold_diff[k];
  }
  mean_std(out->fold_accuracy, n_folds, &out->accuracy_mean, &out->accuracy_std);
  mean_std(out->fold_threshold, n_folds, &out->threshold_mean, NULL);
  mean_std(val, n_folds, &out->val_mean, &out->val_std);
  mean_std(far, n_folds, &out->far_mean, NULL);

  long n_same, n_diff;
  int m = make_groups(it, n, -1, g, &n_same, &n_diff);
  out->auc = auc_of(g, m, n_same, n_diff);
  out->eer = eer_of(g, m, n_same, n_diff);

  fr__free(it);
  fr__free(g);
  return FR_OK;
}
