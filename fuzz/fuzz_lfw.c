/*
 * fuzz_lfw.c - libFuzzer target: the LFW pairs.txt parser fr__lfw_load, fed through an anonymous
 * memory file. The checks live in fuzz.h, shared with tests/test_regress.c.
 */
#define _GNU_SOURCE /* memfd_create, used by the LFW entry point in fuzz.h */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return fuzz_libfuzzer(FUZZ_LFW, data, size);
}
