#!/bin/sh
# End-to-end tests of `facerec convert` and of converted model files: the
# command writes NAME.frm files that the other commands then load instead of
# the original formats, with the same results as FACEREC_NO_FRM=1 gives.
# Usage: sh tests/cli_convert.sh BUILD/facerec. Prints "N passed, N failed".
set -u
BIN=${1:-build/facerec}
MODELS=${FACEREC_MODELS:-models}
. "$(dirname "$0")/clilib.sh"

IMG=$(ls "$MODELS"/demo/*.jpg 2>/dev/null | head -n 1)
if [ ! -f "$MODELS/tiny_face_detector_model.bin" ] || [ -z "$IMG" ]; then
  echo "models not fetched: skipped"
  summary
  exit $?
fi
# A model folder of links to the originals, so that the converted files go
# beside them without touching the shared models/ folder.
M=$T/models
mkdir -p "$M"
for f in "$MODELS"/*; do ln -s "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" "$M/"; done

expect "convert an unknown network" 2 "$BIN" convert --models "$M" nosuchnet
expect "convert into a missing folder" 2 "$BIN" convert --models "$M" --out "$T/none" tiny
expect "convert tiny, the tiny landmarks and faceapi" 0 "$BIN" convert --models "$M" tiny landmarks68-tiny faceapi
has "convert reports the check" "outputs identical"
has "convert reports the load times" "ms ->"
if [ -s "$M/tiny.frm" ] && [ -s "$M/landmarks68-tiny.frm" ] && [ -s "$M/faceapi.frm" ]; then
  ok "the three .frm files exist"
else
  bad "the three .frm files exist"
fi

# The converted files give exactly the original results.
opts="--json --detector tiny --landmarks tiny --models $M"
expect "embed with converted files" 0 "$BIN" embed $opts "$IMG"
cp "$T/out" "$T/frm.json"
expect "embed with FACEREC_NO_FRM=1" 0 env FACEREC_NO_FRM=1 "$BIN" embed $opts "$IMG"
if cmp -s "$T/out" "$T/frm.json" && [ -s "$T/out" ]; then
  ok "same faces, landmarks and descriptors either way"
else
  bad "same faces, landmarks and descriptors either way"
fi

# The TFLite detectors: MTCNN's three graphs in one file, BlazeFace short and
# full range; detect gives the same faces and points with them as without.
if [ -f "$MODELS/pnet.tflite" ] && [ -f "$MODELS/face_detection_short_range.tflite" ] &&
   [ -f "$MODELS/face_detection_full_range.tflite" ]; then
  expect "convert mtcnn, blazeface and blazeface-full" 0 "$BIN" convert --models "$M" mtcnn blazeface blazeface-full
  cp "$T/out" "$T/convert.txt"
  for n in mtcnn blazeface blazeface-full; do
    if grep -q "^$n .*outputs identical" "$T/convert.txt" && [ -s "$M/$n.frm" ]; then
      ok "$n.frm written and checked"
    else
      bad "$n.frm written and checked"
    fi
    expect "detect --detector $n with $n.frm" 0 "$BIN" detect --json --detector $n --models "$M" "$IMG"
    cp "$T/out" "$T/$n.json"
    expect "detect --detector $n with FACEREC_NO_FRM=1" 0 env FACEREC_NO_FRM=1 "$BIN" detect --json --detector $n --models "$M" "$IMG"
    if cmp -s "$T/out" "$T/$n.json" && grep -q '"landmarks"' "$T/out"; then
      ok "$n: same faces and points either way"
    else
      bad "$n: same faces and points either way"
    fi
  done
  # A truncated mtcnn.frm is an error naming the truncation.
  head -c 100000 "$M/mtcnn.frm" > "$T/cut.frm" && mv "$T/cut.frm" "$M/mtcnn.frm"
  expect "a truncated mtcnn.frm fails" nonzero "$BIN" detect --detector mtcnn --models "$M" "$IMG"
  if grep -q "truncated" "$T/err"; then ok "the error says truncated"; else bad "the error says truncated"; fi
else
  echo "TFLite detector models not fetched: their conversions skipped"
fi

# A damaged file is an error (not a silent fallback); FACEREC_NO_FRM=1
# still loads the originals.
printf 'garbage' | dd of="$M/tiny.frm" bs=1 seek=200 conv=notrunc 2>/dev/null
expect "a damaged tiny.frm fails" nonzero "$BIN" detect $opts "$IMG"
if grep -q "checksum" "$T/err"; then ok "the error names the checksum"; else bad "the error names the checksum"; fi
expect "FACEREC_NO_FRM=1 ignores it" 0 env FACEREC_NO_FRM=1 "$BIN" detect $opts "$IMG"
summary
