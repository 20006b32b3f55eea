/*
 * fuzz_tfjs.c - libFuzzer target: the TF.js weight loader fr__tfjs_parse; an input is the
 * manifest JSON, a NUL byte, then the shard bytes. The checks live in fuzz.h, shared with
 * tests/test_regress.c.
 */
#define _GNU_SOURCE /* memfd_create, used by the LFW entry point in fuzz.h */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return fuzz_libfuzzer(FUZZ_TFJS, data, size);
}
