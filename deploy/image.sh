#!/usr/bin/env bash
# Builds kiln's container root without a container builder: the same Debian 12 root as
# deploy/Containerfile (debian slim + the kiln .deb + a kiln user), made with mmdebstrap, as a
# tarball that `podman import` / `docker import` turn into an image:
#   sudo ./deploy/image.sh [OUT.tar]          (default build/kiln-image.tar)
#   podman import --change 'USER 1000' --change 'ENTRYPOINT ["kiln"]' \
#     --change 'CMD ["serve","--demo","--http=0.0.0.0:8000","--grpc=0.0.0.0:8001"]' build/kiln-image.tar kiln:0.1.0
# Needs root (mmdebstrap's default mode) and a Debian mirror.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${1:-build/kiln-image.tar}
source scripts/deps.sh
kiln_install_packages mmdebstrap
./scripts/package.sh >/dev/null  # incremental: the package of this checkout, never a stale one
deb=$(ls -t build/kiln_*_amd64.deb | head -1)
echo "image: a Debian 12 root with $(basename "$deb") -> $out"
mmdebstrap --quiet --variant=apt --include=ca-certificates \
  --customize-hook="copy-in $deb /tmp" \
  --customize-hook='chroot "$1" sh -c "apt-get install -y --no-install-recommends /tmp/kiln_*_amd64.deb >/dev/null && rm /tmp/kiln_*_amd64.deb"' \
  --customize-hook='chroot "$1" useradd --uid 1000 --home-dir /var/lib/kiln --create-home kiln' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
  bookworm "$out"
# The root works: kiln runs in it and finds its demo models.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -xf "$out" -C "$tmp"
chroot "$tmp" kiln inspect /usr/share/kiln/models/demo/unet.onnx | head -3
echo "image: $(du -h "$out" | cut -f1) $out"
