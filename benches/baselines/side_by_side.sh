#!/usr/bin/env bash
# mesu's step bench and the PyTorch step on the same machine, one after the
# other, then the ratios. Arguments go to the PyTorch script (e.g. --device
# cpu --threads 2). Needs python3 with torch; on a GPU machine the PyTorch
# side runs on CUDA and mesu on the GPU's Vulkan adapter.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo bench --bench step
torch_out=$(python3 benches/baselines/mesu_step_torch.py "$@")
echo "$torch_out"
torch_csv=$(grep '^torch_' <<<"$torch_out")
{ cat target/bench-step.csv; echo "$torch_csv"; } | awk -F, '
    { v[$1] = $2 }
    END {
        printf "\nmesu fast / torch, train steps/s (784-50-10, B=1, K=10): %.2fx (%.0f / %.0f)\n",
            v["train_steps_per_s"] / v["torch_train_steps_per_s"], v["train_steps_per_s"], v["torch_train_steps_per_s"]
        printf "torch / mesu fast, evaluation time (10000 x 10):         %.2fx (%.3f s / %.3f s)\n",
            v["torch_eval_s"] / v["eval_fast_s"], v["torch_eval_s"], v["eval_fast_s"]
    }'
