#!/usr/bin/env bash
# Build the device binary for a board profile:
#   tests/build-board.sh BOARD [--profile P] [--static] [--features F] [--no-install]
# = cargo build --profile P -p oar-edge --target <target from boards/BOARD.toml>   (P default: release)
# --static: aarch64 boards only; builds for aarch64-unknown-linux-musl instead (one static binary,
# no glibc needed on the board; linked with rust-lld, see .cargo/config.toml).
# Prints the binary's path and (stripped) size. Installs what the build needs and lacks first: the
# board's rustup target and (apt) its cross linker; --no-install only checks and says what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
board="${1:-}"; shift || true
[ -f "boards/$board.toml" ] || { echo "usage: $0 BOARD [--profile P] [--static] [--features F] [--no-install]; boards: $(ls boards | sed 's/\.toml//' | tr '\n' ' ')" >&2; exit 2; }
profile=release static=0 install=1 features=()
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) profile="${2:?--profile needs a name}"; shift ;;
        --static) static=1 ;;
        --no-install) install=0 ;;
        --features) features=(--features "${2:?--features needs a list}"); shift ;;
        *) echo "$0: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done
target=$(sed -n 's/^target *= *"\(.*\)".*/\1/p' "boards/$board.toml")
if [ $static -eq 1 ]; then
    [ "$target" = aarch64-unknown-linux-gnu ] || { echo "--static: only for aarch64 boards ($board is $target)" >&2; exit 2; }
    target=aarch64-unknown-linux-musl
fi
echo "board $board -> target $target, profile $profile"
# The cross gcc links the glibc targets; for --static it only assembles tract's kernels (.cargo/config.toml).
case "$target" in
    aarch64-*) gcc=aarch64-linux-gnu-gcc pkg="gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;;
    armv7-*) gcc=arm-linux-gnueabihf-gcc pkg="gcc-arm-linux-gnueabihf libc6-dev-armhf-cross" ;;
    riscv64gc-*) gcc=riscv64-linux-gnu-gcc pkg="gcc-riscv64-linux-gnu libc6-dev-riscv64-cross" ;;
    *) gcc="" pkg="" ;;
esac
if [ -n "$gcc" ] && ! command -v "$gcc" >/dev/null; then
    [ $install -eq 1 ] || { echo "missing linker $gcc (apt-get install $pkg, or drop --no-install)" >&2; exit 2; }
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "installing $pkg (apt)"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $pkg
fi
if ! rustup target list --installed | grep -qx "$target"; then
    [ $install -eq 1 ] || { echo "missing rustup target $target (rustup target add $target, or drop --no-install)" >&2; exit 2; }
    rustup target add "$target"
fi
cargo build --profile "$profile" -p oar-edge --target "$target" "${features[@]}"
bin="${CARGO_TARGET_DIR:-target}/$target/$profile/oar-edge"
echo "$bin: $(stat -c %s "$bin") bytes ($(( $(stat -c %s "$bin") / 1024 )) KiB; profiles release and release-small strip)"
