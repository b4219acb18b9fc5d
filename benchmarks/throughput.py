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
from mvae_lib.train import make_optimizer, pick_device, train_step


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


def measure(device, batch_size: int, steps: int, rounds: int) -> dict:
    """Interleave matmul and training timings (best of ``rounds`` each): the machine is shared."""
    a, b = torch.randn(256, 1024, device=device), torch.randn(1024, 1024, device=device)
    model = paper_mvae(device)
    config = PRESETS["paper"].train
    opt = make_optimizer(model, config)
    batches = [{"x": torch.randn(batch_size, 3857, device=device),
                "w": (torch.rand(batch_size, 2000, device=device) < 0.05).float()} for _ in range(4)]
    state = {"i": 0}

    def step():
        train_step(model, opt, batches[state["i"] % 4], config)
        state["i"] += 1

    for _ in range(3):  # warm-up: Adam's state, the allocator's blocks
        step()
        a @ b
    mm_repeats = 20 if device.type == "cpu" else 200
    t_mm = min(best_time(lambda: a @ b, mm_repeats, device) for _ in range(rounds))
    t_step = float("inf")
    for _ in range(rounds):
        t_step = min(t_step, best_time(step, steps, device))
        t_mm = min(t_mm, best_time(lambda: a @ b, mm_repeats, device))
    macs = sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear))
    peak = 2 * 256 * 1024 * 1024 / t_mm
    achieved = 2 * 3 * batch_size * macs / t_step
    return {"batch": batch_size, "samples_s": batch_size / t_step, "matmul_gflops": peak / 1e9,
            "train_gflops": achieved / 1e9, "ratio": achieved / peak}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=4, help="training steps per timing")
    parser.add_argument("--rounds", type=int, default=5, help="timings per figure; the best is kept")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[100, 256])
    args = parser.parse_args(argv)
    device = pick_device(args.device)
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'batch':>5} {'samples/s':>10} {'train GFLOP/s':>14} {'matmul GFLOP/s':>15} {'ratio':>6} {'target':>6}")
    targets = {100: 0.65, 256: 0.9}
    for bs in args.batch_sizes:
        r = measure(device, bs, args.steps, args.rounds)
        target = f"{targets[bs]:.2f}" if bs in targets else "-"
        print(f"{bs:>5} {r['samples_s']:>10.1f} {r['train_gflops']:>14.1f} {r['matmul_gflops']:>15.1f} "
              f"{r['ratio']:>6.2f} {target:>6}")


if __name__ == "__main__":
    main()
