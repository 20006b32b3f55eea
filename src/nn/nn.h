/*
 * nn.h - facerec's inference engine.
 *
 * A network is an fr__graph: a list of nodes over float32 NHWC tensors, built
 * once by per-network builder code from a weight map (weights are copied and
 * packed for the kernels in use), then immutable and shareable by threads.
 *
 * Running it needs an fr__plan: the shape of every tensor for one input size
 * and an arena in which each activation has a fixed offset, assigned so that
 * tensors whose lifetimes do not overlap share memory. A plan belongs to one
 * thread's context and is reused run after run, so inference never allocates.
 *
 * Node builders return the id (>= 0) of the node's output tensor. On a bad
 * argument or allocation failure they return -1 and the graph remembers the
 * first error, which fr__graph_finish() reports, so builder code can chain
 * calls and check once at the end.
 */
#ifndef FR_NN_H
#define FR_NN_H

#include "core/internal.h"

/* VALID and SAME follow TensorFlow (SAME puts the odd padding row at the
 * bottom); EXPLICIT windows take their four amounts from the node, as ONNX
 * gives them (the *_pads builders below). */
typedef enum { FR__PAD_VALID = 0, FR__PAD_SAME = 1, FR__PAD_EXPLICIT = 2 } fr__padding;

typedef enum {
  FR__ACT_NONE = 0,
  FR__ACT_RELU = 1,
  FR__ACT_RELU6 = 2,
  FR__ACT_LEAKY = 3 /* x < 0 ? alpha * x : x */
} fr__act;

/* ---- kernels ---------------------------------------------------------- */

/* Arguments of a convolution (regular, depthwise or fully connected). */
typedef struct fr__conv_args {
  const float *in; /* [n, ih, iw, cin] */
  int n, ih, iw, cin;
  float *out; /* [n, oh, ow, cout] */
  int oh, ow, cout;
  int kh, kw, stride, pad_top, pad_left;
  const float *w;        /* weights in the kernel table's packed layout */
  /* When not NULL, the weights are uint8 codes instead (w is then unused):
   * the kernel table's pack_conv_u8 block, dequantised while convolving. */
  const void *wq;
  const float *bias;     /* [cout] or NULL */
  const float *residual; /* [n, oh, ow, cout] added before the activation, or NULL */
  fr__act act;
  float alpha;
} fr__conv_args;

/*
 * The integer kernels of int8 convolutions (src/nn/quant.h), narrowest
 * first. A kernel set names the widest one its graphs may use
 * (fr__kernels.int8_max); fr__int8_level_for() takes the widest at or below
 * it that the CPU runs. Every level but FR__INT8_AVX2 quantises activations
 * to 8 bits (0..255) and gives the scalar reference's outputs bit for bit;
 * FR__INT8_AVX2 needs 7-bit activations (0..127), so its graphs compute a
 * slightly different function (docs/kernels.md).
 */
typedef enum {
  FR__INT8_SCALAR = 0,     /* the reference, 8-bit activations */
  FR__INT8_AVX2 = 1,       /* vpmaddubsw pairs in int16: 7-bit activations */
  FR__INT8_AVXVNNI = 2,    /* vpdpbusd on ymm (AVX-VNNI), 8-bit */
  FR__INT8_AVX512VNNI = 3  /* vpdpbusd on zmm (AVX-512 VNNI), 8-bit */
} fr__int8_level;

/*
 * A set of compute kernels. Each fast set is tested against the scalar one.
 * Work is split into `tasks` independent pieces so that a pool can share it;
 * run(task, scratch) computes one piece using a per-thread scratch buffer of
 * scratch_floats(args) floats.
 */
typedef struct fr__kernels {
  const char *name;
  /* The widest integer kernel the int8 convolutions of a graph built on
   * this set may use: int8 follows the float set's choice (the scalar set
   * keeps int8 on the reference, the AVX2 set keeps it to ymm registers). */
  fr__int8_level int8_max;
  /* Packs HWIO weights [kh][kw][cin][cout] of a convolution with this
   * stride into the kernel's layout (returns an fr__aligned_alloc block, or
   * NULL on allocation failure). */
  float *(*pack_conv)(const float *hwio, int kh, int kw, int cin, int cout, int stride);
  /* The same for weights kept compressed: uint8 HWIO codes and the
   * per-output-channel affine map of fr__dequant_u8 (3 * cout floats).
   * Returns an fr__aligned_alloc block that conv_run reads through
   * fr__conv_args.wq, or NULL on allocation failure. conv_scratch and
   * conv_run must handle both forms. */
  void *(*pack_conv_u8)(const uint8_t *hwio, const float *affine, int kh, int kw, int cin,
                        int cout, int stride);
  size_t (*conv_scratch)(const fr__conv_args *a);
  int (*conv_tasks)(const fr__conv_args *a, int nthreads);
  void (*conv_run)(const fr__conv_args *a, int task, int ntasks, float *scratch);
  /* Depthwise weights stay [kh][kw][c]. */
  int (*dw_tasks)(const fr__conv_args *a, int nthreads);
  void (*dw_run)(const fr__conv_args *a, int task, int ntasks);
  /* Max (is_max = 1) or average pooling over a kh x kw window, described like
   * a depthwise convolution without weights, bias or activation; average
   * pooling divides by the number of in-bounds elements (TensorFlow SAME).
   * Split into dw_tasks(a, nthreads) tasks. */
  void (*pool_run)(const fr__conv_args *a, int is_max, int task, int ntasks);
  /* y[i] = act(x[i]) for i < n; y may equal x. */
  void (*act_run)(float *y, const float *x, size_t n, fr__act act, float alpha);
  /* PReLU over `pixels` vectors of c channels: y = x < 0 ? alpha[k] * x : x
   * for channel k; y may equal x. NULL: the graph uses the scalar loop. */
  void (*prelu_run)(float *y, const float *x, size_t pixels, int c, const float *alpha);
} fr__kernels;

extern const fr__kernels fr__kernels_scalar;
#if defined(__x86_64__) || defined(__i386__)
extern const fr__kernels fr__kernels_avx2;
#endif
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
/* AVX-512F convolutions (src/nn/kernels/avx512); only for CPUs that have it.
 * Built with GCC's target pragma, so not with other compilers. */
extern const fr__kernels fr__kernels_avx512;
#define FR__HAVE_AVX512_KERNELS 1
#endif
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && \
    (defined(__clang__) || __GNUC__ >= 11)
/* The AVX-VNNI int8 kernel (src/nn/kernels/avx2/int8.c) needs a compiler
 * that knows the instruction (GCC 11, clang 12). */
#define FR__HAVE_AVXVNNI_KERNEL 1
#endif

/*
 * The value of a compressed weight, exactly as every kernel set computes it:
 * for i < n and output channel c = i % cout,
 *   dst[i] = fmaf(codes[i] - zero[c], scale[c], offset[c])
 * where affine = {scale[cout], offset[cout], zero[cout]} and the zero points
 * are whole numbers in [0, 255], so that codes[i] - zero[c] is exact. With
 * the zero point taken out first the offset is small, and its rounding no
 * longer swamps weights near zero: for weights shipped as q * s + min, a
 * zero point z = round(-min / s) and offset min + z * s reproduce them about
 * as closely as float32 can hold them (fmaf(q, s, min) was ten times off).
 */
void fr__dequant_u8(float *dst, const uint8_t *codes, size_t n, int cout, const float *affine);

/*
 * The kernel set of this process: every graph built without an explicit set,
 * and through it the int8 convolutions, the gallery scan and the cascade
 * scan, use it. Chosen once, on first use, from fr__cpu() and the
 * environment (docs/kernels.md):
 *   FACEREC_KERNELS=scalar|avx2|avx512  the set to use instead of the best;
 *   FACEREC_INT8=scalar|avx2|avxvnni|avx512vnni  a narrower int8 kernel than
 *     the set's (for comparisons: avx2 gives the 7-bit activations of CPUs
 *     without VNNI on one that has it).
 * A value that is not one of these names, or names a set or kernel this CPU
 * cannot run, or a wider int8 kernel than the set allows, is not an error
 * (the library never fails or prints because of its environment): the best
 * choice the CPU allows is taken instead, and fr__kernels_env_error() says
 * what was ignored.
 */
const fr__kernels *fr__kernels_best(void);

/* Why the environment's kernel choice was not followed ("" when it was, or
 * nothing was asked), for a caller that wants to warn. */
const char *fr__kernels_env_error(void);

/* The decision fr__kernels_best() makes, as a pure function of its inputs so
 * that tests can try every CPU and value: `kernels` and `int8` are the
 * variables' values (NULL or "" when unset). Sets out->set to the float set,
 * out->int8_max to the int8 level its graphs may use (the set's own, or the
 * narrower one FACEREC_INT8 asked for), and out->error as described above. */
typedef struct fr__kernel_choice {
  const fr__kernels *set;
  fr__int8_level int8_max;
  char error[160];
} fr__kernel_choice;
void fr__kernels_choose(const fr__cpu_info *cpu, const char *kernels, const char *int8,
                        fr__kernel_choice *out);

/* The int8 kernel a graph whose set allows `max` runs on `cpu`: the widest
 * level at or below max that the CPU runs and this build has (each level
 * falls back to the next narrower one, down to the scalar reference). */
fr__int8_level fr__int8_level_for(fr__int8_level max, const fr__cpu_info *cpu);

/* The level's name: "scalar", "avx2", "avxvnni" or "avx512vnni". */
const char *fr__int8_level_name(fr__int8_level level);

/* ---- graphs ----------------------------------------------------------- */

typedef struct fr__graph fr__graph;

/* kernels NULL means fr__kernels_best(). `name` labels error messages. */
fr_status fr__graph_create(const fr__kernels *kernels, const char *name, fr__graph **out,
                           fr_error *err);
void fr__graph_destroy(fr__graph *g);

/* The graph's single input, NHWC with `channels` channels; any batch/size. */
int fr__input(fr__graph *g, int channels);

/* 2-D convolution, HWIO weights; stride in both axes; optional residual tensor
 * of the output's shape added before the activation. */
int fr__conv2d(fr__graph *g, int x, const float *w_hwio, const float *bias, int kh, int kw,
               int cout, int stride, fr__padding pad, fr__act act, float alpha, int residual);

/* fr__conv2d with weights kept compressed (4x less memory than float32):
 * codes_hwio are uint8 HWIO codes, and a weight's value is given by the
 * per-output-channel affine map of fr__dequant_u8 (3 * cout floats). All
 * arrays are copied. Meant for large layers of networks whose weights ship
 * uint8-quantised; the kernels dequantise while convolving. */
int fr__conv2d_u8(fr__graph *g, int x, const uint8_t *codes_hwio, const float *affine,
                  const float *bias, int kh, int kw, int cout, int stride, fr__padding pad,
                  fr__act act, float alpha, int residual);

/* Layers with fewer weights than this stay float32 in the network builders.
 * The larger ones hold 88% of SSD-MobileNetV1's weights and 79% of
 * FaceRecognitionNet's (its 256-channel layers). Also compressing down to
 * 65536 weights (FaceRecognitionNet's 128-channel layers, which run on 64
 * pixels) saved 2.4 MB more but measured about 2% slower per descriptor:
 * dequantising is a pass over the weights per tile of pixels, which pays
 * only where few pixels share the weights. */
#define FR__CONV_U8_MIN_WEIGHTS 262144

/* Depthwise convolution (channel multiplier 1), weights [kh][kw][c]. */
int fr__dwconv2d(fr__graph *g, int x, const float *w, const float *bias, int kh, int kw,
                 int stride, fr__padding pad, fr__act act, float alpha);

/* Fully connected over the flattened H*W*C of each batch item; w is [in][out]. */
int fr__fc(fr__graph *g, int x, const float *w, const float *bias, int in, int out, fr__act act,
           float alpha);

/* Elementwise sum of n (2..8) same-shaped tensors, then the activation. */
int fr__add(fr__graph *g, const int *xs, int n, fr__act act, float alpha);

/* Max or average pooling, k x k window. Average pooling with SAME padding
 * divides by the number of in-bounds elements (TensorFlow semantics). */
int fr__maxpool(fr__graph *g, int x, int k, int stride, fr__padding pad);
int fr__avgpool(fr__graph *g, int x, int k, int stride, fr__padding pad);

/* Zero padding: `bottom` rows, `right` columns and `channels` extra channels
 * appended after the existing ones. */
int fr__pad(fr__graph *g, int x, int bottom, int right, int channels);

/* Mean over H and W: [n, h, w, c] -> [n, 1, 1, c]. */
int fr__mean(fr__graph *g, int x);

/* Elementwise activation on its own (for graphs that need it unfused). */
int fr__activate(fr__graph *g, int x, fr__act act, float alpha);

/* ---- general tensor ops (for imported graphs; loops in src/nn/ops.c) ---- */

/* Elementwise binary operators and unary functions. */
typedef enum { FR__BIN_ADD, FR__BIN_SUB, FR__BIN_MUL, FR__BIN_DIV, FR__BIN_MAX, FR__BIN_MIN } fr__binop;
typedef enum {
  FR__UN_NEG,
  FR__UN_ABS,
  FR__UN_EXP,
  FR__UN_RELU,
  FR__UN_RELU6,
  FR__UN_RELU1, /* clamp to [-1, 1] */
  FR__UN_TANH,
  FR__UN_SIGMOID,
  /* For imported ONNX graphs; a and b are fr__unary_param's parameters. */
  FR__UN_SQRT,
  FR__UN_ERF,
  FR__UN_HARDSWISH,   /* x * clamp(x / 6 + 1 / 2, 0, 1) */
  FR__UN_CLIP,        /* clamp(x, a, b) */
  FR__UN_HARDSIGMOID, /* clamp(a * x + b, 0, 1) */
  FR__UN_POW,         /* x ^ a */
  FR__UN_LAST = FR__UN_POW
} fr__unop;

/* Axes of an NHWC tensor that ops below can work along. */
enum { FR__AXIS_H = 1, FR__AXIS_W = 2, FR__AXIS_C = 3 };

/* y = act(a op b) with broadcasting: in each of n, h, w, c the two sizes are
 * equal or one of them is 1 (checked at plan time). */
int fr__binary(fr__graph *g, fr__binop op, int a, int b, fr__act act, float alpha);

/* y = act(x op k), or act(k op x) if k_first, with a constant k of shape
 * [1, kh, kw, kc] (copied) broadcast the same way. */
int fr__binary_const(fr__graph *g, fr__binop op, int x, const float *k, int kh, int kw, int kc,
                     int k_first, fr__act act, float alpha);

int fr__unary(fr__graph *g, int x, fr__unop op);
/* fr__unary of an op with parameters (FR__UN_CLIP, FR__UN_HARDSIGMOID,
 * FR__UN_POW); the others ignore a and b. */
int fr__unary_param(fr__graph *g, int x, fr__unop op, float a, float b);

/* Windowed ops with explicit padding, pads = {top, bottom, left, right},
 * each smaller than the window: ONNX's pads, which TensorFlow's SAME cannot
 * express (a stride-2 3x3 convolution padded 1 on every side of an even
 * input pads the top, where SAME pads only the bottom). Otherwise as
 * fr__conv2d, fr__dwconv2d, fr__maxpool and fr__avgpool; average pooling
 * divides by the in-bounds count (ONNX count_include_pad = 0). */
int fr__conv2d_pads(fr__graph *g, int x, const float *w_hwio, const float *bias, int kh, int kw,
                    int cout, int stride, const int pads[4], fr__act act, float alpha,
                    int residual);
int fr__dwconv2d_pads(fr__graph *g, int x, const float *w, const float *bias, int kh, int kw,
                      int stride, const int pads[4], fr__act act, float alpha);
int fr__pool_pads(fr__graph *g, int x, int is_max, int kh, int kw, int stride, const int pads[4]);

/*
 * A convolution the fast kernels do not cover, run by a plain loop: groups
 * (cin and cout divisible by them), separate strides and dilations per axis,
 * explicit pads {top, bottom, left, right}; or with `transposed` a
 * transposed convolution (ONNX ConvTranspose) with output padding opad
 * {h, w}. Weights are [kh][kw][cin / groups][cout] for a convolution and
 * [kh][kw][cin][cout / groups] for a transposed one (copied). Rare layers
 * only: it is many times slower than fr__conv2d.
 */
typedef struct fr__conv_general {
  int kh, kw, cout, groups;
  int stride[2], dilation[2], pads[4];
  int transposed, opad[2];
} fr__conv_general;
int fr__conv2d_general(fr__graph *g, int x, const float *w, const float *bias,
                       const fr__conv_general *cg, fr__act act, float alpha);

/* Permutes the axes of [n, h, w, c]: output axis i is input axis perm[i].
 * The output's channel count (the size of input axis perm[3]) must be given,
 * since the engine knows channels at build time; it is checked at plan time. */
int fr__transpose(fr__graph *g, int x, const int perm[4], int out_channels);

/* Elements start, start + step, ... (len of them) along one axis (H, W or
 * C); the range is checked at plan time. */
int fr__slice(fr__graph *g, int x, int axis, int start, int len, int step);

/* Resizing with ONNX's modes: flags are FR__RESIZE_* below; output oh x ow. */
#define FR__RESIZE_ALIGN_CORNERS 1
#define FR__RESIZE_HALF_PIXEL 2
#define FR__RESIZE_NEAREST 4
/* Nearest only: how a source coordinate rounds, in bits 3-4. */
#define FR__RESIZE_ROUND_PREFER_FLOOR (0 << 3)
#define FR__RESIZE_ROUND_PREFER_CEIL (1 << 3)
#define FR__RESIZE_FLOOR (2 << 3)
#define FR__RESIZE_CEIL (3 << 3)
int fr__resize(fr__graph *g, int x, int oh, int ow, int flags);

/* x < 0 ? alpha[c] * x : x with one slope per channel (copied). */
int fr__prelu(fr__graph *g, int x, const float *alpha);

/* Softmax of beta * x over the channels of each pixel. */
int fr__softmax(fr__graph *g, int x, float beta);

/* Max (is_max) or sum over one axis, keeping it with size 1. */
int fr__reduce(fr__graph *g, int x, int axis, int is_max);

/* Concatenation of n (2..8) tensors along an axis; the others must match. */
int fr__concat(fr__graph *g, const int *xs, int n, int axis);

/* The same values in row-major order viewed as [n, h, w, c]: the element
 * count per batch item must stay h*w*c (checked at plan time). A copy. */
int fr__reshape(fr__graph *g, int x, int h, int w, int c);

/* Bilinear resize to oh x ow, TensorFlow's align_corners/half_pixel_centers. */
int fr__resize_bilinear(fr__graph *g, int x, int oh, int ow, int align_corners,
                        int half_pixel_centers);

/* Zero padding on every side of H, W and C. */
int fr__pad_full(fr__graph *g, int x, int top, int bottom, int left, int right, int c_front,
                 int c_back);

/* The scalar loops behind the ops above (src/nn/ops.c); shapes are
 * {n, h, w, c}. Outputs never alias inputs. */
void fr__op_binary(fr__binop op, const float *a, const int as[4], const float *b, const int bs[4],
                   float *y, const int ys[4]);
void fr__op_unary(fr__unop op, const float *x, float *y, size_t n, float a, float b);
void fr__op_transpose(const float *x, const int xs[4], const int perm[4], float *y);
void fr__op_slice(const float *x, const int xs[4], int axis, int start, int len, int step,
                  float *y);
void fr__op_resize_nearest(const float *x, const int xs[4], float *y, const int ys[4], int flags);
void fr__op_conv_general(const float *x, const int xs[4], const float *w, const float *bias,
                         const fr__conv_general *cg, float *y, const int ys[4]);
void fr__op_prelu(const float *x, float *y, size_t pixels, int c, const float *alpha);
void fr__op_softmax(const float *x, float *y, size_t pixels, int c, float beta);
void fr__op_reduce(const float *x, const int xs[4], int axis, int is_max, float *y);
void fr__op_concat(const float *const *xs, const int (*shapes)[4], int n, int axis, float *y);
void fr__op_resize_bilinear(const float *x, const int xs[4], float *y, const int ys[4],
                            int align_corners, int half_pixel_centers);
void fr__op_pad(const float *x, const int xs[4], float *y, const int ys[4], int top, int left,
                int c_front);

/* Most outputs a graph has (SCRFD has 9: score, box and points at 3 strides). */
#define FR__MAX_OUTPUTS 16

/* Marks a tensor as an output; returns its output index. */
int fr__output(fr__graph *g, int x);

/* Validates the graph and freezes it; reports the first builder error. */
fr_status fr__graph_finish(fr__graph *g, fr_error *err);

/* Channels of a tensor (known at build time). */
int fr__channels(const fr__graph *g, int x);

/* Number of nodes (tests use it to see that fusion happened). */
int fr__graph_nodes(const fr__graph *g);

/* Multiply-adds per run at input n x h x w (for GFLOP/s figures). */
double fr__graph_macs(const fr__graph *g, int n, int h, int w);

const fr__kernels *fr__graph_kernels(const fr__graph *g);

/* A number no other graph of this process has, for caches keyed by graph. */
uint64_t fr__graph_uid(const fr__graph *g);

/* ---- describing a finished graph (for src/nn/model_file.c) -------------- */

/* The builder a node came from. */
typedef enum {
  FR__NODE_CONV, FR__NODE_DWCONV, FR__NODE_FC, FR__NODE_ADD, FR__NODE_MAXPOOL,
  FR__NODE_AVGPOOL, FR__NODE_PAD, FR__NODE_MEAN, FR__NODE_ACT, FR__NODE_BINARY,
  FR__NODE_UNARY, FR__NODE_PRELU, FR__NODE_SOFTMAX, FR__NODE_REDUCE, FR__NODE_CONCAT,
  FR__NODE_RESHAPE, FR__NODE_RESIZE, FR__NODE_PAD_FULL, FR__NODE_CONV_U8,
  /* fr__conv2d_general: its arguments travel as sub = groups, axis =
   * transposed, kshape = {stride h, stride w, dilation h}, oh = dilation w,
   * flags = output padding h | w << 16, pads[0..3]. */
  FR__NODE_CONV_GENERAL,
  /* fr__transpose: kshape = perm[0..2], flags = perm[3], cout = channels. */
  FR__NODE_TRANSPOSE,
  /* fr__slice: axis, kshape = {start, len, step}. */
  FR__NODE_SLICE
} fr__node_op;

/*
 * One node as its builder call made it, so that the call can be repeated:
 * tensor ids of its inputs and output, the builder's arguments, and its
 * weights. w is what the builder was given for DWCONV, BINARY with a constant
 * (nin == 1) and PRELU; for CONV and FC it is the kernels' packed copy, which
 * equals the HWIO input only for a graph built with a kernel set whose
 * pack_conv copies (fr__kernels_record, model_file.h). Pointers stay valid
 * while the graph lives.
 */
typedef struct fr__node_info {
  fr__node_op op;
  int in[8], nin, out, residual;
  int kh, kw, cin, cout, stride;
  fr__padding pad;
  fr__act act;
  float alpha, beta;
  int pad_bottom, pad_right, pad_channels;
  int sub, axis, flags, kshape[3], oh, ow, pads[6];
  const float *w, *b;
  /* CONV_U8: the kernels' packed block instead of w, which for a graph
   * built with fr__kernels_record is the HWIO codes, then from byte
   * fr__u8_affine_at(kh * kw * cin * cout) the 3 * cout floats of its
   * affine map (fr__dequant_u8). */
  const void *wq;
} fr__node_info;

/* Where the scales follow the codes in a block laid out as described above
 * (the codes padded to 64 bytes, so the floats stay aligned). */
static inline size_t fr__u8_affine_at(size_t codes) { return (codes + 63) & ~(size_t)63; }

/* Fills *info for node i of a finished graph; 0 if i is out of range. */
int fr__graph_node_info(const fr__graph *g, int i, fr__node_info *info);

/* The input tensor, and the output tensors (returns their count, <= 8). */
int fr__graph_input(const fr__graph *g);
int fr__graph_outputs(const fr__graph *g, int outs[FR__MAX_OUTPUTS]);
const char *fr__graph_name(const fr__graph *g);

/* ---- plans and running -------------------------------------------------- */

typedef struct fr__plan fr__plan;

/* The most activation floats one plan may hold (default 2^32, 16 GB): more is
 * FR_E_LIMIT before anything is allocated. The fuzzers lower it, so that a
 * hostile graph's huge plan is refused instead of zeroed for seconds; set it
 * only while no plan is being made on another thread. */
extern size_t fr__plan_max_floats;

/* Plans a graph for input [n, h, w, C]. nthreads sizes per-thread scratch. */
fr_status fr__plan_create(const fr__graph *g, int n, int h, int w, int nthreads,
                          fr__plan **out, fr_error *err);
void fr__plan_destroy(fr__plan *p);

/* Where the caller writes the NHWC input before fr__run. */
float *fr__plan_input(fr__plan *p);

/* Bytes of activation + scratch memory the plan holds. */
size_t fr__plan_bytes(const fr__plan *p);

/* Runs the graph. pool may be NULL; it must have at most the plan's threads. */
void fr__run(const fr__graph *g, fr__plan *p, fr_pool *pool);

/* fr__run that also calls observe(arg, tensor, data, count) with the input
 * and then each node's output right after it is computed (the arena reuses
 * memory, so data is only valid during the call). For calibration. */
void fr__run_observe(const fr__graph *g, fr__plan *p, fr_pool *pool,
                     void (*observe)(void *arg, int tensor, const float *data, size_t count),
                     void *arg);

/* Number of tensors (ids are 0 .. count - 1). */
int fr__graph_tensors(const fr__graph *g);

/* int8 quantisation (src/nn/quant.h): while set, every fr__conv2d whose input
 * tensor t < n has ranges[t].hi > 0 becomes an int8 convolution for inputs
 * in [ranges[t].lo, ranges[t].hi]. ranges is read during fr__conv2d calls
 * only (not kept); NULL turns quantisation off for the convs that follow. */
struct fr__quant_range;
void fr__graph_set_quant(fr__graph *g, const struct fr__quant_range *ranges, int n);

/* Number of int8 convolution nodes in a graph (tests and messages). */
int fr__graph_int8_nodes(const fr__graph *g);

/* The k-th output after a run, and its shape [n, h, w, c] if shape != NULL. */
const float *fr__plan_output(const fr__plan *p, int k, int shape[4]);

/* ---- contexts (src/nn/context.c) --------------------------------------- */

/*
 * The plan for (graph, n, h, w) held by ctx: created on first use and then
 * reused, so a steady stream of same-sized inputs never allocates.
 */
fr_status fr__context_plan(fr_context *ctx, const fr__graph *g, int n, int h, int w,
                           fr__plan **out, fr_error *err);
fr_pool *fr__context_pool(fr_context *ctx);

/* A per-context scratch buffer of at least `floats` floats, grown on demand and
 * kept, so steady-state callers do not allocate. NULL on allocation failure.
 * Its contents are not preserved between calls. */
float *fr__context_scratch(fr_context *ctx, size_t floats);

/* Activation helper shared by kernels. */
static inline float fr__apply_act(float v, fr__act act, float alpha) {
  switch (act) {
  case FR__ACT_RELU: return v > 0.f ? v : 0.f;
  case FR__ACT_RELU6: return v < 0.f ? 0.f : (v > 6.f ? 6.f : v);
  case FR__ACT_LEAKY: return v < 0.f ? alpha * v : v;
  default: return v;
  }
}

#endif
