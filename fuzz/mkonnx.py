# mkonnx.py - writes the ONNX regression inputs and fuzz seeds (ONNX files
# are never committed: tests/run.sh writes these into BUILD/regress-onnx for
# tests/test_regress.c, fuzz/run.sh into the fuzzer's corpus): small valid
# graphs the importer is meant to take (Conv+Relu; Flatten+Gemm; a Reshape
# fed by a Shape/Gather/Unsqueeze/Concat chain as torch exports it, at opset
# 11; Constant nodes; float16 weights through a Cast; BatchNorm, pooling and
# Softmax), copies with one defect each (cut short, weights in an external
# file, a count that does not match the dims, a rank above 8), and the
# fuzzer's findings, rebuilt here once fixed (ub-*: a Reshape target of
# INT64_MAX, which once overflowed a conversion; a fusable activation
# without outputs, which once was read past).
# Weights are small and seeded, so the files are the same on every run.
# Needs Debian's python3-onnx. Usage: /usr/bin/python3 fuzz/mkonnx.py OUTDIR
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.RandomState(7)


def w(shape, name):
    return numpy_helper.from_array((rng.randn(*shape) * 0.3).astype(np.float32), name)


def model(nodes, inits, inputs, outputs, opset=13, name="seed"):
    g = helper.make_graph(nodes, name, inputs, outputs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="mkonnx")
    onnx.checker.check_model(m)
    return m


def fvi(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def conv_relu():
    return model(
        [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="Conv_0", kernel_shape=[3, 3],
                          pads=[1, 1, 1, 1], strides=[1, 1]),
         helper.make_node("Relu", ["c"], ["y"], name="Relu_1")],
        [w([4, 3, 3, 3], "w"), w([4], "b")],
        [fvi("x", ["N", 3, 8, 8])], [fvi("y", ["N", 4, 8, 8])])


def gemm():
    return model(
        [helper.make_node("Flatten", ["x"], ["f"], axis=1),
         helper.make_node("Gemm", ["f", "w", "b"], ["y"], alpha=1.0, beta=1.0, transB=1)],
        [w([8, 16], "w"), w([8], "b")],
        [fvi("x", [1, 4, 2, 2])], [fvi("y", [1, 8])])


def reshape_shape():
    """x.view(x.size(0), -1) after a Conv, as torch.onnx writes it at opset 11."""
    minus1 = helper.make_tensor("minus1", TensorProto.INT64, [1], [-1])
    zero = helper.make_tensor("zero", TensorProto.INT64, [], [0])
    return model(
        [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[1, 1]),
         helper.make_node("Shape", ["c"], ["s"]),
         helper.make_node("Constant", [], ["i0"], value=zero),
         helper.make_node("Gather", ["s", "i0"], ["n"], axis=0),
         helper.make_node("Unsqueeze", ["n"], ["n1"], axes=[0]),
         helper.make_node("Constant", [], ["m1"], value=minus1),
         helper.make_node("Concat", ["n1", "m1"], ["shape"], axis=0),
         helper.make_node("Reshape", ["c", "shape"], ["y"])],
        [w([4, 4, 1, 1], "w")],
        [fvi("x", [1, 4, 3, 3])], [fvi("y", [1, 36])], opset=11)


def constants():
    scale = numpy_helper.from_array(np.array([0.5, 2.0, -1.0], np.float32).reshape(1, 3, 1, 1))
    shift = helper.make_tensor("shift", TensorProto.FLOAT, [], [0.25])
    return model(
        [helper.make_node("Constant", [], ["k"], value=scale),
         helper.make_node("Mul", ["x", "k"], ["m"]),
         helper.make_node("Constant", [], ["c"], value=shift),
         helper.make_node("Add", ["m", "c"], ["a"]),
         helper.make_node("Constant", [], ["alpha"], value_float=0.1),
         helper.make_node("LeakyRelu", ["a"], ["y"], alpha=0.1)],
        [], [fvi("x", [1, 3, 4, 4])], [fvi("y", [1, 3, 4, 4])])


def float16_init():
    w16 = numpy_helper.from_array((rng.randn(2, 3, 1, 1) * 0.5).astype(np.float16), "w16")
    b16 = numpy_helper.from_array(np.array([1e-7, -65504.0], np.float16), "b16")  # a subnormal, the float16 minimum
    return model(
        [helper.make_node("Cast", ["w16"], ["w"], to=TensorProto.FLOAT),
         helper.make_node("Cast", ["b16"], ["b"], to=TensorProto.FLOAT),
         helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[1, 1])],
        [w16, b16], [fvi("x", [1, 3, 4, 4])], [fvi("y", [1, 2, 4, 4])])


def bn_pool():
    c = 4
    return model(
        [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
         helper.make_node("BatchNormalization", ["c", "g", "beta", "mean", "var"], ["bn"], epsilon=1e-5),
         helper.make_node("PRelu", ["bn", "slope"], ["p"]),
         helper.make_node("MaxPool", ["p"], ["mp"], kernel_shape=[2, 2], strides=[2, 2]),
         helper.make_node("GlobalAveragePool", ["mp"], ["gap"]),
         helper.make_node("Flatten", ["gap"], ["f"]),
         helper.make_node("Softmax", ["f"], ["y"], axis=1)],
        [w([c, 3, 3, 3], "w"),
         numpy_helper.from_array(np.abs(rng.randn(c)).astype(np.float32) + 0.5, "g"),
         w([c], "beta"), w([c], "mean"),
         numpy_helper.from_array(np.abs(rng.randn(c)).astype(np.float32) + 0.5, "var"),
         numpy_helper.from_array(np.full((c, 1, 1), 0.25, np.float32), "slope")],
        [fvi("x", [1, 3, 8, 8])], [fvi("y", [1, c])])


def external_data():
    m = conv_relu()
    t = m.graph.initializer[0]
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    e = t.external_data.add()
    e.key, e.value = "location", "weights.bin"
    return m


def count_mismatch():
    m = conv_relu()
    t = m.graph.initializer[1]
    t.raw_data = t.raw_data[:-4]  # 3 floats for dims [4]
    return m


def rank9():
    m = conv_relu()
    t = m.graph.initializer[1]
    del t.dims[:]
    t.dims.extend([1] * 8 + [4])
    return m


def huge_reshape_target():
    """The view chain with -1 replaced by INT64_MAX (fuzz finding)."""
    m = reshape_shape()
    for n in m.graph.node:
        if n.output[0] == "m1":
            del n.attribute[:]
            big = helper.make_tensor("huge", TensorProto.INT64, [1], [9223372036854775807])
            n.attribute.extend([helper.make_attribute("value", big)])
    return m


def fused_reader_without_outputs():
    """x * k + c -> LeakyRelu with no output, the graph's output never made
    (fuzz finding: the Add looked ahead into the activation's outputs)."""
    k = helper.make_tensor("kv", TensorProto.FLOAT, [], [2.0])
    c = helper.make_tensor("cv", TensorProto.FLOAT, [], [0.5])
    nodes = [helper.make_node("Constant", [], ["k"], value=k),
             helper.make_node("Mul", ["x", "k"], ["m"]),
             helper.make_node("Constant", [], ["c"], value=c),
             helper.make_node("Add", ["m", "c"], ["a"]),
             helper.make_node("Constant", [], ["alpha"], value_float=0.1),
             helper.make_node("LeakyRelu", ["a"], [], alpha=0.1)]
    g = helper.make_graph(nodes, "finding", [fvi("x", [1, 3, 5, 4])], [fvi("y", [1, 3, 5, 4])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="mkonnx")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: mkonnx.py OUTDIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    files = {
        "ok-conv-relu.onnx": conv_relu(),
        "ok-gemm.onnx": gemm(),
        "ok-reshape-shape-chain.onnx": reshape_shape(),
        "ok-constant-nodes.onnx": constants(),
        "ok-float16-cast.onnx": float16_init(),
        "ok-bn-pool-softmax.onnx": bn_pool(),
        "unsupported-external-data.onnx": external_data(),
        "model-count-mismatch.onnx": count_mismatch(),
        "limit-rank-9.onnx": rank9(),
        "ub-concat-huge-int.onnx": huge_reshape_target(),
        "ub-fused-reader-without-outputs.onnx": fused_reader_without_outputs(),
    }
    for name, m in files.items():
        data = m.SerializeToString()
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    whole = conv_relu().SerializeToString()
    with open(os.path.join(out, "model-truncated.onnx"), "wb") as f:
        f.write(whole[: len(whole) * 2 // 3])
    for name in sorted(os.listdir(out)):
        print("%6d %s" % (os.path.getsize(os.path.join(out, name)), name))


if __name__ == "__main__":
    main()
