#!/usr/bin/env bash
# Builds the Debian package: build/kiln_<version>_amd64.deb (the kiln binary, libkiln.so with
# its headers, CMake package and pkg-config file, the demo models, the viewer and the Python
# package under /usr). Install it with: sudo apt-get install ./build/kiln_*_amd64.deb
#   ./scripts/package.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/deps.sh
kiln_install_deps
kiln_install_packages dpkg-dev file  # dpkg-shlibdeps (and file, which CPack runs): Depends from what it links
kiln_build kiln_cli kiln_shared
(cd build && cpack -G DEB >/dev/null)
ls build/kiln_*_amd64.deb
