#!/bin/sh
# Imported ONNX networks against ONNX Runtime, in the same run: FaceNet's
# InceptionResnetV1 at 160x160 and ArcFace's iresnet50 at 112x112 (the exact
# topologies of tests/onnx/gen_models.py, seeded weights), batch 1 and 8, one
# and two threads, with facerec's best kernel set and with
# FACEREC_KERNELS=avx2. Each figure is the median of RUNS runs after warm-up
# (facerec infer --repeat; ORT's session.run() timed by tests/onnx/ort_run.js,
# onnxruntime-node's bundled native CPU build, graph optimisation 'all').
# The two are run alternately, ROUNDS times, and each keeps its best median,
# so that drift of the machine hits both alike. Prints a markdown section with
# the CPU, the date and the FMA peaks; GFLOP/s counts 2 per multiply-add.
# Usage: sh bench/onnx.sh [BUILD]   (RUNS, ROUNDS in the environment)
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=$(cd "$ROOT/../shared" && pwd)
RUNS=${RUNS:-15}
ROUNDS=${ROUNDS:-3}
W="$ROOT/$BUILD/onnx-tests"
PEER="$ROOT/$BUILD/peer-ort"
BIN="$ROOT/$BUILD/facerec"
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

if [ ! -f "$PEER/node_modules/.package-lock.json" ]; then
  rm -rf "$PEER" && cp -r "$SHARED/peers/ort" "$PEER" && chmod -R u+w "$PEER" &&
    (cd "$PEER" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund >"$T/npm.log" 2>&1) ||
    { echo "bench/onnx.sh: the ONNX Runtime peer could not be installed" >&2; exit 1; }
fi
if [ ! -s "$W/facenet_irv1.onnx" ] || [ ! -s "$W/iresnet50.onnx" ] || [ ! -s "$W/iresnet50_b8.in.npy" ]; then
  mkdir -p "$W"
  $PY "$ROOT/tests/onnx/gen_models.py" "$W" --only facenet_irv1,facenet_irv1_b8,iresnet50,iresnet50_b8 \
    >"$T/gen.log" 2>&1 || { cat "$T/gen.log" >&2; exit 1; }
fi

cpu=$(sed -n 's/^model name[^:]*: *//p' /proc/cpuinfo | head -n 1)
best=$("$BIN" infer "$W/iresnet50.onnx" --input "$W/iresnet50.in.npy" --threads 1 --json | \
  $PY -c 'import json,sys; print(json.load(sys.stdin)["kernels"])')
peaks() { # KERNELS -> "p1 p2" of the set's FMA peak, 1 and 2 threads
  FACEREC_KERNELS=$1 "$ROOT/$BUILD/bench/bench" --peak-only 2>/dev/null |
    sed -n "s/^$2 FMA peak: \([0-9.]*\) GFLOP\/s (1 thread), \([0-9.]*\) (2 threads)/\1 \2/p"
}
[ -x "$ROOT/$BUILD/bench/bench" ] || make -s BUILD="$BUILD" "$BUILD/bench/bench" >/dev/null
p512=$(peaks avx512 AVX-512); p2=$(peaks avx2 AVX2)

: >"$T/rows"
for case in facenet_irv1 facenet_irv1_b8 iresnet50 iresnet50_b8; do
  model=${case%_b8}
  for threads in 1 2; do
    for k in "$best" avx2; do
      [ "$k" = avx2 ] && [ "$best" = avx2 ] && [ -n "$(grep "^$case $threads avx2 " "$T/rows")" ] && continue
      ours=""; peer=""; gm=""
      for r in $(seq 1 "$ROUNDS"); do
        j=$(FACEREC_KERNELS=$k "$BIN" infer "$W/$model.onnx" --input "$W/$case.in.npy" --threads "$threads" \
          --repeat "$RUNS" --json) || { echo "bench/onnx.sh: facerec infer failed on $case" >&2; exit 1; }
        ms=$(echo "$j" | $PY -c 'import json,sys; print(json.load(sys.stdin)["ms_median"])')
        gm=$(echo "$j" | $PY -c 'import json,sys; print(json.load(sys.stdin)["gmacs"])')
        ours=$($PY -c "print(min(x for x in [$ms, ${ours:-1e30}]))")
        # The peer once per kernel set's row too: it is the same peer, but
        # timed beside each of our figures.
        pj=$(node "$ROOT/tests/onnx/ort_run.js" "$W" --peer "$PEER" --bench "$RUNS" --warmup 3 \
          --threads "$threads" --cases "$case" 2>"$T/ort.err") || { cat "$T/ort.err" >&2; exit 1; }
        pm=$(echo "$pj" | $PY -c "import json,sys; print(json.load(sys.stdin)['$case'])")
        peer=$($PY -c "print(min(x for x in [$pm, ${peer:-1e30}]))")
      done
      echo "$case $threads $k $ours $peer $gm" >>"$T/rows"
    done
  done
done

$PY - "$T/rows" "$cpu" "$best" "$p512" "$p2" <<'PY'
import sys, datetime
rows = [l.split() for l in open(sys.argv[1])]
cpu, best = sys.argv[2], sys.argv[3]
peak = {"avx512": [float(x) for x in sys.argv[4].split()] if sys.argv[4].strip() else None,
        "avx2": [float(x) for x in sys.argv[5].split()] if sys.argv[5].strip() else None}
name = {"facenet_irv1": "InceptionResnetV1 160x160", "iresnet50": "iresnet50 112x112"}
print("### Imported ONNX networks against ONNX Runtime (%s)" % datetime.datetime.now().strftime("%Y-%m-%d %H:%M"))
print()
print("CPU: %s; facerec's best kernel set here: %s. FMA peak (bench --peak-only, same run): "
      % (cpu, best) + "; ".join("%s %s GFLOP/s on 1 thread, %s on 2" % (k, v[0], v[1])
                                   for k, v in peak.items() if v) + ".")
print("ms per batch, median of each side's best round (`sh bench/onnx.sh`); ORT: onnxruntime-node "
      "1.30 native CPU build, the same thread count. Ratio = ORT time / ours (above 1: we are faster).")
print()
print("| network | batch | threads | kernels | facerec ms | ORT ms | ratio | facerec GFLOP/s | % of peak |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for case, th, k, ours, peer, gm in rows:
    ours, peer, gm, th = float(ours), float(peer), float(gm), int(th)
    b = 8 if case.endswith("_b8") else 1
    gf = 2 * gm / (ours / 1000)
    p = peak.get(k)
    pct = "%.0f%%" % (100 * gf / p[th - 1]) if p else "-"
    print("| %s | %d | %d | %s | %.1f | %.1f | %.2fx | %.0f | %s |"
          % (name[case.replace("_b8", "")], b, th, k, ours, peer, peer / ours, gf, pct))
PY
