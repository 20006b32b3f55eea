#!/usr/bin/python3
"""OpenCV's CascadeClassifier beside our Haar detector, for bench/run.sh.

Times cv2.CascadeClassifier.detectMultiScale(gray, 1.1, 3) - the parameters
our "haar" detector uses by default (scale factor 1.1, minNeighbors 3, no
minimum size beyond the cascade's 24x24 window) - on the same images and the
same cascade file (haarcascade_frontalface_default.xml from Debian's
opencv-data). Each timed call includes the BGR-to-gray conversion, as ours
includes its own. OpenCV runs with 1 thread and then 2 (cv2.setNumThreads),
matching the two columns of our benchmark.

Prints one sentence for the benchmark report; with --ours it reads our
benchmark's JSON (the "haar" row) and puts both medians side by side.
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
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--ours", help="our benchmark's ours.json, for the side-by-side figures")
    ap.add_argument("--json", help="write the figures here too")
    a = ap.parse_args()

    img = cv2.imread(a.frame, cv2.IMREAD_COLOR)
    if img is None:
        print("OpenCV Haar: cannot read %s" % a.frame)
        return 1
    clf = cv2.CascadeClassifier(a.cascade)
    if clf.empty():
        print("OpenCV Haar: cannot load %s" % a.cascade)
        return 1
    res = {"opencv": cv2.__version__, "cascade": a.cascade, "width": img.shape[1],
           "height": img.shape[0]}
    for n in (1, 2):
        cv2.setNumThreads(n)
        ms, cpu, faces = time_cascade(clf, img, a.runs, a.warmup)
        res["threads%d" % n] = {"median_ms": ms, "median_cpu_ms": cpu, "faces": faces}

    ours = None
    if a.ours:
        try:
            rows = json.load(open(a.ours))["rows"]
            ours = next(r for r in rows if r["key"] == "haar" and r["ok"])
        except (OSError, ValueError, KeyError, StopIteration):
            ours = None
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)

    cv1, cv2t = res["threads1"], res["threads2"]
    text = ("Haar cascade (frontalface_default, scale 1.1, minNeighbors 3) on the %dx%d frame: "
            "OpenCV %s CascadeClassifier %.2f ms (1 thread) / %.2f ms (2 threads), %d face(s), "
            "%.2f ms of CPU on 1 thread"
            % (res["width"], res["height"], res["opencv"], cv1["median_ms"], cv2t["median_ms"],
               cv1["faces"], cv1["median_cpu_ms"]))
    if ours:
        o1, o2 = ours["threads1"]["median_ms"], ours["threads2"]["median_ms"]
        text += ("; ours %.2f ms / %.2f ms, %d face(s): %.1fx / %.1fx OpenCV's speed."
                 % (o1, o2, ours["faces"], cv1["median_ms"] / o1, cv2t["median_ms"] / o2))
    else:
        text += "; our figure is the haar row above."
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
