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
  valgrind                            # tests: the C API's example run under it
  python3-numpy                       # tests: the Python package (python/kiln)
  python3-yaml                        # tests: the Kubernetes manifests (deploy/) parse and name real fields
  libonnx-testdata                    # the ONNX backend conformance cases (tests)
)

# What the comparison benchmarks run besides kiln (bench/compare_*.sh), not needed to build or test.
# (ONNX Runtime also needs node and npm, which may come from outside Debian: checked by command.)
KILN_BENCH_APT_PACKAGES=(
  python3-torch python3-onnx python3-numpy python3-opencv  # models, LibTorch, OpenCV DNN
  hey                                                      # HTTP load for bench/serve.sh
)

# The viewer's browser tests (tests/browser): Debian's Chromium, driven by playwright-core
# under Node.js (Debian's, unless the machine has a node already: the tests need Node 18 or
# later). playwright-core is npm's own tarball of the pinned version, kept in the repository
# (tests/browser/vendor, Apache-2.0, its LICENSE inside) and unpacked here: the test command
# needs no registry (a fresh machine behind an intercepting proxy cannot verify npm's TLS), and
# playwright-core has no dependencies and never downloads a browser.
KILN_BROWSER_APT_PACKAGES=(chromium fonts-dejavu-core)
KILN_PLAYWRIGHT_TGZ=tests/browser/vendor/playwright-core-1.61.1.tgz
KILN_PLAYWRIGHT_SHA256=3740bba3a3e93b4c7bd7c0f6e3c0e5f8cdce498bef13511e4d534cc99a8ce198

kiln_install_deps() { kiln_install_packages "${KILN_APT_PACKAGES[@]}"; }

kiln_install_browser_deps() {
  kiln_install_packages "${KILN_BROWSER_APT_PACKAGES[@]}"
  command -v node >/dev/null || kiln_install_packages nodejs
  local root dest
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  dest="$root/tests/browser/node_modules/playwright-core"
  if [ ! -f "$dest/.kiln-$KILN_PLAYWRIGHT_SHA256" ]; then
    echo "$KILN_PLAYWRIGHT_SHA256  $root/$KILN_PLAYWRIGHT_TGZ" | sha256sum --check --quiet ||
      { echo "kiln: $KILN_PLAYWRIGHT_TGZ is not the pinned playwright-core" >&2; return 1; }
    rm -rf "$dest" && mkdir -p "$dest"
    tar -xzf "$root/$KILN_PLAYWRIGHT_TGZ" -C "$dest" --strip-components=1
    touch "$dest/.kiln-$KILN_PLAYWRIGHT_SHA256"
  fi
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
