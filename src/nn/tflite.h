/*
 * tflite.h - builds engine graphs (nn.h) from TensorFlow Lite flatbuffers, the
 * format of the MTCNN (pnet/rnet/onet), MobileFaceNet and BlazeFace
 * (face_detection_*_range) models.
 *
 * Supported: float32 models (float16 constants behind DEQUANTIZE are folded to
 * float32 at load) with the operators CONV_2D, DEPTHWISE_CONV_2D (multiplier
 * 1), FULLY_CONNECTED, ADD, SUB, MUL, DIV, MAXIMUM, MINIMUM, NEG, ABS, EXP,
 * RELU, RELU6, RELU_N1_TO_1, TANH, LOGISTIC, PRELU, MAX_POOL_2D,
 * AVERAGE_POOL_2D, PAD, RESHAPE, CONCATENATION, RESIZE_BILINEAR, SOFTMAX,
 * REDUCE_MAX, SUM, MEAN and DEQUANTIZE, with the fused activations NONE, RELU,
 * RELU6, RELU_N1_TO_1 and TANH. The elementwise PReLU decompositions these
 * models contain (relu(x) + a * -relu(-x), relu(x) + a * (x - |x|)) and the
 * softmax decomposition exp(x - max) / sum become single nodes.
 *
 * Every offset, length, index and size in the file is checked: a truncated or
 * corrupt file is FR_E_MODEL, a well-formed model using something above is
 * FR_E_UNSUPPORTED naming it, one whose weights exceed 256 MB FR_E_LIMIT.
 */
#ifndef FR_NN_TFLITE_H
#define FR_NN_TFLITE_H

#include "nn/nn.h"

/*
 * Builds an engine graph from a TFLite flatbuffer held in memory (the bytes are
 * not kept: weights are copied). The graph's single input is the model's input
 * tensor as NHWC; it runs at any batch size and, where the model's ops allow
 * (fully convolutional P-Net), any height and width, planned by
 * fr__plan_create/fr__context_plan. Outputs are the model's outputs in order;
 * fr__plan_output gives shape [n,h,w,c] where a rank-2 tensor [n,c] maps to
 * [n,1,1,c] and a rank-3 tensor [n,a,b] to [n,1,a,b]. kernels NULL: the best
 * set. `name` labels error messages (NULL: "tflite"). On success *out is a
 * finished graph the caller frees with fr__graph_destroy; on failure *out is
 * NULL. Thread-safe: no shared state.
 */
fr_status fr__tflite_load(const void *data, size_t size, const fr__kernels *kernels, const char *name,
                          fr__graph **out, fr_error *err);

/* fr__tflite_load with options: FR__TFLITE_NO_FUSION builds the PReLU and
 * softmax decompositions op by op, as the file spells them (tests compare
 * the two). */
#define FR__TFLITE_NO_FUSION 1
fr_status fr__tflite_load_ex(const void *data, size_t size, const fr__kernels *kernels,
                             const char *name, int flags, fr__graph **out, fr_error *err);

/* The same from a file (at most 256 MB; FR_E_IO if it cannot be read). The
 * file's base name labels error messages. */
fr_status fr__tflite_load_file(const char *path, const fr__kernels *kernels, fr__graph **out,
                               fr_error *err);

#endif
