#!/usr/bin/python3
"""OpenCV's CascadeClassifier beside our Haar and LBP detectors, for bench/run.sh.

Times cv2.CascadeClassifier.detectMultiScale(gray, 1.1, 3) - the parameters
our "haar" and "lbp" detectors use by default (scale factor 1.1, minNeighbors
3, no minimum size beyond the cascade's training window) - on the same image
and the same cascade files (haarcascade_frontalface_default.xml and
lbpcascade_frontalface.xml from Debian's opencv-data). Each timed call
includes the BGR-to-gray conversion, as ours includes its own. OpenCV runs
with 1 thread and then 2 (cv2.setNumThreads), matching the two columns of our
benchmark. Our rows compared are the faces alone ("haar", "lbp"); the eye
search our detectors add per face ("haar_eyes") is reported beside them.

Prints one line for the benchmark report; with --ours it reads our
benchmark's JSON and puts the medians side by side.
OpenCV (Debian python3-opencv) is used here only, never by the library.
"""
import argparse
import json
import statistics
import sys
import time

try:
    import cv2
except ImportError:
    print("OpenCV's Python module (python3-opencv) is not installed: no OpenCV Haar figures.")
    sys.exit(0)


def time_cascade(clf, img, runs, warmup):
    """Median wall and process-CPU milliseconds per call, and the face count.
    CPU time says more than wall time on a machine others are using."""
    faces = None
    times, cpu = [], []
    for i in range(warmup + runs):
        t0, c0 = time.perf_counter(), time.process_time()
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        faces = clf.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=3)
        dt, dc = (time.perf_counter() - t0) * 1e3, (time.process_time() - c0) * 1e3
        if i >= warmup:
            times.append(dt)
            cpu.append(dc)
    return statistics.median(times), statistics.median(cpu), len(faces)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frame", required=True, help="the 640x480 frame our benchmark wrote")
    ap.add_argument("--cascade",
                    default="/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml")
    ap.add_argument("--lbp-cascade",
                    default="/usr/share/opencv4/lbpcascades/lbpcascade_frontalface.xml")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--ours", help="our benchmark's ours.json, for the side-by-side figures")
    ap.add_argument("--json", help="write the figures here too")
    a = ap.parse_args()

    img = cv2.imread(a.frame, cv2.IMREAD_COLOR)
    if img is None:
        print("OpenCV Haar: cannot read %s" % a.frame)
        return 1
    res = {"opencv": cv2.__version__, "width": img.shape[1], "height": img.shape[0]}
    for key, path in (("haar", a.cascade), ("lbp", a.lbp_cascade)):
        clf = cv2.CascadeClassifier(path)
        if clf.empty():
            print("OpenCV cascades: cannot load %s" % path)
            return 1
        res[key] = {"cascade": path}
        for n in (1, 2):
            cv2.setNumThreads(n)
            ms, cpu, faces = time_cascade(clf, img, a.runs, a.warmup)
            res[key]["threads%d" % n] = {"median_ms": ms, "median_cpu_ms": cpu, "faces": faces}

    rows = {}
    if a.ours:
        try:
            rows = {r["key"]: r for r in json.load(open(a.ours))["rows"] if r.get("ok")}
        except (OSError, ValueError, KeyError, TypeError):
            rows = {}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)

    parts = []
    for key, name in (("haar", "Haar (frontalface_default)"), ("lbp", "LBP (frontalface)")):
        cv1, cv2t = res[key]["threads1"], res[key]["threads2"]
        text = ("%s: OpenCV %.2f ms (1 thread) / %.2f ms (2 threads), %d face(s), %.2f ms of CPU "
                "on 1 thread" % (name, cv1["median_ms"], cv2t["median_ms"], cv1["faces"],
                                 cv1["median_cpu_ms"]))
        ours = rows.get(key)
        if ours:
            o1, o2 = ours["threads1"]["median_ms"], ours["threads2"]["median_ms"]
            text += ("; ours %.2f ms / %.2f ms, %d face(s): %.1fx / %.1fx OpenCV's speed"
                     % (o1, o2, ours["faces"], cv1["median_ms"] / o1, cv2t["median_ms"] / o2))
        else:
            text += "; ours: see the %s row above" % key
        parts.append(text)
    eyes = rows.get("haar_eyes")
    tail = ""
    if eyes:
        tail = ("; our eye search (haarcascade_eye in the top of each face) adds %.2f ms per face "
                "(1 thread)" % eyes["threads1"]["median_ms"])
    print("Cascades (scale 1.1, minNeighbors 3) on the %dx%d frame, OpenCV %s CascadeClassifier, "
          "faces only - %s%s." % (res["width"], res["height"], res["opencv"], "; ".join(parts), tail))
    return 0


if __name__ == "__main__":
    sys.exit(main())
