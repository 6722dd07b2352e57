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
# The suite again under clang's sanitizers (RELIABILITY.md): AddressSanitizer +
# UndefinedBehaviorSanitizer + LeakSanitizer over the whole suite and every parser's regression
# inputs (build-fuzz/), ThreadSanitizer over the engine's and the server's concurrency tests
# (build-tsan/). Any report fails the command.
start=$SECONDS
./scripts/sanitize.sh all
echo "test.sh: the sanitizer runs took $((SECONDS - start)) s (their clang builds included)"
