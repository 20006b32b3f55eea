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
  http) echo 16384 ;;
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
for t in jpeg png pnm tfjs lfw tflite model onnx; do mkdir -p "$build/corpus/$t"; done
"$build/fuzz/mkseeds" "$build/corpus" "$models" || exit 1
# ONNX inputs are written, not committed: fuzz/mkonnx.py's seeds and
# findings are the second corpus, in the build folder.
/usr/bin/python3 fuzz/mkonnx.py "$build/regress-onnx" >/dev/null || exit 1
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
# The one real TFLite model small enough to mutate whole (32 KB); the hand-made
# small models in tests/regress/tflite/ are the second corpus.
add_real tflite "$models/pnet.tflite"
# facerec model files: every converted network is far above max_len, so the
# seeds are the small synthetic models (every builder, two graphs, an array)
# that tests/test_model_file --write-seeds wrote into tests/regress/model/,
# read from there as the second corpus.
# The server's request parsers (fuzz_http: first byte picks the parser, see
# fuzz/fuzz_http.c) and stream frames (fuzz_ws): a few valid inputs of each
# kind; real photos seed the encoded-frame path of fuzz_ws.
mkdir -p "$build/corpus/http" "$build/corpus/ws"
c=$build/corpus/http
printf '\000width=640&height=480&format=rgb&stride=1920' >"$c/seed-raw"
printf '\000name=J%%C3%%A9r%%C3%%B4me+D&width=4&height=2&format=gray' >"$c/seed-query"
printf '\001multipart/form-data; boundary=XyZ\n--XyZ\r\nContent-Disposition: form-data; name="a"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\nAAAA\r\n--XyZ\r\nContent-Disposition: form-data; name="b"\r\n\r\nBB\r\n--XyZ--\r\n' >"$c/seed-multipart"
printf '\002{"name":"Penny","metadata":"across the hall"}' >"$c/seed-json"
printf '\003\001/api/v1/subjects/Penny/faces' >"$c/seed-route"
printf '\003\002/api/v1/faces/42' >"$c/seed-route-face"
printf '\004# keys\nread %s\nadmin %s\n' "$(printf r | sha256sum | cut -c1-64)" "$(printf a | sha256sum | cut -c1-64)" >"$c/seed-keys"
printf '\005Zo\303\253 O'"'"'Brien' >"$c/seed-name"
# Cases 7-11 of fuzz_http (the selector byte is the case plus 12 times
# flags): names in NFC, paths, Host, Origin and --bind.
printf '\007Jose\314\201' >"$c/seed-nfc"
printf '\010/api/v1/subjects/Jos%%65%%CC%%81/faces' >"$c/seed-path"
printf '\024/api/v1/subjects/Bob%%00/faces' >"$c/seed-path-nul"
printf '\025localhost:8080\n127.0.0.1\n' >"$c/seed-host"
printf '\071Faces.Example:443\n0.0.0.0\nbox' >"$c/seed-host-allowed"
printf '\012http://127.0.0.1:8080\n127.0.0.1:8080\n' >"$c/seed-origin"
printf '\013[::ffff:127.0.0.1]' >"$c/seed-bind"
c=$build/corpus/ws
# FRF1, seq 7, 4x2 gray pixels (stride 4, format 1), then the 8 pixel bytes.
printf 'FRF1\007\000\000\000\004\000\000\000\002\000\000\000\004\000\000\000\001\000\000\000ABCDEFGH' >"$c/seed-raw-gray"
printf 'FRF1\010\000\000\000\002\000\000\000\001\000\000\000\010\000\000\000\002\000\000\000RGBrgbxx' >"$c/seed-raw-rgb"
# The wire parsers (fuzz_wire: first byte 0 a request head, 1 a chunked
# body after a count of piece sizes, 2 a run of masked WebSocket frames).
mkdir -p "$build/corpus/wire"
c=$build/corpus/wire
printf '\000POST /api/v1/detect?width=4&height=2 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: 24\r\nX-API-Key: k\r\n\r\n' >"$c/seed-head"
printf '\000GET /api/v1/stream HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://localhost\r\n\r\n' >"$c/seed-upgrade"
printf '\000POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n' >"$c/seed-smuggle"
printf '\001\003\001\002\0035\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\n' >"$c/seed-chunked"
printf '\002\202\205\001\002\003\004ab`hd\211\200\000\000\000\000\001\202\000\000\000\000\000\200\200\000\000\000\000' >"$c/seed-frames"
printf '\002\202\377\000\000\000\000\100\000\000\000\001\002\003\004' >"$c/seed-frame-1gib"
if [ -d "$data" ]; then
  add_real ws $(find "$data/bbt" -name '*.jpg' 2>/dev/null | sort | head -n 2) \
    $(find "$data/bbt" -name '*.png' 2>/dev/null | sort | head -n 2)
fi
# OpenCV cascade XML (fuzz_cascade): the LBP face cascades whole (52-54 KB),
# and the Haar face and eyeglasses-eye cascades cut to their first two stages
# and the features those use (the whole files are 0.3-0.9 MB, too slow to
# mutate); the second keeps trees of 3 nodes and tilted features.
mkdir -p "$build/corpus/cascade"
cv=/usr/share/opencv4
add_real cascade "$cv/lbpcascades/lbpcascade_frontalface.xml" \
  "$cv/lbpcascades/lbpcascade_frontalface_improved.xml"
cut_cascade() { # file stages features: stages 0..S-1 and features 0..F-1 (stage items are
  # the lines "    <_>" of OpenCV's files)
  awk -v S="$2" -v F="$3" '
    /<stageNum>/ { sub(/<stageNum>[0-9]+</, "<stageNum>" S "<") }
    /<stages>/ { instages = 1; print; next }
    instages && /^    <_>/ { st++ }
    instages && st > S { if (/<features>/) { print "</stages>"; print "<features>"; instages = 0; infeat = 1 }; next }
    infeat { if (/<\/rects>/) nf++; print; if (nf == F) { print "</features></cascade></opencv_storage>"; exit }; next }
    { print }' "$1"
}
if [ -f "$cv/haarcascades/haarcascade_frontalface_default.xml" ]; then
  cut_cascade "$cv/haarcascades/haarcascade_frontalface_default.xml" 2 25 >"$build/corpus/cascade/cut-haar-face.xml"
  cut_cascade "$cv/haarcascades/haarcascade_eye_tree_eyeglasses.xml" 2 60 >"$build/corpus/cascade/cut-haar-eye-tree.xml"
fi
for t in http ws cascade; do
  echo "corpus before the run: $t: $(ls "$build/corpus/$t" | wc -l) files"
done
for t in jpeg png pnm tfjs lfw tflite model onnx; do
  echo "corpus before the run: $t: $(ls "$build/corpus/$t" | wc -l) files"
done

# ---- runs -------------------------------------------------------------------
mkdir -p "$build/logs" "$build/artifacts"
summary="$build/fuzz-summary.txt"
: >"$summary"

# Where a target's regression inputs live (and findings go).
regress_dir() {
  if [ "$1" = onnx ]; then echo "$build/regress-onnx"; else echo "tests/regress/$1"; fi
}

run_one() { # target
  t=$1
  reg=$(regress_dir "$t")
  bin="$build/fuzz/fuzz_$t"
  log="$build/logs/$t.log"
  art="$build/artifacts/$t"
  rm -rf "$art"; mkdir -p "$art" "$reg"
  dict=""
  [ -f "fuzz/$t.dict" ] && dict="-dict=fuzz/$t.dict"
  start=$(date +%s)
  # -timeout: one input taking 10 s is a denial of service, reported as a
  # finding. -rss_limit_mb: likewise for memory. Value profiling guides the
  # fuzzer through the parsers' comparisons with constants.
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$t")" \
    -use_value_profile=1 -print_final_stats=1 -artifact_prefix="$art/" $dict \
    "$build/corpus/$t" "$reg" >"$log" 2>&1
  rc=$?
  end=$(date +%s)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | sed 's/^#[0-9]* *//')
  files=$(ls "$build/corpus/$t" | wc -l)
  found=""
  for a in "$art"/*; do
    [ -f "$a" ] || continue
    name=$(basename "$a")
    cp "$a" "$reg/$name"
    found="$found $name"
  done
  status=ok
  [ $rc -ne 0 ] && status="FOUND (rc=$rc):${found:- see $log}"
  printf '%s: %ss, %s executions, %s corpus files; %s; %s\n' "$t" $((end - start)) "${execs:-?}" \
    "$files" "${last:-no stats}" "$status" >>"$summary"
  if [ $rc -ne 0 ]; then
    echo "fuzz_$t found a problem; the input is now in $reg/ - see $log:"
    [ "$t" = onnx ] && echo "(ONNX inputs are not committed: once fixed, rebuild it in fuzz/mkonnx.py)"
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
