#!/bin/sh
# Shows that, given the same decoded pixels, facerec's pipeline reproduces the
# TF.js peer's descriptors: the peer's own JPEG decoder (jpeg-js, through
# ../shared/peers/faceapi/common.js) writes raw RGB for every peer-output JPEG,
# facerec describes those buffers (--raw, face-api's upright alignment), and
# each face's descriptor is compared with the peer's in
# ../shared/data/reference/faceapi/peer-outputs. Needs node and npm.
# Usage: sh tests/peer_pixels.sh [BUILD]   (prints the worst distance per image
# and a closing "N passed, N failed": a face fails above 1e-4 or when missing)
set -eu
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=$(cd "$ROOT/../shared" && pwd)
PEER="$ROOT/$BUILD/peer-faceapi"
if [ ! -f "$PEER/node_modules/.package-lock.json" ]; then
  rm -rf "$PEER"
  cp -r "$SHARED/peers/faceapi" "$PEER"
  chmod -R u+w "$PEER"
  (cd "$PEER" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund >/dev/null 2>&1)
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0; failed=0
for json in "$SHARED"/data/reference/faceapi/peer-outputs/*.jpg.json; do
  name=$(basename "$json" .json)
  img="$SHARED/data/bbt/test/images/$name"
  [ -f "$img" ] || img="$SHARED/data/bbt/examples/images/$name"
  size=$(cd "$PEER" && node -e "
    const d = require('./common').decodeImage(process.argv[1]);
    require('fs').writeFileSync(process.argv[2], Buffer.from(d.rgb));
    console.log(d.width + 'x' + d.height);" "$img" "$T/$name.rgb")
  "$ROOT/$BUILD/facerec" embed --json --align upright --threads 1 --raw "$size:rgb" "$T/$name.rgb" > "$T/$name.out"
  if python3 - "$json" "$T/$name.out" "$name" <<'PY'
import json, math, sys
peer = json.load(open(sys.argv[1]))["ssd"]
ours = json.loads(open(sys.argv[2]).read())["faces"]
worst = 0.0
bad = 0
for p in peer:
    d = min((math.dist(o["embedding"], p["descriptor"]) for o in ours), default=float("inf"))
    worst = max(worst, d)
    bad += d > 1e-4
print("%-22s %d faces (peer %d), worst descriptor distance %.6f" % (sys.argv[3], len(ours), len(peer), worst))
sys.exit(1 if bad or len(ours) != len(peer) else 0)
PY
  then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
