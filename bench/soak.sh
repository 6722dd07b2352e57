#!/usr/bin/env bash
# A soak of kiln serve: for a set time, a mix of requests (binary and JSON infer, segment,
# health, model list, metrics) from several clients, while the weights of the model being
# queried are swapped every 2.5 s (the repository is polled) and another model is unloaded
# and loaded again through the repository API. The server's RSS and open file descriptors
# are sampled every 2 s; prints their slopes over the second half and the failed requests.
#
#   bench/soak.sh [--seconds 300] [--clients 4] [--no-swaps] [--no-reloads]
#
# Everything listens on 127.0.0.1 and stops by itself after --seconds. Needs node, the
# build's kiln and serve_load, and bench/models/unet16_x10/m{0,1} (made when missing,
# tools/make_unet.py). Results: bench/models/soak/result.json; RELIABILITY.md by hand.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SECONDS_TO_RUN=300
CLIENTS=4
EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) SECONDS_TO_RUN="$2"; shift 2 ;;
    --clients) CLIENTS="$2"; shift 2 ;;
    --no-swaps) EXTRA+=(--swaps off); shift ;;
    --no-reloads) EXTRA+=(--reloads off); shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ "$SECONDS_TO_RUN" =~ ^[1-9][0-9]*$ && "$CLIENTS" =~ ^[1-9][0-9]*$ ]] || { echo "soak.sh: --seconds and --clients are positive whole numbers" >&2; exit 2; }
cmake --build build -j2 --target kiln_cli serve_load >/dev/null
OUT=bench/models/soak
rm -rf "$OUT"; mkdir -p "$OUT/repo/unet16" "$OUT/repo/_shared" "$OUT/repo/leather" "$OUT/repo/speckle"
for i in 0 1; do
  m="bench/models/unet16_x10/m$i/model.onnx"
  [[ -s $m ]] || "$PYTHON" tools/make_unet.py --width 16 --height 256 --width-px 256 --seed "$i" --out "$(dirname "$m")" --no-reference >/dev/null
done
cp bench/models/unet16_x10/m0/model.onnx "$OUT/repo/unet16/model.onnx"
cp bench/models/unet16_x10/m0/model.onnx "$OUT/repo/unet16/a.onnx"
cp bench/models/unet16_x10/m1/model.onnx "$OUT/repo/unet16/b.onnx"
cp bench/models/unet16_x10/m0/model.onnx "$OUT/repo/unet16/weights.onnx"
echo '{"model": "model.onnx", "weights": "weights.onnx", "precision": "fp32"}' > "$OUT/repo/unet16/config.json"
cp models/demo/unet.onnx "$OUT/repo/_shared/"
for c in leather speckle; do
  cp "models/demo/$c.safetensors" "$OUT/repo/$c/"
  echo "{\"model\": \"../_shared/unet.onnx\", \"weights\": \"$c.safetensors\", \"tile\": 512}" > "$OUT/repo/$c/config.json"
done
HL=$(build/serve_load body --input input --shape 1,1,256,256 -o "$OUT/body.bin")
"$KILN" gen-defects --out "$OUT/images" --classes leather --count 1 >/dev/null
TOKEN=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$TOKEN" > "$OUT/token"

SERVER=""
cleanup() { [[ -n $SERVER ]] && kill "$SERVER" 2>/dev/null; true; }
trap cleanup EXIT
"$KILN" serve --repository "$OUT/repo" --http 127.0.0.1:0 --grpc '' --poll-repository 1 \
  --model-control explicit --admin-token-file "$OUT/token" >"$OUT/serve.out" 2>"$OUT/serve.log" &
SERVER=$!
for _ in $(seq 600); do grep -q "http on port" "$OUT/serve.out" 2>/dev/null && break; sleep 0.1; done
HTTP=$(sed -n 's/.*http on port //p' "$OUT/serve.out")
for _ in $(seq 600); do [[ $(curl -s -o /dev/null -w '%{http_code}' "127.0.0.1:$HTTP/v2/health/ready") == 200 ]] && break; sleep 0.1; done
echo "soak: ${SECONDS_TO_RUN}s, $CLIENTS clients, server pid $SERVER on 127.0.0.1:$HTTP ..." >&2
"$NODE" bench/soak.mjs --port "$HTTP" --pid "$SERVER" --repo "$OUT/repo" --token "$TOKEN" --body "$OUT/body.bin" \
  --header-length "$HL" --png "$OUT/images/leather/1.png" --seconds "$SECONDS_TO_RUN" --clients "$CLIENTS" \
  --samples "$OUT/samples.json" "${EXTRA[@]}" | tee "$OUT/result.json"
"$NODE" -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const f = (x, d = 2) => x.toFixed(d);
const checks = [
  [`${r.requests} requests, ${r.failed_total} failed that should have succeeded`, r.failed_total === 0],
  [`${r.weight_swaps} weight swaps, ${r.reloads} unload+load cycles, ${r.control_failed} control calls failed`, r.control_failed === 0],
  [`RSS ${f(r.rss_mb_first, 1)} -> ${f(r.rss_mb_last, 1)} MB (max ${f(r.rss_mb_max, 1)}), second half ${f(r.rss_mb_per_min_second_half)} MB/min`, Math.abs(r.rss_mb_per_min_second_half) < 2],
  [`open fds ${r.fds_first} -> ${r.fds_last}, second half ${f(r.fds_per_min_second_half)} per min`, Math.abs(r.fds_per_min_second_half) < 1],
];
for (const [t, ok] of checks) console.log(`- [${ok ? "x" : " "}] ${t}`);
process.exit(checks.every(([, ok]) => ok) ? 0 : 1);
' "$OUT/result.json"
