#!/usr/bin/env bash
# The whole speed picture of this CPU in one run: its measured peak, kiln's precisions and
# algorithms against ONNX Runtime on U-Net-64 and U-Net-16 (256x256, batch 1), and how each
# holds up with one core kept busy by another process.
#
#   bench/compare_cpu.sh [--runs 8] [--busy-runs 30] [--threads 2] [--models "unet64 unet16"]
#
# Runs, one after another in fresh processes under `flock /tmp/kiln-build.lock`:
#  - build/peak (fp32 FMA, bf16 dot, int8 dot on every core);
#  - per model: `kiln bench` with fp32 (direct), --conv winograd, --precision bf16, int8 with
#    every int8-capable convolution int8, int8 with all of them kept out (what a calibration
#    that keeps layers out of int8 costs at worst), auto and auto-bf16; then ONNX Runtime
#    (bench/ort/bench_ort.js, its default settings);
#  - U-Net-16 quiet and with one core busy (a bounded `while :; do :; done` beside it), in
#    turn: kiln fp32 and auto with kiln's default OpenMP wait policy (PASSIVE), kiln fp32 with
#    libgomp's spinning (OMP_WAIT_POLICY=ACTIVE), ONNX Runtime with and without spinning.
# Prints a markdown table and checks the figures against issue 16's targets. The int8
# calibrations are made by `kiln quantize` on one fixed input (bench/models/input_256.npy),
# written next to the bench copies of the models. Results: bench/models/compare_cpu/.
#
# Environment: KILN (default build/kiln), PEAK (build/peak), PYTHON, NODE, LOCK.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOCK="${LOCK:-/tmp/kiln-build.lock}"
PEAK="${PEAK:-build/peak}"
RUNS=8
BUSY_RUNS=30
THREADS=2
MODELS="unet64 unet16"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --busy-runs) BUSY_RUNS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --models) MODELS="$2"; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "compare_cpu.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
for v in RUNS BUSY_RUNS THREADS; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "compare_cpu.sh: --$(echo "$v" | tr 'A-Z_' 'a-z-') must be a positive whole number" >&2; exit 2; }
done
[[ -x "$KILN" && -x "$PEAK" ]] || { echo "compare_cpu.sh: build kiln first (cmake --build build): $KILN, $PEAK" >&2; exit 2; }

OUT=bench/models/compare_cpu
mkdir -p "$OUT"
: > "$OUT/results.jsonl"
if [[ ! -s bench/models/input_256.npy ]]; then
  "$PYTHON" -c "import numpy as np; np.random.seed(0); np.save('bench/models/input_256.npy', np.random.rand(1,1,256,256).astype(np.float32))"
fi
mkdir -p "$OUT/calibration_input"
cp bench/models/input_256.npy "$OUT/calibration_input/input.npy"
if [[ ! -d bench/ort/node_modules/onnxruntime-node ]]; then
  (cd bench/ort && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund >&2)
fi

locked() { flock "$LOCK" "$@"; }
# record LABEL JSON-LINE-PRODUCING-COMMAND...: appends {"label":..., ...the command's last JSON line}
record() {
  local label="$1"; shift
  local line
  line=$("$@" 2> "$OUT/last.err" | grep -E '^\{' | tail -n 1) || true
  if [[ -z "$line" ]]; then
    echo "compare_cpu.sh: $label failed:" >&2; tail -n 5 "$OUT/last.err" >&2
    line='{"failed": true}'
  fi
  "$NODE" -e 'const [l, j] = process.argv.slice(1); console.log(JSON.stringify({label: l, ...JSON.parse(j)}))' \
    "$label" "$line" >> "$OUT/results.jsonl"
  echo "  $label done" >&2
}
busy_start() {
  # One core kept busy, bounded in time whatever happens to this script.
  timeout 600 sh -c 'while :; do :; done' &
  BUSY_PID=$!
  sleep 0.5
}
busy_stop() { kill "$BUSY_PID" 2>/dev/null || true; wait "$BUSY_PID" 2>/dev/null || true; }
trap busy_stop EXIT
BUSY_PID=0

echo "peak ..." >&2
locked "$PEAK" > "$OUT/peak.txt"
"$NODE" -e '
const t = require("fs").readFileSync(process.argv[1], "utf8");
const num = (re) => { const m = t.match(re); return m ? Number(m[1]) : null; };
console.log(JSON.stringify({label: "peak", fp32: num(/fp32 FMA[^\n]*?([\d.]+) GFLOP/), bf16: num(/bf16 dot[^\n]*?([\d.]+) GFLOP/), int8: num(/int8 dot[^\n]*?([\d.]+) GOP/)}));
' "$OUT/peak.txt" >> "$OUT/results.jsonl"

for m in $MODELS; do
  width="${m#unet}"
  model="bench/models/$m/model.onnx"
  if [[ ! -s "$model" ]]; then
    echo "generating $model ..." >&2
    "$PYTHON" tools/make_unet.py --width "$width" --height 256 --width-px 256 --seed 0 --out "bench/models/$m" --no-reference >/dev/null
  fi
  runs=$RUNS
  # int8 calibrations: every int8-capable convolution in int8, and all of them kept out.
  all_int8="$OUT/$m.all_int8.calibration.json"
  none_int8="$OUT/$m.none_int8.calibration.json"
  if [[ ! -s "$all_int8" ]]; then
    locked "$KILN" quantize "$model" --calibration "$OUT/calibration_input" --target-iou 0 -o "$all_int8" >&2
  fi
  # Every convolution kept out by name (names not int8-capable are simply never int8).
  "$PYTHON" - "$model" "$all_int8" "$none_int8" <<'PY'
import json, sys, onnx
model, cal, out = sys.argv[1:]
c = json.load(open(cal))
c["float_layers"] = [n.name for n in onnx.load(model, load_external_data=False).graph.node if n.op_type == "Conv"]
json.dump(c, open(out, "w"))
PY
  echo "$m: kiln variants ..." >&2
  k() { locked "$KILN" bench "$model" --input-shape 1,1,256,256 --runs "$runs" --threads "$THREADS" --json "$@"; }
  record "$m fp32" k
  record "$m winograd" k --conv winograd
  record "$m bf16" k --precision bf16
  record "$m int8" k --precision int8 --calibration-file "$all_int8"
  record "$m int8 kept-out" k --precision int8 --calibration-file "$none_int8"
  record "$m auto" k --precision auto
  record "$m auto-bf16" k --precision auto-bf16
  echo "$m: ONNX Runtime ..." >&2
  record "$m ort" locked "$NODE" bench/ort/bench_ort.js "$model" --shape 1,1,256,256 --runs "$runs" --threads "$THREADS"
done

# One busy core: each configuration quiet, then busy, in turn.
model=bench/models/unet16/model.onnx
if [[ -s "$model" ]]; then
  echo "unet16 with one core busy ..." >&2
  kb() { locked "$KILN" bench "$model" --input-shape 1,1,256,256 --runs "$BUSY_RUNS" --threads "$THREADS" --json "$@"; }
  kspin() { OMP_WAIT_POLICY=ACTIVE locked "$KILN" bench "$model" --input-shape 1,1,256,256 --runs "$BUSY_RUNS" --threads "$THREADS" --json "$@"; }
  ob() { locked "$NODE" bench/ort/bench_ort.js "$model" --shape 1,1,256,256 --runs "$BUSY_RUNS" --threads "$THREADS" "$@"; }
  for cfg in "fp32|kb" "auto|kb --precision auto" "fp32 spinning|kspin" "ort|ob" "ort no-spin|ob --no-spin"; do
    name="${cfg%%|*}"; cmd="${cfg#*|}"
    # shellcheck disable=SC2086
    record "busy-quiet $name" $cmd
    busy_start
    # shellcheck disable=SC2086
    record "busy-busy $name" $cmd
    busy_stop
  done
fi

"$NODE" - "$OUT/results.jsonl" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" <<'JS' | tee "$OUT/table.md"
const fs = require('fs');
const [file, cpu] = process.argv.slice(2);
const rows = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const by = Object.fromEntries(rows.map((r) => [r.label, r]));
const f = (x, d = 1) => (typeof x === 'number' && isFinite(x) ? x.toFixed(d) : 'n/a');
const ms = (r) => (r && !r.failed ? r.steady_median_ms : NaN);
const p = by.peak || {};
console.log(`CPU: ${cpu}; ${rows.find((r) => r.threads)?.threads ?? '?'} threads; ` +
  `peak fp32 ${f(p.fp32)} GFLOP/s, bf16 ${f(p.bf16)} GFLOP/s, int8 ${f(p.int8)} GOP/s ` +
  `(bf16/fp32 ${f(p.bf16 / p.fp32, 2)}x)`);
console.log('');
console.log('| model | configuration | steady median ms | x fp32 direct | x ONNX Runtime throughput | convolutions | compile ms |');
console.log('| --- | --- | ---: | ---: | ---: | --- | ---: |');
const checks = [];
for (const m of ['unet64', 'unet16']) {
  if (!by[`${m} fp32`]) continue;
  const base = ms(by[`${m} fp32`]), ort = ms(by[`${m} ort`]);
  for (const c of ['fp32', 'winograd', 'bf16', 'int8', 'int8 kept-out', 'auto', 'auto-bf16', 'ort']) {
    const r = by[`${m} ${c}`];
    if (!r) continue;
    const conv = r.conv_variants ? Object.entries(r.conv_variants).map(([k, n]) => `${n} ${k}`).join(', ') : '';
    const name = c === 'ort' ? `ONNX Runtime ${r.version ?? ''}` : `kiln ${c}`;
    console.log(`| ${m} | ${name} | ${f(ms(r), 2)} | ${f(base / ms(r), 2)}x | ${f(ort / ms(r), 2)}x | ${conv} | ${f(r.compile_ms, 0)} |`);
  }
  const auto = ms(by[`${m} auto`]), int8 = ms(by[`${m} int8`]), kept = ms(by[`${m} int8 kept-out`]);
  checks.push([`${m}: auto ${f(auto, 1)} ms <= fp32 direct ${f(base, 1)} ms`, auto <= base * 1.02]);
  checks.push([`${m}: auto-bf16 ${f(ms(by[`${m} auto-bf16`]), 1)} ms <= fp32 direct ${f(base, 1)} ms`, ms(by[`${m} auto-bf16`]) <= base * 1.02]);
  checks.push([`${m}: int8 ${f(int8, 1)} ms and int8 with every layer kept out ${f(kept, 1)} ms <= fp32 direct ${f(base, 1)} ms`, int8 <= base * 1.02 && kept <= base * 1.02]);
  if (m === 'unet64') {
    checks.push([`unet64: auto ${f(ort / auto, 2)}x ONNX Runtime's throughput (>= 1.5x)`, ort / auto >= 1.5]);
    checks.push([`unet64: all-int8 ${f(ort / int8, 2)}x ONNX Runtime's throughput (>= 3x)`, ort / int8 >= 3]);
  }
}
const busy = ['fp32', 'auto', 'fp32 spinning', 'ort', 'ort no-spin'].filter((c) => by[`busy-quiet ${c}`]);
if (busy.length) {
  console.log('');
  console.log('U-Net-16 256x256, one of the cores kept busy by another process:');
  console.log('');
  console.log('| configuration | quiet ms | one core busy ms | slowdown |');
  console.log('| --- | ---: | ---: | ---: |');
  const slow = {};
  for (const c of busy) {
    const q = ms(by[`busy-quiet ${c}`]), b = ms(by[`busy-busy ${c}`]);
    slow[c] = b / q;
    const name = c.startsWith('ort') ? `ONNX Runtime${c === 'ort' ? ' (default: spinning)' : ' (spinning off)'}` :
      `kiln ${c}${c.includes('spinning') ? ' (OMP_WAIT_POLICY=ACTIVE)' : ' (default: PASSIVE)'}`;
    console.log(`| ${name} | ${f(q, 2)} | ${f(b, 2)} | ${f(b / q, 2)}x |`);
  }
  checks.push([`one core busy: kiln's slowdown ${f(slow.fp32, 2)}x (fp32), ${f(slow.auto, 2)}x (auto) <= 2.2x and below ONNX Runtime's ${f(slow.ort, 2)}x`,
    slow.fp32 <= 2.2 && slow.auto <= 2.2 && slow.fp32 < slow.ort && slow.auto < slow.ort]);
}
console.log('');
for (const [text, ok] of checks) console.log(`- [${ok ? 'x' : ' '}] ${text}`);
JS
