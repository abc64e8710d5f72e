#!/usr/bin/env python3
"""The MESU training step and evaluation in JAX, the way the authors' JAX
code runs it (jit, one jax.lax.scan over a task of steps), for a same-machine
baseline next to `cargo bench --bench cpu`.

The same work as mesu's step (MESU_SPEC.md): Linear layers with ReLU
between them, no bias, K weight samples w_k = mu + sigma * eps_k per step
(eps from jax.random.normal, fresh every step, one sample of the network
shared by the whole minibatch), loss C = - sum_b (1/K) sum_k
log_softmax(f(x_b; w_k))[y_b], gradients by jax.grad of C with respect to
(mu, sigma) through w = mu + sigma * eps, so

    dC/dmu = (1/K) sum_k dL_k/dw = g_mu,  dC/dsigma = (1/K) sum_k eps_k dL_k/dw = g_sigma,

then the MESU update computed from the old mu and sigma:

    v = sigma^2
    mu    += lr * (-v * g_mu    + v * (mu_prior - mu) / (N * sigma_prior^2))
    sigma += lr * 0.5 * (-v * g_sigma + sigma * (sigma_prior^2 - v) / (N * sigma_prior^2))

One jitted call runs a jax.lax.scan over `steps` minibatches (60000 batch-1
steps is one permuted-MNIST task). Evaluation: 10000 images x K samples,
class = argmax of the mean over K of log_softmax.

Shapes timed:
  paper    784-50-10,        B = 1,  K = 10  (the paper's protocol, N = 300000)
  h512     784-512-10,       B = 1,  K = 10
  h1024x2  784-1024-1024-10, B = 64, K = 10  (N = 300000 / 64, lr = 1 / 64 as
           benches/cpu.rs)

Inputs are random standardised data of MNIST's shape (the cost of a step
does not depend on the values); --mnist DIR uses MNIST instead
(train-/t10k-images-idx3-ubyte and -labels-idx1-ubyte, optionally .gz; pixels
/ 255 standardised per split, file order) and then prints the test accuracy
of the paper-shape model after its timed steps, a sanity check of the step.

Compile time is measured separately (lower + compile); one warm-up call
follows; then `--repeats` timed calls, each ended with block_until_ready;
medians are reported.

    python3 benches/baselines/mesu_step_jax.py                  # all shapes, all threads
    python3 benches/baselines/mesu_step_jax.py --threads 1 --shapes paper --task
    python3 benches/baselines/mesu_step_jax.py --json

--threads N (N > 0) must act before jax is imported: it sets XLA_FLAGS
(--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=N for N = 1,
intra_op_parallelism_threads=N otherwise) and restricts the process to N CPUs
with sched_setaffinity, so that XLA's thread pools are sized to N. The
reported cpu/wall ratio (process CPU time over wall time during the timed
calls) shows how many cores were actually busy.
"""

import argparse
import gzip
import json
import os
import platform
import resource
import statistics
import sys
import time

SHAPES = {
    # name: (sizes, batch)
    "paper": ([784, 50, 10], 1),
    "h512": ([784, 512, 10], 1),
    "h1024x2": ([784, 1024, 1024, 10], 64),
}
LABELS = {
    "paper": "784-50-10 B=1 K=10",
    "h512": "784-512-10 B=1 K=10",
    "h1024x2": "784-1024-1024-10 B=64 K=10",
}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", default="paper,h512,h1024x2",
                    help="comma list of paper, h512, h1024x2 (default: all)")
    ap.add_argument("--steps", type=int, default=2000,
                    help="steps per timed scan, paper shape (default 2000)")
    ap.add_argument("--steps-h512", type=int, default=50,
                    help="steps per timed scan, 784-512-10 (default 50)")
    ap.add_argument("--steps-h1024x2", type=int, default=3,
                    help="steps per timed scan, 784-1024-1024-10 B=64 (default 3)")
    ap.add_argument("--repeats", type=int, default=3, help="timed scans per shape (median)")
    ap.add_argument("--samples", type=int, default=10, help="K, train and test")
    ap.add_argument("--n", type=float, default=300000.0, help="N at batch 1 (divided by B)")
    ap.add_argument("--sigma-prior", type=float, default=1.0)
    ap.add_argument("--task", action="store_true",
                    help="also time one whole task: one scan of 60000 batch-1 steps, paper shape")
    ap.add_argument("--task-steps", type=int, default=60000)
    ap.add_argument("--noise-only", action="store_true",
                    help="also time, per shape, a scan that only draws the step's K normals per weight "
                         "(summed so that XLA keeps them): the noise share of a step")
    ap.add_argument("--no-eval", action="store_true", help="skip the evaluation")
    ap.add_argument("--eval-repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: XLA's default, all)")
    ap.add_argument("--mnist", default=None, help="directory with MNIST idx files (optional)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    args = ap.parse_args()
    for s in args.shapes.split(","):
        if s not in SHAPES:
            ap.error(f"unknown shape {s!r}; known: {', '.join(SHAPES)}")
    return args


def limit_threads(n):
    """Before importing jax: size XLA's CPU thread pools to n."""
    if n <= 0:
        return
    flags = os.environ.get("XLA_FLAGS", "")
    extra = f"intra_op_parallelism_threads={n}"
    if n == 1:
        extra = "--xla_cpu_multi_thread_eigen=false " + extra
    os.environ["XLA_FLAGS"] = (flags + " " + extra).strip()
    try:
        cpus = sorted(os.sched_getaffinity(0))
        if n < len(cpus):
            os.sched_setaffinity(0, cpus[:n])
    except (AttributeError, OSError):
        pass


ARGS = parse_args()
limit_threads(ARGS.threads)

try:
    import jax
    import jax.numpy as jnp
    import numpy as np
except ImportError as e:  # pragma: no cover
    sys.exit(f"mesu_step_jax.py: jax is missing ({e}); install it with: pip install \"jax[cpu]\"")


# ----------------------------------------------------------------- the model

def init(sizes, key):
    """mu ~ U(-l, l), sigma = l / 2, l = 4 / sqrt(fan_in); weights [out, in]."""
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        key, sub = jax.random.split(key)
        bound = 4.0 / n_in ** 0.5
        mu = jax.random.uniform(sub, (n_out, n_in), jnp.float32, -bound, bound)
        sigma = jnp.full((n_out, n_in), bound / 2, jnp.float32)
        params.append((mu, sigma))
    return params


def forward(ws, x):
    """ws: [K, out, in] per layer; x: [B, in] shared by the samples -> [K, B, 10]."""
    h = jnp.einsum("bi,koi->kbo", x, ws[0])
    for w in ws[1:]:
        h = jnp.einsum("kbi,koi->kbo", jax.nn.relu(h), w)
    return h


def draw_eps(key, params, k):
    keys = jax.random.split(key, len(params))
    return [jax.random.normal(kk, (k,) + mu.shape, jnp.float32) for kk, (mu, _) in zip(keys, params)]


def loss_fn(params, eps, x, y):
    """C = - sum_b (1/K) sum_k log_softmax(f(x_b; w_k))[y_b], w_k = mu + sigma * eps_k."""
    ws = [mu + sigma * e for (mu, sigma), e in zip(params, eps)]
    log_p = jax.nn.log_softmax(forward(ws, x), axis=-1)  # [K, B, 10]
    picked = jnp.take_along_axis(log_p, y[None, :, None], axis=-1)[..., 0]  # [K, B]
    return -jnp.sum(jnp.mean(picked, axis=0))


def make_train(k, n, sigma_prior, lr, mu_prior=0.0):
    prior = 1.0 / (n * sigma_prior ** 2)
    grad = jax.grad(loss_fn)

    def step(carry, batch):
        params, key = carry
        x, y = batch
        key, sub = jax.random.split(key)
        eps = draw_eps(sub, params, k)
        grads = grad(params, eps, x, y)  # ((g_mu, g_sigma) per layer)
        new = []
        for (mu, sigma), (g_mu, g_sigma) in zip(params, grads):
            v = sigma * sigma
            d_mu = lr * (v * ((mu_prior - mu) * prior - g_mu))
            d_sigma = lr * 0.5 * (sigma * (sigma_prior ** 2 - v) * prior - v * g_sigma)
            new.append((mu + d_mu, sigma + d_sigma))
        return (new, key), None

    def train(params, key, xs, ys):
        """One task: scan over xs [T, B, 784], ys [T, B]."""
        (params, key), _ = jax.lax.scan(step, (params, key), (xs, ys))
        return params, key

    return jax.jit(train, donate_argnums=(0,))


def make_noise_only(k):
    def step(carry, _):
        params, key, acc = carry
        key, sub = jax.random.split(key)
        eps = draw_eps(sub, params, k)
        acc = acc + sum(jnp.sum(e) for e in eps)
        return (params, key, acc), None

    def noise(params, key, xs):
        (_, _, acc), _ = jax.lax.scan(step, (params, key, jnp.float32(0)), None, length=xs.shape[0])
        return acc

    return jax.jit(noise)


def make_eval(k):
    def evaluate(params, key, images):
        eps = draw_eps(key, params, k)
        ws = [mu + sigma * e for (mu, sigma), e in zip(params, eps)]
        log_p = jax.nn.log_softmax(forward(ws, images), axis=-1).mean(0)  # [N, 10]
        return jnp.argmax(log_p, axis=-1)

    return jax.jit(evaluate)


# ------------------------------------------------------------------ the data

def read_idx(path):
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(directory, stem):
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        p = os.path.join(directory, name)
        if os.path.exists(p):
            return p
    sys.exit(f"mesu_step_jax.py: no {stem}[.gz] in {directory}")


class Data:
    """Standardised training images (MNIST or random) and labels, cycled."""

    def __init__(self, mnist_dir, rng):
        if mnist_dir:
            img = read_idx(find(mnist_dir, "train-images-idx3-ubyte")).reshape(-1, 784)
            img = img.astype(np.float32) / 255.0
            self.x = (img - img.mean()) / img.std()
            self.y = read_idx(find(mnist_dir, "train-labels-idx1-ubyte")).astype(np.int32)
            timg = read_idx(find(mnist_dir, "t10k-images-idx3-ubyte")).reshape(-1, 784)
            timg = timg.astype(np.float32) / 255.0
            self.test_x = (timg - timg.mean()) / timg.std()
            self.test_y = read_idx(find(mnist_dir, "t10k-labels-idx1-ubyte")).astype(np.int32)
            self.source = f"MNIST from {mnist_dir}"
        else:
            self.x = rng.standard_normal((60000, 784), dtype=np.float32)
            self.y = rng.integers(0, 10, 60000, dtype=np.int32)
            self.test_x = rng.standard_normal((10000, 784), dtype=np.float32)
            self.test_y = None
            self.source = "random standardised data of MNIST's shape"

    def batches(self, steps, batch, start=0):
        idx = (start + np.arange(steps * batch)) % len(self.x)
        return (jnp.asarray(self.x[idx].reshape(steps, batch, 784)),
                jnp.asarray(self.y[idx].reshape(steps, batch)))


# ---------------------------------------------------------------- the timing

def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(fn):
    c, t = cpu_seconds(), time.perf_counter()
    out = fn()
    jax.block_until_ready(out)
    wall = time.perf_counter() - t
    return out, wall, (cpu_seconds() - c) / wall


def bench_shape(name, steps, args, data, key):
    sizes, batch = SHAPES[name]
    k = args.samples
    train = make_train(k, args.n / batch, args.sigma_prior, 1.0 / batch)
    key, sub = jax.random.split(key)
    params = init(sizes, sub)
    xs, ys = data.batches(steps, batch)
    t = time.perf_counter()
    compiled = train.lower(params, key, xs, ys).compile()
    compile_s = time.perf_counter() - t
    (params, key), warm_s, _ = timed(lambda: compiled(params, key, xs, ys))
    walls, utils = [], []
    for r in range(args.repeats):
        xs, ys = data.batches(steps, batch, start=(r + 1) * steps * batch)
        (params, key), wall, util = timed(lambda: compiled(params, key, xs, ys))
        walls.append(wall)
        utils.append(util)
    for mu, sigma in params:
        if not (bool(jnp.all(jnp.isfinite(mu))) and bool(jnp.all(jnp.isfinite(sigma)))):
            sys.exit(f"mesu_step_jax.py: non-finite parameters after training {name}")
    med = statistics.median(walls)
    noise = {}
    if args.noise_only:
        f = make_noise_only(k).lower(params, key, xs).compile()
        timed(lambda: f(params, key, xs))
        nw = [timed(lambda: f(params, jax.random.fold_in(key, r), xs))[1] for r in range(args.repeats)]
        noise = {"noise_only_us_per_step": 1e6 * statistics.median(nw) / steps,
                 "normals_per_step": k * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))}
    return params, key, {
        **noise,
        "shape": name,
        "label": LABELS[name],
        "sizes": sizes,
        "batch": batch,
        "samples": k,
        "steps_per_scan": steps,
        "repeats": args.repeats,
        "compile_s": compile_s,
        "first_call_s": warm_s,
        "scan_s": walls,
        "steps_per_s": steps / med,
        "us_per_step": 1e6 * med / steps,
        "cpu_per_wall": statistics.median(utils),
        # Process CPU time per step (all threads): less sensitive than wall
        # time to other processes on a shared machine.
        "cpu_us_per_step": statistics.median(1e6 * w * u / steps for w, u in zip(walls, utils)),
    }


def bench_task(args, data, key):
    """One whole task: a single scan of 60000 batch-1 steps at the paper shape."""
    sizes, batch = SHAPES["paper"]
    train = make_train(args.samples, args.n, args.sigma_prior, 1.0)
    params = init(sizes, key)
    xs, ys = data.batches(args.task_steps, batch)
    t = time.perf_counter()
    compiled = train.lower(params, key, xs, ys).compile()
    compile_s = time.perf_counter() - t
    # One call of the compiled scan (compile excluded, nothing else to warm up).
    (params, key), wall, util = timed(lambda: compiled(params, key, xs, ys))
    return {"task_steps": args.task_steps, "compile_s": compile_s, "task_s": wall,
            "steps_per_s": args.task_steps / wall, "cpu_per_wall": util,
            "cpu_s": util * wall}


def bench_eval(params, key, args, data):
    images = jnp.asarray(data.test_x)
    evaluate = make_eval(args.samples)
    t = time.perf_counter()
    compiled = evaluate.lower(params, key, images).compile()
    compile_s = time.perf_counter() - t
    timed(lambda: compiled(params, key, images))
    walls = []
    for i in range(args.eval_repeats):
        pred, wall, _ = timed(lambda: compiled(params, jax.random.fold_in(key, i), images))
        walls.append(wall)
    out = {"images": 10000, "samples": args.samples, "compile_s": compile_s,
           "eval_s": statistics.median(walls), "eval_all_s": walls}
    if data.test_y is not None:  # a sanity check of the step: MNIST test accuracy
        out["test_accuracy"] = float(np.mean(np.asarray(pred) == data.test_y))
    return out


def main():
    args = ARGS
    rng = np.random.default_rng(args.seed)
    data = Data(args.mnist, rng)
    key = jax.random.PRNGKey(args.seed)
    steps = {"paper": args.steps, "h512": args.steps_h512, "h1024x2": args.steps_h1024x2}
    result = {
        "jax": jax.__version__,
        "jaxlib": getattr(jax.lib, "__version__", None) or __import__("jaxlib").__version__,
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "threads": args.threads or "default",
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu": platform.processor() or platform.machine(),
        "data": data.source,
        "shapes": {},
    }
    log = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.json else print
    log(f"jax {result['jax']} ({result['backend']}), threads {result['threads']}, "
        f"affinity {result['affinity']} cpus, XLA_FLAGS='{result['xla_flags']}'; {data.source}")
    paper_params = None
    for name in args.shapes.split(","):
        key, sub = jax.random.split(key)
        params, _, r = bench_shape(name, steps[name], args, data, sub)
        result["shapes"][name] = r
        if name == "paper":
            paper_params = params
        log(f"{r['label']:<28} {r['steps_per_s']:>10.1f} steps/s  ({r['us_per_step']:.1f} us/step; "
            f"scan of {r['steps_per_scan']} steps, median of {r['repeats']}: "
            f"{', '.join(f'{w:.3f}' for w in r['scan_s'])} s; compile {r['compile_s']:.2f} s; "
            f"cpu/wall {r['cpu_per_wall']:.2f}, {r['cpu_us_per_step']:.1f} cpu-us/step)")
        if "noise_only_us_per_step" in r:
            nu = r["noise_only_us_per_step"]
            log(f"{'  noise only (same scan)':<28} {nu:>10.1f} us/step ({r['normals_per_step']} normals, "
                f"{r['normals_per_step'] / nu:.1f} M normals/s; {100 * nu / r['us_per_step']:.0f} % of the step)")
    if args.task:
        key, sub = jax.random.split(key)
        r = bench_task(args, data, sub)
        result["task"] = r
        log(f"one task of {r['task_steps']} steps, 784-50-10 B=1 K=10: {r['task_s']:.2f} s "
            f"({r['steps_per_s']:.1f} steps/s; one call, compile {r['compile_s']:.2f} s excluded; "
            f"cpu/wall {r['cpu_per_wall']:.2f})")
    if not args.no_eval:
        if paper_params is None:
            key, sub = jax.random.split(key)
            paper_params = init(SHAPES["paper"][0], sub)
        key, sub = jax.random.split(key)
        r = bench_eval(paper_params, sub, args, data)
        result["eval"] = r
        log(f"evaluation 10000 x {r['samples']}, 784-50-10: {1e3 * r['eval_s']:.1f} ms "
            f"(median of {len(r['eval_all_s'])}; compile {r['compile_s']:.2f} s)")
        if "test_accuracy" in r:
            trained = (1 + args.repeats) * args.steps if "paper" in result["shapes"] else 0
            log(f"MNIST test accuracy of the paper-shape model after {trained} training steps: "
                f"{100 * r['test_accuracy']:.2f} %")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
