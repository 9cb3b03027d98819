#!/usr/bin/env bash
# Cross-build the firmware test suites and run them under qemu-user with the CPU models of the board
# profiles (boards/*.toml, `qemu_cpu`). See docs/boards.md and /work/shared/CROSS.md.
#
#   tests/qemu.sh [--install] [--tract LIST | --no-tract | --with-tract] [--ocr] [--only T] [--keep-going]
#
#   --install      install what a fresh Debian 12 machine lacks (apt + rustup targets), then run;
#                  a no-op (about a second) when everything is present. Needs root for apt.
#   --tract LIST   target families (comma-separated: aarch64,armv7,riscv64) whose suites also hold
#                  oar-plan, oar-ops and oar-vision (they pull tract: the cold tract build is most of the
#                  time; docs/boards.md has the measurements). Default: all three.
#                  --no-tract = none, --with-tract = all three.
#   --ocr          OCR golden check: the device binary (`oar-edge ocr --json`, aarch64, under qemu with
#                  each CPU of QEMU_CPUS_OCR) must read tests/data/ocr-golden like the x86 host
#                  `oar ocr --json` with the same plan files: same texts, boxes within 1 px, scores
#                  within 1e-3. Plans come from $OAR_HOME/plans; missing ones are fetched and compiled
#                  with the host binary (`oar fetch --compile ppocr-v4-det ppocr-v2-cls ppocr-v4-rec`).
#                  Also a plan of tensors: `oar-edge infer` on tests/data/tensors (token ids, two
#                  lengths) must match onnxruntime's outputs.
#   --only T       run one target family only (aarch64, armv7 or riscv64).
#   --keep-going   do not stop at the first failing step.
#
# Each target's suite is built once (`cargo test --no-run`, cargo profile `qemu`: dependencies at
# opt-level 1) and then run under each CPU model. With --ocr, oar-edge joins the aarch64 suite: built
# in the same cargo invocation, its binary shares that suite's tract build (built on its own, cargo's
# feature unification would differ and rebuild tract). The suites run with an empty OAR_HOME and
# leave out, by name, oar-edge's tests that start the binary on the real plans (`oar_edge_binary`: a
# test under qemu-user cannot start another foreign binary; the golden check below runs it on the
# plans), those that need the registry's plans (`registry_plans`) and oar-stream's browser tests
# (`headless_chromium`: a host browser timing its page loads against an emulated server measures
# QEMU's speed; they run on the host) and its pty tests (`serial_pty`: qemu-user 7.2 does not
# emulate the TCGETS2 ioctl that opening a serial port uses) and its 200-thread abuse test
# (`abusive_clients`: the abusers run in the same emulated process as the server, so their
# connect timeouts measure QEMU's scheduling on the host's cores). The engine-free crates
# (oar-io, oar-kernels, oar-track, oar-stream) are in every target's suite.
#
# Environment: CARGO_TARGET_DIR (default: cargo's), PROPTEST_CASES (default 64 under QEMU),
# QEMU_CPUS_AARCH64 (default "cortex-a53 max"), QEMU_CPUS_ARM ("cortex-a15"), QEMU_CPUS_RISCV64 ("sifive-u54"),
# QEMU_CPUS_OCR (default "cortex-a53": the OCR pipeline under `-cpu max` emulation is far slower),
# QEMU_PROFILE (cargo profile, default "qemu"), OAR_EDGE_BIN (aarch64 device binary for --ocr instead
# of the one built here, e.g. the static release-small build of tests/build-board.sh).
#
# Exit code: 0 all passed, 1 a test step failed, 2 bad usage or missing tools.
set -uo pipefail
{ # the whole script is read before it runs: editing it during a run is safe

cd "$(dirname "$0")/.."

INSTALL=0 TRACT="aarch64,armv7,riscv64" ONLY="" KEEP=0 OCR=0
while [ $# -gt 0 ]; do
    case "$1" in
        --install) INSTALL=1 ;;
        --tract) shift; TRACT="${1:-}" ;;
        --with-tract) TRACT="aarch64,armv7,riscv64" ;;
        --no-tract) TRACT="" ;;
        --ocr) OCR=1 ;;
        --only) shift; ONLY="${1:-}" ;;
        --keep-going) KEEP=1 ;;
        -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
        *) echo "qemu.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

A64=aarch64-unknown-linux-gnu
ARM=armv7-unknown-linux-gnueabihf
RV=riscv64gc-unknown-linux-gnu
APT_PKGS="qemu-user gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf gcc-riscv64-linux-gnu
          libc6-dev-arm64-cross libc6-dev-armhf-cross libc6-dev-riscv64-cross"
RUST_TARGETS="$A64 $ARM $RV"
CPUS_A64=${QEMU_CPUS_AARCH64:-"cortex-a53 max"}
CPUS_ARM=${QEMU_CPUS_ARM:-"cortex-a15"}
CPUS_RV=${QEMU_CPUS_RISCV64:-"sifive-u54"}
CPUS_OCR=${QEMU_CPUS_OCR:-"cortex-a53"}
export PROPTEST_CASES=${PROPTEST_CASES:-64}
PROFILE=${QEMU_PROFILE:-qemu}
for t in ${TRACT//,/ } $ONLY; do
    case "$t" in aarch64|armv7|riscv64) ;; *) echo "qemu.sh: unknown target family '$t' (aarch64, armv7, riscv64)" >&2; exit 2 ;; esac
done

SUMMARY=()
FAILED=0
T_START=$(date +%s)

# Seconds of CPU (user+sys) used by finished children of this shell so far: cutime + cstime of
# /proc/$$/stat ($$ is this shell even inside the $(...) subshell, where `times` would say 0).
cpu_s() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%d", ($16 + $17) / hz }' /proc/$$/stat
}

# step NAME CMD... : run, time (wall and CPU), record.
step() {
    local name="$1"; shift
    local t0 t1 c0 c1 rc
    echo
    echo "=== $name"
    echo "    \$ $*"
    t0=$(date +%s); c0=$(cpu_s)
    "$@"
    rc=$?
    t1=$(date +%s); c1=$(cpu_s)
    local st="ok"; [ $rc -ne 0 ] && st="FAILED($rc)"
    SUMMARY+=("$(printf '%-58s %6ss wall %6ss cpu  %s' "$name" $((t1 - t0)) $((c1 - c0)) "$st")")
    if [ $rc -ne 0 ]; then
        FAILED=1
        if [ $KEEP -eq 0 ]; then summary; exit 1; fi
    fi
    return $rc
}

summary() {
    echo
    echo "=== summary (total $(( $(date +%s) - T_START ))s wall, $(cpu_s)s cpu, $(nproc) cores, PROPTEST_CASES=$PROPTEST_CASES)"
    printf '%s\n' "${SUMMARY[@]}"
}

install() {
    local missing=""
    for p in $APT_PKGS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
        $sudo apt-get update && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends $missing || return 1
    else
        echo "apt: all present"
    fi
    local have; have=$(rustup target list --installed)
    for t in $RUST_TARGETS aarch64-unknown-linux-musl; do   # musl: the static build (tests/build-board.sh --static)
        grep -qx "$t" <<<"$have" || rustup target add "$t" || return 1
    done
    echo "rustup targets: ok"
}

check_tools() {
    local bad=0
    for c in qemu-aarch64 qemu-arm qemu-riscv64 aarch64-linux-gnu-gcc arm-linux-gnueabihf-gcc riscv64-linux-gnu-gcc; do
        command -v "$c" >/dev/null || { echo "missing: $c (run tests/qemu.sh --install)" >&2; bad=1; }
    done
    local have; have=$(rustup target list --installed 2>/dev/null)
    for t in $RUST_TARGETS; do
        grep -qx "$t" <<<"$have" || { echo "missing rustup target: $t (run tests/qemu.sh --install)" >&2; bad=1; }
    done
    [ $bad -eq 0 ] || exit 2
}

# Print which kernels dispatch picked on this CPU model: the detected table, then the forced scalar
# one (the simd_vs_scalar tests compare every available table with scalar in both runs).
# Same package set as the build, or cargo's feature unification would rebuild dependencies.
dispatch() {
    local target="$1"; shift
    local k
    for k in detected scalar; do
        OAR_KERNELS=$([ $k = scalar ] && echo scalar) cargo test -q --profile "$PROFILE" --target "$target" "$@" --test simd_vs_scalar \
            -- selected_lists_every_kernel --nocapture 2>&1 | grep -E "^selected:" | sed "s/^/    [QEMU_CPU=$QEMU_CPU, $k] /"
    done
}

# suite TARGET "CPUS" CRATES... : build once, then run per CPU model.
suite() {
    local target="$1" cpus="$2"; shift 2
    local pkgs=(); for c in "$@"; do pkgs+=(-p "$c"); done
    step "build  $target [$*]" cargo test --profile "$PROFILE" --target "$target" "${pkgs[@]}" --no-run || return
    for cpu in $cpus; do
        export QEMU_CPU="$cpu"
        echo "--- $target under QEMU_CPU=$cpu"
        step "run    $target cpu=$cpu [$*]" env OAR_HOME="$NO_PLANS" cargo test --profile "$PROFILE" --target "$target" "${pkgs[@]}" -- --skip oar_edge_binary --skip registry_plans --skip headless_chromium --skip serial_pty --skip abusive_clients
        if [[ " $* " == *" oar-kernels "* ]]; then dispatch "$target" "${pkgs[@]}"; fi
        unset QEMU_CPU
    done
}

[ $INSTALL -eq 1 ] && { step "install (apt + rustup)" install || exit 2; }
check_tools

# Empty OAR_HOME for the suites: no test reads the real plans under QEMU (see the top).
NO_PLANS=$(mktemp -d)
trap 'rm -rf "$NO_PLANS"' EXIT

echo "qemu: $(qemu-aarch64 --version | head -1); rustc: $(rustc --version); target dir: ${CARGO_TARGET_DIR:-default}"

# crates FAMILY: the crates of a target family's suite.
crates() {
    echo oar-io oar-kernels oar-track oar-stream
    [[ ",$TRACT," == *",$1,"* ]] && echo oar-plan oar-ops oar-vision
    [ "$1" = aarch64 ] && [ $OCR -eq 1 ] && echo oar-edge
    true
}
wanted() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

wanted aarch64 && suite $A64 "$CPUS_A64" $(crates aarch64)
wanted armv7 && suite $ARM "$CPUS_ARM" $(crates armv7)
wanted riscv64 && suite $RV "$CPUS_RV" $(crates riscv64)

# The device binary reads the golden images; compare with the x86 host binary on the same plans.
ocr_golden() {
    local golden=tests/data/ocr-golden plans="${OAR_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/oar}/plans" out
    out=$(mktemp -d)
    local scenes=(scenes/000001.png scenes/000002.jpg)
    local lines=(lines/000001.png lines/000002.png lines/000003.png lines/000004.png)
    local tdir; tdir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    local edge="${OAR_EDGE_BIN:-$tdir/$A64/$PROFILE/oar-edge}" oar="$tdir/debug/oar"
    local p missing=()
    for p in ppocr-v4-det ppocr-v2-cls ppocr-v4-rec; do [ -f "$plans/$p.oar" ] || missing+=("$p"); done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "fetching and compiling ${missing[*]} into $plans with the host oar"
        "$oar" fetch --compile "${missing[@]}" || return 1
    fi
    [ -f "$edge" ] || { echo "no device binary $edge"; return 1; }
    echo "device binary: $edge ($(stat -c %s "$edge") bytes)"
    local det=(--det "$plans/ppocr-v4-det.oar") cr=(--cls "$plans/ppocr-v2-cls.oar" --rec "$plans/ppocr-v4-rec.oar")
    local runner="qemu-aarch64 -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH=/usr/aarch64-linux-gnu/lib"
    (cd $golden && "$oar" ocr --json "${det[@]}" "${cr[@]}" "${scenes[@]}" > "$out/x86-det.jsonl" &&
        "$oar" ocr --json --no-det "${cr[@]}" "${lines[@]}" > "$out/x86-nodet.jsonl") || return 1
    local cpu rc=0 t0
    for cpu in $CPUS_OCR; do
        echo "--- oar-edge ocr under QEMU_CPU=$cpu"
        t0=$(date +%s)
        (cd $golden && export QEMU_CPU=$cpu &&
            $runner "$edge" ocr --json "${det[@]}" "${cr[@]}" "${scenes[@]}" > "$out/$cpu-det.jsonl" &&
            $runner "$edge" ocr --json --no-det "${cr[@]}" "${lines[@]}" > "$out/$cpu-nodet.jsonl") || { rc=1; continue; }
        echo "    ($(( $(date +%s) - t0 )) s under QEMU)"
        python3 - "$out/x86-det.jsonl" "$out/$cpu-det.jsonl" "$out/x86-nodet.jsonl" "$out/$cpu-nodet.jsonl" <<'PY' || rc=1
import json, sys
bad = compared = 0
for ref, got in [(sys.argv[1], sys.argv[2]), (sys.argv[3], sys.argv[4])]:
    R = [json.loads(l) for l in open(ref) if l.strip()]
    G = [json.loads(l) for l in open(got) if l.strip()]
    if len(R) != len(G): print(f"{got}: {len(G)} results, x86 has {len(R)}"); bad += 1; continue
    for r, g in zip(R, G):
        if "lines" not in r or "lines" not in g: print(f"{r['path']}: error x86 {r.get('error')!r} device {g.get('error')!r}"); bad += 1; continue
        tr, tg = [l["text"] for l in r["lines"]], [l["text"] for l in g["lines"]]
        if tr != tg: print(f"{r['path']}: texts {tg} vs x86 {tr}"); bad += 1; continue
        for lr, lg in zip(r["lines"], g["lines"]):
            compared += 1
            d = max(abs(a - b) for pr, pg in zip(lr["box"], lg["box"]) for a, b in zip(pr, pg))
            s = abs(lr["score"] - lg["score"])
            print(f"  {r['path']}: {lg['text']!r} box diff {d:.2f}px score diff {s:.2e}")
            if d > 1.0 or s > 1e-3: print("    ^ differs from x86"); bad += 1
if compared == 0: print("no text line was read: nothing compared"); bad += 1
print(f"{compared} lines compared, {bad} differences")
sys.exit(1 if bad else 0)
PY
    done
    rm -rf "$out"
    return $rc
}
# A plan that is not an image on the board: the host compiles tests/data/tensors/token_encoder.onnx
# (int64 ids, symbolic length), the device binary runs it with `oar-edge infer` on both cases
# (lengths 5 and 11); its .npy outputs must match onnxruntime's within 1e-5.
infer_golden() {
    local data=tests/data/tensors out tdir
    out=$(mktemp -d)
    tdir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    local edge="${OAR_EDGE_BIN:-$tdir/$A64/$PROFILE/oar-edge}" oar="$tdir/debug/oar"
    local runner="qemu-aarch64 -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH=/usr/aarch64-linux-gnu/lib"
    "$oar" compile $data/token_encoder.onnx -o "$out/te.oar" || return 1
    local cpu case rc=0
    for cpu in $CPUS_OCR; do
        for case in a b; do
            QEMU_CPU=$cpu $runner "$edge" infer "$out/te.oar" --input $data/$case/input_0.npy --input $data/$case/input_1.npy \
                -o "$out/$cpu-$case" || { rc=1; continue; }
            python3 - "$out/$cpu-$case" $data/$case <<'PY' || rc=1
import sys
import numpy as np
got, want = sys.argv[1], sys.argv[2]
worst = max(float(np.abs(np.load(f"{got}/output_{i}.npy") - np.load(f"{want}/output_{i}.npy")).max()) for i in range(2))
print(f"  {want}: max abs error {worst:.2e} vs onnxruntime")
sys.exit(0 if worst < 1e-5 else 1)
PY
        done
    done
    rm -rf "$out"
    return $rc
}
if [ $OCR -eq 1 ] && wanted aarch64; then
    # The host reference is the binary `cargo test --workspace` builds (same features: no rebuild);
    # the device binary was built with the aarch64 suite (oar-edge is part of it with --ocr).
    step "build  host oar (x86, reference)" cargo test --workspace --no-run
    step "ocr golden  $A64 cpu=[$CPUS_OCR] vs x86" ocr_golden
    step "infer golden $A64 cpu=[$CPUS_OCR] token encoder vs onnxruntime" infer_golden
fi

summary
exit $FAILED
}
