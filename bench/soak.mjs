// The soak's driver (bench/soak.sh starts the server and calls this). For --seconds it keeps
// --clients connections busy with a mix of requests to a running `kiln serve` on loopback:
// binary infer to model A (U-Net-16), JSON infer to A, segment of a PNG by model B (the demo
// model), health, readiness, the model list and metrics; every few seconds it swaps A's
// weights (the repository is polled), and unloads and loads model C through the repository
// API. Every 2 s it samples the server's RSS and open file descriptors (/proc/PID). Prints one
// JSON line: requests by kind, failures that should have succeeded (any non-2xx to A, B or the
// health endpoints; C may answer 404/503 while it is unloaded), and the RSS and fd slopes over
// the second half (least squares).
//
//   node bench/soak.mjs --port P --pid PID --repo DIR --token T --body body.bin --header-length N
//                       --png img.png [--seconds 300] [--clients 4]
import fs from 'node:fs';
import http from 'node:http';

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, all) => (v.startsWith('--') ? a.concat([[v.slice(2), all[i + 1]]]) : a), []));
const port = Number(args.port), pid = Number(args.pid), seconds = Number(args.seconds ?? 300), clients = Number(args.clients ?? 4);
const body = fs.readFileSync(args.body), png = fs.readFileSync(args.png);
const headerLength = String(args['header-length']);
const agent = new http.Agent({ keepAlive: true, maxSockets: clients + 2 });

function request(method, path, data, headers = {}) {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers: { ...headers, 'Content-Length': data ? data.length : 0 } },
      (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.setTimeout(60000, () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    if (data) req.write(data);
    req.end();
  });
}

const json = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 1, 256, 256], datatype: 'FP32', data: Array.from({ length: 65536 }, (_, i) => (i % 97) / 97) }] }));
const kinds = {
  binary: () => request('POST', '/v2/models/unet16/infer', body, { 'Inference-Header-Content-Length': headerLength, 'Content-Type': 'application/octet-stream' }),
  json: () => request('POST', '/v2/models/unet16/infer', json, { 'Content-Type': 'application/json' }),
  segment: () => request('POST', '/kiln/v1/models/leather/segment', png, { 'Content-Type': 'image/png' }),
  live: () => request('GET', '/v2/health/live'),
  model_ready: () => request('GET', '/v2/models/unet16/ready'),
  list: () => request('GET', '/kiln/v1/models'),
  metrics: () => request('GET', '/metrics'),
};
const mix = ['binary', 'binary', 'binary', 'json', 'segment', 'live', 'model_ready', 'list', 'metrics'];
const count = {}, failed = {};
const end = Date.now() + seconds * 1000;

async function client(k) {
  let i = k;
  while (Date.now() < end) {
    const kind = mix[i++ % mix.length];
    const status = await kinds[kind]();
    count[kind] = (count[kind] ?? 0) + 1;
    if (status < 200 || status > 299) failed[kind] = (failed[kind] ?? 0) + 1;
  }
}

// Weight swaps (the server polls the repository) and a model unloaded and loaded again.
let swaps = 0, reloads = 0, controlFailed = 0;
async function churn() {
  const weights = [`${args.repo}/unet16/a.onnx`, `${args.repo}/unet16/b.onnx`];
  const auth = { Authorization: `Bearer ${args.token}`, 'Content-Type': 'application/json' };
  while (Date.now() < end - 3000) {
    await new Promise((r) => setTimeout(r, 2500));
    if (args.swaps !== 'off') {
      fs.copyFileSync(weights[swaps % 2], `${args.repo}/unet16/weights.onnx.tmp`);
      fs.renameSync(`${args.repo}/unet16/weights.onnx.tmp`, `${args.repo}/unet16/weights.onnx`);
      swaps++;
    }
    if (args.reloads !== 'off') {
      if ((await request('POST', '/v2/repository/models/speckle/unload', Buffer.from('{}'), auth)) !== 200) controlFailed++;
      if ((await request('POST', '/v2/repository/models/speckle/load', Buffer.from('{}'), auth)) !== 200) controlFailed++;
      reloads++;
    }
  }
}

function sample() {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(status.match(/VmRSS:\s+(\d+)/)[1]) / 1024;
  const fds = fs.readdirSync(`/proc/${pid}/fd`).length;
  return { t: (Date.now() - start) / 1000, rss, fds };
}
const start = Date.now();
const samples = [sample()];
const sampler = setInterval(() => samples.push(sample()), 2000);
await Promise.all([...Array.from({ length: clients }, (_, k) => client(k)), churn()]);
clearInterval(sampler);
samples.push(sample());

function slope(points, key) {  // per minute, least squares over the second half
  const p = points.slice(Math.floor(points.length / 2));
  const n = p.length, mt = p.reduce((s, q) => s + q.t, 0) / n, mv = p.reduce((s, q) => s + q[key], 0) / n;
  const num = p.reduce((s, q) => s + (q.t - mt) * (q[key] - mv), 0), den = p.reduce((s, q) => s + (q.t - mt) ** 2, 0);
  return den > 0 ? (num / den) * 60 : 0;
}
if (args.samples) fs.writeFileSync(args.samples, JSON.stringify(samples));
const total = Object.values(count).reduce((a, b) => a + b, 0);
console.log(JSON.stringify({
  seconds, clients, requests: total, by_kind: count, failed, failed_total: Object.values(failed).reduce((a, b) => a + b, 0),
  weight_swaps: swaps, reloads, control_failed: controlFailed,
  rss_mb_first: samples[0].rss, rss_mb_last: samples.at(-1).rss, rss_mb_max: Math.max(...samples.map((s) => s.rss)),
  rss_mb_per_min_second_half: slope(samples, 'rss'),
  fds_first: samples[0].fds, fds_last: samples.at(-1).fds, fds_per_min_second_half: slope(samples, 'fds'),
}));
agent.destroy();
