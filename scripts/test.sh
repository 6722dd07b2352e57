#!/usr/bin/env bash
# Install, build and run every test.
#   ./scripts/test.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/deps.sh
kiln_install_deps
kiln_install_browser_deps
kiln_build kiln_cli kiln_tests
cd build
# The conformance pass counts, visible (ctest shows a passing test's output only with -V).
./kiln_tests --gtest_filter='OnnxConformance.*' 2>/dev/null | grep '^\[conformance\]' || true
ctest --output-on-failure -j 2 --timeout 600
cd ..
# Every parser's regression inputs once more, under AddressSanitizer and
# UndefinedBehaviorSanitizer (a clang build of the library in build-fuzz/; RELIABILITY.md).
start=$SECONDS
./scripts/fuzz.sh replay
echo "test.sh: the sanitizer replay took $((SECONDS - start)) s (its clang build included)"
