#!/usr/bin/env bash
# The GPU figures of docs/performance.md ("Taking the GPU figures"), for the
# day a GPU is lent: the kernel tests through Vulkan on the GPU (both launch
# plans), the step and group benches, the PyTorch step side by side and a
# per-kernel profile, each phase's output in one folder.
#
#   benches/gpu_figures.sh [OUT] [PHASE...]
#
# OUT defaults to target/gpu-figures/<UTC time>; PHASEs (default: all, in
# this order) are build tests step group torch profile, so a session with
# a 10-minute limit per command runs them one or two at a time into the
# same OUT. Every phase writes OUT/<phase>.txt; the benches also copy their
# CSV files. A missing GPU adapter fails (MESU_REQUIRE_GPU=1), never skips.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/gpu-figures/$(date -u +%Y%m%dT%H%M%SZ)}
shift || true
phases=("$@")
[ ${#phases[@]} -gt 0 ] || phases=(build tests step group torch profile)
mkdir -p "$out"
export MESU_REQUIRE_GPU=1
# Vulkan only: the figures are for the GPU's own driver, not GL or lavapipe.
export WGPU_BACKEND=vulkan

run() { # phase, command...: the command's output into OUT/<phase>.txt
    local phase=$1
    shift
    echo "== $phase: $*" | tee -a "$out/$phase.txt"
    local t0=$SECONDS
    "$@" 2>&1 | tee -a "$out/$phase.txt"
    echo "== $phase: $((SECONDS - t0)) s" | tee -a "$out/$phase.txt"
}

for phase in "${phases[@]}"; do
    case $phase in
    build)
        { nvidia-smi || true; } >"$out/device.txt" 2>&1
        run build cargo build --release --benches --tests --bin mesu
        run build target/release/mesu info
        ;;
    tests)
        # The kernel tests force both plans themselves; the GPU adapter is
        # picked by type (discrete first), so these run on the GPU.
        run tests cargo test --release --test bindings --test kernels --test eval_fast \
            --test engine --test philox
        ;;
    step)
        run step cargo bench --bench step
        cp target/bench-step.csv "$out/"
        ;;
    group)
        run group cargo bench --bench group -- 32
        run group-512 cargo bench --bench group -- 32 512
        cp target/bench-group-32-50.csv target/bench-group-32-512.csv "$out/"
        ;;
    torch)
        # The same step in PyTorch on CUDA (benches/baselines/), when torch is there.
        if python3 -c 'import torch' 2>/dev/null; then
            run torch python3 benches/baselines/mesu_step_torch.py
        else
            echo "torch: not installed, skipped" | tee "$out/torch.txt"
        fi
        ;;
    profile)
        # Per-kernel GPU timestamps of the paper protocol (profile.csv).
        run profile target/release/mesu --tasks 1 --train-limit 5000 --test-limit 2000 \
            --ood none --profile --out "$out/profile-run"
        cp "$out/profile-run/profile.csv" "$out/" 2>/dev/null || true
        ;;
    *)
        echo "unknown phase $phase (build tests step group torch profile)" >&2
        exit 2
        ;;
    esac
done
echo "figures in $out"
