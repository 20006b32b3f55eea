/*
 * cmd_quantize.c - `facerec quantize`: calibrates FaceRecognitionNet's int8
 * quantisation. Every image is run through the float32 pipeline, its largest
 * face aligned to a chip, and the network's activation ranges recorded over
 * all chips; the table is printed as the C source of
 * src/embed/faceapi_int8_table.c (derived data, so it is kept in the tree and
 * loading an int8 model needs no images).
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed/embed_internal.h"
#include "nn/quant.h"

const char fr_cli_quantize_usage[] =
    "  quantize IMAGE...          calibrate FaceRecognitionNet's int8 model on the faces of\n"
    "                             the images; prints src/embed/faceapi_int8_table.c\n"
    "                             (--models DIR)\n";

int fr_cli_quantize(int argc, char **argv) {
  const char *models = NULL;
  int first = 0;
  while (first < argc && strncmp(argv[first], "--", 2) == 0) {
    if (strcmp(argv[first], "--models") == 0 && first + 1 < argc) {
      models = argv[first + 1];
      first += 2;
    } else {
      return cli_die("quantize: unknown option '%s'", argv[first]);
    }
  }
  int n_img = argc - first;
  if (n_img <= 0) return cli_die("quantize: give the calibration images");
  fr_error err;
  fr_pipeline_options po;
  fr_pipeline_options_default(&po);
  po.embedder = FR_EMBEDDER_FACEAPI;
  fr_pipeline *pipe = NULL;
  fr_context *ctx = NULL;
  fr_embedder *emb = NULL;
  fr_image *chips = calloc((size_t)n_img, sizeof *chips);
  fr__quant_range *ranges = NULL;
  int n_chips = 0, nr = 0, rc = 1;
  if (!chips) return cli_die("out of memory");
  if (fr_pipeline_options_resolve(&po, &err) != FR_OK ||
      fr_pipeline_create(&po, models, &pipe, &err) != FR_OK ||
      fr_context_create(NULL, &ctx, &err) != FR_OK ||
      fr_embedder_create(FR_EMBEDDER_FACEAPI, models, &emb, &err) != FR_OK) {
    fprintf(stderr, "facerec: %s\n", err.message);
    goto done;
  }
  for (int i = first; i < argc; i++) {
    fr_image img;
    fr_face face;
    int nf = 0;
    if (fr_image_load(argv[i], NULL, &img, &err) != FR_OK) {
      fprintf(stderr, "facerec: %s (skipped)\n", err.message);
      continue;
    }
    if (fr_pipeline_run(ctx, pipe, &img, &face, NULL, 1, &nf, &err) == FR_OK && nf == 1 &&
        fr_align(&img, &face, po.align, fr_embedder_input_size(emb), &chips[n_chips], &err) ==
            FR_OK)
      n_chips++;
    else
      fprintf(stderr, "facerec: %s: no face (skipped)\n", argv[i]);
    fr_image_free(&img);
  }
  if (n_chips == 0) {
    fprintf(stderr, "facerec: quantize: no face found in the images\n");
    goto done;
  }
  if (fr__embedder_calibrate(emb, chips, n_chips, &ranges, &nr, &err) != FR_OK) {
    fprintf(stderr, "facerec: %s\n", err.message);
    goto done;
  }
  printf("/*\n * faceapi_int8_table.c - FaceRecognitionNet's int8 calibration table, written\n"
         " * by `facerec quantize` from %d face chips: per tensor id of the graph, the\n"
         " * float range [lo, hi] its int8 convolutions quantise (lo = the minimum, hi =\n"
         " * the %.2f percentile of |x|). Derived data: regenerate, do not edit.\n */\n",
         n_chips, FR__QUANT_PERCENTILE);
  printf("#include \"embed/embed_internal.h\"\n#include \"nn/quant.h\"\n\n");
  printf("static const fr__quant_range k_ranges[%d] = {\n", nr);
  for (int t = 0; t < nr; t++)
    printf("    {%.8ef, %.8ef}, /* tensor %d */\n", (double)ranges[t].lo, (double)ranges[t].hi,
           t);
  printf("};\nconst fr__quant_range *const fr__faceapi_int8_ranges = k_ranges;\n");
  printf("const int fr__faceapi_int8_nranges = %d;\n", nr);
  fprintf(stderr, "facerec: calibrated on %d of %d images\n", n_chips, n_img);
  rc = 0;
done:
  for (int i = 0; i < n_chips; i++) fr_image_free(&chips[i]);
  free(chips);
  free(ranges);
  fr_embedder_destroy(emb);
  fr_context_destroy(ctx);
  fr_pipeline_destroy(pipe);
  return rc;
}
