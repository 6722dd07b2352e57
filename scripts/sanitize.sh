#!/usr/bin/env bash
# The test suite under clang's sanitizers; the test command (scripts/test.sh) runs both.
#
#   ./scripts/sanitize.sh [address|thread|all]      (default all)
#
# address: AddressSanitizer + UndefinedBehaviorSanitizer (undefined behaviour stops the test)
#   + LeakSanitizer over the suite, in build-fuzz/: the fuzz targets' build, so one
#   instrumented library serves both; then every fuzz regression input once more
#   (scripts/fuzz.sh replay). Left out: what tests other programs rather than kiln's code
#   (the browser, Python loading libkiln.so, Valgrind, nm, the install tree), the plain
#   replays of the fuzz inputs (the fuzz targets replay them instrumented), and the two
#   quality checks of the demo models (held-out IoU, int8 against fp32: numerics, not memory;
#   6 minutes under ASan, and clang's float rounding moves the int8 layer count they pin).
# thread: ThreadSanitizer over the tests whose code runs on several threads (build-tsan/):
#   the engine's (clients on threads, weight swaps under load) and the server's (a kiln serve
#   child, built with TSan too: HTTP and gRPC threads, runners, repository polling, shutdown).
#   OpenMP runs one thread (OMP_NUM_THREADS=1): oneDNN's libgomp hands work over through futexes
#   TSan cannot see, so every parallel loop would be reported; the races this looks for are
#   kiln's own threads'.
#
# A report fails the run: each sanitizer writes its reports to build-*/sanitizer-reports/
# (kiln serve children included, which a test may stop before their report reaches it), and
# the directory must stay empty. Prints how long each part took.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
WHICH="${1:-all}"
case "$WHICH" in address|thread|all) ;; *) echo "sanitize.sh: address, thread or all, not '$WHICH'" >&2; exit 2 ;; esac
source scripts/deps.sh
# clang's OpenMP for the library's own pragmas; llvm-14 for llvm-symbolizer: without it a report's
# frames are addresses only and the suppressions in tests/tsan.supp that name functions cannot match.
KILN_APT_PACKAGES+=(clang libclang-rt-14-dev libomp-14-dev llvm-14)
kiln_install_deps
symbolizer=/usr/lib/llvm-14/bin/llvm-symbolizer
[[ -x "$symbolizer" ]] || { echo "sanitize.sh: $symbolizer is missing (Debian's llvm-14)" >&2; exit 1; }

jobs="${KILN_JOBS:-$(nproc)}"  # KILN_JOBS=1 beside a fuzzer
# No report files from an earlier run; a report is any file the sanitizer writes there.
reports_clean() { rm -rf "$1/sanitizer-reports"; mkdir -p "$1/sanitizer-reports"; }
reports_check() {
  local dir="$1/sanitizer-reports" what="$2"
  if [[ -n "$(ls -A "$dir")" ]]; then
    echo "sanitize.sh: $what reported (files in $dir):" >&2
    for f in "$dir"/*; do echo "--- $f" >&2; head -80 "$f" >&2; done
    return 1
  fi
}

if [[ "$WHICH" == address || "$WHICH" == all ]]; then
  start=$SECONDS
  ./scripts/fuzz.sh configure
  cmake --build build-fuzz -j "$jobs" --target kiln_tests kiln_cli
  built=$((SECONDS - start))
  reports_clean build-fuzz
  # halt_on_error: the first report ends the process, which fails its test (and a server
  # child's clients); log_path keeps the report for the check below.
  (cd build-fuzz && \
    ASAN_OPTIONS="external_symbolizer_path=$symbolizer:detect_leaks=1:halt_on_error=1:log_path=$PWD/sanitizer-reports/asan" \
    UBSAN_OPTIONS="external_symbolizer_path=$symbolizer:print_stacktrace=1:halt_on_error=1:log_path=$PWD/sanitizer-reports/ubsan" \
    ctest --output-on-failure -j "$jobs" --timeout 1200 \
      -E '^(ViewerBrowser|Python|Install|Fuzz)\.|^CApi\.(ExampleUnderValgrind|SharedLibraryExportsOnlyKiln)$|^(Int8\.AgreesWithFp32OnTheDemoModels|DemoModels\.HeldOutIouMatchesTheModelCards)$') ||
    { reports_check build-fuzz "AddressSanitizer/UndefinedBehaviorSanitizer"; exit 1; }  # a failed test: show why
  reports_check build-fuzz "AddressSanitizer/UndefinedBehaviorSanitizer"
  ./scripts/fuzz.sh replay
  echo "sanitize.sh: address: the suite under ASan+UBSan passed, no report ($built s to build, $((SECONDS - start)) s in all)"
fi

if [[ "$WHICH" == thread || "$WHICH" == all ]]; then
  start=$SECONDS
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
    -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" -DCMAKE_C_FLAGS="-fsanitize=thread" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" \
    -DKILN_TEST_SUBSET='/tests/(engine/engine_test|server/[a-z_]+_test)\.cpp$' -DKILN_BUILD_BENCH=OFF >/dev/null
  cmake --build build-tsan -j "$jobs" --target kiln_tests kiln_cli
  built=$((SECONDS - start))
  reports_clean build-tsan
  # The suppressions, with one line per Abseil library the binary loads (tests/tsan.supp).
  { cat tests/tsan.supp; ldd build-tsan/kiln | awk '$1 ~ /^libabsl_/ { print "called_from_lib:" $1 }'; } > build-tsan/tsan.supp
  (cd build-tsan && \
    OMP_NUM_THREADS=1 \
    TSAN_OPTIONS="external_symbolizer_path=$symbolizer:halt_on_error=1:second_deadlock_stack=1:suppressions=$root/build-tsan/tsan.supp:log_path=$PWD/sanitizer-reports/tsan" \
    ctest --output-on-failure -j "$jobs" --timeout 1200 -R '^(Engine|Http|Grpc|Segment|Repository|Overload|Shutdown|Connections|ModelMeshRuntime|ModelMeshPlacement|KServeRuntime)\.') ||
    { reports_check build-tsan "ThreadSanitizer"; exit 1; }  # a failed test: show why
  reports_check build-tsan "ThreadSanitizer"
  echo "sanitize.sh: thread: the engine's and the server's concurrency tests under TSan passed, no report ($built s to build, $((SECONDS - start)) s in all)"
fi
