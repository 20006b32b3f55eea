#!/usr/bin/python3
"""hostile.py OUTDIR - damaged, random and lying files for `facerec infer` (tests/onnx.sh).

Run after gen_models.py OUTDIR (it damages some of those models). Writes OUTDIR/hostile/*
and OUTDIR/hostile/hostile.json = [{"name", "model", "input", "expect", "what"}, ...]:
"model" and "input" are paths relative to OUTDIR; "expect" is
  "fail"     infer must exit with a status in 1..125 and say something on stderr
  "nocrash"  any status in 0..125 (a bit flip inside a float, say, may leave a model that runs)
Everything is seeded: the files are the same on every run.
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SEED = 4242
FLOAT = TensorProto.FLOAT


def raw_spans(model_bytes, model):
    """(start, end) byte ranges of the tensors' raw_data in the serialized file."""
    spans = []
    tensors = list(model.graph.initializer)
    for n in model.graph.node:
        for a in n.attribute:
            if a.HasField("t"):
                tensors.append(a.t)
    for t in tensors:
        if len(t.raw_data) >= 8:
            i = model_bytes.find(t.raw_data)
            if i >= 0:
                spans.append((i, i + len(t.raw_data)))
    return spans


def structural_positions(data, model, rng, count):
    """count byte positions outside the raw tensor data (where a flip changes structure)."""
    mask = np.ones(len(data), bool)
    for a, b in raw_spans(data, model):
        mask[a:b] = False
    cand = np.flatnonzero(mask)
    return sorted(rng.choice(cand, size=min(count, len(cand)), replace=False).tolist())


# --- the lying models: small, each with one lie ----------------------------------------------
def base_parts(rng):
    w = rng.standard_normal((8, 5, 3, 3), dtype=np.float32) * np.float32(0.2)
    b = rng.standard_normal((8,), dtype=np.float32) * np.float32(0.1)
    return w, b


def conv_model(w_tensor, b_tensor=None, conv_attrs=None, extra_nodes=(), extra_inits=(), opset=13,
               relu_input=None, outputs=("output",), ir=7, domain=""):
    attrs = dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1])
    attrs.update(conv_attrs or {})
    attrs = {k: v for k, v in attrs.items() if v is not None}
    ins = ["input", w_tensor.name] + ([b_tensor.name] if b_tensor is not None else [])
    nodes = [helper.make_node("Conv", ins, ["conv_out"], name="conv", domain=domain, **attrs),
             helper.make_node("Relu", [relu_input or "conv_out"], ["output"], name="relu")]
    nodes += list(extra_nodes)
    inits = [w_tensor] + ([b_tensor] if b_tensor is not None else []) + list(extra_inits)
    g = helper.make_graph(nodes, "lie", [helper.make_tensor_value_info("input", FLOAT, [1, 5, 13, 11])],
                          [helper.make_tensor_value_info(o, FLOAT, None) for o in outputs], inits)
    m = helper.make_model(g, producer_name="facerec-hostile", opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = ir
    return m


def raw_tensor(name, dims, payload, dtype=FLOAT):
    t = TensorProto()
    t.name = name
    t.data_type = dtype
    t.dims.extend(dims)
    t.raw_data = payload
    return t


def lying_models(rng):
    w, b = base_parts(rng)
    W = numpy_helper.from_array(w, "W")
    Bt = numpy_helper.from_array(b, "B")
    out = {}

    t = raw_tensor("W", [8, 5, 3, 3], w.tobytes()[:400])
    out["lie_rawdata_short"] = (conv_model(t, Bt), "initializer dims [8,5,3,3] but raw_data holds 100 floats")
    t = raw_tensor("W", [1 << 32, 1 << 32, 1, 1], b"")
    out["lie_dims_wrap"] = (conv_model(t, Bt), "initializer dims [2^32,2^32,1,1]: the element count wraps to 0 in 64 bits, raw_data empty")
    t = raw_tensor("W", [8, 5, 3, 1 << 40], w.tobytes())
    out["lie_dims_huge"] = (conv_model(t, Bt), "initializer dims [8,5,3,2^40] with 360 floats of raw_data")
    t = raw_tensor("W", [8, -5, 3, 3], w.tobytes())
    out["lie_dims_negative"] = (conv_model(t, Bt), "initializer dims [8,-5,3,3]")
    t = TensorProto()
    t.name = "W"
    t.data_type = FLOAT
    t.dims.extend([8, 5, 3, 3])
    t.float_data.extend(w.flatten()[:10].tolist())
    out["lie_float_data_short"] = (conv_model(t, Bt), "initializer dims [8,5,3,3] but float_data holds 10 values")
    out["lie_missing_input"] = (conv_model(W, Bt, relu_input="nonexistent"), "a node's input names a value nothing produces")
    t = numpy_helper.from_array(w.reshape(8, 5, 9), "W")
    out["lie_conv_rank"] = (conv_model(t, Bt, conv_attrs=dict(kernel_shape=None)), "Conv weight of rank 3 [8,5,9]")
    t = numpy_helper.from_array(w[:, :4].copy(), "W")
    out["lie_conv_channels"] = (conv_model(t, Bt), "Conv weight [8,4,3,3] on a 5-channel input")
    out["lie_kernel_shape"] = (conv_model(W, Bt, conv_attrs=dict(kernel_shape=[5, 5])), "Conv kernel_shape [5,5] with a 3x3 weight")
    out["lie_zero_stride"] = (conv_model(W, Bt, conv_attrs=dict(strides=[0, 0])), "Conv strides [0,0]")
    out["lie_group"] = (conv_model(W, Bt, conv_attrs=dict(group=3)), "Conv group 3 on 5 channels")
    out["lie_huge_pads"] = (conv_model(W, Bt, conv_attrs=dict(pads=[1 << 40] * 4)), "Conv pads 2^40")
    t = numpy_helper.from_array(b[:5].copy(), "B")
    out["lie_bias_size"] = (conv_model(W, t), "Conv bias of 5 values for 8 output channels")
    t = raw_tensor("W", [8, 5, 3, 3], w.tobytes(), dtype=999)
    out["lie_dtype"] = (conv_model(t, Bt), "initializer data_type 999 (no such type)")
    t = TensorProto()
    t.name = "W"
    t.data_type = FLOAT
    t.dims.extend([8, 5, 3, 3])
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "../../../../../../../../etc/passwd"), ("offset", "0"), ("length", "1440")):
        e = t.external_data.add()
        e.key, e.value = k, v
    out["lie_external_data"] = (conv_model(t, Bt), "initializer with external data at ../../../etc/passwd")
    cyc = [helper.make_node("Relu", ["cyc_b"], ["cyc_a"], name="cyc1"), helper.make_node("Relu", ["cyc_a"], ["cyc_b"], name="cyc2"),
           helper.make_node("Add", ["output", "cyc_a"], ["output2"], name="cyc3")]
    out["lie_cycle"] = (conv_model(W, Bt, extra_nodes=cyc, outputs=("output2",)), "two nodes that feed each other (a cycle)")
    dup = [helper.make_node("Sigmoid", ["conv_out"], ["output"], name="dup")]
    out["lie_dup_output"] = (conv_model(W, Bt, extra_nodes=dup), "two nodes write the same value 'output'")
    unk = [helper.make_node("FooBar", ["output"], ["output2"], name="foo")]
    out["lie_unknown_op"] = (conv_model(W, Bt, extra_nodes=unk, outputs=("output2",)), "an operator that does not exist (FooBar)")
    out["lie_custom_domain"] = (conv_model(W, Bt, domain="com.example"), "Conv in a custom domain com.example")
    out["lie_opset_99"] = (conv_model(W, Bt, opset=99), "default-domain opset 99")
    out["lie_output_missing"] = (conv_model(W, Bt, outputs=("nowhere",)), "the graph output names a value nothing produces")
    m = conv_model(W, Bt)
    del m.graph.output[:]
    out["lie_no_outputs"] = (m, "a graph without outputs")
    shp = [helper.make_node("Shape", ["output"], ["shp"], name="shape"),
           helper.make_node("Gather", ["shp", "idx"], ["n"], name="gather", axis=0),
           helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"], name="unsq"),
           helper.make_node("Concat", ["n1", "minus1"], ["tgt"], name="cat", axis=0),
           helper.make_node("Reshape", ["output", "tgt"], ["output2"], name="reshape")]
    ints = [numpy_helper.from_array(np.asarray(7, np.int64), "idx"), numpy_helper.from_array(np.asarray([0], np.int64), "ax0"),
            numpy_helper.from_array(np.asarray([-1], np.int64), "minus1")]
    out["lie_gather_oob"] = (conv_model(W, Bt, extra_nodes=shp, extra_inits=ints, outputs=("output2",)),
                             "shape subgraph Gathers index 7 of a rank-4 shape")
    rs = [helper.make_node("Reshape", ["output", "tgt"], ["output2"], name="reshape")]
    out["lie_reshape_count"] = (conv_model(W, Bt, extra_nodes=rs, extra_inits=[numpy_helper.from_array(np.asarray([1, 7], np.int64), "tgt")],
                                           outputs=("output2",)), "Reshape of 1144 values to [1,7]")
    sp = [helper.make_node("Split", ["output", "split"], ["s0", "s1"], name="split", axis=1),
          helper.make_node("Concat", ["s1", "s0"], ["output2"], name="cat", axis=1)]
    out["lie_split_sum"] = (conv_model(W, Bt, extra_nodes=sp, extra_inits=[numpy_helper.from_array(np.asarray([2, 2], np.int64), "split")],
                                       outputs=("output2",)), "Split of 8 channels into [2,2]")
    cc = [helper.make_node("Slice", ["output", "st", "en", "ax"], ["sl"], name="slice"),
          helper.make_node("Concat", ["output", "sl"], ["output2"], name="cat", axis=1)]
    cci = [numpy_helper.from_array(np.asarray([v], np.int64), n) for n, v in (("st", 0), ("en", 12), ("ax", 2))]
    out["lie_concat_shapes"] = (conv_model(W, Bt, extra_nodes=cc, extra_inits=cci, outputs=("output2",)),
                                "Concat on axis 1 of [1,8,13,11] and [1,8,12,11]")
    ad = [helper.make_node("Add", ["output", "k3"], ["output2"], name="add")]
    out["lie_broadcast"] = (conv_model(W, Bt, extra_nodes=ad, extra_inits=[numpy_helper.from_array(np.ones(3, np.float32), "k3")],
                                       outputs=("output2",)), "Add of [1,8,13,11] and [3] (not broadcastable)")
    gm = [helper.make_node("Flatten", ["output"], ["fl"], name="flatten", axis=1),
          helper.make_node("Gemm", ["fl", "gw"], ["output2"], name="gemm", transB=1)]
    out["lie_gemm_k"] = (conv_model(W, Bt, extra_nodes=gm, extra_inits=[numpy_helper.from_array(np.ones((4, 1000), np.float32), "gw")],
                                    outputs=("output2",)), "Gemm with K 1000 on 1144 features")
    cn = [helper.make_node("Constant", [], ["kc"], name="const"), helper.make_node("Add", ["output", "kc"], ["output2"], name="add")]
    out["lie_constant_empty"] = (conv_model(W, Bt, extra_nodes=cn, outputs=("output2",)), "a Constant node without a value")
    return out


# --- hand-made protobuf ------------------------------------------------------------------------
def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, payload):  # length-delimited field
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def vfield(num, value):  # varint field
    return varint(num << 3) + varint(value)


def deep_model(depth):
    """An If node whose then_branch graph holds an If node whose ... `depth` levels deep
    (a recursive-descent parser without a depth limit runs out of stack)."""
    # Level k (from the inside): graph{node{op_type "If", attribute{name, type GRAPH, g: level k-1}}}
    # Every level's other fields come before the nested one, so the file is all the prefixes
    # from the outside in, then the innermost graph: built in linear time.
    inner = b""
    sizes = [len(inner)]
    pre = []
    for _ in range(depth):
        s = sizes[-1]
        attr_head = field(1, b"then_branch") + vfield(20, 5) + varint(6 << 3 | 2) + varint(s)
        attr_len = len(attr_head) + s
        node_head = field(4, b"If") + varint(5 << 3 | 2) + varint(attr_len)
        node_len = len(node_head) + attr_len
        graph_head = varint(1 << 3 | 2) + varint(node_len)
        pre.append(graph_head + node_head + attr_head)
        sizes.append(len(graph_head) + node_len)
    graph_body = b"".join(reversed(pre)) + inner
    # The outermost graph: its node list is the nested If chain; add input and output.
    vi_in = helper.make_tensor_value_info("input", FLOAT, [1, 5, 13, 11]).SerializeToString()
    vi_out = helper.make_tensor_value_info("output", FLOAT, None).SerializeToString()
    graph = graph_body + field(11, vi_in) + field(12, vi_out)
    return vfield(1, 7) + field(7, graph) + field(8, vfield(2, 13))


def chain_model(n):
    nodes = [helper.make_node("Relu", ["input" if i == 0 else "r%d" % (i - 1)], ["r%d" % i if i < n - 1 else "output"])
             for i in range(n)]
    g = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("input", FLOAT, [1, 5, 13, 11])],
                          [helper.make_tensor_value_info("output", FLOAT, [1, 5, 13, 11])])
    m = helper.make_model(g, producer_name="facerec-hostile", opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    return m


def write_npy_header(path, header, payload):
    h = header
    h += " " * (63 - (10 + len(h)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + len(h).to_bytes(2, "little") + h.encode("latin1") + payload)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    root = sys.argv[1]
    hd = os.path.join(root, "hostile")
    os.makedirs(hd, exist_ok=True)
    rng = np.random.default_rng(SEED)
    table = []

    def add(name, data, expect, what, inp="conv_bn.in.npy"):
        rel = os.path.join("hostile", name + ".onnx")
        with open(os.path.join(root, rel), "wb") as f:
            f.write(data)
        table.append(dict(name=name, model=rel, input=inp, expect=expect, what=what))

    def load(name):
        with open(os.path.join(root, name + ".onnx"), "rb") as f:
            data = f.read()
        return data, onnx.load_from_string(data)

    # truncated copies: every cut must fail (a cut inside a length-delimited field breaks the
    # enclosing lengths; a cut at a field boundary before the graph leaves a model without one)
    cuts = {"conv_bn": ["1", "2", "16", "n//3", "n//2", "n-1"], "shape_view": ["n//2", "n-1"],
            "scrfd_head": ["n//4", "3*n//4"], "facenet_irv1": ["n//2"]}
    for base, cs in cuts.items():
        data, _ = load(base)
        n = len(data)
        for c in cs:
            at = eval(c, {"n": n})
            add("%s_cut%d" % (base, at), data[:at], "fail", "%s.onnx cut to %d of %d bytes" % (base, at, n),
                inp=base + ".in.npy")

    # bit flips outside the raw tensor data (where they change the structure)
    for base, count in (("conv_bn", 8), ("shape_view", 8), ("scrfd_head", 6)):
        data, model = load(base)
        for pos in structural_positions(data, model, rng, count):
            bit = int(rng.integers(8))
            d = bytearray(data)
            d[pos] ^= 1 << bit
            add("%s_flip%d_%d" % (base, pos, bit), bytes(d), "nocrash",
                "%s.onnx with bit %d of byte %d flipped" % (base, bit, pos), inp=base + ".in.npy")

    # random bytes, empty, garbage after a valid start
    for size in (100, 10000, 1000000):
        add("random%d" % size, rng.integers(0, 256, size, dtype=np.uint8).tobytes(), "fail",
            "%d random bytes" % size)
    add("empty", b"", "fail", "an empty file")
    data, _ = load("conv_bn")
    add("conv_bn_prefix_random", data[:64] + rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(), "fail",
        "the first 64 bytes of conv_bn.onnx, then 4096 random bytes")
    add("not_onnx_npy", open(os.path.join(root, "conv_bn.in.npy"), "rb").read(), "fail", "a .npy file given as the model")

    # hand-made protobuf
    head = vfield(1, 7)
    add("len_overflow", head + varint(7 << 3 | 2) + varint((1 << 64) - 1) + b"\x00" * 32, "fail",
        "the graph field's length is 2^64-1 (pointer + length wraps)")
    add("len_2p63", head + varint(7 << 3 | 2) + varint(1 << 63) + b"\x00" * 32, "fail", "the graph field's length is 2^63")
    add("varint_overlong", head + b"\x3a" + b"\xff" * 11 + b"\x01" + b"\x00" * 32, "fail",
        "a length varint of 12 bytes (more than 10)")
    add("wire_type_7", head + bytes([7 << 3 | 7]) + b"\x00" * 16, "fail", "a field with wire type 7 (none such)")
    add("deep_if", deep_model(100000), "fail", "If nodes nested 100000 graphs deep (parser recursion)")
    add("chain_relu_20k", chain_model(20000).SerializeToString(), "nocrash",
        "a valid chain of 20000 Relu nodes (recursive graph walks run out of stack)")

    # lying models: valid protobuf, invalid model
    for name, (m, what) in lying_models(rng).items():
        add(name, m.SerializeToString(), "fail", what, inp="conv_bn.in.npy")

    # hostile inputs for a good model
    x = np.load(os.path.join(root, "conv_bn.in.npy"))
    good = "conv_bn.onnx"

    def npy(name, header, payload, expect, what):
        rel = os.path.join("hostile", name + ".npy")
        if header is None:
            with open(os.path.join(root, rel), "wb") as f:
                f.write(payload)
        else:
            write_npy_header(os.path.join(root, rel), header, payload)
        table.append(dict(name=name, model=good, input=rel, expect=expect, what=what))

    payload = x.tobytes()
    npy("npy_channels", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 13, 11), }",
        x[:, :3].tobytes(), "fail", "input with 3 channels for a 5-channel model")
    npy("npy_rank3", "{'descr': '<f4', 'fortran_order': False, 'shape': (5, 13, 11), }", payload, "fail",
        "input of rank 3 for a rank-4 model")
    npy("npy_truncated", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 5, 13, 11), }", payload[:1000],
        "fail", "input .npy whose data is cut short")
    npy("npy_huge_shape", "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 5, 13, 11), }",
        payload, "fail", "input header claims 2^40 x 5 x 13 x 11 values")
    npy("npy_wrap_shape", "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 1, 1), }",
        b"", "fail", "input shape whose element count wraps to 0 in 64 bits")
    npy("npy_bad_header", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 5, 13, ", payload, "fail",
        "input header that does not close")
    npy("npy_float64", "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 5, 13, 11), }",
        x.astype(np.float64).tobytes(), "nocrash", "float64 input (converted or refused)")
    npy("npy_int8", "{'descr': '|i1', 'fortran_order': False, 'shape': (1, 5, 13, 11), }",
        b"\x01" * x.size, "nocrash", "int8 input (converted or refused)")
    npy("npy_big_endian", "{'descr': '>f4', 'fortran_order': False, 'shape': (1, 5, 13, 11), }",
        x.astype(">f4").tobytes(), "nocrash", "big-endian float32 input (converted or refused)")
    npy("npy_fortran", "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 5, 13, 11), }",
        np.asfortranarray(x).tobytes(order="F"), "nocrash", "Fortran-order input (converted or refused)")
    npy("npy_empty", None, b"", "fail", "an empty input file")
    npy("npy_onnx", None, open(os.path.join(root, good), "rb").read(), "fail", "an .onnx file given as the input")

    with open(os.path.join(hd, "hostile.json"), "w") as f:
        json.dump(table, f, indent=1)
        f.write("\n")
    print("hostile: %d files in %s" % (len(table), hd), file=sys.stderr)


if __name__ == "__main__":
    main()
