#!/bin/sh
# End-to-end tests of `facerec infer`: a network file run on a .npy tensor,
# its first output written as a .npy file. TFLite models from models/ and
# their converted .frm files, with inputs numpy makes; outputs checked for
# shape, finiteness and agreement across threads, batches and formats; and
# the .npy reader fed truncated, mistyped and hostile files, each of which
# must be an error (exit 1, a message) and never a crash.
# Usage: sh tests/cli_infer.sh BUILD/facerec. Prints "N passed, N failed".
set -u
BIN=${1:-build/facerec}
MODELS=${FACEREC_MODELS:-models}
# Debian's python3 has numpy (python3-numpy); a python3 earlier on PATH may
# not.
PY=python3; [ -x /usr/bin/python3 ] && PY=/usr/bin/python3
. "$(dirname "$0")/clilib.sh"
# Under the sanitizers a report exits 1 by default, which is also the status
# of a refused file: make it 99, so that a memory error is never taken for a
# clean refusal.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}exitcode=99"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}exitcode=99"

MFN=$MODELS/MobileFaceNet.tflite
ONET=$MODELS/onet.tflite
if [ ! -f "$MFN" ] || [ ! -f "$ONET" ]; then
  echo "TFLite models not fetched: skipped"
  summary
  exit $?
fi
if ! $PY -c "import numpy" 2>/dev/null; then
  echo "numpy missing ($PY): skipped"
  summary
  exit $?
fi

# py NAME CODE: a numpy check over the files in $T (0: pass).
py() {
  if (cd "$T" && $PY -c "import numpy as np
$2") >>"$T/err" 2>&1; then ok "$1"; else bad "$1"; fi
}

# Inputs: MobileFaceNet's 112x112 RGB chip, a batch of two whose first item
# is that chip, and O-Net's 48x48 patch.
(cd "$T" && $PY -c "
import numpy as np
r = np.random.default_rng(7)
x = r.uniform(-1, 1, (1, 112, 112, 3)).astype('<f4')
np.save('x1.npy', x)
np.save('x2.npy', np.concatenate([x, r.uniform(-1, 1, (1, 112, 112, 3)).astype('<f4')]))
np.save('o.npy', r.uniform(-1, 1, (1, 48, 48, 3)).astype('<f4'))
")

# ---- usage errors (exit 2) ----------------------------------------------
expect "no model" 2 "$BIN" infer --input "$T/x1.npy"
expect "no --input" 2 "$BIN" infer "$MFN"
expect "unknown option" 2 "$BIN" infer "$MFN" --input "$T/x1.npy" --bogus
expect "option without its value" 2 "$BIN" infer "$MFN" --input
expect "--threads 0" 2 "$BIN" infer "$MFN" --input "$T/x1.npy" --threads 0
expect "--repeat x" 2 "$BIN" infer "$MFN" --input "$T/x1.npy" --repeat x
expect "two models" 2 "$BIN" infer "$MFN" "$ONET" --input "$T/x1.npy"
if grep -q "^facerec infer: " "$T/err"; then ok "usage errors say 'facerec infer:'"; else bad "usage errors say 'facerec infer:'"; fi
expect "help" 0 "$BIN" --help
has "help lists infer" "  infer MODEL"

# ---- MobileFaceNet (TFLite) ----------------------------------------------
expect "infer MobileFaceNet, 1 thread" 0 "$BIN" infer "$MFN" --input "$T/x1.npy" --output "$T/y1.npy" --threads 1
has "the summary names the output" "embeddings \[1,192\]"
py "output is a finite float32 [1,192]" "
y = np.load('y1.npy'); assert y.shape == (1, 192) and y.dtype == np.float32 and np.isfinite(y).all() and np.abs(y).max() > 0"
expect "infer MobileFaceNet, 2 threads" 0 "$BIN" infer "$MFN" --input "$T/x1.npy" --output "$T/y1t.npy" --threads 2
py "2 threads give the 1-thread output (within 1e-5)" "
a, b = np.load('y1.npy'), np.load('y1t.npy'); assert np.abs(a - b).max() <= 1e-5 * np.abs(a).max()"
expect "infer a batch of 2" 0 "$BIN" infer "$MFN" --input "$T/x2.npy" --output "$T/y2.npy" --threads 1
py "batch output is [2,192], its first row the single run's (within 1e-5)" "
a, b = np.load('y1.npy'), np.load('y2.npy'); assert b.shape == (2, 192)
assert np.abs(a[0] - b[0]).max() <= 1e-5 * np.abs(a).max() and np.abs(b[0] - b[1]).max() > 1e-3"
expect "--repeat 3 --json" 0 "$BIN" infer "$MFN" --input "$T/x1.npy" --repeat 3 --json --threads 1
json_check "JSON: format, shapes, ms_median, runs, threads, kernels" \
  "len(L)==1 and L[0]['format']=='tflite' and L[0]['input']==[1,112,112,3] and L[0]['output']==[1,192] and L[0]['ms_median']>0 and L[0]['runs']==3 and L[0]['threads']==1 and len(L[0]['kernels'])>0"
expect "--json without --repeat" 0 "$BIN" infer "$MFN" --input "$T/x1.npy" --json --threads 1
json_check "no ms_median without --repeat" "'ms_median' not in L[0] and L[0]['output']==[1,192]"
expect "FACEREC_KERNELS=scalar" 0 env FACEREC_KERNELS=scalar "$BIN" infer "$MFN" --input "$T/x1.npy" --output "$T/ys.npy" --json --threads 1
json_check "the JSON names the scalar kernels" "L[0]['kernels']=='scalar'"
py "scalar kernels agree (within 1e-4)" "
a, b = np.load('y1.npy'), np.load('ys.npy'); assert np.abs(a - b).max() <= 1e-4 * np.abs(a).max()"

# ---- the same network as a converted model file ---------------------------
M=$T/models
mkdir -p "$M"
for f in "$MODELS"/*; do ln -s "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" "$M/"; done
expect "convert mobilefacenet" 0 "$BIN" convert --models "$M" --out "$T" mobilefacenet
expect "infer mobilefacenet.frm" 0 "$BIN" infer "$T/mobilefacenet.frm" --input "$T/x1.npy" --output "$T/yf.npy" --threads 1 --json
json_check "the .frm reads as format frm with output [1,192]" "L[0]['format']=='frm' and L[0]['output']==[1,192]"
if cmp -s "$T/y1.npy" "$T/yf.npy"; then ok "the .frm gives the TFLite output bit for bit"; else bad "the .frm gives the TFLite output bit for bit"; fi
expect "the .frm checks the input side" 1 "$BIN" infer "$T/mobilefacenet.frm" --input "$T/o.npy"

# ---- a model with two outputs ----------------------------------------------
expect "infer O-Net" 0 "$BIN" infer "$ONET" --input "$T/o.npy" --output "$T/oy.npy" --threads 1
has "O-Net: output 1 of 3" "output 1 of 3"
py "O-Net's first output is [1,2] probabilities" "
y = np.load('oy.npy'); assert y.shape == (1, 2) and abs(float(y.sum()) - 1) < 1e-5"

# ---- ONNX: NCHW in and out (when python3-onnx can write a model) -------------
if $PY -c "import onnx" 2>/dev/null; then
  # A 3x3 convolution with bias and a ReLU on [N, 5, 13, 11], N left open:
  # the engine holds NHWC, so this checks the transposes both ways.
  (cd "$T" && $PY -c "
import numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto as P
r = np.random.default_rng(5)
w = r.normal(0, 0.3, (8, 5, 3, 3)).astype('<f4'); b = r.normal(0, 0.1, 8).astype('<f4')
g = helper.make_graph(
    [helper.make_node('Conv', ['x', 'w', 'b'], ['c'], pads=[1, 1, 1, 1]),
     helper.make_node('Relu', ['c'], ['y'])], 'conv',
    [helper.make_tensor_value_info('x', P.FLOAT, ['N', 5, 13, 11])],
    [helper.make_tensor_value_info('y', P.FLOAT, ['N', 8, 13, 11])],
    [numpy_helper.from_array(w, 'w'), numpy_helper.from_array(b, 'b')])
m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 13)]); m.ir_version = 7
onnx.save(m, 'conv.onnx')
x = r.uniform(-1, 1, (2, 5, 13, 11)).astype('<f4'); np.save('cx.npy', x)
xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))); ref = np.zeros((2, 8, 13, 11), 'f8')
for i in range(3):
    for j in range(3):
        ref += np.einsum('nchw,oc->nohw', xp[:, :, i:i + 13, j:j + 11], w[:, :, i, j])
np.save('cref.npy', np.maximum(ref + b[None, :, None, None], 0).astype('<f4'))
np.save('cbad.npy', np.zeros((1, 4, 13, 11), '<f4'))
")
  expect "infer an ONNX convolution" 0 "$BIN" infer "$T/conv.onnx" --input "$T/cx.npy" --output "$T/cy.npy" --threads 1 --json
  json_check "format onnx, NCHW output [2,8,13,11]" "L[0]['format']=='onnx' and L[0]['output']==[2,8,13,11]"
  py "the NCHW output is numpy's convolution (within 1e-5)" "
a, b = np.load('cref.npy'), np.load('cy.npy'); assert a.shape == b.shape and np.abs(a - b).max() <= 1e-5 * np.abs(a).max()"
  expect "ONNX: 4 channels for 5" 1 "$BIN" infer "$T/conv.onnx" --input "$T/cbad.npy"
  expect "ONNX: --input-name of no input" 1 "$BIN" infer "$T/conv.onnx" --input "$T/cx.npy" --input-name nosuch
else
  echo "python3-onnx missing: the ONNX checks skipped"
fi

# ---- model errors (exit 1) -------------------------------------------------
expect "missing model" 1 "$BIN" infer "$T/none.tflite" --input "$T/o.npy"
has_err() { if grep -q -- "$2" "$T/err"; then ok "$1"; else bad "$1: '$2' not in stderr"; fi; }
has_err "the message names the file" "none.tflite"
head -c 5000 "$ONET" >"$T/cut.tflite"
expect "truncated TFLite model" 1 "$BIN" infer "$T/cut.tflite" --input "$T/o.npy"
printf 'not a network at all' >"$T/junk.onnx"
expect "garbage model (ONNX path)" 1 "$BIN" infer "$T/junk.onnx" --input "$T/o.npy"
has_err "errors start 'facerec infer:'" "^facerec infer: "
expect "output into a missing folder" 1 "$BIN" infer "$ONET" --input "$T/o.npy" --output "$T/no/such/dir/y.npy"

# ---- inputs that do not fit the model ----------------------------------------
(cd "$T" && $PY -c "
import numpy as np
np.save('side.npy', np.zeros((1, 40, 48, 3), '<f4'))
np.save('chan.npy', np.zeros((1, 48, 48, 4), '<f4'))
np.save('rank.npy', np.zeros((48, 48, 3), '<f4'))
np.save('empty.npy', np.zeros((0, 48, 48, 3), '<f4'))
")
expect "a side the model fixes differs" 1 "$BIN" infer "$ONET" --input "$T/side.npy"
has_err "the message gives both shapes" "\[?,48,48,3\].*\[1,40,48,3\]"
expect "4 channels for 3" 1 "$BIN" infer "$ONET" --input "$T/chan.npy"
expect "rank 3 for rank 4" 1 "$BIN" infer "$ONET" --input "$T/rank.npy"
has_err "the message gives the ranks" "rank 4"
expect "an empty batch" 1 "$BIN" infer "$ONET" --input "$T/empty.npy"

# ---- .npy files: the versions numpy writes, and hostile ones ------------------
mkdir -p "$T/npy"
(cd "$T/npy" && $PY -c "
import numpy as np, struct
from numpy.lib import format as F
x = np.random.default_rng(1).uniform(-1, 1, (1, 48, 48, 3)).astype('<f4')
def save(name, v):
    with open(name, 'wb') as f:
        F.write_array(f, x, version=v)
save('v1.npy', (1, 0)); save('v2.npy', (2, 0)); save('v3.npy', (3, 0))
data = x.tobytes()
def raw(name, header, version=1, payload=data, pad=True):
    h = header.encode('latin1')
    if pad:
        h += b' ' * ((64 - (len(h) + (10 if version == 1 else 12) + 1) % 64) % 64) + b'\n'
    pre = b'\x93NUMPY' + bytes([version, 0]) + (struct.pack('<H', len(h)) if version == 1 else struct.pack('<I', len(h)))
    open(name, 'wb').write(pre + h + payload)
ok = \"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 48, 48, 3), }\"
raw('reordered.npy', \"{'shape': (1, 48, 48, 3), 'fortran_order': False, 'descr': '<f4'}\")
raw('dquote.npy', '{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (1,48,48,3)}')
# hostile: each must be refused
raw('bad-truncated.npy', ok, payload=data[:-5])
raw('bad-long.npy', ok, payload=data + b'xx')
raw('bad-f8.npy', ok.replace('<f4', '<f8'), payload=x.astype('<f8').tobytes())
raw('bad-bigendian.npy', ok.replace('<f4', '>f4'))
raw('bad-int.npy', ok.replace('<f4', '<i4'))
raw('bad-fortran.npy', ok.replace('False', 'True'))
raw('bad-shape-mismatch.npy', ok.replace('(1, 48, 48, 3)', '(1, 48, 47, 3)'))
raw('bad-negative.npy', ok.replace('(1, 48, 48, 3)', '(1, -48, 48, 3)'))
raw('bad-overflow.npy', ok.replace('(1, 48, 48, 3)', '(4611686018427387904, 4611686018427387904, 48, 3)'))
raw('bad-huge-dim.npy', ok.replace('(1, 48, 48, 3)', '(99999999999999999999999, 48, 48, 3)'))
raw('bad-huge-count.npy', ok.replace('(1, 48, 48, 3)', '(1000000, 1000000, 1000000, 3)'))
raw('bad-rank9.npy', ok.replace('(1, 48, 48, 3)', '(1, 1, 1, 1, 1, 1, 48, 48, 3)'))
raw('bad-nocomma.npy', ok.replace('(1, 48, 48, 3)', '(6912)'))
raw('bad-notuple.npy', ok.replace('(1, 48, 48, 3)', '[1, 48, 48, 3]'))
raw('bad-float-dim.npy', ok.replace('(1, 48, 48, 3)', '(1, 48.0, 48, 3)'))
raw('bad-unknown-key.npy', ok.replace(\"'fortran_order': False\", \"'fortran_order': False, 'extra': 1\"))
raw('bad-missing-key.npy', \"{'descr': '<f4', 'shape': (1, 48, 48, 3), }\")
raw('bad-duplicate-key.npy', \"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1, 48, 48, 3), }\")
raw('bad-unterminated.npy', \"{'descr': '<f4, 'fortran_order': False, 'shape': (1, 48, 48, 3)\")
raw('bad-trailing.npy', ok + ' junk')
raw('bad-nul.npy', ok[:20] + chr(0) + ok[21:])
raw('bad-escape.npy', ok.replace('<f4', '<f\\\\4'))
raw('bad-version.npy', ok, version=4)
# header lengths beyond the file and beyond the limit
open('bad-header-past-end.npy', 'wb').write(b'\x93NUMPY\x01\x00' + struct.pack('<H', 60000) + ok.encode())
open('bad-header-huge-v2.npy', 'wb').write(b'\x93NUMPY\x02\x00' + struct.pack('<I', 0xffffffff) + ok.encode())
raw('bad-header-long.npy', ok + ' ' * 70000 + '\n', version=2, pad=False)
open('bad-empty.npy', 'wb').close()
open('bad-magic-only.npy', 'wb').write(b'\x93NUMPY')
open('bad-v2-short.npy', 'wb').write(b'\x93NUMPY\x02\x00\x10')
open('bad-garbage.npy', 'wb').write(np.random.default_rng(2).integers(0, 256, 4096, dtype=np.uint8).tobytes())
open('bad-text.npy', 'w').write('hello, world\n')
# random damage to a good file's header: each is refused or read, never a crash
good = open('v1.npy', 'rb').read()
r = np.random.default_rng(3)
for i in range(60):
    b = bytearray(good)
    for _ in range(int(r.integers(1, 4))):
        b[int(r.integers(0, 128))] = int(r.integers(0, 256))
    open('fuzz-%02d.npy' % i, 'wb').write(bytes(b))
")
for v in v1 v2 v3 reordered dquote; do
  expect ".npy $v reads" 0 "$BIN" infer "$ONET" --input "$T/npy/$v.npy" --threads 1
done
for f in "$T"/npy/bad-*.npy; do
  n=$(basename "$f" .npy)
  expect "refuses $n" 1 "$BIN" infer "$ONET" --input "$f" --threads 1
  if grep -q "^facerec infer: .*$n.npy" "$T/err"; then ok "$n: the message names the file"
  else bad "$n: the message names the file"; fi
done
expect "'<f8' names the dtype" 1 "$BIN" infer "$ONET" --input "$T/npy/bad-f8.npy"
has_err "'<f8' named" "'<f8'"
expect "fortran_order True" 1 "$BIN" infer "$ONET" --input "$T/npy/bad-fortran.npy"
has_err "Fortran named" "Fortran"
expect "truncated data" 1 "$BIN" infer "$ONET" --input "$T/npy/bad-truncated.npy"
has_err "truncated named" "truncated"
expect "header too long" 1 "$BIN" infer "$ONET" --input "$T/npy/bad-header-long.npy"
has_err "header limit named" "header of"
crashed=0
for f in "$T"/npy/fuzz-*.npy; do
  "$BIN" infer "$ONET" --input "$f" --threads 1 >/dev/null 2>"$T/err"
  rc=$?
  if [ $rc -ne 0 ] && [ $rc -ne 1 ]; then crashed=$((crashed + 1)); echo "     $(basename "$f"): rc=$rc"; fi
done
if [ $crashed -eq 0 ]; then ok "60 damaged headers: each read or refused, none crashed"
else bad "$crashed damaged headers crashed or exited oddly"; fi

# --profile: a row per node of the graph, and a total close to the run time.
expect "--profile" 0 "$BIN" infer "$MFN" --input "$T/x1.npy" --threads 1 --repeat 5 --profile
if python3 -c "
import re, sys
L = open('$T/out').read().splitlines()
rows = [l for l in L if re.match(r'^ *[0-9]+  [a-z_0-9]+ ', l)]
tot = [l for l in L if l.startswith('total ')]
shares = sum(float(l.split()[-1].rstrip('%')) for l in rows)
sys.exit(0 if len(rows) > 20 and len(tot) == 1 and abs(shares - 100) < 1 else 1)"; then
  ok "  ... one row per node, shares adding up to 100%"; else bad "  ... profile table"; fi
summary
