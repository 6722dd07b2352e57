#!/usr/bin/env bash
# Many models of one architecture: kiln (one engine, one plan) against ONNX Runtime (one
# session per model), and a fresh process's time to its first result from a warm pack cache.
#
#   bench/compare_shared.sh [--runs 15] [--threads 2] [--count 10]
#
# Generates, when missing, bench/models/unet16_x10/m{0..9}/model.onnx: U-Net-16 at 256x256
# with ten different seeds (tools/make_unet.py; bench/models/ is gitignored). Runs, one after
# another in fresh processes: `kiln bench --models ...`, `bench_ort.js --sessions 10`, then
# `kiln run` of U-Net-64 with a weight-pack cache, three times after filling the cache.
# Prints the results and checks them against the shared-plan issue's targets.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
RUNS=15
THREADS=2
COUNT=10
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --count) COUNT="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "compare_shared.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
OUT=bench/models/compare_shared
mkdir -p "$OUT"
models=()
for i in $(seq 0 $((COUNT - 1))); do
  d="bench/models/unet16_x10/m$i"
  if [[ ! -s "$d/model.onnx" ]]; then
    echo "generating $d ..." >&2
    "$PYTHON" tools/make_unet.py --width 16 --height 256 --width-px 256 --seed "$i" --out "$d" --no-reference >/dev/null
  fi
  models+=("$d/model.onnx")
done
if [[ ! -s bench/models/unet64/model.onnx ]]; then
  "$PYTHON" tools/make_unet.py --width 64 --height 256 --width-px 256 --seed 0 --out bench/models/unet64 --no-reference >/dev/null
fi
if [[ ! -s bench/models/input_256.npy ]]; then
  "$PYTHON" -c "import numpy as np; np.random.seed(0); np.save('bench/models/input_256.npy', np.random.rand(1,1,256,256).astype(np.float32))"
fi
if [[ ! -d bench/ort/node_modules/onnxruntime-node ]]; then
  (cd bench/ort && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund >&2)
fi

echo "kiln: $COUNT models on one engine ..." >&2
"$KILN" bench --models "${models[@]}" --input-shape 1,1,256,256 --runs "$RUNS" --threads "$THREADS" --json \
  | grep -E '^\{' | tail -n 1 > "$OUT/kiln.json"
echo "onnxruntime: $COUNT sessions ..." >&2
"$NODE" bench/ort/bench_ort.js --sessions "$COUNT" "${models[@]}" --shape 1,1,256,256 --runs "$RUNS" \
  --threads "$THREADS" --no-spin | grep -E '^\{' | tail -n 1 > "$OUT/ort.json"
echo "kiln: U-Net-64 steady ..." >&2
"$KILN" bench bench/models/unet64/model.onnx --input-shape 1,1,256,256 --runs "$RUNS" --threads "$THREADS" --json \
  | grep -E '^\{' | tail -n 1 > "$OUT/unet64.json"
echo "kiln: U-Net-64 fresh processes with a warm pack cache ..." >&2
cache=$(mktemp -d)
"$KILN" run bench/models/unet64/model.onnx --input bench/models/input_256.npy --cache-dir "$cache" >/dev/null
: > "$OUT/cold.txt"
for k in 1 2 3; do
  s=$(date +%s%N)
  "$KILN" run bench/models/unet64/model.onnx --input bench/models/input_256.npy --cache-dir "$cache" --threads "$THREADS" >/dev/null
  e=$(date +%s%N)
  echo $(( (e - s) / 1000000 )) >> "$OUT/cold.txt"
done
rm -rf "$cache"

"$NODE" - "$OUT" <<'JS'
const fs = require('fs');
const dir = process.argv[2];
const k = JSON.parse(fs.readFileSync(`${dir}/kiln.json`, 'utf8'));
const o = JSON.parse(fs.readFileSync(`${dir}/ort.json`, 'utf8'));
const u = JSON.parse(fs.readFileSync(`${dir}/unet64.json`, 'utf8'));
const cold = fs.readFileSync(`${dir}/cold.txt`, 'utf8').trim().split('\n').map(Number);
const f = (x, d = 1) => (typeof x === 'number' && isFinite(x) ? x.toFixed(d) : 'n/a');
const m = k.models;
console.log('| model | prepare ms (import/compile/pack/warm-up) | plan | first ms | steady ms | first/steady |');
console.log('| --- | --- | --- | ---: | ---: | ---: |');
m.forEach((r, i) => console.log(`| ${i + 1} | ${f(r.prepare_ms)} (${f(r.import_ms)}/${f(r.compile_ms)}/${f(r.pack_ms)}/${f(r.warmup_ms)}) | ` +
  `${r.plan_shared ? 'shared' : 'new'} | ${f(r.first_ms, 2)} | ${f(r.steady_median_ms, 2)} | ${f(r.first_ms / r.steady_median_ms, 2)} |`));
const later = m.slice(1).map((r) => r.prepare_ms / m[0].prepare_ms);
const packed = m[0].weight_bytes;
const bound = (m.length * packed + k.arena_bytes) / 1048576 + 64;
const checks = [
  [`preparing models 2..${m.length}: at most ${f(100 * Math.max(...later))}% of model 1 (${f(m[0].prepare_ms)} ms)`, Math.max(...later) <= 0.05],
  [`switching: alternating ${f(k.alternating_ms, 2)} ms vs repeating ${f(k.same_model_ms, 2)} ms (${k.switch_cost_ms >= 0 ? '+' : ''}${f(k.switch_cost_ms, 2)} ms)`, k.switch_cost_ms <= 1],
  [`RSS with ${m.length} models ${f(k.rss_after_load_mb)} MB <= ${m.length} x ${f(packed / 1048576, 2)} MiB packed + arena ${f(k.arena_bytes / 1048576)} MiB + 64 MiB = ${f(bound)} MB`, k.rss_after_load_mb <= bound],
  [`RSS vs ONNX Runtime with ${m.length} sessions: ${f(o.peak_rss_mb)} / ${f(k.rss_after_load_mb)} = ${f(o.peak_rss_mb / k.rss_after_load_mb, 2)}x smaller`, o.peak_rss_mb / k.rss_after_load_mb >= 3],
  [`first run after ready: at most ${f(Math.max(...m.map((r) => r.first_ms / r.steady_median_ms)), 2)}x steady`, Math.max(...m.map((r) => r.first_ms / r.steady_median_ms)) <= 1.1],
  [`U-Net-64 fresh process to first result with a warm cache: ${cold.join(', ')} ms vs steady ${f(u.steady_median_ms)} + 250 ms`, Math.max(...cold) <= u.steady_median_ms + 250],
];
console.log('');
console.log(`ONNX Runtime ${o.version}, ${m.length} sessions (spinning off): load all ${f(o.load_all_ms)} ms, ` +
  `alternating ${f(o.alternating_ms, 2)} ms, same model ${f(o.same_model_ms, 2)} ms, peak RSS ${f(o.peak_rss_mb)} MB`);
console.log(`kiln: ${k.plans} plan for ${m.length} models; weights ${f(k.weight_bytes_resident / 1e6)} MB resident, ` +
  `${f(k.weight_bytes_mapped / 1e6)} MB mapped; arena ${f(k.arena_bytes / 1e6)} MB; plan ~${f(k.plan_bytes / 1e6)} MB`);
console.log('');
for (const [text, ok] of checks) console.log(`- [${ok ? 'x' : ' '}] ${text}`);
JS
