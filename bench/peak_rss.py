#!/usr/bin/env python3
"""Peak resident memory of `facerec embed` on one image, per model set.

Each configuration runs as its own child process; its peak resident set size
(ru_maxrss from wait4, which is what /usr/bin/time reports) is the largest of
--runs runs. Prints a markdown section for BENCHMARKS.md. The first row is
issue 6's criterion: the default models (SSD-MobileNetV1, 68-point landmarks,
FaceRecognitionNet) on one image, under 64 MB.

usage: peak_rss.py --facerec BUILD/facerec --models DIR --images DIR [--runs N]
"""
import argparse
import atexit
import os
import shutil
import subprocess
import sys
import tempfile

GOAL_MB = 64.0


def peak_kib(argv, runs):
    """Largest ru_maxrss (KiB on Linux) over `runs` runs; None if one failed."""
    worst = 0
    for _ in range(runs):
        pid = os.fork()
        if pid == 0:
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                os.execv(argv[0], argv)
            finally:
                os._exit(127)
        _, status, usage = os.wait4(pid, 0)
        if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
            return None
        worst = max(worst, usage.ru_maxrss)
    return worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--facerec", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--images", required=True)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    if a.runs < 1:
        ap.error("--runs must be 1 or more")
    face1 = os.path.join(a.images, "face1.png")
    faces = os.path.join(a.images, "faces.jpg")
    base = [a.facerec, "embed", "--models", a.models]

    # The same networks converted to facerec model files, in a temporary folder.
    frm_dir = tempfile.mkdtemp(prefix="facerec-frm-")
    # Removed however the script ends (the forked children leave by os._exit,
    # which skips this).
    atexit.register(shutil.rmtree, frm_dir, True)
    conv = subprocess.run([a.facerec, "convert", "--models", a.models, "--out", frm_dir],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if conv.returncode == 0:
        # The converted files sit beside copies of what convert does not cover.
        for name in os.listdir(a.models):
            dst = os.path.join(frm_dir, name)
            if not os.path.exists(dst) and os.path.isfile(os.path.join(a.models, name)):
                shutil.copy(os.path.join(a.models, name), dst)

    rows = [
        ("default models (SSD, 68 landmarks, FaceRecognitionNet), face1.png", base + [face1]),
        ("default models, faces.jpg (6 faces)", base + [faces]),
        ("Tiny detector, face1.png", base + ["--detector", "tiny", face1]),
        ("int8 descriptor, face1.png", base + ["--model", "faceapi-int8", face1]),
        ("MTCNN + MobileFaceNet, face1.png", base + ["--detector", "mtcnn", "--model",
                                                    "mobilefacenet", face1]),
    ]
    if conv.returncode == 0:
        rows.append(("default models from .frm files, face1.png",
                     [a.facerec, "embed", "--models", frm_dir, face1]))

    print("### Peak memory of `facerec embed` (bench/peak_rss.py)")
    print()
    print("Largest peak resident set size (ru_maxrss) of %d runs each; goal for the "
          "first row: under %.0f MB." % (a.runs, GOAL_MB))
    print()
    print("| configuration | peak RSS |")
    print("|---|---|")
    ok = True
    first = None  # the goal row's figure; a later row must not stand in for it
    for i, (label, argv) in enumerate(rows):
        kib = peak_kib(argv, a.runs)
        if kib is None:
            print("| %s | failed |" % label)
            ok = False
            continue
        mb = kib / 1024.0
        if i == 0:
            first = mb
        print("| %s | %.1f MB |" % (label, mb))
    print()
    if first is not None:
        print("Default models on one image: %.1f MB, %s the %.0f MB goal." %
              (first, "under" if first < GOAL_MB else "NOT under", GOAL_MB))
    if conv.returncode != 0:
        print("(`facerec convert` failed, so there is no .frm row.)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
