#!/usr/bin/env bash
# Build a minimal Debian bookworm image with python3 (Debian's /usr/bin/python3, 3.11) without
# any Docker registry: debootstrap a minbase root from the Debian archive and `docker import` it.
# The sandbox image is then built FROM it (`harness sandbox build --base-image NAME`).
#
#   bash sandbox/build_base.sh [NAME]      (default: distill-harness/base:bookworm)
#
# Needs root, debootstrap and a reachable Debian archive (debootstrap's default mirror).
set -euo pipefail

NAME="${1:-distill-harness/base:bookworm}"
SUITE="${SUITE:-bookworm}"

if [ "$(id -u)" -ne 0 ]; then
  echo "build_base.sh: must run as root (debootstrap)" >&2
  exit 1
fi
command -v debootstrap >/dev/null || { echo "build_base.sh: debootstrap is not installed" >&2; exit 1; }

WORK="$(mktemp -d /tmp/distill-base.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
ROOT="$WORK/root"

echo "build_base.sh: debootstrap $SUITE (minbase + python3) into $ROOT"
debootstrap --variant=minbase --include=python3 "$SUITE" "$ROOT" >"$WORK/debootstrap.log" 2>&1 || {
  tail -n 30 "$WORK/debootstrap.log" >&2
  exit 1
}

# Nothing of the build machine or the package caches goes into the image.
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/* "$ROOT"/tmp/* "$ROOT"/var/tmp/*
: >"$ROOT/etc/resolv.conf"
: >"$ROOT/etc/hostname"
chroot "$ROOT" /usr/bin/python3 -c 'import sys; assert sys.version_info[:2] >= (3, 10)'

tar --numeric-owner -C "$ROOT" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  --message "debootstrap --variant=minbase --include=python3 $SUITE" \
  - "$NAME" >/dev/null
echo "build_base.sh: imported $NAME"
