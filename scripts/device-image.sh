#!/usr/bin/env bash
# Builds, once, the root filesystem the device tests run in: 64-bit Debian bookworm (the base of
# Raspberry Pi OS) made with debootstrap --arch=arm64 and run under QEMU user emulation.
#
# It holds what a fresh Raspberry Pi OS Lite holds and floorline needs, nothing more: python3
# (no python3-venv, no pip: the deployment brings what it needs), sudo, and the i2c, gpio and
# spi groups Raspberry Pi OS creates. The Greengrass installer's user (ggc_user:ggc_group) is
# added as the nucleus installer adds it. Everything else (group membership, the log folder,
# the venv) must come from the deployment itself.
#
# Prints the root's path on its last line. Cached outside the repository: FLOORLINE_DEVICE_ROOT
# overrides the place (default: $XDG_CACHE_HOME/floorline/device-root-arm64). Rebuilt only when
# this script changes (its SHA-256 is stored beside the root). Needs root (debootstrap, chroot).
set -euo pipefail
ROOT=${FLOORLINE_DEVICE_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/floorline/device-root-arm64}
MIRROR=${FLOORLINE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
RECIPE=$(sha256sum "$0" | cut -d' ' -f1)
STAMP="$ROOT.recipe"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

host_tools() {
    local missing=()
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)
    command -v update-binfmts >/dev/null || missing+=(binfmt-support)
    command -v unshare >/dev/null || missing+=(util-linux)
    if [ "${#missing[@]}" -gt 0 ]; then
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    # aarch64 binaries run through qemu-aarch64-static (registered with the F flag, so the
    # interpreter need not exist inside the root).
    if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
        $SUDO mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    fi
    $SUDO update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
    if ! grep -q enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
        echo "device-image: qemu-aarch64 is not registered with binfmt_misc" >&2
        exit 1
    fi
}

host_tools
mkdir -p "$(dirname "$ROOT")"
exec 9>"$ROOT.lock"
flock 9  # one build at a time; a second caller waits and then finds it done
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$RECIPE" ] && [ -x "$ROOT/usr/bin/python3" ]; then
    echo "$ROOT"
    exit 0
fi
$SUDO rm -rf "$ROOT" "$ROOT.partial" "$STAMP"
$SUDO debootstrap --arch=arm64 --variant=minbase --include=python3,sudo \
    bookworm "$ROOT.partial" "$MIRROR" >&2
$SUDO chroot "$ROOT.partial" /bin/sh -eu -c '
    for g in i2c gpio spi; do getent group "$g" >/dev/null || groupadd --system "$g"; done
    getent group ggc_group >/dev/null || groupadd --system ggc_group
    id ggc_user >/dev/null 2>&1 || useradd --system --gid ggc_group --no-create-home \
        --shell /usr/sbin/nologin ggc_user
    apt-get clean
    rm -rf /var/lib/apt/lists/*
' >&2
$SUDO mv "$ROOT.partial" "$ROOT"
echo "$RECIPE" > "$STAMP"
echo "$ROOT"
