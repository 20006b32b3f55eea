/*
 * cpu.c - the one probe of the CPU's features (fr__cpu, see internal.h).
 *
 * Every SIMD choice in the library (the float kernel set, the int8 kernel,
 * the gallery scan, the LBP cascade scan, the model checksum) reads the
 * struct filled here. One probe means one answer: two dispatchers can no
 * longer disagree about a feature because one of them forgot to check that
 * the OS saves the registers, and tests can compare the probe with the
 * compiler's own view in one place.
 */
#include "core/internal.h"

#include <pthread.h>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <cpuid.h>
#define FR__CPU_X86 1
#endif

static fr__cpu_info info;
static pthread_once_t once = PTHREAD_ONCE_INIT;

#ifdef FR__CPU_X86
/* XCR0, the register set the OS saves on a context switch. xgetbv is only
 * valid when CPUID reports OSXSAVE, which the caller checks first. Written as
 * an asm statement so that this file needs no -mxsave. */
static uint64_t xcr0(void) {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t)hi << 32 | lo;
}

static int bit(unsigned reg, int n) { return (int)(reg >> n & 1u); }

static void probe(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return;
  info.x86 = 1;
  info.sse42 = bit(c, 20);
  const int osxsave = bit(c, 27);
  const uint64_t x = osxsave ? xcr0() : 0;
  /* SSE (bit 1) and AVX (bit 2) state for ymm; opmask (5), the upper halves
   * of zmm0-15 (6) and zmm16-31 (7) for AVX-512. */
  info.os_ymm = (x & 0x6) == 0x6;
  info.os_zmm = info.os_ymm && (x & 0xe0) == 0xe0;
  /* Everything below is VEX or EVEX encoded, so it is usable only when the
   * OS saves the wider registers. */
  if (!info.os_ymm) return;
  info.avx = bit(c, 28);
  info.fma = bit(c, 12);
  info.f16c = bit(c, 29);
  unsigned max_leaf = __get_cpuid_max(0, NULL);
  if (max_leaf < 7) return;
  unsigned max7, b7, c7, d7;
  __cpuid_count(7, 0, max7, b7, c7, d7);
  (void)d7;
  info.avx2 = bit(b7, 5);
  if (info.os_zmm) {
    info.avx512f = bit(b7, 16);
    info.avx512bw = bit(b7, 30);
    info.avx512vl = bit(b7, 31);
    info.avx512vnni = bit(c7, 11);
  }
  if (max7 >= 1) {
    /* Leaf 7, sub-leaf 1, EAX bit 4: AVX-VNNI, the VEX form of vpdpbusd. */
    unsigned a1, b1, c1, d1;
    __cpuid_count(7, 1, a1, b1, c1, d1);
    (void)b1, (void)c1, (void)d1;
    info.avxvnni = bit(a1, 4);
  }
}
#else
/* Off x86 every flag stays 0, and every dispatcher takes its portable path. */
static void probe(void) {}
#endif

const fr__cpu_info *fr__cpu(void) {
  pthread_once(&once, probe);
  return &info;
}
