"""Training: Adam on mini-batches, seeded, with KL warm-up, clipping and a divergence check."""
from __future__ import annotations

import ctypes
import functools
import math
from collections.abc import Mapping

import numpy as np
import torch
from tqdm import tqdm

from .config import TrainConfig
from .models import LatentModel


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite. ``history`` holds the finished epochs."""

    def __init__(self, message: str, history: list[dict[str, float]]):
        super().__init__(message)
        self.history = history

    def __reduce__(self):  # crosses process boundaries (parallel runs) with its history
        return type(self), (str(self), self.history)


def pick_device(device: str | None = None) -> torch.device:
    """``device`` if given, else CUDA when available, else the CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"unknown device {device!r}; expected 'cpu', 'cuda', 'cuda:N' or 'auto'") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but this PyTorch sees no CUDA GPU; use --device cpu")
    return dev


@functools.cache
def reuse_freed_memory() -> bool:
    """Ask the C library's allocator to keep freed memory for reuse (glibc only; once per process).

    Every training step frees and allocates the same large buffers again: activations,
    and the gradients that ``zero_grad(set_to_none=True)`` releases. By default glibc
    returns big blocks to the operating system, and the next step pays a page fault for
    every 4 KiB it writes again (about 8,000 faults per step at the paper's sizes, some
    14% of the step on a 2-core CPU, measured with ``benchmarks/throughput.py``). Raising
    glibc's mmap and trim thresholds keeps the blocks in the heap, as PyTorch's CUDA
    allocator keeps GPU blocks; the process then holds on to its peak heap. Returns False
    where there is no glibc ``mallopt`` (macOS, Windows, musl), and changes nothing there.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # from glibc's malloc.h
    return bool(mallopt(M_MMAP_THRESHOLD, 1 << 30) and mallopt(M_TRIM_THRESHOLD, (1 << 31) - 1))


def kl_weight(epoch: int, config: TrainConfig) -> float:
    """KL annealing: weight rises linearly from 1/warmup to 1 over the warm-up epochs."""
    if config.kl_warmup_epochs <= 0:
        return 1.0
    return min(1.0, (epoch + 1) / config.kl_warmup_epochs)


class ClippedAdam(torch.optim.Adam):
    r"""Adam whose step first clips the global gradient norm to ``max_norm``.

    Clipping multiplies every gradient by :math:`c = \min(1, m / (\lVert g \rVert + 10^{-6}))`
    (as ``torch.nn.utils.clip_grad_norm_``). The fused Adam kernel already divides each
    gradient by an optional ``grad_scale`` while it updates (that is how mixed-precision
    training unscales gradients), so passing :math:`1/c` there clips inside the update:
    one pass over the gradients to measure their norm, none to rescale them.
    """

    def __init__(self, params, max_norm: float | None, **kwargs):
        super().__init__(params, **kwargs)
        self.max_norm = max_norm

    @torch.no_grad()
    def step(self, closure=None):
        params = [p for group in self.param_groups for p in group["params"] if p.grad is not None]
        if self.max_norm and params:
            norm = torch.nn.utils.get_total_norm([p.grad for p in params], foreach=True)
            if self.defaults["fused"]:
                self.grad_scale = torch.clamp((norm + 1e-6) / self.max_norm, min=1.0)
            else:
                torch.nn.utils.clip_grads_with_norm_(params, self.max_norm, norm, foreach=True)
        return super().step(closure)


def make_optimizer(model: LatentModel, config: TrainConfig) -> ClippedAdam:
    """Adam with the Tars settings and gradient clipping, fused into one pass where possible."""
    fused = all(p.device.type in ("cpu", "cuda") for p in model.parameters())
    return ClippedAdam(model.parameters(), config.clip_grad_norm, lr=config.lr, eps=config.adam_eps,
                       fused=fused)


def train_step(model: LatentModel, optimizer: torch.optim.Optimizer, batch: Mapping[str, torch.Tensor],
               config: TrainConfig, kl_weight: float = 1.0) -> dict[str, torch.Tensor]:
    """One update on one mini-batch; returns the loss terms (graph-free, still on the device)."""
    terms = model.loss(batch, kl_weight=kl_weight)
    optimizer.zero_grad(set_to_none=True)
    terms["loss"].backward()
    optimizer.step()  # clips to config.clip_grad_norm (see ClippedAdam)
    return {k: v.detach() for k, v in terms.items()}


def train(
    model: LatentModel,
    data: Mapping[str, np.ndarray | torch.Tensor],
    config: TrainConfig,
    device: str | torch.device | None = None,
    progress: bool = True,
    desc: str | None = None,
) -> list[dict[str, float]]:
    """Fit ``model`` to ``data`` (a dict of (n, D_m) arrays keyed by modality) in place.

    Returns the history: one dict per epoch with the batch-averaged terms of the loss
    (``loss``, ``elbo``, ``kl``, ``rec_<m>``) and the KL weight used. Raises
    :class:`TrainingDiverged` if the loss becomes NaN or infinite.
    """
    device = device if isinstance(device, torch.device) else pick_device(device)
    if device.type == "cpu":
        reuse_freed_memory()
    torch.manual_seed(config.seed)  # initialisation, shuffling and eps: same seed, same run
    model.to(device).train()
    tensors = {m: torch.as_tensor(data[m], dtype=torch.float32, device=device) for m in model.modalities}
    model.check_inputs(tensors)
    n = len(next(iter(tensors.values())))
    if n == 0:
        raise ValueError("the training set is empty")
    batches_per_epoch = math.ceil(n / config.batch_size)
    optimizer = make_optimizer(model, config)
    history: list[dict[str, float]] = []
    bar = tqdm(range(config.epochs), desc=desc or type(model).__name__, disable=not progress,
               leave=False, dynamic_ncols=True)
    for epoch in bar:
        beta = kl_weight(epoch, config)
        sums: dict[str, torch.Tensor] = {}
        order = torch.randperm(n, device=device)
        for start in range(0, n, config.batch_size):
            idx = order[start:start + config.batch_size]
            terms = train_step(model, optimizer, {m: t[idx] for m, t in tensors.items()}, config, beta)
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v
        record = {k: float(v) / batches_per_epoch for k, v in sums.items()}
        record["epoch"], record["kl_weight"] = epoch + 1, beta
        if not math.isfinite(record["loss"]):
            raise TrainingDiverged(
                f"{type(model).__name__}: the loss became {record['loss']} in epoch {epoch + 1} "
                f"(last finite epoch: {history[-1]['loss'] if history else 'none'}). Expected "
                "finite values; try a smaller learning rate (lr), gradient clipping "
                "(clip_grad_norm), or check that x is standardised. The finished epochs are in "
                "this exception's .history.",
                history,
            )
        history.append(record)
        bar.set_postfix(loss=f"{record['loss']:.2f}")
    model.eval()
    return history
