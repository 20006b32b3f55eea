#!/bin/sh
# The demo `make run` ends with: every face in face-api's demo photos (shipped
# in the model package), with boxes and a face-to-face distance matrix.
set -e
bin=${1:-build/facerec}
echo "facerec $($bin --version | cut -d' ' -f2-)"
echo "detect + 68 landmarks + similarity alignment + 128-d descriptors on models/demo/*.jpg"
echo
exec "$bin" compare models/demo/sample*.jpg
