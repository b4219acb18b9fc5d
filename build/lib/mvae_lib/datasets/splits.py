"""Train/test splits of your own data: drawn (seeded, stratified by class) or given, and checked.

Whatever their origin, the splits must let the probe learn every label: each label takes
both values (0 and 1) among each split's training rows.
"""
from __future__ import annotations

import numpy as np

from .core import DataError


def draw_splits(where: str, y: np.ndarray, n_splits: int = 5, test_fraction: float = 0.25, seed: int = 0,
                ) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n_splits`` random splits testing on ``test_fraction`` of the rows (sorted row indices).

    Split ``k`` is drawn from ``np.random.default_rng([seed, k])``, so it is the same whatever
    ``n_splits``. With classes (``y`` 1-d) each class is split in that proportion (at least
    one row on each side, so a class needs 2 rows); multi-label rows are drawn as one group.
    """
    if isinstance(n_splits, bool) or not isinstance(n_splits, (int, np.integer)) or n_splits < 1:
        raise DataError(f"{where}: splits: expected a positive number of splits to draw, found {n_splits!r}")
    if not isinstance(test_fraction, (float, int)) or not 0 < test_fraction < 1:
        raise DataError(f"{where}: test_fraction: expected a fraction of the rows strictly between 0 and 1, "
                        f"found {test_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DataError(f"{where}: seed: expected a non-negative integer, found {seed!r}")
    n = len(y)
    if y.ndim == 1:
        classes, counts = np.unique(y, return_counts=True)
        if (counts < 2).any():
            c = int(classes[np.argmax(counts < 2)])
            raise DataError(f"{where}: y: class {c} has {int(counts.min())} example: a stratified split needs at "
                            "least 2 of each class (one to train on, one to test on); add examples of it, drop "
                            "it, or give the splits yourself (splits=[(train_indices, test_indices), ...])")
        groups = [np.flatnonzero(y == c) for c in classes]
    else:
        if n < 2:
            raise DataError(f"{where}: expected at least 2 rows to split into training and test rows, found {n}")
        groups = [np.arange(n)]
    out = []
    for k in range(int(n_splits)):
        rng = np.random.default_rng([int(seed), k])
        test = [rng.permutation(g)[:min(max(1, round(len(g) * test_fraction)), len(g) - 1)] for g in groups]
        test = np.sort(np.concatenate(test))
        out.append((np.setdiff1d(np.arange(n), test), test))
    return out


def _indices(where: str, what: str, idx, n: int) -> np.ndarray:
    idx = np.asarray(idx)
    if idx.ndim != 1 or len(idx) == 0:
        raise DataError(f"{where}: {what}: expected a non-empty 1-d array of row indices, found shape {idx.shape}")
    integral = np.issubdtype(idx.dtype, np.integer) or (
        np.issubdtype(idx.dtype, np.floating) and bool(np.all(np.isfinite(idx) & (np.mod(idx, 1) == 0))))
    if not integral:
        hint = " (for a boolean mask m pass np.flatnonzero(m))" if idx.dtype == np.bool_ else ""
        raise DataError(f"{where}: {what}: expected integer row indices, found dtype {idx.dtype}{hint}")
    idx = idx.astype(np.int64)
    bad = (idx < 0) | (idx >= n)
    if bad.any():
        raise DataError(f"{where}: {what}: expected row indices in [0, {n}), found {int(idx[bad][0])} "
                        f"({int(bad.sum())} out of range)")
    rows, counts = np.unique(idx, return_counts=True)
    if (counts > 1).any():
        raise DataError(f"{where}: {what}: expected each row once, found row {int(rows[np.argmax(counts > 1)])} "
                        f"{int(counts.max())} times")
    return idx


def check_splits(where: str, splits, labels: np.ndarray, label_names, drawn: dict | None = None,
                 ) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """``splits`` as (train, test) int64 row indices, each checked: in range, each row once,
    train and test disjoint, and every label learnable from the training rows."""
    if isinstance(splits, (str, bytes)) or not hasattr(splits, "__len__"):
        raise DataError(f"{where}: splits: expected a number of splits to draw or a list of "
                        f"(train_indices, test_indices) pairs, found {type(splits).__name__}")
    if len(splits) == 0:
        raise DataError(f"{where}: splits: expected at least one split, found none")
    n = len(labels)
    out = []
    for k, pair in enumerate(splits):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise DataError(f"{where}: split {k}: expected a pair (train_indices, test_indices), "
                            f"found {type(pair).__name__}")
        train, test = (_indices(where, f"split {k}, {part} indices", idx, n)
                       for part, idx in zip(("train", "test"), pair))
        both = np.intersect1d(train, test)
        if len(both):
            raise DataError(f"{where}: split {k}: expected disjoint training and test rows, found {len(both)} rows "
                            f"in both, e.g. {both[:5].tolist()}; a test row seen in training inflates the scores")
        positives = labels[train].sum(0)  # (L,)
        constant = (positives == 0) | (positives == len(train))
        if constant.any():
            j = int(np.argmax(constant))
            how = "absent from" if positives[j] == 0 else "present in every one of"
            fix = (f"draw them with another seed or test_fraction (they were drawn with {drawn}), "
                   if drawn else "move rows with and without it into the training rows, ")
            raise DataError(f"{where}: split {k}: label {label_names[j]!r} is {how} its {len(train)} training rows "
                            f"({int(constant.sum())} such labels): the probe cannot learn it; {fix}add examples, or "
                            "drop the label")
        out.append((train, test))
    return tuple(out)
