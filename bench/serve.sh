#!/usr/bin/env bash
# kiln serve under load, against the same requests in-process: U-Net-16 256x256 as binary
# tensors (HTTP through hey, gRPC through bench/serve_load.cpp), and the demo model through
# /kiln/v1/models/{m}/segment with a 512x512 PNG. For each: one client (the server's overhead
# per request over Engine::run), saturation (capacity), then 1x and 2x that capacity offered
# (hey, rate-limited workers: what goes past the queue bound must be 503, not latency); and
# the one-client runs again with one core kept busy by another process. hey measures the
# closed-loop runs; the offered-rate runs use serve_load's open loop (hey's rate limit starts
# every worker's ticker at once, offering bursts of all workers together, and measures latency
# from when a worker got round to sending, hiding the queue).
#
#   bench/serve.sh [--seconds 10] [--requests 400]
#
# Everything listens on 127.0.0.1 and every load is bounded in count or time. Needs hey
# (Debian) and the build's kiln and serve_load; makes bench/models/unet16_x10/m0 when missing
# (tools/make_unet.py, python3-torch). Prints a table; the numbers go to BENCHMARKS.md by hand.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SECONDS_PER_RUN=10
REQUESTS=400
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) SECONDS_PER_RUN="$2"; shift 2 ;;
    --requests) REQUESTS="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "serve.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v hey >/dev/null || { echo "serve.sh: needs hey (apt-get install hey)" >&2; exit 1; }
cmake --build build -j2 --target kiln_cli serve_load >/dev/null
LOAD=build/serve_load
OUT=bench/models/serve
rm -rf "$OUT"; mkdir -p "$OUT/repo/unet16" "$OUT/repo/_shared" "$OUT/repo/leather"
M16=bench/models/unet16_x10/m0/model.onnx
if [[ ! -s $M16 ]]; then
  "$PYTHON" tools/make_unet.py --width 16 --height 256 --width-px 256 --seed 0 --out "$(dirname $M16)" --no-reference >/dev/null
fi
cp "$M16" "$OUT/repo/unet16/model.onnx"
cp models/demo/unet.onnx "$OUT/repo/_shared/"
cp models/demo/leather.safetensors "$OUT/repo/leather/"
echo '{"model": "../_shared/unet.onnx", "weights": "leather.safetensors", "tile": 512}' > "$OUT/repo/leather/config.json"
HL=$("$LOAD" body --input input --shape 1,1,256,256 -o "$OUT/body.bin")
"$KILN" gen-defects --out "$OUT/images" --classes leather --count 1 >/dev/null
PNG="$OUT/images/leather/1.png"

SERVER=""
cleanup() { [[ -n $SERVER ]] && kill "$SERVER" 2>/dev/null; [[ -n ${BUSY:-} ]] && kill "$BUSY" 2>/dev/null; true; }
trap cleanup EXIT
"$KILN" serve --repository "$OUT/repo" --http 127.0.0.1:0 --grpc 127.0.0.1:0 --max-queue 16 >"$OUT/serve.out" 2>"$OUT/serve.log" &
SERVER=$!
for _ in $(seq 600); do grep -q "grpc on port" "$OUT/serve.out" 2>/dev/null && break; sleep 0.1; done
HTTP=$(sed -n 's/.*http on port //p' "$OUT/serve.out"); GRPC=$(sed -n 's/.*grpc on port //p' "$OUT/serve.out")
for _ in $(seq 600); do [[ $(curl -s -o /dev/null -w '%{http_code}' "127.0.0.1:$HTTP/v2/health/ready") == 200 ]] && break; sleep 0.1; done
INFER="http://127.0.0.1:$HTTP/v2/models/unet16/infer"

# hey's summary as one line: rps p50_ms p99_ms ok non-200
hey_line() {  # hey's summary as one line: rps, p50 and p99 in ms, 200s, other statuses, errors
  awk '/Requests\/sec/ {rps=$2} / 50% in/ {p50=$3*1000} / 99% in/ {p99=$3*1000}
       /Status code distribution/ {section="status"} /Error distribution/ {section="error"}
       /^  \[[0-9]+\]/ { if (section == "status") { if ($1 == "[200]") ok += $2; else other[$1] += $2 }
                          else if (section == "error") { gsub(/[\[\]]/, "", $1); errors += $1 } }
       END {s = ""; for (k in other) s = s " " k "=" other[k];
            printf "rps=%.1f p50_ms=%.3f p99_ms=%.3f ok=%d%s errors=%d\n", rps, p50, p99, ok, s, errors}'
}
http_infer() {  # clients, then hey's own limits (-n N | -z 10s [-q per-worker rate])
  local c=$1; shift
  hey -c "$c" "$@" -m POST -T application/octet-stream -H "Inference-Header-Content-Length: $HL" -D "$OUT/body.bin" "$INFER" | hey_line
}
rps_of() { sed -n 's/\(^\|.* \)rps=\([0-9.]*\).*/\2/p'; }
# The server's own account of a model since the last call: requests, and mean time in the server
# (arrival to answer), waiting for a runner, and computing.
declare -A SEEN
server_side() {
  curl -s "127.0.0.1:$HTTP/v2/models/$1/stats" | "$PYTHON" -c '
import json, sys
s = json.load(sys.stdin)["model_stats"][0]["inference_stats"]
prev = [float(x) for x in sys.argv[1].split(",")] if sys.argv[1] else [0, 0, 0, 0]
now = [s["success"]["count"], s["success"]["ns"], s["queue"]["ns"], s["compute_infer"]["ns"]]
n = max(1, now[0] - prev[0])
print("server: %d requests, mean %.3f ms in the server, %.3f waiting, %.3f computing|%s" % (
    now[0] - prev[0], (now[1] - prev[1]) / n / 1e6, (now[2] - prev[2]) / n / 1e6, (now[3] - prev[3]) / n / 1e6,
    ",".join(str(x) for x in now)))' "${SEEN[$1]:-}"
}
note_server() { local line; line=$(server_side "$1"); SEEN[$1]=${line#*|}; echo "                      ${line%|*}"; }

echo "kiln serve benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
echo "== U-Net-16 256x256, binary tensors"
# The server's overhead per request, one client: the client's mean latency less the mean time
# the server's engine took for the same requests (its statistics), three rounds each way. (The
# in-process and through-the-server latencies of separate batches differ by more than this
# between batches on a shared VM; pairs of the two alternate processes' OpenMP teams.)
engine_ms() { curl -s "127.0.0.1:$HTTP/v2/models/unet16/stats" | "$PYTHON" -c '
import json, sys
s = json.load(sys.stdin)["model_stats"][0]["inference_stats"]
print(s["success"]["count"], s["compute_infer"]["ns"])'; }
mean_of() { sed -n 's/.* mean_ms=\([0-9.]*\).*/\1/p'; }
for proto in http grpc http grpc http grpc; do
  before=$(engine_ms)
  if [[ $proto == http ]]; then
    line=$("$LOAD" http "127.0.0.1:$HTTP" /v2/models/unet16/infer --body "$OUT/body.bin" --header-length "$HL" --requests 150 --clients 1)
  else
    line=$("$LOAD" grpc "127.0.0.1:$GRPC" unet16 --shape 1,1,256,256 --requests 150 --clients 1)
  fi
  after=$(engine_ms)
  echo "$before $after $(echo "$line" | mean_of)" | awk -v p="$proto" '{n = $3 - $1; e = ($4 - $2) / n / 1e6;
    printf "overhead %-4s          client mean %.3f ms, the server engine %.3f ms: %.3f ms per request\n", p, $5, e, $5 - e}'
done
echo "in-process 1 client   $("$LOAD" inprocess "$M16" --shape 1,1,256,256 --requests "$REQUESTS" --clients 1)"
note_server unet16 >/dev/null  # the baseline
echo "http 1 client         $(http_infer 1 -n "$REQUESTS")"
note_server unet16
echo "grpc 1 client         $("$LOAD" grpc "127.0.0.1:$GRPC" unet16 --shape 1,1,256,256 --requests "$REQUESTS" --clients 1)"
note_server unet16
echo "in-process 4 clients  $("$LOAD" inprocess "$M16" --shape 1,1,256,256 --requests "$REQUESTS" --clients 4)"
SAT=$(http_infer 4 -n "$REQUESTS"); echo "http saturation (4)   $SAT"
echo "grpc saturation (4)   $("$LOAD" grpc "127.0.0.1:$GRPC" unet16 --shape 1,1,256,256 --requests "$REQUESTS" --clients 4)"
CAP=$(echo "$SAT" | rps_of)
for x in 1 2; do
  R=$(awk -v c="$CAP" -v x="$x" 'BEGIN {printf "%.2f", c * x}')
  echo "http ${x}x capacity     $("$LOAD" http "127.0.0.1:$HTTP" /v2/models/unet16/infer --body "$OUT/body.bin" \
    --header-length "$HL" --rate "$R" --seconds "$SECONDS_PER_RUN" --clients 64)"
  echo "grpc ${x}x capacity     $("$LOAD" grpc "127.0.0.1:$GRPC" unet16 --shape 1,1,256,256 --rate "$R" \
    --seconds "$SECONDS_PER_RUN" --clients 64)"
done
echo "== the demo U-Net through segment, 512x512 PNG"
segment_load() {
  "$LOAD" http "127.0.0.1:$HTTP" /kiln/v1/models/leather/segment --body "$PNG" --type image/png "$@"
}
echo "segment 1 client      $(segment_load --requests $((REQUESTS / 4)) --clients 1)"
SAT=$(segment_load --requests $((REQUESTS / 4)) --clients 4); echo "segment saturation    $SAT"
CAP=$(echo "$SAT" | rps_of)
for x in 1 2; do
  R=$(awk -v c="$CAP" -v x="$x" 'BEGIN {printf "%.2f", c * x}')
  echo "segment ${x}x capacity  $(segment_load --rate "$R" --seconds "$SECONDS_PER_RUN" --clients 64)"
done
echo "== one core kept busy by another process"
timeout 300 sh -c 'while :; do :; done' &
BUSY=$!
echo "in-process 1 client   $("$LOAD" inprocess "$M16" --shape 1,1,256,256 --requests "$REQUESTS" --clients 1)"
echo "http 1 client         $(http_infer 1 -n "$REQUESTS")"
echo "grpc 1 client         $("$LOAD" grpc "127.0.0.1:$GRPC" unet16 --shape 1,1,256,256 --requests "$REQUESTS" --clients 1)"
kill "$BUSY"; BUSY=""
echo "== server"
grep -E "kiln_requests_total\{model=\"(unet16|leather)\"" <(curl -s "127.0.0.1:$HTTP/metrics") | grep -v " 0$"
kill -TERM "$SERVER"; wait "$SERVER"; echo "kiln serve exit status $? after SIGTERM"; SERVER=""
