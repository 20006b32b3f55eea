/*
 * eval_detect.h - `facerec eval detect`: a detector's detection rate on a
 * folder of one-face images (LFW).
 */
#ifndef FR_TOOLS_EVAL_DETECT_H
#define FR_TOOLS_EVAL_DETECT_H

#include "facerec.h"

typedef struct eval_detect_args {
  fr_detector_kind kind;
  fr_detect_options opts; /* zeros: the detector's defaults */
  const char *models;     /* NULL: fr_model_path order */
  int threads;            /* images run at once, each single-threaded */
  int json;
  int verbose; /* 1: list the images without a centred face on stderr */
  const char *root;
} eval_detect_args;

/* Runs the evaluation and prints the report; returns the exit status. */
int eval_detect(const eval_detect_args *a);

#endif
