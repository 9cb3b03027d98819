#!/usr/bin/env bash
# Build the device binary for a board profile:
#   tests/build-board.sh BOARD [--profile P] [--static]
# = cargo build --profile P -p oar-edge --target <target from boards/BOARD.toml>   (P default: release)
# --static: aarch64 boards only; builds for aarch64-unknown-linux-musl instead (one static binary,
# no glibc needed on the board; linked with rust-lld, see .cargo/config.toml).
# Prints the binary's path and (stripped) size. Needs the target's linker (tests/qemu.sh --install;
# --static also needs `rustup target add aarch64-unknown-linux-musl`).
set -euo pipefail
cd "$(dirname "$0")/.."
board="${1:-}"; shift || true
[ -f "boards/$board.toml" ] || { echo "usage: $0 BOARD [--profile P] [--static]; boards: $(ls boards | sed 's/\.toml//' | tr '\n' ' ')" >&2; exit 2; }
profile=release static=0
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) profile="${2:?--profile needs a name}"; shift ;;
        --static) static=1 ;;
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
cargo build --profile "$profile" -p oar-edge --target "$target"
bin="${CARGO_TARGET_DIR:-target}/$target/$profile/oar-edge"
echo "$bin: $(stat -c %s "$bin") bytes ($(( $(stat -c %s "$bin") / 1024 )) KiB; profiles release and release-small strip)"
