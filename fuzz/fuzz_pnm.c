/*
 * fuzz_pnm.c - libFuzzer target: PGM/PPM (P2, P3, P5, P6) decoding through fr_image_decode
 * (inputs of other formats are rejected, so the corpus stays on the netpbm parser). The checks
 * live in fuzz.h, shared with tests/test_regress.c.
 */
#define _GNU_SOURCE /* memfd_create, used by the LFW entry point in fuzz.h */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return fuzz_libfuzzer(FUZZ_PNM, data, size);
}
