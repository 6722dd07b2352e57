#!/usr/bin/env bash
# Installs what kiln needs to build and test, from Debian's packages. Idempotent: apt runs
# only when something is missing. Sourced by the other scripts.
set -euo pipefail

KILN_APT_PACKAGES=(
  cmake g++ make pkg-config
  libdnnl-dev                         # oneDNN 2.6: the compute backend
  ocl-icd-opencl-dev                  # oneDNN's CMake config requires OpenCL (only 'recommended')
  libprotobuf-dev protobuf-compiler   # ONNX files are protobuf
  libonnx-dev                         # the ONNX schema, generated headers, libonnx_proto
  libstb-dev                          # PNG/JPEG decoding and PNG writing
  nlohmann-json3-dev libcli11-dev     # JSON output, command-line parsing
  libhdf5-dev                         # Keras .h5 models and weights
  libcpp-httplib-dev                  # kiln serve: HTTP
  libgrpc++-dev protobuf-compiler-grpc  # kiln serve: gRPC (KServe v2)
  libgtest-dev                        # tests
  libonnx-testdata                    # the ONNX backend conformance cases (tests)
)

# What the comparison benchmarks run besides kiln (bench/compare_*.sh), not needed to build or test.
# (ONNX Runtime also needs node and npm, which may come from outside Debian: checked by command.)
KILN_BENCH_APT_PACKAGES=(
  python3-torch python3-onnx python3-numpy python3-opencv  # models, LibTorch, OpenCV DNN
  hey                                                      # HTTP load for bench/serve.sh
)

# The viewer's browser tests (tests/browser): Debian's Chromium, driven by playwright-core from
# npm. Node.js and npm from Debian unless the machine already has both (a newer Node.js from
# elsewhere also works: the tests need Node 18 or later).
KILN_BROWSER_APT_PACKAGES=(chromium fonts-dejavu-core)

kiln_install_deps() { kiln_install_packages "${KILN_APT_PACKAGES[@]}"; }

kiln_install_browser_deps() {
  kiln_install_packages "${KILN_BROWSER_APT_PACKAGES[@]}"
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then kiln_install_packages nodejs npm; fi
  local root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  # playwright-core only, at the version package-lock.json pins; it never downloads a browser.
  (cd "$root/tests/browser" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}

kiln_install_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then return 0; fi
  echo "kiln: installing ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Configures (once) and builds the given targets in build/, incrementally.
kiln_build() {
  local root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$root/build" -j "$(nproc)" --target "$@"
}
