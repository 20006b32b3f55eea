#!/usr/bin/python3
"""gen_models.py OUTDIR [--only NAME,...] - the ONNX test models of tests/onnx.sh.

Writes, with a fixed seed (each case's random numbers depend only on SEED and
its own name, so adding a case changes no other):
  OUTDIR/NAME.onnx      the model (for the "_b8" cases: the model of the case
                        named in "model", not written again)
  OUTDIR/NAME.in.npy    float32 input of the case's shape (NCHW for images)
  OUTDIR/cases.json     [{"name", "model", "input_name", "input_shape", "outputs",
                          "opset", "tol", "what"}, ...]
"model" is the .onnx file's stem (equal to "name" except for the batch-8
cases). "tol" bounds max|out - ref| / max|ref| against ONNX Runtime's output
(tests/onnx/ort_run.js writes NAME.ref.npy, NAME.ref{K}.npy).

Op cases: one small graph per operator and attribute combination, mostly on
[1,5,13,11]. Whole networks: facenet_irv1 (facenet-pytorch InceptionResnetV1),
iresnet50 (insightface arcface_torch), scrfd_head (an SCRFD-shaped detector);
exported the way torch.onnx.export writes them in eval mode: Conv without bias
followed by BatchNormalization nodes (not folded), Constant nodes for small
scalars, MatMul for bias-free Linear, Gemm(transB=1) for Linear with bias,
the Shape/Gather/Unsqueeze/Concat/Reshape subgraph for x.view(x.size(0), -1).
Their BatchNormalization statistics are calibrated: the graph is evaluated in numpy while it
is built (on the case's input and 3 more) and each BN gets the mean and variance it actually
sees (variance times U(0.5, 1.5), mean shifted by 0.1 sigma), as a trained net's would be; with
purely random statistics a deep random net maps every input to nearly the same output, and the
test would hardly depend on the input. tol: 1e-4 everywhere, the issue's bound (facenet_irv1's
batch-1 output is itself 1.6e-5 from a float64 evaluation in ONNX Runtime, and 2.4e-5 in facerec:
tests/onnx/f64_ref.py; facerec against ORT measures 3.3e-5).
Environment: GEN_NP_CHECK=1 also writes numpy's float32 outputs NAME.np{K}.npy of those nets.

Needs Debian's python3-onnx (1.12) and numpy: run with /usr/bin/python3.
"""
import json
import os
import sys
import time
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SEED = 20261127
FLOAT = TensorProto.FLOAT
INT64_MAX = 9223372036854775807
# IR version torch/onnx would write with each opset.
IR_FOR_OPSET = {9: 4, 10: 5, 11: 6, 12: 7, 13: 7, 14: 7, 15: 8, 16: 8, 17: 8}


def case_rng(name):
    return np.random.default_rng([SEED, zlib.crc32(name.encode())])


class B:
    """Graph builder: nodes and initializers with unique names."""

    def __init__(self, rng, opset, eager=None):
        self.rng = rng
        self.opset = opset
        self.nodes = []
        self.inits = []
        self.n = 0
        self.float_data = False  # store float initializers in float_data instead of raw_data
        # eager: a calibration input; every node is then also evaluated in numpy (self.vals) and
        # BatchNormalization takes its statistics from the values it actually sees, as a trained
        # net's would be (random running stats make deep random nets collapse to one output).
        self.vals = None if eager is None else {"input": eager}

    def uname(self, prefix):
        self.n += 1
        return "%s_%d" % (prefix, self.n)

    # --- values -------------------------------------------------------------------------
    def randn(self, shape, std=1.0):
        return (self.rng.standard_normal(shape, dtype=np.float32) * np.float32(std)).astype(np.float32)

    def uniform(self, shape, lo, hi):
        return self.rng.uniform(lo, hi, size=shape).astype(np.float32)

    def init(self, arr, prefix="w"):
        arr = np.asarray(arr)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        name = self.uname(prefix)
        if self.float_data and arr.dtype == np.float32:
            t = helper.make_tensor(name, FLOAT, arr.shape, arr.flatten().tolist(), raw=False)
        elif self.float_data and arr.dtype == np.int64:
            t = helper.make_tensor(name, TensorProto.INT64, arr.shape, arr.flatten().tolist(), raw=False)
        else:
            t = numpy_helper.from_array(arr, name)
        self.inits.append(t)
        if self.vals is not None:
            self.vals[name] = arr
        return name

    def ints(self, vals, prefix="shape"):
        return self.init(np.asarray(vals, dtype=np.int64), prefix)

    def floats(self, vals, prefix="k"):
        return self.init(np.asarray(vals, dtype=np.float32), prefix)

    def constant(self, arr, prefix="Constant"):
        """A Constant node (torch writes small scalars and shapes this way)."""
        arr = np.asarray(arr)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        name = self.uname(prefix)
        self.nodes.append(helper.make_node("Constant", [], [name], name=name + "_node",
                                           value=numpy_helper.from_array(arr)))
        if self.vals is not None:
            self.vals[name] = arr
        return name

    # --- nodes --------------------------------------------------------------------------
    def op(self, op_type, inputs, nout=1, **attrs):
        base = self.uname(op_type)
        outs = [base + ("" if nout == 1 else "_o%d" % i) for i in range(nout)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=base, **attrs))
        if self.vals is not None:
            res = np_eval(op_type, [self.vals[i] if i else None for i in inputs], attrs)
            for o, r in zip(outs, res):
                self.vals[o] = r
        return outs[0] if nout == 1 else outs

    def conv_w(self, cin, cout, k, groups=1, gain=2.0):
        kh, kw = (k, k) if isinstance(k, int) else k
        fan_in = (cin // groups) * kh * kw
        return self.randn((cout, cin // groups, kh, kw), np.sqrt(gain / fan_in))

    def conv(self, x, cin, cout, k, stride=1, pads=None, bias=True, groups=1, dilations=None,
             auto_pad=None, gain=2.0, explicit=True):
        """Conv; explicit=True writes every attribute as torch does."""
        kh, kw = (k, k) if isinstance(k, int) else k
        w = self.init(self.conv_w(cin, cout, (kh, kw), groups, gain), "conv_w")
        ins = [x, w]
        if bias:
            ins.append(self.init(self.randn((cout,), 0.1), "conv_b"))
        attrs = {}
        if explicit and auto_pad is None:
            attrs = dict(kernel_shape=[kh, kw], strides=[stride, stride], group=groups,
                         dilations=dilations or [1, 1], pads=pads if pads is not None else [0, 0, 0, 0])
        else:
            if stride != 1:
                attrs["strides"] = [stride, stride]
            if groups != 1:
                attrs["group"] = groups
            if dilations:
                attrs["dilations"] = dilations
            if pads is not None:
                attrs["pads"] = pads
            if auto_pad is not None:
                attrs["auto_pad"] = auto_pad
                attrs["kernel_shape"] = [kh, kw]
        return self.op("Conv", ins, **attrs)

    def bn(self, x, c, eps=1e-5, gamma=None):
        g = self.uniform((c,), 0.8, 1.2) if gamma is None else np.full((c,), gamma, np.float32)
        beta = self.randn((c,), 0.1)
        if self.vals is None:
            mean = self.randn((c,), 0.1)
            var = self.uniform((c,), 0.5, 1.5)
        else:  # calibrated: the statistics seen, var times U(0.5, 1.5), mean shifted a little
            v = self.vals[x].astype(np.float64)
            axes = (0,) + tuple(range(2, v.ndim))
            m, d = v.mean(axis=axes), v.var(axis=axes)
            d = d + 0.1 * d.mean() + 1e-6
            mean = (m + 0.1 * np.sqrt(d) * self.randn((c,))).astype(np.float32)
            var = (d * self.uniform((c,), 0.5, 1.5)).astype(np.float32)
        ins = [x, self.init(g, "bn_scale"), self.init(beta, "bn_bias"),
               self.init(mean, "bn_mean"), self.init(var, "bn_var")]
        return self.op("BatchNormalization", ins, epsilon=eps, momentum=0.9)

    def unsqueeze(self, x, axes):
        if self.opset >= 13:
            return self.op("Unsqueeze", [x, self.constant(np.asarray(axes, np.int64))])
        return self.op("Unsqueeze", [x], axes=axes)

    def squeeze(self, x, axes):
        if self.opset >= 13:
            return self.op("Squeeze", [x, self.constant(np.asarray(axes, np.int64))])
        return self.op("Squeeze", [x], axes=axes)

    def view_n_minus1(self, x):
        """x.view(x.size(0), -1) as torch.onnx.export writes it."""
        shp = self.op("Shape", [x])
        n = self.op("Gather", [shp, self.constant(np.asarray(0, np.int64))], axis=0)
        n1 = self.unsqueeze(n, [0])
        tgt = self.op("Concat", [n1, self.constant(np.asarray([-1], np.int64))], axis=0)
        return self.op("Reshape", [x, tgt])

    def torch_normalize(self, x):
        """F.normalize(x, p=2, dim=1) as torch.onnx.export writes it (opset 11..17)."""
        nrm = self.op("ReduceL2", [x], axes=[1], keepdims=1)
        clp = self.op("Clip", [nrm, self.constant(np.asarray(1e-12, np.float32)), ""])
        exp = self.op("Expand", [clp, self.op("Shape", [x])])
        return self.op("Div", [x, exp])


# --- numpy evaluation of the ops the whole networks use (eager mode of B) ----------------------
def np_conv(x, w, b, strides, pads, group, dilations):
    assert group == 1 and dilations == [1, 1]
    kh, kw = w.shape[2:]
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::strides[0], ::strides[1]]
    y = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)  # N,Ho,Wo,O -> NCHW
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return np.ascontiguousarray(y, dtype=x.dtype)


def np_maxpool(x, k, s, pads):
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])), constant_values=-np.inf)
    win = np.lib.stride_tricks.sliding_window_view(x, (k[0], k[1]), axis=(2, 3))[:, :, ::s[0], ::s[1]]
    return win.max(axis=(4, 5))


def np_eval(op, v, a):
    x = v[0] if v else None
    if op == "Conv":
        return [np_conv(x, v[1], v[2] if len(v) > 2 else None, a.get("strides", [1, 1]),
                        a.get("pads", [0, 0, 0, 0]), a.get("group", 1), a.get("dilations", [1, 1]))]
    if op == "BatchNormalization":
        shp = (1, -1) + (1,) * (x.ndim - 2)
        sc = v[1] / np.sqrt(v[4] + np.float32(a["epsilon"]))
        return [(x - v[3].reshape(shp)) * sc.reshape(shp) + v[2].reshape(shp)]
    if op == "Relu":
        return [np.maximum(x, 0)]
    if op == "PRelu":
        return [np.where(x >= 0, x, x * v[1])]
    if op == "Sigmoid":
        return [1 / (1 + np.exp(-x))]
    if op == "MaxPool":
        return [np_maxpool(x, a["kernel_shape"], a["strides"], a.get("pads", [0, 0, 0, 0]))]
    if op == "GlobalAveragePool":
        return [x.mean(axis=(2, 3), keepdims=True)]
    if op == "Concat":
        return [np.concatenate(v, axis=a["axis"])]
    if op in ("Add", "Mul", "Div"):
        f = {"Add": np.add, "Mul": np.multiply, "Div": np.divide}[op]
        return [f(v[0], v[1]).astype(np.result_type(v[0], v[1]))]
    if op in ("Dropout", "Identity"):
        return [x]
    if op == "Shape":
        return [np.asarray(x.shape, np.int64)]
    if op == "Gather":
        return [np.take(x, v[1], axis=a.get("axis", 0))]
    if op == "Unsqueeze":
        axes = a["axes"] if "axes" in a else list(v[1])
        return [np.expand_dims(x, tuple(axes))]
    if op == "Reshape":
        shp = [x.shape[i] if d == 0 else d for i, d in enumerate(v[1])]
        return [x.reshape(shp)]
    if op == "Flatten":
        return [x.reshape(int(np.prod(x.shape[:a["axis"]])), -1)]
    if op == "MatMul":
        return [x @ v[1]]
    if op == "Gemm":
        bm = v[1].T if a.get("transB") else v[1]
        return [np.float32(a.get("alpha", 1.0)) * (x @ bm) + np.float32(a.get("beta", 1.0)) * v[2]]
    if op == "ReduceL2":
        return [np.sqrt((x * x).sum(axis=tuple(a["axes"]), keepdims=bool(a.get("keepdims", 1))))]
    if op == "Clip":
        return [np.clip(x, v[1] if v[1] is not None else -np.inf, v[2] if len(v) > 2 and v[2] is not None else np.inf)]
    if op == "Expand":
        return [np.broadcast_to(x, tuple(v[1])).copy()]
    if op == "Transpose":
        return [np.ascontiguousarray(x.transpose(a["perm"]))]
    if op == "Resize":  # nearest, asymmetric, floor, integer scales only
        s = [int(f) for f in v[2]]
        return [x.repeat(s[2], axis=2).repeat(s[3], axis=3)]
    raise NotImplementedError(op)


# --- the case table -------------------------------------------------------------------------
CASES = []
S = [1, 5, 13, 11]


def case(name, shape=None, opset=13, tol=1e-4, what="", kind="normal", outputs=None, ir=None,
         init_as_input=False, float_data=False, input_dims=None, out_dims=None, calibrate=False):
    def deco(fn):
        CASES.append(dict(name=name, shape=list(shape or S), opset=opset, tol=tol, what=what,
                          kind=kind, fn=fn, outputs=outputs, ir=ir, init_as_input=init_as_input,
                          float_data=float_data, input_dims=input_dims, out_dims=out_dims,
                          calibrate=calibrate))
        return fn
    return deco


def add(name, fn, **kw):
    case(name, **kw)(fn)


# Conv ----------------------------------------------------------------------------------------
add("conv_3x3", lambda b, x: b.conv(x, 5, 8, 3, pads=[1, 1, 1, 1], explicit=False),
    what="Conv 5->8 3x3 pad 1 with bias, only pads given (kernel_shape from the weight)")
add("conv_nobias", lambda b, x: b.conv(x, 5, 8, 3, pads=[1, 1, 1, 1], bias=False),
    what="Conv 3x3 pad 1 without bias")
add("conv_depthwise", lambda b, x: b.conv(x, 5, 5, 3, pads=[1, 1, 1, 1], groups=5),
    what="depthwise Conv groups=C=5, 3x3 pad 1")
add("conv_depthwise_s2", lambda b, x: b.conv(x, 5, 5, 3, stride=2, pads=[1, 1, 1, 1], groups=5),
    what="depthwise Conv groups=5, 3x3 stride 2 pad 1")
add("conv_depthwise_m2", lambda b, x: b.conv(x, 5, 10, 3, pads=[1, 1, 1, 1], groups=5),
    what="depthwise Conv groups=5 with 2 outputs per channel (5->10)")
add("conv_group2", lambda b, x: b.conv(x, 6, 8, 3, pads=[1, 1, 1, 1], groups=2), shape=[1, 6, 13, 11],
    what="grouped Conv groups=2, 6->8, 3x3 pad 1")
add("conv_dilation2", lambda b, x: b.conv(x, 5, 8, 3, pads=[2, 2, 2, 2], dilations=[2, 2]),
    what="Conv 3x3 dilations 2 pad 2")
add("conv_s2_p1", lambda b, x: b.conv(x, 5, 8, 3, stride=2, pads=[1, 1, 1, 1]),
    what="Conv 3x3 stride 2 pad 1 (odd input 13x11)")
add("conv_pads_asym", lambda b, x: b.conv(x, 5, 8, 3, pads=[0, 0, 1, 1]),
    what="Conv 3x3 asymmetric pads [0,0,1,1] (bottom/right only)")
add("conv_s2_pads_asym", lambda b, x: b.conv(x, 5, 8, 3, stride=2, pads=[0, 0, 1, 1]),
    shape=[1, 5, 12, 10], what="Conv 3x3 stride 2 pads [0,0,1,1] (TF 'SAME' written out)")
add("conv_same_upper", lambda b, x: b.conv(x, 5, 8, 4, auto_pad="SAME_UPPER"),
    what="Conv 4x4 auto_pad SAME_UPPER (extra pad at the end)")
add("conv_same_lower", lambda b, x: b.conv(x, 5, 8, 4, auto_pad="SAME_LOWER"),
    what="Conv 4x4 auto_pad SAME_LOWER (extra pad at the start)")
add("conv_same_upper_s2", lambda b, x: b.conv(x, 5, 8, 3, stride=2, auto_pad="SAME_UPPER"),
    shape=[1, 5, 12, 10], what="Conv 3x3 stride 2 auto_pad SAME_UPPER on 12x10")
add("conv_valid", lambda b, x: b.conv(x, 5, 8, 3, stride=2, auto_pad="VALID"),
    what="Conv 3x3 stride 2 auto_pad VALID")
add("conv_1x1", lambda b, x: b.conv(x, 5, 16, 1), what="Conv 1x1 5->16")
add("conv_1x1_s2", lambda b, x: b.conv(x, 5, 16, 1, stride=2, bias=False),
    what="Conv 1x1 stride 2 without bias (ResNet downsample)")
add("conv_5x5", lambda b, x: b.conv(x, 5, 8, 5, pads=[2, 2, 2, 2]), what="Conv 5x5 pad 2")
add("conv_1x3", lambda b, x: b.conv(x, 5, 8, (1, 3), pads=[0, 1, 0, 1]),
    what="Conv non-square 1x3 pads (0,1)")
add("conv_3x1", lambda b, x: b.conv(x, 5, 8, (3, 1), pads=[1, 0, 1, 0]),
    what="Conv non-square 3x1 pads (1,0)")
add("conv_7x7_s2", lambda b, x: b.conv(x, 3, 8, 7, stride=2, pads=[3, 3, 3, 3]), shape=[1, 3, 33, 31],
    what="stem Conv 7x7 stride 2 pad 3 on 3 channels")
add("conv_b2", lambda b, x: b.conv(x, 5, 8, 3, pads=[1, 1, 1, 1]), shape=[2, 5, 13, 11],
    what="Conv 3x3 pad 1, batch 2")
add("conv_init_as_input", lambda b, x: b.op("Relu", [b.conv(x, 5, 8, 3, pads=[1, 1, 1, 1])]),
    opset=9, ir=3, init_as_input=True,
    what="Conv+Relu, opset 9 / IR 3 with the initializers also listed as graph inputs (old torch)")
add("conv_float_data", lambda b, x: b.conv(x, 5, 8, 3, pads=[1, 1, 1, 1]), float_data=True,
    what="Conv 3x3 with weight and bias stored in float_data instead of raw_data")


# ConvTranspose -------------------------------------------------------------------------------
def convt(b, x, cin, cout, k, stride, pads, bias=True):
    w = b.init(b.randn((cin, cout, k, k), np.sqrt(1.0 / (cin * k * k))), "convt_w")
    ins = [x, w] + ([b.init(b.randn((cout,), 0.1), "convt_b")] if bias else [])
    return b.op("ConvTranspose", ins, kernel_shape=[k, k], strides=[stride, stride], pads=pads,
                dilations=[1, 1], group=1)


add("convt_k2s2", lambda b, x: convt(b, x, 5, 4, 2, 2, [0, 0, 0, 0]),
    what="ConvTranspose 5->4 kernel 2 stride 2")
add("convt_k4s2p1", lambda b, x: convt(b, x, 5, 4, 4, 2, [1, 1, 1, 1]),
    what="ConvTranspose 5->4 kernel 4 stride 2 pads 1")

# BatchNormalization --------------------------------------------------------------------------
add("bn", lambda b, x: b.bn(x, 5), what="BatchNormalization alone (eps 1e-5)")
add("bn_nf", lambda b, x: b.bn(x, 17, eps=1e-3), shape=[2, 17],
    what="BatchNormalization on [N,F] (BatchNorm1d, eps 1e-3)")
add("conv_bn", lambda b, x: b.bn(b.conv(x, 5, 8, 3, pads=[1, 1, 1, 1], bias=False), 8, eps=1e-3),
    what="Conv without bias + BatchNormalization (eps 1e-3)")
add("conv_bias_bn_relu", lambda b, x: b.op("Relu", [b.bn(b.conv(x, 5, 8, 3, pads=[1, 1, 1, 1]), 8)]),
    what="Conv with bias + BatchNormalization + Relu")

# activations ---------------------------------------------------------------------------------
add("relu", lambda b, x: b.op("Relu", [x]), what="Relu")
add("prelu_channel", lambda b, x: b.op("PRelu", [x, b.init(b.uniform((5, 1, 1), 0.0, 0.5), "slope")]),
    what="PRelu with per-channel slope [C,1,1] (torch nn.PReLU(C))")
add("prelu_scalar", lambda b, x: b.op("PRelu", [x, b.floats([0.25], "slope")]),
    what="PRelu with a single slope [1]")
add("leakyrelu", lambda b, x: b.op("LeakyRelu", [x], alpha=0.1), what="LeakyRelu alpha 0.1")
add("clip_minmax", lambda b, x: b.op("Clip", [x, b.floats(-0.5, "min"), b.floats(0.7, "max")]),
    what="Clip with min -0.5 / max 0.7 inputs (opset 11+)")
add("clip_0_6", lambda b, x: b.op("Clip", [x, b.constant(np.float32(0)), b.constant(np.float32(6))]),
    kind="wide", what="Clip 0..6 (ReLU6) with Constant min/max, input N(0,4^2)")
add("clip_min_only", lambda b, x: b.op("Clip", [x, b.floats(-0.3, "min"), ""]),
    what="Clip with min only (max input empty)")
add("sigmoid", lambda b, x: b.op("Sigmoid", [x]), kind="wide", what="Sigmoid")
add("hardsigmoid", lambda b, x: b.op("HardSigmoid", [x], alpha=1.0 / 6, beta=0.5), kind="wide",
    what="HardSigmoid alpha 1/6 beta 0.5 (torch's)")
add("hardsigmoid_default", lambda b, x: b.op("HardSigmoid", [x]), kind="wide",
    what="HardSigmoid with ONNX's defaults (alpha 0.2, beta 0.5)")
add("hardswish", lambda b, x: b.op("HardSwish", [x]), opset=14, kind="wide", what="HardSwish (opset 14)")
add("tanh", lambda b, x: b.op("Tanh", [x]), what="Tanh")
add("softmax_axis1", lambda b, x: b.op("Softmax", [x], axis=1), kind="wide",
    what="Softmax axis 1 on NCHW (opset 13: over C only)")
add("softmax_axis1_op11", lambda b, x: b.op("Softmax", [x], axis=1), opset=11,
    what="Softmax axis 1 on NCHW at opset 11: over C*H*W flattened (pre-13 semantics)")
add("softmax_last", lambda b, x: b.op("Softmax", [x], axis=-1), shape=[3, 17], kind="wide",
    what="Softmax axis -1 on [N,F]")


# binary, broadcasting ------------------------------------------------------------------------
def c11(b, lo=None, hi=None):
    return b.init(b.randn((5, 1, 1)) if lo is None else b.uniform((5, 1, 1), lo, hi), "k")


add("add_tt", lambda b, x: b.op("Add", [b.op("Relu", [x]), b.op("Sigmoid", [x])]),
    what="Add of two computed tensors of the same shape")
add("add_c11", lambda b, x: b.op("Add", [x, c11(b)]), what="Add tensor + constant [C,1,1]")
add("add_1c11", lambda b, x: b.op("Add", [x, b.init(b.randn((1, 5, 1, 1)), "k")]),
    what="Add tensor + constant [1,C,1,1]")
add("add_scalar", lambda b, x: b.op("Add", [x, b.floats(0.75)]), what="Add tensor + constant scalar []")
add("add_full", lambda b, x: b.op("Add", [x, b.init(b.randn(S), "k")]),
    what="Add tensor + constant [1,C,H,W]")
add("add_nf_f", lambda b, x: b.op("Add", [x, b.init(b.randn((17,)), "k")]), shape=[2, 17],
    what="Add [N,F] + constant [F]")
add("sub_c11_lhs", lambda b, x: b.op("Sub", [c11(b), x]), what="Sub constant [C,1,1] - tensor")
add("sub_scalar", lambda b, x: b.op("Sub", [x, b.floats(0.5)]), what="Sub tensor - scalar")
add("sub_full", lambda b, x: b.op("Sub", [x, b.init(b.randn(S), "k")]),
    what="Sub tensor - constant [1,C,H,W]")
add("sub_tt", lambda b, x: b.op("Sub", [b.op("Tanh", [x]), b.op("Relu", [x])]),
    what="Sub of two computed tensors")
add("sub_nf_f", lambda b, x: b.op("Sub", [x, b.init(b.randn((17,)), "k")]), shape=[2, 17],
    what="Sub [N,F] - constant [F]")
add("mul_c11", lambda b, x: b.op("Mul", [x, c11(b)]), what="Mul tensor * constant [C,1,1]")
add("mul_scalar", lambda b, x: b.op("Mul", [x, b.constant(np.float32(0.17))]),
    what="Mul tensor * Constant-node scalar (residual scale)")
add("mul_full", lambda b, x: b.op("Mul", [b.init(b.randn(S), "k"), x]),
    what="Mul constant [1,C,H,W] * tensor")
add("mul_tt", lambda b, x: b.op("Mul", [x, b.op("Sigmoid", [x])]), what="Mul x * Sigmoid(x) (SiLU)")
add("mul_se", lambda b, x: b.op("Mul", [x, b.op("Sigmoid", [b.op("GlobalAveragePool", [x])])]),
    what="Mul [N,C,H,W] * computed [N,C,1,1] (squeeze-excitation)")
add("mul_bcast_c1", lambda b, x: b.op("Mul", [x, b.op("Sigmoid", [b.op("ReduceMean", [x], axes=[1], keepdims=1)])]),
    what="Mul [N,C,H,W] * computed [N,1,H,W] (ReduceMean over C)")
add("mul_nf_f", lambda b, x: b.op("Mul", [x, b.init(b.randn((17,)), "k")]), shape=[2, 17],
    what="Mul [N,F] * constant [F]")
add("div_c11", lambda b, x: b.op("Div", [x, c11(b, 0.5, 2.0)]), what="Div tensor / constant [C,1,1]")
add("div_full", lambda b, x: b.op("Div", [x, b.init(b.uniform(S, 0.5, 2.0), "k")]),
    what="Div tensor / constant [1,C,H,W]")
add("div_scalar", lambda b, x: b.op("Div", [x, b.floats(3.0)]), what="Div tensor / scalar")
add("div_scalar_lhs", lambda b, x: b.op("Div", [b.floats(2.0), b.op("Add", [b.op("Sigmoid", [x]), b.floats(0.5)])]),
    what="Div scalar / computed tensor")
add("div_tt", lambda b, x: b.op("Div", [x, b.op("Add", [b.op("Sigmoid", [x]), b.floats(0.5)])]),
    what="Div of two computed tensors")
add("div_nf_f", lambda b, x: b.op("Div", [x, b.init(b.uniform((17,), 0.5, 2.0), "k")]), shape=[2, 17],
    what="Div [N,F] / constant [F]")

# pooling, reductions -------------------------------------------------------------------------
add("maxpool_k3s2", lambda b, x: b.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2]),
    what="MaxPool 3x3 stride 2 no pad")
add("maxpool_k3s2p1", lambda b, x: b.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    what="MaxPool 3x3 stride 2 pad 1")
add("maxpool_k2s2", lambda b, x: b.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=0),
    what="MaxPool 2x2 stride 2 ceil_mode=0 on odd 13x11")
add("maxpool_b2", lambda b, x: b.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 0, 0],
                                    dilations=[1, 1], ceil_mode=0),
    shape=[2, 5, 13, 11], opset=12, what="MaxPool 3x3 stride 2, batch 2, all attributes written (opset 12)")
add("avgpool_excl", lambda b, x: b.op("AveragePool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                                      count_include_pad=0),
    what="AveragePool 3x3 stride 2 pad 1 count_include_pad=0")
add("avgpool_incl", lambda b, x: b.op("AveragePool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                                      count_include_pad=1),
    what="AveragePool 3x3 stride 2 pad 1 count_include_pad=1")
add("avgpool_k2s2", lambda b, x: b.op("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2]),
    what="AveragePool 2x2 stride 2 no pad")
add("gap", lambda b, x: b.op("GlobalAveragePool", [x]), what="GlobalAveragePool")
add("gap_b2", lambda b, x: b.op("GlobalAveragePool", [x]), shape=[2, 5, 13, 11],
    what="GlobalAveragePool batch 2")
add("reducemean_keep", lambda b, x: b.op("ReduceMean", [x], axes=[2, 3], keepdims=1),
    what="ReduceMean axes [2,3] keepdims 1")
add("reducemean_nokeep", lambda b, x: b.op("ReduceMean", [x], axes=[2, 3], keepdims=0),
    what="ReduceMean axes [2,3] keepdims 0 -> [N,C]")
add("reducel2", lambda b, x: b.op("ReduceL2", [x], axes=[1], keepdims=1),
    what="ReduceL2 axis 1 keepdims 1 on NCHW")
add("reducel2_nf", lambda b, x: b.op("ReduceL2", [x], axes=[1], keepdims=1), shape=[2, 17],
    what="ReduceL2 axis 1 keepdims 1 on [N,F]")

# Concat, Split, Slice ------------------------------------------------------------------------
add("concat_c", lambda b, x: b.op("Concat", [b.conv(x, 5, 3, 3, pads=[1, 1, 1, 1]), b.op("Relu", [x])], axis=1),
    what="Concat axis 1 of two computed tensors (3 + 5 channels)")
add("concat_h", lambda b, x: b.op("Concat", [b.op("Relu", [x]), b.op("Tanh", [x])], axis=2),
    what="Concat axis 2 (H)")
add("concat_w", lambda b, x: b.op("Concat", [b.op("Relu", [x]), b.op("Tanh", [x])], axis=3),
    what="Concat axis 3 (W)")


def split_equal(b, x, with_input=True):
    s0, s1 = b.op("Split", [x, b.ints([3, 3], "split")] if with_input else [x], nout=2, axis=1)
    return b.op("Concat", [s1, b.op("Mul", [s0, b.floats(2.0)])], axis=1)


def split_unequal(b, x):
    s0, s1, s2 = b.op("Split", [x, b.ints([1, 2, 3], "split")], nout=3, axis=1)
    return b.op("Concat", [s2, b.op("Mul", [s0, b.floats(2.0)]), s1], axis=1)


add("split_equal", split_equal, shape=[1, 6, 13, 11],
    what="Split axis 1 into [3,3] (opset 13 split input), reordered by Concat")
add("split_equal_implicit", lambda b, x: split_equal(b, x, False), shape=[1, 6, 13, 11],
    what="Split axis 1 into 2 equal parts from the output count (no split input)")
add("split_unequal", split_unequal, shape=[1, 6, 13, 11],
    what="Split axis 1 into [1,2,3] (opset 13 split input), reordered by Concat")


def slice_(b, x, starts, ends, axes, steps=None):
    ins = [x, b.ints(starts, "starts"), b.ints(ends, "ends"), b.ints(axes, "axes")]
    if steps is not None:
        ins.append(b.ints(steps, "steps"))
    return b.op("Slice", ins)


add("slice_c", lambda b, x: slice_(b, x, [1], [4], [1]), what="Slice channels 1:4")
add("slice_h", lambda b, x: slice_(b, x, [2], [10], [2], [1]), what="Slice H 2:10 step 1")
add("slice_neg", lambda b, x: slice_(b, x, [-5], [INT64_MAX], [3]), what="Slice W -5:end (negative start)")
add("slice_multi", lambda b, x: slice_(b, x, [1, -9, 0], [3, -1, 7], [1, 2, -1]),
    what="Slice C 1:3, H -9:-1, W 0:7 (axis -1) together")

# Reshape, Flatten, Transpose, Squeeze --------------------------------------------------------
add("reshape_gemm", lambda b, x: b.op("Gemm", [b.op("Reshape", [x, b.ints([1, -1])]),
                                               b.init(b.randn((16, 715), 1 / np.sqrt(715))), b.init(b.randn((16,), 0.1))],
                                      transB=1),
    what="Reshape NCHW -> [N,-1] (order C,H,W) then Gemm transB=1")
add("reshape_3d", lambda b, x: b.op("Reshape", [x, b.ints([1, 5, -1])]), what="Reshape [1,5,13,11] -> [1,5,143]")
add("reshape_zero", lambda b, x: b.op("Reshape", [x, b.ints([0, 65, -1])]),
    what="Reshape with 0 (copy dim) and -1: -> [1,65,11]")
add("flatten", lambda b, x: b.op("Flatten", [x], axis=1), what="Flatten axis 1")
add("flatten_b2", lambda b, x: b.op("Flatten", [x], axis=1), shape=[2, 5, 13, 11], what="Flatten axis 1 batch 2")
add("transpose_head", lambda b, x: b.op("Reshape", [b.op("Transpose", [b.conv(x, 5, 8, 3, pads=[1, 1, 1, 1])],
                                                          perm=[0, 2, 3, 1]), b.ints([1, -1, 4])]),
    what="Conv -> Transpose(0,2,3,1) -> Reshape [1,-1,4] (SCRFD head output)")
add("transpose_0132", lambda b, x: b.op("Transpose", [x], perm=[0, 1, 3, 2]), what="Transpose perm 0,1,3,2")
add("gather_scalar", lambda b, x: b.op("Gather", [x, b.ints(2)], axis=1),
    what="Gather of channel 2 by a scalar index (the axis is dropped)")
add("gather_vec", lambda b, x: b.op("Gather", [x, b.ints([3])], axis=2),
    what="Gather of row 3 by a one-element index (the axis stays)")
add("nhwc_input", lambda b, x: b.op("Relu", [b.conv(b.op("Transpose", [x], perm=[0, 3, 1, 2]), 3, 6, 3,
                                                     pads=[1, 1, 1, 1])]),
    shape=[1, 9, 7, 3], what="an NHWC input [1,9,7,3] (TensorFlow export) -> Transpose(0,3,1,2) -> Conv -> Relu")


def squeeze_unsqueeze(b, x):
    g = b.op("GlobalAveragePool", [x])
    s = b.squeeze(g, [2, 3])
    return b.unsqueeze(b.op("Mul", [s, b.floats(2.0)]), [2])


add("squeeze_unsqueeze", squeeze_unsqueeze, what="GAP -> Squeeze [2,3] -> Mul -> Unsqueeze [2] (axes inputs, opset 13)")
add("squeeze_unsqueeze_op11", squeeze_unsqueeze, opset=11,
    what="GAP -> Squeeze [2,3] -> Mul -> Unsqueeze [2] (axes attributes, opset 11)")

# Pad, Resize, Upsample -----------------------------------------------------------------------
add("pad_hw", lambda b, x: b.op("Pad", [x, b.ints([0, 0, 1, 2, 0, 0, 2, 1], "pads")], mode="constant"),
    what="Pad constant 0, H by (1,2) W by (2,1), pads input (opset 13)")
add("pad_hw_op10", lambda b, x: b.op("Pad", [x], pads=[0, 0, 1, 2, 0, 0, 2, 1], mode="constant", value=0.0),
    opset=10, what="Pad constant 0, pads attribute (opset 10)")
add("resize_nearest", lambda b, x: b.op("Resize", [x, "", b.floats([1, 1, 2, 2], "scales")], mode="nearest",
                                        coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
    what="Resize nearest x2, asymmetric + floor (torch interpolate), opset 13")
add("resize_nearest_op11", lambda b, x: b.op("Resize", [x, b.constant(np.zeros((0,), np.float32)),
                                                        b.constant(np.asarray([1, 1, 2, 2], np.float32))],
                                             mode="nearest", coordinate_transformation_mode="asymmetric",
                                             nearest_mode="floor"),
    opset=11, what="Resize nearest x2 asymmetric floor, opset 11 (empty roi and scales as Constant nodes)")
add("resize_linear", lambda b, x: b.op("Resize", [x, "", b.floats([1, 1, 2, 2], "scales")], mode="linear",
                                       coordinate_transformation_mode="half_pixel"),
    what="Resize linear x2 half_pixel")
add("resize_linear_ac", lambda b, x: b.op("Resize", [x, "", "", b.ints([1, 5, 20, 17], "sizes")], mode="linear",
                                          coordinate_transformation_mode="align_corners"),
    what="Resize linear align_corners to sizes 20x17")
add("upsample_op9", lambda b, x: b.op("Upsample", [x, b.floats([1, 1, 2, 2], "scales")], mode="nearest"),
    opset=9, what="Upsample nearest x2 (opset 9)")

# Gemm, MatMul --------------------------------------------------------------------------------
add("gemm_transb1", lambda b, x: b.op("Gemm", [x, b.init(b.randn((8, 17), 0.25)), b.init(b.randn((8,), 0.1))],
                                      transB=1),
    shape=[2, 17], what="Gemm transB=1 with bias C [M] (torch Linear)")
add("gemm_transb0_ab", lambda b, x: b.op("Gemm", [x, b.init(b.randn((17, 8), 0.25)), b.init(b.randn((1, 8), 0.1))],
                                         alpha=0.5, beta=2.0),
    shape=[2, 17], what="Gemm transB=0 alpha 0.5 beta 2 with C [1,M]")
add("gemm_nobias", lambda b, x: b.op("Gemm", [x, b.init(b.randn((8, 17), 0.25))], transB=1),
    shape=[2, 17], what="Gemm transB=1 without C")
add("matmul_const", lambda b, x: b.op("MatMul", [x, b.init(b.randn((17, 8), 0.25))]),
    shape=[2, 17], what="MatMul by constant B [K,M] (torch Linear without bias)")

# elementwise math ----------------------------------------------------------------------------
add("sqrt", lambda b, x: b.op("Sqrt", [x]), kind="abs", what="Sqrt (input |N(0,1)|)")
add("pow2", lambda b, x: b.op("Pow", [x, b.floats(2.0)]), what="Pow exponent constant 2")
add("pow05", lambda b, x: b.op("Pow", [x, b.floats(0.5)]), kind="abs", what="Pow exponent constant 0.5 (input |N(0,1)|)")
add("exp", lambda b, x: b.op("Exp", [x]), what="Exp")
add("erf", lambda b, x: b.op("Erf", [x]), kind="wide", what="Erf")
add("lpnorm", lambda b, x: b.op("LpNormalization", [x], axis=1, p=2), shape=[2, 17],
    what="LpNormalization axis 1 p 2 on [N,F]")
add("lpnorm_nchw", lambda b, x: b.op("LpNormalization", [x], axis=1, p=2),
    what="LpNormalization axis 1 p 2 on NCHW (per pixel over C)")
add("l2norm_torch", lambda b, x: b.torch_normalize(x), shape=[2, 17],
    what="F.normalize(x, dim=1) as torch exports it: ReduceL2, Clip(min 1e-12), Shape, Expand, Div")
add("identity", lambda b, x: b.op("Identity", [b.op("Relu", [x])]), what="Relu -> Identity")
add("dropout", lambda b, x: b.op("Dropout", [b.op("Relu", [x])]), what="Relu -> Dropout (eval: identity), opset 13")
add("dropout_op10", lambda b, x: b.op("Dropout", [b.op("Relu", [x])], ratio=0.4), opset=10,
    what="Relu -> Dropout ratio attribute (opset 10)")
add("shape_view", lambda b, x: b.view_n_minus1(b.op("Relu", [x])), shape=[2, 5, 13, 11], opset=11,
    out_dims=["Reshape_dim_0", "Reshape_dim_1"],
    what="x.view(x.size(0), -1): Shape -> Gather(0) -> Unsqueeze -> Concat([n,-1]) -> Reshape (opset 11)")
add("shape_view_op13", lambda b, x: b.view_n_minus1(b.op("Relu", [x])), shape=[2, 5, 13, 11], opset=13,
    out_dims=["Reshape_dim_0", "Reshape_dim_1"],
    what="the same view subgraph at opset 13 (Unsqueeze axes as input)")


# --- whole networks ---------------------------------------------------------------------------
def basic_conv(b, x, cin, cout, k, stride=1, pad=(0, 0)):
    """facenet-pytorch BasicConv2d: Conv(bias=False) + BatchNorm2d(eps=0.001) + ReLU."""
    ph, pw = pad
    y = b.conv(x, cin, cout, k, stride=stride, pads=[ph, pw, ph, pw], bias=False)
    return b.op("Relu", [b.bn(y, cout, eps=1e-3)])


def block_tail(b, x, branches, cin_cat, cout, scale, relu=True):
    cat = b.op("Concat", branches, axis=1)
    # The residual conv's weights are small so that out * scale + x keeps moderate values.
    y = b.conv(cat, cin_cat, cout, 1, gain=1.0)
    y = b.op("Add", [b.op("Mul", [y, b.constant(np.float32(scale))]), x])
    return b.op("Relu", [y]) if relu else y


def block35(b, x, scale):
    b0 = basic_conv(b, x, 256, 32, 1)
    b1 = basic_conv(b, basic_conv(b, x, 256, 32, 1), 32, 32, 3, pad=(1, 1))
    b2 = basic_conv(b, basic_conv(b, basic_conv(b, x, 256, 32, 1), 32, 32, 3, pad=(1, 1)), 32, 32, 3, pad=(1, 1))
    return block_tail(b, x, [b0, b1, b2], 96, 256, scale)


def block17(b, x, scale):
    b0 = basic_conv(b, x, 896, 128, 1)
    b1 = basic_conv(b, x, 896, 128, 1)
    b1 = basic_conv(b, b1, 128, 128, (1, 7), pad=(0, 3))
    b1 = basic_conv(b, b1, 128, 128, (7, 1), pad=(3, 0))
    return block_tail(b, x, [b0, b1], 256, 896, scale)


def block8(b, x, scale, relu=True):
    b0 = basic_conv(b, x, 1792, 192, 1)
    b1 = basic_conv(b, x, 1792, 192, 1)
    b1 = basic_conv(b, b1, 192, 192, (1, 3), pad=(0, 1))
    b1 = basic_conv(b, b1, 192, 192, (3, 1), pad=(1, 0))
    return block_tail(b, x, [b0, b1], 384, 1792, scale, relu)


def maxpool3s2(b, x):
    return b.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 0, 0], ceil_mode=0)


def facenet_irv1(b, x):
    x = basic_conv(b, x, 3, 32, 3, stride=2)          # conv2d_1a  -> 79
    x = basic_conv(b, x, 32, 32, 3)                    # conv2d_2a  -> 77
    x = basic_conv(b, x, 32, 64, 3, pad=(1, 1))        # conv2d_2b
    x = maxpool3s2(b, x)                               # maxpool_3a -> 38
    x = basic_conv(b, x, 64, 80, 1)                    # conv2d_3b
    x = basic_conv(b, x, 80, 192, 3)                   # conv2d_4a  -> 36
    x = basic_conv(b, x, 192, 256, 3, stride=2)        # conv2d_4b  -> 17
    for _ in range(5):
        x = block35(b, x, 0.17)                        # repeat_1
    # mixed_6a -> 8x8x896
    m0 = basic_conv(b, x, 256, 384, 3, stride=2)
    m1 = basic_conv(b, basic_conv(b, basic_conv(b, x, 256, 192, 1), 192, 192, 3, pad=(1, 1)), 192, 256, 3, stride=2)
    x = b.op("Concat", [m0, m1, maxpool3s2(b, x)], axis=1)
    for _ in range(10):
        x = block17(b, x, 0.10)                        # repeat_2
    # mixed_7a -> 3x3x1792
    m0 = basic_conv(b, basic_conv(b, x, 896, 256, 1), 256, 384, 3, stride=2)
    m1 = basic_conv(b, basic_conv(b, x, 896, 256, 1), 256, 256, 3, stride=2)
    m2 = basic_conv(b, basic_conv(b, basic_conv(b, x, 896, 256, 1), 256, 256, 3, pad=(1, 1)), 256, 256, 3, stride=2)
    x = b.op("Concat", [m0, m1, m2, maxpool3s2(b, x)], axis=1)
    for _ in range(5):
        x = block8(b, x, 0.20)                         # repeat_3
    x = block8(b, x, 1.0, relu=False)                  # block8 (noReLU)
    x = b.op("GlobalAveragePool", [x])                 # avgpool_1a (AdaptiveAvgPool2d(1))
    x = b.op("Dropout", [x])                           # dropout (eval)
    x = b.view_n_minus1(x)                             # x.view(x.shape[0], -1)
    x = b.op("MatMul", [x, b.init(b.randn((1792, 512), 1 / np.sqrt(1792)), "last_linear_wT")])
    x = b.bn(x, 512, eps=1e-3)                         # last_bn (BatchNorm1d)
    return b.torch_normalize(x)                        # F.normalize(x, p=2, dim=1)


def ibasic_block(b, x, cin, planes, stride):
    """arcface_torch IBasicBlock: bn1, conv1 3x3, bn2, prelu, conv2 3x3/s, bn3, += identity."""
    out = b.bn(x, cin)
    out = b.conv(out, cin, planes, 3, pads=[1, 1, 1, 1], bias=False)
    out = b.bn(out, planes)
    out = b.op("PRelu", [out, b.init(b.uniform((planes, 1, 1), 0.15, 0.35), "prelu")])
    out = b.conv(out, planes, planes, 3, stride=stride, pads=[1, 1, 1, 1], bias=False)
    out = b.bn(out, planes)
    if stride != 1 or cin != planes:
        ident = b.bn(b.conv(x, cin, planes, 1, stride=stride, bias=False, gain=1.0), planes)
    else:
        ident = x
    return b.op("Add", [out, ident])


def iresnet50(b, x):
    x = b.conv(x, 3, 64, 3, pads=[1, 1, 1, 1], bias=False)
    x = b.bn(x, 64)
    x = b.op("PRelu", [x, b.init(b.uniform((64, 1, 1), 0.15, 0.35), "prelu")])
    cin = 64
    for planes, blocks in ((64, 3), (128, 4), (256, 14), (512, 3)):
        x = ibasic_block(b, x, cin, planes, 2)
        cin = planes
        for _ in range(1, blocks):
            x = ibasic_block(b, x, cin, planes, 1)
    x = b.bn(x, 512)                                    # bn2
    x = b.op("Flatten", [x], axis=1)                    # torch.flatten(x, 1)
    x = b.op("Gemm", [x, b.init(b.randn((512, 512 * 49), 1 / np.sqrt(512 * 49)), "fc_w"),
                      b.init(b.randn((512,), 0.1), "fc_b")], alpha=1.0, beta=1.0, transB=1)
    return b.bn(x, 512, gamma=1.0)                      # features (BatchNorm1d, weight fixed to 1)


def scrfd_head(b, x):
    """Backbone to strides 8/16/32, top-down FPN (1x1 laterals + Resize nearest x2 + Add), a
    head shared by the three levels (weights used three times) and a Scale (Mul) per level on bbox."""
    def crelu(x, cin, cout, stride=1):
        return b.op("Relu", [b.conv(x, cin, cout, 3, stride=stride, pads=[1, 1, 1, 1])])
    x = crelu(x, 3, 16, 2)                              # 32x32
    x = crelu(x, 16, 24, 2)                             # 16x16
    c8 = crelu(x, 24, 32, 2)                            # 8x8   stride 8
    c16 = crelu(c8, 32, 48, 2)                          # 4x4   stride 16
    c32 = crelu(c16, 48, 64, 2)                         # 2x2   stride 32

    def up2(t):
        return b.op("Resize", [t, "", b.floats([1, 1, 2, 2], "scales")], mode="nearest",
                    coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    l32 = b.conv(c32, 64, 32, 1, gain=1.0)
    l16 = b.op("Add", [b.conv(c16, 48, 32, 1, gain=1.0), up2(l32)])
    l8 = b.op("Add", [b.conv(c8, 32, 32, 1, gain=1.0), up2(l16)])
    feats = {8: b.conv(l8, 32, 32, 3, pads=[1, 1, 1, 1]), 16: b.conv(l16, 32, 32, 3, pads=[1, 1, 1, 1]),
             32: b.conv(l32, 32, 32, 3, pads=[1, 1, 1, 1])}
    # Shared head weights.
    hw = b.init(b.conv_w(32, 32, 3), "head_w")
    hb = b.init(b.randn((32,), 0.1), "head_b")
    cw = b.init(b.conv_w(32, 2, 3, gain=1.0), "cls_w")
    cb = b.init(b.randn((2,), 0.1), "cls_b")
    rw = b.init(b.conv_w(32, 8, 3, gain=1.0), "reg_w")
    rb = b.init(b.randn((8,), 0.1), "reg_b")
    kw = b.init(b.conv_w(32, 20, 3, gain=1.0), "kps_w")
    kb = b.init(b.randn((20,), 0.1), "kps_b")
    c3 = dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], dilations=[1, 1], group=1)
    outs = {"score": [], "bbox": [], "kps": []}
    for s in (8, 16, 32):
        h = b.op("Relu", [b.op("Conv", [feats[s], hw, hb], **c3)])
        sc = b.op("Sigmoid", [b.op("Conv", [h, cw, cb], **c3)])
        bb = b.op("Mul", [b.op("Conv", [h, rw, rb], **c3), b.constant(np.float32(1.0 + s / 64.0))])
        kp = b.op("Conv", [h, kw, kb], **c3)
        for key, t, k in (("score", sc, 1), ("bbox", bb, 4), ("kps", kp, 10)):
            tt = b.op("Transpose", [t], perm=[0, 2, 3, 1])
            outs[key].append(b.op("Reshape", [tt, b.ints([-1, k])]))
    return outs["score"] + outs["bbox"] + outs["kps"]


SCRFD_OUTS = ["score_8", "score_16", "score_32", "bbox_8", "bbox_16", "bbox_32", "kps_8", "kps_16", "kps_32"]
add("facenet_irv1", facenet_irv1, shape=[1, 3, 160, 160], kind="image", input_dims=["N", 3, 160, 160], calibrate=True,
    out_dims=["N", 512],
    what="facenet-pytorch InceptionResnetV1, random weights, BN unfolded (stats calibrated), -> L2-normalised 512-d")
add("iresnet50", iresnet50, shape=[1, 3, 112, 112], kind="image", input_dims=["N", 3, 112, 112], calibrate=True,
    what="arcface_torch iresnet50, random weights, BN unfolded (stats calibrated), -> 512-d (not normalised)")
add("scrfd_head", scrfd_head, shape=[1, 3, 64, 64], kind="image", outputs=SCRFD_OUTS,
    what="SCRFD-shaped detector: strides 8/16/32, FPN, shared heads; 9 outputs [-1,K] like insightface's det_*.onnx")
# Batch-8 runs of the same files.
BATCH8 = [("facenet_irv1_b8", "facenet_irv1", [8, 3, 160, 160]), ("iresnet50_b8", "iresnet50", [8, 3, 112, 112])]


# --- writing ----------------------------------------------------------------------------------
def make_input(rng, shape, kind):
    if kind == "abs":
        return np.abs(rng.standard_normal(shape, dtype=np.float32))
    if kind == "wide":
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(4)
    if kind == "image":  # a normalised image: (rgb - 127.5) / 128
        return rng.uniform(-1, 1, size=shape).astype(np.float32)
    return rng.standard_normal(shape, dtype=np.float32)


def build(c, x):
    rng = case_rng(c["name"])
    eager = None
    if c["calibrate"]:  # BN statistics from this input and 3 more
        extra = make_input(case_rng(c["name"] + ".calib"), [3] + c["shape"][1:], c["kind"])
        eager = np.concatenate([x, extra])
    b = B(rng, c["opset"], eager)
    b.float_data = c["float_data"]
    res = c["fn"](b, "input")
    res = [res] if isinstance(res, str) else list(res)
    names = c["outputs"] or (["output"] if len(res) == 1 else ["output%d" % i for i in range(len(res))])
    ren = dict(zip(res, names))
    for n in b.nodes:
        for i, v in enumerate(n.output):
            if v in ren:
                n.output[i] = ren[v]
        for i, v in enumerate(n.input):
            if v in ren:
                n.input[i] = ren[v]
    dims = c["input_dims"] or c["shape"]
    inputs = [helper.make_tensor_value_info("input", FLOAT, dims)]
    if c["init_as_input"]:
        inputs += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in b.inits]
    graph = helper.make_graph(b.nodes, c["name"], inputs,
                              [helper.make_tensor_value_info(n, FLOAT, None) for n in names], b.inits)
    model = helper.make_model(graph, producer_name="facerec-tests", producer_version="1",
                              opset_imports=[helper.make_opsetid("", c["opset"])])
    model.ir_version = c["ir"] or IR_FOR_OPSET[c["opset"]]
    # Output shapes from ONNX's shape inference, as exporters write them (intermediate value_info
    # is left out: the importer must not need it).
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    known = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    for o in model.graph.output:
        if o.name in known and known[o.name].type.tensor_type.HasField("shape"):
            o.type.CopyFrom(known[o.name].type)
        else:  # not inferable (a Reshape to a computed shape): as torch writes it with dynamic axes
            o.CopyFrom(helper.make_tensor_value_info(o.name, FLOAT, c["out_dims"]))
    onnx.checker.check_model(model, full_check=True)
    np_outs = [b.vals[r][:1] for r in res] if b.vals is not None else None
    return model, names, np_outs


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    out = args[0]
    only = None
    if len(args) >= 3 and args[1] == "--only":
        only = set(args[2].split(","))
    os.makedirs(out, exist_ok=True)
    table = []
    t_all = time.time()
    for c in CASES:
        if only and c["name"] not in only:
            continue
        t0 = time.time()
        x = make_input(case_rng(c["name"] + ".in"), c["shape"], c["kind"])
        model, names, np_outs = build(c, x)
        if np_outs is not None and os.environ.get("GEN_NP_CHECK"):  # numpy's own outputs, to check
            for k, v in enumerate(np_outs):
                np.save(os.path.join(out, "%s.np%d.npy" % (c["name"], k)), v.astype(np.float32))
        onnx.save(model, os.path.join(out, c["name"] + ".onnx"))
        np.save(os.path.join(out, c["name"] + ".in.npy"), x)
        table.append(dict(name=c["name"], model=c["name"], input_name="input", input_shape=c["shape"],
                          outputs=names, opset=c["opset"], tol=c["tol"], what=c["what"]))
        dt = time.time() - t0
        if dt > 1:
            print("gen_models: %s %.1f s" % (c["name"], dt), file=sys.stderr)
        for name, model_name, shape in BATCH8:
            if model_name != c["name"]:
                continue
            base = table[-1]
            x8 = make_input(case_rng(name), shape, c["kind"])
            np.save(os.path.join(out, name + ".in.npy"), x8)
            table.append(dict(base, name=name, input_shape=shape,
                              what=base["what"].split(",")[0] + ", batch 8 (same .onnx as %s)" % model_name))
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(table, f, indent=1)
        f.write("\n")
    print("gen_models: %d cases in %s (%.1f s)" % (len(table), out, time.time() - t_all), file=sys.stderr)


if __name__ == "__main__":
    main()
