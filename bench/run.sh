#!/bin/sh
# bench/run.sh BUILD_DIR - runs facerec's benchmark and its peers in one run and appends a
# dated section to BENCHMARKS.md (`make bench` calls it after building BUILD_DIR/bench/bench).
#
# Order: install the peers first (so that npm's work does not overlap any timing), wait until
# the CPUs are idle, run ours, then right after it the face-api peer (bench-faceapi.js), the
# face-api pipeline timing on our 640x480 frame (bench/pipeline-faceapi.js) and, when it can be
# installed, ONNX Runtime's recognition-net peer. Ratios in the report only ever compare figures
# of this one run. Builds nothing. A peer that cannot be installed or run is reported as such;
# our figures are printed and recorded anyway.
#
# Environment (all optional):
#   BENCH_RUNS=30       timed runs per figure of ours (the peers use their own counts below)
#   BENCH_PEER_RUNS=10  timed runs per figure of the face-api peer (3 warm-ups)
#   BENCH_ORT=1         0 skips the ONNX Runtime peer
#   BENCH_IDLE_PCT=15   the CPUs count as idle below this busy percentage
#   BENCH_WAIT_S=300    how long to wait for idle CPUs before timing anyway (and saying so)
#   BENCH_NO_APPEND=1   print the section but leave BENCHMARKS.md alone
set -u

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
  echo "usage: sh bench/run.sh BUILD_DIR" >&2
  exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$1" && pwd)
BENCH="$BUILD/bench/bench"
SHARED=$(cd "$ROOT/../shared" 2>/dev/null && pwd) || SHARED=""
IMAGES="$SHARED/data/bbt/test/images"
OUT="$BUILD/bench/results"
RUNS=${BENCH_RUNS:-30}
PEER_RUNS=${BENCH_PEER_RUNS:-10}
IDLE_PCT=${BENCH_IDLE_PCT:-15}
WAIT_S=${BENCH_WAIT_S:-300}
STATUS="$OUT/status.txt"

if [ ! -x "$BENCH" ]; then
  echo "run.sh: $BENCH is missing; build it with make bench" >&2
  exit 2
fi
if [ ! -f "$IMAGES/faces.jpg" ]; then
  echo "run.sh: test images not found in $IMAGES" >&2
  exit 2
fi
mkdir -p "$OUT"
rm -f "$OUT/ours.json" "$OUT/peer-faceapi.json" "$OUT/peer-pipeline.json" "$OUT/peer-ort.json" \
  "$OUT/frame640x480.png"
: >"$STATUS"
note() { echo "$*" >>"$STATUS"; echo "run.sh: $*"; }

# Busy percentage of all CPUs over 2 seconds, from /proc/stat (no ">" inside awk's printf
# arguments: awk reads it as an output redirection to a file). This is an instant
# measure, unlike the load average, which lags a minute behind: it must tell apart
# "someone is compiling right now" from "our previous step just ended".
busy_pct() {
  a=$(head -n 1 /proc/stat)
  sleep 2
  b=$(head -n 1 /proc/stat)
  echo "$a
$b" | awk '{ idle = $5 + $6; tot = 0; for (i = 2; i <= NF; i++) tot += $i;
             if (NR == 1) { i0 = idle; t0 = tot } else { i1 = idle; t1 = tot } }
           END { d = t1 - t0; b = 0; if (d > 0) b = 100 * (d - (i1 - i0)) / d; printf "%d\n", b }'
}

# "busy total" jiffies of all CPUs now; busy_between turns two of them into a percentage.
# Around a single-threaded peer about 50% of this 2-CPU machine is the peer itself: much more
# means someone else was running during its timing.
cpu_snap() { head -n 1 /proc/stat | awk '{ t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }'; }
busy_between() {
  echo "$1 $2" | awk '{ b = 0; if ($4 > $2) b = 100 * ($3 - $1) / ($4 - $2); printf "%d\n", b }'
}

# Waits until the CPUs are idle (up to $1 seconds); notes in the report when they were not,
# since a busy machine slows ours and the peers by different amounts.
wait_idle() {
  limit=$1; what=$2; waited=0
  while :; do
    b=$(busy_pct)
    [ "$b" -lt "$IDLE_PCT" ] && return 0
    if [ "$waited" -ge "$limit" ]; then
      note "NOT IDLE before $what: CPUs ${b}% busy after waiting ${waited} s; figures are not clean."
      return 1
    fi
    [ "$waited" = 0 ] && echo "run.sh: waiting for idle CPUs before $what (${b}% busy)"
    sleep 8
    waited=$((waited + 10))
  done
}

# Installs a peer from ../shared/peers/NAME into BUILD/peer-NAME once (npm ci against the
# lock file; ONNXRUNTIME_NODE_INSTALL=skip keeps onnxruntime-node from fetching GPU files).
install_peer() {
  name=$1; dir="$BUILD/peer-$name"
  # npm ci writes node_modules/.package-lock.json last, so its presence means a whole install.
  if [ -f "$dir/node_modules/.package-lock.json" ]; then return 0; fi
  [ -d "$SHARED/peers/$name" ] || { echo "no $SHARED/peers/$name"; return 1; }
  rm -rf "$dir"
  cp -r "$SHARED/peers/$name" "$dir" && chmod -R u+w "$dir" || return 1
  (cd "$dir" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund >"$OUT/npm-$name.log" 2>&1) ||
    { echo "npm ci failed, see $OUT/npm-$name.log"; rm -rf "$dir/node_modules"; return 1; }
}

HAVE_NODE=0
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then HAVE_NODE=1; fi
FACEAPI_OK=0; ORT_OK=0
if [ $HAVE_NODE = 1 ]; then
  if msg=$(install_peer faceapi); then FACEAPI_OK=1; else note "The face-api peer could not be installed ($msg): no peer figures, no ratios."; fi
  if [ "${BENCH_ORT:-1}" != 0 ]; then
    if msg=$(install_peer ort); then
      if [ -s "$BUILD/peer-ort/face_recognition.onnx" ] ||
        (cd "$BUILD/peer-ort" && node build-onnx.js "$BUILD/peer-ort/face_recognition.onnx" >"$OUT/ort-build.log" 2>&1); then
        ORT_OK=1
      else
        note "The ONNX Runtime peer could not convert the model (see $OUT/ort-build.log)."
      fi
    else
      note "The ONNX Runtime peer could not be installed ($msg)."
    fi
  fi
else
  note "node/npm are not available: the peers could not be run, so there are no ratios."
fi

# --- ours ---------------------------------------------------------------------------
wait_idle "$WAIT_S" "our benchmark" || true
echo "run.sh: $BENCH --runs $RUNS"
(cd "$ROOT" && "$BENCH" --runs "$RUNS" --images "$IMAGES" --json "$OUT/ours.json" \
  --frame-out "$OUT/frame640x480.png")
rc=$?
if [ ! -s "$OUT/ours.json" ]; then
  echo "run.sh: the benchmark failed (exit $rc) and wrote no results" >&2
  exit 1
fi
[ $rc -ne 0 ] && note "Our benchmark exited with status $rc: some rows failed (see the table)."

# --- OpenCV's Haar and LBP cascades on the same frame and cascades (benchmark only) ----------
# `deps.sh bench` installs Debian's python3-opencv; /usr/bin/python3 is the interpreter it
# installs into (a python3 earlier on PATH may not see it).
if [ -s "$OUT/frame640x480.png" ] && sh "$ROOT/scripts/deps.sh" bench >"$OUT/deps-bench.log" 2>&1; then
  wait_idle 60 "OpenCV's Haar and LBP cascades" || true
  note "$(/usr/bin/python3 "$ROOT/bench/haar_opencv.py" --frame "$OUT/frame640x480.png" --runs "$RUNS" \
    --ours "$OUT/ours.json" --json "$OUT/opencv-haar.json" 2>&1 | tail -n 1)"
else
  note "OpenCV's cascades were not timed (no frame, or python3-opencv could not be installed)."
fi

# --- gallery search: exact top-1 over 1,000,000 random 128-d descriptors, 1 thread ------
if [ -x "$BUILD/bench/gallery_bench" ]; then
  wait_idle 60 "the gallery search benchmark" || true
  echo "run.sh: $BUILD/bench/gallery_bench --rows 1000000 --queries 100"
  if "$BUILD/bench/gallery_bench" --rows 1000000 --queries 100 --json "$OUT/gallery.json" \
    >"$OUT/gallery.txt"; then
    cat "$OUT/gallery.txt"
    note "$(python3 -c "
import json; g = json.load(open('$OUT/gallery.json'))
print('Gallery search (bench/gallery_bench.c), exact top-1 over %d x %d-d, 1 thread: median %.2f ms '
      'for random queries, %.2f ms for perturbed gallery rows (plain fp32 scan %.2f ms); '
      'thread CPU %.2f / %.2f / %.2f ms; %d of %d answers differ from the fp32 scan.' % (
      g['rows'], g['dim'], g['random_median_ms'], g['near_median_ms'], g['fp32_scan_median_ms'],
      g['random_cpu_median_ms'], g['near_cpu_median_ms'], g['fp32_scan_cpu_median_ms'],
      g['wrong'], 2 * g['queries']))" 2>/dev/null || echo "Gallery search: see $OUT/gallery.txt")"
  else
    note "The gallery search benchmark failed (a wrong answer or an error): see $OUT/gallery.txt."
  fi
fi

# --- peers, right after ours ------------------------------------------------------------
if [ $FACEAPI_OK = 1 ]; then
  # Short waits only: a minute of idle CPUs is enough to tell our own tail from a stranger.
  wait_idle 60 "the face-api peer" || true
  echo "run.sh: face-api peer (wasm, 1 thread)"
  s0=$(cpu_snap)
  (cd "$BUILD/peer-faceapi" && node bench-faceapi.js --backend wasm --runs "$PEER_RUNS" --warmup 3 \
    --images "$IMAGES/faces.jpg,$IMAGES/face1.png" --json "$OUT/peer-faceapi.json") ||
    note "The face-api peer failed: no peer figures for the networks."
  if [ -s "$OUT/frame640x480.png" ]; then
    cp "$ROOT/bench/pipeline-faceapi.js" "$BUILD/peer-faceapi/"
    (cd "$BUILD/peer-faceapi" && node pipeline-faceapi.js --backend wasm --runs "$PEER_RUNS" --warmup 3 \
      --frame "$OUT/frame640x480.png" --detect-image "$IMAGES/faces.jpg" --json "$OUT/peer-pipeline.json") ||
      note "The face-api pipeline timing failed: no peer figures for the pipeline rows."
  fi
  note "The CPUs were $(busy_between "$s0" "$(cpu_snap)")% busy while the face-api peer ran (about 50% is the peer itself)."
fi
if [ $ORT_OK = 1 ]; then
  wait_idle 60 "the ONNX Runtime peer" || true
  echo "run.sh: ONNX Runtime peer (1 thread, batch 1 and 8)"
  # bench.js would wait for a 1-minute load average below 0.5, which lags behind our own
  # just-finished runs; wait_idle above already checked that nobody else is busy.
  s0=$(cpu_snap)
  (cd "$BUILD/peer-ort" && node bench.js --images "$IMAGES" --model "$BUILD/peer-ort/face_recognition.onnx" \
    --threads 1 --batches 1,8 --runs 30 --max-load 1000 --wait-min 0 --json "$OUT/peer-ort.json") ||
    note "The ONNX Runtime peer failed: no ORT figures."
  note "The CPUs were $(busy_between "$s0" "$(cpu_snap)")% busy while the ONNX Runtime peer ran (about 50% is the peer itself)."
fi

# --- report -------------------------------------------------------------------------------
KERNELS=$("$BUILD/facerec" --version 2>/dev/null || true)
[ -n "$KERNELS" ] && echo "Build: $KERNELS." >>"$STATUS"
APPEND="--append $ROOT/BENCHMARKS.md"
[ "${BENCH_NO_APPEND:-0}" = 1 ] && APPEND=""
if ! command -v python3 >/dev/null 2>&1; then
  echo "run.sh: python3 is missing, so no report; the raw results are in $OUT" >&2
  exit 1
fi
echo
# shellcheck disable=SC2086 # APPEND is two words or none on purpose
python3 "$ROOT/bench/report.py" --ours "$OUT/ours.json" --faceapi "$OUT/peer-faceapi.json" \
  --pipeline "$OUT/peer-pipeline.json" --ort "$OUT/peer-ort.json" --status "$STATUS" \
  --uname "$(uname -sr)" $APPEND
report_rc=$?

# The HTTP server under load (wrk on loopback), after the report: its markdown
# section is printed, and appended to BENCHMARKS.md when the report was.
echo
if sh "$ROOT/bench/server.sh" "$BUILD" >"$OUT/server.md"; then
  cat "$OUT/server.md"
  [ -n "$APPEND" ] && { echo; cat "$OUT/server.md"; } >>"$ROOT/BENCHMARKS.md"
else
  echo "run.sh: bench/server.sh failed; no server figures" >&2
fi

# Imported ONNX networks (FaceNet's InceptionResnetV1, ArcFace's iresnet50)
# against ONNX Runtime in the same run, both kernel sets, appended the same way.
echo
if sh "$ROOT/bench/onnx.sh" "$BUILD" >"$OUT/onnx.md"; then
  cat "$OUT/onnx.md"
  [ -n "$APPEND" ] && { echo; cat "$OUT/onnx.md"; } >>"$ROOT/BENCHMARKS.md"
else
  echo "run.sh: bench/onnx.sh failed; no ONNX figures" >&2
fi

# Peak memory of `facerec embed` per model set (issue 6: under 64 MB with the
# default models), appended the same way.
echo
if python3 "$ROOT/bench/peak_rss.py" --facerec "$BUILD/facerec" --models "$ROOT/models" \
  --images "$IMAGES" >"$OUT/memory.md"; then
  cat "$OUT/memory.md"
  [ -n "$APPEND" ] && { echo; cat "$OUT/memory.md"; } >>"$ROOT/BENCHMARKS.md"
else
  cat "$OUT/memory.md"
  echo "run.sh: bench/peak_rss.py failed for some configuration; memory figures not appended" >&2
fi
exit $report_rc
