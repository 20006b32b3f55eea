/*
 * fuzz_png.c - libFuzzer target: PNG decoding through fr_image_decode (inputs without the PNG
 * signature are rejected, so the corpus stays on the PNG decoder). The checks live in fuzz.h,
 * shared with tests/test_regress.c.
 */
#define _GNU_SOURCE /* memfd_create, used by the LFW entry point in fuzz.h */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return fuzz_libfuzzer(FUZZ_PNG, data, size);
}
