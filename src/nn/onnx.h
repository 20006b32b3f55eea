/*
 * onnx.h - builds engine graphs (nn.h) from ONNX models: the importer of
 * users' own networks (FaceNet's InceptionResnetV1, InsightFace's ArcFace
 * and SCRFD, and anything built from the same operators).
 *
 * The model's NCHW tensors become the engine's NHWC ones at import (weights
 * are transposed once; a Transpose(0,2,3,1) that only restores NHWC costs
 * nothing), shape subgraphs fed by constants are folded, BatchNormalization
 * is folded into the Conv or Gemm before it, Dropout and Identity vanish,
 * and a Conv's following Mul by a scalar, residual Add and activation are
 * fused into it. docs/onnx.md lists the operators and attributes read; any
 * other is FR_E_UNSUPPORTED naming the operator and its node.
 */
#ifndef FR_NN_ONNX_H
#define FR_NN_ONNX_H

#include "nn/netfile.h"

/* Builds nf (format "onnx") from an ONNX file held in memory; `name` labels
 * error messages (NULL: "onnx"). The bytes are not kept. Thread-safe. */
fr_status fr__onnx_load(const void *data, size_t size, const fr__netfile_options *opt,
                        const char *name, fr__netfile *nf, fr_error *err);

#endif
