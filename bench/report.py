#!/usr/bin/env python3
"""report.py - one `make bench` run's JSON files -> a dated BENCHMARKS.md section.

bench/run.sh calls it after running bench/bench.c and the peers in the same run:

    python3 bench/report.py --ours ours.json [--faceapi peer-faceapi.json]
        [--pipeline peer-pipeline.json] [--ort peer-ort.json] [--status status.txt]
        [--uname "Linux 6.1"] [--append BENCHMARKS.md]

Peer files that are missing (the peer could not be installed or failed) leave their
columns empty with the reason from --status; no ratio is ever computed against a figure
that was not measured in this run. Standard library only: the machine has no pip.
"""
import argparse
import json
import os
import sys

HEADER = """# Benchmarks

How the figures are produced: `make bench` builds `build/bench/bench` (bench/bench.c) and
runs `bench/run.sh build`, which builds nothing itself. It waits for idle CPUs, runs ours
(each network through the public API, full calls including preprocessing, on a context
with a pool of 1 and of 2 threads; median and 90th percentile of 30 timed runs after 5
warm-up runs; also each network alone through the engine), then, in the same run and
right after ours, the peers of `../shared/peers/`: @vladmandic/face-api 1.7.15 on
TensorFlow.js 4.22 (wasm backend with SIMD, one thread) on the same images, face-api's
whole pipeline on the same 640x480 frame (bench/pipeline-faceapi.js), and ONNX Runtime's
native CPU build for the recognition net. **Ratios are only ever between figures of the
same run** (ours / peer time: below 1 means we are faster); absolute times move by 10-20%
between runs on a VM, so do not compare absolute times across sections.

GFLOP/s counts 2 flops per multiply-add of the convolutions and fully connected layers
at the input size run (`fr__graph_macs`), as direct convolutions: the 3x3 layers the kernels
run as Winograd F(2x2, 3x3) do fewer multiplies, so it is an effective rate. "% FMA peak" divides it by the FMA peak that
bench.c measures in the same run for the instruction set of the kernels in use (12
independent `_mm512_fmadd_ps` chains for the `avx512` kernels, picked on a CPU that has
AVX-512, or `_mm256_fmadd_ps` chains for the `avx2` ones; one thread, or two at once for the
2-thread column).

The machine: a 2-vCPU KVM guest on an Intel Xeon ("Intel(R) Xeon(R) Processor" in
/proc/cpuinfo; AVX2, FMA and AVX-512) with two real cores (the 2-thread FMA peak is twice
the 1-thread one), Linux 6.18, Node 20. Each section names its CPU, the kernel set, the
load, the CPU steal and the share of the CPUs other processes took during our timing; a
section whose run was disturbed says NOT CLEAN or NOT IDLE. Raw per-run JSON (with every
sample) is left in `build/bench/results/`.
"""


def load(path):
    """The parsed JSON file, or None when it is absent or unreadable."""
    if not path or not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def fmt(v, nd=2):
    return "-" if v is None else f"{v:.{nd}f}"


def ratio(ours, peer):
    if ours is None or not peer:
        return None
    return ours / peer


def fmt_ratio(r):
    if r is None:
        return "-"
    return f"{r:.3f} ({1 / r:.1f}x faster)" if r < 1 else f"{r:.3f} ({r:.1f}x slower)"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", required=True)
    ap.add_argument("--faceapi")
    ap.add_argument("--pipeline")
    ap.add_argument("--ort")
    ap.add_argument("--status", help="lines of free text about how the run went")
    ap.add_argument("--uname", default="")
    ap.add_argument("--append", help="BENCHMARKS.md to append the section to")
    a = ap.parse_args()

    ours = load(a.ours)
    if ours is None:
        print(f"report.py: no results in {a.ours}", file=sys.stderr)
        return 1
    fa = load(a.faceapi)
    pp = load(a.pipeline)
    ort = load(a.ort)
    status = []
    if a.status and os.path.exists(a.status):
        with open(a.status) as f:
            status = [ln.rstrip("\n") for ln in f if ln.strip()]

    rows = {r["key"]: r for r in ours["rows"]}
    peak = ours.get("fma_peak_gflops") or {}

    # The peer's per-network figures: bench-faceapi.js's row for faces.jpg, the image
    # ours is timed on; descriptors there are per face over faces.jpg's faces.
    fa_row = None
    if fa:
        fa_row = next((r for r in fa.get("rows", []) if r.get("image") == "faces.jpg"), None)
    pp_rows = {r["key"]: r for r in pp.get("rows", [])} if pp else {}

    def peer_ms(key):
        if key in pp_rows:
            return pp_rows[key]["median_ms"]
        if not fa_row:
            return None
        col = {"ssd": "ssd_ms", "tiny416": "tiny_ms", "lm68": "lm68_ms",
               "lm68tiny": "lm68tiny_ms", "desc_b1": "desc_ms", "desc_b8": "desc_ms"}.get(key)
        return fa_row.get(col) if col else None

    out = []
    date = ours["date"].replace("T", " ").replace("Z", " UTC")
    out.append(f"## {date} - {ours['cpu']}, {ours['nproc']} CPUs, kernels {ours['kernels']}, "
               f"facerec {ours['version']}")
    out.append("")
    isa = "AVX-512" if peak.get("isa") == "avx512" else "AVX2"
    line = (f"- {isa} FMA peak (the kernels' instruction set, the yardstick of \"% FMA peak\") "
            f"measured in this run: {fmt(peak.get('threads1'), 1)} GFLOP/s on one "
            f"thread, {fmt(peak.get('threads2'), 1)} on two (again at the end: "
            f"{fmt(peak.get('threads1_end'), 1)} / {fmt(peak.get('threads2_end'), 1)})")
    p512 = ours.get("avx512_peak_gflops")
    p256 = ours.get("avx2_peak_gflops")
    if isa == "AVX-512" and p256:
        line += (f"; the AVX2 FMA peak is {fmt(p256.get('threads1'), 1)} / "
                 f"{fmt(p256.get('threads2'), 1)} GFLOP/s")
    elif p512:
        line += (f"; the CPU also has AVX-512, whose FMA peak is {fmt(p512.get('threads1'), 1)} / "
                 f"{fmt(p512.get('threads2'), 1)} GFLOP/s (these kernels do not use it)")
    out.append(line + ".")
    out.append(f"- Ours: median and p90 of {ours['runs']} timed runs after {ours['warmup']} "
               f"warm-up runs.{' ' + a.uname + '.' if a.uname else ''} Load average (1 min) "
               f"{fmt(ours.get('load1_start'))} at the start of our run, "
               f"{fmt(ours.get('load1_end'))} at its end; CPU steal {fmt(ours.get('steal_pct'), 1)}%; "
               f"other processes used {fmt(ours.get('others_cpu_pct'), 1)}% of the CPUs while it ran.")
    others = ours.get("others_cpu_pct")
    if others is not None and others > 5:
        out.append(f"- **NOT CLEAN**: other processes took {others:.0f}% of the CPUs during our "
                   f"run, so our figures (the 2-thread ones most) are slower than this machine's.")
    if fa:
        m = fa.get("meta", {})
        v = m.get("versions", {})
        b = m.get("backend", {})
        out.append(f"- Peer: @vladmandic/face-api {m.get('faceapiVersion')} on TensorFlow.js "
                   f"{v.get('@tensorflow/tfjs')} backend {b.get('active')} "
                   f"({'SIMD' if b.get('simd') else 'no SIMD'}, {b.get('threads')} thread), Node {v.get('node')}; median of {m.get('runs')} "
                   f"runs after {m.get('warmup')} warm-up runs, on faces.jpg "
                   f"(landmarks and descriptors per face over its SSD faces).")
    for s in status:
        out.append(f"- {s}")
    out.append("")

    out.append("| network (per unit) | ours 1 thread, ms median (p90) | ours 2 threads, ms median (p90) "
               "| peer wasm 1 thread, ms | ratio ours/peer, 1 thread | GFLOP/s 1T (2T) "
               "| % FMA peak 1T (2T) |")
    out.append("| --- | --- | --- | --- | --- | --- | --- |")
    for r in ours["rows"]:
        name = f"{r['label']} (/{r['unit']})"
        if not r.get("ok"):
            out.append(f"| {name} | failed: {r.get('error', '?')} | | | | | |")
            continue
        t1, t2 = r["threads1"], r["threads2"]
        c1 = f"{fmt(t1['median_ms'])} ({fmt(t1['p90_ms'])})"
        c2 = f"{fmt(t2['median_ms'])} ({fmt(t2['p90_ms'])})"
        if r["unit"] == "frame":
            c1 += f" = {fmt(t1['per_s'], 1)} frames/s"
            c2 += f" = {fmt(t2['per_s'], 1)} frames/s"
        p = peer_ms(r["key"])
        pc = fmt(p)
        if r["key"] in pp_rows:
            pc += f" (p90 {fmt(pp_rows[r['key']]['p90_ms'])})"
            if r["unit"] == "frame" and p:
                pc += f" = {1e3 / p:.1f} frames/s"
        if r["key"] == "desc_b8" and p is not None:
            pc += " (batch 1)"
        g = f"{fmt(t1['gflops'], 1)} ({fmt(t2['gflops'], 1)})"
        pct = f"{fmt(t1['pct_peak'], 1)}% ({fmt(t2['pct_peak'], 1)}%)"
        out.append(f"| {name} | {c1} | {c2} | {pc} | {fmt_ratio(ratio(t1['median_ms'], p))} | {g} | {pct} |")
    out.append("")

    # Where a call's time goes: the engine alone against the full call.
    eng = [r for r in ours["rows"] if r.get("ok") and "graph_threads1" in r]
    if eng:
        out.append("The networks alone (`fr__run` on the planned graph: no image resize, "
                   "normalisation or output decoding), ours, same run:")
        out.append("")
        out.append("| network (per unit) | full call 1 thread, ms | network alone 1 thread, ms median (p90) "
                   "| outside the engine | network alone 2 threads, ms | GFLOP/s 1T (2T) "
                   "| % FMA peak 1T (2T) |")
        out.append("| --- | --- | --- | --- | --- | --- | --- |")
        for r in eng:
            t1, g1, g2 = r["threads1"], r["graph_threads1"], r["graph_threads2"]
            share = 1 - g1["median_ms"] / t1["median_ms"] if t1["median_ms"] else None
            out.append(f"| {r['label']} (/{r['unit']}) | {fmt(t1['median_ms'])} | "
                       f"{fmt(g1['median_ms'])} ({fmt(g1['p90_ms'])}) | "
                       f"{'-' if share is None else f'{100 * share:.0f}%'} | {fmt(g2['median_ms'])} | "
                       f"{fmt(g1['gflops'], 1)} ({fmt(g2['gflops'], 1)}) | "
                       f"{fmt(g1['pct_peak'], 1)}% ({fmt(g2['pct_peak'], 1)}%) |")
        out.append("")

    # Sanity checks that the timed calls did the same work.
    notes = []
    if fa_row and "ssd" in rows and rows["ssd"].get("ok"):
        notes.append(f"faces found in faces.jpg: SSD ours {rows['ssd']['faces']}, peer "
                     f"{fa_row.get('ssd_faces')}; Tiny@416 ours {rows.get('tiny416', {}).get('faces')}, "
                     f"peer {fa_row.get('tiny_faces')}")
    fr = ours.get("frame", {})
    if fr:
        s = (f"the 640x480 frame (one face of faces.jpg on gray) gives Tiny@416 "
             f"{fr.get('faces_tiny416')} face(s) and Tiny@320 {fr.get('faces_tiny320')} in ours")
        if pp_rows:
            s += "; the peer's pipelines found " + ", ".join(
                f"{k.replace('pipeline_', '')} {v['faces']}" for k, v in pp_rows.items()
                if k.startswith("pipeline_"))
        notes.append(s)
    if notes:
        out.append("Checks: " + "; ".join(notes) + ". The peer's pipeline aligns with face-api's "
                   "upright crop; ours with the default similarity warp (the same network work, "
                   "a slightly different chip).")
        out.append("")

    if ort:
        ort_rows = [r for r in ort.get("rows", []) if r.get("engine", "").startswith("onnx")]
        tf_rows = [r for r in ort.get("rows", []) if r.get("engine", "").startswith("tfjs")]
        tf_ms = sum(r["ms_per_face"] for r in tf_rows) / len(tf_rows) if tf_rows else None
        m = ort.get("meta", {})
        out.append(f"FaceRecognitionNet beside ONNX Runtime {m.get('versions', {}).get('onnxruntime-node')} "
                   f"(native MLAS CPU build, same weights, ../shared/peers/ort/bench.js: median of "
                   f"{m.get('runs')} runs, 1 intra-op thread), same run, per face:")
        out.append("")
        out.append("| batch | ours 1 thread, ms | ORT 1 thread, ms | ratio ours/ORT | ours GFLOP/s "
                   f"| ORT GFLOP/s | ORT % of {isa} peak |")
        out.append("| --- | --- | --- | --- | --- | --- | --- |")
        for r in ort_rows:
            if r.get("threads") != 1:
                continue
            o = rows.get(f"desc_b{r['batch']}")
            om = o["threads1"]["median_ms"] if o and o.get("ok") else None
            og = o["threads1"]["gflops"] if o and o.get("ok") else None
            pk = peak.get("threads1")
            out.append(f"| {r['batch']} | {fmt(om)} | {fmt(r['ms_per_face'])} | "
                       f"{fmt_ratio(ratio(om, r['ms_per_face']))} | {fmt(og, 1)} | {fmt(r['gflops'], 1)} | "
                       f"{fmt(100 * r['gflops'] / pk, 1) + '%' if pk else '-'} |")
        if tf_ms:
            o = rows.get("desc_b1")
            om = o["threads1"]["median_ms"] if o and o.get("ok") else None
            out.append(f"| 1 (tfjs-wasm peer on face1.png, timed by bench.js) | {fmt(om)} | "
                       f"{fmt(tf_ms)} (tfjs) | {fmt_ratio(ratio(om, tf_ms))} | | | |")
        out.append("")
        if m.get("loadAfter") is not None or m.get("stealPct") is not None:
            out.append(f"(ORT run: CPU steal {m.get('stealPct')}%, load1 after {fmt(m.get('loadAfter'))}; "
                       f"ORT's MLAS picks AVX-512 kernels on a CPU that has them"
                       + (", so its % of the AVX2 peak can pass 100%.)" if isa == "AVX2" else ".)"))
            out.append("")

    text = "\n".join(out)
    print(text)
    if a.append:
        new = not os.path.exists(a.append) or os.path.getsize(a.append) == 0
        with open(a.append, "a") as f:
            if new:
                f.write(HEADER)
            f.write("\n" + text)
        print(f"(appended to {a.append})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
