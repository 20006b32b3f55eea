/*
 * internal.h - helpers shared by every part of the library (prefix fr__).
 * Nothing here is part of the public contract.
 */
#ifndef FR_INTERNAL_H
#define FR_INTERNAL_H

#include "facerec.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define FR__PRINTF(a, b) __attribute__((format(printf, a, b)))
#define FR__UNUSED __attribute__((unused))
#else
#define FR__PRINTF(a, b)
#define FR__UNUSED
#endif

/*
 * Records a failure in err (which may be NULL) and returns status, so that
 * error paths read as `return fr__fail(err, FR_E_FORMAT, "...", ...);`.
 */
fr_status fr__fail(fr_error *err, fr_status status, const char *fmt, ...) FR__PRINTF(3, 4);

/* Prefixes an existing error message with context ("loading X: ..."). */
void fr__error_prefix(fr_error *err, const char *fmt, ...) FR__PRINTF(2, 3);

/*
 * 64-byte aligned allocation (AVX2 loads like 32, cache lines like 64).
 * fr__aligned_alloc returns NULL for size 0 or on failure; memory from it must
 * be released with fr__aligned_free.
 */
/* Every allocation the library makes goes through these (src/core/alloc.c),
 * which use the allocator fr_set_allocator installed: never call malloc,
 * calloc, realloc, free or strdup directly in src/ outside the server. A
 * size of 0 allocates one byte, so that an empty request is never a NULL
 * that reads as a failure. */
void *fr__malloc(size_t size);
void *fr__calloc(size_t n, size_t size);
void *fr__realloc(void *p, size_t size);
void fr__free(void *p);
char *fr__strdup(const char *s);

void *fr__aligned_alloc(size_t size);
void *fr__aligned_calloc(size_t size);
void fr__aligned_free(void *p);

/* Overflow-checked size arithmetic: returns 0 on overflow, 1 on success. */
static inline int fr__mul_size(size_t a, size_t b, size_t *out) {
  if (a != 0 && b > SIZE_MAX / a) return 0;
  *out = a * b;
  return 1;
}

/* Reads a whole file into a malloc'd buffer (caller frees). max_size caps it. */
/* IEEE 754 half to single precision, bit for bit: every half is a float, so
 * subnormal halves become normal floats and infinities and NaNs keep their
 * sign and payload. The TF.js, TFLite and ONNX readers all use it. */
float fr__half_to_float(uint16_t h);

/* 64-bit FNV-1a of n bytes: names a file's contents (user models' ids). */
uint64_t fr__fnv1a64(const void *data, size_t n);

fr_status fr__read_file(const char *path, size_t max_size, uint8_t **data, size_t *size,
                        fr_error *err);

/* Joins dir and file into buf; FR_E_INVALID if it does not fit. */
fr_status fr__path_join(char *buf, size_t bufsize, const char *dir, const char *file,
                        fr_error *err);

/*
 * The folder a model's `file` loads from, into dir: model_dir when given
 * (FR_E_NOTFOUND naming the missing file and the model's title when it is not
 * there: the loaders would call it an unreadable file, which hides the usual
 * cause), else the fr_model_path() order. fallback (may be NULL) is a system
 * folder that holds the same file (OpenCV's cascades) and is used last.
 */
fr_status fr__model_dir(const char *file, const char *title, const char *model_dir,
                        const char *fallback, char *dir, size_t size, fr_error *err);

/* Monotonic time in seconds. */
double fr__now(void);

/* Tells the application's log callback (fr_log_set), if any wants `level`. */
void fr__log(fr_log_level level, const char *fmt, ...) FR__PRINTF(2, 3);

/* ---- thread pool (src/core/pool.c) ------------------------------------ */

/* Runs fn(arg, task, thread) for task in [0, ntasks) on the pool's threads
 * (pool may be NULL: everything runs on the caller). Returns when all are done.
 * `thread` is in [0, fr_pool_size(pool)) and indexes per-thread scratch. */
void fr__pool_run(fr_pool *pool, int ntasks, void (*fn)(void *arg, int task, int thread),
                  void *arg);

/* ---- CPU features (src/core/cpu.c) ------------------------------------ */

/*
 * What this CPU and its operating system let the library run, probed once
 * per process. Each flag is 1 only when the instructions are usable: the CPU
 * reports them and, for AVX and AVX-512, the OS saves the registers they use
 * (XCR0, read with xgetbv), since a CPU flag alone would let a kernel fault
 * on an OS that does not. Every SIMD dispatch in the library reads this
 * struct instead of asking the CPU itself. All zeros off x86.
 */
typedef struct fr__cpu_info {
  int x86;        /* the probe ran (an x86 CPU with CPUID) */
  int sse42;      /* SSE4.2: crc32 for model file checksums */
  int os_ymm;     /* the OS saves ymm state (XCR0 bits 1-2) */
  int os_zmm;     /* the OS saves zmm and mask state too (XCR0 bits 5-7) */
  int avx, avx2, fma, f16c;
  int avxvnni;    /* AVX-VNNI: vpdpbusd on ymm without AVX-512 */
  int avx512f, avx512bw, avx512vl, avx512vnni;
} fr__cpu_info;

/* The probed features; the same pointer on every call, safe from any thread
 * (the probe runs under pthread_once). */
const fr__cpu_info *fr__cpu(void);

#endif
