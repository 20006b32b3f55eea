#!/usr/bin/python3
"""f64_ref.py WORKDIR NAME [OUT.npy ...] - float64 numpy evaluation of a case, to tell float
noise from a bug when an output misses its tol.

Evaluates WORKDIR/MODEL.onnx on WORKDIR/NAME.in.npy in float64 with gen_models.py's numpy ops
(those the whole networks use: facenet_irv1, iresnet50, scrfd_head, and simple op cases), then
prints max|x - f64| / max|f64| of output 0 for ONNX Runtime's NAME.ref.npy and each OUT.npy
(e.g. WORKDIR/out/NAME.out.npy from tests/onnx.sh). Takes a few seconds per network.
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_models import np_eval  # noqa: E402


def f64(a):
    return a.astype(np.float64) if a.dtype == np.float32 else a


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    work, name = sys.argv[1], sys.argv[2]
    case = [c for c in json.load(open(os.path.join(work, "cases.json"))) if c["name"] == name][0]
    m = onnx.load(os.path.join(work, case["model"] + ".onnx"))
    vals = {t.name: f64(numpy_helper.to_array(t)) for t in m.graph.initializer}
    vals[m.graph.input[0].name] = f64(np.load(os.path.join(work, name + ".in.npy")))
    for n in m.graph.node:
        a = {x.name: helper.get_attribute_value(x) for x in n.attribute}
        if n.op_type == "Constant":
            vals[n.output[0]] = f64(numpy_helper.to_array(a["value"]))
            continue
        for o, r in zip(n.output, np_eval(n.op_type, [vals[i] if i else None for i in n.input], a)):
            vals[o] = r
    want = vals[m.graph.output[0].name]
    scale = max(float(np.abs(want).max()), 1e-30)
    for label, path in [("ONNX Runtime", os.path.join(work, name + ".ref.npy"))] + [(p, p) for p in sys.argv[3:]]:
        got = np.load(path)
        print("%s vs float64: %.2e (tol %g)" % (label, float(np.abs(got - want).max()) / scale, case["tol"]))


if __name__ == "__main__":
    main()
