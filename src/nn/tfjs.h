/*
 * tfjs.h - loader for TensorFlow.js weight manifests (model-weights_manifest.json
 * plus the .bin shards it names), the format face-api's weights ship in.
 */
#ifndef FR_NN_TFJS_H
#define FR_NN_TFJS_H

#include "core/internal.h"

/* A loaded weight map: tensor name -> dequantised float32 values. */
typedef struct fr__weights fr__weights;

/*
 * Loads dir/manifest and the shards it lists (paths relative to dir).
 * Supported dtypes: float32, int32 (stored converted to float), and
 * quantised uint8/uint16/float16 per-tensor `quantization` entries
 * (value = min + scale * q for uint8/uint16). Every size is checked: a
 * truncated shard or a manifest that asks for more bytes than the shards hold
 * is FR_E_MODEL with a message naming the file and tensor.
 */
fr_status fr__tfjs_load(const char *dir, const char *manifest, fr__weights **out, fr_error *err);

/*
 * The same from memory: the manifest JSON and the concatenation of all its
 * shards in manifest order. `label` names the model in error messages. Used by
 * the loader above and by the fuzzer.
 */
fr_status fr__tfjs_parse(const char *json, size_t json_len, const uint8_t *bin, size_t bin_len,
                         const char *label, fr__weights **out, fr_error *err);

void fr__weights_destroy(fr__weights *w);

/*
 * Looks up a tensor and checks that its shape is exactly dims[0..ndim-1].
 * Returns its values (owned by w, valid until fr__weights_destroy) or NULL
 * with err set: FR_E_MODEL "<label>: tensor <name> missing" or
 * "<label>: tensor <name> has shape [..], expected [..]".
 */
const float *fr__weights_get(const fr__weights *w, const char *name, int ndim, const int *dims,
                             fr_error *err);

/*
 * The uint8 codes of a float32 tensor that the manifest stores uint8-
 * quantised: the tensor's value i is (float)(codes[i] * scale + min) computed
 * in double (what fr__weights_get returns). Returns 1 with *codes (count
 * bytes owned by w, valid until fr__weights_destroy), *scale and *min set; 0
 * if the tensor exists with that shape but is stored otherwise (the caller
 * uses its float values); -1 with err set as fr__weights_get would.
 */
int fr__weights_get_u8(const fr__weights *w, const char *name, int ndim, const int *dims,
                       const uint8_t **codes, double *scale, double *min, fr_error *err);

/*
 * Fills channels [c0, c0 + n) of an affine map for fr__dequant_u8 (3 * cout
 * floats: scales, offsets, zero points) for codes that stand for
 * q * scale + min, times mul[c] for channel c when mul is not NULL (a scale
 * folded into the weights). The zero point is round(-min / scale) within
 * [0, 255]; the offset min + zero * scale is then small, computed in double.
 */
void fr__weights_u8_affine(float *affine, int cout, int c0, int n, double scale, double min,
                           const float *mul);

/* Number of tensors, and the i-th tensor's name (for diagnostics and tests). */
int fr__weights_count(const fr__weights *w);
const char *fr__weights_name(const fr__weights *w, int i);

#endif
