#!/bin/sh
# Seeds and runs the libFuzzer targets built in the folder given (make fuzz
# passes build-fuzz). Each target runs for FUZZ_SECONDS (default 60) on its
# corpus, build-fuzz/corpus/<target>/, which starts from the seeds written
# here and keeps what the fuzzer adds from one run to the next. The committed
# regression inputs, tests/regress/<target>/, are read as a second corpus.
#
# An input that crashes, leaks, times out or breaks a promise checked in
# fuzz/fuzz.h is copied into tests/regress/<target>/, so that it becomes a
# regression test (tests/test_regress.c) once the bug is fixed; the run then
# fails. A summary (seconds, executions, corpus size per target) goes to
# <build>/fuzz-summary.txt.
#
# Environment: FUZZ_SECONDS, FUZZ_TARGETS (default: every fuzz_* built),
# FUZZ_JOBS (targets run at once, default 1), FUZZ_DATA (default
# ../shared/data), FUZZ_MODELS (default models).
set -u
build=${1:-build-fuzz}
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-1}
data=${FUZZ_DATA:-../shared/data}
models=${FUZZ_MODELS:-models}
targets=${FUZZ_TARGETS:-$(for f in "$build"/fuzz/fuzz_*; do [ -x "$f" ] && basename "$f" | sed 's/^fuzz_//'; done)}
[ -n "$targets" ] || { echo "fuzz/run.sh: no fuzz targets in $build/fuzz"; exit 1; }

# The largest input each target is given: room for the seeds, small enough
# that mutations stay fast.
max_len() {
  case $1 in
  tfjs) echo 65536 ;;
  lfw) echo 32768 ;;
  pnm) echo 16384 ;;
  *) echo 65536 ;;
  esac
}

# Copies real files no larger than the target's max_len into its corpus.
add_real() { # target file...
  t=$1; shift
  lim=$(max_len "$t")
  for f in "$@"; do
    [ -f "$f" ] || continue
    [ "$(wc -c <"$f")" -le "$lim" ] || continue
    cp "$f" "$build/corpus/$t/real-$(echo "$f" | sed 's|^\.*/*||; s|/|_|g')"
  done
}

# ---- seeds ------------------------------------------------------------------
for t in jpeg png pnm tfjs lfw; do mkdir -p "$build/corpus/$t"; done
"$build/fuzz/mkseeds" "$build/corpus" "$models" || exit 1
if [ -d "$data" ]; then
  add_real jpeg $(find "$data/lfw/images" -name '*.jpg' 2>/dev/null | sort | head -n 12) \
    $(find "$data/bbt" "$data/johns" -name '*.jpg' 2>/dev/null | sort | head -n 12)
  add_real png $(find "$data/bbt" -name '*.png' 2>/dev/null | sort | head -n 10) \
    $(find "$data/yaleb" -name '*.png' 2>/dev/null | sort | head -n 3)
  add_real pnm $(find "$data/orl" -name '*.pgm' 2>/dev/null | sort | head -n 4)
  # The real pairs.txt is 150 KB, too slow to mutate whole: its first pairs
  # under a matching header (one fold of 5 and of 50 pairs per class), and
  # its true header over a cut body, which must fail.
  pairs="$data/lfw/pairs.txt"
  if [ -f "$pairs" ]; then
    for n in 5 50; do
      { printf '1\t%s\n' $n; sed -n "2,$((n + 1))p" "$pairs"; sed -n "302,$((301 + n))p" "$pairs"; } \
        >"$build/corpus/lfw/real-pairs-$n.txt"
    done
    head -n 40 "$pairs" >"$build/corpus/lfw/real-pairs-cut.txt"
  fi
else
  echo "fuzz/run.sh: $data not found: synthetic seeds only"
fi
for t in jpeg png pnm tfjs lfw; do
  echo "corpus before the run: $t: $(ls "$build/corpus/$t" | wc -l) files"
done

# ---- runs -------------------------------------------------------------------
mkdir -p "$build/logs" "$build/artifacts"
summary="$build/fuzz-summary.txt"
: >"$summary"

run_one() { # target
  t=$1
  bin="$build/fuzz/fuzz_$t"
  log="$build/logs/$t.log"
  art="$build/artifacts/$t"
  rm -rf "$art"; mkdir -p "$art" "tests/regress/$t"
  dict=""
  [ -f "fuzz/$t.dict" ] && dict="-dict=fuzz/$t.dict"
  start=$(date +%s)
  # -timeout: one input taking 10 s is a denial of service, reported as a
  # finding. -rss_limit_mb: likewise for memory. Value profiling guides the
  # fuzzer through the parsers' comparisons with constants.
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$t")" \
    -use_value_profile=1 -print_final_stats=1 -artifact_prefix="$art/" $dict \
    "$build/corpus/$t" "tests/regress/$t" >"$log" 2>&1
  rc=$?
  end=$(date +%s)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | sed 's/^#[0-9]* *//')
  files=$(ls "$build/corpus/$t" | wc -l)
  found=""
  for a in "$art"/*; do
    [ -f "$a" ] || continue
    name=$(basename "$a")
    cp "$a" "tests/regress/$t/$name"
    found="$found $name"
  done
  status=ok
  [ $rc -ne 0 ] && status="FOUND (rc=$rc):${found:- see $log}"
  printf '%s: %ss, %s executions, %s corpus files; %s; %s\n' "$t" $((end - start)) "${execs:-?}" \
    "$files" "${last:-no stats}" "$status" >>"$summary"
  if [ $rc -ne 0 ]; then
    echo "fuzz_$t found a problem; the input is now in tests/regress/$t/ - see $log:"
    grep -E 'ERROR|SUMMARY|fuzz_[a-z]+:' "$log" | head -n 5
  fi
}

running=0
for t in $targets; do
  echo "fuzzing $t for ${seconds}s"
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait
    running=0
  fi
done
wait
cat "$summary"
! grep -q FOUND "$summary"
