#!/bin/sh
# Runs every test program of each build folder given (e.g. build build-asan),
# then the CLI tests, and prints one summary line "N passed, N failed".
# Exits non-zero if anything failed. With --unit first, only the test
# programs run (make test-tsan: the CLI tests are not built there); with
# FACEREC_TESTS set to names (test_nn ...), only those programs run.
set -u
unit=""
if [ "${1:-}" = --unit ]; then unit=1; shift; fi
passed=0; failed=0; broken=""; quick=""
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for dir in "$@"; do
  for t in "$dir"/tests/test_*; do
    [ -x "$t" ] || continue
    if [ -n "${FACEREC_TESTS:-}" ]; then
      case " $FACEREC_TESTS " in *" $(basename "$t") "*) ;; *) continue ;; esac
    fi
    out=$(mktemp)
    echo "== $t"
    "$t" >"$out" 2>&1
    rc=$?
    tail -n 25 "$out" | grep -v '^$' | sed 's/^/   /' | tail -n 8
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
    if [ -n "$line" ]; then
      p=$(echo "$line" | cut -d' ' -f1); f=$(echo "$line" | cut -d' ' -f3)
      passed=$((passed + p)); failed=$((failed + f))
    fi
    # A crash, a sanitizer report or a missing summary counts as a failure.
    if [ $rc -ne 0 ] && { [ -z "$line" ] || [ "${f:-0}" = 0 ]; }; then
      failed=$((failed + 1)); broken="$broken $t(rc=$rc)"
      sed 's/^/   | /' "$out" | tail -n 40
    fi
    rm -f "$out"
  done
  if [ -n "$unit" ]; then echo "== $dir: test programs only (--unit)"; continue; fi
  if [ -x tests/cli.sh ] || [ -f tests/cli.sh ]; then
    out=$(mktemp)
    echo "== tests/cli.sh $dir/facerec"
    # The reduced LFW run is for the optimised build only: under the
    # sanitizers it would take minutes and test nothing the other run does not.
    FACEREC_CLI_QUICK=$quick sh tests/cli.sh "$dir/facerec" >"$out" 2>&1
    rc=$?
    grep -E '^(FAIL|ok)' "$out" | sed 's/^/   /' | tail -n 60
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
    if [ -n "$line" ]; then
      p=$(echo "$line" | cut -d' ' -f1); f=$(echo "$line" | cut -d' ' -f3)
      passed=$((passed + p)); failed=$((failed + f))
    fi
    if [ $rc -ne 0 ] && [ -z "$line" ]; then failed=$((failed + 1)); broken="$broken cli.sh($dir)"; fi
    rm -f "$out"
  fi
  out=$(mktemp); echo "== tests/cli_gallery.sh $dir/facerec"; sh tests/cli_gallery.sh "$dir/facerec" >"$out" 2>&1; rc=$?; grep -E '^(FAIL|ok)' "$out" | sed 's/^/   /' | tail -n 60; line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1); [ -n "$line" ] && passed=$((passed + $(echo "$line" | cut -d' ' -f1))) && failed=$((failed + $(echo "$line" | cut -d' ' -f3))); if [ $rc -ne 0 ] && [ -z "$line" ]; then failed=$((failed + 1)); broken="$broken cli_gallery.sh($dir)"; fi; rm -f "$out"
  quick=1
done
[ -n "$broken" ] && echo "crashed or incomplete:$broken"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
