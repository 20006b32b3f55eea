#!/bin/sh
# Models the user brings, end to end: an embedder given by its model card
# (FaceNet's InceptionResnetV1 topology with seeded random weights, made by
# tests/onnx/gen_models.py) through embed, verify, the gallery, convert and
# serve; and SCRFD through `--detector scrfd:PATH` on a net whose outputs are
# known (tests/onnx/scrfd_known.py). The networks themselves are checked
# against ONNX Runtime by tests/onnx.sh; here it is what is around them:
# the card's normalisation and layout, alignment, model ids, the decoder.
# Usage: sh tests/onnx_card.sh FACEREC_BIN [WORKDIR]  (WORKDIR: the folder
# tests/onnx.sh generated, default BUILD/onnx-tests; made here if missing).
set -u
BIN=$1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$(dirname "$BIN")" && pwd)
W=${2:-$BUILD/onnx-tests}
DATA="$ROOT/../shared/data"
PY=/usr/bin/python3
. "$ROOT/tests/clilib.sh"

mkdir -p "$W" && W=$(cd "$W" && pwd)
if [ ! -s "$W/facenet_irv1.onnx" ]; then
  mkdir -p "$W"
  $PY "$ROOT/tests/onnx/gen_models.py" "$W" >"$T/gen.log" 2>&1 || { bad "gen_models.py"; cat "$T/gen.log"; summary; exit 1; }
fi

# ---- SCRFD: the decoder against InsightFace's decoding done in numpy --------------
$PY "$ROOT/tests/onnx/scrfd_known.py" "$T/sk"
expect "scrfd:PATH detects on the known net" 0 "$BIN" detect --json --detector "scrfd:$T/sk/scrfd_known.onnx" \
  --input-size 64 --landmarks none "$T/sk/scrfd_known.ppm"
if $PY - "$T/out" "$T/sk/scrfd_known.expected.json" <<'PY' 2>"$T/err"
import json, sys
got = json.loads(open(sys.argv[1]).read())["faces"]
want = json.load(open(sys.argv[2]))
assert len(got) == len(want), (len(got), len(want))
for g, w in zip(got, want):
    assert abs(g["score"] - w["score"]) < 1e-4
    assert all(abs(a - b) < 1e-3 for a, b in zip(g["box"], w["box"])), (g["box"], w["box"])
    assert all(abs(a - b) < 1e-3 for p, q in zip(g["landmarks"], w["landmarks"]) for a, b in zip(p, q))
PY
then ok "SCRFD boxes, scores and 5 points equal the numpy decoding (outputs in another order)"
else bad "SCRFD decoding"; fi
expect "scrfd: a network that is not SCRFD is refused" nonzero "$BIN" detect --detector "scrfd:$W/facenet_irv1.onnx" \
  --input-size 160 "$T/sk/scrfd_known.ppm"
grep -q "SCRFD" "$T/err" && ok "  ... saying why" || bad "  ... no SCRFD message"
expect "scrfd: a missing file" nonzero "$BIN" detect --detector "scrfd:$T/none.onnx" "$T/sk/scrfd_known.ppm"
expect "scrfd: an input size that is not a multiple of 32" nonzero "$BIN" detect --detector "scrfd:$T/sk/scrfd_known.onnx" \
  --input-size 70 "$T/sk/scrfd_known.ppm"

# ---- an embedder by its card -------------------------------------------------------
C="$T/card"
mkdir -p "$C"
ln -s "$W/facenet_irv1.onnx" "$C/facenet.onnx"
cat >"$C/facenet.json" <<'EOF'
{"name": "facenet-vggface2-test", "model": "facenet.onnx", "input_size": 160,
 "channel_order": "rgb", "mean": 127.5, "std": 128.0, "layout": "nchw",
 "align": "facenet", "dim": 512, "l2_normalize": true, "threshold": 1.1}
EOF
# A 160x160 chip of seeded noise; its descriptor through the card must be the
# network's output on the card's normalisation, L2-normalised.
$PY - "$T" <<'PY'
import sys, numpy as np
t = sys.argv[1]
rng = np.random.default_rng(7)
img = rng.integers(0, 256, (160, 160, 3), dtype=np.uint8)
open(t + "/chip.ppm", "wb").write(b"P6\n160 160\n255\n" + img.tobytes())
x = ((img.astype(np.float32) - 127.5) / 128.0).transpose(2, 0, 1)[None]
np.save(t + "/chip.npy", np.ascontiguousarray(x))
PY
expect "embed --aligned --model CARD" 0 "$BIN" embed --json --aligned --threads 1 --model "$C/facenet.json" "$T/chip.ppm"
cp "$T/out" "$T/embed.json"
expect "infer on the same normalised chip" 0 "$BIN" infer "$C/facenet.onnx" --input "$T/chip.npy" --output "$T/chip.out.npy" --threads 1
if $PY - "$T/embed.json" "$T/chip.out.npy" <<'PY' 2>"$T/err"
import json, sys, numpy as np
e = np.array(json.loads(open(sys.argv[1]).read())["faces"][0]["embedding"], np.float64)
y = np.load(sys.argv[2]).astype(np.float64).ravel()
y /= np.linalg.norm(y)
assert e.shape == (512,), e.shape
assert np.abs(e - y).max() < 1e-5, np.abs(e - y).max()
PY
then ok "the card's normalisation, layout and L2: the descriptor is the network's output"
else bad "card descriptor differs from the network's output"; fi
expect "a network file with its card beside it" 0 "$BIN" embed --json --aligned --threads 1 --model "$C/facenet.onnx" "$T/chip.ppm"
cmp -s "$T/out" "$T/embed.json" && ok "  ... gives the same descriptor" || bad "  ... a different descriptor"
expect "--model NAME finds NAME.json in the model folder" 0 env FACEREC_MODELS="$C" "$BIN" embed --json --aligned \
  --threads 1 --model facenet "$T/chip.ppm"
cmp -s "$T/out" "$T/embed.json" && ok "  ... gives the same descriptor" || bad "  ... a different descriptor"
expect "--model with a name that is nowhere" 2 "$BIN" embed --aligned --model no-such-model "$T/chip.ppm"
expect "embed --model CARD on a photo (detect, FaceNet crop, describe)" 0 "$BIN" embed --json --model "$C/facenet.json" \
  "$DATA/bbt/test/images/faces.jpg"
json_check "  ... every face has a 512-d unit descriptor" \
  "len(L[0]['faces']) >= 3 and all(len(f['embedding']) == 512 and abs(sum(v*v for v in f['embedding']) - 1) < 1e-4 for f in L[0]['faces'])"
expect "verify --model CARD" 0 "$BIN" verify --json --model "$C/facenet.json" "$DATA/bbt/test/images/faces.jpg" "$DATA/bbt/test/images/faces.jpg"
json_check "  ... a photo against itself is the same person at the card's threshold" \
  "L[0]['distance'] < 1e-5 and abs(L[0]['threshold'] - 1.1) < 1e-6 and L[0]['same'] is True"
FACE="$DATA/bbt/examples/images/sheldon/sheldon1.png"
[ -f "$FACE" ] || FACE=$(ls "$DATA"/bbt/examples/images/*/*.png | head -n 1)
expect "enroll with the card's model" 0 "$BIN" enroll --db "$T/g.db" --model "$C/facenet.json" someone "$FACE"
expect "identify with the card's model" 0 "$BIN" identify --json --db "$T/g.db" --model "$C/facenet.json" "$FACE"
expect "identify with the default model in that gallery is refused" nonzero "$BIN" identify --db "$T/g.db" "$FACE"
grep -qi "model" "$T/err" && ok "  ... naming the model" || bad "  ... without saying why"
expect "enroll the default model's faces" 0 "$BIN" enroll --db "$T/d.db" someone "$FACE"
expect "a card model in the default model's gallery is refused" nonzero "$BIN" identify --db "$T/d.db" --model "$C/facenet.json" "$FACE"

# Cards that are wrong, and networks that do not fit them.
bad_card() {
  printf '%s' "$2" >"$C/bad.json"
  expect "card: $1" nonzero "$BIN" embed --aligned --model "$C/bad.json" "$T/chip.ppm"
  grep -q "$3" "$T/err" && ok "  ... the message names $3" || bad "  ... message lacks '$3': $(head -c 200 "$T/err")"
}
bad_card "not JSON" '{"name": ' "JSON"
bad_card "no dim" '{"name":"x","model":"facenet.onnx","input_size":160,"align":"facenet","threshold":1}' "dim"
bad_card "a bad alignment" '{"name":"x","model":"facenet.onnx","input_size":160,"dim":512,"align":"sideways","threshold":1}' "align"
bad_card "a model outside its folder" '{"name":"x","model":"../facenet.onnx","input_size":160,"dim":512,"align":"facenet","threshold":1}' "model"
bad_card "a dim the network does not give" '{"name":"x","model":"facenet.onnx","input_size":160,"dim":128,"align":"facenet","threshold":1}' "512\|128"
bad_card "std 0" '{"name":"x","model":"facenet.onnx","input_size":160,"dim":512,"std":0,"align":"facenet","threshold":1}' "std"
head -c 100000 "$W/facenet_irv1.onnx" >"$C/cut.onnx"
bad_card "a truncated network" '{"name":"x","model":"cut.onnx","input_size":160,"dim":512,"align":"facenet","threshold":1}' "cut.onnx\|ONNX\|truncat"

# convert: the card's network as a facerec model file, computing the same.
expect "convert CARD -> NAME.frm" 0 "$BIN" convert "$C/facenet.json" --out "$C"
has "  ... checked against the original" "same outputs"
cat >"$C/frm.json" <<'EOF'
{"name": "facenet-vggface2-test", "model": "facenet-vggface2-test.frm", "input_size": 160,
 "mean": 127.5, "std": 128.0, "layout": "nhwc", "align": "facenet", "dim": 512, "threshold": 1.1}
EOF
expect "embed with the converted file's card" 0 "$BIN" embed --json --aligned --threads 1 --model "$C/frm.json" "$T/chip.ppm"
if $PY - "$T/out" "$T/embed.json" <<'PY' 2>"$T/err"
import json, sys
a = json.loads(open(sys.argv[1]).read())["faces"][0]["embedding"]
b = json.loads(open(sys.argv[2]).read())["faces"][0]["embedding"]
assert max(abs(x - y) for x, y in zip(a, b)) < 1e-6
PY
then ok "  ... the same descriptor as the ONNX file"; else bad "  ... a different descriptor"; fi

# serve --model CARD: the server describes faces with the card's network.
"$BIN" serve --db "$T/s.db" --port 0 --threads 1 --no-auth --model "$C/facenet.json" 2>"$T/serve.log" &
pid=$!; port=""
for _ in $(seq 1 600); do
  port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$T/serve.log")
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [ -n "$port" ]; then
  ok "serve --model CARD starts"
  code=$(curl -s -o "$T/out" -w '%{http_code}' -H 'Content-Type: image/jpeg' \
    --data-binary @"$DATA/bbt/test/images/faces.jpg" "http://127.0.0.1:$port/api/v1/embed")
  if [ "$code" = 200 ] && $PY -c "
import json,sys
d=json.load(open('$T/out'))
sys.exit(0 if d['faces'] and all(len(f['descriptor'])==512 for f in d['faces']) else 1)"; then
    ok "  ... /api/v1/embed answers with the card's 512-d descriptors"
  else bad "  ... /api/v1/embed: $code $(head -c 200 "$T/out")"; fi
  kill "$pid"; wait "$pid" 2>/dev/null
else
  bad "serve --model CARD did not start: $(tail -n 3 "$T/serve.log")"
  kill "$pid" 2>/dev/null
fi
summary
