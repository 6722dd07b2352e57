#!/usr/bin/env bash
# Fuzz kiln's parsers with libFuzzer under AddressSanitizer and UndefinedBehaviorSanitizer
# (clang, a separate build in build-fuzz/).
#
#   ./scripts/fuzz.sh [TARGET|all] [SECONDS per target, default 60]
#   ./scripts/fuzz.sh replay     # every target over its tests/fuzz/ inputs only (the test command)
#   ./scripts/fuzz.sh configure  # only configure build-fuzz/ (scripts/sanitize.sh builds the suite there)
#
# Targets are fuzz/*_fuzz.cpp: onnx, graphdef_pb, graphdef_pbtxt, keras_config,
# safetensors, weight_pack, npy, image, kserve_infer. Each runs for SECONDS from a corpus in
# build-fuzz/corpus/TARGET, seeded with tests/fuzz/TARGET/ (the regression inputs the test
# command replays), the project's fixtures of that kind, and ../shared/fixtures where it is
# beside the repository. A crash is written to build-fuzz/crashes/TARGET/ and stops that
# target; reproduce it with `build-fuzz/fuzz_TARGET FILE`, fix the parser, and add the file
# to tests/fuzz/TARGET/ so that `ctest -R Fuzz.TARGET` keeps it fixed. One line per target
# (executions, executions/s, corpus, crashes) is printed and appended to
# build-fuzz/fuzz-log.tsv, which RELIABILITY.md's figures come from.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
WHICH="${1:-all}"
SECONDS_PER_TARGET="${2:-60}"
REPLAY=0
CONFIGURE_ONLY=0
if [[ "$WHICH" == replay ]]; then REPLAY=1; WHICH=all; fi
if [[ "$WHICH" == configure ]]; then CONFIGURE_ONLY=1; WHICH=all; fi
[[ "$SECONDS_PER_TARGET" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: SECONDS must be a positive whole number" >&2; exit 2; }
source scripts/deps.sh
KILN_APT_PACKAGES+=(clang libclang-rt-14-dev libomp-14-dev)  # clang's OpenMP for the library's own pragmas
kiln_install_deps

TARGETS=()
for f in fuzz/*_fuzz.cpp; do t="$(basename "$f" _fuzz.cpp)"; TARGETS+=("$t"); done
if [[ "$WHICH" != all ]]; then
  [[ " ${TARGETS[*]} " == *" $WHICH "* ]] || { echo "fuzz.sh: no target '$WHICH' (${TARGETS[*]})" >&2; exit 2; }
  TARGETS=("$WHICH")
fi

# -O1 and line tables only: the test command builds the library and the whole suite here, and
# that compiles faster than at -O2 -g (stack traces keep their lines).
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
  -DKILN_FUZZ=ON -DKILN_BUILD_TESTS=ON -DKILN_BUILD_BENCH=OFF >/dev/null
[[ $CONFIGURE_ONLY == 1 ]] && exit 0
cmake --build build-fuzz -j "$(nproc)" --target "${TARGETS[@]/#/fuzz_}"

if [[ $REPLAY == 1 ]]; then
  # The regression inputs under the sanitizers: undefined behaviour (an overflowing size, a
  # float converted to an integer) passes the plain build's replay (ctest Fuzz.*) unseen.
  for t in "${TARGETS[@]}"; do
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
      "build-fuzz/fuzz_$t" -timeout=60 -rss_limit_mb=4096 "tests/fuzz/$t"/* > "build-fuzz/$t.replay.log" 2>&1 ||
      { echo "fuzz.sh: replaying tests/fuzz/$t under ASan+UBSan failed:" >&2; grep -m5 -E 'ERROR|SUMMARY|runtime error' "build-fuzz/$t.replay.log" >&2; exit 1; }
    echo "fuzz.sh: $t: $(find "tests/fuzz/$t" -type f | wc -l) inputs replayed under ASan+UBSan, no report"
  done
  exit 0
fi

# seeds TARGET: files of the target's kind beyond tests/fuzz/TARGET (small ones).
seeds() {
  local shared=../shared/fixtures
  case "$1" in
    onnx) find tests/fixtures -name '*.onnx' ;;
    graphdef_pb) [[ -d $shared ]] && find "$shared" -name '*.pb' -size -2M ;;
    graphdef_pbtxt) [[ -d $shared ]] && find "$shared" -name '*.pbtxt' -size -2M ;;
    npy) find tests/fixtures -name '*.npy' -size -1M ;;
    safetensors) find models/demo -name '*.safetensors' -size -2M ;;
    *) ;;
  esac
}

mkdir -p build-fuzz/crashes
status=0
for t in "${TARGETS[@]}"; do
  corpus="build-fuzz/corpus/$t"
  crashes="build-fuzz/crashes/$t"
  # Crashes of earlier runs move aside: this run's line counts its own.
  if [[ -d "$crashes" ]] && [[ -n "$(ls -A "$crashes" 2>/dev/null)" ]]; then
    mkdir -p "build-fuzz/crashes-earlier/$t" && mv "$crashes"/* "build-fuzz/crashes-earlier/$t/"
  fi
  mkdir -p "$corpus" "$crashes"
  cp -n tests/fuzz/"$t"/* "$corpus"/ 2>/dev/null || true
  while IFS= read -r f; do [[ -n "$f" ]] && cp -n "$f" "$corpus/seed-$(basename "$f")" 2>/dev/null || true; done < <(seeds "$t" || true)
  log="build-fuzz/$t.log"
  echo "fuzz.sh: $t for ${SECONDS_PER_TARGET}s ..." >&2
  set +e
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "build-fuzz/fuzz_$t" "$corpus" -max_total_time="$SECONDS_PER_TARGET" -timeout=20 -rss_limit_mb=4096 \
    -max_len=65536 -artifact_prefix="$crashes/" -print_final_stats=1 > "$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
  rate=$(grep -m1 'stat::average_exec_per_sec' "$log" | awk '{print $2}')
  found=$(find "$crashes" -type f | wc -l)
  files=$(find "$corpus" -type f | wc -l)
  line="$(date -u +%FT%TZ)	$t	${SECONDS_PER_TARGET}s	${execs:-?} execs	${rate:-?}/s	corpus $files	crashes $found	exit $rc"
  echo "$line" | tee -a build-fuzz/fuzz-log.tsv
  if [[ $rc -ne 0 || $found -gt 0 ]]; then
    status=1
    grep -m3 -E 'ERROR: |SUMMARY: |runtime error' "$log" >&2 || true
  fi
done
exit $status
