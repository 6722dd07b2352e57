#!/usr/bin/env bash
# Compare kiln with ONNX Runtime, LibTorch (TorchScript) and OpenCV DNN on the classic U-Net.
#
#   bench/compare_peers.sh [--models "unet16 unet64"] [--sizes "256 512"] [--batches "1 4"]
#                          [--runs 10] [--big-runs 3] [--threads 2] [--kiln "direct winograd bf16 int8"]
#                          [--peers "ort torch opencv"] [--skip RULE]... [--timeout 1200] [--retries 1]
#                          [--torch-malloc tuned|default|both] [--append] [--regen] [--table-only]
#
# For every model x size x batch (unetB = base width B, input N x 1 x size x size):
#  - exports, when missing, bench/models/unetB_SxS_bN/{model.onnx,model.pt} (bench/peers/export_unet.py:
#    one static-shape ONNX per shape, because ONNX Runtime refuses other shapes than the declared
#    ones, plus the traced TorchScript; the weights are those of make_unet.py --seed 0 at 256x256,
#    the same in every shape) and bench/models/inputs/input_Nx1xSxS.npy (fixed seed);
#  - runs, strictly one after another and each in a fresh process: `kiln bench` per --kiln
#    variant (direct, winograd, auto: --conv; bf16, int8: --precision; int8 first calibrates with
#    `kiln quantize` on the bench input itself, written next to the model) and `kiln run` to save
#    kiln's output, then bench/ort/bench_ort.js, bench/peers/bench_torch.py
#    and bench/peers/bench_opencv.py, each fed the same input .npy and saving its output;
#  - compares every output with kiln's (direct, fp32) and flags max |diff| > 1e-3 (0.1 for bf16).
# Raw JSON lines go to bench/models/compare_peers.jsonl, the markdown table to stdout and to
# bench/models/compare_peers.md. Logs and outputs: bench/models/peers_out/<config>/.
#
# --runs: timed runs after the first. Configurations of 16x U-Net-64's 256x256 batch-1 work or more
#   (U-Net-64 at 512x512, or at batch 4) use --big-runs instead (default 3: one OpenCV run of U-Net-64
#   at 512x512 batch 4 takes ~15 s); pass --big-runs 10 to time them as long as the others.
# --skip "opencv:unet64:512:4=too slow": skip a runtime in a configuration; RULE is
#   runtime:model:size:batch with shell wildcards (runtime: kiln, ort, torch, opencv) and an optional
#   =reason; the row then reads "n/a (skipped: reason)". Repeat --skip for several rules.
# --timeout SEC: kill any one benchmark process after SEC seconds (row: "n/a (timed out ...)").
# --retries N: rerun a benchmark up to N times if other processes used the CPU meanwhile.
# --torch-malloc: LibTorch is 2.5-3.6x faster on such machines with glibc's malloc told to keep
#   freed memory (../shared/BASELINES.md); "tuned" (default) compares against that, its best setting.
# --append keeps earlier results in the .jsonl (e.g. several invocations, one table);
# --regen re-exports the models; --table-only reprints the table from the .jsonl.
#
# Every benchmark process runs under `flock /tmp/kiln-build.lock` so it never overlaps another
# build or benchmark on this 2-core machine, and records how busy the rest of the machine was;
# disturbed rows are marked (!) in the table.
#
# Environment: KILN (default build/kiln), PYTHON (default /usr/bin/python3: torch, onnx, cv2),
# NODE (default node), LOCK (default /tmp/kiln-build.lock).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOCK="${LOCK:-/tmp/kiln-build.lock}"
TOOL=bench/peers/peers_tool.py
RUNS=10
BIG_RUNS=3
THREADS=2
MODELS="unet16 unet64"
SIZES="256 512"
BATCHES="1 4"
CONVS="direct winograd bf16 int8"
PEERS="ort torch opencv"
SKIPS=()
TIMEOUT=1200
RETRIES=1
TORCH_MALLOC=tuned
APPEND=0
REGEN=0
TABLE_ONLY=0

while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --big-runs) BIG_RUNS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --models) MODELS="$2"; shift 2 ;;
    --sizes) SIZES="$2"; shift 2 ;;
    --batches) BATCHES="$2"; shift 2 ;;
    --kiln|--conv) CONVS="$2"; shift 2 ;;
    --peers) PEERS="$2"; shift 2 ;;
    --skip) SKIPS+=("$2"); shift 2 ;;
    --retries) RETRIES="$2"; shift 2 ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    --torch-malloc) TORCH_MALLOC="$2"; shift 2 ;;
    --append) APPEND=1; shift ;;
    --regen) REGEN=1; shift ;;
    --table-only) TABLE_ONLY=1; shift ;;
    -h|--help) sed -n '2,39p' "$0"; exit 0 ;;
    *) echo "compare_peers.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

die() { echo "compare_peers.sh: $*" >&2; exit 2; }
for v in RUNS BIG_RUNS THREADS TIMEOUT RETRIES; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "--$(echo "$v" | tr 'A-Z_' 'a-z-') must be a whole number, got '${!v}'"
done
for p in $PEERS; do [[ "$p" =~ ^(ort|torch|opencv)$ ]] || die "unknown peer '$p' (ort, torch, opencv)"; done
for c in $CONVS; do [[ "$c" =~ ^(direct|winograd|auto|bf16|int8)$ ]] || die "unknown --kiln variant '$c' (direct, winograd, auto, bf16, int8)"; done
for s in $SIZES; do [[ "$s" =~ ^[0-9]+$ && $((s % 16)) -eq 0 ]] || die "sizes must be multiples of 16, got '$s'"; done
for b in $BATCHES; do [[ "$b" =~ ^[1-9][0-9]*$ ]] || die "batches must be positive, got '$b'"; done
[[ "$TORCH_MALLOC" =~ ^(tuned|default|both)$ ]] || die "--torch-malloc is tuned, default or both"

source scripts/deps.sh
kiln_install_packages "${KILN_BENCH_APT_PACKAGES[@]}"

OUT_JSONL=bench/models/compare_peers.jsonl
OUT_MD=bench/models/compare_peers.md
mkdir -p bench/models/inputs bench/models/peers_out

print_table() { "$PYTHON" "$TOOL" table "$OUT_JSONL" | tee "$OUT_MD"; }
if [[ $TABLE_ONLY -eq 1 ]]; then print_table; exit 0; fi
[[ $APPEND -eq 1 ]] || : > "$OUT_JSONL"

width_of() {  # unet16 -> 16
  local w="${1#unet}"
  [[ "$w" =~ ^[0-9]+$ ]] || die "model names look like unetB, got $1"
  echo "$w"
}

has_peer() { [[ " $PEERS " == *" $1 "* ]]; }

# The reason a runtime is skipped in a configuration, or nothing.
skip_reason() {  # runtime model size batch
  local key="$1:$2:$3:$4" rule pat
  for rule in "${SKIPS[@]}"; do
    pat="${rule%%=*}"
    # shellcheck disable=SC2053  # the rule is a glob pattern on purpose
    if [[ "$key" == $pat ]]; then
      if [[ "$rule" == *=* ]]; then echo "skipped: ${rule#*=}"; else echo "skipped: --skip $pat"; fi
      return
    fi
  done
}

# Print the last line of stdin that looks like a JSON object (tools may log before it).
last_json() { grep -E '^\s*\{' | tail -n 1; }
json_str() { "$PYTHON" -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$1"; }

if has_peer ort; then command -v "$NODE" >/dev/null && command -v npm >/dev/null \
  || die "ONNX Runtime runs in Node.js: install node and npm, or leave ort out of --peers"; fi
# 1. ONNX Runtime for Node (offline-safe install: skip the postinstall's binary download).
if has_peer ort && [[ ! -d bench/ort/node_modules/onnxruntime-node ]]; then
  echo "installing onnxruntime-node in bench/ort ..." >&2
  (cd bench/ort && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund >&2)
fi
[[ -z "$CONVS" || -x "$KILN" ]] || die "$KILN not found or not executable (build it, or --kiln '')"

# True if the run whose stats file is $1 shared the CPU with other work (see peers_tool.py run).
disturbed() {
  "$PYTHON" -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1]))["other_cores"] > 0.15 else 1)' "$1"
}

# Record one benchmark row. Usage: bench_row RUNTIME -- CMD ...
# Runs CMD under the lock and the timeout, keeps its stderr in the config's log directory, and
# appends {"kind":"bench",...,"result":<CMD's JSON line>} or {...,"error":"..."} to the .jsonl.
# A run disturbed by other processes is repeated (--retries); the table marks one still disturbed.
bench_row() {
  local rt="$1"; shift 2
  local log="$OUTDIR/$rt.log" stats="$OUTDIR/$rt.stats.json" line err load attempt ok
  for (( attempt = 0; attempt <= RETRIES; attempt++ )); do
    rm -f "$stats"
    echo "  $rt ..." >&2
    ok=0
    line="$(flock "$LOCK" "$PYTHON" "$TOOL" run --timeout "$TIMEOUT" --stats "$stats" -- "$@" 2>"$log" \
      | last_json)" && [[ -n "$line" ]] && ok=1
    if [[ $ok -eq 1 && $attempt -lt $RETRIES ]] && disturbed "$stats"; then
      echo "  $rt: other processes were using the CPU; running it again" >&2
    else
      break
    fi
  done
  if [[ $ok -eq 1 ]]; then
    err=""
  else
    line=""
    if [[ -s "$stats" ]] && grep -q '"timed_out": true' "$stats"; then
      err="timed out after $TIMEOUT s"
    else
      err="failed: $(grep -v '^\s*$' "$log" | tail -n 1 | cut -c1-200)"
    fi
    echo "  $rt: $err (log: $log)" >&2
  fi
  load="null"; [[ -s "$stats" ]] && load="$(cat "$stats")"
  local head
  head="$(printf '{"kind":"bench","model":"%s","size":%d,"batch":%d,"runtime":"%s","runs":%d,"threads":%d,"load":%s' \
    "$M" "$S" "$B" "$rt" "$NRUNS" "$THREADS" "$load")"
  # build/kiln is rebuilt by others between runs: record which binary this row measured.
  [[ "$rt" == kiln* ]] && head+="$(printf ',"kiln_binary":{"sha256":"%s","mtime":"%s"}' \
    "$(sha256sum "$KILN" | cut -c1-12)" "$(date -r "$KILN" '+%Y-%m-%d %H:%M:%S')")"
  if [[ -n "$line" ]]; then
    printf '%s,"result":%s}\n' "$head" "$line" >> "$OUT_JSONL"
  else
    printf '%s,"error":%s}\n' "$head" "$(json_str "$err")" >> "$OUT_JSONL"
  fi
}

skipped_row() {  # RUNTIME REASON
  echo "  $1: $2" >&2
  printf '{"kind":"bench","model":"%s","size":%d,"batch":%d,"runtime":"%s","skipped":%s}\n' \
    "$M" "$S" "$B" "$1" "$(json_str "$2")" >> "$OUT_JSONL"
}

TUNED_MALLOC=(MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824)

# 2. Configurations, one after another.
for M in $MODELS; do
  WIDTH="$(width_of "$M")"
  for S in $SIZES; do
    for B in $BATCHES; do
      SHAPE="$B,1,$S,$S"
      CFG="${M}_${S}x${S}_b${B}"
      DIR="bench/models/$CFG"
      OUTDIR="bench/models/peers_out/$CFG"
      INPUT="bench/models/inputs/input_${B}x1x${S}x${S}.npy"
      echo "$CFG:" >&2

      # Models and input. The export runs the network in PyTorch, so it takes the lock too.
      need_pt=0; has_peer torch && need_pt=1
      if [[ $REGEN -eq 1 || ! -s "$DIR/model.onnx" || ( $need_pt -eq 1 && ! -s "$DIR/model.pt" ) ]]; then
        echo "  exporting $DIR ..." >&2
        no_pt=(); [[ $need_pt -eq 1 ]] || no_pt=(--no-torchscript)
        flock "$LOCK" "$PYTHON" bench/peers/export_unet.py --width "$WIDTH" --seed 0 --shape "$SHAPE" \
          --out "$DIR" "${no_pt[@]}" >&2
      fi
      [[ -s "$INPUT" ]] || "$PYTHON" "$TOOL" input --shape "$SHAPE" --out "$INPUT"
      mkdir -p "$OUTDIR"
      rm -f "$OUTDIR"/*.npy

      # Big configurations get fewer timed runs (see --big-runs): work relative to U-Net-16 at
      # 256x256 batch 1 grows with width^2 x pixels x batch.
      units=$(( WIDTH * WIDTH * S * S * B / (16 * 16 * 256 * 256) ))
      NRUNS=$RUNS
      (( units > 16 && BIG_RUNS < RUNS )) && NRUNS=$BIG_RUNS

      outputs=()
      for conv in $CONVS; do
        rt="kiln"; [[ "$conv" == direct ]] || rt="kiln-$conv"
        case "$conv" in
          bf16|int8) variant=(--precision "$conv") ;;
          *) variant=(--conv "$conv") ;;
        esac
        why="$(skip_reason kiln "$M" "$S" "$B")"
        if [[ -n "$why" ]]; then skipped_row "$rt" "$why"; continue; fi
        if [[ "$conv" == int8 ]]; then
          mkdir -p "$OUTDIR/calibration" && cp "$INPUT" "$OUTDIR/calibration/"
          flock "$LOCK" "$KILN" quantize "$DIR/model.onnx" --calibration "$OUTDIR/calibration" --target-iou 0 \
            --check-images 0 --threads "$THREADS" > "$OUTDIR/quantize.log" 2>&1 ||
            echo "  kiln quantize failed (see $OUTDIR/quantize.log)" >&2
        fi
        bench_row "$rt" -- "$KILN" bench "$DIR/model.onnx" --input-shape "$SHAPE" --runs "$NRUNS" \
          --threads "$THREADS" "${variant[@]}" --json
        # kiln bench does not save outputs: one more fresh process for kiln's output on the input.
        flock "$LOCK" "$PYTHON" "$TOOL" run --timeout "$TIMEOUT" --stats "$OUTDIR/$rt-output.stats.json" -- \
          "$KILN" run "$DIR/model.onnx" --input "$INPUT" --output "$OUTDIR/$rt.npy" --threads "$THREADS" \
          "${variant[@]}" > "$OUTDIR/$rt-output.log" 2>&1 || echo "  $rt: kiln run failed (see $OUTDIR/$rt-output.log)" >&2
        outputs+=("$rt=$OUTDIR/$rt.npy")
      done

      for peer in $PEERS; do
        why="$(skip_reason "$peer" "$M" "$S" "$B")"
        case "$peer" in
          ort)
            rt=onnxruntime
            if [[ -n "$why" ]]; then skipped_row "$rt" "$why"; continue; fi
            bench_row "$rt" -- "$NODE" bench/ort/bench_ort.js "$DIR/model.onnx" --shape "$SHAPE" \
              --runs "$NRUNS" --warmup 0 --threads "$THREADS" --input-npy "$INPUT" --save-output "$OUTDIR/$rt.npy"
            outputs+=("$rt=$OUTDIR/$rt.npy")
            ;;
          torch)
            mallocs=tuned; [[ "$TORCH_MALLOC" == both ]] && mallocs="tuned default"
            [[ "$TORCH_MALLOC" == default ]] && mallocs=default
            for mal in $mallocs; do
              rt=libtorch; [[ "$TORCH_MALLOC" == both && "$mal" == default ]] && rt=libtorch-default-malloc
              if [[ -n "$why" ]]; then skipped_row "$rt" "$why"; continue; fi
              envs=(); [[ "$mal" == tuned ]] && envs=("${TUNED_MALLOC[@]}")
              bench_row "$rt" -- env "${envs[@]}" "$PYTHON" bench/peers/bench_torch.py "$DIR/model.pt" \
                --shape "$SHAPE" --runs "$NRUNS" --warmup 0 --threads "$THREADS" --input-npy "$INPUT" \
                --save-output "$OUTDIR/$rt.npy"
              outputs+=("$rt=$OUTDIR/$rt.npy")
            done
            ;;
          opencv)
            rt=opencv-dnn
            if [[ -n "$why" ]]; then skipped_row "$rt" "$why"; continue; fi
            bench_row "$rt" -- "$PYTHON" bench/peers/bench_opencv.py "$DIR/model.onnx" --shape "$SHAPE" \
              --runs "$NRUNS" --warmup 0 --threads "$THREADS" --input-npy "$INPUT" --save-output "$OUTDIR/$rt.npy"
            outputs+=("$rt=$OUTDIR/$rt.npy")
            ;;
        esac
      done

      # Agreement: every output against kiln's direct-convolution output (or, without it, the
      # first output there is), all computed from the same input file.
      ref=""
      for o in "${outputs[@]}"; do [[ "${o%%=*}" == kiln && -s "${o#*=}" ]] && ref="$o"; done
      if [[ -z "$ref" ]]; then for o in "${outputs[@]}"; do [[ -z "$ref" && -s "${o#*=}" ]] && ref="$o"; done; fi
      if [[ -n "$ref" ]]; then
        "$PYTHON" "$TOOL" agree --ref "$ref" "${outputs[@]}" \
          | sed "s/^{/{\"kind\":\"agree\",\"model\":\"$M\",\"size\":$S,\"batch\":$B,/" >> "$OUT_JSONL"
      else
        echo "  no outputs to compare" >&2
      fi
    done
  done
done

# 3. Table.
print_table
