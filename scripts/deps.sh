#!/bin/sh
# Installs the Debian packages facerec needs, only those that are missing.
set -e
PKGS="build-essential pkg-config cmake groff-base libjpeg62-turbo-dev libpng-dev libspng-dev libcjson-dev libsqlite3-dev libsvm-dev nodejs npm libunistring-dev chromium wrk python3-numpy python3-onnx curl opencv-data"
# opencv-data: the Haar and LBP face cascades (/usr/share/opencv4) of the
# "haar" and "lbp" detectors.
# libunistring-dev: NFC normalisation of names in `facerec serve`; chromium: its
# browser test (tests/browser/); wrk: its load test (bench/server.sh);
# python3-numpy: the Python client example (examples/client.py); curl:
# tests/server.sh; python3-onnx: the ONNX test models (tests/onnx/).
# `deps.sh fuzz` adds what `make fuzz` needs: clang and its libFuzzer and
# sanitizer runtimes (the fuzzers are clang-only; the tests build with cc).
if [ "${1:-}" = fuzz ]; then PKGS="$PKGS clang libclang-rt-14-dev"; fi
# `deps.sh bench` adds OpenCV's Python module, which bench/haar_opencv.py
# times beside our cascade detector (the library never uses OpenCV).
if [ "${1:-}" = bench ]; then PKGS="$PKGS python3-opencv"; fi
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# npm may come from elsewhere than Debian (it does on the project machines).
if command -v npm >/dev/null 2>&1; then missing=$(echo "$missing" | sed 's/ nodejs//; s/ npm//'); fi
[ -z "$(echo $missing)" ] && exit 0
echo "installing:$missing"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
