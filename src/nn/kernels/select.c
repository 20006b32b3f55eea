/*
 * select.c - the process's one kernel-set choice (see fr__kernels_best in
 * nn/nn.h and docs/kernels.md).
 *
 * This is the only place that reads FACEREC_KERNELS and FACEREC_INT8, and it
 * reads them once: every graph built on the default set, the int8
 * convolutions inside them (through the set's int8_max), the gallery scan and
 * the cascade scan follow the set chosen here, so that one variable changes
 * every SIMD path together and two parts of the library can never run on
 * different sets by accident.
 */
#include "nn/nn.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The float sets need AVX2 and FMA (F16C comes with every AVX2 CPU, and the
 * AVX2 files are compiled with -mf16c, so the compiler may use it). */
static int runs_avx2(const fr__cpu_info *cpu) { return cpu->avx2 && cpu->fma && cpu->f16c; }
static int runs_avx512(const fr__cpu_info *cpu) { return runs_avx2(cpu) && cpu->avx512f; }

static const fr__kernels *best_set(const fr__cpu_info *cpu) {
#ifdef FR__HAVE_AVX512_KERNELS
  if (runs_avx512(cpu)) return &fr__kernels_avx512;
#endif
#if defined(__x86_64__) || defined(__i386__)
  if (runs_avx2(cpu)) return &fr__kernels_avx2;
#endif
  (void)runs_avx512;
  (void)cpu;
  return &fr__kernels_scalar;
}

/* The set FACEREC_KERNELS names, if this build has it and the CPU runs it;
 * NULL otherwise (*known says whether the name was one of the three). */
static const fr__kernels *named_set(const fr__cpu_info *cpu, const char *name, int *known) {
  *known = 1;
  if (strcmp(name, "scalar") == 0) return &fr__kernels_scalar;
#if defined(__x86_64__) || defined(__i386__)
  if (strcmp(name, "avx2") == 0) return runs_avx2(cpu) ? &fr__kernels_avx2 : NULL;
#else
  if (strcmp(name, "avx2") == 0) return NULL;
#endif
#ifdef FR__HAVE_AVX512_KERNELS
  if (strcmp(name, "avx512") == 0) return runs_avx512(cpu) ? &fr__kernels_avx512 : NULL;
#else
  if (strcmp(name, "avx512") == 0) return NULL;
#endif
  *known = 0;
  return NULL;
}

static const char *const int8_names[] = {"scalar", "avx2", "avxvnni", "avx512vnni"};

const char *fr__int8_level_name(fr__int8_level level) {
  return level >= FR__INT8_SCALAR && level <= FR__INT8_AVX512VNNI ? int8_names[level] : "unknown";
}

fr__int8_level fr__int8_level_for(fr__int8_level max, const fr__cpu_info *cpu) {
  /* Every SIMD int8 kernel quantises its input with the AVX2 code of
   * src/nn/kernels/avx2 (compiled for AVX2, FMA and F16C), so each needs
   * what the AVX2 float set needs. */
  const int avx2 = runs_avx2(cpu);
#ifdef FR__HAVE_AVX512_KERNELS
  if (max >= FR__INT8_AVX512VNNI && avx2 && cpu->avx512f && cpu->avx512bw && cpu->avx512vnni)
    return FR__INT8_AVX512VNNI;
#endif
#ifdef FR__HAVE_AVXVNNI_KERNEL
  if (max >= FR__INT8_AVXVNNI && avx2 && cpu->avxvnni) return FR__INT8_AVXVNNI;
#endif
#if defined(__x86_64__) || defined(__i386__)
  if (max >= FR__INT8_AVX2 && avx2) return FR__INT8_AVX2;
#endif
  (void)avx2;
  return FR__INT8_SCALAR;
}

void fr__kernels_choose(const fr__cpu_info *cpu, const char *kernels, const char *int8,
                        fr__kernel_choice *out) {
  memset(out, 0, sizeof *out);
  const fr__kernels *best = best_set(cpu);
  out->set = best;
  if (kernels && *kernels) {
    int known;
    const fr__kernels *k = named_set(cpu, kernels, &known);
    if (k)
      out->set = k;
    else if (known)
      snprintf(out->error, sizeof out->error,
               "FACEREC_KERNELS=%s: this CPU cannot run that set; using %s", kernels, best->name);
    else
      snprintf(out->error, sizeof out->error,
               "FACEREC_KERNELS=%.40s: not scalar, avx2 or avx512; using %s", kernels, best->name);
  }
  out->int8_max = out->set->int8_max;
  if (!int8 || !*int8) return;
  int level = -1;
  for (int i = 0; i < 4; i++)
    if (strcmp(int8, int8_names[i]) == 0) level = i;
  /* The first problem is the one reported: a bad FACEREC_KERNELS explains
   * more than what follows from it. */
  char msg[sizeof out->error];
  msg[0] = 0;
  if (level < 0)
    snprintf(msg, sizeof msg, "FACEREC_INT8=%.40s: not scalar, avx2, avxvnni or avx512vnni; using %s",
             int8, fr__int8_level_name(fr__int8_level_for(out->int8_max, cpu)));
  else if (level > (int)out->int8_max)
    snprintf(msg, sizeof msg, "FACEREC_INT8=%s: wider than the %s set allows; using %s", int8,
             out->set->name, fr__int8_level_name(fr__int8_level_for(out->int8_max, cpu)));
  else if (fr__int8_level_for((fr__int8_level)level, cpu) != (fr__int8_level)level)
    snprintf(msg, sizeof msg, "FACEREC_INT8=%s: this CPU cannot run it; using %s", int8,
             fr__int8_level_name(fr__int8_level_for((fr__int8_level)level, cpu)));
  if (msg[0] && !out->error[0]) memcpy(out->error, msg, sizeof msg);
  /* A narrower level is kept even when the CPU lacks it: the graphs then
   * take the next narrower one, as fr__int8_level_for documents. */
  if (level >= 0 && level <= (int)out->int8_max) out->int8_max = (fr__int8_level)level;
}

static fr__kernel_choice chosen;
/* The chosen set with a narrower int8_max, when FACEREC_INT8 asked for one:
 * a copy, so that the shared tables stay constant. */
static fr__kernels narrowed;
static const fr__kernels *process_set;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void choose_once(void) {
  fr__kernels_choose(fr__cpu(), getenv("FACEREC_KERNELS"), getenv("FACEREC_INT8"), &chosen);
  process_set = chosen.set;
  if (chosen.int8_max != chosen.set->int8_max) {
    narrowed = *chosen.set;
    narrowed.int8_max = chosen.int8_max;
    process_set = &narrowed;
  }
}

const fr__kernels *fr__kernels_best(void) {
  pthread_once(&once, choose_once);
  return process_set;
}

const char *fr__kernels_env_error(void) {
  pthread_once(&once, choose_once);
  return chosen.error;
}

const char *fr_kernels_name(void) { return fr__kernels_best()->name; }
