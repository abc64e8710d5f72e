#!/usr/bin/env python3
"""The MESU training step and evaluation of the paper protocol in PyTorch,
for a same-device baseline next to `cargo bench --bench step`.

The same work as mesu's step (MESU_SPEC.md): Linear(784 -> hidden) ReLU
Linear(hidden -> 10), no bias, K weight samples w_k = mu + sigma * eps_k per
step shared by the batch, loss = sum over the batch of the mean over samples
of the cross-entropy, g_mu = (1/K) sum_k dL_k/dw, g_sigma = (1/K) sum_k
eps_k dL_k/dw, then the MESU update from the old mu and sigma. The inputs
are random standardised images and labels (the timing depends on the shapes
only); the noise comes from torch.randn, not Philox. Evaluation: 10000
images x K test samples, class = argmax of the mean log-softmax.

    python3 benches/baselines/mesu_step_torch.py            # cuda if present
    python3 benches/baselines/mesu_step_torch.py --device cpu --steps 2000

Prints a table and one CSV line per figure (`torch_<name>,<value>`).
"""

import argparse
import time

import torch


def init(sizes, gen, device):
    mus, sigmas = [], []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        bound = 4.0 / n_in**0.5
        mus.append((torch.rand(n_out, n_in, generator=gen) * 2 - 1).mul_(bound).to(device))
        sigmas.append(torch.full((n_out, n_in), bound / 2, device=device))
    return mus, sigmas


def forward(ws, x):
    """x: [B, 784] (shared by the samples) or [K, B, n]; ws: [K, out, in] each."""
    h = x
    for i, w in enumerate(ws):
        h = torch.matmul(h, w.transpose(1, 2))  # [K, B, out]
        if i + 1 < len(ws):
            h = torch.relu(h)
    return h


def step(mus, sigmas, x, y, k, n, sigma_prior, mu_prior=0.0):
    eps = [torch.randn((k,) + m.shape, device=m.device) for m in mus]
    ws = [(m + s * e).requires_grad_() for m, s, e in zip(mus, sigmas, eps)]
    logits = forward(ws, x)
    loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), y.repeat(k), reduction="sum"
    ) / k
    grads = torch.autograd.grad(loss, ws)
    with torch.no_grad():
        prior = 1.0 / (n * sigma_prior**2)
        for m, s, e, g in zip(mus, sigmas, eps, grads):
            # dC/dw_k = (1/K) dL_k/dw, so the sums over k are the means.
            g_mu = g.sum(0)
            g_sigma = (e * g).sum(0)
            v = s * s
            d_mu = v * ((mu_prior - m) * prior - g_mu)
            d_sigma = 0.5 * (s * (sigma_prior**2 - v) * prior - v * g_sigma)
            m.add_(d_mu)
            s.add_(d_sigma)
    return loss


def evaluate(mus, sigmas, images, k):
    with torch.no_grad():
        ws = [m + s * torch.randn((k,) + m.shape, device=m.device) for m, s in zip(mus, sigmas)]
        log_p = torch.log_softmax(forward(ws, images), -1).mean(0)
        return log_p.argmax(-1)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--hidden", type=int, default=50)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--samples", type=int, default=10, help="K, train and test")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--n", type=float, default=300000.0)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    mus, sigmas = init([784, args.hidden, 10], gen, device)
    x = torch.randn(args.batch, 784, generator=gen).to(device)
    y = torch.randint(0, 10, (args.batch,), generator=gen).to(device)
    for _ in range(100):  # warm-up: kernels, allocator
        step(mus, sigmas, x, y, args.samples, args.n, 1.0)
    sync(device)
    t = time.perf_counter()
    for _ in range(args.steps):
        step(mus, sigmas, x, y, args.samples, args.n, 1.0)
    sync(device)
    steps_per_s = args.steps / (time.perf_counter() - t)
    images = torch.randn(10000, 784, generator=gen).to(device)
    evaluate(mus, sigmas, images, args.samples)
    sync(device)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        evaluate(mus, sigmas, images, args.samples)
        sync(device)
        times.append(time.perf_counter() - t)
    eval_s = sorted(times)[1]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"torch {torch.__version__} on {name}, threads {torch.get_num_threads()}")
    shape = f"784-{args.hidden}-10, B={args.batch}, K={args.samples}"
    print(f"{'train steps/s (' + shape + ')':<52} {steps_per_s:>12.0f}")
    print(f"{'us per step':<52} {1e6 / steps_per_s:>12.1f}")
    print(f"{'evaluate 10000 images x K samples (s, median of 3)':<52} {eval_s:>12.4f}")
    print(f"torch_train_steps_per_s,{steps_per_s}")
    print(f"torch_eval_s,{eval_s}")


if __name__ == "__main__":
    main()
