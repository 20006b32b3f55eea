/*
 * fuzz_model.c - libFuzzer target: the facerec model file reader fr__model_parse
 * (src/nn/model_file.c); an input is a .frm file, resealed before parsing. A model
 * that loads is planned and run at small sizes. The checks live in fuzz.h, shared
 * with tests/test_regress.c.
 */
#define _GNU_SOURCE /* memfd_create, used by the LFW entry point in fuzz.h */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return fuzz_libfuzzer(FUZZ_MODEL, data, size);
}
