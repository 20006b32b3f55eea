#!/bin/sh
# Runs every test program of each build folder given (e.g. build build-asan),
# then the shell test scripts, and prints one summary line "N passed, N failed".
# Exits non-zero if anything failed. With --unit first, only the test
# programs run (make test-tsan: the CLI tests are not built there); with
# FACEREC_TESTS set to names (test_nn ...), only those programs run.
set -u
unit=""
if [ "${1:-}" = --unit ]; then unit=1; shift; fi
passed=0; failed=0; skipped=0; broken=""; first=1
# The ONNX test models are generated once, in the first build's folder, and
# shared by the others (they are a few hundred MB).
onnx_work="${1:-build}/onnx-tests"
# The ONNX regression inputs of tests/test_regress.c are written, not
# committed (fuzz/mkonnx.py); a failure leaves the variable unset, which that
# test reports.
regress_onnx="${1:-build}/regress-onnx"
rm -rf "$regress_onnx"
if /usr/bin/python3 fuzz/mkonnx.py "$regress_onnx" >/dev/null 2>&1; then
  export FACEREC_REGRESS_ONNX="$(cd "$regress_onnx" && pwd)"
fi
# A test that cannot test something here fails unless the skip is one this
# machine is expected to have (see tests/check.h).
export FACEREC_STRICT=${FACEREC_STRICT:-1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# run LABEL SHOWN_LINES CMD...: runs a test program or script, adds the counts
# of its "N passed, N failed" line; a non-zero exit without failures counted
# (a crash, a sanitizer report, a missing summary) counts as one failure.
run() {
  label=$1; shown=$2; shift 2
  out=$(mktemp)
  echo "== $label"
  "$@" >"$out" 2>&1
  rc=$?
  if [ "$shown" = checks ]; then
    grep -E '^(FAIL|ok)' "$out" | sed 's/^/   /' | tail -n 60
  else
    tail -n 25 "$out" | grep -v '^$' | sed 's/^/   /' | tail -n 8
  fi
  grep -E '^(SKIP|FAIL \(skipped\))' "$out" | sed 's/^/   /' | head -n 20
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
  f=0
  if [ -n "$line" ]; then
    p=$(echo "$line" | cut -d' ' -f1); f=$(echo "$line" | cut -d' ' -f3 | tr -d ,)
    s=$(echo "$line" | sed -n 's/.* failed, \([0-9][0-9]*\) skipped.*/\1/p')
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + ${s:-0}))
  fi
  if [ $rc -ne 0 ] && [ "$f" = 0 ]; then
    failed=$((failed + 1)); broken="$broken $label(rc=$rc)"
    sed 's/^/   | /' "$out" | tail -n 40
  fi
  rm -f "$out"
}

for dir in "$@"; do
  for t in "$dir"/tests/test_*; do
    [ -x "$t" ] || continue
    if [ -n "${FACEREC_TESTS:-}" ]; then
      case " $FACEREC_TESTS " in *" $(basename "$t") "*) ;; *) continue ;; esac
    fi
    run "$t" tail "$t"
  done
  if [ -n "$unit" ]; then echo "== $dir: test programs only (--unit)"; continue; fi
  # The reduced LFW run and the peer comparison are for the first (optimised)
  # build only: under the sanitizers they would take minutes and test nothing
  # the first run does not.
  quick=$([ $first = 1 ] || echo 1)
  # The floor plan: includes and calls go down the layers, no file loops.
  run "tests/layers.py $dir" checks /usr/bin/python3 tests/layers.py "$dir"
  run "tests/cli.sh $dir/facerec" checks env FACEREC_CLI_QUICK="$quick" sh tests/cli.sh "$dir/facerec"
  run "tests/cli_gallery.sh $dir/facerec" checks sh tests/cli_gallery.sh "$dir/facerec"
  run "tests/cli_convert.sh $dir/facerec" checks sh tests/cli_convert.sh "$dir/facerec"
  run "tests/cli_infer.sh $dir/facerec" checks sh tests/cli_infer.sh "$dir/facerec"
  # Imported ONNX models against ONNX Runtime, and hostile files; then the
  # user-model cards and SCRFD end to end. In every build: under the
  # sanitizers a hostile file's memory error is a failure too.
  run "tests/onnx.sh $dir/facerec" checks sh tests/onnx.sh "$dir/facerec" "$onnx_work"
  run "tests/onnx_card.sh $dir/facerec" checks sh tests/onnx_card.sh "$dir/facerec" "$onnx_work"
  run "tests/server.sh $dir/facerec" checks sh tests/server.sh "$dir/facerec"
  # A real server attacked over loopback, in every build: under the
  # sanitizers a memory error it provokes is a failure too.
  run "tests/attack.sh $dir/facerec" checks sh tests/attack.sh "$dir/facerec"
  if [ $first = 1 ]; then
    run "tests/peer_pixels.sh $dir" tail sh tests/peer_pixels.sh "$dir"
    # The web page in headless Chromium (the server code under it is run in
    # the sanitizer build by test_server and tests/server.sh).
    run "tests/server_browser.sh $dir" checks sh tests/server_browser.sh "$dir"
    # A page on another origin attacks the server from headless Chromium.
    run "tests/server_cross_origin.sh $dir" checks sh tests/server_cross_origin.sh "$dir"
  fi
  first=0
done
[ -n "$broken" ] && echo "crashed or incomplete:$broken"
if [ "$skipped" -gt 0 ]; then echo "$passed passed, $failed failed, $skipped skipped"
else echo "$passed passed, $failed failed"; fi
[ "$failed" -eq 0 ]
