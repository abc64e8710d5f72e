#!/usr/bin/env bash
# mesu's CPU backend (`cargo bench --bench cpu`) and the same MESU step in JAX
# (benches/baselines/mesu_step_jax.py: jit + lax.scan, as the authors' code)
# on the same machine, one after the other, then a table with both and the
# ratio per shape. Needs python3 with jax (pip install "jax[cpu]").
#
#   benches/baselines/side_by_side_cpu.sh
#   JAX_ARGS="--steps 5000 --task" benches/baselines/side_by_side_cpu.sh
#
# JAX_ARGS go to both JAX runs (e.g. --steps N, --repeats N, --mnist DIR,
# --task). The JAX side runs twice, because XLA's thread pools are fixed when
# jax is imported: --threads 1 (paper shape only) and the default thread count
# (all shapes and the evaluation). mesu's figures are parsed from the table
# `cargo bench --bench cpu` prints (it has no machine-readable output); if a
# line cannot be parsed, its cell says "?" and both raw outputs stay above.
set -euo pipefail
cd "$(dirname "$0")/../.."
py=${PYTHON:-python3}
jax_script=benches/baselines/mesu_step_jax.py

if ! "$py" -c 'import jax' 2>/dev/null; then
    echo "side_by_side_cpu.sh: jax is missing for $py; install it with: pip install \"jax[cpu]\"" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cpus; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== cargo bench --bench cpu"
cargo bench --bench cpu 2>&1 | tee "$tmp/mesu.txt"

echo "== JAX, --threads 1 (paper shape)"
# shellcheck disable=SC2086
"$py" "$jax_script" --threads 1 --shapes paper --no-eval --json ${JAX_ARGS:-} >"$tmp/jax1.json"
echo "== JAX, default threads (all shapes, evaluation)"
# shellcheck disable=SC2086
"$py" "$jax_script" --json ${JAX_ARGS:-} >"$tmp/jaxall.json"
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

"$py" - "$tmp/mesu.txt" "$tmp/jax1.json" "$tmp/jaxall.json" <<'EOF'
import json, re, sys

mesu_txt = open(sys.argv[1]).read()
jax1 = json.load(open(sys.argv[2]))
jaxall = json.load(open(sys.argv[3]))


def first(pattern):
    m = re.search(pattern, mesu_txt, re.M)
    return float(m.group(1)) if m else None


# The cpu bench's rows (benches/cpu.rs): name, two spaces, the median.
paper = {int(t): float(v) for t, v in re.findall(
    r"^784-50-10 B=1 K=10, .*?(\d+) threads\)\s+([\d.]+) steps/s", mesu_txt, re.M)}
all_threads = max(paper) if paper else None
eval_ms = first(r"^evaluation 10000 x 10, 784-50-10\s+([\d.]+) ms")
h512 = first(r"^784-512-10 B=1 K=10\s+([\d.]+) steps/s")
h1024 = first(r"^784-1024-1024-10 B=64 K=10\s+([\d.]+) steps/s")


def jax_rate(res, shape):
    r = res["shapes"].get(shape)
    return r and r["steps_per_s"]


ev = jaxall.get("eval")
rows = [
    # (what, mesu, jax, unit, higher is better)
    ("784-50-10 B=1 K=10, 1 thread", paper.get(1), jax_rate(jax1, "paper"), "steps/s", True),
    (f"784-50-10 B=1 K=10, all threads ({all_threads})", paper.get(all_threads) if paper else None,
     jax_rate(jaxall, "paper"), "steps/s", True),
    ("evaluation 10000 x 10, 784-50-10", eval_ms, ev and 1e3 * ev["eval_s"], "ms", False),
    ("784-512-10 B=1 K=10, all threads", h512, jax_rate(jaxall, "h512"), "steps/s", True),
    ("784-1024-1024-10 B=64 K=10, all threads", h1024, jax_rate(jaxall, "h1024x2"), "steps/s", True),
]


def fmt(v):
    if v is None:
        return "?"
    return f"{v:.0f}" if v >= 100 else f"{v:.3g}"


print(f"\njax {jaxall['jax']} (jaxlib {jaxall['jaxlib']}, {jaxall['backend']}); medians; "
      "ratio = mesu speed / JAX speed (> 1: mesu faster; for the evaluation JAX ms / mesu ms)")
w = max(len(r[0]) for r in rows)
print(f"{'what':<{w}}  {'unit':<8} {'mesu':>10} {'JAX':>10} {'mesu/JAX':>9}")
missing = False
for what, m, j, unit, higher in rows:
    if m is None or j is None:
        ratio, missing = "?", True
    else:
        ratio = f"{(m / j if higher else j / m):.2f}x"
    print(f"{what:<{w}}  {unit:<8} {fmt(m):>10} {fmt(j):>10} {ratio:>9}")
task = jaxall.get("task") or jax1.get("task")
if task:
    print(f"JAX, one task of {task['task_steps']} steps at 784-50-10: {task['task_s']:.1f} s")
if missing:
    print("some mesu figures could not be parsed from `cargo bench --bench cpu` (raw output above)",
          file=sys.stderr)
    sys.exit(2)
EOF
