// pipeline-faceapi.js - the face-api peer's figures that bench-faceapi.js does not give, so
// that facerec's pipeline and Tiny@320 rows have a same-run peer:
//   - face-api's whole chain on the same 640x480 frame that bench/bench.c times
//     (detectAllFaces(...).withFaceLandmarks(...).withFaceDescriptors()), in the fast profile
//     (TinyFaceDetector at 416 and at 320, tiny landmark net) and the accurate one (SSD, 68-point net);
//   - TinyFaceDetector at 320 on faces.jpg (bench-faceapi.js times one input size per run).
// It runs inside an installed copy of ../shared/peers/faceapi (bench/run.sh copies it there), on
// the same TensorFlow.js wasm SIMD backend, one thread, as bench-faceapi.js.
//
// Usage: node pipeline-faceapi.js --frame FRAME.png --detect-image faces.jpg
//          [--runs 10] [--warmup 3] [--backend wasm] [--json out.json]
'use strict';
const fs = require('fs');
const path = require('path');
const { tf, setupBackend, imageTensor, median, versions } = require('./common');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');

const arg = (n, d) => { const i = process.argv.indexOf(n); return i > 0 ? process.argv[i + 1] : d; };
const FRAME = arg('--frame', null);
const DETECT_IMAGE = arg('--detect-image', null);
const RUNS = Number(arg('--runs', 10));
const WARMUP = Number(arg('--warmup', 3));
const BACKEND = arg('--backend', 'wasm');
const JSON_OUT = arg('--json', null);
const MODELS = arg('--models', path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'model'));
if (!FRAME || !DETECT_IMAGE) {
  console.error('usage: node pipeline-faceapi.js --frame FRAME.png --detect-image faces.jpg [--runs N] [--warmup N] [--json out.json]');
  process.exit(2);
}

// The same statistics as bench.c: median, and the nearest-rank 90th percentile.
function p90(a) { const s = [...a].sort((x, y) => x - y); return s[Math.max(0, Math.ceil(0.9 * s.length) - 1)]; }

async function timeit(fn) {
  for (let i = 0; i < WARMUP; i++) await fn();
  const t = []; let last;
  for (let i = 0; i < RUNS; i++) { const t0 = performance.now(); last = await fn(); t.push(performance.now() - t0); }
  return { median_ms: median(t), p90_ms: p90(t), min_ms: Math.min(...t), samples_ms: t, last };
}

(async () => {
  const bi = await setupBackend(BACKEND);
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(MODELS);
  await faceapi.nets.tinyFaceDetector.loadFromDisk(MODELS);
  await faceapi.nets.faceLandmark68Net.loadFromDisk(MODELS);
  await faceapi.nets.faceLandmark68TinyNet.loadFromDisk(MODELS);
  await faceapi.nets.faceRecognitionNet.loadFromDisk(MODELS);
  const frame = imageTensor(FRAME);
  const photo = imageTensor(DETECT_IMAGE);
  const tiny = (s) => new faceapi.TinyFaceDetectorOptions({ inputSize: s, scoreThreshold: 0.5 });
  const ssd = new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5, maxResults: 100 });
  const cases = [
    { key: 'tiny320', what: 'TinyFaceDetector@320 detect', fn: () => faceapi.detectAllFaces(photo, tiny(320)) },
    { key: 'pipeline_tiny416', what: 'Tiny@416 + tiny landmarks + descriptor', fn: () => faceapi.detectAllFaces(frame, tiny(416)).withFaceLandmarks(true).withFaceDescriptors() },
    { key: 'pipeline_tiny320', what: 'Tiny@320 + tiny landmarks + descriptor', fn: () => faceapi.detectAllFaces(frame, tiny(320)).withFaceLandmarks(true).withFaceDescriptors() },
    { key: 'pipeline_ssd', what: 'SSD + 68 landmarks + descriptor', fn: () => faceapi.detectAllFaces(frame, ssd).withFaceLandmarks().withFaceDescriptors() },
  ];
  const meta = { versions: versions(), faceapiVersion: faceapi.version, backend: bi, runs: RUNS, warmup: WARMUP, frame: FRAME, detectImage: DETECT_IMAGE, date: new Date().toISOString() };
  console.log(JSON.stringify(meta));
  const rows = [];
  for (const c of cases) {
    const r = await timeit(c.fn);
    const row = { key: c.key, what: c.what, median_ms: r.median_ms, p90_ms: r.p90_ms, min_ms: r.min_ms, faces: r.last.length, samples_ms: r.samples_ms };
    rows.push(row);
    console.log(`${c.key}\t${c.what}\tmedian ${r.median_ms.toFixed(2)} ms\tp90 ${r.p90_ms.toFixed(2)} ms\tfaces ${row.faces}`);
  }
  if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify({ meta, rows }, null, 1));
  tf.dispose([frame, photo]);
  process.exit(0);
})().catch((e) => { console.error('FAILED', e); process.exit(1); });
