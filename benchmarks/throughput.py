"""MVAE training throughput at the paper's sizes, against this machine's matmul speed.

Prints samples/s of the library's training step (:func:`mvae_lib.train.train_step`: the
bound, backward, gradient clipping, fused Adam) for the MVAE of section 4.2 (inputs 3857
and 2000, branches 1024-1024, latent 2048) on random data, beside the float32 matmul
throughput of (256x1024) @ (1024x1024), and the ratio of achieved to matmul FLOP/s.

FLOPs of a step = 2 (a multiply-add) x 3 (forward, and backward for inputs and weights)
x batch x (weights of all linear layers). Targets: ratio >= 0.65 at batch 100 and >= 0.9
at batch 256.

    python benchmarks/throughput.py [--device cpu|cuda] [--steps N] [--batch-sizes 100 256]
"""
from __future__ import annotations

import argparse
import time

import torch

from mvae_lib.config import PRESETS
from mvae_lib.models import Modality, build_model
from mvae_lib.train import make_optimizer, pick_device, reuse_freed_memory, train_step


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def best_time(fn, repeats: int, device) -> float:
    """Seconds per call of ``fn``, the best mean over one timing of ``repeats`` calls."""
    sync(device)
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync(device)
    return (time.perf_counter() - t) / repeats


def paper_mvae(device):
    torch.manual_seed(0)
    return build_model("MVAE", [Modality("x", 3857, "gaussian"), Modality("w", 2000, "bernoulli")],
                       PRESETS["paper"].model).to(device)


class PlainMVAE(torch.nn.Module):
    """The reference: the same MVAE written the plain way (separate mu / logvar layers,
    the default Adam, a separate clip_grad_norm_ pass), to compare the library against."""

    def __init__(self, dx=3857, dw=2000, h=1024, k=2048):
        super().__init__()
        mlp = lambda i: torch.nn.Sequential(torch.nn.Linear(i, h), torch.nn.ReLU(), torch.nn.Linear(h, h),
                                            torch.nn.ReLU())
        self.enc_x, self.enc_w, self.dec_x, self.dec_w = mlp(dx), mlp(dw), mlp(k), mlp(k)
        self.mu, self.logvar = torch.nn.Linear(2 * h, k), torch.nn.Linear(2 * h, k)
        self.x_mu, self.x_logvar, self.w_logits = torch.nn.Linear(h, dx), torch.nn.Linear(h, dx), torch.nn.Linear(h, dw)

    def loss(self, x, w):
        hidden = torch.cat([self.enc_x(x), self.enc_w(w)], -1)
        mu, logvar = self.mu(hidden), torch.tanh(self.logvar(hidden))
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        hx, hw = self.dec_x(z), self.dec_w(z)
        x_mu, x_logvar = self.x_mu(hx), torch.tanh(self.x_logvar(hx))
        rec_x = 0.5 * (x_logvar + (x - x_mu) ** 2 / x_logvar.exp() + 1.8378770664093453).sum(-1)
        rec_w = torch.nn.functional.binary_cross_entropy_with_logits(self.w_logits(hw), w, reduction="none").sum(-1)
        kl = 0.5 * (mu ** 2 + logvar.exp() - logvar - 1).sum(-1)
        return (rec_x + rec_w + kl).mean()


def plain_step_fn(device, batches):
    torch.manual_seed(0)
    model = PlainMVAE().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-4)

    def step(batch):
        opt.zero_grad()
        model.loss(batch["x"], batch["w"]).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()

    return model, step


def library_step_fn(device, batches):
    if device.type == "cpu":
        reuse_freed_memory()  # as mvae_lib.train.train() does; process-wide, so plain runs first
    model = paper_mvae(device)
    config = PRESETS["paper"].train
    opt = make_optimizer(model, config)
    return model, lambda batch: train_step(model, opt, batch, config)


def measure(device, batch_size: int, steps: int, rounds: int, make=library_step_fn) -> dict:
    """Best step time and best matmul time over ``rounds`` rounds of one timing each, so that
    both are sampled over the same stretch of the shared machine's drifting speed."""
    a, b = torch.randn(256, 1024, device=device), torch.randn(1024, 1024, device=device)
    batches = [{"x": torch.randn(batch_size, 3857, device=device),
                "w": (torch.rand(batch_size, 2000, device=device) < 0.05).float()} for _ in range(4)]
    model, train_one = make(device, batches)
    state = {"i": 0}

    def step():
        train_one(batches[state["i"] % 4])
        state["i"] += 1

    for _ in range(3):  # warm-up: Adam's state, the allocator's blocks
        step()
        a @ b
    mm_repeats = 20 if device.type == "cpu" else 200
    t_step = t_mm = float("inf")
    for _ in range(rounds):
        t_step = min(t_step, best_time(step, steps, device))
        t_mm = min(t_mm, best_time(lambda: a @ b, mm_repeats, device))
    macs = sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear))
    return {"batch": batch_size, "samples_s": batch_size / t_step, "step_flops": 2 * 3 * batch_size * macs / t_step,
            "matmul_flops": 2 * 256 * 1024 * 1024 / t_mm}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=4, help="training steps per timing")
    parser.add_argument("--rounds", type=int, default=7, help="timings per figure; the best is kept")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[100, 256])
    parser.add_argument("--baseline", action="store_true",
                        help="also time a plain PyTorch MVAE (separate heads, default Adam, clip pass)")
    args = parser.parse_args(argv)
    device = pick_device(args.device)
    makers = ([("plain", plain_step_fn)] if args.baseline else []) + [("mvae_lib", library_step_fn)]
    results = [(name, measure(device, bs, args.steps, args.rounds, make))
               for name, make in makers  # plain first: the library's allocator setting is process-wide
               for bs in args.batch_sizes]
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("ratio = training FLOP/s over the matmul FLOP/s of (256x1024)@(1024x1024), both the best")
    print("of timings interleaved in the same rounds (the shared machine's speed drifts)")
    print(f"{'model':<8} {'batch':>5} {'samples/s':>10} {'train GFLOP/s':>14} {'matmul GFLOP/s':>15} "
          f"{'ratio':>6} {'target':>6}")
    targets = {100: 0.65, 256: 0.9}
    for name, r in results:
        bs = r["batch"]
        target = f"{targets[bs]:.2f}" if bs in targets and name == "mvae_lib" else "-"
        print(f"{name:<8} {bs:>5} {r['samples_s']:>10.1f} {r['step_flops'] / 1e9:>14.1f} "
              f"{r['matmul_flops'] / 1e9:>15.1f} {r['step_flops'] / r['matmul_flops']:>6.2f} {target:>6}")

if __name__ == "__main__":
    main()
