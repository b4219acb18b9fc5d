"""Evaluation protocol (paper section 4.2; averaging over splits, 4.3): encode, fit a logistic-regression probe, score.

1. Encode training and test sets with the trained model (``z`` sampled from q(z|.) as
   in the paper, or the posterior mean; :func:`mvae_lib.crossmodal.encode`).
2. Fit one-vs-rest logistic regression from ``z`` to the labels on the training set.
3. Score the test set with label ranking average precision (LRAP) and macro average
   precision over labels (the metric of Srivastava & Salakhutdinov 2012).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch



@dataclass
class LogisticProbe:
    r"""One-vs-rest L2-regularised logistic regression, all labels solved jointly.

    For each label :math:`l` it minimises scikit-learn's ``LogisticRegression`` objective

    .. math:: \frac12 \lVert \beta_l \rVert^2 + C \sum_i \log\left(1 + e^{-s_{il}\,(\beta_l^\top z_i + b_l)}\right),
              \quad s_{il} = 2y_{il} - 1,

    (intercept not penalised). The labels do not interact, so the sum of these
    objectives is minimised at once with L-BFGS on a (D, L) weight matrix: one solve
    instead of L, which is what makes the probe cheap. Features are standardised with
    training statistics first (our choice: it puts AE and VAE codes, whose scales
    differ, on one footing for the same C).
    """

    weight: np.ndarray  # (D, L)
    bias: np.ndarray  # (L,)
    mean: np.ndarray  # (D,)
    std: np.ndarray  # (D,)

    def decision_function(self, z: np.ndarray) -> np.ndarray:
        """Scores (n, L); higher means more likely."""
        return ((z - self.mean) / self.std) @ self.weight + self.bias


#: Largest code size fitted by Newton's method (:func:`fit_probe`); larger ones use L-BFGS.
NEWTON_MAX_DIM = 256


def fit_probe(z: np.ndarray, y: np.ndarray, C: float = 1.0, max_iter: int = 500,
              tol: float = 1e-6, standardize: bool = True, solver: str = "auto") -> LogisticProbe:
    r"""Fit :class:`LogisticProbe` on training codes ``z`` (n, D) and labels ``y`` (n, L).

    ``solver``: ``"newton"`` (the exact minimiser to machine precision: each label's
    :math:`(D + 1)`-square Hessian is cheap for a small code), ``"lbfgs"`` (``max_iter``
    steps at most, stopping at gradient norm ``tol``: what a large input such as 784 pixels
    needs, and what a deliberately truncated fit asks for), or ``"auto"``: Newton for
    :math:`D \le` ``NEWTON_MAX_DIM`` unless ``max_iter`` truncates the fit below its
    default. Both minimise the same objective; on the book's codes they agree to within
    L-BFGS's tolerance (``tests/test_evaluate.py``), and Newton takes a few milliseconds
    where L-BFGS took a tenth of a second, which adds up over the hundreds of probes a
    build fits.
    """
    if z.ndim != 2 or y.ndim != 2 or len(z) != len(y):
        raise ValueError(f"expected z (n, D) and y (n, L) with the same n; found {z.shape} and {y.shape}")
    if solver not in ("auto", "newton", "lbfgs"):
        raise ValueError(f"solver must be 'auto', 'newton' or 'lbfgs'; found {solver!r}")
    if solver == "auto":
        solver = "newton" if z.shape[1] <= NEWTON_MAX_DIM and max_iter >= 500 else "lbfgs"
    mean = z.mean(0) if standardize else np.zeros(z.shape[1])
    std = z.std(0) if standardize else np.ones(z.shape[1])
    std = np.where(std < 1e-8, 1.0, std)
    Z = torch.as_tensor((z - mean) / std, dtype=torch.float64)
    S = torch.as_tensor(2.0 * y - 1.0, dtype=torch.float64)  # (n, L) labels as +-1
    if solver == "newton":
        W, b = _newton(Z, S, C)
        return LogisticProbe(W.numpy(), b.numpy(), mean, std)
    W = torch.zeros(z.shape[1], y.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(y.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([W, b], lr=1, max_iter=max_iter, tolerance_grad=tol,
                            tolerance_change=1e-12, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = _objective(Z, S, W, b, C)
        loss.backward()
        return loss

    opt.step(closure)
    return LogisticProbe(W.detach().numpy(), b.detach().numpy(), mean, std)


def _objective(Z, S, W, b, C):
    """sklearn's objective summed over labels, divided by C * n: the same minimiser, and
    gradients of order 1 so that a tolerance means the same for any n."""
    margins = S * (Z @ W + b)  # (n, L)
    return (0.5 / C * W.pow(2).sum() + torch.nn.functional.softplus(-margins).sum()) / len(Z)


@torch.no_grad()
def _newton(Z, S, C, steps: int = 100, tol: float = 1e-10):
    r"""Newton's method on :func:`_objective`, all labels at once: per label the gradient
    :math:`g = (\tilde\beta / C - X^\top (s \odot \sigma(-m)))/n` and Hessian
    :math:`H = (\tilde I / C + X^\top \operatorname{diag}(\sigma(m)\sigma(-m)) X)/n`
    with :math:`X = [Z, 1]` (the intercept unpenalised), halving the step until the
    objective falls. Strictly convex, so it converges from zero in a handful of steps."""
    n, D = Z.shape
    X = torch.cat([Z, torch.ones(n, 1, dtype=Z.dtype)], 1)  # (n, D+1)
    X32 = X.float()
    theta = torch.zeros(D + 1, S.shape[1], dtype=Z.dtype)  # (D+1, L): weights, then bias
    reg = torch.ones(D + 1, dtype=Z.dtype) / C
    reg[-1] = 0.0

    def loss(t):  # per label, (L,)
        return (0.5 * (reg[:, None] * t * t).sum(0) + torch.nn.functional.softplus(-S * (X @ t)).sum(0)) / n

    current = loss(theta)
    for _ in range(steps):
        m = S * (X @ theta)
        p = torch.sigmoid(-m)  # (n, L)
        grad = (reg[:, None] * theta - X.T @ (S * p)) / n
        if grad.abs().max() < tol:
            break
        curv = p * (1 - p)  # (n, L)
        # the Hessian in float32 (4 times faster; the gradient, hence the minimiser, stays float64)
        H = ((X32.T.unsqueeze(0) * curv.T.unsqueeze(1).float()) @ X32).double() / n + torch.diag(reg / n)
        step = torch.linalg.solve(H, grad.T.unsqueeze(-1)).squeeze(-1).T  # (D+1, L)
        scale = torch.ones(S.shape[1], dtype=Z.dtype)
        for _ in range(30):  # per label: halve until the objective does not rise
            trial = theta - scale * step
            new = loss(trial)
            worse = new > current + 1e-15
            if not worse.any():
                break
            scale = torch.where(worse, scale / 2, scale)
        theta, current = trial, new
    return theta[:-1].contiguous(), theta[-1].contiguous()


_KEPT: dict[str, LogisticProbe] = {}  # kept_probe's probes of this process, by name and spec


def kept_probe(out_dir, name: str, spec: dict, fit: Callable[[], LogisticProbe]) -> LogisticProbe:
    """``fit()``, once per process, and kept in ``out_dir/runs/<spec["dataset"]>/classifiers/``
    as ``<name>-<hash of spec>`` so that every process and command given ``out_dir`` fits it
    once (None: kept in this process only).

    For probes that depend on the data alone (the coherence classifiers): ``spec`` must
    name everything ``fit`` reads. Two processes asking at once: one fits, the other waits.
    """
    from . import runcache
    key = runcache.key_of(name, spec)
    if key not in _KEPT:
        _KEPT[key] = fit() if out_dir is None else _kept_on_disk(Path(out_dir), key, spec, fit)
    return _KEPT[key]


def _kept_on_disk(out_dir: Path, key: str, spec: dict, fit) -> LogisticProbe:
    from . import runcache
    folder = out_dir / "runs" / spec["dataset"] / "classifiers"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (key + ".json")

    def make():
        probe = fit()
        return dict(spec), {f: getattr(probe, f) for f in ("weight", "bias", "mean", "std")}, {}

    runcache.obtain(path, spec, make, quiet=True)  # a worker may wait seconds for another's fit
    with runcache.reading(path.with_suffix(".npz")), np.load(path.with_suffix(".npz")) as saved:
        return LogisticProbe(*(saved[f] for f in ("weight", "bias", "mean", "std")))


def data_hash(*arrays: np.ndarray) -> str:
    """The first 12 hex digits of the SHA-1 of ``arrays``' bytes (what a kept probe read)."""
    digest = hashlib.sha1()
    for a in arrays:
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()[:12]


def lrap(y: np.ndarray, scores: np.ndarray) -> float:
    r"""Label ranking average precision, equal to scikit-learn's.

    .. math:: \mathrm{LRAP} = \frac1n \sum_i \frac{1}{|Y_i|} \sum_{j \in Y_i}
              \frac{|\{k \in Y_i : s_{ik} \ge s_{ij}\}|}{|\{k : s_{ik} \ge s_{ij}\}|}

    Rows with no true label or only true labels count as 1 (scikit-learn's convention).
    Vectorised over rows: (n, L, L) comparisons, in chunks to bound memory.
    """
    y = np.asarray(y) > 0
    scores = np.asarray(scores, dtype=np.float64)
    if y.shape != scores.shape or y.ndim != 2:
        raise ValueError(f"expected y and scores of the same shape (n, L); found {y.shape} and {scores.shape}")
    n, L = y.shape
    total = 0.0
    chunk = max(1, 2_000_000 // (L * L))
    for start in range(0, n, chunk):
        yc, sc = y[start:start + chunk], scores[start:start + chunk]
        at_least = sc[:, None, :] >= sc[:, :, None]  # (c, L, L): [i, j, k] = s_ik >= s_ij
        rank_all = at_least.sum(-1)                   # (c, L)
        rank_true = (at_least & yc[:, None, :]).sum(-1)
        n_true = yc.sum(1)
        trivial = (n_true == 0) | (n_true == L)
        per_row = np.where(yc, rank_true / rank_all, 0.0).sum(1) / np.maximum(n_true, 1)
        total += np.where(trivial, 1.0, per_row).sum()
    return float(total / n)


def average_precision(y: np.ndarray, scores: np.ndarray) -> float:
    r"""Average precision of one label, equal to scikit-learn's ``average_precision_score``.

    .. math:: \mathrm{AP} = \sum_t (R_t - R_{t-1})\, P_t

    over the distinct score thresholds :math:`t` in decreasing order, with precision
    :math:`P_t` and recall :math:`R_t` of the examples scored at least :math:`t` (tied
    scores enter together).
    """
    order = np.argsort(-scores, kind="mergesort")
    s, hits = scores[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each distinct score
    tp = np.cumsum(hits)[last]
    precision = tp / (last + 1)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def macro_average_precision(y: np.ndarray, scores: np.ndarray) -> float:
    """Mean over labels of the average precision (area under each label's precision-recall curve).

    Labels with no positive example in ``y`` have no precision-recall curve and are left
    out of the mean (on MIR Flickr's 10,000 test images every label has positives).
    Computed per label by :func:`average_precision` (scikit-learn's definition, a few
    times faster, which matters for generated tags: one label per tag).
    """
    y = np.asarray(y) > 0
    scores = np.asarray(scores, dtype=np.float64)
    present = np.flatnonzero(y.any(0))  # (L,)
    if not len(present):
        raise ValueError("macro average precision needs at least one label with a positive example")
    return float(np.mean([average_precision(y[:, j], scores[:, j]) for j in present]))


METRICS = {"lrap": lrap, "map": macro_average_precision}


def score(y: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """All metrics of the protocol: ``{"lrap": ..., "map": ...}``."""
    return {name: f(y, scores) for name, f in METRICS.items()}
