#!/usr/bin/env node
// ONNX Runtime (CPU) baseline timings for kiln's benchmarks. Prints ONE line of JSON on stdout.
//
// Install once, offline-safe (skips the postinstall that would fetch GPU binaries):
//   cd bench/ort && ONNXRUNTIME_NODE_INSTALL=skip npm install
//
// Single model:
//   node bench/ort/bench_ort.js MODEL --shape 1,1,256,256 [--runs 15] [--warmup 0] [--threads 2] [--no-spin]
//                               [--input-npy x.npy] [--save-output y.npy]
//   -> {"runtime":"onnxruntime","version":..,"create_ms":..,"first_ms":..,"steady_median_ms":..,
//       "steady_p90_ms":..,"peak_rss_mb":..,"steady_min_ms":..,"steady_max_ms":..,"throughput_ips":..,...}
//   create_ms: InferenceSession.create (parse + graph optimisation + kernel set-up);
//   first_ms: the first run; then --warmup runs are discarded and --runs runs are timed.
//   throughput_ips: images per second at the steady median (the shape's batch / median).
//   --input-npy feeds a float32 .npy (C order; its shape is the input shape, and --shape, if
//   given, must match) instead of the built-in pattern; --save-output writes the first output of
//   the last timed run as a float32 .npy, so outputs can be compared across runtimes
//   (bench/compare_peers.sh). Both are single-model options.
//
// Several sessions:
//   node bench/ort/bench_ort.js --sessions K MODEL [MODEL ...] --shape ...
//   K models, or one model loaded K times. Without --shape each session is fed its model's own
//   static input shape (so models of different sizes can be mixed).
//   Single-model mode also falls back to the model's static input shape if --shape is omitted. Reports load_all_ms (all K creates, one after another),
//   first_ms_mean (first run of each), alternating_ms (mean of --runs runs cycling through the
//   sessions), same_model_ms (mean of --runs runs of session 0) and peak RSS.
//
// Pitfall: each session owns its own intra-op thread pool, and ORT's pool threads spin after a
// run by default. With several sessions on 2 cores the idle sessions' spinning threads steal the
// CPU from the one running (measured here: U-Net-16, 4 sessions, alternating 66 ms vs 36 ms for
// the same model; with --no-spin 37 vs 35 ms). Use --no-spin for --sessions comparisons.
//
// The input is a deterministic pseudo-random pattern in [0,1) (xorshift32, fixed seed), so every
// run of this script feeds identical data.
'use strict';

const path = require('path');
const { performance } = require('perf_hooks');

function usage(msg) {
  if (msg) process.stderr.write(`bench_ort: ${msg}\n`);
  process.stderr.write(
    'usage: bench_ort.js MODEL [MODEL...] [--shape N,C,H,W] [--runs 15] [--warmup 0] [--threads 2]\n' +
    '                    [--no-spin] [--sessions K] [--input-npy X.npy] [--save-output Y.npy]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const a = { models: [], shape: null, runs: 15, warmup: 0, threads: 2, spin: true, sessions: 0,
    inputNpy: null, saveOutput: null };
  const int = (v, name, min) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) usage(`${name} must be an integer >= ${min}, got '${v}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      return argv[++i];
    };
    switch (arg) {
      case '--shape':
        a.shape = next().split(',').map((d) => int(d, '--shape dimension', 1));
        break;
      case '--runs': a.runs = int(next(), '--runs', 1); break;
      case '--warmup': a.warmup = int(next(), '--warmup', 0); break;
      case '--threads': a.threads = int(next(), '--threads', 1); break;
      case '--sessions': a.sessions = int(next(), '--sessions', 1); break;
      case '--no-spin': a.spin = false; break;
      case '--input-npy': a.inputNpy = next(); break;
      case '--save-output': a.saveOutput = next(); break;
      case '-h': case '--help': usage(); break;
      default:
        if (arg.startsWith('--')) usage(`unknown option ${arg}`);
        a.models.push(arg);
    }
  }
  if (a.models.length === 0) usage('no model given');
  if (a.sessions === 0 && a.models.length !== 1) usage('several models need --sessions K');
  if (a.sessions > 0) {
    if (a.models.length === 1) a.models = Array(a.sessions).fill(a.models[0]);
    else if (a.models.length !== a.sessions) usage(`--sessions ${a.sessions} needs 1 or ${a.sessions} models`);
    if (a.inputNpy || a.saveOutput) usage('--input-npy and --save-output are single-model options');
  }
  return a;
}

function patternInput(ort, shape) {
  const n = shape.reduce((x, y) => x * y, 1);
  const data = new Float32Array(n);
  let s = 0x2545f491; // xorshift32 state, fixed
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    data[i] = (s >>> 8) / 16777216; // 24 bits -> [0,1)
  }
  return new ort.Tensor('float32', data, shape);
}

// Minimal .npy (NumPy format 1.0-3.0) reader and writer for C-order little-endian float32 arrays,
// the only kind the peer comparison exchanges.
function readNpyFloat32(file) {
  const buf = require('fs').readFileSync(file);
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + headerLen;
  const header = buf.toString('latin1', major === 1 ? 10 : 12, start);
  const descr = /'descr':\s*'([^']*)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shapeText) throw new Error(`${file}: cannot parse header ${header.trim()}`);
  if (descr[1] !== '<f4' || fortran[1] !== 'False') {
    throw new Error(`${file}: need little-endian float32 in C order, got ${descr[1]} fortran_order=${fortran[1]}`);
  }
  const shape = shapeText[1].split(',').map((d) => d.trim()).filter(Boolean).map(Number);
  const n = shape.reduce((x, y) => x * y, 1);
  if (buf.length - start !== 4 * n) throw new Error(`${file}: ${buf.length - start} data bytes for shape [${shape}]`);
  const data = new Float32Array(n);  // copy: the data offset need not be 4-byte aligned in buf
  Buffer.from(data.buffer).set(buf.subarray(start));
  return { shape, data };
}

function writeNpyFloat32(file, shape, data) {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';  // total header a multiple of 64
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1; pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const f32 = Float32Array.from(data);
  require('fs').writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'),
    Buffer.from(f32.buffer, f32.byteOffset, f32.byteLength)]));
}

function percentile(sorted, q) {
  // Nearest-rank on the sorted samples (q in [0,1]); p50 of an even count is the mean of the two.
  if (q === 0.5) {
    const m = sorted.length >> 1;
    return sorted.length % 2 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
  }
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}

const round = (x, d = 3) => Number(x.toFixed(d));
const peakRssMb = () => round(process.resourceUsage().maxRSS / 1024, 1); // maxRSS is in KB

function inputShape(session, a) {
  if (a.shape) return a.shape;
  const meta = session.inputMetadata && session.inputMetadata[0];
  const shape = meta && meta.shape;
  if (!shape || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(`model input '${session.inputNames[0]}' has no static shape; pass --shape`);
  }
  return shape;
}

function sessionOptions(a) {
  const opts = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: a.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    logSeverityLevel: 3,
  };
  if (!a.spin) opts.extra = { session: { intra_op: { allow_spinning: '0' } } };
  return opts;
}

// With `keep`, the outputs are handed to keep(out) (and not disposed) after the clock stops.
async function timedRun(session, feeds, keep) {
  const t0 = performance.now();
  const out = await session.run(feeds);
  const ms = performance.now() - t0;
  if (keep) keep(out);
  else for (const k of Object.keys(out)) if (out[k].dispose) out[k].dispose();
  return ms;
}

async function single(ort, a) {
  const opts = sessionOptions(a);
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(a.models[0], opts);
  const createMs = performance.now() - t0;
  let shape;
  let input;
  if (a.inputNpy) {
    const x = readNpyFloat32(a.inputNpy);
    if (a.shape && a.shape.join(',') !== x.shape.join(',')) {
      usage(`${a.inputNpy} has shape ${x.shape.join(',')}, --shape says ${a.shape.join(',')}`);
    }
    shape = x.shape;
    input = new ort.Tensor('float32', x.data, shape);
  } else {
    shape = inputShape(session, a);
    input = patternInput(ort, shape);
  }
  const feeds = { [session.inputNames[0]]: input };
  const firstMs = await timedRun(session, feeds);
  for (let i = 0; i < a.warmup; i++) await timedRun(session, feeds);
  const times = [];
  let saved = null;  // the last timed run's first output, for --save-output
  const keep = a.saveOutput ? (out) => { saved = out[session.outputNames[0]]; } : null;
  for (let i = 0; i < a.runs; i++) times.push(await timedRun(session, feeds, keep));
  if (saved) writeNpyFloat32(a.saveOutput, saved.dims, saved.data);
  const sorted = times.slice().sort((x, y) => x - y);
  const median = percentile(sorted, 0.5);
  return {
    runtime: 'onnxruntime',
    version: ortVersion(ort),
    create_ms: round(createMs),
    first_ms: round(firstMs),
    steady_median_ms: round(median),
    steady_p90_ms: round(percentile(sorted, 0.9)),
    peak_rss_mb: peakRssMb(),
    first_over_steady: round(firstMs / median),
    steady_min_ms: round(sorted[0]),
    steady_max_ms: round(sorted[sorted.length - 1]),
    throughput_ips: round(shape[0] * 1000 / median),
    model: path.basename(path.dirname(path.resolve(a.models[0]))) + '/' + path.basename(a.models[0]),
    shape,
    threads: a.threads,
    spin: a.spin,
    runs: a.runs,
    warmup: a.warmup,
  };
}

async function multi(ort, a) {
  const opts = sessionOptions(a);
  const sessions = [];
  const t0 = performance.now();
  for (const m of a.models) sessions.push(await ort.InferenceSession.create(m, opts));
  const loadAllMs = performance.now() - t0;
  const shapes = sessions.map((s) => inputShape(s, a));
  const feeds = sessions.map((s, k) => ({ [s.inputNames[0]]: patternInput(ort, shapes[k]) }));
  let firstSum = 0;
  for (let k = 0; k < sessions.length; k++) firstSum += await timedRun(sessions[k], feeds[k]);
  for (let i = 0; i < a.warmup; i++) {
    for (let k = 0; k < sessions.length; k++) await timedRun(sessions[k], feeds[k]);
  }
  let alt = 0;
  for (let i = 0; i < a.runs; i++) {
    const k = i % sessions.length;
    alt += await timedRun(sessions[k], feeds[k]);
  }
  let same = 0;
  for (let i = 0; i < a.runs; i++) same += await timedRun(sessions[0], feeds[0]);
  return {
    runtime: 'onnxruntime',
    version: ortVersion(ort),
    sessions: sessions.length,
    load_all_ms: round(loadAllMs),
    first_ms_mean: round(firstSum / sessions.length),
    alternating_ms: round(alt / a.runs),
    same_model_ms: round(same / a.runs),
    peak_rss_mb: peakRssMb(),
    models: a.models.map((m) => path.basename(path.dirname(path.resolve(m))) + '/' + path.basename(m)),
    shapes,
    threads: a.threads,
    spin: a.spin,
    runs: a.runs,
    warmup: a.warmup,
  };
}

function ortVersion(ort) {
  try {
    return require('onnxruntime-node/package.json').version;
  } catch (e) {
    return (ort.env && ort.env.versions && ort.env.versions.node) || 'unknown';
  }
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    process.stderr.write(`bench_ort: cannot load onnxruntime-node (${e.message}); run ` +
      `'ONNXRUNTIME_NODE_INSTALL=skip npm install' in ${__dirname}\n`);
    process.exit(1);
  }
  const result = a.sessions > 0 ? await multi(ort, a) : await single(ort, a);
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e) => {
  process.stderr.write(`bench_ort: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
