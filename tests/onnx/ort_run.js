// ort_run.js - ONNX Runtime reference outputs for the cases of tests/onnx/gen_models.py.
//
//   node tests/onnx/ort_run.js OUTDIR [--peer DIR] [--cases a,b,...]
//        writes OUTDIR/NAME.ref.npy (output 0) and OUTDIR/NAME.ref{K}.npy (output K, every K)
//        for each case of OUTDIR/cases.json, running OUTDIR/MODEL.onnx on OUTDIR/NAME.in.npy
//   node tests/onnx/ort_run.js OUTDIR --bench R [--warmup W] [--threads T] [--cases a,b,...]
//        times R session.run() calls after W warm-ups (default 3) per case and prints
//        {"name": median_ms, ...} as JSON on stdout (writes no files)
//   node tests/onnx/ort_run.js OUTDIR --crosscheck [--cases ...]
//        prints, per case, max|all - none| / max|all| between graph optimisation levels 'all'
//        and 'disabled' (float noise of ORT's own kernels: a yardstick for the cases' tol)
//   node tests/onnx/ort_run.js OUTDIR --hostile
//        tells, for each file of OUTDIR/hostile/hostile.json (tests/onnx/hostile.py), whether ORT
//        loads and runs it or rejects it, and why
//
// Sessions: CPU execution provider, intraOpNumThreads 1 (or --threads), interOpNumThreads 1,
// sequential execution, graphOptimizationLevel 'all'. --peer DIR is an installed copy of
// /work/shared/peers/ort (onnxruntime-node under DIR/node_modules); default $FACEREC_PEER_ORT, else
// Node's own module resolution. Exit status 1 if any case failed in ORT (each named on stderr).
'use strict';
const fs = require('fs');
const path = require('path');

const argv = process.argv.slice(2);
function arg(name, dflt) {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
}
const OUT = argv[0];
const ONLY = arg('--cases', '') ? new Set(arg('--cases', '').split(',')) : null;
const BENCH = Number(arg('--bench', 0));
const WARMUP = Number(arg('--warmup', 3));
const THREADS = Number(arg('--threads', 1));
const CROSS = argv.includes('--crosscheck');
const HOSTILE = argv.includes('--hostile');
let ort = null;

// --- .npy: float32, little-endian, C order -----------------------------------------------------
function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.readUInt8(0) !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY') {
    throw new Error(`${file}: not a .npy file`);
  }
  const major = buf.readUInt8(6);
  let hlen; let off;
  if (major === 1) { hlen = buf.readUInt16LE(8); off = 10; } else { hlen = buf.readUInt32LE(8); off = 12; }
  const header = buf.toString('latin1', off, off + hlen);
  const descr = /'descr':\s*'([^']*)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) throw new Error(`${file}: bad .npy header ${header}`);
  if (descr[1] !== '<f4') throw new Error(`${file}: dtype ${descr[1]}, want <f4`);
  if (fortran[1] !== 'False') throw new Error(`${file}: Fortran order`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  const start = off + hlen;
  if (buf.length - start !== count * 4) throw new Error(`${file}: ${buf.length - start} data bytes for shape (${dims})`);
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = buf.readFloatLE(start + 4 * i);
  return { dims, data };
}

function writeNpy(file, dims, data) {
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`;
  // version 1.0: magic(6) + version(2) + u16 length(2) + header ending in '\n', total % 64 == 0
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const buf = Buffer.alloc(10 + header.length + 4 * data.length);
  buf.writeUInt8(0x93, 0);
  buf.write('NUMPY', 1, 'latin1');
  buf.writeUInt8(1, 6);
  buf.writeUInt8(0, 7);
  buf.writeUInt16LE(header.length, 8);
  buf.write(header, 10, 'latin1');
  const start = 10 + header.length;
  for (let i = 0; i < data.length; i++) buf.writeFloatLE(data[i], start + 4 * i);
  fs.writeFileSync(file, buf);
}

function sessionOptions(level) {
  return {
    executionProviders: ['cpu'], graphOptimizationLevel: level, intraOpNumThreads: THREADS,
    interOpNumThreads: 1, executionMode: 'sequential', logSeverityLevel: HOSTILE ? 4 : 3,
  };
}

async function runCase(c, level) {
  const sess = await ort.InferenceSession.create(path.join(OUT, `${c.model || c.name}.onnx`), sessionOptions(level));
  const x = readNpy(path.join(OUT, `${c.name}.in.npy`));
  const feeds = { [c.input_name || sess.inputNames[0]]: new ort.Tensor('float32', x.data, x.dims) };
  const res = await sess.run(feeds);
  return { sess, feeds, outs: sess.outputNames.map((n) => res[n]) };
}

function relErr(a, b) {
  let m = 0; let d = 0;
  for (let i = 0; i < b.length; i++) { m = Math.max(m, Math.abs(b[i])); d = Math.max(d, Math.abs(a[i] - b[i])); }
  return d / Math.max(m, 1e-30);
}

async function hostile() {
  const dir = OUT;
  const table = JSON.parse(fs.readFileSync(path.join(dir, 'hostile', 'hostile.json'), 'utf8'));
  for (const h of table) {
    let what;
    try {
      const sess = await ort.InferenceSession.create(path.join(dir, h.model), sessionOptions('all'));
      const x = readNpy(path.join(dir, h.input));
      await sess.run({ [sess.inputNames[0]]: new ort.Tensor('float32', x.data, x.dims) });
      what = 'runs';
      await sess.release();
    } catch (e) {
      what = `rejects: ${String(e.message || e).split('\n')[0].slice(0, 160)}`;
    }
    console.log(`${h.name} (${h.expect}): ORT ${what}`);
  }
}

async function main() {
  if (!OUT || OUT.startsWith('-')) {
    console.error('usage: node ort_run.js OUTDIR [--peer DIR] [--cases a,b] [--bench R [--warmup W] [--threads T]] [--crosscheck] [--hostile]');
    process.exit(2);
  }
  const peer = arg('--peer', process.env.FACEREC_PEER_ORT || '');
  ort = require(peer ? path.join(path.resolve(peer), 'node_modules', 'onnxruntime-node') : 'onnxruntime-node');
  if (HOSTILE) { await hostile(); return; }
  const cases = JSON.parse(fs.readFileSync(path.join(OUT, 'cases.json'), 'utf8'))
    .filter((c) => !ONLY || ONLY.has(c.name));
  let failed = 0;
  const bench = {};
  for (const c of cases) {
    const t0 = Date.now();
    try {
      if (BENCH > 0) {
        const { sess, feeds } = await runCase(c, 'all');
        for (let i = 0; i < WARMUP; i++) await sess.run(feeds);
        const t = [];
        for (let i = 0; i < BENCH; i++) {
          const s = process.hrtime.bigint();
          await sess.run(feeds);
          t.push(Number(process.hrtime.bigint() - s) / 1e6);
        }
        t.sort((a, b) => a - b);
        const mid = t.length >> 1;
        bench[c.name] = Math.round((t.length % 2 ? t[mid] : (t[mid - 1] + t[mid]) / 2) * 1000) / 1000;
        await sess.release();
        continue;
      }
      const { sess, outs } = await runCase(c, 'all');
      if (CROSS) {
        const ref = await runCase(c, 'disabled');
        const e = outs.map((o, k) => relErr(ref.outs[k].data, o.data).toExponential(2));
        console.log(`${c.name}: all vs disabled ${e.join(' ')}  max|out0| ${outs[0].data.reduce((m, v) => Math.max(m, Math.abs(v)), 0).toPrecision(3)}`);
        await ref.sess.release();
      } else {
        outs.forEach((o, k) => {
          if (o.type !== 'float32') throw new Error(`output ${k} is ${o.type}`);
          writeNpy(path.join(OUT, `${c.name}.ref${k}.npy`), o.dims.map(Number), o.data);
        });
        fs.copyFileSync(path.join(OUT, `${c.name}.ref0.npy`), path.join(OUT, `${c.name}.ref.npy`));
      }
      await sess.release();
      const dt = Date.now() - t0;
      if (dt > 1000) console.error(`ort_run: ${c.name} ${(dt / 1000).toFixed(1)} s`);
    } catch (e) {
      failed++;
      console.error(`ort_run: ${c.name}: ${String(e.message || e).split('\n')[0]}`);
    }
  }
  if (BENCH > 0) console.log(JSON.stringify(bench, null, 1));
  if (failed) console.error(`ort_run: ${failed} of ${cases.length} cases failed`);
  process.exit(failed ? 1 : 0);
}

module.exports = { readNpy, writeNpy };
if (require.main === module) main();
