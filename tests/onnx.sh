#!/bin/sh
# tests/onnx.sh FACEREC_BIN [WORKDIR] - `facerec infer` on ONNX models against ONNX Runtime.
#
# 1. Installs the ONNX Runtime peer (../shared/peers/ort, onnxruntime-node) beside WORKDIR
#    (WORKDIR/../peer-ort: BUILD/peer-ort by default)
#    if it is not there (the same install as bench/run.sh's; ONNX_PEER=DIR: another place).
# 2. Generates the test models, inputs and hostile files into WORKDIR (default BUILD/onnx-tests)
#    with tests/onnx/gen_models.py and tests/onnx/hostile.py, only when those scripts changed
#    (WORKDIR/gen.stamp holds their hash), and ONNX Runtime's outputs for them with
#    tests/onnx/ort_run.js (1 thread), only when the models or ort_run.js or the peer changed
#    (WORKDIR/ref.stamp).
# 3. For every case of WORKDIR/cases.json runs
#        FACEREC_BIN infer MODEL.onnx --input NAME.in.npy --output out/NAME.out.npy --threads 1
#    and compares out/NAME.out.npy with NAME.ref.npy (tests/onnx/compare.py: same shape,
#    max|out - ref| / max|ref| <= the case's tol): "ok NAME (err E)" or "FAIL NAME: reason".
# 4. A few CLI checks (--input-name, --threads 2, --repeat, missing files).
# 5. Hostile files (tests/onnx/hostile.py): truncated, bit-flipped, random, empty, hand-made
#    protobuf, lying models and bad .npy inputs. "fail" ones must exit with 1..125 and print
#    an error on stderr; "nocrash" ones may also succeed (0); a signal (128+) or a hang (killed
#    after ONNX_HOSTILE_TIMEOUT s, default 60) is a failure.
# Ends with "N passed, N failed"; exit status 1 if anything failed.
#
# Environment: ONNX_CASES='conv_* bn' (shell patterns: run only matching cases; the hostile
# files run only when ONNX_CASES is unset or contains "hostile"), ONNX_TIMEOUT=300 (seconds per
# case), ONNX_FORCE=1 (regenerate models and references).
set -u
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: sh tests/onnx.sh FACEREC_BIN [WORKDIR]" >&2
  exit 2
fi
if [ ! -x "$1" ]; then
  echo "onnx.sh: $1 is not an executable" >&2
  exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HERE=$ROOT/tests/onnx
BUILD=$(cd "$(dirname "$1")" && pwd)
BIN=$BUILD/$(basename "$1")
WORK=${2:-$BUILD/onnx-tests}
PY=/usr/bin/python3
SHARED=$(cd "$ROOT/../shared" 2>/dev/null && pwd) || SHARED=""
TIMEOUT=${ONNX_TIMEOUT:-300}
HTIMEOUT=${ONNX_HOSTILE_TIMEOUT:-60}
mkdir -p "$WORK" || exit 2
WORK=$(cd "$WORK" && pwd)
# The peer beside the work folder: builds that share the models share it too.
PEER=${ONNX_PEER:-$(dirname "$WORK")/peer-ort}
OUTD=$WORK/out
rm -rf "$OUTD"
mkdir -p "$OUTD"

passed=0; failed=0
ok() { passed=$((passed + 1)); echo "ok $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; }
note() { echo "onnx.sh: $*"; }
summary() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}
now() { date +%s; }
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-64; }
# first line of a file, shortened
first() { head -n 1 "$1" 2>/dev/null | cut -c1-200; }
selected() {
  [ -z "${ONNX_CASES:-}" ] && return 0
  for p in $ONNX_CASES; do
    # shellcheck disable=SC2254
    case $1 in $p) return 0 ;; esac
  done
  return 1
}

# --- 1. the ONNX Runtime peer (as bench/run.sh's install_peer) --------------------------------
install_peer() {
  if [ -f "$PEER/node_modules/.package-lock.json" ]; then return 0; fi
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "node/npm not found"; return 1
  fi
  [ -d "$SHARED/peers/ort" ] || { echo "no $SHARED/peers/ort"; return 1; }
  rm -rf "$PEER"
  cp -r "$SHARED/peers/ort" "$PEER" && chmod -R u+w "$PEER" || return 1
  (cd "$PEER" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund >"$WORK/npm-ort.log" 2>&1) ||
    { echo "npm ci failed, see $WORK/npm-ort.log"; rm -rf "$PEER/node_modules"; return 1; }
}
t0=$(now)
PEER_OK=1
if msg=$(install_peer); then :; else PEER_OK=0; bad "ONNX Runtime peer install: $msg"; fi
[ $(($(now) - t0)) -gt 2 ] && note "peer installed in $(($(now) - t0)) s"

# --- 2. models, inputs, hostile files; reference outputs --------------------------------------
GEN_HASH=$(hash_of "$HERE/gen_models.py" "$HERE/hostile.py")
[ "${ONNX_FORCE:-0}" = 1 ] && rm -f "$WORK/gen.stamp" "$WORK/ref.stamp"
if [ "$(cat "$WORK/gen.stamp" 2>/dev/null)" != "$GEN_HASH" ]; then
  t0=$(now)
  rm -rf "$WORK/hostile" "$WORK/cases.json" "$WORK/ref.stamp"
  find "$WORK" -maxdepth 1 \( -name '*.onnx' -o -name '*.npy' \) -exec rm -f {} +
  if "$PY" "$HERE/gen_models.py" "$WORK" >"$WORK/gen.log" 2>&1 &&
     "$PY" "$HERE/hostile.py" "$WORK" >>"$WORK/gen.log" 2>&1; then
    echo "$GEN_HASH" >"$WORK/gen.stamp"
    note "models generated in $(($(now) - t0)) s"
  else
    bad "generating the models (see $WORK/gen.log): $(tail -n 1 "$WORK/gen.log")"
    summary
  fi
fi
REF_HASH="$GEN_HASH $(hash_of "$HERE/ort_run.js" "$PEER/package-lock.json")"
if [ $PEER_OK = 1 ] && [ "$(cat "$WORK/ref.stamp" 2>/dev/null)" != "$REF_HASH" ]; then
  t0=$(now)
  find "$WORK" -maxdepth 1 -name '*.ref*.npy' -exec rm -f {} +
  if node "$HERE/ort_run.js" "$WORK" --peer "$PEER" >"$WORK/ort.log" 2>&1; then
    echo "$REF_HASH" >"$WORK/ref.stamp"
    note "ONNX Runtime references computed in $(($(now) - t0)) s"
  else
    bad "ONNX Runtime references (see $WORK/ort.log): $(grep -v '^ort_run: .* s$' "$WORK/ort.log" | head -n 3 | tr '\n' ' ')"
  fi
fi

# infer_run OUT_LOG TIMEOUT ARGS...: runs facerec infer, sets rc
infer_run() {
  log=$1; lim=$2; shift 2
  timeout -s KILL "$lim" "$BIN" infer "$@" >"$log.stdout" 2>"$log.stderr"
  rc=$?
}
# why RC LOG: a short reason for a failed run
why() {
  if [ "$1" -eq 0 ]; then
    echo "infer accepted it (exit 0)"
  elif [ "$1" -ge 128 ]; then
    echo "killed by signal $(($1 - 128))$([ "$1" = 137 ] && echo " (or timed out)"): $(first "$2.stderr")"
  else
    echo "infer exit $1: $(first "$2.stderr")"
  fi
}

# --- 3. the cases -------------------------------------------------------------------------------
"$PY" -c '
import json, sys
for c in json.load(open(sys.argv[1])):
    print(c["name"], c["model"], c["tol"])' "$WORK/cases.json" >"$OUTD/cases.txt" || { bad "reading cases.json"; summary; }
t0=$(now)
ncases=0
while read -r name model tol; do
  selected "$name" || continue
  ncases=$((ncases + 1))
  log=$OUTD/$name
  # Output 0, then the others of multi-output cases (SCRFD's nine), one infer each.
  k=0; rc=0
  while [ $rc -eq 0 ] && { [ $k = 0 ] || [ -f "$WORK/$name.ref$k.npy" ]; }; do
    ref=$WORK/$name.ref.npy; out=$OUTD/$name.out.npy; label=$name
    [ $k = 0 ] || { ref=$WORK/$name.ref$k.npy; out=$OUTD/$name.out$k.npy; label="$name output $k"; }
    infer_run "$log" "$TIMEOUT" "$WORK/$model.onnx" --input "$WORK/$name.in.npy" --output "$out" \
      --output-index $k --threads 1
    if [ ! -f "$ref" ]; then
      bad "$label: no ONNX Runtime reference ($ref)"
    elif [ $rc -ne 0 ]; then
      bad "$label: $(why $rc "$log")"
    elif msg=$("$PY" "$HERE/compare.py" "$out" "$ref" "$tol" 2>&1); then
      ok "$label ($msg)"
    else
      bad "$label: $(echo "$msg" | tail -n 1)"
    fi
    k=$((k + 1))
  done
done <"$OUTD/cases.txt"
note "$ncases cases run in $(($(now) - t0)) s"

# --- 4. CLI checks --------------------------------------------------------------------------------
M=$WORK/conv_bn.onnx
X=$WORK/conv_bn.in.npy
REF=$WORK/conv_bn.ref.npy
GOOD=0
if selected cli; then
  # compare_ok NAME OUT REF TOL: the run succeeded and its output matches
  compare_ok() {
    if [ $rc -ne 0 ]; then bad "$1: $(why $rc "$OUTD/cli")"
    elif msg=$("$PY" "$HERE/compare.py" "$2" "$3" "$4" 2>&1); then ok "$1 ($msg)"
    else bad "$1: $(echo "$msg" | tail -n 1)"; fi
  }
  # fails NAME: the last run exited 1..125 with a message
  fails() {
    if [ $rc -ge 1 ] && [ $rc -le 125 ] && [ -s "$OUTD/cli.stderr" ]; then ok "$1 (rc=$rc)"
    elif [ $rc -ge 1 ] && [ $rc -le 125 ]; then bad "$1: rc=$rc but nothing on stderr"
    else bad "$1: $(why $rc "$OUTD/cli"), wanted 1..125"; fi
  }
  infer_run "$OUTD/cli" "$TIMEOUT" "$M" --input "$X" --output "$OUTD/cli.npy" --input-name input --threads 1
  compare_ok "infer --input-name input" "$OUTD/cli.npy" "$REF" 1e-4
  infer_run "$OUTD/cli" "$TIMEOUT" "$M" --input "$X" --output "$OUTD/cli.npy" --threads 1 --repeat 3
  compare_ok "infer --repeat 3" "$OUTD/cli.npy" "$REF" 1e-4
  for n in conv_b2 facenet_irv1_b8; do
    [ -f "$WORK/$n.ref.npy" ] || continue
    mdl=$n; [ $n = facenet_irv1_b8 ] && mdl=facenet_irv1
    infer_run "$OUTD/cli" "$TIMEOUT" "$WORK/$mdl.onnx" --input "$WORK/$n.in.npy" --output "$OUTD/cli.npy" --threads 2
    compare_ok "infer --threads 2 $n" "$OUTD/cli.npy" "$WORK/$n.ref.npy" \
      "$("$PY" -c 'import json,sys; print([c["tol"] for c in json.load(open(sys.argv[1])) if c["name"] == sys.argv[2]][0])' "$WORK/cases.json" $n)"
  done
  infer_run "$OUTD/cli" "$TIMEOUT" "$M" --input "$X" --output "$OUTD/cli.npy" --input-name nosuch
  fails "infer --input-name naming no input"
  infer_run "$OUTD/cli" "$TIMEOUT" "$M" --input "$WORK/nosuch.npy" --output "$OUTD/cli.npy"
  fails "infer with a missing input file"
  infer_run "$OUTD/cli" "$TIMEOUT" "$WORK/nosuch.onnx" --input "$X" --output "$OUTD/cli.npy"
  fails "infer with a missing model file"
  infer_run "$OUTD/cli" "$TIMEOUT" "$M" --input "$X" --output "$WORK/nosuch/dir/out.npy"
  fails "infer writing into a missing folder"
fi

# --- 5. hostile files -----------------------------------------------------------------------------
if [ -z "${ONNX_CASES:-}" ] || selected hostile; then
  # The checks below mean something only when infer runs the good model they derive from.
  infer_run "$OUTD/good" "$TIMEOUT" "$M" --input "$X" --output "$OUTD/good.npy" --threads 1
  if [ $rc -eq 0 ] && "$PY" "$HERE/compare.py" "$OUTD/good.npy" "$REF" 1e-4 >/dev/null 2>&1; then
    GOOD=1
  fi
  if [ $GOOD = 0 ]; then
    bad "hostile files: not checked, since infer does not run the good conv_bn.onnx ($(why $rc "$OUTD/good"))"
  else
    "$PY" -c '
import json, sys
for h in json.load(open(sys.argv[1])):
    print(h["name"], h["model"], h["input"], h["expect"], h["what"])' "$WORK/hostile/hostile.json" >"$OUTD/hostile.txt" ||
      { bad "reading hostile.json"; summary; }
    t0=$(now)
    while read -r name model input expect what; do
      log=$OUTD/h
      rm -f "$OUTD/h.npy"
      infer_run "$log" "$HTIMEOUT" "$WORK/$model" --input "$WORK/$input" --output "$OUTD/h.npy" --threads 1
      if [ "$expect" = fail ]; then
        if [ $rc -ge 1 ] && [ $rc -le 125 ] && [ -s "$log.stderr" ]; then ok "hostile $name (rc=$rc)"
        elif [ $rc -ge 1 ] && [ $rc -le 125 ]; then bad "hostile $name: rc=$rc but nothing on stderr ($what)"
        else bad "hostile $name: $(why $rc "$log"), wanted 1..125 ($what)"; fi
      else
        if [ $rc -le 125 ]; then ok "hostile $name (rc=$rc)"
        else bad "hostile $name: $(why $rc "$log") ($what)"; fi
      fi
    done <"$OUTD/hostile.txt"
    note "hostile files run in $(($(now) - t0)) s"
  fi
fi
summary
