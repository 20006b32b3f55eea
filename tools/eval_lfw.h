/*
 * eval_lfw.h - `facerec eval lfw`: the LFW View 2 verification protocol.
 */
#ifndef FR_TOOLS_EVAL_LFW_H
#define FR_TOOLS_EVAL_LFW_H

#include "facerec.h"

typedef struct eval_lfw_args {
  fr_pipeline_options po; /* the pipeline to evaluate (the cascade is forced on) */
  const char *models;
  int threads;
  int json;
  const char *root, *pairs;
  int folds_limit; /* 0: all folds */
  const char *dump; /* CSV of every pair's distance, or NULL */
  int variants;     /* 1: similarity and upright, each with and without flip */
  int verbose;      /* 1: list the images without a detected face */
  int metric;       /* 0: Euclidean distance, 1: cosine distance, 2: both (a row each) */
} eval_lfw_args;

/* Runs the evaluation and prints the report; returns the exit status. */
int eval_lfw(const eval_lfw_args *a);

#endif
