/*
 * quant.h - int8 post-training quantisation of convolutions.
 *
 * A quantised convolution keeps its activations in float32 in the plan's arena
 * like every other node, so the planner and the other nodes do not change.
 * Only the multiply-adds run in integers: when the node runs, its input is
 * quantised to unsigned 8 bits with a per-tensor scale and zero point found
 * by calibration (x ~ scale * (q - zero)), written once into a padded
 * buffer; the weights were quantised at build time to signed integers with
 * one scale per output channel (w ~ wscale[c] * qw). The int32 sums are
 * turned back into floats in the store, with the zero point's correction,
 * the bias, the residual and the activation fused.
 *
 * Weights are kept within [-63, 63] (7 bits): AVX2 has no u8 x s8 dot
 * product into 32 bits, and its vpmaddubsw adds two u8 x s8 products into a
 * saturating int16, which can only overflow when |w| > 64 (2 * 255 * 64 =
 * 32640 < 32767). With 7-bit weights every kernel set computes the exact
 * integer sums of the scalar reference, so their outputs are bit-identical.
 *
 * The plain AVX2 kernel goes one step further and adds two vpmaddubsw
 * results in int16 before widening, which needs activations <= 127: nodes
 * built for it (FR__INT8_AVX2: CPUs without VNNI, or FACEREC_INT8=avx2)
 * quantise activations to 7 bits, so their descriptors differ a little from
 * the VNNI and scalar ones, while each kernel still matches the scalar
 * reference exactly on the same bytes. Which kernel a node gets follows the
 * graph's kernel set (fr__kernels.int8_max, see nn.h and docs/kernels.md).
 *
 * Files: src/nn/qconv.c (the nodes and the kernel choice),
 * src/nn/kernels/{scalar,avx2,avx512}/int8.c (the kernels) and
 * src/nn/calibrate.c (activation ranges; it runs graphs, while graphs only
 * create and run nodes, so the two never call each other).
 */
#ifndef FR_NN_QUANT_H
#define FR_NN_QUANT_H

#include "nn/nn.h"

#include <stdint.h>

#define FR__QW_MAX 63 /* weight levels are -63..63, see above */
#define FR__Q_NR 16   /* output channels per packed weight block */

/* One run of the integer kernels over output rows [y0, y1) of batch item b. */
typedef struct fr__qconv_args {
  const uint8_t *in; /* padded quantised input [n][ph][pw][cinp] */
  int ph, pw, cinp;  /* cinp: input channels rounded up to 4 */
  int oh, ow, cout, stride, kh, kw;
  const int8_t *w;      /* packed: [cout / 16 blocks][K / 4][16][4], K = kh * kw * cinp */
  const int32_t *corr;  /* [cout] zero * sum of the channel's quantised weights */
  const float *scale;   /* [cout] input scale * weight scale */
  const float *bias;    /* [cout] (never NULL: zeros when the conv has none) */
  float *out;           /* [n][oh][ow][cout] */
  const float *residual; /* like out, added before the activation, or NULL */
  fr__act act;
  float alpha;
} fr__qconv_args;

/* Computes out rows [y0, y1) of batch item b:
 *   out = act(float(sum qin * qw - corr) * scale + bias + residual)
 * with the float steps in exactly this order (multiply, then adds), so that
 * every kernel set rounds the same way. */
typedef void (*fr__qconv_rows_fn)(const fr__qconv_args *a, int b, int y0, int y1);

/* The integer kernels, one per fr__int8_level. */
void fr__qconv_rows_scalar(const fr__qconv_args *a, int b, int y0, int y1);
#if defined(__x86_64__) || defined(__i386__)
/* Needs every input byte <= 127: it adds two vpmaddubsw results in int16
 * (at most 2 * 2 * 127 * 63 = 32004), saving a quarter of the multiply
 * instructions. Nodes built for it quantise activations to 0..127. */
void fr__qconv_rows_avx2(const fr__qconv_args *a, int b, int y0, int y1);
#endif
#ifdef FR__HAVE_AVXVNNI_KERNEL
/* AVX-VNNI (vpdpbusd on ymm). */
void fr__qconv_rows_vnni(const fr__qconv_args *a, int b, int y0, int y1);
#endif

/* Quantises n floats: dst = clamp(src * inv + zf, 0, top) truncated, i.e.
 * rounded to nearest when zf is the zero point + 0.5. Every version computes
 * the same bytes (multiply, add, clamp, truncate). */
typedef void (*fr__quantize_fn)(const float *src, uint8_t *dst, int n, float inv, float zf,
                                float top);
void fr__quantize_u8_scalar(const float *src, uint8_t *dst, int n, float inv, float zf,
                            float top);
#if defined(__x86_64__) || defined(__i386__)
void fr__quantize_u8_avx2(const float *src, uint8_t *dst, int n, float inv, float zf, float top);
#endif
#ifdef FR__HAVE_AVX512_KERNELS
/* AVX-512 VNNI (vpdpbusd on zmm), 8 pixels x 32 channels. */
void fr__qconv_rows_avx512vnni(const fr__qconv_args *a, int b, int y0, int y1);
#endif

/* The kernel of a level; the caller makes sure the CPU runs it (a level from
 * fr__int8_level_for). */
fr__qconv_rows_fn fr__qconv_rows_of(fr__int8_level level);

/* The highest activation level a node on this int8 level quantises to: 127
 * for FR__INT8_AVX2 (7 bits, see above), 255 for every other level. */
int fr__int8_top(fr__int8_level level);

/* ---- quantised convolution nodes --------------------------------------- */

typedef struct fr__qconv fr__qconv;

/* Quantises HWIO weights [kh][kw][cin][cout] (bias may be NULL) for an input
 * calibrated to the float range [lo, hi] (lo <= 0 <= hi after widening), to
 * run on fr__int8_level_for(max, fr__cpu()): a graph passes its kernel set's
 * int8_max. NULL on allocation failure or bad arguments. */
fr__qconv *fr__qconv_create(fr__int8_level max, const float *w_hwio, const float *bias, int kh,
                            int kw, int cin, int cout, float lo, float hi);
void fr__qconv_destroy(fr__qconv *q);

/* The int8 level the node runs on. */
fr__int8_level fr__qconv_level(const fr__qconv *q);

/* Bytes of shared buffer a run over this input needs (the padded u8 input). */
size_t fr__qconv_buffer_bytes(const fr__qconv *q, const fr__conv_args *a);

/* Runs the convolution described by a (float in/out, geometry as for the
 * float kernels; a->w is ignored) with buffer (fr__qconv_buffer_bytes bytes,
 * 64-byte aligned), splitting rows over the pool. */
void fr__qconv_run(const fr__qconv *q, const fr__conv_args *a, void *buffer, fr_pool *pool,
                   int nthreads);

/* ---- calibration (src/nn/calibrate.c) ----------------------------------- */

/*
 * A calibration table: for each tensor id of a graph, the float range
 * [lo, hi] the quantised input of a convolution reading it should cover.
 * Built by fr__quant_calibrate from sample inputs; kept as a C table of the
 * embedder (derived data, not weights), so loading needs no images.
 */
typedef struct fr__quant_range {
  float lo, hi;
} fr__quant_range;

/* Percentile of |values| used as the range (per tensor, over all samples).
 * 100, the maximum: on FaceRecognitionNet, clipping the largest activations
 * costs more than the coarser steps do. Descriptors of 12 chips moved from
 * float32 by a mean 0.034 (Euclidean) with the maximum, 0.039 at 99.999,
 * 0.085 at 99.99 and 0.13 at 99.9 (calibrated on 40 LFW chips). */
#define FR__QUANT_PERCENTILE 100.0

/*
 * Runs g on n inputs (each h x w x C floats, already prepared as the network
 * wants) and writes ranges[t] for every tensor t < fr__graph_tensors(g):
 * lo = min over the samples (0 for non-negative tensors) and hi = the
 * FR__QUANT_PERCENTILE percentile of the positive values.
 */
fr_status fr__quant_calibrate(const fr__graph *g, const float *inputs, int n, int h, int w,
                              fr__quant_range *ranges, fr_error *err);

#endif
