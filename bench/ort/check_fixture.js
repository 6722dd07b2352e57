#!/usr/bin/env node
// Cross-check a fixture against ONNX Runtime: run MODEL on INPUT.npy and compare with
// EXPECTED.npy (float32, C order). Prints one line of JSON; exits 1 if max |diff| > --atol.
//
//   node bench/ort/check_fixture.js tests/fixtures/unet/w4_64x64            (model.onnx, input.npy, expected.npy)
//   node bench/ort/check_fixture.js MODEL.onnx INPUT.npy EXPECTED.npy [--atol 5e-4]
'use strict';

const fs = require('fs');
const path = require('path');

function readNpyF32(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + headerLen;
  const header = buf.toString('latin1', major === 1 ? 10 : 12, start);
  if (!/'descr':\s*'<f4'/.test(header)) throw new Error(`${file}: only little-endian float32 is supported`);
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${file}: Fortran order not supported`);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)[1];
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s).map(Number);
  const n = shape.reduce((x, y) => x * y, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = buf.readFloatLE(start + 4 * i);
  return { shape, data };
}

async function main() {
  const args = process.argv.slice(2);
  let atol = 5e-4; // float32 rounding alone (torch f32 vs f64) reaches ~4e-5 on these U-Nets, ORT vs torch ~1e-4
  const ai = args.indexOf('--atol');
  if (ai >= 0) { atol = Number(args[ai + 1]); args.splice(ai, 2); }
  let model, input, expected;
  if (args.length === 1) {
    model = path.join(args[0], 'model.onnx');
    input = path.join(args[0], 'input.npy');
    expected = path.join(args[0], 'expected.npy');
  } else if (args.length === 3) {
    [model, input, expected] = args;
  } else {
    process.stderr.write('usage: check_fixture.js DIR | MODEL INPUT.npy EXPECTED.npy [--atol X]\n');
    process.exit(2);
  }
  const ort = require('onnxruntime-node');
  const session = await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
  const x = readNpyF32(input);
  const want = readNpyF32(expected);
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x.data, x.shape) });
  const got = out[session.outputNames[0]];
  if (got.dims.join(',') !== want.shape.join(',')) {
    throw new Error(`shape mismatch: ORT ${got.dims} vs expected ${want.shape}`);
  }
  let maxAbs = 0;
  let sumAbs = 0;
  for (let i = 0; i < want.data.length; i++) {
    const d = Math.abs(got.data[i] - want.data[i]);
    if (Number.isNaN(d)) maxAbs = Infinity; // a NaN anywhere fails the check
    else if (d > maxAbs) maxAbs = d;
    sumAbs += d;
  }
  const ok = maxAbs <= atol;
  process.stdout.write(JSON.stringify({ model, shape: want.shape, max_abs_diff: maxAbs, mean_abs_diff: sumAbs / want.data.length, atol, ok }) + '\n');
  process.exit(ok ? 0 : 1);
}

main().catch((e) => { process.stderr.write(`check_fixture: ${e.stack || e}\n`); process.exit(1); });
