/*
 * eval_gallery.h - `facerec eval lowshot` and `facerec eval openset`: how
 * well a gallery identifies people enrolled from a few images each, and how
 * often it takes strangers for one of them.
 */
#ifndef FR_TOOLS_EVAL_GALLERY_H
#define FR_TOOLS_EVAL_GALLERY_H

#include "gallery_cli.h"

/* Their usage lines, for the gallery commands' part of the help text. */
#define EVAL_GALLERY_USAGE                                                                         \
  "  eval lowshot --root DIR --shots 1,5,10   low-shot identification accuracy\n"                 \
  "                                  (--classifier nn,svm, --augment N, --blur SIGMA,\n"           \
  "                                  --test-per-person K, --repeats R, --metric M,\n"              \
  "                                  --unknown-people N)\n"                                        \
  "  eval openset --root DIR          open-set identification: TAR and FAR at the\n"              \
  "                                  threshold, thresholds for FAR 1% and 0.1%\n"                  \
  "                                  (--enrol-people N, --shots S, --unknown-people N)\n"

/* Each runs its evaluation with the options fr_cli_gallery parsed (args: the
 * positional arguments after "eval lowshot" or "eval openset", of which
 * there must be none) and prints the report; returns the exit status. */
int eval_lowshot(gopts *o, char **args, int nargs);
int eval_openset(gopts *o, char **args, int nargs);

#endif
