/*
 * eval.h - evaluation protocols: LFW pairs and verification metrics.
 */
#ifndef FR_EVAL_H
#define FR_EVAL_H

#include "core/internal.h"

/* One LFW pair: indices into the image list, whether it is the same person,
 * and its fold (0-based). */
typedef struct fr__pair {
  int a, b;
  int same;
  int fold;
} fr__pair;

/* A parsed pairs file: the distinct images it uses (paths under root, each
 * once, in first-use order) and the pairs. */
typedef struct fr__lfw {
  char **paths;
  int n_images;
  fr__pair *pairs;
  int n_pairs;
  int n_folds;
} fr__lfw;

/*
 * Parses an LFW pairs.txt (View 2: a header line "FOLDS N", then per fold N
 * lines "name i j" (same) and N lines "name1 i name2 j" (different)) into
 * image paths root/name/name_%04d.jpg. Strict: a malformed line, a count that
 * does not match the header, or an index < 1 is FR_E_FORMAT naming the line.
 * Files are not opened here.
 */
fr_status fr__lfw_load(const char *pairs_path, const char *root, fr__lfw **out, fr_error *err);
void fr__lfw_destroy(fr__lfw *lfw);

/* Verification results of a k-fold protocol. */
typedef struct fr__verif {
  int n_folds;
  double fold_accuracy[16];
  double fold_threshold[16];
  double accuracy_mean, accuracy_std; /* over folds, population std as sklearn/FaceNet do */
  double threshold_mean;
  double val_mean, val_std; /* VAL (true accept rate) at the FAR target, over folds */
  double far_mean;          /* FAR actually reached on the test folds */
  double far_target;
  double auc; /* area under the ROC over all pairs */
  double eer; /* equal error rate over all pairs */
} fr__verif;

/*
 * The standard protocol: for each fold, the distance threshold that maximises
 * accuracy on the other folds (same if distance <= threshold) is applied to
 * the fold; VAL@FAR: the threshold at which the training folds' FAR is at most
 * far_target, applied to the test fold. n pairs with distances, labels (1 =
 * same) and folds in [0, n_folds). n_folds in 2..16.
 */
fr_status fr__verification(const float *dist, const int *same, const int *fold, int n,
                           int n_folds, double far_target, fr__verif *out, fr_error *err);

#endif
