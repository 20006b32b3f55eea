#!/usr/bin/python3
"""compare.py OUT.npy REF.npy TOL - checks an output of `facerec infer` against ONNX Runtime's.

Passes (exit 0, prints "err E") when both load as float32 arrays of the same shape, OUT is
finite and max|OUT - REF| / max|REF| <= TOL. Otherwise exits 1 with the reason on stdout.
"""
import sys

import numpy as np


def main():
    if len(sys.argv) != 4:
        print("usage: compare.py OUT.npy REF.npy TOL", file=sys.stderr)
        sys.exit(2)
    try:
        out = np.load(sys.argv[1], allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - any unreadable output is a failure
        print("output unreadable: %s" % str(e).splitlines()[0] if str(e) else type(e).__name__)
        sys.exit(1)
    ref = np.load(sys.argv[2], allow_pickle=False)
    tol = float(sys.argv[3])
    if out.dtype != np.float32:
        print("output dtype %s, want float32" % out.dtype)
        sys.exit(1)
    if out.shape != ref.shape:
        print("shape %s, want %s" % (list(out.shape), list(ref.shape)))
        sys.exit(1)
    if not np.all(np.isfinite(out)):
        print("%d non-finite values" % int(np.size(out) - np.count_nonzero(np.isfinite(out))))
        sys.exit(1)
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    diff = np.abs(out.astype(np.float64) - ref.astype(np.float64))
    err = float(diff.max()) / max(scale, 1e-30) if ref.size else 0.0
    if err > tol:
        at = np.unravel_index(int(np.argmax(diff)), diff.shape)
        print("err %.2e > tol %.0e (at %s: %.6g, want %.6g)" % (err, tol, list(map(int, at)), out[at], ref[at]))
        sys.exit(1)
    print("err %.2e" % err)


if __name__ == "__main__":
    main()
