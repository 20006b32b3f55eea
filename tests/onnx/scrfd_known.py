#!/usr/bin/python3
"""An SCRFD-shaped detector whose outputs are known, for facerec's decoder.

Writes OUT/scrfd_known.onnx, OUT/scrfd_known.ppm (a 64x64 black image with a
few white pixels) and OUT/scrfd_known.expected.json: the faces InsightFace's
decoding gives for that image, computed here with numpy from the network's
definition (not by running it). The network: for each stride s of 8, 16, 32,
a convolution with an s x s kernel and stride s reads the red value of each
cell's top-left pixel into anchor 0's score (sigmoid of 10 x value, so a
white pixel scores 0.99995 and black 0.00005; anchor 1 always scores 0), and
constant distances and point offsets come from the biases of zero-weight
convolutions. Outputs are transposed to NHWC and reshaped to [-1, K], as
InsightFace's exports do, and listed in an order unlike theirs (points
first), which the decoder must sort out by shape.
Usage: scrfd_known.py OUT
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

S = 64
STRIDES = (8, 16, 32)
DIST = np.array([1.0, 1.5, 2.0, 2.5], np.float32)           # left, top, right, bottom (x stride)
KPS = np.array([-0.5, -0.5, 0.5, -0.5, 0.0, 0.0, -0.4, 0.6, 0.4, 0.6], np.float32)
SPOTS = [(8, 8), (40, 24), (32, 32)]                      # (x, y) of white pixels


def model():
    inits, nodes, outs = [], [], {}
    for s in STRIDES:
        w = np.zeros((2, 3, s, s), np.float32)
        w[0, 0, 0, 0] = 10.0
        b = np.array([0.0, -30.0], np.float32)
        zw4 = np.zeros((8, 3, s, s), np.float32)
        zw10 = np.zeros((20, 3, s, s), np.float32)
        for name, arr in ((f"ws{s}", w), (f"bs{s}", b), (f"wb{s}", zw4), (f"bb{s}", np.tile(DIST, 2)),
                          (f"wk{s}", zw10), (f"bk{s}", np.tile(KPS, 2)),
                          (f"r1_{s}", np.array([-1, 1], np.int64)), (f"r4_{s}", np.array([-1, 4], np.int64)),
                          (f"r10_{s}", np.array([-1, 10], np.int64))):
            inits.append(numpy_helper.from_array(arr, name))
        for kind, k, wn, bn, rn in (("score", 1, f"ws{s}", f"bs{s}", f"r1_{s}"),
                                    ("bbox", 4, f"wb{s}", f"bb{s}", f"r4_{s}"),
                                    ("kps", 10, f"wk{s}", f"bk{s}", f"r10_{s}")):
            c, t = f"{kind}{s}_conv", f"{kind}{s}_t"
            nodes.append(helper.make_node("Conv", ["input", wn, bn], [c], kernel_shape=[s, s], strides=[s, s]))
            src = c
            if kind == "score":
                nodes.append(helper.make_node("Sigmoid", [c], [c + "_sig"]))
                src = c + "_sig"
            nodes.append(helper.make_node("Transpose", [src], [t], perm=[0, 2, 3, 1]))
            out = f"{kind}_{s}"
            nodes.append(helper.make_node("Reshape", [t, rn], [out]))
            outs[out] = k
    order = [f"kps_{s}" for s in STRIDES] + [f"bbox_{s}" for s in STRIDES] + [f"score_{s}" for s in STRIDES]
    graph = helper.make_graph(
        nodes, "scrfd_known", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, S, S])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, [2 * (S // int(o.split("_")[1])) ** 2, outs[o]])
         for o in order], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def expected(img):
    x = (img.astype(np.float32) - 127.5) / 128.0      # HWC, RGB
    cands = []
    for s in STRIDES:
        n = S // s
        for cy in range(n):
            for cx in range(n):
                for a in range(2):
                    logit = 10.0 * x[cy * s, cx * s, 0] if a == 0 else -30.0
                    score = 1.0 / (1.0 + np.exp(-logit))
                    if score < 0.5:
                        continue
                    px, py = cx * s, cy * s
                    box = [px - DIST[0] * s, py - DIST[1] * s, px + DIST[2] * s, py + DIST[3] * s]
                    kps = [(px + KPS[2 * k] * s, py + KPS[2 * k + 1] * s) for k in range(5)]
                    cands.append((float(score), [float(v) for v in box], [[float(u), float(v)] for u, v in kps]))
    cands.sort(key=lambda c: -c[0])
    kept = []
    for c in cands:
        if all(iou(c[1], k[1]) <= 0.4 for k in kept):
            kept.append(c)
    return [{"score": c[0], "box": [c[1][0], c[1][1], c[1][2] - c[1][0], c[1][3] - c[1][1]],
             "landmarks": c[2]} for c in kept]


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    m = model()
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(out, "scrfd_known.onnx"))
    img = np.zeros((S, S, 3), np.uint8)
    for (x, y) in SPOTS:
        img[y, x] = 255
    with open(os.path.join(out, "scrfd_known.ppm"), "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (S, S) + img.tobytes())
    with open(os.path.join(out, "scrfd_known.expected.json"), "w") as f:
        json.dump(expected(img), f, indent=1)


if __name__ == "__main__":
    main()
