#!/usr/bin/env bash
# The test suite under clang's AddressSanitizer, UndefinedBehaviorSanitizer and
# LeakSanitizer (a separate build in build-asan/; the demo-model test is skipped for time).
#   ./scripts/sanitize.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/deps.sh
KILN_APT_PACKAGES+=(clang libclang-rt-14-dev libomp-14-dev)  # clang's OpenMP for the library's own pragmas
kiln_install_deps
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -O1" -DKILN_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j "$(nproc)" --target kiln_tests
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  build-asan/kiln_tests --gtest_filter='-DemoModels.*'
