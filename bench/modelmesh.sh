#!/usr/bin/env bash
# How many models fit a ModelMesh pod running kiln: one `kiln serve --model-runtime` per
# architecture, loaded through the model-runtime SPI as ModelMesh loads it (bench/modelmesh_client),
# with ten U-Net-16s of different weights (256x256, tools/make_unet.py seeds 0-9) and then
# six U-Net-64s. For each model: the size loadModel reports and the process's resident memory
# after it. Prints the cost of the first model (plan + weights), of each further one (its
# weights), the models per GiB that follow, and how many fit a 1, 2 and 4 GiB pod.
#
#   bench/modelmesh.sh
#
# Listens on 127.0.0.1 only; every load is bounded. The numbers go to docs/deploy.md and
# BENCHMARKS.md by hand, with the CPU this ran on.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cmake --build build -j2 --target kiln_cli modelmesh_client >/dev/null
OUT=bench/models/modelmesh
rm -rf "$OUT"; mkdir -p "$OUT"
for i in $(seq 0 9); do
  d=bench/models/unet16_x10/m$i
  [[ -s $d/model.onnx ]] || "$PYTHON" tools/make_unet.py --width 16 --height 256 --width-px 256 --seed "$i" --out "$d" --no-reference >/dev/null
done
[[ -s bench/models/unet64/model.onnx ]] ||
  "$PYTHON" tools/make_unet.py --width 64 --height 256 --width-px 256 --seed 0 --out bench/models/unet64 --no-reference >/dev/null

# run NAME ID=PATH...: one runtime, its models loaded in turn; JSON lines in $OUT/NAME.jsonl
run() {
  local name=$1; shift
  "$KILN" serve --model-runtime --http 127.0.0.1:0 --grpc 127.0.0.1:0 --precision fp32 >"$OUT/$name.out" 2>"$OUT/$name.log" &
  local pid=$!
  for _ in $(seq 600); do grep -q "grpc on port" "$OUT/$name.out" 2>/dev/null && break; sleep 0.1; done
  local http grpc
  http=$(sed -n 's/.*http on port //p' "$OUT/$name.out"); grpc=$(sed -n 's/.*grpc on port //p' "$OUT/$name.out")
  timeout 600 build/modelmesh_client "$grpc" "$http" "$@" >"$OUT/$name.jsonl" || { kill $pid; cat "$OUT/$name.log" >&2; exit 1; }
  kill -TERM $pid; wait $pid || true
}
args16=(); for i in $(seq 0 9); do args16+=("unet16-$i=$ROOT/bench/models/unet16_x10/m$i/model.onnx"); done
args64=(); for i in $(seq 0 5); do args64+=("unet64-$i=$ROOT/bench/models/unet64/model.onnx"); done
run unet16 "${args16[@]}"
run unet64 "${args64[@]}"

"$PYTHON" - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
MB, GiB = 1e6, 1 << 30
print(f"{'model':8} {'base RSS':>9} {'1st model':>10} {'each more':>10} {'reported 1st':>12} {'reported more':>13} "
      f"{'models/GiB':>10} {'1 GiB pod':>9} {'2 GiB pod':>9} {'4 GiB pod':>9} {'load 1st':>9} {'load more':>9}")
for name in ("unet16", "unet64"):
    lines = [json.loads(l) for l in open(f"{out}/{name}.jsonl")]
    base = lines[0]["memory"]["resident_bytes"]
    models = lines[1:]
    rss = [m["memory"]["resident_bytes"] for m in models]
    first = rss[0] - base
    more = (rss[-1] - rss[0]) / (len(rss) - 1)
    sizes = [m["size_bytes"] for m in models]
    plans = {m["memory"]["plans"] for m in models}
    fit = lambda pod: max(0, int((pod - base - first) // more) + 1) if pod > base + first else 0
    print(f"{name:8} {base/MB:8.0f}M {first/MB:9.1f}M {more/MB:9.1f}M {sizes[0]/MB:11.1f}M {sum(sizes[1:])/len(sizes[1:])/MB:12.1f}M "
          f"{GiB/more:10.1f} {fit(GiB):9d} {fit(2*GiB):9d} {fit(4*GiB):9d} "
          f"{models[0]['load_ms']:7.0f}ms {sum(m['load_ms'] for m in models[1:])/len(models[1:]):7.0f}ms   plans {sorted(plans)}")
PY
