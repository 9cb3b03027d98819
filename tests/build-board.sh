#!/usr/bin/env bash
# Build the device binary for a board profile:  tests/build-board.sh rpi4 [--profile release-small]
# = cargo build --profile <release> -p oar-edge --target <target from boards/<board>.toml>
# Prints the binary's path and (stripped) size. Needs the target's linker (tests/qemu.sh --install).
set -euo pipefail
cd "$(dirname "$0")/.."
board="${1:-}"; shift || true
[ -f "boards/$board.toml" ] || { echo "usage: $0 BOARD [--profile P]; boards: $(ls boards | sed 's/\.toml//' | tr '\n' ' ')" >&2; exit 2; }
profile=release
[ "${1:-}" = "--profile" ] && profile="${2:?--profile needs a name}"
target=$(sed -n 's/^target *= *"\(.*\)".*/\1/p' "boards/$board.toml")
echo "board $board -> target $target, profile $profile"
cargo build --profile "$profile" -p oar-edge --target "$target"
bin="${CARGO_TARGET_DIR:-target}/$target/$profile/oar-edge"
echo "$bin: $(stat -c %s "$bin") bytes ($(( $(stat -c %s "$bin") / 1024 )) KiB; profiles release and release-small strip)"
