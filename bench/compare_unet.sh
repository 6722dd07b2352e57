#!/usr/bin/env bash
# Compare kiln with ONNX Runtime (CPU, via onnxruntime-node) on the classic U-Net at 256x256,
# and on a volumetric (3-D) U-Net at 32x64x64.
#
#   bench/compare_unet.sh [--runs 15] [--threads 2] [--models "unet16 unet64"] [--conv "direct winograd"]
#                         [--ort-only|--kiln-only]
#
# Generates, when missing, bench/models/unetB/model.onnx (tools/make_unet.py: base width B,
# batch 1, 1x256x256) and bench/models/unet3dB/model.onnx (tools/make_unet3d.py: base width B,
# three levels, batch norms, 1x32x64x64), without reference data (bench/models/ is gitignored).
#   bench/compare_unet.sh --models "unet3d8 unet3d16" --conv direct
# Then, for each model, runs `build/kiln bench ... --json` and `node bench/ort/bench_ort.js ...`
# (once per --conv algorithm) one after the other, each in a fresh process (never in parallel: the timings would disturb each
# other), and prints a markdown table. The raw JSON lines go to bench/models/compare_unet.jsonl.
#
# Environment: KILN (default build/kiln), PYTHON (default /usr/bin/python3, which needs torch and
# onnx), NODE (default node).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
RUNS=15
THREADS=2
MODELS="unet16 unet64"
DO_KILN=1
CONVS="direct winograd"
DO_ORT=1
H=256
W=256

while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --models) MODELS="$2"; shift 2 ;;
    --conv) CONVS="$2"; shift 2 ;;
    --ort-only) DO_KILN=0; shift ;;
    --kiln-only) DO_ORT=0; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "compare_unet.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

SHAPE="1,1,$H,$W"
OUT_JSONL="bench/models/compare_unet.jsonl"
mkdir -p bench/models
: > "$OUT_JSONL"

D3=32  # the volumes' depth, height and width
H3=64
W3=64

width_of() {  # unet16 -> 16, unet3d16 -> 16
  local w="${1#unet}"
  w="${w#3d}"
  [[ "$w" =~ ^[0-9]+$ ]] || { echo "compare_unet.sh: model names look like unetB or unet3dB, got $1" >&2; exit 2; }
  echo "$w"
}
is_volume() { [[ "$1" == unet3d* ]]; }
shape_of() { if is_volume "$1"; then echo "1,1,$D3,$H3,$W3"; else echo "$SHAPE"; fi; }

# 1. Models.
for m in $MODELS; do
  f="bench/models/$m/model.onnx"
  if [[ ! -s "$f" ]]; then
    echo "generating $f ..." >&2
    if is_volume "$m"; then
      "$PYTHON" tools/make_unet3d.py --width "$(width_of "$m")" --depth "$D3" --size "$H3" --seed 0 \
        --out "bench/models/$m" --no-reference >&2
    else
      "$PYTHON" tools/make_unet.py --width "$(width_of "$m")" --height "$H" --width-px "$W" \
        --batch 1 --seed 0 --out "bench/models/$m" --no-reference >&2
    fi
  fi
done

# 2. ONNX Runtime for Node (offline-safe install: skip the postinstall's binary download).
if [[ $DO_ORT -eq 1 && ! -d bench/ort/node_modules/onnxruntime-node ]]; then
  echo "installing onnxruntime-node in bench/ort ..." >&2
  if [[ -f bench/ort/package-lock.json ]]; then
    (cd bench/ort && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund >&2)
  else
    (cd bench/ort && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund >&2)
  fi
fi

if [[ $DO_KILN -eq 1 && ! -x "$KILN" ]]; then
  echo "compare_unet.sh: $KILN not found or not executable; kiln rows will be n/a (build it, or --ort-only)" >&2
fi

# Print the last line of stdin that looks like a JSON object (tools may log before it).
last_json() { grep -E '^\s*\{' | tail -n 1; }

# 3. Runs, strictly one after another.
for m in $MODELS; do
  f="bench/models/$m/model.onnx"
  for conv in $CONVS; do
    [[ $DO_KILN -eq 1 && -x "$KILN" ]] || break
    rt="kiln"; [[ "$conv" == direct ]] || rt="kiln-$conv"
    echo "$rt: $m ..." >&2
    if line="$("$KILN" bench "$f" --input-shape "$(shape_of "$m")" --runs "$RUNS" --threads "$THREADS" --conv "$conv" --json \
        | last_json)" && [[ -n "$line" ]]; then
      printf '{"model":"%s","runtime":"%s","result":%s}\n' "$m" "$rt" "$line" >> "$OUT_JSONL"
    else
      echo "compare_unet.sh: kiln bench --conv $conv failed on $m" >&2
    fi
  done
  if [[ $DO_ORT -eq 1 ]]; then
    echo "onnxruntime: $m ..." >&2
    if line="$("$NODE" bench/ort/bench_ort.js "$f" --shape "$(shape_of "$m")" --runs "$RUNS" --warmup 0 \
        --threads "$THREADS" | last_json)" && [[ -n "$line" ]]; then
      printf '{"model":"%s","runtime":"onnxruntime","result":%s}\n' "$m" "$line" >> "$OUT_JSONL"
    else
      echo "compare_unet.sh: bench_ort.js failed on $m" >&2
    fi
  fi
done

# 4. Table.
"$NODE" - "$OUT_JSONL" "$MODELS" <<'EOF'
const fs = require('fs');
const [file, modelList] = process.argv.slice(2);
const rows = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
const num = (x, d = 1) => (typeof x === 'number' && isFinite(x) ? x.toFixed(d) : 'n/a');
const createMs = (r) => {
  if (r.runtime === 'onnxruntime') return r.result.create_ms;
  const k = r.result;  // kiln: load + compile + pack is what ORT's create covers
  const parts = [k.load_ms, k.compile_ms, k.pack_ms].filter((x) => typeof x === 'number');
  return parts.length ? parts.reduce((a, b) => a + b, 0) : undefined;
};
console.log('| model | runtime | create ms | first ms | steady median ms | p90 | first/steady | peak RSS MB |');
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
const models = modelList.split(/\s+/).filter(Boolean);
for (const m of models) {
  const kilns = [...new Set(rows.filter((x) => x.runtime.startsWith('kiln')).map((x) => x.runtime))];
  for (const rt of [...(kilns.length ? kilns : ['kiln']), 'onnxruntime']) {
    const r = rows.find((x) => x.model === m && x.runtime === rt);
    if (!r) { console.log(`| ${m} | ${rt} | n/a | n/a | n/a | n/a | n/a | n/a |`); continue; }
    const s = r.result;
    const label = rt === 'onnxruntime' && s.version ? `onnxruntime ${s.version}` : rt;
    console.log(`| ${m} | ${label} | ${num(createMs(r))} | ${num(s.first_ms)} | ${num(s.steady_median_ms, 2)} | ` +
      `${num(s.steady_p90_ms, 2)} | ${num(s.first_ms / s.steady_median_ms, 2)} | ${num(s.peak_rss_mb)} |`);
  }
}
console.log('');
for (const m of models) for (const k of rows.filter((x) => x.model === m && x.runtime.startsWith('kiln'))) {
  const o = rows.find((x) => x.model === m && x.runtime === 'onnxruntime');
  const ratio = k && o ? k.result.steady_median_ms / o.result.steady_median_ms : NaN;
  let extra = '';
  if (k) {
    const r = k.result;
    extra = ` (kiln load ${num(r.load_ms)} + compile ${num(r.compile_ms)} + pack ${num(r.pack_ms)} ms,` +
      ` then a warm-up run of ${num(r.warmup_ms)} ms before "ready"` +
      `${typeof r.gflops === 'number' ? `, gflops ${num(r.gflops, 1)}` : ''})`;
  }
  console.log(`- ${m}: ${k.runtime}/ORT steady median ratio ${num(ratio, 2)}` +
    `${isFinite(ratio) ? (ratio < 1 ? ' (kiln faster)' : ' (ORT faster)') : ''}${extra}`);
}
console.log('\nPeak RSS for onnxruntime includes the Node.js runtime itself (node alone ~39 MB, +onnxruntime-node loaded ~51 MB).');
EOF
