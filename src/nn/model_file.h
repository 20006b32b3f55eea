/*
 * model_file.h - the facerec model file (".frm"): a network converted once by
 * `facerec convert` from its original format (TF.js manifest + shards, or
 * TFLite) into a compact, versioned file that loads in milliseconds.
 *
 * The file stores what the builder calls of nn.h were given - each node's
 * operator, arguments and unpacked weights (float32, or for fr__conv2d_u8
 * the uint8 codes with their per-channel scales and offsets) - not the kernels' packed
 * weights, so a file stays valid when the kernels or their packing change:
 * loading repeats the builder calls with the kernel set in use. The weights
 * are 64-byte-aligned float32 blocks, read in place from a read-only mapping
 * of the file (the builders copy them, so the mapping is dropped once the
 * graphs are built).
 *
 * Layout (little-endian; version 2, which added compressed convolutions -
 * a record naming a block of uint8 codes (counted in whole 32-bit words),
 * the bias, and a block of scales, offsets and zero points in its words 37
 * to 39. Version 1 files, which have none, are
 * still read: they give float32 graphs until converted again):
 *   0   "FRMODEL\0"
 *   8   u32 format version (FR__MODEL_VERSION)
 *   12  u32 checksum of bytes 16 .. file end: CRC-32C of the CRC-32Cs of
 *       its 256 KiB chunks (model_file.c says why)
 *   16  u64 file size
 *   24  u32 number of 32-bit words of the table of contents, which follows
 *       the 64-byte header
 *   28  u32 zero
 *   32  u64 offset of the first weight block (64-byte aligned)
 *   40  24 zero bytes
 * The table of contents is a sequence of u32 words: the metadata (role, name,
 * input size, descriptor length), the block table (offset and float count of
 * each weight block), the graphs (name, input channels, outputs, and one
 * fixed-size record per node; a graph's output list is its output tensor
 * ids in the order the graph had them), and named extra arrays (SSD's
 * anchor boxes).
 * Strings are a u32 length (< 32) and the bytes padded to whole words. A
 * node's tensors are numbered 0 for the graph input and i + 1 for node i's
 * output, and may only name earlier tensors.
 *
 * Everything read from a file is checked - sizes against the file size,
 * offsets, counts, tensor references, operator arguments against limits, the
 * checksum - so that a damaged or hostile file is an error, never a crash:
 * FR_E_FORMAT when it is not a model file at all (magic), FR_E_MODEL when it
 * is damaged, of another version or inconsistent, FR_E_LIMIT when it is
 * beyond the limits below, FR_E_IO when it cannot be read.
 */
#ifndef FR_NN_MODEL_FILE_H
#define FR_NN_MODEL_FILE_H

#include "nn/nn.h"

#define FR__MODEL_MAGIC "FRMODEL"
#define FR__MODEL_VERSION 2u
#define FR__MODEL_EXT ".frm"

/* Limits of what a model file may hold. */
#define FR__MODEL_MAX_GRAPHS 4
#define FR__MODEL_MAX_ARRAYS 8
#define FR__MODEL_MAX_NODES 4096
#define FR__MODEL_MAX_BYTES ((size_t)1 << 30)
#define FR__MODEL_NAME_MAX 32

/* What a model file holds a network for: the role word the model layer
 * gives when it saves or looks for a file. This file only checks that a
 * file's word is one of these and is the one asked for; the networks
 * themselves are declared by the models (src/nn/loader.h's fr__net_spec). */
typedef enum {
  FR__MODEL_DETECTOR = 1,
  FR__MODEL_EMBEDDER = 2,
  FR__MODEL_LANDMARKER = 3
} fr__model_role;

/* A named float array kept beside the graphs (SSD's "anchors"). */
typedef struct fr__model_array {
  char name[FR__MODEL_NAME_MAX];
  float *data; /* fr__aligned_alloc block owned by the model */
  size_t count;
} fr__model_array;

/*
 * A network's graphs and metadata. `name` is the name its registry gives the
 * network (the caller's string; the file is <name>.frm); input_size the
 * square input side its runtime uses by default; dim the length of the
 * output vector of an embedder or landmark net (0 else).
 * The model owns graphs and arrays; fr__model_release frees what is left (set
 * a pointer to NULL after taking it over).
 */
typedef struct fr__model {
  fr__model_role role;
  char name[FR__MODEL_NAME_MAX];
  int input_size, dim;
  int n_graphs;
  fr__graph *graphs[FR__MODEL_MAX_GRAPHS];
  int n_arrays;
  fr__model_array arrays[FR__MODEL_MAX_ARRAYS];
} fr__model;

void fr__model_release(fr__model *m);

/*
 * A kernel set for conversion: its pack_conv keeps HWIO weights as they are,
 * so that a graph built with it still holds its builder's weights and can be
 * saved. It runs (a plain loop convolution, the scalar set's other kernels),
 * so a graph built with it computes the right values, slowly; only
 * conversion and tests use it.
 */
extern const fr__kernels fr__kernels_record;

/*
 * Serialises m (whose graphs must be built with fr__kernels_record) into a
 * malloc'ed buffer the caller frees. FR_E_INVALID if a graph was built with
 * other kernels or m breaks the limits above.
 */
fr_status fr__model_serialize(const fr__model *m, uint8_t **out, size_t *size, fr_error *err);

/* The same written to path (through a temporary file renamed into place, so
 * a reader never sees half a file). */
fr_status fr__model_save(const fr__model *m, const char *path, fr_error *err);

/*
 * Rebuilds the graphs of a model file held in memory with the given kernels
 * (NULL: the best set). The bytes are not kept. `label` starts error messages
 * ("label: ..."). On success *m is filled; on failure *m is empty (zeroed).
 * Thread-safe: no shared state.
 */
fr_status fr__model_parse(const void *data, size_t size, const fr__kernels *kernels,
                          const char *label, fr__model *m, fr_error *err);

/* The same from a file, mapped read-only for the duration of the call
 * (measured as fast as or faster than reading it into memory). A file
 * truncated by another process during those milliseconds would raise SIGBUS;
 * fr__model_save replaces files by renaming, never by rewriting in place. */
fr_status fr__model_load(const char *path, const fr__kernels *kernels, fr__model *m,
                         fr_error *err);

/*
 * The shared loader's entry (loader.c): if model_dir/<name>.frm exists and
 * FACEREC_NO_FRM is not set to a non-empty value other than "0", loads it,
 * checks that it holds a network of this role and name, and sets *found = 1.
 * *found = 0 (and FR_OK) when there is no such file or converted files are
 * turned off, so the caller loads the original format. An existing but bad
 * file is an error (no silent fallback: a stale or damaged conversion should
 * be seen).
 */
fr_status fr__model_find(const char *model_dir, const char *name, fr__model_role role,
                         const fr__kernels *kernels, fr__model *m, int *found, fr_error *err);

/*
 * Rewrites the size and checksum fields of a model file image of `size`
 * bytes (>= 64) so that they match its content: tests and the fuzzer edit
 * files and reseal them to reach the checks behind the checksum.
 */
void fr__model_seal(uint8_t *data, size_t size);

/* Whether converted model files are turned off (FACEREC_NO_FRM). */
int fr__model_files_disabled(void);

/* Adds a copy of count floats (count > 0) to m as array `name`, which m then
 * owns: what a builder keeps beside its graphs (SSD's anchor boxes).
 * FR_E_INVALID beyond FR__MODEL_MAX_ARRAYS or with a name too long. */
fr_status fr__model_add_array(fr__model *m, const char *name, const float *data, size_t count,
                              fr_error *err);

/* Takes array `name` of exactly `count` floats out of m (the caller frees it
 * with fr__aligned_free); NULL if m has no such array. */
float *fr__model_take_array(fr__model *m, const char *name, size_t count);

/* Takes graph i out of m; NULL if there is none. */
fr__graph *fr__model_take_graph(fr__model *m, int i);

#endif
